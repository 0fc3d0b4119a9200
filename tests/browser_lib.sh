# Shared by the browser tests (sourced, with the ecash binary as $1): cli_lib.sh, then Debian's
# Chromium and playwright-core from npm. browser_tools SCRIPT.mjs... copies the test's scripts
# beside playwright-core, installed once by `npm ci` from tests/browser/package-lock.json into
# $ECASH_NODE_DIR (default: browser-node/ where the test runs); screenshots go to $shots
# ($ECASH_SCREENSHOTS, default screenshots/ there). Without node or chromium the test is skipped
# (exit 77), except under CI, where it fails.
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
shots=${ECASH_SCREENSHOTS:-$PWD/screenshots}
node_dir=${ECASH_NODE_DIR:-$PWD/browser-node}
browser_tools() {
  if ! command -v node >/dev/null || ! command -v chromium >/dev/null; then
    [ -n "${CI:-}" ] && fail "node or chromium is missing (scripts/install-deps.sh installs chromium)"
    echo "skipped: node or chromium missing"; exit 77
  fi
  mkdir -p "$node_dir"
  if ! cmp -s "$here/browser/package-lock.json" "$node_dir/package-lock.json" || [ ! -d "$node_dir/node_modules/playwright-core" ]; then
    cp "$here/browser/package.json" "$here/browser/package-lock.json" "$node_dir/"
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error) >"$dir/npm.log" 2>&1 || fail "npm ci"
  fi
  for script in browser.mjs "$@"; do cp "$here/browser/$script" "$node_dir/"; done
}
