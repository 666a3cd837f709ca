#!/usr/bin/env python3
"""convert_hf.py - Hugging Face checkpoint folder -> GGUF in llama.cpp's layout (numpy only; torch only to read
a pytorch_model.bin).

    /usr/bin/python3 tools/convert_hf.py HF_DIR [-o TEXT.gguf] [--mmproj MMPROJ.gguf] [--type f32|f16|q8_0|q4_0]

The model family comes from config.json (model_type):
  gpt2                 the text model (-o): llama.cpp "gpt2" names, tokenizer from vocab.json + merges.txt.
  llava                (LLaVA-1.5, llava-hf layout: vision_tower.vision_model.*, multi_modal_projector.linear_1/2)
                       the mmproj (--mmproj) as llama.cpp's LLaVA converter writes it: clip.projector_type "mlp",
                       CLIP tower v.* with the encoder layers after vision_feature_layer dropped (-2: the last
                       one; block_count = the layers that run), no post_layernorm, v.class_embd, v.pre_ln,
                       fc1 -> ffn_up and fc2 -> ffn_down (today's names; the old converter swapped them, mmgpt
                       reads both), mm.0 / mm.2, clip.use_gelu = (hidden_act == "gelu"; CLIP's default
                       quick_gelu -> false), mean/std from preprocessor_config.json.
  idefics3 / smolvlm   (SmolVLM, Idefics3: model.vision_model.*, model.connector.modality_projection.proj) the
                       mmproj as convert_hf_to_gguf.py's SmolVLMModel writes it: clip.projector_type "idefics3",
                       clip.vision.projector.scale_factor (config scale_factor), clip.use_gelu true,
                       clip.vision.preproc_image_size (preprocessor size.longest_edge), embeddings f32, v.post_ln,
                       mm.model.fc.
  llama                (Llama / SmolLM2 text checkpoints) and the text models (-o) of llava (language_model.*,
                       LLaVA-1.5's Vicuna / Llama 2) and idefics3 / smolvlm (model.text_model.*, SmolLM2): as
                       convert_hf_to_gguf.py's LlamaModel writes them: general.architecture "llama", llama.*
                       hparams from (text_)config.json with transformers' LlamaConfig defaults for absent
                       fields, the rows of q_proj / k_proj permuted per head (permute_qk) for llama.cpp's
                       adjacent-pair rotary embedding, output.weight only for an untied lm_head; the
                       vocabulary by tools/hf_vocab.py: SentencePiece ("llama": tokenizer.model's pieces,
                       scores and types) or byte-level BPE ("gpt2" + the pre-tokenizer name, merges from
                       tokenizer.json), special ids, add_bos / add_eos, chat template.
Matrices are written at --type (f16 default; rows not a multiple of 32 fall back to f16 for the q types, as
llama.cpp does), the 4-D patch embedding and position table at f16 for LLaVA (f32 with --type f32), vectors f32.
Checkpoints: model.safetensors, sharded model-*.safetensors with model.safetensors.index.json (read through
mmap: only the tensors converted are read), or pytorch_model.bin.

GPT-2 details: Hugging Face's GPT-2 uses Conv1D layers whose weights are stored [in, out]; GGUF wants y = W x
with W [out, in], so every Conv1D weight is transposed. lm_head.weight is written as output.weight only when
it differs from the token embedding (GPT-2 ties them).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmgguf  # noqa: E402
from gguf_model import add_gpt2_header, add_tokenizer  # noqa: E402

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": None}


def read_safetensors(path, keep=None):
    """{name: float32 array} of the tensors of a .safetensors file (keep(name) -> bool selects; integer buffers
    are skipped). The file is mapped, not read: tensors not kept cost nothing."""
    import mmap
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < 8:
            raise ValueError("%s: too short for safetensors" % path)
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    (n,) = struct.unpack("<Q", data[:8])
    if n > size - 8:
        raise ValueError("%s: header length %d beyond the file" % (path, n))
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or (keep is not None and not keep(name)):
            continue
        dt, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        if not (0 <= b <= e <= size - base):
            raise ValueError("%s: tensor %s lies outside the file" % (path, name))
        raw = memoryview(data)[base + b:base + e]
        if dt == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        elif dt in _ST_DTYPES:
            arr = np.frombuffer(raw, dtype=np.dtype(_ST_DTYPES[dt]).newbyteorder("<")).astype(np.float32)
        else:
            continue   # integer buffers (e.g. attention masks) are not weights
        if arr.size != int(np.prod(shape)):
            raise ValueError("%s: tensor %s holds %d values, shape %s" % (path, name, arr.size, shape))
        out[name] = arr.reshape(shape)
    return out


def write_safetensors(path, tensors):
    """The inverse of read_safetensors, for tests: tensors {name: float32/float16 array, or (dtype, array) with
    dtype "F32" | "F16" | "BF16" (BF16 by truncation)}; u64 header length, JSON header, raw little-endian data."""
    header, blobs, off = {}, [], 0
    for name, v in tensors.items():
        dt, a = v if isinstance(v, tuple) else ({np.dtype(np.float16): "F16"}.get(np.asarray(v).dtype, "F32"), v)
        a = np.ascontiguousarray(a, dtype=np.float32)
        raw = (a.view(np.uint32) >> 16).astype("<u2").tobytes() if dt == "BF16" else \
            a.astype({"F32": "<f4", "F16": "<f2"}[dt]).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_torch_bin(path):
    import torch
    sd = torch.load(path, map_location="cpu")
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    return {k: v.detach().float().numpy() for k, v in sd.items() if hasattr(v, "dtype") and v.is_floating_point()}


def read_checkpoint(d, keep=None):
    """Every float tensor of the checkpoint in folder d (single or sharded safetensors, or pytorch_model.bin)."""
    st = os.path.join(d, "model.safetensors")
    idx = os.path.join(d, "model.safetensors.index.json")
    pt = os.path.join(d, "pytorch_model.bin")
    if os.path.exists(st):
        return read_safetensors(st, keep)
    if os.path.exists(idx):
        with open(idx, encoding="utf-8") as fh:
            shards = sorted(set(json.load(fh)["weight_map"].values()))
        t = {}
        for sh in shards:
            if os.path.basename(sh) != sh:
                raise ValueError("%s: shard name %r is not a file name" % (idx, sh))
            t.update(read_safetensors(os.path.join(d, sh), keep))
        return t
    if os.path.exists(pt):
        t = read_torch_bin(pt)
        return {k: v for k, v in t.items() if keep is None or keep(k)}
    raise FileNotFoundError("%s: neither model.safetensors(.index.json) nor pytorch_model.bin" % d)


def load_checkpoint(d):
    t = read_checkpoint(d)
    # GPT2LMHeadModel prefixes the body with "transformer."; GPT2Model does not
    return {(k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in t.items()}


def convert_gpt2(hf_dir, out, ttype="f32", name=None):
    with open(os.path.join(hf_dir, "config.json"), encoding="utf-8") as fh:
        cfg = json.load(fh)
    d = int(cfg.get("n_embd", cfg.get("hidden_size")))
    n_layer = int(cfg.get("n_layer", cfg.get("num_hidden_layers")))
    n_head = int(cfg.get("n_head", cfg.get("num_attention_heads")))
    n_ctx = int(cfg.get("n_positions", cfg.get("n_ctx", 1024)))
    d_ff = int(cfg.get("n_inner") or 4 * d)
    eps = float(cfg.get("layer_norm_epsilon", 1e-5))
    act = cfg.get("activation_function", "gelu_new")
    if act not in ("gelu_new", "gelu_pytorch_tanh"):
        print("warning: activation_function %r; mmgpt uses GELU (tanh), as GPT-2's gelu_new" % act, file=sys.stderr)
    t = load_checkpoint(hf_dir)

    def get(k, shape):
        if k not in t:
            raise KeyError("%s: missing tensor %s" % (hf_dir, k))
        a = np.asarray(t[k], dtype=np.float32)
        if tuple(a.shape) != tuple(shape):
            raise ValueError("%s: tensor %s has shape %s, expected %s" % (hf_dir, k, a.shape, shape))
        return a

    wte = t.get("wte.weight")
    if wte is None:
        raise KeyError("%s: missing tensor wte.weight" % hf_dir)
    V = wte.shape[0]
    w = mmgguf.GGUFWriter()
    add_gpt2_header(w, name or os.path.basename(os.path.normpath(hf_dir)), n_ctx, d, d_ff, n_layer, n_head, eps, ttype)
    nv = add_tokenizer(w, os.path.join(hf_dir, "vocab.json"), os.path.join(hf_dir, "merges.txt"))
    if nv > V:
        raise ValueError("%s: vocab.json has %d tokens, wte.weight only %d rows" % (hf_dir, nv, V))

    def mat(gname, arr):
        tt = ttype
        if tt in ("q8_0", "q4_0") and arr.shape[-1] % 32:
            tt = "f16"
        w.add_tensor(gname, np.ascontiguousarray(arr, dtype=np.float32), tt)

    def vec(gname, arr):
        w.add_tensor(gname, np.ascontiguousarray(arr, dtype=np.float32), "f32")

    mat("token_embd.weight", get("wte.weight", (V, d)))
    mat("position_embd.weight", get("wpe.weight", (n_ctx, d)))
    for l in range(n_layer):
        h, b = "h.%d." % l, "blk.%d." % l
        vec(b + "attn_norm.weight", get(h + "ln_1.weight", (d,)))
        vec(b + "attn_norm.bias", get(h + "ln_1.bias", (d,)))
        mat(b + "attn_qkv.weight", get(h + "attn.c_attn.weight", (d, 3 * d)).T)       # Conv1D [in, out]
        vec(b + "attn_qkv.bias", get(h + "attn.c_attn.bias", (3 * d,)))
        mat(b + "attn_output.weight", get(h + "attn.c_proj.weight", (d, d)).T)
        vec(b + "attn_output.bias", get(h + "attn.c_proj.bias", (d,)))
        vec(b + "ffn_norm.weight", get(h + "ln_2.weight", (d,)))
        vec(b + "ffn_norm.bias", get(h + "ln_2.bias", (d,)))
        mat(b + "ffn_up.weight", get(h + "mlp.c_fc.weight", (d, d_ff)).T)
        vec(b + "ffn_up.bias", get(h + "mlp.c_fc.bias", (d_ff,)))
        mat(b + "ffn_down.weight", get(h + "mlp.c_proj.weight", (d_ff, d)).T)
        vec(b + "ffn_down.bias", get(h + "mlp.c_proj.bias", (d,)))
    vec("output_norm.weight", get("ln_f.weight", (d,)))
    vec("output_norm.bias", get("ln_f.bias", (d,)))
    lm = t.get("lm_head.weight")
    tied = lm is None or (lm.shape == wte.shape and np.array_equal(lm, wte))
    if not tied:
        mat("output.weight", get("lm_head.weight", (V, d)))
    w.write(out)
    return {"n_vocab": V, "d": d, "n_layer": n_layer, "n_head": n_head, "n_ctx": n_ctx, "tied": tied}


# ---------------------------------------------------------------- vision (mmproj) converters
_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
_LAYER = {"layer_norm1": "ln1", "layer_norm2": "ln2", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
          "self_attn.v_proj": "attn_v", "self_attn.out_proj": "attn_out", "mlp.fc1": "ffn_up", "mlp.fc2": "ffn_down"}


def _json(hf_dir, name, required=True):
    p = os.path.join(hf_dir, name)
    if not os.path.exists(p):
        if required:
            raise FileNotFoundError("%s: %s is missing" % (hf_dir, name))
        return {}
    with open(p, encoding="utf-8") as fh:
        return json.load(fh)


def _int(cfg, key, default=None, lo=1, hi=1 << 20):
    v = cfg.get(key, default)
    if v is None:
        raise KeyError("config: %s is missing" % key)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ValueError("config: %s = %r is not an integer in [%d, %d]" % (key, v, lo, hi))
    return v


class _Writer:
    """A GGUF writer that checks tensor shapes and picks each tensor's type as llama.cpp's converters do."""

    def __init__(self, t, ttype, where):
        self.t, self.ttype, self.where, self.w = t, ttype, where, mmgguf.GGUFWriter()

    def get(self, k, shape):
        if k not in self.t:
            raise KeyError("%s: missing tensor %s" % (self.where, k))
        a = np.asarray(self.t[k], dtype=np.float32)
        if tuple(a.shape) != tuple(shape):
            raise ValueError("%s: tensor %s has shape %s, expected %s" % (self.where, k, a.shape, tuple(shape)))
        return a

    def put(self, name, a, tt):
        if tt in ("q8_0", "q4_0") and (a.ndim != 2 or a.shape[-1] % 32):
            tt = "f16"
        self.w.add_tensor(name, np.ascontiguousarray(a, dtype=np.float32), tt)

    def mat(self, name, a):
        self.put(name, a, self.ttype)

    def vec(self, name, a):
        self.put(name, a, "f32")


def _header(W, hf_dir, name, ttype, projector):
    W.w.add_str("general.architecture", "clip")
    W.w.add_str("general.name", name or os.path.basename(os.path.normpath(hf_dir)))
    W.w.add_u32("general.file_type", {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7}[ttype])
    W.w.add_str("clip.projector_type", projector)


def _vision_hparams(w, vc, pp, d_text, block_count, default_eps):
    S, P = _int(vc, "image_size", lo=1, hi=4096), _int(vc, "patch_size", lo=1, hi=4096)
    if S % P:
        raise ValueError("config: vision image_size %d is not a multiple of patch_size %d" % (S, P))
    d, f, H = _int(vc, "hidden_size"), _int(vc, "intermediate_size"), _int(vc, "num_attention_heads", lo=1, hi=4096)
    if d % H:
        raise ValueError("config: vision hidden_size %d is not a multiple of num_attention_heads %d" % (d, H))
    w.add_bool("clip.has_vision_encoder", True)
    w.add_u32("clip.vision.image_size", S)
    w.add_u32("clip.vision.patch_size", P)
    w.add_u32("clip.vision.embedding_length", d)
    w.add_u32("clip.vision.feed_forward_length", f)
    w.add_u32("clip.vision.block_count", block_count)
    w.add_u32("clip.vision.attention.head_count", H)
    w.add_f32("clip.vision.attention.layer_norm_epsilon", float(vc.get("layer_norm_eps", default_eps)))
    w.add_u32("clip.vision.projection_dim", d_text)
    mean, std = pp.get("image_mean", _CLIP_MEAN), pp.get("image_std", _CLIP_STD)
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ValueError("preprocessor_config: image_mean / image_std must be 3 values (std > 0)")
    w.add_arr("clip.vision.image_mean", "f32", [float(x) for x in mean])
    w.add_arr("clip.vision.image_std", "f32", [float(x) for x in std])
    return S, P, d, f


def _vision_layers(W, pre, d, f, n):
    """Encoder layers 0 .. n-1 of an HF CLIP / SigLIP tower (pre = its prefix) -> v.blk.N.*"""
    for i in range(n):
        for hf, gg in _LAYER.items():
            src, dst = "%s.encoder.layers.%d.%s." % (pre, i, hf), "v.blk.%d.%s." % (i, gg)
            if hf.startswith("layer_norm"):
                W.vec(dst + "weight", W.get(src + "weight", (d,)))
                W.vec(dst + "bias", W.get(src + "bias", (d,)))
            else:
                o, k = {"mlp.fc1": (f, d), "mlp.fc2": (d, f)}.get(hf, (d, d))
                W.mat(dst + "weight", W.get(src + "weight", (o, k)))
                W.vec(dst + "bias", W.get(src + "bias", (o,)))


def _strip_model(k):
    """Newer transformers save model.vision_tower.* / model.multi_modal_projector.*: one naming for both."""
    return k[len("model."):] if k.startswith(("model.vision_tower.", "model.multi_modal_projector.")) else k


def convert_llava_mmproj(hf_dir, out, ttype="f16", name=None):
    cfg, pp = _json(hf_dir, "config.json"), _json(hf_dir, "preprocessor_config.json", required=False)
    vc, tc = cfg.get("vision_config", {}), cfg.get("text_config", {})
    n_layer = _int(vc, "num_hidden_layers", 24, lo=1, hi=1024)
    vfl = cfg.get("vision_feature_layer", -2)
    if not isinstance(vfl, int) or isinstance(vfl, bool):
        raise ValueError("config: vision_feature_layer %r: one layer index is supported (not a list)" % (vfl,))
    run = vfl if vfl >= 0 else n_layer + 1 + vfl
    if not 0 <= run <= n_layer:
        raise ValueError("config: vision_feature_layer %d outside [-%d, %d]" % (vfl, n_layer + 1, n_layer))
    if cfg.get("vision_feature_select_strategy", "default") != "default":
        raise ValueError("config: vision_feature_select_strategy %r: only \"default\" (class token dropped) is "
                         "what llama.cpp's mlp projector does" % cfg.get("vision_feature_select_strategy"))
    act = vc.get("hidden_act", "quick_gelu")
    if act not in ("quick_gelu", "gelu"):
        raise ValueError("config: vision hidden_act %r (quick_gelu or gelu)" % act)
    t = {_strip_model(k): v for k, v in read_checkpoint(hf_dir, lambda k: "vision_tower" in k or
                                                           "multi_modal_projector" in k).items()}
    W = _Writer(t, ttype, hf_dir)
    d_text = _int(tc, "hidden_size", 4096)
    _header(W, hf_dir, name, ttype, "mlp")
    W.w.add_str("general.description", "image encoder for LLaVA")
    W.w.add_bool("clip.has_text_encoder", False)
    W.w.add_bool("clip.has_llava_projector", True)
    S, P, d, f = _vision_hparams(W.w, vc, pp, d_text, run, 1e-5)
    W.w.add_bool("clip.use_gelu", act == "gelu")
    pre, emb_t = "vision_tower.vision_model", "f32" if ttype == "f32" else "f16"
    n_pos = (S // P) ** 2 + 1
    W.vec("v.class_embd", W.get(pre + ".embeddings.class_embedding", (d,)))
    W.put("v.patch_embd.weight", W.get(pre + ".embeddings.patch_embedding.weight", (d, 3, P, P)), emb_t)
    W.put("v.position_embd.weight", W.get(pre + ".embeddings.position_embedding.weight", (n_pos, d)), emb_t)
    W.vec("v.pre_ln.weight", W.get(pre + ".pre_layrnorm.weight", (d,)))
    W.vec("v.pre_ln.bias", W.get(pre + ".pre_layrnorm.bias", (d,)))
    _vision_layers(W, pre, d, f, run)
    W.mat("mm.0.weight", W.get("multi_modal_projector.linear_1.weight", (d_text, d)))
    W.vec("mm.0.bias", W.get("multi_modal_projector.linear_1.bias", (d_text,)))
    W.mat("mm.2.weight", W.get("multi_modal_projector.linear_2.weight", (d_text, d_text)))
    W.vec("mm.2.bias", W.get("multi_modal_projector.linear_2.bias", (d_text,)))
    W.w.write(out)
    return {"tower": "CLIP", "blocks": run, "of": n_layer, "d": d, "image_size": S, "patch": P, "d_text": d_text}


def convert_smolvlm_mmproj(hf_dir, out, ttype="f16", name=None):
    cfg, pp = _json(hf_dir, "config.json"), _json(hf_dir, "preprocessor_config.json", required=False)
    vc, tc = dict(cfg.get("vision_config", {})), cfg.get("text_config", {})
    # SmolVLM2's config.json leaves some SigLIP sizes at their defaults (as convert_hf_to_gguf.py fills them)
    vc.setdefault("hidden_size", 1152)
    vc.setdefault("num_attention_heads", 16)
    vc.setdefault("intermediate_size", 3072)
    n_layer = _int(vc, "num_hidden_layers", lo=1, hi=1024)
    sf = _int(cfg, "scale_factor", 2, lo=1, hi=8)
    act = vc.get("hidden_act", "gelu_pytorch_tanh")
    if act != "gelu_pytorch_tanh":
        raise ValueError("config: vision hidden_act %r (SigLIP: gelu_pytorch_tanh)" % act)
    t = read_checkpoint(hf_dir, lambda k: "vision_model" in k or "connector" in k)
    W = _Writer(t, ttype, hf_dir)
    d_text = _int(tc, "hidden_size")
    _header(W, hf_dir, name, ttype, "idefics3")
    S, P, d, f = _vision_hparams(W.w, vc, pp, d_text, n_layer, 1e-6)
    if (S // P) % sf:
        raise ValueError("config: scale_factor %d does not divide the %d x %d patch grid" % (sf, S // P, S // P))
    W.w.add_bool("clip.use_gelu", True)
    W.w.add_u32("clip.vision.projector.scale_factor", sf)
    W.w.add_u32("clip.vision.preproc_image_size", _int(pp.get("size", {}), "longest_edge", S, lo=1, hi=1 << 16))
    pre = "model.vision_model"
    W.vec("v.patch_embd.weight", W.get(pre + ".embeddings.patch_embedding.weight", (d, 3, P, P)))
    W.vec("v.patch_embd.bias", W.get(pre + ".embeddings.patch_embedding.bias", (d,)))
    W.vec("v.position_embd.weight", W.get(pre + ".embeddings.position_embedding.weight", ((S // P) ** 2, d)))
    _vision_layers(W, pre, d, f, n_layer)
    W.vec("v.post_ln.weight", W.get(pre + ".post_layernorm.weight", (d,)))
    W.vec("v.post_ln.bias", W.get(pre + ".post_layernorm.bias", (d,)))
    W.mat("mm.model.fc.weight", W.get("model.connector.modality_projection.proj.weight", (d_text, d * sf * sf)))
    W.w.write(out)
    return {"tower": "SigLIP", "blocks": n_layer, "d": d, "image_size": S, "patch": P, "scale_factor": sf,
            "d_text": d_text}


# ---------------------------------------------------------------- Llama-family text models
_LLAMA_DEFAULTS = {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                   "num_attention_heads": 32, "max_position_embeddings": 2048, "rms_norm_eps": 1e-6,
                   "rope_theta": 10000.0, "vocab_size": 32000}   # transformers' LlamaConfig defaults
_LLAMA_LAYER = [("input_layernorm", "attn_norm", 0), ("self_attn.q_proj", "attn_q", 1),
                ("self_attn.k_proj", "attn_k", 2), ("self_attn.v_proj", "attn_v", 2),
                ("self_attn.o_proj", "attn_output", 3), ("post_attention_layernorm", "ffn_norm", 0),
                ("mlp.gate_proj", "ffn_gate", 4), ("mlp.up_proj", "ffn_up", 4), ("mlp.down_proj", "ffn_down", 5)]
_TEXT_PREFIXES = ("language_model.model.", "model.language_model.", "model.text_model.", "model.")


def permute_qk(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute: Hugging Face's q/k rows put the two halves of each head's
    rotary pairs apart (rotate_half: i and i + dh/2); llama.cpp's "normal" rotation pairs adjacent rows
    (2i, 2i + 1). Per head: [2, dh/2, cols] -> [dh/2, 2, cols]."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _text_name(k):
    """a checkpoint name -> the plain LlamaForCausalLM name (model.*, lm_head.weight), or None (not text)"""
    if k in ("language_model.lm_head.weight", "lm_head.weight"):
        return "lm_head.weight"
    for p in _TEXT_PREFIXES:
        if k.startswith(p):
            rest = k[len(p):]
            if rest.startswith(("vision_model.", "vision_tower.", "connector.", "multi_modal_projector.")):
                return None
            return "model." + rest
    return None


def convert_llama_text(hf_dir, out, ttype="f16", name=None):
    """The Llama-family text model of a LLaVA-1.5 (Vicuna / Llama 2: SentencePiece vocabulary), SmolVLM /
    Idefics3 (SmolLM2: byte-level BPE) or plain Llama / SmolLM2 checkpoint -> GGUF arch "llama"."""
    import hf_vocab
    cfg = _json(hf_dir, "config.json")
    tc = cfg.get("text_config", {}) if cfg.get("model_type") != "llama" else cfg
    if tc.get("model_type", "llama") != "llama":
        raise ValueError("config: text model_type %r (llama is converted)" % tc.get("model_type"))
    hp = dict(_LLAMA_DEFAULTS, **{k: v for k, v in tc.items() if v is not None})
    d, ff, n_layer = _int(hp, "hidden_size"), _int(hp, "intermediate_size"), _int(hp, "num_hidden_layers", hi=4096)
    H = _int(hp, "num_attention_heads", hi=4096)
    Hkv = _int(hp, "num_key_value_heads", H, hi=4096)
    dh = _int(hp, "head_dim", d // H if d % H == 0 else None)
    if H % Hkv or dh % 2:
        raise ValueError("config: %d heads over %d KV heads of width %d (the heads must share KV heads evenly, "
                         "the width be even)" % (H, Hkv, dh))
    V, n_ctx = _int(hp, "vocab_size", hi=1 << 24), _int(hp, "max_position_embeddings", hi=1 << 24)
    eps, theta = float(hp["rms_norm_eps"]), float(hp["rope_theta"])
    if hp.get("hidden_act", "silu") != "silu":
        raise ValueError("config: text hidden_act %r (Llama: silu)" % hp.get("hidden_act"))
    if hp.get("attention_bias") or hp.get("mlp_bias"):
        raise ValueError("config: attention_bias / mlp_bias: a Llama with biases is not converted")
    rs = hp.get("rope_scaling")
    if rs and (rs.get("rope_type") or rs.get("type")) not in ("linear", "default"):
        raise ValueError("config: rope_scaling %r (linear is converted)" % (rs,))
    kind = "gpt2" if not os.path.exists(os.path.join(hf_dir, "tokenizer.model")) and \
        not (_json(hf_dir, "tokenizer.json", required=False).get("model") or {}).get("byte_fallback") else "llama"
    voc = hf_vocab.read_vocab(hf_dir, cfg, V, kind)
    t = {}
    for k, v in read_checkpoint(hf_dir, lambda k: _text_name(k) is not None).items():
        t[_text_name(k)] = v
    W = _Writer(t, ttype, hf_dir)
    w = W.w
    w.add_str("general.architecture", "llama")
    w.add_str("general.name", name or os.path.basename(os.path.normpath(hf_dir)))
    u32 = [("block_count", n_layer), ("context_length", n_ctx), ("embedding_length", d), ("feed_forward_length", ff),
           ("attention.head_count", H), ("attention.head_count_kv", Hkv)]
    if "head_dim" in tc:
        u32 += [("attention.key_length", dh), ("attention.value_length", dh)]
    for k, v in u32 + [("vocab_size", V), ("rope.dimension_count", dh)]:
        w.add_u32("llama." + k, v)
    w.add_f32("llama.rope.freq_base", theta)
    w.add_f32("llama.attention.layer_norm_rms_epsilon", eps)
    w.add_u32("general.file_type", {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7}[ttype])
    if rs and (rs.get("rope_type") or rs.get("type")) == "linear":
        w.add_str("llama.rope.scaling.type", "linear")
        w.add_f32("llama.rope.scaling.factor", float(rs["factor"]))
    if len(voc["tokens"]) != V:
        raise ValueError("%s: the tokenizer has %d tokens, the model's vocab_size is %d" % (hf_dir, len(voc["tokens"]), V))
    hf_vocab.add_to_gguf(w, voc)
    W.mat("token_embd.weight", W.get("model.embed_tokens.weight", (V, d)))
    shapes = [(d,), (H * dh, d), (Hkv * dh, d), (d, H * dh), (ff, d), (d, ff)]
    for i in range(n_layer):
        for hf, gg, s in _LLAMA_LAYER:
            a = W.get("model.layers.%d.%s.weight" % (i, hf), shapes[s])
            if hf.endswith(("q_proj", "k_proj")):
                a = permute_qk(a, H if hf.endswith("q_proj") else Hkv)
            (W.vec if s == 0 else W.mat)("blk.%d.%s.weight" % (i, gg), a)
    W.vec("output_norm.weight", W.get("model.norm.weight", (d,)))
    if "lm_head.weight" in t and not hp.get("tie_word_embeddings", False):
        W.mat("output.weight", W.get("lm_head.weight", (V, d)))
    w.write(out)
    return {"text": "llama", "tokenizer": "%s/%s" % (voc["model"], voc["pre"]), "d": d, "layers": n_layer,
            "heads": "%d/%d" % (H, Hkv), "n_vocab": V}


def main(argv=None):
    ap = argparse.ArgumentParser(description="Hugging Face checkpoint -> GGUF in llama.cpp's layout "
                                 "(GPT-2 and Llama text; LLaVA-1.5 and SmolVLM text + mmproj)")
    ap.add_argument("hf_dir")
    ap.add_argument("-o", "--outfile", help="the text model (GPT-2, Llama, the text side of LLaVA / SmolVLM)")
    ap.add_argument("--mmproj", help="the vision encoder + projector (LLaVA-1.5, SmolVLM / Idefics3)")
    ap.add_argument("--type", default="f16", choices=["f32", "f16", "q8_0", "q4_0"])
    ap.add_argument("--name", default=None)
    a = ap.parse_args(argv)
    try:
        mt = _json(a.hf_dir, "config.json").get("model_type")
        done = []
        if mt == "gpt2":
            if a.mmproj:
                raise ValueError("a GPT-2 checkpoint has no vision encoder (--mmproj)")
            if not a.outfile:
                raise ValueError("give the output file (-o TEXT.gguf)")
            done.append((a.outfile, convert_gpt2(a.hf_dir, a.outfile, a.type, a.name)))
        elif mt in ("llava", "idefics3", "smolvlm", "llama"):
            if not a.outfile and not a.mmproj:
                raise ValueError("give the output file(s): -o TEXT.gguf and / or --mmproj MMPROJ.gguf")
            if a.mmproj and mt == "llama":
                raise ValueError("a Llama checkpoint has no vision encoder (--mmproj)")
            if a.outfile:
                done.append((a.outfile, convert_llama_text(a.hf_dir, a.outfile, a.type, a.name)))
            if a.mmproj:
                fn = convert_llava_mmproj if mt == "llava" else convert_smolvlm_mmproj
                done.append((a.mmproj, fn(a.hf_dir, a.mmproj, a.type, a.name)))
        else:
            raise ValueError("config.json model_type %r: gpt2, llama, llava, idefics3 and smolvlm are converted"
                             % (mt,))
    except (KeyError, ValueError, FileNotFoundError, OSError) as e:
        print("convert_hf: %s" % (e.args[0] if e.args else e), file=sys.stderr)
        return 1
    for path, info in done:
        print("wrote %s: %s, %s" % (path, a.type, ", ".join("%s %s" % kv for kv in info.items())), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
