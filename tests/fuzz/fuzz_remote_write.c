// fuzz_remote_write.c: libFuzzer target for Prometheus remote write in (server/remote_write.c,
// server/prom_map.c), through tft_rw_handle as the route calls it, with a fixed mapping (joined
// series ids, a match label, a scale, a static).
//
// Input: [sel][data]. sel bit 0: data is the raw protobuf, compressed with snappy here (so the
// fuzzer explores the WriteRequest, which random bytes rarely reach through snappy); else data is
// the body as sent (snappy's framing fuzzed). sel bit 1: tight limits (the 413 paths).
//
// Refused: a status of 400/413/500 with a code and a message. Accepted: points strictly sorted by
// (series, column, ts) with finite values and a configured column, statics strictly sorted by
// (series, column), every string inside the batch's one allocation, and every decoded sample
// accounted for: points + stale + non-finite + duplicates + unmapped + no series = samples in.
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>

#include "../../server/prom_map.h"
#include "../../server/remote_write.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static prom_map *map;
static char      packed[1u << 20];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    static const char cfg[] =
        "{\"prometheus\": {\"series_label\": [\"job\", \"instance\"], \"series_join\": \"/\", \"columns\": {"
        "\"cpu_pct\": {\"metric\": \"node_cpu_busy_pct\"},"
        "\"mem_pct\": {\"metric\": \"node_memory_used_ratio\", \"scale\": 100},"
        "\"disk\": {\"metric\": \"node_disk_busy\", \"match\": {\"device\": \"sda\"}}},"
        "\"statics\": {\"region\": {\"label\": \"region\"}}}}";
    char err[256];
    if (prom_map_parse(cfg, strlen(cfg), &map, err, sizeof err)) {
        fprintf(stderr, "fuzz_remote_write: %s\n", err);
        abort();
    }
    return 0;
}

static int inside(const void *p, size_t len, const prom_batch *b, size_t bytes) {
    const char *c = p, *m = b->mem;
    return c >= m && len <= bytes && c - m <= (ptrdiff_t)(bytes - len);
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : an < bn ? -1 : an > bn;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned    sel  = data[0];
    const char *body = (const char *)data + 1;
    size_t      len  = size - 1;
    if (sel & 1) {
        size_t clen = sizeof packed;
        if (snappy_max_compressed_length(len) > clen || snappy_compress(body, len, packed, &clen) != SNAPPY_OK)
            return 0;
        body = packed, len = clen;
    }
    tft_rw_limits lim = tft_rw_default_limits();
    if (sel & 2)
        lim = (tft_rw_limits){.max_compressed_bytes = 4096, .max_decompressed_bytes = 4096,
                              .max_decoded_bytes = 8192, .max_series = 8, .max_labels = 4, .max_samples = 16};
    prom_batch  b;
    const char *code = NULL;
    char        err[512] = "";
    int st = tft_rw_handle(body, len, "application/x-protobuf", "snappy", "0.1.0", &lim, map, &b, &code, err,
                           sizeof err);
    if (st) {
        if ((st != 400 && st != 413 && st != 500) || !code || !err[0] || b.mem || b.n_points) abort();
        return 0;
    }
    size_t bytes = b.mem_bytes; // the batch's one allocation: every string is inside it
    const prom_map_counts *c = &b.counts;
    if (c->points != b.n_points) abort();
    if (c->points + c->samples_stale + c->samples_non_finite + c->samples_duplicate + c->samples_unmapped +
            c->samples_no_series != c->samples_in)
        abort();
    for (size_t i = 0; i < b.n_points; i++) {
        const fleet_point *p = &b.points[i];
        if (!p->series_len || !inside(p->series, p->series_len, &b, bytes) || !isfinite(p->value)) abort();
        if (!((p->column_len == 7 && !memcmp(p->column, "cpu_pct", 7)) ||
              (p->column_len == 7 && !memcmp(p->column, "mem_pct", 7)) ||
              (p->column_len == 4 && !memcmp(p->column, "disk", 4))))
            abort();
        if (i) {
            const fleet_point *q = &b.points[i - 1];
            int k = cmp_bytes(q->series, q->series_len, p->series, p->series_len);
            if (!k) k = cmp_bytes(q->column, q->column_len, p->column, p->column_len);
            if (k > 0 || (k == 0 && q->ts_ms >= p->ts_ms)) abort();
        }
    }
    for (size_t i = 0; i < b.n_statics; i++) {
        const fleet_static *s = &b.statics[i];
        if (!s->value_len || s->column_len != 6 || memcmp(s->column, "region", 6) ||
            !inside(s->value, s->value_len, &b, bytes))
            abort();
        if (i) {
            const fleet_static *q = &b.statics[i - 1];
            if (cmp_bytes(q->series, q->series_len, s->series, s->series_len) >= 0) abort();
        }
    }
    prom_batch_free(&b);
    return 0;
}
