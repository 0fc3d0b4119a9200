# Shared by the command-line tests (sourced, with the ecash binary as $1): a folder of their own,
# removed at exit with every background process they started ($pid, $till, $shop_pid; on_exit if
# defined); fail() prints what the processes logged; start_operator / stop_operator run the
# all-in-one operator on $dir/op; card_charged NUMBER reads what its sandbox charged a card.
set -euo pipefail
ecash=$1
dir=$(mktemp -d)
pid=
till=
shop_pid=
cleanup() {
  for p in "$pid" "$till" "$shop_pid"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if declare -F on_exit >/dev/null; then on_exit; fi
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
