"""BIP340 Schnorr signatures over secp256k1 in pure Python (after the BIP's reference code), and
peerchain transfers built and signed byte by byte (docs/spec/encoding.md). Slow (milliseconds per
signature) but independent of the C++ code: what it signs, the node must accept."""
import hashlib
import struct

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
     0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)


def sha256(b):
    return hashlib.sha256(b).digest()


def tagged(tag, msg):
    t = sha256(tag.encode())
    return sha256(t + t + msg)


def _add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    if p1[0] == p2[0] and p1[1] != p2[1]:
        return None
    if p1 == p2:
        lam = (3 * p1[0] * p1[0] * pow(2 * p1[1], P - 2, P)) % P
    else:
        lam = ((p2[1] - p1[1]) * pow(p2[0] - p1[0], P - 2, P)) % P
    x3 = (lam * lam - p1[0] - p2[0]) % P
    return (x3, (lam * (p1[0] - x3) - p1[1]) % P)


def _mul(pt, k):
    r = None
    for i in range(256):
        if (k >> i) & 1:
            r = _add(r, pt)
        pt = _add(pt, pt)
    return r


def pubkey(secret):
    return _mul(G, int.from_bytes(secret, "big"))[0].to_bytes(32, "big")


def sign(msg32, secret, aux=bytes(32)):
    d0 = int.from_bytes(secret, "big")
    assert 0 < d0 < N
    pt = _mul(G, d0)
    d = d0 if pt[1] % 2 == 0 else N - d0
    t = bytes(a ^ b for a, b in zip(d.to_bytes(32, "big"), tagged("BIP0340/aux", aux)))
    px = pt[0].to_bytes(32, "big")
    k0 = int.from_bytes(tagged("BIP0340/nonce", t + px + msg32), "big") % N
    r = _mul(G, k0)
    k = k0 if r[1] % 2 == 0 else N - k0
    rx = r[0].to_bytes(32, "big")
    e = int.from_bytes(tagged("BIP0340/challenge", rx + px + msg32), "big") % N
    return rx + ((k + e * d) % N).to_bytes(32, "big")


def dev_secret(index):
    """consensus::dev_account_key(index): TaggedHash("peerchain/dev-account", u32 index | u32 attempt)."""
    return tagged("peerchain/dev-account", struct.pack("<II", index, 0))


def transfer(secret, recipient, amount, fee, nonce, chain_id=2, sender=None):
    """A signed transfer's 156 bytes."""
    sender = sender or pubkey(secret)
    unsigned = struct.pack("<I", chain_id) + sender + recipient + struct.pack("<QQQ", amount, fee, nonce)
    return unsigned + sign(tagged("peerchain/tx-sig", unsigned), secret)


def txid(tx):
    return tagged("peerchain/txid", tx).hex()


# bech32m (BIP350) for addresses
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((b >> i) & 1) else 0
    return chk


def address(key, hrp="pcdev"):
    data, acc, bits = [], 0, 0
    for b in key:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            data.append((acc >> bits) & 31)
    if bits:
        data.append((acc << (5 - bits)) & 31)
    hrp_exp = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = _polymod(hrp_exp + data + [0] * 6) ^ 0x2BC830A3
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in data + checksum)
