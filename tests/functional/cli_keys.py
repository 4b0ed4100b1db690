#!/usr/bin/env python3
"""peerchain-cli keys: new/list/show/import/dev, the key file's modes, refusals (a mistyped
address, an unknown key, a key file open to others) each with a non-zero exit and one line."""
import json
import os
import stat
import subprocess

from framework import main


def body(ctx):
    home = os.path.join(ctx.tmp, "home")
    os.makedirs(home)
    env = dict(os.environ, HOME=home)

    def cli(*args, rc=0):
        r = subprocess.run([ctx.path("peerchain-cli")] + [str(a) for a in args], capture_output=True, text=True,
                           env=env, timeout=30)
        assert r.returncode == rc, f"peerchain-cli {' '.join(map(str, args))}: exit {r.returncode}, want {rc}: {r.stderr}"
        if rc != 0:
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), f"want one error line, got {r.stderr!r}"
        return r

    alice = cli("key", "new", "alice").stdout.strip()
    assert alice.startswith("pcdev1"), alice
    keys_dir = os.path.join(home, ".peerchain")
    keys_file = os.path.join(keys_dir, "keys.json")
    assert stat.S_IMODE(os.stat(keys_file).st_mode) == 0o600, oct(os.stat(keys_file).st_mode)
    assert stat.S_IMODE(os.stat(keys_dir).st_mode) == 0o700, oct(os.stat(keys_dir).st_mode)

    # dev account 1, and the same secret imported under another name: same address.
    dev1 = cli("key", "dev", "dev1", 1).stdout.strip()
    secret = cli("key", "show", "dev1", "--secret").stdout.strip()
    assert len(secret) == 64, secret
    assert cli("key", "import", "copy", secret).stdout.strip() == dev1
    assert cli("key", "show", "alice").stdout.strip() == alice
    listed = json.loads(cli("--json", "key", "list").stdout)
    assert [k["name"] for k in listed] == ["alice", "dev1", "copy"], listed
    assert {k["name"]: k["address"] for k in listed}["dev1"] == dev1
    assert "alice" in cli("key", "list").stdout
    assert stat.S_IMODE(os.stat(keys_file).st_mode) == 0o600

    # Refusals: duplicate name, bad secret, unknown key, dev keys off the dev network, bad names.
    cli("key", "new", "alice", rc=1)
    cli("key", "import", "bad", "zz" * 32, rc=2)
    cli("key", "import", "zero", "00" * 32, rc=2)
    cli("key", "show", "nobody", rc=1)
    cli("--network", "main", "key", "dev", "d2", 2, rc=1)
    cli("key", "new", "no/slash", rc=1)
    cli("key", "frobnicate", rc=2)

    # A mistyped address (one character changed) is refused before any node is contacted.
    typo = alice[:-3] + ("q" if alice[-3] != "q" else "p") + alice[-2:]
    cli("--node", "127.0.0.1:1", "send", "--from", "dev1", "--to", typo, "--amount", 5, rc=1)
    cli("--node", "127.0.0.1:1", "account", typo, rc=1)
    # A well-formed address of the other network is refused too.
    cli("--network", "main", "--node", "127.0.0.1:1", "account", alice, rc=1)

    # A key file readable by others is refused with a clear message; fixed, it works again.
    os.chmod(keys_file, 0o644)
    r = cli("key", "list", rc=1)
    assert "chmod 600" in r.stderr, r.stderr
    os.chmod(keys_file, 0o600)
    cli("key", "list")

    # --home elsewhere creates its own 0700 directory.
    other = os.path.join(ctx.tmp, "other", "deep")
    cli("--home", other, "key", "new", "x")
    assert stat.S_IMODE(os.stat(other).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(other, "keys.json")).st_mode) == 0o600


if __name__ == "__main__":
    main(body)
