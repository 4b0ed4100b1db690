"""Speaks peerchain's peer protocol from Python (stdlib only), for hostile-peer tests:
frames, hello, blocks and transactions built byte by byte from docs/spec/. Links are encrypted
as the nodes' are (docs/spec/p2p.md, "Encrypted links"), through the system's libsodium by
ctypes: the primitives are libsodium's, the protocol around them is written here from the spec."""
import ctypes
import ctypes.util
import hashlib
import os
import socket
import struct
import time

DEV_MAGIC = bytes([0xD9, 0x50, 0x43, 0x44])
HELLO, HELLO_ACK, PING, PONG, DISCONNECT = 0, 1, 2, 3, 4
KEY_EXCHANGE, AUTH = 7, 8
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


def read_compact_size(b, off):
    """(value, offset after it) of the CompactSize at b[off]."""
    first = b[off]
    if first < 0xFD:
        return first, off + 1
    size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
    return int.from_bytes(b[off + 1: off + 1 + size], "little"), off + 1 + size


def frame(type_, payload, magic=DEV_MAGIC, length=None):
    n = len(payload) if length is None else length
    return magic + struct.pack("<HI", type_, n) + sha256d(payload)[:4] + payload


def hello(genesis_hex, chain_id=2, magic=DEV_MAGIC, nonce=None, height=0, agent=b"hostile/1", version=1):
    nonce = nonce if nonce is not None else struct.unpack("<Q", os.urandom(8))[0]
    return (struct.pack("<I", version) + magic + struct.pack("<I", chain_id) + bytes.fromhex(genesis_hex) +
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


_sodium = None


def sodium():
    global _sodium
    if _sodium is None:
        _sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
        if _sodium.sodium_init() < 0:
            raise RuntimeError("libsodium cannot start")
    return _sodium


def _buf(n):
    return ctypes.create_string_buffer(n)


def _nonce(counter):
    return struct.pack("<Q", counter) + b"\0" * 4


class SecureLink:
    """One side of an encrypted link (the dialler): key exchange, auth, sealed records."""

    def __init__(self, magic, initiator=True):
        s = sodium()
        self.magic, self.initiator = magic, initiator
        self.eph_pk, self.eph_sk = _buf(32), _buf(32)
        s.crypto_kx_keypair(self.eph_pk, self.eph_sk)
        self.id_pk, self.id_sk = _buf(32), _buf(64)
        s.crypto_sign_keypair(self.id_pk, self.id_sk)
        self.tx = self.rx = None
        self.tx_n = self.rx_n = 0
        self.remote_id = None

    def key_exchange(self):
        return bytes([1, 1]) + self.eph_pk.raw

    def on_key_exchange(self, payload):
        s = sodium()
        assert len(payload) == 34 and payload[:2] == b"\x01\x01", payload.hex()
        self.remote_eph = payload[2:]
        rx, tx = _buf(32), _buf(32)
        f = s.crypto_kx_client_session_keys if self.initiator else s.crypto_kx_server_session_keys
        if f(rx, tx, self.eph_pk, self.eph_sk, self.remote_eph) != 0:
            raise AssertionError("bad key exchange")
        self.rx, self.tx = rx.raw, tx.raw

    def transcript(self, signer_initiator):
        mine, theirs = self.eph_pk.raw, self.remote_eph
        init, resp = (mine, theirs) if self.initiator else (theirs, mine)
        return b"peerchain-p2p-auth-v1" + self.magic + bytes([0 if signer_initiator else 1]) + init + resp

    def auth(self):
        sig = _buf(64)
        m = self.transcript(self.initiator)
        sodium().crypto_sign_detached(sig, None, m, ctypes.c_ulonglong(len(m)), self.id_sk)
        return self.id_pk.raw + sig.raw

    def on_auth(self, payload):
        assert len(payload) == 96
        m = self.transcript(not self.initiator)
        if sodium().crypto_sign_verify_detached(payload[32:], m, ctypes.c_ulonglong(len(m)), payload[:32]) != 0:
            raise AssertionError("the node's auth does not verify")
        self.remote_id = payload[:32].hex()

    def seal(self, data):
        out = b""
        for i in range(0, len(data), 65536):
            piece = data[i:i + 65536]
            length = struct.pack("<I", len(piece) + 16)
            c = _buf(len(piece) + 16)
            clen = ctypes.c_ulonglong()
            sodium().crypto_aead_chacha20poly1305_ietf_encrypt(
                c, ctypes.byref(clen), piece, ctypes.c_ulonglong(len(piece)), length, ctypes.c_ulonglong(4), None,
                _nonce(self.tx_n), self.tx)
            self.tx_n += 1
            out += length + c.raw
        return out

    def open(self, length_bytes, body):
        m = _buf(len(body))
        mlen = ctypes.c_ulonglong()
        if sodium().crypto_aead_chacha20poly1305_ietf_decrypt(
                m, ctypes.byref(mlen), None, body, ctypes.c_ulonglong(len(body)), length_bytes, ctypes.c_ulonglong(4),
                _nonce(self.rx_n), self.rx) != 0:
            raise AssertionError("a record from the node does not open")
        self.rx_n += 1
        return m.raw[:mlen.value]


class Peer:
    """A raw connection to a node's port, optionally from a chosen source address. With `secure`
    (the default, as the nodes), the key exchange and auth run at once and every frame sent or
    received after them is sealed; a node that refuses before (e.g. banned) is seen by
    expect_closed as usual."""

    def __init__(self, host, port, source=None, timeout=10, secure=True, magic=DEV_MAGIC):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""
        self.raw = b""  # bytes read, not yet opened (secure links)
        self.link = None
        self.pending = []  # frames (or None: closed) read during the secure handshake, not yet seen
        if secure:
            link = SecureLink(magic)
            self.sock.sendall(frame(KEY_EXCHANGE, link.key_exchange(), magic=magic))
            f = self.recv_frame()
            if f is None or f[0] == DISCONNECT:  # refused before any key (e.g. banned)
                self.pending.append(f)
                return
            assert f[0] == KEY_EXCHANGE, f
            link.on_key_exchange(f[1])
            self.link = link
            self.raw, self.buf = self.buf, b""  # what followed the key exchange is sealed
            self.send(frame(AUTH, link.auth(), magic=magic))
            f = self.recv_frame()
            if f is not None and f[0] == AUTH:
                link.on_auth(f[1])
            else:
                self.pending.append(f)

    def send(self, data):
        self.sock.sendall(self.link.seal(data) if self.link else data)

    def _fill(self):
        """Moves opened record plaintext from self.raw to self.buf."""
        while self.link and len(self.raw) >= 4:
            n = struct.unpack("<I", self.raw[:4])[0]
            if len(self.raw) < 4 + n:
                return
            self.buf += self.link.open(self.raw[:4], self.raw[4:4 + n])
            self.raw = self.raw[4 + n:]

    def recv_frame(self, timeout=10):
        """(type, payload), or None when the node closed the connection."""
        if self.pending:
            return self.pending.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            self._fill()
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
            if self.link:
                self.raw += chunk
            else:
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


def expect_banned(p, what, name):
    """Reads until the node closes `p`; the reason must be a ban naming `what`. Returns it."""
    reason = p.expect_closed()
    assert reason and "banned" in reason and what in reason, f"{name}: expected a ban for {what}, got {reason!r}"
    return reason
