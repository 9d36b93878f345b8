// batcher.c: bounded queue -> batches -> workers (see batcher.h).
//
// Everything shared lives under one mutex (b->mu): the queue (a singly linked FIFO of jobs that
// still have series nobody took), each job's progress counters, and the workers' idle flags. The
// model runs outside the lock. The batcher thread sleeps on b->cv until a submit, a worker going
// idle, a drain, the next close time of a batch (oldest enqueue + max_delay) or the earliest
// deadline of a queued job.
//
// Batches: the head job's horizon picks the batch's horizon (one tft_forecast call, one horizon);
// the queue is walked in order and every FORECAST job of that horizon gives series until max_batch,
// so a request with more series than max_batch spans several batches (and several workers) and is
// done when its last slice is. Jobs of another horizon, and NET jobs, stay queued for the next batch.
// NET jobs run alone. Models with min_encoder_length == 0 run one series per call: the library's
// result for a series without history depends on its batch mates (TFT_SPEC.md §11.2), and the
// server's answers must equal the engine's on the series alone.
//
// Failures: tft_series_check / tft_net_check ran before submit (the workers' contexts are made with
// checked_input, so the engine does not scan the values again), so a batch fails only on what the
// computation shows (a finite value that scales to Inf, a non-finite forecast). Errors are answered
// from the engine's structured detail through errmap.h's table. Then the batch is re-run one request
// slice at a time, and a failing slice one series at a time, so exactly the bad request gets the
// error (with the index of its bad series) and the others their forecasts. The engine is batch
// invariant, so the re-run results are bitwise the batched ones.
//
// Deadlines: a queued job whose deadline passed is taken out and answered 504 "deadline_exceeded"
// (never computed; a job that spans batches loses its untaken series and answers 504 once its
// running slices end). 504, not 503: the server accepted the request and ran out of the time the
// client gave it, which is what a gateway timeout says; 503 stays "not accepted, retry later".
//
// Memory: each worker reserves at start its context (max_batch series), a [max_batch] copy of the
// batch's tft_series and the quantile output of max_batch series at the longest horizon; the
// interpretation outputs of a coalesced batch are reserved the first time one is needed. Nothing is
// allocated per request or per batch.
#include "batcher.h"
#include "errmap.h"
#include <errno.h>
#include <hwloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct slice {
    srv_job *job;
    int32_t  first, count; // series [first, first + count) of the job
} slice;

typedef struct werr { // an error found by a worker, applied to its job under the lock
    srv_job    *job;
    int         http;
    const char *code;
    int32_t     series;
    char        message[320];
    char        field[96];
} werr;

typedef struct worker {
    struct srv_batcher *b;
    int                 idx;
    pthread_t           th;
    int                 started;
    pthread_cond_t      cv;
    hwloc_bitmap_t      cpuset; // NULL: not pinned
    tft_context        *ctx;
    int                 ready;  // 1 context made, -1 failed (startup handshake)
    char                err[256];
    // the batch handed over by the batcher thread (under the lock)
    int                 has_batch;
    srv_job            *net_job;
    int32_t             nslices, nseries, horizon;
    slice              *slices; // [max_batch]
    tft_series         *series; // [max_batch]
    int64_t             t_start, t_end;
    // outputs of a coalesced batch
    float              *q;      // [max_batch, nt, Td_max, Q]
    int32_t            *elen;   // [max_batch]
    float              *att, *sw, *ew, *dw; // interpretation, reserved on first need
    int                 interp_failed;
    werr               *errs;   // [max_batch]
    int32_t             nerrs;
} worker;

struct srv_batcher {
    const tft_model      *m;
    const tft_model_info *mi;
    srv_batcher_config    cfg;
    srv_metrics          *met;
    pthread_mutex_t       mu;
    pthread_cond_t        cv;       // the batcher thread's wake-up (and the startup handshake)
    srv_job              *head, *tail;
    int32_t               queued;   // jobs in the queue
    int64_t               pending;  // untaken series of queued FORECAST jobs
    int32_t               busy;     // workers with a batch
    int                   draining, stop;
    pthread_t             th;
    int                   th_started;
    worker               *w;
    int32_t               nw;
    hwloc_topology_t      topo;
    int                   topo_ok;
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void logf_(srv_batcher *b, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void logf_(srv_batcher *b, int level, const char *fmt, ...) {
    if (!b->cfg.log) return;
    char    msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    b->cfg.log(level, msg);
}

// ---- queue (under b->mu) ---------------------------------------------------------------------------

static void q_remove(srv_batcher *b, srv_job *j, srv_job *prev) {
    if (prev) prev->qnext = j->qnext;
    else b->head = j->qnext;
    if (b->tail == j) b->tail = prev;
    j->qnext    = NULL;
    j->in_queue = 0;
    b->queued--;
    if (j->kind == SRV_JOB_FORECAST) b->pending -= j->n - j->taken;
    srv_metrics_gauge(&b->met->queue_depth, -1);
}

static int job_finished(const srv_job *j) { return !j->in_queue && j->inflight == 0; }

// Takes every queued job whose deadline passed out of the queue; finished ones go to *done.
static void expire(srv_batcher *b, int64_t now, srv_job **done) {
    srv_job *prev = NULL;
    for (srv_job *j = b->head, *next; j; j = next) {
        next = j->qnext;
        if (j->deadline_ns > now) {
            prev = j;
            continue;
        }
        q_remove(b, j, prev);
        if (!j->http) {
            j->http       = 504;
            j->code       = "deadline_exceeded";
            j->err_series = -1;
            j->field[0]   = 0;
            snprintf(j->message, sizeof j->message,
                     "the request's deadline passed while it waited in the queue (%d of its %d series were started)",
                     j->taken, j->n);
            srv_metrics_add(&b->met->rejected[SRV_REJ_DEADLINE], 1);
        }
        if (job_finished(j)) j->qnext = *done, *done = j;
    }
}

static int ready(const srv_batcher *b, int64_t now) {
    const srv_job *h = b->head;
    return h && (h->kind == SRV_JOB_NET || b->pending >= b->cfg.max_batch || b->draining ||
                 now >= h->t_enqueue_ns + b->cfg.max_delay_ns);
}

// Forms the next batch from the queue into worker w (idle).
static void dispatch(srv_batcher *b, worker *w, int64_t now) {
    srv_job *h = b->head;
    w->nslices = w->nseries = 0;
    w->net_job = NULL;
    w->nerrs   = 0;
    if (h->kind == SRV_JOB_NET) {
        q_remove(b, h, NULL);
        h->taken = h->n;
        h->inflight++;
        if (!h->t_start_ns) h->t_start_ns = now;
        w->net_job = h;
    } else {
        int32_t cap = b->mi->min_encoder_length == 0 ? 1 : b->cfg.max_batch; // see the top of this file
        w->horizon  = h->horizon;
        srv_job *prev = NULL;
        for (srv_job *j = h, *next; j && w->nseries < cap; j = next) {
            next = j->qnext;
            if (j->kind != SRV_JOB_FORECAST || j->horizon != w->horizon) {
                prev = j;
                continue;
            }
            int32_t take = j->n - j->taken;
            if (take > cap - w->nseries) take = cap - w->nseries;
            w->slices[w->nslices++] = (slice){j, j->taken, take};
            memcpy(w->series + w->nseries, j->series + j->taken, sizeof(tft_series) * (size_t)take);
            w->nseries += take;
            j->taken += take;
            b->pending -= take;
            j->inflight++;
            if (!j->t_start_ns) j->t_start_ns = now;
            if (j->taken == j->n) q_remove(b, j, prev); // (it subtracts n - taken = 0 from pending)
            else prev = j;
        }
    }
    w->has_batch = 1;
    b->busy++;
    srv_metrics_gauge(&b->met->workers_busy, 1);
    pthread_cond_signal(&w->cv);
}

static void run_done(srv_job *list) {
    for (srv_job *j = list, *next; j; j = next) {
        next = j->qnext; // read before done: done may recycle j
        j->qnext = NULL;
        j->done(j);
    }
}

static void *batcher_main(void *arg) {
    srv_batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        int64_t  now  = now_ns();
        srv_job *done = NULL;
        expire(b, now, &done);
        for (int32_t i = 0; i < b->nw && ready(b, now); i++)
            if (!b->w[i].has_batch) dispatch(b, &b->w[i], now);
        if (done) {
            pthread_mutex_unlock(&b->mu);
            run_done(done);
            pthread_mutex_lock(&b->mu);
            continue;
        }
        if (b->stop) break;
        // next wake-up: the earliest deadline, and the head's batch close time if a worker is idle
        int64_t wake = INT64_MAX;
        for (srv_job *j = b->head; j; j = j->qnext)
            if (j->deadline_ns < wake) wake = j->deadline_ns;
        if (b->head && b->busy < b->nw && !ready(b, now) && b->head->t_enqueue_ns + b->cfg.max_delay_ns < wake)
            wake = b->head->t_enqueue_ns + b->cfg.max_delay_ns;
        if (wake == INT64_MAX) {
            pthread_cond_wait(&b->cv, &b->mu);
        } else {
            struct timespec ts = {(time_t)(wake / 1000000000), (long)(wake % 1000000000)};
            pthread_cond_timedwait(&b->cv, &b->mu, &ts);
        }
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

// ---- workers ---------------------------------------------------------------------------------------

// Records the engine's error e for job j: its answer from the one table (errmap.h), the series it is
// about numbered in the request (base: the request index of the call's series 0; -1: a NET job,
// whose rows are the request's), the field, and the message in the request's terms: the engine's
// reason, after "series N 'ID': " with N the request's index (the engine numbers in the call).
static void add_err(worker *w, srv_job *j, const tft_error *e, int32_t base) {
    werr       *x      = &w->errs[w->nerrs++];
    const char *reason = e->message + e->reason_at;
    x->job    = j;
    x->http   = srv_error_http(e, &x->code);
    x->series = e->series >= 0 && base >= 0 ? base + e->series : -1;
    snprintf(x->field, sizeof x->field, "%s", e->field);
    if (x->series >= 0 && j->kind == SRV_JOB_FORECAST) {
        const char *id = j->series[x->series].id ? j->series[x->series].id : "";
        snprintf(x->message, sizeof x->message, "series %d '%s': %s", x->series, id, reason);
    } else {
        snprintf(x->message, sizeof x->message, "%s", reason);
    }
}

// Output pointers of series [first, first + count) of job j (its own buffers, horizon T).
static tft_forecast_output job_out(const srv_batcher *b, const srv_job *j, int32_t first) {
    const tft_model_info *mi = b->mi;
    size_t T = (size_t)j->horizon, Tm = (size_t)mi->max_encoder_length, f = (size_t)first;
    size_t per = (size_t)mi->n_targets * T * mi->n_quantiles;
    tft_forecast_output o = {.quantiles = j->out.quantiles + f * per, .encoder_lengths = j->out.encoder_lengths + f};
    if (j->out.attention) o.attention = j->out.attention + f * T * mi->n_heads * (Tm + T);
    if (j->out.static_weights) o.static_weights = j->out.static_weights + f * mi->n_static_vars;
    if (j->out.encoder_weights) o.encoder_weights = j->out.encoder_weights + f * Tm * mi->n_encoder_vars;
    if (j->out.decoder_weights) o.decoder_weights = j->out.decoder_weights + f * T * mi->n_decoder_vars;
    return o;
}

// Series [at, at + n) of the batch, written straight into slice s's job (at = the slice's batch offset).
static tft_status run_direct(worker *w, const slice *s, int32_t at, int32_t off, int32_t n) {
    tft_forecast_output o = job_out(w->b, s->job, s->first + off);
    return tft_forecast(w->ctx, w->series + at + off, n, &o);
}

// A slice alone; if it fails, its series one at a time to name the bad one (and keep the others).
static void run_slice(worker *w, const slice *s, int32_t at) {
    if (run_direct(w, s, at, 0, s->count) == TFT_OK) return;
    tft_error first = *tft_last_error_detail();
    for (int32_t i = 0; i < s->count; i++) {
        if (run_direct(w, s, at, i, 1) != TFT_OK) {
            add_err(w, s->job, tft_last_error_detail(), s->first + i);
            return;
        }
    }
    // failed together, passed alone: should not happen (the engine is batch invariant); a 500
    first.code = TFT_E_GENERIC, first.series = -1;
    add_err(w, s->job, &first, -1);
}

static int reserve_interp(worker *w) {
    if (w->att) return 0;
    if (w->interp_failed) return -1;
    const tft_model_info *mi = w->b->mi;
    size_t B = (size_t)w->b->cfg.max_batch, Td = (size_t)mi->max_prediction_length, Tm = (size_t)mi->max_encoder_length;
    w->att = malloc(sizeof(float) * B * Td * mi->n_heads * (Tm + Td));
    w->sw  = malloc(sizeof(float) * (B * mi->n_static_vars + 1));
    w->ew  = malloc(sizeof(float) * (B * Tm * mi->n_encoder_vars + 1));
    w->dw  = malloc(sizeof(float) * (B * Td * mi->n_decoder_vars + 1));
    if (w->att && w->sw && w->ew && w->dw) return 0;
    free(w->att), free(w->sw), free(w->ew), free(w->dw);
    w->att = w->sw = w->ew = w->dw = NULL;
    w->interp_failed = 1;
    return -1;
}

static void run_forecast(worker *w) {
    srv_batcher          *b  = w->b;
    const tft_model_info *mi = b->mi;
    if (w->nslices == 1) { // one request: no copies
        run_slice(w, &w->slices[0], 0);
        return;
    }
    int interp = 0;
    for (int32_t i = 0; i < w->nslices; i++) interp |= w->slices[i].job->out.attention != NULL ||
                                                      w->slices[i].job->out.static_weights != NULL ||
                                                      w->slices[i].job->out.encoder_weights != NULL ||
                                                      w->slices[i].job->out.decoder_weights != NULL;
    tft_status st = TFT_ERR_BACKEND;
    if (!interp || reserve_interp(w) == 0) {
        tft_forecast_output o = {.quantiles = w->q, .encoder_lengths = w->elen};
        if (interp) {
            o.attention = w->att, o.static_weights = w->sw;
            o.encoder_weights = w->ew, o.decoder_weights = w->dw;
        }
        st = tft_forecast(w->ctx, w->series, w->nseries, &o);
    }
    size_t T = (size_t)w->horizon, Tm = (size_t)mi->max_encoder_length;
    size_t per = (size_t)mi->n_targets * T * mi->n_quantiles, pa = T * mi->n_heads * (Tm + T);
    size_t ps = (size_t)mi->n_static_vars, pe = Tm * mi->n_encoder_vars, pd = T * mi->n_decoder_vars;
    int32_t at = 0;
    if (st != TFT_OK) srv_metrics_add(&b->met->batch_retries, 1);
    for (int32_t i = 0; i < w->nslices; i++) {
        const slice *s = &w->slices[i];
        if (st != TFT_OK) {
            run_slice(w, s, at);
        } else { // copy the slice's rows out of the batch
            tft_forecast_output d = job_out(b, s->job, s->first);
            size_t              c = (size_t)s->count, a = (size_t)at;
            memcpy(d.quantiles, w->q + a * per, sizeof(float) * c * per);
            memcpy(d.encoder_lengths, w->elen + a, sizeof(int32_t) * c);
            if (d.attention) memcpy(d.attention, w->att + a * pa, sizeof(float) * c * pa);
            if (d.static_weights && ps) memcpy(d.static_weights, w->sw + a * ps, sizeof(float) * c * ps);
            if (d.encoder_weights && pe) memcpy(d.encoder_weights, w->ew + a * pe, sizeof(float) * c * pe);
            if (d.decoder_weights && pd) memcpy(d.decoder_weights, w->dw + a * pd, sizeof(float) * c * pd);
        }
        at += s->count;
    }
}

static void sleep_ms(int32_t ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

// Applies the batch's outcome to its jobs (under the lock); finished jobs go to *done.
static void finish_batch(srv_batcher *b, worker *w, srv_job **done) {
    for (int32_t i = 0; i < w->nerrs; i++) {
        werr    *e = &w->errs[i];
        srv_job *j = e->job;
        if (j->http) continue; // the first error of a job wins
        j->http       = e->http;
        j->code       = e->code;
        j->err_series = e->series;
        snprintf(j->message, sizeof j->message, "%s", e->message);
        snprintf(j->field, sizeof j->field, "%s", e->field);
        if (j->in_queue) { // its other series are moot now
            srv_job *prev = NULL;
            for (srv_job *x = b->head; x && x != j; x = x->qnext) prev = x;
            q_remove(b, j, prev);
        }
    }
    int32_t n = w->net_job ? 1 : w->nslices;
    for (int32_t i = 0; i < n; i++) {
        srv_job *j = w->net_job ? w->net_job : w->slices[i].job;
        if (w->t_end > j->t_end_ns) j->t_end_ns = w->t_end;
        j->inflight--;
        if (job_finished(j)) j->qnext = *done, *done = j;
    }
    w->has_batch = 0;
    w->net_job   = NULL;
    b->busy--;
    srv_metrics_gauge(&b->met->workers_busy, -1);
}

// The warmup (srv_batcher_config.warmup): tft_predict_net on n = 1, 2, 4, ..., max_batch rows of
// zeros (encoded categoricals 0, target scale (0, 1), every row full length), which touches every
// page of the context's workspace the series path uses too, and the worker's own output buffers. A
// failure is only logged: the worker serves anyway, cold.
static void warm_up(worker *w) {
    srv_batcher          *b  = w->b;
    const tft_model_info *mi = b->mi;
    size_t B = (size_t)b->cfg.max_batch, Te = (size_t)mi->max_encoder_length, Td = (size_t)mi->max_prediction_length;
    size_t nt = (size_t)mi->n_targets, rows = B * (Te + Td);
    float   *cont  = calloc(rows * (size_t)mi->n_reals + 1, sizeof *cont);
    int32_t *cat   = calloc(rows * (size_t)mi->n_cats + 1, sizeof *cat);
    int32_t *len   = malloc(2 * B * sizeof *len);
    float   *scale = malloc(2 * B * nt * sizeof *scale);
    float   *pred  = malloc(B * nt * Td * (size_t)mi->n_quantiles * sizeof *pred);
    tft_status st  = TFT_ERR_NOMEM;
    if (cont && cat && len && scale && pred) {
        for (size_t i = 0; i < B; i++) len[i] = (int32_t)Te, len[B + i] = (int32_t)Td;
        for (size_t i = 0; i < B * nt; i++) scale[2 * i] = 0.0f, scale[2 * i + 1] = 1.0f;
        for (size_t n = 1;; n = 2 * n < B ? 2 * n : B) {
            tft_net_input  in  = {.n               = (int32_t)n,
                                  .enc_steps       = (int32_t)Te,
                                  .dec_steps       = (int32_t)Td,
                                  .encoder_cat     = cat,
                                  .encoder_cont    = cont,
                                  .decoder_cat     = cat + n * Te * (size_t)mi->n_cats,
                                  .decoder_cont    = cont + n * Te * (size_t)mi->n_reals,
                                  .encoder_lengths = len,
                                  .decoder_lengths = len + B,
                                  .target_scale    = scale};
            tft_net_output out = {.prediction = pred};
            if ((st = tft_predict_net(w->ctx, &in, &out)) != TFT_OK) break;
            srv_metrics_add(&b->met->warmup_forwards, 1);
            if (n == B) break;
        }
        memset(w->q, 0, B * nt * Td * (size_t)mi->n_quantiles * sizeof *w->q);
        memset(w->elen, 0, B * sizeof *w->elen);
    }
    if (st != TFT_OK)
        logf_(b, TFT_LOG_WARN, "worker %d: warmup failed (%s); it serves without", w->idx,
              st == TFT_ERR_NOMEM ? "out of memory" : tft_last_error());
    free(cont), free(cat), free(len), free(scale), free(pred);
}

static void *worker_main(void *arg) {
    worker      *w = arg;
    srv_batcher *b = w->b;
    if (w->cpuset && hwloc_set_cpubind(b->topo, w->cpuset, HWLOC_CPUBIND_THREAD) != 0)
        logf_(b, TFT_LOG_WARN, "worker %d: cannot pin to its core (%s); running unpinned", w->idx, strerror(errno));
    // the context after the binding: its pages are first touched on the worker's core
    tft_context_params cp = tft_context_default_params();
    cp.max_batch          = b->cfg.max_batch;
    cp.n_threads          = 1;
    cp.checked_input      = 1; // every request passed tft_series_check / tft_net_check on the I/O thread
    cp.max_memory_mib     = b->cfg.max_context_mib;
    tft_status st         = tft_context_new(b->m, &cp, &w->ctx);
    if (st != TFT_OK) snprintf(w->err, sizeof w->err, "%s", tft_last_error());
    else if (b->cfg.warmup) warm_up(w);
    pthread_mutex_lock(&b->mu);
    w->ready = st == TFT_OK ? 1 : -1;
    pthread_cond_broadcast(&b->cv);
    if (st != TFT_OK) {
        pthread_mutex_unlock(&b->mu);
        return NULL;
    }
    for (;;) {
        while (!w->has_batch && !b->stop) pthread_cond_wait(&w->cv, &b->mu);
        if (!w->has_batch) break;
        pthread_mutex_unlock(&b->mu);

        if (b->cfg.test_delay_ms > 0) sleep_ms(b->cfg.test_delay_ms);
        w->t_start = now_ns();
        int32_t nseries;
        if (w->net_job) {
            srv_job *j = w->net_job;
            nseries    = j->n;
            st         = tft_predict_net(w->ctx, j->net_in, &j->net_out);
            if (st != TFT_OK) add_err(w, j, tft_last_error_detail(), 0);
        } else {
            nseries = w->nseries;
            run_forecast(w);
        }
        w->t_end = now_ns();
        srv_metrics_batch(b->met, nseries);

        srv_job *done = NULL;
        pthread_mutex_lock(&b->mu);
        finish_batch(b, w, &done);
        pthread_cond_signal(&b->cv); // an idle worker: maybe a batch to close
        if (done) {
            pthread_mutex_unlock(&b->mu);
            run_done(done);
            pthread_mutex_lock(&b->mu);
        }
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

// ---- lifecycle -------------------------------------------------------------------------------------

// Picks each worker's core: with more cores than workers, core 0 is left to the HTTP and batcher
// threads and worker i gets core i + 1; with as many, worker i gets core i; with fewer, nobody is
// pinned (a warning: two pinned workers on one core would only take turns).
static void plan_pinning(srv_batcher *b) {
    if (!b->cfg.pin) return;
    if (hwloc_topology_init(&b->topo) != 0) return;
    if (hwloc_topology_load(b->topo) != 0) {
        hwloc_topology_destroy(b->topo);
        return;
    }
    b->topo_ok  = 1;
    int type    = HWLOC_OBJ_CORE;
    int ncores  = hwloc_get_nbobjs_by_type(b->topo, HWLOC_OBJ_CORE);
    if (ncores <= 0) type = HWLOC_OBJ_PU, ncores = hwloc_get_nbobjs_by_type(b->topo, HWLOC_OBJ_PU);
    if (ncores < b->nw) {
        logf_(b, TFT_LOG_WARN, "%d workers but %d cores: workers are not pinned", b->nw, ncores);
        return;
    }
    int base = ncores > b->nw ? 1 : 0;
    for (int32_t i = 0; i < b->nw; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(b->topo, (hwloc_obj_type_t)type, (unsigned)(i + base));
        if (!o || !o->cpuset) continue;
        b->w[i].cpuset = hwloc_bitmap_dup(o->cpuset);
        if (b->w[i].cpuset) hwloc_bitmap_singlify(b->w[i].cpuset);
    }
    logf_(b, TFT_LOG_INFO, "%d workers pinned to cores %d..%d of %d", b->nw, base, base + b->nw - 1, ncores);
}

srv_batcher *srv_batcher_new(const tft_model *m, const srv_batcher_config *cfg, srv_metrics *met, char *err,
                             size_t errsz) {
    srv_batcher *b = calloc(1, sizeof *b);
    if (!b) return snprintf(err, errsz, "out of memory"), NULL;
    b->m = m, b->mi = tft_model_get_info(m), b->cfg = *cfg, b->met = met;
    b->nw = cfg->workers;
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    b->w = calloc((size_t)b->nw, sizeof *b->w);
    if (!b->w) goto oom;
    plan_pinning(b);
    const tft_model_info *mi = b->mi;
    size_t B = (size_t)cfg->max_batch, per = (size_t)mi->n_targets * mi->max_prediction_length * mi->n_quantiles;
    for (int32_t i = 0; i < b->nw; i++) {
        worker *w = &b->w[i];
        w->b = b, w->idx = i;
        pthread_cond_init(&w->cv, NULL);
        w->slices = calloc(B, sizeof *w->slices);
        w->series = calloc(B, sizeof *w->series);
        w->errs   = calloc(B, sizeof *w->errs);
        w->q      = malloc(sizeof(float) * B * per);
        w->elen   = malloc(sizeof(int32_t) * B);
        if (!w->slices || !w->series || !w->errs || !w->q || !w->elen) goto oom;
    }
    for (int32_t i = 0; i < b->nw; i++) {
        if (pthread_create(&b->w[i].th, NULL, worker_main, &b->w[i]) != 0) {
            snprintf(err, errsz, "cannot start worker thread %d", i);
            goto fail;
        }
        b->w[i].started = 1;
    }
    pthread_mutex_lock(&b->mu); // wait until every worker made its context (or failed)
    for (int32_t i = 0; i < b->nw; i++) {
        while (b->w[i].ready == 0) pthread_cond_wait(&b->cv, &b->mu);
        if (b->w[i].ready < 0) {
            pthread_mutex_unlock(&b->mu);
            snprintf(err, errsz, "worker %d could not make its context: %s", i, b->w[i].err);
            goto fail;
        }
    }
    pthread_mutex_unlock(&b->mu);
    if (pthread_create(&b->th, NULL, batcher_main, b) != 0) {
        snprintf(err, errsz, "cannot start the batcher thread");
        goto fail;
    }
    b->th_started = 1;
    return b;
oom:
    snprintf(err, errsz, "out of memory for the batcher");
fail:
    srv_batcher_free(b);
    return NULL;
}

int srv_batcher_submit(srv_batcher *b, srv_job *j) {
    j->http = 0, j->code = NULL, j->err_series = -1, j->message[0] = 0, j->field[0] = 0;
    j->t_start_ns = j->t_end_ns = 0;
    j->qnext = NULL, j->taken = 0, j->inflight = 0;
    pthread_mutex_lock(&b->mu);
    int rc = SRV_SUBMIT_OK;
    if (b->stop) rc = SRV_SUBMIT_DRAINING; // (a drain still takes jobs: their requests were admitted before it)
    else if (b->queued >= b->cfg.queue_cap) rc = SRV_SUBMIT_FULL;
    if (rc == SRV_SUBMIT_OK) {
        j->t_enqueue_ns = now_ns();
        j->in_queue     = 1;
        if (b->tail) b->tail->qnext = j;
        else b->head = j;
        b->tail = j;
        b->queued++;
        if (j->kind == SRV_JOB_FORECAST) b->pending += j->n;
        srv_metrics_gauge(&b->met->queue_depth, 1);
        pthread_cond_signal(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

int srv_batcher_full(srv_batcher *b) {
    pthread_mutex_lock(&b->mu);
    int full = b->queued >= b->cfg.queue_cap;
    pthread_mutex_unlock(&b->mu);
    return full;
}

void srv_batcher_drain(srv_batcher *b) {
    pthread_mutex_lock(&b->mu);
    b->draining = 1;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

int srv_batcher_idle(srv_batcher *b) {
    pthread_mutex_lock(&b->mu);
    int idle = b->queued == 0 && b->busy == 0;
    pthread_mutex_unlock(&b->mu);
    return idle;
}

void srv_batcher_free(srv_batcher *b) {
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_broadcast(&b->cv);
    for (int32_t i = 0; b->w && i < b->nw; i++) pthread_cond_signal(&b->w[i].cv);
    pthread_mutex_unlock(&b->mu);
    if (b->th_started) pthread_join(b->th, NULL);
    for (int32_t i = 0; b->w && i < b->nw; i++) {
        worker *w = &b->w[i];
        if (w->started) pthread_join(w->th, NULL);
        tft_context_free(w->ctx);
        pthread_cond_destroy(&w->cv);
        if (w->cpuset) hwloc_bitmap_free(w->cpuset);
        free(w->slices), free(w->series), free(w->errs), free(w->q), free(w->elen);
        free(w->att), free(w->sw), free(w->ew), free(w->dw);
    }
    if (b->queued) logf_(b, TFT_LOG_ERROR, "batcher stopped with %d requests queued", b->queued);
    free(b->w);
    if (b->topo_ok) hwloc_topology_destroy(b->topo);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}
