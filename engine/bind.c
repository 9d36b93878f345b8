// bind.c: config + tensors -> struct tft_model (tft_model_bind). Parses the "model" part of the
// config document (sizes, quantiles, variables, embeddings), copies every tensor of the weights file
// into one aligned block (+ the derived stacked matrices: the heads' Q/K, the targets' output
// layers) and binds each named weight of the TFT graph with an exact dtype and shape check, then
// hands the "dataset" part to schema.c. A file whose config and tensors disagree is refused here
// with a message naming the tensor, and a tensor no part of the graph reads is refused too, so the
// forward never meets a surprise.
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "config.h"

#define ALIGN_FLOATS 16 // 64-byte alignment of every tensor in the weight block

// ---- binding state ---------------------------------------------------------------------------
typedef struct binder {
    tft_model *m;
    size_t    *offset;   // [n tensors] float offset of each tensor in m->weights
    uint8_t   *used;     // [n tensors]
    const tft_json *aliases;
} binder;

// Resolves a state_dict key (following config.aliases) to its tensor and checks dtype and shape.
// dims: expected shape, rank entries.
static tft_status bind_tensor(binder *b, const char *key, int rank, const int64_t *dims, const float **out) {
    const tft_ld_tensor *t = tft_ld_find(b->m->file, key);
    if (!t) {
        const char *canon = tft_cfg_str(tft_json_get(b->aliases, key));
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
    const char *canon = tft_cfg_str(tft_json_get(b->aliases, key));
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
            x->real_col = tft_cfg_find_name(m->x_reals, m->n_reals, x->name);
            if (x->real_col < 0)
                return tft__fail(TFT_ERR_FORMAT, "model config: real '%s' of %s is not in x_reals", x->name, prefix);
            int32_t hcs = 0;
            TFT_TRY(tft_cfg_int(hcs_cfg, x->name, "model.hidden_continuous_sizes", 1, CAP_HCS, &hcs));
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
    if (!mj || mj->type != TFT_JSON_OBJECT) return tft_cfg_err("model", "is missing");
    if (!ds || ds->type != TFT_JSON_OBJECT) return tft_cfg_err("dataset", "is missing");
    TFT_TRY(tft_cfg_int(mj, "hidden_size", "model", 1, CAP_HIDDEN, &m->H));
    TFT_TRY(tft_cfg_int(mj, "lstm_layers", "model", 1, CAP_LAYERS, &m->L));
    TFT_TRY(tft_cfg_int(mj, "attention_head_size", "model", 1, CAP_HEADS, &m->NH));
    TFT_TRY(tft_cfg_int(mj, "n_targets", "model", 1, CAP_TARGETS, &m->NT));
    TFT_TRY(tft_cfg_bool(mj, "causal_attention", "model", 1, &m->causal));
    m->D = m->H / m->NH;
    if (m->D < 1) return tft_cfg_err("model.attention_head_size", "exceeds hidden_size");
    double mb = -1e9;
    if (tft_json_get(mj, "mask_bias")) TFT_TRY(tft_cfg_num(mj, "mask_bias", "model", &mb));
    if (!isfinite(mb)) return tft__fail(TFT_ERR_UNSUPPORTED, "model config: a non-finite mask_bias is not supported");
    m->mask_bias = (float)mb;

    // quantiles and output sizes
    const tft_json *qs = tft_json_get(mj, "quantiles");
    const tft_json *os = tft_json_get(mj, "output_size");
    if (!qs || qs->type != TFT_JSON_ARRAY || qs->len < 1) return tft_cfg_err("model.quantiles", "must be a non-empty list");
    // before anything per quantile: the repeat check below is quadratic
    if (qs->len > CAP_QUANTILES) return tft_cfg_too_many("model", "quantiles", qs->len, CAP_QUANTILES, "quantiles");
    m->Q         = (int32_t)qs->len;
    m->quantiles = tft__calloc((size_t)m->Q, sizeof(float));
    if (!m->quantiles) return tft__fail(TFT_ERR_NOMEM, "out of memory");
    int32_t i = 0;
    for (const tft_json *q = qs->child; q; q = q->next, i++) {
        if (q->type != TFT_JSON_NUMBER || !(q->num > 0.0 && q->num < 1.0))
            return tft_cfg_err("model.quantiles", "must be numbers in (0, 1)");
        m->quantiles[i] = (float)q->num;
        for (int32_t k = 0; k < i; k++) // any order is the library's; a repeat is a broken config
            if (m->quantiles[k] == m->quantiles[i])
                return tft__fail(TFT_ERR_FORMAT, "model config: model.quantiles lists %g twice", q->num);
    }
    if (!os || os->type != TFT_JSON_ARRAY || (int32_t)os->len != m->NT)
        return tft_cfg_err("model.output_size", "must list one size per target");
    for (const tft_json *o = os->child; o; o = o->next) {
        int64_t q;
        if (tft_json_i64(o, &q) != 0 || q != m->Q)
            return tft__fail(TFT_ERR_UNSUPPORTED, "model config: every target must output the %d quantiles", m->Q);
    }

    TFT_TRY(tft_cfg_strs(mj, "x_reals", "model", &m->x_reals, &m->n_reals));
    TFT_TRY(tft_cfg_strs(mj, "x_categoricals", "model", &m->x_cats, &m->n_cats));
    const char **s_cat, **s_real, **e_cat, **e_real, **d_cat, **d_real;
    int32_t      ns_c, ns_r, ne_c, ne_r, nd_c, nd_r;
    TFT_TRY(tft_cfg_strs(mj, "static_categoricals", "model", &s_cat, &ns_c));
    m->var_static = s_cat; // freed with the model; the other lists below are joined into var_*
    TFT_TRY(tft_cfg_strs(mj, "static_reals", "model", &s_real, &ns_r));
    TFT_TRY(tft_cfg_strs(mj, "time_varying_categoricals_encoder", "model", &e_cat, &ne_c));
    m->var_enc = e_cat;
    TFT_TRY(tft_cfg_strs(mj, "time_varying_reals_encoder", "model", &e_real, &ne_r));
    TFT_TRY(tft_cfg_strs(mj, "time_varying_categoricals_decoder", "model", &d_cat, &nd_c));
    m->var_dec = d_cat;
    TFT_TRY(tft_cfg_strs(mj, "time_varying_reals_decoder", "model", &d_real, &nd_r));
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
        return tft_cfg_too_many("", "aliases", b.aliases->len, CAP_ALIASES, "aliases");
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
            st = tft_cfg_err("model.embedding_sizes", "must be an object");
            goto done;
        }
        if (es->len > CAP_VARIABLES) {
            st = tft_cfg_too_many("model", "embedding_sizes", es->len, CAP_VARIABLES, "embeddings");
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
                st = tft_cfg_too_many("model.categorical_groups", x->key, g->len, CAP_VARIABLES, "columns");
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
                    em->cols[c] = mbr->type == TFT_JSON_STRING ? tft_cfg_find_name(m->x_cats, m->n_cats, mbr->str) : -1;
            } else {
                em->cols[0] = tft_cfg_find_name(m->x_cats, m->n_cats, x->key);
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
    st = tft_schema_parse(m, ds);
done:
    tft__free(b.offset);
    tft__free(b.used);
    return st;
}
