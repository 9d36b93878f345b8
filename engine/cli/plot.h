// plot.h: fan charts as plain SVG (no library): one panel per series and target with the history,
// the median forecast, the quantile bands (outermost pair lightest) and, in backtests, the actuals.
#ifndef TFT_CLI_PLOT_H
#define TFT_CLI_PLOT_H
#include <stddef.h>
#include <stdint.h>

typedef struct tft_plot tft_plot;

// Q quantiles, ascending (copied). NULL when out of memory.
tft_plot *tft_plot_new(int32_t n_quantiles, const float *quantiles);
void      tft_plot_free(tft_plot *p); // NULL is a no-op
// Adds a panel (everything copied): n_hist history points (hist_t, hist_y), then n_fc forecast
// steps at fc_t with quantiles fc_q [n_fc, Q]; actual [n_fc] (or NULL) the observed values there.
// Returns 0, or -1 when out of memory.
int tft_plot_add(tft_plot *p, const char *series, const char *target, int32_t n_hist, const int64_t *hist_t,
                 const double *hist_y, int32_t n_fc, const int64_t *fc_t, const float *fc_q, const double *actual);
int32_t tft_plot_panels(const tft_plot *p);
// Writes the chart (a grid of panels under `title`) to path. 0, or -1 with a message in err.
int tft_plot_write_svg(const tft_plot *p, const char *path, const char *title, char *err, size_t errlen);

// "Nice" axis ticks for [lo, hi]: about `want` round values (1, 2 or 5 times a power of ten) in
// ticks[0..n); returns n (at most max).
int tft_plot_ticks(double lo, double hi, int want, double *ticks, int max);
#endif
