#!/usr/bin/env python3
"""Issue 7 — the web view in a real browser: Debian's chromium driven by playwright-core
(tests/browser/web_view.mjs) against three nodes on their own 127.0.0.x addresses. The page
loads; a transfer sent to a node appears live and turns confirmed; search and the block, tx and
account pages work; the network view shows one tip, then a fork while one node is cut off with
iptables and both sides mine, then the reorg after healing (one tip, the losing side's blocks
marked stale, a reorg logged). Assertions are on DOM state (data- attributes), not pixels;
screenshots are kept under BUILD/test-output/web/.

Runs `npm ci` in tests/browser when node_modules does not match package-lock.json.
Skipped (exit 77) without root/iptables, like p2p_partition_heal.py; every rule it adds is tagged
and removed, also on failure."""
import fcntl
import hashlib
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time

import bip340
import firewall
from framework import free_port, main, wait_for

ADDRS = ["127.0.0.21", "127.0.0.22", "127.0.0.23"]
TAG = f"peerchain-web-test-{os.getpid()}"
HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.join(os.path.dirname(HERE), "browser")
CHROMIUM = os.environ.get("PEERCHAIN_CHROMIUM", "/usr/bin/chromium")


# --- firewall (only between the test's 127.0.0.x addresses; tagged; always removed) ----------
def remove_rules():
    firewall.remove_rules(TAG)


def partition(side_a, side_b):
    firewall.partition(side_a, side_b, TAG)


# --- the browser -------------------------------------------------------------------------------
def npm_ci():
    """`npm ci` in tests/browser unless node_modules was installed from this very lockfile. The
    browser tests run in parallel (ctest -j): an exclusive lock on the lockfile makes one of them
    install while the others wait, instead of several `npm ci` runs emptying node_modules under
    each other (ENOTEMPTY, then "Cannot find module" in CI)."""
    lock = os.path.join(BROWSER_DIR, "package-lock.json")
    with open(lock, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when f closes
        npm_ci_locked(hashlib.sha256(f.read()).hexdigest())


def npm_ci_locked(want):
    stamp = os.path.join(BROWSER_DIR, "node_modules", ".peerchain-lock-sha256")
    try:
        with open(stamp) as f:
            if f.read().strip() == want and os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
                return
    except OSError:
        pass
    npm = shutil.which("npm")
    if not npm:
        raise AssertionError("npm not found: run scripts/install-deps")
    print("web_view: npm ci in tests/browser", flush=True)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR, check=True, timeout=300)
    with open(stamp, "w") as f:
        f.write(want + "\n")


class Browser:
    """tests/browser/web_view.mjs: one JSON command per line, one JSON answer per line."""

    def __init__(self):
        node = shutil.which("node")
        if not node:
            raise AssertionError("node not found: run scripts/install-deps")
        self.proc = subprocess.Popen([node, os.path.join(BROWSER_DIR, "web_view.mjs"), "--executable", CHROMIUM],
                                     cwd=BROWSER_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        hello = self._answer(90)
        print(f"web_view: chromium {hello.get('version')}", flush=True)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _answer(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"browser driver silent for {timeout}s")
        if line is None:
            raise AssertionError(f"browser driver exited ({self.proc.wait()})")
        a = json.loads(line)
        if not a.get("ok"):
            raise AssertionError(f"browser: {a.get('error')}")
        return a

    def cmd(self, cmd, timeout=120, **kw):
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        return self._answer(timeout).get("value")

    def wait(self, selector, timeout_s=30, what=None):
        try:
            self.cmd("wait", selector=selector, timeout_ms=int(timeout_s * 1000), timeout=timeout_s + 30)
        except AssertionError as e:
            raise AssertionError(f"page never showed {what or selector}: {e}")

    def wait_fn(self, expr, timeout_s=30, what=None):
        try:
            self.cmd("wait_fn", expr=expr, timeout_ms=int(timeout_s * 1000), timeout=timeout_s + 30)
        except AssertionError as e:
            raise AssertionError(f"page never showed {what or expr}: {e}")

    def eval(self, expr):
        return self.cmd("eval", expr=expr)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.cmd("close", timeout=30)
            except Exception:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def body(ctx):
    out_dir = os.path.join(os.path.dirname(ctx.bin), "test-output", "web")
    os.makedirs(out_dir, exist_ok=True)
    shots = []
    if not os.access(CHROMIUM, os.X_OK):
        raise AssertionError(f"{CHROMIUM} missing: run scripts/install-deps (Debian package chromium)")
    npm_ci()

    port = free_port()
    nodes = []
    # Each node its own miner (dev accounts 10..12) and label, like `peerchain-cli testnet`.
    miners = [bip340.address(bip340.pubkey(bip340.dev_secret(10 + i))) for i in range(len(ADDRS))]
    for i, addr in enumerate(ADDRS):
        peers = []
        for j, other in enumerate(ADDRS):
            if j != i:
                peers += ["--peer", f"{other}:{port}"]
        os.makedirs(os.path.join(ctx.tmp, f"n{i}"), exist_ok=True)
        with open(os.path.join(ctx.tmp, f"n{i}", "label"), "w") as f:
            f.write(f"node{i}\n")
        nodes.append(ctx.daemon(f"n{i}", port, ["--network", "dev", "--no-discover", "--miner", miners[i]] + peers,
                                host=addr).start())
    names = [f"{a}:{port}" for a in ADDRS]
    for n in nodes:
        wait_for(lambda n=n: len(n.rpc("getpeerinfo")) >= 2, 30, f"{n.name} to see 2 peers")
    nodes[0].rpc("generate", [3])
    wait_for(lambda: len({n.rpc("getblockchaininfo")["tip"] for n in nodes}) == 1, 30, "one tip to start")

    browser = Browser()

    def shot(name):
        path = os.path.join(out_dir, name)
        browser.cmd("screenshot", path=path)
        shots.append(path)

    home = f"http://{names[0]}/"
    try:
        # --- the page loads, with the node's state in the header and the latest blocks listed
        browser.cmd("goto", url=home + "#/")
        browser.wait('#top[data-height="3"]', what="height 3 in the header")
        browser.wait('#top[data-ws="open"]', what="the live stream connected")
        browser.wait('#blocks li[data-height="3"]', what="block 3 in the latest blocks")

        # --- a transfer sent to another node appears live, then confirmed
        s3, k4 = bip340.dev_secret(3), bip340.pubkey(bip340.dev_secret(4))
        txid = nodes[1].rpc("sendtransaction", [bip340.transfer(s3, k4, 777, 1, 0).hex()])
        browser.wait(f'#txs li[data-tx-id="{txid}"][data-status="pending"]', what="the transfer, pending")
        browser.wait(f'#mempool li[data-tx-id="{txid}"]', what="the transfer in the mempool")
        shot("01-transfer-pending.png")
        block4 = nodes[1].rpc("generate", [1])[0]
        browser.wait(f'#txs li[data-tx-id="{txid}"][data-status="confirmed"]', what="the transfer, confirmed")
        browser.wait(f'#blocks li[data-block-id="{block4}"]', what="the block holding it")
        browser.wait_fn(f"!document.querySelector('#mempool li[data-tx-id=\"{txid}\"]')", what="the mempool emptied")
        shot("02-overview.png")

        # --- search: by tx id, height, block id and address; the pages show what the node says
        browser.cmd("search", q=txid)
        browser.wait(f'#tx[data-tx-id="{txid}"][data-status="confirmed"]', what="the transaction page")
        browser.cmd("search", q="4")
        browser.wait(f'#block[data-block-id="{block4}"][data-active="true"]', what="block 4's page")
        browser.wait(f'#view table.txs tr[data-tx-id="{txid}"]', what="the transfer on block 4's page")
        browser.cmd("search", q=block4)
        browser.wait(f'#block[data-block-id="{block4}"]', what="block 4 found by id")
        addr4 = bip340.address(k4)
        browser.cmd("search", q=addr4)
        browser.wait(f'#account[data-address="{addr4}"]', what="the account page")
        bal = nodes[0].rpc("getaccount", [addr4])["balance"]
        assert browser.eval("document.querySelector('#account').dataset.balance") == str(bal)
        # --- the account page lists the account's transfers, received and sent
        browser.wait(f'#transfers tr[data-tx-id="{txid}"][data-direction="received"][data-status="confirmed"]',
                     what="the received transfer on the recipient's page")
        browser.cmd("goto", url=home + "#/account/" + bip340.address(bip340.pubkey(s3)))
        browser.wait(f'#transfers tr[data-tx-id="{txid}"][data-direction="sent"]', what="the sent transfer on the sender's page")
        shot("02b-account-transfers.png")
        browser.cmd("search", q="not-a-thing")
        browser.wait_fn("!document.querySelector('#banner').hidden", what="a clear message for a bad search")
        browser.cmd("goto", url=home + "?nodes=bad_entry,x#/network")
        browser.wait("#view p.error", what="the bad ?nodes= entries reported")

        # --- the network view of the three nodes: one tip
        net = home + "?nodes=" + ",".join(names) + "#/network"
        browser.cmd("goto", url=net)
        browser.wait('#network-view[data-reachable="3"][data-tips="1"][data-max-height="4"]', what="3 nodes on one tip")
        for name in names:
            browser.wait(f'#network-view g.flag[data-node-tip="{name}"][data-tip="{block4}"]', what=f"{name}'s flag on the tip")
        # Legend: each node's colour, label and miner (from its getnetworkinfo/getmininginfo);
        # blocks filled in the colour of the node that mined them.
        colors = {}
        for i, name in enumerate(names):
            browser.wait(f'#network-legend li[data-node="{name}"][data-label="node{i}"][data-miner="{miners[i]}"]',
                         what=f"node{i} in the legend")
            colors[name] = browser.eval(f"document.querySelector('#network-legend li[data-node=\"{name}\"]').dataset.color")
        assert len(set(colors.values())) == 3, colors
        assert browser.eval("!!document.querySelector('#network-legend li[data-node=\"\"]')"), "no legend entry for other miners"
        for bid, who in [(nodes[0].rpc("getblockhash", [h]), names[0]) for h in (1, 2, 3)] + [(block4, names[1])]:
            browser.wait(f'#network-view g.block[data-id="{bid}"][data-mined-by="{who}"][data-fill="{colors[who]}"]',
                         what=f"block {bid[:12]} coloured as mined by {who}")
        fill = browser.eval(f"getComputedStyle(document.querySelector('g.block[data-id=\"{block4}\"] rect')).fill")
        assert fill not in ("rgb(255, 255, 255)", "#fff", "none"), f"block 4 is not filled in its miner's colour: {fill}"
        # Charts of block interval, difficulty, hash rate and mempool size, filling over time.
        for chart in ("interval", "difficulty", "hashrate", "mempool"):
            browser.wait_fn(f"Number((document.querySelector('#network-charts svg[data-chart=\"{chart}\"]') || {{dataset: {{}}}}).dataset.points) >= 2",
                            what=f"the {chart} chart with points")
        shot("03-network-one-tip.png")

        # --- partition: n2 cut off; both sides mine; the view shows the fork
        try:
            partition(ADDRS[:2], ADDRS[2:])
            wait_for(lambda: len(nodes[2].rpc("getpeerinfo")) == 0 and
                     all(names[2] not in [p["api_address"] for p in n.rpc("getpeerinfo")] for n in nodes[:2]),
                     60, "n2 to lose its peers")
            # n0-n1 must still be linked (seen dropping once while both redial n2; they redial).
            wait_for(lambda: names[1] in [p["api_address"] for p in nodes[0].rpc("getpeerinfo")], 90, "n0 and n1 linked")
            lost = nodes[2].rpc("generate", [2])
            won = nodes[0].rpc("generate", [4])
            wait_for(lambda: nodes[1].rpc("getblockchaininfo")["tip"] == won[-1], 90, "n1 to follow n0")
            assert nodes[2].rpc("getblockchaininfo")["tip"] == lost[-1]
            browser.wait('#network-view[data-tips="2"]', 60, what="two tips during the partition")
            browser.wait(f'#network-view g.flag[data-node-tip="{names[2]}"][data-tip="{lost[-1]}"]', what="n2's flag on its own branch")
            browser.wait(f'#network-view g.flag[data-node-tip="{names[0]}"][data-tip="{won[-1]}"]', what="n0's flag on the other branch")
            lanes = {browser.eval(f"document.querySelector('g.block[data-id=\"{i}\"]').dataset.lane") for i in (lost[-1], won[-1])}
            assert len(lanes) == 2, f"the two branches share a lane: {lanes}"
            followers = browser.eval(f"document.querySelector('g.block[data-id=\"{lost[0]}\"]').dataset.followers")
            assert followers == names[2], followers
            browser.wait('#network-view[data-fork-height="4"] g.forkmark[data-fork-height="4"]', what="the fork point marked")
            shot("04-network-fork.png")
            # The chain grows past the window (24 heights): the fork point stays in view.
            won += nodes[0].rpc("generate", [30])
            wait_for(lambda: nodes[1].rpc("getblockchaininfo")["tip"] == won[-1], 90, "n1 to follow n0's 30 blocks")
            browser.wait(f'#network-view[data-max-height="{4 + 4 + 30}"][data-fork-height="4"]', 60, what="the grown chain, fork still at 4")
            browser.wait(f'#network-view g.block[data-id="{block4}"]', what="the fork block still drawn")
            inside = browser.eval("""(() => { const t = document.querySelector('#network-view .tree');
                const m = t.querySelector('g.forkmark line'); const r = m.getBoundingClientRect(), v = t.getBoundingClientRect();
                return r.left >= v.left && r.right <= v.right; })()""")
            assert inside, "the fork point scrolled out of the drawing's viewport"
            shot("04b-network-fork-in-view.png")
        finally:
            remove_rules()

        # --- heal: n2 reorganises onto the heavier branch; its blocks are shown stale
        healed = time.monotonic()
        wait_for(lambda: all(n.rpc("getblockchaininfo")["tip"] == won[-1] for n in nodes), 90, "every node on the heavier tip")
        print(f"web_view: converged {time.monotonic() - healed:.1f}s after healing", flush=True)
        browser.wait(f'#network-view[data-tips="1"][data-reachable="3"]', what="one tip after healing")
        for bid in lost:
            browser.wait(f'#network-view g.block.stale[data-id="{bid}"][data-stale="true"]', what=f"stale block {bid[:12]}")
        # The reorg log names the node, the depth and the fork height: the node's own numbers
        # (its log line: disconnected N), not a recount.
        with open(nodes[2].log_path, errors="replace") as f:
            depth = int(re.findall(r"reorg: disconnected (\d+) connected", f.read())[-1])
        assert depth == 2, depth
        browser.wait(f'#network-log li[data-kind="reorg"][data-node="{names[2]}"][data-source="event"][data-depth="{depth}"][data-fork-height="4"]',
                     what="n2's reorg in the network log with its depth and fork height")
        log = browser.eval("[...document.querySelectorAll('#network-log li[data-kind=reorg]')].map(e => e.textContent).join('\\n')")
        assert names[2] in log and "node2" in log and f"depth {depth}" in log and "fork at height 4" in log, log
        shot("05-network-reorg.png")
        # A block paying an address no shown node mines to: the neutral colour.
        other = nodes[0].rpc("generate", [1, bip340.address(bip340.pubkey(bip340.dev_secret(20)))])[0]
        browser.wait(f'#network-view g.block[data-id="{other}"][data-mined-by=""][data-fill="#b8bec4"]', 60,
                     what="a block of an unknown miner in the neutral colour")

        # --- the reorg on n2's own overview: its branch's blocks listed as stale
        browser.cmd("goto", url=f"http://{names[2]}/#/block/{lost[-1]}")
        browser.wait(f'#block[data-block-id="{lost[-1]}"][data-active="false"]', what="an orphaned block's page")
        shot("06-stale-block.png")

        errors = browser.cmd("errors")
        # A node cut off by the partition makes fetches fail; nothing else may log an error.
        real = [e for e in errors if "Failed to load resource" not in e and "net::ERR" not in e]
        assert not real, f"the page logged errors: {real}"
    finally:
        try:
            browser.close()
        finally:
            for p in shots:
                print(f"screenshot: {p}")
    for n in nodes:
        assert n.stop() == 0


if __name__ == "__main__":
    firewall.run_or_skip("web_view", TAG, lambda: main(body))
