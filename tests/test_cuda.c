// test_cuda.c: every cuda/ kernel against its CPU `_ref` twin (ops/ops.h) on random, odd and
// realistic shapes with mask/length edge cases; pass = NMSE <= 1e-7 (fp32, STYLE §B.6) and no
// non-finite value where the reference is finite. Plain C: the CUDA runtime is reached only
// through cuda/ops_cuda.h's tft_cuda_* helpers, so this file builds with gcc in every config.
// No device (or CUDA=0): one "test_cuda: SKIPPED: ..." line, then a cmocka test that skip()s,
// exit status 77. It never passes vacuously: with a device every case must run.
// Built twice: test_cuda against the CUDA runtime (nvcc objects, a real device), and test_cuda_simt
// (-DTFT_SIMT) against the SIMT harness (tests/simt/: the same cuda/*.cu source compiled by g++ and
// run on CPU fibers), which always has its one "device", so `make test` runs every case everywhere.
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
#ifdef TFT_USE_CUDA
#include "../cuda/ops_cuda.h"
#endif

#ifdef TFT_USE_CUDA
#define NMSE_MAX 1e-7
#define LN_EPS 1e-5f

// ---- helpers ----------------------------------------------------------------------------------
#define CU_OK(call)                                                                                          \
    do {                                                                                                     \
        const tft_status st_ = (call);                                                                       \
        if (st_ != TFT_OK)                                                                                   \
            fail_msg("%s: %s: %s", #call, tft_status_str(st_), tft_last_error());                            \
    } while (0)

static void *dev_put(const void *host, size_t bytes) {
    void *d = NULL;
    CU_OK(tft_cuda_malloc(&d, bytes ? bytes : 4));
    CU_OK(tft_cuda_upload(d, host, bytes));
    return d;
}
static float *dev_f(const float *host, size_t n) {
    return (float *)dev_put(host, n * sizeof(float));
}
static void dev_get(float *host, const void *d, size_t n) {
    CU_OK(tft_cuda_sync(NULL));
    CU_OK(tft_cuda_download(host, d, n * sizeof(float)));
}

// Σ(got-ref)² / Σ ref² (absolute when the reference is all zero); a non-finite mismatch fails.
static void check_nmse(const char *name, const float *got, const float *ref, size_t n) {
    double num = 0.0, den = 0.0, mx = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(ref[i]) || !isfinite(got[i])) {
            if (!(isnan(ref[i]) && isnan(got[i])) && got[i] != ref[i])
                fail_msg("%s: element %zu: got %.9g ref %.9g", name, i, (double)got[i], (double)ref[i]);
            continue;
        }
        const double d = (double)got[i] - (double)ref[i];
        num += d * d, den += (double)ref[i] * ref[i];
        mx = fabs(d) > mx ? fabs(d) : mx;
    }
    const double nmse = den > 0.0 ? num / den : num;
    const char  *v    = getenv("TFT_TEST_VERBOSE");
    if (v && *v && *v != '0')
        printf("check name=%s n=%zu nmse=%.3e max_abs=%.3e\n", name, n, nmse, mx);
    if (!(nmse <= NMSE_MAX))
        fail_msg("%s: n=%zu NMSE %.3e > %.0e (max_abs %.3e)", name, n, nmse, NMSE_MAX, mx);
}

// ---- elementwise ------------------------------------------------------------------------------
static void test_elementwise(void **state) {
    (void)state;
    static const int shapes[][2] = {{1, 1}, {3, 7}, {64, 160}, {5, 1023}, {37, 33}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int R = shapes[s][0], C = shapes[s][1];
        tu_rng    rng = tu_rng_new(100 + s);
        size_t    n   = (size_t)R * C;
        // ELU
        float *x = tu_alloc(n), *got = tu_alloc(2 * n), *ref = tu_alloc(2 * n);
        tu_fill(&rng, x, n, -4.0f, 4.0f);
        float *dx = dev_f(x, n);
        CU_OK(tft_cuda_elu(dx, n, NULL));
        dev_get(got, dx, n);
        memcpy(ref, x, n * sizeof(float));
        tft_op_elu_ref(ref, n);
        check_nmse("elu", got, ref, n);
        // context add + ELU, ctx_group 3, strided u (ld C + 2)
        const int ldu = C + 2, g = 3, nc = (R + g - 1) / g;
        float    *u = tu_alloc((size_t)R * ldu), *ctx = tu_alloc((size_t)nc * C);
        tu_fill(&rng, u, (size_t)R * ldu, -3.0f, 3.0f);
        tu_fill(&rng, ctx, (size_t)nc * C, -1.0f, 1.0f);
        float *du = dev_f(u, (size_t)R * ldu), *dctx = dev_f(ctx, (size_t)nc * C);
        CU_OK(tft_cuda_add_ctx_elu(du, ldu, dctx, g, R, C, NULL));
        float *ug = tu_alloc((size_t)R * ldu);
        dev_get(ug, du, (size_t)R * ldu);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) {
                float v = u[(size_t)r * ldu + c] + ctx[(size_t)(r / g) * C + c];
                tft_op_elu_ref(&v, 1);
                ref[(size_t)r * C + c] = v;
                got[(size_t)r * C + c] = ug[(size_t)r * ldu + c];
            }
        check_nmse("add_ctx_elu", got, ref, n);
        // GLU z [R, 2C] -> y [R, C]
        float *z = tu_alloc(2 * n);
        tu_fill(&rng, z, 2 * n, -5.0f, 5.0f);
        float *dz = dev_f(z, 2 * n), *dy = NULL;
        CU_OK(tft_cuda_malloc((void **)&dy, n * sizeof(float)));
        CU_OK(tft_cuda_glu(dy, dz, R, C, NULL));
        dev_get(got, dy, n);
        tft_op_glu_ref(ref, z, R, C);
        check_nmse("glu", got, ref, n);
        // LSTM cell (R rows, H = C) and the fused gate sum
        float *gates = tu_alloc(4 * n), *hg = tu_alloc(4 * n), *h = tu_alloc(n), *c0 = tu_alloc(n);
        tu_fill(&rng, gates, 4 * n, -3.0f, 3.0f);
        tu_fill(&rng, hg, 4 * n, -3.0f, 3.0f);
        tu_fill(&rng, h, n, -1.0f, 1.0f);
        tu_fill(&rng, c0, n, -2.0f, 2.0f);
        for (int add = 0; add < 2; add++) {
            float *dg = dev_f(gates, 4 * n), *dhg = dev_f(hg, 4 * n), *dh = dev_f(h, n), *dc = dev_f(c0, n);
            if (add)
                CU_OK(tft_cuda_lstm_cell_add(dh, dc, dg, dhg, R, C, NULL));
            else
                CU_OK(tft_cuda_lstm_cell(dh, dc, dg, R, C, NULL));
            dev_get(got, dh, n);
            dev_get(got + n, dc, n);
            memcpy(ref, h, n * sizeof(float));
            memcpy(ref + n, c0, n * sizeof(float));
            if (add)
                tft_op_lstm_cell_add_ref(ref, ref + n, gates, hg, R, C);
            else
                tft_op_lstm_cell_ref(ref, ref + n, gates, R, C);
            check_nmse(add ? "lstm_cell_add h,c" : "lstm_cell h,c", got, ref, 2 * n);
            tft_cuda_free(dg), tft_cuda_free(dhg), tft_cuda_free(dh), tft_cuda_free(dc);
        }
        // VSN combine: nv variables
        const int nv = 1 + (int)(s % 4) * 3;
        float    *outs = tu_alloc((size_t)nv * n), *wts = tu_alloc((size_t)R * nv);
        tu_fill(&rng, outs, (size_t)nv * n, -2.0f, 2.0f);
        tu_fill(&rng, wts, (size_t)R * nv, 0.0f, 1.0f);
        float *douts = dev_f(outs, (size_t)nv * n), *dwts = dev_f(wts, (size_t)R * nv);
        CU_OK(tft_cuda_vsn_combine(dy, douts, dwts, R, nv, C, NULL));
        dev_get(got, dy, n);
        tft_op_vsn_combine_ref(ref, outs, wts, R, nv, C);
        check_nmse("vsn_combine", got, ref, n);
        // de-normalization, every transformation, in place on the device
        for (int tf = TFT_TF_NONE; tf <= TFT_TF_SQRT; tf++) {
            float *dd = dev_f(x, n);
            CU_OK(tft_cuda_denormalize(dd, dd, n, 0.7f, 1.9f, (tft_transform)tf, NULL));
            dev_get(got, dd, n);
            tft_op_denormalize_ref(ref, x, n, 0.7f, 1.9f, (tft_transform)tf);
            char name[32];
            snprintf(name, sizeof name, "denormalize tf=%d", tf);
            check_nmse(name, got, ref, n);
            tft_cuda_free(dd);
        }
        tft_cuda_free(dx), tft_cuda_free(du), tft_cuda_free(dctx), tft_cuda_free(dz), tft_cuda_free(dy);
        tft_cuda_free(douts), tft_cuda_free(dwts);
        free(x), free(got), free(ref), free(u), free(ctx), free(ug), free(z), free(gates), free(hg), free(h);
        free(c0), free(outs), free(wts);
    }
}

// ---- GEMM, LayerNorm, GateAddNorm -------------------------------------------------------------
static void test_linear_norm(void **state) {
    (void)state;
    static const int shapes[][3] = {{1, 1, 1}, {3, 7, 5}, {64, 160, 160}, {5, 33, 1023}, {97, 16, 64}};
    tft_cuda_blas   *blas        = NULL;
    CU_OK(tft_cuda_blas_new(&blas, NULL));
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int R = shapes[s][0], Cin = shapes[s][1], C = shapes[s][2];
        tu_rng    rng = tu_rng_new(200 + s);
        // linear, strided, with and without bias and accumulate
        const int ldx = Cin + 3, ldy = 2 * C + 1;
        float *x = tu_alloc((size_t)R * ldx), *W = tu_alloc((size_t)2 * C * Cin), *b = tu_alloc(2 * (size_t)C);
        float *y0 = tu_alloc((size_t)R * ldy), *got = tu_alloc((size_t)R * ldy), *ref = tu_alloc((size_t)R * ldy);
        tu_fill(&rng, x, (size_t)R * ldx, -1.0f, 1.0f);
        tu_fill(&rng, W, (size_t)2 * C * Cin, -0.5f, 0.5f);
        tu_fill(&rng, b, 2 * (size_t)C, -1.0f, 1.0f);
        tu_fill(&rng, y0, (size_t)R * ldy, -2.0f, 2.0f);
        float *dx = dev_f(x, (size_t)R * ldx), *dW = dev_f(W, (size_t)2 * C * Cin), *db = dev_f(b, 2 * (size_t)C);
        for (int v = 0; v < 3; v++) { // 0: bias, 1: no bias, 2: bias + accumulate
            float *dy = dev_f(y0, (size_t)R * ldy);
            CU_OK(tft_cuda_linear(blas, dy, ldy, dx, ldx, dW, v == 1 ? NULL : db, R, Cin, 2 * C, v == 2));
            dev_get(got, dy, (size_t)R * ldy);
            memcpy(ref, y0, (size_t)R * ldy * sizeof(float));
            tft_op_linear_ref(ref, ldy, x, ldx, W, v == 1 ? NULL : b, R, Cin, 2 * C, v == 2);
            check_nmse("linear", got, ref, (size_t)R * ldy);
            tft_cuda_free(dy);
        }
        // add_layernorm with and without skip
        const size_t n  = (size_t)R * C;
        float       *a  = tu_alloc(n), *sk = tu_alloc(n), *lw = tu_alloc(C), *lb = tu_alloc(C);
        tu_fill(&rng, a, n, -3.0f, 3.0f);
        tu_fill(&rng, sk, n, -1.0f, 1.0f);
        tu_fill(&rng, lw, C, 0.5f, 1.5f);
        tu_fill(&rng, lb, C, -0.5f, 0.5f);
        float *da = dev_f(a, n), *dsk = dev_f(sk, n), *dlw = dev_f(lw, C), *dlb = dev_f(lb, C), *dout = NULL;
        CU_OK(tft_cuda_malloc((void **)&dout, n * sizeof(float)));
        for (int v = 0; v < 2; v++) {
            CU_OK(tft_cuda_add_layernorm(dout, C, da, C, v ? dsk : NULL, C, dlw, dlb, R, C, LN_EPS, NULL));
            dev_get(got, dout, n);
            tft_op_add_layernorm_ref(ref, a, v ? sk : NULL, lw, lb, R, C, LN_EPS);
            check_nmse(v ? "add_layernorm skip" : "layernorm", got, ref, n);
        }
        // GateAddNorm = cuBLAS GLU GEMM + the fused epilogue, against tft_op_gate_add_norm_ref
        float *xi = tu_alloc((size_t)R * Cin), *scr = tu_alloc((size_t)R * 2 * C), *dz = NULL;
        tu_fill(&rng, xi, (size_t)R * Cin, -1.0f, 1.0f);
        float *dxi = dev_f(xi, (size_t)R * Cin);
        CU_OK(tft_cuda_malloc((void **)&dz, (size_t)R * 2 * C * sizeof(float)));
        CU_OK(tft_cuda_linear(blas, dz, 2 * C, dxi, Cin, dW, db, R, Cin, 2 * C, 0));
        CU_OK(tft_cuda_gate_add_norm(dout, dz, R, C, dsk, C, dlw, dlb, NULL));
        dev_get(got, dout, n);
        tft_op_gate_add_norm_ref(ref, xi, R, Cin, C, W, b, sk, C, lw, lb, scr);
        check_nmse("gate_add_norm", got, ref, n);
        tft_cuda_free(dx), tft_cuda_free(dW), tft_cuda_free(db), tft_cuda_free(da), tft_cuda_free(dsk);
        tft_cuda_free(dlw), tft_cuda_free(dlb), tft_cuda_free(dout), tft_cuda_free(dxi), tft_cuda_free(dz);
        free(x), free(W), free(b), free(y0), free(got), free(ref), free(a), free(sk), free(lw), free(lb);
        free(xi), free(scr);
    }
    tft_cuda_blas_free(blas);
}

// ---- softmax ----------------------------------------------------------------------------------
static void test_softmax(void **state) {
    (void)state;
    static const int shapes[][2] = {{1, 1}, {3, 7}, {17, 384}, {5, 1023}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int    R = shapes[s][0], C = shapes[s][1];
        const size_t n = (size_t)R * C;
        tu_rng       rng = tu_rng_new(300 + s);
        float       *x = tu_alloc(n), *got = tu_alloc(n), *ref = tu_alloc(n);
        tu_fill(&rng, x, n, -8.0f, 8.0f);
        float *dx = dev_f(x, n);
        CU_OK(tft_cuda_softmax(dx, R, C, NULL));
        dev_get(got, dx, n);
        memcpy(ref, x, n * sizeof(float));
        tft_op_softmax_ref(ref, R, C);
        check_nmse("softmax", got, ref, n);
        // masked: d0 = C/2 + 1 split, per-row (ne, nv) incl. all masked, all visible, out of range
        const int d0 = C / 2 + (C > 1);
        int32_t  *ne = malloc(sizeof(int32_t) * R), *nv = malloc(sizeof(int32_t) * R);
        for (int r = 0; r < R; r++) {
            switch (r % 5) {
            case 0: ne[r] = 0, nv[r] = 0; break;         // every key masked: uniform
            case 1: ne[r] = d0, nv[r] = C - d0; break;   // nothing masked
            case 2: ne[r] = 0, nv[r] = C - d0; break;    // no encoder keys
            default: ne[r] = tu_int(&rng, d0 + 1), nv[r] = tu_int(&rng, C - d0 + 1); break;
            }
        }
        for (int mb = 0; mb < 2; mb++) { // -1e9 (exact zeros) and -2 (masked keys keep weight)
            const float bias = mb ? -2.0f : -1e9f;
            float      *dm   = dev_f(x, n);
            int32_t    *dne = dev_put(ne, sizeof(int32_t) * R), *dnv = dev_put(nv, sizeof(int32_t) * R);
            CU_OK(tft_cuda_masked_softmax(dm, R, C, dne, d0, dnv, bias, NULL));
            dev_get(got, dm, n);
            memcpy(ref, x, n * sizeof(float));
            for (int r = 0; r < R; r++)
                tft_op_masked_softmax_ref(ref + (size_t)r * C, C, ne[r], d0, nv[r], bias);
            check_nmse(mb ? "masked_softmax bias -2" : "masked_softmax bias -1e9", got, ref, n);
            for (size_t i = 0; !mb && i < n; i++) // masked keys must be exactly 0 with -1e9
                if (ref[i] == 0.0f && got[i] != 0.0f)
                    fail_msg("masked_softmax: element %zu masked, got %.3g", i, (double)got[i]);
            tft_cuda_free(dm), tft_cuda_free(dne), tft_cuda_free(dnv);
        }
        tft_cuda_free(dx);
        free(x), free(got), free(ref), free(ne), free(nv);
    }
}

// ---- attention --------------------------------------------------------------------------------
static void test_attention(void **state) {
    (void)state;
    // B, Te, Td, NH, D, causal
    // the last case needs 49,904 B of shared memory: above the 48 KiB default, so the launcher must opt in
    static const int cases[][6] = {{1, 1, 1, 1, 1, 1},     {3, 7, 5, 2, 3, 1}, {4, 24, 6, 4, 4, 0},
                                   {5, 288, 96, 4, 16, 1}, {2, 0, 9, 3, 8, 1}, {6, 13, 11, 1, 33, 0},
                                   {2, 3100, 3, 4, 16, 1}};
    for (size_t s = 0; s < sizeof cases / sizeof *cases; s++) {
        const int B = cases[s][0], Te = cases[s][1], Td = cases[s][2], NH = cases[s][3], D = cases[s][4];
        const int causal = cases[s][5], T = Te + Td, HD = NH * D;
        tu_rng    rng    = tu_rng_new(400 + s);
        size_t    nq = (size_t)B * Td * HD, nk = (size_t)B * T * HD, nv = (size_t)B * T * D;
        size_t    na = (size_t)B * Td * NH * T, no = (size_t)B * Td * D;
        float    *Q = tu_alloc(nq), *K = tu_alloc(nk), *V = tu_alloc(nv);
        tu_fill_normal(&rng, Q, nq, 1.0f);
        tu_fill_normal(&rng, K, nk, 1.0f);
        tu_fill_normal(&rng, V, nv, 1.0f);
        int32_t el[8], dl[8];
        for (int b = 0; b < B; b++) { // full, empty, longer than Te, random; decoder 0, full, random
            el[b] = b % 4 == 0 ? Te : b % 4 == 1 ? 0 : b % 4 == 2 ? Te + 5 : tu_int(&rng, Te + 1);
            dl[b] = b % 3 == 0 ? Td : b % 3 == 1 ? 0 : tu_int(&rng, Td + 1);
        }
        float *out = tu_alloc(no), *att = tu_alloc(na), *ro = tu_alloc(no), *ra = tu_alloc(na);
        float *dQ = dev_f(Q, nq), *dK = dev_f(K, nk), *dV = dev_f(V, nv), *dout = NULL, *datt = NULL;
        int32_t *del = dev_put(el, sizeof(int32_t) * B), *ddl = dev_put(dl, sizeof(int32_t) * B);
        CU_OK(tft_cuda_malloc((void **)&dout, no * sizeof(float)));
        CU_OK(tft_cuda_malloc((void **)&datt, na * sizeof(float)));
        CU_OK(tft_cuda_attention(dout, datt, dQ, dK, dV, del, ddl, B, Te, Td, NH, D, causal, -1e9f, NULL));
        dev_get(out, dout, no);
        dev_get(att, datt, na);
        tft_op_attention_ref(ro, ra, Q, K, V, el, dl, B, Te, Td, NH, D, causal, -1e9f);
        check_nmse("attention weights", att, ra, na);
        check_nmse("attention out", out, ro, no);
        tft_cuda_free(dQ), tft_cuda_free(dK), tft_cuda_free(dV), tft_cuda_free(dout), tft_cuda_free(datt);
        tft_cuda_free(del), tft_cuda_free(ddl);
        free(Q), free(K), free(V), free(out), free(att), free(ro), free(ra);
    }
    // more shared memory than a block can have (NH*(D+T) floats > 227 KiB) is refused, not launched
    float   dummy = 0.0f;
    int32_t one   = 1;
    assert_int_equal(tft_cuda_attention(&dummy, &dummy, &dummy, &dummy, &dummy, &one, &one, 1, 60000, 1, 1, 1, 1,
                                        -1e9f, NULL),
                     TFT_ERR_UNSUPPORTED);
}

// ---- persistent LSTM layer --------------------------------------------------------------------
// CPU reference of one phase for one series: run steps of h·W_hhᵀ + b_hh (linear_ref) and the
// fused cell (lstm_cell_add_ref), zero rows past run.
static void lstm_phase_ref(float *out, float *h, float *c, const float *xp, const float *W, const float *bh, int S,
                           int run, int H) {
    float *hg = tu_alloc(4 * (size_t)H);
    for (int t = 0; t < S; t++) {
        if (t >= run) {
            memset(out + (size_t)t * H, 0, sizeof(float) * H);
            continue;
        }
        tft_op_linear_ref(hg, 4 * H, h, H, W, bh, 1, H, 4 * H, 0);
        tft_op_lstm_cell_add_ref(h, c, xp + (size_t)t * 4 * H, hg, 1, H);
        memcpy(out + (size_t)t * H, h, sizeof(float) * H);
    }
    free(hg);
}

static void test_lstm_layer(void **state) {
    (void)state;
    // B, Te, Td, H: odd H, H < 64 (registers only), H = 64, 65, 128 (registers + shared memory)
    static const int cases[][4] = {{1, 1, 1, 1}, {3, 7, 5, 13}, {4, 24, 6, 64}, {5, 30, 9, 65}, {6, 288, 96, 128},
                                   {2, 0, 4, 32}};
    for (size_t s = 0; s < sizeof cases / sizeof *cases; s++) {
        const int B = cases[s][0], Te = cases[s][1], Td = cases[s][2], H = cases[s][3], G = 4 * H;
        tu_rng    rng = tu_rng_new(500 + s);
        size_t    nxe = (size_t)B * Te * G, nxd = (size_t)B * Td * G, nw = (size_t)G * H;
        float    *xe = tu_alloc(nxe), *xd = tu_alloc(nxd), *we = tu_alloc(nw), *wd = tu_alloc(nw);
        float    *be = tu_alloc(G), *bd = tu_alloc(G), *h = tu_alloc((size_t)B * H), *c = tu_alloc((size_t)B * H);
        float    *ph = tu_alloc((size_t)B * H), *pc = tu_alloc((size_t)B * H);
        const float ws = 1.0f / sqrtf((float)H);
        tu_fill(&rng, xe, nxe, -1.0f, 1.0f), tu_fill(&rng, xd, nxd, -1.0f, 1.0f);
        tu_fill(&rng, we, nw, -ws, ws), tu_fill(&rng, wd, nw, -ws, ws);
        tu_fill(&rng, be, G, -0.2f, 0.2f), tu_fill(&rng, bd, G, -0.2f, 0.2f);
        tu_fill(&rng, h, (size_t)B * H, -0.5f, 0.5f), tu_fill(&rng, c, (size_t)B * H, -0.5f, 0.5f);
        tu_fill(&rng, ph, (size_t)B * H, -0.5f, 0.5f), tu_fill(&rng, pc, (size_t)B * H, -0.5f, 0.5f);
        int32_t er[8], dr[8], patch[8];
        for (int b = 0; b < B; b++) {
            er[b]    = Te == 0 ? 0 : b % 3 == 0 ? Te : b % 3 == 1 ? 1 : 1 + tu_int(&rng, Te);
            dr[b]    = b % 2 == 0 ? Td : tu_int(&rng, Td + 1);
            patch[b] = b % 3 == 1 ? (b + 1) % B : -1; // the run-1 series start the decoder elsewhere
        }
        const size_t noe = (size_t)B * Te * H, nod = (size_t)B * Td * H;
        float *oe = tu_alloc(noe), *od = tu_alloc(nod), *roe = tu_alloc(noe), *rod = tu_alloc(nod);
        float *st = tu_alloc(2 * (size_t)B * H), *rst = tu_alloc(2 * (size_t)B * H);
        // reference
        memcpy(rst, h, sizeof(float) * B * H), memcpy(rst + (size_t)B * H, c, sizeof(float) * B * H);
        for (int b = 0; b < B; b++) {
            float *hb = rst + (size_t)b * H, *cb = rst + (size_t)(B + b) * H;
            lstm_phase_ref(roe + (size_t)b * Te * H, hb, cb, xe + (size_t)b * Te * G, we, be, Te, er[b], H);
            if (patch[b] >= 0) {
                memcpy(hb, ph + (size_t)patch[b] * H, sizeof(float) * H);
                memcpy(cb, pc + (size_t)patch[b] * H, sizeof(float) * H);
            }
            lstm_phase_ref(rod + (size_t)b * Td * H, hb, cb, xd + (size_t)b * Td * G, wd, bd, Td, dr[b], H);
        }
        // device
        float *dxe = dev_f(xe, nxe), *dxd = dev_f(xd, nxd), *dwe = dev_f(we, nw), *dwd = dev_f(wd, nw);
        float *dbe = dev_f(be, G), *dbd = dev_f(bd, G), *dh = dev_f(h, (size_t)B * H), *dc = dev_f(c, (size_t)B * H);
        float *dph = dev_f(ph, (size_t)B * H), *dpc = dev_f(pc, (size_t)B * H), *doe = NULL, *dod = NULL;
        int32_t *der = dev_put(er, sizeof(int32_t) * B), *ddr = dev_put(dr, sizeof(int32_t) * B);
        int32_t *dpa = dev_put(patch, sizeof(int32_t) * B);
        CU_OK(tft_cuda_malloc((void **)&doe, noe * sizeof(float)));
        CU_OK(tft_cuda_malloc((void **)&dod, nod * sizeof(float)));
        CU_OK(tft_cuda_lstm_layer(doe, (size_t)Te * H, dod, (size_t)Td * H, dh, dc, dxe, (size_t)Te * G, dxd,
                                  (size_t)Td * G, dwe, dbe, dwd, dbd, der, ddr, dpa, dph, dpc, B, Te, Td, H, NULL));
        dev_get(oe, doe, noe);
        dev_get(od, dod, nod);
        dev_get(st, dh, (size_t)B * H);
        dev_get(st + (size_t)B * H, dc, (size_t)B * H);
        if (Te)
            check_nmse("lstm_layer encoder out", oe, roe, noe);
        check_nmse("lstm_layer decoder out", od, rod, nod);
        check_nmse("lstm_layer final h,c", st, rst, 2 * (size_t)B * H);
        float *bufs[] = {dxe, dxd, dwe, dwd, dbe, dbd, dh, dc, dph, dpc, doe, dod};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
            tft_cuda_free(bufs[i]);
        tft_cuda_free(der), tft_cuda_free(ddr), tft_cuda_free(dpa);
        free(xe), free(xd), free(we), free(wd), free(be), free(bd), free(h), free(c), free(ph), free(pc);
        free(oe), free(od), free(roe), free(rod), free(st), free(rst);
    }
    // H above the on-chip limit is refused, not run
    float dummy = 0.0f;
    int32_t one = 1;
    assert_int_equal(tft_cuda_lstm_layer(&dummy, 0, &dummy, 0, &dummy, &dummy, &dummy, 0, &dummy, 0, &dummy, &dummy,
                                         &dummy, &dummy, &one, &one, NULL, NULL, NULL, 1, 1, 1, 129, NULL),
                     TFT_ERR_UNSUPPORTED);
}

// ---- blocks (cuda/blocks.cu) ------------------------------------------------------------------
// Kernel launches run so far: the harness counts them, so a test can tell "returned at once" from
// "launched and did nothing". On a device there is no such counter (0 always): the guard buffers
// below (untouched output) are then the only check.
#ifdef TFT_SIMT
unsigned long long simt_launches_run(void); // tests/simt/simt.cc
#define LAUNCHES() simt_launches_run()
#else
#define LAUNCHES() 0ull
#endif

// call must return want and launch nothing
#define EXPECT_NO_LAUNCH(want, call)                                                                         \
    do {                                                                                                     \
        const unsigned long long n0_ = LAUNCHES();                                                           \
        const tft_status         st_ = (call);                                                               \
        if (st_ != (want))                                                                                   \
            fail_msg("%s: got %s, want %s (%s)", #call, tft_status_str(st_), tft_status_str(want),            \
                     tft_last_error());                                                                      \
        if (LAUNCHES() != n0_)                                                                               \
            fail_msg("%s: launched a kernel", #call);                                                        \
    } while (0)

// got == ref element by element (bits, except that -0 == +0)
static void check_exact(const char *name, const float *got, const float *ref, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(got[i] == ref[i]) && !(isnan(got[i]) && isnan(ref[i])))
            fail_msg("%s: element %zu: got %.9g want %.9g (exact)", name, i, (double)got[i], (double)ref[i]);
}

// A device buffer of n floats, every one = v (a guard: outputs that must stay untouched)
static float *dev_const(size_t n, float v) {
    float *h = tu_alloc(n);
    for (size_t i = 0; i < n; i++)
        h[i] = v;
    float *d = dev_f(h, n);
    free(h);
    return d;
}
static void check_untouched(const char *name, const float *d, size_t n, float v) {
    float *h = tu_alloc(n);
    dev_get(h, d, n);
    for (size_t i = 0; i < n; i++)
        if (h[i] != v)
            fail_msg("%s: element %zu written (%.9g)", name, i, (double)h[i]);
    free(h);
}

#define GUARD 1234.5f

static void test_input_ops(void **state) {
    (void)state;
    static const int shapes[][2] = {{1, 1}, {37, 3}, {70, 17}, {33, 33}, {5, 65}, {97, 1}}; // R, width
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int R = shapes[s][0], a = shapes[s][1];
        tu_rng    rng = tu_rng_new(600 + s);
        // prescale: x is column 1 of a [R, 3] matrix, y a column slice of [R, a + 2]
        const int    ldx = 3, ldy = a + 2;
        const size_t ny  = (size_t)R * ldy;
        float *x = tu_alloc((size_t)R * ldx), *w = tu_alloc(a), *b = tu_alloc(a);
        float *got = tu_alloc(ny), *ref = tu_alloc(ny), *fast = tu_alloc(ny);
        tu_fill(&rng, x, (size_t)R * ldx, -3.0f, 3.0f);
        tu_fill(&rng, w, a, -1.0f, 1.0f);
        tu_fill(&rng, b, a, -1.0f, 1.0f);
        for (size_t i = 0; i < ny; i++)
            ref[i] = fast[i] = GUARD;
        float *dx = dev_f(x, (size_t)R * ldx), *dw = dev_f(w, a), *db = dev_f(b, a), *dy = dev_const(ny, GUARD);
        CU_OK(tft_cuda_prescale(dy, ldy, dx + 1, ldx, dw, db, R, a, NULL));
        dev_get(got, dy, ny);
        tft_op_prescale_ref(ref, ldy, x + 1, ldx, w, b, R, a);
        tft_op_prescale(fast, ldy, x + 1, ldx, w, b, R, a);
        check_nmse("prescale", got, ref, ny);
        check_exact("prescale == tft_op_prescale", got, fast, ny); // two roundings on both sides; padding kept
        tft_cuda_free(dx), tft_cuda_free(dw), tft_cuda_free(db), tft_cuda_free(dy);
        free(x), free(w), free(b), free(got), free(ref), free(fast);

        // embedding bag: dim = width, a table of 11 rows, 5 index columns per row, y (ld dim + 1)
        const int    dim = a, V = 11, istr = 5, ldo = dim + 1;
        const size_t nt = (size_t)V * dim, no = (size_t)R * ldo;
        float       *table = tu_alloc(nt);
        int32_t     *idx   = malloc(sizeof(int32_t) * (size_t)R * istr);
        tu_fill(&rng, table, nt, -2.0f, 2.0f);
        table[0] = -0.0f; // a -0 entry: one column of one row
        for (int i = 0; i < R * istr; i++)
            idx[i] = tu_int(&rng, V);
        float   *dt = dev_f(table, nt);
        int32_t *di = dev_put(idx, sizeof(int32_t) * (size_t)R * istr);
        float   *eg = tu_alloc(no), *er = tu_alloc(no), *ef = tu_alloc(no);
        int32_t  cols[TFT_CUDA_MAX_BAG];
        static const int bags[] = {1, 3, 0, TFT_CUDA_MAX_BAG};
        for (size_t k = 0; k < sizeof bags / sizeof *bags; k++) {
            const int nc = bags[k];
            for (int c = 0; c < nc; c++)
                cols[c] = (int32_t)((c * 3 + 2 + (int)k) % istr); // repeats columns when nc > 5
            for (size_t i = 0; i < no; i++)
                er[i] = ef[i] = GUARD;
            float *de = dev_const(no, GUARD);
            CU_OK(tft_cuda_embedding(de, ldo, di, istr, cols, nc, dt, R, dim, NULL));
            dev_get(eg, de, no);
            tft_op_embedding_ref(er, ldo, idx, istr, cols, nc, table, R, dim);
            tft_op_embedding(ef, ldo, idx, istr, cols, nc, table, R, dim);
            char name[64];
            snprintf(name, sizeof name, "embedding ncols=%d", nc);
            check_nmse(name, eg, er, no);
            if (nc <= 1)
                check_exact(name, eg, er, no);
            check_exact("embedding == tft_op_embedding", eg, ef, no); // the same float adds in the same order
            for (size_t i = 0; i < no; i++)
                if (signbit(eg[i]) != signbit(ef[i]))
                    fail_msg("embedding ncols=%d: element %zu: sign of zero differs from the CPU op", nc, i);
            tft_cuda_free(de);
        }
        // bad arguments: refused without a launch, the output untouched
        float *de = dev_const(no, GUARD);
        for (int c = 0; c < TFT_CUDA_MAX_BAG; c++)
            cols[c] = 0;
        int32_t many[TFT_CUDA_MAX_BAG + 1] = {0};
        EXPECT_NO_LAUNCH(TFT_ERR_UNSUPPORTED,
                         tft_cuda_embedding(de, ldo, di, istr, many, TFT_CUDA_MAX_BAG + 1, dt, R, dim, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_embedding(de, ldo, di, istr, cols, -1, dt, R, dim, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_embedding(de, ldo, di, istr, cols, 1, dt, -1, dim, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_embedding(de, dim - 1, di, istr, cols, 1, dt, R, dim, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_embedding(de, ldo, di, istr, cols, 1, NULL, R, dim, NULL));
        cols[0] = -1;
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_embedding(de, ldo, di, istr, cols, 1, dt, R, dim, NULL));
        EXPECT_NO_LAUNCH(TFT_OK, tft_cuda_embedding(de, ldo, di, istr, cols, 1, dt, 0, dim, NULL));
        EXPECT_NO_LAUNCH(TFT_OK, tft_cuda_embedding(NULL, 0, NULL, 0, NULL, 0, NULL, R, 0, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_prescale(de, ldo, dt, 1, dt, dt, -1, dim, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_prescale(de, ldo, dt, 0, dt, dt, R, dim, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_prescale(de, dim - 1, dt, 1, dt, dt, R, dim, NULL));
        EXPECT_NO_LAUNCH(TFT_OK, tft_cuda_prescale(NULL, dim, NULL, 1, NULL, NULL, 0, dim, NULL));
        check_untouched("embedding/prescale refused", de, no, GUARD);
        tft_cuda_free(de), tft_cuda_free(dt), tft_cuda_free(di);
        free(table), free(idx), free(eg), free(er), free(ef);
    }
}

static void test_fill_copy2d(void **state) {
    (void)state;
    tu_rng rng = tu_rng_new(650);
    // fill a middle range [3, 3 + n) of a guarded buffer
    static const size_t fills[] = {1, 3, 17, 1000, 70001};
    for (size_t s = 0; s < sizeof fills / sizeof *fills; s++) {
        const size_t n = fills[s], tot = n + 6;
        float       *d = dev_const(tot, GUARD), *h = tu_alloc(tot);
        const float  v = -0.0f + (float)s - 1.75f;
        CU_OK(tft_cuda_fill(d + 3, n, v, NULL));
        dev_get(h, d, tot);
        for (size_t i = 0; i < tot; i++)
            if (h[i] != (i >= 3 && i < 3 + n ? v : GUARD))
                fail_msg("fill n=%zu: element %zu = %.9g", n, i, (double)h[i]);
        EXPECT_NO_LAUNCH(TFT_OK, tft_cuda_fill(d, 0, 1.0f, NULL));
        EXPECT_NO_LAUNCH(TFT_OK, tft_cuda_fill(NULL, 0, 1.0f, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_fill(NULL, 5, 1.0f, NULL));
        tft_cuda_free(d), free(h);
    }
    // 2-D copy: width floats of rows rows, pitches above the width; the padding stays untouched
    static const size_t copies[][4] = {{1, 1, 1, 1}, {3, 7, 5, 3}, {17, 37, 17, 20}, {33, 5, 40, 33}, {65, 70, 66, 80}};
    for (size_t s = 0; s < sizeof copies / sizeof *copies; s++) {
        const size_t w = copies[s][0], rows = copies[s][1], sp = copies[s][2], dp = copies[s][3];
        const size_t ns = rows * sp, nd = rows * dp;
        float       *src = tu_alloc(ns), *got = tu_alloc(nd), *want = tu_alloc(nd);
        tu_fill(&rng, src, ns, -5.0f, 5.0f);
        for (size_t i = 0; i < nd; i++)
            want[i] = GUARD;
        for (size_t r = 0; r < rows; r++)
            memcpy(want + r * dp, src + r * sp, w * sizeof(float));
        float *dsrc = dev_f(src, ns), *ddst = dev_const(nd, GUARD);
        CU_OK(tft_cuda_copy2d(ddst, dp, dsrc, sp, w, rows, NULL));
        dev_get(got, ddst, nd);
        check_exact("copy2d", got, want, nd);
        // refused: a pitch below the width, overlapping regions; empty: nothing done
        float *dg = dev_const(nd, GUARD);
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_copy2d(dg, w - 1, dsrc, sp, w, rows, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_copy2d(dg, dp, dsrc, w - 1, w, rows, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_copy2d(dg, dp, NULL, sp, w, rows, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_copy2d(dg, dp, dg, dp, w, rows, NULL));
        EXPECT_NO_LAUNCH(TFT_OK, tft_cuda_copy2d(dg, dp, dsrc, sp, 0, rows, NULL));
        EXPECT_NO_LAUNCH(TFT_OK, tft_cuda_copy2d(NULL, dp, NULL, sp, w, 0, NULL));
        check_untouched("copy2d refused", dg, nd, GUARD);
        tft_cuda_free(dsrc), tft_cuda_free(ddst), tft_cuda_free(dg);
        free(src), free(got), free(want);
    }
}

static void test_resample_norm(void **state) {
    (void)state;
    // R, n, m: widening, narrowing, n == 1, m == 1, n == m (gate + LayerNorm only), m past 2 warps
    static const int cases[][3] = {{1, 1, 1},   {37, 3, 17}, {70, 1, 33}, {33, 17, 3},
                                   {5, 65, 160}, {41, 33, 33}, {3, 16, 1}, {66, 160, 65}};
    for (size_t s = 0; s < sizeof cases / sizeof *cases; s++) {
        const int    R = cases[s][0], n = cases[s][1], m = cases[s][2], ldx = n + 2;
        const size_t nx = (size_t)R * ldx, ny = (size_t)R * m;
        tu_rng       rng = tu_rng_new(700 + s);
        float       *x = tu_alloc(nx), *mask = tu_alloc(m), *w = tu_alloc(m), *b = tu_alloc(m);
        float       *got = tu_alloc(ny), *ref = tu_alloc(ny);
        tu_fill(&rng, x, nx, -3.0f, 3.0f);
        tu_fill(&rng, mask, m, -2.0f, 2.0f);
        tu_fill(&rng, w, m, 0.5f, 1.5f);
        tu_fill(&rng, b, m, -0.5f, 0.5f);
        float *dx = dev_f(x, nx), *dm = dev_f(mask, m), *dw = dev_f(w, m), *db = dev_f(b, m), *dy = NULL;
        CU_OK(tft_cuda_malloc((void **)&dy, ny * sizeof(float)));
        CU_OK(tft_cuda_resample_norm(dy, dx, ldx, R, n, m, dm, dw, db, NULL));
        dev_get(got, dy, ny);
        tft_op_resample_norm_ref(ref, x, ldx, R, n, m, mask, w, b);
        char name[64];
        snprintf(name, sizeof name, "resample_norm R=%d %d->%d", R, n, m);
        check_nmse(name, got, ref, ny);
        // refused / empty: no launch, dy untouched
        CU_OK(tft_cuda_fill(dy, ny, GUARD, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_resample_norm(dy, dx, ldx, -1, n, m, dm, dw, db, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_resample_norm(dy, dx, ldx, R, 0, m, dm, dw, db, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_resample_norm(dy, dx, n - 1, R, n, m, dm, dw, db, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_resample_norm(dy, dx, ldx, R, n, m, NULL, dw, db, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_resample_norm(dy, dy, n, 1, n, m, dm, dw, db, NULL));
        EXPECT_NO_LAUNCH(TFT_OK, tft_cuda_resample_norm(dy, dx, ldx, 0, n, m, dm, dw, db, NULL));
        EXPECT_NO_LAUNCH(TFT_OK, tft_cuda_resample_norm(NULL, NULL, ldx, R, n, 0, NULL, NULL, NULL, NULL));
        check_untouched("resample_norm refused", dy, ny, GUARD);
        tft_cuda_free(dx), tft_cuda_free(dm), tft_cuda_free(dw), tft_cuda_free(db), tft_cuda_free(dy);
        free(x), free(mask), free(w), free(b), free(got), free(ref);
    }
}

// A GRN's weights, host copies (for the reference) and device copies (for tft_cuda_grn).
typedef struct grn_pair {
    tft_grn_w host, dev;
    float    *hp[11], *dp[11];
} grn_pair;

static grn_pair grn_pair_make(tu_rng *rng, int i, int h, int o) {
    grn_pair g;
    memset(&g, 0, sizeof g);
    g.host.in = g.dev.in = i, g.host.hid = g.dev.hid = h, g.host.out = g.dev.out = o;
    // fc1_w fc1_b fc2_w fc2_b glu_w glu_b ln_w ln_b rs_mask rs_w rs_b
    const size_t sz[11] = {(size_t)h * i, (size_t)h, (size_t)h * h, (size_t)h, (size_t)2 * o * h, (size_t)2 * o,
                           (size_t)o,     (size_t)o, (size_t)o,     (size_t)o, (size_t)o};
    const int    n      = i != o ? 11 : 8;
    for (int k = 0; k < n; k++) {
        g.hp[k]       = tu_alloc(sz[k]);
        const float a = k % 2 == 0 && k < 6 ? 1.0f / sqrtf((float)(k == 0 ? i : h)) : 0.3f;
        tu_fill(rng, g.hp[k], sz[k], -a, a);
        if (k == 6 || k == 9) // LayerNorm weights around 1
            for (size_t c = 0; c < sz[k]; c++)
                g.hp[k][c] += 1.0f;
        g.dp[k] = dev_f(g.hp[k], sz[k]);
    }
    tft_grn_w *ws[2] = {&g.host, &g.dev};
    for (int v = 0; v < 2; v++) {
        float **p = v ? g.dp : g.hp;
        ws[v]->fc1_w = p[0], ws[v]->fc1_b = p[1], ws[v]->fc2_w = p[2], ws[v]->fc2_b = p[3];
        ws[v]->glu_w = p[4], ws[v]->glu_b = p[5], ws[v]->ln_w = p[6], ws[v]->ln_b = p[7];
        if (i != o)
            ws[v]->rs_mask = p[8], ws[v]->rs_w = p[9], ws[v]->rs_b = p[10];
    }
    return g;
}

static void grn_pair_free(grn_pair *g) {
    for (int k = 0; k < 11; k++)
        free(g->hp[k]), tft_cuda_free(g->dp[k]);
}

static void test_grn_block(void **state) {
    (void)state;
    tft_cuda_blas *blas = NULL;
    CU_OK(tft_cuda_blas_new(&blas, NULL));
    assert_null(tft_cuda_blas_stream(blas)); // made on the legacy default stream
    assert_null(tft_cuda_blas_stream(NULL));
    // R, in, hid, out, ctx_group (-1: no context; 0: a context with group 0, which counts as 1), padx
    static const int cases[][6] = {{1, 1, 1, 1, -1, 0},     {37, 3, 17, 17, -1, 2},  {70, 33, 33, 33, 3, 0},
                                   {45, 17, 65, 33, 5, 1},  {97, 160, 160, 160, 1, 0}, {33, 65, 160, 1, -1, 3},
                                   {50, 16, 16, 16, -1, 0}, {29, 1, 17, 3, 0, 0},     {61, 40, 64, 160, 7, 0}};
    for (size_t s = 0; s < sizeof cases / sizeof *cases; s++) {
        const int R = cases[s][0], i = cases[s][1], h = cases[s][2], o = cases[s][3], cg = cases[s][4];
        const int ldx = i + cases[s][5], g = cg > 0 ? cg : 1, nctx = cg >= 0 ? (R + g - 1) / g : 0;
        tu_rng    rng = tu_rng_new(800 + s);
        grn_pair  gp  = grn_pair_make(&rng, i, h, o);
        const size_t nx = (size_t)R * ldx, ny = (size_t)R * o;
        float       *x = tu_alloc(nx), *ctx = tu_alloc((size_t)nctx * h + 1), *got = tu_alloc(ny), *ref = tu_alloc(ny);
        float       *scr = tu_alloc(tft_op_grn_scratch(R, &gp.host));
        tu_fill(&rng, x, nx, -2.0f, 2.0f);
        tu_fill(&rng, ctx, (size_t)nctx * h, -1.0f, 1.0f);
        const size_t ns = tft_cuda_grn_scratch(R, &gp.dev);
        float *dx = dev_f(x, nx), *dctx = cg >= 0 ? dev_f(ctx, (size_t)nctx * h) : NULL, *dy = NULL, *dscr = NULL;
        CU_OK(tft_cuda_malloc((void **)&dy, ny * sizeof(float)));
        CU_OK(tft_cuda_malloc((void **)&dscr, ns * sizeof(float))); // exactly the size asked for (ASan checks it)
        CU_OK(tft_cuda_grn(blas, dy, dx, ldx, R, &gp.dev, dctx, cg, dscr));
        dev_get(got, dy, ny);
        tft_op_grn_ref(ref, x, ldx, R, &gp.host, cg >= 0 ? ctx : NULL, cg, scr);
        char name[96];
        snprintf(name, sizeof name, "grn R=%d %d->%d->%d ctx_group=%d ldx=%d", R, i, h, o, cg, ldx);
        check_nmse(name, got, ref, ny);
        // refused / empty: no launch, dy untouched
        CU_OK(tft_cuda_fill(dy, ny, GUARD, NULL));
        tft_grn_w bad = gp.dev;
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_grn(NULL, dy, dx, ldx, R, &gp.dev, dctx, cg, dscr));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_grn(blas, dy, dx, ldx, -1, &gp.dev, dctx, cg, dscr));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_grn(blas, dy, dx, i - 1, R, &gp.dev, dctx, cg, dscr));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_grn(blas, dy, dx, ldx, R, &gp.dev, dctx, cg, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_grn(blas, dx, dx, ldx, R, &gp.dev, dctx, cg, dscr));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_grn(blas, dscr, dx, ldx, R, &gp.dev, dctx, cg, dscr));
        bad.glu_w = NULL;
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_grn(blas, dy, dx, ldx, R, &bad, dctx, cg, dscr));
        bad = gp.dev, bad.out = 0;
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_grn(blas, dy, dx, ldx, R, &bad, dctx, cg, dscr));
        if (i != o) {
            bad = gp.dev, bad.rs_w = NULL;
            EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_grn(blas, dy, dx, ldx, R, &bad, dctx, cg, dscr));
        }
        EXPECT_NO_LAUNCH(TFT_OK, tft_cuda_grn(blas, NULL, NULL, ldx, 0, &gp.dev, NULL, 1, NULL));
        assert_int_equal(tft_cuda_grn_scratch(0, &gp.dev), 0);
        check_untouched("grn refused", dy, ny, GUARD);
        tft_cuda_free(dx), tft_cuda_free(dctx), tft_cuda_free(dy), tft_cuda_free(dscr);
        free(x), free(ctx), free(got), free(ref), free(scr);
        grn_pair_free(&gp);
    }
    tft_cuda_blas_free(blas);
}

static void test_heads_out(void **state) {
    (void)state;
    // B, Td, NT, Q; NT = 8 with tf[j] = j covers every tft_transform; NT = 65 only without denorm
    static const int cases[][4] = {{1, 1, 1, 1}, {3, 5, 2, 7}, {2, 24, 8, 3}, {5, 7, 65, 1}, {4, 3, 8, 33}};
    for (size_t s = 0; s < sizeof cases / sizeof *cases; s++) {
        const int    B = cases[s][0], Td = cases[s][1], NT = cases[s][2], Q = cases[s][3];
        const size_t n = (size_t)B * Td * NT * Q, nts = (size_t)B * NT * 2;
        tu_rng       rng = tu_rng_new(900 + s);
        float       *x = tu_alloc(n), *ts = tu_alloc(nts), *got = tu_alloc(n), *want = tu_alloc(n);
        float       *slice = tu_alloc((size_t)Td * Q);
        tu_fill(&rng, x, n, -3.0f, 3.0f);
        for (size_t k = 0; k < nts; k += 2)
            ts[k] = tu_range(&rng, -1.0f, 1.0f), ts[k + 1] = tu_range(&rng, 0.5f, 2.0f);
        tft_transform tf[TFT_CUDA_MAX_TARGETS + 1];
        for (int j = 0; j <= TFT_CUDA_MAX_TARGETS; j++)
            tf[j] = (tft_transform)(j % (TFT_TF_SQRT + 1));
        // room for the refused calls below too (up to TFT_CUDA_MAX_TARGETS + 1 floats), so that the
        // overlap check never fires there on two adjacent allocations
        const size_t na = n > TFT_CUDA_MAX_TARGETS + 1 ? n : TFT_CUDA_MAX_TARGETS + 1;
        float       *dx = NULL, *dts = dev_f(ts, nts), *dy = NULL;
        CU_OK(tft_cuda_malloc((void **)&dx, na * sizeof(float)));
        CU_OK(tft_cuda_upload(dx, x, n * sizeof(float)));
        CU_OK(tft_cuda_malloc((void **)&dy, na * sizeof(float)));
        for (int denorm = 0; denorm <= (NT <= TFT_CUDA_MAX_TARGETS); denorm++) {
            CU_OK(tft_cuda_heads_out(dy, dx, B, Td, NT, Q, denorm ? dts : NULL, denorm ? tf : NULL, denorm, NULL));
            dev_get(got, dy, n);
            for (int b = 0; b < B; b++)
                for (int j = 0; j < NT; j++) {
                    for (int t = 0; t < Td; t++) // x[b, t, j, :] -> slice[t, :]
                        memcpy(slice + (size_t)t * Q, x + (((size_t)b * Td + t) * NT + j) * Q, sizeof(float) * Q);
                    float *w = want + ((size_t)b * NT + j) * Td * Q, *gs = got + ((size_t)b * NT + j) * Td * Q;
                    char   name[80];
                    snprintf(name, sizeof name, "heads_out B=%d NT=%d Q=%d b=%d j=%d denorm=%d tf=%d", B, NT, Q, b, j,
                             denorm, (int)tf[j]);
                    if (denorm) {
                        const float *c = ts + ((size_t)b * NT + j) * 2;
                        tft_op_denormalize_ref(w, slice, (size_t)Td * Q, c[0], c[1], tf[j]);
                        check_nmse(name, gs, w, (size_t)Td * Q);
                    } else {
                        check_exact(name, gs, slice, (size_t)Td * Q); // a transpose: exact
                    }
                }
        }
        // refused / empty: no launch, dy untouched
        CU_OK(tft_cuda_fill(dy, na, GUARD, NULL));
        tft_transform badtf[2] = {TFT_TF_NONE, (tft_transform)(TFT_TF_SQRT + 1)};
        EXPECT_NO_LAUNCH(TFT_ERR_UNSUPPORTED,
                         tft_cuda_heads_out(dy, dx, 1, 1, TFT_CUDA_MAX_TARGETS + 1, 1, dts, tf, 1, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_heads_out(dy, dx, 1, 1, 2, 1, dts, badtf, 1, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_heads_out(dy, dx, 1, 1, 1, 1, NULL, tf, 1, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_heads_out(dy, dx, 1, 1, 1, 1, NULL, NULL, 2, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_heads_out(dy, dx, -1, Td, NT, Q, NULL, NULL, 0, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_heads_out(dy, dx, B, Td, NT, -1, NULL, NULL, 0, NULL));
        EXPECT_NO_LAUNCH(TFT_ERR_INVALID_ARG, tft_cuda_heads_out(dy, dy, B, Td, NT, Q, NULL, NULL, 0, NULL));
        EXPECT_NO_LAUNCH(TFT_OK, tft_cuda_heads_out(dy, dx, B, 0, NT, Q, dts, tf, 1, NULL));
        EXPECT_NO_LAUNCH(TFT_OK, tft_cuda_heads_out(NULL, NULL, 0, Td, NT, Q, NULL, NULL, 0, NULL));
        check_untouched("heads_out refused", dy, na, GUARD);
        tft_cuda_free(dx), tft_cuda_free(dts), tft_cuda_free(dy);
        free(x), free(ts), free(got), free(want), free(slice);
    }
}
#endif // TFT_USE_CUDA

static void test_skipped(void **state) {
    (void)state;
    skip();
}

int main(void) {
#ifdef TFT_USE_CUDA
    int              n  = 0;
    const tft_status st = tft_cuda_device_count(&n);
    if (st != TFT_OK || n <= 0) {
        printf("test_cuda: SKIPPED: no CUDA device (%s)\n",
               st != TFT_OK ? tft_last_error() : "cudaGetDeviceCount found 0 devices");
        const struct CMUnitTest none[] = {cmocka_unit_test(test_skipped)};
        cmocka_run_group_tests_name("test_cuda (no device)", none, NULL, NULL);
        return 77; // "skipped" (the automake convention): make test counts it apart from passed
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elementwise), cmocka_unit_test(test_linear_norm), cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_attention),   cmocka_unit_test(test_lstm_layer),  cmocka_unit_test(test_input_ops),
        cmocka_unit_test(test_fill_copy2d), cmocka_unit_test(test_resample_norm), cmocka_unit_test(test_grn_block),
        cmocka_unit_test(test_heads_out),
    };
#ifdef TFT_SIMT
    return cmocka_run_group_tests_name("test_cuda_simt (the kernels' source on the SIMT harness, CPU)", tests, NULL,
                                       NULL);
#else
    return cmocka_run_group_tests_name("test_cuda", tests, NULL, NULL);
#endif
#else
    printf("test_cuda: SKIPPED: built without CUDA (make CUDA=1)\n");
    const struct CMUnitTest none[] = {cmocka_unit_test(test_skipped)};
    cmocka_run_group_tests_name("test_cuda (CUDA=0)", none, NULL, NULL);
    return 77;
#endif
}
