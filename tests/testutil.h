// testutil.h: small header-only helpers shared by the cmocka tests: a fixed-seed RNG, buffer
// filling, and an llm.c check_tensor-style comparison that reports the max abs / max rel error.
//
// Usage (inside a cmocka test; include <cmocka.h> before using TU_ASSERT_CLOSE):
//   tu_rng rng = tu_rng_new(42);
//   float *x = tu_alloc(n); tu_fill(&rng, x, n, -1.0f, 1.0f);
//   TU_ASSERT_CLOSE("glu", got, ref, n, 1e-6, 1e-6);   // fails with "glu: 3/120 bad, max_abs=..."
//   free(x);
// Set TFT_TEST_VERBOSE=1 to print one "check name=... n=... max_abs=... max_rel=..." line per check.
#ifndef TFT_TESTUTIL_H
#define TFT_TESTUTIL_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// ---- RNG: splitmix64 seeding + xorshift64*, deterministic across platforms ----------------
typedef struct tu_rng {
    uint64_t s;
} tu_rng;

static inline tu_rng tu_rng_new(uint64_t seed) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull; // splitmix64 step: never a zero state
    z          = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z          = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    tu_rng r = {z ? z : 1};
    return r;
}

static inline uint32_t tu_u32(tu_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 0x2545F4914F6CDD1Dull) >> 32);
}

// uniform in [0, 1) with 24 random bits
static inline float tu_unif(tu_rng *r) {
    return (float)(tu_u32(r) >> 8) * (1.0f / 16777216.0f);
}
// uniform in [lo, hi)
static inline float tu_range(tu_rng *r, float lo, float hi) {
    return lo + (hi - lo) * tu_unif(r);
}
// uniform integer in [0, n)
static inline int tu_int(tu_rng *r, int n) {
    return n > 0 ? (int)(tu_u32(r) % (uint32_t)n) : 0;
}
// standard normal (Box-Muller)
static inline float tu_normal(tu_rng *r) {
    double u1 = ((double)(tu_u32(r) >> 8) + 1.0) / 16777217.0, u2 = tu_unif(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static inline void tu_fill(tu_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++)
        x[i] = tu_range(r, lo, hi);
}
static inline void tu_fill_normal(tu_rng *r, float *x, size_t n, float std) {
    for (size_t i = 0; i < n; i++)
        x[i] = std * tu_normal(r);
}

// malloc that never returns NULL (aborts: a test cannot go on without its buffers); n may be 0.
static inline float *tu_alloc(size_t n) {
    float *p = (float *)malloc((n ? n : 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "tu_alloc: out of memory (%zu floats)\n", n);
        abort();
    }
    return p;
}
static inline float *tu_dup(const float *x, size_t n) {
    float *p = tu_alloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = x[i];
    return p;
}

// ---- comparison -------------------------------------------------------------------------------
typedef struct tu_err {
    double max_abs, max_rel; // over all elements (rel = |got-ref| / |ref|, ref != 0)
    size_t bad, first_bad;   // elements with |got-ref| > atol + rtol*|ref|; the first such index
} tu_err;

// Elementwise |got - ref| <= atol + rtol*|ref|. NaN matches NaN; ±inf must match exactly.
static inline tu_err tu_compare(const float *got, const float *ref, size_t n, double atol, double rtol) {
    tu_err e = {0.0, 0.0, 0, (size_t)-1};
    for (size_t i = 0; i < n; i++) {
        double g = got[i], f = ref[i], d;
        int    ok;
        if (isnan(f) || isnan(g)) {
            ok = isnan(f) && isnan(g);
            d  = ok ? 0.0 : INFINITY;
        } else if (isinf(f) || isinf(g)) {
            ok = g == f;
            d  = ok ? 0.0 : INFINITY;
        } else {
            d  = fabs(g - f);
            ok = d <= atol + rtol * fabs(f);
            if (f != 0.0 && d / fabs(f) > e.max_rel)
                e.max_rel = d / fabs(f);
        }
        if (d > e.max_abs)
            e.max_abs = d;
        if (!ok && e.bad++ == 0)
            e.first_bad = i;
    }
    return e;
}

// Formats a one-line report into msg; returns the number of bad elements (0 = pass).
static inline size_t tu_check(const char *name, const float *got, const float *ref, size_t n, double atol,
                              double rtol, char *msg, size_t msgsz) {
    tu_err e = tu_compare(got, ref, n, atol, rtol);
    if (e.bad)
        snprintf(
            msg, msgsz,
            "%s: %zu/%zu bad (atol %g rtol %g), max_abs=%.3e max_rel=%.3e, first at %zu: got %.9g ref %.9g",
            name, e.bad, n, atol, rtol, e.max_abs, e.max_rel, e.first_bad, (double)got[e.first_bad],
            (double)ref[e.first_bad]);
    else
        snprintf(msg, msgsz, "%s: ok n=%zu max_abs=%.3e max_rel=%.3e", name, n, e.max_abs, e.max_rel);
    const char *v = getenv("TFT_TEST_VERBOSE");
    if (v && *v && *v != '0')
        printf("check name=%s n=%zu max_abs=%.3e max_rel=%.3e bad=%zu\n", name, n, e.max_abs, e.max_rel,
               e.bad);
    return e.bad;
}

// cmocka assertion (include <cmocka.h> first): fails the test with the tu_check report.
#define TU_ASSERT_CLOSE(name, got, ref, n, atol, rtol)                                                       \
    do {                                                                                                     \
        char tu_msg_[512];                                                                                   \
        if (tu_check((name), (got), (ref), (n), (atol), (rtol), tu_msg_, sizeof tu_msg_))                    \
            fail_msg("%s", tu_msg_);                                                                         \
    } while (0)

// Tolerance of a GEMM-based result with inner size K: rtol = 1e-6*sqrt(K), floored at 1e-5.
static inline double tu_gemm_rtol(int K) {
    double r = 1e-6 * sqrt((double)(K > 1 ? K : 1));
    return r > 1e-5 ? r : 1e-5;
}
// A whole file, NUL-terminated (malloc'd; *len its size when len is not NULL), or NULL.
static inline char *tu_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char  *s = n >= 0 ? (char *)malloc((size_t)n + 1) : NULL;
    size_t k = s ? fread(s, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!s) return NULL;
    s[k] = 0;
    if (len) *len = k;
    return s;
}

// ---- time bounds in sanitizer builds -----------------------------------------------------------
// The linear-time guards (tests that a hostile input is refused in time linear in its size) bound
// CPU seconds measured on a plain -O3 build. ASan/UBSan and TSan builds are -O1 with instrumented
// memory accesses, several times slower on the same work: their bounds are multiplied by this. The
// quadratic cases they guard against take minutes to hours, so the bound still tells them apart.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define TU_SLOWDOWN 10.0
#else
#define TU_SLOWDOWN 1.0
#endif

// ---- every CPU path (ops/isa.h) -----------------------------------------------------------
// Runs group(name) once per instruction-set build of the ops that this machine supports (portable,
// avx2, avx512), switching with tft_op_isa_select, and prints one clear skip line for each it does
// not support. Returns the number of failed runs (a cmocka group's result each). The path chosen
// at start (TFT_ISA or the best) is restored afterwards.
#include "../ops/isa.h"
static inline int tu_for_each_isa(const char *what, int (*group)(const char *isa_name)) {
    const tft_isa start  = tft_op_isa();
    int           failed = 0;
    for (int i = 0; i < TFT_ISA_COUNT; i++) {
        const char *name = tft_op_isa_name((tft_isa)i);
#if defined(__SANITIZE_THREAD__)
        // ThreadSanitizer checks the threads, which are the same on every path (the paths differ only
        // in single-threaded arithmetic, run on each path by the plain and ASan builds): the path in
        // use only, to keep CI's TSan pass short
        if ((tft_isa)i != start) {
            printf("[  SKIPPED ] %s on path %s: ThreadSanitizer build runs the path in use only\n", what, name);
            continue;
        }
#endif
        if (!tft_op_isa_supported((tft_isa)i)) {
            printf("[  SKIPPED ] %s on path %s: this CPU (or build) lacks it\n", what, name);
            continue;
        }
        const char *err = tft_op_isa_select(name);
        if (err) {
            printf("[  FAILED  ] %s: cannot select path %s: %s\n", what, name, err);
            failed++;
            continue;
        }
        printf("[ ISA PATH ] %s on path %s\n", what, name);
        failed += group(name) != 0;
    }
    tft_op_isa_select(tft_op_isa_name(start));
    return failed;
}

#endif
