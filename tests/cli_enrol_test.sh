#!/usr/bin/env bash
# Enrolment that proves something (issue 12, finding 6): 100 wallets had enrolled in 2.9 s with a
# card number the card company did not know, and a wallet enrolled with another person's card
# number had deposited from it. Now, against a running operator:
#  1. a card the card company does not know fails at verification (declined), and nothing deposits;
#  2. another person's card number without its expiry, CVC and the code sent to its holder is not
#     charged: wrong CVC (wrong_cvc), wrong expiry (wrong_expiry), no code (card_not_confirmed),
#     a wrong code (wrong_code), and the operator refuses the charge even when the wallet's own store
#     says the card is confirmed (card_not_confirmed); the holder's own wallet deposits;
#  3. enrolments from one address past the operator's limit (10 a minute) are rate_limited.
source "$(dirname "$0")/cli_lib.sh"
alice() { "$ecash" wallet --home "$dir/alice" "$@"; }
mallory() { "$ecash" wallet --home "$dir/mallory" "$@"; }
refused() {  # refused CODE COMMAND...: the command fails with the code on stderr
  local code=$1
  shift
  if "$@" >"$dir/out" 2>"$dir/err"; then fail "$* succeeded"; fi
  grep -q -- "$code" "$dir/err" || fail "$* said '$(cat "$dir/err")', not '$code'"
}
"$ecash" operator init --data "$dir/op" >/dev/null
"$ecash" sandbox card 4111111111111111 --expiry 08/29 --cvc 737 --data "$dir/op" >"$dir/out"
grep -q "card \*\*\*\*1111 opened, limit EUR:1000.00, expiry 08/29, CVC 737$" "$dir/out" ||
  fail "sandbox card said: $(cat "$dir/out")"
"$ecash" sandbox card 5555555555554444 --data "$dir/op" | grep -q "expiry 12/30, CVC 123 (the sandbox's defaults)" ||
  fail "the sandbox's defaults were not said"
start_operator 127.0.0.1:0
url=$(cat "$dir/op/center/listening")
enrolments=0
first=$(date +%s)  # the limit's bucket refills 10 a minute: a slow run earns a token every 6 s

# 1. A card the card company does not know.
refused "declined: unknown card \*\*\*\*5556" "$ecash" wallet --home "$dir/nobody" init --operator "$url" \
  --name Nobody --card 4000056655665556 --expiry 12/30 --cvc 123
enrolments=$((enrolments + 1))
refused "card_not_confirmed" "$ecash" wallet --home "$dir/nobody" deposit 10.00

# 2. Mallory enrols with Alice's card number.
refused "wrong_cvc" mallory init --operator "$url" --name Mallory --card 4111111111111111 \
  --expiry 08/29 --cvc 123
enrolments=$((enrolments + 1))
refused "wrong_expiry" mallory verify-card --expiry 12/30 --cvc 737
refused "card_not_confirmed" mallory deposit 10.00
# With the number, expiry and CVC (a stolen card's details), the code goes to Alice, not Mallory.
mallory verify-card --expiry 08/29 --cvc 737 | grep -q "one-time code" || fail "verify-card"
refused "wrong_code" mallory deposit 10.00 --code 000000
refused "wrong_code" mallory confirm-card 999999
# Mallory's wallet says the card is confirmed: the card company still refuses the charge.
sqlite3 "$dir/mallory/wallet.db" "INSERT INTO settings (key, value) VALUES ('card_confirmed', '1')"
refused "card_not_confirmed" mallory deposit 10.00
grep -q "nothing charged -- \`ecash wallet verify-card" "$dir/err" || fail "no way on said: $(cat "$dir/err")"
[ "$(card_charged 4111111111111111)" = 0 ] || fail "Alice's card was charged for Mallory"

# Alice, holding the card and reading the code in her banking app, deposits.
alice init --operator "$url" --name Alice --card 4111111111111111 --expiry 08/29 --cvc 737 >"$dir/out"
enrolments=$((enrolments + 1))
grep -q "your card company sent you a one-time code" "$dir/out" || fail "init said: $(cat "$dir/out")"
alice deposit 10.00 --code "$("$ecash" sandbox code 4111111111111111 --data "$dir/op")" |
  grep -q "balance EUR:10.00" || fail "Alice's first deposit"
alice deposit 5.00 | grep -q "balance EUR:15.00" || fail "Alice's second deposit"
[ "$(card_charged 4111111111111111)" = 1500 ] || fail "Alice's card: $(card_charged 4111111111111111)"

# 3. Enrolments from one address: the operator's limit (10 a minute) refuses the rest. None is
# refused within the first 10; one is refused before the refills the run's time allows.
limited=""
for i in $(seq $((enrolments + 1)) 40); do
  if "$ecash" wallet --home "$dir/w$i" init --operator "$url" --name "W$i" --card 5555555555554444 \
    >"$dir/out" 2>"$dir/err"; then :; elif grep -q rate_limited "$dir/err"; then limited=$i; break; fi
done
allowed=$((10 + ($(date +%s) - first) / 6 + 1))
[ -n "$limited" ] || fail "40 enrolments from one address, none rate_limited"
[ "$limited" -gt 10 ] || fail "enrolment $limited rate_limited, within the limit of 10"
[ "$limited" -le "$allowed" ] || fail "enrolment $limited rate_limited, past the $allowed the limit allows"
echo "cli enrol test passed"
