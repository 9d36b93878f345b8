// metrics.c: counters as relaxed atomics, Prometheus text on demand (see metrics.h).
#include "metrics.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

// request latency buckets, seconds: from 0.5 ms (a small batch on a warm worker) to 30 s (the
// default request timeout)
static const double srv_lat_bounds_s[SRV_LAT_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                         0.25,   0.5,   1.0,    2.5,   5.0,  10.0,  30.0,  60.0};

static const char *const ep_names[SRV_EP_COUNT] = {"forecast", "models", "v2_infer", "v2_metadata",
                                                   "health",   "metrics", "fleet",    "other"};
static const char *const rej_names[SRV_REJ_COUNT] = {"queue_full", "deadline", "draining"};
static const char *const stage_names[SRV_ST_COUNT] = {"parse", "queue", "compute", "serialize"};

const char *srv_endpoint_name(srv_endpoint ep) { return ep >= 0 && ep < SRV_EP_COUNT ? ep_names[ep] : "other"; }

void srv_metrics_init(srv_metrics *m, const char *model_name, const char *model_version, const char *sha256,
                      int32_t workers) {
    memset(m, 0, sizeof *m); // all-zero bits are a valid zero for every atomic integer here
    m->model_name    = model_name;
    m->model_version = model_version;
    m->model_sha256  = sha256;
    m->workers       = workers;
}

void srv_metrics_request(srv_metrics *m, srv_endpoint ep, int status, int64_t dur_ns) {
    if (ep < 0 || ep >= SRV_EP_COUNT) ep = SRV_EP_OTHER;
    if (status >= 100 && status < 600) srv_metrics_add(&m->requests[ep][status - 100], 1);
    double s = dur_ns > 0 ? (double)dur_ns * 1e-9 : 0.0;
    int    b = 0;
    while (b < SRV_LAT_BUCKETS && s > srv_lat_bounds_s[b]) b++;
    srv_metrics_add(&m->lat_bucket[ep][b], 1);
    srv_metrics_add(&m->lat_sum_ns[ep], dur_ns > 0 ? (uint64_t)dur_ns : 0);
}

void srv_metrics_batch(srv_metrics *m, int32_t n) {
    int b = 0;
    while (b < SRV_BATCH_BUCKETS && n > (1 << b)) b++;
    srv_metrics_add(&m->batch_bucket[b], 1);
    srv_metrics_add(&m->batch_sum, (uint64_t)n);
    srv_metrics_add(&m->batches, 1);
    srv_metrics_add(&m->series, (uint64_t)n);
}

typedef struct out {
    char  *buf;
    size_t cap, n;
    int    full;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...) {
    if (o->full) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->buf + o->n, o->cap - o->n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= o->cap - o->n) o->full = 1;
    else o->n += (size_t)k;
}

// A label value: backslash, double quote and newline escaped (the exposition format's rule).
static void put_label(out *o, const char *s) {
    for (; s && *s && !o->full; s++) {
        if (*s == '\\') put(o, "\\\\");
        else if (*s == '"') put(o, "\\\"");
        else if (*s == '\n') put(o, "\\n");
        else put(o, "%c", *s);
    }
}

ssize_t srv_metrics_write(srv_metrics *m, char *buf, size_t cap) {
    if (!buf || cap == 0) return -1;
    out o = {buf, cap, 0, 0};
    if (m->model_name) { // (tft-server leaves it NULL: its model registry writes one line per model)
        put(&o, "# HELP tft_model_info The model this server serves.\n# TYPE tft_model_info gauge\n");
        put(&o, "tft_model_info{name=\"");
        put_label(&o, m->model_name);
        put(&o, "\",version=\"");
        put_label(&o, m->model_version);
        put(&o, "\",sha256=\"");
        put_label(&o, m->model_sha256);
        put(&o, "\"} 1\n");
    }

    put(&o, "# HELP tft_http_requests_total HTTP requests answered, by endpoint and status.\n"
            "# TYPE tft_http_requests_total counter\n");
    for (int e = 0; e < SRV_EP_COUNT; e++)
        for (int s = 0; s < 500; s++) {
            uint64_t v = srv_metrics_get(&m->requests[e][s]);
            if (v) put(&o, "tft_http_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n", ep_names[e], s + 100,
                       (unsigned long long)v);
        }

    put(&o, "# HELP tft_http_request_duration_seconds From the request's headers to its response, by endpoint.\n"
            "# TYPE tft_http_request_duration_seconds histogram\n");
    for (int e = 0; e < SRV_EP_COUNT; e++) {
        uint64_t cum = 0;
        for (int b = 0; b < SRV_LAT_BUCKETS; b++) {
            cum += srv_metrics_get(&m->lat_bucket[e][b]);
            put(&o, "tft_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n", ep_names[e],
                srv_lat_bounds_s[b], (unsigned long long)cum);
        }
        cum += srv_metrics_get(&m->lat_bucket[e][SRV_LAT_BUCKETS]);
        put(&o, "tft_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n", ep_names[e],
            (unsigned long long)cum);
        put(&o, "tft_http_request_duration_seconds_sum{endpoint=\"%s\"} %.9f\n", ep_names[e],
            (double)srv_metrics_get(&m->lat_sum_ns[e]) * 1e-9);
        put(&o, "tft_http_request_duration_seconds_count{endpoint=\"%s\"} %llu\n", ep_names[e],
            (unsigned long long)cum);
    }

    put(&o, "# HELP tft_batch_size Series per model call (tft_forecast or tft_predict_net).\n"
            "# TYPE tft_batch_size histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < SRV_BATCH_BUCKETS; b++) {
        cum += srv_metrics_get(&m->batch_bucket[b]);
        put(&o, "tft_batch_size_bucket{le=\"%d\"} %llu\n", 1 << b, (unsigned long long)cum);
    }
    cum += srv_metrics_get(&m->batch_bucket[SRV_BATCH_BUCKETS]);
    put(&o, "tft_batch_size_bucket{le=\"+Inf\"} %llu\ntft_batch_size_sum %llu\ntft_batch_size_count %llu\n",
        (unsigned long long)cum, (unsigned long long)srv_metrics_get(&m->batch_sum), (unsigned long long)cum);

    put(&o, "# HELP tft_queue_depth Requests waiting in the batcher's queue.\n# TYPE tft_queue_depth gauge\n"
            "tft_queue_depth %lld\n",
        (long long)atomic_load_explicit(&m->queue_depth, memory_order_relaxed));
    put(&o, "# HELP tft_workers_busy Workers running a batch.\n# TYPE tft_workers_busy gauge\ntft_workers_busy %lld\n",
        (long long)atomic_load_explicit(&m->workers_busy, memory_order_relaxed));
    put(&o, "# HELP tft_workers Worker threads (one tft_context each).\n# TYPE tft_workers gauge\ntft_workers %d\n",
        m->workers);

    put(&o, "# HELP tft_rejected_total Requests refused without computing them, by reason.\n"
            "# TYPE tft_rejected_total counter\n");
    for (int r = 0; r < SRV_REJ_COUNT; r++)
        put(&o, "tft_rejected_total{reason=\"%s\"} %llu\n", rej_names[r],
            (unsigned long long)srv_metrics_get(&m->rejected[r]));

    put(&o, "# HELP tft_stage_seconds_total Time spent per request stage, summed over requests.\n"
            "# TYPE tft_stage_seconds_total counter\n");
    for (int s = 0; s < SRV_ST_COUNT; s++)
        put(&o, "tft_stage_seconds_total{stage=\"%s\"} %.9f\n", stage_names[s],
            (double)srv_metrics_get(&m->stage_ns[s]) * 1e-9);

    put(&o, "# HELP tft_series_total Series computed.\n# TYPE tft_series_total counter\ntft_series_total %llu\n",
        (unsigned long long)srv_metrics_get(&m->series));
    put(&o, "# HELP tft_batches_total Model calls made.\n# TYPE tft_batches_total counter\ntft_batches_total %llu\n",
        (unsigned long long)srv_metrics_get(&m->batches));
    put(&o, "# HELP tft_batch_retries_total Batches that failed and were re-run one request at a time.\n"
            "# TYPE tft_batch_retries_total counter\ntft_batch_retries_total %llu\n",
        (unsigned long long)srv_metrics_get(&m->batch_retries));
    put(&o, "# HELP tft_warmup_forwards_total Warmup forwards run as models load (one per batch-size bucket and "
            "worker).\n# TYPE tft_warmup_forwards_total counter\ntft_warmup_forwards_total %llu\n",
        (unsigned long long)srv_metrics_get(&m->warmup_forwards));
    static const char *const cut_names[3] = {"header_timeout", "slow_body", "evicted"};
    put(&o, "# HELP tft_http_connections_cut_total Connections the server shut down: headers past "
            "--header-timeout-s, a body under --min-body-rate, evicted near --max-connections.\n"
            "# TYPE tft_http_connections_cut_total counter\n");
    for (int r = 0; r < 3; r++)
        put(&o, "tft_http_connections_cut_total{reason=\"%s\"} %llu\n", cut_names[r],
            (unsigned long long)srv_metrics_get(&m->conn_cut[r]));
    put(&o, "# HELP tft_http_pending_response_bytes Bytes of responses queued and not yet sent.\n"
            "# TYPE tft_http_pending_response_bytes gauge\ntft_http_pending_response_bytes %lld\n",
        (long long)atomic_load_explicit(&m->pending_bytes, memory_order_relaxed));
    return o.full ? -1 : (ssize_t)o.n;
}
