#!/usr/bin/env python3
"""The deterministic simulation's checks in `make test` (issue 12, docs/simulation.md).

  sim_checks.py BIN determinism   one seed twice: byte-identical traces, one trace hash; another
                                  seed: another hash
  sim_checks.py BIN planted N     peerchain-sim-planted with planted bug N live finds a violation
                                  within the seeds given (and prints the line that replays it),
                                  and that line, run again, fails the same way
  sim_checks.py BIN sweep         a seed sweep over every fault kind: every seed passes and at
                                  least --min-faults faults were injected in total
  sim_checks.py BIN regress --list 6,8 -- ARGS   seeds that once found a bug in the node, kept
                                  as regression tests: each must pass
  sim_checks.py BIN template_age  the simulated miners run the node's template policy (ADR
                                  0025): with --template-min-age-ms 2000 no found block holds a
                                  transfer acknowledged less than 2 s before; with 0 some do (the
                                  check can fail); both runs pass every invariant
Exit 0 on success; the reason on stderr otherwise. Every process started is waited for.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile


def run(cmd, timeout):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return p.returncode, p.stdout


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def determinism(bin_dir, args):
    sim = os.path.join(bin_dir, "peerchain-sim")
    base = ["--nodes", "5", "--duration", "120", "--fault-interval", "1"]
    with tempfile.TemporaryDirectory() as d:
        hashes = []
        for i, seed in enumerate(["11", "11", "12"]):
            path = os.path.join(d, "run%d.jsonl" % i)
            rc, out = run([sim, "--seed", seed, "--json", "--record", path] + base, 600)
            print(out.strip())
            if rc != 0:
                fail("seed %s did not pass (exit %d)" % (seed, rc))
            m = re.search(r'"trace_hash":"([0-9a-f]{64})"', out)
            if not m:
                fail("no trace hash in the report")
            hashes.append(m.group(1))
            lines = open(path).read().splitlines()
            if not lines or '"format":"peerchain-sim-trace"' not in lines[0]:
                fail("the trace does not start with its header")
            if len(lines) < 1000:
                fail("a 120 s run recorded only %d events" % len(lines))
        a = open(os.path.join(d, "run0.jsonl"), "rb").read()
        b = open(os.path.join(d, "run1.jsonl"), "rb").read()
        if a != b:
            fail("seed 11 twice gave different traces")
        if hashes[0] != hashes[1]:
            fail("seed 11 twice gave different hashes %s %s" % (hashes[0], hashes[1]))
        if hashes[0] == hashes[2]:
            fail("seeds 11 and 12 gave the same trace hash")
        import hashlib
        if hashlib.sha256(a).hexdigest() != hashes[0]:
            fail("the trace hash is not the SHA-256 of the trace file")
    print("determinism: seed 11 twice -> %s; seed 12 -> %s" % (hashes[0][:16], hashes[2][:16]))


def planted(bin_dir, args):
    sim = os.path.join(bin_dir, "peerchain-sim-planted")
    if not os.path.exists(sim):
        fail("no %s (a test build makes it)" % sim)
    cmd = [sim, "--plant", str(args.bug), "--seeds", args.seeds, "--jobs", str(args.jobs), "--expect-fail"] + args.extra
    rc, out = run(cmd, 1500)
    print(out)
    if rc != 0:
        fail("planted bug %d was not found in seeds %s" % (args.bug, args.seeds))
    m = re.search(r"reproduce: (peerchain-sim\S*) (.*)", out)
    if not m:
        fail("a violation without the line that replays it")
    rc2, out2 = run([os.path.join(bin_dir, m.group(1))] + m.group(2).split() + ["--expect-fail"], 600)
    print(out2)
    if rc2 != 0:
        fail("the printed line did not replay the violation")
    v1 = re.search(r"violation: (.*)", out).group(1)
    v2 = re.search(r"violation: (.*)", out2)
    if not v2 or v2.group(1) != v1:
        fail("the replay found another violation: %r vs %r" % (v1, v2 and v2.group(1)))
    print("planted bug %d found and replayed: %s" % (args.bug, v1))


def sweep(bin_dir, args):
    sim = os.path.join(bin_dir, "peerchain-sim")
    cmd = [sim, "--seeds", args.seeds, "--jobs", str(args.jobs)] + args.extra
    rc, out = run(cmd, 3000)
    print(out)
    if rc != 0:
        fail("a seed failed")
    m = re.search(r"total: .* passed (\d+) failed (\d+) faults (\d+)", out)
    if not m:
        fail("no total line")
    if int(m.group(2)) != 0:
        fail("%s seeds failed" % m.group(2))
    if int(m.group(3)) < args.min_faults:
        fail("only %s faults injected, want at least %d" % (m.group(3), args.min_faults))


def regress(bin_dir, args):
    sim = os.path.join(bin_dir, "peerchain-sim")
    for seed in args.list.split(","):
        rc, out = run([sim, "--seed", seed] + args.extra, 600)
        print(out.strip())
        if rc != 0:
            fail("regression seed %s fails again" % seed)


def youngest_mined_ms(path):
    """The least time between a transfer's first acknowledged submission and a found block that
    holds it (a transfer reaches the miner's mempool at or after its submission, so this bounds
    its age at the miner from below), and how many such pairs there were."""
    submitted, youngest, pairs = {}, None, 0
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            if e.get("ev") == "tx_submitted" and e.get("acked"):
                submitted.setdefault(e["txid"], e["t"])
            elif e.get("ev") == "block_found":
                for txid in e["txids"]:
                    if txid in submitted:
                        pairs += 1
                        ms = (e["t"] - submitted[txid]) / 1000.0
                        youngest = ms if youngest is None else min(youngest, ms)
    return youngest, pairs


def template_age(bin_dir, args):
    sim = os.path.join(bin_dir, "peerchain-sim")
    base = ["--seed", "3", "--nodes", "3", "--duration", "30", "--settle", "60", "--fault-interval", "0",
            "--tx-rate", "20"]
    with tempfile.TemporaryDirectory() as d:
        seen = {}
        for age in (2000, 0):
            path = os.path.join(d, "age%d.jsonl" % age)
            rc, out = run([sim, "--template-min-age-ms", str(age), "--record", path] + base, 600)
            print(out.strip())
            if rc != 0:
                fail("the run with --template-min-age-ms %d failed" % age)
            seen[age] = youngest_mined_ms(path)
            print("age %d ms: %d mined transfers, the youngest %.3f ms after its submission" % ((age,) + seen[age][::-1]))
        youngest, pairs = seen[2000]
        if pairs < 100:
            fail("only %d transfers mined with the 2 s age" % pairs)
        if youngest < 2000 - 1:  # arrival marks are whole milliseconds
            fail("a block held a transfer %.3f ms after its submission, under the 2 s minimum age" % youngest)
        if seen[0][0] is None or seen[0][0] >= 2000 - 1:
            fail("with no minimum age no transfer was mined within 2 s: the check could not fail")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("mode", choices=["determinism", "planted", "sweep", "regress", "template_age"])
    ap.add_argument("bug", nargs="?", type=int, default=0)
    ap.add_argument("--seeds", default="1..20")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--min-faults", type=int, default=10000)
    ap.add_argument("--list", default="")
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:  # what follows goes to peerchain-sim itself
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    args = ap.parse_args(argv)
    args.extra = extra
    {"determinism": determinism, "planted": planted, "sweep": sweep, "regress": regress,
     "template_age": template_age}[args.mode](args.bin, args)


if __name__ == "__main__":
    main()
