// internal.h: definitions shared by engine/*.c (not installed). The public contract is tft.h.
#ifndef TFT_INTERNAL_H
#define TFT_INTERNAL_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "tft.h"
#include "../loader/json.h"
#include "../loader/loader.h"
#include "../ops/ops.h"
#include "../ops/isa.h"

// ---- errors, logging, allocation ------------------------------------------------------------
// Sets the thread-local detail message and returns st (so `return tft__fail(...)` reads well).
tft_status tft__fail(tft_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Same, with the structured detail (tft.h tft_error): code, series (-1 none), field (NULL none),
// value index (-1 none).
tft_status tft__fail_at(tft_status st, tft_error_code code, int32_t series, const char *field, int32_t index,
                        const char *fmt, ...) __attribute__((format(printf, 6, 7)));
// Same, the message being prefix (the context: "tft_forecast: ", "series 3 'db': ") + the formatted
// reason; tft_error.reason_at marks where the reason starts.
tft_status tft__fail_in(tft_status st, tft_error_code code, int32_t series, const char *field, int32_t index,
                        const char *prefix, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
// Makes e this thread's last error (a worker lane's error, copied back to the caller's thread).
void tft__error_restore(const tft_error *e);
void       tft__log(tft_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define TFT_TRY(expr)                                                                              \
    do {                                                                                           \
        tft_status st_ = (expr);                                                                   \
        if (st_ != TFT_OK) return st_;                                                             \
    } while (0)

// Every heap allocation of libtft goes through these, so a test can prove a forecast makes none.
void  *tft__malloc(size_t n);
void  *tft__calloc(size_t n, size_t size);
void  *tft__aligned_alloc(size_t align, size_t n); // n rounded up to align; free with tft__free
void   tft__free(void *p);
char  *tft__strdup(const char *s);
// Number of allocations made by libtft on all threads since the process started.
uint64_t tft_debug_alloc_count(void);
// sizes: checked arithmetic, 0 on overflow
int tft__mul_ok(size_t a, size_t b, size_t *out);

// ---- model ------------------------------------------------------------------------------------
typedef struct tft_emb {             // one embedding table (a categorical or a categorical group)
    const char  *name;
    int32_t      n_classes, dim;
    const float *table;              // [n_classes, dim]
    int32_t      ncols;              // 1, or the group's member count (EmbeddingBag sum)
    int32_t     *cols;               // [ncols] column indices in x_categoricals
} tft_emb;

typedef struct tft_var {             // one input of a variable selection network
    const char  *name;
    int32_t      is_real;
    int32_t      width;              // input width of its single-variable net (hcs, or embedding dim)
    int32_t      real_col;           // x_reals column (reals)
    int32_t      emb;                // index into model->embs (categoricals)
    const float *pre_w, *pre_b;      // prescaler Linear(1, hcs) (reals)
    int32_t      is_grn;             // 1: GRN(width -> min(width,H) -> H); 0: ResampleNorm(width -> H)
    tft_grn_w    grn;
    const float *rs_mask, *rs_w, *rs_b; // the ResampleNorm (is_grn == 0)
} tft_var;

typedef struct tft_vsn {
    const char *prefix;
    int32_t     n;                   // variables
    tft_var    *vars;
    int32_t     in_total;            // Σ widths (flattened GRN input)
    int32_t     has_ctx;             // encoder/decoder VSNs take the static context
    tft_grn_w   flat;                // flattened_grn (n > 1)
} tft_vsn;

typedef enum { TFT_NORM_TORCH = 0, TFT_NORM_GROUP, TFT_NORM_ENCODER } tft_norm_kind;
typedef enum { TFT_METHOD_STANDARD = 0, TFT_METHOD_ROBUST, TFT_METHOD_IDENTITY } tft_norm_method;

typedef struct tft_normalizer {      // a target normalizer or a normalizer used as a scaler
    tft_norm_kind   kind;
    tft_transform   tf;
    tft_norm_method method;
    int32_t         center;          // EncoderNormalizer/GroupNormalizer `center` flag
    int32_t         max_length;      // EncoderNormalizer: the center's rows (the last max_length of
    int32_t         max_length_scale; // the encoder window; 0 = all) and the scale's (max_length=[c, s])
    float           q_center, q_lower, q_upper; // EncoderNormalizer(method="robust") quantiles
    double          t_center, t_scale; // TorchNormalizer
    // GroupNormalizer
    int32_t         n_groups;        // columns in `groups`
    char          **groups;          // [n_groups] column names
    int32_t         lookup_ok;
    int32_t         n_rows;          // fitted groups
    char          **keys;            // [n_rows * n_groups] labels
    double         *g_center, *g_scale; // [n_rows]
    double          miss_center, miss_scale;
    // target_scale lookup (FORMAT.md "lookup_ok"): the table of the library's de-normalization
    // lookup when it differs from `table` (ts_rows < 0: none, use `missing`)
    int32_t         ts_rows;
    char          **ts_keys;
    double         *ts_center, *ts_scale;
} tft_normalizer;

typedef enum { TFT_SCALER_IDENTITY = 0, TFT_SCALER_STANDARD, TFT_SCALER_ROBUST, TFT_SCALER_NORMALIZER } tft_scaler_kind;
typedef struct tft_scaler {
    tft_scaler_kind kind;
    double          center, scale;   // STANDARD: mean/scale; ROBUST: center/scale
    tft_normalizer  norm;            // NORMALIZER (group or encoder normalizer on a covariate)
} tft_scaler;

typedef struct tft_encoder {         // NaNLabelEncoder of one categorical column
    const char *name;
    int32_t     add_nan;
    int32_t     n_classes;
    char      **classes;             // [n_classes] label of each index
    int32_t    *sorted;              // [n_classes] indices sorted by label, for binary search
} tft_encoder;

// How a real column of x_reals is produced from raw rows.
typedef enum {
    TFT_REAL_SCALED = 0,     // a covariate through its scaler
    TFT_REAL_TARGET,         // a target through its target normalizer
    TFT_REAL_RELATIVE_TIME,  // relative_time_idx
    TFT_REAL_ENCODER_LENGTH, // encoder_length
    TFT_REAL_TARGET_CENTER,  // <target>_center (scaled)
    TFT_REAL_TARGET_SCALE,   // <target>_scale (scaled)
    TFT_REAL_LAG,            // <var>_lagged_by_<k>: var's raw value k rows earlier, var's transformer
} tft_real_source;

typedef struct tft_real_col {
    tft_real_source src;
    int32_t         target;          // TARGET*, index into targets (LAG of a target too, else -1)
    int32_t         lag;             // LAG: rows back
    const char     *base;            // LAG: the lagged variable's name
    int32_t         scaler;          // index into model->scalers (SCALED, TARGET_CENTER/SCALE), -1 none
    int32_t         is_static, is_known; // where the raw values come from in a request
} tft_real_col;

struct tft_model {
    tft_model_info info;
    tft_ld_file   *file;
    void          *mem_copy;         // tft_model_load_memory's copy of the file bytes
    tft_json      *cfg;              // parsed config document (owns strings referenced below)
    char           sha256[65];

    int32_t H, L, NH, D, Q, NT;      // hidden, layers, heads, head width, quantiles, targets
    int32_t causal;
    float   mask_bias;
    int32_t Te_max, Te_min, Td_max, Td_min;

    // weights: one aligned block holding every tensor (+ derived stacked matrices)
    float  *weights;
    size_t  n_weights;
    int64_t n_params;

    const char **x_reals;    int32_t n_reals;
    const char **x_cats;     int32_t n_cats;
    tft_emb *embs;           int32_t n_embs;
    tft_vsn  vsn_static, vsn_enc, vsn_dec;
    tft_grn_w sc_sel, sc_h, sc_c, sc_enr;         // static context GRNs
    struct { const float *w_ih, *w_hh, *b_ih, *b_hh, *w_ih_p, *w_hh_p; } lstm_enc[8], lstm_dec[8];
    const float *post_lstm_glu_w, *post_lstm_glu_b, *post_lstm_ln_w, *post_lstm_ln_b;
    tft_grn_w    enrich;                          // static_enrichment (with ctx_w)
    float       *att_q_w, *att_q_b, *att_k_w, *att_k_b; // stacked heads: [NH*D, H], [NH*D]
    const float *att_v_w, *att_v_b, *att_wh;      // [D,H], [D], [H,D]
    const float *post_attn_glu_w, *post_attn_glu_b, *post_attn_ln_w, *post_attn_ln_b;
    tft_grn_w    pos_ff;
    const float *pre_out_glu_w, *pre_out_glu_b, *pre_out_ln_w, *pre_out_ln_b;
    float       *out_w, *out_b;                   // stacked output layers: [NT*Q, H], [NT*Q]
    // every GEMM weight above packed once for the kernels (tft_op_pack; *_p of the GRNs and LSTMs too)
    float       *packed;                          // the block holding them
    const float *post_lstm_glu_p, *post_attn_glu_p, *pre_out_glu_p, *att_q_p, *att_k_p, *att_v_p, *att_wh_p;
    const float *out_p, *ctx_e_p, *ctx_d_p, *ctx_enr_p; // output layers; static context projections

    // preprocessing (series level)
    const char     **targets;     // [NT]
    float           *quantiles;   // [Q]
    tft_normalizer  *target_norm; // [NT]
    int32_t         *target_real_col; // [NT] x_reals column of each target (-1 if none)
    tft_encoder     *encoders;    int32_t n_encoders;
    tft_scaler      *scalers;     int32_t n_scalers;
    const char     **scaler_names;
    tft_real_col    *real_cols;   // [n_reals]
    int32_t         *cat_encoder; // [n_cats] encoder index of each x_categoricals column
    const tft_json  *var_groups;  // dataset.variable_groups (group -> member columns)
    int32_t         *cat_static;  // [n_cats] 1 if the column is a static categorical
    int32_t         *cat_lag;     // [n_cats] rows back for a lagged categorical, else 0
    const char     **cat_base;    // [n_cats] the raw column each categorical reads (its base if lagged)
    int32_t          max_lag;     // extra history rows the lags consume before the encoder window
    const tft_json  *lags;        // dataset.lags (var -> [k...]) or NULL
    const char     **group_ids;   int32_t n_group_ids;
    int32_t          add_relative_time_idx, add_encoder_length;
    // request schema: names owned by cfg
    const char **static_inputs;  int32_t n_static_inputs;
    const char **history_inputs; int32_t n_history_inputs;
    const char **future_inputs;  int32_t n_future_inputs;
    int32_t     *static_inputs_cat; // [n_static_inputs] 1 = categorical
    const char **var_static, **var_enc, **var_dec; // VSN variable names for info
};

// ---- the model's files (model.c split: bind.c, schema.c, pack.c, sha256.c; config.h) ----------
// model.c loads and frees; bind.c: tft_model_bind (declared at the end of this file) fills the
// struct above from the config and tensors, schema.c its preprocessing part; pack.c packs its GEMM
// weights; sha256.c hashes the file. prep.c applies the schema through schema.c's functions below.
// schema.c: the "dataset" part of the config -> encoders, scalers, target normalizers, real_cols,
// cat_*, the request schema (names point into m->cfg)
tft_status tft_schema_parse(tft_model *m, const tft_json *ds);
void       tft_normalizer_free(tft_normalizer *n); // its tables (not n itself)
// schema.c: the transformation's forward in float32 (the library's per-sample torch paths);
// tft_transform_forward (end of this file) is the float64 one
float      tft_transform_forward_f(float y, tft_transform tf);
// schema.c: EncoderNormalizer n fitted on y[0, len) -> (center, scale); scratch: len floats
void       tft_encoder_normalizer_fit(const tft_normalizer *n, const float *y, int32_t len, float *scratch,
                                      float *center, float *scale);
// schema.c: label -> class index, or -1 for a label the encoder was not fitted on
int32_t    tft_encode_label(const tft_encoder *e, const char *label);
// pack.c: every GEMM weight of a bound model packed for the kernels (m->packed and the *_p pointers)
tft_status tft_pack_weights(tft_model *m);
// sha256.c: SHA-256 of data[len] as 64 hex digits + NUL
void       tft_sha256_hex(const uint8_t *data, size_t len, char out[65]);
// ---- end of the model's files --------------------------------------------------------------------

// ---- context ---------------------------------------------------------------------------------
// The forward runs the static encoder over the whole batch, then the rest on chunks of
// TFT_CHUNK series (graph.c, backend_cpu.c): chunk buffers are sized for min(max_batch, TFT_CHUNK) series.
#ifndef TFT_CHUNK // (-DTFT_CHUNK=n to experiment)
#define TFT_CHUNK 4
#endif
#define TFT_VSN_ROWS TFT_GRN_ROWS // rows a variable selection network processes at a time

typedef struct tft_acts {            // every activation, carved from the arena (see plan.c)
    int32_t chunk;                   // series per chunk
    struct tft_context *ctx;         // the owning context and this arena's lane (set by context.c;
    int32_t             lane;        // a one-series call on lane 0 may split its rows across lanes)
    // batch-wide (max_batch rows): the static encoder, the static contexts and their projections
    float *s_w, *s_xi, *c_sel, *c_h, *c_c, *c_enr, *ctx_e, *ctx_d, *ctx_enr;
    // batch-wide outputs read after the walk: selection weights [B*Te, ne], [B*Td, nd], attention
    // weights [B, Td, NH, T]
    float *e_w, *d_w, *attn;
    // one VSN row block: inputs [TFT_VSN_ROWS, in_total], single-variable outputs [n, rows, H]
    float *v_flat, *v_outs;
    // per chunk (C series): [C, T, H] sequences, encoder steps then decoder steps per series
    float *emb, *lstm_out, *phi, *theta;
    // LSTM (per chunk)
    float *xp, *layer_a, *layer_b, *h, *c, *hh, *hrow, *crow; // xp: [S, C, 4H] time-major, sorted
    int32_t *order, *run;
    // attention and heads (per chunk; decoder rows C*Td)
    float *K, *V, *Qm, *att_o, *att_p, *alpha, *psi, *out, *y, *kt;
    float *scratch;                  // GRN / gate scratch
    // series-level staging: network inputs built from raw rows
    int32_t *p_enc_cat, *p_dec_cat, *p_enc_len, *p_dec_len;
    float   *p_enc_cont, *p_dec_cont, *p_tscale, *p_pred;
    double  *p_tnorm;                // [B, NT, 2] (center, scale) that normalized each target's input
    double  *p_work;                 // per-series raw column scratch
} tft_acts;

// ---- threads ---------------------------------------------------------------------------------
#define TFT_MAX_LANES 64
typedef void (*tft_job_fn)(void *job, int lane);
typedef struct tft_pool_arg {
    struct tft_pool *p;
    int              lane;
} tft_pool_arg;
typedef struct tft_pool {            // workers for lanes 1..n (lane 0 is the caller's thread)
    pthread_t       threads[TFT_MAX_LANES];
    tft_pool_arg    args[TFT_MAX_LANES];
    int             n, inited, stop, active, pending;
    int             busy;            // a multi-lane run is under way (read and written by lane 0 only)
    uint64_t        gen;             // bumped per job; workers wait for a new value
    pthread_mutex_t mu;
    pthread_cond_t  go, done;
    tft_job_fn      fn;
    void           *arg;
} tft_pool;
tft_status tft_pool_start(tft_pool *p, int n_workers);
void       tft_pool_run(tft_pool *p, tft_job_fn fn, void *arg, int lanes); // returns when all lanes are done
void       tft_pool_stop(tft_pool *p);
// A spinning barrier for the lanes of one run (the split forward): every lane calls wait, the last
// to arrive releases the others. Spins (with the CPU's pause hint), then yields, so a lane whose
// partner was descheduled does not burn its core for long.
typedef struct tft_barrier {
    _Atomic int      count;
    _Atomic unsigned gen;
    int              n;
} tft_barrier;
void tft_barrier_init(tft_barrier *b, int n);
void tft_barrier_wait(tft_barrier *b);

typedef struct tft_lane {            // one thread's share of a context: its own arena
    uint8_t   *arena;
    size_t     arena_bytes;
    int32_t    max_batch;
    tft_acts   a;
    tft_status st;                   // the lane's result in the current call
    tft_error  err;                  // its tft_last_error_detail() when st != TFT_OK
} tft_lane;

struct tft_context {
    const tft_model *m;
    int32_t   max_batch;
    int32_t   n_lanes;               // threads: a call's series are split into n_lanes chunks
    int32_t   checked_input;         // tft_context_params.checked_input
    tft_lane  lanes[TFT_MAX_LANES];
    tft_pool  pool;
    int32_t   device;                // tft_device: where the forward runs (device.c)
    struct tft_cuda_ctx *cuda;       // TFT_DEVICE_CUDA: the CUDA backend's state (backend_cuda.c)
};

// bind.c
tft_status tft_model_bind(tft_model *m); // config + tensors -> the structs above
// plan.c: sub-buffers of one block, 64-byte aligned; base NULL: only adds up the bytes (off, SIZE_MAX
// once it overflows). tft_carve returns the sub-buffer (NULL when base is NULL).
typedef struct tft_carver {
    uint8_t *base;
    size_t   off;
} tft_carver;
void *tft_carve(tft_carver *c, size_t count, size_t elem);
// plan.c: carves every activation for (model, max_batch) from base (NULL: only sizes); returns bytes
// (0: more than a size_t holds)
// (chunk: series per chunk, the backend's choice: TFT_CHUNK on the CPU)
size_t tft_plan_carve(const tft_model *m, int32_t max_batch, int32_t chunk, uint8_t *base, tft_acts *a);
// plan.c: FLOPs the forward computes for one series (Te, Td: the call's steps; its own lengths)
double tft_plan_flops(const tft_model *m, int Te, int Td, int enc_len, int dec_len);
// device.c: the forward on validated network-level input, on the context's backend (the CPU one in
// one lane's activations, or the CUDA one)
tft_status tft_forward(const tft_model *m, tft_acts *a, const tft_net_input *in, tft_net_output *out);
// device.c: tft_context_params.device with TFT_DEVICE applied and checked (CUDA: n_threads = 1)
tft_status tft_device_resolve(tft_context_params *cp, const char *fn);
size_t     tft_device_bytes(const tft_model *m, const tft_context_params *cp); // device workspace
tft_status tft_device_open(tft_context *c, const tft_context_params *cp);
void       tft_device_close(tft_context *c);
// backend_cuda.c (built with TFT_USE_CUDA): one device arena, stream, cuBLAS handle and the captured
// graphs of a context
struct tft_cuda_ctx;
size_t     tft_cuda_ctx_bytes(const tft_model *m, int32_t max_batch);
tft_status tft_cuda_ctx_new(const tft_model *m, int32_t max_batch, struct tft_cuda_ctx **out);
void       tft_cuda_ctx_free(struct tft_cuda_ctx *x);
tft_status tft_forward_cuda(struct tft_cuda_ctx *x, const tft_net_input *in, tft_net_output *out);
// context.c: the index checks (and with values != 0 the finiteness checks) of a network input's
// rows (shared with the series level)
tft_status tft_check_net_rows(const tft_model *m, const tft_net_input *in, int values);
int        tft_lanes_for(const tft_context *c, int n, const int32_t *enc_len);
tft_status tft_run_lanes(tft_context *c, tft_job_fn fn, void *job, int lanes);
// schema.c
tft_transform tft_transform_parse(const char *s, int *ok);
double        tft_transform_forward(double y, tft_transform tf);
#endif
