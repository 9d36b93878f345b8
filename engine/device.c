// device.c: where a context's forward runs (tft_context_params.device, overridden by TFT_DEVICE) and
// the dispatch of each forward to that backend (backend.h). In a build with TFT_USE_CUDA the CUDA
// backend (backend_cuda.c) is linked and called from here; without it, asking for CUDA is a clear
// TFT_ERR_UNSUPPORTED and nothing of CUDA is linked.
#include <stdlib.h>
#include <string.h>
#include "backend.h"

tft_status tft_device_resolve(tft_context_params *cp, const char *fn) {
    const char *env = getenv("TFT_DEVICE");
    if (env && *env) {
        if (strcmp(env, "cpu") == 0) cp->device = TFT_DEVICE_CPU;
        else if (strcmp(env, "cuda") == 0) cp->device = TFT_DEVICE_CUDA;
        else
            return tft__fail_at(TFT_ERR_INVALID_ARG, TFT_E_BAD_PARAMETER, -1, "device", -1,
                                "%s: TFT_DEVICE=%s: expected cpu or cuda", fn, env);
    }
    if (cp->device != TFT_DEVICE_CPU && cp->device != TFT_DEVICE_CUDA)
        return tft__fail_at(TFT_ERR_INVALID_ARG, TFT_E_BAD_PARAMETER, -1, "device", -1,
                            "%s: device %d is neither TFT_DEVICE_CPU (0) nor TFT_DEVICE_CUDA (1)", fn, cp->device);
#ifndef TFT_USE_CUDA
    if (cp->device == TFT_DEVICE_CUDA)
        return tft__fail_at(TFT_ERR_UNSUPPORTED, TFT_E_BAD_PARAMETER, -1, "device", -1,
                            "%s: CUDA was asked for (%s) but this libtft was built without CUDA (build with make "
                            "CUDA=1)", fn, env && *env ? "TFT_DEVICE=cuda" : "tft_context_params.device");
#endif
    if (cp->device == TFT_DEVICE_CUDA) cp->n_threads = 1; // one thread drives the device
    return TFT_OK;
}

size_t tft_device_bytes(const tft_model *m, const tft_context_params *cp) {
#ifdef TFT_USE_CUDA
    if (cp->device == TFT_DEVICE_CUDA) return tft_cuda_ctx_bytes(m, cp->max_batch);
#endif
    return 0;
}

tft_status tft_device_open(tft_context *c, const tft_context_params *cp) {
    c->device = cp->device;
#ifdef TFT_USE_CUDA
    if (cp->device == TFT_DEVICE_CUDA) return tft_cuda_ctx_new(c->m, cp->max_batch, &c->cuda);
#endif
    return TFT_OK;
}

void tft_device_close(tft_context *c) {
#ifdef TFT_USE_CUDA
    tft_cuda_ctx_free(c->cuda);
#endif
    c->cuda = NULL;
}

TFT_API const char *tft_context_device(const tft_context *c) {
    return c && c->device == TFT_DEVICE_CUDA ? "cuda" : "cpu";
}

tft_status tft_forward(const tft_model *m, tft_acts *a, const tft_net_input *in, tft_net_output *out) {
#ifdef TFT_USE_CUDA
    if (a->ctx && a->ctx->cuda) return tft_forward_cuda(a->ctx->cuda, in, out);
#endif
    return tft_forward_cpu(m, a, in, out);
}
