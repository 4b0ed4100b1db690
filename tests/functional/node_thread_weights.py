#!/usr/bin/env python3
"""The node's bulk threads (the verify pool, transfer admission, the API) run at a lower
scheduling weight than its latency-bound ones (the network thread, the message handler, the block
threads, the miner): read from the running node's /proc, thread by thread (ADR 0021, issue 15).
On a loaded machine this is what lets a block's path run within milliseconds of waking."""
import os

from framework import free_port, main, wait_for

BULK_NICE = 15  # util::kBulkNice
BULK = ("pc-verify-pool", "pc-tx-admit", "pc-http")
LATENCY = ("pc-net", "pc-msg", "pc-blk-verify", "pc-blk-connect", "pc-miner")


def threads(pid):
    """(name, nice) of every thread of `pid`."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        out.append((name, int(fields[16])))  # stat field 19: nice (fields[0] is field 3, the state)
    return out


def body(ctx):
    n = ctx.daemon("n0", free_port(), ["--mine"])
    n.start()
    names = lambda: {name for name, _ in threads(n.proc.pid)}
    wait_for(lambda: set(BULK + LATENCY) <= names(), 15, "the node's threads")
    seen = threads(n.proc.pid)
    base = os.getpriority(os.PRIO_PROCESS, n.proc.pid)  # the main thread's: inherited from this test
    for name, nice in seen:
        if name in BULK:
            want = max(base, BULK_NICE)  # a thread raises its nice value, never lowers it
            assert nice == want, f"bulk thread {name} at nice {nice}, want {want}: {sorted(seen)}"
        elif name in LATENCY:
            assert nice == base, f"latency-bound thread {name} at nice {nice}, want {base}: {sorted(seen)}"
    assert n.stop() == 0


if __name__ == "__main__":
    main(body)
