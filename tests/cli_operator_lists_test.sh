#!/usr/bin/env bash
# What an operator may list, and the operator's and sandbox's first hour (issue 16, findings 2, 5
# and 6, their operator part), through the command line on an embedded operator's folder:
#  - `operator users|shops|certificates` list members and certificates, and never a card number,
#    IBAN, or a user's name or address (those stay at the card company, the bank, clearing sealed,
#    and the CA); `operator revoke` takes a serial from `operator certificates`;
#  - `sandbox cards|accounts` list what the sandboxes hold, numbers masked;
#  - sandbox errors say `ecash sandbox:`; a wallet's or shop's folder, or a part of the operator,
#    given as --data is said to be one (no operator suggested there); every operator and sandbox sub-command's --help lists
#    its options, and no help cites a patent figure;
#  - `operator run` and `sandbox run` started again without --listen come up on the address they
#    had, and say so; that address taken is an error naming it and --listen, not another port.
source "$(dirname "$0")/cli_lib.sh"
op="$dir/op"
card_a=4111111111111111
card_b=5555555555554444
iban=DE89370400440532013000
has() {  # has FILE TEXT: FILE holds TEXT (fixed string)
  grep -qF -- "$2" "$1" || fail "$1 lacks '$2': $(cat "$1")"
}
lacks() {  # lacks FILE TEXT
  if grep -qF -- "$2" "$1"; then fail "$1 shows '$2': $(cat "$1")"; fi
}
run() {  # run NAME ARGS...: ecash ARGS, its output in $dir/NAME (and NAME.err); must succeed
  local name=$1
  shift
  "$ecash" "$@" >"$dir/$name" 2>"$dir/$name.err" || fail "ecash $* failed: $(cat "$dir/$name.err")"
}
center_db() { sqlite3 "$op/center/center.db" "$1"; }
when='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'  # a moment in a list

"$ecash" operator init --data "$op" >/dev/null
"$ecash" wallet --home "$dir/alice" init --operator "$op" --name "Alice Quuxworth" \
  --address "Quux Street 1" --card $card_a >/dev/null
confirm_card "$dir/alice" $card_a --data "$op"
"$ecash" wallet --home "$dir/alice" deposit 25.00 >/dev/null
# Bob enrols and deposits nothing: no user ID yet.
"$ecash" wallet --home "$dir/bob" init --operator "$op" --name "Bob Zyxwell" --card $card_b >/dev/null
"$ecash" shop --home "$dir/shop" init --operator "$op" --name "Corner Cafe" --account $iban >/dev/null

# --- operator users
user_id=$(center_db "SELECT user_id FROM users")
user_serial=$(center_db "SELECT certificate_serial FROM users")
[ -n "$user_id" ] && [ -n "$user_serial" ] || fail "the center has no user"
run users operator users --data "$op"
has "$dir/users" "USER ID"
grep -qE "^$user_id +$user_serial +$when +no +0$" "$dir/users" ||
  fail "no line for $user_id with its serial, not revoked, no cases: $(cat "$dir/users")"
[ "$(wc -l <"$dir/users")" -eq 2 ] || fail "users lists other than Alice: $(cat "$dir/users")"
run users.json operator users --data "$op" --json
[ "$(jq -r '.[0].user_id + " " + .[0].certificate_serial + " " + (.[0].open_cases|tostring) + " " + (.[0].revoked|tostring)' "$dir/users.json")" = "$user_id $user_serial 0 null" ] ||
  fail "users --json: $(cat "$dir/users.json")"
[ "$(jq length "$dir/users.json")" -eq 1 ] || fail "users --json lists $(jq length "$dir/users.json")"

# --- operator sweep (with one process per role, from a timer): a user with an open fraud case is
# revoked, once; Bob, enrolled a moment ago with no deposit, is not (that waits a day).
cp -a "$op" "$dir/op3"
sqlite3 "$dir/op3/center/center.db" \
  "INSERT INTO cases (case_id, user_id, kind, statement, evidence, opened, state) VALUES ('C1', '$user_id', 'test', '{}', '{}', 0, 'open')"
run sweep operator sweep --data "$dir/op3"
has "$dir/sweep" "certificates revoked: 1 of users with an open fraud case, 0 of wallets enrolled more than a day ago"
run sweep.json operator sweep --data "$dir/op3" --json
[ "$(jq -c . "$dir/sweep.json")" = '{"unconfirmed":[],"under_cases":[]}' ] || fail "a second sweep: $(cat "$dir/sweep.json")"
run users3 operator users --data "$dir/op3"
grep -qE "^$user_id +$user_serial +$when +$when +1$" "$dir/users3" || fail "not revoked by the sweep: $(cat "$dir/users3")"
rm -rf "$dir/op3"

# --- operator shops
shop_id=$(center_db "SELECT shop_id FROM shops")
shop_serial=$(center_db "SELECT certificate_serial FROM shops")
run shops operator shops --data "$op"
grep -qE "^$shop_id +Corner Cafe +$shop_serial +$when +no$" "$dir/shops" ||
  fail "no line for the shop: $(cat "$dir/shops")"
run shops.json operator shops --data "$op" --json
[ "$(jq -r '.[0].shop_id + " " + .[0].name + " " + .[0].certificate_serial' "$dir/shops.json")" = "$shop_id Corner Cafe $shop_serial" ] ||
  fail "shops --json: $(cat "$dir/shops.json")"

# --- operator certificates: every one the CA issued, as its store has them
run certs operator certificates --data "$op"
run certs.json operator certificates --data "$op" --json
[ "$(jq -r 'map(.serial) | sort | join(" ")' "$dir/certs.json")" = \
  "$(sqlite3 "$op/ca/ca.db" "SELECT serial FROM certificates ORDER BY serial" | paste -sd' ')" ] ||
  fail "certificates are not the CA's: $(cat "$dir/certs.json")"
[ "$(jq -r 'map(.role) | sort | join(" ")' "$dir/certs.json")" = "admin bank center clearing institution shop wallet wallet" ] ||
  fail "roles: $(cat "$dir/certs.json")"
subject=$(sqlite3 "$op/ca/ca.db" "SELECT subject FROM certificates WHERE serial = '$user_serial'")
grep -qE "^$user_serial +wallet +$subject +$when +$when +no$" "$dir/certs" ||
  fail "no line for Alice's certificate: $(cat "$dir/certs")"

# Nothing the operator's lists show names a card, an account or a user (not even masked).
for f in users users.json shops shops.json certs certs.json; do
  for secret in $card_a $card_b "****1111" "****4444" $iban "DE89 3704" "****3000" Alice Quuxworth "Quux Street" Bob Zyxwell; do
    lacks "$dir/$f" "$secret"
  done
done

# --- sandbox cards and accounts: what the institutions hold, numbers masked
run cards sandbox cards --data "$op"
grep -qE '^\*\*\*\*1111 +EUR:1000.00 +EUR:25.00 +EUR:0.00 +EUR:975.00 ' "$dir/cards" || fail "Alice's card: $(cat "$dir/cards")"
grep -qE '^\*\*\*\*4444 +EUR:1000.00 +EUR:0.00 +EUR:0.00 +EUR:1000.00 ' "$dir/cards" || fail "Bob's card: $(cat "$dir/cards")"
run cards.json sandbox cards --data "$op" --json
[ "$(jq -r 'map(.card + "=" + .charged) | join(" ")' "$dir/cards.json")" = "****1111=EUR:25.00 ****4444=EUR:0.00" ] ||
  fail "cards --json: $(cat "$dir/cards.json")"
run accounts sandbox accounts --data "$op"
grep -qE '^\*\*\*\*3000 +Corner Cafe +EUR:0.00 +0 ' "$dir/accounts" || fail "the cafe's account: $(cat "$dir/accounts")"
run accounts.json sandbox accounts --data "$op" --json
[ "$(jq -r '.[0].iban + "|" + .[0].holder + "|" + .[0].balance' "$dir/accounts.json")" = "****3000|Corner Cafe|EUR:0.00" ] ||
  fail "accounts --json: $(cat "$dir/accounts.json")"
for f in cards cards.json accounts accounts.json; do
  for secret in $card_a $card_b $iban; do lacks "$dir/$f" "$secret"; done
done

# --- operator revoke, with the serial `operator certificates` lists (upper case, as openssl
# prints it, works too); Alice's wallet is then refused, and the lists say revoked.
serial=$(jq -r --arg s "$subject" '.[] | select(.subject == $s) | .serial' "$dir/certs.json")
[ "$serial" = "$user_serial" ] || fail "certificates gave '$serial' for Alice's subject"
run revoke operator revoke "${serial^^}" --data "$op"
has "$dir/revoke" "revoked $serial"
if "$ecash" wallet --home "$dir/alice" deposit 1.00 >"$dir/out" 2>"$dir/err"; then fail "a revoked wallet deposited"; fi
has "$dir/err" "certificate_revoked"
run certs operator certificates --data "$op"
grep -qE "^$serial +wallet +$subject +.* $when$" "$dir/certs" || fail "not shown revoked: $(cat "$dir/certs")"
[ "$(grep -cE ' no$' "$dir/certs")" -eq 7 ] || fail "other certificates shown revoked: $(cat "$dir/certs")"
run users operator users --data "$op"
grep -qE "^$user_id +$user_serial +$when +$when +0$" "$dir/users" ||
  fail "users does not show Alice revoked: $(cat "$dir/users")"
if "$ecash" operator revoke 00ff --data "$op" >"$dir/out" 2>"$dir/err"; then fail "an unknown serial was revoked"; fi
has "$dir/err" "ecash operator: not_found: no certificate 00ff"

# An open fraud case is counted on its user (a case put in the center's store, on a copy).
cp -a "$op" "$dir/op2"
sqlite3 "$dir/op2/center/center.db" \
  "INSERT INTO cases (case_id, user_id, kind, statement, evidence, opened, state) VALUES ('C1', '$user_id', 'test', '{}', '{}', 0, 'open')"
run users2.json operator users --data "$dir/op2" --json
[ "$(jq '.[0].open_cases' "$dir/users2.json")" -eq 1 ] || fail "the open case is not counted: $(cat "$dir/users2.json")"
rm -rf "$dir/op2"

# --- messages: a sandbox's error is the sandbox's
if "$ecash" sandbox card 411 --data "$op" >"$dir/out" 2>"$dir/err"; then fail "a 3-digit card was opened"; fi
has "$dir/err" "ecash sandbox: bad_account"
lacks "$dir/err" "ecash operator"
if "$ecash" sandbox cards --data "$dir/none" >"$dir/out" 2>"$dir/err"; then fail "cards of no operator"; fi
has "$dir/err" "ecash sandbox: not_found"

# A wallet's or shop's folder, or a part of the operator, given as --data: said so, and no
# operator is suggested (or made) there.
if "$ecash" operator users --data "$dir/alice" >"$dir/out" 2>"$dir/err"; then fail "users of a wallet's folder"; fi
has "$dir/err" "ecash operator: invalid_argument: $dir/alice is a wallet's folder, not an operator's"
lacks "$dir/err" "init --data $dir/alice"
if "$ecash" sandbox cards --data "$dir/shop" >"$dir/out" 2>"$dir/err"; then fail "cards of a shop's folder"; fi
has "$dir/err" "ecash sandbox: invalid_argument: $dir/shop is a shop's folder, not an operator's"
if "$ecash" operator report --data "$op/center" >"$dir/out" 2>"$dir/err"; then fail "report of the center's folder"; fi
has "$dir/err" "ecash operator: invalid_argument: $op/center is a part of the operator in $op: give --data $op"
if "$ecash" operator init --data "$op/center" >"$dir/out" 2>"$dir/err"; then fail "an operator made inside another"; fi
has "$dir/err" "is a part of the operator in $op"
[ ! -e "$op/center/operator.json" ] || fail "an operator was made inside another"

# --- --help: every sub-command lists the options that apply to it; no patent figures
for sub in init run revoke sweep report audit cases users shops certificates disclose; do
  "$ecash" operator $sub --help >"$dir/help" || fail "operator $sub --help"
  has "$dir/help" "--data"
  has "$dir/help" "--json"
done
for sub in run card account cards accounts; do
  "$ecash" sandbox $sub --help >"$dir/help" || fail "sandbox $sub --help"
  has "$dir/help" "--data"
  has "$dir/help" "--json"
done
"$ecash" operator report --help >"$dir/help"
has "$dir/help" "--books-only"
"$ecash" operator run --help >"$dir/help"
for o in --listen --role --crl-refresh --credit-deadline; do has "$dir/help" "$o"; done
"$ecash" sandbox run --help >"$dir/help"
has "$dir/help" "--listen"
for cmd in operator sandbox; do
  "$ecash" $cmd --help >"$dir/help"
  for sub in $("$ecash" $cmd --help | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 {print $1}'); do
    "$ecash" $cmd "$sub" --help >>"$dir/help"
  done
done
if grep -nE 'Figs? [0-9]|\(S[0-9]+' "$dir/help"; then fail "help cites a patent figure"; fi

# --- the front door keeps its address
started() {  # started FILE LOG ARGS...: ecash ARGS in the background (as $pid), up once FILE is written
  local file=$1 log=$2
  shift 2
  rm -f "$file"
  "$ecash" "$@" >"$dir/$log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    [ -s "$file" ] && return 0
    kill -0 "$pid" 2>/dev/null || fail "ecash $* ended: $(cat "$dir/$log")"
    sleep 0.1
  done
  fail "ecash $* did not start"
}
stopped() {  # stops $pid, which must end cleanly
  kill -TERM "$pid"
  wait "$pid" || fail "did not stop cleanly"
  pid=
}
restarts_where_it_was() {  # FOLDER LOG ARGS...: ecash ARGS on a free port, stopped, started again
  # without --listen: on the same address ($first), saying so.
  local folder=$1 log=$2
  shift 2
  started "$folder/listening" "$log" "$@" --listen 127.0.0.1:0
  first=$(cat "$folder/listening")
  stopped
  has "$dir/$log" "listening on $first (kept for its next start; --listen to change it)"
  started "$folder/listening" "$log" "$@"
  [ "$(cat "$folder/listening")" = "$first" ] || fail "ecash $* restarted on $(cat "$folder/listening"), not $first"
  has "$dir/$log" "listening on $first (the address it had before; --listen to change it)"
  stopped
}
restarts_where_it_was "$op/center" operator.log operator run --data "$op"
port=${first##*:}
# Its port taken: an error naming the port and --listen, and nothing listens elsewhere.
python3 -c "import socket, time
s = socket.socket(); s.bind(('127.0.0.1', $port)); s.listen(); time.sleep(60)" &
holder=$!
on_exit() { kill "$holder" 2>/dev/null || true; }
sleep 0.5
if "$ecash" operator run --data "$op" >"$dir/out" 2>"$dir/err"; then fail "started with its port taken"; fi
has "$dir/err" "ecash operator: unavailable: cannot listen on 127.0.0.1:$port, where this operator listened before"
has "$dir/err" "--listen HOST:PORT"
[ ! -e "$op/center/listening" ] || fail "it listens somewhere: $(cat "$op/center/listening")"
# --listen moves it, and the new address is kept.
started "$op/center/listening" operator.log operator run --data "$op" --listen 127.0.0.1:0
moved=$(cat "$op/center/listening")
stopped
[ "$moved" != "$first" ] || fail "--listen 127.0.0.1:0 came up on the taken port"
[ "$(cat "$op/center/listen_address")" = "${moved#https://}" ] || fail "kept $(cat "$op/center/listen_address"), not $moved"
kill "$holder"

# --- the sandboxes keep theirs (operator.json names them by it)
restarts_where_it_was "$op/sandbox" sandbox.log sandbox run --data "$op"
echo "cli operator lists test passed"
