// json_out.c: response JSON into a caller buffer (see json_out.h). No allocation.
#include "json_out.h"
#include "../loader/json.h" // tft_json_utf8_seq: the one UTF-8 rule of the project
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct w {
    char  *buf;
    size_t cap, n;
    int    full;
} w;

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

static locale_t       c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void           c_locale_init(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

static ssize_t finish(w *o) {
    if (o->full) return TFT_RESP_E_SMALL;
    if (o->n < o->cap) o->buf[o->n] = '\0';
    return (ssize_t)o->n;
}

ssize_t tft_resp_write_forecast(char *buf, size_t cap, const tft_resp_forecast *f) {
    if (!f || (!buf && cap) || f->n_quantiles < 0 || f->horizon < 0 || f->n_series < 0 || f->n_targets < 0 ||
        (f->n_quantiles && !f->quantile_levels) || (f->n_series && !f->ids) || (f->n_targets && !f->targets) ||
        (f->n_series && f->n_targets && f->horizon && f->n_quantiles && !f->quantiles))
        return TFT_RESP_E_ARG;
    size_t B = (size_t)f->n_series, NT = (size_t)f->n_targets, T = (size_t)f->horizon, Q = (size_t)f->n_quantiles;
    for (size_t q = 0; q < Q; q++)
        if (!isfinite(f->quantile_levels[q])) return TFT_RESP_E_NONFINITE;
    for (size_t i = 0; i < B * NT * T * Q; i++)
        if (!isfinite(f->quantiles[i])) return TFT_RESP_E_NONFINITE;
    pthread_once(&c_locale_once, c_locale_init);
    locale_t old = c_locale ? uselocale(c_locale) : (locale_t)0;
    w        o   = {buf, cap, 0, 0};
    puts_(&o, "{\"model\":{\"name\":");
    put_str(&o, f->model_name ? f->model_name : "");
    puts_(&o, ",\"sha256\":");
    put_str(&o, f->model_sha256 ? f->model_sha256 : "");
    puts_(&o, "},\"quantiles\":[");
    for (size_t q = 0; q < Q; q++) {
        if (q) put(&o, ",", 1);
        put_float(&o, f->quantile_levels[q]);
    }
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
            puts_(&o, ":[");
            const float *x = f->quantiles + (b * NT + t) * T * Q;
            for (size_t s = 0; s < T; s++) {
                put(&o, s ? ",[" : "[", s ? 2 : 1);
                for (size_t q = 0; q < Q; q++) {
                    if (q) put(&o, ",", 1);
                    put_float(&o, x[s * Q + q]);
                }
                put(&o, "]", 1);
            }
            put(&o, "]", 1);
        }
        puts_(&o, "}}");
    }
    puts_(&o, "]}");
    if (c_locale) uselocale(old);
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
