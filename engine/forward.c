// forward.c: the TFT graph walk (TFT_SPEC.md §5), on validated network-level input, with every
// activation in the context's arena.
//
// Two phases. The static covariate encoder and the static contexts run once over the whole batch
// (B rows). Everything else runs on chunks of TFT_CHUNK series at a time, so that a chunk's
// activations (~0.5 MiB per series for the default model) stay in the caches between the ops
// instead of streaming [B*T, H] arrays through memory; time-distributed ops run over all rows of
// the chunk, the LSTM one small GEMM per step over the chunk's series still inside their lengths.
// Every op computes a row the same way whatever rows surround it, so the chunking (like the
// batch) changes no bit of any series' result.
//
// Row layouts within a chunk: the joined sequences (emb, lstm_out, phi, theta, K, V) are [C, T]
// with each series' Te encoder steps first; decoder-only rows (Qm, att_*, alpha, psi, out, y) are
// [C, Td]. Batch-wide: the static rows [B], the selection weights e_w [B*Te], d_w [B*Td] and the
// attention weights attn [B, Td, NH, T] (outputs, read by the callers after the walk).
#include <string.h>
#include "internal.h"

// Variable selection network (§3.8) over R rows, in blocks of TFT_VSN_ROWS rows: a block's inputs,
// its single-variable GRN outputs and the flattened GRN run while the block is in L1. Row r reads
// its reals at cont + r*cont_stride and its categoricals at cat + r*cat_stride (stride = one time
// step for the temporal VSNs, one whole series for the static VSN, which reads time step 0).
// flat: [TFT_VSN_ROWS, in_total] scratch   outs: [n, TFT_VSN_ROWS, H] scratch
// w: [R, n] (selection weights out)   y: [R, H]
// ctx_add: NULL or [hid] the projected static context of the flattened GRN, the same for all R rows
// (a temporal VSN runs on one series at a time)
static void vsn_forward(const tft_model *m, const tft_vsn *v, int R, const float *cont, int cont_stride,
                        const int32_t *cat, int cat_stride, const float *ctx_add, float *flat, float *outs, float *w,
                        float *y, float *scratch) {
    const int H = m->H, I = v->in_total, nv = v->n;
    if (nv == 0) { // no variables: zeros (the library returns zeros of the context's shape)
        memset(y, 0, sizeof(float) * (size_t)R * H);
        return;
    }
    for (int r0 = 0; r0 < R; r0 += TFT_VSN_ROWS) {
        const int      n  = R - r0 < TFT_VSN_ROWS ? R - r0 : TFT_VSN_ROWS;
        const float   *cb = cont + (size_t)r0 * cont_stride;
        const int32_t *ib = cat + (size_t)r0 * cat_stride;
        float         *yb = y + (size_t)r0 * H;
        int            off = 0;
        for (int k = 0; k < nv; k++) {
            const tft_var *x = &v->vars[k];
            if (x->is_real) {
                tft_op_prescale(flat + off, I, cb + x->real_col, cont_stride, x->pre_w, x->pre_b, n, x->width);
            } else {
                const tft_emb *e = &m->embs[x->emb];
                tft_op_embedding(flat + off, I, ib, cat_stride, e->cols, e->ncols, e->table, n, e->dim);
            }
            float *o = nv == 1 ? yb : outs + (size_t)k * n * H; // [n, H] planes of this block
            if (x->is_grn) tft_op_grn(o, flat + off, I, n, &x->grn, NULL, 1, scratch);
            else tft_op_resample_norm(o, flat + off, I, n, x->width, H, x->rs_mask, x->rs_w, x->rs_b);
            off += x->width;
        }
        float *wb = w + (size_t)r0 * nv;
        if (nv == 1) { // a single variable: no selection, the context is ignored, weight 1
            for (int r = 0; r < n; r++) wb[r] = 1.0f;
            continue;
        }
        tft_op_grn(wb, flat, I, n, &v->flat, ctx_add, TFT_VSN_ROWS, scratch); // logits [n, nv]
        tft_op_softmax(wb, n, nv);
        tft_op_vsn_combine(yb, outs, wb, n, nv, H);
    }
}

// One direction of pytorch-forecasting's packed LSTM (§5.4) for B series of S steps.
// x: row (b, t) at x + b*x_stride + t*H   run: [B] steps each series runs (0..S)
// h, c: [L, B, H] initial state in, final state out (a series' state freezes after its last step)
// out: row (b, t) at out + b*out_stride + t*H; zero at t >= run[b].
// The series are sorted by run length, longest first, so the ones still running at step t are a
// prefix (rows [0, n) of the sorted state hrow/crow). The input projection of every step is one
// GEMM per series, written time-major in that order (xp row t*B + i), so step t reads its n rows
// contiguously; each step is then one small GEMM h·W_hhᵀ + b_hh and the fused gate-sum + cell.
// xp0: NULL, or layer 0's input projection already computed in that layout (by another lane).
static void lstm_forward(const tft_model *m, tft_acts *a, int enc, const float *x, size_t x_stride, int B, int S,
                         const int32_t *run, float *h, float *c, float *out, size_t out_stride, const float *xp0) {
    const int H = m->H, H4 = 4 * m->H;
    int32_t  *order = a->order;
    for (int b = 0; b < B; b++) order[b] = b;
    for (int i = 1; i < B; i++) { // stable insertion sort, B is small
        int32_t v = order[i], j = i - 1;
        while (j >= 0 && run[order[j]] < run[v]) order[j + 1] = order[j], j--;
        order[j + 1] = v;
    }
    const int    max_run   = B ? run[order[0]] : 0;
    const float *in        = x;
    size_t       in_stride = x_stride;
    for (int l = 0; l < m->L; l++) {
        const float *w_ih   = enc ? m->lstm_enc[l].w_ih : m->lstm_dec[l].w_ih;
        const float *w_hh   = enc ? m->lstm_enc[l].w_hh : m->lstm_dec[l].w_hh;
        const float *b_ih   = enc ? m->lstm_enc[l].b_ih : m->lstm_dec[l].b_ih;
        const float *b_hh   = enc ? m->lstm_enc[l].b_hh : m->lstm_dec[l].b_hh;
        const float *w_ih_p = enc ? m->lstm_enc[l].w_ih_p : m->lstm_dec[l].w_ih_p;
        const float *w_hh_p = enc ? m->lstm_enc[l].w_hh_p : m->lstm_dec[l].w_hh_p;
        // this layer's output: the caller's for the last layer, else a [B, S, H] buffer
        float       *lo        = l == m->L - 1 ? out : (l % 2 == 0) ? a->layer_a : a->layer_b;
        const size_t lo_stride = l == m->L - 1 ? out_stride : (size_t)S * H;
        // input projection of the steps each series runs: xp[t*B + i] = in[order[i], t]·W_ihᵀ + b_ih
        const float *xp = l == 0 && xp0 ? xp0 : a->xp;
        for (int i = 0; xp == a->xp && i < B; i++)
            tft_op_linear_packed(a->xp + (size_t)i * H4, B * H4, in + (size_t)order[i] * in_stride, H, w_ih, w_ih_p,
                                 b_ih, run[order[i]], H, H4, 0);
        float *hl = h + (size_t)l * B * H, *cl = c + (size_t)l * B * H;
        for (int i = 0; i < B; i++) {
            memcpy(a->hrow + (size_t)i * H, hl + (size_t)order[i] * H, sizeof(float) * H);
            memcpy(a->crow + (size_t)i * H, cl + (size_t)order[i] * H, sizeof(float) * H);
        }
        int n = B;
        for (int t = 0; t < max_run; t++) {
            while (n > 0 && run[order[n - 1]] <= t) n--;
            // gates = (x_t·W_ihᵀ + b_ih) + (h·W_hhᵀ + b_hh), summed as torch's LSTM cell does
            tft_op_linear_packed(a->hh, H4, a->hrow, H, w_hh, w_hh_p, b_hh, n, H, H4, 0);
            tft_op_lstm_cell_add(a->hrow, a->crow, xp + (size_t)t * B * H4, a->hh, n, H);
            for (int i = 0; i < n; i++)
                memcpy(lo + order[i] * lo_stride + (size_t)t * H, a->hrow + (size_t)i * H, sizeof(float) * H);
        }
        for (int b = 0; b < B; b++) // padded steps: zero, as the library's unpacked output
            if (run[b] < S)
                memset(lo + b * lo_stride + (size_t)run[b] * H, 0, sizeof(float) * (size_t)(S - run[b]) * H);
        for (int i = 0; i < B; i++) {
            memcpy(hl + (size_t)order[i] * H, a->hrow + (size_t)i * H, sizeof(float) * H);
            memcpy(cl + (size_t)order[i] * H, a->crow + (size_t)i * H, sizeof(float) * H);
        }
        in        = lo;
        in_stride = lo_stride;
    }
}

// Static covariate encoder (§5.2) and the static contexts over the whole batch: s_xi, c_sel, c_h,
// c_c, c_enr [B, H], their projections ctx_e, ctx_d, ctx_enr (once per series instead of once per
// time step), and the static selection weights s_w [B, ns].
static void static_phase(const tft_model *m, tft_acts *a, const tft_net_input *in) {
    const int      B = in->n, H = m->H, Te = in->enc_steps, Td = in->dec_steps;
    const float   *s_cont = Te > 0 ? in->encoder_cont : in->decoder_cont; // static inputs: time step 0
    const int32_t *s_cat  = Te > 0 ? in->encoder_cat : in->decoder_cat;
    const int      s_step = Te > 0 ? Te : Td;
    float         *scr    = a->scratch;
    if (m->vsn_static.n > 0)
        vsn_forward(m, &m->vsn_static, B, s_cont, s_step * m->n_reals, s_cat, s_step * m->n_cats, NULL, a->v_flat,
                    a->v_outs, a->s_w, a->s_xi, scr);
    else
        memset(a->s_xi, 0, sizeof(float) * (size_t)B * H);
    tft_op_grn(a->c_sel, a->s_xi, H, B, &m->sc_sel, NULL, 1, scr);
    tft_op_grn(a->c_h, a->s_xi, H, B, &m->sc_h, NULL, 1, scr);
    tft_op_grn(a->c_c, a->s_xi, H, B, &m->sc_c, NULL, 1, scr);
    tft_op_grn(a->c_enr, a->s_xi, H, B, &m->sc_enr, NULL, 1, scr);
    if (m->vsn_enc.n > 1)
        tft_op_linear_packed(a->ctx_e, m->vsn_enc.flat.hid, a->c_sel, H, m->vsn_enc.flat.ctx_w, m->ctx_e_p, NULL, B,
                             H, m->vsn_enc.flat.hid, 0);
    if (m->vsn_dec.n > 1)
        tft_op_linear_packed(a->ctx_d, m->vsn_dec.flat.hid, a->c_sel, H, m->vsn_dec.flat.ctx_w, m->ctx_d_p, NULL, B,
                             H, m->vsn_dec.flat.hid, 0);
    tft_op_linear_packed(a->ctx_enr, H, a->c_enr, H, m->enrich.ctx_w, m->ctx_enr_p, NULL, B, H, H, 0);
}

// Everything after the static encoder, for series [lo, lo + C) of the batch (in, out: the whole
// batch; the chunk's rows are written at their places in out and in the batch-wide buffers).
// Z = series of the batch with no history; zpos = those before lo.
static void chunk_phase(const tft_model *m, tft_acts *a, const tft_net_input *in, const tft_net_output *out, int lo,
                        int C, int Z, int zpos) {
    const int      B = in->n, Te = in->enc_steps, Td = in->dec_steps, T = Te + Td;
    const int      H = m->H, L = m->L, NH = m->NH, D = m->D, NHD = m->NH * m->D;
    const int      Nr = m->n_reals, Nc = m->n_cats, NTQ = m->NT * m->Q, ne = m->vsn_enc.n, nd = m->vsn_dec.n;
    const int32_t *enc_len = in->encoder_lengths + lo, *dec_len = in->decoder_lengths + lo;
    float         *scr = a->scratch;
    const size_t   TH  = (size_t)T * H;

    // ---- temporal variable selection (§5.3), one series at a time, straight into emb ----------
    for (int b = 0; b < C; b++) {
        const size_t g = (size_t)lo + b; // the series' place in the batch
        if (Te > 0)
            vsn_forward(m, &m->vsn_enc, Te, in->encoder_cont + g * Te * Nr, Nr, in->encoder_cat + g * Te * Nc, Nc,
                        ne > 1 ? a->ctx_e + g * m->vsn_enc.flat.hid : NULL, a->v_flat, a->v_outs,
                        a->e_w + g * Te * (ne > 0 ? ne : 1), a->emb + b * TH, scr);
        vsn_forward(m, &m->vsn_dec, Td, in->decoder_cont + g * Td * Nr, Nr, in->decoder_cat + g * Td * Nc, Nc,
                    nd > 1 ? a->ctx_d + g * m->vsn_dec.flat.hid : NULL, a->v_flat, a->v_outs,
                    a->d_w + g * Td * (nd > 0 ? nd : 1), a->emb + b * TH + (size_t)Te * H, scr);
    }

    // ---- LSTM encoder and decoder (§5.4) ---------------------------------------------------
    for (int l = 0; l < L; l++) { // initial state: the static contexts, the same for every layer
        memcpy(a->h + (size_t)l * C * H, a->c_h + (size_t)lo * H, sizeof(float) * (size_t)C * H);
        memcpy(a->c + (size_t)l * C * H, a->c_c + (size_t)lo * H, sizeof(float) * (size_t)C * H);
    }
    if (Te == 0) { // the whole batch has no history: zero encoder state (h0, c0 ignored)
        memset(a->h, 0, sizeof(float) * (size_t)L * C * H);
        memset(a->c, 0, sizeof(float) * (size_t)L * C * H);
    } else {
        for (int b = 0; b < C; b++) a->run[b] = enc_len[b] > 0 ? enc_len[b] : 1; // packed run uses >= 1
        lstm_forward(m, a, 1, a->emb, TH, C, Te, a->run, a->h, a->c, a->lstm_out, TH, NULL);
        if (Z > 0) {
            // library quirk (§5.4): the final (h, c) of zero-length series are overwritten by
            // masked_scatter from h0 viewed as [L*B, H], consumed in order (layer-major, then the
            // zero-length series of the whole batch), so the k-th patched row gets the initial
            // hidden of series k mod B: for layer l and the z-th such series, k = l*Z + z
            for (int l = 0; l < L; l++)
                for (int b = 0, z = zpos; b < C; b++) {
                    if (enc_len[b] != 0) continue;
                    const float *src = a->c_h + (size_t)(((size_t)l * Z + z) % (size_t)B) * H;
                    memcpy(a->h + ((size_t)l * C + b) * H, src, sizeof(float) * H);
                    memcpy(a->c + ((size_t)l * C + b) * H, src, sizeof(float) * H);
                    z++;
                }
        }
    }
    lstm_forward(m, a, 0, a->emb + (size_t)Te * H, TH, C, Td, dec_len, a->h, a->c, a->lstm_out + (size_t)Te * H,
                 TH, NULL);

    // ---- post-LSTM gate + add&norm (§5.5), static enrichment (§5.6), over all C*T rows ----
    tft_op_gate_add_norm_p(a->phi, a->lstm_out, C * T, H, H, m->post_lstm_glu_w, m->post_lstm_glu_p,
                           m->post_lstm_glu_b, a->emb, H, m->post_lstm_ln_w, m->post_lstm_ln_b, scr);
    tft_op_grn(a->theta, a->phi, H, C * T, &m->enrich, a->ctx_enr + (size_t)lo * H, T, scr);

    // ---- interpretable multi-head attention (§5.7): decoder queries over all keys -------------
    tft_op_linear_packed(a->K, NHD, a->theta, H, m->att_k_w, m->att_k_p, m->att_k_b, C * T, H, NHD, 0);
    tft_op_linear_packed(a->V, D, a->theta, H, m->att_v_w, m->att_v_p, m->att_v_b, C * T, H, D, 0);
    for (int b = 0; b < C; b++) // queries: the decoder rows of theta
        tft_op_linear_packed(a->Qm + (size_t)b * Td * NHD, NHD, a->theta + b * TH + (size_t)Te * H, H, m->att_q_w,
                             m->att_q_p, m->att_q_b, Td, H, NHD, 0);
    float *attn = a->attn + (size_t)lo * Td * NH * T;
    tft_op_attention(a->att_o, attn, a->Qm, a->K, a->V, enc_len, dec_len, C, Te, Td, NH, D, m->causal, m->mask_bias,
                     a->kt);
    tft_op_linear_packed(a->att_p, H, a->att_o, D, m->att_wh, m->att_wh_p, NULL, C * Td, D, H, 0);

    // ---- gates, position-wise GRN, output layers (§5.8) ------------------------------------
    for (int b = 0; b < C; b++) // skip: the decoder rows of theta
        tft_op_gate_add_norm_p(a->alpha + (size_t)b * Td * H, a->att_p + (size_t)b * Td * H, Td, H, H,
                               m->post_attn_glu_w, m->post_attn_glu_p, m->post_attn_glu_b,
                               a->theta + b * TH + (size_t)Te * H, H, m->post_attn_ln_w, m->post_attn_ln_b, scr);
    tft_op_grn(a->psi, a->alpha, H, C * Td, &m->pos_ff, NULL, 1, scr);
    for (int b = 0; b < C; b++) // skip: the decoder rows of phi (the post-LSTM decoder output)
        tft_op_gate_add_norm_p(a->out + (size_t)b * Td * H, a->psi + (size_t)b * Td * H, Td, H, H, m->pre_out_glu_w,
                               m->pre_out_glu_p, m->pre_out_glu_b, a->phi + b * TH + (size_t)Te * H, H,
                               m->pre_out_ln_w, m->pre_out_ln_b, scr);
    tft_op_linear_packed(a->y, NTQ, a->out, H, m->out_w, m->out_p, m->out_b, C * Td, H, NTQ, 0); // [C*Td, NT*Q]

    // ---- outputs of the chunk ------------------------------------------------------------------
    const int Q = m->Q;
    for (int b = 0; b < C; b++) {
        const size_t g = (size_t)lo + b;
        for (int j = 0; j < m->NT; j++)
            for (int t = 0; t < Td; t++) {
                const float *src = a->y + ((size_t)b * Td + t) * NTQ + (size_t)j * Q;
                size_t       o   = ((g * m->NT + j) * Td + t) * Q;
                if (out->prediction_normalized) memcpy(out->prediction_normalized + o, src, sizeof(float) * Q);
                if (out->prediction) {
                    const float *ts = in->target_scale + (g * m->NT + j) * 2;
                    tft_op_denormalize(out->prediction + o, src, (size_t)Q, ts[0], ts[1], m->target_norm[j].tf);
                }
            }
        for (int t = 0; out->encoder_attention || out->decoder_attention ? t < Td : 0; t++)
            for (int h = 0; h < NH; h++) {
                const float *row = attn + (((size_t)b * Td + t) * NH + h) * T;
                if (out->encoder_attention)
                    memcpy(out->encoder_attention + ((g * Td + t) * NH + h) * Te, row, sizeof(float) * Te);
                if (out->decoder_attention)
                    memcpy(out->decoder_attention + ((g * Td + t) * NH + h) * Td, row + Te, sizeof(float) * Td);
            }
    }
}

static void forward_chunks(const tft_model *m, tft_acts *a, const tft_net_input *in, tft_net_output *out);

// ---- one series on several threads ------------------------------------------------------------
// A call with one series has nothing to split by series, so when the context has idle worker lanes
// its rows are split instead: the time-distributed ops by rows, the attention by queries, and the
// decoder's input projection and the encoder steps' post-LSTM layers overlap the two LSTM
// recurrences (which stay on one thread). Every lane works in lane 0's activations (disjoint rows)
// with its own scratch; a spinning barrier separates the phases. Each row is computed by the same
// ops as in a single-threaded call, so the result is bitwise the same.
typedef struct split_job {
    const tft_model      *m;
    const tft_net_input  *in;
    const tft_net_output *out;
    tft_acts             *al[TFT_MAX_LANES]; // each lane's own arena (al[0]: the shared activations)
    int                   nl;
    tft_barrier           bar;
} split_job;

// Rows [lo, hi) of n for part p of np, part 0 weighing w0 (in halves: 2 = an equal share).
static void part_of(int n, int p, int np, int w0, int *lo, int *hi) {
    const long long tot = w0 + 2LL * (np - 1);
    const long long a = p == 0 ? 0 : w0 + 2LL * (p - 1), b = w0 + 2LL * p;
    *lo = (int)(n * a / tot);
    *hi = (int)(n * (p == np - 1 ? tot : b) / tot);
}

// Queries [lo, hi) for part p of np with about equal attention work: query q sums over ne + nv(q)
// keys (plus a fixed cost for its rows' other layers, counted as 2*JBLK keys).
static void query_part(int ne, int Td, int causal, int dec_len, int p, int np, int *lo, int *hi) {
    long long tot = 0;
    for (int q = 0; q < Td; q++) tot += ne + (causal ? q : dec_len) + 128;
    long long acc = 0;
    *lo = Td, *hi = Td;
    for (int q = 0; q < Td; q++) {
        if (acc * np >= tot * p && *lo == Td) *lo = q;
        acc += ne + (causal ? q : dec_len) + 128;
        if (acc * np >= tot * (p + 1)) {
            *hi = q + 1;
            break;
        }
    }
    if (p == np - 1) *hi = Td;
    if (*lo > *hi) *lo = *hi;
}

// Post-LSTM gate + add&norm, static enrichment and the K/V projections of the joined rows [r0, r1)
// of the single series (in a's activations, with scratch scr).
static void post_lstm_rows(const tft_model *m, tft_acts *a, int T, int r0, int r1, float *scr) {
    const int H = m->H, NHD = m->NH * m->D, D = m->D, n = r1 - r0;
    if (n <= 0) return;
    const size_t o = (size_t)r0 * H;
    tft_op_gate_add_norm_p(a->phi + o, a->lstm_out + o, n, H, H, m->post_lstm_glu_w, m->post_lstm_glu_p,
                           m->post_lstm_glu_b, a->emb + o, H, m->post_lstm_ln_w, m->post_lstm_ln_b, scr);
    tft_op_grn(a->theta + o, a->phi + o, H, n, &m->enrich, a->ctx_enr, T, scr);
    tft_op_linear_packed(a->K + (size_t)r0 * NHD, NHD, a->theta + o, H, m->att_k_w, m->att_k_p, m->att_k_b, n, H, NHD,
                         0);
    tft_op_linear_packed(a->V + (size_t)r0 * D, D, a->theta + o, H, m->att_v_w, m->att_v_p, m->att_v_b, n, H, D, 0);
}

static void split_lane(void *arg, int lane) {
    split_job           *j  = arg;
    const tft_model     *m  = j->m;
    const tft_net_input *in = j->in;
    tft_acts            *a = j->al[0], *my = j->al[lane];
    const int            nl = j->nl, Te = in->enc_steps, Td = in->dec_steps, T = Te + Td;
    const int H = m->H, NH = m->NH, D = m->D, NHD = m->NH * m->D, Nr = m->n_reals, Nc = m->n_cats;
    const int ne = m->vsn_enc.n, nd = m->vsn_dec.n, NTQ = m->NT * m->Q, Q = m->Q;
    int       lo, hi;

    if (lane == 0) static_phase(m, a, in);
    tft_barrier_wait(&j->bar);

    // the encoder's variable selection: rows split across the lanes
    part_of(Te, lane, nl, 2, &lo, &hi);
    if (hi > lo)
        vsn_forward(m, &m->vsn_enc, hi - lo, in->encoder_cont + (size_t)lo * Nr, Nr, in->encoder_cat + (size_t)lo * Nc,
                    Nc, ne > 1 ? a->ctx_e : NULL, my->v_flat, my->v_outs, a->e_w + (size_t)lo * (ne > 0 ? ne : 1),
                    a->emb + (size_t)lo * H, my->scratch);
    tft_barrier_wait(&j->bar);

    // lane 0: the encoder LSTM; meanwhile the decoder's variable selection (rows split across the
    // other lanes), then lane 1: the decoder's layer-0 input projection (in lane 1's xp)
    const int32_t *dec_len = in->decoder_lengths;
    if (lane == 0) {
        for (int l = 0; l < m->L; l++) {
            memcpy(a->h + (size_t)l * H, a->c_h, sizeof(float) * H);
            memcpy(a->c + (size_t)l * H, a->c_c, sizeof(float) * H);
        }
        if (Te == 0) { // no history (a single series: Te = its length = 0): zero encoder state
            memset(a->h, 0, sizeof(float) * (size_t)m->L * H);
            memset(a->c, 0, sizeof(float) * (size_t)m->L * H);
        } else {
            a->run[0] = in->encoder_lengths[0] > 0 ? in->encoder_lengths[0] : 1;
            lstm_forward(m, a, 1, a->emb, (size_t)T * H, 1, Te, a->run, a->h, a->c, a->lstm_out, (size_t)T * H, NULL);
        }
    } else {
        part_of(Td, lane - 1, nl - 1, 2, &lo, &hi);
        if (hi > lo)
            vsn_forward(m, &m->vsn_dec, hi - lo, in->decoder_cont + (size_t)lo * Nr, Nr,
                        in->decoder_cat + (size_t)lo * Nc, Nc, nd > 1 ? a->ctx_d : NULL, my->v_flat, my->v_outs,
                        a->d_w + (size_t)lo * (nd > 0 ? nd : 1), a->emb + (size_t)(Te + lo) * H, my->scratch);
    }
    if (nl > 2) tft_barrier_wait(&j->bar); // lane 1 reads all decoder rows of emb
    if (lane == 1)
        tft_op_linear_packed(my->xp, 4 * H, a->emb + (size_t)Te * H, H, m->lstm_dec[0].w_ih, m->lstm_dec[0].w_ih_p,
                             m->lstm_dec[0].b_ih, dec_len[0], H, 4 * H, 0);
    tft_barrier_wait(&j->bar);

    // lane 0: the decoder LSTM, then a smaller share of the encoder rows' post-LSTM layers and K/V
    if (lane == 0)
        lstm_forward(m, a, 0, a->emb + (size_t)Te * H, (size_t)T * H, 1, Td, dec_len, a->h, a->c,
                     a->lstm_out + (size_t)Te * H, (size_t)T * H, j->al[1]->xp);
    part_of(Te, lane, nl, 1, &lo, &hi);
    post_lstm_rows(m, a, T, lo, hi, my->scratch);
    tft_barrier_wait(&j->bar);

    // the decoder rows' post-LSTM layers, K/V and queries: rows split across the lanes
    part_of(Td, lane, nl, 2, &lo, &hi);
    post_lstm_rows(m, a, T, Te + lo, Te + hi, my->scratch);
    if (hi > lo)
        tft_op_linear_packed(a->Qm + (size_t)lo * NHD, NHD, a->theta + (size_t)(Te + lo) * H, H, m->att_q_w, m->att_q_p,
                             m->att_q_b, hi - lo, H, NHD, 0);
    tft_barrier_wait(&j->bar);

    // attention: queries split by work; then the rest of the decoder rows on the same split (no
    // barrier: a decoder row depends only on its own query's attention output)
    const int ne0 = in->encoder_lengths[0] < Te ? in->encoder_lengths[0] : Te;
    query_part(ne0 > 0 ? ne0 : 0, Td, m->causal, dec_len[0], lane, nl, &lo, &hi);
    tft_op_attention_q(a->att_o, a->attn, a->Qm, a->K, a->V, in->encoder_lengths, dec_len, 1, Te, Td, NH, D, m->causal,
                       m->mask_bias, my->kt, lo, hi);
    const int n = hi - lo;
    if (n <= 0) return;
    tft_op_linear_packed(a->att_p + (size_t)lo * H, H, a->att_o + (size_t)lo * D, D, m->att_wh, m->att_wh_p, NULL, n, D,
                         H, 0);
    tft_op_gate_add_norm_p(a->alpha + (size_t)lo * H, a->att_p + (size_t)lo * H, n, H, H, m->post_attn_glu_w,
                           m->post_attn_glu_p, m->post_attn_glu_b, a->theta + (size_t)(Te + lo) * H, H,
                           m->post_attn_ln_w, m->post_attn_ln_b, my->scratch);
    tft_op_grn(a->psi + (size_t)lo * H, a->alpha + (size_t)lo * H, H, n, &m->pos_ff, NULL, 1, my->scratch);
    tft_op_gate_add_norm_p(a->out + (size_t)lo * H, a->psi + (size_t)lo * H, n, H, H, m->pre_out_glu_w,
                           m->pre_out_glu_p, m->pre_out_glu_b, a->phi + (size_t)(Te + lo) * H, H, m->pre_out_ln_w,
                           m->pre_out_ln_b, my->scratch);
    tft_op_linear_packed(a->y + (size_t)lo * NTQ, NTQ, a->out + (size_t)lo * H, H, m->out_w, m->out_p, m->out_b, n, H,
                         NTQ, 0);
    const tft_net_output *out = j->out;
    for (int jt = 0; jt < m->NT; jt++)
        for (int t = lo; t < hi; t++) {
            const float *src = a->y + (size_t)t * NTQ + (size_t)jt * Q;
            size_t       o   = ((size_t)jt * Td + t) * Q;
            if (out->prediction_normalized) memcpy(out->prediction_normalized + o, src, sizeof(float) * Q);
            if (out->prediction)
                tft_op_denormalize(out->prediction + o, src, (size_t)Q, in->target_scale[2 * jt],
                                   in->target_scale[2 * jt + 1], m->target_norm[jt].tf);
        }
    for (int t = lo; (out->encoder_attention || out->decoder_attention) && t < hi; t++)
        for (int h = 0; h < NH; h++) {
            const float *row = a->attn + ((size_t)t * NH + h) * T;
            if (out->encoder_attention)
                memcpy(out->encoder_attention + ((size_t)t * NH + h) * Te, row, sizeof(float) * Te);
            if (out->decoder_attention)
                memcpy(out->decoder_attention + ((size_t)t * NH + h) * Td, row + Te, sizeof(float) * Td);
        }
}

tft_status tft_forward(const tft_model *m, tft_acts *a, const tft_net_input *in, tft_net_output *out) {
    const int B = in->n, Te = in->enc_steps, Td = in->dec_steps;
    tft_context *c = a->ctx;
    if (B == 1 && c && a->lane == 0 && c->n_lanes > 1 && !c->pool.busy && c->pool.n > 0) {
        split_job j = {.m = m, .in = in, .out = out, .nl = c->n_lanes};
        for (int l = 0; l < j.nl; l++) j.al[l] = &c->lanes[l].a;
        tft_barrier_init(&j.bar, j.nl);
        tft_pool_run(&c->pool, split_lane, &j, j.nl);
    } else {
        forward_chunks(m, a, in, out);
    }
    if (out->static_weights && m->vsn_static.n > 0)
        memcpy(out->static_weights, a->s_w, sizeof(float) * (size_t)B * m->vsn_static.n);
    if (out->encoder_weights && m->vsn_enc.n > 0)
        memcpy(out->encoder_weights, a->e_w, sizeof(float) * (size_t)B * Te * m->vsn_enc.n);
    if (out->decoder_weights && m->vsn_dec.n > 0)
        memcpy(out->decoder_weights, a->d_w, sizeof(float) * (size_t)B * Td * m->vsn_dec.n);
    return TFT_OK;
}

// The walk on one thread: the static phase, then the chunks.
static void forward_chunks(const tft_model *m, tft_acts *a, const tft_net_input *in, tft_net_output *out) {
    const int B = in->n, Te = in->enc_steps;
    static_phase(m, a, in);
    int Z = 0; // series without history (the zero-length quirk of §5.4 reads the whole batch)
    for (int b = 0; Te > 0 && b < B; b++) Z += in->encoder_lengths[b] == 0;
    for (int lo = 0, zpos = 0; lo < B; lo += a->chunk) {
        const int C = B - lo < a->chunk ? B - lo : a->chunk;
        chunk_phase(m, a, in, out, lo, C, Z, zpos);
        for (int b = lo; Te > 0 && b < lo + C; b++) zpos += in->encoder_lengths[b] == 0;
    }
}
