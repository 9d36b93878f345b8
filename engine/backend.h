// backend.h: the seam under the forward (ggml's backend interface, at the size of this graph).
//
// The TFT graph's wiring (which block feeds which, TFT_SPEC.md §5) is written once, in graph.c.
// A backend implements whole blocks on its own memory: the CPU one (backend_cpu.c) with the ops of
// ops/ on host arrays, the CUDA one (backend_cuda.c) with the kernels of cuda/ and cuBLAS on device
// arrays; a backend may fuse inside a block. Blocks name their operands by buffer (tft_buf) and by
// a range of time steps (tft_rows); the backend resolves those to its own pointers. Weights come
// as one struct of named pointers (tft_weights): host arrays plus packed panels for the CPU, device
// pointers for CUDA (uploaded once per model per device); the graph passes a block its weights as
// `&W->post_lstm` whatever W holds.
//
// Shapes, for a chunk of C series of the batch (the backend picks C: the CPU 4 series so a chunk
// stays in cache, CUDA the whole batch), Te / Td the call's encoder / decoder steps, T = Te + Td:
//   series buffers   [B, ·]      one row per series of the batch (the static encoder's outputs)
//   joined buffers   [C, T, ·]   every step of each series, encoder steps first
//   decoder buffers  [C, Td, ·]  the decoder steps only (joined step s is decoder row s - Te)
// A tft_rows {s0, n} is the steps [s0, s0 + n) of the joined timeline of every series of the
// chunk (decoder buffers read rows s0 - Te ..); series buffers ignore it (the whole batch).
#ifndef TFT_BACKEND_H
#define TFT_BACKEND_H
#include "internal.h"

typedef struct tft_lin_w { // y = x·wᵀ + b: w [out, in], b [out] or NULL, p: w packed (CPU) or NULL
    const float *w, *b, *p;
    int32_t      in, out;
} tft_lin_w;

typedef struct tft_gan_w { // GateAddNorm H -> H: GLU weights [2H, H], [2H] (+ packed), LayerNorm [H]
    const float *glu_w, *glu_b, *glu_p, *ln_w, *ln_b;
} tft_gan_w;

typedef struct tft_lstm_w { // one LSTM layer: W_ih, W_hh [4H, H] with b_ih, b_hh [4H]
    tft_lin_w ih, hh;
} tft_lstm_w;

typedef struct tft_weights {
    const tft_vsn *vsn_static, *vsn_enc, *vsn_dec; // variable selection (their tft_var pointers too)
    const tft_emb *embs;                           // embedding tables [n_embs]
    tft_grn_w      sc_sel, sc_h, sc_c, sc_enr;     // static context GRNs
    tft_lin_w      ctx_e, ctx_d, ctx_enr;          // the static contexts' projections (no bias)
    tft_lstm_w     lstm_enc[8], lstm_dec[8];
    tft_gan_w      post_lstm, post_attn, pre_out;
    tft_grn_w      enrich, pos_ff;
    tft_lin_w      att_q, att_k, att_v;            // stacked heads: q, k [NH*D, H]; v [D, H]
    tft_lin_w      att_out;                        // [H, D], no bias
    tft_lin_w      heads;                          // stacked output layers [NT*Q, H]
} tft_weights;

// The host weights of a model (pointers into the model's blocks; nothing is copied).
void tft_weights_host(const tft_model *m, tft_weights *w);

typedef enum tft_buf {
    TFT_B_NONE = 0,
    // series buffers [B, H] (ctx_e / ctx_d: [B, hid] of the VSN's flattened GRN)
    TFT_B_S_XI, TFT_B_C_SEL, TFT_B_C_H, TFT_B_C_C, TFT_B_C_ENR, TFT_B_CTX_E, TFT_B_CTX_D, TFT_B_CTX_ENR,
    // joined buffers [C, T, ·]
    TFT_B_EMB, TFT_B_LSTM, TFT_B_PHI, TFT_B_THETA, TFT_B_K, TFT_B_V,
    // decoder buffers [C, Td, ·]
    TFT_B_Q, TFT_B_ATT_O, TFT_B_ATT_P, TFT_B_ALPHA, TFT_B_PSI, TFT_B_OUT, TFT_B_Y,
} tft_buf;

typedef enum { TFT_KIND_SERIES = 0, TFT_KIND_JOINED, TFT_KIND_DECODER } tft_buf_kind;
// graph.c: a buffer of activations carved by plan.c (either backend): its base, row width (floats)
// and kind (tft_buf_kind)
float *tft_buf_of(const tft_model *m, const tft_acts *a, tft_buf b, int *width, int *kind);

typedef struct tft_rows {
    int32_t s0, n;
} tft_rows;

typedef enum { TFT_PART_ENCODER = 0, TFT_PART_DECODER = 1 } tft_part;

// The blocks. `bk` is the backend's state for one forward (its activations, the call's inputs and
// outputs, the current chunk). Every block is enqueued in order; none reports an error (shapes are
// validated before the walk): a backend that can fail (CUDA) records the first failure and returns
// it from end().
typedef struct tft_backend {
    const char *name;
    const tft_weights *(*weights)(void *bk);
    int (*chunk)(void *bk); // series per chunk
    // the call's inputs and outputs (network level, validated); the CUDA backend uploads here
    tft_status (*begin)(void *bk, const tft_net_input *in, const tft_net_output *out);
    void (*begin_chunk)(void *bk, int lo, int C); // series [lo, lo + C) of the batch
    // static variable selection over the whole batch: -> S_XI and the static selection weights
    void (*static_vsn)(void *bk);
    // temporal variable selection of the chunk's steps r (encoder or decoder part) -> EMB rows r
    // and the selection weights; the flattened GRN adds CTX_E / CTX_D of each series
    void (*vsn)(void *bk, tft_part part, tft_rows r);
    // y = GRN(x) (+ ctx: a series buffer added to fc1's output of each series' rows, or NONE)
    void (*grn)(void *bk, const tft_grn_w *w, tft_buf x, tft_buf ctx, tft_buf y, tft_rows r);
    void (*linear)(void *bk, const tft_lin_w *w, tft_buf x, tft_buf y, tft_rows r);
    // y = LayerNorm(GLU(x) + skip)
    void (*gate_add_norm)(void *bk, const tft_gan_w *w, tft_buf x, tft_buf skip, tft_buf y, tft_rows r);
    // the LSTM over the chunk's encoder steps (initial state: C_H, C_C; the zero-history patch of
    // §5.4) or decoder steps (from the encoder's final state): EMB -> LSTM
    void (*lstm)(void *bk, tft_part part);
    // interpretable attention of the decoder queries [q0, q1) of the chunk: Q, K, V -> ATT_O and
    // the attention weights
    void (*attention)(void *bk, int q0, int q1);
    // the chunk's outputs at decoder steps r from Y: quantiles (normalized, de-normalized) and the
    // attention weights, at their places in the caller's arrays
    void (*outputs)(void *bk, tft_rows r);
    // the selection weights of the batch to the caller's arrays; the CUDA backend downloads and
    // waits; returns the first failure of the forward
    tft_status (*end)(void *bk);
} tft_backend;

// graph.c: the walk. tft_graph_run runs a whole forward on one backend; the node functions are
// the parts a scheduler (the CPU's one-series row split) runs on row ranges of its own choosing.
tft_status tft_graph_run(const tft_backend *be, void *bk, const tft_net_input *in, const tft_net_output *out);
void       tft_graph_static(const tft_backend *be, void *bk);
void       tft_graph_post_lstm(const tft_backend *be, void *bk, tft_rows r);  // -> PHI, THETA, K, V
void       tft_graph_queries(const tft_backend *be, void *bk, tft_rows r);    // -> Q
void       tft_graph_decoder_tail(const tft_backend *be, void *bk, tft_rows r); // ATT_O -> outputs

// The CPU backend (backend_cpu.c).
extern const tft_backend tft_backend_cpu;
tft_status tft_forward_cpu(const tft_model *m, tft_acts *a, const tft_net_input *in, tft_net_output *out);
#endif
