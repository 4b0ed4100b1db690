#!/usr/bin/env python3
"""Issue 3, test 3 — partition four nodes 2+2 (each node on its own 127.0.0.x; iptables rules
between the two halves, all removed afterwards), both sides mine, heal: all converge on the
heavier side, and every transfer accepted on the losing side ends in the final chain.
Skipped (exit 77) with a clear message where iptables cannot be used (no root)."""
import os
import time

import firewall
from framework import free_port, main, wait_for

ADDRS = ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"]
TAG = f"peerchain-test-{os.getpid()}"


def remove_rules():
    firewall.remove_rules(TAG)


def partition(side_a, side_b):
    firewall.partition(side_a, side_b, TAG)


def body(ctx):
    port = free_port()
    nodes = []
    for i, addr in enumerate(ADDRS):
        peers = []
        for j, other in enumerate(ADDRS):
            if j != i:
                peers += ["--peer", f"{other}:{port}"]
        nodes.append(ctx.daemon(f"n{i}", port, ["--network", "dev", "--no-discover"] + peers, host=addr).start())
    for n in nodes:
        wait_for(lambda n=n: len(n.rpc("getpeerinfo")) >= 3, 30, f"{n.name} to see 3 peers")
    nodes[0].rpc("generate", [2])
    wait_for(lambda: len({n.rpc("getblockchaininfo")["tip"] for n in nodes}) == 1, 30, "one tip before the split")

    try:
        partition(ADDRS[:2], ADDRS[2:])
        wait_for(lambda: all(len(n.rpc("getpeerinfo")) <= 1 for n in nodes), 60, "the halves to lose each other")
        # Losing side (C, D): transfers accepted and mined into 2 blocks.
        lost_side = set(ctx.client(ADDRS[2], port, 4, 0, 5, 500).stdout.split())
        nodes[2].rpc("generate", [2])
        wait_for(lambda: all(nodes[3].rpc("gettransaction", [t])["status"] == "confirmed" for t in lost_side),
                 30, "D to see the losing side's block")
        # Winning side (A, B): its own transfers and 6 blocks.
        won_side = set(ctx.client(ADDRS[0], port, 5, 0, 5, 500).stdout.split())
        nodes[0].rpc("generate", [6])
        heavy_tip = nodes[0].rpc("getblockchaininfo")["tip"]
        wait_for(lambda: nodes[1].rpc("getblockchaininfo")["tip"] == heavy_tip, 30, "B to follow A")
        assert nodes[2].rpc("getblockchaininfo")["tip"] != heavy_tip
    finally:
        remove_rules()
    healed = time.monotonic()
    wait_for(lambda: all(n.rpc("getblockchaininfo")["tip"] == heavy_tip for n in nodes), 90,
             "every node to reorg onto the heavier side")
    print(f"converged {time.monotonic() - healed:.1f}s after healing")

    # The losing side's transfers went back to the mempool; the next blocks confirm them.
    def all_in_chain():
        if any(n.rpc("getmempoolinfo")["size"] for n in nodes):
            nodes[0].rpc("generate", [1])
        return all(n.rpc("gettransaction", [t])["status"] == "confirmed" for n in nodes for t in lost_side | won_side)

    wait_for(all_in_chain, 60, "every accepted transfer in the final chain on every node", interval=1.0)
    for n in nodes:
        assert n.stop() == 0


if __name__ == "__main__":
    firewall.run_or_skip("p2p_partition_heal", TAG, lambda: main(body))
