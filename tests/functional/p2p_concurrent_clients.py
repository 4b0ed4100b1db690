#!/usr/bin/env python3
"""Issue 3, test 7 — several clients submitting at once to the same node while all nodes mine:
every transfer ends in every chain."""
import threading

from framework import free_port, main, wait_for

H = "127.0.0.1"
CLIENTS = 8
PER_CLIENT = 25


def body(ctx):
    ports = [free_port() for _ in range(3)]
    nodes = [ctx.seed_server(p, [(H, q) for q in ports if q != p]).start() for p in ports]
    for n in nodes:
        wait_for(lambda n=n: len(n.rpc("getpeerinfo")) >= 2, 30, f"{n.name} to have 2 peers")
    results, errors = {}, []

    def run(cid):
        try:
            results[cid] = ctx.client(H, ports[0], 10 + cid, 0, PER_CLIENT, 100 + cid).stdout.split()
        except Exception as e:  # recorded, asserted below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    txids = [t for ids in results.values() for t in ids]
    assert len(txids) == CLIENTS * PER_CLIENT and len(set(txids)) == len(txids)

    def all_confirmed():
        for n in nodes:
            batch = [{"jsonrpc": "2.0", "id": i, "method": "gettransaction", "params": [t]} for i, t in enumerate(txids)]
            import json
            import urllib.request
            req = urllib.request.Request(f"http://{H}:{n.port}/", data=json.dumps(batch).encode())
            res = json.loads(urllib.request.urlopen(req, timeout=30).read())
            if not all("result" in r and r["result"]["status"] == "confirmed" for r in res):
                return False
        return True

    wait_for(all_confirmed, 120, "every transfer confirmed on every node", interval=0.5)
    for n in nodes:
        assert n.stop() == 0


if __name__ == "__main__":
    main(body)
