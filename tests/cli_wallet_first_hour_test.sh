#!/usr/bin/env bash
# The first hour with a wallet (issue 16), through the command line as its user meets it, against
# an operator running over the network:
#  1. a payment the bank made is never reported as failed, and every change of the balance has a
#     line in history (a wallet restored from a backup that misses a deposit pays, and says how the
#     bank's figure differs);
#  3. one spendable figure first, then the bank's and what is offline, in text and JSON;
#  4. nothing silent: sync says what it finished, pay reconciles offline value by itself and says
#     so, send says what left, pay and send ask on a terminal (no moves money nothing), --yes skips;
#  5. history with time, article and shop; info; pending and cancel;
#  6. the messages the first hour met, and every sub-command's --help;
#  2. an operator that moved: `wallet relocate` follows it (the same CA).
source "$(dirname "$0")/cli_lib.sh"
alice() { "$ecash" wallet --home "$dir/alice" "$@"; }
bob() { "$ecash" wallet --home "$dir/bob" "$@"; }
shop() { "$ecash" shop --home "$dir/shop" "$@"; }
bank_balance() {  # the bank's figure for a wallet, from its own sync
  "$ecash" wallet --home "$dir/$1" --json sync | python3 -c 'import json,sys; print(json.load(sys.stdin)["at_bank"])'
}
order() {  # order AMOUNT ITEM: the request's file
  shop order "$1" --item "$2" > "$dir/order.$$" 2>/dev/null || fail "shop order $*"
  tail -n 1 "$dir/order.$$" > "$dir/request-$2"
  echo "$dir/request-$2"
}

"$ecash" operator init --data "$dir/op" >/dev/null
"$ecash" sandbox card 4111111111111111 --data "$dir/op" --limit 5000.00 >/dev/null
"$ecash" sandbox card 5555555555554444 --data "$dir/op" >/dev/null
"$ecash" sandbox account DE89370400440532013000 --holder "Corner Cafe" --data "$dir/op" >/dev/null
start_operator 127.0.0.1:0
url=$(cat "$dir/op/center/listening")
alice init --operator "$url" --name Alice --card 4111111111111111 >/dev/null
bob init --operator "$url" --name Bob --card 5555555555554444 >/dev/null
confirm_card "$dir/alice" 4111111111111111
confirm_card "$dir/bob" 5555555555554444
shop init --operator "$url" --name "Corner Cafe" --account DE89370400440532013000 >/dev/null
"$ecash" shop --home "$dir/shop" run >"$dir/till.log" 2>&1 &  # not through shop(): $! would be a subshell
till=$!
for _ in $(seq 100); do grep -q "listening on" "$dir/till.log" && break; sleep 0.1; done
grep -q "listening on" "$dir/till.log" || fail "the till did not start"

# 6. Before a first deposit: what to do, not "unknown user".
tea=$(order 2.50 tea)
if alice pay --yes "$tea" >"$dir/out" 2>"$dir/err"; then fail "paid with no account"; fi
grep -q "make a first deposit (\`ecash wallet deposit AMOUNT\`)" "$dir/err" || fail "first deposit: $(cat "$dir/err")"

alice deposit 50.00 >/dev/null
bob deposit 20.00 >/dev/null

# 1. A backup of Alice's wallet, a deposit, the backup restored: the wallet no longer knows of
#    EUR 10.00. Paying still works, says how the bank's figure differs, and history explains it.
cp -a "$dir/alice" "$dir/alice-backup"
alice deposit 10.00 >/dev/null
rm -rf "$dir/alice" && mv "$dir/alice-backup" "$dir/alice"
alice balance | grep -q "^balance EUR:50.00$" || fail "the restored wallet: $(alice balance)"
alice pay --yes "$tea" >"$dir/out" 2>"$dir/err" || fail "a payment the bank made was reported as failed: $(cat "$dir/err")"
grep -q "paid EUR:2.50 for 'tea'; balance EUR:57.50" "$dir/out" || fail "paid: $(cat "$dir/out")"
grep -q "the bank's balance differed from this wallet's by EUR:10.00" "$dir/out" || fail "difference not said: $(cat "$dir/out")"
[ "$(bank_balance alice)" = "EUR:57.50" ] || fail "the bank holds $(bank_balance alice) for Alice"
alice history >"$dir/out"
grep -q "correction \\+EUR:10.00 \\+balance \\+EUR:60.00" "$dir/out" || fail "no correction line: $(cat "$dir/out")"
grep -q "payment \\+EUR:-2.50 \\+balance \\+EUR:57.50 \\+'tea' at Corner Cafe (shop [0-9A-Z]\\{26\\})$" "$dir/out" || fail "no payment line: $(cat "$dir/out")"
shop sales | grep -q "tea" || fail "the shop has no sale of tea"

# 3. Offline: the spendable figure first, the bank's and the uncleared amount after it.
bob receive 15.00 >"$dir/request"
alice send "$dir/request" >"$dir/transfer" 2>"$dir/err" || fail "send: $(cat "$dir/err")"
grep -q "sent EUR:15.00 offline to wallet .*: hand them the transfer; balance EUR:42.50 (EUR:57.50 at the bank, EUR:-15.00 offline" "$dir/err" \
  || fail "send said: $(cat "$dir/err")"
alice balance | grep -q "^balance EUR:42.50 (EUR:57.50 at the bank, EUR:-15.00 offline and not yet reported to it)$" \
  || fail "alice's balance: $(alice balance)"
[ "$(alice --json balance)" = '{"at_bank":"EUR:57.50","balance":"EUR:42.50","uncleared":"EUR:-15.00"}' ] \
  || fail "alice's JSON balance: $(alice --json balance)"
bob accept "$dir/transfer" >"$dir/ack"
alice confirm "$dir/ack" >/dev/null
alice history | grep -q "sent \\+EUR:-15.00 \\+balance \\+EUR:42.50 \\+offline to wallet" || fail "sent line: $(alice history)"

# 4. Bob pays a shop with value received offline and not yet synced: pay reconciles by itself.
coffee=$(order 30.00 coffee)
bob pay --yes "$coffee" >"$dir/out" 2>"$dir/err" || fail "pay did not reconcile by itself: $(cat "$dir/err")"
grep -q "reconciled 1 offline transfers with the bank first" "$dir/out" || fail "reconciling not said: $(cat "$dir/out")"
grep -q "paid EUR:30.00 for 'coffee'; balance EUR:5.00" "$dir/out" || fail "bob paid: $(cat "$dir/out")"
# 6. The sender's sync says what cleared: sent, not "accepted".
alice sync >"$dir/out"
grep -q "balance EUR:42.50 (0 received and 1 sent transfers cleared at the bank)" "$dir/out" || fail "alice's sync: $(cat "$dir/out")"

# 4. On a terminal, pay and send ask first; "no" moves nothing. Without a terminal they do not ask.
big=$(order 35.00 cake)
echo n | script -qec "$ecash wallet --home $dir/alice pay $big" /dev/null >"$dir/out" 2>&1 && fail "paid after no"
grep -q "Pay EUR:35.00 to Corner Cafe, the shop at 127.0.0.1:[0-9]* for 'cake' (the request expires 20..-..-..T..:..:..Z)? \[y/N\]" "$dir/out" \
  || fail "the question: $(cat "$dir/out")"
grep -q "declined: not paid: you said no" "$dir/out" || fail "no answer: $(cat "$dir/out")"
alice balance | grep -q "^balance EUR:42.50$" || fail "money moved after no: $(alice balance)"
echo y | script -qec "$ecash wallet --home $dir/alice pay $big" /dev/null >"$dir/out" 2>&1 || fail "paid after yes: $(cat "$dir/out")"
grep -q "paid EUR:35.00 for 'cake'; balance EUR:7.50" "$dir/out" || fail "after yes: $(cat "$dir/out")"
bob receive 1.00 >"$dir/request2"
echo n | script -qec "$ecash wallet --home $dir/alice send $dir/request2" /dev/null >"$dir/out" 2>&1 && fail "sent after no"
grep -q "Send EUR:1.00 offline to wallet .*? It leaves this wallet now" "$dir/out" || fail "send's question: $(cat "$dir/out")"
alice balance | grep -q "^balance EUR:7.50$" || fail "money left after no: $(alice balance)"

# 4. An unanswered deposit is finished by the next sync, which says so.
stop_operator
if alice deposit 3.00 >"$dir/out" 2>"$dir/err"; then fail "deposited with the operator down"; fi
start_operator "${url#https://}"
alice sync >"$dir/out" || fail "sync: $(cat "$dir/out")"
grep -q "finished an earlier deposit of EUR:3.00 (its answer had not arrived)" "$dir/out" || fail "sync was silent: $(cat "$dir/out")"
grep -q "balance EUR:10.50" "$dir/out" || fail "after the finished deposit: $(cat "$dir/out")"

# 5. History: time, kind, amount, the balance after, and what it was.
alice history >"$dir/out"
[ "$(grep -c '^20..-..-..T..:..:..Z  ' "$dir/out")" -eq "$(wc -l <"$dir/out")" ] || fail "a line without its time: $(cat "$dir/out")"
grep -q "deposit \\+EUR:3.00 \\+balance \\+EUR:10.50 \\+from your card" "$dir/out" || fail "deposit line: $(cat "$dir/out")"
# 5. info: the pseudonym, the operator and the CA's fingerprint.
alice info >"$dir/out"
grep -q "pseudonym           [0-9A-Z]\{26\}" "$dir/out" || fail "info: $(cat "$dir/out")"
grep -q "operator            $url" "$dir/out" || fail "info's operator: $(cat "$dir/out")"
fingerprint=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["ca_fingerprint"])' < <(alice --json info))
[ "${#fingerprint}" -eq 64 ] || fail "fingerprint '$fingerprint'"
# 5. pending lists an open request for a transfer; cancel closes it, and its transfer is refused.
alice receive 2.00 >"$dir/request3"
alice pending >"$dir/out"
id=$(python3 -c 'import json,sys; print([p["id"] for p in json.load(sys.stdin) if p["kind"] == "receive"][0])' < <(alice --json pending))
grep -q "receive  EUR:2.00  $id" "$dir/out" || fail "pending: $(cat "$dir/out")"
bob send "$dir/request3" >"$dir/transfer3" 2>/dev/null || fail "bob's send"
alice cancel "$id" | grep -q "cancelled the request $id" || fail "cancel"
if alice accept "$dir/transfer3" >/dev/null 2>"$dir/err"; then fail "a transfer for a cancelled request was taken"; fi
grep -q "that request was cancelled on this wallet" "$dir/err" || fail "accept after cancel: $(cat "$dir/err")"
alice pending | grep -q "nothing open" || fail "still pending: $(alice pending)"
if alice cancel "$(sqlite3 "$dir/alice/wallet.db" "SELECT transfer_id FROM outgoing LIMIT 1")" 2>"$dir/err"; then
  fail "a sent transfer was cancelled"
fi
grep -q "it cannot be cancelled" "$dir/err" || fail "cancel of a sent transfer: $(cat "$dir/err")"

# 6. Messages.
if "$ecash" wallet --home "$dir/op" balance 2>"$dir/err"; then fail "a wallet in the operator's folder"; fi
grep -q "$dir/op is an operator's folder, not a wallet's" "$dir/err" || fail "operator's folder: $(cat "$dir/err")"
if "$ecash" wallet --home "$dir/op" init --operator "$url" --name X --card 4111111111111111 2>"$dir/err"; then
  fail "a wallet was made inside the operator's folder"
fi
: >"$dir/empty"
if bob accept "$dir/empty" 2>"$dir/err"; then fail "an empty file was accepted"; fi
grep -q "the file $dir/empty is empty" "$dir/err" || fail "empty file: $(cat "$dir/err")"
if bob pay hello 2>"$dir/err"; then fail "paid hello"; fi
grep -q "'hello' is neither a payment request (ecash://pay?...) nor a file holding one" "$dir/err" || fail "hello: $(cat "$dir/err")"
dear=$(order 90.00 dear)
if bob pay --yes "$dear" 2>"$dir/err"; then fail "paid without the funds"; fi
grep -q "insufficient_funds: .*(pay with --top-up to deposit the difference from your card first)" "$dir/err" || fail "top-up hint: $(cat "$dir/err")"
bob deposit 300.00 >/dev/null
alice receive 250.00 >"$dir/request4"
if bob send "$dir/request4" >/dev/null 2>"$dir/err"; then fail "sent past the offline limit"; fi
grep -q "limit_exceeded: EUR:250.00 is more than a wallet may send offline (EUR:200.00 between two syncs)" "$dir/err" \
  || fail "the limit itself: $(cat "$dir/err")"
if "$ecash" shop --home "$dir/alice" sales 2>"$dir/err"; then fail "a shop in a wallet's folder"; fi
grep -q "$dir/alice is a wallet's folder, not a shop's" "$dir/err" || fail "shop in a wallet's folder: $(cat "$dir/err")"
# A name shown to people holds no line breaks or terminal controls (a shop's is shown by every
# wallet that pays it).
if "$ecash" shop --home "$dir/evil" init --operator "$url" --account DE89370400440532013000 \
     --name "$(printf 'Cafe\n2026-11-27T21:45:00Z  deposit  EUR:500.00 \033[31mX')" 2>"$dir/err"; then
  fail "a name with a line break was certified"
fi
grep -q "invalid_argument: a name or address may not hold line breaks, tabs or control characters" "$dir/err" \
  || fail "a name with controls: $(cat "$dir/err")"
# A shop whose registration did not finish does not open a till that fails every payment.
if "$ecash" shop --home "$dir/nobank" init --operator "$url" --name Bakery --account GB82WEST12345698765432 2>/dev/null; then
  fail "registered with an account the bank does not know"
fi
if "$ecash" shop --home "$dir/nobank" run --listen 127.0.0.1:0 2>"$dir/err"; then fail "an unregistered till ran"; fi
grep -q "this shop is not registered with its operator yet" "$dir/err" || fail "unregistered till: $(cat "$dir/err")"
for sub in init deposit balance history sync pay receive send accept confirm info pending cancel relocate; do
  help=$("$ecash" wallet "$sub" --help)
  grep -q -- "--home" <<<"$help" || fail "wallet $sub --help has no --home"
  grep -q -- "--json" <<<"$help" || fail "wallet $sub --help has no --json"
  if grep -q "Fig [0-9]" <<<"$help"; then fail "wallet $sub --help cites a figure"; fi
done
# 2. The operator moved to another port: the wallet follows it, once it shows the same CA.
stop_operator
start_operator 127.0.0.1:0
moved=$(cat "$dir/op/center/listening")
[ "$moved" != "$url" ] || fail "the operator kept its port under --listen 127.0.0.1:0"
if alice sync >/dev/null 2>"$dir/err"; then fail "synced with an operator that moved"; fi
if alice init --operator "$moved" --name Alice --card 4111111111111111 2>"$dir/err"; then fail "enrolled twice"; fi
grep -q "a wallet is enrolled in $dir/alice already, with the operator at $url: if that operator moved, follow it with \`ecash wallet relocate --operator URL\`" "$dir/err" \
  || fail "init again: $(cat "$dir/err")"
alice relocate --operator "$moved" >"$dir/out" 2>"$dir/err" || fail "relocate: $(cat "$dir/err")"
grep -q "wallet moved from $url to $moved: the same operator (CA fingerprint $fingerprint)" "$dir/out" \
  || fail "relocate said: $(cat "$dir/out")"
alice sync | grep -q "^balance EUR:10.50" || fail "sync after relocate"
alice info | grep -q "operator            $moved" || fail "info after relocate: $(alice info)"
if alice relocate --operator "https://127.0.0.1:1" 2>"$dir/err"; then fail "relocated to nothing"; fi
# 1. A payment whose answer was lost (the shop's side died after the bank took it), then a deposit
#    and a sync before paying the request again: the bank's figures show the payment, history
#    says so once, no correction, and no fraud case for an honest wallet (embedded operator).
e() { "$ecash" wallet --home "$dir/carol" "$@"; }
"$ecash" operator init --data "$dir/emb" >/dev/null
e init --operator "$dir/emb" --name Carol --card 4111111111111111 >/dev/null
confirm_card "$dir/carol" 4111111111111111 --data "$dir/emb"
e deposit 50.00 >/dev/null
"$ecash" shop --home "$dir/emb-shop" init --operator "$dir/emb" --name Kiosk --account DE89370400440532013000 >/dev/null
cake=$("$ecash" shop --home "$dir/emb-shop" order 4.00 --item cake 2>/dev/null)
if ECASH_FAILPOINT=call/shop/pay/after e pay --yes "$cake" >/dev/null 2>&1; then fail "the shop did not die"; fi
e deposit 10.00 >"$dir/out" || fail "deposit after a lost answer"
grep -q "deposited EUR:10.00; balance EUR:56.00" "$dir/out" || fail "after a lost answer: $(cat "$dir/out")"
tea=$("$ecash" shop --home "$dir/emb-shop" order 3.00 --item tea 2>/dev/null)
if ECASH_FAILPOINT=call/shop/pay/after e pay --yes "$tea" >/dev/null 2>&1; then fail "the shop did not die"; fi
e sync >"$dir/out" || fail "sync after a lost answer"
grep -q "balance EUR:53.00" "$dir/out" || fail "sync after a lost answer: $(cat "$dir/out")"
e pay --yes "$cake" | grep -q "paid EUR:4.00 for 'cake'; balance EUR:53.00" || fail "cake again"
e pay --yes "$tea" | grep -q "paid EUR:3.00 for 'tea'; balance EUR:53.00" || fail "tea again"
e history >"$dir/out"
[ "$(grep -c "payment .*'cake' at Kiosk (shop .*) (its answer had not arrived; the bank's balance shows it paid)" "$dir/out")" -eq 1 ] \
  || fail "cake's line: $(cat "$dir/out")"
[ "$(grep -c "payment .*'tea' at Kiosk" "$dir/out")" -eq 1 ] || fail "tea's line: $(cat "$dir/out")"
if grep -q correction "$dir/out"; then fail "a correction for a lost answer: $(cat "$dir/out")"; fi
[ "$(e --json balance)" = '{"at_bank":"EUR:53.00","balance":"EUR:53.00","uncleared":"EUR:0.00"}' ] || fail "carol: $(e --json balance)"
"$ecash" operator cases --data "$dir/emb" | grep -q "no cases" || fail "an honest wallet got a case: $("$ecash" operator cases --data "$dir/emb")"
"$ecash" operator report --data "$dir/emb" | grep -q "balanced" || fail "carol's books"
# ... while a figure the bank never told it still opens one (a wallet's store edited by hand).
sqlite3 "$dir/carol/wallet.db" "UPDATE settings SET value = 'EUR:99.00' WHERE key = 'balance'"
e sync >/dev/null || fail "sync of the edited wallet"
"$ecash" operator cases --data "$dir/emb" | grep -q "device_disagrees" || fail "no case for an edited balance"
"$ecash" operator cases --data "$dir/emb" | grep -q '"device_says":"EUR:99.00"' || fail "the case's evidence"

# A kept address that is no address says which file holds it, and what to do.
echo nonsense >"$dir/emb/center/listen_address"
if "$ecash" operator run --data "$dir/emb" >"$dir/out" 2>"$dir/err"; then fail "ran on a nonsense address"; fi
grep -q "$dir/emb/center/listen_address holds 'nonsense', not an address to listen on (.*): give --listen HOST:PORT" "$dir/err" \
  || fail "nonsense kept address: $(cat "$dir/err")"

"$ecash" operator report --data "$dir/op" | grep -q "balanced" || fail "the books: $("$ecash" operator report --data "$dir/op")"
echo "cli wallet first-hour test passed"
