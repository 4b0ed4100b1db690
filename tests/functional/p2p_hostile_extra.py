#!/usr/bin/env python3
"""Issue 5 — more hostile-peer cases on top of p2p_hostile_peer.py: mutated blocks (Merkle root
mismatch, a duplicated transaction, a wrong height), replayed and duplicated transactions,
another chain's transactions, huge counts in inv/getdata/headers/getheaders, truncated frames,
valid frames at a high rate and a slow trickle. Each case comes from its own 127.0.0.3x address
(a ban hides nothing else) and states the reaction it expects; the node must stay up, keep its
chain and answer its clients throughout.

| case                                  | expected reaction                                          |
|---------------------------------------|------------------------------------------------------------|
| mutated block: body != Merkle root    | ban (bad-merkle); the block id is NOT marked invalid: the   |
|                                       | honest block with the same header is accepted afterwards   |
| block with a duplicated transaction   | ban (bad-tx); tip unchanged                                |
| block with a wrong height             | ban (bad-height); tip unchanged                            |
| replayed transaction (already mined)  | ignored (nonce-too-low scores 0): still connected          |
| duplicated transaction (sent twice)   | first accepted into the mempool, second ignored: connected |
| transaction of another chain          | ban (wrong-chain)                                          |
| inv claiming 2^32-1 items             | ban (malformed inv), nothing allocated                     |
| headers claiming 2001 headers         | ban (malformed headers)                                    |
| getheaders claiming 102 locator ids   | ban (malformed getheaders)                                 |
| getdata for 5000 unknown ids (legal)  | answered with notfound (5000 items): no penalty            |
| truncated block payload (checksum ok) | ban (malformed block)                                      |
| frame cut off mid-payload, then close | connection dropped, nothing else                           |
| 5000 pings/s + 1000 invs/s for 3 s    | node stays responsive (RPC < 2 s); every ping answered and |
|                                       | every unknown tx asked back with getdata, or the peer is   |
|                                       | dropped as a slow reader; never a crash                    |
| hello trickled one byte per second    | closed with `timeout: handshake` (~10 s)                   |

The post-handshake idle timeout (90 s) is covered by the unit test
NetManager.IdleAndHandshakeTimeouts (with short timeouts)."""
import os
import socket
import struct
import threading
import time

import bip340
import peerproto as pp
from framework import free_port, main, wait_for

H = "127.0.0.1"
TABLE = []


def body(ctx):
    port = free_port()
    node = ctx.daemon("target", port, ["--network", "dev", "--ban-seconds", "600", "--api-token", "t0ken"],
                      listen="0.0.0.0")
    node.token = "t0ken"
    node.start()
    # One block: a block on top of it keeps the genesis target (blocks 1 and 2 do not retarget),
    # so the Python-solved blocks below need no ASERT.
    node.rpc("generate", [1])
    info = node.rpc("getblockchaininfo")
    genesis = info["genesis"]
    raw1 = bytes.fromhex(node.rpc("getblock", [1, False]))
    dev0 = raw1[86:118]
    s1, s2 = bip340.dev_secret(1), bip340.dev_secret(2)
    k2 = bip340.pubkey(s2)
    started = time.monotonic()

    def tip():
        i = node.rpc("getblockchaininfo")
        return i["height"], i["tip"]

    def still_fine():
        assert node.alive(), "the node died"
        h, t = tip()
        assert node.rpc("getblockhash", [h]) == t

    def case(name, expected, got):
        TABLE.append((name, expected, got))
        print(f"  {name:40s} expected {expected:28s} got {got}")

    def peer(n):
        p = pp.Peer(H, port, source=f"127.0.0.{n}")
        p.src = f"127.0.0.{n}"
        p.handshake(genesis)
        return p

    def banned(p, what, name, expected="ban"):
        reason = p.expect_closed()
        assert reason and "banned" in reason and what in reason, f"{name}: expected a ban for {what}, got {reason!r}"
        case(name, expected, reason)
        # The address stays banned: a new connection is refused at once.
        q = pp.Peer(H, port, source=p.src)
        q.send(pp.frame(pp.HELLO, pp.hello(genesis)))
        r2 = q.expect_closed()
        assert r2 is None or "banned" in r2, f"{name}: the address was not kept banned ({r2!r})"
        still_fine()

    def alive(p, name, expected, got):
        nonce = struct.pack("<Q", 0xC0FFEE)
        p.send(pp.frame(pp.PING, nonce))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            f = p.recv_frame(timeout=10)
            assert f is not None, f"{name}: disconnected, expected to stay connected"
            if f[0] == pp.DISCONNECT:
                raise AssertionError(f"{name}: disconnected: {f[1][1:].decode(errors='replace')}")
            if f[0] == pp.PONG and f[1] == nonce:
                case(name, expected, got + "; still connected (pong)")
                p.close()
                still_fine()
                return
        raise AssertionError(f"{name}: no pong")

    # A slow trickle runs beside the other cases: the hello, one byte per second.
    trickle_result = {}

    def trickle():
        try:
            s = socket.create_connection((H, port), source_address=("127.0.0.49", 0))
            data = pp.frame(pp.HELLO, pp.hello(genesis))
            t = time.monotonic()
            buf = b""
            for b in data:
                try:
                    s.send(bytes([b]))
                except OSError:
                    break
                s.settimeout(1.0)
                try:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                except socket.timeout:
                    pass
                except OSError:
                    break
            s.settimeout(5)
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
            except OSError:
                pass
            trickle_result["after_s"] = time.monotonic() - t
            trickle_result["reply"] = buf
        except Exception as e:
            trickle_result["error"] = repr(e)

    tt = threading.Thread(target=trickle, daemon=True)
    tt.start()

    # Python-solved blocks at height 2 (the genesis target), on block 1.
    height, tip_hex = tip()
    assert height == 1
    bits = node.rpc("getblock", [height])["bits"]
    now = int(time.time() * 1000)

    # 1. A block with a duplicated transaction (the Merkle root commits to both copies): the
    # second copy's nonce is stale, so connecting the block fails.
    tx_b = bip340.transfer(s1, k2, 701, 1, 0)
    h2 = pp.solve(height + 1, bytes.fromhex(tip_hex), pp.merkle([pp.txid(tx_b)] * 2), now, bits, dev0)
    p = peer(31)
    p.send(pp.frame(pp.BLOCK, pp.block(h2, [tx_b, tx_b])))
    banned(p, "", "block with a duplicated transaction")
    assert tip() == (height, tip_hex), "a block with a duplicated transaction moved the tip"

    # 2. A block with a wrong height.
    h3 = pp.solve(height + 5, bytes.fromhex(tip_hex), pp.merkle([]), now, bits, dev0)
    p = peer(32)
    p.send(pp.frame(pp.BLOCK, pp.block(h3, [])))
    banned(p, "height", "block with a wrong height")
    assert tip() == (height, tip_hex)

    # 3. Mutated block: an honest header with a body that does not match its Merkle root.
    tx_a = bip340.transfer(s1, k2, 700, 1, 0)
    hdr = pp.solve(height + 1, bytes.fromhex(tip_hex), pp.merkle([pp.txid(tx_a)]), now + 1, bits, dev0)
    p = peer(33)
    p.send(pp.frame(pp.BLOCK, pp.block(hdr, [])))
    banned(p, "merkle", "mutated block (Merkle mismatch)")
    assert tip() == (height, tip_hex), "a mutated block moved the tip"
    # ... and the honest block with that header is still accepted (its id was not poisoned).
    p = peer(34)
    p.send(pp.frame(pp.BLOCK, pp.block(hdr, [tx_a])))
    wait_for(lambda: tip()[0] == height + 1, 10, "the honest block after its mutated twin")
    new_tip = tip()[1]
    assert new_tip in (pp.sha256d(hdr).hex(), pp.sha256d(hdr)[::-1].hex()), new_tip
    case("honest twin of the mutated block", "accepted", f"tip {new_tip[:16]} at height {height + 1}")
    p.close()
    height, tip_hex = tip()
    tx_c = bip340.transfer(s1, k2, 703, 1, 1)

    # 4. A replayed transaction (tx_a is in the chain): nonce-too-low, no penalty.
    p = peer(35)
    p.send(pp.frame(pp.TX, tx_a))
    time.sleep(0.3)
    alive(p, "replayed transaction (already mined)", "ignored, no penalty", "not in the mempool")
    assert bip340.txid(tx_a) not in node.rpc("getrawmempool")

    # 5. A duplicated transaction: the first copy enters the mempool, the second is ignored.
    p = peer(36)
    p.send(pp.frame(pp.TX, tx_c) + pp.frame(pp.TX, tx_c))
    wait_for(lambda: bip340.txid(tx_c) in node.rpc("getrawmempool"), 10, "the first copy in the mempool")
    alive(p, "duplicated transaction (twice)", "1st accepted, 2nd ignored", "in the mempool once")
    assert node.rpc("getrawmempool").count(bip340.txid(tx_c)) == 1

    # 6. A transaction of another chain (chain id 1, correctly signed).
    p = peer(37)
    p.send(pp.frame(pp.TX, bip340.transfer(s1, k2, 702, 1, 2, chain_id=1)))
    banned(p, "chain", "transaction of another chain")

    # 7. Huge counts.
    p = peer(38)
    p.send(pp.frame(pp.INV, pp.compact_size(0xFFFFFFFF) + b"\x01" + os.urandom(32)))
    banned(p, "inv", "inv claiming 2^32-1 items")
    p = peer(39)
    p.send(pp.frame(pp.HEADERS, pp.compact_size(2001) + h3))
    banned(p, "headers", "headers claiming 2001 headers")
    p = peer(40)
    # (101 ids follow, so the frame is within its cap and the count is the node layer's to refuse)
    p.send(pp.frame(pp.GETHEADERS, pp.compact_size(102) + os.urandom(32) * 101))
    banned(p, "getheaders", "getheaders with 102 locator ids")
    p = peer(41)
    p.send(pp.frame(pp.GETDATA, pp.compact_size(5000) + b"".join(b"\x02" + os.urandom(32) for _ in range(5000))))
    deadline = time.monotonic() + 10
    got = None
    while time.monotonic() < deadline:
        f = p.recv_frame()
        assert f is not None, "disconnected for a legal getdata"
        if f[0] == 22:  # notfound
            got = f[1]
            break
    assert got is not None and got[:3] == pp.compact_size(5000), "no notfound for 5000 unknown ids"
    alive(p, "getdata for 5000 unknown ids", "notfound(5000), no penalty", "notfound with 5000 items")

    # 8. Truncated frames.
    p = peer(42)
    whole = pp.block(h3, [])
    p.send(pp.frame(pp.BLOCK, whole[:60]))
    banned(p, "malformed", "truncated block payload (checksum ok)")
    p = peer(43)
    fr = pp.frame(pp.BLOCK, pp.block(hdr, [tx_a]))
    p.send(fr[:len(fr) // 2])
    p.close()
    time.sleep(0.5)
    still_fine()
    case("frame cut mid-payload, then closed", "dropped, nothing else", "node fine")

    # 9. Valid frames at a high rate for 3 s: 5000 pings and 1000 invs of unknown transactions a
    # second, while a reader drains the answers and a client measures the node's RPC latency.
    p = peer(44)
    n_ping, n_inv = 15000, 3000
    counts = {"pong": 0, "getdata": 0, "closed": None}

    def reader():
        while counts["pong"] < n_ping or counts["getdata"] < n_inv:
            try:
                f = p.recv_frame(timeout=5)
            except (TimeoutError, OSError):
                return
            if f is None:
                counts["closed"] = counts["closed"] or "closed"
                return
            if f[0] == pp.PONG:
                counts["pong"] += 1
            elif f[0] == pp.GETDATA:
                counts["getdata"] += len(pp_inv_items(f[1]))
            elif f[0] == pp.DISCONNECT:
                counts["closed"] = f[1][1:].decode(errors="replace")

    def pp_inv_items(payload):
        n = payload[0] if payload[0] < 0xFD else struct.unpack("<H", payload[1:3])[0]
        return range(n)

    def flood():
        try:
            for chunk in range(30):
                base = chunk * 500
                data = b"".join(pp.frame(pp.PING, struct.pack("<Q", base + i)) for i in range(500))
                data += b"".join(pp.frame(pp.INV, pp.compact_size(1) + b"\x01" + os.urandom(32)) for _ in range(100))
                p.send(data)
                time.sleep(0.1)
        except OSError as e:
            counts["closed"] = counts["closed"] or f"send failed: {e}"

    rt = threading.Thread(target=reader, daemon=True)
    sender = threading.Thread(target=flood, daemon=True)
    t_burst = time.monotonic()
    rt.start()
    sender.start()
    latencies = []
    while sender.is_alive() or rt.is_alive():
        t = time.monotonic()
        node.rpc("getblockchaininfo", timeout=10)
        latencies.append(time.monotonic() - t)
        if time.monotonic() - t_burst > 30:
            break
        time.sleep(0.05)
    sender.join(10)
    rt.join(10)
    took = time.monotonic() - t_burst
    assert max(latencies) < 2.0, f"the node stalled its clients during the flood: max RPC latency {max(latencies):.2f}s"
    assert (counts["pong"] == n_ping and counts["getdata"] == n_inv) or (counts["closed"] and "slow" in counts["closed"]), counts
    case(f"{n_ping} pings + {n_inv} invs in 3 s", "responsive; answers or slow-peer",
         f"{counts['pong']} pongs, {counts['getdata']} txs asked back in {took:.1f}s, {len(latencies)} RPCs, "
         f"max {max(latencies) * 1000:.0f} ms" + (f", closed: {counts['closed']}" if counts["closed"] else ""))
    p.close()
    still_fine()

    # 10. The trickle (started first) must have been cut at the handshake timeout.
    tt.join(60)
    assert "error" not in trickle_result, trickle_result
    reply = trickle_result.get("reply", b"")
    assert b"timeout: handshake" in reply or b"timeout" in reply, f"trickle: {reply[-80:]!r}"
    assert trickle_result["after_s"] < 20, trickle_result
    case("hello trickled 1 byte/s", "timeout: handshake", f"closed after {trickle_result['after_s']:.1f}s")

    info = node.rpc("getblockchaininfo")
    assert info["height"] == height and node.alive()
    assert node.stop() == 0
    print(f"{len(TABLE)} cases in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main(body)
