/* test_projector.c - projectors (fusion/projector.c) against a naive double-precision restatement here,
 * and every malformed projector a file can hold gives a clear error (never a crash).
 * Tolerance: max |y - ref| <= 1e-5 * max(1, max |ref|) for F32 weights (sgemm vs double loops). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_fusion.h"
#include "mm_gguf.h"

#include "mm_check.h"

static unsigned rng = 1;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return ((float)(rng >> 8) / 16777216.0f - 0.5f) * 0.8f;
}
static float *rnd(int64_t n) {
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = frand();
    return x;
}

static char path[1024];
/* image pixel-shuffle keys for the next write_open: clip.vision.projector.scale_factor = g_merge (< 0 = no
 * key) and, when g_side > 0, clip.vision.image_size = g_side * 8 with patch_size 8 */
static long g_merge = -1, g_side = 0;

/* write a GGUF with the given linear layers: names[i] with W [rows[i], cols[i]] and bias */
typedef struct {
    const char *name;
    int64_t     rows, cols, bias_n;  /* bias_n: elements of the bias (0 = none) */
    float      *w, *b;
} lin;

static mm_gguf *write_open(const lin *l, int n, const char *ptype, long stack, char *err) {
    mm_gguf_writer *w = mm_gguf_writer_create();
    mm_gguf_writer_set_str(w, "general.architecture", "clip");
    if (ptype) mm_gguf_writer_set_str(w, "clip.projector_type", ptype);
    if (stack >= 0) mm_gguf_writer_set_u32(w, "clip.audio.projector.stack_factor", (uint32_t)stack);
    if (g_merge >= 0) mm_gguf_writer_set_u32(w, "clip.vision.projector.scale_factor", (uint32_t)g_merge);
    if (g_side > 0) {
        mm_gguf_writer_set_u32(w, "clip.vision.image_size", (uint32_t)(g_side * 8));
        mm_gguf_writer_set_u32(w, "clip.vision.patch_size", 8);
    }
    for (int i = 0; i < n; i++) {
        char    nm[128];
        int64_t ne[2] = {l[i].cols, l[i].rows};
        snprintf(nm, sizeof nm, "%s.weight", l[i].name);
        mm_gguf_writer_add_tensor(w, nm, MM_TYPE_F32, 2, ne, l[i].w, (size_t)(l[i].rows * l[i].cols) * sizeof(float));
        if (l[i].bias_n) {
            int64_t nb[1] = {l[i].bias_n};
            snprintf(nm, sizeof nm, "%s.bias", l[i].name);
            mm_gguf_writer_add_tensor(w, nm, MM_TYPE_F32, 1, nb, l[i].b, (size_t)l[i].bias_n * sizeof(float));
        }
    }
    int rc = mm_gguf_writer_write(w, path, err);
    mm_gguf_writer_free(w);
    return rc ? NULL : mm_gguf_open(path, err);
}

static void ref_linear(const lin *l, const double *x, int64_t n, double *y) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t r = 0; r < l->rows; r++) {
            double a = l->bias_n ? l->b[r] : 0.0;
            for (int64_t c = 0; c < l->cols; c++) a += (double)l->w[r * l->cols + c] * x[i * l->cols + c];
            y[i * l->rows + r] = a;
        }
}
static void ref_gelu(double *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
}

static void compare(const char *what, const float *y, const double *ref, int64_t n) {
    double md = 0, mr = 1;
    for (int64_t i = 0; i < n; i++) {
        md = fmax(md, fabs(y[i] - ref[i]));
        mr = fmax(mr, fabs(ref[i]));
    }
    printf("%s: max|diff| %.3g (tol %.3g)\n", what, md, 1e-5 * mr);
    CHECK(md <= 1e-5 * mr, "%s: max|diff| %g", what, md);
}

/* the reference projector on prepared (stacked or shuffled) rows xs[m]: l[0], [GELU, l[1]]; compare with y */
static void ref_compare(const char *what, const lin *l, int nl, const double *xs, int64_t m, const float *y,
                        int64_t d_model) {
    double *h = malloc((size_t)(m * l[0].rows) * sizeof *h), *ref = h, *o = NULL;
    ref_linear(&l[0], xs, m, h);
    if (nl > 1) {
        ref_gelu(h, m * l[0].rows);
        o = malloc((size_t)(m * l[1].rows) * sizeof *o);
        ref_linear(&l[1], h, m, o);
        ref = o;
    }
    compare(what, y, ref, m * d_model);
    free(h);
    free(o);
}

/* write l to a file, open it and load the projector into *p; NULL (a counted failure) when either fails */
static mm_gguf *write_load(const char *what, const lin *l, int nl, const char *ptype, long stack, mmgpt_media_kind kind,
                           int64_t d_in, int64_t d_model, mm_projector *p) {
    char     err[MM_ERR_SIZE];
    mm_gguf *g = write_open(l, nl, ptype, stack, err);
    CHECK(g, "%s: %s", what, err);
    if (g && mm_projector_load(p, g, kind, d_in, d_model, err)) {
        CHECK(0, "%s: load: %s", what, err);
        mm_gguf_close(g);
        g = NULL;
    }
    return g;
}

/* y[m, d_model] = the projector on n random rows x[n, d_in] (returned; the caller frees x and y) */
static float *apply_random(const mm_projector *p, int64_t n, int64_t d_in, int64_t m, int64_t d_model, float **x) {
    *x = rnd(n * d_in);
    float *y = malloc((size_t)(m * d_model) * sizeof *y);
    void  *scratch = aligned_alloc(64, ((mm_projector_scratch_bytes(p, n) + 63) / 64 + 1) * 64);
    mm_projector_apply(p, NULL, *x, n, y, scratch);
    free(scratch);
    return y;
}

static void run_case(const char *what, mmgpt_media_kind kind, const lin *l, int nl, const char *ptype, long stack,
                     int64_t d_in, int64_t d_model, int64_t n) {
    mm_projector p;
    mm_gguf     *g = write_load(what, l, nl, ptype, stack, kind, d_in, d_model, &p);
    if (!g) return;
    int64_t k = kind == MMGPT_MEDIA_AUDIO ? (stack > 0 ? stack : 1) : 1;
    int64_t m = mm_projector_n_out(&p, n);
    CHECK(m == (n + k - 1) / k, "%s: n_out %lld", what, (long long)m);
    float  *x, *y = apply_random(&p, n, d_in, m, d_model, &x);
    /* reference: stack k frames (zero padded), linear, [GELU, linear] */
    double *xs = calloc((size_t)(m * k * d_in), sizeof *xs);
    for (int64_t i = 0; i < n * d_in; i++) xs[i] = x[i];
    ref_compare(what, l, nl, xs, m, y, d_model);
    free(x); free(y); free(xs);
    mm_projector_free(&p);
    mm_gguf_close(g);
}

/* pixel shuffle: a side x side grid of d_in-wide patch rows, s x s blocks -> one row each, then l[0]
 * [GELU, l[1]]. Reference row (I, J) = patches (I*s + di, J*s + dj) at columns (di*s + dj)*d_in. */
static void run_merge_case(const char *what, const lin *l, int nl, const char *ptype, long s, long side,
                           int64_t d_in, int64_t d_model) {
    mm_projector p;
    g_merge = s;
    g_side = side;
    mm_gguf *g = write_load(what, l, nl, ptype, -1, MMGPT_MEDIA_IMAGE, d_in, d_model, &p);
    g_merge = -1;
    g_side = 0;
    if (!g) return;
    int64_t n = side * side, go = side / s, m = mm_projector_n_out(&p, n);
    CHECK(m == go * go, "%s: n_out %lld, want %lld", what, (long long)m, (long long)(go * go));
    float  *x, *y = apply_random(&p, n, d_in, m, d_model, &x);
    int64_t w = s * s * d_in;
    double *xs = malloc((size_t)(go * go * w) * sizeof *xs);
    for (int64_t r = 0; r < side; r++)         /* patch (r, c) -> out row (r/s, c/s), block (r%s, c%s) */
        for (int64_t c = 0; c < side; c++)
            for (int64_t e = 0; e < d_in; e++)
                xs[((r / s) * go + c / s) * w + ((r % s) * s + c % s) * d_in + e] = x[(r * side + c) * d_in + e];
    ref_compare(what, l, nl, xs, m, y, d_model);
    free(x); free(y); free(xs);
    mm_projector_free(&p);
    mm_gguf_close(g);
}

static void expect_error(const char *what, mmgpt_media_kind kind, const lin *l, int nl, const char *ptype, long stack,
                         int64_t d_in, int64_t d_model, const char *frag) {
    char     err[MM_ERR_SIZE] = "";
    mm_gguf *g = write_open(l, nl, ptype, stack, err);
    CHECK(g, "%s: %s", what, err);
    if (!g) return;
    mm_projector p;
    int rc = mm_projector_load(&p, g, kind, d_in, d_model, err);
    CHECK(rc != 0 && strstr(err, frag), "%s: rc %d, message '%s' (want '%s')", what, rc, err, frag);
    if (rc == 0) mm_projector_free(&p);
    else printf("ok error %s: %s\n", what, err);
    mm_gguf_close(g);
}

int main(void) {
    const char *tmp = getenv("MMGPT_TEST_TMP");
    snprintf(path, sizeof path, "%s/fus_projector.gguf", tmp ? tmp : ".");
    const int64_t dv = 24, da = 16, dm = 40, mid = 56;

    lin lin0 = {"mm.0", dm, dv, dm, rnd(dm * dv), rnd(dm)};
    run_case("image linear", MMGPT_MEDIA_IMAGE, &lin0, 1, "linear", -1, dv, dm, 9);
    lin mlp[2] = {{"mm.0", mid, dv, mid, rnd(mid * dv), rnd(mid)}, {"mm.2", dm, mid, dm, rnd(dm * mid), rnd(dm)}};
    run_case("image mlp", MMGPT_MEDIA_IMAGE, mlp, 2, "mlp", -1, dv, dm, 7);
    run_case("image mlp, one row", MMGPT_MEDIA_IMAGE, mlp, 2, "mlp", -1, dv, dm, 1);
    lin nob = {"mm.0", dm, dv, 0, rnd(dm * dv), NULL};
    run_case("image linear without bias", MMGPT_MEDIA_IMAGE, &nob, 1, "linear", -1, dv, dm, 5);
    for (int k = 1; k <= 4; k++) {
        lin au[2] = {{"mm.a.mlp.1", mid, k * da, mid, rnd(mid * k * da), rnd(mid)},
                     {"mm.a.mlp.2", dm, mid, dm, rnd(dm * mid), rnd(dm)}};
        char what[64];
        for (int n = 1; n <= 9; n += 4) {
            snprintf(what, sizeof what, "audio stack %d, %d frames", k, n);
            run_case(what, MMGPT_MEDIA_AUDIO, au, 2, NULL, k, da, dm, n);
        }
        free(au[0].w); free(au[0].b); free(au[1].w); free(au[1].b);
    }

    lin fc2 = {"mm.model.fc", dm, 4 * dv, 0, rnd(dm * 4 * dv), NULL};
    run_merge_case("image idefics3, scale factor 2, 4x4 grid", &fc2, 1, "idefics3", 2, 4, dv, dm);
    run_merge_case("image idefics3, scale factor 2, 6x6 grid", &fc2, 1, "idefics3", 2, 6, dv, dm);
    lin fc3 = {"mm.0", dm, 9 * dv, dm, rnd(dm * 9 * dv), rnd(dm)};
    run_merge_case("image linear, scale factor 3, 6x6 grid", &fc3, 1, "linear", 3, 6, dv, dm);
    lin mlp2[2] = {{"mm.0", mid, 4 * dv, mid, rnd(mid * 4 * dv), rnd(mid)}, {"mm.2", dm, mid, dm, mlp[1].w, mlp[1].b}};
    run_merge_case("image mlp, scale factor 2, 8x8 grid", mlp2, 2, "mlp", 2, 8, dv, dm);
    run_merge_case("image linear, scale factor 1 (key present)", &lin0, 1, "linear", 1, 4, dv, dm);

    /* malformed projectors */
    expect_error("idefics3 without mm.model.fc", MMGPT_MEDIA_IMAGE, &lin0, 1, "idefics3", -1, dv, dm, "mm.model.fc.weight");
    g_side = 4;
    g_merge = 3;
    expect_error("scale factor 3 on a 4x4 grid", MMGPT_MEDIA_IMAGE, &fc3, 1, "linear", -1, dv, dm, "does not divide the 4 x 4");
    g_merge = 0;
    expect_error("scale factor 0", MMGPT_MEDIA_IMAGE, &lin0, 1, "linear", -1, dv, dm, "scale_factor = 0 is outside");
    g_merge = 1000;
    expect_error("scale factor 1000", MMGPT_MEDIA_IMAGE, &lin0, 1, "linear", -1, dv, dm, "scale_factor = 1000 is outside");
    g_merge = 2;
    expect_error("scale factor vs mm.model.fc width", MMGPT_MEDIA_IMAGE, &fc3, 1, "linear", -1, dv, dm, "merged patches");
    g_side = 0;
    expect_error("scale factor without image_size", MMGPT_MEDIA_IMAGE, &fc2, 1, "idefics3", -1, dv, dm, "image_size");
    g_merge = -1;
    free(fc2.w); free(fc3.w); free(fc3.b); free(mlp2[0].w); free(mlp2[0].b);
    expect_error("no mm.0", MMGPT_MEDIA_IMAGE, &mlp[1], 1, "linear", -1, dv, dm, "mm.0.weight");
    expect_error("mlp without mm.2", MMGPT_MEDIA_IMAGE, &mlp[0], 1, "mlp", -1, dv, dm, "mm.2.weight");
    expect_error("unknown projector type", MMGPT_MEDIA_IMAGE, &lin0, 1, "resampler", -1, dv, dm, "resampler");
    expect_error("encoder width", MMGPT_MEDIA_IMAGE, &lin0, 1, "linear", -1, dv + 8, dm, "takes 24 inputs");
    expect_error("output width", MMGPT_MEDIA_IMAGE, &lin0, 1, "linear", -1, dv, dm + 24,
                 "this mmproj does not fit this model: projector outputs 40, decoder d_model is 64");
    lin badchain[2] = {{"mm.0", mid, dv, mid, mlp[0].w, mlp[0].b}, {"mm.2", dm, mid - 8, dm, mlp[1].w, mlp[1].b}};
    expect_error("mm.2 does not chain", MMGPT_MEDIA_IMAGE, badchain, 2, "mlp", -1, dv, dm, "mm.2.weight takes 48");
    lin badbias = {"mm.0", dm, dv, dm - 1, lin0.w, lin0.b};
    expect_error("bias size", MMGPT_MEDIA_IMAGE, &badbias, 1, "linear", -1, dv, dm, "mm.0.bias");
    lin au2[2] = {{"mm.a.mlp.1", mid, 2 * da, mid, rnd(mid * 2 * da), rnd(mid)},
                  {"mm.a.mlp.2", dm, mid, dm, rnd(dm * mid), rnd(dm)}};
    expect_error("stack factor 0", MMGPT_MEDIA_AUDIO, au2, 2, NULL, 0, da, dm, "stack_factor");
    expect_error("stack factor 100000", MMGPT_MEDIA_AUDIO, au2, 2, NULL, 100000, da, dm, "stack_factor");
    expect_error("stack factor vs mm.a.mlp.1 width", MMGPT_MEDIA_AUDIO, au2, 2, NULL, 3, da, dm, "stacked");
    expect_error("audio output width", MMGPT_MEDIA_AUDIO, au2, 2, NULL, 2, da, dm + 1, "does not fit");
    expect_error("audio without mm.a.mlp.2", MMGPT_MEDIA_AUDIO, au2, 1, NULL, 2, da, dm, "mm.a.mlp.2.weight");

    free(lin0.w); free(lin0.b); free(nob.w); free(mlp[0].w); free(mlp[0].b); free(mlp[1].w); free(mlp[1].b);
    free(au2[0].w); free(au2[0].b); free(au2[1].w); free(au2[1].b);
    if (n_fail) {
        fprintf(stderr, "%d check(s) failed\n", n_fail);
        return 1;
    }
    printf("projectors: all checks passed\n");
    return 0;
}
