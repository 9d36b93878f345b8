// fuzz_kserve.c: libFuzzer target for the KServe v2 codec (server/kserve.c) against a small golden
// model (weights/goldens/group_softplus: Nc 3, Nr 9, nt 1, Te <= 24, Td <= 6).
//
// Input: [sel][binlen: u16 little-endian][body]. sel's low 3 bits pick the arena size (so "arena too
// small" paths are fuzzed), its bits 3..5 the arena's misalignment, bit 7 tight limits. The JSON
// header is body[0, len - binlen) and the binary section the last binlen bytes, so mutations of the
// JSON text keep the binary section's length; binlen 0xFFFF gives a json_len past the body.
//
// Decoded: every tensor value is checked (finite floats, lengths in range, max lengths = Te/Td,
// aligned pointers inside the arena), tft_predict_net runs on it (it may refuse a category index,
// never crash), and the response, JSON and binary, is written and its JSON part parsed back.
// Refused: the error has a class (400/413/422), a code, a message, and both error bodies are JSON.
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
#include "../../server/kserve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_B 4
static tft_model    *model;
static tft_context  *ctx;
static unsigned char arena_mem[4u << 20];
static char          body[1u << 20];
static float         outs[7][1u << 16];
static char          resp[1u << 21];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *path = "weights/goldens/group_softplus/model.safetensors";
    tft_context_params cp = tft_context_default_params();
    cp.max_batch          = MAX_B;
    if (tft_model_load(path, NULL, &model) != TFT_OK || tft_context_new(model, &cp, &ctx) != TFT_OK) {
        fprintf(stderr, "fuzz_kserve: cannot load %s (run from the repo root): %s\n", path, tft_last_error());
        abort();
    }
    // the metadata writers once: JSON, and "too small" below their length
    ssize_t n = tft_v2_write_model_metadata(resp, sizeof resp, model, "m", "1");
    tft_json       *doc;
    char            err[200];
    tft_json_limits jl = tft_json_default_limits();
    if (n <= 0 || tft_json_parse(resp, (size_t)n, &jl, &doc, err, sizeof err) != 0) abort();
    tft_json_free(doc);
    return 0;
}

static void check_json(const char *s, size_t n) {
    tft_json       *doc;
    char            err[200];
    tft_json_limits jl = tft_json_default_limits();
    if (tft_json_parse(s, n, &jl, &doc, err, sizeof err) != 0) __builtin_trap();
    tft_json_free(doc);
}

static void in_arena(const tft_req_arena *a, const void *p, size_t bytes) {
    const unsigned char *c = p;
    if (!p || ((uintptr_t)p & 15) || c < a->buf || c + bytes > a->buf + a->used) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3 || size - 3 > sizeof body) return 0;
    uint8_t  sel    = data[0];
    unsigned binlen = (unsigned)data[1] | (unsigned)data[2] << 8;
    data += 3, size -= 3;
    memcpy(body, data, size);
    size_t json_len = binlen == 0xFFFF ? size + 1 : binlen <= size ? size - binlen : 0;
    static const size_t caps[8] = {0, 64, 512, 2048, 8192, 65536, 1u << 20, sizeof arena_mem - 64};
    tft_req_limits      lim     = tft_req_default_limits();
    if (sel & 0x80) lim.max_depth = 6, lim.max_series = 3, lim.max_values = 400, lim.max_tokens = 600;
    tft_req_arena a;
    tft_req_arena_init(&a, arena_mem + ((sel >> 3) & 7), caps[sel & 7], &lim);
    tft_v2_infer  r;
    tft_req_error e;
    if (tft_v2_decode_infer(model, body, size, json_len, &a, &r, &e) != 0) {
        if (!e.code || !e.message[0] || (e.http != 400 && e.http != 413 && e.http != 422)) __builtin_trap();
        ssize_t n = tft_resp_write_error(resp, 4096, e.code, e.message, e.series, e.field);
        if (n <= 0) __builtin_trap();
        check_json(resp, (size_t)n);
        n = tft_v2_write_error(resp, 4096, e.message);
        if (n <= 0) __builtin_trap();
        check_json(resp, (size_t)n);
        return 0;
    }
    // the decoded request: what tft_predict_net needs, checked as it checks it
    const tft_model_info *mi = tft_model_get_info(model);
    const tft_net_input  *in = &r.in;
    if (a.used > a.cap || in->n < 1 || (uint32_t)in->n > lim.max_series || in->enc_steps < 0 ||
        in->enc_steps > mi->max_encoder_length || in->dec_steps < 1 || in->dec_steps > mi->max_prediction_length)
        __builtin_trap();
    if (!r.want || (r.want & ~(uint32_t)TFT_V2_OUT_ALL) || (r.binary & ~r.want) || r.n_outputs < 1 || r.n_outputs > 7)
        __builtin_trap();
    size_t B = (size_t)in->n, Te = (size_t)in->enc_steps, Td = (size_t)in->dec_steps;
    size_t Nc = (size_t)mi->n_cats, Nr = (size_t)mi->n_reals, nt = (size_t)mi->n_targets;
    in_arena(&a, in->encoder_cat, 4 * B * Te * Nc);
    in_arena(&a, in->decoder_cat, 4 * B * Td * Nc);
    in_arena(&a, in->encoder_cont, 4 * B * Te * Nr);
    in_arena(&a, in->decoder_cont, 4 * B * Td * Nr);
    in_arena(&a, in->encoder_lengths, 4 * B);
    in_arena(&a, in->decoder_lengths, 4 * B);
    in_arena(&a, in->target_scale, 4 * B * nt * 2);
    int32_t max_e = 0, max_d = 0;
    for (size_t b = 0; b < B; b++) {
        int32_t le = in->encoder_lengths[b], ld = in->decoder_lengths[b];
        if (le < 0 || (size_t)le > Te || ld < 1 || (size_t)ld > Td) __builtin_trap();
        max_e = le > max_e ? le : max_e, max_d = ld > max_d ? ld : max_d;
    }
    if ((size_t)max_e != Te || (size_t)max_d != Td) __builtin_trap();
    for (size_t i = 0; i < B * Te * Nr; i++)
        if (!isfinite(in->encoder_cont[i])) __builtin_trap();
    for (size_t i = 0; i < B * Td * Nr; i++)
        if (!isfinite(in->decoder_cont[i])) __builtin_trap();
    for (size_t i = 0; i < B * nt * 2; i++)
        if (!isfinite(in->target_scale[i])) __builtin_trap();
    for (size_t i = 0; i < B * Te * Nc; i++)
        if (in->encoder_cat[i] < 0) __builtin_trap();
    if (B > MAX_B) return 0; // past the context (and the output buffers)
    // the network, then the response
    tft_net_output o = {0};
    for (int k = 0; k < 7; k++) {
        if (tft_v2_output_floats(model, in, 1u << k) > sizeof outs[k] / 4) __builtin_trap();
        memset(outs[k], 0, 4 * tft_v2_output_floats(model, in, 1u << k));
    }
    o = (tft_net_output){outs[1], outs[0], outs[2], outs[3], outs[4], outs[5], outs[6]};
    tft_status st = tft_predict_net(ctx, in, &o);
    if (st != TFT_OK && st != TFT_ERR_SHAPE && st != TFT_ERR_NONFINITE && st != TFT_ERR_CAPACITY) __builtin_trap();
    size_t bound = tft_v2_infer_bound(model, "m", "1", &r), jl = 0;
    if (bound > sizeof resp) __builtin_trap();
    ssize_t n = tft_v2_write_infer(resp, bound, model, "m", "1", &r, &o, &jl);
    if (n == TFT_RESP_E_NONFINITE) return 0; // a finite input can still give a non-finite output
    if (n <= 0 || jl > (size_t)n || (!r.binary && jl != (size_t)n)) __builtin_trap();
    check_json(resp, jl);
    return 0;
}
