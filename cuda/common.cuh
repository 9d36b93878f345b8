// common.cuh: what every cuda/*.cu shares: the status/error plumbing (no abort, no exit: each
// CUDA call becomes a tft_status plus a "file:line: call: cudaErrorName: message" detail, the
// llm.c cudaCheck hint without its exit), launch-size helpers and warp reductions.
#ifndef TFT_CUDA_COMMON_CUH
#define TFT_CUDA_COMMON_CUH
#include <cuda_runtime.h>
#include <float.h>

#include "ops_cuda.h"

// engine/tft.c (C linkage): sets the thread-local tft_last_error() and returns st
extern "C" tft_status tft__fail(tft_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define TFT_CU_CHECK(call)                                                                                   \
    do {                                                                                                     \
        const cudaError_t tft_e_ = (call);                                                                   \
        if (tft_e_ != cudaSuccess)                                                                           \
            return tft__fail(TFT_ERR_BACKEND, "%s:%d: %s: %s: %s", __FILE__, __LINE__, #call,                \
                             cudaGetErrorName(tft_e_), cudaGetErrorString(tft_e_));                          \
    } while (0)

// After a <<<...>>> launch: a bad configuration shows up here, not in the launch statement.
#define TFT_CU_LAUNCHED() TFT_CU_CHECK(cudaGetLastError())

#define TFT_CU_ARG(cond)                                                                                     \
    do {                                                                                                     \
        if (!(cond))                                                                                         \
            return tft__fail(TFT_ERR_INVALID_ARG, "%s:%d: %s: invalid argument (%s)", __FILE__, __LINE__,   \
                             __func__, #cond);                                                               \
    } while (0)

#define TFT_CU_STREAM(s) ((cudaStream_t)(s))

// A launcher calling launchers: the first failure returns as is (its tft_last_error() kept).
#define TFT_CU_TRY(call)                                                                                     \
    do {                                                                                                     \
        const tft_status tft_st_ = (call);                                                                   \
        if (tft_st_ != TFT_OK)                                                                               \
            return tft_st_;                                                                                  \
    } while (0)

// Kernel launches and dynamic shared memory go through these two macros so the same source also
// compiles as C++ against the SIMT harness (tests/simt/simt.h: the kernels run on CPU fibers in
// `make test`). Usage: TFT_LAUNCH(kernel, grid, block, smem, stream)(args...);
// TFT_DYNAMIC_SHARED(float, sm); declares `sm`, the block's dynamic shared memory.
#ifdef __CUDACC__
#define TFT_LAUNCH(kernel, grid, block, smem, stream) kernel<<<(grid), (block), (smem), (stream)>>>
#define TFT_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#else
#define TFT_LAUNCH(kernel, grid, block, smem, stream)                                                        \
    simt::make_launcher(kernel, #kernel, (grid), (block), (smem), (stream))
#define TFT_DYNAMIC_SHARED(type, name) type *const name = static_cast<type *>(simt::dynamic_shared())
#endif

// Linkage: kernels are `static __global__` at file scope, not in an anonymous namespace: nvcc gives
// the host launch stub of a kernel in an anonymous namespace EXTERNAL linkage (a _Z..__device_stub__
// symbol), which `make check-symbols` rejects (libtft.a exports only tft_*); `static` makes the
// stub local. Device helpers are `static __device__` (no host symbol either way).

namespace {

constexpr int kWarp = 32;
// Elementwise kernels: 256 threads, grid-stride loops over at most kMaxBlocks blocks (enough to
// fill 132 SMs several times over; the loop covers any n without a grid-size overflow).
constexpr int kEwThreads = 256;
constexpr int kMaxBlocks = 4096;
// Row kernels (one warp per row): 4 warps per block.
constexpr int kRowWarps = 4;

// Elementwise kernels: i runs over [0, n) in a grid-stride loop (any n, any grid size).
#define GRID_STRIDE(i, n)                                                                                    \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)
// Row kernels: warp (threadIdx.x / 32) of the block takes rows r, r + gridDim.x * kRowWarps, ...
#define ROW_LOOP(r, R)                                                                                       \
    for (int r = blockIdx.x * kRowWarps + (int)(threadIdx.x / kWarp); r < (R); r += gridDim.x * kRowWarps)

inline unsigned ew_blocks(size_t n) {
    const size_t b = (n + kEwThreads - 1) / kEwThreads;
    return (unsigned)(b < (size_t)kMaxBlocks ? (b ? b : 1) : (size_t)kMaxBlocks);
}
inline unsigned row_blocks(int R) {
    const int b = (R + kRowWarps - 1) / kRowWarps;
    return (unsigned)(b < kMaxBlocks ? (b ? b : 1) : kMaxBlocks);
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = kWarp / 2; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = kWarp / 2; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
// torch's sigmoid in float: 1 / (1 + exp(-x)) with the accurate expf (no __expf)
__device__ __forceinline__ float sigmoidf_(float x) {
    return 1.0f / (1.0f + expf(-x));
}

// Two-pass LayerNorm statistics over a row yr[0, C) owned by one warp (lane l holds columns l,
// l+32, ...; sum = that lane's partial sum of the row): the mean, then the biased variance of
// (z - mean), eps inside the sqrt, then the affine map in place. The caller stored z in yr by the
// same lane, so passes 2 and 3 re-read it from L1/L2. Used by norm.cu and blocks.cu.
__device__ __forceinline__ void ln_finish(float *yr, const float *w, const float *b, int C, float eps, float sum,
                                          int lane) {
    const float mean = warp_sum(sum) / (float)C;
    float       v    = 0.0f;
    for (int c = lane; c < C; c += kWarp) {
        const float d = yr[c] - mean;
        v             = fmaf(d, d, v);
    }
    const float var  = warp_sum(v) / (float)C;
    const float rstd = 1.0f / sqrtf(var + eps); // IEEE sqrt and division, no rsqrtf approximation
    for (int c = lane; c < C; c += kWarp)
        yr[c] = fmaf((yr[c] - mean) * rstd, w[c], b[c]);
}

__device__ __forceinline__ float softplusf_(float v) {
    return v > 20.0f ? v : log1pf(expf(v));
}

// De-normalization of one value as tft_op_denormalize (§7.1): reverse_tf(x * scale + center); the
// affine part is two roundings (__fmul_rn, __fadd_rn keep nvcc from fusing an FMA). tf: a
// tft_transform. Used by elementwise.cu (tft_cuda_denormalize) and blocks.cu (tft_cuda_heads_out).
__device__ __forceinline__ float denorm1(float x, float center, float scale, int tf) {
    float v = __fadd_rn(__fmul_rn(x, scale), center);
    switch (tf) {
    case TFT_TF_LOG:
    case TFT_TF_LOG1P: v = expf(v); break; // log1p reverses with exp (library quirk)
    case TFT_TF_LOGIT:
        v = sigmoidf_(v);
        v = v < FLT_MIN ? FLT_MIN : v;
        v = v > 1.0f - FLT_EPSILON ? 1.0f - FLT_EPSILON : v;
        break;
    case TFT_TF_COUNT:
    case TFT_TF_SOFTPLUS: v = softplusf_(v); break;
    case TFT_TF_RELU: v = v < 0.0f ? 0.0f : v; break; // NaN passes through
    case TFT_TF_SQRT: v = __fmul_rn(v, v); break;
    default: break;
    }
    return v;
}

} // namespace
#endif
