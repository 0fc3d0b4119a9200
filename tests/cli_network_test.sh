#!/usr/bin/env bash
# The whole system as separate processes on loopback, driven through the command line only: the
# CA, center, bank and clearing each in its own process (--role), the institution sandboxes in
# another, a shop's server, and two wallets. Every flow: enrolment with a pinned CA, deposits,
# a payment through an ecash://pay request, an offline transfer, reconciliation, a top-up, a
# payout, the circulation report and audit, and a revoked wallet refused with nothing changed.
# With ECASH_TEST_ENGINE=postgresql (CTest's pg.cli_network), the roles' stores are in a database
# of their own on the server ECASH_TEST_POSTGRES names (operator init --store).
source "$(dirname "$0")/cli_lib.sh"
[ -n "${KEEP_LOGS:-}" ] && trap "for l in \"\$dir\"/*.log; do echo \"--- \$l\"; cat \"\$l\"; done; cleanup" EXIT
expect() {  # expect PATTERN COMMAND...: the command succeeds and prints PATTERN
  local pattern=$1
  shift
  local out
  out=$("$@" 2>&1) || fail "$* exited non-zero: $out"
  grep -q -- "$pattern" <<<"$out" || fail "$* printed '$out', not '$pattern'"
}
refused() {  # refused PATTERN COMMAND...: the command fails, saying PATTERN on stderr
  local pattern=$1
  shift
  if "$@" >"$dir/out" 2>"$dir/err"; then fail "$* succeeded"; fi
  grep -q -- "$pattern" "$dir/err" || fail "$* said '$(cat "$dir/err")', not '$pattern'"
}

op="$dir/op"
store=()
if [ "${ECASH_TEST_ENGINE:-}" = postgresql ]; then
  test_database "network_$$"
  store=(--store "$store_url")
fi
fingerprint=$("$ecash" operator init --data "$op" "${store[@]}" --json | sed 's/.*"ca_fingerprint":"\([0-9a-f]*\)".*/\1/')
[ ${#fingerprint} -eq 64 ] || fail "no CA fingerprint from operator init"

start sandbox sandbox run --data "$op" --crl-refresh 1
sandbox=$(wait_for "$op/sandbox/listening")
for role in ca bank clearing center; do
  start "$role" operator run --data "$op" --role "$role" --listen 127.0.0.1:0 --crl-refresh 1 \
    --card-company "$sandbox" --bank "$sandbox"
done
url=$(wait_for "$op/center/listening")
for role in ca bank clearing; do
  grep -q "$role listening on https://127.0.0.1:" "$dir/$role.log" || fail "$role is not its own process"
done
grep -q "center listening on $url" "$dir/center.log" || fail "no center"

# The institutions: a card for each user, an account for the shop.
expect "opened" "$ecash" sandbox card 4111111111111111 --data "$op"
expect "opened" "$ecash" sandbox card 5555555555554444 --data "$op"
expect "opened" "$ecash" sandbox account DE89370400440532013000 --holder "Corner Cafe" --data "$op"

# Enrolment: the CA pinned by fingerprint, or on first use (said so); a wrong one refused.
refused "untrusted_issuer" "$ecash" wallet --home "$dir/mallory" init --operator "$url" --name M \
  --card 4111111111111111 --ca-fingerprint "$(printf '0%.0s' $(seq 64))"
expect "matches --ca-fingerprint" "$ecash" wallet --home "$dir/alice" init --operator "$url" \
  --name Alice --card 4111111111111111 --ca-fingerprint "$fingerprint"
expect "on first use: fingerprint $fingerprint" "$ecash" wallet --home "$dir/bob" init \
  --operator "$url" --name Bob --card 5555555555554444
# Run again (its output lost): said so, nothing more done; towards another operator: refused.
expect "already (by an earlier init): nothing more to do" "$ecash" wallet --home "$dir/bob" init \
  --operator "$url" --name Bob --card 5555555555554444
refused "conflict" "$ecash" wallet --home "$dir/bob" init --operator "https://127.0.0.1:1" --name Bob \
  --card 5555555555554444
refused "give https://127.0.0.1" "$ecash" wallet --home "$dir/carol" init --operator "${url#https://}" \
  --name Carol --card 4111111111111111
refused "over https://" "$ecash" wallet --home "$dir/carol" init --operator "http://${url#https://}" \
  --name Carol --card 4111111111111111
# An init that stopped after enrolling, before it connected, goes on when run again.
expect "wallet enrolled" "$ecash" wallet --home "$dir/carol" init --operator "$url" --name Carol --card 4111111111111111
sqlite3 "$dir/carol/wallet.db" "DELETE FROM settings WHERE key = 'operator'"
expect "enrolled already: connecting" "$ecash" wallet --home "$dir/carol" init --operator "$url" --name Carol \
  --card 4111111111111111
# A second copy of a running role is refused (it would serve the same store).
refused "another process is serving" "$ecash" operator run --data "$op" --role bank --listen 127.0.0.1:0

# Each card confirmed by its holder before a first deposit (issue 12, finding 6): the code the
# sandbox card company sent, typed in as the holder's banking app shows it.
for who in alice:4111111111111111 bob:5555555555554444; do
  expect "one-time code" "$ecash" wallet --home "$dir/${who%%:*}" verify-card --expiry 12/30 --cvc 123
  expect "card confirmed" "$ecash" wallet --home "$dir/${who%%:*}" confirm-card \
    "$("$ecash" sandbox code "${who#*:}" --data "$op")"
done

# Deposits (Figs 2 and 5), amounts with or without the currency.
expect "balance EUR:50.00" "$ecash" wallet --home "$dir/alice" deposit 50.00
expect "balance EUR:20.00" "$ecash" wallet --home "$dir/bob" deposit EUR:20.00
refused "currency_mismatch\|unknown_currency\|bad_amount" "$ecash" wallet --home "$dir/bob" deposit USD:1.00
refused "declined" "$ecash" wallet --home "$dir/bob" deposit 5000.00
expect '"balance":"EUR:20.00"' "$ecash" wallet --home "$dir/bob" balance --json

# The shop: registration (Fig 6), its wallet-facing server, a payment request, a payment (Fig 10).
# The fingerprint as openssl prints it (upper case, colons) is taken too.
openssl_fingerprint=$(openssl x509 -noout -fingerprint -sha256 -in "$op/ca/ca.pem" | cut -d= -f2)
expect "shop registered" "$ecash" shop --home "$dir/shop" init --operator "$url" --name "Corner Cafe" \
  --account DE89370400440532013000 --ca-fingerprint "$openssl_fingerprint"
start shop shop --home "$dir/shop" run --crl-refresh 1
wait_for "$dir/shop/listening" >/dev/null
request=$("$ecash" shop --home "$dir/shop" order 12.50 --item "flat white")
[[ $request == ecash://pay\?shop=127.0.0.1:* ]] || fail "not a payment request: $request"
expect "paid EUR:12.50 for 'flat white'; balance EUR:37.50" "$ecash" wallet --home "$dir/alice" pay "$request"
# Paid again (the output lost): said so, and nothing more paid.
expect "this wallet paid EUR:12.50 for 'flat white' already: nothing more paid; balance EUR:37.50" \
  "$ecash" wallet --home "$dir/alice" pay "$request"
expect "paid  EUR:12.50  flat white" "$ecash" shop --home "$dir/shop" sales

# Device to device, offline (Figs 8 and 9): request, transfer and acknowledgement are files.
"$ecash" wallet --home "$dir/bob" receive 15.00 >"$dir/transfer_request"
"$ecash" wallet --home "$dir/alice" send "$dir/transfer_request" >"$dir/transfer"
"$ecash" wallet --home "$dir/bob" accept <"$dir/transfer" >"$dir/ack"
expect "confirmed" "$ecash" wallet --home "$dir/alice" confirm "$dir/ack"
# Accepted again (the acknowledgement lost): the same acknowledgement, nothing more credited.
"$ecash" wallet --home "$dir/bob" accept <"$dir/transfer" >"$dir/ack2" 2>"$dir/err" || fail "accept again"
cmp -s "$dir/ack" "$dir/ack2" || fail "accepting again gave another acknowledgement"
grep -q "accepted already" "$dir/err" || fail "accepting again did not say so"
expect "balance EUR:35.00 (EUR:20.00 at the bank, EUR:15.00 offline and not yet reported to it)" "$ecash" wallet --home "$dir/bob" balance
# Reconciliation through the center and bank.
expect "balance EUR:35.00" "$ecash" wallet --home "$dir/bob" sync
expect "balance EUR:22.50" "$ecash" wallet --home "$dir/alice" sync

# Short of funds: told by how much; then a top-up from the card pays it (S151).
request=$("$ecash" shop --home "$dir/shop" order 40.00 --item "a bag of beans")
refused "short of EUR:40.00 by EUR:5.00" "$ecash" wallet --home "$dir/bob" pay "$request"
expect "topped up EUR:5.00" "$ecash" wallet --home "$dir/bob" pay --top-up "$request"

# The bank restarts on another port: the center finds it again where it wrote its address.
bank_pid=${procs[2]}  # sandbox, ca, bank, clearing, center
kill -TERM "$bank_pid"
wait "$bank_pid" || fail "the bank did not stop cleanly"
start bank2 operator run --data "$op" --role bank --listen 127.0.0.1:0 --crl-refresh 1
wait_for "$op/bank/listening" >/dev/null
# Found at once: the center looks where the bank says it listens at its first failed attempt
# (it used to try the old port for 3 s first).
started=$(date +%s%N)
expect "balance EUR:32.50" "$ecash" wallet --home "$dir/alice" deposit 10.00
took_ms=$(( ($(date +%s%N) - started) / 1000000 ))
[ "$took_ms" -lt 2000 ] || fail "the deposit after the bank moved took $took_ms ms"
kept=()
for pid in "${procs[@]}"; do [ "$pid" = "$bank_pid" ] || kept+=("$pid"); done
procs=("${kept[@]}")

# Payout to the shop's bank account (Fig 11).
expect "paid out EUR:52.50" "$ecash" shop --home "$dir/shop" payout

# Every cent accounted for, with every role still running.
expect "balanced: every cent accounted for" "$ecash" operator report --data "$op"
expect '"paid_out":"EUR:52.50"' "$ecash" operator report --data "$op" --json
expect "audit passed" "$ecash" operator audit --data "$op"

# A revoked wallet is refused by the running roles once they hold the new CRL; nothing changes.
sqlite3 "$dir/bob/wallet.db" "SELECT value FROM settings WHERE key = 'certificate'" >"$dir/bob.pem"
serial=$(openssl x509 -noout -serial -in "$dir/bob.pem" | cut -d= -f2)
before=$("$ecash" operator report --data "$op" --json)
expect "revoked" "$ecash" operator revoke "$serial" --data "$op"
# The roles fetch the new CRL within a second or so (--crl-refresh 1); wait for it, asking with
# a request that moves no money.
for _ in $(seq 40); do
  "$ecash" wallet --home "$dir/bob" sync >/dev/null 2>&1 || break
  sleep 0.5
done
refused "certificate_revoked\|refused this certificate" "$ecash" wallet --home "$dir/bob" deposit 1.00
echo "revoked wallet: $(cat "$dir/err")"
[ "$before" = "$("$ecash" operator report --data "$op" --json)" ] || fail "a refused deposit changed the books"
expect "balance EUR:32.50" "$ecash" wallet --home "$dir/alice" sync  # the others carry on

# Every process stops cleanly on SIGTERM and takes its address back.
for pid in "${procs[@]}"; do kill -TERM "$pid"; done
for pid in "${procs[@]}"; do wait "$pid" || fail "process $pid did not stop cleanly"; done
procs=()
[ ! -e "$op/center/listening" ] || fail "the center left its address behind"
echo "cli network test passed"
