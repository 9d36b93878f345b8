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

// The parameters with defaults applied, checked (shared by tft_context_memory and tft_context_new).
static tft_status context_params(const tft_model *m, const tft_context_params *p, const char *fn,
                                 tft_context_params *cp) {
    *cp = p ? *p : tft_context_default_params();
    if (!m) return tft__fail_at(TFT_ERR_INVALID_ARG, TFT_E_NULL_ARGUMENT, -1, NULL, -1, "%s: model is NULL", fn);
    if (cp->max_batch < 1 || cp->max_batch > (1 << 20))
        return tft__fail_at(TFT_ERR_INVALID_ARG, TFT_E_BAD_PARAMETER, -1, "max_batch", -1,
                            "%s: max_batch %d is outside [1, 1048576]", fn, cp->max_batch);
    if (cp->n_threads < 0 || cp->n_threads > TFT_MAX_LANES)
        return tft__fail_at(TFT_ERR_INVALID_ARG, TFT_E_BAD_PARAMETER, -1, "n_threads", -1,
                            "%s: n_threads %d is outside [0, %d]", fn, cp->n_threads, TFT_MAX_LANES);
    if (cp->max_memory_mib < -1)
        return tft__fail_at(TFT_ERR_INVALID_ARG, TFT_E_BAD_PARAMETER, -1, "max_memory_mib", -1,
                            "%s: max_memory_mib %d must be -1 (no limit), 0 (default) or a size in MiB", fn,
                            cp->max_memory_mib);
    if (cp->checked_input != 0 && cp->checked_input != 1)
        return tft__fail_at(TFT_ERR_INVALID_ARG, TFT_E_BAD_PARAMETER, -1, "checked_input", -1,
                            "%s: checked_input %d must be 0 or 1", fn, cp->checked_input);
    return tft_device_resolve(cp, fn);
}

// Lanes of a context: one per thread, even past max_batch (a one-series call splits its rows across
// the lanes, backend_cpu.c), so every lane needs its own scratch. Each lane is sized for its share of
// max_batch, ceil(max_batch / lanes) series; lane 0 for all of it, since a call with a zero-length
// history is not split (tft_lanes_for).
static int n_lanes_of(const tft_context_params *cp) { return cp->n_threads < 1 ? 1 : cp->n_threads; }
static int32_t lane_batch(const tft_context_params *cp, int lane) {
    int lanes = n_lanes_of(cp);
    return lane == 0 ? cp->max_batch : (cp->max_batch + lanes - 1) / lanes;
}

// Total workspace bytes of every lane; 0 when it overflows a size_t. The plan's sizes are products of
// the model's capped dimensions (model.c: at most ~2^20 x 2^16 floats per buffer at the extreme caps
// and max_batch 2^20), so they stay far below 2^64 and the carve itself cannot wrap.
static size_t context_bytes(const tft_model *m, const tft_context_params *cp) {
    size_t total = 0;
    for (int l = 0; l < n_lanes_of(cp); l++) {
        tft_acts sizes;
        size_t   b = tft_plan_carve(m, lane_batch(cp, l), TFT_CHUNK, NULL, &sizes);
        if (b == 0 || __builtin_add_overflow(total, b, &total)) return 0;
    }
    size_t dev = tft_device_bytes(m, cp);
    if (cp->device != TFT_DEVICE_CPU && (dev == 0 || __builtin_add_overflow(total, dev, &total))) return 0;
    return total;
}

TFT_API tft_status tft_context_memory(const tft_model *m, const tft_context_params *p, size_t *bytes) {
    if (!bytes)
        return tft__fail_at(TFT_ERR_INVALID_ARG, TFT_E_NULL_ARGUMENT, -1, NULL, -1, "tft_context_memory: bytes is NULL");
    *bytes = 0;
    tft_context_params cp;
    TFT_TRY(context_params(m, p, "tft_context_memory", &cp));
    *bytes = context_bytes(m, &cp);
    if (*bytes == 0)
        return tft__fail_at(TFT_ERR_CAPACITY, TFT_E_MEMORY_LIMIT, -1, "max_batch", -1,
                            "tft_context_memory: the workspace for max_batch %d does not fit in memory", cp.max_batch);
    return TFT_OK;
}

TFT_API tft_status tft_context_new(const tft_model *m, const tft_context_params *p, tft_context **out) {
    if (!out)
        return tft__fail_at(TFT_ERR_INVALID_ARG, TFT_E_NULL_ARGUMENT, -1, NULL, -1, "tft_context_new: out is NULL");
    *out = NULL;
    tft_context_params cp;
    TFT_TRY(context_params(m, p, "tft_context_new", &cp));
    // state the memory before taking it: a model at its caps with a large max_batch could ask for more
    // than the machine has, and the caller should hear so with a number, not from the OOM killer
    size_t need  = context_bytes(m, &cp);
    size_t limit = cp.max_memory_mib < 0 ? SIZE_MAX
                   : (size_t)(cp.max_memory_mib ? cp.max_memory_mib : TFT_CONTEXT_DEFAULT_MAX_MIB) << 20;
    if (need == 0 || need > limit)
        return tft__fail_at(TFT_ERR_CAPACITY, TFT_E_MEMORY_LIMIT, -1, "max_memory_mib", -1,
                            "tft_context_new: max_batch %d with %d thread(s) needs %.1f MiB of workspace, more than "
                            "the limit of %d MiB (tft_context_params.max_memory_mib; lower max_batch or raise it)",
                            cp.max_batch, n_lanes_of(&cp), need ? (double)need / (1 << 20) : 1e300,
                            cp.max_memory_mib ? cp.max_memory_mib : TFT_CONTEXT_DEFAULT_MAX_MIB);
    tft_context *c = tft__calloc(1, sizeof *c);
    if (!c) return tft__fail(TFT_ERR_NOMEM, "tft_context_new: out of memory");
    c->m             = m;
    c->max_batch     = cp.max_batch;
    c->checked_input = cp.checked_input;
    c->n_lanes       = n_lanes_of(&cp);
    tft_status st    = TFT_OK;
    for (int l = 0; l < c->n_lanes; l++) {
        tft_lane *ln = &c->lanes[l];
        tft_acts  sizes;
        ln->max_batch   = lane_batch(&cp, l);
        ln->arena_bytes = tft_plan_carve(m, ln->max_batch, TFT_CHUNK, NULL, &sizes);
        ln->arena       = tft__aligned_alloc(64, ln->arena_bytes);
        if (!ln->arena) {
            st = tft__fail(TFT_ERR_NOMEM, "tft_context_new: cannot reserve %zu bytes for max_batch %d", need,
                           cp.max_batch);
            goto fail;
        }
        memset(ln->arena, 0, ln->arena_bytes); // touch every page now, not during a forecast
        tft_plan_carve(m, ln->max_batch, TFT_CHUNK, ln->arena, &ln->a);
        ln->a.ctx  = c;
        ln->a.lane = l;
    }
    if ((st = tft_pool_start(&c->pool, c->n_lanes - 1)) != TFT_OK) goto fail;
    if ((st = tft_device_open(c, &cp)) != TFT_OK) goto fail;
    *out = c;
    return TFT_OK;
fail:
    tft_context_free(c);
    return st;
}

TFT_API void tft_context_free(tft_context *c) {
    if (!c) return;
    tft_device_close(c);
    tft_pool_stop(&c->pool);
    for (int l = 0; l < TFT_MAX_LANES; l++) tft__free(c->lanes[l].arena);
    tft__free(c);
}

TFT_API size_t tft_context_bytes(const tft_context *c) {
    size_t n = 0;
    for (int l = 0; c && l < c->n_lanes; l++) n += c->lanes[l].arena_bytes;
    if (c && c->cuda) n += tft_device_bytes(c->m, &(tft_context_params){.max_batch = c->max_batch, .device = c->device});
    return n;
}

// Checks every index of the categorical tensor against its embedding's table, and (values != 0)
// every real for finiteness, over all rows (padding rows feed padded positions, where a NaN would
// still leak through 0 * NaN in attention). Errors name the tensor, the row (series) and the flat
// element index in the tensor.
static tft_status check_rows(const tft_model *m, const char *what, const int32_t *cat, const float *cont, int B,
                             int S, int values) {
    if (B <= 0 || S <= 0) return TFT_OK;
    char tensor[16];
    snprintf(tensor, sizeof tensor, "%s_cat", what);
    for (int32_t e = 0; e < m->n_embs; e++)
        for (int32_t k = 0; k < m->embs[e].ncols; k++) {
            int col = m->embs[e].cols[k];
            for (int b = 0; b < B; b++)
                for (int t = 0; t < S; t++) {
                    size_t  at = ((size_t)b * S + t) * m->n_cats + col;
                    int32_t v  = cat[at];
                    if (v < 0 || v >= m->embs[e].n_classes)
                        return tft__fail_at(TFT_ERR_SHAPE, TFT_E_CATEGORY_INDEX, b, tensor, (int32_t)at,
                                            "%s[%d][%d][%d] ('%s') = %d is outside [0, %d)", tensor, b, t, col,
                                            m->x_cats[col], v, m->embs[e].n_classes);
                }
        }
    if (!values) return TFT_OK;
    snprintf(tensor, sizeof tensor, "%s_cont", what);
    size_t n = (size_t)B * S * m->n_reals;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(cont[i])) {
            size_t r = i / m->n_reals;
            return tft__fail_at(TFT_ERR_NONFINITE, TFT_E_NON_FINITE_INPUT, (int32_t)(r / S), tensor, (int32_t)i,
                                "%s[%zu][%zu][%zu] ('%s') is not finite", tensor, r / S, r % S, i % m->n_reals,
                                m->x_reals[i % m->n_reals]);
        }
    return TFT_OK;
}

tft_status tft_check_net_rows(const tft_model *m, const tft_net_input *in, int values) {
    if (in->enc_steps > 0)
        TFT_TRY(check_rows(m, "encoder", in->encoder_cat, in->encoder_cont, in->n, in->enc_steps, values));
    return check_rows(m, "decoder", in->decoder_cat, in->decoder_cont, in->n, in->dec_steps, values);
}

// Everything tft_predict_net checks of its input before running (fn: the API function, for messages;
// values: also scan every real and target scale for finiteness).
static tft_status net_check(const tft_model *m, const tft_net_input *in, const char *fn, int values) {
    // fn: the message prefix ("tft_predict_net: ", or "" for tft_net_check)
    if (in->n < 1)
        return tft__fail_in(TFT_ERR_INVALID_ARG, TFT_E_BAD_PARAMETER, -1, "n", -1,
                            fn, "n = %d, need at least 1 series", in->n);
    if (in->enc_steps < 0 || in->enc_steps > m->Te_max)
        return tft__fail_in(TFT_ERR_SHAPE, TFT_E_STEPS, -1, "encoder_cont", -1,
                            fn, "enc_steps %d is outside [0, max_encoder_length %d]", in->enc_steps, m->Te_max);
    if (in->dec_steps < 1 || in->dec_steps > m->Td_max)
        return tft__fail_in(TFT_ERR_SHAPE, TFT_E_STEPS, -1, "decoder_cont", -1,
                            fn, "dec_steps %d is outside [1, max_prediction_length %d]", in->dec_steps, m->Td_max);
    if (!in->encoder_lengths || !in->decoder_lengths || !in->target_scale || !in->decoder_cont ||
        (in->enc_steps > 0 && !in->encoder_cont) || (m->n_cats > 0 && !in->decoder_cat) ||
        (m->n_cats > 0 && in->enc_steps > 0 && !in->encoder_cat))
        return tft__fail_in(TFT_ERR_INVALID_ARG, TFT_E_NULL_ARGUMENT, -1, NULL, -1,
                            fn, "a required input array is NULL");
    int max_e = 0, max_d = 0;
    for (int b = 0; b < in->n; b++) {
        int le = in->encoder_lengths[b], ld = in->decoder_lengths[b];
        if (le < 0 || le > in->enc_steps)
            return tft__fail_in(TFT_ERR_SHAPE, TFT_E_LENGTHS, b, "encoder_lengths", b,
                                fn, "encoder_lengths[%d] = %d is outside [0, %d]", b, le, in->enc_steps);
        if (ld < 1 || ld > in->dec_steps)
            return tft__fail_in(TFT_ERR_SHAPE, TFT_E_LENGTHS, b, "decoder_lengths", b,
                                fn, "decoder_lengths[%d] = %d is outside [1, %d]", b, ld, in->dec_steps);
        max_e = le > max_e ? le : max_e;
        max_d = ld > max_d ? ld : max_d;
        for (int j = 0; values && j < 2 * m->NT; j++)
            if (!isfinite(in->target_scale[(size_t)b * 2 * m->NT + j]))
                return tft__fail_in(TFT_ERR_NONFINITE, TFT_E_NON_FINITE_INPUT, b, "target_scale", b * 2 * m->NT + j,
                                    fn, "target_scale[%d] is not finite", b);
    }
    if (max_e != in->enc_steps)
        return tft__fail_in(TFT_ERR_SHAPE, TFT_E_LENGTHS, -1, "encoder_lengths", -1,
                            fn, "enc_steps %d must equal the longest encoder length in the batch (%d), as the "
                            "library's collate pads", in->enc_steps, max_e);
    if (max_d != in->dec_steps)
        return tft__fail_in(TFT_ERR_SHAPE, TFT_E_LENGTHS, -1, "decoder_lengths", -1,
                            fn, "dec_steps %d must equal the longest decoder length in the batch (%d), as the "
                            "library's collate pads", in->dec_steps, max_d);
    static const int32_t no_cat = 0;
    tft_net_input        x      = *in;
    if (m->n_cats == 0) x.encoder_cat = x.decoder_cat = &no_cat;
    return tft_check_net_rows(m, &x, values);
}

TFT_API tft_status tft_net_check(const tft_model *m, const tft_net_input *in) {
    if (!m || !in) return tft__fail_at(TFT_ERR_INVALID_ARG, TFT_E_NULL_ARGUMENT, -1, NULL, -1, "tft_net_check: NULL argument");
    return net_check(m, in, "", 1);
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
    if (ln->st != TFT_OK) {
        ln->err = *tft_last_error_detail();
        if (ln->err.series >= 0) ln->err.series += lo; // the lane's row -> the call's
    }
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
        if (c->lanes[l].st != TFT_OK) {
            tft__error_restore(&c->lanes[l].err); // the lane's error, on the caller's thread
            return c->lanes[l].st;
        }
    return TFT_OK;
}

TFT_API tft_status tft_predict_net(tft_context *c, const tft_net_input *in, tft_net_output *out) {
    if (!c || !in || !out)
        return tft__fail_at(TFT_ERR_INVALID_ARG, TFT_E_NULL_ARGUMENT, -1, NULL, -1, "tft_predict_net: NULL argument");
    const tft_model *m = c->m;
    if (in->n > c->max_batch)
        return tft__fail_at(TFT_ERR_CAPACITY, TFT_E_TOO_MANY_SERIES, -1, NULL, -1,
                            "tft_predict_net: %d series exceed the context's max_batch %d", in->n, c->max_batch);
    // checked_input: the caller ran tft_net_check; the structure and the category indices (memory
    // safety) are still checked, the finiteness scan is not (the output check below still runs)
    TFT_TRY(net_check(m, in, "tft_predict_net: ", !c->checked_input));
    static const int32_t no_cat = 0;
    tft_net_input        x      = *in;
    if (m->n_cats == 0) x.encoder_cat = x.decoder_cat = &no_cat;
    int     lanes = tft_lanes_for(c, in->n, in->encoder_lengths);
    net_job job   = {c, &x, out, (in->n + lanes - 1) / lanes};
    TFT_TRY(tft_run_lanes(c, net_lane, &job, lanes));
    if (out->prediction) {
        size_t n = (size_t)in->n * m->NT * in->dec_steps * m->Q;
        for (size_t i = 0; i < n; i++)
            if (!isfinite(out->prediction[i]))
                return tft__fail_at(TFT_ERR_NONFINITE, TFT_E_NON_FINITE_OUTPUT,
                                    (int32_t)(i / ((size_t)m->NT * in->dec_steps * m->Q)), "prediction", (int32_t)i,
                                    "tft_predict_net: the prediction of series %zu is not finite",
                                    i / ((size_t)m->NT * in->dec_steps * m->Q));
    }
    return TFT_OK;
}
