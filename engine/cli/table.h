// table.h: forecasts from the long-format table a model was trained on (`tft forecast-table`), and
// the streaming machinery `tft backtest` shares with it.
//
// The table: a CSV with a header row, one row per series and time step, holding the model's group-id
// columns, its time index column and every input column (`tft info` lists them); other columns are
// ignored (and named once on stderr). Order required: the rows of a series are contiguous and sorted
// by the time index, which increases by exactly 1 (sort by group ids, then time index, as
// pytorch-forecasting's TimeSeriesDataSet does). A series seen again after another one, a time index
// that goes back or skips, a static column that changes within a series: errors naming the line.
// Nothing is dropped: every series is forecast or the run stops with an error naming the line and
// column (a parse error, a missing value where the model needs one) or the series (a category the
// model never saw, a history too short).
//
// Forecast rows: as in pytorch-forecasting's predict(df) (TimeSeriesDataSet(predict=True)), the last
// `horizon` rows of each series are the future: only the known columns are read there (the target
// and other unknown columns may be empty); the rows before them are the history. An empty cell, or
// NaN / nan, is a missing value.
//
// Memory: one series at a time per batch slot; a forecast keeps only the last max_lag +
// max_encoder_length + horizon rows of a series (2x that at most while reading), so a table of
// millions of rows streams in constant memory. The set of series ids seen (to refuse a series that
// comes back) grows with the number of series, not rows.
// Threads: a batch of series is forecast on a worker thread (one tft_context with `threads` lanes)
// while the next batch is read and parsed.
#ifndef TFT_CLI_TABLE_H
#define TFT_CLI_TABLE_H
#include <stdint.h>
#include <stdio.h>
#include "../tft.h"

typedef struct tft_table_opts {
    int32_t     horizon;      // steps to forecast; 0 = the model's max_prediction_length
    int32_t     threads;      // worker lanes of the forecasting context; 0 = every online CPU
    int32_t     max_batch;    // series (or backtest windows) per forward pass; 0 = 64 (the context reserves
                              // memory for it: about 1 MB per series for the default model)
    int32_t     wide;         // forecast-table: one row per series and step, a column per target and quantile
    int32_t     progress;     // 1: draw a progress bar on stderr (the caller checks isatty and -q)
    int32_t     every;        // backtest: a forecast origin every `every` steps (>= 1)
    int32_t     min_history;  // backtest: history rows before the first origin; 0 = min_encoder_length
    const char *plot_path;    // forecast-table / backtest: write a fan chart SVG here (NULL: none)
    int32_t     plot_series;  // series drawn in the chart (the first ones of the table); 0 = 6
    int64_t     input_bytes;  // size of the input when known (progress ETA), else 0
    FILE       *log;          // notes (ignored columns, the summary); NULL = stderr
} tft_table_opts;

// Reads the table `in` (named `in_name` in messages) and writes forecasts to `out` as CSV:
//   long (default): <group ids...>,<time index>,step,target,q<quantile>...   one row per series, step, target
//   wide:           <group ids...>,<time index>,step,<target>_q<quantile>...  one row per series, step
// Series in input order; quantiles printed with %.9g (round-trip exact for float).
// Returns TFT_OK, or a status with a one-line message in err; `*n_series` (may be NULL) gets the
// number of series forecast.
tft_status tft_table_forecast(const tft_model *m, FILE *in, const char *in_name, FILE *out,
                              const tft_table_opts *o, int64_t *n_series, char *err, size_t errlen);

// ---- shared by forecast-table and backtest ----------------------------------------------------

// One series as read: its rows' time index, line numbers and every time-varying input column
// (column-major), its static values, and the group-id labels. Rows [0, n_rows) are the last rows
// kept; row_base is the index of row 0 among all the series' rows.
typedef struct tft_table_series {
    char        *id;            // group ids joined by '/' (messages, tft_series.id)
    char       **group_labels;  // [n_group_ids]
    int32_t      n_rows, cap;
    int64_t      row_base, n_rows_total;
    int64_t      first_line;    // CSV line of the series' first row
    int64_t     *time_idx;      // [cap]
    int64_t     *line;          // [cap] CSV line of each row
    double     **vals;          // [n_tv][cap] reals (NaN = missing); NULL for a categorical column
    const char ***labs;         // [n_tv][cap] interned labels (NULL = missing); NULL for a real column
    double      *static_val;    // [n_static]
    const char **static_lab;    // [n_static] (owned by static_store)
    char       **static_raw;    // [n_static] the first row's text, to check later rows against
} tft_table_series;

typedef struct tft_table_reader tft_table_reader;

// Opens a table for model m: reads the header and maps every input the model needs to a column.
tft_status tft_table_reader_new(const tft_model *m, FILE *in, const char *in_name, FILE *log,
                                tft_table_reader **out, char *err, size_t errlen);
void       tft_table_reader_free(tft_table_reader *r);
// Reads the next series into s (reusing its buffers), keeping at most its last `keep` rows (0 = all).
// Returns 1, 0 at the end of the table, or -1 with a message.
int        tft_table_next_series(tft_table_reader *r, tft_table_series *s, int32_t keep, char *err,
                                 size_t errlen);
void       tft_table_series_free(const tft_table_reader *r, tft_table_series *s);
// Rows read, bytes consumed, the input's name.
int64_t     tft_table_rows(const tft_table_reader *r);
int64_t     tft_table_bytes(const tft_table_reader *r);
const char *tft_table_name(const tft_table_reader *r);
// Checks that rows [from, to) of s have a value in every history input (future = 0) or every known
// input (future = 1); else a message naming the line and the column.
int tft_table_check_rows(const tft_table_reader *r, const tft_table_series *s, int32_t from, int32_t to,
                         int future, char *err, size_t errlen);
// The forecast window of s with history rows [h0, h1) and the `horizon` rows after them as its
// future: fills *w, whose columns are written to cols (tft_table_window_columns(r) of them). The
// values are views into s (no copy).
int32_t tft_table_window_columns(const tft_table_reader *r);
void    tft_table_window(const tft_table_reader *r, const tft_table_series *s, int32_t h0, int32_t h1,
                         int32_t horizon, tft_series *w, tft_column *cols);
// A tft_series_check / tft_forecast message without its "series <i> '<id>': " prefix (the caller names
// the series with its lines instead).
const char *tft_table_series_message(const char *msg);
// The index of time-varying column `name` in s->vals / s->labs, or -1.
int tft_table_column(const tft_table_reader *r, const char *name);

// A progress bar on stderr: rows, series/s, ETA (when the input size is known).
typedef struct tft_progress {
    int     on;
    double  t0, last;
    int64_t total_bytes;
} tft_progress;
void   tft_progress_start(tft_progress *p, int on, int64_t total_bytes);
void   tft_progress_draw(tft_progress *p, int64_t rows, int64_t series, int64_t bytes, int final);
double tft_now_s(void);

// Runs a table command's loop: reads series, lets `add` turn each into forecast windows, forecasts
// the windows in batches on a worker thread while the next batch is read, and hands each finished
// batch to `done` (on the calling thread, in input order).
typedef struct tft_table_batch {
    tft_table_series *series;    // [n_series] the batch's series
    int32_t           n_series, cap_series;
    tft_series       *win;       // [n_win] windows (views into the series)
    tft_column       *cols;      // [n_win * columns]
    int32_t          *win_series;// [n_win] which series of the batch
    int32_t          *win_h1;    // [n_win] row (in the series' kept rows) of the window's first forecast step
    int32_t           n_win, cap_win;
    float            *q;         // [n_win, n_targets, horizon, n_quantiles] forecasts
    int32_t          *enc_len;   // [n_win] history rows the model used
    tft_status        st;        // the worker's result
    char              err[640];
} tft_table_batch;
typedef int (*tft_table_add_fn)(void *user, tft_table_reader *r, tft_table_batch *b, int32_t si, char *err,
                                size_t errlen);
typedef int (*tft_table_done_fn)(void *user, tft_table_reader *r, const tft_table_batch *b, char *err,
                                 size_t errlen);
// Adds the window with history rows [h0, h1) of series si of batch b (for `add`); -1 out of memory.
int tft_table_add_window(tft_table_reader *r, tft_table_batch *b, int32_t si, int32_t h0, int32_t h1,
                         int32_t horizon);
tft_status tft_table_run(const tft_model *m, tft_table_reader *r, const tft_table_opts *o, int32_t horizon,
                         int32_t keep, tft_table_add_fn add, tft_table_done_fn done, void *user, int64_t *n_series,
                         char *err, size_t errlen);
#endif
