// model.c: tft_model's life. Loads a weights file (loader/) from a path or from memory, then
// bind.c turns its config document (weights/FORMAT.md) and tensors into struct tft_model (schema.c
// its preprocessing part), pack.c packs the GEMM weights and sha256.c hashes the file for the
// model version; fills tft_model_info and frees it all. A file whose config and tensors disagree is
// refused at load with a message naming the tensor, so the forward never meets a surprise.
#include <string.h>
#include "internal.h"

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
    if (st == TFT_OK) st = tft_pack_weights(m);
    if (st != TFT_OK) {
        tft_model_free(m);
        return st;
    }
    tft_sha256_hex(tft_ld_file_bytes(m->file), tft_ld_file_size(m->file), m->sha256);
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
        if (m->scalers[i].kind == TFT_SCALER_NORMALIZER) tft_normalizer_free(&m->scalers[i].norm);
    tft__free(m->scalers), tft__free(m->scaler_names);
    for (int32_t t = 0; m->target_norm && t < m->NT; t++) tft_normalizer_free(&m->target_norm[t]);
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
