"""Errors of libtft as Python exceptions.

Every failing libtft call becomes a :class:`TftError` carrying the engine's status (an
:class:`Status`, whose ``.name`` is the C enumerator such as ``TFT_ERR_SHAPE``) and its
``tft_last_error()`` text, verbatim. Nothing is parsed out of that text: the detail code, the series,
the field and the value index a failure concerns are separate attributes (``code``, ``series``,
``series_id``, ``field``, ``index``), filled from the engine's structured error
(``tft_last_error_detail()``), ``None`` where the error is not about one.
"""

from __future__ import annotations

import enum
from typing import Optional, Sequence

from . import _capi


class Status(enum.IntEnum):
    """tft_status (engine/tft.h). ``Status.ERR_SHAPE.c_name == "TFT_ERR_SHAPE"``."""

    OK = 0
    ERR_INVALID_ARG = -1
    ERR_NOMEM = -2
    ERR_IO = -3
    ERR_FORMAT = -4
    ERR_SHAPE = -5
    ERR_CAPACITY = -6
    ERR_NONFINITE = -7
    ERR_BACKEND = -8
    ERR_UNSUPPORTED = -9
    ERR_UNKNOWN_VAR = -10
    ERR_CATEGORY = -11
    ERR_TIME_INDEX = -12

    @property
    def c_name(self) -> str:
        """The library's own name for the status (tft_status_str)."""
        return str(_capi.lib.tft_status_str(int(self)).decode())


class TftError(Exception):
    """A libtft call failed (or the binding found the same class of problem before calling it).

    Attributes:
        status: the tft_status.
        status_name: its C name ("TFT_ERR_SHAPE").
        message: the engine's one-line detail (tft_last_error()), or the binding's own for problems
            it finds itself (a DataFrame without the group or time columns).
        series: index of the offending series in the call (``None`` when not known).
        series_id: that series' key (its group id values) when the binding knows it.
        field: the offending variable, tensor or config key (``"history.cpu_pct"``; ``None`` when
            not known).
        code: the engine's detail code, snake_case (``"history_too_short"``, ``"unknown_category"``;
            see tft_error_code in tft.h), or ``None`` for problems the binding finds itself.
        index: the offending value's index in its column or tensor (``None`` when not about one).
    """

    def __init__(self, status: int, message: str, *, series: Optional[int] = None,
                 series_id: Optional[object] = None, field: Optional[str] = None,
                 code: Optional[str] = None, index: Optional[int] = None):
        try:
            self.status: Status | int = Status(status)
        except ValueError:  # a status newer than this binding
            self.status = status
        self.status_name: str = _capi.lib.tft_status_str(int(status)).decode()
        self.message = message
        self.series = series
        self.series_id = series_id
        self.field = field
        self.code = code
        self.index = index
        super().__init__(f"{self.status_name}: {message}")


def raise_for(status: int, *, series_offset: int = 0, series_ids: Optional[Sequence[object]] = None) -> None:
    """Raises TftError for a failed call (status != TFT_OK), with tft_last_error() of this thread.

    series_offset / series_ids turn a series index reported within a call (a chunk of a larger
    forecast) into the index and key of the caller's whole request, once libtft reports the index as
    structured data (tft_last_error_detail).
    """
    if status == 0:
        return
    message = (_capi.lib.tft_last_error() or b"").decode(errors="replace")
    series, field, code, index = _structured_detail()
    series_id = None
    if series is not None:
        series += series_offset
        if series_ids is not None and 0 <= series < len(series_ids):
            series_id = series_ids[series]
    raise TftError(status, message, series=series, series_id=series_id, field=field, code=code, index=index)


def _structured_detail() -> tuple[Optional[int], Optional[str], Optional[str], Optional[int]]:
    """(series index within the call, field, detail code name, value index) of the last failure on
    this thread, from libtft's structured error (tft_last_error_detail); None where not given."""
    d = _capi.lib.tft_last_error_detail().contents
    series = int(d.series) if d.series >= 0 else None
    field = d.field.decode(errors="replace") or None
    code = _capi.lib.tft_error_code_str(d.code).decode()
    index = int(d.index) if d.index >= 0 else None
    return series, field, code, index
