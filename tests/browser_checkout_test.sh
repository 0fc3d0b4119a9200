#!/usr/bin/env bash
# The checkout page in Debian's Chromium, headless, driven by playwright-core from npm (issue 14):
# tests/browser/checkout.mjs opens the page, reads the payment request, pays it with `ecash wallet
# pay`, and sees the page turn to paid; screenshots of both states go to $ECASH_SCREENSHOTS
# (default: screenshots/ where the test runs). playwright-core is installed once, by `npm ci`
# from tests/browser/package-lock.json, into $ECASH_NODE_DIR (default: browser-node/ there).
source "$(dirname "$0")/browser_lib.sh"
browser_tools checkout.mjs

alice_and_a_cafe
"$ecash" shop --home "$dir/shop" run >"$dir/till.log" 2>&1 &
till=$!
for _ in $(seq 300); do [ -s "$dir/shop/listening" ] && [ -s "$dir/shop/checkout" ] && break; sleep 0.1; done
[ -s "$dir/shop/checkout" ] || fail "the till serves no checkout page"
"$ecash" shop --home "$dir/shop" order 12.50 --item "a blue mug" --json >"$dir/order" || fail "shop order"
page=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['checkout'])" "$dir/order")
node "$node_dir/checkout.mjs" "$page" "$ecash" "$dir/alice" "$shots" >"$dir/out" 2>&1 || fail "in the browser: $(cat "$dir/out")"
cat "$dir/out"
for state in unpaid paid; do [ -s "$shots/checkout-$state.png" ] || fail "no screenshot of the $state page"; done
