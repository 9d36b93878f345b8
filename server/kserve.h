// kserve.h: the Open Inference Protocol (KServe v2) REST codec for tft_predict_net, with Triton's
// binary tensor data extension. Decoding uses the same caller arena, strict JSON grammar and error
// classes as json_in.h (no heap allocation); writing goes into a caller buffer as json_out.h does.
//
// Tensors (row-major, little-endian in binary form; B = batch, Te/Td = encoder/decoder steps,
// Nc = n_cats, Nr = n_reals, nt = n_targets, Q = n_quantiles, nh = n_heads):
//   inputs:  encoder_cat INT32 [B,Te,Nc] (absent when Nc == 0), encoder_cont FP32 [B,Te,Nr],
//            decoder_cat INT32 [B,Td,Nc] (absent when Nc == 0), decoder_cont FP32 [B,Td,Nr],
//            encoder_lengths INT32 [B], decoder_lengths INT32 [B], target_scale FP32 [B,nt,2].
//            INT64 is accepted for the INT32 tensors (range-checked) and FP64 for the FP32 ones
//            (converted, finiteness checked).
//   outputs: prediction, prediction_normalized FP32 [B,nt,Td,Q], encoder_attention [B,Td,nh,Te],
//            decoder_attention [B,Td,nh,Td], static_weights [B,n_static_vars],
//            encoder_weights [B,Te,n_encoder_vars], decoder_weights [B,Td,n_decoder_vars] (all FP32).
#ifndef TFT_SERVER_KSERVE_H
#define TFT_SERVER_KSERVE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "../engine/tft.h"
#include "json_in.h"
#include "json_out.h"

enum {
    TFT_V2_OUT_PREDICTION            = 1,
    TFT_V2_OUT_PREDICTION_NORMALIZED = 2,
    TFT_V2_OUT_ENCODER_ATTENTION     = 4,
    TFT_V2_OUT_DECODER_ATTENTION     = 8,
    TFT_V2_OUT_STATIC_WEIGHTS        = 16,
    TFT_V2_OUT_ENCODER_WEIGHTS       = 32,
    TFT_V2_OUT_DECODER_WEIGHTS       = 64,
    TFT_V2_OUT_ALL                   = 127,
};

typedef struct tft_v2_infer {
    const char   *id;     // the request's "id", or NULL
    tft_net_input in;     // tensors, in the arena
    uint32_t      want;   // TFT_V2_OUT_* requested (default when "outputs" is absent: PREDICTION)
    uint32_t      binary; // of those, the ones to return as binary data (Triton binary tensor extension)
    int32_t       n_outputs;  // the outputs as the request lists them (response order): outputs[i] is the
    uint8_t       outputs[7]; // bit index (1u << outputs[i] is a TFT_V2_OUT_*); n_outputs 0: bit order
} tft_v2_infer;

// Decodes a POST /v2/models/NAME[/versions/V]/infer body for model m. body has len bytes and is
// modified (strings unescaped in place); json_len = the Inference-Header-Content-Length header's
// value, or len when absent: body[0, json_len) is the JSON header, body[json_len, len) the binary
// tensors in the order of the inputs that carry a "binary_data_size" parameter.
// Returns 0 and fills *out (every tensor in the arena, 64-byte aligned; out->id points into body, so
// the body must outlive the response), or -1 with *err (err may be NULL):
//   400 malformed_json, duplicate_key (of a known key), bad_binary (json_len > len, binary data past
//       the end of the body, or bytes after the JSON header that no binary input claims)
//   413 too_large (arena), too_many_elements (B > max_series, values > max_values, tokens), too_deep
//   422 not_an_object, unknown_key, wrong_type, missing_field, unknown_input, missing_input,
//       duplicate_input, unknown_output, duplicate_output, bad_datatype, bad_shape (rank, a model
//       width, B = 0, Te or Td past the model's), shape_mismatch (B / Te / Td differ across inputs),
//       count_mismatch (data vs shape), binary_size_mismatch, conflicting_data (data and binary),
//       unsupported (shared memory, classification), out_of_range (INT64 past int32, negative
//       category), non_finite_input, bad_length (encoder/decoder lengths vs Te/Td)
// err->field names the tensor ("encoder_cont", "encoder_cont[0][12][3]", "encoder_lengths[2]"),
// or the header ("Inference-Header-Content-Length"), or the key ("inputs[1].foo"). Keys of the
// "parameters" objects other than the ones used here are ignored (the protocol leaves them open).
// When "outputs" is absent or empty: prediction (binary when "binary_data_output" is true).
int tft_v2_decode_infer(const tft_model *m, char *body, size_t len, size_t json_len, tft_req_arena *a,
                        tft_v2_infer *out, tft_req_error *err);

// Floats one requested output (a single TFT_V2_OUT_* bit) needs for in's dims (0 for a bad bit).
size_t tft_v2_output_floats(const tft_model *m, const tft_net_input *in, uint32_t which_one_bit);
// The output's name ("prediction", ...) for a single bit, or NULL.
const char *tft_v2_output_name(uint32_t which_one_bit);

// Writes the infer response: the JSON header, then the binary section (the outputs of req->binary,
// in the order they appear in "outputs", as little-endian FP32). *json_len (may be NULL) = length of
// the JSON part: the server sends Inference-Header-Content-Length: *json_len when req->binary != 0.
// out's fields for every bit of req->want must be non-NULL. Returns the total length (the buffer is
// NUL-terminated when there is room and nothing binary follows), or a negative TFT_RESP_E_* value
// (TFT_RESP_E_NONFINITE for a NaN/Inf output value, JSON or binary).
ssize_t tft_v2_write_infer(char *buf, size_t cap, const tft_model *m, const char *model_name,
                           const char *model_version, const tft_v2_infer *req, const tft_net_output *out,
                           size_t *json_len);
// Bytes tft_v2_write_infer may need at most for req (a safe buffer size: 16 bytes per JSON float).
size_t tft_v2_infer_bound(const tft_model *m, const char *model_name, const char *model_version,
                          const tft_v2_infer *req);
// GET /v2/models/NAME[/versions/V]: {"name","versions","platform","inputs":[...],"outputs":[...]}
ssize_t tft_v2_write_model_metadata(char *buf, size_t cap, const tft_model *m, const char *name,
                                    const char *version);
// GET /v2: {"name":"tft","version":...,"extensions":[...]}
ssize_t tft_v2_write_server_metadata(char *buf, size_t cap);
// {"error": "message"} (the v2 error body)
ssize_t tft_v2_write_error(char *buf, size_t cap, const char *message);
#endif
