"""Cutting links between test hosts on 127.0.0.x with iptables (the partition, web-view and chaos
tests share it). Rules are tagged with a comment so every one can be found and removed, also when
a test fails; nothing but loopback addresses is ever touched."""
import os
import subprocess
import sys


def iptables(*args, check=True):
    return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=check)


def can_use_iptables():
    """None when rules can be added here, else why not (the tests then skip with 77)."""
    if os.geteuid() != 0:
        return "not root"
    try:
        r = iptables("-S", "INPUT", check=False)
    except FileNotFoundError:
        return "iptables not installed"
    return None if r.returncode == 0 else "iptables unusable: " + r.stderr.strip()


def remove_rules(tag):
    """Removes every INPUT rule whose comment contains `tag`."""
    out = iptables("-S", "INPUT", check=False).stdout
    for line in out.splitlines():
        if tag in line and line.startswith("-A "):
            iptables("-D", *line.split()[1:], check=False)


def cut(a, b, tag):
    """Cuts TCP between hosts a and b both ways: every packet across is answered with a reset (the
    resets themselves pass), so open connections break at their next packet and redials fail fast."""
    for src, dst in ((a, b), (b, a)):
        assert src.startswith("127.0.0.") and dst.startswith("127.0.0."), (src, dst)
        iptables("-I", "INPUT", "-s", src, "-d", dst, "-p", "tcp", "!", "--tcp-flags", "RST", "RST",
                 "-m", "comment", "--comment", tag, "-j", "REJECT", "--reject-with", "tcp-reset")


def partition(side_a, side_b, tag):
    for a in side_a:
        for b in side_b:
            cut(a, b, tag)


def run_or_skip(test_name, tag, run):
    """A firewall test's entry point: exits 77 (CTest's skip) when rules cannot be added here,
    else calls run() and removes every rule tagged `tag` however it ends."""
    why = can_use_iptables()
    if why:
        print(f"SKIP {test_name}: needs iptables as root ({why})")
        sys.exit(77)
    try:
        run()
    finally:
        remove_rules(tag)
