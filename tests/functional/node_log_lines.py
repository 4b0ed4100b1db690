#!/usr/bin/env python3
"""What a node says at info level (issue 14): one line per block taken from a peer (id, height,
transfers, which peer), one line per peer connect and per disconnect (not two), and a "synced"
line when a catch-up ends."""
import re

from framework import free_port, main, wait_for


def info_lines(node):
    with open(node.log_path, errors="replace") as f:
        return [line for line in f if "[info]" in line]


def body(ctx):
    pa, pb = free_port(), free_port()
    a = ctx.daemon("a", pa, ["--no-discover"])
    a.start()
    a.rpc("generate", [30])
    b = ctx.daemon("b", pb, ["--no-discover", "--peer", f"127.0.0.1:{pa}"])
    b.start()
    wait_for(lambda: b.rpc("getblockchaininfo")["height"] == 30, 60, "b to catch up")
    wait_for(lambda: any("synced: at height 30" in line for line in info_lines(b)), 10, "b's synced line")

    # Blocks made here are logged too, one line each (generate on a, the miner's own line otherwise).
    made = [line for line in info_lines(a) if re.search(r"generated block [0-9a-f]{64} height \d+ txs \d+", line)]
    assert len(made) == 30, len(made)

    lines = info_lines(b)
    blocks = [line for line in lines if re.search(r"block [0-9a-f]{64} height \d+ txs \d+ from peer \d+: accepted", line)]
    heights = sorted(int(re.search(r"height (\d+)", line).group(1)) for line in blocks)
    assert heights == list(range(1, 31)), heights  # one line per block, none twice
    connects = [line for line in lines if "connected" in line and "disconnected" not in line and "peer" in line]
    assert len(connects) == 1, connects

    assert a.stop() == 0
    wait_for(lambda: any("disconnected" in line for line in info_lines(b)), 20, "b to log the disconnect")
    disconnects = [line for line in info_lines(b) if "disconnected" in line]
    assert len(disconnects) == 1, disconnects
    assert b.stop() == 0


if __name__ == "__main__":
    main(body)
