// elementwise.c: ELU, GLU, row softmax, the LSTM cell and output de-normalization (fast float
// loops and _ref twins), plus the branch-free exp/sigmoid/tanh they share.
//
// Vectorization: the Makefile builds with -O2, whose "very cheap" vectorizer cost model only
// vectorizes loops whose trip count is a known multiple of the vector width. The hot loops are
// therefore written as blocks of BLK = 8 elements (a fixed-count inner loop the compiler turns
// into SIMD code) plus a scalar tail, and the transcendental functions below are plain
// branch-free float code instead of libm calls (which never vectorize without -ffast-math).
#include "ops.h"
#include "lanes.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define BLK 8

// Hot ops are compiled twice from one body: portable (SSE2 on x86-64) and AVX2 (8-wide), the
// latter picked at run time. The code only multiplies, adds, divides and moves bits (no FMA:
// -std=c11 turns contraction off, no libm calls), so both give the same bits.
#if (defined(__x86_64__) || defined(__i386__)) && !defined(TFT_NO_AVX2)
#define AVX2_ATTR __attribute__((target("avx2")))
#define HAVE_AVX2_CLONE 1
#define USE_AVX2() __builtin_cpu_supports("avx2")
#else
#define USE_AVX2() 0
#endif
#define BODY __attribute__((always_inline)) static inline
#ifdef HAVE_AVX2_CLONE
#define CLONES(NAME, PARAMS, ARGS)                                                                           \
    static void NAME##_generic PARAMS {                                                                      \
        NAME##_body ARGS;                                                                                    \
    }                                                                                                        \
    AVX2_ATTR static void NAME##_avx2 PARAMS {                                                               \
        NAME##_body ARGS;                                                                                    \
    }
#define DISPATCH(NAME, ARGS)                                                                                 \
    do {                                                                                                     \
        if (USE_AVX2())                                                                                      \
            NAME##_avx2 ARGS;                                                                                \
        else                                                                                                 \
            NAME##_generic ARGS;                                                                             \
    } while (0)
#else
#define CLONES(NAME, PARAMS, ARGS)                                                                           \
    static void NAME##_generic PARAMS {                                                                      \
        NAME##_body ARGS;                                                                                    \
    }
#define DISPATCH(NAME, ARGS) NAME##_generic ARGS
#endif

// ---- branch-free float exp family ---------------------------------------------------------
// c ? a : b as a bit blend. A plain ?: between two computed floats becomes a branch (GCC sinks
// the arms' arithmetic into it and, with -ftrapping-math, will not speculate it back), which
// stops vectorization; the blend keeps both arms unconditional.
static inline float sel(int c, float a, float b) {
    uint32_t ua, ub;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    const uint32_t m = 0u - (uint32_t)(c != 0), r = (ua & m) | (ub & ~m);
    float          f;
    memcpy(&f, &r, sizeof f);
    return f;
}

// exp(x), Cephes expf: x = n·ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), e^r by a degree-6
// polynomial, times 2^n applied as two exact power-of-two factors (so n in [-150, 129] never leaves
// the normal exponent range). Max error about 1.5 ulp (PyTorch's vectorized Sleef expf: 1 ulp).
// x > 88.72 -> inf, x < -103.97 -> 0 (exactly: masked softmax entries get weight 0), NaN -> NaN.
static inline float vexpf(float x) {
    x             = sel(x < -104.0f, -104.0f, x); // NaN compares false and stays NaN
    x             = sel(x > 89.0f, 89.0f, x);
    const float t = x * 1.44269504088896341f + 12582912.0f; // 1.5·2^23: round(x·log2 e) lands in
    const float n = t - 12582912.0f;                        // the low mantissa bits of t
    uint32_t    tb;
    memcpy(&tb, &t, sizeof tb);
    const int32_t ni  = (int32_t)(tb - 0x4B400000u); // n as an integer (|n| <= 151)
    float         r   = x - n * 0.693359375f;
    r                 = r - n * -2.12194440e-4f;
    float p           = 1.9875691500e-4f;
    p                 = p * r + 1.3981999507e-3f;
    p                 = p * r + 8.3334519073e-3f;
    p                 = p * r + 4.1665795894e-2f;
    p                 = p * r + 1.6666665459e-1f;
    p                 = p * r + 5.0000001201e-1f;
    p                 = p * (r * r) + r + 1.0f;
    const int32_t  n1 = ni / 2, n2 = ni - n1;
    const uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;
    float          s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    return p * s1 * s2;
}

// exp(x) - 1 for x <= 0 (the only domain its callers use): a degree-8 Taylor polynomial on
// (-0.35, 0], where exp(x) - 1 would cancel, else vexpf(x) - 1 (result in [-1, -0.295]).
static inline float vexpm1f_neg(float x) {
    float p           = 1.0f / 40320.0f;
    p                 = p * x + 1.0f / 5040.0f;
    p                 = p * x + 1.0f / 720.0f;
    p                 = p * x + 1.0f / 120.0f;
    p                 = p * x + 1.0f / 24.0f;
    p                 = p * x + 1.0f / 6.0f;
    p                 = p * x + 0.5f;
    p                 = p * x + 1.0f;
    const float small = p * x;
    const float big   = vexpf(x) - 1.0f;
    return sel(x > -0.35f, small, big);
}

// σ(x) = 1 / (1 + exp(-x)), the form PyTorch's CPU kernel uses.
static inline float vsigmoidf(float x) {
    return 1.0f / (1.0f + vexpf(-x));
}

// tanh(x) = sign(x) · (-t / (t + 2)) with t = expm1(-2|x|) in (-1, 0]: no cancellation near 0,
// no overflow for large |x|.
static inline float vtanhf(float x) {
    const float t = vexpm1f_neg(-2.0f * fabsf(x));
    return copysignf(-t / (t + 2.0f), x);
}

static inline double sigmoid_d(double x) {
    return 1.0 / (1.0 + exp(-x));
}

// ---- ELU (alpha 1): x > 0 ? x : expm1(x) --------------------------------------------------
static inline float elu1(float v) {
    return sel(v > 0.0f, v, vexpm1f_neg(v));
}

BODY void elu_body(float *x, size_t n) {
    size_t i = 0;
    for (; i + BLK <= n; i += BLK)
        for (int k = 0; k < BLK; k++)
            x[i + k] = elu1(x[i + k]);
    for (; i < n; i++)
        x[i] = elu1(x[i]);
}

CLONES(elu, (float *x, size_t n), (x, n))
void tft_op_elu(float *x, size_t n) {
    DISPATCH(elu, (x, n));
}

void tft_op_elu_ref(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] > 0.0f ? x[i] : (float)expm1((double)x[i]);
}

// ---- GLU: y[r,c] = z[r,c] * σ(z[r,C+c]) ----------------------------------------------------
// Implementation guarantee used by tft_op_gate_add_norm (beyond the ops.h contract): y may be
// exactly z (in-place compaction [R, 2C] -> [R, C]). Rows and blocks go in ascending order and
// each block is read completely before it is written, so no unread input is overwritten.
BODY void glu_body(float *y, const float *z, int R, int C) {
    for (int r = 0; r < R; r++) {
        const float *a  = z + (size_t)r * 2 * C; // [C] value half
        const float *g  = a + C;                 // [C] gate half
        float       *yr = y + (size_t)r * C;
        int          c  = 0;
        for (; c + BLK <= C; c += BLK) {
            float t[BLK];
            for (int k = 0; k < BLK; k++)
                t[k] = a[c + k] * vsigmoidf(g[c + k]);
            for (int k = 0; k < BLK; k++)
                yr[c + k] = t[k];
        }
        for (; c < C; c++) {
            const float t = a[c] * vsigmoidf(g[c]);
            yr[c]         = t;
        }
    }
}

CLONES(glu, (float *y, const float *z, int R, int C), (y, z, R, C))
void tft_op_glu(float *y, const float *z, int R, int C) {
    DISPATCH(glu, (y, z, R, C));
}

void tft_op_glu_ref(float *y, const float *z, int R, int C) {
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            const float *zr      = z + (size_t)r * 2 * C;
            y[(size_t)r * C + c] = (float)((double)zr[c] * sigmoid_d((double)zr[C + c]));
        }
}

// Max of x[0, n) and m, in BLK lanes (exact in any order).
static inline float seg_max(const float *x, int n, float m) {
    float mx[BLK];
    for (int k = 0; k < BLK; k++)
        mx[k] = m;
    int c = 0;
    for (; c + BLK <= n; c += BLK)
        for (int k = 0; k < BLK; k++)
            mx[k] = x[c + k] > mx[k] ? x[c + k] : mx[k];
    for (int k = 0; c < n; c++, k++)
        mx[k] = x[c] > mx[k] ? x[c] : mx[k];
    for (int k = 0; k < BLK; k++)
        m = mx[k] > m ? mx[k] : m;
    return m;
}

// ---- softmax over the last dim ------------------------------------------------------------
// m = max, e = exp(x - m), s = Σe, x = e * (1/s) (PyTorch's vectorized last-dim form). The max
// (exact in any order) and the exps run in BLK-wide blocks; the sum is serial, left to right, so
// that exact zeros (masked keys) inserted anywhere in a row leave its weights bit-identical: an
// attention row gives the same weights whether its series is padded inside a batch or alone.
BODY void softmax_body(float *x, int R, int C) {
    for (int r = 0; r < R; r++) {
        float *restrict xr = x + (size_t)r * C;
        const float m      = seg_max(xr, C, -INFINITY);
        int         c;
        for (c = 0; c + BLK <= C; c += BLK)
            for (int k = 0; k < BLK; k++)
                xr[c + k] = vexpf(xr[c + k] - m);
        for (; c < C; c++)
            xr[c] = vexpf(xr[c] - m);
        float sum = 0.0f;
        for (c = 0; c < C; c++)
            sum += xr[c];
        const float inv = 1.0f / sum;
        for (c = 0; c + BLK <= C; c += BLK)
            for (int k = 0; k < BLK; k++)
                xr[c + k] *= inv;
        for (; c < C; c++)
            xr[c] *= inv;
    }
}

CLONES(softmax, (float *x, int R, int C), (x, R, C))
void tft_op_softmax(float *x, int R, int C) {
    DISPATCH(softmax, (x, R, C));
}

// ---- masked softmax of one attention row ----------------------------------------------------
// The keys [0, ne) and [d0, d0 + nv) are visible; the others are masked. When exp(mask_bias - max)
// underflows to 0 (always for the default -1e9) the masked keys get exactly the weight 0 that the
// masked_fill + softmax of the library gives them, and only the visible keys are computed. The sum
// runs in BLK lanes over each visible segment from its own start, the lanes then in a fixed tree,
// encoder segment + decoder segment: its order depends only on the series' own visible keys, so
// padding around them (another batch) cannot change a bit, and it is not a serial chain.
// Otherwise (a mask_bias too close to the scores) the masked keys are filled with mask_bias and the
// plain row softmax runs, exactly as the library does.


BODY void masked_softmax_body(float *x, int C, int ne, int d0, int nv, float mask_bias) {
    float m = seg_max(x + d0, nv, seg_max(x, ne, -INFINITY));
    if (ne + nv == 0 || !(mask_bias - m < -104.0f)) { // exp(mask_bias - m) would not be exactly 0
        for (int c = ne; c < d0; c++)
            x[c] = mask_bias;
        for (int c = d0 + nv; c < C; c++)
            x[c] = mask_bias;
        softmax_body(x, 1, C);
        return;
    }
    float *segs[2] = {x, x + d0};
    int    lens[2] = {ne, nv};
    for (int g = 0; g < 2; g++) {
        float *restrict xs = segs[g];
        for (int c = 0; c < lens[g]; c++)
            xs[c] = vexpf(xs[c] - m);
    }
    const float inv = 1.0f / (tft_lane_sum(x, ne) + tft_lane_sum(x + d0, nv));
    for (int g = 0; g < 2; g++) {
        float *restrict xs = segs[g];
        for (int c = 0; c < lens[g]; c++)
            xs[c] *= inv;
    }
    for (int c = ne; c < d0; c++)
        x[c] = 0.0f;
    for (int c = d0 + nv; c < C; c++)
        x[c] = 0.0f;
}

CLONES(masked_softmax, (float *x, int C, int ne, int d0, int nv, float mask_bias), (x, C, ne, d0, nv, mask_bias))
void tft_op_masked_softmax(float *x, int C, int ne, int d0, int nv, float mask_bias) {
    DISPATCH(masked_softmax, (x, C, ne, d0, nv, mask_bias));
}

// Reference: masked_fill with mask_bias, then a double-precision softmax of the whole row.
void tft_op_masked_softmax_ref(float *x, int C, int ne, int d0, int nv, float mask_bias) {
    for (int c = ne; c < d0; c++)
        x[c] = mask_bias;
    for (int c = d0 + nv; c < C; c++)
        x[c] = mask_bias;
    tft_op_softmax_ref(x, 1, C);
}

void tft_op_softmax_ref(float *x, int R, int C) {
    for (int r = 0; r < R; r++) {
        float *xr = x + (size_t)r * C;
        double mx = -INFINITY, s = 0.0;
        for (int c = 0; c < C; c++)
            mx = xr[c] > mx ? xr[c] : mx;
        for (int c = 0; c < C; c++)
            s += exp((double)xr[c] - mx);
        for (int c = 0; c < C; c++)
            xr[c] = (float)(exp((double)xr[c] - mx) / s);
    }
}

// ---- LSTM cell ----------------------------------------------------------------------------
// gates: [n, 4H] pre-activations (i, f, g, o)   h, c: [n, H] updated in place
// c = f·c + i·c~ (f·c first, as torch's (forgetgate * cx).add_(ingate * cellgate)); h = o·tanh(c)
static inline void lstm_elem(const float *g, const float *c, int H, int k, float *cn, float *hn) {
    const float ig = vsigmoidf(g[k]);
    const float fg = vsigmoidf(g[H + k]);
    const float cg = vtanhf(g[2 * H + k]);
    const float og = vsigmoidf(g[3 * H + k]);
    const float fc = fg * c[k];
    const float ic = ig * cg;
    *cn            = fc + ic;
    *hn            = og * vtanhf(*cn);
}

// Each block computes into locals first and stores after, so the compiler needs no alias checks.
BODY void lstm_cell_body(float *h, float *c, const float *gates, int n, int H) {
    for (int r = 0; r < n; r++) {
        const float *g  = gates + (size_t)r * 4 * H;
        float       *hr = h + (size_t)r * H;
        float       *cr = c + (size_t)r * H;
        int          k  = 0;
        for (; k + BLK <= H; k += BLK) {
            float cn[BLK], hn[BLK];
            for (int j = 0; j < BLK; j++)
                lstm_elem(g, cr, H, k + j, &cn[j], &hn[j]);
            for (int j = 0; j < BLK; j++)
                cr[k + j] = cn[j], hr[k + j] = hn[j];
        }
        for (; k < H; k++) {
            float cn, hn;
            lstm_elem(g, cr, H, k, &cn, &hn);
            cr[k] = cn, hr[k] = hn;
        }
    }
}

CLONES(lstm_cell, (float *h, float *c, const float *gates, int n, int H), (h, c, gates, n, H))
void tft_op_lstm_cell(float *h, float *c, const float *gates, int n, int H) {
    DISPATCH(lstm_cell, (h, c, gates, n, H));
}

void tft_op_lstm_cell_ref(float *h, float *c, const float *gates, int n, int H) {
    for (int r = 0; r < n; r++)
        for (int k = 0; k < H; k++) {
            const float *g  = gates + (size_t)r * 4 * H;
            double       ig = sigmoid_d(g[k]), fg = sigmoid_d(g[H + k]);
            double       cg = tanh((double)g[2 * H + k]), og = sigmoid_d(g[3 * H + k]);
            double       cn      = fg * (double)c[(size_t)r * H + k] + ig * cg;
            c[(size_t)r * H + k] = (float)cn;
            h[(size_t)r * H + k] = (float)(og * tanh(cn));
        }
}

// ---- de-normalization (§7.1) ------------------------------------------------------------
// y = reverse(x * scale + center). The affine part is two float32 roundings; -std=c11 keeps
// GCC from contracting it into an FMA (-ffp-contract=off), the explicit temporary documents it.
// Runs once per output value (B·Td·Q), so it keeps libm's expf/log1pf.
static inline float softplusf(float v) {
    return v > 20.0f ? v : log1pf(expf(v));
}

void tft_op_denormalize(float *y, const float *x, size_t n, float center, float scale, tft_transform tf) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * scale;
        v       = v + center;
        switch (tf) {
        case TFT_TF_LOG:
        case TFT_TF_LOG1P:
            v = expf(v);
            break; // log1p reverses with exp, not expm1 (library quirk)
        case TFT_TF_LOGIT: {
            v = 1.0f / (1.0f + expf(-v));
            v = v < FLT_MIN ? FLT_MIN : v;
            v = v > 1.0f - FLT_EPSILON ? 1.0f - FLT_EPSILON : v;
            break;
        }
        case TFT_TF_COUNT:
        case TFT_TF_SOFTPLUS:
            v = softplusf(v);
            break;
        case TFT_TF_RELU:
            v = v < 0.0f ? 0.0f : v;
            break; // NaN passes through, as torch.relu
        case TFT_TF_SQRT:
            v = v * v;
            break;
        case TFT_TF_NONE:
        default:
            break;
        }
        y[i] = v;
    }
}

void tft_op_denormalize_ref(float *y, const float *x, size_t n, float center, float scale, tft_transform tf) {
    for (size_t i = 0; i < n; i++) {
        float  mul = (float)((double)x[i] * (double)scale);
        double v   = (double)(float)((double)mul + (double)center);
        switch (tf) {
        case TFT_TF_LOG:
        case TFT_TF_LOG1P:
            v = exp(v);
            break;
        case TFT_TF_LOGIT:
            v = sigmoid_d(v);
            if (v < (double)FLT_MIN)
                v = (double)FLT_MIN;
            if (v > (double)(1.0f - FLT_EPSILON))
                v = (double)(1.0f - FLT_EPSILON);
            break;
        case TFT_TF_COUNT:
        case TFT_TF_SOFTPLUS:
            v = v > 20.0 ? v : log1p(exp(v));
            break;
        case TFT_TF_RELU:
            v = v < 0.0 ? 0.0 : v;
            break;
        case TFT_TF_SQRT:
            v = v * v;
            break;
        case TFT_TF_NONE:
        default:
            break;
        }
        y[i] = (float)v;
    }
}
