// bench_forward.c: the whole forecast by batch size, on a real model and real series, against this
// machine's GEMM roofline measured in the same run.
//   build/<cfg>/bench/bench_forward [MODEL] [REQUEST.json] [--batches 1,8,64,512] [--seconds S] [--threads N]
//                                   [--configs B:T,...] [--check FILE [--tolerance F]] [--write-baseline FILE]
// Defaults: the bundled default model and its sample request (series cycled to fill each batch).
// Header lines (#): the CPU, the cores/PUs (hwloc), OpenBLAS's core; the model; the roofline: OpenBLAS
// SGEMM 512x512x512 GFLOP/s on the same thread count, best and median of its reps. Then one line
// per configuration:
//   level=series device=cpu threads=1 B=64 reps=... p50_us=... p90_us=... p99_us=... min_us=... series_per_s=...
//   arena_mib=... flops_per_series=... gflops=... roofline_frac=... roofline_frac_best=...
// level=series times tft_forecast: raw rows in, quantiles in user units out (preprocessing, the
// forward and de-normalization; what a user calls), on one context with N threads (default 1).
// flops_per_series counts the forward's GEMMs (2·M·N·K) and attention products as the engine
// computes them (engine/plan.c: tft_plan_flops); gflops = B·flops_per_series / p50;
// roofline_frac = gflops / sgemm GFLOP/s (medians), roofline_frac_best = the same from the best
// rep of each (the steadier number on a shared machine; the one --check compares).
//
// --check FILE: runs the configurations listed in FILE ("B=64 threads=1 roofline_frac_best=0.31"
// lines) and exits 1 when one falls more than --tolerance (default 0.25, i.e. 25 %) below its
// baseline. Both sides are ratios to the sgemm rate of the same run, so the check holds across
// machines of one kind and is insensitive to a uniformly slower or faster box.
// --configs 1:1,64:1,64:2: (batch, threads) pairs instead of --batches x --threads.
// --no-roofline: skips the sgemm measurement (and the roofline fields), e.g. to read the process's
//   peak RSS without OpenBLAS's buffers in it.
// --write-baseline FILE: writes the measured configurations in that format; bench/baseline.txt is
//   bench_forward --configs 1:1,64:1,64:2 --seconds 3 --write-baseline bench/baseline.txt (quiet machine).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../engine/cli/request.h"
#include "../engine/internal.h"
#include "bench.h"

#define SGEMM_N 512
#define MAX_CFG 32

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *t, int n, double p) {
    int k = (int)(p * n + 0.999999) - 1;
    return t[k < 0 ? 0 : (k >= n ? n - 1 : k)];
}

typedef struct cfg {
    int    B, threads;
    double base; // baseline roofline_frac_best (check mode)
    double frac_best;
} cfg;

typedef struct roof {
    int    threads;
    double best, p50; // sgemm GFLOP/s
} roof;

// The sgemm rate on `threads` BLAS threads, measured once per thread count and printed.
static roof *roofline(roof *r, int *nr, int threads, double seconds) {
    for (int i = 0; i < *nr; i++)
        if (r[i].threads == threads) return &r[i];
    bench_res s   = bench_sgemm(SGEMM_N, threads, seconds < 1.0 ? seconds : 1.0);
    double    fl  = 2.0 * SGEMM_N * SGEMM_N * (double)SGEMM_N;
    r[*nr]        = (roof){threads, bench_gflops(fl, s.min_us), bench_gflops(fl, s.med_us)};
    printf("# roofline sgemm_n=%d sgemm_threads=%d sgemm_gflops_best=%.2f sgemm_gflops_p50=%.2f reps=%d\n", SGEMM_N,
           threads, r[*nr].best, r[*nr].p50, s.reps);
    fflush(stdout);
    return &r[(*nr)++];
}

static int read_baseline(const char *path, cfg *c, int max) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_forward: cannot read %s\n", path);
        return -1;
    }
    char line[256];
    int  n = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        if (line[0] == '#' || line[0] == '\n') continue;
        cfg x = {0, 0, 0, 0};
        if (sscanf(line, "B=%d threads=%d roofline_frac_best=%lf", &x.B, &x.threads, &x.base) == 3 && x.B > 0 &&
            x.threads > 0 && x.base > 0)
            c[n++] = x;
        else
            fprintf(stderr, "bench_forward: %s: ignoring line: %s", path, line);
    }
    fclose(f);
    return n;
}

int main(int argc, char **argv) {
    const char *model = "weights/default.safetensors", *reqp = "weights/sample_request.json";
    const char *check = NULL, *write_base = NULL, *configs = NULL;
    int         batches[16] = {1, 8, 64, 512}, nb = 4;
    double      seconds = 2.0, tol = 0.25;
    int         threads = 1, npos = 0, no_roof = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--batches") == 0 && i + 1 < argc) {
            nb = 0;
            for (char *s = strtok(argv[++i], ","); s && nb < 16; s = strtok(NULL, ",")) batches[nb++] = atoi(s);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (strcmp(argv[i], "--no-roofline") == 0) {
            no_roof = 1;
        } else if (strcmp(argv[i], "--configs") == 0 && i + 1 < argc) {
            configs = argv[++i];
        } else if (strcmp(argv[i], "--check") == 0 && i + 1 < argc) {
            check = argv[++i];
        } else if (strcmp(argv[i], "--tolerance") == 0 && i + 1 < argc) {
            tol = atof(argv[++i]);
        } else if (strcmp(argv[i], "--write-baseline") == 0 && i + 1 < argc) {
            write_base = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: bench_forward [MODEL] [REQUEST.json] [--batches 1,8,64,512] [--seconds S] [--threads N]\n"
                   "                     [--configs B:T,...] [--check FILE [--tolerance F]] [--write-baseline FILE]\n"
                   "                     [--no-roofline]\n");
            return 0;
        } else if (npos == 0) {
            model = argv[i], npos++;
        } else {
            reqp = argv[i], npos++;
        }
    }
    cfg cfgs[MAX_CFG];
    int ncfg = 0;
    if (check) {
        ncfg = read_baseline(check, cfgs, MAX_CFG);
        if (ncfg <= 0) {
            fprintf(stderr, "bench_forward: no configuration in %s\n", check);
            return 2;
        }
    } else if (configs) {
        for (char *s2 = strtok((char *)configs, ","); s2 && ncfg < MAX_CFG; s2 = strtok(NULL, ",")) {
            cfg x = {0, 0, 0, 0};
            if (sscanf(s2, "%d:%d", &x.B, &x.threads) != 2 || x.B < 1 || x.threads < 1) {
                fprintf(stderr, "bench_forward: bad --configs entry '%s' (want B:threads)\n", s2);
                return 2;
            }
            cfgs[ncfg++] = x;
        }
    } else {
        for (int i = 0; i < nb; i++) cfgs[ncfg++] = (cfg){batches[i], threads, 0, 0};
    }
    tft_model *m = NULL;
    if (tft_model_load(model, NULL, &m) != TFT_OK) {
        fprintf(stderr, "bench_forward: %s\n", tft_last_error());
        return 2;
    }
    char   err[300];
    size_t len;
    char  *text = tft_read_file(reqp, &len, err, sizeof err);
    tft_request r;
    if (!text || tft_request_parse(m, text, len, &r, err, sizeof err) != TFT_OK) {
        fprintf(stderr, "bench_forward: %s\n", err);
        return 2;
    }
    const tft_model_info *mi = tft_model_get_info(m);
    bench_header("forward");
    printf("# model=%s params=%lld hidden=%d heads=%d lstm_layers=%d encoder=%d horizon=%d targets=%d quantiles=%d "
           "series_in_request=%d\n", model, (long long)mi->n_parameters, mi->hidden_size, mi->n_heads, mi->lstm_layers,
           mi->max_encoder_length, mi->max_prediction_length, mi->n_targets, mi->n_quantiles, r.n);
    fflush(stdout);
    roof rf[MAX_CFG];
    int  nrf = 0;
    if (no_roof && (check || write_base)) {
        fprintf(stderr, "bench_forward: --check and --write-baseline need the roofline\n");
        return 2;
    }
    for (int i = 0; !no_roof && i < ncfg; i++) roofline(rf, &nrf, cfgs[i].threads, seconds); // before any forecast
    int maxb = 0;
    for (int i = 0; i < ncfg; i++) maxb = cfgs[i].B > maxb ? cfgs[i].B : maxb;
    tft_series *series = calloc((size_t)maxb, sizeof *series);
    for (int i = 0; i < maxb; i++) series[i] = r.series[i % r.n];
    size_t   per  = (size_t)mi->n_targets * mi->max_prediction_length * mi->n_quantiles;
    float   *q    = calloc((size_t)maxb * per, sizeof *q);
    int32_t *elen = calloc((size_t)maxb, sizeof *elen);
    double  *t    = malloc(sizeof(double) * 100000);
    int      bad  = 0;
    for (int ci = 0; ci < ncfg; ci++) {
        const int          B  = cfgs[ci].B;
        tft_context_params cp = tft_context_default_params();
        cp.max_batch          = B;
        cp.n_threads          = cfgs[ci].threads;
        tft_context *c        = NULL;
        if (tft_context_new(m, &cp, &c) != TFT_OK) {
            fprintf(stderr, "bench_forward: %s\n", tft_last_error());
            return 2;
        }
        tft_forecast_output out = {.quantiles = q, .encoder_lengths = elen};
        for (int w = 0; w < 2; w++)
            if (tft_forecast(c, series, B, &out) != TFT_OK) {
                fprintf(stderr, "bench_forward: %s\n", tft_last_error());
                return 2;
            }
        // the forward's FLOPs for these series (their own history lengths, the call's padded widths)
        int Te = 0, Td = series[0].horizon ? series[0].horizon : mi->max_prediction_length;
        for (int b = 0; b < B; b++) Te = elen[b] > Te ? elen[b] : Te;
        double flops = 0;
        for (int b = 0; b < B; b++) flops += tft_plan_flops(m, Te, Td, elen[b], Td);
        out.encoder_lengths = NULL;
        int    n  = 0;
        double t0 = bench_now_us();
        while (n < 100000 && (n < 5 || bench_now_us() - t0 < seconds * 1e6)) {
            double s = bench_now_us();
            tft_forecast(c, series, B, &out);
            t[n++] = bench_now_us() - s;
        }
        qsort(t, (size_t)n, sizeof *t, cmp_d);
        const double p50 = pct(t, n, 0.5), gf = flops / (p50 * 1e3), gf_best = flops / (t[0] * 1e3);
        const roof   none = {cfgs[ci].threads, 0, 0};
        const roof  *ro   = no_roof ? &none : roofline(rf, &nrf, cfgs[ci].threads, seconds);
        cfgs[ci].frac_best = ro->best > 0 ? gf_best / ro->best : 0;
        printf("level=series device=%s threads=%d B=%d reps=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f min_us=%.1f "
               "series_per_s=%.0f arena_mib=%.1f flops_per_series=%.0f gflops=%.2f roofline_frac=%.4f "
               "roofline_frac_best=%.4f\n",
               tft_context_device(c), cfgs[ci].threads, B, n, p50, pct(t, n, 0.9), pct(t, n, 0.99), t[0], B / (p50 * 1e-6),
               tft_context_bytes(c) / 1048576.0, flops / B, gf, ro->p50 > 0 ? gf / ro->p50 : 0, cfgs[ci].frac_best);
        if (check) {
            const double ratio = cfgs[ci].frac_best / cfgs[ci].base;
            const int    ok    = ratio >= 1.0 - tol;
            printf("check B=%d threads=%d roofline_frac_best=%.4f baseline=%.4f ratio=%.3f tolerance=%.2f %s\n", B,
                   cfgs[ci].threads, cfgs[ci].frac_best, cfgs[ci].base, ratio, tol, ok ? "ok" : "REGRESSION");
            bad |= !ok;
        }
        fflush(stdout);
        tft_context_free(c);
    }
    if (write_base) {
        FILE *f = fopen(write_base, "w");
        if (!f) {
            fprintf(stderr, "bench_forward: cannot write %s\n", write_base);
            return 2;
        }
        fprintf(f, "# bench_forward roofline_frac_best per configuration (forward GFLOP/s over OpenBLAS sgemm\n"
                   "# GFLOP/s, best rep of each, same run); compared by `make bench-check` (bench_forward --check).\n");
        for (int i = 0; i < ncfg; i++)
            fprintf(f, "B=%d threads=%d roofline_frac_best=%.4f\n", cfgs[i].B, cfgs[i].threads, cfgs[i].frac_best);
        fclose(f);
    }
    if (check) printf("bench-check: %s\n", bad ? "FAILED (a configuration regressed beyond the tolerance)" : "passed");
    free(t), free(q), free(elen), free(series), free(text);
    tft_request_free(&r);
    tft_model_free(m);
    return bad ? 1 : 0;
}
