// attention.c: the interpretable multi-head attention core (§5.7): per-head scaled dot-product
// scores, masked_fill with mask_bias, softmax over keys, then the mean over heads of A_h·V.
#include "ops.h"
#include "isa.h"

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
#define JBLK 64 // keys scored at a time (JBLK independent accumulators)
#define DBLK 64 // head dims per output chunk in A·V
#define HG 4    // heads accumulated together in A·V
typedef float vf8 __attribute__((vector_size(LANES * sizeof(float))));
typedef float vf16 __attribute__((vector_size(2 * LANES * sizeof(float)))); // the AVX-512 build's scores

size_t tft_op_attention_scratch(int Te, int Td, int NH, int D) {
    return (size_t)NH * D * ((size_t)Te + Td + JBLK);
}

// Decoder keys query q sees: [Te, Te + visible_dec(...)) (key_masked() as a range).
static inline int visible_dec(int q, int causal, int dec_len, int Td) {
    const int nv = causal ? q : dec_len;
    return nv < 0 ? 0 : (nv < Td ? nv : Td);
}

// s[j] = (Σ_{d < D} qv[d] · K[j, d]) / sqrtd for the keys j in [lo, hi), d ascending from +0, one
// float accumulator per score: the order depends only on D, never on where a key sits, so a key's
// score is the same with or without padding around it. kt: K^T of the head, rows of length ldk
// (>= hi + JBLK - 1, zero past the keys), so whole JBLK blocks are read and the tail is not stored.
// wide (a constant, 1 in the AVX-512 build): the JBLK keys as 4 16-lane chains instead of 8 8-lane
// ones, the same operations per key, hence the same bits.
__attribute__((always_inline)) static inline void scores_range(float *restrict s, const float *restrict qv, int D,
                                                               const float *restrict kt, size_t ldk, int lo, int hi,
                                                               float sqrtd, const int wide) {
    const vf8 sd = (vf8){sqrtd, sqrtd, sqrtd, sqrtd, sqrtd, sqrtd, sqrtd, sqrtd};
    if (wide) {
        const vf16 sd16 = __builtin_shufflevector(sd, sd, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7);
        for (int j0 = lo; j0 < hi; j0 += JBLK) {
            const int nj = hi - j0 < JBLK ? hi - j0 : JBLK;
            vf16      a[4];
            for (int v = 0; v < 4; v++)
                a[v] = (vf16){0};
            for (int d = 0; d < D; d++) {
                const float  qd = qv[d];
                const float *kr = kt + (size_t)d * ldk + j0;
                for (int v = 0; v < 4; v++) {
                    vf16 k;
                    memcpy(&k, kr + v * 2 * LANES, sizeof k);
                    a[v] += qd * k;
                }
            }
            for (int v = 0; v < 4; v++)
                a[v] = a[v] / sd16;
            // whole vectors straight from the registers; only a last partial one goes through t
            // (a block is partial at the end of every range: 288 encoder keys = 4.5 blocks)
            for (int v = 0; v < 4; v++)
                if (16 * (v + 1) <= nj)
                    memcpy(s + j0 + 16 * v, &a[v], sizeof a[v]);
            if (nj % 16) {
                float t[16];
                memcpy(t, &a[nj / 16], sizeof t);
                for (int jj = nj / 16 * 16; jj < nj; jj++)
                    s[j0 + jj] = t[jj % 16];
            }
        }
        return;
    }
    for (int j0 = lo; j0 < hi; j0 += JBLK) { // JBLK = 8 vectors: 8 independent chains over d
        const int nj = hi - j0 < JBLK ? hi - j0 : JBLK;
        vf8       a[8];
        for (int v = 0; v < 8; v++)
            a[v] = (vf8){0};
        for (int d = 0; d < D; d++) {
            const float  qd = qv[d];
            const float *kr = kt + (size_t)d * ldk + j0;
            for (int v = 0; v < 8; v++) {
                vf8 k;
                memcpy(&k, kr + v * LANES, sizeof k);
                a[v] += qd * k;
            }
        }
        for (int v = 0; v < 8; v++)
            a[v] = a[v] / sd; // the division torch does
        for (int v = 0; v < 8; v++) // whole vectors from the registers, a partial last one through t
            if (LANES * (v + 1) <= nj)
                memcpy(s + j0 + LANES * v, &a[v], sizeof a[v]);
        if (nj % LANES) {
            float t[LANES];
            memcpy(t, &a[nj / LANES], sizeof t);
            for (int jj = nj / LANES * LANES; jj < nj; jj++)
                s[j0 + jj] = t[jj % LANES];
        }
    }
}

// Per series b: K_b is transposed once into kt ([NH*D, T + JBLK], the scratch); then per decoder
// query q every head's row is scored (visible keys only: masked entries are overwritten by the
// softmax), softmaxed in place in attn[b,q,h,:] (tft_op_masked_softmax) and summed against V while
// the NH rows are still in L1: head[d] = Σ_j A[j]·V[b,j,d], j in order, over the visible keys when
// the softmax gave the masked ones exactly 0 (adding an exact 0 never changes a sum that starts from
// +0, so skipping them gives the same bits), else over all keys; out[b,q,:] = (Σ_h head) / NH
// (torch.mean over heads: sum in order, then divide). No BLAS; plain loops the compiler vectorizes.
// A series gives the same bits alone or padded inside a batch (tests/test_ops_blocks.c).
__attribute__((always_inline)) static inline void
attention_body(float *out, float *attn, const float *Q, const float *K, const float *V,
               const int32_t *enc_len, const int32_t *dec_len, int B, int Te, int Td, int NH, int D,
               int causal, float mask_bias, float *kt, int q0, int q1, const int wide) {
    const int    T     = Te + Td;
    const int    HD    = NH * D;
    const size_t ldk   = (size_t)T + JBLK;
    const float  sqrtd = sqrtf((float)D);
    for (int hd = 0; hd < HD; hd++) // the tail past T is read (whole blocks), never stored: zeros
        for (int j = T; j < (int)ldk; j++)
            kt[(size_t)hd * ldk + j] = 0.0f;
    for (int b = 0; b < B; b++) {
        const float *Kb = K + (size_t)b * T * HD;
        const float *Vb = V + (size_t)b * T * D;
        const float *Qb = Q + (size_t)b * Td * HD;
        float       *Ab = attn + (size_t)b * Td * NH * T; // [Td, NH, T]
        for (int j = 0; j < T; j++)
            for (int hd = 0; hd < HD; hd++)
                kt[(size_t)hd * ldk + j] = Kb[(size_t)j * HD + hd];
        // visible keys of query q: encoder [0, ne), decoder [Te, Te + nv): key_masked() as ranges
        const int ne = enc_len[b] < 0 ? 0 : (enc_len[b] < Te ? enc_len[b] : Te);
        for (int q = q0; q < q1; q++) {
            const int nv   = visible_dec(q, causal, dec_len[b], Td);
            float    *Aq   = Ab + (size_t)q * NH * T;         // [NH, T]
            int       zero = 1;                               // masked weights all exactly 0
            for (int h = 0; h < NH; h++) {
                float       *srow = Aq + (size_t)h * T;
                const float *qv   = Qb + (size_t)q * HD + (size_t)h * D;
                const float *kh   = kt + (size_t)h * D * ldk;
                scores_range(srow, qv, D, kh, ldk, 0, ne, sqrtd, wide);
                scores_range(srow, qv, D, kh, ldk, Te, Te + nv, sqrtd, wide);
                zero &= tft_op_masked_softmax(srow, T, ne, Te, nv, mask_bias); // masked: mask_bias, softmax
            }
            float *Oq = out + ((size_t)b * Td + q) * D; // [D]
            // the keys summed over: the visible ranges, or all T when a masked weight is not 0
            const int rlo[2] = {0, Te}, rhi[2] = {zero ? ne : T, Te + nv}, nr = zero ? 2 : 1;
            if (D % LANES == 0) {
                // per LANES-dim slice: HG heads at a time share each V row (HG independent chains,
                // each head's sum over j in key order, multiply then add), their sums added to the
                // head total in head order from +0, then the mean
                for (int dc = 0; dc < D; dc += LANES) {
                    vf8 sum = {0};
                    for (int h0 = 0; h0 < NH; h0 += HG) {
                        const int    ng = NH - h0 < HG ? NH - h0 : HG;
                        const float *w0 = Aq + (size_t)h0 * T;
                        const float *w1 = ng > 1 ? w0 + T : w0, *w2 = ng > 2 ? w0 + 2 * (size_t)T : w0;
                        const float *w3 = ng > 3 ? w0 + 3 * (size_t)T : w0;
                        vf8          a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
                        for (int rg = 0; rg < nr; rg++)
                            for (int j = rlo[rg]; j < rhi[rg]; j++) {
                                vf8 v;
                                memcpy(&v, Vb + (size_t)j * D + dc, sizeof v);
                                a0 += w0[j] * v, a1 += w1[j] * v, a2 += w2[j] * v, a3 += w3[j] * v;
                            }
                        sum += a0;
                        if (ng > 1)
                            sum += a1;
                        if (ng > 2)
                            sum += a2;
                        if (ng > 3)
                            sum += a3;
                    }
                    if (NH > 1)
                        sum = sum / (float)NH;
                    memcpy(Oq + dc, &sum, sizeof sum);
                }
                continue;
            }
            for (int d0 = 0; d0 < D; d0 += DBLK) { // D not a multiple of LANES: the same sums, scalar
                const int nd = D - d0 < DBLK ? D - d0 : DBLK;
                float     sum[DBLK];
                for (int d = 0; d < nd; d++)
                    sum[d] = 0.0f;
                for (int h0 = 0; h0 < NH; h0 += HG) {
                    const int ng = NH - h0 < HG ? NH - h0 : HG;
                    float     head[HG][DBLK];
                    for (int g = 0; g < ng; g++)
                        for (int d = 0; d < nd; d++)
                            head[g][d] = 0.0f;
                    for (int rg = 0; rg < nr; rg++)
                        for (int j = rlo[rg]; j < rhi[rg]; j++) {
                            const float *v = Vb + (size_t)j * D + d0;
                            for (int g = 0; g < ng; g++) {
                                const float w = Aq[(size_t)(h0 + g) * T + j];
                                for (int d = 0; d < nd; d++)
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
                              int D, int causal, float mask_bias, float *kt, int q0, int q1) {
    attention_body(out, attn, Q, K, V, enc_len, dec_len, B, Te, Td, NH, D, causal, mask_bias, kt, q0, q1, 0);
}

#ifdef TFT_HAVE_X86_CLONES
#define HAVE_AVX2_CLONE 1
__attribute__((target("avx2"))) static void attention_avx2(float *out, float *attn, const float *Q,
                                                           const float *K, const float *V,
                                                           const int32_t *enc_len, const int32_t *dec_len,
                                                           int B, int Te, int Td, int NH, int D, int causal,
                                                           float mask_bias, float *kt, int q0, int q1) {
    attention_body(out, attn, Q, K, V, enc_len, dec_len, B, Te, Td, NH, D, causal, mask_bias, kt, q0, q1, 0);
}
// and AVX-512 (the same 8-lane code, 32 registers, EVEX encodings): the same bits again
__attribute__((target(TFT_AVX512_NOFMA))) static void attention_avx512(float *out, float *attn, const float *Q,
                                                                     const float *K, const float *V,
                                                                     const int32_t *enc_len, const int32_t *dec_len,
                                                                     int B, int Te, int Td, int NH, int D, int causal,
                                                                     float mask_bias, float *kt, int q0, int q1) {
    attention_body(out, attn, Q, K, V, enc_len, dec_len, B, Te, Td, NH, D, causal, mask_bias, kt, q0, q1, 1);
}
#endif

void tft_op_attention_q(float *out, float *attn, const float *Q, const float *K, const float *V,
                        const int32_t *enc_len, const int32_t *dec_len, int B, int Te, int Td, int NH, int D,
                        int causal, float mask_bias, float *scratch, int q0, int q1) {
    q0 = q0 < 0 ? 0 : q0, q1 = q1 > Td ? Td : q1;
    if (B <= 0 || Td <= 0 || NH <= 0 || D <= 0 || q0 >= q1)
        return;
#ifdef HAVE_AVX2_CLONE
    const tft_isa isa = tft_op_isa();
    if (isa == TFT_ISA_AVX512) {
        attention_avx512(out, attn, Q, K, V, enc_len, dec_len, B, Te, Td, NH, D, causal, mask_bias, scratch, q0, q1);
        return;
    }
    if (isa == TFT_ISA_AVX2) {
        attention_avx2(out, attn, Q, K, V, enc_len, dec_len, B, Te, Td, NH, D, causal, mask_bias, scratch, q0, q1);
        return;
    }
#endif
    attention_generic(out, attn, Q, K, V, enc_len, dec_len, B, Te, Td, NH, D, causal, mask_bias, scratch, q0, q1);
}

void tft_op_attention(float *out, float *attn, const float *Q, const float *K, const float *V,
                      const int32_t *enc_len, const int32_t *dec_len, int B, int Te, int Td, int NH, int D,
                      int causal, float mask_bias, float *scratch) {
    tft_op_attention_q(out, attn, Q, K, V, enc_len, dec_len, B, Te, Td, NH, D, causal, mask_bias, scratch, 0, Td);
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
