"""The column-wise lane of the call parser: clean coordinate rows in one go.

:func:`fast_lane` takes the CSV columns and picks the rows that have a call id, a time written
``YYYY-MM-DD HH:MM[:SS]`` (naive, Asia/Shanghai) and usable coordinates (finite, in range, not
(0, 0), a known datum). For those it parses every time at once (pandas), converts each datum
group at once (:func:`geo.crs.to_wgs84` on arrays) and builds the points at once
(:func:`shapely.points`). Everything else is left to the row-by-row checks of
:mod:`ingest.call_row`, which give the quarantine reasons; both lanes give the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo.crs import to_wgs84
from ingest.validate import FUTURE_SLACK, RecordError, check_lonlat, normalize_datum

__all__ = ["FastRows", "fast_lane"]

_ISO_NAIVE = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?"


@dataclass
class FastRows:
    """The rows the column-wise lane took, and what it found for each of them.

    ``index`` holds row positions (into the columns); the other fields are aligned with it.
    """

    index: NDArray[np.int64]
    observed: list[datetime]
    future: NDArray[np.bool_]
    points: NDArray[Any]
    originals: list[dict[str, Any]]
    loc_flags: list[list[str]]


def _floats(values: Sequence[Any]) -> NDArray[np.float64]:
    """``float()`` of every cell (the same rule as the row-by-row lane), NaN where it fails."""
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        out = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                pass
        return out


def _datums(col: Sequence[Any] | None, n: int, default: str | None) -> NDArray[Any]:
    """Return the normalised datum of every row (None where unknown: left to the row lane)."""
    known: dict[Any, str | None] = {}
    raw = list(col) if col is not None else [None] * n
    out = np.empty(n, dtype=object)
    for i, v in enumerate(raw):
        if v not in known:
            given = v if v is not None and str(v).strip() not in ("", "nan", "None") else default
            try:
                known[v] = normalize_datum(given)
            except RecordError:
                known[v] = None
        out[i] = known[v]
    return out


def _times(col: Sequence[Any], ok: NDArray[np.bool_]) -> tuple[pd.Series, NDArray[np.bool_]]:
    ser = pd.Series(list(col), dtype=object).astype(str)
    ok = ok & ser.str.fullmatch(_ISO_NAIVE).to_numpy(dtype=bool)
    parsed = pd.to_datetime(ser.where(ok), format="ISO8601", errors="coerce")
    ok = ok & parsed.notna().to_numpy()
    when = parsed.dt.tz_localize("Asia/Shanghai").dt.tz_convert(UTC)
    return when, ok


def _convert(
    xs: NDArray[np.float64], ys: NDArray[np.float64], datums: NDArray[Any], ok: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    wx, wy = xs.copy(), ys.copy()
    for d in ("gcj02", "bd09"):
        sel = ok & (datums == d)
        if not sel.any():
            continue
        try:
            cx, cy = to_wgs84(xs[sel], ys[sel], d)
        except ValueError:
            ok = ok & ~sel
            continue
        wx[sel], wy[sel] = np.atleast_1d(cx), np.atleast_1d(cy)
    return wx, wy, ok


def fast_lane(
    cols: Mapping[str, Sequence[Any]],
    n: int,
    *,
    default_datum: str | None,
    locator: Any,
    now: datetime | None,
) -> FastRows:
    """Take the clean coordinate rows of `cols` (see the module docstring)."""
    empty = FastRows(np.array([], dtype=np.int64), [], np.array([], bool), np.array([]), [], [])
    if n == 0 or not all(k in cols for k in ("call_id", "time", "lon", "lat")):
        return empty
    ok = np.fromiter((bool(c) for c in cols["call_id"]), dtype=bool, count=n)
    xs, ys = _floats(cols["lon"]), _floats(cols["lat"])
    ok &= np.isfinite(xs) & np.isfinite(ys) & (np.abs(xs) <= 180) & (np.abs(ys) <= 90)
    ok &= ~((xs == 0.0) & (ys == 0.0))
    datums = _datums(cols.get("datum"), n, default_datum)
    ok &= datums != None  # noqa: E711 (element-wise on an object array)
    when, ok = _times(cols["time"], ok)
    wx, wy, ok = _convert(xs, ys, datums, ok)
    index = np.flatnonzero(ok)
    if index.size == 0:
        return empty
    sel = when.iloc[index]
    ref = pd.Timestamp(now or datetime.now(UTC))
    future = (sel > ref + FUTURE_SLACK).to_numpy(dtype=bool)
    observed = list(sel.dt.to_pydatetime())
    px, py = wx[index], wy[index]
    points = shapely.points(px, py)
    rx, ry, rd = xs[index].tolist(), ys[index].tolist(), datums[index].tolist()
    originals = [{"lon": a, "lat": b, "datum": d} for a, b, d in zip(rx, ry, rd, strict=True)]
    if locator is None:
        loc_flags: list[list[str]] = [[] for _ in range(index.size)]
    else:
        loc_flags = [
            check_lonlat(a, b, locator) for a, b in zip(px.tolist(), py.tolist(), strict=True)
        ]
    return FastRows(index, observed, future, points, originals, loc_flags)
