"""Road network files, ~1 km segments and linear referencing (kilometre post <-> point).

The road-file schema (fields, defaults, Shapefile names) is in :mod:`geo.road_schema`.

Between ``km_start`` and ``km_end`` the kilometre is interpolated linearly along the length of the
line measured in :data:`geo.crs.METRIC_CRS`, so a road drawn with approximate geometry still has
its real kilometre posts at both ends.

:func:`validate_roads` and the schema constants are re-exported from there, :func:`read_roads`
(reading an agency's file) from :mod:`geo.road_files`; the snapping grid is
:mod:`geo.snap_grid`.
"""

from __future__ import annotations

import math
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
from geo.road_files import read_roads
from geo.road_schema import (
    DEFAULT_SPEEDS,
    ROAD_CLASSES,
    ROAD_COLUMNS,
    road_class_for_code,
    validate_roads,
)
from geo.snap_grid import GRID_MAX_M, GridIndex
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


# points per STRtree nearest search
_TREE_BLOCK = 50_000


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
        self._grid: dict[float, GridIndex] = {}
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
        query = self._grid_query(tol) if tol <= GRID_MAX_M else self._tree_query(tol)
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
            grid = self._grid[tol] = GridIndex(self._seg_xy, tol)
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
