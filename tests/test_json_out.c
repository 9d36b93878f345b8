// test_json_out.c: the /v1/forecast response writer's optional parts (server/json_out.c):
//  - "interpretation" per series: for every golden fixture's request, the response is byte for byte
//    what `tft predict --format json --interpret` prints for the same request (same structure, same
//    numbers), and parsed back (the loader's strict parser) every value equals tft_forecast's arrays
//    bitwise in the REQUEST.md layout (attention: encoder_length keys then T decoder keys)
//  - "timings": {"<stage>_us": ...}
//  - the optional fields left zero: the response of before (no "interpretation", no "timings")
//  - errors: non-finite interpretation values (only the written ones count), missing encoder
//    lengths or names, a length past Temax, every smaller buffer
//  - quantile levels: the shortest "%.Ng" that reads back as the float (0.02, not 0.0199999996)
//  - the float printer (json_out.c's exact-integer "%.9g"): byte for byte snprintf("%.9g") on edge
//    patterns (zeros, subnormals, every power of 2, the floats around every power of 10 and every
//    9-digit rounding boundary, ties) and 2 x 10^6 random ones; also through tft_jw_floats at every
//    buffer size near the end. (All 2^32 patterns: bench_codec --exhaustive-floats, by hand.)
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "../engine/tft.h"
#include "../loader/json.h"
#include "../loader/loader.h"
#include "../server/json_in.h"
#include "../server/json_out.h"

#ifndef TFT_BUILD_DIR
#define TFT_BUILD_DIR "build/cpu"
#endif
#define GOLDEN_DIR "weights/goldens"
#define ARENA_BYTES (16u << 20)

static void *arena_mem;

static char *fixture_request(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, GOLDEN_DIR "/%s/fixture.safetensors", dir);
    tft_ld_file *f;
    if (tft_ld_open(path, &f, NULL) != TFT_OK) return NULL;
    const char *r = tft_ld_metadata(f, "request");
    char       *s = r ? strdup(r) : NULL;
    tft_ld_close(f);
    return s;
}

// One fixture's request decoded and forecast with every interpretation output.
typedef struct fc {
    tft_model          *m;
    char               *req, *body;
    tft_req             r;
    int32_t             T, Tm, NH, ns, ne, nd;
    float              *q, *att, *sw, *ew, *dw;
    int32_t            *elen;
    tft_resp_forecast   f;
} fc;

static int fc_open(fc *x, const char *dir) {
    char path[512];
    memset(x, 0, sizeof *x);
    snprintf(path, sizeof path, GOLDEN_DIR "/%s/model.safetensors", dir);
    if (tft_model_load(path, NULL, &x->m) != TFT_OK) return -1;
    x->req = fixture_request(dir);
    if (!x->req) return -1;
    size_t len = strlen(x->req);
    x->body    = malloc(len + 1);
    memcpy(x->body, x->req, len + 1);
    tft_req_arena a;
    tft_req_arena_init(&a, arena_mem, ARENA_BYTES, NULL);
    tft_req_error e;
    if (tft_req_decode(x->m, x->body, len, &a, &x->r, &e) != 0) fail_msg("%s: %s", dir, e.message);
    const tft_model_info *mi = tft_model_get_info(x->m);
    int32_t               B  = x->r.n;
    x->T  = x->r.horizon ? x->r.horizon : mi->max_prediction_length;
    x->Tm = mi->max_encoder_length, x->NH = mi->n_heads;
    x->ns = mi->n_static_vars, x->ne = mi->n_encoder_vars, x->nd = mi->n_decoder_vars;
    x->q    = calloc((size_t)B * mi->n_targets * x->T * mi->n_quantiles, 4);
    x->att  = calloc((size_t)B * x->T * x->NH * (x->Tm + x->T), 4);
    x->sw   = calloc((size_t)B * x->ns + 1, 4);
    x->ew   = calloc((size_t)B * x->Tm * x->ne + 1, 4);
    x->dw   = calloc((size_t)B * x->T * x->nd + 1, 4);
    x->elen = calloc((size_t)B, 4);
    tft_context_params cp = tft_context_default_params();
    cp.max_batch          = B;
    tft_context *c        = NULL;
    if (tft_context_new(x->m, &cp, &c) != TFT_OK) return -1;
    tft_forecast_output o = {x->q, x->elen, x->att, x->sw, x->ew, x->dw};
    tft_status          st = tft_forecast(c, x->r.series, B, &o);
    tft_context_free(c);
    if (st != TFT_OK) fail_msg("%s: tft_forecast: %s", dir, tft_last_error());
    x->f = (tft_resp_forecast){.model_name = "model", .model_sha256 = mi->sha256,
                               .n_quantiles = mi->n_quantiles, .quantile_levels = mi->quantiles, .horizon = x->T,
                               .n_series = B, .ids = x->r.ids, .encoder_lengths = x->elen,
                               .n_targets = mi->n_targets, .targets = mi->targets, .quantiles = x->q,
                               .n_heads = x->NH, .max_encoder_length = x->Tm, .attention = x->att,
                               .static_weights = x->sw, .encoder_weights = x->ew, .decoder_weights = x->dw,
                               .n_static_vars = x->ns, .n_encoder_vars = x->ne, .n_decoder_vars = x->nd,
                               .static_vars = mi->static_vars, .encoder_vars = mi->encoder_vars,
                               .decoder_vars = mi->decoder_vars};
    return 0;
}

static void fc_close(fc *x) {
    free(x->q), free(x->att), free(x->sw), free(x->ew), free(x->dw), free(x->elen);
    free(x->req), free(x->body);
    tft_model_free(x->m);
}

static char *write_all(const tft_resp_forecast *f, ssize_t *len) {
    size_t cap = 1 << 20;
    for (;;) {
        char *buf = malloc(cap);
        *len      = tft_resp_write_forecast(buf, cap, f);
        if (*len != TFT_RESP_E_SMALL) return buf;
        free(buf);
        cap *= 2;
    }
}

// stdout of `tft predict MODEL REQ --format json --interpret` (malloc'd)
static char *cli_output(const char *dir, const char *req) {
    char tmp[] = "/tmp/test_json_out_XXXXXX";
    int  fd    = mkstemp(tmp);
    if (fd < 0) return NULL;
    size_t n = strlen(req);
    if (write(fd, req, n) != (ssize_t)n) return NULL;
    close(fd);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, TFT_BUILD_DIR "/tft predict " GOLDEN_DIR "/%s/model.safetensors %s --format json "
             "--interpret", dir, tmp);
    FILE  *p   = popen(cmd, "r");
    char  *out = NULL;
    size_t cap = 0, len = 0;
    int    ch;
    while (p && (ch = fgetc(p)) != EOF) {
        if (len + 2 > cap) out = realloc(out, cap = cap ? 2 * cap : 1 << 16);
        out[len++] = (char)ch;
    }
    if (out) out[len] = 0;
    if (p) pclose(p);
    unlink(tmp);
    return out;
}

static const tft_json *parse(const char *text, size_t len, tft_json **doc) {
    char            err[200];
    tft_json_limits lim = tft_json_default_limits();
    if (tft_json_parse(text, len, &lim, doc, err, sizeof err) != 0) fail_msg("not JSON: %s", err);
    return *doc;
}

static void same_floats(const tft_json *arr, const float *want, size_t n, const char *what) {
    if (!arr || arr->type != TFT_JSON_ARRAY || arr->len != n) fail_msg("%s: not an array of %zu", what, n);
    size_t i = 0;
    for (const tft_json *v = arr->child; v; v = v->next, i++) {
        float x = (float)v->num;
        if (memcmp(&x, &want[i], 4) != 0) fail_msg("%s[%zu]: %.9g != %.9g", what, i, x, want[i]);
    }
}

static void same_names(const tft_json *arr, const char *const *want, int32_t n) {
    assert_int_equal(arr->len, (uint32_t)n);
    int32_t i = 0;
    for (const tft_json *v = arr->child; v; v = v->next, i++) assert_string_equal(v->str, want[i]);
}

// The interpretation parsed back against the arrays, in REQUEST.md's layout.
static void check_interpretation(const fc *x, const char *out, size_t len) {
    tft_json       *doc;
    const tft_json *root = parse(out, len, &doc);
    const tft_json *fcs  = tft_json_get(root, "forecasts");
    const tft_model_info *mi = tft_model_get_info(x->m);
    assert_int_equal(fcs->len, (uint32_t)x->r.n);
    size_t T = (size_t)x->T, NH = (size_t)x->NH, Tm = (size_t)x->Tm;
    for (int32_t b = 0; b < x->r.n; b++) {
        const tft_json *s  = tft_json_at(fcs, (uint32_t)b);
        const tft_json *in = tft_json_get(s, "interpretation");
        assert_non_null(in);
        size_t el = (size_t)x->elen[b];
        const tft_json *vars = tft_json_get(in, "variables");
        same_names(tft_json_get(vars, "static"), mi->static_vars, x->ns);
        same_names(tft_json_get(vars, "encoder"), mi->encoder_vars, x->ne);
        same_names(tft_json_get(vars, "decoder"), mi->decoder_vars, x->nd);
        same_floats(tft_json_get(in, "static_weights"), x->sw + (size_t)b * x->ns, (size_t)x->ns, "static_weights");
        const tft_json *ew = tft_json_get(in, "encoder_weights");
        assert_int_equal(ew->len, (uint32_t)el); // encoder_length rows
        for (size_t t = 0; t < el; t++)
            same_floats(tft_json_at(ew, (uint32_t)t), x->ew + ((size_t)b * Tm + t) * x->ne, (size_t)x->ne,
                        "encoder_weights");
        const tft_json *dw = tft_json_get(in, "decoder_weights");
        assert_int_equal(dw->len, (uint32_t)T);
        for (size_t t = 0; t < T; t++)
            same_floats(tft_json_at(dw, (uint32_t)t), x->dw + ((size_t)b * T + t) * x->nd, (size_t)x->nd,
                        "decoder_weights");
        const tft_json *at = tft_json_get(in, "attention");
        assert_int_equal(at->len, (uint32_t)T);
        for (size_t t = 0; t < T; t++) {
            const tft_json *heads = tft_json_at(at, (uint32_t)t);
            assert_int_equal(heads->len, (uint32_t)NH);
            for (size_t h = 0; h < NH; h++) {
                const tft_json *row  = tft_json_at(heads, (uint32_t)h);
                const float    *want = x->att + (((size_t)b * T + t) * NH + h) * (Tm + T);
                assert_int_equal(row->len, (uint32_t)(el + T)); // encoder_length + horizon keys
                const tft_json *v = row->child;
                for (size_t k = 0; k < el + T; k++, v = v->next) {
                    float got = (float)v->num, w = k < el ? want[k] : want[Tm + (k - el)];
                    if (memcmp(&got, &w, 4) != 0) fail_msg("attention[%d][%zu][%zu][%zu]: %.9g != %.9g", b, t, h, k,
                                                           got, w);
                }
            }
        }
    }
    assert_null(tft_json_get(root, "timings"));
    tft_json_free(doc);
}

static void test_interpretation_as_cli(void **state) {
    (void)state;
    DIR *dir = opendir(GOLDEN_DIR);
    assert_non_null(dir);
    struct dirent *de;
    int            n = 0;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.') continue;
        fc x;
        if (fc_open(&x, de->d_name) != 0) fail_msg("%s: cannot open", de->d_name);
        ssize_t len;
        char   *out = write_all(&x.f, &len);
        assert_true(len > 0);
        check_interpretation(&x, out, (size_t)len);
        char *cli = cli_output(de->d_name, x.req);
        if (!cli) fail_msg("%s: no output from " TFT_BUILD_DIR "/tft", de->d_name);
        size_t cl = strlen(cli);
        if (cl && cli[cl - 1] == '\n') cli[--cl] = 0;
        if (cl != (size_t)len || memcmp(cli, out, cl) != 0) {
            size_t i = 0;
            while (i < cl && i < (size_t)len && cli[i] == out[i]) i++;
            fail_msg("%s: the response differs from the CLI's at byte %zu: ...%.80s vs ...%.80s", de->d_name, i,
                     out + (i > 40 ? i - 40 : 0), cli + (i > 40 ? i - 40 : 0));
        }
        free(cli), free(out);
        fc_close(&x);
        n++;
    }
    closedir(dir);
    assert_true(n >= 2);
}

static void test_timings_and_defaults(void **state) {
    (void)state;
    fc x;
    assert_int_equal(fc_open(&x, "group_softplus"), 0);
    // the optional fields zero: no "interpretation", no "timings"
    tft_resp_forecast plain = x.f;
    plain.attention = NULL, plain.static_weights = NULL, plain.encoder_weights = NULL, plain.decoder_weights = NULL;
    ssize_t len;
    char   *out = write_all(&plain, &len);
    assert_true(len > 0);
    assert_null(strstr(out, "interpretation"));
    assert_null(strstr(out, "timings"));
    free(out);
    // timings
    tft_resp_timing tm[3] = {{"parse", 12}, {"queue", 0}, {"compute", 123456789012LL}};
    plain.n_timings = 3, plain.timings = tm;
    out             = write_all(&plain, &len);
    tft_json       *doc;
    const tft_json *t = tft_json_get(parse(out, (size_t)len, &doc), "timings");
    assert_non_null(t);
    assert_int_equal(t->len, 3u);
    int64_t v;
    assert_int_equal(tft_json_i64(tft_json_get(t, "parse_us"), &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(tft_json_i64(tft_json_get(t, "queue_us"), &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(tft_json_i64(tft_json_get(t, "compute_us"), &v), 0);
    assert_int_equal(v, 123456789012LL);
    assert_true(strstr(out, "}}],\"timings\":{\"parse_us\":12,") != NULL); // last, after "forecasts"
    tft_json_free(doc);
    free(out);
    // interpretation and timings together; every smaller buffer is "too small"
    tft_resp_forecast both = x.f;
    both.n_timings = 3, both.timings = tm;
    out                    = write_all(&both, &len);
    parse(out, (size_t)len, &doc);
    tft_json_free(doc);
    for (size_t small = 0; small < (size_t)len; small += small < 200 ? 1 : 1 + small / 5) {
        char *sb = malloc(small ? small : 1);
        assert_int_equal(tft_resp_write_forecast(sb, small, &both), TFT_RESP_E_SMALL);
        free(sb);
    }
    free(out);
    // only some of the arrays: only their keys
    tft_resp_forecast some = x.f;
    some.attention = NULL, some.encoder_weights = NULL;
    out = write_all(&some, &len);
    const tft_json *in = tft_json_get(tft_json_at(tft_json_get(parse(out, (size_t)len, &doc), "forecasts"), 0),
                                      "interpretation");
    assert_non_null(tft_json_get(in, "static_weights"));
    assert_non_null(tft_json_get(in, "decoder_weights"));
    assert_null(tft_json_get(in, "attention"));
    assert_null(tft_json_get(in, "encoder_weights"));
    tft_json_free(doc);
    free(out);
    fc_close(&x);
}

static void test_interpretation_errors(void **state) {
    (void)state;
    fc x;
    assert_int_equal(fc_open(&x, "group_softplus"), 0);
    size_t cap = 1 << 22;
    char  *buf = malloc(cap);
    size_t T = (size_t)x.T, NH = (size_t)x.NH, Tm = (size_t)x.Tm;
    // a NaN in padding (past a series' encoder length) is never written, so never an error
    int32_t b = 0;
    while (b < x.r.n && x.elen[b] == x.Tm) b++;
    if (b < x.r.n) {
        float *pad = x.att + ((size_t)b * T * NH) * (Tm + T) + x.elen[b];
        float  s   = *pad;
        *pad       = NAN;
        assert_true(tft_resp_write_forecast(buf, cap, &x.f) > 0);
        *pad = s;
        float *ewp = x.ew + ((size_t)b * Tm + (size_t)x.elen[b]) * x.ne;
        s          = *ewp;
        *ewp       = INFINITY;
        assert_true(tft_resp_write_forecast(buf, cap, &x.f) > 0);
        *ewp = s;
    }
    // written values: an error
    float *cells[4] = {x.att + (Tm + T) * 2 + Tm, x.sw + 1, x.ew + 2, x.dw + 3};
    for (int i = 0; i < 4; i++) {
        float s   = *cells[i];
        *cells[i] = NAN;
        assert_int_equal(tft_resp_write_forecast(buf, cap, &x.f), TFT_RESP_E_NONFINITE);
        *cells[i] = s;
    }
    tft_resp_forecast f = x.f;
    f.encoder_lengths   = NULL; // the interpretation needs them
    assert_int_equal(tft_resp_write_forecast(buf, cap, &f), TFT_RESP_E_ARG);
    f              = x.f;
    f.encoder_vars = NULL;
    assert_int_equal(tft_resp_write_forecast(buf, cap, &f), TFT_RESP_E_ARG);
    f       = x.f;
    f.n_heads = -1;
    assert_int_equal(tft_resp_write_forecast(buf, cap, &f), TFT_RESP_E_ARG);
    int32_t s = x.elen[0];
    x.elen[0] = x.Tm + 1; // would read past the series' Temax rows
    assert_int_equal(tft_resp_write_forecast(buf, cap, &x.f), TFT_RESP_E_ARG);
    x.elen[0] = s;
    f           = x.f;
    f.n_timings = 1, f.timings = NULL;
    assert_int_equal(tft_resp_write_forecast(buf, cap, &f), TFT_RESP_E_ARG);
    free(buf);
    fc_close(&x);
}

static int setup(void **state) {
    (void)state;
    arena_mem = malloc(ARENA_BYTES);
    return arena_mem ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    free(arena_mem);
    return 0;
}


// ------------------------------------------------------------------------------------------------
// the float printer against snprintf("%.9g", (double)f) (the test runs in the C locale)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) { // xorshift64*: fast, good enough for test patterns
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static unsigned long long float_checks;

static void check_float_bits(uint32_t b) {
    if ((b & 0x7F800000u) == 0x7F800000u) return; // Inf/NaN are never written
    float f;
    memcpy(&f, &b, 4);
    char want[48], got[48];
    int  k = snprintf(want, sizeof want, "%.9g", (double)f);
    tft_jw o = {got, sizeof got, 0, 0};
    tft_jw_float(&o, f);
    float_checks++;
    if (o.full || o.n != (size_t)k || memcmp(got, want, (size_t)k) != 0)
        fail_msg("float bits 0x%08x: got '%.*s', snprintf says '%s'", b, (int)o.n, got, want);
}

// b and its neighbours within d ulps (same sign), both signs
static void check_around(uint32_t b, int d) {
    for (int i = -d; i <= d; i++) {
        int64_t x = (int64_t)(b & 0x7FFFFFFFu) + i;
        if (x < 0 || x > 0x7F7FFFFF) continue;
        check_float_bits((uint32_t)x), check_float_bits((uint32_t)x | 0x80000000u);
    }
}

static uint32_t bits_of(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static void test_float_printer_as_snprintf(void **state) {
    (void)state;
    // zeros, the subnormal range's ends, the normal range's ends
    static const uint32_t fixed[] = {0x00000000, 0x80000000, 0x00000001, 0x00000002, 0x007FFFFF, 0x00800000,
                                     0x00800001, 0x7F7FFFFF, 0x7F7FFFFE, 0x3F800000, 0x4B7FFFFF, 0x4B800000,
                                     0x4E6E6B28, 0x4E6E6B29, 0x4E6E6B27};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) check_around(fixed[i], 2);
    // every power of 2, with neighbours
    for (uint32_t ef = 0; ef < 255; ef++) check_around(ef << 23, 3);
    // around every power of 10 and every 9-digit rounding boundary (d.dddddddd5 x 10^k for the top
    // and bottom of the digit range and a few in between), with neighbours: the float nearest the
    // decimal value (strtof) and +-4 ulps
    static const char *const mant[] = {"1", "9.999999995", "9.99999999", "1.000000005", "1.00000001",
                                       "5.000000005", "1.234567895", "3.333333335", "9.99999998"};
    for (int k = -46; k <= 39; k++)
        for (size_t i = 0; i < sizeof mant / sizeof mant[0]; i++) {
            char lit[48];
            snprintf(lit, sizeof lit, "%se%d", mant[i], k);
            float f = strtof(lit, NULL);
            if (isfinite(f)) check_around(bits_of(f), 4);
        }
    // exact ties at the 10th significant digit (binary fractions with few bits: 1000000.125 ...)
    for (uint32_t n = 1000000; n < 1000000 + 4096; n++)
        for (int s = 1; s <= 3; s++) check_around(bits_of((float)n + (float)(2 * (n % 4) + 1) / (float)(1 << s)), 1);
    for (uint32_t n = 1; n < 1u << 20; n += 7) check_around(bits_of((float)n * 0.125f), 0);
    // every integer-valued float near the 9-digit limit, and 2^24..2^31 (the integer fast path)
    for (uint32_t n = 999999000u; n <= 1000001000u; n += 64) check_around(bits_of((float)n), 1);
    for (uint32_t ef = 150; ef <= 158; ef++) check_around(ef << 23 | 0x7FFFFF, 2);
    // random: uniform bit patterns (every exponent alike), then the magnitudes forecasts have
    for (int i = 0; i < 1000000; i++) check_float_bits((uint32_t)rng());
    for (int i = 0; i < 1000000; i++) {
        uint32_t ef = 100 + (uint32_t)(rng() % 60); // ~1e-8 .. ~1e9
        check_float_bits((uint32_t)(rng() & 0x807FFFFFu) | ef << 23);
    }
    assert_true(float_checks > 2000000);
    // through tft_jw_floats at every capacity around the end (the direct and the put() paths), and
    // tft_jw_floats's "a,b,c" layout
    float  xs[64];
    char   want[64 * 20], got[64 * 20 + 8];
    size_t wl = 0;
    for (int i = 0; i < 64; i++) {
        xs[i] = (float)((int64_t)(rng() % 2000001) - 1000000) / (float)(1 + rng() % 997);
        wl += (size_t)snprintf(want + wl, sizeof want - wl, "%s%.9g", i ? "," : "", (double)xs[i]);
    }
    for (size_t cap = wl - 40; cap <= wl + 2; cap++) {
        memset(got, 'x', sizeof got);
        tft_jw o = {got, cap, 0, 0};
        tft_jw_floats(&o, xs, 64);
        if (cap < wl) {
            assert_true(o.full);
            assert_int_equal(tft_jw_finish(&o), TFT_RESP_E_SMALL);
            assert_true(o.n <= cap);
        } else {
            assert_false(o.full);
            assert_int_equal(o.n, wl);
            assert_memory_equal(got, want, wl);
        }
        assert_int_equal(got[cap], 'x'); // nothing past cap
    }
}

// Quantile levels (tft_fmt_level, tft_jw_levels): the shortest "%.Ng" that reads back as the same
// float, so 0.02f is "0.02" (its "%.9g" is 0.0199999996); on random floats: it reads back bitwise,
// and one significant digit fewer would not.
static void test_levels_shortest(void **state) {
    (void)state;
    static const struct {
        float       v;
        const char *want;
    } cases[] = {{0.02f, "0.02"}, {0.1f, "0.1"},   {0.25f, "0.25"},   {0.5f, "0.5"},       {0.98f, "0.98"},
                 {0.0f, "0"},     {1.0f, "1"},     {0.975f, "0.975"}, {1.0f / 3, "0.33333334"},
                 {0.123456789f, "0.12345679"},     {1e-30f, "1e-30"}, {16777216.0f, "16777216"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[TFT_LEVEL_MAX];
        assert_int_equal(tft_fmt_level(got, cases[i].v), strlen(cases[i].want));
        assert_string_equal(got, cases[i].want);
    }
    for (int i = 0; i < 200000; i++) {
        float v;
        do {
            uint32_t b = (uint32_t)rng();
            memcpy(&v, &b, 4);
        } while (!isfinite(v));
        char   got[TFT_LEVEL_MAX], shorter[32];
        size_t n = tft_fmt_level(got, v);
        assert_int_equal(n, strlen(got));
        if (bits_of(strtof(got, NULL)) != bits_of(v) && !(v == 0 && strtof(got, NULL) == 0))
            fail_msg("%s does not read back as %.9g", got, (double)v);
        int digits = 0; // significant digits written
        for (const char *p = got; *p && *p != 'e'; p++) digits += *p >= '0' && *p <= '9';
        for (const char *p = got; *p == '-' || *p == '0' || *p == '.'; p++) digits -= *p == '0';
        if (digits > 1) {
            snprintf(shorter, sizeof shorter, "%.*g", digits - 1, (double)v);
            if (strtof(shorter, NULL) == v) fail_msg("%s for %.9g, but %s reads back too", got, (double)v, shorter);
        }
    }
    // the JSON list: comma-separated, as tft_fmt_level writes each
    const float levels[] = {0.02f, 0.1f, 0.5f, 0.9f, 0.98f};
    char        buf[64];
    tft_jw      o = {buf, sizeof buf, 0, 0};
    tft_jw_levels(&o, levels, 5);
    assert_true(tft_jw_finish(&o) > 0);
    assert_string_equal(buf, "0.02,0.1,0.5,0.9,0.98");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_printer_as_snprintf),
        cmocka_unit_test(test_levels_shortest),
        cmocka_unit_test(test_interpretation_as_cli),
        cmocka_unit_test(test_timings_and_defaults),
        cmocka_unit_test(test_interpretation_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
