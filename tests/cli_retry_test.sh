#!/usr/bin/env bash
# Commands are safe to run again (issue "Nothing moves twice", findings 1 and 2): a user who runs
# the same command after it failed or was killed never moves money twice.
#  - `wallet deposit` again after it failed (the operator was down) or was killed (after the
#    operator had answered): the earlier deposit is finished and said so; the card is charged once.
#    `--again` deposits the amount a second time on purpose; another amount follows the earlier.
#  - `wallet send` again for a request already sent (its output lost): the same transfer, byte for
#    byte, and the money left the wallet once; `wallet accept` again: the same acknowledgement.
#  - `wallet pay` again for an order it paid (killed after the payment was kept): said so, and
#    nothing more paid.
source "$(dirname "$0")/cli_lib.sh"
charged() {  # cents charged to a card (Alice's unless named)
  card_charged "${1:-4111111111111111}"
}
alice() { "$ecash" wallet --home "$dir/alice" "$@"; }
bob() { "$ecash" wallet --home "$dir/bob" "$@"; }

"$ecash" operator init --data "$dir/op" >/dev/null
"$ecash" sandbox card 4111111111111111 --data "$dir/op" --limit 5000.00 >/dev/null
"$ecash" sandbox card 5555555555554444 --data "$dir/op" >/dev/null
start_operator 127.0.0.1:0
url=$(cat "$dir/op/center/listening")
listen=${url#https://}
alice init --operator "$url" --name Alice --card 4111111111111111 >/dev/null
bob init --operator "$url" --name Bob --card 5555555555554444 >/dev/null
confirm_card "$dir/alice" 4111111111111111
confirm_card "$dir/bob" 5555555555554444
alice deposit 10.00 >/dev/null
bob deposit 5.00 >/dev/null
[ "$(charged)" -eq 1000 ] || fail "charged $(charged)"

# 1a. The operator is down: the deposit fails, and is kept.
stop_operator
if alice deposit 20.00 >"$dir/out" 2>"$dir/err"; then fail "a deposit with the operator down succeeded"; fi
grep -q "unavailable" "$dir/err" || fail "not unavailable"
start_operator "$listen"
alice deposit 20.00 >"$dir/out" 2>"$dir/err" || fail "the deposit run again failed"
grep -q "finished an earlier deposit of EUR:20.00" "$dir/out" || fail "did not say it finished the earlier one"
grep -q "nothing more charged" "$dir/out" || fail "did not say it charged nothing more"
grep -q "balance EUR:30.00" "$dir/out" || fail "balance"
[ "$(charged)" -eq 3000 ] || fail "the card was charged $(charged) cents, not 3000: twice for one deposit"

# 1b. The command is killed after the operator answered, before the wallet kept the answer.
set +e
ECASH_FAILPOINT=call/center/deposit/after alice deposit 7.00 >"$dir/out" 2>"$dir/err"
status=$?
set -e
[ "$status" -eq 86 ] || fail "the wallet was not killed at the failpoint ($status)"
[ "$(charged)" -eq 3700 ] || fail "charged $(charged)"
alice balance | grep -q "EUR:30.00" || fail "the killed deposit's balance was kept"
alice deposit 7.00 >"$dir/out" || fail "the deposit run again failed"
grep -q "finished an earlier deposit of EUR:7.00" "$dir/out" || fail "not finished: $(cat "$dir/out")"
[ "$(charged)" -eq 3700 ] || fail "the card was charged $(charged) cents, not 3700"
alice balance | grep -q "EUR:37.00" || fail "balance after the retry"

# 1b'. Killed after the wallet kept the deposit's answer, before it said so: run again, it
#      says so, and charges nothing more.
set +e
ECASH_FAILPOINT=answer/wallet/deposit bob deposit 6.00 >/dev/null 2>&1
status=$?
set -e
[ "$status" -eq 86 ] || fail "the wallet was not killed after keeping the deposit ($status)"
[ "$(charged 5555555555554444)" -eq 1100 ] || fail "charged $(charged 5555555555554444)"
bob deposit 6.00 >"$dir/out" || fail "the deposit run again failed"
grep -q "an earlier deposit of EUR:6.00 was made (its command did not get to say so)" "$dir/out" \
  || fail "not said: $(cat "$dir/out")"
grep -q "nothing more charged.*balance EUR:11.00" "$dir/out" || fail "charged again: $(cat "$dir/out")"
[ "$(charged 5555555555554444)" -eq 1100 ] || fail "Bob's card was charged $(charged 5555555555554444) cents"
# Said once: the same amount now is a new deposit.
bob deposit 6.00 | grep -q "deposited EUR:6.00; balance EUR:17.00" || fail "a new deposit after it was said"

# 1c. On purpose, the same amount again: --again.
alice deposit 7.00 --again | grep -q "deposited EUR:7.00; balance EUR:44.00" || fail "--again"
[ "$(charged)" -eq 4400 ] || fail "charged $(charged)"

# 1d. Killed again, then another amount: the earlier one is finished, and the new one follows.
set +e
ECASH_FAILPOINT=call/center/deposit/after alice deposit 3.00 >/dev/null 2>&1
set -e
alice deposit 1.00 >"$dir/out" || fail "the next deposit failed"
grep -q "finished an earlier deposit of EUR:3.00" "$dir/out" || fail "the earlier 3.00"
grep -q "deposited EUR:1.00; balance EUR:48.00" "$dir/out" || fail "the new 1.00: $(cat "$dir/out")"
[ "$(charged)" -eq 4800 ] || fail "charged $(charged)"

# 2. The same transfer request sent twice (the first output lost): one transfer.
bob receive 4.00 >"$dir/request"
alice send "$dir/request" | true || true  # the output lost (the sender may die of SIGPIPE)
alice send "$dir/request" >"$dir/transfer1" || fail "the send run again failed"
alice send "$dir/request" >"$dir/transfer2" || fail "the third send failed"
cmp -s "$dir/transfer1" "$dir/transfer2" || fail "sending the same request again made another transfer"
alice balance --json | grep -q '"uncleared":"EUR:-4.00"' || fail "the money left more than once: $(alice balance --json)"
bob accept "$dir/transfer1" >"$dir/ack" || fail "accept"
bob accept "$dir/transfer1" >"$dir/ack2" 2>"$dir/err" || fail "accept again"
cmp -s "$dir/ack" "$dir/ack2" || fail "accepting again gave another acknowledgement"
grep -q "accepted already" "$dir/err" || fail "accepting again did not say so"
alice confirm "$dir/ack" >/dev/null || fail "confirm"
bob sync | grep -q "balance EUR:21.00" || fail "bob's balance"
alice sync | grep -q "balance EUR:44.00" || fail "alice's balance"
# 3. A payment killed after the wallet kept it (the output lost), then paid again: once.
"$ecash" sandbox account DE89370400440532013000 --holder "Corner Cafe" --data "$dir/op" >/dev/null
"$ecash" shop --home "$dir/shop" init --operator "$url" --name "Corner Cafe" \
  --account DE89370400440532013000 >/dev/null
"$ecash" shop --home "$dir/shop" run >"$dir/till.log" 2>&1 &
till=$!
for _ in $(seq 300); do [ -s "$dir/shop/listening" ] && break; sleep 0.1; done
request=$("$ecash" shop --home "$dir/shop" order 2.50 --item tea)
set +e
# Killed after the wallet kept the receipt, before it said so.
ECASH_FAILPOINT=answer/wallet/pay alice pay "$request" >/dev/null 2>&1
status=$?
set -e
[ "$status" -eq 86 ] || fail "the wallet was not killed after keeping the payment ($status)"
alice pay "$request" >"$dir/out" 2>"$dir/err" || fail "paying again failed: $(cat "$dir/err")"
grep -q "this wallet paid EUR:2.50 for 'tea' already: nothing more paid; balance EUR:41.50" "$dir/out" \
  || fail "paying again: $(cat "$dir/out")"
"$ecash" shop --home "$dir/shop" sales | grep -c "paid  EUR:2.50  tea" | grep -qx 1 || fail "sales"
alice sync | grep -q "balance EUR:41.50" || fail "alice's balance after paying again"
kill -TERM "$till"
wait "$till" || fail "the till did not stop cleanly"
till=
"$ecash" operator report --data "$dir/op" | grep -q "balanced: every cent accounted for" || fail "books"
"$ecash" operator audit --data "$dir/op" | grep -q "audit passed" || fail "audit"
stop_operator
echo "cli retry test passed"
