// blocks.cu: what the CUDA backend needs beyond the single ops: the input ops (prescaler,
// embedding bag), ResampleNorm, a whole GRN on one cuBLAS handle, fill / 2-D copy helpers and the
// output heads' transpose + de-normalization. Semantics are those of the CPU ops in ops/ (named per
// launcher in ops_cuda.h); where the CPU rounds twice (a mul then an add) the kernels say so with
// __fmul_rn / __fadd_rn, so nvcc cannot contract an FMA.
// Geometry: elementwise kernels as elementwise.cu (one thread per output element, grid-stride over
// at most kMaxBlocks blocks of 256); ResampleNorm as norm.cu (one warp per row, 4 warps a block).
#include <stdint.h>
#include <string.h>

#include "common.cuh"

#define RS_EPS 1e-5f // ResampleNorm's LayerNorm eps (ops/layernorm.c LN_EPS)

// Host arrays passed to a kernel by value (a kernel parameter: no upload, nothing to free, and a
// captured CUDA graph keeps its own copy).
struct bag_cols {
    int32_t c[TFT_CUDA_MAX_BAG];
};
struct head_tfs {
    int32_t tf[TFT_CUDA_MAX_TARGETS];
};

// Whether the float ranges [a, a + na) and [b, b + nb) share an element (na, nb > 0).
static bool overlap(const float *a, size_t na, const float *b, size_t nb) {
    const uintptr_t a0 = (uintptr_t)a, b0 = (uintptr_t)b;
    return a0 < b0 + nb * sizeof(float) && b0 < a0 + na * sizeof(float);
}
// Floats a matrix of R rows of C floats at row stride ld spans (R, C > 0).
static size_t span(size_t R, size_t C, size_t ld) {
    return (R - 1) * ld + C;
}

// ---- kernels ----------------------------------------------------------------------------------
// y[r, j] = x[r*ldx]·w[j] + b[j]   y: [R, a] (ld ldy); one thread per (r, j)
static __global__ void prescale_kernel(float *y, int ldy, const float *x, int ldx, const float *w, const float *b,
                                       int R, int a) {
    const size_t n = (size_t)R * a;
    GRID_STRIDE(i, n) {
        const size_t r = i / a, j = i % a;
        y[r * ldy + j] = __fadd_rn(__fmul_rn(x[r * ldx], w[j]), b[j]);
    }
}

// y[r, c] = Σ_k table[idx[r*idx_stride + cols[k]], c]   y: [R, dim] (ld ldy); one thread per
// (r, c). The sum starts from the first row (not from +0, so a -0 entry stays -0 as the CPU's
// memcpy) and adds the others in k order: bitwise tft_op_embedding.
static __global__ void embedding_kernel(float *y, int ldy, const int32_t *idx, int idx_stride, bag_cols cols,
                                        int ncols, const float *table, int R, int dim) {
    const size_t n = (size_t)R * dim;
    GRID_STRIDE(i, n) {
        const size_t   r  = i / dim, c = i % dim;
        const int32_t *ir = idx + r * idx_stride;
        float          acc = 0.0f;
        if (ncols > 0) {
            acc = table[(size_t)ir[cols.c[0]] * dim + c];
            for (int k = 1; k < ncols; k++)
                acc = __fadd_rn(acc, table[(size_t)ir[cols.c[k]] * dim + c]);
        }
        y[r * ldy + c] = acc;
    }
}

// y [R, m] = LayerNorm_m(interp_{n->m}(x) · 2σ(mask))·w + b   x: [R, n] (ld ldx); one warp per row.
// The interpolation map is tft_op_interp's (torch >= 2.0's float32 index arithmetic, §3.3):
// src = scale·i, i0 = min((int)src, n-1), i1 = i0 + (i0 < n-1), l1 = clamp(src - i0, 0, 1), l0 = 1 - l1,
// v = l0·x[i0] + l1·x[i1] (two products, then the add), then v·gate with gate = 2·(1 / (1 + e^-mask))
// as the CPU op (each rounded; ·2 is exact). No interpolation when n == m.
static __global__ void resample_norm_kernel(float *y, const float *x, int ldx, int R, int n, int m,
                                            const float *mask, const float *w, const float *b, float eps) {
    const int   lane  = threadIdx.x % kWarp;
    const float scale = m > 1 ? (float)(n - 1) / (float)(m - 1) : 0.0f; // IEEE division
    ROW_LOOP(r, R) {
        const float *xr = x + (size_t)r * ldx;
        float       *yr = y + (size_t)r * m;
        float        s  = 0.0f;
        for (int c = lane; c < m; c += kWarp) {
            float v;
            if (n == m) {
                v = xr[c];
            } else {
                const float src = __fmul_rn(scale, (float)c);
                int         k   = (int)src;
                k               = k < n - 1 ? k : n - 1;
                float f         = __fsub_rn(src, (float)k);
                f               = f < 0.0f ? 0.0f : (f > 1.0f ? 1.0f : f);
                const int k1    = k + (k < n - 1 ? 1 : 0);
                v = __fadd_rn(__fmul_rn(__fsub_rn(1.0f, f), xr[k]), __fmul_rn(f, xr[k1]));
            }
            v     = __fmul_rn(v, 2.0f * sigmoidf_(mask[c]));
            yr[c] = v;
            s += v;
        }
        ln_finish(yr, w, b, m, eps, s, lane);
    }
}

// x: [n]
static __global__ void fill_kernel(float *x, size_t n, float v) {
    GRID_STRIDE(i, n) x[i] = v;
}

// y [B, NT, Td, Q] from x [B, Td, NT, Q]; one thread per output element (writes coalesce, reads in
// runs of Q). denorm: y = denorm1(x, center, scale, tf[j]) with (center, scale) = ts[b, j, 0/1].
static __global__ void heads_out_kernel(float *y, const float *x, int B, int Td, int NT, int Q, const float *ts,
                                        head_tfs tfs, int denorm) {
    const size_t n = (size_t)B * NT * Td * Q;
    GRID_STRIDE(i, n) {
        const size_t q = i % Q, t = i / Q % Td, bj = i / ((size_t)Q * Td); // bj = b*NT + j
        const size_t j = bj % NT, b = bj / NT;
        float        v = x[((b * Td + t) * NT + j) * Q + q];
        if (denorm)
            v = denorm1(v, ts[bj * 2], ts[bj * 2 + 1], tfs.tf[j]);
        y[i] = v;
    }
}

// ---- launchers --------------------------------------------------------------------------------
extern "C" tft_status tft_cuda_prescale(float *y, int ldy, const float *x, int ldx, const float *w, const float *b,
                                        int R, int a, void *stream) {
    TFT_CU_ARG(R >= 0 && a >= 0 && ldx >= 1 && ldy >= a);
    if (R == 0 || a == 0)
        return TFT_OK;
    TFT_CU_ARG(y && x && w && b);
    TFT_LAUNCH(prescale_kernel, ew_blocks((size_t)R * a), kEwThreads, 0, TFT_CU_STREAM(stream))(
        y, ldy, x, ldx, w, b, R, a);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}

extern "C" tft_status tft_cuda_embedding(float *y, int ldy, const int32_t *idx, int idx_stride, const int32_t *cols,
                                         int ncols, const float *table, int R, int dim, void *stream) {
    TFT_CU_ARG(R >= 0 && dim >= 0 && ncols >= 0 && idx_stride >= 0 && ldy >= dim);
    if (R == 0 || dim == 0)
        return TFT_OK;
    if (ncols > TFT_CUDA_MAX_BAG)
        return tft__fail(TFT_ERR_UNSUPPORTED, "%s:%d: tft_cuda_embedding: %d index columns in one bag (at most %d)",
                         __FILE__, __LINE__, ncols, TFT_CUDA_MAX_BAG);
    TFT_CU_ARG(y && (ncols == 0 || (idx && cols && table)));
    bag_cols bc;
    memset(&bc, 0, sizeof bc);
    for (int k = 0; k < ncols; k++) {
        TFT_CU_ARG(cols[k] >= 0);
        bc.c[k] = cols[k];
    }
    TFT_LAUNCH(embedding_kernel, ew_blocks((size_t)R * dim), kEwThreads, 0, TFT_CU_STREAM(stream))(
        y, ldy, idx, idx_stride, bc, ncols, table, R, dim);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}

extern "C" tft_status tft_cuda_resample_norm(float *y, const float *x, int ldx, int R, int n, int m,
                                             const float *mask, const float *w, const float *b, void *stream) {
    TFT_CU_ARG(R >= 0 && n >= 0 && m >= 0 && ldx >= n);
    if (R == 0 || m == 0)
        return TFT_OK;
    TFT_CU_ARG(n >= 1 && y && x && mask && w && b);
    TFT_CU_ARG(!overlap(y, (size_t)R * m, x, span(R, n, ldx)));
    TFT_LAUNCH(resample_norm_kernel, row_blocks(R), kRowWarps * kWarp, 0, TFT_CU_STREAM(stream))(
        y, x, ldx, R, n, m, mask, w, b, RS_EPS);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}

// The scratch layout of tft_cuda_grn (floats): res [R, out] when in != out, u [R, max(hid, 2 out)],
// v [R, hid].
static size_t grn_u_floats(size_t R, const tft_grn_w *w) {
    const size_t h = (size_t)w->hid, o2 = 2 * (size_t)w->out;
    return R * (h > o2 ? h : o2);
}

extern "C" size_t tft_cuda_grn_scratch(int R, const tft_grn_w *w) {
    if (R <= 0 || !w || w->in < 1 || w->hid < 1 || w->out < 1)
        return 0;
    const size_t res = w->in != w->out ? (size_t)R * (size_t)w->out : 0;
    return res + grn_u_floats((size_t)R, w) + (size_t)R * (size_t)w->hid;
}

// The stages of tft_op_grn on all R rows at once (the CPU's row blocks only bound its L1-resident
// scratch; rows are independent):
//   res = ResampleNorm(x)              (in != out; else the residual is x itself)
//   u   = ELU(x·fc1ᵀ + fc1_b [+ ctx])   cuBLAS + add_ctx_elu (the context add is a float add, as the CPU)
//   v   = u·fc2ᵀ + fc2_b                cuBLAS
//   z   = v·gluᵀ + glu_b  -> u's floats (u is dead once v exists)
//   y   = LayerNorm(GLU(z) + residual)  gate_add_norm (eps 1e-5)
extern "C" tft_status tft_cuda_grn(tft_cuda_blas *h, float *y, const float *x, int ldx, int R, const tft_grn_w *w,
                                   const float *ctx_add, int ctx_group, float *scratch) {
    TFT_CU_ARG(h && w && R >= 0);
    const int in = w->in, hid = w->hid, out = w->out;
    TFT_CU_ARG(in >= 1 && hid >= 1 && out >= 1 && ldx >= in);
    if (R == 0)
        return TFT_OK;
    TFT_CU_ARG(y && x && scratch);
    TFT_CU_ARG(w->fc1_w && w->fc1_b && w->fc2_w && w->fc2_b && w->glu_w && w->glu_b && w->ln_w && w->ln_b);
    TFT_CU_ARG(in == out || (w->rs_mask && w->rs_w && w->rs_b));
    const size_t ny = (size_t)R * out;
    TFT_CU_ARG(!overlap(y, ny, x, span(R, in, ldx)));
    TFT_CU_ARG(!overlap(y, ny, scratch, tft_cuda_grn_scratch(R, w)));
    void        *stream = tft_cuda_blas_stream(h);
    const int    g      = ctx_group > 0 ? ctx_group : 1;
    float       *res    = scratch;
    float       *u      = scratch + (in != out ? ny : 0);
    float       *v      = u + grn_u_floats((size_t)R, w);
    const float *skip   = x;
    int          ldskip = ldx;
    if (in != out) {
        TFT_CU_TRY(tft_cuda_resample_norm(res, x, ldx, R, in, out, w->rs_mask, w->rs_w, w->rs_b, stream));
        skip = res, ldskip = out;
    }
    TFT_CU_TRY(tft_cuda_linear(h, u, hid, x, ldx, w->fc1_w, w->fc1_b, R, in, hid, 0));
    TFT_CU_TRY(tft_cuda_add_ctx_elu(u, hid, ctx_add, g, R, hid, stream));
    TFT_CU_TRY(tft_cuda_linear(h, v, hid, u, hid, w->fc2_w, w->fc2_b, R, hid, hid, 0));
    TFT_CU_TRY(tft_cuda_linear(h, u, 2 * out, v, hid, w->glu_w, w->glu_b, R, hid, 2 * out, 0));
    return tft_cuda_gate_add_norm(y, u, R, out, skip, ldskip, w->ln_w, w->ln_b, stream);
}

extern "C" tft_status tft_cuda_fill(float *x, size_t n, float v, void *stream) {
    if (n == 0)
        return TFT_OK;
    TFT_CU_ARG(x);
    TFT_LAUNCH(fill_kernel, ew_blocks(n), kEwThreads, 0, TFT_CU_STREAM(stream))(x, n, v);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}

extern "C" tft_status tft_cuda_copy2d(float *dst, size_t dpitch, const float *src, size_t spitch, size_t width,
                                      size_t rows, void *stream) {
    TFT_CU_ARG(dpitch >= width && spitch >= width);
    if (width == 0 || rows == 0)
        return TFT_OK;
    TFT_CU_ARG(dst && src && dpitch <= SIZE_MAX / sizeof(float) && spitch <= SIZE_MAX / sizeof(float));
    TFT_CU_ARG(!overlap(dst, span(rows, width, dpitch), src, span(rows, width, spitch)));
    TFT_CU_CHECK(cudaMemcpy2DAsync(dst, dpitch * sizeof(float), src, spitch * sizeof(float), width * sizeof(float),
                                   rows, cudaMemcpyDeviceToDevice, TFT_CU_STREAM(stream)));
    return TFT_OK;
}

extern "C" tft_status tft_cuda_heads_out(float *y, const float *x, int B, int Td, int NT, int Q,
                                         const float *target_scale, const tft_transform *tf, int denorm,
                                         void *stream) {
    TFT_CU_ARG(B >= 0 && Td >= 0 && NT >= 0 && Q >= 0 && (denorm == 0 || denorm == 1));
    if (B == 0 || Td == 0 || NT == 0 || Q == 0)
        return TFT_OK;
    TFT_CU_ARG(y && x);
    const size_t n = (size_t)B * Td * NT * Q;
    TFT_CU_ARG(!overlap(y, n, x, n));
    head_tfs tfs;
    memset(&tfs, 0, sizeof tfs);
    if (denorm) {
        if (NT > TFT_CUDA_MAX_TARGETS)
            return tft__fail(TFT_ERR_UNSUPPORTED, "%s:%d: tft_cuda_heads_out: %d targets (at most %d)", __FILE__,
                             __LINE__, NT, TFT_CUDA_MAX_TARGETS);
        TFT_CU_ARG(target_scale && tf);
        // read as the int it is: the caller is C, where any int is a legal tft_transform object, and
        // loading an out-of-range value through the enum type is undefined in C++
        static_assert(sizeof(tft_transform) == sizeof(int32_t), "tft_transform is an int");
        for (int j = 0; j < NT; j++) {
            int32_t t;
            memcpy(&t, tf + j, sizeof t);
            TFT_CU_ARG(t >= TFT_TF_NONE && t <= TFT_TF_SQRT);
            tfs.tf[j] = t;
        }
    }
    TFT_LAUNCH(heads_out_kernel, ew_blocks(n), kEwThreads, 0, TFT_CU_STREAM(stream))(
        y, x, B, Td, NT, Q, denorm ? target_scale : NULL, tfs, denorm);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}
