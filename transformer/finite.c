/* finite.c - the decoder's output check: logits that are NaN/Inf mean the weights are broken (a NaN or an
 * infinity stored in a matrix that loading did not read, see mm_gguf_check_finite) or overflow, and no
 * token drawn from them means anything. Cheap: n_vocab values per checked position. */
#include <math.h>

#include "gpt_internal.h"

int mm_gpt_check_logits(const float *logits, int64_t n_rows, int64_t n_vocab, int64_t pos0, char *err) {
    for (int64_t r = 0; r < n_rows; r++) {
        const float *row = logits + r * n_vocab;
        const int64_t i = mm_find_nonfinite(row, n_vocab);
        if (i < 0) continue;
        mm_err(err, "decoder logits at position %lld are not finite (token %lld: %s): the model file's weights "
                    "hold NaN/Inf values or overflow (a corrupt or badly converted model)",
               (long long)(pos0 + r), (long long)i, isnan(row[i]) ? "nan" : row[i] > 0 ? "inf" : "-inf");
        return MM_ERR_NONFINITE;
    }
    return 0;
}
