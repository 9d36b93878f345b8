"""ctypes declarations of engine/tft.h (the one public header of libtft).

Only this module knows the C layout. The structs mirror tft.h field for field; the array-of-struct
types that a forecast fills in bulk (tft_column, tft_series) also get a NumPy dtype with the same
offsets (checked against ctypes below), so a whole batch of series is described by vector
arithmetic on pointers instead of a Python loop over ctypes objects.

ctypes rather than cffi: ctypes is in the standard library, so the package needs no compiler and no
extra dependency at install or run time (the wheel only carries libtft.so), and every call through a
``ctypes.CDLL`` releases the GIL, which is what lets other Python threads (and Spark's Arrow I/O
thread) run during a forward. cffi's ABI mode would do the same with one more dependency; its API
mode would need a compiler at install time for a header of 20 functions.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import POINTER, c_char_p, c_float, c_int, c_int32, c_int64, c_size_t, c_void_p
from pathlib import Path

import numpy as np

# --- structs (engine/tft.h) ----------------------------------------------------------------------

c_str_array = POINTER(c_char_p)  # const char *const *


class ModelInfoC(ctypes.Structure):
    """tft_model_info. Only read through a pointer the library owns, so fields appended to the C
    struct later do not break this prefix."""

    _fields_ = [
        ("hidden_size", c_int32), ("lstm_layers", c_int32), ("n_heads", c_int32),
        ("max_encoder_length", c_int32), ("min_encoder_length", c_int32),
        ("max_prediction_length", c_int32), ("min_prediction_length", c_int32),
        ("n_targets", c_int32), ("n_quantiles", c_int32),
        ("targets", c_str_array), ("quantiles", POINTER(c_float)),
        ("n_parameters", c_int64),
        ("n_reals", c_int32), ("n_cats", c_int32), ("reals", c_str_array), ("cats", c_str_array),
        ("n_static_vars", c_int32), ("n_encoder_vars", c_int32), ("n_decoder_vars", c_int32),
        ("static_vars", c_str_array), ("encoder_vars", c_str_array), ("decoder_vars", c_str_array),
        ("n_static_inputs", c_int32), ("static_inputs", c_str_array),
        ("n_history_inputs", c_int32), ("history_inputs", c_str_array),
        ("n_future_inputs", c_int32), ("future_inputs", c_str_array),
        ("sha256", c_char_p),
        ("max_lag", c_int32),
        ("time_idx", c_char_p), ("n_group_ids", c_int32), ("group_ids", c_str_array),
    ]


class ContextParamsC(ctypes.Structure):
    _fields_ = [("max_batch", c_int32), ("n_threads", c_int32), ("max_memory_mib", c_int32),
                ("checked_input", c_int32), ("reserved", c_int32 * 4)]


class ErrorC(ctypes.Structure):
    """tft_error: the last failure on the calling thread, as data (tft_last_error_detail)."""

    _fields_ = [("status", c_int), ("code", c_int), ("series", c_int32), ("index", c_int32),
                ("field", ctypes.c_char * 128), ("message", ctypes.c_char * 512), ("reason_at", c_int32)]


class NetInputC(ctypes.Structure):
    _fields_ = [
        ("n", c_int32), ("enc_steps", c_int32), ("dec_steps", c_int32),
        ("encoder_cat", c_void_p), ("encoder_cont", c_void_p),
        ("decoder_cat", c_void_p), ("decoder_cont", c_void_p),
        ("encoder_lengths", c_void_p), ("decoder_lengths", c_void_p), ("target_scale", c_void_p),
    ]


class NetOutputC(ctypes.Structure):
    _fields_ = [
        ("prediction_normalized", c_void_p), ("prediction", c_void_p),
        ("encoder_attention", c_void_p), ("decoder_attention", c_void_p),
        ("static_weights", c_void_p), ("encoder_weights", c_void_p), ("decoder_weights", c_void_p),
    ]


class ColumnC(ctypes.Structure):
    _fields_ = [("name", c_void_p), ("values", c_void_p), ("labels", c_void_p), ("len", c_int32)]


class SeriesC(ctypes.Structure):
    _fields_ = [
        ("id", c_void_p), ("n_history", c_int32), ("horizon", c_int32),
        ("statics", c_void_p), ("n_statics", c_int32),
        ("history", c_void_p), ("n_history_columns", c_int32),
        ("future", c_void_p), ("n_future_columns", c_int32),
        ("time_idx", c_void_p),
    ]


class ForecastOutputC(ctypes.Structure):
    _fields_ = [
        ("quantiles", c_void_p), ("encoder_lengths", c_void_p), ("attention", c_void_p),
        ("static_weights", c_void_p), ("encoder_weights", c_void_p), ("decoder_weights", c_void_p),
    ]


def _numpy_dtype(struct: type[ctypes.Structure]) -> np.dtype:
    """The NumPy dtype with the struct's exact field offsets and size (pointers as uintp)."""
    names, formats, offsets = [], [], []
    for f in struct._fields_:
        name, ctype = f[0], f[1]
        names.append(name)
        formats.append(np.uintp if ctype is c_void_p else np.dtype(ctype))
        offsets.append(getattr(struct, name).offset)
    dt = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": ctypes.sizeof(struct)})
    assert dt.itemsize == ctypes.sizeof(struct)
    return dt


COLUMN_DTYPE = _numpy_dtype(ColumnC)  # tft_column: 32 bytes on LP64
SERIES_DTYPE = _numpy_dtype(SeriesC)  # tft_series: 72 bytes on LP64

# --- the library ---------------------------------------------------------------------------------


def library_path() -> str:
    """libtft.so: $TFT_LIBRARY if set (a build tree, a sanitizer build), else the copy in the wheel."""
    env = os.environ.get("TFT_LIBRARY")
    if env:
        return env
    return str(Path(__file__).resolve().parent / "libtft.so")


def _load() -> ctypes.CDLL:
    path = library_path()
    try:
        lib = ctypes.CDLL(path)  # CDLL (not PyDLL): the GIL is released for the duration of each call
    except OSError as e:
        raise ImportError(f"tft: cannot load libtft from {path}: {e} (set TFT_LIBRARY to a built libtft.so)") from e
    sig = {
        "tft_version_number": (c_int, []),
        "tft_version_string": (c_char_p, []),
        "tft_status_str": (c_char_p, [c_int]),
        "tft_last_error": (c_char_p, []),
        "tft_last_error_detail": (POINTER(ErrorC), []),
        "tft_error_code_str": (c_char_p, [c_int]),
        "tft_model_load": (c_int, [c_char_p, c_void_p, POINTER(c_void_p)]),
        "tft_model_load_memory": (c_int, [c_void_p, c_size_t, c_void_p, POINTER(c_void_p)]),
        "tft_model_free": (None, [c_void_p]),
        "tft_model_get_info": (POINTER(ModelInfoC), [c_void_p]),
        "tft_model_input_is_categorical": (c_int, [c_void_p, c_char_p]),
        "tft_context_default_params": (ContextParamsC, []),
        "tft_context_new": (c_int, [c_void_p, POINTER(ContextParamsC), POINTER(c_void_p)]),
        "tft_context_free": (None, [c_void_p]),
        "tft_context_bytes": (c_size_t, [c_void_p]),
        "tft_predict_net": (c_int, [c_void_p, POINTER(NetInputC), POINTER(NetOutputC)]),
        "tft_forecast": (c_int, [c_void_p, c_void_p, c_int32, POINTER(ForecastOutputC)]),
        "tft_series_check": (c_int, [c_void_p, c_void_p, c_int32]),
    }
    for name, (restype, argtypes) in sig.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


lib = _load()

# The header this binding was written against; the library reports its own (tft_version_number).
HEADER_VERSION_NUMBER = 100  # TFT_VERSION_NUMBER of tft.h 0.1.0
if lib.tft_version_number() // 10000 != HEADER_VERSION_NUMBER // 10000:
    raise ImportError(f"tft: libtft {lib.tft_version_string().decode()} has another ABI major version than "
                      f"this binding (written for {HEADER_VERSION_NUMBER})")
