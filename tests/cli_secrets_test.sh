#!/usr/bin/env bash
# Secrets unreadable at rest (issue "Hostile users and hostile neighbours", finding 5): after the
# demo, a scan of every byte of every file in every party's folder (stores, their -wal and -shm
# files, keys) finds no card number, IBAN or person's name in clear; a store an older version left
# with them in clear is sealed by the next command that opens it; with a passphrase given at init,
# no key file holds a key in clear, each is sealed, and a wrong or missing passphrase is refused
# with bad_passphrase; as another local user, nothing in any party's folder is readable.
source "$(dirname "$0")/cli_lib.sh"
chmod 755 "$dir"  # the test's own folder open, so that only the parties' modes protect them

# Every file under the folders given that holds one of the needles, as "file: needle" lines.
holding() {
  local needles=$1
  shift
  python3 - "$needles" "$@" <<'EOF'
import os, sys
needles = [n for n in sys.argv[1].split("|") if n]
for root in sys.argv[2:]:
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(".log"):
                continue  # a process's own output, not a store
            data = open(path, "rb").read()
            for n in needles:
                if n.encode() in data:
                    print(f"{path}: {n}")
EOF
}

# 1. The demo, as it is (no passphrase): no card, IBAN, holder or name in clear in any file.
"$ecash" demo --keep "$dir/demo" >"$dir/demo.log" 2>&1 || fail "the demo failed"
parties=("$dir/demo/op" "$dir/demo/alice" "$dir/demo/bob" "$dir/demo/cafe")
secrets="4111111111111111|5555555555554444|DE89370400440532013000|Alice|Corner Cafe Ltd"
found=$(holding "$secrets" "${parties[@]}")
[ -z "$found" ] || fail "in clear after the demo: $found"
ls "$dir/demo/alice/wallet.db.key" "$dir/demo/op/sandbox/card_company.db.key" \
   "$dir/demo/op/ca/ca.db.key" >/dev/null || fail "no data key beside the stores"
echo "after the demo: no card number, IBAN, holder or name in clear in any store"

# 2. Stores an older version wrote in clear (the wallet's card number, the CA's names): the next
# command that opens them seals them, and leaves no clear byte in the file or its log.
python3 - "$dir/demo" <<'EOF'
import sqlite3, sys
d = sys.argv[1]
w = sqlite3.connect(d + "/alice/wallet.db")
w.execute("UPDATE settings SET value = '4111111111111111' WHERE key = 'account'")
w.commit()
c = sqlite3.connect(d + "/op/ca/ca.db")
c.execute("UPDATE people SET name = 'Alice Oldversion', address = '1 Clear Street'")
c.commit()
EOF
[ -n "$(holding "4111111111111111" "$dir/demo/alice")" ] || fail "the clear row was not written"
"$ecash" wallet --home "$dir/demo/alice" balance >"$dir/out" 2>"$dir/err" || fail "balance"
"$ecash" operator users --data "$dir/demo/op" >"$dir/out" 2>"$dir/err" || fail "operator users"
found=$(holding "4111111111111111|Alice Oldversion|1 Clear Street" "$dir/demo/alice" "$dir/demo/op")
[ -z "$found" ] || fail "an older store's clear rows stay: $found"
echo "an older store's clear rows: sealed at the next open"

# 3. A passphrase given at init (a file for the operator, as a systemd credential is; the
# environment for the wallet and the shop): every key file and data key sealed, no key in clear.
p="$dir/p"
mkdir -p "$p"
echo "operator passphrase 1" >"$p/op.pass"
"$ecash" operator init --data "$p/op" --passphrase-file "$p/op.pass" >"$dir/out" 2>"$dir/err" ||
  fail "operator init with a passphrase"
"$ecash" sandbox card 4000056655665556 --data "$p/op" --passphrase-file "$p/op.pass" >"$dir/out" 2>"$dir/err" ||
  fail "sandbox card"
"$ecash" sandbox account GB82WEST12345698765432 --holder "Quentin Hargreaves-Pike" --data "$p/op" \
  --passphrase-file "$p/op.pass" >"$dir/out" 2>"$dir/err" || fail "sandbox account"
"$ecash" sandbox run --data "$p/op" --listen 127.0.0.1:0 --passphrase-file "$p/op.pass" \
  >>"$dir/sandbox.log" 2>&1 &
shop_pid=$!
for _ in $(seq 300); do [ -s "$p/op/sandbox/listening" ] && break; sleep 0.1; done
sandbox=$(cat "$p/op/sandbox/listening")
"$ecash" operator run --data "$p/op" --listen 127.0.0.1:0 --card-company "$sandbox" --bank "$sandbox" \
  --passphrase-file "$p/op.pass" >>"$dir/operator.log" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -s "$p/op/center/listening" ] && break; sleep 0.1; done
url=$(cat "$p/op/center/listening")
[ -n "$url" ] || fail "the operator with sealed keys did not start"
ECASH_PASSPHRASE="wallet passphrase 2" "$ecash" wallet --home "$p/zeb" init --operator "$url" \
  --name "Zebulon Quartermaine" --address "12 Rue des Fleurs" --card 4000056655665556 \
  >"$dir/out" 2>"$dir/err" || fail "wallet init with a passphrase"
ECASH_PASSPHRASE="wallet passphrase 2" confirm_card "$p/zeb" 4000056655665556 --data "$p/op" \
  --passphrase-file "$p/op.pass"
ECASH_PASSPHRASE="wallet passphrase 2" "$ecash" wallet --home "$p/zeb" deposit 30.00 >"$dir/out" 2>"$dir/err" ||
  fail "deposit with the passphrase"
ECASH_PASSPHRASE="shop passphrase 3" "$ecash" shop --home "$p/shop" init --operator "$url" \
  --name "Quill Corner" --address "3 Ink Lane" --account GB82WEST12345698765432 \
  >"$dir/out" 2>"$dir/err" || fail "shop init with a passphrase"

sealed_parties=("$p/op" "$p/zeb" "$p/shop")
found=$(holding "4000056655665556|GB82WEST12345698765432|Zebulon Quartermaine|12 Rue des Fleurs|Quentin Hargreaves-Pike|3 Ink Lane" \
  "${sealed_parties[@]}")
[ -z "$found" ] || fail "in clear with a passphrase: $found"
found=$(holding "ecash-party-keys|ecash-data-key|PRIVATE KEY" "${sealed_parties[@]}")
[ -z "$found" ] || fail "a key in clear with a passphrase: $found"
keys=$(find "${sealed_parties[@]}" -name '*.keys' -o -name '*.key')
[ "$(echo "$keys" | wc -l)" -ge 10 ] || fail "fewer key files than expected: $keys"
for k in $keys; do
  [ "$(head -1 "$k")" = "ecash-sealed-v1" ] || fail "$k is not sealed"
done
echo "with a passphrase: $(echo "$keys" | wc -l) key files, each sealed; no key, card, IBAN or name in clear"

# A wrong passphrase, or none (no terminal to ask on): bad_passphrase, and nothing else happens.
if ECASH_PASSPHRASE="wrong" "$ecash" wallet --home "$p/zeb" balance >"$dir/out" 2>"$dir/err"; then
  fail "a wrong passphrase opened the wallet"
fi
grep -q "bad_passphrase" "$dir/err" || fail "wrong passphrase: not bad_passphrase: $(cat "$dir/err")"
if env -u ECASH_PASSPHRASE "$ecash" shop --home "$p/shop" sales >"$dir/out" 2>"$dir/err"; then
  fail "no passphrase opened the shop"
fi
grep -q "bad_passphrase" "$dir/err" || fail "no passphrase: not bad_passphrase: $(cat "$dir/err")"
echo "wrong" >"$p/wrong.pass"
if "$ecash" operator report --data "$p/op" --passphrase-file "$p/wrong.pass" >"$dir/out" 2>"$dir/err"; then
  fail "a wrong passphrase file opened the operator"
fi
grep -q "bad_passphrase" "$dir/err" || fail "wrong passphrase file: $(cat "$dir/err")"
ECASH_PASSPHRASE="wallet passphrase 2" "$ecash" wallet --home "$p/zeb" balance >"$dir/out" 2>"$dir/err" ||
  fail "the right passphrase: $(cat "$dir/err")"
grep -q "EUR:30.00" "$dir/out" || fail "balance: $(cat "$dir/out")"
"$ecash" operator report --data "$p/op" --passphrase-file "$p/op.pass" --books-only >"$dir/out" 2>"$dir/err" ||
  fail "operator report with the passphrase: $(cat "$dir/err")"
echo "wrong or missing passphrase: bad_passphrase; the right one opens"

# 4. As another local user (root only: runuser), nothing in any party's folder is seen or read.
if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null && id nobody >/dev/null 2>&1; then
  for folder in "${parties[@]}" "${sealed_parties[@]}"; do
    seen=$(runuser -u nobody -- find "$folder" -mindepth 1 2>/dev/null || true)
    [ -z "$seen" ] || fail "another user sees in $folder: $seen"
  done
  for f in "$dir/demo/alice/wallet.db" "$dir/demo/op/ca/ca.db" "$p/zeb/wallet.keys"; do
    if runuser -u nobody -- cat "$f" >/dev/null 2>&1; then fail "another user read $f"; fi
  done
  echo "as nobody: nothing seen, nothing read"
fi
echo "cli secrets test passed"
