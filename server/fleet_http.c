// fleet_http.c: fleet mode's endpoints on a worker thread (fleet_http.h). The I/O thread only
// defers a fleet request into this queue; the worker decodes, ingests (SQLite commit), computes,
// writes the answer into the request's scratch memory and resumes it. Between requests it
// recomputes stale forecasts one batch at a time when the config asks for recompute_after_ingest,
// so a request waits at most one batch behind that work.
#include "fleet_http.h"
#include "../loader/json.h"
#include "remote_write.h"
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SCR_JOB = 0, SCR_REPLY = 2 };

typedef struct fleet_job {
    http_req         *req;
    fleet_route       route;
    struct fleet_job *next;
} fleet_job;

struct fleet_srv {
    fleet          *f;
    pthread_t       thread;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    fleet_job      *head, *tail;
    int             stop, recompute_pending, started;
    int64_t         max_output_values; // a forecast read's cap (--max-output-values), 0 = none
    // POST /api/v1/write: requests by outcome, and what became of their samples (prom_map_counts)
    _Atomic uint64_t rw_ok, rw_refused, rw_samples, rw_points, rw_unmapped, rw_no_series, rw_stale, rw_non_finite;
};

fleet_route fleet_http_route(const char *p, int *post) {
    *post = 0;
    if (strcmp(p, "/v1/fleet/ingest") == 0) return *post = 1, FLEET_R_INGEST;
    if (strcmp(p, "/v1/fleet/forecasts") == 0) return FLEET_R_FORECASTS;
    if (strncmp(p, "/v1/fleet/forecasts/", 20) == 0 && p[20]) return FLEET_R_FORECAST_ONE;
    if (strcmp(p, "/metrics/forecasts") == 0) return FLEET_R_PROMETHEUS;
    if (strcmp(p, "/api/v1/write") == 0) return *post = 1, FLEET_R_REMOTE_WRITE;
    return FLEET_R_NONE;
}

// ---- POST /v1/fleet/ingest ------------------------------------------------------------------------------
// {"points": [{"series": "db-01", "ts_ms": 1764720000000, "values": {"cpu_pct": 31.5, ...},
//              "static": {"profile": "database"}}, ...]}

int fleet_ingest_json(fleet *f, const char *body, size_t len, fleet_ingest_result *res, char *err, size_t errsz) {
    tft_json_limits lim = tft_json_default_limits();
    lim.max_depth = 6, lim.max_string = 4096;
    lim.max_elements = (uint32_t)(len / 2 + 16 < 50000000 ? len / 2 + 16 : 50000000);
    tft_json *root = NULL;
    char      jerr[256];
    if (tft_json_parse(body, len, &lim, &root, jerr, sizeof jerr) != 0)
        return snprintf(err, errsz, "the body is not valid JSON: %s", jerr), 400;
    int             status = 400;
    fleet_point    *pts    = NULL;
    fleet_static   *st     = NULL;
    const tft_json *arr    = tft_json_get(root, "points");
    if (root->type != TFT_JSON_OBJECT || !arr || arr->type != TFT_JSON_ARRAY) {
        snprintf(err, errsz, "the body must be {\"points\": [{\"series\", \"ts_ms\", \"values\", \"static\"?}, ...]}");
        goto out;
    }
    for (const tft_json *m = root->child; m; m = m->next)
        if (strcmp(m->key, "points")) {
            snprintf(err, errsz, "unknown key \"%s\" (the body has only \"points\")", m->key);
            goto out;
        }
    size_t np = 0, ns = 0, i = 0;
    for (const tft_json *p = arr->child; p; p = p->next) {
        const tft_json *v = tft_json_get(p, "values"), *s = tft_json_get(p, "static");
        np += v && v->type == TFT_JSON_OBJECT ? v->len : 0;
        ns += s && s->type == TFT_JSON_OBJECT ? s->len : 0;
    }
    pts = malloc(sizeof *pts * (np ? np : 1)), st = malloc(sizeof *st * (ns ? ns : 1));
    if (!pts || !st) {
        snprintf(err, errsz, "out of memory for %zu points", np), status = 500;
        goto out;
    }
    np = ns = 0;
    for (const tft_json *p = arr->child; p; p = p->next, i++) {
        const tft_json *id = tft_json_get(p, "series"), *ts = tft_json_get(p, "ts_ms");
        const tft_json *v = tft_json_get(p, "values"), *s = tft_json_get(p, "static");
        int64_t         t;
        if (p->type != TFT_JSON_OBJECT || !id || id->type != TFT_JSON_STRING || !ts || ts->type != TFT_JSON_NUMBER ||
            tft_json_i64(ts, &t) || !v || v->type != TFT_JSON_OBJECT || (s && s->type != TFT_JSON_OBJECT)) {
            snprintf(err, errsz,
                     "points[%zu]: must be {\"series\": string, \"ts_ms\": integer (Unix ms), \"values\": {column: "
                     "number}, \"static\": {input: label or number} (optional)}",
                     i);
            goto out;
        }
        for (const tft_json *m = p->child; m; m = m->next)
            if (strcmp(m->key, "series") && strcmp(m->key, "ts_ms") && strcmp(m->key, "values") && strcmp(m->key, "static")) {
                snprintf(err, errsz, "points[%zu]: unknown key \"%s\"", i, m->key);
                goto out;
            }
        for (const tft_json *c = v->child; c; c = c->next) {
            if (c->type != TFT_JSON_NUMBER) {
                snprintf(err, errsz, "points[%zu].values.%s: must be a number", i, c->key);
                goto out;
            }
            pts[np++] = (fleet_point){id->str, id->len, c->key, strlen(c->key), t, c->num};
        }
        for (const tft_json *c = s ? s->child : NULL; c; c = c->next) {
            if (c->type != TFT_JSON_NUMBER && c->type != TFT_JSON_STRING) {
                snprintf(err, errsz, "points[%zu].static.%s: must be a label (string) or a number", i, c->key);
                goto out;
            }
            // (a static repeated on several points of a series is fine: fleet_ingest takes it once)
            st[ns++] = (fleet_static){id->str, id->len, c->key, strlen(c->key), c->str, strlen(c->str)};
        }
    }
    status = fleet_ingest(f, pts, np, st, ns, res, err, errsz) == 0 ? 0 : 422;
out:
    free(pts), free(st);
    tft_json_free(root);
    return status;
}

// ---- the worker ------------------------------------------------------------------------------------------

static void reply_error(http_req *r, int status, const char *code, const char *msg) {
    enum { CAP = 4096 };
    char   *buf = http_scratch(r, SCR_REPLY, CAP);
    ssize_t n   = buf ? tft_resp_write_error(buf, CAP, code, msg, -1, NULL) : -1;
    if (n < 0) http_reply(r, 500, "application/json", "{\"error\":{\"code\":\"internal\"}}", 28);
    else http_reply(r, status, "application/json", buf, (size_t)n);
}

// Writes with fn into the reply scratch, growing it until the text fits.
typedef ssize_t (*writer_fn)(fleet *f, tft_jw *o, void *arg);
static void reply_written(fleet *f, http_req *r, const char *ctype, writer_fn fn, void *arg) {
    for (size_t cap = 64 * 1024; cap <= ((size_t)1 << 32); cap *= 4) {
        char *buf = http_scratch(r, SCR_REPLY, cap);
        if (!buf) break;
        tft_jw  o = {buf, cap, 0, 0};
        ssize_t n = fn(f, &o, arg);
        if (n >= 0) return http_reply(r, 200, ctype, buf, (size_t)n);
    }
    reply_error(r, 500, "internal", "out of memory for the answer");
}

typedef struct idlist { const char **ids; size_t *lens, n; } idlist;
static ssize_t write_json(fleet *f, tft_jw *o, void *arg) {
    idlist *l = arg;
    return fleet_write_forecasts(f, l->ids, l->lens, l->n, o);
}
static ssize_t write_prom(fleet *f, tft_jw *o, void *arg) { return fleet_write_prometheus(f, o); }

// After an acknowledged ingest: a recompute for the worker when the config asks for one.
static void after_ingest(fleet_srv *s, const fleet_ingest_result *res) {
    fleet_info fi;
    fleet_get_info(s->f, &fi);
    if (fi.recompute_after_ingest && res->points) {
        pthread_mutex_lock(&s->mu);
        s->recompute_pending = 1;
        pthread_mutex_unlock(&s->mu);
    }
}

static void do_ingest(fleet_srv *s, http_req *r) {
    size_t              len;
    char               *body = http_req_body(r, &len);
    fleet_ingest_result res;
    char                err[1024];
    int                 st = fleet_ingest_json(s->f, body ? body : "", body ? len : 0, &res, err, sizeof err);
    if (st) return reply_error(r, st, st == 400 ? "bad_request" : st == 422 ? "ingest_refused" : "internal", err);
    char *buf = http_scratch(r, SCR_REPLY, 256);
    if (!buf) return reply_error(r, 500, "internal", "out of memory");
    int n = res.ignored // ("ignored" only where "duplicates": "first" made some)
                ? snprintf(buf, 256, "{\"stored\":%lld,\"duplicates\":%lld,\"new_series\":%lld,\"ignored\":%lld}",
                           (long long)res.points, (long long)res.duplicates, (long long)res.new_series,
                           (long long)res.ignored)
                : snprintf(buf, 256, "{\"stored\":%lld,\"duplicates\":%lld,\"new_series\":%lld}", (long long)res.points,
                           (long long)res.duplicates, (long long)res.new_series);
    http_reply(r, 200, "application/json", buf, (size_t)n);
    after_ingest(s, &res);
}

// POST /api/v1/write: headers checked, body decoded and mapped (server/remote_write.h, prom_map.h),
// the points into fleet_ingest (committed before the answer). 204 on success, as Prometheus expects;
// 4xx for what a retry cannot fix (Prometheus drops the batch and logs our message), 5xx (the store,
// no memory) for what it retries with backoff.
static void rw_count(_Atomic uint64_t *c, size_t n) { atomic_fetch_add_explicit(c, n, memory_order_relaxed); }

static void do_remote_write(fleet_srv *s, http_req *r) {
    const prom_map *map = fleet_prom_map(s->f);
    if (!map) {
        rw_count(&s->rw_refused, 1);
        return reply_error(r, 404, "not_found", "remote write needs a \"prometheus\" mapping in the fleet config");
    }
    size_t      len;
    const char *body = http_req_body(r, &len);
    const char *code = NULL;
    char        err[1024];
    prom_batch  b;
    int st = tft_rw_handle(body ? body : "", body ? len : 0, http_req_header(r, "Content-Type"),
                           http_req_header(r, "Content-Encoding"), http_req_header(r, "X-Prometheus-Remote-Write-Version"),
                           NULL, map, &b, &code, err, sizeof err);
    if (st) {
        rw_count(&s->rw_refused, 1);
        return reply_error(r, st, code ? code : "bad_request", err);
    }
    fleet_ingest_result res;
    int ok = fleet_ingest(s->f, b.points, b.n_points, b.statics, b.n_statics, &res, err, sizeof err) == 0;
    rw_count(ok ? &s->rw_ok : &s->rw_refused, 1);
    rw_count(&s->rw_samples, b.counts.samples_in), rw_count(&s->rw_unmapped, b.counts.samples_unmapped);
    rw_count(&s->rw_no_series, b.counts.samples_no_series), rw_count(&s->rw_stale, b.counts.samples_stale);
    rw_count(&s->rw_non_finite, b.counts.samples_non_finite);
    if (ok) rw_count(&s->rw_points, (size_t)res.points);
    prom_batch_free(&b);
    // fleet_ingest's refusals are the client's (a gap, an old point, an unknown static): 422, not
    // retried; its store failures would say so in err and are rare (a full disk): also 422 here, as
    // a retry loop on a full disk helps no one
    if (!ok) return reply_error(r, 422, "ingest_refused", err);
    http_reply(r, 204, "text/plain", "", 0);
    after_ingest(s, &res);
}

static void do_forecasts(fleet_srv *s, http_req *r, fleet_route route) {
    idlist l = {0};
    char   err[512];
    char  *copy = NULL;
    if (route == FLEET_R_FORECAST_ONE) {
        const char *id  = http_req_path(r) + 20;
        size_t      idl = strlen(id);
        l.ids = &id, l.lens = &idl, l.n = 1;
        size_t unknown;
        if (fleet_refresh(s->f, l.ids, l.lens, 1, 1, &unknown, err, sizeof err))
            return reply_error(r, 404, "unknown_series", err);
        return reply_written(s->f, r, "application/json", write_json, &l);
    }
    const char *q = http_req_query(r, "series");
    if (q) { // a comma-separated list
        size_t n = 1;
        for (const char *c = q; *c; c++) n += *c == ',';
        copy = strdup(q), l.ids = malloc(sizeof *l.ids * n), l.lens = malloc(sizeof *l.lens * n);
        if (!copy || !l.ids || !l.lens) {
            reply_error(r, 500, "internal", "out of memory");
            goto out;
        }
        for (char *tok = copy, *e; tok; tok = e ? e + 1 : NULL) {
            e = strchr(tok, ',');
            if (e) *e = 0;
            l.ids[l.n] = tok, l.lens[l.n++] = strlen(tok);
        }
    }
    fleet_info fi;
    fleet_get_info(s->f, &fi);
    int64_t n_read = q ? (int64_t)l.n : fi.n_series;
    if (s->max_output_values && n_read * fi.values_per_series > s->max_output_values) {
        snprintf(err, sizeof err,
                 "the response would have %lld numbers (%lld series), more than --max-output-values %lld; read "
                 "fewer series at a time with ?series=a,b",
                 (long long)(n_read * fi.values_per_series), (long long)n_read, (long long)s->max_output_values);
        reply_error(r, 413, "response_too_large", err);
        goto out;
    }
    size_t unknown;
    if (fleet_refresh(s->f, q ? l.ids : NULL, l.lens, l.n, 1, &unknown, err, sizeof err)) {
        reply_error(r, 404, "unknown_series", err);
        goto out;
    }
    reply_written(s->f, r, "application/json", write_json, q ? &l : &(idlist){0});
out:
    free(copy), free(l.ids), free(l.lens);
}

static void handle(fleet_srv *s, fleet_job *j) {
    http_req *r = j->req;
    switch (j->route) {
    case FLEET_R_INGEST: do_ingest(s, r); break;
    case FLEET_R_REMOTE_WRITE: do_remote_write(s, r); break;
    case FLEET_R_FORECASTS:
    case FLEET_R_FORECAST_ONE: do_forecasts(s, r, j->route); break;
    case FLEET_R_PROMETHEUS: {
        char err[256];
        if (fleet_refresh(s->f, NULL, NULL, 0, 0, NULL, err, sizeof err)) reply_error(r, 500, "internal", err);
        else reply_written(s->f, r, "text/plain; version=0.0.4", write_prom, NULL);
        break;
    }
    default: reply_error(r, 404, "not_found", "no such endpoint"); break;
    }
    http_resume(r);
}

static void *worker_main(void *arg) {
    fleet_srv *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (s->head) {
            fleet_job *j = s->head;
            s->head      = j->next;
            if (!s->head) s->tail = NULL;
            pthread_mutex_unlock(&s->mu);
            handle(s, j);
            pthread_mutex_lock(&s->mu);
        } else if (s->recompute_pending && !s->stop) {
            pthread_mutex_unlock(&s->mu);
            int n = fleet_refresh_some(s->f);
            pthread_mutex_lock(&s->mu);
            if (!n) s->recompute_pending = 0;
        } else if (s->stop) break;
        else pthread_cond_wait(&s->cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

fleet_srv *fleet_srv_start(fleet *f, char *err, size_t errsz) {
    fleet_srv *s = calloc(1, sizeof *s);
    if (!s) return snprintf(err, errsz, "fleet: out of memory"), NULL;
    s->f = f;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    fleet_info fi;
    fleet_get_info(f, &fi);
    s->recompute_pending = fi.recompute_after_ingest && fi.n_series > 0; // restored windows: forecast them
    if (pthread_create(&s->thread, NULL, worker_main, s) != 0) {
        snprintf(err, errsz, "fleet: cannot start its worker thread");
        pthread_mutex_destroy(&s->mu), pthread_cond_destroy(&s->cv), free(s);
        return NULL;
    }
    return s;
}

void fleet_srv_handle(fleet_srv *s, http_req *r, fleet_route route) {
    fleet_job *j = http_scratch(r, SCR_JOB, sizeof *j);
    if (!j) return reply_error(r, 503, "overloaded", "out of memory for the request");
    *j = (fleet_job){.req = r, .route = route};
    http_defer(r);
    pthread_mutex_lock(&s->mu);
    if (s->tail) s->tail->next = j;
    else s->head = j;
    s->tail = j;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void fleet_srv_set_max_output_values(fleet_srv *s, int64_t max_values) { s->max_output_values = max_values; }

void fleet_srv_metrics(fleet_srv *s, tft_jw *o) {
    fleet_write_metrics(s->f, o);
    if (!fleet_prom_map(s->f)) return;
    char b[1024];
#define RW(x) ((unsigned long long)atomic_load_explicit(&s->x, memory_order_relaxed))
    snprintf(b, sizeof b,
             "# TYPE tft_remote_write_requests_total counter\n"
             "tft_remote_write_requests_total{outcome=\"ok\"} %llu\n"
             "tft_remote_write_requests_total{outcome=\"refused\"} %llu\n"
             "# TYPE tft_remote_write_samples_total counter\n"
             "tft_remote_write_samples_total{fate=\"stored\"} %llu\n"
             "tft_remote_write_samples_total{fate=\"unmapped\"} %llu\n"
             "tft_remote_write_samples_total{fate=\"no_series_label\"} %llu\n"
             "tft_remote_write_samples_total{fate=\"stale\"} %llu\n"
             "tft_remote_write_samples_total{fate=\"non_finite\"} %llu\n"
             "# TYPE tft_remote_write_samples_received_total counter\n"
             "tft_remote_write_samples_received_total %llu\n",
             RW(rw_ok), RW(rw_refused), RW(rw_points), RW(rw_unmapped), RW(rw_no_series), RW(rw_stale),
             RW(rw_non_finite), RW(rw_samples));
#undef RW
    tft_jw_lit(o, b);
}

void fleet_srv_stop(fleet_srv *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu), pthread_cond_destroy(&s->cv);
    free(s);
}
