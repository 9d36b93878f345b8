// csv.h: a small strict RFC 4180 reader and a field writer, for the `tft` table commands.
//
// Why our own: Debian 12's only C CSV library is libcsv 3.0.3 (upstream's last release 2013),
// callback-driven, lenient unless told otherwise, and without line numbers in its errors; a strict
// streaming reader that names the line of every problem is about 150 lines.
//
// Accepted (RFC 4180): records end in LF or CRLF (the last one may end at EOF); fields are separated
// by ','; a field that starts with '"' is quoted: it may hold ',', CR, LF and "" (one quote), and must
// be followed by ',' or the end of the record. Refused, with the line: a '"' inside an unquoted
// field, anything after a closing quote but ',' or the end of the record, a quote left open at EOF,
// a NUL byte, a bare CR. A leading UTF-8 byte-order mark is skipped.
// Memory: one record at a time; the buffers grow to the longest record and are reused.
#ifndef TFT_CLI_CSV_H
#define TFT_CLI_CSV_H
#include <stdint.h>
#include <stdio.h>

typedef struct tft_csv tft_csv;

// Reads from f (not closed by tft_csv_free). NULL when out of memory.
tft_csv *tft_csv_new(FILE *f);
void     tft_csv_free(tft_csv *r);
// The next record: *fields[0..*n) are NUL-terminated, valid until the next call; *line is the
// (1-based) line the record starts on. Returns 1 (a record), 0 (end of input) or -1 with a message
// naming the line in err.
int      tft_csv_next(tft_csv *r, char ***fields, int *n, int64_t *line, char *err, size_t errlen);
// Bytes consumed so far (for progress against a file's size).
int64_t  tft_csv_bytes(const tft_csv *r);

// Writes one field, quoted when it holds ',', '"', CR or LF (RFC 4180).
void tft_csv_write_field(FILE *f, const char *s);
#endif
