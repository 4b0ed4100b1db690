#!/usr/bin/env python3
"""peerchain-ledger print|verify|reindex read a chain that exists and never create one (issue 14):
on a path with no chain, or pointed into a node's database directory (HOME/chain instead of HOME),
they refuse with a message saying what to give instead and leave the path as it was. Before the
fix they created an empty chain there, even inside an existing RocksDB directory."""
import os
import subprocess

from framework import main


def ledger(ctx, *args):
    return subprocess.run([ctx.path("peerchain-ledger"), *args], capture_output=True, text=True, timeout=120)


def listing(path):
    out = []
    for root, dirs, files in os.walk(path):
        out += [os.path.relpath(os.path.join(root, f), path) for f in files + dirs]
    return sorted(out)


def body(ctx):
    home = os.path.join(ctx.tmp, "home")
    r = ledger(ctx, "--datadir", home, "mine", "--blocks", "2")
    assert r.returncode == 0, r.stderr

    # A path with nothing in it: refused, and still nothing there.
    empty = os.path.join(ctx.tmp, "empty")
    for cmd in ("print", "verify", "reindex"):
        r = ledger(ctx, "--datadir", empty, cmd)
        assert r.returncode == 1 and "no chain in" in r.stderr and "nothing was created" in r.stderr, (cmd, r.stderr)
        assert not os.path.exists(empty), (cmd, listing(empty))

    # The node's database directory itself: refused, nothing created inside it, the fix named.
    dbdir = os.path.join(home, "chain")
    before = listing(dbdir)
    for arg in (dbdir, dbdir + "/"):
        for cmd in ("print", "verify", "reindex"):
            r = ledger(ctx, "--datadir", arg, cmd)
            assert r.returncode == 1 and "is a database directory itself" in r.stderr and home in r.stderr, \
                (arg, cmd, r.stderr)
    assert listing(dbdir) == before, sorted(set(listing(dbdir)) ^ set(before))
    assert not os.path.exists(os.path.join(dbdir, "chain"))

    # The right path still works.
    r = ledger(ctx, "--datadir", home, "verify")
    assert r.returncode == 0 and r.stdout.startswith("ok height 2"), (r.returncode, r.stdout, r.stderr)


if __name__ == "__main__":
    main(body)
