// nvtx.h: named ranges for the profilers (Nsight Systems `nsys`, Nsight Compute `ncu --nvtx`), so that
// `make profile` and bench/device_check.sh can give the GPU time per block of the forward.
//
//   TFT_NVTX_PUSH("vsn_encoder");   // name: a string literal or any const char *, copied by NVTX
//   ... launches of the block ...
//   TFT_NVTX_POP();                 // closes the innermost open range of this thread
//
// Built with -DTFT_USE_CUDA and without -DTFT_SIMT (the real CUDA build): NVTX3, which is header-only
// and ships with the CUDA toolkit ($(CUDA_HOME)/include/nvtx3/nvToolsExt.h). Nothing to link: the first
// call looks for a profiler's injection library through dlopen (in libc itself since glibc 2.34, so
// no -ldl on Debian 12 or Ubuntu 22.04+) and, when no profiler is attached, each later call is one
// predictable branch. Ranges are host-side: they bracket what this thread launches, not when the GPU
// runs it (nsys projects them onto the GPU: its nvtx_gpu_proj_sum report). Launches captured into a
// CUDA graph are replayed without their ranges, so profile with the graph off when you want per-block
// GPU time (docs/DEVICE.md).
//
// Every other build (CUDA=0, the SIMT harness of tests/simt, C files that never include the CUDA
// headers): both macros are no-ops that evaluate nothing, so ranges cost nothing there.
//
// The NVTX3 headers define their own hidden, weak nvtx*_v3 globals and functions in each file that
// includes them (NVTX's link-once scheme; `make check-symbols` allows exactly those); include this
// header only from the engine's walk and backends (graph.c, backend_cuda.c), never from a public
// header. Checked: gcc -std=c11 with the project's warnings (-Werror) in the three modes, g++
// -std=c++17, and nvcc (sm_90) in a .cu file.
#ifndef TFT_CUDA_NVTX_H
#define TFT_CUDA_NVTX_H

// (Not under ThreadSanitizer either: on the first call NVTX3 fills its function-pointer table
// (nvtxGlobals_v3, nvtxSetInitFunctionsToNoops_v3 when no profiler is attached) with plain stores
// that other threads' first calls read; its own compare-and-swap orders them, but TSan reports the
// plain accesses as a race when two threads (server workers, CPU lanes) open their first range at
// once. Seen in make SAN=thread test's tft-server runs.)
#if defined(TFT_USE_CUDA) && !defined(TFT_SIMT) && !defined(__SANITIZE_THREAD__)
#include <nvtx3/nvToolsExt.h>
#define TFT_NVTX_PUSH(name) ((void)nvtxRangePushA(name))
#define TFT_NVTX_POP()      ((void)nvtxRangePop())
#else
#define TFT_NVTX_PUSH(name) ((void)0)
#define TFT_NVTX_POP()      ((void)0)
#endif

#endif // TFT_CUDA_NVTX_H
