#!/usr/bin/env python3
"""End-to-end check of a request against expected quantiles using ONLY the exported file (what libtft does):
request -> preprocess_ref.preprocess -> tft_reference.tft_forward (float64) -> transform_output, then compare with
the expected answer computed by pytorch-forecasting's model.predict().

    python weights/check_default.py [MODEL.safetensors REQUEST.json EXPECTED.json]
    (defaults: default.safetensors sample_request.json sample_expected.json in this directory)
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export  # noqa: E402
import preprocess_ref  # noqa: E402


def main(argv):
    model, req, exp = (argv + [None] * 3)[:3]
    model = model or os.path.join(HERE, "default.safetensors")
    req = req or os.path.join(HERE, "sample_request.json")
    exp = exp or os.path.join(HERE, "sample_expected.json")
    ref = export._find_reference()
    if ref is None:
        print("tft_reference.py not found", file=sys.stderr)
        return 1
    sd, cfg = export.load_exported(model)
    with open(req) as f:
        request = json.load(f)
    with open(exp) as f:
        expected = json.load(f)
    x = preprocess_ref.preprocess(cfg, request)
    xin = {k: x[k] for k in ("encoder_cat", "decoder_cat", "encoder_cont", "decoder_cont", "encoder_lengths",
                             "decoder_lengths")}
    out = ref.tft_forward(sd, cfg["model"], xin, dtype=np.float64)["prediction"]
    out = out if isinstance(out, list) else [out]
    tn = cfg["dataset"]["target_normalizer"]
    tnl = tn["normalizers"] if tn["type"] == "multi" else [tn]
    worst = 0.0
    for j, (t, n) in enumerate(zip(cfg["dataset"]["target"], tnl)):
        y = ref.transform_output(out[j], x["target_scale"][:, j], n.get("transformation"))
        for b, s in enumerate(request["series"]):
            sid = s.get("id", str(b))
            e = np.asarray(expected["targets"][t][sid])
            err = np.abs(y[b, :len(e)] - e) / np.maximum(1.0, np.abs(e))
            worst = max(worst, float(err.max()))
            print(f"{t:>10} {sid:>10}: max rel err {err.max():.2e}  (median q at h=1: {e[0][len(e[0]) // 2]:.3f})")
    ok = worst < 1e-4
    print(f"{'OK' if ok else 'FAIL'}: worst relative error {worst:.2e} (expected values rounded to 1e-6)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
