// common.cuh: what every cuda/*.cu shares: the status/error plumbing (no abort, no exit: each
// CUDA call becomes a tft_status plus a "file:line: call: cudaErrorName: message" detail, the
// llm.c cudaCheck hint without its exit), launch-size helpers and warp reductions.
#ifndef TFT_CUDA_COMMON_CUH
#define TFT_CUDA_COMMON_CUH
#include <cuda_runtime.h>

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

} // namespace
#endif
