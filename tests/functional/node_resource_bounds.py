#!/usr/bin/env python3
"""Issue 5 — resource bounds: a mining node with one configured peer up and one down (never
reachable: redialled forever), clients sending signed transfers and reading over fresh HTTP
connections for a while. Open files (/proc/PID/fd), threads and resident memory
(/proc/PID/status Threads, VmRSS) are sampled every 2 s and must stay under generous ceilings
with no growth trend: the last third of the samples may not exceed the middle third by more
than a margin.

    python3 tests/functional/node_resource_bounds.py build/bin                   # CI: ~75 s
    python3 tests/functional/node_resource_bounds.py build/bin --duration 1800   # long run
"""
import os
import random
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "chaos"))
import bip340  # noqa: E402
import fastsign  # noqa: E402
from framework import free_port, main, wait_for  # noqa: E402

DURATION = 75.0
ADDR_A, ADDR_B, ADDR_DOWN = "127.0.0.51", "127.0.0.52", "127.0.0.53"

# Ceilings (generous: a node here uses ~20-40 fds, ~30 threads, ~60-150 MiB).
MAX_FDS, MAX_THREADS, MAX_RSS_KB = 400, 120, 1024 * 1024
# Growth allowed between the middle and the last third of the run.
FD_GROWTH, THREAD_GROWTH, RSS_GROWTH_KB, RSS_GROWTH_FACTOR = 25, 6, 96 * 1024, 1.5


def sample(pid):
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    st = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            st[k] = v.strip()
    return fds, int(st["Threads"]), int(st["VmRSS"].split()[0])


def body(ctx):
    port = free_port(ADDR_A)
    a = ctx.daemon("a", port, ["--network", "dev", "--no-discover", "--mine", "--peer", f"{ADDR_B}:{port}",
                               "--peer", f"{ADDR_DOWN}:{port}"], host=ADDR_A)
    b = ctx.daemon("b", port, ["--network", "dev", "--no-discover", "--peer", f"{ADDR_A}:{port}"], host=ADDR_B)
    a.start()
    b.start()
    wait_for(lambda: len(a.rpc("getpeerinfo")) == 1, 30, "a to connect to b")
    pid = a.proc.pid

    stop = threading.Event()
    stats = {"sent": 0, "acked": 0, "reads": 0, "errors": 0}
    signers = [fastsign.Signer(bip340.dev_secret(i)) for i in range(1, 21)]
    nonces = [0] * len(signers)
    rng = random.Random(5)

    def sender():
        while not stop.is_set():
            batch = []
            for _ in range(10):
                i = rng.randrange(len(signers))
                j = (i + 1 + rng.randrange(len(signers) - 1)) % len(signers)
                batch.append((i, signers[i].transfer(signers[j].pub, rng.randint(1, 999), 1, nonces[i])))
                nonces[i] += 1
            try:
                res = (a if rng.random() < 0.8 else b).rpc("sendtransactions", [[t.hex() for _, t in batch]], timeout=10)
                stats["sent"] += len(batch)
                for (i, _), r in zip(batch, res):
                    if "id" in r:
                        stats["acked"] += 1
                    else:  # re-read the nonce (getaccount next_nonce) after a rejection
                        nonces[i] = a.rpc("getaccount", [bip340.address(signers[i].pub)])["next_nonce"]
            except Exception:
                stats["errors"] += 1
                for i, _ in batch:
                    nonces[i] = a.rpc("getaccount", [bip340.address(signers[i].pub)])["next_nonce"]
            time.sleep(0.25)

    def reader():
        paths = ["/status", "/health", "/metrics", "/blocks/0"]
        while not stop.is_set():
            try:
                with urllib.request.urlopen(f"http://{ADDR_A}:{port}{rng.choice(paths)}", timeout=10) as r:
                    r.read()
                stats["reads"] += 1
            except Exception as e:
                stats["errors"] += 1
                stats["last_error"] = repr(e)[:120]
            time.sleep(0.02)

    threads = [threading.Thread(target=sender, daemon=True)] + [threading.Thread(target=reader, daemon=True)
                                                                 for _ in range(3)]
    for t in threads:
        t.start()
    samples = []
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < DURATION:
            assert a.alive(), "the node died under load"
            samples.append((time.monotonic() - t0,) + sample(pid))
            time.sleep(2)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    info = a.rpc("getblockchaininfo")
    n = len(samples)
    mid, last = samples[n // 3: 2 * n // 3], samples[2 * n // 3:]

    def mean(xs, k):
        return sum(x[k] for x in xs) / len(xs)

    peak = [max(s[k] for s in samples) for k in (1, 2, 3)]
    print(f"{n} samples over {DURATION:.0f}s; height {info['height']}, mempool {info['mempool_size']}; "
          f"client: {stats}")
    print(f"fds   first {samples[0][1]}, mid mean {mean(mid, 1):.1f}, last mean {mean(last, 1):.1f}, peak {peak[0]}")
    print(f"threads first {samples[0][2]}, mid mean {mean(mid, 2):.1f}, last mean {mean(last, 2):.1f}, peak {peak[1]}")
    print(f"rss KiB first {samples[0][3]}, mid mean {mean(mid, 3):.0f}, last mean {mean(last, 3):.0f}, peak {peak[2]}")
    assert stats["acked"] > 100, f"the load did not run: {stats}"
    assert stats["errors"] <= max(5, stats["reads"] // 100), f"clients failed: {stats}"
    assert peak[0] <= MAX_FDS, f"open files peaked at {peak[0]} > {MAX_FDS}"
    assert peak[1] <= MAX_THREADS, f"threads peaked at {peak[1]} > {MAX_THREADS}"
    assert peak[2] <= MAX_RSS_KB, f"resident memory peaked at {peak[2]} KiB > {MAX_RSS_KB}"
    assert mean(last, 1) <= mean(mid, 1) + FD_GROWTH, \
        f"open files grow: mid {mean(mid, 1):.1f} -> last {mean(last, 1):.1f} (> +{FD_GROWTH})"
    assert mean(last, 2) <= mean(mid, 2) + THREAD_GROWTH, \
        f"threads grow: mid {mean(mid, 2):.1f} -> last {mean(last, 2):.1f} (> +{THREAD_GROWTH})"
    assert mean(last, 3) <= mean(mid, 3) * RSS_GROWTH_FACTOR + RSS_GROWTH_KB, \
        f"memory grows: mid {mean(mid, 3):.0f} KiB -> last {mean(last, 3):.0f} KiB"
    assert a.stop() == 0 and b.stop() == 0


if __name__ == "__main__":
    if "--duration" in sys.argv:
        i = sys.argv.index("--duration")
        DURATION = float(sys.argv[i + 1])
        del sys.argv[i:i + 2]
    main(body)
