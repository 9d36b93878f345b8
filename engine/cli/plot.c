// plot.c: fan charts as SVG (see plot.h).
#include "plot.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct panel {
    char    *series, *target;
    int32_t  n_hist, n_fc;
    int64_t *hist_t, *fc_t;
    double  *hist_y, *actual; // actual NULL when absent
    float   *fc_q;            // [n_fc, Q]
} panel;

struct tft_plot {
    int32_t Q;
    float  *quantiles;
    panel  *panels;
    int32_t n, cap;
};

tft_plot *tft_plot_new(int32_t n_quantiles, const float *quantiles) {
    tft_plot *p = calloc(1, sizeof *p);
    if (!p || !(p->quantiles = malloc(sizeof(float) * (size_t)(n_quantiles + 1)))) {
        free(p);
        return NULL;
    }
    memcpy(p->quantiles, quantiles, sizeof(float) * (size_t)n_quantiles);
    p->Q = n_quantiles;
    return p;
}

static void panel_free(panel *a) {
    free(a->series), free(a->target), free(a->hist_t), free(a->fc_t), free(a->hist_y), free(a->actual), free(a->fc_q);
}

void tft_plot_free(tft_plot *p) {
    if (!p) return;
    for (int32_t i = 0; i < p->n; i++) panel_free(&p->panels[i]);
    free(p->panels), free(p->quantiles), free(p);
}

int32_t tft_plot_panels(const tft_plot *p) { return p->n; }

static void *dup_mem(const void *src, size_t bytes) {
    void *d = malloc(bytes ? bytes : 1);
    if (d && bytes) memcpy(d, src, bytes);
    return d;
}

int tft_plot_add(tft_plot *p, const char *series, const char *target, int32_t n_hist, const int64_t *hist_t,
                 const double *hist_y, int32_t n_fc, const int64_t *fc_t, const float *fc_q, const double *actual) {
    if (p->n == p->cap) {
        int32_t cap = p->cap ? 2 * p->cap : 8;
        panel  *np  = realloc(p->panels, sizeof *np * (size_t)cap);
        if (!np) return -1;
        p->panels = np, p->cap = cap;
    }
    panel *a  = &p->panels[p->n];
    *a        = (panel){.n_hist = n_hist, .n_fc = n_fc};
    a->series = strdup(series), a->target = strdup(target);
    a->hist_t = dup_mem(hist_t, sizeof(int64_t) * (size_t)n_hist);
    a->hist_y = dup_mem(hist_y, sizeof(double) * (size_t)n_hist);
    a->fc_t   = dup_mem(fc_t, sizeof(int64_t) * (size_t)n_fc);
    a->fc_q   = dup_mem(fc_q, sizeof(float) * (size_t)n_fc * (size_t)p->Q);
    a->actual = actual ? dup_mem(actual, sizeof(double) * (size_t)n_fc) : NULL;
    if (!a->series || !a->target || !a->hist_t || !a->hist_y || !a->fc_t || !a->fc_q || (actual && !a->actual)) {
        panel_free(a);
        return -1;
    }
    p->n++;
    return 0;
}

int tft_plot_ticks(double lo, double hi, int want, double *ticks, int max) {
    if (!(hi > lo)) hi = lo + 1;
    double raw  = (hi - lo) / (want > 1 ? want : 1);
    double mag  = pow(10, floor(log10(raw)));
    double step = mag;
    if (raw / mag > 5) step = 10 * mag;
    else if (raw / mag > 2) step = 5 * mag;
    else if (raw / mag > 1) step = 2 * mag;
    int n = 0;
    for (double t = ceil(lo / step) * step; t <= hi + 1e-9 * step && n < max; t += step)
        ticks[n++] = fabs(t) < 1e-12 * step ? 0 : t;
    return n;
}

// XML text with &, <, >, " escaped.
static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '&') fputs("&amp;", f);
        else if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

// Panel geometry (pixels): the plotting area inside each panel.
#define PANEL_W 600
#define PANEL_H 300
#define PAD_L   64
#define PAD_R   16
#define PAD_T   34
#define PAD_B   40

typedef struct frame {
    double x0, y0, w, h;         // plotting area
    double tmin, tmax, vmin, vmax;
} frame;

static double fx(const frame *f, double t) { return f->x0 + (t - f->tmin) / (f->tmax - f->tmin) * f->w; }
static double fy(const frame *f, double v) { return f->y0 + f->h - (v - f->vmin) / (f->vmax - f->vmin) * f->h; }

// The median's index: the quantile closest to 0.5.
static int32_t median_index(const tft_plot *p) {
    int32_t m = 0;
    for (int32_t i = 1; i < p->Q; i++)
        if (fabs(p->quantiles[i] - 0.5) < fabs(p->quantiles[m] - 0.5)) m = i;
    return m;
}

static void draw_panel(FILE *f, const tft_plot *p, const panel *a, double ox, double oy) {
    int32_t Q = p->Q, med = median_index(p);
    frame   fr = {ox + PAD_L, oy + PAD_T, PANEL_W - PAD_L - PAD_R, PANEL_H - PAD_T - PAD_B, 0, 0, INFINITY, -INFINITY};
    fr.tmin = a->n_hist ? (double)a->hist_t[0] : (double)a->fc_t[0];
    fr.tmax = a->n_fc ? (double)a->fc_t[a->n_fc - 1] : (double)a->hist_t[a->n_hist - 1];
    if (fr.tmax <= fr.tmin) fr.tmax = fr.tmin + 1;
    for (int32_t i = 0; i < a->n_hist; i++) fr.vmin = fmin(fr.vmin, a->hist_y[i]), fr.vmax = fmax(fr.vmax, a->hist_y[i]);
    for (int32_t i = 0; i < a->n_fc * Q; i++) fr.vmin = fmin(fr.vmin, a->fc_q[i]), fr.vmax = fmax(fr.vmax, a->fc_q[i]);
    for (int32_t i = 0; a->actual && i < a->n_fc; i++)
        fr.vmin = fmin(fr.vmin, a->actual[i]), fr.vmax = fmax(fr.vmax, a->actual[i]);
    if (!(fr.vmax > fr.vmin)) fr.vmin -= 1, fr.vmax += 1;
    double margin = 0.05 * (fr.vmax - fr.vmin);
    fr.vmin -= margin, fr.vmax += margin;

    fprintf(f, "<g>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fbfbfb\" stroke=\"#999\"/>\n",
            fr.x0, fr.y0, fr.w, fr.h);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" font-weight=\"bold\">", fr.x0, oy + 20);
    xml_text(f, a->series), fputs(" · ", f), xml_text(f, a->target);
    fputs("</text>\n", f);
    // axes: ticks, grid lines and labels
    double ticks[32];
    int    nt = tft_plot_ticks(fr.vmin, fr.vmax, 5, ticks, 32);
    for (int i = 0; i < nt; i++) {
        double y = fy(&fr, ticks[i]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>", fr.x0, y, fr.x0 + fr.w, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%g</text>\n", fr.x0 - 6, y + 4,
                ticks[i]);
    }
    nt = tft_plot_ticks(fr.tmin, fr.tmax, 6, ticks, 32);
    for (int i = 0; i < nt; i++) {
        double x = fx(&fr, ticks[i]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>", x, fr.y0 + fr.h, x,
                fr.y0 + fr.h + 4);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n", x,
                fr.y0 + fr.h + 17, ticks[i]);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\" fill=\"#555\">time index</text>\n",
            fr.x0 + fr.w / 2, fr.y0 + fr.h + 33);
    fprintf(f, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" font-size=\"11\" text-anchor=\"middle\" "
               "fill=\"#555\">", ox + 14, fr.y0 + fr.h / 2);
    xml_text(f, a->target);
    fputs("</text>\n", f);
    // the forecast origin
    if (a->n_fc) {
        double x = fx(&fr, (double)a->fc_t[0] - 0.5);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\n",
                x, fr.y0, x, fr.y0 + fr.h);
    }
    // bands: the pair (i, Q-1-i), outermost first and lightest
    for (int32_t i = 0; i < Q / 2; i++) {
        double op = 0.15 + 0.2 * i;
        fprintf(f, "<polygon fill=\"#2b6cb0\" fill-opacity=\"%.2f\" stroke=\"none\" points=\"", op);
        for (int32_t k = 0; k < a->n_fc; k++)
            fprintf(f, "%.1f,%.1f ", fx(&fr, (double)a->fc_t[k]), fy(&fr, a->fc_q[(size_t)k * Q + Q - 1 - i]));
        for (int32_t k = a->n_fc - 1; k >= 0; k--)
            fprintf(f, "%.1f,%.1f ", fx(&fr, (double)a->fc_t[k]), fy(&fr, a->fc_q[(size_t)k * Q + i]));
        fputs("\"/>\n", f);
    }
    // history, then the median, then the actuals on top
    fputs("<polyline fill=\"none\" stroke=\"#333\" stroke-width=\"1.3\" points=\"", f);
    for (int32_t i = 0; i < a->n_hist; i++) fprintf(f, "%.1f,%.1f ", fx(&fr, (double)a->hist_t[i]), fy(&fr, a->hist_y[i]));
    fputs("\"/>\n<polyline fill=\"none\" stroke=\"#1a4480\" stroke-width=\"2\" points=\"", f);
    for (int32_t k = 0; k < a->n_fc; k++) fprintf(f, "%.1f,%.1f ", fx(&fr, (double)a->fc_t[k]), fy(&fr, a->fc_q[(size_t)k * Q + med]));
    fputs("\"/>\n", f);
    if (a->actual) {
        fputs("<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"1.3\" stroke-dasharray=\"3 2\" points=\"", f);
        for (int32_t k = 0; k < a->n_fc; k++) fprintf(f, "%.1f,%.1f ", fx(&fr, (double)a->fc_t[k]), fy(&fr, a->actual[k]));
        fputs("\"/>\n", f);
    }
    fputs("</g>\n", f);
}

int tft_plot_write_svg(const tft_plot *p, const char *path, const char *title, char *err, size_t errlen) {
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    int    cols = p->n > 1 ? 2 : 1, rows = (p->n + cols - 1) / cols;
    double W = cols * PANEL_W + 20, Hh = rows * PANEL_H + 70;
    if (W < 760) W = 760; // room for the legend
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, Hh, W, Hh);
    fprintf(f, "<text x=\"10\" y=\"22\" font-size=\"16\">");
    xml_text(f, title);
    fputs("</text>\n", f);
    // legend: history, median, bands (outer to inner), actuals
    int32_t med = median_index(p);
    double  lx  = 10, ly = 44;
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#333\" stroke-width=\"1.3\"/>"
               "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\">history</text>\n", lx, ly, lx + 22, ly, lx + 27, ly + 4);
    lx += 90;
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#1a4480\" stroke-width=\"2\"/>"
               "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\">median (q%g)</text>\n", lx, ly, lx + 22, ly, lx + 27, ly + 4,
            p->quantiles[med]);
    lx += 130;
    for (int32_t i = 0; i < p->Q / 2; i++) {
        fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"22\" height=\"10\" fill=\"#2b6cb0\" fill-opacity=\"%.2f\"/>"
                   "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\">q%g–q%g</text>\n", lx, ly - 5, 0.15 + 0.2 * i,
                lx + 27, ly + 4, p->quantiles[i], p->quantiles[p->Q - 1 - i]);
        lx += 110;
    }
    int any_actual = 0;
    for (int32_t i = 0; i < p->n; i++) any_actual |= p->panels[i].actual != NULL;
    if (any_actual)
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#c0392b\" stroke-width=\"1.3\" "
                   "stroke-dasharray=\"3 2\"/><text x=\"%.0f\" y=\"%.0f\" font-size=\"12\">actual</text>\n",
                lx, ly, lx + 22, ly, lx + 27, ly + 4);
    for (int32_t i = 0; i < p->n; i++) draw_panel(f, p, &p->panels[i], 10 + (i % cols) * PANEL_W, 60 + (i / cols) * PANEL_H);
    fputs("</svg>\n", f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        snprintf(err, errlen, "writing %s failed: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
