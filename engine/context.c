// context.c: tft_context (one arena per thread, sized once) and the network-level entry point,
// which validates the caller's tensors before the graph walk sees them.
#include <math.h>
#include <stdio.h>
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
    if (cp.n_threads < 0 || cp.n_threads > TFT_MAX_LANES)
        return tft__fail(TFT_ERR_INVALID_ARG, "tft_context_new: n_threads %d is outside [0, %d]", cp.n_threads,
                         TFT_MAX_LANES);
    tft_context *c = tft__calloc(1, sizeof *c);
    if (!c) return tft__fail(TFT_ERR_NOMEM, "tft_context_new: out of memory");
    c->m         = m;
    c->max_batch = cp.max_batch;
    // one lane per thread, even past max_batch: a one-series call splits its rows across the lanes
    // (forward.c), so every lane needs its own scratch
    c->n_lanes   = cp.n_threads < 1 ? 1 : cp.n_threads;
    // each lane is sized for its share of max_batch, ceil(max_batch / lanes) series; lane 0 for all
    // of it, since a call with a zero-length history is not split (tft_lanes_for)
    int32_t per = (cp.max_batch + c->n_lanes - 1) / c->n_lanes;
    tft_status st = TFT_OK;
    for (int l = 0; l < c->n_lanes; l++) {
        tft_lane *ln = &c->lanes[l];
        tft_acts  sizes;
        ln->max_batch   = l == 0 ? cp.max_batch : per;
        ln->arena_bytes = tft_plan_carve(m, ln->max_batch, NULL, &sizes);
        ln->arena       = tft__aligned_alloc(64, ln->arena_bytes);
        if (!ln->arena) {
            st = tft__fail(TFT_ERR_NOMEM, "tft_context_new: cannot reserve %zu bytes for max_batch %d",
                           ln->arena_bytes * c->n_lanes, cp.max_batch);
            goto fail;
        }
        memset(ln->arena, 0, ln->arena_bytes); // touch every page now, not during a forecast
        tft_plan_carve(m, ln->max_batch, ln->arena, &ln->a);
        ln->a.ctx  = c;
        ln->a.lane = l;
    }
    if ((st = tft_pool_start(&c->pool, c->n_lanes - 1)) != TFT_OK) goto fail;
    *out = c;
    return TFT_OK;
fail:
    tft_context_free(c);
    return st;
}

TFT_API void tft_context_free(tft_context *c) {
    if (!c) return;
    tft_pool_stop(&c->pool);
    for (int l = 0; l < TFT_MAX_LANES; l++) tft__free(c->lanes[l].arena);
    tft__free(c);
}

TFT_API size_t tft_context_bytes(const tft_context *c) {
    size_t n = 0;
    for (int l = 0; c && l < c->n_lanes; l++) n += c->lanes[l].arena_bytes;
    return n;
}

// Checks every index of the categorical tensor against its embedding's table, and every real for
// finiteness, over all rows (padding rows feed padded positions, where a NaN would still leak
// through 0 * NaN in attention).
static tft_status check_rows(const tft_model *m, const char *what, const int32_t *cat, const float *cont, int B,
                             int S) {
    if (B <= 0 || S <= 0) return TFT_OK;
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

tft_status tft_check_net_rows(const tft_model *m, const tft_net_input *in) {
    if (in->enc_steps > 0) TFT_TRY(check_rows(m, "encoder", in->encoder_cat, in->encoder_cont, in->n, in->enc_steps));
    return check_rows(m, "decoder", in->decoder_cat, in->decoder_cont, in->n, in->dec_steps);
}

// One lane's chunk of a network-level call: series [lo, hi) of the batch, in the lane's arena,
// written straight into the caller's outputs at their offsets.
typedef struct net_job {
    const tft_context    *c;
    const tft_net_input  *in;
    const tft_net_output *out;
    int                   chunk;
} net_job;

#define AT(p, n) ((p) ? (p) + (size_t)(n) : NULL)

static void net_lane(void *arg, int lane) {
    const net_job   *j  = arg;
    const tft_model *m  = j->c->m;
    tft_lane        *ln = (tft_lane *)&j->c->lanes[lane];
    const tft_net_input *in = j->in;
    int lo = lane * j->chunk, hi = lo + j->chunk < in->n ? lo + j->chunk : in->n;
    ln->st = TFT_OK;
    if (lo >= hi) return;
    size_t Te = (size_t)in->enc_steps, Td = (size_t)in->dec_steps, Nr = (size_t)m->n_reals, Nc = (size_t)m->n_cats;
    size_t NH = (size_t)m->NH, pr = (size_t)m->NT * Td * m->Q;
    tft_net_input sub = *in;
    sub.n               = hi - lo;
    sub.encoder_cat     = AT(in->encoder_cat, lo * Te * Nc);
    sub.encoder_cont    = AT(in->encoder_cont, lo * Te * Nr);
    sub.decoder_cat     = AT(in->decoder_cat, lo * Td * Nc);
    sub.decoder_cont    = AT(in->decoder_cont, lo * Td * Nr);
    sub.encoder_lengths = in->encoder_lengths + lo;
    sub.decoder_lengths = in->decoder_lengths + lo;
    sub.target_scale    = in->target_scale + (size_t)lo * m->NT * 2;
    const tft_net_output *o = j->out;
    tft_net_output so = {AT(o->prediction_normalized, lo * pr), AT(o->prediction, lo * pr),
                         AT(o->encoder_attention, lo * Td * NH * Te), AT(o->decoder_attention, lo * Td * NH * Td),
                         AT(o->static_weights, (size_t)lo * m->vsn_static.n),
                         AT(o->encoder_weights, lo * Te * m->vsn_enc.n), AT(o->decoder_weights, lo * Td * m->vsn_dec.n)};
    ln->st = tft_forward(m, &ln->a, &sub, &so);
    if (ln->st != TFT_OK) snprintf(ln->err, sizeof ln->err, "%s", tft_last_error());
}

// Lanes for a call of n series: one per thread, but never a split when a series has no history
// (the library's handling of those depends on the batch, TFT_SPEC.md §11.2).
int tft_lanes_for(const tft_context *c, int n, const int32_t *enc_len) {
    for (int b = 0; enc_len && b < n; b++)
        if (enc_len[b] == 0) return 1;
    return c->n_lanes < n ? c->n_lanes : n;
}

// Runs job on `lanes` lanes; on failure returns the first failing lane's status and message.
tft_status tft_run_lanes(tft_context *c, tft_job_fn fn, void *job, int lanes) {
    tft_pool_run(&c->pool, fn, job, lanes);
    for (int l = 0; l < lanes; l++)
        if (c->lanes[l].st != TFT_OK) return tft__fail(c->lanes[l].st, "%s", c->lanes[l].err);
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
    TFT_TRY(tft_check_net_rows(m, &x));
    int     lanes = tft_lanes_for(c, in->n, in->encoder_lengths);
    net_job job   = {c, &x, out, (in->n + lanes - 1) / lanes};
    TFT_TRY(tft_run_lanes(c, net_lane, &job, lanes));
    if (out->prediction) {
        size_t n = (size_t)in->n * m->NT * in->dec_steps * m->Q;
        for (size_t i = 0; i < n; i++)
            if (!isfinite(out->prediction[i]))
                return tft__fail(TFT_ERR_NONFINITE, "tft_predict_net: the prediction of series %zu is not finite",
                                 i / ((size_t)m->NT * in->dec_steps * m->Q));
    }
    return TFT_OK;
}
