// isa.c: the run-time choice of the ops' instruction-set build (ops/isa.h says why it is global).
#include "isa.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && !defined(TFT_NO_AVX2) // -DTFT_NO_AVX2: portable only
#define HAVE_X86_CLONES 1
#endif

static const char *const isa_names[TFT_ISA_COUNT] = {"portable", "avx2", "avx512"};

// The first use chooses from TFT_ISA under pthread_once (two models loaded at once by two threads
// never race on the message); tft_op_isa_select (tests) chooses again.
static pthread_once_t choose_once = PTHREAD_ONCE_INIT;
static atomic_int     chosen      = -1; // a tft_isa once chosen
// the failed request's message ("" when the last choice honoured its request)
static char       select_error[160];
static atomic_int select_failed;

int tft_op_isa_supported(tft_isa isa) {
    switch (isa) {
    case TFT_ISA_PORTABLE: return 1;
#ifdef HAVE_X86_CLONES
    case TFT_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case TFT_ISA_AVX512:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
    default: return 0;
    }
}

const char *tft_op_isa_name(tft_isa isa) {
    return isa >= 0 && isa < TFT_ISA_COUNT ? isa_names[isa] : "unknown";
}

static tft_isa best_supported(void) {
    for (int i = TFT_ISA_COUNT - 1; i > 0; i--)
        if (tft_op_isa_supported((tft_isa)i))
            return (tft_isa)i;
    return TFT_ISA_PORTABLE;
}

static const char *select_isa(const char *request) {
    tft_isa pick   = best_supported();
    int     failed = 0;
    if (request && *request && strcmp(request, "auto") != 0) {
        int want = -1;
        for (int i = 0; i < TFT_ISA_COUNT; i++)
            if (strcmp(request, isa_names[i]) == 0)
                want = i;
        if (want < 0) {
            snprintf(select_error, sizeof select_error,
                     "TFT_ISA=%.40s is not a CPU path: use avx512, avx2, portable or auto", request);
            failed = 1;
        } else if (!tft_op_isa_supported((tft_isa)want)) {
            snprintf(select_error, sizeof select_error, "TFT_ISA=%s: this CPU (or this build of libtft) lacks %s",
                     isa_names[want], want == TFT_ISA_AVX512 ? "AVX-512 F/BW/DQ/VL" : "AVX2 and FMA");
            failed = 1;
        } else {
            pick = (tft_isa)want;
        }
    }
    atomic_store_explicit(&select_failed, failed, memory_order_release);
    atomic_store_explicit(&chosen, (int)pick, memory_order_release);
    return failed ? select_error : NULL;
}

static void choose_from_env(void) {
    select_isa(getenv("TFT_ISA"));
}

const char *tft_op_isa_select(const char *request) {
    pthread_once(&choose_once, choose_from_env); // a later first use must not undo this choice
    return select_isa(request);
}

tft_isa tft_op_isa(void) {
    pthread_once(&choose_once, choose_from_env);
    return (tft_isa)atomic_load_explicit(&chosen, memory_order_acquire);
}

const char *tft_op_isa_error(void) {
    (void)tft_op_isa();
    return atomic_load_explicit(&select_failed, memory_order_acquire) ? select_error : NULL;
}
