#!/usr/bin/env python3
"""test_media_cache_tiles.py - the media cache key holds the processing: on llama.cpp-layout pairs (a random
SmolLM2-shaped text model, a SmolVLM idefics3 mmproj and a LLaVA-1.5 mlp mmproj, small widths), fus_media_cache
--tiles checks that another --max-tiles (another tiling of the same bytes) misses the cache and the same setting
hits it, and that a setting the processor ignores (max_tiles on LLaVA) still hits (test_media_cache.c says how).
    test_media_cache_tiles.py FUS_MEDIA_CACHE      (MMGPT_TEST_TMP: scratch folder)
"""
import os
import subprocess
import sys

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
for p in (os.path.join(ROOT, "tools"), os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "image")):
    sys.path.insert(0, p)
import make_random_llama as mrl  # noqa: E402
import ref_hf_vision as R  # noqa: E402
import testdata  # noqa: E402

TMP = os.path.join(os.environ.get("MMGPT_TEST_TMP", "/tmp"), "fus_media_cache_tiles")
os.makedirs(TMP, exist_ok=True)
text = os.path.join(TMP, "text.gguf")
cfg = mrl.make_config(arch="llama", d=64, layers=1, heads=4, kv_heads=2, ff=128, vocab=420, ctx=8192,
                      family="smolvlm")
mrl.write_gguf(text, cfg, mrl.random_weights(cfg, seed=1), "f32", "cache-tiles")
smol = os.path.join(TMP, "smol_mmproj.gguf")
sc = R.smolvlm(d=32, n_head=2, n_layer=1, d_text=64)
R.write_smolvlm_mmproj(smol, sc, R.random_siglip(sc, seed=2), "f32")
llava = os.path.join(TMP, "llava_mmproj.gguf")
lc = R.llava15(d=32, n_head=2, n_layer=2, d_text=64)
R.write_llava15_mmproj(llava, lc, R.random_clip(lc, seed=3), "f32")
img = os.path.join(TMP, "photo.png")
Image.open(testdata.path("images", "skimage_coffee.png")).convert("RGB").resize((600, 400)).save(img)
r = subprocess.run([sys.argv[1], "--tiles", text, smol, llava, img], timeout=600)
sys.exit(r.returncode)
