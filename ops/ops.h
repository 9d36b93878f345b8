// ops.h: the CPU math of the TFT forward. Pure functions on float arrays: no allocation, no
// globals, no threads of their own (OpenBLAS may use its own). Every op has a naive `_ref` twin
// with the same signature (double accumulation, plain loops, obviously right) used by the tests.
//
// Conventions: row-major; R = rows (usually B*T time steps); weights in PyTorch layout
// W: [Cout, Cin] so y = x·Wᵀ + b; "ld*" = leading dimension (row stride, in floats) of a matrix
// that may be a column slice of a wider one. Shape letters: B series, T steps, H hidden, NH heads,
// D = H / NH (floor) head width, Q quantiles.
#ifndef TFT_OPS_H
#define TFT_OPS_H
#include <stddef.h>
#include <stdint.h>

// ---- linear -------------------------------------------------------------------------------
// y[r,:] (+)= x[r,:]·Wᵀ + b      x: [R, Cin] (ld ldx)  W: [Cout, Cin]  b: [Cout] or NULL
// y: [R, Cout] (ld ldy). accumulate=1 adds to y instead of overwriting.
// Batch-invariant: every output element is computed the same way whatever R and the row's
// position, so a series' forecast never depends on the batch it runs in. OpenBLAS sgemm is not
// (its per-row results depend on R), hence our own blocked kernel (ops/linear.c).
void tft_op_linear(float *y, int ldy, const float *x, int ldx, const float *W, const float *b, int R,
                   int Cin, int Cout, int accumulate);
void tft_op_linear_ref(float *y, int ldy, const float *x, int ldx, const float *W, const float *b, int R,
                       int Cin, int Cout, int accumulate);

// The same product from W packed once into column panels (done at model load): bitwise the same
// result as tft_op_linear, without its per-call packing, and a vectorized path for one or two rows.
// P: tft_op_pack_floats(Cin, Cout) floats filled by tft_op_pack(P, W, Cin, Cout), or NULL (then this
// is tft_op_linear). W is still read by the portable build. Its _ref twin is tft_op_linear_ref.
size_t tft_op_pack_floats(int Cin, int Cout);
void   tft_op_pack(float *P, const float *W, int Cin, int Cout);
void   tft_op_linear_packed(float *y, int ldy, const float *x, int ldx, const float *W, const float *P,
                            const float *b, int R, int Cin, int Cout, int accumulate);

// ---- elementwise --------------------------------------------------------------------------
// x[i] = ELU(x[i]) (alpha 1), in place, n elements.
void tft_op_elu(float *x, size_t n);
void tft_op_elu_ref(float *x, size_t n);

// y[r,c] = z[r,c] * sigmoid(z[r,C+c])     z: [R, 2C] (contiguous)  y: [R, C] (contiguous)
// y may equal z (compacts in place); other overlaps are not allowed.
void tft_op_glu(float *y, const float *z, int R, int C);
void tft_op_glu_ref(float *y, const float *z, int R, int C);

// ---- normalization ------------------------------------------------------------------------
// y[r,:] = LayerNorm(x[r,:] + skip[r,:]) · w + b   (biased variance, eps inside the sqrt)
// x, y, skip: [R, C] contiguous; skip may be NULL; y may alias x (not skip).
void tft_op_add_layernorm(float *y, const float *x, const float *skip, const float *w, const float *b, int R,
                          int C, float eps);
void tft_op_add_layernorm_ref(float *y, const float *x, const float *skip, const float *w, const float *b,
                              int R, int C, float eps);
// The same with row strides: x (ld ldx), skip (ld lds, or NULL), y (ld ldy); y may alias x or skip.
// Its _ref twin is tft_op_add_layernorm_ref applied row by row.
void tft_op_add_layernorm_ld(float *y, int ldy, const float *x, int ldx, const float *skip, int lds,
                             const float *w, const float *b, int R, int C, float eps);

// F.interpolate(mode="linear", align_corners=True) along features, n -> m, with torch >= 2.0's
// float32 index arithmetic (TFT_SPEC.md §3.3): scale=(float)(n-1)/(float)(m-1) (0 if m==1),
// src=scale*(float)i, i0=min((int)src, n-1), i1=i0+(i0<n-1), l1=clamp(src-i0,0,1), l0=1-l1,
// y[i]=l0*x[i0]+l1*x[i1]. n == 1: every output is x[0].    x: [R, n] (ld ldx)  y: [R, m] contiguous
void tft_op_interp(float *y, const float *x, int ldx, int R, int n, int m);
void tft_op_interp_ref(float *y, const float *x, int ldx, int R, int n, int m);

// ResampleNorm(n -> m) (§3.4): y = LayerNorm_m( interp_{n->m}(x) * sigmoid(mask) * 2 ) · w + b
// (no interpolation when n == m).  x: [R, n] (ld ldx)  mask, w, b: [m]  y: [R, m] contiguous
void tft_op_resample_norm(float *y, const float *x, int ldx, int R, int n, int m, const float *mask,
                          const float *w, const float *b);
void tft_op_resample_norm_ref(float *y, const float *x, int ldx, int R, int n, int m, const float *mask,
                              const float *w, const float *b);

// Row softmax in place: x[r,:] = exp(x[r,:]-max) / sum.   x: [R, C]
void tft_op_softmax(float *x, int R, int C);
void tft_op_softmax_ref(float *x, int R, int C);

// Softmax of one attention row x[0, C) whose visible keys are [0, ne) and [d0, d0 + nv)
// (0 <= ne <= d0 <= d0 + nv <= C): the result equals masked_fill(masked, mask_bias) + softmax, with
// the masked keys exactly 0 whenever exp(mask_bias - max) underflows (always for -1e9). Padding-
// invariant: its arithmetic depends only on the visible keys, not on where the segments sit.
// Returns 1 when every masked key got exactly 0 (then a sum over keys may skip them), else 0.
int tft_op_masked_softmax(float *x, int C, int ne, int d0, int nv, float mask_bias);
int tft_op_masked_softmax_ref(float *x, int C, int ne, int d0, int nv, float mask_bias);

// ---- gated blocks -------------------------------------------------------------------------
// Weights of a GatedResidualNetwork GRN(i -> h -> o) (§3.7). ctx_w is not used by the op (the
// caller projects the context once per series and passes the result as ctx_add).
typedef struct tft_grn_w {
    int32_t      in, hid, out;     // i, h, o
    const float *fc1_w, *fc1_b;    // [h, i], [h]
    const float *fc2_w, *fc2_b;    // [h, h], [h]
    const float *glu_w, *glu_b;    // [2o, h], [2o]
    const float *ln_w, *ln_b;      // [o]      gate_norm.add_norm.norm
    const float *rs_mask, *rs_w, *rs_b; // [o]  resample_norm (only when i != o, else NULL)
    const float *ctx_w;            // [h, c] or NULL: context.weight (no bias), for the caller
    // fc1, fc2 and the GLU packed by tft_op_pack at model load, or NULL (packed per call); same bits
    const float *fc1_p, *fc2_p, *glu_p;
} tft_grn_w;

// Rows a GRN or GateAddNorm processes at a time: each block runs through every stage while its
// intermediates (fc1, fc2, GLU outputs) stay in L1, instead of streaming [R, h] arrays through memory.
#ifndef TFT_GRN_ROWS // (-DTFT_GRN_ROWS=n to experiment; a multiple of 6, the GEMM's row tile)
#define TFT_GRN_ROWS 48
#endif

// Floats of scratch tft_op_grn needs for R rows (for min(R, TFT_GRN_ROWS) rows: blocks reuse it).
size_t tft_op_grn_scratch(int R, const tft_grn_w *w);
// y = LayerNorm_o( GLU(fc2(ELU(fc1(x) + ctx))) + residual ),  residual = x if i == o else ResampleNorm(x)
// x: [R, i] (ld ldx)   y: [R, o] contiguous (must not alias x)
// ctx_add: NULL, or [R / ctx_group, h]: row r adds ctx_add[r / ctx_group] to fc1's output before the
//          ELU (the per-series static context projection broadcast over its ctx_group time steps)
// scratch: tft_op_grn_scratch(R, w) floats
void tft_op_grn(float *y, const float *x, int ldx, int R, const tft_grn_w *w, const float *ctx_add,
                int ctx_group, float *scratch);
void tft_op_grn_ref(float *y, const float *x, int ldx, int R, const tft_grn_w *w, const float *ctx_add,
                    int ctx_group, float *scratch);

// GateAddNorm (§3.6): y = LayerNorm_C( GLU_{Cin->C}(x) + skip )
// x: [R, Cin] contiguous  glu_w: [2C, Cin]  glu_b: [2C]  skip: [R, C] (ld ldskip)  y: [R, C] contiguous
// scratch: R*2C floats. y must not alias x; it may alias skip only when ldskip == C.
void tft_op_gate_add_norm(float *y, const float *x, int R, int Cin, int C, const float *glu_w,
                          const float *glu_b, const float *skip, int ldskip, const float *ln_w,
                          const float *ln_b, float *scratch);
void tft_op_gate_add_norm_ref(float *y, const float *x, int R, int Cin, int C, const float *glu_w,
                              const float *glu_b, const float *skip, int ldskip, const float *ln_w,
                              const float *ln_b, float *scratch);
// The same with the GLU weights packed (glu_p: tft_op_pack(glu_w, Cin, 2C), or NULL); bitwise equal.
// Rows run in blocks of TFT_GRN_ROWS: scratch needs 2C * min(R, TFT_GRN_ROWS) floats.
void tft_op_gate_add_norm_p(float *y, const float *x, int R, int Cin, int C, const float *glu_w,
                            const float *glu_p, const float *glu_b, const float *skip, int ldskip,
                            const float *ln_w, const float *ln_b, float *scratch);

// ---- inputs -------------------------------------------------------------------------------
// Embedding lookup, summed over ncols index columns (nn.Embedding when ncols == 1, EmbeddingBag
// "sum" for a categorical group): y[r,:] = Σ_k table[idx[r*idx_stride + cols[k]], :]
// table: [n_classes, dim]; indices must already be validated to [0, n_classes). y: [R, dim] (ld ldy)
void tft_op_embedding(float *y, int ldy, const int32_t *idx, int idx_stride, const int32_t *cols, int ncols,
                      const float *table, int R, int dim);
void tft_op_embedding_ref(float *y, int ldy, const int32_t *idx, int idx_stride, const int32_t *cols,
                          int ncols, const float *table, int R, int dim);

// Prescaler Linear(1, a): y[r,j] = x[r*ldx] * w[j] + b[j]   w, b: [a]   y: [R, a] (ld ldy)
void tft_op_prescale(float *y, int ldy, const float *x, int ldx, const float *w, const float *b, int R, int a);
void tft_op_prescale_ref(float *y, int ldy, const float *x, int ldx, const float *w, const float *b, int R,
                         int a);

// Variable-selection combine: y[r,:] = Σ_k outs[k*R*H + r*H + :] * wts[r*n + k]  (k in order)
// outs: [n, R, H]   wts: [R, n]   y: [R, H]
void tft_op_vsn_combine(float *y, const float *outs, const float *wts, int R, int n, int H);
void tft_op_vsn_combine_ref(float *y, const float *outs, const float *wts, int R, int n, int H);

// ---- recurrence ---------------------------------------------------------------------------
// One LSTM step for n rows, PyTorch gate order (i, f, g, o):
// i=σ(g[0:H]) f=σ(g[H:2H]) c~=tanh(g[2H:3H]) o=σ(g[3H:4H]); c = f*c + i*c~; h = o*tanh(c)
// gates: [n, 4H] pre-activations (W_ih·x + b_ih + W_hh·h + b_hh)   h, c: [n, H] updated in place
void tft_op_lstm_cell(float *h, float *c, const float *gates, int n, int H);
void tft_op_lstm_cell_ref(float *h, float *c, const float *gates, int n, int H);
// The same step with the gate sum fused: gates = xg + hg (float add), xg, hg: [n, 4H] (input and
// recurrent projections, each with its bias). Bitwise equal to the add followed by tft_op_lstm_cell.
void tft_op_lstm_cell_add(float *h, float *c, const float *xg, const float *hg, int n, int H);
void tft_op_lstm_cell_add_ref(float *h, float *c, const float *xg, const float *hg, int n, int H);

// ---- attention ----------------------------------------------------------------------------
// Interpretable multi-head attention core (§5.7) for B series, Td decoder queries over T = Te + Td keys:
//   S[b,q,h,j] = (Q[b,q,h,:]·K[b,j,h,:]) / sqrt((float)D)
//   masked (True): j < Te: j >= enc_len[b];  j = Te+k: causal ? k >= q : k >= dec_len[b]
//   masked scores are REPLACED by mask_bias (masked_fill), then softmax over j
//   out[b,q,:] = mean_h Σ_j A[b,q,h,j] V[b,j,:]   (heads summed in order, then divided by NH)
// Q: [B, Td, NH*D]   K: [B, T, NH*D]   V: [B, T, D]   enc_len, dec_len: [B]
// attn: [B, Td, NH, T] (written: the softmax weights)   out: [B, Td, D]
// scratch: tft_op_attention_scratch(Te, Td, NH, D) floats (a series' K, transposed). The _ref twin
// takes none.
size_t tft_op_attention_scratch(int Te, int Td, int NH, int D);
void   tft_op_attention(float *out, float *attn, const float *Q, const float *K, const float *V,
                        const int32_t *enc_len, const int32_t *dec_len, int B, int Te, int Td, int NH, int D,
                        int causal, float mask_bias, float *scratch);
// Only the decoder queries [q0, q1) of every series (their out and attn rows; the others are not
// touched): the same bits as those rows of tft_op_attention, so query ranges can run on threads.
void   tft_op_attention_q(float *out, float *attn, const float *Q, const float *K, const float *V,
                          const int32_t *enc_len, const int32_t *dec_len, int B, int Te, int Td, int NH, int D,
                          int causal, float mask_bias, float *scratch, int q0, int q1);
void tft_op_attention_ref(float *out, float *attn, const float *Q, const float *K, const float *V,
                          const int32_t *enc_len, const int32_t *dec_len, int B, int Te, int Td, int NH, int D,
                          int causal, float mask_bias);

// ---- output -------------------------------------------------------------------------------
typedef enum tft_transform {
    TFT_TF_NONE = 0, TFT_TF_LOG, TFT_TF_LOG1P, TFT_TF_LOGIT, TFT_TF_COUNT, TFT_TF_SOFTPLUS, TFT_TF_RELU,
    TFT_TF_SQRT
} tft_transform;
// De-normalization (§7.1): y[i] = reverse(x[i] * scale + center) with two float32 roundings
// (multiply, then add), reverse per transformation: none: id; log, log1p: exp; logit:
// clamp(σ(y), FLT_MIN, 1 - FLT_EPSILON); count, softplus: (y > 20 ? y : log1p(exp(y))); relu: max(0, y);
// sqrt: y*y. y may alias x.
void tft_op_denormalize(float *y, const float *x, size_t n, float center, float scale, tft_transform tf);
void tft_op_denormalize_ref(float *y, const float *x, size_t n, float center, float scale, tft_transform tf);
#endif
