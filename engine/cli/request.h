// request.h: a forecast request (engine/cli/REQUEST.md) for the `tft` CLI, the tests and the benches:
// the request file read under a size cap, and decoded by the server's decoder (server/json_in.c)
// into tft_series for one model; strict: unknown keys, wrong types, non-finite numbers and
// misspelled columns are errors naming the series and the field.
#ifndef TFT_CLI_REQUEST_H
#define TFT_CLI_REQUEST_H
#include "../tft.h"
#include "../../server/json_in.h"

// The server's decoder (server/json_in.c tft_req_decode, default limits) over a malloc'd arena and a
// copy of the text: one decoder for the server, the CLI, the tests and the benches. The fields are
// tft_req's; the rest is storage owned by the request.
typedef struct tft_request {
    int32_t      n;         // series
    int32_t      horizon;   // 0 when the request leaves it to the model
    int32_t      interpret; // 0/1
    const char  *model;     // top-level "model" string, or NULL
    tft_series  *series;    // [n] (in the arena)
    const char **ids;       // [n] series ids ("0", "1"... when absent)
    char        *body;      // the decoded copy of the text: ids, keys and labels point into it
    void        *arena;
} tft_request;

// Returns TFT_OK, or a status with the decoder's one-line message (naming series and field) in err.
tft_status tft_request_parse(const tft_model *m, const char *text, size_t len, tft_request *out, char *err,
                             size_t errlen);
void       tft_request_free(tft_request *r);
// The largest request file the CLI reads by default (tft predict --max-request-bytes raises it).
#define TFT_CLI_MAX_REQUEST_BYTES ((size_t)64 << 20)
// Reads a whole file into a NUL-terminated malloc'd buffer; NULL + message on failure. Files over
// TFT_CLI_MAX_REQUEST_BYTES are refused.
char *tft_read_file(const char *path, size_t *len, char *err, size_t errlen);
// Same with a cap of max bytes: a regular file over it is refused before reading, other input (a pipe,
// /dev/zero) as soon as max + 1 bytes arrived; the buffer never grows past max + 2 bytes.
char *tft_read_file_max(const char *path, size_t max, size_t *len, char *err, size_t errlen);
#endif
