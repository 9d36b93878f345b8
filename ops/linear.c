// linear.c: y (+)= x·Wᵀ + b, fast (blocked, batch-invariant) and in plain double loops (_ref).
//
// Why not OpenBLAS sgemm: its per-row results depend on M (rows in tile edges go through other
// micro-kernels with another summation order; checked on 0.3.21 for M = 1..1000), so a series'
// forecast changed in the last bits with the batch it ran in (8e-6 relative through the LSTM in
// test_api's batch-invariance check). The kernel below computes every output element the same way
// whatever R and the row's position: acc = (accumulate ? y : 0) [+ b], then acc += x[k]·W[c,k] for
// k in order. Rows run MB = 6 at a time, columns NB = 16 at a time (W packed transposed on the stack,
// 16 KiB per KC = 256 slice), with GCC vector types. Two builds of the same source: AVX2 + FMA
// (fused multiply-add, picked at run time when the CPU has it) and portable (multiply, then add).
// Each is batch-invariant; their last bits differ from each other.
// tft_op_linear_packed (at the end) reads W from panels packed once at model load: no per-call
// packing, one- and two-row tiles that span several panels (the LSTM step at batch 1), and the same
// per-element arithmetic, hence the same bits as tft_op_linear.
#include "ops.h"
#include "isa.h"

#include <string.h>
#ifdef TFT_HAVE_X86_CLONES
#include <immintrin.h>
#define HAVE_AVX2_CLONE 1
#endif

#define NB 16  // output columns per block: two 8-float vectors
#define MB 6   // rows per micro-tile: 12 vector accumulators
#define KC 256 // inner-dimension slice packed at a time
#define RB 96  // rows per outer block (its x rows stay in cache while W blocks are packed)

typedef float vf8 __attribute__((vector_size(32)));

#define LD8(v, p) memcpy(&(v), (p), sizeof(vf8))
#define ST8(p, v) memcpy((p), &(v), sizeof(vf8))

// wt[k][j] = W[c0 + j, k0 + k] for j < nc, 0 for nc <= j < NB.   wt: [kc, NB]
static inline void pack_wt(float *restrict wt, const float *restrict W, int Cin, int c0, int nc, int k0,
                           int kc) {
    for (int j = 0; j < NB; j++) {
        if (j < nc) {
            const float *wr = W + (size_t)(c0 + j) * Cin + k0;
            for (int k = 0; k < kc; k++)
                wt[(size_t)k * NB + j] = wr[k];
        } else {
            for (int k = 0; k < kc; k++)
                wt[(size_t)k * NB + j] = 0.0f;
        }
    }
}

// Accumulator tile t[MB][NB] for rows rt.. (mr valid), columns c0.. (nc valid): the partial sum
// already in y for a later k slice, else (accumulate ? y : 0) + b. Invalid slots get 0.
static inline void load_tile(float t[MB][NB], const float *y, int ldy, const float *b, int rt, int mr, int c0,
                             int nc, int k0, int accumulate) {
    for (int r = 0; r < MB; r++)
        for (int j = 0; j < NB; j++) {
            float v = 0.0f;
            if (r < mr && j < nc) {
                const float *yp = y + (size_t)(rt + r) * ldy + c0 + j;
                if (k0 > 0) {
                    v = *yp;
                } else {
                    v = accumulate ? *yp : 0.0f;
                    if (b)
                        v = v + b[c0 + j];
                }
            }
            t[r][j] = v;
        }
}

static inline void store_tile(float *y, int ldy, const float t[MB][NB], int rt, int mr, int c0, int nc) {
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nc; j++)
            y[(size_t)(rt + r) * ldy + c0 + j] = t[r][j];
}

// The blocked loop nest; MADD(a, v, w) is a + v·w on one 8-float vector (v a scalar).
// rows [r0, r1) x columns [c0, c0 + nc) per packed W block; accumulators a<row><half>.
#define LINEAR_KERNEL(NAME, ATTR, MADD)                                                                      \
    ATTR static void NAME(float *y, int ldy, const float *x, int ldx, const float *W, const float *b, int R, \
                          int Cin, int Cout, int accumulate) {                                               \
        float wt[KC * NB];                                                                                   \
        float t[MB][NB];                                                                                     \
        for (int r0 = 0; r0 < R; r0 += RB) {                                                                 \
            const int r1 = R - r0 < RB ? R : r0 + RB;                                                        \
            for (int c0 = 0; c0 < Cout; c0 += NB) {                                                          \
                const int nc = Cout - c0 < NB ? Cout - c0 : NB;                                              \
                for (int k0 = 0; k0 < Cin; k0 += KC) {                                                       \
                    const int kc = Cin - k0 < KC ? Cin - k0 : KC;                                            \
                    pack_wt(wt, W, Cin, c0, nc, k0, kc);                                                     \
                    for (int rt = r0; rt < r1; rt += MB) {                                                   \
                        const int mr   = r1 - rt < MB ? r1 - rt : MB;                                        \
                        const int full = mr == MB && nc == NB;                                               \
                        if (full && (k0 > 0 || accumulate)) { /* whole tile: straight from y */              \
                            for (int r = 0; r < MB; r++)                                                     \
                                memcpy(t[r], y + (size_t)(rt + r) * ldy + c0, sizeof t[r]);                  \
                        } else if (full) {                                                                   \
                            memset(t, 0, sizeof t);                                                          \
                        } else {                                                                             \
                            load_tile(t, y, ldy, b, rt, mr, c0, nc, k0, accumulate);                         \
                        }                                                                                    \
                        vf8 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51;                      \
                        LD8(a00, t[0]), LD8(a01, t[0] + 8), LD8(a10, t[1]), LD8(a11, t[1] + 8);              \
                        LD8(a20, t[2]), LD8(a21, t[2] + 8), LD8(a30, t[3]), LD8(a31, t[3] + 8);              \
                        LD8(a40, t[4]), LD8(a41, t[4] + 8), LD8(a50, t[5]), LD8(a51, t[5] + 8);              \
                        if (full && k0 == 0 && b) { /* + b, as load_tile does element by element */          \
                            vf8 b0, b1;                                                                      \
                            LD8(b0, b + c0), LD8(b1, b + c0 + 8);                                            \
                            a00 += b0, a01 += b1, a10 += b0, a11 += b1, a20 += b0, a21 += b1;                \
                            a30 += b0, a31 += b1, a40 += b0, a41 += b1, a50 += b0, a51 += b1;                \
                        }                                                                                    \
                        /* rows past R re-read row rt: valid memory, results discarded */                    \
                        const float *x0 = x + (size_t)rt * ldx + k0;                                         \
                        const float *x1 = mr > 1 ? x0 + ldx : x0, *x2 = mr > 2 ? x0 + 2 * (size_t)ldx : x0;  \
                        const float *x3 = mr > 3 ? x0 + 3 * (size_t)ldx : x0;                                \
                        const float *x4 = mr > 4 ? x0 + 4 * (size_t)ldx : x0;                                \
                        const float *x5 = mr > 5 ? x0 + 5 * (size_t)ldx : x0;                                \
                        for (int k = 0; k < kc; k++) {                                                       \
                            vf8 w0, w1;                                                                      \
                            LD8(w0, wt + (size_t)k * NB), LD8(w1, wt + (size_t)k * NB + 8);                  \
                            float v = x0[k];                                                                 \
                            a00 = MADD(a00, v, w0), a01 = MADD(a01, v, w1), v = x1[k];                       \
                            a10 = MADD(a10, v, w0), a11 = MADD(a11, v, w1), v = x2[k];                       \
                            a20 = MADD(a20, v, w0), a21 = MADD(a21, v, w1), v = x3[k];                       \
                            a30 = MADD(a30, v, w0), a31 = MADD(a31, v, w1), v = x4[k];                       \
                            a40 = MADD(a40, v, w0), a41 = MADD(a41, v, w1), v = x5[k];                       \
                            a50 = MADD(a50, v, w0), a51 = MADD(a51, v, w1);                                  \
                        }                                                                                    \
                        ST8(t[0], a00), ST8(t[0] + 8, a01), ST8(t[1], a10), ST8(t[1] + 8, a11);              \
                        ST8(t[2], a20), ST8(t[2] + 8, a21), ST8(t[3], a30), ST8(t[3] + 8, a31);              \
                        ST8(t[4], a40), ST8(t[4] + 8, a41), ST8(t[5], a50), ST8(t[5] + 8, a51);              \
                        if (full)                                                                            \
                            for (int r = 0; r < MB; r++)                                                     \
                                memcpy(y + (size_t)(rt + r) * ldy + c0, t[r], sizeof t[r]);                  \
                        else                                                                                 \
                            store_tile(y, ldy, (const float(*)[NB])t, rt, mr, c0, nc);                       \
                    }                                                                                        \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
    }

// One or two rows (the LSTM's per-step h·W_hhᵀ at batch 1): packing W would cost more than the
// product, so each output is a scalar chain over k straight from W's rows, NCH chains interleaved
// for instruction-level parallelism. Same per-element arithmetic as the tiles (same init, same k
// order, same fused or unfused step), hence the same bits.
#define NCH 8
#define LINEAR_ROWS(NAME, ATTR, SMADD)                                                                       \
    ATTR static void NAME(float *y, int ldy, const float *x, int ldx, const float *W, const float *b, int R, \
                          int Cin, int Cout, int accumulate) {                                               \
        for (int r = 0; r < R; r++) {                                                                        \
            const float *xr = x + (size_t)r * ldx;                                                           \
            float       *yr = y + (size_t)r * ldy;                                                           \
            for (int c0 = 0; c0 < Cout; c0 += NCH) {                                                         \
                const int nc = Cout - c0 < NCH ? Cout - c0 : NCH;                                            \
                float     t[NCH];                                                                            \
                for (int j = 0; j < NCH; j++) { /* chains past Cout redo column c0, discarded */             \
                    const int c = c0 + (j < nc ? j : 0);                                                     \
                    t[j]        = accumulate ? yr[c] : 0.0f;                                                 \
                    if (b)                                                                                   \
                        t[j] = t[j] + b[c];                                                                  \
                }                                                                                            \
                const float *w0 = W + (size_t)c0 * Cin;                                                      \
                const float *w1 = nc > 1 ? w0 + Cin : w0, *w2 = nc > 2 ? w0 + 2 * (size_t)Cin : w0;          \
                const float *w3 = nc > 3 ? w0 + 3 * (size_t)Cin : w0,                                        \
                            *w4 = nc > 4 ? w0 + 4 * (size_t)Cin : w0;                                        \
                const float *w5 = nc > 5 ? w0 + 5 * (size_t)Cin : w0,                                        \
                            *w6 = nc > 6 ? w0 + 6 * (size_t)Cin : w0;                                        \
                const float *w7 = nc > 7 ? w0 + 7 * (size_t)Cin : w0;                                        \
                float        a0 = t[0], a1 = t[1], a2 = t[2], a3 = t[3], a4 = t[4], a5 = t[5], a6 = t[6],    \
                      a7 = t[7];                                                                             \
                for (int k = 0; k < Cin; k++) {                                                              \
                    const float v = xr[k];                                                                   \
                    a0 = SMADD(a0, v, w0[k]), a1 = SMADD(a1, v, w1[k]), a2 = SMADD(a2, v, w2[k]);            \
                    a3 = SMADD(a3, v, w3[k]), a4 = SMADD(a4, v, w4[k]), a5 = SMADD(a5, v, w5[k]);            \
                    a6 = SMADD(a6, v, w6[k]), a7 = SMADD(a7, v, w7[k]);                                      \
                }                                                                                            \
                t[0] = a0, t[1] = a1, t[2] = a2, t[3] = a3, t[4] = a4, t[5] = a5, t[6] = a6, t[7] = a7;      \
                for (int j = 0; j < nc; j++)                                                                 \
                    yr[c0 + j] = t[j];                                                                       \
            }                                                                                                \
        }                                                                                                    \
    }

#define MADD_PLAIN(a, v, w) ((a) + (v) * (w))
LINEAR_ROWS(linear_rows_generic, , MADD_PLAIN)

#ifdef HAVE_AVX2_CLONE
#define MADD_FMA(a, v, w) ((vf8)_mm256_fmadd_ps(_mm256_set1_ps(v), (__m256)(w), (__m256)(a)))
#define SMADD_FMA(a, v, w) __builtin_fmaf((v), (w), (a))
LINEAR_KERNEL(linear_avx2, __attribute__((target("avx2,fma"))), MADD_FMA)
LINEAR_ROWS(linear_rows_avx2, __attribute__((target("avx2,fma"))), SMADD_FMA)
// the same two kernels built for AVX-512 (32 registers, EVEX): the same FMAs, hence the same bits
LINEAR_KERNEL(linear_avx512, __attribute__((target(TFT_AVX512_FMA))), MADD_FMA)
LINEAR_ROWS(linear_rows_avx512, __attribute__((target(TFT_AVX512_FMA))), SMADD_FMA)
#endif

#define SMALL_R 2 // up to this many rows: the unpacked row kernel

// x: [R, Cin] (ld ldx)   W: [Cout, Cin]   b: [Cout] or NULL   y: [R, Cout] (ld ldy)
void tft_op_linear(float *y, int ldy, const float *x, int ldx, const float *W, const float *b, int R, int Cin,
                   int Cout, int accumulate) {
    if (R <= 0 || Cout <= 0)
        return;
    if (Cin <= 0) { // no product: y = b, y + b, y or 0
        for (int r = 0; r < R; r++)
            for (int c = 0; c < Cout; c++) {
                float *yp = y + (size_t)r * ldy + c;
                float  v  = accumulate ? *yp : 0.0f;
                *yp       = b ? v + b[c] : v;
            }
        return;
    }
#ifdef HAVE_AVX2_CLONE
    const tft_isa isa = tft_op_isa();
    if (isa >= TFT_ISA_AVX2) { // the AVX-512 builds of the same two kernels: the same bits
        const int avx512 = isa == TFT_ISA_AVX512;
        if (R <= SMALL_R)
            (avx512 ? linear_rows_avx512 : linear_rows_avx2)(y, ldy, x, ldx, W, b, R, Cin, Cout, accumulate);
        else
            (avx512 ? linear_avx512 : linear_avx2)(y, ldy, x, ldx, W, b, R, Cin, Cout, accumulate);
        return;
    }
#endif
    // Portable build: GCC lowers the 8-float vectors of the tiled kernel badly without AVX (two
    // SSE halves, 24 live registers), so the row kernel serves every R there.
    linear_rows_generic(y, ldy, x, ldx, W, b, R, Cin, Cout, accumulate);
}

void tft_op_linear_ref(float *y, int ldy, const float *x, int ldx, const float *W, const float *b, int R,
                       int Cin, int Cout, int accumulate) {
    for (int r = 0; r < R; r++) {
        const float *xr = x + (size_t)r * ldx;
        float       *yr = y + (size_t)r * ldy;
        for (int c = 0; c < Cout; c++) {
            const float *wc  = W + (size_t)c * Cin;
            double       acc = b ? (double)b[c] : 0.0;
            for (int k = 0; k < Cin; k++)
                acc += (double)xr[k] * (double)wc[k];
            if (accumulate)
                acc += (double)yr[c];
            yr[c] = (float)acc;
        }
    }
}

// ---- packed panels: W packed once (at model load) for the AVX2 kernels ----------------------
// Panel j holds output columns [16j, 16j + 16) for every k: P[(j*Cin + k)*16 + c] = W[16j + c, k],
// zero past Cout. The kernels below read whole panels, so no call packs anything, and a tile may
// span several panels (the one-row case: the LSTM's h·W_hhᵀ at batch 1). Per output element the
// arithmetic is exactly that of tft_op_linear above (same init, same k order, same FMA), so packed
// and unpacked calls give the same bits.
size_t tft_op_pack_floats(int Cin, int Cout) {
    if (Cin <= 0 || Cout <= 0)
        return 0;
    return (size_t)((Cout + NB - 1) / NB) * NB * (size_t)Cin;
}

void tft_op_pack(float *P, const float *W, int Cin, int Cout) {
    for (int c0 = 0; c0 < Cout; c0 += NB)
        pack_wt(P + (size_t)c0 * Cin, W, Cin, c0, Cout - c0 < NB ? Cout - c0 : NB, 0, Cin);
}

#ifdef HAVE_AVX2_CLONE
// One tile: MR rows (rt..) x NP panels (j0..), 2*NP accumulators per row, all in registers (MR*2*NP
// <= 12). MR and NP are constants at every call site, so the loops unroll completely.
__attribute__((target("avx2,fma"), always_inline)) static inline void
ptile(float *y, int ldy, const float *x, int ldx, const float *P, const float *b, int Cin, int Cout, int accumulate,
      int rt, int j0, const int MR, const int NP) {
    vf8 acc[6][8];
    const vf8 zero = {0};
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
        for (int v = 0; v < 2 * NP; v++) {
            const int c0 = j0 * NB + v * 8;
            float    *yp = y + (size_t)(rt + r) * ldy + c0;
            if (c0 + 8 <= Cout) {
                vf8 a = zero;
                if (accumulate)
                    LD8(a, yp);
                if (b) {
                    vf8 bv;
                    LD8(bv, b + c0);
                    a = a + bv;
                }
                acc[r][v] = a;
            } else { // the last, partial vector: element by element, as load_tile does
                float t[8];
                for (int c = 0; c < 8; c++) {
                    float e = 0.0f;
                    if (c0 + c < Cout) {
                        e = accumulate ? yp[c] : 0.0f;
                        if (b)
                            e = e + b[c0 + c];
                    }
                    t[c] = e;
                }
                LD8(acc[r][v], t);
            }
        }
    const float *pj = P + (size_t)j0 * NB * Cin;
    const float *xr = x + (size_t)rt * ldx;
    for (int k = 0; k < Cin; k++) {
        vf8 w[8];
#pragma GCC unroll 8
        for (int v = 0; v < 2 * NP; v++)
            LD8(w[v], pj + ((size_t)(v / 2) * Cin + k) * NB + (v % 2) * 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            const __m256 s = _mm256_set1_ps(xr[(size_t)r * ldx + k]);
#pragma GCC unroll 8
            for (int v = 0; v < 2 * NP; v++)
                acc[r][v] = (vf8)_mm256_fmadd_ps(s, (__m256)w[v], (__m256)acc[r][v]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
        for (int v = 0; v < 2 * NP; v++) {
            const int c0 = j0 * NB + v * 8;
            float    *yp = y + (size_t)(rt + r) * ldy + c0;
            if (c0 + 8 <= Cout) {
                ST8(yp, acc[r][v]);
            } else if (c0 < Cout) {
                float t[8];
                ST8(t, acc[r][v]);
                for (int c = 0; c < Cout - c0; c++)
                    yp[c] = t[c];
            }
        }
}

// Rows rt.. (MR of them) times panels [j0, j1) in tiles of NP panels ((j1 - j0) % NP == 0). One
// small function per (MR, NP), not inlined into a common caller: GCC then keeps every accumulator
// of the tile in a register (inlined together, the tiles' pointers crowded them onto the stack).
// PROW_OF(prow, ATTR, ptile, MR, NP) defines prow_MR_NP, built with ATTR, from the tile function ptile.
#define PROW_OF(NAME, ATTR, TILE, MR, NP)                                                                     \
    ATTR __attribute__((noinline)) static void NAME##_##MR##_##NP(                                            \
        float *y, int ldy, const float *x, int ldx, const float *P, const float *b, int Cin, int Cout,        \
        int accumulate, int rt, int j0, int j1) {                                                             \
        for (int j = j0; j < j1; j += NP)                                                                     \
            TILE(y, ldy, x, ldx, P, b, Cin, Cout, accumulate, rt, j, MR, NP);                                 \
    }
#define PROW(MR, NP) PROW_OF(prow, __attribute__((target("avx2,fma"))), ptile, MR, NP)
PROW(6, 1)
PROW(5, 1)
PROW(4, 1)
PROW(3, 1)
PROW(2, 2)
PROW(2, 1)
PROW(1, 4)
PROW(1, 2)
PROW(1, 1)

// Rows in tiles of 6 x one panel; the remaining 1-5 rows (all of them for the LSTM's h·W_hhᵀ at
// batch 1) take several panels per tile when they are one or two, so that a tile always has 8-12
// independent accumulator chains: 1 x 4 panels, 2 x 2 panels. More would spill (accumulators +
// panel vectors + the broadcast must fit the 16 ymm registers).
__attribute__((target("avx2,fma"))) static void linear_packed_avx2(float *y, int ldy, const float *x, int ldx,
                                                                   const float *P, const float *b, int R, int Cin,
                                                                   int Cout, int accumulate) {
    const int np = (Cout + NB - 1) / NB;
    int       rt = 0;
    for (; rt + MB <= R; rt += MB)
        prow_6_1(y, ldy, x, ldx, P, b, Cin, Cout, accumulate, rt, 0, np);
    const int mr = R - rt;
    if (mr == 1) {
        const int j4 = np / 4 * 4, j2 = j4 + (np - j4) / 2 * 2;
        prow_1_4(y, ldy, x, ldx, P, b, Cin, Cout, accumulate, rt, 0, j4);
        prow_1_2(y, ldy, x, ldx, P, b, Cin, Cout, accumulate, rt, j4, j2);
        prow_1_1(y, ldy, x, ldx, P, b, Cin, Cout, accumulate, rt, j2, np);
    } else if (mr == 2) {
        const int j2 = np / 2 * 2;
        prow_2_2(y, ldy, x, ldx, P, b, Cin, Cout, accumulate, rt, 0, j2);
        prow_2_1(y, ldy, x, ldx, P, b, Cin, Cout, accumulate, rt, j2, np);
    } else if (mr == 3) {
        prow_3_1(y, ldy, x, ldx, P, b, Cin, Cout, accumulate, rt, 0, np);
    } else if (mr == 4) {
        prow_4_1(y, ldy, x, ldx, P, b, Cin, Cout, accumulate, rt, 0, np);
    } else if (mr == 5) {
        prow_5_1(y, ldy, x, ldx, P, b, Cin, Cout, accumulate, rt, 0, np);
    }
}
#endif

#ifdef HAVE_AVX2_CLONE
// ---- the packed panels on AVX-512: one panel (16 columns) is one 16-float register ----------
// The same panels, the same per-element arithmetic as ptile (init (accumulate ? y : 0) + b, then
// one FMA per k in k order), so the same bits as the AVX2 and unpacked kernels; only the tiling
// differs: MR rows x NP panels of one accumulator each, MR * NP <= 24 so that the accumulators,
// the NP panel vectors and the broadcast fit the 32 zmm registers. The partial last panel (Cout %
// 16) is read and written through a lane mask (masked-off lanes are never touched in memory).
typedef float vf16 __attribute__((vector_size(64)));
#define AVX512_ATTR __attribute__((target(TFT_AVX512_FMA)))

AVX512_ATTR __attribute__((always_inline)) static inline void
ptile16(float *y, int ldy, const float *x, int ldx, const float *P, const float *b, int Cin, int Cout, int accumulate,
        int rt, int j0, const int MR, const int NP) {
    vf16      acc[8][8];
    __mmask16 mask[8];
#pragma GCC unroll 8
    for (int v = 0; v < NP; v++) {
        const int c0 = (j0 + v) * NB;
        mask[v]      = Cout - c0 >= NB ? (__mmask16)0xFFFF : (__mmask16)((1u << (Cout - c0)) - 1u);
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
        for (int v = 0; v < NP; v++) {
            const int c0 = (j0 + v) * NB;
            vf16      a  = (vf16)_mm512_setzero_ps();
            if (accumulate)
                a = (vf16)_mm512_maskz_loadu_ps(mask[v], y + (size_t)(rt + r) * ldy + c0);
            if (b)
                a = a + (vf16)_mm512_maskz_loadu_ps(mask[v], b + c0);
            acc[r][v] = a;
        }
    const float *pj = P + (size_t)j0 * NB * Cin;
    const float *xr = x + (size_t)rt * ldx;
    for (int k = 0; k < Cin; k++) {
        __m512 w[8];
#pragma GCC unroll 8
        for (int v = 0; v < NP; v++)
            w[v] = _mm512_loadu_ps(pj + ((size_t)v * Cin + k) * NB);
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            const __m512 s = _mm512_set1_ps(xr[(size_t)r * ldx + k]);
#pragma GCC unroll 8
            for (int v = 0; v < NP; v++)
                acc[r][v] = (vf16)_mm512_fmadd_ps(s, w[v], (__m512)acc[r][v]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
        for (int v = 0; v < NP; v++)
            _mm512_mask_storeu_ps(y + (size_t)(rt + r) * ldy + (j0 + v) * NB, mask[v], (__m512)acc[r][v]);
}

// Rows rt.. (MR of them) times panels [j0, j1) in tiles of NP panels ((j1 - j0) % NP == 0); one
// function per (MR, NP) as for PROW.
#define PROW16(MR, NP) PROW_OF(prow16, AVX512_ATTR, ptile16, MR, NP)
PROW16(6, 4)
PROW16(4, 4)
PROW16(2, 4)
PROW16(1, 4)
PROW16(1, 8)
PROW16(8, 2)
PROW16(4, 2)
PROW16(2, 2)
PROW16(1, 2)
PROW16(8, 1)
PROW16(4, 1)
PROW16(2, 1)
PROW16(1, 1)

typedef void (*prow16_fn)(float *, int, const float *, int, const float *, const float *, int, int, int, int, int,
                          int);

// Rows [r0, R) x panels [j0, j1): tiles of tall[0] rows, then the remaining rows in tiles of the
// heights tall[1..3] (each taken at most once: the remainder is < tall[0] and written in binary).
static void prows16(const prow16_fn tall[4], const int h[4], float *y, int ldy, const float *x, int ldx,
                    const float *P, const float *b, int R, int Cin, int Cout, int accumulate, int j0, int j1) {
    if (j0 >= j1)
        return;
    int rt = 0;
    for (; rt + h[0] <= R; rt += h[0])
        tall[0](y, ldy, x, ldx, P, b, Cin, Cout, accumulate, rt, j0, j1);
    for (int i = 1; i < 4; i++)
        if (R - rt >= h[i]) {
            tall[i](y, ldy, x, ldx, P, b, Cin, Cout, accumulate, rt, j0, j1);
            rt += h[i];
        }
}

// Panels in groups of 4 (rows in tiles of 6), then 2 and 1 (rows in tiles of 8); a single row
// (the LSTM's h·W_hhᵀ at batch 1) first takes 8 panels per tile, so that every tile has at least 8
// independent FMA chains where the width allows.
AVX512_ATTR static void linear_packed_avx512(float *y, int ldy, const float *x, int ldx, const float *P,
                                             const float *b, int R, int Cin, int Cout, int accumulate) {
    static const prow16_fn p4[4] = {prow16_6_4, prow16_4_4, prow16_2_4, prow16_1_4};
    static const prow16_fn p2[4] = {prow16_8_2, prow16_4_2, prow16_2_2, prow16_1_2};
    static const prow16_fn p1[4] = {prow16_8_1, prow16_4_1, prow16_2_1, prow16_1_1};
    static const int       h4[4] = {6, 4, 2, 1}, h8[4] = {8, 4, 2, 1};
    const int              np = (Cout + NB - 1) / NB;
    int                    j  = 0;
    if (R == 1) {
        j = np / 8 * 8;
        prow16_1_8(y, ldy, x, ldx, P, b, Cin, Cout, accumulate, 0, 0, j);
    }
    const int j4 = j + (np - j) / 4 * 4, j2 = j4 + (np - j4) / 2 * 2;
    prows16(p4, h4, y, ldy, x, ldx, P, b, R, Cin, Cout, accumulate, j, j4);
    prows16(p2, h8, y, ldy, x, ldx, P, b, R, Cin, Cout, accumulate, j4, j2);
    prows16(p1, h8, y, ldy, x, ldx, P, b, R, Cin, Cout, accumulate, j2, np);
}
#endif

// x: [R, Cin] (ld ldx)   W: [Cout, Cin]   P: tft_op_pack(W) or NULL   b: [Cout] or NULL   y: [R, Cout] (ld ldy)
void tft_op_linear_packed(float *y, int ldy, const float *x, int ldx, const float *W, const float *P, const float *b,
                          int R, int Cin, int Cout, int accumulate) {
#ifdef HAVE_AVX2_CLONE
    const tft_isa isa = tft_op_isa();
    if (P && R > 0 && Cout > 0 && Cin > 0 && isa == TFT_ISA_AVX512) {
        linear_packed_avx512(y, ldy, x, ldx, P, b, R, Cin, Cout, accumulate);
        return;
    }
    if (P && R > 0 && Cout > 0 && Cin > 0 && isa == TFT_ISA_AVX2) {
        linear_packed_avx2(y, ldy, x, ldx, P, b, R, Cin, Cout, accumulate);
        return;
    }
#endif
    (void)P; // portable build, or no panels: the same bits through the unpacked kernels
    tft_op_linear(y, ldy, x, ldx, W, b, R, Cin, Cout, accumulate);
}
