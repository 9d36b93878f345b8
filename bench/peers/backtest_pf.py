#!/usr/bin/env python3
"""The same rolling-origin backtest as `tft backtest`, done by pytorch-forecasting itself, timed beside it.

    python3 bench/peers/backtest_pf.py TABLE.csv --every K [--min-history N] [--threads N] [--compare METRICS.csv]

TABLE.csv: the default model's long-format table (weights/make_table.py). The model is pytorch-forecasting's
TemporalFusionTransformer rebuilt from weights/default.safetensors: the training TimeSeriesDataSet of
weights/train_default.py (same synthetic data, same cutoff, so the same fitted encoders and normalizers), the same
hyperparameters, and the exported state_dict (aliases restored). The script first checks that this model reproduces
weights/sample_expected.json (the original checkpoint's predict()), so the peer is the very model tft serves.

Windows: for each series of n rows, the first forecast rows h1 = n - H, n - H - K, ... >= --min-history (H = 96),
exactly tft backtest's origins. pytorch-forecasting builds every stride-1 sample of the table
(TimeSeriesDataSet.from_dataset(..., predict=False)) and keeps those whose first prediction is an origin
(.filter), then predict(mode="quantiles", return_x=True) gives the quantiles and the actuals. Metrics as tft's
(engine/cli/backtest.h): quantile loss = mean pinball loss over windows, steps and quantiles; coverage of each
quantile; MAE of the median. Timed: reading the CSV, building and filtering the dataset, predict, the metrics
(the model build is not timed, as tft's model load is not).

--compare METRICS.csv: tft backtest's -o output; prints both '(all)' rows and their largest relative difference.
Needs weights/requirements.txt (torch, pytorch-forecasting)."""
import argparse
import json
import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "weights"))


def build_model():
    """pytorch-forecasting's TFT with the weights of weights/default.safetensors."""
    import torch
    from safetensors import safe_open
    from pytorch_forecasting import TemporalFusionTransformer
    from pytorch_forecasting.metrics import MultiLoss, QuantileLoss
    import train_default as td

    df = td.make_data()
    n = df.time_idx.max() + 1
    training = td.make_dataset(df, n - 1 - 96 * 3)   # train_default.py's cutoff
    model = TemporalFusionTransformer.from_dataset(
        training, hidden_size=32, attention_head_size=4, lstm_layers=1, dropout=0.1, hidden_continuous_size=16,
        loss=MultiLoss([QuantileLoss(), QuantileLoss()]), log_interval=-1)
    path = os.path.join(ROOT, "weights", "default.safetensors")
    with safe_open(path, "pt") as f:
        cfg = json.loads(f.metadata()["config"])
        sd = {k: f.get_tensor(k) for k in f.keys()}
    for alias, canonical in cfg.get("aliases", {}).items():
        sd[alias] = sd[canonical]
    model.load_state_dict(sd, strict=True)
    model.eval()
    # the rebuilt model must be the exported one: the original checkpoint's predict() on the sample rows
    expected = json.load(open(os.path.join(ROOT, "weights", "sample_expected.json")))
    ids = list(next(iter(expected["targets"].values())).keys())
    sub = df[df.server.isin(ids)].groupby("server").tail(288 + 96)
    p = model.predict(sub, mode="quantiles", return_index=True,
                      trainer_kwargs=dict(accelerator="cpu", logger=False, enable_progress_bar=False))
    order = [str(s) for s in p.index["server"]]
    worst = 0.0
    for j, t in enumerate(cfg["dataset"]["target"]):
        for sid in ids:
            got = p.output[j][order.index(sid)].numpy()
            want = torch.tensor(expected["targets"][t][sid]).numpy()
            worst = max(worst, float((abs(got - want) / (abs(want) + 1e-3)).max()))
    if worst > 1e-4:
        sys.exit(f"the rebuilt model does not reproduce sample_expected.json (max rel err {worst:.3g})")
    print(f"model: rebuilt from default.safetensors, reproduces sample_expected.json (max rel err {worst:.2g})",
          file=sys.stderr)
    return model, training, cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("table")
    ap.add_argument("--every", type=int, required=True)
    ap.add_argument("--min-history", type=int, default=288)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--compare", help="tft backtest -o METRICS.csv")
    ap.add_argument("--write-metrics", help="write pytorch-forecasting's metrics in tft backtest's -o format "
                                            "(per series and target, then '(all)'): tests/data/backtest_small_pf.csv")
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    import numpy as np
    import pandas as pd
    import torch
    from pytorch_forecasting import TimeSeriesDataSet
    torch.set_num_threads(a.threads)
    model, training, cfg = build_model()
    H = cfg["dataset"]["max_prediction_length"]
    quantiles = np.array(cfg["model"]["quantiles"])
    targets = cfg["dataset"]["target"]
    med = int(np.argmin(abs(quantiles - 0.5)))

    t0 = time.perf_counter()
    df = pd.read_csv(a.table, dtype={"server": str, "profile": str, "weekday": str})
    # origins: first forecast row h1 = n - H - k*every >= min_history, per series (rows 0..n-1 from its first time_idx)
    first = df.groupby("server").time_idx.agg(["min", "count"])
    # and the encoder length tft uses there: min(max_encoder_length, h1) (pytorch-forecasting's stride-1 samples
    # include shorter encoders for the same first prediction too)
    Te = cfg["dataset"]["max_encoder_length"]
    origins = {}
    for sid, (t_first, n) in first.iterrows():
        h1 = n - H
        while h1 >= a.min_history:
            origins[(sid, int(t_first + h1))] = min(Te, h1)
            h1 -= a.every
    ds = TimeSeriesDataSet.from_dataset(training, df, stop_randomization=True, predict=False)
    ds = ds.filter(lambda x: pd.Series([origins.get((s, t)) == t - f for s, t, f in zip(
        x.server, x.time_idx_first_prediction, x.time_idx_first)], index=x.index))
    t1 = time.perf_counter()
    dl = ds.to_dataloader(train=False, batch_size=a.batch_size, num_workers=0)
    p = model.predict(dl, mode="quantiles", return_x=True, return_index=True,
                      trainer_kwargs=dict(accelerator="cpu", logger=False, enable_progress_bar=False))
    t2 = time.perf_counter()
    rows = {}
    n_windows = p.output[0].shape[0]
    for j, t in enumerate(targets):
        q = p.output[j].numpy().astype(np.float64)                     # [N, H, Q]
        y = p.x["decoder_target"][j].numpy().astype(np.float64)[..., None]  # [N, H, 1]
        e = y - q
        pin = np.maximum(quantiles * e, (quantiles - 1) * e)
        rows[t] = [n_windows, y.size, pin.mean(), np.abs(e[..., med]).mean()] + list((y <= q).mean(axis=(0, 1)))
    t3 = time.perf_counter()
    if a.write_metrics:
        servers = np.array([str(x) for x in p.index["server"]])
        with open(a.write_metrics, "w") as f:
            f.write("server,target,windows,points,quantile_loss,mae," +
                    ",".join(f"coverage_q{q:g}" for q in quantiles) + "\n")
            groups = [(sid, servers == sid) for sid in sorted(set(servers))] + [("(all)", servers == servers)]
            rows_out = {sid: [] for sid, _ in groups}
            for j, t in enumerate(targets):
                q = p.output[j].numpy().astype(np.float64)
                y = p.x["decoder_target"][j].numpy().astype(np.float64)[..., None]
                for sid, m in groups:
                    e = y[m] - q[m]
                    pin = np.maximum(quantiles * e, (quantiles - 1) * e).mean()
                    cov = (y[m] <= q[m]).mean(axis=(0, 1))
                    rows_out[sid].append(f"{sid},{t},{int(m.sum())},{y[m].size},{pin:.9g},"
                                         f"{np.abs(e[..., med]).mean():.9g}," + ",".join(f"{c:.9g}" for c in cov))
            order = [sid for sid, _ in groups[:-1]]
            for sid in order:
                f.write("\n".join(rows_out[sid]) + "\n")
            f.write("\n".join(rows_out["(all)"]) + "\n")
    print(f"pytorch-forecasting {__import__('pytorch_forecasting').__version__} (torch {torch.__version__}, "
          f"{a.threads} threads): {n_windows} windows, {t3 - t0:.2f} s "
          f"(read + dataset {t1 - t0:.2f} s, predict {t2 - t1:.2f} s, metrics {t3 - t2:.3f} s), "
          f"{n_windows / (t3 - t0):.1f} windows/s")
    cols = ["windows", "points", "quantile_loss", "mae"] + [f"coverage_q{q:g}" for q in quantiles]
    print("pf  (all): " + "; ".join(f"{t}: " + " ".join(f"{c}={v:.6g}" for c, v in zip(cols, r)) for t, r in rows.items()))
    if a.compare:
        ours = pd.read_csv(a.compare)
        ours = ours[ours.iloc[:, 0] == "(all)"].set_index("target")
        worst = 0.0
        for t, r in rows.items():
            o = ours.loc[t, cols].to_numpy(dtype=np.float64)
            print(f"tft (all): {t}: " + " ".join(f"{c}={v:.6g}" for c, v in zip(cols, o)))
            worst = max(worst, float(np.max(np.abs(o - np.array(r)) / (np.abs(np.array(r)) + 1e-9))))
        print(f"largest relative difference tft vs pytorch-forecasting over every metric: {worst:.3g}")


if __name__ == "__main__":
    main()
