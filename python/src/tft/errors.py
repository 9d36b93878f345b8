"""Errors of libtft as Python exceptions.

Every failing libtft call becomes a :class:`TftError` carrying the engine's status (an
:class:`Status`, whose ``.name`` is the C enumerator such as ``TFT_ERR_SHAPE``) and its
``tft_last_error()`` text, verbatim. Nothing is parsed out of that text: the series and the field a
failure concerns are separate attributes (``series``, ``series_id``, ``field``), ``None`` until the
engine reports them as structured data; the binding fills them from that detail, not from the message.
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
        field: the offending variable's name (``None`` when not known).
    """

    def __init__(self, status: int, message: str, *, series: Optional[int] = None,
                 series_id: Optional[object] = None, field: Optional[str] = None):
        try:
            self.status: Status | int = Status(status)
        except ValueError:  # a status newer than this binding
            self.status = status
        self.status_name: str = _capi.lib.tft_status_str(int(status)).decode()
        self.message = message
        self.series = series
        self.series_id = series_id
        self.field = field
        super().__init__(f"{self.status_name}: {message}")


def raise_for(status: int, *, series_offset: int = 0, series_ids: Optional[Sequence[object]] = None) -> None:
    """Raises TftError for a failed call (status != TFT_OK), with tft_last_error() of this thread.

    series_offset / series_ids turn a series index reported within a call (a chunk of a larger
    forecast) into the index and key of the caller's whole request, once libtft reports the index as
    structured data (its error detail is being added to tft.h; until then series and field stay None).
    """
    if status == 0:
        return
    message = (_capi.lib.tft_last_error() or b"").decode(errors="replace")
    series, field = _structured_detail()
    series_id = None
    if series is not None:
        series += series_offset
        if series_ids is not None and 0 <= series < len(series_ids):
            series_id = series_ids[series]
    raise TftError(status, message, series=series, series_id=series_id, field=field)


def _structured_detail() -> tuple[Optional[int], Optional[str]]:
    """(series index within the call, field name) of the last failure on this thread, from libtft's
    structured error detail when the library has one; (None, None) with tft.h 0.1.0, which only has
    the text. The single place to wire that detail in."""
    return None, None
