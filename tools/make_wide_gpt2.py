#!/usr/bin/env python3
"""make_wide_gpt2.py - a random-weight gpt2 GGUF too large to build in memory (the GPT-3 175B width), written
tensor by tensor, rows generated in chunks, so that memory stays at one chunk whatever the size.

    tools/make_wide_gpt2.py OUT.gguf [--d 12288] [--heads 96] [--layers 3] [--ff 4*d] [--vocab 512]
        [--ctx 2048] [--type f16|f32] [--seed 0]
    mmgpt quantize OUT.gguf OUT-q4_0.gguf q4_0        # then the weight type of the scale run

The weights are those of make_random_gpt2.py (Gaussian, std 1/sqrt(in features) for the block matrices,
norms 1 + 0.1 N, biases 0.1 N); matrices at --type (F16 default: half the disk of F32), vectors F32.
The header is written first from the tensor shapes (GGUF v3, alignment 32, mmgguf's encoding), then each
tensor's data. Used for docs/SCALING.md's per-layer timings; keep its output out of the repository.
"""
import argparse
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmgguf  # noqa: E402


def tensors(V, C, d, L, ff):
    """(name, shape (numpy order: rows, cols), std, mean) of a gpt2 model, in file order."""
    t = [("token_embd.weight", (V, d), 0.5, 0.0), ("position_embd.weight", (C, d), 0.2, 0.0),
         ("output_norm.weight", (d,), 0.1, 1.0), ("output_norm.bias", (d,), 0.1, 0.0)]
    for l in range(L):
        b = "blk.%d." % l
        t += [(b + "attn_norm.weight", (d,), 0.1, 1.0), (b + "attn_norm.bias", (d,), 0.1, 0.0),
              (b + "attn_qkv.weight", (3 * d, d), d ** -0.5, 0.0), (b + "attn_qkv.bias", (3 * d,), 0.1, 0.0),
              (b + "attn_output.weight", (d, d), d ** -0.5, 0.0), (b + "attn_output.bias", (d,), 0.1, 0.0),
              (b + "ffn_norm.weight", (d,), 0.1, 1.0), (b + "ffn_norm.bias", (d,), 0.1, 0.0),
              (b + "ffn_up.weight", (ff, d), d ** -0.5, 0.0), (b + "ffn_up.bias", (ff,), 0.1, 0.0),
              (b + "ffn_down.weight", (d, ff), ff ** -0.5, 0.0), (b + "ffn_down.bias", (d,), 0.1, 0.0)]
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--d", type=int, default=12288)
    ap.add_argument("--heads", type=int, default=96)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--ff", type=int, default=0)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--type", default="f16", choices=["f16", "f32"])
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.d % a.heads:
        ap.error("--d must be a multiple of --heads")
    ff = a.ff or 4 * a.d
    ts = tensors(a.vocab, a.ctx, a.d, a.layers, ff)
    kv = [("general.architecture", "str", "gpt2"), ("general.name", "str", "random-wide-gpt2"),
          ("gpt2.context_length", "u32", a.ctx), ("gpt2.embedding_length", "u32", a.d),
          ("gpt2.feed_forward_length", "u32", ff), ("gpt2.block_count", "u32", a.layers),
          ("gpt2.attention.head_count", "u32", a.heads), ("gpt2.attention.layer_norm_epsilon", "f32", 1e-5),
          ("general.file_type", "u32", 1 if a.type == "f16" else 0)]
    align = mmgguf.DEFAULT_ALIGNMENT
    head = bytearray(mmgguf.GGUF_MAGIC + struct.pack("<I", mmgguf.GGUF_VERSION) + struct.pack("<QQ", len(ts), len(kv)))
    for k, t, v in kv:
        head += mmgguf._enc_str(k) + struct.pack("<I", mmgguf.VT[t]) + mmgguf._enc_value(t, v)
    off, layout = 0, []
    for name, shape, std, mean in ts:
        tt = a.type if len(shape) == 2 else "f32"
        n = int(np.prod(shape))
        nbytes = n * (2 if tt == "f16" else 4)
        ne = tuple(reversed(shape))
        head += mmgguf._enc_str(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
        head += struct.pack("<IQ", mmgguf.type_id(tt), off)
        layout.append((tt, nbytes))
        off = mmgguf._pad(off + nbytes, align)
    head += b"\0" * (mmgguf._pad(len(head), align) - len(head))
    rng = np.random.default_rng(a.seed)
    with open(a.out, "wb") as f:
        f.write(head)
        for (name, shape, std, mean), (tt, nbytes) in zip(ts, layout):
            rows = shape[0] if len(shape) == 2 else 1
            cols = shape[-1]
            chunk = max(1, (1 << 24) // cols)   # ~16 M values per chunk
            for r0 in range(0, rows, chunk):
                r1 = min(rows, r0 + chunk)
                x = rng.standard_normal((r1 - r0, cols), dtype=np.float32) * np.float32(std) + np.float32(mean)
                f.write(x.astype(np.float16 if tt == "f16" else np.float32).tobytes())
            f.write(b"\0" * (mmgguf._pad(nbytes, align) - nbytes))
        size = f.tell()
    print("%s: %d layers, d %d, %.2f GB" % (a.out, a.layers, a.d, size / 1e9), file=sys.stderr)


if __name__ == "__main__":
    main()
