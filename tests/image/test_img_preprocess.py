"""img_preprocess: mm_image_preprocess (stb_image_resize, Catmull-Rom, three resize modes) vs the numpy
reference ref_preprocess.py, which applies the same filter maths on the full intermediate images
(full resize then crop; a real padded canvas then resize).

Input: the C-decoded pixels (img_tool decode), so only preprocessing is compared. The C side never holds the
whole picture as floats (it converts strips of the stored 8-bit samples, long axis first); the reference
resizes the full float picture in one 2-D step, so agreement also checks the strips and their seams.
Tolerance: max |diff| <= 5e-5 in normalised units (~1.3e-5 in [0, 1] pixel units, 1/300 of an 8-bit level).
Both sides evaluate the same Catmull-Rom weights; what differs is stb's float32 arithmetic (pixel
coordinates up to ~1000 carry ~6e-5 px error, weights and sums are accumulated in float32) against the
reference's float64 sums. Measured worst: 1.3e-5 (pad mode at S=224), so the bound leaves ~4x headroom, while
any off-by-one in an offset or scale gives differences of order 0.1.
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import imgfiles  # noqa: E402
import testdata  # noqa: E402
import ref_preprocess as rp  # noqa: E402

TOOL = sys.argv[1]
TMP = os.environ.get("MMGPT_TEST_TMP", "/tmp")
TOL = 5e-5
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
fails = []
quick = os.environ.get("MMGPT_SANITIZE_RUN") == "1"


def run(args):
    p = subprocess.run([TOOL] + args, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(" ".join(args) + ": " + p.stderr.strip())


def c_decode(path):
    out = os.path.join(TMP, "img_pre_dec.npy")
    run(["decode", path, out])
    return np.load(out)


def c_preprocess(path, S, mode, mean, std):
    out = os.path.join(TMP, "img_pre_out.npy")
    run(["preprocess", path, out, str(S), mode] + ["%.9g" % v for v in mean] + ["%.9g" % v for v in std])
    return np.load(out)


images = []
rng = np.random.default_rng(7)
# synthetic: a landscape and a portrait picture with odd sizes (odd crop/pad offsets), and a tiny one
# and two pictures over one 8 MiB strip (encoders/image.c STRIP_FLOATS = 2^21 floats): 1300 wide -> strips of
# 537 rows (x first), 1400 high -> strips of 499 columns (y first), so the strip seams are crossed
for name, (h, w) in [("land", (37, 61)), ("port", (50, 23)), ("tiny", (3, 2)), ("hstrip", (5, 300)),
                     ("vstrip", (260, 3)), ("bigland", (900, 1300)), ("bigport", (1400, 700))]:
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    path = os.path.join(TMP, "img_pre_%s.png" % name)
    open(path, "wb").write(imgfiles.png(arr))
    images.append(path)
# real pictures from tests/data (a missing file fails)
names = ["skimage_chelsea.png", "skimage_camera.png", "skimage_rocket.jpg", "skimage_palette_color.png"]
if quick:
    names = names[3:]
images += [testdata.path("images", n) for n in names]

sizes = [224, 30] if not quick else [30]
worst = 0.0
for path in images:
    img = c_decode(path)
    # thin strips also at a tiny output: the filter then reaches across the whole padded canvas
    for S in sizes + ([7] if "strip" in path else []):
        for mode in ("squash", "crop", "pad"):
            mean, std = (CLIP_MEAN, CLIP_STD) if S == 224 else ((0.5, 0.25, 0.75), (0.5, 0.4, 0.3))
            got = c_preprocess(path, S, mode, mean, std)
            want = rp.preprocess(img, S, mode, mean, std)
            d = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
            worst = max(worst, d)
            ok = d <= TOL
            print("%s %-28s %4dx%-4d S=%-3d %-6s max|diff| %.2e" % ("ok  " if ok else "FAIL", os.path.basename(path),
                                                                 img.shape[1], img.shape[0], S, mode, d))
            if not ok:
                fails.append("%s/%d/%s" % (os.path.basename(path), S, mode))

# the pad mode really pads with the mean colour: a portrait's left/right columns are the mean -> 0 after
# normalisation, and the crop of a landscape keeps the centre
S = 30
got = c_preprocess(images[1], S, "pad", (0.5, 0.25, 0.75), (0.5, 0.4, 0.3))
edge = np.abs(got[:, :, :2]).max()
print("%s pad: outer columns equal the mean (max |v| %.2e)" % ("ok  " if edge < 1e-5 else "FAIL", edge))
if edge >= 1e-5:
    fails.append("pad-edges")

print("worst max|diff| %.2e (tolerance %.1e)" % (worst, TOL))
if fails:
    print("FAILED:", ", ".join(fails))
    sys.exit(1)
print("all preprocessing checks passed")
