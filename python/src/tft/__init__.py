"""tft: Temporal Fusion Transformer forecasts from pandas, on libtft (the native engine of this repository).

    import tft
    model = tft.Model("weights/default.safetensors")
    forecast = model.predict(df)      # df: the long-format frame the model was trained on

``Model.predict`` takes raw rows (your units, category labels) and returns one row per series,
target and step with a column per quantile; ``Model.predict_net`` takes pytorch-forecasting's
network-level tensors as NumPy arrays. ``tft.spark`` forecasts a Spark DataFrame. Errors raise
``TftError`` with the engine's status and message.
"""

from ._capi import library_path
from ._capi import lib as _lib
from .errors import Status, TftError
from .model import Interpretation, Model, ModelInfo, NetOutput

__version__ = "0.1.0"


def engine_version() -> str:
    """libtft's own version string ("0.1.0 isa=avx512 linear=avx512-fma cuda=0")."""
    return str(_lib.tft_version_string().decode())


__all__ = ["Model", "ModelInfo", "Interpretation", "NetOutput", "TftError", "Status", "engine_version",
           "library_path", "__version__"]
