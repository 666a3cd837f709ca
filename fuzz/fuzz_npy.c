/* fuzz_npy.c - libFuzzer target for the .npy reader (core/npy.c): any bytes, written to a private
 * temporary file, must give either a valid array or a clean error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mm_core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_npy_%d.npy", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    if (size && fwrite(data, 1, size, f) != size) { fclose(f); return 0; }
    fclose(f);
    float *arr = NULL;
    int ndim = 0;
    int64_t shape[4] = {0};
    char err[MM_ERR_SIZE];
    if (mm_npy_read(path, &arr, &ndim, shape, err) == 0) {
        int64_t n = 1;
        for (int i = 0; i < ndim; i++) n *= shape[i];
        volatile float acc = 0;
        for (int64_t i = 0; i < n; i++) acc += arr[i];   /* every element must be readable */
        (void)acc;
        free(arr);
    }
    return 0;
}
