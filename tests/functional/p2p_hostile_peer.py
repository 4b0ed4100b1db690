#!/usr/bin/env python3
"""Issue 3, test 6 — a hostile peer: random bytes, an oversize length, a wrong network id, a
block with bad proof of work, a block with a forged signature, blocks with unknown parents, a
flood of connections. The node stays up, keeps its chain, and bans where the rules say so.
Each case connects from its own 127.0.0.x address, so one ban does not hide the next case."""
import os
import socket
import time

import peerproto as pp
from framework import free_port, main, wait_for

H = "127.0.0.1"


def body(ctx):
    port = free_port()
    # Listening on every address (so cases can come from 127.0.0.x): admin methods need a token.
    node = ctx.daemon("target", port, ["--network", "dev", "--ban-seconds", "600", "--api-token", "t0ken"],
                      listen="0.0.0.0")
    node.token = "t0ken"
    node.start()
    node.rpc("generate", [3])
    info = node.rpc("getblockchaininfo")
    genesis, tip, height = info["genesis"], info["tip"], info["height"]
    raw1 = bytes.fromhex(node.rpc("getblock", [1, False]))
    dev0 = raw1[86:118]  # the miner field of block 1: dev account 0's key

    def still_fine():
        i = node.rpc("getblockchaininfo")
        assert node.alive() and i["height"] >= height and node.rpc("getblock", [height])["id"] == node.rpc("getblockhash", [height])

    # 1. Random bytes: not the magic, so HTTP; garbage HTTP gets a 400 and a close.
    s = socket.create_connection((H, port), source_address=("127.0.0.2", 0))
    s.sendall(os.urandom(512) + b"\r\n\r\n")
    s.settimeout(10)
    reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:40]
    s.close()
    still_fine()

    # 2. An oversize length in a frame header: disconnected before any payload is read.
    p = pp.Peer(H, port, source="127.0.0.3")
    p.handshake(genesis)
    p.send(pp.frame(pp.BLOCK, b"", length=0xFFFFFFF0)[:14])
    reason = p.expect_closed()
    assert reason is None or "oversize" in reason, reason
    still_fine()

    # 3. A peer of another chain is refused, with a reason it can log.
    p = pp.Peer(H, port, source="127.0.0.4")
    p.send(pp.frame(pp.HELLO, pp.hello(genesis, chain_id=1)))
    reason = p.expect_closed()
    assert reason and "wrong-network" in reason, reason
    p = pp.Peer(H, port, source="127.0.0.4")
    p.send(pp.frame(pp.HELLO, pp.hello("11" * 32)))
    reason = p.expect_closed()
    assert reason and "wrong-genesis" in reason, reason
    still_fine()

    # 4. A block with bad proof of work: banned.
    tip_bytes = bytes.fromhex(tip)
    bits = node.rpc("getblock", [height])["bits"]
    now = int(time.time() * 1000)
    bad = pp.solve(height + 1, tip_bytes, pp.merkle([]), now, bits, dev0, want_valid=False)
    p = pp.Peer(H, port, source="127.0.0.5")
    p.handshake(genesis)
    p.send(pp.frame(pp.BLOCK, pp.block(bad, [])))
    reason = p.expect_closed()
    assert reason and "banned" in reason, reason
    p = pp.Peer(H, port, source="127.0.0.5")  # stays banned
    p.send(pp.frame(pp.HELLO, pp.hello(genesis)))
    reason = p.expect_closed()
    assert reason is None or "banned" in reason, reason
    still_fine()

    # 5. A block with valid proof of work carrying a forged signature: banned.
    tx = pp.tx_bytes(dev0, pp.G_X, 500, 1, 0, os.urandom(64))
    hdr = pp.solve(height + 1, tip_bytes, pp.merkle([pp.txid(tx)]), now, bits, dev0)
    p = pp.Peer(H, port, source="127.0.0.6")
    p.handshake(genesis)
    p.send(pp.frame(pp.BLOCK, pp.block(hdr, [tx])))
    reason = p.expect_closed()
    assert reason and "banned" in reason and "signature" in reason, reason
    still_fine()

    # 6. Blocks with unknown parents: not punished; the node asks for headers instead.
    p = pp.Peer(H, port, source="127.0.0.7")
    p.handshake(genesis)
    for i in range(5):
        orphan = pp.solve(height + 5, os.urandom(32), pp.merkle([]), now, bits, dev0)
        p.send(pp.frame(pp.BLOCK, pp.block(orphan, [])))
    seen = set()
    deadline = time.monotonic() + 10
    while pp.GETHEADERS not in seen and time.monotonic() < deadline:
        f = p.recv_frame()
        assert f is not None, "disconnected for orphan blocks"
        seen.add(f[0])
    assert pp.GETHEADERS in seen
    p.close()

    # 7. A flood of silent connections (held open): connections beyond the inbound limit are
    # refused and silent ones are dropped at the handshake timeout, so the node serves clients
    # again while the attacker still holds its sockets.
    flood = []
    for i in range(300):
        try:
            flood.append(socket.create_connection((H, port), timeout=2, source_address=("127.0.0.8", 0)))
        except OSError:
            pass
    assert node.alive()
    wait_for(lambda: node.rpc("getblockchaininfo", timeout=3)["height"] == height, 40,
             "the node to serve clients during the flood")
    for c in flood:
        c.close()
    wait_for(lambda: node.rpc("getblockchaininfo")["height"] == height, 10, "the node to answer after the flood")
    assert node.rpc("getblockchaininfo")["tip"] == tip, "the chain changed"
    assert node.stop() == 0


if __name__ == "__main__":
    main(body)
