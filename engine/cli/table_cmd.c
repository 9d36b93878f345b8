// table_cmd.c: `tft forecast-table` and `tft backtest` (see table.h, backtest.h).
#include "table_cmd.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backtest.h"
#include "table.h"

static const char *USAGE_FORECAST_TABLE =
    "usage: tft forecast-table MODEL DATA.csv [-o OUT.csv] [--wide] [--horizon H] [--threads N] [--max-batch N]\n"
    "                          [--plot CHART.svg] [--plot-series N] [-q]\n"
    "  DATA.csv is the long-format table the model was trained on ('-' reads stdin): a header row, one row\n"
    "  per series and time step, the group-id, time index and input columns (`tft info MODEL` lists them).\n"
    "  The rows of a series must be contiguous and sorted by the time index (one step apart). As in\n"
    "  pytorch-forecasting's predict(), the last H rows of each series are its future: only the known\n"
    "  columns are read there (targets may be empty).\n"
    "  -o OUT.csv        the forecasts (default stdout), one row per series, step and target:\n"
    "                    <group ids>,<time index>,step,target,q<quantile>...\n"
    "  --wide            one row per series and step instead, a column per target and quantile\n"
    "  --horizon H       steps to forecast (default: the model's max_prediction_length)\n"
    "  --threads N       forecasting threads (default: every CPU; the forecast is the same for any N)\n"
    "  --max-batch N     series per forward pass (default 64; memory grows with it)\n"
    "  --plot CHART.svg  a fan chart of the first series (history, median, quantile bands)\n"
    "  --plot-series N   series in the chart (default 6)\n"
    "  -q, --quiet       no progress bar (it is drawn only when stderr is a terminal)\n";

static const char *USAGE_BACKTEST =
    "usage: tft backtest MODEL DATA.csv --every K [--horizon H] [-o METRICS.csv] [--forecasts FC.csv]\n"
    "                    [--min-history N] [--threads N] [--max-batch N] [--plot CHART.svg] [--plot-series N] [-q]\n"
    "  Rolling-origin backtest over the table's history (same table format as forecast-table; every\n"
    "  row needs the targets): a forecast origin every K steps, the last window ending on each series'\n"
    "  last row; each window is scored against the table's actual values. Prints a summary per target.\n"
    "  --every K          steps between forecast origins (required)\n"
    "  --horizon H        steps per window (default: the model's max_prediction_length)\n"
    "  -o METRICS.csv     per series and target, then '(all)' per target: windows, points, quantile_loss\n"
    "                     (mean pinball loss), mae (of the median), coverage_q<q> (fraction of actuals <= q)\n"
    "  --forecasts FC.csv every window's forecast beside the actual, long format\n"
    "  --min-history N    history rows before the first origin (default: the model's min_encoder_length)\n"
    "  --threads N, --max-batch N, --plot CHART.svg, --plot-series N, -q: as for forecast-table\n"
    "                     (the chart shows each plotted series' last window with its actuals)\n";

static int die(int code, const char *msg) {
    fprintf(stderr, "tft: error: %s\n", msg);
    return code;
}

static int int_arg(const char *opt, const char *v, long lo, long hi, int32_t *out) {
    char *end;
    errno  = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "tft: error: %s must be an integer in [%ld, %ld], not '%s'\n", opt, lo, hi, v);
        return -1;
    }
    *out = (int32_t)x;
    return 0;
}

typedef struct table_args {
    const char    *model, *data, *out, *forecasts;
    int            quiet;
    tft_table_opts o;
} table_args;

// Parses the options both commands share (and --every / --forecasts / --min-history for backtest).
// Returns -1 to continue, else the exit status.
static int parse_args(int argc, char **argv, int backtest, table_args *a) {
    const char *usage = backtest ? USAGE_BACKTEST : USAGE_FORECAST_TABLE;
    memset(a, 0, sizeof *a);
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        int takes = strcmp(s, "-o") == 0 || strcmp(s, "--horizon") == 0 || strcmp(s, "--threads") == 0 ||
                    strcmp(s, "--max-batch") == 0 || strcmp(s, "--plot") == 0 || strcmp(s, "--plot-series") == 0 ||
                    (backtest && (strcmp(s, "--every") == 0 || strcmp(s, "--forecasts") == 0 ||
                                  strcmp(s, "--min-history") == 0));
        if (takes && !v) {
            fprintf(stderr, "tft: error: %s needs a value\n", s);
            return 2;
        }
        if (strcmp(s, "-o") == 0) a->out = v, i++;
        else if (strcmp(s, "--plot") == 0) a->o.plot_path = v, i++;
        else if (strcmp(s, "--forecasts") == 0 && backtest) a->forecasts = v, i++;
        else if (strcmp(s, "--horizon") == 0) {
            if (int_arg(s, v, 1, 1 << 20, &a->o.horizon)) return 2;
            i++;
        } else if (strcmp(s, "--threads") == 0) {
            if (int_arg(s, v, 1, 64, &a->o.threads)) return 2;
            i++;
        } else if (strcmp(s, "--max-batch") == 0) {
            if (int_arg(s, v, 1, 65536, &a->o.max_batch)) return 2;
            i++;
        } else if (strcmp(s, "--plot-series") == 0) {
            if (int_arg(s, v, 1, 1000, &a->o.plot_series)) return 2;
            i++;
        } else if (strcmp(s, "--every") == 0 && backtest) {
            if (int_arg(s, v, 1, 1 << 30, &a->o.every)) return 2;
            i++;
        } else if (strcmp(s, "--min-history") == 0 && backtest) {
            if (int_arg(s, v, 1, 1 << 30, &a->o.min_history)) return 2;
            i++;
        } else if (strcmp(s, "--wide") == 0 && !backtest) a->o.wide = 1;
        else if (strcmp(s, "-q") == 0 || strcmp(s, "--quiet") == 0) a->quiet = 1;
        else if (s[0] == '-' && s[1]) {
            fprintf(stderr, "tft: error: unknown option '%s' (see tft %s --help)\n", s,
                    backtest ? "backtest" : "forecast-table");
            return 2;
        } else if (npos == 0) a->model = s, npos++;
        else if (npos == 1) a->data = s, npos++;
        else {
            fprintf(stderr, "tft: error: unexpected argument '%s'\n", s);
            return 2;
        }
    }
    if (npos != 2 || (backtest && a->o.every == 0)) {
        if (backtest && npos == 2) fprintf(stderr, "tft: error: --every K is required\n");
        fputs(usage, stderr);
        return 2;
    }
    a->o.progress = !a->quiet && isatty(STDERR_FILENO);
    return -1;
}

// Opens the model and the input (and its size, for the ETA). 0 or an exit status.
static int open_inputs(const table_args *a, tft_model **m, FILE **in, tft_table_opts *o) {
    if (tft_model_load(a->model, NULL, m) != TFT_OK) return die(1, tft_last_error());
    if (strcmp(a->data, "-") == 0) {
        *in = stdin;
        return 0;
    }
    if (!(*in = fopen(a->data, "r"))) {
        fprintf(stderr, "tft: error: cannot open %s: %s\n", a->data, strerror(errno));
        tft_model_free(*m);
        return 1;
    }
    struct stat stt;
    if (fstat(fileno(*in), &stt) == 0 && S_ISREG(stt.st_mode)) o->input_bytes = (int64_t)stt.st_size;
    return 0;
}

static FILE *open_out(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) fprintf(stderr, "tft: error: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

int tft_cmd_forecast_table(int argc, char **argv) {
    table_args a;
    int        rc = parse_args(argc, argv, 0, &a);
    if (rc >= 0) return rc;
    tft_model *m  = NULL;
    FILE      *in = NULL, *out = stdout;
    if ((rc = open_inputs(&a, &m, &in, &a.o))) return rc;
    if (a.out && !(out = open_out(a.out))) rc = 1;
    char    err[1024];
    int64_t n = 0;
    double  t0 = tft_now_s();
    if (!rc && tft_table_forecast(m, in, a.data, out, &a.o, &n, err, sizeof err) != TFT_OK) rc = die(1, err);
    if (!rc && !a.quiet && a.out) {
        double dt = tft_now_s() - t0;
        fprintf(stderr, "tft: %lld series forecast in %.2f s (%.0f series/s) -> %s%s%s\n", (long long)n, dt,
                dt > 0 ? (double)n / dt : 0.0, a.out, a.o.plot_path ? ", chart " : "",
                a.o.plot_path ? a.o.plot_path : "");
    }
    if (out != stdout && out && fclose(out) != 0 && !rc) rc = die(1, "closing the output failed");
    if (in != stdin) fclose(in);
    tft_model_free(m);
    return rc;
}

int tft_cmd_backtest(int argc, char **argv) {
    table_args a;
    int        rc = parse_args(argc, argv, 1, &a);
    if (rc >= 0) return rc;
    tft_model *m  = NULL;
    FILE      *in = NULL, *metrics = NULL, *fc = NULL;
    if ((rc = open_inputs(&a, &m, &in, &a.o))) return rc;
    if (a.out && !(metrics = open_out(a.out))) rc = 1;
    if (!rc && a.forecasts && !(fc = open_out(a.forecasts))) rc = 1;
    char err[1024];
    if (!rc && tft_table_backtest(m, in, a.data, metrics, fc, stdout, &a.o, NULL, err, sizeof err) != TFT_OK)
        rc = die(1, err);
    if (metrics && fclose(metrics) != 0 && !rc) rc = die(1, "closing the metrics file failed");
    if (fc && fclose(fc) != 0 && !rc) rc = die(1, "closing the forecasts file failed");
    if (in != stdin) fclose(in);
    tft_model_free(m);
    return rc;
}
