#!/usr/bin/env python3
"""test_core_numerics.py - core numerics vs independent numpy/PyTorch references.

    test_core_numerics.py CORE_TOOL

Checks (each exits non-zero on mismatch):
  fp16 -> f32    all 65536 half bit patterns, bit-exact vs numpy float16 (NaN: still NaN)
  f32 -> fp16    every half value, every tie between neighbours (round half to even), tie +- 1 ulp,
                 overflow/underflow edges and 200k random float32 bit patterns: bit-exact vs numpy
  Q8_0 / Q4_0    quantize bytes identical to tools/mmgguf.py (ggml reference algorithm, written
                 independently); dequantize of random blocks identical to mmgguf.dequantize
  ops            gelu_tanh, gelu_erf, quick_gelu (2 ulp + 2e-7), layernorm (f32-statistics bound),
                 softmax (values up to 1e4, -inf masks; 2e-7 + 2e-6 rel), add and scale (exact) vs torch float64
  matvec         each type vs numpy (mmgguf dequantize, float64 dot), 2 threads: 2e-6 * sum|w x| + 1e-6, plus
                 the bound of quantizing x (sum |w| d_x/2) where the kernel level does that
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

TOOL = sys.argv[1]
SRC = os.environ.get("MMGPT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools"))
import mmgguf  # noqa: E402

TMP = tempfile.mkdtemp(prefix="core_num_", dir=os.environ.get("MMGPT_TEST_TMP"))
failures = []
rng = np.random.default_rng(1234)


def check(ok, msg):
    if not ok:
        failures.append(msg)
        print("FAIL:", msg)


def tool(*args):
    r = subprocess.run([TOOL] + [str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("core_tool %s failed (%d): %s" % (" ".join(map(str, args)), r.returncode, r.stderr))
    return r.stdout


def path(name):
    return os.path.join(TMP, name)


def run_f32(cmd_prefix, x, *extra):
    """write x as raw f32, run tool, read raw f32 back"""
    x = np.ascontiguousarray(x, dtype=np.float32)
    x.tofile(path("in.f32"))
    tool(*cmd_prefix, *extra)
    return np.fromfile(path("out.f32"), dtype=np.float32)


# ---------------------------------------------------------------- fp16
def test_fp16():
    h = np.arange(65536, dtype=np.uint16)
    h.tofile(path("h.u16"))
    tool("fp16-to-f32", path("h.u16"), path("h.f32"))
    got = np.fromfile(path("h.f32"), dtype=np.uint32)
    ref = h.view(np.float16).astype(np.float32).view(np.uint32)
    nan = np.isnan(h.view(np.float16))
    check(np.all(np.isnan(got[nan].view(np.float32))), "fp16->f32: NaN halves must give NaN")
    bad = np.nonzero(got[~nan] != ref[~nan])[0]
    check(bad.size == 0, "fp16->f32: %d of 65536 differ from numpy (first half 0x%04x)" % (
        bad.size, int(h[~nan][bad[0]]) if bad.size else 0))

    # float -> half inputs
    fin = h[~nan & ~np.isinf(h.view(np.float16))].view(np.float16).astype(np.float64)
    vals = np.sort(np.unique(fin))
    mids = (vals[:-1] + vals[1:]) / 2                     # exact ties (representable in float32)
    mids32 = mids.astype(np.float32)
    check(np.all(mids32.astype(np.float64) == mids), "test setup: ties not exact in float32")
    up = np.nextafter(mids32, np.float32(np.inf))
    dn = np.nextafter(mids32, np.float32(-np.inf))
    edges = np.array([65504, 65519.996, 65520, 65535, 1e6, np.inf, -np.inf, 2.0 ** -24, 2.0 ** -25,
                      2.0 ** -25 * 1.0000001, 2.0 ** -26, 2.0 ** -14, 2.0 ** -14 * (1 - 2 ** -11), 1e-30, 0.0, -0.0,
                      np.nan], dtype=np.float32)
    rnd = rng.integers(0, 2 ** 32, 200000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    xs = np.concatenate([fin.astype(np.float32), mids32, up, dn, edges, -edges, rnd]).astype(np.float32)
    xs.tofile(path("x.f32"))
    tool("f32-to-fp16", path("x.f32"), path("x.u16"))
    got = np.fromfile(path("x.u16"), dtype=np.uint16)
    with np.errstate(over="ignore", invalid="ignore"):
        ref = xs.astype(np.float16).view(np.uint16)
    xnan = np.isnan(xs)
    check(np.all(np.isnan(got[xnan].view(np.float16))), "f32->fp16: NaN must stay NaN")
    # the row conversion (mm_quantize_row F16: F16C at the avx2/avx512 levels) must agree as well
    tool("quantize", "f16", path("x.f32"), path("xr.u16"))
    gotr = np.fromfile(path("xr.u16"), dtype=np.uint16)
    check(np.all(np.isnan(gotr[xnan].view(np.float16))), "f32->fp16 rows: NaN must stay NaN")
    badr = np.nonzero(gotr[~xnan] != ref[~xnan])[0]
    check(badr.size == 0, "f32->fp16 rows: %d of %d differ from numpy" % (badr.size, xs.size))
    # and the row conversion back (mm_dequantize_row F16) over all halves
    h.tofile(path("h.raw"))
    tool("dequantize", "f16", 65536, path("h.raw"), path("hr.f32"))
    gotd = np.fromfile(path("hr.f32"), dtype=np.uint32)
    hn = np.isnan(h.view(np.float16))
    check(np.all(np.isnan(gotd[hn].view(np.float32))) and np.array_equal(gotd[~hn], h[~hn].view(np.float16).astype(np.float32).view(np.uint32)),
          "fp16 rows -> f32 differ from numpy")
    bad = np.nonzero(got[~xnan] != ref[~xnan])[0]
    check(bad.size == 0, "f32->fp16: %d of %d differ from numpy (first %r -> 0x%04x, numpy 0x%04x)" % (
        bad.size, xs.size, float(xs[~xnan][bad[0]]) if bad.size else 0, int(got[~xnan][bad[0]]) if bad.size else 0,
        int(ref[~xnan][bad[0]]) if bad.size else 0))


# ---------------------------------------------------------------- quantization
def test_quant():
    nb = 512
    x = (rng.standard_normal((nb, 32)) * rng.uniform(0.001, 50, (nb, 1))).astype(np.float32)
    x[0] = 0                                              # d = 0
    x[1] = 3.0                                            # all equal
    x[2, 5] = -40.0                                       # negative value of largest magnitude
    x[3] = -np.abs(x[3])                                  # all negative
    x[4] = rng.standard_normal(32).astype(np.float32) * 1e-6   # tiny d (fp16 subnormal scale)
    x[5, :] = np.linspace(-1, 1, 32)
    x[6, 3] = x[6, 7] = 9.0                               # two maxima of equal magnitude
    x[7, 3], x[7, 7] = -9.0, 9.0                          # equal magnitude, opposite signs: the first wins
    x = x.reshape(-1)
    x.tofile(path("q.f32"))
    for t in ("q8_0", "q4_0"):
        tool("quantize", t, path("q.f32"), path("q.raw"))
        got = open(path("q.raw"), "rb").read()
        ref = mmgguf.quantize(x, t)
        check(len(got) == len(ref), "%s quantize: %d bytes, mmgguf %d" % (t, len(got), len(ref)))
        if got != ref:
            bs = 34 if t == "q8_0" else 18
            nbad = sum(got[i:i + bs] != ref[i:i + bs] for i in range(0, len(ref), bs))
            first = next(i // bs for i in range(0, len(ref), bs) if got[i:i + bs] != ref[i:i + bs])
            check(False, "%s quantize: %d of %d blocks differ from mmgguf (first block %d)" % (t, nbad, nb, first))
        # dequantize random (valid) blocks: finite fp16 scales, any quant bytes
        bs = 34 if t == "q8_0" else 18
        raw = bytearray(rng.integers(0, 256, nb * bs, dtype=np.uint8).tobytes())
        for i in range(nb):
            d = np.float16(rng.uniform(-3, 3) * 10.0 ** rng.integers(-6, 3)).tobytes()
            raw[i * bs:i * bs + 2] = d
        open(path("d.raw"), "wb").write(bytes(raw))
        tool("dequantize", t, nb * 32, path("d.raw"), path("d.f32"))
        got = np.fromfile(path("d.f32"), dtype=np.float32)
        ref = mmgguf.dequantize(bytes(raw), t, nb * 32)
        check(np.array_equal(got, ref), "%s dequantize: %d values differ from mmgguf" % (t, int(np.sum(got != ref))))
    # f16 rows through quantize/dequantize
    tool("quantize", "f16", path("q.f32"), path("q.raw"))
    check(open(path("q.raw"), "rb").read() == x.astype("<f2").tobytes(), "f16 quantize differs from numpy")


# ---------------------------------------------------------------- ops
def test_ops():
    import torch
    F = torch.nn.functional
    x = np.concatenate([rng.standard_normal(4000) * 3, np.linspace(-12, 12, 1001), [0, -0.0, 1e-8, -1e-8, 30, -30,
                        80, -80, 1e4, -1e4]]).astype(np.float32)
    n = x.size
    t = torch.from_numpy(x.astype(np.float64))
    refs = {
        "gelu_tanh": F.gelu(t, approximate="tanh"),
        "gelu_erf": F.gelu(t),
        "quick_gelu": t * torch.sigmoid(1.702 * t),
    }
    # tolerance: about 2 float32 ulps of the result (2.4e-7 relative), plus 2e-7 absolute near 0
    for name, ref in refs.items():
        got = run_f32(("op", name, n, path("in.f32"), path("out.f32")), x).astype(np.float64)
        ref = ref.numpy()
        err = np.abs(got - ref)
        tol = 2e-7 + 2.4e-7 * np.abs(ref)
        print("%-10s max error %.3g, max error/tolerance %.3f" % (name, err.max(), (err / tol).max()))
        check(np.all(err <= tol) and np.all(np.isfinite(got)), "%s: max error %.3g (at x=%g)" % (
            name, err.max(), x[np.argmax(err / tol)]))

    # softmax per row: ordinary, large values, -inf masks, one-element rows, constant rows
    rows = [rng.standard_normal(257) * 5, np.array([1000.0, 999.0, -1000.0, 998.5] * 20),
            np.full(64, 1e4), np.array([88.0, 89.0, 90.0, 95.0] * 16), rng.standard_normal(64) * 200]
    masked = rng.standard_normal(64) * 3
    masked[::3] = -np.inf
    rows.append(masked)
    for r in rows:
        got = run_f32(("op", "softmax", r.size, path("in.f32"), path("out.f32")), r).astype(np.float64)
        ref = torch.softmax(torch.from_numpy(r.astype(np.float32).astype(np.float64)), 0).numpy()
        err = np.abs(got - ref)
        print("softmax row max %8g: max error %.3g" % (r.max(), err.max()))
        check(np.all(err <= 2e-7 + 2e-6 * ref) and abs(got.sum() - 1) < 1e-5,
              "softmax: max error %.3g (row max %g)" % (err.max(), r.max()))
    got = run_f32(("op", "softmax", 8, path("in.f32"), path("out.f32")), np.full(8, -np.inf))
    check(np.all(got == 0), "softmax of an all -inf row must be all zero (documented)")
    got = run_f32(("op", "softmax", 1, path("in.f32"), path("out.f32")), np.array([-3e4]))
    check(got[0] == 1.0, "softmax of one element must be 1")

    # layernorm: rows of varied width/offset (large mean stresses the variance), weight/bias or none
    for width, off, eps in ((768, 0.0, 1e-5), (100, 1000.0, 1e-5), (33, 0.0, 1e-6), (1, 5.0, 1e-5), (4096, -3.0, 1e-12)):
        X = (rng.standard_normal((3, width)) * 2 + off).astype(np.float32)
        W = rng.standard_normal(width).astype(np.float32)
        B = rng.standard_normal(width).astype(np.float32)
        for use_wb in (True, False):
            X.tofile(path("x.f32")); W.tofile(path("w.f32")); B.tofile(path("b.f32"))
            tool("layernorm", width, repr(eps), path("x.f32"), path("w.f32") if use_wb else "-",
                 path("b.f32") if use_wb else "-", path("out.f32"))
            got = np.fromfile(path("out.f32"), dtype=np.float32).reshape(3, width).astype(np.float64)
            ref = F.layer_norm(torch.from_numpy(X.astype(np.float64)), (width,),
                               torch.from_numpy(W.astype(np.float64)) if use_wb else None,
                               torch.from_numpy(B.astype(np.float64)) if use_wb else None, eps).numpy()
            # float32 statistics: error ~ eps32 * |mean|/std per element, plus result ulps
            scale = 1 + np.abs(X.astype(np.float64)).max() / max(X.std(), 1e-3)
            tol = 4e-7 * scale * (np.abs(W).max() if use_wb else 1.0) + 1e-6 * np.abs(ref)
            err = np.abs(got - ref).max()
            print("layernorm width %4d offset %6g wb=%d: max error %.3g (tol %.3g)" % (width, off, use_wb, err, np.max(tol)))
            check(err <= tol.max() if np.ndim(tol) else err <= tol, "layernorm width %d offset %g wb=%s: max error %.3g" % (
                width, off, use_wb, err))

    a = rng.standard_normal(1001).astype(np.float32)
    b = rng.standard_normal(1001).astype(np.float32)
    a.tofile(path("a.f32")); b.tofile(path("b.f32"))
    tool("add", path("a.f32"), path("b.f32"), path("out.f32"))
    check(np.array_equal(np.fromfile(path("out.f32"), dtype=np.float32), a + b), "add differs from numpy (exact)")
    got = run_f32(("scale", "-0.125", path("in.f32"), path("out.f32")), a)
    check(np.array_equal(got, a * np.float32(-0.125)), "scale differs from numpy (exact)")


# ---------------------------------------------------------------- matvec vs numpy
def test_matvec():
    for t in ("f32", "f16", "q8_0", "q4_0"):
        for rows, cols in ((37, 4096), (300, 96), (5, 32)):
            W = (rng.standard_normal((rows, cols)) * 0.5).astype(np.float32)
            x = (rng.standard_normal(cols) * 2).astype(np.float32)
            raw = b"".join(mmgguf.quantize(W[r], t) for r in range(rows))
            open(path("w.raw"), "wb").write(raw)
            x.tofile(path("x.f32"))
            level = tool("matvec", t, rows, cols, path("w.raw"), path("x.f32"), 2, path("y.f32")).strip()
            got = np.fromfile(path("y.f32"), dtype=np.float32).astype(np.float64)
            Wd = mmgguf.dequantize(raw, t, rows * cols).reshape(rows, cols).astype(np.float64)
            ref = Wd @ x.astype(np.float64)
            tol = 2e-6 * (np.abs(Wd) @ np.abs(x.astype(np.float64))) + 1e-6
            if level != "generic" and t in ("q8_0", "q4_0"):   # x quantized to 8 bits per block of 32
                dx = np.repeat(np.abs(x).reshape(-1, 32).max(axis=1) / 127.0, 32)
                tol = tol + 1.01 * (np.abs(Wd) @ (dx / 2))
            err = np.abs(got - ref)
            print("matvec %-5s %4dx%-4d (%s): max error/tolerance %.3f" % (t, rows, cols, level, (err / tol).max()))
            check(np.all(err <= tol), "matvec %s %dx%d (%s): max error %.3g, tol %.3g" % (
                t, rows, cols, level, err.max(), tol[np.argmax(err)]))


for fn in (test_fp16, test_quant, test_ops, test_matvec):
    fn()
if failures:
    print("%d failure(s)" % len(failures))
    sys.exit(1)
print("core numerics: all checks passed")
