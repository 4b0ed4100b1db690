#!/usr/bin/env python3
"""peerchain-cli fits people's habits (issue 14): an unknown command is named with the nearest
one suggested (exit 2), `help [COMMAND]` and `version` exist, usage errors exit 2 (`testnet start
--nodes 0` exited 1), `rpc METHOD [PARAMS...]` passes any JSON-RPC method through like
bitcoin-cli (JSON parameters or plain strings), `peer add|remove` and `tips` drive addpeer,
removepeer and getchaintips."""
import json
import os
import re
import subprocess

from framework import free_port, main, wait_for


def body(ctx):
    env = dict(os.environ, HOME=ctx.tmp)
    env.pop("PEERCHAIN_API_TOKEN", None)
    ports = [free_port(), free_port()]
    nodes = [ctx.daemon(f"n{k}", p, ["--no-discover"]) for k, p in enumerate(ports)]
    for n in nodes:
        n.start()

    def cli(*args, rc=0, node=0):
        r = subprocess.run([ctx.path("peerchain-cli"), "--node", f"127.0.0.1:{ports[node]}", *map(str, args)],
                           capture_output=True, text=True, timeout=60, env=env)
        assert r.returncode == rc, f"peerchain-cli {' '.join(map(str, args))}: exit {r.returncode}, want {rc}: {r.stderr}"
        return r

    r = cli("stauts", rc=2)
    assert "unknown command 'stauts' (did you mean 'status'?)" in r.stderr, r.stderr
    r = cli("--json", "frobnicate", rc=2)
    assert "unknown command 'frobnicate'" in r.stderr and "did you mean" not in r.stderr, r.stderr
    assert "Subcommands:" in cli("help").stdout
    assert "branch" in cli("help", "tips").stdout
    assert "Global options" in cli("send", "--help").stdout and "--timeout" in cli("help", "block").stdout
    # Every positional of every command says what it is.
    for cmd in (["key", "new"], ["key", "show"], ["key", "import"], ["key", "dev"], ["tx"], ["generate"], ["block"],
                ["account"], ["rpc"], ["peer", "add"]):
        text = cli(*cmd, "--help").stdout
        positionals = text.split("Positionals:")[1].split("\n\n")[0].strip().splitlines()
        assert positionals and all(len(line.split(None, 2)) == 3 for line in positionals), (cmd, positionals)
    assert cli("version").stdout.startswith("peerchain-cli ")
    r = cli("testnet", "start", "--nodes", 0, "--dir", os.path.join(ctx.tmp, "tn"), rc=2)
    assert "--nodes" in r.stderr, r.stderr

    # rpc: any method, parameters as JSON or strings.
    assert json.loads(cli("rpc", "generate", 3).stdout) and nodes[0].rpc("getblockchaininfo")["height"] == 3
    block = json.loads(cli("rpc", "getblock", 2).stdout)
    assert block["height"] == 2
    assert json.loads(cli("rpc", "getblock", block["id"]).stdout)["id"] == block["id"]  # a plain string
    assert json.loads(cli("rpc", "getblockhash", 2).stdout) == block["id"]
    # Output for people: ISO-8601 UTC times with their age, difficulty instead of raw bits,
    # "1 confirmation" (the --json output keeps the raw numbers).
    text = cli("block", 3).stdout
    assert re.search(r"time 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+ s ago\)", text), text
    assert re.search(r"difficulty [0-9.e+]+ ", text) and "1 confirmation " in text and "bits" not in text, text
    assert "3 confirmations" in cli("block", 1).stdout
    assert re.search(r"tip time +20\d\d-.*Z \(", cli("status").stdout)
    r = cli("rpc", "nosuchmethod", rc=1)
    assert "unknown method" in r.stderr, r.stderr

    # peer add / remove: node 0 connects to node 1 and follows its chain, then lets it go.
    out = cli("peer", "add", f"127.0.0.1:{ports[1]}").stdout
    assert out.strip() == f"added 127.0.0.1:{ports[1]}", out
    wait_for(lambda: len(nodes[0].rpc("getpeerinfo")) == 1, 30, "node 0 to connect to node 1")
    wait_for(lambda: nodes[1].rpc("getblockchaininfo")["height"] == 3, 30, "node 1 to sync")
    cli("peer", "remove", f"127.0.0.1:{ports[1]}")
    wait_for(lambda: len(nodes[0].rpc("getpeerinfo")) == 0, 30, "node 0 to drop node 1")
    cli("peer", "add", "nohost", rc=2)

    # tips: a fork made while apart shows two branches on the node that saw both.
    cli("generate", 2, node=1)
    cli("generate", 1)
    cli("peer", "add", f"127.0.0.1:{ports[1]}")
    wait_for(lambda: len(nodes[0].rpc("getchaintips")) >= 2, 30, "node 0 to learn node 1's branch")
    text = cli("tips").stdout
    assert text.splitlines()[0].split() == ["height", "tip", "branchlen", "status"], text
    assert "active" in text and len(text.splitlines()) >= 3, text
    # stop: the node shuts down cleanly (exit 0), the other keeps running.
    assert cli("stop", node=1).stdout.strip() == "peerchaind stopping"
    wait_for(lambda: nodes[1].proc.poll() is not None, 30, "node 1 to stop")
    assert nodes[1].proc.returncode == 0
    assert nodes[0].stop() == 0


if __name__ == "__main__":
    main(body)
