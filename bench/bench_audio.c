/* bench_audio.c - audio front end and encoder speed.
 *
 *   bench_audio [--threads 1,2] [--reps N] [--shape base|turbo] [--type f32|f16|q8_0]
 *   bench_audio --mel-only [--threads 1,2] [--reps N]      (the log-mel of 30 s at 80 and 128 bins only)
 *
 * A Whisper-shaped encoder with random weights is written to a temporary GGUF and loaded like any model:
 * base (80 mels, d 512, 8 heads, FFN 2048, 6 layers) or large-v3-turbo (128 mels, d 1280, 20 heads, FFN 5120,
 * 32 layers), 1500 positions, k_proj without bias as Whisper; the block matrices in --type (default f32; the
 * conv kernels f16 for f16/q8_0, as llama.cpp's converter writes them). It encodes 30 s of
 * audio (3000 mel frames -> 1500 rows) and 5 s of audio over its own frames (500 -> 250 rows;
 * mmgpt.audio.pad_to_window = false), on 1 and 2 threads. Reported: ms per encode (best of N), the
 * achieved GFLOPS (matrix-product FLOPs of the encoder / time) and that as a fraction of the sgemm
 * GFLOPS measured in the same run at the same thread count (mm_sgemm 1500 x 2048 x 512, the FFN
 * shape). Also the log-mel of 30 s of audio (480,000 samples) in ms, fast path, best of N.
 *
 * Measured 2026-12-06 on this 2-core AVX-512 machine while ~6 other builds/tests ran (so 2 threads were
 * rarely faster than 1; figures are the fraction of the sgemm measured in the same run):
 *   base f32:  1 thread 1720 ms for 30 s = 97% of sgemm (52.5 GFLOPS); 2 threads 67%
 *   base f16:  1 thread 2091 ms = 72%;  2 threads 56%
 *   base q8_0: 1 thread 1976 ms = 88%;  2 threads 70%
 *   large-v3-turbo f16, 2 threads: 61.7 s for 30 s = 73% of sgemm (50.5 GFLOPS)
 *   log-mel of 30 s: 80 bins 2.9 ms (1 thread); 128 bins 15.2 ms (2 loaded threads; not re-measured idle)
 * Re-measured 2026-12-06 13:15-13:40 (load average 13 on the 2 cores; bench/README.md has the table):
 *   log-mel of 30 s, 1 thread, glibc log10f -> vectorized log10 (audio_mel.c): 80 bins 3.3 -> 1.9 ms,
 *   128 bins 4.5 -> 2.4 ms (best of 20, --mel-only)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_audio.h"
#include "mm_gguf.h"

enum { N_POS = 1500 };
static int N_MELS = 80, D = 512, N_HEAD = 8, D_FF = 2048, N_LAYER = 6;
static mm_type g_type = MM_TYPE_F32;

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) / 16777216.0 - 0.5);
}

static float *rnd(size_t n, float scale, float offset) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = offset + scale * frand();
    return p;
}

/* A random tensor of type t (rows of n0 quantized/converted one by one). */
static void add_t(mm_gguf_writer *w, const char *name, mm_type t, int nd, int64_t n0, int64_t n1, int64_t n2,
                  float scale, float offset) {
    int64_t ne[3] = {n0, n1, n2};
    size_t n = (size_t)(n0 * n1 * n2), rs = mm_row_size(t, n0), rows = n / (size_t)n0;
    float *p = rnd(n, scale, offset);
    uint8_t *q = malloc(rs * rows);
    for (size_t r = 0; r < rows; r++) mm_quantize_row(t, p + r * (size_t)n0, q + r * rs, n0);
    mm_gguf_writer_add_tensor(w, name, t, nd, ne, q, rs * rows);
    free(q);
    free(p);
}

static void add(mm_gguf_writer *w, const char *name, int nd, int64_t n0, int64_t n1, int64_t n2, float scale,
                float offset) {
    add_t(w, name, MM_TYPE_F32, nd, n0, n1, n2, scale, offset);
}

static int write_model(const char *path, char *err) {
    mm_gguf_writer *w = mm_gguf_writer_create();
    mm_gguf_writer_set_str(w, "general.architecture", "clip");
    mm_gguf_writer_set_bool(w, "clip.has_audio_encoder", true);
    mm_gguf_writer_set_u32(w, "clip.audio.num_mel_bins", N_MELS);
    mm_gguf_writer_set_u32(w, "clip.audio.embedding_length", D);
    mm_gguf_writer_set_u32(w, "clip.audio.feed_forward_length", D_FF);
    mm_gguf_writer_set_u32(w, "clip.audio.block_count", N_LAYER);
    mm_gguf_writer_set_u32(w, "clip.audio.attention.head_count", N_HEAD);
    mm_gguf_writer_set_f32(w, "clip.audio.attention.layer_norm_epsilon", 1e-5f);
    mm_gguf_writer_set_u32(w, "mmgpt.audio.max_frames", 3000);
    mm_gguf_writer_set_bool(w, "mmgpt.audio.pad_to_window", false);
    const mm_type ct = g_type == MM_TYPE_F32 ? MM_TYPE_F32 : MM_TYPE_F16;
    add_t(w, "a.conv1d.1.weight", ct, 3, 3, N_MELS, D, 0.2f, 0);
    add(w, "a.conv1d.1.bias", 1, D, 1, 1, 0.1f, 0);
    add_t(w, "a.conv1d.2.weight", ct, 3, 3, D, D, 0.05f, 0);
    add(w, "a.conv1d.2.bias", 1, D, 1, 1, 0.1f, 0);
    add(w, "a.position_embd.weight", 2, D, N_POS, 1, 0.5f, 0);
    char name[128];
    static const char *lin[] = {"attn_q", "attn_k", "attn_v", "attn_out", "ffn_up", "ffn_down"};
    for (int l = 0; l < N_LAYER; l++) {
        for (int k = 0; k < 6; k++) {
            const int64_t in = k == 5 ? D_FF : D, out = k == 4 ? D_FF : D;
            snprintf(name, sizeof name, "a.blk.%d.%s.weight", l, lin[k]);
            add_t(w, name, g_type, 2, in, out, 1, 2.0f / sqrtf((float)in), 0);
            if (k == 1) continue; /* Whisper's k_proj has no bias */
            snprintf(name, sizeof name, "a.blk.%d.%s.bias", l, lin[k]);
            add(w, name, 1, out, 1, 1, 0.02f, 0);
        }
        snprintf(name, sizeof name, "a.blk.%d.ln1.weight", l);
        add(w, name, 1, D, 1, 1, 0.1f, 1.0f);
        snprintf(name, sizeof name, "a.blk.%d.ln1.bias", l);
        add(w, name, 1, D, 1, 1, 0.1f, 0);
        snprintf(name, sizeof name, "a.blk.%d.ln2.weight", l);
        add(w, name, 1, D, 1, 1, 0.1f, 1.0f);
        snprintf(name, sizeof name, "a.blk.%d.ln2.bias", l);
        add(w, name, 1, D, 1, 1, 0.1f, 0);
    }
    add(w, "a.post_ln.weight", 1, D, 1, 1, 0.1f, 1.0f);
    add(w, "a.post_ln.bias", 1, D, 1, 1, 0.1f, 0);
    int rc = mm_gguf_writer_write(w, path, err);
    mm_gguf_writer_free(w);
    return rc;
}

/* Matrix-product FLOPs of one window of T_in mel frames. */
static double encoder_flops(int64_t T_in) {
    const double T = (double)((T_in + 1) / 2), d = D;
    double f = 2.0 * T_in * d * 3 * N_MELS + 2.0 * T * d * 3 * d;
    f += N_LAYER * (4 * 2.0 * T * d * d + 2 * 2.0 * T * T * d + 2 * 2.0 * T * d * D_FF);
    return f;
}

/* Best of 5 reps log-mels of pcm[n] at n_mels bins on pool, in ms (a first call warms up). */
static double bench_mel(mm_pool *pool, int n_mels, const float *pcm, int64_t n, int reps) {
    char    err[MM_ERR_SIZE];
    mm_mel *mel = mm_mel_create(n_mels, err);
    float  *buf = malloc((size_t)n_mels * (size_t)mm_mel_n_frames(n) * sizeof *buf);
    double  bm = -1.0;
    if (mel && buf && !mm_mel_compute(mel, pool, pcm, n, n, buf, err)) {
        bm = 1e30;
        for (int r = 0; r < 5 * reps; r++) {
            double t0 = mm_time_ms();
            mm_mel_compute(mel, pool, pcm, n, n, buf, err);
            double t = mm_time_ms() - t0;
            if (t < bm) bm = t;
        }
    }
    free(buf);
    mm_mel_free(mel);
    return bm;
}

/* Speech-like audio: a chirp plus noise. */
static float *test_pcm(int64_t n) {
    float *pcm = malloc((size_t)n * sizeof *pcm);
    for (int64_t i = 0; pcm && i < n; i++)
        pcm[i] = 0.3f * sinf(0.02f * (float)i + 1e-7f * (float)i * (float)i) + 0.05f * frand();
    return pcm;
}

static int mel_only(const int *threads, int n_thr, int reps) {
    const int64_t n30 = 480000;
    float        *pcm = test_pcm(n30);
    char          err[MM_ERR_SIZE];
    for (int ti = 0; pcm && ti < n_thr; ti++) {
        mm_pool *pool = mm_pool_create(threads[ti], err);
        if (!pool) return fprintf(stderr, "bench_audio: %s\n", err), 1;
        for (int nm = 80; nm <= 128; nm += 48)
            printf("threads %d: log-mel of 30 s (%d x 3000)      %8.2f ms\n", threads[ti], nm,
                   bench_mel(pool, nm, pcm, n30, reps));
        mm_pool_free(pool);
    }
    free(pcm);
    return pcm ? 0 : 1;
}

int main(int argc, char **argv) {
    int reps = 3, threads[4] = {1, 2}, n_thr = 2;
    bool mel_alone = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mel-only")) mel_alone = true;
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc && !strcmp(argv[i + 1], "turbo")) {
            N_MELS = 128, D = 1280, N_HEAD = 20, D_FF = 5120, N_LAYER = 32;
            i++;
        } else if (!strcmp(argv[i], "--shape") && i + 1 < argc && !strcmp(argv[i + 1], "base")) {
            i++;
        } else if (!strcmp(argv[i], "--type") && i + 1 < argc) {
            const char *t = argv[++i];
            g_type = !strcmp(t, "f16") ? MM_TYPE_F16 : !strcmp(t, "q8_0") ? MM_TYPE_Q8_0 : MM_TYPE_F32;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            n_thr = sscanf(argv[++i], "%d,%d,%d,%d", &threads[0], &threads[1], &threads[2], &threads[3]);
            if (n_thr < 1) n_thr = 1;
        } else {
            fprintf(stderr, "usage: bench_audio [--threads 1,2] [--reps N] [--shape base|turbo] [--type f32|f16|q8_0] "
                            "[--mel-only]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    if (mel_alone) return mel_only(threads, n_thr, reps);
    char err[MM_ERR_SIZE], path[] = "/tmp/mmgpt_bench_audio_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    close(fd);
    if (write_model(path, err)) {
        fprintf(stderr, "bench_audio: %s\n", err);
        return 1;
    }
    mm_gguf *g = mm_gguf_open(path, err);
    mm_audio_model *m = g ? mm_audio_model_load(g, err) : NULL;
    unlink(path);
    if (!m) {
        fprintf(stderr, "bench_audio: %s\n", err);
        return 1;
    }
    const int64_t n30 = 480000, n5 = 80000;
    float *pcm = test_pcm(n30);

    printf("bench_audio: Whisper-%s-shaped encoder (%d mels, d %d, %d heads, FFN %d, %d layers), %s, "
           "cpu kernels %s, best of %d\n", D == 512 ? "base" : "large-v3-turbo", N_MELS, D, N_HEAD, D_FF, N_LAYER,
           mm_type_name(g_type), mm_cpu_kernel_name(), reps);
    for (int ti = 0; ti < n_thr; ti++) {
        const int nt = threads[ti];
        mm_pool *pool = mm_pool_create(nt, err);
        mm_audio_state *st = pool ? mm_audio_state_create(m, pool, err) : NULL;
        mm_mel *mel = mm_mel_create(N_MELS, err);
        if (!st || !mel || !pcm) {
            fprintf(stderr, "bench_audio: %s\n", err);
            return 1;
        }
        /* sgemm reference: C[1500, d_ff] = A[1500, d] . B[d_ff, d]^T (the FFN shape) */
        const int64_t M = 1500, N = D_FF, K = D;
        float *A = rnd(M * K, 1, 0), *B = rnd(N * K, 1, 0), *C = malloc(M * N * sizeof *C);
        double best = 1e30;
        for (int r = 0; r < reps + 1; r++) {
            double t0 = mm_time_ms();
            mm_sgemm(pool, true, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
            double t = mm_time_ms() - t0;
            if (r > 0 && t < best) best = t;  /* first run warms up */
        }
        const double sgemm_gflops = 2.0 * M * N * K / (best * 1e6);
        free(A);
        free(B);
        free(C);
        printf("threads %d: sgemm %lldx%lldx%lld %.1f GFLOPS\n", nt, (long long)M, (long long)N, (long long)K,
               sgemm_gflops);

        const int64_t lens[2] = {n30, n5};
        const char *names[2] = {"30 s (3000 frames)", "5 s (500 frames, unpadded)"};
        float *melbuf = malloc((size_t)N_MELS * 3000 * sizeof *melbuf);
        float *out = malloc((size_t)1500 * D * sizeof *out);
        for (int c = 0; c < 2; c++) {
            const int64_t nf = mm_mel_n_frames(lens[c]);
            mm_mel_compute(mel, pool, pcm, lens[c], lens[c], melbuf, err);
            double bt = 1e30;
            for (int r = 0; r < reps + (c == 0); r++) {
                double t0 = mm_time_ms();
                if (mm_audio_encode_mel(st, melbuf, nf, out, err)) {
                    fprintf(stderr, "bench_audio: %s\n", err);
                    return 1;
                }
                double t = mm_time_ms() - t0;
                if (!(c == 0 && r == 0) && t < bt) bt = t;
            }
            const double gf = encoder_flops(nf) / (bt * 1e6);
            printf("threads %d: encode %-28s %8.1f ms  %6.1f GFLOPS  = %.0f%% of sgemm\n", nt, names[c], bt, gf,
                   100.0 * gf / sgemm_gflops);
        }
        const double bm = bench_mel(pool, N_MELS, pcm, n30, reps);
        printf("threads %d: log-mel of 30 s (%d x 3000)      %8.2f ms\n", nt, N_MELS, bm);
        free(melbuf);
        free(out);
        mm_mel_free(mel);
        mm_audio_state_free(st);
        mm_pool_free(pool);
    }
    free(pcm);
    mm_audio_model_free(m);
    mm_gguf_close(g);
    return 0;
}
