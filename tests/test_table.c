// test_table.c: `tft forecast-table` / `tft backtest` (engine/cli/table.c, backtest.c, csv.c, plot.c).
//   - the CSV reader: RFC 4180 quoting, line numbers, and every refusal (with its line)
//   - forecast-table equals predict(): each golden's raw rows written as a long-format CSV, forecast
//     from the table, against the fixture's predict_quantiles at test_golden.c's series-level bound
//   - streaming: a series 40x longer than the rows kept gives bitwise the forecast of its tail;
//     any --threads / --max-batch gives bitwise the same output
//   - bad tables: errors naming the line and the column (or the series); nothing dropped
//   - backtest: the metrics on a hand-computed case; each window's forecast equals forecast-table on
//     the table cut after the window; the metrics recomputed here from the windows' forecasts
//   - the fan chart: ticks, escaping, one band per quantile pair per panel
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "../engine/cli/backtest.h"
#include "../engine/cli/csv.h"
#include "../engine/cli/plot.h"
#include "../engine/cli/request.h"
#include "../engine/cli/table.h"
#include "../engine/tft.h"
#include "../loader/loader.h"

#ifndef TFT_BUILD_DIR
#define TFT_BUILD_DIR "build/cpu"
#endif
static const char *GOLDENS[] = {"electricity", "group_softplus", "identity_minimal", "lags", "log_lstm2_groups",
                                "multi_encoder_norm", "new_series_unknown_cat", "shared_relu_unknown_cat"};
#define N_GOLDENS (sizeof GOLDENS / sizeof *GOLDENS)

// ---- small helpers ---------------------------------------------------------------------------
typedef struct membuf {
    char  *data;
    size_t len;
    FILE  *f;
} membuf;
static void mb_open(membuf *b) { b->data = NULL, b->len = 0, b->f = open_memstream(&b->data, &b->len); }
static void mb_close(membuf *b) { fclose(b->f), b->f = NULL; }
static FILE *read_str(const char *s) { return fmemopen((void *)s, strlen(s), "r"); }

// Runs forecast-table on the CSV text; returns the status, the output in *out (malloc'd), the
// message in err.
static tft_status forecast_str(const tft_model *m, const char *csv, const tft_table_opts *o, char **out, char *err,
                               size_t errlen) {
    FILE  *in = read_str(csv);
    membuf ob;
    mb_open(&ob);
    tft_table_opts oo = *o;
    FILE          *devnull = fopen("/dev/null", "w");
    oo.log                 = devnull;
    tft_status st          = tft_table_forecast(m, in, "t.csv", ob.f, &oo, NULL, err, errlen);
    mb_close(&ob);
    fclose(in), fclose(devnull);
    *out = ob.data;
    return st;
}

static tft_model *load(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "weights/goldens/%s/model.safetensors", name);
    tft_model *m = NULL;
    if (tft_model_load(path, NULL, &m) != TFT_OK) fail_msg("%s: %s", path, tft_last_error());
    return m;
}

// A golden's model, fixture file and parsed request (its raw rows).
static tft_model *open_golden(const char *name, tft_ld_file **f, tft_request *r) {
    tft_model *m = load(name);
    char       path[256], err[600];
    snprintf(path, sizeof path, "weights/goldens/%s/fixture.safetensors", name);
    tft_ld_error e;
    if (tft_ld_open(path, f, &e) != TFT_OK) fail_msg("%s: %s", path, e.msg);
    const char *req = tft_ld_metadata(*f, "request");
    if (!req || tft_request_parse(m, req, strlen(req), r, err, sizeof err) != TFT_OK) fail_msg("%s: %s", name, err);
    return m;
}

// ---- the CSV reader --------------------------------------------------------------------------
static void csv_reads_rfc4180(void **state) {
    (void)state;
    const char *text = "\xEF\xBB\xBF" "a,b,c\r\n"
                       "1,\"x,y\",\"he said \"\"hi\"\"\"\n"
                       "\"multi\nline\",,\"\"\n"
                       "last,row,no-newline";
    FILE    *f = read_str(text);
    tft_csv *r = tft_csv_new(f);
    char   **fl, err[200];
    int      n;
    int64_t  line;
    assert_int_equal(tft_csv_next(r, &fl, &n, &line, err, sizeof err), 1);
    assert_int_equal(n, 3), assert_int_equal(line, 1);
    assert_string_equal(fl[0], "a"), assert_string_equal(fl[2], "c");
    assert_int_equal(tft_csv_next(r, &fl, &n, &line, err, sizeof err), 1);
    assert_int_equal(line, 2);
    assert_string_equal(fl[1], "x,y"), assert_string_equal(fl[2], "he said \"hi\"");
    assert_int_equal(tft_csv_next(r, &fl, &n, &line, err, sizeof err), 1);
    assert_int_equal(line, 3), assert_int_equal(n, 3);
    assert_string_equal(fl[0], "multi\nline"), assert_string_equal(fl[1], ""), assert_string_equal(fl[2], "");
    assert_int_equal(tft_csv_next(r, &fl, &n, &line, err, sizeof err), 1);
    assert_int_equal(line, 5); // the quoted newline counted
    assert_string_equal(fl[2], "no-newline");
    assert_int_equal(tft_csv_next(r, &fl, &n, &line, err, sizeof err), 0);
    tft_csv_free(r);
    fclose(f);
    // the writer quotes what needs it, and the reader reads it back
    membuf b;
    mb_open(&b);
    tft_csv_write_field(b.f, "plain"), fputc(',', b.f), tft_csv_write_field(b.f, "a,\"b\"\nc"), fputc('\n', b.f);
    mb_close(&b);
    assert_string_equal(b.data, "plain,\"a,\"\"b\"\"\nc\"\n");
    f = read_str(b.data);
    r = tft_csv_new(f);
    assert_int_equal(tft_csv_next(r, &fl, &n, &line, err, sizeof err), 1);
    assert_string_equal(fl[1], "a,\"b\"\nc");
    tft_csv_free(r), fclose(f), free(b.data);
}

static void csv_refuses(void **state) {
    (void)state;
    struct {
        const char *text, *want;
    } cases[] = {
        {"a,b\n1,x\"y\n", "line 2: field 2: '\"' inside an unquoted field"},
        {"a,b\n1,\"x\"y\n", "line 2: field 2: 'y' after a closing quote"},
        {"a,b\n1,2\n3,\"open\n\n", "quoted field opened on line 3 is not closed"},
        {"a,b\r1,2\n", "line 1: carriage return not followed by a line feed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        FILE    *f = read_str(cases[i].text);
        tft_csv *r = tft_csv_new(f);
        char   **fl, err[200] = "";
        int      n, rc;
        int64_t  line;
        while ((rc = tft_csv_next(r, &fl, &n, &line, err, sizeof err)) == 1) {}
        if (rc != -1 || !strstr(err, cases[i].want)) fail_msg("case %zu: rc %d, err '%s', want '%s'", i, rc, err, cases[i].want);
        tft_csv_free(r), fclose(f);
    }
}

// ---- golden rows as a table ------------------------------------------------------------------
static int has_name(const char *const *names, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0) return 1;
    return 0;
}

// A column's value at row i as CSV text ("" when the column has no value there).
static void put_value(FILE *f, const tft_column *c, int32_t i) {
    if (!c || i < 0 || i >= c->len) return;
    if (c->labels) tft_csv_write_field(f, c->labels[i]);
    else fprintf(f, "%.17g", c->values[i]);
}

static const tft_column *find_col(const tft_column *cols, int32_t n, const char *name) {
    for (int32_t i = 0; i < n; i++)
        if (strcmp(cols[i].name, name) == 0) return &cols[i];
    return NULL;
}

// The long-format table of a request's series: the statics (group ids first), the time index, and
// every time-varying column; history rows, then `horizon` future rows with only the known columns.
// prefix_rows > 0: that many extra history rows before each series' own (a copy of its first row,
// time index counting back), which a forecast never reads.
static char *table_of_request(const tft_model *m, const tft_request *r, int32_t horizon, int prefix_rows) {
    const tft_model_info *mi = tft_model_get_info(m);
    membuf b;
    mb_open(&b);
    const char *cols[256];
    int         nc = 0;
    for (int g = 0; g < mi->n_group_ids; g++) cols[nc++] = mi->group_ids[g];
    for (int i = 0; i < mi->n_static_inputs; i++)
        if (!has_name(cols, nc, mi->static_inputs[i])) cols[nc++] = mi->static_inputs[i];
    int n_static_cols = nc;
    cols[nc++]        = mi->time_idx;
    int first_tv      = nc;
    for (int i = 0; i < mi->n_history_inputs; i++)
        if (!has_name(cols, nc, mi->history_inputs[i])) cols[nc++] = mi->history_inputs[i];
    for (int i = 0; i < mi->n_future_inputs; i++)
        if (!has_name(cols, nc, mi->future_inputs[i])) cols[nc++] = mi->future_inputs[i];
    for (int c = 0; c < nc; c++) fprintf(b.f, "%s", c ? "," : ""), tft_csv_write_field(b.f, cols[c]);
    fputc('\n', b.f);
    for (int32_t s = 0; s < r->n; s++) {
        const tft_series *se = &r->series[s];
        int32_t           H  = se->horizon ? se->horizon : horizon;
        for (int32_t row = -prefix_rows; row < se->n_history + H; row++) {
            int32_t src = row < 0 ? 0 : row; // the prefix repeats the first row's values
            for (int c = 0; c < nc; c++) {
                if (c) fputc(',', b.f);
                if (c < n_static_cols) {
                    put_value(b.f, find_col(se->statics, se->n_statics, cols[c]), 0);
                } else if (c == first_tv - 1) {
                    int64_t t0 = se->time_idx ? se->time_idx[0] : 0;
                    fprintf(b.f, "%lld", (long long)(t0 + row));
                } else if (src < se->n_history) {
                    put_value(b.f, find_col(se->history, se->n_history_columns, cols[c]), src);
                } else { // a future row: the known columns; others only where the history column
                         // runs on (a backtest's table, whose every row has the targets)
                    const tft_column *fc = find_col(se->future, se->n_future_columns, cols[c]);
                    if (fc) put_value(b.f, fc, src - se->n_history);
                    else put_value(b.f, find_col(se->history, se->n_history_columns, cols[c]), src);
                }
            }
            fputc('\n', b.f);
        }
    }
    mb_close(&b);
    return b.data;
}

// Parses forecast-table's long output into q[s, t, k, i] (series in input order).
static int parse_long_output(const tft_model *m, const char *text, float *q, int32_t n_series, int32_t H) {
    const tft_model_info *mi = tft_model_get_info(m);
    FILE                 *f  = read_str(text);
    tft_csv              *r  = tft_csv_new(f);
    char                **fl, err[200];
    int                   n;
    int64_t               line;
    int32_t               NT = mi->n_targets, Q = mi->n_quantiles, G = mi->n_group_ids, rows = 0;
    assert_int_equal(tft_csv_next(r, &fl, &n, &line, err, sizeof err), 1);
    assert_int_equal(n, G + 3 + Q);
    assert_string_equal(fl[G + 2], "target");
    while (tft_csv_next(r, &fl, &n, &line, err, sizeof err) == 1) {
        int32_t s = rows / (H * NT), k = rows / NT % H, t = rows % NT;
        assert_int_equal(atoi(fl[G + 1]), k + 1);
        assert_string_equal(fl[G + 2], mi->targets[t]);
        for (int32_t i = 0; i < Q; i++) q[(((size_t)s * NT + t) * H + k) * Q + i] = strtof(fl[G + 3 + i], NULL);
        rows++;
    }
    tft_csv_free(r), fclose(f);
    return rows == n_series * H * NT ? 0 : -1;
}

static double max_abs_of(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

static void golden_table_equals_predict(void **state) {
    (void)state;
    for (size_t g = 0; g < N_GOLDENS; g++) {
        tft_ld_file *f = NULL;
        tft_request  r;
        tft_model   *m = open_golden(GOLDENS[g], &f, &r);
        char         err[600];
        const tft_model_info *mi = tft_model_get_info(m);
        const tft_ld_tensor  *pq = tft_ld_find(f, "predict_quantiles"); // [B, NT, Td, Q]
        int32_t H = (int32_t)pq->shape[2], B = r.n;
        size_t  nq = (size_t)B * mi->n_targets * H * mi->n_quantiles;
        assert_int_equal((int64_t)nq, pq->nelem);
        const float   *want  = (const float *)pq->data;
        char          *csv   = table_of_request(m, &r, H, 0);
        tft_table_opts o     = {.horizon = H, .threads = 2, .max_batch = 3}; // several batches, two lanes
        char          *out   = NULL;
        tft_status     st    = forecast_str(m, csv, &o, &out, err, sizeof err);
        if (st != TFT_OK) fail_msg("%s: forecast-table: %s", GOLDENS[g], err);
        float *got = calloc(nq, sizeof *got);
        if (parse_long_output(m, out, got, B, H)) fail_msg("%s: output rows do not match %d series", GOLDENS[g], B);
        // test_golden.c's series-level bound: |d| <= 1e-4 |y| + 1e-6 max|y|
        double floor = 1e-6 * max_abs_of(want, nq), worst = 0;
        for (size_t i = 0; i < nq; i++) {
            double d = fabs((double)got[i] - want[i]), bound = 1e-4 * fabs(want[i]) + floor;
            if (!(d <= bound)) fail_msg("%s: quantile [%zu]: table %.9g, predict() %.9g", GOLDENS[g], i, got[i], want[i]);
            worst = fmax(worst, d / bound);
        }
        printf("  %-24s forecast-table vs predict(): %d series, %.0f%% of the bound\n", GOLDENS[g], B, 100 * worst);
        free(got), free(out), free(csv);
        tft_request_free(&r);
        tft_ld_close(f);
        tft_model_free(m);
    }
}

// A long history (40x the rows a forecast keeps) streams through the bounded buffers and gives
// bitwise the forecast of the table's tail; any threads / batch size gives the same bytes.
static void streaming_and_threads_bitwise(void **state) {
    (void)state;
    tft_ld_file *f = NULL;
    tft_request  r;
    tft_model   *m = open_golden("lags", &f, &r); // max_lag > 0: the kept rows include the lags' extra history
    const tft_model_info *mi = tft_model_get_info(m);
    assert_true(mi->max_lag > 0);
    char err[600];
    int32_t H     = mi->max_prediction_length;
    int     extra = 40 * (mi->max_lag + mi->max_encoder_length + H);
    // both tables give every series more history than a forecast reads (the prefix repeats its
    // first row), so both forecasts read the same last rows
    int   enough = mi->max_lag + mi->max_encoder_length;
    char *shortt = table_of_request(m, &r, H, enough), *longt = table_of_request(m, &r, H, enough + extra);
    char   *a = NULL, *b = NULL, *c = NULL;
    tft_table_opts o1 = {.threads = 1, .max_batch = 256}, o2 = {.threads = 3, .max_batch = 1};
    if (forecast_str(m, shortt, &o1, &a, err, sizeof err) != TFT_OK) fail_msg("%s", err);
    if (forecast_str(m, longt, &o1, &b, err, sizeof err) != TFT_OK) fail_msg("long: %s", err);
    if (forecast_str(m, longt, &o2, &c, err, sizeof err) != TFT_OK) fail_msg("long, 3 threads: %s", err);
    assert_true(strlen(a) > 100);
    assert_string_equal(a, b);
    assert_string_equal(b, c);
    // --wide: the same numbers, one row per series and step
    tft_table_opts ow = {.wide = 1};
    char          *w  = NULL;
    assert_int_equal(forecast_str(m, shortt, &ow, &w, err, sizeof err), TFT_OK);
    assert_int_equal((int)(strchr(w, '\n') - w) > 0, 1);
    int rows_long = 0, rows_wide = 0;
    for (char *p = a; *p; p++) rows_long += *p == '\n';
    for (char *p = w; *p; p++) rows_wide += *p == '\n';
    assert_int_equal(rows_long - 1, (rows_wide - 1) * mi->n_targets);
    free(a), free(b), free(c), free(w), free(shortt), free(longt);
    tft_request_free(&r);
    tft_ld_close(f);
    tft_model_free(m);
}

// ---- bad tables ------------------------------------------------------------------------------
// identity_minimal: series, time_idx, y, hour (see `tft info`). Each case: the CSV and a piece of
// the message it must give.
static void bad_tables_name_line_and_column(void **state) {
    (void)state;
    tft_model *m = load("identity_minimal");
    const tft_model_info *mi = tft_model_get_info(m);
    // a valid series of n rows for identity_minimal, then the cases edit it
    char  head[256];
    int   hl = 0;
    const char *cols[32];
    int         nc = 0;
    for (int g = 0; g < mi->n_group_ids; g++) cols[nc++] = mi->group_ids[g];
    for (int i = 0; i < mi->n_static_inputs; i++) if (!has_name(cols, nc, mi->static_inputs[i])) cols[nc++] = mi->static_inputs[i];
    cols[nc++] = mi->time_idx;
    for (int i = 0; i < mi->n_history_inputs; i++) if (!has_name(cols, nc, mi->history_inputs[i])) cols[nc++] = mi->history_inputs[i];
    for (int c = 0; c < nc; c++) hl += snprintf(head + hl, sizeof head - (size_t)hl, "%s%s", c ? "," : "", cols[c]);
    assert_string_equal(head, "series,time_idx,hour,y"); // the cases below are written for this layout
    int32_t need = mi->min_encoder_length + mi->max_prediction_length + 2;
    struct {
        const char *edit; // "series:row" edits: see below
        const char *want;
    } cases[] = {
        {"gap", "t.csv:6: series 'A': time_idx 5 follows 3 (line 5)"},
        {"again", "series 'A' appears again after other series"},
        {"nan", "t.csv:4: series 'A': column 'hour' is empty; the model needs it on every history row"},
        {"text", "t.csv:3: column 'y': 'abc' is not a number"},
        {"inf", "t.csv:3: column 'y': 'inf' is not a finite number"},
        {"fields", "t.csv:3: 3 fields, the header has 4"},
        {"short", "series 'B' has 2 rows"},
        {"header", "the header lacks 1 column this model needs: 'hour'"},
        {"future_hour", "column 'hour' is empty; the model needs it on every future (last horizon) row"},
        {"time", "t.csv:2: column 'time_idx': '1.5' is not an integer time index"},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const char *ed = cases[ci].edit;
        membuf      b;
        mb_open(&b);
        fprintf(b.f, "%s\n", strcmp(ed, "header") == 0 ? "series,time_idx,y" : head);
        int nrows = need;
        for (int s = 0; s < 2; s++) {
            const char *id = s ? "B" : "A";
            int         n  = s && strcmp(ed, "short") == 0 ? 2 : nrows;
            for (int i = 0; i < n; i++) {
                int t = i;
                if (strcmp(ed, "gap") == 0 && s == 0 && i >= 4) t = i + 1;
                if (strcmp(ed, "again") == 0 && s == 1 && i == n - 1) id = "A";
                const char *y = "1.5", *hour = "3";
                if (s == 0 && i == 1 && strcmp(ed, "text") == 0) y = "abc";
                if (s == 0 && i == 1 && strcmp(ed, "inf") == 0) y = "inf";
                if (s == 0 && i == 2 && strcmp(ed, "nan") == 0) hour = "";
                if (s == 0 && i == n - 1 && strcmp(ed, "future_hour") == 0) hour = "NaN";
                if (s == 0 && i >= n - mi->max_prediction_length) y = ""; // future targets: empty is fine
                if (strcmp(ed, "header") == 0) fprintf(b.f, "%s,%d,%s\n", id, t, y);
                else if (s == 0 && i == 1 && strcmp(ed, "fields") == 0) fprintf(b.f, "%s,%d,%s\n", id, t, hour);
                else if (s == 0 && i == 0 && strcmp(ed, "time") == 0) fprintf(b.f, "%s,1.5,%s,%s\n", id, hour, y);
                else fprintf(b.f, "%s,%d,%s,%s\n", id, t, hour, y);
            }
        }
        mb_close(&b);
        char          *out = NULL, err[600] = "";
        tft_table_opts o   = {.threads = 1};
        tft_status     st  = forecast_str(m, b.data, &o, &out, err, sizeof err);
        if (st == TFT_OK || !strstr(err, cases[ci].want))
            fail_msg("case '%s': status %s, message '%s', want '%s'", ed, tft_status_str(st), err, cases[ci].want);
        free(out), free(b.data);
    }
    tft_model_free(m);
}

// A category the model never saw: the message names the series and its lines.
static void unknown_category_names_series(void **state) {
    (void)state;
    tft_ld_file *f = NULL;
    tft_request  r;
    tft_model   *m = open_golden("electricity", &f, &r); // its group id's encoder has no add_nan
    char         err[600];
    const tft_model_info *mi = tft_model_get_info(m);
    char *csv = table_of_request(m, &r, mi->max_prediction_length, 0);
    // rename the first series everywhere: its group id becomes a label the model never saw
    const char *id = r.series[0].id;
    size_t      il = strlen(id);
    char       *fixed = malloc(strlen(csv) * 2 + 1), *o = fixed;
    for (const char *p = csv; *p;) {
        if ((p == csv || p[-1] == '\n') && strncmp(p, id, il) == 0 && p[il] == ',') {
            o += sprintf(o, "zz-never-seen");
            p += il;
        } else {
            *o++ = *p++;
        }
    }
    *o = 0;
    char          *out = NULL;
    tft_table_opts op  = {.threads = 1};
    tft_status     st  = forecast_str(m, fixed, &op, &out, err, sizeof err);
    assert_int_not_equal(st, TFT_OK);
    if (!strstr(err, "series 'zz-never-seen") || !strstr(err, "(lines 2-")) fail_msg("message: %s", err);
    free(out), free(fixed), free(csv);
    tft_request_free(&r);
    tft_ld_close(f);
    tft_model_free(m);
}

// ---- backtest --------------------------------------------------------------------------------
// The metrics on numbers small enough to check by hand. Quantiles 0.1, 0.5, 0.9.
//   point 1: y = 10, forecasts 8, 9, 12
//     pinball: q=0.1 e=+2 -> 0.2; q=0.5 e=+1 -> 0.5; q=0.9 e=-2 -> max(-1.8, 0.2) = 0.2   sum 0.9
//     covered (y <= f): no, no, yes; |y - median| = 1
//   point 2: y = 5, forecasts 6, 7, 9
//     pinball: q=0.1 e=-1 -> 0.9; q=0.5 e=-2 -> 1.0; q=0.9 e=-4 -> 0.4                     sum 2.3
//     covered: yes, yes, yes; |y - median| = 2
//   quantile loss = (0.9 + 2.3) / (2 points * 3 quantiles) = 3.2 / 6; MAE = 1.5
//   coverage = 1/2, 1/2, 2/2
static void backtest_metrics_by_hand(void **state) {
    (void)state;
    const float  qs[3] = {0.1f, 0.5f, 0.9f}, p1[3] = {8, 9, 12}, p2[3] = {6, 7, 9};
    tft_bt_stats st = {0};
    tft_bt_add_point(&st, 3, qs, p1, 10, 1);
    tft_bt_add_point(&st, 3, qs, p2, 5, 1);
    assert_int_equal(st.points, 2);
    // the float quantile levels (0.1f, 0.9f are not exact) differ from 0.1, 0.9 by < 1e-8
    assert_true(fabs(tft_bt_quantile_loss(&st, 3) - 3.2 / 6) < 1e-7);
    assert_true(fabs(tft_bt_mae(&st) - 1.5) < 1e-12);
    assert_true(fabs(tft_bt_coverage(&st, 0) - 0.5) < 1e-12);
    assert_true(fabs(tft_bt_coverage(&st, 1) - 0.5) < 1e-12);
    assert_true(fabs(tft_bt_coverage(&st, 2) - 1.0) < 1e-12);
    tft_bt_stats none = {0};
    assert_true(isnan(tft_bt_quantile_loss(&none, 3)) && isnan(tft_bt_mae(&none)));
}

// A line of CSV split in place (no quotes in these files).
static int split(char *line, char **f, int max) {
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == ',') *p = 0, f[n++] = p + 1;
    return n;
}

// Every window of a backtest equals forecast-table on the table cut right after that window (its
// last H rows the future), and the metrics equal a recomputation from the windows' forecasts.
static void backtest_windows_and_metrics(void **state) {
    (void)state;
    tft_ld_file          *f  = NULL;
    tft_request           r;
    tft_model            *m  = open_golden("group_softplus", &f, &r);
    const tft_model_info *mi = tft_model_get_info(m);
    char                  err[600];
    // the request's rows, with the future targets filled in (a backtest needs every target value):
    // take the history only and use its last rows as the backtest's actuals
    int32_t H = mi->max_prediction_length, Q = mi->n_quantiles, NT = mi->n_targets;
    for (int32_t s = 0; s < r.n; s++) { // history only: the last rows double as actuals
        tft_series *se = &r.series[s];
        se->n_history -= H;
        for (int32_t c = 0; c < se->n_future_columns; c++) { // future = the history's last H rows
            const tft_column *hc = find_col(se->history, se->n_history_columns, se->future[c].name);
            tft_column       *fc = (tft_column *)&se->future[c];
            if (hc->values) fc->values = hc->values + se->n_history;
            else fc->labels = hc->labels + se->n_history;
        }
    }
    // the table: all of each series' rows are history rows with targets (future rows = the last H)
    char *csv = table_of_request(m, &r, H, 0);
    // backtest: an origin every 3 steps
    FILE          *in = read_str(csv), *devnull = fopen("/dev/null", "w");
    membuf         mb, fb;
    tft_table_opts o = {.every = 3, .threads = 2, .max_batch = 5, .log = devnull};
    tft_bt_result  res;
    mb_open(&mb), mb_open(&fb);
    tft_status st = tft_table_backtest(m, in, "t.csv", mb.f, fb.f, NULL, &o, &res, err, sizeof err);
    mb_close(&mb), mb_close(&fb), fclose(in);
    if (st != TFT_OK) fail_msg("backtest: %s", err);
    assert_true(res.windows >= 2 * r.n);
    // recompute the metrics from the windows' forecasts (fb: groups..., origin, time, step, target, actual, q...)
    int     G = mi->n_group_ids, lines_n = 0;
    double  pin[8] = {0}, mae[8] = {0};
    int64_t pts[8] = {0}, cov[8][16] = {{0}};
    int     med = 0;
    for (int i = 1; i < Q; i++) if (fabs(mi->quantiles[i] - 0.5) < fabs(mi->quantiles[med] - 0.5)) med = i;
    char *save = NULL;
    for (char *line = strtok_r(fb.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines_n++) {
        if (lines_n == 0) continue; // header
        char *fl[64];
        int   n = split(line, fl, 64);
        assert_int_equal(n, G + 5 + Q);
        int t = 0;
        while (strcmp(mi->targets[t], fl[G + 3]) != 0) t++;
        double y = strtod(fl[G + 4], NULL);
        for (int i = 0; i < Q; i++) {
            double p = strtof(fl[G + 5 + i], NULL), q = mi->quantiles[i];
            pin[t] += y >= p ? q * (y - p) : (1 - q) * (p - y);
            cov[t][i] += y <= p;
        }
        mae[t] += fabs(y - strtof(fl[G + 5 + med], NULL));
        pts[t]++;
    }
    assert_int_equal(pts[0], res.windows * H);
    // the "(all)" rows of the metrics CSV: groups..., target, windows, points, quantile_loss, mae, coverage...
    int checked = 0;
    save        = NULL;
    for (char *line = strtok_r(mb.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *fl[64];
        int   n = split(line, fl, 64);
        if (strcmp(fl[0], "(all)") != 0) continue;
        assert_int_equal(n, G + 5 + Q);
        int t = 0;
        while (strcmp(mi->targets[t], fl[G]) != 0) t++;
        assert_int_equal(atoll(fl[G + 2]), pts[t]);
        double ql = pin[t] / ((double)pts[t] * Q), ma = mae[t] / (double)pts[t];
        if (fabs(strtod(fl[G + 3], NULL) - ql) > 1e-6 * (1 + ql)) fail_msg("quantile loss %s vs %.9g", fl[G + 3], ql);
        if (fabs(strtod(fl[G + 4], NULL) - ma) > 1e-6 * (1 + ma)) fail_msg("mae %s vs %.9g", fl[G + 4], ma);
        for (int i = 0; i < Q; i++)
            assert_true(fabs(strtod(fl[G + 5 + i], NULL) - (double)cov[t][i] / (double)pts[t]) < 1e-8);
        checked++;
    }
    assert_int_equal(checked, NT);
    // each window vs forecast-table on the table cut after it: rerun the last window of series 0
    // and the first one (origins are aligned to the end: the last window ends on the last row)
    tft_series *s0 = &r.series[0];
    int32_t     n0 = s0->n_history + H; // rows of series 0 in the table
    for (int pass = 0; pass < 2; pass++) {
        int32_t min_hist = mi->max_lag + (mi->min_encoder_length > 1 ? mi->min_encoder_length : 1);
        int32_t end      = pass == 0 ? n0 : n0 - 3 * ((n0 - H - min_hist) / 3); // rows of the cut table
        tft_request one = r;
        one.n           = 1;
        tft_series cut  = *s0;
        cut.n_history   = end - H;
        tft_column fut[32];
        for (int32_t c = 0; c < cut.n_future_columns; c++) {
            fut[c]                = cut.future[c];
            const tft_column *hc  = find_col(s0->history, s0->n_history_columns, fut[c].name);
            if (hc->values) fut[c].values = hc->values + cut.n_history;
            else fut[c].labels = hc->labels + cut.n_history;
        }
        cut.future  = fut;
        one.series  = &cut;
        char          *ct  = table_of_request(m, &one, H, 0);
        char          *out = NULL;
        tft_table_opts of  = {.threads = 1};
        if (forecast_str(m, ct, &of, &out, err, sizeof err) != TFT_OK) fail_msg("cut table: %s", err);
        float *qt = calloc((size_t)NT * H * Q, sizeof *qt);
        assert_int_equal(parse_long_output(m, out, qt, 1, H), 0);
        // find that window in the backtest forecasts: origin = time index of the cut's last history row
        int64_t origin = (s0->time_idx ? s0->time_idx[0] : 0) + cut.n_history - 1;
        size_t  found  = 0;
        FILE   *fr     = NULL;
        // re-run the backtest's forecasts file (strtok consumed it): recompute it
        membuf fb2;
        mb_open(&fb2);
        in = read_str(csv);
        assert_int_equal(tft_table_backtest(m, in, "t.csv", NULL, fb2.f, NULL, &o, NULL, err, sizeof err), TFT_OK);
        mb_close(&fb2), fclose(in);
        fr = read_str(fb2.data);
        char  line[4096];
        while (fgets(line, sizeof line, fr)) {
            char *fl[64];
            line[strcspn(line, "\n")] = 0;
            int n = split(line, fl, 64);
            if (n != G + 5 + Q || strcmp(fl[0], s0->id) != 0 || atoll(fl[G]) != origin) continue;
            int k = atoi(fl[G + 2]) - 1, t = 0;
            while (strcmp(mi->targets[t], fl[G + 3]) != 0) t++;
            for (int i = 0; i < Q; i++) {
                float got = strtof(fl[G + 5 + i], NULL), want = qt[((size_t)t * H + k) * Q + i];
                if (got != want) fail_msg("window at origin %lld, %s step %d q%d: backtest %.9g, table %.9g",
                                          (long long)origin, fl[G + 3], k + 1, i, got, want);
            }
            found++;
        }
        fclose(fr);
        if (found != (size_t)NT * H) fail_msg("pass %d: the backtest has %zu rows for the window at origin %lld, want %d",
                                              pass, found, (long long)origin, NT * H);
        free(fb2.data), free(qt), free(out), free(ct);
    }
    fclose(devnull);
    free(mb.data), free(fb.data), free(csv);
    tft_request_free(&r);
    tft_ld_close(f);
    tft_model_free(m);
}

// The backtest of tests/data/backtest_small.csv (the default model's table, servers db-01 and ml-01,
// 700 rows each; an origin every 96 steps after 288 history rows: 4 windows each) against the same
// backtest done by pytorch-forecasting itself, saved by
//   python3 bench/peers/backtest_pf.py tests/data/backtest_small.csv --every 96 --min-history 288
//       --write-metrics tests/data/backtest_small_pf.csv
// Bounds follow from test_golden.c's series-level bound on each forecast value,
// |Δŷ| <= 1e-4 |ŷ| + 1e-6 max|ŷ|: the quantile loss and the MAE move by at most the mean of that
// bound over the points, and a coverage count can flip only at a point whose actual lies within it.
static void backtest_matches_pytorch_forecasting(void **state) {
    (void)state;
    tft_model            *m  = NULL;
    assert_int_equal(tft_model_load("weights/default.safetensors", NULL, &m), TFT_OK);
    const tft_model_info *mi = tft_model_get_info(m);
    int32_t Q = mi->n_quantiles, NT = mi->n_targets;
    FILE   *in = fopen("tests/data/backtest_small.csv", "r"), *devnull = fopen("/dev/null", "w");
    assert_non_null(in);
    membuf mb, fb;
    mb_open(&mb), mb_open(&fb);
    tft_table_opts o = {.every = 96, .min_history = 288, .log = devnull};
    char           err[600];
    tft_status     st = tft_table_backtest(m, in, "backtest_small.csv", mb.f, fb.f, NULL, &o, NULL, err, sizeof err);
    mb_close(&mb), mb_close(&fb), fclose(in), fclose(devnull);
    if (st != TFT_OK) fail_msg("%s", err);
    // per (series, target): the mean bound of the loss and the MAE, and the points whose coverage may flip
    typedef struct key_bound {
        char    key[96];
        double  sum_bound, sum_bound_med, max_q;
        int64_t points, flip[16];
    } key_bound;
    key_bound kb[16];
    int       nk = 0, med = 0;
    for (int i = 1; i < Q; i++) if (fabs(mi->quantiles[i] - 0.5) < fabs(mi->quantiles[med] - 0.5)) med = i;
    for (int pass = 0; pass < 2; pass++) { // pass 0: max|ŷ| per key; pass 1: the bounds
        FILE *f = read_str(fb.data);
        char  line[4096];
        assert_non_null(fgets(line, sizeof line, f));
        while (fgets(line, sizeof line, f)) {
            char *fl[64], key[96];
            line[strcspn(line, "\n")] = 0;
            assert_int_equal(split(line, fl, 64), 6 + Q); // server, origin, time_idx, step, target, actual, q...
            for (int all = 0; all < 2; all++) {
                snprintf(key, sizeof key, "%s,%s", all ? "(all)" : fl[0], fl[4]);
                int k = 0;
                while (k < nk && strcmp(kb[k].key, key) != 0) k++;
                if (k == nk) memset(&kb[nk], 0, sizeof kb[0]), snprintf(kb[nk++].key, sizeof kb[0].key, "%s", key);
                double y = strtod(fl[5], NULL);
                for (int i = 0; i < Q; i++) {
                    double q = strtof(fl[6 + i], NULL);
                    if (pass == 0) { kb[k].max_q = fmax(kb[k].max_q, fabs(q)); continue; }
                    double b = 1e-4 * fabs(q) + 1e-6 * kb[k].max_q;
                    kb[k].sum_bound += b;
                    if (i == med) kb[k].sum_bound_med += b;
                    kb[k].flip[i] += fabs(y - q) <= b;
                }
                if (pass == 1) kb[k].points++;
            }
        }
        fclose(f);
    }
    assert_int_equal(nk, 3 * NT); // 2 series + (all), per target
    // compare every row of ours with pytorch-forecasting's
    FILE *pf = fopen("tests/data/backtest_small_pf.csv", "r");
    assert_non_null(pf);
    char pline[4096], oline[4096];
    FILE *ours = read_str(mb.data);
    int   rows = 0;
    assert_non_null(fgets(pline, sizeof pline, pf)), assert_non_null(fgets(oline, sizeof oline, ours));
    assert_string_equal(pline, oline); // the same header
    while (fgets(pline, sizeof pline, pf)) {
        assert_non_null(fgets(oline, sizeof oline, ours));
        char *a[64], *b[64], key[96];
        pline[strcspn(pline, "\n")] = 0, oline[strcspn(oline, "\n")] = 0;
        assert_int_equal(split(pline, a, 64), 6 + Q);
        assert_int_equal(split(oline, b, 64), 6 + Q);
        assert_string_equal(a[0], b[0]), assert_string_equal(a[1], b[1]);
        assert_string_equal(a[2], b[2]), assert_string_equal(a[3], b[3]); // windows, points
        snprintf(key, sizeof key, "%s,%s", a[0], a[1]);
        int k = 0;
        while (k < nk && strcmp(kb[k].key, key) != 0) k++;
        assert_true(k < nk);
        double n = (double)kb[k].points, lb = kb[k].sum_bound / (n * Q), mb_ = kb[k].sum_bound_med / n;
        double dl = fabs(strtod(a[4], NULL) - strtod(b[4], NULL)), dm = fabs(strtod(a[5], NULL) - strtod(b[5], NULL));
        if (dl > lb) fail_msg("%s: quantile loss tft %s, pytorch-forecasting %s (bound %.3g)", key, b[4], a[4], lb);
        if (dm > mb_) fail_msg("%s: MAE tft %s, pytorch-forecasting %s (bound %.3g)", key, b[5], a[5], mb_);
        for (int i = 0; i < Q; i++) {
            double dc = fabs(strtod(a[6 + i], NULL) - strtod(b[6 + i], NULL));
            if (dc > (double)kb[k].flip[i] / n + 1e-9)
                fail_msg("%s: coverage q%g tft %s, pytorch-forecasting %s", key, mi->quantiles[i], b[6 + i], a[6 + i]);
        }
        rows++;
    }
    assert_int_equal(rows, 3 * NT);
    fclose(pf), fclose(ours);
    free(mb.data), free(fb.data);
    tft_model_free(m);
}

// A series too short for one window is listed with 0 windows (and empty metrics), not dropped.
static void backtest_lists_short_series(void **state) {
    (void)state;
    tft_model *m = NULL;
    assert_int_equal(tft_model_load("weights/default.safetensors", NULL, &m), TFT_OK);
    FILE *in = fopen("tests/data/backtest_small.csv", "r");
    assert_non_null(in);
    membuf t;
    mb_open(&t);
    char    line[512];
    int64_t n_db = 0;
    while (fgets(line, sizeof line, in)) // db-01 cut to its first 200 rows: < 144 history + 96 horizon
        if (strncmp(line, "db-01,", 6) != 0 || n_db++ < 200) fputs(line, t.f);
    fclose(in), mb_close(&t);
    FILE          *tin = read_str(t.data), *devnull = fopen("/dev/null", "w");
    membuf         mb;
    tft_bt_result  res;
    char           err[600];
    tft_table_opts o = {.every = 96, .log = devnull};
    mb_open(&mb);
    tft_status st = tft_table_backtest(m, tin, "t.csv", mb.f, NULL, NULL, &o, &res, err, sizeof err);
    mb_close(&mb), fclose(tin), fclose(devnull);
    if (st != TFT_OK) fail_msg("%s", err);
    assert_int_equal(res.series, 2);
    assert_int_equal(res.series_scored, 1);
    assert_non_null(strstr(mb.data, "\ndb-01,cpu_pct,0,0,,,"));
    assert_non_null(strstr(mb.data, "\nml-01,cpu_pct,"));
    free(mb.data), free(t.data);
    tft_model_free(m);
}

// ---- the chart -------------------------------------------------------------------------------
static void plot_ticks_and_svg(void **state) {
    (void)state;
    double t[32];
    int    n = tft_plot_ticks(0.3, 9.7, 5, t, 32); // step 2: 2 4 6 8
    assert_int_equal(n, 4);
    assert_true(t[0] == 2 && t[3] == 8);
    n = tft_plot_ticks(-0.05, 0.12, 4, t, 32); // step 0.05: -0.05 0 0.05 0.1
    assert_int_equal(n, 4);
    assert_true(fabs(t[0] + 0.05) < 1e-12 && t[1] == 0 && fabs(t[3] - 0.1) < 1e-12);
    const float qs[5] = {0.05f, 0.25f, 0.5f, 0.75f, 0.95f};
    tft_plot   *p     = tft_plot_new(5, qs);
    int64_t     ht[4] = {0, 1, 2, 3}, ft[2] = {4, 5};
    double      hy[4] = {1, 2, 3, 4}, act[2] = {4, 5};
    float       fq[10] = {3, 3.5, 4, 4.5, 5, 3, 4, 5, 6, 7};
    assert_int_equal(tft_plot_add(p, "a&b<c>", "y", 4, ht, hy, 2, ft, fq, NULL), 0);
    assert_int_equal(tft_plot_add(p, "s2", "y", 4, ht, hy, 2, ft, fq, act), 0);
    char path[] = "/tmp/tft_plot_XXXXXX", err[300];
    int  fd     = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(tft_plot_write_svg(p, path, "title \"x\"", err, sizeof err), 0);
    FILE  *f   = fopen(path, "r");
    char  *svg = calloc(1 << 16, 1);
    size_t len = fread(svg, 1, (1 << 16) - 1, f);
    fclose(f), close(fd), unlink(path);
    assert_true(len > 500);
    assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null(strstr(svg, "a&amp;b&lt;c&gt;"));
    assert_null(strstr(svg, "a&b"));
    assert_non_null(strstr(svg, "title &quot;x&quot;"));
    assert_non_null(strstr(svg, ">actual</text>"));
    int polys = 0;
    for (char *s = svg; (s = strstr(s, "<polygon")); s++) polys++;
    assert_int_equal(polys, 2 * 2); // 2 panels x (5 quantiles -> 2 bands)
    assert_non_null(strstr(svg, "</svg>\n"));
    assert_int_equal(tft_plot_write_svg(p, "/nonexistent-dir/x.svg", "t", err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot write /nonexistent-dir/x.svg"));
    free(svg);
    tft_plot_free(p);
}

// ---- the command line ------------------------------------------------------------------------
static int run(const char *args, char *errbuf, size_t n) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/tft %s >/dev/null 2>/tmp/tft_table_err.txt", TFT_BUILD_DIR, args);
    int   rc = system(cmd);
    FILE *f  = fopen("/tmp/tft_table_err.txt", "r");
    errbuf[0] = 0;
    if (f) errbuf[fread(errbuf, 1, n - 1, f)] = 0, fclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void command_line(void **state) {
    (void)state;
    char err[2048];
    assert_int_equal(run("forecast-table --help", err, sizeof err), 0);
    assert_int_equal(run("backtest --help", err, sizeof err), 0);
    assert_int_equal(run("forecast-table weights/default.safetensors", err, sizeof err), 2);
    assert_int_equal(run("backtest weights/default.safetensors x.csv", err, sizeof err), 2);
    assert_non_null(strstr(err, "--every K is required"));
    assert_int_equal(run("forecast-table weights/default.safetensors x.csv --threads 0", err, sizeof err), 2);
    assert_int_equal(run("forecast-table weights/default.safetensors /nonexistent.csv", err, sizeof err), 1);
    assert_non_null(strstr(err, "tft: error: cannot open /nonexistent.csv"));
    FILE *bad = fopen("/tmp/tft_table_bad.csv", "w");
    fputs("server,time_idx,cpu_pct\ndb-01,0,1\n", bad);
    fclose(bad);
    assert_int_equal(run("forecast-table weights/default.safetensors /tmp/tft_table_bad.csv", err, sizeof err), 1);
    assert_non_null(strstr(err, "tft: error: /tmp/tft_table_bad.csv:1: the header lacks"));
    unlink("/tmp/tft_table_bad.csv");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(csv_reads_rfc4180),
        cmocka_unit_test(csv_refuses),
        cmocka_unit_test(golden_table_equals_predict),
        cmocka_unit_test(streaming_and_threads_bitwise),
        cmocka_unit_test(bad_tables_name_line_and_column),
        cmocka_unit_test(unknown_category_names_series),
        cmocka_unit_test(backtest_metrics_by_hand),
        cmocka_unit_test(backtest_windows_and_metrics),
        cmocka_unit_test(backtest_matches_pytorch_forecasting),
        cmocka_unit_test(backtest_lists_short_series),
        cmocka_unit_test(plot_ticks_and_svg),
        cmocka_unit_test(command_line),
    };
    return cmocka_run_group_tests_name("table", tests, NULL, NULL);
}
