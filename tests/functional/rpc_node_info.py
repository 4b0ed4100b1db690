#!/usr/bin/env python3
"""The node's JSON-RPC fits people's habits (issue 14): help lists the methods, getblockcount,
getnetworkinfo (the version, git commit and build type --version prints; connections),
getmininginfo (difficulty, target, a hash-rate estimate, the block interval), a
peerchain_build_info metric, and the admin stop shuts the node down cleanly (exit 0)."""
import subprocess
import urllib.request

from framework import free_port, main, wait_for


def body(ctx):
    port = free_port()
    n = ctx.daemon("n0", port, [])
    n.start()
    methods = n.rpc("help")
    for m in ("getblockcount", "getnetworkinfo", "getmininginfo", "help", "stop", "getblockchaininfo"):
        assert m in methods, (m, methods)
    n.rpc("generate", [5])
    assert n.rpc("getblockcount") == 5

    version = subprocess.run([ctx.path("peerchaind"), "--version"], capture_output=True, text=True).stdout.split()
    info = n.rpc("getnetworkinfo")
    assert info["version"] == version[1] and f"(commit {info['git_commit']}," in " ".join(version), (info, version)
    assert info["connections"] == 0 and info["network"] == "dev" and info["port"] == port, info

    mining = n.rpc("getmininginfo")
    assert mining["height"] == 5 and mining["difficulty"] >= 1 and len(mining["target"]) == 64, mining
    assert mining["target_block_interval_ms"] == 1000 and mining["network_hash_rate"] > 0, mining
    assert mining["mining"] is False, mining

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        metrics = r.read().decode()
    line = next(l for l in metrics.splitlines() if l.startswith("peerchain_build_info{"))
    assert f'version="{info["version"]}"' in line and f'commit="{info["git_commit"]}"' in line and line.endswith(" 1"), line

    assert n.rpc("stop") == "peerchaind stopping"
    wait_for(lambda: n.proc.poll() is not None, 30, "the node to stop after the stop call")
    assert n.proc.returncode == 0, n.proc.returncode


if __name__ == "__main__":
    main(body)
