/* bench_tokenizer.c - GPT-2 BPE encode throughput (MB/s) on a text corpus: 1 thread, and parallel over
 * chunks with core's mm_pool. Not a test; run by bench/tokenizer/run.sh, which builds the >= 10 MB corpus
 * and compares with js-tiktoken (r50k_base) in the same run.
 *
 *   bench_tokenizer VOCAB CORPUS [--threads N] [--reps R] [--ids OUT.i32]
 *
 * VOCAB is anything mm_tokenizer_load_dir accepts. OUT.i32 receives the ids (int32 little-endian) for the
 * comparison with the other tokenizer. Parallel chunks are cut only where GPT-2 pre-tokenization always
 * starts a new pre-token (between "X\n" and "Y", X and Y printable ASCII: a lone newline before a
 * non-space is a pre-token of its own whether or not the text ends after it), so the
 * parallel ids must equal the single-thread ids - checked here. Figures: best of R runs, wall clock. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_core.h"
#include "mm_tokenizer.h"

typedef struct {
    const mm_tokenizer *t;
    const char *text;
    size_t     *cut;      /* [n_chunks + 1] byte offsets */
    int         n_chunks;
    int32_t   **ids;      /* [n_chunks] each with room for its chunk length (a token has >= 1 byte) */
    int64_t    *n_ids;    /* [n_chunks] */
    atomic_int  next;
    atomic_int  failed;
} par_ctx;

static void par_task(void *vctx, int ith, int nth) {
    (void)ith;
    (void)nth;
    par_ctx *c = vctx;
    for (;;) {
        int k = atomic_fetch_add(&c->next, 1);
        if (k >= c->n_chunks) break;
        size_t len = c->cut[k + 1] - c->cut[k];
        c->n_ids[k] = mm_tokenizer_encode(c->t, c->text + c->cut[k], len, false, c->ids[k], (int64_t)len + 1, NULL);
        if (c->n_ids[k] < 0 || c->n_ids[k] > (int64_t)len + 1) atomic_store(&c->failed, 1);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_tokenizer VOCAB CORPUS [--threads N] [--reps R] [--ids OUT.i32]\n");
        return 2;
    }
    int threads = 0, reps = 3;
    const char *ids_out = NULL;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ids") && i + 1 < argc) ids_out = argv[++i];
        else { fprintf(stderr, "bench_tokenizer: unknown option %s\n", argv[i]); return 2; }
    }
    if (reps < 1) reps = 1;
    char err[MM_ERR_SIZE];
    double t0 = mm_time_ms();
    mm_tokenizer *t = mm_tokenizer_load_dir(argv[1], err);
    if (!t) { fprintf(stderr, "bench_tokenizer: %s\n", err); return 4; }
    double load_ms = mm_time_ms() - t0;
    FILE *f = fopen(argv[2], "rb");
    if (!f) { perror(argv[2]); return 3; }
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc(len + 1);
    if (!text || fread(text, 1, len, f) != len) { fprintf(stderr, "cannot read %s\n", argv[2]); return 3; }
    fclose(f);
    double mb = len / 1e6;
    printf("corpus: %s, %.2f MB; vocabulary loaded in %.1f ms\n", argv[2], mb, load_ms);

    /* single thread */
    int32_t *ids = malloc((len + 1) * sizeof *ids);
    int64_t n = 0;
    double best1 = 1e30;
    for (int r = 0; r < reps; r++) {
        double a = mm_time_ms();
        n = mm_tokenizer_encode(t, text, len, false, ids, (int64_t)len + 1, err);
        double ms = mm_time_ms() - a;
        if (n < 0) { fprintf(stderr, "encode: %s\n", err); return 5; }
        if (ms < best1) best1 = ms;
    }
    printf("mmgpt 1 thread : %8.1f MB/s  (%lld tokens, %.1f ms, %.2f bytes/token)\n", mb / (best1 / 1e3),
           (long long)n, best1, (double)len / (double)(n ? n : 1));

    /* parallel over chunks */
    mm_pool *pool = mm_pool_create(threads, err);
    if (!pool) { fprintf(stderr, "pool: %s\n", err); return 5; }
    int nth = mm_pool_n_threads(pool);
    int want = nth * 8;
    size_t *cut = malloc(((size_t)want + 2) * sizeof *cut);
    int nc = 0;
    cut[0] = 0;
    for (int k = 1; k < want; k++) {
        size_t p = len / (size_t)want * (size_t)k;
        if (p <= cut[nc]) continue;
        while (p < len && !(p >= 2 && text[p - 1] == '\n' && text[p] > ' ' && text[p] < 0x7f && text[p - 2] > ' ' &&
                            text[p - 2] < 0x7f))
            p++;
        if (p >= len) break;
        cut[++nc] = p;
    }
    cut[++nc] = len;
    par_ctx c = {.t = t, .text = text, .cut = cut, .n_chunks = nc};
    c.ids = malloc((size_t)nc * sizeof *c.ids);
    c.n_ids = malloc((size_t)nc * sizeof *c.n_ids);
    for (int k = 0; k < nc; k++) c.ids[k] = malloc((cut[k + 1] - cut[k] + 1) * sizeof(int32_t));
    double bestp = 1e30;
    for (int r = 0; r < reps; r++) {
        atomic_store(&c.next, 0);
        double a = mm_time_ms();
        mm_pool_run(pool, par_task, &c);
        double ms = mm_time_ms() - a;
        if (ms < bestp) bestp = ms;
    }
    int64_t off = 0;
    bool same = !atomic_load(&c.failed);
    for (int k = 0; k < nc && same; k++) {
        if (off + c.n_ids[k] > n || memcmp(ids + off, c.ids[k], (size_t)c.n_ids[k] * sizeof *ids)) same = false;
        off += c.n_ids[k];
    }
    same = same && off == n;
    printf("mmgpt %2d threads: %8.1f MB/s  (%d chunks, %.1f ms; x%.2f vs 1 thread; ids %s)\n", nth,
           mb / (bestp / 1e3), nc, bestp, best1 / bestp, same ? "identical to 1 thread" : "DIFFER");

    /* decode check */
    char *back;
    size_t blen;
    if (mm_tokenizer_decode_alloc(t, ids, n, &back, &blen, err) || blen != len || memcmp(back, text, len)) {
        printf("decode(encode(corpus)) != corpus\n");
        same = false;
    }
    free(back);

    if (ids_out) {
        FILE *o = fopen(ids_out, "wb");
        if (!o || fwrite(ids, sizeof *ids, (size_t)n, o) != (size_t)n) { fprintf(stderr, "cannot write %s\n", ids_out); return 5; }
        fclose(o);
    }
    printf("RESULT mmgpt_1t_mbps=%.2f mmgpt_par_mbps=%.2f threads=%d tokens=%lld bytes=%zu\n", mb / (best1 / 1e3),
           mb / (bestp / 1e3), nth, (long long)n, len);
    for (int k = 0; k < nc; k++) free(c.ids[k]);
    free(c.ids);
    free(c.n_ids);
    free(cut);
    mm_pool_free(pool);
    free(ids);
    free(text);
    mm_tokenizer_free(t);
    return same ? 0 : 1;
}
