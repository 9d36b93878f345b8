// json_out.c: response JSON into a caller buffer (see json_out.h). No allocation.
#include "json_out.h"
#include "../loader/json.h" // tft_json_utf8_seq: the one UTF-8 rule of the project
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef tft_jw w;

static void put(w *o, const char *s, size_t len) {
    if (o->full || len > o->cap - o->n) {
        o->full = 1;
        return;
    }
    memcpy(o->buf + o->n, s, len);
    o->n += len;
}
static void puts_(w *o, const char *s) { put(o, s, strlen(s)); }


// A JSON string; invalid UTF-8 (e.g. a message cut mid-character) becomes U+FFFD.
static void put_str(w *o, const char *s) {
    static const char hex[] = "0123456789abcdef";
    put(o, "\"", 1);
    const char *run = s, *end = s + strlen(s);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x80) {
            size_t n = tft_json_utf8_seq((const unsigned char *)s, (size_t)(end - s));
            if (n) {
                s += n - 1;
                continue;
            }
            put(o, run, (size_t)(s - run));
            put(o, "\\ufffd", 6);
            run = s + 1;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(o, run, (size_t)(s - run));
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t el = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default: e[1] = 'u', e[2] = '0', e[3] = '0', e[4] = hex[c >> 4], e[5] = hex[c & 15], el = 6;
        }
        put(o, e, el);
        run = s + 1;
    }
    put(o, run, (size_t)(s - run));
    put(o, "\"", 1);
}

static void put_int(w *o, long long v) {
    char t[24];
    int  k = snprintf(t, sizeof t, "%lld", v);
    put(o, t, (size_t)k);
}

// ------------------------------------------------------------------------------------------------
// "%.9g" of a float without printf: byte-identical to snprintf("%.9g", (double)v) in the C locale
// (the CLI prints with printf, and tests/test_json_out.c holds the server's answer to the CLI's
// bytes), at a fraction of its cost (printf's generic multi-precision path is ~100-200 ns a float;
// a forecast answer is ~1,300 floats a series).
//
// A finite float is m * 2^e exactly (m < 2^24). Its 9 significant digits are
// q = round(v * 10^j) with 10^8 <= q < 10^9, rounded half to even on the exact binary value as
// glibc's printf does, computed exactly in 128-bit integers:
//  - e >= 0: v = m << e < 2^128 is an integer; below 10^9 it is printed as it is (%g's fixed form,
//    no fraction), else q = v / 10^k with the remainder deciding the rounding (k <= 30);
//  - e < 0: v * 10^j = (m * 10^j) / 2^-e: the product is exact in 128 bits while j <= 31 (10^31 <
//    2^103, m < 2^24), q is its top bits and the shifted-out bits decide the rounding. That covers
//    |v| >= ~1e-23; smaller magnitudes (and subnormals) go to snprintf, which is exact (and rare).
// Then %g's layout: exponent form when the rounded value's decimal exponent X is < -4 or >= 9,
// trailing zeros (and a bare '.') removed, "e+XX"/"e-XX" with at least two exponent digits.
// Checked against snprintf on every finite float (bench_codec --exhaustive-floats) and on random
// and edge patterns in tests/test_json_out.c.

__extension__ typedef unsigned __int128 u128;

#define G9_MAX 16 // "-1.23456789e-38": 15 bytes, +1 for the NUL of the snprintf fallback

static const uint64_t pow10_u64[20] = {
    1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull, 1000000000ull,
    10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull, 100000000000000ull, 1000000000000000ull,
    10000000000000000ull, 100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull};

// 10^k for k <= 38 (u128 holds up to ~3.4e38)
static u128 pow10_u128(int k) { return k <= 19 ? pow10_u64[k] : (u128)pow10_u64[k - 19] * pow10_u64[19]; }

static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                     "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                     "8081828384858687888990919293949596979899";

// the 9 digits of q (10^8 <= q < 10^9) into d[0, 9)
static void nine_digits(char *d, uint32_t q) {
    for (int i = 7; i >= 1; i -= 2) {
        uint32_t r = q % 100;
        q /= 100;
        d[i] = digit_pairs[2 * r], d[i + 1] = digit_pairs[2 * r + 1];
    }
    d[0] = (char)('0' + q);
}

// %g's layout of q (9 digits, 10^8 <= q < 10^9) times 10^(X - 8), after the sign
static char *g9_layout(char *p, uint32_t q, int X) {
    char d[9];
    nine_digits(d, q);
    int nd = 9;
    while (nd > 1 && d[nd - 1] == '0') nd--;
    if (X < -4 || X >= 9) {
        *p++ = d[0];
        if (nd > 1) {
            *p++ = '.';
            memcpy(p, d + 1, (size_t)nd - 1);
            p += nd - 1;
        }
        *p++ = 'e';
        *p++ = X < 0 ? '-' : '+';
        int ax = X < 0 ? -X : X; // < 100 for any float
        *p++ = digit_pairs[2 * ax], *p++ = digit_pairs[2 * ax + 1];
    } else if (X >= 0) {
        memcpy(p, d, (size_t)X + 1);
        p += X + 1;
        if (nd > X + 1) {
            *p++ = '.';
            memcpy(p, d + X + 1, (size_t)(nd - X - 1));
            p += nd - X - 1;
        }
    } else {
        *p++ = '0', *p++ = '.';
        for (int z = 0; z < -X - 1; z++) *p++ = '0';
        memcpy(p, d, (size_t)nd);
        p += nd;
    }
    return p;
}

// floor(log10(2^L)) for |L| <= 1650 (Ryu's constant: 78913 / 2^18 ~ log10 2); arithmetic shift of a
// negative product is avoided by the ceil identity floor(y) = -ceil(-y)
static int floor_log10_pow2(int L) { return L >= 0 ? (L * 78913) >> 18 : -((-L * 78913 + (1 << 18) - 1) >> 18); }

// The 9 significant digits of a finite non-zero normal float (bits b, sign ignored), rounded half
// to even: *q in [10^8, 10^9) and the decimal exponent *X of q * 10^(X - 8). -1 when |v| < ~1e-23
// (the 128-bit products would not hold it).
static int g9_digits(uint32_t b, uint32_t *q, int *X) {
    uint32_t m = (b & 0x7FFFFF) | 1u << 23;
    int      e = (int)((b >> 23) & 0xFF) - 150;
    int      x = floor_log10_pow2(e + 23); // v in [2^(e+23), 2^(e+24)): its decimal exponent is x or x + 1
    if (e >= 0) {
        u128 N = (u128)m << e, pk, t;
        int  k = x - 8 < 0 ? 0 : x - 8;
        for (;;) { // at most one correction of the estimate either way
            pk = pow10_u128(k), t = N / pk;
            if (t >= 1000000000u) k++;
            else if (t < 100000000u && k > 0) k--;
            else break;
        }
        u128 r = N - t * pk; // 2r < 2 * 10^30: no overflow
        *q     = (uint32_t)t;
        if (2 * r > pk || (2 * r == pk && (*q & 1))) ++*q;
        *X = k + 8;
    } else {
        int  s = -e, j = 8 - x;
        u128 N, t;
        for (;;) {
            if (j > 31 || s >= 128) return -1;
            N = j <= 19 ? (u128)m * pow10_u64[j] : (u128)(m * pow10_u64[j - 19]) * pow10_u64[19];
            t = N >> s;
            if (t >= 1000000000u) j--;
            else if (t < 100000000u) j++;
            else break;
        }
        u128 r = N & (((u128)1 << s) - 1), half = (u128)1 << (s - 1);
        *q     = (uint32_t)t;
        if (r > half || (r == half && (*q & 1))) ++*q;
        *X = 8 - j;
    }
    if (*q == 1000000000u) *q = 100000000u, ++*X; // e.g. 999999999.5 -> 1.00000000e9
    return 0;
}

// "%.9g" of finite v into out (at least G9_MAX bytes); returns the length. Needs uselocale(C) only
// for the snprintf fallback (|v| < ~1e-23, subnormals).
static size_t g9(char *out, float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    char *p = out;
    if (b >> 31) *p++ = '-';
    if ((b & 0x7FFFFFFF) == 0) { // +-0
        *p++ = '0';
        return (size_t)(p - out);
    }
    uint32_t q, ef = (b >> 23) & 0xFF; // the biased exponent: v = m * 2^(ef - 150), m < 2^24
    int      X;
    if (ef >= 150 && ef < 157) {
        // v = m << e with e in [0, 7): an integer below 2^31; below 10^9 it is printed as it is (%g's
        // fixed form, no fraction: 16777216 -> "16777216")
        uint32_t n = ((b & 0x7FFFFF) | 1u << 23) << (ef - 150);
        if (n < 1000000000u) {
            char d[10];
            int  k = 10;
            do d[--k] = (char)('0' + n % 10), n /= 10;
            while (n);
            memcpy(p, d + k, (size_t)(10 - k));
            return (size_t)(p + 10 - k - out);
        }
    }
    if (ef == 0 || g9_digits(b, &q, &X) != 0) {
        int n = snprintf(out, G9_MAX, "%.9g", (double)v); // uselocale(C) is in effect; writes the sign again
        return n > 0 ? (size_t)n : 0;
    }
    return (size_t)(g9_layout(p, q, X) - out);
}

static void put_float(w *o, float v) { // caller checked isfinite; uselocale(C) is in effect
    char t[G9_MAX];
    put(o, t, g9(t, v));
}

// n floats "a,b,c" (no brackets); uselocale(C) is in effect. Straight into the buffer while there
// is room for the longest one (the common case), through put() near the end.
static void put_floats(w *o, const float *x, size_t n) {
    for (size_t i = 0; i < n && !o->full; i++) {
        if (o->cap - o->n > G9_MAX + 1) {
            char *p = o->buf + o->n;
            if (i) *p++ = ',';
            p += g9(p, x[i]);
            o->n = (size_t)(p - o->buf);
        } else {
            if (i) put(o, ",", 1);
            put_float(o, x[i]);
        }
    }
}

// A quantile level as the shortest "%.Ng" (N = 1..9) that reads back as the same float: 0.02f is
// "0.02", not "0.0199999996" ("%.9g" of the float). The one rule for levels in every output of the
// server and the CLI (JSON, table and CSV headers, tft info). uselocale(C) is in effect.
static size_t level(char *out, float v) {
    for (int digits = 1; digits < 9; digits++) {
        int n = snprintf(out, G9_MAX, "%.*g", digits, (double)v);
        if (n > 0 && n < G9_MAX && strtof(out, NULL) == v) return (size_t)n;
    }
    return g9(out, v);
}

static void put_levels(w *o, const float *x, size_t n) {
    for (size_t i = 0; i < n && !o->full; i++) {
        char t[G9_MAX];
        if (i) put(o, ",", 1);
        put(o, t, level(t, x[i]));
    }
}

static locale_t       c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void           c_locale_init(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

// The C locale for "%.9g" on this thread (the decimal point must be '.'); returns the one to restore.
static locale_t c_begin(void) {
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale ? uselocale(c_locale) : (locale_t)0;
}
static void c_end(locale_t old) {
    if (c_locale) uselocale(old);
}

static ssize_t finish(w *o) {
    if (o->full) return TFT_RESP_E_SMALL;
    if (o->n < o->cap) o->buf[o->n] = '\0';
    return (ssize_t)o->n;
}

void    tft_jw_raw(tft_jw *o, const char *s, size_t len) { put(o, s, len); }
void    tft_jw_lit(tft_jw *o, const char *s) { puts_(o, s); }
void    tft_jw_str(tft_jw *o, const char *s) { put_str(o, s ? s : ""); }
void    tft_jw_int(tft_jw *o, long long v) { put_int(o, v); }
ssize_t tft_jw_finish(tft_jw *o) { return finish(o); }
void    tft_jw_float(tft_jw *o, float v) {
    locale_t old = c_begin();
    put_float(o, v);
    c_end(old);
}
void tft_jw_levels(tft_jw *o, const float *x, size_t n) {
    locale_t old = c_begin();
    put_levels(o, x, n);
    c_end(old);
}
size_t tft_fmt_level(char out[TFT_LEVEL_MAX], float v) {
    locale_t old = c_begin();
    size_t   n   = level(out, v);
    c_end(old);
    out[n] = 0;
    return n;
}
void tft_jw_floats(tft_jw *o, const float *x, size_t n) {
    locale_t old = c_begin();
    put_floats(o, x, n);
    c_end(old);
}

static int all_finite(const float *x, size_t n) {
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= isfinite(x[i]) != 0;
    return ok;
}

static void put_names(w *o, const char *const *names, int32_t n) {
    put(o, "[", 1);
    for (int32_t i = 0; i < n; i++) {
        if (i) put(o, ",", 1);
        put_str(o, names[i] ? names[i] : "");
    }
    put(o, "]", 1);
}

// rows x [cols] as [[..],[..]] from x (row stride cols)
static void put_matrix(w *o, const float *x, size_t rows, size_t cols) {
    put(o, "[", 1);
    for (size_t r = 0; r < rows && !o->full; r++) {
        put(o, r ? ",[" : "[", r ? 2 : 1);
        put_floats(o, x + r * cols, cols);
        put(o, "]", 1);
    }
    put(o, "]", 1);
}

// Series b's "interpretation" object, the structure of `tft predict --interpret` (engine/cli/tft_main.c).
static void put_interpretation(w *o, const tft_resp_forecast *f, size_t b) {
    size_t T = (size_t)f->horizon, NH = (size_t)f->n_heads, Tm = (size_t)f->max_encoder_length;
    size_t ns = (size_t)f->n_static_vars, ne = (size_t)f->n_encoder_vars, nd = (size_t)f->n_decoder_vars;
    size_t el = (size_t)f->encoder_lengths[b];
    puts_(o, ",\"interpretation\":{\"variables\":{\"static\":");
    put_names(o, f->static_vars, f->n_static_vars);
    puts_(o, ",\"encoder\":");
    put_names(o, f->encoder_vars, f->n_encoder_vars);
    puts_(o, ",\"decoder\":");
    put_names(o, f->decoder_vars, f->n_decoder_vars);
    put(o, "}", 1);
    if (f->static_weights) {
        puts_(o, ",\"static_weights\":[");
        put_floats(o, f->static_weights + b * ns, ns);
        put(o, "]", 1);
    }
    if (f->encoder_weights) { // only the series' encoder_length rows of its Temax
        puts_(o, ",\"encoder_weights\":");
        put_matrix(o, f->encoder_weights + b * Tm * ne, el, ne);
    }
    if (f->decoder_weights) {
        puts_(o, ",\"decoder_weights\":");
        put_matrix(o, f->decoder_weights + b * T * nd, T, nd);
    }
    if (f->attention) { // [T][nh][encoder_length keys, then the T decoder keys at Temax..Temax+T)
        puts_(o, ",\"attention\":[");
        for (size_t t = 0; t < T && !o->full; t++) {
            put(o, t ? ",[" : "[", t ? 2 : 1);
            for (size_t h = 0; h < NH; h++) {
                const float *row = f->attention + ((b * T + t) * NH + h) * (Tm + T);
                put(o, h ? ",[" : "[", h ? 2 : 1);
                put_floats(o, row, el);
                if (el && T) put(o, ",", 1);
                put_floats(o, row + Tm, T);
                put(o, "]", 1);
            }
            put(o, "]", 1);
        }
        put(o, "]", 1);
    }
    put(o, "}", 1);
}

// Checks the interpretation fields; 1 when there is one to write, 0 when none, <0 a TFT_RESP_E_*.
static int interpretation_check(const tft_resp_forecast *f) {
    if (!f->attention && !f->static_weights && !f->encoder_weights && !f->decoder_weights) return 0;
    if (!f->encoder_lengths || f->n_heads < 0 || f->max_encoder_length < 0 || f->n_static_vars < 0 ||
        f->n_encoder_vars < 0 || f->n_decoder_vars < 0 || (f->n_static_vars && !f->static_vars) ||
        (f->n_encoder_vars && !f->encoder_vars) || (f->n_decoder_vars && !f->decoder_vars))
        return TFT_RESP_E_ARG;
    size_t B = (size_t)f->n_series, T = (size_t)f->horizon, NH = (size_t)f->n_heads;
    size_t Tm = (size_t)f->max_encoder_length;
    for (size_t b = 0; b < B; b++) // a length past Temax would read past the series' rows
        if (f->encoder_lengths[b] < 0 || f->encoder_lengths[b] > f->max_encoder_length) return TFT_RESP_E_ARG;
    // every value that will be written must be finite (padding past a series' length is not written)
    for (size_t b = 0; b < B; b++) {
        size_t el = (size_t)f->encoder_lengths[b];
        if (f->static_weights && !all_finite(f->static_weights + b * f->n_static_vars, (size_t)f->n_static_vars))
            return TFT_RESP_E_NONFINITE;
        if (f->encoder_weights && !all_finite(f->encoder_weights + b * Tm * f->n_encoder_vars,
                                              el * (size_t)f->n_encoder_vars))
            return TFT_RESP_E_NONFINITE;
        if (f->decoder_weights && !all_finite(f->decoder_weights + b * T * f->n_decoder_vars,
                                              T * (size_t)f->n_decoder_vars))
            return TFT_RESP_E_NONFINITE;
        if (f->attention)
            for (size_t r = 0; r < T * NH; r++) {
                const float *row = f->attention + (b * T * NH + r) * (Tm + T);
                if (!all_finite(row, el) || !all_finite(row + Tm, T)) return TFT_RESP_E_NONFINITE;
            }
    }
    return 1;
}

ssize_t tft_resp_write_forecast(char *buf, size_t cap, const tft_resp_forecast *f) {
    if (!f || (!buf && cap) || f->n_quantiles < 0 || f->horizon < 0 || f->n_series < 0 || f->n_targets < 0 ||
        (f->n_quantiles && !f->quantile_levels) || (f->n_series && !f->ids) || (f->n_targets && !f->targets) ||
        (f->n_series && f->n_targets && f->horizon && f->n_quantiles && !f->quantiles) || f->n_timings < 0 ||
        (f->n_timings && !f->timings))
        return TFT_RESP_E_ARG;
    size_t B = (size_t)f->n_series, NT = (size_t)f->n_targets, T = (size_t)f->horizon, Q = (size_t)f->n_quantiles;
    if (!all_finite(f->quantile_levels, Q) || !all_finite(f->quantiles, B * NT * T * Q)) return TFT_RESP_E_NONFINITE;
    int interp = interpretation_check(f);
    if (interp < 0) return interp;
    locale_t old = c_begin();
    w        o   = {buf, cap, 0, 0};
    puts_(&o, "{\"model\":{\"name\":");
    put_str(&o, f->model_name ? f->model_name : "");
    puts_(&o, ",\"sha256\":");
    put_str(&o, f->model_sha256 ? f->model_sha256 : "");
    puts_(&o, "},\"quantiles\":[");
    put_levels(&o, f->quantile_levels, Q);
    puts_(&o, "],\"horizon\":");
    put_int(&o, f->horizon);
    puts_(&o, ",\"forecasts\":[");
    for (size_t b = 0; b < B && !o.full; b++) {
        puts_(&o, b ? ",{\"id\":" : "{\"id\":");
        put_str(&o, f->ids[b] ? f->ids[b] : "");
        if (f->encoder_lengths) {
            puts_(&o, ",\"encoder_length\":");
            put_int(&o, f->encoder_lengths[b]);
        }
        puts_(&o, ",\"targets\":{");
        for (size_t t = 0; t < NT; t++) {
            if (t) put(&o, ",", 1);
            put_str(&o, f->targets[t] ? f->targets[t] : "");
            put(&o, ":", 1);
            put_matrix(&o, f->quantiles + (b * NT + t) * T * Q, T, Q);
        }
        put(&o, "}", 1);
        if (interp) put_interpretation(&o, f, b);
        put(&o, "}", 1);
    }
    put(&o, "]", 1);
    if (f->n_timings) {
        puts_(&o, ",\"timings\":{");
        for (int32_t i = 0; i < f->n_timings; i++) {
            char key[80];
            snprintf(key, sizeof key, "%s_us", f->timings[i].name ? f->timings[i].name : "");
            if (i) put(&o, ",", 1);
            put_str(&o, key);
            put(&o, ":", 1);
            put_int(&o, (long long)f->timings[i].us);
        }
        put(&o, "}", 1);
    }
    put(&o, "}", 1);
    c_end(old);
    return finish(&o);
}

ssize_t tft_resp_write_error(char *buf, size_t cap, const char *code, const char *message, int32_t series,
                             const char *field) {
    if (!buf && cap) return TFT_RESP_E_ARG;
    w o = {buf, cap, 0, 0};
    puts_(&o, "{\"error\":{\"code\":");
    put_str(&o, code ? code : "internal");
    puts_(&o, ",\"message\":");
    put_str(&o, message ? message : "");
    puts_(&o, ",\"series\":");
    if (series >= 0) put_int(&o, series);
    else puts_(&o, "null");
    puts_(&o, ",\"field\":");
    if (field && *field) put_str(&o, field);
    else puts_(&o, "null");
    puts_(&o, "}}");
    return finish(&o);
}

const char *tft_model_name_of_path(const char *path, char *buf, size_t cap) {
    const char *base = strrchr(path, '/');
    base             = base ? base + 1 : path;
    size_t n         = strlen(base);
    if (n > 12 && strcmp(base + n - 12, ".safetensors") == 0) n -= 12;
    snprintf(buf, cap, "%.*s", (int)n, base);
    return buf;
}
