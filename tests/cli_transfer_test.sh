#!/usr/bin/env bash
# Two wallets on the command line hand value to each other offline through files, then reconcile;
# the operator's report balances; a second accept of the same transfer (its acknowledgement lost)
# gives the same acknowledgement and credits nothing more.
set -euo pipefail
ecash=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$ecash" operator init --data "$dir/op" >/dev/null
# Each card confirmed by its holder with the code the sandbox card company sent (issue 12, finding 6).
for who in alice:4111111111111111 bob:5555555555554444; do
  "$ecash" wallet --home "$dir/${who%%:*}" init --operator "$dir/op" --name "${who%%:*}" \
    --card "${who#*:}" --expiry 12/30 --cvc 123 >/dev/null
  "$ecash" wallet --home "$dir/${who%%:*}" confirm-card \
    "$("$ecash" sandbox code "${who#*:}" --data "$dir/op")" >/dev/null
done
"$ecash" wallet --home "$dir/alice" deposit 50.00 | grep -q "balance EUR:50.00"
"$ecash" wallet --home "$dir/bob" deposit EUR:20.00 | grep -q "balance EUR:20.00"
# Offline: request, transfer and acknowledgement are files.
"$ecash" wallet --home "$dir/bob" receive 15.00 > "$dir/request"
"$ecash" wallet --home "$dir/alice" send "$dir/request" > "$dir/transfer"
"$ecash" wallet --home "$dir/bob" accept < "$dir/transfer" > "$dir/ack"
"$ecash" wallet --home "$dir/alice" confirm "$dir/ack" | grep -q "confirmed"
"$ecash" wallet --home "$dir/bob" balance | grep -q "balance EUR:35.00 (EUR:20.00 at the bank, EUR:15.00 offline and not yet reported to it)"
"$ecash" wallet --home "$dir/bob" accept "$dir/transfer" >"$dir/ack2" 2>"$dir/err"
cmp -s "$dir/ack" "$dir/ack2"
grep -q "accepted already: its acknowledgement again, nothing more credited" "$dir/err"
"$ecash" wallet --home "$dir/bob" balance | grep -q "balance EUR:35.00 (EUR:20.00 at the bank, EUR:15.00 offline and not yet reported to it)"
"$ecash" wallet --home "$dir/bob" sync | grep -q "balance EUR:35.00"
"$ecash" wallet --home "$dir/alice" sync | grep -q "balance EUR:35.00"
# Offline value is what the bank set aside (issue 12): send loaded it (EUR:50.00, the balance being
# under the offline limit), 15 went; the balance says what is left and until when; --offline sets
# it, 0 returns it all.
"$ecash" wallet --home "$dir/alice" balance | grep -q "^offline EUR:35.00 of EUR:50.00 until 20..-..-..T..:..:..Z$"
"$ecash" wallet --home "$dir/alice" sync --offline 10.00 | grep -q "^offline EUR:10.00 of EUR:10.00 until "
"$ecash" wallet --home "$dir/alice" info | grep -q "offline value       offline EUR:10.00 of EUR:10.00"
"$ecash" wallet --home "$dir/alice" sync --offline 0 >/dev/null
if "$ecash" wallet --home "$dir/alice" balance | grep -q "^offline"; then echo "still loaded"; exit 1; fi
"$ecash" wallet --home "$dir/alice" balance | grep -q "^balance EUR:35.00$"
# A shop sells to Bob, who tops up what he is short of, and is paid out.
"$ecash" shop --home "$dir/shop" init --operator "$dir/op" --name "Corner Cafe" --account DE89370400440532013000 | grep -q "shop registered"
"$ecash" shop --home "$dir/shop" order 40.00 --item "a bag of beans" > "$dir/payment_request"
if "$ecash" wallet --home "$dir/bob" pay "$dir/payment_request" 2>"$dir/err"; then
  echo "paid without the funds"; exit 1
fi
grep -q "insufficient_funds: balance EUR:35.00 is short of EUR:40.00 by EUR:5.00" "$dir/err"
"$ecash" wallet --home "$dir/bob" pay --top-up "$dir/payment_request" | grep -q "topped up EUR:5.00"
"$ecash" shop --home "$dir/shop" sales | grep -q "paid  EUR:40.00  a bag of beans"
"$ecash" shop --home "$dir/shop" payout | grep -q "paid out EUR:40.00"
"$ecash" operator report --data "$dir/op" | grep -q "balanced: every cent accounted for"
"$ecash" operator report --data "$dir/op" --json | grep -q '"paid_out":"EUR:40.00"'
"$ecash" operator audit --data "$dir/op" | grep -q "audit passed"
# A transfer past what is left of the allowance: out of the operator's reach, send refuses it
# (allowance_exceeded) and says how to load enough; in reach, it loads enough first and sends.
"$ecash" wallet --home "$dir/alice" sync --offline 10.00 | grep -q "^offline EUR:10.00 of EUR:10.00 until "
"$ecash" wallet --home "$dir/bob" receive 12.00 > "$dir/request2"
mv "$dir/op" "$dir/op.away"
if "$ecash" wallet --home "$dir/alice" send "$dir/request2" >/dev/null 2>"$dir/err"; then
  echo "sent past the allowance"; exit 1
fi
mv "$dir/op.away" "$dir/op"
grep -q "allowance_exceeded: sending EUR:12.00 would pass the offline allowance of EUR:10.00 (EUR:0.00 sent under it): run \`ecash wallet sync --offline EUR:12.00\` (or more)" "$dir/err" ||
  { echo "refusal said: $(cat "$dir/err")"; exit 1; }
"$ecash" wallet --home "$dir/alice" send "$dir/request2" > "$dir/transfer2" 2>"$dir/err"
grep -q "loaded offline value from the bank first: offline EUR:35.00 of EUR:35.00" "$dir/err" ||
  { echo "send said: $(cat "$dir/err")"; exit 1; }
"$ecash" wallet --home "$dir/bob" accept < "$dir/transfer2" > "$dir/ack2"
"$ecash" wallet --home "$dir/alice" confirm "$dir/ack2" | grep -q "confirmed"
"$ecash" wallet --home "$dir/bob" sync | grep -q "balance EUR:12.00"
"$ecash" wallet --home "$dir/alice" sync | grep -q "balance EUR:23.00"
"$ecash" operator report --data "$dir/op" | grep -q "balanced: every cent accounted for"
echo "cli transfer test passed"
