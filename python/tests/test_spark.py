"""tft.spark in local mode (local[2]): the Spark result equals Model.predict on the same rows,
bitwise, for both ways of grouping (mapInPandas with a series cut by Arrow batch boundaries, and
applyInPandas), from a shuffled input; and the model is loaded once per Python worker.

Skipped without pyspark, unless TFT_REQUIRE_SPARK=1 (CI sets it, so a missing pyspark fails there)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import tft
from conftest import GOLDENS, read_safetensors, request_to_frame

if os.environ.get("TFT_REQUIRE_SPARK") == "1":
    import pyspark  # noqa: F401  (an ImportError fails the run)
else:
    pytest.importorskip("pyspark")

from pyspark.sql import SparkSession  # noqa: E402

from tft.spark import forecast  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    s = (SparkSession.builder.master("local[2]").appName("tft-test")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "2")
         # 100-row Arrow batches: series (24..200 rows each) are cut by batch boundaries
         .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100")
         .getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


@pytest.mark.parametrize("name", ["lags", "log_lstm2_groups"])  # one and two group-id columns
@pytest.mark.parametrize("method", ["map", "apply"])
def test_spark_equals_model_predict(spark, name, method):
    path = str(GOLDENS / name / "model.safetensors")
    tensors, meta = read_safetensors(GOLDENS / name / "fixture.safetensors")
    req = json.loads(meta["request"])
    with tft.Model(path) as model:
        df = request_to_frame(req, model.info)
        local = model.predict(df, horizon=req.get("horizon"))
        info = model.info
    sdf = spark.createDataFrame(df.sample(frac=1.0, random_state=3), schema=None).repartition(2)
    got = forecast(sdf, path, horizon=req.get("horizon"), method=method).toPandas()
    keys = list(info.group_ids) + ["target", "step"]
    got = got.sort_values(keys).reset_index(drop=True)
    want = local.sort_values(keys).reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for c in list(info.group_ids) + [info.time_idx, "step"]:
        assert list(got[c]) == list(want[c]), c
    assert list(got["target"]) == list(want["target"].astype(str))
    q = list(info.quantile_columns)
    assert np.array_equal(got[q].to_numpy(), want[q].to_numpy())


def test_model_loaded_once_per_worker(spark):
    """Every partition of a job reports the id of the Model object its Python worker used: with
    Python worker reuse (Spark's default), a worker that ran several tasks used one Model."""
    path = str(GOLDENS / "identity_minimal" / "model.safetensors")

    def model_ids(it):
        from tft.spark import model_for
        import os as _os
        for _ in it:
            pass
        yield (_os.getpid(), id(model_for(path)))

    pairs = spark.sparkContext.parallelize(range(16), 8).mapPartitions(model_ids).collect()
    by_pid = {}
    for pid, mid in pairs:
        by_pid.setdefault(pid, set()).add(mid)
    assert len(pairs) == 8
    assert all(len(ids) == 1 for ids in by_pid.values()), by_pid
    assert len(by_pid) < 8, "Python workers were not reused across tasks"


def test_shipped_model_and_clustered_input(spark, tmp_path):
    """ship=True: executors read the model that sparkContext.addFile distributed (SparkFiles.get of
    its name, which fails for a file that was not shipped); clustered=True:
    an input already grouped and time-ordered within one partition is forecast without a shuffle."""
    import shutil

    src = GOLDENS / "identity_minimal" / "model.safetensors"
    shipped = tmp_path / "shipped_identity.safetensors"
    shutil.copy(src, shipped)
    tensors, meta = read_safetensors(GOLDENS / "identity_minimal" / "fixture.safetensors")
    req = json.loads(meta["request"])
    with tft.Model(src) as model:
        df = request_to_frame(req, model.info)
        want = model.predict(df, horizon=req.get("horizon"))
        q = list(model.info.quantile_columns)
    spark.sparkContext.addFile(str(shipped))
    sdf = spark.createDataFrame(df).coalesce(1)  # the frame is grouped and in time order already
    out = forecast(sdf, str(shipped), horizon=req.get("horizon"), clustered=True, ship=True)
    got = out.toPandas()
    assert np.array_equal(got[q].to_numpy(), want[q].to_numpy())
