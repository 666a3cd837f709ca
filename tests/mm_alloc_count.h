/* mm_alloc_count.h - counts the process's heap allocations (header-only; include in ONE file per program).
 *
 * malloc/calloc/realloc/posix_memalign/aligned_alloc/memalign are interposed (forwarding to glibc's
 * __libc_* entry points) and each call adds one to mm_alloc_count. Under sanitizers, which own malloc,
 * MM_NO_INTERPOSE is defined instead and nothing is interposed (tests then skip, exit 77). */
#ifndef MM_ALLOC_COUNT_H
#define MM_ALLOC_COUNT_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MM_NO_INTERPOSE 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MM_NO_INTERPOSE 1
#endif
#endif

#ifdef MM_NO_INTERPOSE
#include <stdio.h>
/* main() of a counting test under a sanitizer: `int main(void) { return mm_alloc_skip(); }` */
static inline int mm_alloc_skip(void) {
    printf("SKIP: malloc interposition is not possible under sanitizers\n");
    return 77;
}
#else
#include <stdatomic.h>
static atomic_long mm_alloc_count;
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
void *malloc(size_t n) { atomic_fetch_add(&mm_alloc_count, 1); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { atomic_fetch_add(&mm_alloc_count, 1); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { atomic_fetch_add(&mm_alloc_count, 1); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { atomic_fetch_add(&mm_alloc_count, 1); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { atomic_fetch_add(&mm_alloc_count, 1); return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n) {
    atomic_fetch_add(&mm_alloc_count, 1);
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12;
}
#endif

#endif
