#!/usr/bin/env bash
# Storage faults (issue "Nothing moves twice", finding 3): the bank's disk fills up, or its store
# turns read-only, while deposits come in. A clear error, the request kept by the wallet, the card
# charge shown as being credited (never hidden), and everything finished once space returns:
# by the running center on its own, with no restart; the wallet's next deposit says so and
# charges nothing more. A card charge the books do not know is named, and not called balanced.
#
# The full disk is a real one (a small tmpfs mounted over the bank's folder) where the test may
# mount; elsewhere, and for the read-only store (Linux refuses to remount read-only a filesystem
# with files open for writing), the fault is injected at the bank's commits (ECASH_STORE_FAULT).
source "$(dirname "$0")/cli_lib.sh"
mounted=
on_exit() { [ -z "$mounted" ] || umount "$mounted" 2>/dev/null || true; }
charged() {  # cents charged to Alice's card
  card_charged 4111111111111111
}
alice() { "$ecash" wallet --home "$dir/alice" "$@"; }
report() { "$ecash" operator report --data "$dir/op" "$@"; }
wait_for_report() {  # wait_for_report PATTERN: the running operator finishes on its own
  for _ in $(seq 100); do
    report | grep -q -- "$1" && return 0
    sleep 0.2
  done
  fail "the report never showed '$1': $(report)"
}

"$ecash" operator init --data "$dir/op" >/dev/null
"$ecash" sandbox card 4111111111111111 --data "$dir/op" --limit 5000.00 >/dev/null

# The bank's folder on a 4 MiB filesystem of its own, where mounting is allowed.
mode=injected
if [ -z "${ECASH_TEST_INJECTED:-}" ] && [ "$(id -u)" -eq 0 ] && mkdir -p "$dir/small" && mount -t tmpfs -o size=4m tmpfs "$dir/small" 2>/dev/null; then
  mounted="$dir/small"
  cp -a "$dir/op/bank/." "$dir/small/"
  rm -rf "$dir/op/bank"
  ln -s "$dir/small" "$dir/op/bank"
  mode=tmpfs
fi
echo "full disk: $mode"

: >"$dir/fault"
start_operator 127.0.0.1:0 ECASH_STORE_FAULT="$dir/fault"
url=$(cat "$dir/op/center/listening")
alice init --operator "$url" --name Alice --card 4111111111111111 >/dev/null
confirm_card "$dir/alice" 4111111111111111
alice deposit 10.00 | grep -q "balance EUR:10.00" || fail "the first deposit"

# 1. The bank's disk is full: the deposit fails clearly and is kept.
if [ "$mode" = tmpfs ]; then
  dd if=/dev/zero of="$dir/small/filler" bs=64k 2>/dev/null || true  # until the disk is full
else
  echo "bank full" >"$dir/fault"
fi
if alice deposit 20.00 >"$dir/out" 2>"$dir/err"; then fail "a deposit with the bank's disk full succeeded"; fi
grep -q "the request is kept" "$dir/err" || fail "the wallet did not keep the deposit: $(cat "$dir/err")"
grep -q "$dir" "$dir/err" && fail "the wallet was shown the operator's file path: $(cat "$dir/err")"
grep -q "disk is full" "$dir/operator.log" || fail "the operator's log does not say the disk is full"
[ "$(charged)" -eq 3000 ] || fail "charged $(charged)"
# The charge is not hidden: it is being credited, and the books say so.
report | grep -q "EUR:20.00 of it being credited" || fail "the charge is not shown as being credited: $(report)"

# 2. Space returns: the running center finishes the deposit on its own, without a restart.
if [ "$mode" = tmpfs ]; then rm -f "$dir/small/filler"; else : >"$dir/fault"; fi
wait_for_report "deposited *EUR:30.00"
report | grep -q "balanced: every cent accounted for, and the institutions agree" || fail "$(report)"
alice deposit 20.00 >"$dir/out" || fail "the deposit run again failed"
grep -q "finished an earlier deposit of EUR:20.00" "$dir/out" || fail "not finished: $(cat "$dir/out")"
grep -q "nothing more charged" "$dir/out" || fail "charged again: $(cat "$dir/out")"
grep -q "balance EUR:30.00" "$dir/out" || fail "balance: $(cat "$dir/out")"
[ "$(charged)" -eq 3000 ] || fail "the card was charged $(charged) cents, not 3000"

# 3. The bank's store turns read-only, then writable again: the same.
echo "bank readonly" >"$dir/fault"
if alice deposit 5.00 >"$dir/out" 2>"$dir/err"; then fail "a deposit with the bank read-only succeeded"; fi
grep -q "the request is kept" "$dir/err" || fail "not kept: $(cat "$dir/err")"
grep -q "readonly database" "$dir/operator.log" || fail "the operator's log does not say read-only"
: >"$dir/fault"
wait_for_report "deposited *EUR:35.00"
alice deposit 5.00 | grep -q "finished an earlier deposit of EUR:5.00" || fail "not finished"
[ "$(charged)" -eq 3500 ] || fail "charged $(charged)"
alice balance | grep -q "EUR:35.00" || fail "balance"

# 4. The wallet's own store full: refused before anything is sent; nothing charged.
if ECASH_STORE_FAULT="$dir/wallet-fault" bash -c "echo 'wallet full' >'$dir/wallet-fault'; \
     '$ecash' wallet --home '$dir/alice' deposit 1.00" >"$dir/out" 2>"$dir/err"; then
  fail "a deposit with the wallet's disk full succeeded"
fi
grep -q "io_error" "$dir/err" && grep -q "disk is full" "$dir/err" || fail "not a clear error: $(cat "$dir/err")"
[ "$(charged)" -eq 3500 ] || fail "charged $(charged) with the wallet's disk full"

"$ecash" operator audit --data "$dir/op" | grep -q "audit passed" || fail "audit"

# 5. A charge the operator's books do not know (the card company's side of finding 3): named, and
#    the books are not called balanced.
sqlite3 "$dir/op/sandbox/card_company.db" \
  "INSERT INTO charges (charge_id, card_key, minor, created, request_id)
   VALUES ('stray-charge', (SELECT card_key FROM cards), 2000, strftime('%s','now'), 'STRAYREQUEST000000000000000')"
report >"$dir/out" || true
grep -q "DIFFERENCE" "$dir/out" || fail "the stray charge is not named: $(cat "$dir/out")"
grep -q "STRAYREQUEST" "$dir/out" || fail "the stray charge's request is not named: $(cat "$dir/out")"
grep -q "balanced: every cent" "$dir/out" && fail "called balanced with a stray charge: $(cat "$dir/out")"
if "$ecash" operator audit --data "$dir/op" >"$dir/out" 2>&1; then fail "the audit passed with a stray charge"; fi

stop_operator
echo "cli storage test passed ($mode full disk)"
