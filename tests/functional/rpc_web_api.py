#!/usr/bin/env python3
"""The reads and HTTP behaviour the web view relies on, without a browser: getchaintips and
getblocktree across a real fork and reorg, getpeerinfo's api_address, the embedded page (content
types, CSP, ETag/304, unknown paths), CORS for reads and public JSON-RPC, OPTIONS preflight, and
admin methods closed to any request carrying Origin."""
import json
import urllib.error
import urllib.request

from framework import RpcError, free_port, main, wait_for

H = "127.0.0.1"


def http(port, path="/", method="GET", body=None, headers=None):
    req = urllib.request.Request(f"http://{H}:{port}{path}", data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def rpc_body(method, params=None):
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()


def body(ctx):
    pa, pb = free_port(), free_port()
    a = ctx.daemon("a", pa, ["--network", "dev", "--no-discover"]).start()
    b = ctx.daemon("b", pb, ["--network", "dev", "--no-discover"]).start()

    # --- the page
    status, hdr, page = http(pa, "/")
    assert status == 200 and hdr["Content-Type"].startswith("text/html"), (status, hdr)
    assert b'<script type="module" src="/app.js">' in page
    csp = hdr["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp, csp
    assert hdr["Cache-Control"] == "no-cache" and hdr["ETag"].startswith('"'), hdr
    assert http(pa, "/index.html")[2] == page
    assert http(pa, "/", headers={"If-None-Match": hdr["ETag"]})[0] == 304
    for path, ctype in (("/app.js", "text/javascript"), ("/api.js", "text/javascript"),
                        ("/network.js", "text/javascript"), ("/style.css", "text/css")):
        s, h, _ = http(pa, path)
        assert s == 200 and h["Content-Type"].startswith(ctype), (path, s, h)
    s, _, b404 = http(pa, "/nope.js")
    assert s == 404 and json.loads(b404)["error"] == {"code": -5, "message": "not found: /nope.js"}, b404
    s, _, _ = http(pa, "/../etc/passwd")
    assert s in (400, 404), s
    # GET / does not break POST / (JSON-RPC).
    assert a.rpc("getblockchaininfo")["height"] == 0

    # --- CORS: reads and public JSON-RPC open to any origin; admin never.
    s, h, _ = http(pa, "/status", headers={"Origin": "http://elsewhere.example"})
    assert s == 200 and h.get("Access-Control-Allow-Origin") == "*", h
    s, h, _ = http(pa, "/", method="OPTIONS", headers={"Origin": "http://x.example",
                                                         "Access-Control-Request-Method": "POST"})
    assert s == 204 and h["Access-Control-Allow-Origin"] == "*" and "POST" in h["Access-Control-Allow-Methods"], h
    assert "authorization" not in h["Access-Control-Allow-Headers"].lower(), h
    s, h, out = http(pa, "/", "POST", rpc_body("getchaintips"), {"Origin": "http://x.example", "Content-Type": "application/json"})
    assert h.get("Access-Control-Allow-Origin") == "*" and json.loads(out)["result"][0]["status"] == "active", (h, out)
    s, h, out = http(pa, "/", "POST", rpc_body("generate", [1]), {"Origin": "http://x.example",
                                                                   "Content-Type": "application/json"})
    assert json.loads(out)["error"]["code"] == -403, out  # no token configured, still closed to pages
    # A page's "simple" POST (a form or text/plain type: no preflight) is refused before it runs
    # (docs/adr/0012-hostile-clients.md).
    s, h, out = http(pa, "/", "POST", rpc_body("getchaintips"), {"Origin": "http://x.example"})
    assert s == 415 and json.loads(out)["error"]["code"] == -32600, (s, out)
    assert a.rpc("getblockchaininfo")["height"] == 0
    s, h, out = http(pa, "/", "POST", rpc_body("generate", [1]))  # non-browser client on loopback: allowed
    assert "Access-Control-Allow-Origin" not in h and len(json.loads(out)["result"]) == 1, (h, out)

    # --- getblocktree / getchaintips on one chain
    a.rpc("generate", [2])
    tree = a.rpc("getblocktree", [0, 10])
    assert [x["height"] for x in tree["blocks"]] == [0, 1, 2, 3] and not tree["truncated"], tree
    assert all(x["status"] == "active" and x["in_active_chain"] for x in tree["blocks"]), tree
    assert tree["blocks"][1]["prev"] == tree["blocks"][0]["id"] and tree["blocks"][0]["tx_count"] == 0
    assert a.rpc("getblocktree", [0, 2])["truncated"] is True
    assert a.rpc("getblocktree")["from_height"] == 0
    assert [x["height"] for x in a.rpc("getblocktree", {"from_height": 2})["blocks"]] == [2, 3]
    for bad in ([0, 0], [0, 2001], [-1], ["x"]):
        try:
            a.rpc("getblocktree", bad)
            raise AssertionError(f"getblocktree {bad} accepted")
        except RpcError as e:
            assert e.error["code"] == -32602, e.error

    # --- a fork: b mines a longer branch alone, then a joins it and reorganises.
    a_only = a.rpc("generate", [1])  # a: height 4 on its own branch
    b_branch = b.rpc("generate", [6])
    assert a.rpc("addpeer", [f"{H}:{pb}"]) is True
    wait_for(lambda: a.rpc("getblockchaininfo")["tip"] == b_branch[-1], 30, "a to reorganise onto b's branch")
    tips = a.rpc("getchaintips")
    active = [t for t in tips if t["status"] == "active"]
    forks = [t for t in tips if t["status"] == "valid-fork"]
    assert len(active) == 1 and active[0]["id"] == b_branch[-1] and active[0]["branchlen"] == 0, tips
    assert any(t["id"] == a_only[-1] and t["height"] == 4 and t["branchlen"] == 4 for t in forks), tips
    tree = a.rpc("getblocktree", [1, 100])
    stale = [x for x in tree["blocks"] if not x["in_active_chain"]]
    assert {x["id"] for x in stale} >= set(a_only) and all(x["status"] == "valid-fork" for x in stale), stale
    assert tree["tip"] == b_branch[-1] and tree["height"] == 6

    # --- getpeerinfo: where each peer's API answers (peers share one port for P2P and HTTP)
    wait_for(lambda: len(b.rpc("getpeerinfo")) == 1, 30, "b to see a")
    out_peer = a.rpc("getpeerinfo")[0]
    in_peer = b.rpc("getpeerinfo")[0]
    assert out_peer["api_address"] == f"{H}:{pb}", out_peer
    assert in_peer["inbound"] and in_peer["api_address"] == f"{H}:{pa}", in_peer
    assert http(pa, "/health")[0] == 200
    host, port = in_peer["api_address"].rsplit(":", 1)
    assert http(int(port), "/status")[0] == 200
    for n in (a, b):
        assert n.stop() == 0


if __name__ == "__main__":
    main(body)
