#!/usr/bin/env bash
# The load generator's measured set (docs/performance.md): every configuration the performance
# issue asks about, one `ecash bench pay` run each, one after another on this machine, then a
# Markdown table of the results. Builds first (Release). Takes about ten minutes, most of it the
# 100,000 users put in before their run.
#   scripts/bench.sh [OUT_DIR]   (default: bench-results/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-results}
mkdir -p "$out"
bash scripts/install-deps.sh >/dev/null
bash scripts/build.sh default ecash
ecash=build/app/ecash
common=(--wallets 128)

run() {  # NAME ARGS...: one run, its JSON kept as OUT/NAME.json and its text as OUT/NAME.txt
  local name=$1
  shift
  echo "== $name: ecash bench pay $*"
  "$ecash" bench pay "$@" --json "$out/$name.json" | tee "$out/$name.txt"
}

run kept "${common[@]}" --payments 15000 --concurrency 32
run full "${common[@]}" --concurrency 32 --payments 6000 --handshake full
max=$(python3 -c "import json; print(json.load(open('$out/kept.json'))['payments_per_second'])")
half=$(python3 -c "print(int($max / 2))")
run open_half "${common[@]}" --concurrency 64 --payments 8000 --rate "$half"
run one_wallet --wallets 8 --concurrency 1 --payments 1500
run idle_none --wallets 8 --concurrency 1 --payments 1500
run idle_200 --wallets 8 --concurrency 1 --payments 1500 --idle 200
run users_1k "${common[@]}" --payments 15000 --concurrency 32 --users 1000
run users_100k "${common[@]}" --payments 15000 --concurrency 32 --users 100000
run shops_1 "${common[@]}" --payments 15000 --concurrency 32 --shops 1
run shops_100 "${common[@]}" --payments 15000 --concurrency 32 --shops 100
run roles_apart "${common[@]}" --payments 15000 --concurrency 32 --roles apart

python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = [("kept", "kept alive, closed loop, concurrency 32"),
        ("full", "a full mutual-TLS handshake per payment"),
        ("open_half", "open loop at half the kept-alive maximum"),
        ("one_wallet", "one wallet, one payment at a time"),
        ("idle_none", "one wallet, no idle connections"),
        ("idle_200", "one wallet, 200 idle TLS connections to the operator"),
        ("users_1k", "1,000 more users in the stores"),
        ("users_100k", "100,000 more users in the stores"),
        ("shops_1", "one shop"),
        ("shops_100", "100 shops"),
        ("roles_apart", "one process per operator role")]
print("| run | payments/s | p50 ms | p90 ms | p99 ms | max ms | CPU ms per payment | floor payments/s | share of floor |")
print("|---|---|---|---|---|---|---|---|---|")
for name, what in rows:
    path = os.path.join(out, name + ".json")
    if not os.path.exists(path):
        continue
    r = json.load(open(path))
    cpu = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["cpu_ms_per_payment"].items()))
    print(f"| {what} | {r['payments_per_second']:.0f} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | "
          f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {cpu} (all {r['cpu_ms_per_payment_all']:.2f}) | "
          f"{r['floor_payments_per_second']:.0f} | {100 * r['floor_share']:.0f}% |")
PY
