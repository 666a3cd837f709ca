"""img_memory: a big picture costs a small multiple of its 8-bit size, not full-size floats.

Peak resident memory (getrusage(RUSAGE_CHILDREN).ru_maxrss of a wrapper process that runs only mmgpt) of
`mmgpt caption` and `mmgpt encode-image` with the bundled model on:
  * an 8000 x 8000 JPEG (PIL, 4:2:0): bound 3 x the 8-bit RGB size (576 MB) + the model file + 32 MiB.
    Budget: stb_image's component planes (1.5 bytes a pixel at 4:2:0, 3 at 4:4:4) and its 3-byte result,
    then preprocessing's 8 MiB strips and short side x S floats; the file itself is small. Measured
    285 MiB here; before (floats [h][w][3] next to stb's RGBA), 986 MiB.
  * a 3000 x 3000 Radiance HDR (flat RGBE, 36 MB): bound 16 bytes a pixel + the file (read whole) + the
    model + 32 MiB. stb_image decodes HDR through floats (12 bytes a pixel) to its 8-bit tone-mapped result
    (3); before, float RGBA (16) and our float RGB copy (12) were both alive: 28 bytes a pixel.
Under the sanitizer build (MMGPT_SANITIZE_RUN=1: ASan's shadow and quarantine inflate RSS) smaller pictures
run and the bounds are not checked. The results themselves are checked elsewhere (img_preprocess).
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imgfiles  # noqa: E402

BIN = os.environ.get("MMGPT_BIN", "")
SRC = os.environ.get("MMGPT_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TMP = os.environ.get("MMGPT_TEST_TMP", "/tmp")
QUICK = os.environ.get("MMGPT_SANITIZE_RUN") == "1"
MODEL = os.path.join(SRC, "assets", "models", "mmgpt-demo.gguf")
MiB = 1 << 20
if not BIN or not os.path.exists(BIN):
    print("MMGPT_BIN not found: skipped")
    sys.exit(77)
try:
    from PIL import Image, ImageDraw
except ImportError:  # python3-pil is installed by tools/setup.sh
    print("FAIL: PIL (python3-pil) is needed to write the JPEG")
    sys.exit(1)

WRAP = ("import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "sys.stderr.buffer.write(r.stderr)\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)\n")


def peak(args):
    """Exit code and peak RSS in bytes of `mmgpt ARGS` run alone in a fresh wrapper process."""
    p = subprocess.run([sys.executable, "-c", WRAP, BIN] + args, capture_output=True, text=True)
    rc, rss = p.stdout.split()
    return int(rc), int(rss), p.stderr.strip()


fails = []
model_bytes = os.path.getsize(MODEL)
side = 2000 if QUICK else 8000
jpg = os.path.join(TMP, "img_mem_%d.jpg" % side)
im = Image.new("RGB", (side, side), (30, 120, 200))
d = ImageDraw.Draw(im)
for i in range(40):
    x, y = i * side // 53, i * side // 67
    d.ellipse([x, y, x + side // 3, y + side // 4], fill=((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
im.save(jpg, quality=90)
del im, d

hs = 1000 if QUICK else 3000
yy, xx = np.mgrid[0:hs, 0:hs]
rgbe = np.empty((hs, hs, 4), np.uint8)
rgbe[..., 0] = 128 + (xx * 127 // hs)   # mantissas >= 128 (normalised RGBE; never the 2,2 RLE marker)
rgbe[..., 1] = 128 + (yy * 127 // hs)
rgbe[..., 2] = 200
rgbe[..., 3] = 128 + ((xx + yy) * 3 // hs)  # radiance 0.5 .. 8: some clamped by the tone mapping
hdr = os.path.join(TMP, "img_mem_%d.hdr" % hs)
with open(hdr, "wb") as f:
    f.write(imgfiles.hdr_rgbe(rgbe))
del rgbe, yy, xx

cases = [
    ("caption %dx%d JPEG" % (side, side), ["caption", "-m", MODEL, jpg], 3 * side * side * 3 + model_bytes + 32 * MiB),
    ("encode-image %dx%d JPEG" % (side, side), ["encode-image", "-m", MODEL, jpg, "-o", os.path.join(TMP, "img_mem.npy")],
     3 * side * side * 3 + model_bytes + 32 * MiB),
    ("caption %dx%d HDR" % (hs, hs), ["caption", "-m", MODEL, hdr],
     16 * hs * hs + os.path.getsize(hdr) + model_bytes + 32 * MiB),
]
for name, args, bound in cases:
    rc, rss, err = peak(args)
    ok = rc == 0 and (QUICK or rss <= bound)
    eight = (side * side if "JPEG" in name else hs * hs) * 3
    print("%-4s %-28s exit %d, peak RSS %4d MiB = %.2f x its 8-bit RGB size (%d MiB); bound %d MiB%s" % (
        "ok" if ok else "FAIL", name, rc, rss // MiB, rss / eight, eight // MiB, bound // MiB,
        " (not checked: sanitizer build)" if QUICK else ""))
    if not ok:
        fails.append(name)
        print("     " + err[-500:])
os.remove(jpg)
os.remove(hdr)
print("img_memory: %d failed" % len(fails) if fails else "img_memory: all checks passed")
sys.exit(1 if fails else 0)
