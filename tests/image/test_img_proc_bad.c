/* img_proc_bad: the processor API (mm_image_process, mm_image_resize_rgb8, mm_image_to_rgb8) and the EXIF reader
 * on hostile or degenerate input: a clear error or a valid result, never a crash (run also under ASan/UBSan).
 *   - NULL arguments, unknown kind, size 0 / 5000, std 0, NaN mean, negative max_tiles, longest_edge 10^9
 *     -> -1 with a message, *out zeroed; mm_image_tiles_free(NULL) and a second free are harmless
 *   - resize to 0 or over MM_IMAGE_PROC_MAX_SIDE -> -1
 *   - 16-bit RGBA, grey+alpha, 1 x 16384 and 16384 x 1 pictures through every processor -> finite values in
 *     the normalised range; rows/cols equal mm_image_proc_grid's
 *   - a JPEG (tests/data) with an APP1 "Exif" segment inserted: orientation 6 (little- and big-endian) swaps
 *     w and h (also when the IFD declares more entries than the segment holds: PIL keeps the entries it
 *     could read); IFD offsets past the end, a wrong magic, orientation 0 or 9, and every truncation of
 *     the segment -> loaded upright-as-stored (orientation 1) or refused, never a crash.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_image.h"

#include "mm_check.h"
#include "test_data.h"

static mm_image make(int w, int h, int C, int bits, unsigned seed) {
    mm_image im = {.w = w, .h = h, .channels = C, .bits = bits};
    const size_t n = (size_t)w * h * C;
    im.pixels = malloc(n * (size_t)(bits / 8));
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        if (bits == 16) ((uint16_t *)im.pixels)[i] = (uint16_t)(seed >> 8);
        else ((uint8_t *)im.pixels)[i] = (uint8_t)(seed >> 16);
    }
    return im;
}

static void all_kinds(const mm_image *im, const char *what) {
    char err[MM_ERR_SIZE];
    for (int k = 0; k < 3; k++) {
        mm_image_proc_params p = mm_image_proc_default_params((mm_image_proc_kind)k);
        p.size = k == 2 ? 32 : 24;
        p.longest_edge = k == 2 ? 96 : 0;
        mm_image_tiles t;
        int rows = -1, cols = -1;
        CHECK(mm_image_proc_grid(im->w, im->h, &p, &rows, &cols, err) == 0, "%s: grid: %s", what, err);
        if (mm_image_process(im, &p, &t, err) != 0) {
            CHECK(0, "%s kind %d: %s", what, k, err);
            continue;
        }
        CHECK(t.n_rows == rows && t.n_cols == cols && t.n_images == rows * cols + 1 && t.size == p.size,
              "%s kind %d: grid %dx%d (%d images), mm_image_proc_grid %dx%d", what, k, t.n_rows, t.n_cols,
              t.n_images, rows, cols);
        const size_t n = (size_t)t.n_images * 3 * t.size * t.size;
        float lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            lo = fminf(lo, t.pixels[i]);
            hi = fmaxf(hi, t.pixels[i]);
        }
        /* [0, 1] normalised: plain's float resampler may overshoot a little; the 8-bit ones cannot */
        const float slack = k == 0 ? 0.2f : 0.0f;
        float bound = 0;
        for (int c = 0; c < 3; c++) bound = fmaxf(bound, (fabsf(p.mean[c]) + 1.0f + slack) / p.std[c]);
        CHECK(isfinite(lo) && isfinite(hi) && lo >= -bound && hi <= bound, "%s kind %d: values %g .. %g", what, k,
              lo, hi);
        mm_image_tiles_free(&t);
        mm_image_tiles_free(&t); /* zeroed: harmless */
    }
}

static void refused(const mm_image *im, mm_image_proc_params p, const char *want) {
    char err[MM_ERR_SIZE] = "";
    mm_image_tiles t;
    memset(&t, 0x55, sizeof t);
    const int rc = mm_image_process(im, &p, &t, err);
    CHECK(rc == -1 && strstr(err, want) && t.pixels == NULL && t.n_images == 0, "want an error with '%s', got %d '%s'",
          want, rc, err);
}

/* ---------------------------------------------------------------- EXIF */
static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n);
    if (b && fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

/* jpeg with `seg` (APP1 payload: "Exif\0\0" + TIFF) inserted after SOI; seg_len may be cut short of the
 * declared length `decl` (a truncated segment swallows the following bytes). */
static int load_with_app1(const uint8_t *jpg, size_t n, const uint8_t *seg, size_t seg_len, size_t decl,
                          mm_image *im, char *err) {
    uint8_t *b = malloc(n + seg_len + 4);
    memcpy(b, jpg, 2);
    b[2] = 0xFF, b[3] = 0xE1, b[4] = (uint8_t)((decl + 2) >> 8), b[5] = (uint8_t)(decl + 2);
    memcpy(b + 6, seg, seg_len);
    memcpy(b + 6 + seg_len, jpg + 2, n - 2);
    const int rc = mm_image_load_memory(b, n + seg_len + 4, "exif", im, err);
    free(b);
    return rc;
}

static size_t tiff(uint8_t *s, bool be, uint32_t ifd, uint16_t count, uint16_t type, uint32_t value) {
    memcpy(s, "Exif\0\0", 6);
    uint8_t *t = s + 6;
#define P16(p, v) (be ? ((p)[0] = (uint8_t)((v) >> 8), (p)[1] = (uint8_t)(v)) : ((p)[0] = (uint8_t)(v), (p)[1] = (uint8_t)((v) >> 8)))
#define P32(p, v) (be ? (P16(p, (v) >> 16), P16((p) + 2, (v) & 0xFFFF)) : (P16(p, (v) & 0xFFFF), P16((p) + 2, (v) >> 16)))
    t[0] = t[1] = be ? 'M' : 'I';
    P16(t + 2, 42);
    P32(t + 4, ifd);
    P16(t + 8, count);
    P16(t + 10, 0x0112);
    P16(t + 12, type);
    P32(t + 14, 1u);
    memset(t + 18, 0, 4);
    if (type == 3) P16(t + 18, value);
    else P32(t + 18, value);
    memset(t + 22, 0, 4);
#undef P16
#undef P32
    return 6 + 26;
}

static void exif_cases(void) {
    char err[MM_ERR_SIZE];
    size_t n = 0;
    uint8_t *jpg = read_all(MMGPT_TEST_DATA "/images/skimage_rocket.jpg", &n);
    CHECK(jpg && n > 100, "cannot read skimage_rocket.jpg");
    if (!jpg) return;
    mm_image ref, im;
    CHECK(mm_image_load_memory(jpg, n, "rocket", &ref, err) == 0 && ref.orientation == 1, "rocket: %s", err);
    uint8_t seg[64];
    for (int be = 0; be < 2; be++) { /* orientation 6: upright is h x w */
        size_t sl = tiff(seg, be, 8, 1, 3, 6);
        CHECK(load_with_app1(jpg, n, seg, sl, sl, &im, err) == 0 && im.w == ref.h && im.h == ref.w &&
                  im.orientation == 6, "exif 6 (%s): %s", be ? "MM" : "II", err);
        mm_image_free(&im);
    }
    const struct { uint32_t ifd; uint16_t count, type; uint32_t value; } bad[] = {
        {1000, 1, 3, 6}, {0xFFFFFFF0u, 1, 3, 6}, {8, 1, 3, 0}, {8, 1, 3, 9}, {8, 1, 7, 6},
        {8, 1, 4, 0x60000}, {2, 1, 3, 6}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t sl = tiff(seg, i & 1, bad[i].ifd, bad[i].count, bad[i].type, bad[i].value);
        const int rc = load_with_app1(jpg, n, seg, sl, sl, &im, err);
        CHECK(rc == 0 && im.orientation == 1 && im.w == ref.w, "bad exif %zu: rc %d orientation %d", i, rc,
              im.orientation);
        mm_image_free(&im);
    }
    size_t sl = tiff(seg, 0, 8, 0xFFFF, 3, 6); /* 65535 entries declared, one there: PIL keeps those it read */
    CHECK(load_with_app1(jpg, n, seg, sl, sl, &im, err) == 0 && im.orientation == 6, "short IFD: orientation %d",
          im.orientation);
    mm_image_free(&im);
    sl = tiff(seg, 0, 8, 1, 3, 6);
    seg[7] = 'X'; /* "Exif\0X": not EXIF */
    CHECK(load_with_app1(jpg, n, seg, sl, sl, &im, err) == 0 && im.orientation == 1, "wrong magic");
    mm_image_free(&im);
    sl = tiff(seg, 0, 8, 1, 3, 6);
    for (size_t cut = 0; cut < sl; cut++) { /* the segment declares sl bytes but holds cut: the rest is eaten */
        if (load_with_app1(jpg, n, seg, cut, sl, &im, err) == 0) mm_image_free(&im);
    }
    for (size_t decl = 0; decl <= sl + 2; decl++) { /* declared length too short / too long */
        if (load_with_app1(jpg, n, seg, sl, decl, &im, err) == 0) mm_image_free(&im);
    }
    mm_image_free(&ref);
    free(jpg);
}

int main(void) {
    char err[MM_ERR_SIZE];
    mm_image rgba16 = make(37, 23, 4, 16, 1), la = make(5, 41, 2, 8, 2), tall = make(1, 16384, 3, 8, 3),
             wide = make(16384, 1, 1, 8, 4), one = make(1, 1, 3, 8, 5);
    all_kinds(&rgba16, "rgba16");
    all_kinds(&la, "la");
    all_kinds(&tall, "1x16384");
    all_kinds(&wide, "16384x1");
    all_kinds(&one, "1x1");

    mm_image_tiles t;
    mm_image_proc_params p = mm_image_proc_default_params(MM_IMGPROC_IDEFICS3);
    CHECK(p.size == 512 && p.longest_edge == 2048 && p.mean[0] == 0.5f && p.std[2] == 0.5f, "idefics3 defaults");
    CHECK(mm_image_process(NULL, &p, &t, err) == -1 && t.pixels == NULL, "NULL image");
    CHECK(mm_image_process(&one, NULL, &t, err) == -1 && t.pixels == NULL, "NULL params");
    CHECK(mm_image_process(&one, &p, NULL, err) == -1, "NULL output");
    mm_image_tiles_free(NULL);
    mm_image_proc_params q = p;
    q.kind = (mm_image_proc_kind)7;
    refused(&one, q, "kind");
    q = p, q.size = 0;
    refused(&one, q, "size");
    q = p, q.size = 5000;
    refused(&one, q, "size");
    q = p, q.std[1] = 0;
    refused(&one, q, "mean/std");
    q = p, q.mean[2] = NAN;
    refused(&one, q, "mean/std");
    q = p, q.max_tiles = -1;
    refused(&one, q, "max_tiles");
    q = p, q.longest_edge = 1000000000;
    refused(&one, q, "longest_edge");
    q = p, q.size = 2000, q.longest_edge = 4096;
    refused(&one, q, "MiB");
    mm_image bad = one;
    bad.channels = 5;
    refused(&bad, p, "format");
    bad = one, bad.w = 0;
    refused(&bad, p, "size");
    int r, c;
    CHECK(mm_image_proc_grid(640, 480, &p, &r, &c, err) == 0 && r == 3 && c == 4, "640x480: %dx%d", r, c);
    p.max_tiles = 6;
    CHECK(mm_image_proc_grid(640, 480, &p, &r, &c, err) == 0 && r * c <= 6, "640x480 max 6: %dx%d", r, c);

    uint8_t px[12] = {0}, out[12];
    CHECK(mm_image_resize_rgb8(px, 2, 2, out, 0, 2, MM_RESAMPLE_BICUBIC, err) == -1, "resize to width 0");
    CHECK(mm_image_resize_rgb8(px, 2, 2, out, 2, MM_IMAGE_PROC_MAX_SIDE + 1, MM_RESAMPLE_LANCZOS, err) == -1,
          "resize over the side cap");
    for (int i = 0; i < 12; i++) px[i] = (uint8_t)(17 * i);
    CHECK(mm_image_resize_rgb8(px, 2, 2, out, 2, 2, MM_RESAMPLE_LANCZOS, err) == 0 && !memcmp(px, out, 12),
          "same size copies");
    CHECK(mm_image_resize_rgb8(px, 2, 2, out, 1, 2, (mm_resample_filter)9, err) == -1, "unknown filter");
    CHECK(mm_image_resize_rgb8(NULL, 2, 2, out, 1, 1, MM_RESAMPLE_BILINEAR, err) == -1, "NULL source");
    CHECK(mm_image_to_rgb8(&bad, MM_ALPHA_DROP, out, err) == -1, "to_rgb8 of a bad image");

    exif_cases();
    free(rgba16.pixels), free(la.pixels), free(tall.pixels), free(wide.pixels), free(one.pixels);
    if (n_fail) fprintf(stderr, "img_proc_bad: %d failures\n", n_fail);
    else printf("img_proc_bad: all checks passed\n");
    return n_fail != 0;
}
