"""ref_imgproc.py - the LLaVA-1.5 and SmolVLM/Idefics3 image processors written again with PIL + numpy, from the
processors' published code and configs (see docs/IMAGE_PROCESSORS.md for each step's source), for the tests.
Input: a PIL image already in mode RGB (or RGBA/LA for the alpha steps). Output: float32 [n, 3, S, S]."""
import math

import numpy as np
from PIL import Image

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def normalize(im, mean, std):
    """transformers rescale (float64 * 1/255 -> float32) then normalize in float32; HWC uint8 -> CHW."""
    a = np.asarray(im, dtype=np.uint8).astype(np.float64) * (1 / 255)
    a = a.astype(np.float32)
    a = (a - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)
    return a.transpose(2, 0, 1)


# ---------------------------------------------------------------- LLaVA-1.5 (llava.mm_utils + CLIPImageProcessor)
def llava(im, S=336, mean=CLIP_MEAN, std=CLIP_STD):
    im = im.convert("RGB")
    bg = tuple(int(x * 255) for x in mean)  # llava process_images: expand2square(image, int(x*255) of the mean)
    w, h = im.size
    if w != h:
        M = max(w, h)
        canvas = Image.new("RGB", (M, M), bg)
        canvas.paste(im, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
        im = canvas
    # CLIPImageProcessor: shortest edge -> S (long = int(S * long / short)), bicubic, centre crop S
    w, h = im.size
    short, long_ = min(w, h), max(w, h)
    ns, nl = S, int(S * long_ / short)
    ow, oh = (ns, nl) if w <= h else (nl, ns)
    im = im.resize((ow, oh), Image.BICUBIC)
    top, left = (oh - S) // 2, (ow - S) // 2
    im = im.crop((left, top, left + S, top + S))
    return normalize(im, mean, std)[None]


# ---------------------------------------------------------------- Idefics3 (image_processing_idefics3.py)
def idefics3_rgb(im):
    """convert_to_rgb of Idefics2/3: RGB as is, anything else composited onto opaque white."""
    if im.mode == "RGB":
        return im
    rgba = im.convert("RGBA")
    bg = Image.new("RGBA", rgba.size, (255, 255, 255))
    return Image.alpha_composite(bg, rgba).convert("RGB")


def size_longest_edge(h, w, L):
    """_resize_output_size_rescale_to_max_len then _resize_output_size_scale_below_upper_bound(4096)."""
    ar = w / h
    if w >= h:
        w = L
        h = int(w / ar)
        if h % 2 != 0:
            h += 1
    elif h > w:
        h = L
        w = int(h * ar)
        if w % 2 != 0:
            w += 1
    h, w = max(h, 1), max(w, 1)
    ar = w / h
    if w >= h and w > 4096:
        w = 4096
        h = int(w / ar)
    elif h > w and h > 4096:
        h = 4096
        w = int(h * ar)
    return max(h, 1), max(w, 1)


def size_multiple(h, w, S):
    """resize_for_vision_encoder."""
    ar = w / h
    if w >= h:
        w = math.ceil(w / S) * S
        h = int(w / ar)
        h = math.ceil(h / S) * S
    else:
        h = math.ceil(h / S) * S
        w = int(h * ar)
        w = math.ceil(w / S) * S
    return h, w


def grid(h, w, S, L):
    h1, w1 = size_longest_edge(h, w, L)
    h2, w2 = size_multiple(h1, w1, S)
    if h2 > S or w2 > S:
        return math.ceil(h2 / S), math.ceil(w2 / S)
    return 0, 0


def longest_edge_for(h, w, S, L, max_tiles):
    """mmgpt's max_tiles rule: lower L a step of S at a time until rows * cols <= max_tiles (down to S)."""
    while max_tiles:
        r, c = grid(h, w, S, L)
        if r * c <= max_tiles or L <= S:
            break
        L = max(S, L - S)
    return L


def idefics3(im, S=512, L=2048, max_tiles=0, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)):
    im = idefics3_rgb(im)
    w, h = im.size
    L = longest_edge_for(h, w, S, L, max_tiles)
    h1, w1 = size_longest_edge(h, w, L)
    im = im.resize((w1, h1), Image.LANCZOS)  # do_resize
    h2, w2 = size_multiple(h1, w1, S)
    im = im.resize((w2, h2), Image.LANCZOS)  # resize_for_vision_encoder (PIL copies a same-size resize)
    frames, rows, cols = [], 0, 0
    if h2 > S or w2 > S:  # split_image
        rows, cols = math.ceil(h2 / S), math.ceil(w2 / S)
        oh, ow = math.ceil(h2 / rows), math.ceil(w2 / cols)
        for r in range(rows):
            for c in range(cols):
                x0, y0 = c * ow, r * oh
                frames.append(im.crop((x0, y0, min(x0 + ow, w2), min(y0 + oh, h2))))
        im = im.resize((S, S), Image.LANCZOS)
    frames.append(im)
    return np.stack([normalize(f, mean, std) for f in frames]), rows, cols


def grid_for(path, S, max_tiles, L=None):
    """Tile grid (rows, cols) of the picture at path for SmolVLM's processor (L default 4 S)."""
    im = idefics3_rgb(Image.open(path))
    w, h = im.size
    L = longest_edge_for(h, w, S, L or 4 * S, max_tiles)
    return grid(h, w, S, L)
