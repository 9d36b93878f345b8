// metrics.h: the server's counters, gauges and histograms, written as Prometheus text (GET /metrics).
//
// Every field is a C11 atomic updated with relaxed ordering: any thread may count (the I/O thread at
// request end, the batcher and the workers per batch) without a lock, and a scrape reads each value
// once. A scrape is therefore not a consistent snapshot across metrics (a request may show in the
// latency histogram before its status counter); Prometheus tolerates that.
//
// Exposed names (all prefixed tft_):
//   tft_http_requests_total{endpoint,code}       counter   requests answered, by endpoint and status
//   tft_http_request_duration_seconds{endpoint}  histogram headers in -> response handed to the socket
//   tft_batch_size                               histogram series per tft_forecast / tft_predict_net call
//   tft_queue_depth                              gauge     requests waiting in the batcher's queue
//   tft_workers_busy / tft_workers               gauge     workers running a batch / configured
//   tft_rejected_total{reason}                   counter   queue_full, deadline, draining
//   tft_stage_seconds_total{stage}               counter   parse, queue, compute, serialize (summed per request)
//   tft_series_total / tft_batches_total         counter   series computed, batches run
//   tft_batch_retries_total                      counter   batches that failed and were re-run request by request
//   tft_warmup_forwards_total                    counter   warmup forwards run by workers as models load
//   tft_model_info{name,version,sha256}          gauge     1
//   tft_fleet_*                                  fleet mode's counters (--fleet; fleet_write_metrics, API.md)
#ifndef TFT_SERVER_METRICS_H
#define TFT_SERVER_METRICS_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum srv_endpoint {
    SRV_EP_FORECAST, // POST /v1/forecast
    SRV_EP_MODELS,   // GET /v1/models[/NAME]
    SRV_EP_V2_INFER, // POST /v2/models/NAME[/versions/V]/infer
    SRV_EP_V2_META,  // GET /v2, /v2/models/NAME[...], /v2/models/NAME/ready
    SRV_EP_HEALTH,   // GET /v2/health/live|ready
    SRV_EP_METRICS,  // GET /metrics
    SRV_EP_FLEET,    // fleet mode: /v1/fleet/..., /metrics/forecasts (server/fleet_http.h)
    SRV_EP_OTHER,    // everything else (404s, 405s ...)
    SRV_EP_COUNT
} srv_endpoint;

typedef enum srv_reject { SRV_REJ_QUEUE_FULL, SRV_REJ_DEADLINE, SRV_REJ_DRAINING, SRV_REJ_COUNT } srv_reject;
typedef enum srv_stage { SRV_ST_PARSE, SRV_ST_QUEUE, SRV_ST_COMPUTE, SRV_ST_SERIALIZE, SRV_ST_COUNT } srv_stage;

#define SRV_LAT_BUCKETS 16 // upper bounds in srv_lat_bounds_s (+Inf is the count)
#define SRV_BATCH_BUCKETS 14 // 1, 2, 4, ... 8192

typedef struct srv_metrics {
    _Atomic uint64_t requests[SRV_EP_COUNT][500]; // [endpoint][status - 100]
    _Atomic uint64_t lat_bucket[SRV_EP_COUNT][SRV_LAT_BUCKETS + 1]; // non-cumulative; last = over the top bound
    _Atomic uint64_t lat_sum_ns[SRV_EP_COUNT];
    _Atomic uint64_t batch_bucket[SRV_BATCH_BUCKETS + 1];
    _Atomic uint64_t batch_sum, batches, series, batch_retries;
    _Atomic uint64_t warmup_forwards; // batcher.c's warm_up, one per batch-size bucket and worker
    _Atomic int64_t  queue_depth, workers_busy;
    _Atomic uint64_t rejected[SRV_REJ_COUNT];
    _Atomic uint64_t stage_ns[SRV_ST_COUNT];
    // the HTTP layer's, copied in before each write (routes.c): connections cut off by reason
    // (header_timeout, slow_body, evicted: http_cut_reason's order) and bytes of unsent replies
    _Atomic uint64_t conn_cut[3];
    _Atomic int64_t  pending_bytes;
    int32_t          workers;
    const char      *model_name, *model_version, *model_sha256;
} srv_metrics;

void srv_metrics_init(srv_metrics *m, const char *model_name, const char *model_version, const char *sha256,
                      int32_t workers);
void srv_metrics_request(srv_metrics *m, srv_endpoint ep, int status, int64_t dur_ns);
void srv_metrics_batch(srv_metrics *m, int32_t n_series);
static inline void srv_metrics_add(_Atomic uint64_t *c, uint64_t v) {
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}
static inline void srv_metrics_gauge(_Atomic int64_t *g, int64_t d) {
    atomic_fetch_add_explicit(g, d, memory_order_relaxed);
}
static inline uint64_t srv_metrics_get(_Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }
const char *srv_endpoint_name(srv_endpoint ep);
// Prometheus text exposition format 0.0.4 into buf; returns the length, or -1 when cap is too small.
ssize_t srv_metrics_write(srv_metrics *m, char *buf, size_t cap);
#endif
