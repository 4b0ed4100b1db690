#!/usr/bin/env python3
"""peerchain-cli testnet: start 3 nodes, `status` shows all three on one tip after generate,
`stop` leaves no process and removes the record. Each node has its own miner key (kept in
nodeK/miner_key) and label (nodeK, reported by getnetworkinfo), and blocks each node generates
carry its miner in getblocktree (issue 13: the web view colours blocks by who mined them)."""
import json
import os
import signal
import time
import urllib.request

from framework import cli_runner, free_port_run, main, wait_for


def rpc(port, method, params=None):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        answer = json.load(r)
    assert "error" not in answer or answer["error"] is None, answer
    return answer["result"]


def alive(pid):
    """True while `pid` runs (a zombie waiting for its reaper counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def body(ctx):
    home = os.path.join(ctx.tmp, "home")
    os.makedirs(home)
    env = dict(os.environ, HOME=home)
    tdir = os.path.join(ctx.tmp, "tn")
    base = free_port_run(3)
    cli = cli_runner(ctx, env)

    pids = []
    try:
        out = cli("testnet", "start", "--nodes", 3, "--dir", tdir, "--base-port", base).stdout
        record = json.load(open(os.path.join(tdir, "testnet.json")))
        pids = [n["pid"] for n in record["nodes"]]
        assert len(pids) == 3 and all(alive(p) for p in pids), record
        for k in range(3):
            assert f"node{k}" in out and str(base + k) in out, out
            assert os.path.exists(os.path.join(tdir, f"node{k}.log"))
        # A second start over a running testnet is refused.
        r = cli("testnet", "start", "--nodes", 3, "--dir", tdir, "--base-port", base, rc=1)
        assert r.stderr.startswith("error: ") and "already running" in r.stderr, r.stderr

        def heights():
            rows = json.loads(cli("--json", "testnet", "status", "--dir", tdir).stdout)
            return [r.get("height", -1) for r in rows]

        # Mine on node0, let the others follow, then mine on node1 (no equal-work fork to settle).
        cli("--node", f"127.0.0.1:{base}", "generate", 3)
        wait_for(lambda: min(heights()) >= 3, 30, "all nodes at height >= 3")
        cli("--node", f"127.0.0.1:{base + 1}", "generate", 2)

        last = []

        def agreed():
            rows = json.loads(cli("--json", "testnet", "status", "--dir", tdir).stdout)
            last[:] = [rows]
            tips = {r.get("tip") for r in rows}
            return (len(rows) == 3 and all(r["up"] for r in rows) and len(tips) == 1 and
                    all(r["height"] >= 5 for r in rows) and all(r["peers"] >= 2 for r in rows))
        try:
            wait_for(agreed, 45, "three nodes on one tip at height >= 5 with two peers each")
        except AssertionError:
            print("last status:", last)
            for k in range(3):
                print(f"---- node{k}.log");
                print("".join(open(os.path.join(tdir, f"node{k}.log")).readlines()[-15:]))
            raise
        human = cli("testnet", "status", "--dir", tdir).stdout
        assert "3 of 3 up; one tip" in human, human

        # Each node: its own miner key and label, in the record, the start output and its RPC.
        miners = [rpc(base + k, "getmininginfo")["miner"] for k in range(3)]
        assert all(miners) and len(set(miners)) == 3, f"the nodes share a miner key: {miners}"
        assert [rpc(base + k, "getnetworkinfo")["label"] for k in range(3)] == ["node0", "node1", "node2"]
        record = json.load(open(os.path.join(tdir, "testnet.json")))
        assert [n["miner"] for n in record["nodes"]] == miners, record
        for k in range(3):
            assert miners[k] in out, out
            assert os.stat(os.path.join(tdir, f"node{k}", "miner_key")).st_mode & 0o077 == 0
        assert "?nodes=" in out and "#/network" in out, out
        # Blocks carry who made them: node0's three, node1's two.
        tree = rpc(base + 2, "getblocktree", [1, 100])["blocks"]
        by_height = {b["height"]: b["miner"] for b in tree if b["in_active_chain"]}
        assert [by_height[h] for h in (1, 2, 3)] == [miners[0]] * 3, by_height
        assert [by_height[h] for h in (4, 5)] == [miners[1]] * 2, by_height

        # A stopped node (SIGSTOP: the kernel still accepts its connections) is "not answering",
        # within the calls' timeout instead of hanging the CLI; status exits 1.
        os.kill(pids[1], signal.SIGSTOP)
        try:
            started = time.monotonic()
            r = cli("--node", f"127.0.0.1:{base + 1}", "--timeout", 2, "status", rc=1, timeout=30)
            assert "did not answer within 2000 ms" in r.stderr, r.stderr
            human = cli("testnet", "status", "--dir", tdir, rc=1, timeout=30).stdout
            assert "NOT ANSWERING" in human and "2 of 3 up" in human, human
            assert time.monotonic() - started < 20, time.monotonic() - started
        finally:
            os.kill(pids[1], signal.SIGCONT)

        # A node killed from outside shows as down, and status exits 1.
        os.kill(pids[2], 9)
        wait_for(lambda: not alive(pids[2]), 10, "node2 to die")
        human = cli("testnet", "status", "--dir", tdir, rc=1).stdout
        assert "DOWN" in human and "2 of 3 up" in human, human

        cli("testnet", "stop", "--dir", tdir, timeout=60)
        assert not any(alive(p) for p in pids), [p for p in pids if alive(p)]
        assert not os.path.exists(os.path.join(tdir, "testnet.json"))
        r = cli("testnet", "status", "--dir", tdir, rc=1)
        assert r.stderr.startswith("error: no testnet"), r.stderr
    finally:
        # Also any node of this test's directory that a failed start left behind.
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        if (tdir + "/node").encode() in f.read():
                            pids.append(int(entry))
                except OSError:
                    pass
        for p in pids:
            if alive(p):
                try:
                    os.kill(p, 9)
                except OSError:
                    pass




if __name__ == "__main__":
    main(body)
