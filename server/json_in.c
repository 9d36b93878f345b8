// json_in.c: forecast request JSON -> tft_series without heap allocation (see json_in.h).
//
// Two passes over jsmn's tokens:
//  1. strict JSON: jsmn (even with JSMN_STRICT) accepts trailing commas, missing commas and some
//     stray ':' / ',' (upstream issues #52, #158, #217, #247), so every byte between two tokens is
//     checked here against exactly what RFC 8259 allows there (whitespace and one ',' or ':'),
//     primitives against the literal/number grammar, strings for control characters, valid escapes
//     and UTF-8 (they are unescaped in place and NUL-terminated); nesting depth is capped. Numbers'
//     and strings' grammar (and messages) are the loader's parser's: loader/json.h.
//  2. the schema-directed walk: known keys only, no duplicates, types, finite numbers (strtod_l in
//     the C locale, as the loader's parser, so values are bitwise the CLI's), model inputs only,
//     horizon range, time_idx integers and length; everything is written into the arena.
// No malloc/calloc/realloc/free here: all memory is the caller's arena or the body itself.
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#define JSMN_STATIC
#include <jsmn.h>
#include "json_tok.h"

#include "json_in.h"
#include "../loader/json.h" // the one lexical grammar (strings, numbers, UTF-8) of the project
#include <float.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH_CAP 64

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
    jsmntok_t       *t;
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
// pass 1: strict JSON over the token stream

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// [from, to) must be: ws* [sep ws*] (sep 0: whitespace only)
static int gap(dec *d, long from, long to, char sep) {
    // compact JSON's case, without the loops: nothing between the tokens, or just the separator
    if (to == from && sep == 0) return 0;
    if (to == from + 1 && sep != 0 && d->body[from] == sep) return 0;
    long i = from;
    while (i < to && is_ws(d->body[i])) i++;
    if (sep) {
        if (i >= to || d->body[i] != sep) {
            char what[48];
            snprintf(what, sizeof what, "expected '%c'", sep);
            return MALFORMED(d, i, what);
        }
        i++;
        while (i < to && is_ws(d->body[i])) i++;
    }
    if (i != to) return MALFORMED(d, i, d->body[i] == 0 ? "NUL byte" : "unexpected character");
    return 0;
}

// Numbers and strings: the loader's lexical grammar (loader/json.h), the one the whole project reads
// JSON with; literals are exactly true, false, null.
// A primitive token [start, start + n): exactly true, false or null, or exactly one number; else
// malformed, with the loader's message for it.
static int primitive_check(dec *d, long start, long n) {
    const char *s = d->body + start;
    if (n == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "null", 4) == 0)) return 0;
    if (n == 5 && memcmp(s, "false", 5) == 0) return 0;
    if (s[0] == 't' || s[0] == 'f' || s[0] == 'n')
        return MALFORMED(d, start, "invalid literal (expected true, false or null)");
    const char *why;
    size_t      len = tft_json_number_len((const unsigned char *)s, (size_t)n, &why);
    if (len == 0) {
        char what[64];
        snprintf(what, sizeof what, "invalid number (%s)", why);
        return MALFORMED(d, start, what);
    }
    if (len < (size_t)n) return MALFORMED(d, start + (long)len, "unexpected character after a number");
    return 0;
}

// Validates and unescapes the string token in place; NUL-terminates it (at most where its closing
// quote was) and sets t->end to the unescaped end (t->start unchanged). Keys: is_key (a NUL is
// refused in any string here: labels, ids and keys are C strings).
static int string_fix(dec *d, jsmntok_t *t, int is_key) {
    char  *s = d->body;
    size_t n, at;
    char   what[96];
    if (tft_json_string_body((const unsigned char *)s + t->start, (size_t)(t->end - t->start), s + t->start,
                             is_key ? TFT_JSON_STR_KEY : 0, &n, &at, what, sizeof what) != 0)
        return MALFORMED(d, t->start + (long)at, what);
    s[t->start + (long)n] = '\0'; // <= end, the closing quote
    t->end                = t->start + (int)n;
    return 0;
}

static long raw_start(const jsmntok_t *t) { return t->type == JSMN_STRING ? t->start - 1 : t->start; }

static int strict_pass(dec *d) {
    int  stack[2 * MAX_DEPTH_CAP + 4], count[2 * MAX_DEPTH_CAP + 4];
    long raw_end[2 * MAX_DEPTH_CAP + 4]; // string keys: their raw end (after the closing quote)
    int  sp = 0, depth = 0;
    long pos = 0;
    for (int i = 0; i < d->nt; i++) {
        jsmntok_t *t = &d->t[i];
        // close whatever ended before this token
        while (sp > 0 && stack[sp - 1] != t->parent) {
            jsmntok_t *top = &d->t[stack[sp - 1]];
            if (top->type == JSMN_STRING) { // a key: exactly one value
                if (count[sp - 1] != 1) return MALFORMED(d, pos, "object key without a value");
            } else {
                if (gap(d, pos, top->end - 1, 0)) return -1;
                pos = top->end;
                depth--;
                if (top->type == JSMN_OBJECT && count[sp - 1] != top->size)
                    return MALFORMED(d, pos, "bad object");
            }
            sp--;
        }
        if (sp == 0 && (t->parent != -1 || i > 0)) return MALFORMED(d, raw_start(t), "more than one value");
        char sep = 0;
        if (sp > 0) {
            jsmntok_t *top = &d->t[stack[sp - 1]];
            if (top->type == JSMN_STRING) {
                if (count[sp - 1] != 0) return MALFORMED(d, raw_start(t), "two values for one key");
                sep = ':';
                pos = raw_end[sp - 1];
            } else {
                if (top->type == JSMN_OBJECT && t->type != JSMN_STRING)
                    return MALFORMED(d, raw_start(t), "object key is not a string");
                sep = count[sp - 1] ? ',' : 0;
            }
            count[sp - 1]++;
        }
        if (gap(d, pos, raw_start(t), sep)) return -1;
        switch (t->type) {
        case JSMN_OBJECT:
        case JSMN_ARRAY:
            if (++depth > (int)d->a->lim.max_depth)
                return fail(d, 413, "too_deep", -1, NULL, "request nests deeper than %u levels",
                            d->a->lim.max_depth);
            stack[sp] = i, count[sp] = 0, sp++;
            pos = t->start + 1;
            break;
        case JSMN_STRING: {
            long re     = t->end + 1;
            int  is_key = sp > 0 && d->t[stack[sp - 1]].type == JSMN_OBJECT;
            if (string_fix(d, t, is_key)) return -1;
            pos = re;
            if (is_key) stack[sp] = i, count[sp] = 0, raw_end[sp] = re, sp++;
            break;
        }
        case JSMN_PRIMITIVE:
            if (primitive_check(d, t->start, t->end - t->start)) return -1;
            pos = t->end;
            break;
        default: return MALFORMED(d, t->start, "bad token");
        }
    }
    while (sp > 0) {
        jsmntok_t *top = &d->t[stack[sp - 1]];
        if (top->type == JSMN_STRING) {
            if (count[sp - 1] != 1) return MALFORMED(d, pos, "object key without a value");
        } else {
            if (gap(d, pos, top->end - 1, 0)) return -1;
            pos = top->end;
        }
        sp--;
    }
    return gap(d, pos, (long)d->len, 0);
}

// ------------------------------------------------------------------------------------------------
// pass 2: the schema walk

static int skip(const dec *d, int i) { return tft_tok_skip(d->t, d->nt, i); }

static const char *str(const dec *d, int i) { return d->body + d->t[i].start; }
static int         is(const dec *d, int i, const char *s) { return strcmp(str(d, i), s) == 0; }

static const char *type_name(const dec *d, int i) { return tft_tok_type_name(&d->t[i], d->body); }

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
static int tok_double(char *body, const jsmntok_t *t, double *out) {
    if (t->type != JSMN_PRIMITIVE) return -1;
    char c = body[t->start];
    if (c != '-' && (c < '0' || c > '9')) return -1;
    if (fast_double(body + t->start, t->end - t->start, out) == 0) return 0;
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
    const jsmntok_t *t = &d->t[i];
    if (t->type != JSMN_PRIMITIVE) return -1;
    return tft_req_json_i64(d->body + t->start, t->end - t->start, out);
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
    if (d->t[obj].type != JSMN_OBJECT)
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
        if (!scalar && d->t[v].type != JSMN_ARRAY)
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
                if (d->t[e].type != JSMN_STRING) {
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
    if (d->t[s].type != JSMN_OBJECT)
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
        if (d->t[at[0]].type != JSMN_STRING)
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
        if (d->t[ti].type != JSMN_ARRAY)
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

// Nesting depth, checked in one linear pass before jsmn runs. jsmn closes a bracket by walking parent
// links up from the last token it made, so each ']' of "[[[...]]]" walks past every array already
// closed below it: n levels cost n^2/2 steps (80 KB of '[' ']' took 5.5 s on the I/O thread). Past
// max_depth the body is refused here, so jsmn only ever sees documents at most max_depth (<= 64)
// deep, where each close walks at most 2 * max_depth tokens (a key sits between an object and its
// value). Brackets inside strings do not count. jsmn also takes several values one after another
// ("{} [[[[..."), so anything but whitespace after the root value is refused here as the strict pass
// would (and a v2 binary section sent without its header length gets malformed_json, not too_deep);
// the scan ends where jsmn's does, at a NUL byte. Other malformations are left to jsmn and the strict
// pass (an unmatched ']' does not go below 0 here).
static int depth_ok(dec *d) {
    const unsigned char *s     = (const unsigned char *)d->body;
    uint32_t             depth = 0, max = d->a->lim.max_depth;
    int                  root  = 0; // the root value has begun
    for (size_t i = 0; i < d->len && s[i]; i++) {
        unsigned char c = s[i];
        if (depth == 0 && !is_ws((char)c)) {
            if (root) return MALFORMED(d, i, "unexpected character");
            root = 1;
            if (c != '"' && c != '[' && c != '{') { // a literal or number: to its end
                while (i + 1 < d->len && s[i + 1] && !is_ws((char)s[i + 1]) && !strchr("[]{}\"", s[i + 1])) i++;
                continue;
            }
        }
        switch (c) {
        case '"': // to the closing quote, past escapes (an unterminated string ends the scan)
            for (i++; i < d->len && s[i] != '"'; i++) {
                if (s[i] == '\\') i++;
                if (i < d->len && !s[i]) return 0; // jsmn stops at a NUL too
            }
            break;
        case '[':
        case '{':
            if (++depth > max)
                return fail(d, 413, "too_deep", -1, NULL, "request nests deeper than %u levels (at byte %zu)", max,
                            i);
            break;
        case ']':
        case '}': depth -= depth > 0; break;
        default: break;
        }
    }
    return 0;
}

// jsmn into the arena's free space (up to max_tokens tokens), then the strict pass; on success the
// arena keeps exactly the tokens used. d->body, len, a, err must be set.
static int tokenize(dec *d) {
    pthread_once(&c_locale_once, c_locale_init);
    if (c_locale == (locale_t)0) return fail(d, 500, "internal", -1, NULL, "newlocale(C) failed");
    if (d->len > (size_t)INT_MAX - 2)
        return fail(d, 413, "too_large", -1, NULL, "request body is larger than %d bytes", INT_MAX - 2);
    tft_req_arena *a = d->a;
    a->used          = 0;
    if (depth_ok(d)) return -1;
    size_t     room = a->cap / sizeof(jsmntok_t);
    jsmntok_t *toks = (jsmntok_t *)(void *)a->buf;
    if (room > a->lim.max_tokens) room = a->lim.max_tokens;
    if (room > (size_t)UINT_MAX) room = UINT_MAX;
    jsmn_parser p;
    jsmn_init(&p);
    int nt = jsmn_parse(&p, d->body, d->len, toks, (unsigned)room);
    if (nt == JSMN_ERROR_NOMEM) {
        if (room >= a->lim.max_tokens)
            return fail(d, 413, "too_many_elements", -1, NULL, "request has more than %u JSON values",
                        a->lim.max_tokens);
        return NOSPACE(d);
    }
    if (nt < 0) {
        // jsmn stops at a NUL byte: name it rather than "incomplete"
        const char *z = memchr(d->body, 0, d->len);
        if (z) return MALFORMED(d, z - d->body, "NUL byte");
        return MALFORMED(d, p.pos, nt == JSMN_ERROR_PART ? "incomplete document" : "invalid character");
    }
    if (nt == 0) return MALFORMED(d, 0, "empty document");
    a->used = (size_t)nt * sizeof(jsmntok_t);
    d->t = toks, d->nt = nt;
    return strict_pass(d);
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
    jsmntok_t t = {JSMN_PRIMITIVE, start, end, 0, -1};
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
    jsmntok_t *toks = d.t;

    // the request object
    if (toks[0].type != JSMN_OBJECT)
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
        if (toks[i].type != JSMN_PRIMITIVE || (body[toks[i].start] != 't' && body[toks[i].start] != 'f'))
            return fail(&d, 422, "wrong_type", -1, "interpret", "\"interpret\" must be true or false");
        out->interpret = body[toks[i].start] == 't';
    }
    if (at4[3]) {
        if (toks[at4[3]].type != JSMN_STRING)
            return fail(&d, 422, "wrong_type", -1, "model", "\"model\" must be a string (a model name)");
        out->model = str(&d, at4[3]);
    }
    int ss = at4[2];
    if (!ss || toks[ss].type != JSMN_ARRAY || toks[ss].size == 0)
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
// bounds the jsmn tokens (20 bytes each); each token is at most one 8-byte number/label pointer;
// keys (one ':' each) add a tft_column and an allocation's alignment, objects ('{') a series and its
// arrays. A malformed body with more tokens than that (jsmn takes "[1 2]") fails in the tokenizer,
// before the body is touched, and is retried with the worst case (one token per 2 bytes).
size_t tft_req_arena_bound(const char *b, size_t len) {
    size_t seps = 0, colons = 0, braces = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = b[i];
        seps += ch == ',' || ch == '[';
        colons += ch == ':';
        braces += ch == '{';
    }
    size_t nt = seps + colons + braces + 1;
    return 28 * nt + 56 * colons + 184 * braces + 8192;
}

size_t tft_req_arena_worst(size_t len) { return 84 * (len / 2 + 2) + 8192; }

int tft_req_arena_exhausted(const tft_req_error *e) {
    return e->http == 413 && e->code && strcmp(e->code, "too_large") == 0 && strstr(e->message, "arena");
}
