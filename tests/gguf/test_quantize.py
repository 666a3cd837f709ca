"""gguf_quantize: `mmgpt quantize IN OUT TYPE` writes the files llama-quantize writes (without an importance matrix).

Random llama-layout files (llama.cpp tensor names; 16 layers, so the layer rules show: use_more_bits(i, 16) is
true for layers 0, 1, 4, 7, 10, 13, 14, 15) and a gpt2 file are converted; checked against expectations
written out by hand from llama.cpp's src/llama-quant.cpp rules:
  - the type of every tensor (q4_k_m, q4_k_s, q5_k_m, q6_k, q8_0, q4_0, f16; tied and untied output; rows of
    64 that fall back: q4_k -> q5_0, q6_k -> q8_0, output -> q8_0; --pure);
  - the bytes of every converted tensor (layers 0, 1, 4, 7 and the others) equal core_tool's quantization of the source rows (mm_quantize_row,
    checked against llama.cpp elsewhere), copied tensors are unchanged, the dequantized values are close to the
    source (ref_quants.py, the numpy reference from the block layouts);
  - tensor order (outside blk.N by name, then by layer and name), every metadata value copied in order,
    general.quantization_version = 2 and general.file_type last (as llama.cpp; files made this way were
    byte-identical to llama-quantize's for all 13 file types, checked by hand against a llama.cpp build);
  - f16 input; an already quantized input is refused without --allow-requantize (the error names the tensor
    and the flag); rows of 40 for q4_0 fall back to f16 (llama-quantize stops there); --dry-run writes
    nothing; a bad type is a usage error (exit 2);
  - the bundled model (encoders with convolution kernels) to q8_0 and q4_0: kernels and position embeddings
    copied, the rest converted, the file runs close to the original (bundled_encoders);
  - a gpt2 file quantized to q4_k_m runs: all-position logits vs ref_gpt2 on the dequantized weights, with the
    inputs of the q4_k (and q8_0) products rounded to 8 bits per block of 32 where mmgpt's prompt gemm does that (the int8
    gemm at avx2/avx512: ref_gpt2.prompt_q8_types for the level gpt_driver reports): 1e-4 (float32 arithmetic;
    measured ~1e-7) at positions whose rounded inputs are all clear of rounding boundaries (ref_gpt2.Ambiguity,
    2e-5 steps: float32 may round those the other way), 3e-2 (the decode bound) at the others, and at least
    half of the positions clean. Without the rounding in the reference the int8 path is 4.6e-3 off.
usage: test_quantize.py CORE_TOOL GPT_DRIVER   (MMGPT_BIN: the mmgpt program)
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "core"))
sys.path.insert(0, os.path.join(HERE, "..", "transformer"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import mmgguf  # noqa: E402
import ref_quants  # noqa: E402

TOOL, DRIVER = sys.argv[1], sys.argv[2]
BIN = os.environ.get("MMGPT_BIN")
TMP = tempfile.mkdtemp(dir=os.environ.get("MMGPT_TEST_TMP"))
failures = []
FTYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "q4_k_s": 14, "q4_k_m": 15, "q5_k_m": 17, "q6_k": 18}
MORE_BITS_16 = {0, 1, 4, 7, 10, 13, 14, 15}


def check(name, ok, msg=""):
    print("%-60s %s  %s" % (name, "ok  " if ok else "FAIL", msg))
    if not ok:
        failures.append(name)


def mmgpt(*args):
    return subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True)


def llama_file(path, n_layer=16, d=256, d_kv=64, ff=512, vocab=300, tied=False, ttype="f32", seed=0):
    rng = np.random.default_rng(seed)
    f = lambda *s: (rng.standard_normal(s) * 0.05).astype(np.float32)  # noqa: E731
    w = mmgguf.GGUFWriter()
    w.add_str("general.architecture", "llama")
    w.add_str("general.name", "random llama")
    w.add_u32("llama.context_length", 128)
    w.add_u32("llama.block_count", n_layer)
    w.add_u32("llama.embedding_length", d)
    w.add_u32("llama.feed_forward_length", ff)
    w.add_u32("llama.attention.head_count", 4)
    w.add_u32("llama.attention.head_count_kv", 1)
    w.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_arr("tokenizer.ggml.tokens", "str", ["t%d" % i for i in range(vocab)])
    w.add_u32("general.file_type", 0)
    t = {"token_embd.weight": f(vocab, d), "output_norm.weight": f(d) + 1}
    if not tied:
        t["output.weight"] = f(vocab, d)
    for l in range(n_layer):
        b = "blk.%d." % l
        t.update({b + "attn_norm.weight": f(d) + 1, b + "attn_q.weight": f(d, d), b + "attn_k.weight": f(d_kv, d),
                  b + "attn_v.weight": f(d_kv, d), b + "attn_output.weight": f(d, d), b + "ffn_norm.weight": f(d) + 1,
                  b + "ffn_gate.weight": f(ff, d), b + "ffn_up.weight": f(ff, d), b + "ffn_down.weight": f(d, ff)})
    for name, a in t.items():
        w.add_tensor(name, a, "f32" if a.ndim == 1 else ttype)
    w.write(path)
    return t


def expected_llama(ftype, n_layer, d, ff, tied, pure=False):
    """{name: type} from llama.cpp's rules, written out for these names"""
    base = {"q4_k_m": "q4_k", "q4_k_s": "q4_k", "q5_k_m": "q5_k", "q6_k": "q6_k", "q8_0": "q8_0", "q4_0": "q4_0",
            "f16": "f16"}[ftype]
    quant = base not in ("f16", "f32")

    def fit(t, cols):   # llama.cpp's fallback for rows that do not fill 256
        if t in ("q4_k", "q5_k", "q6_k") and cols % 256:
            return {"q4_k": "q5_0", "q5_k": "q5_1", "q6_k": "q8_0"}[t]
        return t
    e = {"output_norm.weight": "f32"}
    out = "token_embd.weight" if tied else "output.weight"
    if quant and not pure:
        e[out] = "q8_0" if d % {"q8_0": 32, "q4_0": 32}.get(base, 256) else ("q8_0" if base == "q8_0" else "q6_k")
    else:
        e[out] = fit(base, d)
    if not tied:
        e["token_embd.weight"] = fit(base, d)
    for l in range(n_layer):
        b = "blk.%d." % l
        e[b + "attn_norm.weight"] = e[b + "ffn_norm.weight"] = "f32"
        for n in ("attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"):
            e[b + n + ".weight"] = fit(base, d)
        v, down = base, base
        if not pure and ftype in ("q4_k_m", "q5_k_m") and l in MORE_BITS_16:
            v = down = "q6_k"
        if not pure and ftype == "q4_k_s":
            v = "q5_k" if l < 4 else base
            down = "q5_k" if l < n_layer // 8 else base
        e[b + "attn_v.weight"] = fit(v, d)
        e[b + "ffn_down.weight"] = fit(down, ff)
    return e


def quantize_ref(a, t):
    src, dst = os.path.join(TMP, "r.f32"), os.path.join(TMP, "r.raw")
    np.ascontiguousarray(a, dtype="<f4").tofile(src)
    subprocess.run([TOOL, "quantize", t, src, dst], check=True)
    return open(dst, "rb").read()


def llama_order(names):
    def key(n):
        layer = int(n.split(".")[1]) if n.startswith("blk.") else -1
        return (layer, n)
    return sorted(names, key=key)


def check_file(tag, src_path, out_path, tensors, expect, ftype, src_type="f32"):
    r_in, r = mmgguf.GGUFReader(src_path), mmgguf.GGUFReader(out_path)
    got = {n: r.tensors[n][0] for n in r.tensors}
    bad = {n: (got.get(n), expect[n]) for n in expect if got.get(n) != expect[n]}
    check("%s: tensor types" % tag, not bad and set(got) == set(expect),
          "%d differ, e.g. %s" % (len(bad), list(bad.items())[:3]) if bad else "%d tensors" % len(got))
    check("%s: tensor order" % tag, list(r.tensors) == llama_order(list(r.tensors)), "")
    kv_ok = all(k in r.kv and (r.kv[k] == v or k == "general.file_type") for k, v in r_in.kv.items())
    order_ok = list(r.kv)[-2:] == ["general.quantization_version", "general.file_type"]   # where llama.cpp puts them
    check("%s: metadata" % tag, kv_ok and order_ok and r.kv.get("general.file_type") == FTYPE[ftype]
          and r.kv.get("general.quantization_version") == 2, "file_type %r" % r.kv.get("general.file_type"))
    n_bytes_bad, worst = 0, 0.0
    for n, (tt, ne, raw) in r.tensors.items():
        if n.startswith("blk.") and int(n.split(".")[1]) not in (0, 1, 4, 7):   # a sample of the layers (time)
            continue
        a = tensors[n]
        if tt == src_type or a.ndim == 1:
            same = raw == r_in.tensors[n][2]
            n_bytes_bad += not same
            continue
        src = a if src_type == "f32" else a.astype(np.float16).astype(np.float32)
        if raw != quantize_ref(src, tt):
            n_bytes_bad += 1
        y = ref_quants.dequantize(raw, tt, a.size).reshape(a.shape)
        worst = max(worst, float(np.sqrt(np.mean((y - src) ** 2) / np.mean(src ** 2))))
    check("%s: tensor bytes (core_tool / copies)" % tag, n_bytes_bad == 0, "%d tensors differ" % n_bytes_bad)
    check("%s: values close to the source" % tag, worst < 0.2, "worst relative RMS %.3f" % worst)


def convert(src, out, ftype, *opts):
    p = mmgpt("quantize", src, out, ftype, "-t", 2, *opts)
    if p.returncode != 0:
        check("quantize %s %s" % (ftype, " ".join(opts)), False, p.stderr.strip()[-300:])
        return False
    return True


def rel_rms(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2) / np.mean(a ** 2)))


def bundled_encoders():
    """The bundled model (Q8_0, ViT + audio encoder) to q8_0 and q4_0: the encoders' convolution kernels
    (v.patch_embd [8, 8, 3, 128], a.conv1d.N [3, c_in, 128]) and position embeddings stay f32 byte for byte,
    the rest is converted, and the file runs: encoder outputs, projected rows and logits close to the
    original's (relative RMS <= 0.25: 4-bit weights; measured 0.01-0.10), the same top token at >= 90% of
    the prompt positions (measured 100%)."""
    model = os.path.join(HERE, "..", "..", "assets", "models", "mmgpt-demo.gguf")
    ex = os.path.join(HERE, "..", "..", "assets", "examples")
    kept = ("v.patch_embd.weight", "a.conv1d.1.weight", "a.conv1d.2.weight", "v.position_embd.weight",
            "a.position_embd.weight", "position_embd.weight")
    r_in = mmgguf.GGUFReader(model)
    # q8_0 from a q8_0 file: nothing to requantize, every tensor copied (before: "a.conv1d.1.weight: rows of
    # 3 elements are not a multiple of 32", exit 4)
    q8 = os.path.join(TMP, "demo_q8_0.gguf")
    if convert(model, q8, "q8_0"):
        r = mmgguf.GGUFReader(q8)
        same = [n for n in r_in.tensors if r.tensors.get(n) == r_in.tensors[n]]
        check("bundled -> q8_0: every tensor copied", len(same) == len(r_in.tensors),
              "%d of %d" % (len(same), len(r_in.tensors)))
    p = mmgpt("quantize", model, os.path.join(TMP, "demo_rq.gguf"), "q4_0")
    check("bundled -> q4_0 without --allow-requantize: names a tensor and the flag", p.returncode == 4
          and "--allow-requantize" in p.stderr and "already q8_0" in p.stderr, p.stderr.strip())
    q4 = os.path.join(TMP, "demo_q4_0.gguf")
    if not convert(model, q4, "q4_0", "--allow-requantize"):
        return
    r = mmgguf.GGUFReader(q4)
    check("bundled -> q4_0: convolution kernels and position embeddings copied",
          all(r.tensors[n] == r_in.tensors[n] for n in kept), str({n: r.tensors[n][0] for n in kept}))
    ty = {n: r.tensors[n][0] for n in r.tensors}
    mats = [n for n, (tt, ne, raw) in r_in.tensors.items() if tt == "q8_0"]
    want = {n: ("q6_k" if n == "token_embd.weight" else "q4_0") for n in mats}   # tied output: q6_k
    bad = {n: ty[n] for n in want if ty[n] != want[n]}
    check("bundled -> q4_0: matrices converted", not bad, str(bad)[:200])
    worst = 0.0
    for n in mats:
        tt, ne, raw = r_in.tensors[n]
        size = int(np.prod(ne))
        a = ref_quants.dequantize(raw, tt, size)
        worst = max(worst, rel_rms(a, ref_quants.dequantize(r.tensors[n][2], ty[n], size)))
    check("bundled -> q4_0: dequantized matrices close to the source", worst < 0.2, "worst relative RMS %.3f" % worst)
    outs = {}
    for tag, m in (("orig", model), ("q4_0", q4)):
        o = {k: os.path.join(TMP, "%s_%s.npy" % (tag, k)) for k in ("enc", "proj", "aud", "lg")}
        runs = [("encode-image", "-m", m, os.path.join(ex, "shapes1.png"), "-o", o["enc"], "--projected", o["proj"]),
                ("encode-audio", "-m", m, os.path.join(ex, "beeps.wav"), "-o", o["aud"]),
                ("logits", "-m", m, "-p", "User: what is in the picture?\nAssistant: a large red circle", "-o", o["lg"])]
        for args in runs:
            p = mmgpt(*args, "-t", 2)
            if p.returncode != 0:
                check("bundled %s: %s runs" % (tag, args[0]), False, p.stderr.strip()[-300:])
                return
        outs[tag] = {k: np.load(v) for k, v in o.items()}
    for k in ("enc", "proj", "aud", "lg"):
        a, b = outs["orig"][k], outs["q4_0"][k]
        e = rel_rms(a, b) if a.shape == b.shape else float("inf")
        check("bundled q4_0 vs original: %s" % k, e <= 0.25, "relative RMS %.3f (tol 0.25)" % e)
    agree = float(np.mean(outs["orig"]["lg"].argmax(-1) == outs["q4_0"]["lg"].argmax(-1)))
    check("bundled q4_0 vs original: top token", agree >= 0.9, "%.0f%% of positions (tol 90%%)" % (100 * agree))


def main():
    if not BIN or not os.path.exists(BIN):
        print("SKIP: MMGPT_BIN not set")
        return 77
    L, d, ff = 16, 256, 512
    src = os.path.join(TMP, "llama_f32.gguf")
    t = llama_file(src, L, d, 64, ff)
    for ft in ("q4_k_m", "q4_k_s", "q5_k_m", "q6_k", "q8_0", "q4_0", "f16"):
        out = os.path.join(TMP, "llama_%s.gguf" % ft)
        if convert(src, out, ft):
            check_file("llama %s" % ft, src, out, t, expected_llama(ft, L, d, ff, False), ft)
    out = os.path.join(TMP, "llama_pure.gguf")
    if convert(src, out, "Q4_K", "--pure"):   # alias of q4_k_m, any case; --pure: no mix
        check_file("llama q4_k --pure", src, out, t, expected_llama("q4_k_m", L, d, ff, False, pure=True), "q4_k_m")

    # tied output, rows of 64 (SmolLM-like widths): fallbacks
    src2 = os.path.join(TMP, "llama_small.gguf")
    t2 = llama_file(src2, L, 64, 64, 256, tied=True, seed=1)
    for ft in ("q4_k_m", "q6_k"):
        out = os.path.join(TMP, "small_%s.gguf" % ft)
        if convert(src2, out, ft):
            check_file("llama d64 tied %s" % ft, src2, out, t2, expected_llama(ft, L, 64, 256, True), ft)
    p = mmgpt("quantize", src2, os.path.join(TMP, "x.gguf"), "q4_k_m", "--dry-run")
    check("--dry-run: plan, fallbacks marked, nothing written", p.returncode == 0 and "would write" in p.stdout
          and "fallback" in p.stdout and not os.path.exists(os.path.join(TMP, "x.gguf")), p.stdout[-200:])

    # f16 input
    src3 = os.path.join(TMP, "llama_f16.gguf")
    t3 = llama_file(src3, 8, d, 64, ff, ttype="f16", seed=2)
    out = os.path.join(TMP, "f16_q8.gguf")
    if convert(src3, out, "q8_0"):
        e = {n: ("f32" if a.ndim == 1 else "q8_0") for n, a in t3.items()}
        check_file("llama f16 -> q8_0", src3, out, t3, e, "q8_0", src_type="f16")

    # errors
    q8 = os.path.join(TMP, "llama_q8_0.gguf")
    p = mmgpt("quantize", q8, os.path.join(TMP, "rq.gguf"), "q4_k_m")
    check("requantizing refused, naming the tensor and the flag", p.returncode == 4 and "requantiz" in p.stderr
          and "--allow-requantize" in p.stderr and ".weight" in p.stderr, p.stderr.strip())
    p = mmgpt("quantize", q8, os.path.join(TMP, "rq.gguf"), "q4_k_m", "--allow-requantize")
    check("requantizing allowed with the flag", p.returncode == 0, p.stderr.strip()[-200:])
    src4 = os.path.join(TMP, "llama_d40.gguf")
    t4 = llama_file(src4, 2, 40, 40, 64, seed=3)
    out4 = os.path.join(TMP, "d40_q4_0.gguf")
    # rows of 40 fill no 32-block: f16 (llama-quantize stops with "Unsupported tensor size"; the output falls
    # back to q8_0 first, which does not fit either); ffn_down's rows of 64 are q4_0
    if convert(src4, out4, "q4_0"):
        e = {n: "f32" if a.ndim == 1 else "q4_0" if a.shape[-1] % 32 == 0 else "f16" for n, a in t4.items()}
        check_file("llama d40 q4_0 (f16 fallback)", src4, out4, t4, e, "q4_0")
        p = mmgpt("quantize", src4, out4, "q4_0", "--dry-run")
        check("rows of 40 for q4_0: the plan marks the fallback", p.returncode == 0
              and "output.weight" in p.stdout and "fallback" in p.stdout, p.stdout[-300:])
    p = mmgpt("quantize", src, os.path.join(TMP, "bad.gguf"), "q3_k_m")
    check("unknown type: usage error", p.returncode == 2 and "q3_k_m" in p.stderr, p.stderr.strip())

    # a gpt2 file to q4_k_m runs in mmgpt
    import make_random_gpt2
    import ref_gpt2
    mmgguf.dequantize = lambda raw, tt, n: ref_quants.dequantize(raw, mmgguf.type_name(tt) if isinstance(tt, int) else tt, n)
    g_src, g_out = os.path.join(TMP, "gpt2_f32.gguf"), os.path.join(TMP, "gpt2_q4km.gguf")
    make_random_gpt2.make_model(g_src, V=300, n_ctx=64, d=256, n_layer=2, n_head=4, d_ff=512, seed=5)
    if convert(g_src, g_out, "q4_k_m"):
        r = mmgguf.GGUFReader(g_out)
        ty = {n: r.tensors[n][0] for n in r.tensors}
        # 2 layers: use_more_bits(0, 2) false, (1, 2) true
        want = {"blk.0.attn_qkv.weight": "q5_k", "blk.0.ffn_down.weight": "q4_k", "blk.1.ffn_down.weight": "q6_k",
                "blk.1.ffn_up.weight": "q4_k",
                "token_embd.weight": "q6_k", "position_embd.weight": "f32", "blk.1.attn_output.weight": "q4_k"}
        check("gpt2 q4_k_m types", all(ty[k] == v for k, v in want.items()), str({k: ty[k] for k in want}))
        ids, outp = os.path.join(TMP, "ids.npy"), os.path.join(TMP, "lg.npy")
        prompt = np.random.default_rng(1).integers(0, 300, 20)
        np.save(ids, prompt.astype(np.float32))
        p = subprocess.run([DRIVER, g_out, "logits", ids, outp, "512", "2"], capture_output=True, text=True)
        if p.returncode != 0:
            check("gpt2 q4_k_m runs", False, p.stderr.strip())
        else:
            kernel = subprocess.run([DRIVER, "kernel"], capture_output=True, text=True).stdout.strip()
            amb = ref_gpt2.Ambiguity(ref_gpt2.AMBIGUOUS_STEPS)
            ref = ref_gpt2.forward(ref_gpt2.load_gguf(g_out), list(prompt), gemm_q8=ref_gpt2.prompt_q8_types(kernel),
                                   amb=amb)
            e, ea, nc = ref_gpt2.position_errors(np.load(outp), ref, amb.rows)
            check("gpt2 q4_k_m logits vs reference (%s)" % kernel, e <= 1e-4 and ea <= 3e-2 and 2 * nc >= len(ref),
                  "rel %.2e (tol 1e-4) at %d clean positions, %.2e (tol 3e-2) at %d ambiguous (at most half)"
                  % (e, nc, ea, len(ref) - nc))
    bundled_encoders()
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("gguf_quantize: all checks passed")
    return 0


sys.exit(main())
