"""gguf_info: `mmgpt info` on GGUF files written by an independent writer (tools/mmgguf.py).

A small model with llama.cpp `gpt2` tensor names and F32, F16, Q8_0 and Q4_0 tensors, metadata of
every type (incl. nested arrays and a GPT-2-like token list); the expected tensor names, types, shapes,
byte sizes, parameter total and file size are computed here from what was written. Checks both the
--json output (exact) and the text output (every tensor row, the summarised token array). Also: a file
with tensor types mmgpt cannot compute with lists fine; command-line errors give exit 2, --help 0.
Tolerance: none (integers and strings must match exactly).
"""
import json
import os
import re
import subprocess
import sys

import numpy as np

SRC = os.environ.get("MMGPT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools"))
import mmgguf  # noqa: E402

BIN = os.environ.get("MMGPT_BIN")
TMP = os.environ.get("MMGPT_TEST_TMP", "/tmp")
if not BIN or not os.path.exists(BIN):
    print("MMGPT_BIN not set or missing")
    sys.exit(1)
fails = []


def check(cond, msg):
    if not cond:
        fails.append(msg)
        print("FAIL:", msg)


def info(*args):
    return subprocess.run([BIN, "info"] + list(args), capture_output=True, text=True)


# ---------------------------------------------------------------- a gpt2 file
rng = np.random.default_rng(3)
d, ff, nctx, nl = 64, 256, 48, 2
tokens = [chr(c) for c in range(33, 127)] + ["\u0120the", "\u010a", "<|endoftext|>"]
nv = len(tokens)
w = mmgguf.GGUFWriter()
w.add_str("general.architecture", "gpt2")
w.add_str("general.name", "info-test")
w.add_u32("gpt2.context_length", nctx)
w.add_u32("gpt2.embedding_length", d)
w.add_u32("gpt2.feed_forward_length", ff)
w.add_u32("gpt2.block_count", nl)
w.add_u32("gpt2.attention.head_count", 4)
w.add_f32("gpt2.attention.layer_norm_epsilon", 1e-5)
w.add_str("tokenizer.ggml.model", "gpt2")
w.add_arr("tokenizer.ggml.tokens", "str", tokens)
w.add_arr("tokenizer.ggml.token_type", "i32", [1] * nv)
w.add_arr("tokenizer.ggml.merges", "str", ["\u0120 t", "h e"])
w.add_u32("tokenizer.ggml.eos_token_id", nv - 1)
w.add_bool("tokenizer.ggml.add_bos_token", False)
w.add_u8("x.u8", 255); w.add_i8("x.i8", -128); w.add_u16("x.u16", 65535); w.add_i16("x.i16", -32768)
w.add_i32("x.i32", -7); w.add_u64("x.u64", 2**64 - 1); w.add_i64("x.i64", -2**63); w.add_f64("x.f64", 2.5)
w.add_arr("x.f32s", "f32", [0.5, 0.25]); w.add_arr("x.nested", "arr", [("i32", [1, 2]), ("str", ["a"])])
w.add_str("x.long", "y" * 500)
expect = []   # (name, type, ne)


def add(name, arr, tt):
    w.add_tensor(name, arr, tt)
    expect.append((name, tt, tuple(reversed(arr.shape))))


add("token_embd.weight", rng.standard_normal((nv - 1, d)), "q8_0")   # 96 rows: any row count works
add("position_embd.weight", rng.standard_normal((nctx, d)), "f16")
for b in range(nl):
    tt = ["q8_0", "q4_0"][b]
    add("blk.%d.attn_norm.weight" % b, np.ones(d), "f32")
    add("blk.%d.attn_norm.bias" % b, np.zeros(d), "f32")
    add("blk.%d.attn_qkv.weight" % b, rng.standard_normal((3 * d, d)), tt)
    add("blk.%d.attn_qkv.bias" % b, rng.standard_normal(3 * d), "f32")
    add("blk.%d.attn_output.weight" % b, rng.standard_normal((d, d)), "f16")
    add("blk.%d.attn_output.bias" % b, rng.standard_normal(d), "f32")
    add("blk.%d.ffn_norm.weight" % b, np.ones(d), "f32")
    add("blk.%d.ffn_norm.bias" % b, np.zeros(d), "f32")
    add("blk.%d.ffn_up.weight" % b, rng.standard_normal((ff, d)), tt)
    add("blk.%d.ffn_up.bias" % b, rng.standard_normal(ff), "f32")
    add("blk.%d.ffn_down.weight" % b, rng.standard_normal((d, ff)), "f16")
    add("blk.%d.ffn_down.bias" % b, rng.standard_normal(d), "f32")
add("output_norm.weight", np.ones(d), "f32")
add("output_norm.bias", np.zeros(d), "f32")
path = os.path.join(TMP, "info_gpt2.gguf")
size = w.write(path)
n_params = sum(int(np.prod(ne)) for _, _, ne in expect)
nbytes = {n: mmgguf.row_bytes(t, ne[0]) * (int(np.prod(ne)) // ne[0]) for n, t, ne in expect}

p = info(path, "--json")
check(p.returncode == 0, "info --json rc %d: %s" % (p.returncode, p.stderr))
try:
    j = json.loads(p.stdout)
except ValueError as e:
    j = {}
    check(False, "--json output is not JSON: %s" % e)
if j:
    check(j["architecture"] == "gpt2", "architecture %r" % j.get("architecture"))
    check(j["file_size"] == size == os.path.getsize(path), "file_size %r != %d" % (j["file_size"], size))
    check(j["version"] == 3 and j["alignment"] == 32, "version/alignment")
    check(j["n_tensors"] == len(expect), "n_tensors %r" % j["n_tensors"])
    check(j["n_params"] == n_params, "n_params %r != %d" % (j["n_params"], n_params))
    check(j["tensor_bytes"] == sum(nbytes.values()), "tensor_bytes")
    got = [(t["name"], t["type"], tuple(t["shape"])) for t in j["tensors"]]
    check(got == expect, "tensor table differs:\n%s\n%s" % (got, expect))
    for t in j["tensors"]:
        check(t["bytes"] == nbytes[t["name"]], "%s bytes %r" % (t["name"], t["bytes"]))
        check(t["computable"] is True, "%s computable" % t["name"])
    md = j["metadata"]
    check(len(md) == len(w.kvs), "metadata count %d != %d" % (len(md), len(w.kvs)))
    for key, vt, val in w.kvs:
        v = md.get(key)
        if vt == "arr":
            et, vals = val
            if et == "arr":
                want = [list(x[1]) for x in val[1]]
            elif len(vals) > 8:
                want = {"type": {"str": "strings"}.get(et, et), "n": len(vals), "first": list(vals[:3])}
            else:
                want = list(vals)
            check(v == want, "%s: %r != %r" % (key, v, want))
            check(j["metadata_types"][key] == "arr[%s]" % et, "%s type %r" % (key, j["metadata_types"][key]))
        elif vt == "str" and len(val) > 80:
            check(isinstance(v, str) and v.startswith(val[:80]) and v.endswith("..."), "%s: long string" % key)
        elif vt == "f32":
            check(abs(v - val) <= 1e-7 * abs(val), "%s: %r != %r" % (key, v, val))
        else:
            check(v == val, "%s: %r != %r" % (key, v, val))
            check(j["metadata_types"][key] == vt, "%s type %r" % (key, j["metadata_types"][key]))

p = info(path)
check(p.returncode == 0, "info rc %d: %s" % (p.returncode, p.stderr))
out = p.stdout
check(re.search(r"^architecture:\s+gpt2$", out, re.M) is not None, "text: architecture line")
for name, tt, ne in expect:
    row = r"^\s+\d+\s+%s\s+%s\s+%s\s+%d$" % (re.escape(name), tt, re.escape("[" + ", ".join(map(str, ne)) + "]"), nbytes[name])
    check(re.search(row, out, re.M) is not None, "text: no row for %s (%s %s)" % (name, tt, ne))
check(re.search(r"^parameters:\s+%d " % n_params, out, re.M) is not None, "text: parameter count")
check(re.search(r"^file size:\s+%d bytes" % size, out, re.M) is not None, "text: file size")
check('[%d strings: "!", "\\"", "#", ...]' % nv in out, "text: token array summary")
check('[[1, 2], ["a"]]' in out, "text: nested array")
check('... (500 bytes)' in out, "text: long string summary")
check(re.search(r"^\s+x\.u64\s+u64\s+18446744073709551615$", out, re.M) is not None, "text: u64 line")

# ---------------------------------------------------------------- types mmgpt lists but cannot compute
w2 = mmgguf.GGUFWriter(alignment=64)
w2.add_str("general.architecture", "other")
w2.add_tensor_raw("a.q2_k", "q2_k", (512, 2), bytes(84 * 4))
w2.add_tensor_raw("b.q3_k", "q3_k", (256, 3), bytes(110 * 3))
w2.add_tensor_raw("c.iq2_xxs", "iq2_xxs", (256,), bytes(66))
w2.add_tensor("d.f32", np.arange(6, dtype=np.float32).reshape(2, 3), "f32")
p2 = os.path.join(TMP, "info_other.gguf")
w2.write(p2)
p = info(p2, "--json")
check(p.returncode == 0, "other types: rc %d %s" % (p.returncode, p.stderr))
if p.returncode == 0:
    j = json.loads(p.stdout)
    got = [(t["name"], t["type"], t["shape"], t["bytes"], t["computable"]) for t in j["tensors"]]
    want = [("a.q2_k", "q2_k", [512, 2], 336, False), ("b.q3_k", "q3_k", [256, 3], 330, False),
            ("c.iq2_xxs", "iq2_xxs", [256], 66, False), ("d.f32", "f32", [3, 2], 24, True)]
    check(got == want, "other types: %s" % got)
    check(j["alignment"] == 64 and j["n_params"] == 1024 + 768 + 256 + 6, "other: alignment / params")
p = info(p2)
check(p.returncode == 0 and "q2_k*" in p.stdout, "text marks non-computable types")

# ---------------------------------------------------------------- hostile names: valid JSON, one line each
w3 = mmgguf.GGUFWriter()
w3.add(b"bad\xff\nkey", "str", b"val\xff\x00\n")
w3.add_arr("arr", "str", [b"\xc3", "ok"])
w3.add_tensor("t\x1b[31m", np.zeros(4), "f32")
p3 = os.path.join(TMP, "info_hostile.gguf")
w3.write(p3)
p = subprocess.run([BIN, "info", p3, "--json"], capture_output=True)
try:
    j = json.loads(p.stdout)
    check(j["metadata"] == {"bad??key": "val\ufffd\u0000\n", "arr": ["\ufffd", "ok"]}, "hostile json: %r" % j["metadata"])
    check(j["tensors"][0]["name"] == "t?[31m", "hostile tensor name %r" % j["tensors"][0]["name"])
except ValueError:
    check(False, "hostile names: --json output is not valid JSON")
p = subprocess.run([BIN, "info", p3], capture_output=True)
check(b'  bad??key' in p.stdout and b'"val\\xff\\x00\\n"' in p.stdout and b"\x1b" not in p.stdout, "hostile text: %r" % p.stdout)

# ---------------------------------------------------------------- command line
p = info()
check(p.returncode == 2 and p.stderr.count("\n") == 1 and p.stderr.startswith("mmgpt: "), "no FILE: rc %d %r" % (p.returncode, p.stderr))
p = info(path, "--bogus")
check(p.returncode == 2 and p.stderr.count("\n") == 1, "bad option: rc %d %r" % (p.returncode, p.stderr))
p = info(path, p2)
check(p.returncode == 2, "two files: rc %d" % p.returncode)
p = info("--help")
check(p.returncode == 0 and "usage: mmgpt info" in p.stdout, "--help")
p = info(os.path.join(TMP, "does-not-exist.gguf"))
check(p.returncode == 4 and p.stderr.count("\n") == 1 and "does-not-exist.gguf: " in p.stderr, "missing file: rc %d %r" % (p.returncode, p.stderr))

if fails:
    print("%d failures" % len(fails))
    sys.exit(1)
print("gguf info: %d tensors, %d parameters, every row and value as written" % (len(expect), n_params))
