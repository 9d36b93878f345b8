// weights.c: the model's weights as the backends see them (backend.h tft_weights): named pointers
// into the model's weight block (and its packed panels for the CPU's GEMM).
#include "backend.h"

static tft_lin_w lin(const float *w, const float *b, const float *p, int in, int out) {
    return (tft_lin_w){w, b, p, in, out};
}

void tft_weights_host(const tft_model *m, tft_weights *w) {
    const int H = m->H, NHD = m->NH * m->D;
    *w            = (tft_weights){0};
    w->vsn_static = &m->vsn_static;
    w->vsn_enc    = &m->vsn_enc;
    w->vsn_dec    = &m->vsn_dec;
    w->embs       = m->embs;
    w->sc_sel = m->sc_sel, w->sc_h = m->sc_h, w->sc_c = m->sc_c, w->sc_enr = m->sc_enr;
    w->ctx_e   = lin(m->vsn_enc.flat.ctx_w, NULL, m->ctx_e_p, H, m->vsn_enc.flat.hid);
    w->ctx_d   = lin(m->vsn_dec.flat.ctx_w, NULL, m->ctx_d_p, H, m->vsn_dec.flat.hid);
    w->ctx_enr = lin(m->enrich.ctx_w, NULL, m->ctx_enr_p, H, H);
    for (int l = 0; l < m->L; l++) {
        w->lstm_enc[l].ih = lin(m->lstm_enc[l].w_ih, m->lstm_enc[l].b_ih, m->lstm_enc[l].w_ih_p, H, 4 * H);
        w->lstm_enc[l].hh = lin(m->lstm_enc[l].w_hh, m->lstm_enc[l].b_hh, m->lstm_enc[l].w_hh_p, H, 4 * H);
        w->lstm_dec[l].ih = lin(m->lstm_dec[l].w_ih, m->lstm_dec[l].b_ih, m->lstm_dec[l].w_ih_p, H, 4 * H);
        w->lstm_dec[l].hh = lin(m->lstm_dec[l].w_hh, m->lstm_dec[l].b_hh, m->lstm_dec[l].w_hh_p, H, 4 * H);
    }
    w->post_lstm = (tft_gan_w){m->post_lstm_glu_w, m->post_lstm_glu_b, m->post_lstm_glu_p, m->post_lstm_ln_w,
                               m->post_lstm_ln_b};
    w->post_attn = (tft_gan_w){m->post_attn_glu_w, m->post_attn_glu_b, m->post_attn_glu_p, m->post_attn_ln_w,
                               m->post_attn_ln_b};
    w->pre_out   = (tft_gan_w){m->pre_out_glu_w, m->pre_out_glu_b, m->pre_out_glu_p, m->pre_out_ln_w,
                               m->pre_out_ln_b};
    w->enrich  = m->enrich;
    w->pos_ff  = m->pos_ff;
    w->att_q   = lin(m->att_q_w, m->att_q_b, m->att_q_p, H, NHD);
    w->att_k   = lin(m->att_k_w, m->att_k_b, m->att_k_p, H, NHD);
    w->att_v   = lin(m->att_v_w, m->att_v_b, m->att_v_p, H, m->D);
    w->att_out = lin(m->att_wh, NULL, m->att_wh_p, m->D, H);
    w->heads   = lin(m->out_w, m->out_b, m->out_p, H, m->NT * m->Q);
}
