// prom_map.c: the "prometheus" section of the fleet config, and a decoded WriteRequest mapped by it
// to fleet points and statics (rules in prom_map.h).
#include "prom_map.h"

#include <math.h>
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/prompb/remote.pb-c.h"

typedef struct pm_str { char *s; size_t len; } pm_str; // NUL-terminated copy, len without the NUL

typedef struct pm_column {
    pm_str name, metric;
    double scale;
    pm_str match_name[PROM_MAP_MAX_MATCH], match_value[PROM_MAP_MAX_MATCH];
    int    n_match;
} pm_column;

typedef struct pm_static { pm_str name, label; } pm_static;

struct prom_map {
    pm_str     series_label[PROM_MAP_MAX_SERIES_LABELS];
    int        n_series_labels;
    pm_str     join;
    pm_column *columns;
    int        n_columns;
    pm_static  statics[PROM_MAP_MAX_STATICS];
    int        n_statics;
};

void prom_map_free(prom_map *m) {
    if (!m) return;
    for (int i = 0; i < m->n_series_labels; i++) free(m->series_label[i].s);
    free(m->join.s);
    for (int c = 0; m->columns && c < m->n_columns; c++) {
        pm_column *col = &m->columns[c];
        free(col->name.s), free(col->metric.s);
        for (int k = 0; k < col->n_match; k++) free(col->match_name[k].s), free(col->match_value[k].s);
    }
    free(m->columns);
    for (int i = 0; i < m->n_statics; i++) free(m->statics[i].name.s), free(m->statics[i].label.s);
    free(m);
}

// ---- config ----

static int dup_str(pm_str *dst, const char *s, size_t len) {
    dst->s = malloc(len + 1);
    if (!dst->s) return -1;
    memcpy(dst->s, s, len);
    dst->s[len] = 0;
    dst->len    = len;
    return 0;
}

// a non-empty JSON string copied into dst; -1 with a message naming `where` otherwise
static int take_name(pm_str *dst, const tft_json *v, const char *where, char *err, size_t errsz) {
    if (!v || v->type != TFT_JSON_STRING || v->len == 0) {
        snprintf(err, errsz, "prometheus: %s must be a non-empty string", where);
        return -1;
    }
    if (dup_str(dst, v->str, v->len)) {
        snprintf(err, errsz, "prometheus: no memory");
        return -1;
    }
    return 0;
}

// every member of obj is one of the NULL-terminated keys (a typo is an error, not a silent default)
static int known_keys(const tft_json *obj, const char *const *keys, const char *where, char *err, size_t errsz) {
    for (const tft_json *k = obj->child; k; k = k->next) {
        int ok = 0;
        for (const char *const *p = keys; *p && !ok; p++) ok = strcmp(k->key, *p) == 0;
        if (!ok) {
            snprintf(err, errsz, "prometheus: unknown key \"%s\" in %s", k->key, where);
            return -1;
        }
    }
    return 0;
}

static int parse_column(pm_column *col, const tft_json *v, char *err, size_t errsz) {
    char where[300];
    snprintf(where, sizeof where, "columns.%s", v->key);
    if (v->type != TFT_JSON_OBJECT) {
        snprintf(err, errsz, "prometheus: %s must be an object like {\"metric\": \"node_cpu_busy_pct\"}", where);
        return -1;
    }
    static const char *const keys[] = {"metric", "scale", "match", NULL};
    if (known_keys(v, keys, where, err, errsz)) return -1;
    char w2[320];
    snprintf(w2, sizeof w2, "%s.metric", where);
    if (take_name(&col->metric, tft_json_get(v, "metric"), w2, err, errsz)) return -1;
    col->scale = 1.0;
    const tft_json *sc = tft_json_get(v, "scale");
    if (sc) {
        if (sc->type != TFT_JSON_NUMBER || !isfinite(sc->num) || sc->num == 0) {
            snprintf(err, errsz, "prometheus: %s.scale must be a finite non-zero number", where);
            return -1;
        }
        col->scale = sc->num;
    }
    const tft_json *mt = tft_json_get(v, "match");
    if (mt) {
        if (mt->type != TFT_JSON_OBJECT || mt->len > PROM_MAP_MAX_MATCH) {
            snprintf(err, errsz, "prometheus: %s.match must be an object of at most %d label: value strings", where,
                     PROM_MAP_MAX_MATCH);
            return -1;
        }
        for (const tft_json *l = mt->child; l; l = l->next) {
            if (l->type != TFT_JSON_STRING || !l->key[0] || strcmp(l->key, "__name__") == 0) {
                snprintf(err, errsz, "prometheus: %s.match.%s must be a string (a label other than __name__)", where,
                         l->key);
                return -1;
            }
            int k = col->n_match;
            if (dup_str(&col->match_name[k], l->key, strlen(l->key))) {
                snprintf(err, errsz, "prometheus: no memory");
                return -1;
            }
            if (dup_str(&col->match_value[k], l->str, l->len)) {
                free(col->match_name[k].s), col->match_name[k].s = NULL;
                snprintf(err, errsz, "prometheus: no memory");
                return -1;
            }
            col->n_match++;
        }
    }
    return 0;
}

int prom_map_from_json(const tft_json *obj, prom_map **out, char *err, size_t errsz) {
    *out = NULL;
    if (!obj || obj->type != TFT_JSON_OBJECT) {
        snprintf(err, errsz, "prometheus: the section must be an object (server/API.md, \"Prometheus remote write\")");
        return -1;
    }
    static const char *const keys[] = {"series_label", "series_join", "columns", "statics", NULL};
    if (known_keys(obj, keys, "the prometheus section", err, errsz)) return -1;
    prom_map *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errsz, "prometheus: no memory");
        return -1;
    }
    const tft_json *sl = tft_json_get(obj, "series_label");
    if (sl && sl->type == TFT_JSON_ARRAY) {
        if (sl->len == 0 || sl->len > PROM_MAP_MAX_SERIES_LABELS) {
            snprintf(err, errsz, "prometheus: series_label must list 1 to %d labels", PROM_MAP_MAX_SERIES_LABELS);
            goto fail;
        }
        for (const tft_json *l = sl->child; l; l = l->next) {
            if (take_name(&m->series_label[m->n_series_labels], l, "each series_label", err, errsz)) goto fail;
            m->n_series_labels++;
        }
    } else {
        if (take_name(&m->series_label[0], sl, "series_label (a label name, or an array of them)", err, errsz))
            goto fail;
        m->n_series_labels = 1;
    }
    const tft_json *sj = tft_json_get(obj, "series_join");
    if (sj && sj->type != TFT_JSON_STRING) {
        snprintf(err, errsz, "prometheus: series_join must be a string");
        goto fail;
    }
    if (dup_str(&m->join, sj ? sj->str : "/", sj ? sj->len : 1)) {
        snprintf(err, errsz, "prometheus: no memory");
        goto fail;
    }
    const tft_json *cols = tft_json_get(obj, "columns");
    if (!cols || cols->type != TFT_JSON_OBJECT || cols->len == 0 || cols->len > PROM_MAP_MAX_COLUMNS) {
        snprintf(err, errsz, "prometheus: columns must be an object of 1 to %d model columns, each "
                 "{\"metric\": NAME}", PROM_MAP_MAX_COLUMNS);
        goto fail;
    }
    m->columns = calloc(cols->len, sizeof *m->columns);
    if (!m->columns) {
        snprintf(err, errsz, "prometheus: no memory");
        goto fail;
    }
    for (const tft_json *c = cols->child; c; c = c->next) {
        pm_column *col = &m->columns[m->n_columns++];
        if (!c->key[0]) {
            snprintf(err, errsz, "prometheus: a column name is empty");
            goto fail;
        }
        if (dup_str(&col->name, c->key, strlen(c->key)) || parse_column(col, c, err, errsz)) {
            if (!col->name.s) snprintf(err, errsz, "prometheus: no memory");
            goto fail;
        }
    }
    const tft_json *st = tft_json_get(obj, "statics");
    if (st) {
        if (st->type != TFT_JSON_OBJECT || st->len > PROM_MAP_MAX_STATICS) {
            snprintf(err, errsz, "prometheus: statics must be an object of at most %d static columns, each "
                     "{\"label\": NAME}", PROM_MAP_MAX_STATICS);
            goto fail;
        }
        for (const tft_json *s = st->child; s; s = s->next) {
            static const char *const skeys[] = {"label", NULL};
            char where[300];
            snprintf(where, sizeof where, "statics.%s", s->key);
            if (s->type != TFT_JSON_OBJECT) {
                snprintf(err, errsz, "prometheus: %s must be an object like {\"label\": \"region\"}", where);
                goto fail;
            }
            if (known_keys(s, skeys, where, err, errsz)) goto fail;
            for (int c = 0; c < m->n_columns; c++)
                if (strcmp(m->columns[c].name.s, s->key) == 0) {
                    snprintf(err, errsz, "prometheus: \"%s\" is both a column and a static", s->key);
                    goto fail;
                }
            if (!s->key[0]) {
                snprintf(err, errsz, "prometheus: a static's name is empty");
                goto fail;
            }
            pm_static *ps = &m->statics[m->n_statics++];
            if (dup_str(&ps->name, s->key, strlen(s->key))) {
                snprintf(err, errsz, "prometheus: no memory");
                goto fail;
            }
            char lw[320];
            snprintf(lw, sizeof lw, "%s.label", where);
            if (take_name(&ps->label, tft_json_get(s, "label"), lw, err, errsz)) goto fail;
        }
    }
    *out = m;
    return 0;
fail:
    prom_map_free(m);
    return -1;
}

int prom_map_parse(const char *text, size_t len, prom_map **out, char *err, size_t errsz) {
    *out = NULL;
    tft_json_limits lim = tft_json_default_limits();
    lim.max_depth       = 16;
    tft_json *root;
    if (tft_json_parse(text, len, &lim, &root, err, errsz)) return -1;
    // a whole fleet config, or the section alone (it has "columns")
    const tft_json *sec = tft_json_get(root, "prometheus");
    if (!sec && tft_json_get(root, "columns")) sec = root;
    int rc = -1;
    if (sec) rc = prom_map_from_json(sec, out, err, errsz);
    else snprintf(err, errsz, "prometheus: the config has no \"prometheus\" section");
    tft_json_free(root);
    return rc;
}

// ---- rules for one label set ----

static int bin_eq(const ProtobufCBinaryData *b, const char *s, size_t len) {
    return b->len == len && (len == 0 || memcmp(b->data, s, len) == 0);
}

// the value of label `name` (empty when absent, as in Prometheus)
static ProtobufCBinaryData label_value(const Prometheus__TimeSeries *ts, const char *name, size_t len) {
    for (size_t i = 0; i < ts->n_labels; i++)
        if (bin_eq(&ts->labels[i]->name, name, len)) return ts->labels[i]->value;
    return (ProtobufCBinaryData){0, NULL};
}

static int map_column(const prom_map *m, const Prometheus__TimeSeries *ts) {
    ProtobufCBinaryData metric = label_value(ts, "__name__", 8);
    for (int c = 0; c < m->n_columns; c++) {
        const pm_column *col = &m->columns[c];
        if (!bin_eq(&metric, col->metric.s, col->metric.len)) continue;
        int k = 0;
        for (; k < col->n_match; k++) {
            ProtobufCBinaryData v = label_value(ts, col->match_name[k].s, col->match_name[k].len);
            if (!bin_eq(&v, col->match_value[k].s, col->match_value[k].len)) break;
        }
        if (k == col->n_match) return c;
    }
    return -1;
}

// the series id's length, or 0 if a series label is missing/empty
static size_t series_id_len(const prom_map *m, const Prometheus__TimeSeries *ts) {
    size_t n = 0;
    for (int i = 0; i < m->n_series_labels; i++) {
        ProtobufCBinaryData v = label_value(ts, m->series_label[i].s, m->series_label[i].len);
        if (v.len == 0) return 0;
        n += v.len + (i ? m->join.len : 0);
    }
    return n;
}

static void series_id_write(const prom_map *m, const Prometheus__TimeSeries *ts, char *dst) {
    for (int i = 0; i < m->n_series_labels; i++) {
        if (i) memcpy(dst, m->join.s, m->join.len), dst += m->join.len;
        ProtobufCBinaryData v = label_value(ts, m->series_label[i].s, m->series_label[i].len);
        memcpy(dst, v.data, v.len), dst += v.len;
    }
}

// valid UTF-8 without NUL (ids and labels end up in JSON answers and SQLite keys)
static int text_ok(const char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        size_t k = s[i] ? tft_json_utf8_seq((const unsigned char *)s + i, len - i) : 0;
        if (!k) return 0;
        i += k;
    }
    return 1;
}

int prom_is_stale_marker(double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits == UINT64_C(0x7ff0000000000002);
}

// ---- a request ----

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : an < bn ? -1 : an > bn;
}

static int cmp_point(const void *pa, const void *pb) {
    const fleet_point *a = pa, *b = pb;
    int c = cmp_bytes(a->series, a->series_len, b->series, b->series_len);
    if (!c) c = cmp_bytes(a->column, a->column_len, b->column, b->column_len);
    return c ? c : (a->ts_ms > b->ts_ms) - (a->ts_ms < b->ts_ms);
}

static int cmp_static(const void *pa, const void *pb) {
    const fleet_static *a = pa, *b = pb;
    int c = cmp_bytes(a->series, a->series_len, b->series, b->series_len);
    return c ? c : cmp_bytes(a->column, a->column_len, b->column, b->column_len);
}

void prom_batch_free(prom_batch *b) {
    if (!b) return;
    free(b->mem);
    memset(b, 0, sizeof *b);
}

#define ID_SHOWN 200 // bytes of a series id quoted in a message

int prom_map_apply(const prom_map *m, const struct Prometheus__WriteRequest *wr, prom_batch *out, char *err,
                   size_t errsz) {
    memset(out, 0, sizeof *out);
    prom_map_counts cnt = {0};
    // pass 1: sizes. Each mapped TimeSeries gets one copy of its series id; column and static
    // names are copied once (strings below are not NUL-terminated: the contract counts lengths)
    size_t max_points = 0, max_statics = 0, text = 0;
    for (int c = 0; c < m->n_columns; c++) text += m->columns[c].name.len;
    for (int s = 0; s < m->n_statics; s++) text += m->statics[s].name.len;
    for (size_t i = 0; i < wr->n_timeseries; i++) {
        const Prometheus__TimeSeries *ts = wr->timeseries[i];
        cnt.series_in++, cnt.samples_in += ts->n_samples;
        int col = map_column(m, ts);
        if (col < 0) {
            cnt.series_unmapped++, cnt.samples_unmapped += ts->n_samples;
            continue;
        }
        size_t idl = series_id_len(m, ts);
        if (idl == 0) {
            cnt.samples_no_series += ts->n_samples;
            continue;
        }
        text += idl, max_points += ts->n_samples;
        for (int s = 0; s < m->n_statics; s++) {
            ProtobufCBinaryData v = label_value(ts, m->statics[s].label.s, m->statics[s].label.len);
            if (v.len) max_statics++, text += v.len;
        }
    }
    size_t bytes = max_points * sizeof(fleet_point) + max_statics * sizeof(fleet_static) + text;
    char  *mem   = malloc(bytes ? bytes : 1);
    if (!mem) {
        snprintf(err, errsz, "no memory for %zu fleet points of a remote write request", max_points);
        return 500;
    }
    fleet_point  *pts = (fleet_point *)mem;
    fleet_static *sts = (fleet_static *)(pts + max_points);
    char         *tp  = (char *)(sts + max_statics);
    // the names, once
    const char *col_name[PROM_MAP_MAX_COLUMNS], *st_name[PROM_MAP_MAX_STATICS];
    for (int c = 0; c < m->n_columns; c++)
        col_name[c] = memcpy(tp, m->columns[c].name.s, m->columns[c].name.len), tp += m->columns[c].name.len;
    for (int s = 0; s < m->n_statics; s++)
        st_name[s] = memcpy(tp, m->statics[s].name.s, m->statics[s].name.len), tp += m->statics[s].name.len;
    // pass 2: fill
    size_t np = 0, ns = 0;
    for (size_t i = 0; i < wr->n_timeseries; i++) {
        const Prometheus__TimeSeries *ts = wr->timeseries[i];
        int col = map_column(m, ts);
        size_t idl = col < 0 ? 0 : series_id_len(m, ts);
        if (idl == 0) continue;
        char *id = tp;
        series_id_write(m, ts, id), tp += idl;
        if (!text_ok(id, idl)) {
            snprintf(err, errsz, "remote write series %zu (column %s): the series id is not UTF-8 text without NUL",
                     i, m->columns[col].name.s);
            goto fail;
        }
        const pm_column *pc = &m->columns[col];
        for (size_t k = 0; k < ts->n_samples; k++) {
            double v = ts->samples[k]->value;
            if (prom_is_stale_marker(v)) {
                cnt.samples_stale++;
                continue;
            }
            v *= pc->scale;
            if (!isfinite(v)) {
                cnt.samples_non_finite++;
                continue;
            }
            pts[np++] = (fleet_point){id, idl, col_name[col], pc->name.len, ts->samples[k]->timestamp, v};
        }
        for (int s = 0; s < m->n_statics; s++) {
            ProtobufCBinaryData v = label_value(ts, m->statics[s].label.s, m->statics[s].label.len);
            if (!v.len) continue;
            if (!text_ok((const char *)v.data, v.len)) {
                snprintf(err, errsz, "remote write series \"%.*s\": label %s (static %s) is not UTF-8 text without NUL",
                         (int)(idl < ID_SHOWN ? idl : ID_SHOWN), id, m->statics[s].label.s, m->statics[s].name.s);
                goto fail;
            }
            memcpy(tp, v.data, v.len);
            sts[ns++] = (fleet_static){id, idl, st_name[s], m->statics[s].name.len, tp, v.len};
            tp += v.len;
        }
    }
    // one value per (series, column, ts): identical repeats collapse, different ones are an error
    qsort(pts, np, sizeof *pts, cmp_point);
    size_t keep = 0;
    for (size_t k = 0; k < np; k++) {
        if (keep && cmp_point(&pts[keep - 1], &pts[k]) == 0) {
            const fleet_point *a = &pts[keep - 1];
            if (memcmp(&a->value, &pts[k].value, sizeof(double)) != 0) {
                snprintf(err, errsz, "remote write: series \"%.*s\" column %.*s at %lld ms has two values (%.17g "
                         "and %.17g) from different Prometheus series: add \"match\" labels to the column",
                         (int)(a->series_len < ID_SHOWN ? a->series_len : ID_SHOWN), a->series, (int)a->column_len,
                         a->column, (long long)a->ts_ms, a->value, pts[k].value);
                goto fail;
            }
            cnt.samples_duplicate++;
            continue;
        }
        pts[keep++] = pts[k];
    }
    np = keep;
    qsort(sts, ns, sizeof *sts, cmp_static);
    keep = 0;
    for (size_t k = 0; k < ns; k++) {
        if (keep && cmp_static(&sts[keep - 1], &sts[k]) == 0) {
            const fleet_static *a = &sts[keep - 1];
            if (cmp_bytes(a->value, a->value_len, sts[k].value, sts[k].value_len) != 0) {
                snprintf(err, errsz, "remote write: series \"%.*s\" static %.*s has two values (\"%.*s\" and \"%.*s\")",
                         (int)(a->series_len < ID_SHOWN ? a->series_len : ID_SHOWN), a->series, (int)a->column_len,
                         a->column, (int)(a->value_len < ID_SHOWN ? a->value_len : ID_SHOWN), a->value,
                         (int)(sts[k].value_len < ID_SHOWN ? sts[k].value_len : ID_SHOWN), sts[k].value);
                goto fail;
            }
            continue;
        }
        sts[keep++] = sts[k];
    }
    ns = keep;
    cnt.points = np;
    *out = (prom_batch){.points = pts, .n_points = np, .statics = sts, .n_statics = ns, .counts = cnt, .mem = mem,
                        .mem_bytes = bytes};
    return 0;
fail:
    free(mem);
    return 400;
}
