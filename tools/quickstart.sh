#!/usr/bin/env bash
# Quick start: install dependencies, build mmgpt, and run the main job - caption the bundled example
# images (and describe the bundled clips) with the bundled model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >&2   # build log on stderr: stdout holds the results
model=assets/models/mmgpt-demo.gguf
if [ -f "$model" ]; then
  shopt -s nullglob
  imgs=(assets/examples/*.png assets/examples/*.jpg)
  clips=(assets/examples/*.wav assets/examples/*.flac assets/examples/*.ogg)
  [ ${#imgs[@]} -gt 0 ] && build/mmgpt caption -m "$model" "${imgs[@]}"
  [ ${#clips[@]} -gt 0 ] && build/mmgpt describe -m "$model" "${clips[@]}"
else
  # No trained model bundled yet: build a small random-weight model and show what the engine sees.
  echo "quickstart: $model not present yet; inspecting a random-weight test model instead" >&2
  mkdir -p build/quickstart
  /usr/bin/python3 tools/make_random_gpt2.py build/quickstart/random-gpt2.gguf >/dev/null
  build/mmgpt info build/quickstart/random-gpt2.gguf
fi
