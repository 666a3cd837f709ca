"""imgfiles.py - tiny independent writers of image files (PNG, PPM/PGM, BMP, TGA, Radiance HDR) from numpy
arrays, for the image tests. Written from the format specifications (PNG: RFC 2083; BMP: BITMAPINFOHEADER;
TGA: Truevision type 2; Radiance: flat RGBE scanlines), not from any decoder."""
import struct
import zlib

import numpy as np


def png(arr, bit_depth=8):
    """arr: [h, w] grey, or [h, w, C] with C = 2 (grey+alpha), 3 (RGB), 4 (RGBA); uint8 or uint16."""
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[:, :, None]
    h, w, c = a.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    dt = ">u2" if bit_depth == 16 else "u1"
    raw = b"".join(b"\x00" + a[y].astype(dt).tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, ctype, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def png_header_only(w, h):
    """A PNG signature + IHDR claiming w x h RGB, then an empty IDAT and IEND."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def pnm(arr, maxval=255):
    a = np.asarray(arr)
    magic = b"P5" if a.ndim == 2 else b"P6"
    h, w = a.shape[:2]
    dt = ">u2" if maxval > 255 else "u1"
    return magic + b"\n%d %d\n%d\n" % (w, h, maxval) + a.astype(dt).tobytes()


def bmp(arr):
    """24-bit bottom-up BMP of [h, w, 3] uint8 RGB."""
    a = np.asarray(arr, dtype=np.uint8)
    h, w, _ = a.shape
    stride = (w * 3 + 3) & ~3
    rows = []
    for y in range(h - 1, -1, -1):
        r = a[y][:, ::-1].tobytes()  # BGR
        rows.append(r + b"\x00" * (stride - w * 3))
    data = b"".join(rows)
    hdr = struct.pack("<2sIHHI", b"BM", 54 + len(data), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    return hdr + info + data


def tga(arr):
    """Uncompressed true-colour TGA (type 2), top-left origin, 24 bit (BGR) or 32 bit (BGRA)."""
    a = np.asarray(arr, dtype=np.uint8)
    h, w, c = a.shape
    bgr = a[:, :, [2, 1, 0] + ([3] if c == 4 else [])]
    desc = 0x20 | (8 if c == 4 else 0)
    hdr = struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, w, h, 8 * c, desc)
    return hdr + bgr.tobytes()


def hdr_rgbe(rgbe):
    """Radiance .hdr with flat (non-RLE) scanlines; rgbe [h, w, 4] uint8 (mantissas + shared exponent).
    Keep w < 8 so readers take the flat path."""
    a = np.asarray(rgbe, dtype=np.uint8)
    h, w, _ = a.shape
    return b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y %d +X %d\n" % (h, w) + a.tobytes()


def rgbe_to_float(rgbe):
    """Radiance spec: v = mantissa * 2^(e - 128 - 8), 0 when e == 0."""
    a = np.asarray(rgbe, dtype=np.float64)
    e = a[..., 3:4]
    return np.where(e == 0, 0.0, a[..., :3] * np.exp2(e - 136.0))


def _gif_lzw(indices):
    """GIF LZW with min code size 8, emitting a clear code often enough that codes stay 9 bits wide
    (every literal is sent as its own code: valid, uncompressed-style LZW)."""
    clear, end = 256, 257
    codes = [clear]
    for k, v in enumerate(indices):
        if k and k % 250 == 0:
            codes.append(clear)
        codes.append(int(v))
    codes.append(end)
    bits = 0
    nbits = 0
    out = bytearray()
    for c in codes:
        bits |= c << nbits
        nbits += 9
        while nbits >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8
    if nbits:
        out.append(bits & 0xFF)
    blocks = bytearray([8])
    for i in range(0, len(out), 255):
        chunk = out[i:i + 255]
        blocks += bytes([len(chunk)]) + chunk
    return bytes(blocks + b"\x00")


def gif(frames, palette):
    """GIF89a with a 256-entry global palette [256, 3] uint8 and frames of palette indices [h, w]."""
    h, w = frames[0].shape
    pal = np.zeros((256, 3), dtype=np.uint8)
    pal[:len(palette)] = palette
    out = b"GIF89a" + struct.pack("<HHBBB", w, h, 0xF7, 0, 0) + pal.tobytes()
    for f in frames:
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, 0) + _gif_lzw(np.asarray(f).ravel())
    return out + b"\x3b"
