#!/usr/bin/env python3
"""Issue 17 — hostile API clients. Each case starts its own dev node on 127.0.0.61 and attacks it
over HTTP from other 127.0.0.6x source addresses; the node must answer with a clear error, keep
its memory bounded and keep serving honest clients:

  deep     a JSON-RPC body nested 200,000 deep (400 KB), and the same as a cross-site text/plain
           POST (what any web page can send without a preflight): refused, the node lives
  budget   one batch of 1,000 `getblock` calls on a ~3 MB block (a 65 KB request): the answer
           stops at the response budget (error -11 for the calls past it), peak RSS bounded
  ws       WebSocket sessions beyond the session limit refused; a client sending a 16 MiB frame
           cut off at once; a silent client (never answers pings) closed after the idle time
  bodies   16 parallel 8 MiB bodies of `[{},{},...]` (and of one call holding millions of
           values): refused before parsing, peak RSS bounded
  slow     260 slow connections from one address: every honest call from another address
           succeeds; a client dripping its request is closed at the request deadline

    python3 tests/functional/rpc_hostile.py build/bin [case ...]     # all cases by default

Each case prints its figures (peak RSS growth from /proc/PID/status VmHWM, calls failed). The
node's address space is capped (RLIMIT_AS, +2 GiB over its size at start) so that a build
without these budgets fails the test instead of exhausting the machine.
"""
import base64
import json
import os
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

from framework import free_port, main, wait_for

NODE = "127.0.0.61"
ATTACKER, ATTACKER2, HONEST = "127.0.0.62", "127.0.0.63", "127.0.0.64"
WS_SOURCES = ["127.0.0.65", "127.0.0.66", "127.0.0.67", "127.0.0.68"]
AS_HEADROOM = 2 << 30
MAX_WS_SESSIONS = 64        # rpc::HttpOptions::max_ws_sessions
WS_IDLE_S = 30              # rpc::HttpOptions::ws_idle_timeout_ms
REQUEST_DEADLINE_S = 30     # rpc::HttpOptions::idle_timeout_ms (whole request)
RESPONSE_BUDGET = 32 << 20  # rpc::DispatchLimits::max_response_bytes


def status(pid):
    st = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            st[k] = v.strip()
    return st


def kib(pid, key):
    return int(status(pid)[key].split()[0])


def start_node(ctx, name):
    port = free_port(NODE)
    n = ctx.daemon(name, port, ["--network", "dev", "--no-discover"], host=NODE).start()
    vm = kib(n.proc.pid, "VmSize") * 1024
    resource.prlimit(n.proc.pid, resource.RLIMIT_AS, (vm + AS_HEADROOM, vm + AS_HEADROOM))
    return n


def connect(src, node, timeout=30):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((node.host, node.port))
    return s


def read_response(s):
    """(status, headers dict, body bytes) of one HTTP/1.1 response with Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response ({data[:80]!r})")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    code = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise ConnectionError("closed in the middle of a response")
        body += chunk
    return code, headers, body[:n]


def post(src, node, body, content_type="application/json", origin=None, timeout=120):
    s = connect(src, node, timeout)
    try:
        head = f"POST / HTTP/1.1\r\nHost: {node.host}:{node.port}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        if origin:
            head += f"Origin: {origin}\r\n"
        try:
            s.sendall(head.encode() + b"\r\n" + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the upload ended: the answer (e.g. a 503) may still be readable
        return read_response(s)
    finally:
        s.close()


def honest_call(node, src=HONEST):
    code, _, body = post(src, node, b'{"jsonrpc":"2.0","id":1,"method":"getblockchaininfo","params":[]}', timeout=10)
    return code == 200 and "result" in json.loads(body)


class PeakSampler:
    """Samples the node's VmHWM every 50 ms while an attack runs, so the peak is known even when
    the node dies of it (a dead process has no /proc status to read afterwards)."""

    def __init__(self, node):
        self.node, self.peak_kib, self.stop = node, kib(node.proc.pid, "VmHWM"), threading.Event()
        self.before_kib = self.peak_kib
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop.wait(0.05):
            try:
                self.peak_kib = max(self.peak_kib, kib(self.node.proc.pid, "VmHWM"))
            except (OSError, KeyError, ValueError):
                return

    def growth_mib(self):
        self.stop.set()
        self.t.join()
        try:
            self.peak_kib = max(self.peak_kib, kib(self.node.proc.pid, "VmHWM"))
        except (OSError, KeyError, ValueError):
            pass
        return (self.peak_kib - self.before_kib) / 1024


# --- deep: JSON nested 200,000 deep, also as a cross-site simple request.
def case_deep(ctx):
    depth = 200_000
    deep = (b'{"jsonrpc":"2.0","id":1,"method":"getblockchaininfo","params":' + b"[" * depth + b"]" * depth + b"}")
    outcomes = []
    # As a client would send it, then as any page the operator opens can send it to a loopback
    # node without a preflight (a "simple" cross-site request); each against a fresh node.
    for label, ctype, origin, want in (("application/json", "application/json", None, 200),
                                       ("cross-site text/plain", "text/plain", "http://attacker.example", 415)):
        n = start_node(ctx, "deep-" + label.split()[0].replace("/", "-"))
        try:
            code, headers, body = post(ATTACKER, n, deep, content_type=ctype, origin=origin)
        except (ConnectionError, OSError) as e:
            code, headers, body = None, {}, repr(e).encode()
        if code is None:  # closed without an answer: give a dying node a moment to be reaped
            try:
                n.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        alive = n.alive()
        print(f"deep: {label} POST of {len(deep) // 1000} KB nested {depth} deep -> "
              f"{code} {body[:100].decode(errors='replace')}; node alive: {alive}"
              + ("" if alive else f" (exit status {n.proc.returncode})"))
        outcomes.append((label, alive, code, want, headers, body))
        if alive and label == "application/json":
            assert n.stop() == 0
    for label, alive, code, want, headers, body in outcomes:
        assert alive, f"the node died on a {label} body nested {depth} deep"
        assert code == want, f"{label}: {code} {body[:200]!r} (wanted {want})"
    assert json.loads(outcomes[0][5])["error"]["code"] == -32700
    assert outcomes[1][4].get("access-control-allow-origin") == "*"
    code, _, body = post(ATTACKER, n, b'{"id":1,"method":"getblockchaininfo"}', content_type="application/x-www-form-urlencoded",
                         origin="null")
    assert code == 415, (code, body)
    # A page's own application/json POST (the web view's) still works; so do clients without Origin.
    code, _, body = post(HONEST, n, b'{"id":1,"method":"getblockchaininfo"}', origin=f"http://{NODE}:{n.port}")
    assert code == 200 and "result" in json.loads(body), (code, body)
    code, _, body = post(HONEST, n, b'{"id":1,"method":"getblockchaininfo"}', content_type=None)
    assert code == 200 and "result" in json.loads(body), (code, body)
    print("deep: text/plain and form POSTs from a page refused with 415; the node lives")
    assert n.stop() == 0


# --- budget: 1,000 getblock calls on a ~3 MB block in one batch.
def case_budget(ctx):
    n = start_node(ctx, "budget")
    senders, per_sender = 5, 4000
    for i in range(1, senders + 1):  # signed in C++ by the seed client, 4,000 per dev account
        ctx.client(NODE, n.port, i, 0, per_sender, 10, timeout=120)
    wait_for(lambda: n.rpc("getmempoolinfo")["size"] >= senders * per_sender, 60, "the transfers in the mempool")
    n.rpc("generate", [1], timeout=120)
    info = n.rpc("getblock", [1, 1])
    print(f"budget: block 1 holds {info['tx_count']} transfers, {info['size'] / 1e6:.1f} MB")
    assert info["size"] > 3_000_000, info["size"]
    calls = [{"jsonrpc": "2.0", "id": i, "method": "getblock", "params": [1]} for i in range(1000)]
    body = json.dumps(calls).encode()
    peak = PeakSampler(n)
    t0 = time.monotonic()
    try:
        code, _, res = post(ATTACKER, n, body, timeout=300)
    except (ConnectionError, OSError) as e:
        code, res = None, repr(e).encode()
    took = time.monotonic() - t0
    growth = peak.growth_mib()
    alive = n.alive()
    print(f"budget: {len(body) // 1000} KB request -> {code}, {len(res) / 1e6:.1f} MB answer in {took:.1f}s; "
          f"peak RSS +{growth:.0f} MiB; node alive: {alive}")
    assert alive, "the node died answering a 1,000-call getblock batch"
    assert code == 200, (code, res[:200])
    answers = json.loads(res)
    full = [a for a in answers if "result" in a]
    cut = [a for a in answers if a.get("error", {}).get("code") == -11]
    other = [a for a in answers if "result" not in a and a.get("error", {}).get("code") != -11]
    print(f"budget: {len(full)} calls answered, {len(cut)} refused with -11, {len(other)} other errors"
          + (f" (first: {other[0]['error']})" if other else ""))
    assert not other, other[0]
    assert full and cut and len(full) + len(cut) == 1000
    assert [a["id"] for a in cut] == list(range(len(full), 1000)), "ids of the refused calls"
    assert len(res) <= RESPONSE_BUDGET + len(json.dumps(full[0])) + 1000, len(res)
    assert growth < 400, f"peak RSS grew by {growth:.0f} MiB answering one batch"
    assert honest_call(n)
    assert n.stop() == 0


# --- ws: session limit, frame size, idle timeout.
class Ws:
    def __init__(self, src, node):
        self.s = connect(src, node, timeout=15)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET /ws HTTP/1.1\r\nHost: {node.host}:{node.port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            c = self.s.recv(1)
            if not c:
                break
            head += c
        self.status = int(head.split()[1]) if head.startswith(b"HTTP/1.1") else None

    def frame(self, payload_len, send_bytes):
        """A masked binary frame header announcing payload_len bytes, then send_bytes of payload."""
        hdr = bytes([0x82, 0x80 | 127]) + struct.pack(">Q", payload_len) + os.urandom(4)
        self.s.sendall(hdr)
        chunk = b"\0" * (1 << 20)
        sent = 0
        while sent < send_bytes:
            self.s.sendall(chunk[:min(len(chunk), send_bytes - sent)])
            sent += min(len(chunk), send_bytes - sent)

    def closed_by_server(self, timeout):
        """True once the server closes (EOF or reset) within timeout; records pings seen."""
        self.s.settimeout(timeout)
        self.pings = 0
        deadline = time.monotonic() + timeout
        buf = b""
        try:
            while time.monotonic() < deadline:
                self.s.settimeout(max(0.1, deadline - time.monotonic()))
                c = self.s.recv(65536)
                if not c:
                    return True
                buf += c
                while len(buf) >= 2:  # count server frames; never answer (a silent client)
                    n = buf[1] & 0x7F
                    if len(buf) < 2 + n:
                        break
                    if buf[0] & 0x0F == 0x9:
                        self.pings += 1
                    buf = buf[2 + n:]
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        return False


def case_ws(ctx):
    n = start_node(ctx, "ws")
    problems = []  # every part runs, so a failing build shows all its figures

    def check(ok, what):
        if not ok:
            problems.append(what)
    silent = Ws(HONEST, n)
    assert silent.status == 101, silent.status
    t_silent = time.monotonic()
    # Session limit: 80 sessions from four addresses (20 each: under the per-address limit).
    sessions = [Ws(WS_SOURCES[i % len(WS_SOURCES)], n) for i in range(80)]
    accepted = sum(1 for w in sessions if w.status == 101)
    refused = sum(1 for w in sessions if w.status == 503)
    clients = n.metric("peerchain_websocket_clients")
    print(f"ws: 1 + 80 sessions asked: {accepted + 1} accepted, {refused} refused with 503; "
          f"/metrics websocket clients {clients}")
    assert honest_call(n), "an honest call failed beside the WebSocket sessions"
    check(accepted + 1 <= MAX_WS_SESSIONS and refused == 81 - MAX_WS_SESSIONS,
          f"{accepted + 1} WebSocket sessions accepted, {refused} refused (limit {MAX_WS_SESSIONS})")
    for w in sessions:
        w.s.close()
    wait_for(lambda: n.metric("peerchain_websocket_clients") == 1, 20, "the closed sessions to be forgotten")
    # A client frame announcing 16 MiB: cut off after its header (it never gets to buffer 8 MiB).
    peak = PeakSampler(n)
    big = [Ws(WS_SOURCES[i % len(WS_SOURCES)], n) for i in range(10)]
    cut = 0
    for w in big:
        assert w.status == 101, w.status
        try:
            w.frame(16 << 20, 8 << 20)
        except (BrokenPipeError, ConnectionResetError):
            pass
    for w in big:
        cut += w.closed_by_server(5)
    growth = peak.growth_mib()
    print(f"ws: 10 clients sent 8 MiB of a 16 MiB frame: {cut} cut off; peak RSS +{growth:.0f} MiB")
    for w in big:
        w.s.close()
    check(cut == 10, f"only {cut} of 10 clients sending a 16 MiB frame were cut off")
    check(growth < 40, f"peak RSS grew by {growth:.0f} MiB for 10 partial frames")
    # The silent client: pinged, then closed after the idle time.
    left = WS_IDLE_S + 15 - (time.monotonic() - t_silent)
    closed = silent.closed_by_server(max(1, left))
    print(f"ws: the silent client {'was closed' if closed else 'is still open'} after "
          f"{time.monotonic() - t_silent:.0f}s ({silent.pings} pings seen)")
    check(closed, f"a silent WebSocket client still open after {WS_IDLE_S + 15}s")
    assert not problems, "; ".join(problems)
    assert honest_call(n)
    assert n.stop() == 0


# --- bodies: 16 parallel 8 MiB bodies of [{},{},...].
def case_bodies(ctx):
    n = start_node(ctx, "bodies")
    items = (8 << 20) // 3 - 4
    batch = b"[" + b"{}," * (items - 1) + b"{}]"
    one_call = b'{"jsonrpc":"2.0","id":1,"method":"sendtransactions","params":[[' + b"{}," * (items - 20) + b"{}]]}"
    assert len(batch) <= 8 << 20 and len(one_call) <= 8 << 20
    peak = PeakSampler(n)
    results = [None] * 16

    def attack(i):
        try:
            code, _, body = post(ATTACKER if i % 2 else ATTACKER2, n, batch if i % 2 else one_call, timeout=300)
            err = json.loads(body).get("error") if body.startswith(b"{") else None
            results[i] = (code, err.get("code") if isinstance(err, dict) else err)
        except Exception as e:  # noqa: BLE001 (reported below)
            results[i] = (None, repr(e)[:80])

    threads = [threading.Thread(target=attack, args=(i,)) for i in range(16)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    took = time.monotonic() - t0
    growth = peak.growth_mib()
    alive = n.alive()
    print(f"bodies: 16 x 8 MiB ({items} values each) in {took:.1f}s -> {results}; peak RSS +{growth:.0f} MiB; "
          f"alive: {alive}" + ("" if alive else f" (exit status {n.proc.poll()}; {n.tail(3)})"))
    assert alive, "the node died on 16 parallel 8 MiB bodies"
    for code, err in results:
        # Refused: by the JSON budget, or (503, or a close while uploading) by the body-memory budget.
        assert (code == 200 and err in (-32600, -32700)) or code == 503 or (code is None and "Connection" in err), \
            (code, err)
    assert growth < 300, f"peak RSS grew by {growth:.0f} MiB for 16 parallel bodies"
    assert honest_call(n)
    assert n.stop() == 0


# --- slow: 260 slow connections from one address; honest calls from another.
def case_slow(ctx):
    n = start_node(ctx, "slow")
    # One client drips its request, a byte a second: closed at the request deadline.
    drip = connect(ATTACKER2, n)
    drip_t0 = time.monotonic()
    drip_state = {"closed_after": None}

    def dripper():
        msg = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b" " * 1000
        try:
            for b in msg:
                drip.sendall(bytes([b]))
                time.sleep(1)
                if time.monotonic() - drip_t0 > REQUEST_DEADLINE_S + 20:
                    return
        except (BrokenPipeError, ConnectionResetError):
            drip_state["closed_after"] = time.monotonic() - drip_t0

    dt = threading.Thread(target=dripper, daemon=True)
    dt.start()
    slow = []
    for _ in range(260):  # each starts a request and never finishes it
        try:
            s = connect(ATTACKER, n, timeout=5)
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
            slow.append(s)
        except OSError:
            pass
    refused = 0
    for s in slow:  # which of them did the node refuse (a 503 and a close)?
        s.settimeout(0.05)
        try:
            if s.recv(100).startswith(b"HTTP/1.1 503"):
                refused += 1
        except (socket.timeout, OSError):
            pass
    ok = failed = 0
    errors = {}
    for _ in range(200):
        try:
            if honest_call(n):
                ok += 1
                continue
            failed += 1
        except Exception as e:  # noqa: BLE001 (counted)
            failed += 1
            errors[repr(e)[:60]] = errors.get(repr(e)[:60], 0) + 1
    print(f"slow: 260 slow connections from {ATTACKER} ({refused} refused at once); honest calls from {HONEST}: "
          f"{ok} ok, {failed} failed ({100 * failed / 200:.0f}%) {errors or ''}")
    assert failed == 0, f"{failed} of 200 honest calls failed beside one address's slow connections"
    for s in slow:
        s.close()
    dt.join(REQUEST_DEADLINE_S + 25)
    print(f"slow: the dripping client was closed after {drip_state['closed_after'] or 'never'} s")
    assert drip_state["closed_after"] is not None and drip_state["closed_after"] <= REQUEST_DEADLINE_S + 5, drip_state
    drip.close()
    assert n.stop() == 0


CASES = {"deep": case_deep, "budget": case_budget, "ws": case_ws, "bodies": case_bodies, "slow": case_slow}


def body(ctx):
    names = [a for a in sys.argv[2:]] or list(CASES)
    for name in names:
        print(f"== {name}")
        CASES[name](ctx)


if __name__ == "__main__":
    chosen = sys.argv[2:]
    for c in chosen:
        if c not in CASES:
            print(f"unknown case {c}; cases: {' '.join(CASES)}")
            sys.exit(2)
    main(body)
