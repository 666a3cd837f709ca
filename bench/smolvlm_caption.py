#!/usr/bin/env python3
"""smolvlm_caption.py - end-to-end benchmark of issue 17: `mmgpt caption` of a 640x480 photo on random weights in
the real SmolVLM-256M shapes (mmproj: SigLIP-B/16 at 512 px, 12 blocks, d 768, scale factor 4, longest edge 2048,
Q8_0 as llama.cpp publishes it; text: SmolLM2-135M-shaped llama, d 576, 30 layers, vocab 49152, Q8_0).

    /usr/bin/python3 bench/smolvlm_caption.py DIR [--bin build/mmgpt] [-t 2] [-n 20] [--max-tiles N]

Writes DIR/smolvlm-text-f32.gguf (-> mmgpt quantize -> -q8_0), DIR/smolvlm-mmproj-q8_0.gguf, DIR/photo-640x480.png
(once; reused), runs the caption and prints one line: total wall time, images (tiles + global), tower ms per
image, decoder prompt/generation figures (mmgpt --json timings)."""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
for p in (os.path.join(ROOT, "tools"), os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "image")):
    sys.path.insert(0, p)
import make_random_llama as mrl  # noqa: E402
import ref_hf_vision as R  # noqa: E402
import testdata  # noqa: E402
from PIL import Image  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--bin", default=os.path.join(ROOT, "build", "mmgpt"))
ap.add_argument("-t", "--threads", type=int, default=2)
ap.add_argument("-n", type=int, default=20)
ap.add_argument("--max-tiles", type=int, default=0)
ap.add_argument("--prepare-only", action="store_true", help="write the files, do not run")
a = ap.parse_args()
os.makedirs(a.dir, exist_ok=True)
text32 = os.path.join(a.dir, "smolvlm-text-f32.gguf")
text = os.path.join(a.dir, "smolvlm-text-q8_0.gguf")
mmproj = os.path.join(a.dir, "smolvlm-mmproj-q8_0.gguf")
photo = os.path.join(a.dir, "photo-640x480.png")
if not os.path.exists(text):
    cfg = mrl.make_config(**dict(mrl.PRESETS["smollm2-135m"], family="smolvlm"))
    mrl.write_gguf(text32, cfg, mrl.random_weights(cfg, 1), "f32", "random SmolVLM-256M text")
    subprocess.run([a.bin, "quantize", text32, text, "q8_0"], check=True, capture_output=True)
    os.remove(text32)
if not os.path.exists(mmproj):
    v = R.smolvlm(d=768, n_head=12, n_layer=12, d_text=576)
    R.write_smolvlm_mmproj(mmproj, v, R.random_siglip(v, seed=2), "q8_0")
if not os.path.exists(photo):
    Image.open(testdata.path("images", "skimage_astronaut.png")).convert("RGB").resize((640, 480)).save(photo)
if a.prepare_only:
    sys.exit(0)
cmd = [a.bin, "caption", "-m", text, "--mmproj", mmproj, photo, "-n", str(a.n), "-t", str(a.threads), "--json"]
if a.max_tiles:
    cmd += ["--max-tiles", str(a.max_tiles)]
t0 = time.time()
r = subprocess.run(cmd, capture_output=True, text=True)
wall = time.time() - t0
if r.returncode != 0:
    sys.exit("caption failed (%d): %s" % (r.returncode, r.stderr))
j = json.loads(r.stdout)
tm = j["timings_ms"]
n_img = j["media_positions"] // 64
print("$ " + " ".join(cmd))
print("caption 640x480, %d images (tiles + global) = %d media rows, %d prompt positions, %d tokens: wall %.1f s "
      "(total %.1f s: decode+processor %.2f s, tower %.1f s = %.2f s per image, project %.2f s, prompt %.2f s, "
      "generate %.2f s = %.1f tok/s), %d threads" % (
          n_img, j["media_positions"], j["prompt_positions"], j["generated_tokens"], wall, tm["total"] / 1e3,
          tm["image_decode"] / 1e3, tm["image_encode"] / 1e3, tm["image_encode"] / 1e3 / max(n_img, 1),
          tm["project"] / 1e3, tm["prompt"] / 1e3, tm["generate"] / 1e3,
          j["generated_tokens"] / max(tm["generate"] / 1e3, 1e-9), a.threads))
