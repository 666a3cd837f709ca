/* kernel_guard.c - runs a test only when the kernel level it claims really runs.
 *
 *   kernel_guard PROGRAM [ARGS...]
 *
 * ctest starts every test labelled `numeric` through this (tests/CMakeLists.txt). With MMGPT_KERNEL
 * set, it asks core (the same library build, CPU and environment as the test) which level runs: the
 * forced one -> prints "kernel level: L (MMGPT_KERNEL)" and execs PROGRAM; one the CPU lacks -> "SKIP"
 * with the missing CPU features, exit 77; an unknown name -> exit 1 (see mm_level.h). C tests that
 * force a level also check in their own process (test_core_kernels.c, test_core_noalloc.c). */
#include <stdio.h>
#include <unistd.h>

#include "mm_level.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: kernel_guard PROGRAM [ARGS...]\n");
        return 2;
    }
    int rc = mm_test_forced_level(argv[1]);
    if (rc != 0) return rc;
    const char *want = getenv("MMGPT_KERNEL");
    printf("kernel level: %s%s\n", mm_cpu_kernel_name(), want && *want ? " (MMGPT_KERNEL)" : "");
    fflush(stdout);
    execvp(argv[1], argv + 1);
    perror("kernel_guard: exec");
    return 1;
}
