#!/usr/bin/env bash
# The operator dies at the worst moment: it has charged the card and credited the wallet's
# balance for a deposit, and is killed before the answer leaves (ECASH_FAILPOINT makes the
# process exit there). Started again, it answers the wallet's retry of that same request (same
# request ID) with the original answer: the money moved once. Then a plain kill -9 while idle.
source "$(dirname "$0")/cli_lib.sh"
charged() {  # total charged to the card at the card company, in cents
  sqlite3 "$dir/op/sandbox/card_company.db" "SELECT COALESCE(SUM(minor), 0) FROM charges"
}
sagas() {
  sqlite3 "$dir/op/center/center.db" "SELECT COUNT(*) FROM sagas WHERE route = 'deposit'"
}

"$ecash" operator init --data "$dir/op" >/dev/null
"$ecash" sandbox card 4111111111111111 --data "$dir/op" >/dev/null
start_operator 127.0.0.1:0
url=$(cat "$dir/op/center/listening")
listen=${url#https://}
"$ecash" wallet --home "$dir/alice" init --operator "$url" --name Alice --card 4111111111111111 >/dev/null
confirm_card "$dir/alice" 4111111111111111
"$ecash" wallet --home "$dir/alice" deposit 20.00 | grep -q "balance EUR:20.00" || fail "first deposit"
kill -TERM "$pid"
wait "$pid" || fail "the operator did not stop cleanly"

# Killed between doing the deposit and answering it.
start_operator "$listen" ECASH_FAILPOINT=answer/center/deposit
if "$ecash" wallet --home "$dir/alice" deposit 10.00 >"$dir/out" 2>"$dir/err"; then
  fail "the deposit was answered"
fi
grep -q "unavailable" "$dir/err" || fail "the wallet said: $(cat "$dir/err")"
set +e
wait "$pid"
status=$?
set -e
[ "$status" -eq 86 ] || fail "the operator exited with $status, not at the failpoint"
grep -q "crashing at answer/center/deposit" "$dir/operator.log" || fail "no failpoint"
[ "$(charged)" -eq 3000 ] || fail "the card was charged $(charged) cents, not 3000"
[ "$(sagas)" -eq 2 ] || fail "$(sagas) deposits at the center"
# The wallet has not seen an answer: its balance is the old one, the request kept for a retry.
"$ecash" wallet --home "$dir/alice" balance | grep -q "balance EUR:20.00" || fail "balance moved without an answer"

# Started again: the next command first re-sends the unanswered deposit (same request ID), gets
# the original answer, then makes its own deposit.
start_operator "$listen"
"$ecash" wallet --home "$dir/alice" deposit 5.00 | grep -q "balance EUR:35.00" || fail "retry: $(cat "$dir/operator.log")"
[ "$(charged)" -eq 3500 ] || fail "the card was charged $(charged) cents, not 3500: money moved twice"
[ "$(sagas)" -eq 3 ] || fail "$(sagas) deposits at the center, not 3"
[ "$("$ecash" wallet --home "$dir/alice" history | grep -c 'Z  deposit ')" -eq 3 ] || fail "history: $("$ecash" wallet --home "$dir/alice" history)"
"$ecash" operator report --data "$dir/op" | grep -q "deposited        EUR:35.00" || fail "report"

# The same for a payment: killed between paying the shop and answering it. The wallet's retry of
# the same payment request goes out under the first request ID and gets the first answer; a
# payment of the same order under a new request ID (a wallet that lost its record of the first)
# is refused by the bank: an order is paid once.
"$ecash" sandbox account DE89370400440532013000 --holder "Corner Cafe" --data "$dir/op" >/dev/null
"$ecash" shop --home "$dir/shop" init --operator "$url" --name "Corner Cafe" \
  --account DE89370400440532013000 >/dev/null
"$ecash" shop --home "$dir/shop" run >"$dir/shop.log" 2>&1 &
shop_pid=$!
request=$("$ecash" shop --home "$dir/shop" order 7.00 --item "lunch")
kill -TERM "$pid"
wait "$pid" || fail "the operator did not stop cleanly"
start_operator "$listen" ECASH_FAILPOINT=answer/center/pay
if "$ecash" wallet --home "$dir/alice" pay "$request" >"$dir/out" 2>"$dir/err"; then
  fail "the payment was answered"
fi
set +e
wait "$pid"
status=$?
set -e
[ "$status" -eq 86 ] || fail "the operator exited with $status, not at the failpoint"
start_operator "$listen"
cp "$dir/alice/wallet.db" "$dir/alice-before-retry.db"
"$ecash" wallet --home "$dir/alice" pay "$request" | grep -q "paid EUR:7.00 for 'lunch'; balance EUR:28.00" \
  || fail "retried payment"
"$ecash" operator report --data "$dir/op" | grep -q "unpaid sales     EUR:7.00" || fail "sales"
# A copy of the wallet from before the retry has its record of the unanswered payment removed:
# it pays the same order afresh, under a new request ID.
cp "$dir/alice-before-retry.db" "$dir/alice/wallet.db"
rm -f "$dir/alice/wallet.db-wal" "$dir/alice/wallet.db-shm"
sqlite3 "$dir/alice/wallet.db" "DELETE FROM pending"
if "$ecash" wallet --home "$dir/alice" pay "$request" >"$dir/out" 2>"$dir/err"; then
  fail "the order was paid twice: $(cat "$dir/out")"
fi
grep -q "conflict" "$dir/err" || fail "second payment: $(cat "$dir/err")"
"$ecash" operator report --data "$dir/op" | grep -q "unpaid sales     EUR:7.00" || fail "sales after the second try"

# kill -9 while idle, start again, carry on.
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
start_operator "$listen"
cp "$dir/alice-before-retry.db" "$dir/alice/wallet.db"  # the wallet that saw the answer
rm -f "$dir/alice/wallet.db-wal" "$dir/alice/wallet.db-shm"
"$ecash" wallet --home "$dir/alice" pay "$request" >"$dir/out" 2>&1 || fail "the retried payment again: $(cat "$dir/out")"
"$ecash" wallet --home "$dir/alice" sync | grep -q "balance EUR:28.00" || fail "after kill -9"

# The operator stalls (SIGSTOP) while the till waits on it for a payment: the shop goes on taking
# orders meanwhile, and the payment completes when the operator wakes up.
request=$("$ecash" shop --home "$dir/shop" order 1.00 --item "water")
kill -STOP "$pid"
"$ecash" wallet --home "$dir/alice" pay "$request" >"$dir/stalled.out" 2>&1 &
payer=$!
sleep 1
"$ecash" shop --home "$dir/shop" order 2.00 --item "bread" >/dev/null 2>"$dir/err" \
  || { kill -CONT "$pid"; fail "no orders while a payment waits: $(cat "$dir/err")"; }
kill -CONT "$pid"
wait "$payer" || fail "the stalled payment: $(cat "$dir/stalled.out")"
grep -q "paid EUR:1.00 for 'water'" "$dir/stalled.out" || fail "the stalled payment: $(cat "$dir/stalled.out")"

kill -TERM "$shop_pid"
wait "$shop_pid" || fail "the shop did not stop cleanly"
"$ecash" operator report --data "$dir/op" | grep -q "balanced: every cent accounted for" || fail "books"
"$ecash" operator audit --data "$dir/op" | grep -q "audit passed" || fail "audit"
echo "cli crash test passed"
