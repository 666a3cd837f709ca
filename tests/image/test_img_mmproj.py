"""img_mmproj: llama.cpp mmproj files in the published layouts (LLaVA-1.5: CLIP ViT-L/14-336 + mlp; SmolVLM-256M:
SigLIP-B/16-512 + idefics3, scale factor 4; both at small width, random weights made here in the Hugging Face
layout and converted as llama.cpp's converters do, see ref_hf_vision.py) run through `mmgpt encode-image
--projected`, the tower output and the projector's rows compared with ref_hf_vision's PyTorch reference
written from HF's CLIPVisionModel / SiglipVisionModel / Idefics3Connector / LLaVA projector descriptions, run in
float64 on the pixels mmgpt fed (--preprocessed; preprocessing is tested in img_preprocess).

Tolerance: max |c - ref| / max |ref| <= 1e-4 for F32 files. F16 and Q8_0 files: the same 1e-4 against the
reference run on the weights as the file stores them (Q8_0 matrices take the int8 prompt gemm at avx2/avx512:
there the reference rounds their inputs to 8 bits per block of 32 as it does, ref_gpt2.prompt_q8_types), and against the original float weights the
quantization error, bounded by 2e-3 (F16) and 3e-2 (Q8_0) (the figures measured are printed).
Also: older converters' swapped ffn_up / ffn_down names (both towers), clip.use_silu, clip.vision.feature_layer,
end to end (`mmgpt logits -m TEXT --mmproj MMPROJ --image`, a gpt2-architecture text model, vs ref_fused's decoder
fed the reference's projected rows, 1e-4), and hostile keys (exit 4 naming the key).
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import ref_hf_vision as R  # noqa: E402
import ref_imgproc as RP  # noqa: E402
import testdata  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "transformer"))
import ref_gpt2  # noqa: E402

BIN = os.environ.get("MMGPT_BIN")
TMP = os.environ.get("MMGPT_TEST_TMP", "/tmp")
if not BIN:
    print("MMGPT_BIN not set")
    sys.exit(77)
quick = os.environ.get("MMGPT_SANITIZE_RUN") == "1"
fails = []


def encode(model, img, threads=2, max_tiles=0):
    outs = [os.path.join(TMP, "img_mmproj_%s.npy" % k) for k in ("out", "pre", "proj")]
    for f in outs:
        if os.path.exists(f):
            os.remove(f)
    p = subprocess.run([BIN, "encode-image", "--mmproj", model, img, "-o", outs[0], "--preprocessed", outs[1],
                        "--projected", outs[2], "-t", str(threads)] + (["--max-tiles", str(max_tiles)] if max_tiles else []),
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError("encode-image failed (%d): %s" % (p.returncode, p.stderr.strip()))
    return [np.load(f) for f in outs] + [p.stderr]


def rel_err(a, b):
    if a.shape != b.shape:
        return float("inf")
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def reference(kind, cfg, W, pre, k=-2):
    if kind == "llava":
        tower = R.clip_hidden_state(cfg, W, pre, k)
        return tower, R.llava_projector(W, tower[1:])
    if pre.ndim == 4:  # SmolVLM: every tile and the global image, each through the tower and the connector
        both = [reference(kind, cfg, W, p, k) for p in pre]
        return np.stack([b[0] for b in both]), np.stack([b[1] for b in both])
    tower = R.siglip_last_hidden_state(cfg, W, pre)
    return tower, R.idefics3_connector(cfg, W, tower)


def check(label, got, want, tol, q8=False):
    """max |got - want| / max |want| <= tol; q8 (8-bit inputs rounded in the reference): as llama_parity, the
    median row to tol and every row to the decode bound 3e-2 (an input within float32's reach of a rounding
    boundary rounds the other way in mmgpt; through attention that moves its whole image)"""
    r = rel_err(got, want)
    ok = r <= tol
    note = ""
    if q8 and not ok and got.shape == want.shape:
        rows = np.abs(got - want).reshape(-1, got.shape[-1]).max(axis=1) / max(np.abs(want).max(), 1e-30)
        med = float(np.median(rows))
        ok = med <= tol and r <= 3e-2
        note = " median row %.2e (<= %.0e), max <= 3e-2" % (med, tol)
    print("%s %-58s %-10s rel max|diff| %.2e (<= %.0e)%s" % ("ok  " if ok else "FAIL", label, "x".join(map(str, got.shape)),
                                                            r, tol, note))
    if not ok:
        fails.append(label)
    return r


def run_case(label, kind, cfg, W, wtype, swap, img, mode, extra_keys=None, k=-2):
    path = os.path.join(TMP, "img_mmproj_%s_%s_%d.gguf" % (kind, wtype, swap))
    if kind == "llava":
        held = R.write_llava15_mmproj(path, cfg, W, wtype, swap_ffn=swap, extra_keys=extra_keys)
    else:
        held = R.write_smolvlm_mmproj(path, cfg, W, wtype, swap_ffn=swap)
    try:
        tower, pre, proj, log = encode(path, img, max_tiles=0 if kind == "llava" else 6)
    except RuntimeError as e:
        print("FAIL", label, e)
        fails.append(label)
        return
    n_img = 1 if kind == "llava" else 1 + int(np.prod(RP.grid_for(img, cfg.image_size, 6)))
    if (" %s %d x %d" % (mode, n_img, cfg.image_size)) not in log or (kind != "llava" and pre.shape[0] != n_img):
        print("FAIL %s: preprocessing is not %s: %s" % (label, mode, log.strip()))
        fails.append(label + " mode")
    Wh = R.hf_from_held(W, held, kind, swap)
    # the 2-D linear weights are stored in wtype: with the int8 prompt gemm's types their inputs are rounded
    R.Q8_INPUTS = ({n for n, a in Wh.items() if np.ndim(a) == 2 and "embedding" not in n}
                   if wtype in ref_gpt2.prompt_q8_types(ref_gpt2.binary_kernel(BIN)) else set())
    t_ref, p_ref = reference(kind, cfg, Wh, pre, k)
    q8 = bool(R.Q8_INPUTS)
    R.Q8_INPUTS = set()
    check(label + ": tower", tower, t_ref, 1e-4, q8)
    check(label + ": projected", proj, p_ref, 1e-4, q8)
    if wtype != "f32":
        tol = {"f16": 2e-3, "q8_0": 3e-2}[wtype]
        t_f, p_f = reference(kind, cfg, W, pre, k)
        check(label + ": tower vs float weights", tower, t_f, tol)
        check(label + ": projected vs float weights", proj, p_f, tol)


photo = testdata.path("images", "skimage_astronaut.png")
photo2 = testdata.path("images", "skimage_rocket.jpg")

llava = R.llava15(d=64, n_head=4, n_layer=4, d_text=96)
Wl = R.random_clip(llava, seed=11)
smol = R.smolvlm(d=64, n_head=4, n_layer=3, d_text=96)
Ws = R.random_siglip(smol, seed=12)
print("LLaVA-1.5 relations: %d px, patch %d, %d+1 tokens, d %d, d_ff %d, %d heads, HF layers %d (file %d), mlp -> %d"
      % (llava.image_size, llava.patch_size, llava.grid ** 2, llava.d, llava.d_ff, llava.n_head, llava.n_layer,
         llava.n_layer - 1, llava.d_text))
print("SmolVLM relations: %d px, patch %d, %d tokens, d %d, d_ff %d, %d heads, %d layers, scale %d -> %d rows of %d"
      % (smol.image_size, smol.patch_size, smol.grid ** 2, smol.d, smol.d_ff, smol.n_head, smol.n_layer,
         smol.scale_factor, (smol.grid // smol.scale_factor) ** 2, smol.d_text))

run_case("LLaVA-1.5 F32, old converter (fc1 named ffn_down)", "llava", llava, Wl, "f32", True, photo, "llava")
run_case("SmolVLM F32 (fc1 named ffn_up)", "smol", smol, Ws, "f32", False, photo2, "idefics3")
if not quick:
    run_case("LLaVA-1.5 F32, fc1 named ffn_up", "llava", llava, Wl, "f32", False, photo2, "llava")
    run_case("SmolVLM F32, first files (fc1 named ffn_down)", "smol", smol, Ws, "f32", True, photo, "idefics3")
    for wt in ("f16", "q8_0"):
        run_case("LLaVA-1.5 %s (old converter)" % wt.upper(), "llava", llava, Wl, wt, True, photo, "llava")
        run_case("SmolVLM %s" % wt.upper(), "smol", smol, Ws, wt, False, photo, "idefics3")
    # clip.use_silu (llama.cpp: SiLU when use_gelu is false and use_silu true)
    silu = R.llava15(d=32, n_head=2, n_layer=3, d_text=64, act="silu")
    run_case("CLIP clip.use_silu F32", "llava", silu, R.random_clip(silu, seed=13), "f32", True, photo, "llava")

# clip.vision.feature_layer [2] (llama.cpp's int32 array): two of the file's three blocks run, hidden_states[2]
# (no post_ln in a LLaVA file)
fl_cfg = R.llava15(d=32, n_head=2, n_layer=4, d_text=64)
Wf = R.random_clip(fl_cfg, seed=14)
fl_path = os.path.join(TMP, "img_mmproj_fl.gguf")
held = R.write_llava15_mmproj(fl_path, fl_cfg, Wf, "f32", extra_keys={"clip.vision.feature_layer": ("arr:i32", [2])})
try:
    tower, pre, proj, _ = encode(fl_path, photo)
    t_ref, p_ref = reference("llava", fl_cfg, R.hf_from_held(Wf, held, "llava", True), pre, k=2)
    check("clip.vision.feature_layer [2] (2 of 3 blocks): tower", tower, t_ref, 1e-4)
    check("clip.vision.feature_layer [2]: projected", proj, p_ref, 1e-4)
except RuntimeError as e:
    print("FAIL feature_layer", e)
    fails.append("feature_layer")

# end to end: a gpt2-architecture text model (d_model = the projector's output) + each mmproj, `mmgpt logits`
# over [image rows, text] against ref_fused's decoder fed ref_hf_vision's projected rows (the pixels mmgpt fed)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fusion"))
import ref_fused  # noqa: E402

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
text_model = os.path.join(TMP, "img_mmproj_text.gguf")
subprocess.run([sys.executable, os.path.join(SRC, "tools", "make_random_mm.py"), "-o", text_model, "--vocab",
                testdata.path("gpt2_bpe"), "--no-vision", "--no-audio", "--d-model", "96", "--n-layer", "2", "--n-ctx", "640",
                "--seed", "5"], check=True, capture_output=True)
tm = ref_fused.load(text_model)
e2e = [("LLaVA-1.5", "llava", llava, Wl, True, photo)]
# SmolVLM end to end (tiles and their marker tokens): tests/fusion/test_vlm_prompt.py. With a GPT-2 vocabulary,
# which lacks the markers, a SmolVLM image is refused (exit 4) naming the missing token.
mmproj = os.path.join(TMP, "img_mmproj_e2e.gguf")
R.write_smolvlm_mmproj(mmproj, smol, Ws, "f32")
r = subprocess.run([BIN, "logits", "-m", text_model, "--mmproj", mmproj, "--image", photo2, "-p", "<__media__> x", "-o",
                    os.path.join(TMP, "img_mmproj_logits.npy"), "-t", "2", "--max-tiles", "1"],
                   capture_output=True, text=True, timeout=300)
ok = r.returncode == 4 and "<fake_token_around_image>" in r.stderr
print("%s SmolVLM image with a vocabulary lacking its markers: exit %d: %s" % ("ok  " if ok else "FAIL", r.returncode,
                                                                                 r.stderr.strip()))
if not ok:
    fails.append("SmolVLM markers missing")
for label, kind, cfg, W, swap, img in e2e:
    mmproj = os.path.join(TMP, "img_mmproj_e2e.gguf")
    held = (R.write_llava15_mmproj if kind == "llava" else R.write_smolvlm_mmproj)(mmproj, cfg, W, "f32", swap_ffn=swap)
    prompt = "<__media__> What is in the picture?"
    try:
        _, pre, _, _ = encode(mmproj, img)
        rows = reference(kind, cfg, R.hf_from_held(W, held, kind, swap), pre)[1]
        want = ref_fused.logits(tm, ref_fused.turn(tm, prompt, [rows], raw=True))
        out = os.path.join(TMP, "img_mmproj_logits.npy")
        r = subprocess.run([BIN, "logits", "-m", text_model, "--mmproj", mmproj, "--image", img, "-p", prompt, "-o",
                            out, "-t", "2"], capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError("logits failed (%d): %s" % (r.returncode, r.stderr.strip()))
        check("%s end to end: logits (%d image rows + text)" % (label, len(rows)), np.load(out), want, 1e-4)
    except RuntimeError as e:
        print("FAIL", label, "end to end:", e)
        fails.append(label + " end to end")

# hostile keys: exit 4 with one line naming the key
for label, keys, need in (
        ("two feature layers", {"clip.vision.feature_layer": ("arr:i32", [1, 2])}, "clip.vision.feature_layer"),
        ("feature layer 9 of 3", {"clip.vision.feature_layer": ("arr:i32", [9])}, "clip.vision.feature_layer"),
        ("negative feature layer", {"clip.vision.feature_layer": ("arr:i32", [-1])}, "clip.vision.feature_layer"),
        ("feature layer as a string", {"clip.vision.feature_layer": ("str", "2")}, "clip.vision.feature_layer"),
        ("use_silu not a boolean", {"clip.use_silu": ("u32", 1)}, "clip.use_silu"),
        ("mmgpt.vision.gelu unknown", {"mmgpt.vision.gelu": ("str", "fast")}, "mmgpt.vision.gelu"),
        ("LLaVA-NeXT pinpoints", {"clip.vision.image_grid_pinpoints": ("arr:i32", [336, 672, 672, 336])},
         "image_grid_pinpoints"),
        ("both feature-layer keys", {"clip.vision.feature_layer": ("arr:i32", [2]),
                                     "mmgpt.vision.feature_layer": ("i32", -1)}, "feature_layer")):
    p = os.path.join(TMP, "img_mmproj_bad.gguf")
    R.write_llava15_mmproj(p, fl_cfg, Wf, "f32", extra_keys=keys)
    r = subprocess.run([BIN, "encode-image", "--mmproj", p, photo, "-o", os.path.join(TMP, "x.npy")],
                       capture_output=True, text=True, timeout=60)
    ok = r.returncode == 4 and need in r.stderr and len(r.stderr.strip().splitlines()) == 1
    print("%s %s: exit %d: %s" % ("ok  " if ok else "FAIL", label, r.returncode, r.stderr.strip()))
    if not ok:
        fails.append(label)
    os.remove(p)

if fails:
    print("FAILED:", ", ".join(fails))
    sys.exit(1)
print("all ok")
