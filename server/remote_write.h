// remote_write.h: the body of a Prometheus remote-write 1.0 request (POST /api/v1/write), decoded:
// snappy block format (libsnappy's C API) around a protobuf WriteRequest (protobuf-c, code
// generated from server/prompb/remote.proto), then mapped to fleet points by server/prom_map.h.
//
// Everything is bounded before memory is spent on it: the compressed size; the decompressed size,
// read from snappy's length header before the buffer is allocated; the memory the decoded message
// may take (protobuf-c allocates through a counting allocator that refuses past the cap, so a small
// body of many empty messages cannot balloon); then the numbers of series, labels and samples.
// Malformed input is a 400 with a message, never a crash (tests/fuzz/fuzz_remote_write.c).
//
// Status codes, as Prometheus reads them: 2xx accepted; 4xx (400, 413, 415) never retried, the
// batch is dropped and logged by Prometheus; 5xx retried with backoff (so "no memory" is a 500).
#ifndef TFT_SERVER_REMOTE_WRITE_H
#define TFT_SERVER_REMOTE_WRITE_H
#include <stddef.h>

#include "prom_map.h"

typedef struct tft_rw_limits {
    size_t max_compressed_bytes;   // the body as sent (default 16 MiB)
    size_t max_decompressed_bytes; // the protobuf inside (default 64 MiB)
    size_t max_decoded_bytes;      // memory of the decoded message (default 256 MiB)
    size_t max_series;             // TimeSeries in one request (default 1,000,000)
    size_t max_labels;             // labels of one TimeSeries (default 128)
    size_t max_samples;            // samples in one request, all series (default 4,000,000)
} tft_rw_limits;
tft_rw_limits tft_rw_default_limits(void);

// The request's headers: Content-Type application/x-protobuf (parameters allowed), Content-Encoding
// snappy, X-Prometheus-Remote-Write-Version 0.1.x when present (NULL = absent). 0, or 415 with the
// code "unsupported_media_type" and a message.
int tft_rw_check_headers(const char *content_type, const char *content_encoding, const char *version,
                         const char **code, char *err, size_t errsz);

// A decoded WriteRequest and the memory it lives in.
typedef struct tft_rw_request tft_rw_request;
// body (snappy-compressed protobuf) -> *out. 0, or an HTTP status (400 malformed, 413 over a
// limit, 500 no memory) with a short code ("malformed_body", "body_too_large", "too_many_elements",
// "out_of_memory") and a message. lim NULL = defaults.
int  tft_rw_decode(const void *body, size_t len, const tft_rw_limits *lim, tft_rw_request **out,
                   const char **code, char *err, size_t errsz);
const struct Prometheus__WriteRequest *tft_rw_message(const tft_rw_request *r);
void tft_rw_request_free(tft_rw_request *r); // NULL is a no-op

// What the route calls (reentrant: no state but the arguments): headers checked, body decoded and mapped by m. 0 with *out filled (free it
// with prom_batch_free), or an HTTP status with code and message (*out zeroed). The mapping's
// errors are 400 "bad_mapping" (conflicting duplicates, bad series ids).
int tft_rw_handle(const void *body, size_t len, const char *content_type, const char *content_encoding,
                  const char *version, const tft_rw_limits *lim, const prom_map *m, prom_batch *out,
                  const char **code, char *err, size_t errsz);
#endif
