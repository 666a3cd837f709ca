/* bench_image.c - vision tower benchmark: ms per encode and achieved GFLOPS as a fraction of the sgemm GFLOPS
 * measured in the same run, at 1 and 2 threads.
 *
 *   bench_image [--shape vit-b16|vit-l14-336|siglip-b16-512] [--reps N] [--type f32|f16|q8_0] [--layers L]
 *               [--threads T]
 *
 * Shapes (random weights made in memory, written to a temporary GGUF in llama.cpp's mmproj layout: the encoder
 * reads models only through GGUF handles; block matrices in --type (default f32), vectors f32):
 *   vit-b16         mmgpt's own ViT-B/16 at 224 px: 196 patches + class token, 12 layers, d 768, d_ff 3072,
 *                   12 heads, pre_ln + post_ln, quick-GELU (the default)
 *   vit-l14-336     LLaVA-1.5's CLIP ViT-L/14 at 336 px: 576 patches + class token = 577 tokens, 23 blocks (the
 *                   converter drops the last of 24), d 1024, d_ff 4096, 16 heads, pre_ln, quick-GELU, no bias
 *                   on the patch embedding, projector "mlp"
 *   siglip-b16-512  SmolVLM's SigLIP-B/16 at 512 px: 1024 patches, no class token, 12 blocks, d 768, d_ff 3072,
 *                   12 heads, post_ln, GELU (tanh), patch bias, eps 1e-6, projector "idefics3"
 * FLOPs counted: patch embedding 2*n_patches*d*3*p*p, per layer 2*n*(4*d*d + 2*d*d_ff) for the linear layers plus
 * 4*n*n*d for attention scores and values (n tokens). The sgemm reference is mm_sgemm (core's f32 gemm) on the
 * shape of the tower's MLP up-projection [n x d] x [d x d_ff], best of both B layouts; sgemm and encode are timed
 * alternately and the best of each is kept (the machine may be shared). MMGPT_ENC_PROFILE=1 (a build with
 * -DMMGPT_ENC_PROFILE) prints the share of each step of the blocks.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mm_core.h"
#include "mm_gguf.h"
#include "mm_image.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / (1 << 23)) - 1.0);
}

static int add_tensor(mm_gguf_writer *w, const char *name, int type, int n_dims, int64_t ne0, int64_t ne1,
                      int64_t ne2, int64_t ne3, float scale, float center) {
    const int64_t n = ne0 * ne1 * ne2 * ne3;
    float *x = malloc((size_t)n * sizeof(float));
    if (!x) return -1;
    for (int64_t i = 0; i < n; i++) x[i] = center + scale * frand();
    int64_t ne[4] = {ne0, ne1, ne2, ne3};
    size_t row = mm_row_size((mm_type)type, ne0);
    size_t bytes = row * (size_t)(n / ne0);
    void *data = x;
    void *q = NULL;
    if (type != MM_TYPE_F32) {
        q = malloc(bytes);
        if (!q) {
            free(x);
            return -1;
        }
        for (int64_t r = 0; r < n / ne0; r++) mm_quantize_row((mm_type)type, x + r * ne0, (uint8_t *)q + r * row, ne0);
        data = q;
    }
    int rc = mm_gguf_writer_add_tensor(w, name, type, n_dims, ne, data, bytes);
    free(x);
    free(q);
    return rc;
}

typedef struct {
    const char *name, *label, *projector;
    int         S, p, d, f, n_head, n_layer;
    bool        cls, pre_ln, post_ln, patch_bias, gelu;
    float       eps;
} shape;

static const shape k_shapes[] = {
    {"vit-b16", "ViT-B/16", NULL, 224, 16, 768, 3072, 12, 12, true, true, true, true, false, 1e-5f},
    {"vit-l14-336", "CLIP ViT-L/14 (LLaVA-1.5)", "mlp", 336, 14, 1024, 4096, 16, 23, true, true, false, false, false,
     1e-5f},
    {"siglip-b16-512", "SigLIP-B/16 (SmolVLM)", "idefics3", 512, 16, 768, 3072, 12, 12, false, false, true, true, true,
     1e-6f},
};

static int write_model(const char *path, const shape *sh, int type, int n_layer, char *err) {
    const int d = sh->d, f = sh->f, p = sh->p, S = sh->S, nt = (S / p) * (S / p) + (sh->cls ? 1 : 0);
    mm_gguf_writer *w = mm_gguf_writer_create();
    if (!w) return mm_err(err, "out of memory");
    mm_gguf_writer_set_str(w, "general.architecture", "clip");
    mm_gguf_writer_set_bool(w, "clip.has_vision_encoder", true);
    mm_gguf_writer_set_u32(w, "clip.vision.image_size", S);
    mm_gguf_writer_set_u32(w, "clip.vision.patch_size", p);
    mm_gguf_writer_set_u32(w, "clip.vision.embedding_length", d);
    mm_gguf_writer_set_u32(w, "clip.vision.feed_forward_length", f);
    mm_gguf_writer_set_u32(w, "clip.vision.block_count", (uint32_t)n_layer);
    mm_gguf_writer_set_u32(w, "clip.vision.attention.head_count", (uint32_t)sh->n_head);
    mm_gguf_writer_set_f32(w, "clip.vision.attention.layer_norm_epsilon", sh->eps);
    mm_gguf_writer_set_bool(w, "clip.use_gelu", sh->gelu);
    if (sh->projector) mm_gguf_writer_set_str(w, "clip.projector_type", sh->projector);
    const float ws = 1.0f / sqrtf((float)d), wf = 1.0f / sqrtf((float)f); /* activations stay O(1) */
    int rc = 0;
    rc |= add_tensor(w, "v.patch_embd.weight", MM_TYPE_F32, 4, p, p, 3, d, 0.036f, 0);
    if (sh->patch_bias) rc |= add_tensor(w, "v.patch_embd.bias", MM_TYPE_F32, 1, d, 1, 1, 1, 0.02f, 0);
    if (sh->cls) rc |= add_tensor(w, "v.class_embd", MM_TYPE_F32, 1, d, 1, 1, 1, 1.0f, 0);
    rc |= add_tensor(w, "v.position_embd.weight", MM_TYPE_F32, 2, d, nt, 1, 1, 0.1f, 0);
    if (sh->pre_ln) {
        rc |= add_tensor(w, "v.pre_ln.weight", MM_TYPE_F32, 1, d, 1, 1, 1, 0.1f, 1);
        rc |= add_tensor(w, "v.pre_ln.bias", MM_TYPE_F32, 1, d, 1, 1, 1, 0.1f, 0);
    }
    if (sh->post_ln) {
        rc |= add_tensor(w, "v.post_ln.weight", MM_TYPE_F32, 1, d, 1, 1, 1, 0.1f, 1);
        rc |= add_tensor(w, "v.post_ln.bias", MM_TYPE_F32, 1, d, 1, 1, 1, 0.1f, 0);
    }
    char name[128];
    for (int l = 0; l < n_layer && rc == 0; l++) {
        const char *mats[4] = {"attn_q", "attn_k", "attn_v", "attn_out"};
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "v.blk.%d.ln%d.weight", l, k + 1);
            rc |= add_tensor(w, name, MM_TYPE_F32, 1, d, 1, 1, 1, 0.1f, 1);
            snprintf(name, sizeof name, "v.blk.%d.ln%d.bias", l, k + 1);
            rc |= add_tensor(w, name, MM_TYPE_F32, 1, d, 1, 1, 1, 0.1f, 0);
        }
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "v.blk.%d.%s.weight", l, mats[k]);
            rc |= add_tensor(w, name, type, 2, d, d, 1, 1, 1.7f * ws, 0);
            snprintf(name, sizeof name, "v.blk.%d.%s.bias", l, mats[k]);
            rc |= add_tensor(w, name, MM_TYPE_F32, 1, d, 1, 1, 1, 0.02f, 0);
        }
        snprintf(name, sizeof name, "v.blk.%d.ffn_up.weight", l);
        rc |= add_tensor(w, name, type, 2, d, f, 1, 1, 1.7f * ws, 0);
        snprintf(name, sizeof name, "v.blk.%d.ffn_up.bias", l);
        rc |= add_tensor(w, name, MM_TYPE_F32, 1, f, 1, 1, 1, 0.02f, 0);
        snprintf(name, sizeof name, "v.blk.%d.ffn_down.weight", l);
        rc |= add_tensor(w, name, type, 2, f, d, 1, 1, 1.7f * wf, 0);
        snprintf(name, sizeof name, "v.blk.%d.ffn_down.bias", l);
        rc |= add_tensor(w, name, MM_TYPE_F32, 1, d, 1, 1, 1, 0.02f, 0);
    }
    if (rc == 0) rc = mm_gguf_writer_write(w, path, err);
    else mm_err(err, "building the model failed");
    mm_gguf_writer_free(w);
    return rc ? -1 : 0;
}

/* CPU time of this process (all its threads), ms: on a shared machine the wall clock also counts the time
 * other processes hold the cores; CPU time / threads is the time the work itself took */
static double cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

typedef struct {
    int64_t m, n, k; /* the tower's MLP up-projection: [m x k] x [k x n] */
    float  *A, *B, *C; /* [m][k], [k][n], [m][n] */
} sgemm_bufs;

/* ms of one mm_sgemm [m x k] x [k x n] (mean of 5 back-to-back calls); B is stored [n][k] (transB) like a
 * weight matrix, or [k][n]; the faster of the two layouts is the reference */
static double sgemm_ms(mm_pool *pool, sgemm_bufs *b, bool transB, double *cpu) {
    double t0 = mm_time_ms(), c0 = cpu_ms();
    for (int j = 0; j < 5; j++)
        mm_sgemm(pool, transB, b->m, b->n, b->k, 1.0f, b->A, b->k, b->B, transB ? b->k : b->n, 0.0f, b->C, b->n);
    *cpu = (cpu_ms() - c0) / 5;
    return (mm_time_ms() - t0) / 5;
}

int main(int argc, char **argv) {
    int reps = 5, type = MM_TYPE_F32, n_layer = -1, max_th = 2;
    const shape *sh = &k_shapes[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--type") && i + 1 < argc) type = mm_type_from_name(argv[++i]);
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc) n_layer = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) max_th = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
            const char *nm = argv[++i];
            sh = NULL;
            for (size_t k = 0; k < sizeof k_shapes / sizeof *k_shapes; k++)
                if (!strcmp(nm, k_shapes[k].name)) sh = &k_shapes[k];
            if (!sh) {
                fprintf(stderr, "bench_image: unknown shape %s (vit-b16, vit-l14-336, siglip-b16-512)\n", nm);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: bench_image [--shape vit-b16|vit-l14-336|siglip-b16-512] [--reps N] "
                            "[--type f32|f16|q8_0|q4_0] [--layers L] [--threads T]\n");
            return 2;
        }
    }
    if (n_layer < 0) n_layer = sh->n_layer;
    if (reps < 1 || type < 0 || n_layer < 1 || n_layer > 48 || max_th < 1 || max_th > 256) {
        fprintf(stderr, "bench_image: bad arguments\n");
        return 2;
    }
    char err[MM_ERR_SIZE];
    const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_image_%d.gguf", tmpdir, (int)getpid());
    if (write_model(path, sh, type, n_layer, err)) {
        fprintf(stderr, "bench_image: %s\n", err);
        return 1;
    }
    mm_gguf *g = mm_gguf_open(path, err);
    unlink(path); /* stays mapped */
    mm_vit_model *m = g ? mm_vit_model_load(g, err) : NULL;
    if (!m) {
        fprintf(stderr, "bench_image: %s\n", err);
        return 1;
    }
    const int S = mm_vit_image_size(m), nt = mm_vit_n_tokens(m), d = mm_vit_d_enc(m), f = sh->f, p = sh->p;
    const int np = (S / p) * (S / p);
    const double flops = 2.0 * np * d * (3.0 * p * p) +
                         n_layer * (2.0 * nt * (4.0 * d * d + 2.0 * d * f) + 4.0 * nt * (double)nt * d);
    float *pix = malloc(sizeof(float) * 3 * S * S), *out = malloc(sizeof(float) * nt * d);
    sgemm_bufs sb = {nt, f, d, malloc(sizeof(float) * nt * d), malloc(sizeof(float) * d * f),
                     malloc(sizeof(float) * nt * f)};
    if (!pix || !out || !sb.A || !sb.B || !sb.C) {
        fprintf(stderr, "bench_image: out of memory\n");
        return 1;
    }
    for (int64_t i = 0; i < (int64_t)nt * d; i++) sb.A[i] = frand();
    for (int64_t i = 0; i < (int64_t)d * f; i++) sb.B[i] = frand();
    for (int i = 0; i < 3 * S * S; i++) pix[i] = frand();
    printf("bench_image: %s %dpx, %d tokens, %d layers, d %d, d_ff %d, weights %s, %.2f GFLOP per encode, "
           "kernels %s\n",
           sh->label, S, nt, n_layer, d, f, mm_type_name(type), flops / 1e9, mm_cpu_kernel_name());
    printf("%-8s %12s %12s %14s %10s | %12s %12s %14s %10s\n", "threads", "ms/encode", "GFLOPS", "sgemm GFLOPS",
           "fraction", "cpu ms/enc", "cpu GFLOPS", "cpu sgemm GF", "fraction");
    for (int th = 1; th <= max_th; th++) {
        mm_pool *pool = mm_pool_create(th, err);
        mm_vit_state *st = pool ? mm_vit_state_create(m, pool, err) : NULL;
        if (!st) {
            fprintf(stderr, "bench_image: %s\n", err);
            return 1;
        }
        /* sgemm and encode measured alternately, best of each, so that load from other processes on
         * the machine affects both alike */
        double sg_best = 1e30, sgc_best = 1e30, cbest = 1e30, c;
        if (mm_vit_encode(st, pix, out, err)) { /* warm-up */
            fprintf(stderr, "bench_image: %s\n", err);
            return 1;
        }
        sgemm_ms(pool, &sb, true, &c);
        double best = 1e30, sum = 0;
        for (int r = 0; r < reps; r++) {
            for (int q = 0; q < 2; q++) {
                double ts = sgemm_ms(pool, &sb, q == 0, &c);
                if (ts < sg_best) sg_best = ts;
                if (c < sgc_best) sgc_best = c;
            }
            double t0 = mm_time_ms(), c0 = cpu_ms();
            mm_vit_encode(st, pix, out, err);
            double t = mm_time_ms() - t0;
            c = cpu_ms() - c0;
            sum += t;
            if (t < best) best = t;
            if (c < cbest) cbest = c;
        }
        double sg = 2.0 * sb.m * sb.n * sb.k / (sg_best * 1e6), gf = flops / (best * 1e6);
        double sgc = 2.0 * sb.m * sb.n * sb.k * th / (sgc_best * 1e6), gfc = flops * th / (cbest * 1e6);
        printf("%-8d %12.1f %12.1f %14.1f %9.0f%% | %12.1f %12.1f %14.1f %9.0f%%   (wall mean %.1f ms over %d)\n",
               th, best, gf, sg, 100.0 * gf / sg, cbest / th, gfc, sgc, 100.0 * gfc / sgc, sum / reps, reps);
        mm_vit_state_free(st);
        mm_pool_free(pool);
    }
    double chk = 0;
    for (int i = 0; i < nt * d; i++) chk += out[i];
    printf("checksum %.6g\n", chk);
    free(pix);
    free(out);
    free(sb.A);
    free(sb.B);
    free(sb.C);
    mm_vit_model_free(m);
    mm_gguf_close(g);
    return 0;
}
