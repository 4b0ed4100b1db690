#!/usr/bin/env python3
"""Crash consistency: a child process mines blocks (each connect one synced RocksDB batch) and
is killed with SIGKILL at random moments, many times. After every kill the database must reopen
at a consistent tip (peerchain-ledger verify re-validates the whole chain from genesis and
compares the stored accounts with the replay), and every block the child reported as stored
before it died must still be in the chain at its height.

Usage: storage_crash_consistency.py BIN_DIR [--rounds N] [--seconds S] [--seed X]
"""
import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BLOCK_LINE = re.compile(r"^block (\d+) ([0-9a-f]{64})$")


def run(cmd, timeout=120):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin_dir")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=90.0, help="stop starting new rounds after this")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("PEERCHAIN_SEED", "0")) or None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    ledger = os.path.join(args.bin_dir, "peerchain-ledger")
    datadir = tempfile.mkdtemp(prefix="peerchain-crash-")
    print(f"seed {seed} datadir {datadir}", flush=True)
    acknowledged = {}  # height -> id the child printed after process_block returned
    started = time.monotonic()
    rounds = 0
    try:
        while rounds < args.rounds and time.monotonic() - started < args.seconds:
            rounds += 1
            child = subprocess.Popen(
                [ledger, "--datadir", datadir, "mine", "--blocks", "100000", "--transfers-per-block",
                 str(rng.choice([0, 5, 40]))],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
            deadline = time.monotonic() + rng.uniform(0.05, 1.2)
            out_lines = []
            os.set_blocking(child.stdout.fileno(), False)
            buf = ""
            while time.monotonic() < deadline and child.poll() is None:
                try:
                    chunk = child.stdout.read()
                except (BlockingIOError, TypeError):
                    chunk = None
                if chunk:
                    buf += chunk
                time.sleep(0.005)
            child.send_signal(signal.SIGKILL)
            child.wait()
            try:
                rest = child.stdout.read()
            except (BlockingIOError, TypeError):
                rest = None
            if rest:
                buf += rest
            for line in buf.splitlines():
                m = BLOCK_LINE.match(line.strip())
                if m:
                    acknowledged[int(m.group(1))] = m.group(2)
            v = run([ledger, "--datadir", datadir, "verify"])
            if v.returncode != 0:
                print(f"round {rounds}: verify FAILED after kill -9 (seed {seed}):\n{v.stdout}{v.stderr}")
                return 1
            p = run([ledger, "--datadir", datadir, "print"])
            chain = {}
            for line in p.stdout.splitlines():
                m = re.match(r"^block (\d+) ([0-9a-f]{64})", line)
                if m:
                    chain[int(m.group(1))] = m.group(2)
            for h, bid in acknowledged.items():
                if chain.get(h) != bid:
                    print(f"round {rounds}: acknowledged block {h} {bid} lost; chain has {chain.get(h)} "
                          f"(seed {seed})")
                    return 1
            print(f"round {rounds}: killed, reopened consistent at height {max(chain)}; "
                  f"{len(acknowledged)} acknowledged blocks intact", flush=True)
        if rounds < 5:
            print(f"only {rounds} rounds ran: too few to mean anything")
            return 1
        print(f"ok: {rounds} kills, every reopen consistent, nothing acknowledged lost (seed {seed})")
        return 0
    finally:
        shutil.rmtree(datadir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
