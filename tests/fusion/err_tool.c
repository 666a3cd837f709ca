/* err_tool.c - prints one error message of each module, provoked on purpose, for test_err_format.py:
 *   err_tool MODEL TEXT_MODEL MMPROJ48 GARBAGE_GGUF BAD_PNG BAD_WAV DIR MISSING
 * MODEL: a combined model; TEXT_MODEL: a GPT-2 GGUF without encoders; MMPROJ48: an mmproj whose
 * projectors do not fit TEXT_MODEL; GARBAGE_GGUF: GGUF magic then junk; BAD_PNG / BAD_WAV: corrupt media;
 * DIR: a folder; MISSING: a path that does not exist. One line per case on stdout:
 *   MODULE <TAB> FILE (the file the message must start with, "-" when none) <TAB> MESSAGE
 * A call that unexpectedly succeeds prints MESSAGE "(no error)". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_audio.h"
#include "mm_core.h"
#include "mm_fusion.h"
#include "mm_gguf.h"
#include "mm_image.h"
#include "mm_tokenizer.h"
#include "mm_transformer.h"
#include "mmgpt.h"

static void show(const char *module, const char *file, int failed, const char *err) {
    printf("%s\t%s\t%s\n", module, file ? file : "-", failed ? err : "(no error)");
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: err_tool MODEL TEXT_MODEL MMPROJ48 GARBAGE BAD_PNG BAD_WAV DIR MISSING\n");
        return 2;
    }
    const char *model = argv[1], *text = argv[2], *proj = argv[3], *garbage = argv[4], *png = argv[5],
               *wav = argv[6], *dir = argv[7], *missing = argv[8];
    char err[MM_ERR_SIZE];

    /* core: files, GGUF, npy */
    void  *data = NULL;
    size_t n = 0;
    show("core", dir, mm_read_file(dir, 1 << 20, &data, &n, err) != 0, err);
    free(data);
    mm_gguf *g = mm_gguf_open(missing, err);
    show("core", missing, g == NULL, err);
    mm_gguf_close(g);
    show("core", garbage, (g = mm_gguf_open(garbage, err)) == NULL, err);
    mm_gguf_close(g);
    float  *f = NULL;
    int     nd = 0;
    int64_t shape[4];
    show("core", png, mm_npy_read(png, &f, &nd, shape, err) != 0, err);
    free(f);

    /* tokenizer, transformer, encoders and projectors, loaded from files that lack what they need */
    mm_gguf *gp = mm_gguf_open(proj, err), *gt = mm_gguf_open(text, err);
    if (!gp || !gt) {
        fprintf(stderr, "err_tool: %s\n", err);
        return 1;
    }
    mm_tokenizer *tok = mm_tokenizer_load_gguf(gp, err);
    show("tokenizer", proj, tok == NULL, err);
    mm_tokenizer_free(tok);
    mm_gpt_model *gm = mm_gpt_model_load(gp, err);
    show("transformer", proj, gm == NULL, err);
    mm_gpt_model_free(gm);
    mm_sampler_params sp = mm_sampler_default_params();
    sp.top_p = 1.5f;
    mm_sampler *smp = mm_sampler_create(sp, 100, err);
    show("transformer", NULL, smp == NULL, err);
    mm_sampler_free(smp);
    mm_vit_model *vm = mm_vit_model_load(gt, err);
    show("encoders", text, vm == NULL, err);
    mm_vit_model_free(vm);
    mm_audio_model *am = mm_audio_model_load(gt, err);
    show("encoders", text, am == NULL, err);
    mm_audio_model_free(am);
    mm_image img = {0};
    show("encoders", png, mm_image_load_file(png, &img, err) != 0, err);
    mm_image_free(&img);
    mm_audio_load_params lp = mm_audio_load_default_params();
    mm_audio_pcm         pcm = {0};
    show("encoders", wav, mm_audio_load_file(wav, &lp, &pcm, err) != 0, err);
    mm_audio_pcm_free(&pcm);
    mm_projector pr;
    memset(&pr, 0, sizeof pr);
    show("fusion", text, mm_projector_load(&pr, gt, MMGPT_MEDIA_IMAGE, 64, 64, err) != 0, err);
    mm_projector_free(&pr);
    mm_gguf_close(gp);
    mm_gguf_close(gt);

    /* the product API: composes the messages above without reading them */
    mmgpt_model_params mp = mmgpt_model_default_params();
    mmgpt_model       *m = mmgpt_model_load(missing, mp, err);
    show("mmgpt", missing, m == NULL, err);
    mmgpt_model_free(m);
    show("mmgpt", garbage, (m = mmgpt_model_load(garbage, mp, err)) == NULL, err);
    mmgpt_model_free(m);
    show("mmgpt", proj, (m = mmgpt_model_load(proj, mp, err)) == NULL, err);
    mmgpt_model_free(m);
    mp.mmproj_path = proj;
    show("mmgpt", proj, (m = mmgpt_model_load(text, mp, err)) == NULL, err);
    mmgpt_model_free(m);
    mp.mmproj_path = text;
    show("mmgpt", text, (m = mmgpt_model_load(text, mp, err)) == NULL, err);
    mmgpt_model_free(m);
    show("mmgpt", NULL, mmgpt_add_media(NULL, NULL, err) != 0, err);
    m = mmgpt_model_load(model, mmgpt_model_default_params(), err);
    mmgpt_ctx *ctx = m ? mmgpt_ctx_create(m, mmgpt_ctx_default_params(), err) : NULL;
    if (!ctx) {
        fprintf(stderr, "err_tool: %s\n", err);
        return 1;
    }
    mmgpt_media *md = NULL;
    show("mmgpt", png, mmgpt_media_from_file(ctx, png, MMGPT_MEDIA_IMAGE, &md, err) != 0, err);
    mmgpt_media_free(md);
    show("mmgpt", wav, mmgpt_media_from_file(ctx, wav, MMGPT_MEDIA_AUDIO, &md, err) != 0, err);
    mmgpt_media_free(md);
    show("mmgpt", dir, mmgpt_add_image_file(ctx, dir, err) != 0, err);
    mmgpt_gen_params gp2 = mmgpt_gen_default_params();
    gp2.min_p = 2.0f;
    mmgpt_add_text(ctx, "hi", err);
    show("mmgpt", NULL, mmgpt_generate(ctx, gp2, NULL, NULL, err) != 0, err);
    mmgpt_ctx_free(ctx);
    mmgpt_model_free(m);
    return 0;
}
