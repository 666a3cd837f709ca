#!/usr/bin/env bash
# bench/tokenizer/run.sh - GPT-2 BPE encode throughput: mmgpt (1 thread and parallel) vs js-tiktoken r50k_base
# on the same >= 10 MB corpus, in one run, and a check that both give the same ids.
#
#   bench/tokenizer/run.sh [BUILD_DIR] [VOCAB_DIR]       (defaults: build, tests/data/gpt2_bpe)
#
# The corpus is built here from text on the machine: /usr/share/common-licenses, English man pages
# (zcat /usr/share/man/man1/*.gz) and non-Latin man pages (ja, ko, ru, zh_CN, zh_TW, uk, sr), cleaned to
# valid UTF-8 (both tokenizers must see the same text; JavaScript strings cannot hold invalid UTF-8).
# js-tiktoken is installed with npm into BUILD_DIR/bench_tiktoken (never a build dependency, never committed);
# without npm / network that part is skipped with a message.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(mkdir -p "${1:-$root/build}" && cd "${1:-$root/build}" && pwd)
vocab=${2:-$root/tests/data/gpt2_bpe}
reps=${REPS:-3}
work=$build/bench_tokenizer_work
mkdir -p "$work"
corpus=$work/corpus.txt

if [ ! -s "$corpus" ]; then
  set +o pipefail   # head closes the zcat pipes early (SIGPIPE) on purpose
  {
    cat /usr/share/common-licenses/* 2>/dev/null || true
    # non-Latin text first so it is always in (about 3 MB)
    for l in ja ko ru zh_CN zh_TW uk sr; do
      for f in /usr/share/man/$l/man1/*.gz; do [ -e "$f" ] && zcat "$f" 2>/dev/null; done
    done | head -c 3000000
    # English man pages up to the size we want
    for f in /usr/share/man/man1/*.gz; do zcat "$f" 2>/dev/null; done | head -c 9000000
  } | iconv -f UTF-8 -t UTF-8 -c > "$corpus" || true
  set -o pipefail
fi
size=$(stat -c %s "$corpus")
nonascii=$(LC_ALL=C grep -c -P '[^\x00-\x7F]' "$corpus" || true)
echo "corpus: $corpus ($size bytes; $nonascii lines with non-ASCII text)"
[ "$size" -ge 10000000 ] || { echo "corpus is under 10 MB"; exit 1; }

bin=$build/bench/bench_tokenizer
[ -x "$bin" ] || { echo "build $bin first: cmake --build $build --target bench_tokenizer"; exit 1; }
"$bin" "$vocab" "$corpus" --reps "$reps" --ids "$work/ids_mmgpt.i32" ${THREADS:+--threads $THREADS} | tee "$work/mmgpt.txt"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "js-tiktoken: skipped (node/npm not installed)"; exit 0
fi
js=$build/bench_tiktoken
mkdir -p "$js"
cp "$here/bench_tiktoken.mjs" "$js/"
if [ ! -d "$js/node_modules/js-tiktoken" ]; then
  (cd "$js" && { [ -f package.json ] || echo '{"name":"bench-tiktoken","private":true,"type":"module"}' > package.json; } &&
   npm install --no-audit --no-fund --silent js-tiktoken@1 >/dev/null 2>&1) ||
   { echo "js-tiktoken: skipped (npm install failed - no network?)"; exit 0; }
fi
echo "js-tiktoken $(node -p "require('$js/node_modules/js-tiktoken/package.json').version"), node $(node --version)"
node "$js/bench_tiktoken.mjs" "$corpus" "$reps" "$work/ids_tiktoken.i32" | tee "$work/tiktoken.txt"

if cmp -s "$work/ids_mmgpt.i32" "$work/ids_tiktoken.i32"; then
  echo "ids: identical ($(( $(stat -c %s "$work/ids_mmgpt.i32") / 4 )) tokens)"
else
  echo "ids: DIFFER"; cmp "$work/ids_mmgpt.i32" "$work/ids_tiktoken.i32" | head -1 || true
fi
m=$(grep -o 'mmgpt_1t_mbps=[0-9.]*' "$work/mmgpt.txt" | cut -d= -f2)
p=$(grep -o 'mmgpt_par_mbps=[0-9.]*' "$work/mmgpt.txt" | cut -d= -f2)
j=$(grep -o 'tiktoken_1t_mbps=[0-9.]*' "$work/tiktoken.txt" | cut -d= -f2)
awk -v m="$m" -v p="$p" -v j="$j" 'BEGIN { printf "ratio: mmgpt 1 thread / js-tiktoken = %.2fx (goal >= 3x); parallel / js-tiktoken = %.2fx; mmgpt 1 thread %.1f MB/s (goal >= 20)\n", m/j, p/j, m }'
