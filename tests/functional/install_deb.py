#!/usr/bin/env python3
"""Installing peerchain (issue 14): `cmake --install --strip` lays out stripped programs, man pages
generated from their --help, bash completion, the example config and the hardened systemd unit;
CPack builds a .deb, and (as root, with dpkg) the .deb installs, creates the service user and
config, runs the unit's own command line as that user, answers the API, stops cleanly, and
purges without a trace. Argument: the build directory (not bin/)."""
import configparser
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import free_port  # noqa: E402

PROGRAMS = ("peerchaind", "peerchain-cli", "peerchain-ledger")


def run(*args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 300)
    return subprocess.run(list(args), **kw)


def has_debug_info(path):
    out = run("readelf", "-S", "-W", path).stdout
    return ".debug_info" in out or ".symtab" in out


def check_prefix_install(build, tmp):
    prefix = os.path.join(tmp, "prefix")
    r = run("cmake", "--install", build, "--prefix", prefix, "--strip")
    assert r.returncode == 0, r.stderr
    for prog in PROGRAMS:
        path = os.path.join(prefix, "bin", prog)
        assert os.access(path, os.X_OK), path
        assert not has_debug_info(path), f"{path} is not stripped"
        v = run(path, "--version")
        assert v.returncode == 0 and v.stdout.startswith(prog + " "), (prog, v.stdout, v.stderr)
        page = os.path.join(prefix, "share", "man", "man1", prog + ".1")
        text = open(page).read()
        assert ".TH " in text and "\\-\\-help" in text, page  # generated from the program's --help
        assert os.path.exists(os.path.join(prefix, "share", "bash-completion", "completions", prog))
    assert "--log-file" in open(os.path.join(prefix, "share", "man", "man1", "peerchaind.1")).read().replace("\\-", "-")
    for f in ("libexec/peerchain/server", "libexec/peerchain/client", "lib/systemd/system/peerchaind.service",
              "share/doc/peerchain/peerchain.toml.example", "share/doc/peerchain/README.md"):
        assert os.path.exists(os.path.join(prefix, f)), f
    unit = open(os.path.join(prefix, "lib/systemd/system/peerchaind.service")).read()
    for hardening in ("User=peerchain", "ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes",
                      "StateDirectory=peerchain", "TimeoutStopSec=120"):
        assert hardening in unit, hardening

    # Completion reads the program's own --help: subcommands and options complete.
    script = os.path.join(prefix, "share", "bash-completion", "completions", "peerchain-cli")
    env = dict(os.environ, PATH=os.path.join(prefix, "bin") + ":" + os.environ["PATH"])

    def complete(*words):
        cmd = (f"source {script}; COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}; "
               "_peerchain_complete; echo \"${COMPREPLY[@]}\"")
        return run("bash", "-c", cmd, env=env).stdout.split()
    assert complete("peerchain-cli", "te") == ["testnet"], complete("peerchain-cli", "te")
    assert "start" in complete("peerchain-cli", "testnet", "st")
    assert complete("peerchaind", "--log-f") == ["--log-file"], complete("peerchaind", "--log-f")
    assert "--timeout" in complete("peerchain-cli", "--node", "127.0.0.1:1", "--t")

    # The example config is one the node accepts.
    home = os.path.join(tmp, "example-home")
    os.makedirs(home)
    shutil.copy(os.path.join(prefix, "share/doc/peerchain/peerchain.toml.example"), os.path.join(home, "x.toml"))
    check_node_runs([os.path.join(prefix, "bin", "peerchaind"), "--home", home, "--config",
                     os.path.join(home, "x.toml")], user=None)


def check_node_runs(cmd, user):
    port = free_port()
    # setpriv execs the node itself (runuser would stay as its parent and turn SIGTERM into its own exit).
    argv = (["setpriv", "--reuid", user, "--regid", user, "--init-groups", "--"] if user else []) + cmd + ["--listen", "127.0.0.1", "--port", str(port)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        info = None
        while time.monotonic() < deadline and p.poll() is None:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=json.dumps(
                    {"jsonrpc": "2.0", "id": 1, "method": "getblockchaininfo"}).encode())
                with urllib.request.urlopen(req, timeout=5) as r:
                    info = json.loads(r.read())["result"]
                break
            except OSError:
                time.sleep(0.2)
        assert info and info["network"] == "main" and info["height"] == 0, (info, p.poll())
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 0, p.stdout.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def check_deb(build, tmp):
    out = os.path.join(tmp, "pkg")
    r = run("cpack", "-G", "DEB", "--config", os.path.join(build, "CPackConfig.cmake"), "-B", out)
    assert r.returncode == 0, r.stdout + r.stderr
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    assert len(debs) == 1, os.listdir(out)
    deb = os.path.join(out, debs[0])
    listing = run("dpkg-deb", "-c", deb).stdout
    for f in ("./usr/bin/peerchaind", "./usr/lib/systemd/system/peerchaind.service",
              "./usr/share/man/man1/peerchaind.1"):
        assert f in listing, f
    fields = run("dpkg-deb", "-f", deb, "Package", "Depends").stdout
    assert "Package: peerchain" in fields and "libsodium" in fields and "adduser" in fields, fields
    print(f"package {debs[0]}: {os.path.getsize(deb) / 1e6:.1f} MB")

    if os.geteuid() != 0 or not shutil.which("dpkg"):
        print("SKIP dpkg install/purge: needs root and dpkg")
        return
    if run("dpkg-query", "-W", "peerchain").returncode == 0:
        print("SKIP dpkg install/purge: a peerchain package is already installed on this machine")
        return
    installed = False
    try:
        r = run("dpkg", "-i", deb)
        installed = True
        assert r.returncode == 0, r.stdout + r.stderr
        assert run("id", "peerchain").returncode == 0, "no peerchain user"
        assert os.path.exists("/etc/peerchain/peerchain.toml")
        st = os.stat("/var/lib/peerchain")
        assert oct(st.st_mode & 0o777) == "0o700", oct(st.st_mode)
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.read("/usr/lib/systemd/system/peerchaind.service")
        exec_start = unit["Service"]["ExecStart"].split()
        user = unit["Service"]["User"]
        check_node_runs(exec_start, user=user)
        assert os.path.exists("/var/lib/peerchain/chain/CURRENT"), "the node kept no chain in its state directory"
        r = run("dpkg", "--purge", "peerchain")
        assert r.returncode == 0, r.stdout + r.stderr
        installed = False
        for gone in ("/usr/bin/peerchaind", "/etc/peerchain", "/var/lib/peerchain"):
            assert not os.path.exists(gone), gone
        assert run("id", "peerchain").returncode != 0, "the peerchain user outlived purge"
    finally:
        if installed:
            run("dpkg", "--purge", "peerchain")


def main():
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} BUILD_DIR")
        sys.exit(2)
    build = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="peerchain-install-")
    started = time.monotonic()
    try:
        check_prefix_install(build, tmp)
        check_deb(build, tmp)
    except Exception:
        import traceback
        traceback.print_exc()
        print(f"FAIL install_deb.py after {time.monotonic() - started:.1f}s")
        sys.exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"PASS install_deb.py in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
