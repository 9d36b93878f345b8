#!/usr/bin/env python3
"""tft vs its peers on one model, the same series, the same thread count, in one run.

    python bench/peers/compare.py CHECKPOINT.ckpt MODEL.safetensors REQUEST.json \
        [--batches 1,8,64,512] [--threads 1] [--seconds 2] [--slow-seconds S] [--tft PATH/bench_forward]
        [--skip tft,forward,predict,script,onnx,compile] [--check] [--device cpu|cuda]

CHECKPOINT.ckpt is the Lightning checkpoint that MODEL.safetensors was exported from (weights/export.py);
REQUEST.json a forecast request (engine/cli/REQUEST.md), or a golden fixture.safetensors (its request is used).
--check also compares `build/tft predict` with the eager forward on the request's series (same model, same
series). For a batch of B series, the request's series are cycled (series i of the batch = request series
i mod n), for every implementation:

  tft          bench_forward (a subprocess): tft_forecast, raw series in -> quantiles in user units out
  pf_forward   pytorch-forecasting eager forward: model.eval(), torch.no_grad(), model(x) only, on the x the
               library's own dataloader builds for those series (TimeSeriesDataSet.from_parameters(
               model.dataset_parameters, df, predict=True).to_dataloader(batch_size=B))
  pf_predict   model.predict(..., mode="quantiles", batch_size=B): DataFrame -> quantiles, Lightning included
  pf_compile   torch.compile(model) forward (same x as pf_forward), if it compiles
  pf_script    TorchScript: Lightning's to_torchscript(method="script") forward, if it scripts; else
  pf_trace     torch.jit.trace of the forward (a trace: valid for the traced padded encoder length only)
  onnxruntime  torch.onnx.export (dynamo=True, else the legacy dynamo=False tracer) run with onnxruntime
--device cuda: pytorch-forecasting's eager forward (pf_forward) runs on the GPU in fp32 with TF32 off
(torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False), x uploaded once per B
before timing, each timed call ending in torch.cuda.synchronize(); tft's bench_forward gets TFT_DEVICE=cuda.
The other peers (predict, compile, script, onnx) are CPU paths and are not run with --device cuda.
All run with the same thread count (--threads: bench_forward --threads, torch.set_num_threads,
OMP/OPENBLAS/MKL_NUM_THREADS for both processes, onnxruntime intra_op_num_threads). Failures are recorded as one line each (the exact error).

The DataFrame of a series: history rows then future rows; statics repeated on every row; time_idx from the
request (or 0..L+H-1); unknown variables (targets included) in the future rows are filled with the last
history value (the network never reads them, the library needs them finite). Building a batch larger than
the request: if every group-id column accepts unknown labels (not used as a categorical feature, or its
encoder has add_nan=True), copies get new group ids ("<id>#k") and predict() gets a DataFrame of B distinct
series. Otherwise (e.g. the default model: `server` is a static categorical without add_nan) the library
refuses new group ids and cannot take the same group twice, so predict() is timed as
from_parameters(DataFrame of the n request series, predict=True) + predict(dataloader whose sampler cycles
those n samples to B) -- the per-sample __getitem__, collate, forward and output handling scale with B; the
pandas preprocessing is that of n series (an underestimate of predict() on B distinct series).

Prints `impl=... B=... reps=... p50_ms=... p99_ms=... series_per_s=...` lines, then a markdown table.
"""
import argparse
import glob
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("model")
    ap.add_argument("request")
    ap.add_argument("--batches", default="1,8,64,512")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per (impl, B) for fast impls")
    ap.add_argument("--slow-seconds", type=float, default=None,
                    help="timed seconds per (impl, B) for predict() (default: --seconds)")
    ap.add_argument("--tft", default=None, help="bench_forward binary (default: newest build/*/bench/bench_forward)")
    ap.add_argument("--skip", default="", help="comma list of impls to skip: tft,forward,predict,compile,script,onnx")
    ap.add_argument("--check", action="store_true", help="also compare tft predict output with model.predict()")
    ap.add_argument("--onnx-path", default="/tmp/tft_peer.onnx")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                    help="where pf_forward and tft run (cuda: fp32, TF32 off; pf_forward only)")
    return ap.parse_args()


ARGS = parse_args()
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = str(ARGS.threads)
warnings.filterwarnings("ignore")

import logging  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(ARGS.threads)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass


def quiet_lightning():
    for _n in ("lightning", "lightning.pytorch", "pytorch_lightning", "lightning.fabric"):
        logging.getLogger(_n).setLevel(logging.ERROR)
    for _n in list(logging.root.manager.loggerDict):
        if _n.startswith(("lightning", "pytorch_lightning")):
            logging.getLogger(_n).setLevel(logging.ERROR)

RESULTS = {}   # (impl, B) -> dict(p50_ms, p99_ms, reps, series_per_s)
NOTES = {}     # impl -> one-line note (failure / method)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def pct(ts, p):
    ts = sorted(ts)
    k = int(math.ceil(p * len(ts))) - 1
    return ts[min(max(k, 0), len(ts) - 1)]


def record(impl, B, ts_s):
    p50 = pct(ts_s, 0.5) * 1e3
    p99 = pct(ts_s, 0.99) * 1e3
    mn = min(ts_s) * 1e3
    RESULTS[(impl, B)] = dict(p50_ms=p50, p99_ms=p99, min_ms=mn, reps=len(ts_s), series_per_s=B / (p50 * 1e-3))
    print(f"impl={impl} B={B} reps={len(ts_s)} p50_ms={p50:.3f} p99_ms={p99:.3f} min_ms={mn:.3f} "
          f"series_per_s={B / (p50 * 1e-3):.1f}", flush=True)


def timeit(fn, seconds, warmup=2, min_reps=3, max_reps=100000, sync=None):
    """Wall time of fn() per call; sync (e.g. torch.cuda.synchronize) ends each call when the work is async."""
    call = fn if sync is None else (lambda: (fn(), sync()))
    for _ in range(warmup):
        call()
    ts = []
    t0 = time.perf_counter()
    while len(ts) < max_reps and (len(ts) < min_reps or time.perf_counter() - t0 < seconds):
        s = time.perf_counter()
        call()
        ts.append(time.perf_counter() - s)
    return ts


def to_device(x, dev):
    """x as the dataloader gives it (dict of tensors, lists of tensors for several targets) moved to dev."""
    if isinstance(x, torch.Tensor):
        return x.to(dev)
    if isinstance(x, dict):
        return {k: to_device(v, dev) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(to_device(v, dev) for v in x)
    return x


def one_line(e):
    root = e
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    s = f"{type(e).__name__}: {e}"
    if root is not e:   # keep the head of the outer message and the innermost cause
        s = s[:160] + f" ... caused by {type(root).__name__}: {root}"
    s = re.sub(r"\x1b\[[0-9;]*m", "", s).replace("\n", " ").strip()
    s = re.sub(r"\s+", " ", s)
    return s[:400] + (" ..." if len(s) > 400 else "")


# ----------------------------------------------------------------------------------------------------------
# request -> DataFrame

def request_frame(model, req, copies=1, new_groups=False):
    """DataFrame of the request's series (each `copies` times, new group ids when new_groups)."""
    p = model.dataset_parameters
    cats = set(p["categorical_encoders"] or {})
    for g, members in (p.get("variable_groups") or {}).items():   # a categorical group: its member columns
        if g in cats:
            cats.update(members)
    tcol = p["time_idx"]
    targets = p["target"] if isinstance(p["target"], list) else [p["target"]]
    horizon = int(req.get("horizon", p["max_prediction_length"]))
    gids = list(p["group_ids"])
    frames = []
    for k in range(copies):
        for i, s in enumerate(req["series"]):
            hist, fut, st = s["history"], s.get("future", {}), s.get("static", {})
            L = len(next(iter(hist.values())))
            n = L + horizon
            cols = {}
            for c, v in hist.items():
                f = fut.get(c)
                if f is None:           # unknown in the future: repeat the last history value
                    f = [v[-1]] * horizon
                vals = list(v) + list(f)
                cols[c] = [str(x) for x in vals] if c in cats else np.asarray(vals, dtype=np.float64)
            for c, v in fut.items():
                if c not in cols:
                    raise ValueError(f"future column {c} has no history")
            for c, v in st.items():
                cols[c] = [str(v)] * n if (c in cats or c in gids) else np.full(n, float(v))
            ti = s.get("time_idx")
            cols[tcol] = np.asarray(ti if ti is not None else np.arange(n), dtype=np.int64)
            if len(cols[tcol]) != n:
                raise ValueError("time_idx length != history + horizon")
            if k > 0 and new_groups:
                g = gids[-1]
                cols[g] = [f"{x}#{k}" for x in cols[g]]
            for t in targets:
                if t not in cols:
                    raise ValueError(f"target {t} missing from the request history")
            frames.append(pd.DataFrame(cols))
    return pd.concat(frames, ignore_index=True)


def unknown_groups_ok(model):
    """True if new group-id labels are accepted (the group columns are not categorical features, or add_nan)."""
    p = model.dataset_parameters
    enc = p["categorical_encoders"] or {}
    feats = set()
    vg = p.get("variable_groups") or {}
    for key in ("static_categoricals", "time_varying_known_categoricals", "time_varying_unknown_categoricals"):
        for c in p.get(key) or []:
            feats.update(vg.get(c, [c]))
    for g in p["group_ids"]:
        if g in feats and not getattr(enc.get(g), "add_nan", False):
            return False
    return True


# ----------------------------------------------------------------------------------------------------------
# implementations

def run_tft(binary, model_path, req_path, batches, seconds, threads, device="cpu"):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    if device == "cuda":           # the backend choice of every tft tool (engine: TFT_DEVICE=cpu|cuda)
        env["TFT_DEVICE"] = "cuda"
    cmd = [binary, model_path, req_path, "--batches", ",".join(map(str, batches)), "--seconds", str(seconds)]
    usage = subprocess.run([binary, "--help"], env=env, capture_output=True, text=True).stdout
    if "--threads" in usage:       # tft worker threads (tft_context_params.n_threads)
        cmd += ["--threads", str(threads)]
    elif threads != 1:
        NOTES["tft"] = f"this bench_forward has no --threads: tft ran on 1 thread (peers on {threads})"
    log("# tft: " + " ".join(cmd))
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(f"bench_forward exit {r.returncode}: {r.stderr.strip()[-300:]}")
    for line in r.stdout.splitlines():
        if line.startswith("#"):
            print(line, flush=True)
            continue
        kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
        if kv.get("level") != "series":
            continue
        B = int(kv["B"])
        p50, p99 = float(kv["p50_us"]) / 1e3, float(kv["p99_us"]) / 1e3
        mn = float(kv.get("min_us", "nan")) / 1e3
        RESULTS[("tft", B)] = dict(p50_ms=p50, p99_ms=p99, min_ms=mn, reps=int(kv["reps"]),
                                   series_per_s=B / (p50 * 1e-3))
        print(f"impl=tft B={B} reps={kv['reps']} p50_ms={p50:.3f} p99_ms={p99:.3f} min_ms={mn:.3f} "
              f"series_per_s={B / (p50 * 1e-3):.1f}", flush=True)


def cycled_loader(model, df_n, n, B):
    from pytorch_forecasting import TimeSeriesDataSet
    ds = TimeSeriesDataSet.from_parameters(model.dataset_parameters, df_n, predict=True)
    if len(ds) != n:
        raise RuntimeError(f"dataset has {len(ds)} samples for {n} series")
    return ds.to_dataloader(train=False, batch_size=B, sampler=[i % n for i in range(B)], num_workers=0)


def batch_x(model, df_n, n, B):
    x, _ = next(iter(cycled_loader(model, df_n, n, B)))
    return x


X_KEYS = ("encoder_cat", "encoder_cont", "decoder_cat", "decoder_cont", "encoder_lengths", "decoder_lengths")


class Flat(torch.nn.Module):
    """model(x) with plain tensor inputs/outputs (for TorchScript / ONNX): returns the prediction tensor(s)."""

    def __init__(self, model, n_targets):
        super().__init__()
        self.m = model
        self.n_targets = n_targets

    def forward(self, encoder_cat, encoder_cont, decoder_cat, decoder_cont, encoder_lengths, decoder_lengths,
                target_scale):
        ts = [target_scale[:, i] for i in range(self.n_targets)] if self.n_targets > 1 else target_scale[:, 0]
        x = dict(encoder_cat=encoder_cat, encoder_cont=encoder_cont, decoder_cat=decoder_cat,
                 decoder_cont=decoder_cont, encoder_lengths=encoder_lengths, decoder_lengths=decoder_lengths,
                 target_scale=ts)
        out = self.m(x)["prediction"]
        if isinstance(out, (list, tuple)):
            return torch.stack(list(out), 1)
        return out


def flat_args(x):
    ts = x["target_scale"]
    ts = torch.stack(list(ts), 1) if isinstance(ts, (list, tuple)) else ts.unsqueeze(1)
    return tuple(x[k] for k in X_KEYS) + (ts,)


def main():
    a = ARGS
    batches = [int(b) for b in a.batches.split(",") if b]
    skip = set(s for s in a.skip.split(",") if s)
    slow_s = a.slow_seconds if a.slow_seconds is not None else a.seconds
    t_start = time.time()
    a.model, a.request, a.checkpoint = (os.path.abspath(x) for x in (a.model, a.request, a.checkpoint))
    if a.tft:
        a.tft = os.path.abspath(a.tft)
    if a.request.endswith(".safetensors"):   # a golden fixture: its __metadata__["request"] (weights/make_goldens.py)
        from safetensors import safe_open
        with safe_open(a.request, "np") as f:
            text = f.metadata()["request"]
        fd, a.request = tempfile.mkstemp(prefix="compare_request_", suffix=".json")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        import atexit
        atexit.register(os.unlink, a.request)
    with open(a.request) as f:
        req = json.load(f)
    n = len(req["series"])

    binary = a.tft
    if binary is None:
        cands = [c for c in glob.glob(os.path.join(ROOT, "build", "*", "bench", "bench_forward"))
                 if "/san-" not in c]
        if not cands and "tft" not in skip:
            sys.exit("compare.py: no build/*/bench/bench_forward; run make first")
        binary = max(cands, key=os.path.getmtime) if cands else None

    print(f"# compare threads={a.threads} batches={batches} seconds={a.seconds} torch={torch.__version__} "
          f"series_in_request={n} model={a.model} checkpoint={a.checkpoint} request={a.request}", flush=True)

    # 1. tft first (a separate process; nothing else of ours running)
    if "tft" not in skip:
        try:
            run_tft(binary, a.model, a.request, batches, a.seconds, a.threads, a.device)
        except Exception as e:  # noqa: BLE001
            NOTES["tft"] = one_line(e)
            print(f"# tft FAILED: {NOTES['tft']}", flush=True)

    import pytorch_forecasting
    from pytorch_forecasting import TemporalFusionTransformer
    quiet_lightning()
    model = TemporalFusionTransformer.load_from_checkpoint(a.checkpoint, map_location="cpu").eval()
    sync = None
    if a.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("compare.py: --device cuda but torch sees no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = False     # fp32 throughout, as the targets are stated
        torch.backends.cudnn.allow_tf32 = False
        model = model.to("cuda")
        sync = torch.cuda.synchronize
        gpu_skip = sorted({"predict", "script", "onnx", "compile"} - skip)
        if gpu_skip:
            NOTES["device"] = f"--device cuda: pf_forward only ({','.join(gpu_skip)} are CPU paths, not run)"
        skip |= {"predict", "script", "onnx", "compile"}
        print(f"# device=cuda gpu={torch.cuda.get_device_name(0)} tf32_matmul={torch.backends.cuda.matmul.allow_tf32} "
              f"tf32_cudnn={torch.backends.cudnn.allow_tf32} cudnn={torch.backends.cudnn.version()}", flush=True)
    p = model.dataset_parameters
    n_targets = len(p["target"]) if isinstance(p["target"], list) else 1
    new_groups = unknown_groups_ok(model)
    df_n = request_frame(model, req)
    how = ("new group ids for the copies (the group encoder accepts unknown labels)" if new_groups else
           "n request series, dataloader sampler cycles them to B (group ids are a categorical feature without "
           "add_nan: new ids refused, duplicate groups impossible)")
    NOTES["batching"] = how
    print(f"# pytorch_forecasting={pytorch_forecasting.__version__} params={sum(q.numel() for q in model.parameters())} "
          f"batching: {how}", flush=True)

    xs = {}

    def get_x(B):
        if B not in xs:
            xs[B] = to_device(batch_x(model, df_n, n, B), a.device)
        return xs[B]

    # 2. eager forward
    if "forward" not in skip:
        for B in batches:
            x = get_x(B)
            with torch.no_grad():
                ts = timeit(lambda: model(x), a.seconds, warmup=2, min_reps=3, sync=sync)
            record("pf_forward", B, ts)

    # optional output check: tft predict vs the eager forward on the request's own series
    if a.check:
        try:
            check_outputs(model, req, df_n, n, a)
        except Exception as e:  # noqa: BLE001
            print(f"# check FAILED: {one_line(e)}", flush=True)

    # 3. predict() end to end
    if "predict" not in skip:
        tk = dict(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                  enable_checkpointing=False)
        for B in batches:
            if new_groups:
                df_B = request_frame(model, req, copies=math.ceil(B / n), new_groups=True)
                keep = set(df_B[p["group_ids"][-1]].drop_duplicates().iloc[:B])
                df_B = df_B[df_B[p["group_ids"][-1]].isin(keep)].reset_index(drop=True)

                def fn():
                    return model.predict(df_B, mode="quantiles", batch_size=B, trainer_kwargs=dict(tk))
            else:
                def fn():
                    return model.predict(cycled_loader(model, df_n, n, B), mode="quantiles",
                                         trainer_kwargs=dict(tk))
            out = fn()
            o = out if not isinstance(out, (list, tuple)) else out[0]
            assert o.shape[0] == B, (o.shape, B)
            ts = timeit(fn, slow_s, warmup=1, min_reps=3)
            record("pf_predict", B, ts)

    # 4. TorchScript
    if "script" not in skip:
        sm, errs = None, []
        try:   # Lightning's own entry point (plain torch.jit.script fails earlier: "not attached to a Trainer")
            sm = model.to_torchscript(method="script")
            kind = "script"
        except Exception as e:  # noqa: BLE001
            errs.append("LightningModule.to_torchscript(method='script'): " + one_line(e))
        if sm is None:
            try:
                model._jit_is_scripting = True    # as to_torchscript does, so that .trainer does not raise
                with torch.no_grad():
                    sm = torch.jit.trace(Flat(model, n_targets).eval(), flat_args(get_x(8)), check_trace=False)
                kind = "trace"
            except Exception as e:  # noqa: BLE001
                errs.append("torch.jit.trace: " + one_line(e))
            finally:
                model._jit_is_scripting = False
        if sm is not None and kind == "trace":
            errs.append("torch.jit.trace (with _jit_is_scripting=True) works: a trace, frozen at the traced "
                        "batch's padded encoder length")
        if errs:
            NOTES["pf_script"] = " | ".join(errs)
            print(f"# pf_script: {NOTES['pf_script']}", flush=True)
        if sm is not None:
            try:
                ref = Flat(model, n_targets)
                for B in batches:
                    args = flat_args(get_x(B))
                    with torch.no_grad():
                        got = sm(get_x(B)) if kind == "script" else sm(*args)
                        if kind == "trace":
                            err = float((got - ref(*args)).abs().max())
                            if not err < 1e-3:
                                raise RuntimeError(f"traced module wrong at B={B}: max err {err:g}")
                        ts = timeit((lambda: sm(get_x(B))) if kind == "script" else (lambda: sm(*args)),
                                    a.seconds, warmup=2, min_reps=3)
                    record(f"pf_{kind}", B, ts)
            except Exception as e:  # noqa: BLE001
                NOTES["pf_script"] = NOTES.get("pf_script", "") + f" | {kind} run: " + one_line(e)
                print(f"# pf_{kind} FAILED at run: {one_line(e)}", flush=True)

    # 5. ONNX
    if "onnx" not in skip:
        run_onnx(model, n_targets, get_x, batches, a)

    # 6. torch.compile (last: ~2 min of compiling per new shape class on 2 cores)
    if "compile" not in skip:
        try:
            cm = torch.compile(model)   # default mode; the 2nd batch size recompiles with dynamic shapes
            firsts = []
            for B in batches:
                x = get_x(B)
                with torch.no_grad():
                    t0 = time.perf_counter()
                    got = cm(x)["prediction"]
                    firsts.append(f"B={B} {time.perf_counter() - t0:.1f}s")
                    ref = model(x)["prediction"]
                    ref, got = (list(ref), list(got)) if isinstance(ref, (list, tuple)) else ([ref], [got])
                    err = max(float((r - g).abs().max()) for r, g in zip(ref, got))
                    log(f"# compile {firsts[-1]} (first call), max abs err vs eager {err:.2g}")
                    ts = timeit(lambda: cm(x), a.seconds, warmup=2, min_reps=3)
                record("pf_compile", B, ts)
            NOTES["pf_compile"] = "torch.compile(model) works; first call (compiling): " + ", ".join(firsts)
            print(f"# {NOTES['pf_compile']}", flush=True)
        except Exception as e:  # noqa: BLE001
            NOTES["pf_compile"] = "torch.compile: " + one_line(e)
            print(f"# pf_compile FAILED: {NOTES['pf_compile']}", flush=True)

    print_table(batches, time.time() - t_start)


def run_onnx(model, n_targets, get_x, batches, a):
    flat = Flat(model, n_targets).eval()
    names = list(X_KEYS) + ["target_scale"]
    x8 = flat_args(get_x(8))
    errs = []
    exported = None
    attempts = []
    try:
        from torch.export import Dim
        bdim = Dim("batch", min=1, max=4096)
        attempts.append(("dynamo", dict(dynamo=True, dynamic_shapes={k: {0: bdim} for k in names})))
    except Exception as e:  # noqa: BLE001
        errs.append("torch.export.Dim: " + one_line(e))
    attempts.append(("torchscript", dict(dynamo=False, dynamic_axes={k: {0: "batch"} for k in names})))
    for label, kw in attempts:
        try:
            with torch.no_grad():
                torch.onnx.export(flat, x8, a.onnx_path, input_names=names, output_names=["prediction"],
                                  opset_version=18, **kw)
            exported = label
            break
        except Exception as e:  # noqa: BLE001
            errs.append(f"torch.onnx.export({label}): " + one_line(e))
    if errs:
        NOTES["onnx_export"] = " | ".join(errs)
        print(f"# onnx export: {NOTES['onnx_export']}", flush=True)
    if exported is None:
        return
    try:
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(a.onnx_path, so, providers=["CPUExecutionProvider"])
        for B in batches:
            args = flat_args(get_x(B))
            feed = {k: v.numpy() for k, v in zip(names, args)}
            with torch.no_grad():
                want = flat(*args).numpy()
            got = sess.run(None, feed)[0]
            err = float(np.abs(got - want).max())
            if not err < 1e-3 * max(1.0, float(np.abs(want).max())):
                raise RuntimeError(f"onnxruntime output wrong at B={B}: max err {err:g}")
            log(f"# onnxruntime B={B}: max abs err vs eager {err:.2g}")
            ts = timeit(lambda: sess.run(None, feed), a.seconds, warmup=2, min_reps=3)
            record("onnxruntime", B, ts)
        NOTES["onnxruntime"] = (
            f"exported with torch.onnx.export(dynamo={exported == 'dynamo'}), output checked against eager at every B"
            + ("" if exported == "dynamo" else "; a trace: the padded encoder length (and the Python ints derived "
               "from the lengths) are frozen at the traced batch's (batches whose longest history differs fail)"))
    except Exception as e:  # noqa: BLE001
        NOTES["onnxruntime"] = "onnxruntime: " + one_line(e)
        print(f"# onnxruntime FAILED: {one_line(e)}", flush=True)


def check_outputs(model, req, df_n, n, a):
    """tft predict (the CLI) vs the eager forward on the request's series: max abs difference in user units."""
    cli = os.path.join(ROOT, "build", "tft")
    if not os.path.exists(cli):
        raise RuntimeError("no build/tft")
    r = subprocess.run([cli, "predict", a.model, a.request, "--format", "json"], capture_output=True, text=True,
                       cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip()[-300:])
    resp = json.loads(r.stdout)
    dl = cycled_loader(model, df_n, n, n)
    x, _ = next(iter(dl))
    idx = dl.dataset.x_to_index(x)          # the dataset orders series by group id, not as in the request
    x = to_device(x, a.device)
    gids = model.dataset_parameters["group_ids"]
    keys = [tuple(str(v) for v in row) for row in idx[gids].itertuples(index=False)]
    with torch.no_grad():
        pred = model(x)["prediction"]
    pred = list(pred) if isinstance(pred, (list, tuple)) else [pred]
    tg = model.dataset_parameters["target"]
    tg = tg if isinstance(tg, list) else [tg]
    err, scale = 0.0, 0.0
    for s, fc in zip(req["series"], resp["forecasts"]):
        i = keys.index(tuple(str(s["static"][g]) for g in gids))
        for j, t in enumerate(tg):
            got = np.asarray(fc["targets"][t], dtype=np.float64)
            want = pred[j][i].cpu().numpy().astype(np.float64)
            err = max(err, float(np.abs(got - want).max()))
            scale = max(scale, float(np.abs(want).max()))
    print(f"# check: tft predict vs pytorch-forecasting forward on the {len(resp['forecasts'])} request series: "
          f"max_abs_err={err:.3g} (max |value| {scale:.3g})", flush=True)


def print_table(batches, elapsed):
    impls = [i for i in ("pf_forward", "pf_predict", "pf_compile", "pf_script", "pf_trace", "onnxruntime")
             if any((i, B) in RESULTS for B in batches)]
    print(f"\n# total {elapsed:.0f} s")
    for stat in ("p50_ms", "min_ms"):
        print(f"\n{stat[:-3]} latency per batch, ms (ratio = peer / tft; > 1: tft is faster)\n")
        hdr = "| B | tft | tft series/s |"
        sep = "|---:|---:|---:|"
        for i in impls:
            hdr += f" {i} | ratio |"
            sep += "---:|---:|"
        print(hdr)
        print(sep)
        for B in batches:
            t = RESULTS.get(("tft", B))
            row = f"| {B} | {t[stat]:.2f} | {B / (t[stat] * 1e-3):.0f} |" if t else f"| {B} | - | - |"
            for i in impls:
                r = RESULTS.get((i, B))
                if r is None:
                    row += " - | - |"
                else:
                    ratio = f"{r[stat] / t[stat]:.2f}x" if t else "-"
                    row += f" {r[stat]:.2f} | {ratio} |"
            print(row)
    print()
    for k, v in NOTES.items():
        print(f"- {k}: {v}")


if __name__ == "__main__":
    main()
