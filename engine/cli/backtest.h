// backtest.h: rolling-origin backtests over a long-format table (`tft backtest`).
//
// For each series of the table (all its rows kept: memory grows with the longest series, not the
// table), forecast origins every `every` steps, aligned so that the last window ends on the last row:
// window w forecasts rows [h1, h1 + H) from the history rows before h1 (at most max_lag +
// max_encoder_length of them), for h1 = n - H, n - H - every, ... down to min_history. Each window
// is scored against the table's own target values on its H rows:
//   quantile loss  mean over windows, steps and quantiles of the pinball loss
//                  max(q (y - ŷ_q), (q - 1)(y - ŷ_q))  (pytorch-forecasting's QuantileLoss)
//   coverage_q     fraction of the (window, step) points with y <= ŷ_q (ideally ≈ q)
//   MAE            mean |y - ŷ_m| of the median forecast m (the quantile closest to 0.5)
// per series and target, and over every series per target. A series too short for one window is
// reported (0 windows), never dropped silently.
#ifndef TFT_CLI_BACKTEST_H
#define TFT_CLI_BACKTEST_H
#include <stdint.h>
#include <stdio.h>
#include "table.h"

#define TFT_BT_MAX_Q 64 // quantiles a backtest scores

typedef struct tft_bt_stats {
    int64_t windows, points;            // forecast windows; (window, step) points scored
    double  pinball;                    // Σ over points and quantiles of the pinball loss
    double  abs_err;                    // Σ over points of |y - median|
    int64_t covered[TFT_BT_MAX_Q];      // points with y <= the quantile's forecast
} tft_bt_stats;

// Scores one point: the Q quantile forecasts pred[Q] (levels quantiles[Q]) against the actual y;
// median = index of the median forecast.
void   tft_bt_add_point(tft_bt_stats *st, int32_t Q, const float *quantiles, const float *pred, double y,
                        int32_t median);
void   tft_bt_merge(tft_bt_stats *into, const tft_bt_stats *from, int32_t Q);
double tft_bt_quantile_loss(const tft_bt_stats *st, int32_t Q); // NaN with no points
double tft_bt_mae(const tft_bt_stats *st);
double tft_bt_coverage(const tft_bt_stats *st, int32_t q);

typedef struct tft_bt_result {
    int64_t      series, series_scored, windows;
    double       seconds;
    tft_bt_stats total[16];             // per target (the first 16)
} tft_bt_result;

// Runs the backtest of table `in`. metrics (may be NULL): CSV, one row per series and target then
// one "(all)" row per target:  <group ids...>,target,windows,points,quantile_loss,mae,coverage_q<q>...
// forecasts (may be NULL): every window's forecast with the actual, long format:
//   <group ids...>,origin,<time index>,step,target,actual,q<q>...   (origin: time index of the last history row)
// summary (may be NULL): a readable summary per target. o->every >= 1 is required.
tft_status tft_table_backtest(const tft_model *m, FILE *in, const char *in_name, FILE *metrics, FILE *forecasts,
                              FILE *summary, const tft_table_opts *o, tft_bt_result *res, char *err, size_t errlen);
#endif
