"""Deterministic image renderer for the shapes world (PIL), augmentation, and model preprocessing.

render_scene(objs, rng) draws a scene from world.sample_scene at a random size (48..1024 px, aspect
0.4..2.5), on a plain or slightly noisy background of any colour that contrasts with every shape,
with or without anti-aliasing (supersampling 1..4x), then optionally blurs, adds noise and
JPEG-compresses it. preprocess(img) is what the C engine does with a file: RGB, squash-resize to
IMAGE_SIZE x IMAGE_SIZE, x/255, (x - mean) / std. Training picks the resampling filter at random
(nearest .. lanczos, box) so that the engine's stb_image_resize filter is just one more variant.
"""
import colorsys
import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from . import world

IMAGE_SIZE = 144  # model.Config.image_size (the trainer and the diagnostics set it from the checkpoint's config)
IMAGE_MEAN = [0.5, 0.5, 0.5]
IMAGE_STD = [0.5, 0.5, 0.5]

# Colour families as HSV ranges (h in degrees, s, v in 0..1); shades a person calls by that name.
COLOR_HSV = {
    "red": [((-12, 8), (0.75, 1.0), (0.65, 1.0)), ((-6, 5), (0.8, 1.0), (0.5, 0.65))],
    "orange": [((22, 40), (0.85, 1.0), (0.9, 1.0))],
    "yellow": [((50, 61), (0.75, 1.0), (0.88, 1.0))],
    "green": [((90, 150), (0.6, 1.0), (0.45, 1.0))],
    "blue": [((205, 240), (0.65, 1.0), (0.45, 1.0))],
    "purple": [((265, 305), (0.5, 1.0), (0.45, 0.9))],
    "black": [((0, 360), (0.0, 0.4), (0.0, 0.14))],
    "white": [((0, 360), (0.0, 0.06), (0.93, 1.0))],
}


def sample_color(rng, name):
    (h0, h1), (s0, s1), (v0, v1) = rng.choice(COLOR_HSV[name])
    h = (rng.uniform(h0, h1) % 360) / 360.0
    r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(s0, s1), rng.uniform(v0, v1))
    return (int(round(r * 255)), int(round(g * 255)), int(round(b * 255)))


def _lum(c):
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def contrast_ok(bg, fg):
    d = math.sqrt(sum((a - b) ** 2 for a, b in zip(bg, fg)))
    return d > 110 or (d > 80 and abs(_lum(bg) - _lum(fg)) > 50)


def sample_background(rng, fg_colors):
    """A background colour that contrasts with all shape colours and is not itself a 'typical'
    instance that could be read as a shape colour next to them."""
    for _ in range(200):
        r = rng.random()
        if r < 0.3:  # greys
            v = rng.randint(0, 255)
            bg = (v, v, v)
        elif r < 0.55:  # pastel / muted
            h, s, v = rng.random(), rng.uniform(0.05, 0.45), rng.uniform(0.55, 1.0)
            bg = tuple(int(x * 255) for x in colorsys.hsv_to_rgb(h, s, v))
        else:
            bg = (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
        if all(contrast_ok(bg, c) for c in fg_colors):
            return bg
    return (128, 128, 128) if all(contrast_ok((128, 128, 128), c) for c in fg_colors) else (200, 200, 200)


def shape_points(shape, cx, cy, r, rot):
    """Polygon points for square/triangle/star of 'radius' r (half the bounding size)."""
    if shape == "square":
        pts = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        pts = [(x * r * 0.92, y * r * 0.92) for x, y in pts]
    elif shape == "triangle":
        # equilateral, apex up, fitting a 2r box
        pts = [(0, -r), (r, r * 0.73), (-r, r * 0.73)]
        pts = [(x, y + r * 0.13) for x, y in pts]
    elif shape == "star":
        inner = 0.42
        pts = []
        for i in range(10):
            a = -math.pi / 2 + i * math.pi / 5
            rr = r if i % 2 == 0 else r * inner
            pts.append((rr * math.cos(a), rr * math.sin(a) + r * 0.08))
    else:
        raise ValueError(shape)
    c, s = math.cos(rot), math.sin(rot)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in pts]


def cell_box(cell, W, H):
    row, col = divmod(cell, 3)
    return col * W / 3.0, row * H / 3.0, W / 3.0, H / 3.0


def shape_geometry(rng, o, W, H):
    """Centre and half-size of a shape inside its grid cell."""
    x0, y0, cw, ch = cell_box(o["cell"], W, H)
    m = min(cw, ch)
    frac = rng.uniform(0.64, 0.92) if o["size"] == "large" else rng.uniform(0.3, 0.45)
    size = frac * m
    jx = (cw - size) / 2 * rng.uniform(-0.5, 0.5)
    jy = (ch - size) / 2 * rng.uniform(-0.5, 0.5)
    return x0 + cw / 2 + jx, y0 + ch / 2 + jy, size / 2


def random_size(rng):
    s = math.exp(rng.uniform(math.log(48), math.log(1024)))
    a = math.exp(rng.uniform(math.log(0.5), math.log(2.0))) if rng.random() < 0.85 else \
        math.exp(rng.uniform(math.log(0.4), math.log(2.5)))
    W = int(round(s * math.sqrt(a)))
    H = int(round(s / math.sqrt(a)))
    return max(48, min(1024, W)), max(48, min(1024, H))


def render_scene(objs, rng, size=None, augment=True, max_render=1024, label_map=False):
    """Render objs to a PIL RGB image. Returns (img, colours_used), or (img, colours_used, lab) with
    label_map: lab is a W x H 'L' image whose pixel is 0 (background) or 1 + the index of the object
    covering it (same geometry, drawn without anti-aliasing; consumes no extra random numbers)."""
    W, H = size or random_size(rng)
    cols = [sample_color(rng, o["color"]) for o in objs]
    bg = sample_background(rng, cols)
    ss = rng.choice([1, 1, 2, 3, 4]) if augment else 3
    while W * ss > 2048 or H * ss > 2048:
        ss -= 1
    ss = max(1, ss)
    img = Image.new("RGB", (W * ss, H * ss), bg)
    d = ImageDraw.Draw(img)
    lab = Image.new("L", (W, H), 0) if label_map else None
    dl = ImageDraw.Draw(lab) if label_map else None
    for k, (o, c) in enumerate(zip(objs, cols)):
        cx, cy, r = shape_geometry(rng, o, W, H)
        cx, cy, r = cx * ss, cy * ss, r * ss
        rot = 0.0
        if augment and rng.random() < 0.25:
            rot = math.radians(rng.uniform(-12, 12))
        if o["shape"] == "circle":
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=c)
        else:
            d.polygon(shape_points(o["shape"], cx, cy, r, rot), fill=c)
        if label_map:
            lx, ly, lr = cx / ss, cy / ss, r / ss
            if o["shape"] == "circle":
                dl.ellipse([lx - lr, ly - lr, lx + lr, ly + lr], fill=k + 1)
            else:
                dl.polygon(shape_points(o["shape"], lx, ly, lr, rot), fill=k + 1)
    if ss > 1:
        img = img.resize((W, H), rng.choice([Image.LANCZOS, Image.BILINEAR, Image.BOX, Image.BICUBIC]))
    if augment:
        img = augment_image(img, rng)
    if label_map:
        return img, cols, lab
    return img, cols


def augment_image(img, rng):
    W, H = img.size
    if rng.random() < 0.35:  # slightly noisy background / sensor noise
        a = np.asarray(img).astype(np.float32)
        sigma = rng.uniform(2, 14)
        nrng = np.random.default_rng(rng.randrange(1 << 30))
        a = a + nrng.normal(0, sigma, a.shape).astype(np.float32)
        img = Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8))
    if rng.random() < 0.2:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5) * max(1.0, min(W, H) / 128)))
    if rng.random() < 0.4:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=rng.randint(15, 95))
        buf.seek(0)
        img = Image.open(buf).convert("RGB")
    return img


RESAMPLERS = [Image.BILINEAR, Image.BICUBIC, Image.LANCZOS, Image.BOX, Image.HAMMING, Image.NEAREST]


def preprocess(img, resample=Image.BICUBIC):
    """PIL image -> float32 [3, S, S]: squash resize, /255, (x - mean)/std (the engine's recipe)."""
    img = img.convert("RGB")
    if img.size != (IMAGE_SIZE, IMAGE_SIZE):
        img = img.resize((IMAGE_SIZE, IMAGE_SIZE), resample)
    a = np.asarray(img).astype(np.float32) / 255.0
    a = (a - np.array(IMAGE_MEAN, np.float32)) / np.array(IMAGE_STD, np.float32)
    return np.ascontiguousarray(a.transpose(2, 0, 1))


def train_preprocess(img, rng):
    """preprocess with a random resampler (nearest rarely) and occasional 2-step resizes."""
    r = rng.random()
    if r < 0.05:
        f = Image.NEAREST
    else:
        f = rng.choice(RESAMPLERS[:5])
    if rng.random() < 0.15 and min(img.size) > 2 * IMAGE_SIZE:
        img = img.resize((img.size[0] // 2, img.size[1] // 2), rng.choice(RESAMPLERS[:5]))
    return preprocess(img, f)


def sample_image_example(rng, augment=True, label_map=False):
    """(objs, img) or, with label_map, (objs, img, lab) (see render_scene)."""
    objs = world.sample_scene(rng)
    r = render_scene(objs, rng, augment=augment, label_map=label_map)
    return (objs, r[0], r[2]) if label_map else (objs, r[0])

