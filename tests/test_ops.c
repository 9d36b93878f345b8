// test_ops.c: ops/ linear, elementwise, normalization, interpolation and de-normalization:
// the fast ops against their _ref twins on awkward and realistic shapes (fixed seeds), plus
// exact-semantics checks against hand-computed values and torch-generated interpolation tables.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
// cmocka needs the four headers above first
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/ops.h"
#include "testutil.h"

#define LN_EPS 1e-5f
#define ATOL_EW 1e-6
#define RTOL_EW 1e-6
#define ATOL_NORM 1e-5
#define RTOL_NORM 1e-4

// ---- linear -------------------------------------------------------------------------------

// One random linear case, fast vs _ref: strided x and y (ld > width), optional bias, optional
// accumulate into a random y.
static void linear_case(uint64_t seed, int R, int Cin, int Cout, int padx, int pady, int with_bias, int acc) {
    tu_rng    rng = tu_rng_new(seed);
    const int ldx = Cin + padx, ldy = Cout + pady;
    float    *x = tu_alloc((size_t)R * ldx), *W = tu_alloc((size_t)Cout * Cin), *b = tu_alloc((size_t)Cout);
    float    *y = tu_alloc((size_t)R * ldy), *yr = tu_alloc((size_t)R * ldy);
    tu_fill(&rng, x, (size_t)R * ldx, -1.0f, 1.0f);
    tu_fill(&rng, W, (size_t)Cout * Cin, -0.5f, 0.5f);
    tu_fill(&rng, b, (size_t)Cout, -1.0f, 1.0f);
    tu_fill(&rng, y, (size_t)R * ldy, -2.0f, 2.0f);
    memcpy(yr, y, (size_t)R * ldy * sizeof(float));
    tft_op_linear(y, ldy, x, ldx, W, with_bias ? b : NULL, R, Cin, Cout, acc);
    tft_op_linear_ref(yr, ldy, x, ldx, W, with_bias ? b : NULL, R, Cin, Cout, acc);
    char name[96];
    snprintf(name, sizeof name, "linear R=%d Cin=%d Cout=%d ldx=%d ldy=%d bias=%d acc=%d", R, Cin, Cout, ldx,
             ldy, with_bias, acc);
    // the whole buffer, padding included: padding columns must be untouched (equal in both)
    TU_ASSERT_CLOSE(name, y, yr, (size_t)R * ldy, 1e-5, tu_gemm_rtol(Cin));
    free(x), free(W), free(b), free(y), free(yr);
}

static void test_linear_random(void **state) {
    (void)state;
    static const int shapes[][3] = {{1, 1, 1},  {1, 7, 13},   {2, 13, 7},   {3, 31, 31},  {7, 1, 9},
                                    {13, 8, 1}, {31, 33, 65}, {64, 16, 32}, {5, 1023, 9}, {97, 160, 64}};
    uint64_t         seed        = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int variant = 0; variant < 4; variant++) {
            const int *sh = shapes[s];
            linear_case(seed++, sh[0], sh[1], sh[2], variant & 1 ? 3 : 0, variant & 2 ? 5 : 0, variant != 2,
                        variant == 3);
        }
}

// Realistic TFT sizes: R = 64 series * 384 steps, H = 32 and 128 (fc1/fc2), 2H (GLU).
static void test_linear_tft_shapes(void **state) {
    (void)state;
    linear_case(101, 64 * 384, 32, 32, 0, 0, 1, 0);
    linear_case(102, 64 * 384, 32, 64, 0, 0, 1, 0);
    linear_case(103, 64 * 384, 128, 128, 0, 0, 1, 0);
    linear_case(104, 64 * 384, 128, 256, 0, 0, 0, 1);
    linear_case(105, 64, 128, 4 * 128, 0, 0, 1, 1); // LSTM gates for a batch of 64
}

// Hand-computed: 2 rows, Cin 2, Cout 2, strided x (ld 3) and y (ld 3), with and without accumulate.
static void test_linear_exact(void **state) {
    (void)state;
    const float x[6] = {1, 2, 99, 3, 4, 99}; // [2, 2] with ld 3 (99 = padding, never read)
    const float W[4] = {1, 10, 100, 1000};   // [2, 2]
    const float b[2] = {0.5f, -0.5f};
    float       y[6] = {-1, -1, 7, -1, -1, 7};
    tft_op_linear(y, 3, x, 3, W, b, 2, 2, 2, 0);
    const float want[6] = {21.5f, 2099.5f, 7, 43.5f, 4299.5f, 7};
    for (int i = 0; i < 6; i++)
        assert_true(y[i] == want[i]);
    tft_op_linear(y, 3, x, 3, W, NULL, 2, 2, 2, 1); // y += x·Wᵀ
    const float want2[6] = {42.5f, 4199.5f, 7, 86.5f, 8599.5f, 7};
    for (int i = 0; i < 6; i++)
        assert_true(y[i] == want2[i]);
    tft_op_linear(y, 3, x, 3, W, b, 2, 2, 2, 1); // y += x·Wᵀ + b
    const float want3[6] = {64.0f, 6299.0f, 7, 130.0f, 12899.0f, 7};
    for (int i = 0; i < 6; i++)
        assert_true(y[i] == want3[i]);
    // one row goes through GEMV: same answer
    float y1[2] = {NAN, NAN}; // beta is never 0·NaN: the output is overwritten
    tft_op_linear(y1, 2, x + 3, 3, W, NULL, 1, 2, 2, 0);
    assert_true(y1[0] == 43.0f && y1[1] == 4300.0f);
}

// Degenerate sizes: R == 0 touches nothing; Cin == 0 gives b (or 0, or y + b).
static void test_linear_degenerate(void **state) {
    (void)state;
    float       y[4] = {5, 6, 7, 8};
    const float b[2] = {1, 2}, W[1] = {0}, x[1] = {0};
    tft_op_linear(y, 2, x, 1, W, b, 0, 3, 2, 0);
    assert_true(y[0] == 5 && y[3] == 8);
    tft_op_linear(y, 2, x, 1, W, b, 2, 0, 2, 1);
    assert_true(y[0] == 6 && y[1] == 8 && y[2] == 8 && y[3] == 10);
    tft_op_linear(y, 2, x, 1, W, b, 2, 0, 2, 0);
    assert_true(y[0] == 1 && y[1] == 2 && y[2] == 1 && y[3] == 2);
    tft_op_linear(y, 2, x, 1, W, NULL, 2, 0, 2, 0);
    assert_true(y[0] == 0 && y[1] == 0 && y[2] == 0 && y[3] == 0);
    float yr[4] = {1, 2, 3, 4};
    tft_op_linear_ref(yr, 2, x, 1, W, b, 2, 0, 2, 1);
    assert_true(yr[0] == 2 && yr[1] == 4 && yr[2] == 4 && yr[3] == 6);
}

// Batch invariance: every output row of tft_op_linear is bit-identical whatever R and wherever
// the row sits (alone, first, last, in a tile edge), with and without accumulate and striding.
static void test_linear_row_invariance(void **state) {
    (void)state;
    static const int shapes[][2] = {{7, 13}, {32, 32}, {128, 512}, {300, 17}, {1, 40}}; // Cin, Cout
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int Cin = shapes[s][0], Cout = shapes[s][1], R = 37, ldx = Cin + 1, ldy = Cout + 2;
        tu_rng    rng = tu_rng_new(70 + s);
        float    *x = tu_alloc((size_t)R * ldx), *W = tu_alloc((size_t)Cout * Cin), *b = tu_alloc(Cout);
        float    *y0 = tu_alloc((size_t)R * ldy), *yall = tu_alloc((size_t)R * ldy),
              *y1 = tu_alloc((size_t)R * ldy);
        tu_fill(&rng, x, (size_t)R * ldx, -1.0f, 1.0f);
        tu_fill(&rng, W, (size_t)Cout * Cin, -0.5f, 0.5f);
        tu_fill(&rng, b, Cout, -1.0f, 1.0f);
        tu_fill(&rng, y0, (size_t)R * ldy, -1.0f, 1.0f);
        for (int acc = 0; acc < 2; acc++) {
            memcpy(yall, y0, (size_t)R * ldy * sizeof(float));
            memcpy(y1, y0, (size_t)R * ldy * sizeof(float));
            tft_op_linear(yall, ldy, x, ldx, W, b, R, Cin, Cout, acc);
            // the same rows in uneven pieces: 1 row, then 5, then 2, then the rest
            const int cuts[] = {0, 1, 6, 8, R};
            for (int p = 0; p + 1 < 5; p++)
                tft_op_linear(y1 + (size_t)cuts[p] * ldy, ldy, x + (size_t)cuts[p] * ldx, ldx, W, b,
                              cuts[p + 1] - cuts[p], Cin, Cout, acc);
            TU_ASSERT_CLOSE("linear row invariance", y1, yall, (size_t)R * ldy, 0.0, 0.0);
        }
        free(x), free(W), free(b), free(y0), free(yall), free(y1);
    }
}

// Weights packed at load (tft_op_pack): vs _ref with the GEMM tolerance, and bitwise equal to the
// unpacked kernel (the packed one only reads W from panels; each element's arithmetic is the same),
// including row-invariance over uneven row splits (1, 2, 3, 5 and 6-row tiles, multi-panel tiles).
static void test_linear_packed(void **state) {
    (void)state;
    static const int shapes[][3] = {{1, 1, 1},    {1, 32, 128}, {2, 32, 128}, {3, 7, 13},  {4, 16, 16},
                                    {5, 33, 65},  {6, 101, 7},  {7, 16, 64},  {13, 8, 1}, {37, 300, 17},
                                    {64, 128, 512}, {2, 1023, 9}};
    uint64_t seed = 900;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int variant = 0; variant < 4; variant++) {
            const int R = shapes[s][0], Cin = shapes[s][1], Cout = shapes[s][2];
            const int ldx = Cin + (variant & 1 ? 3 : 0), ldy = Cout + (variant & 2 ? 5 : 0);
            const int with_bias = variant != 2, acc = variant == 3;
            tu_rng    rng = tu_rng_new(seed++);
            float    *x = tu_alloc((size_t)R * ldx), *W = tu_alloc((size_t)Cout * Cin), *b = tu_alloc(Cout);
            float    *P  = tu_alloc(tft_op_pack_floats(Cin, Cout));
            float    *y0 = tu_alloc((size_t)R * ldy), *yp = tu_alloc((size_t)R * ldy), *yu = tu_alloc((size_t)R * ldy);
            float    *yr = tu_alloc((size_t)R * ldy), *ys = tu_alloc((size_t)R * ldy);
            tu_fill(&rng, x, (size_t)R * ldx, -1.0f, 1.0f);
            tu_fill(&rng, W, (size_t)Cout * Cin, -0.5f, 0.5f);
            tu_fill(&rng, b, Cout, -1.0f, 1.0f);
            tu_fill(&rng, y0, (size_t)R * ldy, -2.0f, 2.0f);
            tft_op_pack(P, W, Cin, Cout);
            const float *bb = with_bias ? b : NULL;
            memcpy(yp, y0, (size_t)R * ldy * 4), memcpy(yu, y0, (size_t)R * ldy * 4);
            memcpy(yr, y0, (size_t)R * ldy * 4), memcpy(ys, y0, (size_t)R * ldy * 4);
            tft_op_linear_packed(yp, ldy, x, ldx, W, P, bb, R, Cin, Cout, acc);
            tft_op_linear(yu, ldy, x, ldx, W, bb, R, Cin, Cout, acc);
            tft_op_linear_ref(yr, ldy, x, ldx, W, bb, R, Cin, Cout, acc);
            for (int r0 = 0, step = 1; r0 < R; r0 += step, step = step % 6 + 1) { // rows 1, 2, ... 6 at a time
                const int n = R - r0 < step ? R - r0 : step;
                tft_op_linear_packed(ys + (size_t)r0 * ldy, ldy, x + (size_t)r0 * ldx, ldx, W, P, bb, n, Cin, Cout,
                                     acc);
            }
            char name[112];
            snprintf(name, sizeof name, "linear_packed R=%d Cin=%d Cout=%d ldx=%d ldy=%d bias=%d acc=%d", R, Cin,
                     Cout, ldx, ldy, with_bias, acc);
            TU_ASSERT_CLOSE(name, yp, yr, (size_t)R * ldy, 1e-5, tu_gemm_rtol(Cin));
            TU_ASSERT_CLOSE("linear_packed == linear (bitwise)", yp, yu, (size_t)R * ldy, 0.0, 0.0);
            TU_ASSERT_CLOSE("linear_packed row invariance", ys, yp, (size_t)R * ldy, 0.0, 0.0);
            free(x), free(W), free(b), free(P), free(y0), free(yp), free(yu), free(yr), free(ys);
        }
}

// ---- elementwise --------------------------------------------------------------------------

static const size_t ew_sizes[] = {1, 7, 13, 31, 33, 1000, 64 * 384 * 32};

static void test_elu(void **state) {
    (void)state;
    tu_rng rng = tu_rng_new(7);
    for (size_t s = 0; s < sizeof ew_sizes / sizeof ew_sizes[0]; s++) {
        size_t n = ew_sizes[s];
        float *x = tu_alloc(n);
        tu_fill(&rng, x, n, -8.0f, 8.0f);
        float *xr = tu_dup(x, n);
        tft_op_elu(x, n);
        tft_op_elu_ref(xr, n);
        TU_ASSERT_CLOSE("elu", x, xr, n, ATOL_EW, RTOL_EW);
        free(x), free(xr);
    }
    float e[6] = {0.0f, -0.0f, 1.5f, -1.0f, -100.0f, 1e-8f};
    tft_op_elu(e, 6);
    assert_true(e[0] == 0.0f && e[1] == 0.0f && e[2] == 1.5f && e[5] == 1e-8f);
    assert_true(fabsf(e[3] - (expf(-1.0f) - 1.0f)) <= 1e-7f && e[4] == -1.0f);
}

static void test_glu(void **state) {
    (void)state;
    tu_rng           rng         = tu_rng_new(8);
    static const int shapes[][2] = {{1, 1}, {3, 7}, {13, 31}, {5, 33}, {64 * 384, 32}, {384, 128}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int R = shapes[s][0], C = shapes[s][1];
        float *z = tu_alloc((size_t)R * 2 * C), *y = tu_alloc((size_t)R * C), *yr = tu_alloc((size_t)R * C);
        tu_fill(&rng, z, (size_t)R * 2 * C, -10.0f, 10.0f);
        tft_op_glu(y, z, R, C);
        tft_op_glu_ref(yr, z, R, C);
        TU_ASSERT_CLOSE("glu", y, yr, (size_t)R * C, ATOL_EW, RTOL_EW);
        free(z), free(y), free(yr);
    }
    const float z[4] = {2.0f, -3.0f, 0.0f, 1000.0f}; // [1, 2C] with C = 2
    float       y[2];
    tft_op_glu(y, z, 1, 2);
    assert_true(y[0] == 1.0f && y[1] == -3.0f); // σ(0) = 0.5, σ(1000) = 1
}

static void test_softmax(void **state) {
    (void)state;
    tu_rng           rng         = tu_rng_new(9);
    static const int shapes[][2] = {{1, 1}, {1, 2}, {3, 7}, {13, 31}, {7, 192}, {64 * 24 * 4, 192}, {100, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int R = shapes[s][0], C = shapes[s][1];
        size_t    n = (size_t)R * C;
        float    *x = tu_alloc(n);
        tu_fill(&rng, x, n, -30.0f, 30.0f);
        for (size_t i = 0; i < n; i += 5)
            x[i] = -1e9f; // masked entries
        float *xr = tu_dup(x, n);
        tft_op_softmax(x, R, C);
        tft_op_softmax_ref(xr, R, C);
        TU_ASSERT_CLOSE("softmax", x, xr, n, ATOL_EW, RTOL_NORM);
        free(x), free(xr);
    }
    float u[4] = {-1e9f, -1e9f, -1e9f, -1e9f}; // fully masked: uniform
    tft_op_softmax(u, 1, 4);
    for (int i = 0; i < 4; i++)
        assert_true(u[i] == 0.25f);
    // masked (-1e9) entries inserted anywhere leave the other weights bit-identical
    {
        tu_rng r2 = tu_rng_new(91);
        float  a[50], b[64], bw[64];
        tu_fill(&r2, a, 50, -5.0f, 5.0f);
        int n = 0;
        for (int i = 0; i < 50; i++) {
            if (i % 7 == 3)
                b[n++] = -1e9f, b[n++] = -1e9f;
            b[n++] = a[i];
        }
        memcpy(bw, b, sizeof b);
        tft_op_softmax(a, 1, 50);
        tft_op_softmax(bw, 1, n);
        for (int i = 0, k = 0; k < n; k++) {
            if (b[k] == -1e9f)
                assert_true(bw[k] == 0.0f);
            else
                assert_true(bw[k] == a[i++]);
        }
    }
    float m[3] = {0.0f, -1e9f, 0.0f}; // a masked entry gets exactly 0
    tft_op_softmax(m, 1, 3);
    assert_true(m[0] == 0.5f && m[1] == 0.0f && m[2] == 0.5f);
}

// The fast ops use their own branch-free exp / expm1 / sigmoid / tanh (ops/elementwise.c), not
// libm: sweep them through the public ops over the whole float range, relative error vs double.
static float *sweep_points(size_t *n_out) {
    const size_t nlin = 1u << 20, nlog = 4000;
    float       *x = tu_alloc(nlin + 2 * nlog + 8);
    size_t       n = 0;
    for (size_t i = 0; i < nlin; i++)
        x[n++] = -110.0f + 210.0f * (float)i / (float)nlin;
    for (size_t i = 0; i < nlog; i++) { // ±1e-30 .. ±1: tiny magnitudes, where cancellation would show
        const float v = powf(10.0f, -30.0f + 30.0f * (float)i / (float)nlog);
        x[n++]        = v;
        x[n++]        = -v;
    }
    const float special[8] = {0.0f, -0.0f, 88.7f, 89.0f, -87.5f, -103.0f, -104.5f, 0.34999f};
    for (int i = 0; i < 8; i++)
        x[n++] = special[i];
    *n_out = n;
    return x;
}

static void test_transcendental_sweep(void **state) {
    (void)state;
    size_t n;
    float *x = sweep_points(&n), *y = tu_alloc(2 * n), *want = tu_alloc(2 * n);
    // ELU: x > 0 ? x : expm1(x)
    memcpy(y, x, n * sizeof(float));
    tft_op_elu(y, n);
    for (size_t i = 0; i < n; i++)
        want[i] = x[i] > 0 ? x[i] : (float)expm1((double)x[i]);
    TU_ASSERT_CLOSE("elu sweep", y, want, n, 1e-37, 4e-7);
    // sigmoid, through GLU with value 1: z rows [1, x]
    float *z = tu_alloc(2 * n);
    for (size_t i = 0; i < n; i++)
        z[2 * i] = 1.0f, z[2 * i + 1] = x[i];
    tft_op_glu(y, z, (int)n, 1);
    for (size_t i = 0; i < n; i++)
        want[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
    TU_ASSERT_CLOSE("sigmoid sweep", y, want, n, 1e-37, 4e-7);
    // exp, through softmax rows [0, x] with x <= 0: [1/(1+e^x), e^x/(1+e^x)]
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] <= 0.0f) {
            z[2 * m] = 0.0f, z[2 * m + 1] = x[i];
            const double e = exp((double)x[i]);
            want[2 * m] = (float)(1.0 / (1.0 + e)), want[2 * m + 1] = (float)(e / (1.0 + e));
            m++;
        }
    tft_op_softmax(z, (int)m, 2);
    TU_ASSERT_CLOSE("exp sweep (softmax)", z, want, 2 * m, 1e-37, 4e-7);
    // tanh, through the LSTM cell: i = σ(100) = 1, f = σ(-100) = 0 -> c = tanh(g); o = 1
    const int H = 1024;
    float    *g = tu_alloc(4 * (size_t)H), *h = tu_alloc(H), *c = tu_alloc(H), *cw = tu_alloc(n);
    for (size_t i0 = 0; i0 < n; i0 += H) {
        const int nb = (int)(n - i0 < (size_t)H ? n - i0 : (size_t)H);
        for (int k = 0; k < H; k++) {
            const float v = k < nb ? x[i0 + k] : 0.0f;
            g[k] = 100.0f, g[H + k] = -100.0f, g[2 * H + k] = v, g[3 * H + k] = 100.0f;
            c[k] = 5.0f;
        }
        tft_op_lstm_cell(h, c, g, 1, H);
        memcpy(y + i0, c, (size_t)nb * sizeof(float));
    }
    for (size_t i = 0; i < n; i++)
        cw[i] = (float)tanh((double)x[i]);
    TU_ASSERT_CLOSE("tanh sweep (lstm c)", y, cw, n, 1e-37, 4e-7);
    free(x), free(y), free(want), free(z), free(g), free(h), free(c), free(cw);
}

// ---- normalization ------------------------------------------------------------------------

static void test_add_layernorm(void **state) {
    (void)state;
    tu_rng           rng         = tu_rng_new(10);
    static const int shapes[][2] = {{1, 1},   {3, 7},         {64, 160},     {5, 1023},
                                    {13, 31}, {64 * 384, 32}, {8 * 384, 128}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int R = shapes[s][0], C = shapes[s][1];
        size_t    n = (size_t)R * C;
        float    *x = tu_alloc(n), *sk = tu_alloc(n), *w = tu_alloc(C), *b = tu_alloc(C);
        float    *y = tu_alloc(n), *yr = tu_alloc(n);
        tu_fill(&rng, x, n, -3.0f, 5.0f);
        tu_fill(&rng, sk, n, -1.0f, 1.0f);
        tu_fill(&rng, w, C, 0.5f, 1.5f);
        tu_fill(&rng, b, C, -0.5f, 0.5f);
        for (int with_skip = 0; with_skip < 2; with_skip++) {
            tft_op_add_layernorm(y, x, with_skip ? sk : NULL, w, b, R, C, LN_EPS);
            tft_op_add_layernorm_ref(yr, x, with_skip ? sk : NULL, w, b, R, C, LN_EPS);
            TU_ASSERT_CLOSE("add_layernorm", y, yr, n, ATOL_NORM, RTOL_NORM);
        }
        // in place: y aliases x
        float *xa = tu_dup(x, n);
        tft_op_add_layernorm(xa, xa, sk, w, b, R, C, LN_EPS);
        tft_op_add_layernorm_ref(yr, x, sk, w, b, R, C, LN_EPS);
        TU_ASSERT_CLOSE("add_layernorm in place", xa, yr, n, ATOL_NORM, RTOL_NORM);
        memcpy(xa, x, n * sizeof(float));
        tft_op_add_layernorm_ref(xa, xa, sk, w, b, R, C, LN_EPS);
        TU_ASSERT_CLOSE("add_layernorm_ref in place", xa, yr, n, 0.0, 0.0);
        free(x), free(sk), free(w), free(b), free(y), free(yr), free(xa);
    }
}

// Hand-computed: x + skip = [1, 2, 3, 4] -> mean 2.5, biased var 1.25.
static void test_layernorm_exact(void **state) {
    (void)state;
    const float x[4] = {0, 1, 2, 3}, sk[4] = {1, 1, 1, 1}, w[4] = {1, 1, 2, 1}, b[4] = {0, 0, 0, 10};
    float       y[4];
    tft_op_add_layernorm(y, x, sk, w, b, 1, 4, LN_EPS);
    const double rstd    = 1.0 / sqrt(1.25 + 1e-5);
    const double want[4] = {-1.5 * rstd, -0.5 * rstd, 2 * 0.5 * rstd, 1.5 * rstd + 10};
    for (int i = 0; i < 4; i++)
        assert_true(fabs(y[i] - want[i]) <= 2e-6);
    // constant row: var 0 -> (x - mean) = 0, output = b
    const float c[3] = {4, 4, 4}, w3[3] = {1, 2, 3}, b3[3] = {0.25f, 0.5f, 0.75f};
    float       y3[3];
    tft_op_add_layernorm(y3, c, NULL, w3, b3, 1, 3, LN_EPS);
    for (int i = 0; i < 3; i++)
        assert_true(y3[i] == b3[i]);
}

// ---- interpolation ------------------------------------------------------------------------
// Generated with torch 2.15.0+cu132: F.interpolate(eye(n)[:, None], size=m, mode='linear',
// align_corners=True); output i = l0[i]*x[i0[i]] + l1[i]*x[i0[i]+1].
static const int   interp_6_16_i0[16] = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5};
static const float interp_6_16_l0[16] = {0x1p0f,         0x1.555554p-1f, 0x1.555554p-2f, 0x1p0f,
                                         0x1.555554p-1f, 0x1.55555p-2f,  0x1p0f,         0x1.55555p-1f,
                                         0x1.55555p-2f,  0x1p0f,         0x1.55555p-1f,  0x1.55555p-2f,
                                         0x1p0f,         0x1.55555p-1f,  0x1.55554p-2f,  0x1p0f};
static const float interp_6_16_l1[16] = {0, 0x1.555556p-2f, 0x1.555556p-1f, 0, 0x1.555558p-2f, 0x1.555558p-1f,
                                         0, 0x1.55556p-2f,  0x1.555558p-1f, 0, 0x1.55556p-2f,  0x1.555558p-1f,
                                         0, 0x1.55556p-2f,  0x1.55556p-1f,  0};
static const int   interp_39_160_i0[160] = {
      0,  0,  0,  0,  0,  1,  1,  1,  1,  2,  2,  2,  2,  3,  3,  3,  3,  4,  4,  4,  4,  5,  5,
      5,  5,  5,  6,  6,  6,  6,  7,  7,  7,  7,  8,  8,  8,  8,  9,  9,  9,  9,  10, 10, 10, 10,
      10, 11, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15, 16, 16,
      16, 16, 16, 17, 17, 17, 17, 18, 18, 18, 18, 19, 19, 19, 19, 20, 20, 20, 20, 21, 21, 21, 21,
      21, 22, 22, 22, 22, 23, 23, 23, 23, 24, 24, 24, 24, 25, 25, 25, 25, 26, 26, 26, 26, 27, 27,
      27, 27, 27, 28, 28, 28, 28, 29, 29, 29, 29, 30, 30, 30, 30, 31, 31, 31, 31, 32, 32, 32, 32,
      32, 33, 33, 33, 33, 34, 34, 34, 34, 35, 35, 35, 35, 36, 36, 36, 36, 37, 37, 37, 37, 38};
static const float interp_39_160_l0[160] = {
    0x1p0f,         0x1.85a29ep-1f, 0x1.0b453cp-1f, 0x1.21cfb4p-2f, 0x1.68a78p-5f, 0x1.9c2d18p-1f,
    0x1.21cfb4p-1f, 0x1.4ee4ap-2f,  0x1.68a78p-4f,  0x1.b2b79p-1f,  0x1.385a3p-1f, 0x1.7bf99p-2f,
    0x1.0e7dap-3f,  0x1.c94208p-1f, 0x1.4ee4ap-1f,  0x1.a90e8p-2f,  0x1.68a78p-3f, 0x1.dfcc8p-1f,
    0x1.656f2p-1f,  0x1.d6238p-2f,  0x1.c2d18p-3f,  0x1.f656fp-1f,  0x1.7bf99p-1f, 0x1.019c3p-1f,
    0x1.0e7dap-2f,  0x1.9c2ep-6f,   0x1.92841p-1f,  0x1.1826bp-1f,  0x1.3b928p-2f, 0x1.1b5fp-4f,
    0x1.a90e8p-1f,  0x1.2eb12p-1f,  0x1.68a78p-2f,  0x1.cfb3p-4f,   0x1.bf99p-1f,  0x1.453bap-1f,
    0x1.95bc8p-2f,  0x1.42038p-3f,  0x1.d6238p-1f,  0x1.5bc62p-1f,  0x1.c2d18p-2f, 0x1.9c2dp-3f,
    0x1.ecadep-1f,  0x1.72508p-1f,  0x1.efe64p-2f,  0x1.f657p-3f,   0x1.9c3p-8f,   0x1.88dbp-1f,
    0x1.0e7dap-1f,  0x1.28408p-2f,  0x1.9c2ep-5f,   0x1.9f658p-1f,  0x1.25082p-1f, 0x1.55558p-2f,
    0x1.826bp-4f,   0x1.b5fp-1f,    0x1.3b928p-1f,  0x1.826a4p-2f,  0x1.1b5fp-3f,  0x1.cc7a6p-1f,
    0x1.521dp-1f,   0x1.af7f4p-2f,  0x1.7589p-3f,   0x1.e304ep-1f,  0x1.68a78p-1f, 0x1.dc944p-2f,
    0x1.cfb3p-3f,   0x1.f98f4p-1f,  0x1.7f32p-1f,   0x1.04d48p-1f,  0x1.14ee8p-2f, 0x1.019cp-5f,
    0x1.95bc8p-1f,  0x1.1b5fp-1f,   0x1.42038p-2f,  0x1.3522p-4f,   0x1.ac47p-1f,  0x1.31e98p-1f,
    0x1.6f188p-2f,  0x1.e976p-4f,   0x1.c2d18p-1f,  0x1.4874p-1f,   0x1.9c2dp-2f,  0x1.4ee5p-3f,
    0x1.d95bcp-1f,  0x1.5efe8p-1f,  0x1.c942p-2f,   0x1.a90fp-3f,   0x1.efe64p-1f, 0x1.7589p-1f,
    0x1.f657p-2f,   0x1.019c8p-2f,  0x1.9c3p-7f,    0x1.8c138p-1f,  0x1.11b6p-1f,  0x1.2eb18p-2f,
    0x1.cfb4p-5f,   0x1.a29dcp-1f,  0x1.28408p-1f,  0x1.5bc6p-2f,   0x1.9c2ep-4f,  0x1.b9284p-1f,
    0x1.3ecbp-1f,   0x1.88dbp-2f,   0x1.2841p-3f,   0x1.cfb2cp-1f,  0x1.55558p-1f, 0x1.b5fp-2f,
    0x1.826bp-3f,   0x1.e63d4p-1f,  0x1.6bep-1f,    0x1.e305p-2f,   0x1.dc94p-3f,  0x1.fcc7cp-1f,
    0x1.826a4p-1f,  0x1.080dp-1f,   0x1.1b5fp-2f,   0x1.3524p-5f,   0x1.98f4cp-1f, 0x1.1e978p-1f,
    0x1.4874p-2f,   0x1.4ee6p-4f,   0x1.af7f4p-1f,  0x1.3522p-1f,   0x1.7589p-2f,  0x1.019dp-3f,
    0x1.c609cp-1f,  0x1.4bac8p-1f,  0x1.a29ep-2f,   0x1.5bc6p-3f,   0x1.dc944p-1f, 0x1.6236cp-1f,
    0x1.cfb3p-2f,   0x1.b5fp-3f,    0x1.f31e8p-1f,  0x1.78c18p-1f,  0x1.fcc8p-2f,  0x1.080dp-2f,
    0x1.352p-6f,    0x1.8f4cp-1f,   0x1.14ee8p-1f,  0x1.3522p-2f,   0x1.019cp-4f,  0x1.a5d68p-1f,
    0x1.2b79p-1f,   0x1.6237p-2f,   0x1.b5fp-4f,    0x1.bc608p-1f,  0x1.42038p-1f, 0x1.8f4cp-2f,
    0x1.3522p-3f,   0x1.d2ebp-1f,   0x1.588ep-1f,   0x1.bc61p-2f,   0x1.8f4cp-3f,  0x1.e9758p-1f,
    0x1.6f188p-1f,  0x1.e976p-2f,   0x1.e976p-3f,   0x1p0f};
static const float interp_39_160_l1[160] = {0,
                                            0x1.e97588p-3f,
                                            0x1.e97588p-2f,
                                            0x1.6f1826p-1f,
                                            0x1.e97588p-1f,
                                            0x1.8f4bap-3f,
                                            0x1.bc6098p-2f,
                                            0x1.588dbp-1f,
                                            0x1.d2eb1p-1f,
                                            0x1.3521cp-3f,
                                            0x1.8f4bap-2f,
                                            0x1.420338p-1f,
                                            0x1.bc6098p-1f,
                                            0x1.b5efcp-4f,
                                            0x1.6236cp-2f,
                                            0x1.2b78cp-1f,
                                            0x1.a5d62p-1f,
                                            0x1.019cp-4f,
                                            0x1.3521cp-2f,
                                            0x1.14ee4p-1f,
                                            0x1.8f4bap-1f,
                                            0x1.3522p-6f,
                                            0x1.080cep-2f,
                                            0x1.fcc7ap-2f,
                                            0x1.78c13p-1f,
                                            0x1.f31e9p-1f,
                                            0x1.b5efcp-3f,
                                            0x1.cfb2ap-2f,
                                            0x1.6236cp-1f,
                                            0x1.dc942p-1f,
                                            0x1.5bc6p-3f,
                                            0x1.a29dcp-2f,
                                            0x1.4bac4p-1f,
                                            0x1.c609ap-1f,
                                            0x1.019cp-3f,
                                            0x1.7588cp-2f,
                                            0x1.3521cp-1f,
                                            0x1.af7f2p-1f,
                                            0x1.4ee4p-4f,
                                            0x1.4873cp-2f,
                                            0x1.1e974p-1f,
                                            0x1.98f4cp-1f,
                                            0x1.3522p-5f,
                                            0x1.1b5fp-2f,
                                            0x1.080cep-1f,
                                            0x1.826a4p-1f,
                                            0x1.fcc7ap-1f,
                                            0x1.dc94p-3f,
                                            0x1.e304cp-2f,
                                            0x1.6bdfcp-1f,
                                            0x1.e63d2p-1f,
                                            0x1.826ap-3f,
                                            0x1.b5efcp-2f,
                                            0x1.55554p-1f,
                                            0x1.cfb2ap-1f,
                                            0x1.284p-3f,
                                            0x1.88dbp-2f,
                                            0x1.3ecaep-1f,
                                            0x1.b9284p-1f,
                                            0x1.9c2dp-4f,
                                            0x1.5bc6p-2f,
                                            0x1.28406p-1f,
                                            0x1.a29dcp-1f,
                                            0x1.cfb2p-5f,
                                            0x1.2eb1p-2f,
                                            0x1.11b5ep-1f,
                                            0x1.8c134p-1f,
                                            0x1.9c3p-7f,
                                            0x1.019cp-2f,
                                            0x1.f657p-2f,
                                            0x1.7588cp-1f,
                                            0x1.efe64p-1f,
                                            0x1.a90ep-3f,
                                            0x1.c942p-2f,
                                            0x1.5efe4p-1f,
                                            0x1.d95bcp-1f,
                                            0x1.4ee4p-3f,
                                            0x1.9c2dp-2f,
                                            0x1.4873cp-1f,
                                            0x1.c2d14p-1f,
                                            0x1.e974p-4f,
                                            0x1.6f18p-2f,
                                            0x1.31e98p-1f,
                                            0x1.ac46cp-1f,
                                            0x1.3522p-4f,
                                            0x1.4203p-2f,
                                            0x1.1b5fp-1f,
                                            0x1.95bc4p-1f,
                                            0x1.019cp-5f,
                                            0x1.14eep-2f,
                                            0x1.04d48p-1f,
                                            0x1.7f31cp-1f,
                                            0x1.f98f4p-1f,
                                            0x1.cfb2p-3f,
                                            0x1.dc94p-2f,
                                            0x1.68a74p-1f,
                                            0x1.e304cp-1f,
                                            0x1.7589p-3f,
                                            0x1.af7fp-2f,
                                            0x1.521dp-1f,
                                            0x1.cc7a4p-1f,
                                            0x1.1b5fp-3f,
                                            0x1.826ap-2f,
                                            0x1.3b928p-1f,
                                            0x1.b5efcp-1f,
                                            0x1.826ap-4f,
                                            0x1.5555p-2f,
                                            0x1.2508p-1f,
                                            0x1.9f654p-1f,
                                            0x1.9c2cp-5f,
                                            0x1.284p-2f,
                                            0x1.0e7d8p-1f,
                                            0x1.88dbp-1f,
                                            0x1.9c2p-8f,
                                            0x1.f657p-3f,
                                            0x1.efe6p-2f,
                                            0x1.72508p-1f,
                                            0x1.ecadcp-1f,
                                            0x1.9c2dp-3f,
                                            0x1.c2d1p-2f,
                                            0x1.5bc6p-1f,
                                            0x1.d6234p-1f,
                                            0x1.4203p-3f,
                                            0x1.95bcp-2f,
                                            0x1.453b8p-1f,
                                            0x1.bf98cp-1f,
                                            0x1.cfb2p-4f,
                                            0x1.68a7p-2f,
                                            0x1.2eb1p-1f,
                                            0x1.a90e8p-1f,
                                            0x1.1b5ep-4f,
                                            0x1.3b928p-2f,
                                            0x1.18268p-1f,
                                            0x1.9284p-1f,
                                            0x1.9c3p-6f,
                                            0x1.0e7dp-2f,
                                            0x1.019cp-1f,
                                            0x1.7bf98p-1f,
                                            0x1.f657p-1f,
                                            0x1.c2dp-3f,
                                            0x1.d623p-2f,
                                            0x1.656fp-1f,
                                            0x1.dfcc8p-1f,
                                            0x1.68a6p-3f,
                                            0x1.a90ep-2f,
                                            0x1.4ee48p-1f,
                                            0x1.c942p-1f,
                                            0x1.0e7ep-3f,
                                            0x1.7bf9p-2f,
                                            0x1.385ap-1f,
                                            0x1.b2b78p-1f,
                                            0x1.68a8p-4f,
                                            0x1.4ee4p-2f,
                                            0x1.21cf8p-1f,
                                            0x1.9c2dp-1f,
                                            0x1.68a8p-5f,
                                            0x1.21cfp-2f,
                                            0x1.0b45p-1f,
                                            0x1.85a28p-1f,
                                            0};
static const int   interp_255_13_i0[13]  = {0, 21, 42, 63, 84, 105, 127, 148, 169, 190, 211, 232, 254};
static const float interp_255_13_l0[13]  = {
     0x1p0f,       0x1.aaaacp-1f, 0x1.55558p-1f, 0x1p-1f,      0x1.5556p-2f, 0x1.5558p-3f, 0x1p0f,
     0x1.aaacp-1f, 0x1.5556p-1f,  0x1p-1f,       0x1.5558p-2f, 0x1.5558p-3f, 0x1p0f};
static const float interp_255_13_l1[13] = {0, 0x1.5555p-3f, 0x1.5555p-2f, 0x1p-1f, 0x1.5555p-1f, 0x1.aaaap-1f,
                                           0, 0x1.555p-3f,  0x1.5554p-2f, 0x1p-1f, 0x1.5554p-1f, 0x1.aaaap-1f,
                                           0};

// Feeds the identity through tft_op_interp (and _ref): row k of the output is the weight of
// input k in every output column, which must equal the torch table bit for bit.
static void check_interp_table(int n, int m, const int *i0, const float *l0, const float *l1) {
    float *x = tu_alloc((size_t)n * n), *y = tu_alloc((size_t)n * m), *yr = tu_alloc((size_t)n * m);
    float *want = tu_alloc((size_t)n * m);
    memset(x, 0, (size_t)n * n * sizeof(float));
    for (int k = 0; k < n; k++)
        x[(size_t)k * n + k] = 1.0f;
    memset(want, 0, (size_t)n * m * sizeof(float));
    for (int i = 0; i < m; i++) {
        want[(size_t)i0[i] * m + i] += l0[i];
        if (i0[i] + 1 < n)
            want[(size_t)(i0[i] + 1) * m + i] += l1[i];
    }
    tft_op_interp(y, x, n, n, n, m);
    tft_op_interp_ref(yr, x, n, n, n, m);
    char name[64];
    snprintf(name, sizeof name, "interp table %d->%d", n, m);
    TU_ASSERT_CLOSE(name, y, want, (size_t)n * m, 0.0, 0.0);
    TU_ASSERT_CLOSE(name, yr, want, (size_t)n * m, 0.0, 0.0);
    free(x), free(y), free(yr), free(want);
}

static void test_interp_torch_tables(void **state) {
    (void)state;
    check_interp_table(6, 16, interp_6_16_i0, interp_6_16_l0, interp_6_16_l1);
    check_interp_table(39, 160, interp_39_160_i0, interp_39_160_l0, interp_39_160_l1);
    check_interp_table(255, 13, interp_255_13_i0, interp_255_13_l0, interp_255_13_l1);
}

// Hand-computed: 20 -> 3 (scale 9.5: outputs x0, (x9 + x10)/2, x19); n == 1; m == 1.
static void test_interp_exact(void **state) {
    (void)state;
    float x[21], y[16];
    for (int k = 0; k < 21; k++)
        x[k] = (float)(k * k);
    tft_op_interp(y, x, 21, 1, 20, 3);
    assert_true(y[0] == 0.0f && y[1] == 90.5f && y[2] == 361.0f);
    tft_op_interp_ref(y, x, 21, 1, 20, 3);
    assert_true(y[0] == 0.0f && y[1] == 90.5f && y[2] == 361.0f);
    const float one[2] = {-2.5f, 3.0f}; // two rows of width 1 (ld 1)
    tft_op_interp(y, one, 1, 2, 1, 7);
    for (int i = 0; i < 7; i++)
        assert_true(y[i] == -2.5f && y[7 + i] == 3.0f);
    tft_op_interp_ref(y, one, 1, 2, 1, 7);
    for (int i = 0; i < 7; i++)
        assert_true(y[i] == -2.5f && y[7 + i] == 3.0f);
    tft_op_interp(y, x, 21, 1, 20, 1); // m == 1: scale 0, the first input
    assert_true(y[0] == 0.0f);
    // 6 -> 16, output 3: src = 3·float(5/15) rounds to exactly 1.0 -> x[1] alone
    for (int k = 0; k < 6; k++)
        x[k] = (float)(10 * k + 1);
    tft_op_interp(y, x, 6, 1, 6, 16);
    assert_true(y[3] == 11.0f && y[15] == 51.0f && y[0] == 1.0f);
}

static void test_interp_random(void **state) {
    (void)state;
    tu_rng           rng         = tu_rng_new(11);
    static const int shapes[][3] = {{1, 1, 5},         {3, 7, 13},    {13, 13, 7},  {5, 31, 32},
                                    {7, 2, 300},       {4, 300, 2},   {9, 160, 39}, {64 * 384, 8, 32},
                                    {8 * 384, 1, 128}, {384, 255, 13}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int R = shapes[s][0], n = shapes[s][1], m = shapes[s][2], ldx = n + (int)(s % 3);
        float    *x = tu_alloc((size_t)R * ldx), *y = tu_alloc((size_t)R * m), *yr = tu_alloc((size_t)R * m);
        tu_fill(&rng, x, (size_t)R * ldx, -4.0f, 4.0f);
        tft_op_interp(y, x, ldx, R, n, m);
        tft_op_interp_ref(yr, x, ldx, R, n, m);
        TU_ASSERT_CLOSE("interp", y, yr, (size_t)R * m, ATOL_EW, RTOL_EW);
        free(x), free(y), free(yr);
    }
}

// The vectorized interpolation (in-register permutes for n <= 16) and ResampleNorm's fused
// interp-and-gate pass against the float32 formula of ops.h evaluated here in plain float: equal
// bit for bit (the op's contract is that exact arithmetic), for widths around the 8 and 16 edges.
static void test_interp_float_formula(void **state) {
    (void)state;
    tu_rng           rng         = tu_rng_new(13);
    static const int shapes[][2] = {{2, 3}, {7, 8}, {8, 9}, {9, 31}, {16, 32}, {16, 35}, {15, 64}, {17, 40},
                                    {3, 1}, {16, 7}, {12, 13}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int R = 11, n = shapes[s][0], m = shapes[s][1], ldx = n + 2;
        float    *x = tu_alloc((size_t)R * ldx), *y = tu_alloc((size_t)R * m), *want = tu_alloc((size_t)R * m);
        float    *mask = tu_alloc(m), *w = tu_alloc(m), *b = tu_alloc(m), *yr = tu_alloc((size_t)R * m);
        tu_fill(&rng, x, (size_t)R * ldx, -4.0f, 4.0f);
        tu_fill(&rng, mask, m, -3.0f, 3.0f);
        tu_fill(&rng, w, m, 0.5f, 1.5f);
        tu_fill(&rng, b, m, -0.5f, 0.5f);
        const float scale = m > 1 ? (float)(n - 1) / (float)(m - 1) : 0.0f;
        for (int r = 0; r < R; r++)
            for (int i = 0; i < m; i++) {
                const float src = scale * (float)i;
                int         i0  = (int)src;
                i0              = i0 < n - 1 ? i0 : n - 1;
                const int i1    = i0 + (i0 < n - 1);
                float       l1  = src - (float)i0;
                l1              = l1 < 0.0f ? 0.0f : (l1 > 1.0f ? 1.0f : l1);
                const float l0  = 1.0f - l1;
                const float p0 = l0 * x[(size_t)r * ldx + i0], p1 = l1 * x[(size_t)r * ldx + i1];
                want[(size_t)r * m + i] = p0 + p1;
            }
        tft_op_interp(y, x, ldx, R, n, m);
        TU_ASSERT_CLOSE("interp == float formula (bitwise)", y, want, (size_t)R * m, 0.0, 0.0);
        // ResampleNorm = LayerNorm(interp · 2σ(mask)): the same LayerNorm op on the formula's values
        for (int r = 0; r < R; r++)
            for (int i = 0; i < m; i++) {
                const float g           = 2.0f * (1.0f / (1.0f + expf(-mask[i])));
                want[(size_t)r * m + i] = want[(size_t)r * m + i] * g;
            }
        tft_op_add_layernorm(want, want, NULL, w, b, R, m, 1e-5f);
        tft_op_resample_norm(y, x, ldx, R, n, m, mask, w, b);
        TU_ASSERT_CLOSE("resample_norm == formula + layernorm (bitwise)", y, want, (size_t)R * m, 0.0, 0.0);
        tft_op_resample_norm_ref(yr, x, ldx, R, n, m, mask, w, b);
        TU_ASSERT_CLOSE("resample_norm vs ref", y, yr, (size_t)R * m, ATOL_NORM, RTOL_NORM);
        free(x), free(y), free(want), free(mask), free(w), free(b), free(yr);
    }
}

// LayerNorm rows go 8 at a time through a lane-per-row kernel and one at a time otherwise: a row
// gives the same bits in either, and with any row stride (tft_op_add_layernorm_ld).
static void test_layernorm_row_invariance(void **state) {
    (void)state;
    tu_rng           rng  = tu_rng_new(14);
    static const int Cs[] = {1, 3, 7, 8, 13, 32, 33, 128};
    for (size_t s = 0; s < sizeof Cs / sizeof Cs[0]; s++) {
        const int C = Cs[s], R = 21, ld = C + 3;
        float    *x = tu_alloc((size_t)R * ld), *k = tu_alloc((size_t)R * ld), *w = tu_alloc(C), *b = tu_alloc(C);
        float    *all = tu_alloc((size_t)R * C), *one = tu_alloc((size_t)R * C), *lds = tu_alloc((size_t)R * ld);
        float    *ref = tu_alloc((size_t)R * C), *xc = tu_alloc((size_t)R * C), *kc = tu_alloc((size_t)R * C);
        tu_fill(&rng, x, (size_t)R * ld, -3.0f, 3.0f);
        tu_fill(&rng, k, (size_t)R * ld, -1.0f, 1.0f);
        tu_fill(&rng, w, C, 0.5f, 1.5f);
        tu_fill(&rng, b, C, -0.5f, 0.5f);
        for (int r = 0; r < R; r++)
            memcpy(xc + (size_t)r * C, x + (size_t)r * ld, 4 * (size_t)C),
                memcpy(kc + (size_t)r * C, k + (size_t)r * ld, 4 * (size_t)C);
        tft_op_add_layernorm(all, xc, kc, w, b, R, C, 1e-5f);
        for (int r = 0; r < R; r++)
            tft_op_add_layernorm(one + (size_t)r * C, xc + (size_t)r * C, kc + (size_t)r * C, w, b, 1, C, 1e-5f);
        TU_ASSERT_CLOSE("layernorm 8 rows == 1 row (bitwise)", all, one, (size_t)R * C, 0.0, 0.0);
        tft_op_add_layernorm_ld(lds, ld, x, ld, k, ld, w, b, R, C, 1e-5f);
        for (int r = 0; r < R; r++)
            memcpy(one + (size_t)r * C, lds + (size_t)r * ld, 4 * (size_t)C);
        TU_ASSERT_CLOSE("layernorm strided == contiguous (bitwise)", one, all, (size_t)R * C, 0.0, 0.0);
        tft_op_add_layernorm_ref(ref, xc, kc, w, b, R, C, 1e-5f);
        TU_ASSERT_CLOSE("layernorm vs ref", all, ref, (size_t)R * C, ATOL_NORM, RTOL_NORM);
        free(x), free(k), free(w), free(b), free(all), free(one), free(lds), free(ref), free(xc), free(kc);
    }
}

static void test_resample_norm(void **state) {
    (void)state;
    tu_rng           rng         = tu_rng_new(12);
    static const int shapes[][3] = {{1, 1, 1},         {3, 7, 13},       {13, 13, 13}, {5, 31, 32},
                                    {4, 300, 2},       {2, 1, 300},      {9, 160, 39}, {7, 8, 257},
                                    {64 * 384, 8, 32}, {8 * 384, 1, 128}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int R = shapes[s][0], n = shapes[s][1], m = shapes[s][2], ldx = n + (int)(s % 2);
        float    *x = tu_alloc((size_t)R * ldx), *y = tu_alloc((size_t)R * m), *yr = tu_alloc((size_t)R * m);
        float    *mask = tu_alloc(m), *w = tu_alloc(m), *b = tu_alloc(m);
        tu_fill(&rng, x, (size_t)R * ldx, -4.0f, 4.0f);
        tu_fill(&rng, mask, m, -3.0f, 3.0f);
        tu_fill(&rng, w, m, 0.5f, 1.5f);
        tu_fill(&rng, b, m, -0.5f, 0.5f);
        tft_op_resample_norm(y, x, ldx, R, n, m, mask, w, b);
        tft_op_resample_norm_ref(yr, x, ldx, R, n, m, mask, w, b);
        char name[64];
        snprintf(name, sizeof name, "resample_norm R=%d %d->%d", R, n, m);
        TU_ASSERT_CLOSE(name, y, yr, (size_t)R * m, ATOL_NORM, RTOL_NORM);
        free(x), free(y), free(yr), free(mask), free(w), free(b);
    }
    // mask 0 -> gate 2·σ(0) = 1 and n == m: plain LayerNorm of the row
    const float x[3] = {1, 2, 6}, z[3] = {0, 0, 0}, w[3] = {1, 1, 1};
    float       y[3], yl[3];
    tft_op_resample_norm(y, x, 3, 1, 3, 3, z, w, z);
    tft_op_add_layernorm(yl, x, NULL, w, z, 1, 3, LN_EPS);
    for (int i = 0; i < 3; i++)
        assert_true(y[i] == yl[i]);
}

// ---- de-normalization ---------------------------------------------------------------------

static void test_denormalize_random(void **state) {
    (void)state;
    tu_rng       rng = tu_rng_new(13);
    const size_t n   = 64 * 24 * 7 + 3;
    float       *x = tu_alloc(n), *y = tu_alloc(n), *yr = tu_alloc(n);
    tu_fill(&rng, x, n, -6.0f, 6.0f);
    for (int tf = TFT_TF_NONE; tf <= TFT_TF_SQRT; tf++) {
        const float center = tf == TFT_TF_LOGIT ? 0.25f : 3.5f, scale = tf == TFT_TF_SOFTPLUS ? 5.0f : 1.75f;
        tft_op_denormalize(y, x, n, center, scale, (tft_transform)tf);
        tft_op_denormalize_ref(yr, x, n, center, scale, (tft_transform)tf);
        char name[32];
        snprintf(name, sizeof name, "denormalize tf=%d", tf);
        TU_ASSERT_CLOSE(name, y, yr, n, ATOL_EW, RTOL_EW);
        // y may alias x
        float *xa = tu_dup(x, n);
        tft_op_denormalize(xa, xa, n, center, scale, (tft_transform)tf);
        TU_ASSERT_CLOSE(name, xa, y, n, 0.0, 0.0);
        free(xa);
    }
    free(x), free(y), free(yr);
}

// Exact semantics of each transformation on hand-picked values.
static void test_denormalize_exact(void **state) {
    (void)state;
    float y[4];
    // affine: two float roundings (mul, then add), never one FMA rounding
    {
        volatile float xv = 1.0f + 0x1p-12f, sv = 1.0f + 0x1p-12f, cv = -1.0f;
        const float    x = xv, s = sv, c = cv;
        volatile float mul  = x * s;   // 1 + 2^-11 (the 2^-24 term is a tie, rounded to even away)
        const float    want = mul + c; // 2^-11; an FMA would give 2^-11 + 2^-24
        tft_op_denormalize(y, &x, 1, c, s, TFT_TF_NONE);
        assert_true(y[0] == want && want == 0x1p-11f);
        tft_op_denormalize_ref(y, &x, 1, c, s, TFT_TF_NONE);
        assert_true(y[0] == want);
    }
    const float x[4] = {0.0f, 1.0f, -2.0f, 3.0f};
    tft_op_denormalize(y, x, 4, 0.0f, 1.0f, TFT_TF_LOG1P); // exp, not expm1: exp(0) = 1
    assert_true(y[0] == 1.0f && y[1] == expf(1.0f) && y[2] == expf(-2.0f));
    tft_op_denormalize(y, x, 4, 1.0f, 2.0f, TFT_TF_LOG); // exp(2x + 1)
    assert_true(y[0] == expf(1.0f) && y[1] == expf(3.0f));
    tft_op_denormalize(y, x, 4, -1.0f, 1.0f, TFT_TF_RELU);
    assert_true(y[0] == 0.0f && y[1] == 0.0f && y[2] == 0.0f && y[3] == 2.0f);
    tft_op_denormalize(y, x, 4, -1.0f, 1.0f, TFT_TF_SQRT);
    assert_true(y[0] == 1.0f && y[1] == 0.0f && y[2] == 9.0f && y[3] == 4.0f);
    // softplus / count: identity above 20, log1p(exp(v)) at or below (in float32 both branches
    // agree from ~17 on, so the threshold shows only as "no overflow": exp(100) would be inf)
    const float sp[4] = {100.0f, 20.0f, 0.0f, -30.0f};
    for (int tf = TFT_TF_COUNT; tf <= TFT_TF_SOFTPLUS; tf++) {
        tft_op_denormalize(y, sp, 4, 0.0f, 1.0f, (tft_transform)tf);
        assert_true(y[0] == 100.0f && y[1] == 20.0f);
        assert_true(y[2] == log1pf(1.0f) && fabsf(y[3] - expf(-30.0f)) <= 1e-18f);
        tft_op_denormalize(y, sp, 4, 5.0f, 1.0f, (tft_transform)tf); // 5 + v: 105, 25, 5, -25
        assert_true(y[0] == 105.0f && y[1] == 25.0f && y[2] == log1pf(expf(5.0f)));
    }
    // logit: σ clamped to [FLT_MIN, 1 - FLT_EPSILON]
    const float lg[4] = {-200.0f, 200.0f, 0.0f, 17.0f};
    tft_op_denormalize(y, lg, 4, 0.0f, 1.0f, TFT_TF_LOGIT);
    assert_true(y[0] == FLT_MIN && y[1] == 1.0f - FLT_EPSILON && y[2] == 0.5f && y[3] == 1.0f - FLT_EPSILON);
    tft_op_denormalize_ref(y, lg, 4, 0.0f, 1.0f, TFT_TF_LOGIT);
    assert_true(y[0] == FLT_MIN && y[1] == 1.0f - FLT_EPSILON && y[2] == 0.5f && y[3] == 1.0f - FLT_EPSILON);
    // NaN in: NaN out (relu included, as torch.relu)
    const float nn = NAN;
    for (int tf = TFT_TF_NONE; tf <= TFT_TF_SQRT; tf++) {
        tft_op_denormalize(y, &nn, 1, 0.0f, 1.0f, (tft_transform)tf);
        if (tf != TFT_TF_LOGIT) // the clamp maps NaN to a bound (fmin/fmax semantics)
            assert_true(isnan(y[0]));
    }
}

// Masked softmax of an attention row: equal to masked_fill + softmax (the _ref), including the
// fallbacks (nothing visible: uniform; a mask_bias close to the scores: exp(mask_bias - max) != 0),
// and padding-invariant: the same visible keys with more masked keys around them, or the decoder
// segment further right (a longer batch encoder), give bitwise the same weights.
static void test_masked_softmax(void **state) {
    (void)state;
    tu_rng           rng        = tu_rng_new(17);
    static const int cases[][4] = {{1, 1, 1, 0},    {7, 3, 5, 2},     {13, 0, 6, 7},   {31, 31, 31, 0},
                                   {384, 288, 288, 95}, {384, 150, 288, 40}, {192, 1, 168, 24}, {9, 0, 9, 0}};
    const float      biases[]   = {-1e9f, -60.0f};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int bi = 0; bi < 2; bi++) {
            const int C = cases[k][0], ne = cases[k][1], d0 = cases[k][2], nv = cases[k][3];
            float    *x = tu_alloc((size_t)C);
            tu_fill(&rng, x, (size_t)C, -30.0f, 30.0f);
            float *xr = tu_dup(x, (size_t)C);
            const int z  = tft_op_masked_softmax(x, C, ne, d0, nv, biases[bi]);
            const int zr = tft_op_masked_softmax_ref(xr, C, ne, d0, nv, biases[bi]);
            TU_ASSERT_CLOSE("masked_softmax", x, xr, (size_t)C, ATOL_EW, RTOL_NORM);
            // the "masked keys are exactly 0" flag: 1 when it says so (-1e9, something visible)
            assert_int_equal(z, biases[bi] == -1e9f && ne + nv > 0);
            if (z)
                assert_int_equal(zr, 1);
            if (biases[bi] == -1e9f && ne + nv > 0) {
                for (int c = ne; c < d0; c++) assert_true(x[c] == 0.0f);
                for (int c = d0 + nv; c < C; c++) assert_true(x[c] == 0.0f);
            }
            free(x), free(xr);
        }
    // padding invariance: 20 encoder keys, 6 decoder keys, placed in rows of different widths
    float enc[20], dec[6];
    tu_fill(&rng, enc, 20, -8.0f, 8.0f);
    tu_fill(&rng, dec, 6, -8.0f, 8.0f);
    float a[64], b[64];
    for (int i = 0; i < 64; i++) a[i] = b[i] = 123.0f; // garbage in masked slots must not matter
    memcpy(a, enc, sizeof enc), memcpy(a + 20, dec, sizeof dec);      // Te = 20, Td = 6
    memcpy(b, enc, sizeof enc), memcpy(b + 37, dec, sizeof dec);      // Te = 37, Td = 27
    tft_op_masked_softmax(a, 26, 20, 20, 6, -1e9f);
    tft_op_masked_softmax(b, 64, 20, 37, 6, -1e9f);
    assert_memory_equal(a, b, 20 * sizeof(float));
    assert_memory_equal(a + 20, b + 37, 6 * sizeof(float));
}

// ---- across CPU paths (ops/isa.h) ------------------------------------------------------------
// The avx2 and avx512 GEMMs make the same FMAs in the same order (the AVX-512 tiles only hold more
// columns), so they agree bitwise; the elementwise, softmax, LayerNorm and attention builds of every
// path agree bitwise with the portable one (no FMA in them). Skipped (with a line) for a path the
// CPU lacks.
static void test_paths_agree(void **state) {
    (void)state;
    static const int shapes[][3] = {{1, 32, 128}, {2, 64, 256}, {3, 7, 13}, {5, 33, 65}, {9, 16, 48},
                                    {37, 300, 17}, {64, 128, 512}, {1, 16, 200}, {11, 40, 40}};
    const tft_isa    start       = tft_op_isa();
    int              compared    = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int R = shapes[s][0], Cin = shapes[s][1], Cout = shapes[s][2], ldx = Cin + 1, ldy = Cout + 3;
        tu_rng    rng = tu_rng_new(4000 + s);
        float    *x = tu_alloc((size_t)R * ldx), *W = tu_alloc((size_t)Cout * Cin), *b = tu_alloc(Cout);
        float    *P = tu_alloc(tft_op_pack_floats(Cin, Cout));
        float    *y[TFT_ISA_COUNT], *yu[TFT_ISA_COUNT], *e[TFT_ISA_COUNT], *sm[TFT_ISA_COUNT], *ln[TFT_ISA_COUNT];
        tu_fill(&rng, x, (size_t)R * ldx, -1.0f, 1.0f);
        tu_fill(&rng, W, (size_t)Cout * Cin, -0.5f, 0.5f);
        tu_fill(&rng, b, Cout, -1.0f, 1.0f);
        tft_op_pack(P, W, Cin, Cout);
        const size_t ny = (size_t)R * ldy, ne = (size_t)R * Cout;
        float       *lw = tu_alloc(Cout), *lb = tu_alloc(Cout);
        float       *g[TFT_ISA_COUNT], *ms[TFT_ISA_COUNT], *lh[TFT_ISA_COUNT], *lc[TFT_ISA_COUNT];
        const int    H = Cout / 4 > 0 ? Cout / 4 : 1; // LSTM width: 4H gate columns per row
        tu_fill(&rng, lw, Cout, 0.5f, 1.5f);
        tu_fill(&rng, lb, Cout, -0.5f, 0.5f);
        for (int i = 0; i < TFT_ISA_COUNT; i++) {
            y[i] = tu_alloc(ny), yu[i] = tu_alloc(ny), e[i] = tu_alloc(ne), sm[i] = tu_alloc(ne), ln[i] = tu_alloc(ne);
            g[i] = tu_alloc(ne), ms[i] = tu_alloc(ne), lh[i] = tu_alloc((size_t)R * H), lc[i] = tu_alloc((size_t)R * H);
            if (!tft_op_isa_supported((tft_isa)i))
                continue;
            assert_null(tft_op_isa_select(tft_op_isa_name((tft_isa)i)));
            assert_int_equal(tft_op_isa(), i);
            memset(y[i], 0, ny * 4), memset(yu[i], 0, ny * 4);
            tft_op_linear_packed(y[i], ldy, x, ldx, W, P, b, R, Cin, Cout, 0);
            tft_op_linear(yu[i], ldy, x, ldx, W, b, R, Cin, Cout, 0);
            for (int r = 0; r < R; r++) // the products, 4x, as inputs to the exp family
                for (int c = 0; c < Cout; c++)
                    e[i][(size_t)r * Cout + c] = 4.0f * y[TFT_ISA_PORTABLE][(size_t)r * ldy + c];
            memcpy(sm[i], e[i], ne * 4);
            tft_op_elu(e[i], ne);
            tft_op_softmax(sm[i], R, Cout);
            tft_op_add_layernorm(ln[i], sm[i], e[i], lw, lb, R, Cout, LN_EPS);
            memcpy(g[i], e[i], ne * 4), memcpy(ms[i], ln[i], ne * 4);
            tft_op_glu(g[i], g[i], R, Cout / 2);
            for (int r = 0; r < R; r++) // visible keys [0, C/3) and [C/2, C/2 + C/4)
                tft_op_masked_softmax(ms[i] + (size_t)r * Cout, Cout, Cout / 3, Cout / 2, Cout / 4, -1e9f);
            for (size_t k = 0; k < (size_t)R * H; k++)
                lc[i][k] = e[i][k];
            if (4 * H <= Cout) // gates from the products (xg) and the LayerNorm outputs (hg), both [R, 4H] at ld Cout
                for (int r = 0; r < R; r++)
                    tft_op_lstm_cell_add(lh[i] + (size_t)r * H, lc[i] + (size_t)r * H, y[TFT_ISA_PORTABLE] + (size_t)r * ldy,
                                         ln[i] + (size_t)r * Cout, 1, H);
        }
        for (int i = 1; i < TFT_ISA_COUNT; i++) {
            if (!tft_op_isa_supported((tft_isa)i))
                continue;
            TU_ASSERT_CLOSE("linear_packed vs portable", y[i], y[0], ny, 1e-5, tu_gemm_rtol(Cin));
            if (i > TFT_ISA_AVX2) {
                TU_ASSERT_CLOSE("linear_packed avx512 == avx2 (bitwise)", y[i], y[TFT_ISA_AVX2], ny, 0.0, 0.0);
                TU_ASSERT_CLOSE("linear avx512 == avx2 (bitwise)", yu[i], yu[TFT_ISA_AVX2], ny, 0.0, 0.0);
            }
            TU_ASSERT_CLOSE("elu == portable (bitwise)", e[i], e[0], ne, 0.0, 0.0);
            TU_ASSERT_CLOSE("softmax == portable (bitwise)", sm[i], sm[0], ne, 0.0, 0.0);
            TU_ASSERT_CLOSE("add_layernorm == portable (bitwise)", ln[i], ln[0], ne, 0.0, 0.0);
            TU_ASSERT_CLOSE("glu == portable (bitwise)", g[i], g[0], (size_t)R * (Cout / 2), 0.0, 0.0);
            TU_ASSERT_CLOSE("masked_softmax == portable (bitwise)", ms[i], ms[0], ne, 0.0, 0.0);
            TU_ASSERT_CLOSE("lstm_cell_add h == portable (bitwise)", lh[i], lh[0], (size_t)R * H, 0.0, 0.0);
            TU_ASSERT_CLOSE("lstm_cell_add c == portable (bitwise)", lc[i], lc[0], (size_t)R * H, 0.0, 0.0);
            compared++;
        }
        for (int i = 0; i < TFT_ISA_COUNT; i++)
            free(y[i]), free(yu[i]), free(e[i]), free(sm[i]), free(ln[i]), free(g[i]), free(ms[i]), free(lh[i]),
                free(lc[i]);
        free(x), free(W), free(b), free(P), free(lw), free(lb);
    }
    for (int i = 0; i < TFT_ISA_COUNT; i++)
        if (!tft_op_isa_supported((tft_isa)i))
            printf("[  SKIPPED ] paths_agree: path %s (this CPU lacks it)\n", tft_op_isa_name((tft_isa)i));
    tft_op_isa_select(tft_op_isa_name(start));
    (void)compared;
}

// TFT_ISA's names: auto and the supported paths are taken, an unknown name or a path the CPU lacks
// is refused with a message that says which (the ops then keep to a supported path).
static void test_isa_select(void **state) {
    (void)state;
    const tft_isa start = tft_op_isa();
    assert_null(tft_op_isa_select("auto"));
    assert_null(tft_op_isa_select(NULL));
    assert_null(tft_op_isa_select("portable"));
    assert_int_equal(tft_op_isa(), TFT_ISA_PORTABLE);
    const char *err = tft_op_isa_select("sse9");
    assert_non_null(err);
    assert_non_null(strstr(err, "TFT_ISA=sse9 is not a CPU path"));
    assert_non_null(tft_op_isa_error());
    assert_true(tft_op_isa_supported(tft_op_isa())); // fell back to a path the CPU has
    for (int i = 0; i < TFT_ISA_COUNT; i++) {
        err = tft_op_isa_select(tft_op_isa_name((tft_isa)i));
        if (tft_op_isa_supported((tft_isa)i)) {
            assert_null(err);
            assert_null(tft_op_isa_error());
            assert_int_equal(tft_op_isa(), i);
        } else {
            assert_non_null(err);
            assert_non_null(strstr(err, "lacks"));
            assert_true(tft_op_isa_supported(tft_op_isa()));
        }
    }
    tft_op_isa_select(tft_op_isa_name(start));
}

static int ops_group(const char *isa) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_random),
        cmocka_unit_test(test_linear_tft_shapes),
        cmocka_unit_test(test_linear_exact),
        cmocka_unit_test(test_linear_degenerate),
        cmocka_unit_test(test_linear_row_invariance),
        cmocka_unit_test(test_linear_packed),
        cmocka_unit_test(test_elu),
        cmocka_unit_test(test_glu),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_masked_softmax),
        cmocka_unit_test(test_transcendental_sweep),
        cmocka_unit_test(test_add_layernorm),
        cmocka_unit_test(test_layernorm_exact),
        cmocka_unit_test(test_interp_torch_tables),
        cmocka_unit_test(test_interp_exact),
        cmocka_unit_test(test_interp_random),
        cmocka_unit_test(test_resample_norm),
        cmocka_unit_test(test_interp_float_formula),
        cmocka_unit_test(test_layernorm_row_invariance),
        cmocka_unit_test(test_denormalize_random),
        cmocka_unit_test(test_denormalize_exact),
    };
    char name[48];
    snprintf(name, sizeof name, "ops[%s]", isa);
    return _cmocka_run_group_tests(name, tests, sizeof tests / sizeof tests[0], NULL, NULL);
}

int main(void) {
    const struct CMUnitTest across[] = {cmocka_unit_test(test_paths_agree), cmocka_unit_test(test_isa_select)};
    int failed = cmocka_run_group_tests_name("ops across paths", across, NULL, NULL) != 0;
    return failed + tu_for_each_isa("ops", ops_group) ? 1 : 0;
}
