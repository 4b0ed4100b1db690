#!/usr/bin/env python3
"""Issue 15 — low-bandwidth compact relay through real processes (docs/spec/p2p.md "Compact
blocks"). A hub H with four leaves: H asks at most three peers to push sketches, so at least
one leaf announces its blocks to H by header, and H asks for the block as a sketch (getdata
kind 3) and rebuilds it from its mempool. Each leaf mines one block of transfers everyone
holds: every block reaches every node, none crosses whole, and H requested at least one
sketch. Addresses 127.0.0.137-141."""
from framework import compact_blocks as cb, free_port, main, wait_for

HOSTS = ["127.0.0.137", "127.0.0.138", "127.0.0.139", "127.0.0.140", "127.0.0.141"]


def body(ctx):
    ports = [free_port() for _ in HOSTS]
    nodes = []
    for i, (h, p) in enumerate(zip(HOSTS, ports)):
        args = ["--network", "dev", "--no-discover"]
        if i > 0:
            args += ["--peer", f"{HOSTS[0]}:{ports[0]}"]
        nodes.append(ctx.daemon("hub" if i == 0 else f"leaf{i}", p, args, host=h, listen=h).start())
    hub, leaves = nodes[0], nodes[1:]
    wait_for(lambda: len(hub.rpc("getpeerinfo")) == 4, 30, "four leaves to connect to the hub")

    for k, leaf in enumerate(leaves):
        ctx.client(HOSTS[0], ports[0], 10 + k, 0, 20, 500)
        wait_for(lambda: all(n.rpc("getmempoolinfo")["size"] == 20 for n in nodes), 60,
                 f"round {k}: the transfers in every mempool")
        tip = leaf.rpc("generate", [1])[0]
        wait_for(lambda: all(n.rpc("getblockchaininfo")["tip"] == tip for n in nodes), 30,
                 f"round {k}: leaf{k + 1}'s block everywhere")
        assert all(n.rpc("getmempoolinfo")["size"] == 0 for n in nodes)
    stats = {n.name: cb(n) for n in nodes}
    print("hub:", stats["hub"])
    assert stats["hub"]["sketches_requested"] >= 1, stats["hub"]
    assert sum(s["blocks_sent_whole"] for s in stats.values()) == 0, stats
    assert sum(s["fell_back_to_block"] for s in stats.values()) == 0, stats
    # The hub rebuilt every leaf's block from a sketch, pushed or requested.
    assert stats["hub"]["rebuilt_without_round_trip"] + stats["hub"]["rebuilt_with_round_trip"] == 4, stats["hub"]
    for n in nodes:
        assert n.stop() == 0


if __name__ == "__main__":
    main(body)
