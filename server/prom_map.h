// prom_map.h: the mapping from Prometheus series (metric name + labels) to fleet series and model
// columns, for POST /api/v1/write (server/remote_write.h decodes the body; this file says what each
// decoded sample means). Configured by the "prometheus" section of the fleet config JSON
// (server/API.md, "Prometheus remote write"):
//
//   "prometheus": {
//     "series_label": "instance",                 // or ["job", "instance"]: values joined by series_join
//     "series_join":  "/",                        // optional, default "/"
//     "columns": {                                // model column <- one metric (+ optional label matchers)
//       "cpu_pct": {"metric": "node_cpu_busy_pct"},
//       "mem_pct": {"metric": "node_memory_used_ratio", "scale": 100},
//       "disk_io": {"metric": "node_disk_busy", "match": {"device": "sda"}}
//     },
//     "statics": {                                // static column <- a label of the mapped series
//       "region": {"label": "region"}
//     }
//   }
//
// Rules, per Prometheus time series (one TimeSeries of a WriteRequest) and sample:
//  - the series maps to the FIRST column (config order) whose metric equals __name__ and whose
//    "match" labels all have the given values (a missing label has the value ""); no column: the
//    series and its samples are counted as unmapped (not an error: Prometheus sends everything).
//  - the fleet series id is the value of series_label (several: joined by series_join, in the
//    given order). A mapped series missing one of them (or with it empty) is counted in
//    samples_no_series and skipped.
//  - value: multiplied by "scale" (default 1). A stale marker (the NaN with bits
//    0x7ff0000000000002 that Prometheus sends when a series disappears) is counted in
//    samples_stale and skipped: it is the end of a series, not an observation. Any other NaN or an
//    infinity (before or after scaling) is counted in samples_non_finite and skipped. Skipped
//    points are gaps for the fleet store, which has its own rules for them.
//  - statics: each static's label, where the mapped series has it non-empty, gives one
//    fleet_static (series, static column, label value); the fleet store takes it on first sight.
//  - within one request, the same (series id, column, timestamp) twice with the same value is
//    kept once; with different values it is an error (two Prometheus series map to one model
//    value: add "match" labels). The same for two different values of one static.
//  - a series id or static value that is not valid UTF-8 or holds a NUL byte is an error.
#ifndef TFT_SERVER_PROM_MAP_H
#define TFT_SERVER_PROM_MAP_H
#include <stddef.h>
#include <stdint.h>

#include "../loader/json.h"

#include "fleet.h" // fleet_point, fleet_static: the fleet contract (issue 11)

// A prom_map is read-only once built: any number of threads may map requests with it at once.
typedef struct prom_map prom_map;

// Limits of a mapping config (bounded work per sample: columns are scanned linearly).
#define PROM_MAP_MAX_COLUMNS       256
#define PROM_MAP_MAX_SERIES_LABELS 8
#define PROM_MAP_MAX_MATCH         8
#define PROM_MAP_MAX_STATICS       64

// Builds the mapping from the "prometheus" object of the fleet config (a tft_json tree, see
// loader/json.h). 0 and *out, or -1 with a message naming the offending key in err.
int  prom_map_from_json(const tft_json *obj, prom_map **out, char *err, size_t errsz);
// The same from JSON text: either the "prometheus" object itself or a whole fleet config that has
// a "prometheus" member.
int  prom_map_parse(const char *text, size_t len, prom_map **out, char *err, size_t errsz);
void prom_map_free(prom_map *m); // NULL is a no-op

// What one request held and what became of it (all counts are samples unless named series).
typedef struct prom_map_counts {
    size_t series_in, samples_in;              // TimeSeries and samples decoded
    size_t series_unmapped, samples_unmapped;  // no column's metric + match
    size_t samples_no_series;                  // mapped, but a series_label missing or empty
    size_t samples_stale;                      // Prometheus stale markers
    size_t samples_non_finite;                 // other NaN / +-Inf (after scale)
    size_t samples_duplicate;                  // identical repeats within the request, kept once
    size_t points;                             // fleet points produced
} prom_map_counts;

// One request's mapped data. Everything (points, statics, their strings) is in one allocation:
// prom_batch_free releases it; the batch does not refer to the map or to the decoded request.
typedef struct prom_batch {
    fleet_point    *points;  size_t n_points;   // sorted by (series, column, ts_ms), no duplicates
    fleet_static   *statics; size_t n_statics;  // sorted by (series, column), one per pair
    prom_map_counts counts;
    void           *mem;                        // the allocation (mem_bytes) all of the above lives in
    size_t          mem_bytes;
} prom_batch;
void prom_batch_free(prom_batch *b); // zeroes *b; NULL or a zeroed batch is a no-op

struct Prometheus__WriteRequest; // server/prompb/remote.proto (generated by protoc-c)
// Maps a decoded WriteRequest (server/remote_write.h) by the rules above. 0 with *out filled, or
// an HTTP status with a message in err naming the series/column/timestamp: 400 (conflicting
// duplicates, a bad series id or static value), 500 (no memory). On error *out is zeroed.
int prom_map_apply(const prom_map *m, const struct Prometheus__WriteRequest *wr, prom_batch *out,
                   char *err, size_t errsz);

// A stale marker: Prometheus' value.StaleNaN, bits 0x7ff0000000000002.
int prom_is_stale_marker(double v);
#endif
