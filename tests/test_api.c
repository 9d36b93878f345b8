// test_api.c: the public API's contracts, on a real exported model (weights/goldens/group_softplus:
// statics, known and unknown reals, categoricals with and without add_nan, min_encoder_length 6 of 24).
//  - batch invariance: each series alone vs inside a batch of 64 with mixed encoder lengths agrees
//    within 1e-6 relative (|d| <= 1e-6 * max(|y|, 1));
//  - determinism: the same input twice gives bitwise the same output;
//  - no allocation: 100 forecasts (series and network level) make zero libtft heap allocations;
//  - bad input: each case returns its specific status and a message naming the problem, and never
//    writes past the caller's output (a guard zone after the buffer must stay untouched).
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../engine/cli/request.h"
#include "../engine/tft.h"
#include "testutil.h"

uint64_t tft_debug_alloc_count(void); // libtft internal (engine/tft.c), counts every library allocation

#define MODEL "weights/goldens/group_softplus/model.safetensors"
#define FIXTURE "weights/goldens/group_softplus/fixture.safetensors"
#include "../loader/loader.h"

typedef struct env {
    tft_model  *m;
    tft_request r;       // the fixture's 8 series
    char       *text;
    int         Td, NT, Q, per;
} env;

static int setup(void **state) {
    env *e = calloc(1, sizeof *e);
    if (tft_model_load(MODEL, NULL, &e->m) != TFT_OK) {
        fprintf(stderr, "%s: %s\n", MODEL, tft_last_error());
        return -1;
    }
    tft_ld_file *f;
    tft_ld_error le;
    if (tft_ld_open(FIXTURE, &f, &le) != TFT_OK) return -1;
    const char *req = tft_ld_metadata(f, "request");
    e->text         = strdup(req);
    tft_ld_close(f);
    char err[300];
    if (tft_request_parse(e->m, e->text, strlen(e->text), &e->r, err, sizeof err) != TFT_OK) {
        fprintf(stderr, "request: %s\n", err);
        return -1;
    }
    const tft_model_info *mi = tft_model_get_info(e->m);
    e->Td = mi->max_prediction_length, e->NT = mi->n_targets, e->Q = mi->n_quantiles;
    e->per = e->NT * e->Td * e->Q;
    *state = e;
    return 0;
}

static int teardown(void **state) {
    env *e = *state;
    tft_request_free(&e->r);
    free(e->text);
    tft_model_free(e->m);
    free(e);
    return 0;
}

static tft_context *ctx(env *e, int max_batch) {
    tft_context_params cp = tft_context_default_params();
    cp.max_batch          = max_batch;
    tft_context *c        = NULL;
    assert_int_equal(tft_context_new(e->m, &cp, &c), TFT_OK);
    return c;
}

// 64 series: the fixture's 8, each repeated with histories cut to different lengths (6..full)
static void make_batch(env *e, tft_series *out, int n) {
    for (int i = 0; i < n; i++) {
        tft_series s = e->r.series[i % e->r.n];
        int        full = s.n_history;
        int        cut  = (i * 7) % (full - 5); // 0..full-6 rows dropped from the start
        // dropping the first rows of every history column: point past them (columns are copied)
        tft_column *h = malloc(sizeof *h * (size_t)s.n_history_columns);
        for (int k = 0; k < s.n_history_columns; k++) {
            h[k] = s.history[k];
            h[k].len -= cut;
            if (h[k].values) h[k].values += cut;
            if (h[k].labels) h[k].labels += cut;
        }
        s.history   = h;
        s.n_history = full - cut;
        s.time_idx  = s.time_idx ? s.time_idx + cut : NULL;
        out[i]      = s;
    }
}

static void free_batch(tft_series *b, int n) {
    for (int i = 0; i < n; i++) free((void *)b[i].history);
}

static void test_batch_invariance(void **state) {
    env        *e = *state;
    const int   N = 64;
    tft_series  batch[64];
    make_batch(e, batch, N);
    tft_context *big = ctx(e, N), *one = ctx(e, 1);
    float       *qb  = calloc((size_t)N * e->per, 4), *q1 = calloc((size_t)e->per, 4);
    tft_forecast_output ob = {.quantiles = qb};
    assert_int_equal(tft_forecast(big, batch, N, &ob), TFT_OK);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        tft_forecast_output o1 = {.quantiles = q1};
        assert_int_equal(tft_forecast(one, &batch[i], 1, &o1), TFT_OK);
        for (int k = 0; k < e->per; k++) {
            double a = q1[k], b = qb[(size_t)i * e->per + k];
            double d = fabs(a - b) / fmax(fabs(a), 1.0);
            worst    = fmax(worst, d);
            if (d > 1e-6) fail_msg("series %d value %d: alone %.9g, in the batch %.9g", i, k, a, b);
        }
    }
    printf("  batch invariance: worst relative difference alone vs in a batch of 64: %.3g\n", worst);
    free(qb), free(q1);
    tft_context_free(big), tft_context_free(one);
    free_batch(batch, N);
}

// Threads split a call's series into chunks; every op being batch-invariant, the result is bitwise
// the one-thread result, and a threaded call allocates nothing either.
static void test_threads_bitwise(void **state) {
    env        *e = *state;
    const int   N = 64;
    tft_series  batch[64];
    make_batch(e, batch, N);
    float *ref = calloc((size_t)N * e->per, 4), *got = calloc((size_t)N * e->per, 4);
    for (int threads = 1; threads <= 3; threads++) {
        tft_context_params cp = tft_context_default_params();
        cp.max_batch          = N;
        cp.n_threads          = threads;
        tft_context *c        = NULL;
        assert_int_equal(tft_context_new(e->m, &cp, &c), TFT_OK);
        tft_forecast_output o = {.quantiles = threads == 1 ? ref : got};
        assert_int_equal(tft_forecast(c, batch, N, &o), TFT_OK);
        if (threads > 1) {
            assert_memory_equal(ref, got, (size_t)N * e->per * 4);
            uint64_t before = tft_debug_alloc_count();
            assert_int_equal(tft_forecast(c, batch, N, &o), TFT_OK);
            assert_int_equal(tft_debug_alloc_count() - before, 0);
            assert_int_equal(tft_forecast(c, batch, 5, &o), TFT_OK); // fewer series than a full split
            assert_memory_equal(ref, got, (size_t)5 * e->per * 4);
        }
        tft_context_free(c);
    }
    free(ref), free(got);
    free_batch(batch, N);
}

// A one-series call with several threads splits its rows across them (engine/backend_cpu.c): every
// output (quantiles, attention, selection weights) is bitwise the one-thread result, for contexts
// of max_batch 1 and 8, and a threaded call allocates nothing.
static void test_one_series_threads_bitwise(void **state) {
    env                  *e  = *state;
    const tft_model_info *mi = tft_model_get_info(e->m);
    const size_t na = (size_t)e->Td * mi->n_heads * (mi->max_encoder_length + e->Td);
    const size_t ne = (size_t)mi->max_encoder_length * mi->n_encoder_vars, nd = (size_t)e->Td * mi->n_decoder_vars;
    const size_t ns = (size_t)mi->n_static_vars + 1;
    float *q[2], *att[2], *ew[2], *dw[2], *sw[2];
    for (int k = 0; k < 2; k++)
        q[k] = calloc((size_t)e->per, 4), att[k] = calloc(na, 4), ew[k] = calloc(ne + 1, 4), dw[k] = calloc(nd + 1, 4),
        sw[k] = calloc(ns, 4);
    tft_series batch[64];
    make_batch(e, batch, 16); // histories of several lengths
    for (int i = 0; i < 16; i++) {
        for (int threads = 1; threads <= 3; threads++)
            for (int mb = 1; mb <= 8; mb += 7) {
                tft_context_params cp = tft_context_default_params();
                cp.max_batch = mb, cp.n_threads = threads;
                tft_context *c = NULL;
                assert_int_equal(tft_context_new(e->m, &cp, &c), TFT_OK);
                int                 k = threads == 1 && mb == 1 ? 0 : 1;
                tft_forecast_output o = {.quantiles = q[k], .attention = att[k], .static_weights = sw[k],
                                         .encoder_weights = ew[k], .decoder_weights = dw[k]};
                assert_int_equal(tft_forecast(c, &batch[i], 1, &o), TFT_OK);
                if (k) {
                    assert_memory_equal(q[0], q[1], (size_t)e->per * 4);
                    assert_memory_equal(att[0], att[1], na * 4);
                    assert_memory_equal(ew[0], ew[1], ne * 4);
                    assert_memory_equal(dw[0], dw[1], nd * 4);
                    assert_memory_equal(sw[0], sw[1], (ns - 1) * 4);
                    uint64_t before = tft_debug_alloc_count();
                    assert_int_equal(tft_forecast(c, &batch[i], 1, &o), TFT_OK);
                    assert_int_equal(tft_debug_alloc_count() - before, 0);
                }
                tft_context_free(c);
            }
    }
    for (int k = 0; k < 2; k++) free(q[k]), free(att[k]), free(ew[k]), free(dw[k]), free(sw[k]);
    free_batch(batch, 16);
}

static void test_deterministic(void **state) {
    env         *e = *state;
    tft_context *c = ctx(e, e->r.n);
    size_t       n = (size_t)e->r.n * e->per;
    float       *a = calloc(n, 4), *b = calloc(n, 4);
    tft_forecast_output oa = {.quantiles = a}, ob = {.quantiles = b};
    assert_int_equal(tft_forecast(c, e->r.series, e->r.n, &oa), TFT_OK);
    assert_int_equal(tft_forecast(c, e->r.series, e->r.n, &ob), TFT_OK);
    assert_memory_equal(a, b, n * 4);
    free(a), free(b);
    tft_context_free(c);
}

static void test_no_allocation(void **state) {
    env         *e = *state;
    tft_context *c = ctx(e, e->r.n);
    size_t       n = (size_t)e->r.n * e->per;
    float       *q = calloc(n, 4);
    const tft_model_info *mi = tft_model_get_info(e->m);
    float *att = calloc((size_t)e->r.n * e->Td * mi->n_heads * (mi->max_encoder_length + e->Td), 4);
    float *ew  = calloc((size_t)e->r.n * mi->max_encoder_length * mi->n_encoder_vars, 4);
    tft_forecast_output o = {.quantiles = q, .attention = att, .encoder_weights = ew};
    assert_int_equal(tft_forecast(c, e->r.series, e->r.n, &o), TFT_OK); // warm-up
    uint64_t before = tft_debug_alloc_count();
    for (int i = 0; i < 100; i++) assert_int_equal(tft_forecast(c, e->r.series, e->r.n, &o), TFT_OK);
    uint64_t after = tft_debug_alloc_count();
    assert_int_equal(after - before, 0);
    free(q), free(att), free(ew);
    tft_context_free(c);
}

// ---- bad input ---------------------------------------------------------------------------------
#define GUARD 64
// The structured detail a failure must leave (tft_last_error_detail()); field NULL: not checked.
typedef struct want_detail {
    tft_error_code code;
    int32_t        series, index;
    const char    *field;
} want_detail;

static void check_detail(const char *call, tft_status st, const want_detail *d) {
    const tft_error *x = tft_last_error_detail();
    if (x->status != st || x->code != d->code || x->series != d->series || x->index != d->index ||
        (d->field && strcmp(x->field, d->field) != 0))
        fail_msg("%s: detail {%s, %s, series %d, index %d, field '%s'}, want {%s, %s, series %d, index %d, field "
                 "'%s'} (%s)", call, tft_status_str(x->status), tft_error_code_str(x->code), x->series, x->index,
                 x->field, tft_status_str(st), tft_error_code_str(d->code), d->series, d->index,
                 d->field ? d->field : "*", x->message);
    assert_string_equal(x->message, tft_last_error());
    assert_true(x->reason_at >= 0 && x->reason_at < (int32_t)strlen(x->message));
    if (x->series >= 0 && x->reason_at > 0 && strncmp(x->message, "tft_", 4) != 0) { // "series N 'ID': " + reason
        char prefix[64];
        snprintf(prefix, sizeof prefix, "series %d '", x->series);
        assert_int_equal(strncmp(x->message, prefix, strlen(prefix)), 0);
        assert_int_equal(strncmp(x->message + x->reason_at - 3, "': ", 3), 0);
    }
}

static void expect_detail(env *e, tft_series *s, int n, tft_status want, const char *msg_part, const want_detail *d);
// Runs one forecast of a single modified series into a buffer with a guard zone; checks status,
// message and that the guard was not touched.
static void expect(env *e, tft_series *s, int n, tft_status want, const char *msg_part) {
    expect_detail(e, s, n, want, msg_part, NULL);
}

// Same, and (d != NULL) the structured detail, after tft_forecast and after tft_series_check.
static void expect_detail(env *e, tft_series *s, int n, tft_status want, const char *msg_part, const want_detail *d) {
    tft_context *c   = ctx(e, n > 2 ? n : 2);
    size_t       len = (size_t)n * e->per;
    float       *q   = malloc((len + GUARD) * 4);
    for (size_t i = 0; i < len + GUARD; i++) q[i] = 12345.0f;
    tft_forecast_output o  = {.quantiles = q};
    tft_status          st = tft_forecast(c, s, n, &o);
    if (st != want)
        fail_msg("expected %s, got %s (%s)", tft_status_str(want), tft_status_str(st), tft_last_error());
    if (!strstr(tft_last_error(), msg_part))
        fail_msg("message '%s' does not mention '%s'", tft_last_error(), msg_part);
    if (d) check_detail("tft_forecast", want, d);
    for (size_t i = len; i < len + GUARD; i++) assert_true(q[i] == 12345.0f);
    free(q);
    tft_context_free(c);
    // the context-free check (what the server runs before batching) finds the same problem
    st = tft_series_check(e->m, s, n);
    if (st != want)
        fail_msg("tft_series_check: expected %s, got %s (%s)", tft_status_str(want), tft_status_str(st), tft_last_error());
    if (!strstr(tft_last_error(), msg_part))
        fail_msg("tft_series_check: message '%s' does not mention '%s'", tft_last_error(), msg_part);
    if (d) check_detail("tft_series_check", want, d);
}

// A deep copy of series 0's columns that a test may modify.
typedef struct owned {
    tft_series  s;
    tft_column  st[16], hi[16], fu[16];
    double      vals[48][64];
    const char *labs[48][64];
} owned;

static void own(env *e, owned *o) {
    memset(o, 0, sizeof *o);
    o->s       = e->r.series[0];
    int k      = 0;
    const tft_column *src[3] = {o->s.statics, o->s.history, o->s.future};
    tft_column       *dst[3] = {o->st, o->hi, o->fu};
    int               cnt[3] = {o->s.n_statics, o->s.n_history_columns, o->s.n_future_columns};
    for (int p = 0; p < 3; p++)
        for (int i = 0; i < cnt[p]; i++, k++) {
            dst[p][i] = src[p][i];
            for (int j = 0; j < src[p][i].len; j++) {
                if (src[p][i].values) o->vals[k][j] = src[p][i].values[j];
                if (src[p][i].labels) o->labs[k][j] = src[p][i].labels[j];
            }
            if (src[p][i].values) dst[p][i].values = o->vals[k];
            if (src[p][i].labels) dst[p][i].labels = o->labs[k];
        }
    o->s.statics = o->st, o->s.history = o->hi, o->s.future = o->fu;
}

static tft_column *col(tft_column *cols, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(cols[i].name, name) == 0) return &cols[i];
    fail_msg("no column %s", name);
    return NULL;
}

static void test_bad_nan(void **state) {
    env  *e = *state;
    owned o;
    own(e, &o);
    ((double *)col(o.hi, o.s.n_history_columns, "temp")->values)[3] = NAN;
    expect(e, &o.s, 1, TFT_ERR_NONFINITE, "'temp'[3]");
    own(e, &o);
    ((double *)col(o.fu, o.s.n_future_columns, "hour")->values)[1] = INFINITY;
    expect(e, &o.s, 1, TFT_ERR_NONFINITE, "'hour'[1]");
    own(e, &o);
    ((double *)col(o.st, o.s.n_statics, "capacity")->values)[0] = NAN;
    expect(e, &o.s, 1, TFT_ERR_NONFINITE, "capacity");
}

static void test_bad_lengths(void **state) {
    env  *e = *state;
    owned o;
    own(e, &o);
    col(o.hi, o.s.n_history_columns, "temp")->len--; // one history column shorter than the others
    expect(e, &o.s, 1, TFT_ERR_SHAPE, "'temp' has");
    own(e, &o);
    col(o.fu, o.s.n_future_columns, "hour")->len--;
    expect(e, &o.s, 1, TFT_ERR_SHAPE, "'hour' has");
    // future rows for a shorter forecast but no horizon: the message speaks of the horizon, says
    // where it came from, and names the horizon that fits the rows
    own(e, &o);
    o.s.horizon = 0;
    for (int i = 0; i < o.s.n_future_columns; i++) o.fu[i].len = e->Td - 1;
    o.s.time_idx = NULL;
    char want[200];
    assert_int_equal(tft_model_get_info(e->m)->min_prediction_length, e->Td); // this model takes one horizon
    snprintf(want, sizeof want, "has %d values, expected %d (one per horizon step: no horizon was given, so it is "
             "max_prediction_length %d; this model forecasts exactly %d steps)", e->Td - 1, e->Td, e->Td, e->Td);
    expect(e, &o.s, 1, TFT_ERR_SHAPE, want);
    own(e, &o); // the horizon given, the rows one short
    o.s.horizon = e->Td;
    col(o.fu, o.s.n_future_columns, "hour")->len--;
    snprintf(want, sizeof want, "future 'hour' has %d values, expected %d (one per horizon step: the horizon is %d)",
             e->Td - 1, e->Td, e->Td);
    expect(e, &o.s, 1, TFT_ERR_SHAPE, want);
    own(e, &o); // history shorter than min_encoder_length (6): 5 rows
    for (int i = 0; i < o.s.n_history_columns; i++) o.hi[i].len = 5;
    o.s.n_history = 5;
    o.s.time_idx  = NULL;
    expect(e, &o.s, 1, TFT_ERR_SHAPE, "min_encoder_length");
    own(e, &o); // horizon longer than trained
    o.s.horizon = e->Td + 1;
    expect(e, &o.s, 1, TFT_ERR_SHAPE, "max_prediction_length");
}

static void test_bad_categories(void **state) {
    env  *e = *state;
    owned o;
    own(e, &o); // 'region' was fitted without add_nan: an unseen label is an error
    ((const char **)col(o.st, o.s.n_statics, "region")->labels)[0] = "atlantis";
    expect(e, &o.s, 1, TFT_ERR_CATEGORY, "'region' = 'atlantis'");
    own(e, &o);
    ((const char **)col(o.hi, o.s.n_history_columns, "dow")->labels)[2] = "funday";
    expect(e, &o.s, 1, TFT_ERR_CATEGORY, "'dow' = 'funday'");
    own(e, &o); // 'series' has add_nan: an unseen series is accepted (NaN class), as in the library
    ((const char **)col(o.st, o.s.n_statics, "series")->labels)[0] = "brand-new-server";
    tft_context *c = ctx(e, 1);
    float       *q = calloc((size_t)e->per, 4);
    tft_forecast_output out = {.quantiles = q};
    assert_int_equal(tft_forecast(c, &o.s, 1, &out), TFT_OK);
    assert_int_equal(tft_series_check(e->m, &o.s, 1), TFT_OK);
    free(q);
    tft_context_free(c);
}

typedef struct log_capture {
    int  n;
    char all[2048];
} log_capture;

static void capture(tft_log_level lvl, const char *msg, void *user) {
    log_capture *c = user;
    if (lvl == TFT_LOG_INFO) c->n++, strncat(c->all, msg, sizeof c->all - strlen(c->all) - 1);
}

// A brand-new series is served as the library serves it, and both fallbacks are reported once each
// to the log sink: its label (add_nan encoder -> NaN class) and its group (GroupNormalizer -> median).
// tft_model_category_labels: a categorical's labels in index order (a request column or an
// x_categoricals name), the add_nan flag, and NULL / 0 for reals, unknown names and NULL arguments.
static void test_category_labels(void **state) {
    env    *e = *state;
    int32_t n = -1, add_nan = -1;
    const char *const *l = tft_model_category_labels(e->m, "region", &n, &add_nan);
    assert_non_null(l);
    assert_int_equal(n, 3);
    assert_int_equal(add_nan, 0);
    assert_string_equal(l[0], "east"), assert_string_equal(l[2], "south");
    l = tft_model_category_labels(e->m, "series", &n, &add_nan); // add_nan: index 0 is the "nan" class
    assert_non_null(l);
    assert_int_equal(n, 13);
    assert_int_equal(add_nan, 1);
    assert_string_equal(l[0], "nan"), assert_string_equal(l[1], "s00");
    // the same array on every call (it lives as long as the model)
    assert_ptr_equal(tft_model_category_labels(e->m, "series", &n, NULL), l);
    const char *const none[] = {"capacity", "no_such_column", ""};
    for (int i = 0; i < 3; i++) {
        n = -1, add_nan = -1;
        assert_null(tft_model_category_labels(e->m, none[i], &n, &add_nan));
        assert_int_equal(n, 0);
        assert_int_equal(add_nan, 0);
    }
    assert_null(tft_model_category_labels(NULL, "region", &n, NULL));
    assert_null(tft_model_category_labels(e->m, NULL, &n, NULL));
    assert_null(tft_model_category_labels(e->m, "region", NULL, NULL));
}

static void test_log_callback(void **state) {
    env  *e = *state;
    owned o;
    own(e, &o);
    ((const char **)col(o.st, o.s.n_statics, "series")->labels)[0] = "brand-new-server";
    log_capture cap = {0};
    tft_log_set(capture, &cap);
    tft_context *c = ctx(e, 1);
    float       *q = calloc((size_t)e->per, 4);
    tft_forecast_output out = {.quantiles = q};
    assert_int_equal(tft_forecast(c, &o.s, 1, &out), TFT_OK);
    tft_log_set(NULL, NULL);
    assert_int_equal(cap.n, 2);
    assert_non_null(strstr(cap.all, "'series' = 'brand-new-server' is not in the model's vocabulary"));
    assert_non_null(strstr(cap.all, "its group is not in a normalizer's table"));
    free(q);
    tft_context_free(c);
}

static void test_bad_names(void **state) {
    env  *e = *state;
    owned o;
    own(e, &o);
    o.hi[0].name = "tempp"; // misspelled
    expect(e, &o.s, 1, TFT_ERR_UNKNOWN_VAR, "'tempp'");
    own(e, &o);
    o.s.n_future_columns--; // a known variable missing from the future
    expect(e, &o.s, 1, TFT_ERR_UNKNOWN_VAR, "future is missing");
    own(e, &o);
    o.s.n_statics = 0;
    expect(e, &o.s, 1, TFT_ERR_UNKNOWN_VAR, "static is missing");
}

static void test_bad_time_index(void **state) {
    env  *e = *state;
    owned o;
    own(e, &o);
    int64_t t[128];
    for (int i = 0; i < o.s.n_history + e->Td; i++) t[i] = 100 + i;
    t[10]        = t[9]; // a duplicate step
    o.s.time_idx = t;
    expect(e, &o.s, 1, TFT_ERR_TIME_INDEX, "time_idx[10]");
}

static void test_bad_args(void **state) {
    env         *e = *state;
    tft_context *c = ctx(e, 2);
    float        q[1024];
    tft_forecast_output o = {.quantiles = q};
    assert_int_equal(tft_forecast(NULL, e->r.series, 1, &o), TFT_ERR_INVALID_ARG);
    assert_int_equal(tft_forecast(c, NULL, 1, &o), TFT_ERR_INVALID_ARG);
    assert_int_equal(tft_forecast(c, e->r.series, 1, NULL), TFT_ERR_INVALID_ARG);
    tft_forecast_output none = {0};
    assert_int_equal(tft_forecast(c, e->r.series, 1, &none), TFT_ERR_INVALID_ARG);
    assert_int_equal(tft_forecast(c, e->r.series, 0, &o), TFT_ERR_INVALID_ARG);
    assert_int_equal(tft_forecast(c, e->r.series, 3, &o), TFT_ERR_CAPACITY);
    assert_non_null(strstr(tft_last_error(), "max_batch"));
    assert_int_equal(tft_predict_net(c, NULL, NULL), TFT_ERR_INVALID_ARG);
    tft_net_input in = {0};
    tft_net_output no = {0};
    assert_int_equal(tft_predict_net(c, &in, &no), TFT_ERR_INVALID_ARG);
    tft_model *m = (tft_model *)1;
    assert_int_equal(tft_model_load(NULL, NULL, &m), TFT_ERR_INVALID_ARG);
    assert_null(m);
    assert_int_equal(tft_model_load("/nonexistent/model.safetensors", NULL, &m), TFT_ERR_IO);
    assert_non_null(strstr(tft_last_error(), "/nonexistent/model.safetensors"));
    assert_int_equal(tft_model_load(FIXTURE, NULL, &m), TFT_ERR_FORMAT); // a safetensors file, not a model
    tft_context *c2 = (tft_context *)1;
    assert_int_equal(tft_context_new(NULL, NULL, &c2), TFT_ERR_INVALID_ARG);
    assert_null(c2); // *out is NULL on failure
    tft_context_params cp = tft_context_default_params();
    cp.max_batch          = 0;
    assert_int_equal(tft_context_new(e->m, &cp, &c2), TFT_ERR_INVALID_ARG);
    tft_model_free(NULL);
    tft_context_free(NULL);
    tft_context_free(c);
    assert_string_equal(tft_status_str(TFT_ERR_SHAPE), "TFT_ERR_SHAPE");
    assert_int_equal(tft_version_number(), TFT_VERSION_NUMBER);
}

// Network-level input checks: categorical index out of range, non-finite real, lengths.
static void test_bad_network_input(void **state) {
    env                  *e  = *state;
    const tft_model_info *mi = tft_model_get_info(e->m);
    int                   Te = mi->max_encoder_length, Td = e->Td, Nr = mi->n_reals, Nc = mi->n_cats;
    int32_t *ecat = calloc((size_t)Te * Nc, 4), *dcat = calloc((size_t)Td * Nc, 4);
    float   *econt = calloc((size_t)Te * Nr, 4), *dcont = calloc((size_t)Td * Nr, 4);
    int32_t  el = Te, dl = Td;
    float    ts[2] = {0.0f, 1.0f};
    float   *q     = calloc((size_t)e->per, 4);
    tft_net_input  in  = {1, Te, Td, ecat, econt, dcat, dcont, &el, &dl, ts};
    tft_net_output out = {.prediction = q};
    tft_context   *c   = ctx(e, 1);
    assert_int_equal(tft_predict_net(c, &in, &out), TFT_OK);
    ecat[5 * Nc + 0] = 1000;
    assert_int_equal(tft_predict_net(c, &in, &out), TFT_ERR_SHAPE);
    assert_non_null(strstr(tft_last_error(), "encoder_cat[0][5][0]"));
    ecat[5 * Nc + 0] = 0;
    dcont[2 * Nr + 1] = NAN;
    assert_int_equal(tft_predict_net(c, &in, &out), TFT_ERR_NONFINITE);
    assert_non_null(strstr(tft_last_error(), "decoder_cont[0][2][1]"));
    dcont[2 * Nr + 1] = 0;
    el = Te - 1; // enc_steps must equal the longest encoder length, as the library's collate pads
    assert_int_equal(tft_predict_net(c, &in, &out), TFT_ERR_SHAPE);
    el = Te;
    in.enc_steps = Te + 1;
    assert_int_equal(tft_predict_net(c, &in, &out), TFT_ERR_SHAPE);
    free(ecat), free(dcat), free(econt), free(dcont), free(q);
    tft_context_free(c);
}

// A batch with a zero-length history is never split across threads: the library's result for such a
// series depends on the batch (TFT_SPEC.md §11.2), so it must see the whole batch as one.
static void test_threads_zero_length(void **state) {
    env                  *e  = *state;
    const tft_model_info *mi = tft_model_get_info(e->m);
    int                   B = 4, Te = mi->max_encoder_length, Td = e->Td, Nr = mi->n_reals, Nc = mi->n_cats;
    int32_t *ecat = calloc((size_t)B * Te * Nc + 1, 4), *dcat = calloc((size_t)B * Td * Nc + 1, 4);
    float   *econt = calloc((size_t)B * Te * Nr, 4), *dcont = calloc((size_t)B * Td * Nr, 4);
    for (int i = 0; i < B * Te * Nr; i++) econt[i] = (float)((i * 37) % 11) / 7.0f - 0.5f;
    for (int i = 0; i < B * Td * Nr; i++) dcont[i] = (float)((i * 13) % 7) / 5.0f - 0.5f;
    int32_t el[4] = {Te, 0, 9, Te - 3}, dl[4] = {Td, Td, Td, Td};
    float   ts[8] = {0, 1, 0.5f, 2, 0, 1, 1, 1};
    float  *q1 = calloc((size_t)B * e->per, 4), *q2 = calloc((size_t)B * e->per, 4);
    tft_net_input in = {B, Te, Td, ecat, econt, dcat, dcont, el, dl, ts};
    for (int threads = 1; threads <= 2; threads++) {
        tft_context_params cp = tft_context_default_params();
        cp.max_batch = B, cp.n_threads = threads;
        tft_context *c = NULL;
        assert_int_equal(tft_context_new(e->m, &cp, &c), TFT_OK);
        tft_net_output out = {.prediction_normalized = threads == 1 ? q1 : q2};
        assert_int_equal(tft_predict_net(c, &in, &out), TFT_OK);
        tft_context_free(c);
    }
    assert_memory_equal(q1, q2, (size_t)B * e->per * 4);
    free(ecat), free(dcat), free(econt), free(dcont), free(q1), free(q2);
}

// An error found by a worker thread names the series by its place in the call, not in the chunk.
static void test_threads_error_names_series(void **state) {
    env        *e = *state;
    tft_series  batch[64];
    make_batch(e, batch, 64);
    owned o;
    own(e, &o);
    ((const char **)col(o.st, o.s.n_statics, "region")->labels)[0] = "atlantis";
    tft_series keep = batch[40];
    batch[40]       = o.s;
    tft_context_params cp = tft_context_default_params();
    cp.max_batch = 64, cp.n_threads = 2;
    tft_context *c = NULL;
    assert_int_equal(tft_context_new(e->m, &cp, &c), TFT_OK);
    float *q = calloc((size_t)64 * e->per, 4);
    tft_forecast_output out = {.quantiles = q};
    assert_int_equal(tft_forecast(c, batch, 64, &out), TFT_ERR_CATEGORY);
    assert_non_null(strstr(tft_last_error(), "series 40 "));
    assert_int_equal(tft_last_error_detail()->series, 40); // the detail too, copied from the worker's thread
    assert_string_equal(tft_last_error_detail()->field, "region");
    batch[40] = keep;
    free(q);
    tft_context_free(c);
    free_batch(batch, 64);
}

// ---- structured errors (tft_last_error_detail) ----------------------------------------------------
// Each important error path of the series level fills its detail code, series, field and value index.
static void test_detail_series_level(void **state) {
    env        *e = *state;
    owned       o;
    want_detail d;
    own(e, &o);
    ((double *)col(o.hi, o.s.n_history_columns, "temp")->values)[3] = NAN;
    d = (want_detail){TFT_E_NON_FINITE_INPUT, 0, 3, "history.temp"};
    expect_detail(e, &o.s, 1, TFT_ERR_NONFINITE, "'temp'[3]", &d);
    own(e, &o);
    ((double *)col(o.fu, o.s.n_future_columns, "hour")->values)[1] = INFINITY;
    d = (want_detail){TFT_E_NON_FINITE_INPUT, 0, 1, "future.hour"};
    expect_detail(e, &o.s, 1, TFT_ERR_NONFINITE, "'hour'[1]", &d);
    own(e, &o);
    col(o.hi, o.s.n_history_columns, "temp")->len--;
    d = (want_detail){TFT_E_LENGTH_MISMATCH, 0, -1, "history.temp"};
    expect_detail(e, &o.s, 1, TFT_ERR_SHAPE, "'temp' has", &d);
    own(e, &o);
    for (int i = 0; i < o.s.n_history_columns; i++) o.hi[i].len = 5;
    o.s.n_history = 5, o.s.time_idx = NULL;
    d = (want_detail){TFT_E_HISTORY_TOO_SHORT, 0, -1, "history"};
    expect_detail(e, &o.s, 1, TFT_ERR_SHAPE, "min_encoder_length", &d);
    own(e, &o);
    o.s.horizon = e->Td + 1;
    d = (want_detail){TFT_E_HORIZON, -1, -1, "horizon"}; // tft_forecast: the call's horizon (series 0's)
    {
        tft_context        *c = ctx(e, 1);
        float               q[4096];
        tft_forecast_output out = {.quantiles = q};
        assert_int_equal(tft_forecast(c, &o.s, 1, &out), TFT_ERR_SHAPE);
        check_detail("tft_forecast", TFT_ERR_SHAPE, &d);
        assert_int_equal(tft_last_error_detail()->reason_at, (int32_t)strlen("tft_forecast: "));
        tft_context_free(c);
        assert_int_equal(tft_series_check(e->m, &o.s, 1), TFT_ERR_SHAPE); // the check names the series
        d.series = 0;
        check_detail("tft_series_check", TFT_ERR_SHAPE, &d);
    }
    own(e, &o);
    ((const char **)col(o.st, o.s.n_statics, "region")->labels)[0] = "atlantis";
    d = (want_detail){TFT_E_UNKNOWN_CATEGORY, 0, 0, "region"};
    expect_detail(e, &o.s, 1, TFT_ERR_CATEGORY, "'region' = 'atlantis'", &d);
    own(e, &o);
    ((const char **)col(o.hi, o.s.n_history_columns, "dow")->labels)[2] = "funday";
    d = (want_detail){TFT_E_UNKNOWN_CATEGORY, 0, 2, "dow"};
    expect_detail(e, &o.s, 1, TFT_ERR_CATEGORY, "'dow' = 'funday'", &d);
    own(e, &o);
    o.hi[0].name = "tempp";
    d = (want_detail){TFT_E_UNKNOWN_VARIABLE, 0, -1, "history.tempp"};
    expect_detail(e, &o.s, 1, TFT_ERR_UNKNOWN_VAR, "'tempp'", &d);
    own(e, &o);
    o.s.n_statics = 0;
    char f[128];
    snprintf(f, sizeof f, "static.%s", tft_model_get_info(e->m)->static_inputs[0]);
    d = (want_detail){TFT_E_MISSING_VARIABLE, 0, -1, f};
    expect_detail(e, &o.s, 1, TFT_ERR_UNKNOWN_VAR, "static is missing", &d);
    own(e, &o);
    o.hi[1].name = o.hi[0].name;
    snprintf(f, sizeof f, "history.%s", o.hi[0].name);
    d = (want_detail){TFT_E_DUPLICATE_VARIABLE, 0, -1, f};
    expect_detail(e, &o.s, 1, TFT_ERR_INVALID_ARG, "twice", &d);
    own(e, &o);
    tft_column *t = col(o.hi, o.s.n_history_columns, "temp");
    t->labels = (const char *const *)o.labs[0], t->values = NULL;
    d = (want_detail){TFT_E_WRONG_TYPE, 0, -1, "history.temp"};
    expect_detail(e, &o.s, 1, TFT_ERR_INVALID_ARG, "must be numbers", &d);
    own(e, &o);
    int64_t ti[128];
    for (int i = 0; i < o.s.n_history + e->Td; i++) ti[i] = 100 + i;
    ti[10] = ti[9], o.s.time_idx = ti;
    d = (want_detail){TFT_E_TIME_INDEX, 0, 10, "time_idx"};
    expect_detail(e, &o.s, 1, TFT_ERR_TIME_INDEX, "time_idx[10]", &d);
    // the series is the call's index: the bad one third of three
    own(e, &o);
    ((const char **)col(o.st, o.s.n_statics, "region")->labels)[0] = "atlantis";
    tft_series three[3] = {e->r.series[1], e->r.series[2], o.s};
    d = (want_detail){TFT_E_UNKNOWN_CATEGORY, 2, 0, "region"};
    expect_detail(e, three, 3, TFT_ERR_CATEGORY, "series 2 '", &d);
    assert_string_equal(tft_last_error_detail()->message + tft_last_error_detail()->reason_at,
                        "'region' = 'atlantis' is a category the model never saw (its encoder has no add_nan)");
    // capacity
    tft_context        *c = ctx(e, 2);
    float               q[4096];
    tft_forecast_output out = {.quantiles = q};
    assert_int_equal(tft_forecast(c, three, 3, &out), TFT_ERR_CAPACITY);
    d = (want_detail){TFT_E_TOO_MANY_SERIES, -1, -1, ""};
    check_detail("tft_forecast", TFT_ERR_CAPACITY, &d);
    tft_context_free(c);
}

// A finite value that overflows once scaled passes tft_series_check and fails in tft_forecast, named in
// the request's terms (the series, the network variable), by whichever thread found it.
static void test_detail_scaled_overflow(void **state) {
    env       *e = *state;
    tft_series batch[64];
    make_batch(e, batch, 64);
    owned o;
    own(e, &o);
    ((double *)col(o.hi, o.s.n_history_columns, "temp")->values)[2] = 1e300; // finite double, Inf as float
    assert_int_equal(tft_series_check(e->m, &o.s, 1), TFT_OK);
    tft_series keep = batch[41];
    batch[41]       = o.s;
    for (int threads = 1; threads <= 2; threads++) {
        tft_context_params cp = tft_context_default_params();
        cp.max_batch = 64, cp.n_threads = threads;
        tft_context *c = NULL;
        assert_int_equal(tft_context_new(e->m, &cp, &c), TFT_OK);
        float              *q   = calloc((size_t)64 * e->per, 4);
        tft_forecast_output out = {.quantiles = q};
        assert_int_equal(tft_forecast(c, batch, 64, &out), TFT_ERR_NONFINITE);
        want_detail d = {TFT_E_SCALED_OVERFLOW, 41, -1, "temp"};
        check_detail("tft_forecast", TFT_ERR_NONFINITE, &d);
        assert_non_null(strstr(tft_last_error(), "'temp' is not finite once scaled for the model"));
        free(q);
        tft_context_free(c);
    }
    batch[41] = keep;
    free_batch(batch, 64);
}

// checked_input: the context does not scan the values again (a NaN the caller vouched against is then
// caught where the computation meets it, as a scaled value), but still refuses what would be unsafe
// to read (a NULL label) and the structure.
static void test_checked_input(void **state) {
    env  *e = *state;
    owned o;
    own(e, &o);
    ((double *)col(o.hi, o.s.n_history_columns, "temp")->values)[3] = NAN;
    tft_context_params cp = tft_context_default_params();
    cp.max_batch = 1, cp.checked_input = 1;
    tft_context *c = NULL;
    assert_int_equal(tft_context_new(e->m, &cp, &c), TFT_OK);
    float              *q   = calloc((size_t)e->per, 4);
    tft_forecast_output out = {.quantiles = q};
    assert_int_equal(tft_forecast(c, &o.s, 1, &out), TFT_ERR_NONFINITE);
    assert_int_equal(tft_last_error_detail()->code, TFT_E_SCALED_OVERFLOW); // not re-scanned: found scaled
    own(e, &o);
    ((const char **)col(o.hi, o.s.n_history_columns, "dow")->labels)[4] = NULL;
    assert_int_equal(tft_forecast(c, &o.s, 1, &out), TFT_ERR_INVALID_ARG);
    assert_int_equal(tft_last_error_detail()->code, TFT_E_NULL_ARGUMENT);
    own(e, &o);
    col(o.hi, o.s.n_history_columns, "temp")->len--;
    assert_int_equal(tft_forecast(c, &o.s, 1, &out), TFT_ERR_SHAPE);
    assert_int_equal(tft_last_error_detail()->code, TFT_E_LENGTH_MISMATCH);
    assert_int_equal(tft_forecast(c, e->r.series, 1, &out), TFT_OK); // and a good series is served
    free(q);
    tft_context_free(c);
    cp.checked_input = 2;
    assert_int_equal(tft_context_new(e->m, &cp, &c), TFT_ERR_INVALID_ARG);
}

// Network level: tft_net_check and tft_predict_net fill the same detail (the tensor, the row, the flat
// element index); tft_net_check's message has no function prefix.
static void test_detail_network_level(void **state) {
    env                  *e  = *state;
    const tft_model_info *mi = tft_model_get_info(e->m);
    int                   B = 2, Te = mi->max_encoder_length, Td = e->Td, Nr = mi->n_reals, Nc = mi->n_cats;
    int32_t *ecat = calloc((size_t)B * Te * Nc, 4), *dcat = calloc((size_t)B * Td * Nc, 4);
    float   *econt = calloc((size_t)B * Te * Nr, 4), *dcont = calloc((size_t)B * Td * Nr, 4);
    int32_t  el[2] = {Te, 3}, dl[2] = {Td, Td};
    float    ts[4] = {0.0f, 1.0f, 0.0f, 1.0f};
    float   *q     = calloc((size_t)B * e->per, 4);
    tft_net_input  in  = {B, Te, Td, ecat, econt, dcat, dcont, el, dl, ts};
    tft_net_output out = {.prediction = q};
    tft_context   *c   = ctx(e, B);
    assert_int_equal(tft_net_check(e->m, &in), TFT_OK);
    assert_int_equal(tft_predict_net(c, &in, &out), TFT_OK);
    for (int pass = 0; pass < 2; pass++) { // tft_net_check, then tft_predict_net
        const char *call = pass ? "tft_predict_net" : "tft_net_check";
#define RUN(st) assert_int_equal(pass ? tft_predict_net(c, &in, &out) : tft_net_check(e->m, &in), st)
        size_t at = ((size_t)1 * Te + 5) * Nc + 1; // series 1, step 5, column 1
        ecat[at]  = 1000;
        RUN(TFT_ERR_SHAPE);
        want_detail d = {TFT_E_CATEGORY_INDEX, 1, (int32_t)at, "encoder_cat"};
        check_detail(call, TFT_ERR_SHAPE, &d);
        ecat[at] = 0;
        at       = ((size_t)1 * Td + 2) * Nr + 1;
        dcont[at] = NAN;
        RUN(TFT_ERR_NONFINITE);
        d = (want_detail){TFT_E_NON_FINITE_INPUT, 1, (int32_t)at, "decoder_cont"};
        check_detail(call, TFT_ERR_NONFINITE, &d);
        dcont[at] = 0;
        ts[3]     = INFINITY;
        RUN(TFT_ERR_NONFINITE);
        d = (want_detail){TFT_E_NON_FINITE_INPUT, 1, 3, "target_scale"};
        check_detail(call, TFT_ERR_NONFINITE, &d);
        ts[3] = 1.0f;
        el[1] = Te + 1;
        RUN(TFT_ERR_SHAPE);
        d = (want_detail){TFT_E_LENGTHS, 1, 1, "encoder_lengths"};
        check_detail(call, TFT_ERR_SHAPE, &d);
        assert_int_equal(tft_last_error_detail()->reason_at, pass ? (int32_t)strlen("tft_predict_net: ") : 0);
        el[1] = 3, el[0] = Te - 1; // the steps must equal the longest length
        RUN(TFT_ERR_SHAPE);
        d = (want_detail){TFT_E_LENGTHS, -1, -1, "encoder_lengths"};
        check_detail(call, TFT_ERR_SHAPE, &d);
        el[0] = Te, in.dec_steps = Td + 1;
        RUN(TFT_ERR_SHAPE);
        d = (want_detail){TFT_E_STEPS, -1, -1, "decoder_cont"};
        check_detail(call, TFT_ERR_SHAPE, &d);
        in.dec_steps = Td;
#undef RUN
    }
    free(ecat), free(dcat), free(econt), free(dcont), free(q);
    tft_context_free(c);
}

// Every detail code has a distinct name; the detail starts out empty on a thread.
static void test_detail_codes(void **state) {
    (void)state;
    for (int a = 0; a < TFT_E_CODE_COUNT; a++) {
        assert_string_not_equal(tft_error_code_str((tft_error_code)a), "unknown_code");
        for (int b = 0; b < a; b++)
            assert_string_not_equal(tft_error_code_str((tft_error_code)a), tft_error_code_str((tft_error_code)b));
    }
    assert_string_equal(tft_error_code_str(TFT_E_CODE_COUNT), "unknown_code");
    assert_string_equal(tft_error_code_str(TFT_E_HISTORY_TOO_SHORT), "history_too_short");
}

// The memory a context takes is stated before it is made, and a context above the limit is refused
// with a message giving the size, before anything is allocated.
static void test_context_memory(void **state) {
    env *e = *state;
    for (int threads = 1; threads <= 3; threads += 2) {
        tft_context_params cp = tft_context_default_params();
        cp.max_batch = 64, cp.n_threads = threads;
        size_t bytes = 0;
        assert_int_equal(tft_context_memory(e->m, &cp, &bytes), TFT_OK);
        tft_context *c = NULL;
        assert_int_equal(tft_context_new(e->m, &cp, &c), TFT_OK);
        assert_int_equal(tft_context_bytes(c), bytes);
        tft_context_free(c);
    }
    // a max_batch whose workspace passes 2 MiB; a limit one MiB under it is refused, over it accepted
    tft_context_params cp = tft_context_default_params();
    size_t             bytes = 0;
    for (cp.max_batch = 64; bytes <= (2u << 20); cp.max_batch *= 2)
        assert_int_equal(tft_context_memory(e->m, &cp, &bytes), TFT_OK);
    cp.max_batch /= 2;
    assert_int_equal(tft_context_memory(e->m, &cp, &bytes), TFT_OK);
    cp.max_memory_mib = (int32_t)(bytes >> 20);
    tft_context *c     = (tft_context *)1;
    uint64_t     a0    = tft_debug_alloc_count();
    assert_int_equal(tft_context_new(e->m, &cp, &c), TFT_ERR_CAPACITY);
    assert_int_equal(tft_debug_alloc_count(), a0); // refused before allocating
    assert_null(c);
    assert_int_equal(tft_last_error_detail()->code, TFT_E_MEMORY_LIMIT);
    char want[96];
    snprintf(want, sizeof want, "needs %.1f MiB of workspace, more than the limit of %d MiB", (double)bytes / (1 << 20),
             cp.max_memory_mib);
    if (!strstr(tft_last_error(), want)) fail_msg("'%s' does not say '%s'", tft_last_error(), want);
    cp.max_memory_mib++;
    assert_int_equal(tft_context_new(e->m, &cp, &c), TFT_OK);
    tft_context_free(c);
    // the largest max_batch with the default limit (4 GiB): refused at once, nothing allocated
    cp = tft_context_default_params();
    cp.max_batch = 1 << 20, cp.n_threads = 64;
    assert_int_equal(tft_context_memory(e->m, &cp, &bytes), TFT_OK);
    assert_true(bytes > ((size_t)TFT_CONTEXT_DEFAULT_MAX_MIB << 20));
    a0 = tft_debug_alloc_count();
    assert_int_equal(tft_context_new(e->m, &cp, &c), TFT_ERR_CAPACITY);
    assert_int_equal(tft_debug_alloc_count(), a0);
    assert_non_null(strstr(tft_last_error(), "more than the limit of 4096 MiB"));
    cp.max_memory_mib = -2;
    assert_int_equal(tft_context_memory(e->m, &cp, &bytes), TFT_ERR_INVALID_ARG);
    assert_int_equal(tft_context_memory(e->m, NULL, NULL), TFT_ERR_INVALID_ARG);
}

// The avx2 and avx512 paths make the same FMAs in the same order and the same elementwise operations,
// so a whole forecast is bitwise the same on both (when the CPU has both; else one skip line).
static void test_paths_bitwise(void **state) {
    env       *e = *state;
    const int  N = 16;
    tft_series batch[16];
    if (!tft_op_isa_supported(TFT_ISA_AVX2) || !tft_op_isa_supported(TFT_ISA_AVX512)) {
        printf("[  SKIPPED ] paths_bitwise: this CPU lacks %s\n", tft_op_isa_supported(TFT_ISA_AVX2) ? "AVX-512" : "AVX2");
        return;
    }
    make_batch(e, batch, N);
    const tft_isa start = tft_op_isa();
    float        *q[2];
    for (int i = 0; i < 2; i++) {
        q[i] = calloc((size_t)N * e->per, 4);
        assert_null(tft_op_isa_select(i == 0 ? "avx2" : "avx512"));
        tft_context        *c = ctx(e, N);
        tft_forecast_output o = {.quantiles = q[i]};
        assert_int_equal(tft_forecast(c, batch, N, &o), TFT_OK);
        tft_context_free(c);
    }
    tft_op_isa_select(tft_op_isa_name(start));
    assert_memory_equal(q[0], q[1], (size_t)N * e->per * 4);
    free(q[0]), free(q[1]);
    free_batch(batch, N);
}

static int invariance_group(const char *isa) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_invariance), cmocka_unit_test(test_threads_bitwise),
        cmocka_unit_test(test_one_series_threads_bitwise), cmocka_unit_test(test_deterministic),
    };
    char name[48];
    snprintf(name, sizeof name, "api invariance[%s]", isa);
    return _cmocka_run_group_tests(name, tests, sizeof tests / sizeof tests[0], setup, teardown);
}

int main(void) {
    const struct CMUnitTest tests[] = { // (the invariance tests: invariance_group, on every path)
        cmocka_unit_test(test_paths_bitwise),
        cmocka_unit_test(test_no_allocation),    cmocka_unit_test(test_bad_nan),
        cmocka_unit_test(test_bad_lengths),      cmocka_unit_test(test_bad_categories),
        cmocka_unit_test(test_category_labels),  cmocka_unit_test(test_bad_names),        cmocka_unit_test(test_bad_time_index),
        cmocka_unit_test(test_bad_args),         cmocka_unit_test(test_bad_network_input),
        cmocka_unit_test(test_log_callback),     cmocka_unit_test(test_threads_zero_length),
        cmocka_unit_test(test_threads_error_names_series),
        cmocka_unit_test(test_detail_series_level), cmocka_unit_test(test_detail_scaled_overflow),
        cmocka_unit_test(test_checked_input),       cmocka_unit_test(test_detail_network_level),
        cmocka_unit_test(test_detail_codes),        cmocka_unit_test(test_context_memory),
    };
    int failed = cmocka_run_group_tests_name("api", tests, setup, teardown) != 0;
    // batch and thread-count invariance within each CPU path the machine has (ops/isa.h)
    return failed + tu_for_each_isa("api invariance", invariance_group) ? 1 : 0;
}
