"""Level of detail: the map gets only what the current view needs (issue 14).

The view (bounds and zoom) comes from ``st_folium``'s return. From it:

* :class:`Viewport` says how big a pixel is (the simplification tolerance), how many decimals
  a coordinate needs and which extent to fetch: the view plus a margin, snapped outwards to
  the tile grid of the zoom, so a small pan asks for the same extent again (a cache hit, the
  same layers, nothing redrawn).
* :class:`LineIndex` holds a static line layer (the region's roads) serialised once: the
  property columns once, the geometries once per zoom (simplified to a pixel, rounded to what
  the zoom shows), one STRtree. :meth:`LineIndex.payload` cuts the features of a view out of
  it and keeps the most important road classes that fit :data:`ROAD_VERTEX_BUDGET`.
* :func:`layers_in_view` cuts the live layers to the view, simplifies lines and areas to a
  pixel and, when a point layer holds more than :data:`POINT_BUDGET` points in view, draws
  them as counted grid cells (:func:`aggregate_points`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from dashboard.i18n import t
from dashboard.mappayload import (
    LayerPayload,
    MapLayers,
    PropSource,
    Style,
    _column_values,
    assemble_payload,
    col,
)

__all__ = [
    "MAX_ZOOM",
    "MIN_ZOOM",
    "POINT_BUDGET",
    "ROAD_VERTEX_BUDGET",
    "LineIndex",
    "LiveDetail",
    "Viewport",
    "aggregate_points",
    "in_bbox",
    "layers_in_view",
    "merge_lines",
]

TILE_PX = 256
MIN_ZOOM, MAX_ZOOM = 4, 16
MARGIN = 0.25  # share of the view's span fetched beyond each edge
POINT_BUDGET = 800  # points of one layer in view before they are drawn as counted cells
CELL_PX = 40  # size of such a cell on screen
SEGMENT_BUDGET = 1_500  # hazardous segments in view before they are joined per road
SMALL_VERTICES = 20_000  # a layer this small, all in view, is sent at its own detail
ROAD_VERTEX_BUDGET = 12_000  # road vertices in view before the minor classes are left out
LINE_BUDGET = 3_000  # road pieces in view before the minor classes are left out
SCREEN_PX = (1920, 640)  # the view assumed before the browser reported one


@dataclass(frozen=True)
class Viewport:
    """A map view: WGS84 bounds and the zoom level."""

    west: float
    south: float
    east: float
    north: float
    zoom: int

    @property
    def pixel_deg(self) -> float:
        """Return the width of one screen pixel in degrees of longitude at this zoom."""
        return 360.0 / (TILE_PX * 2.0**self.zoom)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """Return ``(west, south, east, north)``."""
        return (self.west, self.south, self.east, self.north)

    def decimals(self, finest: int) -> int:
        """Return the coordinate decimals this zoom needs (at most `finest`, at least 2)."""
        return int(min(finest, max(2, math.ceil(-math.log10(self.pixel_deg)))))

    def fetch(self) -> Viewport:
        """Return the extent to fetch: the view plus :data:`MARGIN`, snapped to the tile grid."""
        step = 360.0 / 2.0**self.zoom
        dx = (self.east - self.west) * MARGIN
        dy = (self.north - self.south) * MARGIN
        west = math.floor((self.west - dx) / step) * step
        east = math.ceil((self.east + dx) / step) * step
        south = math.floor((self.south - dy) / step) * step
        north = math.ceil((self.north + dy) / step) * step
        return Viewport(
            max(west, -180.0), max(south, -85.0), min(east, 180.0), min(north, 85.0), self.zoom
        )

    @classmethod
    def around(
        cls, center: tuple[float, float], zoom: int, size_px: tuple[int, int] = SCREEN_PX
    ) -> Viewport:
        """Return the view of a `size_px` map centred on `center` (lat, lon) at `zoom`."""
        zoom = int(min(MAX_ZOOM, max(MIN_ZOOM, zoom)))
        half_w = size_px[0] / 2 * 360.0 / (TILE_PX * 2.0**zoom)
        half_h = size_px[1] / 2 * 360.0 / (TILE_PX * 2.0**zoom) * math.cos(
            math.radians(center[0])
        )
        lat, lon = center
        return cls(lon - half_w, lat - half_h, lon + half_w, lat + half_h, zoom)

    @classmethod
    def from_result(cls, result: Mapping[str, Any] | None) -> Viewport | None:
        """Return the view ``st_folium`` reported (``bounds``, ``zoom``), or None without one."""
        if not result:
            return None
        bounds, zoom = result.get("bounds"), result.get("zoom")
        try:
            sw, ne = bounds["_southWest"], bounds["_northEast"]  # type: ignore[index]
            west, south = float(sw["lng"]), float(sw["lat"])
            east, north = float(ne["lng"]), float(ne["lat"])
            z = int(zoom)  # type: ignore[arg-type]
        except (TypeError, KeyError, ValueError):
            return None
        if not all(map(math.isfinite, (west, south, east, north))) or east <= west:
            return None
        if north <= south:
            return None
        return cls(west, south, east, north, int(min(MAX_ZOOM, max(MIN_ZOOM, z))))


def in_bbox(gdf: gpd.GeoDataFrame, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """Return the positions of the rows of `gdf` whose geometry meets `bbox` (STRtree)."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if not len(geoms):
        return np.zeros(0, dtype=np.int64)
    tree = shapely.STRtree(geoms)
    hits = tree.query(shapely.box(*bbox), predicate="intersects")
    return np.sort(np.asarray(hits, dtype=np.int64))


# --------------------------------------------------------------------------------------------
# Static lines (the roads of the base layer)
# --------------------------------------------------------------------------------------------


@dataclass
class _Level:
    """One zoom's lines: simplified and rounded, serialised as the views ask for them."""

    geoms: np.ndarray
    vertices: np.ndarray
    json: np.ndarray  # GeoJSON text per line, None until a view needed it

    def geometries(self, rows: np.ndarray) -> list[str]:
        """Return the GeoJSON of `rows`, serialising those not done yet."""
        todo = rows[pd.isna(self.json[rows])]
        if len(todo):
            self.json[todo] = shapely.to_geojson(self.geoms[todo])
        return [str(g) for g in self.json[rows]]


class LineIndex:
    """A static line layer serialised once and cut by view (see the module docstring).

    Parameters
    ----------
    key, name
        Layer key and display name.
    gdf
        WGS84 lines.
    props
        Output property -> source column (as :func:`~dashboard.mappayload.payload_from_frame`).
    palette
        Category (``k``) -> Leaflet path options.
    rank
        Per row, the importance of its class (0 first); the classes of a view are taken in
        this order while the vertices in view stay within `vertex_budget`.
    simplify, decimals
        The finest detail ever sent (tolerance in degrees, coordinate decimals).
    tooltip, tooltip_labels
        As :func:`~dashboard.mappayload.payload_from_frame`.
    """

    def __init__(
        self,
        key: str,
        name: str,
        gdf: gpd.GeoDataFrame | None,
        props: Mapping[str, PropSource],
        palette: Mapping[str, Style],
        *,
        rank: Sequence[int] | None = None,
        simplify: float = 0.001,
        decimals: int = 4,
        vertex_budget: int = ROAD_VERTEX_BUDGET,
        tooltip: Sequence[tuple[str, str]] = (),
        tooltip_labels: bool = True,
    ) -> None:
        self.key, self.name, self.palette = key, name, dict(palette)
        self.names = list(props)
        self.simplify, self.finest, self.vertex_budget = simplify, decimals, vertex_budget
        self.tooltip, self.tooltip_labels = tuple(tooltip), tooltip_labels
        if gdf is None or not len(gdf):
            gdf = gpd.GeoDataFrame(geometry=[], crs=4326)
        if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
            gdf = gdf.to_crs(4326)
        geoms = np.asarray(gdf.geometry.values, dtype=object)
        keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) if len(geoms) else []
        frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).loc[keep]
        self.geoms = geoms[keep] if len(geoms) else geoms
        ranks = np.zeros(len(gdf), dtype=np.int64) if rank is None else np.asarray(rank)
        self.rank = ranks[keep] if len(geoms) else ranks
        self.columns = [
            _column_values(src(frame) if callable(src) else col(src)(frame))
            for src in props.values()
        ]
        self.tree = shapely.STRtree(self.geoms)
        # the finest detail, once; each zoom's level is simplified from it (Douglas-Peucker:
        # lines only, where a kink of a pixel needs no topology check)
        self.base = shapely.simplify(self.geoms, simplify, preserve_topology=False)
        self._levels: dict[int, _Level] = {}

    def __len__(self) -> int:
        """Return the number of lines."""
        return len(self.geoms)

    def _level(self, view: Viewport) -> _Level:
        """Return the geometries of `view`'s zoom (serialised on first use)."""
        level = self._levels.get(view.zoom)
        if level is None:
            simple = self.base
            if view.pixel_deg > self.simplify:
                simple = shapely.simplify(simple, view.pixel_deg, preserve_topology=False)
            coords = shapely.get_coordinates(simple)
            digits = view.decimals(self.finest)
            simple = shapely.set_coordinates(simple.copy(), np.round(coords, digits))
            level = _Level(
                simple, shapely.get_num_coordinates(simple), np.full(len(simple), None, object)
            )
            self._levels[view.zoom] = level
        return level

    def select(self, view: Viewport) -> np.ndarray:
        """Return the rows to draw in `view`: in its fetch extent, best classes in budget."""
        if not len(self.geoms):
            return np.zeros(0, dtype=np.int64)
        hits = np.sort(self.tree.query(shapely.box(*view.fetch().bbox)))
        level = self._level(view)
        ranks = self.rank[hits]
        keep = ranks <= ranks.min() if len(hits) else np.zeros(0, dtype=bool)
        for r in np.unique(ranks):
            wanted = ranks <= r
            over = int(level.vertices[hits[wanted]].sum()) > self.vertex_budget
            if (over or int(wanted.sum()) > LINE_BUDGET) and r > ranks.min():
                break
            keep = wanted
        return np.asarray(hits[keep], dtype=np.int64)

    def payload(self, view: Viewport) -> LayerPayload:
        """Return the layer's payload for `view`."""
        rows = self.select(view)
        level = self._level(view) if len(rows) else None
        geometries = level.geometries(rows) if level is not None else []
        columns = [[c[i] for i in rows] for c in self.columns]
        return assemble_payload(
            self.key, self.name, self.names, columns, geometries, self.palette,
            tooltip=self.tooltip, tooltip_labels=self.tooltip_labels,
        )


# --------------------------------------------------------------------------------------------
# Live layers
# --------------------------------------------------------------------------------------------


def aggregate_points(
    gdf: gpd.GeoDataFrame, cell_deg: float, lang: str, worst: str = "priority"
) -> gpd.GeoDataFrame:
    """Group points into `cell_deg` grid cells: one point per cell with its count.

    A cell of one point keeps that point as it is. A cell of several is drawn at their mean
    position, with ``n`` (how many), the highest `worst` value, the sum of ``people``, the
    earliest ``first_report_at``, ``kind`` saying how many (translated) and no ``id`` (a
    click on it selects nothing).
    """
    if not len(gdf):
        return gdf
    x, y = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    cell = pd.Series(
        list(zip(np.floor(x / cell_deg).astype(np.int64), np.floor(y / cell_deg).astype(np.int64),
                 strict=True)),
        index=gdf.index,
    )
    sizes = cell.map(cell.value_counts())
    single = gdf[sizes.to_numpy() == 1]
    crowded = sizes.to_numpy() > 1
    many = gdf[crowded].assign(_cell=cell[crowded], _x=x[crowded], _y=y[crowded])
    if not len(many):
        return gdf
    spec = {"_x": ("_x", "mean"), "_y": ("_y", "mean"), "n": ("_x", "size")}
    for column, how in ((worst, "max"), ("people", "sum"), ("first_report_at", "min")):
        if column in many.columns:
            spec[column] = (column, how)
    grouped = many.groupby("_cell", sort=True).agg(**spec).reset_index(drop=True)
    grouped["kind"] = [t("map.cell_incidents", lang, n=int(n)) for n in grouped["n"]]
    grouped["id"] = ""
    cells = gpd.GeoDataFrame(
        grouped.drop(columns=["_x", "_y"]),
        geometry=gpd.points_from_xy(grouped["_x"], grouped["_y"]),
        crs=gdf.crs,
    )
    out = pd.concat([single, cells], ignore_index=True)
    return gpd.GeoDataFrame(out, geometry=gdf.geometry.name, crs=gdf.crs)


def merge_lines(gdf: gpd.GeoDataFrame, by: Sequence[str], tolerance: float) -> gpd.GeoDataFrame:
    """Join the lines of each `by` group into its runs, simplified to `tolerance`.

    Zoomed out, a storm's thousands of one-kilometre segments become one (multi)line per road
    and condition: the segments that touch are joined into runs, so a colour still shows
    exactly where its condition is. ``id`` becomes the road code (the first `by` column) and
    ``n`` the number of segments joined. Vectorised shapely: no loop per group.
    """
    keys_present = [c for c in by if c in gdf.columns]
    if not len(gdf) or not keys_present:
        return gdf
    combined = np.zeros(len(gdf), dtype=np.int64)
    for column in keys_present:
        part, levels = pd.factorize(gdf[column].fillna("").astype(str), sort=True)
        combined = combined * max(len(levels), 1) + part
    codes, _ = pd.factorize(combined, sort=True)
    first = np.unique(codes, return_index=True)[1]  # a row of each group, by group code
    parts, row = shapely.get_parts(np.asarray(gdf.geometry.values, dtype=object),
                                   return_index=True)
    line = shapely.get_type_id(parts) == 1
    parts, group = parts[line], codes[row[line]]
    sort = np.argsort(group, kind="stable")
    present = np.unique(group)
    merged = shapely.line_merge(shapely.multilinestrings(
        parts[sort], indices=np.searchsorted(present, group[sort])))
    merged = shapely.simplify(merged, tolerance, preserve_topology=False)
    out = pd.DataFrame(
        {c: gdf[c].fillna("").astype(str).to_numpy()[first[present]] for c in keys_present}
    )
    out["n"] = np.bincount(codes)[present]
    out["id"] = out[keys_present[0]]
    return gpd.GeoDataFrame(out, geometry=merged, crs=gdf.crs)


def _round(gdf: gpd.GeoDataFrame, digits: int) -> gpd.GeoDataFrame:
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    rounded = shapely.set_coordinates(geoms.copy(), np.round(shapely.get_coordinates(geoms),
                                                             digits))
    return gdf.set_geometry(gpd.GeoSeries(rounded, index=gdf.index, crs=gdf.crs))


def _clean(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """Return `gdf` in WGS84 without rows lacking a geometry."""
    if gdf is None or not len(gdf):
        return gdf
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    return gdf[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]


class _Indexed:
    """A frame with its STRtree, cut by box."""

    def __init__(self, gdf: gpd.GeoDataFrame) -> None:
        self.gdf = gdf
        self.tree = shapely.STRtree(np.asarray(gdf.geometry.values, dtype=object))
        self.bounds = tuple(float(b) for b in gdf.total_bounds)
        self.vertices = int(shapely.get_num_coordinates(
            np.asarray(gdf.geometry.values, dtype=object)).sum())

    def cut(self, box: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
        """Return the rows meeting `box` (the frame itself when it lies inside the box)."""
        west, south, east, north = self.bounds
        if box[0] <= west and box[1] <= south and box[2] >= east and box[3] >= north:
            return self.gdf
        hits = self.tree.query(shapely.box(*box), predicate="intersects")
        return self.gdf.iloc[np.sort(np.asarray(hits, dtype=np.int64))]


def _detail(gdf: gpd.GeoDataFrame, view: Viewport) -> gpd.GeoDataFrame:
    """Simplify lines and areas to a pixel of `view` and round them to its decimals."""
    if not len(gdf) or (gdf.geometry.geom_type == "Point").all():
        return gdf
    simple = shapely.simplify(
        np.asarray(gdf.geometry.values, dtype=object), view.pixel_deg, preserve_topology=True
    )
    return _round(gdf.set_geometry(gpd.GeoSeries(simple, index=gdf.index, crs=gdf.crs)),
                  view.decimals(4))


POINT_LAYERS = ("incidents",)  # point layers drawn as counted cells when crowded
# line layers joined per road and condition when crowded (see merge_lines)
MERGED_LINES: dict[str, tuple[str, ...]] = {"segments": ("road_code", "condition")}


class LiveDetail:
    """The live layers of one data version, indexed once and kept at each zoom's detail.

    :meth:`in_view` is :func:`layers_in_view`; what does not depend on the view's extent (the
    STRtree of each layer, a crowded layer's lines joined per road at a zoom) is computed once
    per version and zoom, so a pan costs the cut and the serialisation of what is in view.
    """

    def __init__(self, layers: MapLayers) -> None:
        self.layers = layers
        self._frames: dict[str, _Indexed | None] = {}
        self._merged: dict[tuple[str, int], _Indexed] = {}
        self._lock = threading.Lock()

    def _frame(self, name: str) -> _Indexed | None:
        if name not in self._frames:
            gdf = _clean(getattr(self.layers, name))
            self._frames[name] = None if gdf is None or not len(gdf) else _Indexed(gdf)
        return self._frames[name]

    def _joined(self, name: str, view: Viewport, frame: _Indexed) -> _Indexed:
        key = (name, view.zoom)
        if key not in self._merged:
            merged = merge_lines(frame.gdf, MERGED_LINES[name], view.pixel_deg)
            self._merged[key] = _Indexed(_round(merged, view.decimals(4)))
        return self._merged[key]

    def in_view(
        self, view: Viewport, lang: str = "zh",
        extent: tuple[float, float, float, float] | None = None,
    ) -> MapLayers:
        """Return the live layers of `view` (see :func:`layers_in_view`)."""
        box = extent if extent is not None else view.fetch().bbox
        cut: dict[str, Any] = {}
        with self._lock:  # shared by the sessions of one server process
            for field in fields(self.layers):
                name = field.name
                frame = self._frame(name)
                if frame is None:
                    cut[name] = getattr(self.layers, name)
                    continue
                got = frame.cut(box)
                if name in POINT_LAYERS and len(got) > POINT_BUDGET:
                    got = aggregate_points(got, CELL_PX * view.pixel_deg, lang)
                elif name in MERGED_LINES and len(got) > SEGMENT_BUDGET:
                    got = self._joined(name, view, frame).cut(box)
                elif got is not frame.gdf or frame.vertices > SMALL_VERTICES:
                    got = _detail(got, view)  # (a small layer all in view is sent as it is)
                cut[name] = got
        return replace(self.layers, **cut)


def layers_in_view(
    layers: MapLayers,
    view: Viewport,
    lang: str = "zh",
    extent: tuple[float, float, float, float] | None = None,
) -> MapLayers:
    """Return the live layers cut to `extent` (`view`'s fetch extent), simplified to a pixel.

    A layer of :data:`POINT_LAYERS` with more than :data:`POINT_BUDGET` points in view is
    drawn as counted cells of :data:`CELL_PX` pixels (:func:`aggregate_points`); a layer of
    :data:`MERGED_LINES` with more than :data:`SEGMENT_BUDGET` lines as one (multi)line per
    road and condition (:func:`merge_lines`). A map that draws many views of the
    same data keeps a :class:`LiveDetail` instead.
    """
    return LiveDetail(layers).in_view(view, lang, extent)
