#!/usr/bin/env python3
"""Spark benchmark of tft.spark: N synthetic series of the bundled default model forecast on a Spark
cluster (local[2] by default), beside the single-process Python figure (Model.predict) of the same
run, with the peak memory of the Spark JVM and of each Python worker. Run by hand (not in CI):

    pip install './python[spark]'
    python3 bench/spark_bench.py --series 1000000           # 10 jobs of 100,000 series
    python3 bench/spark_bench.py --series 20000 --chunk 20000 --shuffle   # the repartition + sort path

Each series is 288 history + 96 future rows (the default model's encoder and horizon) of server
metrics: 384 rows x 10 columns, generated inside Spark (range + explode, so a series' rows are
contiguous and in time order within one partition and `clustered=True` applies; --shuffle forces the
repartition + sort that an arbitrary DataFrame needs). Series are told apart by a `uid` column
(`by=["uid"]`): the model's group id `server` has 60 known labels, cycled. The output (2 targets x 96
steps x 7 quantiles per series) is counted and summed, not collected. The series run as jobs of
--chunk series each (uid ranges; the Python workers and their loaded model persist across jobs), so a
run reports as it goes. Besides wall-clock series/s, every figure comes with the CPU seconds the
work used (the Spark JVM + Python workers, from /proc; the single process: its own), i.e. series per
CPU-second, which does not depend on what else the machine runs. Prints key=value lines.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
MODEL = str(REPO / "weights" / "default.safetensors")
HISTORY, HORIZON = 288, 96
ROWS = HISTORY + HORIZON
PROFILE_OF_PREFIX = {"db": "database", "web": "web", "ml": "ml-compute", "etl": "etl", "cache": "cache"}


def server_labels() -> list:
    """The default model's known `server` labels (its categorical encoder, weights/FORMAT.md)."""
    with open(MODEL, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        config = json.loads(json.loads(f.read(n))["__metadata__"]["config"])
    enc = config["dataset"]["categorical_encoders"]["server"]
    return [c for c in enc["classes"] if not (enc["add_nan"] and c == "nan")]


def pandas_frame(n_series: int, labels: list) -> pd.DataFrame:
    """The same synthetic rows as spark_frame, in pandas (for the single-process figure)."""
    uid = np.repeat(np.arange(n_series, dtype=np.int64), ROWS)
    r = np.tile(np.arange(ROWS, dtype=np.int64), n_series)
    hour = ((r * 5) % 1440) / 60.0
    phase = (uid % 97) / 97.0 * 6.283
    wave = np.sin(2 * np.pi * hour / 24 + phase)
    noise = np.cos(r * 0.37 + uid)  # deterministic "noise"
    fut = r >= HISTORY
    lab = np.array(labels, dtype=object)[uid % len(labels)]
    prof = np.array([PROFILE_OF_PREFIX[s.split("-")[0]] for s in labels], dtype=object)[uid % len(labels)]
    df = pd.DataFrame({
        "uid": uid, "server": lab, "profile": prof, "time_idx": r,
        "hour": hour, "weekday": ((r * 5 // 1440) % 7).astype(str).astype(object),
        "cpu_pct": np.where(fut, np.nan, 35 + 20 * wave + 3 * noise),
        "mem_pct": np.where(fut, np.nan, 60 + 8 * wave + noise),
        "disk_io": np.where(fut, np.nan, 40 + 30 * (wave + 1) + 5 * noise),
        "net": np.where(fut, np.nan, 50 + 40 * (wave + 1) + 5 * noise),
    })
    return df


def spark_frame(spark, n_series: int, labels: list, partitions: int, first_uid: int = 0):
    from pyspark.sql import functions as F

    lab = F.array(*[F.lit(s) for s in labels])
    prof = F.array(*[F.lit(PROFILE_OF_PREFIX[s.split("-")[0]]) for s in labels])
    k = (F.col("uid") % len(labels)).cast("int") + 1
    hour = ((F.col("time_idx") * 5) % 1440) / 60.0
    wave = F.sin(2 * np.pi * hour / 24 + (F.col("uid") % 97) / 97.0 * 6.283)
    noise = F.cos(F.col("time_idx") * 0.37 + F.col("uid"))
    fut = F.col("time_idx") >= HISTORY

    def hist(e):
        return F.when(fut, F.lit(None).cast("double")).otherwise(e)

    return (spark.range(first_uid, first_uid + n_series, numPartitions=partitions).withColumnRenamed("id", "uid")
            .select("uid", F.explode(F.sequence(F.lit(0), F.lit(ROWS - 1))).alias("time_idx"))
            .select("uid", F.element_at(lab, k).alias("server"), F.element_at(prof, k).alias("profile"),
                    F.col("time_idx").cast("long").alias("time_idx"), hour.alias("hour"),
                    ((F.col("time_idx") * 5 / 1440).cast("long") % 7).cast("string").alias("weekday"),
                    hist(35 + 20 * wave + 3 * noise).alias("cpu_pct"), hist(60 + 8 * wave + noise).alias("mem_pct"),
                    hist(40 + 30 * (wave + 1) + 5 * noise).alias("disk_io"),
                    hist(50 + 40 * (wave + 1) + 5 * noise).alias("net")))


class MemoryWatch(threading.Thread):
    """Peak RSS and CPU time of this process's descendants by kind (the Spark JVM; the Python
    workers), from /proc, sampled every 0.5 s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak: dict = {}          # pid -> (kind, peak rss bytes)
        self.cpu: dict = {}           # pid -> last utime + stime seen, seconds
        self.stop = threading.Event()

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the JVM and the Python workers (a process that exited counts
        what it had used at its last sample)."""
        return sum(self.cpu.values())

    def run(self) -> None:
        me = os.getpid()
        page = os.sysconf("SC_PAGE_SIZE")
        ticks = os.sysconf("SC_CLK_TCK")
        while not self.stop.is_set():
            parents = {}
            for p in os.listdir("/proc"):
                if p.isdigit():
                    try:
                        with open(f"/proc/{p}/stat") as f:
                            parents[int(p)] = int(f.read().rsplit(")", 1)[1].split()[1])
                    except (OSError, IndexError, ValueError):
                        pass
            for pid in parents:
                a, seen = pid, 0
                while a in parents and a != me and seen < 64:
                    a, seen = parents[a], seen + 1
                if a != me or pid == me:
                    continue
                try:
                    cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
                    rss = int(open(f"/proc/{pid}/statm").read().split()[1]) * page
                    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
                except (OSError, ValueError, IndexError):
                    continue
                kind = "jvm" if "java" in cmd.split(" ")[0] else "python_worker" if "pyspark" in cmd else None
                if kind:
                    old = self.peak.get(pid, (kind, 0))[1]
                    self.peak[pid] = (kind, max(old, rss))
                    self.cpu[pid] = cpu
            self.stop.wait(0.5)

    def summary(self) -> dict:
        out = {}
        for kind in ("jvm", "python_worker"):
            peaks = [v for k, v in self.peak.values() if k == kind]
            if peaks:
                out[f"{kind}_processes"] = len(peaks)
                out[f"{kind}_peak_rss_mib_max"] = round(max(peaks) / 2**20, 1)
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=100_000, help="series per Spark job")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--partitions", type=int, default=0, help="partitions per job (default: 2 x cores of the master)")
    ap.add_argument("--shuffle", action="store_true", help="repartition + sort (clustered=False)")
    ap.add_argument("--python-series", type=int, default=4000, help="series of the single-process figure")
    ap.add_argument("--driver-memory", default="4g")
    args = ap.parse_args()

    import tft
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from tft.spark import forecast

    labels = server_labels()
    print(f"engine={tft.engine_version()!r} cores={os.cpu_count()} series={args.series} master={args.master} "
          f"load_average={os.getloadavg()[0]:.1f}", flush=True)

    # single process, same run: Model.predict on a pandas frame of the same rows
    model = tft.Model(MODEL)
    pdf = pandas_frame(args.python_series, labels)
    for threads in (1, 2):
        model.predict(pdf.iloc[: ROWS * 64], by=["uid"], threads=threads)  # warm-up (context, pages)
        t0, c0 = time.perf_counter(), time.process_time()
        out = model.predict(pdf, by=["uid"], threads=threads)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert len(out) == args.python_series * 2 * HORIZON
        print(f"python_single_process threads={threads} series={args.python_series} seconds={dt:.2f} "
              f"series_per_s={args.python_series / dt:.0f} cpu_seconds={cpu:.2f} "
              f"series_per_cpu_s={args.python_series / cpu:.0f}", flush=True)
    model.close()
    del pdf, out

    cores = int(args.master[len("local["):-1]) if args.master.startswith("local[") and args.master[-2].isdigit() else 2
    partitions = args.partitions or 2 * cores
    spark = (SparkSession.builder.master(args.master).appName("tft-spark-bench")
             .config("spark.driver.memory", args.driver_memory).config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", str(partitions))
             .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    watch = MemoryWatch()
    watch.start()
    path = "shuffle" if args.shuffle else "clustered"
    done, total_s, total_cpu = 0, 0.0, 0.0
    while done < args.series:
        n = min(args.chunk, args.series - done)
        sdf = spark_frame(spark, n, labels, partitions, first_uid=done)
        out = forecast(sdf, MODEL, by=["uid"], clustered=not args.shuffle)
        cpu0, t0 = watch.cpu_seconds(), time.perf_counter()
        row = out.agg(F.count(F.lit(1)).alias("rows"), F.sum("p50").alias("sum_median")).collect()[0]
        dt = time.perf_counter() - t0
        time.sleep(0.6)  # one more /proc sample after the job
        cpu = watch.cpu_seconds() - cpu0
        assert row["rows"] == n * 2 * HORIZON, row
        done, total_s, total_cpu = done + n, total_s + dt, total_cpu + cpu
        mem = " ".join(f"{k}={v}" for k, v in watch.summary().items())
        print(f"spark_job master={args.master} partitions={partitions} path={path} series={n} first_uid={done - n} "
              f"rows_in={n * ROWS} rows_out={row['rows']} seconds={dt:.1f} series_per_s={n / dt:.0f} "
              f"cpu_seconds={cpu:.0f} series_per_cpu_s={n / cpu:.0f} sum_median={row['sum_median']:.6g} {mem}",
              flush=True)
    watch.stop.set()
    watch.join()
    mem = " ".join(f"{k}={v}" for k, v in watch.summary().items())
    print(f"spark_total master={args.master} path={path} series={done} seconds={total_s:.1f} "
          f"series_per_s={done / total_s:.0f} cpu_seconds={total_cpu:.0f} series_per_cpu_s={done / total_cpu:.0f} {mem}",
          flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
