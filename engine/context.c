// context.c: tft_context (one arena per thread, sized once) and the network-level entry point,
// which validates the caller's tensors before the graph walk sees them.
#include <math.h>
#include <string.h>
#include "internal.h"

TFT_API tft_context_params tft_context_default_params(void) {
    tft_context_params p;
    memset(&p, 0, sizeof p);
    p.max_batch = 64;
    p.n_threads = 1;
    return p;
}

TFT_API tft_status tft_context_new(const tft_model *m, const tft_context_params *p, tft_context **out) {
    if (!out) return tft__fail(TFT_ERR_INVALID_ARG, "tft_context_new: out is NULL");
    *out = NULL;
    if (!m) return tft__fail(TFT_ERR_INVALID_ARG, "tft_context_new: model is NULL");
    tft_context_params cp = p ? *p : tft_context_default_params();
    if (cp.max_batch < 1 || cp.max_batch > (1 << 20))
        return tft__fail(TFT_ERR_INVALID_ARG, "tft_context_new: max_batch %d is outside [1, 1048576]", cp.max_batch);
    tft_context *c = tft__calloc(1, sizeof *c);
    if (!c) return tft__fail(TFT_ERR_NOMEM, "tft_context_new: out of memory");
    c->m         = m;
    c->max_batch = cp.max_batch;
    tft_acts sizes;
    c->arena_bytes = tft_plan_carve(m, cp.max_batch, NULL, &sizes);
    c->arena       = tft__aligned_alloc(64, c->arena_bytes);
    if (!c->arena) {
        size_t bytes = c->arena_bytes;
        tft__free(c);
        return tft__fail(TFT_ERR_NOMEM, "tft_context_new: cannot reserve %zu bytes for max_batch %d", bytes,
                         cp.max_batch);
    }
    memset(c->arena, 0, c->arena_bytes); // first touch here, on the thread that creates the context
    tft_plan_carve(m, cp.max_batch, c->arena, &c->a);
    *out = c;
    return TFT_OK;
}

TFT_API void tft_context_free(tft_context *c) {
    if (!c) return;
    tft__free(c->arena);
    tft__free(c);
}

TFT_API size_t tft_context_bytes(const tft_context *c) { return c ? c->arena_bytes : 0; }

// Checks every index of the categorical tensor against its embedding's table, and every real for
// finiteness, over all rows (padding rows feed padded positions, where a NaN would still leak
// through 0 * NaN in attention).
static tft_status check_rows(const tft_model *m, const char *what, const int32_t *cat, const float *cont, int B,
                             int S) {
    for (int32_t e = 0; e < m->n_embs; e++)
        for (int32_t k = 0; k < m->embs[e].ncols; k++) {
            int col = m->embs[e].cols[k];
            for (int b = 0; b < B; b++)
                for (int t = 0; t < S; t++) {
                    int32_t v = cat[((size_t)b * S + t) * m->n_cats + col];
                    if (v < 0 || v >= m->embs[e].n_classes)
                        return tft__fail(TFT_ERR_SHAPE, "%s_cat[%d][%d][%d] ('%s') = %d is outside [0, %d)", what, b, t,
                                         col, m->x_cats[col], v, m->embs[e].n_classes);
                }
        }
    size_t n = (size_t)B * S * m->n_reals;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(cont[i])) {
            size_t r = i / m->n_reals;
            return tft__fail(TFT_ERR_NONFINITE, "%s_cont[%zu][%zu][%zu] ('%s') is not finite", what, r / S, r % S,
                             i % m->n_reals, m->x_reals[i % m->n_reals]);
        }
    return TFT_OK;
}

TFT_API tft_status tft_predict_net(tft_context *c, const tft_net_input *in, tft_net_output *out) {
    if (!c || !in || !out) return tft__fail(TFT_ERR_INVALID_ARG, "tft_predict_net: NULL argument");
    const tft_model *m = c->m;
    if (in->n < 1) return tft__fail(TFT_ERR_INVALID_ARG, "tft_predict_net: n = %d, need at least 1 series", in->n);
    if (in->n > c->max_batch)
        return tft__fail(TFT_ERR_CAPACITY, "tft_predict_net: %d series exceed the context's max_batch %d", in->n,
                         c->max_batch);
    if (in->enc_steps < 0 || in->enc_steps > m->Te_max)
        return tft__fail(TFT_ERR_SHAPE, "tft_predict_net: enc_steps %d is outside [0, max_encoder_length %d]",
                         in->enc_steps, m->Te_max);
    if (in->dec_steps < 1 || in->dec_steps > m->Td_max)
        return tft__fail(TFT_ERR_SHAPE, "tft_predict_net: dec_steps %d is outside [1, max_prediction_length %d]",
                         in->dec_steps, m->Td_max);
    if (!in->encoder_lengths || !in->decoder_lengths || !in->target_scale || !in->decoder_cont ||
        (in->enc_steps > 0 && !in->encoder_cont) || (m->n_cats > 0 && !in->decoder_cat) ||
        (m->n_cats > 0 && in->enc_steps > 0 && !in->encoder_cat))
        return tft__fail(TFT_ERR_INVALID_ARG, "tft_predict_net: a required input array is NULL");
    int max_e = 0, max_d = 0;
    for (int b = 0; b < in->n; b++) {
        int le = in->encoder_lengths[b], ld = in->decoder_lengths[b];
        if (le < 0 || le > in->enc_steps)
            return tft__fail(TFT_ERR_SHAPE, "tft_predict_net: encoder_lengths[%d] = %d is outside [0, %d]", b, le,
                             in->enc_steps);
        if (ld < 1 || ld > in->dec_steps)
            return tft__fail(TFT_ERR_SHAPE, "tft_predict_net: decoder_lengths[%d] = %d is outside [1, %d]", b, ld,
                             in->dec_steps);
        max_e = le > max_e ? le : max_e;
        max_d = ld > max_d ? ld : max_d;
        for (int j = 0; j < 2 * m->NT; j++)
            if (!isfinite(in->target_scale[(size_t)b * 2 * m->NT + j]))
                return tft__fail(TFT_ERR_NONFINITE, "tft_predict_net: target_scale[%d] is not finite", b);
    }
    if (max_e != in->enc_steps || max_d != in->dec_steps)
        return tft__fail(TFT_ERR_SHAPE, "tft_predict_net: enc_steps/dec_steps (%d, %d) must equal the longest "
                                        "encoder/decoder length in the batch (%d, %d), as the library's collate pads",
                         in->enc_steps, in->dec_steps, max_e, max_d);
    static const int32_t no_cat = 0;
    tft_net_input        x      = *in;
    if (m->n_cats == 0) x.encoder_cat = x.decoder_cat = &no_cat;
    if (in->enc_steps > 0) TFT_TRY(check_rows(m, "encoder", x.encoder_cat, x.encoder_cont, in->n, in->enc_steps));
    TFT_TRY(check_rows(m, "decoder", x.decoder_cat, x.decoder_cont, in->n, in->dec_steps));
    TFT_TRY(tft_forward(c, &x, out));
    if (out->prediction) {
        size_t n = (size_t)in->n * m->NT * in->dec_steps * m->Q;
        for (size_t i = 0; i < n; i++)
            if (!isfinite(out->prediction[i]))
                return tft__fail(TFT_ERR_NONFINITE, "tft_predict_net: the prediction of series %zu is not finite",
                                 i / ((size_t)m->NT * in->dec_steps * m->Q));
    }
    return TFT_OK;
}
