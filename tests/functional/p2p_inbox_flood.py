#!/usr/bin/env python3
"""Issue 15, ADR 0021 — a peer's messages wait in an inbox off the network thread, with a
budget per peer. A raw peer floods the node with 160 `inv`s of 5,000 unknown transfers each
(26 MB; legal, each answered with a getdata) as fast as the link takes them, while a second raw
peer sends a block that extends the tip. Expected, through the real program:
- the flooding peer's waiting messages pass their 4 MiB budget and its connection stops being
  read (getnetworkinfo inbox.reading_pauses, /metrics peerchain_p2p_reading_pauses_total);
- the block from the other peer is taken while the flood is still waiting (block traffic is
  handled before transaction relay, and the other peer is read as before);
- the flood is handled to the end (every inv answered), nobody is banned, the node is fine.
Addresses 127.0.0.161-163."""
import os
import struct
import threading
import time
import urllib.request

import peerproto as pp
from framework import free_port, main, wait_for

H, P_FLOOD, P_BLOCK = "127.0.0.161", "127.0.0.162", "127.0.0.163"
N_INV, PER_INV = 160, 5000


def body(ctx):
    port = free_port()
    node = ctx.daemon("target", port, ["--network", "dev", "--no-discover"], host=H, listen=H).start()
    node.rpc("generate", [1])  # a block on block 1 keeps the genesis target: no ASERT in Python
    info = node.rpc("getblockchaininfo")
    genesis, tip_hex = info["genesis"], info["tip"]
    bits = node.rpc("getblock", [1])["bits"]
    dev0 = bytes.fromhex(node.rpc("getblock", [1, False]))[86:118]
    assert node.rpc("getnetworkinfo")["inbox"]["reading_pauses"] == 0

    flood = pp.Peer(H, port, source=P_FLOOD)
    flood.handshake(genesis)
    other = pp.Peer(H, port, source=P_BLOCK)
    other.handshake(genesis)

    # The flooder drains what the node sends back (getdata answers) without parsing it, so its
    # own receive side never stalls the node's sends.
    drained = {"bytes": 0, "closed": False}

    def drain():
        flood.sock.settimeout(20)
        try:
            while True:
                b = flood.sock.recv(1 << 20)
                if not b:
                    drained["closed"] = True
                    return
                drained["bytes"] += len(b)
        except OSError:
            return

    frames = [pp.frame(pp.INV, pp.compact_size(PER_INV) + b"".join(b"\x01" + os.urandom(32) for _ in range(PER_INV)))
              for _ in range(N_INV)]
    sent = {"done": None}

    def send_all():
        for f in frames:
            flood.send(f)
        sent["done"] = time.monotonic()

    threading.Thread(target=drain, daemon=True).start()
    sender = threading.Thread(target=send_all, daemon=True)
    t0 = time.monotonic()
    sender.start()
    wait_for(lambda: node.rpc("getnetworkinfo")["inbox"]["reading_pauses"] >= 1, 60,
             "the flooding peer's reads to pause")
    queued = node.rpc("getnetworkinfo")["inbox"]["queued_messages"]
    print(f"reading paused after {time.monotonic() - t0:.2f} s; {queued} messages waiting")

    # The other peer's block, meanwhile: it must not wait for the flood.
    now = int(time.time() * 1000)
    hdr = pp.solve(2, bytes.fromhex(tip_hex), pp.merkle([]), now, bits, dev0)
    block_id = pp.sha256d(hdr).hex()
    t_block = time.monotonic()
    other.send(pp.frame(pp.BLOCK, pp.block(hdr, [])))
    wait_for(lambda: node.rpc("getblockchaininfo")["tip"] == block_id, 30, "the other peer's block to be taken")
    took = time.monotonic() - t_block
    still_waiting = node.rpc("getnetworkinfo")["inbox"]["queued_messages"]
    print(f"block from the other peer taken in {took * 1000:.0f} ms; {still_waiting} flood messages still waiting")

    # The whole flood handled: every inv answered, the inbox empty, nobody banned.
    sender.join(120)
    assert sent["done"] is not None, "the flood could not be sent"
    wait_for(lambda: node.rpc("getnetworkinfo")["inbox"]["queued_messages"] == 0, 120, "the inbox to drain")
    wait_for(lambda: drained["bytes"] >= N_INV * PER_INV * 33, 60, "every inv to be answered with a getdata")
    assert not drained["closed"], "the flooding peer was disconnected"
    net = node.rpc("getnetworkinfo")
    assert net["connections"] == 2, net
    metrics = urllib.request.urlopen(f"http://{H}:{port}/metrics", timeout=10).read().decode()
    pauses = [ln for ln in metrics.splitlines() if ln.startswith("peerchain_p2p_reading_pauses_total ")]
    assert pauses and float(pauses[0].split()[1]) >= 1, pauses
    assert "peerchain_bans_total 0" in metrics
    print(f"flood of {N_INV} invs ({N_INV * PER_INV} ids) handled in {time.monotonic() - t0:.1f} s; "
          f"reading paused {net['inbox']['reading_pauses']} times; {drained['bytes']} bytes of getdata back")
    flood.close()
    other.close()
    assert node.stop() == 0


if __name__ == "__main__":
    main(body)
