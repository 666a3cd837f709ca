/* mm_check.h - the C tests' CHECK: on a false condition, print "FAIL file:line: message" to stderr and
 * count it in n_fail; the test's main() returns non-zero when n_fail > 0. Header-only, one per test program. */
#ifndef MM_CHECK_H
#define MM_CHECK_H

#include <stdio.h>

static int n_fail = 0;
#define CHECK(cond, ...)                                         \
    do {                                                         \
        if (!(cond)) {                                           \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                        \
            fputc('\n', stderr);                                 \
            n_fail++;                                            \
        }                                                        \
    } while (0)

#endif
