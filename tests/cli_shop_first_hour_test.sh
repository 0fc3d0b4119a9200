#!/usr/bin/env bash
# The shop's first hour (issue 16), as its owner meets it through the command line:
#  - `shop order` prints its order ID and expiry (stderr), the request alone on stdout; --json;
#  - `shop sales`: time, order ID, state (open, expired, paid, paid out), and totals that add up;
#  - `shop payouts`: each payout with its bank reference and the sales it covered;
#  - a till restarted without --listen keeps its port, so a request made before the restart is
#    paid after it; a port taken is an error naming it and --listen, never another port;
#  - `shop relocate` follows the operator to a new address, refused for another CA;
#  - every sub-command's --help lists --home and --json and cites no patent figure.
source "$(dirname "$0")/cli_lib.sh"
shop() { "$ecash" shop --home "$dir/shop" "$@"; }
alice() { "$ecash" wallet --home "$dir/alice" "$@"; }
# A second operator and a port holder: disowned (cli_lib's cleanup waits for its own children
# before on_exit), and stopped here.
op2=
holder=
on_exit() { for p in "$op2" "$holder"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
json() {  # json FILE PYTHON-EXPRESSION-OF-j: prints it
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"
}
start_till() {  # start_till [ARGS...]: in the background, as $till; its log in $dir/till.log
  rm -f "$dir/shop/listening"
  "$ecash" shop --home "$dir/shop" run "$@" >"$dir/till.log" 2>&1 &
  till=$!
  for _ in $(seq 300); do
    [ -s "$dir/shop/listening" ] && return 0
    kill -0 "$till" 2>/dev/null || return 1
    sleep 0.1
  done
  fail "the till did not start"
}
stop_till() {
  kill -TERM "$till"
  wait "$till" || fail "the till did not stop cleanly"
  till=
}
port_of() { sed -e 's/.*://' "$1"; }

alice_and_a_cafe

# 6. Help: every sub-command lists --home and --json, none cites a figure; the options are taken
# before and after the sub-command.
for sub in init run order sales payout payouts relocate; do
  "$ecash" shop "$sub" --help >"$dir/out" 2>&1 || fail "shop $sub --help"
  grep -q -- "--home" "$dir/out" || fail "shop $sub --help lists no --home: $(cat "$dir/out")"
  grep -q -- "--json" "$dir/out" || fail "shop $sub --help lists no --json: $(cat "$dir/out")"
done
"$ecash" shop --help >"$dir/out"
for sub in init run order sales payout payouts relocate; do "$ecash" shop "$sub" --help; done >>"$dir/out"
if grep -qi "fig" "$dir/out"; then fail "help cites a figure: $(grep -i fig "$dir/out")"; fi
"$ecash" shop sales --home "$dir/shop" --json >"$dir/out" || fail "options after the sub-command"
json "$dir/out" 'j["totals"]["paid"]' | grep -qx "EUR:0.00" || fail "sales --json after the sub-command"

# 4. The till keeps its port. First run: it says it keeps the address it got.
start_till || fail "the till did not start"
port=$(port_of "$dir/shop/listening")
grep "^shop listening on" "$dir/till.log" | head -1 | grep -q "^shop listening on https://127.0.0.1:$port (kept for its next start" \
  || fail "first run: not said: $(cat "$dir/till.log")"
[ "$(cat "$dir/shop/listen_address")" = "127.0.0.1:$port" ] || fail "kept $(cat "$dir/shop/listen_address")"

# 1. An order: its ID and expiry on stderr, the request alone on stdout.
shop order 3.50 --item "flat white" >"$dir/request" 2>"$dir/order.err" || fail "order"
[ "$(wc -l <"$dir/request")" -eq 1 ] || fail "stdout is more than the request: $(cat "$dir/request")"
grep -q "^ecash://pay?shop=127.0.0.1:$port&" "$dir/request" || fail "the request: $(cat "$dir/request")"
first=$(sed -n 's/^order ID  *//p' "$dir/order.err")
[ -n "$first" ] || fail "no order ID: $(cat "$dir/order.err")"
grep -Eq "^expires   [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z \(in 15 minutes\)$" "$dir/order.err" \
  || fail "no expiry: $(cat "$dir/order.err")"
request=$(cat "$dir/request")
shop order 2.00 --item cake --json >"$dir/order.json" || fail "order --json"
json "$dir/order.json" 'sorted(j)' | grep -qx "\['amount', 'checkout', 'expires', 'expires_unix', 'item', 'order_id', 'uri'\]" \
  || fail "order --json: $(cat "$dir/order.json")"
cake=$(json "$dir/order.json" 'j["order_id"]')
json "$dir/order.json" 'j["amount"], j["item"], j["uri"].startswith("ecash://pay?")' | grep -qx "EUR:2.00 cake True" \
  || fail "order --json: $(cat "$dir/order.json")"
expires=$(json "$dir/order.json" 'j["expires_unix"]')
[ "$(date -u -d "@$expires" +%Y-%m-%dT%H:%M:%SZ)" = "$(json "$dir/order.json" 'j["expires"]')" ] \
  || fail "expires and expires_unix differ: $(cat "$dir/order.json")"
now=$(date +%s)
[ $((expires - now)) -gt 800 ] && [ $((expires - now)) -le 900 ] || fail "not 15 minutes: $expires at $now"

# Restarted without --listen: the same port, said so, and the request made before is paid.
stop_till
start_till || fail "the till did not start again"
[ "$(port_of "$dir/shop/listening")" = "$port" ] || fail "restarted on $(cat "$dir/shop/listening"), not :$port"
grep "^shop listening on" "$dir/till.log" | head -1 | grep -q "^shop listening on https://127.0.0.1:$port (the address it had before" \
  || fail "restart: not said: $(cat "$dir/till.log")"
alice pay "$request" >"$dir/out" 2>"$dir/err" || fail "the request made before the restart: $(cat "$dir/err")"

# A port taken: refused, naming it and --listen; never another port.
stop_till
python3 -c "import socket,sys,time; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); time.sleep(60)" \
  "$port" &
holder=$!
disown "$holder"
sleep 0.5
if start_till; then fail "the till started while its port was taken: $(cat "$dir/shop/listening")"; fi
wait "$till" && fail "the till exited 0 with its port taken"
till=
[ -e "$dir/shop/listening" ] && fail "the till listens elsewhere: $(cat "$dir/shop/listening")"
grep -q "127.0.0.1:$port" "$dir/till.log" || fail "the port not named: $(cat "$dir/till.log")"
grep -q -- "--listen HOST:PORT" "$dir/till.log" || fail "--listen not named: $(cat "$dir/till.log")"
kill "$holder"
while kill -0 "$holder" 2>/dev/null; do sleep 0.1; done
holder=
start_till || fail "the till did not start once its port was free"
[ "$(port_of "$dir/shop/listening")" = "$port" ] || fail "not its port once free"

# 2. Sales: an expired order shows expired; totals.
shop order 1.00 --item water --expires 1s 2>"$dir/order.err" >/dev/null || fail "order --expires"
water=$(sed -n 's/^order ID  *//p' "$dir/order.err")
grep -q "(in 1 second)" "$dir/order.err" || fail "--expires 1s: $(cat "$dir/order.err")"
if shop order 1.00 --item water --expires 8d 2>"$dir/err"; then fail "an order of 8 days"; fi
grep -q "invalid_argument" "$dir/err" || fail "8 days: $(cat "$dir/err")"
if shop order 1.00 --item water --expires soon 2>"$dir/err"; then fail "--expires soon"; fi
sleep 2.2
shop sales >"$dir/sales" || fail "sales"
line() { grep "  $1  " "$dir/sales" || fail "no line for $1: $(cat "$dir/sales")"; }
iso='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z  '
line "$first" | grep -Eq "${iso}$first  paid  EUR:3.50  flat white$" || fail "paid: $(cat "$dir/sales")"
line "$cake" | grep -Eq "${iso}$cake  open  EUR:2.00  cake$" || fail "open: $(cat "$dir/sales")"
line "$water" | grep -Eq "${iso}$water  expired  EUR:1.00  water$" || fail "expired: $(cat "$dir/sales")"
grep -Eq "^paid +EUR:3.50$" "$dir/sales" || fail "paid total: $(cat "$dir/sales")"
grep -Eq "^ +paid out +EUR:0.00$" "$dir/sales" || fail "paid out total: $(cat "$dir/sales")"
grep -Eq "^ +to pay out +EUR:3.50$" "$dir/sales" || fail "to pay out total: $(cat "$dir/sales")"
grep -Eq "^open +EUR:2.00$" "$dir/sales" || fail "open total (the expired one counts not): $(cat "$dir/sales")"
if alice pay "$(shop order 1.00 --item late --expires 1s 2>/dev/null; sleep 2)" >/dev/null 2>"$dir/err"; then
  fail "an expired order paid"
fi
shop payouts >"$dir/out" || fail "payouts"
grep -qx "no payouts yet" "$dir/out" || fail "payouts before any: $(cat "$dir/out")"

# 3. A payout: its sales are paid out, and listed under it with its reference.
shop payout >"$dir/out" || fail "payout"
reference=$(sed -n 's/^paid out EUR:3.50 (bank reference \(.*\))$/\1/p' "$dir/out")
[ -n "$reference" ] || fail "payout: $(cat "$dir/out")"
alice pay "$(shop order 4.00 --item beans 2>/dev/null)" >/dev/null 2>"$dir/err" || fail "beans: $(cat "$dir/err")"
shop sales >"$dir/sales"
line "$first" | grep -Eq "${iso}$first  paid out  EUR:3.50  flat white$" || fail "paid out: $(cat "$dir/sales")"
grep -Eq "  paid  EUR:4.00  beans$" "$dir/sales" || fail "paid after the payout: $(cat "$dir/sales")"
grep -Eq "^paid +EUR:7.50$" "$dir/sales" || fail "paid total: $(cat "$dir/sales")"
grep -Eq "^ +paid out +EUR:3.50$" "$dir/sales" || fail "paid out total: $(cat "$dir/sales")"
grep -Eq "^ +to pay out +EUR:4.00$" "$dir/sales" || fail "to pay out total: $(cat "$dir/sales")"
shop sales --json >"$dir/sales.json"
json "$dir/sales.json" '[o["state"] for o in j["orders"]]' | grep -qx "\['paid out', 'open', 'expired', 'expired', 'paid'\]" \
  || fail "states: $(cat "$dir/sales.json")"
python3 - "$dir/sales.json" <<'EOF' || fail "the totals do not add up: $(cat "$dir/sales.json")"
import json, sys
j = json.load(open(sys.argv[1]))
cents = lambda a: int(a.replace("EUR:", "").replace(".", ""))
t = {k: cents(v) for k, v in j["totals"].items()}
by = lambda *states: sum(cents(o["amount"]) for o in j["orders"] if o["state"] in states)
assert t["paid"] == t["paid_out"] + t["to_pay_out"], t
assert t["paid"] == by("paid", "paid out") and t["paid_out"] == by("paid out"), t
assert t["to_pay_out"] == by("paid") and t["open"] == by("open"), t
assert all(o["time"].endswith("Z") and isinstance(o["time_unix"], int) for o in j["orders"])
EOF
shop payouts >"$dir/out" || fail "payouts"
grep -Eq "${iso}paid out  EUR:3.50  bank reference $reference  1 sale: $first$" "$dir/out" \
  || fail "payouts: $(cat "$dir/out")"
shop payouts --json >"$dir/out"
json "$dir/out" '[(p["amount"], p["paid"], p["reference"], p["orders"]) for p in j["payouts"]]' \
  | grep -qxF "[('EUR:3.50', True, '$reference', ['$first'])]" || fail "payouts --json: $(cat "$dir/out")"
stop_till

# 5. Relocate: another operator's CA is refused, and nothing changes.
"$ecash" operator init --data "$dir/op2" >/dev/null
"$ecash" operator run --data "$dir/op2" --listen 127.0.0.1:0 >"$dir/op2.log" 2>&1 &
op2=$!
disown "$op2"
for _ in $(seq 300); do [ -s "$dir/op2/center/listening" ] && break; sleep 0.1; done
other=$(cat "$dir/op2/center/listening")
if shop relocate --operator "$other" >"$dir/out" 2>"$dir/err"; then fail "relocated to another CA"; fi
grep -q "untrusted_issuer: the operator at $other has CA fingerprint" "$dir/err" || fail "another CA: $(cat "$dir/err")"
if shop relocate --operator "$dir/op" 2>"$dir/err"; then fail "relocated to a folder"; fi
grep -q "invalid_argument" "$dir/err" || fail "a folder: $(cat "$dir/err")"
shop payout >"$dir/out" 2>"$dir/err" || fail "the shop lost its operator after a refused relocate: $(cat "$dir/err")"
grep -q "^paid out EUR:4.00" "$dir/out" || fail "payout: $(cat "$dir/out")"
# A payout with nothing to pay moves no money, and is no line in the payout history.
shop payout | grep -q "nothing to pay out" || fail "a payout with nothing to pay"
[ "$(shop payouts | wc -l)" -eq 2 ] || fail "a payout of nothing is listed: $(shop payouts)"

# The operator moves: the shop cannot reach it, then follows it there.
old=$url
stop_operator
for _ in 1 2 3; do
  start_operator 127.0.0.1:0
  url=$(cat "$dir/op/center/listening")
  [ "$url" != "$old" ] && break
  stop_operator
done
[ "$url" != "$old" ] || fail "the operator came back on its old port"
if shop payout >/dev/null 2>"$dir/err"; then fail "reached the operator at its old address"; fi
if shop init --operator "$url" --name "Corner Cafe" --account DE89370400440532013000 2>"$dir/err"; then
  fail "registered twice"
fi
grep -q "a shop is registered in .* already, with the operator at $old: if that operator moved, follow it with \`ecash shop relocate --operator URL\`" "$dir/err" \
  || fail "init again: $(cat "$dir/err")"
shop relocate --operator "$url" >"$dir/out" 2>"$dir/err" || fail "relocate: $(cat "$dir/err")"
grep -q "^shop moved from $old to $url: the same operator (CA fingerprint [0-9a-f]*)" "$dir/out" \
  || fail "relocate: $(cat "$dir/out")"
start_till || fail "the till did not start after relocating"
shop payout >"$dir/out" 2>"$dir/err" || fail "payout after relocating: $(cat "$dir/err")"
grep -q "nothing to pay out" "$dir/out" || fail "payout after relocating: $(cat "$dir/out")"
stop_till
stop_operator
kill "$op2"
op2=
echo "cli shop first hour test passed"
