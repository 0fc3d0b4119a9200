# Shared by the command-line tests (sourced, with the ecash binary as $1): a folder of their own,
# removed at exit with every background process they started ($pid, $till, $shop_pid, those
# start() began; on_exit if defined) and the database test_database made; fail() prints what the
# processes logged; start_operator / stop_operator run the all-in-one operator on $dir/op;
# card_charged NUMBER reads what its sandbox charged a card.
set -euo pipefail
ecash=$1
dir=$(mktemp -d)
pid=
till=
shop_pid=
procs=()
database=
cleanup() {
  for p in "$pid" "$till" "$shop_pid" "${procs[@]}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if declare -F on_exit >/dev/null; then on_exit; fi
  if [ -n "$database" ]; then
    psql "$ECASH_TEST_POSTGRES" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAILED: $*"
  for log in "$dir"/*.log "$dir"/out "$dir"/err; do [ -f "$log" ] && { echo "--- $log"; cat "$log"; }; done
  exit 1
}
start_operator() {  # start_operator LISTEN [ENV...]: in the background, as $pid
  local listen=$1
  shift
  rm -f "$dir/op/center/listening"
  env "$@" "$ecash" operator run --data "$dir/op" --listen "$listen" >>"$dir/operator.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    [ -s "$dir/op/center/listening" ] && return 0
    sleep 0.1
  done
  fail "the operator did not start"
}
stop_operator() {
  kill -TERM "$pid"
  wait "$pid" || fail "the operator did not stop cleanly"
  pid=
}
# The sandbox (in $dir/op) keeps card numbers sealed (found by a keyed hash): its desk's list
# says what each card (by its last four digits) was charged.
card_charged() {  # card_charged NUMBER: cents ever charged to the card
  "$ecash" sandbox cards --data "$dir/op" --json | python3 -c '
import json, sys
cards = [c for c in json.load(sys.stdin) if c["card"].endswith(sys.argv[1][-4:])]
print(int(cards[0]["charged"].split(":")[1].replace(".", "")) if cards else 0)' "$1"
}
# The card's holder confirms a wallet's card before its first deposit (issue 12, finding 6): the
# wallet sends the sandbox card's default expiry and CVC, and types in the one-time code the sandbox
# card company (by default in $dir/op) sent, as the holder's banking app would show it.
confirm_card() {  # confirm_card HOME CARD [SANDBOX OPTIONS, default --data $dir/op]
  local home=$1 card=$2
  shift 2
  [ $# -gt 0 ] || set -- --data "$dir/op"
  "$ecash" wallet --home "$home" verify-card --expiry 12/30 --cvc 123 >/dev/null
  "$ecash" wallet --home "$home" confirm-card "$("$ecash" sandbox code "$card" "$@")" >/dev/null
}
start() {  # start NAME ARGS...: ecash ARGS in the background, logging to $dir/NAME.log; $started
  local name=$1
  shift
  "$ecash" "$@" >"$dir/$name.log" 2>&1 &
  started=$!
  procs+=("$started")
}
wait_for() {  # wait_for FILE: the URL a process wrote there, once it has
  for _ in $(seq 300); do
    if [ -s "$1" ]; then cat "$1"; return 0; fi
    sleep 0.1
  done
  fail "nothing wrote $1"
}
# A database of the test's own on the PostgreSQL server ECASH_TEST_POSTGRES names (scripts/test.sh
# starts one), dropped at exit; its URL in $store_url. Without a server the test is skipped (exit
# 77), except under CI, where it fails.
test_database() {  # test_database NAME
  if [ -z "${ECASH_TEST_POSTGRES:-}" ]; then
    [ -z "${CI:-}" ] || fail "CI runs without ECASH_TEST_POSTGRES"
    echo "skipped: no PostgreSQL server (ECASH_TEST_POSTGRES=\$(scripts/postgres.sh start))"
    exit 77
  fi
  database=$1
  psql "$ECASH_TEST_POSTGRES" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" \
    -c "CREATE DATABASE $database" 2>/dev/null || fail "cannot make a database on $ECASH_TEST_POSTGRES"
  store_url="${ECASH_TEST_POSTGRES%/*}/$database"
}
alice_and_a_cafe() {  # an operator running on $dir/op ($url), Alice's wallet in $dir/alice with
  # EUR:50.00, and the Corner Cafe registered in $dir/shop (its till not started)
  "$ecash" operator init --data "$dir/op" >/dev/null
  "$ecash" sandbox card 4111111111111111 --data "$dir/op" >/dev/null
  "$ecash" sandbox account DE89370400440532013000 --holder "Corner Cafe" --data "$dir/op" >/dev/null
  start_operator 127.0.0.1:0
  url=$(cat "$dir/op/center/listening")
  alice_and_a_cafe_at "$url"
}
alice_and_a_cafe_at() {  # alice_and_a_cafe_at URL: Alice's wallet in $dir/alice with EUR:50.00,
  # and the Corner Cafe registered in $dir/shop (its till not started), at the operator at URL
  "$ecash" wallet --home "$dir/alice" init --operator "$1" --name Alice --card 4111111111111111 >/dev/null
  confirm_card "$dir/alice" 4111111111111111
  "$ecash" wallet --home "$dir/alice" deposit 50.00 >/dev/null || fail "deposit"
  "$ecash" shop --home "$dir/shop" init --operator "$1" --name "Corner Cafe" \
    --account DE89370400440532013000 >/dev/null
}
