/* plan.c - the layer split of a pipeline and the per-rank memory plan (mm_dist.h; no MPI here). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mm_dist.h"

int mm_dist_split_balanced(const double *cost, int64_t n_layer, double extra0, int n_ranks, int64_t *first,
                           char *err) {
    if (n_layer < 1 || n_ranks < 1 || n_ranks > n_layer || n_ranks > MM_DIST_MAX_RANKS)
        return mm_err(err, "%s: cannot split %lld layers over %d ranks (every rank needs at least one layer)",
                      __func__, (long long)n_layer, n_ranks);
    if (!(extra0 >= 0 && isfinite(extra0))) return mm_err(err, "%s: rank 0's extra bytes are not finite", __func__);
    const int64_t L = n_layer;
    const int N = n_ranks;
    double *P = malloc(sizeof(double) * (size_t)(L + 1));              /* prefix sums of cost */
    double *suf = malloc(sizeof(double) * (size_t)N * (size_t)(L + 1)); /* suf[r][l]: best max load of
                                                                           layers [l, L) on r ranks (r < N) */
    if (!P || !suf) {
        free(P), free(suf);
        return mm_err(err, "%s: out of memory", __func__);
    }
    P[0] = 0;
    for (int64_t l = 0; l < L; l++) {
        if (!(cost[l] >= 0 && isfinite(cost[l]))) {
            free(P), free(suf);
            return mm_err(err, "%s: layer %lld has a negative or non-finite cost", __func__, (long long)l);
        }
        P[l + 1] = P[l] + cost[l];
    }
#define SUF(r, l) suf[(size_t)(r) * (size_t)(L + 1) + (size_t)(l)]
    for (int64_t l = 0; l <= L; l++) SUF(0, l) = l == L ? 0.0 : INFINITY;
    for (int r = 1; r < N; r++)
        for (int64_t l = 0; l <= L; l++) {
            double best = INFINITY;
            for (int64_t e = l + 1; e <= L - (r - 1); e++) { /* this rank holds [l, e) */
                const double load = P[e] - P[l], rest = SUF(r - 1, e);
                const double mx = load > rest ? load : rest;
                if (mx < best) best = mx;
            }
            SUF(r, l) = best;
        }
    /* the optimum with rank 0 carrying extra0 */
    double opt = INFINITY;
    for (int64_t e = 1; e <= L - (N - 1); e++) {
        const double load = extra0 + P[e] - P[0], rest = SUF(N - 1, e);
        const double mx = load > rest ? load : rest;
        if (mx < opt) opt = mx;
    }
    /* rebuild it front to back: rank i takes the most layers that keep the best largest load of ranks
     * i..N-1 reachable (for i > 0 the optimum of the layers left, SUF(N - i, start), which may be below
     * opt): the split minimises the largest load, then the largest load of ranks 1.., then 2.., ... */
    int64_t start = 0;
    first[0] = 0;
    for (int i = 0; i < N; i++) {
        const double ex = i == 0 ? extra0 : 0.0, cap = i == 0 ? opt : SUF(N - i, start);
        int64_t take = -1;
        for (int64_t e = L - (N - 1 - i); e > start; e--)
            if (ex + P[e] - P[start] <= cap && SUF(N - 1 - i, e) <= cap) {
                take = e;
                break;
            }
        if (take < 0) { /* cannot happen: opt is reached by some split */
            free(P), free(suf);
            return mm_err(err, "%s: internal: no split reaches the optimum", __func__);
        }
        first[i + 1] = take;
        start = take;
    }
#undef SUF
    free(P), free(suf);
    return 0;
}

int mm_dist_split_parse(const char *spec, int64_t n_layer, int n_ranks, int64_t *first, char *err) {
    if (!spec || !*spec) return mm_err(err, "--layer-split: empty (expected %d layer counts like 6,6)", n_ranks);
    const char *p = spec;
    int64_t sum = 0;
    int r = 0;
    first[0] = 0;
    while (*p) {
        char *end;
        if (*p < '0' || *p > '9')
            return mm_err(err, "--layer-split '%s': expected comma-separated positive layer counts", spec);
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 1 || v > n_layer)
            return mm_err(err, "--layer-split '%s': each count must be in [1, %lld]", spec, (long long)n_layer);
        if (r >= n_ranks)
            return mm_err(err, "--layer-split '%s': more counts than the %d ranks", spec, n_ranks);
        sum += v;
        if (sum > n_layer)
            return mm_err(err, "--layer-split '%s': the counts exceed the model's %lld layers", spec,
                          (long long)n_layer);
        first[++r] = sum;
        p = end;
        if (*p == ',') {
            p++;
            if (!*p) return mm_err(err, "--layer-split '%s': trailing comma", spec);
        } else if (*p) {
            return mm_err(err, "--layer-split '%s': expected comma-separated positive layer counts", spec);
        }
    }
    if (r != n_ranks)
        return mm_err(err, "--layer-split '%s': %d counts for %d ranks", spec, r, n_ranks);
    if (sum != n_layer)
        return mm_err(err, "--layer-split '%s': the counts sum to %lld, the model has %lld layers", spec,
                      (long long)sum, (long long)n_layer);
    return 0;
}

/* ---------------------------------------------------------------- planning */
mm_dist_plan_params mm_dist_plan_default_params(void) {
    mm_dist_plan_params p = {MM_TYPE_Q4_0, false, 0, 512, 0.0};
    return p;
}

static double bytes_per_elem(mm_type t) { return (double)mm_row_size(t, 256) / 256.0; }

double mm_dist_layer_bytes(const mm_gpt_hparams *hp, mm_type type) {
    const double d = (double)hp->d_model, da = (double)hp->n_head * (double)hp->d_head, ff = (double)hp->d_ff;
    const double mat = 4.0 * d * da + 2.0 * d * ff;
    const double vec = (3.0 * da + d + ff + d) + 4.0 * d;
    return mat * bytes_per_elem(type) + vec * 4.0;
}

double mm_dist_rank0_extra_bytes(const mm_gpt_hparams *hp, mm_type type) {
    const double d = (double)hp->d_model;
    return ((double)hp->n_vocab * d + (double)hp->n_ctx * d) * bytes_per_elem(type) + 2.0 * d * 4.0;
}

int mm_dist_plan_arch(const mm_gpt_hparams *hp, int n_ranks, mm_dist_plan_params p, const int64_t *first,
                      mm_dist_rank_plan *out, char *err) {
    if (mm_row_size(p.type, 256) == 0) return mm_err(err, "%s: type %d is not computable", __func__, (int)p.type);
    if (p.n_ctx < 0 || p.n_batch < 0 || !(p.mem_bytes >= 0))
        return mm_err(err, "%s: negative n_ctx, n_batch or memory", __func__);
    if (n_ranks < 1 || n_ranks > hp->n_layer || n_ranks > MM_DIST_MAX_RANKS)
        return mm_err(err, "%s: %d ranks for %lld layers: every rank needs at least one layer (1..%lld ranks)",
                      __func__, n_ranks, (long long)hp->n_layer, (long long)hp->n_layer);
    const int64_t L = hp->n_layer;
    const double lb = mm_dist_layer_bytes(hp, p.type), extra = mm_dist_rank0_extra_bytes(hp, p.type);
    int64_t *f = malloc(sizeof(int64_t) * (size_t)(n_ranks + 1));
    double *cost = malloc(sizeof(double) * (size_t)L);
    if (!f || !cost) {
        free(f), free(cost);
        return mm_err(err, "%s: out of memory", __func__);
    }
    int rc = 0;
    if (first) {
        memcpy(f, first, sizeof(int64_t) * (size_t)(n_ranks + 1));
        for (int r = 0; r < n_ranks && rc == 0; r++)
            if (f[0] != 0 || f[n_ranks] != L || f[r + 1] <= f[r])
                rc = mm_err(err, "%s: the split is not %d non-empty ranges covering [0, %lld)", __func__, n_ranks,
                            (long long)L);
    } else {
        for (int64_t l = 0; l < L; l++) cost[l] = lb;
        rc = mm_dist_split_balanced(cost, L, extra, n_ranks, f, err);
    }
    if (rc == 0) {
        const double C = (double)(p.n_ctx ? p.n_ctx : hp->n_ctx), d = (double)hp->d_model;
        double B = (double)(p.n_batch ? p.n_batch : 512);
        if (B > C) B = C; /* the state clamps n_batch to its context */
        const double act = 4.0 * (B * (7.0 * d + (double)hp->d_ff + C) + (double)hp->n_vocab);
        for (int r = 0; r < n_ranks; r++) {
            mm_dist_rank_plan *o = &out[r];
            const double nl = (double)(f[r + 1] - f[r]);
            o->layer_begin = f[r];
            o->layer_end = f[r + 1];
            o->weight_bytes = nl * lb + (r == 0 ? extra : 0.0);
            o->kv_bytes = 2.0 * nl * C * d * (p.kv_f16 ? 2.0 : 4.0);
            o->act_bytes = act;
            o->total_bytes = o->weight_bytes + o->kv_bytes + o->act_bytes;
            o->fits = p.mem_bytes <= 0 || o->total_bytes <= p.mem_bytes;
            if (!o->fits) rc++;
        }
    }
    free(f), free(cost);
    return rc;
}

int mm_dist_plan_auto(const mm_gpt_hparams *hp, mm_dist_plan_params p, char *err) {
    if (hp->n_layer < 1) return mm_err(err, "%s: no layers", __func__);
    const int64_t maxr = hp->n_layer < MM_DIST_MAX_RANKS ? hp->n_layer : MM_DIST_MAX_RANKS;
    mm_dist_rank_plan *pl = malloc(sizeof *pl * (size_t)maxr);
    if (!pl) return mm_err(err, "%s: out of memory", __func__);
    for (int n = 1; n <= maxr; n++) {
        int bad = mm_dist_plan_arch(hp, n, p, NULL, pl, err);
        if (bad <= 0) {
            free(pl);
            return bad == 0 ? n : -1;
        }
    }
    free(pl);
    return mm_err(err, "no number of ranks up to %lld fits in %.0f bytes per rank (rank 0 with one layer, its "
                  "embeddings, KV cache and activations needs more)", (long long)maxr, p.mem_bytes);
}
