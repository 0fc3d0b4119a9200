#!/usr/bin/env bash
# Issue 15: every log line written while `ecash demo` runs (the operator's, the sandboxes', the
# till's, access log lines and the rest) is searched for what the demo's people gave or hold: their
# card numbers, the cafe's IBAN, their names and their balances. None may be there. The logs must
# have something in them: one access log line per request, with fixed fields only.
source "$(dirname "$0")/cli_lib.sh"
"$ecash" demo --keep "$dir/demo" >"$dir/demo.out" 2>&1 || fail "the demo: $(tail -20 "$dir/demo.out")"
mapfile -t logs < <(find "$dir/demo" -name '*.log' -type f)
[ "${#logs[@]}" -ge 3 ] || fail "the demo left ${#logs[@]} logs: ${logs[*]}"
# What the demo's people gave or hold, as the demo printed it.
grep -q "balance EUR:56.50" "$dir/demo.out" && grep -q "balance EUR:10.00" "$dir/demo.out" \
  || fail "the demo no longer shows the balances this test looks for: $(cat "$dir/demo.out")"
mapfile -t balances < <(grep -oE 'balance +EUR:[0-9]+\.[0-9]{2}' "$dir/demo.out" | grep -oE '[0-9]+\.[0-9]{2}' | sort -u)
secrets=(4111111111111111 5555555555554444 "4111 1111 1111 1111" "5555 5555 5555 4444"
         DE89370400440532013000 "DE89 3704 0044 0532 0130 00" 370400440532013000
         Alice Bob Mallory "Corner Cafe" EUR)
for b in "${balances[@]}"; do secrets+=("EUR:$b" "\"$b\""); done
for s in "${secrets[@]}"; do
  if grep -F -n -i -- "$s" "${logs[@]}" >"$dir/found"; then
    fail "a log holds '$s': $(head -5 "$dir/found")"
  fi
done
python3 - "${logs[@]}" <<'PY' || fail "the access log lines"
import json, sys
access = 0
for name in sys.argv[1:]:
    for line in open(name):
        if not line.startswith("{"):
            continue
        fields = json.loads(line)
        assert set(fields) == {"time", "role", "route", "request_id", "caller", "code", "ms"}, (name, line)
        access += 1
assert access >= 30, f"only {access} access log lines"
print(f"{access} access log lines")
PY
echo "ok: ${#secrets[@]} strings searched in ${#logs[@]} logs"
