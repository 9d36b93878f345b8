// json.h: the project's one JSON reader (strict RFC 8259). Knows nothing about TFT. Two outputs of
// one scanner:
//  - tft_json_parse: a read-only tree (the loader, the engine's model config, fleet ingest);
//  - tft_json_tokens: a flat token array in the caller's memory, strings unescaped in place (the
//    server's request decoders, server/json_in.c and server/kserve.c, and through them the CLI).
//
// Strict: rejects NaN/Infinity, comments, trailing commas, control characters in strings, invalid
// UTF-8, lone surrogates, leading zeros, depth over max_depth; the tree also rejects duplicate keys
// at every level. The whole tree lives in one allocation owned by the returned root (free with
// tft_json_free). Both run in time linear in the input, and check the limits as they scan.
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

// ---- tokens ------------------------------------------------------------------------------------
// The scanner's output, in document order. An object's members are each a key (a STRING token of
// size 1) followed by the value's tokens. 16 bytes a token. Every token but the root follows one of
// '[' '{' ',' ':' and takes at least one byte of its own, and a container's first child is paid for
// by the container's closing bracket, of which at most max_depth are missing when a scan stops: so
// len bytes give at most (len + max_depth) / 2 + 1 tokens, well-formed or not (len / 2 + 1 when
// well-formed; "[0,0,...]" is the densest, 2 bytes a token, 8 bytes of tokens a byte of input).
typedef struct tft_json_tok {
    uint32_t start;     // STRING: first byte of the body (after the quote); else the value's first byte
    uint32_t end;       // STRING: end of the unescaped body (NUL there); NUMBER, literals: end of the
                        // literal; ARRAY/OBJECT: one past the closing bracket
    uint32_t size : 28; // ARRAY: elements; OBJECT: members; a key: 1; else 0
    uint32_t type : 4;  // tft_json_type
    uint32_t skip;      // tokens of its subtree, itself included (a key: with its value's):
                        // the next sibling is at this index + skip
} tft_json_tok;

typedef enum tft_json_status {
    TFT_JSON_OK,
    TFT_JSON_E_SYNTAX,   // not JSON (RFC 8259), or (tree) a duplicate key / a number past a double
    TFT_JSON_E_DEPTH,    // nesting deeper than max_depth
    TFT_JSON_E_VALUES,   // more values than max_elements
    TFT_JSON_E_TOKENS,   // more tokens than the caller's array holds
    TFT_JSON_E_STRING,   // a string longer than max_string (unescaped)
    TFT_JSON_E_TOO_LONG, // a document of 2^32 - 1 bytes or more
    TFT_JSON_E_NOMEM,
} tft_json_status;

typedef struct tft_json_error {
    tft_json_status kind;
    size_t          at;        // byte offset
    char            what[200]; // "expected ',' or ']'", ... (without the offset)
} tft_json_error;

// Scans text[0, len) into toks[0, cap) (*ntoks of them), unescaping every string in place (text is
// modified: each string's body is rewritten unescaped and NUL-terminated, at most where its closing
// quote was; number literals are left as they are, and not converted). lim may be NULL (defaults);
// max_elements counts values, cap counts values and keys. No heap allocation when lim->max_depth <=
// 64. Returns 0, or -1 with *err (err may be NULL) at the first error in document order.
int tft_json_tokens(char *text, size_t len, const tft_json_limits *lim, tft_json_tok *toks, size_t cap,
                    size_t *ntoks, tft_json_error *err);
// What a value is, for messages ("... must be an array, not a string"): "an object", "an array",
// "a string", "a number", "a boolean", "null".
const char *tft_json_type_desc(tft_json_type t);

// The lexical grammar of JSON strings and numbers: the scanner's (so the tree's and the tokens').
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
