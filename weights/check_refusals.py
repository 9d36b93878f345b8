#!/usr/bin/env python3
"""Checks that export.py refuses what it cannot export faithfully (and accepts a plain model).

    python weights/check_refusals.py        # ~30 s, CPU; exit status 0 when every case behaves
"""
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export  # noqa: E402


def data():
    rng = np.random.default_rng(0)
    rows = []
    for g in range(4):
        for t in range(40):
            rows.append(dict(series=f"s{g}", time_idx=t, y=float(5 + g + np.sin(t / 3) + rng.normal() * .1),
                             y2=float(3 + np.cos(t / 4) + rng.normal() * .1), x=float(np.cos(t / 5)),
                             c=str(t % 3)))
    return pd.DataFrame(rows)


def build(ds_kw=None, model_kw=None):
    from pytorch_forecasting import TemporalFusionTransformer, TimeSeriesDataSet
    kw = dict(time_idx="time_idx", target="y", group_ids=["series"], max_encoder_length=8, max_prediction_length=3,
              static_categoricals=["series"], time_varying_known_reals=["x"], time_varying_unknown_reals=["y"])
    kw.update(ds_kw or {})
    ds = TimeSeriesDataSet(data(), **kw)
    mk = dict(hidden_size=8, attention_head_size=2, hidden_continuous_size=4)
    mk.update(model_kw or {})
    return TemporalFusionTransformer.from_dataset(ds, **mk)


def main():
    warnings.filterwarnings("ignore")
    import torch
    from pytorch_forecasting.data import EncoderNormalizer, GroupNormalizer, MultiNormalizer, NaNLabelEncoder
    from pytorch_forecasting.metrics import MAE, MultiLoss, NormalDistributionLoss, QuantileLoss
    torch.manual_seed(0)
    cases = [
        ("plain model", None, {}, {}),
        ("distribution loss", "QuantileLoss", {"target_normalizer": GroupNormalizer(groups=["series"])},
         {"loss": NormalDistributionLoss()}),
        ("point loss", "QuantileLoss", {}, {"loss": MAE()}),
        ("lags (exported since lag support)", None, {"lags": {"y": [1, 3], "x": [2]},
                                                     "target_normalizer": GroupNormalizer(groups=["series"]),
                                                     "scalers": {"x": GroupNormalizer(groups=["series"])}}, {}),
        # the library cannot build these (listed so that a future version that can is noticed):
        ("lag of a variable_groups variable", "variable_groups",
         {"time_varying_known_categoricals": ["cg"], "variable_groups": {"cg": ["c"]}, "lags": {"cg": [1]}}, {}),
        ("lag of a StandardScaler real", None, {"lags": {"x": [2]}}, {}),
        ("custom transformation", "custom transformation",
         {"target_normalizer": GroupNormalizer(groups=["series"], transformation=dict(
             forward=torch.log1p, reverse=torch.expm1))}, {}),
        ("unequal quantile lists", "quantile",
         {"target": ["y", "y2"], "time_varying_unknown_reals": ["y", "y2"],
          "target_normalizer": MultiNormalizer([GroupNormalizer(groups=["series"]), GroupNormalizer(groups=["series"])])},
         {"loss": MultiLoss([QuantileLoss([0.1, 0.5, 0.9]), QuantileLoss()])}),
        ("categorical target", "categorical",
         {"target": "c", "time_varying_unknown_reals": [], "time_varying_unknown_categoricals": ["c"],
          "target_normalizer": NaNLabelEncoder()}, {"loss": QuantileLoss()}),
        ("scale_by_group", "scale_by_group",
         {"target_normalizer": GroupNormalizer(groups=["series"], scale_by_group=True)}, {}),
        # EncoderNormalizer's fits are exported (check_export_normalizers.py: the malformed forms, without torch)
        ("EncoderNormalizer(method='robust')", None, {"target_normalizer": EncoderNormalizer(method="robust")}, {}),
        ("EncoderNormalizer(max_length=[4, 8])", None, {"target_normalizer": EncoderNormalizer(max_length=[4, 8])}, {}),
        ("EncoderNormalizer(max_length=6)", None, {"target_normalizer": EncoderNormalizer(max_length=6)}, {}),
    ]
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "m.safetensors")
        for name, expect, dkw, mkw in cases:
            try:
                model = build(dkw, mkw)
            except Exception as e:  # noqa: BLE001
                print(f"[skip] {name}: the library itself cannot build it ({type(e).__name__}: {str(e).splitlines()[0]})")
                continue
            try:
                export.export_model(model, out)
                ok = expect is None
                msg = "exported"
            except export.ExportError as e:
                ok = expect is not None and expect.lower() in str(e).lower()
                msg = f"refused: {e}"
            bad += not ok
            print(f"[{'ok' if ok else 'FAIL'}] {name}: {msg}")
        # lags the library refuses to build, written into an otherwise valid model's dataset_parameters
        for name, lags, expect in [("lag of a variable_groups variable (parameters edited)", {"cg": [1]}, "variable_groups"),
                                   ("lag of a group member (parameters edited)", {"c": [1]}, "variable_groups"),
                                   ("lag of relative_time_idx (parameters edited)", {"relative_time_idx": [1]}, "derived"),
                                   ("non-positive lag (parameters edited)", {"x": [0]}, "positive")]:
            model = build({"time_varying_known_categoricals": ["cg"], "variable_groups": {"cg": ["c"]},
                           "add_relative_time_idx": True})
            model.dataset_parameters = dict(model.dataset_parameters, lags=lags)
            try:
                export.export_model(model, out)
                ok, msg = False, "exported"
            except export.ExportError as e:
                ok, msg = expect in str(e), f"refused: {e}"
            bad += not ok
            print(f"[{'ok' if ok else 'FAIL'}] {name}: {msg}")
        # state_dict contents the format does not know
        for name, mutate, expect in [
                ("unknown state_dict key", lambda m: m.register_buffer("extra_thing", torch.zeros(2)), "not known"),
                ("float64 parameters", lambda m: m.double(), "not float32")]:
            model = build()
            mutate(model)
            try:
                export.export_model(model, out)
                ok, msg = False, "exported"
            except export.ExportError as e:
                ok, msg = expect in str(e), f"refused: {e}"
            bad += not ok
            print(f"[{'ok' if ok else 'FAIL'}] {name}: {msg}")
        # the CLI: exit status 2 and a one-line message on a refused checkpoint
        import lightning.pytorch as pl
        model = build({"target_normalizer": GroupNormalizer(groups=["series"], scale_by_group=True)})
        tr = pl.Trainer(max_epochs=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
        tr.strategy.connect(model)
        ck = os.path.join(tmp, "refused.ckpt")
        tr.save_checkpoint(ck)
        p = subprocess.run([sys.executable, os.path.join(HERE, "export.py"), ck, out], capture_output=True, text=True)
        lines = [l for l in p.stderr.splitlines() if l.startswith("export.py:")]
        ok = p.returncode == 2 and len(lines) == 1
        bad += not ok
        print(f"[{'ok' if ok else 'FAIL'}] CLI refusal: rc={p.returncode} {lines}")
    print("all refusal checks passed" if not bad else f"{bad} refusal check(s) FAILED")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
