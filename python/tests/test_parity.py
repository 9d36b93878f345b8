"""Parity with pytorch-forecasting, with numpy and pandas only: every golden fixture's raw rows
(weights/goldens/*/fixture.safetensors, made by weights/make_goldens.py with the library itself) as
the long-format DataFrame a user has, through Model.predict, against the library's predict() values
stored in the fixture; and the fixture's network-level tensors through Model.predict_net. Tolerances
are tests/test_golden.c's."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tft
from conftest import DEFAULT_MODEL, GOLDENS, REPO, golden_names, read_safetensors, request_to_frame


def series_bound(want: np.ndarray) -> np.ndarray:
    """test_golden.c's series-level bound: |d| <= 1e-4 |y| + 1e-6 max|y|."""
    return 1e-4 * np.abs(want) + 1e-6 * np.abs(want).max()


def assert_within(got: np.ndarray, want: np.ndarray, bound, what: str) -> None:
    assert got.shape == want.shape, what
    if want.size == 0:
        return
    d = np.abs(got.astype(np.float64) - want)
    worst = np.unravel_index(np.argmax(d - bound), d.shape)
    b = bound if np.isscalar(bound) else np.asarray(bound)[worst]
    assert np.all(d <= bound), f"{what}: |d| = {d[worst]:.3g} at {worst} (got {got[worst]}, want {want[worst]}, bound {b:.3g})"


def quantile_array(out, model: tft.Model, order, horizon: int) -> np.ndarray:
    """predict()'s tidy frame as [B, nt, T, Q] in the fixture's series order."""
    info = model.info
    key = out[list(info.group_ids)].astype(str).agg("/".join, axis=1)
    nt, Q = len(info.targets), len(info.quantiles)
    arrays = []
    for sid in order:
        rows = out[key == sid]
        assert len(rows) == nt * horizon, f"series {sid}: {len(rows)} rows"
        assert list(rows["step"]) == list(range(1, horizon + 1)) * nt
        assert list(rows["target"].astype(str)) == [t for t in info.targets for _ in range(horizon)]
        arrays.append(rows[list(info.quantile_columns)].to_numpy().reshape(nt, horizon, Q))
    return np.stack(arrays)


@pytest.fixture(params=golden_names())
def golden(request):
    name = request.param
    tensors, meta = read_safetensors(GOLDENS / name / "fixture.safetensors")
    with tft.Model(GOLDENS / name / "model.safetensors") as model:
        req = json.loads(meta["request"])
        yield name, model, tensors, req, json.loads(meta["series_order"])


def test_predict_df_equals_library_predict(golden):
    name, model, t, req, order = golden
    df = request_to_frame(req, model.info)
    horizon = req.get("horizon") or model.info.max_prediction_length
    out = model.predict(df, horizon=req.get("horizon"))
    want = t["predict_quantiles"]
    got = quantile_array(out, model, order, horizon)
    assert_within(got, want, series_bound(want), f"{name}: predict(df) quantiles")
    # the future time_idx of each row is the request's
    first = req["series"][0]
    if "time_idx" in first:
        rows = out[out[model.info.group_ids[0]].astype(str) == str(first["static"][model.info.group_ids[0]])]
        assert list(rows["time_idx"][:horizon]) == first["time_idx"][-horizon:]


def test_predict_df_any_row_order(golden):
    """Shuffled rows (the gather path) give bitwise the forecast of the sorted frame."""
    name, model, t, req, order = golden
    df = request_to_frame(req, model.info)
    base = model.predict(df, horizon=req.get("horizon"))
    shuffled = model.predict(df.sample(frac=1.0, random_state=7), horizon=req.get("horizon"))
    q = list(model.info.quantile_columns)
    keys = list(model.info.group_ids) + ["target", "step"]
    a = base.sort_values(keys).reset_index(drop=True)
    b = shuffled.sort_values(keys).reset_index(drop=True)
    assert np.array_equal(a[q].to_numpy(), b[q].to_numpy()), name


def test_predict_df_interpretation(golden):
    """interpret=True: attention and variable weights against the library's (1e-5), on each series'
    valid rows, in tft.h's layout (Temax encoder key slots, then the decoder keys)."""
    name, model, t, req, order = golden
    df = request_to_frame(req, model.info)
    _, it = model.predict(df, horizon=req.get("horizon"), interpret=True)
    key = it.series.astype(str).agg("/".join, axis=1).tolist()
    idx = [key.index(s) for s in order]
    Te = t["encoder_attention"].shape[-1]
    Td = t["decoder_attention"].shape[-1]
    Tm = model.info.max_encoder_length
    el = t["encoder_lengths"]
    assert np.array_equal(it.encoder_lengths[idx], el)
    assert_within(it.attention[idx][..., :Te], t["encoder_attention"], 1e-5, f"{name}: encoder attention")
    assert_within(it.attention[idx][..., Tm : Tm + Td], t["decoder_attention"], 1e-5, f"{name}: decoder attention")
    assert_within(it.static_weights[idx], t["static_variables"], 1e-5, f"{name}: static weights")
    assert_within(it.decoder_weights[idx], t["decoder_variables"], 1e-5, f"{name}: decoder weights")
    for b, n in enumerate(el):
        assert_within(it.encoder_weights[idx[b], :n], t["encoder_variables"][b, :n], 1e-5, f"{name}: encoder weights")


def test_predict_net_equals_library_forward(golden):
    name, model, t, req, order = golden
    out = model.predict_net(t["encoder_cat"], t["encoder_cont"], t["decoder_cat"], t["decoder_cont"],
                            t["encoder_lengths"], t["decoder_lengths"], t["target_scale"], interpret=True)
    y = t["prediction_normalized"]
    assert_within(out.prediction_normalized, y, 2e-5 * (1 + np.abs(y)), f"{name}: prediction_normalized")
    assert_within(out.prediction, t["prediction"], series_bound(t["prediction"]), f"{name}: prediction")
    assert_within(out.encoder_attention, t["encoder_attention"], 1e-5, f"{name}: encoder_attention")
    assert_within(out.decoder_attention, t["decoder_attention"], 1e-5, f"{name}: decoder_attention")
    assert_within(out.static_weights, t["static_variables"], 1e-5, f"{name}: static_variables")
    assert_within(out.encoder_weights, t["encoder_variables"], 1e-5, f"{name}: encoder_variables")
    assert_within(out.decoder_weights, t["decoder_variables"], 1e-5, f"{name}: decoder_variables")
    # two engine threads: bitwise the same
    out2 = model.predict_net(t["encoder_cat"], t["encoder_cont"], t["decoder_cat"], t["decoder_cont"],
                             t["encoder_lengths"], t["decoder_lengths"], t["target_scale"], threads=2)
    assert np.array_equal(out2.prediction, out.prediction)


def test_default_model_sample_equals_library_predict():
    """The bundled model on weights/sample_request.json against the library's predict() on the same
    rows (weights/sample_expected.json), as tests/test_golden.c's default_model."""
    req = json.loads((REPO / "weights" / "sample_request.json").read_text())
    expected = json.loads((REPO / "weights" / "sample_expected.json").read_text())
    with tft.Model(DEFAULT_MODEL) as model:
        out = model.predict(request_to_frame(req, model.info))
        T = model.info.max_prediction_length
        ids = [s["id"] for s in req["series"]]
        got = quantile_array(out, model, ids, T)
        want = np.array([[expected["targets"][tgt][sid] for tgt in model.info.targets] for sid in ids], np.float64)
        assert_within(got, want, series_bound(want), "default model vs predict()")
