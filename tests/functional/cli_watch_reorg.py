#!/usr/bin/env python3
"""Issue 13 — `peerchain-cli watch` reports the node's own reorg depth. Node A mines 3 blocks
alone, then watch starts on A; node B mines 5 blocks alone; A is told to dial B and reorganises
onto B's heavier chain: the node's reorg event (its /ws stream) and its log line say 3 blocks
were disconnected from the fork at genesis, and watch must print the same depth and fork
(watch used to count only the blocks it had printed itself: 1 here). Each node on its own
loopback address (127.0.0.101-102)."""
import queue
import re
import signal
import subprocess
import threading

from framework import WsClient, free_port, main, wait_for

A, B = "127.0.0.101", "127.0.0.102"



def body(ctx):
    port = free_port(A)
    a = ctx.daemon("a", port, ["--network", "dev", "--no-discover"], host=A).start()
    b = ctx.daemon("b", port, ["--network", "dev", "--no-discover"], host=B).start()
    a.rpc("generate", [3])
    assert a.rpc("getblockchaininfo")["height"] == 3

    events = WsClient(A, port, "/ws?topics=reorg")
    watch = subprocess.Popen([ctx.path("peerchain-cli"), "--node", f"{A}:{port}", "watch"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in watch.stdout], daemon=True).start()
    seen = []

    def line_matching(pattern, timeout):
        def got():
            while True:
                try:
                    line = lines.get_nowait()
                except queue.Empty:
                    return None
                seen.append(line)
                m = re.search(pattern, line)
                if m:
                    return m
        return wait_for(got, timeout, f"watch to print /{pattern}/ (printed so far: {seen})")

    try:
        line_matching(r"^watching .* height 3 ", 30)
        b.rpc("generate", [5])
        heavy = b.rpc("getblockchaininfo")["tip"]
        a.rpc("addpeer", [f"{B}:{port}"])
        wait_for(lambda: a.rpc("getblockchaininfo")["tip"] == heavy, 60, "A to reorganise onto B's chain")

        ev = events.next()
        # The node may switch as soon as B's branch outweighs its own (at height 4), then extend.
        assert ev["type"] == "reorg" and ev["height"] in (4, 5), ev
        assert ev["disconnected"] == 3, f"the node's event: {ev}"
        assert ev.get("fork_height") == 0, f"the node's event names the fork at genesis: {ev}"
        with open(a.log_path, errors="replace") as f:
            assert re.search(r"reorg: disconnected 3 connected \d+ new tip " + ev["tip"], f.read()), a.tail()

        m = line_matching(r"reorg: (\d+) blocks? replaced from height (\d+)", 30)
        depth, first_replaced = int(m.group(1)), int(m.group(2))
        assert depth == ev["disconnected"], f"watch printed depth {depth}, the node's event says {ev['disconnected']}: {seen}"
        assert first_replaced == 1, f"watch says the replaced blocks start at height {first_replaced}, not 1: {seen}"
        assert "fork at height 0" in m.string, m.string
        # Then B's five blocks, each once, from the fork up.
        for h in range(1, 6):
            line_matching(rf"^block {h} [0-9a-f]{{64}} ", 30)
    finally:
        if watch.poll() is None:
            watch.send_signal(signal.SIGTERM)
            try:
                watch.wait(timeout=10)
            except subprocess.TimeoutExpired:
                watch.kill()
                watch.wait()
        events.s.close()
    assert watch.returncode == 0, (watch.returncode, watch.stderr.read())
    assert a.stop() == 0 and b.stop() == 0


if __name__ == "__main__":
    main(body)
