"""Exact nearest-segment search within a tolerance for many points at once (a cell grid).

:class:`GridIndex` backs :meth:`geo.roads.RoadNetwork.snap` for tolerances up to
:data:`GRID_MAX_M`; wider searches go through the STRtree (in :mod:`geo.roads`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["GRID_MAX_M", "GridIndex"]

# widest tolerance (m) snapped with the cell grid; wider ones use the STRtree
GRID_MAX_M = 2_000.0
# candidate point-piece pairs checked at once by the grid (~15 arrays of 8 bytes each)
_SNAP_BLOCK = 2_000_000


class GridIndex:
    """Exact nearest-segment search within a tolerance for many points at once.

    Every straight piece of every segment is registered in each square cell (side = the
    tolerance) that its bounding box, grown by the tolerance, overlaps. Any piece within the
    tolerance of a point is then registered in the point's cell, so checking the cell's pieces
    with exact point-to-piece distances gives the exact nearest segment: pure numpy, no
    per-point Python. Points are checked in blocks of at most :data:`_SNAP_BLOCK` candidate
    pieces, so memory is bounded by the block, not by the batch or the cell density.
    Only for tolerances up to :data:`GRID_MAX_M`: wider searches go through the STRtree.
    """

    def __init__(self, xy: tuple[np.ndarray, np.ndarray], tolerance_m: float) -> None:
        coords, counts = xy
        idx = np.repeat(np.arange(counts.size), counts)
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
        cnt = np.where(found, self.counts[pos], 0).astype(np.int64)
        # blocks of points whose candidates add up to at most _SNAP_BLOCK (one point at least)
        ends = np.cumsum(cnt)
        i = 0
        while i < n:
            base = int(ends[i - 1]) if i else 0
            j = max(int(np.searchsorted(ends, base + _SNAP_BLOCK, side="right")), i + 1)
            blk = slice(i, j)
            seg[blk], dist[blk], along[blk] = self._block(x[blk], y[blk], pos[blk], cnt[blk])
            i = j
        return seg, dist, along

    def _block(
        self, x: np.ndarray, y: np.ndarray, pos: np.ndarray, cnt: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = x.size
        seg = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.inf)
        along = np.full(n, np.nan)
        total = int(cnt.sum())
        if total == 0:
            return seg, dist, along
        pt = np.repeat(np.arange(n), cnt)
        within = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        pc = self.entries[np.repeat(self.starts[pos], cnt) + within]
        del within
        dx, dy = self.d[pc, 0], self.d[pc, 1]
        rx, ry = x[pt] - self.a[pc, 0], y[pt] - self.a[pc, 1]
        l2 = self.len2[pc]
        t = np.divide(rx * dx + ry * dy, l2, out=np.zeros(total), where=l2 > 0)
        np.clip(t, 0.0, 1.0, out=t)
        dd = np.hypot(rx - t * dx, ry - t * dy)
        del dx, dy, rx, ry, l2
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
