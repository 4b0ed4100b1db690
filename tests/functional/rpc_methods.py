#!/usr/bin/env python3
"""The client API through a real node: every JSON-RPC method, the standard errors and each
transaction rejection reason, REST reads, /metrics, admin token, limits and malformed HTTP.
Transactions are signed here in pure Python (bip340.py), independently of the C++ code."""
import json
import socket
import urllib.error
import urllib.request

import bip340
from framework import RpcError, free_port, main, wait_for

H = "127.0.0.1"


def body(ctx):
    port = free_port()
    node = ctx.daemon("api", port, ["--network", "dev"]).start()
    url = f"http://{H}:{port}/"

    def raw(payload, headers=None):
        req = urllib.request.Request(url, data=payload if isinstance(payload, bytes) else payload.encode(),
                                     headers=headers or {})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def err(method, params=None):
        try:
            node.rpc(method, params or [])
        except RpcError as e:
            return e.error
        raise AssertionError(f"{method} {params} did not fail")

    # --- standard JSON-RPC errors
    assert raw("{oops")["error"]["code"] == -32700
    assert raw('"x"')["error"]["code"] == -32600
    assert raw('{"id":1,"method":"nope"}')["error"]["code"] == -32601
    assert err("getblockhash", ["x"])["code"] == -32602
    assert err("getblockhash", [])["code"] == -32602
    batch = raw('[{"jsonrpc":"2.0","id":1,"method":"getblockhash","params":[0]},{"id":2,"method":"nope"}]')
    assert batch[0]["result"] == node.rpc("getblockchaininfo")["genesis"] and batch[1]["error"]["code"] == -32601

    # --- chain reads
    info = node.rpc("getblockchaininfo")
    for k in ("network", "height", "tip", "cumulative_work", "target", "syncing", "best_header_height"):
        assert k in info, k
    assert info["network"] == "dev" and info["height"] == 0 and info["syncing"] is False
    ids = node.rpc("generate", [3])
    assert len(ids) == 3 and node.rpc("getblockhash", [3]) == ids[-1]
    b = node.rpc("getblock", [2])
    assert b["id"] == ids[1] and b["height"] == 2 and b["confirmations"] == 2 and b["in_active_chain"]
    assert node.rpc("getblock", [ids[1]])["height"] == 2
    assert len(node.rpc("getblock", [2, False])) == 2 * (118 + 1)
    assert node.rpc("getblock", [2, 0]) == node.rpc("getblock", [2, False])
    assert node.rpc("getblock", [2, 1])["txids"] == [] and "txs" not in node.rpc("getblock", [2, 1])
    assert node.rpc("getblock", [2, 2])["txs"] == [] and node.rpc("getblock", [2, True])["txs"] == []
    assert err("getblock", [2, 3])["code"] == -32602
    assert err("getblock", [2, "yes"])["code"] == -32602
    assert err("getblock", [99])["code"] == -5
    assert err("getblock", ["zz"])["code"] == -32602
    assert err("getblockhash", [99])["code"] == -5

    # --- accounts and transactions (signed in Python)
    s1 = bip340.dev_secret(1)
    k1 = bip340.pubkey(s1)
    a1 = bip340.address(k1)
    k2 = bip340.pubkey(bip340.dev_secret(2))
    acct = node.rpc("getaccount", [a1])
    assert acct["balance"] == 10**13 and acct["nonce"] == 0 and acct["next_nonce"] == 0, acct
    bad_addr = a1[:-1] + ("q" if a1[-1] != "q" else "p")
    assert err("getaccount", [bad_addr])["code"] == -32602

    tx0 = bip340.transfer(s1, k2, 500, 1, 0)
    txid0 = node.rpc("sendtransaction", [tx0.hex()])
    assert txid0 == bip340.txid(tx0)
    got = node.rpc("gettransaction", [txid0])
    assert got["status"] == "pending" and got["from"] == a1 and got["amount"] == 500 and got["confirmations"] == 0
    assert node.rpc("getaccount", [a1])["pending"] == 1 and node.rpc("getaccount", [a1])["next_nonce"] == 1
    assert node.rpc("getmempoolinfo")["size"] == 1 and node.rpc("getrawmempool") == [txid0]

    def reason(hexstr):
        e = err("sendtransaction", [hexstr])
        assert e["code"] == -26, e
        return e["data"]["reason"]

    assert reason("zz") == "malformed"
    assert reason(tx0.hex()[:-2]) == "malformed"
    assert reason(tx0.hex()) == "duplicate"
    forged = bytearray(bip340.transfer(s1, k2, 500, 1, 1))
    forged[70] ^= 1  # amount changed after signing
    assert reason(forged.hex()) == "bad-signature"
    assert reason(bip340.transfer(s1, k2, 500, 1, 1, chain_id=1).hex()) == "wrong-chain"
    assert reason(bip340.transfer(s1, k2, 500, 1, 5).hex()) == "nonce-too-high"
    assert reason(bip340.transfer(s1, k2, 10**13, 1, 1).hex()) == "insufficient-funds"
    assert reason(bip340.transfer(s1, k1, 500, 1, 1).hex()) == "self-transfer"
    assert reason(bip340.transfer(s1, k2, 0, 1, 1).hex()) == "bad-amount"
    many = node.rpc("sendtransactions", [[bip340.transfer(s1, k2, 7, 1, 1).hex(), "00", tx0.hex()]])
    assert "id" in many[0] and many[1]["error"]["reason"] == "malformed" and many[2]["error"]["reason"] == "duplicate"

    node.rpc("generate", [1])
    got = node.rpc("waitfortransaction", [txid0, 1, 5000])
    assert got["status"] == "confirmed" and got["confirmations"] == 1 and got["final"] is False
    assert reason(bip340.transfer(s1, k2, 600, 1, 0).hex()) == "nonce-too-low"
    timeout = err("waitfortransaction", [txid0, 100, 300])
    assert timeout["code"] == -10, timeout
    node.rpc("generate", [6])
    assert node.rpc("gettransaction", [txid0])["final"] is True
    assert err("gettransaction", ["00" * 32])["code"] == -5

    # --- peers
    assert node.rpc("getpeerinfo") == []
    assert node.rpc("addpeer", [f"{H}:1"]) is True and node.rpc("removepeer", [f"{H}:1"]) is True
    assert err("addpeer", ["nohostport"])["code"] == -32602

    # --- REST, health, metrics
    st, js = node.get("/status")
    assert st == 200 and js["height"] == node.rpc("getblockchaininfo")["height"]
    st, js = node.get("/blocks/1")
    assert st == 200 and js["id"] == ids[0]
    st, js = node.get(f"/tx/{txid0}")
    assert st == 200 and js["status"] == "confirmed"
    st, js = node.get(f"/accounts/{a1}")
    assert st == 200 and js["nonce"] == 2
    for path in ("/blocks/999", f"/tx/{'00' * 32}"):
        try:
            node.get(path)
            raise AssertionError(path)
        except urllib.error.HTTPError as e:
            assert e.code == 404, (path, e.code)
    st, js = node.get("/health")
    assert st == 200 and js["status"] == "ok"
    with urllib.request.urlopen(f"http://{H}:{port}/metrics", timeout=10) as r:
        metrics = r.read().decode()
    for name in ("peerchain_height", "peerchain_peers", "peerchain_mempool_transactions", "peerchain_tx_accepted_total"):
        assert f"\n{name} " in metrics or metrics.startswith(f"# HELP {name}"), name

    # --- limits and malformed HTTP
    big = b'{"jsonrpc":"2.0","id":1,"method":"getblockchaininfo","params":["' + b"x" * (9 << 20) + b'"]}'
    try:
        raw(big)
        raise AssertionError("oversized body accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 413, e
    except (urllib.error.URLError, ConnectionError):
        pass  # the node answered 413 and closed while the body was still being sent
    s = socket.create_connection((H, port))
    s.sendall(b"GARBAGE / HTTP/9.9\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 400")
    s.close()
    assert node.rpc("getblockchaininfo")["height"] == 10
    assert node.stop() == 0

    # --- admin token: listening beyond loopback, admin methods need it
    port2 = free_port()
    guarded = ctx.daemon("guarded", port2, ["--network", "dev", "--api-token", "s3cret"], listen="0.0.0.0").start()
    try:
        guarded.rpc("generate", [1])
        raise AssertionError("generate without the token")
    except RpcError as e:
        assert e.error["code"] == -403
    req = urllib.request.Request(f"http://{H}:{port2}/", data=b'{"id":1,"method":"generate","params":[1]}',
                                 headers={"Authorization": "Bearer s3cret"})
    assert len(json.loads(urllib.request.urlopen(req, timeout=30).read())["result"]) == 1
    assert guarded.rpc("getblockchaininfo")["height"] == 1  # reads need no token
    assert guarded.stop() == 0


if __name__ == "__main__":
    main(body)
