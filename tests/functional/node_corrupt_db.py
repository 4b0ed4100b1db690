#!/usr/bin/env python3
"""Issue 17 — a corrupt database stops the node with a message naming the way out, never a
silent fork-off and never a peer's fault. A mines blocks carrying transfers, B syncs and stops;
B's home is copied twice and a few bytes are flipped in the data blocks of one copy's accounts
table and of the other's blocks table (RocksDB .sst files). Each copy is started against A:
  - accounts damaged: when A's next block (a transfer from a damaged account) arrives, B must
    stop (exit != 0) with a message naming `peerchain-ledger ... verify` and `reindex`, having
    penalised nobody; A carries on.
  - blocks damaged: reading a block of the active chain must not answer "not found": B stops
    with the same kind of message.
Then `peerchain-ledger verify` reports the damage and `reindex` rebuilds the accounts, after
which the node starts and catches up with A."""
import os
import shutil
import subprocess
import sys

from framework import Node, RpcError, free_port, main, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "chaos"))
import bip340  # noqa: E402
import fastsign  # noqa: E402

HA, HB = "127.0.0.84", "127.0.0.85"


def sst_files_of(chain_dir, column):
    """The table files of one column family. Each file's properties block holds the property
    "rocksdb.column.family.name" (its key maybe prefix-compressed to "...name") immediately
    followed by the family's name as the value."""
    out = []
    for name in sorted(os.listdir(chain_dir)):
        if name.endswith(".sst"):
            path = os.path.join(chain_dir, name)
            with open(path, "rb") as f:
                if (b"name" + column.encode()) in f.read():
                    out.append(path)
    return out


def flip_data_bytes(path, count=8):
    """Flips `count` bytes near the start of the file: the first data block (RocksDB table
    files begin with their data blocks)."""
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        end = max(40, min(len(data) // 4, 400))
        for i in range(16, 16 + count):
            if i < end:
                data[i] ^= 0xA5
        f.seek(0)
        f.write(data)


def send_transfers(node, sender, count, start_nonce):
    s = fastsign.Signer(bip340.dev_secret(sender))
    to = bip340.pubkey(bip340.dev_secret(sender + 1))
    txs = [s.transfer(to, 500, 1, start_nonce + i).hex() for i in range(count)]
    res = node.rpc("sendtransactions", [txs])
    assert all("id" in r for r in res), res


def node_b(ctx, name, home, pa, pb):
    cmd = [ctx.path("peerchaind"), "--home", home, "--listen", HB, "--port", str(pb), "--network", "dev",
           "--no-discover", "--peer", f"{HA}:{pa}"]
    n = Node(ctx, name, cmd, pb, cwd=ctx.tmp, host=HB)
    ctx.nodes.append(n)
    return n


def log_text(node):
    with open(node.log_path, "rb") as f:
        return f.read().decode(errors="replace")


def expect_stopped_with_hint(node, what):
    wait_for(lambda: not node.alive(), 30, f"{node.name} to stop on {what}")
    code = node.proc.returncode
    text = log_text(node)
    bans = [l for l in text.splitlines() if "misbehaving" in l]
    print(f"{node.name} ({what}): exit code {code}, peers penalised {len(bans)} time(s)")
    assert not bans, f"{node.name} blamed a peer for its own corrupt database: {bans[:2]}"
    assert code not in (0, None) and code > 0, f"{node.name} exit code {code}: not a clean refusal"
    assert "peerchain-ledger" in text and "verify" in text and "reindex" in text, \
        f"{node.name}'s message does not name peerchain-ledger verify/reindex:\n{node.tail(8)}"


def body(ctx):
    pa = free_port(HA)
    a = ctx.daemon("a", pa, ["--network", "dev", "--no-discover"], host=HA).start()
    pb = free_port(HB)
    home = os.path.join(ctx.tmp, "b")
    b = node_b(ctx, "b", home, pa, pb).start()
    for i in range(3):
        send_transfers(a, 1, 5, i * 5)
        a.rpc("generate", [1])
    a.rpc("generate", [2])
    tip = a.rpc("getblockchaininfo")
    wait_for(lambda: b.rpc("getblockchaininfo")["tip"] == tip["tip"], 60, "B to sync")
    assert b.stop() == 0
    # A second start and stop: RocksDB flushes what its log holds into table files at open.
    b.start()
    assert b.stop() == 0

    homes = {}
    for what, column in (("accounts", "accounts"), ("blocks", "blocks")):
        copy = os.path.join(ctx.tmp, f"b-{what}")
        shutil.copytree(home, copy)
        files = sst_files_of(os.path.join(copy, "chain"), column)
        assert files, f"no table file of column {column} found"
        for path in files:
            flip_data_bytes(path)
        homes[what] = copy
        print(f"flipped bytes in {len(files)} table file(s) of {column}")

    # Accounts damaged: the next block spends from a damaged account.
    b1 = node_b(ctx, "b-accounts", homes["accounts"], pa, pb)
    b1.start(wait=False)
    try:
        wait_for(lambda: len(b1.rpc("getpeerinfo")) >= 1, 30, "b-accounts to connect to A")
    except AssertionError:
        pass  # it may already have stopped
    send_transfers(a, 1, 2, 15)
    a.rpc("generate", [1])
    expect_stopped_with_hint(b1, "damaged accounts")
    assert a.alive() and a.rpc("getblockchaininfo")["height"] == tip["height"] + 1

    # Blocks damaged: a block of the active chain is read (getblock), never "not found".
    b2 = node_b(ctx, "b-blocks", homes["blocks"], pa, pb)
    b2.start(wait=False)
    answers = []

    def read_all():
        if not b2.alive():
            return True
        for h in range(1, tip["height"] + 1):
            try:
                bid = b2.rpc("getblockhash", [h])
                b2.rpc("getblock", [bid])
            except RpcError as e:
                answers.append(e.error)
            except Exception:
                return not b2.alive()
        return not b2.alive()

    wait_for(read_all, 40, "b-blocks to stop on reading a damaged block")
    not_found = [e for e in answers if e.get("code") == -5]
    print(f"b-blocks answered 'not found' for a block of its active chain {len(not_found)} time(s)")
    expect_stopped_with_hint(b2, "damaged blocks")
    assert not not_found, f"b-blocks said a block of its active chain was not found: {not_found[:1]}"

    # The way out the message names: verify sees the damage, reindex rebuilds the accounts.
    ledger = ctx.path("peerchain-ledger")
    v = subprocess.run([ledger, "--datadir", homes["accounts"], "verify"], capture_output=True, text=True, timeout=120)
    print(f"verify: exit {v.returncode}: {(v.stdout + v.stderr).strip()[:200]}")
    assert v.returncode != 0, "verify did not notice the damage"
    r = subprocess.run([ledger, "--datadir", homes["accounts"], "reindex"], capture_output=True, text=True, timeout=120)
    print(f"reindex: exit {r.returncode}: {(r.stdout + r.stderr).strip()[:200]}")
    assert r.returncode == 0, "reindex failed"
    b3 = node_b(ctx, "b-reindexed", homes["accounts"], pa, pb).start()
    a.rpc("generate", [1])
    final = a.rpc("getblockchaininfo")
    wait_for(lambda: b3.rpc("getblockchaininfo")["tip"] == final["tip"], 60, "the reindexed node to catch up")
    assert b3.stop() == 0
    assert a.stop() == 0


if __name__ == "__main__":
    main(body)
