// fuzz_loader.c: libFuzzer target for the safetensors loader (tft_ld_open_memory).
// Any input must be either accepted with every tensor inside the buffer, or rejected with a reason
// and a message; ASan/UBSan flag everything else. Build and run: make fuzz-run FUZZ_SECONDS=60.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../loader/loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tft_ld_file *f = NULL;
    tft_ld_error err;
    tft_status   st = tft_ld_open_memory(data, size, &f, &err);
    if (st != TFT_OK) {
        if (f != NULL || err.status != st || err.reason == TFT_LD_OK || err.msg[0] == '\0' ||
            !memchr(err.msg, '\0', sizeof err.msg))
            __builtin_trap();
        return 0;
    }
    if (!f || err.reason != TFT_LD_OK || tft_ld_file_size(f) != size || tft_ld_file_bytes(f) != data)
        __builtin_trap();
    volatile unsigned sum = 0;
    for (int32_t i = 0; i < tft_ld_count(f); i++) {
        const tft_ld_tensor *t = tft_ld_tensor_at(f, i);
        const uint8_t       *p = t->data;
        if (p < data || p > data + size || t->nbytes > (size_t)(data + size - p) ||
            t->nbytes != (size_t)t->nelem * tft_ld_dtype_size(t->dtype) || t->rank < 0 ||
            t->rank > TFT_LD_MAX_RANK || tft_ld_find(f, t->name) != t || t->name[0] == '\0')
            __builtin_trap();
        for (size_t j = 0; j < t->nbytes; j++) // touch every byte
            sum += p[j];
        if (i > 0 && strcmp(tft_ld_tensor_at(f, i - 1)->name, t->name) >= 0)
            __builtin_trap();
    }
    static const char *keys[] = {"format", "format_version", "config", ""};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *v = tft_ld_metadata(f, keys[k]);
        if (v)
            sum += (unsigned)strlen(v);
    }
    (void)sum;
    tft_ld_close(f);
    return 0;
}
