// bench_codec.c: the HTTP server's JSON codec per series, on the load benchmark's bodies.
//   build/<cfg>/bench/bench_codec [--model M] [--bodies DIR] [--seconds S] [--only STAGE] [--cpu-time]
//                                 [--exhaustive-floats [K/N]]
// Bodies: python3 bench/load/make_bodies.py build/load 1 64 (body_1.json, body_64.json: the sample
// request's series cycled, 288 history rows x 6 columns + 96 future rows x 2 columns each).
// One key=value line per measurement, times per series in microseconds (p50 and min over the reps):
//   stage=decode B=..   tft_req_decode of the body (a fresh copy each rep: decoding unescapes in place;
//                       the copy is not timed), then its arena bytes used and reserved
//   stage=check  B=..   tft_series_check of the decoded series
//   stage=write  B=..   tft_resp_write_forecast of the model's real answer for those series
//                       (nt targets x T steps x Q quantiles each)
// and the same-run A/B of the number helpers against the libc calls they replace (ns per number):
//   stage=parse_numbers impl=strtod_l|json_double  every number literal of body_64
//   stage=print_floats  impl=snprintf|jw_floats    every float of the 64-series answer
// --only STAGE: that stage for --seconds (default 2), the others their 5 reps (to profile one stage).
// --cpu-time: time with this thread's CPU clock, not the wall clock (figures taken while other
// processes load the machine; the stages are single-threaded).
// --exhaustive-floats [K/N]: instead, checks tft_jw_float against snprintf("%.9g") on every finite
// float bit pattern (2^32 - 2^24; ~10 core-minutes), or on the K-th of N slices of them (one process
// per core), and prints the count of mismatches (exit 1 if any).
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../engine/tft.h"
#include "../loader/json.h"
#include "../server/json_in.h"
#include "../server/json_out.h"

#define MAX_REPS 20000

static int use_cpu_time; // --cpu-time: this thread's CPU time instead of wall time (a loaded machine)

static double now_us(void) {
    struct timespec ts;
    clock_gettime(use_cpu_time ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double *times;
static double  seconds = 2.0;
static const char *only; // --only STAGE: the other stages run their minimum reps (for profiling one)

static double budget_us(const char *stage) { return !only || strcmp(only, stage) == 0 ? seconds * 1e6 : 0; }

// p50 and min of t[0, n) (sorted in place)
static void stats(double *t, int n, double *p50, double *mn) {
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    *mn  = t[0];
    *p50 = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) free(s), s = NULL;
    fclose(f);
    if (s) s[n] = 0, *len = (size_t)n;
    return s;
}

static void die(const char *what) {
    fprintf(stderr, "bench_codec: %s\n", what);
    exit(2);
}

static void report(const char *stage, int B, int n, double per) {
    double p50, mn;
    stats(times, n, &p50, &mn);
    printf("stage=%s B=%d reps=%d p50_us_per_series=%.2f min_us_per_series=%.2f\n", stage, B, n, p50 / per,
           mn / per);
    fflush(stdout);
}

// ------------------------------------------------------------------------------------------------
// exhaustive: every finite float through tft_jw_float against snprintf("%.9g")

static int exhaustive_floats(unsigned shard, unsigned shards) {
    setlocale(LC_ALL, "C");
    unsigned long long checked = 0, bad = 0;
    char               want[48], got[48];
    uint64_t           lo = ((uint64_t)1 << 32) * shard / shards, hi = ((uint64_t)1 << 32) * (shard + 1) / shards;
    for (uint64_t u = lo; u < hi; u++) {
        uint32_t b = (uint32_t)u;
        if ((b & 0x7F800000u) == 0x7F800000u) continue; // Inf/NaN: never written
        float f;
        memcpy(&f, &b, 4);
        int    k = snprintf(want, sizeof want, "%.9g", (double)f);
        tft_jw o = {got, sizeof got, 0, 0};
        tft_jw_float(&o, f);
        checked++;
        if (o.full || o.n != (size_t)k || memcmp(got, want, (size_t)k) != 0) {
            if (bad++ < 20) printf("mismatch bits=0x%08x want=%s got=%.*s\n", b, want, (int)o.n, got);
        }
    }
    printf("exhaustive_floats shard=%u/%u bits=[0x%08llx,0x%08llx] checked=%llu mismatches=%llu\n", shard, shards,
           (unsigned long long)lo, (unsigned long long)(hi - 1), checked, bad);
    return bad != 0;
}

// ------------------------------------------------------------------------------------------------

int main(int argc, char **argv) {
    const char *model_path = "weights/default.safetensors", *dir = "build/load";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model_path = argv[++i];
        else if (strcmp(argv[i], "--bodies") == 0 && i + 1 < argc) dir = argv[++i];
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
        else if (strcmp(argv[i], "--cpu-time") == 0) use_cpu_time = 1;
        else if (strcmp(argv[i], "--exhaustive-floats") == 0) {
            unsigned k = 0, n = 1; // optional K/N: the K-th of N equal slices of the bit patterns
            if (i + 1 < argc && sscanf(argv[i + 1], "%u/%u", &k, &n) == 2 && n > 0 && k < n) i++;
            else k = 0, n = 1;
            return exhaustive_floats(k, n);
        } else {
            fprintf(stderr, "usage: bench_codec [--model M] [--bodies DIR] [--seconds S] [--only STAGE] [--cpu-time] "
                            "[--exhaustive-floats [K/N]]\n");
            return 2;
        }
    }
    tft_model *m = NULL;
    if (tft_model_load(model_path, NULL, &m) != TFT_OK) die(tft_last_error());
    const tft_model_info *mi = tft_model_get_info(m);
    times                    = malloc(sizeof(double) * MAX_REPS);
    size_t arena_cap         = (size_t)256 << 20;
    void  *arena_mem         = malloc(arena_cap);
    if (!times || !arena_mem) die("out of memory");
    printf("# bench=codec model=%s seconds_per_stage=%.2f\n", model_path, seconds);

    static const int Bs[2] = {1, 64};
    char            *keep_body64 = NULL; // a decoded copy of body_64: its literals for the A/B below
    size_t           len64       = 0;
    float           *q64         = NULL;
    for (int bi = 0; bi < 2; bi++) {
        int  B = Bs[bi];
        char path[512];
        snprintf(path, sizeof path, "%s/body_%d.json", dir, B);
        size_t len;
        char  *src = slurp(path, &len);
        if (!src) die("cannot read the bodies (python3 bench/load/make_bodies.py build/load 1 64)");
        char         *body = malloc(len + 1);
        tft_req_arena a;
        tft_req       r;
        tft_req_error e;
        tft_req_arena_init(&a, arena_mem, arena_cap, NULL);

        // decode
        int    n  = 0;
        double t0 = now_us();
        for (int w = 0; w < 2; w++) { // warm-up
            memcpy(body, src, len + 1);
            if (tft_req_decode(m, body, len, &a, &r, &e) != 0) die(e.message);
        }
        while (n < MAX_REPS && (n < 5 || now_us() - t0 < budget_us("decode"))) {
            memcpy(body, src, len + 1);
            double s = now_us();
            int    rc = tft_req_decode(m, body, len, &a, &r, &e);
            times[n++] = now_us() - s;
            if (rc != 0) die(e.message);
        }
        report("decode", B, n, B);
        // memory: the arena the decode used (parse tokens + the decoded series), and what the server
        // reserves for the body (tft_req_arena_bound)
        printf("stage=decode B=%d body_bytes=%zu arena_used=%zu arena_bound=%zu\n", B, len, a.used,
               tft_req_arena_bound(src, len));

        // check (on the last decode: its series live in the arena and the body)
        n  = 0;
        t0 = now_us();
        while (n < MAX_REPS && (n < 5 || now_us() - t0 < budget_us("check"))) {
            double     s  = now_us();
            tft_status st = tft_series_check(m, r.series, r.n);
            times[n++]    = now_us() - s;
            if (st != TFT_OK) die(tft_last_error());
        }
        report("check", B, n, B);

        // the model's answer for these series, then its writing
        int32_t             T  = r.horizon ? r.horizon : mi->max_prediction_length;
        size_t              nq = (size_t)B * (size_t)mi->n_targets * (size_t)T * (size_t)mi->n_quantiles;
        float              *q  = malloc(sizeof(float) * nq);
        int32_t            *el = malloc(sizeof(int32_t) * (size_t)B);
        tft_context_params  cp = tft_context_default_params();
        tft_context        *c  = NULL;
        cp.max_batch           = B;
        if (!q || !el || tft_context_new(m, &cp, &c) != TFT_OK) die("context");
        tft_forecast_output fo = {.quantiles = q, .encoder_lengths = el};
        if (tft_forecast(c, r.series, r.n, &fo) != TFT_OK) die(tft_last_error());
        tft_context_free(c);
        tft_resp_forecast f = {.model_name      = "default",
                               .model_sha256    = mi->sha256,
                               .n_quantiles     = mi->n_quantiles,
                               .quantile_levels = mi->quantiles,
                               .horizon         = T,
                               .n_series        = r.n,
                               .ids             = r.ids,
                               .encoder_lengths = el,
                               .n_targets       = mi->n_targets,
                               .targets         = mi->targets};
        f.quantiles  = q;
        size_t cap   = (size_t)B * 64 * 1024 + 4096;
        char  *out   = malloc(cap);
        ssize_t wlen = 0;
        n            = 0;
        t0           = now_us();
        while (n < MAX_REPS && (n < 5 || now_us() - t0 < budget_us("write"))) {
            double s   = now_us();
            wlen       = tft_resp_write_forecast(out, cap, &f);
            times[n++] = now_us() - s;
            if (wlen < 0) die("write");
        }
        report("write", B, n, B);
        printf("stage=write B=%d floats_per_series=%zu answer_bytes=%zd\n", B, nq / (size_t)B, wlen);
        free(out), free(el);
        if (B == 64) keep_body64 = body, len64 = len, q64 = q;
        else free(body), free(q);
        free(src);
    }

    // A/B: the number literals of body_64 (re-tokenized: the decoded copy's strings are unescaped
    // but its numbers are as sent), strtod_l vs tft_req_json_double
    {
        tft_req_arena a;
        tft_req_error e;
        void         *tv;
        int           nt;
        char         *path = malloc(512);
        snprintf(path, 512, "%s/body_64.json", dir);
        size_t len;
        char  *body = slurp(path, &len);
        free(path);
        tft_req_arena_init(&a, arena_mem, arena_cap, NULL);
        if (!body || tft_req_json_tokens(body, len, &a, &tv, &nt, &e) != 0) die("tokens");
        const tft_json_tok *tk    = tv;
        int                *spans = malloc(sizeof(int) * 2 * (size_t)nt);
        int                 nn    = 0;
        for (int i = 0; i < nt; i++)
            if (tk[i].type == TFT_JSON_NUMBER)
                spans[2 * nn] = (int)tk[i].start, spans[2 * nn + 1] = (int)tk[i].end, nn++;
        locale_t          cl  = newlocale(LC_ALL_MASK, "C", (locale_t)0);
        volatile double   sink = 0;
        for (int impl = 0; impl < 2; impl++) {
            int    n  = 0;
            double t0 = now_us();
            while (n < MAX_REPS && (n < 5 || now_us() - t0 < budget_us("parse_numbers"))) {
                double s   = now_us();
                double acc = 0;
                for (int i = 0; i < nn; i++) {
                    int  st = spans[2 * i], en = spans[2 * i + 1];
                    if (impl == 0) {
                        char save = body[en];
                        body[en]  = 0;
                        acc += strtod_l(body + st, NULL, cl);
                        body[en] = save;
                    } else acc += tft_req_json_double(body, st, en);
                }
                sink       = acc;
                times[n++] = now_us() - s;
            }
            double p50, mn;
            stats(times, n, &p50, &mn);
            printf("stage=parse_numbers impl=%s numbers=%d p50_ns_per_number=%.1f min_ns_per_number=%.1f\n",
                   impl ? "json_double" : "strtod_l", nn, p50 * 1e3 / nn, mn * 1e3 / nn);
        }
        (void)sink;
        freelocale(cl);
        free(spans), free(body);
    }

    // A/B: the 64-series answer's floats, snprintf("%.9g") vs tft_jw_floats
    {
        size_t nq  = (size_t)64 * (size_t)mi->n_targets * (size_t)(mi->max_prediction_length) *
                    (size_t)mi->n_quantiles;
        size_t cap = nq * 18 + 64;
        char  *out = malloc(cap);
        setlocale(LC_NUMERIC, "C");
        for (int impl = 0; impl < 2; impl++) {
            int    n  = 0;
            double t0 = now_us();
            while (n < MAX_REPS && (n < 5 || now_us() - t0 < budget_us("print_floats"))) {
                double s = now_us();
                if (impl == 0) {
                    size_t k = 0;
                    for (size_t i = 0; i < nq; i++) {
                        if (i) out[k++] = ',';
                        k += (size_t)snprintf(out + k, cap - k, "%.9g", (double)q64[i]);
                    }
                } else {
                    tft_jw o = {out, cap, 0, 0};
                    tft_jw_floats(&o, q64, nq);
                }
                times[n++] = now_us() - s;
            }
            double p50, mn;
            stats(times, n, &p50, &mn);
            printf("stage=print_floats impl=%s floats=%zu p50_ns_per_float=%.1f min_ns_per_float=%.1f\n",
                   impl ? "jw_floats" : "snprintf", nq, p50 * 1e3 / (double)nq, mn * 1e3 / (double)nq);
        }
        free(out);
    }
    (void)len64;
    free(keep_body64), free(q64), free(times), free(arena_mem);
    tft_model_free(m);
    return 0;
}
