// graph.c: the TFT graph walk (TFT_SPEC.md §5), written once for every backend (backend.h).
//
// Two phases. The static covariate encoder and the static contexts run once over the whole batch.
// Everything else runs on chunks of series (the backend's choice of C): temporal variable
// selection, the LSTM encoder and decoder, the post-LSTM gate, static enrichment, attention, the
// decoder tail and the output heads. Each node below is a run of blocks over a range of steps, so
// a scheduler can split a node's rows (the CPU's one-series split, backend_cpu.c) and still run
// this wiring, not a copy of it.
#include "backend.h"
#include "../cuda/nvtx.h" // named ranges for nsys / ncu in a CUDA build (no-ops elsewhere)

// A buffer of a backend's activations (carved by plan.c, host or device): its base, row width
// (floats) and kind.
float *tft_buf_of(const tft_model *m, const tft_acts *a, tft_buf b, int *width, int *kind) {
    const int        H = m->H, NHD = m->NH * m->D;
    *kind              = TFT_KIND_SERIES;
    *width             = H;
    switch (b) {
    case TFT_B_S_XI: return a->s_xi;
    case TFT_B_C_SEL: return a->c_sel;
    case TFT_B_C_H: return a->c_h;
    case TFT_B_C_C: return a->c_c;
    case TFT_B_C_ENR: return a->c_enr;
    case TFT_B_CTX_E: *width = m->vsn_enc.flat.hid; return a->ctx_e;
    case TFT_B_CTX_D: *width = m->vsn_dec.flat.hid; return a->ctx_d;
    case TFT_B_CTX_ENR: return a->ctx_enr;
    default: break;
    }
    *kind = TFT_KIND_JOINED;
    switch (b) {
    case TFT_B_EMB: return a->emb;
    case TFT_B_LSTM: return a->lstm_out;
    case TFT_B_PHI: return a->phi;
    case TFT_B_THETA: return a->theta;
    case TFT_B_K: *width = NHD; return a->K;
    case TFT_B_V: *width = m->D; return a->V;
    default: break;
    }
    *kind = TFT_KIND_DECODER;
    switch (b) {
    case TFT_B_Q: *width = NHD; return a->Qm;
    case TFT_B_ATT_O: *width = m->D; return a->att_o;
    case TFT_B_ATT_P: return a->att_p;
    case TFT_B_ALPHA: return a->alpha;
    case TFT_B_PSI: return a->psi;
    case TFT_B_OUT: return a->out;
    case TFT_B_Y: *width = m->NT * m->Q; return a->y;
    default: return NULL;
    }
}

// Static covariate encoder (§5.2) and the static contexts over the whole batch: S_XI, C_SEL, C_H,
// C_C, C_ENR [B, H] and their projections CTX_E, CTX_D, CTX_ENR (once per series instead of once
// per time step).
void tft_graph_static(const tft_backend *be, void *bk) {
    const tft_weights *W   = be->weights(bk);
    const tft_rows     all = {0, 0}; // series buffers: the whole batch
    TFT_NVTX_PUSH("tft.static");
    be->static_vsn(bk);
    be->grn(bk, &W->sc_sel, TFT_B_S_XI, TFT_B_NONE, TFT_B_C_SEL, all);
    be->grn(bk, &W->sc_h, TFT_B_S_XI, TFT_B_NONE, TFT_B_C_H, all);
    be->grn(bk, &W->sc_c, TFT_B_S_XI, TFT_B_NONE, TFT_B_C_C, all);
    be->grn(bk, &W->sc_enr, TFT_B_S_XI, TFT_B_NONE, TFT_B_C_ENR, all);
    if (W->vsn_enc->n > 1) be->linear(bk, &W->ctx_e, TFT_B_C_SEL, TFT_B_CTX_E, all);
    if (W->vsn_dec->n > 1) be->linear(bk, &W->ctx_d, TFT_B_C_SEL, TFT_B_CTX_D, all);
    be->linear(bk, &W->ctx_enr, TFT_B_C_ENR, TFT_B_CTX_ENR, all);
    TFT_NVTX_POP();
}

// Post-LSTM gate + add&norm (§5.5), static enrichment (§5.6) and the keys and values of steps r.
void tft_graph_post_lstm(const tft_backend *be, void *bk, tft_rows r) {
    if (r.n <= 0) return;
    const tft_weights *W = be->weights(bk);
    TFT_NVTX_PUSH("tft.post_lstm");
    be->gate_add_norm(bk, &W->post_lstm, TFT_B_LSTM, TFT_B_EMB, TFT_B_PHI, r);
    be->grn(bk, &W->enrich, TFT_B_PHI, TFT_B_CTX_ENR, TFT_B_THETA, r);
    be->linear(bk, &W->att_k, TFT_B_THETA, TFT_B_K, r);
    be->linear(bk, &W->att_v, TFT_B_THETA, TFT_B_V, r);
    TFT_NVTX_POP();
}

// The attention queries of decoder steps r: the decoder rows of THETA.
void tft_graph_queries(const tft_backend *be, void *bk, tft_rows r) {
    if (r.n <= 0) return;
    TFT_NVTX_PUSH("tft.queries");
    be->linear(bk, &be->weights(bk)->att_q, TFT_B_THETA, TFT_B_Q, r);
    TFT_NVTX_POP();
}

// After the attention (§5.7, §5.8), decoder steps r: the heads' projection, the gate over the
// enriched input, the position-wise GRN, the gate over the post-LSTM output, the output layers.
void tft_graph_decoder_tail(const tft_backend *be, void *bk, tft_rows r) {
    if (r.n <= 0) return;
    const tft_weights *W = be->weights(bk);
    TFT_NVTX_PUSH("tft.decoder_tail");
    be->linear(bk, &W->att_out, TFT_B_ATT_O, TFT_B_ATT_P, r);
    be->gate_add_norm(bk, &W->post_attn, TFT_B_ATT_P, TFT_B_THETA, TFT_B_ALPHA, r);
    be->grn(bk, &W->pos_ff, TFT_B_ALPHA, TFT_B_NONE, TFT_B_PSI, r);
    be->gate_add_norm(bk, &W->pre_out, TFT_B_PSI, TFT_B_PHI, TFT_B_OUT, r);
    be->linear(bk, &W->heads, TFT_B_OUT, TFT_B_Y, r); // [C*Td, NT*Q]
    TFT_NVTX_POP();
    be->outputs(bk, r);
}

tft_status tft_graph_run(const tft_backend *be, void *bk, const tft_net_input *in, const tft_net_output *out) {
    const int B = in->n, Te = in->enc_steps, Td = in->dec_steps;
    TFT_TRY(be->begin(bk, in, out));
    tft_graph_static(be, bk);
    const int      chunk = be->chunk(bk);
    const tft_rows enc = {0, Te}, dec = {Te, Td}, all = {0, Te + Td};
    for (int lo = 0; lo < B; lo += chunk) {
        const int C = B - lo < chunk ? B - lo : chunk;
        be->begin_chunk(bk, lo, C);
        if (Te > 0) be->vsn(bk, TFT_PART_ENCODER, enc); // §5.3
        be->vsn(bk, TFT_PART_DECODER, dec);
        be->lstm(bk, TFT_PART_ENCODER); // §5.4
        be->lstm(bk, TFT_PART_DECODER);
        tft_graph_post_lstm(be, bk, all);
        tft_graph_queries(be, bk, dec);
        be->attention(bk, 0, Td);
        tft_graph_decoder_tail(be, bk, dec);
    }
    return be->end(bk);
}
