/* fuzz_image.c - libFuzzer target: the image loader over arbitrary bytes (EXIF orientation included), then
 * preprocessing of small results in every resize mode and every model processor (mm_image_process: plain,
 * LLaVA, Idefics3 tiles with a max_tiles cap taken from the input), so the resamplers see odd sizes and
 * aspect ratios too. A valid image must always process. */
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
        for (int k = 0; k < 3; k++) {
            mm_image_proc_params p = mm_image_proc_default_params((mm_image_proc_kind)k);
            p.size = k == 2 ? 8 : 13;
            p.longest_edge = k == 2 ? 8 * (1 + (int)(size % 5)) : 0;
            p.max_tiles = (int)(size % 7);
            mm_image_tiles t;
            if (mm_image_process(&img, &p, &t, err) != 0) abort();
            mm_image_tiles_free(&t);
        }
    }
    mm_image_free(&img);
    return 0;
}
