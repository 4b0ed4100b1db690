#!/usr/bin/env python3
"""Issue 13 — listtransfers, the account page's source: an account's transfers sent and
received, the mempool's first (pending), then the active chain's newest first, within its
budget (count 1..500, scan_blocks 1..10000, docs/design/limits.md); bad input gets a clear
error. Also getmininginfo's miner and getnetworkinfo's label (HOME/label)."""
import os

import bip340
from framework import RpcError, free_port, main


def expect_error(fn, code, words):
    try:
        fn()
    except RpcError as e:
        assert e.error["code"] == code and words in e.error["message"], e.error
        return
    raise AssertionError(f"no error (want {code} '{words}')")


def body(ctx):
    port = free_port()
    miner = bip340.address(bip340.pubkey(bip340.dev_secret(7)))
    home = os.path.join(ctx.tmp, "n")
    os.makedirs(home)
    with open(os.path.join(home, "label"), "w") as f:
        f.write("alpha-1\n")
    n = ctx.daemon("n", port, ["--network", "dev", "--miner", miner]).start()
    assert n.rpc("getmininginfo")["miner"] == miner
    assert n.rpc("getnetworkinfo")["label"] == "alpha-1"

    s3, s4, s5 = (bip340.dev_secret(i) for i in (3, 4, 5))
    k3, k4, k5 = (bip340.pubkey(s) for s in (s3, s4, s5))
    a3, a4, a5 = (bip340.address(k) for k in (k3, k4, k5))
    t1 = n.rpc("sendtransaction", [bip340.transfer(s3, k4, 100, 1, 0).hex()])
    t2 = n.rpc("sendtransaction", [bip340.transfer(s4, k5, 40, 2, 0).hex()])
    # generate pays the node's miner (not dev account 0) when none is given.
    block1 = n.rpc("generate", [1])[0]
    assert n.rpc("getblock", [block1, 1])["miner"] == miner
    n.rpc("generate", [3])
    t3 = n.rpc("sendtransaction", [bip340.transfer(s5, k4, 7, 1, 0).hex()])  # stays pending

    r = n.rpc("listtransfers", [a4])
    assert r["complete"] and r["scanned_blocks"] == 5 and r["lowest_height"] == 0 and r["height"] == 4, r
    got = [(t["id"], t["direction"], t["status"], t["height"]) for t in r["transfers"]]
    # Pending first, then block 1's two (newest first: their order in the block, reversed).
    assert got[0] == (t3, "received", "pending", None), got
    assert sorted(got[1:]) == sorted([(t2, "sent", "confirmed", 1), (t1, "received", "confirmed", 1)]), got
    order = n.rpc("getblock", [block1, 1])["txids"]
    assert [g[0] for g in got[1:]] == order[::-1], (got, order)
    sent = next(t for t in r["transfers"] if t["id"] == t2)
    assert (sent["from"], sent["to"], sent["amount"], sent["fee"], sent["block"], sent["confirmations"]) == \
        (a4, a5, 40, 2, block1, 4), sent
    assert [t["id"] for t in n.rpc("listtransfers", [a3])["transfers"]] == [t1]
    assert n.rpc("listtransfers", [miner])["transfers"] == []

    # Bounded: count, and how far down the walk goes (not complete: more may be below).
    assert [t["id"] for t in n.rpc("listtransfers", [a4, 1])["transfers"]] == [t3]
    r = n.rpc("listtransfers", [a4, 50, 2])
    assert r["scanned_blocks"] == 2 and not r["complete"] and r["lowest_height"] == 3, r
    assert [t["id"] for t in r["transfers"]] == [t3]
    r = n.rpc("listtransfers", {"address": a4, "scan_blocks": 4})
    assert r["lowest_height"] == 1 and {t["id"] for t in r["transfers"]} == {t3, t2, t1}, r

    # Bad input: clear errors, and the node keeps answering.
    expect_error(lambda: n.rpc("listtransfers", ["pcdev1nope"]), -32602, "")
    expect_error(lambda: n.rpc("listtransfers", [a4, 0]), -32602, "count must be 1..500")
    expect_error(lambda: n.rpc("listtransfers", [a4, 501]), -32602, "count must be 1..500")
    expect_error(lambda: n.rpc("listtransfers", [a4, 10, 10001]), -32602, "scan_blocks must be 1..10000")
    expect_error(lambda: n.rpc("listtransfers", []), -32602, "address")
    assert n.rpc("getblockcount") == 4
    assert n.stop() == 0


if __name__ == "__main__":
    main(body)
