"""Speaks peerchain's peer protocol from Python (stdlib only), for hostile-peer tests:
frames, hello, blocks and transactions built byte by byte from docs/spec/."""
import hashlib
import os
import socket
import struct
import time

DEV_MAGIC = bytes([0xD9, 0x50, 0x43, 0x44])
HELLO, HELLO_ACK, PING, PONG, DISCONNECT = 0, 1, 2, 3, 4
INV, GETDATA, TX, BLOCK, GETHEADERS, HEADERS = 16, 17, 18, 19, 20, 21
G_X = bytes.fromhex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")


def sha256(b):
    return hashlib.sha256(b).digest()


def sha256d(b):
    return sha256(sha256(b))


def tagged(tag, b):
    t = sha256(tag.encode())
    return sha256(t + t + b)


def compact_size(n):
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def frame(type_, payload, magic=DEV_MAGIC, length=None):
    n = len(payload) if length is None else length
    return magic + struct.pack("<HI", type_, n) + sha256d(payload)[:4] + payload


def hello(genesis_hex, chain_id=2, magic=DEV_MAGIC, nonce=None, height=0, agent=b"hostile/1"):
    nonce = nonce if nonce is not None else struct.unpack("<Q", os.urandom(8))[0]
    return (struct.pack("<I", 1) + magic + struct.pack("<I", chain_id) + bytes.fromhex(genesis_hex) +
            struct.pack("<QHI", nonce, 0, height) + compact_size(len(agent)) + agent)


def merkle(ids):
    if not ids:
        return sha256(b"")
    if len(ids) == 1:
        return sha256(b"\x00" + ids[0])
    k = 1
    while k * 2 < len(ids):
        k *= 2
    return sha256(b"\x01" + merkle(ids[:k]) + merkle(ids[k:]))


def tx_bytes(sender, recipient, amount, fee, nonce, sig, chain_id=2):
    return struct.pack("<I", chain_id) + sender + recipient + struct.pack("<QQQ", amount, fee, nonce) + sig


def txid(tx):
    return tagged("peerchain/txid", tx)


def header(height, prev, merkle_root, time_ms, bits, nonce, miner, version=1):
    return (struct.pack("<HI", version, height) + prev + merkle_root + struct.pack("<QII", time_ms, bits, nonce) + miner)


def target_from_bits(bits):
    size, word = bits >> 24, bits & 0x007FFFFF
    return word >> (8 * (3 - size)) if size <= 3 else word << (8 * (size - 3))


def solve(height, prev, merkle_root, time_ms, bits, miner, want_valid=True):
    """Finds a nonce whose id meets the target (or, want_valid=False, one that does not)."""
    target = target_from_bits(bits)
    for nonce in range(1 << 32):
        h = header(height, prev, merkle_root, time_ms, bits, nonce, miner)
        ok = int.from_bytes(sha256d(h), "big") <= target
        if ok == want_valid:
            return h
    raise RuntimeError("no nonce")


def block(hdr, txs):
    return hdr + compact_size(len(txs)) + b"".join(txs)


class Peer:
    """A raw connection to a node's port, optionally from a chosen source address."""

    def __init__(self, host, port, source=None, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def recv_frame(self, timeout=10):
        """(type, payload), or None when the node closed the connection."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 14:
                type_, n = struct.unpack("<HI", self.buf[4:10])
                if len(self.buf) >= 14 + n:
                    payload = self.buf[14:14 + n]
                    self.buf = self.buf[14 + n:]
                    return type_, payload
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def expect_closed(self, timeout=10):
        """Reads until the node closes; returns the disconnect reason if one was sent."""
        reason = None
        while True:
            try:
                f = self.recv_frame(timeout)
            except TimeoutError:
                raise AssertionError("the node did not close the connection")
            if f is None:
                return reason
            if f[0] == DISCONNECT:
                reason = f[1][1:].decode(errors="replace")

    def handshake(self, genesis_hex, **kw):
        self.send(frame(HELLO, hello(genesis_hex, **kw)))
        got_hello = got_ack = False
        while not (got_hello and got_ack):
            f = self.recv_frame()
            if f is None:
                raise AssertionError("closed during handshake")
            if f[0] == HELLO:
                got_hello = True
                self.send(frame(HELLO_ACK, b""))
            elif f[0] == HELLO_ACK:
                got_ack = True
            elif f[0] == DISCONNECT:
                raise AssertionError("refused: " + f[1][1:].decode(errors="replace"))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
