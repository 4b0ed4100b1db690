#!/usr/bin/env python3
"""Issue 3, test 2 — kill -9 two of three nodes, send transfers to the survivor, restart both
with the same command: within a bounded time and with no client traffic after the restart, all
three report the same tip and hold every accepted transfer. Prints how long catch-up took."""
import re
import time

from framework import free_port, main, wait_for

H = "127.0.0.1"


def body(ctx):
    ports = [free_port() for _ in range(3)]
    nodes = [ctx.seed_server(p, [(H, q) for q in ports if q != p]).start() for p in ports]
    for n in nodes:
        wait_for(lambda n=n: len(n.rpc("getpeerinfo")) >= 2, 30, f"{n.name} to have 2 peers")
    first = set(ctx.client(H, ports[0], 2, 0, 5, 500).stdout.split())
    wait_for(lambda: all(n.rpc("gettransaction", [t])["status"] == "confirmed" for n in nodes for t in first),
             60, "the first transfers confirmed everywhere")

    nodes[1].kill9()
    nodes[2].kill9()
    survivor = nodes[0]
    accepted = set(ctx.client(H, ports[0], 3, 0, 10, 500).stdout.split()) | first
    wait_for(lambda: all(survivor.rpc("gettransaction", [t])["status"] == "confirmed" for t in accepted),
             60, "the survivor to confirm the transfers sent while the others were down")
    height_before = survivor.rpc("getblockchaininfo")["height"]

    restart = time.monotonic()
    nodes[1].start()
    nodes[2].start()

    def caught_up():
        infos = [n.rpc("getblockchaininfo") for n in nodes]
        if len({i["tip"] for i in infos}) != 1 or infos[0]["height"] < height_before:
            return False
        return all(n.rpc("gettransaction", [t])["status"] == "confirmed" for n in nodes for t in accepted)

    wait_for(caught_up, 90, "the restarted nodes to catch up by themselves", interval=0.3)
    print(f"catch-up after restart took {time.monotonic() - restart:.2f}s "
          f"(survivor was at height {height_before})")
    for n in nodes:
        assert n.stop() == 0


if __name__ == "__main__":
    main(body)
