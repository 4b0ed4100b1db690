#!/usr/bin/env python3
"""Issue 15 — transfers relayed in `txs` batches (protocol 2, docs/spec/p2p.md, "Node messages").

A node on 127.0.0.151 takes 1,200 transfers from the seed's `client`. Two raw peers ask for
every transfer it announces: one says protocol 2 in its hello (from .152), one says 1 (from
.153). The first must get them all in `txs` frames of at most 1,000 and no `tx`; the second
one `tx` per transfer, as before. Then hostile `txs` from .154-.157, each with the reaction it
expects; the node must stay up and keep serving.

| case                                              | expected reaction                           |
|---------------------------------------------------|---------------------------------------------|
| protocol-2 peer asks for 1,200 transfers          | 2+ `txs` frames (<= 1,000 each), no `tx`    |
| protocol-1 peer asks for the same                 | 1,200 `tx` frames, no `txs`                 |
| `txs` of 3 valid transfers                        | all 3 in the node's mempool, no penalty     |
| `txs` with no transfer                            | ban (malformed txs)                         |
| `txs` claiming 1,001 transfers                    | ban (malformed txs), nothing allocated      |
| `txs` whose count does not match its bytes        | ban (malformed txs)                         |
| `txs` of a valid transfer and a forged one        | the valid one admitted; ban (bad-signature) |"""
import struct
import time

import bip340
import peerproto as pp
from framework import free_port, main, wait_for

H = "127.0.0.151"
TXS = 28
TABLE = []


def collect(p, want, timeout=60):
    """Answers every inv of transfers with a getdata and counts what arrives, until `want`
    transfers came. Returns ({"tx": frames, "txs": frames}, largest txs batch, txids)."""
    frames = {"tx": 0, "txs": 0}
    largest = 0
    got = set()
    deadline = time.monotonic() + timeout
    while len(got) < want:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(got)} of {want} transfers arrived"
        f = p.recv_frame(timeout=left)
        assert f is not None, "the node closed the connection"
        t, payload = f
        assert t != pp.DISCONNECT, "disconnected: " + payload[1:].decode(errors="replace")
        if t == pp.INV:
            n, off = pp.read_compact_size(payload, 0)
            items = [payload[off + 33 * i: off + 33 * (i + 1)] for i in range(n)]
            want_items = [it for it in items if it[0] == 1]
            if want_items:
                p.send(pp.frame(pp.GETDATA, pp.compact_size(len(want_items)) + b"".join(want_items)))
        elif t == pp.TX:
            frames["tx"] += 1
            got.add(pp.txid(payload).hex())
        elif t == TXS:
            frames["txs"] += 1
            n, off = pp.read_compact_size(payload, 0)
            assert 1 <= n <= 1000 and len(payload) == off + 156 * n, (n, len(payload))
            largest = max(largest, n)
            for i in range(n):
                got.add(pp.txid(payload[off + 156 * i: off + 156 * (i + 1)]).hex())
    return frames, largest, got


def body(ctx):
    port = free_port(H)
    node = ctx.daemon("target", port, ["--network", "dev", "--ban-seconds", "600", "--no-discover"], host=H, listen=H)
    node.start()
    genesis = node.rpc("getblockchaininfo")["genesis"]

    def case(name, expected, got):
        TABLE.append((name, expected, got))
        print(f"  {name:48s} expected {expected:30s} got {got}")

    def peer(n, version=2):
        p = pp.Peer(H, port, source=f"127.0.0.{n}")
        p.handshake(genesis, version=version)
        return p

    def banned(p, what, name):
        case(name, "ban", pp.expect_banned(p, what, name))
        assert node.alive(), "the node died"
        node.rpc("getblockchaininfo")

    v2, v1 = peer(152, 2), peer(153, 1)
    wait_for(lambda: len(node.rpc("getpeerinfo")) == 2, 30, "both peers connected")
    ids = set(ctx.client(H, port, 3, 0, 1200, 500, timeout=120).stdout.split())
    assert len(ids) == 1200, len(ids)

    frames, largest, got = collect(v2, 1200)
    assert got == ids and frames["tx"] == 0 and frames["txs"] >= 2 and largest <= 1000, (frames, largest)
    case("protocol-2 peer asks for 1,200 transfers", "txs frames <= 1,000 each, no tx",
         f"{frames['txs']} txs frames (largest {largest}), {frames['tx']} tx")
    frames, largest, got = collect(v1, 1200)
    assert got == ids and frames["txs"] == 0 and frames["tx"] == 1200, frames
    case("protocol-1 peer asks for the same", "1,200 tx frames, no txs", f"{frames['tx']} tx, {frames['txs']} txs")
    v1.close()

    # Valid transfers from a peer, in one txs: admitted, no penalty.
    s4, k5 = bip340.dev_secret(4), bip340.pubkey(bip340.dev_secret(5))
    good = [bip340.transfer(s4, k5, 600 + i, 1, i) for i in range(3)]
    p = peer(154)
    p.send(pp.frame(TXS, pp.compact_size(3) + b"".join(good)))
    want = {pp.txid(t).hex() for t in good}
    wait_for(lambda: want <= set(node.rpc("getrawmempool")), 20, "the batch's transfers in the mempool")
    assert len(node.rpc("getpeerinfo")) >= 2, "the sender of valid transfers was dropped"
    case("txs of 3 valid transfers", "admitted, no penalty", "3 in the mempool, still connected")
    p.close()

    p = peer(155)
    p.send(pp.frame(TXS, b"\x00"))
    banned(p, "malformed txs", "txs with no transfer")

    p = peer(156)
    p.send(pp.frame(TXS, b"\xfd\xe9\x03" + good[0]))
    banned(p, "malformed txs", "txs claiming 1,001 transfers")

    p = peer(157)
    p.send(pp.frame(TXS, pp.compact_size(2) + good[0]))
    banned(p, "malformed txs", "txs whose count does not match its bytes")

    # A valid transfer beside a forged one: the valid one is judged on its own.
    ok = bip340.transfer(s4, k5, 700, 1, 3)
    forged = bytearray(bip340.transfer(s4, k5, 701, 1, 4))
    forged[68] ^= 1  # the amount, after signing
    p = peer(158)
    p.send(pp.frame(TXS, pp.compact_size(2) + ok + bytes(forged)))
    banned(p, "bad-signature", "txs of a valid and a forged transfer")
    wait_for(lambda: pp.txid(ok).hex() in node.rpc("getrawmempool"), 20, "the valid transfer admitted")
    v2.close()

    print("\n| case | expected | got |\n|---|---|---|")
    for name, expected, got in TABLE:
        print(f"| {name} | {expected} | {got} |")


if __name__ == "__main__":
    main(body)
