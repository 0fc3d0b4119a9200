#!/usr/bin/env bash
# The operator's dashboard in Debian's Chromium, headless (issue 15): after `ecash demo`'s flows,
# the sandboxes and the all-in-one operator start again on the demo's kept data, and
# tests/browser/dashboard.mjs finds on the page the payments the demo made (counted from the
# cafe's own sales) and the money in circulation `ecash operator report` prints; a screenshot
# goes to $ECASH_SCREENSHOTS (default: screenshots/ where the test runs).
source "$(dirname "$0")/browser_lib.sh"
browser_tools dashboard.mjs

"$ecash" demo --keep "$dir/demo" >"$dir/demo.log" 2>&1 || fail "ecash demo"
op="$dir/demo/op"
grep -q "dashboard on http://127.0.0.1:" "$dir/demo/operator.log" || fail "the demo's operator served no dashboard"
"$ecash" operator report --data "$op" --books-only --json >"$dir/report" || fail "operator report"
circulation=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['in_circulation'])" "$dir/report")
"$ecash" operator report --data "$op" --books-only | grep -q "deposited - paid out = $circulation;" \
  || fail "the report does not print $circulation in circulation"
"$ecash" shop --home "$dir/demo/cafe" sales --json >"$dir/sales" || fail "shop sales"
payments=$(python3 -c "
import json, sys
orders = json.load(open(sys.argv[1]))['orders']
print(sum(o['state'] not in ('unpaid', 'paying', 'expired') for o in orders))" "$dir/sales")
[ "$payments" = 2 ] || fail "the demo's cafe was paid for $payments orders, not 2: $(cat "$dir/sales")"

start sandbox sandbox run --data "$op"
sandbox=$(wait_for "$op/sandbox/listening")
start operator operator run --data "$op" --listen 127.0.0.1:0 --card-company "$sandbox" --bank "$sandbox"
page=$(wait_for "$op/center/dashboard")
case "$page" in http://127.0.0.1:*/) ;; *) fail "the dashboard is at $page" ;; esac
node "$node_dir/dashboard.mjs" "$page" "$payments" "$circulation" "$shots" >"$dir/out" 2>&1 \
  || fail "in the browser: $(cat "$dir/out")"
cat "$dir/out"
[ -s "$shots/dashboard.png" ] || fail "no screenshot of the dashboard"
