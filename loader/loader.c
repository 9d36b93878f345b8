// loader.c: safetensors reader (see loader.h). Enforces RELIABILITY.md §2.3 S1-S13:
//
//   S1  file >= 8 bytes; N read as little-endian u64 byte by byte
//   S2  0 < N <= TFT_LD_HEADER_CAP and N <= size - 8 (subtraction, no overflow)
//   S3  header valid UTF-8, no NUL, byte 0 '{', only 0x20 after the closing '}'
//   S4  strict JSON (json.c): duplicate keys, depth 8, element cap; <= 4096 tensors
//   S5  shape / offsets are exact integers from the literal text, each <= 2^48
//   S6  entries have exactly {dtype, shape, data_offsets}; __metadata__ flat string->string
//   S7  dtype whitelist (F32 F64 F16 BF16 I64 I32 I16 I8 U8 BOOL)
//   S8  rank <= 8; nelem and nbytes with checked multiplies
//   S9  data_offsets: 2 integers, begin <= end, end - begin == nbytes, end <= buffer
//   S10 sorted by (begin, end): first begin 0, contiguous (no hole, no overlap), last end == buffer
//   S11 names non-empty, <= 256 bytes, unique (JSON duplicate check), no NUL
//   S12 data pointers are inside the mapping; alignment is NOT guaranteed (callers copy)
//   S13 little-endian host asserted at compile time
//
// A file opened from a path is mapped read-only and private (MAP_PRIVATE, PROT_READ). As the
// safetensors maintainers note, a file truncated or rewritten while mapped can still fault (SIGBUS);
// the engine copies the tensors it needs at load and then closes the file.
#include "loader.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "tft loader: tensor bytes are little-endian; big-endian hosts need byte swapping (S13)");

#define LD_MAX_DEPTH    8                 // header: root {} -> entry {} -> shape [] (3 used)
#define LD_MAX_ELEMENTS (1u << 20)        // values in the header JSON (caps the tree at ~56 MiB)
#define LD_MAX_INT      (UINT64_C(1) << 48) // largest dim / offset (safetensors schema)
#define LD_SHOW_NAME    64                // bytes of a tensor name quoted in a message

struct tft_ld_file {
    const unsigned char *bytes;     // the whole file
    size_t               size;
    void                *map;       // non-NULL when tft_ld_open mapped the file
    size_t               map_len;
    tft_json            *json;      // header tree; names and metadata strings point into it
    const tft_json      *meta;      // __metadata__ object or NULL
    int32_t              n;
    tft_ld_tensor       *tensors;   // [n], sorted by name (strcmp)
};

static const struct { const char *name; size_t size; } dtypes[] = {
    [TFT_LD_F32] = {"F32", 4}, [TFT_LD_F64] = {"F64", 8}, [TFT_LD_F16] = {"F16", 2},
    [TFT_LD_BF16] = {"BF16", 2}, [TFT_LD_I64] = {"I64", 8}, [TFT_LD_I32] = {"I32", 4},
    [TFT_LD_I16] = {"I16", 2}, [TFT_LD_I8] = {"I8", 1}, [TFT_LD_U8] = {"U8", 1},
    [TFT_LD_BOOL] = {"BOOL", 1},
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

const char *tft_ld_dtype_name(tft_ld_dtype d) {
    return (int)d >= 0 && (int)d < N_DTYPES ? dtypes[d].name : "?";
}

size_t tft_ld_dtype_size(tft_ld_dtype d) {
    return (int)d >= 0 && (int)d < N_DTYPES ? dtypes[d].size : 0;
}

static tft_status status_of(tft_ld_reason r) {
    switch (r) {
    case TFT_LD_OK: return TFT_OK;
    case TFT_LD_E_ARG: return TFT_ERR_INVALID_ARG;
    case TFT_LD_E_OPEN: return TFT_ERR_IO;
    case TFT_LD_E_NOMEM: return TFT_ERR_NOMEM;
    default: return TFT_ERR_FORMAT;
    }
}

// Records the failure in err (if any) and returns its status.
__attribute__((format(printf, 3, 4))) static tft_status ld_fail(tft_ld_error *err, tft_ld_reason r,
                                                                const char *fmt, ...) {
    tft_status st = status_of(r);
    if (err) {
        err->status = st;
        err->reason = r;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (!err->msg[0]) // never an empty message
            snprintf(err->msg, sizeof err->msg, "safetensors: rejected (reason %d)", (int)r);
    }
    return st;
}

static void ld_ok(tft_ld_error *err) {
    if (err) {
        err->status = TFT_OK;
        err->reason = TFT_LD_OK;
        err->msg[0] = '\0';
    }
}

// A printable, bounded copy of a tensor name for messages: control bytes become '?', and a long
// name is cut (at a UTF-8 boundary) and marked with "...". dst must hold LD_SHOW_NAME + 4 bytes.
static const char *show(char *dst, const char *name) {
    size_t n = 0, i = 0;
    for (; name[i] && n < LD_SHOW_NAME; i++) {
        unsigned char c = (unsigned char)name[i];
        dst[n++] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
    }
    if (name[i]) {
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
            n--; // do not cut a multi-byte sequence (dst[j] == name[j] for non-ASCII bytes)
        memcpy(dst + n, "...", 3);
        n += 3;
    }
    dst[n] = '\0';
    return dst;
}


// Lexical scan of the header (strings and bracket depth only; the strict parse comes later).
// Returns the length of the top-level value (one past the bracket that closes byte 0's '{'), or 0
// if it never closes. *nul_key: offset of the first depth-1 key containing a \u0000 escape, or
// SIZE_MAX (such a key is a tensor name; the JSON parser would reject it less precisely).
static size_t scan_header(const unsigned char *h, size_t n, size_t *nul_key) {
    size_t depth = 0;
    *nul_key = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = h[i];
        if (c == '"') {
            size_t start = i++;
            int    has_nul = 0;
            while (i < n && h[i] != '"') {
                if (h[i] == '\\' && i + 1 < n) {
                    if (h[i + 1] == 'u' && n - i >= 6 && memcmp(h + i + 2, "0000", 4) == 0)
                        has_nul = 1;
                    i++; // skip the escaped byte (hex digits of \u are scanned as plain bytes)
                }
                i++;
            }
            if (i >= n)
                return 0;
            if (has_nul && depth == 1 && *nul_key == SIZE_MAX) {
                size_t j = i + 1;
                while (j < n && (h[j] == ' ' || h[j] == '\t' || h[j] == '\n' || h[j] == '\r'))
                    j++;
                if (j < n && h[j] == ':')
                    *nul_key = start;
            }
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return 0;
            if (--depth == 0)
                return i + 1;
        }
    }
    return 0;
}

// Exact non-negative integer <= 2^48 from a JSON number's literal text (never through double).
static int exact_int(const tft_json *v, uint64_t *out) {
    uint64_t x;
    if (!v || v->type != TFT_JSON_NUMBER || tft_json_u64(v, &x) != 0 || x > LD_MAX_INT)
        return -1;
    *out = x;
    return 0;
}

static const char *type_name(const tft_json *v) {
    static const char *names[] = {"null", "false", "true", "a number", "a string", "an array", "an object"};
    return v && (unsigned)v->type < sizeof names / sizeof names[0] ? names[v->type] : "?";
}

typedef struct span {
    uint64_t begin, end;
    int32_t  idx; // into the tensor array
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const tft_ld_tensor *)a)->name, ((const tft_ld_tensor *)b)->name);
}

// Validates one tensor entry (S6-S9 except the buffer-coverage rules of S10) into *t.
static tft_status parse_entry(const tft_json *e, size_t buf_len, tft_ld_tensor *t, uint64_t *begin,
                              uint64_t *end, tft_ld_error *err) {
    char            nm[LD_SHOW_NAME + 4];
    const char     *name = e->key;
    size_t          name_len = strlen(name);
    if (name_len == 0)
        return ld_fail(err, TFT_LD_E_NAME, "tensor name is empty");
    if (name_len > TFT_LD_MAX_NAME)
        return ld_fail(err, TFT_LD_E_NAME, "tensor '%s': name is %zu bytes long (limit %d)", show(nm, name),
                       name_len, TFT_LD_MAX_NAME);
    if (e->type != TFT_JSON_OBJECT)
        return ld_fail(err, TFT_LD_E_NOT_OBJECT, "tensor '%s': entry is %s, not an object", show(nm, name),
                       type_name(e));
    const tft_json *dt = NULL, *sh = NULL, *off = NULL;
    for (const tft_json *m = e->child; m; m = m->next) {
        if (strcmp(m->key, "dtype") == 0) dt = m;
        else if (strcmp(m->key, "shape") == 0) sh = m;
        else if (strcmp(m->key, "data_offsets") == 0) off = m;
        else {
            char k[LD_SHOW_NAME + 4];
            return ld_fail(err, TFT_LD_E_ENTRY_KEYS, "tensor '%s': unknown key '%s' (allowed: dtype, shape, "
                           "data_offsets)", show(nm, name), show(k, m->key));
        }
    }
    if (!dt || !sh || !off)
        return ld_fail(err, TFT_LD_E_ENTRY_KEYS, "tensor '%s': missing '%s'", show(nm, name),
                       !dt ? "dtype" : !sh ? "shape" : "data_offsets");

    // dtype (S7)
    if (dt->type != TFT_JSON_STRING)
        return ld_fail(err, TFT_LD_E_DTYPE, "tensor '%s': dtype is %s, not a string", show(nm, name),
                       type_name(dt));
    int d = -1;
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(dt->str, dtypes[i].name) == 0)
            d = i;
    if (d < 0) {
        char k[LD_SHOW_NAME + 4];
        return ld_fail(err, TFT_LD_E_DTYPE, "tensor '%s': unsupported dtype '%s'", show(nm, name),
                       show(k, dt->str));
    }
    t->name = name;
    t->dtype = (tft_ld_dtype)d;

    // shape (S8)
    if (sh->type != TFT_JSON_ARRAY)
        return ld_fail(err, TFT_LD_E_SHAPE, "tensor '%s': shape is %s, not an array", show(nm, name),
                       type_name(sh));
    if (sh->len > TFT_LD_MAX_RANK)
        return ld_fail(err, TFT_LD_E_SHAPE, "tensor '%s': rank %u exceeds %d", show(nm, name),
                       (unsigned)sh->len, TFT_LD_MAX_RANK);
    t->rank = (int32_t)sh->len;
    int64_t nelem = 1;
    int     r = 0;
    for (const tft_json *v = sh->child; v; v = v->next, r++) {
        uint64_t dim;
        if (exact_int(v, &dim) != 0)
            return ld_fail(err, TFT_LD_E_SHAPE,
                           "tensor '%s': shape[%d] is %.40s, not an integer in [0, 2^48]",
                           show(nm, name), r, v->type == TFT_JSON_NUMBER ? v->str : type_name(v));
        t->shape[r] = (int64_t)dim;
        if (__builtin_mul_overflow(nelem, (int64_t)dim, &nelem))
            return ld_fail(err, TFT_LD_E_SHAPE, "tensor '%s': element count overflows (shape[%d] = %llu)",
                           show(nm, name), r, (unsigned long long)dim);
    }
    t->nelem = nelem;
    if ((uint64_t)nelem > SIZE_MAX || __builtin_mul_overflow((size_t)nelem, dtypes[d].size, &t->nbytes))
        return ld_fail(err, TFT_LD_E_OVERFLOW, "tensor '%s': byte size overflows (%lld elements of %s)",
                       show(nm, name), (long long)nelem, dtypes[d].name);

    // data_offsets (S9)
    if (off->type != TFT_JSON_ARRAY)
        return ld_fail(err, TFT_LD_E_OFFSETS, "tensor '%s': data_offsets is %s, not an array of 2 integers",
                       show(nm, name), type_name(off));
    if (off->len != 2)
        return ld_fail(err, TFT_LD_E_OFFSETS, "tensor '%s': data_offsets has length %u, not 2",
                       show(nm, name), (unsigned)off->len);
    const tft_json *b = off->child, *en = b->next;
    if (exact_int(b, begin) != 0 || exact_int(en, end) != 0)
        return ld_fail(err, TFT_LD_E_OFFSETS,
                       "tensor '%s': data_offsets must be integers in [0, 2^48] (got %.30s, %.30s)",
                       show(nm, name), b->type == TFT_JSON_NUMBER ? b->str : type_name(b),
                       en->type == TFT_JSON_NUMBER ? en->str : type_name(en));
    if (*begin > *end)
        return ld_fail(err, TFT_LD_E_OFFSETS, "tensor '%s': data_offsets begin %llu > end %llu",
                       show(nm, name), (unsigned long long)*begin, (unsigned long long)*end);
    if (*end - *begin != (uint64_t)t->nbytes)
        return ld_fail(err, TFT_LD_E_OFFSETS,
                       "tensor '%s': data_offsets span %llu bytes but shape x %s needs %zu", show(nm, name),
                       (unsigned long long)(*end - *begin), dtypes[d].name, t->nbytes);
    if (*end > (uint64_t)buf_len)
        return ld_fail(err, TFT_LD_E_OUT_OF_BOUNDS, "tensor '%s': data_offsets end %llu is past the %zu-byte "
                       "data buffer (the file is truncated, or the offsets are wrong)", show(nm, name),
                       (unsigned long long)*end, buf_len);
    return TFT_OK;
}

// __metadata__ (S6): a flat object of string values, each at most TFT_LD_MAX_META bytes.
static tft_status check_metadata(const tft_json *m, tft_ld_error *err) {
    char k[LD_SHOW_NAME + 4];
    if (m->type != TFT_JSON_OBJECT)
        return ld_fail(err, TFT_LD_E_METADATA, "__metadata__ is %s, not an object of strings", type_name(m));
    for (const tft_json *v = m->child; v; v = v->next) {
        if (v->type != TFT_JSON_STRING)
            return ld_fail(err, TFT_LD_E_METADATA, "__metadata__ '%s' is %s, not a string", show(k, v->key),
                           type_name(v));
        if (v->len > TFT_LD_MAX_META)
            return ld_fail(err, TFT_LD_E_METADATA, "__metadata__ '%s' is %u bytes long (limit %u)",
                           show(k, v->key), (unsigned)v->len, (unsigned)TFT_LD_MAX_META);
    }
    return TFT_OK;
}

// The message for a file that is not safetensors at all (S1/S2 fail and byte 8 is not '{'): its
// first bytes, quoted when they are printable text, and what a safetensors file starts with.
static tft_status not_safetensors(const unsigned char *p, tft_ld_error *err) {
    char text[9];
    int  printable = 1;
    for (int i = 0; i < 8; i++) {
        printable &= p[i] >= 0x20 && p[i] < 0x7f;
        text[i] = (char)p[i];
    }
    text[8] = 0;
    if (printable)
        return ld_fail(err, TFT_LD_E_HEADER_START, "not a safetensors file: it starts with the text \"%s\", "
                       "where a safetensors file starts with an 8-byte little-endian header length and "
                       "then '{'", text);
    return ld_fail(err, TFT_LD_E_HEADER_START, "not a safetensors file: a safetensors file starts with an "
                   "8-byte little-endian header length and then '{' (file byte 8 is 0x%02x)", p[8]);
}

// Validates bytes[0, size) and fills f (which owns nothing yet but may hold a mapping).
static tft_status ld_parse(tft_ld_file *f, tft_ld_error *err) {
    const unsigned char *p = f->bytes;
    size_t               size = f->size;
    char                 nm[LD_SHOW_NAME + 4], nm2[LD_SHOW_NAME + 4];

    // S1, S2: header length
    if (size < 8)
        return ld_fail(err, TFT_LD_E_TOO_SMALL, "file is %zu bytes; a safetensors file has at least 8", size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | p[i];
    if (hlen == 0)
        return ld_fail(err, TFT_LD_E_HEADER_LEN, "header length (file bytes 0-7) is 0");
    // A length out of range with no '{' after it is some other file (a README, the request JSON
    // passed where the model goes): say so instead of quoting 8 bytes of text as a number.
    if ((hlen > TFT_LD_HEADER_CAP || hlen > size - 8) && size > 8 && p[8] != '{')
        return not_safetensors(p, err);
    if (hlen > TFT_LD_HEADER_CAP)
        return ld_fail(err, TFT_LD_E_HEADER_LEN, "header length %llu exceeds the cap of %u bytes",
                       (unsigned long long)hlen, (unsigned)TFT_LD_HEADER_CAP);
    if (hlen > size - 8)
        return ld_fail(err, TFT_LD_E_HEADER_LEN, "header length %llu is past the end of the %zu-byte file: "
                       "the file is truncated", (unsigned long long)hlen, size);
    size_t               n = (size_t)hlen;
    const unsigned char *h = p + 8;
    const unsigned char *buf = h + n;
    size_t               buf_len = size - 8 - n;

    // S3: '{' first, UTF-8 without NUL, only spaces after the value
    if (h[0] != '{')
        return ld_fail(err, TFT_LD_E_HEADER_START, "header (file byte 8) starts with 0x%02x, not '{'", h[0]);
    for (size_t i = 0; i < n;) {
        if (h[i] == 0)
            return ld_fail(err, TFT_LD_E_HEADER_UTF8, "NUL byte in the header at file byte %zu", 8 + i);
        size_t k = tft_json_utf8_seq(h + i, n - i);
        if (k == 0)
            return ld_fail(err, TFT_LD_E_HEADER_UTF8, "invalid UTF-8 in the header at file byte %zu", 8 + i);
        i += k;
    }
    size_t nul_key;
    size_t vlen = scan_header(h, n, &nul_key);
    if (nul_key != SIZE_MAX)
        return ld_fail(err, TFT_LD_E_NAME, "tensor name at file byte %zu contains \\u0000 (NUL)",
                       8 + nul_key);
    if (vlen == 0)
        vlen = n; // never closes: let the parser report where it is truncated
    for (size_t i = vlen; i < n; i++)
        if (h[i] != ' ')
            return ld_fail(err, TFT_LD_E_HEADER_PADDING, "byte 0x%02x after the header JSON at file byte %zu "
                           "(only spaces may pad the header)", h[i], 8 + i);

    // S4: strict JSON
    tft_json_limits lim = tft_json_default_limits();
    lim.max_depth = LD_MAX_DEPTH;
    lim.max_string = TFT_LD_HEADER_CAP;
    lim.max_elements = LD_MAX_ELEMENTS;
    lim.allow_nul_in_strings = 0;
    char jerr[200];
    if (tft_json_parse((const char *)h, vlen, &lim, &f->json, jerr, sizeof jerr) != 0)
        return ld_fail(err, TFT_LD_E_JSON, "header is not strict JSON (offsets from file byte 8): %s", jerr);
    if (f->json->type != TFT_JSON_OBJECT)
        return ld_fail(err, TFT_LD_E_NOT_OBJECT, "header is %s, not an object", type_name(f->json));

    // count tensors, check __metadata__
    uint32_t n_tensors = 0;
    for (const tft_json *e = f->json->child; e; e = e->next) {
        if (strcmp(e->key, "__metadata__") == 0) {
            tft_status st = check_metadata(e, err);
            if (st != TFT_OK)
                return st;
            f->meta = e;
        } else {
            n_tensors++;
        }
    }
    if (n_tensors > TFT_LD_MAX_TENSORS)
        return ld_fail(err, TFT_LD_E_TOO_MANY, "header lists %u tensors (limit %d)", (unsigned)n_tensors,
                       TFT_LD_MAX_TENSORS);

    // S6-S9: each entry
    f->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *f->tensors);
    span *spans = calloc(n_tensors ? n_tensors : 1, sizeof *spans);
    if (!f->tensors || !spans) {
        free(spans);
        return ld_fail(err, TFT_LD_E_NOMEM, "out of memory for %u tensor entries", (unsigned)n_tensors);
    }
    tft_status st = TFT_OK;
    int32_t    k = 0;
    for (const tft_json *e = f->json->child; e; e = e->next) {
        if (e == f->meta)
            continue;
        st = parse_entry(e, buf_len, &f->tensors[k], &spans[k].begin, &spans[k].end, err);
        if (st != TFT_OK)
            goto done;
        spans[k].idx = k;
        k++;
    }
    f->n = k;

    // S10: exact, contiguous coverage of the data buffer
    qsort(spans, (size_t)k, sizeof *spans, cmp_span);
    uint64_t    prev_end = 0;
    const char *prev = NULL;
    for (int32_t i = 0; i < k; i++) {
        const tft_ld_tensor *t = &f->tensors[spans[i].idx];
        if (spans[i].begin > prev_end) {
            if (prev)
                st = ld_fail(err, TFT_LD_E_HOLE,
                             "hole: tensor '%s' starts at %llu but tensor '%s' ends at %llu",
                             show(nm, t->name), (unsigned long long)spans[i].begin, show(nm2, prev),
                             (unsigned long long)prev_end);
            else
                st = ld_fail(err, TFT_LD_E_HOLE, "hole: the first tensor '%s' starts at %llu, not 0",
                             show(nm, t->name), (unsigned long long)spans[i].begin);
            goto done;
        }
        if (spans[i].begin < prev_end) {
            st = ld_fail(err, TFT_LD_E_OVERLAP,
                         "overlap: tensor '%s' [%llu, %llu) overlaps tensor '%s' ending at %llu",
                         show(nm, t->name), (unsigned long long)spans[i].begin,
                         (unsigned long long)spans[i].end, show(nm2, prev ? prev : "?"),
                         (unsigned long long)prev_end);
            goto done;
        }
        prev_end = spans[i].end;
        prev = t->name;
    }
    if (prev_end != (uint64_t)buf_len) { // prev_end > buf_len was rejected per entry
        if (prev)
            st = ld_fail(err, TFT_LD_E_TRAILING,
                         "%llu trailing bytes after the last tensor '%s' (data: %zu bytes)",
                         (unsigned long long)(buf_len - prev_end), show(nm, prev), buf_len);
        else
            st = ld_fail(err, TFT_LD_E_TRAILING, "%zu trailing bytes after the header but no tensors",
                         buf_len);
        goto done;
    }

    // S12: data pointers (begin <= end <= buf_len, so inside the file)
    for (int32_t i = 0; i < k; i++)
        f->tensors[spans[i].idx].data = buf + spans[i].begin;
    qsort(f->tensors, (size_t)k, sizeof *f->tensors, cmp_tensor_name);
done:
    free(spans);
    return st;
}

void tft_ld_close(tft_ld_file *f) {
    if (!f)
        return;
    tft_json_free(f->json);
    free(f->tensors);
    if (f->map)
        munmap(f->map, f->map_len);
    free(f);
}

// Common tail of both open functions: validates f (already holding bytes/size) and hands it out.
static tft_status ld_finish(tft_ld_file *f, tft_ld_file **out, tft_ld_error *err) {
    tft_status st = ld_parse(f, err);
    if (st != TFT_OK) {
        tft_ld_close(f);
        return st;
    }
    ld_ok(err);
    *out = f;
    return TFT_OK;
}

tft_status tft_ld_open_memory(const void *buf, size_t len, tft_ld_file **out, tft_ld_error *err) {
    if (out)
        *out = NULL;
    if (!buf || !out)
        return ld_fail(err, TFT_LD_E_ARG, "tft_ld_open_memory: NULL %s", !buf ? "buffer" : "output pointer");
    tft_ld_file *f = calloc(1, sizeof *f);
    if (!f)
        return ld_fail(err, TFT_LD_E_NOMEM, "out of memory");
    f->bytes = buf;
    f->size = len;
    return ld_finish(f, out, err);
}

tft_status tft_ld_open(const char *path, tft_ld_file **out, tft_ld_error *err) {
    if (out)
        *out = NULL;
    if (!path || !out)
        return ld_fail(err, TFT_LD_E_ARG, "tft_ld_open: NULL %s", !path ? "path" : "output pointer");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK); // a FIFO must not block
    if (fd < 0)
        return ld_fail(err, TFT_LD_E_OPEN, "cannot open '%.150s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return ld_fail(err, TFT_LD_E_OPEN, "cannot stat '%.150s': %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return ld_fail(err, TFT_LD_E_OPEN, "'%.150s' is a directory, not a weights file", path);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ld_fail(err, TFT_LD_E_OPEN, "'%.150s' is not a regular file", path);
    }
    if (sb.st_size < 8) { // includes empty files, which mmap cannot map
        close(fd);
        return ld_fail(err, TFT_LD_E_TOO_SMALL, "'%.150s' is %lld bytes; a safetensors file has at least 8",
                       path, (long long)sb.st_size);
    }
    if ((unsigned long long)sb.st_size > SIZE_MAX) {
        close(fd);
        return ld_fail(err, TFT_LD_E_OPEN, "'%.150s' is too large to map", path);
    }
    size_t size = (size_t)sb.st_size;
    void  *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int    e = errno;
    close(fd); // the mapping keeps the file alive
    if (map == MAP_FAILED)
        return ld_fail(err, TFT_LD_E_OPEN, "cannot mmap '%.150s' (%zu bytes): %s", path, size, strerror(e));
    tft_ld_file *f = calloc(1, sizeof *f);
    if (!f) {
        munmap(map, size);
        return ld_fail(err, TFT_LD_E_NOMEM, "out of memory");
    }
    f->bytes = map;
    f->size = size;
    f->map = map;
    f->map_len = size;
    return ld_finish(f, out, err);
}

int32_t tft_ld_count(const tft_ld_file *f) { return f ? f->n : 0; }

const tft_ld_tensor *tft_ld_tensor_at(const tft_ld_file *f, int32_t i) {
    return f && i >= 0 && i < f->n ? &f->tensors[i] : NULL;
}

const tft_ld_tensor *tft_ld_find(const tft_ld_file *f, const char *name) {
    if (!f || !name)
        return NULL;
    int32_t lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int     c = strcmp(name, f->tensors[mid].name);
        if (c == 0)
            return &f->tensors[mid];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *tft_ld_metadata(const tft_ld_file *f, const char *key) {
    const tft_json *v = f && key ? tft_json_get(f->meta, key) : NULL;
    return v ? v->str : NULL;
}

size_t      tft_ld_file_size(const tft_ld_file *f) { return f ? f->size : 0; }
const void *tft_ld_file_bytes(const tft_ld_file *f) { return f ? f->bytes : NULL; }
