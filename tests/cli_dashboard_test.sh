#!/usr/bin/env bash
# Issue 15: the dashboard as a role of its own. With every role in a process of its own,
# `operator run --role admin` asks the bank, center and clearing for their figures over mutual TLS
# with the admin certificate, and its /figures shows the payments and the money in circulation
# the operator's report prints; its page is served with its own Content-Security-Policy and only
# under its own host name (not through a name someone's DNS points here). With the bank stopped,
# the page (in headless Chromium) shows the bank's figures as unknown. An operator folder made
# before the dashboard is told how to get the admin certificate.
source "$(dirname "$0")/browser_lib.sh"
browser_tools dashboard_down.mjs
op="$dir/op"
"$ecash" operator init --data "$op" >/dev/null
[ -s "$op/admin/admin.pem" ] || fail "operator init made no admin certificate"
"$ecash" sandbox card 4111111111111111 --data "$op" >/dev/null
"$ecash" sandbox account DE89370400440532013000 --holder "Corner Cafe" --data "$op" >/dev/null
start sandbox sandbox run --data "$op"
sandbox=$(wait_for "$op/sandbox/listening")
common=(--data "$op" --card-company "$sandbox" --bank "$sandbox" --listen 127.0.0.1:0 --log off)
for role in ca clearing bank; do
  start "$role" operator run --role "$role" "${common[@]}"
  [ "$role" = bank ] && bank=$started
  wait_for "$op/$role/listening" >/dev/null
done
start center operator run --role center "${common[@]}"
url=$(wait_for "$op/center/listening")
start admin operator run --role admin --data "$op"
admin=$started
dashboard=$(wait_for "$op/admin/dashboard")

alice_and_a_cafe_at "$url"
start till shop --home "$dir/shop" run --listen 127.0.0.1:0 --checkout off --api off
wait_for "$dir/shop/listening" >/dev/null
for item in tea cake; do
  "$ecash" shop --home "$dir/shop" order 3.50 --item "$item" >"$dir/request" 2>/dev/null || fail "order"
  "$ecash" wallet --home "$dir/alice" pay --yes "$(cat "$dir/request")" >/dev/null || fail "pay"
done
# A request the center refuses (no certificate): an error the dashboard counts.
curl -sS -k --max-time 10 -o /dev/null -H 'Content-Type: application/json' --data '{}' "$url/v1/center/pay"
"$ecash" operator report --data "$op" --books-only --json >"$dir/report" || fail "operator report"

# The dashboard asks every two seconds: the figures it shows within ten must be the report's.
check() {
  python3 - "$dir/figures" "$dir/report" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
report = json.load(open(sys.argv[2]))
roles = f.get("roles", {})
problems = []
for name in ("bank", "center", "clearing"):
    if "error" in roles.get(name, {"error": "not asked"}):
        problems.append(f"{name}: {roles.get(name)}")
if f.get("payments") != 2: problems.append(f"payments {f.get('payments')}, not 2")
if f.get("in_circulation") != report["in_circulation"]:
    problems.append(f"in circulation {f.get('in_circulation')}, not {report['in_circulation']}")
if roles.get("bank", {}).get("circulation", {}).get("figures") != report["figures"]:
    problems.append("the bank's figures are not the report's")
if roles.get("center", {}).get("sagas", {}).get("open") != 0: problems.append("open sagas")
if roles.get("clearing", {}).get("disclosure_log", {}).get("ok") is not True: problems.append("disclosure log")
if (roles.get("center", {}).get("requests", {}).get("refused") or 0) < 1: problems.append("no refused request counted")
# Aggregates only: no card, IBAN or name of the demo's people.
text = json.dumps(f)
for secret in ("4111111111111111", "DE89370400440532013000", "Alice", "Corner Cafe"):
    if secret in text: problems.append(f"{secret} is on the dashboard")
print("; ".join(problems))
sys.exit(1 if problems else 0)
PY
}
for _ in $(seq 50); do
  curl -sS --max-time 10 -o "$dir/figures" "${dashboard}figures" || fail "GET ${dashboard}figures"
  check >"$dir/check" && break
  sleep 0.2
done
check >"$dir/check" || fail "the dashboard's figures: $(cat "$dir/check") $(cat "$dir/figures")"
curl -sS --max-time 10 -D "$dir/headers" -o "$dir/page" "$dashboard" || fail "GET $dashboard"
grep -qi "^content-security-policy: default-src 'none'; style-src 'sha256-" "$dir/headers" || fail "the page's policy: $(cat "$dir/headers")"
grep -q 'id="payments"' "$dir/page" || fail "the page: $(head -c 400 "$dir/page")"
# Asked under another name (a page elsewhere whose DNS points here): refused, 421.
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Host: attacker.example' "${dashboard}figures")
[ "$code" = 421 ] || fail "/figures under another host name answered $code"
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H "Host: localhost:1" "${dashboard}figures")
[ "$code" = 200 ] || fail "/figures as localhost answered $code"

# The bank stopped: its figures are unknown on the page, not zero nor the last seen.
kill "$bank"; wait "$bank" 2>/dev/null || true
for _ in $(seq 50); do
  curl -sS --max-time 10 -o "$dir/figures" "${dashboard}figures" || fail "GET ${dashboard}figures"
  grep -q '"bank":{"error"' "$dir/figures" && break
  sleep 0.2
done
grep -q '"bank":{"error"' "$dir/figures" || fail "the bank stopped, and the figures: $(head -c 300 "$dir/figures")"
node "$node_dir/dashboard_down.mjs" "$dashboard" "$shots" >"$dir/out" 2>&1 || fail "in the browser: $(cat "$dir/out")"
cat "$dir/out"
rm -f "$op/bank/listening"
start bank operator run --role bank "${common[@]}"
wait_for "$op/bank/listening" >/dev/null

# An operator made before the dashboard had a role (no DATA/admin): told what to do.
kill "$admin"; wait "$admin" 2>/dev/null || true
[ ! -e "$op/admin/dashboard" ] || fail "the stopped dashboard left its URL behind"
mv "$op/admin" "$dir/admin.kept"
if "$ecash" operator run --role admin --data "$op" >"$dir/old.out" 2>&1; then fail "ran with no admin certificate"; fi
grep -q "operator report --data $op --books-only" "$dir/old.out" || fail "not told what to do: $(cat "$dir/old.out")"
mv "$dir/admin.kept" "$op/admin"
start admin2 operator run --role admin --data "$op" --dashboard 127.0.0.1:0
dashboard=$(wait_for "$op/admin/dashboard")
for _ in $(seq 50); do
  curl -sS --max-time 10 -o "$dir/figures" "${dashboard}figures" || fail "GET ${dashboard}figures"
  check >"$dir/check" && break
  sleep 0.2
done
check >"$dir/check" || fail "the dashboard's figures after a restart: $(cat "$dir/check")"
echo "ok: --role admin shows the report's figures"
