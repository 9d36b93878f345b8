// test_kserve.c: the KServe v2 (Open Inference Protocol) codec, server/kserve.c.
//  - every golden fixture's network-level tensors (weights/goldens/*/fixture.safetensors) encoded as
//    a v2 request in several ways (JSON flat, JSON nested, binary, INT64/FP64, mixed): the decoded
//    tensors equal the fixture's bitwise, and tft_predict_net on them equals tft_predict_net on the
//    fixture's arrays bitwise, every output
//  - the infer response, JSON and binary, parsed back (the loader's strict parser): names, shapes,
//    values bitwise, binary bytes; every smaller buffer is "too small"; NaN output is an error
//  - model and server metadata parse and name every input and output
//  - a table of bad requests (40 cases): http class, code, the tensor in "field", a message
//  - limits and an arena too small at every size below the need: 413, never an overrun
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../engine/tft.h"
#include "../loader/json.h"
#include "../loader/loader.h"
#include "../server/json_in.h"
#include "../server/json_out.h"
#include "../server/kserve.h"

#define GOLDEN_DIR "weights/goldens"
#define ARENA_BYTES (16u << 20)

static void *arena_mem;

enum { K_ENC_CAT, K_ENC_CONT, K_DEC_CAT, K_DEC_CONT, K_ENC_LEN, K_DEC_LEN, K_SCALE, NK };
static const char *const NAMES[NK] = {"encoder_cat",     "encoder_cont",    "decoder_cat", "decoder_cont",
                                      "encoder_lengths", "decoder_lengths", "target_scale"};
static const char *const OUT_NAMES[7] = {"prediction",        "prediction_normalized", "encoder_attention",
                                         "decoder_attention", "static_weights",        "encoder_weights",
                                         "decoder_weights"};

// A fixture's model and network-level inputs.
typedef struct net {
    char       name[64];
    tft_model *m;
    int        B, Te, Td, Nc, Nr, nt;
    void      *t[NK]; // int32_t or float arrays, as tft_net_input has them
} net;

static int is_int(int k) { return k == K_ENC_CAT || k == K_DEC_CAT || k == K_ENC_LEN || k == K_DEC_LEN; }

static int shape_of(const net *n, int k, int64_t *s) {
    switch (k) {
    case K_ENC_CAT: s[0] = n->B, s[1] = n->Te, s[2] = n->Nc; return 3;
    case K_ENC_CONT: s[0] = n->B, s[1] = n->Te, s[2] = n->Nr; return 3;
    case K_DEC_CAT: s[0] = n->B, s[1] = n->Td, s[2] = n->Nc; return 3;
    case K_DEC_CONT: s[0] = n->B, s[1] = n->Td, s[2] = n->Nr; return 3;
    case K_SCALE: s[0] = n->B, s[1] = n->nt, s[2] = 2; return 3;
    default: s[0] = n->B; return 1;
    }
}
static size_t count_of(const net *n, int k) {
    int64_t s[3];
    int     r = shape_of(n, k, s);
    size_t  c = 1;
    for (int i = 0; i < r; i++) c *= (size_t)s[i];
    return c;
}

static void *tensor_copy(const tft_ld_file *f, const char *name, size_t nelem) {
    const tft_ld_tensor *t = tft_ld_find(f, name);
    if (!t || (size_t)t->nelem != nelem) return NULL;
    void *p = calloc(nelem ? nelem : 1, 4);
    memcpy(p, t->data, t->nbytes);
    return p;
}

static int net_open(net *n, const char *dir) {
    char path[512];
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", dir);
    snprintf(path, sizeof path, GOLDEN_DIR "/%s/model.safetensors", dir);
    if (tft_model_load(path, NULL, &n->m) != TFT_OK) return -1;
    snprintf(path, sizeof path, GOLDEN_DIR "/%s/fixture.safetensors", dir);
    tft_ld_file *f;
    if (tft_ld_open(path, &f, NULL) != TFT_OK) return -1;
    const tft_model_info *mi = tft_model_get_info(n->m);
    const tft_ld_tensor  *ec = tft_ld_find(f, "encoder_cont"), *dc = tft_ld_find(f, "decoder_cont");
    n->B = (int)ec->shape[0], n->Te = (int)ec->shape[1], n->Td = (int)dc->shape[1];
    n->Nc = mi->n_cats, n->Nr = mi->n_reals, n->nt = mi->n_targets;
    int ok = 1;
    for (int k = 0; k < NK; k++) ok &= (n->t[k] = tensor_copy(f, NAMES[k], count_of(n, k))) != NULL;
    tft_ld_close(f);
    return ok ? 0 : -1;
}

static void net_close(net *n) {
    for (int k = 0; k < NK; k++) free(n->t[k]);
    tft_model_free(n->m);
}

static tft_net_input net_input(const net *n) {
    tft_net_input in = {.n = n->B, .enc_steps = n->Te, .dec_steps = n->Td};
    in.encoder_cat = n->t[K_ENC_CAT], in.encoder_cont = n->t[K_ENC_CONT], in.decoder_cat = n->t[K_DEC_CAT];
    in.decoder_cont = n->t[K_DEC_CONT], in.encoder_lengths = n->t[K_ENC_LEN];
    in.decoder_lengths = n->t[K_DEC_LEN], in.target_scale = n->t[K_SCALE];
    return in;
}

// ------------------------------------------------------------------------------------------------
// a v2 request encoder (independent of the codec: fprintf and fwrite)

typedef struct bopt {
    unsigned    binary;   // bit k: tensor k as binary data
    unsigned    nested;   // bit k: JSON data nested per shape
    unsigned    wide;     // bit k: INT64 / FP64
    unsigned    omit;     // bit k: left out
    int         cats0;    // Nc == 0: give the (empty) cat tensors anyway
    int         dup;      // tensor given a second time (-1: none; 0 means none too, use dup1)
    int         dup1;     // dup + 1 (so a zeroed bopt has no duplicate)
    int         short_k1; // k + 1: drop the last value of tensor k's flat JSON data
    const char *outputs;  // raw JSON of "outputs", or NULL
    const char *params;   // raw JSON of "parameters", or NULL
    const char *id;
} bopt;

typedef struct built {
    char  *body; // JSON header, then the binary section; NUL after len (not counted)
    size_t len, json_len;
    size_t off[NK]; // binary offsets in the section
} built;

static void put_value(FILE *J, const net *n, int k, size_t i, int wide) {
    if (is_int(k)) fprintf(J, "%d", ((const int32_t *)n->t[k])[i]);
    else if (wide) fprintf(J, "%.17g", (double)((const float *)n->t[k])[i]);
    else fprintf(J, "%.9g", (double)((const float *)n->t[k])[i]);
}

static void put_tensor(FILE *J, FILE *Bf, const net *n, int k, const bopt *o, built *b, int first) {
    int64_t s[3];
    int     rank = shape_of(n, k, s);
    size_t  c    = count_of(n, k);
    int     wide = (o->wide >> k) & 1;
    fprintf(J, "%s{\"name\":\"%s\",\"datatype\":\"%s\",\"shape\":[", first ? "" : ",", NAMES[k],
            is_int(k) ? (wide ? "INT64" : "INT32") : (wide ? "FP64" : "FP32"));
    for (int r = 0; r < rank; r++) fprintf(J, "%s%lld", r ? "," : "", (long long)s[r]);
    fprintf(J, "]");
    if ((o->binary >> k) & 1) {
        size_t es = wide ? 8 : 4;
        fprintf(J, ",\"parameters\":{\"binary_data_size\":%zu}}", c * es);
        b->off[k] = (size_t)ftell(Bf);
        for (size_t i = 0; i < c; i++) {
            if (!wide) fwrite((const char *)n->t[k] + 4 * i, 4, 1, Bf);
            else if (is_int(k)) {
                int64_t v = ((const int32_t *)n->t[k])[i];
                fwrite(&v, 8, 1, Bf);
            } else {
                double v = ((const float *)n->t[k])[i];
                fwrite(&v, 8, 1, Bf);
            }
        }
        return;
    }
    fprintf(J, ",\"data\":[");
    if ((o->nested >> k) & 1 && rank == 3) {
        size_t i = 0;
        for (int64_t a = 0; a < s[0]; a++) {
            fprintf(J, "%s[", a ? "," : "");
            for (int64_t t = 0; t < s[1]; t++) {
                fprintf(J, "%s[", t ? "," : "");
                for (int64_t x = 0; x < s[2]; x++, i++) {
                    if (x) fputc(',', J);
                    put_value(J, n, k, i, wide);
                }
                fprintf(J, "]");
            }
            fprintf(J, "]");
        }
    } else {
        size_t m = c - (o->short_k1 == k + 1 && c > 0);
        for (size_t i = 0; i < m; i++) {
            if (i) fputc(',', J);
            put_value(J, n, k, i, wide);
        }
    }
    fprintf(J, "]}");
}

static built build(const net *n, const bopt *o) {
    built  b = {0};
    char  *js = NULL, *bs = NULL;
    size_t jn = 0, bn = 0;
    FILE  *J = open_memstream(&js, &jn), *Bf = open_memstream(&bs, &bn);
    fputc('{', J);
    if (o->id) fprintf(J, "\"id\":\"%s\",", o->id);
    if (o->params) fprintf(J, "\"parameters\":%s,", o->params);
    fprintf(J, "\"inputs\":[");
    int first = 1;
    for (int k = 0; k < NK; k++) {
        if ((o->omit >> k) & 1) continue;
        if (n->Nc == 0 && (k == K_ENC_CAT || k == K_DEC_CAT) && !o->cats0) continue;
        put_tensor(J, Bf, n, k, o, &b, first);
        first = 0;
    }
    if (o->dup1) put_tensor(J, Bf, n, o->dup1 - 1, o, &b, 0);
    fputc(']', J);
    if (o->outputs) fprintf(J, ",\"outputs\":%s", o->outputs);
    fputc('}', J);
    fclose(J), fclose(Bf);
    b.json_len = jn, b.len = jn + bn;
    b.body     = malloc(b.len + 1);
    memcpy(b.body, js, jn);
    if (bn) memcpy(b.body + jn, bs, bn);
    b.body[b.len] = 0;
    free(js), free(bs);
    return b;
}

// Decodes a copy of [body, body+len) (the decoder modifies it; the copy is kept in *keep).
static int decode(const tft_model *m, const char *body, size_t len, size_t json_len, const tft_req_limits *lim,
                  size_t arena_cap, char **keep, tft_v2_infer *r, tft_req_error *e) {
    *keep = malloc(len + 1);
    memcpy(*keep, body, len);
    (*keep)[len] = 0;
    tft_req_arena a;
    tft_req_arena_init(&a, arena_mem, arena_cap ? arena_cap : ARENA_BYTES, lim);
    int rc = tft_v2_decode_infer(m, *keep, len, json_len, &a, r, e);
    if (rc == 0 && a.used > a.cap) fail_msg("arena overrun: used %zu > cap %zu", a.used, a.cap);
    return rc;
}

static void same_tensors(const net *n, const tft_net_input *in) {
    assert_int_equal(in->n, n->B);
    assert_int_equal(in->enc_steps, n->Te);
    assert_int_equal(in->dec_steps, n->Td);
    const void *got[NK] = {in->encoder_cat,     in->encoder_cont,    in->decoder_cat, in->decoder_cont,
                           in->encoder_lengths, in->decoder_lengths, in->target_scale};
    for (int k = 0; k < NK; k++) {
        size_t c = count_of(n, k);
        if (c == 0) continue; // Nc == 0: the cat tensors may be absent
        assert_non_null(got[k]);
        assert_true(((uintptr_t)got[k] & 15) == 0);
        if (memcmp(got[k], n->t[k], 4 * c) != 0) fail_msg("%s: %s differs after decoding", n->name, NAMES[k]);
    }
}

// all seven outputs of tft_predict_net
typedef struct outs {
    float         *f[7];
    tft_net_output o;
} outs;

static outs outs_new(const tft_model *m, const tft_net_input *in) {
    outs r;
    for (int k = 0; k < 7; k++) r.f[k] = calloc(tft_v2_output_floats(m, in, 1u << k) + 1, 4);
    r.o = (tft_net_output){r.f[1], r.f[0], r.f[2], r.f[3], r.f[4], r.f[5], r.f[6]};
    return r;
}
static void outs_free(outs *r) {
    for (int k = 0; k < 7; k++) free(r->f[k]);
}

static void predict(const tft_model *m, const tft_net_input *in, outs *r) {
    tft_context_params cp = tft_context_default_params();
    cp.max_batch          = in->n;
    tft_context *c        = NULL;
    assert_int_equal(tft_context_new(m, &cp, &c), TFT_OK);
    tft_status st = tft_predict_net(c, in, &r->o);
    if (st != TFT_OK) fail_msg("tft_predict_net: %s: %s", tft_status_str(st), tft_last_error());
    tft_context_free(c);
}

static const tft_json *parse(const char *text, size_t len, tft_json **doc) {
    char            err[200];
    tft_json_limits lim = tft_json_default_limits();
    if (tft_json_parse(text, len, &lim, doc, err, sizeof err) != 0) fail_msg("not JSON: %s: %.300s", err, text);
    return *doc;
}

// The response parsed back: every output of req with its shape and values (JSON or binary).
static void check_response(const net *n, const tft_v2_infer *req, const outs *r, const char *buf, size_t len,
                           size_t json_len) {
    tft_json       *doc;
    const tft_json *root = parse(buf, json_len, &doc);
    assert_string_equal(tft_json_get(root, "model_name")->str, n->name);
    assert_string_equal(tft_json_get(root, "model_version")->str, "1");
    if (req->id) assert_string_equal(tft_json_get(root, "id")->str, req->id);
    const tft_json *os   = tft_json_get(root, "outputs");
    uint32_t        seen = 0;
    size_t          boff = json_len;
    for (const tft_json *o = os->child; o; o = o->next) {
        int k = 0;
        while (k < 7 && strcmp(tft_json_get(o, "name")->str, OUT_NAMES[k]) != 0) k++;
        assert_true(k < 7);
        assert_true(req->want & (1u << k));
        assert_false(seen & (1u << k));
        seen |= 1u << k;
        assert_string_equal(tft_json_get(o, "datatype")->str, "FP32");
        size_t c = tft_v2_output_floats(n->m, &req->in, 1u << k), prod = 1;
        for (const tft_json *s = tft_json_get(o, "shape")->child; s; s = s->next) {
            int64_t v;
            assert_int_equal(tft_json_i64(s, &v), 0);
            prod *= (size_t)v;
        }
        assert_int_equal(prod, c);
        if (req->binary & (1u << k)) {
            assert_null(tft_json_get(o, "data"));
            int64_t bs;
            assert_int_equal(tft_json_i64(tft_json_get(tft_json_get(o, "parameters"), "binary_data_size"), &bs), 0);
            assert_int_equal((size_t)bs, 4 * c);
            assert_true(boff + 4 * c <= len);
            if (memcmp(buf + boff, r->f[k], 4 * c) != 0) fail_msg("%s: binary %s differs", n->name, OUT_NAMES[k]);
            boff += 4 * c;
        } else {
            const tft_json *data = tft_json_get(o, "data");
            assert_int_equal(data->len, (uint32_t)c);
            size_t i = 0;
            for (const tft_json *v = data->child; v; v = v->next, i++) {
                float x = (float)v->num;
                if (memcmp(&x, &r->f[k][i], 4) != 0)
                    fail_msg("%s: %s[%zu] = %.9g, want %.9g", n->name, OUT_NAMES[k], i, x, r->f[k][i]);
            }
        }
    }
    assert_int_equal(seen, req->want);
    assert_int_equal(boff, len);
    tft_json_free(doc);
}

// ------------------------------------------------------------------------------------------------
// round trips on every fixture

static void round_trip(const net *n, const bopt *o, const char *what) {
    built         b = build(n, o);
    char         *keep;
    tft_v2_infer  r;
    tft_req_error e;
    if (decode(n->m, b.body, b.len, b.json_len, NULL, 0, &keep, &r, &e) != 0)
        fail_msg("%s/%s: %d %s [%s]: %s", n->name, what, e.http, e.code, e.field, e.message);
    same_tensors(n, &r.in);
    // the network on the decoded tensors: bitwise the network on the fixture's arrays
    tft_net_input orig = net_input(n);
    outs          want = outs_new(n->m, &orig), got = outs_new(n->m, &r.in);
    predict(n->m, &orig, &want);
    predict(n->m, &r.in, &got);
    for (int k = 0; k < 7; k++) {
        size_t c = tft_v2_output_floats(n->m, &orig, 1u << k);
        if (memcmp(want.f[k], got.f[k], 4 * c) != 0) fail_msg("%s/%s: %s differs", n->name, what, OUT_NAMES[k]);
    }
    // the response: requested outputs (all when the request names them), JSON and binary as asked
    size_t  cap = tft_v2_infer_bound(n->m, n->name, "1", &r);
    char   *out = malloc(cap);
    size_t  jl  = 0;
    ssize_t len = tft_v2_write_infer(out, cap, n->m, n->name, "1", &r, &got.o, &jl);
    if (len < 0) fail_msg("%s/%s: write_infer %zd", n->name, what, len);
    assert_true((size_t)len <= cap);
    check_response(n, &r, &got, out, (size_t)len, jl);
    if (!r.binary) assert_int_equal(jl, (size_t)len);
    // every smaller buffer: too small, and no write past it (ASan)
    for (size_t small = 0; small < (size_t)len; small += small < 64 ? 1 : 1 + small / 3) {
        char *sb = malloc(small ? small : 1);
        assert_int_equal(tft_v2_write_infer(sb, small, n->m, n->name, "1", &r, &got.o, NULL), TFT_RESP_E_SMALL);
        free(sb);
    }
    free(out), free(keep), free(b.body);
    outs_free(&want), outs_free(&got);
}

static void test_round_trips(void **state) {
    (void)state;
    DIR *dir = opendir(GOLDEN_DIR);
    assert_non_null(dir);
    struct dirent *de;
    int            fixtures = 0;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.') continue;
        net n;
        if (net_open(&n, de->d_name) != 0) fail_msg("cannot open fixture %s", de->d_name);
        const char *all = "[{\"name\":\"prediction\"},{\"name\":\"prediction_normalized\"},{\"name\":"
                          "\"encoder_attention\"},{\"name\":\"decoder_attention\"},{\"name\":\"static_weights\"},"
                          "{\"name\":\"encoder_weights\"},{\"name\":\"decoder_weights\"}]";
        const char *all_bin = "[{\"name\":\"decoder_weights\",\"parameters\":{\"binary_data\":true}},{\"name\":"
                              "\"prediction\",\"parameters\":{\"binary_data\":false}},{\"name\":\"encoder_attention\"},"
                              "{\"name\":\"static_weights\",\"parameters\":{\"binary_data\":true}},"
                              "{\"name\":\"prediction_normalized\"},{\"name\":\"decoder_attention\"},"
                              "{\"name\":\"encoder_weights\"}]";
        bopt o1 = {.id = "json-flat", .outputs = all};
        round_trip(&n, &o1, "json flat");
        bopt o2 = {.nested = 0x7f, .id = "nested"};
        round_trip(&n, &o2, "json nested");
        bopt o3 = {.binary = 0x7f, .params = "{\"binary_data_output\":true,\"priority\":0}", .outputs = all_bin};
        round_trip(&n, &o3, "binary");
        bopt o4 = {.binary = 0x55, .wide = 0x7f, .params = "{\"binary_data_output\":true}"};
        round_trip(&n, &o4, "binary wide");
        bopt o5 = {.binary = 0x2a, .wide = 0x0f, .nested = 0x41, .cats0 = 1, .outputs = "[]"};
        round_trip(&n, &o5, "mixed");
        fixtures++;
        net_close(&n);
    }
    closedir(dir);
    assert_true(fixtures >= 2);
}

// ------------------------------------------------------------------------------------------------
// metadata

static void test_metadata(void **state) {
    (void)state;
    const char *dirs[2] = {"group_softplus", "identity_minimal"}; // Nc = 3, Nc = 0
    for (int f = 0; f < 2; f++) {
        net n;
        assert_int_equal(net_open(&n, dirs[f]), 0);
        const tft_model_info *mi = tft_model_get_info(n.m);
        char                  buf[16384];
        ssize_t               len = tft_v2_write_model_metadata(buf, sizeof buf, n.m, "my \"model\"", "3");
        assert_true(len > 0);
        tft_json       *doc;
        const tft_json *root = parse(buf, (size_t)len, &doc);
        assert_string_equal(tft_json_get(root, "name")->str, "my \"model\"");
        assert_string_equal(tft_json_at(tft_json_get(root, "versions"), 0)->str, "3");
        assert_non_null(tft_json_get(root, "platform")->str);
        const tft_json *ins = tft_json_get(root, "inputs");
        uint32_t        seen = 0;
        for (const tft_json *t = ins->child; t; t = t->next) {
            int k = 0;
            while (k < NK && strcmp(tft_json_get(t, "name")->str, NAMES[k]) != 0) k++;
            assert_true(k < NK);
            seen |= 1u << k;
            assert_string_equal(tft_json_get(t, "datatype")->str, is_int(k) ? "INT32" : "FP32");
            const tft_json *sh = tft_json_get(t, "shape");
            int64_t         d0, d1;
            assert_int_equal(tft_json_i64(tft_json_at(sh, 0), &d0), 0);
            assert_int_equal(d0, -1); // the batch
            if (sh->len == 3) {
                int64_t d2;
                assert_int_equal(tft_json_i64(tft_json_at(sh, 1), &d1), 0);
                assert_int_equal(tft_json_i64(tft_json_at(sh, 2), &d2), 0);
                assert_int_equal(d1, k == K_SCALE ? mi->n_targets : -1);
                assert_int_equal(d2, k == K_SCALE ? 2 : is_int(k) ? mi->n_cats : mi->n_reals);
            }
        }
        assert_int_equal(seen, mi->n_cats ? 0x7fu : 0x7au); // no cat tensors when Nc == 0
        seen = 0;
        for (const tft_json *t = tft_json_get(root, "outputs")->child; t; t = t->next) {
            int k = 0;
            while (k < 7 && strcmp(tft_json_get(t, "name")->str, OUT_NAMES[k]) != 0) k++;
            assert_true(k < 7);
            seen |= 1u << k;
            assert_string_equal(tft_json_get(t, "datatype")->str, "FP32");
        }
        assert_int_equal(seen, 0x7fu);
        int64_t te;
        assert_int_equal(tft_json_i64(tft_json_get(tft_json_get(root, "parameters"), "max_encoder_length"), &te), 0);
        assert_int_equal(te, mi->max_encoder_length);
        tft_json_free(doc);
        for (size_t cap = 0; cap < (size_t)len; cap += 7)
            assert_int_equal(tft_v2_write_model_metadata(buf, cap, n.m, "my \"model\"", "3"), TFT_RESP_E_SMALL);
        net_close(&n);
    }
    char    buf[256];
    ssize_t len = tft_v2_write_server_metadata(buf, sizeof buf);
    assert_true(len > 0);
    tft_json       *doc;
    const tft_json *root = parse(buf, (size_t)len, &doc);
    assert_string_equal(tft_json_get(root, "name")->str, "tft");
    assert_non_null(tft_json_get(root, "version")->str);
    assert_string_equal(tft_json_at(tft_json_get(root, "extensions"), 0)->str, "binary_tensor_data");
    tft_json_free(doc);
    len = tft_v2_write_error(buf, sizeof buf, "bad \"x\"\n");
    root = parse(buf, (size_t)len, &doc);
    assert_string_equal(tft_json_get(root, "error")->str, "bad \"x\"\n");
    tft_json_free(doc);
}

// ------------------------------------------------------------------------------------------------
// bad requests

static net gs; // group_softplus: B 8, Te 24, Td 6, Nc 3, Nr 9, nt 1

static int setup(void **state) {
    (void)state;
    arena_mem = malloc(ARENA_BYTES);
    return arena_mem && net_open(&gs, "group_softplus") == 0 ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    net_close(&gs);
    free(arena_mem);
    return 0;
}

// The JSON header with the first `from` replaced by `to` (the binary section kept after it).
static built with(const built *b, const char *from, const char *to) {
    char *at = strstr(b->body, from);
    if (!at || (size_t)(at - b->body) >= b->json_len) fail_msg("request has no '%s'", from);
    built  r   = *b;
    size_t pre = (size_t)(at - b->body), fl = strlen(from), tl = strlen(to);
    r.len      = b->len - fl + tl;
    r.json_len = b->json_len - fl + tl;
    r.body     = malloc(r.len + 1);
    memcpy(r.body, b->body, pre);
    memcpy(r.body + pre, to, tl);
    memcpy(r.body + pre + tl, at + fl, b->len - pre - fl);
    r.body[r.len] = 0;
    return r;
}

static void expect(const built *b, size_t len, size_t json_len, const tft_req_limits *lim, size_t arena_cap,
                   int http, const char *code, const char *field, const char *what) {
    char         *keep;
    tft_v2_infer  r;
    tft_req_error e;
    int           rc = decode(gs.m, b->body, len, json_len, lim, arena_cap, &keep, &r, &e);
    if (rc == 0) fail_msg("%s: decoded, want %d %s", what, http, code);
    if (e.http != http || strcmp(e.code, code) != 0)
        fail_msg("%s: got %d %s [%s] (%s), want %d %s", what, e.http, e.code, e.field, e.message, http, code);
    if (field && !strstr(e.field, field))
        fail_msg("%s: field '%s' does not name '%s' (%s)", what, e.field, field, e.message);
    assert_true(e.message[0] != 0);
    assert_int_equal(e.series, -1);
    // both error bodies are JSON
    char     out[1024];
    ssize_t  n = tft_resp_write_error(out, sizeof out, e.code, e.message, e.series, e.field);
    tft_json *doc;
    assert_true(n > 0);
    parse(out, (size_t)n, &doc);
    tft_json_free(doc);
    n = tft_v2_write_error(out, sizeof out, e.message);
    assert_true(n > 0);
    parse(out, (size_t)n, &doc);
    tft_json_free(doc);
    free(keep);
}

static void bad_with(const built *base, const char *from, const char *to, int http, const char *code,
                     const char *field) {
    built b = with(base, from, to);
    char  what[200];
    snprintf(what, sizeof what, "'%s' -> '%s'", from, to);
    expect(&b, b.len, b.json_len, NULL, 0, http, code, field, what);
    free(b.body);
}

static void bad_opt(const bopt *o, int http, const char *code, const char *field, const char *what) {
    built b = build(&gs, o);
    expect(&b, b.len, b.json_len, NULL, 0, http, code, field, what);
    free(b.body);
}

static void test_bad_requests(void **state) {
    (void)state;
    bopt  jo = {.id = "x"};
    built j  = build(&gs, &jo); // all JSON
    bopt  bo = {.binary = 0x7f};
    built bb = build(&gs, &bo); // all binary
    // sanity: both decode
    char         *keep;
    tft_v2_infer  r;
    tft_req_error e;
    assert_int_equal(decode(gs.m, j.body, j.len, j.json_len, NULL, 0, &keep, &r, &e), 0);
    assert_int_equal(r.want, (uint32_t)TFT_V2_OUT_PREDICTION);
    assert_int_equal(r.binary, 0u);
    assert_string_equal(r.id, "x");
    free(keep);
    assert_int_equal(decode(gs.m, bb.body, bb.len, bb.json_len, NULL, 0, &keep, &r, &e), 0);
    free(keep);

    // 400: JSON
    expect(&j, j.json_len - 1, j.json_len - 1, NULL, 0, 400, "malformed_json", NULL, "truncated JSON");
    bad_with(&j, "\"inputs\":[{", "\"inputs\":[,{", 400, "malformed_json", NULL);
    bad_with(&j, "{\"id\":\"x\",", "{\"id\":\"x\",\"id\":\"y\",", 400, "duplicate_key", "id");
    bad_with(&j, "\"name\":\"target_scale\",", "\"name\":\"target_scale\",\"name\":\"target_scale\",", 400,
             "duplicate_key", "name");
    // 422: request schema
    bad_with(&j, "{\"id\":\"x\",", "{\"id\":\"x\",\"foo\":1,", 422, "unknown_key", "foo");
    bad_with(&j, "{\"id\":\"x\",", "{\"id\":7,", 422, "wrong_type", "id");
    bad_with(&j, "\"inputs\":", "\"input\":", 422, "unknown_key", "input");
    {
        char *s = strdup("{\"id\":\"x\",\"outputs\":[]}");
        built nb = {.body = s, .len = strlen(s), .json_len = strlen(s)};
        expect(&nb, nb.len, nb.len, NULL, 0, 422, "missing_field", "inputs", "no inputs");
        free(s);
    }
    bad_with(&j, "{\"id\":\"x\",", "{\"id\":\"x\",\"parameters\":{\"binary_data_output\":1},", 422, "wrong_type",
             "binary_data_output");
    bad_with(&j, "\"name\":\"target_scale\",", "\"name\":\"target_scale\",\"extra\":1,", 422, "unknown_key",
             "extra");
    {
        char  *s = strdup("[1,2]");
        built  nb = {.body = s, .len = 5, .json_len = 5};
        expect(&nb, 5, 5, NULL, 0, 422, "not_an_object", NULL, "array body");
        free(s);
    }
    // 422: inputs
    bad_with(&j, "\"name\":\"encoder_cont\",\"datatype\":\"FP32\"", "\"name\":\"encoder_cont\",\"datatype\":\"FP16\"",
             422, "bad_datatype", "encoder_cont");
    bad_with(&j, "\"name\":\"encoder_cont\",\"datatype\":\"FP32\"", "\"name\":\"encoder_cont\",\"datatype\":\"FLOAT\"",
             422, "bad_datatype", "encoder_cont");
    bad_with(&j, "\"name\":\"encoder_lengths\",\"datatype\":\"INT32\"",
             "\"name\":\"encoder_lengths\",\"datatype\":\"FP32\"", 422, "bad_datatype", "encoder_lengths");
    bad_with(&j, "\"name\":\"encoder_cont\",\"datatype\":\"FP32\",\"shape\":[8,24,9]",
             "\"name\":\"encoder_cont\",\"datatype\":\"FP32\",\"shape\":[8,216]", 422, "bad_shape", "encoder_cont");
    bad_with(&j, "\"name\":\"encoder_cont\",\"datatype\":\"FP32\",\"shape\":[8,24,9]",
             "\"name\":\"encoder_cont\",\"datatype\":\"FP32\",\"shape\":[8,27,8]", 422, "bad_shape", "encoder_cont");
    bad_with(&j, "\"name\":\"target_scale\",\"datatype\":\"FP32\",\"shape\":[8,1,2]",
             "\"name\":\"target_scale\",\"datatype\":\"FP32\",\"shape\":[8,1,-2]", 422, "bad_shape", "target_scale");
    bad_with(&j, "\"name\":\"target_scale\",\"datatype\":\"FP32\",\"shape\":[8,1,2]",
             "\"name\":\"target_scale\",\"datatype\":\"FP32\",\"shape\":[8,1,2.0]", 422, "bad_shape", "target_scale");
    bad_with(&j, "\"name\":\"decoder_cont\",\"datatype\":\"FP32\",\"shape\":[8,6,9]",
             "\"name\":\"decoder_cont\",\"datatype\":\"FP32\",\"shape\":[6,8,9]", 422, "shape_mismatch",
             "decoder_cont");
    bad_with(&j, "\"name\":\"encoder_cat\",\"datatype\":\"INT32\",\"shape\":[8,24,3]",
             "\"name\":\"encoder_cat\",\"datatype\":\"INT32\",\"shape\":[8,12,3]", 422, "shape_mismatch",
             "encoder_cat");
    bad_with(&j, "\"name\":\"decoder_lengths\"", "\"name\":\"decoder_length\"", 422, "unknown_input",
             "decoder_length");
    bad_with(&j, "\"name\":\"decoder_lengths\",\"datatype\":\"INT32\",\"shape\":[8],\"data\"",
             "\"name\":\"decoder_lengths\",\"datatype\":\"INT32\",\"shape\":[8],\"parameters\":{"
             "\"binary_data_size\":32},\"data\"",
             422, "conflicting_data", "decoder_lengths");
    bad_with(&j, "\"name\":\"decoder_lengths\",\"datatype\":\"INT32\",\"shape\":[8],\"data\"",
             "\"name\":\"decoder_lengths\",\"datatype\":\"INT32\",\"shape\":[8],\"parameters\":{"
             "\"shared_memory_region\":\"r\"},\"data\"",
             422, "unsupported", "decoder_lengths");
    bad_with(&j, "\"name\":\"decoder_lengths\",\"datatype\":\"INT32\",\"shape\":[8],\"data\":",
             "\"name\":\"decoder_lengths\",\"datatype\":\"INT32\",\"shape\":[8],\"dat\":", 422, "unknown_key", "dat");
    bad_with(&j, "\"name\":\"decoder_lengths\",\"datatype\":\"INT32\",\"shape\":[8],\"data\":[",
             "\"name\":\"decoder_lengths\",\"datatype\":\"INT32\",\"shape\":[8],\"data\":[\"6\",", 422,
             "count_mismatch", "decoder_lengths");
    bopt o;
    o = (bopt){.dup1 = K_ENC_LEN + 1};
    bad_opt(&o, 422, "duplicate_input", "encoder_lengths", "duplicate input");
    o = (bopt){.omit = 1u << K_SCALE};
    bad_opt(&o, 422, "missing_input", "target_scale", "missing input");
    o = (bopt){.omit = 1u << K_DEC_CAT};
    bad_opt(&o, 422, "missing_input", "decoder_cat", "missing cat input");
    o = (bopt){.short_k1 = K_DEC_CONT + 1};
    bad_opt(&o, 422, "count_mismatch", "decoder_cont", "count mismatch (flat)");
    // nested data: one row short, a mix of flat and nested
    o = (bopt){.nested = 1u << K_ENC_CONT};
    {
        built nb = build(&gs, &o);
        char *row = strstr(nb.body, "\"name\":\"encoder_cont\"");
        row       = strstr(row, "\"data\":[[[");
        char *end = strchr(row + 10, ']'); // drop the first row's last number: "...,x]" -> "...]"
        char *com = end;
        while (*com != ',') com--;
        memmove(com, end, strlen(end) + 1);
        nb.len = nb.json_len = strlen(nb.body);
        expect(&nb, nb.len, nb.json_len, NULL, 0, 422, "count_mismatch", "encoder_cont.data[0][0]", "nested short");
        free(nb.body);
    }
    bad_with(&j, "\"name\":\"target_scale\",\"datatype\":\"FP32\",\"shape\":[8,1,2],\"data\":[",
             "\"name\":\"target_scale\",\"datatype\":\"FP32\",\"shape\":[8,1,2],\"data\":[[1,2],", 422,
             "count_mismatch", "target_scale");
    {
        char from[256];
        const char *dl = "\"name\":\"decoder_lengths\",\"datatype\":\"INT32\",\"shape\":[8],\"data\":";
        char        to[256];
        int         n = snprintf(from, sizeof from, "%s[", dl);
        for (int b = 0; b < gs.B; b++) n += snprintf(from + n, sizeof from - (size_t)n, "%s%d", b ? "," : "",
                                                     ((int32_t *)gs.t[K_DEC_LEN])[b]);
        snprintf(from + n, sizeof from - (size_t)n, "]");
        snprintf(to, sizeof to, "%s{\"a\":1}", dl);
        bad_with(&j, from, to, 422, "wrong_type", "decoder_lengths");
        snprintf(to, sizeof to, "%s[6,6,6,6,6,6,6,null]", dl);
        bad_with(&j, from, to, 422, "wrong_type", "decoder_lengths[7]");
        snprintf(to, sizeof to, "%s[6,6,6,6,6,6,6,[6]]", dl);
        bad_with(&j, from, to, 422, "count_mismatch", "decoder_lengths");
    }
    // values: wrong types, INT64 range, FP64 overflow, negative category, lengths
    {
        bopt  wo = {.wide = 0x7f};
        built w  = build(&gs, &wo);
        bad_with(&w, "\"name\":\"decoder_cat\",\"datatype\":\"INT64\",\"shape\":[8,6,3],\"data\":[",
                 "\"name\":\"decoder_cat\",\"datatype\":\"INT64\",\"shape\":[8,6,3],\"data\":[2147483648,", 422,
                 "count_mismatch", "decoder_cat"); // one value too many first: count
        // same count: replace the first value
        char *at  = strstr(w.body, "\"name\":\"decoder_cat\"");
        char *d0  = strstr(at, "\"data\":[") + 8;
        char *end = strpbrk(d0, ",]");
        char  from[160];
        snprintf(from, sizeof from, "\"name\":\"decoder_cat\",\"datatype\":\"INT64\",\"shape\":[8,6,3],\"data\":[%.*s,",
                 (int)(end - d0), d0);
        bad_with(&w, from,
                 "\"name\":\"decoder_cat\",\"datatype\":\"INT64\",\"shape\":[8,6,3],\"data\":[2147483648,", 422,
                 "out_of_range", "decoder_cat[0][0][0]");
        bad_with(&w, from, "\"name\":\"decoder_cat\",\"datatype\":\"INT64\",\"shape\":[8,6,3],\"data\":[-1,", 422,
                 "out_of_range", "decoder_cat[0][0][0]");
        // past the embedding's vocabulary: refused by the decoder too (tft_net_check), not left to the
        // worker (which once answered it 422 bad_shape after queueing)
        bad_with(&w, from, "\"name\":\"decoder_cat\",\"datatype\":\"INT64\",\"shape\":[8,6,3],\"data\":[1000,", 422,
                 "out_of_range", "decoder_cat[0][0][0]");
        bad_with(&w, from, "\"name\":\"decoder_cat\",\"datatype\":\"INT64\",\"shape\":[8,6,3],\"data\":[1.5,", 422,
                 "wrong_type", "decoder_cat[0][0][0]");
        at  = strstr(w.body, "\"name\":\"target_scale\"");
        d0  = strstr(at, "\"data\":[") + 8;
        end = strpbrk(d0, ",]");
        snprintf(from, sizeof from, "\"name\":\"target_scale\",\"datatype\":\"FP64\",\"shape\":[8,1,2],\"data\":[%.*s,",
                 (int)(end - d0), d0);
        bad_with(&w, from, "\"name\":\"target_scale\",\"datatype\":\"FP64\",\"shape\":[8,1,2],\"data\":[1e300,", 422,
                 "non_finite_input", "target_scale[0][0][0]");
        bad_with(&w, from, "\"name\":\"target_scale\",\"datatype\":\"FP64\",\"shape\":[8,1,2],\"data\":[true,", 422,
                 "wrong_type", "target_scale[0][0][0]");
        free(w.body);
    }
    {
        // lengths: copies of the fixture with one length changed
        int32_t *el = gs.t[K_ENC_LEN], *dl = gs.t[K_DEC_LEN], se = el[0], sd = dl[0];
        int      longest = 0;
        for (int b = 0; b < gs.B; b++) longest = el[b] > el[longest] ? b : longest;
        el[0] = gs.Te + 1;
        o     = (bopt){0};
        bad_opt(&o, 422, "bad_length", "encoder_lengths[0]", "encoder length > Te");
        el[0] = se;
        int32_t sl = el[longest];
        for (int b = 0; b < gs.B; b++) // no series as long as Te
            if (el[b] == gs.Te) el[b] = gs.Te - 1;
        bad_opt(&o, 422, "bad_length", "encoder_lengths", "max encoder length < Te");
        for (int b = 0; b < gs.B; b++)
            if (el[b] == gs.Te - 1) el[b] = gs.Te;
        el[longest] = sl;
        el[0]       = se;
        dl[0]       = 0;
        bad_opt(&o, 422, "bad_length", "decoder_lengths[0]", "decoder length 0");
        dl[0] = sd;
    }
    // outputs
    o = (bopt){.outputs = "[{\"name\":\"attention\"}]"};
    bad_opt(&o, 422, "unknown_output", "attention", "unknown output");
    o = (bopt){.outputs = "[{\"name\":\"prediction\"},{\"name\":\"prediction\"}]"};
    bad_opt(&o, 422, "duplicate_output", "prediction", "duplicate output");
    o = (bopt){.outputs = "[{\"name\":\"prediction\",\"parameters\":{\"classification\":3}}]"};
    bad_opt(&o, 422, "unsupported", "prediction", "classification");
    o = (bopt){.outputs = "[{\"name\":\"prediction\",\"parameters\":{\"binary_data\":\"yes\"}}]"};
    bad_opt(&o, 422, "wrong_type", "prediction", "binary_data not a bool");
    o = (bopt){.outputs = "[{\"name\":\"prediction\",\"shape\":[1]}]"};
    bad_opt(&o, 422, "unknown_key", "shape", "unknown key in an output");
    o = (bopt){.outputs = "{\"name\":\"prediction\"}"};
    bad_opt(&o, 422, "wrong_type", "outputs", "outputs not an array");

    // Te past the model's max_encoder_length (the tensors one step longer)
    {
        net big = gs;
        big.Te  = tft_model_get_info(gs.m)->max_encoder_length + 1;
        big.t[K_ENC_CAT] = calloc(count_of(&big, K_ENC_CAT), 4);
        big.t[K_ENC_CONT] = calloc(count_of(&big, K_ENC_CONT), 4);
        int32_t *el = big.t[K_ENC_LEN] = calloc((size_t)big.B, 4);
        for (int b = 0; b < big.B; b++) el[b] = big.Te;
        o         = (bopt){.binary = 0x7f};
        built bg  = build(&big, &o);
        expect(&bg, bg.len, bg.json_len, NULL, 0, 422, "bad_shape", "encoder_cont", "Te > max_encoder_length");
        free(bg.body), free(big.t[K_ENC_CAT]), free(big.t[K_ENC_CONT]), free(big.t[K_ENC_LEN]);
    }
    free(j.body), free(bb.body);
}

static void test_bad_binary(void **state) {
    (void)state;
    bopt  bo = {.binary = 0x7f};
    built bb = build(&gs, &bo);
    // the section: short by one byte (the last tensor runs past the end), one byte too many, no header
    expect(&bb, bb.len - 1, bb.json_len, NULL, 0, 400, "bad_binary", "target_scale", "truncated binary");
    {
        built x = bb;
        x.body  = malloc(bb.len + 2);
        memcpy(x.body, bb.body, bb.len);
        x.body[bb.len] = 7;
        expect(&x, bb.len + 1, bb.json_len, NULL, 0, 400, "bad_binary", "Inference-Header-Content-Length",
               "trailing binary byte");
        free(x.body);
    }
    expect(&bb, bb.len, bb.len + 1, NULL, 0, 400, "bad_binary", "Inference-Header-Content-Length", "json_len > len");
    expect(&bb, bb.len, bb.len, NULL, 0, 400, "malformed_json", NULL, "binary body without its header length");
    // JSON only, but a header length shorter than the body: the rest is unclaimed binary
    bopt  jo = {0};
    built j  = build(&gs, &jo);
    {
        built x = j;
        x.body  = malloc(j.len + 5);
        memcpy(x.body, j.body, j.len);
        memcpy(x.body + j.len, "\1\2\3\4", 4);
        expect(&x, j.len + 4, j.len, NULL, 0, 400, "bad_binary", NULL, "binary section without binary inputs");
        free(x.body);
    }
    bad_with(&bb, "\"shape\":[8,1,2],\"parameters\":{\"binary_data_size\":64}",
             "\"shape\":[8,1,2],\"parameters\":{\"binary_data_size\":60}", 422, "binary_size_mismatch",
             "target_scale");
    bad_with(&bb, "\"shape\":[8,1,2],\"parameters\":{\"binary_data_size\":64}",
             "\"shape\":[8,1,2],\"parameters\":{\"binary_data_size\":-64}", 422, "wrong_type", "target_scale");
    bad_with(&bb, "\"shape\":[8,1,2],\"parameters\":{\"binary_data_size\":64}",
             "\"shape\":[8,1,2],\"parameters\":{\"binary_data_size\":64,\"binary_data_size\":64}", 400,
             "duplicate_key", "binary_data_size");
    bad_with(&bb, "\"shape\":[8,1,2],\"parameters\":{\"binary_data_size\":64}",
             "\"shape\":[8,1,2],\"parameters\":{}", 422, "missing_field", "target_scale");
    // NaN / Inf in FP32 binary, out-of-range INT64 and FP64 overflow in binary
    float *ec = gs.t[K_ENC_CONT], *sc = gs.t[K_SCALE], s5 = ec[5], s1 = sc[1];
    ec[5] = NAN;
    bad_opt(&bo, 422, "non_finite_input", "encoder_cont[0][0][5]", "NaN in FP32 binary");
    ec[5] = s5;
    sc[1] = -INFINITY;
    bad_opt(&bo, 422, "non_finite_input", "target_scale[0][0][1]", "-Inf in FP32 binary");
    sc[1] = s1;
    bopt  wo = {.binary = 0x7f, .wide = 0x7f};
    built w  = build(&gs, &wo);
    {
        built   x = with(&w, "{", "{"); // a copy
        int64_t big = (int64_t)1 << 40;
        memcpy(x.body + x.json_len + x.off[K_DEC_LEN] + 8 * 3, &big, 8);
        expect(&x, x.len, x.json_len, NULL, 0, 422, "out_of_range", "decoder_lengths[3]", "INT64 out of range");
        big = INT32_MIN - (int64_t)1;
        memcpy(x.body + x.json_len + x.off[K_ENC_CAT] + 8 * 7, &big, 8);
        expect(&x, x.len, x.json_len, NULL, 0, 422, "out_of_range", "encoder_cat[0][2][1]", "INT64 below int32");
        free(x.body);
        x          = with(&w, "{", "{");
        double inf = 1e300;
        memcpy(x.body + x.json_len + x.off[K_DEC_CONT] + 8 * 10, &inf, 8);
        expect(&x, x.len, x.json_len, NULL, 0, 422, "non_finite_input", "decoder_cont[0][1][1]", "FP64 overflow");
        free(x.body);
    }
    // limits (413): series, values, tokens, depth; an arena too small at every size
    tft_req_limits lim = tft_req_default_limits();
    lim.max_series     = 4;
    expect(&bb, bb.len, bb.json_len, &lim, 0, 413, "too_many_elements", NULL, "B > max_series");
    lim            = tft_req_default_limits();
    lim.max_values = 1000;
    expect(&bb, bb.len, bb.json_len, &lim, 0, 413, "too_many_elements", NULL, "values > max_values");
    lim            = tft_req_default_limits();
    lim.max_tokens = 100;
    expect(&j, j.len, j.json_len, &lim, 0, 413, "too_many_elements", NULL, "tokens > max_tokens");
    lim           = tft_req_default_limits();
    lim.max_depth = 3;
    bopt  no = {.nested = 0x7f};
    built nb = build(&gs, &no);
    expect(&nb, nb.len, nb.json_len, &lim, 0, 413, "too_deep", NULL, "depth > max_depth");
    const built *both[2] = {&bb, &nb};
    for (int i = 0; i < 2; i++) {
        const built  *x = both[i];
        char         *keep;
        tft_v2_infer  r;
        tft_req_error e;
        tft_req_arena a;
        keep = malloc(x->len + 1);
        memcpy(keep, x->body, x->len);
        tft_req_arena_init(&a, arena_mem, ARENA_BYTES, NULL);
        assert_int_equal(tft_v2_decode_infer(gs.m, keep, x->len, x->json_len, &a, &r, &e), 0);
        size_t need = a.used;
        free(keep);
        for (size_t cap = 0; cap < need; cap += cap < 256 ? 1 : 1 + cap / 7) {
            // the arena's end is the end of a malloc'd block, so ASan sees any write past cap
            unsigned char *mem = malloc(cap ? cap : 1);
            keep               = malloc(x->len + 1);
            memcpy(keep, x->body, x->len);
            tft_req_arena_init(&a, mem, cap, NULL);
            int rc = tft_v2_decode_infer(gs.m, keep, x->len, x->json_len, &a, &r, &e);
            if (rc == 0) fail_msg("arena %zu < %zu: decoded", cap, need);
            if (e.http != 413) fail_msg("arena %zu: %d %s: %s", cap, e.http, e.code, e.message);
            free(mem), free(keep);
        }
    }
    // a model without categoricals: the cat tensors may be left out or given empty, never with columns
    net im;
    assert_int_equal(net_open(&im, "identity_minimal"), 0);
    assert_int_equal(im.Nc, 0);
    bopt  co = {.cats0 = 1};
    built c  = build(&im, &co);
    {
        built x = with(&c, "\"name\":\"encoder_cat\",\"datatype\":\"INT32\",\"shape\":[5,10,0]",
                       "\"name\":\"encoder_cat\",\"datatype\":\"INT32\",\"shape\":[5,10,1]");
        char         *keep;
        tft_v2_infer  r;
        tft_req_error e;
        assert_int_equal(decode(im.m, x.body, x.len, x.json_len, NULL, 0, &keep, &r, &e), -1);
        assert_string_equal(e.code, "bad_shape");
        assert_string_equal(e.field, "encoder_cat");
        free(keep), free(x.body);
    }
    net_close(&im);
    free(c.body), free(w.body), free(nb.body), free(j.body), free(bb.body);
}

// The writer's argument checks and non-finite outputs.
static void test_writer_errors(void **state) {
    (void)state;
    bopt          o = {.outputs = "[{\"name\":\"encoder_weights\"},{\"name\":\"prediction\","
                                  "\"parameters\":{\"binary_data\":true}}]"};
    built         b = build(&gs, &o);
    char         *keep;
    tft_v2_infer  r;
    tft_req_error e;
    assert_int_equal(decode(gs.m, b.body, b.len, b.json_len, NULL, 0, &keep, &r, &e), 0);
    assert_int_equal(r.want, (uint32_t)(TFT_V2_OUT_ENCODER_WEIGHTS | TFT_V2_OUT_PREDICTION));
    assert_int_equal(r.binary, (uint32_t)TFT_V2_OUT_PREDICTION);
    assert_int_equal(r.n_outputs, 2);
    outs x = outs_new(gs.m, &r.in);
    predict(gs.m, &r.in, &x);
    size_t  cap = tft_v2_infer_bound(gs.m, "m", NULL, &r), jl;
    char   *buf = malloc(cap);
    ssize_t len = tft_v2_write_infer(buf, cap, gs.m, "m", NULL, &r, &x.o, &jl);
    assert_true(len > 0);
    // the outputs in the order requested; no model_version when NULL
    assert_true(strstr(buf, "encoder_weights") < strstr(buf, "\"prediction\""));
    assert_null(strstr(buf, "model_version"));
    assert_int_equal((size_t)len - jl, tft_v2_output_floats(gs.m, &r.in, TFT_V2_OUT_PREDICTION) * 4);
    x.f[5][17] = NAN; // encoder_weights: JSON
    assert_int_equal(tft_v2_write_infer(buf, cap, gs.m, "m", NULL, &r, &x.o, &jl), TFT_RESP_E_NONFINITE);
    x.f[5][17] = 0;
    x.f[0][3]  = INFINITY; // prediction: binary, an error too
    assert_int_equal(tft_v2_write_infer(buf, cap, gs.m, "m", NULL, &r, &x.o, &jl), TFT_RESP_E_NONFINITE);
    x.f[0][3]            = 0;
    tft_net_output nulls = x.o;
    nulls.prediction     = NULL;
    assert_int_equal(tft_v2_write_infer(buf, cap, gs.m, "m", NULL, &r, &nulls, &jl), TFT_RESP_E_ARG);
    tft_v2_infer bad = r;
    bad.binary       = TFT_V2_OUT_STATIC_WEIGHTS; // not wanted
    assert_int_equal(tft_v2_write_infer(buf, cap, gs.m, "m", NULL, &bad, &x.o, &jl), TFT_RESP_E_ARG);
    bad = r, bad.want = 1u << 9;
    assert_int_equal(tft_v2_write_infer(buf, cap, gs.m, "m", NULL, &bad, &x.o, &jl), TFT_RESP_E_ARG);
    assert_int_equal(tft_v2_write_infer(buf, cap, NULL, "m", NULL, &r, &x.o, &jl), TFT_RESP_E_ARG);
    assert_int_equal(tft_v2_output_floats(gs.m, &r.in, 3), 0);
    assert_int_equal(tft_v2_output_floats(gs.m, &r.in, TFT_V2_OUT_PREDICTION),
                     (size_t)gs.B * gs.nt * gs.Td * tft_model_get_info(gs.m)->n_quantiles);
    assert_string_equal(tft_v2_output_name(TFT_V2_OUT_DECODER_ATTENTION), "decoder_attention");
    assert_null(tft_v2_output_name(0));
    // an output of no values (identity_minimal has no static variables) may be NULL, JSON or binary
    {
        net im;
        assert_int_equal(net_open(&im, "identity_minimal"), 0);
        bopt  so = {.outputs = "[{\"name\":\"static_weights\",\"parameters\":{\"binary_data\":true}},"
                               "{\"name\":\"prediction\"}]"};
        built sb = build(&im, &so);
        char *k2;
        assert_int_equal(decode(im.m, sb.body, sb.len, sb.json_len, NULL, 0, &k2, &r, &e), 0);
        assert_int_equal(tft_v2_output_floats(im.m, &r.in, TFT_V2_OUT_STATIC_WEIGHTS), 0);
        outs y = outs_new(im.m, &r.in);
        predict(im.m, &r.in, &y);
        y.o.static_weights = NULL;
        size_t cap2 = tft_v2_infer_bound(im.m, "m", "1", &r);
        char  *b2   = malloc(cap2);
        len         = tft_v2_write_infer(b2, cap2, im.m, "m", "1", &r, &y.o, &jl);
        assert_true(len > 0);
        assert_int_equal((size_t)len, jl); // no binary bytes
        assert_non_null(strstr(b2, "\"name\":\"static_weights\",\"datatype\":\"FP32\",\"shape\":[5,0],"
                                   "\"parameters\":{\"binary_data_size\":0}"));
        r.binary = 0;
        len      = tft_v2_write_infer(b2, cap2, im.m, "m", "1", &r, &y.o, &jl);
        assert_non_null(strstr(b2, "\"shape\":[5,0],\"data\":[]"));
        free(b2), free(k2), free(sb.body);
        outs_free(&y);
        net_close(&im);
    }
    // NULL arguments of the decoder: an error, not a crash
    assert_int_equal(tft_v2_decode_infer(NULL, keep, 1, 1, NULL, &r, &e), -1);
    assert_int_equal(e.http, 500);
    outs_free(&x);
    free(buf), free(keep), free(b.body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_bad_binary),
        cmocka_unit_test(test_writer_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
