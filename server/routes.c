// routes.c: tft-server's endpoints (server/API.md): request routing, decoding and validation on the
// I/O thread, the job handed to the batcher, and the answer written on the worker that finished it.
//
// Per request (all memory is the request's own, from the HTTP layer's recycled buffers):
//   on_head     route + method (404/405), Content-Type (415), the client's deadline header (400),
//               draining / queue full (503 + Retry-After) -- all before a byte of body is read
//   on_request  decode (json_in / kserve) into scratch 0, tft_series_check / tft_net_check (422, the
//               request's only validation: the workers do not re-check it), outputs carved from
//               scratch 1, http_defer, srv_batcher_submit (503 if it refuses)
//   done        (a worker or the batcher thread) the forecast or the error written into scratch 2,
//               then http_resume: the I/O thread queues it
//   on_done     metrics and the access log line
#include "routes.h"
#include "json_out.h"
#include "errmap.h"
#include "kserve.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum { SCR_ARENA = 0, SCR_OUT = 1, SCR_REPLY = 2 };

typedef enum route {
    R_NONE,
    R_FORECAST,      // POST /v1/forecast
    R_MODELS,        // GET  /v1/models
    R_MODEL,         // GET  /v1/models/NAME
    R_V2_SERVER,     // GET  /v2
    R_V2_MODEL,      // GET  /v2/models/NAME[/versions/V]
    R_V2_MODEL_READY, // GET /v2/models/NAME[/versions/V]/ready
    R_V2_INFER,      // POST /v2/models/NAME[/versions/V]/infer
    R_LIVE,          // GET  /v2/health/live, /healthz
    R_READY,         // GET  /v2/health/ready, /readyz
    R_METRICS,       // GET  /metrics
    R_FLEET,         // fleet mode's endpoints (fleet_http.h), with --fleet
    // the repository API last: on_head tests route >= R_REPO_INDEX
    R_REPO_INDEX,    // POST /v2/repository/index              (--model-repository-api)
    R_REPO_LOAD,     // POST /v2/repository/models/NAME/load
    R_REPO_UNLOAD,   // POST /v2/repository/models/NAME/unload
} route;

typedef struct rctx {
    srv_state   *s;
    http_req    *req;
    route        route;
    srv_endpoint ep;
    int          v2;            // errors in the KServe v2 shape {"error": "message"}
    int          timings;       // ?timings=1
    const char  *name;          // the model the path names (name_len bytes), or NULL
    size_t       name_len;
    const char  *version;       // the version it names (/v2/models/NAME/versions/V), or NULL
    size_t       version_len;
    srv_model   *m;             // the model version this request uses (a reference, released in on_done)
    int64_t      deadline_ns;
    int64_t      t_parsed;
    tft_req      fr;
    tft_v2_infer v2r;
    srv_job      job;
    fleet_route  fleet_route;   // R_FLEET: which one
    int          fleet_post;
} rctx;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// ---- replies ---------------------------------------------------------------------------------------

static void reply(rctx *c, int status, const char *ctype, const char *body, size_t len) {
    if (atomic_load_explicit(&c->s->draining, memory_order_relaxed))
        http_add_header(c->req, "Connection", "close"); // G-13: clients leave a draining server
    http_reply(c->req, status, ctype, body, len);
}

static void reply_error(rctx *c, int status, const char *code, const char *msg, int32_t series, const char *field) {
    static const char fallback[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\",\"series\":null,"
                                   "\"field\":null}}";
    enum { CAP = 4096 }; // message (320) + field (96), each escaped at most 6x, + the frame
    char   *buf = http_scratch(c->req, SCR_REPLY, CAP);
    ssize_t n   = -1;
    if (buf) n = c->v2 ? tft_v2_write_error(buf, CAP, msg) : tft_resp_write_error(buf, CAP, code, msg, series, field);
    if (n < 0 && buf) n = tft_resp_write_error(buf, CAP, code, msg, series, field);
    if (status == 503) http_add_header(c->req, "Retry-After", "1");
    if (c->v2 && code) http_add_header(c->req, "X-Tft-Error-Code", code); // the v2 body has only a message
    if (n < 0) reply(c, status, "application/json", fallback, sizeof fallback - 1);
    else reply(c, status, "application/json", buf, (size_t)n);
}

static void reject(rctx *c, srv_reject why) {
    srv_metrics_add(&c->s->metrics.rejected[why], 1);
    if (why == SRV_REJ_QUEUE_FULL)
        reply_error(c, 503, "queue_full", "the server's queue is full; retry after a second", -1, NULL);
    else reply_error(c, 503, "draining", "the server is shutting down; retry on another instance", -1, NULL);
}

// ---- routing -------------------------------------------------------------------------------------------

// "/v2/models/NAME[/versions/V][/ready|/infer]"; returns the route or R_NONE.
static route match_v2_model(rctx *c, const char *p) {
    const char *name = p + strlen("/v2/models/"), *e = strchr(name, '/');
    size_t      nl   = e ? (size_t)(e - name) : strlen(name);
    if (nl == 0) return R_NONE;
    c->name = name, c->name_len = nl;
    const char *rest = name + nl;
    if (strncmp(rest, "/versions/", 10) == 0) {
        const char *v  = rest + 10, *ve = strchr(v, '/');
        size_t      vl = ve ? (size_t)(ve - v) : strlen(v);
        if (vl == 0) return R_NONE;
        c->version = v, c->version_len = vl;
        rest = v + vl;
    }
    if (*rest == 0) return R_V2_MODEL;
    if (strcmp(rest, "/ready") == 0) return R_V2_MODEL_READY;
    if (strcmp(rest, "/infer") == 0) return R_V2_INFER;
    return R_NONE;
}

static void match(rctx *c, const char *p) {
    c->route = R_NONE, c->ep = SRV_EP_OTHER;
    if (strcmp(p, "/v1/forecast") == 0) c->route = R_FORECAST, c->ep = SRV_EP_FORECAST;
    else if (strcmp(p, "/v1/models") == 0) c->route = R_MODELS, c->ep = SRV_EP_MODELS;
    else if (strncmp(p, "/v1/models/", 11) == 0 && p[11] && !strchr(p + 11, '/')) {
        c->route = R_MODEL, c->ep = SRV_EP_MODELS;
        c->name = p + 11, c->name_len = strlen(p + 11);
    } else if (strcmp(p, "/v2/health/live") == 0 || strcmp(p, "/healthz") == 0) {
        c->route = R_LIVE, c->ep = SRV_EP_HEALTH;
    } else if (strcmp(p, "/v2/health/ready") == 0 || strcmp(p, "/readyz") == 0) {
        c->route = R_READY, c->ep = SRV_EP_HEALTH;
    }
    else if (strcmp(p, "/v2") == 0) c->route = R_V2_SERVER, c->ep = SRV_EP_V2_META;
    else if (strncmp(p, "/v2/models/", 11) == 0) {
        c->route = match_v2_model(c, p);
        c->ep    = c->route == R_V2_INFER ? SRV_EP_V2_INFER : SRV_EP_V2_META;
    } else if (strcmp(p, "/metrics") == 0) c->route = R_METRICS, c->ep = SRV_EP_METRICS;
    else if (strcmp(p, "/v2/repository/index") == 0) c->route = R_REPO_INDEX, c->ep = SRV_EP_V2_META;
    else if (strncmp(p, "/v2/repository/models/", 22) == 0) { // NAME/load, NAME/unload
        const char *name = p + 22, *e = strchr(name, '/');
        if (e && e > name && (strcmp(e, "/load") == 0 || strcmp(e, "/unload") == 0)) {
            c->route = e[1] == 'l' ? R_REPO_LOAD : R_REPO_UNLOAD, c->ep = SRV_EP_V2_META;
            c->name = name, c->name_len = (size_t)(e - name);
        }
    }
    if (c->route == R_NONE && c->s->fleet && (c->fleet_route = fleet_http_route(p, &c->fleet_post)) != FLEET_R_NONE)
        c->route = R_FLEET, c->ep = SRV_EP_FLEET;
    if (c->route == R_NONE) c->ep = SRV_EP_OTHER;
    c->v2 = strncmp(p, "/v2", 3) == 0 && (p[3] == 0 || p[3] == '/');
}

static void ctx_init(rctx *c, http_req *r, srv_state *s) {
    if (c->s) return;
    c->s = s, c->req = r, c->ep = SRV_EP_OTHER;
}

// JSON, or what curl --data sends by default (application/x-www-form-urlencoded, accepted so that a
// bare `curl --data @req.json` works); v2 infer also takes application/octet-stream (binary tensors).
static int content_type_ok(const char *ct, int v2) {
    if (!ct || !*ct) return 1;
    size_t n = strcspn(ct, ";");
    while (n && isspace((unsigned char)ct[n - 1])) n--;
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0) return 1;
    if (n == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) return 1;
    if (n > 17 && strncasecmp(ct, "application/", 12) == 0 && strncasecmp(ct + n - 5, "+json", 5) == 0) return 1;
    if (v2 && n == 24 && strncasecmp(ct, "application/octet-stream", 24) == 0) return 1;
    return 0;
}

// c->m: the current version of model name[0, len) (NULL: the only model), referenced until on_done.
// 0, or 1 with the error answered.
static int use_model(rctx *c, const char *name, size_t len) {
    switch (srv_models_acquire(c->s->models, name, len, &c->m)) {
    case SRV_MODEL_OK: return 0;
    case SRV_MODEL_NEED_NAME:
        reply_error(c, 422, "missing_field", "this server serves several models: name one with \"model\"", -1,
                    "model");
        return 1;
    case SRV_MODEL_UNLOADED:
        reply_error(c, 404, "model_unloaded",
                    "that model was unloaded through the repository API (POST /v2/repository/models/NAME/load)", -1,
                    NULL);
        return 1;
    case SRV_MODEL_LOAD_FAILED:
        reply_error(c, 503, "model_unavailable", "that model's file does not load (the server log says why)", -1,
                    NULL);
        return 1;
    default:
        reply_error(c, 404, "unknown_model", "this server has no model of that name (or version)", -1, NULL);
        return 1;
    }
}

// Constant-time equality of a presented key and the configured one (G-22): the time depends on the
// lengths only.
static int key_equal(const char *given, const char *key) {
    size_t        gl = strlen(given), kl = strlen(key);
    unsigned char d  = gl != kl;
    for (size_t i = 0; i < kl; i++) d |= (unsigned char)(key[i] ^ (i < gl ? given[i] : 0));
    return d == 0;
}

// The KServe v2 repository API (G-22: model management is off by default): 404 unless
// --model-repository-api; then 403 unless the client is on loopback or sends
// Authorization: Bearer KEY with --api-key's KEY. 0 when allowed, else 1 with the error answered.
static int repo_refused(rctx *c) {
    const srv_config *cfg = &c->s->cfg;
    if (!cfg->repository_api) {
        reply_error(c, 404, "not_found", "the model repository API is off (tft-server --model-repository-api)", -1,
                    NULL);
        return 1;
    }
    const char *h = http_req_header(c->req, "Authorization");
    if (cfg->api_key && h && strncasecmp(h, "Bearer ", 7) == 0 && key_equal(h + 7, cfg->api_key)) return 0;
    if (http_req_client_loopback(c->req) && !cfg->test_not_loopback) return 0;
    reply_error(c, 403, "forbidden",
                cfg->api_key ? "the model repository API takes loopback clients, or Authorization: Bearer with the "
                               "server's --api-key"
                             : "the model repository API takes loopback clients only (or start with --api-key)",
                -1, NULL);
    return 1;
}

static int on_head(http_req *r, void *user) {
    srv_state *s = user;
    rctx      *c = http_ctx(r);
    ctx_init(c, r, s);
    match(c, http_req_path(r));
    if (c->route == R_NONE) {
        reply_error(c, 404, "not_found", "no such endpoint", -1, NULL);
        return 1;
    }
    int         post = c->route == R_FORECAST || c->route == R_V2_INFER ||
                       c->route >= R_REPO_INDEX || (c->route == R_FLEET && c->fleet_post);
    http_method m    = http_req_method(r);
    if (post ? m != HTTP_POST : (m != HTTP_GET && m != HTTP_HEAD)) {
        http_add_header(r, "Allow", post ? "POST" : "GET, HEAD");
        reply_error(c, 405, "method_not_allowed", post ? "this endpoint takes POST" : "this endpoint takes GET",
                    -1, NULL);
        return 1;
    }
    if (c->route >= R_REPO_INDEX && repo_refused(c)) return 1;
    // the model the path names (POST /v1/forecast names it in its body: forecast() looks it up)
    if (c->name && c->route < R_REPO_INDEX && use_model(c, c->name, c->name_len)) return 1;
    if (c->version && (strlen(c->m->version) != c->version_len || memcmp(c->version, c->m->version, c->version_len))) {
        reply_error(c, 404, "unknown_model", "this server has no model of that name (or version)", -1, NULL);
        return 1;
    }
    const char *t = http_req_query(r, "timings");
    c->timings    = t && strcmp(t, "0") != 0 && strcmp(t, "false") != 0;
    if (!post) return 0;
    // (remote write is protobuf: its handler checks its own headers, server/remote_write.h)
    if (!(c->route == R_FLEET && c->fleet_route == FLEET_R_REMOTE_WRITE) &&
        !content_type_ok(http_req_header(r, "Content-Type"), c->route == R_V2_INFER)) {
        reply_error(c, 415, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)", -1,
                    NULL);
        return 1;
    }
    int64_t     ms = s->cfg.request_timeout_ms;
    const char *h  = http_req_header(r, "X-Request-Timeout-Ms");
    if (h) { // a client may only lower the server's timeout
        char     *end;
        long long v = strtoll(h, &end, 10);
        if (!isdigit((unsigned char)*h) || *end || v < 1) {
            reply_error(c, 400, "bad_header", "X-Request-Timeout-Ms must be a positive integer (milliseconds)", -1,
                        NULL);
            return 1;
        }
        if (v < ms) ms = v;
    }
    c->deadline_ns = http_req_t0(r) + ms * 1000000;
    if (atomic_load_explicit(&s->draining, memory_order_relaxed)) return reject(c, SRV_REJ_DRAINING), 1;
    if (c->m && srv_batcher_full(c->m->batcher)) return reject(c, SRV_REJ_QUEUE_FULL), 1;
    // Answers not yet read by their clients (slow readers) hold their buffers; past the cap no new
    // work is taken on until they drain
    int64_t held = http_pending_bytes(http_req_server(r));
    if (s->cfg.max_pending_bytes && held > s->cfg.max_pending_bytes) {
        char msg[192];
        snprintf(msg, sizeof msg,
                 "responses not yet read by their clients hold %lld bytes, more than --max-pending-bytes %lld; "
                 "retry after a second",
                 (long long)held, (long long)s->cfg.max_pending_bytes);
        reply_error(c, 503, "overloaded", msg, -1, NULL);
        return 1;
    }
    return 0;
}

// 413 when a response would hold more than --max-output-values numbers (0 = it fits).
static int too_many_outputs(rctx *c, size_t values, const char *hint) {
    if ((int64_t)values <= c->s->cfg.max_output_values) return 0;
    char msg[256];
    snprintf(msg, sizeof msg, "the response would have %zu numbers, more than --max-output-values %lld; %s", values,
             (long long)c->s->cfg.max_output_values, hint);
    reply_error(c, 413, "response_too_large", msg, -1, NULL);
    return 1;
}

static void on_error(http_req *r, int status, const char *code, const char *message, void *user) {
    rctx *c = http_ctx(r);
    ctx_init(c, r, user);
    reply_error(c, status, code, message, -1, NULL);
}

// ---- POST /v1/forecast ---------------------------------------------------------------------------------

static void count_stages(rctx *c, int64_t serialize_ns) {
    srv_metrics *m = &c->s->metrics;
    srv_job     *j = &c->job;
    srv_metrics_add(&m->stage_ns[SRV_ST_PARSE], (uint64_t)(c->t_parsed - http_req_t0(c->req)));
    if (j->t_start_ns) {
        srv_metrics_add(&m->stage_ns[SRV_ST_QUEUE], (uint64_t)(j->t_start_ns - j->t_enqueue_ns));
        if (j->t_end_ns > j->t_start_ns)
            srv_metrics_add(&m->stage_ns[SRV_ST_COMPUTE], (uint64_t)(j->t_end_ns - j->t_start_ns));
    }
    srv_metrics_add(&m->stage_ns[SRV_ST_SERIALIZE], (uint64_t)serialize_ns);
}

// Server-Timing (ms) and, for the JSON timings block, the stage durations in microseconds.
static void stage_us(const rctx *c, int64_t us[3]) {
    const srv_job *j = &c->job;
    us[0]            = (c->t_parsed - http_req_t0(c->req)) / 1000;
    us[1]            = j->t_start_ns ? (j->t_start_ns - j->t_enqueue_ns) / 1000 : 0;
    us[2]            = j->t_start_ns && j->t_end_ns > j->t_start_ns ? (j->t_end_ns - j->t_start_ns) / 1000 : 0;
}

static void server_timing(rctx *c, int64_t serialize_ns) {
    int64_t us[3];
    stage_us(c, us);
    char v[192];
    snprintf(v, sizeof v, "parse;dur=%.3f, queue;dur=%.3f, compute;dur=%.3f, serialize;dur=%.3f", us[0] / 1e3,
             us[1] / 1e3, us[2] / 1e3, (double)serialize_ns / 1e6);
    http_add_header(c->req, "Server-Timing", v);
}

// Writes with `write` into scratch 2, doubling the buffer from `cap` while it is too small.
typedef ssize_t (*writer_fn)(rctx *c, char *buf, size_t cap, void *arg);
// *cap: the first size to try in, the buffer's size out.
static ssize_t write_grow(rctx *c, size_t *cap, writer_fn write, void *arg, char **out) {
    for (;;) {
        char *buf = http_scratch(c->req, SCR_REPLY, *cap);
        if (!buf) return TFT_RESP_E_SMALL;
        ssize_t n = write(c, buf, *cap, arg);
        if (n != TFT_RESP_E_SMALL || *cap >= ((size_t)1 << 31)) return *out = buf, n;
        *cap *= 2;
    }
}

static ssize_t write_forecast(rctx *c, char *buf, size_t cap, void *arg) {
    return tft_resp_write_forecast(buf, cap, arg);
}

// The real input of largest magnitude in series x, as "history.cpu_pct[5]" in field and its value in *v;
// -1 if the series has no real value.
static int largest_input(const tft_series *x, char *field, size_t cap, double *v) {
    static const char *const parts[3] = {"static", "history", "future"};
    const tft_column        *cols[3]  = {x->statics, x->history, x->future};
    int32_t                  nc[3]    = {x->n_statics, x->n_history_columns, x->n_future_columns};
    int                      found    = -1;
    for (int p = 0; p < 3; p++)
        for (int32_t k = 0; k < nc[p]; k++)
            for (int32_t i = 0; cols[p][k].values && i < cols[p][k].len; i++)
                if (found < 0 || fabs(cols[p][k].values[i]) > fabs(*v)) {
                    *v = cols[p][k].values[i], found = 0;
                    if (p == 0) snprintf(field, cap, "static.%s", cols[p][k].name);
                    else snprintf(field, cap, "%s.%s[%d]", parts[p], cols[p][k].name, i);
                }
    return found;
}

// The engine found a forecast that is not finite although every input was (the decoder refuses
// NaN, Inf and literals past double's range): a value too large for float32 arithmetic in the
// network (3e38 is a float; scaled, squared or summed it is not). That is the request's to fix:
// 422 naming the series and its value of largest magnitude, the likely cause. 0 when answered.
static int reply_overflow(rctx *c, const srv_job *j) {
    if (!j->code || strcmp(j->code, "non_finite_output") != 0 || j->err_series < 0 || j->err_series >= c->fr.n)
        return -1;
    const tft_series *x = &c->fr.series[j->err_series];
    char              field[96], msg[320];
    double            v = 0;
    if (largest_input(x, field, sizeof field, &v) != 0) return -1;
    snprintf(msg, sizeof msg,
             "series %d '%s': the forecast overflows float32 (not finite); its largest input, %s = %g, is likely "
             "out of the range the model can compute with",
             j->err_series, x->id ? x->id : "", field, v);
    reply_error(c, 422, "input_out_of_range", msg, j->err_series, field);
    return 0;
}

static void forecast_done(srv_job *j) {
    rctx                 *c  = j->user;
    const tft_model_info *mi = c->m->mi;
    int64_t               t0 = now_ns();
    if (j->http) {
        if (reply_overflow(c, j) != 0) reply_error(c, j->http, j->code, j->message, j->err_series, j->field);
        count_stages(c, now_ns() - t0);
        http_resume(c->req); // last: the request may be recycled at once
        return;
    }
    int32_t           n = c->fr.n, T = j->horizon;
    tft_resp_forecast f = {.model_name      = c->m->name,
                           .model_sha256    = mi->sha256,
                           .n_quantiles     = mi->n_quantiles,
                           .quantile_levels = mi->quantiles,
                           .horizon         = T,
                           .n_series        = n,
                           .ids             = c->fr.ids,
                           .encoder_lengths = j->out.encoder_lengths,
                           .n_targets       = mi->n_targets,
                           .targets         = mi->targets,
                           .quantiles       = j->out.quantiles};
    size_t names = 0;
    if (c->fr.interpret) {
        f.n_heads = mi->n_heads, f.max_encoder_length = mi->max_encoder_length;
        f.attention = j->out.attention, f.static_weights = j->out.static_weights;
        f.encoder_weights = j->out.encoder_weights, f.decoder_weights = j->out.decoder_weights;
        f.n_static_vars = mi->n_static_vars, f.static_vars = mi->static_vars;
        f.n_encoder_vars = mi->n_encoder_vars, f.encoder_vars = mi->encoder_vars;
        f.n_decoder_vars = mi->n_decoder_vars, f.decoder_vars = mi->decoder_vars;
        for (int32_t v = 0; v < mi->n_static_vars; v++) names += 6 * strlen(mi->static_vars[v]) + 4;
        for (int32_t v = 0; v < mi->n_encoder_vars; v++) names += 6 * strlen(mi->encoder_vars[v]) + 4;
        for (int32_t v = 0; v < mi->n_decoder_vars; v++) names += 6 * strlen(mi->decoder_vars[v]) + 4;
    }
    int64_t         us[3];
    tft_resp_timing tm[3];
    if (c->timings) {
        stage_us(c, us);
        tm[0] = (tft_resp_timing){"parse", us[0]}, tm[1] = (tft_resp_timing){"queue", us[1]};
        tm[2] = (tft_resp_timing){"compute", us[2]};
        f.n_timings = 3, f.timings = tm;
    }
    // a bound that is nearly always enough: 16 bytes per float, every string escaped 6x
    size_t Q = (size_t)mi->n_quantiles, NT = (size_t)mi->n_targets, Tm = (size_t)mi->max_encoder_length;
    size_t tnames = 0, floats = (size_t)n * NT * T * Q, per = 96 + names;
    for (size_t t = 0; t < NT; t++) tnames += 6 * strlen(mi->targets[t]) + 8;
    per += tnames + NT * (size_t)T * 3;
    if (c->fr.interpret) {
        floats += (size_t)n * ((size_t)T * mi->n_heads * (Tm + T) + mi->n_static_vars + Tm * mi->n_encoder_vars +
                               (size_t)T * mi->n_decoder_vars);
        per += 3 * (Tm + (size_t)T * (mi->n_heads + 2)) + 128;
    }
    size_t cap = 1024 + 16 * Q + 6 * strlen(c->m->name) + 16 * floats;
    for (int32_t i = 0; i < n; i++) cap += per + 6 * strlen(c->fr.ids[i]);
    char   *buf = NULL;
    ssize_t len = write_grow(c, &cap, write_forecast, &f, &buf);
    int64_t ser = now_ns() - t0;
    if (len == TFT_RESP_E_NONFINITE) {
        reply_error(c, 500, "non_finite_output", "the forecast is not finite", -1, NULL);
    } else if (len < 0) {
        reply_error(c, 500, "internal", "the response could not be written", -1, NULL);
    } else {
        // the timings block is written last, so serializing's own time is spliced in after the fact:
        // "...,"compute_us":N}}" -> "...,"compute_us":N,"serialize_us":M}}"
        if (c->timings && len >= 2 && (size_t)len + 48 < cap && memcmp(buf + len - 2, "}}", 2) == 0) {
            int k = snprintf(buf + len - 2, 48, ",\"serialize_us\":%lld}}", (long long)(ser / 1000));
            len += k - 2;
        }
        if (c->timings) server_timing(c, ser);
        http_add_header(c->req, "X-Model-Version", c->m->version);
        reply(c, 200, "application/json", buf, (size_t)len);
    }
    count_stages(c, ser);
    http_resume(c->req); // last: the request may be recycled at once
}

// The top-level "model" string of a forecast body, found without decoding it (the decoder needs the
// model): a scan of the outer object's keys that skips strings and nested values. *name stays NULL
// when there is none, or when the body is not an object or "model" not a string (the decoder then
// says what is wrong). Escapes are not decoded: such a name matches no model, and forecast() checks
// the decoded "model" against the model it used.
static void body_model_name(const char *b, size_t len, const char **name, size_t *nl) {
    *name = NULL, *nl = 0;
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        if (b[i] == '{' || b[i] == '[') depth++;
        else if (b[i] == '}' || b[i] == ']') depth--;
        if (b[i] != '"') continue;
        size_t at = ++i; // a string: [at, i)
        while (i < len && b[i] != '"') i += b[i] == '\\' ? 2 : 1;
        if (i >= len) return;
        if (depth != 1 || i - at != 5 || memcmp(b + at, "model", 5) != 0) continue;
        size_t k = i + 1;
        while (k < len && isspace((unsigned char)b[k])) k++;
        if (k >= len || b[k] != ':') continue; // a value "model", not the key
        for (k++; k < len && isspace((unsigned char)b[k]); k++) {}
        if (k >= len || b[k] != '"') return;
        size_t v = ++k;
        while (k < len && b[k] != '"') k += b[k] == '\\' ? 2 : 1;
        if (k < len) *name = b + v, *nl = k - v;
        return;
    }
}

static void forecast(rctx *c) {
    srv_state            *s  = c->s;
    http_req             *r  = c->req;
    size_t                len;
    char                 *body = http_req_body(r, &len);
    if (!c->m) { // the model the body names (or the only one), before the decoder changes the body
        const char *name;
        size_t      nl;
        body_model_name(body, len, &name, &nl);
        if (use_model(c, name, nl)) return;
        if (srv_batcher_full(c->m->batcher)) return reject(c, SRV_REJ_QUEUE_FULL);
    }
    const tft_model_info *mi   = c->m->mi;
    size_t                need = tft_req_arena_bound(body, len);
    tft_req_error         e;
    for (int attempt = 0;; attempt++) {
        void *mem = http_scratch(r, SCR_ARENA, need);
        if (!mem) return reply_error(c, 503, "overloaded", "out of memory for the request", -1, NULL);
        tft_req_arena a;
        tft_req_arena_init(&a, mem, need, &s->limits);
        if (tft_req_decode(c->m->model, body, len, &a, &c->fr, &e) == 0) break;
        if (attempt == 0 && tft_req_arena_exhausted(&e)) {
            need = tft_req_arena_worst(len); // a safety net: the bound holds for any body
            continue;
        }
        return reply_error(c, e.http, e.code, e.message, e.series, e.field);
    }
    if (c->fr.model && strcmp(c->fr.model, c->m->name) != 0)
        return reply_error(c, 404, "unknown_model", "this server has no model of that name", -1, "model");
    // the request's one validation (the worker's context trusts it: checked_input)
    if (tft_series_check(c->m->model, c->fr.series, c->fr.n) != TFT_OK) {
        const tft_error *ed = tft_last_error_detail();
        const char      *code;
        int              http = srv_error_http(ed, &code);
        return reply_error(c, http, code, ed->message, ed->series, ed->field);
    }
    // outputs: [n, nt, T, Q] quantiles, [n] encoder lengths, and the interpretation if asked for
    size_t n = (size_t)c->fr.n, T = (size_t)(c->fr.horizon ? c->fr.horizon : mi->max_prediction_length);
    size_t Tm = (size_t)mi->max_encoder_length, NH = (size_t)mi->n_heads;
    size_t sz[6] = {n * mi->n_targets * T * mi->n_quantiles, n, 0, 0, 0, 0}, total = 0;
    if (c->fr.interpret) {
        sz[2] = n * T * NH * (Tm + T), sz[3] = n * mi->n_static_vars;
        sz[4] = n * Tm * mi->n_encoder_vars, sz[5] = n * T * mi->n_decoder_vars;
    }
    size_t values = sz[0];
    for (int i = 2; i < 6; i++) values += sz[i];
    if (too_many_outputs(c, values, c->fr.interpret ? "send fewer series per request, or leave out \"interpret\""
                                                    : "send fewer series per request"))
        return;
    for (int i = 0; i < 6; i++) total += (sz[i] + 3) & ~(size_t)3; // 16-byte aligned pieces
    float *o = http_scratch(r, SCR_OUT, 4 * total);
    if (!o) return reply_error(c, 503, "overloaded", "out of memory for the forecast", -1, NULL);
    srv_job *j = &c->job;
    memset(j, 0, sizeof *j);
    float *p[6];
    for (int i = 0; i < 6; i++) p[i] = o, o += (sz[i] + 3) & ~(size_t)3;
    j->kind = SRV_JOB_FORECAST, j->n = c->fr.n, j->series = c->fr.series, j->horizon = (int32_t)T;
    j->out.quantiles = p[0], j->out.encoder_lengths = (int32_t *)(void *)p[1];
    if (c->fr.interpret) {
        j->out.attention = p[2], j->out.static_weights = p[3];
        j->out.encoder_weights = p[4], j->out.decoder_weights = p[5];
    }
    j->deadline_ns = c->deadline_ns, j->done = forecast_done, j->user = c;
    c->t_parsed    = now_ns();
    if (c->t_parsed >= c->deadline_ns) {
        srv_metrics_add(&s->metrics.rejected[SRV_REJ_DEADLINE], 1);
        return reply_error(c, 504, "deadline_exceeded", "the request's deadline passed before it was queued", -1,
                           NULL);
    }
    http_defer(r); // before the batcher can see the job (http_mhd.c says why)
    int rc = srv_batcher_submit(c->m->batcher, j);
    if (rc == SRV_SUBMIT_OK) return; // from here on the job belongs to the batcher
    reject(c, rc == SRV_SUBMIT_FULL ? SRV_REJ_QUEUE_FULL : SRV_REJ_DRAINING);
    http_resume(r);
}

// ---- POST /v2/models/NAME/infer ---------------------------------------------------------------------------

typedef struct v2_args {
    size_t json_len;
} v2_args;

static ssize_t write_v2(rctx *c, char *buf, size_t cap, void *arg) {
    v2_args *a = arg;
    return tft_v2_write_infer(buf, cap, c->m->model, c->m->name, c->m->version, &c->v2r, &c->job.net_out,
                              &a->json_len);
}

// v2's reply_overflow: the outputs are not finite although every input tensor is finite FP32 (the
// decoder checks that). 422 naming the input element of largest magnitude, as "encoder_cont[b][t][k]".
static void reply_v2_overflow(rctx *c) {
    const tft_net_input *in = &c->v2r.in;
    const int32_t        Nr = c->m->mi->n_reals, nt = c->m->mi->n_targets;
    const float         *t[3]     = {in->encoder_cont, in->decoder_cont, in->target_scale};
    const int32_t        steps[3] = {in->enc_steps, in->dec_steps, nt}, inner[3] = {Nr, Nr, 2};
    static const char *const names[3] = {"encoder_cont", "decoder_cont", "target_scale"};
    int    best = -1;
    size_t at   = 0;
    float  v    = 0;
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; t[k] && i < (size_t)in->n * (size_t)steps[k] * (size_t)inner[k]; i++)
            if (best < 0 || fabsf(t[k][i]) > fabsf(v)) best = k, at = i, v = t[k][i];
    char field[96], msg[320];
    if (best < 0) snprintf(field, sizeof field, "inputs");
    else {
        size_t per = (size_t)steps[best] * (size_t)inner[best];
        snprintf(field, sizeof field, "%s[%zu][%zu][%zu]", names[best], at / per, at % per / (size_t)inner[best],
                 at % (size_t)inner[best]);
    }
    snprintf(msg, sizeof msg,
             "the outputs overflow float32 (not finite) although every input is finite; the largest input, %s = %g, "
             "is likely out of the range the model can compute with",
             field, (double)v);
    reply_error(c, 422, "input_out_of_range", msg, -1, field);
}

static void v2_done(srv_job *j) {
    rctx    *c  = j->user;
    int64_t  t0 = now_ns();
    if (j->http) {
        if (j->code && strcmp(j->code, "non_finite_output") == 0) reply_v2_overflow(c);
        else reply_error(c, j->http, j->code, j->message, -1, NULL);
        count_stages(c, now_ns() - t0);
        http_resume(c->req);
        return;
    }
    size_t floats = 0;
    for (uint32_t bit = 1; bit <= TFT_V2_OUT_DECODER_WEIGHTS; bit <<= 1)
        if (c->v2r.want & bit) floats += tft_v2_output_floats(c->m->model, &c->v2r.in, bit);
    size_t cap = tft_v2_infer_bound(c->m->model, c->m->name, c->m->version, &c->v2r);
    if (cap == 0) cap = 4096 + 16 * floats;
    v2_args a   = {0};
    char   *buf = NULL;
    ssize_t len = write_grow(c, &cap, write_v2, &a, &buf);
    int64_t ser = now_ns() - t0;
    if (len == TFT_RESP_E_NONFINITE) reply_v2_overflow(c);
    else if (len < 0) reply_error(c, 500, "internal", "the response could not be written", -1, NULL);
    else {
        if (c->timings) server_timing(c, ser);
        http_add_header(c->req, "X-Model-Version", c->m->version);
        if (c->v2r.binary) {
            char v[32];
            snprintf(v, sizeof v, "%zu", a.json_len);
            http_add_header(c->req, "Inference-Header-Content-Length", v);
        }
        reply(c, 200, c->v2r.binary ? "application/octet-stream" : "application/json", buf, (size_t)len);
    }
    count_stages(c, ser);
    http_resume(c->req);
}

static void v2_infer(rctx *c) {
    srv_state *s = c->s;
    http_req  *r = c->req;
    size_t     len;
    char      *body     = http_req_body(r, &len);
    size_t     json_len = len;
    const char *h       = http_req_header(r, "Inference-Header-Content-Length");
    if (h) {
        char              *end;
        unsigned long long v = strtoull(h, &end, 10);
        if (!isdigit((unsigned char)*h) || *end || v > len)
            return reply_error(c, 400, "bad_header",
                               "Inference-Header-Content-Length must be an integer no larger than the body", -1, NULL);
        json_len = (size_t)v;
    }
    size_t        need = tft_req_arena_bound(body, json_len) + 2 * (len - json_len) + 65536;
    tft_req_error e;
    for (int attempt = 0;; attempt++) {
        void *mem = http_scratch(r, SCR_ARENA, need);
        if (!mem) return reply_error(c, 503, "overloaded", "out of memory for the request", -1, NULL);
        tft_req_arena a;
        tft_req_arena_init(&a, mem, need, &s->limits);
        if (tft_v2_decode_infer(c->m->model, body, len, json_len, &a, &c->v2r, &e) == 0) break;
        if (attempt == 0 && tft_req_arena_exhausted(&e)) {
            need = tft_req_arena_worst(json_len) + 2 * (len - json_len) + 65536;
            continue;
        }
        return reply_error(c, e.http, e.code, e.message, e.series, e.field);
    }
    if (c->v2r.in.n > s->cfg.max_batch) {
        char msg[160];
        snprintf(msg, sizeof msg, "the request has %d series; this server runs at most --max-batch %d per call",
                 c->v2r.in.n, s->cfg.max_batch);
        return reply_error(c, 413, "too_many_series", msg, -1, NULL);
    }
    // outputs, each 16-byte aligned, in scratch 1
    size_t   sz[7], total = 0;
    uint32_t bits = c->v2r.want ? c->v2r.want : TFT_V2_OUT_PREDICTION;
    size_t values = 0;
    for (int i = 0; i < 7; i++) {
        sz[i] = bits & (1u << i) ? tft_v2_output_floats(c->m->model, &c->v2r.in, 1u << i) : 0;
        total += (sz[i] + 3) & ~(size_t)3;
        values += sz[i];
    }
    if (too_many_outputs(c, values, "send fewer rows per request, or ask for fewer outputs")) return;
    float *o = http_scratch(r, SCR_OUT, 4 * total + 16);
    if (!o) return reply_error(c, 503, "overloaded", "out of memory for the outputs", -1, NULL);
    float *p[7];
    for (int i = 0; i < 7; i++) p[i] = sz[i] ? o : NULL, o += (sz[i] + 3) & ~(size_t)3;
    srv_job *j = &c->job;
    memset(j, 0, sizeof *j);
    j->kind = SRV_JOB_NET, j->n = c->v2r.in.n, j->net_in = &c->v2r.in;
    j->net_out = (tft_net_output){.prediction             = p[0],
                                  .prediction_normalized  = p[1],
                                  .encoder_attention      = p[2],
                                  .decoder_attention      = p[3],
                                  .static_weights         = p[4],
                                  .encoder_weights        = p[5],
                                  .decoder_weights        = p[6]};
    j->deadline_ns = c->deadline_ns, j->done = v2_done, j->user = c;
    c->t_parsed    = now_ns();
    if (c->t_parsed >= c->deadline_ns) {
        srv_metrics_add(&s->metrics.rejected[SRV_REJ_DEADLINE], 1);
        return reply_error(c, 504, "deadline_exceeded", "the request's deadline passed before it was queued", -1,
                           NULL);
    }
    http_defer(r);
    int rc = srv_batcher_submit(c->m->batcher, j);
    if (rc == SRV_SUBMIT_OK) return;
    reject(c, rc == SRV_SUBMIT_FULL ? SRV_REJ_QUEUE_FULL : SRV_REJ_DRAINING);
    http_resume(r);
}

// ---- the small GET endpoints ----------------------------------------------------------------------------

static ssize_t write_metrics(rctx *c, char *buf, size_t cap, void *arg) {
    (void)arg;
    srv_metrics *m = &c->s->metrics;
    http_server *h = http_req_server(c->req); // (not c->s->http: main may still be storing it)
    for (int r = 0; r < 3; r++)
        atomic_store_explicit(&m->conn_cut[r], http_cut_count(h, (http_cut_reason)r), memory_order_relaxed);
    atomic_store_explicit(&m->pending_bytes, http_pending_bytes(h), memory_order_relaxed);
    ssize_t n = srv_metrics_write(&c->s->metrics, buf, cap);
    ssize_t k = n < 0 ? -1 : srv_registry_write_metrics(c->s->models, buf + n, cap - (size_t)n);
    if (n < 0 || k < 0) return TFT_RESP_E_SMALL;
    if (!c->s->fleet) return n + k;
    tft_jw o = {buf, cap, (size_t)(n + k), 0}; // fleet mode's counters after the server's
    fleet_srv_metrics(c->s->fleet, &o);
    return tft_jw_finish(&o);
}

// GET /v1/models: {"models":[...]}, each loaded model's GET /v1/models/NAME (an evicted or unloaded
// one is listed by POST /v2/repository/index).
typedef struct list_args {
    tft_jw *o;
    int     all, k;
} list_args;

static void list_one(srv_model *m, void *arg) {
    list_args *a = arg;
    if (a->k++) tft_jw_lit(a->o, ",");
    tft_jw_raw(a->o, m->model_json[a->all], m->model_len[a->all]);
}

static ssize_t write_models(rctx *c, char *buf, size_t cap, void *arg) {
    tft_jw    o = {buf, cap, 0, 0};
    list_args a = {&o, *(int *)arg, 0};
    tft_jw_lit(&o, "{\"models\":[");
    srv_models_each_loaded(c->s->models, list_one, &a);
    tft_jw_lit(&o, "]}");
    ssize_t n = tft_jw_finish(&o);
    return n < 0 ? TFT_RESP_E_SMALL : n;
}

static void models_list(rctx *c) {
    int     all = http_req_query(c->req, "all_labels") != NULL;
    char   *buf = NULL;
    size_t  cap = 64 * 1024;
    ssize_t n   = write_grow(c, &cap, write_models, &all, &buf);
    if (n < 0) reply_error(c, 500, "internal", "the model list could not be written", -1, NULL);
    else reply(c, 200, "application/json", buf, (size_t)n);
}

// POST /v2/repository/index ({"ready": true} lists only the loaded models), and
// POST /v2/repository/models/NAME/load | unload (KServe v2 model repository extension).
static ssize_t write_index(rctx *c, char *buf, size_t cap, void *arg) {
    ssize_t n = srv_registry_write_index(c->s->models, buf, cap, *(int *)arg);
    return n < 0 ? TFT_RESP_E_SMALL : n;
}

static void repository(rctx *c) {
    char name[128], err[512];
    snprintf(name, sizeof name, "%.*s", (int)(c->name_len < 127 ? c->name_len : 127), c->name ? c->name : "");
    if (c->route == R_REPO_INDEX) {
        size_t      len;
        const char *body  = http_req_body(c->req, &len);
        // {"ready": true}: the loaded ones only (a body is optional; anything else lists them all)
        const char *at    = len ? strstr(body, "\"ready\"") : NULL;
        if (at) at += strspn(at + 7, " \t\r\n") + 7;
        if (at && *at == ':') at += strspn(at + 1, " \t\r\n") + 1;
        int ready = at && strncmp(at, "true", 4) == 0;
        char       *buf   = NULL;
        size_t      cap   = 16 * 1024;
        ssize_t     n     = write_grow(c, &cap, write_index, &ready, &buf);
        if (n < 0) reply_error(c, 500, "internal", "the index could not be written", -1, NULL);
        else reply(c, 200, "application/json", buf, (size_t)n);
        return;
    }
    int st = c->route == R_REPO_LOAD ? srv_registry_load(c->s->models, name, err, sizeof err)
                                     : srv_registry_unload(c->s->models, name, err, sizeof err);
    if (st == 0) reply(c, 200, "application/json", "{}", 2);
    else reply_error(c, st, st == 404 ? "unknown_model" : st == 422 ? "model_load_failed" : "internal", err, -1,
                     NULL);
}

static void on_request(http_req *r, void *user) {
    srv_state *s = user;
    rctx      *c = http_ctx(r);
    int        ready;
    switch (c->route) {
    case R_FORECAST: forecast(c); break;
    case R_V2_INFER: v2_infer(c); break;
    case R_FLEET: fleet_srv_handle(s->fleet, r, c->fleet_route); break;
    case R_MODELS: models_list(c); break;
    case R_MODEL: {
        int all = http_req_query(r, "all_labels") != NULL;
        reply(c, 200, "application/json", c->m->model_json[all], c->m->model_len[all]);
        break;
    }
    case R_REPO_INDEX:
    case R_REPO_LOAD:
    case R_REPO_UNLOAD: repository(c); break;
    case R_V2_SERVER:
    case R_V2_MODEL: {
        const char *b = c->route == R_V2_SERVER ? s->v2_server_json : c->m->v2_model_json;
        ssize_t     n = c->route == R_V2_SERVER ? s->v2_server_len : c->m->v2_model_len;
        if (!b || n < 0) reply_error(c, 501, "not_implemented", "KServe v2 metadata is not available", -1, NULL);
        else reply(c, 200, "application/json", b, (size_t)n);
        break;
    }
    case R_LIVE: reply(c, 200, "application/json", "{\"live\":true}", 13); break;
    case R_READY:
    case R_V2_MODEL_READY:
        ready = atomic_load_explicit(&s->ready, memory_order_relaxed) &&
                !atomic_load_explicit(&s->draining, memory_order_relaxed);
        if (ready) reply(c, 200, "application/json", "{\"ready\":true}", 14);
        else reply_error(c, 503, "not_ready", "the server is not ready (starting or draining)", -1, NULL);
        break;
    case R_METRICS: {
        char   *buf = NULL;
        size_t  cap = 64 * 1024;
        ssize_t n   = write_grow(c, &cap, write_metrics, NULL, &buf);
        if (n < 0) reply_error(c, 500, "internal", "the metrics could not be written", -1, NULL);
        else reply(c, 200, "text/plain; version=0.0.4", buf, (size_t)n);
        break;
    }
    default: reply_error(c, 404, "not_found", "no such endpoint", -1, NULL); break;
    }
}

// s for a log line: bytes below 0x20, DEL and '\\' as \xHH (a path with %0A or ESC cannot start a
// line or drive the terminal), truncated to fit. Returns dst.
static char *log_escape(char *dst, size_t cap, const char *s) {
    size_t o = 0;
    for (; *s && o + 5 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7F || ch == '\\') o += (size_t)snprintf(dst + o, cap - o, "\\x%02X", ch);
        else dst[o++] = (char)ch;
    }
    if (*s && o + 3 < cap) dst[o++] = '.', dst[o++] = '.', dst[o++] = '.';
    dst[o] = 0;
    return dst;
}

static void on_done(http_req *r, void *user) {
    srv_state *s = user;
    rctx      *c = http_ctx(r);
    int        status = http_reply_status(r);
    int64_t    dur    = now_ns() - http_req_t0(r);
    if (status) srv_metrics_request(&s->metrics, c->s ? c->ep : SRV_EP_OTHER, status, dur);
    srv_model_release(c->m); // after the response went out: its body may be the model's (GET /v1/models/NAME)
    c->m = NULL;
    if (s->cfg.access_log) {
        struct timespec ts;
        struct tm       tm;
        char            when[32];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        // one fprintf per line: stdio's lock keeps lines whole across I/O threads
        char method[64], path[1024];
        fprintf(stdout, "%s.%03ldZ %s %s %d %zu %zu %.3fms\n", when, ts.tv_nsec / 1000000,
                log_escape(method, sizeof method, http_req_method_str(r)), log_escape(path, sizeof path, http_req_path(r)),
                status, http_req_body_len(r), http_reply_len(r), (double)dur / 1e6);
    }
}

// ---- setup ---------------------------------------------------------------------------------------------

// Labels of a categorical listed in /v1/models without ?all_labels (a vocabulary can have millions).
#define SRV_MODEL_LABELS 20

// A categorical's labels in index order (label k encodes as k): "n_labels", "unknown" (what a label
// the model never saw becomes: "nan" = index 0, or "refused"), "labels" (the first SRV_MODEL_LABELS,
// or all) and "labels_truncated".
static void jw_labels(tft_jw *o, const tft_model *m, const char *name, int all) {
    int32_t            n = 0, add_nan = 0;
    const char *const *labels = tft_model_category_labels(m, name, &n, &add_nan);
    int32_t            shown  = all || n <= SRV_MODEL_LABELS ? n : SRV_MODEL_LABELS;
    tft_jw_lit(o, ",\"n_labels\":");
    tft_jw_int(o, n);
    tft_jw_lit(o, add_nan ? ",\"unknown\":\"nan\",\"labels\":[" : ",\"unknown\":\"refused\",\"labels\":[");
    for (int32_t k = 0; k < shown; k++) {
        if (k) tft_jw_lit(o, ",");
        tft_jw_str(o, labels[k]);
    }
    tft_jw_lit(o, shown < n ? "],\"labels_truncated\":true" : "],\"labels_truncated\":false");
}

static void jw_names(tft_jw *o, const tft_model *m, const char *const *names, int32_t n, int all) {
    tft_jw_lit(o, "[");
    for (int32_t i = 0; i < n; i++) {
        tft_jw_lit(o, i ? ",{\"name\":" : "{\"name\":");
        tft_jw_str(o, names[i]);
        if (tft_model_input_is_categorical(m, names[i]) == 1) {
            tft_jw_lit(o, ",\"kind\":\"categorical\"");
            jw_labels(o, m, names[i], all);
            tft_jw_lit(o, "}");
        } else {
            tft_jw_lit(o, ",\"kind\":\"real\"}");
        }
    }
    tft_jw_lit(o, "]");
}

// The columns of a network-level call's encoder_cat/decoder_cat (KServe v2) in order: each names the
// request input whose labels it encodes ("labels_of": its index in that input's "labels" is the
// value to send), or carries its own labels when no input has them.
static void jw_x_categoricals(tft_jw *o, const tft_model *m, const tft_model_info *mi, int all) {
    tft_jw_lit(o, ",\"x_categoricals\":[");
    for (int32_t k = 0; k < mi->n_cats; k++) {
        int32_t            n, nj;
        const char *const *labels = tft_model_category_labels(m, mi->cats[k], &n, NULL);
        const char        *of     = NULL;
        for (int32_t j = 0; j < mi->n_static_inputs + mi->n_history_inputs && !of; j++) {
            const char *in = j < mi->n_static_inputs ? mi->static_inputs[j] : mi->history_inputs[j - mi->n_static_inputs];
            if (tft_model_input_is_categorical(m, in) == 1 && tft_model_category_labels(m, in, &nj, NULL) == labels)
                of = in;
        }
        tft_jw_lit(o, k ? ",{\"name\":" : "{\"name\":");
        tft_jw_str(o, mi->cats[k]);
        if (of) {
            tft_jw_lit(o, ",\"labels_of\":");
            tft_jw_str(o, of);
        } else {
            jw_labels(o, m, mi->cats[k], all);
        }
        tft_jw_lit(o, "}");
    }
    tft_jw_lit(o, "]");
}

// GET /v1/models/NAME: what the model is and what a request must contain.
static void jw_model(tft_jw *o, const srv_state *s, const srv_model *m, int all) {
    const tft_model_info *mi = m->mi;
    tft_jw_lit(o, "{\"name\":");
    tft_jw_str(o, m->name);
    tft_jw_lit(o, ",\"version\":");
    tft_jw_str(o, m->version);
    tft_jw_lit(o, ",\"sha256\":");
    tft_jw_str(o, mi->sha256);
    tft_jw_lit(o, ",\"n_parameters\":");
    tft_jw_int(o, (long long)mi->n_parameters);
    tft_jw_lit(o, ",\"architecture\":{\"hidden_size\":");
    tft_jw_int(o, mi->hidden_size);
    tft_jw_lit(o, ",\"lstm_layers\":");
    tft_jw_int(o, mi->lstm_layers);
    tft_jw_lit(o, ",\"n_heads\":");
    tft_jw_int(o, mi->n_heads);
    tft_jw_lit(o, "},\"encoder_length\":{\"min\":");
    tft_jw_int(o, mi->min_encoder_length);
    tft_jw_lit(o, ",\"max\":");
    tft_jw_int(o, mi->max_encoder_length);
    tft_jw_lit(o, "},\"max_lag\":"); // lagged variables read these rows before the encoder window
    tft_jw_int(o, mi->max_lag);
    tft_jw_lit(o, ",\"min_history\":");
    tft_jw_int(o, mi->min_encoder_length + mi->max_lag);
    tft_jw_lit(o, ",\"prediction_length\":{\"min\":");
    tft_jw_int(o, mi->min_prediction_length);
    tft_jw_lit(o, ",\"max\":");
    tft_jw_int(o, mi->max_prediction_length);
    tft_jw_lit(o, "},\"targets\":[");
    for (int32_t t = 0; t < mi->n_targets; t++) {
        if (t) tft_jw_lit(o, ",");
        tft_jw_str(o, mi->targets[t]);
    }
    tft_jw_lit(o, "],\"quantiles\":[");
    tft_jw_levels(o, mi->quantiles, (size_t)mi->n_quantiles);
    tft_jw_lit(o, "],\"inputs\":{\"static\":");
    jw_names(o, m->model, mi->static_inputs, mi->n_static_inputs, all);
    tft_jw_lit(o, ",\"history\":");
    jw_names(o, m->model, mi->history_inputs, mi->n_history_inputs, all);
    tft_jw_lit(o, ",\"future\":");
    jw_names(o, m->model, mi->future_inputs, mi->n_future_inputs, all);
    tft_jw_lit(o, "}");
    jw_x_categoricals(o, m->model, mi, all);
    tft_jw_lit(o, ",\"limits\":{\"max_series\":");
    tft_jw_int(o, (long long)s->limits.max_series);
    tft_jw_lit(o, ",\"max_values\":");
    tft_jw_int(o, (long long)s->limits.max_values);
    tft_jw_lit(o, ",\"max_body_bytes\":");
    tft_jw_int(o, (long long)s->cfg.max_body_bytes);
    tft_jw_lit(o, ",\"max_batch\":");
    tft_jw_int(o, s->cfg.max_batch);
    tft_jw_lit(o, "}}");
}

int srv_routes_init(srv_state *s, char *err, size_t errsz) {
    // KServe v2 server metadata: left NULL (501) if the codec cannot write it
    (void)err, (void)errsz;
    s->v2_server_json = malloc(4096);
    s->v2_server_len  = s->v2_server_json ? tft_v2_write_server_metadata(s->v2_server_json, 4096) : -1;
    return 0;
}

void srv_routes_free(srv_state *s) {
    free(s->v2_server_json);
    s->v2_server_json = NULL;
}

int srv_routes_describe(srv_model *m, void *user, char *err, size_t errsz) {
    srv_state *s   = user;
    size_t     cap = 1 << 16;
    for (int all = 0; all < 2; all++) {
        for (int tries = 0; tries < 12; tries++, cap *= 2) {
            free(m->model_json[all]);
            if (!(m->model_json[all] = malloc(cap))) break;
            tft_jw o = {m->model_json[all], cap, 0, 0};
            jw_model(&o, s, m, all);
            ssize_t n = tft_jw_finish(&o);
            if (n >= 0) {
                m->model_len[all] = (size_t)n;
                break;
            }
            m->model_len[all] = 0;
        }
        if (!m->model_len[all]) return snprintf(err, errsz, "cannot describe the model (out of memory)"), -1;
    }
    // KServe v2 model metadata: left NULL (501) if the codec cannot write it
    m->v2_model_json = malloc(cap);
    m->v2_model_len  = -1;
    if (m->v2_model_json)
        m->v2_model_len = tft_v2_write_model_metadata(m->v2_model_json, cap, m->model, m->name, m->version);
    return 0;
}

void srv_routes_free_description(srv_model *m) {
    free(m->model_json[0]), free(m->model_json[1]), free(m->v2_model_json);
    m->model_json[0] = m->model_json[1] = m->v2_model_json = NULL;
}

static void http_log(int level, const char *msg, void *user) {
    (void)user;
    srv_log(level, "http: %s", msg);
}

void srv_routes_http_config(srv_state *s, http_config *hc) {
    hc->ctx_bytes  = sizeof(rctx);
    hc->on_head    = on_head;
    hc->on_request = on_request;
    hc->on_done    = on_done;
    hc->on_error   = on_error;
    hc->log        = http_log;
    hc->user       = s;
}
