#!/usr/bin/env python3
"""Every program answers --version with one line: its name, the project version, the git commit it
was built from and the build type, and exits 0 (issue 14)."""
import os
import re
import subprocess

from framework import main

PROGRAMS = ("peerchaind", "peerchain-cli", "peerchain-ledger", "peerchain-bench", "server", "client")


def body(ctx):
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    git = subprocess.run(["git", "-C", src, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    commit = git.stdout.strip() if git.returncode == 0 else None
    for prog in PROGRAMS:
        if not os.path.exists(ctx.path(prog)):
            assert prog == "peerchain-bench", f"{prog} is missing from {ctx.bin}"
            continue
        r = subprocess.run([ctx.path(prog), "--version"], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0 and r.stderr == "", (prog, r.returncode, r.stderr)
        m = re.fullmatch(r"(\S+) (\d+\.\d+\.\d+) \(commit ([0-9a-f]{12}(?:-dirty)?|unknown), (\w+)\)\n", r.stdout)
        assert m and m.group(1) == prog, (prog, r.stdout)
        # Built from this checkout (the binaries of a stale build would name another commit).
        if commit:
            assert m.group(3).split("-")[0] == commit, (prog, m.group(3), commit)


if __name__ == "__main__":
    main(body)
