/* fuzz_image.c - libFuzzer target: the image loader over arbitrary bytes, then preprocessing of small
 * results in every resize mode (so the resampler sees odd sizes and aspect ratios too). */
#include <stdint.h>
#include <stdlib.h>

#include <stb_image.h>

#include "mm_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[MM_ERR_SIZE];
    mm_image img;
    /* Headers claiming many megapixels are legal (up to the 64 MP cap) but make each run take a second;
     * the cap itself is covered by tests/image/test_img_bad.c. Keep the fuzzer fast. */
    int w, h, c;
    if (size <= 0x7fffffff && stbi_info_from_memory(data, (int)size, &w, &h, &c) && (long long)w * h > (1 << 20))
        return 0;
    if (mm_image_load_memory(data, size, "fuzz", &img, err) != 0) return 0;
    if ((long long)img.w * img.h <= 65536) {
        static float out[3 * 24 * 24];
        const int sizes[2] = {7, 24};
        for (int s = 0; s < 2; s++)
            for (int mode = 0; mode < 3; mode++) {
                mm_image_preproc pp = mm_image_preproc_default();
                pp.image_size = sizes[s];
                pp.mode = (mm_resize_mode)mode;
                if (mm_image_preprocess(&img, &pp, out, err) != 0) abort(); /* valid image: must succeed */
            }
    }
    mm_image_free(&img);
    return 0;
}
