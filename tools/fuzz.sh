#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for a bounded time.   tools/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
CC=clang cmake -S . -B build-fuzz -DMMGPT_FUZZ=ON -DMMGPT_TESTS=OFF -DMMGPT_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$(nproc)"
n=0
for f in build-fuzz/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus=build-fuzz/corpus/$name; mkdir -p "$corpus"
  seeds=fuzz/seeds/${name#fuzz_}
  echo "fuzz: $name for ${secs}s"
  if [ -d "$seeds" ]; then "$f" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 "$corpus" "$seeds" 2>&1 | tail -n 3
  else "$f" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 "$corpus" 2>&1 | tail -n 3; fi
  n=$((n+1))
done
echo "fuzz: $n targets ran without a finding"
