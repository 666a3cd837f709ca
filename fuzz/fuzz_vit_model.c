/* fuzz_vit_model.c - libFuzzer target for the image encoder and image projector loaders (llama.cpp mmproj
 * files): any bytes -> mm_gguf_open_memory -> mm_vit_model_load + mm_projector_load (any output width);
 * a model that loads and is small gets a state, encodes a constant picture and projects its patch rows.
 * Every refusal must be a one-line message; an encode may only fail with MM_ERR_NONFINITE (finite weights
 * that overflow). Seeds: fuzz/seeds/vit_model (tiny LLaVA-1.5 / SmolVLM layouts, old and new FFN names).
 *   CC=clang cmake -S . -B build-fuzz -DMMGPT_FUZZ=ON -DMMGPT_TESTS=OFF -DMMGPT_BENCH=OFF
 *   cmake --build build-fuzz --target fuzz_vit_model && build-fuzz/fuzz/fuzz_vit_model fuzz/seeds/vit_model
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mm_fusion.h"
#include "mm_gguf.h"
#include "mm_image.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char     err[MM_ERR_SIZE];
    uint8_t *buf;
    mm_gguf *g = fuzz_open(data, size, &buf, err);
    if (!g) return 0;
    mm_vit_model *m = mm_vit_model_load(g, err);
    if (!m) {
        fuzz_one_line(err);
    } else {
        const int64_t S = mm_vit_image_size(m), nt = mm_vit_n_tokens(m), d = mm_vit_d_enc(m);
        mm_projector  pj;
        err[0] = 0;
        const bool    has_proj = mm_projector_load(&pj, g, MMGPT_MEDIA_IMAGE, d, 0, err) == 0;
        if (!has_proj) fuzz_one_line(err);
        const int64_t np = nt - (mm_vit_has_cls(m) ? 1 : 0);
        if (S <= 64 && nt * d <= 65536) { /* keep runs fast */
            mm_vit_state *s = mm_vit_state_create(m, NULL, err);
            float        *pix = malloc((size_t)(3 * S * S) * sizeof(float));
            float        *out = malloc((size_t)(nt * d) * sizeof(float));
            if (s && pix && out) {
                for (int64_t i = 0; i < 3 * S * S; i++) pix[i] = (float)(i % 7) * 0.25f - 0.75f;
                int rc = mm_vit_encode(s, pix, out, err);
                if (rc != 0 && !(rc == MM_ERR_NONFINITE && err[0] && !strchr(err, '\n'))) abort();
                if (rc == 0 && has_proj && (pj.merge == 1 || np == pj.grid * pj.grid) && pj.d_out * pj.l1.rows <= (1 << 22)) {
                    const int64_t n_out = mm_projector_n_out(&pj, np);
                    float        *y = malloc((size_t)(n_out * pj.d_out) * sizeof(float) + 1);
                    void         *scr = aligned_alloc(64, (mm_projector_scratch_bytes(&pj, np) + 127) & ~(size_t)63);
                    if (y && scr) mm_projector_apply(&pj, NULL, out + (nt - np) * d, np, y, scr);
                    free(y);
                    free(scr);
                }
            }
            free(pix);
            free(out);
            mm_vit_state_free(s);
        }
        if (has_proj) mm_projector_free(&pj);
        mm_vit_model_free(m);
    }
    fuzz_close(g, buf);
    return 0;
}
