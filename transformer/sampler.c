/* sampler.c - penalties / top-k / top-p / min-p / temperature sampling (llama.cpp's chain) with a seeded
 * PRNG, and stop strings. Compiled with -ffp-contract=off (transformer/CMakeLists.txt). */
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
/* The chain of include/mm_transformer.h: penalties -> top-k -> top-p -> min-p -> temperature -> draw
 * (llama.cpp's default order). Candidates are ids idx[0..nc); "sorted" = best first (x descending,
 * id ascending). */
struct mm_sampler {
    mm_sampler_params p;
    int64_t   V;
    mm_rng    rng;
    double   *prob;   /* [V] weights exp((x_i - x_max)/T) of the candidates (index = id) */
    int32_t  *idx;    /* [V] candidate ids */
    int64_t   nc;     /* candidates */
    double    mass;   /* sum of prob over the candidates */
    /* penalties (allocated only when on) */
    bool      pen;    /* penalty_last_n > 0 and some penalty not neutral */
    float    *xp;     /* [V] penalised logits */
    uint32_t *count;  /* [V] occurrences of each id in the window */
    int32_t  *ring;   /* [penalty_last_n] the window, oldest at ring[r0] */
    int64_t   r0, rn; /* start and fill of the ring */
    /* the radix sort of many candidates (allocated only when the chain can sort most of V: radix_wanted) */
    uint32_t *rkey;   /* [2 V] sort keys, two buffers */
    int32_t  *ridx;   /* [V] the ids of the other buffer */
};

/* The chain sorts k of V candidates with top_k = k, or all V for top_p alone: for many (k > V / 4) a radix
 * sort (~0.3 ms for 50k ids) replaces the heap (~24 ms for 50k: every sampled token of a request with
 * top_k 0 and top_p < 1). */
static bool radix_wanted(const mm_sampler_params *p, int64_t V) {
    const int64_t k = p->top_k > 0 && p->top_k < V ? p->top_k : V;
    return p->temperature > 0.0f && (k < V || p->top_p < 1.0f) && k > V / 4 && V >= 64;
}

mm_sampler_params mm_sampler_default_params(void) {
    return (mm_sampler_params){.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .seed = 0x5eed, .min_p = 0.05f,
                               .repeat_penalty = 1.0f, .frequency_penalty = 0.0f, .presence_penalty = 0.0f,
                               .penalty_last_n = 64};
}

int mm_sampler_params_check(const mm_sampler_params *p, char *err) {
    if (!(p->temperature >= 0.0f)) return mm_err(err, "temperature %g must be >= 0", p->temperature);
    if (p->temperature > MM_SAMPLER_MAX_TEMP)
        return mm_err(err, "temperature %g is above the maximum %g", p->temperature, MM_SAMPLER_MAX_TEMP);
    if (!(p->top_p >= 0.0f && p->top_p <= 1.0f)) return mm_err(err, "top_p %g must be in [0, 1]", p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f)) return mm_err(err, "min_p %g must be in [0, 1]", p->min_p);
    if (!(p->repeat_penalty > 0.0f && isfinite(p->repeat_penalty)))
        return mm_err(err, "repeat penalty %g must be finite and > 0", p->repeat_penalty);
    if (!isfinite(p->frequency_penalty) || !isfinite(p->presence_penalty))
        return mm_err(err, "frequency/presence penalties %g/%g must be finite", p->frequency_penalty,
                      p->presence_penalty);
    if (p->penalty_last_n < 0 || p->penalty_last_n > MM_SAMPLER_MAX_LAST_N)
        return mm_err(err, "penalty window %lld is outside [0, %d]", (long long)p->penalty_last_n,
                      MM_SAMPLER_MAX_LAST_N);
    return 0;
}

mm_sampler *mm_sampler_create(mm_sampler_params p, int64_t n_vocab, char *err) {
    char e[MM_ERR_SIZE];
    if (mm_sampler_params_check(&p, e)) {
        mm_err(err, "%s: %s", __func__, e);
        return NULL;
    }
    if (n_vocab < 1 || n_vocab > (1LL << 30)) {
        mm_err(err, "%s: vocabulary size %lld is out of range", __func__, (long long)n_vocab);
        return NULL;
    }
    mm_sampler *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->p = p;
    s->V = n_vocab;
    s->pen = p.penalty_last_n > 0 &&
             (p.repeat_penalty != 1.0f || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f);
    if (!(s->prob = malloc((size_t)n_vocab * sizeof *s->prob)) || !(s->idx = malloc((size_t)n_vocab * sizeof *s->idx)))
        goto oom;
    if (radix_wanted(&p, n_vocab) && (!(s->rkey = malloc(2 * (size_t)n_vocab * sizeof *s->rkey)) ||
                                      !(s->ridx = malloc((size_t)n_vocab * sizeof *s->ridx))))
        goto oom;
    if (s->pen && (!(s->xp = malloc((size_t)n_vocab * sizeof *s->xp)) ||
                   !(s->count = calloc((size_t)n_vocab, sizeof *s->count)) ||
                   !(s->ring = malloc((size_t)p.penalty_last_n * sizeof *s->ring))))
        goto oom;
    mm_rng_seed(&s->rng, p.seed);
    return s;
oom:
    mm_sampler_free(s);
    mm_err(err, "%s: out of memory", __func__);
    return NULL;
}

void mm_sampler_free(mm_sampler *s) {
    if (!s) return;
    free(s->prob);
    free(s->idx);
    free(s->xp);
    free(s->count);
    free(s->ring);
    free(s->rkey);
    free(s->ridx);
    free(s);
}

void mm_sampler_set_seed(mm_sampler *s, uint64_t seed) { mm_rng_seed(&s->rng, seed); }

void mm_sampler_accept(mm_sampler *s, int32_t token) {
    if (!s->pen || token < 0 || token >= s->V) return;
    const int64_t cap = s->p.penalty_last_n;
    if (s->rn == cap) { /* full: the oldest leaves, the new one takes its slot */
        s->count[s->ring[s->r0]]--;
        s->ring[s->r0] = token;
        s->r0 = (s->r0 + 1) % cap;
    } else {
        s->ring[(s->r0 + s->rn) % cap] = token;
        s->rn++;
    }
    s->count[token]++;
}

void mm_sampler_reset(mm_sampler *s) {
    if (!s->pen) return;
    for (int64_t i = 0; i < s->rn; i++) s->count[s->ring[(s->r0 + i) % s->p.penalty_last_n]] = 0;
    s->r0 = s->rn = 0;
}

/* a ranks before b: larger logit, then lower id */
static bool better(const float *x, int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); }

/* min-heap by "better" (the worst candidate at the root) */
static void sift_down(const float *x, int32_t *h, int64_t n, int64_t i) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(x, h[w], h[l])) w = l;
        if (r < n && better(x, h[w], h[r])) w = r;
        if (w == i) return;
        int32_t t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* h[0..n) is a heap: sort it best first (repeatedly move the worst to the end). */
static void heap_sort(const float *x, int32_t *h, int64_t n) {
    for (int64_t m = n - 1; m > 0; m--) {
        int32_t t = h[0];
        h[0] = h[m];
        h[m] = t;
        sift_down(x, h, m, 0);
    }
}

/* Sort the ids idx[0..n) best first. */
static void sort_ids(const float *x, int32_t *idx, int64_t n) {
    for (int64_t i = n / 2 - 1; i >= 0; i--) sift_down(x, idx, n, i);
    heap_sort(x, idx, n);
}

/* Put the k best ids of [0, V) into idx[0..k), best first, by a stable LSD radix sort (3 passes of 11 bits)
 * of keys that order the floats descending (-0 and +0 one key, as `better` sees them equal), starting from
 * the ids ascending: ties stay id ascending, so the order is `better`'s exactly. Returns -1 (nothing done)
 * when a logit is NaN, which `better` does not order. */
static int radix_sorted(const mm_sampler *s, const float *x, int32_t *idx, int64_t V, int64_t k) {
    uint32_t *ka = s->rkey, *kb = s->rkey + V;
    int32_t  *ia = idx, *ib = s->ridx;
    for (int64_t i = 0; i < V; i++) {
        if (x[i] != x[i]) return -1;
        uint32_t u;
        const float v = x[i] == 0.0f ? 0.0f : x[i];
        memcpy(&u, &v, sizeof u);
        u = u & 0x80000000u ? ~u : u | 0x80000000u; /* ascending with the float */
        ka[i] = ~u;                                 /* descending */
        ia[i] = (int32_t)i;
    }
    for (int shift = 0; shift < 33; shift += 11) {
        int32_t cnt[2048] = {0};
        for (int64_t i = 0; i < V; i++) cnt[(ka[i] >> shift) & 2047]++;
        for (int32_t b = 0, at = 0; b < 2048; b++) {
            const int32_t c = cnt[b];
            cnt[b] = at;
            at += c;
        }
        for (int64_t i = 0; i < V; i++) {
            const int32_t at = cnt[(ka[i] >> shift) & 2047]++;
            kb[at] = ka[i];
            ib[at] = ia[i];
        }
        uint32_t *tk = ka;
        int32_t  *ti = ia;
        ka = kb, kb = tk, ia = ib, ib = ti;
    }
    if (ia != idx) memcpy(idx, ia, (size_t)k * sizeof *idx); /* 3 passes: the result is in ridx */
    return 0;
}

/* Put the k best ids of [0, V) into idx[0..k), best first. */
static void select_sorted(const mm_sampler *s, const float *x, int32_t *idx, int64_t V, int64_t k) {
    if (s->rkey && radix_sorted(s, x, idx, V, k) == 0) return;
    for (int64_t i = 0; i < k; i++) idx[i] = (int32_t)i;
    for (int64_t i = k / 2 - 1; i >= 0; i--) sift_down(x, idx, k, i);
    for (int64_t i = k; i < V; i++) {
        if (better(x, (int32_t)i, idx[0])) {
            idx[0] = (int32_t)i;
            sift_down(x, idx, k, 0);
        }
    }
    heap_sort(x, idx, k);
}

/* Step 1: x' = penalised logits (float arithmetic exactly as the definition; this file is compiled
 * with -ffp-contract=off). */
static const float *penalise(mm_sampler *s, const float *logits) {
    if (!s->pen || s->rn == 0) return logits;
    const float rp = s->p.repeat_penalty, fp = s->p.frequency_penalty, pp = s->p.presence_penalty;
    for (int64_t i = 0; i < s->V; i++) {
        float          v = logits[i];
        const uint32_t c = s->count[i];
        if (c) {
            v = v <= 0.0f ? v * rp : v / rp;
            v -= (float)c * fp + pp;
        }
        s->xp[i] = v;
    }
    return s->xp;
}

/* Weights prob[id] = exp((x - mx) * invT) of idx[0..n); returns their sum (in candidate order). */
static double weigh(mm_sampler *s, const float *x, int64_t n, double mx, double invT) {
    double mass = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const int32_t id = s->idx[i];
        s->prob[id] = exp(((double)x[id] - mx) * invT);
        mass += s->prob[id];
    }
    return mass;
}

static double max_of(const float *x, const int32_t *idx, int64_t n) {
    float mx = x[idx[0]];
    for (int64_t i = 1; i < n; i++)
        if (x[idx[i]] > mx) mx = x[idx[i]];
    return (double)mx;
}

static void build(mm_sampler *s, const float *logits) {
    const int64_t V = s->V;
    const float  *x = penalise(s, logits);
    if (s->p.temperature == 0.0f) {
        s->idx[0] = mm_argmax(x, V);
        s->prob[s->idx[0]] = 1.0;
        s->nc = 1;
        s->mass = 1.0;
        return;
    }
    /* 2. top-k (and the sort top-p needs) */
    int64_t n = s->p.top_k > 0 && s->p.top_k < V ? s->p.top_k : V;
    bool    sorted = n < V || s->p.top_p < 1.0f;
    if (sorted) {
        select_sorted(s, x, s->idx, V, n);
    } else {
        for (int64_t i = 0; i < V; i++) s->idx[i] = (int32_t)i;
    }
    /* 3. top-p on softmax(x) (T = 1) over the survivors, best first */
    if (s->p.top_p < 1.0f) {
        const double mass = weigh(s, x, n, (double)x[s->idx[0]], 1.0), top_p = (double)s->p.top_p;
        double       cum = 0.0;
        for (int64_t i = 0; i < n; i++) {
            cum += s->prob[s->idx[i]] / mass;
            if (cum >= top_p) {
                n = i + 1;
                break;
            }
        }
    }
    /* 4. min-p: x_i - x_max >= log(min_p) */
    if (s->p.min_p > 0.0f) {
        const double mx = sorted ? (double)x[s->idx[0]] : max_of(x, s->idx, n), lp = log((double)s->p.min_p);
        int64_t      m = 0;
        for (int64_t i = 0; i < n; i++)
            if ((double)x[s->idx[i]] - mx >= lp) s->idx[m++] = s->idx[i];
        n = m > 0 ? m : 1; /* only NaN / all -inf logits keep nothing: keep one */
        if (!sorted) sort_ids(x, s->idx, n);
        sorted = true;
    }
    /* 5. temperature over the survivors */
    s->nc = n;
    s->mass = weigh(s, x, n, sorted ? (double)x[s->idx[0]] : max_of(x, s->idx, n), 1.0 / (double)s->p.temperature);
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
        if (!mm_utf8_valid(stops[i], strlen(stops[i]))) { /* it could match inside a character */
            mm_stop_free(s);
            mm_err(err, "%s: stop string %d is not valid UTF-8", __func__, i);
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
    if (s->held_len > n) memmove(s->held, s->held + n, s->held_len - n); /* held may be NULL when empty */
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
