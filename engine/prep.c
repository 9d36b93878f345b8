// prep.c: the series-level call. Raw values by variable name (user units, category labels) go
// through exactly what pytorch-forecasting's TimeSeriesDataSet does in predict mode (TFT_SPEC.md
// §9): the encoder window is the last min(history, max_encoder_length) rows, categoricals are
// label-encoded (add_nan rule), reals scaled, derived features computed, targets normalized (Group,
// Encoder or Torch normalizer with its transformation); then the network-level forward runs and
// its output is de-normalized. Precision follows the library: pandas/numpy paths in float64, the
// per-sample torch paths (EncoderNormalizer, relative_time_idx) in float32.
// The transformations, the EncoderNormalizer fit and label encoding are the schema's (schema.c);
// this file reads the request's columns and feeds them through.
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

// ---- lookups ---------------------------------------------------------------------------------
static const tft_column *find_col(const tft_column *cols, int32_t n, const char *name) {
    for (int32_t i = 0; i < n; i++)
        if (cols[i].name && strcmp(cols[i].name, name) == 0) return &cols[i];
    return NULL;
}

static int in_list(const char *const *list, int32_t n, const char *name) {
    for (int32_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0) return 1;
    return 0;
}

typedef struct series_ctx {
    const tft_series *s;
    int32_t           idx;   // position in the call (for messages)
    int32_t           slot;  // position in its lane's batch (for the lane's arena)
    int32_t           Le;    // encoder rows used
    int32_t           first; // first history row used
    int32_t           Td;    // horizon
} series_ctx;

#define SID(sc) ((sc)->s->id ? (sc)->s->id : "")

// Fails with the structured detail of series sc: the message is "series N 'ID': " + the reason (so
// tft_error.reason_at points at the reason), field and index as the code documents (tft.h).
static tft_status series_fail(const series_ctx *sc, tft_status st, tft_error_code code, const char *field,
                              int32_t index, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static tft_status series_fail(const series_ctx *sc, tft_status st, tft_error_code code, const char *field,
                              int32_t index, const char *fmt, ...) {
    char    prefix[160], reason[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    snprintf(prefix, sizeof prefix, "series %d '%.100s': ", sc->idx, SID(sc));
    return tft__fail_in(st, code, sc->idx, field, index, prefix, "%s", reason);
}

// "part.name" (the field of a column error: "history.cpu_pct")
static const char *part_field(char *buf, size_t cap, const char *part, const char *name) {
    snprintf(buf, cap, "%s.%s", part, name);
    return buf;
}

// Row of a GroupNormalizer table for this series' labels of the `groups` columns, or -1.
static int32_t group_row(const tft_normalizer *n, char *const *keys, int32_t rows, const series_ctx *sc) {
    for (int32_t r = 0; r < rows; r++) {
        int hit = 1;
        for (int32_t g = 0; hit && g < n->n_groups; g++) {
            const tft_column *c = find_col(sc->s->statics, sc->s->n_statics, n->groups[g]);
            hit = c && c->labels && c->len >= 1 && c->labels[0] && strcmp(c->labels[0], keys[(size_t)r * n->n_groups + g]) == 0;
        }
        if (hit) return r;
    }
    return -1;
}

// (center, scale) a GroupNormalizer normalizes inputs with: the series' row of the fitted
// table, or the median fallback for a group the table does not have (the library's KeyError path).
static void group_params(const tft_normalizer *n, const series_ctx *sc, double *center, double *scale) {
    int32_t r = group_row(n, n->keys, n->n_rows, sc);
    if (r < 0)
        tft__log(TFT_LOG_INFO, "series %d '%s': its group is not in a normalizer's table: using the median "
                               "fallback, as the library does", sc->idx, SID(sc));
    *center   = r >= 0 ? n->g_center[r] : n->miss_center;
    *scale    = r >= 0 ? n->g_scale[r] : n->miss_scale;
}

// (center, scale) the library de-normalizes a GroupNormalizer target with (FORMAT.md lookup_ok).
static void group_target_scale(const tft_normalizer *n, const series_ctx *sc, double *center, double *scale) {
    if (n->lookup_ok) {
        group_params(n, sc, center, scale);
        return;
    }
    int32_t r = n->ts_rows > 0 ? group_row(n, n->ts_keys, n->ts_rows, sc) : -1;
    *center   = r >= 0 ? n->ts_center[r] : n->miss_center;
    *scale    = r >= 0 ? n->ts_scale[r] : n->miss_scale;
}

// Where a raw column's values come from for one series, resolved once by name: the static value,
// or the history rows (t < Le) and the future rows (t >= Le).
typedef struct col_src {
    const tft_column *stat, *hist, *fut;
} col_src;

static col_src resolve(const series_ctx *sc, const char *name) {
    col_src c = {find_col(sc->s->statics, sc->s->n_statics, name), NULL, NULL};
    if (!c.stat) {
        c.hist = find_col(sc->s->history, sc->s->n_history_columns, name);
        c.fut  = find_col(sc->s->future, sc->s->n_future_columns, name);
    }
    return c;
}

// The column and index holding the value `lag` rows before window row t (t < Le: encoder rows,
// then decoder rows), or NULL where the series has no value (an unknown variable's future rows,
// which the network never reads). Rows are numbered absolutely: the n_history history rows, then
// the future rows; the encoder window starts at history row `first` (>= max_lag, see series_dims).
static const tft_column *src_at_lag(const col_src *c, const series_ctx *sc, int32_t t, int32_t lag, int32_t *i) {
    if (c->stat) return *i = 0, c->stat;
    int32_t row = sc->first + t - lag;
    if (row < sc->s->n_history) return *i = row, c->hist;
    return *i = row - sc->s->n_history, c->fut;
}

static const tft_column *src_at(const col_src *c, const series_ctx *sc, int32_t t, int32_t *i) {
    return src_at_lag(c, sc, t, 0, i);
}

// ---- validation of one series against the model's request schema -----------------------------
// values: also scan every value (finiteness); NULL labels are always refused (they would be read).
// A future column whose length is not the horizon. The length the caller meant is often the horizon
// it forgot to give (0 = max_prediction_length), so the message says where `horizon` came from and,
// when the column's length is a horizon the model takes, which horizon to give.
static tft_status future_length_error(const tft_model *m, const series_ctx *sc, const char *field, const char *name,
                                      int32_t got, int32_t horizon) {
    char hint[96] = "";
    if (m->Td_min == m->Td_max)
        snprintf(hint, sizeof hint, "; this model forecasts exactly %d steps", m->Td_max);
    else if (got >= m->Td_min && got <= m->Td_max)
        snprintf(hint, sizeof hint, "; for a %d-step forecast give horizon %d", got, got);
    if (sc->s->horizon == 0)
        return series_fail(sc, TFT_ERR_SHAPE, TFT_E_LENGTH_MISMATCH, field, -1,
                           "future '%s' has %d values, expected %d (one per horizon step: no horizon was given, so it "
                           "is max_prediction_length %d%s)", name, got, horizon, horizon, hint);
    return series_fail(sc, TFT_ERR_SHAPE, TFT_E_LENGTH_MISMATCH, field, -1,
                       "future '%s' has %d values, expected %d (one per horizon step: the horizon is %d)", name, got,
                       horizon, horizon);
}

static tft_status check_columns(const tft_model *m, const series_ctx *sc, const tft_column *cols, int32_t n,
                                const char *const *want, int32_t n_want, int32_t len, const char *part, int values) {
    char f[160];
    for (int32_t i = 0; i < n; i++) {
        if (!cols[i].name)
            return series_fail(sc, TFT_ERR_INVALID_ARG, TFT_E_NULL_ARGUMENT, part, i, "%s column %d has no name", part, i);
        if (!in_list(want, n_want, cols[i].name))
            return series_fail(sc, TFT_ERR_UNKNOWN_VAR, TFT_E_UNKNOWN_VARIABLE, part_field(f, sizeof f, part, cols[i].name),
                               -1, "%s has '%s', which the model does not take there", part, cols[i].name);
        for (int32_t j = 0; j < i; j++)
            if (strcmp(cols[j].name, cols[i].name) == 0)
                return series_fail(sc, TFT_ERR_INVALID_ARG, TFT_E_DUPLICATE_VARIABLE,
                                   part_field(f, sizeof f, part, cols[i].name), -1, "%s lists '%s' twice", part,
                                   cols[i].name);
    }
    for (int32_t k = 0; k < n_want; k++) {
        const tft_column *c = find_col(cols, n, want[k]);
        part_field(f, sizeof f, part, want[k]);
        if (!c) return series_fail(sc, TFT_ERR_UNKNOWN_VAR, TFT_E_MISSING_VARIABLE, f, -1, "%s is missing '%s'", part, want[k]);
        int is_cat = tft_model_input_is_categorical(m, want[k]) == 1;
        if (is_cat ? !c->labels : !c->values)
            return series_fail(sc, TFT_ERR_INVALID_ARG, TFT_E_WRONG_TYPE, f, -1, "%s '%s' must be %s", part, want[k],
                               is_cat ? "category labels (strings)" : "numbers");
        if (c->len != len && strcmp(part, "future") == 0) return future_length_error(m, sc, f, want[k], c->len, len);
        if (c->len != len)
            return series_fail(sc, TFT_ERR_SHAPE, TFT_E_LENGTH_MISMATCH, f, -1, "%s '%s' has %d values, expected %d", part,
                               want[k], c->len, len);
        for (int32_t i = 0; is_cat && i < len; i++)
            if (!c->labels[i])
                return series_fail(sc, TFT_ERR_INVALID_ARG, TFT_E_NULL_ARGUMENT, f, i, "%s '%s'[%d] is NULL", part,
                                   want[k], i);
        for (int32_t i = 0; values && !is_cat && i < len; i++)
            if (!isfinite(c->values[i]))
                return series_fail(sc, TFT_ERR_NONFINITE, TFT_E_NON_FINITE_INPUT, f, i, "%s '%s'[%d] is not finite",
                                   part, want[k], i);
    }
    return TFT_OK;
}

// Encoder window of a series: its last min(history - max_lag, max_encoder_length) rows (the
// library drops each series' first max_lag rows, which only feed the lagged variables).
static void series_dims(const tft_model *m, series_ctx *sc, int32_t horizon) {
    int32_t usable = sc->s->n_history - m->max_lag;
    sc->Le    = usable < m->Te_max ? (usable > 0 ? usable : 0) : m->Te_max;
    sc->first = sc->s->n_history - sc->Le;
    sc->Td    = horizon;
}

// values: also scan every value (finiteness, time index); 0 for a context with checked_input.
static tft_status check_series(const tft_model *m, series_ctx *sc, int32_t horizon, int values) {
    const tft_series *s = sc->s;
    if (s->n_history < m->Te_min + m->max_lag || s->n_history < 0) {
        if (m->max_lag)
            return series_fail(sc, TFT_ERR_SHAPE, TFT_E_HISTORY_TOO_SHORT, "history", -1,
                               "%d history rows, the model needs at least min_encoder_length + max_lag = %d + %d",
                               s->n_history, m->Te_min, m->max_lag);
        return series_fail(sc, TFT_ERR_SHAPE, TFT_E_HISTORY_TOO_SHORT, "history", -1,
                           "%d history rows, the model needs at least min_encoder_length = %d", s->n_history, m->Te_min);
    }
    if ((s->n_statics > 0 && !s->statics) || (s->n_history_columns > 0 && !s->history) ||
        (s->n_future_columns > 0 && !s->future) || s->n_statics < 0 || s->n_history_columns < 0 || s->n_future_columns < 0)
        return series_fail(sc, TFT_ERR_INVALID_ARG, TFT_E_NULL_ARGUMENT, NULL, -1, "a column array is NULL");
    series_dims(m, sc, horizon);
    for (int32_t t = 0; t < m->NT; t++)
        if (m->target_norm[t].kind == TFT_NORM_ENCODER && m->target_norm[t].method != TFT_METHOD_IDENTITY && sc->Le < 2)
            return series_fail(sc, TFT_ERR_SHAPE, TFT_E_HISTORY_TOO_SHORT, "history", -1,
                               "the target normalizer of '%s' needs at least 2 history rows", m->targets[t]);
    TFT_TRY(check_columns(m, sc, s->statics, s->n_statics, m->static_inputs, m->n_static_inputs, 1, "static", values));
    TFT_TRY(check_columns(m, sc, s->history, s->n_history_columns, m->history_inputs, m->n_history_inputs,
                          s->n_history, "history", values));
    TFT_TRY(check_columns(m, sc, s->future, s->n_future_columns, m->future_inputs, m->n_future_inputs, horizon,
                          "future", values));
    if (s->time_idx && values)
        for (int32_t i = 1; i < s->n_history + horizon; i++)
            if (s->time_idx[i] != s->time_idx[i - 1] + 1)
                return series_fail(sc, TFT_ERR_TIME_INDEX, TFT_E_TIME_INDEX, "time_idx", i,
                                   "time_idx[%d] = %lld does not follow %lld by 1", i, (long long)s->time_idx[i],
                                   (long long)s->time_idx[i - 1]);
    return TFT_OK;
}

// Every label a series feeds the network is in its encoder's vocabulary (or maps to the NaN class):
// the same lookups as encode_series, without writing anything. Called by tft_series_check, so a
// server can answer a bad label before the series joins a batch with others.
static tft_status check_labels(const tft_model *m, series_ctx *sc) {
    const int T = sc->Le + sc->Td;
    for (int32_t k = 0; k < m->n_cats; k++) {
        const tft_encoder *e = &m->encoders[m->cat_encoder[k]];
        if (e->add_nan) continue;
        const char   *name = m->cat_base[k];
        const col_src src  = resolve(sc, name);
        for (int t = 0; t < T; t++) {
            int32_t           i;
            const tft_column *c = src_at_lag(&src, sc, t, m->cat_lag[k], &i);
            if (c && tft_encode_label(e, c->labels[i]) < 0)
                return series_fail(sc, TFT_ERR_CATEGORY, TFT_E_UNKNOWN_CATEGORY, name, i,
                                   "'%s' = '%s' is a category the model never saw (its encoder has no add_nan)", name,
                                   c->labels[i]);
        }
    }
    return TFT_OK;
}

// ---- one series -> its rows of the network input ------------------------------------------
static tft_status encode_series(const tft_model *m, tft_acts *a, series_ctx *sc, int Te, int Td) {
    int              b = sc->slot, Le = sc->Le, T = Le + sc->Td;
    int              Nr = m->n_reals, Nc = m->n_cats;
    // categoricals
    for (int32_t k = 0; k < Nc; k++) {
        const tft_encoder *e    = &m->encoders[m->cat_encoder[k]];
        const char        *name = m->cat_base[k]; // the raw column (a lagged one reads its base)
        const col_src      src  = resolve(sc, name);
        int                warned = 0;
        for (int t = 0; t < T; t++) {
            int32_t           i;
            const tft_column *c    = src_at_lag(&src, sc, t, m->cat_lag[k], &i);
            int32_t           code = 0; // unknown variables' decoder rows are never read; 0 is a valid class
            if (c) {
                code = tft_encode_label(e, c->labels[i]);
                if (code < 0 && !e->add_nan)
                    return series_fail(sc, TFT_ERR_CATEGORY, TFT_E_UNKNOWN_CATEGORY, name, i,
                                       "'%s' = '%s' is a category the model never saw (its encoder has no add_nan)",
                                       name, c->labels[i]);
                if (code < 0) { // NaNLabelEncoder(add_nan=True): the NaN class, as the library (which warns)
                    code = 0;
                    if (!warned++) // once per series and column
                        tft__log(TFT_LOG_INFO, "series %d '%s': '%s' = '%s' is not in the model's vocabulary: "
                                               "encoded as the NaN class", sc->idx, SID(sc), name, c->labels[i]);
                }
            }
            int32_t *dst = t < Le ? a->p_enc_cat + ((size_t)b * Te + t) * Nc : a->p_dec_cat + ((size_t)b * Td + t - Le) * Nc;
            dst[k]       = code;
        }
    }
    // targets: normalized values and target_scale
    float *work = (float *)a->p_work; // [T] raw target in float32
    for (int32_t j = 0; j < m->NT; j++) {
        const tft_normalizer *n   = &m->target_norm[j];
        const tft_column     *hc  = find_col(sc->s->history, sc->s->n_history_columns, m->targets[j]);
        double                c64 = 0.0, s64 = 1.0; // normalizes the target input
        float                 c32, s32;              // target_scale: de-normalizes the output
        for (int t = 0; t < Le; t++) work[t] = (float)hc->values[sc->first + t];
        if (n->kind == TFT_NORM_ENCODER) {
            tft_encoder_normalizer_fit(n, work, Le, work + Le, &c32, &s32);
            c64 = c32, s64 = s32;
        } else {
            double tc, tsc;
            if (n->kind == TFT_NORM_GROUP) {
                group_params(n, sc, &c64, &s64);
                group_target_scale(n, sc, &tc, &tsc);
            } else {
                c64 = tc = n->t_center, s64 = tsc = n->t_scale;
            }
            c32 = (float)tc, s32 = (float)tsc;
        }
        a->p_tnorm[((size_t)b * m->NT + j) * 2]      = c64;
        a->p_tnorm[((size_t)b * m->NT + j) * 2 + 1]  = s64;
        a->p_tscale[((size_t)b * m->NT + j) * 2]     = c32;
        a->p_tscale[((size_t)b * m->NT + j) * 2 + 1] = s32;
        int col = m->target_real_col[j];
        if (col >= 0)
            for (int t = 0; t < Le; t++) {
                float v;
                if (n->kind == TFT_NORM_ENCODER) v = (tft_transform_forward_f(work[t], n->tf) - c32) / s32;
                else v = (float)((tft_transform_forward(hc->values[sc->first + t], n->tf) - c64) / s64);
                a->p_enc_cont[((size_t)b * Te + t) * Nr + col] = v;
            }
        // the future target is not in the request and never read by the network: zero
        if (col >= 0)
            for (int t = Le; t < T; t++) a->p_dec_cont[((size_t)b * Td + t - Le) * Nr + col] = 0.0f;
    }
    // the other reals
    for (int32_t k = 0; k < Nr; k++) {
        const tft_real_col *rc = &m->real_cols[k];
        if (rc->src == TFT_REAL_TARGET) continue;
        const tft_scaler *scl = rc->scaler >= 0 ? &m->scalers[rc->scaler] : NULL;
        // a covariate fitted per series on its encoder window (EncoderNormalizer scaler)
        float enc_c = 0.0f, enc_s = 1.0f;
        int   is_unknown = !rc->is_static && !rc->is_known && rc->src == TFT_REAL_SCALED;
        // a lagged real reads its base variable `lag` rows back, through the base's transformer
        const int32_t lag = rc->src == TFT_REAL_LAG ? rc->lag : 0;
        const col_src src = resolve(sc, rc->src == TFT_REAL_LAG ? rc->base : m->x_reals[k]);
        // a covariate with a Group or Torch normalizer as its scaler: this series' (center, scale)
        double grp_c = 0.0, grp_s = 1.0;
        if (scl && scl->kind == TFT_SCALER_NORMALIZER && scl->norm.kind != TFT_NORM_ENCODER) {
            grp_c = scl->norm.t_center, grp_s = scl->norm.t_scale;
            if (scl->norm.kind == TFT_NORM_GROUP) group_params(&scl->norm, sc, &grp_c, &grp_s);
        }
        if ((rc->src == TFT_REAL_SCALED || rc->src == TFT_REAL_LAG) && !src.stat && !src.hist)
            return series_fail(sc, TFT_ERR_UNKNOWN_VAR, TFT_E_MISSING_VARIABLE, m->x_reals[k], -1, "real '%s' is missing",
                               m->x_reals[k]);
        if (scl && scl->kind == TFT_SCALER_NORMALIZER && scl->norm.kind == TFT_NORM_ENCODER) {
            for (int t = 0; t < Le; t++) {
                int32_t i;
                work[t] = (float)src_at(&src, sc, t, &i)->values[i];
            }
            tft_encoder_normalizer_fit(&scl->norm, work, Le, work + Le, &enc_c, &enc_s);
        }
        for (int t = 0; t < T; t++) {
            float v = 0.0f;
            switch (rc->src) {
            case TFT_REAL_RELATIVE_TIME: v = (float)(t - Le) / (float)m->Te_max; break;
            case TFT_REAL_ENCODER_LENGTH:
                v = (float)(((double)Le - 0.5 * m->Te_max) / m->Te_max * 2.0);
                break;
            case TFT_REAL_TARGET_CENTER:
            case TFT_REAL_TARGET_SCALE: {
                // the statistics that normalized the target's input (not the de-normalization lookup)
                double x = a->p_tnorm[((size_t)b * m->NT + rc->target) * 2 + (rc->src == TFT_REAL_TARGET_SCALE)];
                if (scl->kind == TFT_SCALER_STANDARD || scl->kind == TFT_SCALER_ROBUST) x = (x - scl->center) / scl->scale;
                v = (float)x;
                break;
            }
            case TFT_REAL_LAG:
            case TFT_REAL_SCALED: {
                int32_t           i;
                const tft_column *c = src_at_lag(&src, sc, t, lag, &i);
                if (!c || (is_unknown && t >= Le)) break; // no future values for unknowns (never read)
                double x = c->values[i];
                if (rc->src == TFT_REAL_LAG && rc->target >= 0) { // a target's lag: the target normalizer
                    const tft_normalizer *tn = &m->target_norm[rc->target];
                    const double         *tp = a->p_tnorm + ((size_t)b * m->NT + rc->target) * 2;
                    if (tn->kind == TFT_NORM_ENCODER)
                        v = (tft_transform_forward_f((float)x, tn->tf) - (float)tp[0]) / (float)tp[1];
                    else
                        v = (float)((tft_transform_forward(x, tn->tf) - tp[0]) / tp[1]);
                    break;
                }
                switch (scl->kind) {
                case TFT_SCALER_IDENTITY: v = (float)x; break;
                case TFT_SCALER_STANDARD:
                case TFT_SCALER_ROBUST: v = (float)((x - scl->center) / scl->scale); break;
                case TFT_SCALER_NORMALIZER:
                    if (scl->norm.kind == TFT_NORM_ENCODER) {
                        v = (tft_transform_forward_f((float)x, scl->norm.tf) - enc_c) / enc_s;
                    } else {
                        v = (float)((tft_transform_forward(x, scl->norm.tf) - grp_c) / grp_s);
                    }
                    break;
                }
                break;
            }
            case TFT_REAL_TARGET: break;
            }
            float *dst = t < Le ? a->p_enc_cont + ((size_t)b * Te + t) * Nr : a->p_dec_cont + ((size_t)b * Td + t - Le) * Nr;
            dst[k]     = v;
        }
    }
    a->p_enc_len[b] = Le;
    a->p_dec_len[b] = sc->Td;
    return TFT_OK;
}

// One lane's chunk of a series-level call: series [lo, hi), collated in the lane's arena, then the
// forward, with every output written at the series' place in the caller's buffers.
typedef struct forecast_job {
    const tft_context         *c;
    const tft_series          *series;
    int32_t                    n, horizon, chunk;
    const tft_forecast_output *out;
} forecast_job;

static tft_status forecast_chunk(const tft_model *m, tft_acts *a, const forecast_job *j, int lo, int hi) {
    const int Td = j->horizon, Nr = m->n_reals, Nc = m->n_cats, nb = hi - lo;
    int       Te = 0;
    for (int b = lo; b < hi; b++) {
        series_ctx sc = {.s = &j->series[b], .idx = b, .slot = b - lo};
        series_dims(m, &sc, Td);
        Te = sc.Le > Te ? sc.Le : Te;
    }
    // collate: left-aligned rows, zero padding (category 0, real 0), as the library's collate
    memset(a->p_enc_cont, 0, sizeof(float) * (size_t)nb * Te * Nr);
    memset(a->p_enc_cat, 0, sizeof(int32_t) * (size_t)nb * Te * Nc);
    for (int b = lo; b < hi; b++) {
        series_ctx sc = {.s = &j->series[b], .idx = b, .slot = b - lo};
        series_dims(m, &sc, Td); // validated by tft_forecast before the split
        TFT_TRY(encode_series(m, a, &sc, Te, Td));
    }
    tft_net_input in = {.n = nb, .enc_steps = Te, .dec_steps = Td, .encoder_cat = a->p_enc_cat,
                        .encoder_cont = a->p_enc_cont, .decoder_cat = a->p_dec_cat, .decoder_cont = a->p_dec_cont,
                        .encoder_lengths = a->p_enc_len, .decoder_lengths = a->p_dec_len, .target_scale = a->p_tscale};
    // a finite raw value can still scale to Inf: said in the request's terms (the series and the
    // network variable), not the network tensor's
    if (tft_check_net_rows(m, &in, 1) != TFT_OK) {
        const tft_error *e = tft_last_error_detail();
        if (e->code != TFT_E_NON_FINITE_INPUT) return e->status; // (indices come from our own encoding)
        series_ctx sc  = {.s = &j->series[lo + e->series], .idx = lo + e->series};
        const char *var = m->x_reals[e->index % Nr];
        return series_fail(&sc, TFT_ERR_NONFINITE, TFT_E_SCALED_OVERFLOW, var, -1,
                           "a value of '%s' is not finite once scaled for the model (too large)", var);
    }
    const tft_forecast_output *out = j->out;
    size_t                     per = (size_t)m->NT * Td * m->Q;
    tft_net_output             net = {.prediction = out->quantiles + (size_t)lo * per};
    // the interpretation is read from the CPU backend's activations; a CUDA context's live on the
    // device, so there it is asked for as outputs, into this lane's host arrays (unused by the walk)
    const int NH = m->NH, T = Te + Td, Tm = m->Te_max, on_device = a->ctx && a->ctx->cuda;
    float    *eatt = a->attn, *datt = a->attn + (size_t)nb * Td * NH * Te;
    if (on_device) {
        if (out->attention) net.encoder_attention = Te ? eatt : NULL, net.decoder_attention = datt;
        if (out->static_weights) net.static_weights = a->s_w;
        if (out->encoder_weights) net.encoder_weights = a->e_w;
        if (out->decoder_weights) net.decoder_weights = a->d_w;
    }
    TFT_TRY(tft_forward(m, a, &in, &net));
    for (size_t i = 0; i < (size_t)nb * per; i++)
        if (!isfinite(net.prediction[i]))
        {
            series_ctx sc = {.s = &j->series[lo + i / per], .idx = (int32_t)(lo + i / per)};
            return series_fail(&sc, TFT_ERR_NONFINITE, TFT_E_NON_FINITE_OUTPUT, NULL, -1, "the forecast is not finite");
        }
    // interpretation, in the fixed key layout of tft.h: Temax encoder slots, then Td decoder steps
    for (int s = 0; s < nb; s++) {
        size_t b = (size_t)lo + s; // place in the caller's outputs
        if (out->encoder_lengths) out->encoder_lengths[b] = a->p_enc_len[s];
        if (out->attention)
            for (int t = 0; t < Td; t++)
                for (int h = 0; h < NH; h++) {
                    const size_t row = ((size_t)s * Td + t) * NH + h;
                    const float *src = a->attn + row * T; // [B, Td, NH, T]: encoder keys, then decoder keys
                    const float *enc = on_device ? eatt + row * Te : src, *dec = on_device ? datt + row * Td : src + Te;
                    float       *dst = out->attention + ((b * Td + t) * NH + h) * (Tm + Td);
                    memset(dst, 0, sizeof(float) * (size_t)(Tm + Td));
                    memcpy(dst, enc, sizeof(float) * Te);
                    memcpy(dst + Tm, dec, sizeof(float) * Td);
                }
        if (out->static_weights && m->vsn_static.n > 0)
            memcpy(out->static_weights + b * m->vsn_static.n, a->s_w + (size_t)s * m->vsn_static.n,
                   sizeof(float) * m->vsn_static.n);
        if (out->encoder_weights && m->vsn_enc.n > 0) {
            float *dst = out->encoder_weights + b * Tm * m->vsn_enc.n;
            memset(dst, 0, sizeof(float) * (size_t)Tm * m->vsn_enc.n);
            for (int t = 0; t < a->p_enc_len[s]; t++)
                memcpy(dst + (size_t)t * m->vsn_enc.n, a->e_w + ((size_t)s * Te + t) * m->vsn_enc.n,
                       sizeof(float) * m->vsn_enc.n);
        }
        if (out->decoder_weights && m->vsn_dec.n > 0)
            memcpy(out->decoder_weights + b * Td * m->vsn_dec.n, a->d_w + (size_t)s * Td * m->vsn_dec.n,
                   sizeof(float) * (size_t)Td * m->vsn_dec.n);
    }
    return TFT_OK;
}

static void forecast_lane(void *arg, int lane) {
    const forecast_job *j  = arg;
    tft_lane           *ln = (tft_lane *)&j->c->lanes[lane];
    int                 lo = lane * j->chunk, hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
    ln->st                 = lo < hi ? forecast_chunk(j->c->m, &ln->a, j, lo, hi) : TFT_OK;
    if (ln->st != TFT_OK) ln->err = *tft_last_error_detail(); // series numbered in the call already
}

TFT_API tft_status tft_series_check(const tft_model *m, const tft_series *series, int32_t n) {
    if (!m || !series)
        return tft__fail_at(TFT_ERR_INVALID_ARG, TFT_E_NULL_ARGUMENT, -1, NULL, -1, "tft_series_check: NULL argument");
    if (n < 1)
        return tft__fail_at(TFT_ERR_INVALID_ARG, TFT_E_BAD_PARAMETER, -1, "n", -1,
                            "tft_series_check: n = %d, need at least 1 series", n);
    for (int32_t b = 0; b < n; b++) {
        series_ctx sc = {.s = &series[b], .idx = b};
        int32_t    h  = series[b].horizon ? series[b].horizon : m->Td_max;
        if (h < m->Td_min || h > m->Td_max)
            return series_fail(&sc, TFT_ERR_SHAPE, TFT_E_HORIZON, "horizon", -1,
                               "horizon %d is outside [min_prediction_length %d, max_prediction_length %d]", h,
                               m->Td_min, m->Td_max);
        TFT_TRY(check_series(m, &sc, h, 1));
        TFT_TRY(check_labels(m, &sc));
    }
    return TFT_OK;
}

TFT_API tft_status tft_forecast(tft_context *c, const tft_series *series, int32_t n, tft_forecast_output *out) {
    if (!c || !series || !out || !out->quantiles)
        return tft__fail_at(TFT_ERR_INVALID_ARG, TFT_E_NULL_ARGUMENT, -1, NULL, -1, "tft_forecast: NULL argument");
    const tft_model *m = c->m;
    if (n < 1)
        return tft__fail_at(TFT_ERR_INVALID_ARG, TFT_E_BAD_PARAMETER, -1, "n", -1,
                            "tft_forecast: n = %d, need at least 1 series", n);
    if (n > c->max_batch)
        return tft__fail_at(TFT_ERR_CAPACITY, TFT_E_TOO_MANY_SERIES, -1, NULL, -1,
                            "tft_forecast: %d series exceed the context's max_batch %d", n, c->max_batch);
    int32_t horizon = series[0].horizon ? series[0].horizon : m->Td_max;
    if (horizon < m->Td_min || horizon > m->Td_max)
        return tft__fail_in(TFT_ERR_SHAPE, TFT_E_HORIZON, -1, "horizon", -1, "tft_forecast: ",
                            "horizon %d is outside [min_prediction_length %d, max_prediction_length %d]", horizon,
                            m->Td_min, m->Td_max);
    int any_empty = 0; // a series with no history rows: its result depends on the batch, never split
    for (int32_t b = 0; b < n; b++) {
        series_ctx sc = {.s = &series[b], .idx = b};
        int32_t    h  = series[b].horizon ? series[b].horizon : m->Td_max;
        if (h != horizon)
            return series_fail(&sc, TFT_ERR_SHAPE, TFT_E_HORIZON, "horizon", -1,
                               "horizon %d differs from series 0's %d (one call, one horizon)", h, horizon);
        // checked_input: the caller ran tft_series_check; the structure is checked again (what the
        // encoding reads), the values are not
        TFT_TRY(check_series(m, &sc, horizon, !c->checked_input));
        any_empty |= sc.Le == 0;
    }
    int          lanes = any_empty ? 1 : tft_lanes_for(c, n, NULL);
    forecast_job job   = {c, series, n, horizon, (n + lanes - 1) / lanes, out};
    return tft_run_lanes(c, forecast_lane, &job, lanes);
}
