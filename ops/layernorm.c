// layernorm.c: (Add+)LayerNorm, align_corners linear interpolation and ResampleNorm.
#include "ops.h"
#include "isa.h"
#include "lanes.h"

#include <math.h>
#include <string.h>

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

// One row through the scalar path: z = x + skip (or x), then layernorm_row. y may alias x.
static void add_layernorm_row(float *yr, const float *xr, const float *sr, const float *w, const float *b, int C,
                              float eps) {
    if (sr) {
        int c = 0;
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

#ifdef TFT_HAVE_X86_CLONES
#include <immintrin.h>
#define HAVE_AVX2_LN 1
#define LN8_MAXC 512 // widest row the 8-row kernel takes (its transposed tile is 16 KiB of stack)
typedef float vf8 __attribute__((vector_size(32)));

// 8 rows at once, one row per vector lane: t[c] holds column c of the 8 rows. Every lane performs
// exactly layernorm_row's operations in the same order (lane sums by position, the same two trees,
// a division by C, the IEEE sqrt and division, the same affine), so a row gives the same bits here
// as through the scalar path, whatever its place in the batch. The row-wise latency chain of the
// scalar path (two horizontal reductions, sqrt, division) is shared by 8 rows instead of paid 8 times.
// Rows r at x + r*ldx, skip + r*lds (skip may be NULL), y + r*ldy; y may alias x or skip.
// One body, built as AVX2 and as AVX-512 (add_layernorm8_avx2/_avx512 below): the same bits.
__attribute__((target("avx2"), always_inline)) static inline void
add_layernorm8_body(float *y, int ldy, const float *x, int ldx, const float *skip, int lds, const float *w,
                    const float *b, int C, float eps) {
    vf8 t[LN8_MAXC];
    int c = 0;
    for (; c + 8 <= C; c += 8) { // 8x8 transposes: rows -> columns, with the skip sum
        __m256 r[8];
        for (int i = 0; i < 8; i++) {
            vf8 v;
            memcpy(&v, x + (size_t)i * ldx + c, sizeof v);
            if (skip) {
                vf8 s2;
                memcpy(&s2, skip + (size_t)i * lds + c, sizeof s2);
                v = v + s2;
            }
            r[i] = (__m256)v;
        }
        __m256 a0 = _mm256_unpacklo_ps(r[0], r[1]), a1 = _mm256_unpackhi_ps(r[0], r[1]);
        __m256 a2 = _mm256_unpacklo_ps(r[2], r[3]), a3 = _mm256_unpackhi_ps(r[2], r[3]);
        __m256 a4 = _mm256_unpacklo_ps(r[4], r[5]), a5 = _mm256_unpackhi_ps(r[4], r[5]);
        __m256 a6 = _mm256_unpacklo_ps(r[6], r[7]), a7 = _mm256_unpackhi_ps(r[6], r[7]);
        __m256 b0 = _mm256_shuffle_ps(a0, a2, 0x44), b1 = _mm256_shuffle_ps(a0, a2, 0xEE);
        __m256 b2 = _mm256_shuffle_ps(a1, a3, 0x44), b3 = _mm256_shuffle_ps(a1, a3, 0xEE);
        __m256 b4 = _mm256_shuffle_ps(a4, a6, 0x44), b5 = _mm256_shuffle_ps(a4, a6, 0xEE);
        __m256 b6 = _mm256_shuffle_ps(a5, a7, 0x44), b7 = _mm256_shuffle_ps(a5, a7, 0xEE);
        t[c + 0] = (vf8)_mm256_permute2f128_ps(b0, b4, 0x20), t[c + 1] = (vf8)_mm256_permute2f128_ps(b1, b5, 0x20);
        t[c + 2] = (vf8)_mm256_permute2f128_ps(b2, b6, 0x20), t[c + 3] = (vf8)_mm256_permute2f128_ps(b3, b7, 0x20);
        t[c + 4] = (vf8)_mm256_permute2f128_ps(b0, b4, 0x31), t[c + 5] = (vf8)_mm256_permute2f128_ps(b1, b5, 0x31);
        t[c + 6] = (vf8)_mm256_permute2f128_ps(b2, b6, 0x31), t[c + 7] = (vf8)_mm256_permute2f128_ps(b3, b7, 0x31);
    }
    for (; c < C; c++) { // the last C % 8 columns element by element
        float e[8];
        for (int i = 0; i < 8; i++)
            e[i] = skip ? x[(size_t)i * ldx + c] + skip[(size_t)i * lds + c] : x[(size_t)i * ldx + c];
        memcpy(&t[c], e, sizeof e);
    }
    // mean: tft_lane_sum's 8 partial sums by position, then its tree
    const vf8 zero = {0};
    vf8       acc[LANES];
    for (int k = 0; k < LANES; k++)
        acc[k] = zero;
    c = 0;
    for (; c + LANES <= C; c += LANES)
        for (int k = 0; k < LANES; k++)
            acc[k] = acc[k] + t[c + k];
    for (int k = 0; c < C; c++, k++)
        acc[k] = acc[k] + t[c];
    const vf8 fC   = (vf8){0} + (float)C;
    const vf8 mean = (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) / fC;
    // biased variance: lane_sqdev's partial sums and tree
    for (int k = 0; k < LANES; k++)
        acc[k] = zero;
    c = 0;
    for (; c + LANES <= C; c += LANES)
        for (int k = 0; k < LANES; k++) {
            const vf8 d = t[c + k] - mean;
            acc[k]      = acc[k] + d * d;
        }
    for (int k = 0; c < C; c++, k++) {
        const vf8 d = t[c] - mean;
        acc[k]      = acc[k] + d * d;
    }
    const vf8 var   = (((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))) / fC;
    const vf8 one   = zero + 1.0f;
    const vf8 rstd  = one / (vf8)_mm256_sqrt_ps((__m256)(var + eps));
    const vf8 shift = -mean * rstd;
    c               = 0;
    for (; c + 8 <= C; c += 8) { // affine, then columns -> rows
        __m256 r[8];
        for (int i = 0; i < 8; i++)
            r[i] = (__m256)((t[c + i] * rstd + shift) * w[c + i] + b[c + i]);
        __m256 a0 = _mm256_unpacklo_ps(r[0], r[1]), a1 = _mm256_unpackhi_ps(r[0], r[1]);
        __m256 a2 = _mm256_unpacklo_ps(r[2], r[3]), a3 = _mm256_unpackhi_ps(r[2], r[3]);
        __m256 a4 = _mm256_unpacklo_ps(r[4], r[5]), a5 = _mm256_unpackhi_ps(r[4], r[5]);
        __m256 a6 = _mm256_unpacklo_ps(r[6], r[7]), a7 = _mm256_unpackhi_ps(r[6], r[7]);
        __m256 b0 = _mm256_shuffle_ps(a0, a2, 0x44), b1 = _mm256_shuffle_ps(a0, a2, 0xEE);
        __m256 b2 = _mm256_shuffle_ps(a1, a3, 0x44), b3 = _mm256_shuffle_ps(a1, a3, 0xEE);
        __m256 b4 = _mm256_shuffle_ps(a4, a6, 0x44), b5 = _mm256_shuffle_ps(a4, a6, 0xEE);
        __m256 b6 = _mm256_shuffle_ps(a5, a7, 0x44), b7 = _mm256_shuffle_ps(a5, a7, 0xEE);
        __m256 o[8] = {_mm256_permute2f128_ps(b0, b4, 0x20), _mm256_permute2f128_ps(b1, b5, 0x20),
                       _mm256_permute2f128_ps(b2, b6, 0x20), _mm256_permute2f128_ps(b3, b7, 0x20),
                       _mm256_permute2f128_ps(b0, b4, 0x31), _mm256_permute2f128_ps(b1, b5, 0x31),
                       _mm256_permute2f128_ps(b2, b6, 0x31), _mm256_permute2f128_ps(b3, b7, 0x31)};
        for (int i = 0; i < 8; i++)
            memcpy(y + (size_t)i * ldy + c, &o[i], sizeof o[i]);
    }
    for (; c < C; c++) {
        float e[8];
        vf8   v = (t[c] * rstd + shift) * w[c] + b[c];
        memcpy(e, &v, sizeof e);
        for (int i = 0; i < 8; i++)
            y[(size_t)i * ldy + c] = e[i];
    }
}
#define LN8_PARAMS                                                                                           \
    (float *y, int ldy, const float *x, int ldx, const float *skip, int lds, const float *w, const float *b, \
     int C, float eps)
__attribute__((target("avx2"))) static void add_layernorm8_avx2 LN8_PARAMS {
    add_layernorm8_body(y, ldy, x, ldx, skip, lds, w, b, C, eps);
}
__attribute__((target(TFT_AVX512_NOFMA))) static void add_layernorm8_avx512 LN8_PARAMS {
    add_layernorm8_body(y, ldy, x, ldx, skip, lds, w, b, C, eps);
}
#endif

// Rows r at x + r*ldx, skip + r*lds (skip may be NULL), y + r*ldy. Blocks of 8 rows go through the
// 8-lane kernel (AVX2), the others through the row path: the same bits either way.
static void add_layernorm_strided(float *y, int ldy, const float *x, int ldx, const float *skip, int lds,
                                  const float *w, const float *b, int R, int C, float eps) {
    if (C <= 0)
        return;
    int r = 0;
#ifdef HAVE_AVX2_LN
    const tft_isa isa = tft_op_isa();
    if (C <= LN8_MAXC && isa >= TFT_ISA_AVX2)
        for (; r + 8 <= R; r += 8)
            (isa == TFT_ISA_AVX512 ? add_layernorm8_avx512 : add_layernorm8_avx2)(
                y + (size_t)r * ldy, ldy, x + (size_t)r * ldx, ldx, skip ? skip + (size_t)r * lds : NULL, lds, w, b,
                C, eps);
#endif
    for (; r < R; r++)
        add_layernorm_row(y + (size_t)r * ldy, x + (size_t)r * ldx, skip ? skip + (size_t)r * lds : NULL, w, b, C,
                          eps);
}

// x, y, skip: [R, C]   w, b: [C]. y may alias x (each element is read once before it is written).
void tft_op_add_layernorm(float *y, const float *x, const float *skip, const float *w, const float *b, int R,
                          int C, float eps) {
    add_layernorm_strided(y, C, x, C, skip, C, w, b, R, C, eps);
}

// The same with row strides: x [R, C] (ld ldx), skip [R, C] (ld lds) or NULL, y [R, C] (ld ldy).
void tft_op_add_layernorm_ld(float *y, int ldy, const float *x, int ldx, const float *skip, int lds,
                             const float *w, const float *b, int R, int C, float eps) {
    add_layernorm_strided(y, ldy, x, ldx, skip, lds, w, b, R, C, eps);
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

#ifdef HAVE_AVX2_LN
// y[r, c] = (l0[c]·x[r, i0[c]] + l1[c]·x[r, i1[c]]) [· gate[c]] for an input row of n <= 16: the
// row sits in two registers and each 8-output block fetches its x[i0], x[i1] with in-register
// permutes (one per half, blended by index >= 8) instead of 16 scalar loads. The same products,
// sum and gate product as the scalar loops (multiply, multiply, add, then multiply), so the same
// bits. Columns past the last full block of 8 take the scalar loop. m <= MAP_BLOCK.
__attribute__((target("avx2"))) static void interp_rows16(float *y, const float *x, int ldx, int R, int n, int m,
                                                          const int *i0, const int *i1, const float *l0,
                                                          const float *l1, const float *gate) {
    const int mb = m / 8 * 8;
    for (int r = 0; r < R; r++) {
        const float *xr = x + (size_t)r * ldx;
        float       *yr = y + (size_t)r * m;
        float        row[16] = {0};
        memcpy(row, xr, sizeof(float) * (size_t)n);
        const __m256 lo = _mm256_loadu_ps(row), hi = _mm256_loadu_ps(row + 8);
        for (int c = 0; c < mb; c += 8) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)(i0 + c));
            const __m256i b = _mm256_loadu_si256((const __m256i *)(i1 + c));
            const __m256i s7 = _mm256_set1_epi32(7);
            const __m256  ma = _mm256_castsi256_ps(_mm256_cmpgt_epi32(a, s7));
            const __m256  mb2 = _mm256_castsi256_ps(_mm256_cmpgt_epi32(b, s7));
            const __m256  xa = _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, a), _mm256_permutevar8x32_ps(hi, a), ma);
            const __m256  xb = _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, b), _mm256_permutevar8x32_ps(hi, b), mb2);
            __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(l0 + c), xa),
                                     _mm256_mul_ps(_mm256_loadu_ps(l1 + c), xb));
            if (gate)
                v = _mm256_mul_ps(v, _mm256_loadu_ps(gate + c));
            _mm256_storeu_ps(yr + c, v);
        }
        for (int c = mb; c < m; c++) {
            float v = l0[c] * row[i0[c]] + l1[c] * row[i1[c]];
            yr[c]   = gate ? v * gate[c] : v;
        }
    }
}
#endif

// x: [R, n] (ld ldx)   y: [R, m]. The map is computed once per column block, then applied to
// every row (row-major traversal of y, no allocation).
void tft_op_interp(float *y, const float *x, int ldx, int R, int n, int m) {
    if (n <= 0 || m <= 0)
        return;
    const float scale = interp_scale(n, m);
#ifdef HAVE_AVX2_LN
    if (n <= 16 && m <= MAP_BLOCK && tft_op_isa() >= TFT_ISA_AVX2) {
        int   i0[MAP_BLOCK], i1[MAP_BLOCK];
        float l0[MAP_BLOCK], l1[MAP_BLOCK];
        for (int c = 0; c < m; c++)
            interp_index(n, scale, c, &i0[c], &i1[c], &l0[c], &l1[c]);
        interp_rows16(y, x, ldx, R, n, m, i0, i1, l0, l1, NULL);
        return;
    }
#endif
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
    float gate[MAP_BLOCK];
#ifdef HAVE_AVX2_LN
    if (n != m && n <= 16 && m <= MAP_BLOCK && tft_op_isa() >= TFT_ISA_AVX2) { // interp and gate in one pass
        const float scale = interp_scale(n, m);
        int         i0[MAP_BLOCK], i1[MAP_BLOCK];
        float       l0[MAP_BLOCK], l1[MAP_BLOCK];
        for (int c = 0; c < m; c++) {
            interp_index(n, scale, c, &i0[c], &i1[c], &l0[c], &l1[c]);
            gate[c] = 2.0f * (1.0f / (1.0f + expf(-mask[c])));
        }
        interp_rows16(y, x, ldx, R, n, m, i0, i1, l0, l1, gate);
        tft_op_add_layernorm(y, y, NULL, w, b, R, m, LN_EPS);
        return;
    }
#endif
    if (n == m) {
        for (int r = 0; r < R; r++)
            for (int c = 0; c < m; c++)
                y[(size_t)r * m + c] = x[(size_t)r * ldx + c];
    } else {
        tft_op_interp(y, x, ldx, R, n, m);
    }
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
