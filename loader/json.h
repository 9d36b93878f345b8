// json.h: a strict RFC 8259 JSON parser into a read-only tree (loader-internal, also used by the
// engine for the model config and by the CLI for requests). Knows nothing about TFT.
//
// Strict: rejects duplicate keys at every level, NaN/Infinity, comments, trailing commas, control
// characters in strings, invalid UTF-8, lone surrogates, leading zeros, depth over max_depth.
// The whole tree lives in one allocation owned by the returned root (free with tft_json_free).
#ifndef TFT_JSON_H
#define TFT_JSON_H
#include <stddef.h>
#include <stdint.h>

typedef enum tft_json_type {
    TFT_JSON_NULL, TFT_JSON_FALSE, TFT_JSON_TRUE, TFT_JSON_NUMBER, TFT_JSON_STRING, TFT_JSON_ARRAY,
    TFT_JSON_OBJECT
} tft_json_type;

typedef struct tft_json tft_json;
struct tft_json {
    tft_json_type   type;
    uint32_t        len;   // STRING: byte length (may contain no NUL: see below); ARRAY/OBJECT: children
    const char     *str;   // STRING: unescaped UTF-8, NUL-terminated; NUMBER: the literal text, NUL-terminated
    double          num;   // NUMBER: value as double (strtod in the C locale)
    const char     *key;   // member of an OBJECT: its key (unescaped, NUL-terminated); else NULL
    const tft_json *child; // ARRAY/OBJECT: first child (in document order)
    const tft_json *next;  // next sibling
};

typedef struct tft_json_limits {
    uint32_t max_depth;      // nesting depth cap (e.g. 32)
    uint32_t max_string;     // max bytes of one string after unescaping (e.g. 1 << 20)
    uint32_t max_elements;   // max values in the whole document
    int      allow_nul_in_strings; // 0: a \u0000 escape is an error (names must be C strings)
} tft_json_limits;
tft_json_limits tft_json_default_limits(void); // depth 64, string 16 MiB, elements 10^7, no NUL

// Parses exactly [text, text+len) (no NUL terminator needed; trailing whitespace allowed).
// Returns 0 and *out on success; on failure returns -1, *out = NULL and writes a message with the
// byte offset into err (always NUL-terminated, truncated to errlen).
int  tft_json_parse(const char *text, size_t len, const tft_json_limits *lim, tft_json **out,
                    char *err, size_t errlen);
void tft_json_free(tft_json *root); // NULL is a no-op

const tft_json *tft_json_get(const tft_json *obj, const char *key); // member or NULL (NULL-safe)
const tft_json *tft_json_at(const tft_json *arr, uint32_t i);       // element or NULL (NULL-safe)
// Exact integer from a NUMBER's literal text: no sign (u64) / optional '-' (i64), no fraction or
// exponent, no overflow. Return 0 on success, -1 otherwise. Never goes through double.
int tft_json_u64(const tft_json *v, uint64_t *out);
// Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF; avail bytes readable), or 0 if malformed. Shared with the loader's header check.
size_t tft_json_utf8_seq(const unsigned char *s, size_t avail);
int tft_json_i64(const tft_json *v, int64_t *out);

// The lexical grammar of JSON strings and numbers, one for both of the project's JSON readers:
// this parser and the server's strict token pass (server/json_in.c, which also serves kserve.c).
// A string's body src[0, n) (the bytes between its quotes): no control character, only RFC 8259
// escapes, surrogates in pairs, UTF-8 per tft_json_utf8_seq, \u0000 only with ALLOW_NUL and never
// in a KEY; unescaped into dst (NULL: only measured; dst == src: in place, the result is never
// longer). 0 and *out_len (no NUL written), or -1 with *err_at (an offset in src) and a message in
// what ("unterminated string" when src ends inside an escape).
enum { TFT_JSON_STR_KEY = 1, TFT_JSON_STR_ALLOW_NUL = 2 };
int tft_json_string_body(const unsigned char *src, size_t n, char *dst, unsigned flags, size_t *out_len,
                         size_t *err_at, char *what, size_t whatlen);
// Bytes of the number literal at the start of s[0, len) (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?),
// or 0 with *what saying why there is none ("leading zero", ...). What follows it is not looked at.
size_t tft_json_number_len(const unsigned char *s, size_t len, const char **what);
#endif
