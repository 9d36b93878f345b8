// layernorm.c: (Add+)LayerNorm, align_corners linear interpolation and ResampleNorm.
#include "ops.h"
#include "lanes.h"

#include <math.h>

#define LN_EPS 1e-5f // nn.LayerNorm default, used by every LayerNorm in TFT

// ---- add + LayerNorm --------------------------------------------------------------------
// Σ z[0..C) in float with 8 independent partial sums (lane k sums z[k], z[k+8], ...), then a
// pairwise combine: the loop vectorizes without -ffast-math and is more accurate than one
// serial float sum (PyTorch's CPU LayerNorm also reduces in vector lanes).
#define LANES 8

// Σ (z[c] - mean)² the same way.
static inline float lane_sqdev(const float *restrict z, int C, float mean) {
    float acc[LANES] = {0};
    int   c          = 0;
    for (; c + LANES <= C; c += LANES)
        for (int k = 0; k < LANES; k++) {
            const float d = z[c + k] - mean;
            acc[k] += d * d;
        }
    for (int k = 0; c < C; c++, k++) {
        const float d = z[c] - mean;
        acc[k] += d * d;
    }
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

// One row, in place: z[:] = LayerNorm(z) · w + b. Two passes as PyTorch: the mean, then the
// biased variance (1/C) of the centred values; eps inside the sqrt. The affine part is
// PyTorch's: (z·rstd + (-mean·rstd)) · w + b.
static void layernorm_row(float *restrict z, const float *restrict w, const float *restrict b, int C,
                          float eps) {
    const float mean  = tft_lane_sum(z, C) / (float)C;
    const float var   = lane_sqdev(z, C, mean) / (float)C;
    const float rstd  = 1.0f / sqrtf(var + eps);
    const float shift = -mean * rstd;
    int         c     = 0;
    for (; c + LANES <= C; c += LANES) {
        float t[LANES];
        for (int k = 0; k < LANES; k++)
            t[k] = (z[c + k] * rstd + shift) * w[c + k] + b[c + k];
        for (int k = 0; k < LANES; k++)
            z[c + k] = t[k];
    }
    for (; c < C; c++)
        z[c] = (z[c] * rstd + shift) * w[c] + b[c];
}

// x, y, skip: [R, C]   w, b: [C]. y may alias x (each element is read once before it is written).
void tft_op_add_layernorm(float *y, const float *x, const float *skip, const float *w, const float *b, int R,
                          int C, float eps) {
    if (C <= 0)
        return;
    for (int r = 0; r < R; r++) {
        const float *xr = x + (size_t)r * C;
        float       *yr = y + (size_t)r * C;
        if (skip) {
            const float *sr = skip + (size_t)r * C;
            int          c  = 0;
            for (; c + LANES <= C; c += LANES) { // read a block, then write it: y may alias x
                float t[LANES];
                for (int k = 0; k < LANES; k++)
                    t[k] = xr[c + k] + sr[c + k];
                for (int k = 0; k < LANES; k++)
                    yr[c + k] = t[k];
            }
            for (; c < C; c++)
                yr[c] = xr[c] + sr[c];
        } else if (yr != xr) {
            for (int c = 0; c < C; c++)
                yr[c] = xr[c];
        }
        layernorm_row(yr, w, b, C, eps);
    }
}

void tft_op_add_layernorm_ref(float *y, const float *x, const float *skip, const float *w, const float *b,
                              int R, int C, float eps) {
    for (int r = 0; r < R; r++) {
        const float *xr   = x + (size_t)r * C;
        float       *yr   = y + (size_t)r * C;
        double       mean = 0.0, var = 0.0;
        for (int c = 0; c < C; c++)
            mean += (double)(float)(xr[c] + (skip ? skip[(size_t)r * C + c] : 0.0f));
        mean /= C;
        for (int c = 0; c < C; c++) {
            double d = (double)(float)(xr[c] + (skip ? skip[(size_t)r * C + c] : 0.0f)) - mean;
            var += d * d;
        }
        var /= C;
        const double rstd = 1.0 / sqrt(var + (double)eps);
        for (int c = 0; c < C; c++) {
            double z = (double)(float)(xr[c] + (skip ? skip[(size_t)r * C + c] : 0.0f));
            yr[c]    = (float)((z - mean) * rstd * (double)w[c] + (double)b[c]);
        }
    }
}

// ---- linear interpolation, align_corners=True (§3.3) ------------------------------------
// The index/weight map for output i, in torch >= 2.0's float32 arithmetic. Shared by both twins:
// it is the definition, not an implementation detail.
static inline void interp_index(int n, float scale, int i, int *i0, int *i1, float *l0, float *l1) {
    const float src = scale * (float)i;
    int         k   = (int)src;
    k               = k < n - 1 ? k : n - 1;
    float f         = src - (float)k;
    f               = f < 0.0f ? 0.0f : (f > 1.0f ? 1.0f : f);
    *i0             = k;
    *i1             = k + (k < n - 1 ? 1 : 0);
    *l1             = f;
    *l0             = 1.0f - f;
}

static inline float interp_scale(int n, int m) {
    return m > 1 ? (float)(n - 1) / (float)(m - 1) : 0.0f;
}

#define MAP_BLOCK 256 // output columns whose map is kept on the stack at a time

// x: [R, n] (ld ldx)   y: [R, m]. The map is computed once per column block, then applied to
// every row (row-major traversal of y, no allocation).
void tft_op_interp(float *y, const float *x, int ldx, int R, int n, int m) {
    if (n <= 0 || m <= 0)
        return;
    const float scale = interp_scale(n, m);
    int         i0[MAP_BLOCK], i1[MAP_BLOCK];
    float       l0[MAP_BLOCK], l1[MAP_BLOCK];
    for (int c0 = 0; c0 < m; c0 += MAP_BLOCK) {
        const int nc = m - c0 < MAP_BLOCK ? m - c0 : MAP_BLOCK;
        for (int c = 0; c < nc; c++)
            interp_index(n, scale, c0 + c, &i0[c], &i1[c], &l0[c], &l1[c]);
        for (int r = 0; r < R; r++) {
            const float *restrict xr = x + (size_t)r * ldx;
            float *restrict yr       = y + (size_t)r * m + c0;
            for (int c = 0; c < nc; c++)
                yr[c] = l0[c] * xr[i0[c]] + l1[c] * xr[i1[c]];
        }
    }
}

void tft_op_interp_ref(float *y, const float *x, int ldx, int R, int n, int m) {
    if (n <= 0 || m <= 0)
        return;
    const float scale = interp_scale(n, m);
    for (int r = 0; r < R; r++)
        for (int i = 0; i < m; i++) {
            int   i0, i1;
            float l0, l1;
            interp_index(n, scale, i, &i0, &i1, &l0, &l1);
            const float *xr      = x + (size_t)r * ldx;
            y[(size_t)r * m + i] = (float)((double)l0 * xr[i0] + (double)l1 * xr[i1]);
        }
}

// ---- ResampleNorm (§3.4): LayerNorm_m(interp(x) · σ(mask) · 2) · w + b --------------------
// v·(2σ) == (v·σ)·2 exactly (scaling by 2 is exact), so the gate is folded into one factor,
// computed for a block of MAP_BLOCK columns at a time on the stack (no allocation, no VLA).

void tft_op_resample_norm(float *y, const float *x, int ldx, int R, int n, int m, const float *mask,
                          const float *w, const float *b) {
    if (R <= 0 || m <= 0)
        return;
    if (n == m) {
        for (int r = 0; r < R; r++)
            for (int c = 0; c < m; c++)
                y[(size_t)r * m + c] = x[(size_t)r * ldx + c];
    } else {
        tft_op_interp(y, x, ldx, R, n, m);
    }
    float gate[MAP_BLOCK];
    for (int c0 = 0; c0 < m; c0 += MAP_BLOCK) {
        const int nc = m - c0 < MAP_BLOCK ? m - c0 : MAP_BLOCK;
        for (int c = 0; c < nc; c++)
            gate[c] = 2.0f * (1.0f / (1.0f + expf(-mask[c0 + c])));
        for (int r = 0; r < R; r++) {
            float *restrict yr = y + (size_t)r * m + c0;
            for (int c = 0; c < nc; c++)
                yr[c] *= gate[c];
        }
    }
    tft_op_add_layernorm(y, y, NULL, w, b, R, m, LN_EPS);
}

void tft_op_resample_norm_ref(float *y, const float *x, int ldx, int R, int n, int m, const float *mask,
                              const float *w, const float *b) {
    if (R <= 0 || m <= 0)
        return;
    if (n == m) {
        for (int r = 0; r < R; r++)
            for (int c = 0; c < m; c++)
                y[(size_t)r * m + c] = x[(size_t)r * ldx + c];
    } else {
        tft_op_interp_ref(y, x, ldx, R, n, m);
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < m; c++) {
            double g             = 1.0 / (1.0 + exp(-(double)mask[c]));
            y[(size_t)r * m + c] = (float)((double)y[(size_t)r * m + c] * g * 2.0);
        }
    tft_op_add_layernorm_ref(y, y, NULL, w, b, R, m, LN_EPS);
}
