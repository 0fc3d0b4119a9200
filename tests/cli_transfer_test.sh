#!/usr/bin/env bash
# Two wallets on the command line hand value to each other offline through files, then reconcile;
# the operator's report balances and a second accept of the same transfer is refused.
set -euo pipefail
ecash=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$ecash" operator init --data "$dir/op" >/dev/null
"$ecash" wallet --home "$dir/alice" init --operator "$dir/op" --name Alice --card 4111111111111111 >/dev/null
"$ecash" wallet --home "$dir/bob" init --operator "$dir/op" --name Bob --card 5555555555554444 >/dev/null
"$ecash" wallet --home "$dir/alice" deposit 50.00 | grep -q "balance EUR:50.00"
"$ecash" wallet --home "$dir/bob" deposit EUR:20.00 | grep -q "balance EUR:20.00"
# Offline: request, transfer and acknowledgement are files.
"$ecash" wallet --home "$dir/bob" receive 15.00 > "$dir/request"
"$ecash" wallet --home "$dir/alice" send "$dir/request" > "$dir/transfer"
"$ecash" wallet --home "$dir/bob" accept < "$dir/transfer" > "$dir/ack"
"$ecash" wallet --home "$dir/alice" confirm "$dir/ack" | grep -q "confirmed"
"$ecash" wallet --home "$dir/bob" balance | grep -q "uncleared (offline, not yet synced) EUR:15.00"
if "$ecash" wallet --home "$dir/bob" accept "$dir/transfer" 2>"$dir/err"; then
  echo "accepted twice"; exit 1
fi
grep -q "replayed" "$dir/err"
"$ecash" wallet --home "$dir/bob" sync | grep -q "balance EUR:35.00"
"$ecash" wallet --home "$dir/alice" sync | grep -q "balance EUR:35.00"
"$ecash" operator report --data "$dir/op" | grep -q "balanced: every cent accounted for"
"$ecash" operator report --data "$dir/op" --json | grep -q '"balances":"EUR:70.00"'
"$ecash" operator audit --data "$dir/op" | grep -q "audit passed"
echo "cli transfer test passed"
