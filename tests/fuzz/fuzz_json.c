// fuzz_json.c: libFuzzer target for the strict JSON parser (tft_json_parse), under the default
// limits and under tight ones (depth 8, strings 64 bytes, 1000 values, NUL allowed). Walks every
// accepted tree and checks its invariants.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../loader/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// Checks one value and its subtree (depth <= the parser's cap, so recursion is bounded).
static void walk(const tft_json *v, const tft_json_limits *lim, uint32_t depth, volatile unsigned *sum) {
    if (depth > lim->max_depth + 1)
        __builtin_trap();
    switch (v->type) {
    case TFT_JSON_STRING:
        if (v->str[v->len] != '\0' || v->len > lim->max_string ||
            (!lim->allow_nul_in_strings && strlen(v->str) != v->len))
            __builtin_trap();
        *sum += v->len;
        break;
    case TFT_JSON_NUMBER: {
        uint64_t u;
        int64_t  i;
        *sum += (unsigned)tft_json_u64(v, &u) + (unsigned)tft_json_i64(v, &i) + (unsigned)strlen(v->str);
        if (v->num != v->num) // never NaN
            __builtin_trap();
        break;
    }
    case TFT_JSON_ARRAY:
    case TFT_JSON_OBJECT: {
        uint32_t n = 0;
        for (const tft_json *c = v->child; c; c = c->next, n++) {
            if ((v->type == TFT_JSON_OBJECT) != (c->key != NULL))
                __builtin_trap();
            if (c->key && tft_json_get(v, c->key) != c) // keys are unique
                __builtin_trap();
            walk(c, lim, depth + 1, sum);
        }
        if (n != v->len || (v->type == TFT_JSON_ARRAY && n && tft_json_at(v, n - 1) == NULL))
            __builtin_trap();
        break;
    }
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tft_json_limits lims[2] = {tft_json_default_limits(), tft_json_default_limits()};
    lims[1].max_depth = 8;
    lims[1].max_string = 64;
    lims[1].max_elements = 1000;
    lims[1].allow_nul_in_strings = 1;
    for (int k = 0; k < 2; k++) {
        tft_json *root = NULL;
        char      err[160];
        volatile unsigned sum = 0;
        if (tft_json_parse((const char *)data, size, &lims[k], &root, err, sizeof err) != 0) {
            if (root || !memchr(err, '\0', sizeof err) || !strstr(err, "at byte "))
                __builtin_trap();
            continue;
        }
        if (!root || root->key)
            __builtin_trap();
        walk(root, &lims[k], 1, &sum);
        tft_json_free(root);
    }
    return 0;
}
