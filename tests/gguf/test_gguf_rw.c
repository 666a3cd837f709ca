/* test_gguf_rw.c - GGUF writer -> reader round trip, byte-identical rewrite, hostile-input checks.
 *
 *   test_gguf_rw                   self test: every kv type (incl. nested arrays) and tensor type,
 *                                  alignment 32 and 64, getters, formatter, every truncation, byte flips
 *   test_gguf_rw write OUT [ALIGN] write the canonical "every type" file (tools test_interop.py writes
 *                                  the same content with tools/mmgguf.py and compares bytes)
 *   test_gguf_rw rewrite IN OUT    read IN with the C reader and write it again (copy_kv + tensors)
 *
 * Expected values are the inputs themselves (what was written must come back bit for bit); the
 * formatter's expected text is its specification. Exit 1 on the first mismatch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_gguf.h"

#include "mm_check.h"

/* Deterministic tensor bytes shared with test_interop.py: byte k of tensor t = (7k + 13t + 1) & 255. */
static void pattern(uint8_t *p, size_t n, int t) {
    for (size_t k = 0; k < n; k++) p[k] = (uint8_t)((7 * k + 13 * (size_t)t + 1) & 255);
}

static const struct {
    const char *name;
    int type, n_dims;
    int64_t ne[4];
    size_t bytes;
} k_tensors[] = {
    {"token_embd.weight", 0, 2, {8, 5, 1, 1}, 8 * 5 * 4},
    {"blk.0.attn_qkv.weight", 1, 2, {32, 3, 1, 1}, 32 * 3 * 2},
    {"blk.0.ffn_up.weight", 8, 2, {64, 2, 1, 1}, 2 * 2 * 34},
    {"blk.0.ffn_down.weight", 2, 2, {32, 3, 1, 1}, 3 * 18},
    {"other.q4_k", 12, 1, {256, 1, 1, 1}, 144},
    {"other.bf16", 30, 4, {4, 2, 2, 3}, 48 * 2},
    {"other.i32", 26, 1, {3, 1, 1, 1}, 12},
};
#define N_TENSORS (int)(sizeof k_tensors / sizeof k_tensors[0])

/* nested array [[1,2,3] (i32), ["x","yz"] (str), [[7,8] (u8)] (arr), [] (f32)] in encoded form */
static size_t nested_value(uint8_t *b) {
    size_t o = 0;
#define PUT(v, n) do { uint64_t _v = (uint64_t)(v); memcpy(b + o, &_v, n); o += n; } while (0)
    PUT(MM_GGUF_ARRAY, 4); PUT(4, 8);
    PUT(MM_GGUF_INT32, 4); PUT(3, 8); PUT(1, 4); PUT(2, 4); PUT(3, 4);
    PUT(MM_GGUF_STRING, 4); PUT(2, 8); PUT(1, 8); b[o++] = 'x'; PUT(2, 8); b[o++] = 'y'; b[o++] = 'z';
    PUT(MM_GGUF_ARRAY, 4); PUT(1, 8); PUT(MM_GGUF_UINT8, 4); PUT(2, 8); b[o++] = 7; b[o++] = 8;
    PUT(MM_GGUF_FLOAT32, 4); PUT(0, 8);
#undef PUT
    return o;
}

static const char *k_str = "hello, gguf \xe2\x9c\x93";

static mm_gguf_writer *every_type_writer(uint32_t align) {
    mm_gguf_writer *w = mm_gguf_writer_create();
    if (align) mm_gguf_writer_set_u32(w, "general.alignment", align);
    mm_gguf_writer_set_str(w, "general.architecture", "gpt2");
    uint8_t u8 = 200; int8_t i8 = -100; uint16_t u16 = 60000; int16_t i16 = -30000;
    int64_t i64 = -(INT64_C(1) << 62); double f64 = 0.1;
    mm_gguf_writer_set_scalar(w, "t.u8", MM_GGUF_UINT8, &u8);
    mm_gguf_writer_set_scalar(w, "t.i8", MM_GGUF_INT8, &i8);
    mm_gguf_writer_set_scalar(w, "t.u16", MM_GGUF_UINT16, &u16);
    mm_gguf_writer_set_scalar(w, "t.i16", MM_GGUF_INT16, &i16);
    mm_gguf_writer_set_u32(w, "t.u32", 4000000000u);
    mm_gguf_writer_set_i32(w, "t.i32", -2000000000);
    mm_gguf_writer_set_f32(w, "t.f32", 0.1f);
    mm_gguf_writer_set_bool(w, "t.bool", true);
    mm_gguf_writer_set_str(w, "t.str", k_str);
    mm_gguf_writer_set_u64(w, "t.u64", (UINT64_C(1) << 63) + 5);
    mm_gguf_writer_set_scalar(w, "t.i64", MM_GGUF_INT64, &i64);
    mm_gguf_writer_set_scalar(w, "t.f64", MM_GGUF_FLOAT64, &f64);
    uint8_t au8[] = {1, 2, 255}; int8_t ai8[] = {-1, 0, 1}; uint16_t au16[] = {0, 65535};
    int16_t ai16[] = {-32768, 32767}; uint32_t au32[] = {7, 4294967295u}; int32_t ai32[] = {-1, 2, -3};
    float af32[] = {0.5f, -1.25f}; uint8_t abool[] = {1, 0, 1}; uint64_t au64[] = {UINT64_MAX, 0};
    int64_t ai64[] = {INT64_MIN, INT64_MAX}; double af64[] = {1e300, -0.0};
    mm_gguf_writer_set_arr(w, "t.arr.u8", MM_GGUF_UINT8, au8, 3);
    mm_gguf_writer_set_arr(w, "t.arr.i8", MM_GGUF_INT8, ai8, 3);
    mm_gguf_writer_set_arr(w, "t.arr.u16", MM_GGUF_UINT16, au16, 2);
    mm_gguf_writer_set_arr(w, "t.arr.i16", MM_GGUF_INT16, ai16, 2);
    mm_gguf_writer_set_arr(w, "t.arr.u32", MM_GGUF_UINT32, au32, 2);
    mm_gguf_writer_set_arr(w, "t.arr.i32", MM_GGUF_INT32, ai32, 3);
    mm_gguf_writer_set_arr(w, "t.arr.f32", MM_GGUF_FLOAT32, af32, 2);
    mm_gguf_writer_set_arr(w, "t.arr.bool", MM_GGUF_BOOL, abool, 3);
    mm_gguf_writer_set_arr(w, "t.arr.u64", MM_GGUF_UINT64, au64, 2);
    mm_gguf_writer_set_arr(w, "t.arr.i64", MM_GGUF_INT64, ai64, 2);
    mm_gguf_writer_set_arr(w, "t.arr.f64", MM_GGUF_FLOAT64, af64, 2);
    const char *strs[] = {"a", "", "ccc"};
    mm_gguf_writer_set_arr_str(w, "t.arr.str", strs, 3);
    mm_gguf_writer_set_arr(w, "t.arr.empty", MM_GGUF_INT32, NULL, 0);
    uint8_t nb[256];
    size_t nn = nested_value(nb);
    mm_gguf_writer_set_raw(w, "t.arr.nested", MM_GGUF_ARRAY, nb, nn);
    char tok[100][16];
    const char *toks[100];
    for (int i = 0; i < 100; i++) { snprintf(tok[i], sizeof tok[i], "tok%d", i); toks[i] = tok[i]; }
    mm_gguf_writer_set_arr_str(w, "t.tokens", toks, 100);
    for (int t = 0; t < N_TENSORS; t++) {
        uint8_t *d = malloc(k_tensors[t].bytes);
        pattern(d, k_tensors[t].bytes, t);
        mm_gguf_writer_add_tensor(w, k_tensors[t].name, k_tensors[t].type, k_tensors[t].n_dims, k_tensors[t].ne,
                                  d, k_tensors[t].bytes);
        free(d);
    }
    return w;
}

static uint8_t *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(sz > 0 ? (size_t)sz : 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

static int rewrite(const char *in, const char *out) {
    char err[MM_ERR_SIZE];
    mm_gguf *g = mm_gguf_open(in, err);
    if (!g) { fprintf(stderr, "%s\n", err); return 1; }
    mm_gguf_writer *w = mm_gguf_writer_create();
    mm_gguf_writer_copy_kv(w, g);
    for (int64_t i = 0; i < mm_gguf_n_tensors(g); i++) {
        const mm_gguf_tensor *t = mm_gguf_tensor_at(g, i);
        mm_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->n_bytes);
    }
    int rc = mm_gguf_writer_write(w, out, err);
    if (rc) fprintf(stderr, "%s\n", err);
    mm_gguf_writer_free(w);
    mm_gguf_close(g);
    return rc ? 1 : 0;
}

static void expect_fmt(const mm_gguf *g, const char *key, const char *want, bool json) {
    char buf[512];
    int64_t i = mm_gguf_find_key(g, key);
    CHECK(i >= 0, "key %s missing", key);
    if (i < 0) return;
    int n = json ? mm_gguf_kv_format_json(g, i, buf, sizeof buf) : mm_gguf_kv_format(g, i, buf, sizeof buf);
    CHECK(n == (int)strlen(want) && !strcmp(buf, want), "%s: format gave '%s' (%d), want '%s'", key, buf, n, want);
}

/* Walk everything a caller could touch (what the fuzzer does). */
static void walk(const mm_gguf *g) {
    char buf[256];
    for (int64_t i = 0; i < mm_gguf_n_kv(g); i++) {
        const char *k = mm_gguf_kv_key(g, i);
        mm_gguf_kv_format(g, i, buf, sizeof buf);
        mm_gguf_kv_format_json(g, i, buf, sizeof buf);
        mm_gguf_type et;
        int64_t n;
        if (mm_gguf_get_arr(g, k, &et, &n) == 0 && et == MM_GGUF_STRING && n > 0) {
            const char *s;
            size_t l;
            mm_gguf_arr_str(g, k, n - 1, &s, &l);
        }
    }
    volatile uint8_t sum = 0;
    for (int64_t i = 0; i < mm_gguf_n_tensors(g); i++) {
        const mm_gguf_tensor *t = mm_gguf_tensor_at(g, i);
        const uint8_t *d = t->data;
        sum += d[0];
        sum += d[t->n_bytes - 1];
    }
    (void)sum;
}

static void check_file(const char *path, uint32_t align) {
    char err[MM_ERR_SIZE];
    mm_gguf *g = mm_gguf_open(path, err);
    CHECK(g, "open: %s", err);
    if (!g) return;
    CHECK(mm_gguf_version(g) == 3, "version %u", mm_gguf_version(g));
    CHECK(mm_gguf_alignment(g) == (align ? align : 32), "alignment %zu", mm_gguf_alignment(g));
    CHECK(mm_gguf_n_kv(g) == 28 + (align ? 1 : 0), "n_kv %lld", (long long)mm_gguf_n_kv(g));
    uint32_t u32;
    int64_t i64;
    float f;
    bool b;
    const char *s;
    size_t l;
    CHECK(mm_gguf_get_u32(g, "t.u32", &u32) == 0 && u32 == 4000000000u, "u32");
    CHECK(mm_gguf_get_u32(g, "t.u8", &u32) == 0 && u32 == 200, "u8 as u32");
    CHECK(mm_gguf_get_u32(g, "t.u16", &u32) == 0 && u32 == 60000, "u16 as u32");
    CHECK(mm_gguf_get_u32(g, "t.i8", &u32) == -1, "negative i8 must not convert to u32");
    CHECK(mm_gguf_get_u32(g, "t.u64", &u32) == -1, "big u64 must not convert to u32");
    CHECK(mm_gguf_get_i64(g, "t.u64", &i64) == -1, "u64 > INT64_MAX must not convert to i64");
    CHECK(mm_gguf_get_i64(g, "t.i8", &i64) == 0 && i64 == -100, "i8");
    CHECK(mm_gguf_get_i64(g, "t.i16", &i64) == 0 && i64 == -30000, "i16");
    CHECK(mm_gguf_get_i64(g, "t.i32", &i64) == 0 && i64 == -2000000000, "i32");
    CHECK(mm_gguf_get_i64(g, "t.i64", &i64) == 0 && i64 == -(INT64_C(1) << 62), "i64");
    CHECK(mm_gguf_get_i64(g, "t.str", &i64) == -1, "string is not an integer");
    CHECK(mm_gguf_get_f32(g, "t.f32", &f) == 0 && f == 0.1f, "f32");
    CHECK(mm_gguf_get_f32(g, "t.f64", &f) == 0 && f == (float)0.1, "f64 as f32");
    CHECK(mm_gguf_get_f32(g, "t.u32", &f) == -1, "u32 is not a float");
    CHECK(mm_gguf_get_bool(g, "t.bool", &b) == 0 && b, "bool");
    CHECK(mm_gguf_get_str(g, "t.str", &s, &l) == 0 && l == strlen(k_str) && !memcmp(s, k_str, l), "str");
    CHECK(mm_gguf_get_str(g, "absent", &s, &l) == -1 && mm_gguf_find_key(g, "absent") == -1, "absent key");
    mm_gguf_type et;
    int64_t n;
    CHECK(mm_gguf_get_arr(g, "t.arr.i32", &et, &n) == 0 && et == MM_GGUF_INT32 && n == 3, "arr i32");
    const int32_t *ai = mm_gguf_arr_data(g, "t.arr.i32");
    int32_t a3[3];
    if (ai) memcpy(a3, ai, sizeof a3);
    CHECK(ai && a3[0] == -1 && a3[1] == 2 && a3[2] == -3, "arr i32 data");
    CHECK(mm_gguf_get_arr(g, "t.tokens", &et, &n) == 0 && et == MM_GGUF_STRING && n == 100, "tokens");
    CHECK(mm_gguf_arr_str(g, "t.tokens", 57, &s, &l) == 0 && l == 5 && !memcmp(s, "tok57", 5), "tokens[57]");
    CHECK(mm_gguf_arr_str(g, "t.tokens", 100, &s, &l) == -1, "tokens[100] must fail");
    CHECK(mm_gguf_arr_data(g, "t.tokens") == NULL, "no raw data for string arrays");
    CHECK(mm_gguf_get_arr(g, "t.arr.nested", &et, &n) == 0 && et == MM_GGUF_ARRAY && n == 4, "nested");
    uint8_t nb[256];
    size_t nn = nested_value(nb), rn = 0;
    const void *raw = mm_gguf_kv_raw(g, mm_gguf_find_key(g, "t.arr.nested"), &rn);
    CHECK(raw && rn == nn && !memcmp(raw, nb, nn), "nested raw bytes");
    /* formatter */
    expect_fmt(g, "t.u8", "200", false);
    expect_fmt(g, "t.i8", "-100", false);
    expect_fmt(g, "t.u64", "9223372036854775813", false);
    expect_fmt(g, "t.i64", "-4611686018427387904", false);
    expect_fmt(g, "t.f32", "0.1", false);
    expect_fmt(g, "t.f64", "0.1", false);
    expect_fmt(g, "t.bool", "true", false);
    expect_fmt(g, "t.str", "\"hello, gguf \xe2\x9c\x93\"", false);
    expect_fmt(g, "t.arr.str", "[\"a\", \"\", \"ccc\"]", false);
    expect_fmt(g, "t.arr.f64", "[1e+300, -0]", false);
    expect_fmt(g, "t.arr.bool", "[true, false, true]", false);
    expect_fmt(g, "t.arr.empty", "[]", false);
    expect_fmt(g, "t.arr.nested", "[[1, 2, 3], [\"x\", \"yz\"], [[7, 8]], []]", false);
    expect_fmt(g, "t.tokens", "[100 strings: \"tok0\", \"tok1\", \"tok2\", ...]", false);
    expect_fmt(g, "t.tokens", "{\"type\": \"strings\", \"n\": 100, \"first\": [\"tok0\", \"tok1\", \"tok2\"]}", true);
    expect_fmt(g, "t.arr.nested", "[[1, 2, 3], [\"x\", \"yz\"], [[7, 8]], []]", true);
    /* truncated output: still NUL-terminated, returns the full length */
    char small[8];
    int need = mm_gguf_kv_format(g, mm_gguf_find_key(g, "t.tokens"), small, sizeof small);
    CHECK(need == 42 && strlen(small) == 7, "truncated format: %d '%s'", need, small);
    /* tensors */
    CHECK(mm_gguf_n_tensors(g) == N_TENSORS, "n_tensors");
    for (int t = 0; t < N_TENSORS; t++) {
        const mm_gguf_tensor *ti = mm_gguf_find_tensor(g, k_tensors[t].name);
        CHECK(ti && ti == mm_gguf_tensor_at(g, t), "tensor %s", k_tensors[t].name);
        if (!ti) continue;
        CHECK(ti->type == k_tensors[t].type && ti->n_dims == k_tensors[t].n_dims, "%s type/dims", ti->name);
        CHECK(!memcmp(ti->ne, k_tensors[t].ne, sizeof ti->ne), "%s ne", ti->name);
        CHECK(ti->n_bytes == k_tensors[t].bytes, "%s bytes %zu", ti->name, ti->n_bytes);
        CHECK(ti->offset % mm_gguf_alignment(g) == 0, "%s offset", ti->name);
        CHECK(((uintptr_t)ti->data - (uintptr_t)mm_gguf_tensor_at(g, 0)->data) % mm_gguf_alignment(g) == 0, "data align");
        uint8_t *d = malloc(ti->n_bytes);
        pattern(d, ti->n_bytes, t);
        CHECK(!memcmp(d, ti->data, ti->n_bytes), "%s data", ti->name);
        free(d);
    }
    CHECK(mm_gguf_find_tensor(g, "nope") == NULL, "absent tensor");
    mm_gguf_close(g);
}

/* Every truncation of a valid file before the end of the last tensor's data must fail with one line;
 * every later one (trailing padding missing) must open. Then byte flips: fail cleanly or open. */
static void hostile(const uint8_t *file, size_t n, size_t data_end) {
    char err[MM_ERR_SIZE];
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *b = malloc(cut ? cut : 1);  /* exact-size copy so ASan sees any over-read */
        memcpy(b, file, cut);
        err[0] = 0;
        mm_gguf *g = mm_gguf_open_memory(b, cut, "mem", err);
        if (cut < data_end) {
            CHECK(!g, "truncation at %zu opened", cut);
            CHECK(!strncmp(err, "mem: ", 5) && !strchr(err, '\n') && strlen(err) > 8, "cut %zu: error '%s'", cut, err);
        } else {
            CHECK(g, "truncation at %zu (after the data) failed: %s", cut, err);
        }
        if (g) { walk(g); mm_gguf_close(g); }
        free(b);
    }
    uint32_t rng = 12345;
    int opened = 0, failed = 0;
    int iters = getenv("MMGPT_SANITIZE_RUN") ? 3000 : 20000;
    for (int it = 0; it < iters; it++) {
        uint8_t *b = malloc(n);
        memcpy(b, file, n);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            rng = rng * 1664525u + 1013904223u;
            size_t pos = (rng >> 8) % (data_end < n ? data_end : n);
            rng = rng * 1664525u + 1013904223u;
            b[pos] = (it & 1) ? (uint8_t)(rng >> 24) : (uint8_t)(b[pos] ^ (1u << ((rng >> 16) & 7)));
        }
        err[0] = 0;
        mm_gguf *g = mm_gguf_open_memory(b, n, "mem", err);
        if (g) { opened++; walk(g); mm_gguf_close(g); }
        else { failed++; CHECK(err[0] && !strchr(err, '\n'), "flip error '%s'", err); }
        free(b);
    }
    printf("byte flips: %d opened, %d rejected\n", opened, failed);
}

static void writer_errors(void) {
    char err[MM_ERR_SIZE];
    mm_gguf_writer *w = mm_gguf_writer_create();
    int64_t ne[2] = {33, 1};
    uint8_t d[64] = {0};
    CHECK(mm_gguf_writer_add_tensor(w, "x", 8, 2, ne, d, 34) == -1, "q8_0 with ne0 33 must fail");
    CHECK(mm_gguf_writer_write(w, "/nonexistent-dir/x.gguf", err) == -1 && strstr(err, "block size"), "sticky error: %s", err);
    mm_gguf_writer_free(w);
    w = mm_gguf_writer_create();
    CHECK(mm_gguf_writer_set_u32(w, "general.alignment", 48) == -1, "alignment 48 must fail");
    mm_gguf_writer_free(w);
    w = mm_gguf_writer_create();
    int64_t ne1[1] = {4};
    CHECK(mm_gguf_writer_add_tensor(w, "a", 0, 1, ne1, d, 16) == 0, "add a");
    CHECK(mm_gguf_writer_add_tensor(w, "a", 0, 1, ne1, d, 16) == -1, "duplicate tensor must fail");
    mm_gguf_writer_free(w);
    w = mm_gguf_writer_create();
    mm_gguf_writer_set_u32(w, "k", 1);
    mm_gguf_writer_set_str(w, "k2", "x");
    mm_gguf_writer_set_str(w, "k", "replaced");
    uint8_t bad[4] = {1, 2, 3, 4};
    CHECK(mm_gguf_writer_set_raw(w, "k3", MM_GGUF_ARRAY, bad, 4) == -1, "set_raw must validate");
    mm_gguf_writer_free(w);
}

int main(int argc, char **argv) {
    char err[MM_ERR_SIZE];
    if (argc >= 3 && !strcmp(argv[1], "write")) {
        mm_gguf_writer *w = every_type_writer(argc > 3 ? (uint32_t)atoi(argv[3]) : 0);
        int rc = mm_gguf_writer_write(w, argv[2], err);
        if (rc) fprintf(stderr, "%s\n", err);
        mm_gguf_writer_free(w);
        return rc ? 1 : 0;
    }
    if (argc == 4 && !strcmp(argv[1], "rewrite")) return rewrite(argv[2], argv[3]);
    if (argc != 1) {
        fprintf(stderr, "usage: test_gguf_rw [write OUT [ALIGN] | rewrite IN OUT]\n");
        return 2;
    }
    const char *tmpdir = getenv("MMGPT_TEST_TMP") ? getenv("MMGPT_TEST_TMP") : "/tmp";
    char p1[1024], p2[1024];
    for (int v = 0; v < 2; v++) {
        uint32_t align = v ? 64 : 0;
        snprintf(p1, sizeof p1, "%s/gguf_rw_%u.gguf", tmpdir, align);
        snprintf(p2, sizeof p2, "%s/gguf_rw_%u_re.gguf", tmpdir, align);
        mm_gguf_writer *w = every_type_writer(align);
        CHECK(mm_gguf_writer_write(w, p1, err) == 0, "write: %s", err);
        mm_gguf_writer_free(w);
        check_file(p1, align);
        CHECK(rewrite(p1, p2) == 0, "rewrite");
        size_t n1, n2;
        uint8_t *b1 = read_file(p1, &n1), *b2 = read_file(p2, &n2);
        CHECK(b1 && b2 && n1 == n2 && !memcmp(b1, b2, n1), "rewrite is not byte-identical (%zu vs %zu bytes)", n1, n2);
        CHECK(n1 % (align ? align : 32) == 0, "file not padded to the alignment");
        if (v == 0 && b1) {
            /* the file ends with the last tensor's data plus its zero padding */
            size_t pad = (32 - k_tensors[N_TENSORS - 1].bytes % 32) % 32;
            hostile(b1, n1, n1 - pad);
        }
        free(b1);
        free(b2);
    }
    writer_errors();
    /* open errors */
    mm_gguf *g = mm_gguf_open("/nonexistent/x.gguf", err);
    CHECK(!g && strstr(err, "/nonexistent/x.gguf: "), "missing file: %s", err);
    g = mm_gguf_open(tmpdir, err);
    CHECK(!g && strstr(err, "not a regular file"), "directory: %s", err);
    if (n_fail) return 1;
    printf("gguf round trip: ok\n");
    return 0;
}
