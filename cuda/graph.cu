// graph.cu: streams, pinned host memory, asynchronous copies and CUDA graph capture / replay, as
// C functions for the CUDA backend (engine/backend_cuda.c), so no C file needs CUDA headers.
#include "common.cuh"

extern "C" tft_status tft_cuda_stream_new(void **stream) {
    TFT_CU_ARG(stream);
    cudaStream_t s = NULL;
    *stream        = NULL;
    TFT_CU_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    *stream = (void *)s;
    return TFT_OK;
}

extern "C" void tft_cuda_stream_free(void *stream) {
    if (stream) (void)cudaStreamDestroy(TFT_CU_STREAM(stream));
}

extern "C" tft_status tft_cuda_host_alloc(void **p, size_t bytes) {
    TFT_CU_ARG(p);
    *p = NULL;
    if (bytes == 0) return TFT_OK;
    TFT_CU_CHECK(cudaMallocHost(p, bytes));
    return TFT_OK;
}

extern "C" void tft_cuda_host_free(void *p) {
    if (p) (void)cudaFreeHost(p);
}

// Host <-> device or device <-> device (the runtime infers the direction from the pointers: unified
// addressing), enqueued on stream.
extern "C" tft_status tft_cuda_copy_async(void *dst, const void *src, size_t bytes, void *stream) {
    if (bytes) TFT_CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, TFT_CU_STREAM(stream)));
    return TFT_OK;
}

extern "C" tft_status tft_cuda_capture_begin(void *stream) {
    TFT_CU_CHECK(cudaStreamBeginCapture(TFT_CU_STREAM(stream), cudaStreamCaptureModeThreadLocal));
    return TFT_OK;
}

// Ends the capture begun on stream and instantiates it (*exec: the executable graph). A failure
// inside the capture (a launch that failed while capturing) shows up here.
extern "C" tft_status tft_cuda_capture_end(void *stream, void **exec) {
    TFT_CU_ARG(exec);
    *exec       = NULL;
    cudaGraph_t g = NULL;
    TFT_CU_CHECK(cudaStreamEndCapture(TFT_CU_STREAM(stream), &g));
    cudaGraphExec_t x = NULL;
    const cudaError_t e = cudaGraphInstantiate(&x, g, 0);
    (void)cudaGraphDestroy(g);
    TFT_CU_CHECK(e);
    *exec = (void *)x;
    return TFT_OK;
}

extern "C" tft_status tft_cuda_graph_launch(void *exec, void *stream) {
    TFT_CU_CHECK(cudaGraphLaunch((cudaGraphExec_t)exec, TFT_CU_STREAM(stream)));
    return TFT_OK;
}

extern "C" void tft_cuda_graph_free(void *exec) {
    if (exec) (void)cudaGraphExecDestroy((cudaGraphExec_t)exec);
}
