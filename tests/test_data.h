/* test_data.h - where the C tests' data files live (header-only): $MMGPT_REFDATA (ctest sets it from the
 * CMake cache variable MMGPT_REFDATA, default tests/data of the source tree), else MMGPT_TEST_DATA, the
 * same folder compiled in by mm_c_test. tests/data/SOURCES.md says where each file came from.
 * A missing file is a test failure (exit 1 with the path), never a skip: the repository carries every file
 * a test reads. */
#ifndef TEST_DATA_H
#define TEST_DATA_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static inline const char *td_dir(void) {
    const char *r = getenv("MMGPT_REFDATA");
#ifdef MMGPT_TEST_DATA
    if (!r || !*r) r = MMGPT_TEST_DATA;
#endif
    return r && *r ? r : "tests/data";
}

/* td_dir()/rel in one of 8 rotating buffers; exits 1 with a message when it does not exist */
static inline const char *td_path(const char *rel) {
    static char buf[8][4096];
    static int k = 0;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", td_dir(), rel);
    struct stat st;
    if (stat(buf[k], &st)) {
        printf("FAIL: test data %s is missing (the repository carries it in tests/data; see tests/data/SOURCES.md)\n",
               buf[k]);
        fflush(stdout);
        exit(1);
    }
    return buf[k];
}

#endif
