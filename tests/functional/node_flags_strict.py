#!/usr/bin/env python3
"""Flags and config values are parsed strictly (issue 17; docs/design/limits.md): a number that is
not plain decimal, not finite or out of range, and a config path that is not a regular file, are
refused with one line on stderr and exit 2 by every program, before anything starts. Before this
test's fix, `--hash-rate nan`, `--clock-offset-ms 9223372036854775807`, `--port 0x10` (port 16), a
20-digit `--ban-seconds` (overflowing times 1000) and a directory as peerchain.toml all started a
node."""
import os
import subprocess

from framework import free_port, main


def attempt(ctx, prog, args, cwd, settle=4.0):
    """Runs prog; (returncode, stderr), or (None, stderr) when it was still running after `settle`
    seconds (it accepted the input and started): then it is killed by its pid."""
    p = subprocess.Popen([ctx.path(prog), *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    try:
        _, err = p.communicate(timeout=settle)
        return p.returncode, err
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return None, err


def refused(ctx, prog, args, why, cwd):
    code, err = attempt(ctx, prog, args, cwd)
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("Run with --help")]
    assert code == 2 and len(lines) == 1 and why in err, \
        f"{prog} {' '.join(args)}: expected one line with {why!r} and exit 2, got exit {code}: {err!r}"


def body(ctx):
    home = os.path.join(ctx.tmp, "home")
    base = ["--home", home, "--listen", "127.0.0.1"]

    def port_args():
        return ["--port", str(free_port())]

    # peerchaind: numbers that are not plain finite decimals, or out of range.
    cases = [
        (["--hash-rate", "nan"], "--hash-rate"),
        (["--hash-rate", "inf"], "--hash-rate"),
        (["--hash-rate", "-1"], "--hash-rate"),
        (["--hash-rate", "1e400"], "--hash-rate"),
        (["--hash-rate", "0x10"], "--hash-rate"),
        (["--clock-offset-ms", "9223372036854775807"], "--clock-offset-ms"),
        (["--clock-offset-ms", "-9223372036854775808"], "--clock-offset-ms"),
        (["--ban-seconds", "12345678901234567890"], "--ban-seconds"),
        (["--ban-seconds", "99999999999"], "--ban-seconds"),
        (["--ban-seconds", "-5"], "--ban-seconds"),
    ]
    for args, why in cases:
        refused(ctx, "peerchaind", base + port_args() + args, why, ctx.tmp)
    for port in ("0x10", "010", "+80", "0", "65536", "99999999999999999999", " 80", "8e3"):
        refused(ctx, "peerchaind", base + ["--port", port], "--port", ctx.tmp)

    # The other programs share the rule.
    refused(ctx, "peerchain-ledger", ["--datadir", os.path.join(ctx.tmp, "l"), "demo", "--blocks", "0x10"],
            "--blocks", ctx.tmp)
    refused(ctx, "peerchain-ledger", ["--datadir", os.path.join(ctx.tmp, "l"), "demo", "--hash-rate", "nan"],
            "--hash-rate", ctx.tmp)
    refused(ctx, "peerchain-bench", ["--rate", "nan"], "--rate", ctx.tmp)
    refused(ctx, "peerchain-bench", ["--transfers", "0x10"], "--transfers", ctx.tmp)
    code, err = attempt(ctx, "peerchain-cli", ["--node", "127.0.0.1:1", "generate", "0x10"], ctx.tmp)
    assert code == 2 and "N" in err, (code, err)

    # Config file: out-of-range and non-finite values, and a path that is not a regular file.
    r = subprocess.run([ctx.path("peerchaind"), "init", "--home", home], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    cfg = os.path.join(home, "peerchain.toml")
    good = open(cfg).read()
    for bad, why in (("hash_rate = nan\n", "'hash_rate' must be"), ("hash_rate = inf\n", "'hash_rate' must be"),
                     ("ban_seconds = 9223372036854775807\n", "'ban_seconds' must be"),
                     ("port = 0x10\n", "'port' must be"), ("port = 0\n", "'port' must be")):
        open(cfg, "w").write(good.replace("ban_seconds = 600\n", "").replace("port = 19333\n", "") + bad)
        refused(ctx, "peerchaind", base + (port_args() if "port" not in bad else []), why, ctx.tmp)
    os.remove(cfg)
    os.mkdir(cfg)
    refused(ctx, "peerchaind", base + port_args(), "is not a regular file", ctx.tmp)
    os.rmdir(cfg)

    # And what is right still starts: a plain decimal in range.
    code, err = attempt(ctx, "peerchaind", base + port_args() + ["--hash-rate", "2.5e4", "--ban-seconds", "60",
                                                               "--clock-offset-ms", "-1500"], ctx.tmp, settle=3.0)
    assert code is None, f"a valid command line was refused: exit {code}: {err!r}"


if __name__ == "__main__":
    main(body)
