// vmath.h: the branch-free float exp family shared by the CPU ops (internal). Header-only and
// static inline so that every op's AVX2 and portable builds inline and vectorize the same code:
// any two ops computing sigmoid(x) give the same bits (a fused kernel equals the unfused ops).
// Only multiplies, adds, divides and bit moves: -std=c11 keeps GCC from contracting them to FMAs.
#ifndef TFT_OPS_VMATH_H
#define TFT_OPS_VMATH_H
#include <math.h>
#include <stdint.h>
#include <string.h>

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

// ELU (alpha 1): x > 0 ? x : expm1(x) --------------------------------------------------
static inline float elu1(float v) {
    return sel(v > 0.0f, v, vexpm1f_neg(v));
}
// ---- the same functions on 8 lanes (GCC vector extensions) ----------------------------------
// Lane by lane the identical sequence of IEEE operations as the scalar functions above (same
// constants, same order, compares as lane masks instead of sel()'s bit blend), so vexpf8(x)[i] ==
// vexpf(x[i]) bit for bit. Written out rather than left to the auto-vectorizer, which split the
// stores and kept one 8-float block per iteration; callers unroll two vectors per iteration so
// that two independent polynomial chains are in flight.
// GCC says (-Wpsabi) that passing or returning 32-byte vectors without AVX enabled changes the
// calling convention; these are static inline helpers inlined into each build, never an external
// interface, so it does not apply. Two diagnostics come from it: the warnings "AVX vector
// argument/return without AVX enabled changes the ABI" (errors under -Werror), which the pragma
// below switches off for the including file, and the note "the ABI for passing parameters with
// 32-byte alignment has changed in GCC 4.6", which GCC emits with inform() gated only by the
// command-line flag, so no pragma reaches it: the Makefile adds -Wno-psabi to the objects that
// include this header (VMATH_OBJ).
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float   tft_vf8 __attribute__((vector_size(32)));
typedef int32_t tft_vi8 __attribute__((vector_size(32)));

// The 8-lane family, from one macro (VMATH_DEFS(8, tft_vf8, tft_vi8) defines vexpf8, vexpm1f_neg8,
// vsigmoidf8, vtanhf8, elu8, vsel8, vsplat8, vload8, vstore8) so that other widths can be added.
#define VINL static inline __attribute__((always_inline))
#define VMATH_DEFS(N, VF, VI)                                                                                \
    VINL VF vsel##N(VI m, VF a, VF b) {                                                                      \
        return (VF)(((VI)a & m) | ((VI)b & ~m));                                                             \
    }                                                                                                        \
    VINL VF vsplat##N(float v) { /* every lane v exactly (0 + v would turn -0 into +0) */                 \
        VF r = {0};                                                                                          \
        for (int i = 0; i < N; i++)                                                                          \
            r[i] = v;                                                                                        \
        return r;                                                                                            \
    }                                                                                                        \
    VINL VF vexpf##N(VF x) {                                                                                 \
        x             = vsel##N(x < -104.0f, vsplat##N(-104.0f), x);                                        \
        x             = vsel##N(x > 89.0f, vsplat##N(89.0f), x);                                             \
        const VF t    = x * 1.44269504088896341f + 12582912.0f;                                              \
        const VF n    = t - 12582912.0f;                                                                     \
        const VI ni   = (VI)t - 0x4B400000;                                                                  \
        VF       r    = x - n * 0.693359375f;                                                                \
        r             = r - n * -2.12194440e-4f;                                                             \
        VF p          = vsplat##N(1.9875691500e-4f);                                                         \
        p             = p * r + 1.3981999507e-3f;                                                            \
        p             = p * r + 8.3334519073e-3f;                                                            \
        p             = p * r + 4.1665795894e-2f;                                                            \
        p             = p * r + 1.6666665459e-1f;                                                            \
        p             = p * r + 5.0000001201e-1f;                                                            \
        p             = p * (r * r) + r + 1.0f;                                                              \
        const VI n1   = ni / 2, n2 = ni - n1;                                                                \
        const VI b1   = (n1 + 127) << 23, b2 = (n2 + 127) << 23;                                             \
        return p * (VF)b1 * (VF)b2;                                                                          \
    }                                                                                                        \
    VINL VF vexpm1f_neg##N(VF x) {                                                                           \
        VF p           = vsplat##N(1.0f / 40320.0f);                                                         \
        p              = p * x + 1.0f / 5040.0f;                                                             \
        p              = p * x + 1.0f / 720.0f;                                                              \
        p              = p * x + 1.0f / 120.0f;                                                              \
        p              = p * x + 1.0f / 24.0f;                                                               \
        p              = p * x + 1.0f / 6.0f;                                                                \
        p              = p * x + 0.5f;                                                                       \
        p              = p * x + 1.0f;                                                                       \
        const VF small = p * x;                                                                              \
        const VF big   = vexpf##N(x) - 1.0f;                                                                 \
        return vsel##N(x > -0.35f, small, big);                                                              \
    }                                                                                                        \
    VINL VF vsigmoidf##N(VF x) {                                                                             \
        return 1.0f / (1.0f + vexpf##N(-x));                                                                 \
    }                                                                                                        \
    VINL VF vtanhf##N(VF x) { /* copysignf(-t / (t + 2), x) as bit operations */                             \
        const VI sign = (VI)x & (int32_t)0x80000000;                                                         \
        const VF ax   = (VF)((VI)x & 0x7fffffff);                                                            \
        const VF t    = vexpm1f_neg##N(-2.0f * ax);                                                          \
        const VF m    = -t / (t + 2.0f);                                                                     \
        return (VF)(((VI)m & 0x7fffffff) | sign);                                                            \
    }                                                                                                        \
    VINL VF elu##N(VF v) {                                                                                   \
        return vsel##N(v > 0.0f, v, vexpm1f_neg##N(v));                                                      \
    }                                                                                                        \
    VINL VF vload##N(const float *p) {                                                                       \
        VF v;                                                                                                \
        memcpy(&v, p, sizeof v);                                                                             \
        return v;                                                                                            \
    }                                                                                                        \
    VINL void vstore##N(float *p, VF v) {                                                                    \
        memcpy(p, &v, sizeof v);                                                                             \
    }
VMATH_DEFS(8, tft_vf8, tft_vi8)
// ---- two vectors interleaved, statement by statement ------------------------------------------
// One 8-lane exp is a ~25-deep chain of 3-4 cycle operations, and one LSTM cell vector is ~290
// µops: the reorder window then holds a single chain and the core idles on latency (measured:
// IPC 1.8, 160 cycles per vector). Every statement below is applied to two independent vectors
// before the next statement, so the two chains sit side by side in the instruction stream. Per
// lane the operations are those of the 8-lane functions, so the bits are the same.
typedef struct tft_vf8x2 {
    tft_vf8 v[2];
} tft_vf8x2;
#define FOR2(i) _Pragma("GCC unroll 2") for (int i = 0; i < 2; i++)

VINL tft_vf8x2 vload8x2(const float *p0, const float *p1) {
    tft_vf8x2 r = {{vload8(p0), vload8(p1)}};
    return r;
}

VINL tft_vf8x2 vexpf8x2(tft_vf8x2 X) {
    tft_vf8 x[2], t[2], n[2], r[2], p[2];
    tft_vi8 ni[2], n1[2], n2[2], b1[2], b2[2];
    FOR2(i) x[i] = vsel8(X.v[i] < -104.0f, vsplat8(-104.0f), X.v[i]);
    FOR2(i) x[i] = vsel8(x[i] > 89.0f, vsplat8(89.0f), x[i]);
    FOR2(i) t[i] = x[i] * 1.44269504088896341f + 12582912.0f;
    FOR2(i) n[i] = t[i] - 12582912.0f;
    FOR2(i) ni[i] = (tft_vi8)t[i] - 0x4B400000;
    FOR2(i) r[i] = x[i] - n[i] * 0.693359375f;
    FOR2(i) r[i] = r[i] - n[i] * -2.12194440e-4f;
    FOR2(i) p[i] = vsplat8(1.9875691500e-4f);
    FOR2(i) p[i] = p[i] * r[i] + 1.3981999507e-3f;
    FOR2(i) p[i] = p[i] * r[i] + 8.3334519073e-3f;
    FOR2(i) p[i] = p[i] * r[i] + 4.1665795894e-2f;
    FOR2(i) p[i] = p[i] * r[i] + 1.6666665459e-1f;
    FOR2(i) p[i] = p[i] * r[i] + 5.0000001201e-1f;
    FOR2(i) p[i] = p[i] * (r[i] * r[i]) + r[i] + 1.0f;
    FOR2(i) n1[i] = ni[i] / 2, n2[i] = ni[i] - n1[i];
    FOR2(i) b1[i] = (n1[i] + 127) << 23, b2[i] = (n2[i] + 127) << 23;
    tft_vf8x2 out;
    FOR2(i) out.v[i] = p[i] * (tft_vf8)b1[i] * (tft_vf8)b2[i];
    return out;
}

VINL tft_vf8x2 vexpm1f_neg8x2(tft_vf8x2 X) {
    tft_vf8 p[2];
    FOR2(i) p[i] = vsplat8(1.0f / 40320.0f);
    FOR2(i) p[i] = p[i] * X.v[i] + 1.0f / 5040.0f;
    FOR2(i) p[i] = p[i] * X.v[i] + 1.0f / 720.0f;
    FOR2(i) p[i] = p[i] * X.v[i] + 1.0f / 120.0f;
    FOR2(i) p[i] = p[i] * X.v[i] + 1.0f / 24.0f;
    FOR2(i) p[i] = p[i] * X.v[i] + 1.0f / 6.0f;
    FOR2(i) p[i] = p[i] * X.v[i] + 0.5f;
    FOR2(i) p[i] = p[i] * X.v[i] + 1.0f;
    tft_vf8x2 e = vexpf8x2(X), out;
    FOR2(i) out.v[i] = vsel8(X.v[i] > -0.35f, p[i] * X.v[i], e.v[i] - 1.0f);
    return out;
}

VINL tft_vf8x2 vsigmoidf8x2(tft_vf8x2 X) {
    FOR2(i) X.v[i] = -X.v[i];
    tft_vf8x2 e = vexpf8x2(X);
    FOR2(i) e.v[i] = 1.0f / (1.0f + e.v[i]);
    return e;
}

VINL tft_vf8x2 vtanhf8x2(tft_vf8x2 X) {
    tft_vi8   sign[2];
    tft_vf8x2 a;
    FOR2(i) sign[i] = (tft_vi8)X.v[i] & (int32_t)0x80000000;
    FOR2(i) a.v[i] = -2.0f * (tft_vf8)((tft_vi8)X.v[i] & 0x7fffffff);
    tft_vf8x2 t = vexpm1f_neg8x2(a);
    FOR2(i) t.v[i] = -t.v[i] / (t.v[i] + 2.0f);
    FOR2(i) t.v[i] = (tft_vf8)(((tft_vi8)t.v[i] & 0x7fffffff) | sign[i]);
    return t;
}

VINL tft_vf8x2 elu8x2(tft_vf8x2 X) {
    tft_vf8x2 e = vexpm1f_neg8x2(X);
    FOR2(i) e.v[i] = vsel8(X.v[i] > 0.0f, X.v[i], e.v[i]);
    return e;
}
// ---- the pair as one 16-lane vector (the AVX-512 builds) ----------------------------------------
// With AVX-512 the two interleaved 8-lane vectors above fit one 16-lane register: the same
// operations lane by lane (VMATH_DEFS(16, ...)), so the same bits, in half the instructions. The
// callers pass `wide` as a constant (1 only in their AVX-512 clone), so each clone keeps one branch.
typedef float   tft_vf16 __attribute__((vector_size(64)));
typedef int32_t tft_vi16 __attribute__((vector_size(64)));
VMATH_DEFS(16, tft_vf16, tft_vi16)

VINL tft_vf16 vcat16(tft_vf8x2 X) {
    return __builtin_shufflevector(X.v[0], X.v[1], 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}
VINL tft_vf8x2 vsplit16(tft_vf16 v) {
    tft_vf8x2 r = {{__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7),
                    __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15)}};
    return r;
}
#define VMATH_PAIR(FN)                                                                                       \
    VINL tft_vf8x2 FN##8x2w(tft_vf8x2 X, const int wide) {                                                   \
        return wide ? vsplit16(FN##16(vcat16(X))) : FN##8x2(X);                                              \
    }
VMATH_PAIR(vexpf)
VMATH_PAIR(vsigmoidf)
VMATH_PAIR(vtanhf)
VMATH_PAIR(elu)
#endif
