/* pipeline.c - a model that evaluates a range of its layers (mm_transformer.h "pipeline parallelism";
 * the evaluation itself is in forward.c: eval_pipeline, mm_gpt_eval_layers). */
#include "gpt_internal.h"

int mm_gpt_model_set_pipeline(mm_gpt_model *m, const mm_gpt_pipeline *p, char *err) {
    if (!m || !p) return mm_err(err, "%s: no model or pipeline", __func__);
    const int64_t L = m->hp.n_layer;
    if (p->layer_begin < 0 || p->layer_end <= p->layer_begin || p->layer_end > L)
        return mm_err(err, "%s: layers [%lld, %lld) are not a non-empty range of the model's %lld", __func__,
                      (long long)p->layer_begin, (long long)p->layer_end, (long long)L);
    if (p->layer_begin == 0 && p->layer_end < L && (!p->send || !p->recv))
        return mm_err(err, "%s: rank 0 of a pipeline (layers 0-%lld of %lld) needs send and recv", __func__,
                      (long long)p->layer_end - 1, (long long)L);
    if (p->layer_begin > 0 && (p->send || p->recv))
        return mm_err(err, "%s: only the rank holding layer 0 sends and receives", __func__);
    m->pipe = *p;
    if (m->pipe.layer_begin == 0 && m->pipe.layer_end == L) m->pipe.send = NULL, m->pipe.recv = NULL;
    if (m->pipe.window < 1) m->pipe.window = 1;
    return 0;
}

static double mat_b(const mm_mat *w) { return w->data ? (double)mm_row_size(w->type, w->cols) * (double)w->rows : 0; }

double mm_gpt_model_bytes_held(const mm_gpt_model *m) {
    const double all = (double)mm_gpt_model_bytes(m);
    if (!m->pipe.layer_end) return all;
    /* what is not in a layer: embeddings (position embeddings when present) and an untied output matrix */
    const double rest = mat_b(&m->tok_embd) + mat_b(&m->pos_embd) + (m->tied ? 0.0 : mat_b(&m->output));
    const double per_layer = (all - rest) / (double)m->hp.n_layer;
    return per_layer * (double)(m->pipe.layer_end - m->pipe.layer_begin) + (m->pipe.layer_begin == 0 ? rest : 0.0);
}
