// simt.h: a test-only SIMT harness that runs the cuda/*.cu kernels' own source on the CPU.
//
// The .cu files are compiled as C++17 by g++ with -Itests/simt, so their `#include <cuda_runtime.h>`
// and `#include <cublas_v2.h>` land on the two facade headers here, which include this one. It maps:
//   - the CUDA keywords (__global__, __device__, __shared__, __launch_bounds__, ...) to plain C++;
//   - threadIdx / blockIdx / blockDim / gridDim to the running CUDA thread's registers;
//   - __syncthreads (+ _count/_and/_or), __syncwarp, the warp shuffles (__shfl_sync, _up, _down,
//     _xor, with width) and votes (__ballot_sync, __any_sync, __all_sync) to real barriers: block
//     barriers over all live threads of the block, warp barriers over the lanes of the mask;
//   - dynamic shared memory (TFT_DYNAMIC_SHARED in cuda/common.cuh) to one buffer per block, filled
//     with 0xFF bytes (float NaN, int -1) before the block runs so a read-before-write shows;
//     static `__shared__` locals to `static` (blocks run one after another, so a static IS per block);
//   - the float intrinsics the kernels use, and the atomics (as __atomic builtins, so TSan sees them
//     as atomic accesses, relaxed as on the GPU);
//   - kernel launches: TFT_LAUNCH(kernel, grid, block, smem, stream)(args...) in cuda/common.cuh is
//     kernel<<<...>>>(args) under nvcc and simt::launcher(...)(args) here; arguments convert to the
//     kernel's parameter types at the call site exactly as a function call (NULL stays a pointer);
//   - the runtime calls used (simt.cc) and cuBLAS's Sgemm / SgemmStridedBatched (a CPU GEMM).
//
// Execution model (simt.cc): every CUDA thread of a block is a fiber with its own stack, run on the
// launching host thread; fibers run in thread-index order, each until it reaches a barrier or a warp
// collective (or returns), and a barrier opens when every participant still running has arrived.
// That is exact for barrier-synchronized code: any result that depends on the interleaving between
// barriers is a race on the GPU too. Runs are deterministic. Blocks of a grid run one after
// another; launches are synchronous (every stream op has completed when the call returns) and
// serialized process-wide. Kernel bugs the harness finds itself (a deadlock, lanes that disagree on
// a collective, a shuffle from a lane outside the mask) fail the launch: a message on stderr and
// cudaErrorLaunchFailure from the next synchronizing call. Bad launch configurations (block size,
// grid size, dynamic shared memory above 48 KiB without cudaFuncSetAttribute) are refused as the
// driver refuses them. Fresh device memory is filled with 0xFF bytes too (cudaMalloc does not zero).
// Under ThreadSanitizer each fiber is a TSan fiber (__tsan_create_fiber) switched to WITHOUT
// synchronization, and barriers / warp collectives are release + acquire on per-barrier sync objects,
// so TSan reports two threads of a block touching the same shared or global word with no barrier
// between them (the CPU stand-in for compute-sanitizer racecheck). Blocks are ordered one after
// another (the host owns each block's shared memory between them), so a race between two blocks
// of one launch is NOT reported.
//
// Numerics (fp32): the host's libm computes expf/expm1f/tanhf/log1pf (glibc: within an ulp) where
// the device uses libdevice's (within 1-2 ulp), sqrtf and IEEE division are exact on both; results
// may differ from the device in the last bits (tests compare with NMSE, never bitwise). fmaf, __fmaf_rn, __fadd_rn, __fmul_rn, __fdiv_rn,
// __fsqrt_rn, __frcp_rn, __saturatef are IEEE-exact on both. Approximate on the GPU (the SFU), exact
// here: __expf, __logf, __powf, __fdividef, rsqrtf. nvcc contracts an unmarked a*b+c into an
// FMA by default (-fmad=true); the harness builds with -ffp-contract=off, so such sites round twice
// here and once on the device (the kernels use __fmul_rn / __fadd_rn where the CPU ops round twice).
//
// What it cannot show: speed, occupancy, coalescing, bank conflicts, register spills, the real
// warp scheduling (lanes of a warp run one after another between collectives, never in lockstep:
// code that relies on implicit warp-synchronous execution without __syncwarp reads whatever the
// fiber order gives; TSan reports it as a race), __launch_bounds__ limits, races between blocks,
// between kernels on different streams (every launch completes before the next) or through the
// GPU's weaker memory model, and device-specific rounding of the libdevice functions.
#ifndef TFT_SIMT_H
#define TFT_SIMT_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <functional>
#include <utility>

#define TFT_SIMT 1

// ---- CUDA keywords ----------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __shared__ static

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
static constexpr int warpSize = 32;

// ---- runtime types and error codes (the CUDA runtime's values) --------------------------------
enum cudaError_t {
    cudaSuccess                        = 0,
    cudaErrorInvalidValue              = 1,
    cudaErrorMemoryAllocation          = 2,
    cudaErrorInvalidConfiguration      = 9,
    cudaErrorInvalidPitchValue         = 12,
    cudaErrorInvalidDevicePointer      = 17,
    cudaErrorInvalidMemcpyDirection    = 21,
    cudaErrorNoDevice                  = 100,
    cudaErrorInvalidDevice             = 101,
    cudaErrorInvalidResourceHandle     = 400,
    cudaErrorNotReady                  = 600,
    cudaErrorLaunchFailure             = 719,
    cudaErrorStreamCaptureUnsupported  = 900,
    cudaErrorStreamCaptureInvalidated  = 901,
    cudaErrorStreamCaptureWrongThread  = 908,
    cudaErrorIllegalState              = 401,
};
typedef enum cudaError_t cudaError;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost     = 0,
    cudaMemcpyHostToDevice   = 1,
    cudaMemcpyDeviceToHost   = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault        = 4,
};
enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock          = 1,
    cudaDevAttrMaxSharedMemoryPerBlock     = 8,
    cudaDevAttrWarpSize                    = 10,
    cudaDevAttrMultiProcessorCount         = 16,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};
enum cudaFuncAttribute {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
};
enum cudaStreamCaptureMode {
    cudaStreamCaptureModeGlobal      = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed     = 2,
};
enum cudaStreamCaptureStatus {
    cudaStreamCaptureStatusNone        = 0,
    cudaStreamCaptureStatusActive      = 1,
    cudaStreamCaptureStatusInvalidated = 2,
};

typedef struct simt_stream *cudaStream_t;
typedef struct simt_event  *cudaEvent_t;
typedef struct simt_graph  *cudaGraph_t;
typedef struct simt_graph_exec *cudaGraphExec_t;
#define cudaStreamDefault 0x0u
#define cudaStreamNonBlocking 0x1u
#define cudaEventDefault 0x0u
#define cudaEventDisableTiming 0x2u

// ---- the harness core (simt.cc) ---------------------------------------------------------------
namespace simt {
// What a CUDA thread sees of itself; the running fiber's lives in tls_regs.
struct thread_regs {
    uint3 thread_idx, block_idx;
    dim3  block_dim, grid_dim;
    void *dyn_smem;
};
extern thread_local thread_regs *tls_regs;

// The fiber side of the intrinsics. Calling any of them outside a kernel is a harness error
// (reported on stderr, the launch fails).
int      block_barrier(int pred, int kind); // kind 0: plain, 1: count, 2: and, 3: or
uint64_t warp_shfl(unsigned mask, uint64_t bits, int b, int c, int mode);
unsigned warp_ballot(unsigned mask, int pred);
void     warp_sync(unsigned mask);
enum { SHFL_UP = 0, SHFL_DOWN = 1, SHFL_BFLY = 2, SHFL_IDX = 3 };

// Runs body once per CUDA thread of every block of grid on the stream (now, or recorded when the
// stream is capturing). Validates the configuration as the driver does: a bad one sets the error
// cudaGetLastError returns and runs nothing. name: the kernel's name for messages.
void launch(const void *kernel, const char *name, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
            std::function<void()> body);

// TFT_LAUNCH(kernel, grid, block, smem, stream)(args...): the parameter types come from the kernel,
// so arguments convert at the call site as for <<<>>> (NULL, int -> size_t, ...); each CUDA thread
// gets its own copy of the arguments, as kernel parameters on the device.
template <class... P> struct launcher {
    void (*kernel)(P...);
    const char  *name;
    dim3         grid, block;
    size_t       smem;
    cudaStream_t stream;
    void         operator()(P... args) const {
        void (*k)(P...) = kernel;
        launch(reinterpret_cast<const void *>(k), name, grid, block, smem, stream, [k, args...]() { k(args...); });
    }
};
template <class... P>
launcher<P...> make_launcher(void (*kernel)(P...), const char *name, dim3 grid, dim3 block, size_t smem,
                             cudaStream_t stream) {
    return launcher<P...>{kernel, name, grid, block, smem, stream};
}

void *dynamic_shared(void);

// Host-side test hooks (tests/simt/test_simt.cu): the number of launches run so far (graph replays
// included), so a test can tell a recorded launch from an executed one.
unsigned long long launches_run(void);
} // namespace simt

#define threadIdx (simt::tls_regs->thread_idx)
#define blockIdx (simt::tls_regs->block_idx)
#define blockDim (simt::tls_regs->block_dim)
#define gridDim (simt::tls_regs->grid_dim)

// ---- barriers, warp collectives ---------------------------------------------------------------
inline void __syncthreads(void) {
    simt::block_barrier(0, 0);
}
inline int __syncthreads_count(int p) {
    return simt::block_barrier(p, 1);
}
inline int __syncthreads_and(int p) {
    return simt::block_barrier(p, 2);
}
inline int __syncthreads_or(int p) {
    return simt::block_barrier(p, 3);
}
inline void __syncwarp(unsigned mask = 0xffffffffu) {
    simt::warp_sync(mask);
}
inline unsigned __ballot_sync(unsigned mask, int p) {
    return simt::warp_ballot(mask, p);
}
inline int __any_sync(unsigned mask, int p) {
    return simt::warp_ballot(mask, p) != 0;
}
inline int __all_sync(unsigned mask, int p) {
    return simt::warp_ballot(mask, !p) == 0;
}
// No __activemask: the lanes of a warp run one after another here, never converged, so the set of
// "active" lanes is not defined (a kernel using it does not compile against the harness).

namespace simt {
// The shfl.sync instruction's c operand: ((32 - width) << 8) | clamp, as the CUDA headers build it.
template <class T> inline T shfl_as(unsigned mask, T v, int b, int c, int mode) {
    static_assert(sizeof(T) <= 8, "__shfl_*_sync: at most 8 bytes");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    bits = warp_shfl(mask, bits, b, c, mode);
    T r;
    memcpy(&r, &bits, sizeof r);
    return r;
}
} // namespace simt
template <class T> inline T __shfl_sync(unsigned mask, T v, int src, int width = warpSize) {
    return simt::shfl_as(mask, v, src, ((warpSize - width) << 8) | 0x1f, simt::SHFL_IDX);
}
template <class T> inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
    return simt::shfl_as(mask, v, (int)delta, (warpSize - width) << 8, simt::SHFL_UP);
}
template <class T> inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
    return simt::shfl_as(mask, v, (int)delta, ((warpSize - width) << 8) | 0x1f, simt::SHFL_DOWN);
}
template <class T> inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize) {
    return simt::shfl_as(mask, v, lane_mask, ((warpSize - width) << 8) | 0x1f, simt::SHFL_BFLY);
}

// ---- float intrinsics -------------------------------------------------------------------------
// IEEE-exact on the device and here:
inline float __fadd_rn(float a, float b) {
    return a + b;
}
inline float __fsub_rn(float a, float b) {
    return a - b;
}
inline float __fmul_rn(float a, float b) {
    return a * b;
}
inline float __fdiv_rn(float a, float b) {
    return a / b;
}
inline float __fmaf_rn(float a, float b, float c) {
    return fmaf(a, b, c);
}
inline float __fsqrt_rn(float a) {
    return sqrtf(a);
}
inline float __frcp_rn(float a) {
    return 1.0f / a;
}
inline float __saturatef(float a) {
    return a > 0.0f ? (a < 1.0f ? a : 1.0f) : 0.0f; // NaN -> 0, as the device
}
// Approximate on the device (SFU: ~2 ulp, worse for large |x|; __fdividef returns 0 for
// 2^126 < |b| < 2^128), exact here: a kernel that needs the exact value must not use these.
inline float __expf(float a) {
    return expf(a);
}
inline float __logf(float a) {
    return logf(a);
}
inline float __powf(float a, float b) {
    return powf(a, b);
}
inline float __fdividef(float a, float b) {
    return a / b;
}
inline float rsqrtf(float a) {
    return 1.0f / sqrtf(a);
}
namespace simt {
template <class To, class From> inline To bit_cast(From f) {
    static_assert(sizeof(To) == sizeof(From), "bit_cast: same size");
    To t;
    memcpy(&t, &f, sizeof t);
    return t;
}
} // namespace simt
inline int __float_as_int(float f) {
    return simt::bit_cast<int>(f);
}
inline float __int_as_float(int i) {
    return simt::bit_cast<float>(i);
}
inline unsigned __float_as_uint(float f) {
    return simt::bit_cast<unsigned>(f);
}
inline float __uint_as_float(unsigned u) {
    return simt::bit_cast<float>(u);
}
inline int __popc(unsigned x) {
    return __builtin_popcount(x);
}
inline int __clz(int x) {
    return x ? __builtin_clz((unsigned)x) : 32;
}
inline int __ffs(int x) {
    return __builtin_ffs(x);
}

// ---- atomics (relaxed, as the device's atomic* functions) -------------------------------------
inline int atomicAdd(int *p, int v) {
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
inline unsigned atomicAdd(unsigned *p, unsigned v) {
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v) {
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
inline float atomicAdd(float *p, float v) { // a CAS loop on the bits (one float add, IEEE)
    unsigned *u = reinterpret_cast<unsigned *>(p), old = __atomic_load_n(u, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(u, &old, __float_as_uint(__uint_as_float(old) + v), false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
    return __uint_as_float(old);
}
inline int atomicSub(int *p, int v) {
    return __atomic_fetch_sub(p, v, __ATOMIC_RELAXED);
}
inline int atomicMax(int *p, int v) {
    int old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (old < v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return old;
}
inline int atomicMin(int *p, int v) {
    int old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (old > v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return old;
}
template <class T> inline T atomicExch(T *p, T v) {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "atomicExch: 4 or 8 bytes");
    return __atomic_exchange_n(p, v, __ATOMIC_RELAXED);
}
inline int atomicCAS(int *p, int cmp, int v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return cmp;
}
inline unsigned atomicCAS(unsigned *p, unsigned cmp, unsigned v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return cmp;
}
inline unsigned long long atomicCAS(unsigned long long *p, unsigned long long cmp, unsigned long long v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return cmp;
}

// ---- runtime API (the calls cuda/ uses, and what graph capture needs) -------------------------
const char *cudaGetErrorName(cudaError_t e);
const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaGetDevice(int *dev);
cudaError_t cudaSetDevice(int dev);
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int dev);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaFuncSetAttributeImpl(const void *kernel, cudaFuncAttribute attr, int value);
template <class T> inline cudaError_t cudaFuncSetAttribute(T *kernel, cudaFuncAttribute attr, int value) {
    return cudaFuncSetAttributeImpl(reinterpret_cast<const void *>(kernel), attr, value);
}

cudaError_t cudaMalloc(void **p, size_t bytes);
template <class T> inline cudaError_t cudaMalloc(T **p, size_t bytes) {
    return cudaMalloc(reinterpret_cast<void **>(p), bytes);
}
cudaError_t cudaFree(void *p);
cudaError_t cudaMallocHost(void **p, size_t bytes);
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s = 0);
// dpitch, spitch, width in bytes; width <= both pitches (else cudaErrorInvalidPitchValue)
cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t s = 0);
cudaError_t cudaMemset(void *p, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s = 0);
cudaError_t cudaMemset2DAsync(void *p, size_t pitch, int value, size_t width, size_t height, cudaStream_t s = 0);

cudaError_t cudaStreamCreate(cudaStream_t *s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamQuery(cudaStream_t s);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventQuery(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);

// Graph capture and replay: between Begin and EndCapture every op on the stream is recorded (not
// run); cudaGraphLaunch replays the recorded ops in order. A synchronous call on the capturing
// stream (cudaStreamSynchronize) invalidates the capture, as on the device.
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g);
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus *status);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t g, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t g);
#endif
