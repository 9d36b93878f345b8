// nvtx.h: NVTX ranges named after the graph's blocks, so nsys / ncu timelines read like the model.
// Header-only NVTX3 from the CUDA toolkit in a CUDA build; no-ops otherwise (and under the SIMT
// harness, which has no profiler).
#ifndef TFT_NVTX_H
#define TFT_NVTX_H
#if defined(TFT_USE_CUDA) && !defined(TFT_SIMT)
#include <nvtx3/nvToolsExt.h>
#define TFT_NVTX_PUSH(name) nvtxRangePushA(name)
#define TFT_NVTX_POP() nvtxRangePop()
#else
#define TFT_NVTX_PUSH(name) ((void)0)
#define TFT_NVTX_POP() ((void)0)
#endif
#endif
