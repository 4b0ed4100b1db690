#!/usr/bin/env python3
"""Summarises a system-wide perf profile of a peerchain-bench run: the node threads' CPU by
category (signatures, RocksDB, libc, ...) and by thread, plus the load tool's share and the
machine's idle time. Used for docs/performance.md (issue 15). Python stdlib only.

    perf record -a -F 299 -o run.perf -- build/bin/peerchain-bench --transfers 100000 --accounts 1000
    python3 bench/perf_summary.py run.perf
"""
import subprocess, sys, re, collections
f = sys.argv[1]
out = subprocess.run(["perf", "report", "-i", f, "--sort", "comm,dso,sym", "--stdio", "--no-children"], capture_output=True, text=True).stdout
node_threads = ("pc-", "rocksdb", "peerchaind")
cat = collections.Counter(); thr = collections.Counter(); total = 0.0; idle = 0.0; bench = 0.0
for line in out.splitlines():
    m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+(\S+)\s+\[.\]\s+(.*)", line)
    if not m: continue
    pct, comm, dso, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4)
    total += pct
    if comm == "swapper": idle += pct; continue
    if not comm.startswith(node_threads): 
        if comm.startswith("peerchain-benc"): bench += pct
        continue
    thr[comm] += pct
    if "secp256k1" in dso or "secp256k1" in sym: c = "signatures (libsecp256k1)"
    elif "rocksdb" in sym or "snappy" in dso: c = "RocksDB"
    elif "kernel" in dso: c = "kernel (syscalls, page faults, TCP)"
    elif "libcrypto" in dso: c = "SHA-256 (libcrypto)"
    elif "sodium" in dso: c = "link encryption (libsodium)"
    elif dso.startswith("libc") or "stdc++" in dso: c = "libc/libstdc++ (malloc, memcpy, memcmp)"
    elif re.search(r"Hashtable|_Rb_tree|unordered", sym): c = "hash tables and maps"
    elif re.search(r"Mempool", sym): c = "mempool"
    elif re.search(r"json|scan_json|hex|rpc::|beast", sym): c = "API (JSON, HTTP)"
    else: c = "other node code"
    cat[c] += pct
node = sum(thr.values())
print(f"samples: node threads {node:.1f}%, load tool {bench:.1f}%, idle {idle:.1f}% (of all CPU)")
for c, v in cat.most_common(): print(f"  {c}: {100*v/node:.1f}% of node CPU")
print("threads:", ", ".join(f"{t} {100*v/node:.0f}%" for t, v in thr.most_common(9)))
