#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for FUZZ_SECONDS (default 60) from its seed corpus.
#   scripts/fuzz.sh [target...]     (default: every target in fuzz/)
# FUZZ_BUILD=0 runs the targets as built, without building first (while another build runs).
# A crash leaves its input in build-fuzz/artifacts/ and makes this script fail.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/*_fuzz.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi

[ "${FUZZ_BUILD:-1}" = 0 ] || bash scripts/build.sh fuzz "${targets[@]}"
mkdir -p build-fuzz/artifacts
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$t
  mkdir -p "$corpus"
  echo "fuzz: $t for ${seconds}s"
  # Only the final statistics line: libFuzzer is chatty.
  ./build-fuzz/fuzz/"$t" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix=build-fuzz/artifacts/"$t"- "$corpus" "fuzz/corpus/$t" \
      >build-fuzz/"$t".log 2>&1 || { tail -40 build-fuzz/"$t".log; echo "fuzz: $t FAILED"; exit 1; }
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' build-fuzz/"$t".log | grep -o '[0-9]*$')
  echo "fuzz: $t clean after ${runs:-?} inputs"
done
