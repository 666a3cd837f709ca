/* pipeline_nompi.c - the rank protocol's entry points in a build without MPI (-DMMGPT_MPI=OFF, the
 * default): mm_dist_init says how to get it; nothing else can be reached without a handle. */
#include "mm_dist.h"

bool     mm_dist_available(void) { return false; }
mm_dist *mm_dist_init(int *argc, char ***argv, char *err) {
    (void)argc, (void)argv;
    mm_err(err, "mm_dist_init: mmgpt was built without MPI (configure with -DMMGPT_MPI=ON; Debian: libopenmpi-dev)");
    return NULL;
}
int  mm_dist_rank(const mm_dist *d) { (void)d; return 0; }
int  mm_dist_size(const mm_dist *d) { (void)d; return 1; }
void mm_dist_set_timeout(mm_dist *d, double s) { (void)d, (void)s; }
int  mm_dist_join(mm_dist *d, const mm_gguf *g, mm_gpt_model *m, const char *spec, int status, char *err) {
    (void)d, (void)g, (void)m, (void)spec, (void)status;
    return mm_err(err, "mm_dist_join: built without MPI");
}
void mm_dist_layers(const mm_dist *d, int64_t *b, int64_t *e) { (void)d, *b = 0, *e = 0; }
int  mm_dist_serve(mm_dist *d, mm_gpt_state *s, char *err) {
    (void)d, (void)s;
    return mm_err(err, "mm_dist_serve: built without MPI");
}
bool mm_dist_joined(const mm_dist *d) { (void)d; return false; }
int  mm_dist_finish(mm_dist *d, int code) { (void)d; return code; }
void mm_dist_free(mm_dist *d) { (void)d; }
