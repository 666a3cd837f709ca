"""gguf_interop: the C writer/reader against tools/mmgguf.py (an independent Python implementation).

  1. The same "every type" content (all 13 value types, arrays of each, nested arrays, 7 tensor types)
     written by C (test_gguf_rw write) and by Python must be byte-identical, at alignment 32 and 64.
  2. Python reads the C file and finds every value and tensor byte it expects.
  3. A gpt2-named model with F32/F16/Q8_0/Q4_0 tensors written by Python is read by the C reader and
     re-written by the C writer: byte-identical (so every tensor byte and kv went through unchanged);
     a version-2 file re-writes to the same bytes with version 3.
Tolerance: none (bytes must match exactly).   usage: test_interop.py PATH/TO/gguf_rw
"""
import os
import struct
import subprocess
import sys

import numpy as np

SRC = os.environ.get("MMGPT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools"))
import mmgguf  # noqa: E402

RW = sys.argv[1]
TMP = os.environ.get("MMGPT_TEST_TMP", "/tmp")
fails = []


def check(cond, msg):
    if not cond:
        fails.append(msg)
        print("FAIL:", msg)


# byte k of tensor t = (7k + 13t + 1) & 255 - the same pattern as test_gguf_rw.c
TENSORS = [("token_embd.weight", "f32", (8, 5)), ("blk.0.attn_qkv.weight", "f16", (32, 3)),
           ("blk.0.ffn_up.weight", "q8_0", (64, 2)), ("blk.0.ffn_down.weight", "q4_0", (32, 3)),
           ("other.q4_k", "q4_k", (256,)), ("other.bf16", "bf16", (4, 2, 2, 3)), ("other.i32", "i32", (3,))]


def pattern(n, t):
    k = np.arange(n, dtype=np.int64)
    return ((7 * k + 13 * t + 1) & 255).astype(np.uint8).tobytes()


def every_type(align):
    w = mmgguf.GGUFWriter(alignment=align)
    w.add_str("general.architecture", "gpt2")
    w.add_u8("t.u8", 200); w.add_i8("t.i8", -100); w.add_u16("t.u16", 60000); w.add_i16("t.i16", -30000)
    w.add_u32("t.u32", 4000000000); w.add_i32("t.i32", -2000000000); w.add_f32("t.f32", 0.1)
    w.add_bool("t.bool", True); w.add_str("t.str", "hello, gguf \u2713"); w.add_u64("t.u64", 2**63 + 5)
    w.add_i64("t.i64", -2**62); w.add_f64("t.f64", 0.1)
    w.add_arr("t.arr.u8", "u8", [1, 2, 255]); w.add_arr("t.arr.i8", "i8", [-1, 0, 1])
    w.add_arr("t.arr.u16", "u16", [0, 65535]); w.add_arr("t.arr.i16", "i16", [-32768, 32767])
    w.add_arr("t.arr.u32", "u32", [7, 4294967295]); w.add_arr("t.arr.i32", "i32", [-1, 2, -3])
    w.add_arr("t.arr.f32", "f32", [0.5, -1.25]); w.add_arr("t.arr.bool", "bool", [True, False, True])
    w.add_arr("t.arr.u64", "u64", [2**64 - 1, 0]); w.add_arr("t.arr.i64", "i64", [-2**63, 2**63 - 1])
    w.add_arr("t.arr.f64", "f64", [1e300, -0.0]); w.add_arr("t.arr.str", "str", ["a", "", "ccc"])
    w.add_arr("t.arr.empty", "i32", [])
    w.add_arr("t.arr.nested", "arr", [("i32", [1, 2, 3]), ("str", ["x", "yz"]), ("arr", [("u8", [7, 8])]), ("f32", [])])
    w.add_arr("t.tokens", "str", ["tok%d" % i for i in range(100)])
    for t, (name, tt, ne) in enumerate(TENSORS):
        n = int(np.prod(ne))
        w.add_tensor_raw(name, tt, ne, pattern(mmgguf.row_bytes(tt, ne[0]) * (n // ne[0]), t))
    return w


def run(*args):
    p = subprocess.run([RW] + list(args), capture_output=True, text=True)
    check(p.returncode == 0, "%s %s: rc %d %s" % (RW, args, p.returncode, p.stderr.strip()))
    return p.returncode == 0


def read(path):
    with open(path, "rb") as f:
        return f.read()


# 1 + 2
for align in (None, 64):
    cpath = os.path.join(TMP, "interop_c_%s.gguf" % align)
    ppath = os.path.join(TMP, "interop_py_%s.gguf" % align)
    w = every_type(align)
    w.write(ppath)
    if not run("write", cpath, str(align or 0)):
        continue
    cb, pb = read(cpath), read(ppath)
    if cb != pb:
        diff = next((i for i in range(min(len(cb), len(pb))) if cb[i] != pb[i]), min(len(cb), len(pb)))
        check(False, "align %s: C and Python files differ (%d vs %d bytes, first difference at %d)" % (align, len(cb), len(pb), diff))
    r = mmgguf.GGUFReader(cpath)
    check(r.version == 3 and r.alignment == (align or 32), "version/alignment")
    for key, vtype, value in w.kvs:
        got = r.kv.get(key)
        want = value
        if vtype == "arr":
            def plain(et, vals):
                return [plain(*v) for v in vals] if et == "arr" else list(vals)
            want = plain(*value)
        if vtype == "f32":
            want = struct.unpack("<f", struct.pack("<f", value))[0]
        check(r.kv_types.get(key) == vtype, "%s: type %s, want %s" % (key, r.kv_types.get(key), vtype))
        check(got == want, "%s: %r != %r" % (key, got, want))
    for t, (name, tt, ne) in enumerate(TENSORS):
        got = r.tensors.get(name)
        check(got is not None and got[0] == tt and tuple(got[1]) == ne, "%s: %r" % (name, got and got[:2]))
        if got:
            check(got[2] == pattern(len(got[2]), t), "%s: tensor bytes differ" % name)
            check(r.tensor_offsets[name] % (align or 32) == 0, "%s: offset not aligned" % name)

# 3: a gpt2 model with real values, written by Python, re-written by C
rng = np.random.default_rng(7)
d, ff, nv, nctx = 64, 256, 97, 32
w = mmgguf.GGUFWriter()
w.add_str("general.architecture", "gpt2"); w.add_str("general.name", "interop")
w.add_u32("gpt2.context_length", nctx); w.add_u32("gpt2.embedding_length", d)
w.add_u32("gpt2.feed_forward_length", ff); w.add_u32("gpt2.block_count", 2)
w.add_u32("gpt2.attention.head_count", 4); w.add_f32("gpt2.attention.layer_norm_epsilon", 1e-5)
w.add_arr("tokenizer.ggml.tokens", "str", ["t%d\u00e9" % i for i in range(nv)])
w.add_arr("tokenizer.ggml.token_type", "i32", [1] * nv)
w.add_arr("tokenizer.ggml.merges", "str", ["a b", "\u0120 t"])
w.add_u32("tokenizer.ggml.bos_token_id", nv - 1)
types = ["f32", "f16", "q8_0", "q4_0"]
w.add_tensor("token_embd.weight", rng.standard_normal((nv, d)), "q8_0")
w.add_tensor("position_embd.weight", rng.standard_normal((nctx, d)) * 0.1, "f16")
for b in range(2):
    tt = types[2 + b]
    w.add_tensor("blk.%d.attn_norm.weight" % b, 1 + 0.1 * rng.standard_normal(d), "f32")
    w.add_tensor("blk.%d.attn_norm.bias" % b, 0.1 * rng.standard_normal(d), "f32")
    w.add_tensor("blk.%d.attn_qkv.weight" % b, rng.standard_normal((3 * d, d)), tt)
    w.add_tensor("blk.%d.attn_qkv.bias" % b, rng.standard_normal(3 * d), "f32")
    w.add_tensor("blk.%d.ffn_up.weight" % b, rng.standard_normal((ff, d)), "f16")
    w.add_tensor("blk.%d.ffn_down.weight" % b, rng.standard_normal((d, ff)), tt)
w.add_tensor("output_norm.weight", np.ones(d), "f32")
src = os.path.join(TMP, "interop_gpt2.gguf")
out = os.path.join(TMP, "interop_gpt2_re.gguf")
w.write(src)
if run("rewrite", src, out):
    check(read(src) == read(out), "gpt2 model: C rewrite of the Python file is not byte-identical")
    r0, r1 = mmgguf.GGUFReader(src), mmgguf.GGUFReader(out)
    for name in r0.tensors:
        check(np.array_equal(r0.tensor_f32(name), r1.tensor_f32(name)), "%s values differ after rewrite" % name)
# version 2 input: same layout, re-written as version 3
v2 = bytearray(read(src))
v2[4:8] = struct.pack("<I", 2)
src2 = os.path.join(TMP, "interop_gpt2_v2.gguf")
with open(src2, "wb") as f:
    f.write(v2)
if run("rewrite", src2, out):
    check(read(out) == read(src), "version-2 file did not re-write to the version-3 bytes")

if fails:
    print("%d failures" % len(fails))
    sys.exit(1)
print("gguf interop: C and Python writers agree byte for byte; C reader/writer round-trips Python files")
