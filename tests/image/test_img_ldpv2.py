"""img_ldpv2: MobileVLM V2's projector (clip.projector_type "ldpv2", llama.cpp's tensor names mm.model.mlp.0 /
mm.model.mlp.2 / mm.model.peg.0) on a CLIP ViT-L/14-336-shaped tower at small width (random weights; the tower
part written as LLaVA-1.5's converter writes it, ref_hf_vision.write_llava15_mmproj, the projector replaced):
`mmgpt encode-image --projected` against a PyTorch reference written from MobileVLM V2's LDPNetV2Projector
description (nn.Linear, nn.GELU() (erf), nn.Linear on the 24 x 24 patch features of the second-to-last layer
without the class token; nn.AdaptiveAvgPool2d((12, 12)); PosInjectLayer: nn.Conv2d(D, D, 3, 1, 1, groups=D,
bias=True) of the pooled map plus the pooled map), float64 on the pixels mmgpt fed.
Tolerance: F32 file 1e-4 relative (max |diff| / max |ref|); 144 rows. The pixels are the LLaVA-1.5 processor's
(equal to those of the same tower with the "mlp" projector). Also: an odd patch grid and a kernel of the
wrong size are refused with a message naming them.
"""
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
import ref_hf_vision as R  # noqa: E402
import mmgguf  # noqa: E402 (tools/, on the path through ref_hf_vision)
import testdata  # noqa: E402

BIN = os.environ.get("MMGPT_BIN")
TMP = os.path.join(os.environ.get("MMGPT_TEST_TMP", "/tmp"), "img_ldpv2")
if not BIN:
    print("MMGPT_BIN not set")
    sys.exit(77)
os.makedirs(TMP, exist_ok=True)
fails = []
D = 96


def check(label, ok, msg):
    print("%s %-58s %s" % ("ok  " if ok else "FAIL", label, msg))
    if not ok:
        fails.append(label)


def ldpv2_reference(P, feats):
    """MobileVLM V2 LDPNetV2Projector on feats [g*g, d] (float64)"""
    t = {k: torch.tensor(np.asarray(v, np.float64)) for k, v in P.items()}
    with torch.no_grad():
        x = torch.tensor(np.asarray(feats, np.float64))
        x = torch.nn.functional.linear(x, t["mlp0.w"], t["mlp0.b"])
        x = torch.nn.functional.gelu(x)
        x = torch.nn.functional.linear(x, t["mlp2.w"], t["mlp2.b"])
        g = int(round(x.shape[0] ** 0.5))
        m = x.T.reshape(1, D, g, g)
        m = torch.nn.functional.adaptive_avg_pool2d(m, (g // 2, g // 2))
        y = torch.nn.functional.conv2d(m, t["peg.w"], t["peg.b"], stride=1, padding=1, groups=D) + m
        return y.flatten(2)[0].T.numpy()


def write_ldpv2(path, base, P, peg_w=None):
    """base mmproj (LLaVA layout) with clip.projector_type ldpv2 and MobileVLM V2's projector tensors"""
    r = mmgguf.GGUFReader(base)
    w = mmgguf.GGUFWriter()
    for k, v in r.kv.items():
        if k.startswith("general.alignment"):
            continue
        if k == "clip.projector_type":
            v = "ldpv2"
        t = r.kv_types[k]
        w.add_arr(k, "f32", v) if t == "arr" else w.add(k, t, v)   # the arrays here: image_mean / image_std
    for n, (tt, ne, raw) in r.tensors.items():
        if not n.startswith("mm."):
            w.add_tensor_raw(n, tt, ne, raw)
    w.add_tensor("mm.model.mlp.0.weight", P["mlp0.w"], "f32")
    w.add_tensor("mm.model.mlp.0.bias", P["mlp0.b"], "f32")
    w.add_tensor("mm.model.mlp.2.weight", P["mlp2.w"], "f32")
    w.add_tensor("mm.model.mlp.2.bias", P["mlp2.b"], "f32")
    w.add_tensor("mm.model.peg.0.weight", P["peg.w"] if peg_w is None else peg_w, "f32")  # torch [D, 1, 3, 3]
    w.add_tensor("mm.model.peg.0.bias", P["peg.b"], "f32")
    w.write(path)


def encode(model, img):
    outs = [os.path.join(TMP, k + ".npy") for k in ("out", "pre", "proj")]
    p = subprocess.run([BIN, "encode-image", "--mmproj", model, img, "-o", outs[0], "--preprocessed", outs[1],
                        "--projected", outs[2], "-t", "2"], capture_output=True, text=True, timeout=300)
    return p, ([np.load(f) for f in outs] if p.returncode == 0 else None)


cfg = R.llava15(d=64, n_head=4, n_layer=3, d_text=D)
W = R.random_clip(cfg, seed=31)
base = os.path.join(TMP, "base_mmproj.gguf")
R.write_llava15_mmproj(base, cfg, W, "f32")
rng = np.random.default_rng(32)
P = {"mlp0.w": (rng.standard_normal((D, 64)) / 8).astype(np.float32), "mlp0.b": rng.standard_normal(D).astype(np.float32) * 0.1,
     "mlp2.w": (rng.standard_normal((D, D)) / 10).astype(np.float32), "mlp2.b": rng.standard_normal(D).astype(np.float32) * 0.1,
     "peg.w": (rng.standard_normal((D, 1, 3, 3)) / 3).astype(np.float32), "peg.b": rng.standard_normal(D).astype(np.float32) * 0.1}
model = os.path.join(TMP, "mobilevlm_v2_mmproj.gguf")
write_ldpv2(model, base, P)
photo = testdata.path("images", "skimage_coffee.png")
p, res = encode(model, photo)
if res is None:
    check("ldpv2 encode-image", False, p.stderr.strip()[-300:])
else:
    tower, pre, proj = res
    t_ref = R.clip_hidden_state(cfg, W, pre, -2)
    ref = ldpv2_reference(P, t_ref[1:])
    e_t = float(np.abs(tower - t_ref).max() / np.abs(t_ref).max()) if tower.shape == t_ref.shape else float("inf")
    e_p = float(np.abs(proj - ref).max() / np.abs(ref).max()) if proj.shape == ref.shape else float("inf")
    check("ldpv2 tower (CLIP, second-to-last layer)", e_t <= 1e-4, "rel %.2e (<= 1e-4)" % e_t)
    check("ldpv2 projected %s == PyTorch LDPNetV2Projector" % "x".join(map(str, proj.shape)),
          e_p <= 1e-4 and proj.shape == (144, D), "rel %.2e (<= 1e-4)" % e_p)

    # the picture goes through LLaVA-1.5's processor (MobileVLM's CLIPImageProcessor with "pad"), as for "mlp"
    p2, res2 = encode(base, photo)
    check("ldpv2 pixels == the mlp (LLaVA-1.5) processor's", res2 is not None and np.array_equal(pre, res2[1]),
          "%s, bit for bit" % "x".join(map(str, pre.shape)))

# hostile: an odd patch grid (322 px / 14 = 23, a tower of that size), a kernel that is not 3 x 3
import dataclasses  # noqa: E402
bad, odd_base = os.path.join(TMP, "bad.gguf"), os.path.join(TMP, "odd_base.gguf")
odd = dataclasses.replace(cfg, image_size=322)
R.write_llava15_mmproj(odd_base, odd, R.random_clip(odd, seed=33), "f32")
write_ldpv2(bad, odd_base, P)
p, _ = encode(bad, photo)
check("odd patch grid refused", p.returncode != 0 and "even patch grid" in p.stderr, p.stderr.strip()[-120:])
write_ldpv2(bad, base, P, peg_w=np.zeros((D, 1, 2, 2), np.float32))
p, _ = encode(bad, photo)
check("2 x 2 kernel refused", p.returncode != 0 and "mm.model.peg.0.weight" in p.stderr, p.stderr.strip()[-120:])
if fails:
    print("FAILED: %s" % ", ".join(fails))
    sys.exit(1)
print("all ok")
