"""ref_vit.py - PyTorch reference of a CLIP-style ViT image encoder (independent of encoders/image_vit.c),
plus a writer of random-weight ViT GGUF files with llama.cpp mmproj names. Importable by other tests:

    import ref_vit
    cfg = ref_vit.Config(image_size=32, patch_size=8, d=64, d_ff=128, n_head=4, n_layer=3,
                         cls=True, pre_ln=True, post_ln=True, gelu=False, feature_layer=-1)
    W = ref_vit.random_weights(cfg, seed=0)              # dict: GGUF name -> np.float32 (numpy shape = torch)
    ref_vit.write_gguf(path, cfg, W, wtype="f32")         # or "q8_0" / "q4_0" / "f16" for block matrices
    out = ref_vit.forward(cfg, W, pixels)                # pixels [3, S, S] -> np.float64 [n_tokens, d]

Model (CLIP ViT, HF CLIPVisionTransformer semantics):
    x = conv2d(pixels, patch_embd, stride p) (+ bias) -> [n_patches, d] in row-major patch order
    x = [class_embd; x] if cls;  x += position_embd;  x = pre_ln(x) if present
    for l in range(n_run): x += attn(ln1(x)); x += mlp(ln2(x))     (multi-head, no mask, scale 1/sqrt(dh))
    mlp = ffn_down(act(ffn_up(.))), act = GELU(erf; tanh form if gelu_tanh) if clip.use_gelu else quick-GELU
          x*sigmoid(1.702x)
    x = post_ln(x) if present and all layers ran
    feature_layer k: k >= 0 -> n_run = k; k < 0 -> n_run = n_layer + 1 + k   (HF hidden_states[k])
"""
import dataclasses
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import mmgguf  # noqa: E402


@dataclasses.dataclass
class Config:
    image_size: int = 32
    patch_size: int = 8
    d: int = 64
    d_ff: int = 128
    n_head: int = 4
    n_layer: int = 2
    eps: float = 1e-5
    cls: bool = True
    pre_ln: bool = True
    post_ln: bool = True
    gelu: bool = False            # clip.use_gelu
    gelu_tanh: bool = False       # the tanh GELU (clip.projector_type idefics3, or mmgpt.vision.gelu = "tanh")
    feature_layer: int = -1
    resize_mode: str = "crop"
    mean: tuple = (0.48145466, 0.4578275, 0.40821073)
    std: tuple = (0.26862954, 0.26130258, 0.27577711)
    patch_bias: bool = True

    @property
    def n_patches(self):
        return (self.image_size // self.patch_size) ** 2

    @property
    def n_tokens(self):
        return self.n_patches + (1 if self.cls else 0)

    @property
    def n_run(self):
        k = self.feature_layer
        return k if k >= 0 else self.n_layer + 1 + k


BLOCK_MATS = ("attn_q", "attn_k", "attn_v", "attn_out", "ffn_up", "ffn_down")


def random_weights(cfg, seed=0):
    rng = np.random.default_rng(seed)
    d, f, p = cfg.d, cfg.d_ff, cfg.patch_size

    def mat(o, i):
        return (rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32)

    def vec(n, s=0.02, c=0.0):
        return (c + s * rng.standard_normal(n)).astype(np.float32)

    W = {"v.patch_embd.weight": (rng.standard_normal((d, 3, p, p)) / np.sqrt(3 * p * p)).astype(np.float32)}
    if cfg.patch_bias:
        W["v.patch_embd.bias"] = vec(d, 0.1)
    if cfg.cls:
        W["v.class_embd"] = vec(d, 1.0)
    W["v.position_embd.weight"] = (0.3 * rng.standard_normal((cfg.n_tokens, d))).astype(np.float32)
    if cfg.pre_ln:
        W["v.pre_ln.weight"], W["v.pre_ln.bias"] = vec(d, 0.1, 1.0), vec(d, 0.1)
    if cfg.post_ln:
        W["v.post_ln.weight"], W["v.post_ln.bias"] = vec(d, 0.1, 1.0), vec(d, 0.1)
    for l in range(cfg.n_layer):
        b = "v.blk.%d." % l
        for ln in ("ln1", "ln2"):
            W[b + ln + ".weight"], W[b + ln + ".bias"] = vec(d, 0.1, 1.0), vec(d, 0.1)
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            W[b + name + ".weight"], W[b + name + ".bias"] = mat(d, d), vec(d, 0.05)
        W[b + "ffn_up.weight"], W[b + "ffn_up.bias"] = mat(f, d), vec(f, 0.05)
        W[b + "ffn_down.weight"], W[b + "ffn_down.bias"] = mat(d, f), vec(d, 0.05)
    return W


def is_block_matrix(name):
    return name.startswith("v.blk.") and name.endswith(".weight") and name.split(".")[3] in BLOCK_MATS


def write_gguf(path, cfg, W, wtype="f32", other_2d="f32"):
    """Write a vision-only mmproj-style GGUF. Block matrices in wtype, the patch embedding and position
    table in other_2d ("f16" as llama.cpp's converter does), 1-D tensors f32.
    Returns the weights as the file holds them (quantized matrices dequantized) for the reference."""
    w = mmgguf.GGUFWriter()
    w.add_str("general.architecture", "clip")
    w.add_bool("clip.has_vision_encoder", True)
    w.add_u32("clip.vision.image_size", cfg.image_size)
    w.add_u32("clip.vision.patch_size", cfg.patch_size)
    w.add_u32("clip.vision.embedding_length", cfg.d)
    w.add_u32("clip.vision.feed_forward_length", cfg.d_ff)
    w.add_u32("clip.vision.block_count", cfg.n_layer)
    w.add_u32("clip.vision.attention.head_count", cfg.n_head)
    w.add_f32("clip.vision.attention.layer_norm_epsilon", cfg.eps)
    w.add_arr("clip.vision.image_mean", "f32", list(cfg.mean))
    w.add_arr("clip.vision.image_std", "f32", list(cfg.std))
    w.add_bool("clip.use_gelu", cfg.gelu)
    w.add_str("mmgpt.vision.resize_mode", cfg.resize_mode)
    w.add_i32("mmgpt.vision.feature_layer", cfg.feature_layer)
    held = {}
    for name, arr in W.items():
        t = wtype if is_block_matrix(name) else other_2d if name in ("v.patch_embd.weight", "v.position_embd.weight") else "f32"
        store(w, held, name, arr, t)
    w.write(path)
    return held


def store(w, held, name, arr, t):
    """Add tensor name (type t) to GGUF writer w; held[name] = its values as the file holds them."""
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    w.add_tensor(name, arr, ttype=t)
    if t == "f32":
        held[name] = arr
    elif t == "f16":
        held[name] = arr.astype(np.float16).astype(np.float32)
    else:
        held[name] = mmgguf.dequantize(mmgguf.quantize(arr, t), t, arr.size).reshape(arr.shape)


def _ln(x, W, name, eps):
    return F.layer_norm(x, (x.shape[-1],), torch.from_numpy(W[name + ".weight"]).double(),
                        torch.from_numpy(W[name + ".bias"]).double(), eps)


def _lin(x, W, name, q8=()):
    """x W^T + b; x's rows rounded to 8 bits per block of 32 first when name's matrix is in q8 (mmgpt's int8
    prompt gemm: ref_gpt2.q8_roundtrip, half to even; ref_gpt2.prompt_q8_types says which types)"""
    if name + ".weight" in q8:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "transformer"))
        from ref_gpt2 import q8_roundtrip
        x = torch.from_numpy(q8_roundtrip(x.numpy(), even=True))
    b = W.get(name + ".bias")
    return F.linear(x, torch.from_numpy(W[name + ".weight"]).double(),
                    None if b is None else torch.from_numpy(b).double())


def forward(cfg, W, pixels, q8=()):
    """pixels [3, S, S] (normalised) -> np.float64 [n_tokens, d]. Computed in float64. q8: names of the matrices
    whose inputs are rounded to 8 bits (_lin)."""
    with torch.no_grad():
        px = torch.from_numpy(np.asarray(pixels, dtype=np.float64))[None]
        wconv = torch.from_numpy(W["v.patch_embd.weight"]).double()
        bconv = W.get("v.patch_embd.bias")
        y = F.conv2d(px, wconv, None if bconv is None else torch.from_numpy(bconv).double(),
                     stride=cfg.patch_size)                    # [1, d, ns, ns]
        x = y[0].flatten(1).transpose(0, 1)                      # [n_patches, d], row-major patches
        if cfg.cls:
            x = torch.cat([torch.from_numpy(W["v.class_embd"]).double()[None], x], 0)
        x = x + torch.from_numpy(W["v.position_embd.weight"]).double()
        if cfg.pre_ln:
            x = _ln(x, W, "v.pre_ln", cfg.eps)
        n, d, H = x.shape[0], cfg.d, cfg.n_head
        dh = d // H
        for l in range(cfg.n_run):
            b = "v.blk.%d." % l
            h = _ln(x, W, b + "ln1", cfg.eps)
            q = _lin(h, W, b + "attn_q", q8).view(n, H, dh).transpose(0, 1)
            k = _lin(h, W, b + "attn_k", q8).view(n, H, dh).transpose(0, 1)
            v = _lin(h, W, b + "attn_v", q8).view(n, H, dh).transpose(0, 1)
            att = torch.softmax(q @ k.transpose(1, 2) / np.sqrt(dh), dim=-1)
            a = (att @ v).transpose(0, 1).reshape(n, d)
            x = x + _lin(a, W, b + "attn_out", q8)
            h = _ln(x, W, b + "ln2", cfg.eps)
            u = _lin(h, W, b + "ffn_up", q8)
            if cfg.gelu:
                u = F.gelu(u, approximate="tanh" if cfg.gelu_tanh else "none")
            else:
                u = u * torch.sigmoid(1.702 * u)
            x = x + _lin(u, W, b + "ffn_down", q8)
        if cfg.post_ln and cfg.n_run == cfg.n_layer:
            x = _ln(x, W, "v.post_ln", cfg.eps)
        return x.numpy()
