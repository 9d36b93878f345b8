"""tft.Model: a loaded TFT and its forecasts on pandas DataFrames and NumPy arrays."""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np
import pandas as pd

from . import _capi
from ._capi import lib
from .errors import Status, TftError, raise_for

DEFAULT_BATCH = 64  # series per tft_forecast call: the engine has no batching gain on a CPU (bench/RESULTS.md),
#                     so this only bounds the context's workspace


@dataclass(frozen=True)
class ModelInfo:
    """What a model is and what a request must contain (tft_model_info). Names are the training DataFrame's column names."""

    sha256: str
    hidden_size: int
    lstm_layers: int
    n_heads: int
    n_parameters: int
    max_encoder_length: int      # history rows used
    min_encoder_length: int      # history rows required
    max_prediction_length: int   # the longest horizon
    min_prediction_length: int
    targets: Tuple[str, ...]
    quantiles: Tuple[float, ...]
    time_idx: str                # the time column of the long-format DataFrame
    group_ids: Tuple[str, ...]   # the columns naming a series
    static_inputs: Tuple[str, ...]   # group ids + static categoricals + static reals
    history_inputs: Tuple[str, ...]  # every time-varying column the encoder reads (targets included)
    future_inputs: Tuple[str, ...]   # every known column (its future rows are read)
    categorical_inputs: FrozenSet[str]  # the inputs whose values are labels (strings)
    reals: Tuple[str, ...]           # network level: x_reals order (predict_net's *_cont columns)
    cats: Tuple[str, ...]            # network level: x_categoricals order (predict_net's *_cat columns)
    static_vars: Tuple[str, ...]     # variable-selection widths / names (interpretation outputs)
    encoder_vars: Tuple[str, ...]
    decoder_vars: Tuple[str, ...]

    @property
    def quantile_columns(self) -> Tuple[str, ...]:
        """Column names of the quantiles in predict()'s result, in percent: 0.02 -> "p2", 0.5 -> "p50",
        0.975 -> "p97_5" (no dots: Spark reads a dot in a column name as a struct field)."""
        return tuple(f"p{q * 100:g}".replace(".", "_") for q in self.quantiles)


@dataclass
class Interpretation:
    """The attention and variable-selection weights of a series-level forecast (tft.h's layout).

    B = series (in the order of ``series``), T = horizon, Temax = max_encoder_length, nh = heads."""

    series: pd.DataFrame          # [B] the key values of each series (the 'by' columns, then the group ids)
    encoder_lengths: np.ndarray   # [B] history rows used
    attention: np.ndarray         # [B, T, nh, Temax + T]: the encoder steps (left-aligned, 0 past the
    #                               series' length), then the T decoder steps
    static_weights: np.ndarray    # [B, len(info.static_vars)]
    encoder_weights: np.ndarray   # [B, Temax, len(info.encoder_vars)] (0 past the series' length)
    decoder_weights: np.ndarray   # [B, T, len(info.decoder_vars)]


@dataclass
class NetOutput:
    """Outputs of predict_net (pytorch-forecasting's forward()); the interpretation fields are None
    unless interpret=True. B series, Td decoder steps, Te encoder steps, nt targets, Q quantiles."""

    prediction: np.ndarray                 # [B, nt, Td, Q] de-normalized
    prediction_normalized: np.ndarray      # [B, nt, Td, Q] before de-normalization
    encoder_attention: Optional[np.ndarray] = None   # [B, Td, nh, Te]
    decoder_attention: Optional[np.ndarray] = None   # [B, Td, nh, Td]
    static_weights: Optional[np.ndarray] = None      # [B, n_static_vars]
    encoder_weights: Optional[np.ndarray] = None     # [B, Te, n_encoder_vars]
    decoder_weights: Optional[np.ndarray] = None     # [B, Td, n_decoder_vars]


def _strings(arr: Any, n: int) -> Tuple[str, ...]:
    return tuple(arr[i].decode() for i in range(n))


class Model:
    """A TFT exported with weights/export.py, loaded by libtft.

    A Model may be shared by threads: each thread gets its own tft_context (the engine's per-thread
    workspace) on first use. ``close()`` (or ``with Model(...) as m``) frees the engine's memory;
    it must not race with a forecast in another thread.
    """

    def __init__(self, path: Union[str, Path]):
        handle = ctypes.c_void_p()
        raise_for(lib.tft_model_load(str(path).encode(), None, ctypes.byref(handle)))
        self._init(handle)
        self.path: Optional[str] = str(path)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Model":
        """Loads a model from the bytes of its file (libtft copies them)."""
        self = cls.__new__(cls)
        handle = ctypes.c_void_p()
        raise_for(lib.tft_model_load_memory(data, len(data), None, ctypes.byref(handle)))
        self._init(handle)
        self.path = None
        return self

    def _init(self, handle: ctypes.c_void_p) -> None:
        self._handle: Optional[ctypes.c_void_p] = handle
        self._local = threading.local()      # this thread's contexts, by (max_batch, n_threads)
        self._all_contexts: List[ctypes.c_void_p] = []
        self._lock = threading.Lock()
        mi = lib.tft_model_get_info(handle).contents
        inputs = (_strings(mi.static_inputs, mi.n_static_inputs) + _strings(mi.history_inputs, mi.n_history_inputs)
                  + _strings(mi.future_inputs, mi.n_future_inputs))
        self.info = ModelInfo(
            sha256=mi.sha256.decode(), hidden_size=mi.hidden_size, lstm_layers=mi.lstm_layers, n_heads=mi.n_heads,
            n_parameters=mi.n_parameters, max_encoder_length=mi.max_encoder_length,
            min_encoder_length=mi.min_encoder_length, max_prediction_length=mi.max_prediction_length,
            min_prediction_length=mi.min_prediction_length, targets=_strings(mi.targets, mi.n_targets),
            quantiles=tuple(float(mi.quantiles[i]) for i in range(mi.n_quantiles)),
            time_idx=mi.time_idx.decode(), group_ids=_strings(mi.group_ids, mi.n_group_ids),
            static_inputs=_strings(mi.static_inputs, mi.n_static_inputs),
            history_inputs=_strings(mi.history_inputs, mi.n_history_inputs),
            future_inputs=_strings(mi.future_inputs, mi.n_future_inputs),
            categorical_inputs=frozenset(n for n in inputs if lib.tft_model_input_is_categorical(handle, n.encode()) == 1),
            reals=_strings(mi.reals, mi.n_reals), cats=_strings(mi.cats, mi.n_cats),
            static_vars=_strings(mi.static_vars, mi.n_static_vars),
            encoder_vars=_strings(mi.encoder_vars, mi.n_encoder_vars),
            decoder_vars=_strings(mi.decoder_vars, mi.n_decoder_vars),
        )

    # --- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Frees every context (of every thread), then the model. Idempotent."""
        with self._lock:
            for c in self._all_contexts:
                lib.tft_context_free(c)
            self._all_contexts.clear()
            self._local = threading.local()
            if self._handle is not None:
                lib.tft_model_free(self._handle)
                self._handle = None

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            self.close()

    def __repr__(self) -> str:
        i = self.info
        return (f"tft.Model({self.path!r}: {i.n_parameters} parameters, targets {list(i.targets)}, "
                f"history {i.max_encoder_length}, horizon {i.max_prediction_length}, {len(i.quantiles)} quantiles)")

    def _new_context(self, max_batch: int, threads: int) -> ctypes.c_void_p:
        if self._handle is None:
            raise TftError(Status.ERR_INVALID_ARG, "the model was closed")
        if threads < 1 or max_batch < 1:
            raise TftError(Status.ERR_INVALID_ARG, f"threads ({threads}) and batch_size ({max_batch}) must be >= 1")
        p = lib.tft_context_default_params()
        p.max_batch, p.n_threads = max_batch, threads
        ctx = ctypes.c_void_p()
        raise_for(lib.tft_context_new(self._handle, ctypes.byref(p), ctypes.byref(ctx)))
        with self._lock:
            self._all_contexts.append(ctx)
        return ctx

    def _context(self, max_batch: int, threads: int) -> ctypes.c_void_p:
        """This thread's context for (max_batch, threads), made on first use."""
        cache: Dict[Tuple[int, int], ctypes.c_void_p] = self._local.__dict__.setdefault("contexts", {})
        key = (max_batch, threads)
        if key not in cache:
            cache[key] = self._new_context(max_batch, threads)
        return cache[key]

    def _net_context(self, n: int, threads: int) -> ctypes.c_void_p:
        """This thread's context for predict_net: one per thread, replaced by a larger one when a
        call has more series than it was made for (only this thread ever uses it)."""
        have: Optional[Tuple[int, int, ctypes.c_void_p]] = self._local.__dict__.get("net")
        if have is not None and have[0] >= n and have[1] == threads:
            return have[2]
        ctx = self._new_context(n, threads)
        if have is not None:
            with self._lock:
                self._all_contexts = [c for c in self._all_contexts if c is not have[2]]
            lib.tft_context_free(have[2])
        self._local.net = (n, threads, ctx)
        return ctx

    def context_bytes(self, batch_size: int = DEFAULT_BATCH, threads: int = 1) -> int:
        """Workspace bytes of this thread's context for (batch_size, threads) (tft_context_bytes)."""
        return int(lib.tft_context_bytes(self._context(batch_size, threads)))

    # --- series level --------------------------------------------------------------------------

    @overload
    def predict(self, df: pd.DataFrame, horizon: Optional[int] = ..., interpret: Literal[False] = ...,
                threads: int = ..., batch_size: int = ..., by: Sequence[str] = ...) -> pd.DataFrame: ...

    @overload
    def predict(self, df: pd.DataFrame, horizon: Optional[int] = ..., *, interpret: Literal[True],
                threads: int = ..., batch_size: int = ..., by: Sequence[str] = ...) -> Tuple[pd.DataFrame, Interpretation]: ...

    def predict(self, df: pd.DataFrame, horizon: Optional[int] = None, interpret: bool = False, threads: int = 1,
                batch_size: int = DEFAULT_BATCH, by: Sequence[str] = ()) -> Union[pd.DataFrame, Tuple[pd.DataFrame, Interpretation]]:
        """Forecasts every series of a long-format DataFrame, as pytorch-forecasting's predict(df).

        ``df`` has the training frame's columns: one row per series (``info.group_ids``) and time
        step (``info.time_idx``), in any order. Each series' last ``horizon`` rows (by time) are its
        future (their known columns are read, their target and unknown columns may hold anything,
        NaN included), the rows before them its history (the last ``max_encoder_length`` are used).
        ``horizon`` defaults to ``max_prediction_length``. Time steps must be consecutive integers.

        Returns one row per (series, target, step): the group id columns, ``time_idx`` (of the
        forecast step), ``target``, ``step`` (1 = the first future row) and one column per quantile
        (``info.quantile_columns``), in the data's units. Series come in the order they first appear
        in ``df``. With ``interpret=True``, also the attention and variable weights.

        ``by`` names extra columns that, with the group ids, tell series apart (several scenarios or
        backtest windows of one group, say); they lead the result's key columns.
        ``threads`` splits each call's series over that many engine threads (the GIL is released
        during the forward either way); ``batch_size`` series go to the engine per call.
        Raises TftError (status + the engine's message) on bad input.
        """
        info = self.info
        T = info.max_prediction_length if horizon is None else int(horizon)
        frame = _SeriesFrame(df, info, T, by)
        B, nt, Q = frame.n_series, len(info.targets), len(info.quantiles)
        quantiles = np.empty((B, nt, T, Q), np.float32)
        interp = None
        if interpret:
            Tm, nh = info.max_encoder_length, info.n_heads
            interp = Interpretation(series=frame.keys, encoder_lengths=np.empty(B, np.int32),
                                    attention=np.empty((B, T, nh, Tm + T), np.float32),
                                    static_weights=np.empty((B, len(info.static_vars)), np.float32),
                                    encoder_weights=np.empty((B, Tm, len(info.encoder_vars)), np.float32),
                                    decoder_weights=np.empty((B, T, len(info.decoder_vars)), np.float32))
        # one context per (batch_size, threads) and thread, whatever B is: a context sized by each
        # call's B would leave one cached workspace per distinct series count (Spark's Arrow batches)
        batch = batch_size
        ctx = self._context(batch, threads) if B else None
        for lo in range(0, B, batch):
            hi = min(B, lo + batch)
            out = _capi.ForecastOutputC(quantiles=_row_ptr(quantiles, lo))
            if interp is not None:
                out.encoder_lengths = _row_ptr(interp.encoder_lengths, lo)
                out.attention = _row_ptr(interp.attention, lo)
                out.static_weights = _row_ptr(interp.static_weights, lo)
                out.encoder_weights = _row_ptr(interp.encoder_weights, lo)
                out.decoder_weights = _row_ptr(interp.decoder_weights, lo)
            status = lib.tft_forecast(ctx, _row_ptr(frame.series, lo), hi - lo, ctypes.byref(out))
            raise_for(status, series_offset=lo, series_ids=frame.ids)
        result = frame.result(quantiles)
        return (result, interp) if interp is not None else result

    def check(self, df: pd.DataFrame, horizon: Optional[int] = None, by: Sequence[str] = ()) -> None:
        """Validates a DataFrame as predict() would (columns, lengths, labels, time index, finiteness)
        without running the model (tft_series_check); raises TftError on the first problem."""
        T = self.info.max_prediction_length if horizon is None else int(horizon)
        frame = _SeriesFrame(df, self.info, T, by)
        if self._handle is None:
            raise TftError(Status.ERR_INVALID_ARG, "the model was closed")
        raise_for(lib.tft_series_check(self._handle, _row_ptr(frame.series, 0), frame.n_series),
                  series_ids=frame.ids)

    # --- network level -------------------------------------------------------------------------

    def predict_net(self, encoder_cat: Optional[np.ndarray], encoder_cont: np.ndarray,
                    decoder_cat: Optional[np.ndarray], decoder_cont: np.ndarray, encoder_lengths: np.ndarray,
                    decoder_lengths: np.ndarray, target_scale: np.ndarray, interpret: bool = False,
                    threads: int = 1) -> NetOutput:
        """pytorch-forecasting's TemporalFusionTransformer.forward() on NumPy arrays (tft_predict_net).

        Shapes (B series, Te/Td the encoder/decoder extents, Nr = len(info.reals), Nc = len(info.cats),
        nt targets): encoder_cat [B, Te, Nc] int32, encoder_cont [B, Te, Nr] float32, decoder_cat
        [B, Td, Nc], decoder_cont [B, Td, Nr], encoder_lengths [B] (max = Te), decoder_lengths [B]
        (max = Td), target_scale [B, nt, 2]. Arrays already C-contiguous of that dtype are passed
        without a copy. *_cat may be None when the model has no categoricals. The batch goes to the
        engine in one call (this thread's network-level context grows to the largest B seen).
        """
        info = self.info
        Nr, Nc, nt = len(info.reals), len(info.cats), len(info.targets)
        ec = _as(encoder_cont, np.float32, 3, "encoder_cont")
        dc = _as(decoder_cont, np.float32, 3, "decoder_cont")
        B, Te, Td = ec.shape[0], ec.shape[1], dc.shape[1]
        if Nc == 0 and encoder_cat is None:
            encoder_cat = np.zeros((B, Te, 0), np.int32)
        if Nc == 0 and decoder_cat is None:
            decoder_cat = np.zeros((B, Td, 0), np.int32)
        if encoder_cat is None or decoder_cat is None:
            raise TftError(Status.ERR_INVALID_ARG, f"the model has {Nc} categoricals: encoder_cat and decoder_cat are required")
        ek = _as(encoder_cat, np.int32, 3, "encoder_cat")
        dk = _as(decoder_cat, np.int32, 3, "decoder_cat")
        el = _as(encoder_lengths, np.int32, 1, "encoder_lengths")
        dl = _as(decoder_lengths, np.int32, 1, "decoder_lengths")
        ts = _as(target_scale, np.float32, 3, "target_scale")
        want = {"encoder_cat": (ek, (B, Te, Nc)), "encoder_cont": (ec, (B, Te, Nr)), "decoder_cat": (dk, (B, Td, Nc)),
                "decoder_cont": (dc, (B, Td, Nr)), "encoder_lengths": (el, (B,)), "decoder_lengths": (dl, (B,)),
                "target_scale": (ts, (B, nt, 2))}
        for name, (a, shape) in want.items():
            if a.shape != shape:
                raise TftError(Status.ERR_SHAPE, f"{name} has shape {a.shape}, expected {shape}", field=name)
        Q, nh = len(info.quantiles), info.n_heads
        out = NetOutput(prediction=np.empty((B, nt, Td, Q), np.float32),
                        prediction_normalized=np.empty((B, nt, Td, Q), np.float32))
        if interpret:
            out.encoder_attention = np.empty((B, Td, nh, Te), np.float32)
            out.decoder_attention = np.empty((B, Td, nh, Td), np.float32)
            out.static_weights = np.empty((B, len(info.static_vars)), np.float32)
            out.encoder_weights = np.empty((B, Te, len(info.encoder_vars)), np.float32)
            out.decoder_weights = np.empty((B, Td, len(info.decoder_vars)), np.float32)
        # one engine call for the whole batch, as forward() takes it: tft.h wants the extents equal
        # to the longest series, which holds for the whole batch but not necessarily for a chunk
        ctx = self._net_context(B, threads) if B else None
        c_in = _capi.NetInputC(n=B, enc_steps=Te, dec_steps=Td, encoder_cat=ek.ctypes.data,
                               encoder_cont=ec.ctypes.data, decoder_cat=dk.ctypes.data,
                               decoder_cont=dc.ctypes.data, encoder_lengths=el.ctypes.data,
                               decoder_lengths=dl.ctypes.data, target_scale=ts.ctypes.data)
        c_out = _capi.NetOutputC(**{k: v.ctypes.data for k, v in vars(out).items() if v is not None})
        if B:
            raise_for(lib.tft_predict_net(ctx, ctypes.byref(c_in), ctypes.byref(c_out)))
        return out


# --- helpers ---------------------------------------------------------------------------------------


def _row_ptr(a: np.ndarray, row: int) -> int:
    """Address of a[row] (a C-contiguous array)."""
    return a.ctypes.data + row * (a.strides[0] if a.ndim else 0)


def _as(a: Any, dtype: Any, ndim: int, name: str) -> np.ndarray:
    arr = np.ascontiguousarray(a, dtype=dtype)  # no copy when already C-contiguous of that dtype
    if arr.ndim != ndim:
        raise TftError(Status.ERR_SHAPE, f"{name} has {arr.ndim} dimensions, expected {ndim}", field=name)
    return arr


class _SeriesFrame:
    """A long-format DataFrame as an array of tft_series that point into its columns.

    Each needed column is read once into a contiguous buffer in (series, time) order: zero-copy when
    the frame is already grouped by series and sorted by time and the column already has the engine's
    type (float64 for reals), else one gather. Categorical columns become one array of label
    pointers (the distinct labels are encoded once). Every series is then a set of (pointer, length)
    slices of those buffers, computed for all series at once with NumPy; nothing is copied per series.
    """

    def __init__(self, df: pd.DataFrame, info: ModelInfo, horizon: int, by: Sequence[str] = ()):
        self.info, self.horizon = info, horizon
        self.key_columns = list(dict.fromkeys([*by, *info.group_ids]))  # what tells series apart
        for col in (info.time_idx, *self.key_columns):
            if col not in df.columns:
                what = "time_idx" if col == info.time_idx else "group id" if col in info.group_ids else "'by' column"
                raise TftError(Status.ERR_UNKNOWN_VAR, f"the DataFrame has no column '{col}' (the model's {what})",
                               field=col)
        if horizon < 1:
            raise TftError(Status.ERR_SHAPE, f"horizon {horizon} must be >= 1", field="horizon")
        self.df = df
        n = len(df)
        codes = df.groupby(self.key_columns, sort=False, dropna=False).ngroup().to_numpy() if n else np.zeros(0, np.int64)
        t = df[info.time_idx].to_numpy()
        if not np.issubdtype(t.dtype, np.integer):
            raise TftError(Status.ERR_TIME_INDEX, f"time_idx column '{info.time_idx}' has dtype {t.dtype}, "
                           "expected integers", field=info.time_idx)
        # already grouped (ngroup numbers groups by first appearance: contiguous groups step by 0 or 1)
        # and sorted by time within each group? then no gather at all
        d = np.diff(codes)
        in_order = bool(np.all((d == 0) | (d == 1)) and np.all(np.diff(t)[d == 0] > 0))
        self.order: Optional[np.ndarray] = None if in_order else np.lexsort((t, codes))
        sorted_codes = codes if self.order is None else codes[self.order]
        self.starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if n else np.zeros(0, np.int64)
        self.lengths = np.diff(np.r_[self.starts, n]).astype(np.int64)
        self.n_series = B = len(self.starts)
        self.first_rows = self.starts if self.order is None else self.order[self.starts]  # in df's numbering
        self.keys = df[self.key_columns].iloc[self.first_rows].reset_index(drop=True)
        self.ids: List[object] = ([tuple(r) for r in self.keys.itertuples(index=False, name=None)]
                                  if len(self.key_columns) > 1 else list(self.keys.iloc[:, 0]))
        self.n_history = self.lengths - horizon
        short = np.flatnonzero(self.n_history < 0)
        if len(short):
            i = int(short[0])
            raise TftError(Status.ERR_SHAPE, f"series {i} {self.ids[i]!r} has {self.lengths[i]} rows, fewer than the "
                           f"horizon {horizon}", series=i, series_id=self.ids[i])
        self.time = np.ascontiguousarray(self._take(t), dtype=np.int64)
        if self.order is not None:  # a time step twice in one series: no order to give its rows
            dup = np.flatnonzero((np.diff(self.time) == 0) & (sorted_codes[1:] == sorted_codes[:-1]))
            if len(dup):
                i = int(np.searchsorted(self.starts, dup[0], side="right") - 1)
                raise TftError(Status.ERR_TIME_INDEX, f"series {i} {self.ids[i]!r}: time_idx {self.time[dup[0]]} "
                               "appears twice (add the columns that tell these series apart to 'by')",
                               series=i, series_id=self.ids[i], field=info.time_idx)
        self._keep: List[Any] = [self.time]
        id_blob, id_ptrs = self._cstrings([str(k) for k in self.ids])

        names = list(dict.fromkeys(info.static_inputs + info.history_inputs + info.future_inputs))
        buffers: Dict[str, Tuple[str, int]] = {}  # name -> ("values" | "labels", base address)
        for name in names:
            if name in df.columns:
                buffers[name] = self._column(name, name in info.categorical_inputs)
        name_blob, name_ptrs = self._cstrings(names)
        name_ptr = dict(zip(names, name_ptrs.tolist()))

        def columns(which: Tuple[str, ...], row0: np.ndarray, length: Any) -> np.ndarray:
            present = [c for c in which if c in buffers]
            cols = np.zeros((B, len(present)), _capi.COLUMN_DTYPE)
            for j, c in enumerate(present):
                kind, base = buffers[c]
                cols["name"][:, j] = name_ptr[c]
                cols[kind][:, j] = base + row0 * 8  # both buffers have 8-byte elements (double, char*)
                cols["len"][:, j] = length
            self._keep.append(cols)
            return cols

        statics = columns(info.static_inputs, self.starts, 1)
        history = columns(info.history_inputs, self.starts, self.n_history)
        future = columns(info.future_inputs, self.starts + self.n_history, horizon)
        s = np.zeros(B, _capi.SERIES_DTYPE)
        s["id"] = id_ptrs
        s["n_history"] = self.n_history
        s["horizon"] = horizon
        for part, count, cols in (("statics", "n_statics", statics), ("history", "n_history_columns", history),
                                  ("future", "n_future_columns", future)):
            width = cols.shape[1]  # series b's columns are row b of cols
            s[part] = (cols.ctypes.data + np.arange(B, dtype=np.uintp) * (width * cols.itemsize)) if width else 0
            s[count] = width
        s["time_idx"] = self.time.ctypes.data + self.starts * 8
        self.series = s
        self._keep += [id_blob, name_blob]

    def _take(self, a: np.ndarray) -> np.ndarray:
        return a if self.order is None else a[self.order]

    def _cstrings(self, strings: List[str]) -> Tuple[np.ndarray, np.ndarray]:
        """NUL-terminated UTF-8 strings in one buffer, and the address of each."""
        enc = [s.encode() for s in strings]
        blob = np.frombuffer(b"\0".join(enc) + b"\0", np.uint8)
        lens = np.fromiter((len(e) + 1 for e in enc), np.int64, len(enc))
        offsets = np.r_[0, np.cumsum(lens)[:-1]] if len(enc) else np.zeros(0, np.int64)
        return blob, (blob.ctypes.data + offsets).astype(np.uintp)

    def _column(self, name: str, categorical: bool) -> Tuple[str, int]:
        col = self.df[name]
        if not categorical:
            if not (pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype)):
                raise TftError(Status.ERR_INVALID_ARG, f"column '{name}' has dtype {col.dtype}; the model reads it "
                               "as a real (numbers)", field=name)
            # a float64 column is read in place (to_numpy with a dtype or na_value may copy it)
            raw = col.to_numpy() if col.dtype == np.float64 else col.to_numpy(dtype=np.float64, na_value=np.nan)
            values = np.ascontiguousarray(self._take(raw))
            self._keep.append(values)
            return "values", values.ctypes.data
        # labels: the distinct values once as C strings, then one gather of their addresses
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy()
            uniques = [str(u) for u in col.cat.categories]
        else:
            codes, u = pd.factorize(col, use_na_sentinel=True)
            uniques = [str(x) for x in u]
        uniques.append("nan")  # code -1 (a missing label): pytorch-forecasting's NaNLabelEncoder's "nan"
        blob, ptrs = self._cstrings(uniques)
        labels = np.ascontiguousarray(ptrs[self._take(np.asarray(codes))])
        self._keep += [blob, labels]
        return "labels", labels.ctypes.data

    def result(self, quantiles: np.ndarray) -> pd.DataFrame:
        """The tidy frame: one row per (series, target, step), quantiles as columns."""
        info, T = self.info, self.horizon
        B, nt, _, Q = quantiles.shape
        rows_per_series = nt * T
        out: Dict[str, Any] = {}
        for g in self.key_columns:
            out[g] = np.repeat(self.keys[g].to_numpy(), rows_per_series)
        future_time = self.time[(self.starts + self.n_history)[:, None] + np.arange(T)]  # [B, T]
        out[info.time_idx] = np.broadcast_to(future_time[:, None, :], (B, nt, T)).reshape(-1)
        out["target"] = pd.Categorical.from_codes(np.tile(np.repeat(np.arange(nt), T), B), categories=list(info.targets))
        out["step"] = np.tile(np.arange(1, T + 1, dtype=np.int32), B * nt)
        flat = quantiles.reshape(B * rows_per_series, Q)
        for k, name in enumerate(info.quantile_columns):
            out[name] = flat[:, k]
        return pd.DataFrame(out)
