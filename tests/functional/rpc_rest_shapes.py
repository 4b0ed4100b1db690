#!/usr/bin/env python3
"""The API fits people's habits (issue 14): REST errors in one shape with the JSON-RPC codes
({"error": {"code", "message"}}), REST /mempool, /peers and a latest-blocks list, /ws?topics=
refusing an unknown topic, and /metrics with times in seconds and a histogram of API latency."""
import json
import socket
import urllib.error
import urllib.request

from framework import free_port, main


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def body(ctx):
    port = free_port()
    n = ctx.daemon("n0", port, [])
    n.start()
    n.rpc("generate", [12])

    # Errors: one shape, the JSON-RPC code inside, the HTTP status to match.
    for path, status, code in (("/blocks/999", 404, -5), ("/tx/" + "00" * 32, 404, -5), ("/nope", 404, -5),
                               ("/blocks/xyz", 400, None), ("/blocks?count=0", 400, -32602)):
        st, text = get(port, path)
        err = json.loads(text)["error"]
        assert st == status and isinstance(err, dict) and isinstance(err["code"], int) and err["message"], \
            (path, st, text)
        if code is not None:
            assert err["code"] == code, (path, err)
    req = urllib.request.Request(f"http://127.0.0.1:{port}/status", method="DELETE")
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("DELETE accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 405 and json.loads(e.read())["error"]["code"] == -32600

    # New reads.
    st, text = get(port, "/blocks")
    latest = json.loads(text)
    assert st == 200 and [b["height"] for b in latest] == list(range(12, 2, -1)), latest
    assert latest[0]["id"] == n.rpc("getblockhash", [12]) and latest[0]["miner"].startswith("pcdev1")
    st, text = get(port, "/blocks?count=3")
    assert [b["height"] for b in json.loads(text)] == [12, 11, 10]
    st, text = get(port, "/mempool")
    assert st == 200 and json.loads(text)["size"] == 0, text
    st, text = get(port, "/peers")
    assert st == 200 and json.loads(text) == [], text

    # /ws?topics= with a topic the node never publishes: 400, not a silent subscription.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /ws?topics=block,blokc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        answer = s.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 400") and "unknown topic 'blokc'" in answer, answer

    # Metrics: seconds, and a latency histogram whose count moves with requests.
    st, text = get(port, "/metrics")
    assert "peerchain_tip_time_seconds " in text and "peerchain_tip_time_ms" not in text
    tip_s = float(next(l.split()[1] for l in text.splitlines() if l.startswith("peerchain_tip_time_seconds ")))
    assert abs(tip_s * 1000 - n.rpc("getblockchaininfo")["tip_time_ms"]) < 1, tip_s
    count0 = n.metric("peerchain_rpc_request_duration_seconds_count")
    assert 'peerchain_rpc_request_duration_seconds_bucket{le="+Inf"}' in text and count0 >= 10, count0
    for _ in range(5):
        n.rpc("getblockcount")
    assert n.metric("peerchain_rpc_request_duration_seconds_count") >= count0 + 5
    assert n.stop() == 0


if __name__ == "__main__":
    main(body)
