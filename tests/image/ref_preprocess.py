"""ref_preprocess.py - numpy reference of mmgpt's image preprocessing (independent of encoders/image.c).

Written from the documented semantics (include/mm_image.h) and from stb_image_resize's published filter
maths (v0.97 `stbir__calculate_filters`: Catmull-Rom kernel, per-output normalisation, edge clamp):

    squash: resize w x h -> S x S
    crop:   torchvision Resize(S) (short side S, long side int(S*long/short)) on the FULL image, then
            CenterCrop(S) with offsets int(round((L' - S) / 2)) (Python round: half to even)
    pad:    LLaVA expand2square: a real M x M canvas (M = max(w, h)) filled with the mean colour, the image
            pasted at ((M-w)//2, (M-h)//2), then resize M x M -> S x S

The C code computes crop and pad without building the full intermediate (subpixel offsets, partial canvas);
this module builds it, so agreement checks those shortcuts too.

    import ref_preprocess as rp
    chw = rp.preprocess(img_hwc_float01, S, "crop", mean, std)   # -> [3, S, S] float64
"""
import math

import numpy as np

F32 = np.float32


def catmull_rom(x):
    x = np.abs(np.asarray(x, dtype=np.float64))
    out = np.zeros_like(x)
    a = x < 1.0
    b = (x >= 1.0) & (x < 2.0)
    out[a] = 1 - x[a] * x[a] * (2.5 - 1.5 * x[a])
    out[b] = 2 - x[b] * (4 + x[b] * (0.5 * x[b] - 2.5))
    return out


def weights(in_size, out_size, scale, shift=0.0):
    """Matrix W [out_size, in_size]: out = W @ in along one axis (edge clamp folded in).

    Output pixel n samples input coordinate (n + 0.5 + shift) / scale (pixel centres at i + 0.5).
    Upsampling (scale > 1): Catmull-Rom of radius 2 input pixels, weights normalised to sum 1.
    Downsampling: the kernel is stretched by 1/scale (antialiasing): weight(n, i) = K(scale * distance) * scale,
    for input pixels i in [-margin, in_size + margin), then each output's weights are normalised to sum 1.
    Coordinates are computed in float32 like stb does."""
    scale = F32(scale)
    shift = F32(shift)
    W = np.zeros((out_size, in_size), dtype=np.float64)
    if scale > 1:
        radius = F32(2.0) * scale
        for n in range(out_size):
            c = F32(n) + F32(0.5)
            in_lo = (c - radius + shift) / scale
            in_hi = (c + radius + shift) / scale
            in_c = (c + shift) / scale
            first = int(math.floor(in_lo + F32(0.5)))
            last = int(math.floor(in_hi - F32(0.5)))
            idx = np.arange(first, last + 1)
            k = catmull_rom(in_c - (idx.astype(np.float32) + F32(0.5)))
            k = k / k.sum()
            np.add.at(W[n], np.clip(idx, 0, in_size - 1), k)
        return W
    r_in = F32(2.0) / scale
    margin = int(math.ceil(2.0 * 2.0 / float(scale))) // 2
    contrib = np.zeros((out_size, in_size + 2 * margin), dtype=np.float64)
    for j in range(in_size + 2 * margin):
        i = j - margin
        c = F32(i) + F32(0.5)
        out_lo = (c - r_in) * scale - shift
        out_hi = (c + r_in) * scale - shift
        out_c = c * scale - shift
        first = int(math.floor(out_lo + F32(0.5)))
        last = int(math.floor(out_hi - F32(0.5)))
        for o in range(max(first, 0), min(last, out_size - 1) + 1):
            contrib[o, j] = catmull_rom(F32(o) + F32(0.5) - out_c) * float(scale)
    contrib /= contrib.sum(axis=1, keepdims=True)
    src = np.clip(np.arange(in_size + 2 * margin) - margin, 0, in_size - 1)
    for j in range(in_size + 2 * margin):
        W[:, src[j]] += contrib[:, j]
    return W


def resize(img, out_w, out_h, sx=None, sy=None):
    """img [h, w, C] float -> [out_h, out_w, C] (separable, float64)."""
    h, w = img.shape[:2]
    sx = out_w / w if sx is None else sx
    sy = out_h / h if sy is None else sy
    Wx = weights(w, out_w, sx)
    Wy = weights(h, out_h, sy)
    x = img.astype(np.float64)
    tmp = np.einsum("ox,yxc->yoc", Wx, x)
    return np.einsum("py,yoc->poc", Wy, tmp)


def resize_square(img, S, mode, mean):
    h, w = img.shape[:2]
    if mode == "squash":
        return resize(img, S, S)
    if mode == "crop":
        if w <= h:
            nw, nh = S, int(S * h / w)
        else:
            nw, nh = int(S * w / h), S
        full = resize(img, nw, nh)
        top = int(round((nh - S) / 2.0))
        left = int(round((nw - S) / 2.0))
        return full[top:top + S, left:left + S]
    if mode == "pad":
        M = max(w, h)
        canvas = np.empty((M, M, 3), dtype=np.float64)
        canvas[:, :] = np.asarray(mean, dtype=np.float64)
        y0, x0 = (M - h) // 2, (M - w) // 2
        canvas[y0:y0 + h, x0:x0 + w] = img
        return resize(canvas, S, S)
    raise ValueError(mode)


def preprocess(img, S, mode, mean, std):
    """img [h, w, 3] in [0, 1] -> [3, S, S] normalised ((v - mean) / std)."""
    r = resize_square(img, S, mode, np.asarray(mean, dtype=np.float32))
    m = np.asarray(mean, dtype=np.float32).astype(np.float64)
    s = np.asarray(std, dtype=np.float32).astype(np.float64)
    return ((r - m) / s).transpose(2, 0, 1)
