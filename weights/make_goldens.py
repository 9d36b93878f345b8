#!/usr/bin/env python3
"""Golden fixtures for libtft: small seeded TFT models trained on synthetic data with pytorch-forecasting itself.

    python weights/make_goldens.py [NAME ...]        # default: all configurations

For each configuration writes goldens/<name>/model.safetensors (export.py) and goldens/<name>/fixture.safetensors
(FORMAT.md "Golden fixtures"), then checks
  * the float64 NumPy reference (TFT_SPEC tft_reference.py) on the saved x against prediction_normalized,
  * the Python preprocessing reference (preprocess_ref.py) on the saved request + exported config against x,
  * end to end: request -> preprocess_ref -> reference forward -> de-normalization against predict() (e2e_err),
and prints a summary table. CPU only, TF32 off, deterministic algorithms, seeded: re-running gives byte-identical
files (golden models carry no checkpoint hash).
"""
import json
import os
import sys

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")   # stay on one core (the other one is for the C builds)
import time
import warnings

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
for p in (os.path.join(HERE, "..", "..", "shared", "design"), os.path.join(HERE, "..", "shared", "design"),
          "/work/shared/design"):
    if os.path.exists(os.path.join(p, "tft_reference.py")):
        sys.path.insert(0, os.path.abspath(p))
        break

import export  # noqa: E402
import preprocess_ref  # noqa: E402

try:
    import tft_reference  # noqa: E402
except ImportError:  # pragma: no cover
    tft_reference = None

OUT = os.environ.get("TFT_GOLDENS_OUT") or os.path.join(HERE, "goldens")   # override: regenerate elsewhere to compare
WORK = os.path.join(HERE, "work", "goldens")


# ----------------------------------------------------------------------------------------------------------
# synthetic data

def synth(seed, n_series=12, length=24 * 16, period=24, late_start=(), with_y2=False, prefix="s", with_status=False):
    """Hourly-ish positive series with daily/weekly pattern, trend and noise.
    late_start: {series index: first time_idx} to give series different history lengths."""
    rng = np.random.default_rng(seed)
    regions = ["north", "south", "east"]
    sites = ["a", "b", "c"]
    frames = []
    for i in range(n_series):
        start = dict(late_start).get(i, 0)
        t = np.arange(start, length)
        lvl = rng.uniform(5, 40)
        amp = rng.uniform(0.2, 0.6) * lvl
        ph = rng.uniform(0, 2 * np.pi)
        daily = np.sin(2 * np.pi * t / period + ph)
        weekly = 0.3 * np.sin(2 * np.pi * t / (7 * period))
        temp = 15 + 8 * np.sin(2 * np.pi * (t - 6) / period) + rng.normal(0, 1.5, len(t)) + 3 * weekly
        load = lvl * 0.5 + amp * 0.5 * daily + rng.normal(0, 0.1 * lvl, len(t))
        y = lvl + amp * daily + 0.3 * lvl * weekly + 0.01 * lvl * t / period + rng.normal(0, 0.08 * lvl, len(t))
        y = np.abs(y) + 0.5
        holiday = ((t // period) % 7 == 3).astype(int)
        event = (rng.random(len(t)) < 0.05).astype(int)
        d = {"series": f"{prefix}{i:02d}", "region": regions[i % 3], "site": sites[(i // 3) % 3],
             "capacity": float(round(lvl * 2.0 + i, 2)), "time_idx": t,
             "hour": (t % period).astype(float), "dow": ((t // period) % 7).astype(str),
             "holiday": holiday.astype(str), "event": event.astype(str),
             "temp": temp, "humid": 50 + 20 * np.cos(2 * np.pi * t / period) + rng.normal(0, 3, len(t)),
             "load": load, "y": y}
        if with_status:
            d["status"] = np.where(y > lvl + 0.8 * amp, "busy", np.where(event == 1, "degraded", "ok")).astype(str)
        if with_y2:
            d["y2"] = np.abs(0.5 * y + 3 * np.cos(2 * np.pi * t / period + ph) + rng.normal(0, 0.5, len(t))) + 1.0
        frames.append(pd.DataFrame(d))
    df = pd.concat(frames, ignore_index=True)
    for c in ("series", "region", "site", "dow", "holiday", "event") + (("status",) if with_status else ()):
        df[c] = df[c].astype(str)
    return df


def electricity(seed, n_series=10, length=24 * 28):
    """NVIDIA TFT electricity-shaped data: hourly power usage per consumer."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        t = np.arange(length)
        hour = t % 24
        dow = (t // 24) % 7
        base = rng.uniform(50, 500)
        shape = np.exp(-0.5 * ((hour - rng.uniform(17, 20)) / 3.0) ** 2) + 0.5 * np.exp(-0.5 * ((hour - 8) / 2.0) ** 2)
        usage = base * (0.6 + 0.8 * shape) * (1 - 0.15 * (dow >= 5)) * np.exp(rng.normal(0, 0.05, length))
        frames.append(pd.DataFrame({"categorical_id": f"MT_{i + 1:03d}", "time_idx": t,
                                    "hour": hour.astype(float), "day_of_week": dow.astype(float),
                                    "hours_from_start": t.astype(float), "power_usage": usage}))
    df = pd.concat(frames, ignore_index=True)
    df["categorical_id"] = df["categorical_id"].astype(str)
    return df


# ----------------------------------------------------------------------------------------------------------
# configurations

def configs():
    from pytorch_forecasting.data import EncoderNormalizer, GroupNormalizer, MultiNormalizer, NaNLabelEncoder
    from pytorch_forecasting.metrics import MultiLoss, QuantileLoss
    from sklearn.preprocessing import RobustScaler
    C = []

    # 1 --------------------------------------------------------------------------------------------------------
    C.append(dict(
        name="group_softplus",
        notes="single target, GroupNormalizer(groups=[series], softplus); series encoder add_nan=True, so the "
              "library's target_scale lookup is shifted by one group (TFT_SPEC 9.5 pitfall -> target_scale_table); "
              "encoder lengths 6..24 vary inside the batch (series with short raw history); static cat + static real; "
              "known cat + reals; 4 heads with hidden 18 (d=4); per-variable hidden_continuous_sizes; LSTM 1 layer; causal.",
        data=lambda: synth(1, late_start={2: 300, 5: 320, 8: 340}),
        ds=dict(target="y", group_ids=["series"], max_encoder_length=24, min_encoder_length=6, max_prediction_length=6,
                static_categoricals=["series", "region"], static_reals=["capacity"],
                time_varying_known_categoricals=["dow"], time_varying_known_reals=["hour", "temp"],
                time_varying_unknown_reals=["y", "load"],
                target_normalizer=GroupNormalizer(groups=["series"], transformation="softplus"),
                categorical_encoders={"series": NaNLabelEncoder(add_nan=True)},
                add_relative_time_idx=True, add_target_scales=True, add_encoder_length=True),
        model=dict(hidden_size=18, attention_head_size=4, lstm_layers=1, hidden_continuous_size=6,
                   hidden_continuous_sizes={"temp": 3, "load": 10}, causal_attention=True),
        enc_lengths=[24, 6, 11, 24, 17, 20, 9, 24],
        series=["s00", "s02", "s05", "s04", "s08", "s09", "s10", "s11"]))

    # 2 --------------------------------------------------------------------------------------------------------
    C.append(dict(
        name="multi_encoder_norm",
        notes="two targets (MultiNormalizer + MultiLoss of QuantileLoss): y with EncoderNormalizer(log1p) "
              "(target_scale and y_center/y_scale recomputed per sample from the encoder window), y2 with "
              "GroupNormalizer(groups=[series], log); LSTM 2 layers; 1 attention head; non-causal attention; "
              "encoder lengths 4..30 vary inside the batch.",
        data=lambda: synth(2, with_y2=True, late_start={1: 300, 3: 330}),
        ds=dict(target=["y", "y2"], group_ids=["series"], max_encoder_length=30, min_encoder_length=4,
                max_prediction_length=8, static_categoricals=["series"], static_reals=["capacity"],
                time_varying_known_categoricals=["dow"], time_varying_known_reals=["hour"],
                time_varying_unknown_reals=["y", "y2", "load"],
                target_normalizer=MultiNormalizer([EncoderNormalizer(transformation="log1p"),
                                                   GroupNormalizer(groups=["series"], transformation="log")]),
                add_relative_time_idx=True, add_target_scales=True, add_encoder_length=True),
        model=dict(hidden_size=12, attention_head_size=1, lstm_layers=2, hidden_continuous_size=5,
                   causal_attention=False, loss=MultiLoss([QuantileLoss(), QuantileLoss()])),
        enc_lengths=[30, 4, 13, 30, 22, 7],
        series=["s00", "s01", "s03", "s06", "s07", "s10"]))

    # 3 --------------------------------------------------------------------------------------------------------
    C.append(dict(
        name="shared_relu_unknown_cat",
        notes="two targets: y GroupNormalizer(groups=[series], relu), y2 EncoderNormalizer(no transformation); "
              "region encoder add_nan=True and two fixture series carry the never-seen region 'west' (-> class 0); "
              "covariate scalers RobustScaler (temp), GroupNormalizer(groups=[series]) (load), EncoderNormalizer "
              "(humid), None (capacity); share_single_variable_networks=True (shared GRN aliases); 5 heads with "
              "hidden 22 (d=4); per-variable hidden_continuous_sizes; causal; encoder lengths 8..36 vary.",
        data=lambda: synth(3, with_y2=True, late_start={4: 300, 7: 310}),
        ds=dict(target=["y", "y2"], group_ids=["series"], max_encoder_length=36, min_encoder_length=8,
                max_prediction_length=5, static_categoricals=["series", "region"], static_reals=["capacity"],
                time_varying_known_categoricals=["dow"], time_varying_known_reals=["hour", "temp", "humid"],
                time_varying_unknown_reals=["y", "y2", "load"],
                target_normalizer=MultiNormalizer([GroupNormalizer(groups=["series"], transformation="relu"),
                                                   EncoderNormalizer()]),
                categorical_encoders={"region": NaNLabelEncoder(add_nan=True)},
                scalers={"temp": RobustScaler(), "load": GroupNormalizer(groups=["series"]),
                         "humid": EncoderNormalizer(), "capacity": None},
                add_relative_time_idx=True, add_target_scales=True, add_encoder_length=True),
        model=dict(hidden_size=22, attention_head_size=5, lstm_layers=1, hidden_continuous_size=7,
                   hidden_continuous_sizes={"humid": 4, "y": 9}, share_single_variable_networks=True,
                   causal_attention=True, loss=MultiLoss([QuantileLoss(), QuantileLoss()])),
        enc_lengths=[36, 8, 19, 36, 27, 12, 36],
        series=["s00", "s04", "s07", "s02", "s05", "s09", "s11"],
        unknown={"s02": {"region": "west"}, "s09": {"region": "west"}}))

    # 4 --------------------------------------------------------------------------------------------------------
    C.append(dict(
        name="log_lstm2_groups",
        notes="single target GroupNormalizer(groups=[series], log) with group_ids [site, series]: the library's "
              "target_scale lookup never hits the table (groups differ from group_ids -> lookup_ok=false, missing_ "
              "for every series) while the y input column uses the per-series table; categorical group "
              "(EmbeddingBag) 'special' = [holiday, event]; LSTM 2 layers; 4 heads (hidden 16); fixed encoder "
              "length 12 (no encoder_length feature); no relative_time_idx; no target scales.",
        data=lambda: synth(4),
        ds=dict(target="y", group_ids=["site", "series"], max_encoder_length=12, min_encoder_length=12,
                max_prediction_length=4, static_categoricals=["site"],
                time_varying_known_categoricals=["special", "dow"], time_varying_known_reals=["hour", "temp"],
                time_varying_unknown_reals=["y"], variable_groups={"special": ["holiday", "event"]},
                target_normalizer=GroupNormalizer(groups=["series"], transformation="log"),
                add_relative_time_idx=False, add_target_scales=False, add_encoder_length="auto"),
        model=dict(hidden_size=16, attention_head_size=4, lstm_layers=2, hidden_continuous_size=8,
                   causal_attention=True),
        enc_lengths=[12] * 6,
        series=["s00", "s03", "s04", "s07", "s09", "s11"]))

    # 5 --------------------------------------------------------------------------------------------------------
    C.append(dict(
        name="electricity",
        notes="NVIDIA-electricity-shaped model: hidden 128, 4 heads, quantiles [0.1,0.5,0.9], encoder 168, "
              "decoder 24, static categorical_id, known hour/day_of_week/hours_from_start, target power_usage with "
              "GroupNormalizer(groups=[categorical_id]) and no transformation.",
        data=lambda: electricity(5),
        ds=dict(target="power_usage", group_ids=["categorical_id"], max_encoder_length=168, min_encoder_length=168,
                max_prediction_length=24, static_categoricals=["categorical_id"],
                time_varying_known_reals=["hour", "day_of_week", "hours_from_start"],
                time_varying_unknown_reals=["power_usage"],
                target_normalizer=GroupNormalizer(groups=["categorical_id"]),
                add_relative_time_idx=True, add_target_scales=True, add_encoder_length="auto"),
        model=dict(hidden_size=128, attention_head_size=4, lstm_layers=1, hidden_continuous_size=16,
                   dropout=0.1, loss=QuantileLoss([0.1, 0.5, 0.9])),
        enc_lengths=[168] * 6,
        series=["MT_001", "MT_003", "MT_004", "MT_006", "MT_008", "MT_010"],
        train=dict(batches=12, epochs=2, batch_size=32)))

    # 6 --------------------------------------------------------------------------------------------------------
    C.append(dict(
        name="identity_minimal",
        notes="target_normalizer=None (TorchNormalizer identity: target_scale [0,1]); no static variables at all; "
              "one known real only in the decoder VSN (single-variable VSN, context ignored); default quantiles; "
              "encoder lengths 3..10 vary; 2 heads, hidden 8; LSTM 1 layer.",
        data=lambda: synth(6, late_start={1: 330, 2: 340}),
        ds=dict(target="y", group_ids=["series"], max_encoder_length=10, min_encoder_length=3,
                max_prediction_length=3, time_varying_known_reals=["hour"], time_varying_unknown_reals=["y"],
                target_normalizer=None, add_relative_time_idx=False, add_target_scales=False,
                add_encoder_length=False),
        model=dict(hidden_size=8, attention_head_size=2, lstm_layers=1, hidden_continuous_size=4),
        enc_lengths=[10, 3, 7, 10, 5],
        series=["s00", "s01", "s02", "s05", "s08"]))
    # 7 --------------------------------------------------------------------------------------------------------
    C.append(dict(
        name="new_series_unknown_cat",
        notes="brand-new series: 's12' is absent from training and its label maps to the NaN class (series encoder "
              "add_nan=True), which is reproducible because the target uses EncoderNormalizer(sqrt) (no group "
              "lookup); an unknown (history-only) categorical 'status'; 3 heads with hidden 10 (d=3); encoder "
              "lengths 5..20 vary; causal.",
        data=lambda: synth(7, n_series=13, with_status=True),
        train_exclude=["s12"],
        ds=dict(target="y", group_ids=["series"], max_encoder_length=20, min_encoder_length=5, max_prediction_length=4,
                static_categoricals=["series"], time_varying_known_categoricals=["dow"],
                time_varying_known_reals=["hour"], time_varying_unknown_categoricals=["status"],
                time_varying_unknown_reals=["y"],
                target_normalizer=EncoderNormalizer(transformation="sqrt"),
                categorical_encoders={"series": NaNLabelEncoder(add_nan=True)},
                add_relative_time_idx=True, add_target_scales=True, add_encoder_length=True),
        model=dict(hidden_size=10, attention_head_size=3, lstm_layers=1, hidden_continuous_size=4),
        enc_lengths=[20, 5, 12, 20, 9],
        series=["s00", "s03", "s06", "s12", "s10"]))
    # 8 --------------------------------------------------------------------------------------------------------
    C.append(dict(
        name="lags",
        notes="lags {y: [1, 7], temp: [2], load: [3], dow: [1]} (max_lag 7): y_lagged_by_1 and load_lagged_by_3 are "
              "unknown (lag < horizon 6), y_lagged_by_7, temp_lagged_by_2 (known real) and dow_lagged_by_1 (known "
              "categorical, embedding given explicitly) are known; each lagged column is its variable k rows back, "
              "through the variable's transformer: y GroupNormalizer(groups=[series], log) table row, temp "
              "GroupNormalizer(groups=[series]), load EncoderNormalizer (statistics of load's own encoder window), "
              "dow's encoder. The request's history is max_lag + encoder_length rows (the library drops the first "
              "max_lag rows of each series); encoder lengths 8..24 vary; hidden 12, 2 heads.",
        data=lambda: synth(8, late_start={2: 330, 5: 345}),
        ds=dict(target="y", group_ids=["series"], max_encoder_length=24, min_encoder_length=8, max_prediction_length=6,
                static_categoricals=["series"], static_reals=["capacity"],
                time_varying_known_categoricals=["dow"], time_varying_known_reals=["hour", "temp"],
                time_varying_unknown_reals=["y", "load"],
                lags={"y": [1, 7], "temp": [2], "load": [3], "dow": [1]},
                target_normalizer=GroupNormalizer(groups=["series"], transformation="log"),
                scalers={"temp": GroupNormalizer(groups=["series"]), "load": EncoderNormalizer()},
                add_relative_time_idx=True, add_target_scales=True, add_encoder_length=True),
        model=dict(hidden_size=12, attention_head_size=2, lstm_layers=1, hidden_continuous_size=4),
        lag_embeddings=True,   # TFT.from_dataset has no embedding for a lagged categorical: give it the variable's
        enc_lengths=[24, 8, 15, 24, 11, 20, 24],
        series=["s00", "s02", "s05", "s03", "s07", "s09", "s11"]))
    # 9 --------------------------------------------------------------------------------------------------------
    C.append(dict(
        name="encoder_robust",
        notes="EncoderNormalizer's other fits: target y EncoderNormalizer(method='robust', log1p) (center = median, "
              "scale = (q75 - q25) / 2 + eps of its encoder window, torch.quantile's linear interpolation; also "
              "target_scale and y_center/y_scale); covariate load EncoderNormalizer(max_length=[16, 6]) (mean of the "
              "last 16 encoder rows, std of the last 6), temp EncoderNormalizer(method='robust', max_length=[5, 20], "
              "method_kwargs lower 0.1 / upper 0.9); encoder lengths 6..24 vary (windows shorter than max_length "
              "take every row); hidden 10, 2 heads.",
        data=lambda: synth(9, late_start={1: 335, 4: 350}),
        ds=dict(target="y", group_ids=["series"], max_encoder_length=24, min_encoder_length=6, max_prediction_length=5,
                static_categoricals=["series"], time_varying_known_categoricals=["dow"],
                time_varying_known_reals=["hour"], time_varying_unknown_reals=["y", "load", "temp"],
                target_normalizer=EncoderNormalizer(method="robust", transformation="log1p"),
                scalers={"load": EncoderNormalizer(max_length=[16, 6]),
                         "temp": EncoderNormalizer(method="robust", max_length=[5, 20],
                                                   method_kwargs={"lower": 0.1, "upper": 0.9})},
                add_relative_time_idx=True, add_target_scales=True, add_encoder_length=True),
        model=dict(hidden_size=10, attention_head_size=2, lstm_layers=1, hidden_continuous_size=4),
        enc_lengths=[24, 6, 13, 24, 9, 19],
        series=["s00", "s01", "s04", "s06", "s08", "s10"]))
    return C


def max_lag(lags):
    return max((max(ks) for ks in (lags or {}).values() if ks), default=0)


# ----------------------------------------------------------------------------------------------------------

def fixture_rows(df, cfg, time_idx="time_idx"):
    """Raw rows of the fixture: for each series, max_lag + encoder-length history rows + prediction-length rows at its
    end (the library drops the first max_lag rows of each series after computing the lagged columns)."""
    gcol = cfg["ds"]["group_ids"][-1]
    H = cfg["ds"]["max_prediction_length"]
    ml = max_lag(cfg["ds"].get("lags"))
    parts = []
    for sid, le in zip(cfg["series"], cfg["enc_lengths"]):
        s = df[df[gcol] == sid].sort_values(time_idx)
        if len(s) < ml + le + H:
            raise RuntimeError(f"{cfg['name']}: series {sid} has {len(s)} rows < {ml}+{le}+{H}")
        s = s.tail(ml + le + H).copy()
        for col, val in cfg.get("unknown", {}).get(sid, {}).items():
            s[col] = val
        parts.append(s)
    return pd.concat(parts, ignore_index=True)


def request_from_rows(rows, series_order, enc_lengths, cfg_json):
    """REQUEST.md request from raw rows; series in `series_order`; history = the raw rows the library used: the
    max_lag rows that feed the lagged columns, then the encoder rows."""
    d = cfg_json["dataset"]
    derived = {"encoder_length", "relative_time_idx"} | {f"{t}_{s}" for t in d["target"] for s in ("center", "scale")}
    derived |= set(export.lagged_variables(d.get("lags") or {}))
    ml = max_lag(d.get("lags"))
    groups = d["variable_groups"]

    def expand(names):
        out = []
        for n in names:
            out += groups.get(n, [n])
        return out
    statics = list(dict.fromkeys(d["group_ids"] + expand(d["static_categoricals"]) +
                                 [r for r in d["static_reals"] if r not in derived]))
    known = [c for c in expand(d["time_varying_known_categoricals"]) + d["time_varying_known_reals"] if c not in derived]
    hist = list(dict.fromkeys(known + expand(d["time_varying_unknown_categoricals"]) +
                              [r for r in d["time_varying_unknown_reals"] if r not in derived] + d["target"]))
    catcols = set(expand(d["static_categoricals"]) + expand(d["time_varying_known_categoricals"]) +
                  expand(d["time_varying_unknown_categoricals"]))
    key = d["group_ids"]
    H = d["max_prediction_length"]
    series = []
    for gid, le in zip(series_order, enc_lengths):
        m = np.ones(len(rows), bool)
        for c, v in zip(key, gid):
            m &= rows[c].astype(str).to_numpy() == v
        s = rows[m].sort_values(d["time_idx"])
        s = s.tail(ml + le + H)
        h, f = s.iloc[:ml + le], s.iloc[ml + le:]

        def vals(frame, c):
            return [str(x) for x in frame[c]] if (c in catcols or c in key) else [float(x) for x in frame[c]]
        st = {}
        for c in statics:
            v = s[c].iloc[0]
            st[c] = str(v) if (c in catcols or c in key) else float(v)
        series.append({"id": "/".join(gid), "static": st, "time_idx": [int(x) for x in s[d["time_idx"]]],
                       "history": {c: vals(h, c) for c in hist}, "future": {c: vals(f, c) for c in known}})
    return {"horizon": H, "interpret": False, "series": series}


def run_config(cfg):
    import torch
    import lightning.pytorch as pl
    from pytorch_forecasting import TemporalFusionTransformer, TimeSeriesDataSet

    name = cfg["name"]
    t0 = time.time()
    pl.seed_everything(1234, workers=True)
    df = cfg["data"]()
    tr = cfg.get("train", dict(batches=20, epochs=4, batch_size=32))
    H = cfg["ds"]["max_prediction_length"]
    cutoff = df.time_idx.max() - H * 2
    gcol = cfg["ds"]["group_ids"][-1]
    tdf = df[(df.time_idx <= cutoff) & ~df[gcol].isin(cfg.get("train_exclude", []))]
    training = TimeSeriesDataSet(tdf, time_idx="time_idx", **cfg["ds"])
    mk = dict(learning_rate=0.01, dropout=0.1, log_interval=-1)
    mk.update(cfg["model"])
    if cfg.get("lag_embeddings"):
        # from_dataset only sizes embeddings of categoricals with an encoder of their own; a lagged categorical uses its
        # variable's encoder, so give it the variable's size (a user-given embedding_sizes replaces the defaults)
        from pytorch_forecasting.utils import get_embedding_size
        es = {n: (len(e.classes_), get_embedding_size(len(e.classes_)))
              for n, e in training._categorical_encoders.items() if n in training.categoricals}
        for ln, var in training.lagged_variables.items():
            if var in es:
                es[ln] = es[var]
        mk["embedding_sizes"] = es
    model = TemporalFusionTransformer.from_dataset(training, **mk)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=tr["epochs"], limit_train_batches=tr["batches"],
                         gradient_clip_val=0.1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, deterministic=True, num_sanity_val_steps=0)
    trainer.fit(model, train_dataloaders=training.to_dataloader(train=True, batch_size=tr["batch_size"],
                                                                num_workers=0))
    os.makedirs(WORK, exist_ok=True)
    ckpt = os.path.join(WORK, f"{name}.ckpt")
    trainer.save_checkpoint(ckpt)
    model = TemporalFusionTransformer.load_from_checkpoint(ckpt, map_location="cpu").eval()

    outdir = os.path.join(OUT, name)
    os.makedirs(outdir, exist_ok=True)
    mpath = os.path.join(outdir, "model.safetensors")
    cfg_json = export.export_model(model, mpath)       # no source hash: goldens are regenerated, not versioned
    n_params = sum(p.numel() for p in model.parameters())

    # ---- the batch, exactly as pytorch-forecasting builds it
    rows = fixture_rows(df, cfg)
    B = len(cfg["series"])
    pds = TimeSeriesDataSet.from_parameters(model.dataset_parameters, rows, predict=True)
    dl = pds.to_dataloader(train=False, batch_size=B, num_workers=0)
    batches = list(dl)
    assert len(batches) == 1 and len(pds) == B, f"{name}: expected one batch of {B}, got {len(pds)} samples"
    x, _ = batches[0]
    index = pds.x_to_index(x)
    gids = cfg_json["dataset"]["group_ids"]
    order = [tuple(str(index[c].iloc[i]) for c in gids) for i in range(B)]
    enc_len = [int(v) for v in x["encoder_lengths"]]
    want = {tuple([str(rows[rows[gids[-1]] == s][c].iloc[0]) for c in gids]): le
            for s, le in zip(cfg["series"], cfg["enc_lengths"])}
    assert all(want[o] == le for o, le in zip(order, enc_len)), f"{name}: encoder lengths differ from the plan"

    # ---- forward with a hook on the output layer(s)
    captured = {}
    ol = model.output_layer
    layers = list(ol) if isinstance(ol, torch.nn.ModuleList) else [ol]
    hooks = [layer.register_forward_hook(lambda m, i, o, j=j: captured.__setitem__(j, o.detach().clone()))
             for j, layer in enumerate(layers)]
    with torch.no_grad():
        out = model(x)
    for h in hooks:
        h.remove()
    nt = len(layers)
    pred_norm = torch.stack([captured[j] for j in range(nt)], 1)
    pred = out["prediction"]
    pred = torch.stack(list(pred), 1) if isinstance(pred, (list, tuple)) else pred[:, None]
    ts = x["target_scale"]
    ts = torch.stack(list(ts), 1) if isinstance(ts, (list, tuple)) else ts[:, None]

    # ---- predict() on the same raw rows
    p = model.predict(rows, mode="quantiles", return_index=True, batch_size=64,
                      trainer_kwargs=dict(accelerator="cpu", logger=False, enable_progress_bar=False))
    pq = p.output
    pq = torch.stack(list(pq), 1) if isinstance(pq, (list, tuple)) else pq[:, None]
    porder = [tuple(str(p.index[c].iloc[i]) for c in gids) for i in range(B)]
    assert porder == order, f"{name}: predict() series order {porder} != batch order {order}"

    def sq(t, dim):
        return t.squeeze(dim) if t.dim() > dim and t.shape[dim] == 1 else t
    sv = out["static_variables"]
    tensors = {
        "encoder_cat": x["encoder_cat"].numpy().astype(np.int32),
        "encoder_cont": x["encoder_cont"].numpy().astype(np.float32),
        "decoder_cat": x["decoder_cat"].numpy().astype(np.int32),
        "decoder_cont": x["decoder_cont"].numpy().astype(np.float32),
        "encoder_lengths": x["encoder_lengths"].numpy().astype(np.int32),
        "decoder_lengths": x["decoder_lengths"].numpy().astype(np.int32),
        "target_scale": ts.numpy().astype(np.float32),
        "prediction_normalized": pred_norm.numpy().astype(np.float32),
        "prediction": pred.numpy().astype(np.float32),
        "encoder_attention": out["encoder_attention"].numpy().astype(np.float32),
        "decoder_attention": out["decoder_attention"].numpy().astype(np.float32),
        "static_variables": (sq(sv, 1) if sv.dim() == 3 else sv).numpy().astype(np.float32),
        "encoder_variables": sq(out["encoder_variables"], 2).numpy().astype(np.float32),
        "decoder_variables": sq(out["decoder_variables"], 2).numpy().astype(np.float32),
        "predict_quantiles": pq.numpy().astype(np.float32),
    }
    request = request_from_rows(rows, order, enc_len, cfg_json)
    meta = {"format": "tft-fixture", "format_version": "1", "name": name, "notes": cfg["notes"],
            "request": json.dumps(request, separators=(",", ":"), allow_nan=False),
            "series_order": json.dumps(["/".join(o) for o in order])}
    fpath = os.path.join(outdir, "fixture.safetensors")
    export.write_safetensors(fpath, tensors, meta)

    # ---- checks
    res = {"name": name, "B": B, "Te": int(max(enc_len)), "Td": int(x["decoder_lengths"].max()),
           "params": int(n_params), "train_s": round(time.time() - t0, 1)}
    sd, cfgm = export.load_exported(mpath)
    fx, fmeta = export.read_safetensors(fpath)
    xin = {k: fx[k].astype(np.int64) if fx[k].dtype == np.int32 else fx[k] for k in
           ("encoder_cat", "decoder_cat", "encoder_cont", "decoder_cont", "encoder_lengths", "decoder_lengths")}
    ref = tft_reference.tft_forward(sd, cfgm["model"], xin, dtype=np.float64)
    rp = ref["prediction"]
    rp = np.stack(rp, 1) if isinstance(rp, list) else rp[:, None]
    res["ref_err"] = float(np.abs(rp - fx["prediction_normalized"]).max())
    res["ref_attn_err"] = float(max(np.abs(ref["encoder_attention"] - fx["encoder_attention"]).max(),
                                    np.abs(ref["decoder_attention"] - fx["decoder_attention"]).max()))
    vw = [np.abs(ref["encoder_variables"][:, :, 0] - fx["encoder_variables"]).max(),
          np.abs(ref["decoder_variables"][:, :, 0] - fx["decoder_variables"]).max()]
    if fx["static_variables"].size:
        vw.append(np.abs(ref["static_variables"][:, 0] - fx["static_variables"]).max())
    res["ref_vsn_err"] = float(max(vw))
    # de-normalization per target with the exported normalizer config vs forward's prediction (relative)
    tn = cfgm["dataset"]["target_normalizer"]
    tnl = tn["normalizers"] if tn["type"] == "multi" else [tn]
    rel = 0.0
    for j, n in enumerate(tnl):
        y = tft_reference.transform_output(fx["prediction_normalized"][:, j].astype(np.float64),
                                           fx["target_scale"][:, j].astype(np.float64), n.get("transformation"))
        rel = max(rel, float((np.abs(y - fx["prediction"][:, j]) / (np.abs(fx["prediction"][:, j]) + 1e-3)).max()))
    res["denorm_rel_err"] = rel
    res["predict_vs_forward"] = float(np.abs(fx["predict_quantiles"] - fx["prediction"]).max())
    # preprocessing reference: request + exported config -> x
    pre = preprocess_ref.check_against_fixture(cfgm, json.loads(fmeta["request"]), fx)
    res["prep_err"] = pre
    # end to end from the request and the exported file alone (what libtft does) vs predict()
    xp = preprocess_ref.preprocess(cfgm, json.loads(fmeta["request"]))
    ro = tft_reference.tft_forward(sd, cfgm["model"], {k: xp[k] for k in xin}, dtype=np.float64)["prediction"]
    ro = ro if isinstance(ro, list) else [ro]
    e2e = 0.0
    for j, n in enumerate(tnl):
        y = tft_reference.transform_output(ro[j], xp["target_scale"][:, j], n.get("transformation"))
        e = fx["predict_quantiles"][:, j].astype(np.float64)
        e2e = max(e2e, float((np.abs(y - e) / np.maximum(1.0, np.abs(e))).max()))
    res["e2e_err"] = e2e
    res["bytes"] = os.path.getsize(mpath) + os.path.getsize(fpath)
    assert res["ref_err"] < 1e-5, f"{name}: reference mismatch {res['ref_err']}"
    assert res["prep_err"] < 1e-4 and res["e2e_err"] < 1e-4, f"{name}: preprocessing/end-to-end mismatch {res}"
    return res


def main(argv):
    warnings.filterwarnings("ignore")
    import logging
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    import torch
    torch.set_num_threads(1)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.use_deterministic_algorithms(True)
    if tft_reference is None:
        print("tft_reference.py not found (expected in shared/design)", file=sys.stderr)
        return 1
    cs = configs()
    if argv:
        cs = [c for c in cs if c["name"] in argv]
    results = []
    for c in cs:
        print(f"== {c['name']}", flush=True)
        r = run_config(c)
        print("   " + json.dumps(r), flush=True)
        results.append(r)
    cols = ["name", "B", "Te", "Td", "params", "ref_err", "ref_attn_err", "ref_vsn_err", "denorm_rel_err",
            "predict_vs_forward", "prep_err", "e2e_err", "bytes", "train_s"]
    print()
    print(" | ".join(cols))
    for r in results:
        print(" | ".join(f"{r[k]:.2e}" if isinstance(r[k], float) and k.endswith(("err", "forward"))
                         else str(r[k]) for k in cols))
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print(f"goldens total: {total / 2 ** 20:.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
