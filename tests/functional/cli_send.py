#!/usr/bin/env python3
"""peerchain-cli send: a transfer signed locally from a dev key reaches a block on a mining node
(--wait), --count sends consecutive nonces, insufficient funds is refused with the node's reason,
an unreachable node gives a non-zero exit and one line."""
import json
import os
import subprocess

from framework import free_port, main, wait_for


def body(ctx):
    home = os.path.join(ctx.tmp, "home")
    os.makedirs(home)
    env = dict(os.environ, HOME=home)
    port = free_port()
    node = ctx.daemon("miner", port, ["--network", "dev", "--mine", "--no-discover"]).start()

    def cli(*args, rc=0, timeout=60):
        r = subprocess.run([ctx.path("peerchain-cli"), "--node", f"127.0.0.1:{port}"] + [str(a) for a in args],
                           capture_output=True, text=True, env=env, timeout=timeout)
        assert r.returncode == rc, f"peerchain-cli {' '.join(map(str, args))}: exit {r.returncode}, want {rc}: {r.stderr}"
        if rc != 0:
            lines = r.stderr.strip().splitlines()
            assert lines and all(l.startswith("error: ") for l in lines), f"want error lines, got {r.stderr!r}"
        return r

    cli("key", "dev", "rich", 3)
    bob = cli("key", "new", "bob").stdout.strip()

    # One transfer, waited for.
    r = cli("send", "--from", "rich", "--to", bob, "--amount", 1000, "--wait", "--timeout", 45, timeout=60)
    txid = r.stdout.splitlines()[0].strip()
    assert len(txid) == 64, r.stdout
    assert "confirmed" in r.stdout, r.stdout
    tx = node.rpc("gettransaction", [txid])
    assert tx["status"] == "confirmed" and tx["confirmations"] >= 1, tx
    acct = json.loads(cli("--json", "account", "bob").stdout)
    assert acct["balance"] == 1000, acct

    # --count: five transfers with consecutive nonces, two confirmations each, JSON output.
    r = cli("--json", "send", "--from", "rich", "--to", bob, "--amount", 7, "--fee", 2, "--count", 5,
            "--wait", 2, "--timeout", 45, timeout=60)
    results = json.loads(r.stdout)
    assert len(results) == 5 and all("id" in x for x in results), results
    nonces = sorted(x["tx"]["nonce"] for x in results)
    assert nonces == list(range(nonces[0], nonces[0] + 5)), nonces
    assert all(x["tx"]["confirmations"] >= 2 for x in results), results
    assert json.loads(cli("--json", "account", bob).stdout)["balance"] == 1035

    # Insufficient funds: bob cannot send more than he has; the node's reason is shown.
    rich = cli("key", "show", "rich").stdout.strip()
    r = cli("send", "--from", "bob", "--to", rich, "--amount", 10**9, rc=1)
    assert "error: rejected: insufficient-funds" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr

    # Reads work on the mined chain.
    assert "height" in cli("status").stdout
    assert txid in cli("block", tx["height"]).stdout
    assert "confirmed" in cli("tx", txid).stdout
    cli("mempool")
    cli("peers")
    out = cli("watch", "--count", 1, timeout=30).stdout
    assert any(l.startswith("block ") for l in out.splitlines()), out
    # Argument errors are usage errors (2); a wrong network is refused before signing.
    cli("send", "--from", "rich", "--to", bob, "--amount", "-5", rc=2)
    cli("send", "--from", "rich", "--to", bob, rc=2)
    cli("send", "--from", "nobody", "--to", bob, "--amount", 1, rc=1)

    # Unreachable node: non-zero exit, one line.
    dead = free_port()
    r = subprocess.run([ctx.path("peerchain-cli"), "--node", f"127.0.0.1:{dead}", "send", "--from", "rich", "--to",
                        bob, "--amount", "1"], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    r = subprocess.run([ctx.path("peerchain-cli"), "--node", f"127.0.0.1:{dead}", "status"], capture_output=True,
                       text=True, env=env, timeout=30)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    wait_for(lambda: node.alive(), 1, "the node to still be alive")


if __name__ == "__main__":
    main(body)
