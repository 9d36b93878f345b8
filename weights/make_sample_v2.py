"""Writes weights/sample_v2_infer.json: a runnable KServe v2 infer request for the bundled default model.

The network-level tensors of pytorch-forecasting's forward() for the first series of
weights/sample_request.json (db-01), made by the preprocessing reference (preprocess_ref.py) from the
exported config alone, in the request format of server/API.md ("KServe v2"). Needs only NumPy:

    python3 weights/make_sample_v2.py            # rewrites weights/sample_v2_infer.json

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
    with open(out, "w") as f:
        json.dump(body, f, separators=(",", ":"))
        f.write("\n")
    shapes = ", ".join("%s %s" % (i["name"], i["shape"]) for i in inputs)
    print(f"{out}: {shapes}")


if __name__ == "__main__":
    main()
