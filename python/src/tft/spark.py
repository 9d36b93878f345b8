"""Forecasting a Spark DataFrame with tft: every series' rows go to one Python worker, which runs
Model.predict on them; the model is loaded once per worker process and kept for its later tasks.

    from tft.spark import forecast
    out = forecast(sdf, "/models/default.safetensors")   # a Spark DataFrame, predict()'s columns

Two ways to bring a series' rows together, both standard pandas UDFs:

* ``method="map"`` (default): ``repartition`` by the group ids, ``sortWithinPartitions`` by group and
  time, then ``mapInPandas``. Each Arrow batch (``spark.sql.execution.arrow.maxRecordsPerBatch``
  rows) is forecast as a whole, many series per engine call; the rows of a series that a batch
  boundary cuts are carried into the next batch. With ``clustered=True`` the shuffle and sort are
  skipped: the caller guarantees each series' rows are contiguous and in time order within one
  partition (data written that way, e.g. bucketed and sorted by series).
* ``method="apply"``: ``groupBy(group_ids).applyInPandas``, one pandas frame and one engine call per
  series. Simpler, and a group is never split, but it pays Spark's per-group overhead on every series.

The model file must be readable at the same path on every executor (a shared file system), or
shipped with ``spark.sparkContext.addFile(path)`` and named by ``ship=True``.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import pandas as pd

from .model import Model

_MODELS: Dict[str, Model] = {}
_MODELS_LOCK = threading.Lock()


def model_for(path: str) -> Model:
    """The Model of this process for a file, loaded on first use (so once per executor Python worker,
    which Spark reuses across tasks: spark.python.worker.reuse, on by default)."""
    with _MODELS_LOCK:
        m = _MODELS.get(path)
        if m is None:
            m = _MODELS[path] = Model(path)
        return m


def _resolve(path: str, ship: bool) -> str:
    if not ship:
        return path
    from pyspark import SparkFiles

    return SparkFiles.get(os.path.basename(path))


def output_schema(sdf: Any, model: Model, by: Sequence[str] = ()) -> Any:
    """The Spark schema of forecast()'s result: the key columns (by, then the group ids) and
    time_idx with the input's types, target (string), step (int), one float column per quantile."""
    from pyspark.sql.types import FloatType, IntegerType, StringType, StructField, StructType

    info = model.info
    keys = list(dict.fromkeys([*by, *info.group_ids]))
    fields = [sdf.schema[g] for g in keys] + [sdf.schema[info.time_idx]]
    fields += [StructField("target", StringType(), False), StructField("step", IntegerType(), False)]
    fields += [StructField(q, FloatType(), False) for q in info.quantile_columns]
    return StructType([StructField(f.name, f.dataType, f.nullable) for f in fields])


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """predict()'s frame as Arrow takes it for the schema above (target as strings)."""
    df["target"] = df["target"].astype(str)
    return df


def _predict_batches(batches: Iterator[pd.DataFrame], path: str, ship: bool, keys: List[str], by: List[str],
                     horizon: Optional[int], threads: int, batch_size: int) -> Iterator[pd.DataFrame]:
    """mapInPandas body: batches of rows grouped by series and sorted by time (a series may span two
    or more consecutive batches). Forecasts every complete series of each batch; the last series of
    a batch may continue in the next one, so it is held back and prepended there."""
    model = model_for(_resolve(path, ship))
    carry: Optional[pd.DataFrame] = None
    for pdf in batches:
        if carry is not None:
            pdf = pd.concat([carry, pdf], ignore_index=True)
            carry = None
        if len(pdf) == 0:
            continue
        # the trailing run of rows with the last row's key is the series that may continue
        key = pdf[keys]
        last = key.iloc[-1]
        same = np.ones(len(pdf), bool)
        for g in keys:
            same &= (key[g] == last[g]).to_numpy()
        differ = np.flatnonzero(~same)
        cut = int(differ[-1]) + 1 if len(differ) else 0
        carry = pdf.iloc[cut:]
        if cut:
            yield _plain(model.predict(pdf.iloc[:cut], horizon=horizon, threads=threads, batch_size=batch_size, by=by))
    if carry is not None and len(carry):
        yield _plain(model.predict(carry, horizon=horizon, threads=threads, batch_size=batch_size, by=by))


def forecast(sdf: Any, model_path: str, *, horizon: Optional[int] = None, method: str = "map",
             clustered: bool = False, num_partitions: Optional[int] = None, threads: int = 1,
             batch_size: int = 64, ship: bool = False, by: Sequence[str] = ()) -> Any:
    """Forecasts every series of a long-format Spark DataFrame (the columns Model.predict takes).

    Returns a Spark DataFrame with Model.predict's columns (one row per series, target and step).
    ``num_partitions``: partitions of the shuffle (default: the input's); ``threads``: engine threads
    per Python worker (1 is right when Spark already runs one task per core); ``ship``: the model
    was added with ``sparkContext.addFile(model_path)`` and is read from SparkFiles on executors;
    ``by``: extra columns that, with the group ids, tell series apart (as in Model.predict).
    """
    driver_model = Model(model_path)  # the driver reads the file at its own path (also when shipped)
    info = driver_model.info
    keys, time_idx, by = list(dict.fromkeys([*by, *info.group_ids])), info.time_idx, list(by)
    needed = list(dict.fromkeys(keys + [time_idx] + list(info.static_inputs + info.history_inputs
                                                                  + info.future_inputs)))
    missing = [c for c in (keys + [time_idx]) if c not in sdf.columns]
    if missing:
        from .errors import Status, TftError

        raise TftError(Status.ERR_UNKNOWN_VAR, f"the DataFrame has no column {missing[0]!r}", field=missing[0])
    schema = output_schema(sdf, driver_model, by)
    driver_model.close()
    # only the columns the model reads travel through the shuffle and Arrow
    sdf = sdf.select(*[c for c in needed if c in sdf.columns])
    if method == "apply":
        def per_series(pdf: pd.DataFrame) -> pd.DataFrame:
            m = model_for(_resolve(model_path, ship))
            return _plain(m.predict(pdf, horizon=horizon, threads=threads, batch_size=batch_size, by=by))

        return sdf.groupBy(*keys).applyInPandas(per_series, schema)
    if method != "map":
        raise ValueError(f"method must be 'map' or 'apply', not {method!r}")
    if not clustered:
        n = num_partitions or sdf.rdd.getNumPartitions()
        sdf = sdf.repartition(n, *keys).sortWithinPartitions(*keys, time_idx)

    fn: Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]] = (
        lambda it: _predict_batches(it, model_path, ship, keys, by, horizon, threads, batch_size))
    return sdf.mapInPandas(fn, schema)
