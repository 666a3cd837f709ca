/* pool.c - thread pool, per-thread scratch, arena, clock.
 *
 * Workers sleep on a condition variable between tasks. Optionally (MMGPT_POOL_SPIN_US=N, default 0)
 * they first poll for N microseconds after a task, which saves the futex wake-up (~5-10 us) between
 * back-to-back kernels on a dedicated machine; it is off by default because on a shared, oversubscribed
 * machine polling threads steal the core that a descheduled partner needs (measured here: a GPT-2
 * decode step 3x slower at 2 threads with 100 us polling under load, no gain without it).
 * mm_pool_run publishes the task with an atomic generation bump (release) and always broadcasts under
 * the mutex, so a worker that decided to sleep cannot miss it. The caller runs ith 0 and then claims
 * any ith no worker has started (atomic counter tagged with the generation): on a shared machine a
 * descheduled worker does not stall the run; its share is done by whoever runs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mm_core.h"
#include "core_internal.h"

#define MM_POOL_SPIN_US 0.0     /* default poll time after a task before sleeping (MMGPT_POOL_SPIN_US) */

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() do { } while (0)
#endif

typedef struct {
    void  *ptr;   /* [cap] 64-byte aligned */
    size_t cap;
} mm_scratch;

struct mm_pool {
    int n_threads;                 /* workers + the caller (thread 0) */
    pthread_t *threads;            /* [n_threads - 1] */
    pthread_mutex_t mu;
    pthread_cond_t cv_work;        /* workers sleep here for a new generation */
    pthread_cond_t cv_done;        /* caller sleeps here for done == n_threads - 1 */
    _Alignas(64) atomic_uint_fast64_t generation;  /* bumped by each mm_pool_run (release) */
    _Alignas(64) atomic_uint_fast64_t claim;       /* (generation << 32) | next unclaimed ith (1..n) */
    _Alignas(64) atomic_int done;                  /* ith >= 1 finished in the current run */
    uint64_t gen_counter;          /* caller-side copy of generation */
    atomic_int stop;
    mm_task_fn fn;                 /* written before the generation bump */
    void *ctx;
    mm_scratch *scratch;           /* [n_threads] callers' scratch (mm_pool_reserve) */
    mm_scratch *kscratch;          /* [n_threads] core kernels' own scratch (mm_core_reserve) */
    double spin_us;                /* poll window before sleeping, microseconds (0 = sleep at once) */
};

typedef struct { mm_pool *pool; int ith; } worker_arg;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

/* Run every still unclaimed ith >= 1 of generation gen (workers and the caller both do this, so a
 * descheduled worker never holds up a run: whoever is running takes its share). fn/ctx are read after
 * a successful claim; the run cannot end (and fn/ctx cannot change) before that ith is done. */
static void run_claims(mm_pool *p, uint64_t gen) {
    int nth = p->n_threads;
    for (;;) {
        uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
        if ((c >> 32) != (gen & 0xffffffffu) || (int)(c & 0xffffffffu) >= nth) return;
        if (!atomic_compare_exchange_weak_explicit(&p->claim, &c, c + 1, memory_order_acq_rel, memory_order_acquire))
            continue;
        int ith = (int)(c & 0xffffffffu);
        p->fn(p->ctx, ith, nth);
        if (atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel) + 1 == nth - 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    mm_pool *p = wa->pool;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (g == seen && p->spin_us > 0 && !atomic_load_explicit(&p->stop, memory_order_relaxed)) {
            double t0 = now_us();
            for (unsigned i = 1;; i++) {
                CPU_RELAX();
                g = atomic_load_explicit(&p->generation, memory_order_acquire);
                if (g != seen || atomic_load_explicit(&p->stop, memory_order_relaxed)) break;
                if ((i & 63) == 0 && now_us() - t0 > p->spin_us) break;
            }
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
                   !atomic_load_explicit(&p->stop, memory_order_relaxed))
                pthread_cond_wait(&p->cv_work, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        seen = g;
        run_claims(p, g);
    }
    (void)wa->ith;
    return NULL;
}

/* worker args live right after the struct allocation to keep one free() */
typedef struct { mm_pool pool; worker_arg args[]; } pool_alloc;

static int n_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

mm_pool *mm_pool_create(int n_threads, char *err) {
    if (n_threads <= 0) n_threads = n_cpus();
    if (n_threads > MM_POOL_MAX_THREADS) {
        mm_err(err, "%s: %d threads is more than the maximum %d", __func__, n_threads, MM_POOL_MAX_THREADS);
        return NULL;
    }
    mm_core_blas_init();
    size_t bytes = (sizeof(pool_alloc) + sizeof(worker_arg) * (size_t)n_threads + 63) & ~(size_t)63;
    pool_alloc *pa = aligned_alloc(64, bytes);   /* the atomics are 64-byte aligned (own cache lines) */
    if (!pa) { mm_err(err, "%s: out of memory", __func__); return NULL; }
    memset(pa, 0, bytes);
    mm_pool *p = &pa->pool;
    p->n_threads = n_threads;
    const char *spin = getenv("MMGPT_POOL_SPIN_US");
    p->spin_us = spin && *spin ? atof(spin) : MM_POOL_SPIN_US;
    if (!(p->spin_us >= 0.0) || p->spin_us > 1e6) p->spin_us = MM_POOL_SPIN_US;
    p->scratch = calloc((size_t)n_threads, sizeof(mm_scratch));
    p->kscratch = calloc((size_t)n_threads, sizeof(mm_scratch));
    p->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    if (!p->scratch || !p->kscratch || !p->threads) {
        free(p->scratch); free(p->kscratch); free(p->threads); free(pa);
        mm_err(err, "%s: out of memory", __func__);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    for (int i = 1; i < n_threads; i++) {
        pa->args[i].pool = p;
        pa->args[i].ith = i;
        int rc = pthread_create(&p->threads[i - 1], NULL, worker_main, &pa->args[i]);
        if (rc != 0) {
            p->n_threads = i;   /* only i-1 workers exist: stop them */
            mm_pool_free(p);
            mm_err(err, "%s: cannot start thread %d: %s", __func__, i, strerror(rc));
            return NULL;
        }
    }
    return p;
}

void mm_pool_free(mm_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->threads[i - 1], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    for (int i = 0; i < p->n_threads; i++) {
        free(p->scratch[i].ptr);
        free(p->kscratch[i].ptr);
    }
    free(p->scratch);
    free(p->kscratch);
    free(p->threads);
    free((pool_alloc *)p);
}

int mm_pool_n_threads(const mm_pool *p) { return p ? p->n_threads : 1; }

void mm_pool_run(mm_pool *p, mm_task_fn fn, void *ctx) {
    if (!p || p->n_threads == 1) { fn(ctx, 0, 1); return; }
    int nth = p->n_threads;
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    uint64_t gen = ++p->gen_counter;
    atomic_store_explicit(&p->claim, ((gen & 0xffffffffu) << 32) | 1u, memory_order_release);
    atomic_store_explicit(&p->generation, gen, memory_order_release);
    pthread_mutex_lock(&p->mu);            /* wake the sleepers (cheap when nobody sleeps) */
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, nth);                       /* the caller is always ith 0 */
    run_claims(p, gen);                    /* then whatever the workers have not started */
    if (atomic_load_explicit(&p->done, memory_order_acquire) < nth - 1) {
        double t0 = p->spin_us > 0 ? now_us() : -1e300;
        for (unsigned i = 1; atomic_load_explicit(&p->done, memory_order_acquire) < nth - 1; i++) {
            CPU_RELAX();
            if ((i & 63) == 0 && now_us() - t0 > p->spin_us) {
                pthread_mutex_lock(&p->mu);
                while (atomic_load_explicit(&p->done, memory_order_acquire) < nth - 1) pthread_cond_wait(&p->cv_done, &p->mu);
                pthread_mutex_unlock(&p->mu);
                break;
            }
        }
    }
}

static int reserve_in(mm_scratch *arr, int n, size_t bytes, char *err, const char *fn) {
    if (bytes > ((size_t)1 << 40)) return mm_err(err, "%s: %zu bytes per thread is too large", fn, bytes);
    size_t cap = (bytes + 63) & ~(size_t)63;
    for (int i = 0; i < n; i++) {
        if (arr[i].cap >= cap && arr[i].ptr) continue;
        void *q = NULL;
        if (posix_memalign(&q, 64, cap ? cap : 64) != 0)
            return mm_err(err, "%s: out of memory (%zu bytes per thread)", fn, cap);
        free(arr[i].ptr);
        arr[i].ptr = q;
        arr[i].cap = cap;
    }
    return 0;
}

int mm_pool_reserve(mm_pool *p, size_t bytes, char *err) {
    if (!p) return 0;
    return reserve_in(p->scratch, p->n_threads, bytes, err, __func__);
}

int mm_core_reserve(mm_pool *p, size_t bytes) {
    if (!p) return mm_core_scratch(NULL, 0, bytes) ? 0 : -1;
    return reserve_in(p->kscratch, p->n_threads, bytes, NULL, __func__);
}

void *mm_pool_scratch(mm_pool *p, int ith, size_t bytes) {
    if (!p || ith < 0 || ith >= p->n_threads) return NULL;
    if (p->scratch[ith].cap < bytes || !p->scratch[ith].ptr) return NULL;
    return p->scratch[ith].ptr;
}

void mm_split_range(int64_t n, int ith, int nth, int64_t *i0, int64_t *i1) {
    if (nth < 1) nth = 1;
    if (n < 0) n = 0;
    int64_t q = n / nth, r = n % nth;
    *i0 = ith * q + (ith < r ? ith : r);
    *i1 = *i0 + q + (ith < r ? 1 : 0);
}

/* ---------------------------------------------------------------- caller-thread scratch for pool == NULL */
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static void tls_free(void *p) {
    mm_scratch *s = p;
    if (s) { free(s->ptr); free(s); }
}
static void tls_init(void) { pthread_key_create(&tls_key, tls_free); }

void *mm_core_scratch(mm_pool *pool, int ith, size_t bytes) {
    if (pool) {   /* reserved by the (single-threaded) caller with mm_core_reserve */
        if (ith < 0 || ith >= pool->n_threads || pool->kscratch[ith].cap < bytes) return NULL;
        return pool->kscratch[ith].ptr;
    }
    pthread_once(&tls_once, tls_init);
    mm_scratch *ts = pthread_getspecific(tls_key);
    if (!ts) {
        ts = calloc(1, sizeof *ts);
        if (!ts) return NULL;
        pthread_setspecific(tls_key, ts);
    }
    if (ts->cap < bytes) {
        size_t cap = (bytes + 63) & ~(size_t)63;
        void *q = NULL;
        if (posix_memalign(&q, 64, cap) != 0) return NULL;
        free(ts->ptr);
        ts->ptr = q;
        ts->cap = cap;
    }
    return ts->ptr;
}

/* ---------------------------------------------------------------- arena */
int mm_arena_init(mm_arena *a, size_t bytes, char *err) {
    a->base = NULL;
    a->size = a->used = 0;
    size_t cap = (bytes + 63) & ~(size_t)63;
    if (cap < bytes) return mm_err(err, "%s: %zu bytes overflows", __func__, bytes);
    void *q = NULL;
    if (posix_memalign(&q, 64, cap ? cap : 64) != 0)
        return mm_err(err, "%s: out of memory (%zu bytes)", __func__, bytes);
    a->base = q;
    a->size = cap;
    return 0;
}

void *mm_arena_alloc(mm_arena *a, size_t bytes) {
    if (!a || !a->base) return NULL;
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need < bytes || need > a->size - a->used) return NULL;
    void *p = a->base + a->used;
    a->used += need;
    return p;
}

void mm_arena_reset(mm_arena *a) { if (a) a->used = 0; }

void mm_arena_free(mm_arena *a) {
    if (!a) return;
    free(a->base);
    a->base = NULL;
    a->size = a->used = 0;
}

double mm_time_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
