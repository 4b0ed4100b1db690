#!/usr/bin/env python3
"""Issue 3, test 1 — the seed README scenario: three nodes started with the seed's command line
(`server PORT 2 HOST PORT HOST PORT`), ten 500-unit transfers sent to one node with the seed's
client (`client HOST PORT 1 0 10 500`); all three show the same chain holding all ten
(`client HOST PORT 1 1`)."""
import re

from framework import main, wait_for

H = "127.0.0.1"


def body(ctx):
    from framework import free_port
    ports = [free_port() for _ in range(3)]
    nodes = []
    for i, p in enumerate(ports):
        peers = [(H, q) for q in ports if q != p]
        nodes.append(ctx.seed_server(p, peers).start())
    for n in nodes:
        wait_for(lambda n=n: len(n.rpc("getpeerinfo")) >= 2, 30, f"{n.name} to have 2 peers")

    out = ctx.client(H, ports[1], 1, 0, 10, 500).stdout.split()
    assert len(out) == 10 and all(re.fullmatch(r"[0-9a-f]{64}", t) for t in out), out
    txids = set(out)

    def chain_of(port):
        text = ctx.client(H, port, 1, 1).stdout
        tip = re.match(r"height (\d+) tip ([0-9a-f]{64})", text)
        in_chain = set(re.findall(r"^  tx ([0-9a-f]{64}) from \S+ to \S+ amount 500 fee 1$", text, re.M))
        return tip.group(2), in_chain, text

    def converged():
        chains = [chain_of(p) for p in ports]
        tips = {c[0] for c in chains}
        return len(tips) == 1 and all(txids <= c[1] for c in chains)

    wait_for(converged, 90, "all three nodes on one tip holding all ten transfers", interval=0.5)
    for n in nodes:
        assert n.stop() == 0, f"{n.name} did not exit cleanly"


if __name__ == "__main__":
    main(body)
