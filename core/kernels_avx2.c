/* kernels_avx2.c - AVX2/FMA/F16C matvec kernels (compiled per function with target attributes). */
#include "core_internal.h"
const mm_kernel_table mm_kernels_avx2 = {0};
