/* mm_level.h - the check every test that forces a kernel level makes (header-only, links mm_core).
 *
 * A test forces a level with MMGPT_KERNEL=generic|avx2|avx512 in its environment (ctest sets it per
 * test, .ci/run for a whole `ctest -L numeric` run). Core falls back to the best level below a forced
 * one the CPU lacks, so a test that only set the variable could pass while running other code. This
 * asks core which level runs: the forced one -> 0; a level this CPU or build cannot run -> "SKIP: ..."
 * naming what is missing, 77 (ctest: skipped); an unknown name -> "FAIL: ...", 1. */
#ifndef MM_LEVEL_H
#define MM_LEVEL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_core.h"

static inline int mm_test_forced_level(const char *who) {
    const char *want = getenv("MMGPT_KERNEL");
    const char *got = mm_cpu_kernel_name();
    if (!want || !*want || strcmp(want, got) == 0) return 0;
    const char *why = mm_cpu_kernel_missing(want);
    if (why && strncmp(why, "unknown level", 13) == 0) {
        fprintf(stderr, "FAIL: %s: MMGPT_KERNEL=%s: %s\n", who, want, why);
        return 1;
    }
    printf("SKIP: %s: MMGPT_KERNEL=%s is forced but cannot run here (missing: %s); core runs %s\n", who, want,
           why ? why : "?", got);
    return 77;
}

#endif
