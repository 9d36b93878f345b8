// tft: command-line front end of libtft.
//   tft info MODEL                      what the model is and what a request must contain
//   tft predict MODEL INPUT.json [...]  forecast the series of a request (engine/cli/REQUEST.md)
// Bad input: one line on stderr ("tft: error: ...") and a non-zero exit (2 usage, 1 everything else).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../server/json_out.h"
#include "request.h"
#include "table_cmd.h"

static const char *USAGE =
    "usage: tft <command> [options]\n"
    "\n"
    "commands:\n"
    "  info MODEL [--all-labels]       describe a model: architecture, parameters, lengths, quantiles,\n"
    "                                  the columns a forecast request must contain, category labels\n"
    "  predict MODEL INPUT.json        forecast every series of a request (INPUT '-' reads stdin)\n"
    "  forecast-table MODEL DATA.csv   forecast every series of a long-format table (the training DataFrame's)\n"
    "  backtest MODEL DATA.csv         rolling-origin backtest over a table's history: quantile loss, coverage, MAE\n"
    "  version                         print the library version\n"
    "\n"
    "Run 'tft <command> --help' for the options of a command.\n"
    "MODEL is a .safetensors file written by weights/export.py (see weights/FORMAT.md);\n"
    "the request format is documented in engine/cli/REQUEST.md.\n";

static const char *USAGE_INFO = "usage: tft info MODEL [--all-labels]\n"
                                "  Prints the model's architecture, parameter count, encoder/horizon lengths,\n"
                                "  targets and quantiles, every column a request must contain, and each\n"
                                "  categorical's labels with their indices (the first few of each).\n"
                                "  --all-labels   list every label of every categorical\n";

static const char *USAGE_PREDICT =
    "usage: tft predict MODEL INPUT.json [--format table|json|csv] [--interpret] [--max-batch N] [--threads N]\n"
    "                   [--max-request-bytes N]\n"
    "  --format table   quantiles per target and horizon step, readable (default)\n"
    "  --format json    the response JSON of engine/cli/REQUEST.md\n"
    "  --format csv     series,target,step,<one column per quantile>\n"
    "  --interpret      also report attention and variable-selection weights\n"
    "                   (json: per series; table: the mean weight of each variable)\n"
    "  --max-batch N    series per forward pass (default 64)\n"
    "  --threads N      worker threads; a pass's series are split between them (default 1;\n"
    "                   the forecast is bitwise the same for any N)\n"
    "  --max-request-bytes N  refuse a request larger than N bytes (default 67108864, 64 MiB); a larger\n"
    "                   input is refused before it is read (a file) or as soon as it passes N (a pipe)\n";

static int die(int code, const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "tft: error: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
    return code;
}

static int wants_help(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

static void print_list(const char *title, const tft_model *m, const char *const *names, int32_t n) {
    printf("  %-16s", title);
    if (n == 0) printf(" (none)");
    for (int32_t i = 0; i < n; i++) {
        int cat = tft_model_input_is_categorical(m, names[i]);
        printf("%s %s%s", i ? "," : "", names[i], cat == 1 ? " (label)" : "");
    }
    printf("\n");
}

static void print_names(const char *title, const char *const *names, int32_t n) {
    printf("  %-16s", title);
    if (n == 0) printf(" (none)");
    for (int32_t i = 0; i < n; i++) printf("%s %s", i ? "," : "", names[i]);
    printf("\n");
}

// A JSON string on stdout, escaped as the server escapes (server/json_out.c: invalid UTF-8 is U+FFFD).
static void json_str(const char *s) {
    size_t cap = 6 * strlen(s) + 3; // every byte escaped at worst ("\\u00XX"), the quotes, the NUL
    char  *buf = malloc(cap);
    if (!buf) return;
    tft_jw  o = {.buf = buf, .cap = cap};
    tft_jw_str(&o, s);
    ssize_t n = tft_jw_finish(&o);
    if (n > 0) fwrite(buf, 1, (size_t)n, stdout);
    free(buf);
}

// The labels of each x_categoricals column, as "label"=index pairs wrapped under the column name. Without
// `all`, a column shows the labels that fit in about one line and the count of the rest.
static void print_labels(const tft_model *m, int all) {
    const tft_model_info *i = tft_model_get_info(m);
    if (i->n_cats == 0) return;
    printf("\ncategory labels (\"label\"=index; the index is what a network-level call's encoder_cat/\n"
           "decoder_cat carry in column [k] of x_categoricals)%s:\n", all ? "" : ", the first few of each");
    for (int32_t k = 0; k < i->n_cats; k++) {
        int32_t            n = 0, add_nan = 0;
        const char *const *labels = tft_model_category_labels(m, i->cats[k], &n, &add_nan);
        printf("  [%d] %s: %d label%s", k, i->cats[k], n, n == 1 ? "" : "s");
        int32_t same = -1; // a lagged column shares its variable's labels: name the first column that has them
        for (int32_t j = 0; j < k && same < 0; j++) {
            int32_t nj;
            if (tft_model_category_labels(m, i->cats[j], &nj, NULL) == labels) same = j;
        }
        if (same >= 0) {
            printf(", those of [%d] %s\n", same, i->cats[same]);
            continue;
        }
        printf(add_nan ? " (a label the model never saw is encoded as 0, \"%s\")\n"
                       : " (a label the model never saw is refused)\n", n ? labels[0] : "");
        int width = 4;                          // the line being filled, after its 4-space indent
        const int line_max = 100, shown_max = 64; // without --all-labels: a line with its "... (N more" note
        printf("    ");
        int32_t j = 0;
        for (; j < n; j++) {
            int w = (int)strlen(labels[j]) + 2 + 1 + snprintf(NULL, 0, "%d", j) + 2; // "label"=j,_
            if (!all && j > 0 && width + w > shown_max) break;
            if (j > 0) {
                int wrap = width + w > line_max;
                printf(wrap ? ",\n    " : ", ");
                if (wrap) width = 4;
            }
            json_str(labels[j]);
            printf("=%d", j);
            width += w;
        }
        if (j < n) printf(", ... (%d more; --all-labels lists them)", n - j);
        printf("\n");
    }
}

static int cmd_info(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        fputs(USAGE_INFO, stdout);
        return 0;
    }
    const char *path = NULL;
    int         all_labels = 0;
    for (int a = 0; a < argc; a++) {
        if (strcmp(argv[a], "--all-labels") == 0) all_labels = 1;
        else if (argv[a][0] == '-' && argv[a][1]) return die(2, "info: unknown option '%s'%s", argv[a], "");
        else if (path) return fputs(USAGE_INFO, stderr), 2;
        else path = argv[a];
    }
    if (!path) {
        fputs(USAGE_INFO, stderr);
        return 2;
    }
    tft_model *m = NULL;
    if (tft_model_load(path, NULL, &m) != TFT_OK) return die(1, "%s%s", tft_last_error(), "");
    const tft_model_info *i = tft_model_get_info(m);
    printf("model            %s\n", path);
    printf("sha256           %s\n", i->sha256);
    printf("architecture     Temporal Fusion Transformer: hidden %d, %d LSTM layer%s, %d attention head%s\n",
           i->hidden_size, i->lstm_layers, i->lstm_layers > 1 ? "s" : "", i->n_heads, i->n_heads > 1 ? "s" : "");
    printf("parameters       %lld\n", (long long)i->n_parameters);
    if (i->max_lag == 0)
        printf("history          %d steps used (at least %d required)\n", i->max_encoder_length, i->min_encoder_length);
    else { // the lagged variables read max_lag rows before the encoder window (engine/prep.c series_dims)
        printf("history          %d steps used by the encoder (at least %d rows required: min_encoder_length %d "
               "+ max_lag %d)\n", i->max_encoder_length, i->min_encoder_length + i->max_lag, i->min_encoder_length,
               i->max_lag);
        printf("                 the lagged variables read up to %d rows before the encoder window: %d history "
               "rows give the full encoder of %d steps; fewer shorten the encoder\n", i->max_lag,
               i->max_encoder_length + i->max_lag, i->max_encoder_length);
    }
    printf("horizon          %d steps (at least %d)\n", i->max_prediction_length, i->min_prediction_length);
    printf("targets         ");
    for (int32_t t = 0; t < i->n_targets; t++) printf("%s %s", t ? "," : "", i->targets[t]);
    printf("\nquantiles       ");
    for (int32_t q = 0; q < i->n_quantiles; q++) {
        char lv[TFT_LEVEL_MAX];
        tft_fmt_level(lv, i->quantiles[q]);
        printf("%s %s", q ? "," : "", lv);
    }
    printf("\n\na request's series must contain (labels are strings, the rest numbers):\n");
    print_list("static", m, i->static_inputs, i->n_static_inputs);
    print_list("history", m, i->history_inputs, i->n_history_inputs);
    print_list("future", m, i->future_inputs, i->n_future_inputs);
    printf("\nvariable selection (network level):\n");
    print_names("static", i->static_vars, i->n_static_vars);
    print_names("encoder", i->encoder_vars, i->n_encoder_vars);
    print_names("decoder", i->decoder_vars, i->n_decoder_vars);
    print_names("x_reals", i->reals, i->n_reals);
    print_names("x_categoricals", i->cats, i->n_cats);
    print_labels(m, all_labels);
    tft_model_free(m);
    return 0;
}

typedef enum { FMT_TABLE, FMT_JSON, FMT_CSV } out_format;

// The response JSON of `tft predict --format json`: server/json_out.c's writer, so the bytes are
// tft-server's body for the same request and model (ending in "\n", as the server's does). The
// buffer grows until the response fits. 0, or a TFT_RESP_E_* status (TFT_RESP_E_SMALL: out of memory).
static ssize_t write_json(const tft_resp_forecast *f) {
    size_t cap = 1 << 16;
    for (;;) {
        char *buf = malloc(cap);
        if (!buf) return TFT_RESP_E_SMALL;
        ssize_t n = tft_resp_write_forecast(buf, cap, f);
        if (n >= 0) {
            fwrite(buf, 1, (size_t)n, stdout);
            putchar('\n');
        }
        free(buf);
        if (n >= 0) return 0;
        if (n != TFT_RESP_E_SMALL || cap > ((size_t)1 << 40)) return n;
        cap *= 2;
    }
}

static int cmd_predict(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        fputs(USAGE_PREDICT, stdout);
        return 0;
    }
    const char *pos[2];
    int         npos = 0, interpret = 0, max_batch = 64, threads = 1;
    size_t      max_request = TFT_CLI_MAX_REQUEST_BYTES;
    out_format  fmt  = FMT_TABLE;
    for (int a = 0; a < argc; a++) {
        if (strcmp(argv[a], "--format") == 0 && a + 1 < argc) {
            const char *f = argv[++a];
            if (strcmp(f, "table") == 0) fmt = FMT_TABLE;
            else if (strcmp(f, "json") == 0) fmt = FMT_JSON;
            else if (strcmp(f, "csv") == 0) fmt = FMT_CSV;
            else return die(2, "--format must be table, json or csv, not '%s'%s", f, "");
        } else if (strcmp(argv[a], "--interpret") == 0) {
            interpret = 1;
        } else if (strcmp(argv[a], "--max-batch") == 0 && a + 1 < argc) {
            char *end;
            long  v = strtol(argv[++a], &end, 10);
            if (*end || v < 1 || v > 65536) return die(2, "--max-batch must be an integer in [1, 65536], not '%s'%s", argv[a], "");
            max_batch = (int)v;
        } else if (strcmp(argv[a], "--threads") == 0 && a + 1 < argc) {
            char *end;
            long  v = strtol(argv[++a], &end, 10);
            if (*end || v < 1 || v > 64) return die(2, "--threads must be an integer in [1, 64], not '%s'%s", argv[a], "");
            threads = (int)v;
        } else if (strcmp(argv[a], "--max-request-bytes") == 0 && a + 1 < argc) {
            char     *end;
            long long v = strtoll(argv[++a], &end, 10);
            if (*end || v < 1 || v > (1LL << 40))
                return die(2, "--max-request-bytes must be an integer in [1, 2^40], not '%s'%s", argv[a], "");
            max_request = (size_t)v;
        } else if (argv[a][0] == '-' && argv[a][1] != 0) {
            return die(2, "unknown option '%s' (see tft predict --help)%s", argv[a], "");
        } else if (npos < 2) {
            pos[npos++] = argv[a];
        } else {
            return die(2, "unexpected argument '%s' (see tft predict --help)%s", argv[a], "");
        }
    }
    if (npos != 2) {
        fputs(USAGE_PREDICT, stderr);
        return 2;
    }
    tft_model *m = NULL;
    if (tft_model_load(pos[0], NULL, &m) != TFT_OK) return die(1, "%s%s", tft_last_error(), "");
    const tft_model_info *mi = tft_model_get_info(m);
    char   err[400];
    size_t len  = 0;
    char  *text = NULL;
    if (strcmp(pos[1], "-") == 0) text = tft_read_file_max("/dev/stdin", max_request, &len, err, sizeof err);
    else text = tft_read_file_max(pos[1], max_request, &len, err, sizeof err);
    if (!text) {
        tft_model_free(m);
        return die(1, "%s%s", err, "");
    }
    tft_request r;
    int         rc = 0;
    tft_context *c = NULL;
    float *q = NULL, *att = NULL, *sw = NULL, *ew = NULL, *dw = NULL;
    int32_t *elen = NULL;
    if (tft_request_parse(m, text, len, &r, err, sizeof err) != TFT_OK) {
        rc = die(1, "%s: %s", pos[1], err);
        goto done;
    }
    char name[256]; // the model's name, as tft-server names it (weights/default.safetensors -> default)
    tft_model_name_of_path(pos[0], name, sizeof name);
    if (r.model && strcmp(r.model, name) != 0) { // tft-server answers 404 unknown_model
        snprintf(err, sizeof err, "the request is for model '%.150s'; this is model '%.150s'", r.model, name);
        rc = die(1, "%s: %s", pos[1], err);
        goto done;
    }
    interpret |= r.interpret;
    int nb = r.n < max_batch ? r.n : max_batch;
    tft_context_params cp = tft_context_default_params();
    cp.max_batch          = nb;
    cp.n_threads          = threads;
    if (tft_context_new(m, &cp, &c) != TFT_OK) {
        rc = die(1, "%s%s", tft_last_error(), "");
        goto done;
    }
    int    Td = r.horizon ? r.horizon : mi->max_prediction_length, NT = mi->n_targets, Q = mi->n_quantiles;
    int    NH = mi->n_heads, Tm = mi->max_encoder_length, ns = mi->n_static_vars, ne = mi->n_encoder_vars;
    int    nd = mi->n_decoder_vars;
    size_t per = (size_t)NT * Td * Q;
    q    = calloc((size_t)r.n * per, sizeof *q);
    elen = calloc((size_t)r.n, sizeof *elen);
    if (interpret) {
        att = calloc((size_t)r.n * Td * NH * (Tm + Td), sizeof *att);
        sw  = calloc((size_t)r.n * ns + 1, sizeof *sw);
        ew  = calloc((size_t)r.n * Tm * ne + 1, sizeof *ew);
        dw  = calloc((size_t)r.n * Td * nd + 1, sizeof *dw);
    }
    if (!q || !elen || (interpret && (!att || !sw || !ew || !dw))) {
        rc = die(1, "out of memory for the outputs of %s%s", pos[1], "");
        goto done;
    }
    for (int32_t s = 0; s < r.n; s += nb) {
        int32_t             n   = r.n - s < nb ? r.n - s : nb;
        tft_forecast_output out = {.quantiles = q + (size_t)s * per, .encoder_lengths = elen + s};
        if (interpret) {
            out.attention       = att + (size_t)s * Td * NH * (Tm + Td);
            out.static_weights  = sw + (size_t)s * ns;
            out.encoder_weights = ew + (size_t)s * Tm * ne;
            out.decoder_weights = dw + (size_t)s * Td * nd;
        }
        if (tft_forecast(c, r.series + s, n, &out) != TFT_OK) {
            rc = die(1, "%s: %s", pos[1], tft_last_error());
            goto done;
        }
    }
    if (fmt == FMT_JSON) {
        tft_resp_forecast f = {.model_name      = name,
                               .model_sha256    = mi->sha256,
                               .n_quantiles     = Q,
                               .quantile_levels = mi->quantiles,
                               .horizon         = Td,
                               .n_series        = r.n,
                               .ids             = r.ids,
                               .encoder_lengths = elen,
                               .n_targets       = NT,
                               .targets         = mi->targets,
                               .quantiles       = q};
        if (interpret) {
            f.n_heads = NH, f.max_encoder_length = Tm;
            f.attention = att, f.static_weights = sw, f.encoder_weights = ew, f.decoder_weights = dw;
            f.n_static_vars = ns, f.static_vars = mi->static_vars;
            f.n_encoder_vars = ne, f.encoder_vars = mi->encoder_vars;
            f.n_decoder_vars = nd, f.decoder_vars = mi->decoder_vars;
        }
        ssize_t st = write_json(&f);
        if (st != 0) // tft-server answers 500 non_finite_output / internal
            rc = die(1, "%s: %s", pos[1], st == TFT_RESP_E_NONFINITE ? "the forecast is not finite"
                                                                        : "out of memory for the response JSON");
    } else if (fmt == FMT_CSV) {
        printf("series,target,step");
        for (int k = 0; k < Q; k++) {
            char lv[TFT_LEVEL_MAX];
            tft_fmt_level(lv, mi->quantiles[k]);
            printf(",q%s", lv);
        }
        printf("\n");
        for (int32_t s = 0; s < r.n; s++)
            for (int t = 0; t < NT; t++)
                for (int k = 0; k < Td; k++) {
                    printf("%s,%s,%d", r.ids[s], mi->targets[t], k + 1);
                    for (int j = 0; j < Q; j++) printf(",%.9g", q[s * per + ((size_t)t * Td + k) * Q + j]);
                    printf("\n");
                }
    } else {
        printf("model %s (sha256 %.12s), %d series, horizon %d steps\n", name, mi->sha256, r.n, Td);
        for (int32_t s = 0; s < r.n; s++)
            for (int t = 0; t < NT; t++) {
                printf("\nseries %s, target %s (history used: %d steps)\n", r.ids[s], mi->targets[t], elen[s]);
                printf("  step");
                for (int j = 0; j < Q; j++) {
                    char h[TFT_LEVEL_MAX + 1];
                    h[0] = 'q';
                    tft_fmt_level(h + 1, mi->quantiles[j]);
                    printf("  %10s", h);
                }
                printf("\n");
                for (int k = 0; k < Td; k++) {
                    printf("  %4d", k + 1);
                    for (int j = 0; j < Q; j++) printf("  %10.4g", q[s * per + ((size_t)t * Td + k) * Q + j]);
                    printf("\n");
                }
            }
        if (interpret) {
            printf("\nmean variable-selection weights over all series\n");
            for (int v = 0; v < ns; v++) {
                double acc = 0;
                for (int32_t s = 0; s < r.n; s++) acc += sw[(size_t)s * ns + v];
                printf("  static   %-24s %.3f\n", mi->static_vars[v], acc / r.n);
            }
            for (int v = 0; v < ne; v++) {
                double acc = 0;
                long   cnt = 0;
                for (int32_t s = 0; s < r.n; s++)
                    for (int k = 0; k < elen[s]; k++) acc += ew[((size_t)s * Tm + k) * ne + v], cnt++;
                printf("  encoder  %-24s %.3f\n", mi->encoder_vars[v], cnt ? acc / cnt : 0.0);
            }
            for (int v = 0; v < nd; v++) {
                double acc = 0;
                for (int32_t s = 0; s < r.n; s++)
                    for (int k = 0; k < Td; k++) acc += dw[((size_t)s * Td + k) * nd + v];
                printf("  decoder  %-24s %.3f\n", mi->decoder_vars[v], acc / ((double)r.n * Td));
            }
        }
    }
done:
    free(q), free(elen), free(att), free(sw), free(ew), free(dw);
    tft_context_free(c);
    tft_request_free(&r);
    free(text);
    tft_model_free(m);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "info") == 0) return cmd_info(argc - 2, argv + 2);
    if (strcmp(argv[1], "predict") == 0) return cmd_predict(argc - 2, argv + 2);
    if (strcmp(argv[1], "forecast-table") == 0) return tft_cmd_forecast_table(argc - 2, argv + 2);
    if (strcmp(argv[1], "backtest") == 0) return tft_cmd_backtest(argc - 2, argv + 2);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("tft %s\n", tft_version_string());
        return 0;
    }
    return die(2, "unknown command '%s' (see tft --help)%s", argv[1], "");
}
