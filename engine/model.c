// model.c: tft_model. Opens the weights file (loader/), parses and validates the config document
// (weights/FORMAT.md), copies every tensor into one aligned block and binds each named weight of
// the TFT graph with an exact shape check. A file whose config and tensors disagree is refused
// here with a message naming the tensor, so the forward never meets a surprise.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define ALIGN_FLOATS 16 // 64-byte alignment of every tensor in the weight block

// ---- caps on every size of the config (weights/FORMAT.md "Limits") -------------------------------
// Far above any model pytorch-forecasting users train, low enough that the product of any of them
// fits the plan's size arithmetic (plan.c) and that validation is fast on a hostile file (every
// check below is linear or n log n in these sizes). A context's memory, which multiplies several of
// them with max_batch, is capped separately (tft_context_params.max_memory_mib).
#define CAP_HIDDEN     4096      // hidden_size
#define CAP_LAYERS     8         // lstm_layers (the model struct holds 8)
#define CAP_HEADS      256       // attention_head_size (also <= hidden_size)
#define CAP_TARGETS    64        // n_targets
#define CAP_QUANTILES  128       // quantiles per target
#define CAP_ENCODER    65536     // max_encoder_length, and the largest lag
#define CAP_HORIZON    8192      // max_prediction_length
#define CAP_VARIABLES  4096      // names in any list of variables (x_reals, static_reals, ...), and
                                 // entries of embedding_sizes, categorical_encoders, scalers, lags
#define CAP_HCS        4096      // a hidden_continuous_size
#define CAP_VOCABULARY (1 << 24) // classes of one categorical encoder / embedding; rows of a group table
#define CAP_GROUPS     64        // group columns of a GroupNormalizer
#define CAP_ALIASES    65536     // entries of config.aliases (the file holds at most TFT_LD_MAX_TENSORS tensors)

// ---- binding state ---------------------------------------------------------------------------
typedef struct binder {
    tft_model *m;
    size_t    *offset;   // [n tensors] float offset of each tensor in m->weights
    uint8_t   *used;     // [n tensors]
    const tft_json *aliases;
} binder;

static const char *jstr(const tft_json *v) { return v && v->type == TFT_JSON_STRING ? v->str : NULL; }

static tft_status cfg_err(const char *path, const char *what) {
    return tft__fail(TFT_ERR_FORMAT, "model config: %s %s", path, what);
}

static tft_status get_int(const tft_json *obj, const char *key, const char *path, int32_t lo, int32_t hi,
                          int32_t *out) {
    const tft_json *v = tft_json_get(obj, key);
    int64_t         x;
    if (!v || v->type != TFT_JSON_NUMBER || tft_json_i64(v, &x) != 0)
        return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s must be an integer", path, key);
    if (x > hi) { // a cap: the structured code says so (a server or tool can tell it from a typo)
        char field[128];
        snprintf(field, sizeof field, "%s.%s", path, key);
        return tft__fail_at(TFT_ERR_FORMAT, TFT_E_CONFIG_LIMIT, -1, field, -1,
                            "model config: %s.%s = %lld is outside [%d, %d] (the cap of weights/FORMAT.md \"Limits\")",
                            path, key, (long long)x, lo, hi);
    }
    if (x < lo)
        return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s = %lld is outside [%d, %d]", path, key,
                         (long long)x, lo, hi);
    *out = (int32_t)x;
    return TFT_OK;
}

static tft_status get_bool(const tft_json *obj, const char *key, const char *path, int dflt, int32_t *out) {
    const tft_json *v = tft_json_get(obj, key);
    if (!v) {
        *out = dflt;
        return TFT_OK;
    }
    if (v->type != TFT_JSON_TRUE && v->type != TFT_JSON_FALSE)
        return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s must be true or false", path, key);
    *out = v->type == TFT_JSON_TRUE;
    return TFT_OK;
}

static tft_status get_num(const tft_json *obj, const char *key, const char *path, double *out) {
    const tft_json *v = tft_json_get(obj, key);
    if (!v || v->type != TFT_JSON_NUMBER)
        return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s must be a number", path, key);
    *out = v->num;
    return TFT_OK;
}

// A config list or object of n entries over its cap: TFT_E_CONFIG_LIMIT naming the key.
static tft_status too_many(const char *path, const char *key, size_t n, size_t cap, const char *what) {
    char field[128];
    snprintf(field, sizeof field, "%s%s%s", path, key && *path ? "." : "", key ? key : "");
    return tft__fail_at(TFT_ERR_FORMAT, TFT_E_CONFIG_LIMIT, -1, field, -1,
                        "model config: %s lists %zu %s, more than the cap of %zu (weights/FORMAT.md \"Limits\")", field,
                        n, what, cap);
}

// A JSON array of strings -> an array of pointers into the config tree (lives as long as m->cfg).
// At most cap names.
static tft_status get_strs_cap(const tft_json *obj, const char *key, const char *path, size_t cap, const char ***out,
                               int32_t *n) {
    const tft_json *v = tft_json_get(obj, key);
    *out = NULL;
    *n   = 0;
    if (!v || v->type != TFT_JSON_ARRAY)
        return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s must be a list of names", path, key);
    if (v->len > cap) return too_many(path, key, v->len, cap, "names");
    const char **a = tft__calloc(v->len ? v->len : 1, sizeof *a);
    if (!a) return tft__fail(TFT_ERR_NOMEM, "model config: out of memory");
    int32_t i = 0;
    for (const tft_json *e = v->child; e; e = e->next, i++) {
        if (e->type != TFT_JSON_STRING || e->len == 0) {
            tft__free(a);
            return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s[%d] must be a non-empty string", path, key, i);
        }
        a[i] = e->str;
    }
    *out = a;
    *n   = i;
    return TFT_OK;
}

// Every other list of names in the config is one of variables or columns: at most CAP_VARIABLES.
static tft_status get_strs(const tft_json *obj, const char *key, const char *path, const char ***out,
                           int32_t *n) {
    return get_strs_cap(obj, key, path, CAP_VARIABLES, out, n);
}

static int find_name(const char *const *list, int32_t n, const char *name) {
    for (int32_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0) return i;
    return -1;
}

// Resolves a state_dict key (following config.aliases) to its tensor and checks dtype and shape.
// dims: expected shape, rank entries.
static tft_status bind_tensor(binder *b, const char *key, int rank, const int64_t *dims, const float **out) {
    const tft_ld_tensor *t = tft_ld_find(b->m->file, key);
    if (!t) {
        const char *canon = jstr(tft_json_get(b->aliases, key));
        if (canon) t = tft_ld_find(b->m->file, canon);
    }
    if (!t) return tft__fail(TFT_ERR_FORMAT, "weights file: tensor '%s' is missing", key);
    if (t->dtype != TFT_LD_F32)
        return tft__fail(TFT_ERR_FORMAT, "weights file: tensor '%s' has dtype %s, expected F32", key,
                         tft_ld_dtype_name(t->dtype));
    int ok = t->rank == rank;
    for (int i = 0; ok && i < rank; i++) ok = t->shape[i] == dims[i];
    if (!ok) {
        char want[96] = "", got[96] = "";
        for (int i = 0; i < rank; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? "," : "", (long long)dims[i]);
        for (int i = 0; i < t->rank; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "", (long long)t->shape[i]);
        return tft__fail(TFT_ERR_FORMAT, "weights file: tensor '%s' has shape (%s), the config implies (%s)",
                         key, got, want);
    }
    int32_t idx = (int32_t)(t - tft_ld_tensor_at(b->m->file, 0));
    b->used[idx] = 1;
    *out         = b->m->weights + b->offset[idx];
    return TFT_OK;
}

static tft_status bind1(binder *b, const char *prefix, const char *suffix, int64_t d0, const float **out) {
    char key[512];
    snprintf(key, sizeof key, "%s%s", prefix, suffix);
    int64_t dims[1] = {d0};
    return bind_tensor(b, key, 1, dims, out);
}

static tft_status bind2(binder *b, const char *prefix, const char *suffix, int64_t d0, int64_t d1,
                        const float **out) {
    char key[512];
    snprintf(key, sizeof key, "%s%s", prefix, suffix);
    int64_t dims[2] = {d0, d1};
    return bind_tensor(b, key, 2, dims, out);
}

static int has_tensor(binder *b, const char *prefix, const char *suffix) {
    char key[512];
    snprintf(key, sizeof key, "%s%s", prefix, suffix);
    if (tft_ld_find(b->m->file, key)) return 1;
    const char *canon = jstr(tft_json_get(b->aliases, key));
    return canon && tft_ld_find(b->m->file, canon);
}

// GRN(in -> hid -> out) with an optional context of width ctx (§3.7), keys under prefix.
static tft_status bind_grn(binder *b, const char *p, int in, int hid, int out, int ctx, tft_grn_w *w) {
    memset(w, 0, sizeof *w);
    w->in = in, w->hid = hid, w->out = out;
    TFT_TRY(bind2(b, p, ".fc1.weight", hid, in, &w->fc1_w));
    TFT_TRY(bind1(b, p, ".fc1.bias", hid, &w->fc1_b));
    if (ctx) TFT_TRY(bind2(b, p, ".context.weight", hid, ctx, &w->ctx_w));
    TFT_TRY(bind2(b, p, ".fc2.weight", hid, hid, &w->fc2_w));
    TFT_TRY(bind1(b, p, ".fc2.bias", hid, &w->fc2_b));
    TFT_TRY(bind2(b, p, ".gate_norm.glu.fc.weight", 2 * out, hid, &w->glu_w));
    TFT_TRY(bind1(b, p, ".gate_norm.glu.fc.bias", 2 * out, &w->glu_b));
    TFT_TRY(bind1(b, p, ".gate_norm.add_norm.norm.weight", out, &w->ln_w));
    TFT_TRY(bind1(b, p, ".gate_norm.add_norm.norm.bias", out, &w->ln_b));
    if (in != out) {
        TFT_TRY(bind1(b, p, ".resample_norm.mask", out, &w->rs_mask));
        TFT_TRY(bind1(b, p, ".resample_norm.norm.weight", out, &w->rs_w));
        TFT_TRY(bind1(b, p, ".resample_norm.norm.bias", out, &w->rs_b));
    }
    return TFT_OK;
}

static int min_i(int a, int b) { return a < b ? a : b; }

// One variable selection network (§3.8) over the named variables, categoricals first.
static tft_status bind_vsn(binder *b, const char *prefix, const char **cats, int32_t n_cats,
                           const char **reals, int32_t n_reals, int has_ctx, tft_vsn *v,
                           const tft_json *hcs_cfg) {
    tft_model *m = b->m;
    v->prefix    = prefix;
    v->n         = n_cats + n_reals;
    v->has_ctx   = has_ctx;
    v->vars      = tft__calloc(v->n ? v->n : 1, sizeof *v->vars);
    if (!v->vars) return tft__fail(TFT_ERR_NOMEM, "model: out of memory");
    int H = m->H;
    v->in_total = 0;
    for (int32_t k = 0; k < v->n; k++) {
        tft_var *x = &v->vars[k];
        x->name    = k < n_cats ? cats[k] : reals[k - n_cats];
        x->is_real = k >= n_cats;
        x->emb = x->real_col = -1;
        if (x->is_real) {
            x->real_col = find_name(m->x_reals, m->n_reals, x->name);
            if (x->real_col < 0)
                return tft__fail(TFT_ERR_FORMAT, "model config: real '%s' of %s is not in x_reals", x->name, prefix);
            int32_t hcs = 0;
            TFT_TRY(get_int(hcs_cfg, x->name, "model.hidden_continuous_sizes", 1, CAP_HCS, &hcs));
            x->width = hcs;
            char p[300];
            snprintf(p, sizeof p, "prescalers.%s", x->name);
            TFT_TRY(bind2(b, p, ".weight", hcs, 1, &x->pre_w));
            TFT_TRY(bind1(b, p, ".bias", hcs, &x->pre_b));
        } else {
            for (int32_t e = 0; e < m->n_embs; e++)
                if (strcmp(m->embs[e].name, x->name) == 0) x->emb = e;
            if (x->emb < 0)
                return tft__fail(TFT_ERR_FORMAT, "model config: categorical '%s' of %s has no embedding_sizes entry",
                                 x->name, prefix);
            x->width = m->embs[x->emb].dim;
        }
        v->in_total += x->width;
        char p[400];
        snprintf(p, sizeof p, "%s.single_variable_grns.%s", prefix, x->name);
        x->is_grn = has_tensor(b, p, ".fc1.weight");
        if (x->is_grn) {
            TFT_TRY(bind_grn(b, p, x->width, min_i(x->width, H), H, 0, &x->grn));
        } else {
            TFT_TRY(bind1(b, p, ".mask", H, &x->rs_mask));
            TFT_TRY(bind1(b, p, ".norm.weight", H, &x->rs_w));
            TFT_TRY(bind1(b, p, ".norm.bias", H, &x->rs_b));
        }
    }
    if (v->n > 1) {
        char p[300];
        snprintf(p, sizeof p, "%s.flattened_grn", prefix);
        TFT_TRY(bind_grn(b, p, v->in_total, min_i(H, v->n), v->n, has_ctx ? H : 0, &v->flat));
    }
    return TFT_OK;
}

static tft_status bind_lstm(binder *b, const char *prefix, int L, int H, int enc) {
    for (int l = 0; l < L; l++) {
        char p[64];
        snprintf(p, sizeof p, "%s.", prefix);
        char k[64];
        const float **dst_ih = enc ? &b->m->lstm_enc[l].w_ih : &b->m->lstm_dec[l].w_ih;
        const float **dst_hh = enc ? &b->m->lstm_enc[l].w_hh : &b->m->lstm_dec[l].w_hh;
        const float **dst_bi = enc ? &b->m->lstm_enc[l].b_ih : &b->m->lstm_dec[l].b_ih;
        const float **dst_bh = enc ? &b->m->lstm_enc[l].b_hh : &b->m->lstm_dec[l].b_hh;
        snprintf(k, sizeof k, "weight_ih_l%d", l);
        TFT_TRY(bind2(b, p, k, 4 * H, H, dst_ih));
        snprintf(k, sizeof k, "weight_hh_l%d", l);
        TFT_TRY(bind2(b, p, k, 4 * H, H, dst_hh));
        snprintf(k, sizeof k, "bias_ih_l%d", l);
        TFT_TRY(bind1(b, p, k, 4 * H, dst_bi));
        snprintf(k, sizeof k, "bias_hh_l%d", l);
        TFT_TRY(bind1(b, p, k, 4 * H, dst_bh));
    }
    return TFT_OK;
}

static tft_status bind_gate_norm(binder *b, const char *p, int H, const float **gw, const float **gb,
                                 const float **lw, const float **lb) {
    TFT_TRY(bind2(b, p, ".glu.fc.weight", 2 * H, H, gw));
    TFT_TRY(bind1(b, p, ".glu.fc.bias", 2 * H, gb));
    TFT_TRY(bind1(b, p, ".add_norm.norm.weight", H, lw));
    TFT_TRY(bind1(b, p, ".add_norm.norm.bias", H, lb));
    return TFT_OK;
}

// ---- preprocessing config --------------------------------------------------------------------
// A GroupNormalizer table: {"keys": [[label per group column]...], "center": [...], "scale": [...]}.
static tft_status parse_group_table(const tft_json *t, int32_t n_groups, const char *path, const char *what,
                                    int32_t *rows, char ***keys_out, double **center, double **scale) {
    const tft_json *keys = tft_json_get(t, "keys"), *c = tft_json_get(t, "center"), *s = tft_json_get(t, "scale");
    if (!keys || keys->type != TFT_JSON_ARRAY || !c || c->type != TFT_JSON_ARRAY || !s || s->type != TFT_JSON_ARRAY ||
        c->len != keys->len || s->len != keys->len)
        return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s must have keys, center and scale lists of one length",
                         path, what);
    if (keys->len > CAP_VOCABULARY) return too_many(path, what, keys->len, CAP_VOCABULARY, "groups");
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
        TFT_TRY(get_int(j, "max_length", path, 1, CAP_ENCODER, &n->max_length));
        n->max_length_scale = n->max_length;
    }
    n->q_center = 0.5f, n->q_lower = 0.25f, n->q_upper = 0.75f;
    const tft_json *kw = tft_json_get(j, "method_kwargs");
    if (n->method != TFT_METHOD_ROBUST || !kw || kw->type == TFT_JSON_NULL) return TFT_OK;
    if (kw->type != TFT_JSON_OBJECT) return cfg_err(path, "method_kwargs must be an object");
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
    const char *type = jstr(tft_json_get(j, "type"));
    if (!type) return cfg_err(path, "has no \"type\"");
    const tft_json *tfj = tft_json_get(j, "transformation");
    int             ok  = 1;
    n->tf = (!tfj || tfj->type == TFT_JSON_NULL) ? TFT_TF_NONE : tft_transform_parse(jstr(tfj), &ok);
    if (!ok) return tft__fail(TFT_ERR_UNSUPPORTED, "model config: %s: transformation is not supported", path);
    const char *method = jstr(tft_json_get(j, "method"));
    if (!method || strcmp(method, "standard") == 0) n->method = TFT_METHOD_STANDARD;
    else if (strcmp(method, "robust") == 0) n->method = TFT_METHOD_ROBUST;
    else if (strcmp(method, "identity") == 0) n->method = TFT_METHOD_IDENTITY;
    else return tft__fail(TFT_ERR_UNSUPPORTED, "model config: %s: method '%s' is not supported", path, method);
    if (strcmp(type, "torch") == 0) {
        n->kind = TFT_NORM_TORCH;
        TFT_TRY(get_num(j, "center", path, &n->t_center));
        TFT_TRY(get_num(j, "scale", path, &n->t_scale));
        if (!(n->t_scale > 0.0) || !isfinite(n->t_scale) || !isfinite(n->t_center))
            return tft__fail(TFT_ERR_FORMAT, "model config: %s.scale = %g must be finite and > 0", path, n->t_scale);
    } else if (strcmp(type, "encoder") == 0) {
        n->kind = TFT_NORM_ENCODER;
        TFT_TRY(get_bool(j, "center", path, 1, &n->center));
        TFT_TRY(parse_encoder_fit(j, path, n));
    } else if (strcmp(type, "group") == 0) {
        n->kind = TFT_NORM_GROUP;
        TFT_TRY(get_bool(j, "lookup_ok", path, 1, &n->lookup_ok));
        const char **groups;
        TFT_TRY(get_strs(j, "groups", path, &groups, &n->n_groups));
        n->groups = (char **)groups;
        if (n->n_groups > CAP_GROUPS) return too_many(path, "groups", (size_t)n->n_groups, CAP_GROUPS, "columns");
        const tft_json *miss = tft_json_get(j, "missing");
        if (!miss || miss->type != TFT_JSON_ARRAY || miss->len != 2 || miss->child->type != TFT_JSON_NUMBER ||
            miss->child->next->type != TFT_JSON_NUMBER)
            return cfg_err(path, ".missing must be [center, scale]");
        n->miss_center = miss->child->num;
        n->miss_scale  = miss->child->next->num;
        if (!(n->miss_scale > 0.0) || !isfinite(n->miss_scale) || !isfinite(n->miss_center))
            return cfg_err(path, ".missing must be a finite center and a scale > 0");
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

static void free_normalizer(tft_normalizer *n) {
    tft__free(n->groups);
    tft__free(n->keys);
    tft__free(n->g_center);
    tft__free(n->g_scale);
    tft__free(n->ts_keys);
    tft__free(n->ts_center);
    tft__free(n->ts_scale);
}

static _Thread_local const tft_encoder *cmp_enc; // qsort has no context argument in C11
static int cmp_labels(const void *a, const void *b) {
    return strcmp(cmp_enc->classes[*(const int32_t *)a], cmp_enc->classes[*(const int32_t *)b]);
}

static tft_status parse_encoders(tft_model *m, const tft_json *ds) {
    const tft_json *encs = tft_json_get(ds, "categorical_encoders");
    if (!encs || encs->type != TFT_JSON_OBJECT) return cfg_err("dataset.categorical_encoders", "must be an object");
    if (encs->len > CAP_VARIABLES)
        return too_many("dataset", "categorical_encoders", encs->len, CAP_VARIABLES, "encoders");
    m->n_encoders = (int32_t)encs->len;
    m->encoders   = tft__calloc(encs->len + 1, sizeof *m->encoders);
    if (!m->encoders) return tft__fail(TFT_ERR_NOMEM, "model config: out of memory");
    int32_t i = 0;
    for (const tft_json *e = encs->child; e; e = e->next, i++) {
        tft_encoder *x = &m->encoders[i];
        x->name        = e->key;
        TFT_TRY(get_bool(e, "add_nan", "dataset.categorical_encoders", 0, &x->add_nan));
        const char **cls;
        char path[300];
        snprintf(path, sizeof path, "dataset.categorical_encoders.%s", e->key);
        TFT_TRY(get_strs_cap(e, "classes", path, CAP_VOCABULARY, &cls, &x->n_classes));
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

static tft_status parse_scalers(tft_model *m, const tft_json *ds) {
    const tft_json *sc = tft_json_get(ds, "scalers");
    if (!sc || sc->type != TFT_JSON_OBJECT) return cfg_err("dataset.scalers", "must be an object");
    if (sc->len > CAP_VARIABLES) return too_many("dataset", "scalers", sc->len, CAP_VARIABLES, "scalers");
    m->n_scalers    = (int32_t)sc->len;
    m->scalers      = tft__calloc(sc->len + 1, sizeof *m->scalers);
    m->scaler_names = tft__calloc(sc->len + 1, sizeof *m->scaler_names);
    if (!m->scalers || !m->scaler_names) return tft__fail(TFT_ERR_NOMEM, "model config: out of memory");
    int32_t i = 0;
    for (const tft_json *s = sc->child; s; s = s->next, i++) {
        tft_scaler *x     = &m->scalers[i];
        m->scaler_names[i] = s->key;
        const char *type  = jstr(tft_json_get(s, "type"));
        char path[300];
        snprintf(path, sizeof path, "dataset.scalers.%s", s->key);
        if (!type) return cfg_err(path, "has no \"type\"");
        if (strcmp(type, "identity") == 0) {
            x->kind = TFT_SCALER_IDENTITY;
        } else if (strcmp(type, "standard") == 0 || strcmp(type, "robust") == 0) {
            x->kind = type[0] == 's' ? TFT_SCALER_STANDARD : TFT_SCALER_ROBUST;
            TFT_TRY(get_num(s, x->kind == TFT_SCALER_STANDARD ? "mean" : "center", path, &x->center));
            TFT_TRY(get_num(s, "scale", path, &x->scale));
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

// Appends the names of list (expanding categorical groups into their member columns) to out,
// skipping duplicates and the names in skip.
static void add_inputs(const char **list, int32_t n, const tft_json *groups, const char **out, int32_t *n_out) {
    for (int32_t i = 0; i < n; i++) {
        const tft_json *g = tft_json_get(groups, list[i]);
        if (g && g->type == TFT_JSON_ARRAY) {
            for (const tft_json *e = g->child; e; e = e->next)
                if (e->type == TFT_JSON_STRING && find_name(out, *n_out, e->str) < 0) out[(*n_out)++] = e->str;
        } else if (find_name(out, *n_out, list[i]) < 0) {
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

static tft_status parse_dataset(tft_model *m, const tft_json *ds) {
    const char *P = "dataset";
    TFT_TRY(get_int(ds, "max_encoder_length", P, 1, CAP_ENCODER, &m->Te_max));
    TFT_TRY(get_int(ds, "min_encoder_length", P, 0, m->Te_max, &m->Te_min));
    TFT_TRY(get_int(ds, "max_prediction_length", P, 1, CAP_HORIZON, &m->Td_max));
    TFT_TRY(get_int(ds, "min_prediction_length", P, 1, m->Td_max, &m->Td_min));
    TFT_TRY(get_bool(ds, "add_relative_time_idx", P, 0, &m->add_relative_time_idx));
    TFT_TRY(get_bool(ds, "add_encoder_length", P, 0, &m->add_encoder_length));
    int32_t add_target_scales = 0;
    TFT_TRY(get_bool(ds, "add_target_scales", P, 0, &add_target_scales));
    int32_t n_targets;
    TFT_TRY(get_strs(ds, "target", P, &m->targets, &n_targets));
    if (n_targets != m->NT)
        return tft__fail(TFT_ERR_FORMAT, "model config: dataset.target lists %d targets, model.n_targets is %d",
                         n_targets, m->NT);
    TFT_TRY(get_strs(ds, "group_ids", P, &m->group_ids, &m->n_group_ids));
    const tft_json *lags = tft_json_get(ds, "lags");
    if (lags && lags->type != TFT_JSON_OBJECT) return cfg_err("dataset.lags", "must be an object");
    if (lags && lags->len > CAP_VARIABLES) return too_many("dataset", "lags", lags->len, CAP_VARIABLES, "variables");
    m->lags = lags;
    for (const tft_json *v = lags ? lags->child : NULL; v; v = v->next) {
        if (v->type != TFT_JSON_ARRAY) return tft__fail(TFT_ERR_FORMAT, "model config: dataset.lags.%s must be a list", v->key);
        if (v->len > CAP_VARIABLES) return too_many("dataset.lags", v->key, v->len, CAP_VARIABLES, "lags");
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
            if (find_name(m->x_reals, m->n_reals, lagged) < 0 && find_name(m->x_cats, m->n_cats, lagged) < 0)
                return tft__fail(TFT_ERR_FORMAT, "model config: dataset.lags implies '%s', which is not an input of "
                                                 "the model", lagged);
        }
    }
    m->var_groups = tft_json_get(ds, "variable_groups");
    if (m->var_groups) { // every categorical's encoder lookup walks all members: bound their total
        size_t members = 0;
        for (const tft_json *g = m->var_groups->child; g; g = g->next) members += g->type == TFT_JSON_ARRAY ? g->len : 1;
        if (members > CAP_VARIABLES) return too_many("dataset", "variable_groups", members, CAP_VARIABLES, "members");
    }
    TFT_TRY(parse_encoders(m, ds));
    TFT_TRY(parse_scalers(m, ds));

    // target normalizer(s)
    m->target_norm = tft__calloc((size_t)m->NT, sizeof *m->target_norm);
    if (!m->target_norm) return tft__fail(TFT_ERR_NOMEM, "model config: out of memory");
    const tft_json *tn = tft_json_get(ds, "target_normalizer");
    const char     *type = jstr(tft_json_get(tn, "type"));
    if (!type) return cfg_err("dataset.target_normalizer", "has no \"type\"");
    if (strcmp(type, "multi") == 0) {
        const tft_json *ns = tft_json_get(tn, "normalizers");
        if (!ns || ns->type != TFT_JSON_ARRAY || (int32_t)ns->len != m->NT)
            return cfg_err("dataset.target_normalizer.normalizers", "must list one normalizer per target");
        int32_t t = 0;
        for (const tft_json *e = ns->child; e; e = e->next, t++)
            TFT_TRY(parse_normalizer(e, "dataset.target_normalizer.normalizers[]", &m->target_norm[t]));
    } else {
        if (m->NT != 1) return cfg_err("dataset.target_normalizer", "must be \"multi\" for several targets");
        TFT_TRY(parse_normalizer(tn, "dataset.target_normalizer", &m->target_norm[0]));
    }

    // how each x_reals column is made from raw rows
    const char **s_reals, **k_reals, **u_reals, **s_cats, **k_cats, **u_cats;
    int32_t      ns_r, nk_r, nu_r, ns_c, nk_c, nu_c;
    TFT_TRY(get_strs(ds, "static_reals", P, &s_reals, &ns_r));
    tft_status st = TFT_OK;
    k_reals = u_reals = s_cats = k_cats = u_cats = NULL;
    if ((st = get_strs(ds, "time_varying_known_reals", P, &k_reals, &nk_r)) != TFT_OK) goto out;
    if ((st = get_strs(ds, "time_varying_unknown_reals", P, &u_reals, &nu_r)) != TFT_OK) goto out;
    if ((st = get_strs(ds, "static_categoricals", P, &s_cats, &ns_c)) != TFT_OK) goto out;
    if ((st = get_strs(ds, "time_varying_known_categoricals", P, &k_cats, &nk_c)) != TFT_OK) goto out;
    if ((st = get_strs(ds, "time_varying_unknown_categoricals", P, &u_cats, &nu_c)) != TFT_OK) goto out;

    m->real_cols       = tft__calloc((size_t)m->n_reals + 1, sizeof *m->real_cols);
    m->target_real_col = tft__calloc((size_t)m->NT, sizeof *m->target_real_col);
    m->cat_encoder     = tft__calloc((size_t)m->n_cats + 1, sizeof *m->cat_encoder);
    m->cat_static      = tft__calloc((size_t)m->n_cats + 1, sizeof *m->cat_static);
    if (!m->real_cols || !m->target_real_col || !m->cat_encoder || !m->cat_static) {
        st = tft__fail(TFT_ERR_NOMEM, "model config: out of memory");
        goto out;
    }
    for (int32_t t = 0; t < m->NT; t++) m->target_real_col[t] = find_name(m->x_reals, m->n_reals, m->targets[t]);
    for (int32_t i = 0; i < m->n_reals; i++) {
        const char   *name = m->x_reals[i];
        tft_real_col *rc   = &m->real_cols[i];
        rc->scaler         = -1;
        rc->is_static      = find_name(s_reals, ns_r, name) >= 0;
        rc->is_known       = find_name(k_reals, nk_r, name) >= 0;
        int    t           = find_name(m->targets, m->NT, name);
        size_t base_len    = 0;
        int32_t lag        = lag_of(m->lags, name, &base_len);
        if (lag) {
            // a lagged real: its variable's raw value `lag` rows earlier, through that variable's
            // transformer (the target normalizer for a target, else the variable's scaler)
            char base[256];
            snprintf(base, sizeof base, "%.*s", (int)base_len, name);
            rc->src    = TFT_REAL_LAG;
            rc->lag    = lag;
            rc->target = find_name(m->targets, m->NT, base);
            rc->base   = find_name(m->x_reals, m->n_reals, base) >= 0 ? m->x_reals[find_name(m->x_reals, m->n_reals, base)]
                                                                         : NULL;
            if (!rc->base) {
                st = tft__fail(TFT_ERR_FORMAT, "model config: lagged real '%s' has no variable '%s' in x_reals", name, base);
                goto out;
            }
            rc->is_known = find_name(k_reals, nk_r, rc->base) >= 0;
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
            if (!rc->is_static && !rc->is_known && find_name(u_reals, nu_r, name) < 0 &&
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
        m->static_inputs_cat[i] = find_name(s_reals, ns_r, m->static_inputs[i]) < 0;
    add_inputs(k_cats, nk_c, groups, m->history_inputs, &m->n_history_inputs);
    add_inputs(k_reals, nk_r, groups, m->history_inputs, &m->n_history_inputs);
    add_inputs(u_cats, nu_c, groups, m->history_inputs, &m->n_history_inputs);
    add_inputs(u_reals, nu_r, groups, m->history_inputs, &m->n_history_inputs);
    drop_derived(m, m->history_inputs, &m->n_history_inputs);
    add_inputs(k_cats, nk_c, groups, m->future_inputs, &m->n_future_inputs);
    add_inputs(k_reals, nk_r, groups, m->future_inputs, &m->n_future_inputs);
    drop_derived(m, m->future_inputs, &m->n_future_inputs);
    for (int32_t i = 0; i < m->n_cats; i++)
        m->cat_static[i] = find_name(s_cats, ns_c, m->x_cats[i]) >= 0 ||
                           (find_name(m->static_inputs, m->n_static_inputs, m->x_cats[i]) >= 0);
out:
    tft__free(s_reals), tft__free(k_reals), tft__free(u_reals);
    tft__free(s_cats), tft__free(k_cats), tft__free(u_cats);
    return st;
}

// ---- the model -------------------------------------------------------------------------------
tft_status tft_model_bind(tft_model *m) {
    const char *fmt = tft_ld_metadata(m->file, "format");
    const char *ver = tft_ld_metadata(m->file, "format_version");
    const char *cfg = tft_ld_metadata(m->file, "config");
    if (!fmt || strcmp(fmt, "tft") != 0)
        return tft__fail(TFT_ERR_FORMAT, "not a tft weights file (__metadata__.format is not \"tft\"); "
                                         "export the checkpoint with weights/export.py");
    if (!ver || strcmp(ver, "1") != 0)
        return tft__fail(TFT_ERR_FORMAT, "weights format version %s is not supported (this build reads 1); "
                                         "re-export with weights/export.py", ver ? ver : "(none)");
    if (!cfg) return tft__fail(TFT_ERR_FORMAT, "weights file has no __metadata__.config");
    char            err[200];
    tft_json_limits lim = tft_json_default_limits();
    if (tft_json_parse(cfg, strlen(cfg), &lim, &m->cfg, err, sizeof err) != 0)
        return tft__fail(TFT_ERR_FORMAT, "model config is not valid JSON: %s", err);

    const tft_json *mj = tft_json_get(m->cfg, "model");
    const tft_json *ds = tft_json_get(m->cfg, "dataset");
    if (!mj || mj->type != TFT_JSON_OBJECT) return cfg_err("model", "is missing");
    if (!ds || ds->type != TFT_JSON_OBJECT) return cfg_err("dataset", "is missing");
    TFT_TRY(get_int(mj, "hidden_size", "model", 1, CAP_HIDDEN, &m->H));
    TFT_TRY(get_int(mj, "lstm_layers", "model", 1, CAP_LAYERS, &m->L));
    TFT_TRY(get_int(mj, "attention_head_size", "model", 1, CAP_HEADS, &m->NH));
    TFT_TRY(get_int(mj, "n_targets", "model", 1, CAP_TARGETS, &m->NT));
    TFT_TRY(get_bool(mj, "causal_attention", "model", 1, &m->causal));
    m->D = m->H / m->NH;
    if (m->D < 1) return cfg_err("model.attention_head_size", "exceeds hidden_size");
    double mb = -1e9;
    if (tft_json_get(mj, "mask_bias")) TFT_TRY(get_num(mj, "mask_bias", "model", &mb));
    if (!isfinite(mb)) return tft__fail(TFT_ERR_UNSUPPORTED, "model config: a non-finite mask_bias is not supported");
    m->mask_bias = (float)mb;

    // quantiles and output sizes
    const tft_json *qs = tft_json_get(mj, "quantiles");
    const tft_json *os = tft_json_get(mj, "output_size");
    if (!qs || qs->type != TFT_JSON_ARRAY || qs->len < 1) return cfg_err("model.quantiles", "must be a non-empty list");
    // before anything per quantile: the repeat check below is quadratic
    if (qs->len > CAP_QUANTILES) return too_many("model", "quantiles", qs->len, CAP_QUANTILES, "quantiles");
    m->Q         = (int32_t)qs->len;
    m->quantiles = tft__calloc((size_t)m->Q, sizeof(float));
    if (!m->quantiles) return tft__fail(TFT_ERR_NOMEM, "out of memory");
    int32_t i = 0;
    for (const tft_json *q = qs->child; q; q = q->next, i++) {
        if (q->type != TFT_JSON_NUMBER || !(q->num > 0.0 && q->num < 1.0))
            return cfg_err("model.quantiles", "must be numbers in (0, 1)");
        m->quantiles[i] = (float)q->num;
        for (int32_t k = 0; k < i; k++) // any order is the library's; a repeat is a broken config
            if (m->quantiles[k] == m->quantiles[i])
                return tft__fail(TFT_ERR_FORMAT, "model config: model.quantiles lists %g twice", q->num);
    }
    if (!os || os->type != TFT_JSON_ARRAY || (int32_t)os->len != m->NT)
        return cfg_err("model.output_size", "must list one size per target");
    for (const tft_json *o = os->child; o; o = o->next) {
        int64_t q;
        if (tft_json_i64(o, &q) != 0 || q != m->Q)
            return tft__fail(TFT_ERR_UNSUPPORTED, "model config: every target must output the %d quantiles", m->Q);
    }

    TFT_TRY(get_strs(mj, "x_reals", "model", &m->x_reals, &m->n_reals));
    TFT_TRY(get_strs(mj, "x_categoricals", "model", &m->x_cats, &m->n_cats));
    const char **s_cat, **s_real, **e_cat, **e_real, **d_cat, **d_real;
    int32_t      ns_c, ns_r, ne_c, ne_r, nd_c, nd_r;
    TFT_TRY(get_strs(mj, "static_categoricals", "model", &s_cat, &ns_c));
    m->var_static = s_cat; // freed with the model; the other lists below are joined into var_*
    TFT_TRY(get_strs(mj, "static_reals", "model", &s_real, &ns_r));
    TFT_TRY(get_strs(mj, "time_varying_categoricals_encoder", "model", &e_cat, &ne_c));
    m->var_enc = e_cat;
    TFT_TRY(get_strs(mj, "time_varying_reals_encoder", "model", &e_real, &ne_r));
    TFT_TRY(get_strs(mj, "time_varying_categoricals_decoder", "model", &d_cat, &nd_c));
    m->var_dec = d_cat;
    TFT_TRY(get_strs(mj, "time_varying_reals_decoder", "model", &d_real, &nd_r));
    // var_* hold [cats..., reals...] (VSN order) for tft_model_info
    {
        const char **vs = tft__calloc((size_t)(ns_c + ns_r + 1), sizeof *vs);
        const char **ve = tft__calloc((size_t)(ne_c + ne_r + 1), sizeof *ve);
        const char **vd = tft__calloc((size_t)(nd_c + nd_r + 1), sizeof *vd);
        if (!vs || !ve || !vd) {
            tft__free(vs), tft__free(ve), tft__free(vd);
            tft__free(s_real), tft__free(e_real), tft__free(d_real);
            return tft__fail(TFT_ERR_NOMEM, "out of memory");
        }
        memcpy(vs, s_cat, sizeof *vs * ns_c), memcpy(vs + ns_c, s_real, sizeof *vs * ns_r);
        memcpy(ve, e_cat, sizeof *ve * ne_c), memcpy(ve + ne_c, e_real, sizeof *ve * ne_r);
        memcpy(vd, d_cat, sizeof *vd * nd_c), memcpy(vd + nd_c, d_real, sizeof *vd * nd_r);
        tft__free(s_cat), tft__free(e_cat), tft__free(d_cat);
        tft__free(s_real), tft__free(e_real), tft__free(d_real);
        m->var_static = vs, m->var_enc = ve, m->var_dec = vd;
    }

    // copy every tensor into one aligned block (the file may not align them for float access)
    int32_t nt = tft_ld_count(m->file);
    binder  b  = {.m = m, .aliases = tft_json_get(m->cfg, "aliases")};
    if (b.aliases && b.aliases->len > CAP_ALIASES) // each tensor lookup may search them
        return too_many("", "aliases", b.aliases->len, CAP_ALIASES, "aliases");
    b.offset   = tft__calloc((size_t)nt + 1, sizeof *b.offset);
    b.used     = tft__calloc((size_t)nt + 1, 1);
    if (!b.offset || !b.used) {
        tft__free(b.offset), tft__free(b.used);
        return tft__fail(TFT_ERR_NOMEM, "out of memory");
    }
    size_t total = 0;
    m->n_params  = 0;
    for (int32_t k = 0; k < nt; k++) {
        const tft_ld_tensor *t = tft_ld_tensor_at(m->file, k);
        b.offset[k]            = total;
        total += ((size_t)t->nelem + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
        m->n_params += t->nelem;
    }
    // derived stacked matrices (attention Q/K of all heads, output layers of all targets)
    size_t H = (size_t)m->H, extra = 4 * (H * H + H) + (size_t)m->NT * m->Q * (H + 1) + 8 * ALIGN_FLOATS;
    m->n_weights = total + extra;
    m->weights   = tft__aligned_alloc(64, m->n_weights * sizeof(float));
    tft_status st = TFT_OK;
    if (!m->weights) {
        st = tft__fail(TFT_ERR_NOMEM, "out of memory for %zu weights", m->n_weights);
        goto done;
    }
    memset(m->weights, 0, m->n_weights * sizeof(float));
    for (int32_t k = 0; k < nt; k++) {
        const tft_ld_tensor *t = tft_ld_tensor_at(m->file, k);
        if (t->dtype != TFT_LD_F32) continue; // reported when bound (every tensor must be)
        float *w = m->weights + b.offset[k];
        memcpy(w, t->data, t->nbytes);
        for (int64_t e = 0; e < t->nelem; e++)
            if (!isfinite(w[e])) {
                st = tft__fail(TFT_ERR_FORMAT, "weights file: tensor '%s' holds a non-finite value at element %lld",
                               t->name, (long long)e);
                goto done;
            }
    }

    // embeddings: every name of embedding_sizes, in config order
    {
        const tft_json *es  = tft_json_get(mj, "embedding_sizes");
        const tft_json *grp = tft_json_get(mj, "categorical_groups");
        if (!es || es->type != TFT_JSON_OBJECT) {
            st = cfg_err("model.embedding_sizes", "must be an object");
            goto done;
        }
        if (es->len > CAP_VARIABLES) {
            st = too_many("model", "embedding_sizes", es->len, CAP_VARIABLES, "embeddings");
            goto done;
        }
        m->n_embs = (int32_t)es->len;
        m->embs   = tft__calloc(es->len + 1, sizeof *m->embs);
        if (!m->embs) {
            st = tft__fail(TFT_ERR_NOMEM, "out of memory");
            goto done;
        }
        int32_t e = 0;
        for (const tft_json *x = es->child; x; x = x->next, e++) {
            tft_emb *em = &m->embs[e];
            em->name    = x->key;
            int64_t nc, dim;
            if (x->type != TFT_JSON_ARRAY || x->len != 2 || tft_json_i64(x->child, &nc) != 0 ||
                tft_json_i64(x->child->next, &dim) != 0 || nc < 1 || dim < 1 || dim > m->H) {
                st = tft__fail(TFT_ERR_FORMAT, "model config: embedding_sizes.%s must be [n_classes, dim] with "
                                               "1 <= dim <= hidden_size", x->key);
                goto done;
            }
            if (nc > CAP_VOCABULARY) {
                char field[300];
                snprintf(field, sizeof field, "model.embedding_sizes.%s", x->key);
                st = tft__fail_at(TFT_ERR_FORMAT, TFT_E_CONFIG_LIMIT, -1, field, -1,
                                  "model config: %s has %lld classes, more than the cap of %d (weights/FORMAT.md "
                                  "\"Limits\")", field, (long long)nc, CAP_VOCABULARY);
                goto done;
            }
            em->n_classes = (int32_t)nc, em->dim = (int32_t)dim;
            char p[300];
            snprintf(p, sizeof p, "input_embeddings.embeddings.%s", x->key);
            if ((st = bind2(&b, p, ".weight", nc, dim, &em->table)) != TFT_OK) goto done;
            const tft_json *g = tft_json_get(grp, x->key);
            if (g && g->type == TFT_JSON_ARRAY && g->len > CAP_VARIABLES) {
                st = too_many("model.categorical_groups", x->key, g->len, CAP_VARIABLES, "columns");
                goto done;
            }
            em->ncols         = g && g->type == TFT_JSON_ARRAY ? (int32_t)g->len : 1;
            em->cols          = tft__calloc((size_t)em->ncols + 1, sizeof *em->cols);
            if (!em->cols) {
                st = tft__fail(TFT_ERR_NOMEM, "out of memory");
                goto done;
            }
            if (g && g->type == TFT_JSON_ARRAY) {
                int32_t c = 0;
                for (const tft_json *mbr = g->child; mbr; mbr = mbr->next, c++)
                    em->cols[c] = mbr->type == TFT_JSON_STRING ? find_name(m->x_cats, m->n_cats, mbr->str) : -1;
            } else {
                em->cols[0] = find_name(m->x_cats, m->n_cats, x->key);
            }
            for (int32_t c = 0; c < em->ncols; c++)
                if (em->cols[c] < 0) {
                    st = tft__fail(TFT_ERR_FORMAT, "model config: embedding '%s' reads a column not in x_categoricals",
                                   x->key);
                    goto done;
                }
        }
    }

    const tft_json *hcs = tft_json_get(mj, "hidden_continuous_sizes");
    int             Hi  = m->H;
    if ((st = bind_vsn(&b, "static_variable_selection", m->var_static, ns_c, m->var_static + ns_c, ns_r, 0,
                       &m->vsn_static, hcs)) != TFT_OK)
        goto done;
    if ((st = bind_vsn(&b, "encoder_variable_selection", m->var_enc, ne_c, m->var_enc + ne_c, ne_r, 1,
                       &m->vsn_enc, hcs)) != TFT_OK)
        goto done;
    if ((st = bind_vsn(&b, "decoder_variable_selection", m->var_dec, nd_c, m->var_dec + nd_c, nd_r, 1,
                       &m->vsn_dec, hcs)) != TFT_OK)
        goto done;
    if ((st = bind_grn(&b, "static_context_variable_selection", Hi, Hi, Hi, 0, &m->sc_sel)) != TFT_OK) goto done;
    if ((st = bind_grn(&b, "static_context_initial_hidden_lstm", Hi, Hi, Hi, 0, &m->sc_h)) != TFT_OK) goto done;
    if ((st = bind_grn(&b, "static_context_initial_cell_lstm", Hi, Hi, Hi, 0, &m->sc_c)) != TFT_OK) goto done;
    if ((st = bind_grn(&b, "static_context_enrichment", Hi, Hi, Hi, 0, &m->sc_enr)) != TFT_OK) goto done;
    if ((st = bind_lstm(&b, "lstm_encoder", m->L, Hi, 1)) != TFT_OK) goto done;
    if ((st = bind_lstm(&b, "lstm_decoder", m->L, Hi, 0)) != TFT_OK) goto done;
    if ((st = bind2(&b, "post_lstm_gate_encoder", ".fc.weight", 2 * Hi, Hi, &m->post_lstm_glu_w)) != TFT_OK ||
        (st = bind1(&b, "post_lstm_gate_encoder", ".fc.bias", 2 * Hi, &m->post_lstm_glu_b)) != TFT_OK ||
        (st = bind1(&b, "post_lstm_add_norm_encoder", ".norm.weight", Hi, &m->post_lstm_ln_w)) != TFT_OK ||
        (st = bind1(&b, "post_lstm_add_norm_encoder", ".norm.bias", Hi, &m->post_lstm_ln_b)) != TFT_OK)
        goto done;
    {   // the decoder's post-LSTM gate is the same module (aliases); binding marks it used
        const float *p1, *p2, *p3, *p4;
        if ((st = bind2(&b, "post_lstm_gate_decoder", ".fc.weight", 2 * Hi, Hi, &p1)) != TFT_OK ||
            (st = bind1(&b, "post_lstm_gate_decoder", ".fc.bias", 2 * Hi, &p2)) != TFT_OK ||
            (st = bind1(&b, "post_lstm_add_norm_decoder", ".norm.weight", Hi, &p3)) != TFT_OK ||
            (st = bind1(&b, "post_lstm_add_norm_decoder", ".norm.bias", Hi, &p4)) != TFT_OK)
            goto done;
        if (p1 != m->post_lstm_glu_w || p2 != m->post_lstm_glu_b || p3 != m->post_lstm_ln_w || p4 != m->post_lstm_ln_b) {
            st = tft__fail(TFT_ERR_FORMAT, "weights file: post_lstm_*_decoder must alias post_lstm_*_encoder "
                                           "(the library shares these modules)");
            goto done;
        }
    }
    if ((st = bind_grn(&b, "static_enrichment", Hi, Hi, Hi, Hi, &m->enrich)) != TFT_OK) goto done;

    // attention: stack the heads' Q and K projections into [NH*D, H] matrices
    {
        int D = m->D, NH = m->NH;
        float *base = m->weights + total;
        m->att_q_w = base, base += (size_t)NH * D * Hi;
        m->att_k_w = base, base += (size_t)NH * D * Hi;
        m->att_q_b = base, base += (size_t)NH * D;
        m->att_k_b = base, base += (size_t)NH * D;
        m->out_w   = base, base += (size_t)m->NT * m->Q * Hi;
        m->out_b   = base;
        for (int h = 0; h < NH; h++) {
            char p[64];
            const float *w, *bb;
            snprintf(p, sizeof p, "multihead_attn.q_layers.%d", h);
            if ((st = bind2(&b, p, ".weight", D, Hi, &w)) != TFT_OK || (st = bind1(&b, p, ".bias", D, &bb)) != TFT_OK)
                goto done;
            memcpy(m->att_q_w + (size_t)h * D * Hi, w, sizeof(float) * D * Hi);
            memcpy(m->att_q_b + (size_t)h * D, bb, sizeof(float) * D);
            snprintf(p, sizeof p, "multihead_attn.k_layers.%d", h);
            if ((st = bind2(&b, p, ".weight", D, Hi, &w)) != TFT_OK || (st = bind1(&b, p, ".bias", D, &bb)) != TFT_OK)
                goto done;
            memcpy(m->att_k_w + (size_t)h * D * Hi, w, sizeof(float) * D * Hi);
            memcpy(m->att_k_b + (size_t)h * D, bb, sizeof(float) * D);
        }
        if ((st = bind2(&b, "multihead_attn.v_layer", ".weight", D, Hi, &m->att_v_w)) != TFT_OK ||
            (st = bind1(&b, "multihead_attn.v_layer", ".bias", D, &m->att_v_b)) != TFT_OK ||
            (st = bind2(&b, "multihead_attn.w_h", ".weight", Hi, D, &m->att_wh)) != TFT_OK)
            goto done;
    }
    if ((st = bind_gate_norm(&b, "post_attn_gate_norm", Hi, &m->post_attn_glu_w, &m->post_attn_glu_b,
                             &m->post_attn_ln_w, &m->post_attn_ln_b)) != TFT_OK ||
        (st = bind_grn(&b, "pos_wise_ff", Hi, Hi, Hi, 0, &m->pos_ff)) != TFT_OK ||
        (st = bind_gate_norm(&b, "pre_output_gate_norm", Hi, &m->pre_out_glu_w, &m->pre_out_glu_b,
                             &m->pre_out_ln_w, &m->pre_out_ln_b)) != TFT_OK)
        goto done;
    for (int t = 0; t < m->NT; t++) {
        const float *w, *bb;
        char         p[64];
        if (m->NT == 1) snprintf(p, sizeof p, "output_layer");
        else snprintf(p, sizeof p, "output_layer.%d", t);
        if ((st = bind2(&b, p, ".weight", m->Q, Hi, &w)) != TFT_OK || (st = bind1(&b, p, ".bias", m->Q, &bb)) != TFT_OK)
            goto done;
        memcpy(m->out_w + (size_t)t * m->Q * Hi, w, sizeof(float) * m->Q * Hi);
        memcpy(m->out_b + (size_t)t * m->Q, bb, sizeof(float) * m->Q);
    }
    for (int32_t k = 0; k < nt; k++)
        if (!b.used[k]) {
            st = tft__fail(TFT_ERR_FORMAT, "weights file: tensor '%s' is not part of the model the config describes",
                           tft_ld_tensor_at(m->file, k)->name);
            goto done;
        }
    st = parse_dataset(m, ds);
done:
    tft__free(b.offset);
    tft__free(b.used);
    return st;
}

// ---- weights packed for the GEMM kernels, once at load (ops/linear.c: tft_op_pack) ----------
// Two passes as plan.c: with base == NULL only the floats are added up, then every panel block is
// filled and its pointer set. 64-byte aligned blocks, in one allocation freed with the model.
typedef struct packer {
    float *base;
    size_t off;
} packer;

static const float *pack1(packer *p, const float *W, int Cin, int Cout) {
    size_t off = (p->off + 15) & ~(size_t)15;
    p->off     = off + tft_op_pack_floats(Cin, Cout);
    if (!p->base || !W) return NULL;
    tft_op_pack(p->base + off, W, Cin, Cout);
    return p->base + off;
}

static void pack_grn(packer *p, tft_grn_w *g) {
    g->fc1_p = pack1(p, g->fc1_w, g->in, g->hid);
    g->fc2_p = pack1(p, g->fc2_w, g->hid, g->hid);
    g->glu_p = pack1(p, g->glu_w, g->hid, 2 * g->out);
}

static void pack_vsn(packer *p, tft_vsn *v) {
    for (int32_t k = 0; k < v->n; k++)
        if (v->vars[k].is_grn) pack_grn(p, &v->vars[k].grn);
    if (v->n > 1) pack_grn(p, &v->flat);
}

static void pack_all(tft_model *m, packer *p) {
    const int H = m->H, NHD = m->NH * m->D, D = m->D;
    pack_vsn(p, &m->vsn_static), pack_vsn(p, &m->vsn_enc), pack_vsn(p, &m->vsn_dec);
    pack_grn(p, &m->sc_sel), pack_grn(p, &m->sc_h), pack_grn(p, &m->sc_c), pack_grn(p, &m->sc_enr);
    pack_grn(p, &m->enrich), pack_grn(p, &m->pos_ff);
    for (int l = 0; l < m->L; l++) {
        m->lstm_enc[l].w_ih_p = pack1(p, m->lstm_enc[l].w_ih, H, 4 * H);
        m->lstm_enc[l].w_hh_p = pack1(p, m->lstm_enc[l].w_hh, H, 4 * H);
        m->lstm_dec[l].w_ih_p = pack1(p, m->lstm_dec[l].w_ih, H, 4 * H);
        m->lstm_dec[l].w_hh_p = pack1(p, m->lstm_dec[l].w_hh, H, 4 * H);
    }
    m->post_lstm_glu_p = pack1(p, m->post_lstm_glu_w, H, 2 * H);
    m->post_attn_glu_p = pack1(p, m->post_attn_glu_w, H, 2 * H);
    m->pre_out_glu_p   = pack1(p, m->pre_out_glu_w, H, 2 * H);
    m->att_q_p         = pack1(p, m->att_q_w, H, NHD);
    m->att_k_p         = pack1(p, m->att_k_w, H, NHD);
    m->att_v_p         = pack1(p, m->att_v_w, H, D);
    m->att_wh_p        = pack1(p, m->att_wh, D, H);
    m->out_p           = pack1(p, m->out_w, H, m->NT * m->Q);
    m->ctx_e_p   = m->vsn_enc.n > 1 ? pack1(p, m->vsn_enc.flat.ctx_w, H, m->vsn_enc.flat.hid) : NULL;
    m->ctx_d_p   = m->vsn_dec.n > 1 ? pack1(p, m->vsn_dec.flat.ctx_w, H, m->vsn_dec.flat.hid) : NULL;
    m->ctx_enr_p = pack1(p, m->enrich.ctx_w, H, H);
}

static tft_status pack_weights(tft_model *m) {
    packer p = {NULL, 0};
    pack_all(m, &p);
    m->packed = tft__aligned_alloc(64, (p.off + 16) * sizeof(float));
    if (!m->packed) return tft__fail(TFT_ERR_NOMEM, "out of memory for %zu packed weights", p.off);
    memset(m->packed, 0, (p.off + 16) * sizeof(float));
    p.base = m->packed, p.off = 0;
    pack_all(m, &p);
    return TFT_OK;
}

static void sha256_hex(const uint8_t *data, size_t len, char out[65]);

static void fill_info(tft_model *m) {
    tft_model_info *i = &m->info;
    i->hidden_size = m->H, i->lstm_layers = m->L, i->n_heads = m->NH;
    i->max_encoder_length = m->Te_max, i->min_encoder_length = m->Te_min;
    i->max_prediction_length = m->Td_max, i->min_prediction_length = m->Td_min;
    i->n_targets = m->NT, i->n_quantiles = m->Q;
    i->targets = m->targets, i->quantiles = m->quantiles, i->n_parameters = m->n_params;
    i->n_reals = m->n_reals, i->n_cats = m->n_cats, i->reals = m->x_reals, i->cats = m->x_cats;
    i->n_static_vars = m->vsn_static.n, i->n_encoder_vars = m->vsn_enc.n, i->n_decoder_vars = m->vsn_dec.n;
    i->static_vars = m->var_static, i->encoder_vars = m->var_enc, i->decoder_vars = m->var_dec;
    i->n_static_inputs = m->n_static_inputs, i->static_inputs = m->static_inputs;
    i->n_history_inputs = m->n_history_inputs, i->history_inputs = m->history_inputs;
    i->n_future_inputs = m->n_future_inputs, i->future_inputs = m->future_inputs;
    i->sha256 = m->sha256, i->max_lag = m->max_lag;
    const tft_json *ti = tft_json_get(tft_json_get(m->cfg, "dataset"), "time_idx");
    i->time_idx    = ti && ti->type == TFT_JSON_STRING ? ti->str : "time_idx";
    i->n_group_ids = m->n_group_ids, i->group_ids = m->group_ids;
}

static tft_status finish_load(tft_model *m, tft_model **out) {
    tft_status st = tft_model_bind(m);
    if (st == TFT_OK) st = pack_weights(m);
    if (st != TFT_OK) {
        tft_model_free(m);
        return st;
    }
    sha256_hex(tft_ld_file_bytes(m->file), tft_ld_file_size(m->file), m->sha256);
    fill_info(m);
    *out = m;
    return TFT_OK;
}

static tft_status ld_status(tft_status st, const tft_ld_error *e, const char *what) {
    return tft__fail(st, "%s: %s", what, e->msg[0] ? e->msg : tft_status_str(st));
}

TFT_API tft_model_params tft_model_default_params(void) {
    tft_model_params p;
    memset(&p, 0, sizeof p);
    return p;
}

TFT_API tft_status tft_model_load(const char *path, const tft_model_params *p, tft_model **out) {
    (void)p;
    if (!out) return tft__fail(TFT_ERR_INVALID_ARG, "tft_model_load: out is NULL");
    *out = NULL;
    if (!path) return tft__fail(TFT_ERR_INVALID_ARG, "tft_model_load: path is NULL");
    const char *isa_err = tft_op_isa_error(); // TFT_ISA names a path this CPU cannot run
    if (isa_err) return tft__fail(TFT_ERR_UNSUPPORTED, "%s", isa_err);
    tft_model *m = tft__calloc(1, sizeof *m);
    if (!m) return tft__fail(TFT_ERR_NOMEM, "out of memory");
    tft_ld_error e;
    memset(&e, 0, sizeof e);
    tft_status st = tft_ld_open(path, &m->file, &e);
    if (st != TFT_OK) {
        tft__free(m);
        return ld_status(st, &e, path);
    }
    return finish_load(m, out);
}

// The memory variant keeps its own copy of the bytes, since the loader reads tensors in place.
TFT_API tft_status tft_model_load_memory(const void *buf, size_t len, const tft_model_params *p, tft_model **out) {
    (void)p;
    if (!out) return tft__fail(TFT_ERR_INVALID_ARG, "tft_model_load_memory: out is NULL");
    *out = NULL;
    if (!buf) return tft__fail(TFT_ERR_INVALID_ARG, "tft_model_load_memory: buf is NULL");
    const char *isa_err = tft_op_isa_error(); // TFT_ISA names a path this CPU cannot run
    if (isa_err) return tft__fail(TFT_ERR_UNSUPPORTED, "%s", isa_err);
    tft_model *m = tft__calloc(1, sizeof *m);
    if (!m) return tft__fail(TFT_ERR_NOMEM, "out of memory");
    m->mem_copy = tft__malloc(len);
    if (!m->mem_copy) {
        tft__free(m);
        return tft__fail(TFT_ERR_NOMEM, "out of memory for a %zu-byte weights buffer", len);
    }
    memcpy(m->mem_copy, buf, len);
    tft_ld_error e;
    memset(&e, 0, sizeof e);
    tft_status st = tft_ld_open_memory(m->mem_copy, len, &m->file, &e);
    if (st != TFT_OK) {
        tft__free(m->mem_copy);
        tft__free(m);
        return ld_status(st, &e, "weights buffer");
    }
    return finish_load(m, out);
}

static void free_vsn(tft_vsn *v) { tft__free(v->vars); }

TFT_API void tft_model_free(tft_model *m) {
    if (!m) return;
    free_vsn(&m->vsn_static), free_vsn(&m->vsn_enc), free_vsn(&m->vsn_dec);
    for (int32_t e = 0; m->embs && e < m->n_embs; e++) tft__free(m->embs[e].cols);
    tft__free(m->embs);
    for (int32_t i = 0; m->encoders && i < m->n_encoders; i++) {
        tft__free(m->encoders[i].classes);
        tft__free(m->encoders[i].sorted);
    }
    tft__free(m->encoders);
    for (int32_t i = 0; m->scalers && i < m->n_scalers; i++)
        if (m->scalers[i].kind == TFT_SCALER_NORMALIZER) free_normalizer(&m->scalers[i].norm);
    tft__free(m->scalers), tft__free(m->scaler_names);
    for (int32_t t = 0; m->target_norm && t < m->NT; t++) free_normalizer(&m->target_norm[t]);
    tft__free(m->target_norm), tft__free(m->target_real_col);
    tft__free(m->real_cols), tft__free(m->cat_encoder), tft__free(m->cat_static);
    tft__free(m->cat_lag), tft__free((void *)m->cat_base);
    tft__free(m->static_inputs), tft__free(m->history_inputs), tft__free(m->future_inputs);
    tft__free(m->static_inputs_cat);
    tft__free((void *)m->targets), tft__free((void *)m->group_ids);
    tft__free((void *)m->x_reals), tft__free((void *)m->x_cats);
    tft__free((void *)m->var_static), tft__free((void *)m->var_enc), tft__free((void *)m->var_dec);
    tft__free(m->quantiles);
    tft__free(m->weights);
    tft__free(m->packed);
    tft_json_free(m->cfg);
    tft_ld_close(m->file);
    tft__free(m->mem_copy);
    tft__free(m);
}

TFT_API const tft_model_info *tft_model_get_info(const tft_model *m) { return m ? &m->info : NULL; }

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

// ---- SHA-256 (FIPS 180-4) of the weights file, reported as the model version ------------------
static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(uint32_t h[8], const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i]        = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

static void sha256_hex(const uint8_t *data, size_t len, char out[65]) {
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t   i    = 0;
    for (; i + 64 <= len; i += 64) sha256_block(h, data + i);
    uint8_t tail[128] = {0};
    size_t  rest      = len - i;
    if (rest) memcpy(tail, data + i, rest);
    tail[rest]   = 0x80;
    size_t tlen  = rest + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int k = 0; k < 8; k++) tail[tlen - 1 - k] = (uint8_t)(bits >> (8 * k));
    sha256_block(h, tail);
    if (tlen == 128) sha256_block(h, tail + 64);
    for (int k = 0; k < 8; k++) snprintf(out + 8 * k, 9, "%08x", h[k]);
}
