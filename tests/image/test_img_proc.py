"""img_proc: the model image processors (mm_image_process: LLaVA-1.5, SmolVLM/Idefics3) and their steps against
PIL 9.4 + numpy (ref_imgproc.py, written from the processors' code; docs/IMAGE_PROCESSORS.md).

Steps and tolerances (8-bit values unless said):
  resize   mm_image_resize_rgb8 vs PIL Image.resize, bilinear/bicubic/lanczos, down and up, odd sizes:  exact (0)
  rgb8     mm_image_to_rgb8 vs PIL convert("RGB") / Idefics3's alpha_composite on white, same PNG bytes:
           exact (0); 16-bit grey: vs v >> 8 (PIL 9.4 clips "I" to 255 instead, see the docs)
  decode   JPEG/CMYK JPEG: stb_image vs libjpeg (PIL): different IDCT/upsampling; figure printed, bound 12 levels
           max and 1.0 mean (a decoder difference, not a processor step: the steps below start from our decode)
  exif     all 8 orientations (JPEGs the test writes): exact vs ImageOps.exif_transpose of the same samples
  llava    whole processor, float32 output: max |diff| <= 1e-6 (same 8-bit image, same float32 formula)
  idefics3 whole processor (rows, cols, every tile + global): max |diff| <= 1e-6; max_tiles; hostile sizes
Exit 1 on any mismatch."""
import io
import os
import subprocess
import sys

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import imgfiles  # noqa: E402
import ref_imgproc as ref  # noqa: E402
import testdata  # noqa: E402

TOOL = sys.argv[1]
TMP = os.environ.get("MMGPT_TEST_TMP", "/tmp")
quick = os.environ.get("MMGPT_SANITIZE_RUN") == "1"
ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "assets", "examples")
fails = []
figures = {}


def check(name, ok, msg):
    print("%s %s: %s" % ("ok  " if ok else "FAIL", name, msg))
    if not ok:
        fails.append(name)


def tool(args, expect_ok=True):
    p = subprocess.run([TOOL] + args, capture_output=True, text=True, timeout=300)
    if expect_ok and p.returncode != 0:
        raise RuntimeError(" ".join(args) + ": " + p.stderr.strip())
    return p


def tmp(name):
    return os.path.join(TMP, "img_proc_" + name)


def write(name, data):
    p = tmp(name)
    open(p, "wb").write(data)
    return p


def c_rgb8(path, alpha="drop"):
    tool(["rgb8", path, tmp("rgb8.npy"), alpha])
    return np.load(tmp("rgb8.npy")).astype(np.uint8)


def c_resize(a, ow, oh, f):
    np.save(tmp("rs_in.npy"), a.astype(np.float32))
    tool(["resize", tmp("rs_in.npy"), tmp("rs_out.npy"), str(ow), str(oh), f])
    return np.load(tmp("rs_out.npy")).astype(np.uint8)


def c_process(path, kind, S, L=0, max_tiles=0):
    p = tool(["process", path, tmp("proc.npy"), kind, str(S), str(L), str(max_tiles)])
    r, c = (int(v) for v in p.stdout.split())
    return np.load(tmp("proc.npy")), r, c


def record(step, d):
    figures[step] = max(figures.get(step, 0), d)


def png_of(im):
    b = io.BytesIO()
    im.save(b, "PNG")
    return b.getvalue()


# ---------------------------------------------------------------- pictures
photos = [testdata.path("images", n) for n in ("skimage_astronaut.png", "skimage_chelsea.png", "skimage_coffee.png",
                                                 "skimage_camera.png", "skimage_rocket.jpg")]
photos += [os.path.join(ASSETS, n) for n in ("shapes1.png", "shapes3.jpg")]
rng = np.random.default_rng(17)
smooth = (np.add.outer(np.arange(37), np.arange(61)) * 2 % 256).astype(np.uint8)
odd = {"1x1": rng.integers(0, 256, (1, 1, 3)), "1x4000": rng.integers(0, 256, (4000, 1, 3)),
       "4000x1": rng.integers(0, 256, (1, 4000, 3)), "noise_61x37": rng.integers(0, 256, (37, 61, 3)),
       "smooth_61x37": np.stack([smooth, smooth.T[:37, :61] if False else smooth[::-1], smooth[:, ::-1]], -1)}
odd_paths = {k: write(k + ".png", imgfiles.png(v.astype(np.uint8))) for k, v in odd.items()}

# ---------------------------------------------------------------- 1. resize vs PIL (same 8-bit input)
FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}
cases = []
for p in photos[:3] + [photos[-1]]:
    a = np.asarray(Image.open(p).convert("RGB"))
    h, w = a.shape[:2]
    cases += [(os.path.basename(p), a, s) for s in ((336, 336), (w * 3 + 1, h * 2 - 1), (w // 5, h // 7 + 1))]
for k in ("1x1", "1x4000", "4000x1", "noise_61x37", "smooth_61x37"):
    a = odd[k].astype(np.uint8)
    cases += [(k, a, s) for s in ((1, 1), (336, 336), (5, 3), (512, 2048))]
if quick:
    cases = cases[:3] + cases[-4:]
for name, a, (ow, oh) in cases:
    for f, pf in FILTERS.items():
        want = np.asarray(Image.fromarray(a).resize((ow, oh), pf)).astype(np.int32)
        got = c_resize(a, ow, oh, f).astype(np.int32)
        d = int(np.abs(got - want).max()) if got.shape == want.shape else 999
        record("resize_" + f, d)
        if d:
            check("resize %s %dx%d -> %dx%d %s" % (name, a.shape[1], a.shape[0], ow, oh, f), False, "max diff %d" % d)
check("resize", all(figures["resize_" + f] == 0 for f in FILTERS),
      "%d cases x 3 filters, max |diff| %s" % (len(cases), [figures["resize_" + f] for f in FILTERS]))

# ---------------------------------------------------------------- 2. 8-bit RGB conversion vs PIL (lossless files)
rgba = np.concatenate([rng.integers(0, 256, (23, 17, 3)), rng.integers(0, 256, (23, 17, 1))], -1).astype(np.uint8)
rgba[0, :, 3] = 0
rgba[1, :, 3] = 255
la = np.stack([rng.integers(0, 256, (9, 31)), rng.integers(0, 256, (9, 31))], -1).astype(np.uint8)
grey = rng.integers(0, 256, (13, 7)).astype(np.uint8)
pal = Image.fromarray(rng.integers(0, 256, (19, 21, 3)).astype(np.uint8)).quantize(17)
pal_t = pal.copy()
pal_t.info["transparency"] = 3
conv = {"rgba": Image.fromarray(rgba, "RGBA"), "la": Image.fromarray(la, "LA"), "grey": Image.fromarray(grey, "L"),
        "palette": pal, "palette_trns": pal_t}
for name, im in conv.items():
    path = write(name + ".png", png_of(im))
    pim = Image.open(path)
    want_drop = np.asarray(pim.convert("RGB"))
    want_white = np.asarray(ref.idefics3_rgb(pim))
    for mode, want in (("drop", want_drop), ("white", want_white)):
        got = c_rgb8(path, mode)
        d = int(np.abs(got.astype(int) - want).max()) if got.shape == want.shape else 999
        record("rgb8", d)
        check("rgb8 %s %s" % (name, mode), d == 0, "max |diff| %d vs PIL (%s)" % (
            d, "convert('RGB')" if mode == "drop" else "alpha_composite on white"))
# 16-bit: PIL keeps the high byte of RGB/RGBA ("RGB;16B"); 16-bit grey opens as "I" whose convert clips
rgb16 = rng.integers(0, 65536, (11, 14, 3)).astype(np.uint16)
path = write("rgb16.png", imgfiles.png(rgb16, 16))
got, want = c_rgb8(path), np.asarray(Image.open(path).convert("RGB"))
d = int(np.abs(got.astype(int) - want).max())
record("rgb8", d)
check("rgb8 16-bit RGB PNG", d == 0, "max |diff| %d vs PIL" % d)
g16 = rng.integers(0, 65536, (11, 14)).astype(np.uint16)
path = write("grey16.png", imgfiles.png(g16, 16))
got = c_rgb8(path)
d = int(np.abs(got.astype(int) - (g16 >> 8)[:, :, None]).max())
check("rgb8 16-bit grey PNG", d == 0, "max |diff| %d vs v >> 8 (PIL 9.4 gives mode %s, clipped)" % (
    d, Image.open(path).mode))

# ---------------------------------------------------------------- 3. JPEG decoding: stb_image vs libjpeg (figure)
src = np.asarray(Image.open(photos[1]).convert("RGB"))
jpegs = {"rocket.jpg": photos[4]}
b = io.BytesIO()
Image.fromarray(src).save(b, "JPEG", quality=90)
jpegs["chelsea_q90.jpg"] = write("chelsea.jpg", b.getvalue())
b = io.BytesIO()
Image.fromarray(src).convert("CMYK").save(b, "JPEG", quality=95)
jpegs["chelsea_cmyk.jpg"] = write("cmyk.jpg", b.getvalue())
for name, path in jpegs.items():
    got, want = c_rgb8(path).astype(int), np.asarray(Image.open(path).convert("RGB")).astype(int)
    d, m = int(np.abs(got - want).max()), float(np.abs(got - want).mean())
    figures["decode_" + name] = (d, round(m, 3))
    check("decode %s" % name, got.shape == want.shape and d <= 12 and m <= 1.0,
          "stb_image vs libjpeg: max %d, mean %.3f levels" % (d, m))

# ---------------------------------------------------------------- 4. EXIF orientation
base = np.asarray(Image.open(photos[1]).convert("RGB"))[40:88, 100:172]  # 72 x 48, not square
b = io.BytesIO()
Image.fromarray(base).save(b, "JPEG", quality=95)
plain = c_rgb8(write("exif1.jpg", b.getvalue()))  # our decode of the same compressed samples
for o in range(1, 9):
    ex = Image.Exif()
    ex[0x0112] = o
    b = io.BytesIO()
    Image.fromarray(base).save(b, "JPEG", quality=95, exif=ex.tobytes())
    data = b.getvalue()
    variants = [("II", data)]
    if o == 6:  # a big-endian TIFF header too
        be = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00"
        app1 = b"\xff\xe1" + (len(be) + 8).to_bytes(2, "big") + b"Exif\x00\x00" + be
        variants.append(("MM", data[:2] + app1 + data[2:]))
    for order, d_ in variants:
        path = write("exif%d%s.jpg" % (o, order), d_)
        got = c_rgb8(path)
        want_im = Image.fromarray(plain)
        want_im.info["exif"] = ex.tobytes()
        want = np.asarray(ImageOps.exif_transpose(want_im))
        pil = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        d = int(np.abs(got.astype(int) - want).max()) if got.shape == want.shape else 999
        record("exif", d)
        dp = float(np.abs(got.astype(int) - pil).mean()) if got.shape == pil.shape else 999
        check("exif orientation %d (%s)" % (o, order), d == 0 and dp < 1.0,
              "%dx%d, max |diff| %d vs exif_transpose of the same samples; mean %.2f vs PIL's own decode" % (
                  got.shape[1], got.shape[0], d, dp))

# ---------------------------------------------------------------- 5. LLaVA-1.5 processor
def pil_input(path, alpha):
    """The reference's input: PIL's decode for lossless files; our decode for JPEGs (step 3 covers decoding)."""
    if path.lower().endswith(".jpg"):
        return Image.fromarray(c_rgb8(path, alpha))
    return Image.open(path)


alpha_paths = [tmp("rgba.png"), tmp("la.png"), tmp("palette_trns.png"), tmp("grey.png")]
llava_in = photos + [odd_paths[k] for k in ("1x1", "1x4000", "4000x1", "noise_61x37")] + alpha_paths
if quick:
    llava_in = llava_in[:1] + alpha_paths[:1] + [odd_paths["1x4000"]]
for path in llava_in:
    for S in (336, 50):
        got, r, c = c_process(path, "llava", S)
        want = ref.llava(pil_input(path, "drop"), S)
        d = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
        record("llava", d)
        check("llava %s S=%d" % (os.path.basename(path), S), d <= 1e-6 and (r, c) == (0, 0),
              "%s max |diff| %.1e" % (got.shape, d))

# the plain kind is today's mm_image_preprocess (the bundled model's preprocessing), unchanged
for path in photos[:2]:
    got, r, c = c_process(path, "plain", 224)
    tool(["preprocess", path, tmp("pre.npy"), "224", "crop"] + ["%.9g" % v for v in ref.CLIP_MEAN + ref.CLIP_STD])
    want = np.load(tmp("pre.npy"))[None]
    d = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
    check("plain %s" % os.path.basename(path), d == 0 and (r, c) == (0, 0), "max |diff| %.1e vs preprocess" % d)

# ---------------------------------------------------------------- 6. Idefics3 / SmolVLM processor
id_cases = [(photos[1], 512, 2048, 0), (photos[4], 512, 2048, 0), (photos[1], 512, 2048, 4),
            (photos[3], 64, 256, 0), (photos[2], 64, 200, 0), (photos[5], 48, 300, 5), (photos[6], 64, 256, 0)]
id_cases += [(odd_paths[k], 64, 256, 0) for k in ("1x1", "1x4000", "4000x1", "noise_61x37", "smooth_61x37")]
id_cases += [(p, 32, 128, 0) for p in alpha_paths]
if quick:
    id_cases = [(photos[4], 64, 256, 0), (odd_paths["1x4000"], 64, 256, 0), (alpha_paths[0], 32, 128, 0)]
for path, S, L, mt in id_cases:
    got, r, c = c_process(path, "idefics3", S, L, mt)
    want, wr, wc = ref.idefics3(pil_input(path, "white"), S, L, mt)
    d = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
    record("idefics3", d)
    ok = d <= 1e-6 and (r, c) == (wr, wc) and (mt == 0 or r * c <= mt)
    check("idefics3 %s S=%d L=%d max_tiles=%d" % (os.path.basename(path), S, L, mt), ok,
          "grid %dx%d (ref %dx%d), %d images, max |diff| %.1e" % (r, c, wr, wc, got.shape[0], d))

# 640 x 480 with SmolVLM's defaults: 12 tiles + the global image (issue 17); max_tiles lowers the grid
p640 = write("p640.png", imgfiles.png(rng.integers(0, 256, (480, 640, 3)).astype(np.uint8)))
for mt, want_grid in ((0, (3, 4)), (12, (3, 4)), (11, (3, 3)), (8, (2, 2)), (3, (0, 0))):
    got, r, c = c_process(p640, "idefics3", 512, 0, mt)
    check("idefics3 640x480 max_tiles=%d" % mt, (r, c) == want_grid and got.shape[0] == r * c + 1,
          "grid %dx%d + global (want %dx%d)" % (r, c, *want_grid))

# ---------------------------------------------------------------- 7. hostile sizes and requests
tall = write("tall.png", imgfiles.png(np.full((16384, 1, 3), 200, np.uint8)))
got, r, c = c_process(tall, "idefics3", 512)
check("idefics3 1x16384", (r, c) == (4, 1) and np.isfinite(got).all(), "grid %dx%d" % (r, c))
got, r, c = c_process(tall, "llava", 336)
check("llava 1x16384", got.shape == (1, 3, 336, 336), "%s" % (got.shape,))
wide = write("wide100k.png", imgfiles.png_header_only(100000, 1))
p = tool(["process", wide, tmp("x.npy"), "idefics3", "512", "0", "0"], expect_ok=False)
check("1x100000 refused", p.returncode == 3 and "limit" in p.stderr, p.stderr.strip())
for args, what in ((["idefics3", "512", "1000000000", "0"], "longest_edge"), (["idefics3", "0", "0", "0"], "size"),
                   (["idefics3", "2000", "4096", "0"], "MiB"), (["llava", "5000", "0", "0"], "size"),
                   (["idefics3", "512", "0", "-1"], "max_tiles")):
    p = tool(["process", photos[0], tmp("x.npy")] + args, expect_ok=False)
    check("refused %s" % " ".join(args), p.returncode == 3 and what in p.stderr, p.stderr.strip())

print("figures (max |diff|):", figures)
if fails:
    print("FAILED:", ", ".join(fails))
    sys.exit(1)
print("all image processor checks passed")
