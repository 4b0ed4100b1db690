"""A small functional-test framework (Python stdlib only): starts real peerchain processes on
loopback, talks to them over JSON-RPC, waits on conditions with deadlines.

Each scenario is one file; it calls `main(body)` where body(ctx) does the work and raises
AssertionError (or returns) — the framework cleans up processes and temp dirs either way.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request


def free_port(host="127.0.0.1"):
    # Below Linux's ephemeral range (32768+): no outgoing connection can take the port between
    # this check and the node's bind.
    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")


def free_port_run(count, host="127.0.0.1"):
    """The first of `count` consecutive free ports (a testnet's nodes take BASE, BASE+1, ...)."""
    def free(port):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
                return True
            except OSError:
                return False
    for _ in range(200):
        base = random.randint(20000, 32000 - count)
        if all(free(base + k) for k in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def cli_runner(ctx, env):
    """peerchain-cli with `env`, asserting its exit code: cli(*args, rc=0, timeout=90)."""
    def cli(*args, rc=0, timeout=90):
        r = subprocess.run([ctx.path("peerchain-cli")] + [str(a) for a in args], capture_output=True, text=True,
                           env=env, timeout=timeout)
        assert r.returncode == rc, f"peerchain-cli {' '.join(map(str, args))}: exit {r.returncode}, want {rc}: {r.stderr}"
        return r
    return cli


def compact_blocks(node):
    """The node's compact relay counters (getnetworkinfo.compact_blocks)."""
    return node.rpc("getnetworkinfo")["compact_blocks"]


def wait_for(cond, timeout, what, interval=0.2):
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # a node may be briefly unreachable
            last_exc = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for: {what}" + (f" (last error: {last_exc})" if last_exc else ""))


class RpcError(Exception):
    def __init__(self, error):
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.error = error


class Node:
    """One node process. `cmd` is the full argv; `port` is where its API answers."""

    def __init__(self, ctx, name, cmd, port, cwd, host="127.0.0.1"):
        self.ctx, self.name, self.cmd, self.port, self.cwd, self.host = ctx, name, cmd, port, cwd, host
        self.proc = None
        self.token = None  # sent as the API token (admin methods) when set
        self.log_path = os.path.join(ctx.tmp, f"{name}.log")

    def start(self, wait=True):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            wait_for(lambda: self.rpc("getblockchaininfo") is not None, 30, f"{self.name} to answer RPC")
        return self

    def rpc(self, method, params=None, timeout=30):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(f"http://{self.host}:{self.port}/", data=body, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            res = json.loads(r.read())
        if res.get("error"):
            raise RpcError(res["error"])
        return res["result"]

    def metric(self, name):
        """The value of metric `name` (a line `name VALUE` of /metrics), or None."""
        with urllib.request.urlopen(f"http://{self.host}:{self.port}/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return None

    def get(self, path, timeout=10):
        with urllib.request.urlopen(f"http://{self.host}:{self.port}{path}", timeout=timeout) as r:
            return r.status, json.loads(r.read())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout=30):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.name} did not stop within {timeout}s of SIGTERM")
        return self.proc.returncode if self.proc else None

    def tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


class Context:
    def __init__(self, bin_dir):
        self.bin = os.path.abspath(bin_dir)
        self.tmp = tempfile.mkdtemp(prefix="peerchain-ft-")
        self.nodes = []

    def path(self, prog):
        return os.path.join(self.bin, prog)

    def seed_server(self, port, peers, name=None):
        """A node started with the seed's command line: server PORT N HOST PORT ..."""
        cmd = [self.path("server"), str(port), str(len(peers))]
        for host, p in peers:
            cmd += [host, str(p)]
        n = Node(self, name or f"server-{port}", cmd, port, cwd=self.tmp)
        self.nodes.append(n)
        return n

    def daemon(self, name, port, args, host="127.0.0.1", listen=None):
        home = os.path.join(self.tmp, name)
        cmd = [self.path("peerchaind"), "--home", home, "--listen", listen or host, "--port", str(port)] + list(args)
        n = Node(self, name, cmd, port, cwd=self.tmp, host=host)
        self.nodes.append(n)
        return n

    def client(self, *args, check=True, timeout=60):
        r = subprocess.run([self.path("client")] + [str(a) for a in args], capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"client {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}")
        return r

    def cleanup(self):
        for n in self.nodes:
            try:
                n.kill9()
            except Exception:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def main(body):
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} BIN_DIR")
        sys.exit(2)
    ctx = Context(sys.argv[1])
    name = os.path.basename(sys.argv[0])
    started = time.monotonic()
    try:
        body(ctx)
    except Exception:
        traceback.print_exc()
        for n in ctx.nodes:
            print(f"---- last lines of {n.name} ({n.log_path})")
            print(n.tail())
        print(f"FAIL {name} after {time.monotonic() - started:.1f}s")
        ctx.cleanup()
        sys.exit(1)
    ctx.cleanup()
    print(f"PASS {name} in {time.monotonic() - started:.1f}s")


class WsClient:
    """Minimal RFC 6455 client of a node's event stream (GET /ws...): reads text frames as JSON,
    skips control frames. Standard library only."""

    def __init__(self, host, port, target="/ws", timeout=30):
        import base64
        self.s = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.s.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.buf = b""

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise AssertionError("websocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def next(self):
        """The next text frame's JSON (control frames are skipped)."""
        import struct
        while True:
            b0, b1 = self._need(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._need(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._need(8))[0]
            payload = self._need(n)
            if b0 & 0x0F == 1:
                return json.loads(payload)
