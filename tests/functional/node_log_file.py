#!/usr/bin/env python3
"""peerchaind --log-file writes the log to a file rotated by size, and SIGHUP reopens it at its
path (what logrotate needs) without stopping the node (issue 14). Before, SIGHUP killed the node
and there was no log file at all."""
import os
import signal
import time

from framework import free_port, main, wait_for


def body(ctx):
    port = free_port()
    home = os.path.join(ctx.tmp, "n0")
    log = os.path.join(ctx.tmp, "logs", "peerchaind.log")
    os.makedirs(os.path.dirname(log))
    n = ctx.daemon("n0", port, ["--log-file", log, "--log-rotate-size", "16384", "--log-rotate-files", "2",
                                "--log-level", "debug"])
    n.start()
    wait_for(lambda: os.path.exists(log) and os.path.getsize(log) > 0, 10, "the log file to be written")
    # Log lines go to the file, not to stdout.
    assert "listening on" in n.tail(50) and "[info]" not in n.tail(50), n.tail(50)

    # logrotate's way: move the file away, then SIGHUP; the node keeps running and writes anew.
    os.rename(log, log + ".moved")
    n.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: os.path.exists(log) and "SIGHUP: log file reopened" in open(log).read(), 10,
             "the node to reopen its log file after SIGHUP")
    assert n.proc.poll() is None, f"SIGHUP stopped the node (exit {n.proc.returncode})"
    assert n.rpc("getblockchaininfo")["height"] == 0

    # Rotation by size (spdlog's names): past 16 KiB peerchaind.log becomes peerchaind.1.log, the
    # older one peerchaind.2.log, and no more than 2 rotated files are kept.
    rotated = [os.path.join(os.path.dirname(log), f"peerchaind.{k}.log") for k in (1, 2, 3)]
    deadline = time.monotonic() + 120
    while not os.path.exists(rotated[1]) and time.monotonic() < deadline:
        n.rpc("generate", [20])
    assert os.path.exists(rotated[1]), "no second rotation after two minutes of debug logging"
    assert os.path.getsize(rotated[0]) <= 16384 + 4096, os.path.getsize(rotated[0])
    for _ in range(10):
        n.rpc("generate", [20])
    assert not os.path.exists(rotated[2]), "more rotated files kept than --log-rotate-files"
    assert n.stop() == 0


if __name__ == "__main__":
    main(body)
