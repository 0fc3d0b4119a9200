#!/usr/bin/env bash
# The operator's commands on what `ecash demo --keep` leaves: the report balances, the audit
# passes, and a byte changed in the disclosure log or the ledger makes the audit fail.
set -euo pipefail
ecash=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$ecash" demo --keep "$dir/demo" >/dev/null
"$ecash" operator report --data "$dir/demo/op" | grep -q "balanced: every cent accounted for"
"$ecash" operator audit --data "$dir/demo/op" | grep -q "audit passed"
"$ecash" operator report --data "$dir/demo/op" --json | grep -q '"balanced":true'
# One cent added to a balance behind the ledger's back.
sqlite3 "$dir/demo/op/bank/bank.db" \
  "UPDATE accounts SET balance = balance + 1 WHERE id = (SELECT MIN(id) FROM accounts WHERE id GLOB 'user:*')"
if "$ecash" operator audit --data "$dir/demo/op" >"$dir/out" 2>&1; then
  echo "audit passed on a changed ledger"; cat "$dir/out"; exit 1
fi
grep -q "PROBLEM: bank account user:" "$dir/out"
echo "cli operator test passed"
