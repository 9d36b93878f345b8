#!/usr/bin/env python3
"""Checks export.py's EncoderNormalizer handling without torch: the two options libtft does not fit
(method="robust", max_length=[min, max]) are refused with a message naming them, and the supported
forms (standard / identity, integer or no max_length) are written as FORMAT.md says.

    python3 weights/check_export_normalizers.py     # NumPy only (stand-in pytorch_forecasting classes); CI runs it

check_refusals.py runs the same cases through the real library when torch is installed.
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
    refused = [("robust", dict(method="robust"), 'EncoderNormalizer(method="robust") is not supported'),
               ("robust with max_length", dict(method="robust", max_length=10), 'method="robust"'),
               ("max_length range", dict(max_length=[4, 12]), "EncoderNormalizer(max_length=[4, 12]) (a [min, max] "
                                                              "range) is not supported"),
               ("max_length tuple", dict(max_length=(4, 12)), "max_length=[4, 12]")]
    accepted = [("standard", dict(), {"method": "standard", "max_length": None, "center": True}),
                ("standard, max_length 12", dict(max_length=12), {"method": "standard", "max_length": 12}),
                ("identity, log", dict(method="identity", transformation="log"),
                 {"method": "identity", "transformation": "log"})]
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
