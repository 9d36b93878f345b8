// elementwise.cu: ELU (+ the GRN's context add), GLU, the LSTM cell, the variable-selection
// combine and the de-normalization. All memory-bound: one thread per output element, grid-stride
// loops over at most kMaxBlocks blocks of 256 threads; consecutive threads take consecutive
// elements of a row, so loads and stores coalesce. Math in float with the accurate libdevice
// functions (expf, expm1f, tanhf, log1pf), matching the CPU ops to rounding.
#include "common.cuh"



static __device__ __forceinline__ float elu1(float v) {
    return v > 0.0f ? v : expm1f(v);
}

// x: [n]
static __global__ void elu_kernel(float *x, size_t n) {
    GRID_STRIDE(i, n) x[i] = elu1(x[i]);
}

// u: [R, H] (ld ldu)   ctx: [R / g, H] or NULL; one thread per (r, c)
static __global__ void add_ctx_elu_kernel(float *u, int ldu, const float *ctx, int g, int R, int H) {
    const size_t n = (size_t)R * H;
    GRID_STRIDE(i, n) {
        const size_t r = i / H, c = i % H;
        float        v = u[r * ldu + c];
        if (ctx)
            v = __fadd_rn(v, ctx[(r / g) * H + c]); // the float add the CPU GRN does before the ELU
        u[r * ldu + c] = elu1(v);
    }
}

// z: [R, 2C]  y: [R, C]; one thread per output (r, c): reads the value half and the gate half
static __global__ void glu_kernel(float *y, const float *z, int R, int C) {
    const size_t n = (size_t)R * C;
    GRID_STRIDE(i, n) {
        const size_t r = i / C, c = i % C;
        const float *zr = z + r * 2 * C;
        y[i]            = __fmul_rn(zr[c], sigmoidf_(zr[C + c]));
    }
}

// One cell element; c = f·c + i·c~ (f·c first, as torch), h = o·tanh(c). No FMA contraction:
// the CPU op rounds each product.
static __device__ __forceinline__ void lstm_elem(float gi, float gf, float gg, float go, float *c, float *h) {
    const float ig = sigmoidf_(gi), fg = sigmoidf_(gf), cg = tanhf(gg), og = sigmoidf_(go);
    const float cn = __fadd_rn(__fmul_rn(fg, *c), __fmul_rn(ig, cg));
    *c             = cn;
    *h             = __fmul_rn(og, tanhf(cn));
}

// h, c: [n, H]  gates: [n, 4H] (xg == NULL) or xg + hg; one thread per (row, k)
static __global__ void lstm_cell_kernel(float *h, float *c, const float *xg, const float *hg, int n, int H) {
    const size_t m = (size_t)n * H;
    GRID_STRIDE(i, m) {
        const size_t r = i / H, k = i % H;
        const float *a = hg + r * 4 * H;
        float        g[4];
        for (int q = 0; q < 4; q++)
            g[q] = xg ? __fadd_rn(xg[r * 4 * H + q * H + k], a[q * H + k]) : a[q * H + k];
        lstm_elem(g[0], g[1], g[2], g[3], &c[i], &h[i]);
    }
}

// y: [R, H]  outs: [n, R, H]  wts: [R, n]; one thread per (r, c), k in order
static __global__ void vsn_combine_kernel(float *y, const float *outs, const float *wts, int R, int n, int H) {
    const size_t m = (size_t)R * H;
    GRID_STRIDE(i, m) {
        const size_t r   = i / H;
        float        acc = 0.0f;
        for (int k = 0; k < n; k++)
            acc = __fadd_rn(acc, __fmul_rn(outs[(size_t)k * m + i], wts[r * n + k]));
        y[i] = acc;
    }
}

// y, x: [n] (denorm1 in common.cuh: the affine part and the reverse transformation)
static __global__ void denormalize_kernel(float *y, const float *x, size_t n, float center, float scale, int tf) {
    GRID_STRIDE(i, n) {
        y[i] = denorm1(x[i], center, scale, tf);
    }
}


extern "C" tft_status tft_cuda_elu(float *x, size_t n, void *stream) {
    if (n == 0)
        return TFT_OK;
    TFT_CU_ARG(x);
    TFT_LAUNCH(elu_kernel, ew_blocks(n), kEwThreads, 0, TFT_CU_STREAM(stream))(x, n);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}

extern "C" tft_status tft_cuda_add_ctx_elu(float *u, int ldu, const float *ctx, int ctx_group, int R, int H,
                                           void *stream) {
    TFT_CU_ARG(R >= 0 && H >= 0 && ldu >= H && ctx_group >= 1);
    if (R == 0 || H == 0)
        return TFT_OK;
    TFT_CU_ARG(u);
    TFT_LAUNCH(add_ctx_elu_kernel, ew_blocks((size_t)R * H), kEwThreads, 0, TFT_CU_STREAM(stream))(
        u, ldu, ctx, ctx_group, R, H);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}

extern "C" tft_status tft_cuda_glu(float *y, const float *z, int R, int C, void *stream) {
    TFT_CU_ARG(R >= 0 && C >= 0);
    if (R == 0 || C == 0)
        return TFT_OK;
    TFT_CU_ARG(y && z && (const float *)y != z);
    TFT_LAUNCH(glu_kernel, ew_blocks((size_t)R * C), kEwThreads, 0, TFT_CU_STREAM(stream))(y, z, R, C);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}

extern "C" tft_status tft_cuda_lstm_cell(float *h, float *c, const float *gates, int n, int H, void *stream) {
    TFT_CU_ARG(n >= 0 && H >= 0);
    if (n == 0 || H == 0)
        return TFT_OK;
    TFT_CU_ARG(h && c && gates);
    TFT_LAUNCH(lstm_cell_kernel, ew_blocks((size_t)n * H), kEwThreads, 0, TFT_CU_STREAM(stream))(
        h, c, NULL, gates, n, H);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}

extern "C" tft_status tft_cuda_lstm_cell_add(float *h, float *c, const float *xg, const float *hg, int n, int H,
                                             void *stream) {
    TFT_CU_ARG(n >= 0 && H >= 0);
    if (n == 0 || H == 0)
        return TFT_OK;
    TFT_CU_ARG(h && c && xg && hg);
    TFT_LAUNCH(lstm_cell_kernel, ew_blocks((size_t)n * H), kEwThreads, 0, TFT_CU_STREAM(stream))(h, c, xg, hg, n, H);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}

extern "C" tft_status tft_cuda_vsn_combine(float *y, const float *outs, const float *wts, int R, int n, int H,
                                           void *stream) {
    TFT_CU_ARG(R >= 0 && n >= 0 && H >= 0);
    if (R == 0 || H == 0)
        return TFT_OK;
    TFT_CU_ARG(y && (n == 0 || (outs && wts)));
    TFT_LAUNCH(vsn_combine_kernel, ew_blocks((size_t)R * H), kEwThreads, 0, TFT_CU_STREAM(stream))(
        y, outs, wts, R, n, H);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}

extern "C" tft_status tft_cuda_denormalize(float *y, const float *x, size_t n, float center, float scale,
                                           tft_transform tf, void *stream) {
    if (n == 0)
        return TFT_OK;
    TFT_CU_ARG(y && x && (int)tf >= TFT_TF_NONE && (int)tf <= TFT_TF_SQRT);
    TFT_LAUNCH(denormalize_kernel, ew_blocks(n), kEwThreads, 0, TFT_CU_STREAM(stream))(y, x, n, center, scale, (int)tf);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}
