#!/usr/bin/env python3
"""Issue 3, test 4 — a fresh node joins a 2,000-block chain through one peer and syncs to its
tip (headers first, then blocks). Prints how long the sync took."""
import time

from framework import free_port, main, wait_for

H = "127.0.0.1"
BLOCKS = 2000


def body(ctx):
    pa, pb = free_port(), free_port()
    a = ctx.daemon("a", pa, ["--network", "dev"]).start()
    # Build the chain with transfers in some blocks.
    made = 0
    while made < BLOCKS:
        if made % 100 == 0:
            ctx.client(H, pa, 1 + (made // 100) % 50, 0, 20, 500)
        made += len(a.rpc("generate", [min(250, BLOCKS - made)], timeout=300))
    tip = a.rpc("getblockchaininfo")
    assert tip["height"] == BLOCKS, tip
    started = time.monotonic()
    b = ctx.daemon("b", pb, ["--network", "dev", "--peer", f"{H}:{pa}"]).start()
    wait_for(lambda: b.rpc("getblockchaininfo")["tip"] == tip["tip"], 120, "b to sync to a's tip", interval=0.2)
    took = time.monotonic() - started
    print(f"synced {BLOCKS} blocks in {took:.2f}s ({BLOCKS / took:.0f} blocks/s)")
    assert b.rpc("getaccount", [a.rpc("getblock", [BLOCKS])["miner"]])["balance"] > 0
    for n in (a, b):
        assert n.stop() == 0


if __name__ == "__main__":
    main(body)
