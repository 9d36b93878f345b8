// errmap.c: engine detail code -> HTTP status + error code (see errmap.h; the codes are server/API.md's).
#include "errmap.h"

typedef struct err_answer {
    int         http;
    const char *code;
} err_answer;

// Indexed by tft_error_code. A code missing here (a new one in tft.h) answers 500 "internal" until it
// is given a row; tests/test_errors.c checks that every code has one.
static const err_answer answers[TFT_E_CODE_COUNT] = {
    // what the client sent: 422 (413 for a batch larger than the server takes)
    [TFT_E_NULL_ARGUMENT]      = {422, "invalid_input"},
    [TFT_E_BAD_PARAMETER]      = {422, "invalid_input"},
    [TFT_E_DUPLICATE_VARIABLE] = {422, "invalid_input"},
    [TFT_E_WRONG_TYPE]         = {422, "wrong_type"},
    [TFT_E_TOO_MANY_SERIES]    = {413, "too_many_series"},
    [TFT_E_HORIZON]            = {422, "horizon_out_of_range"},
    [TFT_E_HISTORY_TOO_SHORT]  = {422, "history_too_short"},
    [TFT_E_LENGTH_MISMATCH]    = {422, "length_mismatch"},
    [TFT_E_STEPS]              = {422, "bad_shape"},
    [TFT_E_LENGTHS]            = {422, "bad_length"},
    [TFT_E_CATEGORY_INDEX]     = {422, "out_of_range"},
    [TFT_E_NON_FINITE_INPUT]   = {422, "non_finite_input"},
    [TFT_E_SCALED_OVERFLOW]    = {422, "non_finite_input"}, // finite as sent, too large once scaled
    [TFT_E_UNKNOWN_VARIABLE]   = {422, "unknown_variable"},
    [TFT_E_MISSING_VARIABLE]   = {422, "missing_variable"},
    [TFT_E_UNKNOWN_CATEGORY]   = {422, "unknown_category"},
    [TFT_E_TIME_INDEX]         = {422, "time_index_not_increasing"},
    // the server's or the model's: 500
    [TFT_E_NON_FINITE_OUTPUT]  = {500, "non_finite_output"},
    [TFT_E_NONE]               = {500, "internal"},
    [TFT_E_GENERIC]            = {500, "internal"}, // a backend failure, or an error without a finer code
    [TFT_E_OUT_OF_MEMORY]      = {500, "internal"},
    [TFT_E_MEMORY_LIMIT]       = {500, "internal"},
    [TFT_E_FILE]               = {500, "internal"},
    [TFT_E_CONFIG_LIMIT]       = {500, "internal"},
};

int srv_error_http(const tft_error *e, const char **code) {
    const err_answer *a = e && (unsigned)e->code < TFT_E_CODE_COUNT ? &answers[e->code] : NULL;
    if (!a || !a->code) {
        *code = "internal";
        return 500;
    }
    *code = a->code;
    return a->http;
}
