// grn.c: gated blocks (GateAddNorm, GRN), variable-selection combine and the input ops
// (embedding lookup, real-valued prescaler).
#include "ops.h"

#include <math.h>
#include <string.h>

#define LN_EPS 1e-5f

// ---- GateAddNorm (§3.6): y = LayerNorm_C( GLU_{Cin->C}(x) + skip ) ------------------------
// Per block of TFT_GRN_ROWS rows: scratch [n, 2C] takes the GLU's linear output z, which
// tft_op_glu then compacts in place to [n, C] (an elementwise.c guarantee); then row r:
// y = LayerNorm(skip_r + glu_r), with skip passed as add_layernorm's x operand: y may alias x
// there, so y may alias skip here (float + commutes). The block stays in L1 between the passes.
void tft_op_gate_add_norm_p(float *y, const float *x, int R, int Cin, int C, const float *glu_w,
                            const float *glu_p, const float *glu_b, const float *skip, int ldskip,
                            const float *ln_w, const float *ln_b, float *scratch) {
    if (R <= 0 || C <= 0)
        return;
    for (int r0 = 0; r0 < R; r0 += TFT_GRN_ROWS) {
        const int    n  = R - r0 < TFT_GRN_ROWS ? R - r0 : TFT_GRN_ROWS;
        const float *xb = x + (size_t)r0 * Cin, *sb = skip + (size_t)r0 * ldskip;
        float       *yb = y + (size_t)r0 * C;
        tft_op_linear_packed(scratch, 2 * C, xb, Cin, glu_w, glu_p, glu_b, n, Cin, 2 * C, 0);
        tft_op_glu(scratch, scratch, n, C);
        tft_op_add_layernorm_ld(yb, C, sb, ldskip, scratch, C, ln_w, ln_b, n, C, LN_EPS);
    }
}

void tft_op_gate_add_norm(float *y, const float *x, int R, int Cin, int C, const float *glu_w,
                          const float *glu_b, const float *skip, int ldskip, const float *ln_w,
                          const float *ln_b, float *scratch) {
    tft_op_gate_add_norm_p(y, x, R, Cin, C, glu_w, NULL, glu_b, skip, ldskip, ln_w, ln_b, scratch);
}

// Reference: the GLU and the residual sum in double, then the LayerNorm reference.
void tft_op_gate_add_norm_ref(float *y, const float *x, int R, int Cin, int C, const float *glu_w,
                              const float *glu_b, const float *skip, int ldskip, const float *ln_w,
                              const float *ln_b, float *scratch) {
    if (R <= 0 || C <= 0)
        return;
    tft_op_linear_ref(scratch, 2 * C, x, Cin, glu_w, glu_b, R, Cin, 2 * C, 0);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            const float *z       = scratch + (size_t)r * 2 * C;
            double       t       = (double)z[c] / (1.0 + exp(-(double)z[C + c]));
            y[(size_t)r * C + c] = (float)(t + (double)skip[(size_t)r * ldskip + c]);
        }
    tft_op_add_layernorm_ref(y, y, NULL, ln_w, ln_b, R, C, LN_EPS);
}

// ---- GRN (§3.7) ---------------------------------------------------------------------------
// Rows run in blocks of n <= TFT_GRN_ROWS through every stage. Scratch layout (floats), per block:
//   res [n, o]            ResampleNorm(x), only when i != o
//   u   [n, max(h, 2o)]   fc1(x) + ctx, ELU'd in place; once v = fc2(u) exists u is dead and the
//                         same floats serve as GateAddNorm's [n, 2o] GLU scratch
//   v   [n, h]            fc2(u)
static inline int grn_rows(int R) {
    return R < TFT_GRN_ROWS ? R : TFT_GRN_ROWS;
}

static inline size_t grn_u_size(int R, const tft_grn_w *w) {
    int h = w->hid, o2 = 2 * w->out;
    return (size_t)grn_rows(R) * (size_t)(h > o2 ? h : o2);
}

size_t tft_op_grn_scratch(int R, const tft_grn_w *w) {
    if (R <= 0)
        return 0;
    size_t res = w->in != w->out ? (size_t)grn_rows(R) * (size_t)w->out : 0;
    return res + grn_u_size(R, w) + (size_t)grn_rows(R) * (size_t)w->hid;
}

// Adds ctx_add[(r0 + r) / group, :] to u[r, :] (the static context, broadcast over its time steps;
// r0 = the block's first row in the whole op).
static void add_context(float *restrict u, const float *restrict ctx, int n, int h, int group, int r0) {
    for (int r = 0; r < n; r++) {
        const float *cr = ctx + (size_t)((r0 + r) / group) * h;
        float       *ur = u + (size_t)r * h;
        for (int c = 0; c < h; c++)
            ur[c] += cr[c];
    }
}

void tft_op_grn(float *y, const float *x, int ldx, int R, const tft_grn_w *w, const float *ctx_add,
                int ctx_group, float *scratch) {
    if (R <= 0)
        return;
    const int i = w->in, h = w->hid, o = w->out, g = ctx_group > 0 ? ctx_group : 1;
    float    *res = scratch;                                            // [n, o] or unused
    float    *u   = scratch + (i != o ? (size_t)grn_rows(R) * o : 0); // [n, max(h, 2o)]
    float    *v   = u + grn_u_size(R, w);                               // [n, h]
    for (int r0 = 0; r0 < R; r0 += TFT_GRN_ROWS) {
        const int    n  = R - r0 < TFT_GRN_ROWS ? R - r0 : TFT_GRN_ROWS;
        const float *xb = x + (size_t)r0 * ldx, *skip = xb;
        int          ldskip = ldx;
        if (i != o) {
            tft_op_resample_norm(res, xb, ldx, n, i, o, w->rs_mask, w->rs_w, w->rs_b);
            skip   = res;
            ldskip = o;
        }
        tft_op_linear_packed(u, h, xb, ldx, w->fc1_w, w->fc1_p, w->fc1_b, n, i, h, 0);
        if (ctx_add)
            add_context(u, ctx_add, n, h, g, r0);
        tft_op_elu(u, (size_t)n * h);
        tft_op_linear_packed(v, h, u, h, w->fc2_w, w->fc2_p, w->fc2_b, n, h, h, 0);
        tft_op_gate_add_norm_p(y + (size_t)r0 * o, v, n, h, o, w->glu_w, w->glu_p, w->glu_b, skip, ldskip, w->ln_w,
                               w->ln_b, u);
    }
}

// Reference: the same stages on the whole block of rows at once (rows are independent; the blocks
// only bound the scratch), in double where it matters.
void tft_op_grn_ref(float *y, const float *x, int ldx, int R, const tft_grn_w *w, const float *ctx_add,
                    int ctx_group, float *scratch) {
    if (R <= 0)
        return;
    const int i = w->in, h = w->hid, o = w->out, g = ctx_group > 0 ? ctx_group : 1;
    float    *res = scratch;
    float    *u   = scratch + (i != o ? (size_t)grn_rows(R) * o : 0);
    float    *v   = u + grn_u_size(R, w);
    for (int r0 = 0; r0 < R; r0 += TFT_GRN_ROWS) {
        const int    n  = R - r0 < TFT_GRN_ROWS ? R - r0 : TFT_GRN_ROWS;
        const float *xb = x + (size_t)r0 * ldx, *skip = xb;
        int          ldskip = ldx;
        if (i != o) {
            tft_op_resample_norm_ref(res, xb, ldx, n, i, o, w->rs_mask, w->rs_w, w->rs_b);
            skip   = res;
            ldskip = o;
        }
        tft_op_linear_ref(u, h, xb, ldx, w->fc1_w, w->fc1_b, n, i, h, 0);
        if (ctx_add)
            for (int r = 0; r < n; r++)
                for (int c = 0; c < h; c++)
                    u[(size_t)r * h + c] =
                        (float)((double)u[(size_t)r * h + c] + ctx_add[(size_t)((r0 + r) / g) * h + c]);
        tft_op_elu_ref(u, (size_t)n * h);
        tft_op_linear_ref(v, h, u, h, w->fc2_w, w->fc2_b, n, h, h, 0);
        tft_op_gate_add_norm_ref(y + (size_t)r0 * o, v, n, h, o, w->glu_w, w->glu_b, skip, ldskip, w->ln_w, w->ln_b,
                                 u);
    }
}

// ---- variable-selection combine: y[r,:] = Σ_k outs[k][r,:] · wts[r,k], k in order ------------
void tft_op_vsn_combine(float *y, const float *outs, const float *wts, int R, int n, int H) {
    const size_t plane = (size_t)R * H; // floats per variable in outs
    for (int r = 0; r < R; r++) {
        float *restrict yr = y + (size_t)r * H;
        const float *wr    = wts + (size_t)r * n;
        if (n <= 0) {
            memset(yr, 0, (size_t)H * sizeof(float));
            continue;
        }
        const float *o0 = outs + (size_t)r * H;
        for (int c = 0; c < H; c++)
            yr[c] = o0[c] * wr[0];
        for (int k = 1; k < n; k++) {
            const float *restrict ok = outs + k * plane + (size_t)r * H;
            const float wk           = wr[k];
            for (int c = 0; c < H; c++)
                yr[c] += ok[c] * wk;
        }
    }
}

void tft_op_vsn_combine_ref(float *y, const float *outs, const float *wts, int R, int n, int H) {
    for (int r = 0; r < R; r++)
        for (int c = 0; c < H; c++) {
            double acc = 0.0;
            for (int k = 0; k < n; k++)
                acc += (double)outs[(size_t)k * R * H + (size_t)r * H + c] * (double)wts[(size_t)r * n + k];
            y[(size_t)r * H + c] = (float)acc;
        }
}

// ---- embedding lookup, summed over ncols index columns (EmbeddingBag "sum") -----------------
void tft_op_embedding(float *y, int ldy, const int32_t *idx, int idx_stride, const int32_t *cols, int ncols,
                      const float *table, int R, int dim) {
    for (int r = 0; r < R; r++) {
        float *restrict yr = y + (size_t)r * ldy;
        const int32_t *ir  = idx + (size_t)r * idx_stride;
        if (ncols <= 0) {
            memset(yr, 0, (size_t)dim * sizeof(float));
            continue;
        }
        memcpy(yr, table + (size_t)ir[cols[0]] * dim, (size_t)dim * sizeof(float));
        for (int k = 1; k < ncols; k++) {
            const float *restrict t = table + (size_t)ir[cols[k]] * dim;
            for (int c = 0; c < dim; c++)
                yr[c] += t[c];
        }
    }
}

void tft_op_embedding_ref(float *y, int ldy, const int32_t *idx, int idx_stride, const int32_t *cols,
                          int ncols, const float *table, int R, int dim) {
    for (int r = 0; r < R; r++)
        for (int c = 0; c < dim; c++) {
            double acc = 0.0;
            for (int k = 0; k < ncols; k++)
                acc += (double)table[(size_t)idx[(size_t)r * idx_stride + cols[k]] * dim + c];
            y[(size_t)r * ldy + c] = (float)acc;
        }
}

// ---- prescaler Linear(1, a): y[r,j] = x[r]·w[j] + b[j] -------------------------------------
void tft_op_prescale(float *y, int ldy, const float *x, int ldx, const float *w, const float *b, int R,
                     int a) {
    for (int r = 0; r < R; r++) {
        const float xr     = x[(size_t)r * ldx];
        float *restrict yr = y + (size_t)r * ldy;
        for (int j = 0; j < a; j++) {
            float t = xr * w[j];
            yr[j]   = t + b[j];
        }
    }
}

void tft_op_prescale_ref(float *y, int ldy, const float *x, int ldx, const float *w, const float *b, int R,
                         int a) {
    for (int r = 0; r < R; r++)
        for (int j = 0; j < a; j++)
            y[(size_t)r * ldy + j] = (float)((double)x[(size_t)r * ldx] * (double)w[j] + (double)b[j]);
}
