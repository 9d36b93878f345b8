// test_fleet.c: fleet mode (server/fleet.h, issue 11).
//  - time recipes against hand-computed calendar values (leap years, before 1970, UTC offsets)
//  - breach probability against a hand computation of the interpolated CDF and both exponential tails
//  - ingest rules: rows completed over several calls in any order, duplicates (same value accepted,
//    another refused), late points, gaps (reject / restart), statics on first sight, a full fleet,
//    derived columns refused, and a refused call applies nothing
//  - forecasts: bitwise tft_forecast on the same rows (the bundled sample's four servers), served from
//    the cache until a series gets new data, insufficient history reported per series, and every
//    window restored from the SQLite store gives the same forecasts
//  - kill -9: a real tft-server on loopback under sustained ingest is killed, restarted on its store:
//    every acknowledged point is there (re-sending them is all duplicates) and, once both have the
//    same rows, its forecasts equal those of a second server that never stopped
//  - a forecast read over --max-output-values is refused (413) before it is computed
//  - the endpoints over HTTP: errors (400, 404, 405, 422), recompute after ingest (reads are cache
//    hits), /metrics counters, the gauges' exact cardinality (linted by promtool where installed)
//  - a real Prometheus (Debian's package) scrapes /metrics/forecasts and answers PromQL on them;
//    skipped with a line saying so where /usr/bin/prometheus is absent
//  - the whole loop with a real Prometheus: it scrapes a static exposition and remote-writes it to
//    tft (POST /api/v1/write), tft's forecast takes the row, Prometheus scrapes the gauge back
//  - a server with an unusable fleet config exits 1 with the reason
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "../engine/tft.h"
#include "../loader/json.h"
#include "../server/fleet.h"
#include "../server/fleet_http.h"
#include "testutil.h"

#ifndef TFT_BUILD_DIR
#define TFT_BUILD_DIR "build/cpu"
#endif
#define SERVER TFT_BUILD_DIR "/tft-server"
#define MODEL "weights/default.safetensors"
#define T0_MS 1772409600000LL // 2026-03-02T00:00:00Z, time_idx 0 of the default model's training data
#define STEP_MS 300000LL

static tft_model *gm;
static tft_json  *sample; // weights/sample_request.json
static char       dir[64];

// ---- the sample's rows -----------------------------------------------------------------------------------

static const char *const obs_cols[4] = {"cpu_pct", "mem_pct", "disk_io", "net"};
static int n_sample_series(void) { return (int)tft_json_get(sample, "series")->len; }
static const tft_json *sample_series(int i) { return tft_json_at(tft_json_get(sample, "series"), (uint32_t)i); }
static const char *sample_id(int i) { return tft_json_get(sample_series(i), "id")->str; }
static int64_t sample_ts(int i, int r) {
    return T0_MS + (int64_t)tft_json_at(tft_json_get(sample_series(i), "time_idx"), (uint32_t)r)->num * STEP_MS;
}
static double sample_value(int i, int c, int r) {
    return tft_json_at(tft_json_get(tft_json_get(sample_series(i), "history"), obs_cols[c]), (uint32_t)r)->num;
}
static const char *sample_profile(int i) { return tft_json_get(tft_json_get(sample_series(i), "static"), "profile")->str; }

// Points of series i, rows [r0, r1), columns [c0, c1), appended to pts (its static "profile" too).
static size_t add_rows(fleet_point *pts, size_t n, fleet_static *st, size_t *nst, int i, int r0, int r1, int c0, int c1) {
    const char *id = sample_id(i);
    for (int r = r0; r < r1; r++)
        for (int c = c0; c < c1; c++)
            pts[n++] = (fleet_point){id, strlen(id), obs_cols[c], strlen(obs_cols[c]), sample_ts(i, r), sample_value(i, c, r)};
    if (st) st[(*nst)++] = (fleet_static){id, strlen(id), "profile", 7, sample_profile(i), strlen(sample_profile(i))};
    return n;
}

// A config file in the test's directory; returns its path (static buffer per name).
static const char *write_config(const char *name, const char *json) {
    static char path[8][128];
    static int  k;
    char       *p = path[k++ % 8];
    snprintf(p, 128, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
    return p;
}

static fleet *open_fleet(const char *config, const char *store, int64_t max_series) {
    char          err[1024], path[128];
    fleet_options o = {.max_series = max_series, .store = path};
    snprintf(path, sizeof path, "%s/%s", dir, store);
    fleet *f = fleet_open(gm, config, &o, err, sizeof err);
    if (!f) fail_msg("fleet_open: %s", err);
    return f;
}

#define BASE_CONFIG "{\"step_seconds\": 300, \"time_features\": {\"hour\": \"hour_frac\", \"weekday\": \"weekday\"}"

static int setup(void **state) {
    (void)state;
    if (tft_model_load(MODEL, NULL, &gm) != TFT_OK) return -1;
    size_t len;
    char  *text = tu_slurp("weights/sample_request.json", &len);
    char   err[256];
    if (!text || tft_json_parse(text, len, NULL, &sample, err, sizeof err) != 0) return free(text), -1;
    free(text);
    snprintf(dir, sizeof dir, "/tmp/tft_fleet_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    tft_json_free(sample);
    tft_model_free(gm);
    return 0;
}

// ---- time ------------------------------------------------------------------------------------------------

static double feature(const char *recipe, int64_t ts_ms, int32_t off) {
    int r = fleet_time_recipe(recipe);
    assert_true(r >= 0);
    return fleet_time_feature(r, ts_ms, off);
}

static void test_time_features(void **state) {
    (void)state;
    int64_t t = T0_MS + (16 * 60 + 5) * 60000LL + 30000; // Monday 2026-03-02 16:05:30Z
    assert_true(feature("hour_frac", t, 0) == 16.0 + 5.0 / 60.0 + 30.0 / 3600.0);
    assert_true(feature("hour", t, 0) == 16);
    assert_true(feature("minute_of_day", t, 0) == 965);
    assert_true(feature("weekday", t, 0) == 0);
    assert_true(feature("is_weekend", t, 0) == 0);
    assert_true(feature("day_of_month", t, 0) == 2);
    assert_true(feature("month", t, 0) == 3);
    assert_true(feature("day_of_year", t, 0) == 31 + 28 + 2);
    // UTC-9 hours: Monday 07:05:30 local; UTC+8 hours: Tuesday 00:05:30
    assert_true(feature("hour", t, -9 * 60) == 7);
    assert_true(feature("weekday", t, 8 * 60) == 1);
    // 2024-12-31T23:59:59Z: a leap year's day 366, a Tuesday
    int64_t l = 1735689599000LL;
    assert_true(feature("day_of_year", l, 0) == 366);
    assert_true(feature("weekday", l, 0) == 1);
    assert_true(feature("month", l, 0) == 12 && feature("day_of_month", l, 0) == 31);
    // before 1970: 1969-12-31T23:00Z was a Wednesday (2)
    assert_true(feature("weekday", -3600000LL, 0) == 2);
    assert_true(feature("hour", -3600000LL, 0) == 23);
    assert_true(feature("is_weekend", T0_MS - 86400000LL, 0) == 1); // Sunday 2026-03-01
    assert_int_equal(fleet_time_recipe("hour_of_week"), -1);
}

// ---- risk ------------------------------------------------------------------------------------------------

static void test_exceed_prob(void **state) {
    (void)state;
    const float lv[3] = {0.1f, 0.5f, 0.9f}, v[3] = {10, 20, 40};
    double      l0 = lv[0], l1 = lv[1], l2 = lv[2]; // the float levels as doubles (the CDF's knots)
    // inside: linear between (10, 0.1) and (20, 0.5): F(15) = 0.3
    assert_true(fabs(fleet_exceed_prob(lv, v, 3, 15) - (1 - (l0 + (l1 - l0) * 0.5))) < 1e-12);
    assert_true(fabs(fleet_exceed_prob(lv, v, 3, 30) - (1 - (l1 + (l2 - l1) * 0.5))) < 1e-12);
    assert_true(fabs(fleet_exceed_prob(lv, v, 3, 40) - (1 - l2)) < 1e-12);
    // upper tail: (1 - 0.9) exp(-(50 - 40) / s), s = 20 / ln(0.5 / 0.1): 0.1 / sqrt(5)
    double s_hi = 20.0 / log((1 - l1) / (1 - l2));
    assert_true(fabs(fleet_exceed_prob(lv, v, 3, 50) - (1 - l2) * exp(-10.0 / s_hi)) < 1e-12);
    assert_true(fabs(fleet_exceed_prob(lv, v, 3, 50) - 0.1 / sqrt(5.0)) < 1e-7);
    // lower tail: 1 - 0.1 exp((5 - 10) / s), s = 10 / ln(0.5 / 0.1): 1 - 0.1 / sqrt(5)
    assert_true(fabs(fleet_exceed_prob(lv, v, 3, 5) - (1 - 0.1 / sqrt(5.0))) < 1e-7);
    // crossing quantiles are made non-decreasing: {10, 8, 40} -> {10, 10, 40}; F(10) = 0.5
    const float vx[3] = {10, 8, 40};
    assert_true(fabs(fleet_exceed_prob(lv, vx, 3, 10) - (1 - l1)) < 1e-12);
    // a zero spread at the top: nothing beyond it
    const float vz[3] = {10, 40, 40};
    assert_true(fleet_exceed_prob(lv, vz, 3, 41) == 0);
    // monotone in x
    double prev = 1;
    for (double x = -20; x < 100; x += 0.37) {
        double p = fleet_exceed_prob(lv, v, 3, x);
        assert_true(p <= prev + 1e-15 && p >= 0 && p <= 1);
        prev = p;
    }
}

// ---- ingest rules --------------------------------------------------------------------------------------------

static void expect_refused(fleet *f, const fleet_point *p, size_t n, const fleet_static *st, size_t nst, const char *what) {
    char                err[1024] = "";
    fleet_ingest_result r;
    if (fleet_ingest(f, p, n, st, nst, &r, err, sizeof err) == 0) fail_msg("accepted; expected '%s'", what);
    if (!strstr(err, what)) fail_msg("message '%s' lacks '%s'", err, what);
}

static fleet_ingest_result ingest_ok(fleet *f, const fleet_point *p, size_t n, const fleet_static *st, size_t nst) {
    char                err[1024] = "";
    fleet_ingest_result r;
    if (fleet_ingest(f, p, n, st, nst, &r, err, sizeof err) != 0) fail_msg("refused: %s", err);
    return r;
}

static void test_ingest_rules(void **state) {
    (void)state;
    fleet        *f = open_fleet(write_config("rules.json", BASE_CONFIG ", \"gaps\": \"reject\"}"), "rules.db", 2);
    fleet_point   p[64];
    fleet_static  st[4];
    size_t        nst = 0, n;
    // rows 0..2 of sample series 1 in two calls: cpu/mem first in reverse order, then disk/net
    n = add_rows(p, 0, st, &nst, 1, 0, 3, 0, 2);
    for (size_t i = 0; i < n / 2; i++) { fleet_point t = p[i]; p[i] = p[n - 1 - i], p[n - 1 - i] = t; }
    fleet_ingest_result r = ingest_ok(f, p, n, st, nst);
    assert_int_equal(r.points, 6), assert_int_equal(r.new_series, 1), assert_int_equal(r.duplicates, 0);
    n = add_rows(p, 0, NULL, NULL, 1, 0, 3, 2, 4);
    r = ingest_ok(f, p, n, NULL, 0);
    assert_int_equal(r.points, 6), assert_int_equal(r.new_series, 0);
    // the same values again: duplicates, nothing stored twice; the statics repeated unchanged: fine
    nst = 0;
    n   = add_rows(p, 0, st, &nst, 1, 0, 3, 0, 4);
    r   = ingest_ok(f, p, n, st, nst);
    assert_int_equal(r.points, 0), assert_int_equal(r.duplicates, 12);
    // a good new point with a conflicting duplicate: refused whole; the good point is then new
    n         = add_rows(p, 0, NULL, NULL, 1, 3, 4, 0, 1);
    p[n]      = p[0];
    p[n].ts_ms = sample_ts(1, 0), p[n].value += 1;
    expect_refused(f, p, n + 1, NULL, 0, "duplicate: the step already has the value");
    r = ingest_ok(f, p, 1, NULL, 0);
    assert_int_equal(r.points, 1);
    // the same (series, step, column) twice in one call with two values: refused
    p[1] = p[0], p[1].value += 0.5;
    p[0].ts_ms = p[1].ts_ms = sample_ts(1, 4);
    expect_refused(f, p, 2, NULL, 0, "duplicate");
    // a timestamp within half a step of row 4 is row 4 (rounded to the nearest step)
    p[0].ts_ms = sample_ts(1, 4) + STEP_MS / 2 - 1;
    r          = ingest_ok(f, p, 1, NULL, 0);
    p[0].ts_ms = sample_ts(1, 4) - STEP_MS / 2;
    r          = ingest_ok(f, p, 1, NULL, 0);
    assert_int_equal(r.duplicates, 1);
    // a gap (row 6 while the newest is 4): refused, naming the missing step
    n = add_rows(p, 0, NULL, NULL, 1, 6, 7, 0, 1);
    expect_refused(f, p, n, NULL, 0, "gap: steps");
    // a late point: older than the window (288 steps) once row 300 is in, within one call
    n = add_rows(p, 0, NULL, NULL, 1, 5, 6, 0, 1);
    ingest_ok(f, p, n, NULL, 0);
    // a derived column, an unknown column, a non-finite value
    p[0].column = "hour", p[0].column_len = 4;
    expect_refused(f, p, 1, NULL, 0, "derived from the timestamp");
    p[0].column = "cpu", p[0].column_len = 3;
    expect_refused(f, p, 1, NULL, 0, "not a column of the model");
    p[0].column = "cpu_pct", p[0].column_len = 7, p[0].value = NAN;
    expect_refused(f, p, 1, NULL, 0, "not finite");
    // a new series without its static profile; with a label the model never saw; a static changed
    n = add_rows(p, 0, NULL, NULL, 0, 0, 1, 0, 1); // cache-03
    expect_refused(f, p, n, NULL, 0, "static 'profile' is required on first sight");
    fleet_static bad = {sample_id(0), strlen(sample_id(0)), "profile", 7, "mainframe", 9};
    expect_refused(f, p, n, &bad, 1, "never saw");
    fleet_static changed = {sample_id(1), strlen(sample_id(1)), "profile", 7, "cache", 5};
    fleet_point  q       = p[0];
    q.series = sample_id(1), q.series_len = strlen(q.series), q.ts_ms = sample_ts(1, 0), q.value = sample_value(1, 0, 0);
    expect_refused(f, &q, 1, &changed, 1, "cannot become 'cache'");
    nst = 0;
    n   = add_rows(p, 0, st, &nst, 0, 0, 1, 0, 1);
    assert_int_equal(ingest_ok(f, p, n, st, nst).new_series, 1);
    // the fleet holds 2 series: a third is refused
    nst = 0;
    n   = add_rows(p, 0, st, &nst, 2, 0, 1, 0, 1);
    expect_refused(f, p, n, st, nst, "fleet is full");
    fleet_info fi;
    fleet_get_info(f, &fi);
    assert_int_equal(fi.n_series, 2), assert_int_equal(fi.window, 288);
    fleet_close(f);

    // "restart": a gap is accepted; a late point (older than the window after the call) is refused
    f   = open_fleet(write_config("restart.json", BASE_CONFIG ", \"gaps\": \"restart\"}"), "restart.db", 4);
    nst = 0;
    n   = add_rows(p, 0, st, &nst, 1, 0, 1, 0, 1);
    ingest_ok(f, p, n, st, nst);
    n        = add_rows(p, 0, NULL, NULL, 1, 1, 2, 0, 1);
    p[0].ts_ms += 10 * STEP_MS; // a gap of 10 steps
    ingest_ok(f, p, 1, NULL, 0);
    p[1]       = p[0];
    p[1].ts_ms = sample_ts(1, 0) + 400 * STEP_MS, p[0].ts_ms = sample_ts(1, 0) + 100 * STEP_MS;
    expect_refused(f, p, 2, NULL, 0, "late: older than the series' window");
    fleet_close(f);

    // "duplicates": "first" (several Prometheus scrapes per step): the first value of a (series, step,
    // column) stays, later other values are counted as ignored, the same value as a duplicate
    f   = open_fleet(write_config("first.json", BASE_CONFIG ", \"duplicates\": \"first\"}"), "first.db", 4);
    nst = 0;
    n   = add_rows(p, 0, st, &nst, 1, 0, 1, 0, 1);
    p[1] = p[0], p[1].value = p[0].value + 1;  // A, B, A for step 0 in one call
    p[2] = p[0];
    r = ingest_ok(f, p, 3, st, nst);
    assert_int_equal(r.points, 1), assert_int_equal(r.ignored, 1), assert_int_equal(r.duplicates, 1);
    r = ingest_ok(f, &p[1], 1, NULL, 0);       // B again: still ignored (A stays)
    assert_int_equal(r.points, 0), assert_int_equal(r.ignored, 1);
    r = ingest_ok(f, &p[0], 1, NULL, 0);       // A again: a duplicate of what is stored
    assert_int_equal(r.duplicates, 1), assert_int_equal(r.ignored, 0);
    assert_int_equal(atomic_load(&fleet_get_stats(f)->ignored), 2);
    fleet_close(f);
}

// ---- forecasts --------------------------------------------------------------------------------------------

// Column `name` of a part of the sample's series (history / future), len rows: labels into lab,
// numbers into val.
static tft_column sample_column(const tft_json *part, const char *name, int len, double *val, const char **lab) {
    const tft_json *col    = tft_json_get(part, name);
    int             labels = tft_json_at(col, 0)->type == TFT_JSON_STRING;
    for (int r = 0; r < len; r++) {
        const tft_json *v = tft_json_at(col, (uint32_t)r);
        if (labels) lab[r] = v->str;
        else val[r] = v->num;
    }
    return labels ? (tft_column){.name = name, .labels = lab, .len = len}
                  : (tft_column){.name = name, .values = val, .len = len};
}

// The sample's series i as tft_forecast takes it (the reference): statics, 288 history rows with the
// hour/weekday the sample carries, 96 future rows.
static void reference_forecast(int i, float *q) {
    const tft_json *s = sample_series(i), *h = tft_json_get(s, "history"), *fu = tft_json_get(s, "future");
    const tft_model_info *mi = tft_model_get_info(gm);
    tft_column            stat[2], hist[6], fut[2];
    const char           *sv[2] = {sample_id(i), sample_profile(i)};
    static double         vals[8][288];
    static const char    *labs[8][288];
    for (int k = 0; k < 2; k++) stat[k] = (tft_column){.name = mi->static_inputs[k], .labels = &sv[k], .len = 1};
    for (int k = 0; k < mi->n_history_inputs; k++)
        hist[k] = sample_column(h, mi->history_inputs[k], 288, vals[k], labs[k]);
    for (int k = 0; k < mi->n_future_inputs; k++)
        fut[k] = sample_column(fu, mi->future_inputs[k], 96, vals[6 + k], labs[6 + k]);
    tft_series ser = {.id = sample_id(i), .n_history = 288, .horizon = 96, .statics = stat, .n_statics = 2,
                      .history = hist, .n_history_columns = mi->n_history_inputs, .future = fut,
                      .n_future_columns = mi->n_future_inputs};
    tft_context *c = NULL;
    assert_int_equal(tft_context_new(gm, NULL, &c), TFT_OK);
    tft_forecast_output out = {.quantiles = q};
    assert_int_equal(tft_forecast(c, &ser, 1, &out), TFT_OK);
    tft_context_free(c);
}

static char *forecasts_json(fleet *f, const char *const *ids, const size_t *lens, size_t n) {
    size_t cap  = 1 << 22;
    char  *buf  = malloc(cap);
    tft_jw o    = {buf, cap, 0, 0};
    assert_true(fleet_write_forecasts(f, ids, lens, n, &o) > 0);
    return buf;
}

static uint64_t stat_of(fleet *f, int which) {
    fleet_stats *s = fleet_get_stats(f);
    return which == 0 ? atomic_load(&s->cache_hits) : which == 1 ? atomic_load(&s->cache_misses)
                                                                 : atomic_load(&s->series_computed);
}

static void test_forecasts_cache_restore(void **state) {
    (void)state;
    const char *cfg = write_config("fc.json", BASE_CONFIG ", \"thresholds\": [{\"target\": \"cpu_pct\", \"above\": 60, "
                                              "\"within_steps\": 12}]}");
    fleet        *f   = open_fleet(cfg, "fc.db", 8);
    int           ns  = n_sample_series();
    fleet_point  *p   = malloc(sizeof *p * 288 * 4 * (size_t)ns);
    fleet_static  st[8];
    size_t        nst = 0, n = 0;
    for (int i = 0; i < ns; i++) n = add_rows(p, n, st, &nst, i, 0, 288, 0, 4);
    ingest_ok(f, p, n, st, nst);
    char err[512];
    assert_int_equal(fleet_refresh(f, NULL, NULL, 0, 1, NULL, err, sizeof err), 0);
    assert_int_equal(stat_of(f, 1), (uint64_t)ns); // misses
    assert_int_equal(stat_of(f, 2), (uint64_t)ns); // computed
    // bitwise tft_forecast on the same rows, with the sample's own hour/weekday columns
    const tft_model_info *mi = tft_model_get_info(gm);
    size_t                nq = (size_t)mi->n_targets * 96 * (size_t)mi->n_quantiles;
    float                *ref = malloc(nq * sizeof(float));
    for (int i = 0; i < ns; i++) {
        reference_forecast(i, ref);
        const char *id = sample_id(i);
        size_t      il = strlen(id);
        char       *one = forecasts_json(f, &id, &il, 1);
        tft_json   *doc = NULL;
        assert_int_equal(tft_json_parse(one, strlen(one), NULL, &doc, err, sizeof err), 0);
        const tft_json *s = tft_json_at(tft_json_get(doc, "series"), 0);
        assert_string_equal(tft_json_get(s, "id")->str, id);
        assert_int_equal((int)tft_json_get(s, "history_rows")->num, 288);
        assert_true(tft_json_get(s, "last_ts_ms")->num == (double)sample_ts(i, 287));
        for (int t = 0; t < mi->n_targets; t++) {
            const tft_json *rows = tft_json_get(tft_json_get(s, "quantiles"), mi->targets[t]);
            for (int h = 0; h < 96; h++)
                for (int k = 0; k < mi->n_quantiles; k++) {
                    float want = ref[((size_t)t * 96 + (size_t)h) * (size_t)mi->n_quantiles + (size_t)k];
                    float got  = (float)tft_json_at(tft_json_at(rows, (uint32_t)h), (uint32_t)k)->num;
                    if (got != want) fail_msg("%s %s step %d q %d: %.9g != %.9g", id, mi->targets[t], h, k, got, want);
                }
        }
        // the risk block: p_within = the largest of the first 12 step probabilities
        const tft_json *rk = tft_json_at(tft_json_get(s, "risk"), 0);
        double          mx = 0;
        for (int h = 0; h < 12; h++) {
            double ph = tft_json_at(tft_json_get(rk, "p_step"), (uint32_t)h)->num;
            mx        = ph > mx ? ph : mx;
        }
        if ((float)tft_json_get(rk, "p_within")->num != (float)mx)
            fail_msg("%s: p_within %.9g, the largest of the first 12 steps %.9g", id, tft_json_get(rk, "p_within")->num, mx);
        tft_json_free(doc);
        free(one);
    }
    // served from the cache: hits, nothing computed
    assert_int_equal(fleet_refresh(f, NULL, NULL, 0, 1, NULL, err, sizeof err), 0);
    assert_int_equal(stat_of(f, 0), (uint64_t)ns);
    assert_int_equal(stat_of(f, 2), (uint64_t)ns);
    // an incomplete row (one column of step 288) leaves the forecast as it was; the series is
    // recomputed (new data version) to the same numbers
    n = add_rows(p, 0, NULL, NULL, 1, 0, 1, 0, 1);
    p[0].ts_ms = sample_ts(1, 287) + STEP_MS;
    ingest_ok(f, p, 1, NULL, 0);
    const char *db = sample_id(1);
    size_t      dl = strlen(db);
    assert_int_equal(fleet_refresh(f, &db, &dl, 1, 1, NULL, err, sizeof err), 0);
    assert_int_equal(stat_of(f, 1), (uint64_t)ns + 1);
    assert_int_equal(stat_of(f, 2), (uint64_t)ns + 1);
    // an unknown id
    const char *nope = "nope";
    size_t      nl = 4, unknown = 99;
    assert_int_equal(fleet_refresh(f, &nope, &nl, 1, 1, &unknown, err, sizeof err), -1);
    assert_int_equal(unknown, 0);
    // a series with 100 rows: insufficient_history in its answer
    nst = 0;
    n   = add_rows(p, 0, st, &nst, 0, 0, 100, 0, 4);
    fleet *g = open_fleet(cfg, "short.db", 2);
    ingest_ok(g, p, n, st, nst);
    assert_int_equal(fleet_refresh(g, NULL, NULL, 0, 1, NULL, err, sizeof err), 0);
    char *sh = forecasts_json(g, NULL, NULL, 0);
    assert_non_null(strstr(sh, "\"code\":\"insufficient_history\",\"message\":\"100 consecutive complete rows"));
    free(sh);
    fleet_close(g);
    // restore: the same store reopened gives the same forecasts (the cache is rebuilt from the windows)
    char *before = forecasts_json(f, NULL, NULL, 0);
    fleet_close(f);
    f = open_fleet(cfg, "fc.db", 8);
    fleet_info fi;
    fleet_get_info(f, &fi);
    assert_int_equal(fi.n_series, ns);
    assert_int_equal(fleet_refresh(f, NULL, NULL, 0, 1, NULL, err, sizeof err), 0);
    char *after = forecasts_json(f, NULL, NULL, 0);
    // the versions restart at 1 after a restore: compare from the first "history_rows" of each
    for (const char *a = strstr(before, "\"history_rows\""), *b = strstr(after, "\"history_rows\""); a || b;
         a = strstr(a + 1, "\"history_rows\""), b = strstr(b + 1, "\"history_rows\"")) {
        assert_non_null(a), assert_non_null(b);
        const char *ae = strstr(a, "]}]}"), *be = strstr(b, "]}]}");
        assert_non_null(ae), assert_non_null(be);
        assert_int_equal(ae - a, be - b);
        assert_memory_equal(a, b, (size_t)(ae - a));
    }
    // a store of another layout is refused: here a different step
    fleet_close(f);
    char          path[128];
    fleet_options o = {.store = path};
    snprintf(path, sizeof path, "%s/fc.db", dir);
    const char *other = write_config("other.json", "{\"step_seconds\": 60, \"time_features\": {\"hour\": \"hour_frac\", "
                                                   "\"weekday\": \"weekday\"}}");
    assert_null(fleet_open(gm, other, &o, err, sizeof err));
    assert_non_null(strstr(err, "was written for another model or config"));
    free(before), free(after), free(ref), free(p);
}

static void test_config_errors(void **state) {
    (void)state;
    char err[1024];
    struct { const char *json, *want; } cases[] = {
        {"{\"time_features\": {\"hour\": \"hour_frac\", \"weekday\": \"weekday\"}}", "\"step_seconds\""},
        {"{\"step_seconds\": 300, \"time_features\": {\"hour\": \"hour_frac\"}}", "known input 'weekday' needs a recipe"},
        {BASE_CONFIG ", \"bogus\": 1}", "unknown key \"bogus\""},
        {"{\"step_seconds\": 300, \"time_features\": {\"hour\": \"hours\", \"weekday\": \"weekday\"}}", "the recipe must be"},
        {BASE_CONFIG ", \"thresholds\": [{\"target\": \"disk_io\", \"above\": 1, \"within_steps\": 3}]}", "thresholds[0]"},
        {BASE_CONFIG ", \"gauges\": {\"horizons\": [97], \"quantiles\": [0.5]}}", "gauges.horizons"},
        {BASE_CONFIG ", \"gauges\": {\"horizons\": [1], \"quantiles\": [0.3]}}", "gauges.quantiles"},
        {BASE_CONFIG ", \"gaps\": \"fill\"}", "\"gaps\""},
        {BASE_CONFIG ", \"duplicates\": \"last\"}", "\"duplicates\" must be"},
        {"[1]", "top level"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.json", i);
        fleet_options o = {.store = "/nonexistent/never.db"};
        fleet        *f = fleet_open(gm, write_config(name, cases[i].json), &o, err, sizeof err);
        assert_null(f);
        if (!strstr(err, cases[i].want)) fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].want);
    }
}

// ---- the kill -9 test ----------------------------------------------------------------------------------

typedef struct proc { pid_t pid; int port; char out[128]; } proc;

// Children started and not yet reaped: a failing test (cmocka jumps out of it) would leave them
// running; the server tests' teardown kills them.
static pid_t live[8];
static int   nlive;
static void  track(pid_t pid) {
    if (nlive < 8) live[nlive++] = pid;
}
static void forget(pid_t pid) {
    for (int i = 0; i < nlive; i++)
        if (live[i] == pid) live[i] = live[--nlive];
}
static int kill_children(void **state) {
    (void)state;
    for (int i = 0; i < nlive; i++) kill(live[i], SIGKILL), waitpid(live[i], NULL, 0);
    nlive = 0;
    return 0;
}

static void start_server(proc *s, const char *config, const char *store) {
    snprintf(s->out, sizeof s->out, "%s/srv_out_XXXXXX", dir);
    int fd = mkstemp(s->out);
    assert_true(fd >= 0);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        dup2(fd, 1), dup2(fd, 2);
        execl(SERVER, SERVER, "--model", MODEL, "--port", "0", "--workers", "1", "--pin", "0", "--fleet", config,
              "--fleet-store", store, (char *)NULL);
        _exit(127);
    }
    track(s->pid);
    close(fd);
    for (int tries = 0; tries < 6000; tries++) { // up to 60 s (sanitizer builds on a loaded machine)
        char *text = tu_slurp(s->out, NULL);
        char *at   = text ? strstr(text, "listening on http://127.0.0.1:") : NULL;
        if (at) s->port = atoi(at + strlen("listening on http://127.0.0.1:"));
        free(text);
        if (at) return;
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) fail_msg("tft-server exited at start: %s", tu_slurp(s->out, NULL));
        usleep(10000);
    }
    fail_msg("tft-server did not start");
}

// A tft-server on its own config (BASE_CONFIG + extra keys, written as NAME.json) and store (NAME.db).
static void start_fleet_server(proc *s, const char *name, const char *extra) {
    char file[64], json[1024], store[128];
    snprintf(file, sizeof file, "%s.json", name);
    snprintf(json, sizeof json, BASE_CONFIG ", %s}", extra);
    snprintf(store, sizeof store, "%s/%s.db", dir, name);
    start_server(s, write_config(file, json), store);
}

static void stop_server(proc *s, int sig) {
    int st = 0;
    kill(s->pid, sig);
    waitpid(s->pid, &st, 0);
    forget(s->pid);
    if (sig == SIGTERM && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) fail_msg("tft-server did not exit 0 on SIGTERM");
    unlink(s->out);
}

// One HTTP/1.1 exchange (Connection: close). The status, or -1 when the connection failed (the
// server was killed); *resp (malloc'd) the body.
static int http(int port, const char *method, const char *path, const char *body, char **resp) {
    *resp  = NULL;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7F000001)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return close(fd), -1;
    size_t blen = body ? strlen(body) : 0;
    char   head[256];
    int    hl = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
                         "application/json\r\nContent-Length: %zu\r\n\r\n", method, path, blen);
    if (send(fd, head, (size_t)hl, MSG_NOSIGNAL) != hl || (blen && send(fd, body, blen, MSG_NOSIGNAL) != (ssize_t)blen))
        return close(fd), -1;
    size_t cap = 1 << 16, n = 0;
    char  *buf = malloc(cap);
    for (ssize_t k; (k = recv(fd, buf + n, cap - n - 1, 0)) > 0;) {
        n += (size_t)k;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    close(fd);
    buf[n]    = 0;
    char *sep = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.1 ", 9) != 0 || !sep) return free(buf), -1;
    int status = atoi(buf + 9);
    *resp      = strdup(sep + 4);
    free(buf);
    size_t rl = strlen(*resp);
    if (rl && (*resp)[rl - 1] == '\n') (*resp)[rl - 1] = 0; // a JSON answer ends with a newline
    return status;
}

// The ingest body of rows [r0, r1) of every sample series, all columns (the statics on row 0).
static char *rows_body(int r0, int r1) {
    size_t cap = 1 << 20, o = 0;
    char  *b   = malloc(cap);
    o += (size_t)snprintf(b + o, cap - o, "{\"points\":[");
    for (int r = r0; r < r1; r++)
        for (int i = 0; i < n_sample_series(); i++) {
            if (o + 512 > cap) b = realloc(b, cap *= 2);
            o += (size_t)snprintf(b + o, cap - o, "%s{\"series\":\"%s\",\"ts_ms\":%lld,\"values\":{", r == r0 && i == 0 ? "" : ",",
                                  sample_id(i), (long long)sample_ts(i, r));
            for (int c = 0; c < 4; c++)
                o += (size_t)snprintf(b + o, cap - o, "%s\"%s\":%.17g", c ? "," : "", obs_cols[c], sample_value(i, c, r));
            o += (size_t)snprintf(b + o, cap - o, "}");
            if (r == 0) o += (size_t)snprintf(b + o, cap - o, ",\"static\":{\"profile\":\"%s\"}", sample_profile(i));
            o += (size_t)snprintf(b + o, cap - o, "}");
        }
    snprintf(b + o, cap - o, "]}");
    return b;
}

typedef struct feeder { int port; _Atomic int acked; } feeder; // rows acknowledged (all series)

// Sustained ingest: one request per row, until the server goes away or every row is in.
static void *feed_main(void *arg) {
    feeder *fd = arg;
    for (int r = 0; r < 288; r++) {
        char *body = rows_body(r, r + 1), *resp = NULL;
        int   st   = http(fd->port, "POST", "/v1/fleet/ingest", body, &resp);
        free(body), free(resp);
        if (st != 200) break;
        atomic_store(&fd->acked, r + 1);
    }
    return NULL;
}

// The answer with every "data_version":N and "forecast_version":N removed (they count ingest calls,
// which differ between a server that restarted and one that did not).
static void strip_key(char *s, const char *key) {
    for (char *at; (at = strstr(s, key));) {
        char *e = at + strlen(key);
        while (*e >= '0' && *e <= '9') e++;
        if (*e == ',') e++;
        memmove(at, e, strlen(e) + 1);
    }
}

static void test_kill9_durability(void **state) {
    (void)state;
    const char *cfg = write_config("kill.json", BASE_CONFIG ", \"gaps\": \"reject\", \"sync\": \"full\", "
                                                "\"recompute_after_ingest\": false, \"max_series\": 16}");
    char store[128], ref_store[128];
    snprintf(store, sizeof store, "%s/kill.db", dir);
    snprintf(ref_store, sizeof ref_store, "%s/ref.db", dir);
    proc a, ref;
    start_server(&a, cfg, store);
    feeder fd = {.port = a.port};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, feed_main, &fd), 0);
    // kill -9 while the feeder is mid-stream: after 150 acknowledged rows (a request may be in flight)
    while (atomic_load(&fd.acked) < 150) usleep(1000);
    kill(a.pid, SIGKILL);
    waitpid(a.pid, NULL, 0);
    forget(a.pid);
    pthread_join(th, NULL);
    int acked = atomic_load(&fd.acked);
    assert_true(acked >= 150 && acked < 288);
    unlink(a.out);
    // restart on the same store: every acknowledged point is there (all duplicates, none stored)
    start_server(&a, cfg, store);
    char *body = rows_body(0, acked), *resp = NULL;
    assert_int_equal(http(a.port, "POST", "/v1/fleet/ingest", body, &resp), 200);
    char want[128];
    snprintf(want, sizeof want, "{\"stored\":0,\"duplicates\":%d,\"new_series\":0}", acked * 4 * n_sample_series());
    assert_string_equal(resp, want);
    free(body), free(resp);
    // the rest (the row in flight at the kill may be there already: a duplicate then)
    body = rows_body(acked, 288);
    assert_int_equal(http(a.port, "POST", "/v1/fleet/ingest", body, &resp), 200);
    free(body), free(resp);
    // a server that never stopped, fed the same rows
    start_server(&ref, cfg, ref_store);
    body = rows_body(0, 288);
    assert_int_equal(http(ref.port, "POST", "/v1/fleet/ingest", body, &resp), 200);
    free(body), free(resp);
    char *fa = NULL, *fr = NULL;
    assert_int_equal(http(a.port, "GET", "/v1/fleet/forecasts", NULL, &fa), 200);
    assert_int_equal(http(ref.port, "GET", "/v1/fleet/forecasts", NULL, &fr), 200);
    strip_key(fa, "\"data_version\":"), strip_key(fa, "\"forecast_version\":");
    strip_key(fr, "\"data_version\":"), strip_key(fr, "\"forecast_version\":");
    assert_non_null(strstr(fa, "\"history_rows\":288"));
    assert_string_equal(fa, fr);
    free(fa), free(fr);
    stop_server(&a, SIGTERM);
    stop_server(&ref, SIGTERM);
}


// ---- the HTTP endpoints --------------------------------------------------------------------------------

static void expect_http(int port, const char *method, const char *path, const char *body, int status, const char *has) {
    char *resp = NULL;
    int   st   = http(port, method, path, body, &resp);
    if (st != status || (has && (!resp || !strstr(resp, has))))
        fail_msg("%s %s: %d '%.300s', expected %d with '%s'", method, path, st, resp ? resp : "", status, has ? has : "");
    free(resp);
}

// The value on the /metrics line that starts with line_start; -1 when there is none.
static double metric(int port, const char *line_start) {
    char  *resp = NULL;
    double v    = -1;
    if (http(port, "GET", "/metrics", NULL, &resp) == 200) {
        for (const char *l = resp; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
            if (strncmp(l, line_start, strlen(line_start)) == 0) {
                v = strtod(l + strlen(line_start), NULL);
                break;
            }
    }
    free(resp);
    return v;
}

static int count_lines(const char *s, const char *prefix) {
    int n = 0;
    for (const char *l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) n += strncmp(l, prefix, strlen(prefix)) == 0;
    return n;
}

static void test_http_endpoints(void **state) {
    (void)state;
    proc a;
    start_fleet_server(&a, "http", "\"recompute_after_ingest\": true, \"max_series\": 8, \"thresholds\": [{\"target\": "
                                   "\"cpu_pct\", \"above\": 90, \"within_steps\": 12}, {\"target\": \"mem_pct\", \"above\": 95, "
                                   "\"within_steps\": 96}], \"gauges\": {\"horizons\": [1, 12], \"quantiles\": [0.5, 0.9, 0.98]}");
    expect_http(a.port, "POST", "/v1/fleet/ingest", "{\"points\": [", 400, "\"code\":\"bad_request\"");
    expect_http(a.port, "POST", "/v1/fleet/ingest", "{\"points\": [{\"series\": \"db-01\"}]}", 400, "points[0]: must be");
    expect_http(a.port, "POST", "/v1/fleet/ingest", "{\"rows\": []}", 400, "the body must be");
    expect_http(a.port, "POST", "/v1/fleet/ingest",
                "{\"points\": [{\"series\": \"db-01\", \"ts_ms\": 1772409600000, \"values\": {\"cpu_pct\": \"high\"}}]}", 400,
                "points[0].values.cpu_pct: must be a number");
    expect_http(a.port, "POST", "/v1/fleet/ingest",
                "{\"points\": [{\"series\": \"db-01\", \"ts_ms\": 1772409600000, \"values\": {\"cpu_pct\": 1}}]}", 422,
                "\"code\":\"ingest_refused\",\"message\":\"series 'db-01' is new: its static 'profile' is required");
    expect_http(a.port, "GET", "/v1/fleet/ingest", NULL, 405, "takes POST");
    expect_http(a.port, "POST", "/v1/fleet/forecasts", "{}", 405, "takes GET");
    expect_http(a.port, "GET", "/v1/fleet/forecasts/db-01", NULL, 404, "\"code\":\"unknown_series\"");
    char *body = rows_body(0, 288);
    char  want[96];
    snprintf(want, sizeof want, "{\"stored\":%d,\"duplicates\":0,\"new_series\":%d}", 288 * 4 * n_sample_series(),
             n_sample_series());
    expect_http(a.port, "POST", "/v1/fleet/ingest", body, 200, want);
    free(body);
    // recompute_after_ingest: the worker computes every series without a read asking
    for (int i = 0; i < 6000 && metric(a.port, "tft_fleet_series_computed_total ") < n_sample_series(); i++) usleep(10000);
    assert_true(metric(a.port, "tft_fleet_series_computed_total ") == n_sample_series());
    expect_http(a.port, "GET", "/v1/fleet/forecasts", NULL, 200, "\"history_rows\":288");
    expect_http(a.port, "GET", "/v1/fleet/forecasts?series=db-01,web-02", NULL, 200, "\"id\":\"web-02\"");
    expect_http(a.port, "GET", "/v1/fleet/forecasts?series=db-01,zz", NULL, 404, "no series 'zz'");
    expect_http(a.port, "GET", "/v1/fleet/forecasts/db-01", NULL, 200, "\"risk\":[{\"target\":\"cpu_pct\",\"above\":90");
    assert_true(metric(a.port, "tft_fleet_cache_reads_total{result=\"hit\"} ") == n_sample_series() + 3);
    assert_true(metric(a.port, "tft_fleet_cache_reads_total{result=\"miss\"} ") == 0);
    assert_true(metric(a.port, "tft_http_requests_total{endpoint=\"fleet\",code=\"200\"} ") >= 4);
    assert_true(metric(a.port, "tft_fleet_stage_seconds_total{stage=\"forecast_compute\"} ") > 0);
    // the gauges: series x targets x horizons x quantiles, series x thresholds, one timestamp per series
    char *prom = NULL;
    assert_int_equal(http(a.port, "GET", "/metrics/forecasts", NULL, &prom), 200);
    int ns = n_sample_series();
    assert_int_equal(count_lines(prom, "tft_fleet_forecast{"), ns * 2 * 2 * 3);
    assert_int_equal(count_lines(prom, "tft_fleet_breach_probability{"), ns * 2);
    assert_int_equal(count_lines(prom, "tft_fleet_forecast_last_timestamp_seconds{"), ns);
    assert_non_null(strstr(prom, "tft_fleet_forecast{series=\"db-01\",target=\"cpu_pct\",horizon=\"12\",level=\"0.9\"} "));
    assert_non_null(strstr(prom, "tft_fleet_breach_probability{series=\"db-01\",target=\"mem_pct\",above=\"95\",within_steps=\"96\"} "));
    // Prometheus' own linter on the exposition, where it is installed (Debian's prometheus package)
    if (access("/usr/bin/promtool", X_OK) == 0) {
        char path[128], cmd[300];
        snprintf(path, sizeof path, "%s/forecasts.prom", dir);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fprintf(fp, "%s\n", prom); // (http() took the final newline off)
        fclose(fp);
        snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < %s", path);
        assert_int_equal(system(cmd), 0);
    } else
        printf("test_http_endpoints: promtool not installed: the gauges' exposition is not linted\n");
    free(prom);
    stop_server(&a, SIGTERM);
}

// ---- a real Prometheus scraping the forecast gauges --------------------------------------------------------

static int free_port(void) {
    int                fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a  = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7F000001)};
    socklen_t          l  = sizeof a;
    assert_true(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &l) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

// Starts Debian's prometheus on a free loopback port with config yml and its TSDB in tsdb, its output
// in log; returns its pid (tracked: killed on teardown) and sets *port.
static pid_t start_prometheus(const char *yml, const char *tsdb, const char *log, int *port) {
    char cfgarg[300], dbarg[200], listen_arg[64];
    *port = free_port();
    snprintf(listen_arg, sizeof listen_arg, "--web.listen-address=127.0.0.1:%d", *port);
    snprintf(cfgarg, sizeof cfgarg, "--config.file=%s", yml);
    snprintf(dbarg, sizeof dbarg, "--storage.tsdb.path=%s", tsdb);
    pid_t pp = fork();
    assert_true(pp >= 0);
    if (pp == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1), dup2(fd, 2);
        execl("/usr/bin/prometheus", "prometheus", cfgarg, dbarg, listen_arg, "--log.level=warn", (char *)NULL);
        _exit(127);
    }
    track(pp);
    return pp;
}

// Debian's prometheus scrapes tft's /metrics/forecasts on loopback every second; its HTTP API then
// answers a query on the breach probability and the forecast gauges with tft's series. Skipped (with
// a line saying so) where the package is not installed; CI installs it.
static void test_prometheus_scrapes_gauges(void **state) {
    (void)state;
    if (access("/usr/bin/prometheus", X_OK) != 0) {
        printf("test_prometheus_scrapes_gauges: SKIPPED: /usr/bin/prometheus not installed (apt-get install prometheus)\n");
        return;
    }
    proc a;
    start_fleet_server(&a, "prom", "\"recompute_after_ingest\": true, \"max_series\": 8, \"thresholds\": [{\"target\": "
                                   "\"cpu_pct\", \"above\": 90, \"within_steps\": 12}], \"gauges\": {\"horizons\": [12], "
                                   "\"quantiles\": [0.9]}");
    char *body = rows_body(0, 288);
    expect_http(a.port, "POST", "/v1/fleet/ingest", body, 200, "\"stored\"");
    free(body);
    char yml[256], prom_dir[128];
    snprintf(prom_dir, sizeof prom_dir, "%s/prometheus", dir);
    char y[512];
    snprintf(y, sizeof y, "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: tft-fleet\n"
             "    metrics_path: /metrics/forecasts\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n", a.port);
    snprintf(yml, sizeof yml, "%s", write_config("prometheus.yml", y));
    char log[128];
    snprintf(log, sizeof log, "%s/prometheus.log", dir);
    int   pport;
    pid_t pp = start_prometheus(yml, prom_dir, log, &pport);
    // poll its query API until a scrape of tft's gauges is in (up to 120 s on a loaded machine)
    const char *q = "/api/v1/query?query=tft_fleet_breach_probability%7Bseries%3D%22db-01%22%7D";
    char       *resp = NULL;
    int         ok   = 0;
    for (int i = 0; i < 1200 && !ok; i++) {
        free(resp), resp = NULL;
        if (http(pport, "GET", q, NULL, &resp) == 200 && strstr(resp, "\"series\":\"db-01\"")) ok = 1;
        else usleep(100000);
    }
    if (!ok) {
        kill(pp, SIGKILL), waitpid(pp, NULL, 0), forget(pp);
        fail_msg("prometheus never had tft's gauge: %s (its log: %s)", resp ? resp : "no answer", tu_slurp(log, NULL));
    }
    assert_non_null(strstr(resp, "\"target\":\"cpu_pct\""));
    assert_non_null(strstr(resp, "\"within_steps\":\"12\""));
    free(resp);
    // the forecast gauge of every sample series, through PromQL
    assert_int_equal(http(pport, "GET", "/api/v1/query?query=count(tft_fleet_forecast%7Blevel%3D%220.9%22%7D)", NULL, &resp),
                     200);
    char want[64];
    snprintf(want, sizeof want, "\"%d\"]", n_sample_series() * 2); // series x targets
    if (!strstr(resp, want)) fail_msg("count(tft_fleet_forecast): %s, expected %s", resp, want);
    free(resp);
    kill(pp, SIGTERM);
    waitpid(pp, NULL, 0);
    forget(pp);
    stop_server(&a, SIGTERM);
}

// A forecast read is capped by --max-output-values (here through its environment variable): reading
// every series is refused with 413 before anything is computed, a short ?series= list still answers.
static void test_read_cap(void **state) {
    (void)state;
    proc a;
    setenv("TFT_SERVER_MAX_OUTPUT_VALUES", "3000", 1); // 96 steps x 2 targets x 7 quantiles = 1344 a series
    start_fleet_server(&a, "cap", "\"recompute_after_ingest\": false, \"max_series\": 8");
    unsetenv("TFT_SERVER_MAX_OUTPUT_VALUES");
    char *body = rows_body(0, 288);
    expect_http(a.port, "POST", "/v1/fleet/ingest", body, 200, "\"stored\"");
    free(body);
    expect_http(a.port, "GET", "/v1/fleet/forecasts", NULL, 413,
                "\"code\":\"response_too_large\",\"message\":\"the response would have 5376 numbers (4 series), more "
                "than --max-output-values 3000");
    assert_true(metric(a.port, "tft_fleet_series_computed_total ") == 0); // refused before computing
    expect_http(a.port, "GET", "/v1/fleet/forecasts?series=db-01,web-02", NULL, 200, "\"id\":\"web-02\"");
    stop_server(&a, SIGTERM);
}

// ---- the whole Prometheus loop: scrape -> remote write -> tft -> forecasts -> scrape -> PromQL ----------

// A static exposition on loopback (the "exporter"): every GET gets the same text.
typedef struct exposition { int fd, port; char text[1024]; _Atomic int stop; pthread_t thread; } exposition;

static void *exposition_main(void *arg) {
    exposition *e = arg;
    while (!atomic_load(&e->stop)) {
        int c = accept(e->fd, NULL, NULL);
        if (c < 0) continue;
        char req[4096];
        (void)!recv(c, req, sizeof req, 0); // one GET, read (mostly) and ignored
        char head[160];
        int  hl = snprintf(head, sizeof head, "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                           "Content-Length: %zu\r\n\r\n", strlen(e->text));
        (void)!send(c, head, (size_t)hl, MSG_NOSIGNAL);
        (void)!send(c, e->text, strlen(e->text), MSG_NOSIGNAL);
        close(c);
    }
    return NULL;
}

static void exposition_start(exposition *e) {
    e->fd                = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7F000001)};
    socklen_t          l = sizeof a;
    assert_true(e->fd >= 0 && bind(e->fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(e->fd, 16) == 0 &&
                getsockname(e->fd, (struct sockaddr *)&a, &l) == 0);
    e->port = ntohs(a.sin_port);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000}; // accept wakes up to see stop
    setsockopt(e->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(pthread_create(&e->thread, NULL, exposition_main, e), 0);
}

static void exposition_stop(exposition *e) {
    atomic_store(&e->stop, 1);
    pthread_join(e->thread, NULL);
    close(e->fd);
}

// Debian's prometheus scrapes a static exposition of one server's four metrics and remote-writes
// them to tft (POST /api/v1/write, mapped by the config's "prometheus" section); tft already holds
// that server's 288 earlier rows (JSON ingest), so the remote-written row completes a full window and
// the forecast is recomputed; the same prometheus scrapes tft's /metrics/forecasts and answers PromQL
// on the gauge of that forecast. The row's values are checked exactly: the same row sent again as
// JSON is all duplicates (a different value would be refused). Skipped where the package is absent.
static void test_prometheus_remote_write_loop(void **state) {
    (void)state;
    if (access("/usr/bin/prometheus", X_OK) != 0) {
        printf("test_prometheus_remote_write_loop: SKIPPED: /usr/bin/prometheus not installed (apt-get install "
               "prometheus)\n");
        return;
    }
    // Prometheus remote-writes only samples newer than its own start (older ones in its WAL are not
    // sent), so the row it brings is stamped now, and the fleet rounds it to the nearest step. An hourly
    // step keeps the step of "now" fixed for the test's length: if the rounding boundary (half past)
    // is under 3 minutes away, wait until it has passed.
    int64_t phase = (int64_t)time(NULL) % 3600;
    if (phase >= 1800 - 180 && phase < 1800) sleep((unsigned)(1800 - phase + 1));
    const int64_t hour = 3600 * 1000;
    int64_t last = ((int64_t)time(NULL) * 1000 + hour / 2) / hour * hour; // the step the scrapes round to
    proc a;
    char store[128];
    snprintf(store, sizeof store, "%s/rw.db", dir);
    start_server(&a, write_config("rw.json",
                     "{\"step_seconds\": 3600, \"time_features\": {\"hour\": \"hour_frac\", \"weekday\": \"weekday\"}, "
                     "\"recompute_after_ingest\": true, \"max_series\": 8, \"gaps\": \"reject\", "
                     "\"gauges\": {\"horizons\": [1], \"quantiles\": [0.5]}, "
                     "\"prometheus\": {\"series_label\": \"server\", \"columns\": {"
                     "\"cpu_pct\": {\"metric\": \"demo_cpu_pct\"}, \"mem_pct\": {\"metric\": \"demo_mem_pct\"}, "
                     "\"disk_io\": {\"metric\": \"demo_disk_io\"}, \"net\": {\"metric\": \"demo_net\"}}, "
                     "\"statics\": {\"profile\": {\"label\": \"profile\"}}}}"), store);
    // the 288 rows before `last` go in as JSON, as a migration from full-history requests would
    const char *id = sample_id(0), *profile = sample_profile(0);
    size_t cap = 1 << 20, o = 0;
    char  *body = malloc(cap);
    o += (size_t)snprintf(body + o, cap - o, "{\"points\":[");
    for (int r = 0; r < 288; r++) {
        o += (size_t)snprintf(body + o, cap - o, "%s{\"series\":\"%s\",\"ts_ms\":%lld,\"values\":{", r ? "," : "", id,
                              (long long)(last - (288 - r) * hour));
        for (int c = 0; c < 4; c++)
            o += (size_t)snprintf(body + o, cap - o, "%s\"%s\":%.17g", c ? "," : "", obs_cols[c], sample_value(0, c, r));
        o += (size_t)snprintf(body + o, cap - o, "}%s%s%s}", r ? "" : ",\"static\":{\"profile\":\"", r ? "" : profile,
                              r ? "" : "\"}");
    }
    snprintf(body + o, cap - o, "]}");
    expect_http(a.port, "POST", "/v1/fleet/ingest", body, 200, "\"stored\":1152");
    free(body);

    exposition ex = {0};
    static const double vals[4] = {42.5, 61.25, 3.5, 7.75}; // exact in binary and in text
    o = 0;
    for (int c = 0; c < 4; c++)
        o += (size_t)snprintf(ex.text + o, sizeof ex.text - o, "demo_%s{server=\"%s\",profile=\"%s\"} %g\n",
                              obs_cols[c], id, profile, vals[c]);
    exposition_start(&ex);

    char y[1024], yml[256], prom_dir[128], log[128];
    snprintf(y, sizeof y,
             "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
             "scrape_configs:\n"
             "  - job_name: demo\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "  - job_name: tft-fleet\n    metrics_path: /metrics/forecasts\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "remote_write:\n"
             "  - url: http://127.0.0.1:%d/api/v1/write\n"
             "    write_relabel_configs: [{source_labels: [__name__], regex: 'demo_.*', action: keep}]\n"
             "    queue_config: {batch_send_deadline: 200ms, min_backoff: 100ms, max_backoff: 1s}\n",
             ex.port, a.port, a.port);
    snprintf(yml, sizeof yml, "%s", write_config("prometheus_rw.yml", y));
    snprintf(prom_dir, sizeof prom_dir, "%s/prometheus_rw", dir);
    snprintf(log, sizeof log, "%s/prometheus_rw.log", dir);
    int   pport;
    pid_t pp = start_prometheus(yml, prom_dir, log, &pport);

    // 1. the remote-written row reaches tft: the forecast's last step is `last` (up to 120 s on a
    // loaded machine)
    char path[128], want[64], *resp = NULL;
    snprintf(path, sizeof path, "/v1/fleet/forecasts/%s", id);
    snprintf(want, sizeof want, "\"last_ts_ms\":%lld", (long long)last);
    int ok = 0;
    for (int i = 0; i < 1200 && !ok; i++) {
        free(resp), resp = NULL;
        if (http(a.port, "GET", path, NULL, &resp) == 200 && strstr(resp, want)) ok = 1;
        else usleep(100000);
    }
    if (!ok) {
        kill(pp, SIGKILL), waitpid(pp, NULL, 0), forget(pp), exposition_stop(&ex);
        fail_msg("tft never got the remote-written row (prometheus' log: %s; tft's remote-write requests ok %g, "
                 "refused %g): %.300s", tu_slurp(log, NULL), metric(a.port, "tft_remote_write_requests_total{outcome=\"ok\"}"),
                 metric(a.port, "tft_remote_write_requests_total{outcome=\"refused\"}"), resp ? resp : "no answer");
    }
    assert_non_null(strstr(resp, "\"history_rows\":288"));
    free(resp), resp = NULL;
    // 2. exactly the scraped values: the same row as JSON is four duplicates
    char row[512];
    snprintf(row, sizeof row, "{\"points\":[{\"series\":\"%s\",\"ts_ms\":%lld,\"values\":{\"cpu_pct\":%g,"
             "\"mem_pct\":%g,\"disk_io\":%g,\"net\":%g}}]}", id, (long long)last, vals[0], vals[1], vals[2], vals[3]);
    expect_http(a.port, "POST", "/v1/fleet/ingest", row, 200, "\"stored\":0,\"duplicates\":4");
    assert_true(metric(a.port, "tft_remote_write_requests_total{outcome=\"ok\"}") >= 1);
    assert_true(metric(a.port, "tft_remote_write_samples_total{fate=\"stored\"}") == 4);
    // 3. prometheus scrapes the forecast gauge back and answers PromQL on it
    char q[256];
    snprintf(q, sizeof q, "/api/v1/query?query=tft_fleet_forecast%%7Bseries%%3D%%22%s%%22%%2Ctarget%%3D%%22cpu_pct%%22%%7D",
             id);
    snprintf(want, sizeof want, "\"series\":\"%s\"", id);
    ok = 0;
    for (int i = 0; i < 1200 && !ok; i++) {
        free(resp), resp = NULL;
        if (http(pport, "GET", q, NULL, &resp) == 200 && strstr(resp, want)) ok = 1;
        else usleep(100000);
    }
    if (!ok) {
        kill(pp, SIGKILL), waitpid(pp, NULL, 0), forget(pp), exposition_stop(&ex);
        fail_msg("prometheus never had tft's forecast gauge: %s", resp ? resp : "no answer");
    }
    assert_non_null(strstr(resp, "\"horizon\":\"1\""));
    free(resp);
    kill(pp, SIGTERM);
    waitpid(pp, NULL, 0);
    forget(pp);
    exposition_stop(&ex);
    stop_server(&a, SIGTERM);
}

// A server whose fleet config or store is unusable does not start: exit status 1 and the reason.
static void test_server_refuses_bad_fleet(void **state) {
    (void)state;
    const char *bad = write_config("bad_server.json", "{\"step_seconds\": 300}");
    char        out[128], cmd[512];
    snprintf(out, sizeof out, "%s/bad_server.out", dir);
    snprintf(cmd, sizeof cmd, "%s --model %s --port 0 --fleet %s --fleet-store %s/bad.db >%s 2>&1", SERVER, MODEL, bad,
             dir, out);
    int st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    char *text = tu_slurp(out, NULL);
    assert_non_null(text);
    if (!strstr(text, "tft-server: error: fleet config") || !strstr(text, "known input 'weekday' needs a recipe"))
        fail_msg("unexpected output: %s", text);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_features),     cmocka_unit_test(test_exceed_prob),
        cmocka_unit_test(test_ingest_rules),      cmocka_unit_test(test_forecasts_cache_restore),
        cmocka_unit_test(test_config_errors),     cmocka_unit_test_teardown(test_kill9_durability, kill_children),
        cmocka_unit_test_teardown(test_http_endpoints, kill_children),    cmocka_unit_test_teardown(test_prometheus_scrapes_gauges, kill_children),
        cmocka_unit_test_teardown(test_prometheus_remote_write_loop, kill_children),
        cmocka_unit_test_teardown(test_read_cap, kill_children),
        cmocka_unit_test(test_server_refuses_bad_fleet),
    };
    if (getenv("TFT_TEST_FILTER")) cmocka_set_test_filter(getenv("TFT_TEST_FILTER")); // e.g. "test_prom*"
    return cmocka_run_group_tests_name("fleet", tests, setup, teardown);
}
