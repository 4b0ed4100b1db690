#!/usr/bin/env python3
"""Issue 6 — the load tool through the real programs, briefly: peerchain-bench starts a 3-node dev
network, funds accounts, submits pre-signed transfers and reports; then the sync mode restarts a
node that missed blocks. Checks what the report claims (nothing lost, nothing twice, every node
verified every transfer, every figure present), never how fast: timing lives in
docs/performance.md, measured on a quiet machine."""
import json
import os
import subprocess
import sys
import tempfile
import time


def run(bin_dir, args, timeout=300):
    with tempfile.TemporaryDirectory(prefix="peerchain-bench-smoke-") as tmp:
        out = os.path.join(tmp, "report.json")
        cmd = [os.path.join(bin_dir, "peerchain-bench"), "--json", out, "--dir", os.path.join(tmp, "net")] + args
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        print(r.stdout)
        if r.returncode != 0:
            print(r.stderr)
            raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}")
        with open(out) as f:
            return json.load(f), r.stdout


def main():
    bin_dir = sys.argv[1]
    started = time.monotonic()
    # Load mode: 3 nodes, mining at the default cap, open loop so latency is measured honestly.
    rep, out = run(bin_dir, ["--transfers", "3000", "--accounts", "60", "--rate", "1500", "--progress-seconds", "1"])
    # Progress while it submits (2 s at 1,500/s), before the report.
    assert "submitting: " in out and out.index("submitting: ") < out.index("== peerchain-bench report =="), out
    assert rep["submitted"] == 3000 and rep["accepted"] == 3000, rep
    assert rep["in_final_chain"] == 3000 and rep["lost"] == 0 and rep["duplicates"] == 0, rep
    assert rep["rejected"] == {}, rep["rejected"]
    assert rep["transfers_per_second"] > 0 and rep["blocks"] >= 1, rep
    lat = rep["inclusion_latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"], lat
    assert rep["signature_limit"]["transfers_per_second"] > 0 and rep["signature_limit"]["cores"] >= 1
    assert rep["signature_limit"]["batch_verify_per_second_per_core"] > 0
    assert len(rep["per_node"]) == 3
    for n in rep["per_node"]:
        assert n["cpu_seconds"] > 0 and n["peak_rss_bytes"] > 0, n
        # Each node checked each transfer's signature once (relay and blocks reuse the cache).
        assert 3000 <= n["signature_verifications"] <= 3000 * 1.2, n
    # Sync mode: a node that missed 150 blocks of 4 transfers restarts and catches up.
    rep, _ = run(bin_dir, ["--nodes", "2", "--sync-blocks", "150", "--sync-txs-per-block", "4", "--accounts", "20"])
    assert rep["mode"] == "sync" and rep["blocks"] == 150 and rep["transfers"] == 600, rep
    assert rep["blocks_per_second"] > 0 and rep["seconds_from_restart"] > 0, rep
    print(f"PASS bench_load_smoke in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
