#!/usr/bin/env python3
"""Checks export.py's EncoderNormalizer forms without torch: method="robust" (with its method_kwargs
quantiles) and max_length=[center rows, scale rows] are written as FORMAT.md says; malformed ones (a
max_length list that is not two positive integers, robust method_kwargs other than center / lower /
upper) are refused with a message naming them.

    python3 weights/check_export_normalizers.py     # NumPy only (stand-in pytorch_forecasting classes); CI runs it

check_refusals.py runs such cases through the real library when torch is installed;
weights/goldens/encoder_robust checks libtft's fits against the library's.
"""
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def stub_library():
    """A stand-in pytorch_forecasting.data.encoders holding the classes export._normalizer dispatches on."""
    enc = types.ModuleType("pytorch_forecasting.data.encoders")

    class EncoderNormalizer:  # the attributes export.py reads from pytorch-forecasting's class
        def __init__(self, method="standard", center=True, max_length=None, transformation=None,
                     method_kwargs=None):
            self.method, self.center, self.max_length = method, center, max_length
            self.transformation, self.method_kwargs = transformation, method_kwargs or {}

    enc.EncoderNormalizer = EncoderNormalizer
    for name in ("GroupNormalizer", "MultiNormalizer", "NaNLabelEncoder", "TorchNormalizer"):
        setattr(enc, name, type(name, (), {}))
    for mod in ("pytorch_forecasting", "pytorch_forecasting.data"):
        sys.modules.setdefault(mod, types.ModuleType(mod))
    sys.modules["pytorch_forecasting.data.encoders"] = enc
    return enc


def main():
    enc = stub_library()
    import export  # noqa: E402 (after the stand-in)
    ctx = {"group_ids": ["series"], "encoders": {}, "encoded_cols": set()}
    refused = [("max_length of one", dict(max_length=[4]), "max_length [4] is not [center rows, scale rows]"),
               ("max_length of three", dict(max_length=[4, 8, 2]), "is not [center rows, scale rows]"),
               ("max_length zero", dict(max_length=(0, 8)), "(0, 8) is not [center rows, scale rows]"),
               ("max_length of reals", dict(max_length=[4.5, 8]), "(two positive integers)"),
               ("robust, unknown kwargs", dict(method="robust", method_kwargs={"iqr": 0.5}),
                "method_kwargs ['iqr'] are not among center, lower, upper")]
    accepted = [("standard", dict(), {"method": "standard", "max_length": None, "center": True}),
                ("standard, max_length 12", dict(max_length=12), {"method": "standard", "max_length": 12}),
                ("identity, log", dict(method="identity", transformation="log"),
                 {"method": "identity", "transformation": "log"}),
                ("robust", dict(method="robust"), {"method": "robust", "max_length": None, "method_kwargs": {}}),
                ("robust, quantiles", dict(method="robust", method_kwargs={"lower": 0.1, "upper": 0.9}),
                 {"method": "robust", "method_kwargs": {"lower": 0.1, "upper": 0.9}}),
                ("max_length range", dict(max_length=[16, 6]), {"method": "standard", "max_length": [16, 6]}),
                ("robust, max_length tuple", dict(method="robust", max_length=(5, 20)),
                 {"method": "robust", "max_length": [5, 20]})]
    bad = 0
    for target in (True, False):  # a target normalizer, and a normalizer used as a covariate scaler
        for name, kw, want in refused:
            try:
                export._normalizer("y", enc.EncoderNormalizer(**kw), ctx, target)
                ok, msg = False, "exported"
            except export.ExportError as e:
                ok, msg = want in str(e) and "'y'" in str(e), f"refused: {e}"
            bad += not ok
            print(f"[{'ok' if ok else 'FAIL'}] {name} (target={target}): {msg}")
        for name, kw, want in accepted:
            out = export._normalizer("y", enc.EncoderNormalizer(**kw), ctx, target)
            ok = out["type"] == "encoder" and all(out[k] == v for k, v in want.items())
            bad += not ok
            print(f"[{'ok' if ok else 'FAIL'}] {name} (target={target}): {out}")
    print("all EncoderNormalizer export checks passed" if not bad else f"{bad} check(s) FAILED")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
