#!/usr/bin/env python3
"""Issue 17 — headers and blocks a peer may make us store (docs/design/limits.md).

The target mines 60 blocks at the dev genesis target. A scripted peer (127.0.0.73) then sends
what costs it almost nothing on the dev chain:
  * a branch from genesis whose timestamps jump 20 hours at block 2, so from block 3 the retarget
    (ASERT, per block) sits at the difficulty floor: 10,000 valid headers in 5 messages;
  * 3,000 sibling headers on that branch (one header a message), each a new tip;
  * 4 unrequested blocks that are siblings of the target's tip (same work as the tip).
None of them adds up to the target's work. Before: every header and block was stored (the branch
and 3,000 tips in getchaintips, the siblings as valid forks), with no penalty. Expected now: the
branch is checked and counted, not stored (headers pre-sync); the siblings' parent was never
stored, so neither are they; unrequested blocks that add no work are not stored; getchaintips
lists only the active tip. Timings of getchaintips/getblocktree and a sendtransaction during
the attack, the node's RSS and database size are printed for the resolution note."""
import os
import struct
import threading
import time

import peerproto as pp
from framework import free_port, main, wait_for

T_HOST, ATTACKER = "127.0.0.71", "127.0.0.73"
# Larger runs for the resolution note's figures: LOWWORK_HEADERS=300000 LOWWORK_SIBLINGS=5000.
N_HEADERS = int(os.environ.get("LOWWORK_HEADERS", "10000")) // 2000 * 2000
N_SIBLINGS = int(os.environ.get("LOWWORK_SIBLINGS", "3000"))
# The target's chain must outweigh the branch (~256 work a floor header, ~100,000 a target block).
TIP_BLOCKS = int(os.environ.get("LOWWORK_TIP_BLOCKS", "60"))
SPACING_MS, HALF_LIFE_MS = 1000, 3600 * 1000
POW_LIMIT = 0xFFFF << (8 * (0x20 - 3))


def encode_compact(t):
    size = (t.bit_length() + 7) // 8
    compact = t << (8 * (3 - size)) if size <= 3 else t >> (8 * (size - 3))
    compact &= 0xFFFFFFFF
    if compact & 0x00800000:
        compact >>= 8
        size += 1
    return compact | (size << 24)


def asert(anchor, dt_ms):
    """consensus/pow.cpp asert_target with height_diff 1, for the dev chain."""
    num = (dt_ms - SPACING_MS) * 65536
    exponent = num // HALF_LIFE_MS
    exponent = max(-(512 << 16), min(512 << 16, exponent))
    shifts = exponent >> 16
    frac = exponent - (shifts << 16)
    poly = 195766423245049 * frac + 971821376 * frac * frac + 5127 * frac ** 3 + (1 << 47)
    factor = 65536 + (poly >> 48)
    nxt = anchor * factor
    if shifts < 0:
        nxt >>= -shifts
    else:
        if nxt.bit_length() + shifts > 256 + 16:
            return POW_LIMIT
        nxt <<= shifts
    nxt >>= 16
    if nxt >> 256:
        return POW_LIMIT
    t = max(nxt, 1)
    t = min(t, POW_LIMIT)
    return pp.target_from_bits(encode_compact(t))


class Chain:
    """Headers of a branch, mined in Python with the dev retarget."""

    def __init__(self, parent_hdr, grandparent_time):
        self.last, self.gp_time = parent_hdr, grandparent_time

    @staticmethod
    def fields(h):
        height = struct.unpack("<I", h[2:6])[0]
        time_ms, bits = struct.unpack("<QI", h[70:82])
        return height, time_ms, bits

    def next_bits(self):
        height, time_ms, bits = self.fields(self.last)
        if self.gp_time is None or height <= 1:
            return bits
        return encode_compact(asert(pp.target_from_bits(bits), time_ms - self.gp_time))

    def child(self, time_ms, miner=b"\x11" * 32, merkle_root=None):
        height, parent_time, _ = self.fields(self.last)
        bits = self.next_bits()
        root = merkle_root if merkle_root is not None else pp.merkle([])
        h = pp.solve(height + 1, pp.sha256d(self.last), root, time_ms, bits, miner)
        return h

    def push(self, h):
        self.gp_time = self.fields(self.last)[1]
        self.last = h


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def du_kb(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total // 1024


def timed(fn):
    start = time.monotonic()
    r = fn()
    return r, time.monotonic() - start


def body(ctx):
    port = free_port(T_HOST)
    node = ctx.daemon("target", port, ["--network", "dev", "--no-discover", "--ban-seconds", "600"], host=T_HOST)
    node.start()
    node.rpc("generate", [TIP_BLOCKS], timeout=600)
    info = node.rpc("getblockchaininfo")
    genesis_hex = info["genesis"]
    raw_g = bytes.fromhex(node.rpc("getblock", [0, False]))
    genesis = raw_g[:pp_header_len()]
    tip_height = info["height"]
    tip_before = info["tip"]
    home = os.path.join(ctx.tmp, "target")
    rss0, db0 = rss_kb(node.proc.pid), du_kb(home)

    # The attacker's branch from genesis: block 1 at genesis time + 1 s, block 2 20 h later, then
    # 1 s apart: from block 3 on, the target is at the floor (a few hundred hashes a header).
    started = time.monotonic()
    _, g_time, _ = Chain.fields(genesis)
    chain = Chain(genesis, None)
    branch = []
    t = g_time + 1000
    for i in range(N_HEADERS + 2):
        if i == 1:
            t += 20 * 3600 * 1000
        h = chain.child(t)
        chain.push(h)
        branch.append(h)
        t += 1000
    floor_bits = Chain.fields(branch[-1])[2]
    # Siblings: children of branch[1] (block 2) with distinct miners, each its own tip.
    sib_parent = Chain(branch[1], Chain.fields(branch[0])[1])
    siblings = [sib_parent.child(Chain.fields(branch[1])[1] + 1000, miner=i.to_bytes(32, "big")) for i in range(N_SIBLINGS)]
    print(f"mined {len(branch)} branch headers (floor bits {floor_bits:#x}) and {len(siblings)} siblings in Python "
          f"in {time.monotonic() - started:.1f} s")

    peer = pp.Peer(T_HOST, port, source=ATTACKER)
    peer.handshake(genesis_hex)
    stop = threading.Event()
    answered = threading.Event()

    def drain():
        while not stop.is_set():
            try:
                f = peer.recv_frame(1)
                if f is None:
                    return
                if f[0] == pp.HEADERS:
                    answered.set()
            except TimeoutError:
                continue
            except OSError:
                return

    threading.Thread(target=drain, daemon=True).start()

    # Probes of what honest clients feel while the attack goes on.
    probes = {"getchaintips": 0.0, "getblocktree": 0.0, "sendtransaction": 0.0}
    done = threading.Event()

    def probe():
        cid = 20
        while not done.is_set():
            probes["getchaintips"] = max(probes["getchaintips"], timed(lambda: node.rpc("getchaintips", timeout=120))[1])
            probes["getblocktree"] = max(probes["getblocktree"], timed(lambda: node.rpc("getblocktree", timeout=120))[1])
            s = time.monotonic()
            ctx.client(T_HOST, port, cid, 0, 1, 100, timeout=120)
            probes["sendtransaction"] = max(probes["sendtransaction"], time.monotonic() - s)
            cid += 1
            time.sleep(0.2)  # pacing of the probes, not synchronisation

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    attack_start = time.monotonic()
    for off in range(0, N_HEADERS, 2000):
        peer.send(pp.frame(pp.HEADERS, pp.compact_size(2000) + b"".join(branch[off:off + 2000])))
    for s in siblings:
        peer.send(pp.frame(pp.HEADERS, pp.compact_size(1) + s))
    # Unrequested blocks with the tip's work: siblings of the tip, at the target's difficulty.
    tip_raw = bytes.fromhex(node.rpc("getblock", [tip_height, False]))
    tip_bits = Chain.fields(tip_raw[:pp_header_len()])[2]
    _, tip_time, _ = Chain.fields(tip_raw[:pp_header_len()])
    for i in range(4):
        h = pp.solve(tip_height, bytes.fromhex(node.rpc("getblockhash", [tip_height - 1])), pp.merkle([]),
                     tip_time + 1 + i, tip_bits, bytes([0x40 + i]) * 32)
        peer.send(pp.frame(pp.BLOCK, pp.block(h, [])))
    # The node handles one connection's frames in order: once it answers a getheaders sent after
    # everything, it has handled everything (blocks may still wait in its block queue).
    answered.clear()
    peer.send(pp.frame(pp.GETHEADERS, pp.compact_size(1) + bytes.fromhex(genesis_hex)))
    assert answered.wait(300), "the node did not answer a getheaders sent after the attack"
    wait_for(lambda: node.rpc("getchaintips", timeout=120) is not None, 60, "getchaintips to answer")
    done.set()
    prober.join(timeout=180)
    elapsed = time.monotonic() - attack_start
    tips, t_tips = timed(lambda: node.rpc("getchaintips", timeout=120))
    tree, t_tree = timed(lambda: node.rpc("getblocktree", [0, 2000], timeout=120))
    rss1, db1 = rss_kb(node.proc.pid), du_kb(home)
    branch_tips = [x for x in tips if x["status"] != "active"]
    print(f"after {elapsed:.1f} s of attack: getchaintips {len(tips)} tips ({len(branch_tips)} not active) "
          f"in {t_tips:.2f} s; getblocktree(0, 2000) {len(tree['blocks'])} blocks truncated={tree['truncated']} in {t_tree:.2f} s")
    print(f"RSS {rss0 // 1024} -> {rss1 // 1024} MB, home {db0} -> {db1} KB; worst during the attack: "
          f"getchaintips {probes['getchaintips']:.2f} s, getblocktree {probes['getblocktree']:.2f} s, "
          f"sendtransaction {probes['sendtransaction']:.2f} s")
    assert node.alive(), "the node died"
    if os.environ.get("SHOW_LOG"):
        print(node.tail(25))
    assert node.rpc("getblockchaininfo")["tip"] == tip_before or node.rpc("getblockchaininfo")["height"] >= tip_height
    assert not branch_tips, f"{len(branch_tips)} low-work tips stored, e.g. {branch_tips[:3]}"
    print("p2p_lowwork_headers: OK")
    stop.set()
    peer.close()


def pp_header_len():
    return 2 + 4 + 32 + 32 + 8 + 4 + 4 + 32


if __name__ == "__main__":
    main(body)
