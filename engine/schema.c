// schema.c: the preprocessing schema of a model, the "dataset" part of its config document
// (weights/FORMAT.md): pytorch-forecasting's fitted transformations, normalizers (Torch, Group,
// Encoder), scalers and categorical encoders, parsed and validated at load (tft_schema_parse), and
// applied to raw values here too (the transformations, the EncoderNormalizer fit, label encoding),
// so prep.c, which turns a request's series into network inputs, uses them without knowing how
// they were parsed. Also how each x_reals / x_categoricals column is made from raw columns (scaled,
// target, lagged, derived) and the request schema: the static, history and future columns a series
// must carry. Precision follows the library: float64 where it runs numpy/pandas, float32 where it
// runs torch per sample (the EncoderNormalizer).
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

// ---- transformations (pytorch_forecasting/data/encoders.py): parse and forward ----------------
tft_transform tft_transform_parse(const char *s, int *ok) {
    static const char *names[] = {"none", "log", "log1p", "logit", "count", "softplus", "relu", "sqrt"};
    *ok = 1;
    if (!s) return TFT_TF_NONE;
    for (int i = 0; i < 8; i++)
        if (strcmp(s, names[i]) == 0) return (tft_transform)i;
    *ok = 0;
    return TFT_TF_NONE;
}

// The "forward" transformations of pytorch_forecasting/data/encoders.py, applied to raw values
// before normalizing. eps is the float epsilon of the dtype the library computes in.
static double tf_forward(double y, tft_transform tf, double eps) {
    switch (tf) {
    case TFT_TF_NONE:
    case TFT_TF_RELU: return y;
    case TFT_TF_LOG: {
        double v = log(y);
        return v < -1.0 / eps ? -1.0 / eps : v; // clamp(min=-1/eps)
    }
    case TFT_TF_LOG1P: return log1p(y);
    case TFT_TF_LOGIT: {
        double x = y < eps ? eps : (y > 1.0 - eps ? 1.0 - eps : y);
        return log(x) - log1p(-x);
    }
    case TFT_TF_COUNT: return y + 1.0;
    case TFT_TF_SOFTPLUS: return y > 20.0 ? y : y + log(-expm1(-(y + eps)));
    case TFT_TF_SQRT: return sqrt(y);
    }
    return y;
}

double tft_transform_forward(double y, tft_transform tf) { return tf_forward(y, tf, DBL_EPSILON); }

float tft_transform_forward_f(float y, tft_transform tf) {
    switch (tf) {
    case TFT_TF_NONE:
    case TFT_TF_RELU: return y;
    case TFT_TF_LOG: {
        float v = logf(y);
        return v < -1.0f / FLT_EPSILON ? -1.0f / FLT_EPSILON : v;
    }
    case TFT_TF_LOG1P: return log1pf(y);
    case TFT_TF_LOGIT: {
        float x = y < FLT_EPSILON ? FLT_EPSILON : (y > 1.0f - FLT_EPSILON ? 1.0f - FLT_EPSILON : y);
        return logf(x) - log1pf(-x);
    }
    case TFT_TF_COUNT: return y + 1.0f;
    case TFT_TF_SOFTPLUS: return y > 20.0f ? y : y + logf(-expm1f(-(y + FLT_EPSILON)));
    case TFT_TF_SQRT: return sqrtf(y);
    }
    return y;
}

// ---- normalizers (a target's, or a covariate's used as its scaler): parse ----------------------
// A GroupNormalizer table: {"keys": [[label per group column]...], "center": [...], "scale": [...]}.
static tft_status parse_group_table(const tft_json *t, int32_t n_groups, const char *path, const char *what,
                                    int32_t *rows, char ***keys_out, double **center, double **scale) {
    const tft_json *keys = tft_json_get(t, "keys"), *c = tft_json_get(t, "center"), *s = tft_json_get(t, "scale");
    if (!keys || keys->type != TFT_JSON_ARRAY || !c || c->type != TFT_JSON_ARRAY || !s || s->type != TFT_JSON_ARRAY ||
        c->len != keys->len || s->len != keys->len)
        return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s must have keys, center and scale lists of one length",
                         path, what);
    if (keys->len > CAP_VOCABULARY) return tft_cfg_too_many(path, what, keys->len, CAP_VOCABULARY, "groups");
    *rows     = (int32_t)keys->len;
    *keys_out = tft__calloc((size_t)*rows * (n_groups ? n_groups : 1) + 1, sizeof **keys_out);
    *center   = tft__calloc((size_t)*rows + 1, sizeof(double));
    *scale    = tft__calloc((size_t)*rows + 1, sizeof(double));
    if (!*keys_out || !*center || !*scale) return tft__fail(TFT_ERR_NOMEM, "model config: out of memory");
    int32_t         r  = 0;
    const tft_json *kc = c->child, *ks = s->child;
    for (const tft_json *k = keys->child; k; k = k->next, kc = kc->next, ks = ks->next, r++) {
        if (k->type != TFT_JSON_ARRAY || (int32_t)k->len != n_groups || kc->type != TFT_JSON_NUMBER ||
            ks->type != TFT_JSON_NUMBER)
            return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s row %d is malformed", path, what, r);
        int32_t g = 0;
        for (const tft_json *e = k->child; e; e = e->next, g++) {
            if (e->type != TFT_JSON_STRING)
                return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s key %d is not a string", path, what, r);
            (*keys_out)[(size_t)r * n_groups + g] = (char *)e->str;
        }
        (*center)[r] = kc->num;
        (*scale)[r]  = ks->num;
        if (!(ks->num > 0.0) || !isfinite(ks->num) || !isfinite(kc->num))
            return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s row %d: scale %g must be finite and > 0", path, what,
                             r, ks->num);
    }
    return TFT_OK;
}

// EncoderNormalizer: max_length (null, an integer, or [center rows, scale rows]: the library fits the
// center on the last max_length[0] rows and the scale on the last max_length[1]) and, for
// method="robust", method_kwargs' quantiles (center 0.5, lower 0.25, upper 0.75 by default).
static tft_status parse_encoder_fit(const tft_json *j, const char *path, tft_normalizer *n) {
    const tft_json *ml = tft_json_get(j, "max_length");
    if (ml && ml->type == TFT_JSON_ARRAY) {
        int64_t v[2];
        int     k = 0;
        for (const tft_json *e = ml->child; e; e = e->next, k++)
            if (k >= 2 || e->type != TFT_JSON_NUMBER || tft_json_i64(e, &v[k]) != 0 || v[k] < 1 || v[k] > CAP_ENCODER)
                return tft__fail(TFT_ERR_FORMAT, "model config: %s.max_length must be an integer or [center rows, "
                                 "scale rows], two integers in [1, %d]", path, CAP_ENCODER);
        if (k != 2)
            return tft__fail(TFT_ERR_FORMAT, "model config: %s.max_length has %d integers, [center rows, scale rows] "
                             "has 2", path, k);
        n->max_length = (int32_t)v[0], n->max_length_scale = (int32_t)v[1];
    } else if (ml && ml->type != TFT_JSON_NULL) {
        TFT_TRY(tft_cfg_int(j, "max_length", path, 1, CAP_ENCODER, &n->max_length));
        n->max_length_scale = n->max_length;
    }
    n->q_center = 0.5f, n->q_lower = 0.25f, n->q_upper = 0.75f;
    const tft_json *kw = tft_json_get(j, "method_kwargs");
    if (n->method != TFT_METHOD_ROBUST || !kw || kw->type == TFT_JSON_NULL) return TFT_OK;
    if (kw->type != TFT_JSON_OBJECT) return tft_cfg_err(path, "method_kwargs must be an object");
    static const char *const keys[3] = {"center", "lower", "upper"};
    float                   *qs[3]   = {&n->q_center, &n->q_lower, &n->q_upper};
    for (const tft_json *e = kw->child; e; e = e->next) {
        int k = 0;
        while (k < 3 && strcmp(e->key, keys[k]) != 0) k++;
        if (k == 3)
            return tft__fail(TFT_ERR_UNSUPPORTED, "model config: %s.method_kwargs.%s is not a robust quantile "
                             "(center, lower, upper)", path, e->key);
        if (e->type != TFT_JSON_NUMBER || !(e->num >= 0.0 && e->num <= 1.0))
            return tft__fail(TFT_ERR_FORMAT, "model config: %s.method_kwargs.%s must be a number in [0, 1]", path,
                             e->key);
        *qs[k] = (float)e->num; // torch.quantile takes q as a tensor of the data's dtype (float32)
    }
    return TFT_OK;
}

static tft_status parse_normalizer(const tft_json *j, const char *path, tft_normalizer *n) {
    memset(n, 0, sizeof *n);
    const char *type = tft_cfg_str(tft_json_get(j, "type"));
    if (!type) return tft_cfg_err(path, "has no \"type\"");
    const tft_json *tfj = tft_json_get(j, "transformation");
    int             ok  = 1;
    n->tf = (!tfj || tfj->type == TFT_JSON_NULL) ? TFT_TF_NONE : tft_transform_parse(tft_cfg_str(tfj), &ok);
    if (!ok) return tft__fail(TFT_ERR_UNSUPPORTED, "model config: %s: transformation is not supported", path);
    const char *method = tft_cfg_str(tft_json_get(j, "method"));
    if (!method || strcmp(method, "standard") == 0) n->method = TFT_METHOD_STANDARD;
    else if (strcmp(method, "robust") == 0) n->method = TFT_METHOD_ROBUST;
    else if (strcmp(method, "identity") == 0) n->method = TFT_METHOD_IDENTITY;
    else return tft__fail(TFT_ERR_UNSUPPORTED, "model config: %s: method '%s' is not supported", path, method);
    if (strcmp(type, "torch") == 0) {
        n->kind = TFT_NORM_TORCH;
        TFT_TRY(tft_cfg_num(j, "center", path, &n->t_center));
        TFT_TRY(tft_cfg_num(j, "scale", path, &n->t_scale));
        if (!(n->t_scale > 0.0) || !isfinite(n->t_scale) || !isfinite(n->t_center))
            return tft__fail(TFT_ERR_FORMAT, "model config: %s.scale = %g must be finite and > 0", path, n->t_scale);
    } else if (strcmp(type, "encoder") == 0) {
        n->kind = TFT_NORM_ENCODER;
        TFT_TRY(tft_cfg_bool(j, "center", path, 1, &n->center));
        TFT_TRY(parse_encoder_fit(j, path, n));
    } else if (strcmp(type, "group") == 0) {
        n->kind = TFT_NORM_GROUP;
        TFT_TRY(tft_cfg_bool(j, "lookup_ok", path, 1, &n->lookup_ok));
        const char **groups;
        TFT_TRY(tft_cfg_strs(j, "groups", path, &groups, &n->n_groups));
        n->groups = (char **)groups;
        if (n->n_groups > CAP_GROUPS) return tft_cfg_too_many(path, "groups", (size_t)n->n_groups, CAP_GROUPS, "columns");
        const tft_json *miss = tft_json_get(j, "missing");
        if (!miss || miss->type != TFT_JSON_ARRAY || miss->len != 2 || miss->child->type != TFT_JSON_NUMBER ||
            miss->child->next->type != TFT_JSON_NUMBER)
            return tft_cfg_err(path, ".missing must be [center, scale]");
        n->miss_center = miss->child->num;
        n->miss_scale  = miss->child->next->num;
        if (!(n->miss_scale > 0.0) || !isfinite(n->miss_scale) || !isfinite(n->miss_center))
            return tft_cfg_err(path, ".missing must be a finite center and a scale > 0");
        TFT_TRY(parse_group_table(tft_json_get(j, "table"), n->n_groups, path, "table", &n->n_rows, &n->keys,
                                  &n->g_center, &n->g_scale));
        n->ts_rows = -1;
        const tft_json *ts = tft_json_get(j, "target_scale_table");
        if (ts)
            TFT_TRY(parse_group_table(ts, n->n_groups, path, "target_scale_table", &n->ts_rows, &n->ts_keys,
                                      &n->ts_center, &n->ts_scale));
    } else {
        return tft__fail(TFT_ERR_UNSUPPORTED, "model config: %s: normalizer type '%s' is not supported", path, type);
    }
    return TFT_OK;
}

void tft_normalizer_free(tft_normalizer *n) {
    tft__free(n->groups);
    tft__free(n->keys);
    tft__free(n->g_center);
    tft__free(n->g_scale);
    tft__free(n->ts_keys);
    tft__free(n->ts_center);
    tft__free(n->ts_scale);
}

// ---- EncoderNormalizer: the fit on each series' encoder window ---------------------------------
// Mean of the transformed y[start, len), rounded to float32 (torch.mean on float32).
static float encoder_mean(const tft_normalizer *n, const float *y, int32_t start, int32_t len) {
    double sum = 0.0;
    for (int32_t i = start; i < len; i++) sum += tft_transform_forward_f(y[i], n->tf);
    return (float)(sum / (len - start));
}

// Heap sift of x[r] within x[0, end).
static void sift_down(float *x, int32_t r, int32_t end) {
    for (int32_t c; (c = 2 * r + 1) < end; r = c) {
        if (c + 1 < end && x[c + 1] > x[c]) c++;
        if (!(x[c] > x[r])) return;
        float t = x[r];
        x[r] = x[c], x[c] = t;
    }
}

// Sorts x[0, k) ascending (heapsort: in place, no allocation, O(k log k)).
static void sort_floats(float *x, int32_t k) {
    for (int32_t i = k / 2 - 1; i >= 0; i--) sift_down(x, i, k);
    for (int32_t end = k - 1; end > 0; end--) {
        float t = x[0];
        x[0] = x[end], x[end] = t;
        sift_down(x, 0, end);
    }
}

// Quantile q of sorted[0, k) as torch.quantile computes it on float32 (linear interpolation): rank =
// q * (k - 1) in float32, the values at floor and ceil, torch.lerp's two-sided formula.
static float quantile_f(const float *sorted, int32_t k, float q) {
    if (k < 1) return NAN; // no rows (torch raises): the caller's non-finite check reports it
    float   rank = q * (float)(k - 1);
    int32_t lo = (int32_t)rank, hi = (int32_t)ceilf(rank);
    float   w = rank - (float)lo, a = sorted[lo], b = sorted[hi];
    return w < 0.5f ? a + w * (b - a) : b - (b - a) * (1.0f - w);
}

// EncoderNormalizer fit on a series' encoder window y[0, len), in float32 as the library's torch path
// (pytorch-forecasting EncoderNormalizer.fit / TorchNormalizer._set_parameters): the center on the
// last max_length rows, the scale on the last max_length_scale (the two differ for max_length=[c, s]),
// each after the forward transformation.
//   standard: center = mean, scale = std (ddof 1) + FLT_EPSILON
//   robust:   center = quantile(q_center), scale = (quantile(q_upper) - quantile(q_lower)) / 2 + FLT_EPSILON
//   identity: (0, 1)
// scratch: len floats (robust sorts there).
void tft_encoder_normalizer_fit(const tft_normalizer *n, const float *y, int32_t len, float *scratch, float *center,
                                float *scale) {
    if (n->method == TFT_METHOD_IDENTITY) {
        *center = 0.0f, *scale = 1.0f;
        return;
    }
    int32_t c0 = n->max_length > 0 && len > n->max_length ? len - n->max_length : 0;             // center rows
    int32_t s0 = n->max_length_scale > 0 && len > n->max_length_scale ? len - n->max_length_scale : 0; // scale rows
    float   c, sd;
    if (n->method == TFT_METHOD_ROBUST) {
        int32_t kc = len - c0, ks = len - s0;
        for (int32_t i = 0; i < kc; i++) scratch[i] = tft_transform_forward_f(y[c0 + i], n->tf);
        sort_floats(scratch, kc);
        c = quantile_f(scratch, kc, n->q_center);
        for (int32_t i = 0; i < ks; i++) scratch[i] = tft_transform_forward_f(y[s0 + i], n->tf);
        sort_floats(scratch, ks);
        sd = (quantile_f(scratch, ks, n->q_upper) - quantile_f(scratch, ks, n->q_lower)) / 2.0f;
    } else {
        c         = encoder_mean(n, y, c0, len);
        float   m = s0 == c0 ? c : encoder_mean(n, y, s0, len); // std's own mean, over the scale rows
        double  ss = 0.0;
        int32_t k = len - s0;
        for (int32_t i = s0; i < len; i++) {
            double d = (double)tft_transform_forward_f(y[i], n->tf) - m;
            ss += d * d;
        }
        sd = k > 1 ? (float)sqrt(ss / (k - 1)) : 0.0f;
    }
    *scale  = sd + FLT_EPSILON;
    *center = n->center ? c : 0.0f;
}

// ---- categorical encoders (NaNLabelEncoder): parse and encode ----------------------------------
static _Thread_local const tft_encoder *cmp_enc; // qsort has no context argument in C11
static int cmp_labels(const void *a, const void *b) {
    return strcmp(cmp_enc->classes[*(const int32_t *)a], cmp_enc->classes[*(const int32_t *)b]);
}

static tft_status parse_encoders(tft_model *m, const tft_json *ds) {
    const tft_json *encs = tft_json_get(ds, "categorical_encoders");
    if (!encs || encs->type != TFT_JSON_OBJECT) return tft_cfg_err("dataset.categorical_encoders", "must be an object");
    if (encs->len > CAP_VARIABLES)
        return tft_cfg_too_many("dataset", "categorical_encoders", encs->len, CAP_VARIABLES, "encoders");
    m->n_encoders = (int32_t)encs->len;
    m->encoders   = tft__calloc(encs->len + 1, sizeof *m->encoders);
    if (!m->encoders) return tft__fail(TFT_ERR_NOMEM, "model config: out of memory");
    int32_t i = 0;
    for (const tft_json *e = encs->child; e; e = e->next, i++) {
        tft_encoder *x = &m->encoders[i];
        x->name        = e->key;
        TFT_TRY(tft_cfg_bool(e, "add_nan", "dataset.categorical_encoders", 0, &x->add_nan));
        const char **cls;
        char path[300];
        snprintf(path, sizeof path, "dataset.categorical_encoders.%s", e->key);
        TFT_TRY(tft_cfg_strs_cap(e, "classes", path, CAP_VOCABULARY, &cls, &x->n_classes));
        x->classes = (char **)cls;
        x->sorted  = tft__calloc((size_t)x->n_classes + 1, sizeof *x->sorted);
        if (!x->sorted) return tft__fail(TFT_ERR_NOMEM, "model config: out of memory");
        for (int32_t k = 0; k < x->n_classes; k++) x->sorted[k] = k;
        cmp_enc = x;
        qsort(x->sorted, (size_t)x->n_classes, sizeof *x->sorted, cmp_labels);
        for (int32_t k = 1; k < x->n_classes; k++)
            if (strcmp(x->classes[x->sorted[k]], x->classes[x->sorted[k - 1]]) == 0)
                return tft__fail(TFT_ERR_FORMAT, "model config: encoder '%s' lists label '%s' twice", x->name,
                                 x->classes[x->sorted[k]]);
    }
    return TFT_OK;
}

// Label -> index, or -1 for a label the encoder was not fitted on (the caller applies add_nan).
int32_t tft_encode_label(const tft_encoder *e, const char *label) {
    int32_t lo = 0, hi = e->n_classes - 1;
    while (lo <= hi) {
        int32_t mid = (lo + hi) / 2;
        int     c   = strcmp(e->classes[e->sorted[mid]], label);
        if (c == 0) return e->sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static int find_encoder(const tft_model *m, const char *name) {
    for (int32_t i = 0; i < m->n_encoders; i++)
        if (strcmp(m->encoders[i].name, name) == 0) return i;
    return -1;
}

// The encoder of a raw categorical column: its own, or its categorical group's (a group's encoder is
// fitted on all member columns together and encodes each of them).
static int column_encoder(const tft_model *m, const char *col) {
    int e = find_encoder(m, col);
    if (e >= 0) return e;
    for (const tft_json *g = m->var_groups ? m->var_groups->child : NULL; g; g = g->next)
        for (const tft_json *mbr = g->type == TFT_JSON_ARRAY ? g->child : NULL; mbr; mbr = mbr->next)
            if (mbr->type == TFT_JSON_STRING && strcmp(mbr->str, col) == 0) return find_encoder(m, g->key);
    return -1;
}

// ---- scalers of the real covariates ------------------------------------------------------------
static tft_status parse_scalers(tft_model *m, const tft_json *ds) {
    const tft_json *sc = tft_json_get(ds, "scalers");
    if (!sc || sc->type != TFT_JSON_OBJECT) return tft_cfg_err("dataset.scalers", "must be an object");
    if (sc->len > CAP_VARIABLES) return tft_cfg_too_many("dataset", "scalers", sc->len, CAP_VARIABLES, "scalers");
    m->n_scalers    = (int32_t)sc->len;
    m->scalers      = tft__calloc(sc->len + 1, sizeof *m->scalers);
    m->scaler_names = tft__calloc(sc->len + 1, sizeof *m->scaler_names);
    if (!m->scalers || !m->scaler_names) return tft__fail(TFT_ERR_NOMEM, "model config: out of memory");
    int32_t i = 0;
    for (const tft_json *s = sc->child; s; s = s->next, i++) {
        tft_scaler *x     = &m->scalers[i];
        m->scaler_names[i] = s->key;
        const char *type  = tft_cfg_str(tft_json_get(s, "type"));
        char path[300];
        snprintf(path, sizeof path, "dataset.scalers.%s", s->key);
        if (!type) return tft_cfg_err(path, "has no \"type\"");
        if (strcmp(type, "identity") == 0) {
            x->kind = TFT_SCALER_IDENTITY;
        } else if (strcmp(type, "standard") == 0 || strcmp(type, "robust") == 0) {
            x->kind = type[0] == 's' ? TFT_SCALER_STANDARD : TFT_SCALER_ROBUST;
            TFT_TRY(tft_cfg_num(s, x->kind == TFT_SCALER_STANDARD ? "mean" : "center", path, &x->center));
            TFT_TRY(tft_cfg_num(s, "scale", path, &x->scale));
            if (!(x->scale > 0.0) || !isfinite(x->scale) || !isfinite(x->center))
                return tft__fail(TFT_ERR_FORMAT, "model config: %s.scale = %g must be finite and > 0", path, x->scale);
        } else {
            x->kind = TFT_SCALER_NORMALIZER;
            TFT_TRY(parse_normalizer(s, path, &x->norm));
        }
    }
    return TFT_OK;
}

static int find_scaler(const tft_model *m, const char *name) {
    for (int32_t i = 0; i < m->n_scalers; i++)
        if (strcmp(m->scaler_names[i], name) == 0) return i;
    return -1;
}

// ---- dataset: how each network input is made from raw columns, and the request schema ---------
// Appends the names of list (expanding categorical groups into their member columns) to out,
// skipping duplicates and the names in skip.
static void add_inputs(const char **list, int32_t n, const tft_json *groups, const char **out, int32_t *n_out) {
    for (int32_t i = 0; i < n; i++) {
        const tft_json *g = tft_json_get(groups, list[i]);
        if (g && g->type == TFT_JSON_ARRAY) {
            for (const tft_json *e = g->child; e; e = e->next)
                if (e->type == TFT_JSON_STRING && tft_cfg_find_name(out, *n_out, e->str) < 0) out[(*n_out)++] = e->str;
        } else if (tft_cfg_find_name(out, *n_out, list[i]) < 0) {
            out[(*n_out)++] = list[i];
        }
    }
}

// "<var>_lagged_by_<k>" with k one of dataset.lags[var]: returns k and the base name's length, else 0.
static int32_t lag_of(const tft_json *lags, const char *name, size_t *base_len) {
    const char *at = NULL;
    for (const char *p = strstr(name, "_lagged_by_"); p; p = strstr(p + 1, "_lagged_by_")) at = p;
    if (!at || !lags) return 0;
    char   *end;
    long    k = strtol(at + 11, &end, 10);
    if (*end || k < 1 || k > CAP_ENCODER) return 0;
    for (const tft_json *v = lags->child; v; v = v->next) {
        if (strlen(v->key) != (size_t)(at - name) || strncmp(v->key, name, (size_t)(at - name)) != 0) continue;
        for (const tft_json *e = v->child; e; e = e->next) {
            int64_t x;
            if (tft_json_i64(e, &x) == 0 && x == k) {
                *base_len = (size_t)(at - name);
                return (int32_t)k;
            }
        }
    }
    return 0;
}

static int is_derived(const tft_model *m, const char *name) {
    size_t bl;
    if (lag_of(m->lags, name, &bl)) return 1;
    if (m->add_relative_time_idx && strcmp(name, "relative_time_idx") == 0) return 1;
    if (m->add_encoder_length && strcmp(name, "encoder_length") == 0) return 1;
    for (int32_t t = 0; t < m->NT; t++) {
        size_t n = strlen(m->targets[t]);
        if (strncmp(name, m->targets[t], n) == 0 &&
            (strcmp(name + n, "_center") == 0 || strcmp(name + n, "_scale") == 0))
            return 1;
    }
    return 0;
}

static void drop_derived(const tft_model *m, const char **list, int32_t *n) {
    int32_t k = 0;
    for (int32_t i = 0; i < *n; i++)
        if (!is_derived(m, list[i])) list[k++] = list[i];
    *n = k;
}

tft_status tft_schema_parse(tft_model *m, const tft_json *ds) {
    const char *P = "dataset";
    TFT_TRY(tft_cfg_int(ds, "max_encoder_length", P, 1, CAP_ENCODER, &m->Te_max));
    TFT_TRY(tft_cfg_int(ds, "min_encoder_length", P, 0, m->Te_max, &m->Te_min));
    TFT_TRY(tft_cfg_int(ds, "max_prediction_length", P, 1, CAP_HORIZON, &m->Td_max));
    TFT_TRY(tft_cfg_int(ds, "min_prediction_length", P, 1, m->Td_max, &m->Td_min));
    TFT_TRY(tft_cfg_bool(ds, "add_relative_time_idx", P, 0, &m->add_relative_time_idx));
    TFT_TRY(tft_cfg_bool(ds, "add_encoder_length", P, 0, &m->add_encoder_length));
    int32_t add_target_scales = 0;
    TFT_TRY(tft_cfg_bool(ds, "add_target_scales", P, 0, &add_target_scales));
    int32_t n_targets;
    TFT_TRY(tft_cfg_strs(ds, "target", P, &m->targets, &n_targets));
    if (n_targets != m->NT)
        return tft__fail(TFT_ERR_FORMAT, "model config: dataset.target lists %d targets, model.n_targets is %d",
                         n_targets, m->NT);
    TFT_TRY(tft_cfg_strs(ds, "group_ids", P, &m->group_ids, &m->n_group_ids));
    const tft_json *lags = tft_json_get(ds, "lags");
    if (lags && lags->type != TFT_JSON_OBJECT) return tft_cfg_err("dataset.lags", "must be an object");
    if (lags && lags->len > CAP_VARIABLES) return tft_cfg_too_many("dataset", "lags", lags->len, CAP_VARIABLES, "variables");
    m->lags = lags;
    for (const tft_json *v = lags ? lags->child : NULL; v; v = v->next) {
        if (v->type != TFT_JSON_ARRAY) return tft__fail(TFT_ERR_FORMAT, "model config: dataset.lags.%s must be a list", v->key);
        if (v->len > CAP_VARIABLES) return tft_cfg_too_many("dataset.lags", v->key, v->len, CAP_VARIABLES, "lags");
        for (const tft_json *e = v->child; e; e = e->next) {
            int64_t k;
            if (tft_json_i64(e, &k) != 0 || k < 1)
                return tft__fail(TFT_ERR_FORMAT, "model config: dataset.lags.%s holds a lag that is not a positive integer",
                                 v->key);
            if (k > CAP_ENCODER) {
                char field[300];
                snprintf(field, sizeof field, "dataset.lags.%s", v->key);
                return tft__fail_at(TFT_ERR_FORMAT, TFT_E_CONFIG_LIMIT, -1, field, -1,
                                    "model config: %s holds the lag %lld, more than the cap of %d (weights/FORMAT.md "
                                    "\"Limits\")", field, (long long)k, CAP_ENCODER);
            }
            if (k > m->max_lag) m->max_lag = (int32_t)k;
            char lagged[300];
            snprintf(lagged, sizeof lagged, "%s_lagged_by_%lld", v->key, (long long)k);
            if (tft_cfg_find_name(m->x_reals, m->n_reals, lagged) < 0 && tft_cfg_find_name(m->x_cats, m->n_cats, lagged) < 0)
                return tft__fail(TFT_ERR_FORMAT, "model config: dataset.lags implies '%s', which is not an input of "
                                                 "the model", lagged);
        }
    }
    m->var_groups = tft_json_get(ds, "variable_groups");
    if (m->var_groups) { // every categorical's encoder lookup walks all members: bound their total
        size_t members = 0;
        for (const tft_json *g = m->var_groups->child; g; g = g->next) members += g->type == TFT_JSON_ARRAY ? g->len : 1;
        if (members > CAP_VARIABLES) return tft_cfg_too_many("dataset", "variable_groups", members, CAP_VARIABLES, "members");
    }
    TFT_TRY(parse_encoders(m, ds));
    TFT_TRY(parse_scalers(m, ds));

    // target normalizer(s)
    m->target_norm = tft__calloc((size_t)m->NT, sizeof *m->target_norm);
    if (!m->target_norm) return tft__fail(TFT_ERR_NOMEM, "model config: out of memory");
    const tft_json *tn = tft_json_get(ds, "target_normalizer");
    const char     *type = tft_cfg_str(tft_json_get(tn, "type"));
    if (!type) return tft_cfg_err("dataset.target_normalizer", "has no \"type\"");
    if (strcmp(type, "multi") == 0) {
        const tft_json *ns = tft_json_get(tn, "normalizers");
        if (!ns || ns->type != TFT_JSON_ARRAY || (int32_t)ns->len != m->NT)
            return tft_cfg_err("dataset.target_normalizer.normalizers", "must list one normalizer per target");
        int32_t t = 0;
        for (const tft_json *e = ns->child; e; e = e->next, t++)
            TFT_TRY(parse_normalizer(e, "dataset.target_normalizer.normalizers[]", &m->target_norm[t]));
    } else {
        if (m->NT != 1) return tft_cfg_err("dataset.target_normalizer", "must be \"multi\" for several targets");
        TFT_TRY(parse_normalizer(tn, "dataset.target_normalizer", &m->target_norm[0]));
    }

    // how each x_reals column is made from raw rows
    const char **s_reals, **k_reals, **u_reals, **s_cats, **k_cats, **u_cats;
    int32_t      ns_r, nk_r, nu_r, ns_c, nk_c, nu_c;
    TFT_TRY(tft_cfg_strs(ds, "static_reals", P, &s_reals, &ns_r));
    tft_status st = TFT_OK;
    k_reals = u_reals = s_cats = k_cats = u_cats = NULL;
    if ((st = tft_cfg_strs(ds, "time_varying_known_reals", P, &k_reals, &nk_r)) != TFT_OK) goto out;
    if ((st = tft_cfg_strs(ds, "time_varying_unknown_reals", P, &u_reals, &nu_r)) != TFT_OK) goto out;
    if ((st = tft_cfg_strs(ds, "static_categoricals", P, &s_cats, &ns_c)) != TFT_OK) goto out;
    if ((st = tft_cfg_strs(ds, "time_varying_known_categoricals", P, &k_cats, &nk_c)) != TFT_OK) goto out;
    if ((st = tft_cfg_strs(ds, "time_varying_unknown_categoricals", P, &u_cats, &nu_c)) != TFT_OK) goto out;

    m->real_cols       = tft__calloc((size_t)m->n_reals + 1, sizeof *m->real_cols);
    m->target_real_col = tft__calloc((size_t)m->NT, sizeof *m->target_real_col);
    m->cat_encoder     = tft__calloc((size_t)m->n_cats + 1, sizeof *m->cat_encoder);
    m->cat_static      = tft__calloc((size_t)m->n_cats + 1, sizeof *m->cat_static);
    if (!m->real_cols || !m->target_real_col || !m->cat_encoder || !m->cat_static) {
        st = tft__fail(TFT_ERR_NOMEM, "model config: out of memory");
        goto out;
    }
    for (int32_t t = 0; t < m->NT; t++) m->target_real_col[t] = tft_cfg_find_name(m->x_reals, m->n_reals, m->targets[t]);
    for (int32_t i = 0; i < m->n_reals; i++) {
        const char   *name = m->x_reals[i];
        tft_real_col *rc   = &m->real_cols[i];
        rc->scaler         = -1;
        rc->is_static      = tft_cfg_find_name(s_reals, ns_r, name) >= 0;
        rc->is_known       = tft_cfg_find_name(k_reals, nk_r, name) >= 0;
        int    t           = tft_cfg_find_name(m->targets, m->NT, name);
        size_t base_len    = 0;
        int32_t lag        = lag_of(m->lags, name, &base_len);
        if (lag) {
            // a lagged real: its variable's raw value `lag` rows earlier, through that variable's
            // transformer (the target normalizer for a target, else the variable's scaler)
            char base[256];
            snprintf(base, sizeof base, "%.*s", (int)base_len, name);
            rc->src    = TFT_REAL_LAG;
            rc->lag    = lag;
            rc->target = tft_cfg_find_name(m->targets, m->NT, base);
            rc->base   = tft_cfg_find_name(m->x_reals, m->n_reals, base) >= 0
                             ? m->x_reals[tft_cfg_find_name(m->x_reals, m->n_reals, base)]
                             : NULL;
            if (!rc->base) {
                st = tft__fail(TFT_ERR_FORMAT, "model config: lagged real '%s' has no variable '%s' in x_reals", name, base);
                goto out;
            }
            rc->is_known = tft_cfg_find_name(k_reals, nk_r, rc->base) >= 0;
            if (rc->target < 0 && (rc->scaler = find_scaler(m, base)) < 0) {
                st = tft__fail(TFT_ERR_FORMAT, "model config: '%s' (lagged by %d) has no entry in dataset.scalers", base, lag);
                goto out;
            }
            continue;
        }
        rc->target = -1;
        if (m->add_relative_time_idx && strcmp(name, "relative_time_idx") == 0) {
            rc->src = TFT_REAL_RELATIVE_TIME;
        } else if (m->add_encoder_length && strcmp(name, "encoder_length") == 0) {
            rc->src = TFT_REAL_ENCODER_LENGTH;
        } else if (t >= 0) {
            rc->src    = TFT_REAL_TARGET;
            rc->target = t;
        } else {
            rc->src = TFT_REAL_SCALED;
            for (int32_t k = 0; add_target_scales && k < m->NT; k++) {
                size_t n = strlen(m->targets[k]);
                if (strncmp(name, m->targets[k], n) != 0) continue;
                if (strcmp(name + n, "_center") == 0) rc->src = TFT_REAL_TARGET_CENTER, rc->target = k;
                if (strcmp(name + n, "_scale") == 0) rc->src = TFT_REAL_TARGET_SCALE, rc->target = k;
            }
            rc->scaler = find_scaler(m, name);
            if (rc->scaler < 0) {
                st = tft__fail(TFT_ERR_FORMAT, "model config: real '%s' has no entry in dataset.scalers", name);
                goto out;
            }
            if (!rc->is_static && !rc->is_known && tft_cfg_find_name(u_reals, nu_r, name) < 0 &&
                rc->src == TFT_REAL_SCALED) {
                st = tft__fail(TFT_ERR_FORMAT, "model config: real '%s' is in no dataset variable list", name);
                goto out;
            }
        }
    }
    m->cat_lag  = tft__calloc((size_t)m->n_cats + 1, sizeof *m->cat_lag);
    m->cat_base = tft__calloc((size_t)m->n_cats + 1, sizeof *m->cat_base);
    if (!m->cat_lag || !m->cat_base) {
        st = tft__fail(TFT_ERR_NOMEM, "model config: out of memory");
        goto out;
    }
    for (int32_t i = 0; i < m->n_cats; i++) {
        size_t base_len = 0;
        m->cat_lag[i]   = lag_of(m->lags, m->x_cats[i], &base_len);
        m->cat_base[i]  = m->x_cats[i];
        if (m->cat_lag[i]) { // a lagged categorical reads, and is encoded as, its base column
            for (int32_t k = 0; k < m->n_cats; k++)
                if (strlen(m->x_cats[k]) == base_len && strncmp(m->x_cats[k], m->x_cats[i], base_len) == 0)
                    m->cat_base[i] = m->x_cats[k];
            if (m->cat_base[i] == m->x_cats[i]) {
                st = tft__fail(TFT_ERR_FORMAT, "model config: lagged categorical '%s' has no base in x_categoricals",
                               m->x_cats[i]);
                goto out;
            }
        }
        m->cat_encoder[i] = column_encoder(m, m->cat_base[i]);
        if (m->cat_encoder[i] < 0) {
            st = tft__fail(TFT_ERR_FORMAT, "model config: categorical '%s' has no categorical_encoders entry",
                           m->x_cats[i]);
            goto out;
        }
    }

    // request schema (raw columns a series must carry)
    const tft_json *groups = tft_json_get(ds, "variable_groups");
    size_t cap = (size_t)(m->n_group_ids + ns_r + nk_r + nu_r + ns_c + nk_c + nu_c + m->n_cats + 1);
    m->static_inputs  = tft__calloc(cap, sizeof(char *));
    m->history_inputs = tft__calloc(cap, sizeof(char *));
    m->future_inputs  = tft__calloc(cap, sizeof(char *));
    m->static_inputs_cat = tft__calloc(cap, sizeof(int32_t));
    if (!m->static_inputs || !m->history_inputs || !m->future_inputs || !m->static_inputs_cat) {
        st = tft__fail(TFT_ERR_NOMEM, "model config: out of memory");
        goto out;
    }
    add_inputs(m->group_ids, m->n_group_ids, groups, m->static_inputs, &m->n_static_inputs);
    add_inputs(s_cats, ns_c, groups, m->static_inputs, &m->n_static_inputs);
    add_inputs(s_reals, ns_r, groups, m->static_inputs, &m->n_static_inputs);
    drop_derived(m, m->static_inputs, &m->n_static_inputs);
    for (int32_t i = 0; i < m->n_static_inputs; i++)
        m->static_inputs_cat[i] = tft_cfg_find_name(s_reals, ns_r, m->static_inputs[i]) < 0;
    add_inputs(k_cats, nk_c, groups, m->history_inputs, &m->n_history_inputs);
    add_inputs(k_reals, nk_r, groups, m->history_inputs, &m->n_history_inputs);
    add_inputs(u_cats, nu_c, groups, m->history_inputs, &m->n_history_inputs);
    add_inputs(u_reals, nu_r, groups, m->history_inputs, &m->n_history_inputs);
    drop_derived(m, m->history_inputs, &m->n_history_inputs);
    add_inputs(k_cats, nk_c, groups, m->future_inputs, &m->n_future_inputs);
    add_inputs(k_reals, nk_r, groups, m->future_inputs, &m->n_future_inputs);
    drop_derived(m, m->future_inputs, &m->n_future_inputs);
    for (int32_t i = 0; i < m->n_cats; i++)
        m->cat_static[i] = tft_cfg_find_name(s_cats, ns_c, m->x_cats[i]) >= 0 ||
                           (tft_cfg_find_name(m->static_inputs, m->n_static_inputs, m->x_cats[i]) >= 0);
out:
    tft__free(s_reals), tft__free(k_reals), tft__free(u_reals);
    tft__free(s_cats), tft__free(k_cats), tft__free(u_cats);
    return st;
}

// ---- the request schema's queries (tft.h) ------------------------------------------------------
TFT_API int tft_model_input_is_categorical(const tft_model *m, const char *name) {
    if (!m || !name) return -1;
    for (int32_t i = 0; i < m->n_static_inputs; i++)
        if (strcmp(m->static_inputs[i], name) == 0) return m->static_inputs_cat[i];
    for (int32_t i = 0; i < m->n_history_inputs; i++)
        if (strcmp(m->history_inputs[i], name) == 0) return column_encoder(m, name) >= 0 ? 1 : 0;
    return -1;
}

TFT_API const char *const *tft_model_category_labels(const tft_model *m, const char *name, int32_t *n_labels,
                                                     int32_t *add_nan) {
    if (n_labels) *n_labels = 0;
    if (add_nan) *add_nan = 0;
    if (!m || !name || !n_labels) return NULL;
    int e = -1;
    for (int32_t k = 0; k < m->n_cats && e < 0; k++) // network level first (lagged names live only there)
        if (strcmp(m->x_cats[k], name) == 0) e = m->cat_encoder[k];
    if (e < 0 && tft_model_input_is_categorical(m, name) == 1) e = column_encoder(m, name);
    if (e < 0) return NULL;
    *n_labels = m->encoders[e].n_classes;
    if (add_nan) *add_nan = m->encoders[e].add_nan;
    return (const char *const *)m->encoders[e].classes;
}
