// csv.c: strict RFC 4180 reader (see csv.h).
#include "csv.h"
#include <stdlib.h>
#include <string.h>

#define CSV_CHUNK (1 << 20) // bytes read from the file at a time

struct tft_csv {
    FILE    *f;
    char    *in;             // [CSV_CHUNK] input bytes in[pos..len)
    size_t   pos, len;
    int      eof, started;
    int64_t  consumed;       // bytes taken from `in` so far
    int64_t  line;           // line of the next byte (1-based)
    char    *text;           // the current record's fields, each NUL-terminated
    size_t   text_len, text_cap;
    size_t  *starts;         // [cap_fields] offsets into text
    char   **fields;         // [cap_fields] pointers handed out
    int      n_fields, cap_fields;
};

tft_csv *tft_csv_new(FILE *f) {
    tft_csv *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->f = f, r->line = 1;
    r->in = malloc(CSV_CHUNK);
    r->text_cap = 4096, r->text = malloc(r->text_cap);
    r->cap_fields = 64;
    r->starts = malloc(sizeof *r->starts * (size_t)r->cap_fields);
    r->fields = malloc(sizeof *r->fields * (size_t)r->cap_fields);
    if (!r->in || !r->text || !r->starts || !r->fields) {
        tft_csv_free(r);
        return NULL;
    }
    return r;
}

void tft_csv_free(tft_csv *r) {
    if (!r) return;
    free(r->in), free(r->text), free(r->starts), free(r->fields);
    free(r);
}

int64_t tft_csv_bytes(const tft_csv *r) { return r->consumed; }

// The next input byte, or -1 at the end of input.
static int peek_byte(tft_csv *r) {
    if (r->pos == r->len) {
        if (r->eof) return -1;
        r->len = fread(r->in, 1, CSV_CHUNK, r->f), r->pos = 0;
        if (r->len == 0) {
            r->eof = 1;
            return -1;
        }
        if (!r->started) { // skip a UTF-8 byte-order mark
            r->started = 1;
            if (r->len >= 3 && memcmp(r->in, "\xEF\xBB\xBF", 3) == 0) r->pos = 3, r->consumed = 3;
        }
    }
    return (unsigned char)r->in[r->pos];
}

static void take_byte(tft_csv *r) { r->pos++, r->consumed++; }

static int put_char(tft_csv *r, char ch) {
    if (r->text_len == r->text_cap) {
        char *t = realloc(r->text, 2 * r->text_cap);
        if (!t) return -1;
        r->text = t, r->text_cap *= 2;
    }
    r->text[r->text_len++] = ch;
    return 0;
}

static int start_field(tft_csv *r) {
    if (r->n_fields == r->cap_fields) {
        int     cap = 2 * r->cap_fields;
        size_t *s   = realloc(r->starts, sizeof *s * (size_t)cap);
        if (!s) return -1;
        r->starts = s;
        char **f  = realloc(r->fields, sizeof *f * (size_t)cap);
        if (!f) return -1;
        r->fields = f, r->cap_fields = cap;
    }
    r->starts[r->n_fields++] = r->text_len;
    return 0;
}

#define CSV_FAIL(...) (snprintf(err, errlen, __VA_ARGS__), -1)

int tft_csv_next(tft_csv *r, char ***fields, int *n, int64_t *line, char *err, size_t errlen) {
    r->text_len = 0, r->n_fields = 0;
    *line = r->line;
    int c = peek_byte(r);
    if (c < 0) return 0;
    if (start_field(r)) return CSV_FAIL("line %lld: out of memory", (long long)r->line);
    for (;;) {
        c = peek_byte(r);
        if (c == '"' && r->text_len == r->starts[r->n_fields - 1]) { // a quoted field
            int64_t open_line = r->line;
            take_byte(r);
            for (;;) {
                c = peek_byte(r);
                if (c < 0)
                    return CSV_FAIL("line %lld: quoted field opened on line %lld is not closed at the end of the input",
                                    (long long)r->line, (long long)open_line);
                take_byte(r);
                if (c == '"') {
                    if (peek_byte(r) != '"') break; // the closing quote
                    take_byte(r);
                } else if (c == 0) {
                    return CSV_FAIL("line %lld: NUL byte in field %d", (long long)r->line, r->n_fields);
                } else if (c == '\n') {
                    r->line++;
                }
                if (put_char(r, (char)c)) return CSV_FAIL("line %lld: out of memory", (long long)r->line);
            }
            c = peek_byte(r);
            if (c != ',' && c != '\n' && c != '\r' && c >= 0)
                return CSV_FAIL("line %lld: field %d: '%c' after a closing quote (a field is quoted whole; "
                                "a quote inside it is written \"\")", (long long)r->line, r->n_fields, c);
        }
        c = peek_byte(r);
        if (c == ',') {
            take_byte(r);
            if (put_char(r, 0) || start_field(r)) return CSV_FAIL("line %lld: out of memory", (long long)r->line);
        } else if (c < 0 || c == '\n' || c == '\r') {
            if (c == '\r') {
                take_byte(r);
                if (peek_byte(r) != '\n')
                    return CSV_FAIL("line %lld: carriage return not followed by a line feed", (long long)r->line);
            }
            if (c >= 0) take_byte(r), r->line++;
            if (put_char(r, 0)) return CSV_FAIL("line %lld: out of memory", (long long)r->line);
            break;
        } else if (c == '"') {
            return CSV_FAIL("line %lld: field %d: '\"' inside an unquoted field (quote the whole field)",
                            (long long)r->line, r->n_fields);
        } else if (c == 0) {
            return CSV_FAIL("line %lld: NUL byte in field %d", (long long)r->line, r->n_fields);
        } else { // a run of ordinary bytes: copied at once (the common case of unquoted numbers)
            size_t end = r->pos;
            while (end < r->len) {
                char ch = r->in[end];
                if (ch == ',' || ch == '"' || ch == '\n' || ch == '\r' || ch == 0) break;
                end++;
            }
            size_t run = end - r->pos;
            while (r->text_len + run > r->text_cap) {
                char *t = realloc(r->text, 2 * r->text_cap);
                if (!t) return CSV_FAIL("line %lld: out of memory", (long long)r->line);
                r->text = t, r->text_cap *= 2;
            }
            memcpy(r->text + r->text_len, r->in + r->pos, run);
            r->text_len += run, r->pos = end, r->consumed += (int64_t)run;
        }
    }
    for (int i = 0; i < r->n_fields; i++) r->fields[i] = r->text + r->starts[i];
    *fields = r->fields, *n = r->n_fields;
    return 1;
}

void tft_csv_write_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
