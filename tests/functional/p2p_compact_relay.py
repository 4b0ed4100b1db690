#!/usr/bin/env python3
"""Issue 15 — blocks cross between real processes as sketches (compact block relay,
docs/spec/p2p.md "Compact blocks"). A line A - B - C: transfers sent to A reach every mempool,
A mines them, and the block reaches B and C as sketches rebuilt from their mempools, with no
round trip and no whole block on the wire; B pushes its sketch on to C before validating the
block. A second pair D - E with `--compact-relay off` sends the block whole.
Addresses 127.0.0.121-129 (this area's range)."""
from framework import compact_blocks as cb, free_port, main, wait_for

HOSTS = ["127.0.0.121", "127.0.0.122", "127.0.0.123", "127.0.0.124", "127.0.0.125"]


def body(ctx):
    ports = [free_port() for _ in HOSTS]
    nodes = []
    for i, (h, p) in enumerate(zip(HOSTS, ports)):
        args = ["--network", "dev", "--no-discover"]
        if i in (1, 2):
            args += ["--peer", f"{HOSTS[i - 1]}:{ports[i - 1]}"]
        if i == 4:
            args += ["--peer", f"{HOSTS[3]}:{ports[3]}"]
        if i >= 3:
            args += ["--compact-relay", "off"]
        nodes.append(ctx.daemon("abcde"[i], p, args, host=h, listen=h).start())
    a, b, c, d, e = nodes
    wait_for(lambda: len(b.rpc("getpeerinfo")) == 2 and len(c.rpc("getpeerinfo")) == 1 and
             len(e.rpc("getpeerinfo")) == 1, 30, "A-B-C and D-E to connect")
    assert cb(a)["enabled"] and not cb(d)["enabled"]

    # 30 transfers into A's mempool, relayed to B and C before any block.
    ctx.client(HOSTS[0], ports[0], 7, 0, 30, 500)
    wait_for(lambda: all(n.rpc("getmempoolinfo")["size"] == 30 for n in (a, b, c)), 30, "the transfers in every mempool")
    before = [cb(n) for n in (a, b, c)]
    tip = a.rpc("generate", [1])[0]
    wait_for(lambda: all(n.rpc("getblockchaininfo")["tip"] == tip for n in (b, c)), 30, "A's block on B and C")
    after = [cb(n) for n in (a, b, c)]

    def delta(i, k):
        return after[i][k] - before[i][k]

    for i, name in ((1, "B"), (2, "C")):
        assert delta(i, "sketches_received") >= 1, (name, after[i])
        assert delta(i, "rebuilt_without_round_trip") == 1, (name, before[i], after[i])
        assert delta(i, "rebuilt_with_round_trip") == 0 and delta(i, "fell_back_to_block") == 0, (name, after[i])
        assert n_empty(nodes[i]), name
    # A and B each pushed one sketch; nobody sent the block whole.
    assert delta(0, "sketches_sent") == 1 and delta(1, "sketches_sent") == 1, (after[0], after[1])
    assert sum(delta(i, "blocks_sent_whole") for i in range(3)) == 0, after
    sketch, whole = delta(0, "sketch_bytes_sent"), delta(0, "sketched_block_bytes")
    print(f"A's block of 30 transfers: {whole} bytes whole, {sketch} bytes as a sketch ({100 * sketch / whole:.1f}%)")
    assert sketch * 10 < whole, (sketch, whole)

    # Compact relay off: the block crosses whole and no sketch is sent or received.
    ctx.client(HOSTS[3], ports[3], 8, 0, 5, 500)
    wait_for(lambda: e.rpc("getmempoolinfo")["size"] == 5, 30, "the transfers on E")
    tip = d.rpc("generate", [1])[0]
    wait_for(lambda: e.rpc("getblockchaininfo")["tip"] == tip, 30, "D's block on E")
    assert cb(d)["sketches_sent"] == 0 and cb(e)["sketches_received"] == 0, (cb(d), cb(e))
    assert cb(d)["blocks_sent_whole"] >= 1, cb(d)
    for n in nodes:
        assert n.stop() == 0


def n_empty(n):
    return n.rpc("getmempoolinfo")["size"] == 0


if __name__ == "__main__":
    main(body)
