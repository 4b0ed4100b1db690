#!/usr/bin/env python3
"""The chaos test (issue 5): N peerchaind nodes (default 5, each on its own 127.0.0.2x), a client
workload of signed transfers sent to random nodes, and a nemesis applying a seeded random
schedule of faults: kill -9 + restart, SIGSTOP/SIGCONT, partitions made with iptables between
the nodes' addresses (halves, one isolated, a bridge node, a majority ring) and clock offsets
(the node's clock seam, `setclockoffset`, within and beyond the 2-minute future-block limit).
After the faults heal it checks the invariants below and exits non-zero on any violation,
printing the command that reproduces the run.

The promise checked (also in docs/testing.md):
  * convergence: after the heal every node reaches one tip within --converge-bound seconds;
  * no acknowledged transfer is lost: an ack means "in this node's mempool". The client is a
    wallet: it keeps the signed bytes of every acknowledged, unconfirmed transfer and sends
    them again (same bytes, so never a conflicting nonce) when a node tells it of a gap
    (nonce-too-high) or when it cannot reach a node, and once more after the heal. Every
    acknowledged transfer must then be in the final chain. Before that final resend, an
    acknowledged transfer may be missing from every chain and mempool only if a node was
    killed with SIGKILL after the ack (a mempool lives in memory); one missing without such a
    kill is a violation;
  * a transfer the client was told was rejected (with its reason) is never in the chain;
  * no transaction id appears twice in the chain;
  * balances: the dev accounts (the only ones used; miners pay dev account 0) sum to the
    genesis allocations plus the subsidies of the active chain's blocks, on every node;
  * every node's chain re-validates from genesis (`peerchain-ledger verify` on its stopped data
    directory) and ends on the common tip;
  * no node died except by the nemesis, and every node stops cleanly (exit 0) at the end.

Every iptables rule it adds carries the comment peerchain-chaos-PID and is removed on every
exit path (finally, atexit, SIGINT/SIGTERM). Exit 77: iptables unusable (not root) and
--no-partitions not given.

    python3 tests/chaos/chaos.py --seed 7 --duration 120 build/bin      # the CI run
    python3 tests/chaos/chaos.py --seed 42 --duration 1800 build/bin    # a long one
"""
import argparse
import atexit
import heapq
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "functional"))
import bip340  # noqa: E402
import fastsign  # noqa: E402
import firewall  # noqa: E402
from firewall import can_use_iptables, iptables  # noqa: E402
from framework import Context, RpcError, wait_for  # noqa: E402

TAG = f"peerchain-chaos-{os.getpid()}"
DEV_ACCOUNTS = 100
DEV_FUNDS = 10**13
SUBSIDY = 50 * 100_000_000  # dev: 50 coins, halving every 1,000,000 blocks
MAX_FUTURE_MS = 120_000
FEE = 1


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------- firewall
_iptables_used = False


def remove_rules():
    if not _iptables_used:
        return
    out = iptables("-S", "INPUT", check=False).stdout
    for line in out.splitlines():
        if TAG in line and line.startswith("-A "):
            iptables("-D", *line.split()[1:], check=False)


def remove_stale_rules():
    """Rules left by an earlier run that was killed with SIGKILL (no cleanup possible): their
    tag names a process that no longer exists."""
    out = iptables("-S", "INPUT", check=False).stdout
    for line in out.splitlines():
        if "peerchain-chaos-" not in line or not line.startswith("-A "):
            continue
        pid = line.split("peerchain-chaos-")[1].split()[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            iptables("-D", *line.split()[1:], check=False)
            log(f"removed a stale rule of dead run {pid}")


def block_pair(a, b):
    global _iptables_used
    _iptables_used = True
    firewall.cut(a, b, TAG)


# ---------------------------------------------------------------------------- the cluster
class Cluster:
    def __init__(self, args, ctx):
        self.args, self.ctx = args, ctx
        self.addrs = [f"127.0.0.{21 + i}" for i in range(args.nodes)]
        self.port = self.pick_port()
        self.lock = threading.RLock()
        self.state = ["up"] * args.nodes        # up | killed | paused
        self.offset = [0] * args.nodes          # clock offset ms
        self.expected_exit = [False] * args.nodes
        self.unexpected_deaths = []
        self.kills = []                         # (time, node) of every SIGKILL
        self.nodes = []
        for i, addr in enumerate(self.addrs):
            n = ctx.daemon(f"n{i}", self.port, self.node_args(i, mine=True), host=addr)
            self.nodes.append(n)

    def pick_port(self):
        for _ in range(200):
            port = random.randint(20000, 32000)
            ok = True
            for a in self.addrs:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    try:
                        s.bind((a, port))
                    except OSError:
                        ok = False
                        break
            if ok:
                return port
        raise RuntimeError("no free port on every node address")

    def node_args(self, i, mine):
        a = ["--network", "dev", "--no-discover", "--log-level", "info"]
        if mine:
            a += ["--mine", "--hash-rate", str(self.args.hash_rate)]
        for j, other in enumerate(self.addrs):
            if j != i:
                a += ["--peer", f"{other}:{self.port}"]
        return a

    def set_cmd(self, i, mine=True):
        n = self.nodes[i]
        home = os.path.join(self.ctx.tmp, n.name)
        n.cmd = [self.ctx.path("peerchaind"), "--home", home, "--listen", n.host, "--port", str(self.port)] + \
            self.node_args(i, mine)
        if self.offset[i]:
            n.cmd += ["--clock-offset-ms", str(self.offset[i])]

    def start_all(self):
        for i in range(len(self.nodes)):
            self.set_cmd(i)
            self.nodes[i].start(wait=False)
        for n in self.nodes:
            wait_for(lambda n=n: n.rpc("getblockchaininfo", timeout=5) is not None, 60, f"{n.name} to answer RPC")

    def live(self):
        with self.lock:
            return [i for i, s in enumerate(self.state) if s == "up"]

    def check_deaths(self):
        """A node not killed by the nemesis must be running."""
        with self.lock:
            for i, n in enumerate(self.nodes):
                if self.state[i] != "killed" and not self.expected_exit[i] and n.proc and n.proc.poll() is not None:
                    self.unexpected_deaths.append((time.monotonic(), n.name, n.proc.returncode))
                    log(f"VIOLATION: {n.name} died by itself (exit {n.proc.returncode})")
                    self.state[i] = "killed"  # restarted at the heal; recorded as a violation

    # nemesis actions -------------------------------------------------------
    def kill(self, i):
        with self.lock:
            if self.state[i] != "up" and self.state[i] != "paused":
                return False
            self.expected_exit[i] = True
            n = self.nodes[i]
            n.proc.send_signal(signal.SIGKILL)
            n.proc.wait()
            self.state[i] = "killed"
            self.kills.append(time.monotonic())
            self.expected_exit[i] = False
            return True

    def restart(self, i):
        with self.lock:
            if self.state[i] != "killed":
                return False
            self.set_cmd(i)
            self.nodes[i].start(wait=False)
            self.state[i] = "up"
            return True

    def pause(self, i):
        with self.lock:
            if self.state[i] != "up":
                return False
            self.nodes[i].proc.send_signal(signal.SIGSTOP)
            self.state[i] = "paused"
            return True

    def resume(self, i):
        with self.lock:
            if self.state[i] != "paused":
                return False
            self.nodes[i].proc.send_signal(signal.SIGCONT)
            self.state[i] = "up"
            return True

    def set_offset(self, i, ms):
        with self.lock:
            self.offset[i] = ms  # also given to a restart as --clock-offset-ms
            if self.state[i] != "up":
                return True
        try:
            self.nodes[i].rpc("setclockoffset", [ms], timeout=5)
        except Exception as e:  # the node may be starting; its restart flag carries the offset
            log(f"setclockoffset on n{i}: {e}")
        return True


# ---------------------------------------------------------------------------- the nemesis
def partition_pairs(kind, n, rng):
    idx = list(range(n))
    rng.shuffle(idx)
    if kind == "halves":
        a, b = idx[:n // 2], idx[n // 2:]
        return [(x, y) for x in a for y in b], f"{sorted(a)} | {sorted(b)}"
    if kind == "isolate":
        return [(idx[0], y) for y in idx[1:]], f"[{idx[0]}] alone"
    if kind == "bridge":
        bridge, rest = idx[0], idx[1:]
        a, b = rest[:len(rest) // 2], rest[len(rest) // 2:]
        return [(x, y) for x in a for y in b], f"{sorted(a)} | {sorted(b)} bridged by {bridge}"
    # majority ring: each node reaches only its two ring neighbours (for 5 nodes, a majority).
    pairs = []
    for i in range(n):
        for j in range(i + 1, n):
            d = abs(idx.index(i) - idx.index(j))
            if min(d, n - d) > 1:
                pairs.append((i, j))
    return pairs, f"ring {idx}"


def make_schedule(rng, n, duration, kinds):
    """[(start_s, end_s, kind, detail)] — at most one partition at a time, at most two faults
    active at once, one fault per node at a time; faults still running at `duration` are ended
    by the heal (so convergence is measured from a real fault state)."""
    sched, t = [], 3.0
    busy_until = []
    node_busy = {}  # node -> end of the fault it is under (one kill/pause/clock fault per node at a time)
    partition_until = 0.0
    while True:
        t += rng.uniform(1.5, 5.0)
        kind = rng.choice(kinds)
        length = {"kill": rng.uniform(2, 8), "pause": rng.uniform(2, 10), "partition": rng.uniform(6, 18),
                  "clock": rng.uniform(8, 25)}[kind]
        if t >= duration:
            break  # faults still active at `duration` are cut short by the heal
        busy_until = [u for u in busy_until if u > t]
        if len(busy_until) >= 2 or (kind == "partition" and partition_until > t):
            continue
        free = [i for i in range(n) if node_busy.get(i, 0) <= t]
        if not free:
            continue
        node = rng.choice(free)
        if kind != "partition":
            node_busy[node] = t + length
        if kind == "partition":
            shape = rng.choice(["halves", "isolate", "bridge", "ring"])
            pairs, desc = partition_pairs(shape, n, rng)
            detail = {"shape": shape, "pairs": pairs, "desc": desc}
            partition_until = t + length
        elif kind == "clock":
            beyond = rng.random() < 0.4
            mag = rng.randint(130_000, 170_000) if beyond else rng.randint(10_000, 100_000)
            detail = {"node": node, "offset_ms": mag * rng.choice([1, -1]), "beyond_limit": beyond}
        else:
            detail = {"node": node}
        sched.append((round(t, 2), round(t + length, 2), kind, detail))
        busy_until.append(t + length)
    return sched


class Nemesis(threading.Thread):
    def __init__(self, cluster, schedule, t0):
        super().__init__(daemon=True)
        self.c, self.schedule, self.t0 = cluster, schedule, t0
        self.applied = []   # (t, kind, detail, outcome)
        self.stop_flag = threading.Event()
        self.error = None

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported as a violation by the caller
            self.error = traceback.format_exc()
            log(f"nemesis error: {e}")

    def _run(self):
        events = []
        for k, (start, end, kind, d) in enumerate(self.schedule):
            heapq.heappush(events, (start, k, "begin", kind, d))
            heapq.heappush(events, (end, k, "end", kind, d))
        skipped = set()
        c = self.c
        while events and not self.stop_flag.is_set():
            at, k, phase, kind, d = heapq.heappop(events)
            while not self.stop_flag.is_set() and time.monotonic() - self.t0 < at:
                time.sleep(min(0.1, at - (time.monotonic() - self.t0)))
            if self.stop_flag.is_set():
                break
            c.check_deaths()
            if phase == "end" and k in skipped:
                continue
            t = round(time.monotonic() - self.t0, 1)
            ok = True
            if kind == "kill":
                ok = c.kill(d["node"]) if phase == "begin" else c.restart(d["node"])
            elif kind == "pause":
                ok = c.pause(d["node"]) if phase == "begin" else c.resume(d["node"])
            elif kind == "clock":
                ok = c.set_offset(d["node"], d["offset_ms"] if phase == "begin" else 0)
            elif kind == "partition":
                if phase == "begin":
                    for a, b in d["pairs"]:
                        block_pair(c.addrs[a], c.addrs[b])
                else:
                    remove_rules()
            if phase == "begin" and not ok:
                skipped.add(k)
            desc = d.get("desc") or (f"n{d['node']}" + ((f" {d['offset_ms']:+d} ms" if phase == "begin" else " back to 0")
                                                         if kind == "clock" else ""))
            self.applied.append({"t": t, "kind": kind, "phase": phase, "what": desc, "done": ok})
            log(f"nemesis t={t:6.1f}s {phase:5s} {kind:9s} {desc}{'' if ok else ' (skipped: node not in a state for it)'}")


# ---------------------------------------------------------------------------- the client
class Workload(threading.Thread):
    """Transfers among dev accounts 1..A, each signed here, sent to a random node. Wallet-like:
    keeps every acked (or unanswered) transfer's bytes until it confirms, resends them on a
    nonce gap or when the node is unreachable; never signs two transfers with one nonce unless
    the first was rejected."""

    def __init__(self, cluster, accounts, rate, rng):
        super().__init__(daemon=True)
        self.c, self.rng, self.rate = cluster, rng, rate
        self.signers = [fastsign.Signer(bip340.dev_secret(i)) for i in range(1, accounts + 1)]
        self.next_nonce = [0] * accounts
        self.outstanding = [dict() for _ in range(accounts)]  # nonce -> (txid, bytes)
        self.acked = {}       # txid -> {"t", "node", "account", "nonce"}
        self.maybe = {}       # txid -> same: no answer (timeout / connection lost)
        self.rejected = {}    # txid -> reason
        self.raw = {}         # txid -> (account index, nonce, bytes) of every acked or unanswered one
        self.reasons = {}
        self.resends = 0
        self.sent = 0
        self.errors = 0
        self.stop_flag = threading.Event()
        self.t0 = time.monotonic()

    def node_rpc(self, i, method, params, timeout=4):
        return self.c.nodes[i].rpc(method, params, timeout=timeout)

    def send_batch(self, i, txs):
        """[(txid, bytes)] -> per tx ("ok", None) | ("rejected", reason); or None when the node
        did not answer."""
        try:
            res = self.node_rpc(i, "sendtransactions", [[b.hex() for _, b in txs]])
        except Exception:
            return None
        out = []
        for r in res:
            if "id" in r:
                out.append(("ok", None))
            else:
                out.append(("rejected", r["error"]["reason"]))
        return out

    def resend(self, a, node):
        """Sends account a's outstanding transfers, lowest nonce first, to `node`. Returns the
        per-nonce result, or None when the node did not answer."""
        items = sorted(self.outstanding[a].items())
        if not items:
            return {}
        self.resends += len(items)
        res = self.send_batch(node, [v for _, v in items])
        if res is None:
            return None
        out = {}
        for (nonce, (tid, _)), (st, reason) in zip(items, res):
            out[nonce] = (st, reason)
            if tid in self.maybe and (st == "ok" or reason == "duplicate"):
                self.acked[tid] = dict(self.maybe.pop(tid), node=node, t=time.monotonic() - self.t0)
            elif st == "ok" and tid in self.acked:
                self.acked[tid]["node"] = node
        return out

    def settle(self, a, node):
        """Forgets outstanding transfers below the node's confirmed nonce (they are in its chain;
        a reorg gives them back to the mempools)."""
        try:
            acct = self.node_rpc(node, "getaccount", [bip340.address(self.signers[a].pub)])
        except Exception:
            return
        for nonce in [n for n in self.outstanding[a] if n < acct["nonce"]]:
            del self.outstanding[a][nonce]

    def step(self):
        live = self.c.live()
        if not live:
            return
        a = self.rng.randrange(len(self.signers))
        node = self.rng.choice(live)
        if len(self.outstanding[a]) >= 8:
            self.settle(a, node)
            if len(self.outstanding[a]) >= 8:
                if self.resend(a, node) is None:
                    self.unreachable(node)
                return
        b = self.rng.randrange(len(self.signers) - 1)
        b = b + 1 if b >= a else b
        nonce = self.next_nonce[a]
        raw = self.signers[a].transfer(self.signers[b].pub, self.rng.randint(1, 1000), FEE, nonce)
        tid = bip340.txid(raw)
        self.sent += 1
        res = self.send_batch(node, [(tid, raw)])
        rec = {"t": round(time.monotonic() - self.t0, 2), "node": node, "account": a + 1, "nonce": nonce}
        self.raw[tid] = (a, nonce, raw)
        if res is None:
            self.errors += 1
            self.maybe[tid] = rec  # unknown outcome: keep the bytes, never reuse the nonce
            self.outstanding[a][nonce] = (tid, raw)
            self.next_nonce[a] += 1
            self.unreachable(node)
            return
        st, reason = res[0]
        if st == "ok":
            self.acked[tid] = rec
            self.outstanding[a][nonce] = (tid, raw)
            self.next_nonce[a] += 1
            return
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if reason == "nonce-too-high":
            # The node lacks our earlier transfers (not relayed yet, partitioned, lost by a crash):
            # give it them, then this one once more.
            self.resend(a, node)
            res = self.send_batch(node, [(tid, raw)])
            if res and res[0][0] == "ok":
                self.acked[tid] = rec
                self.outstanding[a][nonce] = (tid, raw)
                self.next_nonce[a] += 1
                return
            if res is None:
                self.errors += 1
                self.maybe[tid] = rec
                self.outstanding[a][nonce] = (tid, raw)
                self.next_nonce[a] += 1
                return
            reason = res[0][1]
        self.rejected[tid] = dict(rec, reason=reason)
        if reason == "nonce-too-low":
            # Cannot happen for an honest wallet unless its view is stale: re-read the nonce.
            self.settle(a, node)

    def unreachable(self, node):
        """The client could not talk to `node`: resend what it acked to another node."""
        others = [i for i in self.c.live() if i != node]
        if not others:
            return
        for a in range(len(self.signers)):
            if any(self.acked.get(tid, {}).get("node") == node for tid, _ in self.outstanding[a].values()):
                self.resend(a, self.rng.choice(others))

    def run(self):
        period = 1.0 / self.rate
        nxt = time.monotonic()
        while not self.stop_flag.is_set():
            try:
                self.step()
            except Exception as e:
                self.errors += 1
                log(f"workload error: {e}")
            nxt += period
            time.sleep(max(0.0, nxt - time.monotonic()))
            nxt = max(nxt, time.monotonic() - 1)


# ---------------------------------------------------------------------------- the run
def all_tips(cluster, timeout=5):
    tips = []
    for n in cluster.nodes:
        tips.append(n.rpc("getblockchaininfo", timeout=timeout))
    return tips


def wait_one_tip(cluster, bound):
    started = time.monotonic()
    last = None
    while time.monotonic() - started < bound:
        try:
            infos = all_tips(cluster)
            last = [(i["height"], i["tip"][:12]) for i in infos]
            if len({i["tip"] for i in infos}) == 1:
                return time.monotonic() - started, infos[0]
        except Exception as e:
            last = str(e)
        time.sleep(0.2)
    return None, last


def sample_punishments(cluster, punished):
    """Adds each running node's counters of bans and refused blocks (/metrics) to `punished`,
    per node name. Called before every planned stop: a node's counters start at zero with each
    process, so what a kill -9 ended is read from its log instead."""
    for n in cluster.nodes:
        if n.proc is None or n.proc.poll() is not None:
            continue
        try:
            import urllib.request
            with urllib.request.urlopen(f"http://{n.host}:{n.port}/metrics", timeout=10) as r:
                text = r.read().decode()
        except OSError:
            continue
        got = punished.setdefault(n.name, {"bans": 0, "blocks_rejected": 0})
        for line in text.splitlines():
            if line.startswith("peerchain_bans_total "):
                got["bans"] += int(float(line.split()[1]))
            elif line.startswith("peerchain_blocks_rejected_total{"):
                got["blocks_rejected"] += int(float(line.split()[1]))


def run(args):
    seed = args.seed
    rng = random.Random(seed)
    kinds = ["kill", "pause", "clock"] + ([] if args.no_partitions else ["partition"])
    schedule = make_schedule(random.Random(rng.random()), args.nodes, args.duration, kinds)
    wl_rng = random.Random(rng.random())
    report = {"seed": seed, "nodes": args.nodes, "duration_s": args.duration, "schedule": schedule,
              "violations": [], "invariants": {}}
    violations = report["violations"]

    def check(name, ok, detail):
        report["invariants"][name] = {"ok": bool(ok), "detail": detail}
        log(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
        if not ok:
            violations.append(f"{name}: {detail}")

    ctx = Context(args.bin)
    cluster = Cluster(args, ctx)
    punished = {}  # node name -> bans and refused blocks counted by its /metrics
    started = time.monotonic()
    nemesis = workload = None
    try:
        log(f"chaos: seed {seed}, {args.nodes} nodes on {cluster.addrs[0]}..{cluster.addrs[-1]}:{cluster.port}, "
            f"{len(schedule)} faults over {args.duration}s, data in {ctx.tmp}")
        cluster.start_all()
        w0 = all_tips(cluster)[0]
        log(f"all nodes up at height {w0['height']}")
        workload = Workload(cluster, args.accounts, args.rate, wl_rng)
        t0 = time.monotonic()
        workload.t0 = t0
        nemesis = Nemesis(cluster, schedule, t0)
        workload.start()
        nemesis.start()
        while time.monotonic() - t0 < args.duration and nemesis.is_alive():
            time.sleep(0.5)
            cluster.check_deaths()
        nemesis.stop_flag.set()
        nemesis.join(30)
        if nemesis.error:
            violations.append("nemesis failed: " + nemesis.error)

        # --- heal: every rule removed, every clock reset, every node running
        log("healing: rules removed, clocks reset, every node continued or restarted")
        remove_rules()
        cluster.check_deaths()
        for i in range(args.nodes):
            cluster.resume(i)
            cluster.offset[i] = 0
            cluster.restart(i)
        for n in cluster.nodes:
            wait_for(lambda n=n: n.rpc("setclockoffset", [0], timeout=10), 60, f"{n.name} to reset its clock")
        healed = time.monotonic()
        took, info = wait_one_tip(cluster, args.converge_bound)
        check("converge", took is not None,
              f"one tip {took:.1f}s after the heal (bound {args.converge_bound}s), height {info['height']}"
              if took is not None else f"no common tip within {args.converge_bound}s: {info}")
        time.sleep(2)  # the client's last sends settle
        workload.stop_flag.set()
        workload.join(30)

        # --- acked transfers before the final resend: missing ones need a kill -9 to excuse them
        ref = cluster.nodes[0]
        mempools = set()
        for n in cluster.nodes:
            mempools |= set(n.rpc("getrawmempool", timeout=30))

        def status(tid, node=ref):
            try:
                return node.rpc("gettransaction", [tid], timeout=30)["status"]
            except RpcError:
                return None

        missing, excused = [], 0
        for tid, rec in workload.acked.items():
            if tid in mempools or status(tid) == "confirmed":
                continue
            ack_time = t0 + rec["t"]
            if any(k > ack_time for k in cluster.kills):
                excused += 1
            else:
                missing.append(tid)
        check("acked_not_lost_without_crash", not missing,
              f"{len(workload.acked)} acked; {excused} missing after the heal, each after a kill -9 "
              f"(resent below); {len(missing)} missing with no kill after the ack" +
              (f": {missing[:5]}" if missing else ""))

        # --- final resend of everything acked or unanswered, until confirmed on the reference node
        pending = {tid for tid in list(workload.acked) + list(workload.maybe)}
        deadline = time.monotonic() + args.drain_bound
        while pending and time.monotonic() < deadline:
            # The wallet's reconciliation: every acked or unanswered transfer not yet confirmed on
            # the reference node is sent again, same bytes, lowest nonce first.
            for a in range(args.accounts):
                workload.outstanding[a] = {workload.raw[t][1]: (t, workload.raw[t][2])
                                           for t in pending if workload.raw[t][0] == a}
                if workload.outstanding[a]:
                    workload.resend(a, wl_rng.randrange(args.nodes))
            time.sleep(2)
            pending = {t for t in pending if status(t) != "confirmed"}
        unanswered_in_chain = sum(1 for t in workload.maybe if status(t) == "confirmed")

        # --- freeze the chain: restart every node without mining, wait for one tip
        # (each node's counters of bans and refused blocks are read before every planned stop;
        # the logs cover the lives the nemesis ended with kill -9)
        sample_punishments(cluster, punished)
        stops = {}
        for i, n in enumerate(cluster.nodes):
            cluster.expected_exit[i] = True
            stops[n.name] = n.stop(timeout=60)
        check("clean_stop_before_freeze", all(v == 0 for v in stops.values()), f"exit codes {stops}")
        for i, n in enumerate(cluster.nodes):
            cluster.set_cmd(i, mine=False)
            n.start(wait=False)
            cluster.expected_exit[i] = False
        for n in cluster.nodes:
            wait_for(lambda n=n: n.rpc("getblockchaininfo", timeout=5) is not None, 60, f"{n.name} to answer RPC")
        took2, info = wait_one_tip(cluster, args.converge_bound)
        check("converge_frozen", took2 is not None,
              f"one tip {took2:.1f}s after restarting without mining, height {info['height']}"
              if took2 is not None else f"no common tip: {info}")
        height, tip = (info["height"], info["tip"]) if took2 is not None else (ref.rpc("getblockchaininfo")["height"],
                                                                              ref.rpc("getblockchaininfo")["tip"])

        # --- walk the chain
        in_chain, dup = {}, []
        for h in range(1, height + 1):
            b = ref.rpc("getblock", [h], timeout=30)
            for tx in b["txs"]:
                if tx["id"] in in_chain:
                    dup.append(tx["id"])
                in_chain[tx["id"]] = h
        lost = [t for t in workload.acked if t not in in_chain]
        check("acked_in_final_chain", not lost,
              f"{len(workload.acked)} acked transfers, {len(workload.acked) - len(lost)} in the final chain "
              f"(+{unanswered_in_chain} of {len(workload.maybe)} unanswered ones)" + (f"; lost: {lost[:5]}" if lost else ""))
        wrongly = [t for t in workload.rejected if t in in_chain]
        final_reasons = {}
        for r in workload.rejected.values():
            final_reasons[r["reason"]] = final_reasons.get(r["reason"], 0) + 1
        check("rejected_not_in_chain", not wrongly,
              f"{len(workload.rejected)} rejected, by reason {final_reasons} (first answers, before the gap was "
              f"filled: {workload.reasons}); in the chain: {len(wrongly)}")
        check("no_duplicate_txid", not dup, f"{len(in_chain)} transactions in {height} blocks, duplicates: {dup[:5]}")

        # --- balances on every node
        addrs = [bip340.address(fastsign.Signer(bip340.dev_secret(i)).pub) for i in range(DEV_ACCOUNTS)]
        want = DEV_ACCOUNTS * DEV_FUNDS + height * SUBSIDY
        sums = {}
        for n in cluster.nodes:
            sums[n.name] = sum(n.rpc("getaccount", [a], timeout=30)["balance"] for a in addrs)
        check("balances_sum", all(s == want for s in sums.values()),
              f"sum of the dev accounts {set(sums.values())} == genesis {DEV_ACCOUNTS * DEV_FUNDS} + {height} x subsidy "
              f"= {want}")

        # --- stop, re-validate every data directory from genesis
        sample_punishments(cluster, punished)
        stops = {}
        for i, n in enumerate(cluster.nodes):
            cluster.expected_exit[i] = True
            stops[n.name] = n.stop(timeout=60)
        check("clean_stop", all(v == 0 for v in stops.values()), f"exit codes {stops}")
        verified = {}
        for n in cluster.nodes:
            r = subprocess.run([ctx.path("peerchain-ledger"), "--datadir", os.path.join(ctx.tmp, n.name), "--network",
                                "dev", "verify"], capture_output=True, text=True, timeout=300)
            verified[n.name] = (r.returncode, (r.stdout + r.stderr).strip()[:200])
        check("revalidate_from_genesis",
              all(rc == 0 and f"tip {tip}" in out for rc, out in verified.values()),
              f"peerchain-ledger verify on every data dir: {verified}")
        check("no_unexpected_death", not cluster.unexpected_deaths,
              f"deaths not caused by the nemesis: {cluster.unexpected_deaths}")

        # --- evidence that the faults bit, and that honest nodes never punished each other
        evidence = {}
        for n in cluster.nodes:
            try:
                with open(n.log_path, "rb") as f:
                    text = f.read().decode(errors="replace")
            except OSError:
                text = ""
            evidence[n.name] = {"reorgs": text.count("reorg: disconnected"),
                                "bans": text.count("banned for"), "misbehaving": text.count("misbehaving"),
                                "metrics": punished.get(n.name, {})}
        report["evidence"] = evidence
        log(f"evidence from the node logs: {evidence}")
        check("no_bans_between_honest_nodes",
              all(e["bans"] == 0 and e["misbehaving"] == 0 and e["metrics"].get("bans", 0) == 0
                  for e in evidence.values()),
              "no node scored or banned another (every node here is honest)")

        report["faults"] = nemesis.applied
        by_kind = {}
        for f in nemesis.applied:
            if f["phase"] == "begin" and f["done"]:
                by_kind[f["kind"]] = by_kind.get(f["kind"], 0) + 1
        report["faults_by_kind"] = by_kind
        report["workload"] = {"sent": workload.sent, "acked": len(workload.acked), "unanswered": len(workload.maybe),
                              "rejected": len(workload.rejected), "reasons": workload.reasons,
                              "resent": workload.resends, "final_height": height, "txs_in_chain": len(in_chain)}
        report["converge_s"] = took
        log(f"faults applied by kind: {by_kind}")
        log(f"workload: {report['workload']}")
    except Exception:
        violations.append("the run failed: " + traceback.format_exc())
        traceback.print_exc()
    finally:
        if nemesis:
            nemesis.stop_flag.set()
        if workload:
            workload.stop_flag.set()
        remove_rules()
        if violations:
            for n in ctx.nodes:
                print(f"---- last lines of {n.name} ({n.log_path})")
                print(n.tail(15))
        for n in ctx.nodes:
            try:
                if n.proc and n.proc.poll() is None:
                    n.proc.send_signal(signal.SIGCONT)
            except Exception:
                pass
        if args.keep and violations:
            log(f"keeping {ctx.tmp}")
            for n in ctx.nodes:
                n.kill9()
        else:
            ctx.cleanup()
    report["run_time_s"] = round(time.monotonic() - started, 1)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=str)
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bin", nargs="?", default=None, help="directory of the programs (build/bin)")
    ap.add_argument("--bin", dest="bin_opt", default=None)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--seed", type=int, default=None, help="default: derived from the time (printed)")
    ap.add_argument("--duration", type=float, default=120, help="seconds of faults")
    ap.add_argument("--accounts", type=int, default=40, help="dev accounts 1..A send and receive")
    ap.add_argument("--rate", type=float, default=8, help="transfers per second")
    ap.add_argument("--hash-rate", type=float, default=20000, help="each node's miner cap (hashes/s)")
    ap.add_argument("--converge-bound", type=float, default=90, help="seconds to one tip after the heal")
    ap.add_argument("--drain-bound", type=float, default=90, help="seconds for every acked transfer to confirm")
    ap.add_argument("--no-partitions", action="store_true", help="no iptables faults (runs without root)")
    ap.add_argument("--json", default=None, help="write the report here (default: chaos-SEED.json in the cwd)")
    ap.add_argument("--keep", action="store_true", help="keep the data directories of a failed run")
    args = ap.parse_args()
    args.bin = args.bin_opt or args.bin or "build/bin"
    if args.seed is None:
        args.seed = int(time.time()) % 1_000_000
    if args.json is None:
        args.json = f"chaos-{args.seed}.json"
    if not 2 <= args.nodes <= 9:
        ap.error("--nodes must be 2..9 (addresses 127.0.0.21..29)")
    if not args.no_partitions:
        why = can_use_iptables()
        if why:
            print(f"SKIP chaos: partitions need iptables as root ({why}); --no-partitions runs the rest")
            sys.exit(77)
        remove_stale_rules()
    atexit.register(remove_rules)

    def on_signal(sig, _frame):
        log(f"signal {sig}: removing the firewall rules and stopping the nodes")
        remove_rules()
        raise SystemExit(128 + sig)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    report = run(args)
    repro = (f"python3 tests/chaos/chaos.py --seed {args.seed} --nodes {args.nodes} --duration {args.duration:g}"
             + (" --no-partitions" if args.no_partitions else "") + f" {args.bin}")
    if report["violations"]:
        print(f"FAIL chaos: {len(report['violations'])} violation(s) in {report['run_time_s']}s:")
        for v in report["violations"]:
            print("  - " + v.splitlines()[0] if v else v)
        print(f"reproduce: {repro}")
        sys.exit(1)
    print(f"PASS chaos (seed {args.seed}) in {report['run_time_s']}s; report in {args.json}")
    print(f"reproduce: {repro}")


if __name__ == "__main__":
    main()
