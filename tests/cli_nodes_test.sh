#!/usr/bin/env bash
# Several nodes (issue 13): two center nodes and two bank nodes, every role its own process, all
# on one PostgreSQL database, HAProxy (TCP, send-proxy-v2) in front of the center nodes, and
# wallets that reach the operator only through it.
# 1. Conflicting payments at once: eight wallets hold EUR:5.00 each; eight orders of EUR:3.00,
#    order i paid at the same moment by wallet i and wallet i+1, so each wallet makes two
#    payments at once from one account that can afford one, and each order is wanted twice.
#    Whatever won, the outcome must be one a serial run could give: each order paid at most once,
#    no wallet paying more than its balance, every balance and the shop's sales exactly what the
#    payments that succeeded make, every refusal insufficient_funds or the order taken.
# 2. A center node and a bank node killed (-9) while every wallet pays: the payments go on
#    through the others, each order is paid exactly once, the books balance, the audit passes.
# 3. `ecash bench pay --nodes 2`: the load generator's two-node set-up answers every payment.
# Needs a PostgreSQL server: ECASH_TEST_POSTGRES (scripts/test.sh starts one); skipped without
# one (exit 77), failed under CI.
source "$(dirname "$0")/cli_lib.sh"
test_database "nodes_$$"
command -v haproxy >/dev/null || fail "haproxy is not installed (scripts/install-deps.sh installs it)"
# HAProxy runs as a daemon (not a child the cleanup would wait for), stopped by its pid file.
on_exit() { [ -s "$dir/haproxy.pid" ] && kill "$(cat "$dir/haproxy.pid")" 2>/dev/null || true; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
cents() {  # cents EUR:12.34 -> 1234
  local a=${1#EUR:}
  echo $((10#${a%.*} * 100 + 10#${a#*.}))
}
balance_of() {  # the bank's balance of wallet N, in cents, after a sync
  local out
  out=$("$ecash" wallet --home "$dir/w$1" --json sync) || fail "wallet $1 sync: $out"
  cents "$(sed 's/.*"balance":"\(EUR:[0-9.]*\)".*/\1/' <<<"$out")"
}

op="$dir/op"
"$ecash" operator init --data "$op" --store "$store_url" >/dev/null \
  || fail "operator init --store"

# Several processes of a role share its store: refused on SQLite files, where it cannot be.
"$ecash" operator init --data "$dir/lite" >/dev/null
if "$ecash" operator run --data "$dir/lite" --role bank --node b1 >"$dir/out" 2>"$dir/err"; then
  fail "a bank node ran on SQLite"
fi
grep -q "invalid_argument.*PostgreSQL" "$dir/err" || fail "--node on SQLite: $(cat "$dir/err")"

start sandbox sandbox run --data "$op" --crl-refresh 1
sandbox=$(wait_for "$op/sandbox/listening")
common=(--data "$op" --crl-refresh 1 --card-company "$sandbox" --bank "$sandbox")
for role in ca clearing; do
  start "$role" operator run --role "$role" --listen 127.0.0.1:0 "${common[@]}"
done
for node in b1 b2; do
  start "bank-$node" operator run --role bank --node "$node" --listen 127.0.0.1:0 "${common[@]}"
  eval "bank_$node=$started"
  wait_for "$op/bank/nodes/$node/listening" >/dev/null
done
# The same node twice: refused, as a role run twice is.
if "$ecash" operator run --role bank --node b1 --listen 127.0.0.1:0 "${common[@]}" >"$dir/out" 2>"$dir/err"; then
  fail "a second bank node b1 ran"
fi
grep -q "another process is serving" "$dir/err" || fail "bank node b1 twice: $(cat "$dir/err")"
ports=()
for node in c1 c2; do
  ports+=("$(free_port)")
  start "center-$node" operator run --role center --node "$node" --listen "127.0.0.1:${ports[-1]}" \
    --proxy-from 127.0.0.1 --enrol-limit 0 "${common[@]}"
  eval "center_$node=$started"
  wait_for "$op/center/nodes/$node/listening" >/dev/null
done
grep -q "center: bank at https://127.0.0.1:[0-9]*, https://127.0.0.1:" "$dir/center-c1.log" \
  || fail "center node c1 does not call both bank nodes"

lb=$(free_port)
cat >"$dir/haproxy.cfg" <<CONFIG
global
  maxconn 500
defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  retries 3
  option redispatch
frontend devices
  bind 127.0.0.1:$lb
  default_backend centers
backend centers
  balance roundrobin
  server c1 127.0.0.1:${ports[0]} send-proxy-v2 check check-send-proxy inter 300ms fall 1 rise 2
  server c2 127.0.0.1:${ports[1]} send-proxy-v2 check check-send-proxy inter 300ms fall 1 rise 2
CONFIG
haproxy -f "$dir/haproxy.cfg" -D -p "$dir/haproxy.pid" >>"$dir/haproxy.log" 2>&1 || fail "haproxy did not start"
url="https://127.0.0.1:$lb"

cards=(4111111111111111 5555555555554444 378282246310005 4012888888881881 5105105105105100
  6011111111111117 3530111333300000 4222222222222)
for i in "${!cards[@]}"; do
  "$ecash" sandbox card "${cards[$i]}" --data "$op" >/dev/null
  "$ecash" wallet --home "$dir/w$i" init --operator "$url" --name "W$i" --card "${cards[$i]}" \
    >"$dir/out" 2>&1 || fail "wallet $i init through the balancer: $(cat "$dir/out")"
  confirm_card "$dir/w$i" "${cards[$i]}"
  "$ecash" wallet --home "$dir/w$i" deposit 5.00 >"$dir/out" 2>&1 || fail "wallet $i deposit: $(cat "$dir/out")"
done
"$ecash" sandbox account DE89370400440532013000 --holder "Corner Cafe" --data "$op" >/dev/null
"$ecash" shop --home "$dir/shop" init --operator "$url" --name "Corner Cafe" \
  --account DE89370400440532013000 >"$dir/out" 2>&1 || fail "shop init: $(cat "$dir/out")"
start shop shop --home "$dir/shop" run --crl-refresh 1
wait_for "$dir/shop/listening" >/dev/null
# Both center nodes took requests through the balancer.
for node in c1 c2; do
  [ "$(grep -c . "$dir/center-$node.log")" -gt 0 ] || fail "center node $node logged nothing"
done

# 1. Conflicting payments at once.
orders=()
for i in "${!cards[@]}"; do orders+=("$("$ecash" shop --home "$dir/shop" order 3.00 --item "order $i" 2>/dev/null)"); done
jobs=()
for i in "${!cards[@]}"; do
  for payer in "$i" $(((i + 1) % ${#cards[@]})); do
    "$ecash" wallet --home "$dir/w$payer" pay "${orders[$i]}" >"$dir/pay-$i-$payer.out" 2>&1 &
    jobs+=("$!:$i:$payer")
  done
done
declare -A wins paid
for job in "${jobs[@]}"; do
  IFS=: read -r p order payer <<<"$job"
  if wait "$p"; then
    wins[$payer]=$((${wins[$payer]:-0} + 1))
    paid[$order]=$((${paid[$order]:-0} + 1))
  else
    grep -q "insufficient_funds\|conflict: order already paid\|is paid already" "$dir/pay-$order-$payer.out" \
      || fail "order $order by wallet $payer refused for another reason: $(cat "$dir/pay-$order-$payer.out")"
  fi
done
total=0
for i in "${!cards[@]}"; do
  [ "${paid[$i]:-0}" -le 1 ] || fail "order $i was paid ${paid[$i]} times"
  [ "${wins[$i]:-0}" -le 1 ] || fail "wallet $i paid ${wins[$i]} orders of EUR:3.00 from EUR:5.00"
  [ "$(balance_of "$i")" -eq $((500 - 300 * ${wins[$i]:-0})) ] || fail "wallet $i: balance $(balance_of "$i")"
  total=$((total + ${paid[$i]:-0}))
done
[ "$total" -gt 0 ] || fail "no order was paid"
report=$("$ecash" operator report --data "$op" --json)
[ "$(cents "$(sed 's/.*"unpaid_sales":"\(EUR:[0-9.]*\)".*/\1/' <<<"$report")")" -eq $((300 * total)) ] \
  || fail "sales after the conflicting payments: $report"
echo "conflicting payments: $total of ${#cards[@]} orders paid, each once; balances as a serial run gives"

# 2. Nodes killed under load: each wallet tops up and pays six orders of EUR:1.00 in a row while
# center node c1 and bank node b1 are killed; a payment the kill interrupted is asked again, as
# its wallet's user would, until it is answered.
for i in "${!cards[@]}"; do
  "$ecash" wallet --home "$dir/w$i" deposit 10.00 >"$dir/out" 2>&1 || fail "wallet $i top-up: $(cat "$dir/out")"
done
declare -A before
for i in "${!cards[@]}"; do before[$i]=$(balance_of "$i"); done
second=()
per=6
count=$((per * ${#cards[@]}))
for k in $(seq 0 $((count - 1))); do second+=("$("$ecash" shop --home "$dir/shop" order 1.00 --item "second $k" 2>/dev/null)"); done
jobs=()
for i in "${!cards[@]}"; do
  (
    for k in $(seq $((per * i)) $((per * i + per - 1))); do
      for attempt in $(seq 30); do
        if "$ecash" wallet --home "$dir/w$i" pay "${second[$k]}" >>"$dir/second-$i.out" 2>&1; then continue 2; fi
        sleep 1
      done
      exit 1
    done
  ) &
  jobs+=("$!")
done
# Killed once some payments are answered, while the rest are under way.
for _ in $(seq 300); do
  [ "$(cat "$dir"/second-*.out 2>/dev/null | grep -c "^paid" || true)" -ge ${#cards[@]} ] && break
  sleep 0.05
done
kill -9 "$center_c1" "$bank_b1"
wait "$center_c1" "$bank_b1" 2>/dev/null || true
done_before=$(cat "$dir"/second-*.out 2>/dev/null | grep -c "^paid" || true)
for i in "${!jobs[@]}"; do
  wait "${jobs[$i]}" || fail "wallet $i could not pay after the kill: $(cat "$dir/second-$i.out")"
done
for i in "${!cards[@]}"; do
  [ "$(balance_of "$i")" -eq $((before[$i] - 100 * per)) ] || fail "wallet $i after the kill: $(balance_of "$i"), was ${before[$i]}"
done
report=$("$ecash" operator report --data "$op" --json)
[ "$(cents "$(sed 's/.*"unpaid_sales":"\(EUR:[0-9.]*\)".*/\1/' <<<"$report")")" -eq $((300 * total + 100 * count)) ] \
  || fail "sales after the kill: $report"
"$ecash" operator report --data "$op" | grep -q "balanced: every cent accounted for" || fail "books after the kill"
"$ecash" operator audit --data "$op" | grep -q "audit passed" || fail "audit: $("$ecash" operator audit --data "$op" 2>&1)"
retried=$(cat "$dir"/second-*.out | grep -c "error" || true)
[ "$done_before" -lt "$count" ] || fail "every payment was answered before the kill: no load to kill under"
echo "center node c1 and bank node b1 killed under load ($done_before of $count payments answered before):" \
  "$count of $count paid once ($retried refusals asked again); books balanced, audit passed"
# 3. The load generator with two center and two bank nodes behind HAProxy (bench pay --nodes 2),
# on a database of its own: every payment answered, the books balanced.
psql "$ECASH_TEST_POSTGRES" -qc "CREATE DATABASE ${database}_bench" || fail "cannot make the bench's database"
"$ecash" bench pay --payments 200 --wallets 8 --concurrency 8 --nodes 2 --store "${store_url}_bench" \
  --json "$dir/bench.json" >"$dir/bench.log" 2>&1 || fail "bench pay --nodes 2: $(cat "$dir/bench.log")"
psql "$ECASH_TEST_POSTGRES" -qc "DROP DATABASE ${database}_bench WITH (FORCE)" || true
grep -q "2 center and bank nodes behind HAProxy" "$dir/bench.log" || fail "bench pay ran no nodes: $(cat "$dir/bench.log")"
python3 - "$dir/bench.json" <<'CHECK' || fail "bench pay --nodes 2: $(cat "$dir/bench.log")"
import json, sys
run = json.load(open(sys.argv[1]))
assert run["payments"] == 200 and run["failed"] == 0, run
assert run["books_balanced"], run
assert {"center", "bank", "balancer"} <= set(run["cpu_ms_per_payment"]), run["cpu_ms_per_payment"]
print(f"bench pay --nodes 2: {run['payments']} payments, {run['failed']} failed, "
      f"{run['payments_per_second']:.0f}/s, books balanced")
CHECK
echo "pg.cli_nodes: passed"
