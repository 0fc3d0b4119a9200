#!/usr/bin/env bash
# Issue 15: what operators watch. Every server process (the sandboxes, each operator role in a
# process of its own, the all-in-one operator, a shop's till) serves /metrics, which Prometheus's
# own checker (promtool check metrics) passes; a payment moves the counters and gauges it should,
# a refused one its error's; and each request writes one JSON line to the access log, with its
# fixed fields only.
source "$(dirname "$0")/cli_lib.sh"
command -v promtool >/dev/null || fail "promtool is not installed (scripts/install-deps.sh installs prometheus)"
op="$dir/op"
"$ecash" operator init --data "$op" >/dev/null
"$ecash" sandbox card 4111111111111111 --data "$op" >/dev/null
"$ecash" sandbox account DE89370400440532013000 --holder "Corner Cafe" --data "$op" >/dev/null
start sandbox sandbox run --data "$op"
sandbox=$(wait_for "$op/sandbox/listening")
common=(--data "$op" --card-company "$sandbox" --bank "$sandbox" --listen 127.0.0.1:0)
for role in ca clearing bank; do
  start "$role" operator run --role "$role" "${common[@]}" --log "$dir/$role.access"
  wait_for "$op/$role/listening" >/dev/null
done
start center operator run --role center "${common[@]}" --log "$dir/center.access"
url=$(wait_for "$op/center/listening")
alice_and_a_cafe_at "$url"
start till shop --home "$dir/shop" run --listen 127.0.0.1:0 --checkout off --api off
wait_for "$dir/shop/listening" >/dev/null

scrape() {  # scrape NAME METRICS_FILE: the metrics in $dir/NAME.prom, checked by promtool
  local at
  at=$(wait_for "$2")
  curl -sS --max-time 10 -o "$dir/$1.prom" "$at" || fail "GET $at"
  promtool check metrics <"$dir/$1.prom" >"$dir/$1.promtool" 2>&1 \
    || fail "promtool on $1's metrics: $(cat "$dir/$1.promtool")"
}
value() {  # value NAME SERIES: the sample's value in $dir/NAME.prom (0 when absent)
  python3 - "$dir/$1.prom" "$2" <<'PY'
import sys
for line in open(sys.argv[1]):
    if line.startswith(sys.argv[2] + " "):
        print(int(float(line.split()[-1])))
        break
else:
    print(0)
PY
}
every() {
  scrape sandbox "$op/sandbox/metrics"
  for role in ca clearing bank center; do scrape "$role" "$op/$role/metrics"; done
  scrape shop "$dir/shop/metrics"
}
every
payments=$(value center ecash_payments_total)
bank_pays=$(value bank 'ecash_requests_total{code="ok",party="bank",route="pay"}')
till_pays=$(value shop 'ecash_requests_total{code="ok",party="shop",route="pay"}')
timed=$(value center 'ecash_request_seconds_count{party="center",route="pay"}')
balances=$(value bank 'ecash_money_minor{component="balances",currency="EUR"}')
sales=$(value bank 'ecash_money_minor{component="unpaid_sales",currency="EUR"}')
refused=$(value center 'ecash_requests_total{code="bad_certificate",party="center",route="pay"}')
[ "$balances" = 5000 ] || fail "the bank's metrics show balances of $balances cents, not 5000: $(cat "$dir/bank.prom")"
[ "$(value bank ecash_users)" = 1 ] && [ "$(value bank ecash_shops)" = 1 ] || fail "users and shops: $(cat "$dir/bank.prom")"
[ "$(value center ecash_sagas_open)" = 0 ] || fail "sagas open: $(cat "$dir/center.prom")"
[ "$(value center ecash_deposits_total)" = 1 ] || fail "deposits: $(cat "$dir/center.prom")"
[ "$(value center 'ecash_certificate_checks_total{outcome="accepted"}')" -gt 0 ] || fail "certificate checks: $(cat "$dir/center.prom")"

"$ecash" shop --home "$dir/shop" order 3.50 --item tea >"$dir/request" 2>/dev/null || fail "order"
"$ecash" wallet --home "$dir/alice" pay --yes "$(cat "$dir/request")" >/dev/null || fail "pay"
# A payment sent with no certificate is refused before its body is read: counted all the same.
curl -sS -k --max-time 10 -o "$dir/page" -H 'Content-Type: application/json' --data '{}' "$url/v1/center/pay"
grep -q bad_certificate "$dir/page" || fail "a payment without a certificate: $(cat "$dir/page")"
every
[ "$(value center ecash_payments_total)" = $((payments + 1)) ] || fail "payments: $(grep payments "$dir/center.prom")"
[ "$(value bank 'ecash_requests_total{code="ok",party="bank",route="pay"}')" = $((bank_pays + 1)) ] || fail "bank pay"
[ "$(value shop 'ecash_requests_total{code="ok",party="shop",route="pay"}')" = $((till_pays + 1)) ] || fail "till pay"
[ "$(value center 'ecash_request_seconds_count{party="center",route="pay"}')" -ge $((timed + 1)) ] || fail "latency"
[ "$(value center 'ecash_requests_total{code="bad_certificate",party="center",route="pay"}')" = $((refused + 1)) ] \
  || fail "the refused payment: $(grep 'route="pay"' "$dir/center.prom")"
[ "$(value bank 'ecash_money_minor{component="balances",currency="EUR"}')" = $((balances - 350)) ] || fail "balances"
[ "$(value bank 'ecash_money_minor{component="unpaid_sales",currency="EUR"}')" = $((sales + 350)) ] || fail "sales"
[ "$(value bank 'ecash_db_seconds_count{kind="write",store="bank"}')" -gt 0 ] || fail "db time: $(grep db_seconds_count "$dir/bank.prom")"

# The access log: one JSON line a request, its fields fixed; the payment's line names its ID.
python3 - "$dir/center.access" <<'PY' || fail "the center's access log: $(tail -5 "$dir/center.access")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines, "no lines"
for l in lines:
    assert set(l) == {"time", "role", "route", "request_id", "caller", "code", "ms"}, l
paid = [l for l in lines if l["route"] == "pay" and l["code"] == "ok"]
assert len(paid) == 1 and len(paid[0]["request_id"]) == 26 and paid[0]["caller"], paid
assert any(l["route"] == "pay" and l["code"] == "bad_certificate" and not l["caller"] for l in lines)
PY

# The all-in-one operator (the sandboxes hosted in it): its metrics pass too.
for p in "${procs[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
procs=()
"$ecash" operator init --data "$dir/one" >/dev/null
start one operator run --data "$dir/one" --listen 127.0.0.1:0 --log off
scrape one "$dir/one/center/metrics"
grep -q '^ecash_money_minor{component="in_circulation",currency="EUR"} 0$' "$dir/one.prom" \
  && grep -q '^ecash_sagas_open 0$' "$dir/one.prom" || fail "the all-in-one operator: $(cat "$dir/one.prom")"
[ "$(curl -sS -o /dev/null -w '%{http_code}' "$(sed 's#/metrics$#/other#' "$dir/one/center/metrics")")" = 404 ] \
  || fail "a path beside /metrics"
echo ok
