// json_out.c: response JSON into a caller buffer (see json_out.h). No allocation.
#include "json_out.h"
#include "../loader/json.h" // tft_json_utf8_seq: the one UTF-8 rule of the project
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
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

static void put_float(w *o, float v) { // caller checked isfinite; uselocale(C) is in effect
    char t[32];
    int  k = snprintf(t, sizeof t, "%.9g", (double)v);
    put(o, t, (size_t)k);
}

// n floats "a,b,c" (no brackets); uselocale(C) is in effect
static void put_floats(w *o, const float *x, size_t n) {
    for (size_t i = 0; i < n && !o->full; i++) {
        if (i) put(o, ",", 1);
        put_float(o, x[i]);
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
    put_floats(&o, f->quantile_levels, Q);
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
