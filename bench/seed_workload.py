#!/usr/bin/env python3
"""The seed's own workload (issue 15): three nodes started by the seed's command line
(`server PORT 2 HOST PORT HOST PORT`), one seed `client` sending COUNT transfers from one account
to one node, timed until all three nodes hold every one of them on one tip.

  python3 bench/seed_workload.py BIN_DIR [--count 100000] [--runs 3] [--bench PATH]

Prints, per run and as medians: transfers/s (COUNT over the time from the client's start to the
moment all three nodes' chains hold them), the client's own time, and the fraction of this
machine's signature limit measured in the same run: Schnorr verifications/s on one core
(bench_peerchain's BM_SchnorrVerify) x cores / 3 nodes, since every node verifies every
signature. Not a test: no assertion on time (run it on a quiet machine)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "functional"))
import bip340  # noqa: E402
from framework import Context, free_port, wait_for  # noqa: E402

H = "127.0.0.1"
SENDER = 1


def verify_rate(bench):
    r = subprocess.run([bench, "--benchmark_filter=^BM_SchnorrVerify$", "--benchmark_format=json",
                        "--benchmark_min_time=0.5"], capture_output=True, text=True, check=True)
    b = json.loads(r.stdout)["benchmarks"][0]
    ns = b["real_time"] * {"ns": 1, "us": 1e3, "ms": 1e6}[b["time_unit"]]
    return 1e9 / ns


def one_run(bin_dir, count, bench):
    ctx = Context(bin_dir)
    try:
        ports = [free_port() for _ in range(3)]
        nodes = [ctx.seed_server(p, [(H, q) for q in ports if q != p]).start() for p in ports]
        for n in nodes:
            wait_for(lambda n=n: len(n.rpc("getpeerinfo")) >= 2, 60, f"{n.name} to have 2 peers")
        addr = nodes[0].rpc("getaccount", [dev_address()])
        base = addr["nonce"]
        rate = verify_rate(bench)
        cores = os.cpu_count() or 1
        limit = rate * cores / 3
        t0 = time.monotonic()
        r = subprocess.run([ctx.path("client"), H, str(ports[1]), str(SENDER), "0", str(count), "1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=1800)
        t_client = time.monotonic() - t0
        if r.returncode != 0:
            raise SystemExit(f"client failed ({r.returncode}): {r.stderr[-2000:]}")

        def all_hold():
            tips, nonces = set(), []
            for n in nodes:
                tips.add(n.rpc("getblockchaininfo")["tip"])
                nonces.append(n.rpc("getaccount", [addr["address"]])["nonce"])
            return len(tips) == 1 and all(x == base + count for x in nonces)

        wait_for(all_hold, 1800, "all three nodes on one tip holding every transfer", interval=0.05)
        total = time.monotonic() - t0
        heights = [n.rpc("getblockchaininfo")["height"] for n in nodes]
        for n in nodes:
            n.stop()
        return {"transfers_per_s": count / total, "seconds": total, "client_seconds": t_client,
                "verify_per_s_per_core": rate, "cores": cores, "signature_limit": limit,
                "fraction_of_limit": count / total / limit, "height": heights[0]}
    finally:
        ctx.cleanup()


def dev_address():
    # The seed client's ID is dev account SENDER (public test keys).
    return bip340.address(bip340.pubkey(bip340.dev_secret(SENDER)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bin_dir")
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bench", default=None, help="bench_peerchain (default: BIN_DIR/bench_peerchain)")
    a = ap.parse_args()
    bench = a.bench or os.path.join(a.bin_dir, "bench_peerchain")
    runs = []
    for i in range(a.runs):
        r = one_run(a.bin_dir, a.count, bench)
        runs.append(r)
        print(f"run {i + 1}: {a.count} transfers in {r['seconds']:.2f} s ({r['transfers_per_s']:.0f}/s; client "
              f"{r['client_seconds']:.2f} s), signature limit {r['signature_limit']:.0f}/s "
              f"({r['verify_per_s_per_core']:.0f} verify/s/core x {r['cores']} / 3 nodes): "
              f"{r['fraction_of_limit']:.2f} of it; height {r['height']}", flush=True)
    med = {k: statistics.median(r[k] for r in runs) for k in ("transfers_per_s", "seconds", "fraction_of_limit")}
    print(f"median of {len(runs)}: {med['transfers_per_s']:.0f} transfers/s, {med['seconds']:.2f} s, "
          f"{med['fraction_of_limit']:.2f} of the signature limit")
    print(json.dumps({"runs": runs, "median": med}))


if __name__ == "__main__":
    main()
