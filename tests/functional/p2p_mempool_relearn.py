#!/usr/bin/env python3
"""Issue 17 — a node restarted after kill -9 relearns its peers' pending transfers.

Two nodes, A and B (B keeps A as its peer); nobody mines. B is killed with -9; transfers are
submitted to A while B is down; B restarts. With no new traffic, B's mempool and getaccount's
next nonce must come to match A's: on connecting, each node asks the other for its mempool
(the `mempool` message, BIP35-style, answered once per connection with an inv of at most
50,000 ids). Before: B never learned them (its next nonce stayed stale, so clients signed
clashing transfers).

Addresses 127.0.0.77-78 (this area's range)."""
import time

import bip340
from framework import free_port, main, wait_for

A_HOST, B_HOST = "127.0.0.77", "127.0.0.78"


def body(ctx):
    a_port, b_port = free_port(A_HOST), free_port(B_HOST)
    a = ctx.daemon("a", a_port, ["--network", "dev", "--no-discover"], host=A_HOST)
    b = ctx.daemon("b", b_port, ["--network", "dev", "--no-discover", "--peer", f"{A_HOST}:{a_port}"], host=B_HOST)
    a.start()
    b.start()
    wait_for(lambda: len(a.rpc("getpeerinfo")) == 1 and len(b.rpc("getpeerinfo")) == 1, 30, "A and B connected")

    b.kill9()
    sender = bip340.address(bip340.pubkey(bip340.dev_secret(3)))
    ids = set(ctx.client(A_HOST, a_port, 3, 0, 25, 500).stdout.split())
    assert len(ids) == 25, ids
    a_acc = a.rpc("getaccount", [sender])
    print(f"while B was down, A took 25 transfers: A's next nonce {a_acc['next_nonce']}, mempool {a.rpc('getmempoolinfo')['size']}")

    restart = time.monotonic()
    b.start()

    def relearned():
        return (b.rpc("getmempoolinfo")["size"] == a.rpc("getmempoolinfo")["size"] and
                b.rpc("getaccount", [sender])["next_nonce"] == a_acc["next_nonce"])

    try:
        wait_for(relearned, 20, "B to relearn A's pending transfers")
    except Exception:
        print(f"B after 20 s: mempool {b.rpc('getmempoolinfo')['size']}, next nonce "
              f"{b.rpc('getaccount', [sender])['next_nonce']} (A: {a_acc['next_nonce']})")
        raise
    print(f"B relearned {b.rpc('getmempoolinfo')['size']} pending transfers {time.monotonic() - restart:.1f} s after "
          f"its restart; next nonce {b.rpc('getaccount', [sender])['next_nonce']} == A's")
    print("p2p_mempool_relearn: OK")


if __name__ == "__main__":
    main(body)
