#!/usr/bin/env python3
"""Tests of bench/device_check.sh and bench/device_summary.py that need no GPU (standard library only).

    python3 bench/test_device_summary.py

* the summary parses bench_forward's and compare.py's lines, writes bench.tsv, and marks issue 9's targets
  met / not met from GPU figures only (not on a CPU dry run, not when the GPU stayed idle);
* device_check.sh on a machine without a GPU: every GPU-only step is NOGPU at once (no hang), an unknown step
  is a FAIL, every step is recorded, SUMMARY.md is written and $OUT holds at most 8 files (what the device
  tool brings back). Skipped where nvidia-smi lists a GPU (there the steps would really run).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARY = os.path.join(HERE, "device_summary.py")
CHECK = os.path.join(HERE, "device_check.sh")


def bench_log(model_line, rows):
    """bench_forward's output: header, model line, one level=series line per (B, p50_us, series_per_s)."""
    out = ["# command: TFT_DEVICE=cuda build/cuda/bench/bench_forward ...",
           "# bench=forward cpu=x cores=16 pus=16 hwloc=0 isa=avx512 blas_core=Haswell", model_line]
    for B, p50, sps in rows:
        out.append(f"level=series threads=1 B={B} reps=100 p50_us={p50} p90_us={p50 * 1.1:.1f} p99_us={p50 * 1.5:.1f} "
                   f"min_us={p50 * 0.9:.1f} series_per_s={sps} arena_mib=1.2 flops_per_series=1 gflops=1.00 "
                   f"roofline_frac=0.0000 roofline_frac_best=0.0000")
    return "\n".join(out) + "\n"


def peers_log(rows):
    """compare.py's impl= lines for (impl, B, p50_ms)."""
    out = ["# compare threads=1 batches=[1, 1024] seconds=0.5", "# device=cuda gpu=NVIDIA H200 tf32_matmul=False"]
    for impl, B, p50 in rows:
        out.append(f"impl={impl} B={B} reps=50 p50_ms={p50:.3f} p99_ms={p50 * 1.2:.3f} min_ms={p50 * 0.9:.3f} "
                   f"series_per_s={B / (p50 * 1e-3):.1f}")
    return "\n".join(out) + "\n"


STEPS = ("step\tstatus\trc\tseconds\tbudget_s\tnote\n"
         "bench_default\tok\t0\t5\t60\t\nbench_electricity\tok\t0\t5\t60\t\npf_default\tok\t0\t30\t120\t\n"
         "pf_electricity\tok\t0\t30\t120\t\n")


class Summary(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tft-devsum-")
        self.out = os.path.join(self.dir, "out")
        self.logs = os.path.join(self.dir, "logs")
        os.makedirs(self.out)
        os.makedirs(self.logs)
        with open(os.path.join(self.out, "steps.tsv"), "w") as f:
            f.write(STEPS)
        # default: B=1 120 us (target <= 150 us: met); electricity: B=1 200 us (not met), B=1024 160,000/s (met)
        self.log("bench_default", bench_log("# model=weights/default.safetensors params=80629 hidden=32 heads=4 "
                                            "lstm_layers=1 encoder=288 horizon=96 targets=2 quantiles=7",
                                            [(1, 120.0, 8333), (1024, 9000.0, 113778)]))
        self.log("bench_electricity", bench_log("# model=weights/goldens/electricity/model.safetensors params=883619 "
                                                "hidden=128 heads=4 lstm_layers=1 encoder=168 horizon=24",
                                                [(1, 200.0, 5000), (1024, 6400.0, 160000)]))
        # pf / tft: default 25x at B=1 (>= 20x: met), 2x at B=1024 (>= 3x: not met); electricity 10x, 4x
        self.log("pf_default", peers_log([("tft", 1, 0.12), ("pf_forward", 1, 3.0), ("tft", 1024, 5.0),
                                          ("pf_forward", 1024, 10.0)]))
        self.log("pf_electricity", peers_log([("tft", 1, 0.2), ("pf_forward", 1, 2.0), ("tft", 1024, 6.0),
                                              ("pf_forward", 1024, 24.0)]))

    def tearDown(self):
        shutil.rmtree(self.dir)

    def log(self, name, text):
        with open(os.path.join(self.logs, name + ".log"), "w") as f:
            f.write(text)

    def summarize(self, device="cuda", gpu="NVIDIA H200"):
        subprocess.run([sys.executable, SUMMARY, "--out", self.out, "--logs", self.logs, "--device", device,
                        "--gpu", gpu, "--budget", "450", "--elapsed", "100"], check=True)
        with open(os.path.join(self.out, "SUMMARY.md")) as f:
            return f.read()

    def target(self, text, start):
        rows = [line for line in text.splitlines() if line.startswith("| " + start)]
        self.assertEqual(len(rows), 1, (start, rows))
        return rows[0]

    def test_marks_from_gpu_figures(self):
        s = self.summarize()
        self.assertIn("**met**", self.target(s, "batch-1 forecast <= 150 us (default"))
        self.assertIn("120.0 us", self.target(s, "batch-1 forecast <= 150 us (default"))
        self.assertIn("**NOT met**", self.target(s, "batch-1 forecast <= 150 us (electricity"))
        self.assertIn("**met**", self.target(s, "electricity-shaped batch 1024 >= 150,000"))
        self.assertIn("25.00x | **met**", self.target(s, ">= 20x pytorch-forecasting at B=1 (default)"))
        self.assertIn("10.00x | **NOT met**", self.target(s, ">= 20x pytorch-forecasting at B=1 (electricity)"))
        self.assertIn("2.00x | **NOT met**", self.target(s, ">= 3x pytorch-forecasting at B=1024 (default)"))
        self.assertIn("4.00x | **met**", self.target(s, ">= 3x pytorch-forecasting at B=1024 (electricity)"))
        # NVIDIA's published figures beside ours
        self.assertRegex(s, r"\| batch 1, p50 latency \| 1.4 ms \| 0.200 ms \| 0.120 ms \|")
        self.assertRegex(s, r"\| batch 1024, throughput \| 54,062 windows/s \| 160,000 series/s \|")
        with open(os.path.join(self.out, "bench.tsv")) as f:
            rows = f.read().splitlines()
        self.assertEqual(len(rows), 1 + 4 + 8)    # header, 2 models x 2 B, 2 models x 2 impls x 2 B
        self.assertIn("bench_forward\telectricity\ttft\tcuda\t1024\t100\t6.4000", "\n".join(rows))

    def test_no_marks_on_a_cpu_dry_run(self):
        s = self.summarize(device="cpu", gpu="none")
        self.assertNotIn("met**", s)
        self.assertIn("not marked (dry run on the CPU", self.target(s, "batch-1 forecast <= 150 us (default"))

    def test_no_marks_when_the_gpu_stayed_idle(self):
        with open(os.path.join(self.logs, "bench_default.log"), "a") as f:
            f.write("# gpu_watch: samples=9 memory_used_mib_before=500 memory_used_mib_max=502 utilization_pct_max=0\n")
        s = self.summarize()
        self.assertIn("The GPU stayed idle", s)
        self.assertNotIn("met**", s)
        self.assertIn("not marked (the GPU stayed idle in bench_default)", self.target(s, "electricity-shaped batch"))

    def test_busy_gpu_is_reported_and_marks_stand(self):
        with open(os.path.join(self.logs, "bench_default.log"), "a") as f:
            f.write("# gpu_watch: samples=9 memory_used_mib_before=500 memory_used_mib_max=1700 utilization_pct_max=93\n")
        s = self.summarize()
        self.assertIn("memory used 500 MiB before, 1700 MiB at most; utilization up to 93 %", s)
        self.assertIn("**met**", self.target(s, "batch-1 forecast <= 150 us (default"))


def gpu_listed():
    nv = shutil.which("nvidia-smi")
    if not nv:
        return False
    r = subprocess.run([nv, "-L"], capture_output=True, text=True)
    return any(line.startswith("GPU ") for line in r.stdout.splitlines())


@unittest.skipIf(gpu_listed(), "a GPU is listed here: the steps would really run")
class CheckWithoutGpu(unittest.TestCase):
    def test_gpu_steps_fail_fast_and_everything_is_recorded(self):
        out = tempfile.mkdtemp(prefix="tft-devcheck-out-")
        try:
            env = dict(os.environ, OUT=out, TFT_CHECK_STEPS="test_cuda,golden_cuda,memcheck,racecheck,profile,"
                       "bench_default,pf_electricity,no_such_step", TFT_KIT=os.path.join(out, "no-kit"))
            t0 = time.time()
            r = subprocess.run(["bash", CHECK], env=env, capture_output=True, text=True, timeout=120)
            took = time.time() - t0
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertLess(took, 30, "GPU steps must fail fast without a GPU")
            with open(os.path.join(out, "steps.tsv")) as f:
                steps = [line.split("\t") for line in f.read().splitlines()[1:]]
            status = {s[0]: s[1] for s in steps}
            for s in ("test_cuda", "golden_cuda", "memcheck", "racecheck", "profile", "bench_default",
                      "pf_electricity"):
                self.assertEqual(status.get(s), "NOGPU", s)
            self.assertEqual(status.get("no_such_step"), "FAIL")
            files = os.listdir(out)
            self.assertIn("SUMMARY.md", files)
            self.assertLessEqual(len(files), 8, files)
            self.assertTrue(all(re.fullmatch(r"[A-Za-z0-9._-]+", f) for f in files), files)
            self.assertIn("# tft device check", r.stdout)   # the summary is printed last
        finally:
            shutil.rmtree(out)


if __name__ == "__main__":
    unittest.main()
