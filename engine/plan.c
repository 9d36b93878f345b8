// plan.c: every activation of one forecast, sized once for (model, max_batch) and carved from a
// single arena (llm.c's fill_in_activation_sizes, ggml's reserve-the-worst-case). The same carve
// runs twice: with base == NULL it only adds up the bytes, then on the real block it sets pointers.
// Buffers are sized for the model's longest encoder (max_encoder_length) and horizon
// (max_prediction_length); a call with shorter ones uses their leading part.
#include "internal.h"

typedef struct carver {
    uint8_t *base;
    size_t   off;
} carver;

static void *take(carver *c, size_t count, size_t elem) {
    size_t off = (c->off + 63) & ~(size_t)63; // 64-byte aligned sub-buffers
    c->off     = off + count * elem;
    return c->base ? c->base + off : NULL;
}
#define F(n) ((float *)take(&cv, (size_t)(n), sizeof(float)))
#define I(n) ((int32_t *)take(&cv, (size_t)(n), sizeof(int32_t)))

static size_t max_z(size_t a, size_t b) { return a > b ? a : b; }

// Largest scratch any GRN or gate of the graph needs, for the row counts it runs on.
static size_t scratch_floats(const tft_model *m, size_t B, size_t Te, size_t Td) {
    size_t T = Te + Td, H = (size_t)m->H, s = 2 * B * T * H; // gate_add_norm over all B*T rows
    const tft_vsn *vs[3] = {&m->vsn_static, &m->vsn_enc, &m->vsn_dec};
    size_t         rows[3] = {B, B * Te, B * Td};
    for (int k = 0; k < 3; k++) {
        for (int32_t i = 0; i < vs[k]->n; i++)
            if (vs[k]->vars[i].is_grn) s = max_z(s, tft_op_grn_scratch((int)rows[k], &vs[k]->vars[i].grn));
        if (vs[k]->n > 1) s = max_z(s, tft_op_grn_scratch((int)rows[k], &vs[k]->flat));
    }
    s = max_z(s, tft_op_grn_scratch((int)B, &m->sc_sel));
    s = max_z(s, tft_op_grn_scratch((int)(B * T), &m->enrich));
    s = max_z(s, tft_op_grn_scratch((int)(B * Td), &m->pos_ff));
    return s;
}

size_t tft_plan_carve(const tft_model *m, int32_t max_batch, uint8_t *base, tft_acts *a) {
    carver cv = {base, 0};
    size_t B = (size_t)max_batch, Te = (size_t)m->Te_max, Td = (size_t)m->Td_max, T = Te + Td;
    size_t H = (size_t)m->H, L = (size_t)m->L, NHD = (size_t)m->NH * m->D, D = (size_t)m->D;
    size_t ns = (size_t)m->vsn_static.n, ne = (size_t)m->vsn_enc.n, nd = (size_t)m->vsn_dec.n;
    size_t S = Te > Td ? Te : Td;

    // static VSN and the static contexts: B rows
    a->s_flat  = F(B * (m->vsn_static.in_total + 1));
    a->s_outs  = F(ns * B * H);
    a->s_w     = F(B * (ns + 1));
    a->s_xi    = F(B * H);
    a->c_sel   = F(B * H);
    a->c_h     = F(B * H);
    a->c_c     = F(B * H);
    a->c_enr   = F(B * H);
    a->ctx_e   = F(B * H);
    a->ctx_d   = F(B * H);
    a->ctx_enr = F(B * H);
    // time-varying VSNs
    a->e_flat = F(B * Te * (m->vsn_enc.in_total + 1));
    a->e_outs = F(ne * B * Te * H);
    a->e_w    = F(B * Te * (ne + 1));
    a->e_emb  = F(B * Te * H);
    a->d_flat = F(B * Td * (m->vsn_dec.in_total + 1));
    a->d_outs = F(nd * B * Td * H);
    a->d_w    = F(B * Td * (nd + 1));
    a->d_emb  = F(B * Td * H);
    // [B, T, H] sequences
    a->emb      = F(B * T * H);
    a->lstm_out = F(B * T * H);
    a->phi      = F(B * T * H);
    a->theta    = F(B * T * H);
    // LSTM
    a->xp      = F(B * S * 4 * H);
    a->layer_a = F(B * S * H);
    a->layer_b = F(B * S * H);
    a->h       = F(L * B * H);
    a->c       = F(L * B * H);
    a->gates   = F(B * 4 * H);
    a->hh      = F(B * 4 * H);
    a->hrow    = F(B * H);
    a->crow    = F(B * H);
    a->order   = I(B);
    a->run     = I(B);
    // attention and output heads
    a->K       = F(B * T * NHD);
    a->V       = F(B * T * D);
    a->Qm      = F(B * Td * NHD);
    a->q_in    = F(B * Td * H);
    a->attn    = F(B * Td * m->NH * T);
    a->att_o   = F(B * Td * D);
    a->att_p   = F(B * Td * H);
    a->alpha   = F(B * Td * H);
    a->psi     = F(B * Td * H);
    a->out     = F(B * Td * H);
    a->phi_dec = F(B * Td * H);
    a->y       = F(B * Td * m->NT * m->Q);
    a->scratch = F(scratch_floats(m, B, Te, Td));
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
    a->p_tnorm    = (double *)take(&cv, B * m->NT * 2, sizeof(double));
    a->p_work     = (double *)take(&cv, 4 * T + 16, sizeof(double));
    return cv.off + 64;
}
