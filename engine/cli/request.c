// request.c: forecast request JSON -> tft_series (see request.h, REQUEST.md).
#include "request.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void *keep(tft_request *r, size_t bytes) {
    if (r->n_blocks == r->cap_blocks) {
        int32_t cap = r->cap_blocks ? 2 * r->cap_blocks : 16;
        void  **nb  = realloc(r->blocks, sizeof(void *) * (size_t)cap);
        if (!nb) return NULL;
        r->blocks = nb, r->cap_blocks = cap;
    }
    void *p = calloc(1, bytes ? bytes : 1);
    if (p) r->blocks[r->n_blocks++] = p;
    return p;
}

#define FAIL(st, ...) (snprintf(err, errlen, __VA_ARGS__), (st))

// One object of name -> array (history/future) or name -> scalar (static) into columns.
static tft_status columns(const tft_model *m, tft_request *r, const tft_json *obj, int scalar, int32_t si,
                          const char *sid, const char *part, tft_column **out, int32_t *n, char *err, size_t errlen) {
    *out = NULL, *n = 0;
    if (!obj) return TFT_OK;
    if (obj->type != TFT_JSON_OBJECT)
        return FAIL(TFT_ERR_INVALID_ARG, "series %d '%s': \"%s\" must be an object of column -> %s", si, sid, part,
                    scalar ? "value" : "array");
    tft_column *cols = keep(r, sizeof *cols * (obj->len + 1));
    if (!cols) return FAIL(TFT_ERR_NOMEM, "out of memory");
    int32_t k = 0;
    for (const tft_json *c = obj->child; c; c = c->next, k++) {
        int is_cat = tft_model_input_is_categorical(m, c->key);
        if (is_cat < 0)
            return FAIL(TFT_ERR_UNKNOWN_VAR, "series %d '%s': %s has '%s', which is not an input of this model "
                                             "(see `tft info`)", si, sid, part, c->key);
        const tft_json *first = scalar ? c : c->child;
        uint32_t        len   = scalar ? 1 : c->len;
        if (!scalar && c->type != TFT_JSON_ARRAY)
            return FAIL(TFT_ERR_INVALID_ARG, "series %d '%s': %s '%s' must be an array", si, sid, part, c->key);
        cols[k].name = c->key;
        cols[k].len  = (int32_t)len;
        if (is_cat) {
            const char **labels = keep(r, sizeof(char *) * (len + 1));
            if (!labels) return FAIL(TFT_ERR_NOMEM, "out of memory");
            uint32_t i = 0;
            for (const tft_json *v = first; i < len; v = v->next, i++) {
                if (v->type != TFT_JSON_STRING)
                    return FAIL(TFT_ERR_INVALID_ARG, "series %d '%s': %s '%s'[%u] must be a string (a category label)",
                                si, sid, part, c->key, i);
                labels[i] = v->str;
            }
            cols[k].labels = labels;
        } else {
            double *vals = keep(r, sizeof(double) * (len + 1));
            if (!vals) return FAIL(TFT_ERR_NOMEM, "out of memory");
            uint32_t i = 0;
            for (const tft_json *v = first; i < len; v = v->next, i++) {
                if (v->type != TFT_JSON_NUMBER)
                    return FAIL(TFT_ERR_INVALID_ARG, "series %d '%s': %s '%s'[%u] must be a number", si, sid, part,
                                c->key, i);
                if (!isfinite(v->num))
                    return FAIL(TFT_ERR_NONFINITE, "series %d '%s': %s '%s'[%u] = %s is not a finite float", si, sid,
                                part, c->key, i, v->str);
                vals[i] = v->num;
            }
            cols[k].values = vals;
        }
    }
    *out = cols, *n = k;
    return TFT_OK;
}

static int key_ok(const char *key, const char *const *allowed) {
    for (; *allowed; allowed++)
        if (strcmp(key, *allowed) == 0) return 1;
    return 0;
}

tft_status tft_request_parse(const tft_model *m, const char *text, size_t len, tft_request *r, char *err,
                             size_t errlen) {
    memset(r, 0, sizeof *r);
    char            jerr[200];
    tft_json_limits lim = tft_json_default_limits();
    lim.max_depth       = 16;
    if (tft_json_parse(text, len, &lim, &r->doc, jerr, sizeof jerr) != 0)
        return FAIL(TFT_ERR_INVALID_ARG, "request is not valid JSON: %s", jerr);
    const tft_json *root = r->doc;
    if (root->type != TFT_JSON_OBJECT) return FAIL(TFT_ERR_INVALID_ARG, "request must be a JSON object");
    static const char *const top_keys[] = {"horizon", "interpret", "series", "model", NULL};
    for (const tft_json *k = root->child; k; k = k->next)
        if (!key_ok(k->key, top_keys)) return FAIL(TFT_ERR_INVALID_ARG, "request has unknown key '%s'", k->key);
    const tft_json *h = tft_json_get(root, "horizon");
    if (h) {
        int64_t v;
        const tft_model_info *mi = tft_model_get_info(m);
        if (tft_json_i64(h, &v) != 0)
            return FAIL(TFT_ERR_INVALID_ARG, "\"horizon\" must be an integer");
        if (v < mi->min_prediction_length || v > mi->max_prediction_length)
            return FAIL(TFT_ERR_SHAPE, "horizon %lld is outside [min_prediction_length %d, max_prediction_length %d]",
                        (long long)v, mi->min_prediction_length, mi->max_prediction_length);
        r->horizon = (int32_t)v;
    }
    const tft_json *ip = tft_json_get(root, "interpret");
    if (ip) {
        if (ip->type != TFT_JSON_TRUE && ip->type != TFT_JSON_FALSE)
            return FAIL(TFT_ERR_INVALID_ARG, "\"interpret\" must be true or false");
        r->interpret = ip->type == TFT_JSON_TRUE;
    }
    const tft_json *ss = tft_json_get(root, "series");
    if (!ss || ss->type != TFT_JSON_ARRAY || ss->len == 0)
        return FAIL(TFT_ERR_INVALID_ARG, "request needs \"series\": a non-empty array");
    r->n      = (int32_t)ss->len;
    r->series = keep(r, sizeof *r->series * ss->len);
    r->ids    = keep(r, sizeof(char *) * ss->len);
    if (!r->series || !r->ids) return FAIL(TFT_ERR_NOMEM, "out of memory");
    static const char *const series_keys[] = {"id", "static", "time_idx", "history", "future", NULL};
    int32_t                  i             = 0;
    for (const tft_json *s = ss->child; s; s = s->next, i++) {
        tft_series *x = &r->series[i];
        if (s->type != TFT_JSON_OBJECT) return FAIL(TFT_ERR_INVALID_ARG, "series %d must be an object", i);
        for (const tft_json *k = s->child; k; k = k->next)
            if (!key_ok(k->key, series_keys)) return FAIL(TFT_ERR_INVALID_ARG, "series %d has unknown key '%s'", i, k->key);
        const tft_json *id = tft_json_get(s, "id");
        if (id && id->type != TFT_JSON_STRING) return FAIL(TFT_ERR_INVALID_ARG, "series %d: \"id\" must be a string", i);
        if (id) {
            r->ids[i] = id->str;
        } else {
            char *buf = keep(r, 16);
            if (!buf) return FAIL(TFT_ERR_NOMEM, "out of memory");
            snprintf(buf, 16, "%d", i);
            r->ids[i] = buf;
        }
        x->id      = r->ids[i];
        x->horizon = r->horizon;
        tft_status st;
        if ((st = columns(m, r, tft_json_get(s, "static"), 1, i, x->id, "static", (tft_column **)&x->statics,
                          &x->n_statics, err, errlen)) != TFT_OK)
            return st;
        const tft_json *hist = tft_json_get(s, "history");
        if (!hist) return FAIL(TFT_ERR_INVALID_ARG, "series %d '%s': \"history\" is missing", i, x->id);
        if ((st = columns(m, r, hist, 0, i, x->id, "history", (tft_column **)&x->history, &x->n_history_columns, err,
                          errlen)) != TFT_OK)
            return st;
        if ((st = columns(m, r, tft_json_get(s, "future"), 0, i, x->id, "future", (tft_column **)&x->future,
                          &x->n_future_columns, err, errlen)) != TFT_OK)
            return st;
        x->n_history = x->n_history_columns > 0 ? x->history[0].len : 0;
        const tft_json *ti = tft_json_get(s, "time_idx");
        if (ti) {
            if (ti->type != TFT_JSON_ARRAY)
                return FAIL(TFT_ERR_INVALID_ARG, "series %d '%s': \"time_idx\" must be an array of integers", i, x->id);
            int64_t *t = keep(r, sizeof(int64_t) * (ti->len + 1));
            if (!t) return FAIL(TFT_ERR_NOMEM, "out of memory");
            uint32_t k = 0;
            for (const tft_json *v = ti->child; v; v = v->next, k++)
                if (tft_json_i64(v, &t[k]) != 0)
                    return FAIL(TFT_ERR_INVALID_ARG, "series %d '%s': time_idx[%u] is not an integer", i, x->id, k);
            int32_t want = x->n_history + (r->horizon ? r->horizon : tft_model_get_info(m)->max_prediction_length);
            if ((int32_t)ti->len != want)
                return FAIL(TFT_ERR_SHAPE, "series %d '%s': time_idx has %u values, expected history + horizon = %d", i,
                            x->id, ti->len, want);
            x->time_idx = t;
        }
    }
    return TFT_OK;
}

void tft_request_free(tft_request *r) {
    if (!r) return;
    for (int32_t i = 0; i < r->n_blocks; i++) free(r->blocks[i]);
    free(r->blocks);
    tft_json_free(r->doc);
    memset(r, 0, sizeof *r);
}

char *tft_read_file(const char *path, size_t *len, char *err, size_t errlen) {
    return tft_read_file_max(path, TFT_CLI_MAX_REQUEST_BYTES, len, err, errlen);
}

// A regular file's size is known before reading: one over the cap is refused without reading a byte.
// Anything else (a pipe, a device such as /dev/zero) is read in chunks and refused as soon as it
// passes the cap, so no input makes the buffer grow past max + 1 bytes.
char *tft_read_file_max(const char *path, size_t max, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
        fclose(f);
        snprintf(err, errlen, "%s is %llu bytes, more than the request size cap of %zu (--max-request-bytes)", path,
                 (unsigned long long)st.st_size, max);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char  *buf = malloc(cap);
    int    too_big = 0;
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n > max) { // one byte past the cap is enough to know
            too_big = 1;
            break;
        }
        if (n + 1 < cap) break;
        size_t ncap = cap * 2 > max + 2 ? max + 2 : cap * 2; // room for max + 1 bytes and the NUL
        char  *nb   = realloc(buf, ncap);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb, cap = ncap;
    }
    int bad = ferror(f);
    fclose(f);
    if (too_big) {
        free(buf);
        snprintf(err, errlen, "%s is larger than the request size cap of %zu bytes (--max-request-bytes)", path, max);
        return NULL;
    }
    if (!buf || bad) {
        free(buf);
        snprintf(err, errlen, "cannot read %s", path);
        return NULL;
    }
    buf[n] = 0;
    *len   = n;
    return buf;
}
