#!/usr/bin/env python3
"""Issue 13 — `peerchain-cli testnet record FILE` records a real local network in the simulation's
trace format, and the replay page opens it. A 3-node testnet: node0 mines 2 blocks, node2 is cut
off (each side removes its peer) and mines 3 while node0 mines 2 more; the link is restored and
node0 and node1 reorganise onto node2's heavier branch. The recording must hold: each block once,
by the node that mined it (its miner key), with its parent; the fork's tips; node0's reorg with
the depth the chain gives (2); the cut links while node2 was away; one tip at the end. Then
chromium loads the file in the replay page (opened from disk): at the end one tip, every block
drawn, and stepping to node0's reorg explains depth 2. Screenshot: test-output/web/record-*.png."""
import json
import os
import re
import signal
import subprocess
import urllib.request

from framework import cli_runner, free_port_run, main, wait_for
from web_view import CHROMIUM, Browser, npm_ci

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = "file://" + os.path.join(os.path.dirname(os.path.dirname(HERE)), "web", "replay.html")


def rpc(port, method, params=None):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        answer = json.load(r)
    assert answer.get("error") is None, answer
    return answer["result"]




def body(ctx):
    out_dir = os.path.join(os.path.dirname(ctx.bin), "test-output", "web")
    os.makedirs(out_dir, exist_ok=True)
    home = os.path.join(ctx.tmp, "home")
    os.makedirs(home)
    env = dict(os.environ, HOME=home)
    tdir = os.path.join(ctx.tmp, "tn")
    base = free_port_run(3)
    cli = cli_runner(ctx, env)

    trace = os.path.join(ctx.tmp, "testnet.jsonl")
    recorder = None
    started = False
    browser = None
    shots = []
    try:
        cli("testnet", "start", "--nodes", 3, "--dir", tdir, "--base-port", base)
        started = True
        miners = [rpc(base + k, "getmininginfo")["miner"] for k in range(3)]
        recorder = subprocess.Popen([ctx.path("peerchain-cli"), "testnet", "record", trace, "--dir", tdir, "--interval", "100"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

        def tips():
            return [rpc(base + k, "getblockchaininfo")["tip"] for k in range(3)]

        def peers(k):
            return rpc(base + k, "getblockchaininfo")["peers"]

        wait_for(lambda: all(peers(k) == 2 for k in range(3)), 30, "a full mesh")
        wait_for(lambda: os.path.exists(trace) and '"ev":"link"' in open(trace).read(), 30, "the recorder to see the links")
        rpc(base, "generate", [2])
        wait_for(lambda: len(set(tips())) == 1, 30, "every node at height 2")
        # node2 away: each side forgets the other.
        for k in (0, 1):
            rpc(base + k, "removepeer", [f"127.0.0.1:{base + 2}"])
            rpc(base + 2, "removepeer", [f"127.0.0.1:{base + k}"])
        wait_for(lambda: peers(2) == 0 and peers(0) == 1 and peers(1) == 1, 30, "node2 cut off")
        wait_for(lambda: open(trace).read().count('"kind":"cut"') >= 2, 30, "the recorder to see the cut links")
        rpc(base, "generate", [2])
        rpc(base + 2, "generate", [3])
        wait_for(lambda: rpc(base + 1, "getblockchaininfo")["height"] == 4, 30, "node1 following node0")
        fork_tips = tips()
        assert fork_tips[0] == fork_tips[1] != fork_tips[2], fork_tips

        def recorded_tips():
            with open(trace) as f:
                return {(e["node"], e["id"]) for e in map(json.loads, f) if e.get("ev") == "tip"}
        # The recorder polls: let it see the fork before it heals.
        wait_for(lambda: {(k, fork_tips[k]) for k in range(3)} <= recorded_tips(), 30, "the recorder to see the fork")
        for k in (0, 1):
            rpc(base + k, "addpeer", [f"127.0.0.1:{base + 2}"])
        wait_for(lambda: len(set(tips())) == 1 and rpc(base, "getblockchaininfo")["height"] == 5, 60, "one tip, node2's")
        final = tips()[0]
        def on_final():
            with open(trace) as f:
                seen = {json.loads(l)["node"] for l in f if '"ev":"tip"' in l and f'"id":"{final}"' in l}
            return seen == {0, 1, 2}
        wait_for(on_final, 30, "the recorder to see every node on the final tip")
        recorder.send_signal(signal.SIGINT)
        out, err = recorder.communicate(timeout=30)
        assert recorder.returncode == 0, (recorder.returncode, err)
        print(f"cli_testnet_record: {out.strip()}", flush=True)

        with open(trace) as f:
            lines = [json.loads(l) for l in f if l.strip()]
        head, ev = lines[0], lines[1:]
        assert head["format"] == "peerchain-sim-trace" and head["version"] == 1, head
        assert [e["miner"] for e in ev if e["ev"] == "node"] == miners
        found = [e for e in ev if e["ev"] == "block_found"]
        ids = [e["id"] for e in found]
        assert len(ids) == len(set(ids)) == 7, f"7 blocks each once, got {len(ids)} ({len(set(ids))} distinct)"
        # Each block by its miner, with its parent (from the node's own tree).
        tree = {b["id"]: b for b in rpc(base + 2, "getblocktree", [0, 100])["blocks"]}
        tree.update({b["id"]: b for b in rpc(base, "getblocktree", [0, 100])["blocks"]})
        for e in found:
            b = tree[e["id"]]
            assert e["parent"] == b["prev"] and e["height"] == b["height"], (e, b)
            assert miners[e["node"]] == b["miner"], (e, b)
        assert sorted(e["node"] for e in found) == [0, 0, 0, 0, 2, 2, 2], found
        reorg = [e for e in ev if e["ev"] == "tip" and e.get("reorg_depth")]
        assert {e["node"] for e in reorg} == {0, 1}, reorg
        assert all(e["reorg_depth"] == 2 and e["id"] in (final, tree[final]["prev"]) for e in reorg), reorg
        cuts = [e for e in ev if e["ev"] == "fault" and e["kind"] == "cut"]
        assert sorted((e["a"], e["b"]) for e in cuts) == [(0, 2), (1, 2)], cuts
        assert ev[-1]["ev"] == "end", ev[-1]

        # The replay page opens it.
        if not os.access(CHROMIUM, os.X_OK):
            raise AssertionError(f"{CHROMIUM} missing: run scripts/install-deps (Debian package chromium)")
        npm_ci()
        browser = Browser()
        browser.cmd("goto", url=REPLAY)
        browser.cmd("upload", selector="#replay-file", path=trace)
        browser.wait_fn("document.querySelector('#replay').dataset.loaded === 'true'", 30, "the recording loaded")
        assert browser.eval("document.querySelector('#banner').hidden")
        browser.eval(f"(() => {{ const s = document.querySelector('#replay-slider'); s.value = '{ev[-1]['t']}'; "
                     "s.dispatchEvent(new Event('input')); })()")
        assert browser.eval("document.querySelector('#replay').dataset.tips") == "1"
        drawn = browser.eval("[...document.querySelectorAll('#replay-tree g.block')].map((g) => g.dataset.id)")
        assert set(ids) <= set(drawn), (ids, drawn)
        links = browser.eval("document.querySelectorAll('#replay-net line[data-link]').length")
        assert links == 3, f"{links} links drawn, the testnet is a 3-node mesh"
        shots.append(browser.cmd("screenshot", path=os.path.join(out_dir, "record-1-end.png")))
        first = reorg[0]
        index = ev.index(first)
        browser.eval("(() => { const s = document.querySelector('#replay-slider'); s.value = '0'; s.dispatchEvent(new Event('input')); })()")
        for _ in range(len(ev)):
            if browser.eval("document.querySelector('#replay-explain').dataset.index") == str(index):
                break
            browser.cmd("click", selector="#replay-next")
        text = browser.eval("document.querySelector('#replay-explain').textContent")
        print(f"cli_testnet_record: {text}", flush=True)
        assert re.search(rf"node {first['node']} switched .*: 2 blocks replaced from height 3 \(reorg depth 2\)", text), text
        shots.append(browser.cmd("screenshot", path=os.path.join(out_dir, "record-2-reorg.png")))
        errors = browser.cmd("errors")
        assert not errors, errors
    finally:
        try:
            if browser:
                browser.close()
        finally:
            if recorder and recorder.poll() is None:
                recorder.kill()
                recorder.wait()
            if started:
                cli("testnet", "stop", "--dir", tdir, timeout=120)
            for p in shots:
                print(f"screenshot: {p}")


if __name__ == "__main__":
    main(body)
