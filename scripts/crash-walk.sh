#!/usr/bin/env bash
# The whole crash walk (tests/walk/crash_walk.py): a crash at every failpoint every flow passes,
# on the servers and the devices, each followed by a restart, the user's retry and an audit that
# compares every wallet, card and bank account with a run without the crash. CI runs a share of
# it (the most valuable first) within a time budget; this runs it all. Extra arguments go to the
# walk (--jobs N, --only TEXT, --list, --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
bash scripts/build.sh default
exec python3 tests/walk/crash_walk.py build/app/ecash "$@"
