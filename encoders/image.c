/* image.c - decode pictures with stb_image and preprocess them for a ViT with stb_image_resize.
 * See include/mm_image.h for the conventions (value range, alpha background, resize modes, filter). */
#include "mm_image.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>
#include <stb_image_resize.h>

/* Encoded bytes of one picture: core's cap for pictures, which holds the largest picture check_dims lets through in
 * 16-bit RGBA samples (8 bytes a pixel) plus 64 MiB of headers and framing (mm_core.h) */
#define MM_IMAGE_MAX_FILE MM_READ_MAX_IMAGE
_Static_assert(MM_READ_MAX_IMAGE >= (size_t)MM_IMAGE_MAX_PIXELS * 8 + ((size_t)64 << 20),
               "a picture's byte cap holds the largest picture at 8 bytes a pixel");

/* ---------------------------------------------------------------- decoding */

void mm_image_free(mm_image *img) {
    if (!img) return;
    /* stb_image's buffers, or malloc'd ones (EXIF rotation): libstb frees with free() (no STBI_FREE override) */
    if (img->pixels) stbi_image_free(img->pixels);
    memset(img, 0, sizeof *img);
}

static int check_dims(const char *name, int w, int h, char *err) {
    if (w <= 0 || h <= 0) return mm_err(err, "%s: image has no pixels (%d x %d)", name, w, h);
    if (w > MM_IMAGE_MAX_SIDE || h > MM_IMAGE_MAX_SIDE || (long long)w * h > MM_IMAGE_MAX_PIXELS)
        return mm_err(err, "%s: image is %d x %d, over the limit of %d px a side and %lld "
                           "pixels",
                      name, w, h, MM_IMAGE_MAX_SIDE, (long long)MM_IMAGE_MAX_PIXELS);
    return 0;
}

/* The container format by its magic bytes (core's sniffer), "image" when it is not an image format. */
static const char *format_name(const uint8_t *b, size_t n) {
    const mm_format f = mm_sniff(b, n);
    return mm_format_is_image(f) ? mm_format_name(f) : "image";
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Uncompressed formats must hold all their pixels: stb_image would otherwise fill a truncated PNM or BMP
 * with zeros (and a 20-byte header could make us allocate a gigabyte for nothing). */
static int check_raw_size(const uint8_t *b, size_t n, int w, int h, int comp, const char *name, char *err) {
    uint64_t need = 0;
    const char *fmt = format_name(b, n);
    if (!strcmp(fmt, "PNM")) {
        const bool b16 = stbi_is_16_bit_from_memory(b, (int)n) != 0;
        need = (uint64_t)w * (uint64_t)h * (uint64_t)(comp > 0 ? comp : 1) * (b16 ? 2u : 1u);
    } else if (!strcmp(fmt, "BMP") && n >= 34 && le32(b + 14) >= 40) {
        const uint32_t off = le32(b + 10), compression = le32(b + 30);
        const unsigned bpp = (unsigned)b[28] | (unsigned)b[29] << 8;
        if ((compression == 0 || compression == 3) && bpp > 0 && bpp <= 32)
            /* rows padded to 4 bytes, except that some writers drop the last row's padding */
            need = (uint64_t)off + (uint64_t)(h - 1) * ((((uint64_t)w * bpp + 31) / 32) * 4) +
                   ((uint64_t)w * bpp + 7) / 8;
    }
    if (need > (uint64_t)n)
        return mm_err(err, "%s: truncated %s: %d x %d pixels need %llu bytes, the file has %zu",
                      name, fmt, w, h, (unsigned long long)need, n);
    return 0;
}

/* ---------------------------------------------------------------- EXIF orientation (JPEG) */
static uint32_t tiff_u(const uint8_t *p, int n, bool be) {
    uint32_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint32_t)p[be ? i : n - 1 - i] << (8 * (n - 1 - i));
    return v;
}

/* The EXIF Orientation tag (0x0112 in IFD0 of the APP1 "Exif" segment) of a JPEG: 1..8, or 1 when absent or
 * unreadable (as PIL's ImageOps.exif_transpose, which leaves the picture alone then). Every offset checked. */
static int jpeg_exif_orientation(const uint8_t *b, size_t n) {
    if (n < 4 || b[0] != 0xFF || b[1] != 0xD8) return 1;
    size_t at = 2;
    while (at + 4 <= n) {
        if (b[at] != 0xFF) return 1;
        const uint8_t m = b[at + 1];
        if (m == 0xFF) { at++; continue; }      /* fill byte */
        if (m == 0xDA || m == 0xD9) return 1;   /* start of scan / end: no EXIF before the pixels */
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { at += 2; continue; }
        const size_t len = (size_t)b[at + 2] << 8 | b[at + 3];
        if (len < 2 || at + 2 + len > n) return 1;
        const uint8_t *seg = b + at + 4;
        const size_t sl = len - 2;
        if (m == 0xE1 && sl >= 14 && !memcmp(seg, "Exif\0\0", 6)) {
            const uint8_t *t = seg + 6;
            const size_t tl = sl - 6;
            const bool be = t[0] == 'M' && t[1] == 'M';
            if (!be && !(t[0] == 'I' && t[1] == 'I')) return 1;
            if (tiff_u(t + 2, 2, be) != 42) return 1;
            const uint32_t ifd = tiff_u(t + 4, 4, be);
            if ((size_t)ifd + 2 > tl) return 1;
            const uint32_t cnt = tiff_u(t + ifd, 2, be);
            for (uint32_t i = 0; i < cnt; i++) {
                const size_t e = (size_t)ifd + 2 + 12 * (size_t)i;
                if (e + 12 > tl) return 1;
                if (tiff_u(t + e, 2, be) != 0x0112) continue;
                const uint32_t type = tiff_u(t + e + 2, 2, be);
                uint32_t v = type == 3 ? tiff_u(t + e + 8, 2, be) : type == 4 ? tiff_u(t + e + 8, 4, be) : 1;
                return v >= 1 && v <= 8 ? (int)v : 1;
            }
            return 1;
        }
        at += 2 + len;
    }
    return 1;
}

/* Turn the samples upright for orientation o (2..8), as PIL's exif_transpose: 2 mirror, 3 rotate 180,
 * 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise. Output pixel
 * (x, y) of the W x H result reads input (sx, sy). A new buffer (freed like stb's: free()). */
static int apply_orientation(mm_image *img, int o, const char *name, char *err) {
    const int w = img->w, h = img->h, W = o >= 5 ? h : w, H = o >= 5 ? w : h;
    const size_t px = (size_t)img->channels * (size_t)(img->bits / 8);
    uint8_t *dst = malloc((size_t)w * (size_t)h * px);
    if (!dst) return mm_err(err, "mm_image_load: %s: out of memory turning the picture upright", name);
    const uint8_t *src = img->pixels;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = w - 1 - x; sy = y; break;
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;
            case 4: sx = x; sy = h - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = h - 1 - x; break;
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;
            default: sx = w - 1 - y; sy = x; break; /* 8 */
            }
            memcpy(dst + ((size_t)y * W + x) * px, src + ((size_t)sy * w + sx) * px, px);
        }
    stbi_image_free(img->pixels);
    img->pixels = dst;
    img->w = W;
    img->h = H;
    return 0;
}

int mm_image_load_memory(const void *data, size_t size, const char *name, mm_image *img, char *err) {
    if (!img) return mm_err(err, "%s: no output image", __func__);
    memset(img, 0, sizeof *img);
    if (!name) name = "image";
    if (!data || size == 0) return mm_err(err, "%s: empty file", name);
    if (size > (size_t)INT_MAX || size > MM_IMAGE_MAX_FILE)
        return mm_err(err, "%s: file of %zu bytes is over the limit of %zu bytes (%zu MiB) for a picture (MM_READ_MAX_IMAGE)",
                      name, size, MM_IMAGE_MAX_FILE, MM_IMAGE_MAX_FILE >> 20);
    const stbi_uc *buf = data;
    const int len = (int)size;
    int w = 0, h = 0, comp = 0;
    /* Header first: reject huge images before stb_image allocates anything for the pixels. */
    if (!stbi_info_from_memory(buf, len, &w, &h, &comp)) {
        const char *fmt = format_name(buf, size);
        if (!strcmp(fmt, "PNG") && size >= 24 && !memcmp(buf + 12, "IHDR", 4)) {
            /* stb refuses huge PNG headers itself; say why in our terms */
            const uint32_t pw = (uint32_t)buf[16] << 24 | (uint32_t)buf[17] << 16 | (uint32_t)buf[18] << 8 | buf[19];
            const uint32_t ph = (uint32_t)buf[20] << 24 | (uint32_t)buf[21] << 16 | (uint32_t)buf[22] << 8 | buf[23];
            if (pw > MM_IMAGE_MAX_SIDE || ph > MM_IMAGE_MAX_SIDE || (uint64_t)pw * ph > (uint64_t)MM_IMAGE_MAX_PIXELS)
                return mm_err(err, "%s: image is %u x %u, over the limit of %d px a side and %lld "
                                   "pixels", name, pw, ph, MM_IMAGE_MAX_SIDE, (long long)MM_IMAGE_MAX_PIXELS);
        }
        if (strcmp(fmt, "image"))
            return mm_err(err, "%s: unreadable %s header (corrupt or unsupported variant)", name, fmt);
        return mm_err(err, "%s: not a readable image (unknown format)", name);
    }
    if (check_dims(name, w, h, err)) return -1;

    if (check_raw_size(buf, size, w, h, comp, name, err)) return -1;

    /* Samples stay as decoded (8 or 16 bits, the file's own channel count): a picture costs its 8-bit size
     * (x2 for 16-bit files), not 12 bytes a pixel of floats; mm_image_get_rgb converts strips on demand.
     * HDR is tone-mapped to 8 bits by stb_image itself (x^(1/2.2), clamped, rounded). */
    const bool hdr = stbi_is_hdr_from_memory(buf, len) != 0;
    const bool b16 = !hdr && stbi_is_16_bit_from_memory(buf, len) != 0;
    /* 16-bit PNM samples come back as stored in the file, i.e. big-endian (PNM spec): swapped below. */
    const bool pnm16 = b16 && size >= 2 && buf[0] == 'P' && (buf[1] == '5' || buf[1] == '6');
    int w2 = 0, h2 = 0, c2 = 0;
    void *px = b16 ? (void *)stbi_load_16_from_memory(buf, len, &w2, &h2, &c2, 0)
                   : (void *)stbi_load_from_memory(buf, len, &w2, &h2, &c2, 0);
    if (!px) {
        return mm_err(err, "%s: cannot decode the %s data: corrupt or truncated", name,
                      format_name(buf, size));
    }
    if (c2 < 1 || c2 > 4 || check_dims(name, w2, h2, err)) {
        stbi_image_free(px);
        return c2 < 1 || c2 > 4 ? mm_err(err, "%s: unexpected %d channels", name, c2) : -1;
    }
    if (pnm16) {
        uint8_t *b = px;
        for (size_t i = 0, n = (size_t)w2 * (size_t)h2 * (size_t)c2; i < n; i++) {
            const uint16_t v = (uint16_t)(b[2 * i] << 8 | b[2 * i + 1]);
            memcpy(b + 2 * i, &v, 2); /* host order */
        }
    }
    img->w = w2;
    img->h = h2;
    img->channels = c2;
    img->bits = b16 ? 16 : 8;
    img->pixels = px;
    const int orient = !strcmp(format_name(buf, size), "JPEG") ? jpeg_exif_orientation(buf, size) : 1;
    if (orient > 1 && apply_orientation(img, orient, name, err)) {
        mm_image_free(img);
        return -1;
    }
    img->orientation = orient;
    return 0;
}

/* One pixel as float RGB in [0, 1]: grey expanded, alpha composited onto white (a*rgb + 1 - a). */
static inline void px_rgb8(const uint8_t *p, int C, float *o) {
    const int a8 = C == 2 ? p[1] : C == 4 ? p[3] : 255;
    for (int c = 0; c < 3; c++) {
        const uint8_t v = p[C >= 3 ? c : 0];
        if (a8 == 255) o[c] = v / 255.0f;
        else {
            const float a = a8 / 255.0f;
            o[c] = a * (v / 255.0f) + (1.0f - a);
        }
    }
}

static inline void px_rgb16(const uint16_t *p, int C, float *o) {
    const float a = (C == 2 ? p[1] : C == 4 ? p[3] : 65535) / 65535.0f;
    for (int c = 0; c < 3; c++) o[c] = a * (p[C >= 3 ? c : 0] / 65535.0f) + (1.0f - a);
}

void mm_image_get_rgb(const mm_image *img, int x0, int y0, int n_cols, int n_rows, float *out) {
    const int C = img->channels;
    for (int y = 0; y < n_rows; y++) {
        const size_t at = ((size_t)(y0 + y) * (size_t)img->w + (size_t)x0) * (size_t)C;
        float *o = out + (size_t)y * (size_t)n_cols * 3;
        if (img->bits == 16) {
            const uint16_t *p = (const uint16_t *)img->pixels + at;
            for (int x = 0; x < n_cols; x++) px_rgb16(p + (size_t)x * C, C, o + 3 * (size_t)x);
        } else {
            const uint8_t *p = (const uint8_t *)img->pixels + at;
            for (int x = 0; x < n_cols; x++) px_rgb8(p + (size_t)x * C, C, o + 3 * (size_t)x);
        }
    }
}

int mm_image_load_file(const char *path, mm_image *img, char *err) {
    if (!img) return mm_err(err, "%s: no output image", __func__);
    memset(img, 0, sizeof *img);
    if (!path) return mm_err(err, "%s: no path", __func__);
    /* a regular file, or a pipe / terminal (/dev/stdin) read once: either way decoded from memory */
    void *buf = NULL;
    size_t size = 0;
    char e[MM_ERR_SIZE];
    if (mm_read_file(path, MM_IMAGE_MAX_FILE, &buf, &size, e)) return mm_err(err, "%s", e);
    if (size == 0) {
        free(buf);
        return mm_err(err, "%s: empty file", path);
    }
    int rc = mm_image_load_memory(buf, size, path, img, err);
    free(buf);
    return rc;
}

/* ---------------------------------------------------------------- preprocessing */

mm_image_preproc mm_image_preproc_default(void) {
    mm_image_preproc p = {
        .image_size = 224,
        .mean = {0.48145466f, 0.4578275f, 0.40821073f},
        .std = {0.26862954f, 0.26130258f, 0.27577711f},
        .mode = MM_RESIZE_CROP,
    };
    return p;
}

int mm_resize_mode_from_name(const char *name, size_t len) {
    static const char *names[] = {"squash", "pad", "crop"};
    if (!name) return -1;
    for (int i = 0; i < 3; i++)
        if (strlen(names[i]) == len && !memcmp(names[i], name, len)) return i;
    return -1;
}

const char *mm_resize_mode_name(mm_resize_mode mode) {
    switch (mode) {
    case MM_RESIZE_SQUASH: return "squash";
    case MM_RESIZE_PAD: return "pad";
    case MM_RESIZE_CROP: return "crop";
    }
    return "?";
}

/* The one resampler: src [sh][sw][3] (row stride src_stride floats) -> dst [dh][dw][3] with row stride
 * dst_stride floats; output pixel x samples input position (x + 0.5 + off) / scale - 0.5 (stb_image_resize's
 * subpixel convention). Catmull-Rom both axes, edges clamped, linear colour space, float. */
static int resample(const float *src, int sw, int sh, int src_stride, float *dst, int dw, int dh, int dst_stride,
                    double sx, double sy, double ox, double oy, char *err) {
    int ok = stbir_resize_subpixel(src, sw, sh, src_stride * (int)sizeof(float), dst, dw, dh,
                                   dst_stride * (int)sizeof(float), STBIR_TYPE_FLOAT, 3, STBIR_ALPHA_CHANNEL_NONE,
                                   0, STBIR_EDGE_CLAMP, STBIR_EDGE_CLAMP, STBIR_FILTER_CATMULLROM,
                                   STBIR_FILTER_CATMULLROM, STBIR_COLORSPACE_LINEAR, NULL, (float)sx, (float)sy,
                                   (float)ox, (float)oy);
    if (!ok) return mm_err(err, "mm_image_preprocess: resampling %d x %d -> %d x %d failed (out of memory?)", sw,
                           sh, dw, dh);
    return 0;
}

/* The picture is never converted to float as a whole (8000 x 8000 would be 768 MB): resampling is separable,
 * so the long axis is resampled first straight from the stored samples, converted a strip of lines at a
 * time (STRIP_FLOATS floats), into an intermediate that is S wide along that axis; the other axis is then
 * resampled from that float intermediate. At scale 1 the Catmull-Rom weights are 1, 0, 0 (an exact copy),
 * so each one-axis pass is resample() with the other axis kept. Same result as one 2-D resample up to the
 * order of float roundings (tests/image/test_img_preprocess.py bounds it). */
#define STRIP_FLOATS ((size_t)1 << 21) /* 8 MiB per converted strip */

/* One axis only: along x, w -> n columns, out [h][n][3]; along y, h -> n rows, out [n][w][3]. */
static int resample_axis(const mm_image *img, bool along_x, int n, double scale, double off, float *out, char *err) {
    const int w = img->w, h = img->h, span = along_x ? w : h, total = along_x ? h : w;
    size_t lines = STRIP_FLOATS / (3 * (size_t)span);
    if (lines < 1) lines = 1;
    if (lines > (size_t)total) lines = (size_t)total;
    float *strip = malloc(lines * (size_t)span * 3 * sizeof(float));
    if (!strip) return mm_err(err, "mm_image_preprocess: out of memory for a strip of %zu lines", lines);
    int rc = 0;
    for (int l0 = 0; l0 < total && rc == 0; l0 += (int)lines) {
        const int nl = total - l0 < (int)lines ? total - l0 : (int)lines;
        if (along_x) { /* rows l0.. : [nl][w][3] -> [nl][n][3] */
            mm_image_get_rgb(img, 0, l0, w, nl, strip);
            rc = resample(strip, w, nl, w * 3, out + (size_t)l0 * n * 3, n, nl, n * 3, scale, 1.0, off, 0.0, err);
        } else {       /* columns l0.. : [h][nl][3] -> [n][nl][3] inside out's rows of w */
            mm_image_get_rgb(img, l0, 0, nl, h, strip);
            rc = resample(strip, nl, h, nl * 3, out + (size_t)l0 * 3, nl, n, w * 3, 1.0, scale, 0.0, off, err);
        }
    }
    free(strip);
    return rc;
}

/* The picture -> dst [dh][dw][3] (row stride dst_stride floats), scales and offsets as resample(): the long
 * axis first (from the stored samples), then the other one over the intermediate (short side x S floats). */
static int resample_image(const mm_image *img, float *dst, int dw, int dh, int dst_stride, double sx, double sy,
                          double ox, double oy, char *err) {
    const bool x_first = img->w >= img->h;
    const size_t nt = x_first ? (size_t)img->h * dw * 3 : (size_t)dh * img->w * 3;
    float *t = malloc(nt * sizeof(float));
    if (!t) return mm_err(err, "mm_image_preprocess: out of memory (%zu floats)", nt);
    int rc;
    if (x_first) {
        rc = resample_axis(img, true, dw, sx, ox, t, err);
        if (!rc) rc = resample(t, dw, img->h, dw * 3, dst, dw, dh, dst_stride, 1.0, sy, 0.0, oy, err);
    } else {
        rc = resample_axis(img, false, dh, sy, oy, t, err);
        if (!rc) rc = resample(t, img->w, dh, img->w * 3, dst, dw, dh, dst_stride, sx, 1.0, ox, 0.0, err);
    }
    free(t);
    return rc;
}

/* LLaVA expand2square + resize without building the M x M canvas (see mm_image.h). The resampler is
 * separable, and the padding lies along one axis only, so:
 *   1. resample the picture along its long axis only (M -> S; the other axis keeps its size);
 *   2. place those lines in a mean-filled strip that extends the short axis only as far as the filter
 *      reaches (canvas lines further out are pure mean colour in the result), and resample it along the
 *      short axis into the output lines it can influence; all other output lines are the mean colour.
 * Step 1 leaves mean-coloured canvas lines unchanged (normalised weights), so this equals resampling the
 * padded canvas (checked against a real canvas in tests/image/test_img_preprocess.py). tmp: [S][S][3]. */
static int preprocess_pad(const mm_image *img, const mm_image_preproc *pp, float *tmp, char *err) {
    const int S = pp->image_size, w = img->w, h = img->h;
    const bool pad_y = w > h;              /* pad rows (above/below) or columns (left/right) */
    const int M = pad_y ? w : h;           /* canvas side */
    const int short_len = pad_y ? h : w;   /* picture extent along the padded axis */
    const double s = (double)S / M;
    for (size_t i = 0; i < (size_t)S * S; i++)
        for (int c = 0; c < 3; c++) tmp[3 * i + c] = pp->mean[c];
    const int pad0 = (M - short_len) / 2;      /* canvas offset of the picture along the padded axis */
    const double reach = 2.0 / s + 2.0;        /* filter reach in canvas pixels, plus slack */
    const int c0 = pad0 - reach > 0 ? (int)(pad0 - reach) : 0;
    const int c1 = pad0 + short_len + reach < M ? (int)(pad0 + short_len + reach) : M;
    const int clen = c1 - c0;                  /* strip extent along the padded axis */
    int o0 = (int)floor(c0 * s), o1 = (int)ceil(c1 * s);
    if (o0 < 0) o0 = 0;
    if (o1 > S) o1 = S;
    if (o1 <= o0) return 0;
    /* 1: long axis M -> S. a: [short_len][S][3] lines (pad_y) or [S][short_len][3] (pad_x) */
    const size_t n_a = (size_t)S * (size_t)short_len * 3, n_strip = (size_t)S * (size_t)clen * 3;
    float *a = malloc(n_a * sizeof(float)), *strip = malloc(n_strip * sizeof(float));
    if (!a || !strip) {
        free(a);
        free(strip);
        return mm_err(err, "mm_image_preprocess: out of memory for the padded strip");
    }
    int rc;
    rc = resample_axis(img, pad_y, S, s, 0.0, a, err);
    if (rc == 0) {
        /* 2: the strip, mean-filled, with the picture lines at pad0 - c0 */
        for (size_t i = 0; i < n_strip / 3; i++)
            for (int c = 0; c < 3; c++) strip[3 * i + c] = pp->mean[c];
        const int off = pad0 - c0;
        const double shift = o0 - c0 * s;
        if (pad_y) {
            memcpy(strip + (size_t)off * S * 3, a, n_a * sizeof(float)); /* rows off .. off+h-1, width S */
            rc = resample(strip, S, clen, S * 3, tmp + (size_t)o0 * S * 3, S, o1 - o0, S * 3, 1.0, s, 0.0, shift, err);
        } else {
            for (int y = 0; y < S; y++) /* strip [S][clen][3]: columns off .. off+w-1 */
                memcpy(strip + ((size_t)y * clen + off) * 3, a + (size_t)y * w * 3, (size_t)w * 3 * sizeof(float));
            rc = resample(strip, clen, S, clen * 3, tmp + (size_t)o0 * 3, o1 - o0, S, S * 3, s, 1.0, shift, 0.0, err);
        }
    }
    free(a);
    free(strip);
    return rc;
}

int mm_image_preprocess(const mm_image *img, const mm_image_preproc *pp, float *out, char *err) {
    if (!img || !img->pixels || !pp || !out) return mm_err(err, "%s: missing argument", __func__);
    if ((img->bits != 8 && img->bits != 16) || img->channels < 1 || img->channels > 4)
        return mm_err(err, "%s: bad sample format (%d channels of %d bits)", __func__, img->channels, img->bits);
    if (img->w <= 0 || img->h <= 0 || img->w > MM_IMAGE_MAX_SIDE || img->h > MM_IMAGE_MAX_SIDE)
        return mm_err(err, "%s: bad image size %d x %d", __func__, img->w, img->h);
    const int S = pp->image_size;
    if (S < 1 || S > 4096) return mm_err(err, "%s: image size %d out of range [1, 4096]", __func__, S);
    for (int c = 0; c < 3; c++)
        if (!isfinite(pp->mean[c]) || !isfinite(pp->std[c]) || !(pp->std[c] > 0.0f))
            return mm_err(err, "%s: bad mean/std for channel %d", __func__, c);
    const int w = img->w, h = img->h;
    float *tmp = malloc((size_t)S * S * 3 * sizeof(float));
    if (!tmp) return mm_err(err, "%s: out of memory", __func__);
    int rc = 0;
    switch (pp->mode) {
    case MM_RESIZE_SQUASH:
        rc = resample_image(img, tmp, S, S, S * 3, (double)S / w, (double)S / h, 0.0, 0.0, err);
        break;
    case MM_RESIZE_PAD:
        if (w == h) rc = resample_image(img, tmp, S, S, S * 3, (double)S / w, (double)S / h, 0, 0, err);
        else rc = preprocess_pad(img, pp, tmp, err);
        break;
    case MM_RESIZE_CROP: {
        /* torchvision Resize(S): short side -> S, long -> int(S * long / short); CenterCrop(S). */
        double rw, rh;
        if (w <= h) {
            rw = S;
            rh = floor((double)S * h / w);
        } else {
            rh = S;
            rw = floor((double)S * w / h);
        }
        if (rw < S) rw = S;
        if (rh < S) rh = S;
        const double left = nearbyint((rw - S) / 2.0), top = nearbyint((rh - S) / 2.0); /* half to even */
        rc = resample_image(img, tmp, S, S, S * 3, rw / w, rh / h, left, top, err);
        break;
    }
    default: rc = mm_err(err, "%s: unknown resize mode %d", __func__, (int)pp->mode);
    }
    if (rc == 0) {
        const size_t SS = (size_t)S * S;
        for (int c = 0; c < 3; c++) {
            const float m = pp->mean[c], sd = pp->std[c];
            float *o = out + c * SS;
            for (size_t i = 0; i < SS; i++) o[i] = (tmp[3 * i + c] - m) / sd;
        }
    }
    free(tmp);
    return rc;
}
