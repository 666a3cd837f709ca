"""core_quants: the GGUF weight types BF16, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K (and Q4_0, Q8_0) in core.

1. dequantize (mm_dequantize_row through core_tool, at the kernel level of MMGPT_KERNEL) vs ref_quants.py
   (numpy, written from the block layouts): bit-identical for every non-NaN value, NaN exactly where the
   reference has NaN. Blocks: random bytes with random finite fp16 scales; edge scales (0, -0, +-65504,
   subnormals, +-inf, NaN); all code bits 0 / all 1; negative mins; Q6_K scales -128 and 127; all 65536
   bf16 patterns; a row of many blocks (the vector loops and their tails).
2. quantize -> dequantize error bounds on several distributions (gaussian, uniform, outliers, all positive,
   constant, zero, tiny and large magnitudes):
   q4_1 / q5_1: every element within step / 2 of x (step = (max - min) / nmax of its block), plus the fp16
     rounding of d and m (2^-11 relative, 2^-24 absolute);
   q5_0 (like q4_0): within |d| (the largest positive code clips to 15 d instead of 16 d), plus fp16 rounding;
   bf16: nearest even of the f32 (numpy's exact rounding of float32 to the top 16 bits);
   q4_k / q5_k / q6_k (scales searched, no closed bound per element): RMS error / RMS(x) below the bounds
     of QK_RMS_BOUND (about 1.25x what llama.cpp's algorithm gives on gaussian data, measured here), and
     every element within QK_MAX_STEPS of its super-block's largest sub-block step (d * 63 / nmax or
     |d| * 128 / 32 for q6_k): catches codes or scales packed in the wrong place, which give errors of
     whole steps;
   zero rows are reproduced exactly by every type, constant rows by q4_1, q5_1 (m) and q6_k (a constant is its own
   largest value); q4_k / q5_k store a constant as -dmin * 63 (dmin rounded to fp16, as llama.cpp).
3. Q4_0 blocks where a fused multiply-add would give another code are quantized as ggml's reference code
   (products and sums rounded to f32 one at a time; tools/mmgguf.py's numpy quantizer).
4. row sizes: core_tool refuses a K-quant row that is not a multiple of 256.
usage: test_core_quants.py CORE_TOOL
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ref_quants  # noqa: E402

TOOL = sys.argv[1]
TMP = tempfile.mkdtemp(dir=os.environ.get("MMGPT_TEST_TMP"))
LEVEL = os.environ.get("MMGPT_KERNEL", "best")
failures = []
rng = np.random.default_rng(16)

TYPES = ["q4_0", "q8_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k"]
F16_FIELDS = {   # byte offsets of the fp16 fields in a block
    "q4_0": [0], "q8_0": [0], "q4_1": [0, 2], "q5_0": [0], "q5_1": [0, 2],
    "q4_k": [0, 2], "q5_k": [0, 2], "q6_k": [208],
}
EDGE_HALVES = [0x0000, 0x8000, 0x7bff, 0xfbff, 0x0001, 0x8001, 0x03ff, 0x0400, 0x3c00, 0xbc00, 0x7c00, 0xfc00,
               0x7e00, 0x3555]


def check(ok, msg):
    if not ok:
        failures.append(msg)
        print("FAIL:", msg)


def tool(*args, expect_rc=0):
    p = subprocess.run([TOOL] + [str(a) for a in args], capture_output=True, text=True)
    if p.returncode != expect_rc:
        raise RuntimeError("core_tool %s: rc %d (expected %d) %s" % (args[0], p.returncode, expect_rc, p.stderr))
    return p


def path(name):
    return os.path.join(TMP, name)


def c_dequantize(t, raw, n):
    with open(path("d.raw"), "wb") as f:
        f.write(raw)
    tool("dequantize", t, n, path("d.raw"), path("d.f32"))
    return np.fromfile(path("d.f32"), dtype="<f4")


def c_quantize(t, x):
    np.asarray(x, dtype="<f4").tofile(path("q.f32"))
    tool("quantize", t, path("q.f32"), path("q.raw"))
    return open(path("q.raw"), "rb").read()


def same_values(got, ref):
    """bit-identical non-NaN values, NaN at the same places"""
    if got.shape != ref.shape:
        return False, "shape %s vs %s" % (got.shape, ref.shape)
    gn, rn = np.isnan(got), np.isnan(ref)
    if not np.array_equal(gn, rn):
        return False, "NaN at %d places vs %d in the reference" % (int(gn.sum()), int(rn.sum()))
    gb, rb = got.view(np.uint32)[~gn], ref.view(np.uint32)[~rn]
    bad = np.nonzero(gb != rb)[0]
    if bad.size:
        i = int(np.nonzero(~gn)[0][bad[0]])
        return False, "%d values differ, first at %d: %r vs %r" % (bad.size, i, float(got[i]), float(ref[i]))
    return True, ""


# ---------------------------------------------------------------- 1. dequantize vs the numpy reference
def random_halves(k):
    """finite fp16 bit patterns of all magnitudes (exponent field 0..30)"""
    h = rng.integers(0, 1 << 16, size=k, dtype=np.uint32).astype(np.uint16)
    exp = (h >> 10) & 31
    h[exp == 31] &= 0xbfff   # inf/nan -> finite
    return h


def make_blocks(t, nb, fill=None, halves=None):
    qk, bb = ref_quants.BLOCK[t]
    if fill is None:
        raw = rng.integers(0, 256, size=(nb, bb), dtype=np.uint16).astype(np.uint8)
    else:
        raw = np.full((nb, bb), fill, np.uint8)
    for off in F16_FIELDS[t]:
        h = random_halves(nb) if halves is None else np.resize(np.asarray(halves, np.uint16), nb)
        raw[:, off] = h & 0xff
        raw[:, off + 1] = h >> 8
    return raw


def test_dequantize():
    count = 0
    for t in TYPES:
        qk, bb = ref_quants.BLOCK[t]
        cases = [
            ("random", make_blocks(t, 300)),
            ("edge scales", make_blocks(t, 3 * len(EDGE_HALVES), halves=EDGE_HALVES * 3)),
            ("codes 0", make_blocks(t, 8, fill=0x00)),
            ("codes all ones", make_blocks(t, 8, fill=0xff)),
            ("all bytes 0xff", np.full((2, bb), 0xff, np.uint8)),
            ("all bytes 0", np.zeros((2, bb), np.uint8)),
        ]
        if t in ("q4_1", "q5_1", "q4_k", "q5_k"):   # negative mins / dmin (field 2)
            b = make_blocks(t, 64)
            h = random_halves(64) | 0x8000
            b[:, 2], b[:, 3] = h & 0xff, h >> 8
            cases.append(("negative min", b))
        if t == "q6_k":
            b = make_blocks(t, 8)
            b[:, 192:208] = np.array([0x80, 0x7f] * 8, np.uint8)
            cases.append(("scales -128 / 127", b))
        for name, blocks in cases:
            n = blocks.shape[0] * qk
            raw = blocks.tobytes()
            got = c_dequantize(t, raw, n)
            with np.errstate(all="ignore"):
                ref = ref_quants.dequantize(raw, t, n)
            ok, why = same_values(got, ref)
            check(ok, "%s dequantize (%s, level %s): %s" % (t, name, LEVEL, why))
            count += n
    # bf16: every pattern
    pat = np.arange(65536, dtype=np.uint16)
    got = c_dequantize("bf16", pat.tobytes(), 65536)
    ok, why = same_values(got, ref_quants.dequantize(pat.tobytes(), "bf16", 65536))
    check(ok, "bf16 dequantize (all patterns): %s" % why)
    count += 65536
    print("dequantize: %d values of %d types identical to the numpy reference (level %s)" % (count, len(TYPES) + 1, LEVEL))


# ---------------------------------------------------------------- 2. quantize -> dequantize error bounds
NMAX = {"q4_1": 15, "q5_1": 31, "q4_k": 15, "q5_k": 31}
QK_RMS_BOUND = {"q4_k": 0.11, "q5_k": 0.055, "q6_k": 0.027}   # RMS error / RMS(x), gaussian rows
QK_MAX_STEPS = 2.0


def distributions(n):
    g = rng.standard_normal(n).astype(np.float32)
    out = [("gaussian", g), ("uniform", rng.uniform(-3, 1, n).astype(np.float32))]
    o = g.copy()
    o[rng.integers(0, n, n // 50)] *= 40
    out.append(("outliers", o))
    out.append(("positive", (np.abs(g) + 2).astype(np.float32)))
    out.append(("constant", np.full(n, -1.25, np.float32)))
    out.append(("zero", np.zeros(n, np.float32)))
    out.append(("tiny", (g * 1e-6).astype(np.float32)))
    out.append(("large", (g * 3000).astype(np.float32)))
    # blocks of different magnitudes side by side (sub-block scales far apart)
    s = np.repeat(np.float32(10.0) ** rng.uniform(-2, 1, n // 16), 16).astype(np.float32)
    out.append(("mixed scales", (g * s).astype(np.float32)))
    return out


def f16(v):
    return np.asarray(v, np.float32).astype(np.float16).astype(np.float32)


def test_quantize():
    n = 256 * (16 if os.environ.get("MMGPT_SANITIZE_RUN") == "1" else 64)
    for t in ["bf16", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k"]:
        for name, x in distributions(n):
            raw = c_quantize(t, x)
            check(len(raw) == n // ref_quants.BLOCK[t][0] * ref_quants.BLOCK[t][1], "%s %s: %d bytes" % (t, name, len(raw)))
            y = ref_quants.dequantize(raw, t, n)
            err = np.abs(y.astype(np.float64) - x)
            what = "%s quantize %s" % (t, name)
            if not np.all(np.isfinite(y)):
                check(False, "%s: non-finite values" % what)
                continue
            if t == "bf16":
                u = x.view(np.uint32).astype(np.uint64)
                want = ((u + 0x7fff + ((u >> 16) & 1)) >> 16).astype(np.uint16)
                check(np.array_equal(np.frombuffer(raw, "<u2"), want), "%s: not nearest even" % what)
                continue
            if name == "zero" or (name == "constant" and t in ("q4_1", "q5_1", "q6_k")):
                check(np.array_equal(y, x), "%s: not exact (max err %g)" % (what, err.max()))
            if t in ("q4_1", "q5_1"):
                b = x.reshape(-1, 32).astype(np.float64)
                lo, hi = b.min(1), b.max(1)
                step = (hi - lo) / NMAX[t]
                tol = 0.5 * step * (1 + 1e-5) + 2.0 ** -11 * (np.abs(lo) + NMAX[t] * step) + 2.0 ** -24 * (NMAX[t] + 1)
                e = err.reshape(-1, 32).max(1)
                check(np.all(e <= tol), "%s: block error %g > bound %g" % (what, (e - tol).max() + tol[np.argmax(e - tol)],
                                                                          tol[np.argmax(e - tol)]))
            elif t == "q5_0":
                b = x.reshape(-1, 32).astype(np.float64)
                d = np.abs(b).max(1) / 16
                tol = d * (1 + 2.0 ** -11 * 17) + 2.0 ** -24 * 17
                e = err.reshape(-1, 32).max(1)
                check(np.all(e <= tol), "%s: block error %g > bound" % (what, e.max()))
            else:
                blk = np.frombuffer(raw, np.uint8).reshape(-1, ref_quants.BLOCK[t][1])
                if t == "q6_k":
                    d = np.abs(ref_quants._f16(ref_quants._u16(blk, 208)).astype(np.float64))
                    big = d * 128   # the largest sub-block step is |d| * 128 (its int8 scale -128)
                else:
                    d = ref_quants._f16(ref_quants._u16(blk, 0)).astype(np.float64)
                    dmin = ref_quants._f16(ref_quants._u16(blk, 2)).astype(np.float64)
                    big = d * 63 + dmin * 63 * 2.0 ** -10   # plus dmin's fp16 rounding (a constant row: d = 0)
                # floor: a super-block whose d underflows fp16 (|x| below ~1e-5) cannot be scaled at all
                floor = {"q4_k": 15, "q5_k": 31, "q6_k": 32}[t] * 128 * 2.0 ** -24
                e = err.reshape(-1, 256).max(1)
                check(np.all(e <= QK_MAX_STEPS * big + floor), "%s: element error %g > %g steps of the super-block"
                      % (what, float((e / np.maximum(big, 1e-30)).max()), QK_MAX_STEPS))
                if name == "gaussian":
                    rel = np.sqrt(np.mean(err ** 2) / np.mean(x.astype(np.float64) ** 2))
                    check(rel <= QK_RMS_BOUND[t], "%s: relative RMS error %.4f > %.4f" % (what, rel, QK_RMS_BOUND[t]))
                    print("  %s gaussian: relative RMS error %.4f (bound %.3f)" % (t, rel, QK_RMS_BOUND[t]))
    print("quantize: error bounds checked for 7 types x 9 distributions")


def test_unfused():
    """Quantizers round each product and sum to f32 as llama.cpp's reference code reads (no fused multiply-add):
    Q4_0 blocks where fma(x, 1/d, 8.5) truncates to another code than (x * (1/d)) + 8.5 (found by search)."""
    sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
    import mmgguf
    cases = [(0.8340173363685608, -0.6776390075683594), (0.6315059661865234, -0.197345569729805),
             (1.8734698295593262, 1.756377935409546)]
    x = np.zeros(32 * len(cases), np.float32)
    for k, (mx, v) in enumerate(cases):
        x[32 * k], x[32 * k + 1] = mx, v   # mx: the largest magnitude (d = mx / -8)
    got = c_quantize("q4_0", x)
    check(got == mmgguf.quantize(x, "q4_0"), "q4_0 quantize of blocks where a fused multiply-add changes a code")


def test_row_sizes():
    np.zeros(256 + 32, np.float32).tofile(path("odd.f32"))
    for t in ("q4_k", "q5_k", "q6_k"):
        p = tool("quantize", t, path("odd.f32"), path("odd.raw"), expect_rc=2)
        check(p.returncode == 2, "%s: a row of 288 accepted" % t)


test_dequantize()
test_quantize()
test_unfused()
test_row_sizes()
if failures:
    print("%d failure(s)" % len(failures))
    sys.exit(1)
print("core_quants: all checks passed")
