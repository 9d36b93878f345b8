// bench_forward.c: the whole forecast by batch size, on a real model and real series.
//   build/<cfg>/bench/bench_forward [MODEL] [REQUEST.json] [--batches 1,8,64,512] [--seconds S] [--threads N]
// Defaults: the bundled default model and its sample request (series cycled to fill each batch).
// One line per configuration:
//   level=series B=64 reps=... p50_us=... p90_us=... p99_us=... series_per_s=...
// level=series times tft_forecast: raw rows in, quantiles in user units out (preprocessing, the
// forward and de-normalization; what a user calls), on one context with N threads (default 1).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../engine/cli/request.h"
#include "bench.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *t, int n, double p) {
    int k = (int)(p * n + 0.999999) - 1;
    return t[k < 0 ? 0 : (k >= n ? n - 1 : k)];
}

int main(int argc, char **argv) {
    const char *model = "weights/default.safetensors", *reqp = "weights/sample_request.json";
    int         batches[16] = {1, 8, 64, 512}, nb = 4;
    double      seconds     = 2.0;
    int         threads     = 1;
    int         npos        = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--batches") == 0 && i + 1 < argc) {
            nb = 0;
            for (char *s = strtok(argv[++i], ","); s && nb < 16; s = strtok(NULL, ",")) batches[nb++] = atoi(s);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: bench_forward [MODEL] [REQUEST.json] [--batches 1,8,64,512] [--seconds S] [--threads N]\n");
            return 0;
        } else if (npos == 0) {
            model = argv[i], npos++;
        } else {
            reqp = argv[i], npos++;
        }
    }
    tft_model *m = NULL;
    if (tft_model_load(model, NULL, &m) != TFT_OK) {
        fprintf(stderr, "bench_forward: %s\n", tft_last_error());
        return 1;
    }
    char   err[300];
    size_t len;
    char  *text = tft_read_file(reqp, &len, err, sizeof err);
    tft_request r;
    if (!text || tft_request_parse(m, text, len, &r, err, sizeof err) != TFT_OK) {
        fprintf(stderr, "bench_forward: %s\n", err);
        return 1;
    }
    const tft_model_info *mi = tft_model_get_info(m);
    bench_header("forward");
    printf("# model=%s params=%lld hidden=%d heads=%d lstm_layers=%d encoder=%d horizon=%d targets=%d quantiles=%d "
           "series_in_request=%d\n", model, (long long)mi->n_parameters, mi->hidden_size, mi->n_heads, mi->lstm_layers,
           mi->max_encoder_length, mi->max_prediction_length, mi->n_targets, mi->n_quantiles, r.n);
    fflush(stdout);
    int     maxb = 0;
    for (int i = 0; i < nb; i++) maxb = batches[i] > maxb ? batches[i] : maxb;
    tft_series *series = calloc((size_t)maxb, sizeof *series);
    for (int i = 0; i < maxb; i++) series[i] = r.series[i % r.n];
    size_t  per  = (size_t)mi->n_targets * mi->max_prediction_length * mi->n_quantiles;
    float  *q    = calloc((size_t)maxb * per, sizeof *q);
    double *t    = malloc(sizeof(double) * 100000);
    for (int bi = 0; bi < nb; bi++) {
        int                B  = batches[bi];
        tft_context_params cp = tft_context_default_params();
        cp.max_batch          = B;
        cp.n_threads          = threads;
        tft_context *c        = NULL;
        if (tft_context_new(m, &cp, &c) != TFT_OK) {
            fprintf(stderr, "bench_forward: %s\n", tft_last_error());
            return 1;
        }
        tft_forecast_output out = {.quantiles = q};
        for (int w = 0; w < 2; w++)
            if (tft_forecast(c, series, B, &out) != TFT_OK) {
                fprintf(stderr, "bench_forward: %s\n", tft_last_error());
                return 1;
            }
        int    n  = 0;
        double t0 = bench_now_us();
        while (n < 100000 && (n < 5 || bench_now_us() - t0 < seconds * 1e6)) {
            double s = bench_now_us();
            tft_forecast(c, series, B, &out);
            t[n++] = bench_now_us() - s;
        }
        qsort(t, (size_t)n, sizeof *t, cmp_d);
        double p50 = pct(t, n, 0.5);
        printf("level=series threads=%d B=%d reps=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f min_us=%.1f series_per_s=%.0f "
               "arena_mib=%.1f\n", threads, B, n, p50, pct(t, n, 0.9), pct(t, n, 0.99), t[0], B / (p50 * 1e-6),
               tft_context_bytes(c) / 1048576.0);
        fflush(stdout);
        tft_context_free(c);
    }
    free(t), free(q), free(series), free(text);
    tft_request_free(&r);
    tft_model_free(m);
    return 0;
}
