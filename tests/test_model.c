// test_model.c: the model binding's validation (RELIABILITY.md §2.4 cases 47-50 and C-1..C-12),
// on real exported models rebuilt with one change each. Every case must fail with its status and a
// message naming the problem; none may crash or leak (this runs under ASan/LSan in CI).
// (C-11, path traversal: the format has no path-like field, nothing to test. C-12: the file's
// sha256 is computed at load and reported as the model version, there is no second copy to mismatch.)
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
#include "../engine/tft.h"
#include "../loader/loader.h"

#define MINIMAL "weights/goldens/identity_minimal/model.safetensors"
#define RICH "weights/goldens/group_softplus/model.safetensors"
#define ENCODER_NORM "weights/goldens/lags/model.safetensors" // an EncoderNormalizer scaler on a covariate

// ---- a tiny safetensors writer ---------------------------------------------------------------
typedef struct buf {
    char  *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p   = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

static void put_json_string(buf *b, const char *s) {
    puts_(b, "\"");
    for (; *s; s++) {
        char e[8];
        if (*s == '"' || *s == '\\') snprintf(e, sizeof e, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) snprintf(e, sizeof e, "\\u%04x", *s);
        else e[0] = *s, e[1] = 0;
        puts_(b, e);
    }
    puts_(b, "\"");
}

typedef struct edit {
    const char *drop;        // tensor to leave out
    const char *tensor;      // tensor to change (dtype/shape/data below)
    const char *dtype;       //   new dtype name, or NULL
    int         rank;        //   new shape when > 0
    int64_t     shape[4];
    int         nan_at;      //   >= 0: write a NaN at this element
    const char *extra;       // add an extra 4-byte F32 tensor with this name
    const char *config;      // replace the config text
    const char *format, *version;
} edit;

// Rebuilds the file at path with the edit applied; returns malloc'd bytes.
static uint8_t *rebuild(const char *path, const edit *e, size_t *len) {
    tft_ld_file *f;
    tft_ld_error err;
    assert_int_equal(tft_ld_open(path, &f, &err), TFT_OK);
    buf hdr = {0}, data = {0};
    puts_(&hdr, "{\"__metadata__\":{\"format\":");
    put_json_string(&hdr, e->format ? e->format : tft_ld_metadata(f, "format"));
    puts_(&hdr, ",\"format_version\":");
    put_json_string(&hdr, e->version ? e->version : tft_ld_metadata(f, "format_version"));
    puts_(&hdr, ",\"config\":");
    put_json_string(&hdr, e->config ? e->config : tft_ld_metadata(f, "config"));
    puts_(&hdr, "}");
    for (int32_t i = 0; i < tft_ld_count(f); i++) {
        const tft_ld_tensor *t = tft_ld_tensor_at(f, i);
        if (e->drop && strcmp(t->name, e->drop) == 0) continue;
        const char *dtype = tft_ld_dtype_name(t->dtype);
        int         rank  = t->rank;
        int64_t     shape[8], nelem = 1;
        for (int k = 0; k < rank; k++) shape[k] = t->shape[k];
        size_t      nbytes = t->nbytes;
        uint8_t    *bytes  = malloc(nbytes + 64);
        memcpy(bytes, t->data, nbytes);
        if (e->tensor && strcmp(t->name, e->tensor) == 0) {
            if (e->dtype) dtype = e->dtype;
            if (e->rank > 0) {
                rank = e->rank;
                for (int k = 0; k < rank; k++) shape[k] = e->shape[k];
            }
            for (int k = 0; k < rank; k++) nelem *= shape[k];
            nbytes = (size_t)nelem * (strcmp(dtype, "F16") == 0 ? 2 : 4);
            bytes  = realloc(bytes, nbytes + 64);
            if (e->nan_at >= 0) {
                float nan = __builtin_nanf("");
                memcpy(bytes + 4 * e->nan_at, &nan, 4);
            }
        }
        char entry[512];
        int  o = snprintf(entry, sizeof entry, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t->name, dtype);
        for (int k = 0; k < rank; k++) o += snprintf(entry + o, sizeof entry - o, "%s%lld", k ? "," : "", (long long)shape[k]);
        snprintf(entry + o, sizeof entry - o, "],\"data_offsets\":[%zu,%zu]}", data.n, data.n + nbytes);
        puts_(&hdr, entry);
        put(&data, bytes, nbytes);
        free(bytes);
    }
    if (e->extra) {
        char entry[512];
        snprintf(entry, sizeof entry, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%zu,%zu]}", e->extra,
                 data.n, data.n + 4);
        puts_(&hdr, entry);
        float one = 1.0f;
        put(&data, &one, 4);
    }
    puts_(&hdr, "}");
    while (hdr.n % 8) puts_(&hdr, " ");
    *len        = 8 + hdr.n + data.n;
    uint8_t *out = malloc(*len);
    uint64_t n   = hdr.n;
    for (int k = 0; k < 8; k++) out[k] = (uint8_t)(n >> (8 * k));
    memcpy(out + 8, hdr.p, hdr.n);
    if (data.n) memcpy(out + 8 + hdr.n, data.p, data.n);
    free(hdr.p), free(data.p);
    tft_ld_close(f);
    return out;
}

// The model's config text with the first occurrence of `from` replaced by `to`.
static char *config_with(const char *path, const char *from, const char *to) {
    tft_ld_file *f;
    tft_ld_error err;
    assert_int_equal(tft_ld_open(path, &f, &err), TFT_OK);
    const char *cfg = tft_ld_metadata(f, "config");
    const char *at  = strstr(cfg, from);
    if (!at) fail_msg("config of %s has no '%s'", path, from);
    size_t pre = (size_t)(at - cfg);
    char  *out = malloc(strlen(cfg) + strlen(to) + 1);
    memcpy(out, cfg, pre);
    strcpy(out + pre, to);
    strcat(out, at + strlen(from));
    tft_ld_close(f);
    return out;
}

static void expect(const char *path, const edit *e, tft_status want, const char *msg) {
    size_t     len;
    uint8_t   *bytes = rebuild(path, e, &len);
    tft_model *m     = (tft_model *)1;
    tft_status st    = tft_model_load_memory(bytes, len, NULL, &m);
    free(bytes);
    if (st != want) {
        tft_model_free(st == TFT_OK ? m : NULL);
        fail_msg("expected %s ('%s'), got %s: %s", tft_status_str(want), msg, tft_status_str(st), tft_last_error());
    }
    assert_null(m);
    if (!strstr(tft_last_error(), msg)) fail_msg("message '%s' does not mention '%s'", tft_last_error(), msg);
}

static void expect_config(const char *path, const char *from, const char *to, tft_status want, const char *msg) {
    char *cfg = config_with(path, from, to);
    edit  e   = {.config = cfg, .nan_at = -1};
    expect(path, &e, want, msg);
    free(cfg);
}

// The config text `cfg` with the first `from` replaced by `to`: loads with status want (and a message
// naming msg when it fails).
static void expect_config_text(const char *path, const char *cfg, const char *from, const char *to, tft_status want,
                               const char *msg) {
    const char *at = strstr(cfg, from);
    if (!at) fail_msg("config has no '%s'", from);
    char *edited = malloc(strlen(cfg) + strlen(to) + 1);
    memcpy(edited, cfg, (size_t)(at - cfg));
    strcpy(edited + (at - cfg), to);
    strcat(edited, at + strlen(from));
    edit       e = {.config = edited, .nan_at = -1};
    size_t     len;
    uint8_t   *bytes = rebuild(path, &e, &len);
    tft_model *m     = NULL;
    tft_status st    = tft_model_load_memory(bytes, len, NULL, &m);
    free(bytes), free(edited);
    if (st != want) fail_msg("expected %s, got %s: %s", tft_status_str(want), tft_status_str(st), tft_last_error());
    if (st != TFT_OK && !strstr(tft_last_error(), msg))
        fail_msg("message '%s' does not mention '%s'", tft_last_error(), msg);
    tft_model_free(m);
}

// The model's config with the first `from` replaced by `to` loads.
static void expect_loads(const char *path, const char *from, const char *to) {
    char *cfg = config_with(path, "", "");
    expect_config_text(path, cfg, from, to, TFT_OK, NULL);
    free(cfg);
}

// ---- cases -----------------------------------------------------------------------------------------
static void test_rebuilt_file_loads(void **state) {
    (void)state;
    edit       e = {.nan_at = -1};
    size_t     len;
    uint8_t   *bytes = rebuild(MINIMAL, &e, &len);
    tft_model *m     = NULL;
    assert_int_equal(tft_model_load_memory(bytes, len, NULL, &m), TFT_OK);
    free(bytes); // the model keeps its own copy
    assert_int_equal(tft_model_get_info(m)->hidden_size, 8);
    tft_model_free(m);
}

static void test_tensors(void **state) {
    (void)state;
    edit e1 = {.drop = "multihead_attn.w_h.weight", .nan_at = -1}; // 47
    expect(MINIMAL, &e1, TFT_ERR_FORMAT, "tensor 'multihead_attn.w_h.weight' is missing");
    edit e2 = {.tensor = "output_layer.bias", .rank = 1, .shape = {6}, .nan_at = -1}; // 48
    expect(MINIMAL, &e2, TFT_ERR_FORMAT, "'output_layer.bias' has shape (6)");
    edit e3 = {.tensor = "output_layer.bias", .dtype = "F16", .nan_at = -1}; // 49
    expect(MINIMAL, &e3, TFT_ERR_FORMAT, "'output_layer.bias' has dtype F16");
    edit e4 = {.tensor = "output_layer.weight", .nan_at = 5}; // 50
    expect(MINIMAL, &e4, TFT_ERR_FORMAT, "'output_layer.weight' holds a non-finite value at element 5");
    edit e5 = {.extra = "some_other_layer.weight", .nan_at = -1};
    expect(MINIMAL, &e5, TFT_ERR_FORMAT, "'some_other_layer.weight' is not part of the model");
}

static void test_format_and_version(void **state) {
    (void)state;
    edit e1 = {.version = "2", .nan_at = -1}; // C-7
    expect(MINIMAL, &e1, TFT_ERR_FORMAT, "format version 2 is not supported");
    edit e2 = {.format = "gguf", .nan_at = -1};
    expect(MINIMAL, &e2, TFT_ERR_FORMAT, "not a tft weights file");
    edit e3 = {.config = "{\"model\": [1, 2", .nan_at = -1}; // C-2
    expect(MINIMAL, &e3, TFT_ERR_FORMAT, "not valid JSON");
    edit e4 = {.config = "{\"model\":{}}", .nan_at = -1};
    expect(MINIMAL, &e4, TFT_ERR_FORMAT, "dataset is missing");
}

static void test_hyperparameters(void **state) {
    (void)state;
    expect_config(MINIMAL, "\"hidden_size\":8", "\"hidden_size\":\"8\"", TFT_ERR_FORMAT, "hidden_size must be an integer"); // C-3
    expect_config(MINIMAL, "\"hidden_size\":8", "\"hidden_size\":0", TFT_ERR_FORMAT, "hidden_size = 0 is outside");      // C-4
    expect_config(MINIMAL, "\"lstm_layers\":1", "\"lstm_layers\":9", TFT_ERR_FORMAT, "lstm_layers = 9 is outside");
    expect_config(MINIMAL, "\"hidden_size\":8", "\"hidden_size\":8.5", TFT_ERR_FORMAT, "hidden_size must be an integer");
    expect_config(MINIMAL, "\"attention_head_size\":2", "\"attention_head_size\":9", TFT_ERR_FORMAT, // C-5
                  "attention_head_size exceeds hidden_size");
    // 3 heads do not divide 8: legal in the library (d = 8 // 3 = 2), so the config is fine, but the
    // tensors then have the wrong shapes, which the binding names
    expect_config(MINIMAL, "\"attention_head_size\":2", "\"attention_head_size\":3", TFT_ERR_FORMAT,
                  "multihead_attn.q_layers.0.weight' has shape (4,8), the config implies (2,8)");
    expect_config(MINIMAL, "\"hidden_size\":8", "\"hidden_size\":1e400", TFT_ERR_FORMAT, "not valid JSON"); // C-10
    expect_config(MINIMAL, "\"causal_attention\":true", "\"causal_attention\":1", TFT_ERR_FORMAT,
                  "causal_attention must be true or false");
}

static void test_quantiles_and_outputs(void **state) {
    (void)state;
    expect_config(MINIMAL, "[0.02,0.1,0.25,0.5,", "[0.02,0.1,0.25,0.25,", TFT_ERR_FORMAT, "quantiles lists 0.25 twice"); // C-6
    expect_config(MINIMAL, "[0.02,0.1,", "[1.5,0.1,", TFT_ERR_FORMAT, "must be numbers in (0, 1)");
    expect_config(MINIMAL, "\"output_size\":[7]", "\"output_size\":[6]", TFT_ERR_UNSUPPORTED, "every target must output");
}

static void test_preprocessing_tables(void **state) {
    (void)state;
    // C-8: a label twice in a category map
    expect_config(RICH, "\"classes\":[\"east\"", "\"classes\":[\"north\"", TFT_ERR_FORMAT, "lists label 'north' twice");
    // C-9: a scaler with scale 0, a group table row with a negative scale
    tft_ld_file *f;
    tft_ld_error err;
    assert_int_equal(tft_ld_open(RICH, &f, &err), TFT_OK);
    const char *c = tft_ld_metadata(f, "config"), *at = strstr(c, "\"scale\":");
    assert_non_null(at);
    char from[64];
    size_t k = 0;
    while (at[k] && at[k] != ',' && at[k] != '}' && k < sizeof from - 1) from[k] = at[k], k++;
    from[k] = 0;
    tft_ld_close(f);
    expect_config(RICH, from, "\"scale\":0.0", TFT_ERR_FORMAT, "must be finite and > 0");
    expect_config(RICH, from, "\"scale\":-2.5", TFT_ERR_FORMAT, "must be finite and > 0");
    expect_config(RICH, "\"transformation\":\"softplus\"", "\"transformation\":\"custom_fn\"", TFT_ERR_UNSUPPORTED,
                  "transformation is not supported");
    expect_config(RICH, "\"lags\":{}", "\"lags\":{\"y\":[1]}", TFT_ERR_FORMAT,
                  "'y_lagged_by_1', which is not an input of the model");
    expect_config(RICH, "\"lags\":{}", "\"lags\":{\"y\":[0]}", TFT_ERR_FORMAT, "not a positive integer");
    // EncoderNormalizer: method="robust" (its quantiles from method_kwargs) and max_length=[center rows,
    // scale rows] load (weights/goldens/encoder_robust runs them); malformed forms are named
    const char *robust = "\"type\":\"encoder\",\"transformation\":null,\"method\":\"robust\"";
    const char *standard = "\"type\":\"encoder\",\"transformation\":null,\"method\":\"standard\"";
    expect_loads(ENCODER_NORM, standard, robust);
    expect_loads(ENCODER_NORM, "\"max_length\":null", "\"max_length\":[4,12]");
    expect_config(ENCODER_NORM, "\"max_length\":null", "\"max_length\":[4]", TFT_ERR_FORMAT,
                  "max_length has 1 integers, [center rows, scale rows] has 2");
    expect_config(ENCODER_NORM, "\"max_length\":null", "\"max_length\":[0,12]", TFT_ERR_FORMAT,
                  "max_length must be an integer or [center rows, scale rows], two integers in [1, 65536]");
    expect_config(ENCODER_NORM, "\"max_length\":null", "\"max_length\":[4,12,3]", TFT_ERR_FORMAT,
                  "two integers in [1,");
    char *cfg = config_with(ENCODER_NORM, standard, robust); // robust's quantiles: center, lower, upper in [0, 1]
    expect_config_text(ENCODER_NORM, cfg, "\"method_kwargs\":{}", "\"method_kwargs\":{\"upper\":0.9,\"lower\":0.1}",
                       TFT_OK, NULL);
    expect_config_text(ENCODER_NORM, cfg, "\"method_kwargs\":{}", "\"method_kwargs\":{\"upper\":1.5}", TFT_ERR_FORMAT,
                       "method_kwargs.upper must be a number in [0, 1]");
    expect_config_text(ENCODER_NORM, cfg, "\"method_kwargs\":{}", "\"method_kwargs\":{\"iqr\":0.5}",
                       TFT_ERR_UNSUPPORTED, "method_kwargs.iqr is not a robust quantile (center, lower, upper)");
    free(cfg);
}

// ---- caps on the config's sizes (weights/FORMAT.md "Limits") ------------------------------------
// A crafted config over one cap fails with TFT_ERR_FORMAT, detail TFT_E_CONFIG_LIMIT naming the key.
static void expect_cap(const char *path, const char *from, const char *to, const char *field, const char *msg) {
    expect_config(path, from, to, TFT_ERR_FORMAT, msg);
    const tft_error *e = tft_last_error_detail();
    if (e->code != TFT_E_CONFIG_LIMIT || strcmp(e->field, field) != 0)
        fail_msg("detail %s field '%s', want config_limit '%s' (%s)", tft_error_code_str(e->code), e->field, field,
                 e->message);
    assert_non_null(strstr(e->message, "Limits"));
}

// A JSON list of n distinct quantiles in (0, 1) (malloc'd).
static char *quantile_list(int n) {
    char *q = malloc((size_t)n * 24 + 8), *p = q;
    *p++    = '[';
    for (int i = 0; i < n; i++) p += sprintf(p, "%s%.9f", i ? "," : "", (i + 1.0) / (n + 1.0));
    strcpy(p, "]");
    return q;
}

// "key":[first..., "v<k>"...] with n names in all, first holding n_first of them (malloc'd)
static char *name_list(const char *key, const char *first, int n_first, int n) {
    char *q = malloc((size_t)n * 16 + 128), *p = q;
    p += sprintf(p, "\"%s\":[%s", key, first);
    for (int i = n_first; i < n; i++) p += sprintf(p, ",\"v%d\"", i);
    strcpy(p, "]");
    return q;
}

static void test_caps(void **state) {
    (void)state;
    expect_cap(MINIMAL, "\"hidden_size\":8", "\"hidden_size\":4097", "model.hidden_size", "hidden_size = 4097 is outside [1, 4096]");
    expect_cap(MINIMAL, "\"lstm_layers\":1", "\"lstm_layers\":9", "model.lstm_layers", "lstm_layers = 9");
    expect_cap(MINIMAL, "\"attention_head_size\":2", "\"attention_head_size\":257", "model.attention_head_size",
               "attention_head_size = 257");
    expect_cap(MINIMAL, "\"n_targets\":1", "\"n_targets\":65", "model.n_targets", "n_targets = 65");
    expect_cap(MINIMAL, "\"max_encoder_length\":10", "\"max_encoder_length\":65537", "dataset.max_encoder_length",
               "max_encoder_length = 65537 is outside [1, 65536]");
    expect_cap(MINIMAL, "\"max_encoder_length\":10", "\"max_encoder_length\":1048576", "dataset.max_encoder_length",
               "max_encoder_length = 1048576"); // the 11.7 GB one-series forecast
    expect_cap(MINIMAL, "\"max_prediction_length\":3", "\"max_prediction_length\":8193",
               "dataset.max_prediction_length", "max_prediction_length = 8193 is outside [1, 8192]");
    expect_cap(MINIMAL, "\"hidden_continuous_sizes\":{\"hour\":4", "\"hidden_continuous_sizes\":{\"hour\":4097",
               "model.hidden_continuous_sizes.hour", "hour = 4097");
    expect_cap(MINIMAL, "\"lags\":{}", "\"lags\":{\"y\":[65537]}", "dataset.lags.y", "the lag 65537, more than the cap of 65536");
    char *q = quantile_list(129);
    expect_cap(MINIMAL, "[0.02,0.1,0.25,0.5,0.75,0.9,0.98]", q, "model.quantiles", "lists 129 quantiles, more than the cap of 128");
    free(q);
    q = quantile_list(128); // at the cap: accepted by the cap, then refused for the output size (7 quantiles trained)
    expect_config(MINIMAL, "[0.02,0.1,0.25,0.5,0.75,0.9,0.98]", q, TFT_ERR_UNSUPPORTED, "every target must output the 128");
    free(q);
    char *names = name_list("x_reals", "\"hour\",\"y\"", 2, 4097);
    expect_cap(MINIMAL, "\"x_reals\":[\"hour\",\"y\"]", names, "model.x_reals", "lists 4097 names");
    free(names);
    names = name_list("groups", "\"series\"", 1, 65);
    expect_cap(RICH, "\"groups\":[\"series\"]", names, "dataset.target_normalizer.groups", "lists 65 columns");
    free(names);
    expect_cap(RICH, "\"series\":[13,7]", "\"series\":[16777217,7]", "model.embedding_sizes.series",
               "16777217 classes, more than the cap of 16777216");
    { // one variable group of 4097 members
        char *grp = malloc(4097 * 16 + 64), *p = grp;
        p += sprintf(p, "\"variable_groups\":{\"g\":[\"m0\"");
        for (int i = 1; i < 4097; i++) p += sprintf(p, ",\"m%d\"", i);
        strcpy(p, "]}");
        expect_cap(MINIMAL, "\"variable_groups\":{}", grp, "dataset.variable_groups", "lists 4097 members");
        free(grp);
    }
    {
        char *al = malloc(65537 * 24 + 64), *p = al;
        p += sprintf(p, "\"aliases\":{\"a0\":\"x\"");
        for (int i = 1; i < 65537; i++) p += sprintf(p, ",\"a%d\":\"x\"", i);
        strcpy(p, ","); // the model's own aliases follow
        expect_cap(MINIMAL, "\"aliases\":{", al, "aliases", "aliases, more than the cap of 65536");
        free(al);
    }
}

// 99,999 quantiles (a hostile file; the repeat check is quadratic) are refused fast, on the count.
static void test_many_quantiles_fast(void **state) {
    (void)state;
    char *q = quantile_list(99999), *cfg = config_with(MINIMAL, "[0.02,0.1,0.25,0.5,0.75,0.9,0.98]", q);
    edit  e = {.config = cfg, .nan_at = -1};
    size_t   len;
    uint8_t *bytes = rebuild(MINIMAL, &e, &len);
    struct timespec t0, t1;
    tft_model *m = NULL;
    // CPU time of this thread (the load runs here): independent of other load on the machine
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    tft_status st = tft_model_load_memory(bytes, len, NULL, &m);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6;
    print_message("  99,999 quantiles (a %zu-byte file): refused in %.1f ms of CPU\n", len, ms);
    assert_int_equal(st, TFT_ERR_FORMAT);
    assert_int_equal(tft_last_error_detail()->code, TFT_E_CONFIG_LIMIT);
    assert_non_null(strstr(tft_last_error(), "lists 99999 quantiles"));
    if (ms > 500 * TU_SLOWDOWN) fail_msg("refusing 99,999 quantiles took %.0f ms", ms); // was ~6 s (issue 10)
    free(bytes), free(cfg), free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rebuilt_file_loads), cmocka_unit_test(test_tensors),
        cmocka_unit_test(test_format_and_version), cmocka_unit_test(test_hyperparameters),
        cmocka_unit_test(test_quantiles_and_outputs), cmocka_unit_test(test_preprocessing_tables),
        cmocka_unit_test(test_caps),                  cmocka_unit_test(test_many_quantiles_fast),
    };
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
