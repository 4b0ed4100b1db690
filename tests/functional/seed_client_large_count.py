#!/usr/bin/env python3
"""The seed's client takes any COUNT, as the classroom demo did (issue 14): `client HOST PORT ID 0
COUNT AMOUNT` sends in batches under the node's 8 MiB body cap, and when the node cannot take
more yet (more than the mempool's 100,000 pending per sender) it waits for blocks to make room
and resends from the refused transfer. Before, COUNT above 50,000 was refused and 50,000 failed
with "connection ... keeps closing" (the request passed the body cap)."""
import re

from framework import free_port, main, wait_for

H = "127.0.0.1"
COUNT = 120_000


def body(ctx):
    port = free_port()
    node = ctx.seed_server(port, []).start()
    r = ctx.client(H, port, 3, 0, COUNT, 1, timeout=600)
    ids = r.stdout.split()
    assert len(ids) == COUNT and len(set(ids)) == COUNT, (len(ids), r.stderr[-500:])
    assert all(re.fullmatch(r"[0-9a-f]{64}", t) for t in ids[:10] + ids[-10:])
    # Every one of them ends up in the chain (the last nonce confirmed means all before it are).
    wait_for(lambda: node.rpc("gettransaction", [ids[-1]])["confirmations"] >= 1, 300,
             "the last transfer to be confirmed", interval=1)
    assert node.stop() == 0


if __name__ == "__main__":
    main(body)
