// test_json.c: the strict JSON parser (loader/json.h): valid documents and their trees, every
// rejection class, exact integers, limits, unicode escapes and UTF-8 validation; its tokens
// (tft_json_tokens, the server's input): layout, in-place strings, the same errors as the tree,
// limits checked while scanning, and the memory bound (len / 2 + 2 tokens of 16 bytes).
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../loader/json.h"

// Parses exactly n bytes from a private heap copy (no NUL after it: ASan catches any overread).
static int parse_n(const char *text, size_t n, const tft_json_limits *lim, tft_json **out, char *err,
                   size_t errlen) {
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, text, n);
    int rc = tft_json_parse(copy, n, lim, out, err, errlen);
    free(copy);
    return rc;
}

// Parses text (no limits override); the tree survives the copy because it owns its strings.
static tft_json *parse_ok(const char *text) {
    tft_json *root = NULL;
    char      err[256];
    int       rc = parse_n(text, strlen(text), NULL, &root, err, sizeof err);
    if (rc != 0)
        fail_msg("expected '%s' to parse, got: %s", text, err);
    assert_non_null(root);
    return root;
}

static void expect_reject_lim(const char *text, size_t n, const tft_json_limits *lim, const char *substr) {
    tft_json *root = (tft_json *)1;
    char      err[256];
    memset(err, 'x', sizeof err);
    int rc = parse_n(text, n, lim, &root, err, sizeof err);
    if (rc != -1)
        fail_msg("expected rejection of '%.*s'", (int)n, text);
    assert_null(root);
    assert_non_null(memchr(err, '\0', sizeof err));
    if (!strstr(err, "at byte "))
        fail_msg("message for '%.*s' has no byte offset: %s", (int)n, text, err);
    if (substr && !strstr(err, substr))
        fail_msg("message for '%.*s' lacks '%s': %s", (int)n, text, substr, err);
}

static void expect_reject(const char *text, const char *substr) {
    expect_reject_lim(text, strlen(text), NULL, substr);
}

static void test_valid_tree(void **state) {
    (void)state;
    tft_json *r = parse_ok(" {\"a\": [1, -2.5e1, true, false, null, \"s\"], \"b\": {\"c\": {}}, \"d\": []}\n\t\r");
    assert_int_equal(r->type, TFT_JSON_OBJECT);
    assert_int_equal(r->len, 3);
    assert_null(r->key);
    const tft_json *a = tft_json_get(r, "a");
    assert_non_null(a);
    assert_string_equal(a->key, "a");
    assert_int_equal(a->type, TFT_JSON_ARRAY);
    assert_int_equal(a->len, 6);
    assert_int_equal(tft_json_at(a, 0)->type, TFT_JSON_NUMBER);
    assert_true(tft_json_at(a, 0)->num == 1.0);
    assert_string_equal(tft_json_at(a, 0)->str, "1");
    assert_null(tft_json_at(a, 0)->key);
    assert_true(tft_json_at(a, 1)->num == -25.0);
    assert_string_equal(tft_json_at(a, 1)->str, "-2.5e1");
    assert_int_equal(tft_json_at(a, 2)->type, TFT_JSON_TRUE);
    assert_int_equal(tft_json_at(a, 3)->type, TFT_JSON_FALSE);
    assert_int_equal(tft_json_at(a, 4)->type, TFT_JSON_NULL);
    assert_int_equal(tft_json_at(a, 5)->type, TFT_JSON_STRING);
    assert_string_equal(tft_json_at(a, 5)->str, "s");
    assert_int_equal(tft_json_at(a, 5)->len, 1);
    assert_null(tft_json_at(a, 6));
    assert_null(tft_json_at(a, 5)->next);
    const tft_json *b = tft_json_get(r, "b");
    assert_int_equal(b->type, TFT_JSON_OBJECT);
    assert_int_equal(b->len, 1);
    const tft_json *c = tft_json_get(b, "c");
    assert_int_equal(c->type, TFT_JSON_OBJECT);
    assert_int_equal(c->len, 0);
    assert_null(c->child);
    const tft_json *d = tft_json_get(r, "d");
    assert_int_equal(d->type, TFT_JSON_ARRAY);
    assert_int_equal(d->len, 0);
    assert_null(tft_json_get(r, "zz"));
    // document order of members
    assert_ptr_equal(r->child, a);
    assert_ptr_equal(a->next, b);
    assert_ptr_equal(b->next, d);
    tft_json_free(r);
}

static void test_valid_scalars(void **state) {
    (void)state;
    static const struct { const char *text; tft_json_type t; double num; } cases[] = {
        {"0", TFT_JSON_NUMBER, 0.0},        {"-0", TFT_JSON_NUMBER, -0.0},
        {"123", TFT_JSON_NUMBER, 123.0},    {"-1.25", TFT_JSON_NUMBER, -1.25},
        {"1E2", TFT_JSON_NUMBER, 100.0},    {"1e-2", TFT_JSON_NUMBER, 0.01},
        {"2.5E+3", TFT_JSON_NUMBER, 2500.}, {"0.000001", TFT_JSON_NUMBER, 1e-6},
        {"1e-400", TFT_JSON_NUMBER, 0.0},   {"true", TFT_JSON_TRUE, 0},
        {"false", TFT_JSON_FALSE, 0},       {"null", TFT_JSON_NULL, 0},
        {"\"\"", TFT_JSON_STRING, 0},       {" [ ] ", TFT_JSON_ARRAY, 0},
        {"{ }", TFT_JSON_OBJECT, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tft_json *r = parse_ok(cases[i].text);
        assert_int_equal(r->type, cases[i].t);
        if (cases[i].t == TFT_JSON_NUMBER)
            assert_true(r->num == cases[i].num);
        tft_json_free(r);
    }
    tft_json_free(NULL);
}

static void test_strings_and_unicode(void **state) {
    (void)state;
    static const struct { const char *text, *want; size_t len; } cases[] = {
        {"\"abc\"", "abc", 3},
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
        {"\"\\u0041\\u00e9\"", "A\xc3\xa9", 3},
        {"\"\\u20AC\"", "\xe2\x82\xac", 3},
        {"\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80", 4},   // surrogate pair -> U+1F600
        {"\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf", 4},   // U+10FFFF
        {"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9}, // raw UTF-8
        {"\"\xef\xbb\xbf\x7f\"", "\xef\xbb\xbf\x7f", 4},  // BOM char and DEL inside a string are fine
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tft_json *r = parse_ok(cases[i].text);
        assert_int_equal(r->type, TFT_JSON_STRING);
        assert_int_equal(r->len, cases[i].len);
        assert_memory_equal(r->str, cases[i].want, cases[i].len);
        assert_int_equal(r->str[r->len], '\0');
        tft_json_free(r);
    }
    // keys are unescaped too
    tft_json *r = parse_ok("{\"\\u00e9t\\u00e9\": 1}");
    assert_non_null(tft_json_get(r, "\xc3\xa9t\xc3\xa9"));
    tft_json_free(r);
}

static void test_reject_syntax(void **state) {
    (void)state;
    static const struct { const char *text, *substr; } cases[] = {
        {"", "empty document"},
        {"   \n", "empty document"},
        {"{", "end of input"},
        {"[1, 2", "not closed"},
        {"{\"a\": 1,}", "expected a string key"},
        {"[1, ]", "unexpected character ']'"},
        {"[, 1]", "unexpected character ','"},
        {"{\"a\" 1}", "expected ':'"},
        {"{a: 1}", "expected a string key"},
        {"{'a': 1}", "expected a string key"},
        {"[1 2]", "expected ','"},
        {"{\"a\": 1 \"b\": 2}", "expected ','"},
        {"[1}", "expected ','"},
        {"{\"a\": 1]", "expected ','"},
        {"1 2", "trailing characters"},
        {"{} x", "trailing characters"},
        {"[]]", "trailing characters"},
        {"{}{}", "trailing characters"},
        {"\"abc", "unterminated string"},
        {"\"abc\\", "unterminated string"},
        {"tru", "invalid literal"},
        {"True", "unexpected character 'T'"},
        {"nulll", "trailing characters"},
        {"undefined", "unexpected character 'u'"},
        {"\v1", "unexpected byte 0x0b"},
        {"\f1", "unexpected byte 0x0c"},
        {"\xef\xbb\xbf{}", "unexpected byte 0xef"},          // BOM is not whitespace
        {"\xc2\xa0{}", "unexpected byte 0xc2"},              // NBSP is not whitespace
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_reject(cases[i].text, cases[i].substr);
}

static void test_reject_nonstandard(void **state) {
    (void)state;
    static const struct { const char *text, *substr; } cases[] = {
        {"NaN", "unexpected character 'N'"},
        {"[NaN]", "unexpected character 'N'"},
        {"nan", "invalid literal"},
        {"Infinity", "unexpected character 'I'"},
        {"-Infinity", "a digit must follow '-'"},
        {"[1, -Infinity]", "a digit must follow '-'"},
        {"// c\n1", "unexpected character '/'"},
        {"/* c */ 1", "unexpected character '/'"},
        {"[1 /* c */]", "expected ','"},
        {"[1] // c", "trailing characters"},
        {"# c\n1", "unexpected character '#'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_reject(cases[i].text, cases[i].substr);
}

static void test_reject_numbers(void **state) {
    (void)state;
    static const struct { const char *text, *substr; } cases[] = {
        {"01", "leading zero"},  {"-01", "leading zero"},     {"00", "leading zero"},
        {"[007]", "leading zero"},
        {"1.", "'.'"},           {".5", "unexpected character '.'"},
        {"-", "a digit must follow '-'"},                     {"+1", "unexpected character '+'"},
        {"1e", "exponent"},      {"1e+", "exponent"},         {"1E-", "exponent"},
        {"0x10", "trailing characters"},                      {"1.5.3", "trailing characters"},
        {"- 1", "a digit must follow '-'"},                   {"1e400", "out of the range"},
        {"-1e400", "out of the range"},
        {"[1, 1" "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "000000000000000000000000000000000000000000000000000000000000000000000]", "out of the range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_reject(cases[i].text, cases[i].substr);
}

static void test_reject_strings(void **state) {
    (void)state;
    static const struct { const char *text, *substr; } cases[] = {
        {"\"a\nb\"", "control character 0x0a"},
        {"\"a\tb\"", "control character 0x09"},
        {"\"\x01\"", "control character 0x01"},
        {"\"\\x41\"", "invalid escape '\\x'"},
        {"\"\\a\"", "invalid escape"},
        {"\"\\'\"", "invalid escape"},
        {"\"\\u12\"", "4 hex digits"},
        {"\"\\u12G4\"", "4 hex digits"},
        {"\"\\u", "4 hex digits"},
        {"\"\\U0041\"", "invalid escape"},
        {"\"\\uD800\"", "unpaired high surrogate"},
        {"\"\\uDBFFx\"", "unpaired high surrogate"},
        {"\"\\uD800\\u0041\"", "unpaired high surrogate"},
        {"\"\\uD800\\uD800\"", "unpaired high surrogate"},
        {"\"\\uD800\\n\"", "unpaired high surrogate"},
        {"\"\\uDC00\"", "unpaired low surrogate"},
        {"\"\\uDFFF\\uD800\"", "unpaired low surrogate"},
        {"\"\\u0000\"", "NUL"},
        {"{\"a\\u0000b\": 1}", "NUL"},
        // invalid UTF-8
        {"\"\xff\"", "invalid UTF-8"},
        {"\"\xfe\"", "invalid UTF-8"},
        {"\"\x80\"", "invalid UTF-8"},                 // stray continuation
        {"\"\xc0\xaf\"", "invalid UTF-8"},             // overlong '/'
        {"\"\xc1\xbf\"", "invalid UTF-8"},             // overlong
        {"\"\xe0\x80\xaf\"", "invalid UTF-8"},         // overlong 3-byte
        {"\"\xf0\x80\x80\xaf\"", "invalid UTF-8"},     // overlong 4-byte
        {"\"\xed\xa0\x80\"", "invalid UTF-8"},         // UTF-8-encoded surrogate U+D800
        {"\"\xf4\x90\x80\x80\"", "invalid UTF-8"},     // U+110000
        {"\"\xf5\x80\x80\x80\"", "invalid UTF-8"},
        {"\"\xe2\x82\"", "invalid UTF-8"},             // truncated sequence
        {"\"\xe2\x82", "invalid UTF-8"},               // truncated at end of input
        {"\"\xc3\x28\"", "invalid UTF-8"},             // bad continuation
        {"{\"\xff\": 1}", "invalid UTF-8"},            // in a key
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_reject(cases[i].text, cases[i].substr);
}

static void test_duplicate_keys(void **state) {
    (void)state;
    expect_reject("{\"a\": 1, \"a\": 2}", "duplicate key \"a\"");
    expect_reject("{\"a\": 1, \"b\": {\"x\": 1, \"y\": 2, \"x\": 3}}", "duplicate key \"x\"");
    expect_reject("[{\"k\": 1, \"k\": 1}]", "duplicate key \"k\"");
    expect_reject("{\"a\": 1, \"\\u0061\": 2}", "duplicate key \"a\"");       // equal after unescaping
    expect_reject("{\"a\": {}, \"a\": {}}", "duplicate key");
    // the offset names the object: "{" of the inner object at byte 10
    expect_reject("{\"a\": 1, \"b\": {\"x\": 1, \"x\": 2}}", "starts at byte 14");
    // same keys in different objects are fine; keys differing only in case are fine
    tft_json *r = parse_ok("{\"a\": {\"a\": 1}, \"b\": {\"a\": 2}, \"A\": 3}");
    tft_json_free(r);

    // large objects take the sorting path
    char   buf[8192];
    size_t n = 0;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "{");
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"k%d\": %d", i ? ", " : "", i, i);
    snprintf(buf + n, sizeof buf - n, "}");
    r = parse_ok(buf);
    assert_int_equal(r->len, 500);
    assert_true(tft_json_get(r, "k499")->num == 499.0);
    tft_json_free(r);
    snprintf(buf + n, sizeof buf - n, ", \"k250\": 0}");
    expect_reject(buf, "duplicate key \"k250\"");
}

static void test_depth_cap(void **state) {
    (void)state;
    char buf[300];
    // default: 64 levels fine, 65 rejected
    for (int depth = 64; depth <= 65; depth++) {
        memset(buf, '[', (size_t)depth);
        memset(buf + depth, ']', (size_t)depth);
        buf[2 * depth] = '\0';
        if (depth == 64)
            tft_json_free(parse_ok(buf));
        else
            expect_reject(buf, "nesting deeper than 64");
    }
    tft_json_limits lim = tft_json_default_limits();
    assert_int_equal(lim.max_depth, 64);
    lim.max_depth = 2;
    tft_json *r = NULL;
    char      err[128];
    const char *two = "[[1], {\"a\": 2}, []]";
    assert_int_equal(parse_n(two, strlen(two), &lim, &r, err, sizeof err), 0);
    tft_json_free(r);
    expect_reject_lim("[[[1]]]", 7, &lim, "nesting deeper than 2 at byte 2");
    expect_reject_lim("{\"a\": {\"b\": {}}}", 16, &lim, "nesting deeper than 2");
    lim.max_depth = 0;
    assert_int_equal(parse_n("42", 2, &lim, &r, err, sizeof err), 0);
    tft_json_free(r);
    expect_reject_lim("[]", 2, &lim, "nesting deeper than 0");
    // a depth bomb far beyond the cap fails fast (no recursion, no stack growth)
    size_t big = 1u << 20;
    char  *bomb = malloc(big);
    assert_non_null(bomb);
    memset(bomb, '[', big);
    expect_reject_lim(bomb, big, NULL, "nesting deeper than 64");
    free(bomb);
}

static void test_limits(void **state) {
    (void)state;
    tft_json_limits lim = tft_json_default_limits();
    assert_int_equal(lim.max_string, 16u << 20);
    assert_int_equal(lim.max_elements, 10000000u);
    assert_int_equal(lim.allow_nul_in_strings, 0);
    tft_json *r = NULL;
    char      err[128];

    lim.max_string = 4;
    assert_int_equal(parse_n("\"abcd\"", 6, &lim, &r, err, sizeof err), 0);
    tft_json_free(r);
    expect_reject_lim("\"abcde\"", 7, &lim, "longer than 4 bytes");
    expect_reject_lim("{\"abcde\": 1}", 12, &lim, "longer than 4 bytes"); // keys too
    // counted after unescaping: 4 escapes of 6 bytes each are 4 bytes
    assert_int_equal(parse_n("\"\\u0041\\u0042\\u0043\\u0044\"", 26, &lim, &r, err, sizeof err), 0);
    tft_json_free(r);
    expect_reject_lim("\"\\u00e9\\u00e9\\u00e9\"", 20, &lim, "longer than 4 bytes"); // 6 bytes of UTF-8

    lim = tft_json_default_limits();
    lim.max_elements = 3;
    assert_int_equal(parse_n("[1, 2]", 6, &lim, &r, err, sizeof err), 0);
    tft_json_free(r);
    expect_reject_lim("[1, 2, 3]", 9, &lim, "more than 3 values");
    expect_reject_lim("{\"a\": {\"b\": {\"c\": 1}}}", 22, &lim, "more than 3 values");

    lim = tft_json_default_limits();
    lim.allow_nul_in_strings = 1;
    assert_int_equal(parse_n("\"a\\u0000b\"", 10, &lim, &r, err, sizeof err), 0);
    assert_int_equal(r->len, 3);
    assert_memory_equal(r->str, "a\0b", 4);
    tft_json_free(r);
    expect_reject_lim("{\"a\\u0000\": 1}", 14, &lim, "NUL"); // never in a key
}

static void test_error_offsets(void **state) {
    (void)state;
    expect_reject("[1, 2, x]", "at byte 7");
    expect_reject("{\"a\": 01}", "at byte 6");
    expect_reject("\"ab\xff\"", "at byte 3");
    expect_reject("[1] 2", "at byte 4");
    expect_reject("[\"\\uD800\"]", "at byte 2");
    // errors are truncated to errlen and always NUL-terminated; NULL err is allowed
    tft_json *r = (tft_json *)1;
    char      small[8];
    assert_int_equal(tft_json_parse("[x]", 3, NULL, &r, small, sizeof small), -1);
    assert_null(r);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(tft_json_parse("[x]", 3, NULL, &r, NULL, 0), -1);
    assert_int_equal(tft_json_parse("[x]", 3, NULL, &r, small, 0), -1);
    assert_int_equal(tft_json_parse("[1]", 3, NULL, NULL, small, sizeof small), -1);
    assert_int_equal(tft_json_parse(NULL, 3, NULL, &r, small, sizeof small), -1);
    assert_int_equal(tft_json_parse(NULL, 0, NULL, &r, small, sizeof small), -1); // empty document
}

static void test_exact_integers(void **state) {
    (void)state;
    static const struct { const char *text; int ok_u; uint64_t u; int ok_i; int64_t i; } cases[] = {
        {"0", 1, 0, 1, 0},
        {"-0", 0, 0, 1, 0},
        {"7", 1, 7, 1, 7},
        {"9007199254740993", 1, 9007199254740993ull, 1, 9007199254740993ll}, // 2^53+1: not a double
        {"18446744073709551615", 1, UINT64_MAX, 0, 0},                        // 2^64-1
        {"18446744073709551616", 0, 0, 0, 0},                                 // 2^64
        {"99999999999999999999", 0, 0, 0, 0},
        {"9223372036854775807", 1, 9223372036854775807ull, 1, INT64_MAX},
        {"9223372036854775808", 1, 9223372036854775808ull, 0, 0},
        {"-9223372036854775808", 0, 0, 1, INT64_MIN},
        {"-9223372036854775809", 0, 0, 0, 0},
        {"-1", 0, 0, 1, -1},
        {"1.0", 0, 0, 0, 0},
        {"1e3", 0, 0, 0, 0},
        {"1E3", 0, 0, 0, 0},
        {"0.5", 0, 0, 0, 0},
        {"-1e0", 0, 0, 0, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tft_json *r = parse_ok(cases[k].text);
        uint64_t  u = 12345;
        int64_t   i = 12345;
        int       rc_u = tft_json_u64(r, &u), rc_i = tft_json_i64(r, &i);
        if (rc_u != (cases[k].ok_u ? 0 : -1) || rc_i != (cases[k].ok_i ? 0 : -1))
            fail_msg("%s: u64 rc %d, i64 rc %d", cases[k].text, rc_u, rc_i);
        if (cases[k].ok_u)
            assert_true(u == cases[k].u);
        else
            assert_true(u == 12345); // untouched on failure
        if (cases[k].ok_i)
            assert_true(i == cases[k].i);
        else
            assert_true(i == 12345);
        tft_json_free(r);
    }
    // non-numbers and NULL
    tft_json *r = parse_ok("[\"1\", true, null, [1]]");
    uint64_t  u;
    int64_t   i;
    for (uint32_t k = 0; k < 4; k++) {
        assert_int_equal(tft_json_u64(tft_json_at(r, k), &u), -1);
        assert_int_equal(tft_json_i64(tft_json_at(r, k), &i), -1);
    }
    assert_int_equal(tft_json_u64(NULL, &u), -1);
    assert_int_equal(tft_json_i64(NULL, &i), -1);
    assert_int_equal(tft_json_u64(tft_json_at(r, 0), NULL), -1);
    tft_json_free(r);
}

static void test_null_safety(void **state) {
    (void)state;
    assert_null(tft_json_get(NULL, "a"));
    assert_null(tft_json_at(NULL, 0));
    tft_json *r = parse_ok("[1]");
    assert_null(tft_json_get(r, "a"));     // not an object
    assert_null(tft_json_get(r, NULL));
    tft_json_free(r);
    r = parse_ok("{\"a\": 1}");
    assert_null(tft_json_at(r, 0));         // not an array
    tft_json_free(r);
}

// strtod_l in the C locale: a process locale with a decimal comma must not change numbers.
static void test_locale_independent(void **state) {
    (void)state;
    const char *old = setlocale(LC_NUMERIC, NULL);
    char        saved[64];
    snprintf(saved, sizeof saved, "%s", old ? old : "C");
    int switched = setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.UTF-8") ||
                   setlocale(LC_NUMERIC, "de_DE");
    tft_json *r = parse_ok("[1.5, -2.25e2]");
    assert_true(tft_json_at(r, 0)->num == 1.5);
    assert_true(tft_json_at(r, 1)->num == -225.0);
    tft_json_free(r);
    setlocale(LC_NUMERIC, saved);
    if (!switched)
        print_message("note: no comma-decimal locale installed; checked in the current locale only\n");
}

// A large flat array and a large object: sizes and traversal.
static void test_large_document(void **state) {
    (void)state;
    size_t cap = 1u << 20, n = 0;
    char  *buf = malloc(cap);
    assert_non_null(buf);
    buf[n++] = '[';
    for (int i = 0; i < 50000; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%d", i ? "," : "", i);
    buf[n++] = ']';
    tft_json *r = NULL;
    char      err[128];
    assert_int_equal(parse_n(buf, n, NULL, &r, err, sizeof err), 0);
    assert_int_equal(r->len, 50000);
    int64_t k = 0, v;
    for (const tft_json *c = r->child; c; c = c->next, k++) {
        assert_int_equal(tft_json_i64(c, &v), 0);
        assert_true(v == k);
    }
    assert_true(k == 50000);
    tft_json_free(r);
    free(buf);
}

// ---- tokens (tft_json_tokens) ----------------------------------------------------------------------

// Scans a writable heap copy of text (exactly n bytes) into a fresh array of cap tokens.
static int tokens_n(const char *text, size_t n, const tft_json_limits *lim, size_t cap, char **copy,
                    tft_json_tok **toks, size_t *nt, tft_json_error *e) {
    *copy = malloc(n ? n : 1);
    *toks = malloc((cap ? cap : 1) * sizeof **toks);
    assert_non_null(*copy);
    assert_non_null(*toks);
    memcpy(*copy, text, n);
    return tft_json_tokens(*copy, n, lim, *toks, cap, nt, e);
}

static void test_tokens_layout(void **state) {
    (void)state;
    assert_int_equal(sizeof(tft_json_tok), 16);
    const char    *doc = " {\"a\": [1, \"x\\n\\u00e9\", true], \"b\\u0062\": {}, \"c\": null, \"d\": -2.5e3} ";
    char          *t;
    tft_json_tok  *k;
    size_t         n;
    tft_json_error e;
    assert_int_equal(tokens_n(doc, strlen(doc), NULL, 64, &t, &k, &n, &e), 0);
    // {  "a" [ 1 "x.." true ]  "bb" {}  "c" null  "d" -2.5e3
    // 0   1  2 3   4    5      6    7    8   9     10   11
    assert_int_equal(n, 12);
    static const struct { int type, size, skip; } want[12] = {
        {TFT_JSON_OBJECT, 4, 12}, {TFT_JSON_STRING, 1, 5}, {TFT_JSON_ARRAY, 3, 4}, {TFT_JSON_NUMBER, 0, 1},
        {TFT_JSON_STRING, 0, 1},  {TFT_JSON_TRUE, 0, 1},   {TFT_JSON_STRING, 1, 2}, {TFT_JSON_OBJECT, 0, 1},
        {TFT_JSON_STRING, 1, 2},  {TFT_JSON_NULL, 0, 1},   {TFT_JSON_STRING, 1, 2}, {TFT_JSON_NUMBER, 0, 1}};
    for (size_t i = 0; i < n; i++) {
        if ((int)k[i].type != want[i].type || (int)k[i].size != want[i].size || (int)k[i].skip != want[i].skip)
            fail_msg("token %zu: type %u size %u skip %u", i, (unsigned)k[i].type, (unsigned)k[i].size,
                     (unsigned)k[i].skip);
    }
    // containers span their brackets; literals their text; strings are unescaped in place, NUL-terminated
    assert_int_equal(k[0].start, 1);
    assert_int_equal(k[0].end, strlen(doc) - 1);
    assert_memory_equal(t + k[2].start, "[1, ", 4);
    assert_int_equal(t[k[2].end - 1], ']');
    assert_string_equal(t + k[1].start, "a");
    assert_string_equal(t + k[4].start, "x\n\xc3\xa9");
    assert_int_equal(k[4].end - k[4].start, 4);
    assert_string_equal(t + k[6].start, "bb"); // a key is unescaped too
    assert_int_equal(k[11].end - k[11].start, 6);
    assert_memory_equal(t + k[11].start, "-2.5e3", 6); // numbers are left as they are
    assert_string_equal(tft_json_type_desc((tft_json_type)k[5].type), "a boolean");
    assert_string_equal(tft_json_type_desc((tft_json_type)k[9].type), "null");
    // a root scalar; keys are not values (max_elements), but they are tokens (cap)
    free(t), free(k);
    assert_int_equal(tokens_n("\"s\"", 3, NULL, 1, &t, &k, &n, &e), 0);
    assert_int_equal(n, 1);
    free(t), free(k);
    tft_json_limits lim = tft_json_default_limits();
    lim.max_elements    = 2;
    assert_int_equal(tokens_n("{\"a\":1}", 7, &lim, 3, &t, &k, &n, &e), 0);
    assert_int_equal(n, 3);
    free(t), free(k);
    assert_int_equal(tokens_n("{\"a\":1}", 7, &lim, 2, &t, &k, &n, &e), -1);
    assert_int_equal(e.kind, TFT_JSON_E_TOKENS);
    assert_int_equal(n, 0);
    free(t), free(k);
}

// One scanner: every document the tree refuses for its syntax, the tokens refuse with the same
// words at the same byte; duplicate keys and numbers past a double are the tree's own refusals.
static void test_tokens_errors_as_tree(void **state) {
    (void)state;
#define D(lit) {lit, sizeof lit - 1} // a literal and its length, NUL bytes included
    static const struct { const char *s; size_t n; } docs[] = {
        D(""), D("   \n"), D("{"), D("[1, 2"), D("{\"a\": 1,}"), D("[1, ]"), D("[, 1]"), D("{\"a\" 1}"), D("{a: 1}"),
        D("[1 2]"), D("[1}"), D("{\"a\": 1]"), D("1 2"), D("{} x"), D("[]]"), D("\"abc"), D("\"abc\\"), D("tru"),
        D("True"), D("nulll"), D("[nulll]"), D("[0x10]"), D("0x10"), D("[1.5.3]"), D("\v1"), D("\xef\xbb\xbf{}"),
        D("NaN"), D("[-Infinity]"), D("[1 /* c */]"), D("01"), D("[007]"), D("1."), D("1e+"), D("- 1"),
        D("\"a\nb\""), D("\"\\x41\""), D("\"\\u12G4\""), D("\"\\uD800\\u0041\""), D("\"\\uDC00\""),
        D("{\"a\\u0000b\": 1}"), D("\"\xc0\xaf\""), D("\"\xe2\x82"), D("[1,\"\x01\"]"), D("{\"a\":1}\0"),
        D("[\0]"), D("{\0}"), D("[1\0]"), D("{\"a\":1\0}"),
        D("{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]}"),
    };
#undef D
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        size_t len = docs[i].n;
        tft_json      *r = NULL;
        char           err[256], tmsg[300];
        char          *t;
        tft_json_tok  *k;
        size_t         n;
        tft_json_error e;
        if (parse_n(docs[i].s, len, NULL, &r, err, sizeof err) == 0) fail_msg("doc %zu: the tree accepts it", i);
        // (the documented bound for any input, default max_depth 64: (len + max_depth) / 2 + 1)
        if (tokens_n(docs[i].s, len, NULL, (len + 64) / 2 + 1, &t, &k, &n, &e) == 0)
            fail_msg("doc %zu: tokens accept it", i);
        snprintf(tmsg, sizeof tmsg, "json: %s at byte %zu", e.what, e.at);
        if (strcmp(err, tmsg) != 0) fail_msg("doc %zu: the tree says '%s', the tokens '%s'", i, err, tmsg);
        assert_int_equal(e.kind, strstr(err, "nesting deeper") ? TFT_JSON_E_DEPTH : TFT_JSON_E_SYNTAX);
        free(t), free(k);
    }
    // a NUL byte where a value or a separator belongs is named as one (the server's messages say so)
    tft_json *r = NULL;
    char      err[256];
    assert_int_equal(parse_n("[1,\0]", 5, NULL, &r, err, sizeof err), -1);
    assert_string_equal(err, "json: NUL byte (expected a value) at byte 3");
    assert_int_equal(parse_n("{\"a\":1}\0", 8, NULL, &r, err, sizeof err), -1);
    assert_string_equal(err, "json: NUL byte after the JSON value at byte 7");
    // the tree's own refusals: the tokens take them (their reader decides)
    static const char *const tree_only[] = {"{\"a\":1,\"a\":2}", "[1e400]", "{\"k\":{\"x\":1,\"\\u0078\":2}}"};
    for (size_t i = 0; i < 3; i++) {
        char          *t;
        tft_json_tok  *k;
        size_t         n, len = strlen(tree_only[i]);
        tft_json_error e;
        assert_int_equal(parse_n(tree_only[i], len, NULL, &r, err, sizeof err), -1);
        assert_int_equal(tokens_n(tree_only[i], len, NULL, (len + 64) / 2 + 1, &t, &k, &n, &e), 0);
        free(t), free(k);
    }
}

// CPU seconds of this thread: linear vs quadratic, whatever else loads the machine.
static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

// The limits hold while scanning: a document over one is refused at the byte that crosses it, not
// after the whole of it was read. And the memory: the densest 8 MiB document ("[0,0,...]", the
// server's default body cap) has len / 2 tokens of 16 bytes: 64 MiB, 8 bytes a byte of input
// (json.h: at most (len + max_depth) / 2 + 1 tokens for any input).
static void test_tokens_limits_while_scanning(void **state) {
    (void)state;
    size_t len = 8u << 20;
    char  *doc = malloc(len);
    assert_non_null(doc);
    doc[0] = '[';
    for (size_t i = 1; i + 1 < len; i += 2) doc[i] = '0', doc[i + 1] = ',';
    doc[len - 2] = ' ', doc[len - 1] = ']'; // "[0,0,...,0 ]"
    size_t         cap = (len + 64) / 2 + 1, n;
    tft_json_tok  *k   = malloc(cap * sizeof *k);
    char          *t   = malloc(len);
    tft_json_error e;
    assert_non_null(k);
    assert_non_null(t);
    tft_json_limits lim = tft_json_default_limits();
    memcpy(t, doc, len);
    double t0 = cpu_seconds();
    assert_int_equal(tft_json_tokens(t, len, &lim, k, cap, &n, &e), 0);
    double full = cpu_seconds() - t0;
    assert_int_equal(n, len / 2);            // the array and its len / 2 - 1 zeros
    assert_true(n * sizeof *k <= 8 * len);   // the bound the server's arena is sized by
    assert_int_equal(k[0].size, len / 2 - 1);
    assert_int_equal(k[0].skip, n);
    // a token cap of 1000: refused at the 1001st token (the 1000th zero, byte 1999), whatever follows
    memcpy(t, doc, len);
    t0 = cpu_seconds();
    assert_int_equal(tft_json_tokens(t, len, &lim, k, 1000, &n, &e), -1);
    double capped = cpu_seconds() - t0;
    assert_int_equal(e.kind, TFT_JSON_E_TOKENS);
    assert_int_equal(e.at, 1999);
    // the same for values (max_elements), depth and string length
    lim.max_elements = 1000;
    memcpy(t, doc, len);
    assert_int_equal(tft_json_tokens(t, len, &lim, k, cap, &n, &e), -1);
    assert_int_equal(e.kind, TFT_JSON_E_VALUES);
    assert_int_equal(e.at, 1999);
    lim = tft_json_default_limits(), lim.max_string = 100;
    memset(t, ' ', len), t[0] = '[', t[1] = '"', memset(t + 2, 'a', len - 4), t[len - 2] = '"', t[len - 1] = ']';
    assert_int_equal(tft_json_tokens(t, len, &lim, k, cap, &n, &e), -1);
    assert_int_equal(e.kind, TFT_JSON_E_STRING);
    assert_int_equal(e.at, 1);
    lim = tft_json_default_limits(), lim.max_depth = 16;
    memset(t, '[', len / 2), memset(t + len / 2, ']', len / 2);
    t0 = cpu_seconds();
    assert_int_equal(tft_json_tokens(t, len, &lim, k, cap, &n, &e), -1);
    double deep = cpu_seconds() - t0;
    assert_int_equal(e.kind, TFT_JSON_E_DEPTH);
    assert_int_equal(e.at, 16);
    // refusals at byte ~2000 cost nothing next to the full scan (generous: 8 MiB takes ~30 ms)
    if (capped > full / 4 + 0.002 || deep > full / 4 + 0.002)
        fail_msg("refusals took %.4f s and %.4f s, the full scan %.4f s: not stopped where the limit was crossed",
                 capped, deep, full);
    free(k), free(t), free(doc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_tree),
        cmocka_unit_test(test_valid_scalars),
        cmocka_unit_test(test_strings_and_unicode),
        cmocka_unit_test(test_reject_syntax),
        cmocka_unit_test(test_reject_nonstandard),
        cmocka_unit_test(test_reject_numbers),
        cmocka_unit_test(test_reject_strings),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_depth_cap),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_error_offsets),
        cmocka_unit_test(test_exact_integers),
        cmocka_unit_test(test_null_safety),
        cmocka_unit_test(test_locale_independent),
        cmocka_unit_test(test_large_document),
        cmocka_unit_test(test_tokens_layout),
        cmocka_unit_test(test_tokens_errors_as_tree),
        cmocka_unit_test(test_tokens_limits_while_scanning),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
