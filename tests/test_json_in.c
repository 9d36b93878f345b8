// test_json_in.c: the server's request decoder (server/json_in.c) and response writer
// (server/json_out.c).
//  - every golden fixture's request (and the bundled default model's) decodes to series that pass
//    the engine's checks and forecast (the CLI, tests and benches decode with this decoder too,
//    through engine/cli/request.c)
//  - a table of bad requests: error class, code and message
//  - one lexical grammar: a bad string or number, the loader's message (loader/json.h)
//  - jsmn's leniencies (trailing/missing commas, missing colons...): all malformed_json, as the
//    loader's strict parser says
//  - limits (depth, series, values, tokens) and an arena too small at every size below the need
//  - no heap allocation in the decoder: by construction (no allocator call in its source; checked)
//  - writer: response parsed back by the loader's strict parser, floats bitwise; escaping; errors
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "testutil.h"
#include "../engine/cli/request.h"
#include "../engine/tft.h"
#include "../loader/json.h"
#include "../loader/loader.h"
#include "../server/json_in.h"
#include "../server/json_out.h"

#define GOLDEN_DIR "weights/goldens"
#define ARENA_BYTES (16u << 20)

static tft_model *gm;     // group_softplus
static char      *greq;   // its fixture request
static void      *arena_mem;

static char *fixture_request(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, GOLDEN_DIR "/%s/fixture.safetensors", dir);
    tft_ld_file *f;
    tft_ld_error e;
    if (tft_ld_open(path, &f, &e) != TFT_OK) return NULL;
    const char *r = tft_ld_metadata(f, "request");
    char       *s = r ? strdup(r) : NULL;
    tft_ld_close(f);
    return s;
}

static int setup(void **state) {
    (void)state;
    if (tft_model_load(GOLDEN_DIR "/group_softplus/model.safetensors", NULL, &gm) != TFT_OK) return -1;
    greq      = fixture_request("group_softplus");
    arena_mem = malloc(ARENA_BYTES);
    return greq && arena_mem ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tft_model_free(gm);
    free(greq), free(arena_mem);
    return 0;
}

// Decodes a copy of json (kept in *body: labels point into it) with the big arena.
static int decode_lim(const tft_model *m, const char *json, size_t len, const tft_req_limits *lim, char **body,
                      tft_req_arena *a, tft_req *r, tft_req_error *e) {
    *body = malloc(len + 1);
    memcpy(*body, json, len);
    (*body)[len] = 0;
    tft_req_arena_init(a, arena_mem, ARENA_BYTES, lim);
    return tft_req_decode(m, *body, len, a, r, e);
}

// The request with the first `from` replaced by `to` (malloc'd).
static char *with(const char *req, const char *from, const char *to) {
    const char *at = strstr(req, from);
    if (!at) fail_msg("request has no '%s'", from);
    size_t pre = (size_t)(at - req), n = strlen(req) - strlen(from) + strlen(to);
    char  *s   = malloc(n + 1);
    memcpy(s, req, pre);
    strcpy(s + pre, to);
    strcat(s, at + strlen(from));
    return s;
}

// The decoder on a request the model accepts: the series pass the engine's checks and forecast to
// finite quantiles. (That they forecast the goldens' values: test_golden, through the same decoder.)
static void decodes_and_forecasts(const tft_model *m, const char *json, const char *what) {
    char         *body;
    tft_req_arena a;
    tft_req       r;
    tft_req_error e;
    if (decode_lim(m, json, strlen(json), NULL, &body, &a, &r, &e) != 0)
        fail_msg("%s: json_in: %d %s: %s", what, e.http, e.code, e.message);
    if (tft_series_check(m, r.series, r.n) != TFT_OK) fail_msg("%s: series check: %s", what, tft_last_error());
    const tft_model_info *mi = tft_model_get_info(m);
    int32_t T = r.horizon ? r.horizon : mi->max_prediction_length;
    size_t  n = (size_t)r.n * mi->n_targets * T * mi->n_quantiles;
    float  *q = calloc(n, 4);
    tft_context_params cp = tft_context_default_params();
    cp.max_batch          = r.n;
    tft_context *c        = NULL;
    assert_int_equal(tft_context_new(m, &cp, &c), TFT_OK);
    tft_forecast_output o = {.quantiles = q};
    if (tft_forecast(c, r.series, r.n, &o) != TFT_OK) fail_msg("%s: forecast: %s", what, tft_last_error());
    for (size_t i = 0; i < n; i++)
        if (!isfinite(q[i])) fail_msg("%s: quantile %zu is not finite", what, i);
    tft_context_free(c);
    free(q), free(body);
}

static void test_goldens_decode(void **state) {
    (void)state;
    DIR *dir = opendir(GOLDEN_DIR);
    assert_non_null(dir);
    int            count = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, GOLDEN_DIR "/%s/model.safetensors", de->d_name);
        tft_model *m = NULL;
        if (tft_model_load(path, NULL, &m) != TFT_OK) fail_msg("%s: %s", path, tft_last_error());
        char *req = fixture_request(de->d_name);
        if (!req) fail_msg("%s: no fixture request", de->d_name);
        decodes_and_forecasts(m, req, de->d_name);
        free(req);
        tft_model_free(m);
        count++;
    }
    closedir(dir);
    assert_true(count >= 8);
    // the bundled default model on its sample request
    tft_model *m = NULL;
    if (tft_model_load("weights/default.safetensors", NULL, &m) != TFT_OK) fail_msg("%s", tft_last_error());
    size_t len;
    char   err[300];
    char  *text = tft_read_file("weights/sample_request.json", &len, err, sizeof err);
    if (!text) fail_msg("%s", err);
    decodes_and_forecasts(m, text, "default");
    free(text);
    tft_model_free(m);
}

// Escapes in keys, ids and labels, whitespace everywhere, no "horizon", an id-less series.
static void test_escapes(void **state) {
    (void)state;
    char *a = with(greq, "\"temp\":[", " \"t\\u0065mp\" :\r\n\t[ ");
    char *b = with(a, "\"id\":\"s00\"", "\"id\":\"s\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\"");
    char *c = with(b, "\"horizon\":6,", "");
    char *d = with(c, "\"id\":\"s02\",", "");
    char *e0 = with(d, "\"region\":\"north\"", "\"r\\u0065gion\":\"n\\u006frth\"");
    char *e = with(e0, "\"interpret\":false", "\"interpret\":true,\"model\":\"m\\u00e9\"");
    decodes_and_forecasts(gm, e, "escapes");
    char         *body;
    tft_req_arena ar;
    tft_req       r;
    tft_req_error er;
    assert_int_equal(decode_lim(gm, e, strlen(e), NULL, &body, &ar, &r, &er), 0);
    assert_string_equal(r.ids[0], "s\xc3\xa9\xf0\x9f\x98\x80\n\"\\/");
    assert_string_equal(r.ids[1], "1");
    assert_int_equal(r.horizon, 0);
    assert_int_equal(r.interpret, 1);
    assert_string_equal(r.model, "m\xc3\xa9");
    free(body), free(a), free(b), free(c), free(d), free(e0), free(e);
}

// Number conversion (a fast path for short literals, strtod_l otherwise) is bitwise strtod's on
// random literals of every shape the fast path handles, and around its edges.
static void test_numbers_bitwise_strtod(void **state) {
    (void)state;
    enum { N = 20000 };
    static const char *const fixed[] = {"0", "-0", "-0.0", "0e5", "1e22", "1e23", "123456789012345e-22",
                                        "1234567890123456", "9007199254740993", "0.1", "-0.30000000000000004",
                                        "1e-22", "1e-23", "4.9e-324", "2.2250738585072014e-308",
                                        "1.7976931348623157e308", "0.000", "0.000000000000000000000000001",
                                        "100000000000000000000000", "1E+2", "1e-0", "123456789012345.6",
                                        // long exponents (fuzz regression: exponent accumulator overflow)
                                        "1e00000000000000000001", "25e-0000000000000000000001", "7E+00000000000000002",
                                        "1e-99999999999999999999999"};
    size_t cap = (size_t)N * 40 + 200, len = 0;
    char  *j   = malloc(cap), *lits = malloc((size_t)N * 40);
    size_t *off = malloc(sizeof(size_t) * N);
    len += (size_t)sprintf(j, "{\"series\":[{\"history\":{\"hour\":[");
    srand(12345);
    size_t lo = 0;
    for (int i = 0; i < N; i++) {
        char t[40];
        size_t nf = sizeof fixed / sizeof fixed[0];
        if ((size_t)i < nf) {
            snprintf(t, sizeof t, "%s", fixed[i]);
        } else {
            int k = 0, ni = rand() % 10, nfr = rand() % 10; // integer and fraction digits
            if (rand() % 4 == 0) t[k++] = '-';
            if (ni == 0) t[k++] = '0';
            for (int q = 0; q < ni; q++) t[k++] = (char)('0' + (q == 0 ? 1 + rand() % 9 : rand() % 10));
            if (nfr) t[k++] = '.';
            for (int q = 0; q < nfr; q++) t[k++] = (char)('0' + rand() % 10);
            t[k] = 0;
            if (rand() % 3 == 0) k += snprintf(t + k, sizeof t - (size_t)k, "%c%s%d", rand() % 2 ? 'e' : 'E',
                                               rand() % 2 ? "-" : (rand() % 2 ? "+" : ""), rand() % 30);
            t[k] = 0;
        }
        off[i] = lo;
        strcpy(lits + lo, t);
        lo += strlen(t) + 1;
        len += (size_t)sprintf(j + len, "%s%s", i ? "," : "", t);
    }
    len += (size_t)sprintf(j + len, "]}}]}");
    char         *body;
    tft_req_arena a;
    tft_req       r;
    tft_req_error e;
    int           rc = decode_lim(gm, j, len, NULL, &body, &a, &r, &e);
    if (rc != 0) fail_msg("%s", e.message);
    assert_int_equal(r.series[0].history[0].len, N);
    const double *v = r.series[0].history[0].values;
    for (int i = 0; i < N; i++) {
        double want = strtod(lits + off[i], NULL);
        if (memcmp(&v[i], &want, 8) != 0) fail_msg("'%s': %.17g != strtod %.17g", lits + off[i], v[i], want);
    }
    free(body), free(j), free(lits), free(off);
}

// tft_req_json_double (the decoder's and the v2 codec's number conversion: Clinger's exact fast path,
// the x87 one, strtod_l otherwise) is bitwise strtod on 10^7 literals the grammar accepts: short
// decimals as forecasters send them, every digit count up to 22 with exponents near the fast
// paths' limits, Python-repr style 17-digit doubles over the whole range and in the usual
// magnitudes, and 19-digit literals within an ulp's fraction of a halfway point between doubles
// (the x87 path's double rounding case).
static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint64_t rng(void) { // xorshift64*
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static double random_double(void) {
    for (;;) {
        uint64_t b = rng();
        double   d;
        memcpy(&d, &b, 8);
        if (isfinite(d)) return d;
    }
}

static int random_literal(char *t, size_t cap) {
    int k = 0;
    switch (rng() % 6) {
    case 0: { // 41.2, 63.05, 1000, -3.5e-2: up to 7 digits, up to 4 decimals, an exponent sometimes
        uint64_t v = rng() % 10000000;
        int      dec = (int)(rng() % 5);
        k          = snprintf(t, cap, "%s%llu", rng() % 4 ? "" : "-", (unsigned long long)(v / 10000));
        if (dec) {
            uint64_t f = v % 10000, p = 1;
            for (int i = 0; i < 4 - dec; i++) p *= 10;
            k += snprintf(t + k, cap - (size_t)k, ".%0*llu", dec, (unsigned long long)(f / p));
        }
        if (rng() % 8 == 0) k += snprintf(t + k, cap - (size_t)k, "e%d", (int)(rng() % 11) - 5);
        return k;
    }
    case 1: { // any digit counts (1..22) and decimal point, exponents around +-22 and +-27
        int ni = (int)(rng() % 12), nf = (int)(rng() % 12);
        if (rng() % 4 == 0) t[k++] = '-';
        if (ni == 0) t[k++] = '0';
        for (int q = 0; q < ni; q++) t[k++] = (char)('0' + (q == 0 ? 1 + rng() % 9 : rng() % 10));
        if (nf) t[k++] = '.';
        for (int q = 0; q < nf; q++) t[k++] = (char)('0' + rng() % 10);
        if (rng() % 2) k += snprintf(t + k, cap - (size_t)k, "%c%s%d", rng() % 2 ? 'e' : 'E',
                                     rng() % 2 ? "-" : (rng() % 2 ? "+" : ""), (int)(rng() % 40));
        t[k] = 0;
        return k;
    }
    case 2: // repr-style doubles over the whole range
        return snprintf(t, cap, "%.17g", random_double());
    case 3: { // repr-style and shorter doubles in the magnitudes of real series
        double d = ldexp((double)(rng() >> 11), -53) * pow(10.0, (double)(rng() % 14) - 4.0);
        return snprintf(t, cap, "%.*g", 1 + (int)(rng() % 19), rng() % 2 ? d : -d);
    }
    case 4: { // 17-digit doubles at the x87 path's exponent limits
        double d = ldexp((double)(rng() >> 11), -53) * pow(10.0, (double)(rng() % 56) - 28.0);
        return snprintf(t, cap, "%.17g", d);
    }
    default: { // near a halfway point between two doubles (the exact midpoint is a long double)
        double      d   = ldexp((double)(rng() >> 11) + 0x1p52, (int)(rng() % 120) - 110);
        long double mid = ((long double)d + (long double)nextafter(d, INFINITY)) / 2;
        return snprintf(t, cap, "%.*Le", 14 + (int)(rng() % 5), mid);
    }
    }
}

static void test_numbers_bitwise_strtod_10m(void **state) {
    (void)state;
    enum { N = 10000000 };
    static const char *const edges[] = {"9007199254740992", "9007199254740993", "9007199254740991e22",
                                        "9007199254740993e-22", "18446744073709551615", "18446744073709551616",
                                        "9999999999999999999e-27", "9999999999999999999e27", "1e-27", "1e27",
                                        "4.9406564584124654e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
                                        "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308",
                                        "2.2250738585072011e-308", "2.2250738585072012e-308", "0.1", "0.2", "0.3",
                                        "41.2", "63.05", "1000", "-3.5e-2", "-0", "0e-999", "1e-400", "1e400"};
    char  t[96];
    int   n   = 0;
    for (int i = 0; i < N; i++) {
        int k = i < (int)(sizeof edges / sizeof edges[0]) ? snprintf(t, sizeof t - 1, "%s", edges[i])
                                                           : random_literal(t, sizeof t - 1);
        t[k + 1] = 0;
        t[k]     = ',';      // tft_req_json_double's literal ends before a delimiter it may overwrite
        double got = tft_req_json_double(t, 0, k);
        assert_int_equal(t[k], ',');
        t[k]        = 0;
        double want = strtod(t, NULL);
        if (memcmp(&got, &want, 8) != 0) fail_msg("'%s': %.17g != strtod %.17g", t, got, want);
        n++;
    }
    assert_int_equal(n, N);
}

typedef struct bad {
    const char *from, *to; // substitution in the fixture request; from NULL: `to` is the whole request
    int         http;
    const char *code, *msg;
} bad;

static const bad bads[] = {
    {"{\"horizon\":6", "{\"horizon\":6,\"extra\":1", 422, "unknown_key", "unknown key 'extra'"},
    {"\"horizon\":6", "\"horizon\":7", 422, "horizon_out_of_range", "horizon 7 is outside"},
    {"\"horizon\":6", "\"horizon\":0", 422, "horizon_out_of_range", "horizon 0 is outside"},
    {"\"horizon\":6", "\"horizon\":-99999999999999999999", 422, "wrong_type", "\"horizon\" must be an integer"},
    {"\"horizon\":6", "\"horizon\":6.0", 422, "wrong_type", "\"horizon\" must be an integer"},
    {"\"horizon\":6", "\"horizon\":\"6\"", 422, "wrong_type", "\"horizon\" must be an integer"},
    {"\"interpret\":false", "\"interpret\":0", 422, "wrong_type", "true or false"},
    {"\"interpret\":false", "\"interpret\":null", 422, "wrong_type", "true or false"},
    {"\"temp\":[", "\"tmep\":[", 422, "not_a_model_input", "series 0 's00': history has 'tmep'"},
    {"\"region\":\"north\"", "\"regoin\":\"north\"", 422, "not_a_model_input", "static has 'regoin'"},
    {"\"hour\":[", "\"hour\":[1e400,", 422, "non_finite_input", "series 0 's00': history 'hour'[0] = 1e400"},
    {"\"hour\":[18.0", "\"hour\":[18.0,-1E+400", 422, "non_finite_input", "'hour'[1] = -1E+400 is not a finite"},
    {"\"capacity\":45.83", "\"capacity\":1e999", 422, "non_finite_input", "static 'capacity'[0] = 1e999"},
    {"\"dow\":[\"0\"", "\"dow\":[0", 422, "wrong_type", "'dow'[0] must be a string (a category label)"},
    {"\"hour\":[18.0", "\"hour\":[\"18\"", 422, "wrong_type", "'hour'[0] must be a number, not a string"},
    {"\"hour\":[18.0", "\"hour\":[null", 422, "wrong_type", "'hour'[0] must be a number, not null"},
    {"\"hour\":[18.0", "\"hour\":[[18.0]", 422, "wrong_type", "must be a number, not an array"},
    {"\"hour\":[18.0", "\"hour\":[true", 422, "wrong_type", "must be a number, not a boolean"},
    {"\"capacity\":45.83", "\"capacity\":[45.83]", 422, "wrong_type", "static 'capacity'[0] must be a number"},
    {"\"hour\":[", "\"hour\":7,\"q\":[", 422, "wrong_type", "history 'hour' must be an array"},
    {"\"id\":\"s00\"", "\"id\":7", 422, "wrong_type", "series 0: \"id\" must be a string"},
    {"\"id\":\"s00\",", "\"id\":\"s00\",\"idx\":1,", 422, "unknown_key", "series 0 has unknown key 'idx'"},
    {"\"static\":{\"series\":\"s00\",\"region\":\"north\",\"capacity\":45.83}", "\"static\":5", 422, "wrong_type",
     "\"static\" must be an object"},
    {"\"history\":{", "\"history\":{\"history\":[1],", 422, "not_a_model_input", "history has 'history'"},
    {"\"time_idx\":[354", "\"time_idx\":[353.5", 422, "wrong_type", "time_idx[0] is not an integer"},
    {"\"time_idx\":[354,", "\"time_idx\":[", 422, "length_mismatch", "time_idx has 29 values, expected"},
    {"{\"horizon\":6", "{\"horizon\":6,\"horizon\":6", 400, "duplicate_key", "key 'horizon' twice"},
    {"\"capacity\":45.83", "\"capacity\":45.83,\"capacity\":1", 400, "duplicate_key", "static has 'capacity' twice"},
    {"\"id\":\"s00\"", "\"id\":\"s00\",\"id\":\"x\"", 400, "duplicate_key", "series 0 has key 'id' twice"},
    {"\"id\":\"s02\"", "\"id\":\"s02\",\"time_idx\":[1]", 400, "duplicate_key", "series 1 has key 'time_idx' twice"},
    {NULL, "{\"series\":[]}", 422, "wrong_type", "non-empty array"},
    {NULL, "{\"horizon\":6}", 422, "missing_field", "needs \"series\""},
    {NULL, "[]", 422, "not_an_object", "must be a JSON object"},
    {NULL, "\"x\"", 422, "not_an_object", "must be a JSON object, not a string"},
    {NULL, "{\"model\":5,\"series\":[1]}", 422, "wrong_type", "\"model\" must be a string"},
    {NULL, "{\"series\":[1]}", 422, "wrong_type", "series 0 must be an object"},
    {NULL, "{\"series\":[{\"id\":\"a\"}]}", 422, "missing_field", "series 0 'a': \"history\" is missing"},
    {NULL, "{\"series\": [", 400, "malformed_json", "not valid JSON"},
    {NULL, "", 400, "malformed_json", "empty document"},
    {"\"horizon\":6", "\"horizon\":06", 400, "malformed_json", "invalid number (leading zero)"},
    {"\"horizon\":6", "\"horizon\":+6", 400, "malformed_json", "not valid JSON"},
    {"\"id\":\"s00\"", "\"id\":\"s\x01\"", 400, "malformed_json", "control character"},
    {"\"id\":\"s00\"", "\"id\":\"s\\x\"", 400, "malformed_json", "not valid JSON"},
    {"\"id\":\"s00\"", "\"id\":\"\\ud800\"", 400, "malformed_json", "unpaired high surrogate \\uD800"},
    {"\"id\":\"s00\"", "\"id\":\"\\udc00x\"", 400, "malformed_json", "unpaired low surrogate \\uDC00"},
    {"\"id\":\"s00\"", "\"id\":\"\xff\"", 400, "malformed_json", "invalid UTF-8"},
    {"\"id\":\"s00\"", "\"id\":\"\xc0\xaf\"", 400, "malformed_json", "invalid UTF-8"},
    {"\"id\":\"s00\"", "\"id\":\"\xed\xa0\x80\"", 400, "malformed_json", "invalid UTF-8"},
    {"\"id\":\"s00\"", "\"id\":\"a\\u0000\"", 400, "malformed_json", "\\u0000"},
    {"\"interpret\":false", "\"interpret\":fals", 400, "malformed_json", "invalid literal (expected true, false or null)"},
    {"\"interpret\":false", "\"interpret\":nulll", 400, "malformed_json", "invalid literal"},
    {"\"hour\":[18.0", "\"hour\":[NaN", 400, "malformed_json", "not valid JSON"},
    {"\"hour\":[18.0", "\"hour\":[-Infinity", 400, "malformed_json", "not valid JSON"},
    {"\"hour\":[18.0", "\"hour\":[1.", 400, "malformed_json", "invalid number (a digit must follow '.')"},
    {"\"hour\":[18.0", "\"hour\":[.5", 400, "malformed_json", "not valid JSON"},
    {"\"hour\":[18.0", "\"hour\":[1e", 400, "malformed_json", "invalid number (a digit must follow the exponent)"},
    {"\"hour\":[18.0", "\"hour\":[-", 400, "malformed_json", "invalid number (a digit must follow '-')"},
    {"\"hour\":[18.0", "\"hour\":[0x10", 400, "malformed_json", "unexpected character after a number at byte"},
    {NULL, "{\"series\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}", 413, "too_deep", "deeper than 16"},
};

static void test_bad_requests(void **state) {
    (void)state;
    assert_true(sizeof bads / sizeof bads[0] >= 30);
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        const bad *b    = &bads[i];
        char      *json = b->from ? with(greq, b->from, b->to) : strdup(b->to);
        char         *body;
        tft_req_arena a;
        tft_req       r;
        tft_req_error e;
        int           rc = decode_lim(gm, json, strlen(json), NULL, &body, &a, &r, &e);
        if (rc == 0) fail_msg("bad[%zu] (%s): accepted", i, b->to);
        if (e.http != b->http || strcmp(e.code, b->code) != 0 || !strstr(e.message, b->msg))
            fail_msg("bad[%zu] (%s): got %d %s '%s', want %d %s '%s'", i, b->to, e.http, e.code, e.message, b->http,
                     b->code, b->msg);
        free(body), free(json);
    }
    // a NUL byte inside the body
    char          j[] = "{\"series\":[]}\0 ";
    char         *body;
    tft_req_arena a;
    tft_req       r;
    tft_req_error e;
    assert_int_equal(decode_lim(gm, j, sizeof j - 1, NULL, &body, &a, &r, &e), -1);
    assert_int_equal(e.http, 400);
    assert_string_equal(e.code, "malformed_json");
    assert_non_null(strstr(e.message, "NUL byte"));
    free(body);
    // err may be NULL
    body = strdup("{");
    tft_req_arena_init(&a, arena_mem, ARENA_BYTES, NULL);
    assert_int_equal(tft_req_decode(gm, body, 1, &a, &r, NULL), -1);
    free(body);
}

// One lexical grammar (loader/json.h): a bad string or number gets the same message from the
// loader's parser and from the server's decoder, which once had their own.
static char *what_of(const char *msg, const char *prefix) { // "<prefix>WHAT at byte N" -> WHAT (malloc'd)
    const char *at = strstr(msg, " at byte ");
    if (strncmp(msg, prefix, strlen(prefix)) != 0 || !at) fail_msg("'%s' is not '%sWHAT at byte N'", msg, prefix);
    return strndup(msg + strlen(prefix), (size_t)(at - msg) - strlen(prefix));
}

static void test_lexical_errors_as_loader(void **state) {
    (void)state;
    static const char *const vals[] = {"\"\\ud800\"", "\"\\udc00x\"", "\"a\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
                                       "\"a\\u0000\"", "\"s\x01\"", "06", "-06", "1.", "1.e5", "1e", "1e+", "-",
                                       "fals", "tru", "nul"};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        char doc[64], req[96];
        snprintf(doc, sizeof doc, "[%s]", vals[i]);
        snprintf(req, sizeof req, "{\"series\":[{\"id\":%s}]}", vals[i]);
        tft_json *j = NULL;
        char      jerr[200];
        if (tft_json_parse(doc, strlen(doc), NULL, &j, jerr, sizeof jerr) == 0) fail_msg("loader accepts %s", doc);
        char         *body;
        tft_req_arena a;
        tft_req       r;
        tft_req_error e;
        if (decode_lim(gm, req, strlen(req), NULL, &body, &a, &r, &e) == 0) fail_msg("decoder accepts %s", req);
        char *lw = what_of(jerr, "json: "), *sw = what_of(e.message, "request is not valid JSON: ");
        if (strcmp(lw, sw) != 0) fail_msg("%s: the loader says '%s', the decoder '%s'", vals[i], lw, sw);
        free(lw), free(sw), free(body);
    }
}

// Shapes jsmn accepts (or could) that are not JSON: each must be malformed_json, as the loader's
// strict parser also says.
static const char *const lenient[] = {
    "{\"series\":[1,]}",
    "{\"horizon\":6,}",
    "{\"horizon\" 6}",
    "{\"horizon\":6 \"interpret\":true}",
    "{\"series\":[1 2]}",
    "{\"series\":[\"a\" \"b\"]}",
    "{,\"horizon\":6}",
    "{\"series\":[,1]}",
    "{\"series\":[1,,2]}",
    "{\"horizon\"::6}",
    "{\"horizon\":6,,\"interpret\":true}",
    "{\"horizon\":6}}",
    "{\"horizon\":6}{}",
    "{\"horizon\":6} 7",
    "{\"horizon\",6}",
    "{\"horizon\":6:7}",
    "{\"horizon\":\"a\":7}",
    "{\"horizon\":\"a\" \"b\"}",
    "{\"series\":[{\"id\":\"a\",}]}",
    "{\"series\":[{\"history\":{\"x\":[1,2,]}}]}",
    "{\"horizon\":6",
    "{\"horizon\":1 2}",
    "[\"a\":1]",
    "{\"a\"}",
    "{\"a\":}",
    "{1:2}",
    "{\"horizon\":true1}",
    "{\"horizon\":tru}",
    "{\"horizon\":-}",
    "{\"horizon\":6}/**/",
    "{\"horizon\":6}\x01",
    "{\"a\":[1],,}",
    ",{\"a\":1}",
    ":{\"a\":1}",
    "{\"a\":1}:",
    "{\"a\":1},",
    "{\"a\":[1]:}",
    "{\"a\":{\"b\":1,}}",
    "{\"a\":[]]}",
    "{\"a\":[}",
    "{\"series\":[{\"id\":\"a\" \"static\":{}}]}",
    "{\"a\":\"\\ud800\\u0041\"}",
};

static void test_jsmn_leniency(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof lenient / sizeof lenient[0]; i++) {
        const char     *j = lenient[i];
        tft_json       *doc;
        char            err[200];
        tft_json_limits lim = tft_json_default_limits();
        if (tft_json_parse(j, strlen(j), &lim, &doc, err, sizeof err) == 0)
            fail_msg("lenient[%zu] '%s': the loader's parser accepts it", i, j);
        char         *body;
        tft_req_arena a;
        tft_req       r;
        tft_req_error e;
        if (decode_lim(gm, j, strlen(j), NULL, &body, &a, &r, &e) == 0) fail_msg("lenient[%zu] '%s': accepted", i, j);
        if (e.http != 400 || strcmp(e.code, "malformed_json") != 0)
            fail_msg("lenient[%zu] '%s': got %d %s '%s'", i, j, e.http, e.code, e.message);
        free(body);
    }
}

static void expect_limit(const char *json, const tft_req_limits *lim, int http, const char *code, const char *msg) {
    char         *body;
    tft_req_arena a;
    tft_req       r;
    tft_req_error e;
    assert_int_equal(decode_lim(gm, json, strlen(json), lim, &body, &a, &r, &e), -1);
    if (e.http != http || strcmp(e.code, code) != 0 || !strstr(e.message, msg))
        fail_msg("got %d %s '%s', want %d %s '%s'", e.http, e.code, e.message, http, code, msg);
    free(body);
}

static void test_limits(void **state) {
    (void)state;
    tft_req_limits l = tft_req_default_limits();
    l.max_series     = 7; // the fixture has 8
    expect_limit(greq, &l, 413, "too_many_elements", "8 series, more than the limit 7");
    l = tft_req_default_limits(), l.max_values = 100;
    expect_limit(greq, &l, 413, "too_many_elements", "more than 100 values");
    l = tft_req_default_limits(), l.max_tokens = 100;
    expect_limit(greq, &l, 413, "too_many_elements", "more than 100 JSON values");
    l = tft_req_default_limits(), l.max_depth = 2;
    expect_limit(greq, &l, 413, "too_deep", "deeper than 2");
    // exactly at the limits: accepted
    l = tft_req_default_limits(), l.max_series = 8, l.max_depth = 5;
    char         *body;
    tft_req_arena a;
    tft_req       r;
    tft_req_error e;
    if (decode_lim(gm, greq, strlen(greq), &l, &body, &a, &r, &e) != 0) fail_msg("%s", e.message);
    assert_int_equal(r.n, 8);
    free(body);
}

// CPU seconds of this thread (the decoders run on the caller's thread): the bounds below tell linear
// from quadratic work, and CPU time does not grow when other processes load the machine.
static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

// `levels` openers `open` (e.g. "[" or "{\"a\":"), then `mid`, then `levels` closers: malloc'd, *len set.
static char *nested(const char *open, const char *mid, char close, size_t levels, size_t *len) {
    size_t o = strlen(open), m = strlen(mid), n = levels * (o + 1) + m, k = 0;
    char  *s = malloc(n + 1);
    for (size_t i = 0; i < levels; i++, k += o) memcpy(s + k, open, o);
    memcpy(s + k, mid, m), k += m;
    memset(s + k, close, levels), k += levels;
    s[k] = 0;
    *len = k;
    return s;
}

// Deep nesting is refused in time linear in the body: jsmn alone closes n nested brackets in n^2/2
// steps (256 KB of "[...]" took about a minute before the depth was checked ahead of it). Also inside
// strings brackets do not count, and a document exactly at the depth limit still decodes.
static void test_deep_nesting_linear(void **state) {
    (void)state;
    static const char *const shapes[][3] = {{"[", "", "]"}, {"{\"a\":", "1", "}"}, {"{\"series\":[", "1", "]"}};
    for (int k = 0; k < 3; k++) {
        size_t len;
        char  *body = nested(shapes[k][0], shapes[k][1], shapes[k][2][0], (256u << 10) / strlen(shapes[k][0]), &len);
        tft_req_arena a;
        tft_req       r;
        tft_req_error e;
        tft_req_arena_init(&a, arena_mem, ARENA_BYTES, NULL);
        double t0 = seconds_now();
        assert_int_equal(tft_req_decode(gm, body, len, &a, &r, &e), -1);
        double dt = seconds_now() - t0;
        if (e.http != 413 || strcmp(e.code, "too_deep") != 0) fail_msg("%s: got %d %s", shapes[k][0], e.http, e.code);
        // the v2 decoders' token pass (tft_req_json_tokens) too, on a fresh copy (the scan unescapes
        // strings in place as it goes, so the body refused above is modified up to the nesting error)
        void *toks;
        int   nt;
        free(body);
        body = nested(shapes[k][0], shapes[k][1], shapes[k][2][0], (256u << 10) / strlen(shapes[k][0]), &len);
        tft_req_arena_init(&a, arena_mem, ARENA_BYTES, NULL);
        t0 = seconds_now() - dt; // the copy is not timed
        assert_int_equal(tft_req_json_tokens(body, len, &a, &toks, &nt, &e), -1);
        assert_string_equal(e.code, "too_deep");
        dt = seconds_now() - t0;
        if (dt > 1.0 * TU_SLOWDOWN) fail_msg("%s x %zu: refused after %.2f s (quadratic?)", shapes[k][0], len, dt);
        free(body);
    }
    // jsmn takes several values in a row: deep nesting after a complete root is refused as trailing
    // garbage (malformed), also in linear time
    static const char *const roots[] = {"{} ", "1 ", "\"x\""};
    for (int k = 0; k < 3; k++) {
        size_t len, rl = strlen(roots[k]);
        char  *deep = nested("[", "", ']', 128u << 10, &len);
        char  *body = malloc(rl + len + 1);
        memcpy(body, roots[k], rl), memcpy(body + rl, deep, len + 1);
        tft_req_arena a;
        tft_req_error e;
        void         *toks;
        int           nt;
        double        t0 = seconds_now();
        tft_req_arena_init(&a, arena_mem, ARENA_BYTES, NULL);
        assert_int_equal(tft_req_json_tokens(body, rl + len, &a, &toks, &nt, &e), -1);
        if (e.http != 400 || strcmp(e.code, "malformed_json") != 0) fail_msg("'%s' + nesting: %s", roots[k], e.message);
        if (seconds_now() - t0 > 1.0 * TU_SLOWDOWN) fail_msg("'%s' + nesting took %.2f s", roots[k], seconds_now() - t0);
        free(deep), free(body);
    }
    // brackets in strings are not nesting: 40 of them in a key and in a label decode (as unknown key)
    char *s = with(greq, "\"series\"", "\"[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{{{\\\\\\\"\":1,\"series\"");
    char *body;
    tft_req_arena a;
    tft_req       r;
    tft_req_error e;
    assert_int_equal(decode_lim(gm, s, strlen(s), NULL, &body, &a, &r, &e), -1);
    assert_string_equal(e.code, "unknown_key");
    free(body), free(s);
}

// Memory: the parse nodes of a request are the scanner's tokens, 16 bytes each, at most one per
// separator ('[' '{' ',' ':') plus the root. The densest 8 MiB body (the server's default
// --max-body-bytes), "[0,0,...]", needs len / 2 of them: 8 bytes of tokens a byte of body (jsmn's
// were 20 bytes, and a malformed body was retried with 42 bytes a byte). tft_req_arena_bound, what
// the server reserves, covers it; the server's node cap (max_tokens) refuses a body with more
// tokens while scanning.
static void test_parse_memory_bound(void **state) {
    (void)state;
    size_t len = 8u << 20;
    char  *src = malloc(len), *body = malloc(len);
    assert_non_null(src);
    assert_non_null(body);
    src[0] = '[';
    for (size_t i = 1; i + 1 < len; i += 2) src[i] = '0', src[i + 1] = ',';
    src[len - 2] = ' ', src[len - 1] = ']';
    size_t need = tft_req_arena_bound(src, len);
    assert_true(need <= 12 * len + 8192); // tokens and their 8-byte values
    void *mem = malloc(need);
    assert_non_null(mem);
    tft_req_arena a;
    tft_req_error e;
    void         *toks;
    int           nt;
    tft_req_limits lim = tft_req_default_limits();
    memcpy(body, src, len);
    tft_req_arena_init(&a, mem, need, &lim);
    assert_int_equal(tft_req_json_tokens(body, len, &a, &toks, &nt, &e), 0);
    assert_int_equal(nt, len / 2);
    assert_true(a.used <= 8 * len);
    // the node cap: 1 << 20 tokens (16 MiB) refuses it at the 1,048,577th, not an arena overflow
    lim.max_tokens = 1u << 20;
    memcpy(body, src, len);
    tft_req_arena_init(&a, mem, need, &lim);
    assert_int_equal(tft_req_json_tokens(body, len, &a, &toks, &nt, &e), -1);
    assert_int_equal(e.http, 413);
    assert_string_equal(e.code, "too_many_elements");
    assert_non_null(strstr(e.message, "more than 1048576 JSON values"));
    free(mem), free(body), free(src);
}

// The other shapes a hostile body can take are linear too (each bounded at 1 s for a few MB, far
// above their measured few ms): one 4 MiB string, 300,000 keys in one object, 300,000 array elements,
// and 4,000 series whose every column is wrong only in the last one (the decoder walks them all).
static void test_other_shapes_linear(void **state) {
    (void)state;
    size_t n = 4u << 20, k = 0;
    char  *b = malloc(4 * n); // (the 300,000 keys take about 5 MB)
    // a 4 MiB string (with escapes: string_fix moves bytes, never re-scans)
    k += (size_t)sprintf(b, "[\"");
    while (k < n) k += (size_t)sprintf(b + k, "abc\\n\\u00e9");
    k += (size_t)sprintf(b + k, "\"]");
    void         *toks;
    int           nt;
    tft_req_arena a;
    tft_req_error e;
    double        t0 = seconds_now();
    tft_req_arena_init(&a, arena_mem, ARENA_BYTES, NULL);
    assert_int_equal(tft_req_json_tokens(b, k, &a, &toks, &nt, &e), 0);
    assert_int_equal(nt, 2);
    // 300,000 keys, then 300,000 elements
    k = (size_t)sprintf(b, "{");
    for (int i = 0; i < 300000; i++) k += (size_t)sprintf(b + k, "%s\"k%d\":%d", i ? "," : "", i, i);
    k += (size_t)sprintf(b + k, "}");
    tft_req_arena_init(&a, arena_mem, ARENA_BYTES, NULL);
    assert_int_equal(tft_req_json_tokens(b, k, &a, &toks, &nt, &e), 0);
    assert_int_equal(nt, 600001);
    k = (size_t)sprintf(b, "[");
    for (int i = 0; i < 300000; i++) k += (size_t)sprintf(b + k, "%s%d.5", i ? "," : "", i);
    k += (size_t)sprintf(b + k, "]");
    tft_req_arena_init(&a, arena_mem, ARENA_BYTES, NULL);
    assert_int_equal(tft_req_json_tokens(b, k, &a, &toks, &nt, &e), 0);
    double dt = seconds_now() - t0;
    if (dt > 1.0 * TU_SLOWDOWN) fail_msg("4 MiB string + 300k keys + 300k elements took %.2f s", dt);
    free(b);
    // 4,000 series, each fine but for an unknown column in the last: refused after walking them all
    const char *one = "{\"history\":{\"hour\":[1]}}";
    size_t      cap = 4000 * (strlen(one) + 1) + 64;
    b               = malloc(cap);
    k               = (size_t)sprintf(b, "{\"series\":[");
    for (int i = 0; i < 4000; i++) k += (size_t)sprintf(b + k, "%s%s", i ? "," : "", i < 3999 ? one : "{\"history\":{\"nope\":[1]}}");
    k += (size_t)sprintf(b + k, "]}");
    tft_req r;
    char   *body;
    t0 = seconds_now();
    assert_int_equal(decode_lim(gm, b, k, NULL, &body, &a, &r, &e), -1);
    dt = seconds_now() - t0;
    assert_string_equal(e.code, "not_a_model_input");
    assert_int_equal(e.series, 3999);
    if (dt > 1.0 * TU_SLOWDOWN) fail_msg("4,000 series took %.2f s", dt);
    free(body), free(b);
}

// Every arena size below what the fixture request needs fails cleanly with 413 (and ASan sees no
// access past the buffer, which is malloc'd at exactly that size); the exact need succeeds.
static void test_arena_too_small(void **state) {
    (void)state;
    size_t        len = strlen(greq);
    char         *body;
    tft_req_arena a;
    tft_req       r;
    tft_req_error e;
    assert_int_equal(decode_lim(gm, greq, len, NULL, &body, &a, &r, &e), 0);
    size_t need = a.used;
    free(body);
    assert_true(need > 1000);
    body = malloc(len + 1);
    for (size_t cap = 0; cap <= need; cap += (cap < 2048 || cap + 600 > need) ? 1 : 97) {
        unsigned char *mem = malloc(cap ? cap : 1);
        memcpy(body, greq, len + 1);
        tft_req_arena_init(&a, mem, cap, NULL);
        int rc = tft_req_decode(gm, body, len, &a, &r, &e);
        if (cap < need) {
            if (rc == 0) fail_msg("arena of %zu < %zu bytes accepted", cap, need);
            if (e.http != 413 || strcmp(e.code, "too_large") != 0 || !strstr(e.message, "arena"))
                fail_msg("arena %zu: %d %s %s", cap, e.http, e.code, e.message);
        } else {
            if (rc != 0) fail_msg("arena of exactly %zu bytes: %s", cap, e.message);
            assert_int_equal(r.n, 8);
            assert_true(a.used <= cap);
        }
        free(mem);
    }
    // a misaligned buffer is aligned up, and still works
    unsigned char *mem = malloc(need + 32);
    memcpy(body, greq, len + 1);
    tft_req_arena_init(&a, mem + 3, need + 29, NULL);
    assert_int_equal(tft_req_decode(gm, body, len, &a, &r, &e), 0);
    assert_int_equal((uintptr_t)r.series % 16, 0);
    free(mem), free(body);
}

// The decoder allocates nothing: none of the allocator's entry points appears in its source
// (all memory is the caller's arena or the body). Comments are skipped.
static void test_no_heap_in_decoder(void **state) {
    (void)state;
    static const char *const files[] = {"server/json_in.c", "server/json_out.c"};
    static const char *const calls[] = {"malloc(", "calloc(", "realloc(", "free(", "strdup(", "strndup(",
                                        "asprintf(", "aligned_alloc(", "posix_memalign(", "mmap("};
    for (size_t f = 0; f < 2; f++) {
        size_t len;
        char   err[300];
        char  *src = tft_read_file(files[f], &len, err, sizeof err);
        if (!src) fail_msg("%s", err);
        // blank out comments
        for (char *p = src; *p; p++) {
            if (p[0] == '/' && p[1] == '/')
                while (*p && *p != '\n') *p++ = ' ';
            else if (p[0] == '/' && p[1] == '*')
                for (; *p && !(p[0] == '*' && p[1] == '/'); p++) *p = ' ';
            if (!*p) break;
        }
        for (size_t c = 0; c < sizeof calls / sizeof calls[0]; c++)
            if (strstr(src, calls[c])) fail_msg("%s calls %s", files[f], calls[c]);
        free(src);
    }
}

// forecast -> response JSON -> the loader's strict parser -> the same floats, bitwise
static void test_writer_round_trip(void **state) {
    (void)state;
    char         *body;
    tft_req_arena a;
    tft_req       r;
    tft_req_error e;
    assert_int_equal(decode_lim(gm, greq, strlen(greq), NULL, &body, &a, &r, &e), 0);
    const tft_model_info *mi = tft_model_get_info(gm);
    int32_t T = r.horizon, NT = mi->n_targets, Q = mi->n_quantiles;
    size_t  n = (size_t)r.n * NT * T * Q;
    float  *q = calloc(n, 4);
    int32_t enc[64];
    tft_context_params cp = tft_context_default_params();
    cp.max_batch          = r.n;
    tft_context *c        = NULL;
    assert_int_equal(tft_context_new(gm, &cp, &c), TFT_OK);
    tft_forecast_output o = {.quantiles = q, .encoder_lengths = enc};
    assert_int_equal(tft_forecast(c, r.series, r.n, &o), TFT_OK);
    tft_context_free(c);
    // some awkward floats too
    q[0] = 1e-45f, q[1] = -3.4028235e38f, q[2] = 0.1f, q[3] = -0.0f;
    const char       *ids[64];
    for (int32_t i = 0; i < r.n; i++) ids[i] = r.ids[i];
    ids[1] = "we\"ird\\\n\x01id\xc3\xa9";
    tft_resp_forecast f = {.model_name = "group_softplus", .model_sha256 = mi->sha256, .n_quantiles = Q,
                           .quantile_levels = mi->quantiles, .horizon = T, .n_series = r.n, .ids = ids,
                           .encoder_lengths = enc, .n_targets = NT, .targets = mi->targets, .quantiles = q};
    size_t cap = 1 << 20;
    char  *out = malloc(cap);
    ssize_t len = tft_resp_write_forecast(out, cap, &f);
    assert_true(len > 0);
    assert_int_equal(strlen(out), (size_t)len);
    tft_json       *doc;
    char            err[200];
    tft_json_limits lim = tft_json_default_limits();
    if (tft_json_parse(out, (size_t)len, &lim, &doc, err, sizeof err) != 0) fail_msg("response: %s", err);
    assert_string_equal(tft_json_get(tft_json_get(doc, "model"), "name")->str, "group_softplus");
    assert_string_equal(tft_json_get(tft_json_get(doc, "model"), "sha256")->str, mi->sha256);
    int64_t h;
    assert_int_equal(tft_json_i64(tft_json_get(doc, "horizon"), &h), 0);
    assert_int_equal(h, T);
    const tft_json *lv = tft_json_get(doc, "quantiles");
    assert_int_equal(lv->len, (uint32_t)Q);
    for (int32_t k = 0; k < Q; k++) {
        float x = (float)tft_json_at(lv, (uint32_t)k)->num;
        assert_memory_equal(&x, &mi->quantiles[k], 4);
    }
    const tft_json *fc = tft_json_get(doc, "forecasts");
    assert_int_equal(fc->len, (uint32_t)r.n);
    size_t checked = 0;
    for (int32_t b = 0; b < r.n; b++) {
        const tft_json *s = tft_json_at(fc, (uint32_t)b);
        assert_string_equal(tft_json_get(s, "id")->str, ids[b]);
        int64_t el;
        assert_int_equal(tft_json_i64(tft_json_get(s, "encoder_length"), &el), 0);
        assert_int_equal(el, enc[b]);
        for (int32_t t = 0; t < NT; t++) {
            const tft_json *rows = tft_json_get(tft_json_get(s, "targets"), mi->targets[t]);
            assert_non_null(rows);
            assert_int_equal(rows->len, (uint32_t)T);
            for (int32_t k = 0; k < T; k++) {
                const tft_json *row = tft_json_at(rows, (uint32_t)k);
                assert_int_equal(row->len, (uint32_t)Q);
                for (int32_t j = 0; j < Q; j++) {
                    float x = (float)tft_json_at(row, (uint32_t)j)->num;
                    float want = q[(((size_t)b * NT + t) * T + k) * Q + j];
                    if (memcmp(&x, &want, 4) != 0) fail_msg("[%d,%d,%d,%d]: %.9g != %.9g", b, t, k, j, x, want);
                    checked++;
                }
            }
        }
    }
    assert_int_equal(checked, n);
    tft_json_free(doc);
    // every smaller buffer: "too small", never a write past cap
    for (size_t small = 0; small <= (size_t)len; small += small < 300 || small + 300 > (size_t)len ? 1 : 61) {
        char   *sb = malloc(small ? small : 1);
        ssize_t rl = tft_resp_write_forecast(sb, small, &f);
        if (small < (size_t)len) assert_int_equal(rl, TFT_RESP_E_SMALL);
        else assert_int_equal(rl, len);
        free(sb);
    }
    // non-finite values are an error, never a NaN token
    q[5] = NAN;
    assert_int_equal(tft_resp_write_forecast(out, cap, &f), TFT_RESP_E_NONFINITE);
    q[5] = -INFINITY;
    assert_int_equal(tft_resp_write_forecast(out, cap, &f), TFT_RESP_E_NONFINITE);
    free(out), free(q), free(body);
}

static void test_writer_error(void **state) {
    (void)state;
    char    out[512];
    ssize_t len = tft_resp_write_error(out, sizeof out, "unknown_key", "series 3 'a\"b\\c\n\t\x1f' has \xe2\x82", 3,
                                       "history.t\xc3\xa9mp");
    assert_true(len > 0);
    tft_json       *doc;
    char            err[200];
    tft_json_limits lim = tft_json_default_limits();
    if (tft_json_parse(out, (size_t)len, &lim, &doc, err, sizeof err) != 0) fail_msg("%s: %s", out, err);
    const tft_json *e = tft_json_get(doc, "error");
    assert_string_equal(tft_json_get(e, "code")->str, "unknown_key");
    // the cut UTF-8 sequence at the end becomes U+FFFD, one per byte
    assert_string_equal(tft_json_get(e, "message")->str, "series 3 'a\"b\\c\n\t\x1f' has \xef\xbf\xbd\xef\xbf\xbd");
    int64_t s;
    assert_int_equal(tft_json_i64(tft_json_get(e, "series"), &s), 0);
    assert_int_equal(s, 3);
    assert_string_equal(tft_json_get(e, "field")->str, "history.t\xc3\xa9mp");
    tft_json_free(doc);
    len = tft_resp_write_error(out, sizeof out, "malformed_json", "bad", -1, NULL);
    assert_string_equal(out, "{\"error\":{\"code\":\"malformed_json\",\"message\":\"bad\",\"series\":null,\"field\":null}}");
    assert_int_equal(len, (ssize_t)strlen(out));
    for (size_t cap = 0; cap < (size_t)len; cap++) assert_int_equal(tft_resp_write_error(out, cap, "malformed_json", "bad", -1, NULL), TFT_RESP_E_SMALL);
    // a decoder error, written and read back
    char         *body;
    tft_req_arena a;
    tft_req       r;
    tft_req_error de;
    char         *j = with(greq, "\"temp\":[", "\"t\\u00e9mp\":[");
    assert_int_equal(decode_lim(gm, j, strlen(j), NULL, &body, &a, &r, &de), -1);
    assert_string_equal(de.code, "not_a_model_input");
    assert_string_equal(de.field, "history.t\xc3\xa9mp");
    assert_int_equal(de.series, 0);
    len = tft_resp_write_error(out, sizeof out, de.code, de.message, de.series, de.field);
    assert_true(len > 0);
    if (tft_json_parse(out, (size_t)len, &lim, &doc, err, sizeof err) != 0) fail_msg("%s: %s", out, err);
    assert_string_equal(tft_json_get(tft_json_get(doc, "error"), "message")->str, de.message);
    tft_json_free(doc);
    free(body), free(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goldens_decode), cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_numbers_bitwise_strtod),       cmocka_unit_test(test_numbers_bitwise_strtod_10m),
        cmocka_unit_test(test_bad_requests),        cmocka_unit_test(test_lexical_errors_as_loader),        cmocka_unit_test(test_jsmn_leniency),
        cmocka_unit_test(test_limits), cmocka_unit_test(test_deep_nesting_linear), cmocka_unit_test(test_other_shapes_linear), cmocka_unit_test(test_parse_memory_bound),              cmocka_unit_test(test_arena_too_small),
        cmocka_unit_test(test_no_heap_in_decoder),  cmocka_unit_test(test_writer_round_trip),
        cmocka_unit_test(test_writer_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
