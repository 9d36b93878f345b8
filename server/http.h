// http.h: the server's narrow HTTP/1.1 interface. The only thing routes.c and server_main.c see of
// the HTTP library; http_mhd.c implements it over libmicrohttpd (STYLE.md §C.2), so the front end
// can be replaced (e.g. by epoll + llhttp) without touching the routes or the batcher.
//
// A request goes through, on the I/O thread:
//   on_head(req)     the request line and headers are in, the body is not read yet. It may reply
//                    (404, 405, 413, 415, 503...): with a body pending, the body is then never read
//                    and the connection is closed after the reply; without one, keep-alive is kept.
//   (body)           accumulated by this layer: Content-Length is checked against max_body_bytes
//                    before a byte is read (413); a chunked body is counted as it arrives.
//   on_request(req)  the whole body is in. It must either reply (http_reply) or defer (http_defer).
//   on_done(req)     the response went out, or the connection failed. For logs and metrics; the
//                    request's memory is recycled right after.
// A deferred request is completed later from ANY thread: http_reply(...) then http_resume(req).
// Between http_defer and http_resume only the completing thread touches the request.
//
// Memory: a request owns a context area of http_config.ctx_bytes (zeroed per request) and a few
// growable scratch buffers (http_scratch); both come from a freelist and are reused (see the
// policy in http_mhd.c), so a steady stream of requests makes no allocation here.
#ifndef TFT_SERVER_HTTP_H
#define TFT_SERVER_HTTP_H
#include <stddef.h>
#include <stdint.h>

typedef struct http_server http_server;
typedef struct http_req    http_req;

typedef enum http_method { HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_OTHER } http_method;

typedef struct http_config {
    const char *host;                 // numeric IPv4/IPv6 address or a name (resolved once)
    int         port;                 // 0 = ephemeral (see http_port)
    unsigned    max_connections;      // concurrent connections; more are accepted and closed at once
    unsigned    max_connections_per_ip; // 0 = no per-address cap
    unsigned    idle_timeout_s;       // a connection idle this long (headers, body, keep-alive) is closed
    unsigned    header_timeout_s;     // a request line + headers not all in this long after the connection
                                      // opened (or its previous request ended) is cut off (0 = none)
    size_t      min_body_rate;        // bytes/s: a slower body (on average, from 2 s on) is cut off (0 = none)
    // Near max_connections (past max_connections - max(1, max_connections / 8) open), each new
    // connection shuts down one: the one waiting longest (100 ms at least) for its request headers,
    // else a body below min_body_rate, else an answer unsent after header_timeout_s (http_mhd.c).
    size_t      max_body_bytes;       // larger bodies: 413
    size_t      connection_memory;    // per-connection buffer for the request line + headers (414/431 past it)
    size_t      ctx_bytes;            // bytes of the per-request context area (http_ctx)
    int         io_threads;           // 1 = one epoll thread; more = MHD's thread pool
    int (*on_head)(http_req *r, void *user);    // 0 = go on; nonzero = replied
    void (*on_request)(http_req *r, void *user);
    void (*on_done)(http_req *r, void *user);
    // Framing and size errors found by this layer (400, 413, 501, 503): must http_reply (a JSON body).
    void (*on_error)(http_req *r, int status, const char *code, const char *message, void *user);
    void (*log)(int level, const char *msg, void *user); // MHD's own diagnostics (level: tft_log_level)
    void *user;
} http_config;

// Starts listening and serving. NULL on failure with a message in err.
http_server *http_start(const http_config *cfg, char *err, size_t errsz);
int          http_port(const http_server *s);     // the bound port
void         http_quiesce(http_server *s);        // stop accepting (close the listener); serving goes on
int64_t      http_active(const http_server *s);   // requests between on_head and on_done
int64_t      http_pending_bytes(const http_server *s); // bytes of replies queued and not yet sent
typedef enum http_cut_reason { HTTP_CUT_HEADER_TIMEOUT, HTTP_CUT_SLOW_BODY, HTTP_CUT_EVICTED } http_cut_reason;
uint64_t     http_cut_count(const http_server *s, http_cut_reason why); // connections shut down, by reason
void         http_stop(http_server *s);           // closes every connection and frees; nothing may be deferred

// ---- a request (valid from on_head to on_done) ----
http_method  http_req_method(const http_req *r);
const char  *http_req_method_str(const http_req *r);
const char  *http_req_path(const http_req *r);                      // without the query string
const char  *http_req_header(const http_req *r, const char *name);  // first value, or NULL
const char  *http_req_query(const http_req *r, const char *key);    // query argument ("" if valueless), or NULL
char        *http_req_body(http_req *r, size_t *len);               // NUL-terminated (not counted); writable
int64_t      http_req_t0(const http_req *r);                        // CLOCK_MONOTONIC ns when on_head ran
int          http_req_client_loopback(const http_req *r); // 1: the client's address is 127.0.0.0/8 or ::1
http_server *http_req_server(const http_req *r); // (a callback's way to it: http_start's caller may not have it yet)
void        *http_ctx(http_req *r);                                 // ctx_bytes, 16-aligned, zeroed per request
// Scratch buffer `slot` (0..HTTP_SCRATCH_SLOTS-1) of at least `bytes`, 16-aligned; its contents are
// not kept when it grows. NULL when the allocation fails.
#define HTTP_SCRATCH_SLOTS 3
void *http_scratch(http_req *r, int slot, size_t bytes);

// ---- replies ----
// Sets the response. body must stay valid until on_done (a string literal, or scratch memory).
// An application/json body goes out with a '\n' after it (not in len; http_reply_len counts it).
void http_reply(http_req *r, int status, const char *content_type, const char *body, size_t len);
// An extra response header (up to 8 per request, value up to 191 bytes; copied). 0, or -1 if no room.
int  http_add_header(http_req *r, const char *name, const char *value);
void http_defer(http_req *r);  // from on_request only: the reply comes later from another thread
void http_resume(http_req *r); // after http_reply on a deferred request (any thread)
int  http_reply_status(const http_req *r); // the status replied (0 before), for on_done
size_t http_req_body_len(const http_req *r);
size_t http_reply_len(const http_req *r);
#endif
