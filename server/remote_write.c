// remote_write.c: Prometheus remote-write 1.0 bodies (remote_write.h): snappy, then protobuf-c with
// a counting allocator, then the limits on series/labels/samples, then prom_map_apply.
#include "remote_write.h"

#include <protobuf-c/protobuf-c.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/prompb/remote.pb-c.h"

tft_rw_limits tft_rw_default_limits(void) {
    // Prometheus sends at most max_samples_per_send (default 500 in 2.42, 2000 in later versions)
    // samples per request, about 100 bytes each decompressed: the defaults leave wide room for
    // large batches and other senders, while capping one request's memory near 350 MiB.
    return (tft_rw_limits){
        .max_compressed_bytes   = (size_t)16 << 20,
        .max_decompressed_bytes = (size_t)64 << 20,
        .max_decoded_bytes      = (size_t)256 << 20,
        .max_series             = 1000000,
        .max_labels             = 128,
        .max_samples            = 4000000,
    };
}

// header value up to ';' (media type parameters), trimmed, compared case-insensitively
static int media_type_is(const char *v, const char *want) {
    while (*v == ' ' || *v == '\t') v++;
    size_t n = strcspn(v, ";");
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    return n == strlen(want) && strncasecmp(v, want, n) == 0;
}

int tft_rw_check_headers(const char *content_type, const char *content_encoding, const char *version,
                         const char **code, char *err, size_t errsz) {
    *code = "unsupported_media_type";
    if (!content_type || !media_type_is(content_type, "application/x-protobuf")) {
        snprintf(err, errsz, "remote write needs Content-Type application/x-protobuf, got %s%s%s",
                 content_type ? "\"" : "", content_type ? content_type : "none", content_type ? "\"" : "");
        return 415;
    }
    if (!content_encoding || !media_type_is(content_encoding, "snappy")) {
        snprintf(err, errsz, "remote write needs Content-Encoding snappy, got %s%s%s",
                 content_encoding ? "\"" : "", content_encoding ? content_encoding : "none",
                 content_encoding ? "\"" : "");
        return 415;
    }
    // 1.0 senders say 0.1.0 (and proto=prometheus.WriteRequest, if anything); 2.0 says
    // proto=io.prometheus.write.v2.Request, another message: refuse it here rather than misread it
    const char *proto = strcasestr(content_type, "proto=");
    if (proto) {
        proto += 6;
        size_t n = strcspn(proto, "; \t");
        if (n != 23 || strncmp(proto, "prometheus.WriteRequest", 23) != 0) {
            snprintf(err, errsz, "remote write message \"%.*s\" is not supported (only prometheus.WriteRequest, "
                     "remote write 1.0)", (int)(n < 100 ? n : 100), proto);
            return 415;
        }
    }
    if (version && strncmp(version, "0.1.", 4) != 0) {
        snprintf(err, errsz, "remote write protocol version \"%s\" is not supported (only 0.1.x, remote write 1.0)",
                 version);
        return 415;
    }
    *code = NULL;
    return 0;
}

// protobuf-c's allocator: malloc with the size kept in front, live bytes counted against a cap.
// When the cap refuses, unpack fails (protobuf-c frees what it had) and `over` tells why.
typedef struct rw_alloc {
    size_t live, cap;
    int    over;
} rw_alloc;
#define RW_ALLOC_HDR 16 // keeps malloc's 16-byte alignment for the caller
static void *rw_alloc_fn(void *data, size_t size) {
    rw_alloc *a = data;
    if (size > a->cap - a->live || size > SIZE_MAX - RW_ALLOC_HDR) {
        a->over = 1;
        return NULL;
    }
    unsigned char *p = malloc(size + RW_ALLOC_HDR);
    if (!p) return NULL;
    memcpy(p, &size, sizeof size);
    a->live += size;
    return p + RW_ALLOC_HDR;
}
static void rw_free_fn(void *data, void *ptr) {
    if (!ptr) return;
    rw_alloc      *a = data;
    unsigned char *p = (unsigned char *)ptr - RW_ALLOC_HDR;
    size_t         size;
    memcpy(&size, p, sizeof size);
    a->live -= size;
    free(p);
}

struct tft_rw_request {
    rw_alloc                  alloc;
    ProtobufCAllocator        pb_alloc; // points at alloc
    Prometheus__WriteRequest *msg;
};

const struct Prometheus__WriteRequest *tft_rw_message(const tft_rw_request *r) { return r ? r->msg : NULL; }

void tft_rw_request_free(tft_rw_request *r) {
    if (!r) return;
    if (r->msg) prometheus__write_request__free_unpacked(r->msg, &r->pb_alloc);
    free(r);
}

int tft_rw_decode(const void *body, size_t len, const tft_rw_limits *lim, tft_rw_request **out,
                  const char **code, char *err, size_t errsz) {
    *out = NULL;
    tft_rw_limits dl = tft_rw_default_limits();
    if (!lim) lim = &dl;
    if (len > lim->max_compressed_bytes) {
        *code = "body_too_large";
        snprintf(err, errsz, "remote write body of %zu bytes is over the limit of %zu", len, lim->max_compressed_bytes);
        return 413;
    }
    // snappy's block format starts with the uncompressed length (a varint): read it, check it, and
    // only then allocate (snappy_uncompress checks the rest and never writes past raw_len)
    size_t raw_len = 0;
    if (len == 0 || snappy_uncompressed_length(body, len, &raw_len) != SNAPPY_OK) {
        *code = "malformed_body";
        snprintf(err, errsz, "remote write body is not snappy block format (%s)",
                 len == 0 ? "empty body" : "bad length header");
        return 400;
    }
    // a snappy element writes at most 64 bytes for 3 of input (a copy with a 2-byte offset), so a
    // claim past 32 bytes per byte is corrupt: refused before a large buffer is spent on it
    if (raw_len / 32 > len) {
        *code = "malformed_body";
        snprintf(err, errsz, "remote write body is corrupt snappy (%zu bytes cannot decompress to the %zu claimed)",
                 len, raw_len);
        return 400;
    }
    if (raw_len > lim->max_decompressed_bytes) {
        *code = "body_too_large";
        snprintf(err, errsz, "remote write body decompresses to %zu bytes, over the limit of %zu", raw_len,
                 lim->max_decompressed_bytes);
        return 413;
    }
    char *raw = malloc(raw_len ? raw_len : 1);
    tft_rw_request *r = calloc(1, sizeof *r);
    if (!raw || !r) {
        free(raw), free(r);
        *code = "out_of_memory";
        snprintf(err, errsz, "no memory for a remote write body of %zu bytes", raw_len);
        return 500;
    }
    size_t got = raw_len;
    if (snappy_uncompress(body, len, raw, &got) != SNAPPY_OK || got != raw_len) {
        free(raw), free(r);
        *code = "malformed_body";
        snprintf(err, errsz, "remote write body is corrupt snappy (%zu bytes, says %zu uncompressed)", len, raw_len);
        return 400;
    }
    r->alloc    = (rw_alloc){.cap = lim->max_decoded_bytes};
    r->pb_alloc = (ProtobufCAllocator){.alloc = rw_alloc_fn, .free = rw_free_fn, .allocator_data = &r->alloc};
    r->msg      = prometheus__write_request__unpack(&r->pb_alloc, raw_len, (const uint8_t *)raw);
    free(raw);
    if (!r->msg) {
        int over = r->alloc.over;
        free(r);
        if (over) {
            *code = "too_many_elements";
            snprintf(err, errsz, "remote write body decodes to more than %zu bytes of messages (%zu bytes of protobuf)",
                     lim->max_decoded_bytes, raw_len);
            return 413;
        }
        // protobuf-c says no more than that; a failed malloc is not told apart from bad input here
        *code = "malformed_body";
        snprintf(err, errsz, "remote write body is not a protobuf WriteRequest (%zu bytes after snappy)", raw_len);
        return 400;
    }
    const Prometheus__WriteRequest *w = r->msg;
    if (w->n_timeseries > lim->max_series) {
        *code = "too_many_elements";
        snprintf(err, errsz, "remote write request has %zu series, over the limit of %zu", w->n_timeseries,
                 lim->max_series);
        tft_rw_request_free(r);
        return 413;
    }
    size_t samples = 0;
    for (size_t i = 0; i < w->n_timeseries; i++) {
        const Prometheus__TimeSeries *ts = w->timeseries[i];
        if (ts->n_labels > lim->max_labels) {
            *code = "too_many_elements";
            snprintf(err, errsz, "remote write series %zu has %zu labels, over the limit of %zu", i, ts->n_labels,
                     lim->max_labels);
            tft_rw_request_free(r);
            return 413;
        }
        samples += ts->n_samples; // no overflow: each sample took bytes of a body under the caps
        if (samples > lim->max_samples) {
            *code = "too_many_elements";
            snprintf(err, errsz, "remote write request has more than %zu samples (the limit), at series %zu",
                     lim->max_samples, i);
            tft_rw_request_free(r);
            return 413;
        }
    }
    *out = r;
    *code = NULL;
    return 0;
}

int tft_rw_handle(const void *body, size_t len, const char *content_type, const char *content_encoding,
                  const char *version, const tft_rw_limits *lim, const prom_map *m, prom_batch *out,
                  const char **code, char *err, size_t errsz) {
    memset(out, 0, sizeof *out);
    int st = tft_rw_check_headers(content_type, content_encoding, version, code, err, errsz);
    if (st) return st;
    tft_rw_request *r;
    st = tft_rw_decode(body, len, lim, &r, code, err, errsz);
    if (st) return st;
    st = prom_map_apply(m, r->msg, out, err, errsz);
    tft_rw_request_free(r);
    *code = st == 0 ? NULL : st == 500 ? "out_of_memory" : "bad_mapping";
    return st;
}
