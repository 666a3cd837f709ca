/* sampler.c - temperature / top-k / top-p sampling with a seeded PRNG, and stop strings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mm_transformer.h"

/* ---------------------------------------------------------------- PRNG: xoshiro256** + splitmix64 */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void mm_rng_seed(mm_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mm_rng_next(mm_rng *r) {
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double mm_rng_uniform(mm_rng *r) { return (double)(mm_rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

/* ---------------------------------------------------------------- sampler */
struct mm_sampler {
    mm_sampler_params p;
    int64_t  V;
    mm_rng   rng;
    double  *prob;  /* [V] unnormalised probabilities exp((x_i - max)/T) */
    int32_t *idx;   /* [V] candidate ids (sorted best first when filtered) */
    int64_t  nc;    /* candidates */
    double   mass;  /* sum of prob over the candidates */
};

mm_sampler_params mm_sampler_default_params(void) {
    mm_sampler_params p = {0.8f, 40, 0.95f, 0x5eed};
    return p;
}

mm_sampler *mm_sampler_create(mm_sampler_params p, int64_t n_vocab, char *err) {
    if (!(p.temperature >= 0.0f)) {
        mm_err(err, "%s: temperature %g must be >= 0", __func__, p.temperature);
        return NULL;
    }
    if (p.temperature > MM_SAMPLER_MAX_TEMP) {
        mm_err(err, "%s: temperature %g is above the maximum %g", __func__, p.temperature, MM_SAMPLER_MAX_TEMP);
        return NULL;
    }
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
        mm_err(err, "%s: top_p %g must be in (0, 1]", __func__, p.top_p);
        return NULL;
    }
    if (n_vocab < 1 || n_vocab > (1LL << 30)) {
        mm_err(err, "%s: vocabulary size %lld is out of range", __func__, (long long)n_vocab);
        return NULL;
    }
    mm_sampler *s = calloc(1, sizeof *s);
    if (!s || !(s->prob = malloc((size_t)n_vocab * sizeof *s->prob)) ||
        !(s->idx = malloc((size_t)n_vocab * sizeof *s->idx))) {
        mm_sampler_free(s);
        mm_err(err, "%s: out of memory", __func__);
        return NULL;
    }
    s->p = p;
    s->V = n_vocab;
    mm_rng_seed(&s->rng, p.seed);
    return s;
}

void mm_sampler_free(mm_sampler *s) {
    if (!s) return;
    free(s->prob);
    free(s->idx);
    free(s);
}

void mm_sampler_set_seed(mm_sampler *s, uint64_t seed) { mm_rng_seed(&s->rng, seed); }

int32_t mm_argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}

/* a ranks before b: higher probability, then lower id */
static bool better(const double *p, int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); }

/* min-heap by "better" (the worst candidate at the root) */
static void sift_down(const double *p, int32_t *h, int64_t n, int64_t i) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(p, h[w], h[l])) w = l;
        if (r < n && better(p, h[w], h[r])) w = r;
        if (w == i) return;
        int32_t t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Put the k best ids of [0, V) into idx[0..k), best first. */
static void select_sorted(const double *p, int32_t *idx, int64_t V, int64_t k) {
    for (int64_t i = 0; i < k; i++) idx[i] = (int32_t)i;
    for (int64_t i = k / 2 - 1; i >= 0; i--) sift_down(p, idx, k, i);
    for (int64_t i = k; i < V; i++) {
        if (better(p, (int32_t)i, idx[0])) {
            idx[0] = (int32_t)i;
            sift_down(p, idx, k, 0);
        }
    }
    /* heap sort: repeatedly move the worst to the end -> best first */
    for (int64_t n = k - 1; n > 0; n--) {
        int32_t t = idx[0];
        idx[0] = idx[n];
        idx[n] = t;
        sift_down(p, idx, n, 0);
    }
}

static void build(mm_sampler *s, const float *logits) {
    const int64_t V = s->V;
    if (s->p.temperature == 0.0f) {
        s->idx[0] = mm_argmax(logits, V);
        s->prob[s->idx[0]] = 1.0;
        s->nc = 1;
        s->mass = 1.0;
        return;
    }
    const double invT = 1.0 / (double)s->p.temperature;
    float mx = logits[0];
    for (int64_t i = 1; i < V; i++)
        if (logits[i] > mx) mx = logits[i];
    for (int64_t i = 0; i < V; i++) s->prob[i] = exp(((double)logits[i] - (double)mx) * invT);
    int64_t k = s->p.top_k > 0 && s->p.top_k < V ? s->p.top_k : V;
    if (k < V || s->p.top_p < 1.0f) {
        select_sorted(s->prob, s->idx, V, k);
    } else {
        for (int64_t i = 0; i < V; i++) s->idx[i] = (int32_t)i;
    }
    double mass = 0.0;
    for (int64_t i = 0; i < k; i++) mass += s->prob[s->idx[i]];
    if (s->p.top_p < 1.0f) {
        const double target = (double)s->p.top_p * mass;
        double cum = 0.0;
        int64_t i = 0;
        for (; i < k; i++) {
            cum += s->prob[s->idx[i]];
            if (cum >= target) break;
        }
        k = i < k ? i + 1 : k;
        mass = 0.0;
        for (i = 0; i < k; i++) mass += s->prob[s->idx[i]];
    }
    s->nc = k;
    s->mass = mass;
}

int32_t mm_sampler_sample(mm_sampler *s, const float *logits) {
    build(s, logits);
    if (s->nc == 1) return s->idx[0];
    const double u = mm_rng_uniform(&s->rng) * s->mass;
    double cum = 0.0;
    for (int64_t i = 0; i < s->nc; i++) {
        cum += s->prob[s->idx[i]];
        if (u < cum) return s->idx[i];
    }
    /* rounding: the last candidate with non-zero probability */
    for (int64_t i = s->nc - 1; i > 0; i--)
        if (s->prob[s->idx[i]] > 0.0) return s->idx[i];
    return s->idx[0];
}

void mm_sampler_probs(mm_sampler *s, const float *logits, float *probs) {
    build(s, logits);
    memset(probs, 0, (size_t)s->V * sizeof(float));
    for (int64_t i = 0; i < s->nc; i++) probs[s->idx[i]] = (float)(s->prob[s->idx[i]] / s->mass);
}

/* ---------------------------------------------------------------- stop strings */
struct mm_stop {
    char  **stops;   /* [n] NUL-terminated copies */
    size_t *lens;    /* [n] */
    int     n;
    char   *held;    /* bytes not yet emitted */
    size_t  held_len, held_cap;
    char   *out;     /* emitted bytes of the last call */
    size_t  out_cap;
};

mm_stop *mm_stop_create(const char *const *stops, int n_stops, char *err) {
    if (n_stops < 0 || (n_stops > 0 && !stops)) {
        mm_err(err, "%s: bad stop-string list", __func__);
        return NULL;
    }
    mm_stop *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->stops = calloc((size_t)n_stops + 1, sizeof *s->stops);
    s->lens = calloc((size_t)n_stops + 1, sizeof *s->lens);
    if (!s->stops || !s->lens) goto oom;
    for (int i = 0; i < n_stops; i++) {
        if (!stops[i] || !stops[i][0]) {
            mm_stop_free(s);
            mm_err(err, "%s: stop string %d is empty", __func__, i);
            return NULL;
        }
        s->stops[s->n] = strdup(stops[i]);
        if (!s->stops[s->n]) goto oom;
        s->lens[s->n] = strlen(stops[i]);
        s->n++;
    }
    return s;
oom:
    mm_stop_free(s);
    mm_err(err, "%s: out of memory", __func__);
    return NULL;
}

void mm_stop_free(mm_stop *s) {
    if (!s) return;
    for (int i = 0; s->stops && i < s->n; i++) free(s->stops[i]);
    free(s->stops);
    free(s->lens);
    free(s->held);
    free(s->out);
    free(s);
}

static bool grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    char *p = realloc(*buf, c);
    if (!p) return false;
    *buf = p;
    *cap = c;
    return true;
}

static void emit_bytes(mm_stop *s, size_t n, const char **emit, size_t *n_emit) {
    if (!grow(&s->out, &s->out_cap, n + 1)) n = 0; /* out of memory: emit nothing rather than crash */
    if (n) memcpy(s->out, s->held, n);
    if (s->held_len > n) memmove(s->held, s->held + n, s->held_len - n); /* held is NULL before any byte */
    s->held_len -= n;
    *emit = s->out ? s->out : "";
    *n_emit = n;
}

bool mm_stop_feed(mm_stop *s, const char *text, size_t len, const char **emit, size_t *n_emit) {
    if (len && grow(&s->held, &s->held_cap, s->held_len + len)) {
        memcpy(s->held + s->held_len, text, len);
        s->held_len += len;
    }
    /* earliest complete stop string */
    size_t best = (size_t)-1;
    for (int i = 0; i < s->n; i++) {
        const size_t L = s->lens[i];
        for (size_t k = 0; k + L <= s->held_len && k < best; k++)
            if (!memcmp(s->held + k, s->stops[i], L)) {
                best = k;
                break;
            }
    }
    if (best != (size_t)-1) {
        emit_bytes(s, best, emit, n_emit);
        s->held_len = 0;
        return true;
    }
    /* hold back the longest tail that is a proper prefix of a stop string */
    size_t hold = 0;
    for (int i = 0; i < s->n; i++) {
        const size_t L = s->lens[i];
        for (size_t h = (L - 1 < s->held_len ? L - 1 : s->held_len); h > hold; h--)
            if (!memcmp(s->held + s->held_len - h, s->stops[i], h)) {
                hold = h;
                break;
            }
    }
    emit_bytes(s, s->held_len - hold, emit, n_emit);
    return false;
}

void mm_stop_flush(mm_stop *s, const char **emit, size_t *n_emit) { emit_bytes(s, s->held_len, emit, n_emit); }
