// json_in.c: forecast request JSON -> tft_series without heap allocation (see json_in.h).
//
// Two steps:
//  1. the project's one JSON scanner (loader/json.h, tft_json_tokens): strict RFC 8259, depth,
//     token count and string length checked while scanning, in time linear in the body; its tokens
//     go into the arena and every string is unescaped in place and NUL-terminated. Its messages are
//     the loader's (the CLI, the server and the model loader say the same of the same bad JSON).
//  2. the schema-directed walk: known keys only, no duplicates, types, finite numbers (strtod_l in
//     the C locale, as the loader's parser, so values are bitwise the CLI's), model inputs only,
//     horizon range, time_idx integers and length; everything is written into the arena.
// No malloc/calloc/realloc/free here: all memory is the caller's arena or the body itself (the
// scanner allocates nothing at depths up to 64, the cap here).
#include "json_in.h"
#include "../loader/json.h" // the one JSON scanner and lexical grammar of the project
#include <float.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH_CAP 64 // the scanner's inline stack: no heap allocation up to this depth

tft_req_limits tft_req_default_limits(void) {
    tft_req_limits l = {.max_depth = 16, .max_series = 4096, .max_values = 1u << 22, .max_tokens = 1u << 23};
    return l;
}

void tft_req_arena_init(tft_req_arena *a, void *buf, size_t cap, const tft_req_limits *lim) {
    uintptr_t p   = (uintptr_t)buf;
    size_t    pad = (size_t)((16 - (p & 15)) & 15);
    if (!buf || cap < pad) pad = cap = 0;
    a->buf  = (unsigned char *)buf + pad;
    a->cap  = cap - pad;
    a->used = 0;
    a->lim  = lim ? *lim : tft_req_default_limits();
    if (a->lim.max_depth == 0 || a->lim.max_depth > MAX_DEPTH_CAP) a->lim.max_depth = MAX_DEPTH_CAP;
}

void tft_req_arena_reset(tft_req_arena *a) { a->used = 0; }

static void *take(tft_req_arena *a, size_t n, size_t count) {
    if (count && n > (SIZE_MAX - 16) / count) return NULL;
    size_t bytes = n * count;
    size_t at    = (a->used + 15) & ~(size_t)15;
    if (at > a->cap || bytes > a->cap - at) return NULL;
    a->used = at + bytes;
    return a->buf + at;
}

static locale_t        c_locale;
static pthread_once_t  c_locale_once = PTHREAD_ONCE_INIT;
static void            c_locale_init(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

// ------------------------------------------------------------------------------------------------
// errors

typedef struct dec {
    const tft_model *m;
    char            *body;
    size_t           len;
    tft_json_tok    *t;
    int              nt;
    tft_req_arena   *a;
    tft_req_error   *err;
    tft_req_error    local_err;
    uint64_t         values;
} dec;

static int fail(dec *d, int http, const char *code, int32_t series, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int fail(dec *d, int http, const char *code, int32_t series, const char *field, const char *fmt, ...) {
    tft_req_error *e = d->err;
    e->http          = http;
    e->code          = code;
    e->series        = series;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

#define MALFORMED(d, at, what) \
    fail(d, 400, "malformed_json", -1, NULL, "request is not valid JSON: %s at byte %ld", what, (long)(at))

// ------------------------------------------------------------------------------------------------
// the schema walk over the scanner's tokens

static int skip(const dec *d, int i) { return i + (int)d->t[i].skip; } // the next sibling

static const char *str(const dec *d, int i) { return d->body + d->t[i].start; }
static int         is(const dec *d, int i, const char *s) { return strcmp(str(d, i), s) == 0; }

static const char *type_name(const dec *d, int i) { return tft_json_type_desc((tft_json_type)d->t[i].type); }

// 8 ASCII digits at p (all of them digits) as a number, SWAR (fast_float's parse_eight_digits_unrolled,
// little-endian): three multiplies instead of a chain of eight multiply-adds. 0 if one is not a digit.
static int eight_digits(const char *p, uint64_t *out) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    return (void)p, (void)out, 0; // the byte order below is little-endian's: the scalar loop instead
#endif
    uint64_t x;
    memcpy(&x, p, 8);
    if ((((x + 0x4646464646464646ull) | (x - 0x3030303030303030ull)) & 0x8080808080808080ull) != 0) return 0;
    x -= 0x3030303030303030ull;
    x    = x * 10 + (x >> 8); // pairs of digits in every other byte
    x    = (((x & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
         (((x >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >> 32;
    *out = (uint32_t)x;
    return 1;
}

// Fast paths for a literal (grammar already checked), each bitwise strtod's; 0 if one applies.
//  - Clinger's: a significand m <= 2^53 (every literal of at most 15 significant digits, and
//    longer ones with small values) and a decimal exponent of at most 22 in magnitude: m * 10^e or
//    m / 10^-e with both operands exact doubles, so one IEEE operation gives the correctly rounded
//    value (41.2, 63.05, 1000, -3.5e-2 all take it).
//  - x87 extended precision (x86-64): at most 19 digits (m < 2^64) and |e| <= 27 (5^27 < 2^64):
//    both operands are exact long doubles, so m * 10^e (or m / 10^-e) is the exact value correctly
//    rounded to 64 bits; rounding that to 53 bits can differ from rounding the exact value only when
//    it lands exactly halfway between two doubles (low 11 mantissa bits 10000000000b): then strtod.
//    (Python's json writes a float32 as its 17-digit repr, which this path takes: tritonclient's data.)
static int fast_double(const char *s, long n, double *out) {
    static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    long     i = 0, e = 0;
    int      neg = 0, digits = 0;
    uint64_t m = 0;
    if (s[i] == '-') neg = 1, i++;
    // The common case first: at most 19 digits in all, so m cannot overflow and no per-digit
    // bookkeeping is needed (the chain of multiply-adds is this function's cost: eight digits at a
    // time where the literal has them, then one a step).
    long     j = i, nint, nfrac = 0;
    uint64_t v8;
    while (j + 8 <= n && eight_digits(s + j, &v8)) m = m * 100000000 + v8, j += 8;
    while (j < n && (unsigned)(s[j] - '0') < 10) m = m * 10 + (uint64_t)(s[j++] - '0');
    nint = j - i;
    if (j < n && s[j] == '.') {
        long f = ++j;
        while (j + 8 <= n && eight_digits(s + j, &v8)) m = m * 100000000 + v8, j += 8;
        while (j < n && (unsigned)(s[j] - '0') < 10) m = m * 10 + (uint64_t)(s[j++] - '0');
        nfrac = j - f;
    }
    if (nint + nfrac <= 19) i = j, e = -nfrac;
    else { // longer: count significant digits (leading zeros are free), at most 19 of them here
        m = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (m || s[i] != '0') digits++;
            m = m * 10 + (uint64_t)(s[i] - '0');
            if (digits > 19) return -1;
        }
        if (i < n && s[i] == '.')
            for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
                if (m || s[i] != '0') digits++;
                m = m * 10 + (uint64_t)(s[i] - '0');
                e--;
                if (digits > 19) return -1;
            }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int  eneg = 0;
        long x = 0, k = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i] == '-', i++;
        for (; i < n; i++, k++) { // at most 4 exponent digits here (no overflow); longer: strtod's path
            if (k >= 4) return -1;
            x = x * 10 + (s[i] - '0');
        }
        e += eneg ? -x : x;
    }
    double v;
    if (m == 0) v = 0;
    else if (m <= (1ull << 53) && e >= 0 && e <= 22) v = (double)m * p10[e];
    else if (m <= (1ull << 53) && e < 0 && e >= -22) v = (double)m / p10[-e];
#if defined(__x86_64__) && LDBL_MANT_DIG == 64
    else if (e >= -27 && e <= 27) {
        static const long double q10[28] = {1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
                                            1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
                                            1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
        long double y = e >= 0 ? (long double)m * q10[e] : (long double)m / q10[-e];
        uint64_t    mant;
        memcpy(&mant, &y, sizeof mant); // x87 80-bit format: the 64-bit significand comes first
        if ((mant & 0x7FF) == 0x400) return -1;
        v = (double)y;
    }
#endif
    else return -1;
    *out = neg ? -v : v;
    return 0;
}

// number token -> double (as strtod_l on the literal in the C locale, as the loader); 0 ok, -1 not a number
static int tok_double(char *body, const tft_json_tok *t, double *out) {
    if (t->type != TFT_JSON_NUMBER) return -1;
    if (fast_double(body + t->start, (long)(t->end - t->start), out) == 0) return 0;
    char save      = body[t->end]; // a delimiter: the root is an object, so t->end < len
    body[t->end]   = '\0';
    *out           = strtod_l(body + t->start, NULL, c_locale);
    body[t->end]   = save;
    return 0;
}
static int to_double(dec *d, int i, double *out) { return tok_double(d->body, &d->t[i], out); }

// exact integer: optional '-', digits only, no overflow (as tft_json_i64); shared with kserve.c
int tft_req_json_i64(const char *s, long n, int64_t *out) {
    long k   = 0;
    int  neg = 0;
    if (k < n && s[k] == '-') neg = 1, k++;
    if (k >= n) return -1;
    uint64_t v = 0;
    for (; k < n; k++) {
        if (s[k] < '0' || s[k] > '9') return -1;
        unsigned dg = (unsigned)(s[k] - '0');
        if (v > (UINT64_MAX - dg) / 10) return -1;
        v = v * 10 + dg;
    }
    if (!neg && v > (uint64_t)INT64_MAX) return -1;
    if (neg && v > (uint64_t)INT64_MAX + 1) return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}
static int to_i64(const dec *d, int i, int64_t *out) {
    const tft_json_tok *t = &d->t[i];
    if (t->type != TFT_JSON_NUMBER) return -1;
    return tft_req_json_i64(d->body + t->start, (long)(t->end - t->start), out);
}

static int count_values(dec *d, uint64_t n, int32_t si, const char *sid) {
    d->values += n;
    if (d->values > d->a->lim.max_values)
        return fail(d, 413, "too_many_elements", si, NULL,
                    "series %d '%s': request has more than %llu values", si, sid,
                    (unsigned long long)d->a->lim.max_values);
    return 0;
}

#define NOSPACE(d) \
    fail(d, 413, "too_large", -1, NULL, "request does not fit the decoder's arena (%zu bytes)", (d)->a->cap)

// One object of name -> array (history/future) or name -> scalar (static) into columns.
// Returns the index past the object, or -1.
static int columns(dec *d, int obj, int scalar, int32_t si, const char *sid, const char *part, tft_column **out,
                   int32_t *n) {
    char field[96];
    *out = NULL, *n = 0;
    if (d->t[obj].type != TFT_JSON_OBJECT)
        return fail(d, 422, "wrong_type", si, part, "series %d '%s': \"%s\" must be an object of column -> %s", si,
                    sid, part, scalar ? "value" : "array");
    int32_t     nk   = d->t[obj].size;
    tft_column *cols = take(d->a, sizeof *cols, (size_t)nk + 1);
    if (!cols) return NOSPACE(d);
    memset(cols, 0, sizeof *cols * ((size_t)nk + 1));
    int k = obj + 1;
    for (int32_t c = 0; c < nk; c++) {
        int         v    = k + 1;
        const char *name = str(d, k);
        int         is_cat = tft_model_input_is_categorical(d->m, name);
        snprintf(field, sizeof field, "%s.%s", part, name);
        if (is_cat < 0)
            return fail(d, 422, "not_a_model_input", si, field,
                        "series %d '%s': %s has '%s', which is not an input of this model (see `tft info`)", si, sid,
                        part, name);
        for (int32_t p = 0; p < c; p++)
            if (strcmp(cols[p].name, name) == 0)
                return fail(d, 400, "duplicate_key", si, field, "series %d '%s': %s has '%s' twice", si, sid, part,
                            name);
        if (!scalar && d->t[v].type != TFT_JSON_ARRAY)
            return fail(d, 422, "wrong_type", si, field, "series %d '%s': %s '%s' must be an array", si, sid, part,
                        name);
        int32_t len   = scalar ? 1 : d->t[v].size;
        int     first = scalar ? v : v + 1;
        if (count_values(d, (uint64_t)len, si, sid)) return -1;
        cols[c].name = name;
        cols[c].len  = len;
        int e        = first;
        if (is_cat) {
            const char **labels = take(d->a, sizeof(char *), (size_t)len + 1);
            if (!labels) return NOSPACE(d);
            for (int32_t i = 0; i < len; i++) {
                if (d->t[e].type != TFT_JSON_STRING) {
                    snprintf(field, sizeof field, "%s.%s[%d]", part, name, i);
                    return fail(d, 422, "wrong_type", si, field,
                                "series %d '%s': %s '%s'[%d] must be a string (a category label), not %s", si, sid,
                                part, name, i, type_name(d, e));
                }
                labels[i] = str(d, e);
                e++;
            }
            labels[len]   = NULL;
            cols[c].labels = labels;
        } else {
            double *vals = take(d->a, sizeof(double), (size_t)len + 1);
            if (!vals) return NOSPACE(d);
            for (int32_t i = 0; i < len; i++) {
                if (to_double(d, e, &vals[i]) != 0) {
                    snprintf(field, sizeof field, "%s.%s[%d]", part, name, i);
                    return fail(d, 422, "wrong_type", si, field, "series %d '%s': %s '%s'[%d] must be a number, not %s",
                                si, sid, part, name, i, type_name(d, e));
                }
                if (!isfinite(vals[i])) {
                    snprintf(field, sizeof field, "%s.%s[%d]", part, name, i);
                    return fail(d, 422, "non_finite_input", si, field,
                                "series %d '%s': %s '%s'[%d] = %.*s is not a finite float", si, sid, part, name, i,
                                (int)(d->t[e].end - d->t[e].start) > 40 ? 40 : (int)(d->t[e].end - d->t[e].start),
                                str(d, e));
                }
                e++;
            }
            vals[len]      = 0;
            cols[c].values = vals;
        }
        k = skip(d, k + 1); // past the key's value
    }
    *out = cols, *n = nk;
    return k;
}

enum { K_ID = 1, K_STATIC = 2, K_TIME = 4, K_HISTORY = 8, K_FUTURE = 16 };

static int series_one(dec *d, tft_req *r, int s, int32_t i) {
    tft_series *x = &r->series[i];
    memset(x, 0, sizeof *x);
    if (d->t[s].type != TFT_JSON_OBJECT)
        return fail(d, 422, "wrong_type", i, NULL, "series %d must be an object, not %s", i, type_name(d, s));
    static const char *const names[] = {"id", "static", "time_idx", "history", "future"};
    int                      at[5]   = {0, 0, 0, 0, 0};
    unsigned                 seen    = 0;
    int                      k       = s + 1;
    for (int32_t c = 0; c < d->t[s].size; c++) {
        int j = 0;
        while (j < 5 && !is(d, k, names[j])) j++;
        if (j == 5)
            return fail(d, 422, "unknown_key", i, str(d, k), "series %d has unknown key '%s'", i, str(d, k));
        if (seen & (1u << j))
            return fail(d, 400, "duplicate_key", i, names[j], "series %d has key '%s' twice", i, names[j]);
        seen |= 1u << j;
        at[j] = k + 1;
        k     = skip(d, k + 1);
    }
    if (at[0]) {
        if (d->t[at[0]].type != TFT_JSON_STRING)
            return fail(d, 422, "wrong_type", i, "id", "series %d: \"id\" must be a string", i);
        r->ids[i] = str(d, at[0]);
    } else {
        char *buf = take(d->a, 1, 16);
        if (!buf) return NOSPACE(d);
        snprintf(buf, 16, "%d", i);
        r->ids[i] = buf;
    }
    x->id      = r->ids[i];
    x->horizon = r->horizon;
    if (at[1] && columns(d, at[1], 1, i, x->id, "static", (tft_column **)&x->statics, &x->n_statics) < 0) return -1;
    if (!at[3])
        return fail(d, 422, "missing_field", i, "history", "series %d '%s': \"history\" is missing", i, x->id);
    if (columns(d, at[3], 0, i, x->id, "history", (tft_column **)&x->history, &x->n_history_columns) < 0) return -1;
    if (at[4] && columns(d, at[4], 0, i, x->id, "future", (tft_column **)&x->future, &x->n_future_columns) < 0)
        return -1;
    x->n_history = x->n_history_columns > 0 ? x->history[0].len : 0;
    if (at[2]) {
        int ti = at[2];
        if (d->t[ti].type != TFT_JSON_ARRAY)
            return fail(d, 422, "wrong_type", i, "time_idx", "series %d '%s': \"time_idx\" must be an array of integers",
                        i, x->id);
        int32_t len = d->t[ti].size;
        if (count_values(d, (uint64_t)len, i, x->id)) return -1;
        int64_t *t = take(d->a, sizeof(int64_t), (size_t)len + 1);
        if (!t) return NOSPACE(d);
        int e = ti + 1;
        for (int32_t q = 0; q < len; q++) {
            if (to_i64(d, e, &t[q]) != 0) {
                char field[32];
                snprintf(field, sizeof field, "time_idx[%d]", q);
                return fail(d, 422, "wrong_type", i, field, "series %d '%s': time_idx[%d] is not an integer", i, x->id,
                            q);
            }
            e = skip(d, e);
        }
        int32_t want = x->n_history + (r->horizon ? r->horizon : tft_model_get_info(d->m)->max_prediction_length);
        if (len != want)
            return fail(d, 422, "length_mismatch", i, "time_idx",
                        "series %d '%s': time_idx has %d values, expected history + horizon = %d", i, x->id, len, want);
        x->time_idx = t;
    }
    return 0;
}

// The scanner's tokens into the arena's free space (up to max_tokens of them); on success the arena
// keeps exactly the tokens used. Its errors by kind: malformed (400), too deep, too many values or a
// string too long (413), or an arena too small for the tokens. d->body, len, a, err must be set.
static int tokenize(dec *d) {
    pthread_once(&c_locale_once, c_locale_init);
    if (c_locale == (locale_t)0) return fail(d, 500, "internal", -1, NULL, "newlocale(C) failed");
    if (d->len > (size_t)INT_MAX - 2)
        return fail(d, 413, "too_large", -1, NULL, "request body is larger than %d bytes", INT_MAX - 2);
    tft_req_arena  *a    = d->a;
    tft_json_limits jl   = tft_json_default_limits(); // strings: at most 16 MiB each
    size_t          room = a->cap / sizeof(tft_json_tok), n;
    tft_json_error  je;
    a->used         = 0;
    jl.max_depth    = a->lim.max_depth; // <= MAX_DEPTH_CAP (tft_req_arena_init)
    jl.max_elements = UINT32_MAX;       // values and keys together: the token cap below
    if (room > a->lim.max_tokens) room = a->lim.max_tokens;
    tft_json_tok *toks = room ? (tft_json_tok *)(void *)a->buf : NULL;
    if (tft_json_tokens(d->body, d->len, &jl, toks, room, &n, &je) != 0) {
        switch (je.kind) {
        case TFT_JSON_E_DEPTH:
            return fail(d, 413, "too_deep", -1, NULL, "request nests deeper than %u levels (at byte %zu)",
                        a->lim.max_depth, je.at);
        case TFT_JSON_E_TOKENS:
            if (room >= a->lim.max_tokens)
                return fail(d, 413, "too_many_elements", -1, NULL, "request has more than %u JSON values",
                            a->lim.max_tokens);
            return NOSPACE(d);
        case TFT_JSON_E_STRING:
            return fail(d, 413, "too_large", -1, NULL, "request has a string longer than %u bytes (at byte %zu)",
                        jl.max_string, je.at);
        case TFT_JSON_E_SYNTAX: return MALFORMED(d, je.at, je.what);
        default: return fail(d, 500, "internal", -1, NULL, "request JSON: %s at byte %zu", je.what, je.at);
        }
    }
    a->used = n * sizeof(tft_json_tok);
    d->t = toks, d->nt = (int)n;
    return 0;
}

int tft_req_json_tokens(char *body, size_t len, tft_req_arena *a, void **toks, int *ntoks, tft_req_error *err) {
    dec d;
    memset(&d, 0, sizeof d);
    d.body = body, d.len = len, d.a = a, d.err = err ? err : &d.local_err;
    memset(d.err, 0, sizeof *d.err);
    d.err->series = -1;
    *toks = NULL, *ntoks = 0;
    if (tokenize(&d)) return -1;
    *toks = d.t, *ntoks = d.nt;
    return 0;
}

double tft_req_json_double(char *body, int start, int end) {
    tft_json_tok t = {.start = (uint32_t)start, .end = (uint32_t)end, .type = TFT_JSON_NUMBER, .skip = 1};
    double    v = 0;
    pthread_once(&c_locale_once, c_locale_init); // done already by tft_req_json_tokens: cheap
    return tok_double(body, &t, &v) == 0 ? v : NAN;
}

int tft_req_decode(const tft_model *m, char *body, size_t len, tft_req_arena *a, tft_req *out, tft_req_error *err) {
    dec d;
    memset(&d, 0, sizeof d);
    d.m = m, d.body = body, d.len = len, d.a = a, d.err = err ? err : &d.local_err;
    memset(out, 0, sizeof *out);
    memset(d.err, 0, sizeof *d.err);
    d.err->series = -1;
    if (tokenize(&d)) return -1;
    tft_json_tok *toks = d.t;

    // the request object
    if (toks[0].type != TFT_JSON_OBJECT)
        return fail(&d, 422, "not_an_object", -1, NULL, "request must be a JSON object, not %s", type_name(&d, 0));
    static const char *const names[] = {"horizon", "interpret", "series", "model"};
    int                      at4[4]  = {0, 0, 0, 0};
    unsigned                 seen    = 0;
    int                      k       = 1;
    for (int32_t c = 0; c < toks[0].size; c++) {
        int j = 0;
        while (j < 4 && !is(&d, k, names[j])) j++;
        if (j == 4) return fail(&d, 422, "unknown_key", -1, str(&d, k), "request has unknown key '%s'", str(&d, k));
        if (seen & (1u << j))
            return fail(&d, 400, "duplicate_key", -1, names[j], "request has key '%s' twice", names[j]);
        seen |= 1u << j;
        at4[j] = k + 1;
        k      = skip(&d, k + 1);
    }
    const tft_model_info *mi = tft_model_get_info(m);
    if (at4[0]) {
        int64_t v;
        if (to_i64(&d, at4[0], &v) != 0)
            return fail(&d, 422, "wrong_type", -1, "horizon", "\"horizon\" must be an integer");
        if (v < mi->min_prediction_length || v > mi->max_prediction_length)
            return fail(&d, 422, "horizon_out_of_range", -1, "horizon",
                        "horizon %lld is outside [min_prediction_length %d, max_prediction_length %d]", (long long)v,
                        mi->min_prediction_length, mi->max_prediction_length);
        out->horizon = (int32_t)v;
    }
    if (at4[1]) {
        int i = at4[1];
        if (toks[i].type != TFT_JSON_TRUE && toks[i].type != TFT_JSON_FALSE)
            return fail(&d, 422, "wrong_type", -1, "interpret", "\"interpret\" must be true or false");
        out->interpret = toks[i].type == TFT_JSON_TRUE;
    }
    if (at4[3]) {
        if (toks[at4[3]].type != TFT_JSON_STRING)
            return fail(&d, 422, "wrong_type", -1, "model", "\"model\" must be a string (a model name)");
        out->model = str(&d, at4[3]);
    }
    int ss = at4[2];
    if (!ss || toks[ss].type != TFT_JSON_ARRAY || toks[ss].size == 0)
        return fail(&d, 422, ss ? "wrong_type" : "missing_field", -1, "series",
                    "request needs \"series\": a non-empty array");
    if ((uint32_t)toks[ss].size > a->lim.max_series)
        return fail(&d, 413, "too_many_elements", -1, "series", "request has %d series, more than the limit %u",
                    toks[ss].size, a->lim.max_series);
    int32_t n   = toks[ss].size;
    out->series = take(a, sizeof *out->series, (size_t)n);
    out->ids    = take(a, sizeof(char *), (size_t)n);
    if (!out->series || !out->ids) return NOSPACE(&d);
    int s = ss + 1;
    for (int32_t i = 0; i < n; i++) {
        if (series_one(&d, out, s, i)) return -1;
        s = skip(&d, s);
    }
    out->n = n;
    return 0;
}

// Every JSON value or key is preceded by one of '[' '{' ',' ':' (or is the root), so their count
// bounds the scanner's tokens (16 bytes each), for any body: the scanner stops at the first byte
// that is not JSON, having made a token only for each separator it accepted. Each token is at most
// one 8-byte number/label pointer; keys (one ':' each) add a tft_column and an allocation's
// alignment, objects ('{') a series and its arrays. (tft_req_arena_worst stays for the callers'
// one retry, should this estimate ever fall short of the decoder's use.)
size_t tft_req_arena_bound(const char *b, size_t len) {
    size_t seps = 0, colons = 0, braces = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = b[i];
        seps += ch == ',' || ch == '[';
        colons += ch == ':';
        braces += ch == '{';
    }
    size_t nt = seps + colons + braces + 1;
    return (sizeof(tft_json_tok) + 8) * nt + 56 * colons + 184 * braces + 8192;
}

size_t tft_req_arena_worst(size_t len) { return 84 * (len / 2 + 2) + 8192; }

int tft_req_arena_exhausted(const tft_req_error *e) {
    return e->http == 413 && e->code && strcmp(e->code, "too_large") == 0 && strstr(e->message, "arena");
}
