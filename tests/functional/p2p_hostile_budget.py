#!/usr/bin/env python3
"""Issue 17 — what one peer can make a node do: the budget of a getdata and of one address's
connections (docs/design/limits.md, "Peer frames and messages").

1. getdata flood: a stored ~3 MB block named 5,000 times in one getdata frame, several frames
   in a row. Before: every copy was read, decoded and re-encoded on the network thread (27-29 s
   a frame) and the node fell behind its miner. Expected: a duplicate id is served once, blocks
   wait in a bounded per-peer queue served a budget at a time; the target keeps up with a miner
   (lag <= 5 blocks) and answers an honest peer's getheaders in < 2 s during the attack.
2. one address takes the inbound slots: 9 peer connections from one address. Expected: the 9th
   is refused with "too-many-from-address" (NetOptions::max_inbound_per_address = 8) while
   another address still connects.

Addresses 127.0.0.71-79 (this area's range)."""
import struct
import threading
import time

import peerproto as pp
from framework import free_port, main, wait_for

T_HOST, M_HOST = "127.0.0.71", "127.0.0.72"
ATTACKER, HONEST, CROWD, OTHER = "127.0.0.73", "127.0.0.74", "127.0.0.75", "127.0.0.76"


def read_until(p, want, timeout):
    """Reads frames until one of type `want`; returns (payload, seconds waited)."""
    start = time.monotonic()
    while True:
        left = timeout - (time.monotonic() - start)
        if left <= 0:
            raise TimeoutError(f"no frame of type {want} in {timeout} s")
        f = p.recv_frame(left)
        if f is None:
            raise AssertionError("the node closed the honest connection")
        if f[0] == want:
            return f[1], time.monotonic() - start


def body(ctx):
    t_port = free_port(T_HOST)
    target = ctx.daemon("target", t_port, ["--network", "dev", "--no-discover"], host=T_HOST)
    target.start()
    genesis = target.rpc("getblockchaininfo")["genesis"]

    # A ~3 MB block: 20,000 signed transfers from 8 dev accounts, then one generated block.
    started = time.monotonic()
    for cid in range(1, 9):
        ctx.client(T_HOST, t_port, cid, 0, 2500, 100, timeout=120)
    wait_for(lambda: target.rpc("getmempoolinfo")["size"] >= 20000, 60, "20,000 transfers in the mempool")
    target.rpc("generate", [1])
    big_height = target.rpc("getblockchaininfo")["height"]
    big = target.rpc("getblockhash", [big_height])
    raw = target.rpc("getblock", [big_height, False])
    print(f"big block {big} at height {big_height}: {len(raw) // 2} bytes (built in {time.monotonic() - started:.1f} s)")
    assert len(raw) // 2 > 2_500_000

    # A miner beside it, connected only to the target.
    m_port = free_port(M_HOST)
    miner = ctx.daemon("miner", m_port, ["--network", "dev", "--no-discover", "--mine",
                                        "--peer", f"{T_HOST}:{t_port}"], host=M_HOST)
    miner.start()
    wait_for(lambda: miner.rpc("getblockchaininfo")["height"] >= big_height + 3, 60, "the miner to build on the big block")
    wait_for(lambda: target.rpc("getblockchaininfo")["height"] >= big_height + 3, 30, "the target to follow the miner")

    # -- 1. getdata naming the big block 5,000 times, 4 frames --------------------------------
    attacker = pp.Peer(T_HOST, t_port, source=ATTACKER)
    attacker.handshake(genesis)
    honest = pp.Peer(T_HOST, t_port, source=HONEST)
    honest.handshake(genesis)
    served = {"blocks": 0, "closed": False}

    def drain():
        try:
            while True:
                f = attacker.recv_frame(60)
                if f is None:
                    served["closed"] = True
                    return
                if f[0] == pp.BLOCK:
                    served["blocks"] += 1
        except (TimeoutError, OSError):
            return

    threading.Thread(target=drain, daemon=True).start()
    frame = pp.frame(pp.GETDATA, pp.compact_size(5000) + (b"\x02" + bytes.fromhex(big)) * 5000)
    attack_start = time.monotonic()
    for _ in range(4):
        attacker.send(frame)
    worst_lag, worst_rtt, worst_rpc = 0, 0.0, 0.0
    watch_until = time.monotonic() + 20
    while time.monotonic() < watch_until:
        honest.send(pp.frame(pp.GETHEADERS, pp.compact_size(1) + bytes.fromhex(genesis)))
        try:
            _, rtt = read_until(honest, pp.HEADERS, 10)
        except TimeoutError:
            rtt = 10.0
        worst_rtt = max(worst_rtt, rtt)
        s = time.monotonic()
        try:
            t_height = target.rpc("getblockchaininfo", timeout=10)["height"]
            lag = miner.rpc("getblockchaininfo")["height"] - t_height
            worst_lag = max(worst_lag, lag)
        except OSError:
            pass  # timed out: counted below
        worst_rpc = max(worst_rpc, time.monotonic() - s)
        time.sleep(0.5)  # pacing of the probes, not synchronisation
    try:
        worst_lag = max(worst_lag, miner.rpc("getblockchaininfo")["height"] - target.rpc("getblockchaininfo", timeout=10)["height"])
    except OSError:
        pass
    print(f"getdata flood (4 frames x 5,000 x {len(raw) // 2} B): served {served['blocks']} blocks in "
          f"{time.monotonic() - attack_start:.1f} s; worst miner-target lag {worst_lag} blocks; "
          f"worst honest getheaders round trip {worst_rtt:.2f} s; worst getblockchaininfo {worst_rpc:.2f} s")
    assert target.alive(), "the target died"
    assert worst_rtt < 2.0, f"an honest peer waited {worst_rtt:.1f} s for headers during the getdata flood"
    assert worst_rpc < 2.0, f"an RPC call waited {worst_rpc:.1f} s during the getdata flood"
    assert worst_lag <= 5, f"the target fell {worst_lag} blocks behind its miner during the getdata flood"
    assert served["blocks"] <= 8, f"{served['blocks']} copies of one block served for 4 requests"
    attacker.close()
    honest.close()

    # -- 2. nine peer connections from one address --------------------------------------------
    crowd, refused = [], None
    for i in range(9):
        p = pp.Peer(T_HOST, t_port, source=CROWD)
        try:
            p.handshake(genesis)
            crowd.append(p)
        except AssertionError as e:
            refused = (i + 1, str(e))
            p.close()
            break
    print(f"connections from one address: {len(crowd)} accepted, refused: {refused}")
    assert refused is not None and "too-many-from-address" in refused[1], \
        f"all 9 connections from {CROWD} were accepted"
    other = pp.Peer(T_HOST, t_port, source=OTHER)
    other.handshake(genesis)  # another address still gets in
    other.close()
    for p in crowd:
        p.close()
    assert target.alive()
    print("p2p_hostile_budget: OK")


if __name__ == "__main__":
    main(body)
