// ops_cuda.h: the CUDA twins of the CPU ops in ops/ops.h (device pointers, one stream).
//
// STATUS: never run on a GPU yet. The CUDA backend (engine/backend_cuda.c, TFT_DEVICE=cuda) calls
// these launchers through the backend seam (engine/backend.h). `make test` runs them on the CPU
// under the SIMT harness (tests/simt/: real barriers and warp collectives, races between barriers
// under TSan): test_cuda_simt checks every launcher against its CPU `_ref` twin, test_golden_simt
// runs every golden on the CUDA backend and test_backend_simt compares it with the CPU backend on
// random batches. That shows the logic, not the device's behaviour or speed: test_cuda,
// test_backend and bench/device_check.sh must pass on a real device (sm_90) before calling these
// kernels done there.
//
// Conventions (those of ops/ops.h unless said otherwise): row-major, PyTorch weight layout
// W: [Cout, Cin] so y = x·Wᵀ + b, "ld*" = row stride in floats. Every pointer a launcher takes is
// a DEVICE pointer (int32 length arrays too) unless its comment says host. `stream` is a
// cudaStream_t passed as void* so this header stays plain C (NULL = the legacy default stream).
// Launchers are asynchronous: they enqueue on `stream` and return; a launch or argument error is
// reported at once, a fault inside a kernel by a later synchronizing call (tft_cuda_sync).
// Every function returns a tft_status (TFT_ERR_BACKEND for a CUDA/cuBLAS failure,
// TFT_ERR_INVALID_ARG / TFT_ERR_UNSUPPORTED for bad or unsupported shapes) and sets
// tft_last_error() to "file:line: call: cudaErrorName: message"; none aborts or exits.
// Empty work (R == 0, n == 0...) is TFT_OK without a launch.
//
// Numerics: fp32 throughout, no TF32 (cuBLAS pinned to CUBLAS_DEFAULT_MATH), no fast-math
// intrinsics (expf/tanhf/log1pf/IEEE division). Reductions run in a different order than the CPU
// ops, so results match the `_ref` twins to rounding (tests: NMSE <= 1e-7), not bitwise; in
// particular cuBLAS may pick a different algorithm for a different R, so unlike tft_op_linear the
// GEMM is NOT batch-invariant.
#ifndef TFT_OPS_CUDA_H
#define TFT_OPS_CUDA_H
#include <stddef.h>
#include <stdint.h>

#include "../engine/tft.h" // tft_status
#include "../ops/ops.h"    // tft_transform

#ifdef __cplusplus
extern "C" {
#endif

// ---- runtime helpers (so C callers and tests need no CUDA headers) ----------------------------
// *n = number of usable devices. No driver / no device: returns TFT_ERR_BACKEND with *n = 0 and
// tft_last_error() = "cudaErrorName: message" (exactly the CUDA error, for a skip line); a
// successful call that finds 0 devices returns TFT_OK with *n = 0.
tft_status tft_cuda_device_count(int *n);
tft_status tft_cuda_malloc(void **p, size_t bytes); // *p = NULL on failure; bytes == 0 gives NULL, TFT_OK
tft_status tft_cuda_free(void *p);                  // NULL is a no-op
tft_status tft_cuda_memset0(void *p, size_t bytes, void *stream);
tft_status tft_cuda_upload(void *dst, const void *host_src, size_t bytes);   // synchronous
tft_status tft_cuda_download(void *host_dst, const void *src, size_t bytes); // synchronous
tft_status tft_cuda_sync(void *stream); // waits for the stream; reports faults of earlier kernels

// ---- streams, pinned host memory, copies, graphs (graph.cu) ---------------------------------
tft_status tft_cuda_stream_new(void **stream); // a non-blocking stream
void       tft_cuda_stream_free(void *stream); // NULL is a no-op
tft_status tft_cuda_host_alloc(void **p, size_t bytes); // pinned (page-locked) host memory
void       tft_cuda_host_free(void *p);                 // NULL is a no-op
// bytes from src to dst, each host (pinned for a truly asynchronous copy) or device, on stream
tft_status tft_cuda_copy_async(void *dst, const void *src, size_t bytes, void *stream);
// Stream capture: everything enqueued on stream between begin and end becomes one graph; end
// instantiates it (*exec) and reports a failure that happened while capturing.
tft_status tft_cuda_capture_begin(void *stream);
tft_status tft_cuda_capture_end(void *stream, void **exec);
tft_status tft_cuda_graph_launch(void *exec, void *stream);
void       tft_cuda_graph_free(void *exec); // NULL is a no-op

// ---- cuBLAS GEMM ------------------------------------------------------------------------------
// Opaque: a cuBLAS handle bound to one stream, math mode CUBLAS_DEFAULT_MATH (no TF32).
typedef struct tft_cuda_blas tft_cuda_blas;
tft_status tft_cuda_blas_new(tft_cuda_blas **out, void *stream);
void       tft_cuda_blas_free(tft_cuda_blas *h); // NULL is a no-op

// y[r,:] (+)= x[r,:]·Wᵀ + b      x: [R, Cin] (ld ldx)  W: [Cout, Cin]  b: [Cout] or NULL
// y: [R, Cout] (ld ldy); accumulate=1 adds to y. One cublasSgemm (column-major view: yᵀ = W·xᵀ,
// op(W) = T) then, with a bias, one broadcast-add kernel on the handle's stream. y must not
// overlap x or W. ldx >= Cin, ldy >= Cout.
tft_status tft_cuda_linear(tft_cuda_blas *h, float *y, int ldy, const float *x, int ldx, const float *W,
                           const float *b, int R, int Cin, int Cout, int accumulate);

// ---- elementwise ------------------------------------------------------------------------------
// x[i] = ELU(x[i]) (alpha 1), in place.
tft_status tft_cuda_elu(float *x, size_t n, void *stream);
// GRN epilogue of fc1: u[r,c] = ELU(u[r,c] + ctx[r / ctx_group, c])   u: [R, H] (ld ldu)
// ctx: NULL (plain ELU) or [R / ctx_group, H] contiguous; ctx_group >= 1.
tft_status tft_cuda_add_ctx_elu(float *u, int ldu, const float *ctx, int ctx_group, int R, int H, void *stream);
// y[r,c] = z[r,c] * sigmoid(z[r,C+c])     z: [R, 2C]  y: [R, C]. Unlike tft_op_glu, y must NOT
// overlap z (threads run in no order, an in-place compaction would race).
tft_status tft_cuda_glu(float *y, const float *z, int R, int C, void *stream);
// One LSTM step, PyTorch gate order (i, f, g, o); h, c: [n, H] in place   gates: [n, 4H]
tft_status tft_cuda_lstm_cell(float *h, float *c, const float *gates, int n, int H, void *stream);
// The same with gates = xg + hg (float add first, as tft_op_lstm_cell_add)   xg, hg: [n, 4H]
tft_status tft_cuda_lstm_cell_add(float *h, float *c, const float *xg, const float *hg, int n, int H,
                                  void *stream);
// Variable-selection combine: y[r,:] = Σ_k outs[k, r, :] * wts[r, k] (k in order)
// outs: [n, R, H]  wts: [R, n]  y: [R, H]
tft_status tft_cuda_vsn_combine(float *y, const float *outs, const float *wts, int R, int n, int H,
                                void *stream);
// De-normalization (§7.1): y[i] = reverse(x[i] * scale + center), two float32 roundings (no FMA),
// reverse per tf as tft_op_denormalize. y may alias x exactly.
tft_status tft_cuda_denormalize(float *y, const float *x, size_t n, float center, float scale,
                                tft_transform tf, void *stream);

// ---- normalization ----------------------------------------------------------------------------
// y[r,:] = LayerNorm(x[r,:] + skip[r,:]) · w + b   (biased variance, eps inside the sqrt)
// x [R, C] (ld ldx), skip [R, C] (ld lds) or NULL, y [R, C] (ld ldy); w, b: [C].
// y may alias x only with ldy == ldx, skip only with ldy == lds (each element is read and written
// by the same lane).
tft_status tft_cuda_add_layernorm(float *y, int ldy, const float *x, int ldx, const float *skip, int lds,
                                  const float *w, const float *b, int R, int C, float eps, void *stream);
// Fused GateAddNorm epilogue (one kernel after the GLU GEMM z = x·W_gluᵀ + b_glu):
// y[r,:] = LayerNorm_C( z[r,:C] * sigmoid(z[r,C:]) + skip[r,:] ) · w + b, eps 1e-5 as
// tft_op_gate_add_norm.   z: [R, 2C] contiguous  skip: [R, C] (ld ldskip)  y: [R, C] contiguous.
// y must not overlap z; it may alias skip only when ldskip == C.
tft_status tft_cuda_gate_add_norm(float *y, const float *z, int R, int C, const float *skip, int ldskip,
                                  const float *w, const float *b, void *stream);
// Row softmax in place: x[r,:] = exp(x[r,:]-max) / sum.   x: [R, C]
tft_status tft_cuda_softmax(float *x, int R, int C, void *stream);
// Masked row softmax in place, tft_op_masked_softmax per row: row r's visible keys are
// [0, ne[r]) and [d0, d0 + nv[r]) (clamped to 0 <= ne <= d0 <= d0 + nv <= C); the others are
// replaced by mask_bias, then the whole row is softmaxed (masked keys come out exactly 0 whenever
// exp(mask_bias - max) underflows, as on the CPU). ne, nv: [R] device int32.
tft_status tft_cuda_masked_softmax(float *x, int R, int C, const int32_t *ne, int d0, const int32_t *nv,
                                   float mask_bias, void *stream);

// ---- attention --------------------------------------------------------------------------------
// Interpretable multi-head attention core, exactly tft_op_attention's semantics (ops/attention.c):
//   S[b,q,h,j] = (Q[b,q,h,:]·K[b,j,h,:]) / sqrt((float)D)
//   masked: j < Te: j >= enc_len[b];  j = Te+k: causal ? k >= q : k >= dec_len[b]  -> mask_bias
//   attn = softmax_j(S);  out[b,q,:] = (Σ_h Σ_j attn[b,q,h,j] V[b,j,:]) / NH
// Q: [B, Td, NH*D]  K: [B, Te+Td, NH*D]  V: [B, Te+Td, D]  enc_len, dec_len: [B] device int32
// attn: [B, Td, NH, Te+Td] (written)  out: [B, Td, D]. Scores, softmax and the head average are
// one kernel (one block per (q, b)); TFT_ERR_UNSUPPORTED when NH*(D + Te + Td) floats exceed the
// device's shared memory per block.
tft_status tft_cuda_attention(float *out, float *attn, const float *Q, const float *K, const float *V,
                              const int32_t *enc_len, const int32_t *dec_len, int B, int Te, int Td, int NH,
                              int D, int causal, float mask_bias, void *stream);

// ---- persistent LSTM layer --------------------------------------------------------------------
// One LSTM layer over the encoder then the decoder in ONE launch (pytorch-forecasting's two packed
// LSTMs, as engine/backend_cpu.c's lstm_forward called for the encoder then the decoder), one thread
// block per series, the recurrent weights held on chip for all Te + Td steps: W_hh's first 64
// columns in registers (one gate row per thread), the rest in shared memory. H <= 128 (4H <= 512
// threads); larger H gives TFT_ERR_UNSUPPORTED.
//   xe: [B, Te, 4H] (ld per series xe_stride, per step 4H): encoder input projection x·W_ihᵀ + b_ih
//   xd: [B, Td, 4H] (ld xd_stride): the decoder's, with its own W_ih, b_ih
//   whe, bhe / whd, bhd: encoder / decoder W_hh [4H, H], b_hh [4H]
//   erun, drun: [B] steps each series runs in the encoder (callers pass max(enc_len, 1), the packed
//     run) and decoder (dec_len); clamped to [0, Te] / [0, Td]
//   h, c: [B, H] initial state in (the static context), final DECODER state out
//   patch: NULL, or [B]: patch[b] >= 0 makes series b's decoder start from (ph[patch[b]],
//     pc[patch[b]]) instead of its final encoder state (the zero-length-history quirk of §5.4;
//     the caller computes the row per layer); ph, pc: [*, H]
//   oe: [B, Te, H] (ld oe_stride), od: [B, Td, H] (ld od_stride): the hidden state of every step,
//     0 at steps t >= run[b] (as the library's unpacked output)
// Gate sum and cell as tft_op_lstm_cell_add: gates = xg + (h·W_hhᵀ + b_hh), k ascending from +0.
tft_status tft_cuda_lstm_layer(float *oe, size_t oe_stride, float *od, size_t od_stride, float *h, float *c,
                               const float *xe, size_t xe_stride, const float *xd, size_t xd_stride,
                               const float *whe, const float *bhe, const float *whd, const float *bhd,
                               const int32_t *erun, const int32_t *drun, const int32_t *patch,
                               const float *ph, const float *pc, int B, int Te, int Td, int H, void *stream);

// ---- TFT blocks (cuda/blocks.cu): what the CUDA backend needs beyond the ops above -------------
// Launch limits of the by-value host arrays below (kernel parameters, no upload, graph-capturable).
#define TFT_CUDA_MAX_BAG 32     // index columns of one EmbeddingBag
#define TFT_CUDA_MAX_TARGETS 64 // targets of the output heads

// Prescaler Linear(1, a) as tft_op_prescale: y[r,j] = x[r*ldx] * w[j] + b[j] (a float mul then a
// float add: two roundings, no FMA, so bitwise tft_op_prescale).   w, b: [a]   y: [R, a] (ld ldy)
// R, a >= 0, ldx >= 1, ldy >= a.
tft_status tft_cuda_prescale(float *y, int ldy, const float *x, int ldx, const float *w, const float *b, int R, int a,
                             void *stream);
// Embedding / EmbeddingBag sum as tft_op_embedding: y[r,:] = Σ_k table[idx[r*idx_stride + cols[k]], :]
// (k in order: the first row, then float adds, as the CPU op, so bitwise tft_op_embedding; ncols 0
// writes zeros).   idx: device int32 (already validated: every index a row of table)
// cols: HOST int32 [ncols], passed to the kernel by value (ncols <= TFT_CUDA_MAX_BAG, else
// TFT_ERR_UNSUPPORTED)   table: [*, dim]   y: [R, dim] (ld ldy >= dim).
tft_status tft_cuda_embedding(float *y, int ldy, const int32_t *idx, int idx_stride, const int32_t *cols, int ncols,
                              const float *table, int R, int dim, void *stream);
// ResampleNorm as tft_op_resample_norm: interpolation n -> m (align_corners, torch's float32 index
// arithmetic; none when n == m), the trainable gate 2*sigmoid(mask), then LayerNorm_m (eps 1e-5).
// One warp per row.   x: [R, n] (ld ldx >= n)   mask, w, b: [m]   y: [R, m] contiguous, not
// overlapping x. n >= 1 when there is work.
tft_status tft_cuda_resample_norm(float *y, const float *x, int ldx, int R, int n, int m, const float *mask,
                                  const float *w, const float *b, void *stream);
// A whole GatedResidualNetwork as tft_op_grn (same ctx_add / ctx_group semantics, ctx_group <= 0
// counts as 1; residual = x when in == out, else ResampleNorm(x)), on the handle's stream: cuBLAS
// GEMMs (tft_cuda_linear) + the epilogue kernels (add_ctx_elu, gate_add_norm) + resample_norm.
// w: a tft_grn_w whose weight pointers are DEVICE pointers (the *_p packed fields and ctx_w are
// ignored); in, hid, out >= 1.   x: [R, in] (ld ldx >= in)   ctx_add: NULL or device
// [ceil(R / ctx_group), hid]   y: [R, out] contiguous, must not overlap x or scratch.
// scratch: device, tft_cuda_grn_scratch(R, w) floats (0 for R <= 0); layout [R, out] resampled
// residual (only when in != out), [R, max(hid, 2*out)] fc1 / GLU GEMM output, [R, hid] fc2 output.
size_t     tft_cuda_grn_scratch(int R, const tft_grn_w *w);
tft_status tft_cuda_grn(tft_cuda_blas *h, float *y, const float *x, int ldx, int R, const tft_grn_w *w,
                        const float *ctx_add, int ctx_group, float *scratch);
// The stream a handle runs on (so block code can launch its own kernels on it); NULL for h == NULL.
void *tft_cuda_blas_stream(const tft_cuda_blas *h);
// x[i] = v for i < n
tft_status tft_cuda_fill(float *x, size_t n, float v, void *stream);
// 2-D copy (cudaMemcpy2DAsync device-to-device, in floats): rows blocks of `width` floats, from
// src (row stride spitch floats) to dst (row stride dpitch); dpitch, spitch >= width. The two
// regions must not overlap.
tft_status tft_cuda_copy2d(float *dst, size_t dpitch, const float *src, size_t spitch, size_t width, size_t rows,
                           void *stream);
// Output heads epilogue: x: [B, Td, NT*Q] (the output layer's rows) -> y: [B, NT, Td, Q] (the
// API's prediction layout), y not overlapping x.
// denorm = 0: a plain transpose (prediction_normalized); target_scale and tf are not read (may be
// NULL) and NT is not limited. denorm = 1: y = tft_op_denormalize(x, center, scale, tf[j]) with
// (center, scale) = target_scale[(b*NT + j)*2 + 0/1] (device float [B, NT, 2]), two float32
// roundings as tft_cuda_denormalize. tf: HOST array [NT] passed by value (NT <=
// TFT_CUDA_MAX_TARGETS, else TFT_ERR_UNSUPPORTED).
tft_status tft_cuda_heads_out(float *y, const float *x, int B, int Td, int NT, int Q, const float *target_scale,
                              const tft_transform *tf, int denorm, void *stream);

#ifdef __cplusplus
}
#endif
#endif
