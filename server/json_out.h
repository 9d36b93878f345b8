// json_out.h: the server's response writer (engine/cli/REQUEST.md "Response"), into a caller
// buffer, no allocation. Floats as "%.9g" in the C locale (round-trips every float); a non-finite
// value is an error, never a NaN/Infinity token (quantile levels: tft_fmt_level). Strings are
// JSON-escaped. Shared by tft-server and `tft predict --format json`, whose bytes are the same.
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

// One stage of a request's processing, written as "timings": {"<name>_us": us, ...}.
typedef struct tft_resp_timing {
    const char *name; // "parse", "queue", "compute", ...
    int64_t     us;   // microseconds
} tft_resp_timing;

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
    // Optional from here on (NULL / 0 = left out, so callers that zero-initialize keep working).
    // Interpretation (tft_forecast_output's arrays), written per series as `tft predict --interpret`
    // does: "interpretation": {"variables": {"static": [...], "encoder": [...], "decoder": [...]},
    // "static_weights": [ns], "encoder_weights": encoder_length x [ne], "decoder_weights": T x [nd],
    // "attention": T x nh x (encoder_length + T)}. Written when any of the four arrays is non-NULL
    // (a NULL one leaves its key out); then encoder_lengths is required and the names must be given
    // for every non-zero count.
    int32_t             n_heads;            // nh
    int32_t             max_encoder_length; // Temax
    const float        *attention;          // [B, T, nh, Temax + T]: the series' encoder keys (left-aligned), then T
    const float        *static_weights;     // [B, ns]
    const float        *encoder_weights;    // [B, Temax, ne]
    const float        *decoder_weights;    // [B, T, nd]
    int32_t             n_static_vars, n_encoder_vars, n_decoder_vars; // ns, ne, nd
    const char *const  *static_vars;        // [ns]
    const char *const  *encoder_vars;       // [ne]
    const char *const  *decoder_vars;       // [nd]
    // Per-request timings, written last: "timings": {"parse_us": 12, ...} (n_timings 0: left out).
    int32_t                n_timings;
    const tft_resp_timing *timings;         // [n_timings]
} tft_resp_forecast;

// Both return the length written (the buffer is NUL-terminated when it has room for one more
// byte; the length does not count it), or a negative TFT_RESP_E_* status.
ssize_t tft_resp_write_forecast(char *buf, size_t cap, const tft_resp_forecast *f);
// {"error":{"code":..,"message":..,"series":<index or null>,"field":<string or null>}};
// series < 0 and field NULL or "" write null.
ssize_t tft_resp_write_error(char *buf, size_t cap, const char *code, const char *message, int32_t series,
                             const char *field);

// The writer's primitives, for the server's other encoders (server/kserve.c). A tft_jw appends
// into buf[0, cap); once something does not fit it is "full" and appends nothing more.
typedef struct tft_jw {
    char  *buf;
    size_t cap, n;
    int    full;
} tft_jw;
void tft_jw_raw(tft_jw *o, const char *s, size_t len);
void tft_jw_lit(tft_jw *o, const char *s);   // a NUL-terminated run of JSON text, unescaped
void tft_jw_str(tft_jw *o, const char *s);   // a JSON string (escaped; invalid UTF-8 becomes U+FFFD)
void tft_jw_int(tft_jw *o, long long v);
void tft_jw_float(tft_jw *o, float v);       // "%.9g" in the C locale; the caller checked isfinite
void tft_jw_floats(tft_jw *o, const float *x, size_t n); // n of them, comma-separated, no brackets
// Quantile levels: n of them as tft_fmt_level writes each, comma-separated, no brackets.
void tft_jw_levels(tft_jw *o, const float *x, size_t n);
// A quantile level as people and every output read it: the shortest "%.Ng" (N <= 9, C locale) that
// reads back as the same float (0.02f -> "0.02"). NUL-terminated; returns the length. Finite v only.
#define TFT_LEVEL_MAX 16
size_t tft_fmt_level(char out[TFT_LEVEL_MAX], float v);
// The name a model is known by (the server's URLs and "model" fields, the CLI's output): the
// path's file name without ".safetensors" ("weights/default.safetensors" -> "default"), in buf.
const char *tft_model_name_of_path(const char *path, char *buf, size_t cap);
// Total length, NUL-terminating when there is room (not counted), or TFT_RESP_E_SMALL.
ssize_t tft_jw_finish(tft_jw *o);
#endif
