#!/usr/bin/env python3
"""Denial of service against a real operator and shop till (issue 12, findings 3 and 4), by hand:

  bench/dos_bench.py [--ecash build/ecash] [--slow 200] [--keep DIR]

(a) `--slow` slow connections held against the operator and as many against the till, each from
    its own loopback address (127.0.0.2, 127.0.0.3, ...: the per-source cap alone does not save
    us): half are TLS connections sending a header line every 3 s, half TCP connections sending a
    ClientHello one byte every 5 s; each reconnects when cut off. Meanwhile a deposit and a
    payment from 127.0.0.1 are timed (they must finish in under 1 s).
(b) 60 bodies of 1 MiB of `[{},{},...]` sent in parallel, three times, to the open route
    /v1/ca/trust on the operator, to /v1/center/sync with a wallet certificate (the one route
    that takes a mebibyte), and to the till's /v1/shop/pay with a wallet certificate; each
    server's memory (VmRSS, VmHWM from /proc/PID/status) before, at its peak and after (must
    stay under 200 MB).

Prints its figures; exits non-zero when a must-show bound is missed. Linux only (reads /proc).
"""
import argparse
import asyncio
import base64
import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ALICE_CARD = "4111111111111111"
MALLORY_CARD = "5555555555554444"
SHOP_ACCOUNT = "DE89370400440532013000"
MIB = 1 << 20


def run(ecash, *args, check=True):
    done = subprocess.run([ecash, *args], capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        sys.exit(f"ecash {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done


def wait_for_file(path, seconds=30):
    end = time.time() + seconds
    while time.time() < end:
        if os.path.exists(path) and open(path).read().strip():
            return open(path).read().strip()
        time.sleep(0.1)
    sys.exit(f"nothing wrote {path}")


def memory(pid):
    """VmRSS and VmHWM of a process, in MB."""
    out = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out["VmRSS"], out["VmHWM"]


def host_port(url):
    host, port = url.removeprefix("https://").rsplit(":", 1)
    return host, int(port)


def wallet_identity(home, folder):
    """The wallet's certificate and private key as PEM files (for a raw TLS client)."""
    db = sqlite3.connect(os.path.join(home, "wallet.db"))
    cert = db.execute("SELECT value FROM settings WHERE key = 'certificate'").fetchone()[0]
    db.close()
    words = open(os.path.join(home, "wallet.keys")).read().split()
    seed = base64.urlsafe_b64decode(words[words.index("sign") + 1] + "==")
    # PKCS#8 of an Ed25519 key: a fixed prefix, then the 32-byte seed.
    der = bytes.fromhex("302e020100300506032b657004220420") + seed
    key = "-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PRIVATE KEY-----\n"
    cert_file, key_file = os.path.join(folder, "mallory.pem"), os.path.join(folder, "mallory.key")
    open(cert_file, "w").write(cert)
    open(key_file, "w").write(key)
    os.chmod(key_file, 0o600)
    return cert_file, key_file


def tls_context(identity=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if identity:
        ctx.load_cert_chain(*identity)
    return ctx


# --- (a) slow connections

class Slow:
    """Counts what the slow connections went through."""

    def __init__(self):
        self.opened = 0
        self.cut = 0
        self.refused = 0


async def held(host, port, source, ctx, stats, stop, dribble):
    """A connection from source (TLS when ctx is given) that dribble(reader, writer) feeds slowly
    until the server cuts it off; again, until stop."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=ctx, local_addr=(source, 0)), 10)
        except Exception:
            stats.refused += 1
            await asyncio.sleep(1)
            continue
        stats.opened += 1
        try:
            await dribble(reader, writer)
        except Exception:
            pass
        stats.cut += 1
        writer.close()


async def cut_off_within(reader, seconds):
    """Whether the server closed the connection within seconds."""
    try:
        return not await asyncio.wait_for(reader.read(1024), seconds)
    except asyncio.TimeoutError:
        return False


def slow_header(host, port, source, ctx, stats, stop):
    """TLS, then a request's header a line every 3 s, never finished."""
    async def dribble(reader, writer):
        writer.write(b"POST /v1/center/deposit HTTP/1.1\r\nHost: x\r\n")
        i = 0
        while not stop.is_set():
            await writer.drain()
            if await cut_off_within(reader, 3):
                return
            writer.write(f"X-Slow-{i}: y\r\n".encode())
            i += 1
    return held(host, port, source, ctx, stats, stop, dribble)


def slow_hello(host, port, source, stats, stop):
    """TCP, then a ClientHello one byte every 5 s."""
    hello = bytes.fromhex("16030100f4010000f00303") + os.urandom(32) + bytes(200)

    async def dribble(reader, writer):
        for byte in hello:
            if stop.is_set():
                return
            writer.write(bytes([byte]))
            await writer.drain()
            if await cut_off_within(reader, 5):
                return
    return held(host, port, source, None, stats, stop, dribble)


def attack_in_background(targets, count):
    """count slow connections against each (host, port, needs_certificate) target."""
    stop = threading.Event()
    stats = {name: Slow() for name, *_ in targets}

    def attack():
        async def all_of_them():
            tasks = []
            for name, host, port, ctx in targets:
                for i in range(count):
                    source = f"127.0.{(2 + i) // 256}.{(2 + i) % 256}"
                    if i % 2 == 0:
                        tasks.append(slow_header(host, port, source, ctx, stats[name], stop))
                    else:
                        tasks.append(slow_hello(host, port, source, stats[name], stop))
            await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.run(all_of_them())

    thread = threading.Thread(target=attack, daemon=True)
    thread.start()
    return stop, stats, thread


def timed(ecash, *args):
    start = time.monotonic()
    done = run(ecash, *args, check=False)
    return time.monotonic() - start, done


# --- (b) large bodies

def post_body(host, port, target, body, ctx, results):
    try:
        with socket.create_connection((host, port), timeout=30) as raw:
            with ctx.wrap_socket(raw) as tls:
                tls.sendall(f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode())
                try:
                    tls.sendall(body)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass  # refused on its header: the server stopped reading
                answer = tls.recv(4096).decode(errors="replace")
                results.append(answer.split(" ", 2)[1] if answer.startswith("HTTP/") else "closed")
    except (OSError, ssl.SSLError) as e:
        results.append(type(e).__name__)


def flood(name, pid, host, port, target, ctx, parallel=60, rounds=3):
    """parallel bodies of 1 MiB of [{},{},...] at once, rounds times; the highest memory seen (MB)."""
    body = b"[" + b",".join([b"{}"] * ((MIB - 2) // 3)) + b"]"
    rss0, hwm0 = memory(pid)
    peak = rss0
    statuses = []
    for _ in range(rounds):
        threads = [threading.Thread(target=post_body, args=(host, port, target, body, ctx, statuses))
                   for _ in range(parallel)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            peak = max(peak, memory(pid)[0])
            time.sleep(0.02)
    time.sleep(2)
    rss1, hwm1 = memory(pid)
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    print(f"  {name} {target}: {rounds} x {parallel} bodies of {len(body)} bytes; answers {counts}")
    print(f"    VmRSS before {rss0:.1f} MB, highest sampled {peak:.1f} MB, after {rss1:.1f} MB; "
          f"VmHWM (peak since start) before {hwm0:.1f} MB, after {hwm1:.1f} MB")
    return max(peak, rss1, hwm1 if hwm1 > hwm0 else 0)


class System:
    """An operator (every role in one process) and a shop's till on loopback, with two wallets
    enrolled and funded: alice pays from 127.0.0.1, mallory's certificate is the attacker's."""

    def __init__(self, ecash, folder, operator_args=()):
        self.ecash, self.folder = ecash, folder
        self.op, self.alice, self.mallory, self.shop = (os.path.join(folder, n) for n in ("op", "alice", "mallory", "shop"))
        self.processes = []
        run(ecash, "operator", "init", "--data", self.op)
        for card in (ALICE_CARD, MALLORY_CARD):
            run(ecash, "sandbox", "card", card, "--data", self.op)
        run(ecash, "sandbox", "account", SHOP_ACCOUNT, "--holder", "Corner Cafe", "--data", self.op)
        self.operator = self.start("operator", "operator", "run", "--data", self.op, "--listen", "127.0.0.1:0",
                                   *operator_args)
        self.url = wait_for_file(os.path.join(self.op, "center", "listening"))
        for home, name, card in ((self.alice, "Alice", ALICE_CARD), (self.mallory, "Mallory", MALLORY_CARD)):
            # The card confirmed by its holder with the code the sandbox sent (issue 12, finding 6).
            run(ecash, "wallet", "--home", home, "init", "--operator", self.url, "--name", name, "--card", card,
                "--expiry", "12/30", "--cvc", "123")
            code = subprocess.run([ecash, "sandbox", "code", card, "--data", self.op], check=True,
                                  capture_output=True, text=True).stdout.strip()
            run(ecash, "wallet", "--home", home, "confirm-card", code)
            run(ecash, "wallet", "--home", home, "deposit", "50.00")
        run(ecash, "shop", "--home", self.shop, "init", "--operator", self.url, "--name", "Corner Cafe",
            "--account", SHOP_ACCOUNT)
        self.till = self.start("till", "shop", "--home", self.shop, "run")
        self.till_url = wait_for_file(os.path.join(self.shop, "listening"))
        self.identity = wallet_identity(self.mallory, folder)
        self.anonymous, self.certified = tls_context(), tls_context(self.identity)

    def start(self, log, *args):
        process = subprocess.Popen([self.ecash, *args], stdout=open(os.path.join(self.folder, log + ".log"), "w"),
                                   stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def deposit(self):
        """A deposit by alice: (seconds, finished)."""
        took, done = timed(self.ecash, "wallet", "--home", self.alice, "deposit", "1.00")
        return took, done.returncode == 0

    def pay(self):
        """A payment by alice of a new order: (seconds, finished)."""
        request = run(self.ecash, "shop", "--home", self.shop, "order", "1.00", "--item", "coffee").stdout.strip()
        took, done = timed(self.ecash, "wallet", "--home", self.alice, "pay", "--yes", request)
        return took, done.returncode == 0

    def stop(self):
        for p in self.processes:
            p.terminate()
        for p in self.processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ecash", default=os.environ.get("ECASH", "build/ecash"))
    parser.add_argument("--slow", type=int, default=200, help="slow connections against each server")
    parser.add_argument("--hold", type=float, default=20, help="seconds the slow connections are held before timing")
    parser.add_argument("--keep", help="keep the parties' folders here")
    args = parser.parse_args()
    ecash = os.path.abspath(args.ecash)
    folder = args.keep or tempfile.mkdtemp(prefix="dos_bench.")
    os.makedirs(folder, exist_ok=True)
    failed = []
    system = None
    try:
        system = System(ecash, folder)
        (op_host, op_port), (till_host, till_port) = host_port(system.url), host_port(system.till_url)
        operator, till = system.operator, system.till
        print(f"operator {system.url} (pid {operator.pid}), till {system.till_url} (pid {till.pid})")

        # (a)
        print(f"(a) {args.slow} slow connections against each, from 127.0.0.2 on: half a header line "
              f"every 3 s over TLS, half a ClientHello byte every 5 s")
        stop, stats, thread = attack_in_background(
            [("operator", op_host, op_port, system.anonymous), ("till", till_host, till_port, system.certified)],
            args.slow)
        time.sleep(args.hold)
        for _ in range(3):
            took_deposit, deposited = system.deposit()
            took_pay, paid = system.pay()
            print(f"  deposit {'done' if deposited else 'FAILED'} in {took_deposit * 1000:.0f} ms; "
                  f"payment {'done' if paid else 'FAILED'} in {took_pay * 1000:.0f} ms")
            if not deposited or not paid or took_deposit >= 1 or took_pay >= 1:
                failed.append("a deposit or payment under attack failed or took 1 s or more")
        for name, s in stats.items():
            print(f"  {name}: {s.opened} slow connections opened, {s.cut} cut off by the server, "
                  f"{s.refused} refused at connect, in {args.hold:.0f} s and the timings")
        stop.set()
        thread.join(timeout=10)

        # (b)
        print("(b) 60 parallel bodies of 1 MiB of [{},{},...], three times")
        peaks = [
            flood("operator", operator.pid, op_host, op_port, "/v1/ca/trust", system.anonymous),
            flood("operator", operator.pid, op_host, op_port, "/v1/center/sync", system.certified),
            flood("till", till.pid, till_host, till_port, "/v1/shop/pay", system.certified),
        ]
        if max(peaks) >= 200:
            failed.append(f"memory peaked at {max(peaks):.0f} MB")
        took_pay, paid = system.pay()
        print(f"  afterwards a payment {'done' if paid else 'FAILED'} in {took_pay * 1000:.0f} ms")
        if not paid:
            failed.append("payment after the floods")
    finally:
        if system:
            system.stop()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    if failed:
        print("MISSED:", "; ".join(failed))
        sys.exit(1)
    print("all within bounds")


if __name__ == "__main__":
    main()
