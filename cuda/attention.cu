// attention.cu: the interpretable multi-head attention core (§5.7) in one kernel: scores, mask,
// softmax and the head-averaged A·V, with tft_op_attention's semantics (ops/attention.c).
//
// Launch geometry: one block of kAttThreads (128) threads per (decoder query q, series b):
// grid (Td, B). Dynamic shared memory: q [NH*D] (the query's heads) and s [NH, T] (scores, then the
// weights), NH*(D + T) floats (NH 4, T 384, D 16: 6.4 KiB). Phases, separated by __syncthreads:
//   1. threads stride over the NH*T (head, key) pairs: masked -> mask_bias, else the dot product
//      over d ascending in float (one fmaf chain per score), then / sqrtf(D) as torch divides;
//   2. warp w softmaxes heads w, w+4, ...: max, Σ exp (warp butterflies), weights written to s and
//      to attn[b,q,h,:];
//   3. threads stride over d: out[b,q,d] = (Σ_h Σ_j s[h,j]·V[b,j,d]) / NH (heads in order).
// Reading K in phase 1 is not coalesced (neighbouring threads take neighbouring keys, HD floats
// apart); T·NH·D is small for TFT shapes, and a tiled K^T staging is the first optimization to
// measure once a device exists.
#include "common.cuh"


constexpr int kAttThreads = 128;

static __device__ __forceinline__ bool key_masked(int j, int q, int Te, int enc_len, int dec_len, int causal) {
    if (j < Te)
        return j >= enc_len;
    const int k = j - Te;
    return causal ? k >= q : k >= dec_len;
}

static __global__ void __launch_bounds__(kAttThreads)
    attention_kernel(float *out, float *attn, const float *Q, const float *K, const float *V, const int32_t *enc_len,
                     const int32_t *dec_len, int Te, int Td, int NH, int D, int causal, float mask_bias) {
    TFT_DYNAMIC_SHARED(float, sm);
    const int    q = blockIdx.x, b = blockIdx.y, T = Te + Td, HD = NH * D;
    float       *qs = sm;           // [NH*D]
    float       *s  = sm + HD;      // [NH, T]
    const float *Qb = Q + ((size_t)b * Td + q) * HD;
    const float *Kb = K + (size_t)b * T * HD;
    const float *Vb = V + (size_t)b * T * D;
    const int    el = enc_len[b], dl = dec_len[b];
    const float  sqrtd = sqrtf((float)D);
    for (int i = threadIdx.x; i < HD; i += blockDim.x)
        qs[i] = Qb[i];
    __syncthreads();
    // 1. scores
    for (int i = threadIdx.x; i < NH * T; i += blockDim.x) {
        const int h = i / T, j = i % T;
        float     v = mask_bias;
        if (!key_masked(j, q, Te, el, dl, causal)) {
            const float *kv  = Kb + (size_t)j * HD + (size_t)h * D;
            const float *qv  = qs + h * D;
            float        acc = 0.0f;
            for (int d = 0; d < D; d++)
                acc = fmaf(qv[d], kv[d], acc);
            v = acc / sqrtd;
        }
        s[i] = v;
    }
    __syncthreads();
    // 2. softmax per head (a warp per head)
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, nw = blockDim.x / kWarp;
    float    *A    = attn + (((size_t)b * Td + q) * NH) * T; // [NH, T]
    for (int h = warp; h < NH; h += nw) {
        float *sr = s + (size_t)h * T;
        float  m  = -INFINITY;
        for (int j = lane; j < T; j += kWarp)
            m = fmaxf(m, sr[j]);
        m       = warp_max(m);
        float z = 0.0f;
        for (int j = lane; j < T; j += kWarp) {
            const float e = expf(sr[j] - m);
            sr[j]         = e;
            z += e;
        }
        const float inv = 1.0f / warp_sum(z);
        for (int j = lane; j < T; j += kWarp) {
            const float a       = sr[j] * inv;
            sr[j]               = a;
            A[(size_t)h * T + j] = a;
        }
    }
    __syncthreads();
    // 3. head-averaged A·V
    float *o = out + ((size_t)b * Td + q) * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float sum = 0.0f;
        for (int h = 0; h < NH; h++) {
            const float *a   = s + (size_t)h * T;
            float        acc = 0.0f;
            for (int j = 0; j < T; j++)
                acc = fmaf(a[j], Vb[(size_t)j * D + d], acc);
            sum += acc;
        }
        o[d] = NH > 1 ? sum / (float)NH : sum;
    }
}


extern "C" tft_status tft_cuda_attention(float *out, float *attn, const float *Q, const float *K, const float *V,
                                         const int32_t *enc_len, const int32_t *dec_len, int B, int Te, int Td,
                                         int NH, int D, int causal, float mask_bias, void *stream) {
    TFT_CU_ARG(B >= 0 && Te >= 0 && Td >= 0 && NH >= 1 && D >= 1);
    if (B == 0 || Td == 0)
        return TFT_OK;
    TFT_CU_ARG(out && attn && Q && K && V && enc_len && dec_len);
    TFT_CU_ARG(B <= 65535); // gridDim.y limit
    const size_t smem = (size_t)NH * ((size_t)D + Te + Td) * sizeof(float);
    int          dev = 0, optin = 0;
    TFT_CU_CHECK(cudaGetDevice(&dev));
    TFT_CU_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (smem > (size_t)optin)
        return tft__fail(TFT_ERR_UNSUPPORTED,
                         "tft_cuda_attention: NH=%d D=%d T=%d needs %zu B of shared memory, the device has %d", NH, D,
                         Te + Td, smem, optin);
    if (smem > 48 * 1024) // above the default 48 KiB a kernel must opt in
        TFT_CU_CHECK(cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    TFT_LAUNCH(attention_kernel, dim3((unsigned)Td, (unsigned)B), kAttThreads, smem, TFT_CU_STREAM(stream))(
        out, attn, Q, K, V, enc_len, dec_len, Te, Td, NH, D, causal, mask_bias);
    TFT_CU_LAUNCHED();
    return TFT_OK;
}
