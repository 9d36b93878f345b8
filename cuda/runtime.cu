// runtime.cu: device discovery, memory and stream helpers (so C code and tests/test_cuda.c need no
// CUDA headers), and the cuBLAS GEMM y = x·Wᵀ + b.
#include <cublas_v2.h>
#include <stdlib.h>

#include "common.cuh"

extern "C" tft_status tft_cuda_device_count(int *n) {
    TFT_CU_ARG(n);
    *n = 0;
    int               k = 0;
    const cudaError_t e = cudaGetDeviceCount(&k);
    if (e != cudaSuccess) // no driver, no device, driver too old: the bare CUDA error for the skip line
        return tft__fail(TFT_ERR_BACKEND, "%s: %s", cudaGetErrorName(e), cudaGetErrorString(e));
    *n = k;
    return TFT_OK;
}

extern "C" tft_status tft_cuda_malloc(void **p, size_t bytes) {
    TFT_CU_ARG(p);
    *p = NULL;
    if (bytes == 0)
        return TFT_OK;
    TFT_CU_CHECK(cudaMalloc(p, bytes));
    return TFT_OK;
}

extern "C" tft_status tft_cuda_free(void *p) {
    if (p)
        TFT_CU_CHECK(cudaFree(p));
    return TFT_OK;
}

extern "C" tft_status tft_cuda_memset0(void *p, size_t bytes, void *stream) {
    if (bytes)
        TFT_CU_CHECK(cudaMemsetAsync(p, 0, bytes, TFT_CU_STREAM(stream)));
    return TFT_OK;
}

extern "C" tft_status tft_cuda_upload(void *dst, const void *host_src, size_t bytes) {
    if (bytes)
        TFT_CU_CHECK(cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice));
    return TFT_OK;
}

extern "C" tft_status tft_cuda_download(void *host_dst, const void *src, size_t bytes) {
    if (bytes)
        TFT_CU_CHECK(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost));
    return TFT_OK;
}

extern "C" tft_status tft_cuda_sync(void *stream) {
    TFT_CU_CHECK(cudaStreamSynchronize(TFT_CU_STREAM(stream)));
    TFT_CU_CHECK(cudaGetLastError());
    return TFT_OK;
}

// ---- cuBLAS -------------------------------------------------------------------------------------
struct tft_cuda_blas {
    cublasHandle_t h;
    cudaStream_t   stream;
};

#define TFT_CUBLAS_CHECK(call)                                                                               \
    do {                                                                                                     \
        const cublasStatus_t tft_s_ = (call);                                                                \
        if (tft_s_ != CUBLAS_STATUS_SUCCESS)                                                                 \
            return tft__fail(TFT_ERR_BACKEND, "%s:%d: %s: %s: %s", __FILE__, __LINE__, #call,                \
                             cublasGetStatusName(tft_s_), cublasGetStatusString(tft_s_));                    \
    } while (0)

extern "C" tft_status tft_cuda_blas_new(tft_cuda_blas **out, void *stream) {
    TFT_CU_ARG(out);
    *out                 = NULL;
    tft_cuda_blas *b     = (tft_cuda_blas *)calloc(1, sizeof *b);
    if (!b)
        return tft__fail(TFT_ERR_NOMEM, "tft_cuda_blas_new: out of host memory");
    const cublasStatus_t s = cublasCreate(&b->h);
    if (s != CUBLAS_STATUS_SUCCESS) {
        free(b);
        return tft__fail(TFT_ERR_BACKEND, "%s:%d: cublasCreate: %s: %s", __FILE__, __LINE__, cublasGetStatusName(s),
                         cublasGetStatusString(s));
    }
    b->stream = TFT_CU_STREAM(stream);
    // CUBLAS_DEFAULT_MATH: fp32 FMA, never TF32 tensor cores (STYLE §B.6: tests pin it; a perf mode
    // with TF32 would get its own looser bound). The pointer mode stays host (alpha, beta on host).
    cublasStatus_t s2 = cublasSetStream(b->h, b->stream);
    if (s2 == CUBLAS_STATUS_SUCCESS)
        s2 = cublasSetMathMode(b->h, CUBLAS_DEFAULT_MATH);
    if (s2 != CUBLAS_STATUS_SUCCESS) {
        cublasDestroy(b->h);
        free(b);
        return tft__fail(TFT_ERR_BACKEND, "%s:%d: cublasSetStream/SetMathMode: %s: %s", __FILE__, __LINE__,
                         cublasGetStatusName(s2), cublasGetStatusString(s2));
    }
    *out = b;
    return TFT_OK;
}

extern "C" void *tft_cuda_blas_stream(const tft_cuda_blas *b) {
    return b ? (void *)b->stream : NULL;
}

extern "C" void tft_cuda_blas_free(tft_cuda_blas *b) {
    if (!b)
        return;
    cublasDestroy(b->h); // a failure here has nowhere to go (the handle is gone either way)
    free(b);
}

// y[r, c] += b[c]   y: [R, Cout] (ld ldy); one thread per element, grid-stride over R*Cout
static __global__ void bias_add_kernel(float *y, int ldy, const float *b, int R, int Cout) {
    const size_t n = (size_t)R * Cout;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const size_t r = i / Cout, c = i % Cout;
        y[r * ldy + c] += b[c];
    }
}

// Row-major y [R, Cout] is column-major yᵀ [Cout, R] (ld ldy); x row-major [R, Cin] is
// column-major xᵀ [Cin, R] (ld ldx); W row-major [Cout, Cin] is column-major Wᵀ [Cin, Cout]
// (ld Cin). So yᵀ = op_T(Wᵀ) · xᵀ: cublasSgemm(T, N, m=Cout, n=R, k=Cin, W, Cin, x, ldx, y, ldy).
// The bias is added after the product (y = (x·Wᵀ [+ y]) + b): a different rounding order from
// tft_op_linear_ref's double sum, within the GEMM tolerance.
extern "C" tft_status tft_cuda_linear(tft_cuda_blas *h, float *y, int ldy, const float *x, int ldx, const float *W,
                                      const float *b, int R, int Cin, int Cout, int accumulate) {
    TFT_CU_ARG(h && R >= 0 && Cin >= 0 && Cout >= 0 && ldx >= Cin && ldy >= Cout);
    if (R == 0 || Cout == 0)
        return TFT_OK;
    TFT_CU_ARG(y && W && x);
    if (Cin == 0) { // empty product: y = b (or y += b); cuBLAS with k = 0 scales C by beta
        if (!accumulate)
            TFT_CU_CHECK(cudaMemset2DAsync(y, (size_t)ldy * sizeof(float), 0, (size_t)Cout * sizeof(float), R,
                                           h->stream));
    } else {
        const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
        TFT_CUBLAS_CHECK(
            cublasSgemm(h->h, CUBLAS_OP_T, CUBLAS_OP_N, Cout, R, Cin, &alpha, W, Cin, x, ldx, &beta, y, ldy));
    }
    if (b) {
        TFT_LAUNCH(bias_add_kernel, ew_blocks((size_t)R * Cout), kEwThreads, 0, h->stream)(y, ldy, b, R, Cout);
        TFT_CU_LAUNCHED();
    }
    return TFT_OK;
}
