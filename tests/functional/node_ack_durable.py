#!/usr/bin/env python3
"""Issue 17 — acknowledged means durable: one node (not mining, so every transfer stays in its
mempool), clients sending signed transfers in batches with sendtransactions from several
threads, kill -9 in mid-stream, restart with the same command: every transfer the node
acknowledged (answered with its id) is in its mempool or chain again. Prints how many were
acknowledged and how many were lost."""
import os
import sys
import threading

from framework import free_port, main, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "chaos"))
import bip340  # noqa: E402
import fastsign  # noqa: E402

H = "127.0.0.81"
SENDERS = 4        # one client thread per sender: each sender's nonces go in order
PER_SENDER = 400   # transfers signed per sender
BATCH = 25         # transfers per sendtransactions call
KILL_AFTER = 600   # acknowledgements before the kill -9


def body(ctx):
    port = free_port(H)
    node = ctx.daemon("ack", port, ["--network", "dev", "--no-discover"], host=H).start()
    to = bip340.pubkey(bip340.dev_secret(9))
    signed = []  # per sender: [(txid hex, bytes hex)]
    for s in range(SENDERS):
        signer = fastsign.Signer(bip340.dev_secret(1 + s))
        txs = []
        for n in range(PER_SENDER):
            raw = signer.transfer(to, 100 + n, 1, n)
            txs.append((bip340.txid(raw), raw.hex()))
        signed.append(txs)

    acked = set()
    lock = threading.Lock()
    enough = threading.Event()

    def client(txs):
        for i in range(0, len(txs), BATCH):
            chunk = txs[i:i + BATCH]
            try:
                res = node.rpc("sendtransactions", [[h for _, h in chunk]], timeout=10)
            except Exception:
                return  # the node is gone: what was answered before counts, nothing after
            with lock:
                for (tid, _), r in zip(chunk, res):
                    if "id" in r:
                        assert r["id"] == tid, (r, tid)
                        acked.add(tid)
                if len(acked) >= KILL_AFTER:
                    enough.set()

    threads = [threading.Thread(target=client, args=(txs,)) for txs in signed]
    for t in threads:
        t.start()
    enough.wait(timeout=120)
    node.kill9()
    for t in threads:
        t.join(timeout=30)
    with lock:
        acknowledged = set(acked)
    assert len(acknowledged) >= KILL_AFTER, f"only {len(acknowledged)} acknowledged before the kill"

    node.start()

    def status(tid):
        try:
            return node.rpc("gettransaction", [tid])["status"]
        except Exception:
            return None

    lost = [t for t in acknowledged if status(t) not in ("pending", "confirmed")]
    print(f"acknowledged before kill -9: {len(acknowledged)}; lost after restart: {len(lost)}; "
          f"mempool after restart: {node.rpc('getmempoolinfo')['size']}")
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged transfers lost, e.g. {lost[:3]}"
    # The restarted node keeps taking the senders' next nonces (its nonce view is right).
    info = node.rpc("getaccount", [bip340.address(bip340.pubkey(bip340.dev_secret(1)))])
    assert info["next_nonce"] >= 1, info
    assert node.stop() == 0


if __name__ == "__main__":
    main(body)
