#!/usr/bin/env python3
"""Issue 15 — ADR 0017 through real processes. Three mining nodes (A, B, C, each peered with
the others) mine at the dev cap while transfers flow. Each node's miner is told of every
better block that arrives from a peer before the block is validated (getmininginfo.miner_holds,
peerchain_miner_holds_total), every node's own blocks go out as sketches, and all three end on
one tip holding every transfer.
Addresses 127.0.0.134-136."""
import urllib.request

from framework import free_port, main, wait_for

HOSTS = ["127.0.0.134", "127.0.0.135", "127.0.0.136"]


def body(ctx):
    ports = [free_port() for _ in HOSTS]
    nodes = []
    for i, (h, p) in enumerate(zip(HOSTS, ports)):
        args = ["--network", "dev", "--no-discover", "--mine"]
        for j in range(i):
            args += ["--peer", f"{HOSTS[j]}:{ports[j]}"]
        nodes.append(ctx.daemon("abc"[i], p, args, host=h, listen=h).start())
    wait_for(lambda: all(len(n.rpc("getpeerinfo")) == 2 for n in nodes), 30, "A, B and C to connect")
    start = nodes[0].rpc("getblockchaininfo")["height"]
    ctx.client(HOSTS[0], ports[0], 7, 0, 400, 500)
    ctx.client(HOSTS[1], ports[1], 8, 0, 400, 500)

    def mined():
        return [n.rpc("getmininginfo")["miner_blocks"] for n in nodes]

    # Until every node has mined a block of the chain and heard of the others' (tip events).
    wait_for(lambda: all(m >= 1 for m in mined()) and
             all(n.rpc("getmininginfo")["miner_holds"] >= 1 for n in nodes), 120,
             "every node to mine a block and hold for a peer's")
    info = [n.rpc("getmininginfo") for n in nodes]
    print("blocks mined / holds:", [(i["miner_blocks"], i["miner_holds"]) for i in info])
    for n, i in zip(nodes, info):
        # Its own blocks left as sketches (to the high-bandwidth peers it has: both others).
        assert n.rpc("getnetworkinfo")["compact_blocks"]["sketches_sent"] >= i["miner_blocks"], (n.name, i)
    metrics = urllib.request.urlopen(f"http://{HOSTS[2]}:{ports[2]}/metrics", timeout=10).read().decode()
    assert "peerchain_miner_holds_total" in metrics

    # All 800 transfers confirmed on one tip everywhere.
    def settled():
        tips = {n.rpc("getblockchaininfo")["tip"] for n in nodes}
        return len(tips) == 1 and all(n.rpc("getmempoolinfo")["size"] == 0 for n in nodes)
    wait_for(settled, 120, "one tip and empty mempools")
    assert nodes[0].rpc("getblockchaininfo")["height"] > start
    for n in nodes:
        assert n.stop() == 0


if __name__ == "__main__":
    main(body)
