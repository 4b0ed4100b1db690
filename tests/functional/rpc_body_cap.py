#!/usr/bin/env python3
"""A request body over the node's cap gets a clear error that names the cap, whoever sends it
(issue 14): HTTP 413 with the limit in bytes, delivered even while the client is still sending
the body (the node drains what it refused before closing, instead of resetting the connection),
and the clients show that sentence. peerchain-cli sends --count 50000 in calls under the cap.
Before: a body over the cap reset the connection mid-upload ("connection ... keeps closing")."""
import json
import os
import socket
import subprocess

from framework import free_port, main, wait_for

CAP = 8 << 20


def body(ctx):
    port = free_port()
    n = ctx.daemon("n0", port, [])
    n.start()

    # A raw client that sends the whole 9 MiB body before reading: it still gets the 413.
    payload = b'{"jsonrpc":"2.0","id":1,"method":"getblockcount","params":["' + b"x" * (9 << 20) + b'"]}'
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  % len(payload))
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise AssertionError(f"the node reset the connection instead of answering: {e}")
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, text = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head[:100]
    error = json.loads(text)["error"]
    assert f"the limit is {CAP} bytes" in error, error

    # peerchain-cli: 50,000 transfers (~15 MB of hex) go in calls under the cap and all land.
    env = dict(os.environ, HOME=ctx.tmp)
    def cli(*args):
        return subprocess.run([ctx.path("peerchain-cli"), "--node", f"127.0.0.1:{port}", *map(str, args)],
                              capture_output=True, text=True, timeout=300, env=env)
    assert cli("key", "dev", "rich", 4).returncode == 0
    bob = cli("key", "new", "bob").stdout.strip()
    r = cli("send", "--from", "rich", "--to", bob, "--amount", 1, "--count", 50000)
    assert r.returncode == 0 and len(r.stdout.split()) == 50000, (r.returncode, r.stderr[-300:])
    wait_for(lambda: n.rpc("getmempoolinfo")["size"] == 50000, 60, "50,000 transfers in the mempool")
    assert n.stop() == 0


if __name__ == "__main__":
    main(body)
