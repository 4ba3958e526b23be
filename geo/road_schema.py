"""Road files: the schema a road frame must meet, checked and defaulted by :func:`validate_roads`.

Road file schema
----------------
Any file pyogrio reads (GeoPackage, Shapefile, GeoJSON, ...), one feature per road or road piece,
line geometry in any CRS (converted to WGS84). A CRS is required: a frame or file without one is
refused (:mod:`geo.road_files` names the fix). The vertex order is the direction of increasing
kilometre posts (posts missing from a file are derived there, see :mod:`geo.road_files`).

=================  ==========  =====================================================================
field              required    meaning
=================  ==========  =====================================================================
road_code          yes         Chinese road code: G (national), S (provincial), X (county),
                               Y (township), Z (special) + 1-4 digits, e.g. ``G331``
km_start, km_end   yes         kilometre posts at the first and last vertex (km_end > km_start)
geometry           yes         LineString (or a MultiLineString whose parts join into one line)
name_zh, name_en   no          road names (default: the road code)
road_class         no          expressway | national | provincial | county | township
                               (default from the code: G/S + 1-2 or 4 digits = expressway);
                               the Chinese names 高速公路, 国道, 省道, 县道, 乡道 (and 专用公路,
                               村道 as township) and the letters G/S/X/Y are read too
oneway             no          true when traffic runs only in vertex order (default false)
speed_car_kmh      no          dry-road speed for cars (default by class)
speed_truck_kmh    no          dry-road speed for trucks and plows (default by class)
section_id         no          maintenance section the piece belongs to (its road chief)
=================  ==========  =====================================================================

Shapefile field names are cut to 10 characters: ``speed_car_`` / ``speed_truc`` and
``km_start``/``km_end`` are recognised as well. Several features may share a road code when their
kilometre ranges don't overlap.

Between ``km_start`` and ``km_end`` the kilometre is interpolated linearly along the length of the
line measured in :data:`geo.crs.METRIC_CRS`, so a road drawn with approximate geometry still has
its real kilometre posts at both ends.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiLineString
from shapely.ops import linemerge

from geo.crs import WGS84
from geo.errors import NetworkFileError
from geo.stakes import ROAD_CODE_RE

__all__ = [
    "CLASS_ALIASES",
    "DEFAULT_SPEEDS",
    "REQUIRED_COLUMNS",
    "ROAD_CLASSES",
    "ROAD_COLUMNS",
    "road_class_for_code",
    "validate_roads",
]


ROAD_CLASSES = ("expressway", "national", "provincial", "county", "township")


REQUIRED_COLUMNS = ("road_code", "km_start", "km_end")


ROAD_COLUMNS = (
    "road_code",
    "name_zh",
    "name_en",
    "road_class",
    "km_start",
    "km_end",
    "oneway",
    "speed_car_kmh",
    "speed_truck_kmh",
    "section_id",
)


# dry-road (car, truck) speeds in km/h by road class, from the national speed-limit rules
DEFAULT_SPEEDS: dict[str, tuple[float, float]] = {
    "expressway": (120.0, 100.0),
    "national": (80.0, 70.0),
    "provincial": (70.0, 60.0),
    "county": (60.0, 50.0),
    "township": (40.0, 35.0),
}


_SHP_ALIASES = {"speed_car_": "speed_car_kmh", "speed_truc": "speed_truck_kmh"}

# road class as road agencies write it -> schema class
CLASS_ALIASES: dict[str, str] = {
    "高速": "expressway",
    "高速公路": "expressway",
    "国道": "national",
    "省道": "provincial",
    "县道": "county",
    "乡道": "township",
    "村道": "township",
    "专用公路": "township",
    "g": "national",
    "s": "provincial",
    "x": "county",
    "y": "township",
    "z": "township",
}


def road_class_for_code(code: str) -> str:
    """Default road class from a road code (``G6`` expressway, ``G331`` national, ...)."""
    letter, digits = code[0], code[1:]
    if letter in "GS" and (len(digits) <= 2 or len(digits) == 4):
        return "expressway"
    return {"G": "national", "S": "provincial", "X": "county"}.get(letter, "township")


def _line_of(geom: Any) -> LineString | None:
    """Return the single LineString of a geometry, or None when it is not one continuous line."""
    if isinstance(geom, LineString):
        return geom
    if isinstance(geom, MultiLineString):
        merged = linemerge(geom)
        if isinstance(merged, LineString):
            return merged
    return None


def validate_roads(roads: gpd.GeoDataFrame, source: str = "road data") -> gpd.GeoDataFrame:
    """Check a road frame against the schema, fill defaults and return it in WGS84.

    Every problem is collected first, then one :class:`NetworkFileError` lists them all.

    Parameters
    ----------
    roads
        Frame with the columns of the module docstring.
    source
        Name used in error messages (the file path).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`ROAD_COLUMNS` + geometry (LineString, EPSG:4326), index 0..n-1.

    Raises
    ------
    NetworkFileError
        Missing fields, empty or broken geometry, non-line geometry, km_end <= km_start, an
        unknown road-code prefix, unknown road class or overlapping ranges of one road.
    """
    gdf = roads.rename(columns={k: v for k, v in _SHP_ALIASES.items() if k in roads.columns})
    gdf = gdf.rename(columns={c: c.lower() for c in gdf.columns if c != gdf.geometry.name})
    problems: list[str] = []
    if len(gdf) == 0:
        msg = f"{source}: no road features"
        raise NetworkFileError(msg)
    missing = [c for c in REQUIRED_COLUMNS if c not in gdf.columns]
    if missing:
        problems.append(f"missing required field(s): {', '.join(missing)}")
    if gdf.crs is None:
        msg = (
            f"{source} has no CRS: give the frame one (e.g. set_crs('EPSG:4326')) or read the "
            "file with --crs EPSG:4326"
        )
        raise NetworkFileError(msg)
    if not gdf.crs.equals(WGS84):
        gdf = gdf.to_crs(WGS84)
    gdf = gdf.reset_index(drop=True)
    codes, lines = _checked_features(gdf, problems)
    km_start = np.full(len(gdf), np.nan)
    km_end = np.full(len(gdf), np.nan)
    if not missing:
        km_start, km_end = _checked_kms(gdf, codes, problems)
        _check_overlaps(codes, km_start, km_end, problems)
    classes = _road_classes(gdf, codes, problems)
    if problems:
        shown = problems[:50]
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        msg = f"{source}: {len(problems)} problem(s):\n  " + "\n  ".join(shown) + more
        raise NetworkFileError(msg)
    return _road_frame(gdf, codes, lines, classes, km_start, km_end)


def _where(i: int, code: str) -> str:
    return f"feature {i}" + (f" ({code})" if code else "")


def _checked_features(
    gdf: gpd.GeoDataFrame, problems: list[str]
) -> tuple[list[str], list[LineString | None]]:
    """Normalised road codes and single lines per feature; what is wrong goes to `problems`."""
    has_code = "road_code" in gdf.columns
    codes: list[str] = []
    lines: list[LineString | None] = []
    raw_codes = gdf["road_code"] if has_code else [None] * len(gdf)
    for i, (raw_code, geom) in enumerate(zip(raw_codes, gdf.geometry, strict=True)):
        code = "" if raw_code is None or pd.isna(raw_code) else str(raw_code).strip().upper()
        where = _where(i, code)
        if has_code:
            if not code:
                problems.append(f"{where}: empty road_code")
            elif not ROAD_CODE_RE.match(code):
                problems.append(
                    f"{where}: unknown road code {raw_code!r} (expected G/S/X/Y/Z + 1-4 digits)"
                )
        codes.append(code)
        lines.append(_checked_line(geom, where, problems))
    return codes, lines


def _checked_line(geom: Any, where: str, problems: list[str]) -> LineString | None:
    """Return the feature's single lon/lat line, or None with the reason appended to `problems`."""
    if geom is None or geom.is_empty:
        problems.append(f"{where}: empty geometry")
        return None
    if not isinstance(geom, LineString | MultiLineString):
        problems.append(f"{where}: geometry is a {geom.geom_type}, not a line")
        return None
    line = _line_of(geom)
    if line is None:
        problems.append(f"{where}: MultiLineString parts do not join into one line")
        return None
    xy = shapely.get_coordinates(line)
    if not np.all(np.isfinite(xy)):
        problems.append(f"{where}: geometry has non-finite coordinates")
        return None
    if line.length == 0:
        problems.append(f"{where}: line has zero length")
        return None
    if np.any(np.abs(xy[:, 0]) > 180) or np.any(np.abs(xy[:, 1]) > 90):
        problems.append(f"{where}: coordinates are not lon/lat degrees")
        return None
    return line


def _checked_kms(
    gdf: gpd.GeoDataFrame, codes: list[str], problems: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """km_start and km_end as floats; non-numbers, reversed and negative ranges are problems."""
    km_start = pd.to_numeric(gdf["km_start"], errors="coerce").to_numpy(dtype=float)
    km_end = pd.to_numeric(gdf["km_end"], errors="coerce").to_numpy(dtype=float)
    for i in range(len(gdf)):
        where = _where(i, codes[i])
        if not (np.isfinite(km_start[i]) and np.isfinite(km_end[i])):
            problems.append(
                f"{where}: km_start/km_end not numbers "
                f"({gdf['km_start'].iloc[i]!r}, {gdf['km_end'].iloc[i]!r})"
            )
        elif km_end[i] <= km_start[i]:
            problems.append(
                f"{where}: km_end {km_end[i]:g} <= km_start {km_start[i]:g} "
                "(kilometre posts must increase along the line's vertex order)"
            )
        elif km_start[i] < 0:
            problems.append(f"{where}: negative km_start {km_start[i]:g}")
    return km_start, km_end


def _check_overlaps(
    codes: list[str], km_start: np.ndarray, km_end: np.ndarray, problems: list[str]
) -> None:
    """Pieces of one road must not overlap."""
    by_code: dict[str, list[int]] = {}
    for i, c in enumerate(codes):
        if c and np.isfinite(km_start[i]) and km_end[i] > km_start[i]:
            by_code.setdefault(c, []).append(i)
    for c, idx in by_code.items():
        idx.sort(key=lambda j: km_start[j])
        for a, b in zip(idx, idx[1:], strict=False):
            if km_start[b] < km_end[a] - 1e-9:
                problems.append(
                    f"features {a} and {b} ({c}): kilometre ranges overlap "
                    f"({km_start[a]:g}-{km_end[a]:g} and {km_start[b]:g}-{km_end[b]:g})"
                )


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _road_classes(gdf: gpd.GeoDataFrame, codes: list[str], problems: list[str]) -> list[str]:
    """Each feature's road class: given, else the default for its road code."""
    if "road_class" not in gdf.columns:
        return [road_class_for_code(c) if c else "township" for c in codes]
    classes: list[str] = []
    for i, v in enumerate(gdf["road_class"]):
        if _missing(v) or str(v).strip() == "":
            classes.append(road_class_for_code(codes[i]) if codes[i] else "township")
            continue
        cls = str(v).strip().lower()
        cls = CLASS_ALIASES.get(cls, cls)
        if cls not in ROAD_CLASSES:
            problems.append(
                f"feature {i}: unknown road_class {v!r} (expected {', '.join(ROAD_CLASSES)})"
            )
        classes.append(cls)
    return classes


def _road_frame(
    gdf: gpd.GeoDataFrame,
    codes: list[str],
    lines: list[LineString | None],
    classes: list[str],
    km_start: np.ndarray,
    km_end: np.ndarray,
) -> gpd.GeoDataFrame:
    """Return the validated frame: schema columns with defaults filled, then any extra columns."""

    def text_col(name: str, default: Iterable[str]) -> list[str]:
        vals = gdf[name] if name in gdf.columns else [None] * len(gdf)
        return [
            d if _missing(v) or str(v) == "" else str(v)
            for v, d in zip(vals, default, strict=True)
        ]

    def speed_col(name: str, which: int) -> np.ndarray:
        default = np.array([DEFAULT_SPEEDS[c][which] for c in classes])
        if name not in gdf.columns:
            return default
        vals = pd.to_numeric(gdf[name], errors="coerce").to_numpy(dtype=float)
        return np.where(np.isfinite(vals) & (vals > 0), vals, default)

    truthy = {"true", "1", "yes", "y", "t"}
    if "oneway" in gdf.columns:
        oneway = [not _missing(v) and str(v).strip().lower() in truthy for v in gdf["oneway"]]
    else:
        oneway = [False] * len(gdf)
    section = text_col("section_id", [""] * len(gdf))
    out = gpd.GeoDataFrame(
        {
            "road_code": codes,
            "name_zh": text_col("name_zh", codes),
            "name_en": text_col("name_en", codes),
            "road_class": classes,
            "km_start": km_start,
            "km_end": km_end,
            "oneway": oneway,
            "speed_car_kmh": speed_col("speed_car_kmh", 0),
            "speed_truck_kmh": speed_col("speed_truck_kmh", 1),
            "section_id": [s or None for s in section],
        },
        geometry=gpd.GeoSeries(lines, crs=WGS84),
        crs=WGS84,
    )
    extra = [c for c in gdf.columns if c not in out.columns and c != gdf.geometry.name]
    for c in extra:
        out[c] = gdf[c].to_numpy()
    return out
