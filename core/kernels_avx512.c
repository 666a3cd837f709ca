/* kernels_avx512.c - AVX-512 matvec kernels (compiled per function with target attributes). */
#include "core_internal.h"
const mm_kernel_table mm_kernels_avx512 = {0};
