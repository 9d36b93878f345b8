// json.c: strict RFC 8259 JSON (see json.h for the contract): the lexical grammar, one scanner
// into tokens, and the read-only tree built from those tokens.
//
// One scanner (scan_doc) under every JSON reader of the project: tft_json_tokens hands its tokens to
// the server's request decoders (server/json_in.c, server/kserve.c), tft_json_parse builds the tree
// from them (the loader, the engine's config, fleet ingest). It is iterative: the open containers
// are an explicit stack (inline up to SCAN_INLINE_DEPTH frames, on the heap past that, never deeper
// than max_depth), so a depth bomb cannot exhaust the C stack, and it reads each byte a bounded
// number of times: linear time on every input. The limits (depth, values, tokens, string bytes) are
// checked as the bytes go by, so a document over one is refused where it crosses it.
//
// Choices beyond RFC 8259 (all rejections, none widens the grammar):
//   * an object key may never contain \u0000 (keys are exposed only as C strings);
//   * the tree refuses a number whose magnitude overflows a double (1e400: "out of range"; tokens
//     leave numbers to their reader, which names the field);
//   * the tree refuses duplicate keys, compared byte for byte after unescaping ("a" and "\u0061"
//     collide); tokens leave keys to their reader (the server names its own duplicates).
#include "json.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Objects with at most this many members are checked for duplicates pairwise; larger ones by sort.
#define DUP_PAIRWISE_MAX 16
// Open containers the scanner tracks without a heap allocation (the server's depth cap is 64).
#define SCAN_INLINE_DEPTH 64
// Tokens of one document at most: a container's size is a 28-bit field (a 512 MiB document).
#define TOKENS_MAX (((size_t)1 << 28) - 1)
#define NO_KEY UINT32_MAX

typedef struct scan_frame {
    uint32_t tok;    // the container's token
    uint32_t key;    // OBJECT: the key token of the member whose value is pending, else NO_KEY
    int      is_obj;
} scan_frame;

typedef struct scanner {
    const unsigned char   *s;
    char                  *w;          // the same text, writable: strings unescaped in place (else NULL)
    size_t                 len, pos;
    const tft_json_limits *lim;
    tft_json_tok          *toks;       // [cap]
    size_t                 cap, n;     // tokens written
    size_t                 max_tokens; // cap's ceiling (grow: the array doubles up to it)
    int                    grow;       // toks is the scanner's own heap array (tft_json_parse)
    size_t                 n_values;   // tokens that are values (not keys): against lim->max_elements
    size_t                 raw_chars;  // string and number source bytes plus a NUL each (the tree's string area)
    uint32_t               max_members;
    scan_frame             inline_stack[SCAN_INLINE_DEPTH];
    scan_frame            *stack;      // inline_stack, or a heap copy when deeper
    size_t                 stack_cap, depth, max_depth_seen;
    tft_json_error        *err;
} scanner;

tft_json_limits tft_json_default_limits(void) {
    tft_json_limits l = {.max_depth = 64, .max_string = 16u << 20, .max_elements = 10000000u,
                         .allow_nul_in_strings = 0};
    return l;
}

// Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates, no code
// point above U+10FFFF), or 0 if the bytes there are not one.
size_t tft_json_utf8_seq(const unsigned char *s, size_t avail) {
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    unsigned lo = 0x80, hi = 0xBF;
    size_t   n;
    if (c < 0xC2)
        return 0;
    else if (c < 0xE0)
        n = 2;
    else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

static int hex4(const unsigned char *s, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

// ---- the lexical grammar of the scanner (json.h) -----------------------------------------------------

int tft_json_string_body(const unsigned char *src, size_t n, char *dst, unsigned flags, size_t *out_len,
                         size_t *err_at, char *what, size_t whatlen) {
    size_t i = 0, o = 0;
#define STR_FAIL(at, ...) (*err_at = (at), snprintf(what, whatlen, __VA_ARGS__), -1)
    while (i < n) {
        unsigned char c = src[i];
        unsigned char buf[4];
        size_t        k = 0; // bytes of an escape's expansion in buf, else 0 (k_src bytes copied)
        size_t        k_src = 0;
        if (c < 0x20)
            return STR_FAIL(i, "control character 0x%02x in a string (must be escaped)", c);
        if (c == '\\') {
            if (n - i < 2)
                return STR_FAIL(i, "unterminated string");
            unsigned char e = src[i + 1];
            switch (e) {
            case '"': buf[0] = '"'; break;
            case '\\': buf[0] = '\\'; break;
            case '/': buf[0] = '/'; break;
            case 'b': buf[0] = '\b'; break;
            case 'f': buf[0] = '\f'; break;
            case 'n': buf[0] = '\n'; break;
            case 'r': buf[0] = '\r'; break;
            case 't': buf[0] = '\t'; break;
            case 'u': break;
            default: return STR_FAIL(i, "invalid escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?');
            }
            if (e != 'u') {
                k = 1;
                i += 2;
            } else {
                uint32_t cp;
                size_t   at = i;
                if (n - i < 6 || hex4(src + i + 2, &cp) != 0)
                    return STR_FAIL(at, "invalid \\u escape (needs 4 hex digits)");
                i += 6;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return STR_FAIL(at, "unpaired low surrogate \\u%04X", (unsigned)cp);
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (n - i < 6 || src[i] != '\\' || src[i + 1] != 'u' || hex4(src + i + 2, &lo) != 0 ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        return STR_FAIL(at, "unpaired high surrogate \\u%04X", (unsigned)cp);
                    i += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (cp == 0 && ((flags & TFT_JSON_STR_KEY) || !(flags & TFT_JSON_STR_ALLOW_NUL)))
                    return STR_FAIL(at, "\\u0000 (NUL) is not allowed in %s",
                                    flags & TFT_JSON_STR_KEY ? "a key" : "a string");
                if (cp < 0x80) {
                    buf[0] = (unsigned char)cp;
                    k = 1;
                } else if (cp < 0x800) {
                    buf[0] = (unsigned char)(0xC0 | (cp >> 6));
                    buf[1] = (unsigned char)(0x80 | (cp & 0x3F));
                    k = 2;
                } else if (cp < 0x10000) {
                    buf[0] = (unsigned char)(0xE0 | (cp >> 12));
                    buf[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                    buf[2] = (unsigned char)(0x80 | (cp & 0x3F));
                    k = 3;
                } else {
                    buf[0] = (unsigned char)(0xF0 | (cp >> 18));
                    buf[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
                    buf[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                    buf[3] = (unsigned char)(0x80 | (cp & 0x3F));
                    k = 4;
                }
            }
            if (dst)
                memcpy(dst + o, buf, k); // o + k <= i: an escape is never shorter than its expansion
            o += k;
            continue;
        }
        k_src = tft_json_utf8_seq(src + i, n - i);
        if (k_src == 0)
            return STR_FAIL(i, "invalid UTF-8 in a string");
        if (dst && dst + o != (const char *)src + i)
            memmove(dst + o, src + i, k_src);
        o += k_src, i += k_src;
    }
#undef STR_FAIL
    *out_len = o;
    return 0;
}

size_t tft_json_number_len(const unsigned char *s, size_t len, const char **what) {
    size_t pos = 0;
    if (pos < len && s[pos] == '-')
        pos++;
    if (pos >= len || s[pos] < '0' || s[pos] > '9')
        return *what = "a digit must follow '-'", 0;
    if (s[pos] == '0') {
        pos++;
        if (pos < len && s[pos] >= '0' && s[pos] <= '9')
            return *what = "leading zero", 0;
    } else {
        while (pos < len && s[pos] >= '0' && s[pos] <= '9')
            pos++;
    }
    if (pos < len && s[pos] == '.') {
        pos++;
        if (pos >= len || s[pos] < '0' || s[pos] > '9')
            return *what = "a digit must follow '.'", 0;
        while (pos < len && s[pos] >= '0' && s[pos] <= '9')
            pos++;
    }
    if (pos < len && (s[pos] == 'e' || s[pos] == 'E')) {
        pos++;
        if (pos < len && (s[pos] == '+' || s[pos] == '-'))
            pos++;
        if (pos >= len || s[pos] < '0' || s[pos] > '9')
            return *what = "a digit must follow the exponent", 0;
        while (pos < len && s[pos] >= '0' && s[pos] <= '9')
            pos++;
    }
    return pos;
}

// ---- the scanner: one pass over the text into tokens ------------------------------------------

// Records the first error (kind, offset, message). Always returns -1.
__attribute__((format(printf, 4, 5))) static int fail(scanner *p, tft_json_status kind, size_t at,
                                                      const char *fmt, ...) {
    tft_json_error *e = p->err;
    e->kind           = kind;
    e->at             = at;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->what, sizeof e->what, fmt, ap);
    va_end(ap);
    return -1;
}

static void skip_ws(scanner *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

// The byte at p->pos may not stand where `expected` may: named as a character, a byte or a NUL.
static int unexpected(scanner *p, const char *expected) {
    unsigned char c = p->s[p->pos];
    if (c == 0)
        return fail(p, TFT_JSON_E_SYNTAX, p->pos, "NUL byte (%s)", expected);
    if (c >= 0x20 && c < 0x7f)
        return fail(p, TFT_JSON_E_SYNTAX, p->pos, "unexpected character '%c' (%s)", c, expected);
    return fail(p, TFT_JSON_E_SYNTAX, p->pos, "unexpected byte 0x%02x (%s)", c, expected);
}

// Appends a token of type t starting at byte `start` as the next child of the innermost open
// container (or as the root). A key is a STRING token of size 1 (its value follows). *idx: its index.
static int emit(scanner *p, tft_json_type t, size_t start, int is_key, uint32_t *idx) {
    if (!is_key) {
        if (p->n_values >= p->lim->max_elements)
            return fail(p, TFT_JSON_E_VALUES, start, "more than %u values in the document",
                        (unsigned)p->lim->max_elements);
        p->n_values++;
    }
    if (p->n == p->cap) {
        size_t        cap = p->cap ? 2 * p->cap : 64, bytes;
        tft_json_tok *grown;
        if (cap > p->max_tokens)
            cap = p->max_tokens;
        if (!p->grow || cap <= p->n)
            return fail(p, TFT_JSON_E_TOKENS, start, "more than %zu values and keys", p->n);
        if (__builtin_mul_overflow(cap, sizeof *grown, &bytes) || !(grown = realloc(p->toks, bytes)))
            return fail(p, TFT_JSON_E_NOMEM, start, "out of memory (%zu tokens)", cap);
        p->toks = grown;
        p->cap  = cap;
    }
    tft_json_tok *k = &p->toks[p->n];
    k->start        = (uint32_t)start; // len < 2^32 - 1 (checked on entry)
    k->end          = (uint32_t)start;
    k->size         = is_key ? 1 : 0;
    k->type         = t;
    k->skip         = 1;
    if (p->depth) {
        scan_frame *f = &p->stack[p->depth - 1];
        if (!f->is_obj || is_key)
            p->toks[f->tok].size++; // an element, or a member (counted at its key); < 2^28 (see max_tokens)
    }
    *idx = (uint32_t)p->n++;
    return 0;
}

// A value was completed (a scalar, or a container just closed): its key, if any, now spans it.
static void value_done(scanner *p) {
    if (p->depth) {
        scan_frame *f = &p->stack[p->depth - 1];
        if (f->key != NO_KEY) {
            p->toks[f->key].skip = (uint32_t)(p->n - f->key);
            f->key               = NO_KEY;
        }
    }
}

// The string whose '"' is at p->pos: its body validated (and, when the text is writable, unescaped
// in place and NUL-terminated where the unescaped body ends: at most where its closing quote was).
// The token: start = first byte of the body, end = its end (unescaped in place; else the closing
// quote's offset). The body's grammar is tft_json_string_body's.
static int scan_string(scanner *p, int is_key, uint32_t *idx) {
    size_t quote = p->pos++, end = p->pos;
    while (end < p->len && p->s[end] != '"') // the closing quote: past escapes
        end += p->s[end] == '\\' ? 2 : 1;
    int      closed = end < p->len;
    size_t   body   = (closed ? end : p->len) - p->pos;
    char    *dst    = p->w ? p->w + p->pos : NULL;
    size_t   n, at;
    char     what[96];
    unsigned flags  = (is_key ? TFT_JSON_STR_KEY : 0) | (p->lim->allow_nul_in_strings ? TFT_JSON_STR_ALLOW_NUL : 0);
    if (tft_json_string_body(p->s + p->pos, body, dst, flags, &n, &at, what, sizeof what) != 0)
        return fail(p, TFT_JSON_E_SYNTAX, strcmp(what, "unterminated string") == 0 ? quote : p->pos + at, "%s",
                    what);
    if (!closed)
        return fail(p, TFT_JSON_E_SYNTAX, quote, "unterminated string");
    if (n > p->lim->max_string)
        return fail(p, TFT_JSON_E_STRING, quote, "string longer than %u bytes", (unsigned)p->lim->max_string);
    if (emit(p, TFT_JSON_STRING, p->pos, is_key, idx) != 0)
        return -1;
    if (dst)
        dst[n] = '\0';
    p->toks[*idx].end = (uint32_t)(dst ? p->pos + n : end);
    p->raw_chars += body + 1;
    p->pos = end + 1;
    return 0;
}

// Inside a container a number or true/false/null is followed by whitespace, ',' or the closing
// bracket: "0x10", "1.5.3", "nulll" are one bad literal, not a value and a missing comma (`what`
// says which). At the top level what follows it is trailing characters.
static int after_literal(scanner *p, const char *what) {
    if (p->depth && p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != ',' && c != ']' && c != '}')
            return fail(p, TFT_JSON_E_SYNTAX, p->pos, "%s", what);
    }
    return 0;
}

static int scan_number(scanner *p) {
    size_t      start = p->pos;
    const char *what;
    size_t      n = tft_json_number_len(p->s + start, p->len - start, &what);
    uint32_t    idx;
    if (n == 0)
        return fail(p, TFT_JSON_E_SYNTAX, start, "invalid number (%s)", what);
    if (emit(p, TFT_JSON_NUMBER, start, 0, &idx) != 0)
        return -1;
    p->pos           = start + n;
    p->toks[idx].end = (uint32_t)p->pos;
    p->raw_chars += n + 1;
    return after_literal(p, "unexpected character after a number");
}

static int scan_literal(scanner *p) {
    static const struct { const char *text; size_t n; tft_json_type t; } lit[] = {
        {"true", 4, TFT_JSON_TRUE}, {"false", 5, TFT_JSON_FALSE}, {"null", 4, TFT_JSON_NULL}};
    for (size_t i = 0; i < sizeof lit / sizeof lit[0]; i++) {
        if (p->len - p->pos >= lit[i].n && memcmp(p->s + p->pos, lit[i].text, lit[i].n) == 0) {
            uint32_t idx;
            if (emit(p, lit[i].t, p->pos, 0, &idx) != 0)
                return -1;
            p->pos += lit[i].n;
            p->toks[idx].end = (uint32_t)p->pos;
            return after_literal(p, "invalid literal (expected true, false or null)");
        }
    }
    return fail(p, TFT_JSON_E_SYNTAX, p->pos, "invalid literal (expected true, false or null)");
}

// `"key" :` inside an object: the key's token, pending in the frame until its value is done.
static int scan_key(scanner *p) {
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, TFT_JSON_E_SYNTAX, p->pos, "unexpected end of input (expected a key)");
    if (p->s[p->pos] != '"')
        return p->s[p->pos] == 0 ? unexpected(p, "expected a string key")
                                 : fail(p, TFT_JSON_E_SYNTAX, p->pos, "expected a string key");
    uint32_t idx;
    if (scan_string(p, 1, &idx) != 0)
        return -1;
    p->stack[p->depth - 1].key = idx;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != ':')
        return fail(p, TFT_JSON_E_SYNTAX, p->pos, "expected ':' after a key");
    p->pos++;
    return 0;
}

// Pops the innermost container (its closing bracket was just consumed): its token spans its subtree.
static void close_container(scanner *p) {
    scan_frame   *f = &p->stack[p->depth - 1];
    tft_json_tok *t = &p->toks[f->tok];
    t->end          = (uint32_t)p->pos;
    t->skip         = (uint32_t)(p->n - f->tok);
    if (f->is_obj && t->size > p->max_members)
        p->max_members = t->size;
    p->depth--;
    value_done(p);
}

// Room for one more open container: the inline frames, then a heap array doubling up to max_depth.
static int push_frame(scanner *p) {
    if (p->depth == p->stack_cap) {
        size_t      cap = 2 * p->stack_cap, bytes;
        scan_frame *s;
        if (cap > p->lim->max_depth)
            cap = p->lim->max_depth;
        if (__builtin_mul_overflow(cap, sizeof *s, &bytes) ||
            !(s = p->stack == p->inline_stack ? malloc(bytes) : realloc(p->stack, bytes)))
            return fail(p, TFT_JSON_E_NOMEM, p->pos, "out of memory (nesting depth %zu)", p->depth);
        if (p->stack == p->inline_stack)
            memcpy(s, p->inline_stack, sizeof p->inline_stack);
        p->stack     = s;
        p->stack_cap = cap;
    }
    p->depth++;
    if (p->depth > p->max_depth_seen)
        p->max_depth_seen = p->depth;
    return 0;
}

// The whole document, once, into p->toks. Iterative: the explicit stack holds the open containers.
static int scan_doc(scanner *p) {
value:
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, TFT_JSON_E_SYNTAX, p->pos,
                    p->depth ? "unexpected end of input (expected a value)" : "empty document");
    {
        unsigned char c = p->s[p->pos];
        uint32_t      idx;
        if (c == '{' || c == '[') {
            if (p->depth >= p->lim->max_depth)
                return fail(p, TFT_JSON_E_DEPTH, p->pos, "nesting deeper than %u", (unsigned)p->lim->max_depth);
            if (emit(p, c == '{' ? TFT_JSON_OBJECT : TFT_JSON_ARRAY, p->pos, 0, &idx) != 0 || push_frame(p) != 0)
                return -1;
            scan_frame *f = &p->stack[p->depth - 1];
            f->tok        = idx;
            f->key        = NO_KEY;
            f->is_obj     = c == '{';
            p->pos++;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == (c == '{' ? '}' : ']')) {
                p->pos++;
                close_container(p);
                goto after;
            }
            if (f->is_obj && scan_key(p) != 0)
                return -1;
            goto value;
        }
        if (c == '"') {
            if (scan_string(p, 0, &idx) != 0)
                return -1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            if (scan_number(p) != 0)
                return -1;
        } else if (c == 't' || c == 'f' || c == 'n') {
            if (scan_literal(p) != 0)
                return -1;
        } else {
            return unexpected(p, "expected a value");
        }
        value_done(p);
    }
after:
    skip_ws(p);
    if (p->depth == 0) {
        if (p->pos < p->len)
            return fail(p, TFT_JSON_E_SYNTAX, p->pos, p->s[p->pos] == 0 ? "NUL byte after the JSON value"
                                                                         : "trailing characters after the JSON value");
        return 0;
    }
    {
        scan_frame *f = &p->stack[p->depth - 1];
        if (p->pos >= p->len)
            return fail(p, TFT_JSON_E_SYNTAX, p->pos, "unexpected end of input (the %s at byte %u is not closed)",
                        f->is_obj ? "object" : "array", (unsigned)p->toks[f->tok].start);
        unsigned char c = p->s[p->pos];
        if (c == ',') {
            p->pos++;
            if (f->is_obj && scan_key(p) != 0)
                return -1;
            goto value;
        }
        if (c == (f->is_obj ? '}' : ']')) {
            p->pos++;
            close_container(p);
            goto after;
        }
        if (c == 0)
            return unexpected(p, f->is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
        return fail(p, TFT_JSON_E_SYNTAX, p->pos, "expected ',' or '%c'", f->is_obj ? '}' : ']');
    }
}

// Scans [text, text + len) with p's token sink already set (w: the same bytes, writable, or NULL).
// p->stack may hold heap memory afterwards: scan_end frees it.
static int scan(scanner *p, const char *text, char *w, size_t len, const tft_json_limits *lim, tft_json_error *err) {
    p->s         = (const unsigned char *)(text ? text : "");
    p->w         = w;
    p->len       = len;
    p->lim       = lim;
    p->err       = err;
    p->stack     = p->inline_stack;
    p->stack_cap = SCAN_INLINE_DEPTH;
    memset(err, 0, sizeof *err);
    if (p->max_tokens > TOKENS_MAX) // a container's size is 28 bits
        p->max_tokens = TOKENS_MAX;
    if (p->cap > p->max_tokens)
        p->cap = p->max_tokens;
    if (len >= (size_t)UINT32_MAX)
        return fail(p, TFT_JSON_E_TOO_LONG, 0, "document of %zu bytes (the limit is %u)", len, UINT32_MAX - 1);
    return scan_doc(p);
}

static void scan_end(scanner *p) {
    if (p->stack != p->inline_stack)
        free(p->stack);
    p->stack = p->inline_stack;
}

int tft_json_tokens(char *text, size_t len, const tft_json_limits *lim, tft_json_tok *toks, size_t cap,
                    size_t *ntoks, tft_json_error *err) {
    tft_json_limits deflim = tft_json_default_limits();
    tft_json_error  local;
    scanner         p;
    memset(&p, 0, sizeof p);
    p.err = err ? err : &local;
    memset(p.err, 0, sizeof *p.err);
    if (ntoks)
        *ntoks = 0;
    if (!ntoks || (!text && len) || (!toks && cap))
        return fail(&p, TFT_JSON_E_SYNTAX, 0, "NULL argument");
    p.toks       = toks;
    p.cap        = cap;
    p.max_tokens = cap;
    int rc       = scan(&p, text, text, len, lim ? lim : &deflim, p.err);
    scan_end(&p);
    if (rc == 0)
        *ntoks = p.n;
    return rc;
}

const char *tft_json_type_desc(tft_json_type t) {
    switch (t) {
    case TFT_JSON_OBJECT: return "an object";
    case TFT_JSON_ARRAY: return "an array";
    case TFT_JSON_STRING: return "a string";
    case TFT_JSON_NUMBER: return "a number";
    case TFT_JSON_TRUE:
    case TFT_JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

// ---- the tree, built from the tokens -------------------------------------------------------------

typedef struct build_frame {
    tft_json   *node;      // the container being filled
    tft_json   *last;      // its last child so far
    uint32_t    remaining; // children still to come
    uint32_t    start;     // byte offset of its '{' or '['
    int         is_obj;
    const char *key;       // OBJECT: the pending member's key (NULL: the next token is a key)
} build_frame;

static int cmp_keys(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// Rejects two members of the object f->node with the same key (scratch: [max_members] pointers).
static int check_duplicates(scanner *p, const build_frame *f, const char **scratch) {
    const tft_json *first = f->node->child;
    const char     *dup   = NULL;
    if (f->node->len <= DUP_PAIRWISE_MAX) {
        for (const tft_json *a = first; a && !dup; a = a->next)
            for (const tft_json *b = a->next; b; b = b->next)
                if (strcmp(a->key, b->key) == 0) {
                    dup = a->key;
                    break;
                }
    } else {
        uint32_t n = 0;
        for (const tft_json *a = first; a && n < p->max_members; a = a->next)
            scratch[n++] = a->key;
        qsort(scratch, n, sizeof *scratch, cmp_keys);
        for (uint32_t i = 1; i < n && !dup; i++)
            if (strcmp(scratch[i - 1], scratch[i]) == 0)
                dup = scratch[i];
    }
    if (dup)
        return fail(p, TFT_JSON_E_SYNTAX, f->start, "duplicate key \"%.60s\" in the object that starts", dup);
    return 0;
}

// The tree of p's tokens into block (nodes, then the string area: each string unescaped, each
// number literal copied, NUL-terminated), numbers converted. A container is complete when its last
// child is; objects are checked for duplicate keys then. st: [max_depth_seen] frames.
static int build_tree(scanner *p, void *block, const char **scratch, build_frame *st, locale_t loc) {
    tft_json *nodes = block;
    char     *chars = (char *)block + p->n_values * sizeof(tft_json);
    size_t    nn = 0, depth = 0;
    for (size_t i = 0; i < p->n; i++) {
        const tft_json_tok *t   = &p->toks[i];
        build_frame        *f   = depth ? &st[depth - 1] : NULL;
        const char         *str = NULL;
        size_t              n   = 0;
        if (t->type == TFT_JSON_STRING || t->type == TFT_JSON_NUMBER) { // into the string area
            int is_key = f && f->is_obj && !f->key;
            if (t->type == TFT_JSON_STRING) {
                unsigned flags = (is_key ? TFT_JSON_STR_KEY : 0) |
                                 (p->lim->allow_nul_in_strings ? TFT_JSON_STR_ALLOW_NUL : 0);
                size_t   at;
                char     what[96];
                if (tft_json_string_body(p->s + t->start, t->end - t->start, chars, flags, &n, &at, what,
                                         sizeof what) != 0) // the scan validated it: cannot fail
                    return fail(p, TFT_JSON_E_SYNTAX, t->start + at, "%s", what);
            } else {
                n = t->end - t->start;
                memcpy(chars, p->s + t->start, n);
            }
            chars[n] = '\0';
            str      = chars;
            chars += n + 1;
            if (is_key) {
                f->key = str;
                continue;
            }
        }
        tft_json *node = &nodes[nn++];
        memset(node, 0, sizeof *node);
        node->type = (tft_json_type)t->type;
        if (f) {
            node->key = f->key; // NULL in an array
            f->key    = NULL;
            if (f->last)
                f->last->next = node;
            else
                f->node->child = node;
            f->last = node;
            f->node->len++;
        }
        if (t->type == TFT_JSON_STRING) {
            node->str = str;
            node->len = (uint32_t)n; // n <= max_string, a uint32_t
        } else if (t->type == TFT_JSON_NUMBER) {
            node->str = str;
            node->num = strtod_l(str, NULL, loc);
            if (isinf(node->num))
                return fail(p, TFT_JSON_E_SYNTAX, t->start, "number out of the range of a double");
        } else if ((t->type == TFT_JSON_ARRAY || t->type == TFT_JSON_OBJECT) && t->size) {
            st[depth++] = (build_frame){node, NULL, t->size, t->start, t->type == TFT_JSON_OBJECT, NULL};
            continue; // complete with its last child
        }
        // a value is complete, and so is every container it was the last child of
        while (depth && --st[depth - 1].remaining == 0) {
            if (st[depth - 1].is_obj && check_duplicates(p, &st[depth - 1], scratch) != 0)
                return -1;
            depth--;
        }
    }
    return 0;
}

int tft_json_parse(const char *text, size_t len, const tft_json_limits *lim, tft_json **out, char *err,
                   size_t errlen) {
    tft_json_limits deflim = tft_json_default_limits();
    tft_json_error  e;
    scanner         p;
    memset(&p, 0, sizeof p);
    memset(&e, 0, sizeof e);
    p.err = &e;
    if (err && errlen)
        err[0] = '\0';
    int          rc      = -1;
    void        *block   = NULL;
    const char **scratch = NULL;
    build_frame *st      = NULL;
    locale_t     loc     = (locale_t)0;
    if (!out) {
        fail(&p, TFT_JSON_E_SYNTAX, 0, "NULL output argument");
        goto done;
    }
    *out = NULL;
    if (!text && len) {
        fail(&p, TFT_JSON_E_SYNTAX, 0, "NULL text");
        goto done;
    }
    // the tokens, in a heap array that grows as the scan goes (its strings validated, not unescaped:
    // the text is the caller's)
    p.grow       = 1;
    p.max_tokens = SIZE_MAX;
    if (scan(&p, text, NULL, len, lim ? lim : &deflim, &e) != 0)
        goto done;
    size_t bytes;
    if (__builtin_mul_overflow(p.n_values, sizeof(tft_json), &bytes) ||
        __builtin_add_overflow(bytes, p.raw_chars, &bytes)) {
        fail(&p, TFT_JSON_E_NOMEM, 0, "document too large");
        goto done;
    }
    block   = malloc(bytes ? bytes : 1);
    st      = malloc((p.max_depth_seen ? p.max_depth_seen : 1) * sizeof *st);
    scratch = p.max_members > DUP_PAIRWISE_MAX ? malloc((size_t)p.max_members * sizeof *scratch) : NULL;
    if (!block || !st || (p.max_members > DUP_PAIRWISE_MAX && !scratch)) {
        fail(&p, TFT_JSON_E_NOMEM, 0, "out of memory (%zu bytes)", bytes);
        goto done;
    }
    loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (loc == (locale_t)0) {
        fail(&p, TFT_JSON_E_NOMEM, 0, "newlocale(C) failed");
        goto done;
    }
    if (build_tree(&p, block, scratch, st, loc) != 0)
        goto done;
    *out  = block;
    block = NULL;
    rc    = 0;
done:
    if (rc != 0 && err && errlen)
        snprintf(err, errlen, "json: %s at byte %zu", e.what, e.at);
    if (loc != (locale_t)0)
        freelocale(loc);
    scan_end(&p);
    free(p.toks);
    free(scratch);
    free(st);
    free(block);
    return rc;
}

void tft_json_free(tft_json *root) { free(root); }

const tft_json *tft_json_get(const tft_json *obj, const char *key) {
    if (!obj || !key || obj->type != TFT_JSON_OBJECT)
        return NULL;
    for (const tft_json *c = obj->child; c; c = c->next)
        if (strcmp(c->key, key) == 0)
            return c;
    return NULL;
}

const tft_json *tft_json_at(const tft_json *arr, uint32_t i) {
    if (!arr || arr->type != TFT_JSON_ARRAY || i >= arr->len)
        return NULL;
    const tft_json *c = arr->child;
    while (c && i--)
        c = c->next;
    return c;
}

// Digits only (no sign, fraction or exponent) -> exact value; -1 on anything else or overflow.
static int digits_u64(const char *s, uint64_t *out) {
    if (!*s)
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
            return -1;
    }
    *out = v;
    return 0;
}

int tft_json_u64(const tft_json *v, uint64_t *out) {
    uint64_t x;
    if (!v || !out || v->type != TFT_JSON_NUMBER || !v->str || digits_u64(v->str, &x) != 0)
        return -1;
    *out = x;
    return 0;
}

int tft_json_i64(const tft_json *v, int64_t *out) {
    if (!v || !out || v->type != TFT_JSON_NUMBER || !v->str)
        return -1;
    int         neg = v->str[0] == '-';
    uint64_t    mag;
    if (digits_u64(v->str + neg, &mag) != 0)
        return -1;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1)
            return -1;
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)mag;
    }
    return 0;
}
