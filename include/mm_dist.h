/* mm_dist.h - pipeline parallelism: the decoder's layers split over ranks (processes, machines).
 *
 * Two parts:
 *   - the plan (always built, no MPI): which contiguous range of layers each rank holds, balanced by
 *     weight bytes or given by the user (`--layer-split a,b,c`), and the per-rank memory accounting
 *     behind `mmgpt params --ranks N` (weights, KV cache at full context, activations, fits or not);
 *   - the rank protocol (built with -DMMGPT_MPI=ON, Open MPI): see mm_dist_* below the plan. Including
 *     this header never needs mpi.h: the communicator lives behind the opaque mm_dist handle.
 *
 * Who owns what in a pipeline of N ranks
 *   rank 0 owns the tokenizer, the encoders, the embeddings (token + position), the output norm and the
 *   unembedding (tied to token_embd in GPT-2/GPT-3 files), the sampler, and layers [first[0], first[1]);
 *   rank r > 0 owns layers [first[r], first[r+1]) and their KV cache only. An evaluation of n positions is
 *   [n, d_model] f32 rows of the residual stream passed rank 0 -> 1 -> ... -> N-1 -> 0.
 *
 * Balanced split
 *   cost[l] = bytes of layer l's weights; rank 0 also carries extra0 (its embeddings and unembedding).
 *   The split minimises the largest rank total over all contiguous splits with every rank holding at
 *   least one layer (exact, dynamic programming over (rank, layer): O(N L^2)); among those, the largest
 *   load of ranks 1..N-1 is minimised, then that of ranks 2..N-1, and so on (so the layers left after
 *   rank 0 are spread evenly), and remaining ties give the lower ranks more layers (deterministic).
 *
 * Planning accounting (mm_dist_plan_arch: what `mmgpt params --ranks` prints; tests/dist/ref_plan.py
 * recomputes it independently)
 *   weights of layer l = (4 d (n_head d_head) + 2 d d_ff) elements at the type's bytes per element
 *                        (block size included: Q4_0 = 18/32, Q8_0 = 34/32, F16 = 2, F32 = 4)
 *                        + (3 n_head d_head + d + d_ff + d) biases + 4 d norm weights, f32;
 *   rank 0 extra       = token embedding (n_vocab x d) + position embedding (n_ctx x d) at the type
 *                        + output norm (2 d, f32); the unembedding is tied (GPT-2 / GPT-3 files);
 *   KV cache of a rank = 2 x layers x n_ctx x d x (4, or 2 with kv_f16) (the state's layout);
 *   activations        = 4 x (n_batch x (7 d + d_ff + n_ctx) + n_vocab) bytes per rank (the state's
 *                        scratch: residual, norm, q|k|v, attention, projection, MLP hidden, scores,
 *                        logits);
 *   fits               = weights + KV + activations <= mem (mem 0 = no limit given).
 */
#ifndef MM_DIST_H
#define MM_DIST_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "mm_core.h"
#include "mm_transformer.h"

#ifdef __cplusplus
extern "C" {
#endif
MM_API_BEGIN

#define MM_DIST_MAX_RANKS 4096

/* Balanced contiguous split (see above). first: [n_ranks + 1], first[0] = 0, first[n_ranks] = n_layer.
 * Errors: n_ranks outside [1, n_layer], a negative or non-finite cost. */
int mm_dist_split_balanced(const double *cost, int64_t n_layer, double extra0, int n_ranks, int64_t *first,
                           char *err);
/* A user's split "a,b,c": n_ranks layer counts, each >= 1, summing to n_layer. */
int mm_dist_split_parse(const char *spec, int64_t n_layer, int n_ranks, int64_t *first, char *err);

typedef struct {
    mm_type type;       /* weight type of the matrices (any computable type; default Q4_0) */
    bool    kv_f16;     /* KV cache in f16 */
    int64_t n_ctx;      /* context the KV cache holds; 0 = the shape's n_ctx */
    int64_t n_batch;    /* positions per step (activations); 0 = 512 */
    double  mem_bytes;  /* memory of one rank; 0 = unlimited */
} mm_dist_plan_params;

typedef struct {
    int64_t layer_begin, layer_end;  /* [begin, end) */
    double  weight_bytes, kv_bytes, act_bytes, total_bytes;
    bool    fits;
} mm_dist_rank_plan;

mm_dist_plan_params mm_dist_plan_default_params(void);
/* Bytes of one layer's weights and of rank 0's extra at p.type (see the accounting above). */
double mm_dist_layer_bytes(const mm_gpt_hparams *hp, mm_type type);
double mm_dist_rank0_extra_bytes(const mm_gpt_hparams *hp, mm_type type);
/* Plan n_ranks ranks for shape hp: out[n_ranks]. first = NULL: balanced split; else the caller's
 * [n_ranks + 1] boundaries (checked). Returns the number of ranks that do not fit (0 = all fit). */
int mm_dist_plan_arch(const mm_gpt_hparams *hp, int n_ranks, mm_dist_plan_params p, const int64_t *first,
                      mm_dist_rank_plan *out, char *err);
/* The smallest N in [1, n_layer] whose balanced plan fits every rank in p.mem_bytes; -1 + err if none. */
int mm_dist_plan_auto(const mm_gpt_hparams *hp, mm_dist_plan_params p, char *err);

/* ---------------------------------------------------------------- the rank protocol (MPI)
 * Built with -DMMGPT_MPI=ON; without it mm_dist_init returns NULL with "built without MPI".
 *
 * Every rank of `mpirun -np N` runs:
 *   d = mm_dist_init(&argc, &argv, err);             MPI_Init (unless the program did), rank and size
 *   ... load the model file (rank 0: everything; others: the decoder only) ...
 *   mm_dist_join(d, g, m, spec, status, err);         COLLECTIVE: every rank reports whether it loaded
 *        (status 0, or -1 with its message in err); if any rank failed, every rank returns -1 and rank 0's
 *        err says "rank R: MESSAGE" for the lowest failing rank. Else rank 0 splits the layers (balanced
 *        by the bytes of each blk.L.* tensor, rank 0 also carrying every other tensor of its file: the
 *        embeddings, output, encoders; or by spec "a,b,c") and broadcasts the split; each rank's model
 *        then evaluates only its layers (mm_gpt_model_set_pipeline). Rank 0's mm_gpt_eval runs the whole
 *        pipeline: its layers, then rows to rank 1, ..., the last rank's rows back to rank 0, output norm
 *        and logits there. Prompts longer than the state's n_batch go as micro-batches of n_batch rows:
 *        rank 0 sends micro-batch i+1 while the ranks after it work on micro-batch i.
 *   rank 0: uses the model as usual, then mm_dist_finish(d, code): tells the others to finish (or, if
 *        rank 0 never joined, answers their join with a failure so that they exit quietly; or, after a
 *        failure broke the pipeline, MPI_Abort(code) so that mpirun ends every rank);
 *   ranks > 0: mm_dist_serve(d, state, err) until rank 0 stops them.
 *   mm_dist_free(d)                                   MPI_Finalize if mm_dist_init called MPI_Init
 *
 * Failures: a rank that fails while evaluating sends its message on through the pipeline and rank 0's
 * eval returns "rank R: MESSAGE". Rank 0 waits for the pipeline's rows with a deadline (timeout_s, default
 * 300 s, or $MMGPT_MPI_TIMEOUT): a rank that hangs is reported as "no rows from ranks 1..N-1 in T s"
 * instead of waiting forever; a rank that dies is reported by mpirun, which ends the other ranks (Open
 * MPI's default). After a failure the pipeline is unusable (mm_dist_finish then aborts). Waiting never
 * spins a core: non-blocking receives are polled with sleeps growing to 1 ms. */
typedef struct mm_dist mm_dist;

bool     mm_dist_available(void);          /* built with MPI */
mm_dist *mm_dist_init(int *argc, char ***argv, char *err);
int      mm_dist_rank(const mm_dist *d);
int      mm_dist_size(const mm_dist *d);
void     mm_dist_set_timeout(mm_dist *d, double seconds);
/* m may be NULL when status != 0 (load failed). Ranks > 0 may pass g/m of the decoder only. */
int      mm_dist_join(mm_dist *d, const mm_gguf *g, mm_gpt_model *m, const char *spec, int status, char *err);
/* This rank's layers after a successful join. */
void     mm_dist_layers(const mm_dist *d, int64_t *layer_begin, int64_t *layer_end);
int      mm_dist_serve(mm_dist *d, mm_gpt_state *s, char *err);
bool     mm_dist_joined(const mm_dist *d);
/* Rank 0's end (see above); returns code. */
int      mm_dist_finish(mm_dist *d, int code);
void     mm_dist_free(mm_dist *d);

MM_API_END
#ifdef __cplusplus
}
#endif
#endif /* MM_DIST_H */
