// fuzz_json_in.c: libFuzzer target for the server's request decoder (server/json_in.c) against
// the bundled default model, with an arena whose size the input's first byte picks (so "arena too
// small" paths are fuzzed too) and tight limits on every other input. Every decoded value is
// touched; every error must have a class, a code and a message; the writer turns each error into
// JSON that the loader's strict parser accepts.
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/tft.h"
#include "../../loader/json.h"
#include "../../server/json_in.h"
#include "../../server/json_out.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static tft_model *model;
static unsigned char arena_mem[4u << 20];
static char          body[1u << 20];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    if (tft_model_load("weights/default.safetensors", NULL, &model) != TFT_OK) {
        fprintf(stderr, "fuzz_json_in: cannot load weights/default.safetensors (run from the repo root): %s\n",
                tft_last_error());
        abort();
    }
    return 0;
}

static void touch_columns(const tft_column *c, int32_t n, volatile double *sum) {
    for (int32_t k = 0; k < n; k++) {
        if (!c[k].name || (c[k].values == NULL) == (c[k].labels == NULL) || c[k].len < 0) __builtin_trap();
        if (tft_model_input_is_categorical(model, c[k].name) != (c[k].labels != NULL)) __builtin_trap();
        for (int32_t i = 0; i < c[k].len; i++) {
            if (c[k].values) {
                if (!isfinite(c[k].values[i])) __builtin_trap();
                *sum += c[k].values[i];
            } else {
                *sum += (double)strlen(c[k].labels[i]);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size - 1 > sizeof body) return 0;
    uint8_t sel = data[0];
    data++, size--;
    memcpy(body, data, size);
    // sel: low bits pick the arena size, bit 7 tight limits
    static const size_t caps[8] = {0, 64, 512, 2048, 8192, 65536, 1u << 20, sizeof arena_mem};
    size_t              cap     = caps[sel & 7];
    tft_req_limits      lim     = tft_req_default_limits();
    if (sel & 0x80) lim.max_depth = 5, lim.max_series = 3, lim.max_values = 200, lim.max_tokens = 500;
    tft_req_arena a;
    tft_req_arena_init(&a, arena_mem + ((sel >> 3) & 7), cap, &lim);
    tft_req       r;
    tft_req_error e;
    volatile double sum = 0;
    if (tft_req_decode(model, body, size, &a, &r, &e) == 0) {
        if (a.used > a.cap || r.n < 1 || (uint32_t)r.n > lim.max_series) __builtin_trap();
        for (int32_t i = 0; i < r.n; i++) {
            const tft_series *x = &r.series[i];
            sum += (double)strlen(x->id) + (double)strlen(r.ids[i]);
            touch_columns(x->statics, x->n_statics, &sum);
            touch_columns(x->history, x->n_history_columns, &sum);
            touch_columns(x->future, x->n_future_columns, &sum);
            if (x->time_idx) {
                int32_t T = x->n_history + (x->horizon ? x->horizon : tft_model_get_info(model)->max_prediction_length);
                for (int32_t k = 0; k < T; k++) sum += (double)x->time_idx[k];
            }
        }
        if (r.model) sum += (double)strlen(r.model);
    } else {
        if (!e.code || !e.message[0] || (e.http != 400 && e.http != 413 && e.http != 422)) __builtin_trap();
        char    out[2048];
        ssize_t len = tft_resp_write_error(out, sizeof out, e.code, e.message, e.series, e.field);
        if (len <= 0) __builtin_trap();
        tft_json       *doc;
        char            err[200];
        tft_json_limits jl = tft_json_default_limits();
        if (tft_json_parse(out, (size_t)len, &jl, &doc, err, sizeof err) != 0) __builtin_trap();
        tft_json_free(doc);
    }
    (void)sum;
    return 0;
}
