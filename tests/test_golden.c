// test_golden.c: the whole model against fixtures made by pytorch-forecasting itself
// (weights/make_goldens.py: real trained checkpoints, CPU, TF32 off).
//
// Network level (the library's forward() inputs, saved verbatim):
//   normalized output            |Δ| <= 2e-5 * (1 + |y|)
//   attention, variable weights  |Δ| <= 1e-5
//   de-normalized prediction     |Δ| <= 1e-4 * |y| + 1e-6 * max|y|   (relative, floored at the fixture's scale)
// Series level (raw rows of the fixture's "request" through tft_forecast's own preprocessing):
//   quantiles vs model.predict(df, mode="quantiles")   same relative bound as above
//   attention and variable weights (tft.h's layout) vs the library's, valid rows   |Δ| <= 1e-5
// Every fixture directory under weights/goldens/ is a test case; the max errors are printed.
// Also the bundled default model on weights/sample_request.json vs weights/sample_expected.json.
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../engine/cli/request.h"
#include "../engine/tft.h"
#include "../loader/json.h"
#include "../loader/loader.h"
#include "testutil.h"

#define GOLDEN_DIR "weights/goldens"

typedef struct fixture {
    char          name[128];
    tft_model    *m;
    tft_ld_file  *f;
    int           B, Te, Td, NT, Q, NH, ns, ne, nd;
} fixture;

// Copies a fixture tensor into an aligned buffer after checking dtype and element count.
static void *tensor_copy(const tft_ld_file *f, const char *name, tft_ld_dtype dt, int64_t nelem) {
    const tft_ld_tensor *t = tft_ld_find(f, name);
    if (!t) fail_msg("fixture has no tensor '%s'", name);
    if (t->dtype != dt) fail_msg("fixture tensor '%s' has dtype %s", name, tft_ld_dtype_name(t->dtype));
    if (t->nelem != nelem) fail_msg("fixture tensor '%s' has %lld elements, expected %lld", name, (long long)t->nelem,
                                    (long long)nelem);
    void *p = calloc((size_t)(nelem ? nelem : 1), 4);
    memcpy(p, t->data, t->nbytes);
    return p;
}

static int64_t dim(const tft_ld_file *f, const char *name, int i) {
    const tft_ld_tensor *t = tft_ld_find(f, name);
    if (!t || i >= t->rank) fail_msg("fixture tensor '%s' missing or of low rank", name);
    return t->shape[i];
}

typedef struct cmp {
    double max_abs, max_rel_bound; // worst |Δ| and worst |Δ| / bound
    size_t worst;
} cmp;

// Compares n values; bound(i) = atol + rtol*|want| (+ floor). Returns the fraction of the bound used.
static cmp compare(const float *got, const float *want, size_t n, double atol, double rtol, double floor) {
    cmp c = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d == d)) d = INFINITY; // NaN
        double bound = atol + rtol * fabs((double)want[i]) + floor;
        if (d > c.max_abs) c.max_abs = d;
        if (d / bound > c.max_rel_bound) c.max_rel_bound = d / bound, c.worst = i;
    }
    return c;
}

static double max_abs_of(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

static void check(const char *fx, const char *what, const float *got, const float *want, size_t n, double atol,
                  double rtol, double floor) {
    cmp c = compare(got, want, n, atol, rtol, floor);
    printf("  %-24s %-22s max|d| = %.3g  (%.0f%% of the bound)\n", fx, what, c.max_abs, 100 * c.max_rel_bound);
    if (c.max_rel_bound > 1.0)
        fail_msg("%s: %s differs at [%zu]: got %.9g, want %.9g (|d| = %.3g, bound %.3g)", fx, what, c.worst,
                 got[c.worst], want[c.worst], fabs(got[c.worst] - want[c.worst]),
                 atol + rtol * fabs(want[c.worst]) + floor);
}


// TFT_GOLDEN_DUMP=DIR: writes every output of the network-level call, and of each series run alone
// on 3 threads (the one-series row split), to DIR/<fixture>.<isa>.net, so a refactor of the walk
// can prove CPU outputs bitwise unchanged (`cmp` the dumps made before and after). Not a check.
static void dump_floats(FILE *f, const float *x, size_t n) {
    if (x && n) fwrite(x, sizeof(float), n, f);
}
static void dump_net(const fixture *fx, const tft_net_input *in, const tft_net_output *out) {
    const char *dir = getenv("TFT_GOLDEN_DUMP");
    if (!dir) return;
    const char *isa = getenv("TFT_ISA");
    char        path[512];
    snprintf(path, sizeof path, "%s/%s.%s.net", dir, fx->name, isa ? isa : "default");
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    int B = in->n, Te = in->enc_steps, Td = in->dec_steps, NT = fx->NT, Q = fx->Q, NH = fx->NH;
    const tft_model_info *mi = tft_model_get_info(fx->m);
    dump_floats(f, out->prediction_normalized, (size_t)B * NT * Td * Q);
    dump_floats(f, out->prediction, (size_t)B * NT * Td * Q);
    dump_floats(f, out->encoder_attention, (size_t)B * Td * NH * Te);
    dump_floats(f, out->decoder_attention, (size_t)B * Td * NH * Td);
    dump_floats(f, out->static_weights, (size_t)B * fx->ns);
    dump_floats(f, out->encoder_weights, (size_t)B * Te * fx->ne);
    dump_floats(f, out->decoder_weights, (size_t)B * Td * fx->nd);
    // each series alone, 3 threads: the one-series row split
    tft_context_params cp = tft_context_default_params();
    cp.max_batch = 1, cp.n_threads = 3;
    tft_context *c = NULL;
    assert_int_equal(tft_context_new(fx->m, &cp, &c), TFT_OK);
    for (int b = 0; b < B; b++) {
        int te = in->encoder_lengths[b], td = in->decoder_lengths[b];
        tft_net_input one = {.n = 1, .enc_steps = te, .dec_steps = td};
        one.encoder_cat = in->encoder_cat + (size_t)b * Te * mi->n_cats;
        one.encoder_cont = in->encoder_cont + (size_t)b * Te * mi->n_reals;
        one.decoder_cat = in->decoder_cat + (size_t)b * Td * mi->n_cats;
        one.decoder_cont = in->decoder_cont + (size_t)b * Td * mi->n_reals;
        one.encoder_lengths = in->encoder_lengths + b;
        one.decoder_lengths = in->decoder_lengths + b;
        one.target_scale = in->target_scale + (size_t)b * NT * 2;
        size_t np = (size_t)NT * td * Q;
        float *buf = calloc(2 * np + (size_t)td * NH * (te + td) + (size_t)fx->ns + (size_t)(te + td) * 64 + 8, 4);
        tft_net_output o = {buf, buf + np, buf + 2 * np, buf + 2 * np + (size_t)td * NH * te,
                            buf + 2 * np + (size_t)td * NH * (te + td), NULL, NULL};
        o.encoder_weights = o.static_weights + fx->ns;
        o.decoder_weights = o.encoder_weights + (size_t)te * fx->ne;
        if (tft_predict_net(c, &one, &o) != TFT_OK) fail_msg("%s: series %d alone: %s", fx->name, b, tft_last_error());
        dump_floats(f, buf, 2 * np + (size_t)td * NH * (te + td) + fx->ns + (size_t)te * fx->ne + (size_t)td * fx->nd);
        free(buf);
    }
    tft_context_free(c);
    fclose(f);
}

static void network_level(void **state) {
    fixture          *fx = *state;
    const tft_model_info *mi = tft_model_get_info(fx->m);
    int B = fx->B, Te = fx->Te, Td = fx->Td, NT = fx->NT, Q = fx->Q, NH = fx->NH;
    tft_net_input in = {.n = B, .enc_steps = Te, .dec_steps = Td};
    in.encoder_cat     = tensor_copy(fx->f, "encoder_cat", TFT_LD_I32, (int64_t)B * Te * mi->n_cats);
    in.encoder_cont    = tensor_copy(fx->f, "encoder_cont", TFT_LD_F32, (int64_t)B * Te * mi->n_reals);
    in.decoder_cat     = tensor_copy(fx->f, "decoder_cat", TFT_LD_I32, (int64_t)B * Td * mi->n_cats);
    in.decoder_cont    = tensor_copy(fx->f, "decoder_cont", TFT_LD_F32, (int64_t)B * Td * mi->n_reals);
    in.encoder_lengths = tensor_copy(fx->f, "encoder_lengths", TFT_LD_I32, B);
    in.decoder_lengths = tensor_copy(fx->f, "decoder_lengths", TFT_LD_I32, B);
    in.target_scale    = tensor_copy(fx->f, "target_scale", TFT_LD_F32, (int64_t)B * NT * 2);
    size_t npred = (size_t)B * NT * Td * Q;
    float *want_norm = tensor_copy(fx->f, "prediction_normalized", TFT_LD_F32, (int64_t)npred);
    float *want_pred = tensor_copy(fx->f, "prediction", TFT_LD_F32, (int64_t)npred);
    float *want_ea   = tensor_copy(fx->f, "encoder_attention", TFT_LD_F32, (int64_t)B * Td * NH * Te);
    float *want_da   = tensor_copy(fx->f, "decoder_attention", TFT_LD_F32, (int64_t)B * Td * NH * Td);
    float *want_sw   = fx->ns ? tensor_copy(fx->f, "static_variables", TFT_LD_F32, (int64_t)B * fx->ns) : NULL;
    float *want_ew   = tensor_copy(fx->f, "encoder_variables", TFT_LD_F32, (int64_t)B * Te * fx->ne);
    float *want_dw   = tensor_copy(fx->f, "decoder_variables", TFT_LD_F32, (int64_t)B * Td * fx->nd);

    tft_net_output out = {0};
    out.prediction_normalized = calloc(npred, 4);
    out.prediction            = calloc(npred, 4);
    out.encoder_attention     = calloc((size_t)B * Td * NH * Te + 1, 4);
    out.decoder_attention     = calloc((size_t)B * Td * NH * Td, 4);
    out.static_weights        = calloc((size_t)B * fx->ns + 1, 4);
    out.encoder_weights       = calloc((size_t)B * Te * fx->ne + 1, 4);
    out.decoder_weights       = calloc((size_t)B * Td * fx->nd + 1, 4);

    tft_context_params cp = tft_context_default_params();
    cp.max_batch          = B;
    tft_context *c        = NULL;
    assert_int_equal(tft_context_new(fx->m, &cp, &c), TFT_OK);
    tft_status st = tft_predict_net(c, &in, &out);
    if (st != TFT_OK) fail_msg("%s: tft_predict_net: %s: %s", fx->name, tft_status_str(st), tft_last_error());

    dump_net(fx, &in, &out);
    check(fx->name, "prediction_normalized", out.prediction_normalized, want_norm, npred, 2e-5, 2e-5, 0);
    check(fx->name, "prediction", out.prediction, want_pred, npred, 0, 1e-4, 1e-6 * max_abs_of(want_pred, npred));
    check(fx->name, "encoder_attention", out.encoder_attention, want_ea, (size_t)B * Td * NH * Te, 1e-5, 0, 0);
    check(fx->name, "decoder_attention", out.decoder_attention, want_da, (size_t)B * Td * NH * Td, 1e-5, 0, 0);
    if (fx->ns) check(fx->name, "static_variables", out.static_weights, want_sw, (size_t)B * fx->ns, 1e-5, 0, 0);
    check(fx->name, "encoder_variables", out.encoder_weights, want_ew, (size_t)B * Te * fx->ne, 1e-5, 0, 0);
    check(fx->name, "decoder_variables", out.decoder_weights, want_dw, (size_t)B * Td * fx->nd, 1e-5, 0, 0);

    tft_context_free(c);
    // the same call split over 3 threads: bitwise the same outputs (every op is batch-invariant)
    cp.n_threads              = 3;
    tft_net_output out3       = {0};
    out3.prediction_normalized = calloc(npred, 4);
    out3.encoder_attention     = calloc((size_t)B * Td * NH * Te + 1, 4);
    out3.encoder_weights       = calloc((size_t)B * Te * fx->ne + 1, 4);
    assert_int_equal(tft_context_new(fx->m, &cp, &c), TFT_OK);
    assert_int_equal(tft_predict_net(c, &in, &out3), TFT_OK);
    assert_memory_equal(out3.prediction_normalized, out.prediction_normalized, npred * 4);
    assert_memory_equal(out3.encoder_attention, out.encoder_attention, (size_t)B * Td * NH * Te * 4);
    assert_memory_equal(out3.encoder_weights, out.encoder_weights, (size_t)B * Te * fx->ne * 4);
    free(out3.prediction_normalized), free(out3.encoder_attention), free(out3.encoder_weights);
    tft_context_free(c);
    free((void *)in.encoder_cat), free((void *)in.encoder_cont), free((void *)in.decoder_cat);
    free((void *)in.decoder_cont), free((void *)in.encoder_lengths), free((void *)in.decoder_lengths);
    free((void *)in.target_scale);
    free(want_norm), free(want_pred), free(want_ea), free(want_da), free(want_sw), free(want_ew), free(want_dw);
    free(out.prediction_normalized), free(out.prediction), free(out.encoder_attention), free(out.decoder_attention);
    free(out.static_weights), free(out.encoder_weights), free(out.decoder_weights);
}

static void series_level(void **state) {
    fixture    *fx  = *state;
    const char *req = tft_ld_metadata(fx->f, "request");
    if (!req) fail_msg("%s: fixture has no request metadata", fx->name);
    tft_request r;
    char        err[300];
    tft_status  st = tft_request_parse(fx->m, req, strlen(req), &r, err, sizeof err);
    if (st != TFT_OK) fail_msg("%s: request: %s", fx->name, err);
    assert_int_equal(r.n, fx->B);
    size_t npred = (size_t)fx->B * fx->NT * fx->Td * fx->Q;
    float *want  = tensor_copy(fx->f, "predict_quantiles", TFT_LD_F32, (int64_t)npred);
    float *got   = calloc(npred, 4);
    tft_context_params cp = tft_context_default_params();
    cp.max_batch          = fx->B;
    tft_context *c        = NULL;
    assert_int_equal(tft_context_new(fx->m, &cp, &c), TFT_OK);
    const tft_model_info *mi = tft_model_get_info(fx->m);
    int    B = fx->B, Te = fx->Te, Td = fx->Td, NH = fx->NH, Tm = mi->max_encoder_length;
    float *att = calloc((size_t)B * Td * NH * (Tm + Td), 4), *sw = calloc((size_t)B * fx->ns + 1, 4);
    float *ew = calloc((size_t)B * Tm * fx->ne + 1, 4), *dw = calloc((size_t)B * Td * fx->nd + 1, 4);
    int32_t *el = calloc((size_t)B, 4);
    tft_forecast_output out = {.quantiles = got, .encoder_lengths = el, .attention = att, .static_weights = sw,
                               .encoder_weights = ew, .decoder_weights = dw};
    st = tft_forecast(c, r.series, r.n, &out);
    if (st != TFT_OK) fail_msg("%s: tft_forecast: %s: %s", fx->name, tft_status_str(st), tft_last_error());
    check(fx->name, "series-level quantiles", got, want, npred, 0, 1e-4, 1e-6 * max_abs_of(want, npred));
    // the interpretation outputs of the series-level call (tft.h's fixed layout: Temax encoder key
    // slots, then the decoder keys) against the library's, on each series' valid rows
    int32_t *fel = tensor_copy(fx->f, "encoder_lengths", TFT_LD_I32, B);
    float   *fea = tensor_copy(fx->f, "encoder_attention", TFT_LD_F32, (int64_t)B * Td * NH * Te);
    float   *fda = tensor_copy(fx->f, "decoder_attention", TFT_LD_F32, (int64_t)B * Td * NH * Td);
    float   *fsw = fx->ns ? tensor_copy(fx->f, "static_variables", TFT_LD_F32, (int64_t)B * fx->ns) : NULL;
    float   *few = tensor_copy(fx->f, "encoder_variables", TFT_LD_F32, (int64_t)B * Te * fx->ne);
    float   *fdw = tensor_copy(fx->f, "decoder_variables", TFT_LD_F32, (int64_t)B * Td * fx->nd);
    double   worst = 0;
    for (int b = 0; b < B; b++) {
        assert_int_equal(el[b], fel[b]);
        for (int t = 0; t < Td; t++)
            for (int h = 0; h < NH; h++) {
                const float *g = att + (((size_t)b * Td + t) * NH + h) * (Tm + Td);
                for (int k = 0; k < Te; k++)
                    worst = fmax(worst, fabs(g[k] - fea[(((size_t)b * Td + t) * NH + h) * Te + k]));
                for (int k = 0; k < Td; k++)
                    worst = fmax(worst, fabs(g[Tm + k] - fda[(((size_t)b * Td + t) * NH + h) * Td + k]));
            }
        for (int t = 0; t < fel[b]; t++)
            for (int v = 0; v < fx->ne; v++)
                worst = fmax(worst, fabs(ew[((size_t)b * Tm + t) * fx->ne + v] - few[((size_t)b * Te + t) * fx->ne + v]));
        for (int v = 0; v < fx->ns; v++) worst = fmax(worst, fabs(sw[(size_t)b * fx->ns + v] - fsw[(size_t)b * fx->ns + v]));
        for (size_t i = 0; i < (size_t)Td * fx->nd; i++)
            worst = fmax(worst, fabs(dw[(size_t)b * Td * fx->nd + i] - fdw[(size_t)b * Td * fx->nd + i]));
    }
    printf("  %-24s %-22s max|d| = %.3g  (%.0f%% of the bound)\n", fx->name, "series-level interpret", worst,
           100 * worst / 1e-5);
    if (worst > 1e-5) fail_msg("%s: series-level interpretation outputs differ by %.3g (bound 1e-5)", fx->name, worst);
    free(att), free(sw), free(ew), free(dw), free(el), free(fel), free(fea), free(fda), free(fsw), free(few), free(fdw);
    tft_context_free(c);
    tft_request_free(&r);
    free(want), free(got);
}

// The bundled default model on its sample request (what `make run` prints) against the library's
// own model.predict(mode="quantiles") on the same rows (weights/sample_expected.json).
static void default_model(void **state) {
    (void)state;
    tft_model *m = NULL;
    if (tft_model_load("weights/default.safetensors", NULL, &m) != TFT_OK) fail_msg("%s", tft_last_error());
    char   err[300];
    size_t len, elen;
    char  *text = tft_read_file("weights/sample_request.json", &len, err, sizeof err);
    char  *etext = tft_read_file("weights/sample_expected.json", &elen, err, sizeof err);
    if (!text || !etext) fail_msg("%s", err);
    tft_request r;
    if (tft_request_parse(m, text, len, &r, err, sizeof err) != TFT_OK) fail_msg("%s", err);
    const tft_model_info *mi = tft_model_get_info(m);
    int    Td = mi->max_prediction_length, NT = mi->n_targets, Q = mi->n_quantiles;
    size_t per = (size_t)NT * Td * Q, n = (size_t)r.n * per;
    float *got = calloc(n, 4), *want = calloc(n, 4);
    tft_json *e;
    tft_json_limits lim = tft_json_default_limits();
    if (tft_json_parse(etext, elen, &lim, &e, err, sizeof err) != 0) fail_msg("sample_expected.json: %s", err);
    for (int s = 0; s < r.n; s++)
        for (int t = 0; t < NT; t++) {
            const tft_json *rows = tft_json_get(tft_json_get(tft_json_get(e, "targets"), mi->targets[t]), r.ids[s]);
            if (!rows || (int)rows->len != Td) fail_msg("sample_expected.json has no %s/%s", mi->targets[t], r.ids[s]);
            int k = 0;
            for (const tft_json *row = rows->child; row; row = row->next, k++) {
                int q = 0;
                for (const tft_json *v = row->child; v && q < Q; v = v->next, q++)
                    want[s * per + ((size_t)t * Td + k) * Q + q] = (float)v->num;
            }
        }
    tft_context_params cp = tft_context_default_params();
    cp.max_batch          = r.n;
    tft_context *c        = NULL;
    assert_int_equal(tft_context_new(m, &cp, &c), TFT_OK);
    tft_forecast_output out = {.quantiles = got};
    if (tft_forecast(c, r.series, r.n, &out) != TFT_OK) fail_msg("%s", tft_last_error());
    check("default", "sample vs predict()", got, want, n, 0, 1e-4, 1e-6 * max_abs_of(want, n));
    tft_context_free(c);
    tft_json_free(e);
    tft_request_free(&r);
    free(text), free(etext), free(got), free(want);
    tft_model_free(m);
}

static int open_fixture(fixture *fx, const char *name) {
    char path[512];
    snprintf(fx->name, sizeof fx->name, "%s", name);
    snprintf(path, sizeof path, GOLDEN_DIR "/%s/model.safetensors", name);
    if (tft_model_load(path, NULL, &fx->m) != TFT_OK) {
        fprintf(stderr, "%s: %s\n", path, tft_last_error());
        return -1;
    }
    snprintf(path, sizeof path, GOLDEN_DIR "/%s/fixture.safetensors", name);
    tft_ld_error e;
    if (tft_ld_open(path, &fx->f, &e) != TFT_OK) {
        fprintf(stderr, "%s: %s\n", path, e.msg);
        return -1;
    }
    const tft_model_info *mi = tft_model_get_info(fx->m);
    fx->B = (int)dim(fx->f, "encoder_cont", 0), fx->Te = (int)dim(fx->f, "encoder_cont", 1);
    fx->Td = (int)dim(fx->f, "decoder_cont", 1);
    fx->NT = mi->n_targets, fx->Q = mi->n_quantiles, fx->NH = mi->n_heads;
    fx->ns = mi->n_static_vars, fx->ne = mi->n_encoder_vars, fx->nd = mi->n_decoder_vars;
    return 0;
}

static struct CMUnitTest *golden_tests;
static int                golden_nt;

static int golden_group(const char *isa) {
    char name[48];
    snprintf(name, sizeof name, "golden[%s]", isa);
    return _cmocka_run_group_tests(name, golden_tests, (size_t)golden_nt, NULL, NULL);
}

int main(void) {
    DIR *d = opendir(GOLDEN_DIR);
    if (!d) {
        fprintf(stderr, "test_golden: cannot open %s (run from the repository root)\n", GOLDEN_DIR);
        return 1;
    }
    fixture      *fxs   = calloc(64, sizeof *fxs);
    struct CMUnitTest *tests = calloc(128, sizeof *tests);
    int           n     = 0, nt = 0, bad = 0;
    struct dirent *e;
    char names[64][128];
    while ((e = readdir(d)) && n < 64)
        if (e->d_name[0] != '.') snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    for (int i = 0; i < n; i++) {
        if (open_fixture(&fxs[i], names[i]) != 0) {
            bad++;
            continue;
        }
#if defined(TFT_SIMT) && defined(__SANITIZE_THREAD__)
        // TSan checks the kernels' barriers, which test_cuda_simt covers op by op; the whole forward
        // on every fixture is the plain build's job (TSan is ~10x slower here): two fixtures (one
        // with two LSTM layers)
        if (strcmp(names[i], "identity_minimal") != 0 && strcmp(names[i], "log_lstm2_groups") != 0) {
            printf("[  SKIPPED ] %s on the CUDA backend: ThreadSanitizer build runs two fixtures\n", names[i]);
            continue;
        }
#elif defined(TFT_SIMT) && defined(__SANITIZE_ADDRESS__)
        // ASan: every fixture but the long one (electricity: 168 encoder steps x 2 LSTM parts of fiber
        // barriers, minutes under ASan; its shapes are the plain build's and test_backend_simt's job)
        if (strcmp(names[i], "electricity") == 0) {
            printf("[  SKIPPED ] %s on the CUDA backend: the ASan build skips the longest fixture\n", names[i]);
            continue;
        }
#endif
        static char tnames[128][160];
        snprintf(tnames[nt], sizeof tnames[0], "%s/network", names[i]);
        tests[nt] = (struct CMUnitTest){tnames[nt], network_level, NULL, NULL, &fxs[i]};
        nt++;
        snprintf(tnames[nt], sizeof tnames[0], "%s/series", names[i]);
        tests[nt] = (struct CMUnitTest){tnames[nt], series_level, NULL, NULL, &fxs[i]};
        nt++;
    }
    if (n == 0) {
        fprintf(stderr, "test_golden: no fixtures in %s\n", GOLDEN_DIR);
        return 1;
    }
    tests[nt++] = (struct CMUnitTest){"default/sample_request", default_model, NULL, NULL, NULL};
    golden_tests = tests, golden_nt = nt;
#ifdef TFT_SIMT
    // built against the SIMT harness (test_golden_simt): every golden on the CUDA backend, the
    // kernels' own source running on the CPU; the "3-thread" check then compares a replay of the
    // captured CUDA graph with its first run (a CUDA context runs on one thread)
    setenv("TFT_DEVICE", "cuda", 1);
    int failed = golden_group("cuda (SIMT harness)");
#else
    // every golden (and the 3-thread bitwise check) on every CPU path this machine has
    int failed = tu_for_each_isa("golden", golden_group);
#endif
    for (int i = 0; i < n; i++) {
        tft_model_free(fxs[i].m);
        tft_ld_close(fxs[i].f);
    }
    free(fxs), free(tests);
    if (bad) fprintf(stderr, "test_golden: %d fixture(s) failed to load\n", bad);
    return failed || bad;
}
