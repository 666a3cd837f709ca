"""ref_hf_vision.py - independent PyTorch references of the vision towers and projectors that llama.cpp mmproj
files hold, written from the Hugging Face model descriptions (not from mmgpt's C code nor from ref_vit.py),
on weights in the HF layout and with the HF parameter names; plus converters of those weights to the GGUF
layout that llama.cpp's converters write. Importable by tests:

    import ref_hf_vision as R
    cfg = R.llava15(d=64, n_head=4, n_layer=4, d_text=96)     # CLIP ViT-L/14-336 relations at small width
    hf  = R.random_clip(cfg, seed=0)                           # {HF name: np.float32 array (torch layout)}
    R.write_llava15_mmproj(path, cfg, hf, wtype="f32")         # as convert_image_encoder_to_gguf.py + surgery
    feats = R.clip_hidden_state(cfg, hf, pixels, k=-2)         # HF CLIPVisionModel hidden_states[k]
    rows  = R.llava_projector(hf, feats[1:])                   # LLaVA-1.5: linear_2(GELU(linear_1(x)))

Architectures (the HF descriptions these follow):
  CLIPVisionModel (CLIPVisionTransformer): conv2d patch embedding (no bias) -> [class_embedding; patches] +
    position_embedding -> pre_layrnorm -> layers (x += out_proj(attn(layer_norm1 x)); x += fc2(act(fc1(
    layer_norm2 x)))), attention softmax(q k^T * head_dim^-0.5) v per head; hidden_states[0] is the
    pre_layrnorm output, hidden_states[i] the output of layer i; post_layernorm only pools the class token
    (not used by LLaVA). act = quick_gelu x*sigmoid(1.702x) (openai/clip-vit-large-patch14-336).
  LLaVA-1.5: features = hidden_states[-2] without the class token (vision_feature_layer -2,
    vision_feature_select_strategy "default"); projector mm_projector = Linear(d, d_text), GELU (erf),
    Linear(d_text, d_text) (LlavaMultiModalProjector).
  SiglipVisionModel / Idefics3VisionTransformer (SmolVLM): conv2d patch embedding with bias (valid padding),
    + position_embedding (ids 0..n_patches-1 for a full image), no class token, no pre norm, the same layers
    with act = gelu_pytorch_tanh, then post_layernorm on every token (last_hidden_state).
  Idefics3Connector: pixel_shuffle(x, scale_factor) exactly as HF writes it (view / permute / reshape chain
    below), then modality_projection.proj = Linear(d * s^2, d_text, bias=False).
GGUF layouts (llama.cpp's converters; numpy shape = reversed ggml ne):
  LLaVA-1.5 (examples/llava/convert_image_encoder_to_gguf.py with --llava-projector): vision_model ->
    v, encoder.layers -> blk, pre_layrnorm -> v.pre_ln, class_embedding -> v.class_embd, self_attn.q_proj ->
    attn_q, out_proj -> attn_out, layer_norm1/2 -> ln1/ln2, mlp.fc1 -> ffn_DOWN and mlp.fc2 -> ffn_UP (the old
    converter's names), post_layernorm dropped, the last encoder layer dropped (block_count = layers - 1),
    model.mm_projector.N -> mm.N; f16 for 2-D ".weight" and 4-D tensors, f32 otherwise; keys clip.* below.
  SmolVLM (convert_hf_to_gguf.py SmolVLMModel): model.vision_model -> v (embeddings.* forced f32),
    post_layernorm -> v.post_ln, fc1 -> ffn_up, fc2 -> ffn_down (swap_ffn=True writes the older files'
    swapped names), model.connector.modality_projection.proj -> mm.model.fc; keys clip.projector_type
    idefics3, clip.vision.projector.scale_factor, clip.use_gelu true, clip.vision.preproc_image_size.
"""
import dataclasses
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import mmgguf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_vit  # noqa: E402  (its GGUF tensor store only: the model code here is independent of it)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def stored(dt, a):
    """The float32 value a checkpoint holds for an array saved as dt ("F32", "F16", or "BF16" by truncation)."""
    a = np.asarray(a, dtype=np.float32)
    if dt == "F16":
        return a.astype(np.float16).astype(np.float32)
    if dt == "BF16":
        return (a.view(np.uint32) & 0xFFFF0000).view(np.float32)
    return a


@dataclasses.dataclass
class Cfg:
    image_size: int
    patch_size: int
    d: int
    d_ff: int
    n_head: int
    n_layer: int          # layers of the HF model
    eps: float
    act: str              # "quick_gelu" | "gelu_tanh" | "gelu" | "silu"
    d_text: int
    scale_factor: int = 1
    mean: tuple = CLIP_MEAN
    std: tuple = CLIP_STD

    @property
    def grid(self):
        return self.image_size // self.patch_size


def llava15(d=64, n_head=4, n_layer=4, d_text=96, act="quick_gelu"):
    """openai/clip-vit-large-patch14-336 relations (336 px, patch 14, d_ff = 4 d, eps 1e-5) at width d."""
    return Cfg(336, 14, d, 4 * d, n_head, n_layer, 1e-5, act, d_text)


def smolvlm(d=64, n_head=4, n_layer=3, d_text=96, scale_factor=4):
    """SmolVLM-256M relations (SigLIP-B/16 at 512 px, d_ff = 4 d, eps 1e-6, scale factor 4) at width d."""
    return Cfg(512, 16, d, 4 * d, n_head, n_layer, 1e-6, "gelu_tanh", d_text, scale_factor, (0.5,) * 3, (0.5,) * 3)


# ---------------------------------------------------------------- random HF-layout weights
class _Gen:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def mat(self, o, i):
        return (self.rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32)

    def vec(self, n, s=0.02, c=0.0):
        return (c + s * self.rng.standard_normal(n)).astype(np.float32)


def _layers(g, W, pre, cfg):
    d, f = cfg.d, cfg.d_ff
    for i in range(cfg.n_layer):
        b = "%s.encoder.layers.%d." % (pre, i)
        for ln in ("layer_norm1", "layer_norm2"):
            W[b + ln + ".weight"], W[b + ln + ".bias"] = g.vec(d, 0.1, 1.0), g.vec(d, 0.1)
        for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
            W[b + "self_attn." + p + ".weight"], W[b + "self_attn." + p + ".bias"] = g.mat(d, d), g.vec(d, 0.05)
        W[b + "mlp.fc1.weight"], W[b + "mlp.fc1.bias"] = g.mat(f, d), g.vec(f, 0.05)
        W[b + "mlp.fc2.weight"], W[b + "mlp.fc2.bias"] = g.mat(d, f), g.vec(d, 0.05)


def random_clip(cfg, seed=0):
    """CLIPVisionModel (as in LLaVA-1.5's checkpoint: model.vision_tower.vision_tower.vision_model.*, here
    shortened to vision_model.*) + the LLaVA projector model.mm_projector.{0,2}."""
    g, d, p = _Gen(seed), cfg.d, cfg.patch_size
    W = {"vision_model.embeddings.class_embedding": g.vec(d, 1.0),
         "vision_model.embeddings.patch_embedding.weight":
             (g.rng.standard_normal((d, 3, p, p)) / np.sqrt(3 * p * p)).astype(np.float32),
         "vision_model.embeddings.position_embedding.weight":
             (0.3 * g.rng.standard_normal((cfg.grid ** 2 + 1, d))).astype(np.float32),
         "vision_model.pre_layrnorm.weight": g.vec(d, 0.1, 1.0), "vision_model.pre_layrnorm.bias": g.vec(d, 0.1)}
    _layers(g, W, "vision_model", cfg)
    W["vision_model.post_layernorm.weight"], W["vision_model.post_layernorm.bias"] = g.vec(d, 0.1, 1.0), g.vec(d, 0.1)
    W["model.mm_projector.0.weight"], W["model.mm_projector.0.bias"] = g.mat(cfg.d_text, d), g.vec(cfg.d_text, 0.05)
    W["model.mm_projector.2.weight"], W["model.mm_projector.2.bias"] = g.mat(cfg.d_text, cfg.d_text), g.vec(cfg.d_text, 0.05)
    return W


def random_siglip(cfg, seed=0):
    """Idefics3/SmolVLM: model.vision_model.* + model.connector.modality_projection.proj.weight."""
    g, d, p = _Gen(seed), cfg.d, cfg.patch_size
    pre = "model.vision_model"
    W = {pre + ".embeddings.patch_embedding.weight":
             (g.rng.standard_normal((d, 3, p, p)) / np.sqrt(3 * p * p)).astype(np.float32),
         pre + ".embeddings.patch_embedding.bias": g.vec(d, 0.1),
         pre + ".embeddings.position_embedding.weight": (0.3 * g.rng.standard_normal((cfg.grid ** 2, d))).astype(np.float32)}
    _layers(g, W, pre, cfg)
    W[pre + ".post_layernorm.weight"], W[pre + ".post_layernorm.bias"] = g.vec(d, 0.1, 1.0), g.vec(d, 0.1)
    W["model.connector.modality_projection.proj.weight"] = g.mat(cfg.d_text, d * cfg.scale_factor ** 2)
    return W


# ---------------------------------------------------------------- forward (float64)
def _t(W, n):
    return torch.from_numpy(np.asarray(W[n], dtype=np.float64))


# HF names of the weights whose products round their input rows to 8 bits per block of 32 (mmgpt's int8 prompt
# gemm: the file stores them in a type of ref_gpt2.prompt_q8_types); set by the caller, empty = none
Q8_INPUTS = set()


def _linear(x, W, wname, bname=None):
    """F.linear(x, W[wname], W[bname]) with x rounded as q8_roundtrip (half to even) when wname is in Q8_INPUTS"""
    if wname in Q8_INPUTS:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "transformer"))
        from ref_gpt2 import q8_roundtrip
        x = torch.from_numpy(q8_roundtrip(x.numpy(), even=True))
    return F.linear(x, _t(W, wname), _t(W, bname) if bname else None)


def _act(name, x):
    if name == "quick_gelu":
        return x * torch.sigmoid(1.702 * x)
    if name == "gelu_tanh":
        return F.gelu(x, approximate="tanh")
    if name == "gelu":
        return F.gelu(x)
    if name == "silu":
        return F.silu(x)
    raise ValueError(name)


def _encoder_layer(cfg, W, b, x):
    n, d, H = x.shape[0], cfg.d, cfg.n_head
    dh = d // H

    def lin(h, name):
        return _linear(h, W, b + name + ".weight", b + name + ".bias")

    def ln(h, name):
        return F.layer_norm(h, (d,), _t(W, b + name + ".weight"), _t(W, b + name + ".bias"), cfg.eps)

    h = ln(x, "layer_norm1")
    q = lin(h, "self_attn.q_proj").view(n, H, dh).transpose(0, 1) * dh ** -0.5
    k = lin(h, "self_attn.k_proj").view(n, H, dh).transpose(0, 1)
    v = lin(h, "self_attn.v_proj").view(n, H, dh).transpose(0, 1)
    a = (torch.softmax(q @ k.transpose(1, 2), dim=-1) @ v).transpose(0, 1).reshape(n, d)
    x = x + lin(a, "self_attn.out_proj")
    return x + lin(_act(cfg.act, lin(ln(x, "layer_norm2"), "mlp.fc1")), "mlp.fc2")


def _patches(cfg, W, pre, pixels, bias):
    px = torch.from_numpy(np.asarray(pixels, dtype=np.float64))[None]
    y = F.conv2d(px, _t(W, pre + ".embeddings.patch_embedding.weight"),
                 _t(W, pre + ".embeddings.patch_embedding.bias") if bias else None, stride=cfg.patch_size)
    return y[0].flatten(1).transpose(0, 1)  # [grid*grid, d], row-major patches


def clip_hidden_state(cfg, W, pixels, k):
    """CLIPVisionModel(pixel_values, output_hidden_states=True).hidden_states[k] -> [1 + grid^2, d]."""
    with torch.no_grad():
        x = _patches(cfg, W, "vision_model", pixels, False)
        x = torch.cat([_t(W, "vision_model.embeddings.class_embedding")[None], x], 0)
        x = x + _t(W, "vision_model.embeddings.position_embedding.weight")
        x = F.layer_norm(x, (cfg.d,), _t(W, "vision_model.pre_layrnorm.weight"),
                         _t(W, "vision_model.pre_layrnorm.bias"), cfg.eps)
        states = [x]
        for i in range(cfg.n_layer):
            x = _encoder_layer(cfg, W, "vision_model.encoder.layers.%d." % i, x)
            states.append(x)
        return states[k].numpy()


def llava_projector(W, feats):
    """LLaVA-1.5 mm_projector: Linear, nn.GELU() (erf), Linear."""
    with torch.no_grad():
        x = torch.from_numpy(np.asarray(feats, dtype=np.float64))
        h = F.gelu(_linear(x, W, "model.mm_projector.0.weight", "model.mm_projector.0.bias"))
        return _linear(h, W, "model.mm_projector.2.weight", "model.mm_projector.2.bias").numpy()


def siglip_last_hidden_state(cfg, W, pixels):
    """Idefics3VisionTransformer(pixel_values).last_hidden_state (post_layernorm applied) -> [grid^2, d]."""
    pre = "model.vision_model"
    with torch.no_grad():
        x = _patches(cfg, W, pre, pixels, True)
        x = x + _t(W, pre + ".embeddings.position_embedding.weight")
        for i in range(cfg.n_layer):
            x = _encoder_layer(cfg, W, pre + ".encoder.layers.%d." % i, x)
        x = F.layer_norm(x, (cfg.d,), _t(W, pre + ".post_layernorm.weight"), _t(W, pre + ".post_layernorm.bias"),
                         cfg.eps)
        return x.numpy()


def pixel_shuffle(x, scale_factor):
    """Idefics3Connector.pixel_shuffle, statement by statement (x: [bsz, seq, embed_dim])."""
    bsz, seq, embed_dim = x.size()
    height = width = int(seq ** 0.5)
    x = x.view(bsz, height, width, embed_dim)
    x = x.view(bsz, height, int(width / scale_factor), embed_dim * scale_factor)
    x = x.permute(0, 2, 1, 3)
    x = x.reshape(bsz, int(width / scale_factor), int(height / scale_factor), embed_dim * (scale_factor ** 2))
    x = x.permute(0, 2, 1, 3)
    x = x.reshape(bsz, int(seq / (scale_factor ** 2)), embed_dim * (scale_factor ** 2))
    return x


def idefics3_connector(cfg, W, feats):
    with torch.no_grad():
        x = pixel_shuffle(torch.from_numpy(np.asarray(feats, dtype=np.float64))[None], cfg.scale_factor)[0]
        return _linear(x, W, "model.connector.modality_projection.proj.weight").numpy()


# ---------------------------------------------------------------- GGUF writers (llama.cpp layouts)
_store = ref_vit.store  # add a tensor, keep its values as the file holds them


def _vision_keys(w, cfg, block_count):
    w.add_str("general.architecture", "clip")
    w.add_bool("clip.has_vision_encoder", True)
    w.add_u32("clip.vision.image_size", cfg.image_size)
    w.add_u32("clip.vision.patch_size", cfg.patch_size)
    w.add_u32("clip.vision.embedding_length", cfg.d)
    w.add_u32("clip.vision.feed_forward_length", cfg.d_ff)
    w.add_u32("clip.vision.projection_dim", cfg.d_text)
    w.add_u32("clip.vision.attention.head_count", cfg.n_head)
    w.add_f32("clip.vision.attention.layer_norm_epsilon", cfg.eps)
    w.add_u32("clip.vision.block_count", block_count)
    w.add_arr("clip.vision.image_mean", "f32", list(cfg.mean))
    w.add_arr("clip.vision.image_std", "f32", list(cfg.std))


_LAYER_NAMES = {"layer_norm1": "ln1", "layer_norm2": "ln2", "self_attn.q_proj": "attn_q",
                "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.out_proj": "attn_out"}


def _layer_name(rest, swap_ffn):
    """'3.self_attn.q_proj.weight' -> 'v.blk.3.attn_q.weight' (fc1/fc2 -> ffn_up/ffn_down, or swapped)."""
    i, _, tail = rest.partition(".")
    mod, _, par = tail.rpartition(".")
    if mod in ("mlp.fc1", "mlp.fc2"):
        first = mod == "mlp.fc1"
        new = "ffn_down" if first == swap_ffn else "ffn_up"
    else:
        new = _LAYER_NAMES[mod]
    return "v.blk.%s.%s.%s" % (i, new, par)


def write_llava15_mmproj(path, cfg, W, wtype="f16", swap_ffn=True, extra_keys=None):
    """As convert_image_encoder_to_gguf.py --llava-projector (+ llava_surgery) writes LLaVA-1.5's mmproj.
    wtype "f16" is that converter's default (2-D .weight and 4-D in f16, the rest f32), "f32" its --use-f32
    (the 4-D patch embedding stays f16 there; here f32 so the F32 comparison is exact), "q8_0" what a
    quantizer makes of the f16 file (2-D block and projector matrices; embeddings kept)."""
    w, held = mmgguf.GGUFWriter(), {}
    w.add_bool("clip.has_text_encoder", False)
    w.add_bool("clip.has_llava_projector", True)
    w.add_u32("general.file_type", {"f32": 0, "f16": 1, "q8_0": 7}[wtype])
    w.add_str("general.name", "random CLIP ViT-L/14-336 relations")
    w.add_str("general.description", "image encoder for LLaVA")
    w.add_str("clip.projector_type", "mlp")
    _vision_keys(w, cfg, cfg.n_layer - 1)
    w.add_bool("clip.use_gelu", cfg.act == "gelu")
    if cfg.act == "silu":
        w.add_bool("clip.use_silu", True)
    for k, (t, v) in (extra_keys or {}).items():  # t: a value type ("u32", "bool", ...) or "arr:i32"
        w.add_arr(k, t[4:], v) if t.startswith("arr:") else w.add(k, t, v)
    mat_t = {"f32": "f32", "f16": "f16", "q8_0": "q8_0"}[wtype]
    emb_t = "f32" if wtype == "f32" else "f16"
    for n in ("model.mm_projector.0.weight", "model.mm_projector.0.bias", "model.mm_projector.2.weight",
              "model.mm_projector.2.bias"):
        _store(w, held, n.replace("model.mm_projector", "mm"), W[n], mat_t if W[n].ndim == 2 else "f32")
    last = "vision_model.encoder.layers.%d." % (cfg.n_layer - 1)
    for n, a in W.items():
        if not n.startswith("vision_model.") or n.startswith(last) or n.startswith("vision_model.post_layernorm"):
            continue
        if n == "vision_model.embeddings.class_embedding":
            _store(w, held, "v.class_embd", a, "f32")
        elif n == "vision_model.embeddings.patch_embedding.weight":
            _store(w, held, "v.patch_embd.weight", a, emb_t)
        elif n == "vision_model.embeddings.position_embedding.weight":
            _store(w, held, "v.position_embd.weight", a, emb_t)
        elif n.startswith("vision_model.pre_layrnorm."):
            _store(w, held, "v.pre_ln." + n.rsplit(".", 1)[1], a, "f32")
        else:
            _store(w, held, _layer_name(n[len("vision_model.encoder.layers."):], swap_ffn), a,
                   mat_t if a.ndim == 2 else "f32")
    w.write(path)
    return held


def write_smolvlm_mmproj(path, cfg, W, wtype="f16", swap_ffn=False):
    """As convert_hf_to_gguf.py (SmolVLMModel, MmprojModel) writes SmolVLM's mmproj: embeddings f32, 2-D
    weights in wtype, 1-D f32. swap_ffn=True: the names of the first published files (fc1 -> ffn_down)."""
    w, held = mmgguf.GGUFWriter(), {}
    w.add_u32("general.file_type", {"f32": 0, "f16": 1, "q8_0": 7}[wtype])
    w.add_str("general.name", "random SmolVLM-256M relations")
    w.add_str("clip.projector_type", "idefics3")
    _vision_keys(w, cfg, cfg.n_layer)
    w.add_bool("clip.use_gelu", True)
    w.add_u32("clip.vision.projector.scale_factor", cfg.scale_factor)
    w.add_u32("clip.vision.preproc_image_size", 4 * cfg.image_size)
    pre = "model.vision_model."
    for n, a in W.items():
        if n.startswith(pre + "embeddings."):
            new = {"patch_embedding.weight": "v.patch_embd.weight", "patch_embedding.bias": "v.patch_embd.bias",
                   "position_embedding.weight": "v.position_embd.weight"}[n[len(pre + "embeddings."):]]
            _store(w, held, new, a, "f32")
        elif n.startswith(pre + "post_layernorm."):
            _store(w, held, "v.post_ln." + n.rsplit(".", 1)[1], a, "f32")
        elif n.startswith(pre + "encoder.layers."):
            _store(w, held, _layer_name(n[len(pre + "encoder.layers."):], swap_ffn), a, wtype if a.ndim == 2 else "f32")
        elif n == "model.connector.modality_projection.proj.weight":
            _store(w, held, "mm.model.fc.weight", a, wtype)
    w.write(path)
    return held


def hf_from_held(W, held, kind, swap_ffn):
    """The HF-layout weights as the GGUF file holds them (after f16 / q8_0 rounding), for the reference on
    the stored values: the inverse of the writers' name maps."""
    out = dict(W)
    if kind == "llava":
        inv = {"v.class_embd": "vision_model.embeddings.class_embedding",
               "v.patch_embd.weight": "vision_model.embeddings.patch_embedding.weight",
               "v.position_embd.weight": "vision_model.embeddings.position_embedding.weight",
               "v.pre_ln.weight": "vision_model.pre_layrnorm.weight", "v.pre_ln.bias": "vision_model.pre_layrnorm.bias",
               "mm.0.weight": "model.mm_projector.0.weight", "mm.0.bias": "model.mm_projector.0.bias",
               "mm.2.weight": "model.mm_projector.2.weight", "mm.2.bias": "model.mm_projector.2.bias"}
        pre = "vision_model."
    else:
        pre = "model.vision_model."
        inv = {"v.patch_embd.weight": pre + "embeddings.patch_embedding.weight",
               "v.patch_embd.bias": pre + "embeddings.patch_embedding.bias",
               "v.position_embd.weight": pre + "embeddings.position_embedding.weight",
               "v.post_ln.weight": pre + "post_layernorm.weight", "v.post_ln.bias": pre + "post_layernorm.bias",
               "mm.model.fc.weight": "model.connector.modality_projection.proj.weight"}
    rev = {v: k for k, v in _LAYER_NAMES.items()}
    for name, a in held.items():
        if name in inv:
            out[inv[name]] = a
            continue
        _, _, i, mod, par = name.split(".")
        if mod in ("ffn_up", "ffn_down"):
            hf = "mlp.fc1" if (mod == "ffn_up") != swap_ffn else "mlp.fc2"
        else:
            hf = rev[mod]
        out["%sencoder.layers.%s.%s.%s" % (pre, i, hf, par)] = a
    return out
