#!/usr/bin/env bash
# `ecash bench pay`, small: every mode runs against real processes, pays every payment, reports
# each figure the issue names in its JSON, and leaves the books balanced. (The figures themselves
# are measured in docs/performance.md, not asserted here: a shared machine's speed varies.)
set -euo pipefail
ecash=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() {  # FILE: every key present, nothing failed, books balanced
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for key in ["payments_per_second", "p50_ms", "p90_ms", "p99_ms", "max_ms",
            "floor_payments_per_second", "cpu_ms_per_payment", "payments", "failed"]:
    assert key in r, "missing " + key
assert r["failed"] == 0, r
assert r["books_balanced"], r
assert r["payments_per_second"] > 0 and r["floor_payments_per_second"] > 0, r
assert "generator" in r["cpu_ms_per_payment"], r
assert r["crypto_per_payment"]["signs"] > 0, r
PY
}
"$ecash" bench pay --wallets 4 --concurrency 2 --payments 40 --json "$dir/kept.json" >/dev/null
check "$dir/kept.json"
"$ecash" bench pay --wallets 4 --concurrency 2 --payments 20 --handshake full --json "$dir/full.json" >/dev/null
check "$dir/full.json"
python3 -c "import json,sys; r=json.load(open('$dir/full.json')); assert r['crypto_per_payment']['handshake_us'] > 0"
"$ecash" bench pay --wallets 4 --concurrency 2 --payments 40 --rate 50 --shops 2 --users 20 \
  --roles apart --idle 10 --json "$dir/open.json" >/dev/null
check "$dir/open.json"
python3 -c "import json; r=json.load(open('$dir/open.json')); assert set(r['cpu_ms_per_payment']) >= {'ca','bank','clearing','center','tills','generator'}, r"
# Wallets that do not divide among the threads: thread 3 drives wallet 3 alone, and so pays shop 3
# a quarter of the payments; its orders must not run out (check asserts none failed).
"$ecash" bench pay --wallets 7 --concurrency 4 --shops 7 --payments 400 --json "$dir/uneven.json" >/dev/null
check "$dir/uneven.json"
# Refused options say why.
if "$ecash" bench pay --wallets 2 --concurrency 4 >/dev/null 2>"$dir/err"; then exit 1; fi
grep -q "at most --wallets" "$dir/err"
echo "cli bench test passed"
