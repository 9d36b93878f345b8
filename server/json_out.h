// json_out.h: the server's response writer (engine/cli/REQUEST.md "Response"), into a caller
// buffer, no allocation. Floats as "%.9g" in the C locale (round-trips every float); a non-finite
// value is an error, never a NaN/Infinity token. Strings are JSON-escaped.
#ifndef TFT_SERVER_JSON_OUT_H
#define TFT_SERVER_JSON_OUT_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
    TFT_RESP_E_SMALL     = -1, // the buffer is too small (nothing usable was written)
    TFT_RESP_E_NONFINITE = -2, // a quantile or level is NaN/Inf (the server answers 500)
    TFT_RESP_E_ARG       = -3, // a required pointer is NULL or a count is negative
};

typedef struct tft_resp_forecast {
    const char         *model_name;      // "model": {"name": ..., "sha256": ...}
    const char         *model_sha256;
    int32_t             n_quantiles;     // Q
    const float        *quantile_levels; // [Q]
    int32_t             horizon;         // T
    int32_t             n_series;        // B
    const char *const  *ids;             // [B]
    const int32_t      *encoder_lengths; // [B], or NULL to leave "encoder_length" out
    int32_t             n_targets;       // nt
    const char *const  *targets;         // [nt]
    const float        *quantiles;       // [B, nt, T, Q]
} tft_resp_forecast;

// Both return the length written (the buffer is NUL-terminated when it has room for one more
// byte; the length does not count it), or a negative TFT_RESP_E_* status.
ssize_t tft_resp_write_forecast(char *buf, size_t cap, const tft_resp_forecast *f);
// {"error":{"code":..,"message":..,"series":<index or null>,"field":<string or null>}};
// series < 0 and field NULL or "" write null.
ssize_t tft_resp_write_error(char *buf, size_t cap, const char *code, const char *message, int32_t series,
                             const char *field);
#endif
