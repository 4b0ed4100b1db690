#!/usr/bin/env python3
"""Issue 15 — ADR 0025 through real processes. A mining node whose templates hold only transfers
that reached it at least --template-min-age-ms ago (3 s here, 200 ms by default) leaves a fresh
transfer out of the blocks it mines meanwhile, then mines it: the block that holds it was made
from a template taken 3 s or more after the transfer was sent. A peer that does not mine shows
the default age in getmininginfo, and both nodes end on one tip holding the transfer.
A also takes a new template every --template-refresh-ms (50 ms here, 250 by default) while the
young transfer waits: its template count over the wait shows the option reached its miner.
Addresses 127.0.0.171-172."""
import time

from framework import free_port, main, wait_for

HOSTS = ["127.0.0.171", "127.0.0.172"]
AGE_MS = 3000
REFRESH_MS = 50


def templates(node):
    p = node.rpc("getmininginfo")["block_policy"]
    return p["templates_built"] + p["templates_extended"]


def body(ctx):
    ports = [free_port() for _ in HOSTS]
    a = ctx.daemon("a", ports[0], ["--network", "dev", "--no-discover", "--mine", "--template-min-age-ms", str(AGE_MS),
                                     "--template-refresh-ms", str(REFRESH_MS)],
                   host=HOSTS[0], listen=HOSTS[0]).start()
    b = ctx.daemon("b", ports[1], ["--network", "dev", "--no-discover", "--peer", f"{HOSTS[0]}:{ports[0]}"],
                   host=HOSTS[1], listen=HOSTS[1]).start()
    wait_for(lambda: len(a.rpc("getpeerinfo")) == 1, 30, "B to connect to A")
    assert a.rpc("getmininginfo")["block_policy"]["template_min_tx_age_ms"] == AGE_MS
    assert b.rpc("getmininginfo")["block_policy"]["template_min_tx_age_ms"] == 200
    assert a.rpc("getmininginfo")["block_policy"]["template_refresh_ms"] == REFRESH_MS
    assert b.rpc("getmininginfo")["block_policy"]["template_refresh_ms"] == 250
    # Mining has begun: A mines empty blocks at the dev cap.
    start = a.rpc("getblockchaininfo")["height"]
    wait_for(lambda: a.rpc("getblockchaininfo")["height"] > start, 60, "A to mine a block")

    height = a.rpc("getblockchaininfo")["height"]
    sent_ms = int(time.time() * 1000)
    ctx.client(HOSTS[0], ports[0], 7, 0, 1, 500)
    # While the transfer is too young, the miner refreshes every REFRESH_MS (a template that left
    # a young one out is refreshed even without new arrivals).
    t0, count0 = time.monotonic(), templates(a)
    time.sleep(AGE_MS / 1000 * 0.8)
    elapsed_ms, taken = (time.monotonic() - t0) * 1000, templates(a) - count0
    print(f"{taken} templates in {elapsed_ms:.0f} ms while the transfer aged (refresh every {REFRESH_MS} ms)")
    # At the default 250 ms it would be about elapsed/250 (+1 per block found, one every 1-2 s);
    # at 50 ms, paced by the hashing steps, about elapsed/80 here.
    assert taken >= elapsed_ms / 250 * 1.5 + 2, f"only {taken} templates in {elapsed_ms:.0f} ms"
    wait_for(lambda: a.rpc("getmempoolinfo")["size"] == 0, 90, "the transfer mined")
    holding = None
    for h in range(height + 1, a.rpc("getblockchaininfo")["height"] + 1):
        blk = a.rpc("getblock", [h, 1])
        if blk["tx_count"] > 0:
            holding = blk
            break
    assert holding is not None, "no block holds the transfer"
    waited = holding["time_ms"] - sent_ms
    empty = holding["height"] - height - 1
    print(f"the transfer was mined in a block made {waited} ms after it was sent, after {empty} empty block(s)")
    assert waited >= AGE_MS, f"mined {waited} ms after it was sent, under the minimum age of {AGE_MS} ms"
    wait_for(lambda: b.rpc("getblockchaininfo")["tip"] == a.rpc("getblockchaininfo")["tip"] and
             b.rpc("getmempoolinfo")["size"] == 0, 60, "B on A's tip, its mempool empty")
    for n in (a, b):
        assert n.stop() == 0


if __name__ == "__main__":
    main(body)
