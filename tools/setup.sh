#!/usr/bin/env bash
# Install every Debian package that mmgpt's build, tests, benchmarks and training tools need.
# Idempotent; works as root or through sudo. Usage: tools/setup.sh [--no-python]
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup.sh: run as root or install sudo" >&2; exit 1; fi
fi
PKGS=(
  build-essential cmake pkg-config git
  libopenblas-dev          # cblas sgemm for prefill and encoders
  libstb-dev               # stb_image / stb_image_resize
  libsndfile1-dev          # audio file decoding
  libfftw3-dev             # fftw3f real-to-complex FFT for log-mel
  libsamplerate0-dev       # resampling to 16 kHz
  libutf8proc-dev          # Unicode categories for GPT-2 pre-tokenization
  libcjson-dev             # JSON (vocab.json, tokenizer.json, --json output)
  libmicrohttpd-dev        # HTTP server of mmgpt serve
  chromium chromium-driver python3-selenium  # srv_browser: the serve web page in headless Chromium
  clang libclang-rt-14-dev # libFuzzer + sanitizer runtimes
  libopenmpi-dev openmpi-bin  # optional MPI build (-DMMGPT_MPI=ON: mpirun -np N mmgpt ...) and its tests
  python3-numpy python3-torch  # reference implementations in tests, training tools
  python3-regex            # \p{L} / \p{N} regexes: the pre-tokenizer references (tests/tokenizer)
  espeak-ng sox libsox-fmt-all imagemagick python3-pil python3-scipy  # tools/train: data generation, held-out sets, examples
)
if [ "${1:-}" != "--no-python" ]; then :; else PKGS=("${PKGS[@]/python3-torch}"); fi
missing=()
for p in "${PKGS[@]}"; do
  [ -z "$p" ] && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup.sh: all ${#PKGS[@]} packages already installed" >&2
  exit 0
fi
echo "setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup.sh: done" >&2
