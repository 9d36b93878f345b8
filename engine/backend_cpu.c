// backend_cpu.c: the CPU backend (backend.h): the graph's blocks as the ops of ops/ on host arrays,
// every activation in the lane's arena (plan.c).
//
// Chunks of TFT_CHUNK series: a chunk's activations (~0.5 MiB per series for the default model)
// stay in the caches between the blocks instead of streaming [B*T, H] arrays through memory;
// time-distributed blocks run over all rows of the chunk when they are contiguous (else series by
// series), the LSTM one small GEMM per step over the chunk's series still inside their lengths.
// Every op computes a row the same way whatever rows surround it, so the chunking (like the batch,
// and like the one-series row split at the end of this file) changes no bit of any series' result.
//
// Row layouts within a chunk: the joined buffers (emb, lstm_out, phi, theta, K, V) are [C, T] with
// each series' Te encoder steps first; the decoder buffers (Qm, att_*, alpha, psi, out, y) are
// [C, Td]. Batch-wide: the static rows [B], the selection weights e_w [B*Te], d_w [B*Td] and the
// attention weights attn [B, Td, NH, T] (outputs, copied to the caller at the end).
#include <string.h>
#include "backend.h"

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


// ---- the backend's state for one forward ------------------------------------------------------
typedef struct cpu_bk {
    const tft_model      *m;
    const tft_weights    *W;
    tft_acts             *a;   // the activations (in a row split: lane 0's, shared by every lane)
    tft_acts             *my;  // this lane's scratch (v_flat, v_outs, scratch, kt, xp); == a unless split
    const tft_net_input  *in;
    const tft_net_output *out;
    int                   lo, C;   // the current chunk: series [lo, lo + C) of the batch
    int                   Z, zpos; // series with no history in the batch, and before lo (§5.4 quirk)
    const float          *xp0;     // a row split: the decoder's layer-0 input projection (lane 1's)
} cpu_bk;

// One operand of a block resolved for series b of the chunk (series buffers: the batch's rows from
// the chunk's first series; with all = 1 the whole batch) at step s0.
typedef struct operand {
    float *p;
    int    width, kind;
} operand;

static operand resolve(const cpu_bk *k, tft_buf b) {
    operand o = {NULL, 0, TFT_KIND_SERIES};
    if (b != TFT_B_NONE) o.p = tft_buf_of(k->m, k->a, b, &o.width, &o.kind);
    return o;
}

static float *row_at(const cpu_bk *k, operand o, int b, int s) {
    const int Te = k->in->enc_steps, Td = k->in->dec_steps, T = Te + Td;
    if (!o.p) return NULL;
    switch (o.kind) {
    case TFT_KIND_JOINED: return o.p + ((size_t)b * T + s) * o.width;
    case TFT_KIND_DECODER: return o.p + ((size_t)b * Td + (s - Te)) * o.width;
    default: return o.p + (size_t)(k->lo + b) * o.width;
    }
}

// A time-distributed block over steps r of the chunk's series runs as one call over all C*r.n rows
// when every operand's rows are contiguous that way (joined buffers over all T steps, decoder
// buffers over all Td, or a single series), else series by series.
static int contiguous(const cpu_bk *k, tft_rows r, const operand *ops, int n) {
    const int Te = k->in->enc_steps, Td = k->in->dec_steps;
    if (k->C == 1) return 1;
    for (int i = 0; i < n; i++) {
        if (ops[i].kind == TFT_KIND_JOINED && !(r.s0 == 0 && r.n == Te + Td)) return 0;
        if (ops[i].kind == TFT_KIND_DECODER && !(r.s0 == Te && r.n == Td)) return 0;
    }
    return 1;
}

// ---- blocks -------------------------------------------------------------------------------------
static const tft_weights *cpu_weights(void *bk) { return ((cpu_bk *)bk)->W; }
static int                cpu_chunk(void *bk) { return ((cpu_bk *)bk)->a->chunk; }

static tft_status cpu_begin(void *bk, const tft_net_input *in, const tft_net_output *out) {
    cpu_bk *k = bk;
    k->in = in, k->out = out, k->lo = 0, k->C = in->n, k->zpos = 0, k->Z = 0;
    for (int b = 0; in->enc_steps > 0 && b < in->n; b++) k->Z += in->encoder_lengths[b] == 0;
    return TFT_OK;
}

static void cpu_begin_chunk(void *bk, int lo, int C) {
    cpu_bk *k = bk;
    for (int b = k->lo; k->in->enc_steps > 0 && b < lo; b++) k->zpos += k->in->encoder_lengths[b] == 0;
    k->lo = lo, k->C = C;
}

static void cpu_static_vsn(void *bk) {
    cpu_bk              *k = bk;
    const tft_model     *m = k->m;
    const tft_net_input *in = k->in;
    tft_acts            *a = k->a;
    const int            B = in->n, Te = in->enc_steps, Td = in->dec_steps;
    const float   *s_cont = Te > 0 ? in->encoder_cont : in->decoder_cont; // static inputs: time step 0
    const int32_t *s_cat  = Te > 0 ? in->encoder_cat : in->decoder_cat;
    const int      s_step = Te > 0 ? Te : Td;
    if (m->vsn_static.n > 0)
        vsn_forward(m, k->W->vsn_static, B, s_cont, s_step * m->n_reals, s_cat, s_step * m->n_cats, NULL,
                    k->my->v_flat, k->my->v_outs, a->s_w, a->s_xi, k->my->scratch);
    else
        memset(a->s_xi, 0, sizeof(float) * (size_t)B * m->H);
}

static void cpu_vsn(void *bk, tft_part part, tft_rows r) {
    cpu_bk              *k = bk;
    const tft_model     *m = k->m;
    const tft_net_input *in = k->in;
    tft_acts            *a = k->a;
    const int Te = in->enc_steps, Td = in->dec_steps, T = Te + Td, H = m->H, Nr = m->n_reals, Nc = m->n_cats;
    if (r.n <= 0) return;
    const int      enc = part == TFT_PART_ENCODER;
    const tft_vsn *v   = enc ? k->W->vsn_enc : k->W->vsn_dec;
    const int      S = enc ? Te : Td, t0 = enc ? r.s0 : r.s0 - Te, nw = v->n > 0 ? v->n : 1;
    const float   *cont = enc ? in->encoder_cont : in->decoder_cont;
    const int32_t *cat  = enc ? in->encoder_cat : in->decoder_cat;
    const float   *ctx  = v->n > 1 ? (enc ? a->ctx_e : a->ctx_d) : NULL;
    float         *wts  = enc ? a->e_w : a->d_w;
    for (int b = 0; b < k->C; b++) { // one series at a time: its rows share the context
        const size_t g = (size_t)k->lo + b, row = g * S + t0;
        vsn_forward(m, v, r.n, cont + row * Nr, Nr, cat + row * Nc, Nc, ctx ? ctx + g * v->flat.hid : NULL,
                    k->my->v_flat, k->my->v_outs, wts + row * nw, a->emb + ((size_t)b * T + r.s0) * H, k->my->scratch);
    }
}

static void cpu_grn(void *bk, const tft_grn_w *w, tft_buf xb, tft_buf cb, tft_buf yb, tft_rows r) {
    cpu_bk       *k = bk;
    const operand x = resolve(k, xb), c = resolve(k, cb), y = resolve(k, yb), ops[2] = {x, y};
    if (x.kind == TFT_KIND_SERIES) { // the static contexts: the whole batch
        tft_op_grn(y.p, x.p, x.width, k->in->n, w, c.p, 1, k->my->scratch);
        return;
    }
    if (r.n <= 0) return;
    if (contiguous(k, r, ops, 2)) {
        tft_op_grn(row_at(k, y, 0, r.s0), row_at(k, x, 0, r.s0), x.width, k->C * r.n, w, row_at(k, c, 0, 0), r.n,
                   k->my->scratch);
        return;
    }
    for (int b = 0; b < k->C; b++)
        tft_op_grn(row_at(k, y, b, r.s0), row_at(k, x, b, r.s0), x.width, r.n, w, row_at(k, c, b, 0), r.n,
                   k->my->scratch);
}

static void cpu_linear(void *bk, const tft_lin_w *w, tft_buf xb, tft_buf yb, tft_rows r) {
    cpu_bk       *k = bk;
    const operand x = resolve(k, xb), y = resolve(k, yb), ops[2] = {x, y};
    if (x.kind == TFT_KIND_SERIES) {
        tft_op_linear_packed(y.p, y.width, x.p, x.width, w->w, w->p, w->b, k->in->n, w->in, w->out, 0);
        return;
    }
    if (r.n <= 0) return;
    const int one = contiguous(k, r, ops, 2);
    for (int b = 0; b < (one ? 1 : k->C); b++)
        tft_op_linear_packed(row_at(k, y, b, r.s0), y.width, row_at(k, x, b, r.s0), x.width, w->w, w->p, w->b,
                             one ? k->C * r.n : r.n, w->in, w->out, 0);
}

static void cpu_gate_add_norm(void *bk, const tft_gan_w *w, tft_buf xb, tft_buf sb, tft_buf yb, tft_rows r) {
    cpu_bk       *k = bk;
    const int     H = k->m->H;
    const operand x = resolve(k, xb), s = resolve(k, sb), y = resolve(k, yb), ops[3] = {x, s, y};
    if (r.n <= 0) return;
    const int one = contiguous(k, r, ops, 3);
    for (int b = 0; b < (one ? 1 : k->C); b++)
        tft_op_gate_add_norm_p(row_at(k, y, b, r.s0), row_at(k, x, b, r.s0), one ? k->C * r.n : r.n, H, H, w->glu_w,
                               w->glu_p, w->glu_b, row_at(k, s, b, r.s0), H, w->ln_w, w->ln_b, k->my->scratch);
}

static void cpu_lstm(void *bk, tft_part part) {
    cpu_bk              *k = bk;
    const tft_model     *m = k->m;
    const tft_net_input *in = k->in;
    tft_acts            *a = k->a;
    const int            C = k->C, lo = k->lo, Te = in->enc_steps, Td = in->dec_steps, H = m->H, L = m->L;
    const size_t         TH = (size_t)(Te + Td) * H;
    if (part == TFT_PART_DECODER) {
        lstm_forward(m, a, 0, a->emb + (size_t)Te * H, TH, C, Td, in->decoder_lengths + lo, a->h, a->c,
                     a->lstm_out + (size_t)Te * H, TH, k->xp0);
        return;
    }
    for (int l = 0; l < L; l++) { // initial state: the static contexts, the same for every layer
        memcpy(a->h + (size_t)l * C * H, a->c_h + (size_t)lo * H, sizeof(float) * (size_t)C * H);
        memcpy(a->c + (size_t)l * C * H, a->c_c + (size_t)lo * H, sizeof(float) * (size_t)C * H);
    }
    if (Te == 0) { // the whole batch has no history: zero encoder state (h0, c0 ignored)
        memset(a->h, 0, sizeof(float) * (size_t)L * C * H);
        memset(a->c, 0, sizeof(float) * (size_t)L * C * H);
        return;
    }
    const int32_t *enc_len = in->encoder_lengths + lo;
    for (int b = 0; b < C; b++) a->run[b] = enc_len[b] > 0 ? enc_len[b] : 1; // packed run uses >= 1
    lstm_forward(m, a, 1, a->emb, TH, C, Te, a->run, a->h, a->c, a->lstm_out, TH, NULL);
    if (k->Z > 0) {
        // library quirk (§5.4): the final (h, c) of zero-length series are overwritten by
        // masked_scatter from h0 viewed as [L*B, H], consumed in order (layer-major, then the
        // zero-length series of the whole batch), so the k-th patched row gets the initial
        // hidden of series k mod B: for layer l and the z-th such series, k = l*Z + z
        const int B = in->n, Z = k->Z;
        for (int l = 0; l < L; l++)
            for (int b = 0, z = k->zpos; b < C; b++) {
                if (enc_len[b] != 0) continue;
                const float *src = a->c_h + (size_t)(((size_t)l * Z + z) % (size_t)B) * H;
                memcpy(a->h + ((size_t)l * C + b) * H, src, sizeof(float) * H);
                memcpy(a->c + ((size_t)l * C + b) * H, src, sizeof(float) * H);
                z++;
            }
    }
}

static void cpu_attention(void *bk, int q0, int q1) {
    cpu_bk              *k = bk;
    const tft_model     *m = k->m;
    const tft_net_input *in = k->in;
    tft_acts            *a = k->a;
    const int            Te = in->enc_steps, Td = in->dec_steps, T = Te + Td;
    float               *attn = a->attn + (size_t)k->lo * Td * m->NH * T;
    if (q0 == 0 && q1 == Td)
        tft_op_attention(a->att_o, attn, a->Qm, a->K, a->V, in->encoder_lengths + k->lo, in->decoder_lengths + k->lo,
                         k->C, Te, Td, m->NH, m->D, m->causal, m->mask_bias, k->my->kt);
    else
        tft_op_attention_q(a->att_o, attn, a->Qm, a->K, a->V, in->encoder_lengths + k->lo,
                           in->decoder_lengths + k->lo, k->C, Te, Td, m->NH, m->D, m->causal, m->mask_bias,
                           k->my->kt, q0, q1);
}

static void cpu_outputs(void *bk, tft_rows r) {
    cpu_bk               *k = bk;
    const tft_model      *m = k->m;
    const tft_net_input  *in = k->in;
    const tft_net_output *out = k->out;
    tft_acts             *a = k->a;
    const int Te = in->enc_steps, Td = in->dec_steps, T = Te + Td, NH = m->NH, Q = m->Q, NTQ = m->NT * m->Q;
    const int t0 = r.s0 - Te, t1 = t0 + r.n;
    for (int b = 0; b < k->C; b++) {
        const size_t g = (size_t)k->lo + b;
        for (int j = 0; j < m->NT; j++)
            for (int t = t0; t < t1; t++) {
                const float *src = a->y + ((size_t)b * Td + t) * NTQ + (size_t)j * Q;
                size_t       o   = ((g * m->NT + j) * Td + t) * Q;
                if (out->prediction_normalized) memcpy(out->prediction_normalized + o, src, sizeof(float) * Q);
                if (out->prediction) {
                    const float *ts = in->target_scale + (g * m->NT + j) * 2;
                    tft_op_denormalize(out->prediction + o, src, (size_t)Q, ts[0], ts[1], m->target_norm[j].tf);
                }
            }
        for (int t = t0; out->encoder_attention || out->decoder_attention ? t < t1 : 0; t++)
            for (int h = 0; h < NH; h++) {
                const float *row = a->attn + ((g * Td + t) * NH + h) * T;
                if (out->encoder_attention)
                    memcpy(out->encoder_attention + ((g * Td + t) * NH + h) * Te, row, sizeof(float) * Te);
                if (out->decoder_attention)
                    memcpy(out->decoder_attention + ((g * Td + t) * NH + h) * Td, row + Te, sizeof(float) * Td);
            }
    }
}

static tft_status cpu_end(void *bk) {
    cpu_bk               *k = bk;
    const tft_model      *m = k->m;
    const tft_net_output *out = k->out;
    const int             B = k->in->n, Te = k->in->enc_steps, Td = k->in->dec_steps;
    if (out->static_weights && m->vsn_static.n > 0)
        memcpy(out->static_weights, k->a->s_w, sizeof(float) * (size_t)B * m->vsn_static.n);
    if (out->encoder_weights && m->vsn_enc.n > 0)
        memcpy(out->encoder_weights, k->a->e_w, sizeof(float) * (size_t)B * Te * m->vsn_enc.n);
    if (out->decoder_weights && m->vsn_dec.n > 0)
        memcpy(out->decoder_weights, k->a->d_w, sizeof(float) * (size_t)B * Td * m->vsn_dec.n);
    return TFT_OK;
}

const tft_backend tft_backend_cpu = {
    .name = "cpu", .weights = cpu_weights, .chunk = cpu_chunk, .begin = cpu_begin, .begin_chunk = cpu_begin_chunk,
    .static_vsn = cpu_static_vsn, .vsn = cpu_vsn, .grn = cpu_grn, .linear = cpu_linear,
    .gate_add_norm = cpu_gate_add_norm, .lstm = cpu_lstm, .attention = cpu_attention, .outputs = cpu_outputs,
    .end = cpu_end,
};

// ---- one series on several threads ------------------------------------------------------------
// A call with one series has nothing to split by series, so when the context has idle worker lanes
// the graph's nodes are run on parts of its rows instead: the time-distributed blocks by rows, the
// attention by queries, and the decoder's input projection and the encoder steps' post-LSTM blocks
// overlap the two LSTM recurrences (which stay on one thread). Every lane works in lane 0's
// activations (disjoint rows) with its own scratch; a spinning barrier separates the phases. Each
// row is computed by the same ops as in a single-threaded call, so the result is bitwise the same.
typedef struct split_job {
    cpu_bk      k[TFT_MAX_LANES]; // each lane's backend state (k[l].my: lane l's own arena)
    int         nl;
    tft_barrier bar;
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

static void split_lane(void *arg, int lane) {
    split_job           *j  = arg;
    cpu_bk              *k  = &j->k[lane], *k0 = &j->k[0];
    const tft_backend   *be = &tft_backend_cpu;
    const tft_model     *m  = k->m;
    const tft_net_input *in = k->in;
    const int            nl = j->nl, Te = in->enc_steps, Td = in->dec_steps, H = m->H;
    int                  lo, hi;

    if (lane == 0) tft_graph_static(be, k);
    tft_barrier_wait(&j->bar);

    // the encoder's variable selection: rows split across the lanes
    part_of(Te, lane, nl, 2, &lo, &hi);
    be->vsn(k, TFT_PART_ENCODER, (tft_rows){lo, hi - lo});
    tft_barrier_wait(&j->bar);

    // lane 0: the encoder LSTM; meanwhile the decoder's variable selection (rows split across the
    // other lanes), then lane 1: the decoder's layer-0 input projection (in lane 1's xp)
    if (lane == 0) {
        be->lstm(k, TFT_PART_ENCODER);
    } else {
        part_of(Td, lane - 1, nl - 1, 2, &lo, &hi);
        be->vsn(k, TFT_PART_DECODER, (tft_rows){Te + lo, hi - lo});
    }
    if (nl > 2) tft_barrier_wait(&j->bar); // lane 1 reads all decoder rows of emb
    if (lane == 1) {
        const tft_lin_w *ih = &k->W->lstm_dec[0].ih;
        tft_op_linear_packed(k->my->xp, 4 * H, k->a->emb + (size_t)Te * H, H, ih->w, ih->p, ih->b,
                             in->decoder_lengths[0], H, 4 * H, 0);
    }
    tft_barrier_wait(&j->bar);

    // lane 0: the decoder LSTM, then a smaller share of the encoder rows' post-LSTM blocks
    if (lane == 0) {
        k0->xp0 = j->k[1].my->xp;
        be->lstm(k, TFT_PART_DECODER);
    }
    part_of(Te, lane, nl, 1, &lo, &hi);
    tft_graph_post_lstm(be, k, (tft_rows){lo, hi - lo});
    tft_barrier_wait(&j->bar);

    // the decoder rows' post-LSTM blocks and queries: rows split across the lanes
    part_of(Td, lane, nl, 2, &lo, &hi);
    tft_graph_post_lstm(be, k, (tft_rows){Te + lo, hi - lo});
    tft_graph_queries(be, k, (tft_rows){Te + lo, hi - lo});
    tft_barrier_wait(&j->bar);

    // attention: queries split by work; then the rest of the decoder rows on the same split (no
    // barrier: a decoder row depends only on its own query's attention output)
    const int ne0 = in->encoder_lengths[0] < Te ? in->encoder_lengths[0] : Te;
    query_part(ne0 > 0 ? ne0 : 0, Td, m->causal, in->decoder_lengths[0], lane, nl, &lo, &hi);
    if (hi > lo) be->attention(k, lo, hi);
    tft_graph_decoder_tail(be, k, (tft_rows){Te + lo, hi - lo});
}

// The forward on the CPU backend, in one lane's activations (a one-series call on lane 0 of a
// context with idle lanes: split across them).
tft_status tft_forward_cpu(const tft_model *m, tft_acts *a, const tft_net_input *in, tft_net_output *out) {
    tft_weights  W;
    tft_context *c = a->ctx;
    tft_weights_host(m, &W);
    if (in->n == 1 && c && a->lane == 0 && c->n_lanes > 1 && !c->pool.busy && c->pool.n > 0) {
        split_job j = {.nl = c->n_lanes};
        for (int l = 0; l < j.nl; l++) {
            j.k[l] = (cpu_bk){.m = m, .W = &W, .a = a, .my = &c->lanes[l].a};
            cpu_begin(&j.k[l], in, out);
        }
        tft_barrier_init(&j.bar, j.nl);
        tft_pool_run(&c->pool, split_lane, &j, j.nl);
        return cpu_end(&j.k[0]);
    }
    cpu_bk k = {.m = m, .W = &W, .a = a, .my = a};
    return tft_graph_run(&tft_backend_cpu, &k, in, out);
}
