// request.c: a request file -> tft_series through the server's decoder (see request.h, REQUEST.md).
#include "request.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// The decoder's error class and code as a tft_status (the CLI's exit paths and the tests read it).
static tft_status status_of(const tft_req_error *e) {
    if (tft_req_arena_exhausted(e)) return TFT_ERR_NOMEM;
    if (strcmp(e->code, "non_finite_input") == 0) return TFT_ERR_NONFINITE;
    if (strcmp(e->code, "not_a_model_input") == 0) return TFT_ERR_UNKNOWN_VAR;
    if (strcmp(e->code, "horizon_out_of_range") == 0 || strcmp(e->code, "length_mismatch") == 0) return TFT_ERR_SHAPE;
    return TFT_ERR_INVALID_ARG;
}

tft_status tft_request_parse(const tft_model *m, const char *text, size_t len, tft_request *r, char *err,
                             size_t errlen) {
    memset(r, 0, sizeof *r);
    // the decoder unescapes strings in place: it works on a copy, which the request keeps
    size_t need = tft_req_arena_bound(text, len);
    for (int attempt = 0;; attempt++) {
        free(r->body), free(r->arena);
        r->body  = malloc(len + 1);
        r->arena = malloc(need);
        if (!r->body || !r->arena) {
            tft_request_free(r);
            snprintf(err, errlen, "out of memory for a request of %zu bytes", len);
            return TFT_ERR_NOMEM;
        }
        memcpy(r->body, text, len);
        r->body[len] = 0;
        tft_req_arena a;
        tft_req_arena_init(&a, r->arena, need, NULL);
        tft_req       q;
        tft_req_error e;
        if (tft_req_decode(m, r->body, len, &a, &q, &e) == 0) {
            r->n = q.n, r->horizon = q.horizon, r->interpret = q.interpret, r->model = q.model;
            r->series = q.series, r->ids = q.ids;
            return TFT_OK;
        }
        if (attempt == 0 && tft_req_arena_exhausted(&e)) { // a safety net: the bound holds for any body
            need = tft_req_arena_worst(len);
            continue;
        }
        tft_request_free(r);
        snprintf(err, errlen, "%s", e.message);
        return status_of(&e);
    }
}

void tft_request_free(tft_request *r) {
    if (!r) return;
    free(r->body), free(r->arena);
    memset(r, 0, sizeof *r);
}

char *tft_read_file(const char *path, size_t *len, char *err, size_t errlen) {
    return tft_read_file_max(path, TFT_CLI_MAX_REQUEST_BYTES, len, err, errlen);
}

// A regular file's size is known before reading: one over the cap is refused without reading a byte.
// Anything else (a pipe, a device such as /dev/zero) is read in chunks and refused as soon as it
// passes the cap, so no input makes the buffer grow past max + 1 bytes.
char *tft_read_file_max(const char *path, size_t max, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
        fclose(f);
        snprintf(err, errlen, "%s is %llu bytes, more than the request size cap of %zu (--max-request-bytes)", path,
                 (unsigned long long)st.st_size, max);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char  *buf = malloc(cap);
    int    too_big = 0;
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n > max) { // one byte past the cap is enough to know
            too_big = 1;
            break;
        }
        if (n + 1 < cap) break;
        size_t ncap = cap * 2 > max + 2 ? max + 2 : cap * 2; // room for max + 1 bytes and the NUL
        char  *nb   = realloc(buf, ncap);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb, cap = ncap;
    }
    int bad = ferror(f);
    fclose(f);
    if (too_big) {
        free(buf);
        snprintf(err, errlen, "%s is larger than the request size cap of %zu bytes (--max-request-bytes)", path, max);
        return NULL;
    }
    if (!buf || bad) {
        free(buf);
        snprintf(err, errlen, "cannot read %s", path);
        return NULL;
    }
    buf[n] = 0;
    *len   = n;
    return buf;
}
