/* pipeline_mpi.c - the rank protocol of pipeline parallelism over MPI (mm_dist.h; built with MMGPT_MPI).
 *
 * Messages (MPI_BYTE, tag TAG_PIPE, on a duplicate of MPI_COMM_WORLD), rank r to rank r+1 and the last
 * rank back to rank 0: a header {cmd, n, pos0, seq} then, for CMD_ROWS, n x d_model f32 residual rows;
 * for CMD_FAIL the text of the error ("rank R: ..."). CMD_STOP travels the chain and ends mm_dist_serve.
 * Buffers are allocated at join (a ring of `window` messages of n_batch rows on rank 0, two per worker
 * for double-buffered sends): evaluation does not allocate. Every wait is an MPI_Test loop with sleeps
 * (no spinning core) and, on rank 0, a deadline. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm_dist.h"

#define TAG_PIPE 7
#define N_BATCH_MAX 512 /* rows per message: the states' n_batch (mm_gpt_state_default_params) */

enum { CMD_ROWS = 1, CMD_STOP = 2, CMD_FAIL = 3 };

typedef struct {
    int32_t cmd, rank;
    int64_t n, pos0, seq;
} msg_head;

typedef struct {
    uint8_t    *buf; /* msg_head + rows */
    MPI_Request req;
    bool        busy;
} slot;

struct mm_dist {
    MPI_Comm comm;
    int      rank, size;
    bool     own_init;
    double   timeout_s;
    int64_t  d_model, n_layer;
    int64_t *first;      /* [size + 1] layer boundaries */
    size_t   msg_bytes;  /* header + N_BATCH_MAX rows */
    slot    *out;        /* send ring: rank 0 [size], workers [2] */
    int      n_out, next_out;
    uint8_t *in;         /* receive buffer */
    int64_t  seq_sent, seq_recv;
    bool     broken, joined, join_failed, stopped;
    char     fail_msg[MM_ERR_SIZE]; /* a worker's own failure, passed on instead of later rows */
};

bool mm_dist_available(void) { return true; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Wait for req; deadline <= 0: none. Sleeps grow from 20 us to 1 ms between tests. 0 done, -1 timed out. */
static int wait_req(MPI_Request *req, MPI_Status *st, double deadline) {
    long ns = 20000;
    for (;;) {
        int done = 0;
        MPI_Test(req, &done, st);
        if (done) return 0;
        if (deadline > 0 && now_s() > deadline) return -1;
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
        if (ns < 1000000) ns += ns / 2;
    }
}

mm_dist *mm_dist_init(int *argc, char ***argv, char *err) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init(argc, argv) != MPI_SUCCESS) {
        mm_err(err, "%s: MPI_Init failed", __func__);
        return NULL;
    }
    mm_dist *d = calloc(1, sizeof *d);
    if (!d) {
        mm_err(err, "%s: out of memory", __func__);
        return NULL;
    }
    d->own_init = !inited;
    MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    d->timeout_s = 300;
    const char *t = getenv("MMGPT_MPI_TIMEOUT");
    if (t && atof(t) > 0) d->timeout_s = atof(t);
    return d;
}

int  mm_dist_rank(const mm_dist *d) { return d->rank; }
int  mm_dist_size(const mm_dist *d) { return d->size; }
void mm_dist_set_timeout(mm_dist *d, double seconds) { d->timeout_s = seconds; }

void mm_dist_layers(const mm_dist *d, int64_t *b, int64_t *e) {
    *b = d->first ? d->first[d->rank] : 0;
    *e = d->first ? d->first[d->rank + 1] : d->n_layer;
}

/* Bytes of layer l (every blk.L.* tensor) and of everything else in the file (rank 0's share). */
static int file_costs(const mm_gguf *g, int64_t n_layer, double *cost, double *extra) {
    for (int64_t l = 0; l < n_layer; l++) cost[l] = 0;
    *extra = 0;
    for (int64_t i = 0; i < mm_gguf_n_tensors(g); i++) {
        const mm_gguf_tensor *t = mm_gguf_tensor_at(g, i);
        long long l;
        int used = 0;
        if (sscanf(t->name, "blk.%lld.%n", &l, &used) == 1 && used > 0 && l >= 0 && l < n_layer) cost[l] += (double)t->n_bytes;
        else *extra += (double)t->n_bytes;
    }
    return 0;
}

/* ---- rank 0's side of mm_gpt_eval: send the rows after its layers, receive them after the last rank */
static int pipe_send(void *user, const float *x, int64_t n, int64_t pos0, char *err) {
    mm_dist *d = user;
    if (d->broken) return mm_err(err, "pipeline: broken by an earlier failure");
    if (n > N_BATCH_MAX) return mm_err(err, "pipeline: %lld rows in one message (most %d)", (long long)n, N_BATCH_MAX);
    slot *s = &d->out[d->next_out];
    if (s->busy && wait_req(&s->req, MPI_STATUS_IGNORE, now_s() + d->timeout_s) != 0) {
        d->broken = true;
        return mm_err(err, "pipeline: rank 1 took no rows for %.0f s: a rank hung or died ($MMGPT_MPI_TIMEOUT sets "
                      "the limit)", d->timeout_s);
    }
    s->busy = false;
    msg_head h = {CMD_ROWS, 0, n, pos0, d->seq_sent++};
    memcpy(s->buf, &h, sizeof h);
    memcpy(s->buf + sizeof h, x, (size_t)n * (size_t)d->d_model * sizeof(float));
    MPI_Isend(s->buf, (int)(sizeof h + (size_t)n * (size_t)d->d_model * sizeof(float)), MPI_BYTE, 1, TAG_PIPE,
              d->comm, &s->req);
    s->busy = true;
    d->next_out = (d->next_out + 1) % d->n_out;
    return 0;
}

static int pipe_recv(void *user, float *x, int64_t n, int64_t pos0, char *err) {
    mm_dist *d = user;
    if (d->broken) return mm_err(err, "pipeline: broken by an earlier failure");
    MPI_Request req;
    MPI_Status st;
    MPI_Irecv(d->in, (int)d->msg_bytes, MPI_BYTE, d->size - 1, TAG_PIPE, d->comm, &req);
    if (wait_req(&req, &st, now_s() + d->timeout_s) != 0) {
        MPI_Cancel(&req);
        d->broken = true;
        return mm_err(err, "pipeline: no rows back from ranks 1..%d in %.0f s (positions %lld..%lld): a rank hung or "
                      "died ($MMGPT_MPI_TIMEOUT sets the limit)", d->size - 1, d->timeout_s, (long long)pos0,
                      (long long)(pos0 + n - 1));
    }
    msg_head h;
    memcpy(&h, d->in, sizeof h);
    if (h.cmd == CMD_FAIL) {
        d->broken = true;
        return mm_err(err, "%.*s", MM_ERR_SIZE - 1, (const char *)(d->in + sizeof h));
    }
    if (h.cmd != CMD_ROWS || h.n != n || h.pos0 != pos0 || h.seq != d->seq_recv) {
        d->broken = true;
        return mm_err(err, "pipeline: rank %d returned message %lld (%lld rows at %lld), expected %lld (%lld at %lld)",
                      d->size - 1, (long long)h.seq, (long long)h.n, (long long)h.pos0, (long long)d->seq_recv,
                      (long long)n, (long long)pos0);
    }
    d->seq_recv++;
    memcpy(x, d->in + sizeof h, (size_t)n * (size_t)d->d_model * sizeof(float));
    return 0;
}

bool mm_dist_joined(const mm_dist *d) { return d && d->joined; }

static int join(mm_dist *d, const mm_gguf *g, mm_gpt_model *m, const char *spec, int status, char *err);

int mm_dist_join(mm_dist *d, const mm_gguf *g, mm_gpt_model *m, const char *spec, int status, char *err) {
    if (d->joined) return mm_err(err, "%s: this rank has joined already", __func__);
    d->joined = true;
    int rc = join(d, g, m, spec, status, err);
    d->join_failed = rc != 0;
    return rc;
}

static int join(mm_dist *d, const mm_gguf *g, mm_gpt_model *m, const char *spec, int status, char *err) {
    /* 1. did every rank load? the lowest failing rank's message goes to rank 0 */
    char msg[MM_ERR_SIZE] = "";
    if (status != 0 || !m) snprintf(msg, sizeof msg, "rank %d: %s", d->rank, err && *err ? err : "failed");
    int bad = msg[0] ? d->rank : d->size, first_bad;
    MPI_Allreduce(&bad, &first_bad, 1, MPI_INT, MPI_MIN, d->comm);
    if (first_bad < d->size) {
        if (first_bad != 0) { /* rank 0 gets that rank's message */
            if (d->rank == first_bad) MPI_Send(msg, MM_ERR_SIZE, MPI_CHAR, 0, TAG_PIPE, d->comm);
            if (d->rank == 0) MPI_Recv(msg, MM_ERR_SIZE, MPI_CHAR, first_bad, TAG_PIPE, d->comm, MPI_STATUS_IGNORE);
        }
        msg[MM_ERR_SIZE - 1] = 0;
        if (d->rank == 0) return mm_err(err, "%s", msg);
        return mm_err(err, "rank %d: stopping: rank %d failed to load", d->rank, first_bad);
    }
    /* 2. same model shape everywhere */
    const mm_gpt_hparams *hp = mm_gpt_model_hparams(m);
    int64_t shape[2] = {hp->d_model, hp->n_layer}, shape0[2] = {hp->d_model, hp->n_layer};
    MPI_Bcast(shape0, 2, MPI_INT64_T, 0, d->comm);
    int mismatch = shape0[0] != shape[0] || shape0[1] != shape[1], any;
    MPI_Allreduce(&mismatch, &any, 1, MPI_INT, MPI_MAX, d->comm);
    if (any) return mm_err(err, "the ranks' model files differ in d_model or block_count");
    d->d_model = hp->d_model;
    d->n_layer = hp->n_layer;
    /* 3. rank 0 splits, everyone gets the split */
    d->first = calloc((size_t)d->size + 1, sizeof *d->first);
    int rc = d->first ? 0 : mm_err(err, "%s: out of memory", __func__);
    if (d->rank == 0 && rc == 0) {
        if (d->size > hp->n_layer) {
            rc = mm_err(err, "%d ranks for %lld layers: every rank needs at least one layer", d->size, (long long)hp->n_layer);
        } else if (spec) {
            rc = mm_dist_split_parse(spec, hp->n_layer, d->size, d->first, err);
        } else {
            double *cost = malloc(sizeof(double) * (size_t)hp->n_layer), extra = 0;
            rc = cost ? file_costs(g, hp->n_layer, cost, &extra) : mm_err(err, "%s: out of memory", __func__);
            if (rc == 0) rc = mm_dist_split_balanced(cost, hp->n_layer, extra, d->size, d->first, err);
            free(cost);
        }
        if (rc != 0) d->first[0] = -1; /* tells the others */
    }
    MPI_Bcast(d->first ? d->first : (int64_t[2]){-1, 0}, d->first ? d->size + 1 : 1, MPI_INT64_T, 0, d->comm);
    if (rc != 0) return -1;
    if (d->first[0] != 0) return mm_err(err, "rank %d: stopping: rank 0 could not split the layers", d->rank);
    /* 4. buffers, and this rank's layers in its model */
    d->msg_bytes = sizeof(msg_head) + (size_t)N_BATCH_MAX * (size_t)d->d_model * sizeof(float);
    if (d->msg_bytes < sizeof(msg_head) + MM_ERR_SIZE) d->msg_bytes = sizeof(msg_head) + MM_ERR_SIZE;
    d->n_out = d->rank == 0 ? d->size : 2;
    d->out = calloc((size_t)d->n_out, sizeof *d->out);
    d->in = malloc(d->msg_bytes);
    bool ok = d->out && d->in;
    for (int i = 0; ok && i < d->n_out; i++) ok = (d->out[i].buf = malloc(d->msg_bytes)) != NULL;
    if (!ok) return mm_err(err, "rank %d: out of memory for the pipeline's buffers", d->rank);
    mm_gpt_pipeline p = {.layer_begin = d->first[d->rank], .layer_end = d->first[d->rank + 1]};
    if (d->rank == 0) {
        p.send = pipe_send;
        p.recv = pipe_recv;
        p.window = d->size;
        p.user = d;
    }
    return mm_gpt_model_set_pipeline(m, &p, err);
}

/* ---- ranks > 0 */
static int fwd_send(mm_dist *d, const msg_head *h, const void *payload, size_t bytes) {
    const int to = d->rank + 1 < d->size ? d->rank + 1 : 0;
    slot *s = &d->out[d->next_out];
    if (s->busy) wait_req(&s->req, MPI_STATUS_IGNORE, 0);
    memcpy(s->buf, h, sizeof *h);
    if (bytes) memcpy(s->buf + sizeof *h, payload, bytes);
    MPI_Isend(s->buf, (int)(sizeof *h + bytes), MPI_BYTE, to, TAG_PIPE, d->comm, &s->req);
    s->busy = true;
    d->next_out = (d->next_out + 1) % d->n_out;
    return 0;
}

int mm_dist_serve(mm_dist *d, mm_gpt_state *s, char *err) {
    if (d->rank == 0) return mm_err(err, "%s: rank 0 drives the pipeline, it does not serve", __func__);
    bool failed = false;
    for (;;) {
        MPI_Request req;
        MPI_Status st;
        MPI_Irecv(d->in, (int)d->msg_bytes, MPI_BYTE, d->rank - 1, TAG_PIPE, d->comm, &req);
        wait_req(&req, &st, 0); /* idle while rank 0 waits for its user; mpirun ends us if rank 0 dies */
        msg_head h;
        memcpy(&h, d->in, sizeof h);
        if (h.cmd == CMD_STOP) {
            if (d->rank + 1 < d->size) fwd_send(d, &h, NULL, 0);
            break;
        }
        if (h.cmd == CMD_FAIL) { /* an earlier rank failed: pass its message on */
            fwd_send(d, &h, d->in + sizeof h, MM_ERR_SIZE);
            continue;
        }
        if (failed) { /* we failed earlier: our message instead of rows */
            h.cmd = CMD_FAIL;
            fwd_send(d, &h, d->fail_msg, MM_ERR_SIZE);
            continue;
        }
        float *x = (float *)(d->in + sizeof h);
        char e[MM_ERR_SIZE];
        int rc = h.cmd != CMD_ROWS || h.n < 1 || h.n > N_BATCH_MAX
                     ? mm_err(e, "bad message (command %d, %lld rows)", h.cmd, (long long)h.n)
                     : mm_gpt_eval_layers(s, x, h.n, h.pos0, e);
        if (rc != 0) {
            snprintf(d->fail_msg, sizeof d->fail_msg, "rank %d (layers %lld-%lld): %.400s", d->rank,
                     (long long)d->first[d->rank], (long long)d->first[d->rank + 1] - 1, e);
            h.cmd = CMD_FAIL;
            fwd_send(d, &h, d->fail_msg, MM_ERR_SIZE);
            failed = true;
            if (err) snprintf(err, MM_ERR_SIZE, "%s", d->fail_msg);
            continue;
        }
        fwd_send(d, &h, x, (size_t)h.n * (size_t)d->d_model * sizeof(float));
    }
    for (int i = 0; i < d->n_out; i++)
        if (d->out[i].busy) wait_req(&d->out[i].req, MPI_STATUS_IGNORE, now_s() + 10), d->out[i].busy = false;
    return failed ? -1 : 0;
}

static void stop_workers(mm_dist *d) {
    msg_head h = {CMD_STOP, 0, 0, 0, d->seq_sent};
    slot *s = &d->out[d->next_out];
    if (s->busy) wait_req(&s->req, MPI_STATUS_IGNORE, now_s() + d->timeout_s);
    memcpy(s->buf, &h, sizeof h);
    MPI_Isend(s->buf, (int)sizeof h, MPI_BYTE, 1, TAG_PIPE, d->comm, &s->req);
    s->busy = true;
    for (int i = 0; i < d->n_out; i++)
        if (d->out[i].busy) wait_req(&d->out[i].req, MPI_STATUS_IGNORE, now_s() + d->timeout_s), d->out[i].busy = false;
}

int mm_dist_finish(mm_dist *d, int code) {
    if (!d || d->rank != 0 || d->size < 2 || d->stopped || d->join_failed) return code;
    d->stopped = true;
    if (!d->joined) { /* rank 0 failed before loading: the others are waiting in their join */
        char e[MM_ERR_SIZE];
        snprintf(e, sizeof e, "stopped before loading (exit code %d)", code);
        mm_dist_join(d, NULL, NULL, NULL, -1, e);
        return code;
    }
    if (d->broken || !d->out) MPI_Abort(d->comm, code ? code : 5); /* the ranks cannot be told: end them */
    stop_workers(d);
    return code;
}

void mm_dist_free(mm_dist *d) {
    if (!d) return;
    if (d->out)
        for (int i = 0; i < d->n_out; i++) free(d->out[i].buf);
    free(d->out);
    free(d->in);
    free(d->first);
    MPI_Comm_free(&d->comm);
    const bool fin = d->own_init;
    free(d);
    if (fin) MPI_Finalize();
}
