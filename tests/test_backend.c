// test_backend.c: the CUDA backend against the CPU one (engine/backend.h). Built twice:
//   test_backend       the library as built: the real GPU in a CUDA=1 build on a machine with one;
//                      else the device-selection checks only, the rest skipped with the reason;
//   test_backend_simt  the CUDA backend and kernels' own source on the SIMT harness (tests/simt), in
//                      every build, so CI runs it without a GPU.
// Checks: TFT_DEVICE / tft_context_params.device selection and its errors; the CUDA forward vs the
// CPU forward on random batches with mixed lengths (histories of 0 steps included) built from every
// golden fixture's rows, at the golden tolerances (the CUDA backend sums in another order: equal to
// float32 rounding, not bitwise); a replay of a captured graph bitwise equal to its first run; more
// shapes than the context's graph cache holds; no host allocation in a replayed forecast.
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../engine/tft.h"
#include "../loader/loader.h"
#include "testutil.h"

#define GOLDEN_DIR "weights/goldens"
uint64_t tft_debug_alloc_count(void); // engine/tft.c (internal)

static int cuda_usable; // a CUDA context can be made here (a device, or the SIMT harness)
static char cuda_why[512];

static tft_context *ctx_on(const tft_model *m, int device, int max_batch) {
    tft_context_params cp = tft_context_default_params();
    cp.max_batch = max_batch, cp.device = device;
    tft_context *c = NULL;
    if (tft_context_new(m, &cp, &c) != TFT_OK) fail_msg("tft_context_new(%s): %s", device ? "cuda" : "cpu", tft_last_error());
    return c;
}

static void test_device_selection(void **state) {
    (void)state;
    tft_model *m = NULL;
    assert_int_equal(tft_model_load("weights/default.safetensors", NULL, &m), TFT_OK);
    tft_context_params cp = tft_context_default_params();
    tft_context       *c  = NULL;
    setenv("TFT_DEVICE", "tpu", 1);
    assert_int_equal(tft_context_new(m, &cp, &c), TFT_ERR_INVALID_ARG);
    assert_non_null(strstr(tft_last_error(), "TFT_DEVICE=tpu: expected cpu or cuda"));
    assert_string_equal(tft_last_error_detail()->field, "device");
    unsetenv("TFT_DEVICE");
    cp.device = 7;
    assert_int_equal(tft_context_new(m, &cp, &c), TFT_ERR_INVALID_ARG);
    cp.device = TFT_DEVICE_CPU;
    assert_int_equal(tft_context_new(m, &cp, &c), TFT_OK);
    assert_string_equal(tft_context_device(c), "cpu");
    tft_context_free(c);
    // TFT_DEVICE=cpu overrides a CUDA request (tools switch without change)
    setenv("TFT_DEVICE", "cpu", 1);
    cp.device = TFT_DEVICE_CUDA;
    assert_int_equal(tft_context_new(m, &cp, &c), TFT_OK);
    assert_string_equal(tft_context_device(c), "cpu");
    tft_context_free(c);
    unsetenv("TFT_DEVICE");
    // CUDA: a context, or a clear error saying why not (a build without CUDA, no device)
    cp.n_threads = 4;
    tft_status st = tft_context_new(m, &cp, &c);
    if (st == TFT_OK) {
        assert_string_equal(tft_context_device(c), "cuda");
        size_t bytes = 0;
        assert_int_equal(tft_context_memory(m, &cp, &bytes), TFT_OK);
        assert_true(tft_context_bytes(c) == bytes); // what it said before, it took (host + device)
        tft_context_free(c);
        cuda_usable = 1;
    } else {
        assert_true(st == TFT_ERR_UNSUPPORTED || st == TFT_ERR_BACKEND);
        assert_true(strstr(tft_last_error(), "CUDA") != NULL);
        snprintf(cuda_why, sizeof cuda_why, "%s", tft_last_error());
    }
    tft_model_free(m);
}

// A random batch of B series built from a fixture's rows: series b takes fixture series b % B0's
// first enc_len rows (a random length, 0 sometimes) and dec_len decoder rows.
typedef struct batch {
    tft_net_input in;
    int32_t      *ecat, *dcat, *el, *dl;
    float        *econt, *dcont, *ts;
} batch;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static int      rnd(int n) { // [0, n)
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return n > 0 ? (int)(rng % (uint64_t)n) : 0;
}

// A fixture tensor copied into aligned memory (the mapping's data need not be aligned).
static void *tensor(const tft_ld_file *f, const char *name) {
    const tft_ld_tensor *t = tft_ld_find(f, name);
    if (!t) fail_msg("fixture has no %s", name);
    void *p = malloc(t->nbytes + 4);
    memcpy(p, t->data, t->nbytes);
    return p;
}

// (histories are capped at MAX_HISTORY steps: the harness runs every CUDA thread as a fiber, and the
// sanitizer builds run it ten times slower; mixed lengths are what matters here, not long ones)
#define MAX_HISTORY 40

static void make_batch(batch *bt, const tft_model *m, const tft_ld_file *f, int B, int allow_empty) {
    const tft_model_info *mi = tft_model_get_info(m);
    const tft_ld_tensor  *t  = tft_ld_find(f, "encoder_cont");
    const int B0 = (int)t->shape[0], Te0 = (int)t->shape[1], Td0 = (int)tft_ld_find(f, "decoder_cont")->shape[1];
    const int Nr = mi->n_reals, Nc = mi->n_cats, NT = mi->n_targets;
    int32_t *fel = tensor(f, "encoder_lengths"), *fecat = tensor(f, "encoder_cat"), *fdcat = tensor(f, "decoder_cat");
    float   *fecont = tensor(f, "encoder_cont"), *fdcont = tensor(f, "decoder_cont"), *fts = tensor(f, "target_scale");
    memset(bt, 0, sizeof *bt);
    bt->el = calloc((size_t)B, 4), bt->dl = calloc((size_t)B, 4);
    int Te = 0, Td = 0;
    for (int b = 0; b < B; b++) {
        int s = b % B0, full = fel[s] < MAX_HISTORY ? fel[s] : MAX_HISTORY;
        bt->el[b] = allow_empty && rnd(4) == 0 ? 0 : 1 + rnd(full);
        if (bt->el[b] > full) bt->el[b] = full;
        bt->dl[b] = 1 + rnd(Td0);
        Te = bt->el[b] > Te ? bt->el[b] : Te;
        Td = bt->dl[b] > Td ? bt->dl[b] : Td;
    }
    bt->ecat = calloc((size_t)B * Te * Nc + 1, 4), bt->econt = calloc((size_t)B * Te * Nr + 1, 4);
    bt->dcat = calloc((size_t)B * Td * Nc + 1, 4), bt->dcont = calloc((size_t)B * Td * Nr + 1, 4);
    bt->ts   = calloc((size_t)B * NT * 2, 4);
    for (int b = 0; b < B; b++) {
        int s = b % B0;
        for (int i = 0; i < Te; i++) { // the series' last el rows of history, then padding
            int src = i < bt->el[b] ? fel[s] - bt->el[b] + i : 0;
            memcpy(bt->ecat + ((size_t)b * Te + i) * Nc, fecat + ((size_t)s * Te0 + src) * Nc, 4 * (size_t)Nc);
            memcpy(bt->econt + ((size_t)b * Te + i) * Nr, fecont + ((size_t)s * Te0 + src) * Nr, 4 * (size_t)Nr);
        }
        for (int i = 0; i < Td; i++) {
            memcpy(bt->dcat + ((size_t)b * Td + i) * Nc, fdcat + ((size_t)s * Td0 + i) * Nc, 4 * (size_t)Nc);
            memcpy(bt->dcont + ((size_t)b * Td + i) * Nr, fdcont + ((size_t)s * Td0 + i) * Nr, 4 * (size_t)Nr);
        }
        memcpy(bt->ts + (size_t)b * NT * 2, fts + (size_t)s * NT * 2, 4 * (size_t)NT * 2);
    }
    free(fel), free(fecat), free(fdcat), free(fecont), free(fdcont), free(fts);
    bt->in = (tft_net_input){.n = B, .enc_steps = Te, .dec_steps = Td, .encoder_cat = bt->ecat,
                             .encoder_cont = bt->econt, .decoder_cat = bt->dcat, .decoder_cont = bt->dcont,
                             .encoder_lengths = bt->el, .decoder_lengths = bt->dl, .target_scale = bt->ts};
}

static void free_batch(batch *bt) {
    free(bt->ecat), free(bt->dcat), free(bt->el), free(bt->dl), free(bt->econt), free(bt->dcont), free(bt->ts);
}

typedef struct outs {
    tft_net_output o;
    size_t         n[7];
} outs;

static void alloc_outs(outs *r, const tft_model *m, const tft_net_input *in) {
    const tft_model_info *mi = tft_model_get_info(m);
    size_t B = (size_t)in->n, Te = (size_t)in->enc_steps, Td = (size_t)in->dec_steps, NH = (size_t)mi->n_heads;
    size_t n[7] = {B * mi->n_targets * Td * mi->n_quantiles, B * mi->n_targets * Td * mi->n_quantiles,
                   B * Td * NH * Te, B * Td * NH * Td, B * mi->n_static_vars, B * Te * mi->n_encoder_vars,
                   B * Td * mi->n_decoder_vars};
    float *p[7];
    for (int i = 0; i < 7; i++) r->n[i] = n[i], p[i] = calloc(n[i] + 1, 4);
    r->o = (tft_net_output){p[0], p[1], p[2], p[3], p[4], p[5], p[6]};
}

static float **fields(outs *r) { return &r->o.prediction_normalized; }

static void free_outs(outs *r) {
    for (int i = 0; i < 7; i++) free(fields(r)[i]);
}

static const char *const names[7] = {"prediction_normalized", "prediction", "encoder_attention", "decoder_attention",
                                     "static_weights", "encoder_weights", "decoder_weights"};

// |cuda - cpu| <= atol + rtol*|cpu| (+ floor): the golden tolerances of test_golden.c
static void compare(const char *what, int i, const float *got, const float *want, size_t n) {
    double atol = i == 1 ? 0 : i == 0 ? 2e-5 : 1e-5, rtol = i == 0 ? 2e-5 : i == 1 ? 1e-4 : 0, floor = 0, worst = 0;
    if (i == 1)
        for (size_t k = 0; k < n; k++) floor = fmax(floor, 1e-6 * fabs(want[k]));
    for (size_t k = 0; k < n; k++) {
        double d = fabs((double)got[k] - want[k]), bound = atol + rtol * fabs(want[k]) + floor;
        if (!(d <= bound)) fail_msg("%s: %s[%zu]: cuda %.9g, cpu %.9g (bound %.3g)", what, names[i], k, got[k], want[k], bound);
        worst = fmax(worst, d / (bound > 0 ? bound : 1));
    }
    (void)worst;
}

// A golden fixture's model and rows, with a CPU and a CUDA context for it.
typedef struct golden {
    tft_model   *m;
    tft_ld_file *f;
    tft_context *cpu, *gpu;
} golden;

static void golden_open(golden *g, const char *name, int max_batch) {
    char         path[512];
    tft_ld_error le;
    snprintf(path, sizeof path, GOLDEN_DIR "/%s/model.safetensors", name);
    if (tft_model_load(path, NULL, &g->m) != TFT_OK) fail_msg("%s: %s", path, tft_last_error());
    snprintf(path, sizeof path, GOLDEN_DIR "/%s/fixture.safetensors", name);
    if (tft_ld_open(path, &g->f, &le) != TFT_OK) fail_msg("%s: %s", path, le.msg);
    g->cpu = ctx_on(g->m, TFT_DEVICE_CPU, max_batch), g->gpu = ctx_on(g->m, TFT_DEVICE_CUDA, max_batch);
}

static void golden_close(golden *g) {
    tft_context_free(g->cpu), tft_context_free(g->gpu);
    tft_ld_close(g->f);
    tft_model_free(g->m);
}

static void test_cuda_vs_cpu(void **state) {
    (void)state;
    if (!cuda_usable) {
        printf("[  SKIPPED ] CUDA vs CPU: %s\n", cuda_why);
        skip();
    }
    DIR *d = opendir(GOLDEN_DIR);
    assert_non_null(d);
    struct dirent *e;
    int            fixtures = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
#if defined(TFT_SIMT) && defined(__SANITIZE_THREAD__)
        // (TSan: the kernels' barriers are test_cuda_simt's; two fixtures here, all in the other builds)
        if (strcmp(e->d_name, "identity_minimal") != 0 && strcmp(e->d_name, "log_lstm2_groups") != 0) {
            printf("[  SKIPPED ] %s: ThreadSanitizer build runs two fixtures\n", e->d_name);
            continue;
        }
#endif
        golden g;
        golden_open(&g, e->d_name, 9);
        tft_model   *m = g.m;
        tft_ld_file *f = g.f;
        tft_context *cpu = g.cpu, *gpu = g.gpu;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
        const int sizes[] = {1, 3}, n_sizes = 2; // (the sanitizers run the harness ~40x slower)
#else
        const int sizes[] = {1, 3, 9}, n_sizes = 3;
#endif
        for (int k = 0; k < n_sizes; k++) {
            batch bt;
            make_batch(&bt, m, f, sizes[k], k > 0);
            outs a, b, b2;
            alloc_outs(&a, m, &bt.in), alloc_outs(&b, m, &bt.in), alloc_outs(&b2, m, &bt.in);
            assert_int_equal(tft_predict_net(cpu, &bt.in, &a.o), TFT_OK);
            if (tft_predict_net(gpu, &bt.in, &b.o) != TFT_OK) fail_msg("%s: cuda: %s", e->d_name, tft_last_error());
            char what[300];
            snprintf(what, sizeof what, "%s B=%d Te=%d Td=%d", e->d_name, bt.in.n, bt.in.enc_steps, bt.in.dec_steps);
            for (int i = 0; i < 7; i++) compare(what, i, fields(&b)[i], fields(&a)[i], a.n[i]);
            // the same shape again: the captured graph replayed, bitwise the first run's outputs,
            // with no host allocation
            uint64_t allocs = tft_debug_alloc_count();
            assert_int_equal(tft_predict_net(gpu, &bt.in, &b2.o), TFT_OK);
            assert_true(tft_debug_alloc_count() == allocs);
            for (int i = 0; i < 7; i++) assert_memory_equal(fields(&b2)[i], fields(&b)[i], 4 * a.n[i]);
            printf("  %-24s B=%d Te=%3d Td=%3d: cuda = cpu within the golden tolerances; replay bitwise\n", e->d_name,
                   bt.in.n, bt.in.enc_steps, bt.in.dec_steps);
            free_outs(&a), free_outs(&b), free_outs(&b2);
            free_batch(&bt);
        }
        golden_close(&g);
        fixtures++;
    }
    closedir(d);
    assert_true(fixtures > 0);
}

// More shapes than the graph cache holds (8): every one still right (evicted graphs are captured
// again), and only the outputs asked for are written.
static void test_many_shapes(void **state) {
    (void)state;
    if (!cuda_usable) {
        printf("[  SKIPPED ] many shapes: %s\n", cuda_why);
        skip();
    }
    golden g;
    golden_open(&g, "identity_minimal", 4);
    tft_model   *m = g.m;
    tft_ld_file *f = g.f;
    tft_context *cpu = g.cpu, *gpu = g.gpu;
    for (int round = 0; round < 2; round++)
        for (int s = 0; s < 12; s++) {
            batch bt;
            make_batch(&bt, m, f, 1 + s % 4, 1);
            outs a, b;
            alloc_outs(&a, m, &bt.in), alloc_outs(&b, m, &bt.in);
            float *ea = b.o.encoder_attention, *sw = b.o.static_weights;
            if (s % 3 == 1) b.o.encoder_attention = NULL, b.o.static_weights = NULL; // not asked for
            assert_int_equal(tft_predict_net(cpu, &bt.in, &a.o), TFT_OK);
            if (tft_predict_net(gpu, &bt.in, &b.o) != TFT_OK) fail_msg("shape %d: %s", s, tft_last_error());
            char what[200];
            snprintf(what, sizeof what, "many shapes, round %d: B=%d Te=%d Td=%d", round, bt.in.n, bt.in.enc_steps,
                     bt.in.dec_steps);
            for (int i = 0; i < 7; i++)
                if (fields(&b)[i]) compare(what, i, fields(&b)[i], fields(&a)[i], a.n[i]);
            b.o.encoder_attention = ea, b.o.static_weights = sw;
            free_outs(&a), free_outs(&b);
            free_batch(&bt);
        }
    golden_close(&g);
}

// A captured graph replayed for a batch of the same shape whose lengths differ, a series without
// history among them (the zero-history patch is data, not part of the shape).
static void test_replay_new_lengths(void **state) {
    (void)state;
    if (!cuda_usable) {
        printf("[  SKIPPED ] replay with new lengths: %s\n", cuda_why);
        skip();
    }
    golden g;
    golden_open(&g, "log_lstm2_groups", 4);
    tft_model   *m = g.m;
    tft_ld_file *f = g.f;
    tft_context *cpu = g.cpu, *gpu = g.gpu;
    batch        bt;
    make_batch(&bt, m, f, 4, 0);
    for (int pass = 0; pass < 3; pass++) {
        if (pass > 0) // the same shape (steps = the longest lengths), other lengths: one series empty
            for (int b = 0, kept = 0; b < 4; b++) {
                if (bt.el[b] == bt.in.enc_steps && !kept) kept = 1;
                else bt.el[b] = pass == 1 ? 0 : 1 + b % (bt.in.enc_steps > 1 ? bt.in.enc_steps - 1 : 1);
            }
        outs a, b;
        alloc_outs(&a, m, &bt.in), alloc_outs(&b, m, &bt.in);
        assert_int_equal(tft_predict_net(cpu, &bt.in, &a.o), TFT_OK);
        assert_int_equal(tft_predict_net(gpu, &bt.in, &b.o), TFT_OK);
        for (int i = 0; i < 7; i++) compare("replay with new lengths", i, fields(&b)[i], fields(&a)[i], a.n[i]);
        free_outs(&a), free_outs(&b);
    }
    free_batch(&bt);
    golden_close(&g);
}

int main(void) {
    const char *seed = getenv("TFT_TEST_SEED"); // another set of random batches
    if (seed) rng ^= strtoull(seed, NULL, 10) * 0x2545f4914f6cdd1dull;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_selection),
        cmocka_unit_test(test_cuda_vs_cpu),
        cmocka_unit_test(test_many_shapes),
        cmocka_unit_test(test_replay_new_lengths),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (failed) return 1;
    return cuda_usable ? 0 : 77; // 77: the CUDA half was skipped (the reason is printed above)
}
