// test_ops_blocks.c: ops/ gated blocks (GateAddNorm, GRN), inputs (embedding, prescale,
// variable-selection combine), the LSTM cell and the attention core: fast vs _ref on awkward and
// realistic shapes (fixed seeds), plus exact-semantics checks (masks, known cell values, bags).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
// cmocka needs the four headers above first
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/ops.h"
#include "testutil.h"

#define ATOL_EW 1e-6
#define RTOL_EW 1e-6
#define ATOL_NORM 1e-5
#define RTOL_NORM 1e-4

// Scratch for tft_op_attention (a series' K transposed), grown as needed, freed at exit.
static float *att_scratch(int Te, int Td, int NH, int D) {
    static float *buf;
    static size_t cap;
    size_t        n = tft_op_attention_scratch(Te, Td, NH, D);
    if (n > cap) {
        free(buf);
        buf = tu_alloc(n);
        cap = n;
    }
    return buf;
}

// ---- GateAddNorm --------------------------------------------------------------------------

static void gan_case(uint64_t seed, int R, int Cin, int C, int pad_skip, int alias) {
    tu_rng    rng    = tu_rng_new(seed);
    const int ldskip = alias ? C : C + pad_skip;
    float    *x = tu_alloc((size_t)R * Cin), *W = tu_alloc((size_t)2 * C * Cin), *b = tu_alloc((size_t)2 * C);
    float    *skip = tu_alloc((size_t)R * ldskip), *lw = tu_alloc(C), *lb = tu_alloc(C);
    float    *y = tu_alloc((size_t)R * C), *yr = tu_alloc((size_t)R * C), *scr = tu_alloc((size_t)R * 2 * C);
    tu_fill(&rng, x, (size_t)R * Cin, -1.0f, 1.0f);
    tu_fill(&rng, W, (size_t)2 * C * Cin, -0.4f, 0.4f);
    tu_fill(&rng, b, (size_t)2 * C, -0.2f, 0.2f);
    tu_fill(&rng, skip, (size_t)R * ldskip, -1.0f, 1.0f);
    tu_fill(&rng, lw, C, 0.5f, 1.5f);
    tu_fill(&rng, lb, C, -0.5f, 0.5f);
    tft_op_gate_add_norm_ref(yr, x, R, Cin, C, W, b, skip, ldskip, lw, lb, scr);
    if (alias) { // y aliases skip (ldskip == C)
        float *s2 = tu_dup(skip, (size_t)R * C);
        tft_op_gate_add_norm(s2, x, R, Cin, C, W, b, s2, C, lw, lb, scr);
        memcpy(y, s2, (size_t)R * C * sizeof(float));
        free(s2);
    } else {
        tft_op_gate_add_norm(y, x, R, Cin, C, W, b, skip, ldskip, lw, lb, scr);
    }
    char name[96];
    snprintf(name, sizeof name, "gate_add_norm R=%d Cin=%d C=%d ldskip=%d alias=%d", R, Cin, C, ldskip,
             alias);
    TU_ASSERT_CLOSE(name, y, yr, (size_t)R * C, ATOL_NORM, RTOL_NORM);
    if (!alias) { // GLU weights packed as at model load: bitwise the same output
        float *P = tu_alloc(tft_op_pack_floats(Cin, 2 * C));
        tft_op_pack(P, W, Cin, 2 * C);
        tft_op_gate_add_norm_p(yr, x, R, Cin, C, W, P, b, skip, ldskip, lw, lb, scr);
        TU_ASSERT_CLOSE("gate_add_norm packed == unpacked (bitwise)", yr, y, (size_t)R * C, 0.0, 0.0);
        free(P);
    }
    free(x), free(W), free(b), free(skip), free(lw), free(lb), free(y), free(yr), free(scr);
}

static void test_gate_add_norm(void **state) {
    (void)state;
    static const int shapes[][3] = {{1, 1, 1}, {3, 7, 13}, {13, 31, 7}, {31, 16, 16}, {5, 33, 65}, {101, 32, 32}};
    uint64_t         seed        = 200;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int v = 0; v < 3; v++)
            gan_case(seed++, shapes[s][0], shapes[s][1], shapes[s][2], v == 1 ? 3 : 0, v == 2);
    gan_case(seed++, 64 * 384, 32, 32, 0, 0);
    gan_case(seed++, 8 * 384, 128, 128, 0, 1);
}

// ---- GRN ----------------------------------------------------------------------------------

typedef struct grn_buf {
    tft_grn_w w;
    float    *p[11]; // owned parameter arrays
} grn_buf;

static grn_buf grn_make(tu_rng *rng, int i, int h, int o) {
    grn_buf g;
    memset(&g, 0, sizeof g);
    g.w.in = i, g.w.hid = h, g.w.out = o;
    const size_t sz[11] = {(size_t)h * i,     (size_t)h,     (size_t)h * h, (size_t)h,
                           (size_t)2 * o * h, (size_t)2 * o, (size_t)o,     (size_t)o,
                           (size_t)o,         (size_t)o,     (size_t)o};
    const int    n      = i != o ? 11 : 8;
    for (int k = 0; k < n; k++) {
        g.p[k]        = tu_alloc(sz[k]);
        const float a = k % 2 == 0 && k < 6 ? 1.0f / sqrtf((float)(k == 0 ? i : h)) : 0.3f;
        tu_fill(rng, g.p[k], sz[k], -a, a);
    }
    for (size_t c = 0; c < (size_t)o; c++)
        g.p[6][c] += 1.0f; // LayerNorm weights around 1
    if (i != o)
        for (size_t c = 0; c < (size_t)o; c++)
            g.p[9][c] += 1.0f;
    g.w.fc1_w = g.p[0], g.w.fc1_b = g.p[1], g.w.fc2_w = g.p[2], g.w.fc2_b = g.p[3];
    g.w.glu_w = g.p[4], g.w.glu_b = g.p[5], g.w.ln_w = g.p[6], g.w.ln_b = g.p[7];
    if (i != o)
        g.w.rs_mask = g.p[8], g.w.rs_w = g.p[9], g.w.rs_b = g.p[10];
    return g;
}

static void grn_free(grn_buf *g) {
    for (int k = 0; k < 11; k++)
        free(g->p[k]);
}

// ctx_group 0 = no context; padx > 0 feeds x as a column slice of a wider matrix.
static void grn_case(uint64_t seed, int R, int i, int h, int o, int ctx_group, int padx) {
    tu_rng       rng  = tu_rng_new(seed);
    grn_buf      g    = grn_make(&rng, i, h, o);
    const int    ldx  = i + padx;
    const int    nctx = ctx_group ? (R + ctx_group - 1) / ctx_group : 0;
    float       *x = tu_alloc((size_t)R * ldx), *ctx = ctx_group ? tu_alloc((size_t)nctx * h) : NULL;
    float       *y = tu_alloc((size_t)R * o), *yr = tu_alloc((size_t)R * o);
    const size_t ns  = tft_op_grn_scratch(R, &g.w);
    float       *scr = tu_alloc(ns), *scr2 = tu_alloc(ns);
    tu_fill(&rng, x, (size_t)R * ldx, -2.0f, 2.0f);
    if (ctx)
        tu_fill(&rng, ctx, (size_t)nctx * h, -1.0f, 1.0f);
    tft_op_grn(y, x, ldx, R, &g.w, ctx, ctx_group, scr);
    tft_op_grn_ref(yr, x, ldx, R, &g.w, ctx, ctx_group, scr2);
    char name[96];
    snprintf(name, sizeof name, "grn R=%d %d->%d->%d ctx_group=%d ldx=%d", R, i, h, o, ctx_group, ldx);
    TU_ASSERT_CLOSE(name, y, yr, (size_t)R * o, ATOL_NORM, RTOL_NORM);
    // weights packed as at model load: bitwise the same output
    float *p1 = tu_alloc(tft_op_pack_floats(i, h)), *p2 = tu_alloc(tft_op_pack_floats(h, h));
    float *p3 = tu_alloc(tft_op_pack_floats(h, 2 * o));
    tft_op_pack(p1, g.w.fc1_w, i, h), tft_op_pack(p2, g.w.fc2_w, h, h), tft_op_pack(p3, g.w.glu_w, h, 2 * o);
    tft_grn_w wp = g.w;
    wp.fc1_p = p1, wp.fc2_p = p2, wp.glu_p = p3;
    tft_op_grn(yr, x, ldx, R, &wp, ctx, ctx_group, scr);
    TU_ASSERT_CLOSE("grn packed == unpacked (bitwise)", yr, y, (size_t)R * o, 0.0, 0.0);
    free(p1), free(p2), free(p3);
    free(x), free(ctx), free(y), free(yr), free(scr), free(scr2);
    grn_free(&g);
}

static void test_grn(void **state) {
    (void)state;
    // {R, i, h, o, ctx_group, padx}
    static const int cases[][6] = {{1, 1, 1, 1, 0, 0},      {1, 1, 1, 16, 0, 0},  {3, 7, 7, 13, 1, 0},
                                   {13, 13, 13, 13, 0, 2},  {31, 8, 8, 16, 0, 0}, {7, 40, 7, 7, 7, 1},
                                   {29, 31, 16, 16, 29, 0}, {5, 16, 16, 3, 0, 0}, {12, 200, 9, 9, 4, 3}};
    uint64_t         seed       = 300;
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        const int *c = cases[s];
        grn_case(seed++, c[0], c[1], c[2], c[3], c[4], c[5]);
    }
}

// Realistic: static enrichment (H -> H -> H with a per-series context over 384 steps), a VSN
// single-variable GRN (8 -> 8 -> H, resample), the flattened GRN (I_total -> n).
static void test_grn_tft_shapes(void **state) {
    (void)state;
    grn_case(310, 64 * 384, 32, 32, 32, 384, 0);
    grn_case(311, 8 * 384, 128, 128, 128, 384, 0);
    grn_case(312, 64 * 384, 8, 8, 32, 0, 0);
    grn_case(313, 8 * 384, 56, 7, 7, 384, 0);
}

// GRN with i == o == h == 1 and hand-chosen weights: everything is computable by hand.
static void test_grn_exact(void **state) {
    (void)state;
    const float fc1_w = 2, fc1_b = -1, fc2_w = 1, fc2_b = 0, glu_w[2] = {1, 0}, glu_b[2] = {0, 0};
    const float ln_w = 3, ln_b = 0.5f; // 1-wide LayerNorm: (v - v) = 0 -> output = ln_b
    tft_grn_w   w    = {1,     1,     1,     &fc1_w, &fc1_b, &fc2_w, &fc2_b, glu_w, glu_b,
                        &ln_w, &ln_b, NULL,   NULL,   NULL,   NULL,   NULL,   NULL,  NULL};
    const float x[2] = {0.25f, 4.0f};
    float       y[2], scr[8];
    assert_true(tft_op_grn_scratch(2, &w) <= 8);
    tft_op_grn(y, x, 1, 2, &w, NULL, 0, scr);
    assert_true(y[0] == 0.5f && y[1] == 0.5f);
    tft_op_grn_ref(y, x, 1, 2, &w, NULL, 0, scr);
    assert_true(y[0] == 0.5f && y[1] == 0.5f);
}

// ---- inputs -------------------------------------------------------------------------------

static void test_vsn_combine(void **state) {
    (void)state;
    tu_rng           rng         = tu_rng_new(400);
    static const int shapes[][3] = {{1, 1, 1}, {3, 2, 7}, {13, 5, 31}, {64 * 384, 7, 32}, {8 * 384, 3, 128}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int R = shapes[s][0], n = shapes[s][1], H = shapes[s][2];
        float    *outs = tu_alloc((size_t)n * R * H), *wts = tu_alloc((size_t)R * n);
        float    *y = tu_alloc((size_t)R * H), *yr = tu_alloc((size_t)R * H);
        tu_fill(&rng, outs, (size_t)n * R * H, -3.0f, 3.0f);
        tu_fill(&rng, wts, (size_t)R * n, 0.0f, 1.0f);
        tft_op_vsn_combine(y, outs, wts, R, n, H);
        tft_op_vsn_combine_ref(yr, outs, wts, R, n, H);
        TU_ASSERT_CLOSE("vsn_combine", y, yr, (size_t)R * H, 1e-5, 1e-5);
        free(outs), free(wts), free(y), free(yr);
    }
    // hand-computed: R = 1, n = 2, H = 2
    const float outs[4] = {1, 2, 10, 20}, wts[2] = {0.25f, 0.75f};
    float       y[2];
    tft_op_vsn_combine(y, outs, wts, 1, 2, 2);
    assert_true(y[0] == 7.75f && y[1] == 15.5f);
}

static void test_embedding(void **state) {
    (void)state;
    tu_rng rng = tu_rng_new(401);
    // random: R rows of 5 index columns, sum over 3 of them (in a non-sorted order), dim 13, ldy 16
    const int     R = 64 * 24 + 5, ncls = 37, dim = 13, ldy = 16, stride = 5;
    const int32_t cols[3] = {4, 0, 2};
    float        *table = tu_alloc((size_t)ncls * dim), *y = tu_alloc((size_t)R * ldy),
          *yr    = tu_alloc((size_t)R * ldy);
    int32_t *idx = (int32_t *)malloc((size_t)R * stride * sizeof(int32_t));
    assert_non_null(idx);
    tu_fill(&rng, table, (size_t)ncls * dim, -1.0f, 1.0f);
    for (int k = 0; k < R * stride; k++)
        idx[k] = tu_int(&rng, ncls);
    for (int nc = 1; nc <= 3; nc++) {
        memset(y, 0, (size_t)R * ldy * sizeof(float));
        memset(yr, 0, (size_t)R * ldy * sizeof(float));
        tft_op_embedding(y, ldy, idx, stride, cols, nc, table, R, dim);
        tft_op_embedding_ref(yr, ldy, idx, stride, cols, nc, table, R, dim);
        TU_ASSERT_CLOSE("embedding", y, yr, (size_t)R * ldy, ATOL_EW, RTOL_EW);
        for (int r = 0; r < R; r++) // the padding columns dim..ldy-1 are untouched
            for (int c = dim; c < ldy; c++)
                assert_true(y[(size_t)r * ldy + c] == 0.0f);
    }
    // hand-computed bag of 2 (EmbeddingBag "sum"): columns 1 and 0 of each index row
    const float   tab[3 * 2] = {1, 2, 10, 20, 100, 200};
    const int32_t ix[2 * 2]  = {0, 2, 1, 1};
    const int32_t c2[2]      = {1, 0};
    float         e[4];
    tft_op_embedding(e, 2, ix, 2, c2, 2, tab, 2, 2);
    assert_true(e[0] == 101 && e[1] == 202 && e[2] == 20 && e[3] == 40);
    tft_op_embedding(e, 2, ix, 2, c2, 1, tab, 2, 2); // plain nn.Embedding of column 1
    assert_true(e[0] == 100 && e[1] == 200 && e[2] == 10 && e[3] == 20);
    free(table), free(y), free(yr), free(idx);
}

static void test_prescale(void **state) {
    (void)state;
    tu_rng           rng         = tu_rng_new(402);
    static const int shapes[][3] = {{1, 1, 1}, {7, 3, 13}, {64 * 384, 9, 8}, {31, 1, 32}}; // R, ldx, a
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int R = shapes[s][0], ldx = shapes[s][1], a = shapes[s][2], ldy = a + 2;
        float    *x = tu_alloc((size_t)R * ldx), *w = tu_alloc(a), *b = tu_alloc(a);
        float    *y = tu_alloc((size_t)R * ldy), *yr = tu_alloc((size_t)R * ldy);
        tu_fill(&rng, x, (size_t)R * ldx, -5.0f, 5.0f);
        tu_fill(&rng, w, a, -1.0f, 1.0f);
        tu_fill(&rng, b, a, -1.0f, 1.0f);
        memset(y, 0, (size_t)R * ldy * sizeof(float));
        memset(yr, 0, (size_t)R * ldy * sizeof(float));
        tft_op_prescale(y, ldy, x, ldx, w, b, R, a);
        tft_op_prescale_ref(yr, ldy, x, ldx, w, b, R, a);
        TU_ASSERT_CLOSE("prescale", y, yr, (size_t)R * ldy, ATOL_EW, RTOL_EW);
        free(x), free(w), free(b), free(y), free(yr);
    }
    const float x[4] = {2, 99, -1, 99}, w[2] = {0.5f, 3}, b[2] = {1, -1};
    float       y[4];
    tft_op_prescale(y, 2, x, 2, w, b, 2, 2);
    assert_true(y[0] == 2 && y[1] == 5 && y[2] == 0.5f && y[3] == -4);
}

// ---- LSTM cell ----------------------------------------------------------------------------

static void test_lstm_cell(void **state) {
    (void)state;
    tu_rng           rng         = tu_rng_new(500);
    static const int shapes[][2] = {{1, 1}, {3, 7}, {13, 31}, {64, 32}, {64, 128}, {7, 160}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int n = shapes[s][0], H = shapes[s][1];
        float    *g = tu_alloc((size_t)n * 4 * H), *h = tu_alloc((size_t)n * H), *c = tu_alloc((size_t)n * H);
        tu_fill(&rng, h, (size_t)n * H, -1.0f, 1.0f);
        tu_fill(&rng, c, (size_t)n * H, -2.0f, 2.0f);
        float *hr = tu_dup(h, (size_t)n * H), *cr = tu_dup(c, (size_t)n * H);
        for (int step = 0; step < 5; step++) { // a few steps so the state feeds back
            tu_fill(&rng, g, (size_t)n * 4 * H, -6.0f, 6.0f);
            tft_op_lstm_cell(h, c, g, n, H);
            tft_op_lstm_cell_ref(hr, cr, g, n, H);
        }
        TU_ASSERT_CLOSE("lstm_cell c", c, cr, (size_t)n * H, ATOL_EW, 1e-5);
        TU_ASSERT_CLOSE("lstm_cell h", h, hr, (size_t)n * H, ATOL_EW, 1e-5);
        free(g), free(h), free(c), free(hr), free(cr);
    }
}

// The cell with the gate sum fused (xg + hg): vs its _ref (same tolerance as the cell), and bitwise
// equal to the separate float add followed by tft_op_lstm_cell.
static void test_lstm_cell_add(void **state) {
    (void)state;
    tu_rng           rng         = tu_rng_new(510);
    static const int shapes[][2] = {{1, 1}, {3, 7}, {13, 31}, {1, 32}, {64, 32}, {7, 160}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int n = shapes[s][0], H = shapes[s][1];
        float    *xg = tu_alloc((size_t)n * 4 * H), *hg = tu_alloc((size_t)n * 4 * H), *g = tu_alloc((size_t)n * 4 * H);
        float    *h = tu_alloc((size_t)n * H), *c = tu_alloc((size_t)n * H);
        tu_fill(&rng, h, (size_t)n * H, -1.0f, 1.0f);
        tu_fill(&rng, c, (size_t)n * H, -2.0f, 2.0f);
        float *hr = tu_dup(h, (size_t)n * H), *cr = tu_dup(c, (size_t)n * H);
        float *hs = tu_dup(h, (size_t)n * H), *cs = tu_dup(c, (size_t)n * H);
        for (int step = 0; step < 5; step++) {
            tu_fill(&rng, xg, (size_t)n * 4 * H, -4.0f, 4.0f);
            tu_fill(&rng, hg, (size_t)n * 4 * H, -3.0f, 3.0f);
            tft_op_lstm_cell_add(h, c, xg, hg, n, H);
            tft_op_lstm_cell_add_ref(hr, cr, xg, hg, n, H);
            for (size_t k = 0; k < (size_t)n * 4 * H; k++)
                g[k] = xg[k] + hg[k];
            tft_op_lstm_cell(hs, cs, g, n, H);
        }
        TU_ASSERT_CLOSE("lstm_cell_add c", c, cr, (size_t)n * H, ATOL_EW, 1e-5);
        TU_ASSERT_CLOSE("lstm_cell_add h", h, hr, (size_t)n * H, ATOL_EW, 1e-5);
        TU_ASSERT_CLOSE("lstm_cell_add == add + lstm_cell (bitwise) c", c, cs, (size_t)n * H, 0.0, 0.0);
        TU_ASSERT_CLOSE("lstm_cell_add == add + lstm_cell (bitwise) h", h, hs, (size_t)n * H, 0.0, 0.0);
        free(xg), free(hg), free(g), free(h), free(c), free(hr), free(cr), free(hs), free(cs);
    }
}

// Known values: zero pre-activations give i = f = o = 1/2, c~ = 0, so c = c0/2, h = tanh(c)/2;
// saturated gates (i = 1, f = 0, c~ = 1) give c = 1 whatever c0.
static void test_lstm_cell_exact(void **state) {
    (void)state;
    float g[2 * 4 * 1] = {0, 0, 0, 0, 100, -100, 100, 0}; // n = 2, H = 1
    float h[2] = {5, 5}, c[2] = {2, -7};
    tft_op_lstm_cell(h, c, g, 2, 1);
    assert_true(c[0] == 1.0f && fabsf(h[0] - 0.5f * tanhf(1.0f)) <= 1e-7f);
    assert_true(c[1] == 1.0f && fabsf(h[1] - 0.5f * tanhf(1.0f)) <= 1e-7f);
    float hr[2] = {5, 5}, cr[2] = {2, -7};
    tft_op_lstm_cell_ref(hr, cr, g, 2, 1);
    assert_true(cr[0] == 1.0f && cr[1] == 1.0f && fabsf(hr[0] - h[0]) <= 1e-7f);
}

// ---- attention ----------------------------------------------------------------------------

typedef struct attn_bufs {
    float   *Q, *K, *V, *out, *attn, *outr, *attnr;
    int32_t *enc, *dec;
} attn_bufs;

static attn_bufs attn_alloc(tu_rng *rng, int B, int Te, int Td, int NH, int D) {
    const int T = Te + Td;
    attn_bufs a;
    a.Q     = tu_alloc((size_t)B * Td * NH * D);
    a.K     = tu_alloc((size_t)B * T * NH * D);
    a.V     = tu_alloc((size_t)B * T * D);
    a.out   = tu_alloc((size_t)B * Td * D);
    a.outr  = tu_alloc((size_t)B * Td * D);
    a.attn  = tu_alloc((size_t)B * Td * NH * T);
    a.attnr = tu_alloc((size_t)B * Td * NH * T);
    a.enc   = (int32_t *)malloc((size_t)(B ? B : 1) * sizeof(int32_t));
    a.dec   = (int32_t *)malloc((size_t)(B ? B : 1) * sizeof(int32_t));
    assert_non_null(a.enc);
    assert_non_null(a.dec);
    tu_fill(rng, a.Q, (size_t)B * Td * NH * D, -1.5f, 1.5f);
    tu_fill(rng, a.K, (size_t)B * T * NH * D, -1.5f, 1.5f);
    tu_fill(rng, a.V, (size_t)B * T * D, -1.0f, 1.0f);
    // poison the outputs: every element must be written
    for (size_t i = 0; i < (size_t)B * Td * NH * T; i++)
        a.attn[i] = a.attnr[i] = NAN;
    for (size_t i = 0; i < (size_t)B * Td * D; i++)
        a.out[i] = a.outr[i] = NAN;
    for (int b = 0; b < B; b++) { // series 0 full length, others random (0 allowed)
        a.enc[b] = b == 0 ? Te : tu_int(rng, Te + 1);
        a.dec[b] = b == 0 ? Td : 1 + tu_int(rng, Td);
    }
    return a;
}

static void attn_free(attn_bufs *a) {
    free(a->Q), free(a->K), free(a->V), free(a->out), free(a->attn), free(a->outr), free(a->attnr);
    free(a->enc), free(a->dec);
}

static void attn_case(uint64_t seed, int B, int Te, int Td, int NH, int D, int causal) {
    tu_rng    rng = tu_rng_new(seed);
    attn_bufs a   = attn_alloc(&rng, B, Te, Td, NH, D);
    tft_op_attention(a.out, a.attn, a.Q, a.K, a.V, a.enc, a.dec, B, Te, Td, NH, D, causal, -1e9f,
                     att_scratch(Te, Td, NH, D));
    tft_op_attention_ref(a.outr, a.attnr, a.Q, a.K, a.V, a.enc, a.dec, B, Te, Td, NH, D, causal, -1e9f);
    char name[96];
    snprintf(name, sizeof name, "attention B=%d Te=%d Td=%d NH=%d D=%d causal=%d", B, Te, Td, NH, D, causal);
    const size_t na = (size_t)B * Td * NH * (Te + Td), no = (size_t)B * Td * D;
    TU_ASSERT_CLOSE(name, a.attn, a.attnr, na, ATOL_EW, 1e-4);
    TU_ASSERT_CLOSE(name, a.out, a.outr, no, ATOL_NORM, RTOL_NORM);
    // masked keys get exactly zero weight in both, unless the whole row is masked
    const int T = Te + Td;
    for (int b = 0; b < B; b++)
        for (int q = 0; q < Td; q++) {
            const int fully = a.enc[b] == 0 && (causal ? q == 0 : a.dec[b] == 0);
            for (int h = 0; h < NH; h++)
                for (int j = 0; j < T; j++) {
                    const int   masked = j < Te ? j >= a.enc[b] : (causal ? j - Te >= q : j - Te >= a.dec[b]);
                    const float w      = a.attn[(((size_t)b * Td + q) * NH + h) * T + j];
                    if (fully)
                        assert_true(fabsf(w - 1.0f / (float)T) <= 1e-7f);
                    else if (masked)
                        assert_true(w == 0.0f && a.attnr[(((size_t)b * Td + q) * NH + h) * T + j] == 0.0f);
                }
        }
    // the queries in uneven ranges (as the threads of a one-series call run them): bitwise the same
    for (size_t i = 0; i < na; i++)
        a.attnr[i] = NAN;
    for (size_t i = 0; i < no; i++)
        a.outr[i] = NAN;
    for (int q0 = 0, step = 1; q0 < Td; q0 += step, step = step * 2 + 1)
        tft_op_attention_q(a.outr, a.attnr, a.Q, a.K, a.V, a.enc, a.dec, B, Te, Td, NH, D, causal, -1e9f,
                           att_scratch(Te, Td, NH, D), q0, q0 + step);
    TU_ASSERT_CLOSE("attention query ranges == whole (bitwise) attn", a.attnr, a.attn, na, 0.0, 0.0);
    TU_ASSERT_CLOSE("attention query ranges == whole (bitwise) out", a.outr, a.out, no, 0.0, 0.0);
    attn_free(&a);
}

static void test_attention_random(void **state) {
    (void)state;
    // {B, Te, Td, NH, D}
    static const int cases[][5] = {{1, 1, 1, 1, 1},  {1, 0, 3, 1, 4},   {3, 7, 5, 2, 4},
                                   {2, 13, 7, 3, 5}, {5, 31, 1, 4, 8},  {4, 0, 13, 4, 3},
                                   {7, 24, 6, 4, 4}, {3, 1, 31, 1, 33}, {8, 168, 24, 4, 32}};
    uint64_t         seed       = 600;
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++)
        for (int causal = 0; causal < 2; causal++) {
            const int *c = cases[s];
            attn_case(seed++, c[0], c[1], c[2], c[3], c[4], causal);
        }
}

// Batch invariance: a series gives bit-identical weights and outputs alone (Te = its own encoder
// length, Td = its own decoder length) or padded inside a batch with longer series.
static void test_attention_batch_invariance(void **state) {
    (void)state;
    const int B = 3, Te = 11, Td = 6, NH = 3, D = 10, T = Te + Td, HD = NH * D;
    for (int causal = 0; causal < 2; causal++) {
        tu_rng    rng = tu_rng_new(650 + causal);
        attn_bufs a   = attn_alloc(&rng, B, Te, Td, NH, D);
        a.enc[1] = 7, a.dec[1] = 4; // series 1 is shorter on both sides
        tft_op_attention(a.out, a.attn, a.Q, a.K, a.V, a.enc, a.dec, B, Te, Td, NH, D, causal, -1e9f,
                     att_scratch(Te, Td, NH, D));
        // series 1 alone: keys = its 7 encoder steps then its 4 decoder steps; queries = its 4
        const int te = 7, td = 4, t1 = te + td;
        float    *Q1 = tu_alloc((size_t)td * HD), *K1 = tu_alloc((size_t)t1 * HD),
              *V1 = tu_alloc((size_t)t1 * D);
        float *o1 = tu_alloc((size_t)td * D), *w1 = tu_alloc((size_t)td * NH * t1);
        memcpy(Q1, a.Q + (size_t)1 * Td * HD, (size_t)td * HD * sizeof(float));
        for (int j = 0; j < t1; j++) { // encoder j -> j, decoder te + k -> Te + k
            const int src = j < te ? j : Te + (j - te);
            memcpy(K1 + (size_t)j * HD, a.K + ((size_t)1 * T + src) * HD, (size_t)HD * sizeof(float));
            memcpy(V1 + (size_t)j * D, a.V + ((size_t)1 * T + src) * D, (size_t)D * sizeof(float));
        }
        const int32_t e1 = te, d1 = td;
        tft_op_attention(o1, w1, Q1, K1, V1, &e1, &d1, 1, te, td, NH, D, causal, -1e9f, att_scratch(te, td, NH, D));
        for (int q = 0; q < td; q++) {
            for (int d = 0; d < D; d++)
                assert_true(o1[q * D + d] == a.out[((size_t)1 * Td + q) * D + d]);
            for (int h = 0; h < NH; h++)
                for (int j = 0; j < t1; j++) {
                    const int src = j < te ? j : Te + (j - te);
                    assert_true(w1[((size_t)q * NH + h) * t1 + j] ==
                                a.attn[(((size_t)1 * Td + q) * NH + h) * T + src]);
                }
        }
        free(Q1), free(K1), free(V1), free(o1), free(w1);
        attn_free(&a);
    }
}

// Hand-computed masks with NH = 1, D = 1, Te = 2, Td = 2, all scores 0 where unmasked:
// every unmasked key gets 1/(number unmasked), masked ones exactly 0.
static void test_attention_masks(void **state) {
    (void)state;
    const float Q[2] = {0, 0}, K[4] = {0, 0, 0, 0}, V[4] = {1, 2, 4, 8};
    float       out[2], attn[2 * 4];
    // causal, enc_len 1: q0 sees {e0}; q1 sees {e0, d0}
    int32_t enc = 1, dec = 2;
    tft_op_attention(out, attn, Q, K, V, &enc, &dec, 1, 2, 2, 1, 1, 1, -1e9f, att_scratch(2, 2, 1, 1));
    const float want_c[8] = {1, 0, 0, 0, 0.5f, 0, 0.5f, 0};
    for (int i = 0; i < 8; i++)
        assert_true(attn[i] == want_c[i]);
    assert_true(out[0] == 1.0f && out[1] == 2.5f);
    // non-causal, dec_len 1: both queries see {e0, d0}
    dec = 1;
    tft_op_attention(out, attn, Q, K, V, &enc, &dec, 1, 2, 2, 1, 1, 0, -1e9f, att_scratch(2, 2, 1, 1));
    const float want_n[8] = {0.5f, 0, 0.5f, 0, 0.5f, 0, 0.5f, 0};
    for (int i = 0; i < 8; i++)
        assert_true(attn[i] == want_n[i]);
    assert_true(out[0] == 2.5f && out[1] == 2.5f);
    // enc_len 0, causal: query 0 is fully masked -> uniform over all 4 keys, padding included
    enc = 0, dec = 2;
    tft_op_attention(out, attn, Q, K, V, &enc, &dec, 1, 2, 2, 1, 1, 1, -1e9f, att_scratch(2, 2, 1, 1));
    for (int j = 0; j < 4; j++)
        assert_true(attn[j] == 0.25f);
    assert_true(out[0] == 3.75f);
    const float want_q1[4] = {0, 0, 1, 0}; // query 1 sees d0 only
    for (int j = 0; j < 4; j++)
        assert_true(attn[4 + j] == want_q1[j]);
    assert_true(out[1] == 4.0f);
    tft_op_attention_ref(out, attn, Q, K, V, &enc, &dec, 1, 2, 2, 1, 1, 1, -1e9f);
    for (int j = 0; j < 4; j++)
        assert_true(attn[j] == 0.25f && attn[4 + j] == want_q1[j]);
    // mask_bias = -inf on a fully masked row gives NaN (as torch)
    tft_op_attention(out, attn, Q, K, V, &enc, &dec, 1, 2, 2, 1, 1, 1, -INFINITY, att_scratch(2, 2, 1, 1));
    assert_true(isnan(attn[0]) && isnan(out[0]) && attn[6] == 1.0f);
}

// Scores are divided by sqrt(D) and heads averaged: NH = 2, D = 4, one key pair with known
// scores, compared with a direct double computation.
static void test_attention_scale_heads(void **state) {
    (void)state;
    // B 1, Te 2, Td 1 (causal: query 0 sees e0, e1 only). Head 0 scores (2, 0)/2, head 1 (0, 4)/2.
    const float Q[8]  = {1, 1, 1, 1, 1, 1, 1, 1};
    const float K[24] = {0.5f, 0.5f, 0.5f, 0.5f, 0, 0, 0, 0,  // key e0: head 0, head 1
                         0,    0,    0,    0,    1, 1, 1, 1,  // key e1
                         9,    9,    9,    9,    9, 9, 9, 9}; // key d0 (masked)
    const float V[12] = {1, 0, 0, 0, 0, 1, 0, 0, 5, 5, 5, 5};
    int32_t     enc = 2, dec = 1;
    float       out[4], attn[6];
    tft_op_attention(out, attn, Q, K, V, &enc, &dec, 1, 2, 1, 2, 4, 1, -1e9f, att_scratch(2, 1, 2, 4));
    const double a0 = 1.0 / (1.0 + exp(-1.0)), a1 = 1.0 / (1.0 + exp(2.0)); // softmax(1, 0), softmax(0, 2)
    assert_true(fabs(attn[0] - a0) <= 1e-7 && fabs(attn[1] - (1 - a0)) <= 1e-7 && attn[2] == 0.0f);
    assert_true(fabs(attn[3] - a1) <= 1e-7 && fabs(attn[4] - (1 - a1)) <= 1e-7 && attn[5] == 0.0f);
    assert_true(fabs(out[0] - (a0 + a1) / 2) <= 1e-7 && fabs(out[1] - (2 - a0 - a1) / 2) <= 1e-7);
    assert_true(out[2] == 0.0f && out[3] == 0.0f);
}

// Attention on every CPU path (ops/isa.h): outputs and weights bitwise those of the portable build
// (no FMA in it; the AVX-512 build scores 16 keys per vector, the same operations per key).
static void test_attention_paths_agree(void **state) {
    (void)state;
    const int B = 3, Te = 37, Td = 11, T = Te + Td, NH = 4, D = 8, HD = NH * D;
    const int32_t enc_len[3] = {37, 20, 1}, dec_len[3] = {11, 7, 11};
    tu_rng    rng = tu_rng_new(5150);
    float    *Q = tu_alloc((size_t)B * Td * HD), *K = tu_alloc((size_t)B * T * HD), *V = tu_alloc((size_t)B * T * D);
    float    *kt = tu_alloc(tft_op_attention_scratch(Te, Td, NH, D));
    tu_fill(&rng, Q, (size_t)B * Td * HD, -2.0f, 2.0f);
    tu_fill(&rng, K, (size_t)B * T * HD, -2.0f, 2.0f);
    tu_fill(&rng, V, (size_t)B * T * D, -1.0f, 1.0f);
    const tft_isa start = tft_op_isa();
    const size_t  no = (size_t)B * Td * D, na = (size_t)B * Td * NH * T;
    float        *out[TFT_ISA_COUNT], *attn[TFT_ISA_COUNT];
    for (int causal = 0; causal < 2; causal++) {
        for (int i = 0; i < TFT_ISA_COUNT; i++) {
            out[i] = tu_alloc(no), attn[i] = tu_alloc(na);
            if (!tft_op_isa_supported((tft_isa)i))
                continue;
            assert_null(tft_op_isa_select(tft_op_isa_name((tft_isa)i)));
            tft_op_attention(out[i], attn[i], Q, K, V, enc_len, dec_len, B, Te, Td, NH, D, causal, -1e9f, kt);
        }
        for (int i = 1; i < TFT_ISA_COUNT; i++)
            if (tft_op_isa_supported((tft_isa)i)) {
                TU_ASSERT_CLOSE("attention out == portable (bitwise)", out[i], out[0], no, 0.0, 0.0);
                TU_ASSERT_CLOSE("attention weights == portable (bitwise)", attn[i], attn[0], na, 0.0, 0.0);
            } else {
                printf("[  SKIPPED ] attention_paths_agree: path %s (this CPU lacks it)\n", tft_op_isa_name((tft_isa)i));
            }
        for (int i = 0; i < TFT_ISA_COUNT; i++)
            free(out[i]), free(attn[i]);
    }
    tft_op_isa_select(tft_op_isa_name(start));
    free(Q), free(K), free(V), free(kt);
}

static int blocks_group(const char *isa) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gate_add_norm),
        cmocka_unit_test(test_grn),
        cmocka_unit_test(test_grn_tft_shapes),
        cmocka_unit_test(test_grn_exact),
        cmocka_unit_test(test_vsn_combine),
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_prescale),
        cmocka_unit_test(test_lstm_cell),
        cmocka_unit_test(test_lstm_cell_exact),
        cmocka_unit_test(test_lstm_cell_add),
        cmocka_unit_test(test_attention_random),
        cmocka_unit_test(test_attention_masks),
        cmocka_unit_test(test_attention_scale_heads),
        cmocka_unit_test(test_attention_batch_invariance),
    };
    char name[48];
    snprintf(name, sizeof name, "ops_blocks[%s]", isa);
    return _cmocka_run_group_tests(name, tests, sizeof tests / sizeof tests[0], NULL, NULL);
}

int main(void) {
    const struct CMUnitTest across[] = {cmocka_unit_test(test_attention_paths_agree)};
    int failed = cmocka_run_group_tests_name("ops_blocks across paths", across, NULL, NULL) != 0;
    return failed + tu_for_each_isa("ops_blocks", blocks_group) ? 1 : 0;
}
