// attention.c: the interpretable multi-head attention core (§5.7): per-head scaled dot-product
// scores, masked_fill with mask_bias, softmax over keys, then the mean over heads of A_h·V.
#include "ops.h"

#include <math.h>
#include <string.h>

// True when key j (0 <= j < Te+Td) is masked for decoder query q of a series.
static inline int key_masked(int j, int q, int Te, int enc_len, int dec_len, int causal) {
    if (j < Te)
        return j >= enc_len;
    const int k = j - Te;
    return causal ? k >= q : k >= dec_len;
}

#define LANES 8 // vector width the loops are written for (fixed inner counts vectorize at -O2)
#define JBLK 64 // keys per transposed K block
#define DBLK 64 // head dims per transposed K block / per output chunk
#define HG 4    // heads accumulated together in A·V
typedef float vf8 __attribute__((vector_size(LANES * sizeof(float))));

// S[q, j0 + jj] (+)= Σ_{d in [d0, d0 + nd)} Q[q, d] · K[j0 + jj, d], d ascending, one float
// accumulator per score (kept in the attn row between d chunks). kt: [nd, JBLK], K^T of the block,
// zero past nj. The order depends only on D, never on where a key sits, so a key's score is the
// same with or without padding around it.
__attribute__((always_inline)) static inline void scores_block(float *restrict arow, int     ldarow,
                                                               const float *restrict Qh, int ldq, int Td,
                                                               const float *restrict kt, int nd, int first,
                                                               int j0, int nj) {
    for (int q = 0; q < Td; q++) {
        const float *qv = Qh + (size_t)q * ldq;
        float       *s  = arow + (size_t)q * ldarow + j0;
        float        acc[JBLK]; // JBLK independent chains: the d loop is throughput-, not latency-bound
        if (first) { // the common case (D <= DBLK): a plain zero fill, no masked load from the row
            for (int jj = 0; jj < JBLK; jj++)
                acc[jj] = 0.0f;
        } else {
            for (int jj = 0; jj < JBLK; jj++)
                acc[jj] = jj >= nj ? 0.0f : s[jj];
        }
        for (int d = 0; d < nd; d++) {
            const float  qd = qv[d];
            const float *kr = kt + (size_t)d * JBLK;
            for (int jj = 0; jj < JBLK; jj++)
                acc[jj] += qd * kr[jj];
        }
        for (int jj = 0; jj < nj; jj++)
            s[jj] = acc[jj];
    }
}

// Fast path, per series b and head h (plain loops the compiler vectorizes, no BLAS):
//   S = Q_h·K_hᵀ by transposed K blocks (scores_block), then per query: S /= sqrt((float)D) (a
//   division, as torch does), masked_fill, softmax in place in attn[b,q,h,:] (its serial sum keeps
//   masked zeros from changing the bits); head[d] = Σ_j A[j]·V[b,j,d], j in order;
//   out[b,q,:] = (Σ_h head) / NH (torch.mean over heads: sum in order, then divide).
// A series gives the same bits alone or padded inside a batch (tests/test_ops_blocks.c).
__attribute__((always_inline)) static inline void
attention_body(float *out, float *attn, const float *Q, const float *K, const float *V,
               const int32_t *enc_len, const int32_t *dec_len, int B, int Te, int Td, int NH, int D,
               int causal, float mask_bias) {
    const int   T     = Te + Td;
    const int   HD    = NH * D;
    const float sqrtd = sqrtf((float)D);
    float       kt[DBLK * JBLK]; // 16 KiB
    for (int b = 0; b < B; b++) {
        const float *Kb = K + (size_t)b * T * HD;
        const float *Vb = V + (size_t)b * T * D;
        const float *Qb = Q + (size_t)b * Td * HD;
        float       *Ab = attn + (size_t)b * Td * NH * T; // [Td, NH, T]
        for (int h = 0; h < NH; h++) {
            for (int j0 = 0; j0 < T; j0 += JBLK) {
                const int nj = T - j0 < JBLK ? T - j0 : JBLK;
                for (int d0 = 0; d0 < D; d0 += DBLK) {
                    const int nd = D - d0 < DBLK ? D - d0 : DBLK;
                    for (int d = 0; d < nd; d++)
                        for (int jj = 0; jj < JBLK; jj++)
                            kt[(size_t)d * JBLK + jj] =
                                jj < nj ? Kb[(size_t)(j0 + jj) * HD + (size_t)h * D + d0 + d] : 0.0f;
                    scores_block(Ab + (size_t)h * T, NH * T, Qb + (size_t)h * D + d0, HD, Td, kt, nd, d0 == 0,
                                 j0, nj);
                }
            }
            for (int q = 0; q < Td; q++) {
                float *s = Ab + ((size_t)q * NH + h) * T;
                // visible keys: encoder [0, ne), decoder [Te, Te + nv): key_masked() as ranges
                const int ne = enc_len[b] < 0 ? 0 : (enc_len[b] < Te ? enc_len[b] : Te);
                int       nv = causal ? q : dec_len[b];
                nv           = nv < 0 ? 0 : (nv < Td ? nv : Td);
                for (int j = 0; j < ne; j++)
                    s[j] = s[j] / sqrtd;
                for (int j = Te; j < Te + nv; j++)
                    s[j] = s[j] / sqrtd;
                tft_op_masked_softmax(s, T, ne, Te, nv, mask_bias); // masked keys: mask_bias, then softmax
            }
        }
        for (int q = 0; q < Td; q++) {
            const float *Aq = Ab + (size_t)q * NH * T;        // [NH, T]
            float       *Oq = out + ((size_t)b * Td + q) * D; // [D]
            for (int d0 = 0; d0 < D; d0 += DBLK) {
                const int nd = D - d0 < DBLK ? D - d0 : DBLK;
                float     sum[DBLK];
                for (int d = 0; d < nd; d++)
                    sum[d] = 0.0f;
                // HG heads at a time share each V row and give HG independent chains; within a head
                // the sum over j stays in key order
                for (int h0 = 0; h0 < NH; h0 += HG) {
                    const int ng = NH - h0 < HG ? NH - h0 : HG;
                    float     head[HG][DBLK];
                    for (int g = 0; g < HG; g++)
                        for (int d = 0; d < DBLK; d++)
                            head[g][d] = 0.0f;
                    if (nd % LANES == 0) {
                        // the same sums (key order, multiply then add) with each head's LANES
                        // accumulators in a register across the keys instead of a stack round trip
                        const float *w0 = Aq + (size_t)h0 * T;
                        const float *w1 = ng > 1 ? w0 + T : w0, *w2 = ng > 2 ? w0 + 2 * (size_t)T : w0;
                        const float *w3 = ng > 3 ? w0 + 3 * (size_t)T : w0;
                        for (int dc = 0; dc < nd; dc += LANES) {
                            vf8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
                            for (int j = 0; j < T; j++) {
                                vf8 v;
                                memcpy(&v, Vb + (size_t)j * D + d0 + dc, sizeof v);
                                a0 += w0[j] * v, a1 += w1[j] * v, a2 += w2[j] * v, a3 += w3[j] * v;
                            }
                            memcpy(&head[0][dc], &a0, sizeof a0), memcpy(&head[1][dc], &a1, sizeof a1);
                            memcpy(&head[2][dc], &a2, sizeof a2), memcpy(&head[3][dc], &a3, sizeof a3);
                        }
                    } else
                    for (int j = 0; j < T; j++) {
                        const float *v = Vb + (size_t)j * D + d0;
                        for (int g = 0; g < ng; g++) {
                            const float w = Aq[(size_t)(h0 + g) * T + j];
                            int         d = 0;
                            for (; d + LANES <= nd; d += LANES)
                                for (int l = 0; l < LANES; l++)
                                    head[g][d + l] += w * v[d + l];
                            for (; d < nd; d++)
                                head[g][d] += w * v[d];
                        }
                    }
                    for (int g = 0; g < ng; g++)
                        for (int d = 0; d < nd; d++)
                            sum[d] += head[g][d];
                }
                for (int d = 0; d < nd; d++)
                    Oq[d0 + d] = NH > 1 ? sum[d] / (float)NH : sum[d];
            }
        }
    }
}

// The same source twice: portable (SSE2 on x86-64) and, picked at run time, AVX2 (8-wide). Both
// multiply, then add (no FMA; -std=c11 disables contraction), so both give the same bits.
static void attention_generic(float *out, float *attn, const float *Q, const float *K, const float *V,
                              const int32_t *enc_len, const int32_t *dec_len, int B, int Te, int Td, int NH,
                              int D, int causal, float mask_bias) {
    attention_body(out, attn, Q, K, V, enc_len, dec_len, B, Te, Td, NH, D, causal, mask_bias);
}

#if (defined(__x86_64__) || defined(__i386__)) && !defined(TFT_NO_AVX2)
#define HAVE_AVX2_CLONE 1
__attribute__((target("avx2"))) static void attention_avx2(float *out, float *attn, const float *Q,
                                                           const float *K, const float *V,
                                                           const int32_t *enc_len, const int32_t *dec_len,
                                                           int B, int Te, int Td, int NH, int D, int causal,
                                                           float mask_bias) {
    attention_body(out, attn, Q, K, V, enc_len, dec_len, B, Te, Td, NH, D, causal, mask_bias);
}
#endif

void tft_op_attention(float *out, float *attn, const float *Q, const float *K, const float *V,
                      const int32_t *enc_len, const int32_t *dec_len, int B, int Te, int Td, int NH, int D,
                      int causal, float mask_bias) {
    if (B <= 0 || Td <= 0 || NH <= 0 || D <= 0)
        return;
#ifdef HAVE_AVX2_CLONE
    if (__builtin_cpu_supports("avx2")) {
        attention_avx2(out, attn, Q, K, V, enc_len, dec_len, B, Te, Td, NH, D, causal, mask_bias);
        return;
    }
#endif
    attention_generic(out, attn, Q, K, V, enc_len, dec_len, B, Te, Td, NH, D, causal, mask_bias);
}

// Reference: plain loops, double dot products and softmax; weights rounded to float before
// they are written to attn, the head average accumulated in double.
void tft_op_attention_ref(float *out, float *attn, const float *Q, const float *K, const float *V,
                          const int32_t *enc_len, const int32_t *dec_len, int B, int Te, int Td, int NH,
                          int D, int causal, float mask_bias) {
    const int    T = Te + Td, HD = NH * D;
    const double sqrtd = (double)sqrtf((float)D);
    for (int b = 0; b < B; b++)
        for (int q = 0; q < Td; q++) {
            float *o = out + ((size_t)b * Td + q) * D;
            for (int d = 0; d < D; d++)
                o[d] = 0.0f;
            for (int h = 0; h < NH; h++) {
                float       *a  = attn + (((size_t)b * Td + q) * NH + h) * T; // [T]
                const float *qv = Q + ((size_t)b * Td + q) * HD + (size_t)h * D;
                double       mx = -INFINITY, sum = 0.0;
                for (int j = 0; j < T; j++) {
                    const float *kv = K + ((size_t)b * T + j) * HD + (size_t)h * D;
                    double       s  = 0.0;
                    for (int d = 0; d < D; d++)
                        s += (double)qv[d] * (double)kv[d];
                    s = key_masked(j, q, Te, enc_len[b], dec_len[b], causal) ? (double)mask_bias : s / sqrtd;
                    a[j] = (float)s; // the score, a float tensor in torch too; replaced by its weight below
                    mx   = (double)a[j] > mx ? (double)a[j] : mx;
                }
                for (int j = 0; j < T; j++)
                    sum += exp((double)a[j] - mx);
                for (int j = 0; j < T; j++)
                    a[j] = (float)(exp((double)a[j] - mx) / sum);
            }
            for (int d = 0; d < D; d++) {
                double acc = 0.0;
                for (int h = 0; h < NH; h++) {
                    const float *a = attn + (((size_t)b * Td + q) * NH + h) * T;
                    for (int j = 0; j < T; j++)
                        acc += (double)a[j] * (double)V[((size_t)b * T + j) * D + d];
                }
                o[d] = (float)(acc / NH);
            }
        }
}
