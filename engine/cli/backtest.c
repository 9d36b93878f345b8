// backtest.c: rolling-origin backtests (see backtest.h).
#include "backtest.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "csv.h"
#include "plot.h"
#include "../../server/json_out.h"

#define FAIL(...) (snprintf(err, errlen, __VA_ARGS__), -1)

void tft_bt_add_point(tft_bt_stats *st, int32_t Q, const float *quantiles, const float *pred, double y,
                      int32_t median) {
    for (int32_t i = 0; i < Q; i++) {
        double e = y - (double)pred[i], q = quantiles[i];
        st->pinball += fmax(q * e, (q - 1) * e);
        st->covered[i] += y <= (double)pred[i];
    }
    st->abs_err += fabs(y - (double)pred[median]);
    st->points++;
}

void tft_bt_merge(tft_bt_stats *into, const tft_bt_stats *from, int32_t Q) {
    into->windows += from->windows, into->points += from->points;
    into->pinball += from->pinball, into->abs_err += from->abs_err;
    for (int32_t i = 0; i < Q; i++) into->covered[i] += from->covered[i];
}

double tft_bt_quantile_loss(const tft_bt_stats *st, int32_t Q) {
    return st->points ? st->pinball / ((double)st->points * Q) : NAN;
}
double tft_bt_mae(const tft_bt_stats *st) { return st->points ? st->abs_err / (double)st->points : NAN; }
double tft_bt_coverage(const tft_bt_stats *st, int32_t q) {
    return st->points ? (double)st->covered[q] / (double)st->points : NAN;
}

typedef struct bt_job {
    const tft_model *m;
    FILE            *metrics, *forecasts;
    int32_t          horizon, every, min_history, median;
    tft_bt_result   *res;
    tft_plot        *plot;
    int32_t          plot_left;
} bt_job;

static int bt_add(void *user, tft_table_reader *r, tft_table_batch *b, int32_t si, char *err, size_t errlen) {
    bt_job                 *j  = user;
    const tft_table_series *s  = &b->series[si];
    const tft_model_info   *mi = tft_model_get_info(j->m);
    // every row is a history row of some window and holds the actuals of another: all must be complete
    if (tft_table_check_rows(r, s, 0, s->n_rows, 0, err, errlen)) return -1;
    int32_t first = s->n_rows - j->horizon; // the last window's first forecast row
    while (first - j->every >= j->min_history) first -= j->every;
    for (int32_t h1 = first; h1 >= j->min_history && h1 + j->horizon <= s->n_rows; h1 += j->every) {
        int32_t h0 = h1 - (mi->max_lag + mi->max_encoder_length);
        if (h0 < 0) h0 = 0;
        if (tft_table_add_window(r, b, si, h0, h1, j->horizon)) return FAIL("out of memory");
        if (tft_series_check(j->m, &b->win[b->n_win - 1], 1) != TFT_OK)
            return FAIL("%s: series '%s', window ending at line %lld: %s", tft_table_name(r), s->id,
                        (long long)s->line[h1 - 1], tft_table_series_message(tft_last_error()));
    }
    return 0;
}

static void write_groups(FILE *f, const tft_table_series *s, int n) {
    for (int g = 0; g < n; g++) tft_csv_write_field(f, s ? s->group_labels[g] : "(all)"), fputc(',', f);
}

static void write_stats(FILE *f, const tft_bt_stats *st, int32_t Q) {
    fprintf(f, "%lld,%lld,", (long long)st->windows, (long long)st->points);
    if (!st->points) {
        fputc(',', f);
        for (int32_t i = 0; i < Q; i++) fputc(',', f);
        fputc('\n', f);
        return;
    }
    fprintf(f, "%.9g,%.9g", tft_bt_quantile_loss(st, Q), tft_bt_mae(st));
    for (int32_t i = 0; i < Q; i++) fprintf(f, ",%.9g", tft_bt_coverage(st, i));
    fputc('\n', f);
}

static int bt_done(void *user, tft_table_reader *r, const tft_table_batch *b, char *err, size_t errlen) {
    bt_job               *j  = user;
    const tft_model_info *mi = tft_model_get_info(j->m);
    int32_t NT = mi->n_targets, Q = mi->n_quantiles, H = j->horizon;
    tft_bt_stats *st = calloc((size_t)NT, sizeof *st);
    if (!st) return FAIL("out of memory");
    int32_t w = 0;
    for (int32_t si = 0; si < b->n_series; si++) {
        const tft_table_series *s = &b->series[si];
        memset(st, 0, sizeof *st * (size_t)NT);
        int32_t last = -1; // the series' last window (plotted)
        for (; w < b->n_win && b->win_series[w] == si; w++) {
            int32_t h1 = b->win_h1[w];
            last       = w;
            for (int32_t t = 0; t < NT; t++) {
                const double *y = s->vals[tft_table_column(r, mi->targets[t])];
                const float  *q = b->q + ((size_t)w * NT + t) * H * Q;
                st[t].windows++;
                for (int32_t k = 0; k < H; k++) {
                    tft_bt_add_point(&st[t], Q, mi->quantiles, q + (size_t)k * Q, y[h1 + k], j->median);
                    if (j->forecasts) {
                        write_groups(j->forecasts, s, mi->n_group_ids);
                        fprintf(j->forecasts, "%lld,%lld,%d,", (long long)s->time_idx[h1 - 1],
                                (long long)s->time_idx[h1 + k], k + 1);
                        tft_csv_write_field(j->forecasts, mi->targets[t]);
                        fprintf(j->forecasts, ",%.17g", y[h1 + k]);
                        for (int32_t i = 0; i < Q; i++) fprintf(j->forecasts, ",%.9g", q[(size_t)k * Q + i]);
                        fputc('\n', j->forecasts);
                    }
                }
            }
        }
        for (int32_t t = 0; t < NT; t++) {
            if (t < 16) tft_bt_merge(&j->res->total[t], &st[t], Q);
            if (j->metrics) {
                write_groups(j->metrics, s, mi->n_group_ids);
                tft_csv_write_field(j->metrics, mi->targets[t]);
                fputc(',', j->metrics);
                write_stats(j->metrics, &st[t], Q);
            }
        }
        j->res->windows += st[0].windows;
        j->res->series_scored += st[0].windows > 0;
        if (j->plot && j->plot_left > 0 && last >= 0) {
            j->plot_left--;
            int32_t h1 = b->win_h1[last], n_hist = h1 < mi->max_encoder_length ? h1 : mi->max_encoder_length;
            for (int32_t t = 0; t < NT; t++) {
                const double *y = s->vals[tft_table_column(r, mi->targets[t])];
                if (tft_plot_add(j->plot, s->id, mi->targets[t], n_hist, s->time_idx + h1 - n_hist, y + h1 - n_hist, H,
                                 s->time_idx + h1, b->q + ((size_t)last * NT + t) * H * Q, y + h1)) {
                    free(st);
                    return FAIL("out of memory for the plot");
                }
            }
        }
    }
    free(st);
    if ((j->metrics && ferror(j->metrics)) || (j->forecasts && ferror(j->forecasts)))
        return FAIL("writing the backtest output failed: %s", strerror(errno));
    return 0;
}

static void print_summary(FILE *f, const tft_model *m, const char *in_name, const bt_job *j, const tft_bt_result *res) {
    const tft_model_info *mi = tft_model_get_info(m);
    int32_t Q = mi->n_quantiles;
    fprintf(f, "backtest of %s: %lld series, %lld windows (an origin every %d steps, horizon %d), %.2f s, %.0f windows/s\n",
            in_name, (long long)res->series, (long long)res->windows, j->every, j->horizon, res->seconds,
            res->seconds > 0 ? (double)res->windows / res->seconds : 0.0);
    if (res->series_scored < res->series)
        fprintf(f, "  %lld series too short for one window (they need %d history + %d horizon rows): 0 windows in "
                   "the metrics\n", (long long)(res->series - res->series_scored), j->min_history, j->horizon);
    fprintf(f, "\n  %-16s %12s %12s   coverage of each quantile (nominal in the header)\n", "target", "q-loss",
            "MAE(median)");
    fprintf(f, "  %-16s %12s %12s  ", "", "", "");
    for (int32_t i = 0; i < Q; i++) fprintf(f, " %6g", mi->quantiles[i]);
    fputc('\n', f);
    for (int32_t t = 0; t < mi->n_targets && t < 16; t++) {
        const tft_bt_stats *st = &res->total[t];
        fprintf(f, "  %-16s %12.5g %12.5g  ", mi->targets[t], tft_bt_quantile_loss(st, Q), tft_bt_mae(st));
        for (int32_t i = 0; i < Q; i++) fprintf(f, " %6.3f", tft_bt_coverage(st, i));
        fputc('\n', f);
    }
}

tft_status tft_table_backtest(const tft_model *m, FILE *in, const char *in_name, FILE *metrics, FILE *forecasts,
                              FILE *summary, const tft_table_opts *o, tft_bt_result *res, char *err, size_t errlen) {
    const tft_model_info *mi = tft_model_get_info(m);
    int32_t H = o->horizon ? o->horizon : mi->max_prediction_length;
    if (H < mi->min_prediction_length || H > mi->max_prediction_length) {
        snprintf(err, errlen, "--horizon %d is outside the model's [%d, %d]", H, mi->min_prediction_length,
                 mi->max_prediction_length);
        return TFT_ERR_SHAPE;
    }
    if (o->every < 1) {
        snprintf(err, errlen, "--every must be at least 1");
        return TFT_ERR_INVALID_ARG;
    }
    if (mi->n_quantiles > TFT_BT_MAX_Q) {
        snprintf(err, errlen, "the model has %d quantiles; a backtest scores at most %d", mi->n_quantiles, TFT_BT_MAX_Q);
        return TFT_ERR_UNSUPPORTED;
    }
    int32_t min_hist = mi->max_lag + (mi->min_encoder_length > 1 ? mi->min_encoder_length : 1);
    if (o->min_history) {
        if (o->min_history < min_hist) {
            snprintf(err, errlen, "--min-history %d is below what the model needs (%d)", o->min_history, min_hist);
            return TFT_ERR_SHAPE;
        }
        min_hist = o->min_history;
    }
    tft_bt_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    bt_job j = {.m = m, .metrics = metrics, .forecasts = forecasts, .horizon = H, .every = o->every,
                .min_history = min_hist, .res = res};
    for (int32_t i = 1; i < mi->n_quantiles; i++)
        if (fabs(mi->quantiles[i] - 0.5) < fabs(mi->quantiles[j.median] - 0.5)) j.median = i;
    tft_table_reader *r  = NULL;
    tft_status        st = tft_table_reader_new(m, in, in_name, o->log ? o->log : stderr, &r, err, errlen);
    if (st != TFT_OK) return st;
    if (o->plot_path && !(j.plot = tft_plot_new(mi->n_quantiles, mi->quantiles))) {
        tft_table_reader_free(r);
        snprintf(err, errlen, "out of memory");
        return TFT_ERR_NOMEM;
    }
    j.plot_left = o->plot_series > 0 ? o->plot_series : 6;
    char qname[32];
    if (metrics) {
        for (int g = 0; g < mi->n_group_ids; g++) tft_csv_write_field(metrics, mi->group_ids[g]), fputc(',', metrics);
        fputs("target,windows,points,quantile_loss,mae", metrics);
        for (int32_t i = 0; i < mi->n_quantiles; i++)
            tft_fmt_level(qname, mi->quantiles[i]), fprintf(metrics, ",coverage_q%s", qname);
        fputc('\n', metrics);
    }
    if (forecasts) {
        for (int g = 0; g < mi->n_group_ids; g++) tft_csv_write_field(forecasts, mi->group_ids[g]), fputc(',', forecasts);
        fputs("origin,", forecasts);
        tft_csv_write_field(forecasts, mi->time_idx);
        fputs(",step,target,actual", forecasts);
        for (int32_t i = 0; i < mi->n_quantiles; i++)
            tft_fmt_level(qname, mi->quantiles[i]), fprintf(forecasts, ",q%s", qname);
        fputc('\n', forecasts);
    }
    double t0 = tft_now_s();
    st        = tft_table_run(m, r, o, H, 0, bt_add, bt_done, &j, &res->series, err, errlen);
    res->seconds = tft_now_s() - t0;
    if (st == TFT_OK && metrics)
        for (int32_t t = 0; t < mi->n_targets && t < 16; t++) {
            write_groups(metrics, NULL, mi->n_group_ids);
            tft_csv_write_field(metrics, mi->targets[t]);
            fputc(',', metrics);
            write_stats(metrics, &res->total[t], mi->n_quantiles);
        }
    if (st == TFT_OK && j.plot) {
        char title[300];
        snprintf(title, sizeof title, "%s: last backtest window of each series (origin every %d steps)", in_name,
                 o->every);
        if (tft_plot_write_svg(j.plot, o->plot_path, title, err, errlen)) st = TFT_ERR_IO;
    }
    if (st == TFT_OK && ((metrics && fflush(metrics)) || (forecasts && fflush(forecasts)))) {
        snprintf(err, errlen, "writing the backtest output failed: %s", strerror(errno));
        st = TFT_ERR_IO;
    }
    if (st == TFT_OK && summary) print_summary(summary, m, in_name, &j, res);
    tft_plot_free(j.plot);
    tft_table_reader_free(r);
    return st;
}
