#!/usr/bin/env bash
# The soak test (tests/walk/soak.py) for SECONDS (default 600): random deposits, payments, offline
# transfers, syncs and payouts from three wallets while the roles, the sandboxes and the till are
# killed and restarted at random; then everything settled, audited, and compared with what the
# users' commands said. Extra arguments go to the soak (--seed N, --kill-commands P, --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
bash scripts/install-deps.sh >/dev/null
bash scripts/build.sh default
exec python3 tests/walk/soak.py build/app/ecash --seconds "$seconds" "$@"
