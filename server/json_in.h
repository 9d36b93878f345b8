// json_in.h: the one decoder of a forecast request (engine/cli/REQUEST.md) into tft_series for one
// model: tft-server's, and through engine/cli/request.c the CLI's, the tests' and the benches'. No
// heap allocation: the JSON tokens (loader/json.h's scanner, the project's one JSON reader), the
// series/column arrays, the values and the label pointers
// all come from a caller-provided arena; labels and keys point into the request body, which is
// unescaped in place (the body is modified: each string is NUL-terminated where its closing quote
// was). Duplicate keys are "duplicate_key"; a top-level "model" must be a string; the limits below
// (depth, series, values, tokens) are enforced with HTTP-ish error classes.
#ifndef TFT_SERVER_JSON_IN_H
#define TFT_SERVER_JSON_IN_H
#include <stddef.h>
#include <stdint.h>
#include "../engine/tft.h"

typedef struct tft_req_limits {
    uint32_t max_depth;   // nesting depth of the document (default 16, as the CLI; at most 64)
    uint32_t max_series;  // series per request (default 4096)
    uint64_t max_values;  // numbers + labels + time_idx entries per request (default 1 << 22)
    uint32_t max_tokens;  // JSON values + keys per request (default 1 << 23; checked while scanning).
                          // Tokens are 16 bytes; a body of len bytes has at most (len + max_depth) / 2
                          // + 1 of them (loader/json.h): 8 bytes of tokens a byte of body, + 16 * 33
} tft_req_limits;
tft_req_limits tft_req_default_limits(void);

// Bump allocator over caller memory. Reset per request with tft_req_arena_reset (or init again).
typedef struct tft_req_arena {
    unsigned char *buf;
    size_t         cap, used;
    tft_req_limits lim;
} tft_req_arena;
// lim may be NULL (defaults). buf should be 16-byte aligned (it is aligned up if it is not).
void tft_req_arena_init(tft_req_arena *a, void *buf, size_t cap, const tft_req_limits *lim);
void tft_req_arena_reset(tft_req_arena *a);

typedef struct tft_req {
    int32_t      n;         // series
    int32_t      horizon;   // 0 when the request leaves it to the model
    int32_t      interpret; // 0/1
    const char  *model;     // top-level "model" string, or NULL
    tft_series  *series;    // [n] (in the arena)
    const char **ids;       // [n] series ids ("0", "1"... when absent)
} tft_req;

typedef struct tft_req_error {
    int         http;         // 400 malformed JSON, 413 too large / too many elements, 422 schema/values
    const char *code;         // machine code (a string literal), e.g. "malformed_json"
    int32_t     series;       // series index, or -1
    char        field[96];    // e.g. "history.temp[3]", or ""
    char        message[320]; // one line naming the series (index and id) and the field
} tft_req_error;

// Codes (http class):
//   400 malformed_json, duplicate_key
//   413 too_large (body over 2 GiB or arena too small), too_many_elements, too_deep
//   422 not_an_object, unknown_key, wrong_type, missing_field, non_finite_input, not_a_model_input,
//       horizon_out_of_range, length_mismatch
// Returns 0 and fills *out, or -1 and fills *err (err may be NULL). len must not count a NUL.
int tft_req_decode(const tft_model *m, char *body, size_t len, tft_req_arena *a, tft_req *out, tft_req_error *err);
// Arena bytes tft_req_decode needs at most for the body b[0, len), well-formed or not (a cheap scan,
// no parse). Should a body still fail with tft_req_arena_exhausted, tft_req_arena_worst(len) is a
// larger arena for one retry (kept as a safety net: the scanner stops at the first byte that is not
// JSON, so malformed bodies fit the bound too).
size_t tft_req_arena_bound(const char *b, size_t len);
size_t tft_req_arena_worst(size_t len);
// 1 when err says the arena was too small (not the request too large for the limits).
int tft_req_arena_exhausted(const tft_req_error *err);

// The JSON pass of tft_req_decode alone, for the server's other decoders (server/kserve.c): the
// tokens of loader/json.h's scanner (tft_json_tok, *ntoks of them) at the start of the arena
// (a->used = their bytes), the document checked against RFC 8259 exactly as above, every string
// unescaped in place and NUL-terminated at its token's end. 0, or -1 with *err (400 malformed_json,
// 413 too_large / too_many_elements / too_deep).
int tft_req_json_tokens(char *body, size_t len, tft_req_arena *a, void **toks, int *ntoks, tft_req_error *err);
// The number literal body[start, end) (grammar already checked by the pass above) as a double,
// bitwise what strtod_l gives in the C locale. body[end] must be writable (it is restored).
double tft_req_json_double(char *body, int start, int end);
// The exact integer of the n bytes at s: optional '-', digits only, no overflow. 0, or -1 if it is not one.
int tft_req_json_i64(const char *s, long n, int64_t *out);
#endif
