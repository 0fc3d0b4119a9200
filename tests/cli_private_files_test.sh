#!/usr/bin/env bash
# A party's files are its owner's alone (issue "Hostile users and hostile neighbours", finding 5,
# its first part): after the demo, no folder or file of any party (operator roles, sandboxes,
# wallets, the shop) can be read by another user; a folder left readable (an older version, a
# hand-made copy) is put right by the next command that opens it, which says so. As root, the
# other user is checked for real: `nobody` reads nothing.
source "$(dirname "$0")/cli_lib.sh"
chmod 755 "$dir"  # the test's own folder open, so that only the parties' modes protect them
"$ecash" demo --keep "$dir/demo" >"$dir/demo.log" 2>&1 || fail "the demo failed"
loose=$(find "$dir/demo" -perm /077 ! -type l)
[ -z "$loose" ] || fail "readable by others after the demo: $loose"
if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null && id nobody >/dev/null 2>&1; then
  seen=$(runuser -u nobody -- find "$dir/demo" -mindepth 1 2>/dev/null || true)
  [ -z "$seen" ] || fail "another user sees: $seen"
  if runuser -u nobody -- cat "$dir/demo/alice/wallet.db" >/dev/null 2>&1; then
    fail "another user read the wallet's store"
  fi
  echo "as nobody: nothing seen, nothing read"
fi
# Loosened by hand: the next command puts it right, and says so.
chmod -R go+rX "$dir/demo/alice" "$dir/demo/op/sandbox"
"$ecash" wallet --home "$dir/demo/alice" balance >"$dir/out" 2>"$dir/err" || fail "balance"
grep -q "could be read by other users: now by their owner alone" "$dir/err" || fail "not said: $(cat "$dir/err")"
"$ecash" sandbox card 4000056655665556 --data "$dir/demo/op" >"$dir/out" 2>"$dir/err" || fail "sandbox card"
grep -q "could be read by other users" "$dir/err" || fail "the operator's folder: not said"
# The shop's commands, each operator role's start, and an operator embedded in a wallet's init
# check their folders the same way (issue 12, finding 5: every party's start).
chmod -R go+rX "$dir/demo/cafe"
"$ecash" shop --home "$dir/demo/cafe" sales >"$dir/out" 2>"$dir/err" || fail "shop sales"
grep -q "could be read by other users" "$dir/err" || fail "the shop's folder: not said"
for role in ca bank clearing center; do
  chmod -R go+rX "$dir/demo/op/$role"
  timeout 3 "$ecash" operator run --data "$dir/demo/op" --role "$role" --listen 127.0.0.1:0 \
    >"$dir/out" 2>"$dir/err" || true
  grep -q "could be read by other users" "$dir/err" || fail "operator run --role $role: not said: $(cat "$dir/err")"
done
chmod -R go+rX "$dir/demo/op"
"$ecash" wallet --home "$dir/carol" init --operator "$dir/demo/op" --name Carol \
  --card 4000056655665556 >"$dir/out" 2>"$dir/err" || fail "wallet init on an embedded operator"
grep -q "in $dir/demo/op could be read by other users" "$dir/err" || fail "the embedded operator: not said"
loose=$(find "$dir/demo" "$dir/carol" -perm /077 ! -type l)
[ -z "$loose" ] || fail "still readable by others: $loose"
echo "cli private files test passed"
