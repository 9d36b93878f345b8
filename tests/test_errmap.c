// test_errmap.c: the server's one table from the engine's detail codes to HTTP answers
// (server/errmap.c): every code has an answer, client errors are 4xx, the server's are 500, and the
// answers the API documents (server/API.md) hold for the errors the engine really produces.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "../engine/tft.h"
#include "../server/errmap.h"

static int http_of(tft_error_code c, const char **code) {
    tft_error e = {.code = c, .series = -1, .index = -1};
    return srv_error_http(&e, code);
}

static void test_every_code_answered(void **state) {
    (void)state;
    for (int c = TFT_E_NULL_ARGUMENT; c < TFT_E_CODE_COUNT; c++) {
        const char *code = NULL;
        int         http = http_of((tft_error_code)c, &code);
        assert_non_null(code);
        assert_true(http == 413 || http == 422 || http == 500);
        if (http == 500 && c != TFT_E_NON_FINITE_OUTPUT) assert_string_equal(code, "internal");
    }
    const char *code;
    assert_int_equal(http_of(TFT_E_CODE_COUNT, &code), 500); // a code the table does not know
    assert_string_equal(code, "internal");
    assert_int_equal(srv_error_http(NULL, &code), 500);
}

static void test_documented_answers(void **state) {
    (void)state;
    static const struct {
        tft_error_code c;
        int            http;
        const char    *code;
    } want[] = {
        {TFT_E_UNKNOWN_CATEGORY, 422, "unknown_category"},   {TFT_E_TIME_INDEX, 422, "time_index_not_increasing"},
        {TFT_E_MISSING_VARIABLE, 422, "missing_variable"},   {TFT_E_UNKNOWN_VARIABLE, 422, "unknown_variable"},
        {TFT_E_LENGTH_MISMATCH, 422, "length_mismatch"},     {TFT_E_HISTORY_TOO_SHORT, 422, "history_too_short"},
        {TFT_E_HORIZON, 422, "horizon_out_of_range"},        {TFT_E_NON_FINITE_INPUT, 422, "non_finite_input"},
        {TFT_E_SCALED_OVERFLOW, 422, "non_finite_input"},    {TFT_E_NON_FINITE_OUTPUT, 500, "non_finite_output"},
        {TFT_E_WRONG_TYPE, 422, "wrong_type"},               {TFT_E_DUPLICATE_VARIABLE, 422, "invalid_input"},
        {TFT_E_TOO_MANY_SERIES, 413, "too_many_series"},     {TFT_E_LENGTHS, 422, "bad_length"},
        {TFT_E_CATEGORY_INDEX, 422, "out_of_range"},         {TFT_E_STEPS, 422, "bad_shape"},
        {TFT_E_GENERIC, 500, "internal"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *code;
        int         http = http_of(want[i].c, &code);
        if (http != want[i].http || strcmp(code, want[i].code) != 0)
            fail_msg("%s: %d %s, want %d %s", tft_error_code_str(want[i].c), http, code, want[i].http, want[i].code);
    }
}

// An error the engine produces, straight from tft_last_error_detail(): a series-level check's.
static void test_from_engine(void **state) {
    (void)state;
    tft_model *m = NULL;
    assert_int_equal(tft_model_load("weights/goldens/identity_minimal/model.safetensors", NULL, &m), TFT_OK);
    double      hour[2] = {1, 2}, y[2] = {1, 2};
    const char *sid[1]  = {"s00"};
    tft_column  st[1]   = {{"series", NULL, sid, 1}};
    tft_column  hi[2]   = {{"hour", hour, NULL, 2}, {"y", y, NULL, 2}};
    tft_series  s       = {.id = "a", .n_history = 2, .statics = st, .n_statics = 1, .history = hi,
                           .n_history_columns = 2}; // 2 rows, min_encoder_length is 3
    assert_int_equal(tft_series_check(m, &s, 1), TFT_ERR_SHAPE);
    const char *code;
    assert_int_equal(srv_error_http(tft_last_error_detail(), &code), 422);
    assert_string_equal(code, "history_too_short");
    assert_string_equal(tft_last_error_detail()->field, "history");
    tft_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_answered),
        cmocka_unit_test(test_documented_answers),
        cmocka_unit_test(test_from_engine),
    };
    return cmocka_run_group_tests_name("errmap", tests, NULL, NULL);
}
