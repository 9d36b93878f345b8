// isa.h: which instruction-set build of the CPU ops runs (internal). The hot ops are compiled
// several times from one source (portable, AVX2+FMA, AVX-512) and pick one at run time; this is
// the one place that picks, once per process, so that every op of a forward takes the same path
// and a series' bits never depend on which op happened to ask first.
//
// Choice: the best build the CPU supports (CPUID through __builtin_cpu_supports), unless the
// environment variable TFT_ISA names one: avx512 | avx2 | portable | auto. A name the CPU cannot
// run, or an unknown name, is recorded as an error (tft_op_isa_error), which tft_model_load
// reports as TFT_ERR_UNSUPPORTED; the ops themselves then fall back to the best supported build,
// so nothing ever executes an instruction the CPU lacks.
#ifndef TFT_OPS_ISA_H
#define TFT_OPS_ISA_H

typedef enum tft_isa {
    TFT_ISA_PORTABLE = 0, // plain C (SSE2 on x86-64): multiply, then add
    TFT_ISA_AVX2     = 1, // AVX2 + FMA
    TFT_ISA_AVX512   = 2, // AVX-512 F/BW/DQ/VL (+ AVX2 + FMA)
    TFT_ISA_COUNT
} tft_isa;

// The x86 clones' target attributes. The AVX-512 build also enables AVX2 (and FMA where the AVX2
// build has it), so its code is a superset: 32 vector registers, EVEX encodings, masks, 16 lanes.
#if (defined(__x86_64__) || defined(__i386__)) && !defined(TFT_NO_AVX2) // -DTFT_NO_AVX2: portable only
#define TFT_HAVE_X86_CLONES 1
#define TFT_AVX512_NOFMA "avx512f,avx512vl,avx512bw,avx512dq,avx2"
#define TFT_AVX512_FMA TFT_AVX512_NOFMA ",fma"
#endif

// The build the ops take (chosen on first use from TFT_ISA and the CPU; never one the CPU lacks).
tft_isa     tft_op_isa(void);
// 1 when this CPU (and this build of libtft) can run path `isa`.
int         tft_op_isa_supported(tft_isa isa);
// "portable", "avx2", "avx512".
const char *tft_op_isa_name(tft_isa isa);
// Chooses again as for TFT_ISA=`request` (NULL or "" = auto). Returns NULL on success, else why
// the request cannot be honoured (then the best supported path is taken). Tests use it to run every
// path in one process; it must not race with running ops.
const char *tft_op_isa_select(const char *request);
// NULL, or the reason TFT_ISA could not be honoured (the message of tft_op_isa_select).
const char *tft_op_isa_error(void);
#endif
