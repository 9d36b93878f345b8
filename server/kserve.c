// kserve.c: the Open Inference Protocol (KServe v2) REST codec (see kserve.h).
//
// Decoding, in order, so that nothing is used before everything it depends on was checked:
//  1. json_len <= len; the JSON header through the project's one JSON scanner (tft_req_json_tokens:
//     loader/json.h's tokens in the arena, RFC 8259 grammar and limits checked while scanning,
//     strings unescaped in place);
//  2. the schema walk: request keys, parameters, every input's name / datatype / shape / parameters
//     / data presence (unknown, duplicate and missing names), every requested output;
//  3. shapes across tensors (one B, one Te, one Td, the model's fixed widths), element counts, the
//     limits of the arena (max_series, max_values), binary sizes = bytes needed, and the binary
//     section exactly covered by the binary inputs (in the order the inputs appear);
//  4. values into aligned arena memory: JSON data flat or nested exactly per shape, binary data
//     copied out of the (unaligned) body; INT64 range-checked into int32, FP64 rounded to float;
//  5. the engine's tft_net_check, everything tft_predict_net would refuse: lengths in range, the
//     longest encoder / decoder length equal to Te / Td, category indices within their embeddings,
//     every float finite (the request's one validation; errors through errmap.h's table).
// No malloc/calloc/realloc/free here: the arena and the body only.
#include "kserve.h"
#include "errmap.h"
#include "../loader/json.h"
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kserve.c copies binary tensors (little-endian on the wire) as they are: a little-endian host is assumed"
#endif

// ------------------------------------------------------------------------------------------------
// tensors

enum { DT_INT32, DT_INT64, DT_FP32, DT_FP64, DT_OTHER, DT_UNKNOWN };
static const char *const dt_names[] = {"INT32", "INT64", "FP32", "FP64"};
static const size_t      dt_size[]  = {4, 8, 4, 8};
// every other datatype of the protocol: known, but not accepted for any input of this model
static const char *const dt_other[] = {"BOOL",   "UINT8", "UINT16", "UINT32", "UINT64", "INT8",
                                       "INT16",  "FP16",  "BF16",   "BYTES"};

// Symbolic dims of a shape: D_B batch, D_TE encoder steps, D_TD decoder steps; >= 0 a model width
// (the enum's values are the fields below).
enum { D_B = -1, D_TE = -2, D_TD = -3, D_NC = -4, D_NR = -5, D_NT = -6, D_Q = -7, D_NH = -8, D_NS = -9,
       D_NE = -10, D_ND = -11, D_TWO = -12 };

typedef struct tdesc {
    const char *name;
    int         is_int; // INT32 (INT64 accepted) vs FP32 (FP64 accepted)
    int         rank;
    int         dims[4];
} tdesc;

enum { IN_ENC_CAT, IN_ENC_CONT, IN_DEC_CAT, IN_DEC_CONT, IN_ENC_LEN, IN_DEC_LEN, IN_SCALE, N_IN };
static const tdesc in_desc[N_IN] = {
    {"encoder_cat", 1, 3, {D_B, D_TE, D_NC, 0}},  {"encoder_cont", 0, 3, {D_B, D_TE, D_NR, 0}},
    {"decoder_cat", 1, 3, {D_B, D_TD, D_NC, 0}},  {"decoder_cont", 0, 3, {D_B, D_TD, D_NR, 0}},
    {"encoder_lengths", 1, 1, {D_B, 0, 0, 0}},    {"decoder_lengths", 1, 1, {D_B, 0, 0, 0}},
    {"target_scale", 0, 3, {D_B, D_NT, D_TWO, 0}},
};
#define N_OUT 7
static const tdesc out_desc[N_OUT] = { // bit i = 1 << i (TFT_V2_OUT_*)
    {"prediction", 0, 4, {D_B, D_NT, D_TD, D_Q}},        {"prediction_normalized", 0, 4, {D_B, D_NT, D_TD, D_Q}},
    {"encoder_attention", 0, 4, {D_B, D_TD, D_NH, D_TE}}, {"decoder_attention", 0, 4, {D_B, D_TD, D_NH, D_TD}},
    {"static_weights", 0, 2, {D_B, D_NS, 0, 0}},          {"encoder_weights", 0, 3, {D_B, D_TE, D_NE, 0}},
    {"decoder_weights", 0, 3, {D_B, D_TD, D_ND, 0}},
};

// A symbolic dim's value: B, Te, Td from the call (-1 each for metadata), the widths from the model.
static int64_t dim_of(const tft_model_info *mi, int d, int64_t B, int64_t Te, int64_t Td) {
    switch (d) {
    case D_B: return B;
    case D_TE: return Te;
    case D_TD: return Td;
    case D_NC: return mi->n_cats;
    case D_NR: return mi->n_reals;
    case D_NT: return mi->n_targets;
    case D_Q: return mi->n_quantiles;
    case D_NH: return mi->n_heads;
    case D_NS: return mi->n_static_vars;
    case D_NE: return mi->n_encoder_vars;
    case D_ND: return mi->n_decoder_vars;
    case D_TWO: return 2;
    default: return d;
    }
}

static int bit_index(uint32_t one_bit) {
    for (int i = 0; i < N_OUT; i++)
        if (one_bit == (1u << i)) return i;
    return -1;
}

const char *tft_v2_output_name(uint32_t which_one_bit) {
    int i = bit_index(which_one_bit);
    return i < 0 ? NULL : out_desc[i].name;
}

size_t tft_v2_output_floats(const tft_model *m, const tft_net_input *in, uint32_t which_one_bit) {
    int i = bit_index(which_one_bit);
    if (i < 0 || !m || !in || in->n < 0 || in->enc_steps < 0 || in->dec_steps < 0) return 0;
    const tft_model_info *mi = tft_model_get_info(m);
    size_t                n  = 1;
    for (int k = 0; k < out_desc[i].rank; k++)
        n *= (size_t)dim_of(mi, out_desc[i].dims[k], in->n, in->enc_steps, in->dec_steps);
    return n;
}

static float *out_field(const tft_net_output *o, int i) {
    switch (i) {
    case 0: return o->prediction;
    case 1: return o->prediction_normalized;
    case 2: return o->encoder_attention;
    case 3: return o->decoder_attention;
    case 4: return o->static_weights;
    case 5: return o->encoder_weights;
    default: return o->decoder_weights;
    }
}

// ------------------------------------------------------------------------------------------------
// decoding

typedef struct tin { // one input as the request gives it
    int      tok;     // its object's token (0: not given)
    int      order;   // position in "inputs"
    int      dtype;   // DT_*
    int64_t  dims[3];
    uint64_t elems;   // product of dims
    int64_t  bin;     // binary_data_size, or -1 (JSON "data")
    int      data;    // token of "data", or 0
    size_t   off;     // binary: offset in the binary section
} tin;

typedef struct kd {
    const tft_model      *m;
    const tft_model_info *mi;
    char                 *body;
    size_t                len, json_len;
    tft_json_tok         *t;
    int                   nt;
    tft_req_arena        *a;
    tft_req_error        *err;
    tft_req_error         local_err;
    tin                   in[N_IN];
    uint64_t              values;
} kd;

static int fail(kd *d, int http, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(kd *d, int http, const char *code, const char *field, const char *fmt, ...) {
    tft_req_error *e = d->err;
    e->http          = http;
    e->code          = code;
    e->series        = -1;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

static void *take(tft_req_arena *a, size_t n, size_t count) { // 64-byte aligned (a cache line)
    if (count && n > (SIZE_MAX - 64) / count) return NULL;
    size_t bytes = n * count;
    size_t at    = (a->used + 63) & ~(size_t)63;
    if (at < a->used || at > a->cap || bytes > a->cap - at) return NULL;
    a->used = at + bytes;
    return a->buf + at;
}

#define NOSPACE(d) \
    fail(d, 413, "too_large", NULL, "request does not fit the decoder's arena (%zu bytes)", (d)->a->cap)

static int skip(const kd *d, int i) { return i + (int)d->t[i].skip; } // the next sibling
static const char *str(const kd *d, int i) { return d->body + d->t[i].start; }

static const char *type_name(const kd *d, int i) { return tft_json_type_desc((tft_json_type)d->t[i].type); }

static int is_bool(const kd *d, int i, int *v) {
    if (d->t[i].type != TFT_JSON_TRUE && d->t[i].type != TFT_JSON_FALSE) return 0;
    *v = d->t[i].type == TFT_JSON_TRUE;
    return 1;
}

// exact integer (json_in's parser)
static int to_i64(const kd *d, int i, int64_t *out) {
    const tft_json_tok *t = &d->t[i];
    if (t->type != TFT_JSON_NUMBER) return -1;
    return tft_req_json_i64(d->body + t->start, (long)(t->end - t->start), out);
}

static int is_number(const kd *d, int i) { return d->t[i].type == TFT_JSON_NUMBER; }

// The members of object obj: at[j] = token of the value of names[j] (0 when absent). A key not in
// names is unknown_key (422) unless allow_unknown (open "parameters" maps: ignored); a known key
// given twice is duplicate_key (400). where names the object in messages ("inputs[2]").
static int members(kd *d, int obj, const char *where, const char *const *names, int n, int *at, int allow_unknown) {
    char field[96];
    for (int j = 0; j < n; j++) at[j] = 0;
    int k = obj + 1;
    for (int c = 0; c < d->t[obj].size; c++) {
        int j = 0;
        while (j < n && strcmp(str(d, k), names[j]) != 0) j++;
        if (j == n && !allow_unknown) {
            snprintf(field, sizeof field, "%s.%s", where, str(d, k));
            return fail(d, 422, "unknown_key", field, "%s has unknown key '%s'", where, str(d, k));
        }
        if (j < n) {
            if (at[j]) {
                snprintf(field, sizeof field, "%s.%s", where, names[j]);
                return fail(d, 400, "duplicate_key", field, "%s has key '%s' twice", where, names[j]);
            }
            at[j] = k + 1;
        }
        k = skip(d, k + 1);
    }
    return 0;
}

static int dtype_of(const char *s) {
    for (int i = 0; i < 4; i++)
        if (strcmp(s, dt_names[i]) == 0) return i;
    for (size_t i = 0; i < sizeof dt_other / sizeof *dt_other; i++)
        if (strcmp(s, dt_other[i]) == 0) return DT_OTHER;
    return DT_UNKNOWN;
}

// One element of "inputs": name, datatype, shape, parameters, data (or binary_data_size).
static int input_one(kd *d, int obj, int idx) {
    char where[32], field[96];
    snprintf(where, sizeof where, "inputs[%d]", idx);
    if (d->t[obj].type != TFT_JSON_OBJECT)
        return fail(d, 422, "wrong_type", where, "%s must be an object, not %s", where, type_name(d, obj));
    static const char *const keys[] = {"name", "shape", "datatype", "parameters", "data"};
    int                      at[5];
    if (members(d, obj, where, keys, 5, at, 0)) return -1;
    if (!at[0]) return fail(d, 422, "missing_field", where, "%s has no \"name\"", where);
    if (d->t[at[0]].type != TFT_JSON_STRING)
        return fail(d, 422, "wrong_type", where, "%s: \"name\" must be a string", where);
    const char *name = str(d, at[0]);
    int         k    = 0;
    while (k < N_IN && strcmp(name, in_desc[k].name) != 0) k++;
    if (k == N_IN)
        return fail(d, 422, "unknown_input", name,
                    "input '%s' is not an input of this model (encoder_cat, encoder_cont, decoder_cat, decoder_cont, "
                    "encoder_lengths, decoder_lengths, target_scale)",
                    name);
    if (d->in[k].tok) return fail(d, 422, "duplicate_input", name, "input '%s' is given twice", name);
    const tdesc *td = &in_desc[k];
    tin         *x  = &d->in[k];
    x->tok = obj, x->order = idx, x->bin = -1;
    // datatype
    if (!at[2]) return fail(d, 422, "missing_field", name, "input '%s' has no \"datatype\"", name);
    if (d->t[at[2]].type != TFT_JSON_STRING)
        return fail(d, 422, "wrong_type", name, "input '%s': \"datatype\" must be a string", name);
    int dt = dtype_of(str(d, at[2]));
    if (dt >= DT_OTHER || (td->is_int != (dt == DT_INT32 || dt == DT_INT64)))
        return fail(d, 422, "bad_datatype", name, "input '%s' has datatype '%.32s'%s; it takes %s", name,
                    str(d, at[2]), dt == DT_UNKNOWN ? " (not a datatype of the protocol)" : "",
                    td->is_int ? "INT32 (or INT64, range-checked)" : "FP32 (or FP64, rounded to FP32)");
    x->dtype = dt;
    // shape: non-negative integers, the tensor's rank, the model's widths
    if (!at[1]) return fail(d, 422, "missing_field", name, "input '%s' has no \"shape\"", name);
    int sh = at[1];
    if (d->t[sh].type != TFT_JSON_ARRAY || d->t[sh].size != td->rank)
        return fail(d, 422, "bad_shape", name, "input '%s': \"shape\" must be an array of %d dims", name, td->rank);
    uint64_t elems = 1;
    for (int r = 0; r < td->rank; r++) {
        int64_t v;
        if (to_i64(d, sh + 1 + r, &v) != 0 || v < 0 || v > INT32_MAX)
            return fail(d, 422, "bad_shape", name, "input '%s': shape[%d] must be an integer in [0, %d]", name, r,
                        INT32_MAX);
        int64_t want = dim_of(d->mi, td->dims[r], -1, -1, -1);
        if (want >= 0 && v != want)
            return fail(d, 422, "bad_shape", name, "input '%s': shape[%d] = %lld, this model needs %lld", name, r,
                        (long long)v, (long long)want);
        x->dims[r] = v;
        // overflow-safe product (each dim < 2^31, the running product capped just above the limit)
        if (elems && (uint64_t)v > UINT64_MAX / elems) elems = UINT64_MAX;
        else elems *= (uint64_t)v;
    }
    x->elems = elems;
    // parameters: binary_data_size (the binary tensor data extension); shared memory is not served
    if (at[3]) {
        if (d->t[at[3]].type != TFT_JSON_OBJECT)
            return fail(d, 422, "wrong_type", name, "input '%s': \"parameters\" must be an object", name);
        static const char *const pk[] = {"binary_data_size", "shared_memory_region"};
        int                      pat[2];
        snprintf(field, sizeof field, "%s.parameters", name);
        if (members(d, at[3], field, pk, 2, pat, 1)) return -1;
        if (pat[1])
            return fail(d, 422, "unsupported", name, "input '%s': shared memory tensors are not served", name);
        if (pat[0]) {
            int64_t v;
            if (to_i64(d, pat[0], &v) != 0 || v < 0)
                return fail(d, 422, "wrong_type", name,
                            "input '%s': \"binary_data_size\" must be a non-negative integer", name);
            x->bin = v;
        }
    }
    if (x->bin >= 0) {
        if (at[4])
            return fail(d, 422, "conflicting_data", name,
                        "input '%s' has both \"data\" and a \"binary_data_size\" parameter", name);
    } else {
        if (!at[4]) return fail(d, 422, "missing_field", name, "input '%s' has no \"data\"", name);
        if (d->t[at[4]].type != TFT_JSON_ARRAY)
            return fail(d, 422, "wrong_type", name, "input '%s': \"data\" must be an array, not %s", name,
                        type_name(d, at[4]));
        x->data = at[4];
    }
    return 0;
}

// "outputs": names, binary_data parameters; order kept.
static int outputs(kd *d, int arr, int bin_default, tft_v2_infer *out) {
    if (d->t[arr].type != TFT_JSON_ARRAY)
        return fail(d, 422, "wrong_type", "outputs", "\"outputs\" must be an array, not %s", type_name(d, arr));
    int o = arr + 1;
    for (int i = 0; i < d->t[arr].size; i++, o = skip(d, o)) {
        char where[32];
        snprintf(where, sizeof where, "outputs[%d]", i);
        if (d->t[o].type != TFT_JSON_OBJECT)
            return fail(d, 422, "wrong_type", where, "%s must be an object, not %s", where, type_name(d, o));
        static const char *const keys[] = {"name", "parameters"};
        int                      at[2];
        if (members(d, o, where, keys, 2, at, 0)) return -1;
        if (!at[0]) return fail(d, 422, "missing_field", where, "%s has no \"name\"", where);
        if (d->t[at[0]].type != TFT_JSON_STRING)
            return fail(d, 422, "wrong_type", where, "%s: \"name\" must be a string", where);
        const char *name = str(d, at[0]);
        int         k    = 0;
        while (k < N_OUT && strcmp(name, out_desc[k].name) != 0) k++;
        if (k == N_OUT)
            return fail(d, 422, "unknown_output", name,
                        "output '%s' is not an output of this model (prediction, prediction_normalized, "
                        "encoder_attention, decoder_attention, static_weights, encoder_weights, decoder_weights)",
                        name);
        uint32_t bit = 1u << k;
        if (out->want & bit) return fail(d, 422, "duplicate_output", name, "output '%s' is requested twice", name);
        int bin = bin_default;
        if (at[1]) {
            if (d->t[at[1]].type != TFT_JSON_OBJECT)
                return fail(d, 422, "wrong_type", name, "output '%s': \"parameters\" must be an object", name);
            static const char *const pk[] = {"binary_data", "classification", "shared_memory_region"};
            int                      pat[3];
            char                     field[96];
            snprintf(field, sizeof field, "%s.parameters", name);
            if (members(d, at[1], field, pk, 3, pat, 1)) return -1;
            if (pat[1] || pat[2])
                return fail(d, 422, "unsupported", name, "output '%s': the %s extension is not served", name,
                            pat[1] ? "classification" : "shared memory");
            if (pat[0] && !is_bool(d, pat[0], &bin))
                return fail(d, 422, "wrong_type", name, "output '%s': \"binary_data\" must be true or false", name);
        }
        out->want |= bit;
        if (bin) out->binary |= bit;
        out->outputs[out->n_outputs++] = (uint8_t)k;
    }
    return 0;
}

// Nested "data" exactly per shape from token i at level; returns the token past it, or -1.
static int nested(kd *d, const tin *x, int k, int i, int level, int64_t *pos) {
    char field[96];
    int  rank = in_desc[k].rank;
    if (level == rank) {
        if (d->t[i].type == TFT_JSON_ARRAY || d->t[i].type == TFT_JSON_OBJECT) goto bad;
        return i + 1;
    }
    if (d->t[i].type != TFT_JSON_ARRAY || d->t[i].size != x->dims[level]) goto bad;
    int j = i + 1;
    for (int c = 0; c < d->t[i].size; c++) {
        pos[level] = c;
        j          = nested(d, x, k, j, level + 1, pos);
        if (j < 0) return -1;
    }
    return j;
bad: {
    int n = snprintf(field, sizeof field, "%s.data", in_desc[k].name);
    for (int l = 0; l < level && n < (int)sizeof field; l++)
        n += snprintf(field + n, sizeof field - (size_t)n, "[%lld]", (long long)pos[l]);
    return fail(d, 422, "count_mismatch", field,
                "input '%s': \"data\" is neither flat (%llu numbers) nor nested as the shape [%lld,%lld,%lld] says "
                "(at %s: %s where %s was expected)",
                in_desc[k].name, (unsigned long long)x->elems, (long long)x->dims[0], (long long)x->dims[1],
                (long long)x->dims[2], field, type_name(d, i),
                level == rank ? "a number" : "an array of the dim's size");
}
}

// element idx of tensor k as "name[i][j][l]" (row-major index -> indices)
static void elem_field(const kd *d, int k, uint64_t idx, char *field, size_t cap) {
    const tin *x    = &d->in[k];
    int        rank = in_desc[k].rank;
    uint64_t   ix[3] = {0, 0, 0};
    for (int r = rank - 1; r >= 0; r--) {
        uint64_t dim = x->dims[r] ? (uint64_t)x->dims[r] : 1;
        ix[r]        = idx % dim;
        idx /= dim;
    }
    int n = snprintf(field, cap, "%s", in_desc[k].name);
    for (int r = 0; r < rank && n < (int)cap; r++) n += snprintf(field + n, cap - (size_t)n, "[%llu]",
                                                                 (unsigned long long)ix[r]);
}

static int bad_int(kd *d, int k, uint64_t idx, long long v, int not_int) {
    char field[96];
    elem_field(d, k, idx, field, sizeof field);
    if (not_int)
        return fail(d, 422, "wrong_type", field, "%s must be an integer", field);
    return fail(d, 422, "out_of_range", field, "%s = %lld does not fit INT32", field, v);
}

// Tensor k's values into arena memory at *dst (int32_t or float, elems of them).
static int values(kd *d, int k, void **dst) {
    const tin *x = &d->in[k];
    size_t     n = (size_t)x->elems;
    void      *p = take(d->a, 4, n ? n : 1);
    if (!p) return NOSPACE(d);
    *dst          = p;
    int32_t *iv   = p;
    float   *fv   = p;
    int      isin = in_desc[k].is_int;
    if (x->bin >= 0) { // binary: bytes [off, off + bin) of the section after the JSON; not aligned
        const unsigned char *src = (const unsigned char *)d->body + d->json_len + x->off;
        switch (x->dtype) {
        case DT_INT32: memcpy(iv, src, n * 4); break;
        case DT_FP32: memcpy(fv, src, n * 4); break;
        case DT_INT64:
            for (size_t i = 0; i < n; i++) {
                int64_t v;
                memcpy(&v, src + 8 * i, 8);
                if (v < INT32_MIN || v > INT32_MAX) return bad_int(d, k, i, (long long)v, 0);
                iv[i] = (int32_t)v;
            }
            break;
        default:
            for (size_t i = 0; i < n; i++) { // (finiteness: tft_net_check, step 5)
                double v;
                memcpy(&v, src + 8 * i, 8);
                fv[i] = (float)v;
            }
        }
        return 0;
    }
    // JSON: the leaves in document order (the structure was checked: arrays and number-like tokens)
    int j = x->data + 1;
    for (size_t i = 0; i < n; i++) {
        while (d->t[j].type == TFT_JSON_ARRAY) j++;
        if (isin) {
            int64_t v;
            if (to_i64(d, j, &v) != 0) return bad_int(d, k, i, 0, 1);
            if (v < INT32_MIN || v > INT32_MAX) return bad_int(d, k, i, (long long)v, 0);
            iv[i] = (int32_t)v;
        } else {
            if (!is_number(d, j)) {
                char field[96];
                elem_field(d, k, i, field, sizeof field);
                return fail(d, 422, "wrong_type", field, "%s must be a number, not %s", field, type_name(d, j));
            }
            fv[i] = (float)tft_req_json_double(d->body, d->t[j].start, d->t[j].end); // (finiteness: step 5)
        }
        j++;
    }
    return 0;
}

static int json_len_fail(kd *d) {
    return fail(d, 400, "bad_binary", "Inference-Header-Content-Length",
                "Inference-Header-Content-Length %zu is larger than the body (%zu bytes)", d->json_len, d->len);
}

int tft_v2_decode_infer(const tft_model *m, char *body, size_t len, size_t json_len, tft_req_arena *a,
                        tft_v2_infer *out, tft_req_error *err) {
    kd d;
    memset(&d, 0, sizeof d);
    d.err = err ? err : &d.local_err;
    memset(d.err, 0, sizeof *d.err);
    d.err->series = -1;
    if (!m || !a || !out || (!body && len))
        return fail(&d, 500, "internal", NULL, "tft_v2_decode_infer: NULL argument");
    memset(out, 0, sizeof *out);
    d.m = m, d.mi = tft_model_get_info(m), d.body = body, d.len = len, d.json_len = json_len, d.a = a;
    if (json_len > len) return json_len_fail(&d);

    // 1. the JSON header
    void *toks;
    int   nt;
    if (tft_req_json_tokens(body, json_len, a, &toks, &nt, d.err)) return -1;
    d.t = toks, d.nt = nt;
    if (d.t[0].type != TFT_JSON_OBJECT)
        return fail(&d, 422, "not_an_object", NULL, "request must be a JSON object, not %s", type_name(&d, 0));

    // 2. the schema
    static const char *const keys[] = {"id", "parameters", "inputs", "outputs"};
    int                      at[4];
    if (members(&d, 0, "request", keys, 4, at, 0)) return -1;
    if (at[0]) {
        if (d.t[at[0]].type != TFT_JSON_STRING)
            return fail(&d, 422, "wrong_type", "id", "\"id\" must be a string, not %s", type_name(&d, at[0]));
        out->id = str(&d, at[0]);
    }
    int bin_default = 0;
    if (at[1]) {
        if (d.t[at[1]].type != TFT_JSON_OBJECT)
            return fail(&d, 422, "wrong_type", "parameters", "\"parameters\" must be an object");
        static const char *const pk[] = {"binary_data_output"};
        int                      pat[1];
        if (members(&d, at[1], "parameters", pk, 1, pat, 1)) return -1;
        if (pat[0] && !is_bool(&d, pat[0], &bin_default))
            return fail(&d, 422, "wrong_type", "parameters.binary_data_output",
                        "\"binary_data_output\" must be true or false");
    }
    int ia = at[2];
    if (!ia) return fail(&d, 422, "missing_field", "inputs", "request has no \"inputs\"");
    if (d.t[ia].type != TFT_JSON_ARRAY)
        return fail(&d, 422, "wrong_type", "inputs", "\"inputs\" must be an array, not %s", type_name(&d, ia));
    int e = ia + 1;
    for (int i = 0; i < d.t[ia].size; i++, e = skip(&d, e))
        if (input_one(&d, e, i)) return -1;
    const int Nc = d.mi->n_cats;
    for (int k = 0; k < N_IN; k++)
        if (!d.in[k].tok && !(Nc == 0 && in_desc[k].is_int && in_desc[k].rank == 3))
            return fail(&d, 422, "missing_input", in_desc[k].name, "the request has no input '%s'", in_desc[k].name);
    if (at[3]) {
        if (outputs(&d, at[3], bin_default, out)) return -1;
    }
    if (out->want == 0) { // none named: the prediction
        out->want = TFT_V2_OUT_PREDICTION, out->binary = bin_default ? TFT_V2_OUT_PREDICTION : 0;
        out->outputs[0] = 0, out->n_outputs = 1;
    }

    // 3. one B, Te, Td; the model's limits; element counts; binary sizes and the section's layout
    int64_t    B = d.in[IN_ENC_CONT].dims[0], Te = d.in[IN_ENC_CONT].dims[1], Td = d.in[IN_DEC_CONT].dims[1];
    for (int k = 0; k < N_IN; k++) // the batch first: a wrong B otherwise shows as a wrong Td
        if (d.in[k].tok && d.in[k].dims[0] != B)
            return fail(&d, 422, "shape_mismatch", in_desc[k].name, "input '%s' has batch %lld, encoder_cont has %lld",
                        in_desc[k].name, (long long)d.in[k].dims[0], (long long)B);
    for (int k = 0; k < N_IN; k++) {
        const tin *x = &d.in[k];
        if (!x->tok) continue;
        const char *nm = in_desc[k].name;
        if (in_desc[k].dims[1] == D_TE && x->dims[1] != Te)
            return fail(&d, 422, "shape_mismatch", nm, "input '%s' has %lld encoder steps, encoder_cont has %lld", nm,
                        (long long)x->dims[1], (long long)Te);
        if (in_desc[k].dims[1] == D_TD && x->dims[1] != Td)
            return fail(&d, 422, "shape_mismatch", nm, "input '%s' has %lld decoder steps, decoder_cont has %lld", nm,
                        (long long)x->dims[1], (long long)Td);
    }
    if (B < 1) return fail(&d, 422, "bad_shape", "encoder_cont", "the batch is empty (B = 0)");
    if ((uint64_t)B > a->lim.max_series)
        return fail(&d, 413, "too_many_elements", "encoder_cont", "the batch has %lld series, more than the limit %u",
                    (long long)B, a->lim.max_series);
    if (Te > d.mi->max_encoder_length)
        return fail(&d, 422, "bad_shape", "encoder_cont", "%lld encoder steps, more than max_encoder_length %d",
                    (long long)Te, d.mi->max_encoder_length);
    if (Td < 1 || Td > d.mi->max_prediction_length)
        return fail(&d, 422, "bad_shape", "decoder_cont", "%lld decoder steps, outside [1, max_prediction_length %d]",
                    (long long)Td, d.mi->max_prediction_length);
    int order[N_IN], n_given = 0; // the inputs in request order (binary data is laid out in it)
    for (int k = 0; k < N_IN; k++)
        if (d.in[k].tok) order[n_given++] = k;
    for (int i = 1; i < n_given; i++)
        for (int j = i; j > 0 && d.in[order[j]].order < d.in[order[j - 1]].order; j--) {
            int s = order[j];
            order[j] = order[j - 1], order[j - 1] = s;
        }
    size_t section = len - json_len, off = 0;
    for (int i = 0; i < n_given; i++) {
        int         k  = order[i];
        tin        *x  = &d.in[k];
        const char *nm = in_desc[k].name;
        if (x->elems > a->lim.max_values - d.values || x->elems > SIZE_MAX / 8)
            return fail(&d, 413, "too_many_elements", nm, "the request has more than %llu values",
                        (unsigned long long)a->lim.max_values);
        d.values += x->elems;
        uint64_t need = x->elems * dt_size[x->dtype]; // elems <= max_values < 2^61
        if (x->bin >= 0) {
            if ((uint64_t)x->bin != need)
                return fail(&d, 422, "binary_size_mismatch", nm,
                            "input '%s': binary_data_size %lld, but %llu %s values are %llu bytes", nm,
                            (long long)x->bin, (unsigned long long)x->elems, dt_names[x->dtype],
                            (unsigned long long)need);
            if (need > section - off)
                return fail(&d, 400, "bad_binary", nm,
                            "input '%s': its %llu binary bytes run past the end of the body (%zu bytes of binary data "
                            "after the %zu-byte JSON header)",
                            nm, (unsigned long long)need, section, json_len);
            x->off = off;
            off += (size_t)need;
        } else if (in_desc[k].rank > 1 && d.t[x->data].size == x->dims[0] &&
                   (x->dims[0] == 0 || d.t[x->data + 1].type == TFT_JSON_ARRAY)) {
            int64_t pos[3] = {0, 0, 0};
            if (nested(&d, x, k, x->data, 0, pos) < 0) return -1;
        } else {
            if ((uint64_t)d.t[x->data].size != x->elems)
                return fail(&d, 422, "count_mismatch", nm, "input '%s': \"data\" has %d values, its shape needs %llu",
                            nm, d.t[x->data].size, (unsigned long long)x->elems);
            for (int j = x->data + 1; j < x->data + 1 + d.t[x->data].size; j++)
                if (d.t[j].type == TFT_JSON_ARRAY || d.t[j].type == TFT_JSON_OBJECT) {
                    char field[96];
                    snprintf(field, sizeof field, "%s.data[%d]", nm, j - x->data - 1);
                    return fail(&d, 422, "count_mismatch", field,
                                "input '%s': \"data\" mixes numbers and arrays (flat data has numbers only)", nm);
                }
        }
    }
    if (off != section)
        return fail(&d, 400, "bad_binary", "Inference-Header-Content-Length",
                    "the body has %zu bytes after the %zu-byte JSON header, the binary inputs describe %zu", section,
                    json_len, off);

    // 4. values
    void *p[N_IN] = {NULL};
    for (int k = 0; k < N_IN; k++)
        if (d.in[k].tok && values(&d, k, &p[k])) return -1;
    tft_net_input *in  = &out->in;
    in->n              = (int32_t)B;
    in->enc_steps      = (int32_t)Te;
    in->dec_steps      = (int32_t)Td;
    in->encoder_cat    = p[IN_ENC_CAT];
    in->encoder_cont   = p[IN_ENC_CONT];
    in->decoder_cat    = p[IN_DEC_CAT];
    in->decoder_cont   = p[IN_DEC_CONT];
    in->encoder_lengths = p[IN_ENC_LEN];
    in->decoder_lengths = p[IN_DEC_LEN];
    in->target_scale   = p[IN_SCALE];

    // 5. the engine's own check of a network input (tft_net_check: lengths against the steps, the
    //    steps equal to the longest lengths, every category index within its embedding, every real
    //    and target scale finite), answered through the one table of errmap.h. The request is
    //    validated here, once: the worker's context trusts it (checked_input).
    if (tft_net_check(m, in) != TFT_OK) {
        const tft_error *ne = tft_last_error_detail();
        const char      *code;
        int              http = srv_error_http(ne, &code);
        char             field[96];
        int              k    = -1;
        for (int i = 0; i < N_IN; i++)
            if (strcmp(in_desc[i].name, ne->field) == 0) k = i;
        if (k >= 0 && ne->code == TFT_E_LENGTHS && ne->series >= 0) // "encoder_lengths[2]"
            snprintf(field, sizeof field, "%s[%d]", ne->field, ne->series);
        else if (k >= 0 && ne->index >= 0) // "encoder_cont[0][12][3]": the element, from its flat index
            elem_field(&d, k, (uint64_t)ne->index, field, sizeof field);
        else
            snprintf(field, sizeof field, "%s", ne->field);
        return fail(&d, http, code, field, "%s", ne->message);
    }
    return 0;
}

// ------------------------------------------------------------------------------------------------
// writing

static void put_shape(tft_jw *o, const tft_model_info *mi, const tdesc *td, int64_t B, int64_t Te, int64_t Td) {
    tft_jw_lit(o, "[");
    for (int r = 0; r < td->rank; r++) {
        if (r) tft_jw_lit(o, ",");
        tft_jw_int(o, (long long)dim_of(mi, td->dims[r], B, Te, Td));
    }
    tft_jw_lit(o, "]");
}

// the outputs of req in response order: req->outputs first (as requested), then any other bit of want
static int response_order(const tft_v2_infer *req, int *order) {
    int      n    = 0;
    uint32_t done = 0;
    for (int i = 0; i < req->n_outputs && i < N_OUT; i++) {
        int k = req->outputs[i];
        if (k < N_OUT && (req->want & (1u << k)) && !(done & (1u << k))) order[n++] = k, done |= 1u << k;
    }
    for (int k = 0; k < N_OUT; k++)
        if ((req->want & (1u << k)) && !(done & (1u << k))) order[n++] = k, done |= 1u << k;
    return n;
}

static int infer_args_ok(const tft_model *m, const tft_v2_infer *req, const tft_net_output *out) {
    if (!m || !req || !out || (req->want & ~(uint32_t)TFT_V2_OUT_ALL) || (req->binary & ~req->want) ||
        req->in.n < 1 || req->in.enc_steps < 0 || req->in.dec_steps < 0)
        return 0;
    for (int k = 0; k < N_OUT; k++) // an output of no values (Te = 0, no static variables) may be NULL
        if ((req->want & (1u << k)) && !out_field(out, k) && tft_v2_output_floats(m, &req->in, 1u << k)) return 0;
    return 1;
}

ssize_t tft_v2_write_infer(char *buf, size_t cap, const tft_model *m, const char *model_name,
                           const char *model_version, const tft_v2_infer *req, const tft_net_output *out,
                           size_t *json_len) {
    if (json_len) *json_len = 0;
    if ((!buf && cap) || !infer_args_ok(m, req, out)) return TFT_RESP_E_ARG;
    const tft_model_info *mi = tft_model_get_info(m);
    int                   order[N_OUT], n = response_order(req, order);
    for (int i = 0; i < n; i++) {
        const float *x = out_field(out, order[i]);
        size_t       c = tft_v2_output_floats(m, &req->in, 1u << order[i]);
        int          ok = 1;
        for (size_t j = 0; j < c; j++) ok &= isfinite(x[j]) != 0;
        if (!ok) return TFT_RESP_E_NONFINITE;
    }
    tft_jw o = {buf, cap, 0, 0};
    tft_jw_lit(&o, "{\"model_name\":");
    tft_jw_str(&o, model_name ? model_name : "");
    if (model_version) {
        tft_jw_lit(&o, ",\"model_version\":");
        tft_jw_str(&o, model_version);
    }
    if (req->id) {
        tft_jw_lit(&o, ",\"id\":");
        tft_jw_str(&o, req->id);
    }
    tft_jw_lit(&o, ",\"outputs\":[");
    for (int i = 0; i < n && !o.full; i++) {
        int k = order[i];
        tft_jw_lit(&o, i ? ",{\"name\":" : "{\"name\":");
        tft_jw_str(&o, out_desc[k].name);
        tft_jw_lit(&o, ",\"datatype\":\"FP32\",\"shape\":");
        put_shape(&o, mi, &out_desc[k], req->in.n, req->in.enc_steps, req->in.dec_steps);
        size_t c = tft_v2_output_floats(m, &req->in, 1u << k);
        if (req->binary & (1u << k)) {
            tft_jw_lit(&o, ",\"parameters\":{\"binary_data_size\":");
            tft_jw_int(&o, (long long)(c * 4));
            tft_jw_lit(&o, "}}");
        } else {
            tft_jw_lit(&o, ",\"data\":[");
            tft_jw_floats(&o, out_field(out, k), c);
            tft_jw_lit(&o, "]}");
        }
    }
    tft_jw_lit(&o, "]}");
    size_t jl = o.n;
    for (int i = 0; i < n && !o.full; i++) { // the binary section, little-endian FP32 as in memory
        size_t c = tft_v2_output_floats(m, &req->in, 1u << order[i]);
        if ((req->binary & (1u << order[i])) && c) tft_jw_raw(&o, (const char *)out_field(out, order[i]), 4 * c);
    }
    ssize_t r = tft_jw_finish(&o);
    if (r >= 0 && json_len) *json_len = jl;
    return r;
}

size_t tft_v2_infer_bound(const tft_model *m, const char *model_name, const char *model_version,
                          const tft_v2_infer *req) {
    if (!m || !req) return 0;
    // strings escape to at most 6 bytes a byte (\u00XX); a float is at most 15 characters ("%.9g":
    // "-1.23456789e-38") plus a comma, or 4 bytes when binary; 192 bytes of framing per output (name,
    // datatype, a shape of 10-digit dims, binary_data_size)
    size_t n = 256 + 6 * (strlen(model_name ? model_name : "") + strlen(model_version ? model_version : "") +
                          strlen(req->id ? req->id : ""));
    for (int k = 0; k < N_OUT; k++)
        if (req->want & (1u << k))
            n += 192 + (req->binary & (1u << k) ? 4 : 16) * tft_v2_output_floats(m, &req->in, 1u << k);
    return n;
}

static void put_tensor_meta(tft_jw *o, const tft_model_info *mi, const tdesc *td, int first) {
    tft_jw_lit(o, first ? "{\"name\":" : ",{\"name\":");
    tft_jw_str(o, td->name);
    tft_jw_lit(o, td->is_int ? ",\"datatype\":\"INT32\",\"shape\":" : ",\"datatype\":\"FP32\",\"shape\":");
    put_shape(o, mi, td, -1, -1, -1);
    tft_jw_lit(o, "}");
}

static void put_names(tft_jw *o, const char *const *names, int32_t n) {
    tft_jw_lit(o, "[");
    for (int32_t i = 0; i < n; i++) {
        if (i) tft_jw_lit(o, ",");
        tft_jw_str(o, names[i] ? names[i] : "");
    }
    tft_jw_lit(o, "]");
}

ssize_t tft_v2_write_model_metadata(char *buf, size_t cap, const tft_model *m, const char *name,
                                    const char *version) {
    if ((!buf && cap) || !m) return TFT_RESP_E_ARG;
    const tft_model_info *mi = tft_model_get_info(m);
    for (int32_t q = 0; q < mi->n_quantiles; q++)
        if (!isfinite(mi->quantiles[q])) return TFT_RESP_E_NONFINITE;
    tft_jw o = {buf, cap, 0, 0};
    tft_jw_lit(&o, "{\"name\":");
    tft_jw_str(&o, name ? name : "");
    tft_jw_lit(&o, ",\"versions\":[");
    if (version) tft_jw_str(&o, version);
    tft_jw_lit(&o, "],\"platform\":\"tft_native\",\"inputs\":[");
    int first = 1;
    for (int k = 0; k < N_IN; k++) {
        if (mi->n_cats == 0 && in_desc[k].is_int && in_desc[k].rank == 3) continue; // no categoricals
        put_tensor_meta(&o, mi, &in_desc[k], first);
        first = 0;
    }
    tft_jw_lit(&o, "],\"outputs\":[");
    for (int k = 0; k < N_OUT; k++) put_tensor_meta(&o, mi, &out_desc[k], k == 0);
    // what the -1 dims may be, and what the columns are (beyond the protocol's fields: clients that
    // synthesize inputs read them; others ignore them)
    tft_jw_lit(&o, "],\"parameters\":{\"max_encoder_length\":");
    tft_jw_int(&o, mi->max_encoder_length);
    tft_jw_lit(&o, ",\"min_encoder_length\":");
    tft_jw_int(&o, mi->min_encoder_length);
    tft_jw_lit(&o, ",\"max_prediction_length\":");
    tft_jw_int(&o, mi->max_prediction_length);
    tft_jw_lit(&o, ",\"min_prediction_length\":");
    tft_jw_int(&o, mi->min_prediction_length);
    tft_jw_lit(&o, ",\"quantiles\":[");
    tft_jw_levels(&o, mi->quantiles, (size_t)mi->n_quantiles);
    tft_jw_lit(&o, "],\"targets\":");
    put_names(&o, mi->targets, mi->n_targets);
    tft_jw_lit(&o, ",\"reals\":");
    put_names(&o, mi->reals, mi->n_reals);
    tft_jw_lit(&o, ",\"categoricals\":");
    put_names(&o, mi->cats, mi->n_cats);
    tft_jw_lit(&o, ",\"static_variables\":");
    put_names(&o, mi->static_vars, mi->n_static_vars);
    tft_jw_lit(&o, ",\"encoder_variables\":");
    put_names(&o, mi->encoder_vars, mi->n_encoder_vars);
    tft_jw_lit(&o, ",\"decoder_variables\":");
    put_names(&o, mi->decoder_vars, mi->n_decoder_vars);
    tft_jw_lit(&o, ",\"sha256\":");
    tft_jw_str(&o, mi->sha256 ? mi->sha256 : "");
    tft_jw_lit(&o, "}}");
    return tft_jw_finish(&o);
}

ssize_t tft_v2_write_server_metadata(char *buf, size_t cap) {
    if (!buf && cap) return TFT_RESP_E_ARG;
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", TFT_VERSION_MAJOR, TFT_VERSION_MINOR, TFT_VERSION_PATCH);
    tft_jw o = {buf, cap, 0, 0};
    tft_jw_lit(&o, "{\"name\":\"tft\",\"version\":");
    tft_jw_str(&o, v);
    tft_jw_lit(&o, ",\"extensions\":[\"binary_tensor_data\"]}");
    return tft_jw_finish(&o);
}

ssize_t tft_v2_write_error(char *buf, size_t cap, const char *message) {
    if (!buf && cap) return TFT_RESP_E_ARG;
    tft_jw o = {buf, cap, 0, 0};
    tft_jw_lit(&o, "{\"error\":");
    tft_jw_str(&o, message ? message : "");
    tft_jw_lit(&o, "}");
    return tft_jw_finish(&o);
}
