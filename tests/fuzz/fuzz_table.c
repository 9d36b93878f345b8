// fuzz_table.c: libFuzzer target for the table commands' input path: the strict CSV reader
// (engine/cli/csv.c) and the table reader, series assembly and forecast of `tft forecast-table`
// (engine/cli/table.c) on arbitrary bytes, with the identity_minimal golden model (columns series,
// time_idx, hour, y; 4-step horizon). Every input must end in TFT_OK or an error message, never a
// crash; a CSV record the reader accepts must also survive a write-and-read-back round trip.
// Run from the repository root (make fuzz-run does).
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/cli/csv.c"
#include "../../engine/cli/plot.c"
#include "../../engine/cli/table.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static tft_model *model;
static FILE      *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    if (tft_model_load("weights/goldens/identity_minimal/model.safetensors", NULL, &model) != TFT_OK) {
        fprintf(stderr, "fuzz_table: %s (run from the repository root)\n", tft_last_error());
        abort();
    }
    sink = fopen("/dev/null", "w");
    return 0;
}

// Each record the reader accepts, written with tft_csv_write_field and read back, is the same.
static void round_trip(const uint8_t *data, size_t size) {
    FILE *in = fmemopen((void *)data, size, "r");
    if (!in) return;
    tft_csv *r = tft_csv_new(in);
    char   **f, err[300];
    int      n;
    int64_t  line;
    for (int k = 0; r && k < 64 && tft_csv_next(r, &f, &n, &line, err, sizeof err) == 1; k++) {
        char  *buf = NULL;
        size_t len = 0;
        FILE  *w   = open_memstream(&buf, &len);
        fputs("h\n", w); // a first record, so that a field starting with a BOM is not at the input's start
        for (int i = 0; i < n; i++) {
            if (i) fputc(',', w);
            tft_csv_write_field(w, f[i]);
        }
        fputc('\n', w);
        fclose(w);
        FILE    *back = fmemopen(buf, len, "r");
        tft_csv *r2   = tft_csv_new(back);
        char   **f2;
        int      n2;
        if (tft_csv_next(r2, &f2, &n2, &line, err, sizeof err) != 1 ||
            tft_csv_next(r2, &f2, &n2, &line, err, sizeof err) != 1 || n2 != n)
            __builtin_trap();
        for (int i = 0; i < n; i++)
            if (strcmp(f[i], f2[i]) != 0) __builtin_trap();
        tft_csv_free(r2), fclose(back), free(buf);
    }
    tft_csv_free(r);
    fclose(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    round_trip(data, size);
    FILE *in = fmemopen((void *)data, size, "r");
    if (!in) return 0;
    tft_table_opts o = {.threads = 1, .max_batch = 4, .log = sink};
    char           err[1024];
    err[0]         = 0;
    tft_status st  = tft_table_forecast(model, in, "fuzz.csv", sink, &o, NULL, err, sizeof err);
    if (st != TFT_OK && err[0] == 0) __builtin_trap(); // every failure says why
    fclose(in);
    return 0;
}
