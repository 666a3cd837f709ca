"""ref_quants.py - numpy dequantization of the GGUF block types, written from ggml's block layouts
(ggml-common.h / ggml-quants.c descriptions), independent of mmgpt's C code.

    dequantize(raw, ttype, n) -> float32 array of n values
    BLOCK[ttype] = (elements per block, bytes per block)

Every value is computed with float32 operations, each rounded to float32, in the order of the C formulas
(mm_core.h): e.g. Q4_K  (d * sc) * q - dmin * m,  Q6_K  (d * sc) * (q - 32),  Q4_1  q * d + m.
Layouts (little-endian; "f16" = IEEE half, "bf16" = top half of an f32):
  bf16  1 x u16
  q4_0  32: f16 d, u8 qs[16]                x = (q - 8) d; q[j] = qs[j] & 15, q[j + 16] = qs[j] >> 4
  q4_1  32: f16 d, f16 m, u8 qs[16]         x = q d + m
  q5_0  32: f16 d, u8 qh[4], u8 qs[16]      x = (q - 16) d; q[j] |= bit j of qh (u32) << 4
  q5_1  32: f16 d, f16 m, u8 qh[4], qs[16]  x = q d + m
  q8_0  32: f16 d, i8 qs[32]                x = q d
  q4_k 256: f16 d, f16 dmin, u8 scales[12], u8 qs[128]
            8 sub-blocks of 32; sub-block 2c and 2c + 1 are the low and high nibbles of qs[32c : 32c + 32];
            x = (d * sc[j]) * q - (dmin * m[j]); 6-bit sc/m: j < 4: sc = s[j] & 63, m = s[j + 4] & 63;
            j >= 4: sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4, m = (s[j + 4] >> 4) | (s[j] >> 6) << 4
  q5_k 256: f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]
            as q4_k, plus bit (j) of qh[l] is bit 4 of element l of sub-block j
  q6_k 256: u8 ql[128], u8 qh[64], i8 scales[16], f16 d
            per half h (128 elements): element 32k + l (k < 4, l < 32) has low bits from
            ql[64h + 32(k & 1) + l] (low nibble for k < 2, else high) and high bits (qh[32h + l] >> 2k) & 3;
            x = (d * scales[e // 16]) * (q - 32)
"""
import numpy as np

BLOCK = {
    "f32": (1, 4), "f16": (1, 2), "bf16": (1, 2),
    "q4_0": (32, 18), "q4_1": (32, 20), "q5_0": (32, 22), "q5_1": (32, 24), "q8_0": (32, 34),
    "q4_k": (256, 144), "q5_k": (256, 176), "q6_k": (256, 210),
}

F = np.float32


def _f16(a):
    return np.asarray(a, dtype="<u2").view("<f2").astype(np.float32)


def _blocks(raw, n, t):
    qk, nbytes = BLOCK[t]
    if n % qk:
        raise ValueError("%s: %d elements is not a multiple of %d" % (t, n, qk))
    nb = n // qk
    b = np.frombuffer(bytes(raw), dtype=np.uint8, count=nb * nbytes).reshape(nb, nbytes)
    return b, nb


def _u16(b, off):
    return b[:, off].astype(np.uint16) | (b[:, off + 1].astype(np.uint16) << 8)


def _nibbles32(qs):
    """[nb, 16] bytes -> [nb, 32] codes: low nibbles are elements 0..15, high 16..31"""
    return np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.int32)


def _bits32(qh):
    """[nb, 4] bytes (little-endian u32) -> [nb, 32] bits, bit e of the u32 at column e"""
    e = np.arange(32)
    return ((qh[:, e // 8] >> (e % 8)) & 1).astype(np.int32)


def _k_scales(s):
    """[nb, 12] packed bytes -> sc [nb, 8], m [nb, 8] (ints 0..63)"""
    s = s.astype(np.int32)
    sc = np.zeros((s.shape[0], 8), np.int32)
    m = np.zeros((s.shape[0], 8), np.int32)
    for j in range(8):
        if j < 4:
            sc[:, j] = s[:, j] & 63
            m[:, j] = s[:, j + 4] & 63
        else:
            sc[:, j] = (s[:, j + 4] & 15) | ((s[:, j - 4] >> 6) << 4)
            m[:, j] = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
    return sc, m


def _k45(b, nb, q5):
    d = _f16(_u16(b, 0))
    dmin = _f16(_u16(b, 2))
    sc, m = _k_scales(b[:, 4:16])
    qh = b[:, 16:48] if q5 else None
    qs = b[:, 48:176] if q5 else b[:, 16:144]
    out = np.empty((nb, 256), np.float32)
    for j in range(8):
        c = j // 2
        chunk = qs[:, 32 * c: 32 * c + 32].astype(np.int32)
        q = (chunk >> 4) if j % 2 else (chunk & 15)
        if q5:
            q = q | (((qh.astype(np.int32) >> j) & 1) << 4)
        dj = (d * sc[:, j].astype(F)).astype(F)
        mj = (dmin * m[:, j].astype(F)).astype(F)
        out[:, 32 * j: 32 * j + 32] = (dj[:, None] * q.astype(F)).astype(F) - mj[:, None]
    return out


def _q6k(b, nb):
    ql = b[:, 0:128].astype(np.int32)
    qh = b[:, 128:192].astype(np.int32)
    sc = b[:, 192:208].view(np.int8).astype(F)
    d = _f16(_u16(b, 208))
    q = np.empty((nb, 256), np.int32)
    for h in range(2):
        for k in range(4):
            lo = ql[:, 64 * h + 32 * (k & 1): 64 * h + 32 * (k & 1) + 32]
            lo = (lo & 15) if k < 2 else (lo >> 4)
            hi = (qh[:, 32 * h: 32 * h + 32] >> (2 * k)) & 3
            q[:, 128 * h + 32 * k: 128 * h + 32 * k + 32] = lo | (hi << 4)
    e = np.arange(256)
    f = (d[:, None] * sc[:, e // 16]).astype(F)
    return (f * (q - 32).astype(F)).astype(F)


def dequantize(raw, ttype, n):
    t = ttype.lower()
    if t == "f32":
        return np.frombuffer(bytes(raw), dtype="<f4", count=n).astype(np.float32)
    if t == "f16":
        return np.frombuffer(bytes(raw), dtype="<f2", count=n).astype(np.float32)
    if t == "bf16":
        u = np.frombuffer(bytes(raw), dtype="<u2", count=n).astype(np.uint32) << 16
        return u.view(np.float32)
    b, nb = _blocks(raw, n, t)
    if t == "q8_0":
        d = _f16(_u16(b, 0))
        return (b[:, 2:34].view(np.int8).astype(F) * d[:, None]).astype(F).reshape(-1)
    if t == "q4_0":
        d = _f16(_u16(b, 0))
        return ((_nibbles32(b[:, 2:18]) - 8).astype(F) * d[:, None]).astype(F).reshape(-1)
    if t == "q4_1":
        d, m = _f16(_u16(b, 0)), _f16(_u16(b, 2))
        return ((_nibbles32(b[:, 4:20]).astype(F) * d[:, None]).astype(F) + m[:, None]).astype(F).reshape(-1)
    if t == "q5_0":
        d = _f16(_u16(b, 0))
        q = _nibbles32(b[:, 6:22]) | (_bits32(b[:, 2:6]) << 4)
        return ((q - 16).astype(F) * d[:, None]).astype(F).reshape(-1)
    if t == "q5_1":
        d, m = _f16(_u16(b, 0)), _f16(_u16(b, 2))
        q = _nibbles32(b[:, 8:24]) | (_bits32(b[:, 4:8]) << 4)
        return ((q.astype(F) * d[:, None]).astype(F) + m[:, None]).astype(F).reshape(-1)
    if t == "q4_k":
        return _k45(b, nb, False).reshape(-1)
    if t == "q5_k":
        return _k45(b, nb, True).reshape(-1)
    if t == "q6_k":
        return _q6k(b, nb).reshape(-1)
    raise ValueError("dequantize: unknown type %r" % ttype)
