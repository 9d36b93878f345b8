"""Writes weights/sample_v2_infer.json: a runnable KServe v2 infer request for the bundled default model.

The network-level tensors of pytorch-forecasting's forward() for the first series of
weights/sample_request.json (db-01), made by the preprocessing reference (preprocess_ref.py) from the
exported config alone, in the request format of server/API.md ("KServe v2"). Needs only NumPy:

    python3 weights/make_sample_v2.py            # rewrites weights/sample_v2_infer.json
    python3 weights/make_sample_v2.py --check    # the committed file is what this makes (exit 1 if not)

tests/test_server.c posts the file and checks its prediction against the /v1/forecast of the same
series; server/API.md's example and .ci/run use it.
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import preprocess_ref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def read_config(path):
    """The exported config (the safetensors header's __metadata__["config"])."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return json.loads(header["__metadata__"]["config"])


def f32(a):
    # %.9g of the float32 value: parses back to the same float32 (what the server's decoder reads)
    return [float("%.9g" % v) for v in np.asarray(a, np.float32).ravel()]


def main():
    cfg = read_config(os.path.join(HERE, "default.safetensors"))
    with open(os.path.join(HERE, "sample_request.json")) as f:
        request = json.load(f)
    request["series"] = request["series"][:1]
    x = preprocess_ref.preprocess(cfg, request)
    inputs = []
    # decoder rows of the unknown reals (the targets, disk_io, net) are NaN in the reference: the network
    # never reads them (the decoder's variable selection takes only known inputs); send 0 there
    x["decoder_cont"] = np.nan_to_num(x["decoder_cont"], nan=0.0)
    for name in ("encoder_cat", "encoder_cont", "decoder_cat", "decoder_cont", "encoder_lengths",
                 "decoder_lengths", "target_scale"):
        a = x[name]
        integer = name.endswith("_cat") or name.endswith("_lengths")
        inputs.append({"name": name, "datatype": "INT32" if integer else "FP32", "shape": list(a.shape),
                       "data": [int(v) for v in a.ravel()] if integer else f32(a)})
    body = {"id": request["series"][0]["id"], "inputs": inputs, "outputs": [{"name": "prediction"}]}
    out = os.path.join(HERE, "sample_v2_infer.json")
    if "--check" in sys.argv[1:]:
        return check(out, body)
    with open(out, "w") as f:
        json.dump(body, f, separators=(",", ":"))
        f.write("\n")
    shapes = ", ".join("%s %s" % (i["name"], i["shape"]) for i in inputs)
    print(f"{out}: {shapes}")
    return 0


def check(path, body):
    """The committed file against a fresh generation: same ids, names, types, shapes and integers; reals
    within 1e-6 relative (another NumPy may round a float64 intermediate differently)."""
    with open(path) as f:
        have = json.load(f)
    if [(i["name"], i["datatype"], i["shape"]) for i in have["inputs"]] != \
            [(i["name"], i["datatype"], i["shape"]) for i in body["inputs"]] or have["id"] != body["id"] \
            or have["outputs"] != body["outputs"]:
        print(f"{path}: tensors differ from make_sample_v2.py's")
        return 1
    for h, w in zip(have["inputs"], body["inputs"]):
        a, b = np.array(h["data"], np.float64), np.array(w["data"], np.float64)
        tol = 0.0 if w["datatype"] == "INT32" else 1e-6
        bad = np.abs(a - b) > tol * np.maximum(np.abs(b), 1.0)
        if bad.any():
            k = int(np.argmax(bad))
            print(f"{path}: {h['name']}[{k}] = {a[k]!r}, make_sample_v2.py makes {b[k]!r}")
            return 1
    print(f"{path}: matches make_sample_v2.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
