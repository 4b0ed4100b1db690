#!/usr/bin/env python3
"""Issue 3, test 5 — a line A-B-C-D where each node knows only its neighbour: a transfer sent to
A ends in a block on D (relay crosses a line of nodes, not only a full mesh). Only D mines."""
from framework import free_port, main, wait_for

H = "127.0.0.1"


def body(ctx):
    ports = [free_port() for _ in range(4)]
    nodes = []
    for i, p in enumerate(ports):
        args = ["--network", "dev", "--log-level", "info", "--no-discover"]
        if i > 0:
            args += ["--peer", f"{H}:{ports[i - 1]}"]
        if i == 3:
            args += ["--mine"]
        nodes.append(ctx.daemon("abcd"[i], p, args).start())
    wait_for(lambda: len(nodes[1].rpc("getpeerinfo")) == 2 and len(nodes[2].rpc("getpeerinfo")) == 2,
             30, "the line to connect")
    a, d = nodes[0], nodes[3]
    txid = ctx.client(H, ports[0], 7, 0, 1, 500).stdout.strip()
    wait_for(lambda: d.rpc("gettransaction", [txid])["status"] == "confirmed", 60, "the transfer in a block on D")
    block = d.rpc("gettransaction", [txid])["block"]
    wait_for(lambda: a.rpc("gettransaction", [txid])["block"] == block, 30, "D's block to reach A")
    # Still a line: A's only peer is B, D's only peer is C.
    assert len(a.rpc("getpeerinfo")) == 1 and len(d.rpc("getpeerinfo")) == 1
    for n in nodes:
        assert n.stop() == 0


if __name__ == "__main__":
    main(body)
