// fleet.h: fleet mode of tft-server (issue 11). The server keeps each series' rolling window, so a
// monitoring system pushes only new points and reads forecasts and breach risks. server/API.md
// "Fleet mode" documents the endpoints, the config file and every rule below.
//
// The core (fleet.c) knows nothing about HTTP: a series registry reserved up front (max_series
// slots, each with a ring of W = max_encoder_length + max_lag steps), point ingest made durable in
// SQLite (WAL) before it returns, the restore of every window on open, the known-future time
// features derived from timestamps by the config's recipe, forecasts computed in batches with the
// engine into a cache keyed by each series' data version, and the breach probabilities.
// fleet_http.c puts it behind tft-server's HTTP layer (a worker thread: never the I/O thread).
//
// Rules (API.md "Fleet mode: rules"):
//   step       ts_ms is aligned to the series step (step_seconds) by rounding to the nearest step:
//              step index k = floor((ts_ms + step_ms / 2) / step_ms); the row's time is k * step_ms.
//   row        one series at one step holds one value per observed column (the model's time-varying
//              inputs that are not derived from the timestamp); a row is complete when every observed
//              column has its value. A row may be completed over several calls.
//   duplicate  a value for a (series, step, column) that already has one: the same value is accepted
//              and counted as a duplicate (a retried request is idempotent); another value is refused,
//              or with "duplicates": "first" (several scrapes per step) not stored and counted as ignored.
//   late       a point older than the window (step < newest - W + 1, newest counted after the call)
//              is refused.
//   gap        "gaps": "reject" (default): a point more than one step past the series' newest step is
//              refused, naming the missing steps. "restart": it is accepted; the forecast then reads
//              only the rows after the gap (see forecast below). No fill: libtft refuses a history
//              whose time index skips, as a model without allow_missing_timesteps was trained.
//   forecast   the history is the longest run of consecutive complete rows ending at the newest
//              complete row (at most W rows); fewer than min_encoder_length + max_lag rows give the
//              series the error "insufficient_history" instead of a forecast. The forecast starts at
//              the step after that row.
//   statics    given on a series' first sight (every static input of the model; a group id defaults
//              to the series id, given explicitly it wins); repeating them (in a call or later) with the
//              same value is fine, a different value is refused.
// A call that breaks any rule is refused whole: -1, nothing of it applied, the message naming the
// series, column and timestamp.
#ifndef TFT_SERVER_FLEET_H
#define TFT_SERVER_FLEET_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "../engine/tft.h"
#include "json_out.h"

// ---- the contract shared with the Prometheus remote-write decoder (server/promrw*) ----
typedef struct fleet_point {
    const char *series; size_t series_len; // series id (the model's group id(s), joined by '/' if several)
    const char *column; size_t column_len; // a model column name: a target or a time-varying real
    int64_t     ts_ms;                     // Unix time, milliseconds
    double      value;
} fleet_point;
typedef struct fleet_static {              // statics, taken on a series' first sight
    const char *series; size_t series_len;
    const char *column; size_t column_len; // a static categorical or static real of the model
    const char *value;  size_t value_len;  // the label, or the number as text
} fleet_static;
typedef struct fleet fleet;
typedef struct fleet_ingest_result {
    int64_t points;       // values stored by this call
    int64_t duplicates;   // values that were already stored, identical (accepted, not stored twice)
    int64_t new_series;   // series seen for the first time
    int64_t ignored;      // "duplicates": "first": values for a (series, step, column) that already had
                          //   another value, not stored (the first one stays)
} fleet_ingest_result;
// Durable (SQLite WAL, committed) before it returns 0. Points may arrive in any order within one
// call and a row (one series, one step) may be completed over several calls (Prometheus shards
// send different metrics of the same scrape in different requests). On error: -1, nothing of the
// call applied, and a tft_error-style message naming the series/column/timestamp.
int fleet_ingest(fleet *f, const fleet_point *pts, size_t n, const fleet_static *st, size_t nst,
                 fleet_ingest_result *res, char *err, size_t errsz);

// ---- opening ----
#define FLEET_ID_MAX    128 // bytes of a series id
#define FLEET_LABEL_MAX 128 // bytes of a static value
#define FLEET_MAX_THRESHOLDS 16
#define FLEET_MAX_GAUGE_POINTS 8

typedef struct fleet_threshold {
    int32_t target;       // index into the model's targets
    double  above;        // a breach is the target exceeding this value
    int32_t within_steps; // k: "within the next k steps"
} fleet_threshold;

typedef struct fleet_options {   // overrides of the config file (0 / NULL: the file's value)
    int64_t     max_series;      // series slots reserved up front
    const char *store;           // the SQLite file
} fleet_options;

// Reads the config (a JSON file, API.md "Fleet mode: config"; weights/fleet_default.json is the
// bundled model's), checks it against the model, reserves every series slot, opens (creates) the
// store and restores every window from it. NULL and a message in err on failure. The model must
// outlive the fleet.
fleet *fleet_open(const tft_model *m, const char *config_path, const fleet_options *opt, char *err, size_t errsz);
void   fleet_close(fleet *f); // NULL is a no-op

typedef struct fleet_info {
    int64_t max_series, n_series, window, step_ms, horizon;
    int32_t recompute_after_ingest, max_batch, n_thresholds;
    size_t  bytes_reserved;  // memory reserved at open for the windows, statics and the cache
    int64_t values_per_series; // numbers a forecast read answers per series: quantiles + breach steps
} fleet_info;
void fleet_get_info(const fleet *f, fleet_info *out);
// The config's "prometheus" mapping (server/prom_map.h) for POST /api/v1/write, or NULL when the
// config has none (remote write is then refused with 404).
typedef struct prom_map prom_map;
const prom_map *fleet_prom_map(const fleet *f);

// ---- time ----
// Names of the time feature recipes, and the value of one at Unix time ts_ms shifted by
// utc_offset_min minutes; -1 for an unknown recipe name.
int    fleet_time_recipe(const char *name);
double fleet_time_feature(int recipe, int64_t ts_ms, int32_t utc_offset_min);

// ---- forecasts ----
typedef struct fleet_stats {   // counters since open (relaxed atomics: any thread may read)
    _Atomic uint64_t points, duplicates, ignored, refused_calls, ingest_calls;
    _Atomic uint64_t cache_hits, cache_misses, series_computed, batches, series_failed;
    _Atomic uint64_t ns_parse, ns_commit, ns_apply, ns_prepare, ns_compute, ns_serialize;
} fleet_stats;
fleet_stats *fleet_get_stats(fleet *f);

// Computes the forecast of every listed series (ids NULL: every series) whose cache is older than
// its data, in batches of max_batch with the fleet's own tft_context; each call of a series counts
// one cache hit or miss when count_reads. Only one thread may call it (or fleet_refresh_some) at a
// time; readers and fleet_ingest may run meanwhile. Returns 0; a series whose forecast fails keeps
// its error in the cache (written in its answer). -1 + err only for an unknown series id (with
// *unknown set to its index) or no memory.
int fleet_refresh(fleet *f, const char *const *ids, const size_t *id_lens, size_t n, int count_reads, size_t *unknown,
                  char *err, size_t errsz);
// One batch (at most max_batch) of the stale series, oldest slot first: the number computed
// (0: nothing was stale).
int fleet_refresh_some(fleet *f);

// {"model":..., "step_seconds":..., "series":[...]} for the listed series (ids NULL: all), from the
// cache as it is. A TFT_RESP_E_* status when the writer is full.
ssize_t fleet_write_forecasts(fleet *f, const char *const *ids, const size_t *id_lens, size_t n, tft_jw *o);
// Prometheus text: the configured forecast gauges and the breach probabilities of every series.
ssize_t fleet_write_prometheus(fleet *f, tft_jw *o);
// The fleet's counters (ingest, cache, stages) in Prometheus text, appended to GET /metrics. Takes
// no lock (safe on the HTTP I/O thread while an ingest commits).
void fleet_write_metrics(fleet *f, tft_jw *o);

// ---- risk ----
// P(X > x) from Q quantiles (levels[] increasing in (0,1), values[] of the same length; values are
// made non-decreasing first by a running maximum). Between two quantiles the CDF is linear; past
// the outermost ones an exponential tail continues it with the slope of the outermost pair:
//   x > v_Q:  P(X > x) = (1 - q_Q) * exp(-(x - v_Q) / s_hi),  s_hi = (v_Q - v_{Q-1}) / ln((1 - q_{Q-1}) / (1 - q_Q))
//   x < v_1:  P(X <= x) = q_1 * exp((x - v_1) / s_lo),         s_lo = (v_2 - v_1) / ln(q_2 / q_1)
// (a zero spread gives a step: nothing past the outermost value). Q = 1: a step at v_1. At most 64
// quantiles (NaN past that).
double fleet_exceed_prob(const float *levels, const float *values, int32_t q, double x);
#endif
