"""Reference of tft's preprocessing: a REQUEST.md request + the exported config -> the network input x.

Written from the exported config only (what libtft sees), float64 NumPy, to check that the config carries
everything pytorch-forecasting's TimeSeriesDataSet did (TFT_SPEC.md §9). make_goldens.py compares its output with
the x that the library built for each fixture.

    x = preprocess(cfg, request)      # encoder_cat/cont, decoder_cat/cont, encoder/decoder_lengths, target_scale (B,nt,2)
"""
import math

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)
EPS64 = float(np.finfo(np.float64).eps)


def forward_transform(t, y, eps=EPS64):
    y = np.asarray(y, dtype=np.float64)
    if t in (None, "relu"):
        return y
    if t == "log":
        return np.maximum(np.log(y), -1.0 / eps)
    if t == "log1p":
        return np.log1p(y)
    if t == "logit":
        y = np.clip(y, eps, 1 - eps)
        return np.log(y) - np.log1p(-y)
    if t == "count":
        return y + 1.0
    if t == "softplus":
        with np.errstate(all="ignore"):
            return np.where(y > 20.0, y, y + np.log(-np.expm1(-(y + eps))))
    if t == "sqrt":
        return np.sqrt(y)
    raise ValueError(f"transformation {t}")


def _table_lookup(table, key):
    for k, c, s in zip(table["keys"], table["center"], table["scale"]):
        if list(k) == list(key):
            return c, s
    return None


def group_params(norm, statics, for_target_scale=False):
    """(center, scale) of a 'group' normalizer for one series; statics: {column: raw label}."""
    if not norm["groups"]:
        return norm["table"]["center"][0], norm["table"]["scale"][0]
    key = [str(statics[c]) for c in norm["groups"]]
    if for_target_scale and not norm.get("lookup_ok", True):
        tab = norm.get("target_scale_table")
        if tab is None:
            return tuple(norm["missing"])
        key = [str(statics[c]) for c in norm.get("target_scale_keys", norm["groups"])]
        r = _table_lookup(tab, key)
        return r if r is not None else tuple(norm["missing"])
    r = _table_lookup(norm["table"], key)
    return r if r is not None else tuple(norm["missing"])


def encoder_params(norm, y_enc):
    """EncoderNormalizer fit on the (raw) encoder window: the center on its last max_length rows, the scale on
    the last max_length_scale (max_length = [center rows, scale rows], or one integer for both, or None: all)."""
    y = forward_transform(norm["transformation"], np.asarray(y_enc, dtype=np.float64), EPS32)
    ml = norm.get("max_length")
    mc, ms = (ml if isinstance(ml, list) else [ml, ml])
    yc, ys = (y if mc is None else y[-mc:]), (y if ms is None else y[-ms:])
    if norm["method"] == "identity":
        return 0.0, 1.0
    if norm["method"] == "standard":
        c = float(np.mean(yc))
        s = float(np.std(ys, ddof=1)) + EPS32 if len(ys) > 1 else float("nan")
    elif norm["method"] == "robust":  # linear-interpolated quantiles, as torch.quantile
        q = {"center": 0.5, "lower": 0.25, "upper": 0.75}
        q.update(norm.get("method_kwargs") or {})
        c = float(np.percentile(yc, q["center"] * 100))
        s = float(np.percentile(ys, q["upper"] * 100) - np.percentile(ys, q["lower"] * 100)) / 2.0 + EPS32
    else:
        raise NotImplementedError(f"EncoderNormalizer method {norm['method']}")
    if not norm["center"]:
        c = 0.0
    return c, s


def apply_scaler(sc, values, statics, enc_len, fit_values=None):
    """fit_values: what an 'encoder' scaler is fitted on (default: values[:enc_len]); a lagged column passes its
    variable's encoder window."""
    v = np.asarray(values, dtype=np.float64)
    t = sc["type"]
    if t == "identity":
        return v
    if t == "standard":
        return (v - sc["mean"]) / sc["scale"]
    if t == "robust":
        return (v - sc["center"]) / sc["scale"]
    if t == "group":
        c, s = group_params(sc, statics)
        return (forward_transform(sc["transformation"], v) - c) / s
    if t == "encoder":
        c, s = encoder_params(sc, v[:enc_len] if fit_values is None else fit_values)
        return (forward_transform(sc["transformation"], v, EPS32) - c) / s
    if t == "torch":
        return (forward_transform(sc["transformation"], v) - sc["center"]) / sc["scale"]
    raise ValueError(t)


def preprocess(cfg, request):
    m, d = cfg["model"], cfg["dataset"]
    groups = d["variable_groups"]
    member_of = {c: g for g, cs in groups.items() for c in cs}
    targets = d["target"]
    tn = d["target_normalizer"]
    tnorms = tn["normalizers"] if tn["type"] == "multi" else [tn]
    maxE = d["max_encoder_length"]
    horizon = int(request.get("horizon", d["max_prediction_length"]))
    lags = d.get("lags") or {}
    lagged = {f"{v}_lagged_by_{k}": (v, int(k)) for v, ks in lags.items() for k in ks}
    max_lag = max((max(ks) for ks in lags.values() if ks), default=0)
    samples = []
    for s in request["series"]:
        st = s.get("static", {})
        hist, fut = s["history"], s.get("future", {})
        L = len(next(iter(hist.values())))
        le = min(L - max_lag, maxE)      # the library drops the first max_lag rows, then takes the encoder
        ld = horizon

        def series_of(col):  # full (le + ld) sequence of a column; None where unknown in the future
            if col in lagged:   # "<v>_lagged_by_<k>" at position p (history rows then future rows) = v at p - k
                v, k = lagged[col]
                if v in st:
                    return [st[v]] * (le + ld)
                raw = list(hist[v]) + (list(fut[v])[:ld] if v in fut else [None] * ld)
                return raw[L - le - k:L + ld - k]
            if col in st:
                return [st[col]] * (le + ld)
            h = list(hist[col])[-le:]
            f = list(fut[col])[:ld] if col in fut else [None] * ld
            return h + f
        cats = np.zeros((le + ld, len(m["x_categoricals"])), dtype=np.int64)
        cat_known = np.ones((le + ld, len(m["x_categoricals"])), dtype=bool)
        for j, col in enumerate(m["x_categoricals"]):
            base = lagged[col][0] if col in lagged else col       # a lagged categorical: its variable's encoder
            enc = d["categorical_encoders"][member_of.get(base, base)]
            idx = {lab: i for i, lab in enumerate(enc["classes"])}
            for t, v in enumerate(series_of(col)):
                if v is None:
                    cat_known[t, j] = False
                    continue
                if str(v) in idx:
                    cats[t, j] = idx[str(v)]
                elif enc["add_nan"]:
                    cats[t, j] = 0
                else:
                    raise KeyError(f"unknown category {v!r} for {col}")
        # target statistics
        tscale, tfeat, tnorm_of = [], {}, {}
        for tname, norm in zip(targets, tnorms):
            y = np.asarray(hist[tname], dtype=np.float64)[-le:]
            if norm["type"] == "group":
                ts = group_params(norm, st, for_target_scale=True)
                feat = group_params(norm, st)
                ynorm = (forward_transform(norm["transformation"], y) - feat[0]) / feat[1]
            elif norm["type"] == "encoder":
                ts = feat = encoder_params(norm, y)
                ynorm = (forward_transform(norm["transformation"], y, EPS32) - feat[0]) / feat[1]
            elif norm["type"] == "torch":
                ts = feat = (norm["center"], norm["scale"])
                ynorm = (forward_transform(norm["transformation"], y) - feat[0]) / feat[1]
            else:
                raise ValueError(norm["type"])
            tscale.append(ts)
            tfeat[tname] = (feat, ynorm)
            tnorm_of[tname] = norm
        cont = np.full((le + ld, len(m["x_reals"])), np.nan)
        for j, col in enumerate(m["x_reals"]):
            if col == "relative_time_idx":
                cont[:, j] = np.arange(-le, ld, dtype=np.float32) / np.float32(maxE)
            elif col == "encoder_length":
                cont[:, j] = (le - 0.5 * maxE) / maxE * 2.0
            elif col in targets:
                cont[:le, j] = tfeat[col][1]
            elif col in lagged and lagged[col][0] in targets:
                # lagged target: the target normalizer with the target's own parameters (group: table row, like the
                # target's input column; encoder: the statistics fitted on the target's encoder window)
                tname = lagged[col][0]
                norm, (c, sc) = tnorm_of[tname], tfeat[tname][0]
                seq = series_of(col)
                eps = EPS32 if norm["type"] == "encoder" else EPS64
                vals = np.array([np.nan if v is None else float(v) for v in seq])
                cont[:, j] = (forward_transform(norm["transformation"], vals, eps) - c) / sc
            elif col in lagged:
                # lagged covariate: its variable's scaler; an 'encoder' scaler keeps the statistics fitted on the
                # variable's own encoder window
                v = lagged[col][0]
                seq = series_of(col)
                vals = np.array([np.nan if x is None else float(x) for x in seq])
                fit = np.array([float(x) for x in series_of(v)[:le]])
                cont[:, j] = apply_scaler(d["scalers"][v], vals, st, le, fit_values=fit)
            elif any(col == f"{t}_{k}" for t in targets for k in ("center", "scale")):
                t, k = col.rsplit("_", 1)
                v = tfeat[t][0][0 if k == "center" else 1]
                cont[:, j] = apply_scaler(d["scalers"][col], np.full(le + ld, v), st, le)
            else:
                seq = series_of(col)
                known = [v is not None for v in seq]
                vals = np.array([np.nan if v is None else float(v) for v in seq])
                if all(known):
                    cont[:, j] = apply_scaler(d["scalers"][col], vals, st, le)
                else:
                    cont[:le, j] = apply_scaler(d["scalers"][col], vals, st, le)[:le]
        samples.append((le, ld, cats, cont, tscale, cat_known))
    B = len(samples)
    Te = max(s[0] for s in samples)
    Td = max(s[1] for s in samples)
    nc, nr = len(m["x_categoricals"]), len(m["x_reals"])
    x = {"encoder_cat": np.zeros((B, Te, nc), np.int64), "decoder_cat": np.zeros((B, Td, nc), np.int64),
         "encoder_cont": np.zeros((B, Te, nr)), "decoder_cont": np.zeros((B, Td, nr)),
         "encoder_lengths": np.array([s[0] for s in samples]), "decoder_lengths": np.array([s[1] for s in samples]),
         "target_scale": np.array([s[4] for s in samples], dtype=np.float64)}
    x["decoder_cat_known"] = np.ones((B, Td, nc), bool)   # False: unknown categorical in a future row
    for b, (le, ld, cats, cont, _, known) in enumerate(samples):
        x["decoder_cat_known"][b, :ld] = known[le:]
        x["encoder_cat"][b, :le] = cats[:le]
        x["decoder_cat"][b, :ld] = cats[le:]
        x["encoder_cont"][b, :le] = cont[:le]
        x["decoder_cont"][b, :ld] = cont[le:]
    return x


def check_against_fixture(cfg, request, fx):
    """Max error of preprocess(cfg, request) vs the fixture's x (NaN entries = values the request cannot know:
    unknown variables in decoder rows). Categoricals must match exactly (else returns inf)."""
    x = preprocess(cfg, request)
    for k in ("encoder_lengths", "decoder_lengths"):
        if not np.array_equal(x[k], fx[k]):
            return math.inf
    if x["encoder_cat"].shape != fx["encoder_cat"].shape or not np.array_equal(x["encoder_cat"], fx["encoder_cat"]):
        return math.inf
    kn = x["decoder_cat_known"]
    if x["decoder_cat"].shape != fx["decoder_cat"].shape or not np.array_equal(x["decoder_cat"][kn], fx["decoder_cat"][kn]):
        return math.inf
    err = 0.0
    for k in ("encoder_cont", "decoder_cont"):
        a, b = x[k], fx[k].astype(np.float64)
        if a.shape != b.shape:
            return math.inf
        ok = ~np.isnan(a)
        if ok.any():
            err = max(err, float((np.abs(a[ok] - b[ok]) / np.maximum(1.0, np.abs(b[ok]))).max()))
    ts = fx["target_scale"].astype(np.float64)
    err = max(err, float((np.abs(x["target_scale"] - ts) / np.maximum(1e-6, np.abs(ts))).max()))
    return err
