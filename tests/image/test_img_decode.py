"""img_decode: the image loader (encoders/image.c) vs independent decoders.

1. tests/data PNGs: sha256 of our 8-bit pixels (round(v * 255)) == the sha256 in
   tests/data/images/decoded_reference_derived.json (two independent decoders agreed on it).
   Grey PNG: R == G == B and equal to the grey samples. Tolerance: exact.
2. tests/data JPEG: dimensions exact, per-channel mean within 1.0 of libjpeg's (stb's IDCT / chroma upsampling
   differ slightly from libjpeg; the reference file states this tolerance).
3. Synthetic files written by imgfiles.py from known pixels (PNG grey/GA/RGB/RGBA/16-bit, PPM 8/16-bit,
   PGM, BMP, TGA 24/32, GIF (first of two frames), Radiance HDR): exact expected floats from the documented conversions
   (v/255, v/65535, alpha over white), tolerance 1e-6; HDR: x^(1/2.2) clamped and rounded to 8 bits (decoded
   at 8 bits to bound memory), exact but for samples at a rounding boundary (one level, <= 1% of them).
4. skimage_truncated.jpg: a clear error (exit 3 with a message) or a 100x100 image, never a crash.
"""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import imgfiles  # noqa: E402
import testdata  # noqa: E402

TOOL = sys.argv[1]
TMP = os.environ.get("MMGPT_TEST_TMP", "/tmp")
fails = []


def decode(path):
    out = os.path.join(TMP, "img_decode_out.npy")
    if os.path.exists(out):
        os.remove(out)
    p = subprocess.run([TOOL, "decode", path, out], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        return None, p
    return np.load(out), p


def check(name, cond, msg=""):
    print(("ok   " if cond else "FAIL ") + name + (" " + msg if msg else ""))
    if not cond:
        fails.append(name)


def write(name, data):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


# ---------------------------------------------------------------- synthetic files
rng = np.random.default_rng(5)
h, w = 7, 5
rgb8 = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
grey8 = rng.integers(0, 256, (h, w), dtype=np.uint8)
alpha8 = rng.integers(0, 256, (h, w), dtype=np.uint8)
rgb16 = rng.integers(0, 65536, (h, w, 3), dtype=np.uint16)
f8 = rgb8 / 255.0
g8 = np.repeat((grey8 / 255.0)[:, :, None], 3, axis=2)
a8 = (alpha8 / 255.0)[:, :, None]
cases = [
    ("png_rgb.png", imgfiles.png(rgb8), f8),
    ("png_grey.png", imgfiles.png(grey8), g8),
    ("png_grey_alpha.png", imgfiles.png(np.dstack([grey8, alpha8])), a8 * g8 + (1 - a8)),
    ("png_rgba.png", imgfiles.png(np.dstack([rgb8, alpha8])), a8 * f8 + (1 - a8)),
    ("png_rgb16.png", imgfiles.png(rgb16, 16), rgb16 / 65535.0),
    ("ppm8.ppm", imgfiles.pnm(rgb8), f8),
    ("ppm16.ppm", imgfiles.pnm(rgb16, 65535), rgb16 / 65535.0),
    ("pgm8.pgm", imgfiles.pnm(grey8), g8),
    ("bmp24.bmp", imgfiles.bmp(rgb8), f8),
    ("tga24.tga", imgfiles.tga(rgb8), f8),
    ("tga32.tga", imgfiles.tga(np.dstack([rgb8, alpha8])), a8 * f8 + (1 - a8)),
    ("one_pixel.png", imgfiles.png(rgb8[:1, :1]), f8[:1, :1]),
]
for name, data, want in cases:
    got, p = decode(write("img_" + name, data))
    if got is None:
        check(name, False, "decode failed: " + p.stderr.strip())
        continue
    ok = got.shape == want.shape and np.abs(got - want).max() <= 1e-6
    check(name, ok, "shape %s max|diff| %.3g" % (got.shape, np.abs(got - want).max() if got.shape == want.shape else -1))

# GIF: first frame of two, 600 pixels (clear codes inside the LZW stream)
pal = rng.integers(0, 256, (256, 3), dtype=np.uint8)
fr1 = rng.integers(0, 256, (20, 30), dtype=np.uint8)
fr2 = rng.integers(0, 256, (20, 30), dtype=np.uint8)
got, p = decode(write("img_two_frames.gif", imgfiles.gif([fr1, fr2], pal)))
want = pal[fr1] / 255.0
check("gif first frame", got is not None and got.shape == want.shape and np.abs(got - want).max() <= 1e-6,
      p.stderr.strip() if got is None else "max|diff| %.3g" % np.abs(got - want).max())

rgbe = rng.integers(0, 256, (3, 4, 4), dtype=np.uint8)
rgbe[..., 3] = rng.integers(120, 132, (3, 4))
rgbe[0, 0, 3] = 0  # black pixel
lin = imgfiles.rgbe_to_float(rgbe)
# tone-mapped to 8 bits while decoding (mm_image.h): round(255 * clamp(x^(1/2.2), 0, 1)) / 255. stb_image
# computes the power in float: a value within float error of a rounding boundary may land one level off,
# so at most one level (1/255) anywhere, and exact for all but 1% of the samples.
want = np.floor(np.clip(np.where(lin > 0, lin, 0) ** (1 / 2.2) * 255 + 0.5, 0, 255)) / 255
got, p = decode(write("img_hdr.hdr", imgfiles.hdr_rgbe(rgbe)))
ok = got is not None and got.shape == want.shape
if ok:
    dif = np.abs(got - want)
    ok = dif.max() <= 1 / 255 + 1e-6 and (dif > 1e-6).mean() <= 0.01
check("hdr", ok, "" if got is None else "max|diff| %.3g, %d of %d samples off by a level" % (
    np.abs(got - want).max(), int((np.abs(got - want) > 1e-6).sum()), want.size))

# ---------------------------------------------------------------- tests/data (a missing file fails)
meta = json.load(open(testdata.path("images", "decoded_reference_derived.json")))
for name, m in meta["png"].items():
    got, p = decode(testdata.path("images", name))
    if got is None:
        check(name, False, p.stderr.strip())
        continue
    px = np.round(got * 255.0).astype(np.uint8)
    if m["channels"] == 1:
        same = np.array_equal(px[:, :, 0], px[:, :, 1]) and np.array_equal(px[:, :, 0], px[:, :, 2])
        check(name + " grey R=G=B", same)
        px = px[:, :, :1]
    dims = (px.shape[1], px.shape[0]) == (m["width"], m["height"])
    sha = hashlib.sha256(np.ascontiguousarray(px).tobytes()).hexdigest()
    check(name, dims and sha == m["sha256_of_decoded_pixels"],
          "%dx%d sha %s" % (px.shape[1], px.shape[0], "match" if sha == m["sha256_of_decoded_pixels"] else "DIFFERS"))
m = meta["jpeg"]["skimage_rocket.jpg"]
got, p = decode(testdata.path("images", "skimage_rocket.jpg"))
if got is None:
    check("rocket.jpg", False, p.stderr.strip())
else:
    mean = (got * 255.0).reshape(-1, 3).mean(axis=0)
    d = np.abs(mean - np.array(m["mean_rgb_libjpeg"])).max()
    check("rocket.jpg", (got.shape[1], got.shape[0]) == (m["width"], m["height"]) and d <= 1.0,
          "mean %s vs libjpeg %s (|diff| %.3f <= 1.0)" % (np.round(mean, 3), m["mean_rgb_libjpeg"], d))
got, p = decode(testdata.path("images", "skimage_truncated.jpg"))
if got is None:
    check("truncated.jpg clear error", p.returncode == 3 and "skimage_truncated.jpg" in p.stderr,
          "rc %d: %s" % (p.returncode, p.stderr.strip()))
else:
    check("truncated.jpg partial image", got.shape == (100, 100, 3))

if fails:
    print("FAILED:", ", ".join(fails))
    sys.exit(1)
print("all decode checks passed")
