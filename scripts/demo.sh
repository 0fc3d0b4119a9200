#!/usr/bin/env bash
# Installs what is missing, builds ecash, and runs `ecash demo`. Extra arguments go to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh default ecash
exec ./build/app/ecash demo "$@"
