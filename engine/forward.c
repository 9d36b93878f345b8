// forward.c: the TFT graph walk (TFT_SPEC.md §5), on validated network-level input, with every
// activation in the context's arena. Time-distributed layers run as one op over all B*T rows;
// the LSTM runs one small GEMM per step over the series still inside their lengths.
//
// Row layouts: encoder rows are [B, Te] (row b*Te + t), decoder rows [B, Td], and the joined
// sequences (emb, lstm_out, phi, theta) are [B, T] with each series' Te encoder steps first.
#include <string.h>
#include "internal.h"

// Variable selection network (§3.8) over R rows. Row r reads its reals at cont + r*cont_stride
// and its categoricals at cat + r*cat_stride (stride = one time step for the temporal VSNs, one
// whole series for the static VSN, which reads time step 0).
// flat: [R, in_total] scratch   outs: [n, R, H]   w: [R, n] (selection weights out)   y: [R, H]
// ctx_add: [R / ctx_group, h] projected static context for the flattened GRN (or NULL)
static void vsn_forward(const tft_model *m, const tft_vsn *v, int R, const float *cont, int cont_stride,
                        const int32_t *cat, int cat_stride, const float *ctx_add, int ctx_group, float *flat,
                        float *outs, float *w, float *y, float *scratch) {
    int H = m->H, I = v->in_total;
    if (v->n == 0) { // no variables: zeros (the library returns zeros of the context's shape)
        memset(y, 0, sizeof(float) * (size_t)R * H);
        return;
    }
    int off = 0;
    for (int k = 0; k < v->n; k++) {
        const tft_var *x = &v->vars[k];
        if (x->is_real) {
            tft_op_prescale(flat + off, I, cont + x->real_col, cont_stride, x->pre_w, x->pre_b, R, x->width);
        } else {
            const tft_emb *e = &m->embs[x->emb];
            tft_op_embedding(flat + off, I, cat, cat_stride, e->cols, e->ncols, e->table, R, e->dim);
        }
        float *o = v->n == 1 ? y : outs + (size_t)k * R * H;
        if (x->is_grn) tft_op_grn(o, flat + off, I, R, &x->grn, NULL, 1, scratch);
        else tft_op_resample_norm(o, flat + off, I, R, x->width, H, x->rs_mask, x->rs_w, x->rs_b);
        off += x->width;
    }
    if (v->n == 1) { // a single variable: no selection, the context is ignored, weight 1
        for (int r = 0; r < R; r++) w[r] = 1.0f;
        return;
    }
    tft_op_grn(w, flat, I, R, &v->flat, ctx_add, ctx_group, scratch); // logits [R, n]
    tft_op_softmax(w, R, v->n);
    tft_op_vsn_combine(y, outs, w, R, v->n, H);
}

// One direction of pytorch-forecasting's packed LSTM (§5.4) for B series of S steps.
// x: [B, S, H] input   run: [B] steps each series runs (0..S)
// h, c: [L, B, H] initial state in, final state out (a series' state freezes after its last step)
// out: row (b, t) at out + b*out_stride + t*H; zero at t >= run[b].
static void lstm_forward(const tft_model *m, tft_acts *a, int enc, const float *x, int B, int S, const int32_t *run,
                         float *h, float *c, float *out, size_t out_stride) {
    int              H = m->H, H4 = 4 * m->H;
    // series sorted by run length, longest first, so the active ones at step t are a prefix
    int32_t *order = a->order;
    for (int b = 0; b < B; b++) order[b] = b;
    for (int i = 1; i < B; i++) { // stable insertion sort, B is small
        int32_t v = order[i], j = i - 1;
        while (j >= 0 && run[order[j]] < run[v]) order[j + 1] = order[j], j--;
        order[j + 1] = v;
    }
    int          max_run = B ? run[order[0]] : 0;
    const float *in      = x;
    for (int l = 0; l < m->L; l++) {
        const float *w_ih = enc ? m->lstm_enc[l].w_ih : m->lstm_dec[l].w_ih;
        const float *w_hh = enc ? m->lstm_enc[l].w_hh : m->lstm_dec[l].w_hh;
        const float *b_ih = enc ? m->lstm_enc[l].b_ih : m->lstm_dec[l].b_ih;
        const float *b_hh = enc ? m->lstm_enc[l].b_hh : m->lstm_dec[l].b_hh;
        float       *lo   = (l % 2 == 0) ? a->layer_a : a->layer_b; // this layer's output [B, S, H]
        memset(lo, 0, sizeof(float) * (size_t)B * S * H);
        // input projection of every step at once: xp = in·W_ihᵀ + b_ih   [B*S, 4H]
        tft_op_linear(a->xp, H4, in, H, w_ih, b_ih, B * S, H, H4, 0);
        float *hl = h + (size_t)l * B * H, *cl = c + (size_t)l * B * H;
        for (int i = 0; i < B; i++) {
            memcpy(a->hrow + (size_t)i * H, hl + (size_t)order[i] * H, sizeof(float) * H);
            memcpy(a->crow + (size_t)i * H, cl + (size_t)order[i] * H, sizeof(float) * H);
        }
        int n = B;
        for (int t = 0; t < max_run; t++) {
            while (n > 0 && run[order[n - 1]] <= t) n--;
            // gates = (x_t·W_ihᵀ + b_ih) + (h·W_hhᵀ + b_hh), summed as torch's LSTM cell does
            tft_op_linear(a->hh, H4, a->hrow, H, w_hh, b_hh, n, H, H4, 0);
            for (int i = 0; i < n; i++) {
                const float *xr = a->xp + ((size_t)order[i] * S + t) * H4;
                float       *g  = a->gates + (size_t)i * H4;
                const float *hr = a->hh + (size_t)i * H4;
                for (int k = 0; k < H4; k++) g[k] = xr[k] + hr[k];
            }
            tft_op_lstm_cell(a->hrow, a->crow, a->gates, n, H);
            for (int i = 0; i < n; i++)
                memcpy(lo + ((size_t)order[i] * S + t) * H, a->hrow + (size_t)i * H, sizeof(float) * H);
        }
        for (int i = 0; i < B; i++) {
            memcpy(hl + (size_t)order[i] * H, a->hrow + (size_t)i * H, sizeof(float) * H);
            memcpy(cl + (size_t)order[i] * H, a->crow + (size_t)i * H, sizeof(float) * H);
        }
        in = lo;
    }
    for (int b = 0; b < B; b++) memcpy(out + b * out_stride, in + (size_t)b * S * H, sizeof(float) * (size_t)S * H);
}

tft_status tft_forward(const tft_model *m, tft_acts *a, const tft_net_input *in, tft_net_output *out) {
    const int        B  = in->n, Te = in->enc_steps, Td = in->dec_steps, T = Te + Td;
    const int        H  = m->H, L = m->L, NH = m->NH, D = m->D, NHD = m->NH * m->D;
    const int        Nr = m->n_reals, Nc = m->n_cats, NTQ = m->NT * m->Q;
    float           *scr = a->scratch;

    // ---- static covariate encoder (§5.2): static inputs are read at time step 0 ----------
    const float   *s_cont = Te > 0 ? in->encoder_cont : in->decoder_cont;
    const int32_t *s_cat  = Te > 0 ? in->encoder_cat : in->decoder_cat;
    int            s_step = Te > 0 ? Te : Td;
    if (m->vsn_static.n > 0)
        vsn_forward(m, &m->vsn_static, B, s_cont, s_step * Nr, s_cat, s_step * Nc, NULL, 1, a->s_flat, a->s_outs,
                    a->s_w, a->s_xi, scr);
    else
        memset(a->s_xi, 0, sizeof(float) * (size_t)B * H);
    tft_op_grn(a->c_sel, a->s_xi, H, B, &m->sc_sel, NULL, 1, scr);
    tft_op_grn(a->c_h, a->s_xi, H, B, &m->sc_h, NULL, 1, scr);
    tft_op_grn(a->c_c, a->s_xi, H, B, &m->sc_c, NULL, 1, scr);
    tft_op_grn(a->c_enr, a->s_xi, H, B, &m->sc_enr, NULL, 1, scr);
    // the static contexts' projections, once per series instead of once per time step
    if (m->vsn_enc.n > 1)
        tft_op_linear(a->ctx_e, m->vsn_enc.flat.hid, a->c_sel, H, m->vsn_enc.flat.ctx_w, NULL, B, H,
                      m->vsn_enc.flat.hid, 0);
    if (m->vsn_dec.n > 1)
        tft_op_linear(a->ctx_d, m->vsn_dec.flat.hid, a->c_sel, H, m->vsn_dec.flat.ctx_w, NULL, B, H,
                      m->vsn_dec.flat.hid, 0);
    tft_op_linear(a->ctx_enr, H, a->c_enr, H, m->enrich.ctx_w, NULL, B, H, H, 0);

    // ---- temporal variable selection (§5.3) ----------------------------------------------
    if (Te > 0)
        vsn_forward(m, &m->vsn_enc, B * Te, in->encoder_cont, Nr, in->encoder_cat, Nc, a->ctx_e, Te, a->e_flat,
                    a->e_outs, a->e_w, a->e_emb, scr);
    vsn_forward(m, &m->vsn_dec, B * Td, in->decoder_cont, Nr, in->decoder_cat, Nc, a->ctx_d, Td, a->d_flat,
                a->d_outs, a->d_w, a->d_emb, scr);
    for (int b = 0; b < B; b++) {
        memcpy(a->emb + (size_t)b * T * H, a->e_emb + (size_t)b * Te * H, sizeof(float) * (size_t)Te * H);
        memcpy(a->emb + ((size_t)b * T + Te) * H, a->d_emb + (size_t)b * Td * H, sizeof(float) * (size_t)Td * H);
    }

    // ---- LSTM encoder and decoder (§5.4) ---------------------------------------------------
    for (int l = 0; l < L; l++) { // initial state: the static contexts, the same for every layer
        memcpy(a->h + (size_t)l * B * H, a->c_h, sizeof(float) * (size_t)B * H);
        memcpy(a->c + (size_t)l * B * H, a->c_c, sizeof(float) * (size_t)B * H);
    }
    if (Te == 0) { // the whole batch has no history: zero encoder state (h0, c0 ignored)
        memset(a->h, 0, sizeof(float) * (size_t)L * B * H);
        memset(a->c, 0, sizeof(float) * (size_t)L * B * H);
    } else {
        int any_zero = 0;
        for (int b = 0; b < B; b++) {
            a->run[b] = in->encoder_lengths[b] > 0 ? in->encoder_lengths[b] : 1; // packed run uses >= 1
            any_zero |= in->encoder_lengths[b] == 0;
        }
        lstm_forward(m, a, 1, a->e_emb, B, Te, a->run, a->h, a->c, a->lstm_out, (size_t)T * H);
        if (any_zero) {
            // library quirk (§5.4): the final (h, c) of zero-length series are overwritten by
            // masked_scatter from h0 viewed as [L*B, H], consumed in order (layer-major, then the
            // zero-length series), so the k-th patched row gets the initial hidden of series k mod B
            int k = 0;
            for (int l = 0; l < L; l++)
                for (int b = 0; b < B; b++) {
                    if (in->encoder_lengths[b] != 0) continue;
                    const float *src = a->c_h + (size_t)(k % B) * H;
                    memcpy(a->h + ((size_t)l * B + b) * H, src, sizeof(float) * H);
                    memcpy(a->c + ((size_t)l * B + b) * H, src, sizeof(float) * H);
                    k++;
                }
        }
    }
    lstm_forward(m, a, 0, a->d_emb, B, Td, in->decoder_lengths, a->h, a->c, a->lstm_out + (size_t)Te * H,
                 (size_t)T * H);

    // ---- post-LSTM gate + add&norm (§5.5), static enrichment (§5.6), over all B*T rows ----
    tft_op_gate_add_norm(a->phi, a->lstm_out, B * T, H, H, m->post_lstm_glu_w, m->post_lstm_glu_b, a->emb, H,
                         m->post_lstm_ln_w, m->post_lstm_ln_b, scr);
    tft_op_grn(a->theta, a->phi, H, B * T, &m->enrich, a->ctx_enr, T, scr);

    // ---- interpretable multi-head attention (§5.7): decoder queries over all keys -------------
    tft_op_linear(a->K, NHD, a->theta, H, m->att_k_w, m->att_k_b, B * T, H, NHD, 0);
    tft_op_linear(a->V, D, a->theta, H, m->att_v_w, m->att_v_b, B * T, H, D, 0);
    for (int b = 0; b < B; b++) {
        memcpy(a->q_in + (size_t)b * Td * H, a->theta + ((size_t)b * T + Te) * H, sizeof(float) * (size_t)Td * H);
        memcpy(a->phi_dec + (size_t)b * Td * H, a->phi + ((size_t)b * T + Te) * H, sizeof(float) * (size_t)Td * H);
    }
    tft_op_linear(a->Qm, NHD, a->q_in, H, m->att_q_w, m->att_q_b, B * Td, H, NHD, 0);
    tft_op_attention(a->att_o, a->attn, a->Qm, a->K, a->V, in->encoder_lengths, in->decoder_lengths, B, Te, Td, NH,
                     D, m->causal, m->mask_bias);
    tft_op_linear(a->att_p, H, a->att_o, D, m->att_wh, NULL, B * Td, D, H, 0);

    // ---- gates, position-wise GRN, output layers (§5.8) ------------------------------------
    tft_op_gate_add_norm(a->alpha, a->att_p, B * Td, H, H, m->post_attn_glu_w, m->post_attn_glu_b, a->q_in, H,
                         m->post_attn_ln_w, m->post_attn_ln_b, scr);
    tft_op_grn(a->psi, a->alpha, H, B * Td, &m->pos_ff, NULL, 1, scr);
    tft_op_gate_add_norm(a->out, a->psi, B * Td, H, H, m->pre_out_glu_w, m->pre_out_glu_b, a->phi_dec, H,
                         m->pre_out_ln_w, m->pre_out_ln_b, scr);
    tft_op_linear(a->y, NTQ, a->out, H, m->out_w, m->out_b, B * Td, H, NTQ, 0); // [B*Td, NT*Q]

    // ---- outputs ------------------------------------------------------------------------------
    const int Q = m->Q;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < m->NT; j++)
            for (int t = 0; t < Td; t++) {
                const float *src = a->y + ((size_t)b * Td + t) * NTQ + (size_t)j * Q;
                size_t       o   = (((size_t)b * m->NT + j) * Td + t) * Q;
                if (out->prediction_normalized) memcpy(out->prediction_normalized + o, src, sizeof(float) * Q);
                if (out->prediction) {
                    const float *ts = in->target_scale + ((size_t)b * m->NT + j) * 2;
                    tft_op_denormalize(out->prediction + o, src, (size_t)Q, ts[0], ts[1], m->target_norm[j].tf);
                }
            }
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Td; t++)
            for (int h = 0; h < NH; h++) {
                const float *row = a->attn + (((size_t)b * Td + t) * NH + h) * T;
                if (out->encoder_attention)
                    memcpy(out->encoder_attention + (((size_t)b * Td + t) * NH + h) * Te, row, sizeof(float) * Te);
                if (out->decoder_attention)
                    memcpy(out->decoder_attention + (((size_t)b * Td + t) * NH + h) * Td, row + Te,
                           sizeof(float) * Td);
            }
    if (out->static_weights && m->vsn_static.n > 0)
        memcpy(out->static_weights, a->s_w, sizeof(float) * (size_t)B * m->vsn_static.n);
    if (out->encoder_weights && m->vsn_enc.n > 0)
        memcpy(out->encoder_weights, a->e_w, sizeof(float) * (size_t)B * Te * m->vsn_enc.n);
    if (out->decoder_weights && m->vsn_dec.n > 0)
        memcpy(out->decoder_weights, a->d_w, sizeof(float) * (size_t)B * Td * m->vsn_dec.n);
    return TFT_OK;
}
