"""Frozen copy of the snapping of ``geo/roads.py`` before issue 14 (the baseline of bench_region).

``snap_v0(network, lon, lat, tolerance_m)`` is ``RoadNetwork.snap`` as it was at commit 0ba8083:
one grid of cells as wide as the tolerance, every candidate of every point expanded at once
(memory grows with tolerance x density: 1,000 far points at 100 km on the 200,000 km region
need gigabytes). Not used by the project; kept only to measure against.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike

from geo.crs import to_metric_xy

_GRIDS: dict[tuple[int, float], Any] = {}

class _GridIndex:
    """Exact nearest-segment search within a tolerance for many points at once.

    Every straight piece of every segment is registered in each square cell (side = the
    tolerance) that its bounding box, grown by the tolerance, overlaps. Any piece within the
    tolerance of a point is then registered in the point's cell, so checking the cell's pieces
    with exact point-to-piece distances gives the exact nearest segment: pure numpy, no
    per-point Python.
    """

    def __init__(self, lines: np.ndarray, tolerance_m: float) -> None:
        coords, idx = shapely.get_coordinates(lines, return_index=True)
        same = idx[1:] == idx[:-1]
        a = coords[:-1][same]
        d = coords[1:][same] - a
        self.a, self.d = a, d
        self.seg = idx[:-1][same].astype(np.int64)
        self.plen = np.hypot(d[:, 0], d[:, 1])
        self.len2 = self.plen * self.plen
        start = np.cumsum(self.plen) - self.plen
        first = np.searchsorted(self.seg, self.seg, side="left")
        self.offset = start - start[first] if len(start) else start
        self.tol = float(tolerance_m)
        self.cell = max(self.tol, 1.0)
        c = self.cell
        lo = np.minimum(a, a + d) - self.tol
        hi = np.maximum(a, a + d) + self.tol
        ix0 = np.floor(lo[:, 0] / c).astype(np.int64)
        iy0 = np.floor(lo[:, 1] / c).astype(np.int64)
        nx = np.floor(hi[:, 0] / c).astype(np.int64) - ix0 + 1
        ny = np.floor(hi[:, 1] / c).astype(np.int64) - iy0 + 1
        cnt = nx * ny
        piece = np.repeat(np.arange(len(cnt)), cnt)
        k = np.arange(piece.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        keys = self._key(ix0[piece] + k // ny[piece], iy0[piece] + k % ny[piece])
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        self.entries = piece[order]
        first_of = np.ones(keys.size, dtype=bool)
        first_of[1:] = keys[1:] != keys[:-1]
        self.keys = keys[first_of]
        self.starts = np.flatnonzero(first_of)
        self.counts = np.diff(np.append(self.starts, keys.size))
        # a dense cell -> position table when the extent is small enough (faster than searching)
        self.dense: np.ndarray | None = None
        if piece.size:
            cx = ix0[piece] + k // ny[piece]
            cy = iy0[piece] + k % ny[piece]
            self.x0, self.y0 = int(cx.min()), int(cy.min())
            self.nx, self.ny = int(cx.max()) - self.x0 + 1, int(cy.max()) - self.y0 + 1
            if self.nx * self.ny <= 4_000_000:
                ux = (cx[order][first_of] - self.x0).astype(np.int64)
                uy = (cy[order][first_of] - self.y0).astype(np.int64)
                dense = np.full(self.nx * self.ny, -1, dtype=np.int32)
                dense[ux * self.ny + uy] = np.arange(self.keys.size, dtype=np.int32)
                self.dense = dense

    @staticmethod
    def _key(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
        key: np.ndarray = (ix + (1 << 30)) * (1 << 31) + (iy + (1 << 30))
        return key

    def query(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (segment index or -1, distance, distance along the segment) per point."""
        n = x.size
        seg = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.inf)
        along = np.full(n, np.nan)
        if self.keys.size == 0 or n == 0:
            return seg, dist, along
        ix = np.floor(x / self.cell).astype(np.int64)
        iy = np.floor(y / self.cell).astype(np.int64)
        if self.dense is not None:
            gx, gy = ix - self.x0, iy - self.y0
            inside = (gx >= 0) & (gx < self.nx) & (gy >= 0) & (gy < self.ny)
            pos = np.where(inside, self.dense[np.where(inside, gx * self.ny + gy, 0)], -1)
            found = pos >= 0
            pos = np.maximum(pos, 0)
        else:
            key = self._key(ix, iy)
            pos = np.minimum(np.searchsorted(self.keys, key), self.keys.size - 1)
            found = self.keys[pos] == key
        cnt = np.where(found, self.counts[pos], 0)
        total = int(cnt.sum())
        if total == 0:
            return seg, dist, along
        pt = np.repeat(np.arange(n), cnt)
        within = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        pc = self.entries[np.repeat(self.starts[pos], cnt) + within]
        dx, dy = self.d[pc, 0], self.d[pc, 1]
        rx, ry = x[pt] - self.a[pc, 0], y[pt] - self.a[pc, 1]
        l2 = self.len2[pc]
        t = np.divide(rx * dx + ry * dy, l2, out=np.zeros(total), where=l2 > 0)
        t = np.clip(t, 0.0, 1.0)
        dd = np.hypot(rx - t * dx, ry - t * dy)
        # first candidate with the smallest distance, per point (candidates are grouped by point)
        has = cnt > 0
        group_start = (np.cumsum(cnt) - cnt)[has]
        mins = np.minimum.reduceat(dd, group_start)
        is_min = np.flatnonzero(dd == np.repeat(mins, cnt[has]))
        firsts = is_min[np.r_[True, pt[is_min][1:] != pt[is_min][:-1]]]
        best = firsts[dd[firsts] <= self.tol]
        p = pt[best]
        seg[p] = self.seg[pc[best]]
        dist[p] = dd[best]
        along[p] = self.offset[pc[best]] + t[best] * self.plen[pc[best]]
        return seg, dist, along



def snap_v0(self: Any, lon: ArrayLike, lat: ArrayLike, tolerance_m: float = 250) -> pd.DataFrame:
    """Snap WGS84 points to their nearest segment within `tolerance_m` (vectorised).

    Parameters
    ----------
    lon, lat
        Arrays (or scalars) of WGS84 degrees.
    tolerance_m
        Points farther than this from every segment get ``segment_id`` None.

    Returns
    -------
    pandas.DataFrame
        Same length and order as the input: ``segment_id`` (None beyond tolerance),
        ``distance_m``, ``road_code``, ``km`` (NaN / None beyond tolerance).
    """
    x, y = to_metric_xy(
        np.atleast_1d(np.asarray(lon, float)), np.atleast_1d(np.asarray(lat, float))
    )
    n = x.shape[0]
    tol = float(tolerance_m)
    grid = _GRIDS.get((id(self), tol))
    if grid is None:  # cached per network and tolerance, as RoadNetwork._grid did
        _GRIDS.clear()
        grid = _GRIDS[(id(self), tol)] = _GridIndex(self._seg_lines, tol)
    finite = np.isfinite(x) & np.isfinite(y)
    if finite.all():
        seg, dist, along = grid.query(x, y)
    else:  # NaN / inf positions snap to nothing
        seg = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.inf)
        along = np.full(n, np.nan)
        f = np.flatnonzero(finite)
        seg[f], dist[f], along[f] = grid.query(x[f], y[f])
    ok = seg >= 0
    s = seg[ok]
    seg_id = np.full(n, None, dtype=object)
    road = np.full(n, None, dtype=object)
    distance = np.where(ok, dist, np.nan)
    km = np.full(n, np.nan)
    seg_len = self._seg_len[s]
    frac = np.divide(along[ok], seg_len, out=np.zeros(s.size), where=seg_len > 0)
    seg_id[ok] = self._seg_ids[s]
    road[ok] = self._seg_codes[s]
    km[ok] = self._seg_km0[s] + (self._seg_km1[s] - self._seg_km0[s]) * np.clip(frac, 0, 1)
    return pd.DataFrame(
        {
            "segment_id": pd.Series(seg_id, dtype=object),
            "distance_m": distance,
            "road_code": pd.Series(road, dtype=object),
            "km": km,
        }
    )

