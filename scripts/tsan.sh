#!/usr/bin/env bash
# Builds the ThreadSanitizer flavour (build-tsan/, see scripts/build.sh) and runs under it the tests
# that exercise threads: the store, PKI and net unit tests, the concurrency and network
# integration tests, and, through CTest, the command-line tests, which start `ecash` processes
# (servers with I/O threads and workers, the load generator) and check what they print.
#   scripts/tsan.sh        (ECASH_JOBS=N sets the build's parallelism, as for scripts/build.sh)
# Fails (exit 1) if a test fails or if ThreadSanitizer reports anything in any process. Every
# process, child processes included, writes its reports to a file of its own
# (TSAN_OPTIONS log_path=DIR/report.<pid>), so a report from a server the tests started and
# stopped is not lost with its log; the reports are printed at the end, and DIR is kept then.
# Not part of scripts/test.sh (CI time is limited): a first build takes 10+ minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build.sh tsan

out=$(mktemp -d "${TMPDIR:-/tmp}/ecash-tsan.XXXXXX")
# halt_on_error=0: report every race, not only the first; a process that reported exits 66.
export TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 history_size=4 log_path=$out/report"

failed=0
run() {  # run NAME COMMAND...: the command's output goes to $out/NAME.log
  local name=$1
  shift
  echo "tsan: $name"
  if ! timeout 1800 "$@" >"$out/$name.log" 2>&1; then
    echo "tsan: $name FAILED"
    tail -40 "$out/$name.log"
    failed=1
  fi
}

run store_test build-tsan/src/store/store_test
run pki_test build-tsan/src/pki/pki_test
run net_test build-tsan/src/net/net_test
run concurrency_test build-tsan/tests/concurrency_test
run network_test build-tsan/tests/network_test
# The command-line tests (cli.*), by this filter; the GoogleTest cases are named Suite.Test and
# run above as whole binaries.
run ctest ctest --test-dir build-tsan -R 'cli\.|network|concurrency|net_test|store' \
  --output-on-failure -j1

reports=$(grep -l "WARNING: ThreadSanitizer" "$out"/* 2>/dev/null || true)
count=$(cat "$out"/* | grep -c "WARNING: ThreadSanitizer" || true)
if [ -n "$reports" ]; then
  for f in $reports; do
    echo "--- $f"
    cat "$f"
  done
fi
echo "tsan: $count reports, tests $([ "$failed" -eq 0 ] && echo passed || echo FAILED)"
if [ "$failed" -ne 0 ] || [ -n "$reports" ]; then
  echo "tsan: outputs and reports kept in $out"
  exit 1
fi
rm -rf "$out"
