// fleet_http.h: fleet mode's HTTP endpoints (server/API.md "Fleet mode"), behind tft-server's
// routes.c through three hooks: fleet_http_route (in on_head: is the path a fleet endpoint?),
// fleet_srv_handle (in on_request: defer the request to the fleet's worker thread, which answers it)
// and fleet_srv_metrics (appended to GET /metrics). Nothing of the fleet runs on the I/O thread:
// ingest (JSON decoding, the SQLite commit) and forecasts (the engine) run on the worker.
#ifndef TFT_SERVER_FLEET_HTTP_H
#define TFT_SERVER_FLEET_HTTP_H
#include "fleet.h"
#include "http.h"

typedef enum fleet_route {
    FLEET_R_NONE,
    FLEET_R_INGEST,       // POST /v1/fleet/ingest
    FLEET_R_FORECASTS,    // GET  /v1/fleet/forecasts[?series=a,b]
    FLEET_R_FORECAST_ONE, // GET  /v1/fleet/forecasts/ID
    FLEET_R_PROMETHEUS,   // GET  /metrics/forecasts
    FLEET_R_REMOTE_WRITE, // POST /api/v1/write (Prometheus remote write 1.0: server/remote_write.h)
} fleet_route;
// The fleet route of a path (FLEET_R_NONE: not one); *post: 1 if it takes POST, 0 GET.
fleet_route fleet_http_route(const char *path, int *post);

typedef struct fleet_srv fleet_srv;
// Starts the worker thread for an open fleet (which it does not own). NULL + err on failure.
fleet_srv *fleet_srv_start(fleet *f, char *err, size_t errsz);
// Caps a forecast read (GET /v1/fleet/forecasts[/ID]) at max_values numbers (the server's
// --max-output-values): a read of more series gets 413 response_too_large naming the limit, before
// anything is computed or written (0 = no cap).
void fleet_srv_set_max_output_values(fleet_srv *s, int64_t max_values);
// From on_request: defers r; the worker replies and resumes it.
void fleet_srv_handle(fleet_srv *s, http_req *r, fleet_route route);
// The fleet's counters in Prometheus text (for GET /metrics).
void fleet_srv_metrics(fleet_srv *s, tft_jw *o);
// Stops the worker once its queue is empty (after the HTTP layer drained: nothing is deferred).
void fleet_srv_stop(fleet_srv *s);
// The JSON of POST /v1/fleet/ingest into fleet_ingest (parsed with tft_json_parse under limits).
// 0, or an HTTP status (400 malformed, 422 refused, 500 store) with a message in err.
int fleet_ingest_json(fleet *f, const char *body, size_t len, fleet_ingest_result *res, char *err, size_t errsz);
#endif
