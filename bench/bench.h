// bench.h: a tiny CPU micro-benchmark harness (header-only). Prints one `key=value` line per
// configuration so results can be grepped, diffed and plotted.
//
// Usage:
//   bench_header("ops");                               // "# bench=ops cpu=... cores=.. pus=.. isa=avx512 blas_core=..."
//   bench_res r;
//   BENCH_RUN(3, 0.25, r, { tft_op_linear(...); });   // warmup 3, then ~0.25 s of timed reps
//   printf("op=linear R=%d med_us=%.2f p90_us=%.2f gflops=%.2f\n", R, r.med_us, r.p90_us,
//          bench_gflops(flop, r.med_us));
#ifndef TFT_BENCH_H
#define TFT_BENCH_H
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef TFT_BENCH_HWLOC
#include <hwloc.h>
#endif
#include "../ops/isa.h"

#define BENCH_MIN_REPS 5
#define BENCH_MAX_REPS 2000

typedef struct bench_res {
    double med_us, p90_us, min_us; // per repetition, microseconds
    int    reps;
} bench_res;

static inline double bench_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Sorts t[0..n) and fills the order statistics (nearest-rank percentiles).
static inline bench_res bench_stats(double *t, int n) {
    bench_res r = {0, 0, 0, n};
    if (n <= 0)
        return r;
    qsort(t, (size_t)n, sizeof(double), bench_cmp_double);
    r.min_us = t[0];
    r.med_us = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    int k    = (int)(0.9 * n + 0.999999) - 1; // ceil(0.9 n) - 1
    r.p90_us = t[k < 0 ? 0 : (k >= n ? n - 1 : k)];
    return r;
}

// Runs the body `warm` times untimed, then times single repetitions until `budget_s` seconds have
// passed (at least BENCH_MIN_REPS, at most BENCH_MAX_REPS), and stores the stats in `res` (a
// bench_res lvalue). The body (last argument, commas allowed) is a braced statement block.
#define BENCH_RUN(warm, budget_s, res, ...)                                                                  \
    do {                                                                                                     \
        for (int bw_ = 0; bw_ < (warm); bw_++)                                                               \
            __VA_ARGS__                                                                                      \
        double       bt_[BENCH_MAX_REPS];                                                                    \
        int          bn_ = 0;                                                                                \
        const double b0_ = bench_now_us();                                                                   \
        while (bn_ < BENCH_MAX_REPS && (bn_ < BENCH_MIN_REPS || bench_now_us() - b0_ < (budget_s)*1e6)) {    \
            const double s_ = bench_now_us();                                                                \
            __VA_ARGS__                                                                                      \
            bt_[bn_++] = bench_now_us() - s_;                                                                \
        }                                                                                                    \
        (res) = bench_stats(bt_, bn_);                                                                       \
    } while (0)

static inline double bench_gflops(double flop, double us) {
    return us > 0 ? flop / (us * 1e3) : 0.0;
}

// "model name" from /proc/cpuinfo (first core), or "unknown".
static inline void bench_cpu_model(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            const char *p = strchr(line, ':');
            if (p) {
                p += 1 + (p[1] == ' ');
                snprintf(buf, n, "%s", p);
                buf[strcspn(buf, "\n")] = 0;
                for (char *c = buf; *c; c++) // keep the line one key=value per token
                    if (*c == ' ')
                        *c = '_';
            }
            break;
        }
    }
    fclose(f);
}

// "cores=N pus=M" from hwloc (the cores and hardware threads this process may use: hwloc honours
// the cgroup cpuset), or "cores=? pus=N" from sysconf when the bench is built without hwloc
// (the Makefile defines TFT_BENCH_HWLOC when libhwloc-dev is installed).
static inline void bench_topology(char *buf, size_t n) {
#ifdef TFT_BENCH_HWLOC
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) == 0 && hwloc_topology_load(topo) == 0) {
        snprintf(buf, n, "cores=%d pus=%d hwloc=1", hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE),
                 hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU));
        hwloc_topology_destroy(topo);
        return;
    }
#endif
    snprintf(buf, n, "cores=? pus=%ld hwloc=0", sysconf(_SC_NPROCESSORS_ONLN));
}

// One header line: which bench, the CPU, the topology, OpenBLAS's core and build config, its
// thread count.
static inline void bench_header(const char *name) {
    char cpu[256], topo[96];
    bench_cpu_model(cpu, sizeof cpu);
    bench_topology(topo, sizeof topo);
    char cfg[256];
    snprintf(cfg, sizeof cfg, "%s", openblas_get_config());
    for (char *c = cfg; *c; c++)
        if (*c == ' ')
            *c = '_';
    // isa: the CPU path libtft's ops take (ops/isa.h: the best this CPU has, or TFT_ISA's)
    printf("# bench=%s cpu=%s %s isa=%s blas_core=%s blas_threads=%d blas_config=%s\n", name, cpu, topo,
           tft_op_isa_name(tft_op_isa()), openblas_get_corename(), openblas_get_num_threads(), cfg);
    fflush(stdout);
}

// The roofline reference: OpenBLAS's square SGEMM (n x n x n, C = A·Bᵀ as the TFT layers compute)
// on `threads` BLAS threads, timed for ~budget_s after 2 warm-up calls. Returns the stats; the rate
// is bench_gflops(2n³, r.min_us) (best) or (…, r.med_us). Leaves OpenBLAS on 1 thread and sleeps
// 0.3 s so that its worker threads, which spin after a call, are idle before the caller times
// anything else.
static inline bench_res bench_sgemm(int n, int threads, double budget_s) {
    float *a = malloc(sizeof(float) * (size_t)n * n), *b = malloc(sizeof(float) * (size_t)n * n);
    float *c = malloc(sizeof(float) * (size_t)n * n);
    bench_res r = {0, 0, 0, 0};
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return r;
    }
    for (size_t i = 0; i < (size_t)n * n; i++)
        a[i] = (float)(i % 97) * 0.01f - 0.5f, b[i] = (float)(i % 89) * 0.01f - 0.4f, c[i] = 0.0f;
    openblas_set_num_threads(threads);
    BENCH_RUN(2, budget_s, r, {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    });
    openblas_set_num_threads(1);
    free(a), free(b), free(c);
    struct timespec ts = {0, 300000000};
    nanosleep(&ts, NULL);
    return r;
}
#endif
