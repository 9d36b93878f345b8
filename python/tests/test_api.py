"""The binding itself: model info, errors as TftError (status + the engine's message), the data
paths (zero-copy on a sorted frame, any row order, engine threads, batching, 'by' keys), the GIL
released during the forward, lifetime."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tft
from tft.model import _SeriesFrame
from conftest import DEFAULT_MODEL, REPO, request_to_frame


@pytest.fixture(scope="module")
def model():
    with tft.Model(DEFAULT_MODEL) as m:
        yield m


@pytest.fixture(scope="module")
def sample(model):
    req = json.loads((REPO / "weights" / "sample_request.json").read_text())
    return request_to_frame(req, model.info)


def test_info(model):
    i = model.info
    assert i.targets == ("cpu_pct", "mem_pct")
    assert i.quantiles == pytest.approx((0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98))
    assert i.quantile_columns == ("p2", "p10", "p25", "p50", "p75", "p90", "p98")
    assert (i.max_encoder_length, i.min_encoder_length, i.max_prediction_length) == (288, 144, 96)
    assert i.time_idx == "time_idx" and i.group_ids == ("server",)
    assert i.static_inputs == ("server", "profile")
    assert set(i.history_inputs) == {"weekday", "hour", "cpu_pct", "mem_pct", "disk_io", "net"}
    assert set(i.future_inputs) == {"weekday", "hour"}
    assert i.categorical_inputs == {"server", "profile", "weekday"}
    assert i.n_parameters == 80629 and i.hidden_size == 32 and i.n_heads == 4 and len(i.sha256) == 64
    assert tft.engine_version().startswith("0.1.0")
    assert (Path(tft.__file__).parent / "py.typed").exists()


def test_result_layout(model, sample):
    out = model.predict(sample)
    T, nt = 96, 2
    assert list(out.columns) == ["server", "time_idx", "target", "step"] + list(model.info.quantile_columns)
    assert len(out) == 4 * nt * T
    assert list(out["server"].drop_duplicates()) == list(sample["server"].drop_duplicates())
    first = out[out["server"] == "db-01"]
    assert list(first["time_idx"][:T]) == list(sample[sample["server"] == "db-01"]["time_idx"][-T:])
    assert list(first["target"].astype(str)) == ["cpu_pct"] * T + ["mem_pct"] * T
    assert list(first["step"]) == list(range(1, T + 1)) * nt


def test_sorted_frame_is_not_copied(model, sample):
    """A frame grouped by series and in time order, with float64 reals: the engine reads the
    DataFrame's own column memory (no copy); a shuffled one is gathered once per column."""
    frame = _SeriesFrame(sample, model.info, 96)
    assert frame.order is None
    for name in ("cpu_pct", "hour", "net"):
        col = sample[name].to_numpy()
        assert any(isinstance(b, np.ndarray) and np.shares_memory(b, col) for b in frame._keep), name
    shuffled = _SeriesFrame(sample.sample(frac=1.0, random_state=1), model.info, 96)
    assert shuffled.order is not None


def test_threads_and_batch_size_are_bitwise_the_same(model, sample):
    q = list(model.info.quantile_columns)
    base = model.predict(sample)[q].to_numpy()
    assert np.array_equal(model.predict(sample, threads=2)[q].to_numpy(), base)
    assert np.array_equal(model.predict(sample, batch_size=1)[q].to_numpy(), base)
    assert np.array_equal(model.predict(sample, batch_size=3, threads=3)[q].to_numpy(), base)


def test_by_keys_tell_series_apart(model, sample):
    """Two copies of one server's rows under different 'by' keys are two series (the same forecast)."""
    one = sample[sample["server"] == "web-02"] if "web-02" in set(sample["server"]) else sample[sample["server"] == sample["server"].iloc[0]]
    two = pd.concat([one.assign(run=1), one.assign(run=2)], ignore_index=True)
    out = model.predict(two, by=["run"])
    assert list(out.columns[:2]) == ["run", "server"]
    q = list(model.info.quantile_columns)
    a, b = out[out.run == 1][q].to_numpy(), out[out.run == 2][q].to_numpy()
    assert len(a) == 2 * 96 and np.array_equal(a, b)
    with pytest.raises(tft.TftError) as e:
        model.predict(two)  # without 'by', 2 x 384 rows of one server: time_idx repeats
    assert e.value.status == tft.Status.ERR_TIME_INDEX


def test_from_bytes_equals_from_path(model, sample):
    with tft.Model.from_bytes(DEFAULT_MODEL.read_bytes()) as m2:
        q = list(model.info.quantile_columns)
        assert m2.info == model.info
        assert np.array_equal(m2.predict(sample)[q].to_numpy(), model.predict(sample)[q].to_numpy())


def test_categorical_dtype_and_empty_frame(model, sample):
    cat = sample.astype({"weekday": "category", "profile": "category"})
    q = list(model.info.quantile_columns)
    assert np.array_equal(model.predict(cat)[q].to_numpy(), model.predict(sample)[q].to_numpy())
    empty = model.predict(sample.iloc[:0])
    assert len(empty) == 0 and list(empty.columns) == list(model.predict(sample).columns)


# --- errors ------------------------------------------------------------------------------------


def raises(status, fn, *args, **kw) -> tft.TftError:
    with pytest.raises(tft.TftError) as e:
        fn(*args, **kw)
    err = e.value
    assert err.status == status, f"{err.status_name}: {err.message}"
    assert err.status_name == tft.Status(status).c_name and str(err).startswith(err.status_name + ": ")
    assert err.message
    return err


def test_engine_errors_carry_status_and_message(model, sample):
    e = raises(tft.Status.ERR_UNKNOWN_VAR, model.predict, sample.drop(columns=["net"]))
    assert "net" in e.message  # the engine's own text, verbatim
    bad = sample.copy()
    bad.loc[bad["server"] == bad["server"].iloc[0], "profile"] = "mainframe"
    raises(tft.Status.ERR_CATEGORY, model.predict, bad)
    bad = sample.copy()
    bad.loc[bad.index[10], "cpu_pct"] = np.nan
    raises(tft.Status.ERR_NONFINITE, model.predict, bad)
    bad = sample.copy()
    bad.loc[bad["server"] == bad["server"].iloc[0], "time_idx"] += np.r_[np.zeros(200, int), np.ones(184, int)]
    raises(tft.Status.ERR_TIME_INDEX, model.predict, bad)
    raises(tft.Status.ERR_SHAPE, model.predict, sample, horizon=97)
    # too little history for min_encoder_length (the engine's check)
    short = sample.groupby("server", sort=False).tail(96 + 100)
    raises(tft.Status.ERR_SHAPE, model.predict, short)
    raises(tft.Status.ERR_SHAPE, model.check, short)
    model.check(sample)  # a good frame passes


def test_engine_errors_carry_structured_detail(model, sample):
    # the detail comes from tft_last_error_detail(), not from the message: code, series, field, index
    short = sample.groupby("server", sort=False).tail(96 + 100)
    e = raises(tft.Status.ERR_SHAPE, model.check, short)
    assert e.code == "history_too_short" and e.series == 0 and e.field == "history", vars(e)
    bad = sample.copy()
    second = bad["server"].unique()[1]
    rows = bad.index[bad["server"] == second]
    bad.loc[rows[10], "cpu_pct"] = np.inf
    e = raises(tft.Status.ERR_NONFINITE, model.predict, bad)
    assert e.code == "non_finite_input" and e.series == 1 and e.series_id is not None, vars(e)
    assert e.field is not None and "cpu_pct" in e.field and e.index == 10, vars(e)
    bad = sample.copy()
    bad.loc[bad["server"] == second, "profile"] = "mainframe"
    e = raises(tft.Status.ERR_CATEGORY, model.predict, bad)
    assert e.code == "unknown_category" and e.series == 1 and e.field is not None and "profile" in e.field, vars(e)


def test_binding_errors(model, sample):
    e = raises(tft.Status.ERR_UNKNOWN_VAR, model.predict, sample.drop(columns=["server"]))
    assert e.field == "server"
    raises(tft.Status.ERR_TIME_INDEX, model.predict, sample.astype({"time_idx": float}))
    raises(tft.Status.ERR_INVALID_ARG, model.predict, sample.astype({"hour": str}))
    e = raises(tft.Status.ERR_SHAPE, model.predict, sample.groupby("server", sort=False).tail(50))
    assert e.series == 0 and e.series_id == sample["server"].iloc[0]
    raises(tft.Status.ERR_INVALID_ARG, model.predict, sample, threads=0)


def test_load_errors(tmp_path):
    raises(tft.Status.ERR_IO, tft.Model, tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}              ")
    raises(tft.Status.ERR_FORMAT, tft.Model, bad)


def test_closed_model(sample):
    m = tft.Model(DEFAULT_MODEL)
    m.predict(sample.iloc[: 384 * 2])
    m.close()
    m.close()  # idempotent
    raises(tft.Status.ERR_INVALID_ARG, m.predict, sample)


def test_predict_net_shape_errors(model):
    B, Te, Td, Nr, Nc = 2, 288, 96, len(model.info.reals), len(model.info.cats)
    ok = dict(encoder_cat=np.zeros((B, Te, Nc), np.int32), encoder_cont=np.zeros((B, Te, Nr), np.float32),
              decoder_cat=np.zeros((B, Td, Nc), np.int32), decoder_cont=np.zeros((B, Td, Nr), np.float32),
              encoder_lengths=np.full(B, Te), decoder_lengths=np.full(B, Td),
              target_scale=np.tile(np.array([0.0, 1.0], np.float32), (B, 2, 1)))
    out = model.predict_net(**ok)
    assert out.prediction.shape == (B, 2, Td, 7) and out.encoder_attention is None
    e = raises(tft.Status.ERR_SHAPE, model.predict_net, **{**ok, "decoder_cont": np.zeros((B, Td, Nr + 1), np.float32)})
    assert e.field == "decoder_cont"
    # the engine's own check: max(encoder_lengths) must equal the encoder extent
    raises(tft.Status.ERR_SHAPE, model.predict_net, **{**ok, "encoder_lengths": np.full(B, Te - 1)})


# --- the GIL -------------------------------------------------------------------------------------


def test_gil_is_released_during_the_forward(model):
    """While one thread is inside a long engine call (predict_net on 128 series: one C call), another
    keeps running Python: the longest pause the main thread sees is far below the call's duration
    (with the GIL held it would be the whole call)."""
    B, Te, Td, Nr, Nc = 128, 288, 96, len(model.info.reals), len(model.info.cats)
    args = dict(encoder_cat=np.zeros((B, Te, Nc), np.int32), encoder_cont=np.zeros((B, Te, Nr), np.float32),
                decoder_cat=np.zeros((B, Td, Nc), np.int32), decoder_cont=np.zeros((B, Td, Nr), np.float32),
                encoder_lengths=np.full(B, Te), decoder_lengths=np.full(B, Td),
                target_scale=np.tile(np.array([0.0, 1.0], np.float32), (B, 2, 1)))
    durations = []

    def work():
        model.predict_net(**{k: v[:1] for k, v in args.items()})  # this thread's context, first pages
        t0 = time.perf_counter()
        model.predict_net(**args)
        durations.append(time.perf_counter() - t0)

    th = threading.Thread(target=work)
    last, longest = time.perf_counter(), 0.0
    th.start()
    while th.is_alive():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
    th.join()
    assert durations and durations[0] > 0.05, durations
    assert longest < 0.5 * durations[0], f"main thread paused {longest:.3f} s during a {durations[0]:.3f} s forward"


def test_one_context_per_batch_size(sample):
    """Calls with different series counts share this thread's one context for the batch size (a
    context per count would pile up workspaces: Spark's batches hold varying numbers of series)."""
    with tft.Model(DEFAULT_MODEL) as m:
        for k in (1, 2, 3, 4):
            m.predict(sample.iloc[: 384 * k])
        assert len(m._all_contexts) == 1
        m.predict(sample, batch_size=2)
        assert len(m._all_contexts) == 2
