#!/usr/bin/env bash
# Build and run the whole test suite with ctest.   tools/test.sh [--sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
if [ "${1:-}" = "--sanitize" ]; then
  dir=build-asan
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMGPT_SANITIZE=ON -DMMGPT_BENCH=OFF >/dev/null
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export MMGPT_SANITIZE_RUN=1   # Python tests shorten their long cases under the sanitizer
else
  dir=build
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$dir" -j "$jobs"
cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 900
