// config.h: reading the model config document (weights/FORMAT.md: the JSON of
// __metadata__.config), shared by bind.c (its "model" part and the tensors) and schema.c (its
// "dataset" part). Every getter checks the value's type and range and fails with TFT_ERR_FORMAT and
// a message naming the key's path ("model.hidden_size"), so a broken file is refused at load with
// the key to fix; names point into the parsed document and live as long as tft_model.cfg.
#ifndef TFT_CONFIG_H
#define TFT_CONFIG_H
#include "internal.h"

// ---- caps on every size of the config (weights/FORMAT.md "Limits") -------------------------------
// Far above any model pytorch-forecasting users train, low enough that the product of any of them
// fits the plan's size arithmetic (plan.c) and that validation is fast on a hostile file (every
// check of bind.c and schema.c is linear or n log n in these sizes). A context's memory, which multiplies several of
// them with max_batch, is capped separately (tft_context_params.max_memory_mib).
#define CAP_HIDDEN     4096      // hidden_size
#define CAP_LAYERS     8         // lstm_layers (the model struct holds 8)
#define CAP_HEADS      256       // attention_head_size (also <= hidden_size)
#define CAP_TARGETS    64        // n_targets
#define CAP_QUANTILES  128       // quantiles per target
#define CAP_ENCODER    65536     // max_encoder_length, and the largest lag
#define CAP_HORIZON    8192      // max_prediction_length
#define CAP_VARIABLES  4096      // names in any list of variables (x_reals, static_reals, ...), and
                                 // entries of embedding_sizes, categorical_encoders, scalers, lags
#define CAP_HCS        4096      // a hidden_continuous_size
#define CAP_VOCABULARY (1 << 24) // classes of one categorical encoder / embedding; rows of a group table
#define CAP_GROUPS     64        // group columns of a GroupNormalizer
#define CAP_ALIASES    65536     // entries of config.aliases (the file holds at most TFT_LD_MAX_TENSORS tensors)

// v's string, or NULL when v is absent or not a string.
const char *tft_cfg_str(const tft_json *v);
// "model config: <path> <what>" as TFT_ERR_FORMAT.
tft_status tft_cfg_err(const char *path, const char *what);
// obj.key: an integer in [lo, hi] (over hi: TFT_E_CONFIG_LIMIT, the caps above).
tft_status tft_cfg_int(const tft_json *obj, const char *key, const char *path, int32_t lo, int32_t hi, int32_t *out);
// obj.key: true or false; dflt when absent.
tft_status tft_cfg_bool(const tft_json *obj, const char *key, const char *path, int dflt, int32_t *out);
// obj.key: a number.
tft_status tft_cfg_num(const tft_json *obj, const char *key, const char *path, double *out);
// A config list or object of n entries over its cap: TFT_E_CONFIG_LIMIT naming the key.
tft_status tft_cfg_too_many(const char *path, const char *key, size_t n, size_t cap, const char *what);
// obj.key: a list of at most cap non-empty strings -> *out [*n] (free with tft__free; the strings
// are the document's).
tft_status tft_cfg_strs_cap(const tft_json *obj, const char *key, const char *path, size_t cap, const char ***out,
                            int32_t *n);
// The same with cap CAP_VARIABLES (every other list of names in the config).
tft_status tft_cfg_strs(const tft_json *obj, const char *key, const char *path, const char ***out, int32_t *n);
// Index of name in list[n], or -1.
int        tft_cfg_find_name(const char *const *list, int32_t n, const char *name);
#endif
