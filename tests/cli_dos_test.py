#!/usr/bin/env python3
"""Denial of service against a real operator and shop till (issue 12, findings 3 and 4), each
attack reproduced and shown to fail safely: slow headers and byte-by-byte ClientHellos from other
addresses cut off while a deposit and a payment from 127.0.0.1 go through; a POST without
Content-Length answered at once; bodies over a route's cap refused on their header; JSON too deep
or with too many values refused; enrolment (--enrol-limit) and the open read-only routes
(--open-limit) rate-limited per source address;
memory after parallel mebibyte bodies back under 200 MB.

  cli_dos_test.py ECASH BENCH/dos_bench.py   (the bench script holds the shared machinery)
"""
import importlib.util
import json
import os
import shutil
import socket
import sys
import tempfile
import time

ecash, bench_path = os.path.abspath(sys.argv[1]), sys.argv[2]
# A binary built with AddressSanitizer (scripts/test.sh runs the suite under it too) or
# ThreadSanitizer (scripts/tsan.sh).
with open(ecash, "rb") as binary:
    image = binary.read()
    sanitizer = ("AddressSanitizer" if b"__asan_init" in image
                 else "ThreadSanitizer" if b"__tsan_init" in image else None)
spec = importlib.util.spec_from_file_location("dos_bench", bench_path)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def fail(why):
    print("FAILED:", why)
    for log in ("operator.log", "till.log"):
        path = os.path.join(folder, log)
        if os.path.exists(path):
            print("---", log)
            print(open(path).read()[-4000:])
    sys.exit(1)


def request(host, port, ctx, head, body=b"", source="127.0.0.1"):
    """Sends head (and body) over TLS; the answer's status and error code, and the seconds it took."""
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=20, source_address=(source, 0)) as raw:
        with ctx.wrap_socket(raw) as tls:
            tls.sendall(head.encode())
            try:
                tls.sendall(body)
            except OSError:
                pass
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = tls.recv(4096)
                if not chunk:
                    break
                answer += chunk
    took = time.monotonic() - start
    text = answer.decode(errors="replace")
    if not text.startswith("HTTP/"):
        return 0, "closed", took
    code = json.loads(text.split("\r\n\r\n", 1)[1] or "{}").get("code", "")
    return int(text.split(" ")[1]), code, took


def post(host, port, ctx, target, body, source="127.0.0.1"):
    return request(host, port, ctx, f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n",
                   body, source)


folder = tempfile.mkdtemp(prefix="cli_dos.")
system = None
try:
    system = bench.System(ecash, folder, ["--enrol-limit", "3", "--open-limit", "5"])
    op, till = bench.host_port(system.url), bench.host_port(system.till_url)
    anonymous, certified = system.anonymous, system.certified

    # A POST without Content-Length holds nothing: answered at once, 411 and malformed.
    status, code, took = request(*op, anonymous, "POST /v1/ca/trust HTTP/1.1\r\nHost: x\r\n\r\n")
    if (status, code) != (411, "malformed") or took > 1:
        fail(f"a POST without Content-Length got {status} {code} in {took:.1f} s")

    # Body caps per route, judged on the header: a mebibyte declared to trust, 20 KiB to the till.
    status, code, _ = request(*op, anonymous, "POST /v1/ca/trust HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n")
    if (status, code) != (413, "too_large"):
        fail(f"1 MiB declared to /v1/ca/trust got {status} {code}")
    status, code, _ = post(*till, certified, "/v1/shop/pay", b"{" + b" " * 20000 + b"}")
    if (status, code) != (413, "too_large"):
        fail(f"20 KB to the till's /v1/shop/pay got {status} {code}")
    # JSON: too many values (within sync's mebibyte) or nested too deep, refused before it is built.
    status, code, _ = post(*op, certified, "/v1/center/sync", b"[" + b",".join([b"{}"] * 20000) + b"]")
    if (status, code) != (413, "too_large"):
        fail(f"20,000 values to /v1/center/sync got {status} {code}")
    status, code, _ = post(*op, certified, "/v1/center/sync", b"[" * 40 + b"]" * 40)
    if (status, code) != (400, "malformed"):
        fail(f"JSON nested 40 deep got {status} {code}")

    # Enrolment: --enrol-limit 3 a minute from one address; another address has its own.
    answers = [post(*op, anonymous, "/v1/ca/enrol", b"{}", "127.0.0.9")[:2] for _ in range(4)]
    if any(a[1] == "rate_limited" for a in answers[:3]) or answers[3] != (429, "rate_limited"):
        fail(f"four enrolments from 127.0.0.9 with --enrol-limit 3 got {answers}")
    other = post(*op, anonymous, "/v1/ca/enrol", b"{}", "127.0.0.10")[:2]
    if other[1] == "rate_limited":
        fail(f"an enrolment from another address got {other}")

    # The open routes that only read: --open-limit 5 a minute from one address (bench pay, whose
    # hundred tills fetch the trust from one address, passes 0).
    answers = [post(*op, anonymous, "/v1/ca/trust", b"{}", "127.0.0.11")[:2] for _ in range(6)]
    if any(a[1] == "rate_limited" for a in answers[:5]) or answers[5] != (429, "rate_limited"):
        fail(f"six trust requests from 127.0.0.11 with --open-limit 5 got {answers}")

    # Slow connections from 127.0.0.2 on, against both servers; a deposit and a payment from
    # 127.0.0.1 still go through, and slow headers are cut off (header time-out: 10 s).
    stop, stats, thread = bench.attack_in_background(
        [("operator", *op, anonymous), ("till", *till, certified)], 60)
    time.sleep(13)
    took_deposit, deposited = system.deposit()
    took_pay, paid = system.pay()
    print(f"under 60 slow connections each: deposit {took_deposit * 1000:.0f} ms, payment {took_pay * 1000:.0f} ms")
    for name, s in stats.items():
        print(f"  {name}: {s.opened} opened, {s.cut} cut off")
    stop.set()
    thread.join(timeout=10)
    if not deposited or not paid:
        fail("a deposit or payment failed under slow connections")
    if took_deposit > 3 or took_pay > 3:
        fail(f"a deposit took {took_deposit:.1f} s, a payment {took_pay:.1f} s under slow connections")
    for name, s in stats.items():
        if s.cut < 30:
            fail(f"only {s.cut} of the slow connections to the {name} were cut off in 13 s")

    # Memory: 30 parallel mebibyte bodies, twice, to the route that takes them; given back after.
    peak = bench.flood("operator", system.operator.pid, *op, "/v1/center/sync", certified, parallel=30, rounds=2)
    rss_after = bench.memory(system.operator.pid)[0]
    if sanitizer:
        # AddressSanitizer keeps freed memory in its quarantine (256 MB by default), and both
        # replace malloc and malloc_trim (ThreadSanitizer's shadow memory besides): the bound is
        # the real build's; here the flood must only be survived.
        print(f"  memory: {peak:.0f} MB at the peak, {rss_after:.0f} MB after ({sanitizer}: not bounded)")
    elif peak >= 200 or rss_after >= 200:
        fail(f"the operator reached {peak:.0f} MB ({rss_after:.0f} MB after)")
    took_pay, paid = system.pay()
    if not paid:
        fail("a payment after the floods failed")
finally:
    if system:
        system.stop()
    shutil.rmtree(folder, ignore_errors=True)
print("cli dos test passed")
