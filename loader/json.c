// json.c: strict RFC 8259 parser (see json.h for the contract).
//
// Two passes over the same code: pass 1 validates and counts (values, string bytes, the largest
// object); pass 2 writes the tree into one exactly sized allocation (nodes, then all strings and
// number literals, each NUL-terminated). Nesting is tracked with an explicit heap stack that grows
// with the actual depth up to max_depth (no recursion: a depth bomb cannot exhaust the C stack).
// Scratch (that stack, the duplicate-key sort buffer) is freed before returning.
// Every error message ends with "at byte <offset>".
//
// Choices beyond RFC 8259 (all rejections, none widens the grammar):
//   * an object key may never contain \u0000 (keys are exposed only as C strings);
//   * a number whose magnitude overflows a double (1e400) is rejected ("out of range");
//   * duplicate keys are compared byte for byte after unescaping ("a" and "\u0061" collide).
#include "json.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Objects with at most this many members are checked for duplicates pairwise; larger ones by sort.
#define DUP_PAIRWISE_MAX 16

typedef struct frame {
    tft_json *node;    // pass 2: the container being filled
    tft_json *last;    // pass 2: its last child so far
    size_t    start;   // byte offset of its '{' or '['
    uint32_t  count;   // children so far
    int       is_obj;
} frame;

typedef struct parser {
    const unsigned char   *s;
    size_t                 len, pos;
    const tft_json_limits *lim;
    int                    build;       // 0: pass 1 (count), 1: pass 2 (write)
    size_t                 n_nodes;     // values created so far
    size_t                 n_chars;     // string area bytes used so far (incl. NULs)
    tft_json              *nodes;       // pass 2
    char                  *chars;       // pass 2
    frame                 *stack;       // [stack_cap], grown on demand up to max_depth
    size_t                 stack_cap, depth;
    const char            *key;         // pending key for the next value of an object
    uint32_t               max_members; // largest object seen in pass 1
    const char           **scratch;     // pass 2: [max_members] keys for the duplicate check
    locale_t               loc;         // pass 2: the C locale for strtod_l
    char                  *err;
    size_t                 errlen;
} parser;

tft_json_limits tft_json_default_limits(void) {
    tft_json_limits l = {.max_depth = 64, .max_string = 16u << 20, .max_elements = 10000000u,
                         .allow_nul_in_strings = 0};
    return l;
}

// Writes "json: <message> at byte <at>" into the caller's buffer (if any). Always returns -1.
__attribute__((format(printf, 3, 4))) static int fail(parser *p, size_t at, const char *fmt, ...) {
    if (!p->err || p->errlen == 0)
        return -1;
    char    what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "json: %s at byte %zu", what, at);
    return -1;
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

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
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

// ---- the lexical grammar both JSON readers share (json.h) ----------------------------------------

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

// Reserves `n` bytes of the string area (pass 2: returns where to write; pass 1: NULL).
static char *reserve_chars(parser *p, size_t n) {
    char *dst = p->build ? p->chars + p->n_chars : NULL;
    p->n_chars += n; // bounded by 2 * len (every byte of input yields at most 1 byte plus a NUL)
    return dst;
}

// Parses the string starting at the '"' at p->pos. Pass 2: *out is the unescaped, NUL-terminated
// copy in the string area. *out_len: its byte length. The body's grammar is tft_json_string_body's.
static int parse_string(parser *p, int is_key, const char **out, uint32_t *out_len) {
    size_t start = p->pos++, end = p->pos;
    while (end < p->len && p->s[end] != '"') // the closing quote: past escapes
        end += p->s[end] == '\\' ? 2 : 1;
    int    closed = end < p->len;
    size_t body   = (closed ? end : p->len) - p->pos;
    // The unescaped string is never longer than its source; write straight into the string area.
    char  *dst = p->build ? p->chars + p->n_chars : NULL;
    size_t n, at;
    char   what[96];
    unsigned flags = (is_key ? TFT_JSON_STR_KEY : 0) | (p->lim->allow_nul_in_strings ? TFT_JSON_STR_ALLOW_NUL : 0);
    if (tft_json_string_body(p->s + p->pos, body, dst, flags, &n, &at, what, sizeof what) != 0)
        return fail(p, strcmp(what, "unterminated string") == 0 ? start : p->pos + at, "%s", what);
    if (!closed)
        return fail(p, start, "unterminated string");
    if (n > p->lim->max_string)
        return fail(p, start, "string longer than %u bytes", (unsigned)p->lim->max_string);
    p->pos = end + 1;
    reserve_chars(p, n + 1);
    if (dst)
        dst[n] = '\0';
    *out = dst;
    *out_len = (uint32_t)n; // n <= max_string, a uint32_t
    return 0;
}

// Creates a value node of type t as the next child of the innermost open container (or as the
// root). Pass 1 only counts. *out: the node (pass 2) or NULL (pass 1).
static int new_node(parser *p, tft_json_type t, size_t at, tft_json **out) {
    *out = NULL;
    if (p->n_nodes >= p->lim->max_elements)
        return fail(p, at, "more than %u values in the document", (unsigned)p->lim->max_elements);
    frame *f = p->depth ? &p->stack[p->depth - 1] : NULL;
    if (p->build) {
        tft_json *n = &p->nodes[p->n_nodes];
        memset(n, 0, sizeof *n);
        n->type = t;
        if (f) {
            n->key = f->is_obj ? p->key : NULL;
            if (f->last)
                f->last->next = n;
            else
                f->node->child = n;
            f->last = n;
            f->node->len++;
        }
        *out = n;
    }
    if (f)
        f->count++;
    p->key = NULL;
    p->n_nodes++;
    return 0;
}

static int parse_number(parser *p) {
    size_t               start = p->pos;
    const unsigned char *s     = p->s;
    const char          *what;
    size_t               n = tft_json_number_len(s + start, p->len - start, &what);
    if (n == 0)
        return fail(p, start, "invalid number (%s)", what);
    size_t pos = start + n;
    tft_json *node;
    if (new_node(p, TFT_JSON_NUMBER, start, &node) != 0)
        return -1;
    char *dst = reserve_chars(p, n + 1);
    if (node) {
        memcpy(dst, s + start, n);
        dst[n] = '\0';
        node->str = dst;
        node->len = 0;
        node->num = strtod_l(dst, NULL, p->loc);
        if (isinf(node->num))
            return fail(p, start, "number out of the range of a double");
    }
    p->pos = pos;
    return 0;
}

static int cmp_keys(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// Pass 2, when an object closes: rejects two members with the same key.
static int check_duplicates(parser *p, const frame *f) {
    const tft_json *first = f->node->child;
    const char     *dup = NULL;
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
            p->scratch[n++] = a->key;
        qsort(p->scratch, n, sizeof *p->scratch, cmp_keys);
        for (uint32_t i = 1; i < n && !dup; i++)
            if (strcmp(p->scratch[i - 1], p->scratch[i]) == 0)
                dup = p->scratch[i];
    }
    if (dup)
        return fail(p, f->start, "duplicate key \"%.60s\" in the object that starts", dup);
    return 0;
}

// Pops the innermost container (its closing bracket was just consumed).
static int close_container(parser *p) {
    frame *f = &p->stack[p->depth - 1];
    if (f->is_obj) {
        if (!p->build && f->count > p->max_members)
            p->max_members = f->count;
        if (p->build && check_duplicates(p, f) != 0)
            return -1;
    }
    p->depth--;
    return 0;
}

// Parses `"key" :` inside an object; the key is kept for the value that follows.
static int parse_key(parser *p) {
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, p->pos, "unexpected end of input (expected a key)");
    if (p->s[p->pos] != '"')
        return fail(p, p->pos, "expected a string key");
    const char *key;
    uint32_t    klen;
    if (parse_string(p, 1, &key, &klen) != 0)
        return -1;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != ':')
        return fail(p, p->pos, "expected ':' after a key");
    p->pos++;
    p->key = key;
    return 0;
}

static int parse_literal(parser *p) {
    static const struct { const char *text; size_t n; tft_json_type t; } lit[] = {
        {"true", 4, TFT_JSON_TRUE}, {"false", 5, TFT_JSON_FALSE}, {"null", 4, TFT_JSON_NULL}};
    for (size_t i = 0; i < sizeof lit / sizeof lit[0]; i++) {
        if (p->len - p->pos >= lit[i].n && memcmp(p->s + p->pos, lit[i].text, lit[i].n) == 0) {
            tft_json *node;
            if (new_node(p, lit[i].t, p->pos, &node) != 0)
                return -1;
            p->pos += lit[i].n;
            return 0;
        }
    }
    return fail(p, p->pos, "invalid literal (expected true, false or null)");
}

// Doubles the container stack (never past max_depth frames).
static int grow_stack(parser *p) {
    size_t cap = p->stack_cap ? p->stack_cap * 2 : 32, bytes;
    if (cap > p->lim->max_depth)
        cap = p->lim->max_depth;
    frame *s;
    if (__builtin_mul_overflow(cap, sizeof *s, &bytes) || !(s = realloc(p->stack, bytes)))
        return fail(p, p->pos, "out of memory (nesting depth %zu)", p->depth);
    p->stack = s;
    p->stack_cap = cap;
    return 0;
}

// One pass over the whole document. Iterative: the explicit stack holds the open containers.
static int parse_doc(parser *p) {
    p->pos = 0;
    p->depth = 0;
    p->n_nodes = 0;
    p->n_chars = 0;
    p->key = NULL;
value:
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, p->pos, p->depth ? "unexpected end of input (expected a value)" : "empty document");
    {
        unsigned char c = p->s[p->pos];
        if (c == '{' || c == '[') {
            if (p->depth >= p->lim->max_depth)
                return fail(p, p->pos, "nesting deeper than %u", (unsigned)p->lim->max_depth);
            if (p->depth == p->stack_cap && grow_stack(p) != 0)
                return -1;
            tft_json *node;
            if (new_node(p, c == '{' ? TFT_JSON_OBJECT : TFT_JSON_ARRAY, p->pos, &node) != 0)
                return -1;
            frame *f = &p->stack[p->depth++];
            f->node = node;
            f->last = NULL;
            f->start = p->pos;
            f->count = 0;
            f->is_obj = c == '{';
            p->pos++;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == (c == '{' ? '}' : ']')) {
                p->pos++;
                if (close_container(p) != 0)
                    return -1;
                goto after;
            }
            if (f->is_obj && parse_key(p) != 0)
                return -1;
            goto value;
        }
        if (c == '"') {
            tft_json   *node;
            const char *str;
            uint32_t    slen;
            size_t      at = p->pos;
            // parse first (it reserves the string bytes), then create the node (keeps p->key)
            if (parse_string(p, 0, &str, &slen) != 0)
                return -1;
            if (new_node(p, TFT_JSON_STRING, at, &node) != 0)
                return -1;
            if (node) {
                node->str = str;
                node->len = slen;
            }
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            if (parse_number(p) != 0)
                return -1;
        } else if (c == 't' || c == 'f' || c == 'n') {
            if (parse_literal(p) != 0)
                return -1;
        } else if (c >= 0x20 && c < 0x7f) {
            return fail(p, p->pos, "unexpected character '%c' (expected a value)", c);
        } else {
            return fail(p, p->pos, "unexpected byte 0x%02x (expected a value)", c);
        }
    }
after:
    skip_ws(p);
    if (p->depth == 0) {
        if (p->pos < p->len)
            return fail(p, p->pos, "trailing characters after the JSON value");
        return 0;
    }
    if (p->pos >= p->len) {
        frame *f = &p->stack[p->depth - 1];
        return fail(p, p->pos, "unexpected end of input (the %s at byte %zu is not closed)",
                    f->is_obj ? "object" : "array", f->start);
    }
    {
        frame        *f = &p->stack[p->depth - 1];
        unsigned char c = p->s[p->pos];
        if (c == ',') {
            p->pos++;
            if (f->is_obj && parse_key(p) != 0)
                return -1;
            goto value;
        }
        if (c == (f->is_obj ? '}' : ']')) {
            p->pos++;
            if (close_container(p) != 0)
                return -1;
            goto after;
        }
        return fail(p, p->pos, "expected ',' or '%c'", f->is_obj ? '}' : ']');
    }
}

int tft_json_parse(const char *text, size_t len, const tft_json_limits *lim, tft_json **out, char *err,
                   size_t errlen) {
    tft_json_limits deflim = tft_json_default_limits();
    parser          p;
    memset(&p, 0, sizeof p);
    p.s = (const unsigned char *)text;
    p.len = len;
    p.lim = lim ? lim : &deflim;
    p.err = err;
    p.errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return fail(&p, 0, "NULL output argument");
    *out = NULL;
    if (!text && len)
        return fail(&p, 0, "NULL text");
    if (!text)
        p.s = (const unsigned char *)"";

    int       rc = -1;
    void     *block = NULL;
    // pass 1: validate and count
    if (parse_doc(&p) != 0)
        goto done;
    size_t n_nodes = p.n_nodes, n_chars = p.n_chars, bytes;
    if (__builtin_mul_overflow(n_nodes, sizeof(tft_json), &bytes) ||
        __builtin_add_overflow(bytes, n_chars, &bytes)) {
        fail(&p, 0, "document too large");
        goto done;
    }
    block = malloc(bytes);
    if (p.max_members > DUP_PAIRWISE_MAX) {
        p.scratch = malloc((size_t)p.max_members * sizeof *p.scratch);
        if (!p.scratch) {
            fail(&p, 0, "out of memory (%zu bytes)", (size_t)p.max_members * sizeof *p.scratch);
            goto done;
        }
    }
    if (!block) {
        fail(&p, 0, "out of memory (%zu bytes)", bytes);
        goto done;
    }
    p.loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (p.loc == (locale_t)0) {
        fail(&p, 0, "newlocale(C) failed");
        goto done;
    }
    // pass 2: build
    p.build = 1;
    p.nodes = block;
    p.chars = (char *)block + n_nodes * sizeof(tft_json);
    if (parse_doc(&p) != 0)
        goto done;
    if (p.n_nodes != n_nodes || p.n_chars != n_chars) { // cannot happen: both passes run the same code
        fail(&p, 0, "internal error (pass sizes differ)");
        goto done;
    }
    *out = block;
    block = NULL;
    rc = 0;
done:
    if (p.loc != (locale_t)0)
        freelocale(p.loc);
    free(p.scratch);
    free(p.stack);
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
