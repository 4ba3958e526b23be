"""Reading a road agency's own file: layer choice, field mapping, a required CRS, derived posts.

:func:`read_roads` turns a GeoPackage / Shapefile / GeoJSON / FlatGeobuf layer into a frame
with the field names of :mod:`geo.road_schema` and validates it
(:func:`geo.road_schema.validate_roads`; re-exported by :mod:`geo.roads`):

- **layer**: the one asked for; else the file's only layer, else its only line layer; a file
  with several line layers and no choice is refused, naming them.
- **fields**: a mapping ``{schema field: file field}`` (``{"road_code": "LXBM"}``); the field
  names of the Chinese highway database (``LXBM`` 路线编码, ``LXMC`` 路线名称, ``QDZH`` 起点桩号,
  ``ZDZH`` 止点桩号, ``JSDJ``/``XZDJ``, ...) are recognised without one.
- **CRS**: required. A file without one is refused with the fix named (``roads.shp has no CRS:
  add roads.prj or pass --crs EPSG:4326``), unless a CRS is passed for it.
- **kilometre posts**: when the file has none (or a feature lacks them), they are derived along
  the geometry (geodesic length) from one anchor per road: the post at the first vertex of the
  road's first piece (default 0), pieces chained end to start; ``km_derived`` says which.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS, Geod
from pyproj.exceptions import CRSError

from geo.errors import NetworkFileError
from geo.road_schema import validate_roads

__all__ = ["KNOWN_FIELD_ALIASES", "choose_layer", "derive_kilometres", "read_roads"]

# file field (upper case) -> schema field: Chinese highway-database names and common spellings
KNOWN_FIELD_ALIASES: dict[str, str] = {
    "LXBM": "road_code",
    "LXDM": "road_code",
    "路线编码": "road_code",
    "路线编号": "road_code",
    "ROADCODE": "road_code",
    "ROAD_NO": "road_code",
    "REF": "road_code",
    "LXMC": "name_zh",
    "路线名称": "name_zh",
    "NAME": "name_zh",
    "QDZH": "km_start",
    "起点桩号": "km_start",
    "KM_FROM": "km_start",
    "ZDZH": "km_end",
    "止点桩号": "km_end",
    "KM_TO": "km_end",
    "JSDJ": "road_class",
    "XZDJ": "road_class",
    "行政等级": "road_class",
    "技术等级": "road_class",
    "LDBM": "section_id",
    "路段编码": "section_id",
}

_GEOD = Geod(ellps="WGS84")


def choose_layer(path: Path, layer: str | None) -> str | None:
    """Return the layer to read: `layer` if the file has it, else the only (line) layer.

    Raises
    ------
    NetworkFileError
        `layer` is not in the file, or the file has several line layers and none was chosen.
    """
    try:
        layers = pyogrio.list_layers(path)
    except Exception as e:  # pyogrio raises several DataSource errors
        msg = f"cannot read road network file {str(path)!r}: {e}"
        raise NetworkFileError(msg) from e
    names = [str(n) for n, _ in layers]
    if layer is not None:
        if layer not in names:
            msg = (
                f"{path.name} has no layer {layer!r}; its layers: {', '.join(names) or 'none'}"
            )
            raise NetworkFileError(msg)
        return layer
    if len(names) <= 1:
        return None
    lines = [str(n) for n, g in layers if g is not None and "LINE" in str(g).upper()]
    if len(lines) == 1:
        return lines[0]
    listed = ", ".join(f"{n} ({g})" for n, g in layers)
    msg = f"{path.name} has {len(names)} layers ({listed}): choose one with --layer NAME"
    raise NetworkFileError(msg)


def _no_crs_fix(path: Path, layer: str | None) -> str:
    if path.suffix.lower() == ".shp":
        return f"{path.name} has no CRS: add {path.stem}.prj or pass --crs EPSG:4326"
    where = f"{path.name} layer {layer!r}" if layer else path.name
    return (
        f"{where} has no CRS: set the layer's spatial reference or pass --crs EPSG:4326 "
        "(or the EPSG code the coordinates are in)"
    )


def _with_crs(gdf: gpd.GeoDataFrame, path: Path, layer: str | None, crs: str | None) -> Any:
    """Return the frame with its CRS; refuse a file without one unless `crs` names it."""
    given: CRS | None = None
    if crs:
        try:
            given = CRS.from_user_input(crs)
        except CRSError as e:
            msg = f"--crs {crs!r} is not a coordinate reference system: {e}"
            raise NetworkFileError(msg) from e
    if gdf.crs is None:
        if given is None:
            raise NetworkFileError(_no_crs_fix(path, layer))
        return gdf.set_crs(given)
    if given is not None and not CRS.from_user_input(gdf.crs).equals(given):
        msg = (
            f"{path.name} says its CRS is {gdf.crs.to_string()} but --crs {crs} was passed: "
            "drop --crs (the file's own CRS is used) or fix the file"
        )
        raise NetworkFileError(msg)
    return gdf


def _mapped(gdf: gpd.GeoDataFrame, path: Path, fields: Mapping[str, str] | None) -> Any:
    """Rename file fields to schema fields: the explicit mapping first, then known aliases."""
    geom = gdf.geometry.name
    present = {str(c): c for c in gdf.columns if c != geom}
    rename: dict[Any, str] = {}
    missing: list[str] = []
    for target, source in (fields or {}).items():
        hit = present.get(source)
        if hit is None:  # field names are matched case-insensitively as well
            hit = next((c for s, c in present.items() if s.lower() == str(source).lower()), None)
        if hit is None:
            missing.append(f"{source!r} (for {target})")
        else:
            rename[hit] = target
    if missing:
        msg = (
            f"{path.name}: the field mapping names field(s) the file lacks: {', '.join(missing)}; "
            f"the file's fields: {', '.join(present)}"
        )
        raise NetworkFileError(msg)
    targets = set(rename.values())
    lower = {s.lower() for s in present}
    for s, c in present.items():
        alias = KNOWN_FIELD_ALIASES.get(s.upper())
        if c in rename or alias is None or alias in targets or alias in lower:
            continue
        rename[c] = alias
        targets.add(alias)
    return gdf.rename(columns=rename)


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
        only line layer; several line layers must be chosen; see :func:`choose_layer`).
    fields
        ``{schema field: file field}``, e.g. ``{"road_code": "LXBM", "km_start": "QDZH"}``.
    crs
        CRS of a file that has none (``"EPSG:4326"``); a file without one is refused otherwise.
    km_anchors
        ``{road code: post at its first vertex}`` when posts are derived (default 0).

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`geo.road_schema.validate_roads` (plus ``km_derived``: posts derived along
        the geometry).

    Raises
    ------
    NetworkFileError
        Unreadable file, unknown layer, several line layers, no CRS, a mapping naming a field
        the file lacks, or a frame that breaks the schema (every problem listed).
    """
    p = Path(path)
    if not p.exists():
        msg = f"road network file {str(p)!r} does not exist"
        raise NetworkFileError(msg)
    chosen = choose_layer(p, layer)
    try:
        kwargs: dict[str, Any] = {"engine": "pyogrio"}
        if chosen is not None:
            kwargs["layer"] = chosen
        gdf = gpd.read_file(p, **kwargs)
    except Exception as e:  # pyogrio raises several DataSource/DataLayer errors
        msg = f"cannot read road network file {str(p)!r}: {e}"
        raise NetworkFileError(msg) from e
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry is None:
        msg = f"road network file {str(p)!r} has no geometry column"
        raise NetworkFileError(msg)
    if len(gdf) == 0:
        msg = f"{p}: no road features"
        raise NetworkFileError(msg)
    gdf = _with_crs(gdf, p, chosen, crs)
    gdf = _mapped(gdf, p, fields)
    return validate_roads(derive_kilometres(gdf, km_anchors), source=str(p))


def _geodesic_km(geom: Any) -> float:
    if geom is None or geom.is_empty:
        return math.nan
    return float(_GEOD.geometry_length(geom)) / 1000.0


def _ends(geom: Any) -> tuple[tuple[float, float], tuple[float, float]] | None:
    try:
        coords = list(geom.coords) if geom.geom_type == "LineString" else None
    except (AttributeError, NotImplementedError):
        coords = None
    if not coords:
        return None
    a, b = coords[0], coords[-1]
    return (round(a[0], 7), round(a[1], 7)), (round(b[0], 7), round(b[1], 7))


def _chain_order(idx: list[int], ends: list[Any]) -> list[int]:
    """Pieces of one road in driving order: each starts where the previous one ended."""
    by_start = {ends[i][0]: i for i in idx if ends[i] is not None}
    ending = {ends[i][1] for i in idx if ends[i] is not None}
    order: list[int] = []
    seen: set[int] = set()
    heads = [i for i in idx if ends[i] is not None and ends[i][0] not in ending] or idx[:1]
    for head in heads + idx:
        i: int | None = head
        while i is not None and i not in seen:
            seen.add(i)
            order.append(i)
            nxt = by_start.get(ends[i][1]) if ends[i] is not None else None
            i = nxt
    return order


def derive_kilometres(
    gdf: gpd.GeoDataFrame, km_anchors: Mapping[str, float] | None = None
) -> gpd.GeoDataFrame:
    """Fill missing ``km_start`` / ``km_end`` from geodesic lengths along each road.

    A feature with ``km_start`` but no ``km_end`` ends at start + its length. A road whose
    pieces have no posts starts at its anchor (`km_anchors`, default 0) at the first vertex of
    its first piece; pieces are chained end to start (file order where they do not join), each
    starting where the previous one ended or at its own given post. Adds ``km_derived``.
    Frames without ``road_code`` are returned unchanged (the schema check reports it).
    """
    if "road_code" not in gdf.columns:
        return gdf
    out = gdf.copy()
    n = len(out)
    start = (
        pd.to_numeric(out["km_start"], errors="coerce").to_numpy(dtype=float)
        if "km_start" in out.columns
        else np.full(n, np.nan)
    )
    end = (
        pd.to_numeric(out["km_end"], errors="coerce").to_numpy(dtype=float)
        if "km_end" in out.columns
        else np.full(n, np.nan)
    )
    derived = ~(np.isfinite(start) & np.isfinite(end))
    if not derived.any():
        out["km_derived"] = False
        return out
    raw_start = _raw(out, "km_start")
    raw_end = _raw(out, "km_end")
    # text that is not a number stays as it is, for the schema check to report
    bad = [
        (not np.isfinite(start[i]) and not _blank(raw_start[i]))
        or (not np.isfinite(end[i]) and not _blank(raw_end[i]))
        for i in range(n)
    ]
    wgs = out.geometry.to_crs(4326) if out.crs is not None else out.geometry
    lengths = [_geodesic_km(g) for g in wgs]
    ends = [_ends(g) for g in wgs]
    codes = ["" if _blank(c) else str(c).strip().upper() for c in out["road_code"]]
    anchors = {str(k).strip().upper(): float(v) for k, v in (km_anchors or {}).items()}
    by_code: dict[str, list[int]] = {}
    for i, c in enumerate(codes):
        by_code.setdefault(c, []).append(i)
    new_start, new_end = start.copy(), end.copy()
    for code, idx in by_code.items():
        cursor = anchors.get(code, 0.0)
        for i in _chain_order(idx, ends):
            if bad[i]:
                continue
            if np.isfinite(start[i]):
                cursor = start[i]
            if derived[i] and np.isfinite(lengths[i]):
                if np.isfinite(end[i]):  # only the end post given
                    cursor = end[i] - lengths[i]
                new_start[i] = cursor
                new_end[i] = cursor + lengths[i]
            if np.isfinite(new_end[i]):
                cursor = new_end[i]
    out["km_start"] = [raw_start[i] if bad[i] else new_start[i] for i in range(n)]
    out["km_end"] = [raw_end[i] if bad[i] else new_end[i] for i in range(n)]
    out["km_derived"] = [bool(derived[i] and not bad[i]) for i in range(n)]
    return out


def _raw(gdf: gpd.GeoDataFrame, name: str) -> list[Any]:
    return list(gdf[name]) if name in gdf.columns else [None] * len(gdf)


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == ""
