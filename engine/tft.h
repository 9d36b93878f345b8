// tft.h: Temporal Fusion Transformer inference (C API). The one public header of libtft.
//
// libtft serves TFT forecasters trained with pytorch-forecasting, exported once with
// weights/export.py to a single .safetensors file (weights/FORMAT.md). Its outputs equal the
// library's own forward() / predict() to float32 rounding.
//
// Threading: a tft_model is immutable after load and may be shared by any number of threads.
// A tft_context is NOT thread-safe: use one per calling thread. A context may own worker threads
// (tft_context_params.n_threads) that split each call's series between them; results are bitwise
// the same for any thread count. Contexts borrow their model: free every context before the model.
//
// Ownership: the caller owns every buffer it passes in (inputs and outputs). libtft keeps no
// pointer to caller memory after a call returns and never frees it.
//
// Errors: every function that can fail returns a tft_status; on failure tft_last_error() gives a
// one-line, thread-local description naming the problem (the series, the variable, the index), and
// tft_last_error_detail() the same as data (a detail code, the series, the field, the value index),
// for callers that act on errors without parsing messages. libtft never calls abort() or exit() on
// bad input or a bad file.
//
// Limits: a model config with any size over its cap is refused at load (weights/FORMAT.md "Limits");
// a context states its memory before it is made (tft_context_memory) and is refused over
// tft_context_params.max_memory_mib.
//
// Memory: tft_context_new() reserves everything a forecast of up to max_batch series needs;
// tft_predict_net() and tft_forecast() make no heap allocation.
//
// Usage:
//   tft_model *m = NULL; tft_context *c = NULL;
//   if (tft_model_load("weights/default.safetensors", NULL, &m) != TFT_OK) {
//       fprintf(stderr, "%s\n", tft_last_error()); return 1; }
//   tft_context_params cp = tft_context_default_params(); cp.max_batch = 64;
//   if (tft_context_new(m, &cp, &c) != TFT_OK) { ... }
//   tft_forecast(c, series, n_series, &out);        // raw values in, quantiles in user units out
//   tft_context_free(c); tft_model_free(m);
#ifndef TFT_H
#define TFT_H
#include <stddef.h>
#include <stdint.h>

#if defined(TFT_SHARED) && defined(__GNUC__)
#define TFT_API __attribute__((visibility("default")))
#else
#define TFT_API
#endif
#ifdef __cplusplus
extern "C" {
#endif

// Same MAJOR => ABI compatible. The library reports its own version at run time, so a program can
// check that the header it was compiled with matches the library it runs with.
#define TFT_VERSION_MAJOR 0
#define TFT_VERSION_MINOR 1
#define TFT_VERSION_PATCH 0
#define TFT_VERSION_NUMBER (TFT_VERSION_MAJOR * 10000 + TFT_VERSION_MINOR * 100 + TFT_VERSION_PATCH)
TFT_API int          tft_version_number(void); // == TFT_VERSION_NUMBER of the built library
// isa: the CPU path the ops take (the best the CPU has, or TFT_ISA=avx512|avx2|portable); cuda=1: built with CUDA
TFT_API const char * tft_version_string(void); // "0.1.0 isa=avx512 linear=avx512-fma cuda=0"

typedef enum tft_status {
    TFT_OK              = 0,
    TFT_ERR_INVALID_ARG = -1,  // NULL pointer, n <= 0, bad parameter
    TFT_ERR_NOMEM       = -2,  // an allocation failed (only at load / context creation)
    TFT_ERR_IO          = -3,  // open/read/mmap of the weights file failed
    TFT_ERR_FORMAT      = -4,  // weights file malformed, inconsistent or of another format version
    TFT_ERR_SHAPE       = -5,  // lengths do not fit the model (history too short, horizon too long...)
    TFT_ERR_CAPACITY    = -6,  // more series than the context's max_batch
    TFT_ERR_NONFINITE   = -7,  // NaN or Inf in an input, or a non-finite output
    TFT_ERR_BACKEND     = -8,  // CUDA / cuBLAS failure
    TFT_ERR_UNSUPPORTED = -9,  // a feature this build or this model does not support
    TFT_ERR_UNKNOWN_VAR = -10, // a variable name the model does not know, or a required one missing
    TFT_ERR_CATEGORY    = -11, // a category label the model never saw (and its encoder has no add_nan)
    TFT_ERR_TIME_INDEX  = -12, // time index not increasing by exactly 1
} tft_status;
TFT_API const char * tft_status_str(tft_status s); // static name ("TFT_ERR_SHAPE"), never NULL
TFT_API const char * tft_last_error(void);          // detail of the last failure on this thread ("" if none)

// Structured errors: what went wrong, as data, so that a caller (a server mapping errors to HTTP
// answers) never parses a message. Every failing call fills the thread-local tft_error that
// tft_last_error_detail() returns, together with tft_last_error() (== its message). A detail code
// refines a status: each code belongs to exactly one status (listed after it below), except
// TFT_E_GENERIC, the code of every error no finer code describes.
typedef enum tft_error_code {
    TFT_E_NONE = 0,            // no error yet on this thread
    TFT_E_GENERIC,             // any status: nothing finer to say than the status and the message
    // TFT_ERR_INVALID_ARG
    TFT_E_NULL_ARGUMENT,       // a required pointer (argument, array, column, label) is NULL
    TFT_E_BAD_PARAMETER,       // a parameter outside its range (n <= 0, max_batch, n_threads ...)
    TFT_E_DUPLICATE_VARIABLE,  // a series lists a column twice (field: "part.name")
    TFT_E_WRONG_TYPE,          // numbers where labels are expected or the reverse (field: "part.name")
    // TFT_ERR_NOMEM / TFT_ERR_CAPACITY
    TFT_E_OUT_OF_MEMORY,       // NOMEM: an allocation failed
    TFT_E_MEMORY_LIMIT,        // CAPACITY: a context would take more than its max_memory_mib
    TFT_E_TOO_MANY_SERIES,     // CAPACITY: more series than the context's max_batch
    // TFT_ERR_IO / TFT_ERR_FORMAT / TFT_ERR_UNSUPPORTED (loading)
    TFT_E_FILE,                // IO: the weights file cannot be opened or read
    TFT_E_CONFIG_LIMIT,        // FORMAT: a size in the model config exceeds its cap (weights/FORMAT.md
                               //   "Limits"; field: the config key, e.g. "model.quantiles")
    // TFT_ERR_SHAPE
    TFT_E_HORIZON,             // horizon outside [min_prediction_length, max_prediction_length], or
                               //   not the same for every series of a tft_forecast call (field "horizon")
    TFT_E_HISTORY_TOO_SHORT,   // fewer history rows than the model needs (field "history")
    TFT_E_LENGTH_MISMATCH,     // a column has the wrong number of values (field "part.name")
    TFT_E_STEPS,               // network level: enc_steps / dec_steps outside the model's (field the
                               //   tensor: "encoder_cont" / "decoder_cont")
    TFT_E_LENGTHS,             // network level: an encoder/decoder length outside [0|1, steps]
                               //   (field "encoder_lengths" / "decoder_lengths", series = the row), or
                               //   the steps not equal to the longest length (series -1)
    TFT_E_CATEGORY_INDEX,      // network level: a category index outside its embedding (field the
                               //   tensor, index the flat element index in it)
    // TFT_ERR_NONFINITE
    TFT_E_NON_FINITE_INPUT,    // NaN or Inf in an input (series level: field "part.name", index the
                               //   row; network level: field the tensor, index the flat element)
    TFT_E_SCALED_OVERFLOW,     // a finite raw value that is not finite once scaled for the network
                               //   (field: the network's real variable, e.g. "disk_io")
    TFT_E_NON_FINITE_OUTPUT,   // the forecast itself is not finite
    // TFT_ERR_UNKNOWN_VAR / TFT_ERR_CATEGORY / TFT_ERR_TIME_INDEX
    TFT_E_UNKNOWN_VARIABLE,    // UNKNOWN_VAR: a column the model does not take there (field "part.name")
    TFT_E_MISSING_VARIABLE,    // UNKNOWN_VAR: a column the model needs is absent (field "part.name")
    TFT_E_UNKNOWN_CATEGORY,    // CATEGORY: a label the encoder never saw (field: the raw column name,
                               //   index: the row of the window that holds it)
    TFT_E_TIME_INDEX,          // TIME_INDEX: time_idx[index] does not follow time_idx[index - 1] by 1
    TFT_E_CODE_COUNT           // (number of codes)
} tft_error_code;

typedef struct tft_error {
    tft_status     status;       // the status the call returned
    tft_error_code code;
    int32_t        series;       // the series (series level) or batch row (network level) in the
                                 //   call, numbered from 0; -1 when the error is not about one
    int32_t        index;        // the value's index in its column / tensor (see the code); -1 if none
    char           field[128];   // the variable, tensor or config key ("" if none); see the code
    char           message[512]; // the one-line message (tft_last_error())
    int32_t        reason_at;    // message + reason_at: the message without its context prefix (the
                                 //   API function's "tft_forecast: ", the "series N 'ID': "), for a
                                 //   caller that words the context itself; 0 when there is none
} tft_error;
// The last failure on this thread (never NULL; code TFT_E_NONE before the first failure). Valid
// until the thread's next libtft call.
TFT_API const tft_error * tft_last_error_detail(void);
// Static snake_case name of a code ("history_too_short"), never NULL.
TFT_API const char * tft_error_code_str(tft_error_code c);

typedef enum tft_log_level { TFT_LOG_ERROR = 1, TFT_LOG_WARN, TFT_LOG_INFO, TFT_LOG_DEBUG } tft_log_level;
typedef void (*tft_log_fn)(tft_log_level level, const char *msg, void *user);
// Installs a process-wide log sink (default: warnings and errors to stderr). NULL restores the
// default. Set it before other calls; it is read without locking. The sink may be called from a
// context's worker threads (n_threads > 1) as well as the caller's, so it must be thread-safe.
TFT_API void tft_log_set(tft_log_fn fn, void *user);

typedef struct tft_model   tft_model;   // immutable weights + configuration
typedef struct tft_context tft_context; // per-thread workspace, reserved for max_batch series

typedef struct tft_model_params { // get defaults, then edit; new fields are appended
    int32_t reserved[8];
} tft_model_params;
TFT_API tft_model_params tft_model_default_params(void);

// Loads and validates a weights file. p may be NULL (defaults). On failure *out is NULL.
TFT_API tft_status tft_model_load(const char *path, const tft_model_params *p, tft_model **out);
// Same from memory (the bytes are copied; buf may be freed after the call).
TFT_API tft_status tft_model_load_memory(const void *buf, size_t len, const tft_model_params *p,
                                         tft_model **out);
TFT_API void       tft_model_free(tft_model *m); // NULL is a no-op

// What a model is and what a request must contain. All pointers live as long as the model.
typedef struct tft_model_info {
    int32_t hidden_size, lstm_layers, n_heads;
    int32_t max_encoder_length, min_encoder_length;     // history steps used / required
    int32_t max_prediction_length, min_prediction_length;
    int32_t n_targets, n_quantiles;
    const char *const *targets;   // [n_targets]
    const float       *quantiles; // [n_quantiles]
    int64_t n_parameters;         // unique parameters (aliases counted once)
    // network-level layout (the tensors of pytorch-forecasting's forward)
    int32_t n_reals, n_cats;                           // columns of *_cont / *_cat
    const char *const *reals;                          // [n_reals]  x_reals order
    const char *const *cats;                           // [n_cats]   x_categoricals order
    int32_t n_static_vars, n_encoder_vars, n_decoder_vars; // variable-selection widths
    const char *const *static_vars, *const *encoder_vars, *const *decoder_vars;
    // series-level request (raw values by name)
    int32_t n_static_inputs;  const char *const *static_inputs;  // group ids + static cats + static reals
    int32_t n_history_inputs; const char *const *history_inputs; // every time-varying variable the encoder reads
    int32_t n_future_inputs;  const char *const *future_inputs;  // every known variable
    const char *sha256;       // of the weights file, hex
    int32_t max_lag;          // history rows the lagged variables read before the encoder window
                              // (0 without lags): a series needs min_encoder_length + max_lag rows,
                              // and max_encoder_length + max_lag for the full encoder
    // the training DataFrame's layout (for tables in long format: one row per series and time step)
    const char *time_idx;                                // the time index column ("time_idx")
    int32_t n_group_ids; const char *const *group_ids;   // columns naming a series (also in static_inputs)
} tft_model_info;
TFT_API const tft_model_info * tft_model_get_info(const tft_model *m);
// 1 if the named input is categorical (its values are labels), 0 if real, -1 if unknown.
TFT_API int tft_model_input_is_categorical(const tft_model *m, const char *name);
// The labels a categorical knows, in index order: label k is encoded as k, the value a network-level
// call's encoder_cat/decoder_cat carry. name: a categorical request column or an x_categoricals name
// (a lagged one has its variable's labels). *n_labels gets the count; *add_nan (may be NULL) 1 when
// labels the model never saw are encoded as index 0 (the "nan" class), 0 when they are refused.
// NULL and *n_labels = 0 when name is not a categorical. The strings live as long as the model.
TFT_API const char *const *tft_model_category_labels(const tft_model *m, const char *name, int32_t *n_labels,
                                                     int32_t *add_nan);

typedef struct tft_context_params {
    int32_t max_batch;  // series per call this context can take (default 64)
    int32_t n_threads;  // worker threads (0 or 1: the caller's thread only; at most 64). A call's
                        // series are split between them (a one-series call: its rows); the result is
                        // bitwise the same for any count.
    int32_t max_memory_mib; // the most workspace this context may reserve, in MiB (default 0:
                            // TFT_CONTEXT_DEFAULT_MAX_MIB; -1: no limit). tft_context_new refuses a
                            // context above it with TFT_ERR_CAPACITY (TFT_E_MEMORY_LIMIT) before
                            // allocating anything, its message giving the size.
    int32_t checked_input;  // 1: the caller vouches that every input given to this context passed
                            // tft_series_check / tft_net_check first (a server checks each request
                            // on its I/O thread), so tft_forecast / tft_predict_net skip re-scanning
                            // every value (finiteness, category labels are still encoded, indices
                            // still bounded). Structure (counts, lengths, columns) is always checked
                            // and outputs are always checked for finiteness: a broken promise gives
                            // an error or a wrong number, never a crash. Default 0.
    int32_t device;         // the backend the forward runs on: TFT_DEVICE_CPU (default) or
                            // TFT_DEVICE_CUDA. The environment variable TFT_DEVICE=cpu|cuda overrides
                            // it for every context, so tools and servers switch without change. CUDA
                            // in a build without it is TFT_ERR_UNSUPPORTED, and with no usable device
                            // TFT_ERR_BACKEND, from tft_context_new with the reason. A CUDA context
                            // runs each call's forward on the GPU from one thread (n_threads is then
                            // 1); its outputs equal the CPU's to float32 rounding, not bitwise.
    int32_t reserved[3];
} tft_context_params;
typedef enum tft_device { TFT_DEVICE_CPU = 0, TFT_DEVICE_CUDA = 1 } tft_device;
#define TFT_CONTEXT_DEFAULT_MAX_MIB 4096 // 4 GiB: far above what a sane model needs (FORMAT.md "Limits")
TFT_API tft_context_params tft_context_default_params(void);
// Bytes tft_context_new(m, p) would reserve (all lanes), computed without allocating; p may be NULL.
// A caller can size max_batch to a budget with it. TFT_ERR_INVALID_ARG for bad arguments (as
// tft_context_new), TFT_ERR_CAPACITY (TFT_E_MEMORY_LIMIT) if the size does not fit a size_t.
TFT_API tft_status tft_context_memory(const tft_model *m, const tft_context_params *p, size_t *bytes);
TFT_API tft_status tft_context_new(const tft_model *m, const tft_context_params *p, tft_context **out);
TFT_API void       tft_context_free(tft_context *c); // NULL is a no-op
TFT_API size_t     tft_context_bytes(const tft_context *c); // workspace bytes reserved (host and device)
TFT_API const char *tft_context_device(const tft_context *c); // "cpu" or "cuda": where its forward runs

// ---------------------------------------------------------------------------------------------
// Network level: exactly the inputs of pytorch-forecasting's TemporalFusionTransformer.forward().
// B = n series; Te = enc_steps, Td = dec_steps are the time extents of the arrays (the batch
// maxima, as the library's collate pads them); Nr = n_reals, Nc = n_cats, nt = n_targets,
// Q = n_quantiles, nh = n_heads. Rows past a series' length are padding (ignored).
typedef struct tft_net_input {
    int32_t n, enc_steps, dec_steps;
    const int32_t *encoder_cat;     // [B, Te, Nc]  encoded categoricals (may be NULL if Nc == 0)
    const float   *encoder_cont;    // [B, Te, Nr]  scaled reals
    const int32_t *decoder_cat;     // [B, Td, Nc]
    const float   *decoder_cont;    // [B, Td, Nr]
    const int32_t *encoder_lengths; // [B]  0..Te; max(encoder_lengths) must equal Te
    const int32_t *decoder_lengths; // [B]  1..Td; max(decoder_lengths) must equal Td
    const float   *target_scale;    // [B, nt, 2]  (center, scale) per target
} tft_net_input;

typedef struct tft_net_output {     // caller-owned; any field may be NULL to skip it
    float *prediction_normalized;   // [B, nt, Td, Q]  network output before de-normalization
    float *prediction;              // [B, nt, Td, Q]  de-normalized (forward()'s "prediction")
    float *encoder_attention;       // [B, Td, nh, Te]
    float *decoder_attention;       // [B, Td, nh, Td]
    float *static_weights;          // [B, n_static_vars]
    float *encoder_weights;         // [B, Te, n_encoder_vars]
    float *decoder_weights;         // [B, Td, n_decoder_vars]
} tft_net_output;

TFT_API tft_status tft_predict_net(tft_context *c, const tft_net_input *in, tft_net_output *out);
// Validates a network-level input as tft_predict_net would (steps, lengths, finiteness, category
// indices within their embeddings) without a context and without running the model; thread-safe,
// no allocation. Errors name the tensor, the row and the element (tft_last_error_detail()).
TFT_API tft_status tft_net_check(const tft_model *m, const tft_net_input *in);

// ---------------------------------------------------------------------------------------------
// Series level: raw values by variable name, in the user's units; libtft does the whole
// pytorch-forecasting preprocessing (encoders, scalers, derived features, target normalizer) and
// de-normalizes the outputs. Same semantics as model.predict(df) on the same rows.
typedef struct tft_column {
    const char         *name;
    const double       *values; // real variable: [len] values (NULL for a categorical)
    const char *const  *labels; // categorical variable: [len] labels (NULL for a real)
    int32_t             len;
} tft_column;

typedef struct tft_series {
    const char       *id;             // optional, for error messages
    int32_t           n_history;      // history rows given (>= min_encoder_length; the last
                                      // max_encoder_length are used)
    int32_t           horizon;        // 0 = max_prediction_length
    const tft_column *statics;   int32_t n_statics;  // len 1 each
    const tft_column *history;   int32_t n_history_columns; // len n_history each
    const tft_column *future;    int32_t n_future_columns;  // len horizon each
    const int64_t    *time_idx;       // optional [n_history + horizon], must increase by 1
} tft_series;

typedef struct tft_forecast_output { // caller-owned; optional fields may be NULL
    // B = series, T = horizon of the call (all series of one call share it), Temax = max_encoder_length
    float   *quantiles;         // [B, nt, T, Q] in the user's units                    (required)
    int32_t *encoder_lengths;   // [B] history rows actually used
    float   *attention;         // [B, T, nh, Temax + T]: keys = the series' encoder steps
                                //   (left-aligned, zero past its length), then the T decoder steps
    float   *static_weights;    // [B, n_static_vars]
    float   *encoder_weights;   // [B, Temax, n_encoder_vars] (zero past the series' length)
    float   *decoder_weights;   // [B, T, n_decoder_vars]
} tft_forecast_output;

TFT_API tft_status tft_forecast(tft_context *c, const tft_series *series, int32_t n,
                                tft_forecast_output *out);

// Validates n series as tft_forecast would (horizon, lengths, columns, finiteness, category labels,
// time index) without a context and without running the model; thread-safe, no allocation.
// A server checks each request with it before batching it with others, so one bad series never
// fails a batch. (tft_forecast can still fail on what only the computation shows: a finite value
// that scales to Inf, or a non-finite forecast.) Series are numbered from 0 in messages.
TFT_API tft_status tft_series_check(const tft_model *m, const tft_series *series, int32_t n);

#ifdef __cplusplus
}
#endif
#endif // TFT_H
