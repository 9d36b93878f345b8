// plan.c: every activation of one forecast, sized once for (model, max_batch) and carved from a
// single arena (llm.c's fill_in_activation_sizes, ggml's reserve-the-worst-case). The same carve
// runs twice: with base == NULL it only adds up the bytes, then on the real block it sets pointers.
// Buffers are sized for the model's longest encoder (max_encoder_length) and horizon
// (max_prediction_length); a call with shorter ones uses their leading part.
#include "internal.h"

// Saturates at SIZE_MAX (tft_plan_carve then returns 0) rather than wrap: the sizing pass runs before
// anything is allocated, on whatever max_batch a caller asks for.
void *tft_carve(tft_carver *c, size_t count, size_t elem) {
    size_t off = (c->off + 63) & ~(size_t)63; // 64-byte aligned sub-buffers
    size_t n;
    if (c->off > SIZE_MAX - 64 || __builtin_mul_overflow(count, elem, &n) || __builtin_add_overflow(off, n, &c->off)) {
        c->off = SIZE_MAX;
        return NULL;
    }
    return c->base ? c->base + off : NULL;
}
#define F(n) ((float *)tft_carve(&cv, (size_t)(n), sizeof(float)))
#define I(n) ((int32_t *)tft_carve(&cv, (size_t)(n), sizeof(int32_t)))

static size_t max_z(size_t a, size_t b) { return a > b ? a : b; }

// Largest scratch any GRN or gate of the graph needs: they run in row blocks of TFT_GRN_ROWS, so
// this is their need for one block (GateAddNorm: 2H per row).
static size_t scratch_floats(const tft_model *m) {
    const int      RB = TFT_GRN_ROWS;
    size_t         s  = (size_t)2 * m->H * RB;
    const tft_vsn *vs[3] = {&m->vsn_static, &m->vsn_enc, &m->vsn_dec};
    for (int k = 0; k < 3; k++) {
        for (int32_t i = 0; i < vs[k]->n; i++)
            if (vs[k]->vars[i].is_grn) s = max_z(s, tft_op_grn_scratch(RB, &vs[k]->vars[i].grn));
        if (vs[k]->n > 1) s = max_z(s, tft_op_grn_scratch(RB, &vs[k]->flat));
    }
    const tft_grn_w *g[6] = {&m->sc_sel, &m->sc_h, &m->sc_c, &m->sc_enr, &m->enrich, &m->pos_ff};
    for (int k = 0; k < 6; k++) s = max_z(s, tft_op_grn_scratch(RB, g[k]));
    return s;
}

size_t tft_plan_carve(const tft_model *m, int32_t max_batch, int32_t chunk, uint8_t *base, tft_acts *a) {
    tft_carver cv = {base, 0};
    size_t B = (size_t)max_batch, Te = (size_t)m->Te_max, Td = (size_t)m->Td_max, T = Te + Td;
    size_t H = (size_t)m->H, L = (size_t)m->L, NHD = (size_t)m->NH * m->D, D = (size_t)m->D;
    size_t ne = (size_t)m->vsn_enc.n, nd = (size_t)m->vsn_dec.n, nmax = (size_t)m->vsn_static.n;
    size_t S = Te > Td ? Te : Td, C = B < (size_t)chunk ? B : (size_t)chunk;
    nmax = max_z(nmax, max_z(ne, nd));
    size_t imax = max_z((size_t)m->vsn_static.in_total,
                        max_z((size_t)m->vsn_enc.in_total, (size_t)m->vsn_dec.in_total));
    a->chunk = (int32_t)C;

    // batch-wide: the static encoder and contexts, the selection and attention weights
    a->s_w     = F(B * ((size_t)m->vsn_static.n + 1));
    a->s_xi    = F(B * H);
    a->c_sel   = F(B * H);
    a->c_h     = F(B * H);
    a->c_c     = F(B * H);
    a->c_enr   = F(B * H);
    a->ctx_e   = F(B * H);
    a->ctx_d   = F(B * H);
    a->ctx_enr = F(B * H);
    a->e_w     = F(B * Te * (ne + 1));
    a->d_w     = F(B * Td * (nd + 1));
    a->attn    = F(B * Td * m->NH * T);
    // one VSN row block
    a->v_flat = F((size_t)TFT_VSN_ROWS * (imax + 1));
    a->v_outs = F(nmax * TFT_VSN_ROWS * H);
    // per chunk: [C, T, H] sequences
    a->emb      = F(C * T * H);
    a->lstm_out = F(C * T * H);
    a->phi      = F(C * T * H);
    a->theta    = F(C * T * H);
    // LSTM
    a->xp      = F(C * S * 4 * H);
    a->layer_a = F(L > 1 ? C * S * H : 0);
    a->layer_b = F(L > 2 ? C * S * H : 0);
    a->h       = F(L * C * H);
    a->c       = F(L * C * H);
    a->hh      = F(C * 4 * H);
    a->hrow    = F(C * H);
    a->crow    = F(C * H);
    a->order   = I(C);
    a->run     = I(C);
    // attention and output heads
    a->K       = F(C * T * NHD);
    a->V       = F(C * T * D);
    a->Qm      = F(C * Td * NHD);
    a->att_o   = F(C * Td * D);
    a->att_p   = F(C * Td * H);
    a->alpha   = F(C * Td * H);
    a->psi     = F(C * Td * H);
    a->out     = F(C * Td * H);
    a->y       = F(C * Td * m->NT * m->Q);
    a->kt      = F(tft_op_attention_scratch((int)Te, (int)Td, m->NH, m->D));
    a->scratch = F(scratch_floats(m));
    // series-level staging (network inputs built from raw rows)
    size_t Nr = (size_t)m->n_reals, Nc = (size_t)m->n_cats;
    a->p_enc_cat  = I(B * Te * Nc + 1);
    a->p_dec_cat  = I(B * Td * Nc + 1);
    a->p_enc_len  = I(B);
    a->p_dec_len  = I(B);
    a->p_enc_cont = F(B * Te * Nr + 1);
    a->p_dec_cont = F(B * Td * Nr + 1);
    a->p_tscale   = F(B * m->NT * 2);
    a->p_pred     = F(B * m->NT * Td * m->Q);
    a->p_tnorm    = (double *)tft_carve(&cv, B * m->NT * 2, sizeof(double));
    a->p_work     = (double *)tft_carve(&cv, 4 * T + 16, sizeof(double));
    return cv.off > SIZE_MAX - 64 ? 0 : cv.off + 64; // 0: does not fit a size_t
}

// ---- FLOPs of one series' forward, as the engine computes it (for the benchmarks) -------------
// 2·M·N·K per GEMM with the true output widths (not the kernels' zero-padded panels), plus the
// attention's Q·Kᵀ and A·V over the keys it actually sums (the visible ones: see ops/attention.c).
// Elementwise work (activations, LayerNorm, softmax, interpolation) is not counted.
static double grn_flops(const tft_grn_w *g) { // one row
    return 2.0 * ((double)g->in * g->hid + (double)g->hid * g->hid + (double)g->hid * 2 * g->out);
}

static double vsn_flops(const tft_vsn *v) { // one row
    double f = 0;
    for (int32_t k = 0; k < v->n; k++) {
        const tft_var *x = &v->vars[k];
        if (x->is_real) f += 2.0 * x->width; // prescaler Linear(1, width)
        if (x->is_grn) f += grn_flops(&x->grn);
    }
    if (v->n > 1) f += grn_flops(&v->flat);
    return f;
}

double tft_plan_flops(const tft_model *m, int Te, int Td, int enc_len, int dec_len) {
    const double H = m->H, NHD = (double)m->NH * m->D, D = m->D, T = (double)Te + Td;
    const int    run_e = enc_len > 0 ? enc_len : 1; // the packed encoder runs max(length, 1) steps
    double       f     = vsn_flops(&m->vsn_static);
    f += grn_flops(&m->sc_sel) + grn_flops(&m->sc_h) + grn_flops(&m->sc_c) + grn_flops(&m->sc_enr);
    if (m->vsn_enc.n > 1) f += 2.0 * H * m->vsn_enc.flat.hid; // static context projections
    if (m->vsn_dec.n > 1) f += 2.0 * H * m->vsn_dec.flat.hid;
    f += 2.0 * H * H;
    f += Te * vsn_flops(&m->vsn_enc) + Td * vsn_flops(&m->vsn_dec);
    if (Te > 0) f += (double)run_e * m->L * 2.0 * (2.0 * H * 4 * H); // LSTM: input + recurrent GEMMs
    f += (double)dec_len * m->L * 2.0 * (2.0 * H * 4 * H);
    f += T * (2.0 * H * 2 * H + grn_flops(&m->enrich)); // post-LSTM gate, static enrichment
    f += T * 2.0 * H * (NHD + D) + Td * 2.0 * H * NHD;  // K and V of every step, Q of the decoder steps
    const int ne = enc_len < Te ? enc_len : Te;
    for (int q = 0; q < Td; q++) {                      // Q·Kᵀ and A·V over the visible keys
        int nv = m->causal ? q : dec_len;
        nv     = nv < Td ? nv : Td;
        f += 4.0 * m->NH * D * ((double)ne + nv);
    }
    f += Td * (2.0 * D * H + 2.0 * H * 2 * H + grn_flops(&m->pos_ff) + 2.0 * H * 2 * H + 2.0 * H * m->NT * m->Q);
    return f;
}
