// norm.cu: row reductions: LayerNorm (+ residual), the fused GateAddNorm epilogue, softmax and
// the masked attention softmax.
// Launch geometry (all four): one warp per row, kRowWarps (4) warps per 128-thread block, rows
// in a grid-stride loop over at most kMaxBlocks blocks; the 32 lanes stride over the row's C
// columns (coalesced), statistics by __shfl_xor butterflies (every lane ends with the total). Rows
// are short (C = H <= a few hundred; T = Te + Td keys), so a warp per row keeps all 32 lanes busy
// without shared memory or __syncthreads. Lane l always owns columns l, l+32, ..., which is what
// lets y alias x/skip (each element is read and written by the same thread, reads first).
#include "common.cuh"


// y [R, C] (ld ldy) = LayerNorm(x (ld ldx) + skip (ld lds, or NULL))·w + b
static __global__ void add_layernorm_kernel(float *y, int ldy, const float *x, int ldx, const float *skip, int lds,
                                     const float *w, const float *b, int R, int C, float eps) {
    const int lane = threadIdx.x % kWarp;
    ROW_LOOP(r, R) {
        const float *xr = x + (size_t)r * ldx;
        const float *sr = skip ? skip + (size_t)r * lds : NULL;
        float       *yr = y + (size_t)r * ldy;
        float        s  = 0.0f;
        for (int c = lane; c < C; c += kWarp) {
            const float z = sr ? __fadd_rn(xr[c], sr[c]) : xr[c]; // float(x + skip), as the CPU ops
            yr[c]         = z;
            s += z;
        }
        ln_finish(yr, w, b, C, eps, s, lane);
    }
}

// y [R, C] = LayerNorm(z[:, :C] * sigmoid(z[:, C:]) + skip)·w + b    z: [R, 2C]  skip: ld lds
static __global__ void gate_add_norm_kernel(float *y, const float *z, int R, int C, const float *skip, int lds,
                                     const float *w, const float *b, float eps) {
    const int lane = threadIdx.x % kWarp;
    ROW_LOOP(r, R) {
        const float *zr = z + (size_t)r * 2 * C;
        const float *sr = skip + (size_t)r * lds;
        float       *yr = y + (size_t)r * C;
        float        s  = 0.0f;
        for (int c = lane; c < C; c += kWarp) {
            const float t = __fadd_rn(__fmul_rn(zr[c], sigmoidf_(zr[C + c])), sr[c]);
            yr[c]         = t;
            s += t;
        }
        ln_finish(yr, w, b, C, eps, s, lane);
    }
}

// Row softmax with masking by ranges: column c of row r is visible when c < ne[r] or
// d0 <= c < d0 + nv[r] (ne == NULL: every column visible); a masked column takes mask_bias
// (masked_fill), then softmax over the whole row: exp(v - max) / Σ. Three passes over the row:
// max, sum of exps, normalize (the exps are recomputed instead of stored: the row stays in L1).
static __global__ void softmax_kernel(float *x, int R, int C, const int32_t *ne, int d0, const int32_t *nv,
                               float mask_bias) {
    const int lane = threadIdx.x % kWarp;
    ROW_LOOP(r, R) {
        float *xr = x + (size_t)r * C;
        int    e = C, v0 = C, v1 = C; // visible: [0, e) U [v0, v1)
        if (ne) {                     // clamp to 0 <= ne <= d0 <= d0 + nv <= C, as the CPU contract
            const int dd = d0 < 0 ? 0 : (d0 > C ? C : d0);
            e            = ne[r] < 0 ? 0 : (ne[r] > dd ? dd : ne[r]);
            v0           = dd;
            v1           = dd + (nv[r] < 0 ? 0 : (nv[r] > C - dd ? C - dd : nv[r]));
        }
#define VAL(c) (((c) < e || ((c) >= v0 && (c) < v1)) ? xr[c] : mask_bias)
        float m = -INFINITY;
        for (int c = lane; c < C; c += kWarp)
            m = fmaxf(m, VAL(c));
        m       = warp_max(m);
        float s = 0.0f;
        for (int c = lane; c < C; c += kWarp)
            s += expf(VAL(c) - m);
        const float inv = 1.0f / warp_sum(s);
        for (int c = lane; c < C; c += kWarp)
            xr[c] = expf(VAL(c) - m) * inv;
#undef VAL
    }
}


#define GAN_EPS 1e-5f // gate_norm's LayerNorm eps (ops/grn.c LN_EPS)

extern "C" tft_status tft_cuda_add_layernorm(float *y, int ldy, const float *x, int ldx, const float *skip, int lds,
                                             const float *w, const float *b, int R, int C, float eps, void *stream) {
    TFT_CU_ARG(R >= 0 && C >= 0 && ldx >= C && ldy >= C && (!skip || lds >= C));
    if (R == 0 || C == 0)
        return TFT_OK;
    TFT_CU_ARG(y && x && w && b);
    TFT_CU_ARG((const float *)y != x || ldy == ldx);
    TFT_CU_ARG((const float *)y != skip || ldy == lds);
    TFT_LAUNCH(add_layernorm_kernel, row_blocks(R), kRowWarps * kWarp, 0, TFT_CU_STREAM(stream))(
        y, ldy, x, ldx, skip, lds, w, b, R, C, eps);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}

extern "C" tft_status tft_cuda_gate_add_norm(float *y, const float *z, int R, int C, const float *skip, int ldskip,
                                             const float *w, const float *b, void *stream) {
    TFT_CU_ARG(R >= 0 && C >= 0 && ldskip >= C);
    if (R == 0 || C == 0)
        return TFT_OK;
    TFT_CU_ARG(y && z && skip && w && b && (const float *)y != z);
    TFT_CU_ARG((const float *)y != skip || ldskip == C);
    TFT_LAUNCH(gate_add_norm_kernel, row_blocks(R), kRowWarps * kWarp, 0, TFT_CU_STREAM(stream))(
        y, z, R, C, skip, ldskip, w, b, GAN_EPS);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}

extern "C" tft_status tft_cuda_softmax(float *x, int R, int C, void *stream) {
    TFT_CU_ARG(R >= 0 && C >= 0);
    if (R == 0 || C == 0)
        return TFT_OK;
    TFT_CU_ARG(x);
    TFT_LAUNCH(softmax_kernel, row_blocks(R), kRowWarps * kWarp, 0, TFT_CU_STREAM(stream))(
        x, R, C, NULL, 0, NULL, 0.0f);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}

extern "C" tft_status tft_cuda_masked_softmax(float *x, int R, int C, const int32_t *ne, int d0, const int32_t *nv,
                                              float mask_bias, void *stream) {
    TFT_CU_ARG(R >= 0 && C >= 0 && d0 >= 0 && d0 <= C);
    if (R == 0 || C == 0)
        return TFT_OK;
    TFT_CU_ARG(x && ne && nv);
    TFT_LAUNCH(softmax_kernel, row_blocks(R), kRowWarps * kWarp, 0, TFT_CU_STREAM(stream))(
        x, R, C, ne, d0, nv, mask_bias);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}
