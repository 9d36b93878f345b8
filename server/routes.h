// routes.h: tft-server's state and its HTTP endpoints (server/API.md documents them). server_main.c
// parses the flags into a srv_config, loads the model, starts the batcher and the HTTP layer with the
// callbacks of srv_routes_http_config, and runs the signal loop.
#ifndef TFT_SERVER_ROUTES_H
#define TFT_SERVER_ROUTES_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "../engine/tft.h"
#include "batcher.h"
#include "http.h"
#include "json_in.h"
#include "metrics.h"
#include "fleet_http.h"

typedef struct srv_config {
    const char *model_path, *model_name, *host;
    int32_t     port, workers, max_batch, queue_cap, io_threads, pin;
    int32_t     max_connections, max_connections_per_ip, idle_timeout_s;
    int64_t     max_queue_delay_us, request_timeout_ms, drain_timeout_s;
    int64_t     max_body_bytes, max_header_bytes, max_series, max_values;
    int32_t     header_timeout_s;                        // http_config's
    int64_t     min_body_rate, max_output_values, max_pending_bytes; // server_main.c's flags say what
    int32_t     log_level;  // tft_log_level
    int32_t     access_log; // one line per request on stdout
    int32_t     test_delay_ms;
} srv_config;

typedef struct srv_state {
    srv_config            cfg;
    tft_model            *model;
    const tft_model_info *mi;
    char                  version[16]; // the model version: the first 12 hex digits of its sha256
    tft_req_limits        limits;
    srv_metrics           metrics;
    srv_batcher          *batcher;
    http_server          *http;
    _Atomic int           ready;    // 1 once listening with the model loaded, 0 when draining
    _Atomic int           draining;
    // GET /v1/models and /v1/models/NAME, made once: [0] each categorical's first labels, [1] all
    // of them (?all_labels)
    char                 *models_json[2], *model_json[2];
    size_t                models_len[2], model_len[2];
    char                 *v2_server_json, *v2_model_json; // GET /v2 and /v2/models/NAME
    ssize_t               v2_server_len, v2_model_len;
    fleet_srv            *fleet;    // fleet mode (--fleet), or NULL
} srv_state;

// Builds the fixed responses (model descriptions); 0 or -1 with a message in err.
int  srv_routes_init(srv_state *s, char *err, size_t errsz);
void srv_routes_free(srv_state *s);
// Fills the callbacks, context size and user pointer of an http_config for state s.
void srv_routes_http_config(srv_state *s, http_config *hc);
// The server's logger (stderr, filtered by --log-level); thread-safe.
void srv_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
