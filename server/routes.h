// routes.h: tft-server's state and its HTTP endpoints (server/API.md documents them). server_main.c
// parses the flags into a srv_config, loads the models (models.h: each version with its batcher),
// starts the HTTP layer with the callbacks of srv_routes_http_config, and runs the signal loop.
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
#include "models.h"

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
    // the model repository (server/models.h, server/API.md "Model repository")
    const char *model_dir;         // --model-dir: every *.safetensors in it
    const char *api_key;           // --api-key: Authorization: Bearer KEY opens the repository API
    int32_t     repository_api;    // --model-repository-api: POST /v2/repository/... (loopback or key)
    int32_t     test_not_loopback; // TEST ONLY (TFT_SERVER_TEST_NOT_LOOPBACK=1): no client counts as loopback
} srv_config;

typedef struct srv_state {
    srv_config            cfg;
    srv_registry         *models;   // the models served (server/models.h): a request acquires its own
    tft_req_limits        limits;
    srv_metrics           metrics;
    http_server          *http;
    _Atomic int           ready;    // 1 once listening with the models loaded, 0 when draining
    _Atomic int           draining;
    char                 *v2_server_json; // GET /v2, made once
    ssize_t               v2_server_len;
    fleet_srv            *fleet;    // fleet mode (--fleet), or NULL
} srv_state;

// Builds the fixed responses (GET /v2); 0 or -1 with a message in err.
int  srv_routes_init(srv_state *s, char *err, size_t errsz);
void srv_routes_free(srv_state *s);
// The registry's describe / free_description callbacks (user: the srv_state): a loaded version's
// GET /v1/models/NAME and GET /v2/models/NAME bodies.
int  srv_routes_describe(srv_model *m, void *user, char *err, size_t errsz);
void srv_routes_free_description(srv_model *m);
// Fills the callbacks, context size and user pointer of an http_config for state s.
void srv_routes_http_config(srv_state *s, http_config *hc);
// The server's logger (stderr, filtered by --log-level); thread-safe.
void srv_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
