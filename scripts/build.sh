#!/usr/bin/env bash
# Configures and builds one flavour of ecash, reusing its build folder between runs.
#   scripts/build.sh [default|profile|asan|tsan|fuzz] [ninja targets...]
# default -> build/        Release (-O3), g++: what packagers, operators and CI build
# profile -> build-profile/ RelWithDebInfo (-O2 -g), g++: for perf and gdb
# asan    -> build-asan/   AddressSanitizer + UndefinedBehaviorSanitizer, g++
# tsan    -> build-tsan/   ThreadSanitizer, g++ (for the servers' threads: scripts/tsan.sh; not in scripts/test.sh)
# fuzz    -> build-fuzz/   libFuzzer targets, clang-16 with libc++
set -euo pipefail
cd "$(dirname "$0")/.."

flavour=${1:-default}
shift || true

case "$flavour" in
  default) dir=build; args=(-DCMAKE_BUILD_TYPE=Release) ;;
  profile) dir=build-profile; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan) dir=build-asan; args=(-DCMAKE_BUILD_TYPE=Debug -DECASH_SANITIZE=ON -DECASH_BENCH=OFF) ;;
  # -Wno-tsan: g++ 12 warns (an error under -Werror) that TSan does not model the
  # std::atomic_thread_fence in Asio's handler calls (std_fenced_block). Those fences are not what
  # hands a handler to another thread (Asio's scheduler mutex is, and TSan sees it).
  tsan) dir=build-tsan
        args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DECASH_BENCH=OFF "-DCMAKE_CXX_FLAGS=-fsanitize=thread -Wno-tsan"
              "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread") ;;
  fuzz) dir=build-fuzz
        args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DECASH_FUZZ=ON
              -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16) ;;
  *) echo "usage: scripts/build.sh [default|profile|asan|tsan|fuzz] [targets...]" >&2; exit 2 ;;
esac

# Configured every time (a second or so): a folder made by an older script takes today's flags.
cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
# Two cores: two jobs. ccache (found by CMake) makes rebuilds of unchanged files free.
ninja --quiet -C "$dir" -j "${ECASH_JOBS:-2}" "$@"
