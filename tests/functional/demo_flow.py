#!/usr/bin/env python3
"""The `make demo` flow (scripts/demo.py) end to end, with a deadline: three nodes agree, one is
killed and restarted, it catches up, and every node exits cleanly."""
import os
import subprocess
import sys

from framework import main


def body(ctx):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "demo.py")
    r = subprocess.run([sys.executable, script, ctx.bin], capture_output=True, text=True, timeout=240)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    for expected in ("every node holds all ten in its chain", "the two live nodes agree", "caught up in",
                     "all three agree again"):
        assert expected in out, f"missing '{expected}' in:\n{out}"
    assert out.count("exited with 0") == 3, out


if __name__ == "__main__":
    main(body)
