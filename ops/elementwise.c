// elementwise.c: ELU, GLU, row softmax, the LSTM cell and output de-normalization (fast float
// loops and _ref twins), plus the branch-free exp/sigmoid/tanh they share.
//
// Vectorization: the transcendental functions are plain branch-free float code (ops/vmath.h)
// instead of libm calls (which never vectorize without -ffast-math). The hot loops run on explicit
// 8-lane vectors (vmath.h's vexpf8 family, the same operations lane by lane as the scalar
// functions), two vectors interleaved statement by statement where a single exp chain would leave
// the core waiting on latency, plus a scalar tail: any element gives the same bits in any path.
#include "ops.h"
#include "lanes.h"
#include "vmath.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define BLK 8

// Hot ops are compiled three times from one body: portable (SSE2 on x86-64), AVX2 (8-wide) and
// AVX-512 (the same 8-lane code with 32 registers and EVEX encodings), one picked at run time
// (ops/isa.h). The code only multiplies, adds, divides and moves bits (no FMA: -std=c11 turns
// contraction off, no libm calls), so all give the same bits.
#include "isa.h"
#ifdef TFT_HAVE_X86_CLONES
#define AVX2_ATTR __attribute__((target("avx2")))
#define AVX512_ATTR __attribute__((target(TFT_AVX512_NOFMA)))
#define HAVE_AVX2_CLONE 1
#endif
// Each body takes a last argument `wide`, a constant per clone: 1 in the AVX-512 clone, where the
// two interleaved 8-lane vectors of the exp family become one 16-lane vector (vmath.h's *8x2w).
#define BODY __attribute__((always_inline)) static inline
#define UNPAREN(...) __VA_ARGS__
#ifdef HAVE_AVX2_CLONE
#define CLONES(NAME, PARAMS, ARGS)                                                                           \
    static void NAME##_generic PARAMS {                                                                      \
        NAME##_body(UNPAREN ARGS, 0);                                                                        \
    }                                                                                                        \
    AVX2_ATTR static void NAME##_avx2 PARAMS {                                                               \
        NAME##_body(UNPAREN ARGS, 0);                                                                        \
    }                                                                                                        \
    AVX512_ATTR static void NAME##_avx512 PARAMS {                                                           \
        NAME##_body(UNPAREN ARGS, 1);                                                                        \
    }
#define DISPATCH(NAME, ARGS)                                                                                 \
    do {                                                                                                     \
        const tft_isa isa_ = tft_op_isa();                                                                   \
        if (isa_ == TFT_ISA_AVX512)                                                                          \
            NAME##_avx512 ARGS;                                                                              \
        else if (isa_ == TFT_ISA_AVX2)                                                                       \
            NAME##_avx2 ARGS;                                                                                \
        else                                                                                                 \
            NAME##_generic ARGS;                                                                             \
    } while (0)
#else
#define CLONES(NAME, PARAMS, ARGS)                                                                           \
    static void NAME##_generic PARAMS {                                                                      \
        NAME##_body(UNPAREN ARGS, 0);                                                                        \
    }
#define DISPATCH(NAME, ARGS) NAME##_generic ARGS
#endif

static inline double sigmoid_d(double x) {
    return 1.0 / (1.0 + exp(-x));
}

// ---- ELU (alpha 1): x > 0 ? x : expm1(x), elu1() in vmath.h ----------------------------------
BODY void elu_body(float *x, size_t n, const int wide) {
    size_t i = 0;
    for (; i + 2 * BLK <= n; i += 2 * BLK) {
        const tft_vf8x2 e = elu8x2w(vload8x2(x + i, x + i + BLK), wide);
        vstore8(x + i, e.v[0]), vstore8(x + i + BLK, e.v[1]);
    }
    for (; i + BLK <= n; i += BLK)
        vstore8(x + i, elu8(vload8(x + i)));
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
BODY void glu_body(float *y, const float *z, int R, int C, const int wide) {
    for (int r = 0; r < R; r++) {
        const float *a  = z + (size_t)r * 2 * C; // [C] value half
        const float *g  = a + C;                 // [C] gate half
        float       *yr = y + (size_t)r * C;
        int          c  = 0;
        for (; c + 2 * BLK <= C; c += 2 * BLK) { // both blocks are read before either is written
            const tft_vf8x2 sg = vsigmoidf8x2w(vload8x2(g + c, g + c + BLK), wide);
            const tft_vf8   t0 = vload8(a + c) * sg.v[0], t1 = vload8(a + c + BLK) * sg.v[1];
            vstore8(yr + c, t0), vstore8(yr + c + BLK, t1);
        }
        for (; c + BLK <= C; c += BLK)
            vstore8(yr + c, vload8(a + c) * vsigmoidf8(vload8(g + c)));
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

// Max of x[0, n) and m, in BLK lanes (exact in any order). Lane k keeps the max of the positions
// c = k mod BLK, as an explicit vector (the compare-and-blend is one vmaxps); written as a loop over
// a float[BLK] it became 4-wide SSE compares even in the AVX builds.
BODY float seg_max(const float *x, int n, float m) {
    tft_vf8 mv = vsplat8(m);
    int     c  = 0;
    for (; c + BLK <= n; c += BLK) {
        const tft_vf8 v = vload8(x + c);
        mv              = vsel8(v > mv, v, mv);
    }
    float mx[BLK];
    vstore8(mx, mv);
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
BODY void softmax_body(float *x, int R, int C, const int wide) {
    (void)wide; // one 8-lane vector per step: nothing to widen
    for (int r = 0; r < R; r++) {
        float *restrict xr = x + (size_t)r * C;
        const float m      = seg_max(xr, C, -INFINITY);
        int         c;
        for (c = 0; c + BLK <= C; c += BLK)
            vstore8(xr + c, vexpf8(vload8(xr + c) - vsplat8(m)));
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


// exp(x[c] - m) in place over one segment, returning its tft_lane_sum (lane k sums positions
// c = k mod BLK from the segment's start, then tft_lane_sum's tree): the same bits as an exp pass
// followed by tft_lane_sum, in one pass.
BODY float exp_seg_sum(float *x, int n, float m, const int wide) {
    const tft_vf8 mv  = vsplat8(m);
    tft_vf8       acc = vsplat8(0.0f);
    int           c   = 0;
    for (; c + 2 * BLK <= n; c += 2 * BLK) { // two blocks interleaved, added to the lanes in order
        tft_vf8x2 d = vload8x2(x + c, x + c + BLK);
        d.v[0] = d.v[0] - mv, d.v[1] = d.v[1] - mv;
        const tft_vf8x2 e = vexpf8x2w(d, wide);
        vstore8(x + c, e.v[0]), vstore8(x + c + BLK, e.v[1]);
        acc = acc + e.v[0];
        acc = acc + e.v[1];
    }
    for (; c + BLK <= n; c += BLK) {
        const tft_vf8 e = vexpf8(vload8(x + c) - mv);
        vstore8(x + c, e);
        acc = acc + e;
    }
    float a[BLK];
    vstore8(a, acc);
    for (int k = 0; c < n; c++, k++) {
        x[c] = vexpf(x[c] - m);
        a[k] += x[c];
    }
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

BODY void scale_seg(float *x, int n, float inv) {
    int c = 0;
    for (; c + BLK <= n; c += BLK)
        vstore8(x + c, vload8(x + c) * inv);
    for (; c < n; c++)
        x[c] *= inv;
}

BODY int masked_softmax_body(float *x, int C, int ne, int d0, int nv, float mask_bias, const int wide) {
    float m = seg_max(x + d0, nv, seg_max(x, ne, -INFINITY));
    if (ne + nv == 0 || !(mask_bias - m < -104.0f)) { // exp(mask_bias - m) would not be exactly 0
        for (int c = ne; c < d0; c++)
            x[c] = mask_bias;
        for (int c = d0 + nv; c < C; c++)
            x[c] = mask_bias;
        softmax_body(x, 1, C, wide);
        return 0;
    }
    const float se  = exp_seg_sum(x, ne, m, wide);
    const float sd  = exp_seg_sum(x + d0, nv, m, wide);
    const float inv = 1.0f / (se + sd);
    scale_seg(x, ne, inv);
    scale_seg(x + d0, nv, inv);
    for (int c = ne; c < d0; c++)
        x[c] = 0.0f;
    for (int c = d0 + nv; c < C; c++)
        x[c] = 0.0f;
    return 1;
}

#ifdef HAVE_AVX2_CLONE
static int masked_softmax_generic(float *x, int C, int ne, int d0, int nv, float mask_bias) {
    return masked_softmax_body(x, C, ne, d0, nv, mask_bias, 0);
}
AVX2_ATTR static int masked_softmax_avx2(float *x, int C, int ne, int d0, int nv, float mask_bias) {
    return masked_softmax_body(x, C, ne, d0, nv, mask_bias, 0);
}
AVX512_ATTR static int masked_softmax_avx512(float *x, int C, int ne, int d0, int nv, float mask_bias) {
    return masked_softmax_body(x, C, ne, d0, nv, mask_bias, 1);
}
int tft_op_masked_softmax(float *x, int C, int ne, int d0, int nv, float mask_bias) {
    const tft_isa isa = tft_op_isa();
    return isa == TFT_ISA_AVX512 ? masked_softmax_avx512(x, C, ne, d0, nv, mask_bias)
           : isa == TFT_ISA_AVX2 ? masked_softmax_avx2(x, C, ne, d0, nv, mask_bias)
                                 : masked_softmax_generic(x, C, ne, d0, nv, mask_bias);
}
#else
int tft_op_masked_softmax(float *x, int C, int ne, int d0, int nv, float mask_bias) {
    return masked_softmax_body(x, C, ne, d0, nv, mask_bias, 0);
}
#endif

// Reference: masked_fill with mask_bias, then a double-precision softmax of the whole row.
int tft_op_masked_softmax_ref(float *x, int C, int ne, int d0, int nv, float mask_bias) {
    for (int c = ne; c < d0; c++)
        x[c] = mask_bias;
    for (int c = d0 + nv; c < C; c++)
        x[c] = mask_bias;
    tft_op_softmax_ref(x, 1, C);
    int zero = 1; // whether every masked key got exactly 0
    for (int c = ne; c < d0; c++)
        zero &= x[c] == 0.0f;
    for (int c = d0 + nv; c < C; c++)
        zero &= x[c] == 0.0f;
    return zero;
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
BODY void lstm_cell_body(float *h, float *c, const float *gates, int n, int H, const int wide) {
    (void)wide; // one 8-lane vector per step: nothing to widen
    for (int r = 0; r < n; r++) {
        const float *g  = gates + (size_t)r * 4 * H;
        float       *hr = h + (size_t)r * H;
        float       *cr = c + (size_t)r * H;
        int          k  = 0;
        for (; k + BLK <= H; k += BLK) { // lstm_elem on 8 lanes
            const tft_vf8 ig = vsigmoidf8(vload8(g + k));
            const tft_vf8 fg = vsigmoidf8(vload8(g + H + k));
            const tft_vf8 cg = vtanhf8(vload8(g + 2 * H + k));
            const tft_vf8 og = vsigmoidf8(vload8(g + 3 * H + k));
            const tft_vf8 fc = fg * vload8(cr + k);
            const tft_vf8 ic = ig * cg;
            const tft_vf8 cn = fc + ic;
            vstore8(cr + k, cn), vstore8(hr + k, og * vtanhf8(cn));
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

// ---- LSTM cell with the gate sum fused: gates = xg + hg (the input and recurrent projections,
// each with its own bias, summed as torch's cell does), then the cell above on the sums. The sum is
// the same float add as a separate pass, so the result is bitwise that of add + tft_op_lstm_cell.
static inline void lstm_elem_add(const float *xg, const float *hg, const float *c, int H, int k, float *cn,
                                 float *hn) {
    const float ig = vsigmoidf(xg[k] + hg[k]);
    const float fg = vsigmoidf(xg[H + k] + hg[H + k]);
    const float cg = vtanhf(xg[2 * H + k] + hg[2 * H + k]);
    const float og = vsigmoidf(xg[3 * H + k] + hg[3 * H + k]);
    const float fc = fg * c[k];
    const float ic = ig * cg;
    *cn            = fc + ic;
    *hn            = og * vtanhf(*cn);
}

BODY void lstm_cell_add_body(float *h, float *c, const float *xg, const float *hg, int n, int H,
                              const int wide) {
    for (int r = 0; r < n; r++) {
        const float *x  = xg + (size_t)r * 4 * H;
        const float *g  = hg + (size_t)r * 4 * H;
        float       *hr = h + (size_t)r * H;
        float       *cr = c + (size_t)r * H;
        int          k  = 0;
        for (; k + 2 * BLK <= H; k += 2 * BLK) { // lstm_elem_add on two interleaved 8-lane vectors
            const int j = k + BLK;
            tft_vf8x2 ig = vload8x2(x + k, x + j), fg = vload8x2(x + H + k, x + H + j);
            tft_vf8x2 cg = vload8x2(x + 2 * H + k, x + 2 * H + j), og = vload8x2(x + 3 * H + k, x + 3 * H + j);
            const tft_vf8x2 hi = vload8x2(g + k, g + j), hf = vload8x2(g + H + k, g + H + j);
            const tft_vf8x2 hc = vload8x2(g + 2 * H + k, g + 2 * H + j), ho = vload8x2(g + 3 * H + k, g + 3 * H + j);
            FOR2(i) ig.v[i] = ig.v[i] + hi.v[i], fg.v[i] = fg.v[i] + hf.v[i];
            FOR2(i) cg.v[i] = cg.v[i] + hc.v[i], og.v[i] = og.v[i] + ho.v[i];
            ig = vsigmoidf8x2w(ig, wide), fg = vsigmoidf8x2w(fg, wide);
            cg = vtanhf8x2w(cg, wide), og = vsigmoidf8x2w(og, wide);
            tft_vf8x2 cn = vload8x2(cr + k, cr + j);
            FOR2(i) cn.v[i] = fg.v[i] * cn.v[i] + ig.v[i] * cg.v[i]; // (f·c) + (i·c~), as lstm_elem_add
            const tft_vf8x2 tc = vtanhf8x2w(cn, wide);
            vstore8(cr + k, cn.v[0]), vstore8(cr + j, cn.v[1]);
            vstore8(hr + k, og.v[0] * tc.v[0]), vstore8(hr + j, og.v[1] * tc.v[1]);
        }
        for (; k + BLK <= H; k += BLK) { // lstm_elem_add on 8 lanes
            const tft_vf8 ig = vsigmoidf8(vload8(x + k) + vload8(g + k));
            const tft_vf8 fg = vsigmoidf8(vload8(x + H + k) + vload8(g + H + k));
            const tft_vf8 cg = vtanhf8(vload8(x + 2 * H + k) + vload8(g + 2 * H + k));
            const tft_vf8 og = vsigmoidf8(vload8(x + 3 * H + k) + vload8(g + 3 * H + k));
            const tft_vf8 fc = fg * vload8(cr + k);
            const tft_vf8 ic = ig * cg;
            const tft_vf8 cn = fc + ic;
            vstore8(cr + k, cn), vstore8(hr + k, og * vtanhf8(cn));
        }
        for (; k < H; k++) {
            float cn, hn;
            lstm_elem_add(x, g, cr, H, k, &cn, &hn);
            cr[k] = cn, hr[k] = hn;
        }
    }
}

CLONES(lstm_cell_add, (float *h, float *c, const float *xg, const float *hg, int n, int H), (h, c, xg, hg, n, H))
void tft_op_lstm_cell_add(float *h, float *c, const float *xg, const float *hg, int n, int H) {
    DISPATCH(lstm_cell_add, (h, c, xg, hg, n, H));
}

// Reference: the float sum (as the library's cell), then the cell in double.
void tft_op_lstm_cell_add_ref(float *h, float *c, const float *xg, const float *hg, int n, int H) {
    for (int r = 0; r < n; r++)
        for (int k = 0; k < H; k++) {
            const float *x = xg + (size_t)r * 4 * H, *g = hg + (size_t)r * 4 * H;
            double       ig = sigmoid_d(x[k] + g[k]), fg = sigmoid_d(x[H + k] + g[H + k]);
            double       cg = tanh((double)(x[2 * H + k] + g[2 * H + k])), og = sigmoid_d(x[3 * H + k] + g[3 * H + k]);
            double       cn      = fg * (double)c[(size_t)r * H + k] + ig * cg;
            c[(size_t)r * H + k] = (float)cn;
            h[(size_t)r * H + k] = (float)(og * tanh(cn));
        }
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
