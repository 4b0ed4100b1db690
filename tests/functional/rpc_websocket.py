#!/usr/bin/env python3
"""The WebSocket event stream (GET /ws): a client sees accepted transactions, new blocks and a
reorg as they happen. Minimal RFC 6455 client in the stdlib."""
import base64
import json
import os
import socket
import struct

import bip340
from framework import free_port, main, wait_for

H = "127.0.0.1"


class Ws:
    def __init__(self, port, target="/ws"):
        self.s = socket.create_connection((H, port), timeout=15)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET {target} HTTP/1.1\r\nHost: {H}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.s.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.buf = b""

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise AssertionError("websocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def next(self):
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._need(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._need(8))[0]
        payload = self._need(n)
        if b0 & 0x0F == 1:
            return json.loads(payload)
        return self.next()  # skip control frames


def body(ctx):
    pa, pb = free_port(), free_port()
    a = ctx.daemon("a", pa, ["--network", "dev"]).start()
    ws = Ws(pa)
    blocks_only = Ws(pa, "/ws?topics=block,reorg")  # no tx events
    wait_for(lambda: "peerchain_websocket_clients 2" in __import__("urllib.request").request.urlopen(
        f"http://{H}:{pa}/metrics", timeout=5).read().decode(), 10, "the subscription to register")
    tx = bip340.transfer(bip340.dev_secret(3), bip340.pubkey(bip340.dev_secret(4)), 500, 1, 0)
    txid = a.rpc("sendtransaction", [tx.hex()])
    ev = ws.next()
    assert ev == {"type": "tx", "id": txid}, ev
    block = a.rpc("generate", [1])[0]
    ev = ws.next()
    assert ev["type"] == "block" and ev["id"] == block and ev["height"] == 1, ev
    ev = blocks_only.next()
    assert ev["type"] == "block" and ev["id"] == block, ev  # the tx event was not sent to it

    # A reorg: b builds a longer chain alone, then a connects to it.
    b = ctx.daemon("b", pb, ["--network", "dev"]).start()
    b.rpc("generate", [3])
    a.rpc("addpeer", [f"{H}:{pb}"])
    seen = []
    wait_for(lambda: seen.append(ws.next()) or any(e["type"] == "reorg" for e in seen), 30, "a reorg event")
    reorg = next(e for e in seen if e["type"] == "reorg")
    assert reorg["disconnected"] == 1, reorg
    for n in (a, b):
        assert n.stop() == 0


if __name__ == "__main__":
    main(body)
