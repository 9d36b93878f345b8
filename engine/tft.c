// tft.c: version, status names, the thread-local error detail, logging, and the counted allocator.
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

TFT_API int tft_version_number(void) { return TFT_VERSION_NUMBER; }

TFT_API const char *tft_version_string(void) {
    static _Thread_local char buf[256];
    // isa: which build of the CPU ops runs (ops/isa.h: chosen once by CPUID, or forced by TFT_ISA);
    // linear: its GEMM kernel (FMA on avx2 and avx512, multiply-then-add on portable)
    static const char *const linear[TFT_ISA_COUNT] = {"portable", "avx2-fma", "avx512-fma"};
    const tft_isa            isa                   = tft_op_isa();
    snprintf(buf, sizeof buf, "%d.%d.%d isa=%s linear=%s cuda=%d", TFT_VERSION_MAJOR, TFT_VERSION_MINOR,
             TFT_VERSION_PATCH, tft_op_isa_name(isa), linear[isa],
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

// The thread's last failure; tft_last_error() is its message.
static _Thread_local tft_error last_error = {.series = -1, .index = -1};

TFT_API const char *tft_last_error(void) { return last_error.message; }

TFT_API const tft_error *tft_last_error_detail(void) { return &last_error; }

TFT_API const char *tft_error_code_str(tft_error_code c) {
    static const char *const names[TFT_E_CODE_COUNT] = {
        [TFT_E_NONE] = "none",
        [TFT_E_GENERIC] = "generic",
        [TFT_E_NULL_ARGUMENT] = "null_argument",
        [TFT_E_BAD_PARAMETER] = "bad_parameter",
        [TFT_E_DUPLICATE_VARIABLE] = "duplicate_variable",
        [TFT_E_WRONG_TYPE] = "wrong_type",
        [TFT_E_OUT_OF_MEMORY] = "out_of_memory",
        [TFT_E_MEMORY_LIMIT] = "memory_limit",
        [TFT_E_TOO_MANY_SERIES] = "too_many_series",
        [TFT_E_FILE] = "file",
        [TFT_E_CONFIG_LIMIT] = "config_limit",
        [TFT_E_HORIZON] = "horizon",
        [TFT_E_HISTORY_TOO_SHORT] = "history_too_short",
        [TFT_E_LENGTH_MISMATCH] = "length_mismatch",
        [TFT_E_STEPS] = "steps",
        [TFT_E_LENGTHS] = "lengths",
        [TFT_E_CATEGORY_INDEX] = "category_index",
        [TFT_E_NON_FINITE_INPUT] = "non_finite_input",
        [TFT_E_SCALED_OVERFLOW] = "scaled_overflow",
        [TFT_E_NON_FINITE_OUTPUT] = "non_finite_output",
        [TFT_E_UNKNOWN_VARIABLE] = "unknown_variable",
        [TFT_E_MISSING_VARIABLE] = "missing_variable",
        [TFT_E_UNKNOWN_CATEGORY] = "unknown_category",
        [TFT_E_TIME_INDEX] = "time_index",
    };
    return (unsigned)c < TFT_E_CODE_COUNT && names[c] ? names[c] : "unknown_code";
}

// The code of a failure that names none: the one a status implies, where there is only one.
static tft_error_code default_code(tft_status st) {
    switch (st) {
    case TFT_ERR_NOMEM: return TFT_E_OUT_OF_MEMORY;
    case TFT_ERR_IO: return TFT_E_FILE;
    case TFT_ERR_TIME_INDEX: return TFT_E_TIME_INDEX;
    case TFT_ERR_CATEGORY: return TFT_E_UNKNOWN_CATEGORY;
    default: return TFT_E_GENERIC;
    }
}

static tft_status vfail(tft_status st, tft_error_code code, int32_t series, const char *field, int32_t index,
                        const char *prefix, const char *fmt, va_list ap) {
    tft_error *e = &last_error;
    e->status = st;
    e->code   = code;
    e->series = series;
    e->index  = index;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    int at = snprintf(e->message, sizeof e->message, "%s", prefix ? prefix : "");
    if (at < 0 || (size_t)at >= sizeof e->message) at = 0; // (prefixes are short)
    vsnprintf(e->message + at, sizeof e->message - (size_t)at, fmt, ap);
    e->reason_at = at;
    return st;
}

tft_status tft__fail(tft_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(st, default_code(st), -1, NULL, -1, NULL, fmt, ap);
    va_end(ap);
    return st;
}

tft_status tft__fail_at(tft_status st, tft_error_code code, int32_t series, const char *field, int32_t index,
                        const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(st, code, series, field, index, NULL, fmt, ap);
    va_end(ap);
    return st;
}

tft_status tft__fail_in(tft_status st, tft_error_code code, int32_t series, const char *field, int32_t index,
                        const char *prefix, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(st, code, series, field, index, prefix, fmt, ap);
    va_end(ap);
    return st;
}

void tft__error_restore(const tft_error *e) {
    if (e != &last_error) last_error = *e;
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
