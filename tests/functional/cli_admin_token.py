#!/usr/bin/env python3
"""The README's tour against a node listening beyond loopback (issue 14): such a node writes an API
token to HOME/api.token and admin methods need it. peerchain-cli finds the token of a node running
on this machine by itself; when it cannot, the error says where the token is and how to pass it.
Before, `peerchain-cli generate` failed with only "admin method: send the API token"."""
import os
import subprocess

from framework import free_port, main, wait_for


def body(ctx):
    port = free_port()
    # Listening on every interface (the node's default) is what makes it want a token; the test
    # only ever talks to it over 127.0.0.1.
    n = ctx.daemon("n0", port, [], listen="0.0.0.0")
    n.start()
    token_file = os.path.join(ctx.tmp, "n0", "api.token")
    wait_for(lambda: os.path.exists(token_file), 10, "the node to write its token")
    env = {k: v for k, v in os.environ.items() if k != "PEERCHAIN_API_TOKEN"}
    env["HOME"] = ctx.tmp

    def cli(*args):
        return subprocess.run([ctx.path("peerchain-cli"), "--node", f"127.0.0.1:{port}", *map(str, args)],
                              capture_output=True, text=True, timeout=60, env=env)

    # No token given: found through the process listening on the port, and used.
    r = cli("generate", 2)
    assert r.returncode == 0 and len(r.stdout.split()) == 2, (r.returncode, r.stdout, r.stderr)
    assert n.rpc("getblockchaininfo")["height"] == 2

    # A wrong token given by the user is not second-guessed.
    r = cli("--api-token", "0" * 32, "generate", 1)
    assert r.returncode == 1 and "admin method" in r.stderr, r.stderr

    # No token file to find: the error says where the token lives and how to pass it.
    token = open(token_file).read().strip()
    os.rename(token_file, token_file + ".away")
    r = cli("generate", 1)
    assert r.returncode == 1 and "HOME/api.token" in r.stderr and "--api-token" in r.stderr, r.stderr
    r = cli("--api-token", token, "generate", 1)
    assert r.returncode == 0, r.stderr
    assert n.rpc("getblockchaininfo")["height"] == 3
    assert n.stop() == 0


if __name__ == "__main__":
    main(body)
