"""img_convert_hf: tools/convert_hf.py --mmproj on synthetic Hugging Face checkpoints with the real tensor names,
config.json / preprocessor_config.json fields and shape relations (small widths) of LLaVA-1.5 (llava-hf layout:
vision_tower.vision_model.*, multi_modal_projector.linear_1/2, language_model.*) and SmolVLM-256M (Idefics3 layout:
model.vision_model.*, model.connector.modality_projection.proj, model.text_model.*), written here as sharded
safetensors (index.json; F32, F16 and BF16 tensors). The converted mmproj runs through `mmgpt encode-image
--projected`; the tower output and the projected rows are compared with ref_hf_vision's PyTorch reference on
the checkpoint's own weights (float64, the pixels mmgpt fed).
Tolerance: --type f32: 1e-4 relative (max |c - ref| / max |ref|); f16 2e-3 and q8_0 3e-2 (quantization error).
Also: refusals with a message (a missing tensor named, the text model asked for without tokenizer files, an
unknown model_type). The text models: test_convert_hf_text.py.
"""
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
import ref_hf_vision as R  # noqa: E402
from convert_hf import write_safetensors  # noqa: E402 (tools/, on the path through ref_hf_vision)
import testdata  # noqa: E402

BIN = os.environ.get("MMGPT_BIN")
TMP = os.path.join(os.environ.get("MMGPT_TEST_TMP", "/tmp"), "img_convert_hf")
CONVERT = os.path.join(HERE, "..", "..", "tools", "convert_hf.py")
if not BIN:
    print("MMGPT_BIN not set")
    sys.exit(77)
quick = os.environ.get("MMGPT_SANITIZE_RUN") == "1"
fails = []


def write_checkpoint(folder, config, preproc, tensors):
    """tensors {hf name: (dtype, array)} -> two shards + model.safetensors.index.json."""
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        os.remove(os.path.join(folder, f))
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    wm = {}
    for sh, ns in shards.items():
        write_safetensors(os.path.join(folder, sh), {n: tensors[n] for n in ns})
        wm.update({n: sh for n in ns})
    json.dump({"metadata": {}, "weight_map": wm}, open(os.path.join(folder, "model.safetensors.index.json"), "w"))
    json.dump(config, open(os.path.join(folder, "config.json"), "w"))
    json.dump(preproc, open(os.path.join(folder, "preprocessor_config.json"), "w"))


def rel_err(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)) if a.shape == b.shape else float("inf")


def check(label, got, want, tol):
    r = rel_err(got, want)
    ok = r <= tol
    print("%s %-52s %-10s rel max|diff| %.2e (<= %.0e)" % ("ok  " if ok else "FAIL", label,
                                                          "x".join(map(str, got.shape)), r, tol))
    if not ok:
        fails.append(label)


def convert(folder, out, *args):
    return subprocess.run([sys.executable, CONVERT, folder] + list(args) + (["--mmproj", out] if out else []),
                          capture_output=True, text=True, timeout=300)


def encode(model, img):
    outs = [os.path.join(TMP, k + ".npy") for k in ("out", "pre", "proj")]
    p = subprocess.run([BIN, "encode-image", "--mmproj", model, img, "-o", outs[0], "--preprocessed", outs[1],
                        "--projected", outs[2], "-t", "2", "--max-tiles", "4"], capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError("encode-image failed (%d): %s" % (p.returncode, p.stderr.strip()))
    return [np.load(f) for f in outs]


os.makedirs(TMP, exist_ok=True)
photo = testdata.path("images", "skimage_coffee.png")
rng = np.random.default_rng(3)

# ---------------------------------------------------------------- LLaVA-1.5 (llava-hf layout)
lc = R.llava15(d=64, n_head=4, n_layer=4, d_text=96)
Wl = R.random_clip(lc, seed=21)
llava_cfg = {"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava", "ignore_index": -100,
             "image_token_index": 32000, "projector_hidden_act": "gelu", "vision_feature_layer": -2,
             "vision_feature_select_strategy": "default",
             "text_config": {"model_type": "llama", "hidden_size": 96, "num_hidden_layers": 2,
                             "num_attention_heads": 4, "intermediate_size": 192, "vocab_size": 32064},
             "vision_config": {"model_type": "clip_vision_model", "hidden_size": 64, "image_size": 336,
                               "intermediate_size": 256, "num_attention_heads": 4, "num_hidden_layers": 4,
                               "patch_size": 14, "projection_dim": 768, "vocab_size": 32000}}
llava_pp = {"crop_size": {"height": 336, "width": 336}, "do_center_crop": True, "do_normalize": True,
            "do_resize": True, "image_mean": list(R.CLIP_MEAN), "image_std": list(R.CLIP_STD),
            "resample": 3, "size": {"shortest_edge": 336}, "processor_class": "LlavaProcessor"}
ten, held = {}, {}
for n, a in Wl.items():
    hf = n.replace("vision_model.", "vision_tower.vision_model.", 1) if n.startswith("vision_model.") else \
        n.replace("model.mm_projector.0", "multi_modal_projector.linear_1").replace(
            "model.mm_projector.2", "multi_modal_projector.linear_2")
    dt = "F16" if "q_proj.weight" in n else "BF16" if "fc2.weight" in n else "F32"
    ten[hf] = (dt, a)
    held[n] = R.stored(dt, a)
ten["language_model.model.embed_tokens.weight"] = ("F16", rng.standard_normal((50, 96)))
ten["language_model.lm_head.weight"] = ("F16", rng.standard_normal((50, 96)))
llava_dir = os.path.join(TMP, "llava-1.5-tiny-hf")
write_checkpoint(llava_dir, llava_cfg, llava_pp, ten)

# ---------------------------------------------------------------- SmolVLM-256M (Idefics3 layout)
sc = R.smolvlm(d=64, n_head=4, n_layer=3, d_text=96)
Ws = R.random_siglip(sc, seed=22)
smol_cfg = {"architectures": ["Idefics3ForConditionalGeneration"], "model_type": "idefics3", "scale_factor": 4,
            "image_token_id": 49190, "tie_word_embeddings": False,
            "text_config": {"model_type": "llama", "hidden_size": 96, "num_hidden_layers": 2,
                            "num_attention_heads": 3, "intermediate_size": 256, "vocab_size": 49280},
            "vision_config": {"model_type": "idefics3_vision", "hidden_size": 64, "image_size": 512,
                              "intermediate_size": 256, "num_attention_heads": 4, "num_hidden_layers": 3,
                              "patch_size": 16, "max_image_size": {"longest_edge": 512}}}
smol_pp = {"do_convert_rgb": True, "do_image_splitting": True, "do_normalize": True, "do_pad": True,
           "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
           "max_image_size": {"longest_edge": 512}, "resample": 1, "rescale_factor": 1 / 255,
           "size": {"longest_edge": 2048}, "image_processor_type": "Idefics3ImageProcessor"}
ten_s = {n: ("BF16" if "fc1.weight" in n else "F32", a) for n, a in Ws.items()}
held_s = {n: R.stored(dt, a) for n, (dt, a) in ten_s.items()}
ten_s["model.text_model.embed_tokens.weight"] = ("F32", rng.standard_normal((50, 96)))
smol_dir = os.path.join(TMP, "SmolVLM-tiny")
write_checkpoint(smol_dir, smol_cfg, smol_pp, ten_s)


def reference(kind, pre, W):
    if kind == "llava":
        tower = R.clip_hidden_state(lc, W, pre, -2)
        return tower, R.llava_projector(W, tower[1:])
    if pre.ndim == 4:  # SmolVLM: the tiles and the global image ([n_images, 3, S, S]), each through both
        both = [reference(kind, p, W) for p in pre]
        return np.stack([b[0] for b in both]), np.stack([b[1] for b in both])
    tower = R.siglip_last_hidden_state(sc, W, pre)
    return tower, R.idefics3_connector(sc, W, tower)


for kind, folder, W in (("llava", llava_dir, held), ("smol", smol_dir, held_s)):
    for tt in (("f32", "f16", "q8_0") if not quick else ("f32",)):
        out = os.path.join(TMP, "%s_%s.gguf" % (kind, tt))
        r = convert(folder, out, "--type", tt)
        label = "%s --type %s" % ("LLaVA-1.5" if kind == "llava" else "SmolVLM", tt)
        if r.returncode != 0:
            print("FAIL", label, r.stderr.strip())
            fails.append(label)
            continue
        try:
            tower, pre, proj = encode(out, photo)
        except RuntimeError as e:
            print("FAIL", label, e)
            fails.append(label)
            continue
        t_ref, p_ref = reference(kind, pre, W)
        tol = {"f32": 1e-4, "f16": 2e-3, "q8_0": 3e-2}[tt]
        check(label + ": tower", tower, t_ref, tol)
        check(label + ": projected", proj, p_ref, tol)
        if tt == "f32":
            import mmgguf
            kv = mmgguf.GGUFReader(out).kv
            want = {"llava": {"clip.projector_type": "mlp", "clip.vision.block_count": 3, "clip.use_gelu": False,
                              "clip.vision.image_size": 336, "clip.vision.projection_dim": 96},
                    "smol": {"clip.projector_type": "idefics3", "clip.vision.block_count": 3, "clip.use_gelu": True,
                             "clip.vision.projector.scale_factor": 4, "clip.vision.preproc_image_size": 2048}}[kind]
            bad = {k: (kv.get(k), v) for k, v in want.items() if kv.get(k) != v}
            print("%s %s keys %s" % ("ok  " if not bad else "FAIL", label, bad or "as llama.cpp writes them"))
            if bad:
                fails.append(label + " keys")

# ---------------------------------------------------------------- refusals
r = convert(llava_dir, None, "-o", os.path.join(TMP, "text.gguf"))
ok = r.returncode == 1 and "neither tokenizer.model nor tokenizer.json" in r.stderr
print("%s text model of LLaVA without tokenizer files: %s" % ("ok  " if ok else "FAIL", r.stderr.strip()[:150]))
fails += [] if ok else ["text without tokenizer refused"]
del ten["vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight"]
bad_dir = os.path.join(TMP, "llava-bad")
write_checkpoint(bad_dir, llava_cfg, llava_pp, ten)
r = convert(bad_dir, os.path.join(TMP, "bad.gguf"))
ok = r.returncode == 1 and "encoder.layers.1.mlp.fc1.weight" in r.stderr
print("%s missing tensor: %s" % ("ok  " if ok else "FAIL", r.stderr.strip()))
fails += [] if ok else ["missing tensor"]
write_checkpoint(bad_dir, dict(llava_cfg, model_type="mllama"), llava_pp, ten_s)
r = convert(bad_dir, os.path.join(TMP, "bad.gguf"))
ok = r.returncode == 1 and "mllama" in r.stderr
print("%s unknown model_type: %s" % ("ok  " if ok else "FAIL", r.stderr.strip()))
fails += [] if ok else ["model_type"]

if fails:
    print("FAILED:", ", ".join(fails))
    sys.exit(1)
print("all ok")
