// pack.c: the weights packed for the GEMM kernels, once at load (ops/linear.c: tft_op_pack): every
// GEMM weight of a bound model (its GRNs', LSTMs', gates', attention's and output layers', and the
// static context projections) gets its panel block, set in the *_p pointers of struct tft_model and
// tft_grn_w. Two passes as plan.c: with base == NULL only the floats are added up, then every panel
// block is filled and its pointer set. 64-byte aligned blocks, in one allocation freed with the model.
#include <string.h>
#include "internal.h"

typedef struct packer {
    float *base;
    size_t off;
} packer;

static const float *pack1(packer *p, const float *W, int Cin, int Cout) {
    size_t off = (p->off + 15) & ~(size_t)15;
    p->off     = off + tft_op_pack_floats(Cin, Cout);
    if (!p->base || !W) return NULL;
    tft_op_pack(p->base + off, W, Cin, Cout);
    return p->base + off;
}

static void pack_grn(packer *p, tft_grn_w *g) {
    g->fc1_p = pack1(p, g->fc1_w, g->in, g->hid);
    g->fc2_p = pack1(p, g->fc2_w, g->hid, g->hid);
    g->glu_p = pack1(p, g->glu_w, g->hid, 2 * g->out);
}

static void pack_vsn(packer *p, tft_vsn *v) {
    for (int32_t k = 0; k < v->n; k++)
        if (v->vars[k].is_grn) pack_grn(p, &v->vars[k].grn);
    if (v->n > 1) pack_grn(p, &v->flat);
}

static void pack_all(tft_model *m, packer *p) {
    const int H = m->H, NHD = m->NH * m->D, D = m->D;
    pack_vsn(p, &m->vsn_static), pack_vsn(p, &m->vsn_enc), pack_vsn(p, &m->vsn_dec);
    pack_grn(p, &m->sc_sel), pack_grn(p, &m->sc_h), pack_grn(p, &m->sc_c), pack_grn(p, &m->sc_enr);
    pack_grn(p, &m->enrich), pack_grn(p, &m->pos_ff);
    for (int l = 0; l < m->L; l++) {
        m->lstm_enc[l].w_ih_p = pack1(p, m->lstm_enc[l].w_ih, H, 4 * H);
        m->lstm_enc[l].w_hh_p = pack1(p, m->lstm_enc[l].w_hh, H, 4 * H);
        m->lstm_dec[l].w_ih_p = pack1(p, m->lstm_dec[l].w_ih, H, 4 * H);
        m->lstm_dec[l].w_hh_p = pack1(p, m->lstm_dec[l].w_hh, H, 4 * H);
    }
    m->post_lstm_glu_p = pack1(p, m->post_lstm_glu_w, H, 2 * H);
    m->post_attn_glu_p = pack1(p, m->post_attn_glu_w, H, 2 * H);
    m->pre_out_glu_p   = pack1(p, m->pre_out_glu_w, H, 2 * H);
    m->att_q_p         = pack1(p, m->att_q_w, H, NHD);
    m->att_k_p         = pack1(p, m->att_k_w, H, NHD);
    m->att_v_p         = pack1(p, m->att_v_w, H, D);
    m->att_wh_p        = pack1(p, m->att_wh, D, H);
    m->out_p           = pack1(p, m->out_w, H, m->NT * m->Q);
    m->ctx_e_p   = m->vsn_enc.n > 1 ? pack1(p, m->vsn_enc.flat.ctx_w, H, m->vsn_enc.flat.hid) : NULL;
    m->ctx_d_p   = m->vsn_dec.n > 1 ? pack1(p, m->vsn_dec.flat.ctx_w, H, m->vsn_dec.flat.hid) : NULL;
    m->ctx_enr_p = pack1(p, m->enrich.ctx_w, H, H);
}

tft_status tft_pack_weights(tft_model *m) {
    packer p = {NULL, 0};
    pack_all(m, &p);
    m->packed = tft__aligned_alloc(64, (p.off + 16) * sizeof(float));
    if (!m->packed) return tft__fail(TFT_ERR_NOMEM, "out of memory for %zu packed weights", p.off);
    memset(m->packed, 0, (p.off + 16) * sizeof(float));
    p.base = m->packed, p.off = 0;
    pack_all(m, &p);
    return TFT_OK;
}
