"""Shared helpers of the Python tests: golden fixtures read with NumPy alone (no torch, no safetensors
package), and the engine's JSON request format turned into the long-format DataFrame a user has."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
GOLDENS = REPO / "weights" / "goldens"
DEFAULT_MODEL = REPO / "weights" / "default.safetensors"

_DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def read_safetensors(path: Path) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """(tensors, metadata) of a safetensors file: 8-byte header length, JSON header, raw data."""
    data = path.read_bytes()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, t in header.items():
        lo, hi = t["data_offsets"]
        tensors[name] = np.frombuffer(data, _DTYPES[t["dtype"]], (hi - lo) // np.dtype(_DTYPES[t["dtype"]]).itemsize,
                                      base + lo).reshape(t["shape"])
    return tensors, meta


def request_to_frame(request: Dict[str, Any], info: Any) -> pd.DataFrame:
    """The engine's request JSON (engine/cli/REQUEST.md) as the long-format training frame: per series,
    its history rows then its horizon future rows; statics repeated on every row; a history-only
    column is NaN (None for labels) on the future rows, as a user's frame would hold it."""
    horizon = request.get("horizon") or info.max_prediction_length
    frames = []
    for s in request["series"]:
        hist, fut = s["history"], s.get("future", {})
        n_hist = len(next(iter(hist.values())))
        rows = n_hist + horizon
        cols: Dict[str, Any] = {}
        for name, v in s.get("static", {}).items():
            cols[name] = [v] * rows
        for name in dict.fromkeys(list(hist) + list(fut)):
            pad = None if name in info.categorical_inputs else np.nan
            h = hist.get(name, [pad] * n_hist)
            f = fut.get(name, [pad] * horizon)
            cols[name] = list(h) + list(f)
        cols[info.time_idx] = s.get("time_idx", list(range(rows)))
        frames.append(pd.DataFrame(cols))
    df = pd.concat(frames, ignore_index=True)
    for name in info.categorical_inputs:
        if name in df.columns:
            df[name] = df[name].astype(object)
    return df


def golden_names() -> list:
    return sorted(p.name for p in GOLDENS.iterdir() if (p / "fixture.safetensors").exists())
