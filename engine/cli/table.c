// table.c: long-format tables -> series -> batched forecasts (see table.h).
#include "table.h"
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "csv.h"
#include "plot.h"
#include "../../server/json_out.h"

#define FAIL(...) (snprintf(err, errlen, __VA_ARGS__), -1)

// ---- a set of strings with stable pointers (category labels, series ids seen) ------------------
typedef struct strset {
    const char **slots;  // [cap] open addressing, NULL = empty
    size_t       cap, n;
    char       **blocks; // storage blocks of the strings
    size_t       n_blocks, used_in_last, last_size;
} strset;

static uint64_t hash_str(const char *s) { // FNV-1a
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static char *strset_store(strset *t, const char *s) {
    size_t len = strlen(s) + 1;
    if (!t->n_blocks || t->used_in_last + len > t->last_size) {
        size_t sz = len > 65536 ? len : 65536;
        char **b  = realloc(t->blocks, sizeof *b * (t->n_blocks + 1));
        if (!b) return NULL;
        t->blocks = b;
        if (!(b[t->n_blocks] = malloc(sz))) return NULL;
        t->n_blocks++, t->used_in_last = 0, t->last_size = sz;
    }
    char *p = t->blocks[t->n_blocks - 1] + t->used_in_last;
    memcpy(p, s, len);
    t->used_in_last += len;
    return p;
}

// The stored copy of s (added if new; *added says which); NULL when out of memory.
static const char *strset_get(strset *t, const char *s, int *added) {
    if (added) *added = 0;
    if (2 * (t->n + 1) > t->cap) {
        size_t       cap = t->cap ? 2 * t->cap : 1024;
        const char **sl  = calloc(cap, sizeof *sl);
        if (!sl) return NULL;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i]) {
                size_t j = hash_str(t->slots[i]) & (cap - 1);
                while (sl[j]) j = (j + 1) & (cap - 1);
                sl[j] = t->slots[i];
            }
        free(t->slots);
        t->slots = sl, t->cap = cap;
    }
    size_t j = hash_str(s) & (t->cap - 1);
    for (; t->slots[j]; j = (j + 1) & (t->cap - 1))
        if (strcmp(t->slots[j], s) == 0) return t->slots[j];
    const char *p = strset_store(t, s);
    if (!p) return NULL;
    t->slots[j] = p, t->n++;
    if (added) *added = 1;
    return p;
}

static void strset_free(strset *t) {
    for (size_t i = 0; i < t->n_blocks; i++) free(t->blocks[i]);
    free(t->blocks), free(t->slots);
    memset(t, 0, sizeof *t);
}

// ---- the reader ------------------------------------------------------------------------------
struct tft_table_reader {
    const tft_model      *m;
    const tft_model_info *mi;
    tft_csv              *csv;
    const char           *name;
    int                   n_cols;
    char                **header;     // [n_cols]
    int                   time_col;
    int                  *group_col;  // [n_group_ids]
    int                   n_static;
    int                  *static_col, *static_cat;  // [n_static] (mi->static_inputs order)
    int                   n_tv;                     // time-varying inputs: history ∪ future
    const char          **tv_name;
    int                  *tv_col, *tv_cat;
    int                  *hist_tv, *fut_tv;         // [n_history_inputs], [n_future_inputs] -> tv
    strset                labels, seen;
    char                **pend;                     // a record read ahead (the next series' first row)
    char                 *pend_text;
    size_t                pend_cap;
    int64_t               pend_line;
    int                   have_pend;
    int64_t               rows;
};

static int header_index(const tft_table_reader *r, const char *name) {
    for (int i = 0; i < r->n_cols; i++)
        if (strcmp(r->header[i], name) == 0) return i;
    return -1;
}

int tft_table_column(const tft_table_reader *r, const char *name) {
    for (int i = 0; i < r->n_tv; i++)
        if (strcmp(r->tv_name[i], name) == 0) return i;
    return -1;
}

int64_t tft_table_rows(const tft_table_reader *r) { return r->rows; }
int64_t tft_table_bytes(const tft_table_reader *r) { return tft_csv_bytes(r->csv); }
const char *tft_table_name(const tft_table_reader *r) { return r->name; }
int32_t tft_table_window_columns(const tft_table_reader *r) {
    return r->n_static + r->mi->n_history_inputs + r->mi->n_future_inputs;
}

void tft_table_reader_free(tft_table_reader *r) {
    if (!r) return;
    tft_csv_free(r->csv);
    for (int i = 0; r->header && i < r->n_cols; i++) free(r->header[i]);
    free(r->header), free(r->group_col), free(r->static_col), free(r->static_cat), free(r->tv_name);
    free(r->tv_col), free(r->tv_cat), free(r->hist_tv), free(r->fut_tv), free(r->pend), free(r->pend_text);
    strset_free(&r->labels), strset_free(&r->seen);
    free(r);
}

static int add_tv(tft_table_reader *r, const char *name) {
    int i = tft_table_column(r, name);
    if (i >= 0) return i;
    r->tv_name[r->n_tv] = name;
    r->tv_cat[r->n_tv]  = tft_model_input_is_categorical(r->m, name) == 1;
    r->tv_col[r->n_tv]  = header_index(r, name);
    return r->n_tv++;
}

tft_status tft_table_reader_new(const tft_model *m, FILE *in, const char *in_name, FILE *log,
                                tft_table_reader **out, char *err, size_t errlen) {
    *out                 = NULL;
    tft_table_reader *r  = calloc(1, sizeof *r);
    if (!r || !(r->csv = tft_csv_new(in))) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return TFT_ERR_NOMEM;
    }
    r->m = m, r->mi = tft_model_get_info(m), r->name = in_name;
    const tft_model_info *mi = r->mi;
    char   **f;
    int      n;
    int64_t  line;
    char     e2[300];
    int      rc = tft_csv_next(r->csv, &f, &n, &line, e2, sizeof e2);
    tft_status st = TFT_ERR_INVALID_ARG;
    if (rc <= 0) {
        snprintf(err, errlen, "%s: %s", in_name, rc < 0 ? e2 : "empty input (a header row is required)");
        goto fail;
    }
    r->n_cols = n;
    r->header = calloc((size_t)n, sizeof *r->header);
    int nh = mi->n_history_inputs, nf = mi->n_future_inputs;
    r->group_col  = calloc((size_t)mi->n_group_ids + 1, sizeof(int));
    r->static_col = calloc((size_t)mi->n_static_inputs + 1, sizeof(int));
    r->static_cat = calloc((size_t)mi->n_static_inputs + 1, sizeof(int));
    r->tv_name    = calloc((size_t)(nh + nf) + 1, sizeof(char *));
    r->tv_col     = calloc((size_t)(nh + nf) + 1, sizeof(int));
    r->tv_cat     = calloc((size_t)(nh + nf) + 1, sizeof(int));
    r->hist_tv    = calloc((size_t)nh + 1, sizeof(int));
    r->fut_tv     = calloc((size_t)nf + 1, sizeof(int));
    r->pend       = calloc((size_t)n, sizeof(char *));
    if (!r->header || !r->group_col || !r->static_col || !r->static_cat || !r->tv_name || !r->tv_col ||
        !r->tv_cat || !r->hist_tv || !r->fut_tv || !r->pend) {
        snprintf(err, errlen, "out of memory");
        st = TFT_ERR_NOMEM;
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        if (!(r->header[i] = strdup(f[i]))) {
            snprintf(err, errlen, "out of memory");
            st = TFT_ERR_NOMEM;
            goto fail;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(r->header[j], f[i]) == 0) {
                snprintf(err, errlen, "%s:%lld: column '%s' appears twice in the header (columns %d and %d)", in_name,
                         (long long)line, f[i], j + 1, i + 1);
                goto fail;
            }
    }
    // every column the model reads must be there; say all the missing ones at once
    char   missing[400] = "";
    size_t ml           = 0;
    int    n_missing    = 0;
#define NEED(col, nm)                                                                                \
    do {                                                                                             \
        if ((col) < 0) {                                                                             \
            n_missing++;                                                                             \
            if (ml < sizeof missing) ml += (size_t)snprintf(missing + ml, sizeof missing - ml, "%s'%s'", \
                                                            n_missing > 1 ? ", " : "", (nm));        \
        }                                                                                            \
    } while (0)
    r->time_col = header_index(r, mi->time_idx);
    NEED(r->time_col, mi->time_idx);
    for (int g = 0; g < mi->n_group_ids; g++) r->group_col[g] = header_index(r, mi->group_ids[g]);
    r->n_static = mi->n_static_inputs;
    for (int i = 0; i < r->n_static; i++) {
        r->static_col[i] = header_index(r, mi->static_inputs[i]);
        r->static_cat[i] = tft_model_input_is_categorical(m, mi->static_inputs[i]) == 1;
        NEED(r->static_col[i], mi->static_inputs[i]);
    }
    for (int g = 0; g < mi->n_group_ids; g++) { // group ids are statics too; named once
        int dup = 0;
        for (int i = 0; i < r->n_static; i++) dup |= strcmp(mi->static_inputs[i], mi->group_ids[g]) == 0;
        if (!dup) NEED(r->group_col[g], mi->group_ids[g]);
    }
    for (int j = 0; j < nh; j++) {
        r->hist_tv[j] = add_tv(r, mi->history_inputs[j]);
        NEED(r->tv_col[r->hist_tv[j]], mi->history_inputs[j]);
    }
    for (int j = 0; j < nf; j++) {
        int before    = r->n_tv;
        r->fut_tv[j] = add_tv(r, mi->future_inputs[j]);
        if (r->n_tv > before) NEED(r->tv_col[r->fut_tv[j]], mi->future_inputs[j]);
    }
#undef NEED
    if (n_missing) {
        snprintf(err, errlen, "%s:%lld: the header lacks %d column%s this model needs: %s (see `tft info`)", in_name,
                 (long long)line, n_missing, n_missing > 1 ? "s" : "", missing);
        goto fail;
    }
    // columns the model does not read: named once, then ignored
    char   extra[300] = "";
    size_t el         = 0;
    int    n_extra    = 0;
    for (int i = 0; i < n; i++) {
        int used = i == r->time_col;
        for (int g = 0; g < mi->n_group_ids; g++) used |= i == r->group_col[g];
        for (int k = 0; k < r->n_static; k++) used |= i == r->static_col[k];
        for (int k = 0; k < r->n_tv; k++) used |= i == r->tv_col[k];
        if (!used && el < sizeof extra)
            el += (size_t)snprintf(extra + el, sizeof extra - el, "%s'%s'", n_extra++ ? ", " : "", r->header[i]);
    }
    if (n_extra && log)
        fprintf(log, "tft: note: %s: %d column%s not read by the model: %s\n", in_name, n_extra, n_extra > 1 ? "s" : "",
                extra);
    *out = r;
    return TFT_OK;
fail:
    tft_table_reader_free(r);
    return st;
}

void tft_table_series_free(const tft_table_reader *r, tft_table_series *s) {
    for (int g = 0; s->group_labels && g < r->mi->n_group_ids; g++) free(s->group_labels[g]);
    for (int i = 0; s->static_raw && i < r->n_static; i++) free(s->static_raw[i]);
    for (int i = 0; s->vals && i < r->n_tv; i++) free(s->vals[i]);
    for (int i = 0; s->labs && i < r->n_tv; i++) free(s->labs[i]);
    free(s->id), free(s->group_labels), free(s->time_idx), free(s->line), free(s->vals), free(s->labs);
    free(s->static_val), free(s->static_lab), free(s->static_raw);
    memset(s, 0, sizeof *s);
}

// Reads the next record: the one read ahead, or a new one. 1, 0 (end) or -1.
static int next_record(tft_table_reader *r, char ***f, int64_t *line, char *err, size_t errlen) {
    if (r->have_pend) {
        r->have_pend = 0;
        *f = r->pend, *line = r->pend_line;
        return 1;
    }
    int  n;
    char e2[300];
    int  rc = tft_csv_next(r->csv, f, &n, line, e2, sizeof e2);
    if (rc < 0) return FAIL("%s: %s", r->name, e2);
    if (rc == 0) return 0;
    if (n != r->n_cols)
        return FAIL("%s:%lld: %d field%s, the header has %d", r->name, (long long)*line, n, n == 1 ? "" : "s",
                    r->n_cols);
    r->rows++;
    return 1;
}

// Keeps record f for the next call (copies it: the CSV reader reuses its buffers).
static int read_ahead(tft_table_reader *r, char **f, int64_t line) {
    size_t need = 0;
    for (int i = 0; i < r->n_cols; i++) need += strlen(f[i]) + 1;
    if (need > r->pend_cap) {
        char *t = realloc(r->pend_text, need);
        if (!t) return -1;
        r->pend_text = t, r->pend_cap = need;
    }
    char *p = r->pend_text;
    for (int i = 0; i < r->n_cols; i++) {
        size_t l = strlen(f[i]) + 1;
        memcpy(p, f[i], l);
        r->pend[i] = p, p += l;
    }
    r->pend_line = line, r->have_pend = 1;
    return 0;
}

static int is_missing(const char *s) {
    return !*s || strcmp(s, "NaN") == 0 || strcmp(s, "nan") == 0 || strcmp(s, "NAN") == 0;
}

// A real cell: NaN when missing; -1 with a message when not a finite number.
static int parse_real(const tft_table_reader *r, const char *s, int64_t line, int col, double *v, char *err,
                      size_t errlen) {
    if (is_missing(s)) {
        *v = NAN;
        return 0;
    }
    char *end;
    errno = 0;
    *v    = strtod(s, &end);
    if (end == s || *end) return FAIL("%s:%lld: column '%s': '%s' is not a number", r->name, (long long)line,
                                      r->header[col], s);
    if (!isfinite(*v)) return FAIL("%s:%lld: column '%s': '%s' is not a finite number", r->name, (long long)line,
                                   r->header[col], s);
    return 0;
}

static int parse_time(const tft_table_reader *r, const char *s, int64_t line, int64_t *t, char *err, size_t errlen) {
    char *end;
    errno      = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno)
        return FAIL("%s:%lld: column '%s': '%s' is not an integer time index", r->name, (long long)line,
                    r->header[r->time_col], s);
    *t = v;
    return 0;
}

// Room for one more row in s: grows, or (keep > 0) drops all but the last `keep` rows once the
// buffers hold 2*keep, after checking them as history rows (they can no longer be future rows).
static int make_room(tft_table_reader *r, tft_table_series *s, int32_t keep, char *err, size_t errlen) {
    if (s->n_rows < s->cap) return 0;
    if (keep > 0 && s->cap >= 2 * keep) {
        int32_t drop = s->n_rows - keep;
        if (tft_table_check_rows(r, s, 0, drop, 0, err, errlen)) return -1;
        memmove(s->time_idx, s->time_idx + drop, sizeof *s->time_idx * (size_t)keep);
        memmove(s->line, s->line + drop, sizeof *s->line * (size_t)keep);
        for (int i = 0; i < r->n_tv; i++) {
            if (s->vals[i]) memmove(s->vals[i], s->vals[i] + drop, sizeof(double) * (size_t)keep);
            if (s->labs[i]) memmove(s->labs[i], s->labs[i] + drop, sizeof(char *) * (size_t)keep);
        }
        s->n_rows = keep, s->row_base += drop;
        return 0;
    }
    int32_t cap = s->cap ? 2 * s->cap : 64;
    if (keep > 0 && cap > 2 * keep) cap = 2 * keep;
    if (cap <= s->cap) cap = s->cap + 1;
    int64_t *ti = realloc(s->time_idx, sizeof *ti * (size_t)cap);
    if (ti) s->time_idx = ti;
    int64_t *ln = realloc(s->line, sizeof *ln * (size_t)cap);
    if (ln) s->line = ln;
    if (!ti || !ln) return FAIL("out of memory for series '%s'", s->id);
    for (int i = 0; i < r->n_tv; i++) {
        if (r->tv_cat[i]) {
            const char **p = realloc(s->labs[i], sizeof *p * (size_t)cap);
            if (!p) return FAIL("out of memory for series '%s'", s->id);
            s->labs[i] = p;
        } else {
            double *p = realloc(s->vals[i], sizeof *p * (size_t)cap);
            if (!p) return FAIL("out of memory for series '%s'", s->id);
            s->vals[i] = p;
        }
    }
    s->cap = cap;
    return 0;
}

static int add_row(tft_table_reader *r, tft_table_series *s, char **f, int64_t line, int32_t keep, char *err,
                   size_t errlen) {
    if (make_room(r, s, keep, err, errlen)) return -1;
    int64_t t;
    if (parse_time(r, f[r->time_col], line, &t, err, errlen)) return -1;
    if (s->n_rows_total > 0 && t != s->time_idx[s->n_rows - 1] + 1)
        return FAIL("%s:%lld: series '%s': %s %lld follows %lld (line %lld); the rows of a series must be sorted by "
                    "%s, one step apart (no gaps, no repeats)", r->name, (long long)line, s->id,
                    r->header[r->time_col], (long long)t, (long long)s->time_idx[s->n_rows - 1],
                    (long long)s->line[s->n_rows - 1], r->header[r->time_col]);
    for (int i = 0; i < r->n_static && s->n_rows_total > 0; i++) {
        const char *v = f[r->static_col[i]];
        int         same = strcmp(v, s->static_raw[i]) == 0;
        if (!same && !r->static_cat[i]) {
            double x;
            same = parse_real(r, v, line, r->static_col[i], &x, err, errlen) == 0 && x == s->static_val[i];
        }
        if (!same)
            return FAIL("%s:%lld: series '%s': static column '%s' is '%s' here but '%s' on its first row (line %lld); "
                        "a static column must be constant within a series", r->name, (long long)line, s->id,
                        r->header[r->static_col[i]], v, s->static_raw[i], (long long)s->first_line);
    }
    int32_t k = s->n_rows;
    for (int i = 0; i < r->n_tv; i++) {
        const char *v = f[r->tv_col[i]];
        if (r->tv_cat[i]) {
            if (is_missing(v)) s->labs[i][k] = NULL;
            else if (!(s->labs[i][k] = strset_get(&r->labels, v, NULL))) return FAIL("out of memory");
        } else if (parse_real(r, v, line, r->tv_col[i], &s->vals[i][k], err, errlen)) {
            return -1;
        }
    }
    s->time_idx[k] = t, s->line[k] = line;
    s->n_rows++, s->n_rows_total++;
    return 0;
}

// Starts series s from its first row f: ids, statics.
static int start_series(tft_table_reader *r, tft_table_series *s, char **f, int64_t line, char *err, size_t errlen) {
    const tft_model_info *mi = r->mi;
    if (!s->group_labels) {
        s->group_labels = calloc((size_t)mi->n_group_ids + 1, sizeof(char *));
        s->static_val   = calloc((size_t)r->n_static + 1, sizeof(double));
        s->static_lab   = calloc((size_t)r->n_static + 1, sizeof(char *));
        s->static_raw   = calloc((size_t)r->n_static + 1, sizeof(char *));
        s->vals         = calloc((size_t)r->n_tv + 1, sizeof(double *));
        s->labs         = calloc((size_t)r->n_tv + 1, sizeof(char **));
        if (!s->group_labels || !s->static_val || !s->static_lab || !s->static_raw || !s->vals || !s->labs)
            return FAIL("out of memory");
    }
    size_t idlen = 1;
    for (int g = 0; g < mi->n_group_ids; g++) idlen += strlen(f[r->group_col[g]]) + 1;
    free(s->id);
    if (!(s->id = malloc(idlen))) return FAIL("out of memory");
    s->id[0] = 0;
    for (int g = 0; g < mi->n_group_ids; g++) {
        const char *v = f[r->group_col[g]];
        if (!*v) return FAIL("%s:%lld: column '%s': empty group id", r->name, (long long)line, mi->group_ids[g]);
        if (g) strcat(s->id, "/");
        strcat(s->id, v);
        free(s->group_labels[g]);
        if (!(s->group_labels[g] = strdup(v))) return FAIL("out of memory");
    }
    int added;
    if (!strset_get(&r->seen, s->id, &added)) return FAIL("out of memory");
    if (!added)
        return FAIL("%s:%lld: series '%s' appears again after other series; the rows of a series must be contiguous "
                    "(sort the table by its group ids, then by %s)", r->name, (long long)line, s->id,
                    r->header[r->time_col]);
    for (int i = 0; i < r->n_static; i++) {
        const char *v = f[r->static_col[i]];
        free(s->static_raw[i]);
        if (!(s->static_raw[i] = strdup(v))) return FAIL("out of memory");
        if (is_missing(v))
            return FAIL("%s:%lld: series '%s': static column '%s' is empty", r->name, (long long)line, s->id,
                        r->header[r->static_col[i]]);
        if (r->static_cat[i]) s->static_lab[i] = s->static_raw[i];
        else if (parse_real(r, v, line, r->static_col[i], &s->static_val[i], err, errlen)) return -1;
    }
    s->n_rows = 0, s->row_base = 0, s->n_rows_total = 0, s->first_line = line;
    return 0;
}

int tft_table_next_series(tft_table_reader *r, tft_table_series *s, int32_t keep, char *err, size_t errlen) {
    char  **f;
    int64_t line;
    int     rc = next_record(r, &f, &line, err, errlen);
    if (rc <= 0) return rc;
    if (start_series(r, s, f, line, err, errlen) || add_row(r, s, f, line, keep, err, errlen)) return -1;
    while ((rc = next_record(r, &f, &line, err, errlen)) == 1) {
        int same = 1;
        for (int g = 0; g < r->mi->n_group_ids && same; g++) same = strcmp(f[r->group_col[g]], s->group_labels[g]) == 0;
        if (!same) {
            if (read_ahead(r, f, line)) return FAIL("out of memory");
            return 1;
        }
        if (add_row(r, s, f, line, keep, err, errlen)) return -1;
    }
    return rc < 0 ? -1 : 1;
}

int tft_table_check_rows(const tft_table_reader *r, const tft_table_series *s, int32_t from, int32_t to, int future,
                         char *err, size_t errlen) {
    const tft_model_info *mi = r->mi;
    int                   n  = future ? mi->n_future_inputs : mi->n_history_inputs;
    const int            *tv = future ? r->fut_tv : r->hist_tv;
    for (int32_t k = from; k < to; k++)
        for (int j = 0; j < n; j++) {
            int i = tv[j];
            if (r->tv_cat[i] ? s->labs[i][k] == NULL : isnan(s->vals[i][k]))
                return FAIL("%s:%lld: series '%s': column '%s' is empty; the model needs it on every %s row", r->name,
                            (long long)s->line[k], s->id, r->tv_name[i],
                            future ? "future (last horizon)" : "history");
        }
    return 0;
}

void tft_table_window(const tft_table_reader *r, const tft_table_series *s, int32_t h0, int32_t h1, int32_t horizon,
                      tft_series *w, tft_column *cols) {
    const tft_model_info *mi = r->mi;
    tft_column           *c  = cols;
    for (int i = 0; i < r->n_static; i++, c++) {
        *c = (tft_column){.name = mi->static_inputs[i], .len = 1};
        if (r->static_cat[i]) c->labels = &s->static_lab[i];
        else c->values = &s->static_val[i];
    }
    for (int part = 0; part < 2; part++) {
        int        n   = part ? mi->n_future_inputs : mi->n_history_inputs;
        const int *tv  = part ? r->fut_tv : r->hist_tv;
        int32_t    off = part ? h1 : h0, len = part ? horizon : h1 - h0;
        for (int j = 0; j < n; j++, c++) {
            int i = tv[j];
            *c    = (tft_column){.name = r->tv_name[i], .len = len};
            if (r->tv_cat[i]) c->labels = s->labs[i] + off;
            else c->values = s->vals[i] + off;
        }
    }
    *w = (tft_series){.id = s->id, .n_history = h1 - h0, .horizon = horizon, .statics = cols,
                      .n_statics = r->n_static, .history = cols + r->n_static,
                      .n_history_columns = mi->n_history_inputs,
                      .future = cols + r->n_static + mi->n_history_inputs,
                      .n_future_columns = mi->n_future_inputs, .time_idx = s->time_idx + h0};
}

const char *tft_table_series_message(const char *msg) {
    // the library's messages start "series <i> '<id>': " (i: the index in the call); ours name the series
    if (strncmp(msg, "series ", 7) != 0) return msg;
    const char *p = strstr(msg, "': ");
    return p ? p + 3 : msg;
}

// ---- progress --------------------------------------------------------------------------------
double tft_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void tft_progress_start(tft_progress *p, int on, int64_t total_bytes) {
    p->on = on, p->t0 = p->last = tft_now_s(), p->total_bytes = total_bytes;
}

void tft_progress_draw(tft_progress *p, int64_t rows, int64_t series, int64_t bytes, int final) {
    if (!p->on) return;
    double now = tft_now_s();
    if (!final && now - p->last < 0.1) return;
    p->last    = now;
    double el  = now - p->t0;
    char   eta[48] = "";
    if (p->total_bytes > 0 && bytes > 0 && !final) {
        double frac = (double)bytes / (double)p->total_bytes;
        int    left = (int)(el / frac - el + 0.5);
        snprintf(eta, sizeof eta, " %3.0f%%  ETA %d:%02d", 100 * frac, left / 60, left % 60);
    }
    fprintf(stderr, "\r\033[K  %lld rows  %lld series  %.0f series/s  %.1f s%s%s", (long long)rows, (long long)series,
            el > 0 ? (double)series / el : 0.0, el, eta, final ? "\n" : "");
    fflush(stderr);
}

// ---- the batched loop ------------------------------------------------------------------------
typedef struct worker_job {
    tft_context     *ctx;
    tft_table_batch *b;
    int32_t          max_batch, per; // per = floats of one window's forecast
} worker_job;

static void *worker_main(void *arg) {
    worker_job      *j = arg;
    tft_table_batch *b = j->b;
    b->st              = TFT_OK;
    for (int32_t i = 0; i < b->n_win; i += j->max_batch) {
        int32_t             n   = b->n_win - i < j->max_batch ? b->n_win - i : j->max_batch;
        tft_forecast_output out = {.quantiles = b->q + (size_t)i * j->per, .encoder_lengths = b->enc_len + i};
        tft_status          st  = tft_forecast(j->ctx, b->win + i, n, &out);
        if (st != TFT_OK) {
            b->st = st;
            snprintf(b->err, sizeof b->err, "%s", tft_last_error());
            break;
        }
    }
    return NULL;
}

int tft_table_add_window(tft_table_reader *r, tft_table_batch *b, int32_t si, int32_t h0, int32_t h1,
                         int32_t horizon) {
    int32_t nc = tft_table_window_columns(r);
    if (b->n_win == b->cap_win) {
        int32_t cap = b->cap_win ? 2 * b->cap_win : 256;
        void   *w   = realloc(b->win, sizeof *b->win * (size_t)cap);
        if (w) b->win = w;
        void *c = realloc(b->cols, sizeof *b->cols * (size_t)cap * (size_t)(nc ? nc : 1));
        if (c) b->cols = c;
        void *ws = realloc(b->win_series, sizeof(int32_t) * (size_t)cap);
        if (ws) b->win_series = ws;
        void *wh = realloc(b->win_h1, sizeof(int32_t) * (size_t)cap);
        if (wh) b->win_h1 = wh;
        if (!w || !c || !ws || !wh) return -1;
        // the windows' column pointers moved with b->cols: point them again
        for (int32_t i = 0; i < b->n_win; i++) {
            tft_column *base    = b->cols + (size_t)i * nc;
            b->win[i].statics   = base;
            b->win[i].history   = base + r->n_static;
            b->win[i].future    = base + r->n_static + r->mi->n_history_inputs;
        }
        b->cap_win = cap;
    }
    int32_t i = b->n_win++;
    tft_table_window(r, &b->series[si], h0, h1, horizon, &b->win[i], b->cols + (size_t)i * nc);
    b->win_series[i] = si, b->win_h1[i] = h1;
    return 0;
}

static void batch_free(const tft_table_reader *r, tft_table_batch *b) {
    for (int32_t i = 0; i < b->cap_series; i++) tft_table_series_free(r, &b->series[i]);
    free(b->series), free(b->win), free(b->cols), free(b->win_series), free(b->win_h1), free(b->q), free(b->enc_len);
}

tft_status tft_table_run(const tft_model *m, tft_table_reader *r, const tft_table_opts *o, int32_t horizon,
                         int32_t keep, tft_table_add_fn add, tft_table_done_fn done, void *user, int64_t *n_series,
                         char *err, size_t errlen) {
    const tft_model_info *mi = tft_model_get_info(m);
    int32_t max_batch = o->max_batch > 0 ? o->max_batch : 64;
    int32_t threads   = o->threads > 0 ? o->threads : (int32_t)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    tft_context_params cp = tft_context_default_params();
    cp.max_batch = max_batch, cp.n_threads = threads;
    tft_context *ctx = NULL;
    tft_status   st  = tft_context_new(m, &cp, &ctx);
    if (st != TFT_OK) {
        snprintf(err, errlen, "%s", tft_last_error());
        return st;
    }
    tft_table_batch b[2];
    memset(b, 0, sizeof b);
    worker_job   job[2];
    pthread_t    th;
    int          inflight = -1, cur = 0, eof = 0;
    int64_t      total    = 0;
    int32_t      per      = mi->n_targets * horizon * mi->n_quantiles;
    tft_progress pr;
    tft_progress_start(&pr, o->progress, o->input_bytes);
    st = TFT_OK;
    while (!eof) {
        tft_table_batch *bt = &b[cur];
        bt->n_series = 0, bt->n_win = 0;
        while (bt->n_win < max_batch) {
            if (bt->n_series == bt->cap_series) {
                int32_t           cap = bt->cap_series ? 2 * bt->cap_series : 64;
                tft_table_series *s   = realloc(bt->series, sizeof *s * (size_t)cap);
                if (!s) {
                    st = TFT_ERR_NOMEM, snprintf(err, errlen, "out of memory");
                    goto out;
                }
                memset(s + bt->cap_series, 0, sizeof *s * (size_t)(cap - bt->cap_series));
                // windows point into the series' arrays, not into these structs: moving them is fine
                bt->series = s, bt->cap_series = cap;
            }
            int rc = tft_table_next_series(r, &bt->series[bt->n_series], keep, err, errlen);
            if (rc < 0) {
                st = TFT_ERR_INVALID_ARG;
                goto out;
            }
            if (rc == 0) {
                eof = 1;
                break;
            }
            int32_t si = bt->n_series++;
            total++;
            if (add(user, r, bt, si, err, errlen)) {
                st = TFT_ERR_INVALID_ARG;
                goto out;
            }
            tft_progress_draw(&pr, tft_table_rows(r), total, tft_table_bytes(r), 0);
        }
        if (inflight >= 0) { // the previous batch: wait for it, hand it over
            pthread_join(th, NULL);
            tft_table_batch *pb = &b[inflight];
            inflight            = -1;
            if (pb->st != TFT_OK) {
                st = pb->st, snprintf(err, errlen, "%s: %s", r->name, pb->err);
                goto out;
            }
            if (done(user, r, pb, err, errlen)) {
                st = TFT_ERR_IO;
                goto out;
            }
        }
        if (bt->n_series == 0) break;
        size_t need = (size_t)(bt->n_win ? bt->n_win : 1) * (size_t)per;
        float *q    = realloc(bt->q, need * sizeof(float));
        if (q) bt->q = q;
        int32_t *el = realloc(bt->enc_len, sizeof(int32_t) * (size_t)(bt->n_win ? bt->n_win : 1));
        if (el) bt->enc_len = el;
        if (!q || !el) {
            st = TFT_ERR_NOMEM, snprintf(err, errlen, "out of memory for %d forecasts", bt->n_win);
            goto out;
        }
        job[cur] = (worker_job){.ctx = ctx, .b = bt, .max_batch = max_batch, .per = per};
        if (pthread_create(&th, NULL, worker_main, &job[cur]) != 0) { // no thread: forecast here
            worker_main(&job[cur]);
            if (bt->st != TFT_OK) {
                st = bt->st, snprintf(err, errlen, "%s: %s", r->name, bt->err);
                goto out;
            }
            if (done(user, r, bt, err, errlen)) {
                st = TFT_ERR_IO;
                goto out;
            }
        } else {
            inflight = cur;
            cur ^= 1;
        }
    }
    if (inflight >= 0) {
        pthread_join(th, NULL);
        tft_table_batch *pb = &b[inflight];
        inflight            = -1;
        if (pb->st != TFT_OK) st = pb->st, snprintf(err, errlen, "%s: %s", r->name, pb->err);
        else if (done(user, r, pb, err, errlen)) st = TFT_ERR_IO;
    }
out:
    if (inflight >= 0) pthread_join(th, NULL);
    tft_progress_draw(&pr, tft_table_rows(r), total, tft_table_bytes(r), 1);
    if (n_series) *n_series = total;
    batch_free(r, &b[0]), batch_free(r, &b[1]);
    tft_context_free(ctx);
    return st;
}

// ---- forecast-table --------------------------------------------------------------------------
typedef struct forecast_job {
    const tft_model *m;
    FILE            *out;
    int32_t          horizon, wide;
    tft_plot        *plot;
    int32_t          plot_left;
} forecast_job;

static int forecast_add(void *user, tft_table_reader *r, tft_table_batch *b, int32_t si, char *err, size_t errlen) {
    forecast_job           *j  = user;
    const tft_table_series *s  = &b->series[si];
    const tft_model_info   *mi = tft_model_get_info(j->m);
    if (s->n_rows_total <= j->horizon)
        return FAIL("%s:%lld: series '%s' has %lld row%s: the last %d are its future (the horizon), and it needs at "
                    "least %d history rows before them (a series' rows must be contiguous: sort the table by its "
                    "group ids, then by %s)", r->name, (long long)s->first_line, s->id, (long long)s->n_rows_total,
                    s->n_rows_total == 1 ? "" : "s", j->horizon,
                    mi->min_encoder_length + mi->max_lag > 1 ? mi->min_encoder_length + mi->max_lag : 1, mi->time_idx);
    int32_t h1 = s->n_rows - j->horizon;
    int32_t h0 = h1 - (mi->max_lag + mi->max_encoder_length);
    if (h0 < 0) h0 = 0;
    if (tft_table_check_rows(r, s, 0, h1, 0, err, errlen) ||
        tft_table_check_rows(r, s, h1, s->n_rows, 1, err, errlen))
        return -1;
    if (tft_table_add_window(r, b, si, h0, h1, j->horizon)) return FAIL("out of memory");
    // what only the model knows (a category it never saw, a history too short): the series' lines
    if (tft_series_check(j->m, &b->win[b->n_win - 1], 1) != TFT_OK)
        return FAIL("%s: series '%s' (lines %lld-%lld): %s", r->name, s->id, (long long)s->first_line,
                    (long long)s->line[s->n_rows - 1], tft_table_series_message(tft_last_error()));
    return 0;
}

static void write_keys(FILE *f, const tft_table_series *s, int n_groups, int64_t t, int32_t step) {
    for (int g = 0; g < n_groups; g++) {
        tft_csv_write_field(f, s->group_labels[g]);
        fputc(',', f);
    }
    fprintf(f, "%lld,%d", (long long)t, step);
}

static int forecast_done(void *user, tft_table_reader *r, const tft_table_batch *b, char *err, size_t errlen) {
    forecast_job         *j  = user;
    const tft_model_info *mi = tft_model_get_info(j->m);
    int32_t NT = mi->n_targets, Q = mi->n_quantiles, H = j->horizon;
    for (int32_t w = 0; w < b->n_win; w++) {
        const tft_table_series *s = &b->series[b->win_series[w]];
        const float            *q = b->q + (size_t)w * NT * H * Q; // [NT, H, Q]
        int32_t                 h1 = b->win_h1[w];
        for (int32_t k = 0; k < H; k++) {
            if (j->wide) {
                write_keys(j->out, s, mi->n_group_ids, s->time_idx[h1 + k], k + 1);
                for (int32_t t = 0; t < NT; t++)
                    for (int32_t i = 0; i < Q; i++) fprintf(j->out, ",%.9g", q[((size_t)t * H + k) * Q + i]);
                fputc('\n', j->out);
            } else {
                for (int32_t t = 0; t < NT; t++) {
                    write_keys(j->out, s, mi->n_group_ids, s->time_idx[h1 + k], k + 1);
                    fputc(',', j->out);
                    tft_csv_write_field(j->out, mi->targets[t]);
                    for (int32_t i = 0; i < Q; i++) fprintf(j->out, ",%.9g", q[((size_t)t * H + k) * Q + i]);
                    fputc('\n', j->out);
                }
            }
        }
        if (j->plot && j->plot_left > 0) {
            j->plot_left--;
            int32_t n_hist = h1 < mi->max_encoder_length ? h1 : mi->max_encoder_length;
            for (int32_t t = 0; t < NT; t++) {
                int           tv = tft_table_column(r, mi->targets[t]);
                const double *y  = s->vals[tv];
                int           have_actual = 1; // the table's target in the future rows, when all present
                for (int32_t k = 0; k < H; k++) have_actual &= !isnan(y[h1 + k]);
                if (tft_plot_add(j->plot, s->id, mi->targets[t], n_hist, s->time_idx + h1 - n_hist, y + h1 - n_hist,
                                 H, s->time_idx + h1, q + (size_t)t * H * Q, have_actual ? y + h1 : NULL))
                    return FAIL("out of memory for the plot");
            }
        }
    }
    if (ferror(j->out)) return FAIL("writing the forecasts failed: %s", strerror(errno));
    return 0;
}

tft_status tft_table_forecast(const tft_model *m, FILE *in, const char *in_name, FILE *out, const tft_table_opts *o,
                              int64_t *n_series, char *err, size_t errlen) {
    const tft_model_info *mi = tft_model_get_info(m);
    int32_t H = o->horizon ? o->horizon : mi->max_prediction_length;
    if (H < mi->min_prediction_length || H > mi->max_prediction_length) {
        snprintf(err, errlen, "--horizon %d is outside the model's [%d, %d]", H, mi->min_prediction_length,
                 mi->max_prediction_length);
        return TFT_ERR_SHAPE;
    }
    tft_table_reader *r  = NULL;
    tft_status        st = tft_table_reader_new(m, in, in_name, o->log ? o->log : stderr, &r, err, errlen);
    if (st != TFT_OK) return st;
    forecast_job j = {.m = m, .out = out, .horizon = H, .wide = o->wide};
    if (o->plot_path) {
        j.plot      = tft_plot_new(mi->n_quantiles, mi->quantiles);
        j.plot_left = o->plot_series > 0 ? o->plot_series : 6;
        if (!j.plot) {
            tft_table_reader_free(r);
            snprintf(err, errlen, "out of memory");
            return TFT_ERR_NOMEM;
        }
    }
    // header
    for (int g = 0; g < mi->n_group_ids; g++) tft_csv_write_field(out, mi->group_ids[g]), fputc(',', out);
    tft_csv_write_field(out, mi->time_idx);
    fputs(",step", out);
    if (!o->wide) fputs(",target", out);
    for (int t = 0; t < (o->wide ? mi->n_targets : 1); t++)
        for (int i = 0; i < mi->n_quantiles; i++) {
            char name[160], lv[TFT_LEVEL_MAX];
            tft_fmt_level(lv, mi->quantiles[i]);
            if (o->wide) snprintf(name, sizeof name, "%s_q%s", mi->targets[t], lv);
            else snprintf(name, sizeof name, "q%s", lv);
            fputc(',', out), tft_csv_write_field(out, name);
        }
    fputc('\n', out);
    int32_t keep = mi->max_lag + mi->max_encoder_length + H;
    st = tft_table_run(m, r, o, H, keep, forecast_add, forecast_done, &j, n_series, err, errlen);
    if (st == TFT_OK && j.plot) {
        char title[300];
        snprintf(title, sizeof title, "%s: forecast of the last %d steps", in_name, H);
        if (tft_plot_write_svg(j.plot, o->plot_path, title, err, errlen)) st = TFT_ERR_IO;
    }
    if (st == TFT_OK && fflush(out) != 0) {
        snprintf(err, errlen, "writing the forecasts failed: %s", strerror(errno));
        st = TFT_ERR_IO;
    }
    tft_plot_free(j.plot);
    tft_table_reader_free(r);
    return st;
}
