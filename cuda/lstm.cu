// lstm.cu: one LSTM layer over the encoder and then the decoder steps in a single persistent
// launch (the packed encoder + decoder LSTMs of §5.4; engine/forward.c's lstm_forward twice).
//
// Launch geometry: one block per series b (grid B), one thread per gate row g in [0, 4H)
// (4H rounded up to a warp; H <= 128 -> at most 512 threads, __launch_bounds__(512, 1)). Each
// phase (encoder, then decoder) first loads its W_hh [4H, H] on chip and keeps it there for all
// its steps:
//   - columns [0, KR) (KR = 64) in registers: thread g holds W_hh[g, 0:KR] in wr[] (zero past H);
//     64 registers x 512 threads = half the SM's register file;
//   - columns [KR, H) in shared memory, stored column-major ws[(k-KR)*4H + g], so the 32 lanes of
//     a warp read 32 consecutive words (no bank conflicts): 4H*(H-KR) floats, 128 KiB at H = 128.
// Per step t < run[b]: gate g = xp[t, g] + (Σ_k W_hh[g,k]·h[k] + b_hh[g]) (k ascending from +0, h
// broadcast from shared memory), stored to shared; __syncthreads; threads g < H apply the cell
// (c kept in a register of thread g) and publish h[g] to shared and to the output row;
// __syncthreads. Steps t >= run[b] write zeros. Between the phases the state is optionally
// replaced (the zero-length-history patch). The input projections (x·W_ihᵀ + b_ih for every step)
// are not recurrent: the caller computes them beforehand with one cuBLAS GEMM per phase.
// One block per series means B blocks on 132 SMs, each re-reading W_hh from L2 once per phase;
// several series per block (weights shared, one gate GEMV per series) is the next step for B >> 132.
#include "common.cuh"


constexpr int kKR   = 64;  // W_hh columns held in registers
constexpr int kMaxH = 128; // 4H <= 512 threads

struct phase_args {
    const float   *x;   // [S, 4H] of this series, rows 4H apart
    const float   *w;   // W_hh [4H, H]
    const float   *bh;  // b_hh [4H]
    float         *out; // [S, H] of this series, rows H apart
    int            S, run;
};

// One phase (encoder or decoder) for this block's series. hs: [max(H, KR)] the hidden state
// (zero past H), gs: [4H] gate pre-activations, ws: [(H-KR)+, 4H]; creg: thread g < H's cell.
static __device__ __forceinline__ void lstm_phase(const phase_args &p, int H, float *hs, float *gs, float *ws, float &creg) {
    const int g = threadIdx.x, G = 4 * H, HR = H > kKR ? H - kKR : 0;
    float     wr[kKR];
#pragma unroll
    for (int k = 0; k < kKR; k++)
        wr[k] = (g < G && k < H) ? p.w[(size_t)g * H + k] : 0.0f;
    for (int i = threadIdx.x; i < HR * G; i += blockDim.x) { // i = (k-KR)*G + g': coalesced writes
        const int k = kKR + i / G, gg = i % G;
        ws[i]       = p.w[(size_t)gg * H + k];
    }
    const float bg = g < G ? p.bh[g] : 0.0f;
    __syncthreads();
    for (int t = 0; t < p.run; t++) {
        if (g < G) {
            float acc = 0.0f;
#pragma unroll
            for (int k = 0; k < kKR; k++) // hs[k] = 0 and wr[k] = 0 past H: exact no-ops
                acc = fmaf(wr[k], hs[k], acc);
            for (int k = 0; k < HR; k++)
                acc = fmaf(ws[k * G + g], hs[kKR + k], acc);
            gs[g] = __fadd_rn(p.x[(size_t)t * G + g], __fadd_rn(acc, bg)); // xg + (h·W_hhᵀ + b_hh)
        }
        __syncthreads();
        if (g < H) {
            const float ig = sigmoidf_(gs[g]), fg = sigmoidf_(gs[H + g]);
            const float cg = tanhf(gs[2 * H + g]), og = sigmoidf_(gs[3 * H + g]);
            creg           = __fadd_rn(__fmul_rn(fg, creg), __fmul_rn(ig, cg));
            const float h  = __fmul_rn(og, tanhf(creg));
            hs[g]          = h;
            p.out[(size_t)t * H + g] = h;
        }
        __syncthreads();
    }
    for (int i = p.run * H + threadIdx.x; i < p.S * H; i += blockDim.x) // padded steps: zero
        p.out[i] = 0.0f;
    __syncthreads(); // every thread is done with ws before the next phase overwrites it
}

static __global__ void __launch_bounds__(4 * kMaxH, 1)
    lstm_layer_kernel(float *oe, size_t oe_stride, float *od, size_t od_stride, float *h, float *c, const float *xe,
                      size_t xe_stride, const float *xd, size_t xd_stride, const float *whe, const float *bhe,
                      const float *whd, const float *bhd, const int32_t *erun, const int32_t *drun,
                      const int32_t *patch, const float *ph, const float *pc, int Te, int Td, int H) {
    TFT_DYNAMIC_SHARED(float, sm);
    const int b = blockIdx.x, G = 4 * H, HR = H > kKR ? H - kKR : 0, HS = H > kKR ? H : kKR;
    float    *hs = sm, *gs = sm + HS, *ws = sm + HS + G; // [HS], [4H], [HR*4H]
    (void)HR;
    float creg = 0.0f;
    for (int k = threadIdx.x; k < HS; k += blockDim.x)
        hs[k] = k < H ? h[(size_t)b * H + k] : 0.0f;
    if ((int)threadIdx.x < H)
        creg = c[(size_t)b * H + threadIdx.x];
    __syncthreads();
    const int re = erun[b] < 0 ? 0 : (erun[b] > Te ? Te : erun[b]);
    const int rd = drun[b] < 0 ? 0 : (drun[b] > Td ? Td : drun[b]);
    if (Te > 0)
        lstm_phase(phase_args{xe + (size_t)b * xe_stride, whe, bhe, oe + (size_t)b * oe_stride, Te, re}, H, hs, gs, ws,
                   creg);
    if (patch && patch[b] >= 0) { // zero-length history (§5.4 quirk): the decoder starts elsewhere
        const size_t row = (size_t)patch[b] * H;
        if ((int)threadIdx.x < H) {
            hs[threadIdx.x] = ph[row + threadIdx.x];
            creg            = pc[row + threadIdx.x];
        }
        __syncthreads();
    }
    if (Td > 0)
        lstm_phase(phase_args{xd + (size_t)b * xd_stride, whd, bhd, od + (size_t)b * od_stride, Td, rd}, H, hs, gs, ws,
                   creg);
    if ((int)threadIdx.x < H) {
        h[(size_t)b * H + threadIdx.x] = hs[threadIdx.x];
        c[(size_t)b * H + threadIdx.x] = creg;
    }
}


extern "C" tft_status tft_cuda_lstm_layer(float *oe, size_t oe_stride, float *od, size_t od_stride, float *h, float *c,
                                          const float *xe, size_t xe_stride, const float *xd, size_t xd_stride,
                                          const float *whe, const float *bhe, const float *whd, const float *bhd,
                                          const int32_t *erun, const int32_t *drun, const int32_t *patch,
                                          const float *ph, const float *pc, int B, int Te, int Td, int H,
                                          void *stream) {
    TFT_CU_ARG(B >= 0 && Te >= 0 && Td >= 0 && H >= 1);
    if (H > kMaxH)
        return tft__fail(TFT_ERR_UNSUPPORTED, "tft_cuda_lstm_layer: hidden size %d > %d (4H threads per block)", H,
                         kMaxH);
    if (B == 0)
        return TFT_OK;
    TFT_CU_ARG(h && c && erun && drun && (!patch || (ph && pc)));
    TFT_CU_ARG(Te == 0 || (oe && xe && whe && bhe && oe_stride >= (size_t)Te * H && xe_stride >= (size_t)Te * 4 * H));
    TFT_CU_ARG(Td == 0 || (od && xd && whd && bhd && od_stride >= (size_t)Td * H && xd_stride >= (size_t)Td * 4 * H));
    const int    G    = 4 * H, HR = H > kKR ? H - kKR : 0, HS = H > kKR ? H : kKR;
    const int    nthr = (G + kWarp - 1) / kWarp * kWarp;
    const size_t smem = ((size_t)HS + G + (size_t)HR * G) * sizeof(float);
    int          dev = 0, optin = 0;
    TFT_CU_CHECK(cudaGetDevice(&dev));
    TFT_CU_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (smem > (size_t)optin)
        return tft__fail(TFT_ERR_UNSUPPORTED, "tft_cuda_lstm_layer: H=%d needs %zu B of shared memory, the device has %d",
                         H, smem, optin);
    if (smem > 48 * 1024)
        TFT_CU_CHECK(cudaFuncSetAttribute(lstm_layer_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    TFT_LAUNCH(lstm_layer_kernel, (unsigned)B, nthr, smem, TFT_CU_STREAM(stream))(
        oe, oe_stride, od, od_stride, h, c, xe, xe_stride, xd, xd_stride, whe, bhe, whd, bhd, erun, drun, patch, ph, pc,
        Te, Td, H);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}
