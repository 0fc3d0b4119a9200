#!/usr/bin/env bash
# A shop's checkout page and refunds through the command line (issue 14):
#  - `shop run` serves /checkout/ORDER on plain HTTP (loopback, no certificate asked): the amount,
#    the article, the payment request as an inline SVG QR code and as a link, a live status;
#  - `shop order` names the page; `wallet pay URL` pays from it; the status turns to paid;
#  - the QR code holds exactly the payment request (decoded from a rendering of the SVG);
#  - `shop refund ORDER [AMOUNT] --reason`: part, more than the rest refused, the rest; the wallet
#    learns each refund at its sync; `shop sales` and the operator's report count them.
source "$(dirname "$0")/cli_lib.sh"
shop() { "$ecash" shop --home "$dir/shop" "$@"; }
alice() { "$ecash" wallet --home "$dir/alice" "$@"; }
json() {  # json FILE PYTHON-EXPRESSION-OF-j: prints it
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"
}
get() { curl -sS --max-time 10 -o "$dir/page" -w '%{http_code} %{content_type}' "$1"; }

alice_and_a_cafe
rm -f "$dir/shop/listening" "$dir/shop/checkout"
"$ecash" shop --home "$dir/shop" run >"$dir/till.log" 2>&1 &
till=$!
for _ in $(seq 300); do [ -s "$dir/shop/listening" ] && [ -s "$dir/shop/checkout" ] && break; sleep 0.1; done
[ -s "$dir/shop/checkout" ] || fail "the till serves no checkout page"
grep -q "checkout pages on http://127.0.0.1:" "$dir/till.log" || fail "the till does not say where its checkout pages are"

# The page of a new order.
shop order 12.50 --item 'Blue <mug> & "saucer"' --json >"$dir/order" 2>"$dir/err" || fail "shop order"
page=$(json "$dir/order" 'j["checkout"]')
order=$(json "$dir/order" 'j["order_id"]')
[ "$page" = "$(cat "$dir/shop/checkout")/checkout/$order" ] || fail "shop order names the page $page"
[ "$(get "$page")" = "200 text/html; charset=utf-8" ] || fail "GET $page: $(cat "$dir/page")"
grep -q 'EUR:12.50' "$dir/page" || fail "the page shows no amount"
grep -q 'Blue &lt;mug&gt; &amp; &quot;saucer&quot;' "$dir/page" || fail "the article is not shown, escaped"
grep -q '<svg xmlns="http://www.w3.org/2000/svg"' "$dir/page" || fail "the page has no QR code"
grep -q 'role="status" aria-live="polite" data-state="unpaid"' "$dir/page" || fail "no live status"
grep -q 'href="ecash://pay?' "$dir/page" || fail "no link to the payment request"
if grep -Eq '(src|href)="https?://' "$dir/page"; then fail "the page loads something from elsewhere"; fi
[ "$(get "$page/status")" = "200 application/json" ] || fail "GET status"
json "$dir/page" 'j["state"]' | grep -qx unpaid || fail "status is $(cat "$dir/page")"
get "$page/request" >/dev/null
request=$(cat "$dir/page")
case "$request" in ecash://pay\?*) ;; *) fail "the request is $request" ;; esac
# The QR code holds exactly that request: its SVG rendered and decoded.
curl -sS "$page" | python3 -c "import re,sys; print(re.search(r'<svg.*?</svg>', sys.stdin.read(), re.S).group(0))" >"$dir/qr.svg"
modules=$(sed -e 's/.*viewBox="0 0 \([0-9]*\) .*/\1/' "$dir/qr.svg")  # six pixels a module, no blur
rsvg-convert --width $((modules * 6)) --background-color white -o "$dir/qr.png" "$dir/qr.svg" || fail "the QR code's SVG does not render"
decoded=$(zbarimg --quiet --raw -Sbinary "$dir/qr.png") || fail "the QR code does not decode"
[ "$decoded" = "$request" ] || fail "the QR code holds another text: ${decoded:0:80}..."
[ "$(get "$(cat "$dir/shop/checkout")/checkout/0000000000000000000000000")" = "404 text/plain; charset=utf-8" ] \
  || fail "an unknown order is not 404"
[ "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$page")" = 405 ] || fail "POST is not refused"
# Its policy lets in its own style and script by their hashes, nothing inline else, and no frame.
curl -sS -D "$dir/headers" -o /dev/null "$page" || fail "GET $page"
policy=$(grep -i '^content-security-policy:' "$dir/headers")
echo "$policy" | grep -q "script-src 'sha256-" && echo "$policy" | grep -q "frame-ancestors 'none'" \
  && ! echo "$policy" | grep -q "unsafe-inline" || fail "the page's policy: $policy"

# Paid from the page's URL; the status turns to paid and the page no longer offers the request.
alice pay --yes "$page" >"$dir/out" 2>&1 || fail "wallet pay URL"
grep -q "paid EUR:12.50" "$dir/out" || fail "wallet pay said: $(cat "$dir/out")"
get "$page/status" >/dev/null
json "$dir/page" 'j["state"]' | grep -qx paid || fail "status after paying is $(cat "$dir/page")"
get "$page" >/dev/null
grep -q 'data-state="paid"' "$dir/page" || fail "the page does not say paid"
if grep -q '<svg' "$dir/page"; then fail "a paid order's page still shows its QR code"; fi
[ "$(get "$page/request")" = "410 text/plain; charset=utf-8" ] || fail "a paid order's request is still handed out"

# Refunds: part, too much, the rest; the wallet learns them at its sync.
shop refund "$order" 2.50 --reason "chipped" >"$dir/out" || fail "shop refund"
grep -q "refunded EUR:2.50 of order $order (EUR:2.50 given back of it in all)" "$dir/out" || fail "refund said: $(cat "$dir/out")"
if shop refund "$order" 10.01 --reason "slip" >"$dir/out" 2>&1; then fail "a refund beyond what was paid was made"; fi
grep -q "invalid_argument" "$dir/out" || fail "the refusal said: $(cat "$dir/out")"
shop refund "$order" --reason "returned" --json >"$dir/out" || fail "the rest"
json "$dir/out" 'j["amount"]' | grep -qx "EUR:10.00" || fail "the rest was $(cat "$dir/out")"
get "$page/status" >/dev/null
json "$dir/page" 'j["state"]' | grep -qx refunded || fail "status after the refunds is $(cat "$dir/page")"
shop sales --json >"$dir/out"
json "$dir/out" 'j["totals"]["refunded"]' | grep -qx "EUR:12.50" || fail "sales: $(cat "$dir/out")"
json "$dir/out" 'j["orders"][0]["state"]' | grep -qx refunded || fail "sales: $(cat "$dir/out")"
alice sync >"$dir/out" || fail "wallet sync"
grep -q "EUR:10.00 refunded by a shop (order $order)" "$dir/out" || fail "sync said: $(cat "$dir/out")"
alice history >"$dir/out"
[ "$(grep -c ' refund ' "$dir/out")" = 2 ] || fail "history: $(cat "$dir/out")"
if grep -q correction "$dir/out"; then fail "a refund was taken for a correction: $(cat "$dir/out")"; fi
alice balance --json >"$dir/out"
json "$dir/out" 'j["balance"]' | grep -qx "EUR:50.00" || fail "balance: $(cat "$dir/out")"
"$ecash" operator report --data "$dir/op" >"$dir/out" || fail "report"
grep -q "refunded         EUR:12.50" "$dir/out" || fail "report: $(cat "$dir/out")"
grep -q "balanced: every cent accounted for" "$dir/out" || fail "report: $(cat "$dir/out")"
# The merchant API on its own HTTPS listener, with the token `shop api-token` shows once.
[ -s "$dir/shop/api" ] || fail "the till serves no merchant API"
api=$(cat "$dir/shop/api")
shop api-token --json >"$dir/out" || fail "shop api-token"
token=$(json "$dir/out" 'j["api_token"]')
post() {  # post ROUTE JSON [TOKEN]: the HTTP status; the answer in $dir/page
  curl -sS -k --max-time 10 -o "$dir/page" -w '%{http_code}' -H "Authorization: Bearer ${3-$token}" \
    -H 'Content-Type: application/json' --data "$2" "$api/v1/api/$1"
}
[ "$(post create_order '{"amount":"EUR:2.00","item":"tea","idempotency_key":"t1"}')" = 200 ] \
  || fail "create_order over HTTPS: $(cat "$dir/page")"
tea=$(json "$dir/page" 'j["order_id"]')
[ "$(post order "{\"order_id\":\"$tea\"}")" = 200 ] || fail "order: $(cat "$dir/page")"
json "$dir/page" 'j["state"]' | grep -qx unpaid || fail "order: $(cat "$dir/page")"
[ "$(post orders '{}' wrong)" = 401 ] || fail "a wrong token is not refused"
json "$dir/page" 'j["code"]' | grep -qx unauthorized || fail "refused as $(cat "$dir/page")"
[ "$(post nothing '{}')" = 404 ] || fail "an unknown route is not 404"
# The scheme's name is case-insensitive.
[ "$(curl -sS -k --max-time 10 -o "$dir/page" -w '%{http_code}' -H "Authorization: bearer $token" \
  -H 'Content-Type: application/json' --data '{}' "$api/v1/api/orders")" = 200 ] || fail "bearer: $(cat "$dir/page")"

# The webhook: a receiver on loopback that fails twice, then acknowledges; each POST is checked
# against the secret the API gave (HMAC-SHA-256 over "TIME.BODY").
cat >"$dir/receiver.py" <<'PY'
import http.server, json, sys
log, port_file = sys.argv[1], sys.argv[2]
seen = 0
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        seen += 1
        status = 500 if seen <= 2 else 200
        with open(log, "a") as f:
            f.write(json.dumps({"status": status, "signature": self.headers["Ecash-Signature"],
                            "host": self.headers["Host"],
                                "event_id": self.headers["Ecash-Event-Id"], "body": body}) + "\n")
        self.send_response(status)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
open(port_file, "w").write(str(server.server_port))
server.serve_forever()
PY
python3 "$dir/receiver.py" "$dir/hooks" "$dir/hook-port" &
procs+=($!)
for _ in $(seq 100); do [ -s "$dir/hook-port" ] && break; sleep 0.1; done
[ "$(post webhook "{\"url\":\"http://127.0.0.1:$(cat "$dir/hook-port")/ecash\"}")" = 200 ] || fail "webhook: $(cat "$dir/page")"
secret=$(json "$dir/page" 'j["secret"]')
[ "$(post webhook '{"url":"http://example.com/hook"}')" = 400 ] || fail "a plain http webhook elsewhere is taken"
[ "$(post webhook "{\"url\":\"http://127.0.0.1:$(cat "$dir/hook-port")/ecash\"}")" = 200 ] || fail "webhook again"
secret=$(json "$dir/page" 'j["secret"]')  # each call gives a new secret
alice pay --yes "$(cat "$dir/shop/checkout")/checkout/$tea" >/dev/null || fail "paying the tea"
for _ in $(seq 150); do grep -q '"status": 200' "$dir/hooks" 2>/dev/null && break; sleep 0.1; done
python3 - "$dir/hooks" "$secret" "$tea" "$(cat "$dir/hook-port")" <<'PY' || fail "the webhook: $(cat "$dir/hooks")"
import hashlib, hmac, json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l["status"] for l in lines] == [500, 500, 200], [l["status"] for l in lines]
assert len({l["event_id"] for l in lines}) == 1, "one event, tried again"
assert all(l["host"] == "127.0.0.1:" + sys.argv[4] for l in lines), [l["host"] for l in lines]
for l in lines:
    fields = dict(p.split("=", 1) for p in l["signature"].split(","))
    want = hmac.new(sys.argv[2].encode(), (fields["t"] + "." + l["body"]).encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], want), "bad signature"
event = json.loads(lines[-1]["body"])
assert event["type"] == "order.paid" and event["order_id"] == sys.argv[3] and event["amount"] == "EUR:2.00", event
PY

# The checkout pages over HTTPS with a certificate the shop gives; a wallet checks it against the
# system's CA store (here, SSL_CERT_FILE names the shop's own).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -days 1 -keyout "$dir/page.key" -out "$dir/page.pem" 2>/dev/null
kill -TERM "$till"
wait "$till" || fail "the till did not stop cleanly"
rm -f "$dir/shop/listening" "$dir/shop/checkout"
"$ecash" shop --home "$dir/shop" run --checkout-cert "$dir/page.pem" --checkout-key "$dir/page.key" >"$dir/till.log" 2>&1 &
till=$!
for _ in $(seq 300); do [ -s "$dir/shop/listening" ] && [ -s "$dir/shop/checkout" ] && break; sleep 0.1; done
grep -q '^https://127.0.0.1:' "$dir/shop/checkout" || fail "the checkout pages are not on HTTPS: $(cat "$dir/shop/checkout")"
shop order 1.50 --item "a biscuit" --json >"$dir/order" 2>/dev/null || fail "shop order"
secure=$(json "$dir/order" 'j["checkout"]')
code=$(curl -sS --max-time 10 --cacert "$dir/page.pem" -o "$dir/page" -w '%{http_code}' "$secure") || fail "GET $secure"
[ "$code" = 200 ] && grep -q 'a biscuit' "$dir/page" || fail "the HTTPS page: $code $(cat "$dir/page")"
if curl -sS --max-time 10 -o /dev/null "$secure" 2>/dev/null; then fail "an unknown certificate was taken"; fi
SSL_CERT_FILE="$dir/page.pem" "$ecash" wallet --home "$dir/alice" pay --yes "$secure" >"$dir/out" 2>&1 \
  || fail "wallet pay https: $(cat "$dir/out")"
grep -q "paid EUR:1.50" "$dir/out" || fail "wallet pay said: $(cat "$dir/out")"
echo "ok"
