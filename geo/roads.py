"""Road network files, ~1 km segments and linear referencing (kilometre post <-> point).

The road-file schema (fields, defaults, Shapefile names) is in :mod:`geo.road_schema`.

Between ``km_start`` and ``km_end`` the kilometre is interpolated linearly along the length of the
line measured in :data:`geo.crs.METRIC_CRS`, so a road drawn with approximate geometry still has
its real kilometre posts at both ends.

:func:`validate_roads` and the schema constants are re-exported from there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike
from shapely.geometry import LineString, Point
from shapely.ops import substring

from geo.crs import METRIC_CRS, WGS84, check_lonlat, from_metric_xy, to_metric, to_metric_xy
from geo.errors import ParameterError, StakeError, UnknownRoadError
from geo.road_files import read_road_frame
from geo.road_schema import (
    DEFAULT_SPEEDS,
    ROAD_CLASSES,
    ROAD_COLUMNS,
    road_class_for_code,
    validate_roads,
)
from geo.stakes import format_stake

__all__ = [
    "DEFAULT_SPEEDS",
    "ROAD_CLASSES",
    "ROAD_COLUMNS",
    "SEGMENT_COLUMNS",
    "RoadNetwork",
    "StakePosition",
    "read_roads",
    "road_class_for_code",
    "segment_roads",
    "validate_roads",
]

SEGMENT_COLUMNS = (
    "segment_id",
    "road_code",
    "road_name",
    "road_name_en",
    "road_class",
    "km_from",
    "km_to",
    "length_m",
    "section_id",
    "oneway",
    "speed_car_kmh",
    "speed_truck_kmh",
)


def read_roads(
    path: str | Path,
    layer: str | None = None,
    *,
    fields: Mapping[str, str] | None = None,
    crs: str | None = None,
    km_anchors: Mapping[str, float] | None = None,
) -> gpd.GeoDataFrame:
    """Read and validate a road network file (GeoPackage, Shapefile, GeoJSON, FlatGeobuf, ...).

    Parameters
    ----------
    path
        The file (a Shapefile's ``.shp``).
    layer
        Layer name for multi-layer files such as GeoPackage (default: the only layer, else the
        only line layer; several line layers must be chosen).
    fields
        ``{schema field: file field}``, e.g. ``{"road_code": "LXBM", "km_start": "QDZH"}``.
    crs
        CRS of a file that has none (``"EPSG:4326"``); a file without one is refused otherwise.
    km_anchors
        ``{road code: post at its first vertex}`` when posts are derived (default 0).

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`validate_roads` (plus ``km_derived``: posts derived along the geometry).

    Raises
    ------
    NetworkFileError
        The file cannot be read, has no CRS, or breaks the schema (every problem listed).
    """
    gdf = read_road_frame(path, layer, fields=fields, crs=crs, km_anchors=km_anchors)
    return validate_roads(gdf, source=str(Path(path)))


def _segment_id(code: str, km: float) -> str:
    return f"{code}:{km:.1f}"


def segment_roads(roads: gpd.GeoDataFrame, length_m: float = 1000) -> gpd.GeoDataFrame:
    """Cut roads into ~`length_m` segments, the unit that conditions attach to.

    Cuts fall on whole multiples of `length_m` in kilometre-post terms (K1520, K1521, ...), so
    ``G331 K1520+300`` lies in segment ``"G331:1520.0"``; a leftover shorter than 30 % of
    `length_m` at a road end is merged into its neighbour. Cutting happens in
    :data:`geo.crs.METRIC_CRS` with :func:`shapely.ops.substring`, the kilometre interpolated
    linearly along the measured length.

    Parameters
    ----------
    roads
        Validated roads (:func:`validate_roads` / :func:`read_roads`).
    length_m
        Target segment length in kilometre-post metres.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`SEGMENT_COLUMNS` + geometry (EPSG:4326); ``segment_id`` is
        ``"<road_code>:<km_from to 0.1 km>"`` (more decimals when needed to stay unique).
    """
    if length_m <= 0:
        msg = f"segment length must be positive, got {length_m!r}"
        raise ParameterError(msg)
    step = length_m / 1000.0
    metric = to_metric(roads.geometry)
    rows: list[dict[str, Any]] = []
    geoms: list[LineString] = []
    for r, line in zip(roads.itertuples(index=False), metric, strict=True):
        k0, k1 = float(r.km_start), float(r.km_end)
        total = line.length
        cuts = [k0]
        k = (math.floor(k0 / step + 1e-9) + 1) * step
        while k < k1 - 1e-9:
            cuts.append(k)
            k += step
        cuts.append(k1)
        min_piece = 0.3 * step
        if len(cuts) > 2 and cuts[1] - cuts[0] < min_piece:
            del cuts[1]
        if len(cuts) > 2 and cuts[-1] - cuts[-2] < min_piece:
            del cuts[-2]
        scale = total / (k1 - k0)
        for a, b in zip(cuts, cuts[1:], strict=False):
            d0, d1 = (a - k0) * scale, (b - k0) * scale
            piece = substring(line, d0, d1)
            if not isinstance(piece, LineString) or piece.length == 0:
                continue
            geoms.append(piece)
            rows.append(
                {
                    "road_code": r.road_code,
                    "road_name": r.name_zh,
                    "road_name_en": r.name_en,
                    "road_class": r.road_class,
                    "km_from": a,
                    "km_to": b,
                    "length_m": piece.length,
                    "section_id": r.section_id,
                    "oneway": bool(r.oneway),
                    "speed_car_kmh": float(r.speed_car_kmh),
                    "speed_truck_kmh": float(r.speed_truck_kmh),
                }
            )
    frame = pd.DataFrame(rows, columns=list(SEGMENT_COLUMNS[1:]))
    ids = [_segment_id(c, k) for c, k in zip(frame["road_code"], frame["km_from"], strict=True)]
    if len(set(ids)) != len(ids):
        ids = [f"{c}:{k:.3f}" for c, k in zip(frame["road_code"], frame["km_from"], strict=True)]
        seen: dict[str, int] = {}
        for i, s in enumerate(ids):
            n = seen.get(s, 0)
            seen[s] = n + 1
            if n:
                ids[i] = f"{s}#{n}"
    frame.insert(0, "segment_id", ids)
    out = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=METRIC_CRS))
    return out.to_crs(WGS84)


def _line_arrays(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (n, 2), vertex count per line) of an array of LineStrings."""
    coords = shapely.get_coordinates(lines)
    counts = shapely.get_num_coordinates(lines).astype(np.int64)
    return coords, counts


def _lines_from(coords: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """LineStrings from :func:`_line_arrays` output."""
    if counts.size == 0:
        return np.empty(0, dtype=object)
    index = np.repeat(np.arange(counts.size), counts)
    return np.asarray(shapely.linestrings(coords, indices=index), dtype=object)


# widest tolerance (m) snapped with the cell grid; wider ones use the STRtree
_GRID_MAX_M = 2_000.0
# candidate point-piece pairs checked at once by the grid (~15 arrays of 8 bytes each)
_SNAP_BLOCK = 2_000_000
# points per STRtree nearest search
_TREE_BLOCK = 50_000


class _GridIndex:
    """Exact nearest-segment search within a tolerance for many points at once.

    Every straight piece of every segment is registered in each square cell (side = the
    tolerance) that its bounding box, grown by the tolerance, overlaps. Any piece within the
    tolerance of a point is then registered in the point's cell, so checking the cell's pieces
    with exact point-to-piece distances gives the exact nearest segment: pure numpy, no
    per-point Python. Points are checked in blocks of at most :data:`_SNAP_BLOCK` candidate
    pieces, so memory is bounded by the block, not by the batch or the cell density.
    Only for tolerances up to :data:`_GRID_MAX_M`: wider searches go through the STRtree.
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


@dataclass(frozen=True)
class StakePosition:
    """Where a point lies on the network.

    Attributes
    ----------
    road_code, km
        Nearest road and the kilometre post of the nearest point on it.
    offset_m
        Distance from the point to the road in metres.
    segment_id
        The segment that nearest point lies on.
    """

    road_code: str
    km: float
    offset_m: float
    segment_id: str

    @property
    def stake(self) -> str:
        """``"G331 K1520+300"``."""
        return f"{self.road_code} {format_stake(self.km)}"


class RoadNetwork:
    """Roads + segments with linear referencing and fast snapping.

    Parameters
    ----------
    roads
        Validated roads (:func:`read_roads`).
    segment_length_m
        Target segment length passed to :func:`segment_roads`.
    segments
        Pre-built segments (skips segmentation; must come from these roads).

    Attributes
    ----------
    roads, segments
        GeoDataFrames in EPSG:4326.
    """

    def __init__(
        self,
        roads: gpd.GeoDataFrame,
        segment_length_m: float = 1000,
        segments: gpd.GeoDataFrame | None = None,
    ) -> None:
        self.roads = roads
        self.segments = segments if segments is not None else segment_roads(roads, segment_length_m)
        road_lines = np.asarray(to_metric(roads.geometry).to_numpy(), dtype=object)
        seg_lines = np.asarray(to_metric(self.segments.geometry).to_numpy(), dtype=object)
        # metric vertices + vertex count per line: what a stored copy keeps (geometry objects
        # and the spatial index are rebuilt from them on first use, see __getstate__)
        self._road_xy = _line_arrays(road_lines)
        self._seg_xy = _line_arrays(seg_lines)
        self._lazy: dict[str, Any] = {"road_lines": road_lines, "seg_lines": seg_lines}
        self._seg_ids = self.segments["segment_id"].to_numpy(dtype=object)
        self._seg_codes = self.segments["road_code"].to_numpy(dtype=object)
        self._seg_km0 = self.segments["km_from"].to_numpy(dtype=float)
        self._seg_km1 = self.segments["km_to"].to_numpy(dtype=float)
        self._seg_len = shapely.length(seg_lines)
        self._grid: dict[float, _GridIndex] = {}
        self._by_code: dict[str, list[int]] = {}
        for i, c in enumerate(roads["road_code"]):
            self._by_code.setdefault(str(c), []).append(i)

    @property
    def _road_lines(self) -> np.ndarray:
        """Road pieces as metric LineStrings (built from the stored vertices when needed)."""
        lines = self._lazy.get("road_lines")
        if lines is None:
            lines = self._lazy["road_lines"] = _lines_from(*self._road_xy)
        return lines

    @property
    def _seg_lines(self) -> np.ndarray:
        """Segments as metric LineStrings (built from the stored vertices when needed)."""
        lines = self._lazy.get("seg_lines")
        if lines is None:
            lines = self._lazy["seg_lines"] = _lines_from(*self._seg_xy)
        return lines

    @property
    def _tree(self) -> shapely.STRtree:
        """Spatial index of :attr:`_seg_lines` (built on first use)."""
        tree = self._lazy.get("tree")
        if tree is None:
            tree = self._lazy["tree"] = shapely.STRtree(self._seg_lines)
        return tree

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the arrays only: geometry objects, spatial index and grids come back lazily.

        Building 200,000 shapely objects costs seconds; a process that never snaps or
        locates never pays it.
        """
        state = self.__dict__.copy()
        state["_grid"] = {}
        state["_lazy"] = {}
        return state

    def clear_snap_cache(self) -> None:
        """Forget the snapping grids built so far (they are rebuilt when needed)."""
        self._grid = {}

    @classmethod
    def from_file(
        cls, path: str | Path, segment_length_m: float = 1000, **options: Any
    ) -> RoadNetwork:
        """Read a road file (:func:`read_roads`, `options` passed on) and build the network."""
        return cls(read_roads(path, **options), segment_length_m)

    @property
    def road_codes(self) -> list[str]:
        """Sorted road codes of the network."""
        return sorted(self._by_code)

    def road_range(self, road_code: str) -> list[tuple[float, float]]:
        """Return the (km_start, km_end) ranges of a road's pieces, in order.

        Raises
        ------
        UnknownRoadError
            The network has no such road.
        """
        idx = self._pieces(road_code)
        return sorted(
            (float(self.roads["km_start"].iat[i]), float(self.roads["km_end"].iat[i])) for i in idx
        )

    def _pieces(self, road_code: str) -> list[int]:
        code = str(road_code).strip().upper()
        if code not in self._by_code:
            known = ", ".join(self.road_codes[:30])
            msg = f"unknown road {road_code!r}; the network has: {known}"
            raise UnknownRoadError(msg)
        return self._by_code[code]

    def stake_to_point(self, road_code: str, km: float) -> Point:
        """Return the WGS84 point of a kilometre post.

        Parameters
        ----------
        road_code
            e.g. ``"G331"`` (any case).
        km
            Kilometre post, e.g. 1520.3.

        Raises
        ------
        UnknownRoadError
            The road is not in the network.
        StakeError
            The kilometre is outside every piece of the road.
        """
        idx = self._pieces(road_code)
        tol = 1e-6
        for i in idx:
            k0 = float(self.roads["km_start"].iat[i])
            k1 = float(self.roads["km_end"].iat[i])
            if k0 - tol <= km <= k1 + tol:
                line = self._road_lines[i]
                frac = min(max((km - k0) / (k1 - k0), 0.0), 1.0)
                p = line.interpolate(frac * line.length)
                lon, lat = from_metric_xy(p.x, p.y)
                return Point(float(lon), float(lat))
        ranges = ", ".join(
            f"{format_stake(a)}-{format_stake(b)}" for a, b in self.road_range(road_code)
        )
        post = format_stake(km) if math.isfinite(km) and km >= 0 else repr(km)
        msg = f"kilometre post {post} is outside road {str(road_code).upper()}'s range ({ranges})"
        raise StakeError(msg)

    def point_to_stake(self, lon: float, lat: float) -> StakePosition:
        """Nearest road, kilometre post and offset of a WGS84 point (no distance limit).

        Raises
        ------
        CoordinateError
            A non-finite or out-of-range position.
        """
        check_lonlat(lon, lat)
        x, y = to_metric_xy(lon, lat)
        p = shapely.Point(float(x), float(y))
        i = int(self._tree.nearest(p))
        return self._position(i, p)

    def _position(self, i: int, p: Point) -> StakePosition:
        seg = self._seg_lines[i]
        d = seg.project(p)
        frac = d / self._seg_len[i] if self._seg_len[i] > 0 else 0.0
        km = self._seg_km0[i] + (self._seg_km1[i] - self._seg_km0[i]) * frac
        return StakePosition(
            road_code=str(self._seg_codes[i]),
            km=float(km),
            offset_m=float(seg.distance(p)),
            segment_id=str(self._seg_ids[i]),
        )

    def snap(self, lon: ArrayLike, lat: ArrayLike, tolerance_m: float = 250) -> pd.DataFrame:
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
        if not tol >= 0:
            msg = f"snap tolerance must be a distance in metres >= 0, got {tolerance_m!r}"
            raise ParameterError(msg)
        query = self._grid_query(tol) if tol <= _GRID_MAX_M else self._tree_query(tol)
        finite = np.isfinite(x) & np.isfinite(y)
        if finite.all():
            seg, dist, along = query(x, y)
        else:  # NaN / inf positions snap to nothing
            seg = np.full(n, -1, dtype=np.int64)
            dist = np.full(n, np.inf)
            along = np.full(n, np.nan)
            f = np.flatnonzero(finite)
            seg[f], dist[f], along[f] = query(x[f], y[f])
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

    def _grid_query(self, tol: float) -> Any:
        grid = self._grid.get(tol)
        if grid is None:
            if len(self._grid) >= 4:
                self._grid.clear()
            grid = self._grid[tol] = _GridIndex(self._seg_xy, tol)
        return grid.query

    def _tree_query(self, tol: float) -> Any:
        """Nearest segment within a wide tolerance: STRtree search in blocks of points."""
        lines, tree = self._seg_lines, self._tree

        def query(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            n = x.size
            seg = np.full(n, -1, dtype=np.int64)
            dist = np.full(n, np.inf)
            along = np.full(n, np.nan)
            for i in range(0, n, _TREE_BLOCK):
                pts = shapely.points(x[i : i + _TREE_BLOCK], y[i : i + _TREE_BLOCK])
                (src, hit), d = tree.query_nearest(
                    pts, max_distance=tol, return_distance=True, all_matches=True
                )
                # equidistant segments (a junction): the lowest index, as the grid picks
                order = np.lexsort((hit, src))
                first = np.r_[True, src[order][1:] != src[order][:-1]]
                src, hit, d = src[order][first], hit[order][first], d[order][first]
                seg[i + src] = hit
                dist[i + src] = d
                along[i + src] = shapely.line_locate_point(lines[hit], pts[src])
            return seg, dist, along

        return query

    def nearest_segments(self, lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
        """Positional index (into :attr:`segments`) of each point's nearest segment, no limit."""
        x, y = to_metric_xy(
            np.atleast_1d(np.asarray(lon, float)), np.atleast_1d(np.asarray(lat, float))
        )
        (src, seg) = self._tree.query_nearest(shapely.points(x, y), all_matches=False)
        out = np.full(x.shape[0], -1, dtype=np.int64)
        out[src] = seg
        return out
