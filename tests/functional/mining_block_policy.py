#!/usr/bin/env python3
"""Issue 15 — the miner's block-size policy through real processes (docs/design/mempool.md
"Block size"). A node measures what a peer's block of transfers costs it to validate, and its
templates then hold at most what it validates in --block-validation-share of the block
interval (never fewer than 1,000): getmininginfo shows the measure and the limit, and the
blocks it mines (the miner's templates, or `generate` without max_txs) keep to it.
Addresses 127.0.0.131-133."""
from framework import free_port, main, wait_for

HOSTS = ["127.0.0.131", "127.0.0.132", "127.0.0.133"]
CONSENSUS_MAX = 50_000  # dev params' max_block_txs


def policy(n):
    return n.rpc("getmininginfo")["block_policy"]


def body(ctx):
    ports = [free_port() for _ in HOSTS]
    shares = [None, "0.000001", "0"]
    nodes = []
    for i, (h, p) in enumerate(zip(HOSTS, ports)):
        args = ["--network", "dev", "--no-discover"]
        if i > 0:
            args += ["--peer", f"{HOSTS[0]}:{ports[0]}", "--block-validation-share", shares[i]]
        nodes.append(ctx.daemon("abc"[i], p, args, host=h, listen=h).start())
    a, b, c = nodes
    wait_for(lambda: len(a.rpc("getpeerinfo")) == 2, 30, "B and C to connect to A")

    # Nothing measured yet: no limit below the consensus one.
    for n in (a, b, c):
        bp = policy(n)
        assert bp["validation_us_per_tx"] == 0 and bp["max_template_txs"] == CONSENSUS_MAX, bp
    assert policy(a)["validation_share"] == 0.5 and policy(c)["validation_share"] == 0, (policy(a), policy(c))

    # A block of 300 transfers from A: B and C measure what it cost them.
    ctx.client(HOSTS[0], ports[0], 7, 0, 300, 500)
    wait_for(lambda: all(n.rpc("getmempoolinfo")["size"] == 300 for n in nodes), 60, "300 transfers in every mempool")
    tip = a.rpc("generate", [1])[0]
    wait_for(lambda: all(n.rpc("getblockchaininfo")["tip"] == tip for n in (b, c)), 30, "A's block on B and C")
    pb, pc = policy(b), policy(c)
    print("after a block of 300 transfers:", "B", pb, "C", pc)
    assert pb["validation_us_per_tx"] > 0 and pc["validation_us_per_tx"] > 0, (pb, pc)
    # B's share is tiny: its limit is the floor. C's share is 0: no policy.
    assert pb["max_template_txs"] == 1000, pb
    assert pc["max_template_txs"] == CONSENSUS_MAX, pc

    # B mines what its policy allows: 1,500 transfers take two blocks of 1,000 and 500.
    ctx.client(HOSTS[1], ports[1], 8, 0, 1500, 500)
    wait_for(lambda: b.rpc("getmempoolinfo")["size"] == 1500, 60, "1,500 transfers on B")
    first = b.rpc("generate", [1])[0]
    assert b.rpc("getblock", [first, 1])["tx_count"] == 1000, b.rpc("getblock", [first, 1])["tx_count"]
    assert b.rpc("getmempoolinfo")["size"] == 500
    second = b.rpc("generate", [1])[0]
    assert b.rpc("getblock", [second, 1])["tx_count"] == 500
    assert policy(b)["templates_built"] >= 2, policy(b)
    wait_for(lambda: c.rpc("getblockchaininfo")["tip"] == second, 30, "B's blocks on C")
    for n in nodes:
        assert n.stop() == 0


if __name__ == "__main__":
    main(body)
