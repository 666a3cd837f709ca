#!/usr/bin/env python3
"""make_random_gpt2.py - build a random-weight GPT-2 GGUF (llama.cpp "gpt2" names) for tests and benchmarks.

    tools/make_random_gpt2.py OUT.gguf [--vocab 300] [--ctx 64] [--d 64] [--layers 2] [--heads 4]
        [--ff 4*d] [--type f32|f16|q8_0|q4_0] [--embd-type TYPE] [--untied] [--seed 0]
        [--tokenizer DIR]   # DIR with vocab.json + merges.txt: adds tokenizer.ggml.* (vocab = its size)
        [--add-bos]         # tokenizer.ggml.add_bos_token = true

Also importable: make_model(path, ...) returns the float32 tensors it quantized (dict name -> array).
Matrices (2-D) are stored at --type (embeddings at --embd-type, default = --type); vectors stay f32.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmgguf  # noqa: E402
from gguf_model import add_gpt2_header, add_tokenizer  # noqa: E402,F401 (add_tokenizer: also for importers)


def random_params(V, n_ctx, d, n_layer, d_ff, seed=0, tied=True):
    rng = np.random.default_rng(seed)

    def f(*shape, s=0.02):
        return (rng.standard_normal(shape) * s).astype(np.float32)

    t = {
        "token_embd.weight": f(V, d, s=0.5),
        "position_embd.weight": f(n_ctx, d, s=0.2),
        "output_norm.weight": (1.0 + f(d, s=0.1)).astype(np.float32),
        "output_norm.bias": f(d, s=0.1),
    }
    if not tied:
        t["output.weight"] = f(V, d, s=0.5)
    for l in range(n_layer):
        b = "blk.%d." % l
        t[b + "attn_norm.weight"] = (1.0 + f(d, s=0.1)).astype(np.float32)
        t[b + "attn_norm.bias"] = f(d, s=0.1)
        t[b + "attn_qkv.weight"] = f(3 * d, d, s=1.0 / np.sqrt(d))
        t[b + "attn_qkv.bias"] = f(3 * d, s=0.1)
        t[b + "attn_output.weight"] = f(d, d, s=1.0 / np.sqrt(d))
        t[b + "attn_output.bias"] = f(d, s=0.1)
        t[b + "ffn_norm.weight"] = (1.0 + f(d, s=0.1)).astype(np.float32)
        t[b + "ffn_norm.bias"] = f(d, s=0.1)
        t[b + "ffn_up.weight"] = f(d_ff, d, s=1.0 / np.sqrt(d))
        t[b + "ffn_up.bias"] = f(d_ff, s=0.1)
        t[b + "ffn_down.weight"] = f(d, d_ff, s=1.0 / np.sqrt(d_ff))
        t[b + "ffn_down.bias"] = f(d, s=0.1)
    return t


def write_gguf(path, tensors, n_ctx, d, n_layer, n_head, d_ff, ttype="f32", embd_type=None, eps=1e-5,
               tokenizer_dir=None, name="random-gpt2", add_bos=False):
    """Write tensors (float32 arrays, GGUF names) as a gpt2 GGUF. Matrices at ttype, vectors f32."""
    w = mmgguf.GGUFWriter()
    add_gpt2_header(w, name, n_ctx, d, d_ff, n_layer, n_head, eps, ttype)
    if tokenizer_dir:
        add_tokenizer(w, os.path.join(tokenizer_dir, "vocab.json"), os.path.join(tokenizer_dir, "merges.txt"), add_bos)
    embd_type = embd_type or ttype
    for name_, arr in tensors.items():
        if arr.ndim == 1:
            tt = "f32"
        elif name_ in ("token_embd.weight", "position_embd.weight", "output.weight"):
            tt = embd_type
        else:
            tt = ttype
        if tt in ("q8_0", "q4_0") and arr.shape[-1] % 32:
            tt = "f16"   # ggml falls back the same way for rows that do not fill blocks
        w.add_tensor(name_, arr, tt)
    w.write(path)


def make_model(path, V=300, n_ctx=64, d=64, n_layer=2, n_head=4, d_ff=None, ttype="f32", embd_type=None,
               tied=True, seed=0, tokenizer_dir=None, add_bos=False):
    d_ff = d_ff or 4 * d
    if tokenizer_dir:
        with open(os.path.join(tokenizer_dir, "vocab.json"), encoding="utf-8") as fh:
            V = len(json.load(fh))
    t = random_params(V, n_ctx, d, n_layer, d_ff, seed=seed, tied=tied)
    write_gguf(path, t, n_ctx, d, n_layer, n_head, d_ff, ttype, embd_type, tokenizer_dir=tokenizer_dir,
               add_bos=add_bos)
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--vocab", type=int, default=300)
    ap.add_argument("--ctx", type=int, default=64)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ff", type=int, default=0)
    ap.add_argument("--type", default="f32", choices=["f32", "f16", "q8_0", "q4_0"])
    ap.add_argument("--embd-type", default=None, choices=["f32", "f16", "q8_0", "q4_0"])
    ap.add_argument("--untied", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokenizer", default=None, help="folder with vocab.json + merges.txt")
    ap.add_argument("--add-bos", action="store_true", help="set tokenizer.ggml.add_bos_token")
    a = ap.parse_args()
    if a.d % a.heads:
        ap.error("--d must be a multiple of --heads")
    make_model(a.out, a.vocab, a.ctx, a.d, a.layers, a.heads, a.ff or 4 * a.d, a.type, a.embd_type,
               not a.untied, a.seed, a.tokenizer, a.add_bos)


if __name__ == "__main__":
    main()
