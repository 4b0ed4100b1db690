#!/usr/bin/env python3
"""Figures for docs/performance.md (issue 16), not a CTest scenario: the handshake time of
encrypted links against the test-only plaintext protocol, measured in one run against the same
build. Two nodes on 127.0.0.118 and .119, one with --p2p-encryption=off, the other on; a Python
peer (peerproto, libsodium through ctypes) dials each N times and times TCP connect -> both
hello_acks (for encrypted links: key exchange, auth, hellos).

    python3 tests/functional/p2p_secure_figures.py build/bin [N]
"""
import statistics
import sys
import time

import peerproto as pp
from framework import free_port, main

ON, OFF = "127.0.0.118", "127.0.0.119"


def measure(host, port, genesis, secure, n):
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        p = pp.Peer(host, port, source="127.0.0.117", secure=secure)
        p.handshake(genesis, nonce=1000 + i)
        times.append((time.perf_counter() - t0) * 1000)
        p.close()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


def body(ctx):
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    port = free_port(ON)
    on = ctx.daemon("on", port, ["--network", "dev", "--no-discover"], host=ON).start()
    off = ctx.daemon("off", port, ["--network", "dev", "--no-discover", "--p2p-encryption", "off"], host=OFF).start()
    genesis = on.rpc("getblockhash", [0])
    for _ in range(2):  # alternate, so a busy moment hits both
        m_off, p90_off = measure(OFF, port, genesis, False, n // 2)
        m_on, p90_on = measure(ON, port, genesis, True, n // 2)
        print(f"handshake, {n // 2} connections each: encrypted median {m_on:.2f} ms (p90 {p90_on:.2f}); "
              f"plaintext median {m_off:.2f} ms (p90 {p90_off:.2f}); extra {m_on - m_off:.2f} ms")
    for x in (on, off):
        assert x.stop() == 0


if __name__ == "__main__":
    main(body)
