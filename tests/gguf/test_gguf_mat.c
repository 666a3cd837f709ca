/* test_gguf_mat.c - the "one of each" helpers of core (issue 15.5):
 *   - mm_gguf_mat_load: shapes, types, required/optional weights and biases, f32 bias borrowed vs f16 copied,
 *     messages "FILE: tensor NAME ..." naming the file and the tensor;
 *   - mm_mat_apply (fast) and mm_mat_apply_ref (naive) against y = W x + b summed here in double (tolerance 1e-5);
 *   - mm_gguf_get_int_range: in range, outside, missing, optional default, not an integer;
 *   - mm_sniff: the magic bytes of each format, and the bundled example files by kind. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_check.h"
#include "mm_core.h"
#include "mm_gguf.h"

static void put_f32(mm_gguf_writer *w, const char *name, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
                    const float *v) {
    int64_t ne[3] = {ne0, ne1, ne2};
    mm_gguf_writer_add_tensor(w, name, MM_TYPE_F32, n_dims, ne, v, (size_t)(ne0 * ne1 * ne2) * sizeof(float));
}

static bool has(const char *err, const char *s) { return strstr(err, s) != NULL; }

int main(void) {
    char err[MM_ERR_SIZE], path[512];
    const char *tmp = getenv("MMGPT_TEST_TMP") ? getenv("MMGPT_TEST_TMP") : "/tmp";
    snprintf(path, sizeof path, "%s/gguf_mat_%d.gguf", tmp, (int)getpid());
    /* W [3 rows, 4 cols], b [3]; h: f16 W [2, 4] and f16 bias [2]; cube: 3-D; only: weight without bias */
    float W[12], b[3], cube[24];
    for (int i = 0; i < 12; i++) W[i] = 0.25f * (float)(i % 5) - 0.5f;
    for (int i = 0; i < 3; i++) b[i] = 0.1f * (float)(i + 1);
    for (int i = 0; i < 24; i++) cube[i] = (float)i;
    uint16_t hw[8], hb[2] = {mm_fp32_to_fp16(1.5f), mm_fp32_to_fp16(-2.0f)};
    for (int i = 0; i < 8; i++) hw[i] = mm_fp32_to_fp16((float)i * 0.5f);
    mm_gguf_writer *w = mm_gguf_writer_create();
    mm_gguf_writer_set_u32(w, "general.alignment", 32);
    mm_gguf_writer_set_u32(w, "k.u", 7);
    mm_gguf_writer_set_str(w, "k.s", "seven");
    put_f32(w, "a.weight", 2, 4, 3, 1, W);
    put_f32(w, "a.bias", 1, 3, 1, 1, b);
    put_f32(w, "only.weight", 2, 4, 3, 1, W);
    put_f32(w, "cube.weight", 3, 4, 3, 2, cube);
    int64_t ne_h[2] = {4, 2}, ne_hb[1] = {2};
    mm_gguf_writer_add_tensor(w, "h.weight", MM_TYPE_F16, 2, ne_h, hw, sizeof hw);
    mm_gguf_writer_add_tensor(w, "h.bias", MM_TYPE_F16, 1, ne_hb, hb, sizeof hb);
    CHECK(mm_gguf_writer_write(w, path, err) == 0, "write: %s", err);
    mm_gguf_writer_free(w);
    mm_gguf *g = mm_gguf_open(path, err);
    CHECK(g != NULL, "open: %s", err);
    if (!g) return 1;

    /* ---- the loader */
    mm_mat m;
    float *copy = (float *)1;
    CHECK(mm_gguf_mat_load(g, "a", 4, 3, 3, MM_MAT_REQUIRED | MM_MAT_BIAS_REQUIRED, &m, NULL, err) == 0, "a: %s", err);
    CHECK(m.type == MM_TYPE_F32 && m.rows == 3 && m.cols == 4 && m.data && m.b && m.b[2] == b[2], "a: fields");
    CHECK(mm_gguf_mat_load(g, "a", 0, 1, INT64_MAX, MM_MAT_REQUIRED | MM_MAT_BIAS, &m, &copy, err) == 0 && copy &&
              m.b == copy && copy[1] == b[1],
          "a (any shape, copied bias): %s", err);
    free(copy);
    CHECK(mm_gguf_mat_load(g, "only", 4, 3, 3, MM_MAT_REQUIRED | MM_MAT_BIAS, &m, NULL, err) == 0 && m.b == NULL,
          "optional bias absent: %s", err);
    CHECK(mm_gguf_mat_load(g, "only", 4, 3, 3, MM_MAT_REQUIRED | MM_MAT_BIAS_REQUIRED, &m, NULL, err) == -1 &&
              has(err, path) && has(err, "tensor only.bias is missing"),
          "required bias absent: %s", err);
    CHECK(mm_gguf_mat_load(g, "none", 4, 3, 3, 0, &m, NULL, err) == 0 && m.data == NULL, "optional weight absent");
    CHECK(mm_gguf_mat_load(g, "none", 4, 3, 3, MM_MAT_REQUIRED, &m, NULL, err) == -1 && has(err, path) &&
              has(err, "tensor none.weight is missing"),
          "required weight absent: %s", err);
    CHECK(mm_gguf_mat_load(g, "a", 5, 3, 3, MM_MAT_REQUIRED, &m, NULL, err) == -1 &&
              has(err, "tensor a.weight has shape [4, 3, 1, 1], expected [5, 3]"),
          "columns: %s", err);
    CHECK(mm_gguf_mat_load(g, "a", 4, 4, 8, MM_MAT_REQUIRED, &m, NULL, err) == -1 && has(err, "expected [4, 4..8]"),
          "rows: %s", err);
    CHECK(mm_gguf_mat_load(g, "cube", 4, 3, 3, MM_MAT_REQUIRED, &m, NULL, err) == -1 && has(err, "cube.weight has shape"),
          "3-D: %s", err);
    CHECK(mm_gguf_mat_load(g, "h", 4, 2, 2, MM_MAT_REQUIRED | MM_MAT_BIAS, &m, NULL, err) == -1 &&
              has(err, "tensor h.bias has type f16, expected f32"),
          "f16 bias borrowed: %s", err);
    CHECK(mm_gguf_mat_load(g, "h", 4, 2, 2, MM_MAT_REQUIRED | MM_MAT_BIAS, &m, &copy, err) == 0 && m.type == MM_TYPE_F16 &&
              copy && copy[0] == 1.5f && copy[1] == -2.0f,
          "f16 bias copied: %s", err);
    /* apply: fast and naive against a double sum written here */
    const float X[2][4] = {{1, -2, 0.5f, 3}, {0.25f, 0, -1, 2}};
    float Y[2][2], R[2][2];
    mm_mat_apply(&m, NULL, 2, &X[0][0], &Y[0][0]);
    mm_mat_apply_ref(&m, 2, &X[0][0], &R[0][0]);
    for (int n = 0; n < 2; n++)
        for (int r = 0; r < 2; r++) {
            double s = copy[r];
            for (int c = 0; c < 4; c++) s += (double)((float)(r * 4 + c) * 0.5f) * X[n][c];
            CHECK(fabs(Y[n][r] - s) <= 1e-5 * (1 + fabs(s)) && fabs(R[n][r] - s) <= 1e-5 * (1 + fabs(s)),
                  "apply [%d][%d]: fast %g naive %g want %g", n, r, Y[n][r], R[n][r], s);
        }
    free(copy);
    float row[4];
    CHECK(mm_gguf_mat_load(g, "a", 4, 3, 3, MM_MAT_REQUIRED, &m, NULL, err) == 0, "a: %s", err);
    mm_mat_row(&m, 2, row);
    CHECK(!memcmp(row, W + 8, sizeof row), "mm_mat_row");

    /* ---- the key reader */
    int64_t v = 0;
    CHECK(mm_gguf_get_int_range(g, "k.u", 0, 10, true, 0, &v, err) == 0 && v == 7, "k.u in range");
    CHECK(mm_gguf_get_int_range(g, "k.u", 0, 5, true, 0, &v, err) == -1 && has(err, path) &&
              has(err, "k.u = 7 is outside [0, 5]"),
          "outside: %s", err);
    CHECK(mm_gguf_get_int_range(g, "k.none", 0, 5, true, 0, &v, err) == -1 &&
              has(err, "key k.none is missing or not an integer"),
          "missing: %s", err);
    CHECK(mm_gguf_get_int_range(g, "k.none", 0, 5, false, 3, &v, err) == 0 && v == 3, "optional default");
    CHECK(mm_gguf_get_int_range(g, "k.s", 0, 5, false, 3, &v, err) == -1 && has(err, "key k.s is missing or not an integer"),
          "string: %s", err);
    mm_gguf_close(g);
    unlink(path);

    /* ---- the sniffer */
    static const struct { const char *bytes; size_t n; mm_format f; } k[] = {
        {"GGUF\3\0\0\0", 8, MM_FORMAT_GGUF},       {"\x89PNG\r\n\x1a\n", 8, MM_FORMAT_PNG},
        {"\xff\xd8\xff\xe0", 4, MM_FORMAT_JPEG},    {"GIF89a", 6, MM_FORMAT_GIF},
        {"BM\0\0", 4, MM_FORMAT_BMP},               {"P6\n", 3, MM_FORMAT_PNM},
        {"RIFF\0\0\0\0WAVE", 12, MM_FORMAT_WAV},    {"RIFF\0\0\0\0AVI ", 12, MM_FORMAT_UNKNOWN},
        {"fLaC", 4, MM_FORMAT_FLAC},                {"OggS", 4, MM_FORMAT_OGG},
        {"FORM\0\0\0\0AIFF", 12, MM_FORMAT_AIFF},   {"ID3\4", 4, MM_FORMAT_MP3},
        {"\xff\xfb\x90", 3, MM_FORMAT_MP3},         {"hello", 5, MM_FORMAT_UNKNOWN},
        {"", 0, MM_FORMAT_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        CHECK(mm_sniff(k[i].bytes, k[i].n) == k[i].f, "sniff case %zu: %s", i, mm_format_name(mm_sniff(k[i].bytes, k[i].n)));
    CHECK(mm_sniff(NULL, 4) == MM_FORMAT_UNKNOWN && mm_sniff("\x89PNG", 4) == MM_FORMAT_UNKNOWN, "short / NULL");
    /* MPEG audio without ID3: MPEG-1 layer III 128 kb/s 44.1 kHz frames are 417 bytes; the next header must follow
     * there when the bytes reach it. UTF-16LE text (FF FE 'h' 0 ...) reads as a layer I header: not MP3. */
    static unsigned char mp3[MM_SNIFF_BYTES], u16[MM_SNIFF_BYTES];
    memcpy(mp3, "\xff\xfb\x90\x00", 4);
    memcpy(mp3 + 417, "\xff\xfb\x90\x00", 4);
    CHECK(mm_sniff(mp3, sizeof mp3) == MM_FORMAT_MP3 && mm_sniff(mp3, 64) == MM_FORMAT_MP3, "two MPEG frames: MP3");
    mp3[417] = 0;
    CHECK(mm_sniff(mp3, sizeof mp3) == MM_FORMAT_UNKNOWN, "an MPEG header with no frame after it: unknown");
    u16[0] = 0xff, u16[1] = 0xfe;
    for (size_t i = 2; i + 1 < sizeof u16; i += 2) u16[i] = (unsigned char)"hello, world "[(i / 2) % 13], u16[i + 1] = 0;
    CHECK(mm_sniff(u16, sizeof u16) == MM_FORMAT_UNKNOWN, "UTF-16LE text: %s", mm_format_name(mm_sniff(u16, sizeof u16)));
    CHECK(mm_sniff("\xff\xf2\xf0\x00", 4) == MM_FORMAT_UNKNOWN && mm_sniff("\xff\xfb\x9c\x00", 4) == MM_FORMAT_UNKNOWN &&
              mm_sniff("\xff\xe9\x90\x00", 4) == MM_FORMAT_UNKNOWN,
          "reserved bitrate / sample rate / version: unknown");
    CHECK(mm_format_is_image(MM_FORMAT_PNM) && !mm_format_is_image(MM_FORMAT_WAV) && mm_format_is_audio(MM_FORMAT_MP3) &&
              !mm_format_is_audio(MM_FORMAT_GGUF) && !strcmp(mm_format_name(MM_FORMAT_JPEG), "JPEG"),
          "kinds and names");
    if (n_fail) return 1;
    printf("gguf_mat: ok\n");
    return 0;
}
