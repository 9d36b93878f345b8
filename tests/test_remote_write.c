// test_remote_write.c: Prometheus remote write in (server/remote_write.c, server/prom_map.c).
//  - WriteRequests built here with protobuf-c and compressed with libsnappy decode and map to the
//    expected fleet points and statics (sorted, values bitwise, counts)
//  - the mapping's rules one by one: unmapped, match labels, first column wins, scale, stale
//    markers, other NaN/Inf, duplicates (kept once / conflicting), missing series label, joined ids,
//    ids that are not UTF-8 or hold a NUL
//  - headers (415), limits (413: compressed, decompressed checked on snappy's header before any
//    allocation, decoded memory, series, labels, samples), malformed bodies (400), every prefix of a
//    valid body, and the config's errors
//  - a real Prometheus (Debian's `prometheus`, skipped with one line when absent) scraping a static
//    exposition served on loopback by a receiver on server/http_mhd.c, remote-writing to the same
//    receiver: the decoded points are the scraped values, the static comes from a target label,
//    and a metric that disappears arrives as a stale marker
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <protobuf-c/protobuf-c.h>
#include <snappy-c.h>

#include "../server/http.h"
#include "../server/prom_map.h"
#include "../server/remote_write.h"
#include "server/prompb/remote.pb-c.h"

static const char MAP_JSON[] =
    "{\"model\": \"ignored by prom_map\", \"prometheus\": {\"series_label\": \"instance\", \"columns\": {"
    "\"cpu_pct\": {\"metric\": \"node_cpu_busy_pct\"},"
    "\"mem_pct\": {\"metric\": \"node_memory_used_ratio\", \"scale\": 100},"
    "\"disk_busy\": {\"metric\": \"node_disk_busy\", \"match\": {\"device\": \"sda\"}},"
    "\"disk_any\": {\"metric\": \"node_disk_busy\"}},"
    "\"statics\": {\"region\": {\"label\": \"region\"}}}}";

static int on_path(const char *prog);

static prom_map *load_map(const char *json) {
    char      err[256];
    prom_map *m = NULL;
    int       rc = prom_map_parse(json, strlen(json), &m, err, sizeof err);
    if (rc) fprintf(stderr, "map: %s\n", err);
    assert_int_equal(rc, 0);
    return m;
}

// ---- building WriteRequests ----

#define MAX_LABELS 8
#define MAX_SAMPLES 8
typedef struct tseries {
    const char *labels[2 * MAX_LABELS + 1]; // name, value, ..., NULL
    int         n;                          // samples
    double      v[MAX_SAMPLES];
    int64_t     t[MAX_SAMPLES];
} tseries;

static uint8_t *pack_request(const tseries *ts, size_t n, size_t *len) {
    Prometheus__WriteRequest w = PROMETHEUS__WRITE_REQUEST__INIT;
    Prometheus__TimeSeries **tsp = calloc(n ? n : 1, sizeof *tsp);
    assert_non_null(tsp);
    for (size_t i = 0; i < n; i++) {
        Prometheus__TimeSeries *t = calloc(1, sizeof *t);
        assert_non_null(t);
        prometheus__time_series__init(t);
        size_t nl = 0;
        while (ts[i].labels[2 * nl]) nl++;
        t->n_labels = nl;
        t->labels   = calloc(nl ? nl : 1, sizeof *t->labels);
        for (size_t k = 0; k < nl; k++) {
            Prometheus__Label *l = calloc(1, sizeof *l);
            prometheus__label__init(l);
            l->name  = (ProtobufCBinaryData){strlen(ts[i].labels[2 * k]), (uint8_t *)ts[i].labels[2 * k]};
            l->value = (ProtobufCBinaryData){strlen(ts[i].labels[2 * k + 1]), (uint8_t *)ts[i].labels[2 * k + 1]};
            t->labels[k] = l;
        }
        t->n_samples = (size_t)ts[i].n;
        t->samples   = calloc(ts[i].n ? (size_t)ts[i].n : 1, sizeof *t->samples);
        for (int k = 0; k < ts[i].n; k++) {
            Prometheus__Sample *s = calloc(1, sizeof *s);
            prometheus__sample__init(s);
            s->value = ts[i].v[k], s->timestamp = ts[i].t[k];
            t->samples[k] = s;
        }
        tsp[i] = t;
    }
    w.n_timeseries = n, w.timeseries = tsp;
    *len = prometheus__write_request__get_packed_size(&w);
    uint8_t *buf = malloc(*len ? *len : 1);
    assert_non_null(buf);
    prometheus__write_request__pack(&w, buf);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < tsp[i]->n_labels; k++) free(tsp[i]->labels[k]);
        for (size_t k = 0; k < tsp[i]->n_samples; k++) free(tsp[i]->samples[k]);
        free(tsp[i]->labels), free(tsp[i]->samples), free(tsp[i]);
    }
    free(tsp);
    return buf;
}

static char *compress(const void *raw, size_t raw_len, size_t *len) {
    *len = snappy_max_compressed_length(raw_len);
    char *out = malloc(*len);
    assert_non_null(out);
    assert_int_equal(snappy_compress(raw, raw_len, out, len), SNAPPY_OK);
    return out;
}

static char *make_body(const tseries *ts, size_t n, size_t *len) {
    size_t   raw_len;
    uint8_t *raw  = pack_request(ts, n, &raw_len);
    char    *body = compress(raw, raw_len, len);
    free(raw);
    return body;
}

#define CT "application/x-protobuf"
static int handle(const void *body, size_t len, const tft_rw_limits *lim, const prom_map *m, prom_batch *b,
                  const char **code, char *err, size_t errsz) {
    return tft_rw_handle(body, len, CT, "snappy", "0.1.0", lim, m, b, code, err, errsz);
}

static int map_series(const tseries *ts, size_t n, const prom_map *m, prom_batch *b, char *err, size_t errsz) {
    size_t      len;
    char       *body = make_body(ts, n, &len);
    const char *code = NULL;
    int         st   = handle(body, len, NULL, m, b, &code, err, errsz);
    free(body);
    return st;
}

static int str_is(const char *s, size_t len, const char *want) { return len == strlen(want) && !memcmp(s, want, len); }

static double stale_nan(void) {
    uint64_t bits = UINT64_C(0x7ff0000000000002);
    double   v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

// ---- decode + map ----

static void test_decode_and_map(void **state) {
    (void)state;
    prom_map     *m    = load_map(MAP_JSON);
    const tseries ts[] = {
        {{"__name__", "node_cpu_busy_pct", "instance", "web-2", "region", "eu", NULL}, 2, {41.5, 0.1}, {2000, 1000}},
        {{"__name__", "node_cpu_busy_pct", "instance", "web-1", "region", "us", NULL}, 1, {7}, {1000}},
        {{"__name__", "node_memory_used_ratio", "instance", "web-1", NULL}, 1, {0.625}, {1000}},
        {{"__name__", "up", "instance", "web-1", "job", "node", NULL}, 3, {1, 1, 1}, {1, 2, 3}},
        {{"__name__", "node_disk_busy", "device", "sda", "instance", "web-1", NULL}, 1, {3.25}, {1000}},
        {{"__name__", "node_disk_busy", "device", "sdb", "instance", "web-1", NULL}, 1, {9}, {1000}},
    };
    prom_batch b;
    char       err[512];
    assert_int_equal(map_series(ts, 6, m, &b, err, sizeof err), 0);
    // sorted by series, column, ts
    struct { const char *series, *column; int64_t ts; double v; } want[] = {
        {"web-1", "cpu_pct", 1000, 7},      {"web-1", "disk_any", 1000, 9}, {"web-1", "disk_busy", 1000, 3.25},
        {"web-1", "mem_pct", 1000, 62.5},   {"web-2", "cpu_pct", 1000, 0.1}, {"web-2", "cpu_pct", 2000, 41.5},
    };
    assert_int_equal(b.n_points, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_true(str_is(b.points[i].series, b.points[i].series_len, want[i].series));
        assert_true(str_is(b.points[i].column, b.points[i].column_len, want[i].column));
        assert_int_equal(b.points[i].ts_ms, want[i].ts);
        assert_memory_equal(&b.points[i].value, &want[i].v, sizeof(double)); // bitwise (0.1 stays 0.1)
    }
    assert_int_equal(b.n_statics, 2);
    assert_true(str_is(b.statics[0].series, b.statics[0].series_len, "web-1"));
    assert_true(str_is(b.statics[0].column, b.statics[0].column_len, "region"));
    assert_true(str_is(b.statics[0].value, b.statics[0].value_len, "us"));
    assert_true(str_is(b.statics[1].value, b.statics[1].value_len, "eu"));
    assert_int_equal(b.counts.series_in, 6);
    assert_int_equal(b.counts.samples_in, 9);
    assert_int_equal(b.counts.series_unmapped, 1);
    assert_int_equal(b.counts.samples_unmapped, 3);
    assert_int_equal(b.counts.points, 6);
    prom_batch_free(&b);
    assert_null(b.mem);
    prom_batch_free(&b); // a zeroed batch: no-op
    prom_map_free(m);
}

static void test_mapping_rules(void **state) {
    (void)state;
    prom_map  *m = load_map(MAP_JSON);
    prom_batch b;
    char       err[512];
    // stale marker, NaN, +Inf, and a finite value that scale makes infinite: counted, skipped
    const tseries odd[] = {
        {{"__name__", "node_cpu_busy_pct", "instance", "a", NULL}, 4, {stale_nan(), NAN, INFINITY, 5}, {1, 2, 3, 4}},
        {{"__name__", "node_memory_used_ratio", "instance", "a", NULL}, 2, {1e308, -2.5}, {1, 2}},
    };
    assert_int_equal(map_series(odd, 2, m, &b, err, sizeof err), 0);
    assert_int_equal(b.counts.samples_stale, 1);
    assert_int_equal(b.counts.samples_non_finite, 3);
    assert_int_equal(b.n_points, 2);
    assert_true(b.points[0].value == 5 && b.points[1].value == -250); // cpu_pct, then mem_pct (x 100)
    prom_batch_free(&b);
    assert_true(prom_is_stale_marker(stale_nan()));
    assert_false(prom_is_stale_marker(NAN));

    // missing / empty series label: counted, no point; the static needs a non-empty label
    const tseries nos[] = {
        {{"__name__", "node_cpu_busy_pct", "job", "x", NULL}, 2, {1, 2}, {1, 2}},
        {{"__name__", "node_cpu_busy_pct", "instance", "", "region", "eu", NULL}, 1, {1}, {1}},
        {{"__name__", "node_cpu_busy_pct", "instance", "b", "region", "", NULL}, 1, {1}, {1}},
    };
    assert_int_equal(map_series(nos, 3, m, &b, err, sizeof err), 0);
    assert_int_equal(b.counts.samples_no_series, 3);
    assert_int_equal(b.n_points, 1);
    assert_int_equal(b.n_statics, 0);
    prom_batch_free(&b);

    // the same point twice (Prometheus sends one TimeSeries per sample): kept once
    const tseries dup[] = {
        {{"__name__", "node_cpu_busy_pct", "instance", "a", "region", "eu", NULL}, 1, {3}, {10}},
        {{"__name__", "node_cpu_busy_pct", "instance", "a", "region", "eu", NULL}, 2, {3, 4}, {10, 20}},
    };
    assert_int_equal(map_series(dup, 2, m, &b, err, sizeof err), 0);
    assert_int_equal(b.n_points, 2);
    assert_int_equal(b.counts.samples_duplicate, 1);
    assert_int_equal(b.n_statics, 1);
    prom_batch_free(&b);

    // two Prometheus series onto one (series, column, ts) with different values: an error that names them
    const tseries clash[] = {
        {{"__name__", "node_cpu_busy_pct", "cpu", "0", "instance", "a", NULL}, 1, {3}, {10}},
        {{"__name__", "node_cpu_busy_pct", "cpu", "1", "instance", "a", NULL}, 1, {4}, {10}},
    };
    assert_int_equal(map_series(clash, 2, m, &b, err, sizeof err), 400);
    assert_non_null(strstr(err, "series \"a\" column cpu_pct at 10 ms has two values (3 and 4)"));
    assert_null(b.mem);
    // two values of one static
    const tseries sclash[] = {
        {{"__name__", "node_cpu_busy_pct", "instance", "a", "region", "eu", NULL}, 1, {3}, {10}},
        {{"__name__", "node_memory_used_ratio", "instance", "a", "region", "us", NULL}, 1, {4}, {10}},
    };
    assert_int_equal(map_series(sclash, 2, m, &b, err, sizeof err), 400);
    assert_non_null(strstr(err, "static region has two values (\"eu\" and \"us\")"));

    // a series id that is not UTF-8, or holds a NUL: an error (the label is bytes on the wire)
    const tseries bad_utf8[] = {{{"__name__", "node_cpu_busy_pct", "instance", "a\xff", NULL}, 1, {3}, {10}}};
    assert_int_equal(map_series(bad_utf8, 1, m, &b, err, sizeof err), 400);
    assert_non_null(strstr(err, "not UTF-8 text without NUL"));
    {
        Prometheus__Label     l[2] = {PROMETHEUS__LABEL__INIT, PROMETHEUS__LABEL__INIT};
        Prometheus__Label    *lp[2] = {&l[0], &l[1]};
        Prometheus__Sample    s = PROMETHEUS__SAMPLE__INIT, *sp = &s;
        Prometheus__TimeSeries t = PROMETHEUS__TIME_SERIES__INIT, *tp = &t;
        Prometheus__WriteRequest w = PROMETHEUS__WRITE_REQUEST__INIT;
        l[0].name  = (ProtobufCBinaryData){8, (uint8_t *)"__name__"};
        l[0].value = (ProtobufCBinaryData){17, (uint8_t *)"node_cpu_busy_pct"};
        l[1].name  = (ProtobufCBinaryData){8, (uint8_t *)"instance"};
        l[1].value = (ProtobufCBinaryData){3, (uint8_t *)"a\0b"};
        t.n_labels = 2, t.labels = lp, t.n_samples = 1, t.samples = &sp;
        w.n_timeseries = 1, w.timeseries = &tp;
        size_t  raw_len = prometheus__write_request__get_packed_size(&w), len;
        uint8_t raw[256];
        assert_true(raw_len <= sizeof raw);
        prometheus__write_request__pack(&w, raw);
        char       *body = compress(raw, raw_len, &len);
        const char *code;
        assert_int_equal(handle(body, len, NULL, m, &b, &code, err, sizeof err), 400);
        assert_string_equal(code, "bad_mapping");
        free(body);
    }
    prom_map_free(m);

    // series ids joined from several labels, in the given order; the first matching column wins
    m = load_map("{\"series_label\": [\"job\", \"instance\"], \"series_join\": \"::\", \"columns\": {"
                 "\"sda\": {\"metric\": \"disk\", \"match\": {\"device\": \"sda\", \"mode\": \"\"}},"
                 "\"any\": {\"metric\": \"disk\"}}}");
    const tseries join[] = {
        {{"__name__", "disk", "device", "sda", "instance", "h1", "job", "node", NULL}, 1, {1}, {5}},
        {{"__name__", "disk", "device", "sda", "instance", "h1", "job", "node", "mode", "x", NULL}, 1, {2}, {5}},
        {{"__name__", "disk", "instance", "h1", NULL}, 1, {3}, {5}},
    };
    assert_int_equal(map_series(join, 3, m, &b, err, sizeof err), 0);
    assert_int_equal(b.n_points, 2);
    assert_true(str_is(b.points[0].series, b.points[0].series_len, "node::h1"));
    assert_true(str_is(b.points[0].column, b.points[0].column_len, "any"));
    assert_true(b.points[0].value == 2);
    assert_true(str_is(b.points[1].column, b.points[1].column_len, "sda"));
    assert_true(b.points[1].value == 1);
    assert_int_equal(b.counts.samples_no_series, 1); // no job label
    prom_batch_free(&b);
    prom_map_free(m);
}

// ---- headers, limits, malformed bodies ----

static void test_headers(void **state) {
    (void)state;
    const char *code;
    char        err[256];
    assert_int_equal(tft_rw_check_headers(CT, "snappy", "0.1.0", &code, err, sizeof err), 0);
    assert_int_equal(tft_rw_check_headers("Application/X-Protobuf", " snappy ",
                                          NULL, &code, err, sizeof err), 0);
    assert_int_equal(tft_rw_check_headers("application/json", "snappy", NULL, &code, err, sizeof err), 415);
    assert_string_equal(code, "unsupported_media_type");
    assert_non_null(strstr(err, "application/json"));
    assert_int_equal(tft_rw_check_headers(NULL, "snappy", NULL, &code, err, sizeof err), 415);
    assert_int_equal(tft_rw_check_headers(CT, NULL, NULL, &code, err, sizeof err), 415);
    assert_int_equal(tft_rw_check_headers(CT, "gzip", NULL, &code, err, sizeof err), 415);
    assert_non_null(strstr(err, "Content-Encoding snappy"));
    assert_int_equal(tft_rw_check_headers(CT, "snappy", "2.0.0", &code, err, sizeof err), 415);
    assert_non_null(strstr(err, "2.0.0"));
    // remote write 2.0's message, even without a version header
    assert_int_equal(tft_rw_check_headers(CT ";proto=io.prometheus.write.v2.Request", "snappy", NULL, &code, err,
                                          sizeof err), 415);
    assert_non_null(strstr(err, "\"io.prometheus.write.v2.Request\" is not supported"));
    assert_int_equal(tft_rw_check_headers(CT "; proto=prometheus.WriteRequest", "snappy", NULL, &code, err,
                                          sizeof err), 0);
}

static int decode_status(const void *body, size_t len, const tft_rw_limits *lim, const char **code, char *err,
                         size_t errsz) {
    tft_rw_request *r = (tft_rw_request *)1;
    int             st = tft_rw_decode(body, len, lim, &r, code, err, errsz);
    if (st == 0) {
        assert_non_null(tft_rw_message(r));
        tft_rw_request_free(r);
    } else {
        assert_null(r);
        assert_non_null(*code);
        assert_true(err[0] != 0);
    }
    return st;
}

static void test_limits(void **state) {
    (void)state;
    const char   *code;
    char          err[256];
    tft_rw_limits lim = tft_rw_default_limits();
    tseries       ts[4];
    for (int i = 0; i < 4; i++)
        ts[i] = (tseries){{"__name__", "m", "a", "1", "b", "2", "c", "3", NULL}, 3, {1, 2, 3}, {1, 2, 3}};
    size_t len;
    char  *body = make_body(ts, 4, &len);
    assert_int_equal(decode_status(body, len, &lim, &code, err, sizeof err), 0);

    tft_rw_limits l = lim;
    l.max_compressed_bytes = len - 1;
    assert_int_equal(decode_status(body, len, &l, &code, err, sizeof err), 413);
    assert_string_equal(code, "body_too_large");
    l = lim, l.max_series = 3;
    assert_int_equal(decode_status(body, len, &l, &code, err, sizeof err), 413);
    assert_string_equal(code, "too_many_elements");
    assert_non_null(strstr(err, "4 series"));
    l = lim, l.max_labels = 3;
    assert_int_equal(decode_status(body, len, &l, &code, err, sizeof err), 413);
    assert_non_null(strstr(err, "4 labels"));
    l = lim, l.max_samples = 11;
    assert_int_equal(decode_status(body, len, &l, &code, err, sizeof err), 413);
    assert_non_null(strstr(err, "more than 11 samples"));
    l = lim, l.max_samples = 12;
    assert_int_equal(decode_status(body, len, &l, &code, err, sizeof err), 0);
    l = lim, l.max_decoded_bytes = 200; // the messages take more than that (and it fails cleanly)
    assert_int_equal(decode_status(body, len, &l, &code, err, sizeof err), 413);
    assert_non_null(strstr(err, "decodes to more than 200 bytes"));
    size_t raw_len;
    assert_int_equal(snappy_uncompressed_length(body, len, &raw_len), SNAPPY_OK);
    l = lim, l.max_decompressed_bytes = raw_len - 1;
    assert_int_equal(decode_status(body, len, &l, &code, err, sizeof err), 413);
    assert_non_null(strstr(err, "decompresses to"));
    free(body);

    // snappy's header claims 2^31 bytes: refused on the header, nothing of that size is allocated
    unsigned char *huge = calloc(1u << 26, 1); // as long as 2^31 / 32 bytes, so the claim is not absurd
    assert_non_null(huge);
    memcpy(huge, "\x80\x80\x80\x80\x08", 5);
    l = lim, l.max_compressed_bytes = 1u << 26;
    assert_int_equal(decode_status(huge, 1u << 26, &l, &code, err, sizeof err), 413);
    assert_non_null(strstr(err, "2147483648"));
    // the same claim from 6 bytes: more than snappy can expand to (at most 64 bytes per 3)
    assert_int_equal(decode_status(huge, 6, &lim, &code, err, sizeof err), 400);
    assert_non_null(strstr(err, "cannot decompress to the 2147483648 claimed"));
    free(huge);

    // a tiny body of many empty series: the decoded structs (not the bytes) hit the memory cap
    size_t   n_empty = 100000;
    uint8_t *raw     = malloc(2 * n_empty);
    for (size_t i = 0; i < n_empty; i++) raw[2 * i] = 0x0a, raw[2 * i + 1] = 0x00; // field 1, length 0
    char *cbody = compress(raw, 2 * n_empty, &len);
    l = lim, l.max_decoded_bytes = (size_t)4 << 20;
    assert_int_equal(decode_status(cbody, len, &l, &code, err, sizeof err), 413);
    assert_string_equal(code, "too_many_elements");
    assert_int_equal(decode_status(cbody, len, &lim, &code, err, sizeof err), 0);
    free(cbody), free(raw);
}

static void test_malformed(void **state) {
    (void)state;
    const char *code;
    char        err[256];
    assert_int_equal(decode_status("", 0, NULL, &code, err, sizeof err), 400);
    assert_non_null(strstr(err, "empty body"));
    assert_int_equal(decode_status("\xff\xff\xff\xff\xff\xff", 6, NULL, &code, err, sizeof err), 400);
    assert_string_equal(code, "malformed_body");
    // a plain (uncompressed) protobuf sent without snappy
    const tseries ts[] = {{{"__name__", "node_cpu_busy_pct", "instance", "a", NULL}, 2, {1, 2}, {1, 2}}};
    size_t        raw_len, len;
    uint8_t      *raw = pack_request(ts, 1, &raw_len);
    assert_int_equal(decode_status(raw, raw_len, NULL, &code, err, sizeof err), 400);
    // valid snappy around something that is not a WriteRequest: a wrong wire type for field 1,
    // a length past the end, a truncated varint
    const char *not_pb[] = {"\x08\x01", "\x0a\x05\x0a", "\x0a\xff", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"};
    for (size_t i = 0; i < sizeof not_pb / sizeof *not_pb; i++) {
        char *c = compress(not_pb[i], strlen(not_pb[i]), &len);
        assert_int_equal(decode_status(c, len, NULL, &code, err, sizeof err), 400);
        assert_non_null(strstr(err, "not a protobuf WriteRequest"));
        free(c);
    }
    // an empty WriteRequest is fine (Prometheus sends metadata-only requests: unknown field 3)
    char *c = compress("\x1a\x02\x08\x01", 4, &len);
    assert_int_equal(decode_status(c, len, NULL, &code, err, sizeof err), 0);
    free(c);
    // every prefix of a valid body, compressed or not: an answer, never a crash
    char *body = compress(raw, raw_len, &len);
    prom_map *m = load_map(MAP_JSON);
    for (size_t k = 0; k < len; k++) {
        prom_batch b;
        int        st = handle(body, k, NULL, m, &b, &code, err, sizeof err);
        assert_int_equal(st, 400);
    }
    for (size_t k = 0; k < raw_len; k++) {
        char      *p = compress(raw, k, &len);
        prom_batch b;
        int        st = handle(p, len, NULL, m, &b, &code, err, sizeof err);
        if (st == 0) prom_batch_free(&b);
        else assert_int_equal(st, 400);
        free(p);
    }
    prom_map_free(m);
    free(body), free(raw);
}

static void test_config_errors(void **state) {
    (void)state;
    struct { const char *json, *msg; } bad[] = {
        {"{\"model\": 1}", "no \"prometheus\" section"},
        {"{\"prometheus\": []}", "the section must be an object"},
        {"{\"prometheus\": {\"columns\": {\"a\": {\"metric\": \"m\"}}}}", "series_label (a label name"},
        {"{\"prometheus\": {\"series_label\": [], \"columns\": {\"a\": {\"metric\": \"m\"}}}}", "1 to 8 labels"},
        {"{\"prometheus\": {\"series_label\": \"i\", \"columns\": {}}}", "columns must be an object of 1 to"},
        {"{\"prometheus\": {\"series_label\": \"i\", \"columns\": {\"a\": {\"metric\": \"\"}}}}",
         "columns.a.metric must be a non-empty string"},
        {"{\"prometheus\": {\"series_label\": \"i\", \"columns\": {\"a\": {\"metric\": \"m\", \"scal\": 2}}}}",
         "unknown key \"scal\" in columns.a"},
        {"{\"prometheus\": {\"series_label\": \"i\", \"columns\": {\"a\": {\"metric\": \"m\", \"scale\": 0}}}}",
         "columns.a.scale must be a finite non-zero number"},
        {"{\"prometheus\": {\"series_label\": \"i\", \"columns\": {\"a\": {\"metric\": \"m\", \"match\": {\"x\": 1}}}}}",
         "columns.a.match.x must be a string"},
        {"{\"prometheus\": {\"series_label\": \"i\", \"columns\": {\"a\": {\"metric\": \"m\"}}, \"statics\": "
         "{\"a\": {\"label\": \"r\"}}}}", "\"a\" is both a column and a static"},
        {"{\"prometheus\": {\"series_label\": \"i\", \"columns\": {\"a\": {\"metric\": \"m\"}}, \"statics\": "
         "{\"s\": {\"labl\": \"r\"}}}}", "unknown key \"labl\" in statics.s"},
        {"{\"prometheus\": {\"series_label\": \"i\", \"series_join\": 1, \"columns\": {\"a\": {\"metric\": \"m\"}}}}",
         "series_join must be a string"},
        {"{\"prometheus\": {\"series_label\": \"i\", \"colums\": {}}}", "unknown key \"colums\""},
        {"{\"prometheus\": {", "prometheus"}, // the JSON parser's message would do; any error
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char      err[512] = "";
        prom_map *m        = (prom_map *)1;
        int       rc       = prom_map_parse(bad[i].json, strlen(bad[i].json), &m, err, sizeof err);
        if (rc != -1 || (i + 1 < sizeof bad / sizeof *bad && !strstr(err, bad[i].msg)))
            fail_msg("config %zu: rc %d, message \"%s\", wanted \"%s\"", i, rc, err, bad[i].msg);
        assert_null(m);
    }
    prom_map_free(NULL);
}

// server/API.md's mapping example parses; the shipped Prometheus examples pass promtool (when installed)
static void test_examples(void **state) {
    (void)state;
    FILE *f = fopen("server/API.md", "rb");
    assert_non_null(f);
    static char doc[1 << 20];
    size_t      n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = 0;
    const char *at = strstr(doc, "<!-- prom-map-example -->\n```json\n");
    assert_non_null(at);
    at = strchr(strchr(at, '\n') + 1, '\n') + 1;
    const char *end = strstr(at, "```");
    assert_non_null(end);
    char      err[256];
    prom_map *m;
    if (prom_map_parse(at, (size_t)(end - at), &m, err, sizeof err)) fail_msg("API.md's mapping: %s", err);
    // and it maps what the example rules record
    const tseries ts[] = {
        {{"__name__", "tft:cpu_pct", "profile", "database", "server", "db-01", NULL}, 1, {12.5}, {60000}},
        {{"__name__", "tft:net", "profile", "database", "server", "db-01", NULL}, 1, {1e6}, {60000}},
    };
    prom_batch b;
    assert_int_equal(map_series(ts, 2, m, &b, err, sizeof err), 0);
    assert_int_equal(b.n_points, 2);
    assert_true(str_is(b.points[0].column, b.points[0].column_len, "cpu_pct"));
    assert_int_equal(b.n_statics, 2); // profile, server
    assert_true(str_is(b.statics[1].value, b.statics[1].value_len, "db-01"));
    prom_batch_free(&b);
    prom_map_free(m);
    if (!on_path("promtool")) {
        printf("SKIPPED: test_examples' promtool checks: `promtool` is not installed (apt-get install prometheus)\n");
        return;
    }
    assert_int_equal(system("promtool check config server/prometheus.example.yml >/dev/null"), 0);
    assert_int_equal(system("promtool check rules server/prometheus.example.rules.yml >/dev/null"), 0);
}

// ---- a real Prometheus ----

// What the receiver serves and has received (the I/O thread writes, the test thread reads).
typedef struct got_point { char series[64], column[16]; int64_t ts; double v; } got_point;
static struct {
    pthread_mutex_t mu;
    const char     *exposition; // a string literal: lives until the reply is sent
    prom_map       *map;
    got_point       pts[4096];
    size_t          n_pts, n_requests, n_stale, n_unmapped;
    char            static_series[64], static_value[32];
    char            error[512]; // the first failed request
} rx = {.mu = PTHREAD_MUTEX_INITIALIZER};

static const char EXPO_1[] = "# TYPE node_cpu_busy_pct gauge\n"
                             "node_cpu_busy_pct 42.5\n"
                             "# TYPE node_memory_used_ratio gauge\n"
                             "node_memory_used_ratio 0.625\n"
                             "node_disk_busy{device=\"sda\"} 3.25\n"
                             "node_disk_busy{device=\"sdb\"} 7\n"
                             "unrelated_metric 1\n";
// the second phase: a new cpu value, and node_memory_used_ratio gone (Prometheus sends a stale marker)
static const char EXPO_2[] = "node_cpu_busy_pct 43.75\n"
                             "node_disk_busy{device=\"sda\"} 3.25\n"
                             "node_disk_busy{device=\"sdb\"} 7\n";

static void rx_request(http_req *r, void *user) {
    (void)user;
    const char *path = http_req_path(r);
    if (strcmp(path, "/metrics") == 0) {
        pthread_mutex_lock(&rx.mu);
        const char *e = rx.exposition;
        pthread_mutex_unlock(&rx.mu);
        http_reply(r, 200, "text/plain; version=0.0.4", e, strlen(e));
        return;
    }
    if (strcmp(path, "/api/v1/write") != 0 || http_req_method(r) != HTTP_POST) {
        http_reply(r, 404, "text/plain", "not found", 9);
        return;
    }
    size_t      len;
    const char *body = http_req_body(r, &len), *code;
    char        err[512];
    prom_batch  b;
    int st = tft_rw_handle(body, len, http_req_header(r, "Content-Type"), http_req_header(r, "Content-Encoding"),
                           http_req_header(r, "X-Prometheus-Remote-Write-Version"), NULL, rx.map, &b, &code, err,
                           sizeof err);
    pthread_mutex_lock(&rx.mu);
    rx.n_requests++;
    if (st) {
        if (!rx.error[0]) snprintf(rx.error, sizeof rx.error, "%d %s: %s", st, code, err);
    } else {
        for (size_t i = 0; i < b.n_points && rx.n_pts < sizeof rx.pts / sizeof *rx.pts; i++) {
            got_point *g = &rx.pts[rx.n_pts++];
            snprintf(g->series, sizeof g->series, "%.*s", (int)b.points[i].series_len, b.points[i].series);
            snprintf(g->column, sizeof g->column, "%.*s", (int)b.points[i].column_len, b.points[i].column);
            g->ts = b.points[i].ts_ms, g->v = b.points[i].value;
        }
        for (size_t i = 0; i < b.n_statics; i++) {
            snprintf(rx.static_series, sizeof rx.static_series, "%.*s", (int)b.statics[i].series_len,
                     b.statics[i].series);
            snprintf(rx.static_value, sizeof rx.static_value, "%.*s", (int)b.statics[i].value_len, b.statics[i].value);
        }
        rx.n_stale += b.counts.samples_stale, rx.n_unmapped += b.counts.samples_unmapped;
        prom_batch_free(&b);
    }
    pthread_mutex_unlock(&rx.mu);
    if (st) http_reply(r, st, "text/plain", "refused", 7);
    else http_reply(r, 204, NULL, NULL, 0);
}

static int rx_head(http_req *r, void *user) { return (void)r, (void)user, 0; }

static void rx_error(http_req *r, int status, const char *code, const char *message, void *user) {
    (void)code, (void)message, (void)user;
    http_reply(r, status, "text/plain", "error", 5);
}

static int64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

// the program's path from PATH into found (when not NULL): 1, or 0 when it is not there
static int find_on_path(const char *prog, char *found, size_t size) {
    const char *path = getenv("PATH");
    char        buf[4096];
    for (const char *p = path ? path : ""; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, prog);
        if (n && access(buf, X_OK) == 0) {
            if (found) snprintf(found, size, "%s", buf);
            return 1;
        }
        p += n + (p[n] == ':');
    }
    return 0;
}
static int on_path(const char *prog) { return find_on_path(prog, NULL, 0); }

// counts in rx under the lock
static void rx_counts(size_t *cpu_a, size_t *cpu_b, size_t *mem, size_t *disk, size_t *stale) {
    *cpu_a = *cpu_b = *mem = *disk = 0;
    pthread_mutex_lock(&rx.mu);
    for (size_t i = 0; i < rx.n_pts; i++) {
        const got_point *g = &rx.pts[i];
        if (!strcmp(g->column, "cpu_pct")) *(g->v == 42.5 ? cpu_a : cpu_b) += 1;
        if (!strcmp(g->column, "mem_pct")) ++*mem;
        if (!strcmp(g->column, "disk_busy")) ++*disk;
    }
    *stale = rx.n_stale;
    pthread_mutex_unlock(&rx.mu);
}

static void test_real_prometheus(void **state) {
    (void)state;
    char prom_bin[4096];
    if (!find_on_path("prometheus", prom_bin, sizeof prom_bin)) {
        printf("SKIPPED: test_real_prometheus: `prometheus` is not installed (apt-get install prometheus)\n");
        skip();
    }
    rx.map = load_map("{\"prometheus\": {\"series_label\": \"instance\", \"columns\": {"
                      "\"cpu_pct\": {\"metric\": \"node_cpu_busy_pct\"},"
                      "\"mem_pct\": {\"metric\": \"node_memory_used_ratio\", \"scale\": 100},"
                      "\"disk_busy\": {\"metric\": \"node_disk_busy\", \"match\": {\"device\": \"sda\"}}},"
                      "\"statics\": {\"region\": {\"label\": \"region\"}}}}");
    rx.exposition = EXPO_1;
    http_config cfg = {.host = "127.0.0.1", .port = 0, .max_connections = 32, .idle_timeout_s = 30,
                       .max_body_bytes = (size_t)16 << 20, .connection_memory = 64 << 10, .ctx_bytes = 16,
                       .io_threads = 1, .on_head = rx_head, .on_request = rx_request, .on_error = rx_error};
    char         err[256];
    http_server *srv = http_start(&cfg, err, sizeof err);
    if (!srv) fail_msg("receiver: %s", err);
    int port = http_port(srv);

    char dir[] = "/tmp/tft-promrw-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char yml[300], data[300], log[300];
    snprintf(yml, sizeof yml, "%s/prometheus.yml", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(log, sizeof log, "%s/prometheus.log", dir);
    FILE *f = fopen(yml, "w");
    assert_non_null(f);
    // scrape every second; remote_write sends within 100 ms of a sample (server/prometheus.example.yml
    // has the production settings)
    fprintf(f,
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: node\n    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n        labels: {region: eu-west}\n"
            "remote_write:\n  - url: http://127.0.0.1:%d/api/v1/write\n    metadata_config: {send: false}\n"
            "    queue_config: {batch_send_deadline: 100ms, min_backoff: 50ms, max_backoff: 200ms}\n",
            port, port);
    fclose(f);
    // everything the child needs is made before fork: the receiver's I/O thread runs, so the child
    // may only make async-signal-safe calls (no malloc, no stdio) before exec
    char a1[400], a2[400];
    snprintf(a1, sizeof a1, "--config.file=%s", yml);
    snprintf(a2, sizeof a2, "--storage.tsdb.path=%s", data);
    char *argv[] = {prom_bin, a1, a2, "--web.listen-address=127.0.0.1:0", "--log.level=warn", NULL};
    int   log_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(log_fd >= 0);
    int64_t t0  = now_ms();
    pid_t   pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlives the test, even one that crashes
        if (dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0) _exit(127);
        execv(prom_bin, argv);
        _exit(127);
    }
    close(log_fd);
    // phase 1 until two scrapes of everything have arrived, then phase 2 until the new value and the
    // stale marker have (30 s at most each: a scrape a second, sent within 100 ms)
    size_t cpu_a, cpu_b, mem, disk, stale;
    int    phase = 1;
    for (int64_t deadline = now_ms() + 30000; now_ms() < deadline;) {
        rx_counts(&cpu_a, &cpu_b, &mem, &disk, &stale);
        if (phase == 1 && cpu_a >= 2 && mem >= 2 && disk >= 2) {
            pthread_mutex_lock(&rx.mu);
            rx.exposition = EXPO_2;
            pthread_mutex_unlock(&rx.mu);
            phase = 2, deadline = now_ms() + 30000;
            printf("phase 2 at %.1f s\n", (double)(now_ms() - t0) / 1000);
        }
        if (phase == 2 && cpu_b >= 1 && stale >= 1) break;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            pid = -1;
            break;
        }
        usleep(50000);
    }
    int64_t t1 = now_ms();
    if (pid > 0) {
        kill(pid, SIGTERM);
        int waited = 0;
        while (waitpid(pid, NULL, WNOHANG) == 0 && waited++ < 100) usleep(50000);
        if (waited > 100) kill(pid, SIGKILL), waitpid(pid, NULL, 0);
    }
    http_stop(srv);
    rx_counts(&cpu_a, &cpu_b, &mem, &disk, &stale);
    printf("real prometheus: %zu requests, %zu points (cpu %zu+%zu, mem %zu, disk %zu), %zu stale, %zu unmapped "
           "samples, %.1f s\n", rx.n_requests, rx.n_pts, cpu_a, cpu_b, mem, disk, stale, rx.n_unmapped,
           (double)(t1 - t0) / 1000);
    if (rx.error[0] || pid < 0 || !(cpu_a >= 2 && mem >= 2 && disk >= 2 && cpu_b >= 1 && stale >= 1)) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "tail -n 20 %s", log);
        if (system(cmd) != 0) printf("(no log)\n");
        fail_msg("real prometheus: %s%s", rx.error[0] ? rx.error : "not all data arrived",
                 pid < 0 ? " (prometheus exited)" : "");
    }
    // every decoded point is a scraped value of the right series, at a scrape time of this run
    char instance[64];
    snprintf(instance, sizeof instance, "127.0.0.1:%d", port);
    for (size_t i = 0; i < rx.n_pts; i++) {
        const got_point *g = &rx.pts[i];
        assert_string_equal(g->series, instance);
        assert_true(g->ts >= t0 - 1000 && g->ts <= t1 + 1000);
        if (!strcmp(g->column, "cpu_pct")) assert_true(g->v == 42.5 || g->v == 43.75);
        else if (!strcmp(g->column, "mem_pct")) assert_true(g->v == 62.5); // 0.625 * 100, exact
        else if (!strcmp(g->column, "disk_busy")) assert_true(g->v == 3.25); // sda, not sdb
        else fail_msg("unexpected column %s", g->column);
    }
    assert_string_equal(rx.static_series, instance);
    assert_string_equal(rx.static_value, "eu-west");
    assert_true(rx.n_unmapped > 0); // up, scrape_duration_seconds, unrelated_metric, node_disk_busy{sdb}...
    prom_map_free(rx.map);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_and_map), cmocka_unit_test(test_mapping_rules),
        cmocka_unit_test(test_headers),        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_malformed),      cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_examples),       cmocka_unit_test(test_real_prometheus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
