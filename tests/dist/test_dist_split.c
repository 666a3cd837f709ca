/* test_dist_split.c - mm_dist_split_balanced against brute force: for random layer costs (L <= 11, N <= 5,
 * with and without rank 0's extra) every contiguous split is enumerated; the function's split must reach
 * the smallest largest-load, then the smallest largest-load of ranks 1.., of ranks 2.., ..., then the
 * largest boundaries (mm_dist.h's rule, checked here by its definition over every split). Plus mm_dist_split_parse's accepted and refused strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_check.h"
#include "mm_dist.h"

static double best_m[8];   /* best vector of suffix maxima: M_i = largest load among ranks i..N-1 */
static int64_t best_first[8], cur[8];

/* the split rule of mm_dist.h by its definition: minimise M_0, then M_1, ..., then take the largest
 * boundaries (enumeration visits boundaries in increasing order, so a later equal split wins) */
static void enumerate(const double *cost, int64_t L, double ex, int N, int r, int64_t start) {
    if (r == N - 1) {
        cur[N] = L;
        double load[8], m[8];
        for (int i = 0; i < N; i++) {
            load[i] = i == 0 ? ex : 0;
            for (int64_t l = cur[i]; l < cur[i + 1]; l++) load[i] += cost[l];
        }
        for (int i = N - 1; i >= 0; i--) m[i] = i == N - 1 ? load[i] : (load[i] > m[i + 1] ? load[i] : m[i + 1]);
        int cmp = 0;
        for (int i = 0; i < N && !cmp; i++) cmp = m[i] < best_m[i] ? -1 : m[i] > best_m[i] ? 1 : 0;
        if (cmp <= 0) {
            memcpy(best_m, m, sizeof(double) * (size_t)N);
            memcpy(best_first, cur, sizeof(int64_t) * (size_t)(N + 1));
        }
        return;
    }
    for (int64_t e = start + 1; e <= L - (N - 1 - r); e++) {
        cur[r + 1] = e;
        enumerate(cost, L, ex, N, r + 1, e);
    }
}

int main(void) {
    char err[MM_ERR_SIZE];
    uint64_t seed = 12345;
    int n_cases = 0;
    for (int it = 0; it < 400; it++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t L = 1 + (int64_t)((seed >> 33) % 11);
        int N = 1 + (int)((seed >> 20) % 5);
        if (N > L) N = (int)L;
        double cost[16], ex = (it % 3 == 0) ? 0.0 : (double)((seed >> 40) % 50);
        for (int64_t l = 0; l < L; l++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            cost[l] = (it % 4 == 0) ? 10.0 : (double)(1 + (seed >> 35) % 40); /* uniform and random costs */
        }
        int64_t first[8];
        CHECK(mm_dist_split_balanced(cost, L, ex, N, first, err) == 0, "split: %s", err);
        for (int i = 0; i < 8; i++) best_m[i] = 1e300;
        cur[0] = 0;
        enumerate(cost, L, ex, N, 0, 0);
        for (int i = 0; i <= N; i++)
            CHECK(first[i] == best_first[i], "L %lld N %d case %d: boundary %d is %lld, brute force %lld", (long long)L,
                  N, it, i, (long long)first[i], (long long)best_first[i]);
        n_cases++;
    }
    /* errors */
    double c[4] = {1, 1, 1, 1};
    int64_t f[8];
    CHECK(mm_dist_split_balanced(c, 4, 0, 5, f, err) == -1 && strstr(err, "at least one layer"), "5 ranks 4 layers");
    c[2] = -1;
    CHECK(mm_dist_split_balanced(c, 4, 0, 2, f, err) == -1 && strstr(err, "layer 2"), "negative cost: %s", err);
    /* parse */
    CHECK(mm_dist_split_parse("3,5,4", 12, 3, f, err) == 0 && f[0] == 0 && f[1] == 3 && f[2] == 8 && f[3] == 12,
          "parse 3,5,4");
    const char *bad[] = {"", "3,5", "3,5,4,0", "3,,9", "3,5,5", "a,b,c", "3;5;4", "-1,7,6", "3,5,4,", "12,0,0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(mm_dist_split_parse(bad[i], 12, 3, f, err) == -1, "parse '%s' accepted", bad[i]);
    printf("dist_split: %d random cases equal brute force\n", n_cases);
    return n_fail ? 1 : 0;
}
