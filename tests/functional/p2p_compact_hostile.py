#!/usr/bin/env python3
"""Issue 15 — hostile peers against compact block relay (docs/spec/p2p.md, "Compact blocks").
Each case comes from its own address in 127.0.0.122-129 (this area's range; the node listens on
127.0.0.121) and states the reaction it expects; the node must stay up and keep its chain.

| case                                              | expected reaction                            |
|---------------------------------------------------|----------------------------------------------|
| undecodable cmpctblock                            | ban (malformed cmpctblock)                   |
| cmpctblock whose header fails proof of work       | ban (invalid cmpctblock header)              |
| cmpctblock claiming 2^32 short ids (8 bytes sent) | ban (malformed), nothing allocated           |
| sendcmpct with mode 7                             | ban (malformed sendcmpct)                    |
| valid sketch, then a blocktxn with the wrong      | the node asks with getblocktxn, then bans    |
| transfer                                          | (blocktxn does not match)                    |
| valid sketch, then the right blocktxn             | the block is rebuilt and becomes the tip     |
| blocktxn nobody asked for                         | ignored: still connected                     |
| high-bandwidth peer: sketch pushed on a new tip;  | ban (getblocktxn index beyond the block)     |
| then getblocktxn for an index beyond the block    |                                              |"""
import struct
import time

import bip340
import peerproto as pp
from framework import free_port, main, wait_for

H = "127.0.0.121"
SENDCMPCT, CMPCTBLOCK, GETBLOCKTXN, BLOCKTXN = 24, 25, 26, 27
TABLE = []


def cmpctblock(hdr, salt, short_ids, prefilled):
    """prefilled: [(index, tx bytes)] increasing."""
    out = hdr + struct.pack("<Q", salt) + pp.compact_size(len(short_ids))
    out += b"".join(struct.pack("<Q", s)[:6] for s in short_ids)
    out += pp.compact_size(len(prefilled))
    nxt = 0
    for idx, tx in prefilled:
        out += pp.compact_size(idx - nxt) + tx
        nxt = idx + 1
    return out


def read_until(p, want, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        f = p.recv_frame(timeout=max(0.1, deadline - time.monotonic()))
        assert f is not None, f"closed while waiting for message {want}"
        if f[0] == want:
            return f[1]
        assert f[0] != pp.DISCONNECT, "disconnected: " + f[1][1:].decode(errors="replace")
    raise AssertionError(f"no message {want}")


def body(ctx):
    port = free_port()
    node = ctx.daemon("target", port, ["--network", "dev", "--ban-seconds", "600", "--no-discover"], host=H, listen=H)
    node.start()
    node.rpc("generate", [1])
    info = node.rpc("getblockchaininfo")
    genesis = info["genesis"]
    raw1 = bytes.fromhex(node.rpc("getblock", [1, False]))
    dev0 = raw1[86:118]
    s1, s2 = bip340.dev_secret(1), bip340.dev_secret(2)
    k2 = bip340.pubkey(s2)

    def tip():
        i = node.rpc("getblockchaininfo")
        return i["height"], i["tip"]

    def case(name, expected, got):
        TABLE.append((name, expected, got))
        print(f"  {name:48s} expected {expected:26s} got {got}")

    def peer(n):
        p = pp.Peer(H, port, source=f"127.0.0.{n}")
        p.handshake(genesis)
        return p

    def banned(p, what, name):
        case(name, "ban", pp.expect_banned(p, what, name))
        assert node.alive(), "the node died"
        h, t = tip()
        assert node.rpc("getblockhash", [h]) == t

    height, tip_hex = tip()
    bits = node.rpc("getblock", [height])["bits"]
    now = int(time.time() * 1000)

    # 1. Undecodable.
    p = peer(122)
    p.send(pp.frame(CMPCTBLOCK, b"\x01\x02\x03"))
    banned(p, "malformed cmpctblock", "undecodable cmpctblock")

    # 2. A header that fails its proof of work.
    bad = pp.solve(height + 1, bytes.fromhex(tip_hex), pp.merkle([]), now, bits, dev0, want_valid=False)
    p = peer(123)
    p.send(pp.frame(CMPCTBLOCK, cmpctblock(bad, 1, [], [])))
    banned(p, "invalid cmpctblock header", "cmpctblock with bad proof of work")

    # 3. A count claiming 2^32 short ids, in a small frame.
    p = peer(124)
    p.send(pp.frame(CMPCTBLOCK, bad + struct.pack("<Q", 0) + b"\xfe\xff\xff\xff\xff"))
    banned(p, "malformed cmpctblock", "cmpctblock claiming 2^32 short ids")

    # 4. sendcmpct with a mode that does not exist.
    p = peer(125)
    p.send(pp.frame(SENDCMPCT, b"\x07"))
    banned(p, "malformed sendcmpct", "sendcmpct mode 7")

    # 5. A valid sketch (proof of work solved here) of a block with two transfers the node has
    # never seen: it asks for both; a blocktxn with them swapped does not match their short ids.
    tx_a = bip340.transfer(s1, k2, 700, 1, 0)
    tx_b = bip340.transfer(s1, k2, 701, 1, 1)
    hdr = pp.solve(height + 1, bytes.fromhex(tip_hex), pp.merkle([pp.txid(tx_a), pp.txid(tx_b)]), now, bits, dev0)
    block_id = pp.sha256d(hdr)
    # Short ids are computed by the node from the key; the sender's must be right for the
    # answer to match, so take them from the spec's rule (SipHash-2-4), implemented below.
    key = pp.sha256(hdr + struct.pack("<Q", 99))
    k0, k1 = struct.unpack("<QQ", key[:16])
    sids = [siphash24(k0, k1, pp.txid(t)) & ((1 << 48) - 1) for t in (tx_a, tx_b)]
    p = peer(126)
    p.send(pp.frame(CMPCTBLOCK, cmpctblock(hdr, 99, sids, [])))
    req = read_until(p, GETBLOCKTXN)
    assert req[:32] == block_id and req[32:] == b"\x02\x00\x00", req.hex()
    p.send(pp.frame(BLOCKTXN, block_id + b"\x02" + tx_b + tx_a))
    banned(p, "blocktxn does not match", "blocktxn with the wrong transfers")
    assert tip()[0] == height

    # 6. The same sketch from another peer, answered right: the block is rebuilt and taken.
    p = peer(127)
    p.send(pp.frame(CMPCTBLOCK, cmpctblock(hdr, 99, sids, [])))
    req = read_until(p, GETBLOCKTXN)
    p.send(pp.frame(BLOCKTXN, block_id + b"\x02" + tx_a + tx_b))
    wait_for(lambda: tip()[1] == block_id.hex(), 10, "the rebuilt block to become the tip")
    stats = node.rpc("getnetworkinfo")["compact_blocks"]
    assert stats["rebuilt_with_round_trip"] >= 1, stats
    case("valid sketch, right blocktxn", "rebuilt, new tip", f"tip {tip()[0]}; {stats['rebuilt_with_round_trip']} rebuilt with a round trip")

    # 7. A blocktxn nobody asked for: ignored.
    p.send(pp.frame(BLOCKTXN, block_id + b"\x01" + tx_a))
    nonce = struct.pack("<Q", 0xC0FFEE)
    p.send(pp.frame(pp.PING, nonce))
    assert read_until(p, pp.PONG) == nonce
    case("unsolicited blocktxn", "ignored", "still connected (pong)")
    p.close()

    # 8. A high-bandwidth peer gets the sketch of a new tip pushed; a getblocktxn for an index
    # beyond that block costs a ban.
    p = peer(128)
    p.send(pp.frame(SENDCMPCT, b"\x01"))
    nonce = struct.pack("<Q", 7)
    p.send(pp.frame(pp.PING, nonce))
    read_until(p, pp.PONG)  # the sendcmpct has been read
    mined = node.rpc("generate", [1])[0]
    sketch = read_until(p, CMPCTBLOCK)
    assert pp.sha256d(sketch[:118]).hex() == mined, "the pushed sketch is not the new tip's"
    p.send(pp.frame(GETBLOCKTXN, pp.sha256d(sketch[:118]) + b"\x01" + pp.compact_size(40000)))
    banned(p, "getblocktxn index", "getblocktxn beyond the block")

    print("\n| case | expected | got |\n|---|---|---|")
    for name, exp, got in TABLE:
        print(f"| {name} | {exp} | {got} |")
    assert node.stop() == 0


def siphash24(k0, k1, m):
    M = (1 << 64) - 1

    def rotl(x, b):
        return ((x << b) | (x >> (64 - b))) & M

    v = [k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d, k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573]

    def rnd():
        v[0] = (v[0] + v[1]) & M; v[1] = rotl(v[1], 13); v[1] ^= v[0]; v[0] = rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & M; v[3] = rotl(v[3], 16); v[3] ^= v[2]
        v[0] = (v[0] + v[3]) & M; v[3] = rotl(v[3], 21); v[3] ^= v[0]
        v[2] = (v[2] + v[1]) & M; v[1] = rotl(v[1], 17); v[1] ^= v[2]; v[2] = rotl(v[2], 32)

    n, i = len(m), 0
    while i + 8 <= n:
        w = struct.unpack("<Q", m[i:i + 8])[0]
        v[3] ^= w; rnd(); rnd(); v[0] ^= w
        i += 8
    last = (n & 0xFF) << 56
    for j, b in enumerate(m[i:]):
        last |= b << (8 * j)
    v[3] ^= last; rnd(); rnd(); v[0] ^= last
    v[2] ^= 0xFF
    for _ in range(4):
        rnd()
    return v[0] ^ v[1] ^ v[2] ^ v[3]


if __name__ == "__main__":
    main(body)
