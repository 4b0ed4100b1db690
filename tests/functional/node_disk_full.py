#!/usr/bin/env python3
"""Issue 17 — a full disk is the node's own fault, never a peer's: node B keeps its home on a
small tmpfs made (and removed) by this test; A mines blocks that B takes until B's disk is full.
Then B must still run, ban nobody, serve reads, say "disk-full" in getblockchaininfo, /health
and /metrics, refuse transfers with a storage error (not a rejection), and log the cause once.
When space is freed it resumes by itself and catches up with A. Full once more, it stops
cleanly on SIGTERM (exit 0, no abort) and catches up after a restart. B meets the full disk at
its reserve (768 KiB kept free on this tmpfs, ADR 0029); RocksDB's own full-disk path is tested
by the DatabaseDiskFull unit tests.

Needs root for `mount -t tmpfs`; exits 77 (skipped) with a message when it cannot mount."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from framework import Node, RpcError, free_port, main, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "chaos"))
import bip340  # noqa: E402
import fastsign  # noqa: E402

HA, HB = "127.0.0.82", "127.0.0.83"
TMPFS_SIZE = "24m"
LEFT_FREE = 384 << 10   # bytes left free on B's disk before blocks arrive


def health(node):
    try:
        with urllib.request.urlopen(f"http://{node.host}:{node.port}/health", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def log_text(node):
    with open(node.log_path, "rb") as f:
        return f.read().decode(errors="replace")


def storage_state(node):
    return node.rpc("getblockchaininfo").get("storage", {}).get("state")


def scenario(ctx, mnt):
    pa, pb = free_port(HA), free_port(HB)
    a = ctx.daemon("a", pa, ["--network", "dev", "--no-discover"], host=HA).start()
    home_b = os.path.join(mnt, "b")
    cmd_b = [ctx.path("peerchaind"), "--home", home_b, "--listen", HB, "--port", str(pb), "--network", "dev",
             "--no-discover", "--peer", f"{HA}:{pa}"]
    b = Node(ctx, "b", cmd_b, pb, cwd=ctx.tmp, host=HB)
    ctx.nodes.append(b)
    b.start()
    a.rpc("generate", [5])
    wait_for(lambda: b.rpc("getblockchaininfo")["height"] == 5, 60, "B to sync the first 5 blocks")
    assert b.stop() == 0

    # Fill B's disk but for LEFT_FREE bytes, then let it run: blocks from A fill the rest.
    filler = os.path.join(mnt, "filler")
    fill(mnt, filler)
    b.start()
    wait_for(lambda: len(b.rpc("getpeerinfo")) >= 1, 30, "B to reconnect to A")

    started = time.monotonic()
    full = False
    for _ in range(60):
        a.rpc("generate", [100])
        time.sleep(0.5)  # pacing only: what follows checks conditions, not timing
        if not b.alive():
            raise AssertionError(f"B died when its disk filled (exit code {b.proc.returncode})")
        if "misbehaving" in log_text(b):
            break
        try:
            if storage_state(b) == "disk-full":
                full = True
                break
        except Exception as e:
            raise AssertionError(f"B stopped answering when its disk filled: {e}")
    log = log_text(b)
    bans = [l for l in log.splitlines() if "misbehaving" in l]
    print(f"after {time.monotonic() - started:.1f}s: A height {a.rpc('getblockchaininfo')['height']}, "
          f"B height {b.rpc('getblockchaininfo')['height']}, B alive {b.alive()}, "
          f"B penalised peers {len(bans)} time(s), B storage {storage_state(b)}")
    assert not bans, f"B blamed its peer for its own full disk: {bans[:2]}"
    assert full, "B never reported disk-full"

    # Full: still alive, still serving reads, honest about why, refusing new work.
    wait_for(lambda: health(b)[0] == 503, 10, "/health to say 503 while the disk is full")
    code, h = health(b)
    assert h["status"] == "disk-full" and h["storage"]["state"] == "disk-full", h
    assert b.metric("peerchain_storage_state") == 1, "metrics do not show disk-full"
    h1 = b.rpc("getblockhash", [1])
    assert b.rpc("getblock", [h1])["height"] == 1
    acct = b.rpc("getaccount", [bip340.address(bip340.pubkey(bip340.dev_secret(1)))])
    assert acct["balance"] > 0, acct
    tx = fastsign.Signer(bip340.dev_secret(1)).transfer(bip340.pubkey(bip340.dev_secret(2)), 500, 1, acct["next_nonce"])
    try:
        b.rpc("sendtransaction", [tx.hex()])
        raise AssertionError("a transfer was acknowledged on a full disk")
    except RpcError as e:
        # Not the transfer's fault: "unavailable" (-9) with the storage reason, not a rejection.
        assert e.error["code"] == -9 and e.error["data"]["reason"] == "storage", e.error
    lines = [l for l in log_text(b).splitlines() if re.search(r"storage disk-full", l)]
    assert len(lines) == 1, f"expected one log line saying why, got {len(lines)}: {lines[:3]}"
    print(f"B's line: {lines[0].strip()[:240]}")

    # Space again: B resumes by itself and catches up.
    os.remove(filler)
    wait_for(lambda: storage_state(b) == "ok", 30, "B to resume once space is free")
    a.rpc("generate", [3])  # one more announcement, as a live network would make
    target = a.rpc("getblockchaininfo")
    wait_for(lambda: b.rpc("getblockchaininfo")["tip"] == target["tip"], 90, "B to catch up with A")
    assert health(b)[0] == 200
    assert not [l for l in log_text(b).splitlines() if "misbehaving" in l]
    print(f"B resumed and caught up to height {target['height']}")

    # Full again, and stopped while full: a clean stop (exit 0), never an abort; after a restart
    # with space it catches up. (Restarted onto the full disk: a log file made while space was
    # free is preallocated, and would absorb the next blocks.)
    assert b.stop() == 0
    fill(mnt, filler)
    b.start()
    wait_for(lambda: fill_until_full(a, b), 60, "B's disk to fill again", interval=0.5)
    code = b.stop()
    print(f"B stopped while its disk was full: exit code {code}")
    assert code == 0, f"B did not stop cleanly on a full disk (exit code {code}):\n{b.tail(5)}"
    os.remove(filler)
    b.start()
    target = a.rpc("getblockchaininfo")
    wait_for(lambda: b.rpc("getblockchaininfo")["tip"] == target["tip"], 90, "B to catch up after the restart")
    assert not [l for l in log_text(b).splitlines() if "misbehaving" in l]
    assert b.stop() == 0
    assert a.stop() == 0


def fill(mnt, filler):
    """Leaves LEFT_FREE bytes free on the file system at mnt."""
    st = os.statvfs(mnt)
    free = st.f_bavail * st.f_frsize
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        os.posix_fallocate(fd, 0, max(1, free - LEFT_FREE))
    finally:
        os.close(fd)


def fill_until_full(a, b):
    """One round of 100 blocks from A; true once B reports its disk full."""
    a.rpc("generate", [100])
    assert b.alive(), f"B died on a full disk (exit code {b.proc.returncode})"
    return storage_state(b) == "disk-full"


def body(ctx):
    mnt = tempfile.mkdtemp(prefix="peerchain-diskfull-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        ctx.cleanup()
        print(f"SKIP node_disk_full: cannot mount a tmpfs (needs root): {r.stderr.strip()}")
        sys.exit(77)
    try:
        scenario(ctx, mnt)
    finally:
        for n in ctx.nodes:  # nothing may hold the mount when it goes
            n.kill9()
        if subprocess.run(["umount", mnt]).returncode != 0:
            subprocess.run(["umount", "-l", mnt])
        os.rmdir(mnt)


if __name__ == "__main__":
    main(body)
