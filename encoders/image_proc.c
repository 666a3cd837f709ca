/* image_proc.c - the image processors of LLaVA-1.5 and SmolVLM/Idefics3, bit-exact with PIL's 8-bit resampling.
 * See include/mm_image.h ("model processors") and docs/IMAGE_PROCESSORS.md for each step and its source.
 *
 * PIL's resize (Pillow src/libImaging/Resample.c) of an 8-bit picture, which the Hugging Face processors call:
 *   - per axis, output pixel i samples the input around center = (i + 0.5) * scale, scale = in / out; the
 *     filter's support is widened by max(scale, 1) (antialiasing when shrinking), the taps are the input pixels
 *     [(int)(center - support + 0.5), (int)(center + support + 0.5)) clamped to the picture, each weighted
 *     filter((j - center + 0.5) / max(scale, 1)), normalised to sum 1 in double, then rounded half away from
 *     zero to 22-bit fixed point;
 *   - horizontal pass first (only over the input rows the vertical pass reads), into an 8-bit image: each sum
 *     starts at 1 << 21 (rounding), is shifted right by 22 and clipped to 0..255; then the vertical pass the
 *     same way; an axis whose size does not change is not filtered; a same-size resize is a copy.
 * Filters: bilinear (triangle, support 1), bicubic (Keys a = -0.5, support 2), Lanczos-3 (sinc(x) sinc(x/3),
 * support 3). */
#include "mm_image.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PREC 22 /* fixed-point bits of the 8-bit resampler's weights (PIL: 32 - 8 - 2) */
#define PROC_MAX_TAPS ((size_t)1 << 26) /* out_size * taps of one axis' weight table */
#define HF_MAX_IMAGE_SIZE 4096          /* transformers' Idefics3 MAX_IMAGE_SIZE: cap after the longest-edge resize */
#define PROC_MAX_LONGEST_EDGE 65536     /* longest_edge requests above this are refused (HF caps at 4096 anyway) */

/* ---------------------------------------------------------------- filters */
static double filter_eval(mm_resample_filter f, double x) {
    if (x < 0.0) x = -x;
    switch (f) {
    case MM_RESAMPLE_BILINEAR: return x < 1.0 ? 1.0 - x : 0.0;
    case MM_RESAMPLE_BICUBIC: { /* Keys cubic convolution, a = -0.5 */
        const double a = -0.5;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
        if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
        return 0.0;
    }
    case MM_RESAMPLE_LANCZOS: {
        if (x >= 3.0) return 0.0;
        if (x == 0.0) return 1.0;
        const double px = x * M_PI, px3 = x / 3.0 * M_PI;
        return (sin(px) / px) * (sin(px3) / px3);
    }
    }
    return 0.0;
}

static double filter_support(mm_resample_filter f) {
    return f == MM_RESAMPLE_BILINEAR ? 1.0 : f == MM_RESAMPLE_BICUBIC ? 2.0 : 3.0;
}

/* ---------------------------------------------------------------- one axis' weights */
typedef struct {
    int      taps;   /* weights per output pixel (table stride) */
    int     *first;  /* [out] first input pixel */
    int     *count;  /* [out] input pixels used */
    int32_t *w;      /* [out][taps] fixed-point weights */
} axis_coeffs;

static void coeffs_free(axis_coeffs *c) {
    free(c->first);
    free(c->count);
    free(c->w);
    memset(c, 0, sizeof *c);
}

static int coeffs_init(axis_coeffs *c, int in, int out, mm_resample_filter f, char *err) {
    memset(c, 0, sizeof *c);
    const double scale = (double)in / out; /* (in1 - in0) / out with in0 = 0 */
    const double fscale = scale < 1.0 ? 1.0 : scale;
    const double support = filter_support(f) * fscale;
    const double taps_d = ceil(support) * 2.0 + 1.0;
    if (taps_d * (double)out > (double)PROC_MAX_TAPS)
        return mm_err(err, "resample: %d -> %d px needs %.0f weights, over the cap", in, out, taps_d * out);
    c->taps = (int)taps_d;
    c->first = malloc((size_t)out * sizeof(int));
    c->count = malloc((size_t)out * sizeof(int));
    c->w = calloc((size_t)out * (size_t)c->taps, sizeof(int32_t));
    double *k = malloc((size_t)c->taps * sizeof(double));
    if (!c->first || !c->count || !c->w || !k) {
        free(k);
        coeffs_free(c);
        return mm_err(err, "resample: out of memory for %d x %d weights", out, (int)taps_d);
    }
    const double inv = 1.0 / fscale;
    for (int i = 0; i < out; i++) {
        const double center = (i + 0.5) * scale;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        const int n = hi - lo; /* <= taps: the window is 2 * support + 1 wide at most */
        double sum = 0.0;
        for (int j = 0; j < n; j++) {
            k[j] = filter_eval(f, (j + lo - center + 0.5) * inv);
            sum += k[j];
        }
        int32_t *wi = c->w + (size_t)i * c->taps;
        for (int j = 0; j < n; j++) {
            const double v = sum != 0.0 ? k[j] / sum : k[j];
            wi[j] = (int32_t)(v < 0 ? -0.5 + v * (1 << PREC) : 0.5 + v * (1 << PREC)); /* half away from 0 */
        }
        c->first[i] = lo;
        c->count[i] = n;
    }
    free(k);
    return 0;
}

static inline uint8_t clip8(int32_t v) {
    if (v < 0) return 0;
    v >>= PREC;
    return v > 255 ? 255 : (uint8_t)v;
}

/* Horizontal pass of one RGB row: in [.][3] -> out [i0, i1) of [.][3]. */
static void hpass_row(const uint8_t *in, const axis_coeffs *c, int i0, int i1, uint8_t *out) {
    for (int i = i0; i < i1; i++) {
        const int32_t *w = c->w + (size_t)i * c->taps;
        const uint8_t *p = in + 3 * (size_t)c->first[i];
        int32_t s0 = 1 << (PREC - 1), s1 = s0, s2 = s0;
        for (int j = 0; j < c->count[i]; j++, p += 3) {
            s0 += p[0] * w[j];
            s1 += p[1] * w[j];
            s2 += p[2] * w[j];
        }
        out[3 * i + 0] = clip8(s0);
        out[3 * i + 1] = clip8(s1);
        out[3 * i + 2] = clip8(s2);
    }
}

/* Vertical pass: in rows [.][w][3] -> out [oh][w][3]; acc: w * 3 int32 scratch. Same integer sums as
 * PIL's per-pixel loop (accumulated row by row; no overflow: |sum| < 255 * 1.7 * 2^22 < 2^31). */
static void vpass(const uint8_t *in, int w, const axis_coeffs *c, int oh, uint8_t *out, int32_t *acc) {
    const size_t rw = (size_t)w * 3;
    for (int i = 0; i < oh; i++) {
        const int32_t *wt = c->w + (size_t)i * c->taps;
        for (size_t x = 0; x < rw; x++) acc[x] = 1 << (PREC - 1);
        for (int j = 0; j < c->count[i]; j++) {
            const uint8_t *r = in + (size_t)(c->first[i] + j) * rw;
            const int32_t k = wt[j];
            for (size_t x = 0; x < rw; x++) acc[x] += r[x] * k;
        }
        uint8_t *o = out + (size_t)i * rw;
        for (size_t x = 0; x < rw; x++) o[x] = clip8(acc[x]);
    }
}

/* ---------------------------------------------------------------- 8-bit RGB conversion */
/* PIL ImagingAlphaComposite of src over opaque white (dst = 255, 255, 255, 255), 7 extra bits. */
static inline uint8_t over_white(int v, int a) {
    if (a == 0) return 255;
    const uint32_t coef1 = (uint32_t)a * 255u * 255u * 128u / (uint32_t)(a * 255 + 255 * (255 - a));
    const uint32_t coef2 = 255u * 128u - coef1;
    const uint32_t t = (uint32_t)v * coef1 + 255u * coef2 + (0x80u << 7);
    return (uint8_t)((((t >> 8) + t) >> 8) >> 7);
}

/* Row y of the picture as 8-bit RGB ([w][3]). */
static void rgb8_row(const mm_image *img, mm_alpha_mode alpha, int y, uint8_t *o) {
    const int C = img->channels, w = img->w;
    const size_t at = (size_t)y * (size_t)w * (size_t)C;
    const bool b16 = img->bits == 16;
    const uint8_t *p8 = b16 ? NULL : (const uint8_t *)img->pixels + at;
    const uint16_t *p16 = b16 ? (const uint16_t *)img->pixels + at : NULL;
    for (int x = 0; x < w; x++) {
        int v[4] = {0, 0, 0, 255};
        for (int c = 0; c < C; c++) v[c] = b16 ? p16[(size_t)x * C + c] >> 8 : p8[(size_t)x * C + c];
        const int a = C == 2 ? v[1] : C == 4 ? v[3] : 255;
        for (int c = 0; c < 3; c++) {
            const int s = C >= 3 ? v[c] : v[0];
            o[3 * x + c] = alpha == MM_ALPHA_WHITE && a != 255 ? over_white(s, a) : (uint8_t)s;
        }
    }
}

static int check_image(const mm_image *img, const char *fn, char *err) {
    if (!img || !img->pixels) return mm_err(err, "%s: no image", fn);
    if ((img->bits != 8 && img->bits != 16) || img->channels < 1 || img->channels > 4)
        return mm_err(err, "%s: bad sample format (%d channels of %d bits)", fn, img->channels, img->bits);
    if (img->w <= 0 || img->h <= 0 || img->w > MM_IMAGE_MAX_SIDE || img->h > MM_IMAGE_MAX_SIDE ||
        (long long)img->w * img->h > MM_IMAGE_MAX_PIXELS)
        return mm_err(err, "%s: bad image size %d x %d", fn, img->w, img->h);
    return 0;
}

int mm_image_to_rgb8(const mm_image *img, mm_alpha_mode alpha, uint8_t *out, char *err) {
    if (check_image(img, __func__, err)) return -1;
    if (!out) return mm_err(err, "%s: no output", __func__);
    for (int y = 0; y < img->h; y++) rgb8_row(img, alpha, y, out + (size_t)y * img->w * 3);
    return 0;
}

/* ---------------------------------------------------------------- resize from a row source */
/* Rows come either from an 8-bit RGB buffer or from a decoded picture converted a row at a time. */
typedef struct {
    const uint8_t  *buf;   /* [h][w][3], or NULL: */
    const mm_image *img;   /* converted with `alpha` */
    mm_alpha_mode   alpha;
    int             w, h;
} row_source;

static const uint8_t *src_row(const row_source *s, int y, uint8_t *scratch) {
    if (s->buf) return s->buf + (size_t)y * s->w * 3;
    rgb8_row(s->img, s->alpha, y, scratch);
    return scratch;
}

static int check_side(int v, const char *what, char *err) {
    if (v < 1 || v > MM_IMAGE_PROC_MAX_SIDE)
        return mm_err(err, "resample: %s %d out of range [1, %d]", what, v, MM_IMAGE_PROC_MAX_SIDE);
    return 0;
}

/* PIL Image.resize((ow, oh), filter) of the source -> dst [oh][ow][3]. */
static int resize_source(const row_source *s, uint8_t *dst, int ow, int oh, mm_resample_filter f, char *err) {
    const int w = s->w, h = s->h;
    if (check_side(ow, "output width", err) || check_side(oh, "output height", err)) return -1;
    if (f != MM_RESAMPLE_BILINEAR && f != MM_RESAMPLE_BICUBIC && f != MM_RESAMPLE_LANCZOS)
        return mm_err(err, "resample: unknown filter %d", (int)f);
    const size_t orow = (size_t)ow * 3;
    uint8_t *scratch = s->buf ? NULL : malloc((size_t)w * 3);
    if (!s->buf && !scratch) return mm_err(err, "resample: out of memory");
    if (ow == w && oh == h) { /* PIL: a copy */
        for (int y = 0; y < h; y++) memcpy(dst + (size_t)y * orow, src_row(s, y, scratch), orow);
        free(scratch);
        return 0;
    }
    axis_coeffs cx = {0}, cy = {0};
    uint8_t *tmp = NULL;
    int32_t *acc = NULL;
    int rc = -1;
    if (coeffs_init(&cx, w, ow, f, err) || coeffs_init(&cy, h, oh, f, err)) goto done;
    const bool need_h = ow != w, need_v = oh != h;
    /* the input rows the vertical pass reads (all of them when it does not run) */
    const int y0 = cy.first[0], y1 = cy.first[oh - 1] + cy.count[oh - 1];
    if (need_h) {
        const size_t nt = (size_t)(y1 - y0) * orow;
        tmp = need_v ? malloc(nt) : dst;
        if (!tmp) {
            mm_err(err, "resample: out of memory (%zu bytes)", nt);
            goto done;
        }
        for (int y = y0; y < y1; y++) hpass_row(src_row(s, y, scratch), &cx, 0, ow, tmp + (size_t)(y - y0) * orow);
        if (need_v) {
            for (int i = 0; i < oh; i++) cy.first[i] -= y0;
            acc = malloc(orow * sizeof(int32_t));
            if (!acc) {
                mm_err(err, "resample: out of memory");
                goto done;
            }
            vpass(tmp, ow, &cy, oh, dst, acc);
        }
    } else { /* vertical only: the rows as they are */
        const uint8_t *in = s->buf;
        if (!in) {
            tmp = malloc((size_t)h * orow);
            if (!tmp) {
                mm_err(err, "resample: out of memory (%d x %d)", w, h);
                goto done;
            }
            for (int y = 0; y < h; y++) rgb8_row(s->img, s->alpha, y, tmp + (size_t)y * orow);
            in = tmp;
        }
        acc = malloc(orow * sizeof(int32_t));
        if (!acc) {
            mm_err(err, "resample: out of memory");
            goto done;
        }
        vpass(in, w, &cy, oh, dst, acc);
    }
    rc = 0;
done:
    if (tmp != dst) free(tmp);
    free(acc);
    free(scratch);
    coeffs_free(&cx);
    coeffs_free(&cy);
    return rc;
}

int mm_image_resize_rgb8(const uint8_t *src, int w, int h, uint8_t *dst, int ow, int oh, mm_resample_filter filter,
                         char *err) {
    if (!src || !dst) return mm_err(err, "%s: missing buffer", __func__);
    if (w < 1 || h < 1 || (long long)w * h > MM_IMAGE_MAX_PIXELS)
        return mm_err(err, "%s: bad input size %d x %d", __func__, w, h);
    row_source s = {.buf = src, .w = w, .h = h};
    return resize_source(&s, dst, ow, oh, filter, err);
}

/* ---------------------------------------------------------------- LLaVA: expand2square + CLIP resize */
/* The picture centred on an M x M canvas of colour bg (M = max(w, h); llava.mm_utils.expand2square pastes it
 * at (0, (M - h) // 2) or ((M - w) // 2, 0)), then PIL bicubic M x M -> S x S. The canvas is never built:
 * both axes share one weight table; a canvas row is either all background (its horizontal pass is computed
 * once) or background plus one picture row, where only the output pixels whose taps reach the picture are
 * recomputed. Memory: one canvas row and S x (rows read) bytes. out [S][S][3]. */
static int llava_resize(const mm_image *img, const uint8_t bg[3], int S, uint8_t *out, char *err) {
    const int w = img->w, h = img->h, M = w > h ? w : h;
    const int ox = (M - w) / 2, oy = (M - h) / 2;
    if (M == S) { /* the canvas is the output (PIL copies) */
        for (int y = 0; y < S; y++) {
            uint8_t *o = out + (size_t)y * S * 3;
            for (int x = 0; x < S; x++) memcpy(o + 3 * x, bg, 3);
            if (y >= oy && y < oy + h) rgb8_row(img, MM_ALPHA_DROP, y - oy, o + 3 * (size_t)ox);
        }
        return 0;
    }
    axis_coeffs c;
    if (coeffs_init(&c, M, S, MM_RESAMPLE_BICUBIC, err)) return -1;
    const int y0 = c.first[0], y1 = c.first[S - 1] + c.count[S - 1];
    const size_t orow = (size_t)S * 3;
    uint8_t *row = malloc((size_t)M * 3), *bg_out = malloc(orow), *tmp = malloc((size_t)(y1 - y0) * orow);
    int32_t *acc = malloc(orow * sizeof(int32_t));
    int rc = 0;
    if (!row || !bg_out || !tmp || !acc) {
        rc = mm_err(err, "mm_image_process: out of memory for a %d px canvas", M);
        goto done;
    }
    for (int x = 0; x < M; x++) memcpy(row + 3 * x, bg, 3);
    hpass_row(row, &c, 0, S, bg_out);
    /* output columns whose taps reach canvas columns [ox, ox + w) */
    int i0 = 0, i1 = S;
    while (i0 < S && c.first[i0] + c.count[i0] <= ox) i0++;
    while (i1 > i0 && c.first[i1 - 1] >= ox + w) i1--;
    for (int y = y0; y < y1; y++) {
        uint8_t *t = tmp + (size_t)(y - y0) * orow;
        memcpy(t, bg_out, orow);
        if (y < oy || y >= oy + h) continue;
        rgb8_row(img, MM_ALPHA_DROP, y - oy, row + 3 * (size_t)ox); /* background around it stays */
        hpass_row(row, &c, i0, i1, t);
    }
    for (int i = 0; i < S; i++) c.first[i] -= y0;
    vpass(tmp, S, &c, S, out, acc);
done:
    free(row);
    free(bg_out);
    free(tmp);
    free(acc);
    coeffs_free(&c);
    return rc;
}

/* ---------------------------------------------------------------- Idefics3 sizes (transformers) */
/* image_processing_idefics3.py: _resize_output_size_rescale_to_max_len (min_len 1) then
 * _resize_output_size_scale_below_upper_bound (MAX_IMAGE_SIZE 4096). Python int() = C truncation. */
static void idefics3_longest_edge_size(int w, int h, int L, int *ow, int *oh) {
    double ar = (double)w / h;
    int W, H;
    if (w >= h) {
        W = L;
        H = (int)(W / ar);
        if (H % 2) H++;
    } else {
        H = L;
        W = (int)(H * ar);
        if (W % 2) W++;
    }
    if (H < 1) H = 1;
    if (W < 1) W = 1;
    ar = (double)W / H;
    if (W >= H && W > HF_MAX_IMAGE_SIZE) {
        W = HF_MAX_IMAGE_SIZE;
        H = (int)(W / ar);
    } else if (H > W && H > HF_MAX_IMAGE_SIZE) {
        H = HF_MAX_IMAGE_SIZE;
        W = (int)(H * ar);
    }
    *ow = W < 1 ? 1 : W;
    *oh = H < 1 ? 1 : H;
}

/* resize_for_vision_encoder: both sides up to multiples of S (the long one first, the other from the ratio). */
static void idefics3_multiple_size(int w, int h, int S, int *ow, int *oh) {
    const double ar = (double)w / h;
    int W, H;
    if (w >= h) {
        W = (int)ceil((double)w / S) * S;
        H = (int)(W / ar);
        H = (int)ceil((double)H / S) * S;
    } else {
        H = (int)ceil((double)h / S) * S;
        W = (int)(H * ar);
        W = (int)ceil((double)W / S) * S;
    }
    *ow = W < S ? S : W; /* int(W / ar) is >= 1 here; kept >= S against rounding */
    *oh = H < S ? S : H;
}

/* Sizes of the Idefics3 pipeline for longest edge L: after the first resize (w1, h1), after rounding to
 * multiples of S (w2, h2); grid rows x cols (0 x 0 when the picture is one tile). */
static void idefics3_plan(int w, int h, int S, int L, int *w1, int *h1, int *w2, int *h2, int *rows, int *cols) {
    idefics3_longest_edge_size(w, h, L, w1, h1);
    idefics3_multiple_size(*w1, *h1, S, w2, h2);
    if (*h2 > S || *w2 > S) {
        *rows = (int)ceil((double)*h2 / S);
        *cols = (int)ceil((double)*w2 / S);
    } else {
        *rows = *cols = 0;
    }
}

mm_image_proc_params mm_image_proc_default_params(mm_image_proc_kind kind) {
    mm_image_proc_params p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    const mm_image_preproc d = mm_image_preproc_default();
    memcpy(p.mean, d.mean, sizeof p.mean);
    memcpy(p.std, d.std, sizeof p.std);
    p.size = d.image_size;
    p.mode = d.mode;
    if (kind == MM_IMGPROC_LLAVA) p.size = 336;
    if (kind == MM_IMGPROC_IDEFICS3) {
        p.size = 512;
        p.longest_edge = 4 * 512;
        for (int c = 0; c < 3; c++) p.mean[c] = p.std[c] = 0.5f;
    }
    return p;
}

static int check_params(const mm_image_proc_params *p, char *err) {
    if (!p) return mm_err(err, "mm_image_process: no parameters");
    if (p->kind != MM_IMGPROC_PLAIN && p->kind != MM_IMGPROC_LLAVA && p->kind != MM_IMGPROC_IDEFICS3)
        return mm_err(err, "mm_image_process: unknown processor kind %d", (int)p->kind);
    if (p->size < 1 || p->size > 2048) return mm_err(err, "mm_image_process: size %d out of range [1, 2048]", p->size);
    for (int c = 0; c < 3; c++)
        if (!isfinite(p->mean[c]) || !isfinite(p->std[c]) || !(p->std[c] > 0.0f))
            return mm_err(err, "mm_image_process: bad mean/std for channel %d", c);
    if (p->longest_edge < 0 || p->longest_edge > PROC_MAX_LONGEST_EDGE)
        return mm_err(err, "mm_image_process: longest_edge %d out of range [0, %d]", p->longest_edge,
                      PROC_MAX_LONGEST_EDGE);
    if (p->max_tiles < 0) return mm_err(err, "mm_image_process: max_tiles %d is negative", p->max_tiles);
    return 0;
}

/* The longest edge Idefics3 uses: the request (or 4 S), lowered a step of S at a time until rows * cols fits
 * max_tiles (down to S, where the picture is one tile). */
static int idefics3_longest_edge(int w, int h, const mm_image_proc_params *p) {
    const int S = p->size;
    int L = p->longest_edge ? p->longest_edge : 4 * S;
    for (;;) {
        int w1, h1, w2, h2, r, c;
        idefics3_plan(w, h, S, L, &w1, &h1, &w2, &h2, &r, &c);
        if (p->max_tiles == 0 || (long long)r * c <= p->max_tiles || L <= S) return L;
        L = L - S < S ? S : L - S;
    }
}

int mm_image_proc_grid(int w, int h, const mm_image_proc_params *p, int *n_rows, int *n_cols, char *err) {
    if (check_params(p, err)) return -1;
    if (w < 1 || h < 1 || w > MM_IMAGE_MAX_SIDE || h > MM_IMAGE_MAX_SIDE)
        return mm_err(err, "mm_image_proc_grid: bad image size %d x %d", w, h);
    int r = 0, c = 0;
    if (p->kind == MM_IMGPROC_IDEFICS3) {
        int w1, h1, w2, h2;
        idefics3_plan(w, h, p->size, idefics3_longest_edge(w, h, p), &w1, &h1, &w2, &h2, &r, &c);
    }
    if (n_rows) *n_rows = r;
    if (n_cols) *n_cols = c;
    return 0;
}

/* ---------------------------------------------------------------- normalisation */
/* One S x S 8-bit RGB image -> [3][S][S] as transformers does it: rescale (float64 v * (1/255), cast to
 * float32), then normalize in float32: (x - mean) / std. */
static void normalize_rgb8(const uint8_t *rgb, int S, const float mean[3], const float std[3], float *out) {
    const size_t SS = (size_t)S * S;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < SS; i++) {
            const float x = (float)(rgb[3 * i + c] * (1.0 / 255.0));
            out[c * SS + i] = (x - mean[c]) / std[c];
        }
}

/* ---------------------------------------------------------------- entry point */
void mm_image_tiles_free(mm_image_tiles *t) {
    if (!t) return;
    free(t->pixels);
    memset(t, 0, sizeof *t);
}

static int alloc_tiles(mm_image_tiles *out, int rows, int cols, int S, char *err) {
    const long long n = (long long)rows * cols + 1;
    const double bytes = (double)n * 3.0 * S * S * sizeof(float);
    if (bytes > (double)MM_IMAGE_PROC_MAX_BYTES)
        return mm_err(err, "mm_image_process: %d x %d tiles + 1 of %d px need %.0f MiB, over the cap of %lld MiB "
                           "(lower longest_edge or max_tiles)",
                      rows, cols, S, bytes / 1048576.0, MM_IMAGE_PROC_MAX_BYTES >> 20);
    out->pixels = malloc((size_t)bytes);
    if (!out->pixels) return mm_err(err, "mm_image_process: out of memory (%.0f MiB of tiles)", bytes / 1048576.0);
    out->n_rows = rows;
    out->n_cols = cols;
    out->n_images = (int)n;
    out->size = S;
    return 0;
}

static int process_idefics3(const mm_image *img, const mm_image_proc_params *p, mm_image_tiles *out, char *err) {
    const int S = p->size;
    const int L = idefics3_longest_edge(img->w, img->h, p);
    int w1, h1, w2, h2, rows, cols;
    idefics3_plan(img->w, img->h, S, L, &w1, &h1, &w2, &h2, &rows, &cols);
    if (alloc_tiles(out, rows, cols, S, err)) return -1;
    /* 1. longest edge -> L (LANCZOS, from the picture converted row by row, alpha over white) */
    uint8_t *a = malloc((size_t)w1 * h1 * 3), *b = NULL, *g = NULL;
    int rc = -1;
    if (!a) {
        mm_err(err, "mm_image_process: out of memory (%d x %d)", w1, h1);
        goto done;
    }
    row_source s0 = {.img = img, .alpha = MM_ALPHA_WHITE, .w = img->w, .h = img->h};
    if (resize_source(&s0, a, w1, h1, MM_RESAMPLE_LANCZOS, err)) goto done;
    /* 2. both sides to multiples of S (a copy when they already are) */
    b = (w2 == w1 && h2 == h1) ? a : malloc((size_t)w2 * h2 * 3);
    if (!b) {
        mm_err(err, "mm_image_process: out of memory (%d x %d)", w2, h2);
        goto done;
    }
    if (b != a && mm_image_resize_rgb8(a, w1, h1, b, w2, h2, MM_RESAMPLE_LANCZOS, err)) goto done;
    /* 3. tiles S x S row-major (crops), then the global image: the whole picture resized to S x S */
    const size_t per = (size_t)3 * S * S;
    g = malloc((size_t)S * S * 3);
    if (!g) {
        mm_err(err, "mm_image_process: out of memory");
        goto done;
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            for (int y = 0; y < S; y++)
                memcpy(g + (size_t)y * S * 3, b + ((size_t)(r * S + y) * w2 + (size_t)c * S) * 3, (size_t)S * 3);
            normalize_rgb8(g, S, p->mean, p->std, out->pixels + (size_t)(r * cols + c) * per);
        }
    if (mm_image_resize_rgb8(b, w2, h2, g, S, S, MM_RESAMPLE_LANCZOS, err)) goto done;
    normalize_rgb8(g, S, p->mean, p->std, out->pixels + (size_t)(rows * cols) * per);
    rc = 0;
done:
    if (b != a) free(b);
    free(a);
    free(g);
    return rc;
}

int mm_image_process(const mm_image *img, const mm_image_proc_params *p, mm_image_tiles *out, char *err) {
    if (!out) return mm_err(err, "mm_image_process: no output");
    memset(out, 0, sizeof *out);
    if (check_image(img, "mm_image_process", err) || check_params(p, err)) return -1;
    const int S = p->size;
    int rc;
    if (p->kind == MM_IMGPROC_IDEFICS3) {
        rc = process_idefics3(img, p, out, err);
    } else {
        if (alloc_tiles(out, 0, 0, S, err)) return -1;
        if (p->kind == MM_IMGPROC_PLAIN) {
            mm_image_preproc pp = {.image_size = S, .mode = p->mode};
            memcpy(pp.mean, p->mean, sizeof pp.mean);
            memcpy(pp.std, p->std, sizeof pp.std);
            rc = mm_image_preprocess(img, &pp, out->pixels, err);
        } else { /* LLaVA: background (int)(mean * 255) as llava's process_images passes it */
            uint8_t bg[3];
            for (int c = 0; c < 3; c++) {
                const double v = (double)p->mean[c] * 255.0;
                bg[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : (int)v);
            }
            uint8_t *rgb = malloc((size_t)S * S * 3);
            rc = rgb ? llava_resize(img, bg, S, rgb, err) : mm_err(err, "mm_image_process: out of memory");
            if (rc == 0) normalize_rgb8(rgb, S, p->mean, p->std, out->pixels);
            free(rgb);
        }
    }
    if (rc) mm_image_tiles_free(out);
    return rc;
}

mm_image_proc_params mm_image_proc_for_model(const mm_gguf *g, const mm_vit_model *vit) {
    mm_image_proc_params p = mm_image_proc_default_params(MM_IMGPROC_PLAIN);
    if (vit) { /* PLAIN: the tower's own preprocessing (mm_vit_preproc: its size, mean, std and resize mode) */
        const mm_image_preproc vp = mm_vit_preproc(vit);
        p.size = vp.image_size;
        memcpy(p.mean, vp.mean, sizeof p.mean);
        memcpy(p.std, vp.std, sizeof p.std);
        p.mode = vp.mode;
    }
    const char          *pt = NULL;
    size_t               pn = 0;
    if (!g || !vit || mm_gguf_find_key(g, "mmgpt.vision.resize_mode") >= 0 ||
        mm_gguf_find_key(g, "mmgpt.vision.feature_layer") >= 0 || mm_gguf_get_str(g, "clip.projector_type", &pt, &pn))
        return p;
    /* MobileVLM V2 (ldpv2) uses LLaVA-1.5's processor (CLIPImageProcessor, image_aspect_ratio "pad") */
    mm_image_proc_kind kind = (pn == 3 && !memcmp(pt, "mlp", 3)) || (pn == 5 && !memcmp(pt, "ldpv2", 5))
                                  ? MM_IMGPROC_LLAVA
                              : pn == 8 && !memcmp(pt, "idefics3", 8) ? MM_IMGPROC_IDEFICS3
                                                                      : MM_IMGPROC_PLAIN;
    if (kind == MM_IMGPROC_PLAIN) return p;
    mm_image_preproc pp = mm_vit_preproc(vit);
    p = mm_image_proc_default_params(kind);
    p.size = pp.image_size;
    memcpy(p.mean, pp.mean, sizeof p.mean);
    memcpy(p.std, pp.std, sizeof p.std);
    uint32_t le = 0;
    if (kind == MM_IMGPROC_IDEFICS3 && mm_gguf_get_u32(g, "clip.vision.preproc_image_size", &le) == 0 && le > 0 &&
        le <= 65536)
        p.longest_edge = (int)le;
    return p;
}
