// backend_cuda.c: the CUDA backend (backend.h): the graph's blocks as the kernels of cuda/ and cuBLAS
// on one device, for a context made with TFT_DEVICE_CUDA (device.c).
//
// Per context: one stream, one cuBLAS handle, the model's weight block uploaded once (every pointer
// of tft_weights rebased into it), one device arena carved by the same plan as the CPU's
// activations (plan.c, with chunks of up to CUDA_CHUNK series) plus this backend's own buffers, and
// one pinned staging block. A forward copies the caller's inputs into the staging block (the only
// host copy), then runs the graph: the staged inputs go up, every block runs on the device, the
// requested outputs come down into the staging block, and from there to the caller. The whole of
// that is captured as a CUDA graph the first time a shape is seen and replayed afterwards (up to
// CUDA_GRAPHS shapes, least recently used evicted): a replayed forward is host copies and one graph
// launch. A shape is (the batch-size bucket, Te, Td, the outputs asked for): a batch of B series
// runs as the next power of two (at most max_batch), its padding series copies of real ones whose
// outputs are dropped (every block computes a series independently of the others; the zero-history
// patch is computed from the real series only), so a server's varying batch sizes share a few
// graphs. TFT_CUDA_GRAPHS=0 runs every forward eagerly, unpadded.
// Nothing is allocated per forecast.
//
// Blocks run over whole chunks (the walk in graph.c gives them every step at once); where a block
// reads the decoder steps of a joined [C, T, ·] buffer, those rows are first gathered into a
// contiguous [C*Td, ·] buffer (one 2-D copy). The LSTM block fuses the encoder and the decoder:
// tft_cuda_lstm_layer runs both for one layer in one launch, so the encoder part is a no-op and the
// decoder part runs every layer. Results equal the CPU backend's to float32 rounding (cuBLAS sums
// in another order), not bitwise.
#ifdef TFT_USE_CUDA
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"
#include "../cuda/nvtx.h"
#include "../cuda/ops_cuda.h"

#define CUDA_CHUNK  1024 // series per chunk: bounds the [C, T, ·] buffers at large max_batch
#define CUDA_GRAPHS 8    // captured shapes kept per context

enum { OUT_PRED = 1, OUT_NORM = 2, OUT_EATT = 4, OUT_DATT = 8, OUT_SW = 16, OUT_EW = 32, OUT_DW = 64 };

typedef struct cuda_graph {
    int32_t  B, Te, Td;
    uint32_t outs;
    void    *exec;
    uint64_t last; // use tick, for eviction
} cuda_graph;

// One network-level input or output array, in the staging block (host) and on the device.
typedef struct staged {
    void  *host, *dev;
    size_t cap; // bytes reserved
} staged;

struct tft_cuda_ctx {
    const tft_model *m;
    int32_t          max_batch, chunk, use_graphs;
    void            *stream;
    tft_cuda_blas   *blas;
    float           *dweights;          // the model's weight block on the device
    tft_weights      W;                 // device pointers
    tft_vsn          vsn[3];            // static, encoder, decoder: host structs, device pointers
    tft_var         *vars;              // their variables
    tft_emb         *embs;              // embedding tables (cols stay host: passed by value)
    tft_transform    tf[64];            // each target's transform (heads_out takes it by value)
    uint8_t         *arena, *pin;       // device arena, pinned staging block
    size_t           arena_bytes, pin_bytes;
    tft_acts         a;                 // the plan's activations, device pointers
    // this backend's own device buffers
    float  *xe, *xd, *lay[2], *hs, *cs; // LSTM: input projections [C*T, 4H], layer outputs, state [C, H]
    float  *gather[2];                  // decoder rows of a joined buffer, [C*Td, H]
    float  *vflat, *vouts, *vtmp;       // VSN: inputs [R, in_total], outputs [n, R, H], result [R, H]
    float  *scratch;                    // GRN / GLU scratch
    // staged inputs and outputs
    staged enc_cat, enc_cont, dec_cat, dec_cont, enc_len, dec_len, erun, tscale, patch;
    staged pred, norm, eatt, datt, sw, ew, dw;
    // the call
    const tft_net_input  *in;
    const tft_net_output *out;
    int                   lo, C, Z, replay, capturing;
    int                   n_real; // series of the caller's batch (in->n: its bucket)
    uint32_t              outs;
    tft_status            st;
    tft_error             err;
    cuda_graph            graphs[CUDA_GRAPHS];
    uint64_t              tick;
};

// ---- sizes ----------------------------------------------------------------------------------------
typedef struct sizes {
    size_t B, C, Te, Td, T, S, H, L, R, imax, nmax, scratch;
} sizes;

static size_t max_z(size_t a, size_t b) { return a > b ? a : b; }

static sizes sizes_of(const tft_model *m, int32_t max_batch) {
    sizes z;
    z.B = (size_t)max_batch, z.C = z.B < CUDA_CHUNK ? z.B : CUDA_CHUNK;
    z.Te = (size_t)m->Te_max, z.Td = (size_t)m->Td_max, z.T = z.Te + z.Td, z.S = max_z(z.Te, z.Td);
    z.H = (size_t)m->H, z.L = (size_t)m->L;
    z.R    = max_z(z.C * z.T, z.B); // most rows any block runs over
    z.imax = max_z((size_t)m->vsn_static.in_total, max_z((size_t)m->vsn_enc.in_total, (size_t)m->vsn_dec.in_total));
    z.nmax = max_z((size_t)m->vsn_static.n, max_z((size_t)m->vsn_enc.n, (size_t)m->vsn_dec.n));
    // scratch: the largest GRN over R rows, or a GLU's [R, 2H]
    size_t           s     = 2 * z.H * z.R;
    const tft_vsn   *vs[3] = {&m->vsn_static, &m->vsn_enc, &m->vsn_dec};
    const tft_grn_w *g[6]  = {&m->sc_sel, &m->sc_h, &m->sc_c, &m->sc_enr, &m->enrich, &m->pos_ff};
    for (int k = 0; k < 3; k++) {
        for (int32_t i = 0; i < vs[k]->n; i++)
            if (vs[k]->vars[i].is_grn) s = max_z(s, tft_cuda_grn_scratch((int)z.R, &vs[k]->vars[i].grn));
        if (vs[k]->n > 1) s = max_z(s, tft_cuda_grn_scratch((int)z.R, &vs[k]->flat));
    }
    for (int k = 0; k < 6; k++) s = max_z(s, tft_cuda_grn_scratch((int)z.R, g[k]));
    z.scratch = s;
    return z;
}

// Carves the device arena (dev != NULL: sets the pointers) and returns its bytes (0: overflow).
static size_t carve_device(const tft_model *m, int32_t max_batch, uint8_t *base, struct tft_cuda_ctx *x) {
    const sizes z  = sizes_of(m, max_batch);
    tft_acts    a;
    size_t      plan = tft_plan_carve(m, max_batch, (int32_t)z.C, base, &a);
    if (plan == 0) return 0;
    tft_carver cv = {base, plan};
#define DF(n) ((float *)tft_carve(&cv, (size_t)(n), sizeof(float)))
    float *xe = DF(z.C * z.T * 4 * z.H), *xd = DF(z.C * z.T * 4 * z.H);
    float *l0 = DF(z.L > 1 ? z.C * z.T * z.H : 0), *l1 = DF(z.L > 2 ? z.C * z.T * z.H : 0);
    float *hs = DF(z.C * z.H), *cs = DF(z.C * z.H);
    float *g0 = DF(z.C * z.Td * z.H), *g1 = DF(z.C * z.Td * z.H);
    float *vflat = DF(z.R * (z.imax + 1)), *vouts = DF(z.nmax * z.R * z.H), *vtmp = DF(z.R * z.H);
    float *scr = DF(z.scratch);
#undef DF
    if (x) {
        x->a = a, x->xe = xe, x->xd = xd, x->lay[0] = l0, x->lay[1] = l1, x->hs = hs, x->cs = cs;
        x->gather[0] = g0, x->gather[1] = g1, x->vflat = vflat, x->vouts = vouts, x->vtmp = vtmp, x->scratch = scr;
    }
    return cv.off == SIZE_MAX ? 0 : cv.off + 64;
}

// The staged arrays: the same offsets in the pinned block and in a second device block.
static size_t carve_staged(const tft_model *m, int32_t max_batch, struct tft_cuda_ctx *x, uint8_t *host,
                           uint8_t *dev) {
    const size_t B = (size_t)max_batch, Te = (size_t)m->Te_max, Td = (size_t)m->Td_max, T = Te + Td;
    const size_t Nr = (size_t)m->n_reals, Nc = (size_t)m->n_cats, NT = (size_t)m->NT, Q = (size_t)m->Q;
    const size_t NH = (size_t)m->NH;
    tft_carver   hc = {host, 0}, dc = {dev, 0};
    struct {
        staged *s;
        size_t  bytes;
    } list[] = {
        {&x->enc_cat, 4 * (B * Te * Nc + 1)}, {&x->enc_cont, 4 * (B * Te * Nr + 1)},
        {&x->dec_cat, 4 * (B * Td * Nc + 1)}, {&x->dec_cont, 4 * (B * Td * Nr + 1)},
        {&x->enc_len, 4 * B},                 {&x->dec_len, 4 * B},
        {&x->erun, 4 * B},                    {&x->tscale, 4 * B * NT * 2},
        {&x->patch, 4 * B * (size_t)m->L},    {&x->pred, 4 * B * NT * Td * Q},
        {&x->norm, 4 * B * NT * Td * Q},      {&x->eatt, 4 * (B * Td * NH * Te + 1)},
        {&x->datt, 4 * B * Td * NH * Td},     {&x->sw, 4 * (B * (size_t)m->vsn_static.n + 1)},
        {&x->ew, 4 * (B * Te * (size_t)m->vsn_enc.n + 1)}, {&x->dw, 4 * (B * Td * (size_t)m->vsn_dec.n + 1)},
    };
    (void)T;
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        staged s = {tft_carve(&hc, list[i].bytes, 1), tft_carve(&dc, list[i].bytes, 1), list[i].bytes};
        if (host) *list[i].s = s;
    }
    return hc.off == SIZE_MAX ? 0 : hc.off + 64;
}

size_t tft_cuda_ctx_bytes(const tft_model *m, int32_t max_batch) {
    struct tft_cuda_ctx x;
    size_t              a = carve_device(m, max_batch, NULL, NULL), s = carve_staged(m, max_batch, &x, NULL, NULL);
    size_t              w = m->n_weights * sizeof(float), total;
    if (a == 0 || s == 0 || __builtin_add_overflow(a, 2 * s, &total) || __builtin_add_overflow(total, w, &total))
        return 0;
    return total; // device arena + staged (device and pinned) + the weights
}

// ---- weights on the device ------------------------------------------------------------------------
static const float *dev_ptr(const struct tft_cuda_ctx *x, const float *p) {
    const tft_model *m = x->m;
    if (!p) return NULL;
    if (p < m->weights || p >= m->weights + m->n_weights) return NULL; // packed panels: CPU only
    return x->dweights + (p - m->weights);
}

static void rebase_lin(const struct tft_cuda_ctx *x, tft_lin_w *w) {
    w->w = dev_ptr(x, w->w), w->b = dev_ptr(x, w->b), w->p = NULL;
}
static void rebase_grn(const struct tft_cuda_ctx *x, tft_grn_w *g) {
    const float **p[] = {&g->fc1_w, &g->fc1_b, &g->fc2_w, &g->fc2_b, &g->glu_w, &g->glu_b, &g->ln_w,
                         &g->ln_b,  &g->rs_mask, &g->rs_w, &g->rs_b, &g->ctx_w};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) *p[i] = dev_ptr(x, *p[i]);
    g->fc1_p = g->fc2_p = g->glu_p = NULL;
}
static void rebase_gan(const struct tft_cuda_ctx *x, tft_gan_w *g) {
    g->glu_w = dev_ptr(x, g->glu_w), g->glu_b = dev_ptr(x, g->glu_b), g->glu_p = NULL;
    g->ln_w = dev_ptr(x, g->ln_w), g->ln_b = dev_ptr(x, g->ln_b);
}

static tft_status upload_weights(struct tft_cuda_ctx *x) {
    const tft_model *m = x->m;
    TFT_TRY(tft_cuda_malloc((void **)&x->dweights, m->n_weights * sizeof(float)));
    TFT_TRY(tft_cuda_upload(x->dweights, m->weights, m->n_weights * sizeof(float)));
    tft_weights_host(m, &x->W);
    tft_weights *W = &x->W;
    // the variable selection networks and embedding tables: host structs holding device pointers
    const tft_vsn *src[3] = {&m->vsn_static, &m->vsn_enc, &m->vsn_dec};
    int32_t        nvars  = src[0]->n + src[1]->n + src[2]->n;
    x->vars = tft__calloc((size_t)nvars + 1, sizeof(tft_var));
    x->embs = tft__calloc((size_t)m->n_embs + 1, sizeof(tft_emb));
    if (!x->vars || !x->embs) return tft__fail(TFT_ERR_NOMEM, "CUDA backend: out of memory");
    for (int32_t e = 0; e < m->n_embs; e++) {
        x->embs[e]       = m->embs[e];
        x->embs[e].table = dev_ptr(x, m->embs[e].table);
    }
    tft_var *v = x->vars;
    for (int k = 0; k < 3; k++) {
        x->vsn[k]      = *src[k];
        x->vsn[k].vars = v;
        for (int32_t i = 0; i < src[k]->n; i++, v++) {
            *v       = src[k]->vars[i];
            v->pre_w = dev_ptr(x, v->pre_w), v->pre_b = dev_ptr(x, v->pre_b);
            v->rs_mask = dev_ptr(x, v->rs_mask), v->rs_w = dev_ptr(x, v->rs_w), v->rs_b = dev_ptr(x, v->rs_b);
            rebase_grn(x, &v->grn);
        }
        rebase_grn(x, &x->vsn[k].flat);
    }
    W->vsn_static = &x->vsn[0], W->vsn_enc = &x->vsn[1], W->vsn_dec = &x->vsn[2], W->embs = x->embs;
    tft_grn_w *grns[] = {&W->sc_sel, &W->sc_h, &W->sc_c, &W->sc_enr, &W->enrich, &W->pos_ff};
    for (size_t i = 0; i < sizeof grns / sizeof grns[0]; i++) rebase_grn(x, grns[i]);
    tft_lin_w *lins[] = {&W->ctx_e, &W->ctx_d, &W->ctx_enr, &W->att_q, &W->att_k, &W->att_v, &W->att_out, &W->heads};
    for (size_t i = 0; i < sizeof lins / sizeof lins[0]; i++) rebase_lin(x, lins[i]);
    for (int l = 0; l < m->L; l++) {
        rebase_lin(x, &W->lstm_enc[l].ih), rebase_lin(x, &W->lstm_enc[l].hh);
        rebase_lin(x, &W->lstm_dec[l].ih), rebase_lin(x, &W->lstm_dec[l].hh);
    }
    rebase_gan(x, &W->post_lstm), rebase_gan(x, &W->post_attn), rebase_gan(x, &W->pre_out);
    for (int j = 0; j < m->NT && j < 64; j++) x->tf[j] = m->target_norm[j].tf;
    return TFT_OK;
}

// ---- context --------------------------------------------------------------------------------------
void tft_cuda_ctx_free(struct tft_cuda_ctx *x) {
    if (!x) return;
    if (x->stream) (void)tft_cuda_sync(x->stream);
    for (int i = 0; i < CUDA_GRAPHS; i++) tft_cuda_graph_free(x->graphs[i].exec);
    tft_cuda_blas_free(x->blas);
    tft_cuda_stream_free(x->stream);
    (void)tft_cuda_free(x->arena);
    (void)tft_cuda_free(x->dweights);
    (void)tft_cuda_free(x->enc_cat.dev); // the staged block's device base
    tft_cuda_host_free(x->pin);
    tft__free(x->vars), tft__free(x->embs);
    tft__free(x);
}

tft_status tft_cuda_ctx_new(const tft_model *m, int32_t max_batch, struct tft_cuda_ctx **out) {
    *out = NULL;
    int  n = 0;
    char why[256] = "0 devices";
    if (tft_cuda_device_count(&n) != TFT_OK) snprintf(why, sizeof why, "%s", tft_last_error()); // the CUDA error
    if (n == 0)
        return tft__fail_at(TFT_ERR_BACKEND, TFT_E_BAD_PARAMETER, -1, "device", -1,
                            "tft_context_new: CUDA was asked for but no CUDA device is usable (%s)", why);
    if (m->NT > 64)
        return tft__fail(TFT_ERR_UNSUPPORTED, "tft_context_new: the CUDA backend takes at most 64 targets (%d)", m->NT);
    if (m->H > 128) // tft_cuda_lstm_layer keeps W_hh on chip: one gate row per thread, 4H <= 512 threads
        return tft__fail(TFT_ERR_UNSUPPORTED,
                         "tft_context_new: the CUDA backend's LSTM takes hidden_size <= 128 (this model: %d); "
                         "use the CPU backend (TFT_DEVICE=cpu)", m->H);
    struct tft_cuda_ctx *x = tft__calloc(1, sizeof *x);
    if (!x) return tft__fail(TFT_ERR_NOMEM, "tft_context_new: out of memory");
    x->m = m, x->max_batch = max_batch, x->chunk = max_batch < CUDA_CHUNK ? max_batch : CUDA_CHUNK;
    const char *g = getenv("TFT_CUDA_GRAPHS");
    x->use_graphs = !(g && strcmp(g, "0") == 0);
    tft_status st;
    uint8_t   *sdev = NULL;
    x->arena_bytes  = carve_device(m, max_batch, NULL, NULL);
    x->pin_bytes    = carve_staged(m, max_batch, x, NULL, NULL);
    if ((st = tft_cuda_stream_new(&x->stream)) != TFT_OK || (st = tft_cuda_blas_new(&x->blas, x->stream)) != TFT_OK ||
        (st = upload_weights(x)) != TFT_OK || (st = tft_cuda_malloc((void **)&x->arena, x->arena_bytes)) != TFT_OK ||
        (st = tft_cuda_host_alloc((void **)&x->pin, x->pin_bytes)) != TFT_OK ||
        (st = tft_cuda_malloc((void **)&sdev, x->pin_bytes)) != TFT_OK)
        goto fail;
    carve_device(m, max_batch, x->arena, x);
    carve_staged(m, max_batch, x, x->pin, sdev);
    if ((st = tft_cuda_memset0(x->arena, x->arena_bytes, x->stream)) != TFT_OK ||
        (st = tft_cuda_sync(x->stream)) != TFT_OK)
        goto fail;
    *out = x;
    return TFT_OK;
fail:
    if (sdev && !x->enc_cat.dev) (void)tft_cuda_free(sdev);
    tft_cuda_ctx_free(x);
    return st;
}

// ---- blocks -----------------------------------------------------------------------------------------
// The first failure of a forward is kept (with its message); later blocks still enqueue (their
// inputs are garbage then, but every pointer is valid), and end() returns it.
static void keep(struct tft_cuda_ctx *x, tft_status st) {
    if (st != TFT_OK && x->st == TFT_OK) x->st = st, x->err = *tft_last_error_detail();
}
#define RUN(call) keep(x, (call))

// Rows [C * r.n, width] of operand b for steps r of the chunk, contiguous: the buffer itself, or
// its rows gathered into gather[slot] (the decoder steps of a joined buffer).
static float *rows_of(struct tft_cuda_ctx *x, tft_buf b, tft_rows r, int slot, int *width, int *kind) {
    const int Te = x->in->enc_steps, Td = x->in->dec_steps, T = Te + Td;
    float    *p  = tft_buf_of(x->m, &x->a, b, width, kind);
    if (!p || *kind == TFT_KIND_SERIES) return p;
    if (*kind == TFT_KIND_DECODER) return p + (size_t)(r.s0 - Te) * *width; // r: every decoder step
    if (r.s0 == 0 && r.n == T) return p;
    float *g = x->gather[slot]; // [C, r.n] rows of a joined buffer
    RUN(tft_cuda_copy2d(g, (size_t)r.n * *width, p + (size_t)r.s0 * *width, (size_t)T * *width,
                        (size_t)r.n * *width, (size_t)x->C, x->stream));
    return g;
}

static const tft_weights *cu_weights(void *bk) { return &((struct tft_cuda_ctx *)bk)->W; }
static int                cu_chunk(void *bk) { return ((struct tft_cuda_ctx *)bk)->chunk; }

// The graph of a shape, or NULL.
static cuda_graph *graph_for(struct tft_cuda_ctx *x, const tft_net_input *in) {
    for (int i = 0; i < CUDA_GRAPHS; i++) {
        cuda_graph *g = &x->graphs[i];
        if (g->exec && g->B == in->n && g->Te == in->enc_steps && g->Td == in->dec_steps && g->outs == x->outs)
            return g;
    }
    return NULL;
}

static void stage_in(struct tft_cuda_ctx *x, staged *s, const void *src, size_t bytes) {
    if (bytes && src != s->host) memcpy(s->host, src, bytes);
    if (!x->replay) RUN(tft_cuda_copy_async(s->dev, s->host, bytes, x->stream));
}

static tft_status cu_begin(void *bk, const tft_net_input *in, const tft_net_output *out) {
    struct tft_cuda_ctx *x = bk;
    const tft_model     *m = x->m;
    const size_t B = (size_t)in->n, Te = (size_t)in->enc_steps, Td = (size_t)in->dec_steps, L = (size_t)m->L;
    x->in = in, x->out = out, x->st = TFT_OK, x->lo = 0, x->C = in->n;
    x->outs = (out->prediction ? OUT_PRED : 0) | (out->prediction_normalized ? OUT_NORM : 0) |
              (out->encoder_attention && Te ? OUT_EATT : 0) | (out->decoder_attention ? OUT_DATT : 0) |
              (out->static_weights && m->vsn_static.n ? OUT_SW : 0) |
              (out->encoder_weights && m->vsn_enc.n && Te ? OUT_EW : 0) |
              (out->decoder_weights && m->vsn_dec.n ? OUT_DW : 0);
    // the packed run of each series (>= 1) and the zero-history patch rows (§5.4, as the CPU's)
    // (of the real series: the padding's are -1, its outputs are dropped)
    int32_t     *erun = x->erun.host, *patch = x->patch.host;
    const size_t Bn   = (size_t)x->n_real;
    x->Z              = 0;
    for (size_t b = 0; b < B; b++) {
        erun[b] = in->encoder_lengths[b] > 0 ? in->encoder_lengths[b] : 1;
        x->Z += b < Bn && Te > 0 && in->encoder_lengths[b] == 0;
    }
    for (size_t l = 0; l < L; l++)
        for (size_t b = 0, z = 0; b < B; b++)
            patch[l * B + b] = b < Bn && x->Z && in->encoder_lengths[b] == 0 ? (int32_t)((l * x->Z + z++) % Bn) : -1;
    // (x->Z is data, not shape: nothing captured may depend on it)
    cuda_graph *g = x->use_graphs ? graph_for(x, in) : NULL;
    x->replay    = g != NULL;
    x->capturing = 0;
    if (g) g->last = ++x->tick;
    else if (x->use_graphs) {
        TFT_TRY(tft_cuda_capture_begin(x->stream));
        x->capturing = 1;
    }
    TFT_NVTX_PUSH("tft.upload");
    const size_t Nr = (size_t)m->n_reals, Nc = (size_t)m->n_cats;
    stage_in(x, &x->enc_cat, in->encoder_cat, 4 * B * Te * Nc);
    stage_in(x, &x->enc_cont, in->encoder_cont, 4 * B * Te * Nr);
    stage_in(x, &x->dec_cat, in->decoder_cat, 4 * B * Td * Nc);
    stage_in(x, &x->dec_cont, in->decoder_cont, 4 * B * Td * Nr);
    stage_in(x, &x->enc_len, in->encoder_lengths, 4 * B);
    stage_in(x, &x->dec_len, in->decoder_lengths, 4 * B);
    stage_in(x, &x->tscale, in->target_scale, 4 * B * m->NT * 2);
    if (!x->replay) {
        RUN(tft_cuda_copy_async(x->erun.dev, x->erun.host, 4 * B, x->stream));
        RUN(tft_cuda_copy_async(x->patch.dev, x->patch.host, 4 * B * L, x->stream));
    }
    TFT_NVTX_POP();
    return TFT_OK;
}

static void cu_begin_chunk(void *bk, int lo, int C) {
    struct tft_cuda_ctx *x = bk;
    x->lo = lo, x->C = C;
}

// Variable selection over R rows (§3.8): x rows of reals at cont + r*cont_stride and categoricals
// at cat + r*cat_stride -> y [R, H] and the selection weights wts [R, n]; ctx: NULL or the
// flattened GRN's context [R / ctx_group, hid].
static void vsn_rows(struct tft_cuda_ctx *x, const tft_vsn *v, int R, const float *cont, int cont_stride,
                     const int32_t *cat, int cat_stride, const float *ctx, int ctx_group, float *wts, float *y) {
    const int H = x->m->H, I = v->in_total, nv = v->n;
    void     *s = x->stream;
    if (nv == 0) { // no variables: zeros
        RUN(tft_cuda_memset0(y, sizeof(float) * (size_t)R * H, s));
        return;
    }
    for (int k = 0, off = 0; k < nv; off += v->vars[k].width, k++) {
        const tft_var *var = &v->vars[k];
        float         *in  = x->vflat + off;
        if (var->is_real) {
            RUN(tft_cuda_prescale(in, I, cont + var->real_col, cont_stride, var->pre_w, var->pre_b, R, var->width, s));
        } else {
            const tft_emb *e = &x->embs[var->emb];
            RUN(tft_cuda_embedding(in, I, cat, cat_stride, e->cols, e->ncols, e->table, R, e->dim, s));
        }
        float *o = nv == 1 ? y : x->vouts + (size_t)k * R * H; // [R, H] planes
        if (var->is_grn) RUN(tft_cuda_grn(x->blas, o, in, I, R, &var->grn, NULL, 1, x->scratch));
        else RUN(tft_cuda_resample_norm(o, in, I, R, var->width, H, var->rs_mask, var->rs_w, var->rs_b, s));
    }
    if (nv == 1) { // a single variable: no selection, weight 1
        RUN(tft_cuda_fill(wts, (size_t)R, 1.0f, s));
        return;
    }
    RUN(tft_cuda_grn(x->blas, wts, x->vflat, I, R, &v->flat, ctx, ctx_group, x->scratch)); // logits [R, nv]
    RUN(tft_cuda_softmax(wts, R, nv, s));
    RUN(tft_cuda_vsn_combine(y, x->vouts, wts, R, nv, H, s));
}

static void cu_static_vsn(void *bk) {
    struct tft_cuda_ctx *x = bk;
    const tft_model     *m = x->m;
    if (x->replay) return;
    TFT_NVTX_PUSH("tft.static_vsn");
    const int Te = x->in->enc_steps, Td = x->in->dec_steps, s_step = Te > 0 ? Te : Td;
    vsn_rows(x, x->W.vsn_static, x->in->n, Te > 0 ? x->enc_cont.dev : x->dec_cont.dev, s_step * m->n_reals,
             Te > 0 ? x->enc_cat.dev : x->dec_cat.dev, s_step * m->n_cats, NULL, 1, x->a.s_w, x->a.s_xi);
    TFT_NVTX_POP();
}

static void cu_vsn(void *bk, tft_part part, tft_rows r) {
    struct tft_cuda_ctx *x = bk;
    const tft_model     *m = x->m;
    if (x->replay || r.n <= 0) return;
    const int      enc = part == TFT_PART_ENCODER, H = m->H, Nr = m->n_reals, Nc = m->n_cats;
    const int      S = enc ? x->in->enc_steps : x->in->dec_steps, T = x->in->enc_steps + x->in->dec_steps;
    const tft_vsn *v = enc ? x->W.vsn_enc : x->W.vsn_dec;
    const size_t   row = (size_t)x->lo * S, nw = v->n > 0 ? (size_t)v->n : 1;
    const int      R   = x->C * S;
    TFT_NVTX_PUSH(enc ? "tft.vsn_encoder" : "tft.vsn_decoder");
    vsn_rows(x, v, R, (const float *)(enc ? x->enc_cont.dev : x->dec_cont.dev) + row * Nr, Nr,
             (const int32_t *)(enc ? x->enc_cat.dev : x->dec_cat.dev) + row * Nc, Nc,
             v->n > 1 ? (enc ? x->a.ctx_e : x->a.ctx_d) + (size_t)x->lo * v->flat.hid : NULL, S,
             (enc ? x->a.e_w : x->a.d_w) + row * nw, x->vtmp);
    // [C, S, H] -> the chunk's EMB rows of that part ([C, T, H], at step r.s0)
    RUN(tft_cuda_copy2d(x->a.emb + (size_t)r.s0 * H, (size_t)T * H, x->vtmp, (size_t)S * H, (size_t)S * H,
                        (size_t)x->C, x->stream));
    TFT_NVTX_POP();
}

static void cu_grn(void *bk, const tft_grn_w *w, tft_buf xb, tft_buf cb, tft_buf yb, tft_rows r) {
    struct tft_cuda_ctx *x = bk;
    if (x->replay) return;
    int    xw, xk, yw, yk, cw = 0, ck;
    float *xp = rows_of(x, xb, r, 0, &xw, &xk), *yp = rows_of(x, yb, r, 1, &yw, &yk);
    float *cp = cb == TFT_B_NONE ? NULL : tft_buf_of(x->m, &x->a, cb, &cw, &ck);
    if (xk == TFT_KIND_SERIES) {
        RUN(tft_cuda_grn(x->blas, yp, xp, xw, x->in->n, w, NULL, 1, x->scratch));
        return;
    }
    RUN(tft_cuda_grn(x->blas, yp, xp, xw, x->C * r.n, w, cp ? cp + (size_t)x->lo * cw : NULL, r.n, x->scratch));
}

static void cu_linear(void *bk, const tft_lin_w *w, tft_buf xb, tft_buf yb, tft_rows r) {
    struct tft_cuda_ctx *x = bk;
    if (x->replay) return;
    int    xw, xk, yw, yk;
    float *xp = rows_of(x, xb, r, 0, &xw, &xk), *yp = rows_of(x, yb, r, 1, &yw, &yk);
    int    R  = xk == TFT_KIND_SERIES ? x->in->n : x->C * r.n;
    RUN(tft_cuda_linear(x->blas, yp, yw, xp, xw, w->w, w->b, R, w->in, w->out, 0));
}

static void cu_gate_add_norm(void *bk, const tft_gan_w *w, tft_buf xb, tft_buf sb, tft_buf yb, tft_rows r) {
    struct tft_cuda_ctx *x = bk;
    if (x->replay) return;
    const int H = x->m->H, R = x->C * r.n;
    int       xw, xk, sw, sk, yw, yk;
    float    *xp = rows_of(x, xb, r, 0, &xw, &xk), *sp = rows_of(x, sb, r, 1, &sw, &sk);
    float    *yp = tft_buf_of(x->m, &x->a, yb, &yw, &yk);
    yp += yk == TFT_KIND_DECODER ? (size_t)(r.s0 - x->in->enc_steps) * yw : (size_t)r.s0 * yw;
    RUN(tft_cuda_linear(x->blas, x->scratch, 2 * H, xp, xw, w->glu_w, w->glu_b, R, H, 2 * H, 0)); // z [R, 2H]
    RUN(tft_cuda_gate_add_norm(yp, x->scratch, R, H, sp, H, w->ln_w, w->ln_b, x->stream));
}

// Both parts in one launch per layer (tft_cuda_lstm_layer): the encoder part is a no-op.
static void cu_lstm(void *bk, tft_part part) {
    struct tft_cuda_ctx *x = bk;
    if (x->replay || part == TFT_PART_ENCODER) return;
    const tft_model *m  = x->m;
    const int        C  = x->C, lo = x->lo, Te = x->in->enc_steps, Td = x->in->dec_steps, T = Te + Td;
    const int        H  = m->H, L = m->L, B = x->in->n;
    const size_t     TH = (size_t)T * H, T4H = (size_t)T * 4 * H;
    TFT_NVTX_PUSH("tft.lstm");
    const float *in = x->a.emb;
    for (int l = 0; l < L; l++) {
        float *o = l == L - 1 ? x->a.lstm_out : x->lay[l % 2]; // [C, T, H]
        // the input projections of every step (the padded ones too: one GEMM each, no gather)
        const tft_lstm_w *we = &x->W.lstm_enc[l], *wd = &x->W.lstm_dec[l];
        if (Te > 0) RUN(tft_cuda_linear(x->blas, x->xe, 4 * H, in, H, we->ih.w, we->ih.b, C * T, H, 4 * H, 0));
        RUN(tft_cuda_linear(x->blas, x->xd, 4 * H, in, H, wd->ih.w, wd->ih.b, C * T, H, 4 * H, 0));
        if (Te == 0) { // the whole batch has no history: zero encoder state
            RUN(tft_cuda_memset0(x->hs, sizeof(float) * (size_t)C * H, x->stream));
            RUN(tft_cuda_memset0(x->cs, sizeof(float) * (size_t)C * H, x->stream));
        } else { // the static contexts
            RUN(tft_cuda_copy_async(x->hs, x->a.c_h + (size_t)lo * H, sizeof(float) * (size_t)C * H, x->stream));
            RUN(tft_cuda_copy_async(x->cs, x->a.c_c + (size_t)lo * H, sizeof(float) * (size_t)C * H, x->stream));
        }
        // always the patch rows (-1: none), never NULL when no series lacks history: the captured
        // graph is replayed for any batch of this shape, with or without such series
        const int32_t *patch = (const int32_t *)x->patch.dev + (size_t)l * B + lo;
        RUN(tft_cuda_lstm_layer(o, TH, o + (size_t)Te * H, TH, x->hs, x->cs, x->xe, T4H, x->xd + (size_t)Te * 4 * H, T4H,
                                we->hh.w, we->hh.b, wd->hh.w, wd->hh.b, (const int32_t *)x->erun.dev + lo,
                                (const int32_t *)x->dec_len.dev + lo, patch, x->a.c_h, x->a.c_h, C, Te, Td, H,
                                x->stream));
        in = o;
    }
    TFT_NVTX_POP();
}

static void cu_attention(void *bk, int q0, int q1) {
    struct tft_cuda_ctx *x = bk;
    const tft_model     *m = x->m;
    if (x->replay) return;
    const int Te = x->in->enc_steps, Td = x->in->dec_steps, T = Te + Td;
    if (q0 != 0 || q1 != Td) {
        keep(x, tft__fail(TFT_ERR_UNSUPPORTED, "CUDA backend: attention over a part of the queries"));
        return;
    }
    TFT_NVTX_PUSH("tft.attention");
    RUN(tft_cuda_attention(x->a.att_o, x->a.attn + (size_t)x->lo * Td * m->NH * T, x->a.Qm, x->a.K, x->a.V,
                           (const int32_t *)x->enc_len.dev + x->lo, (const int32_t *)x->dec_len.dev + x->lo, x->C, Te,
                           Td, m->NH, m->D, m->causal, m->mask_bias, x->stream));
    TFT_NVTX_POP();
}

static void cu_outputs(void *bk, tft_rows r) {
    struct tft_cuda_ctx *x = bk;
    const tft_model     *m = x->m;
    if (x->replay) return;
    const int    Te = x->in->enc_steps, Td = x->in->dec_steps, T = Te + Td, NT = m->NT, Q = m->Q, NH = m->NH;
    const size_t lo = (size_t)x->lo, C = (size_t)x->C, np = (size_t)NT * Td * Q;
    const float *ts = (const float *)x->tscale.dev + lo * NT * 2;
    TFT_NVTX_PUSH("tft.heads");
    if (x->outs & OUT_PRED)
        RUN(tft_cuda_heads_out((float *)x->pred.dev + lo * np, x->a.y, x->C, Td, NT, Q, ts, x->tf, 1, x->stream));
    if (x->outs & OUT_NORM)
        RUN(tft_cuda_heads_out((float *)x->norm.dev + lo * np, x->a.y, x->C, Td, NT, Q, ts, x->tf, 0, x->stream));
    const float *attn = x->a.attn + lo * Td * NH * T; // [C, Td, NH, T] -> encoder keys, decoder keys
    if (x->outs & OUT_EATT)
        RUN(tft_cuda_copy2d((float *)x->eatt.dev + lo * Td * NH * Te, (size_t)Te, attn, (size_t)T, (size_t)Te,
                            C * Td * NH, x->stream));
    if (x->outs & OUT_DATT)
        RUN(tft_cuda_copy2d((float *)x->datt.dev + lo * Td * NH * Td, (size_t)Td, attn + Te, (size_t)T, (size_t)Td,
                            C * Td * NH, x->stream));
    TFT_NVTX_POP();
    (void)r;
}

// Enqueues the downloads of the requested outputs (device -> staging).
static void download(struct tft_cuda_ctx *x) {
    const tft_model *m = x->m;
    const size_t     B = (size_t)x->in->n, Te = (size_t)x->in->enc_steps, Td = (size_t)x->in->dec_steps;
    const size_t     np = B * m->NT * Td * m->Q, NH = (size_t)m->NH;
    struct {
        uint32_t    bit;
        staged     *s;
        const void *dev;
        size_t      bytes;
    } d[] = {
        {OUT_PRED, &x->pred, x->pred.dev, 4 * np},
        {OUT_NORM, &x->norm, x->norm.dev, 4 * np},
        {OUT_EATT, &x->eatt, x->eatt.dev, 4 * B * Td * NH * Te},
        {OUT_DATT, &x->datt, x->datt.dev, 4 * B * Td * NH * Td},
        {OUT_SW, &x->sw, x->a.s_w, 4 * B * m->vsn_static.n},
        {OUT_EW, &x->ew, x->a.e_w, 4 * B * Te * m->vsn_enc.n},
        {OUT_DW, &x->dw, x->a.d_w, 4 * B * Td * m->vsn_dec.n},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
        if (x->outs & d[i].bit) RUN(tft_cuda_copy_async(d[i].s->host, d[i].dev, d[i].bytes, x->stream));
}

static tft_status cu_end(void *bk) {
    struct tft_cuda_ctx  *x = bk;
    const tft_model      *m = x->m;
    const tft_net_output *out = x->out;
    if (!x->replay) download(x);
    if (x->capturing) { // the forward becomes this shape's graph (even on failure: end the capture)
        void      *exec = NULL;
        tft_status st   = tft_cuda_capture_end(x->stream, &exec);
        keep(x, st);
        if (x->st != TFT_OK) {
            tft_cuda_graph_free(exec);
        } else {
            cuda_graph *g = &x->graphs[0];
            for (int i = 1; i < CUDA_GRAPHS; i++) // a free slot, else the least recently used
                if (!g->exec) break;
                else if (!x->graphs[i].exec || x->graphs[i].last < g->last) g = &x->graphs[i];
            tft_cuda_graph_free(g->exec);
            *g = (cuda_graph){x->in->n, x->in->enc_steps, x->in->dec_steps, x->outs, exec, ++x->tick};
            x->replay = 1;
        }
    }
    if (x->st == TFT_OK && x->replay) {
        TFT_NVTX_PUSH("tft.graph_launch");
        keep(x, tft_cuda_graph_launch(graph_for(x, x->in)->exec, x->stream));
        TFT_NVTX_POP();
    }
    keep(x, tft_cuda_sync(x->stream));
    if (x->st != TFT_OK) {
        tft__error_restore(&x->err);
        return x->st;
    }
    const size_t B = (size_t)x->n_real, Te = (size_t)x->in->enc_steps, Td = (size_t)x->in->dec_steps;
    const size_t np = B * m->NT * Td * m->Q, NH = (size_t)m->NH;
    if (x->outs & OUT_PRED) memcpy(out->prediction, x->pred.host, 4 * np);
    if (x->outs & OUT_NORM) memcpy(out->prediction_normalized, x->norm.host, 4 * np);
    if (x->outs & OUT_EATT) memcpy(out->encoder_attention, x->eatt.host, 4 * B * Td * NH * Te);
    if (x->outs & OUT_DATT) memcpy(out->decoder_attention, x->datt.host, 4 * B * Td * NH * Td);
    if (x->outs & OUT_SW) memcpy(out->static_weights, x->sw.host, 4 * B * m->vsn_static.n);
    if (x->outs & OUT_EW) memcpy(out->encoder_weights, x->ew.host, 4 * B * Te * m->vsn_enc.n);
    if (x->outs & OUT_DW) memcpy(out->decoder_weights, x->dw.host, 4 * B * Td * m->vsn_dec.n);
    return TFT_OK;
}

static const tft_backend backend_cuda = {
    .name = "cuda", .weights = cu_weights, .chunk = cu_chunk, .begin = cu_begin, .begin_chunk = cu_begin_chunk,
    .static_vsn = cu_static_vsn, .vsn = cu_vsn, .grn = cu_grn, .linear = cu_linear,
    .gate_add_norm = cu_gate_add_norm, .lstm = cu_lstm, .attention = cu_attention, .outputs = cu_outputs,
    .end = cu_end,
};

// The batch-size bucket of B series: the next power of two, at most max_batch (B itself without graphs).
static int bucket_of(const struct tft_cuda_ctx *x, int B) {
    int b = 1;
    while (b < B) b <<= 1;
    return !x->use_graphs || b > x->max_batch ? B : b;
}

// One input array of n rows of `row` bytes into its staging buffer, padded to nb rows with copies
// of the real rows (row r >= n repeats row r mod n).
static void *stage_rows(staged *s, const void *src, size_t row, int n, int nb) {
    if (row == 0) return s->host;
    memcpy(s->host, src, row * (size_t)n);
    for (int r = n; r < nb; r++) memcpy((uint8_t *)s->host + row * r, (const uint8_t *)src + row * (r % n), row);
    return s->host;
}

tft_status tft_forward_cuda(struct tft_cuda_ctx *x, const tft_net_input *in, tft_net_output *out) {
    const tft_model *m = x->m;
    const int        B = in->n, Bb = bucket_of(x, B);
    const size_t     Te = (size_t)in->enc_steps, Td = (size_t)in->dec_steps;
    const size_t     Nr = (size_t)m->n_reals, Nc = (size_t)m->n_cats;
    TFT_NVTX_PUSH("tft.forward");
    // the inputs, staged (the only host copy) and padded to the bucket
    tft_net_input p   = *in;
    p.n               = Bb;
    p.encoder_cat     = stage_rows(&x->enc_cat, in->encoder_cat, 4 * Te * Nc, B, Bb);
    p.encoder_cont    = stage_rows(&x->enc_cont, in->encoder_cont, 4 * Te * Nr, B, Bb);
    p.decoder_cat     = stage_rows(&x->dec_cat, in->decoder_cat, 4 * Td * Nc, B, Bb);
    p.decoder_cont    = stage_rows(&x->dec_cont, in->decoder_cont, 4 * Td * Nr, B, Bb);
    p.encoder_lengths = stage_rows(&x->enc_len, in->encoder_lengths, 4, B, Bb);
    p.decoder_lengths = stage_rows(&x->dec_len, in->decoder_lengths, 4, B, Bb);
    p.target_scale    = stage_rows(&x->tscale, in->target_scale, 4 * 2 * (size_t)m->NT, B, Bb);
    x->n_real         = B;
    tft_status st     = tft_graph_run(&backend_cuda, x, &p, out);
    TFT_NVTX_POP();
    return st;
}
#endif
