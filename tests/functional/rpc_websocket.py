#!/usr/bin/env python3
"""The WebSocket event stream (GET /ws): a client sees accepted transactions, new blocks and a
reorg as they happen. Minimal RFC 6455 client in the stdlib."""

import bip340
from framework import WsClient, free_port, main, wait_for

H = "127.0.0.1"



def body(ctx):
    pa, pb = free_port(), free_port()
    a = ctx.daemon("a", pa, ["--network", "dev"]).start()
    ws = WsClient(H, pa, timeout=15)
    blocks_only = WsClient(H, pa, "/ws?topics=block,reorg", timeout=15)  # no tx events
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
