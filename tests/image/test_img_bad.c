/* img_bad: hostile and degenerate image inputs give a clear error or a valid result, never a crash
 * (run also under ASan/UBSan). Each case states what is expected:
 *   - PNG / PNM / BMP / GIF headers claiming huge sizes -> error mentioning the limit, before decoding
 *   - empty buffer, NULL, empty file, missing file, directory, text -> error naming the input
 *   - skimage_truncated.jpg (tests/data) -> error or a 100x100 image
 *   - every prefix of a valid PNG (truncation at every byte) -> error or a valid image
 *   - 1x1 image -> exact pixel; 0x0 image -> error
 *   - valid results, including 1 x 16384 and 16384 x 1 strips, preprocess in every mode to finite values
 *     within the range a Catmull-Rom resample of [0, 1] data can reach (overshoot < 0.2).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_image.h"

#include "mm_check.h"
#include "test_data.h"

static uint32_t crc32_buf(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static size_t put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return 4;
}

static size_t png_chunk(uint8_t *p, const char *type, const uint8_t *data, uint32_t n) {
    size_t o = put_be32(p, n);
    memcpy(p + o, type, 4);
    if (n) memcpy(p + o + 4, data, n);
    o += 4 + n;
    o += put_be32(p + o, crc32_buf(p + 4, 4 + n));
    return o;
}

/* A valid PNG: w x h RGB 8-bit, pixels from a pattern, IDAT with zlib "stored" blocks (no compression). */
static size_t make_png(uint8_t *out, uint32_t w, uint32_t h, bool claim_only) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t o = 0;
    memcpy(out, sig, 8);
    o = 8;
    uint8_t ihdr[13];
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = 8, ihdr[9] = 2, ihdr[10] = 0, ihdr[11] = 0, ihdr[12] = 0;
    o += png_chunk(out + o, "IHDR", ihdr, 13);
    uint8_t raw[4096], z[4200];
    size_t nraw = 0;
    if (!claim_only) {
        for (uint32_t y = 0; y < h; y++) {
            raw[nraw++] = 0;
            for (uint32_t x = 0; x < 3 * w; x++) raw[nraw++] = (uint8_t)(x * 37 + y * 11);
        }
    } else {
        memset(raw, 0, 64);
        nraw = 64;
    }
    size_t zo = 0;
    z[zo++] = 0x78, z[zo++] = 0x01;
    z[zo++] = 1; /* final stored block */
    z[zo++] = (uint8_t)nraw, z[zo++] = (uint8_t)(nraw >> 8);
    z[zo++] = (uint8_t)~nraw, z[zo++] = (uint8_t)(~nraw >> 8);
    memcpy(z + zo, raw, nraw);
    zo += nraw;
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < nraw; i++) a = (a + raw[i]) % 65521, b = (b + a) % 65521;
    zo += put_be32(z + zo, (b << 16) | a);
    o += png_chunk(out + o, "IDAT", z, (uint32_t)zo);
    o += png_chunk(out + o, "IEND", NULL, 0);
    return o;
}

static float preprocess_all_modes(const mm_image *img, const char *what) {
    float worst = 0.0f;
    const int sizes[] = {1, 8, 17};
    for (int si = 0; si < 3; si++)
        for (int mode = 0; mode < 3; mode++) {
            mm_image_preproc pp = mm_image_preproc_default();
            pp.image_size = sizes[si];
            pp.mode = (mm_resize_mode)mode;
            for (int c = 0; c < 3; c++) pp.mean[c] = 0.0f, pp.std[c] = 1.0f;
            const int S = pp.image_size;
            float *out = malloc(sizeof(float) * 3 * S * S);
            char err[MM_ERR_SIZE] = "";
            int rc = mm_image_preprocess(img, &pp, out, err);
            CHECK(rc == 0, "%s: preprocess %s S=%d failed: %s", what, mm_resize_mode_name(pp.mode), S, err);
            if (rc == 0)
                for (int i = 0; i < 3 * S * S; i++) {
                    float v = out[i];
                    float dev = !isfinite(v) ? INFINITY : v < 0 ? -v : v > 1 ? v - 1 : 0;
                    if (dev > worst) worst = dev;
                }
            free(out);
        }
    CHECK(worst < 0.2f, "%s: preprocessed values leave [0,1] by %g", what, worst);
    return worst;
}

/* expect_ok: 1 = must decode, 0 = must fail, -1 = either. need: substring the error must contain. */
static void mem_case(const char *name, const void *data, size_t n, int expect_ok, const char *need) {
    mm_image img;
    char err[MM_ERR_SIZE] = "";
    int rc = mm_image_load_memory(data, n, name, &img, err);
    if (rc == 0) {
        CHECK(expect_ok != 0, "%s: decoded but should fail", name);
        CHECK(img.w > 0 && img.h > 0 && img.pixels, "%s: bad result", name);
        printf("ok   %-28s decoded %dx%d\n", name, img.w, img.h);
        preprocess_all_modes(&img, name);
        mm_image_free(&img);
    } else {
        CHECK(expect_ok != 1, "%s: failed: %s", name, err);
        CHECK(strstr(err, name) != NULL, "%s: error does not name the input: %s", name, err);
        CHECK(!need || strstr(err, need) != NULL, "%s: error lacks '%s': %s", name, need, err);
        CHECK(img.pixels == NULL && img.w == 0, "%s: output not cleared", name);
        printf("ok   %-28s %s\n", name, err);
    }
}

static void file_case(const char *path, int expect_ok, const char *need) {
    mm_image img;
    char err[MM_ERR_SIZE] = "";
    int rc = mm_image_load_file(path, &img, err);
    if (rc == 0) {
        CHECK(expect_ok != 0, "%s: decoded but should fail", path);
        preprocess_all_modes(&img, path);
        printf("ok   %s decoded %dx%d\n", path, img.w, img.h);
        mm_image_free(&img);
    } else {
        CHECK(expect_ok != 1, "%s: failed: %s", path, err);
        CHECK(strstr(err, path) != NULL, "error does not name the file: %s", err);
        CHECK(!need || strstr(err, need) != NULL, "%s: error lacks '%s': %s", path, need, err);
        printf("ok   %s\n     -> %s\n", path, err);
    }
}

int main(void) {
    static uint8_t buf[1 << 16];
    size_t n;

    /* huge headers: rejected by the cap before decoding */
    n = make_png(buf, 100000, 100000, true);
    mem_case("png_100000x100000", buf, n, 0, "limit");
    n = make_png(buf, 16385, 1, true);
    mem_case("png_16385x1", buf, n, 0, "limit");
    n = make_png(buf, 9000, 9000, true); /* 81 MP > 64 MP */
    mem_case("png_9000x9000", buf, n, 0, "limit");
    const char *ppm_huge = "P6\n20000 20000\n255\n";
    mem_case("ppm_20000x20000", ppm_huge, strlen(ppm_huge), 0, "limit");
    const uint8_t gif_huge[] = {'G', 'I', 'F', '8', '9', 'a', 0xff, 0xff, 0xff, 0xff, 0x00, 0, 0, 0x3b};
    mem_case("gif_65535x65535", gif_huge, sizeof gif_huge, 0, NULL);

    /* empty, text, junk */
    mem_case("empty", buf, 0, 0, "empty");
    mem_case("null", NULL, 10, 0, "empty");
    const char *text = "This is a text file, not a picture.\n";
    mem_case("text.png", text, strlen(text), 0, "not a readable image");
    const uint8_t bad_png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 9, 0, 0, 0};
    mem_case("png_bad_colour_type", bad_png, sizeof bad_png, 0, "PNG");
    const char *zero = "P6\n0 0\n255\n";
    mem_case("ppm_0x0", zero, strlen(zero), 0, NULL);

    /* raw formats cut short: a clear error, not zero-filled pixels */
    const char *ppm_short = "P6\n4000 4000\n255\n\x01\x02\x03";
    mem_case("ppm_truncated", ppm_short, strlen(ppm_short), 0, "truncated PNM");
    {
        uint8_t bmp[64] = {'B', 'M'};
        bmp[10] = 54;                           /* pixel data offset */
        bmp[14] = 40;                           /* BITMAPINFOHEADER */
        bmp[18] = 0x10, bmp[19] = 0x27;         /* width 10000 */
        bmp[22] = 0x10, bmp[23] = 0x27;         /* height 10000 > 64 MP? no: 100 MP -> cap */
        bmp[26] = 1, bmp[28] = 24;              /* planes, bits */
        mem_case("bmp_10000x10000", bmp, sizeof bmp, 0, "limit");
        bmp[18] = 0xe8, bmp[19] = 0x03;         /* 1000 x 1000, 24 bit: needs 3 MB */
        bmp[22] = 0xe8, bmp[23] = 0x03;
        mem_case("bmp_truncated", bmp, sizeof bmp, 0, "truncated BMP");
    }

    /* 1x1 images: exact values */
    const char one[] = "P6\n1 1\n255\n\x10\x80\xff";
    {
        mm_image img;
        char err[MM_ERR_SIZE] = "";
        int rc = mm_image_load_memory(one, sizeof one - 1, "ppm_1x1", &img, err);
        CHECK(rc == 0 && img.w == 1 && img.h == 1, "ppm_1x1: %s", err);
        if (rc == 0) {
            float rgb[3];
            mm_image_get_rgb(&img, 0, 0, 1, 1, rgb);
            CHECK(fabsf(rgb[0] - 16 / 255.0f) < 1e-7f && fabsf(rgb[1] - 128 / 255.0f) < 1e-7f && fabsf(rgb[2] - 1.0f) < 1e-7f,
                  "ppm_1x1: wrong pixel %g %g %g", rgb[0], rgb[1], rgb[2]);
            preprocess_all_modes(&img, "ppm_1x1");
            mm_image_free(&img);
            printf("ok   ppm_1x1 exact\n");
        }
    }
    n = make_png(buf, 1, 1, false);
    mem_case("png_1x1", buf, n, 1, NULL);

    /* thin strips at the side cap (extreme aspect ratios through every resize mode) */
    {
        static uint8_t strip[64 + 16384];
        int hl = snprintf((char *)strip, 64, "P5\n1 16384\n255\n");
        for (int i = 0; i < 16384; i++) strip[hl + i] = (uint8_t)(i * 7);
        mem_case("pgm_1x16384", strip, (size_t)hl + 16384, 1, NULL);
        hl = snprintf((char *)strip, 64, "P5\n16384 1\n255\n");
        for (int i = 0; i < 16384; i++) strip[hl + i] = (uint8_t)(i * 7);
        mem_case("pgm_16384x1", strip, (size_t)hl + 16384, 1, NULL);
        hl = snprintf((char *)strip, 64, "P5\n3 2000\n255\n");
        for (int i = 0; i < 6000; i++) strip[hl + i] = (uint8_t)(i * 13);
        mem_case("pgm_3x2000", strip, (size_t)hl + 6000, 1, NULL);
    }

    /* every truncation of a valid 9x7 PNG */
    n = make_png(buf, 9, 7, false);
    mem_case("png_9x7", buf, n, 1, NULL);
    int n_ok = 0, n_err = 0;
    for (size_t k = 0; k < n; k++) {
        mm_image img;
        char err[MM_ERR_SIZE] = "";
        if (mm_image_load_memory(buf, k, "png_prefix", &img, err) == 0) {
            n_ok++;
            preprocess_all_modes(&img, "png_prefix");
            mm_image_free(&img);
        } else {
            n_err++;
            CHECK(err[0] != 0, "prefix %zu: empty error", k);
        }
    }
    printf("ok   png prefixes: %d errors, %d decoded (of %zu)\n", n_err, n_ok, n);

    /* files */
    const char *tmp = getenv("MMGPT_TEST_TMP");
    char path[4096];
    snprintf(path, sizeof path, "%s/img_bad_empty.png", tmp ? tmp : "/tmp");
    FILE *f = fopen(path, "wb");
    if (f) fclose(f);
    file_case(path, 0, "empty");
    snprintf(path, sizeof path, "%s/img_bad_text.jpg", tmp ? tmp : "/tmp");
    f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    file_case(path, 0, "not a readable image");
    file_case("/nonexistent/dir/picture.png", 0, "No such file");
    file_case(tmp ? tmp : "/tmp", 0, "is a directory");
    file_case(td_path("images/skimage_truncated.jpg"), -1, NULL); /* a missing file fails the test */
    if (n_fail) {
        printf("%d checks FAILED\n", n_fail);
        return 1;
    }
    printf("all bad-input checks passed\n");
    return 0;
}
