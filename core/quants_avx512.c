/* quants_avx512.c - the avx512 level's kernels of BF16, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K (see quants.c,
 * quants_avx2.c). Types without an AVX-512 kernel of their own use the AVX2 one (an AVX-512 CPU has AVX2).
 */
#include "core_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")))

#define SAME_AS_AVX2_ROWS(t)                                                                                         \
    void mm_q_rows_##t##_avx512(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,   \
                                const mm_xq8 *xq, float *y) {                                                      \
        mm_q_rows_##t##_avx2(W, rb, r0, r1, cols, x, xq, y);                                                       \
    }
#define SAME_AS_AVX2_DEQ(t) \
    void mm_q_deq_##t##_avx512(const void *s, float *y, int64_t n) { mm_q_deq_##t##_avx2(s, y, n); }

SAME_AS_AVX2_ROWS(bf16)
SAME_AS_AVX2_ROWS(q4_1)
SAME_AS_AVX2_ROWS(q5_0)
SAME_AS_AVX2_ROWS(q5_1)
SAME_AS_AVX2_ROWS(q4_k)
SAME_AS_AVX2_ROWS(q5_k)
SAME_AS_AVX2_ROWS(q6_k)
SAME_AS_AVX2_DEQ(bf16)
SAME_AS_AVX2_DEQ(q4_1)
SAME_AS_AVX2_DEQ(q5_0)
SAME_AS_AVX2_DEQ(q5_1)
SAME_AS_AVX2_DEQ(q4_k)
SAME_AS_AVX2_DEQ(q5_k)
SAME_AS_AVX2_DEQ(q6_k)
#endif
