// http_mhd.c: http.h over libmicrohttpd 0.9.75 (Debian bookworm's), one epoll I/O thread (or MHD's
// thread pool) with suspend/resume for requests answered by the batcher's workers.
//
// libmicrohttpd pitfalls, as met here (read before changing anything in this file):
//  - The access handler is called several times per request: once when the headers are in
//    (*upload_data_size == 0, *con_cls == NULL), once per piece of body (*upload_data_size > 0; it
//    must be set to 0 once consumed, or MHD calls again with the same bytes), and once more when
//    the request is complete (*upload_data_size == 0). A response can be queued only in the first
//    or the last kind of call (MHD_queue_response returns MHD_NO while the body is being read).
//  - Queuing a response in the FIRST call makes MHD skip the body and close the connection after the
//    reply ("discard_request"), with shutdown(SHUT_WR) + close and no lingering: body bytes the
//    client already sent and MHD never read make the kernel answer with a RST, which can destroy
//    the reply before the client reads it. So only framing errors and 413 (a body not to be read)
//    are queued in the first call; other early answers (404, 405, 415, 503) read and drop the body
//    and go out at the last call, keeping the connection, unless the client waits for a 100.
//  - Expect: 100-continue: MHD sends the 100 itself after the first call, unless that call queued a
//    response; so a 413 on Content-Length goes out before the client sends its body.
//  - Transfer-Encoding other than "chunked": MHD reads the body until the connection closes; with
//    both TE and Content-Length it ignores Content-Length. Both are request-smuggling shapes, so the
//    first call refuses them (501 / 400) before MHD reads anything.
//  - A request line or headers that do not fit MHD_OPTION_CONNECTION_MEMORY_LIMIT are answered by MHD
//    itself: 414 if the request line did not fit, 431 if a header did, with a small HTML body (no
//    hook exists to make it JSON). MHD answers malformed Content-Length (400), a missing Host on
//    HTTP/1.1 (400, MHD_OPTION_STRICT_FOR_CLIENT) and bad chunk syntax (400) the same way.
//  - MHD_suspend_connection must be called from the handler, and BEFORE the job is handed to another
//    thread: a worker may finish and call MHD_resume_connection before the handler returns. After a
//    resume MHD calls the handler again (last-call shape), and only then may the response be queued.
//    MHD_queue_response from another thread fails ("wrong thread").
//  - A suspended connection has no timeout and MHD does not notice the client leaving; the answer is
//    written after the resume and fails then (on_done sees it). MHD_stop_daemon with a connection
//    still suspended calls MHD_PANIC (abort): the server drains before it stops.
//  - MHD_quiesce_daemon hands back the listening socket, which the caller must close, but only after
//    MHD_stop_daemon (see http_quiesce).
//  - MHD_create_response_from_buffer(MHD_RESPMEM_PERSISTENT) does not copy: the body must live until
//    the request-completed callback, which is where this file recycles the request's buffers.
//  - Over MHD_OPTION_CONNECTION_LIMIT MHD accepts and closes at once (no 503); on
//    MHD_OPTION_CONNECTION_TIMEOUT it closes without a 408. Both are documented in server/API.md.
//  - Never MHD_PostProcessor (where MHD's CVEs were); the body is JSON, read raw here.
//  - MHD parses query arguments into its per-connection pool: a few hundred of them exhaust it and
//    the request then hangs until the idle timeout without an answer. So the URI log callback (it
//    sees the raw request target before MHD parses it) keeps the query string for http_req_query
//    and hands MHD an empty one; it also allocates the request (its return value is the first
//    *con_cls, so "first call" is r->conn == NULL, not *con_cls == NULL) and notes a %00 in the
//    path, which MHD's unescaping would otherwise turn into an early end of the path.
//  - MHD's idle timeout restarts on every byte: a client trickling one header byte every few
//    seconds holds its connection for ever. Connections are tracked (MHD_OPTION_NOTIFY_CONNECTION)
//    with their phase, and a reaper thread shuts down (shutdown(2), never close: the descriptor
//    stays MHD's until its CLOSED notification, which takes the same lock) those whose headers are
//    late or whose body is too slow; near the connection cap each new connection evicts the one
//    that has waited longest for its headers (see conn_track below).
//  - MHD_OPTION_LISTENING_ADDRESS_REUSE 1 sets SO_REUSEPORT: a second server on the same port
//    would then start and share the traffic. Left unset, MHD sets SO_REUSEADDR only (a restart
//    binds through TIME_WAIT; a port in use fails with EADDRINUSE).
//
// Memory policy: http_req structs come from a freelist (a mutex; touched by the I/O threads only).
// Each has a body buffer and HTTP_SCRATCH_SLOTS scratch buffers that grow with realloc when a
// request needs more and are kept for the next request up to HTTP_KEEP_BYTES each; bigger ones are
// freed when the request ends, so a burst of large requests does not pin memory. The freelist keeps
// at most max_connections entries (MHD runs one request per connection at a time). In steady state,
// requests under HTTP_KEEP_BYTES cost no allocation on our side (MHD allocates its response object).
#include "http.h"
#include <errno.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_KEEP_BYTES ((size_t)1 << 20)
#define HTTP_MAX_HEADERS 8

enum { RS_NEW, RS_DEFERRED, RS_REPLIED, RS_QUEUED };

struct http_req {
    http_server            *srv;
    struct MHD_Connection  *conn;
    http_req               *free_next;
    http_method             method;
    const char             *method_str, *path; // MHD's strings, valid for the request
    int64_t                 t0;
    int                     has_body, chunked, over; // over: the body passed max_body_bytes
    char                   *body;
    size_t                  body_len, body_cap, body_seen; // body_seen counts discarded bytes too
    void                   *scr[HTTP_SCRATCH_SLOTS];
    size_t                  scr_cap[HTTP_SCRATCH_SLOTS];
    void                   *ctx;
    _Atomic int             state;
    int                     deferred, early; // early: replied from on_head, queued at the last call
    int                     status;
    const char             *ctype, *rbody;
    size_t                  rlen;
    int                     nhdr;
    const char             *hname[HTTP_MAX_HEADERS];
    char                    hval[HTTP_MAX_HEADERS][192];
    size_t                  pending; // bytes of the queued reply counted in srv->pending
    struct conn_track      *track;   // the connection's (NULL if MHD has none for it)
    int                     path_nul; // the raw path had %00
    char                   *query;   // the query, decoded: "k\0v\0k\0v\0..." (nquery pairs)
    size_t                  query_cap;
    int                     nquery;
};

// One per connection, from MHD's connection notifications. phase/since/body_bytes are written by
// the connection's I/O thread and read by the reaper, both under http_server.cmu.
typedef enum { CP_HEAD, CP_BODY, CP_BUSY, CP_SEND } conn_phase; // SEND: the answer is queued
typedef struct conn_track {
    struct conn_track *prev, *next;
    int                fd;
    conn_phase         phase; // HEAD: waiting for a request's line + headers (also between requests)
    int64_t            since; // ns: when the phase began
    size_t             body_bytes;
    int                cut; // shut down already
} conn_track;

struct http_server {
    http_config        cfg;
    struct MHD_Daemon *d;
    int                port;
    _Atomic int64_t    active;
    pthread_mutex_t    mu; // the freelist
    http_req          *free;
    unsigned           nfree, max_free;
    int                quiesced;
    int                listen_fd; // handed back by MHD_quiesce_daemon; closed after MHD_stop_daemon
    _Atomic int64_t    pending;   // bytes of replies queued and not yet sent (http_pending_bytes)
    pthread_mutex_t    cmu;       // the connection list
    conn_track         conns;     // sentinel of the list of open connections
    unsigned           nconns;
    _Atomic uint64_t   cut[3];    // connections shut down by reason (http_cut_reason)
    pthread_t          reaper;
    int                reaper_on, reaper_stop;
    pthread_cond_t     reaper_cv;
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// ---- the request freelist ----------------------------------------------------------------------

static void req_free(http_req *r) {
    if (!r) return;
    free(r->body);
    for (int i = 0; i < HTTP_SCRATCH_SLOTS; i++) free(r->scr[i]);
    free(r->ctx);
    free(r->query);
    free(r);
}

static http_req *req_get(http_server *s) {
    pthread_mutex_lock(&s->mu);
    http_req *r = s->free;
    if (r) s->free = r->free_next, s->nfree--;
    pthread_mutex_unlock(&s->mu);
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return NULL;
        r->ctx = calloc(1, s->cfg.ctx_bytes ? s->cfg.ctx_bytes : 1);
        if (!r->ctx) {
            free(r);
            return NULL;
        }
    } else {
        memset(r->ctx, 0, s->cfg.ctx_bytes);
    }
    r->srv = s, r->conn = NULL, r->free_next = NULL;
    r->has_body = r->chunked = r->over = 0;
    r->body_len = r->body_seen = 0;
    atomic_store_explicit(&r->state, RS_NEW, memory_order_relaxed);
    r->deferred = r->early = 0;
    r->status = 0, r->ctype = NULL, r->rbody = NULL, r->rlen = 0, r->nhdr = 0;
    r->pending = 0, r->track = NULL, r->path_nul = 0, r->nquery = 0;
    return r;
}

static void req_put(http_server *s, http_req *r) {
    if (r->body_cap > HTTP_KEEP_BYTES) free(r->body), r->body = NULL, r->body_cap = 0;
    if (r->query_cap > HTTP_KEEP_BYTES) free(r->query), r->query = NULL, r->query_cap = 0;
    for (int i = 0; i < HTTP_SCRATCH_SLOTS; i++)
        if (r->scr_cap[i] > HTTP_KEEP_BYTES) free(r->scr[i]), r->scr[i] = NULL, r->scr_cap[i] = 0;
    pthread_mutex_lock(&s->mu);
    if (s->nfree < s->max_free) {
        r->free_next = s->free, s->free = r, s->nfree++;
        r = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    req_free(r);
}

// ---- request accessors ---------------------------------------------------------------------------

http_method http_req_method(const http_req *r) { return r->method; }
const char *http_req_method_str(const http_req *r) { return r->method_str; }
const char *http_req_path(const http_req *r) { return r->path; }
int64_t     http_req_t0(const http_req *r) { return r->t0; }
http_server *http_req_server(const http_req *r) { return r->srv; }
void       *http_ctx(http_req *r) { return r->ctx; }
size_t      http_req_body_len(const http_req *r) { return r->body_seen; }
int         http_reply_status(const http_req *r) { return r->status; }

const char *http_req_header(const http_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(const http_req *r, const char *key) {
    const char *p = r->query;
    for (int i = 0; i < r->nquery; i++) {
        const char *v = p + strlen(p) + 1;
        if (strcmp(p, key) == 0) return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

char *http_req_body(http_req *r, size_t *len) {
    *len = r->body_len;
    return r->body ? r->body : (char *)"";
}

void *http_scratch(http_req *r, int slot, size_t bytes) {
    if (slot < 0 || slot >= HTTP_SCRATCH_SLOTS) return NULL;
    if (bytes == 0) bytes = 1;
    if (r->scr_cap[slot] < bytes) {
        free(r->scr[slot]); // contents are not kept: a plain malloc is cheaper than realloc's copy
        r->scr[slot]     = malloc(bytes);
        r->scr_cap[slot] = r->scr[slot] ? bytes : 0;
    }
    return r->scr[slot];
}

// ---- replies -------------------------------------------------------------------------------------

static void track_set(http_req *r, conn_phase p);

void http_reply(http_req *r, int status, const char *content_type, const char *body, size_t len) {
    r->status = status;
    r->ctype  = content_type;
    r->rbody  = body ? body : "";
    r->rlen   = body ? len : 0;
}

int http_add_header(http_req *r, const char *name, const char *value) {
    if (r->nhdr >= HTTP_MAX_HEADERS || strlen(value) >= sizeof r->hval[0]) return -1;
    r->hname[r->nhdr] = name;
    snprintf(r->hval[r->nhdr], sizeof r->hval[0], "%s", value);
    r->nhdr++;
    return 0;
}

void http_defer(http_req *r) {
    r->deferred = 1;
    atomic_store_explicit(&r->state, RS_DEFERRED, memory_order_relaxed);
    MHD_suspend_connection(r->conn); // before the job is visible to any other thread (see the top)
}

void http_resume(http_req *r) {
    // release: the reply fields written before are visible to the I/O thread that reads state
    struct MHD_Connection *c = r->conn; // r may be recycled as soon as the I/O thread runs
    atomic_store_explicit(&r->state, RS_REPLIED, memory_order_release);
    MHD_resume_connection(c);
}

// JSON bodies go out with a trailing newline (a terminal prompt after `curl` starts on its own line;
// `jq` and JSON Lines readers do not mind); the body itself is not copied for it.
static int ends_json(const http_req *r) {
    return r->ctype && strncmp(r->ctype, "application/json", 16) == 0 && r->rlen > 0 && r->rbody[r->rlen - 1] != '\n';
}

size_t http_reply_len(const http_req *r) { return r->rlen + (size_t)ends_json(r); }

static enum MHD_Result queue(http_req *r) {
    struct MHD_Response *resp;
    if (ends_json(r)) {
        const struct MHD_IoVec iov[2] = {{r->rbody, r->rlen}, {"\n", 1}};
        resp = MHD_create_response_from_iovec(iov, 2, NULL, NULL);
    } else {
        resp = MHD_create_response_from_buffer(r->rlen, (void *)r->rbody, MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) return MHD_NO;
    if (r->ctype) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
    for (int i = 0; i < r->nhdr; i++) MHD_add_response_header(resp, r->hname[i], r->hval[i]);
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp); // MHD holds its own reference until the response is sent
    atomic_store_explicit(&r->state, RS_QUEUED, memory_order_relaxed);
    if (ret == MHD_YES) track_set(r, CP_SEND);
    if (ret == MHD_YES && !r->pending) { // held until on_completed (the body lives in our buffers)
        r->pending = http_reply_len(r) + 1; // (+1: never 0 once counted)
        atomic_fetch_add_explicit(&r->srv->pending, (int64_t)r->pending, memory_order_relaxed);
    }
    return ret;
}

static void reply_err(http_req *r, int status, const char *code, const char *msg) {
    http_server *s = r->srv;
    s->cfg.on_error(r, status, code, msg, s->cfg.user);
}

// ---- framing checks of the first call ------------------------------------------------------------

typedef struct hdr_count {
    int cl, te, host, ws; // ws: a header name with whitespace in it
    const char *te_value;
} hdr_count;

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    hdr_count *h = cls;
    (void)kind;
    if (strpbrk(key, " \t")) h->ws++; // MHD keeps "Content-Length " as a header of that name
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) h->cl++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) h->te++, h->te_value = value;
    else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) h->host++;
    return MHD_YES;
}

// Returns 0 when the framing is acceptable (and sets has_body / chunked), else replies and returns -1.
static int check_framing(http_req *r, const char *version) {
    hdr_count h = {0, 0, 0, 0, NULL};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_header, &h);
    // RFC 9112 s5.1: no whitespace between a field name and its colon (must be 400): a lenient proxy
    // in front could read "Content-Length : 2" as the body's length where MHD does not (smuggling)
    if (h.ws) return reply_err(r, 400, "bad_request", "a header name contains whitespace (before its colon?)"), -1;
    if (r->path_nul) return reply_err(r, 400, "bad_request", "the path contains an encoded NUL (%00)"), -1;
    if (h.host > 1) return reply_err(r, 400, "bad_request", "more than one Host header"), -1;
    if (h.cl > 1) return reply_err(r, 400, "bad_request", "more than one Content-Length header"), -1;
    if (h.te) {
        if (h.cl) return reply_err(r, 400, "bad_request", "both Transfer-Encoding and Content-Length"), -1;
        if (h.te > 1) return reply_err(r, 400, "bad_request", "more than one Transfer-Encoding header"), -1;
        if (strcmp(version, MHD_HTTP_VERSION_1_0) == 0)
            return reply_err(r, 400, "bad_request", "Transfer-Encoding on an HTTP/1.0 request"), -1;
        if (!h.te_value || strcasecmp(h.te_value, "chunked") != 0)
            return reply_err(r, 501, "not_implemented", "the only Transfer-Encoding accepted is chunked"), -1;
        r->has_body = r->chunked = 1;
        return 0;
    }
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) { // MHD has checked that it is all digits and fits 64 bits
        unsigned long long n = strtoull(cl, NULL, 10);
        if (n > r->srv->cfg.max_body_bytes) {
            char msg[96];
            snprintf(msg, sizeof msg, "the request body (%llu bytes) is larger than the limit of %zu bytes", n,
                     r->srv->cfg.max_body_bytes);
            return reply_err(r, 413, "body_too_large", msg), -1;
        }
        if (n > 0) {
            r->has_body = 1;
            if (r->body_cap < n + 1) { // the whole body at once: no regrowth while it arrives
                free(r->body);
                r->body     = malloc(n + 1);
                r->body_cap = r->body ? n + 1 : 0;
                if (!r->body) return reply_err(r, 503, "overloaded", "out of memory for the request body"), -1;
            }
        }
    }
    return 0;
}

// Appends a piece of body; over the cap the bytes are counted and dropped (413 at the last call).
static int append_body(http_req *r, const char *data, size_t n) {
    size_t max = r->srv->cfg.max_body_bytes;
    r->body_seen += n;
    if (r->over || r->body_seen > max) {
        r->over = 1;
        // a client streaming far past the cap is cut off rather than read to the end
        return r->body_seen > 2 * max + (1u << 20) ? -1 : 0;
    }
    if (r->body_len + n + 1 > r->body_cap) { // chunked (or a body longer than its Content-Length)
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1) cap *= 2;
        if (cap > max + 1) cap = max + 1;
        char *b = realloc(r->body, cap);
        if (!b) return -1;
        r->body = b, r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = 0;
    return 0;
}

// ---- connection tracking ------------------------------------------------------------------------------
// Header deadline: a connection in CP_HEAD (its request line + headers not all in, counted from the
// connection's start or the end of its previous request) longer than header_timeout_s is shut down.
// Body rate: a body arriving below min_body_rate bytes/s on average, two seconds or more after the
// headers, is cut off. Reserve: while more than max_connections - reserve connections are open,
// a new connection or the reaper's next round evicts one (pick_victim), so a health probe or a new
// client finds a free slot.

static int64_t http_reserve(const http_config *cfg) {
    unsigned r = cfg->max_connections / 8;
    return r ? r : 1;
}

static void track_cut(http_server *s, conn_track *t, http_cut_reason why) { // s->cmu held
    t->cut = 1;
    shutdown(t->fd, SHUT_RDWR); // MHD sees the end of the stream and closes the connection itself
    atomic_fetch_add_explicit(&s->cut[why], 1, memory_order_relaxed);
}

static void track_set(http_req *r, conn_phase p) {
    conn_track *t = r->track;
    if (!t) return;
    pthread_mutex_lock(&r->srv->cmu);
    t->phase = p, t->since = now_ns(), t->body_bytes = 0;
    pthread_mutex_unlock(&r->srv->cmu);
}

static void track_body(http_req *r, size_t n) {
    if (!r->track) return;
    pthread_mutex_lock(&r->srv->cmu);
    r->track->body_bytes += n;
    pthread_mutex_unlock(&r->srv->cmu);
}

// The connection to evict (s->cmu held), or NULL. Candidates, best first: waiting 100 ms or more
// for its headers (longest first; a busy keep-alive client is in CP_HEAD for microseconds between
// its requests, and is never the one); a body below min_body_rate for a second or more; an answer
// still being sent after header_timeout_s (a slow reader).
static conn_track *pick_victim(http_server *s, int64_t now) {
    conn_track *pick       = NULL;
    int         pick_class = 3;
    int64_t     slow_ns    = (int64_t)(s->cfg.header_timeout_s ? s->cfg.header_timeout_s : 10) * 1000000000;
    for (conn_track *o = s->conns.next; o != &s->conns; o = o->next) {
        int64_t age  = now - o->since;
        int     rank = 3;
        if (o->cut) continue;
        if (o->phase == CP_HEAD && age >= 100000000) rank = 0;
        else if (o->phase == CP_BODY && age >= 1000000000 &&
                 (double)o->body_bytes < (double)s->cfg.min_body_rate * (double)age / 1e9)
            rank = 1;
        else if (o->phase == CP_SEND && age > slow_ns) rank = 2;
        if (rank < pick_class || (rank == pick_class && rank < 3 && o->since < pick->since)) pick = o, pick_class = rank;
    }
    return pick;
}

// Over max_connections - reserve open (not yet cut) connections: evict down to it (s->cmu held).
// Called for each new connection and by the reaper: a burst that fills every slot within 100 ms
// (nothing evictable yet) makes MHD stop accepting, and then no new connection would come to evict.
static void evict_over_reserve(http_server *s) {
    if (!s->cfg.max_connections) return;
    int64_t open = 0, keep = (int64_t)s->cfg.max_connections - http_reserve(&s->cfg), now = now_ns();
    for (conn_track *o = s->conns.next; o != &s->conns; o = o->next) open += !o->cut;
    for (; open > keep; open--) {
        conn_track *v = pick_victim(s, now);
        if (!v) break;
        track_cut(s, v, HTTP_CUT_EVICTED);
    }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_track                     *t    = info ? calloc(1, sizeof *t) : NULL;
        *socket_context                      = t;
        if (!t) return;
        t->fd = info->connect_fd, t->phase = CP_HEAD, t->since = now_ns();
        pthread_mutex_lock(&s->cmu);
        t->next = s->conns.next, t->prev = &s->conns;
        s->conns.next->prev = t, s->conns.next = t;
        s->nconns++;
        evict_over_reserve(s);
        pthread_mutex_unlock(&s->cmu);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_track *t = *socket_context;
        *socket_context = NULL;
        if (!t) return;
        pthread_mutex_lock(&s->cmu); // after this, the reaper cannot touch t->fd, which MHD closes next
        t->prev->next = t->next, t->next->prev = t->prev;
        s->nconns--;
        pthread_mutex_unlock(&s->cmu);
        free(t);
    }
}

static void *reaper_main(void *arg) {
    http_server *s = arg;
    pthread_mutex_lock(&s->cmu);
    while (!s->reaper_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000; // every 100 ms
        if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&s->reaper_cv, &s->cmu, &ts);
        int64_t now = now_ns(), head_ns = (int64_t)s->cfg.header_timeout_s * 1000000000;
        for (conn_track *t = s->conns.next; t != &s->conns; t = t->next) {
            if (t->cut) continue;
            int64_t age = now - t->since;
            if (t->phase == CP_HEAD && head_ns && age > head_ns) track_cut(s, t, HTTP_CUT_HEADER_TIMEOUT);
            else if (t->phase == CP_BODY && s->cfg.min_body_rate && age > 2000000000 &&
                     (double)t->body_bytes < (double)s->cfg.min_body_rate * (double)age / 1e9)
                track_cut(s, t, HTTP_CUT_SLOW_BODY);
        }
        evict_over_reserve(s);
    }
    pthread_mutex_unlock(&s->cmu);
    return NULL;
}

uint64_t http_cut_count(const http_server *s, http_cut_reason why) {
    return atomic_load_explicit(&s->cut[why], memory_order_relaxed);
}

int64_t http_pending_bytes(const http_server *s) { return atomic_load_explicit(&s->pending, memory_order_relaxed); }

// ---- the request target ------------------------------------------------------------------------------

static int hexval(int ch) {
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

// Percent-decodes [p, e) to o ('+' is a space, as in forms); returns the end written (<= o + (e - p)).
static char *unescape(const char *p, const char *e, char *o) {
    for (; p < e; p++) {
        if (*p == '%' && e - p >= 3 && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            *o++ = (char)(hexval(p[1]) << 4 | hexval(p[2]));
            p += 2;
        } else *o++ = *p == '+' ? ' ' : *p;
    }
    return o;
}

// The query string q ("a=1&b&c=%20") into r->query as "a\01\0b\0\0c\0 \0". -1 when out of memory.
static int keep_query(http_req *r, const char *q) {
    size_t n = strlen(q);
    if (r->query_cap < 2 * n + 2) {
        free(r->query);
        r->query     = malloc(2 * n + 2);
        r->query_cap = r->query ? 2 * n + 2 : 0;
        if (!r->query) return -1;
    }
    char *o = r->query;
    for (const char *p = q; *p;) {
        const char *amp = strchr(p, '&'), *e = amp ? amp : p + strlen(p), *eq = memchr(p, '=', (size_t)(e - p));
        if (e > p) {
            o    = unescape(p, eq ? eq : e, o), *o++ = 0;
            o    = eq ? unescape(eq + 1, e, o) : o, *o++ = 0;
            r->nquery++;
        }
        p = amp ? amp + 1 : e;
    }
    return 0;
}

// MHD_OPTION_URI_LOG_CALLBACK: the request line is in, the headers not yet. The request starts here
// (its pointer is the first *con_cls); the raw target is read before MHD unescapes or parses it.
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    http_server *s = cls;
    (void)c;
    http_req *r = req_get(s);
    if (!r) return NULL; // on_access allocates again, and fails the request if that fails too
    char  *q    = strchr(uri, '?');
    size_t plen = q ? (size_t)(q - uri) : strlen(uri);
    for (size_t i = 0; i + 2 < plen && !r->path_nul; i++) r->path_nul = uri[i] == '%' && uri[i + 1] == '0' && uri[i + 2] == '0';
    if (q) {
        if (keep_query(r, q + 1) != 0) r->nquery = 0;
        q[1] = 0; // MHD's own buffer (the const is the API's): MHD then parses an empty query
    }
    return r;
}

// ---- the access handler -----------------------------------------------------------------------------

static http_method parse_method(const char *m) {
    if (strcmp(m, MHD_HTTP_METHOD_GET) == 0) return HTTP_GET;
    if (strcmp(m, MHD_HTTP_METHOD_HEAD) == 0) return HTTP_HEAD;
    if (strcmp(m, MHD_HTTP_METHOD_POST) == 0) return HTTP_POST;
    return HTTP_OTHER;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
    http_server *s = cls;
    http_req    *r = *con_cls;
    if (!r || !r->conn) { // first call: headers are in (r comes from on_uri)
        if (!r) r = req_get(s);
        if (!r) return MHD_NO; // out of memory: MHD closes the connection
        *con_cls      = r;
        r->conn       = c;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->track      = ci ? ci->socket_context : NULL;
        r->t0         = now_ns();
        r->method     = parse_method(method);
        r->method_str = method;
        r->path       = url;
        atomic_fetch_add_explicit(&s->active, 1, memory_order_relaxed);
        if (check_framing(r, version) != 0) { // not to be read: answer now, MHD closes after it
            track_set(r, CP_BUSY);
            http_add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
            return queue(r);
        }
        track_set(r, r->has_body ? CP_BODY : CP_BUSY);
        if (s->cfg.on_head(r, s->cfg.user) == 0) return MHD_YES;
        // Replied before the body. A client waiting for "100 Continue" gets the answer now and never
        // sends the body. Any other body is already on its way: it is read and dropped (bounded as
        // any body) and the answer goes out at the last call, so the connection stays usable; closing
        // with unread bytes would make the kernel reset it, which can destroy the answer in flight.
        r->early         = 1;
        const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
        if (r->has_body && expect && strcasecmp(expect, "100-continue") == 0) {
            http_add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
            return queue(r);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) { // a piece of body
        size_t n          = *upload_data_size;
        *upload_data_size = 0;
        track_body(r, n);
        if (r->early) { // answered already: count and drop
            r->body_seen += n;
            return r->body_seen > 2 * s->cfg.max_body_bytes + (1u << 20) ? MHD_NO : MHD_YES;
        }
        return append_body(r, upload_data, n) == 0 ? MHD_YES : MHD_NO;
    }
    int st = atomic_load_explicit(&r->state, memory_order_acquire);
    if (st == RS_QUEUED) return MHD_YES;
    if (st == RS_NEW && !r->deferred) track_set(r, CP_BUSY); // the whole body is in
    if (r->deferred) { // called again after MHD_resume_connection
        return st == RS_REPLIED ? queue(r) : MHD_YES;
    }
    if (r->early) return queue(r);
    if (r->over) {
        char msg[96];
        snprintf(msg, sizeof msg, "the request body is larger than the limit of %zu bytes", s->cfg.max_body_bytes);
        reply_err(r, 413, "body_too_large", msg);
        http_add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
        return queue(r);
    }
    if (!r->body) { // an empty body is still a NUL-terminated string
        r->body     = malloc(16);
        r->body_cap = r->body ? 16 : 0;
        if (!r->body) return MHD_NO;
    }
    r->body[r->body_len] = 0; // (a recycled buffer may hold an older request's bytes)
    s->cfg.on_request(r, s->cfg.user);
    if (r->deferred) return MHD_YES; // queued when the completing thread resumes the connection
    if (r->status == 0) reply_err(r, 500, "internal", "the request was not answered");
    return queue(r);
}

int http_req_client_loopback(const http_req *r) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return 0;
    if (ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ci->client_addr;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ci->client_addr->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)ci->client_addr)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    http_server *s = cls;
    http_req    *r = *con_cls;
    (void)c, (void)toe;
    if (!r) return;
    *con_cls = NULL;
    if (r->pending) atomic_fetch_sub_explicit(&s->pending, (int64_t)r->pending, memory_order_relaxed);
    if (r->conn) { // (a request MHD itself refused, 400/414/431..., never reached on_access)
        if (s->cfg.on_done) s->cfg.on_done(r, s->cfg.user);
        atomic_fetch_sub_explicit(&s->active, 1, memory_order_relaxed);
        track_set(r, CP_HEAD); // the connection now waits for its next request
    }
    req_put(s, r);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    http_server *s = cls;
    char         msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    if (s->cfg.log) s->cfg.log(4 /* TFT_LOG_DEBUG: MHD's notes are per connection */, msg, s->cfg.user);
}

// ---- the daemon ------------------------------------------------------------------------------------

http_server *http_start(const http_config *cfg, char *err, size_t errsz) {
    http_server *s = calloc(1, sizeof *s);
    if (!s) return snprintf(err, errsz, "out of memory"), NULL;
    s->cfg       = *cfg;
    s->max_free  = cfg->max_connections ? cfg->max_connections : 64;
    s->listen_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->cmu, NULL);
    pthread_cond_init(&s->reaper_cv, NULL);
    s->conns.next = s->conns.prev = &s->conns;

    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family       = AF_UNSPEC;
    hints.ai_socktype     = SOCK_STREAM;
    hints.ai_flags        = AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int gai = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gai != 0 || !ai) {
        snprintf(err, errsz, "cannot resolve host '%s': %s", cfg->host, gai_strerror(gai));
        pthread_mutex_destroy(&s->mu), pthread_mutex_destroy(&s->cmu), pthread_cond_destroy(&s->reaper_cv);
        free(s);
        return NULL;
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    struct MHD_OptionItem opts[20];
    int                   k = 0;
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)cfg->max_connections, NULL};
    if (cfg->max_connections_per_ip)
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)cfg->max_connections_per_ip,
                                            NULL};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)cfg->idle_timeout_s, NULL};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)cfg->connection_memory, NULL};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)(void *)on_completed, s};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)(void *)on_mhd_log, s};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)(void *)on_uri, s};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)(void *)on_connection, s};
    if (cfg->io_threads > 1)
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)cfg->io_threads, NULL};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    int e = errno;
    freeaddrinfo(ai);
    if (!s->d) {
        snprintf(err, errsz, "cannot listen on %s:%d (%s)", cfg->host, cfg->port,
                 e ? strerror(e) : "libmicrohttpd refused the configuration");
        pthread_mutex_destroy(&s->mu), pthread_mutex_destroy(&s->cmu), pthread_cond_destroy(&s->reaper_cv);
        free(s);
        return NULL;
    }
    s->reaper_on = pthread_create(&s->reaper, NULL, reaper_main, s) == 0;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port                          = info ? info->port : cfg->port;
    return s;
}

int     http_port(const http_server *s) { return s->port; }
int64_t http_active(const http_server *s) { return atomic_load_explicit(&s->active, memory_order_relaxed); }

// The listening socket is shut down, not closed: MHD's thread may still touch the descriptor
// (MHD_quiesce_daemon races with the epoll loop, see its ENOENT comment) and closing it would let
// the number be reused under it. shutdown() takes a Linux listener out of LISTEN at once (new
// connections are refused, the backlog is reset); the close waits for http_stop.
void http_quiesce(http_server *s) {
    if (s->quiesced) return;
    s->quiesced   = 1;
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd == MHD_INVALID_SOCKET) return;
    shutdown(fd, SHUT_RDWR);
    s->listen_fd = fd;
}

void http_stop(http_server *s) {
    if (!s) return;
    if (s->reaper_on) { // first: it shuts down descriptors of connections MHD_stop_daemon closes
        pthread_mutex_lock(&s->cmu);
        s->reaper_stop = 1;
        pthread_cond_signal(&s->reaper_cv);
        pthread_mutex_unlock(&s->cmu);
        pthread_join(s->reaper, NULL);
    }
    MHD_stop_daemon(s->d);
    if (s->listen_fd >= 0) close(s->listen_fd);
    for (http_req *r = s->free, *n; r; r = n) n = r->free_next, req_free(r);
    pthread_mutex_destroy(&s->mu), pthread_mutex_destroy(&s->cmu), pthread_cond_destroy(&s->reaper_cv);
    free(s);
}
