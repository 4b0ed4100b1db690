#!/usr/bin/env python3
"""sendtransaction(s) throughput of one fresh dev node (not mining), for before/after
comparisons of the admission path (ADR 0011: the synced mempool journal).

  python3 bench/sendtx_throughput.py BIN_DIR batch    # sendtransactions, 500 per call, 1 client
  python3 bench/sendtx_throughput.py BIN_DIR single   # sendtransaction, 8 client threads

Transfers are pre-signed once (tests/chaos/fastsign.py) and cached in /tmp. Prints accepted
transfers per second. Not a test: no assertion on time (run it on a quiet machine, 3+ times)."""
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "functional"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "chaos"))
import bip340  # noqa: E402
import fastsign  # noqa: E402
from framework import free_port, wait_for  # noqa: E402

SENDERS, PER = 98, 300  # dev accounts 1..98 send to dev account 99
CACHE = f"/tmp/peerchain-sendtx-{SENDERS}x{PER}.pkl"
HOST = "127.0.0.86"


def signed_transfers():
    if os.path.exists(CACHE):
        with open(CACHE, "rb") as f:
            return pickle.load(f)
    to = bip340.pubkey(bip340.dev_secret(99))
    out = [[fastsign.Signer(bip340.dev_secret(1 + a)).transfer(to, 10, 1, n).hex() for n in range(PER)]
           for a in range(SENDERS)]
    with open(CACHE, "wb") as f:
        pickle.dump(out, f)
    return out


def main():
    bin_dir, mode = sys.argv[1], sys.argv[2]
    signed = signed_transfers()
    port = free_port(HOST)
    home = tempfile.mkdtemp(prefix="peerchain-sendtx-")
    node = subprocess.Popen([os.path.join(bin_dir, "peerchaind"), "--home", home, "--listen", HOST, "--port", str(port),
                             "--network", "dev", "--no-discover"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def rpc(method, params):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        req = urllib.request.Request(f"http://{HOST}:{port}/", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())

    try:
        wait_for(lambda: rpc("getblockchaininfo", []), 30, "the node to answer")
        started = time.monotonic()
        accepted = 0
        if mode == "batch":
            flat = [signed[a][k] for k in range(PER) for a in range(SENDERS)]  # each sender's nonces in order
            for i in range(0, len(flat), 500):
                accepted += sum(1 for r in rpc("sendtransactions", [flat[i:i + 500]])["result"] if "id" in r)
        else:
            counts, lock = [], threading.Lock()

            def worker(accounts):
                c = sum(1 for a in accounts for h in signed[a][:40] if "result" in rpc("sendtransaction", [h]))
                with lock:
                    counts.append(c)

            threads = [threading.Thread(target=worker, args=(range(w, SENDERS, 8),)) for w in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            accepted = sum(counts)
        seconds = time.monotonic() - started
        print(f"{mode}: {accepted} accepted in {seconds:.2f}s = {accepted / seconds:.0f} transfers/s")
    finally:
        node.terminate()
        node.wait()
        subprocess.run(["rm", "-rf", home])


if __name__ == "__main__":
    main()
