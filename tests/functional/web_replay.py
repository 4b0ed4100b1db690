#!/usr/bin/env python3
"""Issue 13 — the replay page (web/replay.html) in a real browser: peerchain-sim records a run
with partitions and isolations; the page, opened from a file (no node, nothing from the network),
loads the trace through its file input. Scrubbed to just before a reorg, it shows the two
branches' tips with their miners' colours and the links the fault cuts; stepped to the reorg, its
plain-words explanation gives the trace's reorg_depth and the height the replaced blocks start
at; stepped on until every node agrees, one tip. A file that is not a trace gets a clear error.
The expected values come from reading the trace here, independently of the page. Screenshots go
to BUILD/test-output/web/replay-*.png. Uses Debian's chromium through tests/browser/web_view.mjs
(see web_view.py)."""
import json
import os
import re
import subprocess

from framework import free_port, main
from web_view import CHROMIUM, Browser, npm_ci

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = "file://" + os.path.join(os.path.dirname(os.path.dirname(HERE)), "web", "replay.html")
SEEDS = [7, 8, 9, 10, 11, 12]  # the first whose run has a two-branch fork ending in a reorg
STEP_KINDS = {"node_start", "node_start_failed", "node_fatal", "operator", "block_found", "tip",
              "fault", "fault_end", "heal", "violation", "end"}


def record(ctx, seed, faults="partition,isolate"):
    path = os.path.join(ctx.tmp, f"run-{seed}-{faults.replace(',', '-')}.jsonl")
    subprocess.run([ctx.path("peerchain-sim"), "--seed", str(seed), "--faults", faults,
                    "--fault-interval", "10", "--duration", "60", "--record", path],
                   check=True, timeout=300, stdout=subprocess.DEVNULL)
    with open(path) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    assert lines[0]["format"] == "peerchain-sim-trace", lines[0]
    events = lines[1:]
    for i, e in enumerate(events):  # numbered as the page numbers them
        e["index"] = i
    return path, events


class Model:
    """The trace's facts at an instant: each node's tip, the block tree, the link faults."""

    def __init__(self, events):
        self.events = events
        self.parent = {}
        self.finder = {}
        for e in events:
            if e["ev"] == "block_found":
                self.parent[e["id"]] = e["parent"]
                self.finder[e["id"]] = e["node"]
        self.nodes = sorted({e["node"] for e in events if e["ev"] == "node"})

    def at(self, upto):
        """State after events[0:upto]: ({node: (tip, height)}, {fault id: fault event})."""
        tips, faults = {}, {}
        for e in self.events[:upto]:
            if e["ev"] == "node_start":
                tips[e["node"]] = (e["tip"], e["height"])
            elif e["ev"] == "tip":
                tips[e["node"]] = (e["id"], e["height"])
            elif e["ev"] == "fault":
                faults[e["fault"]] = e
            elif e["ev"] == "fault_end":
                faults.pop(e["fault"], None)
            elif e["ev"] == "heal":
                faults.clear()
        return tips, faults

    def line(self, tip):
        out = set()
        while tip:
            out.add(tip)
            tip = self.parent.get(tip)
        return out

    def branch_ends(self, tips):
        ids = {t for t, _ in tips.values()}
        lines = {t: self.line(t) for t in ids}
        return {t for t in ids if not any(u != t and t in lines[u] for u in ids)}

    @staticmethod
    def cut_pairs(faults, nodes):
        cut = set()
        for f in faults.values():
            if f["kind"] not in ("partition", "isolate", "bridge"):
                continue
            side = {int(x) for x in str(f.get("side", "")).split(",") if x}
            for a in nodes:
                for b in nodes:
                    if a < b and (a in side) != (b in side) and f.get("bridge") not in (a, b):
                        cut.add(f"{a}-{b}")
        return cut


def pick(ctx):
    """The first seed's run with a reorg that ends a fork of exactly two branches."""
    for seed in SEEDS:
        path, events = record(ctx, seed)
        m = Model(events)
        for e in events:
            if e["ev"] == "tip" and e.get("reorg_depth", 0) >= 1:
                tips, _ = m.at(e["index"])
                if len(m.branch_ends(tips)) == 2 and e["node"] in tips:
                    return seed, path, events, m, e
        print(f"web_replay: seed {seed} has no two-branch fork ending in a reorg; next seed", flush=True)
    raise AssertionError(f"no seed of {SEEDS} gives a two-branch fork and a reorg")


def body(ctx):
    out_dir = os.path.join(os.path.dirname(ctx.bin), "test-output", "web")
    os.makedirs(out_dir, exist_ok=True)
    if not os.access(CHROMIUM, os.X_OK):
        raise AssertionError(f"{CHROMIUM} missing: run scripts/install-deps (Debian package chromium)")
    npm_ci()

    seed, path, events, m, reorg = pick(ctx)
    depth = reorg["reorg_depth"]
    print(f"web_replay: seed {seed}: node {reorg['node']} reorganises at t={reorg['t']} us, depth {depth}", flush=True)

    shots = []
    browser = Browser()
    try:
        # Not a trace: a clear error, the page still usable.
        junk = os.path.join(ctx.tmp, "junk.jsonl")
        with open(junk, "w") as f:
            f.write('{"hello": 1}\n')
        browser.cmd("goto", url=PAGE)
        browser.cmd("upload", selector="#replay-file", path=junk)
        browser.wait_fn("!document.querySelector('#banner').hidden", 10, "an error for a file that is not a trace")
        text = browser.eval("document.querySelector('#banner').textContent")
        assert "not a peerchain-sim trace" in text, text

        browser.cmd("upload", selector="#replay-file", path=path)
        browser.wait_fn("document.querySelector('#replay').dataset.loaded === 'true'", 20, "the trace loaded")
        assert browser.eval("document.querySelector('#banner').hidden"), browser.eval("document.querySelector('#banner').textContent")
        assert browser.eval("document.querySelector('#replay').dataset.end") == str(events[-1]["t"])
        # The timeline marks every block found and every reorg.
        found = sum(1 for e in events if e["ev"] == "block_found")
        reorgs = sum(1 for e in events if e["ev"] == "tip" and e.get("reorg_depth"))
        assert browser.eval("document.querySelectorAll('#replay-timeline .tl-block').length") == found
        assert browser.eval("document.querySelectorAll('#replay-timeline .tl-reorg').length") == reorgs
        txs = sum(1 for e in events if e["ev"] in ("tx_submitted", "tx_resent", "tx_invalid"))
        assert txs and browser.eval("document.querySelectorAll('#replay-timeline .tl-tx').length") == txs
        legend = browser.eval("Object.fromEntries([...document.querySelectorAll('#replay-legend li[data-node]')]"
                              ".filter((li) => li.dataset.node).map((li) => [li.dataset.node, li.dataset.color]))")
        assert len(legend) == len(m.nodes), legend
        assert len(set(legend.values())) == len(legend), f"two nodes share a colour: {legend}"

        # Scrub to just before the reorg: the fork, two tips on two branches.
        t_fork = reorg["t"] - 1
        upto = sum(1 for e in events if e["t"] <= t_fork)
        tips, faults = m.at(upto)
        ends = m.branch_ends(tips)
        assert len(ends) == 2, ends
        browser.eval(f"(() => {{ const s = document.querySelector('#replay-slider'); s.value = '{t_fork}'; "
                     "s.dispatchEvent(new Event('input')); })()")
        ds = browser.eval("({...document.querySelector('#replay').dataset})")
        assert ds["upto"] == str(upto), (ds, upto)
        shots.append(browser.cmd("screenshot", path=os.path.join(out_dir, "replay-1-fork.png")))
        assert ds["tips"] == str(len({t for t, _ in tips.values()})), (ds, tips)
        lanes = set()
        for tip in ends:
            g = browser.eval(f"(() => {{ const g = document.querySelector('#replay-tree g.block[data-id=\"{tip}\"]'); "
                             "return g ? {...g.dataset} : null; })()")
            assert g, f"tip {tip} not drawn"
            who = f"node {m.finder[tip]}"
            assert g["minedBy"] == who, (tip, g["minedBy"], who)
            assert g["fill"] == legend[who], (tip, g["fill"], legend[who])
            assert g["stale"] == "false", g
            flags = browser.eval(f"[...document.querySelectorAll('#replay-tree .flag[data-tip=\"{tip}\"]')].map((f) => f.dataset.nodeTip).sort()")
            assert flags == sorted(f"node {n}" for n, (t, _) in tips.items() if t == tip), (tip, flags)
            lanes.add(g["lane"])
        assert len(lanes) == 2, f"the two tips share a lane: {lanes}"
        cut = browser.eval("[...document.querySelectorAll('#replay-net [data-cut=\"both\"]')].map((l) => l.dataset.link).sort()")
        assert set(cut) == m.cut_pairs(faults, m.nodes), (cut, faults)

        # Step to the reorg: the explanation gives the trace's depth and where the replaced blocks start.
        prev_height = tips[reorg["node"]][1]
        for _ in range(len(events)):
            if browser.eval("document.querySelector('#replay-explain').dataset.index") == str(reorg["index"]):
                break
            browser.cmd("click", selector="#replay-next")
        else:
            raise AssertionError("stepping never reached the reorg")
        text = browser.eval("document.querySelector('#replay-explain').textContent")
        shots.append(browser.cmd("screenshot", path=os.path.join(out_dir, "replay-2-reorg.png")))
        print(f"web_replay: {text}", flush=True)
        got = re.search(r"node (\d+) switched from branch \w+ \(tip (\d+)\) to branch \w+ \(tip (\d+)\): (\d+) blocks? replaced "
                        r"from height (\d+) \(reorg depth (\d+)\), (\d+) connected after the fork at height (\d+)", text)
        assert got, f"no reorg explained: {text!r}"
        assert int(got.group(1)) == reorg["node"], text
        assert int(got.group(2)) == prev_height and int(got.group(3)) == reorg["height"], (text, prev_height)
        assert int(got.group(4)) == depth, f"explained depth {got.group(4)}, the trace says {depth}"
        assert int(got.group(5)) == prev_height - depth + 1, text
        assert int(got.group(6)) == depth and int(got.group(8)) == prev_height - depth, text
        assert int(got.group(7)) == reorg["height"] - (prev_height - depth), text

        # Step on until every node agrees (Python says when): one tip.
        steps = [e["index"] for e in events if e["ev"] in STEP_KINDS and e["index"] > reorg["index"]]
        agree = next((i for i in [reorg["index"]] + steps if len({t for t, _ in m.at(i + 1)[0].values()}) == 1), None)
        assert agree is not None, "the nodes never agree again"
        for _ in range(len(steps) + 1):
            if browser.eval("document.querySelector('#replay-explain').dataset.index") == str(agree):
                break
            browser.cmd("click", selector="#replay-next")
        ds = browser.eval("({...document.querySelector('#replay').dataset})")
        shots.append(browser.cmd("screenshot", path=os.path.join(out_dir, "replay-3-agree.png")))
        assert ds["tips"] == "1", ds
        stale = browser.eval("document.querySelectorAll('#replay-tree g.block.stale').length")
        assert stale >= depth, f"{stale} stale blocks drawn; the reorg replaced {depth}"

        # A link fault in plain words.
        fault = next(e for e in events if e["ev"] == "fault")
        side = sorted(int(x) for x in fault["side"].split(","))
        other = [n for n in m.nodes if n not in side]
        browser.eval(f"(() => {{ const s = document.querySelector('#replay-slider'); s.value = '{fault['t']}'; "
                     "s.dispatchEvent(new Event('input')); })()")
        while browser.eval("document.querySelector('#replay-explain').dataset.index") != str(fault["index"]):
            browser.cmd("click", selector="#replay-prev")
        text = browser.eval("document.querySelector('#replay-explain').textContent")
        want = f"{{{','.join(map(str, side))}}} | {{{','.join(map(str, other))}}}"
        assert want in text, (text, want)

        # Every link fault: the links it cuts drawn cut, and only those.
        for f in (e for e in events if e["ev"] == "fault"):
            upto = sum(1 for e in events if e["t"] <= f["t"])
            browser.eval(f"(() => {{ const s = document.querySelector('#replay-slider'); s.value = '{f['t']}'; "
                         "s.dispatchEvent(new Event('input')); })()")
            cut = browser.eval("[...document.querySelectorAll('#replay-net [data-cut=\"both\"]')].map((l) => l.dataset.link).sort()")
            want = m.cut_pairs(m.at(upto)[1], m.nodes)
            assert want and set(cut) == want, (f, cut, want)
            if f["kind"] == "partition":
                shots.append(browser.cmd("screenshot", path=os.path.join(out_dir, "replay-partition.png")))

        # Play runs the clock forwards.
        t0 = int(browser.eval("document.querySelector('#replay').dataset.t"))
        browser.cmd("click", selector="#replay-play")
        browser.wait_fn(f"Number(document.querySelector('#replay').dataset.t) > {t0}", 10, "the clock moving")
        browser.cmd("click", selector="#replay-play")

        # The heal, stepped backwards onto from the end.
        heal = [e for e in events if e["ev"] == "heal"]
        if heal:
            browser.eval(f"(() => {{ const s = document.querySelector('#replay-slider'); s.value = '{events[-1]['t']}'; "
                         "s.dispatchEvent(new Event('input')); })()")
            for _ in range(len(events)):
                if browser.eval("document.querySelector('#replay-explain').dataset.kind") == "heal":
                    break
                browser.cmd("click", selector="#replay-prev")
            assert "healed" in browser.eval("document.querySelector('#replay-explain').textContent")
            assert browser.eval("document.querySelector('#replay').dataset.faults") == "0"
            shots.append(browser.cmd("screenshot", path=os.path.join(out_dir, "replay-4-heal.png")))

        # Dropped on the page: a file that is not a trace is refused and the loaded run stays;
        # a trace with a garbled line and a truncated end loads, the bad lines counted.
        def drop(name, text):
            browser.eval(f"(() => {{ const dt = new DataTransfer(); dt.items.add(new File([{json.dumps(text)}], {json.dumps(name)})); "
                         "document.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true })); })()")
        drop("dropped.txt", "hello\n")
        browser.wait_fn("document.querySelector('#banner').textContent.includes('dropped.txt')", 10, "an error for a dropped non-trace")
        assert browser.eval("document.querySelector('#replay').dataset.end") == str(events[-1]["t"])
        with open(path) as f:
            raw = f.read().split("\n")
        cut = "\n".join(raw[:200] + ["{garbled"] + raw[200:400] + [raw[400][:17]])
        drop("cut.jsonl", cut)
        browser.wait_fn("document.querySelector('#replay > p').textContent.startsWith('cut.jsonl')", 10, "the dropped trace loaded")
        info = browser.eval("document.querySelector('#replay > p').textContent")
        assert "2 unreadable line(s) skipped" in info and "399 events" in info, info

        # Crashes, power cuts and pauses: the node greyed while down, up again after node_start.
        path2, events2 = record(ctx, 7, "crash,powercut,pause")
        browser.cmd("upload", selector="#replay-file", path=path2)
        browser.wait_fn(f"document.querySelector('#replay').dataset.end === '{events2[-1]['t']}'", 20, "the second trace loaded")
        seen = set()
        for f in (e for e in events2 if e["ev"] == "fault" and e["kind"] not in seen):
            seen.add(f["kind"])
            browser.eval(f"(() => {{ const s = document.querySelector('#replay-slider'); s.value = '{f['t']}'; "
                         "s.dispatchEvent(new Event('input')); })()")
            state = browser.eval(f"document.querySelector('#replay-net g[data-node=\"{f['node']}\"]').dataset.state")
            text = browser.eval("document.querySelector('#replay-log').textContent")
            want = {"crash": ("crashed", "crashed (kill -9)"), "powercut": ("crashed", "crashed (power cut"),
                    "pause": ("paused", "paused (SIGSTOP)")}[f["kind"]]
            assert state == want[0], (f, state)
            assert f"node {f['node']} {want[1]}" in text, (f, text)
            shots.append(browser.cmd("screenshot", path=os.path.join(out_dir, f"replay-{f['kind']}.png")))
            back = next((e for e in events2 if e["index"] > f["index"] and (
                (e["ev"] == "node_start" and e["node"] == f["node"]) or
                (e["ev"] in ("fault_end", "heal") and f["kind"] == "pause" and e.get("fault", f["fault"]) == f["fault"]))), None)
            if back:
                browser.eval(f"(() => {{ const s = document.querySelector('#replay-slider'); s.value = '{back['t']}'; "
                             "s.dispatchEvent(new Event('input')); })()")
                state = browser.eval(f"document.querySelector('#replay-net g[data-node=\"{f['node']}\"]').dataset.state")
                assert state == "up" or any(e["ev"] == "fault" and e.get("node") == f["node"] and e["t"] == back["t"] for e in events2), (f, back, state)
        assert seen, "the crash,powercut,pause run had no fault"

        errors = browser.cmd("errors")
        assert not errors, f"the page logged errors: {errors}"

        # Served by a node, under its Content-Security-Policy: the same page loads and plays.
        port = free_port()
        node = ctx.daemon("web", port, ["--network", "dev", "--no-discover"]).start()
        browser.cmd("goto", url=f"http://127.0.0.1:{port}/replay.html")
        browser.cmd("upload", selector="#replay-file", path=path)
        browser.wait_fn("document.querySelector('#replay').dataset.loaded === 'true'", 20, "the trace loaded from a node's page")
        for _ in range(5):
            browser.cmd("click", selector="#replay-next")
        assert browser.eval("document.querySelector('#replay-tree g.block') !== null")
        errors = browser.cmd("errors")
        assert not errors, f"the page served by a node logged errors (CSP?): {errors}"
        assert node.stop() == 0
    finally:
        try:
            browser.close()
        finally:
            for p in shots:
                print(f"screenshot: {p}")


if __name__ == "__main__":
    main(body)
