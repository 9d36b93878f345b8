// batcher.h: the bounded request queue, the batcher thread and the worker threads of tft-server.
//
// A job is one request: FORECAST (n series of one horizon, run with tft_forecast, coalesced with
// other requests' series of the same horizon) or NET (a KServe v2 infer: one tft_net_input run as is
// with tft_predict_net, never coalesced). The submitter (the HTTP I/O thread) owns the job's memory
// and its inputs and outputs; the batcher only reads the inputs and writes the outputs, and calls
// job->done exactly once when every series is computed or the job failed. After done returns the
// batcher never touches the job again (done typically resumes the HTTP connection, whose memory
// holds the job).
//
// Threads: one batcher thread closes batches (at max_batch series, after max_delay from the oldest
// queued request, or at once while draining) and hands each to an idle worker; it also answers jobs
// whose deadline passes while queued (504, never computed). Each worker owns one tft_context (made
// on its own thread after it is pinned to a core with hwloc, so its pages land on that core's node).
//
// Usage:
//   srv_batcher *b = srv_batcher_new(model, &cfg, &metrics, err, sizeof err);
//   job->kind = SRV_JOB_FORECAST; ...; job->done = on_done;
//   if (srv_batcher_submit(b, job) != SRV_SUBMIT_OK) { answer 503 }
//   ... srv_batcher_drain(b); while (!srv_batcher_idle(b)) wait; srv_batcher_free(b);
#ifndef TFT_SERVER_BATCHER_H
#define TFT_SERVER_BATCHER_H
#include <stdint.h>
#include "../engine/tft.h"
#include "metrics.h"

typedef enum srv_job_kind { SRV_JOB_FORECAST = 1, SRV_JOB_NET = 2 } srv_job_kind;

typedef struct srv_job srv_job;
struct srv_job {
    // ---- set by the submitter ----
    srv_job_kind         kind;
    int32_t              n;           // series (FORECAST) or rows of net_in (NET, <= max_batch)
    const tft_series    *series;      // FORECAST [n]
    int32_t              horizon;     // FORECAST: every series' horizon, resolved (> 0)
    tft_forecast_output  out;         // FORECAST: [n, ...] (quantiles, encoder_lengths required)
    const tft_net_input *net_in;      // NET
    tft_net_output       net_out;     // NET
    int64_t              deadline_ns; // CLOCK_MONOTONIC; past it a queued job is answered 504
    void (*done)(srv_job *j);         // once, on a worker or the batcher thread
    void                *user;
    // ---- results, valid in done ----
    int         http;         // 0 = computed; else 422, 500 or 504
    const char *code;         // e.g. "non_finite_output", "deadline_exceeded"
    int32_t     err_series;   // the request's series index, or -1
    char        message[320];
    char        field[96];    // the offending input, or ""
    int64_t     t_enqueue_ns, t_start_ns, t_end_ns; // queued; first batch started; last batch ended
    // ---- the batcher's (under its lock) ----
    srv_job *qnext;
    int32_t  taken, inflight, in_queue;
};

typedef struct srv_batcher_config {
    int32_t workers;       // threads, each with its own tft_context
    int32_t max_batch;     // series per model call
    int32_t queue_cap;     // requests waiting (not yet fully taken by a worker)
    int64_t max_delay_ns;  // how long the oldest queued request may wait for company
    int32_t pin;           // 1: pin each worker to a core (hwloc); fewer cores than workers is a warning
    int32_t test_delay_ms; // TEST ONLY (TFT_SERVER_TEST_BATCH_DELAY_MS): each batch waits this long first
    int32_t max_context_mib; // each worker context's workspace limit (tft_context_params.max_memory_mib)
    int32_t warmup;          // 1: each worker runs one forward per batch-size bucket (1, 2, 4, ...,
                             // max_batch) on zero inputs before the batcher starts (srv_batcher_new
                             // returns after them), so the first request does not pay the first
                             // touch of the workspace
    void (*log)(int level, const char *msg); // level: tft_log_level
} srv_batcher_config;

typedef struct srv_batcher srv_batcher;

// Starts the batcher and the workers (and waits until every context is made). NULL + err on failure.
srv_batcher *srv_batcher_new(const tft_model *m, const srv_batcher_config *cfg, srv_metrics *met, char *err,
                             size_t errsz);
enum { SRV_SUBMIT_OK = 0, SRV_SUBMIT_FULL = 1, SRV_SUBMIT_DRAINING = 2 };
int  srv_batcher_submit(srv_batcher *b, srv_job *j); // stamps t_enqueue_ns; OK, FULL or DRAINING
int  srv_batcher_full(srv_batcher *b);               // a cheap look (no guarantee for a submit after it)
void srv_batcher_drain(srv_batcher *b);              // run queued jobs without the batching delay (the
                                                     // HTTP layer stops admitting; late submits still run)
int  srv_batcher_idle(srv_batcher *b);               // nothing queued, nothing running
void srv_batcher_free(srv_batcher *b);               // stops the threads (after a drain: nothing is queued)

#endif
