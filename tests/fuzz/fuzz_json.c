// fuzz_json.c: libFuzzer target for the strict JSON reader (loader/json.h), under the default
// limits and under tight ones (depth 8, strings 64 bytes, 1000 values, NUL allowed). Walks every
// accepted tree and checks its invariants, and holds its two outputs to each other: the tokens
// (tft_json_tokens, what the server's decoders walk) in an array of the documented bound
// ((len + max_depth) / 2 + 1) never run out, accept exactly what the tree accepts but for duplicate keys and numbers past
// a double (left to the tokens' reader), fail with the same message at the same byte, and
// describe the same document (types, sizes, subtree spans, unescaped strings, keys, literals).
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

// Token i (a value) against tree node v; returns the index past its subtree.
static size_t same(const tft_json_tok *t, size_t n, size_t i, const char *text, const tft_json *v) {
    if (i >= n || t[i].type != (unsigned)v->type || t[i].skip < 1 || i + t[i].skip > n)
        __builtin_trap();
    switch (v->type) {
    case TFT_JSON_STRING:
        if (t[i].end - t[i].start != v->len || memcmp(text + t[i].start, v->str, v->len) != 0 ||
            text[t[i].end] != '\0' || t[i].skip != 1 || t[i].size != 0)
            __builtin_trap();
        return i + 1;
    case TFT_JSON_NUMBER:
        if (t[i].end - t[i].start != strlen(v->str) || memcmp(text + t[i].start, v->str, strlen(v->str)) != 0 ||
            t[i].skip != 1)
            __builtin_trap();
        return i + 1;
    case TFT_JSON_ARRAY:
    case TFT_JSON_OBJECT: {
        if (t[i].size != v->len || text[t[i].start] != (v->type == TFT_JSON_ARRAY ? '[' : '{') ||
            text[t[i].end - 1] != (v->type == TFT_JSON_ARRAY ? ']' : '}'))
            __builtin_trap();
        size_t j = i + 1;
        for (const tft_json *c = v->child; c; c = c->next) {
            if (c->key) { // the key's token: a string of size 1 spanning its value
                size_t k = j++;
                if (t[k].type != TFT_JSON_STRING || t[k].size != 1 || strcmp(text + t[k].start, c->key) != 0)
                    __builtin_trap();
                j = same(t, n, j, text, c);
                if (k + t[k].skip != j)
                    __builtin_trap();
            } else {
                j = same(t, n, j, text, c);
            }
        }
        if (j != i + t[i].skip)
            __builtin_trap();
        return j;
    }
    default:
        if (t[i].skip != 1 || t[i].size != 0)
            __builtin_trap();
        return i + 1;
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
        // the tokens first, on a writable copy (strings are unescaped in place)
        size_t          cap  = (size + lims[k].max_depth) / 2 + 1, nt = 0;
        tft_json_tok   *toks = malloc(cap * sizeof *toks);
        char           *text = malloc(size + 1);
        tft_json_error  te;
        memcpy(text, data, size);
        int trc = tft_json_tokens(text, size, &lims[k], toks, cap, &nt, &te);
        if (trc == 0 ? nt == 0 || nt > cap || toks[0].skip != nt : te.kind == TFT_JSON_E_TOKENS || nt != 0)
            __builtin_trap();
        char tmsg[sizeof te.what + 40];
        snprintf(tmsg, sizeof tmsg, "json: %s at byte %zu", te.what, te.at);
        if (tft_json_parse((const char *)data, size, &lims[k], &root, err, sizeof err) != 0) {
            if (root || !memchr(err, '\0', sizeof err) || !strstr(err, "at byte "))
                __builtin_trap();
            int reader_choice = strstr(err, "duplicate key") || strstr(err, "out of the range of a double");
            if (trc == 0 ? !reader_choice : strncmp(tmsg, err, sizeof err - 1) != 0)
                __builtin_trap();
        } else {
            if (!root || root->key || trc != 0)
                __builtin_trap();
            walk(root, &lims[k], 1, &sum);
            if (same(toks, nt, 0, text, root) != nt)
                __builtin_trap();
            tft_json_free(root);
        }
        free(toks), free(text);
    }
    return 0;
}
