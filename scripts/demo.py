#!/usr/bin/env python3
"""make demo: three local nodes started with the seed's command line, transfers sent with the
seed's client, every node shown agreeing; one node killed with SIGKILL, more transfers sent,
the node restarted with the same command and shown catching up from its own disk and its peers.
Stops the nodes cleanly at the end, unless --stay is given."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "build/bin")
STAY = "--stay" in sys.argv
H = "127.0.0.1"


class NodeDied(Exception):
    pass


def free_ports(n):
    """Free ports below Linux's ephemeral range (32768+), so no outgoing connection on this
    machine can take one between the check here and the node's bind."""
    import random
    ports = []
    while len(ports) < n:
        p = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", p))  # server listens on every address
            except OSError:
                continue
        if p not in ports:
            ports.append(p)
    return ports


def client(*args):
    r = subprocess.run([os.path.join(BIN, "client")] + [str(a) for a in args], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SystemExit(f"client {' '.join(map(str, args))} failed: {r.stderr.strip()}")
    return r.stdout


def tip(port):
    first = client(H, port, 1, 1).splitlines()[0]
    m = re.match(r"height (\d+) tip ([0-9a-f]{64})", first)
    return int(m.group(1)), m.group(2)


def confirmed_everywhere(ports, txids):
    for p in ports:
        text = client(H, p, 1, 1)
        if not all(t in text for t in txids):
            return False
    return True


def wait(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except SystemExit:
            pass
        time.sleep(0.5)
    raise SystemExit(f"demo: timed out waiting for {what}")


def show_tips(ports, label):
    # Mining goes on: a new block may land between two reads, so re-read until they agree.
    wait(lambda: len({tip(p)[1] for p in ports}) == 1, 30, "one tip")
    print(f"\n== {label}")
    for p in ports:
        h, t = tip(p)
        print(f"   node :{p}  height {h:>4}  tip {t[:16]}...")


PROCS = {}  # port -> the node process, killed if the demo fails


def main():
    work = tempfile.mkdtemp(prefix="peerchain-demo-")
    ports = free_ports(3)
    procs = PROCS

    def start(p):
        peers = []
        for q in ports:
            if q != p:
                peers += [H, str(q)]
        cmd = [os.path.join(BIN, "server"), str(p), "2"] + peers
        log = open(os.path.join(work, f"server-{p}.log"), "ab")
        procs[p] = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT,
                                    env=dict(os.environ, PEERCHAIN_LOG="warn"))
        print(f"   $ server {p} 2 {' '.join(peers)}   (data in {work}/peerchain-{p})")

    print(f"== starting three nodes with the seed's command line (logs in {work})")
    for p in ports:
        start(p)
    def answering():
        for p in ports:
            if procs[p].poll() is not None:
                log = open(os.path.join(work, f"server-{p}.log"), errors="replace").read()[-2000:]
                raise NodeDied(f"demo: node :{p} exited with {procs[p].returncode}:\n{log}")
        return all(tip(p) for p in ports)

    wait(answering, 30, "the nodes to answer")

    print(f"\n== sending ten 500-unit transfers from dev account 1 to node :{ports[1]}")
    print(f"   $ client {H} {ports[1]} 1 0 10 500")
    sent = client(H, ports[1], 1, 0, 10, 500).split()
    print(f"   {len(sent)} transfers accepted, e.g. {sent[0][:16]}...")
    wait(lambda: confirmed_everywhere(ports, sent) and len({tip(p)[1] for p in ports}) == 1, 90,
         "the transfers in every chain, on one tip")
    show_tips(ports, "every node holds all ten in its chain")
    print(f"\n   $ client {H} {ports[0]} 1 1   (first blocks of node :{ports[0]})")
    for line in client(H, ports[0], 1, 1).splitlines()[:8]:
        print("   " + line[:150])

    victim = ports[2]
    print(f"\n== kill -9 node :{victim}, then five more transfers to node :{ports[0]}")
    procs[victim].send_signal(signal.SIGKILL)
    procs[victim].wait()
    more = client(H, ports[0], 2, 0, 5, 500).split()
    live = ports[:2]
    wait(lambda: confirmed_everywhere(live, more) and len({tip(p)[1] for p in live}) == 1, 90,
         "the new transfers on the live nodes, on one tip")
    show_tips(live, "the two live nodes agree; the killed one is down")

    print(f"\n== restarting node :{victim} with the same command (no client traffic from here on)")
    t0 = time.monotonic()
    start(victim)
    wait(lambda: confirmed_everywhere(ports, sent + more) and len({tip(p)[1] for p in ports}) == 1, 90,
         "the restarted node to catch up")
    print(f"   caught up in {time.monotonic() - t0:.1f}s")
    show_tips(ports, "all three agree again")

    if STAY:
        print(f"\n== nodes left running on ports {', '.join(map(str, ports))}; stop them with: kill {' '.join(str(procs[p].pid) for p in ports)}")
        return
    print("\n== stopping the nodes (SIGTERM)")
    for p in ports:
        procs[p].send_signal(signal.SIGTERM)
    for p in ports:
        code = procs[p].wait(timeout=30)
        print(f"   node :{p} exited with {code}")
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    ok = False
    try:
        main()
        ok = True
    except NodeDied as e:
        raise SystemExit(str(e))
    finally:
        if not ok or not STAY:
            for proc in PROCS.values():  # never leave a node behind on failure
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
