#!/usr/bin/env python3
"""The stock Triton/KServe v2 HTTP client (tritonclient[http], unchanged) against a running tft server.

    pip install 'tritonclient[http]' numpy
    python3 bench/peers/v2_client.py --url localhost:8080 --model NAME \
        [--fixture weights/goldens/NAME/fixture.safetensors] [--batch 4] [--reps 50] [--version V]

Inputs (the network-level tensors of tft_predict_net, server/kserve.h): from a golden fixture
(weights/goldens/*/fixture.safetensors: encoder_cat, encoder_cont, ..., target_scale, and the reference
outputs pytorch-forecasting computed for them), or, without --fixture, synthesized from the model's
metadata (GET /v2/models/NAME: the inputs' shapes, -1 for the dynamic dims, and the "parameters" the
tft server adds: max_encoder_length, max_prediction_length): --batch series, full-length encoder and
decoder, category index 0, reals ~ N(0, 0.5), target_scale (0, 1).

Calls, each --reps times after one warm-up:
  json    inputs as JSON ("data"), all seven outputs requested as JSON
  binary  inputs as binary tensors (binary_data_size), all seven outputs requested as binary
  default inputs binary, no "outputs" (tritonclient then asks binary_data_output: the server answers
          "prediction" only)
Checks: the server is live and ready, its metadata names every input; every output has the shape the
inputs imply; json and binary outputs are bitwise equal (JSON floats are written with "%.9g", which
round-trips FP32); with a fixture, the outputs against pytorch-forecasting's (the tolerances of
tests/test_golden.c). Prints `mode=... B=... reps=... p50_ms=... p99_ms=... series_per_s=...` lines,
then "ok" or the failures, and exits non-zero on a failure.

--dump DIR writes the request bodies tritonclient builds (DIR/<mode>.body and DIR/<mode>.json_len)
without contacting a server for inference (with --fixture and no --url reachable: the metadata step is
skipped), to feed them to the codec directly.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np

INPUTS = ["encoder_cat", "encoder_cont", "decoder_cat", "decoder_cont", "encoder_lengths", "decoder_lengths",
          "target_scale"]
OUTPUTS = ["prediction", "prediction_normalized", "encoder_attention", "decoder_attention", "static_weights",
           "encoder_weights", "decoder_weights"]
# the fixture's names of the reference outputs (weights/make_goldens.py)
REFERENCE = {"prediction": "prediction", "prediction_normalized": "prediction_normalized",
             "encoder_attention": "encoder_attention", "decoder_attention": "decoder_attention",
             "static_weights": "static_variables", "encoder_weights": "encoder_variables",
             "decoder_weights": "decoder_variables"}
ST_DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64, "I16": np.int16,
             "I8": np.int8, "U8": np.uint8, "F16": np.float16, "BOOL": np.bool_}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="localhost:8080", help="host:port of the tft server")
    ap.add_argument("--model", required=True, help="model name as the server serves it")
    ap.add_argument("--version", default="", help="model version (default: the server's)")
    ap.add_argument("--fixture", default=None, help="a golden fixture.safetensors (inputs and reference outputs)")
    ap.add_argument("--batch", type=int, default=4, help="series when synthesizing inputs (default 4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reps", type=int, default=20, help="timed calls per mode (default 20)")
    ap.add_argument("--modes", default="json,binary,default", help="comma list of json,binary,default")
    ap.add_argument("--timeout", type=float, default=60.0, help="network timeout, seconds")
    ap.add_argument("--dump", default=None, help="write the request bodies to this folder and stop")
    ap.add_argument("--verbose", action="store_true")
    return ap.parse_args()


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def read_safetensors(path):
    """{name: numpy array} and the metadata of a .safetensors file (no dependency beyond numpy)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        dt = np.dtype(ST_DTYPES[t["dtype"]]).newbyteorder("<")
        out[name] = np.frombuffer(blob[base + b:base + e], dtype=dt).reshape(t["shape"]).copy()
    return out, meta


def fixture_inputs(path):
    t, _ = read_safetensors(path)
    x = {k: t[k] for k in INPUTS}
    for k in ("encoder_cat", "decoder_cat", "encoder_lengths", "decoder_lengths"):
        x[k] = np.ascontiguousarray(x[k], dtype=np.int32)
    for k in ("encoder_cont", "decoder_cont", "target_scale"):
        x[k] = np.ascontiguousarray(x[k], dtype=np.float32)
    ref = {o: t[r] for o, r in REFERENCE.items() if r in t}
    return x, ref


def synthesized_inputs(meta, batch, seed):
    """Inputs for the model whose v2 metadata is meta: full-length series, index-0 categories."""
    p = meta.get("parameters", {}) or {}
    shapes = {t["name"]: [int(d) for d in t["shape"]] for t in meta["inputs"]}
    te = int(p.get("max_encoder_length", 8))
    td = int(p.get("max_prediction_length", 1))
    rng = np.random.default_rng(seed)
    dyn = {"encoder": te, "decoder": td}
    x = {}
    for name in INPUTS:
        if name not in shapes:  # no categoricals: the cat tensors are not inputs of the model
            continue
        s = list(shapes[name])
        s[0] = batch
        if len(s) == 3 and s[1] == -1:
            s[1] = dyn[name.split("_")[0]]
        if name == "encoder_lengths":
            x[name] = np.full(s, te, dtype=np.int32)
        elif name == "decoder_lengths":
            x[name] = np.full(s, td, dtype=np.int32)
        elif name.endswith("_cat"):
            x[name] = np.zeros(s, dtype=np.int32)
        elif name == "target_scale":
            ts = np.zeros(s, dtype=np.float32)
            ts[..., 1] = 1.0
            x[name] = ts
        else:
            x[name] = (0.5 * rng.standard_normal(s)).astype(np.float32)
    return x


def expected_shapes(x, meta_out):
    """The output shapes the inputs imply (the metadata's -1 dims filled in)."""
    b = x["encoder_cont"].shape[0]
    te = x["encoder_cont"].shape[1]
    td = x["decoder_cont"].shape[1]
    dims = {"prediction": ("B", "nt", "Td", "Q"), "prediction_normalized": ("B", "nt", "Td", "Q"),
            "encoder_attention": ("B", "Td", "nh", "Te"), "decoder_attention": ("B", "Td", "nh", "Td"),
            "static_weights": ("B", "ns"), "encoder_weights": ("B", "Te", "ne"), "decoder_weights": ("B", "Td", "nd")}
    out = {}
    for name, sym in dims.items():
        fixed = meta_out.get(name)
        shape = []
        for i, s in enumerate(sym):
            if s == "B":
                shape.append(b)
            elif s == "Te":
                shape.append(te)
            elif s == "Td":
                shape.append(td)
            else:
                shape.append(int(fixed[i]) if fixed is not None else -1)
        out[name] = shape
    return out


def make_inputs(httpclient, x, binary):
    ins = []
    for name in INPUTS:
        if name not in x:
            continue
        a = x[name]
        i = httpclient.InferInput(name, list(a.shape), "INT32" if a.dtype == np.int32 else "FP32")
        i.set_data_from_numpy(a, binary_data=binary)
        ins.append(i)
    return ins


def make_outputs(httpclient, binary):
    return [httpclient.InferRequestedOutput(n, binary_data=binary) for n in OUTPUTS]


def pct(ts, p):
    ts = sorted(ts)
    k = int(math.ceil(p * len(ts))) - 1
    return ts[min(max(k, 0), len(ts) - 1)]


def compare(name, got, want, failures):
    """tests/test_golden.c's bounds: prediction relative 1e-4 (floored at 1e-6 of its scale), the
    normalized prediction 2e-5 + 2e-5 relative, attention and variable weights 1e-5 absolute."""
    got = got.astype(np.float64).reshape(-1)
    want = want.astype(np.float64).reshape(-1)
    if got.shape != want.shape:
        failures.append(f"{name}: {got.size} values, the reference has {want.size}")
        return
    d = np.abs(got - want)
    if name == "prediction":
        bound = 1e-4 * np.abs(want) + 1e-6 * (np.abs(want).max() if want.size else 0)
    elif name == "prediction_normalized":
        bound = 2e-5 + 2e-5 * np.abs(want)
    else:
        bound = np.full_like(want, 1e-5)
    worst = float(np.max(d / bound)) if d.size else 0.0
    print(f"check name={name} n={d.size} max_abs={float(d.max()) if d.size else 0:.3g} "
          f"bound_used={100 * worst:.0f}%")
    if not np.all(d <= bound):
        i = int(np.argmax(d / bound))
        failures.append(f"{name}[{i}]: got {got[i]:.9g}, reference {want[i]:.9g}")


def main():
    args = parse_args()
    try:
        import tritonclient.http as httpclient
        from tritonclient.utils import InferenceServerException
    except ImportError:
        log("v2_client: needs tritonclient[http]: pip install 'tritonclient[http]'")
        return 2
    failures = []
    ref = {}
    if args.fixture:
        x, ref = fixture_inputs(args.fixture)
    else:
        x = None

    if args.dump:  # the request bodies only, no inference
        if x is None:
            client = httpclient.InferenceServerClient(url=args.url, network_timeout=args.timeout)
            x = synthesized_inputs(client.get_model_metadata(args.model, args.version), args.batch, args.seed)
        from tritonclient.http._utils import _get_inference_request
        os.makedirs(args.dump, exist_ok=True)
        for mode in args.modes.split(","):
            binary = mode != "json"
            outs = make_outputs(httpclient, binary) if mode != "default" else None
            body, json_len = _get_inference_request(inputs=make_inputs(httpclient, x, binary), request_id=mode,
                                                    outputs=outs, sequence_id=0, sequence_start=False,
                                                    sequence_end=False, priority=0, timeout=None,
                                                    custom_parameters=None)
            with open(os.path.join(args.dump, mode + ".body"), "wb") as f:
                f.write(body)
            with open(os.path.join(args.dump, mode + ".json_len"), "w") as f:
                f.write(str(json_len if json_len is not None else len(body)))
            print(f"mode={mode} body_bytes={len(body)} json_len={json_len}")
        return 0

    client = httpclient.InferenceServerClient(url=args.url, network_timeout=args.timeout,
                                              connection_timeout=args.timeout, verbose=args.verbose)
    if not client.is_server_live() or not client.is_server_ready():
        log("v2_client: the server is not live/ready")
        return 1
    if not client.is_model_ready(args.model, args.version):
        log(f"v2_client: model {args.model} is not ready")
        return 1
    smeta = client.get_server_metadata()
    meta = client.get_model_metadata(args.model, args.version)
    print(f"server name={smeta.get('name')} version={smeta.get('version')} extensions={smeta.get('extensions')}")
    print(f"model name={meta.get('name')} versions={meta.get('versions')} platform={meta.get('platform')}")
    names = [t["name"] for t in meta.get("inputs", [])]
    for n in INPUTS:  # the cat tensors are inputs exactly when the model has categoricals
        cats = x is None or x["encoder_cat"].shape[-1] > 0 if n.endswith("_cat") else True
        if cats and n not in names:
            failures.append(f"metadata: input {n} missing")
    if x is None:
        x = synthesized_inputs(meta, args.batch, args.seed)
    elif "encoder_cat" not in names:  # Nc == 0: the model has no cat inputs
        x = {k: v for k, v in x.items() if not k.endswith("_cat")}
    meta_out = {t["name"]: t["shape"] for t in meta.get("outputs", [])}
    shapes = expected_shapes(x, meta_out)
    b = int(x["encoder_cont"].shape[0])
    print(f"inputs B={b} Te={x['encoder_cont'].shape[1]} Td={x['decoder_cont'].shape[1]} "
          f"({'fixture ' + args.fixture if args.fixture else 'synthesized from the metadata'})")

    results = {}
    for mode in args.modes.split(","):
        binary = mode != "json"
        ins = make_inputs(httpclient, x, binary)
        outs = make_outputs(httpclient, binary) if mode != "default" else None
        times = []
        res = None
        try:
            for rep in range(args.reps + 1):
                t0 = time.perf_counter()
                res = client.infer(args.model, ins, model_version=args.version, outputs=outs,
                                   request_id=f"{mode}-{rep}")
                if rep:  # the first call is a warm-up
                    times.append(time.perf_counter() - t0)
        except InferenceServerException as e:
            failures.append(f"{mode}: {e}")
            continue
        got = {}
        for name in (OUTPUTS if mode != "default" else ["prediction"]):
            a = res.as_numpy(name)
            if a is None:
                failures.append(f"{mode}: output {name} missing")
                continue
            if list(a.shape) != shapes[name] or a.dtype != np.float32:
                failures.append(f"{mode}: {name} has shape {list(a.shape)} {a.dtype}, expected {shapes[name]} float32")
            got[name] = a
        if mode == "default":
            extra = [o["name"] for o in res.get_response().get("outputs", []) if o["name"] != "prediction"]
            if extra:
                failures.append(f"default: outputs {extra} besides prediction")
        results[mode] = got
        if times:
            p50, p99 = pct(times, 0.5), pct(times, 0.99)
            print(f"mode={mode} B={b} reps={len(times)} p50_ms={1e3 * p50:.3f} p99_ms={1e3 * p99:.3f} "
                  f"series_per_s={b / p50:.0f}")

    # JSON and binary: the same numbers, bitwise; default's prediction too
    if "json" in results and "binary" in results:
        for name in OUTPUTS:
            a, c = results["json"].get(name), results["binary"].get(name)
            if a is not None and c is not None and (a.shape != c.shape or a.tobytes() != c.tobytes()):
                failures.append(f"{name}: json and binary outputs differ")
    if "binary" in results and "default" in results:
        a, c = results["binary"].get("prediction"), results["default"].get("prediction")
        if a is not None and c is not None and a.tobytes() != c.tobytes():
            failures.append("prediction: default and binary outputs differ")
    # against pytorch-forecasting's outputs (fixture)
    got = results.get("binary") or results.get("json") or {}
    for name, want in ref.items():
        if name in got:
            compare(name, got[name], want, failures)

    if failures:
        for f in failures:
            print("FAIL", f)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
