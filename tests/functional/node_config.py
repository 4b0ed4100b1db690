#!/usr/bin/env python3
"""peerchaind init writes a commented TOML config and a node key (mode 0600); the node reads the
config, flags override it, and a broken config or bad flag is refused with a clear one-line
error (exit 2) instead of starting."""
import os
import stat
import subprocess

from framework import Node, free_port, main, wait_for


def run(ctx, *args):
    return subprocess.run([ctx.path("peerchaind"), *args], capture_output=True, text=True, timeout=30)


def body(ctx):
    home = os.path.join(ctx.tmp, "home")
    r = run(ctx, "init", "--home", home)
    assert r.returncode == 0, r.stderr
    cfg = os.path.join(home, "peerchain.toml")
    key = os.path.join(home, "node_key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    text = open(cfg).read()
    assert text.startswith("# peerchaind configuration") and 'network = "dev"' in text
    miner = next(line.split('"')[1] for line in text.splitlines() if line.startswith("miner = "))
    assert run(ctx, "init", "--home", home).returncode != 0  # never overwrites

    # The config decides port, listen address and mining; the miner address is the node key's.
    port = free_port()
    text = text.replace("port = 19333", f"port = {port}").replace('listen = "0.0.0.0"', 'listen = "127.0.0.1"')
    text = text.replace("mine = false", "mine = true\nhash_rate = 200000")
    open(cfg, "w").write(text)
    n = Node(ctx, "configured", [ctx.path("peerchaind"), "--home", home], port, cwd=ctx.tmp)
    ctx.nodes.append(n)
    n.start()
    wait_for(lambda: n.rpc("getblockchaininfo")["height"] >= 1, 60, "the configured node to mine")
    assert n.rpc("getblock", [1])["miner"] == miner
    assert n.stop() == 0

    # A flag overrides the file.
    port2 = free_port()
    n2 = Node(ctx, "override", [ctx.path("peerchaind"), "--home", home, "--port", str(port2)], port2, cwd=ctx.tmp)
    ctx.nodes.append(n2)
    n2.start()
    assert n2.rpc("getblockchaininfo")["network"] == "dev"
    assert n2.stop() == 0

    # Broken configs and flags: refused, one line, exit 2.
    for bad, why in (("port = \"x\"\n", "'port' must be"), ("colour = 1\n", "unknown setting"), ("[[[\n", "peerchain.toml:")):
        open(cfg, "w").write(bad)
        r = run(ctx, "--home", home)
        assert r.returncode == 2 and why in r.stderr and r.stderr.count("\n") == 1, (bad, r.returncode, r.stderr)
    os.remove(cfg)
    for args, why in ((["--network", "moon"], "unknown network"), (["--peer", "nohost"], "not HOST:PORT"),
                      (["--miner", "pcdev1xyz"], "miner address"), (["--log-level", "loud"], "log level")):
        r = run(ctx, "--home", home, *args)
        assert r.returncode == 2 and why in r.stderr, (args, r.returncode, r.stderr)
    # Flags the parser itself refuses (unknown, repeated, not a number) exit 2 as well.
    for args, why in ((["--colour"], "colour"), (["--port", "1", "--port", "2"], "--port"), (["--port", "x"], "--port")):
        r = run(ctx, "--home", home, *args)
        assert r.returncode == 2 and why in r.stderr, (args, r.returncode, r.stderr)


if __name__ == "__main__":
    main(body)
