#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   1. the unit and integration tests (CTest) on the normal build;
#   2. the same under AddressSanitizer + UndefinedBehaviorSanitizer (skip: ECASH_SKIP_ASAN=1);
#   3. each fuzz target for FUZZ_SECONDS (default 20; skip: FUZZ_SECONDS=0).
# The store's tests, the system tests and the network test run on SQLite and again on PostgreSQL
# (CTest label postgresql): a throwaway server for this run (scripts/postgres.sh), stopped at the end.
# Build folders are reused, so a second run rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

export ECASH_PG_DIR=${ECASH_PG_DIR:-/tmp/ecash-postgres-test-$$}
ECASH_TEST_POSTGRES=$(bash scripts/postgres.sh start)
export ECASH_TEST_POSTGRES
trap 'bash scripts/postgres.sh stop' EXIT
echo "test: PostgreSQL for the store's tests at $ECASH_TEST_POSTGRES"

passed=0
failed=0
run_ctest() {
  local dir=$1 log
  log=$(mktemp)
  set +e
  ctest --test-dir "$dir" -j 2 --output-on-failure --timeout 600 2>&1 | tee "$log" | grep -vE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed'
  set -e
  local line total fail
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$log" | tail -1)
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  fail=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  rm -f "$log"
  if [ -z "$line" ]; then echo "test: ctest in $dir did not finish"; failed=$((failed + 1)); return; fi
  passed=$((passed + total - fail))
  failed=$((failed + fail))
}

echo "test: build"
bash scripts/build.sh default
run_ctest build

if [ "${ECASH_SKIP_ASAN:-0}" != 1 ]; then
  echo "test: sanitizer build (ASan + UBSan)"
  bash scripts/build.sh asan
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest build-asan
fi

if [ "${FUZZ_SECONDS:-20}" != 0 ]; then
  echo "test: fuzz targets"
  if FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash scripts/fuzz.sh; then
    passed=$((passed + $(ls fuzz/*_fuzz.cpp | wc -l)))
  else
    failed=$((failed + 1))
  fi
fi

echo "ecash: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
