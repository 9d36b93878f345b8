// test_simt.cu: the SIMT harness's own tests (tests/simt/simt.h). Compiled by g++ as C++ against
// the harness only (never by nvcc). Each case pins one behaviour the cuda/ kernels rely on to the
// CUDA semantics, written out independently here: shuffle source lanes (PTX shfl.sync), votes,
// block barriers (a missing one would show: fibers run one after another between barriers), exited
// threads at a barrier, dynamic shared memory and its 48 KiB opt-in, launch configuration errors,
// atomics, 3-D thread/block indices, kernel failures the harness must report (deadlock, lanes that
// disagree, a shuffle from outside the mask), graph capture and replay, memory checks, 2-D copies,
// the cuBLAS GEMM. Under TSan (make SAN=thread test) it also runs a kernel with a missing __syncthreads and a
// missing __syncwarp in a child process and requires TSan to report both races, and their fixed
// twins to report none; under ASan (make SAN=1 test), a write one past the dynamic shared memory
// must be reported.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "../../cuda/common.cuh"
#include "cublas_v2.h"

// the harness's test hook: launches run so far
#define RUNS() simt::launches_run()

#define CK(call) assert_int_equal((int)(call), (int)cudaSuccess)

// ---- shuffles ---------------------------------------------------------------------------------
// out[mode][tid] for 64 threads (2 warps): the value of the source lane, values = 100 * tid
static __global__ void shfl_kernel(int *out, int n) {
    const int t = (int)threadIdx.x, v = 100 * t;
    out[0 * n + t] = __shfl_sync(0xffffffffu, v, 37);          // idx 37 -> 37 % 32 = lane 5
    out[1 * n + t] = __shfl_sync(0xffffffffu, v, t + 3, 8);    // idx within segments of 8, modulo 8
    out[2 * n + t] = __shfl_up_sync(0xffffffffu, v, 3, 16);    // up 3 in segments of 16
    out[3 * n + t] = __shfl_down_sync(0xffffffffu, v, 5);      // down 5, whole warp
    out[4 * n + t] = __shfl_xor_sync(0xffffffffu, v, 7, 8);    // butterfly in segments of 8
    out[5 * n + t] = __shfl_down_sync(0xffffffffu, v, 2, 4);   // down 2 in segments of 4
    const double d = __shfl_xor_sync(0xffffffffu, 0.5 + t, 16); // 8-byte values
    out[6 * n + t] = (int)(2.0 * d);
}

static void test_shuffles(void **state) {
    (void)state;
    const int n = 64;
    int      *d = nullptr;
    CK(cudaMalloc(&d, sizeof(int) * 7 * n));
    TFT_LAUNCH(shfl_kernel, 1, n, 0, (cudaStream_t)0)(d, n);
    CK(cudaGetLastError());
    std::vector<int> got(7 * n);
    CK(cudaMemcpy(got.data(), d, sizeof(int) * 7 * n, cudaMemcpyDeviceToHost));
    for (int t = 0; t < n; t++) {
        const int lane = t % 32, base = t - lane; // the warp's first thread
        auto      val  = [&](int l) { return 100 * (base + l); };
        assert_int_equal(got[0 * n + t], val(5));
        assert_int_equal(got[1 * n + t], val(lane / 8 * 8 + (lane + 3) % 8));
        assert_int_equal(got[2 * n + t], val(lane % 16 >= 3 ? lane - 3 : lane));
        assert_int_equal(got[3 * n + t], val(lane + 5 < 32 ? lane + 5 : lane));
        assert_int_equal(got[4 * n + t], val(lane ^ 7));
        assert_int_equal(got[5 * n + t], val(lane % 4 + 2 < 4 ? lane + 2 : lane));
        assert_int_equal(got[6 * n + t], 1 + 2 * (base + (lane ^ 16)));
    }
    CK(cudaFree(d));
}

// ---- votes, block barriers, exited threads ----------------------------------------------------
// 96 threads; threads >= live return at once (they must not hold up the barriers of the others).
static __global__ void vote_kernel(unsigned *out, int live) {
    const int t = (int)threadIdx.x;
    if (t >= live)
        return;
    const int      w    = t / 32; // the lanes of this warp that did not return
    const unsigned full = live >= 32 * (w + 1) ? 0xffffffffu : (1u << (live - 32 * w)) - 1u;
    out[0 * 96 + t]     = __ballot_sync(full, t % 3 == 0);
    out[1 * 96 + t]     = (unsigned)__any_sync(full, t == 40);
    out[2 * 96 + t]     = (unsigned)__all_sync(full, t < 1000);
    out[3 * 96 + t]     = (unsigned)__syncthreads_count(t % 2);
    out[4 * 96 + t]     = (unsigned)__syncthreads_and(t < live);
    out[5 * 96 + t]     = (unsigned)__syncthreads_or(t == 7);
    out[6 * 96 + t]     = full;
}

static void test_votes_exited(void **state) {
    (void)state;
    const int live = 70; // warp 2 keeps lanes 0..5
    unsigned *d    = nullptr;
    CK(cudaMalloc(&d, sizeof(unsigned) * 7 * 96));
    TFT_LAUNCH(vote_kernel, 1, 96, 0, (cudaStream_t)0)(d, live);
    CK(cudaGetLastError());
    std::vector<unsigned> got(7 * 96);
    CK(cudaMemcpy(got.data(), d, sizeof(unsigned) * 7 * 96, cudaMemcpyDeviceToHost));
    for (int t = 0; t < live; t++) {
        const int w = t / 32;
        unsigned  ballot = 0, lanes = w < 2 ? 0xffffffffu : (1u << (live - 64)) - 1u;
        for (int l = 0; l < 32; l++)
            if ((lanes >> l & 1u) && (32 * w + l) % 3 == 0)
                ballot |= 1u << l;
        assert_int_equal(got[0 * 96 + t], ballot);
        assert_int_equal(got[1 * 96 + t], w == 1 ? 1u : 0u);
        assert_int_equal(got[2 * 96 + t], 1u);
        assert_int_equal(got[3 * 96 + t], (unsigned)(live / 2));
        assert_int_equal(got[4 * 96 + t], 1u);
        assert_int_equal(got[5 * 96 + t], 1u);
        assert_int_equal(got[6 * 96 + t], lanes);
    }
    CK(cudaFree(d));
}

// Each thread reads its neighbour's shared slot after a barrier; without a real barrier the
// neighbour (a later fiber) has not written it yet and the 0xFF fill (-1) would show.
static __global__ void barrier_kernel(int *out) {
    TFT_DYNAMIC_SHARED(int, sm);
    const int t = (int)threadIdx.x, n = (int)blockDim.x;
    sm[t]       = t + 1000 * (int)blockIdx.x;
    __syncthreads();
    out[blockIdx.x * n + t] = sm[(t + 1) % n];
}

static void test_barrier_and_dynamic_shared(void **state) {
    (void)state;
    const int n = 160, B = 3;
    int      *d = nullptr;
    CK(cudaMalloc(&d, sizeof(int) * n * B));
    TFT_LAUNCH(barrier_kernel, B, n, n * sizeof(int), (cudaStream_t)0)(d);
    CK(cudaGetLastError());
    std::vector<int> got(n * B);
    CK(cudaMemcpy(got.data(), d, sizeof(int) * n * B, cudaMemcpyDeviceToHost));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < n; t++)
            assert_int_equal(got[b * n + t], (t + 1) % n + 1000 * b);
    // more than 48 KiB of dynamic shared memory needs the opt-in, up to the device's 227 KiB
    const size_t big = 64 * 1024;
    TFT_LAUNCH(barrier_kernel, 1, 32, big, (cudaStream_t)0)(d);
    assert_int_equal(cudaGetLastError(), cudaErrorInvalidValue);
    CK(cudaFuncSetAttribute(barrier_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)big));
    TFT_LAUNCH(barrier_kernel, 1, 32, big, (cudaStream_t)0)(d);
    CK(cudaGetLastError());
    assert_int_equal(cudaFuncSetAttribute(barrier_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 232449),
                     cudaErrorInvalidValue);
    int optin = 0;
    CK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
    assert_int_equal(optin, 232448);
    CK(cudaFree(d));
}

// ---- indices, atomics, configuration errors ---------------------------------------------------
static __global__ void index_kernel(int *out, float *fsum, int *isum) {
    const int bx = (int)(blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z));
    const int tx = (int)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z));
    const int nt = (int)(blockDim.x * blockDim.y * blockDim.z);
    out[bx * nt + tx] = (int)(threadIdx.x | threadIdx.y << 4 | threadIdx.z << 8 | blockIdx.x << 12 |
                              blockIdx.y << 16 | blockIdx.z << 20);
    atomicAdd(fsum, 0.25f);
    atomicAdd(isum, 1);
}

static void test_indices_atomics_config(void **state) {
    (void)state;
    const dim3 grid(2, 3, 2), block(5, 3, 2);
    const int  nb = 12, nt = 30;
    int       *d = nullptr, *isum = nullptr;
    float     *fsum = nullptr;
    CK(cudaMalloc(&d, sizeof(int) * nb * nt));
    CK(cudaMalloc(&isum, sizeof(int)));
    CK(cudaMalloc(&fsum, sizeof(float)));
    CK(cudaMemset(isum, 0, sizeof(int)));
    CK(cudaMemset(fsum, 0, sizeof(float)));
    TFT_LAUNCH(index_kernel, grid, block, 0, (cudaStream_t)0)(d, fsum, isum);
    CK(cudaGetLastError());
    std::vector<int> got(nb * nt);
    CK(cudaMemcpy(got.data(), d, sizeof(int) * nb * nt, cudaMemcpyDeviceToHost));
    for (int bz = 0; bz < 2; bz++)
        for (int by = 0; by < 3; by++)
            for (int bx = 0; bx < 2; bx++)
                for (int tz = 0; tz < 2; tz++)
                    for (int ty = 0; ty < 3; ty++)
                        for (int tx = 0; tx < 5; tx++) {
                            const int b = bx + 2 * (by + 3 * bz), t = tx + 5 * (ty + 3 * tz);
                            assert_int_equal(got[b * nt + t],
                                             tx | ty << 4 | tz << 8 | bx << 12 | by << 16 | bz << 20);
                        }
    int   is = 0;
    float fs = 0.0f;
    CK(cudaMemcpy(&is, isum, sizeof is, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(&fs, fsum, sizeof fs, cudaMemcpyDeviceToHost));
    assert_int_equal(is, nb * nt);
    assert_true(fs == 0.25f * nb * nt);
    // bad configurations run nothing and are the next cudaGetLastError
    const unsigned long long runs = RUNS();
    TFT_LAUNCH(index_kernel, 1, 0, 0, (cudaStream_t)0)(d, fsum, isum);
    assert_int_equal(cudaGetLastError(), cudaErrorInvalidConfiguration);
    TFT_LAUNCH(index_kernel, 1, 1025, 0, (cudaStream_t)0)(d, fsum, isum);
    assert_int_equal(cudaGetLastError(), cudaErrorInvalidConfiguration);
    TFT_LAUNCH(index_kernel, dim3(1, 65536), 32, 0, (cudaStream_t)0)(d, fsum, isum);
    assert_int_equal(cudaGetLastError(), cudaErrorInvalidConfiguration);
    assert_int_equal(cudaGetLastError(), cudaSuccess);
    assert_true(RUNS() == runs);
    CK(cudaFree(d)), CK(cudaFree(isum)), CK(cudaFree(fsum));
}

// ---- kernel failures the harness must catch -----------------------------------------------------
// kind 0: half of warp 0 waits at __syncthreads, the other half at a full-warp shuffle: deadlock.
// kind 1: lanes disagree (shuffle vs vote). kind 2: a shuffle reads a lane outside its mask.
static __global__ void bad_kernel(int *out, int kind) {
    const int t = (int)threadIdx.x;
    int       v = t;
    if (kind == 0) {
        if (t < 16)
            __syncthreads();
        else
            v = __shfl_xor_sync(0xffffffffu, v, 1);
    } else if (kind == 1) {
        v = t % 2 ? __shfl_xor_sync(0xffffffffu, v, 1) : (int)__ballot_sync(0xffffffffu, 1);
    } else {
        v = __shfl_down_sync(0x0000ffffu, v, 8); // lanes 8..15 read lanes 16..23, outside the mask
    }
    out[t] = v;
}

static void test_kernel_failures(void **state) {
    (void)state;
    int *d = nullptr;
    CK(cudaMalloc(&d, sizeof(int) * 64));
    fprintf(stderr, "test_simt: the 4 \"simt: bad_kernel\" lines below are expected (kernels it must refuse)\n");
    for (int kind = 0; kind < 3; kind++) {
        TFT_LAUNCH(bad_kernel, 2, kind == 2 ? 16 : 64, 0, (cudaStream_t)0)(d, kind);
        assert_int_equal(cudaPeekAtLastError(), cudaErrorLaunchFailure); // launched, then failed
        assert_int_equal(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
        assert_int_equal(cudaGetLastError(), cudaSuccess); // reported once
    }
    // the harness still works after an abandoned block
    TFT_LAUNCH(bad_kernel, 1, 32, 0, (cudaStream_t)0)(d, 2);
    assert_int_equal(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
    TFT_LAUNCH(barrier_kernel, 1, 64, 64 * sizeof(int), (cudaStream_t)0)(d);
    CK(cudaDeviceSynchronize());
    int got[64];
    CK(cudaMemcpy(got, d, sizeof got, cudaMemcpyDeviceToHost));
    for (int t = 0; t < 64; t++)
        assert_int_equal(got[t], (t + 1) % 64);
    CK(cudaFree(d));
}

// ---- streams, graph capture and replay ----------------------------------------------------------
static __global__ void axpy_kernel(float *y, const float *x, float a, int n) {
    const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i < n)
        y[i] = fmaf(a, x[i], y[i]);
}

static void test_graph_capture(void **state) {
    (void)state;
    const int    n = 100;
    cudaStream_t s = nullptr;
    CK(cudaStreamCreate(&s));
    float *x = nullptr, *y = nullptr;
    CK(cudaMalloc(&x, n * sizeof(float)));
    CK(cudaMalloc(&y, n * sizeof(float)));
    std::vector<float> hx(n), hy(n);
    for (int i = 0; i < n; i++)
        hx[i] = (float)i;
    CK(cudaMemcpy(x, hx.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    CK(cudaMemset(y, 0, n * sizeof(float)));
    // recorded, not run
    const unsigned long long runs = RUNS();
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
    CK(cudaStreamIsCapturing(s, &st));
    assert_int_equal(st, cudaStreamCaptureStatusActive);
    CK(cudaMemsetAsync(y, 0, n * sizeof(float), s));
    TFT_LAUNCH(axpy_kernel, 4, 32, 0, s)(y, x, 2.0f, n);
    TFT_LAUNCH(axpy_kernel, 4, 32, 0, s)(y, x, 0.5f, n);
    CK(cudaGetLastError());
    assert_int_equal(cudaMemcpy(hy.data(), y, n * sizeof(float), cudaMemcpyDeviceToHost),
                     cudaErrorStreamCaptureUnsupported); // no synchronous copy while capturing
    cudaGraph_t g = nullptr;
    CK(cudaStreamEndCapture(s, &g));
    assert_true(RUNS() == runs);
    CK(cudaMemcpy(hy.data(), y, n * sizeof(float), cudaMemcpyDeviceToHost));
    for (int i = 0; i < n; i++)
        assert_true(hy[i] == 0.0f);
    cudaGraphExec_t ge = nullptr;
    CK(cudaGraphInstantiate(&ge, g, 0));
    for (int rep = 0; rep < 2; rep++) { // each replay starts from the recorded memset
        CK(cudaGraphLaunch(ge, s));
        CK(cudaStreamSynchronize(s));
        CK(cudaMemcpy(hy.data(), y, n * sizeof(float), cudaMemcpyDeviceToHost));
        for (int i = 0; i < n; i++)
            assert_true(hy[i] == fmaf(0.5f, (float)i, fmaf(2.0f, (float)i, 0.0f)));
    }
    assert_true(RUNS() == runs + 4);
    // a synchronize inside a capture invalidates it
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    assert_int_equal(cudaStreamSynchronize(s), cudaErrorStreamCaptureUnsupported);
    cudaGraph_t bad = nullptr;
    assert_int_equal(cudaStreamEndCapture(s, &bad), cudaErrorStreamCaptureInvalidated);
    assert_null(bad);
    assert_int_equal(cudaStreamBeginCapture(nullptr, cudaStreamCaptureModeGlobal), cudaErrorStreamCaptureUnsupported);
    // events: recorded in order, elapsed time >= 0
    cudaEvent_t e0 = nullptr, e1 = nullptr;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    CK(cudaEventRecord(e0, s));
    CK(cudaGraphLaunch(ge, s));
    CK(cudaEventRecord(e1, s));
    CK(cudaEventSynchronize(e1));
    float ms = -1.0f;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    assert_true(ms >= 0.0f);
    CK(cudaEventDestroy(e0)), CK(cudaEventDestroy(e1));
    CK(cudaGraphExecDestroy(ge)), CK(cudaGraphDestroy(g));
    CK(cudaStreamDestroy(s));
    CK(cudaFree(x)), CK(cudaFree(y));
}

// ---- memory checks ------------------------------------------------------------------------------
static void test_memory_checks(void **state) {
    (void)state;
    float *d = nullptr, h[8] = {0};
    CK(cudaMalloc(&d, 4 * sizeof(float)));
    unsigned bits = 0; // fresh device memory is not zeroed: the harness fills 0xFF
    CK(cudaMemcpy(&bits, d, 4, cudaMemcpyDeviceToHost));
    assert_int_equal(bits, 0xffffffffu);
    assert_int_equal(cudaMemcpy(d, h, 8 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorInvalidValue);
    assert_int_equal(cudaMemcpy(h, d + 1, 4 * sizeof(float), cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
    assert_int_equal(cudaMemsetAsync(d, 0, 5 * sizeof(float), nullptr), cudaErrorInvalidValue);
    assert_int_equal(cudaFree(h), cudaErrorInvalidValue);
    CK(cudaFree(d));
    assert_int_equal(cudaFree(d), cudaErrorInvalidValue); // double free
    int n = 0;
    CK(cudaGetDeviceCount(&n));
    assert_int_equal(n, 1);
    assert_string_equal(cudaGetErrorName(cudaErrorInvalidValue), "cudaErrorInvalidValue");
}

// ---- 2-D copies ---------------------------------------------------------------------------------
// cudaMemcpy2DAsync: width bytes of each of height rows, pitches in bytes; the bytes between rows
// untouched; recorded (not run) while capturing, replayed by the graph; width above a pitch is
// cudaErrorInvalidPitchValue; a row past the end of an allocation is cudaErrorInvalidValue.
static void test_memcpy2d(void **state) {
    (void)state;
    const size_t w = 3 * sizeof(float), sp = 5 * sizeof(float), dp = 4 * sizeof(float), rows = 6;
    float       *src = nullptr, *dst = nullptr;
    CK(cudaMalloc(&src, rows * sp));
    CK(cudaMalloc(&dst, rows * dp));
    float hs[30], hd[24];
    for (int i = 0; i < 30; i++)
        hs[i] = (float)i;
    CK(cudaMemcpy(src, hs, sizeof hs, cudaMemcpyHostToDevice));
    cudaStream_t s = nullptr;
    CK(cudaStreamCreate(&s));
    for (int capture = 0; capture < 2; capture++) {
        CK(cudaMemset(dst, 0, rows * dp));
        cudaGraph_t     g  = nullptr;
        cudaGraphExec_t ge = nullptr;
        if (capture)
            CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
        CK(cudaMemcpy2DAsync(dst, dp, src, sp, w, rows, cudaMemcpyDeviceToDevice, s));
        if (capture) {
            CK(cudaStreamEndCapture(s, &g));
            CK(cudaMemcpy(hd, dst, sizeof hd, cudaMemcpyDeviceToHost));
            for (int i = 0; i < 24; i++) // recorded, not run
                assert_true(hd[i] == 0.0f);
            CK(cudaGraphInstantiate(&ge, g, 0));
            CK(cudaGraphLaunch(ge, s));
        }
        CK(cudaStreamSynchronize(s));
        CK(cudaMemcpy(hd, dst, sizeof hd, cudaMemcpyDeviceToHost));
        for (int r = 0; r < 6; r++)
            for (int c = 0; c < 4; c++)
                assert_true(hd[r * 4 + c] == (c < 3 ? (float)(r * 5 + c) : 0.0f));
        if (capture)
            CK(cudaGraphExecDestroy(ge)), CK(cudaGraphDestroy(g));
    }
    // host -> device with the same call; errors
    CK(cudaMemcpy2DAsync(dst, dp, hs, sp, w, 2, cudaMemcpyHostToDevice, s));
    assert_int_equal(cudaMemcpy2DAsync(dst, w - 1, src, sp, w, 2, cudaMemcpyDeviceToDevice, s),
                     cudaErrorInvalidPitchValue);
    assert_int_equal(cudaMemcpy2DAsync(dst, dp, src, w - 1, w, 2, cudaMemcpyDeviceToDevice, s),
                     cudaErrorInvalidPitchValue);
    assert_int_equal(cudaMemcpy2DAsync(dst, dp, src, sp, w, rows + 1, cudaMemcpyDeviceToDevice, s),
                     cudaErrorInvalidValue); // src's 7th row is past its allocation
    assert_int_equal(cudaMemcpy2DAsync(dst + 2, dp, src, sp, w, rows, cudaMemcpyDeviceToDevice, s),
                     cudaErrorInvalidValue); // dst + 2: its last row ends one float past the allocation
    CK(cudaMemcpy2DAsync(dst, dp, src, sp, 0, rows, cudaMemcpyDeviceToDevice, s)); // empty: nothing
    assert_string_equal(cudaGetErrorName(cudaErrorInvalidPitchValue), "cudaErrorInvalidPitchValue");
    CK(cudaStreamDestroy(s));
    CK(cudaFree(src)), CK(cudaFree(dst));
}

// ---- cuBLAS -------------------------------------------------------------------------------------
static void test_cublas(void **state) {
    (void)state;
    cublasHandle_t h = nullptr;
    assert_int_equal(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
    const int m = 5, n = 7, k = 9, batch = 3;
    const int lda = 11, ldb = 13, ldc = 6; // strided, >= the rows of each operand
    std::vector<float> A(lda * 11 * batch), B(ldb * 13 * batch), C(ldc * n * batch), R(ldc * n * batch);
    uint32_t           r = 12345;
    auto               rnd = [&]() { return (float)((r = r * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f; };
    for (float &v : A)
        v = rnd();
    for (float &v : B)
        v = rnd();
    float *dA = nullptr, *dB = nullptr, *dC = nullptr;
    CK(cudaMalloc(&dA, A.size() * sizeof(float)));
    CK(cudaMalloc(&dB, B.size() * sizeof(float)));
    CK(cudaMalloc(&dC, C.size() * sizeof(float)));
    CK(cudaMemcpy(dA, A.data(), A.size() * sizeof(float), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dB, B.data(), B.size() * sizeof(float), cudaMemcpyHostToDevice));
    const long long sa = lda * 11, sb = ldb * 13, sc = ldc * n;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            for (float &v : C)
                v = rnd();
            CK(cudaMemcpy(dC, C.data(), C.size() * sizeof(float), cudaMemcpyHostToDevice));
            const float alpha = 1.5f, beta = -0.5f;
            assert_int_equal(cublasSgemmStridedBatched(h, (cublasOperation_t)ta, (cublasOperation_t)tb, m, n, k,
                                                       &alpha, dA, lda, sa, dB, ldb, sb, &beta, dC, ldc, sc, batch),
                             CUBLAS_STATUS_SUCCESS);
            CK(cudaMemcpy(R.data(), dC, R.size() * sizeof(float), cudaMemcpyDeviceToHost));
            for (int bi = 0; bi < batch; bi++)
                for (int j = 0; j < n; j++)
                    for (int i = 0; i < m; i++) {
                        double acc = 0.0;
                        for (int p = 0; p < k; p++) {
                            const float a = ta ? A[bi * sa + p + i * lda] : A[bi * sa + i + p * lda];
                            const float b = tb ? B[bi * sb + j + p * ldb] : B[bi * sb + p + j * ldb];
                            acc += (double)a * b;
                        }
                        const double want = alpha * acc + beta * C[bi * sc + i + j * ldc];
                        assert_true(fabs(R[bi * sc + i + j * ldc] - want) <= 1e-5 * (1.0 + fabs(want)));
                    }
            for (int bi = 0; bi < batch; bi++) // rows m..ldc-1 of C are left alone
                for (int j = 0; j < n; j++)
                    for (int i = m; i < ldc; i++)
                        assert_true(R[bi * sc + i + j * ldc] == C[bi * sc + i + j * ldc]);
        }
    // beta = 0 does not read C (NaN there must not propagate); bad leading dimensions are refused
    CK(cudaMemset(dC, 0xff, C.size() * sizeof(float)));
    const float one = 1.0f, zero = 0.0f;
    assert_int_equal(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dA, lda, dB, ldb, &zero, dC, ldc),
                     CUBLAS_STATUS_SUCCESS);
    CK(cudaMemcpy(R.data(), dC, sizeof(float) * ldc * n, cudaMemcpyDeviceToHost));
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++)
            assert_false(isnan(R[i + j * ldc]));
    assert_int_equal(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dA, m - 1, dB, ldb, &zero, dC, ldc),
                     CUBLAS_STATUS_INVALID_VALUE);
    assert_int_equal(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, dA, k - 1, dB, ldb, &zero, dC, ldc),
                     CUBLAS_STATUS_INVALID_VALUE);
    assert_int_equal(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dA, lda, dB, ldb, &zero, dC, m - 1),
                     CUBLAS_STATUS_INVALID_VALUE);
    assert_int_equal(cublasDestroy(h), CUBLAS_STATUS_SUCCESS);
    assert_int_equal(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dA, lda, dB, ldb, &zero, dC, ldc),
                     CUBLAS_STATUS_NOT_INITIALIZED);
    CK(cudaFree(dA)), CK(cudaFree(dB)), CK(cudaFree(dC));
}

// ---- TSan sees races between barriers -----------------------------------------------------------
// kind 0: shared memory read of a neighbour's slot with no __syncthreads (a race);
// kind 1: the same with the barrier; kind 2: lane 0 publishes to shared memory, lane 1 reads it
// with no __syncwarp (a race); kind 3: with __syncwarp.
static __global__ void race_kernel(int *out, int kind) {
    TFT_DYNAMIC_SHARED(int, sm);
    const int t = (int)threadIdx.x, n = (int)blockDim.x;
    if (kind < 2) {
        sm[t] = t;
        if (kind == 1)
            __syncthreads();
        out[t] = sm[(t + n - 1) % n]; // the previous thread: already run, so the value looks right
    } else {
        if (t == 0)
            sm[0] = 42;
        if (kind == 3)
            __syncwarp();
        out[t] = t == 1 ? sm[0] : t;
    }
}

static int run_race_kernel(int kind) {
    int *d = nullptr;
    if (cudaMalloc(&d, 64 * sizeof(int)) != cudaSuccess)
        return 2;
    TFT_LAUNCH(race_kernel, 1, 64, 64 * sizeof(int), (cudaStream_t)0)(d, kind);
    const cudaError_t e = cudaDeviceSynchronize();
    cudaFree(d);
    return e == cudaSuccess ? 0 : 3;
}

// Shared memory one past its end: sm has blockDim.x ints, thread 0 also writes sm[blockDim.x].
static __global__ void overflow_kernel(int *out) {
    TFT_DYNAMIC_SHARED(int, sm);
    const int t = (int)threadIdx.x;
    sm[t]       = t;
    if (t == 0)
        sm[blockDim.x] = -1;
    __syncthreads();
    out[t] = sm[t];
}

static int run_overflow_kernel(void) {
    int *d = nullptr;
    if (cudaMalloc(&d, 32 * sizeof(int)) != cudaSuccess)
        return 2;
    TFT_LAUNCH(overflow_kernel, 1, 32, 32 * sizeof(int), (cudaStream_t)0)(d);
    const cudaError_t e = cudaDeviceSynchronize();
    cudaFree(d);
    return e == cudaSuccess ? 0 : 3;
}

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
// Runs this binary as `test_simt MODE KIND` with the sanitizer's report going to a file; returns
// the child's exit status and counts the lines holding `report` and those naming `kernel`.
static int child_run(const char *mode, int kind, const char *report, const char *kernel, int *reports, int *named) {
    char      path[] = "/tmp/tft_simt_child_XXXXXX";
    const int fd     = mkstemp(path);
    assert_true(fd >= 0);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd, 2);
        char k[8];
        snprintf(k, sizeof k, "%d", kind);
        setenv("TSAN_OPTIONS", "halt_on_error=0:exitcode=66", 1);
        setenv("ASAN_OPTIONS", "abort_on_error=0:exitcode=67:detect_leaks=0", 1);
        execl("/proc/self/exe", "test_simt", mode, k, (char *)nullptr);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    FILE *f = fdopen(fd, "r");
    rewind(f);
    char line[512];
    *reports = *named = 0;
    while (fgets(line, sizeof line, f)) {
        *reports += strstr(line, report) != nullptr;
        *named += strstr(line, kernel) != nullptr;
    }
    fclose(f);
    unlink(path);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}
#endif

#if defined(__SANITIZE_THREAD__)
// How many TSan data-race reports naming race_kernel the race kernel of this kind produces.
static int race_reports(int kind) {
    int       races = 0, named = 0;
    const int rc    = child_run("--race", kind, "WARNING: ThreadSanitizer: data race", "race_kernel", &races, &named);
    assert_int_equal(rc, races ? 66 : 0);
    return races && named ? races : (races ? -1 : 0);
}
#endif

static void test_tsan_sees_races(void **state) {
    (void)state;
#if defined(__SANITIZE_THREAD__)
    assert_true(race_reports(0) > 0); // missing __syncthreads
    assert_int_equal(race_reports(1), 0);
    assert_true(race_reports(2) > 0); // missing __syncwarp
    assert_int_equal(race_reports(3), 0);
#else
    // outside TSan the racy kernel runs in fiber order and looks right: only TSan can tell
    assert_int_equal(run_race_kernel(0), 0);
    skip();
#endif
}

static void test_asan_sees_shared_overflow(void **state) {
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    int       reports = 0, named = 0;
    const int rc = child_run("--overflow", 0, "ERROR: AddressSanitizer: heap-buffer-overflow", "overflow_kernel",
                             &reports, &named);
    assert_int_equal(rc, 67);
    assert_int_equal(reports, 1);
    assert_true(named > 0);
#else
    skip(); // without ASan the stray write lands in the heap unnoticed
#endif
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--race") == 0) // the child of test_tsan_sees_races
        return run_race_kernel(atoi(argv[2]));
    if (argc == 3 && strcmp(argv[1], "--overflow") == 0) // the child of test_asan_sees_shared_overflow
        return run_overflow_kernel();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shuffles),        cmocka_unit_test(test_votes_exited),
        cmocka_unit_test(test_barrier_and_dynamic_shared), cmocka_unit_test(test_indices_atomics_config),
        cmocka_unit_test(test_kernel_failures), cmocka_unit_test(test_graph_capture),
        cmocka_unit_test(test_memory_checks),   cmocka_unit_test(test_memcpy2d), cmocka_unit_test(test_cublas),
        cmocka_unit_test(test_tsan_sees_races), cmocka_unit_test(test_asan_sees_shared_overflow),
    };
    return cmocka_run_group_tests_name("test_simt (the SIMT harness itself)", tests, NULL, NULL);
}
