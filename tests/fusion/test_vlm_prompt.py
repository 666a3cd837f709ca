#!/usr/bin/env python3
"""test_vlm_prompt.py - the whole sequence mmgpt evaluates for a question about pictures with llama.cpp-layout
text + mmproj pairs (issue 17.4), against an independent reconstruction of the prompt llama.cpp's multimodal CLI
(tools/mtmd: mtmd-cli + mtmd.cpp) evaluates for `-m TEXT --mmproj MMPROJ --image IMG... -p Q`:

  the chat template (llama.cpp's built-in one) around one user turn whose content is one media marker per image
  immediately followed by Q (no newline, no system prompt), BOS only when add_bos_token says so; special-token
  text of the template split out as single tokens, the rest byte-level BPE (tests/tokenizer/ref_gpt2_bpe.py);
  SmolVLM (idefics3): per image the tiles row-major, each "<fake_token_around_image><row_R_col_C>" + its 64 rows,
  "\\n" after every tile row but the last, then "\\n\\n" <fake_token_around_image> <global-img> + the global
  image's rows + <fake_token_around_image> (tokens looked up by text as mtmd's lookup_token does);
  LLaVA-1.5 (mlp): the 576 rows where the marker stands.
Pixels from tests/image/ref_imgproc.py (PIL), rows from ref_hf_vision.py (HF CLIP / SigLIP + LLaVA projector /
Idefics3 connector, float64), logits from tests/transformer/ref_llama.py (HF Llama forward of the whole sequence,
float64). Checks: token ids exactly, media rows and logits <= 1e-4 relative (max |diff| / max |ref|), F32 files.
Also `mmgpt caption` (+ --json) and `mmgpt ask` run end to end on the SmolVLM pair.
    test_vlm_prompt.py VLM_TOOL      (MMGPT_BIN: the mmgpt binary; MMGPT_TEST_TMP: scratch folder)
"""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
for p in (os.path.join(ROOT, "tools"), os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "image"),
          os.path.join(ROOT, "tests", "transformer"), os.path.join(ROOT, "tests", "tokenizer")):
    sys.path.insert(0, p)
import make_random_llama as mrl  # noqa: E402
from ref_bpe_vocab import Vocab  # noqa: E402
import ref_hf_vision as R  # noqa: E402
import ref_imgproc as RP  # noqa: E402
import ref_llama  # noqa: E402
import testdata  # noqa: E402
from checks import check, finish, rel  # noqa: E402

TOOL = sys.argv[1]
BIN = os.environ.get("MMGPT_BIN")
TMP = os.environ.get("MMGPT_TEST_TMP", "/tmp")
os.makedirs(TMP, exist_ok=True)


def text_model(path, family, d):
    cfg = mrl.make_config(arch="llama", d=d, layers=2, heads=4, kv_heads=2, ff=2 * d, vocab=420, ctx=4096,
                          family=family)
    W = mrl.random_weights(cfg, seed=3)
    mrl.write_gguf(path, cfg, W, "f32", "vlm-" + family)
    tokens, types, merges = mrl.make_vocab(family, cfg["vocab"])
    return cfg, W, Vocab(tokens, types, merges)


def smolvlm_media(V, cfg, Wh, img, max_tiles):
    """[ids and rows] of one picture as mtmd places SmolVLM's tiles"""
    S = cfg.image_size
    frames, nr, nc = RP.idefics3(Image.open(img), S=S, L=4 * S, max_tiles=max_tiles)
    rows = [R.idefics3_connector(cfg, Wh, R.siglip_last_hidden_state(cfg, Wh, f)) for f in frames]
    fake, glob = V.lookup("<fake_token_around_image>"), V.lookup("<global-img>")
    out = []
    for r in range(nr):
        for c in range(nc):
            out += [fake, V.lookup("<row_%d_col_%d>" % (r + 1, c + 1))] + list(rows[r * nc + c])
        if r + 1 < nr:
            out.append(V.lookup("\n"))
    return out + [V.lookup("\n\n"), fake, glob] + list(rows[-1]) + [fake], nr, nc


def llava_media(cfg, Wh, img):
    pre = RP.llava(Image.open(img), S=cfg.image_size)
    pre = pre[0] if pre.ndim == 4 else pre
    return list(R.llava_projector(Wh, R.clip_hidden_state(cfg, Wh, pre, -2)[1:])), 0, 0


def compare(label, text, mmproj, max_tiles, q, imgs, want, tcfg, TW, env=None):
    pre = os.path.join(TMP, "vlm_" + label.split()[0])
    r = subprocess.run([TOOL, text, mmproj, str(max_tiles), pre, q] + imgs, capture_output=True, text=True,
                       timeout=600, env=dict(os.environ, **(env or {})))
    if r.returncode != 0:
        check(label, False, r.stderr.strip())
        return
    ids = np.load(pre + ".ids.npy").astype(np.int64)
    rows = np.load(pre + ".rows.npy")
    got_ids = [int(i) for i in ids]
    want_ids = [i if isinstance(i, int) else -1 for i in want]
    check(label + ": token ids and media positions (%d positions, %d media rows)" % (len(want), want_ids.count(-1)),
          got_ids == want_ids, "" if got_ids == want_ids else "\n got  %s\n want %s" % (got_ids[:80], want_ids[:80]))
    want_rows = np.array([x for x in want if not isinstance(x, int)])
    e = rel(rows, want_rows)
    check(label + ": media rows in order", e <= 1e-4, "%s rel %.2e (<= 1e-4)" % ("x".join(map(str, rows.shape)), e))
    lg = np.load(pre + ".logits.npy")
    ref = ref_llama.logits(tcfg, TW, want)
    e = rel(lg, ref)
    check(label + ": logits of every position vs a PyTorch forward of the whole prompt", e <= 1e-4,
          "%s rel %.2e (<= 1e-4)" % ("x".join(map(str, lg.shape)), e))


# ---------------------------------------------------------------- SmolVLM-like pair
smol = R.smolvlm(d=64, n_head=4, n_layer=2, d_text=96)
Ws = R.random_siglip(smol, seed=21)
s_mmproj = os.path.join(TMP, "vlm_smol_mmproj.gguf")
Wsh = R.hf_from_held(Ws, R.write_smolvlm_mmproj(s_mmproj, smol, Ws, "f32"), "smol", False)
s_text = os.path.join(TMP, "vlm_smol_text.gguf")
scfg, SW, SV = text_model(s_text, "smolvlm", 96)
photo = testdata.path("images", "skimage_astronaut.png")   # PNG: the same 8-bit pixels for PIL and mmgpt
small = os.path.join(TMP, "vlm_small.png")
Image.open(testdata.path("images", "skimage_coffee.png")).convert("RGB").resize((300, 200)).save(small)
q = "what is in the picture?"
for label, imgs, mt in (("SmolVLM 2x2 tiles", [photo], 4), ("SmolVLM global image alone (--max-tiles 1)", [small], 1),
                        ("SmolVLM two images", [photo, small], 4)):
    want = SV.tok("<|im_start|>User: ")  # llama.cpp's smolvlm template; add_bos_token false
    for im in imgs:
        want += smolvlm_media(SV, smol, Wsh, im, mt)[0]
    want += SV.tok(q + "<end_of_utterance>\nAssistant:")
    compare(label, s_text, s_mmproj, mt, q, imgs, want, scfg, SW)

# ---------------------------------------------------------------- LLaVA-1.5-like pair
llava = R.llava15(d=64, n_head=4, n_layer=3, d_text=96)
Wl = R.random_clip(llava, seed=22)
l_mmproj = os.path.join(TMP, "vlm_llava_mmproj.gguf")
Wlh = R.hf_from_held(Wl, R.write_llava15_mmproj(l_mmproj, llava, Wl, "f32", swap_ffn=True), "llava", True)
l_text = os.path.join(TMP, "vlm_llava_text.gguf")
lcfg, LW, LV = text_model(l_text, "llava", 96)
want = [LV.lookup("<s>")] + LV.tok("USER: ")  # add_bos_token true; llama.cpp's vicuna template
want += llava_media(llava, Wlh, photo)[0] + LV.tok(q + "\nASSISTANT:")
compare("LLaVA-1.5 one image", l_text, l_mmproj, 0, q, [photo], want, lcfg, LW)
# a turn without markers (`mmgpt chat`: the picture, then the typed line): the same sequence, no "\n" between
compare("LLaVA-1.5 one image, no marker in the text", l_text, l_mmproj, 0, q, [photo], want, lcfg, LW,
        {"VLM_NO_MARKER": "1"})

# ---------------------------------------------------------------- the CLI on the SmolVLM pair
if BIN:
    r = subprocess.run([BIN, "caption", "-m", s_text, "--mmproj", s_mmproj, photo, "--max-tiles", "4", "-n", "4",
                        "-t", "2"], capture_output=True, text=True, timeout=600)
    check("mmgpt caption -m TEXT --mmproj MMPROJ photo --max-tiles 4", r.returncode == 0, r.stderr.strip()[-300:])
    r = subprocess.run([BIN, "caption", "-m", s_text, "--mmproj", s_mmproj, photo, "--max-tiles", "4", "-n", "4",
                        "-t", "2", "--json"], capture_output=True, text=True, timeout=600)
    try:
        j = json.loads(r.stdout)
        check("mmgpt caption --json: valid JSON", r.returncode == 0, str(j)[:200])
    except ValueError as e:
        check("mmgpt caption --json: valid JSON", False, "%s: %r" % (e, r.stdout[:200]))
    r = subprocess.run([BIN, "ask", "-m", s_text, "--mmproj", s_mmproj, "-n", "4", "-t", "2", small, q],
                       capture_output=True, text=True, timeout=600)
    check("mmgpt ask -m TEXT --mmproj MMPROJ small.png Q", r.returncode == 0, r.stderr.strip()[-300:])

sys.exit(finish())
