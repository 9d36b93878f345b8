// bench_ops.c: CPU micro-benchmarks of the ops at TFT shapes (electricity-like: 168 encoder +
// 24 decoder steps, 4 heads, H in {32, 128}) for B in {1, 8, 64} series. One line per config:
//   op=<op> dev=cpu B=.. R=.. <shape> med_us=.. p90_us=.. gflops=.. [GBps=..]
// gflops uses the napkin FLOP count (2 per multiply-add for GEMMs; a rough per-element count
// for the memory-bound ops, which also report GBps = bytes moved / time).
// Env: BENCH_BUDGET_S (seconds of timed reps per config, default 0.15).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../ops/ops.h"
#include "bench.h"

enum { TE = 168, TD = 24, T = TE + TD, NH = 4 };

static double budget = 0.15;

static float *falloc(size_t n, uint32_t seed) {
    float *p = (float *)malloc((n ? n : 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_ops: out of memory\n");
        exit(1);
    }
    uint32_t s = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) { // xorshift32 in [-0.5, 0.5)
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        p[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

static void line(const char *op, int B, int R, const char *shape, bench_res r, double flop, double bytes) {
    printf("op=%s dev=cpu B=%d R=%d %s med_us=%.2f p90_us=%.2f gflops=%.2f", op, B, R, shape, r.med_us,
           r.p90_us, bench_gflops(flop, r.med_us));
    if (bytes > 0)
        printf(" GBps=%.2f", bytes / (r.med_us * 1e3));
    printf(" reps=%d\n", r.reps);
    fflush(stdout);
}

// Reference rate: a square SGEMM straight through OpenBLAS, one thread (what the BLAS can do on this
// box; bench_forward's roofline uses the same bench_sgemm of bench.h).
// (tft_op_linear does not use OpenBLAS: see ops/linear.c; the *_sgemm_ref lines compare shapes.)
static void bench_sgemm_ref(void) {
    const int n = 512;
    bench_res r = bench_sgemm(n, 1, budget);
    printf("op=sgemm_ref dev=cpu M=%d N=%d K=%d med_us=%.2f p90_us=%.2f gflops=%.2f reps=%d\n", n, n, n,
           r.med_us, r.p90_us, bench_gflops(2.0 * n * n * n, r.med_us), r.reps);
}

// The op (row-invariant blocked kernel) and, on the same shape, OpenBLAS sgemm for comparison.
static void linear_pair(const char *op, int B, int R, int Cin, int Cout) {
    float *x = falloc((size_t)R * Cin, 4), *W = falloc((size_t)Cout * Cin, 5), *b = falloc(Cout, 6);
    float *y = falloc((size_t)R * Cout, 7);
    char   shape[64];
    snprintf(shape, sizeof shape, "Cin=%d Cout=%d", Cin, Cout);
    const double flop = 2.0 * R * Cin * Cout, bytes = 4.0 * ((double)R * (Cin + Cout) + (double)Cin * Cout);
    bench_res    r;
    BENCH_RUN(3, budget, r, { tft_op_linear(y, Cout, x, Cin, W, b, R, Cin, Cout, 0); });
    line(op, B, R, shape, r, flop, bytes);
    float *P = falloc(tft_op_pack_floats(Cin, Cout), 8); // W packed as at model load (what the engine runs)
    tft_op_pack(P, W, Cin, Cout);
    BENCH_RUN(3, budget, r, { tft_op_linear_packed(y, Cout, x, Cin, W, P, b, R, Cin, Cout, 0); });
    char packed[64];
    snprintf(packed, sizeof packed, "%s_packed", op);
    line(packed, B, R, shape, r, flop, bytes);
    free(P);
    BENCH_RUN(3, budget, r, {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, Cout, Cin, 1.0f, x, Cin, W, Cin, 0.0f, y,
                    Cout);
    });
    char ref[64];
    snprintf(ref, sizeof ref, "%s_sgemm_ref", op);
    line(ref, B, R, shape, r, flop, bytes);
    free(x), free(W), free(b), free(y);
}

// Time-distributed layers (R = B*T rows): Cout = H (fc1/fc2), 2H (GLU), 4H (LSTM W_ih); and the
// recurrent step h·W_hhᵀ (R = B rows, Cout = 4H) that the LSTM runs once per time step.
static void bench_linear(int B, int H) {
    linear_pair("linear", B, B * T, H, H);
    linear_pair("linear", B, B * T, H, 2 * H);
    linear_pair("linear", B, B * T, H, 4 * H);
    linear_pair("linear_step", B, B, H, 4 * H);
}

// Static enrichment GRN: H -> H -> H with a per-series context broadcast over T steps.
static void bench_grn(int B, int H) {
    const int R = B * T;
    float    *p = falloc((size_t)H * H * 4 + (size_t)H * 8, 8);
    tft_grn_w w = {H,
                   H,
                   H,
                   p,
                   p + (size_t)H * H,
                   p + (size_t)H * H + H,
                   p + (size_t)2 * H * H + H,
                   p + (size_t)2 * H * H + 2 * H,
                   p + (size_t)4 * H * H + 2 * H,
                   p + (size_t)4 * H * H + 4 * H,
                   p + (size_t)4 * H * H + 5 * H,
                   NULL,
                   NULL,
                   NULL,
                   NULL,
                   NULL,
                   NULL,
                   NULL};
    float    *x = falloc((size_t)R * H, 9), *y = falloc((size_t)R * H, 10), *ctx = falloc((size_t)B * H, 11);
    float    *scr = falloc(tft_op_grn_scratch(R, &w), 12);
    bench_res r;
    BENCH_RUN(3, budget, r, { tft_op_grn(y, x, H, R, &w, ctx, T, scr); });
    char shape[64];
    snprintf(shape, sizeof shape, "H=%d", H);
    line("grn", B, R, shape, r, 2.0 * R * ((double)H * H * 2 + (double)H * 2 * H), 0);
    free(p), free(x), free(y), free(ctx), free(scr);
}

// Scratch for tft_op_attention (a series' K transposed), grown as needed.
static float *att_scratch(int te, int td, int nh, int d) {
    static float *buf;
    static size_t cap;
    size_t        n = tft_op_attention_scratch(te, td, nh, d);
    if (n > cap) {
        free(buf);
        buf = falloc(n, 99);
        cap = n;
    }
    return buf;
}

static void bench_attention(int B, int H) {
    const int D = H / NH;
    float    *Q = falloc((size_t)B * TD * NH * D, 13), *K = falloc((size_t)B * T * NH * D, 14);
    float    *V = falloc((size_t)B * T * D, 15), *out = falloc((size_t)B * TD * D, 16);
    float    *attn = falloc((size_t)B * TD * NH * T, 17);
    int32_t  *enc  = (int32_t *)malloc((size_t)B * sizeof(int32_t)),
            *dec   = (int32_t *)malloc((size_t)B * sizeof(int32_t));
    if (!enc || !dec)
        exit(1);
    for (int b = 0; b < B; b++)
        enc[b] = TE - (b % 5), dec[b] = TD;
    bench_res r;
    float    *scr = att_scratch(TE, TD, NH, D);
    BENCH_RUN(3, budget, r, { tft_op_attention(out, attn, Q, K, V, enc, dec, B, TE, TD, NH, D, 1, -1e9f, scr); });
    char shape[64];
    snprintf(shape, sizeof shape, "Te=%d Td=%d NH=%d D=%d", TE, TD, NH, D);
    line("attention", B, B * TD, shape, r, 2.0 * 2.0 * B * TD * NH * (double)T * D, 0);
    free(Q), free(K), free(V), free(out), free(attn), free(enc), free(dec);
}

// One LSTM step for B rows (the recurrence's elementwise part; the GEMMs are bench'd as linear).
static void bench_lstm_cell(int B, int H) {
    float *g = falloc((size_t)B * 4 * H, 18), *h = falloc((size_t)B * H, 19), *c = falloc((size_t)B * H, 20);
    bench_res r;
    BENCH_RUN(10, budget, r, { tft_op_lstm_cell(h, c, g, B, H); });
    char shape[64];
    snprintf(shape, sizeof shape, "H=%d", H);
    line("lstm_cell", B, B, shape, r, 12.0 * B * H, 4.0 * B * H * 8);
    free(g), free(h), free(c);
}

static void bench_layernorm(int B, int H) {
    const int R = B * T;
    float    *x = falloc((size_t)R * H, 21), *s = falloc((size_t)R * H, 22), *y = falloc((size_t)R * H, 23);
    float    *w = falloc(H, 24), *b = falloc(H, 25);
    bench_res r;
    BENCH_RUN(3, budget, r, { tft_op_add_layernorm(y, x, s, w, b, R, H, 1e-5f); });
    char shape[64];
    snprintf(shape, sizeof shape, "C=%d", H);
    line("add_layernorm", B, R, shape, r, 8.0 * R * H, 4.0 * 3.0 * R * H);
    free(x), free(s), free(y), free(w), free(b);
}

int main(void) {
    const char *e = getenv("BENCH_BUDGET_S");
    if (e && atof(e) > 0)
        budget = atof(e);
    bench_header("ops");
    const double t0 = bench_now_us();
    bench_sgemm_ref();
    static const int Bs[] = {1, 8, 64}, Hs[] = {32, 128};
    for (int hi = 0; hi < 2; hi++)
        for (int bi = 0; bi < 3; bi++) {
            const int B = Bs[bi], H = Hs[hi];
            bench_linear(B, H);
            bench_grn(B, H);
            bench_attention(B, H);
            bench_lstm_cell(B, H);
            bench_layernorm(B, H);
        }
    printf("# total_s=%.1f\n", (bench_now_us() - t0) * 1e-6);
    return 0;
}
