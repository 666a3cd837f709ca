#!/usr/bin/env python3
"""convert_hf_gpt2.py - Hugging Face GPT-2 checkpoint folder -> GGUF (llama.cpp "gpt2" names).

    /usr/bin/python3 tools/convert_hf_gpt2.py HF_DIR OUT.gguf [--type f32|f16|q8_0|q4_0] [--name NAME]

HF_DIR holds config.json, model.safetensors or pytorch_model.bin, and vocab.json + merges.txt.
Needs only numpy (and torch for pytorch_model.bin). safetensors files are read directly (8-byte
little-endian header length, JSON header, raw tensor data). Hugging Face's GPT-2 uses Conv1D layers whose
weights are stored [in, out]; GGUF wants y = W x with W [out, in], so every Conv1D weight is transposed.
Matrices are written at --type (rows not a multiple of 32 fall back to f16 for the q types, as llama.cpp
does); vectors (biases, norms) stay f32. lm_head.weight is written as output.weight only when it differs
from the token embedding (GPT-2 ties them).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmgguf  # noqa: E402
from make_random_gpt2 import add_tokenizer  # noqa: E402

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": None}


def read_safetensors(path):
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 8:
        raise ValueError("%s: too short for safetensors" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError("%s: header length %d beyond the file" % (path, n))
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        raw = data[base + b:base + e]
        if dt == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        elif dt in _ST_DTYPES:
            arr = np.frombuffer(raw, dtype=np.dtype(_ST_DTYPES[dt]).newbyteorder("<")).astype(np.float32)
        else:
            continue   # integer buffers (e.g. attention masks) are not weights
        out[name] = arr.reshape(shape)
    return out


def read_torch_bin(path):
    import torch
    sd = torch.load(path, map_location="cpu")
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    return {k: v.detach().float().numpy() for k, v in sd.items() if hasattr(v, "dtype") and v.is_floating_point()}


def load_checkpoint(d):
    st = os.path.join(d, "model.safetensors")
    pt = os.path.join(d, "pytorch_model.bin")
    if os.path.exists(st):
        t = read_safetensors(st)
    elif os.path.exists(pt):
        t = read_torch_bin(pt)
    else:
        raise FileNotFoundError("%s: neither model.safetensors nor pytorch_model.bin" % d)
    # GPT2LMHeadModel prefixes the body with "transformer."; GPT2Model does not
    return {(k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in t.items()}


def convert(hf_dir, out, ttype="f32", name=None):
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
    w.add_str("general.architecture", "gpt2")
    w.add_str("general.name", name or os.path.basename(os.path.normpath(hf_dir)))
    w.add_u32("gpt2.context_length", n_ctx)
    w.add_u32("gpt2.embedding_length", d)
    w.add_u32("gpt2.feed_forward_length", d_ff)
    w.add_u32("gpt2.block_count", n_layer)
    w.add_u32("gpt2.attention.head_count", n_head)
    w.add_f32("gpt2.attention.layer_norm_epsilon", eps)
    w.add_u32("general.file_type", {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7}[ttype])
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


def main():
    ap = argparse.ArgumentParser(description="Hugging Face GPT-2 checkpoint -> GGUF (llama.cpp gpt2 names)")
    ap.add_argument("hf_dir")
    ap.add_argument("out")
    ap.add_argument("--type", default="f16", choices=["f32", "f16", "q8_0", "q4_0"])
    ap.add_argument("--name", default=None)
    a = ap.parse_args()
    try:
        info = convert(a.hf_dir, a.out, a.type, a.name)
    except (KeyError, ValueError, FileNotFoundError) as e:
        print("convert_hf_gpt2: %s" % (e.args[0] if e.args else e), file=sys.stderr)
        return 1
    print("wrote %s: %s, %s" % (a.out, a.type, ", ".join("%s %s" % kv for kv in info.items())), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
