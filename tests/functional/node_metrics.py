#!/usr/bin/env python3
"""/metrics counts what an operator watches (issue 14): a histogram of block processing time,
transfers refused by reason and source, peers' blocks refused by reason, and bans."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerproto as pp  # noqa: E402
from framework import free_port, main, wait_for  # noqa: E402

H = "127.0.0.1"


def lines(node, prefix):
    import urllib.request
    with urllib.request.urlopen(f"http://{node.host}:{node.port}/metrics", timeout=10) as r:
        return [l for l in r.read().decode().splitlines() if l.startswith(prefix)]


def body(ctx):
    pa, pb = free_port(), free_port()
    a = ctx.daemon("a", pa, ["--no-discover"])
    a.start()
    b = ctx.daemon("b", pb, ["--no-discover", "--peer", f"{H}:{pa}"])
    b.start()
    a.rpc("generate", [20])
    wait_for(lambda: b.rpc("getblockcount") == 20, 60, "b to sync 20 blocks")
    assert b.metric("peerchain_block_processing_duration_seconds_count") >= 20
    assert lines(b, 'peerchain_block_processing_duration_seconds_bucket{le="+Inf"}')

    # A transfer refused over the API is counted by its reason token and source.
    try:
        a.rpc("sendtransaction", ["zz"])
        raise AssertionError("garbage accepted")
    except Exception as e:  # RpcError -26
        assert "-26" in str(e), e
    assert lines(a, 'peerchain_transfers_rejected_total{reason="malformed",source="api"} 1'), \
        lines(a, "peerchain_transfers_rejected_total")

    # A peer sending a block with bad proof of work: refused by reason, and banned.
    assert a.metric("peerchain_bans_total") == 0
    info = a.rpc("getblockchaininfo")
    tip, height = info["tip"], info["height"]
    bits = a.rpc("getblock", [height])["bits"]
    miner = b"\x01" * 32  # any 32 bytes: the proof of work is what is wrong
    bad = pp.solve(height + 1, bytes.fromhex(tip), pp.merkle([]), int(time.time() * 1000), bits, miner,
                   want_valid=False)
    p = pp.Peer(H, pa, source="127.0.0.91")
    p.handshake(info["genesis"])
    p.send(pp.frame(pp.BLOCK, pp.block(bad, [])))
    reason = p.expect_closed()
    assert reason and "banned" in reason, reason
    wait_for(lambda: a.metric("peerchain_bans_total") == 1, 10, "the ban to be counted")
    rejected = lines(a, "peerchain_blocks_rejected_total{")
    assert len(rejected) == 1 and rejected[0].endswith(" 1"), rejected
    for n in (a, b):
        assert n.stop() == 0


if __name__ == "__main__":
    main(body)
