// tft.c: version, status names, the thread-local error detail, logging, and the counted allocator.
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

TFT_API int tft_version_number(void) { return TFT_VERSION_NUMBER; }

TFT_API const char *tft_version_string(void) {
    static _Thread_local char buf[256];
    // linear: which build of the batch-invariant GEMM kernel runs on this CPU (ops/linear.c)
    int avx2 = 0;
#if defined(__x86_64__) || defined(__i386__)
    avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    snprintf(buf, sizeof buf, "%d.%d.%d linear=%s cuda=%d", TFT_VERSION_MAJOR, TFT_VERSION_MINOR,
             TFT_VERSION_PATCH, avx2 ? "avx2-fma" : "portable",
#ifdef TFT_USE_CUDA
             1
#else
             0
#endif
    );
    return buf;
}

TFT_API const char *tft_status_str(tft_status s) {
    switch (s) {
    case TFT_OK: return "TFT_OK";
    case TFT_ERR_INVALID_ARG: return "TFT_ERR_INVALID_ARG";
    case TFT_ERR_NOMEM: return "TFT_ERR_NOMEM";
    case TFT_ERR_IO: return "TFT_ERR_IO";
    case TFT_ERR_FORMAT: return "TFT_ERR_FORMAT";
    case TFT_ERR_SHAPE: return "TFT_ERR_SHAPE";
    case TFT_ERR_CAPACITY: return "TFT_ERR_CAPACITY";
    case TFT_ERR_NONFINITE: return "TFT_ERR_NONFINITE";
    case TFT_ERR_BACKEND: return "TFT_ERR_BACKEND";
    case TFT_ERR_UNSUPPORTED: return "TFT_ERR_UNSUPPORTED";
    case TFT_ERR_UNKNOWN_VAR: return "TFT_ERR_UNKNOWN_VAR";
    case TFT_ERR_CATEGORY: return "TFT_ERR_CATEGORY";
    case TFT_ERR_TIME_INDEX: return "TFT_ERR_TIME_INDEX";
    }
    return "TFT_ERR_UNKNOWN_STATUS";
}

static _Thread_local char last_error[512];

TFT_API const char *tft_last_error(void) { return last_error; }

tft_status tft__fail(tft_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}

// ---- logging ---------------------------------------------------------------------------------
static tft_log_fn log_fn;
static void      *log_user;

TFT_API void tft_log_set(tft_log_fn fn, void *user) {
    log_fn   = fn;
    log_user = user;
}

void tft__log(tft_log_level lvl, const char *fmt, ...) {
    char    msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_fn) {
        log_fn(lvl, msg, log_user);
    } else if (lvl <= TFT_LOG_WARN) {
        fprintf(stderr, "tft: %s: %s\n", lvl == TFT_LOG_ERROR ? "error" : "warning", msg);
    }
}

// ---- counted allocation ----------------------------------------------------------------------
static atomic_uint_fast64_t n_allocs;

uint64_t tft_debug_alloc_count(void) { return atomic_load(&n_allocs); }

void *tft__malloc(size_t n) {
    atomic_fetch_add(&n_allocs, 1);
    return malloc(n ? n : 1);
}

void *tft__calloc(size_t n, size_t size) {
    atomic_fetch_add(&n_allocs, 1);
    return calloc(n ? n : 1, size ? size : 1);
}

void *tft__aligned_alloc(size_t align, size_t n) {
    atomic_fetch_add(&n_allocs, 1);
    size_t rounded = (n + align - 1) / align * align;
    if (rounded < n) return NULL;
    return aligned_alloc(align, rounded ? rounded : align);
}

void tft__free(void *p) { free(p); }

char *tft__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char  *d = tft__malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int tft__mul_ok(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
