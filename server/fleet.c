// fleet.c: the fleet core (fleet.h): registry, windows, durable ingest, restore, time features,
// batched forecasts into a versioned cache, breach probabilities.
//
// Memory, reserved at open for S = max_series slots, W = window steps, C = observed columns,
// nt targets, T = horizon, Q quantiles:
//   ring_step [S, W] int64   the step a ring cell holds (step % W is its cell); INT64_MIN = empty
//   ring_have [S, W] uint32  which observed columns of that row have their value (bit c)
//   ring_val  [S, W, C]      the values
//   cache_q   [S, nt, T, Q]  the last forecast, valid for data version cache_ver[s]
// One mutex (mu) guards all of it; the SQLite connection is used under it too. A refresh copies a
// batch's inputs out under the lock, runs the engine without it, and stores the results under it.
#include "fleet.h"
#include "../loader/json.h"
#include "prom_map.h"
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NO_STEP INT64_MIN
#define FLEET_MAX_COLUMNS 32 // observed columns (bits of ring_have)

enum { TR_HOUR, TR_HOUR_FRAC, TR_MINUTE_OF_DAY, TR_WEEKDAY, TR_DAY_OF_MONTH, TR_MONTH, TR_DAY_OF_YEAR, TR_IS_WEEKEND,
       TR_COUNT };
static const char *const recipe_names[TR_COUNT] = {"hour",         "hour_frac", "minute_of_day", "weekday",
                                                   "day_of_month", "month",     "day_of_year",   "is_weekend"};

// how one model input of a series is made
typedef enum src_kind { SRC_OBSERVED, SRC_TIME, SRC_STATIC } src_kind;
typedef struct input_src {
    const char *name;
    src_kind    kind;
    int32_t     index;       // OBSERVED: column; TIME: recipe; STATIC: static input
    int32_t     categorical; // the values go to the model as labels (decimal text of an integer recipe)
} input_src;

typedef struct cache_entry {
    uint64_t version;       // data version this entry was computed for (0: never)
    int64_t  origin_step;   // the last history row's step
    int32_t  history_rows;
    int32_t  failed;        // 1: code/message hold the error instead of a forecast
    char     code[32];
    char     message[200];
} cache_entry;

struct fleet {
    const tft_model      *model;
    prom_map             *prom; // the config's "prometheus" mapping, or NULL (no remote write)
    const tft_model_info *mi;
    pthread_mutex_t       mu;
    // config
    int64_t         S, W, step_ms, horizon;
    int32_t         utc_offset_min, gaps_restart, recompute, max_batch, sync_full;
    int32_t         keep_first; // "duplicates": "first"
    fleet_threshold thr[FLEET_MAX_THRESHOLDS];
    int32_t         n_thr;
    int32_t         gauge_h[FLEET_MAX_GAUGE_POINTS], n_gauge_h; // horizons (1-based steps)
    int32_t         gauge_q[FLEET_MAX_GAUGE_POINTS], n_gauge_q; // indices into the model's quantiles
    char            store_path[1024];
    // columns
    int32_t     C;                              // observed columns
    const char *obs[FLEET_MAX_COLUMNS];         // their names (the model's strings)
    int32_t     n_hist, n_fut, n_stat;
    input_src  *hist, *fut;                      // [n_hist], [n_fut]
    int32_t     stat_group;                      // bits: static input k is a group id (k < 32)
    int32_t     stat_cat_mask;                   // bits: static input k is categorical
    // registry
    int64_t   n_series;
    _Atomic int64_t n_series_seen; // n_series for readers without the lock (GET /metrics on the I/O thread)
    char     *ids;      // [S, FLEET_ID_MAX + 1]
    uint32_t *id_len;   // [S]
    uint32_t *table;    // open addressing: slot + 1, 0 = empty; [table_cap]
    uint64_t  table_cap;
    char     *statics;  // [S, n_stat, FLEET_LABEL_MAX + 1]
    int64_t  *newest;   // [S]
    uint64_t *version;  // [S] data version, 1 up
    int64_t  *ring_step;
    uint32_t *ring_have;
    double   *ring_val;
    // cache
    cache_entry *cache; // [S]
    float       *cache_q;
    size_t       q_per_series; // nt * T * Q
    // refresh (one thread at a time)
    tft_context *ctx;
    int64_t      refresh_cursor;
    // batch scratch for max_batch series
    tft_series *b_series;
    tft_column *b_cols;    // [B, n_stat + n_hist + n_fut]
    double     *b_real;    // [B, (n_hist + n_fut) * (W + T) + n_stat]
    const char **b_lab;    // [B, (n_hist + n_fut) * (W + T) + n_stat]
    char       *b_text;    // [B, n_stat, FLEET_LABEL_MAX + 1] statics copied out
    int64_t    *b_tidx;    // [B, W + T]
    int32_t    *b_slot;
    uint64_t   *b_ver;
    int64_t    *b_origin;
    int32_t    *b_rows;
    float      *b_out;     // [B, nt, T, Q]
    char        num_labels[400][4]; // "0".."399": labels of integer time features
    size_t      bytes_reserved;
    // store
    sqlite3      *db;
    sqlite3_stmt *st_ins_point, *st_ins_series, *st_ins_static, *st_prune;
    fleet_stats   stats;
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static void count(_Atomic uint64_t *c, uint64_t v) { atomic_fetch_add_explicit(c, v, memory_order_relaxed); }

static int fail(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errsz, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (err && errsz) vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
    return -1;
}

// ---- time --------------------------------------------------------------------------------------------

int fleet_time_recipe(const char *name) {
    for (int i = 0; i < TR_COUNT; i++)
        if (strcmp(name, recipe_names[i]) == 0) return i;
    return -1;
}

// days since 1970-01-01 -> civil date (Howard Hinnant's algorithm; proleptic Gregorian)
static void civil_from_days(int64_t z, int64_t *y, int32_t *m, int32_t *d) {
    z += 719468;
    int64_t  era = (z >= 0 ? z : z - 146096) / 146097;
    uint32_t doe = (uint32_t)(z - era * 146097);
    uint32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint32_t mp  = (5 * doy + 2) / 153;
    *d           = (int32_t)(doy - (153 * mp + 2) / 5 + 1);
    *m           = (int32_t)(mp < 10 ? mp + 3 : mp - 9);
    *y           = (int64_t)yoe + era * 400 + (*m <= 2);
}

double fleet_time_feature(int recipe, int64_t ts_ms, int32_t utc_offset_min) {
    int64_t t    = ts_ms + (int64_t)utc_offset_min * 60000;
    int64_t days = t >= 0 ? t / 86400000 : -((-t + 86399999) / 86400000);
    int64_t msod = t - days * 86400000; // ms of the day, 0..86399999
    int64_t y;
    int32_t mo, d;
    switch (recipe) {
    case TR_HOUR: return (double)(msod / 3600000);
    case TR_HOUR_FRAC: return (double)(msod / 3600000) + (double)(msod / 60000 % 60) / 60.0 + (double)(msod / 1000 % 60) / 3600.0;
    case TR_MINUTE_OF_DAY: return (double)(msod / 60000);
    case TR_WEEKDAY: return (double)(((days % 7) + 7 + 3) % 7); // 1970-01-01 was a Thursday (3; Monday = 0)
    case TR_IS_WEEKEND: return (((days % 7) + 7 + 3) % 7) >= 5 ? 1.0 : 0.0;
    case TR_DAY_OF_MONTH: civil_from_days(days, &y, &mo, &d); return d;
    case TR_MONTH: civil_from_days(days, &y, &mo, &d); return mo;
    case TR_DAY_OF_YEAR: {
        civil_from_days(days, &y, &mo, &d);
        static const int cum[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return cum[mo - 1] + d + (leap && mo > 2);
    }
    default: return NAN;
    }
}

static int64_t align_step(int64_t ts_ms, int64_t step_ms) {
    int64_t t = ts_ms + step_ms / 2;
    return t >= 0 ? t / step_ms : -((-t + step_ms - 1) / step_ms);
}

// ---- risk --------------------------------------------------------------------------------------------

double fleet_exceed_prob(const float *levels, const float *values, int32_t q, double x) {
    if (q <= 0) return NAN;
    double v[64], l[64];
    if (q > 64) return NAN; // (fleet_open refuses such a model)
    for (int32_t i = 0; i < q; i++) { // non-decreasing values (quantile crossing repaired by a running max)
        v[i] = values[i], l[i] = levels[i];
        if (i && v[i] < v[i - 1]) v[i] = v[i - 1];
    }
    if (q == 1) return x < v[0] ? 1.0 : 0.0;
    if (x >= v[q - 1]) {
        double spread = v[q - 1] - v[q - 2];
        if (spread <= 0 || x == v[q - 1]) return x == v[q - 1] ? 1.0 - l[q - 1] : 0.0;
        double s = spread / log((1.0 - l[q - 2]) / (1.0 - l[q - 1]));
        return (1.0 - l[q - 1]) * exp(-(x - v[q - 1]) / s);
    }
    if (x < v[0]) {
        double spread = v[1] - v[0];
        if (spread <= 0) return 1.0;
        double s = spread / log(l[1] / l[0]);
        return 1.0 - l[0] * exp((x - v[0]) / s);
    }
    // v[0] <= x < v[q-1]: the last i with v[i] <= x, then linear to the next distinct value
    int32_t i = 0;
    while (i + 1 < q && v[i + 1] <= x) i++;
    double cdf = l[i] + (l[i + 1] - l[i]) * (x - v[i]) / (v[i + 1] - v[i]);
    return 1.0 - cdf;
}

// ---- registry -------------------------------------------------------------------------------------------

static uint64_t hash_id(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; // FNV-1a
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}
static char *id_of(const fleet *f, int64_t slot) { return f->ids + slot * (FLEET_ID_MAX + 1); }
static char *static_of(const fleet *f, int64_t slot, int32_t k) {
    return f->statics + (slot * f->n_stat + k) * (FLEET_LABEL_MAX + 1);
}
// the slot of a series, or -1
static int64_t lookup(const fleet *f, const char *id, size_t n) {
    for (uint64_t i = hash_id(id, n) & (f->table_cap - 1);; i = (i + 1) & (f->table_cap - 1)) {
        uint32_t e = f->table[i];
        if (!e) return -1;
        int64_t s = (int64_t)e - 1;
        if (f->id_len[s] == n && memcmp(id_of(f, s), id, n) == 0) return s;
    }
}
static int64_t add_series(fleet *f, const char *id, size_t n) {
    int64_t s = f->n_series++;
    memcpy(id_of(f, s), id, n), id_of(f, s)[n] = 0, f->id_len[s] = (uint32_t)n;
    uint64_t i = hash_id(id, n) & (f->table_cap - 1);
    while (f->table[i]) i = (i + 1) & (f->table_cap - 1);
    f->table[i]    = (uint32_t)(s + 1);
    f->newest[s]   = NO_STEP;
    f->version[s]  = 0;
    return s;
}
static int32_t obs_column(const fleet *f, const char *name, size_t n) {
    for (int32_t c = 0; c < f->C; c++)
        if (strlen(f->obs[c]) == n && memcmp(f->obs[c], name, n) == 0) return c;
    return -1;
}
static int32_t static_input(const fleet *f, const char *name, size_t n) {
    for (int32_t k = 0; k < f->n_stat; k++)
        if (strlen(f->mi->static_inputs[k]) == n && memcmp(f->mi->static_inputs[k], name, n) == 0) return k;
    return -1;
}
static uint32_t full_mask(const fleet *f) { return f->C == 32 ? 0xFFFFFFFFu : ((1u << f->C) - 1); }

// Writes a printable copy of s[0, n) (at most 64 bytes; control bytes as '?') for messages.
static const char *shown(char *buf, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap && i < 64; i++) buf[o++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    if (n > 64 && o + 3 < cap) buf[o++] = '.', buf[o++] = '.', buf[o++] = '.';
    buf[o] = 0;
    return buf;
}

// A static value is valid for its input: a known label of a categorical (unless the model maps
// unknown labels to "nan"), a finite number for a real. 0 or -1 + err.
static int check_static(const fleet *f, int32_t k, const char *v, size_t n, const char *sid, char *err, size_t errsz) {
    const char *name = f->mi->static_inputs[k];
    char        a[80], b[80];
    if (n > FLEET_LABEL_MAX || memchr(v, 0, n))
        return fail(err, errsz, "series '%s': static '%s': the value must be 1 to %d bytes without NUL", sid, name,
                    FLEET_LABEL_MAX);
    if (f->stat_cat_mask & (1 << k)) {
        int32_t nl = 0, add_nan = 0;
        const char *const *labels = tft_model_category_labels(f->model, name, &nl, &add_nan);
        if (add_nan) return 0;
        for (int32_t i = 0; i < nl; i++)
            if (strlen(labels[i]) == n && memcmp(labels[i], v, n) == 0) return 0;
        return fail(err, errsz, "series '%s': static '%s': the label '%s' is one the model never saw", sid, name,
                    shown(a, sizeof a, v, n));
    }
    char tmp[FLEET_LABEL_MAX + 1], *end;
    memcpy(tmp, v, n), tmp[n] = 0;
    errno    = 0;
    double x = n ? strtod(tmp, &end) : NAN;
    if (!n || *end || !isfinite(x))
        return fail(err, errsz, "series '%s': static '%s': '%s' is not a finite number", sid, name,
                    shown(b, sizeof b, v, n));
    return 0;
}

// ---- the store ------------------------------------------------------------------------------------------

static int db_exec(fleet *f, const char *sql, char *err, size_t errsz) {
    char *msg = NULL;
    if (sqlite3_exec(f->db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    fail(err, errsz, "fleet store %s: %s (%s)", f->store_path, msg ? msg : sqlite3_errmsg(f->db), sql);
    sqlite3_free(msg);
    return -1;
}

static int db_prepare(fleet *f, const char *sql, sqlite3_stmt **st, char *err, size_t errsz) {
    if (sqlite3_prepare_v2(f->db, sql, -1, st, NULL) == SQLITE_OK) return 0;
    return fail(err, errsz, "fleet store %s: %s", f->store_path, sqlite3_errmsg(f->db));
}

// The layout the store was written with must be this fleet's (model, columns, step, window): a
// store of another model would restore rows into the wrong columns.
static int db_check_meta(fleet *f, char *err, size_t errsz) {
    char layout[2048];
    int  o = snprintf(layout, sizeof layout, "model=%s;step_ms=%lld;window=%lld;columns=", f->mi->sha256,
                      (long long)f->step_ms, (long long)f->W);
    for (int32_t c = 0; c < f->C && o < (int)sizeof layout; c++)
        o += snprintf(layout + o, sizeof layout - (size_t)o, "%s%s", c ? "," : "", f->obs[c]);
    sqlite3_stmt *st = NULL;
    if (db_prepare(f, "SELECT value FROM meta WHERE key = 'layout'", &st, err, errsz)) return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *had = (const char *)sqlite3_column_text(st, 0);
        if (!had || strcmp(had, layout) != 0) {
            fail(err, errsz,
                 "fleet store %s was written for another model or config (%s); this one is %s: use another store",
                 f->store_path, had ? had : "?", layout);
            sqlite3_finalize(st);
            return -1;
        }
        sqlite3_finalize(st);
        return 0;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return fail(err, errsz, "fleet store %s: %s", f->store_path, sqlite3_errmsg(f->db));
    if (db_prepare(f, "INSERT INTO meta(key, value) VALUES('layout', ?)", &st, err, errsz)) return -1;
    sqlite3_bind_text(st, 1, layout, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(err, errsz, "fleet store %s: %s", f->store_path, sqlite3_errmsg(f->db));
}

static void ring_put(fleet *f, int64_t s, int64_t step, int32_t c, double v) {
    int64_t cell = s * f->W + (int64_t)(((step % f->W) + f->W) % f->W);
    if (f->ring_step[cell] != step) f->ring_step[cell] = step, f->ring_have[cell] = 0;
    f->ring_have[cell] |= 1u << c;
    f->ring_val[cell * f->C + c] = v;
    if (f->newest[s] == NO_STEP || step > f->newest[s]) f->newest[s] = step;
}

static int db_open(fleet *f, char *err, size_t errsz) {
    if (sqlite3_open_v2(f->store_path, &f->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        return fail(err, errsz, "fleet store %s: %s", f->store_path, f->db ? sqlite3_errmsg(f->db) : "cannot open");
    sqlite3_busy_timeout(f->db, 5000);
    // WAL: a commit is one append to the log; synchronous FULL fsyncs it before the commit returns,
    // so an acknowledged point survives a crash of the machine too (NORMAL: of the process only)
    if (db_exec(f, "PRAGMA journal_mode=WAL", err, errsz) ||
        db_exec(f, f->sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", err, errsz) ||
        // 64 MiB of page cache (SQLite's default is 2 MiB): a round touches every series' last pages
        // of the points tree, 10,000 series apart, and a small cache rereads them from the file
        db_exec(f, "PRAGMA cache_size=-65536", err, errsz) ||
        db_exec(f,
                "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                "CREATE TABLE IF NOT EXISTS series(id BLOB PRIMARY KEY, seq INTEGER NOT NULL);"
                "CREATE TABLE IF NOT EXISTS statics(series BLOB NOT NULL, input TEXT NOT NULL, value BLOB NOT NULL,"
                " PRIMARY KEY(series, input)) WITHOUT ROWID;"
                "CREATE TABLE IF NOT EXISTS points(series BLOB NOT NULL, step INTEGER NOT NULL, col INTEGER NOT NULL,"
                " value REAL NOT NULL, PRIMARY KEY(series, step, col)) WITHOUT ROWID;",
                err, errsz) ||
        db_check_meta(f, err, errsz))
        return -1;
    if (db_prepare(f, "INSERT OR IGNORE INTO points(series, step, col, value) VALUES(?, ?, ?, ?)", &f->st_ins_point, err,
                   errsz) ||
        db_prepare(f, "INSERT INTO series(id, seq) VALUES(?, ?)", &f->st_ins_series, err, errsz) ||
        db_prepare(f, "INSERT INTO statics(series, input, value) VALUES(?, ?, ?)", &f->st_ins_static, err, errsz) ||
        db_prepare(f, "DELETE FROM points WHERE series = ? AND step < ?", &f->st_prune, err, errsz))
        return -1;
    // restore: the series in the order first seen, their statics, then every point in the window
    sqlite3_stmt *st = NULL;
    if (db_prepare(f, "SELECT id FROM series ORDER BY seq", &st, err, errsz)) return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = sqlite3_column_blob(st, 0);
        int         n  = sqlite3_column_bytes(st, 0);
        if (f->n_series >= f->S) {
            sqlite3_finalize(st);
            return fail(err, errsz, "fleet store %s holds more series than max_series %lld: raise it", f->store_path,
                        (long long)f->S);
        }
        if (n <= 0 || n > FLEET_ID_MAX || lookup(f, id, (size_t)n) >= 0) {
            sqlite3_finalize(st);
            return fail(err, errsz, "fleet store %s: a series id is empty, too long or repeated", f->store_path);
        }
        add_series(f, id, (size_t)n);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return fail(err, errsz, "fleet store %s: %s", f->store_path, sqlite3_errmsg(f->db));
    if (db_prepare(f, "SELECT series, input, value FROM statics", &st, err, errsz)) return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t     s = lookup(f, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
        const char *in = (const char *)sqlite3_column_text(st, 1);
        int32_t     k  = in ? static_input(f, in, strlen(in)) : -1;
        int         n  = sqlite3_column_bytes(st, 2);
        if (s < 0 || k < 0 || n > FLEET_LABEL_MAX) {
            sqlite3_finalize(st);
            return fail(err, errsz, "fleet store %s: a static row names no known series or input", f->store_path);
        }
        memcpy(static_of(f, s, k), sqlite3_column_blob(st, 2), (size_t)n), static_of(f, s, k)[n] = 0;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return fail(err, errsz, "fleet store %s: %s", f->store_path, sqlite3_errmsg(f->db));
    if (db_prepare(f, "SELECT series, step, col, value FROM points ORDER BY series, step", &st, err, errsz)) return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t s = lookup(f, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
        int64_t c = sqlite3_column_int64(st, 2);
        if (s < 0 || c < 0 || c >= f->C) {
            sqlite3_finalize(st);
            return fail(err, errsz, "fleet store %s: a point names no known series or column", f->store_path);
        }
        ring_put(f, s, sqlite3_column_int64(st, 1), (int32_t)c, sqlite3_column_double(st, 3));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return fail(err, errsz, "fleet store %s: %s", f->store_path, sqlite3_errmsg(f->db));
    // rows older than each series' window (pruned at the next ingest) are dropped from the ring
    for (int64_t s = 0; s < f->n_series; s++) {
        f->version[s] = 1;
        for (int64_t w = 0; w < f->W; w++) {
            int64_t cell = s * f->W + w;
            if (f->ring_step[cell] != NO_STEP && f->ring_step[cell] <= f->newest[s] - f->W)
                f->ring_step[cell] = NO_STEP, f->ring_have[cell] = 0;
        }
    }
    return 0;
}

// ---- config -----------------------------------------------------------------------------------------------

static int cfg_int(const tft_json *root, const char *key, int64_t lo, int64_t hi, int64_t *out, char *err, size_t errsz) {
    const tft_json *v = tft_json_get(root, key);
    if (!v) return 0;
    int64_t x;
    if (v->type != TFT_JSON_NUMBER || tft_json_i64(v, &x) || x < lo || x > hi)
        return fail(err, errsz, "fleet config: \"%s\" must be an integer in [%lld, %lld]", key, (long long)lo,
                    (long long)hi);
    *out = x;
    return 0;
}

static int parse_config(fleet *f, const char *path, char *err, size_t errsz, int32_t *recipe_of_input) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return fail(err, errsz, "fleet config %s: %s", path, strerror(errno));
    char  *text = malloc(1 << 20);
    size_t len  = text ? fread(text, 1, 1 << 20, fp) : 0;
    int    big  = text && len == 1 << 20;
    fclose(fp);
    if (!text || big) {
        fail(err, errsz, "fleet config %s: %s", path, text ? "over 1 MiB" : "no memory");
        free(text);
        return -1;
    }
    tft_json_limits lim = tft_json_default_limits();
    lim.max_depth = 8, lim.max_string = 4096, lim.max_elements = 100000;
    tft_json *root = NULL;
    char      jerr[256];
    if (tft_json_parse(text, len, &lim, &root, jerr, sizeof jerr) != 0) {
        free(text);
        return fail(err, errsz, "fleet config %s: %s", path, jerr);
    }
    free(text);
    int rc = -1;
    if (root->type != TFT_JSON_OBJECT) {
        fail(err, errsz, "fleet config %s: the top level must be an object", path);
        goto out;
    }
    static const char *const known[] = {"store", "max_series", "step_seconds", "gaps", "duplicates", "time_features",
                                        "utc_offset_minutes", "horizon", "max_batch", "recompute_after_ingest",
                                        "thresholds", "gauges", "sync", "prometheus", "comment"};
    for (const tft_json *m = root->child; m; m = m->next) {
        size_t i = 0;
        while (i < sizeof known / sizeof *known && strcmp(known[i], m->key)) i++;
        if (i == sizeof known / sizeof *known) {
            fail(err, errsz, "fleet config %s: unknown key \"%s\"", path, m->key);
            goto out;
        }
    }
    int64_t step_s = 0, v;
    if (cfg_int(root, "step_seconds", 1, 86400 * 366, &step_s, err, errsz)) goto out;
    if (!step_s) {
        fail(err, errsz, "fleet config %s: \"step_seconds\" (the series step, e.g. 300) is required", path);
        goto out;
    }
    f->step_ms = step_s * 1000;
    v          = f->S;
    if (cfg_int(root, "max_series", 1, 10000000, &v, err, errsz)) goto out;
    if (!f->S) f->S = v ? v : 1000;
    v = f->mi->max_prediction_length;
    if (cfg_int(root, "horizon", f->mi->min_prediction_length, f->mi->max_prediction_length, &v, err, errsz)) goto out;
    f->horizon = v;
    v          = 64;
    if (cfg_int(root, "max_batch", 1, 4096, &v, err, errsz)) goto out;
    f->max_batch = (int32_t)v;
    v            = 0;
    if (cfg_int(root, "utc_offset_minutes", -24 * 60, 24 * 60, &v, err, errsz)) goto out;
    f->utc_offset_min = (int32_t)v;
    const tft_json *j = tft_json_get(root, "recompute_after_ingest");
    if (j && j->type != TFT_JSON_TRUE && j->type != TFT_JSON_FALSE) {
        fail(err, errsz, "fleet config %s: \"recompute_after_ingest\" must be true or false", path);
        goto out;
    }
    f->recompute = j && j->type == TFT_JSON_TRUE;
    j            = tft_json_get(root, "gaps");
    if (j && (j->type != TFT_JSON_STRING || (strcmp(j->str, "reject") && strcmp(j->str, "restart")))) {
        fail(err, errsz, "fleet config %s: \"gaps\" must be \"reject\" or \"restart\"", path);
        goto out;
    }
    f->gaps_restart = j && strcmp(j->str, "restart") == 0;
    j               = tft_json_get(root, "duplicates");
    if (j && (j->type != TFT_JSON_STRING || (strcmp(j->str, "reject") && strcmp(j->str, "first")))) {
        fail(err, errsz, "fleet config %s: \"duplicates\" must be \"reject\" or \"first\"", path);
        goto out;
    }
    f->keep_first = j && strcmp(j->str, "first") == 0;
    j               = tft_json_get(root, "sync");
    if (j && (j->type != TFT_JSON_STRING || (strcmp(j->str, "full") && strcmp(j->str, "normal")))) {
        fail(err, errsz, "fleet config %s: \"sync\" must be \"full\" or \"normal\"", path);
        goto out;
    }
    f->sync_full = !j || strcmp(j->str, "full") == 0;
    j            = tft_json_get(root, "store");
    if (j && (j->type != TFT_JSON_STRING || !j->len || j->len >= sizeof f->store_path)) {
        fail(err, errsz, "fleet config %s: \"store\" must be a file path", path);
        goto out;
    }
    if (!f->store_path[0]) snprintf(f->store_path, sizeof f->store_path, "%s", j ? j->str : "fleet.db");
    // Prometheus remote write in (POST /api/v1/write): the mapping from metric names and labels to
    // series and columns (server/prom_map.h, server/API.md "Prometheus remote write")
    j = tft_json_get(root, "prometheus");
    if (j) {
        char perr[512];
        if (prom_map_from_json(j, &f->prom, perr, sizeof perr)) {
            fail(err, errsz, "fleet config %s: \"prometheus\": %s", path, perr);
            goto out;
        }
    }
    // time features: {"column": "recipe"}; every known input of the model needs one
    const tft_json *tf = tft_json_get(root, "time_features");
    if (tf && tf->type != TFT_JSON_OBJECT) {
        fail(err, errsz, "fleet config %s: \"time_features\" must be an object {column: recipe}", path);
        goto out;
    }
    for (const tft_json *m = tf ? tf->child : NULL; m; m = m->next) {
        int r = m->type == TFT_JSON_STRING ? fleet_time_recipe(m->str) : -1;
        if (r < 0) {
            fail(err, errsz,
                 "fleet config %s: time_features.%s: the recipe must be one of hour, hour_frac, minute_of_day, "
                 "weekday, day_of_month, month, day_of_year, is_weekend",
                 path, m->key);
            goto out;
        }
        int32_t k = -1;
        for (int32_t i = 0; i < f->mi->n_history_inputs; i++)
            if (strcmp(f->mi->history_inputs[i], m->key) == 0) k = i;
        int in_future = 0;
        for (int32_t i = 0; i < f->mi->n_future_inputs; i++) in_future |= strcmp(f->mi->future_inputs[i], m->key) == 0;
        if (k < 0 && !in_future) {
            fail(err, errsz, "fleet config %s: time_features.%s: the model has no time-varying input of that name", path,
                 m->key);
            goto out;
        }
        if (k >= 0) recipe_of_input[k] = r;
        for (int32_t i = 0; i < f->mi->n_future_inputs; i++)
            if (strcmp(f->mi->future_inputs[i], m->key) == 0) recipe_of_input[f->mi->n_history_inputs + i] = r;
    }
    for (int32_t i = 0; i < f->mi->n_future_inputs; i++)
        if (recipe_of_input[f->mi->n_history_inputs + i] < 0) {
            fail(err, errsz,
                 "fleet config %s: the model's known input '%s' needs a recipe in \"time_features\" (clients never "
                 "send future values)",
                 path, f->mi->future_inputs[i]);
            goto out;
        }
    // thresholds: [{"target": "cpu_pct", "above": 90, "within_steps": 12}]
    const tft_json *th = tft_json_get(root, "thresholds");
    if (th && (th->type != TFT_JSON_ARRAY || th->len > FLEET_MAX_THRESHOLDS)) {
        fail(err, errsz, "fleet config %s: \"thresholds\" must be an array of at most %d", path, FLEET_MAX_THRESHOLDS);
        goto out;
    }
    for (const tft_json *t = th ? th->child : NULL; t; t = t->next) {
        const tft_json *tg = tft_json_get(t, "target"), *ab = tft_json_get(t, "above");
        int64_t         k  = 1;
        fleet_threshold x  = {.target = -1};
        for (int32_t i = 0; tg && tg->type == TFT_JSON_STRING && i < f->mi->n_targets; i++)
            if (strcmp(f->mi->targets[i], tg->str) == 0) x.target = i;
        if (t->type != TFT_JSON_OBJECT || x.target < 0 || !ab || ab->type != TFT_JSON_NUMBER || !isfinite(ab->num) ||
            cfg_int(t, "within_steps", 1, f->horizon, &k, err, errsz)) {
            fail(err, errsz,
                 "fleet config %s: thresholds[%d] must be {\"target\": a model target, \"above\": a number, "
                 "\"within_steps\": 1..%lld}",
                 path, f->n_thr, (long long)f->horizon);
            goto out;
        }
        x.above = ab->num, x.within_steps = (int32_t)k;
        f->thr[f->n_thr++] = x;
    }
    // gauges: {"horizons": [1, 12], "quantiles": [0.5, 0.9]} (steps 1..horizon; levels of the model)
    const tft_json *g = tft_json_get(root, "gauges");
    if (g) {
        const tft_json *hs = tft_json_get(g, "horizons"), *qs = tft_json_get(g, "quantiles");
        if (g->type != TFT_JSON_OBJECT || !hs || !qs || hs->type != TFT_JSON_ARRAY || qs->type != TFT_JSON_ARRAY ||
            hs->len > FLEET_MAX_GAUGE_POINTS || qs->len > FLEET_MAX_GAUGE_POINTS) {
            fail(err, errsz, "fleet config %s: \"gauges\" must be {\"horizons\": [steps], \"quantiles\": [levels]}, "
                 "at most %d of each", path, FLEET_MAX_GAUGE_POINTS);
            goto out;
        }
        for (const tft_json *h = hs->child; h; h = h->next) {
            int64_t x;
            if (h->type != TFT_JSON_NUMBER || tft_json_i64(h, &x) || x < 1 || x > f->horizon) {
                fail(err, errsz, "fleet config %s: gauges.horizons: each must be a step 1..%lld", path,
                     (long long)f->horizon);
                goto out;
            }
            f->gauge_h[f->n_gauge_h++] = (int32_t)x;
        }
        for (const tft_json *q = qs->child; q; q = q->next) {
            int32_t k = -1;
            for (int32_t i = 0; q->type == TFT_JSON_NUMBER && i < f->mi->n_quantiles; i++)
                if (fabs(f->mi->quantiles[i] - q->num) < 1e-6) k = i;
            if (k < 0) {
                fail(err, errsz, "fleet config %s: gauges.quantiles: each must be one of the model's levels", path);
                goto out;
            }
            f->gauge_q[f->n_gauge_q++] = k;
        }
    }
    rc = 0;
out:
    tft_json_free(root);
    return rc;
}

// ---- open / close -------------------------------------------------------------------------------------------

static void *reserve(fleet *f, size_t n, size_t size, int *oom) {
    if (n && size > SIZE_MAX / n) return *oom = 1, NULL;
    void *p = calloc(n ? n : 1, size);
    if (!p) *oom = 1;
    else f->bytes_reserved += n * size;
    return p;
}

fleet *fleet_open(const tft_model *m, const char *config_path, const fleet_options *opt, char *err, size_t errsz) {
    fleet *f = calloc(1, sizeof *f);
    if (!f) return fail(err, errsz, "fleet: out of memory"), NULL;
    pthread_mutex_init(&f->mu, NULL);
    f->model = m, f->mi = tft_model_get_info(m);
    const tft_model_info *mi = f->mi;
    if (opt && opt->max_series > 0) f->S = opt->max_series;
    if (opt && opt->store) snprintf(f->store_path, sizeof f->store_path, "%s", opt->store);
    f->W      = mi->max_encoder_length + mi->max_lag;
    f->n_hist = mi->n_history_inputs, f->n_fut = mi->n_future_inputs, f->n_stat = mi->n_static_inputs;
    int32_t *recipe = malloc(sizeof(int32_t) * (size_t)(f->n_hist + f->n_fut + 1));
    if (!recipe) goto oom;
    for (int32_t i = 0; i < f->n_hist + f->n_fut; i++) recipe[i] = -1;
    if (parse_config(f, config_path, err, errsz, recipe)) goto fail;
    if (mi->n_quantiles > 64) { // (fleet_exceed_prob's working arrays)
        fail(err, errsz, "fleet: the model has %d quantiles; fleet mode takes at most 64", mi->n_quantiles);
        goto fail;
    }
    if (f->n_stat > 31) {
        fail(err, errsz, "fleet: the model has %d static inputs; fleet mode takes at most 31", f->n_stat);
        goto fail;
    }
    for (int32_t k = 0; k < f->n_stat; k++) {
        if (tft_model_input_is_categorical(m, mi->static_inputs[k]) == 1) f->stat_cat_mask |= 1 << k;
        for (int32_t g = 0; g < mi->n_group_ids; g++)
            if (strcmp(mi->group_ids[g], mi->static_inputs[k]) == 0) f->stat_group |= 1 << k;
    }
    int oom = 0;
    f->hist = reserve(f, (size_t)f->n_hist, sizeof *f->hist, &oom);
    f->fut  = reserve(f, (size_t)f->n_fut, sizeof *f->fut, &oom);
    if (oom) goto oom;
    for (int32_t i = 0; i < f->n_hist; i++) {
        input_src *x = &f->hist[i];
        x->name = mi->history_inputs[i], x->categorical = tft_model_input_is_categorical(m, x->name) == 1;
        if (recipe[i] >= 0) {
            x->kind = SRC_TIME, x->index = recipe[i];
            continue;
        }
        if (x->categorical) {
            fail(err, errsz, "fleet: the model's history input '%s' is categorical and has no time recipe: fleet mode "
                 "ingests numbers only", x->name);
            goto fail;
        }
        if (f->C == FLEET_MAX_COLUMNS) {
            fail(err, errsz, "fleet: the model has more than %d observed columns", FLEET_MAX_COLUMNS);
            goto fail;
        }
        x->kind = SRC_OBSERVED, x->index = f->C, f->obs[f->C++] = x->name;
    }
    for (int32_t i = 0; i < f->n_fut; i++) {
        input_src *x = &f->fut[i];
        x->name = mi->future_inputs[i], x->kind = SRC_TIME, x->index = recipe[f->n_hist + i];
        x->categorical = tft_model_input_is_categorical(m, x->name) == 1;
    }
    if (f->C == 0) {
        fail(err, errsz, "fleet: the model has no observed column to ingest");
        goto fail;
    }
    for (int i = 0; i < 400; i++) snprintf(f->num_labels[i], sizeof f->num_labels[i], "%d", i);
    // reservations: everything for S series, once
    int64_t S = f->S, W = f->W, T = f->horizon;
    f->table_cap = 16;
    while (f->table_cap < (uint64_t)S * 2) f->table_cap *= 2;
    f->q_per_series = (size_t)mi->n_targets * (size_t)T * (size_t)mi->n_quantiles;
    f->ids          = reserve(f, (size_t)S, FLEET_ID_MAX + 1, &oom);
    f->id_len       = reserve(f, (size_t)S, sizeof *f->id_len, &oom);
    f->table        = reserve(f, f->table_cap, sizeof *f->table, &oom);
    f->statics      = reserve(f, (size_t)S * (size_t)(f->n_stat ? f->n_stat : 1), FLEET_LABEL_MAX + 1, &oom);
    f->newest       = reserve(f, (size_t)S, sizeof *f->newest, &oom);
    f->version      = reserve(f, (size_t)S, sizeof *f->version, &oom);
    f->ring_step    = reserve(f, (size_t)(S * W), sizeof *f->ring_step, &oom);
    f->ring_have    = reserve(f, (size_t)(S * W), sizeof *f->ring_have, &oom);
    f->ring_val     = reserve(f, (size_t)(S * W) * (size_t)f->C, sizeof *f->ring_val, &oom);
    f->cache        = reserve(f, (size_t)S, sizeof *f->cache, &oom);
    f->cache_q      = reserve(f, (size_t)S * f->q_per_series, sizeof *f->cache_q, &oom);
    size_t B = (size_t)f->max_batch, per = (size_t)(f->n_hist + f->n_fut) * (size_t)(W + T) + (size_t)f->n_stat;
    f->b_series = reserve(f, B, sizeof *f->b_series, &oom);
    f->b_cols   = reserve(f, B * (size_t)(f->n_stat + f->n_hist + f->n_fut), sizeof *f->b_cols, &oom);
    f->b_real   = reserve(f, B * per, sizeof *f->b_real, &oom);
    f->b_lab    = reserve(f, B * per, sizeof *f->b_lab, &oom);
    f->b_text   = reserve(f, B * (size_t)(f->n_stat ? f->n_stat : 1), FLEET_LABEL_MAX + 1, &oom);
    f->b_tidx   = reserve(f, B * (size_t)(W + T), sizeof *f->b_tidx, &oom);
    f->b_slot   = reserve(f, B, sizeof *f->b_slot, &oom);
    f->b_ver    = reserve(f, B, sizeof *f->b_ver, &oom);
    f->b_origin = reserve(f, B, sizeof *f->b_origin, &oom);
    f->b_rows   = reserve(f, B, sizeof *f->b_rows, &oom);
    f->b_out    = reserve(f, B * f->q_per_series, sizeof *f->b_out, &oom);
    if (oom) {
        fail(err, errsz, "fleet: cannot reserve the windows of %lld series (max_series) : out of memory", (long long)S);
        goto fail;
    }
    for (int64_t i = 0; i < S * W; i++) f->ring_step[i] = NO_STEP;
    tft_context_params cp = tft_context_default_params();
    cp.max_batch          = f->max_batch;
    if (tft_context_new(m, &cp, &f->ctx) != TFT_OK) {
        fail(err, errsz, "fleet: %s", tft_last_error());
        goto fail;
    }
    if (db_open(f, err, errsz)) goto fail;
    atomic_store(&f->n_series_seen, f->n_series);
    free(recipe);
    return f;
oom:
    fail(err, errsz, "fleet: out of memory");
fail:
    free(recipe);
    fleet_close(f);
    return NULL;
}

void fleet_close(fleet *f) {
    if (!f) return;
    sqlite3_finalize(f->st_ins_point), sqlite3_finalize(f->st_ins_series);
    sqlite3_finalize(f->st_ins_static), sqlite3_finalize(f->st_prune);
    if (f->db) sqlite3_close(f->db);
    tft_context_free(f->ctx);
    void *ps[] = {f->hist,   f->fut,       f->ids,       f->id_len,   f->table,   f->statics, f->newest,
                  f->version, f->ring_step, f->ring_have, f->ring_val, f->cache,   f->cache_q, f->b_series,
                  f->b_cols, f->b_real,    f->b_lab,     f->b_text,   f->b_tidx,  f->b_slot,  f->b_ver,
                  f->b_origin, f->b_rows,  f->b_out};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) free(ps[i]);
    pthread_mutex_destroy(&f->mu);
    prom_map_free(f->prom);
    free(f);
}

const prom_map *fleet_prom_map(const fleet *f) { return f->prom; }

void fleet_get_info(const fleet *f, fleet_info *o) {
    memset(o, 0, sizeof *o);
    o->max_series = f->S, o->n_series = atomic_load_explicit(&f->n_series_seen, memory_order_relaxed), o->window = f->W, o->step_ms = f->step_ms;
    o->horizon = f->horizon, o->recompute_after_ingest = f->recompute, o->max_batch = f->max_batch;
    o->n_thresholds = f->n_thr, o->bytes_reserved = f->bytes_reserved;
    o->values_per_series = f->horizon * ((int64_t)f->mi->n_targets * f->mi->n_quantiles + f->n_thr);
}

fleet_stats *fleet_get_stats(fleet *f) { return &f->stats; }

// ---- ingest -------------------------------------------------------------------------------------------------

typedef struct pkey {   // one point of a call, for sorting by (series, step, column)
    uint32_t i;         // index into pts
    int32_t  col;
    int64_t  step;
    int32_t  dup;       // 1: already stored (or repeated in the call) with the same value
} pkey;

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}
static int cmp_pkey(const void *x, const void *y, void *ctx) {
    const pkey *a = x, *b = y;
    const fleet_point *p = ctx;
    int c = cmp_bytes(p[a->i].series, p[a->i].series_len, p[b->i].series, p[b->i].series_len);
    if (c) return c;
    if (a->step != b->step) return a->step < b->step ? -1 : 1;
    if (a->col != b->col) return a->col < b->col ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}
static int cmp_static(const void *x, const void *y, void *ctx) {
    const fleet_static *st = ctx, *a = &st[*(const uint32_t *)x], *b = &st[*(const uint32_t *)y];
    int c = cmp_bytes(a->series, a->series_len, b->series, b->series_len);
    return c ? c : cmp_bytes(a->column, a->column_len, b->column, b->column_len);
}

// "series 'ID', column 'C', ts_ms T (step K)" for messages
static const char *where(char *buf, size_t cap, const fleet_point *p, int64_t step) {
    char a[80], b[80];
    snprintf(buf, cap, "series '%s', column '%s', ts_ms %lld (step %lld)", shown(a, sizeof a, p->series, p->series_len),
             shown(b, sizeof b, p->column, p->column_len), (long long)p->ts_ms, (long long)step);
    return buf;
}

// The value static input k of a new series takes: the one given, else (a group id) the series id
// or its '/'-separated part. NULL when there is none.
static const char *static_value(const fleet *f, int32_t k, const char *id, size_t idn, const fleet_static *st,
                                const uint32_t *sidx, size_t lo, size_t hi, size_t *n) {
    const char *name = f->mi->static_inputs[k];
    for (size_t j = lo; j < hi; j++) {
        const fleet_static *x = &st[sidx[j]];
        if (x->column_len == strlen(name) && memcmp(x->column, name, x->column_len) == 0) return *n = x->value_len, x->value;
    }
    if (!(f->stat_group & (1 << k))) return NULL;
    int32_t g = 0;
    while (strcmp(f->mi->group_ids[g], name)) g++;
    if (f->mi->n_group_ids == 1) return *n = idn, id;
    const char *p = id, *e = id + idn;
    for (int32_t part = 0; part < g; part++) {
        const char *sl = memchr(p, '/', (size_t)(e - p));
        if (!sl) return NULL;
        p = sl + 1;
    }
    const char *sl = memchr(p, '/', (size_t)(e - p));
    if (g == f->mi->n_group_ids - 1 && sl) return NULL; // more parts than group ids
    *n = (size_t)((sl ? sl : e) - p);
    return *n ? p : NULL;
}

static int bind_db_fail(fleet *f, char *err, size_t errsz) {
    fail(err, errsz, "fleet store %s: %s; nothing of the call was stored", f->store_path, sqlite3_errmsg(f->db));
    char *msg = NULL;
    sqlite3_exec(f->db, "ROLLBACK", NULL, NULL, &msg);
    sqlite3_free(msg);
    return -1;
}

static int step_stmt(sqlite3_stmt *st) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int fleet_ingest(fleet *f, const fleet_point *pts, size_t n, const fleet_static *st, size_t nst,
                 fleet_ingest_result *res, char *err, size_t errsz) {
    fleet_ingest_result r = {0};
    if (res) *res = r;
    if (n > UINT32_MAX || nst > UINT32_MAX) return fail(err, errsz, "fleet_ingest: too many points in one call");
    if ((n && !pts) || (nst && !st)) return fail(err, errsz, "fleet_ingest: NULL points or statics");
    int64_t   t0   = now_ns();
    pkey     *key  = malloc(sizeof *key * (n ? n : 1));
    uint32_t *sidx = malloc(sizeof *sidx * (nst ? nst : 1));
    // per series of the call: its slot (-1 new), first key, its new slot number, the window's low step
    typedef struct grp { size_t k0, k1; int64_t slot, lo; size_t s_lo, s_hi; int fresh; } grp;
    grp         *gs  = malloc(sizeof *gs * (n ? n : 1));
    const char **nsv = NULL; // [new series, n_stat] values of new series' statics
    size_t      *nsn = NULL;
    char         w[400], a[80], b[80];
    int          rc  = -1;
    size_t       ng  = 0, n_new = 0;
    if (!key || !sidx || !gs) {
        fail(err, errsz, "fleet_ingest: out of memory");
        goto out;
    }
    count(&f->stats.ingest_calls, 1);
    // 1. each point: its column, step, a finite value, a valid id
    for (size_t i = 0; i < n; i++) {
        const fleet_point *p = &pts[i];
        key[i] = (pkey){.i = (uint32_t)i, .step = align_step(p->ts_ms, f->step_ms), .col = -1};
        if (!p->series || !p->series_len || p->series_len > FLEET_ID_MAX || memchr(p->series, 0, p->series_len)) {
            fail(err, errsz, "point %zu: the series id must be 1 to %d bytes without NUL", i, FLEET_ID_MAX);
            goto out;
        }
        key[i].col = p->column ? obs_column(f, p->column, p->column_len) : -1;
        if (key[i].col < 0) {
            int derived = 0;
            for (int32_t h = 0; h < f->n_hist; h++)
                derived |= f->hist[h].kind == SRC_TIME && p->column && strlen(f->hist[h].name) == p->column_len &&
                           memcmp(f->hist[h].name, p->column, p->column_len) == 0;
            char cols[400];
            int  o = 0;
            for (int32_t c = 0; c < f->C && o < (int)sizeof cols; c++)
                o += snprintf(cols + o, sizeof cols - (size_t)o, "%s%s", c ? ", " : "", f->obs[c]);
            fail(err, errsz, "%s: %s (the columns ingested: %s)", where(w, sizeof w, p, key[i].step),
                 derived ? "this column is derived from the timestamp by the fleet config; do not send it"
                         : "not a column of the model that fleet mode ingests",
                 cols);
            goto out;
        }
        if (!isfinite(p->value)) {
            fail(err, errsz, "%s: the value is not finite", where(w, sizeof w, p, key[i].step));
            goto out;
        }
    }
    for (size_t j = 0; j < nst; j++) sidx[j] = (uint32_t)j;
    qsort_r(key, n, sizeof *key, cmp_pkey, (void *)pts);
    qsort_r(sidx, nst, sizeof *sidx, cmp_static, (void *)st);
    for (size_t j = 0; j < nst; j++) {
        const fleet_static *x = &st[sidx[j]];
        if (!x->series || !x->column || !x->value || static_input(f, x->column, x->column_len) < 0) {
            fail(err, errsz, "series '%s': '%s' is not a static input of the model",
                 x->series ? shown(a, sizeof a, x->series, x->series_len) : "?",
                 x->column ? shown(b, sizeof b, x->column, x->column_len) : "?");
            goto out;
        }
        const fleet_static *y = j ? &st[sidx[j - 1]] : NULL; // the same static repeated: one value only
        if (y && cmp_static(&sidx[j - 1], &sidx[j], (void *)st) == 0 &&
            cmp_bytes(x->value, x->value_len, y->value, y->value_len) != 0) {
            fail(err, errsz, "series '%s': static '%s' is given two values in one call",
                 shown(a, sizeof a, x->series, x->series_len), shown(b, sizeof b, x->column, x->column_len));
            goto out;
        }
    }
    pthread_mutex_lock(&f->mu);
    // 2. group by series: slot, statics, window; every rule checked before anything is written
    size_t sj = 0;
    for (size_t k0 = 0; k0 < n;) {
        const fleet_point *p0 = &pts[key[k0].i];
        size_t             k1 = k0 + 1;
        while (k1 < n && cmp_bytes(pts[key[k1].i].series, pts[key[k1].i].series_len, p0->series, p0->series_len) == 0) k1++;
        grp *g = &gs[ng++];
        *g     = (grp){.k0 = k0, .k1 = k1, .slot = lookup(f, p0->series, p0->series_len)};
        // this series' statics (sidx is sorted by series too); statics of series without points are refused below
        while (sj < nst && cmp_bytes(st[sidx[sj]].series, st[sidx[sj]].series_len, p0->series, p0->series_len) < 0) {
            fail(err, errsz, "series '%s': statics come without any point of the series",
                 shown(a, sizeof a, st[sidx[sj]].series, st[sidx[sj]].series_len));
            goto unlock;
        }
        g->s_lo = sj;
        while (sj < nst && cmp_bytes(st[sidx[sj]].series, st[sidx[sj]].series_len, p0->series, p0->series_len) == 0) sj++;
        g->s_hi = sj;
        char sid[FLEET_ID_MAX + 1];
        shown(sid, sizeof sid, p0->series, p0->series_len);
        if (g->slot < 0) {
            if (f->n_series + (int64_t)n_new >= f->S) {
                fail(err, errsz, "series '%s' is new and the fleet is full: %lld series (max_series); nothing stored",
                     sid, (long long)f->S);
                goto unlock;
            }
            if (!nsv) {
                nsv = calloc((ng + (n - k0)) * (size_t)(f->n_stat + 1), sizeof *nsv);
                nsn = calloc((ng + (n - k0)) * (size_t)(f->n_stat + 1), sizeof *nsn);
                if (!nsv || !nsn) {
                    fail(err, errsz, "fleet_ingest: out of memory");
                    goto unlock;
                }
            }
            for (int32_t k = 0; k < f->n_stat; k++) {
                size_t      vn = 0, at = n_new * (size_t)f->n_stat + (size_t)k;
                const char *v  = static_value(f, k, p0->series, p0->series_len, st, sidx, g->s_lo, g->s_hi, &vn);
                if (!v) {
                    fail(err, errsz, "series '%s' is new: its static '%s' is required on first sight", sid,
                         f->mi->static_inputs[k]);
                    goto unlock;
                }
                if (check_static(f, k, v, vn, sid, err, errsz)) goto unlock;
                nsv[at] = v, nsn[at] = vn;
            }
            g->fresh = 1, n_new++;
        } else {
            for (size_t j = g->s_lo; j < g->s_hi; j++) {
                const fleet_static *x = &st[sidx[j]];
                int32_t             k = static_input(f, x->column, x->column_len);
                const char         *had = static_of(f, g->slot, k);
                if (strlen(had) != x->value_len || memcmp(had, x->value, x->value_len) != 0) {
                    fail(err, errsz, "series '%s': static '%s' is '%s' since its first sight; it cannot become '%s'",
                         sid, f->mi->static_inputs[k], had, shown(b, sizeof b, x->value, x->value_len));
                    goto unlock;
                }
            }
        }
        int64_t before = g->slot >= 0 ? f->newest[g->slot] : NO_STEP, after = before;
        if (key[k1 - 1].step > after || after == NO_STEP) after = key[k1 - 1].step;
        g->lo = after - f->W + 1;
        int64_t run  = before;
        double  kept = 0;
        for (size_t k = k0; k < k1; k++) {
            pkey *q = &key[k];
            const fleet_point *p = &pts[q->i];
            if (q->step < g->lo) {
                fail(err, errsz, "%s: late: older than the series' window (steps %lld..%lld); nothing stored",
                     where(w, sizeof w, p, q->step), (long long)g->lo, (long long)after);
                goto unlock;
            }
            if (!f->gaps_restart && run != NO_STEP && q->step > run + 1) {
                fail(err, errsz,
                     "%s: gap: steps %lld..%lld have no point (the series' newest step is %lld); send them first, "
                     "or run with \"gaps\": \"restart\"; nothing stored",
                     where(w, sizeof w, p, q->step), (long long)(run + 1), (long long)(q->step - 1), (long long)run);
                goto unlock;
            }
            if (run == NO_STEP || q->step > run) run = q->step;
            double had = 0;
            int    has = 0;
            if (k > k0 && key[k - 1].step == q->step && key[k - 1].col == q->col)
                has = 1, had = kept; // the value that stays for this (step, column): stored or first in the call
            else if (g->slot >= 0) {
                int64_t cell = g->slot * f->W + (int64_t)(((q->step % f->W) + f->W) % f->W);
                if (f->ring_step[cell] == q->step && (f->ring_have[cell] >> q->col & 1))
                    has = 1, had = f->ring_val[cell * f->C + q->col];
            }
            if (!has) kept = p->value;
            else if (!(k > k0 && key[k - 1].step == q->step && key[k - 1].col == q->col)) kept = had;
            if (has && had != p->value && !f->keep_first) {
                fail(err, errsz,
                     "%s: duplicate: the step already has the value %.17g, not %.17g (\"duplicates\": \"first\" "
                     "would keep the first); nothing stored",
                     where(w, sizeof w, p, q->step), had, p->value);
                goto unlock;
            }
            q->dup = has ? (had != p->value ? 2 : 1) : 0; // 2: another value, not stored ("first")
        }
        k0 = k1;
    }
    if (sj < nst) {
        fail(err, errsz, "series '%s': statics come without any point of the series",
             shown(a, sizeof a, st[sidx[sj]].series, st[sidx[sj]].series_len));
        goto unlock;
    }
    int64_t t1 = now_ns();
    count(&f->stats.ns_parse, (uint64_t)(t1 - t0));
    // 3. durable: one transaction, committed before anything is applied in memory
    if (db_exec(f, "BEGIN IMMEDIATE", err, errsz)) goto unlock;
    size_t fresh_i = 0;
    for (size_t gi = 0; gi < ng; gi++) {
        grp *g = &gs[gi];
        const fleet_point *p0 = &pts[key[g->k0].i];
        if (g->fresh) {
            sqlite3_bind_blob(f->st_ins_series, 1, p0->series, (int)p0->series_len, SQLITE_STATIC);
            sqlite3_bind_int64(f->st_ins_series, 2, f->n_series + (int64_t)fresh_i);
            if (step_stmt(f->st_ins_series)) goto dbfail;
            for (int32_t k = 0; k < f->n_stat; k++) {
                size_t at = fresh_i * (size_t)f->n_stat + (size_t)k;
                sqlite3_bind_blob(f->st_ins_static, 1, p0->series, (int)p0->series_len, SQLITE_STATIC);
                sqlite3_bind_text(f->st_ins_static, 2, f->mi->static_inputs[k], -1, SQLITE_STATIC);
                sqlite3_bind_blob(f->st_ins_static, 3, nsv[at], (int)nsn[at], SQLITE_STATIC);
                if (step_stmt(f->st_ins_static)) goto dbfail;
            }
            fresh_i++;
        }
        for (size_t k = g->k0; k < g->k1; k++) {
            if (key[k].dup) continue;
            const fleet_point *p = &pts[key[k].i];
            sqlite3_bind_blob(f->st_ins_point, 1, p->series, (int)p->series_len, SQLITE_STATIC);
            sqlite3_bind_int64(f->st_ins_point, 2, key[k].step);
            sqlite3_bind_int(f->st_ins_point, 3, key[k].col);
            sqlite3_bind_double(f->st_ins_point, 4, p->value);
            if (step_stmt(f->st_ins_point)) goto dbfail;
        }
        if (!g->fresh) { // rows that left the window
            sqlite3_bind_blob(f->st_prune, 1, p0->series, (int)p0->series_len, SQLITE_STATIC);
            sqlite3_bind_int64(f->st_prune, 2, g->lo);
            if (step_stmt(f->st_prune)) goto dbfail;
        }
    }
    if (sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto dbfail;
    int64_t t2 = now_ns();
    count(&f->stats.ns_commit, (uint64_t)(t2 - t1));
    // 4. memory
    fresh_i = 0;
    for (size_t gi = 0; gi < ng; gi++) {
        grp *g = &gs[gi];
        const fleet_point *p0 = &pts[key[g->k0].i];
        if (g->fresh) {
            g->slot = add_series(f, p0->series, p0->series_len);
            for (int32_t k = 0; k < f->n_stat; k++) {
                size_t at = fresh_i * (size_t)f->n_stat + (size_t)k;
                memcpy(static_of(f, g->slot, k), nsv[at], nsn[at]), static_of(f, g->slot, k)[nsn[at]] = 0;
            }
            fresh_i++, r.new_series++;
        }
        int changed = 0;
        for (size_t k = g->k0; k < g->k1; k++) {
            if (key[k].dup) {
                if (key[k].dup == 2) r.ignored++;
                else r.duplicates++;
                continue;
            }
            ring_put(f, g->slot, key[k].step, key[k].col, pts[key[k].i].value);
            r.points++, changed = 1;
        }
        if (changed) f->version[g->slot]++;
    }
    atomic_store_explicit(&f->n_series_seen, f->n_series, memory_order_relaxed);
    count(&f->stats.ns_apply, (uint64_t)(now_ns() - t2));
    count(&f->stats.points, (uint64_t)r.points), count(&f->stats.duplicates, (uint64_t)r.duplicates);
    count(&f->stats.ignored, (uint64_t)r.ignored);
    if (res) *res = r;
    rc = 0;
    goto unlock;
dbfail:
    bind_db_fail(f, err, errsz);
unlock:
    pthread_mutex_unlock(&f->mu);
out:
    if (rc) count(&f->stats.refused_calls, 1);
    free(key), free(sidx), free(gs), free(nsv), free(nsn);
    return rc;
}

// ---- forecasts ----------------------------------------------------------------------------------------------

static int is_complete(const fleet *f, int64_t s, int64_t step) {
    int64_t cell = s * f->W + (int64_t)(((step % f->W) + f->W) % f->W);
    return f->ring_step[cell] == step && f->ring_have[cell] == full_mask(f);
}
static double cell_value(const fleet *f, int64_t s, int64_t step, int32_t c) {
    int64_t cell = s * f->W + (int64_t)(((step % f->W) + f->W) % f->W);
    return f->ring_val[cell * f->C + c];
}

// The history of series s: the longest run of consecutive complete rows ending at the newest
// complete row of the window. 0 rows when there is no complete row.
static int32_t history_run(const fleet *f, int64_t s, int64_t *origin) {
    int64_t newest = f->newest[s], lo = newest - f->W + 1, c = newest;
    if (newest == NO_STEP) return 0;
    while (c >= lo && !is_complete(f, s, c)) c--;
    if (c < lo) return 0;
    int64_t first = c;
    while (first - 1 >= lo && is_complete(f, s, first - 1)) first--;
    *origin = c;
    return (int32_t)(c - first + 1);
}

static void set_failed(fleet *f, int64_t s, uint64_t ver, const char *code, const char *msg) {
    cache_entry *e = &f->cache[s];
    e->version = ver, e->failed = 1;
    snprintf(e->code, sizeof e->code, "%s", code);
    snprintf(e->message, sizeof e->message, "%s", msg);
}

// Fills batch lane b with series s (under mu). 0, or -1 when the series cannot be forecast (its
// cache entry then holds why).
static int prepare(fleet *f, int32_t b, int64_t s) {
    int64_t origin = 0;
    int32_t rows = history_run(f, s, &origin), need = f->mi->min_encoder_length + f->mi->max_lag;
    if (rows < need) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "%d consecutive complete rows%s; the model needs at least %d (min_encoder_length + max_lag)", rows,
                 rows ? " end the history" : "", need);
        set_failed(f, s, f->version[s], "insufficient_history", msg);
        return -1;
    }
    int64_t T = f->horizon, first = origin - rows + 1, per = (f->n_hist + f->n_fut) * (f->W + T) + f->n_stat;
    double      *real = f->b_real + (size_t)b * (size_t)per;
    const char **lab  = f->b_lab + (size_t)b * (size_t)per;
    tft_column  *col  = f->b_cols + (size_t)b * (size_t)(f->n_stat + f->n_hist + f->n_fut);
    tft_column  *stat = col, *hist = col + f->n_stat, *fut = hist + f->n_hist;
    for (int32_t k = 0; k < f->n_stat; k++) {
        char *text = f->b_text + ((size_t)b * (size_t)f->n_stat + (size_t)k) * (FLEET_LABEL_MAX + 1);
        strcpy(text, static_of(f, s, k));
        stat[k] = (tft_column){.name = f->mi->static_inputs[k], .len = 1};
        if (f->stat_cat_mask & (1 << k)) *lab = text, stat[k].labels = lab++;
        else *real = strtod(text, NULL), stat[k].values = real++;
    }
    for (int32_t i = 0; i < f->n_hist + f->n_fut; i++) {
        const input_src *x   = i < f->n_hist ? &f->hist[i] : &f->fut[i - f->n_hist];
        int64_t          s0  = i < f->n_hist ? first : origin + 1;
        int32_t          len = i < f->n_hist ? rows : (int32_t)T;
        tft_column      *c   = i < f->n_hist ? &hist[i] : &fut[i - f->n_hist];
        *c                   = (tft_column){.name = x->name, .len = len};
        if (x->categorical) c->labels = lab;
        else c->values = real;
        for (int32_t r = 0; r < len; r++) {
            double v = x->kind == SRC_OBSERVED ? cell_value(f, s, s0 + r, x->index)
                                               : fleet_time_feature(x->index, (s0 + r) * f->step_ms, f->utc_offset_min);
            if (x->categorical) lab[r] = v >= 0 && v < 400 ? f->num_labels[(int)v] : "?";
            else real[r] = v;
        }
        if (x->categorical) lab += len;
        else real += len;
    }
    int64_t *tidx = f->b_tidx + (size_t)b * (size_t)(f->W + T);
    for (int64_t r = 0; r < rows + T; r++) tidx[r] = first + r;
    f->b_series[b] = (tft_series){.id                = id_of(f, s),
                                  .n_history         = rows,
                                  .horizon           = (int32_t)T,
                                  .statics           = stat,
                                  .n_statics         = f->n_stat,
                                  .history           = hist,
                                  .n_history_columns = f->n_hist,
                                  .future            = fut,
                                  .n_future_columns  = f->n_fut,
                                  .time_idx          = tidx};
    f->b_slot[b] = (int32_t)s, f->b_ver[b] = f->version[s], f->b_origin[b] = origin, f->b_rows[b] = rows;
    return 0;
}

static void store_error(fleet *f, int32_t b) {
    const tft_error *e = tft_last_error_detail();
    pthread_mutex_lock(&f->mu);
    set_failed(f, f->b_slot[b], f->b_ver[b], tft_error_code_str(e->code), e->message);
    pthread_mutex_unlock(&f->mu);
}

// Computes the stale series among slots[0, n) in batches. Runs on the refresh thread only.
static void run_slots(fleet *f, const int64_t *slots, size_t n) {
    for (size_t at = 0; at < n;) {
        int64_t t0 = now_ns();
        int32_t nb = 0;
        pthread_mutex_lock(&f->mu);
        for (; at < n && nb < f->max_batch; at++) {
            int64_t s = slots[at];
            if (f->cache[s].version == f->version[s]) continue; // fresh (e.g. listed twice)
            if (prepare(f, nb, s) == 0) nb++;
            else count(&f->stats.series_failed, 1);
        }
        pthread_mutex_unlock(&f->mu);
        int64_t t1 = now_ns();
        count(&f->stats.ns_prepare, (uint64_t)(t1 - t0));
        if (!nb) continue;
        tft_forecast_output out = {.quantiles = f->b_out};
        int ok = tft_forecast(f->ctx, f->b_series, nb, &out) == TFT_OK;
        if (!ok) // one bad series must not fail the others: each alone
            for (int32_t b = 0; b < nb; b++) {
                tft_forecast_output one = {.quantiles = f->b_out + (size_t)b * f->q_per_series};
                if (tft_forecast(f->ctx, &f->b_series[b], 1, &one) != TFT_OK) {
                    store_error(f, b), f->b_ver[b] = 0;
                    count(&f->stats.series_failed, 1);
                }
            }
        int64_t t2 = now_ns();
        count(&f->stats.ns_compute, (uint64_t)(t2 - t1));
        count(&f->stats.batches, 1), count(&f->stats.series_computed, (uint64_t)nb);
        pthread_mutex_lock(&f->mu);
        for (int32_t b = 0; b < nb; b++) {
            if (!f->b_ver[b]) continue; // its error is stored
            int64_t      s = f->b_slot[b];
            cache_entry *e = &f->cache[s];
            e->version = f->b_ver[b], e->failed = 0, e->origin_step = f->b_origin[b], e->history_rows = f->b_rows[b];
            memcpy(f->cache_q + (size_t)s * f->q_per_series, f->b_out + (size_t)b * f->q_per_series,
                   f->q_per_series * sizeof(float));
        }
        pthread_mutex_unlock(&f->mu);
    }
}

int fleet_refresh(fleet *f, const char *const *ids, const size_t *id_lens, size_t n, int count_reads, size_t *unknown,
                  char *err, size_t errsz) {
    pthread_mutex_lock(&f->mu);
    size_t   m     = ids ? n : (size_t)f->n_series;
    int64_t *slots = malloc(sizeof *slots * (m ? m : 1));
    if (!slots) {
        pthread_mutex_unlock(&f->mu);
        return fail(err, errsz, "fleet: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        int64_t s = ids ? lookup(f, ids[i], id_lens[i]) : (int64_t)i;
        if (s < 0) {
            char a[80];
            if (unknown) *unknown = i;
            fail(err, errsz, "no series '%s' in the fleet", shown(a, sizeof a, ids[i], id_lens[i]));
            pthread_mutex_unlock(&f->mu);
            free(slots);
            return -1;
        }
        slots[i] = s;
    }
    for (size_t i = 0; i < m; i++) { // (counted once every id is known: a refused read counts nothing)
        int64_t s     = slots[i];
        int     fresh = f->cache[s].version == f->version[s];
        if (count_reads) count(fresh ? &f->stats.cache_hits : &f->stats.cache_misses, 1);
        if (!fresh) slots[k++] = s;
    }
    pthread_mutex_unlock(&f->mu);
    run_slots(f, slots, k);
    free(slots);
    return 0;
}

int fleet_refresh_some(fleet *f) {
    int64_t slots[4096];
    size_t  k = 0;
    pthread_mutex_lock(&f->mu);
    int64_t n = f->n_series;
    for (int64_t i = 0; i < n && k < (size_t)f->max_batch && k < 4096; i++) {
        int64_t s = (f->refresh_cursor + i) % n;
        if (f->cache[s].version != f->version[s]) slots[k++] = s;
    }
    if (n) f->refresh_cursor = (k ? slots[k - 1] + 1 : f->refresh_cursor) % n;
    pthread_mutex_unlock(&f->mu);
    run_slots(f, slots, k);
    return (int)k;
}

// ---- writers ------------------------------------------------------------------------------------------------

static void jw_id(tft_jw *o, const fleet *f, int64_t s) { tft_jw_str(o, id_of(f, s)); }

// p[t] = P(target > above at step t) for the series' cached forecast
static void breach_probs(const fleet *f, int64_t s, const fleet_threshold *th, double *p) {
    int32_t      Q = f->mi->n_quantiles;
    const float *q = f->cache_q + (size_t)s * f->q_per_series + (size_t)th->target * (size_t)f->horizon * (size_t)Q;
    for (int64_t t = 0; t < f->horizon; t++) p[t] = fleet_exceed_prob(f->mi->quantiles, q + t * Q, Q, th->above);
}
// P(a breach within the first k steps): the largest step probability among them. The steps' errors
// are taken as comonotone (one common shock moves every step's quantile together), a lower bound of
// the true probability; independence (1 - prod(1 - p_t)) would be the other extreme.
static double within(const double *p, int32_t k) {
    double m = 0;
    for (int32_t t = 0; t < k; t++) m = p[t] > m ? p[t] : m;
    return m;
}

static void write_series(fleet *f, tft_jw *o, int64_t s, double *p) {
    const cache_entry *e = &f->cache[s];
    tft_jw_lit(o, "{\"id\":");
    jw_id(o, f, s);
    tft_jw_lit(o, ",\"data_version\":");
    tft_jw_int(o, (long long)f->version[s]);
    tft_jw_lit(o, ",\"forecast_version\":");
    tft_jw_int(o, (long long)e->version);
    if (!e->version || e->failed) {
        tft_jw_lit(o, ",\"error\":{\"code\":");
        tft_jw_str(o, e->version ? e->code : "not_computed");
        tft_jw_lit(o, ",\"message\":");
        tft_jw_str(o, e->version ? e->message : "no forecast was computed for this series yet");
        tft_jw_lit(o, "}}");
        return;
    }
    int32_t Q = f->mi->n_quantiles, T = (int32_t)f->horizon;
    tft_jw_lit(o, ",\"history_rows\":");
    tft_jw_int(o, e->history_rows);
    tft_jw_lit(o, ",\"last_ts_ms\":"); // the last history row; the forecast's step t is at last + t * step
    tft_jw_int(o, (long long)(e->origin_step * f->step_ms));
    tft_jw_lit(o, ",\"quantiles\":{");
    for (int32_t k = 0; k < f->mi->n_targets; k++) {
        if (k) tft_jw_lit(o, ",");
        tft_jw_str(o, f->mi->targets[k]);
        tft_jw_lit(o, ":[");
        const float *q = f->cache_q + (size_t)s * f->q_per_series + (size_t)k * (size_t)T * (size_t)Q;
        for (int32_t t = 0; t < T; t++) {
            tft_jw_lit(o, t ? ",[" : "[");
            tft_jw_floats(o, q + (size_t)t * (size_t)Q, (size_t)Q);
            tft_jw_lit(o, "]");
        }
        tft_jw_lit(o, "]");
    }
    tft_jw_lit(o, "}");
    if (f->n_thr) {
        tft_jw_lit(o, ",\"risk\":[");
        for (int32_t i = 0; i < f->n_thr; i++) {
            const fleet_threshold *th = &f->thr[i];
            breach_probs(f, s, th, p);
            tft_jw_lit(o, i ? ",{\"target\":" : "{\"target\":");
            tft_jw_str(o, f->mi->targets[th->target]);
            char num[40];
            snprintf(num, sizeof num, "%.17g", th->above);
            tft_jw_lit(o, ",\"above\":");
            tft_jw_lit(o, num);
            tft_jw_lit(o, ",\"within_steps\":");
            tft_jw_int(o, th->within_steps);
            tft_jw_lit(o, ",\"p_within\":");
            tft_jw_float(o, (float)within(p, th->within_steps));
            tft_jw_lit(o, ",\"p_step\":[");
            for (int32_t t = 0; t < T; t++) {
                if (t) tft_jw_lit(o, ",");
                tft_jw_float(o, (float)p[t]);
            }
            tft_jw_lit(o, "]}");
        }
        tft_jw_lit(o, "]");
    }
    tft_jw_lit(o, "}");
}

ssize_t fleet_write_forecasts(fleet *f, const char *const *ids, const size_t *id_lens, size_t n, tft_jw *o) {
    int64_t t0 = now_ns();
    double *p  = malloc(sizeof *p * (size_t)f->horizon);
    if (!p) return TFT_RESP_E_SMALL;
    pthread_mutex_lock(&f->mu);
    tft_jw_lit(o, "{\"model\":{\"sha256\":");
    tft_jw_str(o, f->mi->sha256);
    tft_jw_lit(o, "},\"step_seconds\":");
    tft_jw_int(o, (long long)(f->step_ms / 1000));
    tft_jw_lit(o, ",\"horizon\":");
    tft_jw_int(o, (long long)f->horizon);
    tft_jw_lit(o, ",\"quantile_levels\":[");
    tft_jw_levels(o, f->mi->quantiles, (size_t)f->mi->n_quantiles);
    tft_jw_lit(o, "],\"series\":[");
    size_t m = ids ? n : (size_t)f->n_series;
    for (size_t i = 0; i < m && !o->full; i++) {
        int64_t s = ids ? lookup(f, ids[i], id_lens[i]) : (int64_t)i;
        if (i) tft_jw_lit(o, ",");
        if (s < 0) { // (fleet_refresh refused unknown ids first)
            tft_jw_lit(o, "null");
            continue;
        }
        write_series(f, o, s, p);
    }
    tft_jw_lit(o, "]}");
    pthread_mutex_unlock(&f->mu);
    free(p);
    count(&f->stats.ns_serialize, (uint64_t)(now_ns() - t0));
    return tft_jw_finish(o);
}

// a Prometheus label value: \ " and newline escaped
static void prom_label(tft_jw *o, const char *s) {
    for (const char *r = s; *r; r++) {
        if (*r == '\\') tft_jw_raw(o, "\\\\", 2);
        else if (*r == '"') tft_jw_raw(o, "\\\"", 2);
        else if (*r == '\n') tft_jw_raw(o, "\\n", 2);
        else tft_jw_raw(o, r, 1);
    }
}

ssize_t fleet_write_prometheus(fleet *f, tft_jw *o) {
    double *p = malloc(sizeof *p * (size_t)f->horizon);
    if (!p) return TFT_RESP_E_SMALL;
    pthread_mutex_lock(&f->mu);
    int32_t Q = f->mi->n_quantiles;
    char    num[64], lev[TFT_LEVEL_MAX];
    if (f->n_gauge_h && f->n_gauge_q)
        tft_jw_lit(o, "# HELP tft_fleet_forecast A forecast quantile of a target, horizon steps after the series' last "
                      "history row.\n# TYPE tft_fleet_forecast gauge\n");
    for (int64_t s = 0; s < f->n_series && f->n_gauge_h && f->n_gauge_q; s++) {
        const cache_entry *e = &f->cache[s];
        if (!e->version || e->failed) continue;
        for (int32_t k = 0; k < f->mi->n_targets; k++)
            for (int32_t h = 0; h < f->n_gauge_h; h++)
                for (int32_t qi = 0; qi < f->n_gauge_q; qi++) {
                    float v = f->cache_q[(size_t)s * f->q_per_series +
                                         ((size_t)k * (size_t)f->horizon + (size_t)(f->gauge_h[h] - 1)) * (size_t)Q +
                                         (size_t)f->gauge_q[qi]];
                    tft_fmt_level(lev, f->mi->quantiles[f->gauge_q[qi]]);
                    tft_jw_lit(o, "tft_fleet_forecast{series=\"");
                    prom_label(o, id_of(f, s));
                    snprintf(num, sizeof num, "\",horizon=\"%d\",level=\"%s\"} ", f->gauge_h[h], lev);
                    tft_jw_lit(o, "\",target=\"");
                    prom_label(o, f->mi->targets[k]);
                    tft_jw_lit(o, num);
                    snprintf(num, sizeof num, "%.9g\n", v);
                    tft_jw_lit(o, num);
                }
    }
    if (f->n_thr)
        tft_jw_lit(o, "# HELP tft_fleet_breach_probability Probability that a target exceeds the threshold within "
                      "the next within_steps steps (server/API.md: interpolated CDF, exponential tails, max over "
                      "steps).\n# TYPE tft_fleet_breach_probability gauge\n");
    for (int64_t s = 0; s < f->n_series && f->n_thr; s++) {
        const cache_entry *e = &f->cache[s];
        if (!e->version || e->failed) continue;
        for (int32_t i = 0; i < f->n_thr; i++) {
            breach_probs(f, s, &f->thr[i], p);
            tft_jw_lit(o, "tft_fleet_breach_probability{series=\"");
            prom_label(o, id_of(f, s));
            tft_jw_lit(o, "\",target=\"");
            prom_label(o, f->mi->targets[f->thr[i].target]);
            snprintf(num, sizeof num, "\",above=\"%.17g\",within_steps=\"%d\"} ", f->thr[i].above, f->thr[i].within_steps);
            tft_jw_lit(o, num);
            snprintf(num, sizeof num, "%.9g\n", within(p, f->thr[i].within_steps));
            tft_jw_lit(o, num);
        }
    }
    tft_jw_lit(o, "# HELP tft_fleet_forecast_last_timestamp_seconds The time of the last history row of each series' "
                  "forecast.\n# TYPE tft_fleet_forecast_last_timestamp_seconds gauge\n");
    for (int64_t s = 0; s < f->n_series; s++) {
        const cache_entry *e = &f->cache[s];
        if (!e->version || e->failed) continue;
        tft_jw_lit(o, "tft_fleet_forecast_last_timestamp_seconds{series=\"");
        prom_label(o, id_of(f, s));
        snprintf(num, sizeof num, "\"} %lld\n", (long long)(e->origin_step * f->step_ms / 1000));
        tft_jw_lit(o, num);
    }
    pthread_mutex_unlock(&f->mu);
    free(p);
    return tft_jw_finish(o);
}

void fleet_write_metrics(fleet *f, tft_jw *o) {
    fleet_stats *st = &f->stats;
    char         b[256];
#define U(x) ((unsigned long long)atomic_load_explicit(&st->x, memory_order_relaxed))
    long long n_series = (long long)atomic_load_explicit(&f->n_series_seen, memory_order_relaxed); // (no lock:
    // this runs on the HTTP I/O thread, which must never wait for an ingest's commit)
    snprintf(b, sizeof b, "# TYPE tft_fleet_series gauge\ntft_fleet_series %lld\n# TYPE tft_fleet_max_series gauge\n"
             "tft_fleet_max_series %lld\n", n_series, (long long)f->S);
    tft_jw_lit(o, b);
    snprintf(b, sizeof b, "# TYPE tft_fleet_points_total counter\ntft_fleet_points_total %llu\n"
             "# TYPE tft_fleet_duplicates_total counter\ntft_fleet_duplicates_total %llu\n", U(points), U(duplicates));
    tft_jw_lit(o, b);
    snprintf(b, sizeof b, "# TYPE tft_fleet_ignored_total counter\ntft_fleet_ignored_total %llu\n", U(ignored));
    tft_jw_lit(o, b);
    snprintf(b, sizeof b, "# TYPE tft_fleet_ingest_calls_total counter\ntft_fleet_ingest_calls_total{result=\"ok\"} %llu\n"
             "tft_fleet_ingest_calls_total{result=\"refused\"} %llu\n", U(ingest_calls) - U(refused_calls),
             U(refused_calls));
    tft_jw_lit(o, b);
    snprintf(b, sizeof b, "# TYPE tft_fleet_cache_reads_total counter\ntft_fleet_cache_reads_total{result=\"hit\"} %llu\n"
             "tft_fleet_cache_reads_total{result=\"miss\"} %llu\n", U(cache_hits), U(cache_misses));
    tft_jw_lit(o, b);
    snprintf(b, sizeof b, "# TYPE tft_fleet_series_computed_total counter\ntft_fleet_series_computed_total %llu\n"
             "# TYPE tft_fleet_series_failed_total counter\ntft_fleet_series_failed_total %llu\n"
             "# TYPE tft_fleet_batches_total counter\ntft_fleet_batches_total %llu\n",
             U(series_computed), U(series_failed), U(batches));
    tft_jw_lit(o, b);
    tft_jw_lit(o, "# TYPE tft_fleet_stage_seconds_total counter\n");
    const char *names[] = {"ingest_check", "ingest_commit", "ingest_apply", "forecast_prepare", "forecast_compute",
                           "forecast_serialize"};
    uint64_t    ns[]    = {U(ns_parse), U(ns_commit), U(ns_apply), U(ns_prepare), U(ns_compute), U(ns_serialize)};
    for (int i = 0; i < 6; i++) {
        snprintf(b, sizeof b, "tft_fleet_stage_seconds_total{stage=\"%s\"} %.6f\n", names[i], (double)ns[i] / 1e9);
        tft_jw_lit(o, b);
    }
#undef U
}
