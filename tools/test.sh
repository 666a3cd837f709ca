#!/usr/bin/env bash
# Build and run the whole test suite with ctest.   tools/test.sh [--sanitize | --tsan [ctest args]]
#   --sanitize  ASan + UBSan build (build-asan), every test
#   --tsan      ThreadSanitizer build (build-tsan); extra arguments go to ctest (default: the threaded
#               tests, -R '^(fus_api|gpt_|core_pool|srv_media)')
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
if [ "${1:-}" = "--sanitize" ]; then
  dir=build-asan
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMGPT_SANITIZE=ON -DMMGPT_BENCH=OFF >/dev/null
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export MMGPT_SANITIZE_RUN=1   # Python tests shorten their long cases under the sanitizer
elif [ "${1:-}" = "--tsan" ]; then
  dir=build-tsan
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMGPT_TSAN=ON -DMMGPT_BENCH=OFF >/dev/null
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
  export MMGPT_SANITIZE_RUN=1
  shift
  [ $# -gt 0 ] || set -- -R '^(fus_api|gpt_|core_pool|srv_media)'
  cmake --build "$dir" -j "$jobs"
  cd "$dir" && exec ctest --output-on-failure -j "$jobs" --timeout 900 "$@"
else
  dir=build
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$dir" -j "$jobs"
cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 900
