// test_loader.c: the safetensors loader (loader/loader.h).
//
//   * a table-driven malformed-file corpus (RELIABILITY.md §2.4, cases 1-46 and more): each case
//     generates its bytes in memory and names the expected status, reason and a message substring;
//   * valid edge cases that must load with the right shapes and bytes;
//   * tft_ld_open on real files (valid, missing, directory, empty);
//   * a seeded mutation loop over a valid file (never crashes; every rejection is explained).
// Every buffer handed to the loader is an exactly sized heap copy, so ASan sees any overread.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glob.h>
#include <sys/stat.h>

#include "../loader/loader.h"

// ---------------------------------------------------------------------------------------------
// byte builder

typedef struct tbuf {
    unsigned char *p;
    size_t         n, cap;
} tbuf;

static void tb_put(tbuf *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void tb_str(tbuf *b, const char *s) { tb_put(b, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static void tb_fmt(tbuf *b, const char *fmt, ...) {
    char    tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof tmp);
    tb_put(b, tmp, (size_t)n);
}

static void tb_u64(tbuf *b, uint64_t v) {
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(v >> (8 * i));
    tb_put(b, le, 8);
}

// Byte i of every generated data buffer.
static unsigned char data_byte(size_t i) { return (unsigned char)(i * 131u + 7u); }

static void tb_data(tbuf *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = data_byte(i);
        tb_put(b, &c, 1);
    }
}

// A whole file: N = hlen (the real header length unless overridden), the header, data_len bytes.
static void tb_file_n(tbuf *b, uint64_t n, const void *header, size_t hlen, size_t data_len) {
    tb_u64(b, n);
    tb_put(b, header, hlen);
    tb_data(b, data_len);
}

static void tb_file(tbuf *b, const char *header, size_t data_len) {
    tb_file_n(b, strlen(header), header, strlen(header), data_len);
}

// Loads b through an exact heap copy. Returns the status; *out set on success.
static tft_status load(const tbuf *b, tft_ld_file **out, tft_ld_error *err, void **copy) {
    *copy = malloc(b->n ? b->n : 1);
    assert_non_null(*copy);
    if (b->n)
        memcpy(*copy, b->p, b->n);
    return tft_ld_open_memory(*copy, b->n, out, err);
}

// ---------------------------------------------------------------------------------------------
// the malformed-file corpus

typedef struct ld_case ld_case;
struct ld_case {
    const char   *name;
    void        (*gen)(const ld_case *c, tbuf *b);
    const char   *header;   // for gen_header and friends
    size_t        data_len; // bytes of data buffer after the header
    tft_status    st;
    tft_ld_reason reason;
    const char   *msg;      // substring of the message
};

// A valid two-tensor header: "a" F32 [2,2] at [0,16), "b" I8 [3] at [16,19).
#define A_OK "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}"
#define B_OK "\"b\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[16,19]}"
#define BASE "{" A_OK "," B_OK "}"
// One entry "t" with the given body, alone in a file of `len` data bytes.
#define ONE(body) "{\"t\":{" body "}}"

static void gen_header(const ld_case *c, tbuf *b) { tb_file(b, c->header, c->data_len); }

// header = the whole file; data_len = its length when it holds NUL bytes
static void gen_raw(const ld_case *c, tbuf *b) {
    tb_put(b, c->header, c->data_len ? c->data_len : strlen(c->header));
}

static void gen_n_zero(const ld_case *c, tbuf *b) { tb_file_n(b, 0, "{}", 2, 0); }

static void gen_n_past_end(const ld_case *c, tbuf *b) {
    tb_file_n(b, strlen(BASE) + 20, BASE, strlen(BASE), 19); // N is 1 byte more than the file holds
}

static void gen_n_max(const ld_case *c, tbuf *b) { tb_file_n(b, UINT64_MAX, BASE, strlen(BASE), 19); }

static void gen_n_over_cap(const ld_case *c, tbuf *b) {
    tb_file_n(b, (uint64_t)TFT_LD_HEADER_CAP + 1, BASE, strlen(BASE), 19);
}

static void gen_n_high_bit(const ld_case *c, tbuf *b) { // a big-endian writer's N
    uint64_t n = strlen(BASE), be = 0;
    for (int i = 0; i < 8; i++)
        be |= ((n >> (8 * i)) & 0xff) << (8 * (7 - i));
    tb_file_n(b, be, BASE, strlen(BASE), 19);
}

static void gen_truncated(const ld_case *c, tbuf *b) { // header cut in half, data gone
    tb_file(b, BASE, 19);
    b->n = 8 + strlen(BASE) / 2;
}

static void gen_truncated_data(const ld_case *c, tbuf *b) { // the last data byte is missing
    tb_file(b, BASE, 18);
}

static void gen_nul_in_header(const ld_case *c, tbuf *b) {
    char h[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}  ";
    h[sizeof h - 2] = '\0';                           // a NUL in the padding
    tb_file_n(b, sizeof h - 1, h, sizeof h - 1, 16);
}

static void gen_nul_in_name(const ld_case *c, tbuf *b) {
    static const char h[] = "{\"a\0b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    tb_file_n(b, sizeof h - 1, h, sizeof h - 1, 16);
}

static void gen_depth_bomb(const ld_case *c, tbuf *b) { // {"a": [[[[... 100000 deep, never closed
    tbuf h = {0};
    tb_str(&h, "{\"a\":");
    for (int i = 0; i < 100000; i++)
        tb_str(&h, "[");
    tb_file_n(b, h.n, h.p, h.n, 0);
    free(h.p);
}

static void gen_depth_9(const ld_case *c, tbuf *b) { // closed, but 9 levels: root + 8 arrays
    tb_file(b, "{\"a\":[[[[[[[[0]]]]]]]]}", 0);
}

static void gen_long_name(const ld_case *c, tbuf *b) {
    tbuf h = {0};
    tb_str(&h, "{\"");
    for (int i = 0; i < TFT_LD_MAX_NAME + 1; i++)
        tb_str(&h, "n");
    tb_str(&h, "\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}");
    tb_file_n(b, h.n, h.p, h.n, 16);
    free(h.p);
}

// `count` zero-size U8 entries, all at [0,0].
static void tiny_entries(tbuf *b, int count) {
    tbuf h = {0};
    tb_str(&h, "{");
    for (int i = 0; i < count; i++)
        tb_fmt(&h, "%s\"t%06d\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}", i ? "," : "", i);
    tb_str(&h, "}");
    tb_file_n(b, h.n, h.p, h.n, 0);
    free(h.p);
}

static void gen_count_bomb(const ld_case *c, tbuf *b) { tiny_entries(b, 100000); }
static void gen_count_4097(const ld_case *c, tbuf *b) { tiny_entries(b, TFT_LD_MAX_TENSORS + 1); }

static void gen_element_bomb(const ld_case *c, tbuf *b) { // 2M values: over the header's element cap
    tbuf h = {0};
    tb_str(&h, "{\"__metadata__\":{},\"x\":[0");
    for (int i = 0; i < 2000000; i++)
        tb_str(&h, ",0");
    tb_str(&h, "]}");
    tb_file_n(b, h.n, h.p, h.n, 0);
    free(h.p);
}

static void gen_meta_too_long(const ld_case *c, tbuf *b) {
    tbuf h = {0};
    tb_str(&h, "{\"__metadata__\":{\"config\":\"");
    char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    for (size_t i = 0; i <= TFT_LD_MAX_META / sizeof chunk; i++)
        tb_put(&h, chunk, sizeof chunk);
    tb_str(&h, "\"}}");
    tb_file_n(b, h.n, h.p, h.n, 0);
    free(h.p);
}

static void gen_bad_padding_tail(const ld_case *c, tbuf *b) { // writer-style padding with a bad byte
    char h[128];
    snprintf(h, sizeof h, "%s", BASE);
    size_t n = strlen(h);
    while (n % 8)
        h[n++] = ' ';
    h[n++] = ' ';
    h[n++] = 'x';
    tb_file_n(b, n, h, n, 19);
}

static const ld_case cases[] = {
    // --- header and length (§2.4 1-19) ---
    {"01 empty file", gen_raw, "", 0, TFT_ERR_FORMAT, TFT_LD_E_TOO_SMALL, "0 bytes"},
    {"02 one byte", gen_raw, "{", 0, TFT_ERR_FORMAT, TFT_LD_E_TOO_SMALL, "1 bytes"},
    {"02 seven bytes", gen_raw, "\x02\0\0\0\0\0\0", 7, TFT_ERR_FORMAT, TFT_LD_E_TOO_SMALL, "7 bytes"},
    {"03 N = 0", gen_n_zero, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_HEADER_LEN, "is 0"},
    {"03 N = 0, file of 8 bytes", gen_raw, "\0\0\0\0\0\0\0\0", 8, TFT_ERR_FORMAT, TFT_LD_E_HEADER_LEN, "is 0"},
    {"04 N > file - 8", gen_n_past_end, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_HEADER_LEN, "past the end"},
    {"04 N = 1, file of 8 bytes", gen_raw, "\x01\0\0\0\0\0\0\0", 8, TFT_ERR_FORMAT, TFT_LD_E_HEADER_LEN,
     "past the end"},
    {"05 N = 2^64-1", gen_n_max, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_HEADER_LEN, "exceeds the cap"},
    {"05 N big-endian", gen_n_high_bit, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_HEADER_LEN, "exceeds the cap"},
    // a file that is not safetensors at all: the 8 length bytes are text or another format's magic
    {"05 a README passed as the model", gen_raw, "# tft: native inference for Temporal Fusion Transformer\n", 0,
     TFT_ERR_FORMAT, TFT_LD_E_HEADER_START, "not a safetensors file: it starts with the text \"# tft: n\""},
    {"05 a request JSON passed as the model", gen_raw, "{\"series\": [{\"id\": \"db-01\"}]}", 0, TFT_ERR_FORMAT,
     TFT_LD_E_HEADER_START, "not a safetensors file: it starts with the text \"{\"series\""},
    {"05 an ELF file passed as the model", gen_raw, "\x7f" "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0", 16, TFT_ERR_FORMAT,
     TFT_LD_E_HEADER_START, "not a safetensors file: a safetensors file starts with an 8-byte little-endian"},
    {"06 truncated header", gen_truncated, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_HEADER_LEN, "past the end of the 63-byte file: the file is truncated"},
    {"07 N = cap + 1", gen_n_over_cap, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_HEADER_LEN, "16777216"},
    {"08 first byte space", gen_header, " " BASE, 19, TFT_ERR_FORMAT, TFT_LD_E_HEADER_START, "0x20"},
    {"08 header is an array", gen_header, "[]", 0, TFT_ERR_FORMAT, TFT_LD_E_HEADER_START, "not '{'"},
    {"08 header is a string", gen_header, "\"{}\"", 0, TFT_ERR_FORMAT, TFT_LD_E_HEADER_START, "0x22"},
    {"09 invalid UTF-8 in a name", gen_header, "{\"a\xff\":{}}", 0, TFT_ERR_FORMAT, TFT_LD_E_HEADER_UTF8,
     "file byte 11"},
    {"09 overlong UTF-8", gen_header, "{\"a\xc0\xaf\":{}}", 0, TFT_ERR_FORMAT, TFT_LD_E_HEADER_UTF8,
     "invalid UTF-8"},
    {"09 UTF-8 surrogate", gen_header, "{\"\xed\xa0\x80\":{}}", 0, TFT_ERR_FORMAT, TFT_LD_E_HEADER_UTF8,
     "invalid UTF-8"},
    {"09 invalid UTF-8 in padding", gen_header, BASE " \xfe", 19, TFT_ERR_FORMAT, TFT_LD_E_HEADER_UTF8,
     "invalid UTF-8"},
    {"10 NUL in padding", gen_nul_in_header, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_HEADER_UTF8, "NUL byte"},
    {"10 raw NUL in a name", gen_nul_in_name, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_HEADER_UTF8, "file byte 11"},
    {"11 newline after JSON", gen_header, BASE "\n", 19, TFT_ERR_FORMAT, TFT_LD_E_HEADER_PADDING, "0x0a"},
    {"11 tab after JSON", gen_header, BASE "\t", 19, TFT_ERR_FORMAT, TFT_LD_E_HEADER_PADDING, "0x09"},
    {"11 garbage after padding", gen_bad_padding_tail, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_HEADER_PADDING,
     "only spaces"},
    {"11 second object", gen_header, BASE "{}", 19, TFT_ERR_FORMAT, TFT_LD_E_HEADER_PADDING, "0x7b"},
    {"11 extra brace", gen_header, BASE "}", 19, TFT_ERR_FORMAT, TFT_LD_E_HEADER_PADDING, "0x7d"},
    {"13 truncated JSON", gen_header, "{\"a\":{\"dtype\":\"F32\"", 0, TFT_ERR_FORMAT, TFT_LD_E_JSON,
     "end of input"},
    {"13 unterminated string", gen_header, "{\"a", 0, TFT_ERR_FORMAT, TFT_LD_E_JSON, "unterminated string"},
    {"13 trailing comma", gen_header, "{" A_OK ",}", 16, TFT_ERR_FORMAT, TFT_LD_E_JSON, "expected a string key"},
    {"13 comment", gen_header, "{/*x*/" A_OK "}", 16, TFT_ERR_FORMAT, TFT_LD_E_JSON, "expected a string key"},
    {"14 depth bomb", gen_depth_bomb, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_JSON, "nesting deeper than 8"},
    {"14 depth 9", gen_depth_9, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_JSON, "nesting deeper than 8"},
    {"15 duplicate tensor", gen_header, "{" A_OK "," A_OK "}", 16, TFT_ERR_FORMAT, TFT_LD_E_JSON,
     "duplicate key \"a\""},
    {"15 duplicate tensor after unescaping", gen_header,
     "{" A_OK ",\"\\u0061\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32]}}", 32, TFT_ERR_FORMAT,
     TFT_LD_E_JSON, "duplicate key \"a\""},
    {"15 duplicate __metadata__", gen_header, "{\"__metadata__\":{},\"__metadata__\":{}}", 0, TFT_ERR_FORMAT,
     TFT_LD_E_JSON, "duplicate key \"__metadata__\""},
    {"16 duplicate key in entry", gen_header,
     ONE("\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 8, TFT_ERR_FORMAT,
     TFT_LD_E_JSON, "duplicate key \"dtype\""},
    {"16 duplicate key in metadata", gen_header, "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, TFT_ERR_FORMAT,
     TFT_LD_E_JSON, "duplicate key \"k\""},
    {"17 NaN dim", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[NaN],\"data_offsets\":[0,0]"), 0, TFT_ERR_FORMAT,
     TFT_LD_E_JSON, "unexpected character 'N'"},
    {"17 Infinity offset", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,Infinity]"), 0,
     TFT_ERR_FORMAT, TFT_LD_E_JSON, "unexpected character 'I'"},
    {"17 -Infinity dim", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[-Infinity],\"data_offsets\":[0,0]"), 0,
     TFT_ERR_FORMAT, TFT_LD_E_JSON, "digit must follow '-'"},
    {"18 name of 257 bytes", gen_long_name, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_NAME, "257 bytes"},
    {"19 tensor-count bomb (1e5 entries)", gen_count_bomb, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_TOO_MANY,
     "100000 tensors"},
    {"19 4097 tensors", gen_count_4097, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_TOO_MANY, "limit 4096"},
    {"19 element bomb (2e6 values)", gen_element_bomb, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_JSON, "values"},

    // --- entries (§2.4 20-46) ---
    {"20 dtype missing", gen_header, ONE("\"shape\":[2],\"data_offsets\":[0,8]"), 8, TFT_ERR_FORMAT,
     TFT_LD_E_ENTRY_KEYS, "tensor 't': missing 'dtype'"},
    {"21 shape missing", gen_header, ONE("\"dtype\":\"F32\",\"data_offsets\":[0,8]"), 8, TFT_ERR_FORMAT,
     TFT_LD_E_ENTRY_KEYS, "missing 'shape'"},
    {"22 data_offsets missing", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[2]"), 8, TFT_ERR_FORMAT,
     TFT_LD_E_ENTRY_KEYS, "missing 'data_offsets'"},
    {"22 empty entry", gen_header, "{\"t\":{}}", 0, TFT_ERR_FORMAT, TFT_LD_E_ENTRY_KEYS, "missing 'dtype'"},
    {"23 extra key", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"align\":64"), 8,
     TFT_ERR_FORMAT, TFT_LD_E_ENTRY_KEYS, "unknown key 'align'"},
    {"23 entry not an object", gen_header, "{\"t\":[0,8]}", 8, TFT_ERR_FORMAT, TFT_LD_E_NOT_OBJECT,
     "tensor 't': entry is an array"},
    {"23 entry is a string", gen_header, "{\"t\":\"F32\"}", 0, TFT_ERR_FORMAT, TFT_LD_E_NOT_OBJECT,
     "is a string"},
    {"24 unknown dtype U16", gen_header, ONE("\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[0,4]"), 4,
     TFT_ERR_FORMAT, TFT_LD_E_DTYPE, "unsupported dtype 'U16'"},
    {"24 unknown dtype F8_E4M3", gen_header, ONE("\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]"),
     2, TFT_ERR_FORMAT, TFT_LD_E_DTYPE, "'F8_E4M3'"},
    {"24 lowercase dtype", gen_header, ONE("\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]"), 8,
     TFT_ERR_FORMAT, TFT_LD_E_DTYPE, "'f32'"},
    {"25 dtype a number", gen_header, ONE("\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]"), 8,
     TFT_ERR_FORMAT, TFT_LD_E_DTYPE, "dtype is a number"},
    {"26 shape a number", gen_header, ONE("\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]"), 8,
     TFT_ERR_FORMAT, TFT_LD_E_SHAPE, "shape is a number"},
    {"26 shape an object", gen_header, ONE("\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,0]"), 0,
     TFT_ERR_FORMAT, TFT_LD_E_SHAPE, "not an array"},
    {"26 dim a string", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]"), 8,
     TFT_ERR_FORMAT, TFT_LD_E_SHAPE, "shape[0] is a string"},
    {"27 negative dim", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,0]"), 0,
     TFT_ERR_FORMAT, TFT_LD_E_SHAPE, "shape[1] is -1"},
    {"27 negative zero dim", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[-0],\"data_offsets\":[0,0]"), 0,
     TFT_ERR_FORMAT, TFT_LD_E_SHAPE, "shape[0] is -0"},
    {"28 dim 1.5", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]"), 4,
     TFT_ERR_FORMAT, TFT_LD_E_SHAPE, "1.5"},
    {"28 dim 2.0", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]"), 8,
     TFT_ERR_FORMAT, TFT_LD_E_SHAPE, "2.0"},
    {"29 dim 1e3", gen_header, ONE("\"dtype\":\"U8\",\"shape\":[1e3],\"data_offsets\":[0,1000]"), 1000,
     TFT_ERR_FORMAT, TFT_LD_E_SHAPE, "1e3"},
    {"30 dim 2^48 + 1", gen_header, ONE("\"dtype\":\"U8\",\"shape\":[281474976710657],\"data_offsets\":[0,0]"),
     0, TFT_ERR_FORMAT, TFT_LD_E_SHAPE, "281474976710657"},
    {"30 dim 2^64", gen_header, ONE("\"dtype\":\"U8\",\"shape\":[18446744073709551616],\"data_offsets\":[0,0]"),
     0, TFT_ERR_FORMAT, TFT_LD_E_SHAPE, "18446744073709551616"},
    {"31 rank 9", gen_header, ONE("\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]"), 1,
     TFT_ERR_FORMAT, TFT_LD_E_SHAPE, "rank 9"},
    {"32 element-count overflow", gen_header,
     ONE("\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]"), 0, TFT_ERR_FORMAT,
     TFT_LD_E_SHAPE, "element count overflows"},
    {"32 element-count overflow, 3 dims", gen_header,
     ONE("\"dtype\":\"U8\",\"shape\":[2097152,2097152,2097152],\"data_offsets\":[0,0]"), 0, TFT_ERR_FORMAT,
     TFT_LD_E_SHAPE, "shape[2]"},
    {"32 overflow before a zero dim (checked left to right)", gen_header,
     ONE("\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,0],\"data_offsets\":[0,0]"), 0, TFT_ERR_FORMAT,
     TFT_LD_E_SHAPE, "overflows"},
    {"33 byte-count overflow F32", gen_header,
     ONE("\"dtype\":\"F32\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,0]"), 0, TFT_ERR_FORMAT,
     TFT_LD_E_OVERFLOW, "byte size overflows"},
    {"33 byte-count overflow F64", gen_header,
     ONE("\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]"), 0, TFT_ERR_FORMAT,
     TFT_LD_E_SHAPE, "2305843009213693952"}, // 2^61 > 2^48: caught as a dim first
    {"33 byte-count overflow I64", gen_header,
     ONE("\"dtype\":\"I64\",\"shape\":[65536,65536,65536,8192],\"data_offsets\":[0,0]"), 0, TFT_ERR_FORMAT,
     TFT_LD_E_OVERFLOW, "I64"},
    {"34 data_offsets 1 item", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]"), 8,
     TFT_ERR_FORMAT, TFT_LD_E_OFFSETS, "length 1"},
    {"34 data_offsets 3 items", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]"), 8,
     TFT_ERR_FORMAT, TFT_LD_E_OFFSETS, "length 3"},
    {"34 data_offsets empty", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[]"), 0,
     TFT_ERR_FORMAT, TFT_LD_E_OFFSETS, "length 0"},
    {"34 data_offsets an object", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":{}"), 0,
     TFT_ERR_FORMAT, TFT_LD_E_OFFSETS, "an object"},
    {"35 begin > end", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]"), 8,
     TFT_ERR_FORMAT, TFT_LD_E_OFFSETS, "begin 8 > end 0"},
    {"36 span = nbytes - 1", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,7]"), 7,
     TFT_ERR_FORMAT, TFT_LD_E_OFFSETS, "span 7 bytes but shape x F32 needs 8"},
    {"36 span = nbytes + 1", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,9]"), 9,
     TFT_ERR_FORMAT, TFT_LD_E_OFFSETS, "span 9 bytes"},
    {"36 second tensor short", gen_header,
     "{" A_OK ",\"b\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[16,18]}}",
     18, TFT_ERR_FORMAT, TFT_LD_E_OFFSETS, "tensor 'b'"},
    {"37 hole between tensors", gen_header,
     "{" A_OK ",\"b\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[17,20]}}", 20, TFT_ERR_FORMAT,
     TFT_LD_E_HOLE, "tensor 'b' starts at 17 but tensor 'a' ends at 16"},
    {"38 overlapping tensors", gen_header,
     "{" A_OK ",\"b\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[15,18]}}", 18, TFT_ERR_FORMAT,
     TFT_LD_E_OVERLAP, "tensor 'b' [15, 18) overlaps tensor 'a'"},
    {"38 two tensors on the same bytes", gen_header,
     "{" A_OK ",\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, TFT_ERR_FORMAT,
     TFT_LD_E_OVERLAP, "overlap"},
    {"38 zero-size tensor inside another", gen_header,
     "{" A_OK ",\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 16, TFT_ERR_FORMAT,
     TFT_LD_E_OVERLAP, "tensor 'z' [4, 4) overlaps tensor 'a'"},
    {"39 first begin != 0", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[3,19]"), 19,
     TFT_ERR_FORMAT, TFT_LD_E_HOLE, "first tensor 't' starts at 3, not 0"},
    {"40 one trailing byte", gen_header, BASE, 20, TFT_ERR_FORMAT, TFT_LD_E_TRAILING,
     "1 trailing bytes after the last tensor 'b'"},
    {"40 data but no tensors", gen_header, "{}", 4, TFT_ERR_FORMAT, TFT_LD_E_TRAILING, "no tensors"},
    {"40 data but only metadata", gen_header, "{\"__metadata__\":{\"a\":\"b\"}}", 1, TFT_ERR_FORMAT,
     TFT_LD_E_TRAILING, "1 trailing bytes"},
    {"41 last end past the file", gen_truncated_data, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_OUT_OF_BOUNDS,
     "tensor 'b': data_offsets end 19 is past the 18-byte data buffer (the file is truncated"},
    {"41 huge consistent offsets", gen_header,
     ONE("\"dtype\":\"U8\",\"shape\":[281474976710656],\"data_offsets\":[0,281474976710656]"), 0,
     TFT_ERR_FORMAT, TFT_LD_E_OUT_OF_BOUNDS, "past the 0-byte"},
    {"41 zero-size tensor past the end", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[9,9]"),
     8, TFT_ERR_FORMAT, TFT_LD_E_OUT_OF_BOUNDS, "end 9"},
    {"42 offsets as strings", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\"0\",\"8\"]"),
     8, TFT_ERR_FORMAT, TFT_LD_E_OFFSETS, "a string"},
    {"42 negative offset", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]"), 8,
     TFT_ERR_FORMAT, TFT_LD_E_OFFSETS, "-8"},
    {"42 fractional offset", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.0]"), 8,
     TFT_ERR_FORMAT, TFT_LD_E_OFFSETS, "8.0"},
    {"42 offset 2^64-1", gen_header,
     ONE("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[18446744073709551607,18446744073709551615]"), 8,
     TFT_ERR_FORMAT, TFT_LD_E_OFFSETS, "2^48"},
    {"42 offset null", gen_header, ONE("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,null]"), 8,
     TFT_ERR_FORMAT, TFT_LD_E_OFFSETS, "null"},
    {"43 name with \\u0000", gen_header,
     "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     8, TFT_ERR_FORMAT, TFT_LD_E_NAME, "\\u0000"},
    {"43 \\u0000 in a string value", gen_header,
     ONE("\"dtype\":\"F3\\u0000\",\"shape\":[2],\"data_offsets\":[0,8]"), 8, TFT_ERR_FORMAT, TFT_LD_E_JSON,
     "NUL"},
    {"43 lone surrogate in a name", gen_header,
     "{\"\\ud800\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     8, TFT_ERR_FORMAT, TFT_LD_E_JSON, "surrogate"},
    {"44 empty name", gen_header, "{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
     TFT_ERR_FORMAT, TFT_LD_E_NAME, "empty"},
    {"45 metadata number value", gen_header, "{\"__metadata__\":{\"format_version\":1}}", 0, TFT_ERR_FORMAT,
     TFT_LD_E_METADATA, "'format_version' is a number"},
    {"45 metadata null value", gen_header, "{\"__metadata__\":{\"a\":null}}", 0, TFT_ERR_FORMAT,
     TFT_LD_E_METADATA, "is null"},
    {"46 metadata nested object", gen_header, "{\"__metadata__\":{\"config\":{\"a\":\"b\"}}}", 0, TFT_ERR_FORMAT,
     TFT_LD_E_METADATA, "'config' is an object"},
    {"46 metadata an array", gen_header, "{\"__metadata__\":[\"a\"]}", 0, TFT_ERR_FORMAT, TFT_LD_E_METADATA,
     "an array"},
    {"46 metadata a string", gen_header, "{\"__metadata__\":\"x\"}", 0, TFT_ERR_FORMAT, TFT_LD_E_METADATA,
     "a string"},
    {"46 metadata value over 8 MiB", gen_meta_too_long, NULL, 0, TFT_ERR_FORMAT, TFT_LD_E_METADATA,
     "limit 8388608"},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void test_corpus(void **state) {
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        const ld_case *c = &cases[i];
        tbuf           b = {0};
        c->gen(c, &b);
        tft_ld_file *f = (tft_ld_file *)1;
        tft_ld_error err;
        memset(&err, 0x55, sizeof err);
        void      *copy;
        tft_status st = load(&b, &f, &err, &copy);
        int        ok = st == c->st && err.status == c->st && err.reason == c->reason && f == NULL &&
                 memchr(err.msg, '\0', sizeof err.msg) && err.msg[0] && strstr(err.msg, c->msg);
        if (!ok) {
            print_error("case '%s': got status %d reason %d msg \"%.256s\"; want status %d reason %d msg ~ "
                        "\"%s\"\n", c->name, st, err.reason, memchr(err.msg, '\0', sizeof err.msg) ? err.msg : "?",
                        c->st, c->reason, c->msg);
            failures++;
        }
        if (st == TFT_OK)
            tft_ld_close(f);
        free(copy);
        free(b.p);
    }
    print_message("loader corpus: %zu malformed-file cases\n", N_CASES);
    assert_true(N_CASES >= 45);
    assert_int_equal(failures, 0);
}

// ---------------------------------------------------------------------------------------------
// valid files

static tft_ld_file *load_ok(const tbuf *b, void **copy) {
    tft_ld_file *f = NULL;
    tft_ld_error err;
    tft_status   st = load(b, &f, &err, copy);
    if (st != TFT_OK)
        fail_msg("expected the file to load, got %d/%d: %s", st, err.reason, err.msg);
    assert_int_equal(err.status, TFT_OK);
    assert_int_equal(err.reason, TFT_LD_OK);
    assert_string_equal(err.msg, "");
    assert_non_null(f);
    return f;
}

static void check_bytes(const tft_ld_tensor *t, size_t data_begin) {
    const unsigned char *d = t->data;
    for (size_t i = 0; i < t->nbytes; i++)
        if (d[i] != data_byte(data_begin + i))
            fail_msg("tensor '%s' byte %zu differs", t->name, i);
}

static void test_valid_base(void **state) {
    (void)state;
    tbuf b = {0};
    tb_file(&b, BASE, 19);
    void        *copy;
    tft_ld_file *f = load_ok(&b, &copy);
    assert_int_equal(tft_ld_count(f), 2);
    assert_int_equal(tft_ld_file_size(f), b.n);
    assert_ptr_equal(tft_ld_file_bytes(f), copy);
    const tft_ld_tensor *a = tft_ld_find(f, "a"), *bb = tft_ld_find(f, "b");
    assert_non_null(a);
    assert_non_null(bb);
    assert_ptr_equal(tft_ld_tensor_at(f, 0), a);
    assert_ptr_equal(tft_ld_tensor_at(f, 1), bb);
    assert_null(tft_ld_tensor_at(f, 2));
    assert_null(tft_ld_tensor_at(f, -1));
    assert_null(tft_ld_find(f, "c"));
    assert_null(tft_ld_find(f, ""));
    assert_null(tft_ld_find(f, NULL));
    assert_null(tft_ld_metadata(f, "format"));
    assert_string_equal(a->name, "a");
    assert_int_equal(a->dtype, TFT_LD_F32);
    assert_int_equal(a->rank, 2);
    assert_int_equal(a->shape[0], 2);
    assert_int_equal(a->shape[1], 2);
    assert_int_equal(a->nelem, 4);
    assert_int_equal(a->nbytes, 16);
    assert_ptr_equal(a->data, (unsigned char *)copy + 8 + strlen(BASE));
    check_bytes(a, 0);
    assert_int_equal(bb->dtype, TFT_LD_I8);
    assert_int_equal(bb->rank, 1);
    assert_int_equal(bb->nelem, 3);
    assert_int_equal(bb->nbytes, 3);
    check_bytes(bb, 16);
    tft_ld_close(f);
    free(copy);
    free(b.p);
}

// Every whitelisted dtype, entries out of offset order, a misaligned F32, a zero-size tensor, a
// scalar, metadata, escaped names and writer-style space padding.
static void test_valid_edge_cases(void **state) {
    (void)state;
    static const struct { const char *name, *dtype; const char *shape; int64_t nelem; size_t esize; } t[] = {
        {"w.f32", "F32", "[2,3]", 6, 4},    {"w.f64", "F64", "[]", 1, 8},     {"w.f16", "F16", "[5]", 5, 2},
        {"w.bf16", "BF16", "[1,1,3]", 3, 2}, {"w.i64", "I64", "[2]", 2, 8},   {"w.i32", "I32", "[1]", 1, 4},
        {"w.i16", "I16", "[3,1]", 3, 2},     {"w.i8", "I8", "[7]", 7, 1},      {"w.u8", "U8", "[1,2,1,2]", 4, 1},
        {"w.bool", "BOOL", "[3]", 3, 1},     {"empty", "F32", "[0,3]", 0, 4}, {"empty2", "I64", "[4,0]", 0, 8},
        {"w.odd", "U8", "[1]", 1, 1}, // placed first, so every later tensor starts at an odd offset
    };
    enum { NT = sizeof t / sizeof t[0] };
    // lay out in reverse table order, starting with an odd-sized tensor so later F32/F64 are misaligned
    size_t begin[NT], off = 0;
    for (int i = NT - 1; i >= 0; i--) {
        begin[i] = off;
        off += (size_t)t[i].nelem * t[i].esize;
    }
    tbuf h = {0};
    tb_str(&h, "{\"__metadata__\":{\"format\":\"tft\",\"format_version\":\"1\",\"note\":\"caf\\u00e9 \\\"q\\\"\"}");
    for (int i = 0; i < NT; i++)
        tb_fmt(&h, ",\"%s\":{\"data_offsets\":[%zu,%zu],\"shape\":%s,\"dtype\":\"%s\"}", t[i].name, begin[i],
               begin[i] + (size_t)t[i].nelem * t[i].esize, t[i].shape, t[i].dtype);
    tb_str(&h, ",\"n\\u00e9\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}");
    while (h.n % 8)
        tb_str(&h, " ");
    tbuf b = {0};
    tb_file_n(&b, h.n, h.p, h.n, off);
    void        *copy;
    tft_ld_file *f = load_ok(&b, &copy);
    assert_int_equal(tft_ld_count(f), NT + 1);
    const unsigned char *buf = (const unsigned char *)copy + 8 + h.n;
    for (int i = 0; i < NT; i++) {
        const tft_ld_tensor *x = tft_ld_find(f, t[i].name);
        assert_non_null(x);
        assert_string_equal(x->name, t[i].name);
        assert_string_equal(tft_ld_dtype_name(x->dtype), t[i].dtype);
        assert_int_equal(tft_ld_dtype_size(x->dtype), t[i].esize);
        assert_int_equal(x->nelem, t[i].nelem);
        assert_int_equal(x->nbytes, (size_t)t[i].nelem * t[i].esize);
        assert_ptr_equal(x->data, buf + begin[i]);
        check_bytes(x, begin[i]);
    }
    const tft_ld_tensor *sc = tft_ld_find(f, "w.f64");
    assert_int_equal(sc->rank, 0); // scalar: shape []
    const tft_ld_tensor *bf = tft_ld_find(f, "w.bf16");
    assert_int_equal(bf->rank, 3);
    assert_int_equal(bf->shape[2], 3);
    const tft_ld_tensor *e = tft_ld_find(f, "empty");
    assert_int_equal(e->rank, 2);
    assert_int_equal(e->shape[0], 0);
    assert_int_equal(e->shape[1], 3);
    assert_int_equal(e->nbytes, 0);
    // misaligned F32 reads correctly through memcpy
    const tft_ld_tensor *w = tft_ld_find(f, "w.f32");
    float                v[6], want[6];
    memcpy(v, w->data, sizeof v);
    unsigned char raw[24];
    for (size_t i = 0; i < 24; i++)
        raw[i] = data_byte(begin[0] + i);
    memcpy(want, raw, sizeof want);
    assert_memory_equal(v, want, sizeof v);
    // unicode name (escaped in the header) is found by its UTF-8 bytes
    assert_non_null(tft_ld_find(f, "n\xc3\xa9"));
    // sorted by name
    for (int32_t i = 1; i < tft_ld_count(f); i++)
        assert_true(strcmp(tft_ld_tensor_at(f, i - 1)->name, tft_ld_tensor_at(f, i)->name) < 0);
    // metadata
    assert_string_equal(tft_ld_metadata(f, "format"), "tft");
    assert_string_equal(tft_ld_metadata(f, "format_version"), "1");
    assert_string_equal(tft_ld_metadata(f, "note"), "caf\xc3\xa9 \"q\"");
    assert_null(tft_ld_metadata(f, "missing"));
    assert_null(tft_ld_metadata(f, NULL));
    assert_null(tft_ld_find(f, "__metadata__"));
    tft_ld_close(f);
    free(copy);
    free(b.p);
    free(h.p);
}

static void test_valid_small_files(void **state) {
    (void)state;
    static const struct { const char *header; size_t data_len; int32_t count; } ok[] = {
        {"{}", 0, 0},                                                  // no tensors at all
        {"{}        ", 0, 0},                                          // padded with spaces
        {BASE "      ", 19, 2},                                        // 12) space padding
        {"{\"__metadata__\":{}}", 0, 0},                               // empty metadata
        {"{ \"t\" : { \"dtype\" : \"U8\" , \"shape\" : [ 1 ] , \"data_offsets\" : [ 0 , 1 ] } }", 1, 1},
        {"{\n\t\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}\r\n}", 1, 1}, // JSON whitespace inside
        {"{\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, 1}, // only a zero-size tensor
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"      // zero-size at the end
         "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[1,1]}}", 1, 2},
        {"{\"z1\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"    // two zero-size at the start
         "\"z2\":{\"dtype\":\"I8\",\"shape\":[5,0],\"data_offsets\":[0,0]},"
         "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, 3},
        {"{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, 1},  // 53) scalar
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, 1}, // rank 8
        {"{\"\\u00e9\\ud83d\\ude00\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, 1},
        {"{\"__metadata__\":{\"k\":\"\"}}", 0, 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        tbuf b = {0};
        tb_file(&b, ok[i].header, ok[i].data_len);
        void        *copy;
        tft_ld_file *f = load_ok(&b, &copy);
        assert_int_equal(tft_ld_count(f), ok[i].count);
        for (int32_t k = 0; k < tft_ld_count(f); k++) {
            const tft_ld_tensor *t = tft_ld_tensor_at(f, k);
            assert_ptr_equal(tft_ld_find(f, t->name), t);
        }
        tft_ld_close(f);
        free(copy);
        free(b.p);
    }
}

static void test_limits_accepted(void **state) {
    (void)state;
    // exactly 4096 tensors
    tbuf b = {0};
    tiny_entries(&b, TFT_LD_MAX_TENSORS);
    void        *copy;
    tft_ld_file *f = load_ok(&b, &copy);
    assert_int_equal(tft_ld_count(f), TFT_LD_MAX_TENSORS);
    char name[16];
    for (int i = 0; i < TFT_LD_MAX_TENSORS; i += 97) {
        snprintf(name, sizeof name, "t%06d", i);
        assert_non_null(tft_ld_find(f, name));
    }
    assert_string_equal(tft_ld_tensor_at(f, TFT_LD_MAX_TENSORS - 1)->name, "t004095");
    tft_ld_close(f);
    free(copy);
    free(b.p);

    // a name of exactly 256 bytes, and a dim of exactly 2^48 with a zero dim beside it
    tbuf h = {0};
    tb_str(&h, "{\"");
    for (int i = 0; i < TFT_LD_MAX_NAME; i++)
        tb_str(&h, "n");
    tb_str(&h, "\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
               "\"big\":{\"dtype\":\"F64\",\"shape\":[0,281474976710656],\"data_offsets\":[16,16]}}");
    b = (tbuf){0};
    tb_file_n(&b, h.n, h.p, h.n, 16);
    f = load_ok(&b, &copy);
    assert_int_equal(strlen(tft_ld_tensor_at(f, 1)->name), TFT_LD_MAX_NAME);
    assert_int_equal(tft_ld_find(f, "big")->shape[1], INT64_C(281474976710656));
    tft_ld_close(f);
    free(copy);
    free(b.p);
    free(h.p);
}

static void test_null_args(void **state) {
    (void)state;
    tft_ld_file *f = (tft_ld_file *)1;
    tft_ld_error err;
    assert_int_equal(tft_ld_open_memory(NULL, 10, &f, &err), TFT_ERR_INVALID_ARG);
    assert_int_equal(err.reason, TFT_LD_E_ARG);
    assert_null(f);
    assert_true(err.msg[0] != '\0');
    assert_int_equal(tft_ld_open_memory("12345678", 8, NULL, &err), TFT_ERR_INVALID_ARG);
    assert_int_equal(tft_ld_open(NULL, &f, &err), TFT_ERR_INVALID_ARG);
    assert_int_equal(err.reason, TFT_LD_E_ARG);
    assert_int_equal(tft_ld_open("x", NULL, &err), TFT_ERR_INVALID_ARG);
    // err may be NULL
    assert_int_equal(tft_ld_open_memory(NULL, 0, &f, NULL), TFT_ERR_INVALID_ARG);
    tbuf b = {0};
    tb_file(&b, BASE, 19);
    assert_int_equal(tft_ld_open_memory(b.p, b.n, &f, NULL), TFT_OK);
    tft_ld_close(f);
    assert_int_equal(tft_ld_open_memory(b.p, b.n - 1, &f, NULL), TFT_ERR_FORMAT);
    assert_null(f);
    free(b.p);
    // accessors are NULL-safe
    tft_ld_close(NULL);
    assert_int_equal(tft_ld_count(NULL), 0);
    assert_null(tft_ld_tensor_at(NULL, 0));
    assert_null(tft_ld_find(NULL, "a"));
    assert_null(tft_ld_metadata(NULL, "a"));
    assert_int_equal(tft_ld_file_size(NULL), 0);
    assert_null(tft_ld_file_bytes(NULL));
    assert_string_equal(tft_ld_dtype_name(TFT_LD_BF16), "BF16");
    assert_string_equal(tft_ld_dtype_name((tft_ld_dtype)99), "?");
    assert_int_equal(tft_ld_dtype_size((tft_ld_dtype)-1), 0);
    assert_int_equal(tft_ld_dtype_size(TFT_LD_BOOL), 1);
}

// ---------------------------------------------------------------------------------------------
// files on disk

static void temp_path(char *path, size_t n, const char *tag) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, n, "%s/tft_test_loader_%s_%ld", dir && *dir ? dir : "/tmp", tag, (long)getpid());
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (n)
        assert_int_equal(fwrite(p, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static void test_open_file(void **state) {
    (void)state;
    char path[512];
    temp_path(path, sizeof path, "valid");
    tbuf b = {0};
    tb_file(&b, "{\"__metadata__\":{\"format\":\"tft\"}," A_OK "," B_OK "}   ", 19);
    write_file(path, b.p, b.n);
    tft_ld_file *f = NULL;
    tft_ld_error err;
    assert_int_equal(tft_ld_open(path, &f, &err), TFT_OK);
    assert_int_equal(err.reason, TFT_LD_OK);
    assert_int_equal(tft_ld_count(f), 2);
    assert_int_equal(tft_ld_file_size(f), b.n);
    assert_memory_equal(tft_ld_file_bytes(f), b.p, b.n);
    assert_string_equal(tft_ld_metadata(f, "format"), "tft");
    check_bytes(tft_ld_find(f, "a"), 0);
    check_bytes(tft_ld_find(f, "b"), 16);
    tft_ld_close(f);

    // a malformed file on disk: rejected, mapping released (ASan/LSan would see a leak otherwise)
    write_file(path, b.p, b.n - 1);
    f = (tft_ld_file *)1;
    assert_int_equal(tft_ld_open(path, &f, &err), TFT_ERR_FORMAT);
    assert_int_equal(err.reason, TFT_LD_E_OUT_OF_BOUNDS);
    assert_null(f);

    // empty file
    write_file(path, "", 0);
    assert_int_equal(tft_ld_open(path, &f, &err), TFT_ERR_FORMAT);
    assert_int_equal(err.reason, TFT_LD_E_TOO_SMALL);
    assert_non_null(strstr(err.msg, "0 bytes"));
    assert_non_null(strstr(err.msg, path));
    // 5 bytes
    write_file(path, "abcde", 5);
    assert_int_equal(tft_ld_open(path, &f, &err), TFT_ERR_FORMAT);
    assert_int_equal(err.reason, TFT_LD_E_TOO_SMALL);
    assert_int_equal(unlink(path), 0);

    // missing file
    assert_int_equal(tft_ld_open(path, &f, &err), TFT_ERR_IO);
    assert_int_equal(err.status, TFT_ERR_IO);
    assert_int_equal(err.reason, TFT_LD_E_OPEN);
    assert_null(f);
    assert_non_null(strstr(err.msg, "No such file"));
    assert_non_null(strstr(err.msg, path));

    // a directory
    assert_int_equal(tft_ld_open(".", &f, &err), TFT_ERR_IO);
    assert_int_equal(err.reason, TFT_LD_E_OPEN);
    assert_non_null(strstr(err.msg, "directory"));
    assert_null(f);

    // not a regular file: a character device, and a FIFO with no writer (must not block)
    if (access("/dev/null", R_OK) == 0) {
        assert_int_equal(tft_ld_open("/dev/null", &f, &err), TFT_ERR_IO);
        assert_non_null(strstr(err.msg, "not a regular file"));
    }
    temp_path(path, sizeof path, "fifo");
    if (mkfifo(path, 0600) == 0) {
        assert_int_equal(tft_ld_open(path, &f, &err), TFT_ERR_IO);
        assert_int_equal(err.reason, TFT_LD_E_OPEN);
        assert_non_null(strstr(err.msg, "not a regular file"));
        assert_int_equal(unlink(path), 0);
    }
    free(b.p);
}

// The files the project's exporter wrote (weights/goldens/*/ *.safetensors) load, when present.
static void test_exported_files(void **state) {
    (void)state;
    glob_t g;
    if (glob("weights/goldens/*/*.safetensors", 0, NULL, &g) != 0) {
        globfree(&g);
        skip();
        return;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        tft_ld_file *f = NULL;
        tft_ld_error err;
        if (tft_ld_open(g.gl_pathv[i], &f, &err) != TFT_OK)
            fail_msg("%s: %s", g.gl_pathv[i], err.msg);
        assert_true(tft_ld_count(f) > 0);
        assert_non_null(tft_ld_metadata(f, "format"));
        for (int32_t k = 0; k < tft_ld_count(f); k++) {
            const tft_ld_tensor *t = tft_ld_tensor_at(f, k);
            assert_ptr_equal(tft_ld_find(f, t->name), t);
            assert_true((const char *)t->data + t->nbytes <=
                        (const char *)tft_ld_file_bytes(f) + tft_ld_file_size(f));
        }
        tft_ld_close(f);
    }
    globfree(&g);
}

// ---------------------------------------------------------------------------------------------
// seeded mutation loop

static uint64_t rng_state;
static uint64_t rng(void) { // xorshift64*
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static void test_mutations(void **state) {
    (void)state;
    tbuf base = {0};
    tbuf h = {0};
    tb_str(&h, "{\"__metadata__\":{\"format\":\"tft\",\"v\":\"1\"},"
               "\"enc.w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
               "\"enc.b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[24,30]},"
               "\"z\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[30,30]},"
               "\"s\":{\"dtype\":\"BOOL\",\"shape\":[],\"data_offsets\":[30,31]}}");
    while (h.n % 8)
        tb_str(&h, " ");
    tb_file_n(&base, h.n, h.p, h.n, 31);
    // the unmutated file is valid
    void        *copy;
    tft_ld_file *f = load_ok(&base, &copy);
    assert_int_equal(tft_ld_count(f), 4);
    tft_ld_close(f);
    free(copy);

    static const char *tokens[] = {"{", "}", "[", "]", ",", ":", "\"", "\\", "-", "0", "1e9", " ", "\\u0000",
                                   "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"F64\"", "null",
                                   "18446744073709551616",
                                   "\xff", "\xc3", "\n"};
    const int iterations = 4000;
    int       accepted = 0, reasons[TFT_LD_E_METADATA + 1] = {0};
    rng_state = UINT64_C(0x9E3779B97F4A7C15);
    for (int it = 0; it < iterations; it++) {
        tbuf m = {0};
        tb_put(&m, base.p, base.n);
        int nmut = 1 + (int)(rng() % 3);
        for (int k = 0; k < nmut && m.n > 0; k++) {
            size_t pos = rng() % m.n;
            switch (rng() % 5) {
            case 0: m.p[pos] = (unsigned char)rng(); break;                   // random byte
            case 1: m.p[pos] ^= (unsigned char)(1u << (rng() % 8)); break;     // bit flip
            case 2: m.n = pos; break;                                          // truncate
            case 3: {                                                          // delete a run
                size_t len = 1 + rng() % 8;
                if (len > m.n - pos) len = m.n - pos;
                memmove(m.p + pos, m.p + pos + len, m.n - pos - len);
                m.n -= len;
                break;
            }
            default: {                                                         // insert a token
                const char *t = tokens[rng() % (sizeof tokens / sizeof tokens[0])];
                size_t      tl = strlen(t), tail = m.n - pos;
                tb_put(&m, t, tl); // grow, then shift the tail
                memmove(m.p + pos + tl, m.p + pos, tail);
                memcpy(m.p + pos, t, tl);
                // keep N consistent half of the time, so the mutation reaches the JSON
                if (rng() % 2 && pos >= 8 && pos < 8 + h.n) {
                    uint64_t n = 0;
                    for (int i = 7; i >= 0; i--) n = (n << 8) | m.p[i];
                    n += tl;
                    for (int i = 0; i < 8; i++) m.p[i] = (unsigned char)(n >> (8 * i));
                }
                break;
            }
            }
        }
        tft_ld_file *g = (tft_ld_file *)1;
        tft_ld_error err;
        memset(&err, 0x55, sizeof err);
        tft_status st = load(&m, &g, &err, &copy);
        assert_non_null(memchr(err.msg, '\0', sizeof err.msg));
        if (st == TFT_OK) {
            accepted++;
            assert_int_equal(err.reason, TFT_LD_OK);
            assert_non_null(g);
            unsigned sum = 0;
            for (int32_t i = 0; i < tft_ld_count(g); i++) {
                const tft_ld_tensor *t = tft_ld_tensor_at(g, i);
                assert_ptr_equal(tft_ld_find(g, t->name), t);
                for (size_t j = 0; j < t->nbytes; j++)
                    sum += ((const unsigned char *)t->data)[j];
                assert_true((const unsigned char *)t->data + t->nbytes <= (const unsigned char *)copy + m.n);
            }
            (void)sum;
            tft_ld_close(g);
        } else {
            if (st != TFT_ERR_FORMAT || err.status != st || err.reason <= TFT_LD_OK ||
                err.reason > TFT_LD_E_METADATA || err.reason == TFT_LD_E_ARG || err.reason == TFT_LD_E_OPEN ||
                err.msg[0] == '\0' || g != NULL)
                fail_msg("iteration %d: status %d reason %d msg '%s'", it, st, err.reason, err.msg);
            reasons[err.reason]++;
        }
        free(copy);
        free(m.p);
    }
    int distinct = 0;
    for (int r = 1; r <= TFT_LD_E_METADATA; r++)
        distinct += reasons[r] > 0;
    print_message("mutations: %d runs, %d accepted, %d distinct rejection reasons\n", iterations, accepted,
                  distinct);
    assert_true(distinct >= 8); // the loop reaches well past the length checks
    free(base.p);
    free(h.p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_valid_base),
        cmocka_unit_test(test_valid_edge_cases),
        cmocka_unit_test(test_valid_small_files),
        cmocka_unit_test(test_limits_accepted),
        cmocka_unit_test(test_null_args),
        cmocka_unit_test(test_open_file),
        cmocka_unit_test(test_exported_files),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests_name("loader", tests, NULL, NULL);
}
