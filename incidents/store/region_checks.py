"""Checking region tables row by row, every problem collected (file, row, field, value).

The tables: units roster, duty and warming points, sections, road chiefs, the township-level
gazetteer. No problem is raised.

:func:`read_region` reads every file of an import (:mod:`incidents.store.region_files`), checks
each table and the references between them, and builds the :class:`geo.region.Region` when the
import has roads. Nothing here touches the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point

from geo.errors import GeoError
from geo.gazetteer import Gazetteer
from geo.network import RoadGraph
from geo.region import Region, region_bounds
from geo.roads import RoadNetwork
from geo.speeds import VEHICLE_CLASSES
from geo.stakes import parse_stake
from incidents.store.region_files import (
    RegionFile,
    RegionOptions,
    RegionProblem,
    blank,
    find_region_files,
    read_places,
    read_road_problems,
    read_table,
)

__all__ = ["CAPABILITIES", "RegionData", "read_region"]

CAPABILITIES = ("rescue", "heavy_tow", "plow", "grit", "traffic_control", "medical")
DEFAULT_CAPABILITIES = {
    "patrol_car": ["traffic_control"],
    "plow": ["plow"],
    "grit_spreader": ["grit"],
    "heavy_tow": ["heavy_tow", "rescue"],
    "rescue": ["rescue", "traffic_control"],
    "ambulance": ["medical"],
}
VEHICLE_ALIASES = {
    "巡逻车": "patrol_car", "警车": "patrol_car", "patrol": "patrol_car",
    "除雪车": "plow", "铲雪车": "plow", "snowplow": "plow", "plough": "plow",
    "撒布车": "grit_spreader", "融雪剂撒布车": "grit_spreader", "spreader": "grit_spreader",
    "清障车": "heavy_tow", "重型清障车": "heavy_tow", "拖车": "heavy_tow", "tow": "heavy_tow",
    "救援车": "rescue", "抢险车": "rescue", "救护车": "ambulance",
}
_ALIASES: dict[str, dict[str, str]] = {
    "units": {"id": "unit_id", "编号": "unit_id", "车辆编号": "unit_id", "unit": "unit_id",
              "name": "name_zh", "名称": "name_zh", "class": "vehicle_class",
              "车型": "vehicle_class", "类型": "vehicle_class", "type": "vehicle_class",
              "caps": "capabilities", "能力": "capabilities", "base": "home_base",
              "驻地": "home_base", "基地": "home_base", "单位": "brigade",
              "organisation": "brigade", "lng": "lon", "longitude": "lon", "经度": "lon",
              "latitude": "lat", "纬度": "lat", "crew_size": "crew", "人数": "crew",
              "乘员": "crew", "油量": "fuel", "fuel_level": "fuel"},
    "duty_points": {"编号": "id", "name": "name_zh", "名称": "name_zh", "类型": "kind",
                    "road": "road_code", "路线": "road_code", "桩号": "km", "stake": "km",
                    "lng": "lon", "longitude": "lon", "经度": "lon", "latitude": "lat",
                    "纬度": "lat", "容量": "capacity", "容纳人数": "capacity"},
    "sections": {"id": "section_id", "name": "name_zh", "road": "road_code",
                 "chief": "road_chief_id", "路长": "road_chief_id", "养护单位": "maintainer"},
    "road_chiefs": {"id": "road_chief_id", "name": "name_zh", "姓名": "name_zh",
                    "title": "title_zh", "职务": "title_zh", "电话": "phone",
                    "section": "section_id", "路段": "section_id"},
    "towns": {"name": "name_zh", "名称": "name_zh", "level": "kind", "类型": "kind",
              "code": "admin_code", "区划代码": "admin_code", "lng": "lon", "经度": "lon",
              "longitude": "lon", "latitude": "lat", "纬度": "lat"},
}
_ALIASES["warming_points"] = _ALIASES["duty_points"]
_ADMIN_RE = re.compile(r"^\d{6}(?:\d{3}|\d{6})?$")
_DUTY_KINDS = ("duty_point", "duty_station", "warming_point")


@dataclass
class RegionData:
    """Everything read from one import's files (no database involved)."""

    files: list[RegionFile]
    ignored: list[Path]
    problems: list[RegionProblem]
    roads: gpd.GeoDataFrame | None = None
    places: gpd.GeoDataFrame | None = None
    towns: pd.DataFrame | None = None
    units: gpd.GeoDataFrame | None = None
    duty_points: gpd.GeoDataFrame | None = None
    sections: pd.DataFrame | None = None
    chiefs: pd.DataFrame | None = None
    region: Region | None = None
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def kinds(self) -> list[str]:
        """Kinds of file in the import."""
        return [f.kind for f in self.files]


class _Rows:
    """Problem collector for one table (file name + row label)."""

    def __init__(self, name: str, problems: list[RegionProblem]) -> None:
        self.name, self.problems = name, problems

    def add(self, row: str, fld: str | None, value: Any, message: str) -> None:
        val = None if value is None else str(value)
        self.problems.append(RegionProblem(self.name, row, fld, val, message))


def _num(v: Any) -> float | None:
    try:
        x = float(str(v).strip().rstrip("%"))
    except ValueError:
        return None
    return x if np.isfinite(x) else None


def _lonlat(rows: _Rows, where: str, r: pd.Series) -> tuple[float, float] | None:
    lon_raw, lat_raw = r.get("lon", ""), r.get("lat", "")
    if blank(lon_raw) and blank(lat_raw):
        return None
    lon, lat = _num(lon_raw), _num(lat_raw)
    if lon is None or not -180 <= lon <= 180:
        rows.add(where, "lon", lon_raw, "not a longitude in degrees")
    if lat is None or not -90 <= lat <= 90:
        rows.add(where, "lat", lat_raw, "not a latitude in degrees")
    return (lon, lat) if lon is not None and lat is not None and abs(lat) <= 90 else None


def _ids(rows: _Rows, df: pd.DataFrame, col: str) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, v in enumerate(df[col] if col in df.columns else [""] * len(df)):
        where = f"row {i + 2}"
        if blank(v):
            rows.add(where, col, None, "empty id")
        elif len(str(v)) > 64:
            rows.add(where, col, v, "longer than 64 characters")
        elif str(v) in seen:
            rows.add(f"{where} ({v})", col, v, f"the same id as row {seen[str(v)]}")
        else:
            seen[str(v)] = i + 2
        out.append(str(v))
    return out


def _required(rows: _Rows, df: pd.DataFrame, cols: Iterable[str]) -> bool:
    missing = [c for c in cols if c not in df.columns]
    for c in missing:
        rows.add("header", c, None,
                 f"required column missing (columns: {', '.join(map(str, df.columns))})")
    return not missing


# ------------------------------------------------------------------------------ units


def _capabilities(rows: _Rows, where: str, raw: Any, vclass: str | None) -> list[str]:
    if blank(raw):
        return list(DEFAULT_CAPABILITIES.get(vclass or "", []))
    caps = [c.strip().lower() for c in re.split(r"[;,，；|/ ]+", str(raw)) if c.strip()]
    for c in caps:
        if c not in CAPABILITIES:
            rows.add(where, "capabilities", c, f"unknown capability (known: {', '.join(CAPABILITIES)})")
    return [c for c in caps if c in CAPABILITIES]


def _fuel(rows: _Rows, where: str, raw: Any) -> float:
    if blank(raw):
        return 1.0
    x = _num(raw)
    if x is not None and (str(raw).strip().endswith("%") or 1 < x <= 100):
        x = x / 100.0
    if x is None or not 0 <= x <= 1:
        rows.add(where, "fuel", raw, "not a fuel level (0-1, or 0-100 %)")
        return 1.0
    return x


def _int_in(rows: _Rows, where: str, fld: str, raw: Any, lo: int, hi: int) -> int | None:
    if blank(raw):
        return None
    x = _num(raw)
    if x is None or x != int(x) or not lo <= x <= hi:
        rows.add(where, fld, raw, f"not a whole number from {lo} to {hi}")
        return None
    return int(x)


def _check_units(
    df: pd.DataFrame, name: str, problems: list[RegionProblem], places: _Places
) -> gpd.GeoDataFrame | None:
    rows = _Rows(name, problems)
    if not _required(rows, df, ("unit_id", "vehicle_class")):
        return None
    ids = _ids(rows, df, "unit_id")
    out: list[dict[str, Any]] = []
    geoms: list[Point | None] = []
    for i, r in df.iterrows():
        where = f"row {int(str(i)) + 2} ({ids[int(str(i))]})"
        raw_cls = r.get("vehicle_class", "")
        vclass = VEHICLE_ALIASES.get(str(raw_cls).strip(), str(raw_cls).strip().lower())
        if vclass not in VEHICLE_CLASSES:
            rows.add(where, "vehicle_class", raw_cls,
                     f"unknown vehicle class (known: {', '.join(VEHICLE_CLASSES)})")
        limit = _num(r.get("crew_hour_limit", "")) if not blank(r.get("crew_hour_limit")) else 12.0
        if limit is None or not 0 < limit <= 24:
            rows.add(where, "crew_hour_limit", r.get("crew_hour_limit"), "not hours from 0 to 24")
        pos = _lonlat(rows, where, r)
        base = r.get("home_base", "")
        if pos is None and blank(r.get("lon")) and blank(r.get("lat")):
            pos = places.position(str(base)) if not blank(base) else None
            if pos is None:
                rows.add(where, "home_base", base if not blank(base) else None,
                         "no lon/lat, and the base is not a duty point or place of the region")
        out.append({
            "unit_id": ids[int(str(i))],
            "name_zh": r.get("name_zh") or ids[int(str(i))],
            "name_en": r.get("name_en") or None,
            "vehicle_class": vclass,
            "capabilities": _capabilities(rows, where, r.get("capabilities"), vclass),
            "brigade": r.get("brigade") or None,
            "home_base": base or None,
            "crew_hour_limit": limit or 12.0,
            "crew": _int_in(rows, where, "crew", r.get("crew"), 1, 50),
            "fuel": _fuel(rows, where, r.get("fuel")),
        })
        geoms.append(Point(pos) if pos else None)
    return gpd.GeoDataFrame(pd.DataFrame(out), geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)


# ------------------------------------------------------------------------------ points


class _Places:
    """Where a base or point name is: duty points of the import, then the gazetteer."""

    def __init__(
        self, gazetteer: Gazetteer | None, network: RoadNetwork | None, roads_failed: bool
    ) -> None:
        self.gazetteer, self.network = gazetteer, network
        self.roads_failed = roads_failed  # a roads file with problems: no stake positions
        self.points: dict[str, tuple[float, float]] = {}

    def position(self, name: str) -> tuple[float, float] | None:
        if name in self.points:
            return self.points[name]
        if self.gazetteer is None:
            return None
        try:
            p = self.gazetteer.find(name)
        except GeoError:
            return None
        return (p.lon, p.lat)

    def admin_code(self, lon: float, lat: float) -> str | None:
        if self.gazetteer is None:
            return None
        place = self.gazetteer.admin_at(lon, lat)
        return None if place is None else str(place.admin_code)


def _stake_point(rows: _Rows, where: str, r: pd.Series, places: _Places) -> tuple[Any, Any]:
    """(km, (lon, lat) or None) from road_code + km, when both are given."""
    code, km_raw = r.get("road_code", ""), r.get("km", "")
    if blank(km_raw):
        return None, None
    km = _num(km_raw)
    if km is None:
        try:
            km = parse_stake(str(km_raw)).km
        except GeoError:
            rows.add(where, "km", km_raw, "not a kilometre post (e.g. 1520.3 or K1520+300)")
            return None, None
    if blank(code) or places.network is None:
        return km, None
    try:
        p = places.network.stake_to_point(str(code), km)
    except GeoError as e:
        rows.add(where, "road_code", code, str(e))
        return km, None
    return km, (p.x, p.y)


def _check_points(
    df: pd.DataFrame, rf: RegionFile, problems: list[RegionProblem], places: _Places
) -> gpd.GeoDataFrame | None:
    rows = _Rows(rf.path.name, problems)
    warming = rf.kind == "warming_points"
    needed = ("id", "name_zh", "capacity") if warming else ("id", "name_zh")
    if not _required(rows, df, needed):
        return None
    ids = _ids(rows, df, "id")
    out, geoms = [], []
    for n, (_, r) in enumerate(df.iterrows()):
        where = f"row {n + 2} ({ids[n]})"
        kind = str(r.get("kind") or ("warming_point" if warming else "duty_point"))
        if kind not in _DUTY_KINDS:
            rows.add(where, "kind", kind, f"expected one of {', '.join(_DUTY_KINDS)}")
        km, on_road = _stake_point(rows, where, r, places)
        pos = _lonlat(rows, where, r) or on_road
        by_stake = not blank(r.get("road_code")) and not blank(r.get("km"))
        if pos is None and blank(r.get("lon")) and not (by_stake and places.roads_failed):
            rows.add(where, "lon", None, "no position: give lon/lat, or road_code + km "
                     "with the roads file in the same import")
        if blank(r.get("name_zh")):
            rows.add(where, "name_zh", None, "empty name")
        cap = _int_in(rows, where, "capacity", r.get("capacity"), 0, 100_000)
        if warming and cap is None and blank(r.get("capacity")):
            rows.add(where, "capacity", None, "a warming point needs its capacity (people)")
        code = r.get("admin_code") or (places.admin_code(*pos) if pos else None)
        out.append({"id": ids[n], "kind": kind, "name_zh": r.get("name_zh"),
                    "name_en": r.get("name_en") or None, "road_code": r.get("road_code") or None,
                    "km": km, "admin_code": code, "hours": r.get("hours") or None,
                    "capacity": cap})
        geoms.append(Point(pos) if pos else None)
        if pos:
            places.points[ids[n]] = pos
            places.points[str(r.get("name_zh"))] = pos
    return gpd.GeoDataFrame(pd.DataFrame(out), geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)


# ------------------------------------------------------------------------------ sections, chiefs


def _check_sections(
    df: pd.DataFrame, name: str, problems: list[RegionProblem], network: RoadNetwork | None
) -> pd.DataFrame | None:
    rows = _Rows(name, problems)
    if not _required(rows, df, ("section_id", "road_code", "km_from", "km_to")):
        return None
    ids = _ids(rows, df, "section_id")
    for n, (_, r) in enumerate(df.iterrows()):
        where = f"row {n + 2} ({ids[n]})"
        a, b = _num(r["km_from"]), _num(r["km_to"])
        if a is None:
            rows.add(where, "km_from", r["km_from"], "not a number")
        if b is None:
            rows.add(where, "km_to", r["km_to"], "not a number")
        if a is not None and b is not None and b <= a:
            rows.add(where, "km_to", r["km_to"], f"not beyond km_from {a:g}")
        if network is None or a is None or b is None:
            continue
        try:
            ranges = network.road_range(str(r["road_code"]))
        except GeoError:
            rows.add(where, "road_code", r["road_code"], "no such road in the roads file")
            continue
        if not any(lo - 0.5 <= a and b <= hi + 0.5 for lo, hi in ranges):
            shown = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in ranges)
            rows.add(where, "km_from", r["km_from"],
                     f"section {a:g}-{b:g} is not within one piece of the road ({shown})")
    return df


def _check_chiefs(
    df: pd.DataFrame, name: str, problems: list[RegionProblem], section_ids: set[str] | None
) -> pd.DataFrame | None:
    rows = _Rows(name, problems)
    if not _required(rows, df, ("road_chief_id", "name_zh")):
        return None
    ids = _ids(rows, df, "road_chief_id")
    for n, (_, r) in enumerate(df.iterrows()):
        where = f"row {n + 2} ({ids[n]})"
        if blank(r["name_zh"]):
            rows.add(where, "name_zh", None, "empty name")
        sec = r.get("section_id", "")
        if section_ids is not None and not blank(sec) and str(sec) not in section_ids:
            rows.add(where, "section_id", sec, "no such section (sections file / road features)")
    return df


def _check_towns(
    df: pd.DataFrame, name: str, problems: list[RegionProblem], banners: set[str] | None
) -> pd.DataFrame | None:
    rows = _Rows(name, problems)
    if not _required(rows, df, ("name_zh", "lon", "lat", "admin_code")):
        return None
    if "kind" not in df.columns:
        df = df.assign(kind="township")
    for n, (_, r) in enumerate(df.iterrows()):
        where = f"row {n + 2} ({r['name_zh']})"
        if blank(r["name_zh"]):
            rows.add(where, "name_zh", None, "empty name")
        if _lonlat(rows, where, r) is None and (blank(r["lon"]) or blank(r["lat"])):
            rows.add(where, "lon", None, "no position (lon, lat)")
        code = str(r["admin_code"])
        if not _ADMIN_RE.match(code):
            rows.add(where, "admin_code", code, "not a 6-, 9- or 12-digit division code")
        elif banners is not None and code[:6] not in banners:
            rows.add(where, "admin_code", code, "its banner (first 6 digits) is not in places")
    return df


# ------------------------------------------------------------------------------ the whole import


def _empty_places() -> gpd.GeoDataFrame:
    cols = ("admin_code", "level", "name_zh", "name_en", "parent_code", "seat_lon", "seat_lat")
    return gpd.GeoDataFrame({c: [] for c in cols}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)


def _outside(data: RegionData, region: Region) -> None:
    """Units and duty points must lie in the region (with its ~5 km border slack)."""
    for frame, rf_kind, id_col in ((data.units, "units", "unit_id"),
                                   (data.duty_points, "duty_points", "id")):
        if frame is None:
            continue
        name = next((f.path.name for f in data.files if f.kind == rf_kind), rf_kind)
        for i, (uid, g) in enumerate(zip(frame[id_col], frame.geometry, strict=True)):
            if g is not None and not region.contains(g.x, g.y):
                data.problems.append(RegionProblem(
                    name, f"row {i + 2} ({uid})", "lon", f"{g.x:.5f},{g.y:.5f}",
                    "outside the region (its places / roads)"))


def _table(data: RegionData, kind: str, options: RegionOptions) -> pd.DataFrame | None:
    rf = next((f for f in data.files if f.kind == kind), None)
    if rf is None:
        return None
    df, problems = read_table(rf, options, _ALIASES[kind])
    data.problems.extend(problems)
    if df is not None:
        data.rows[kind] = len(df)
    return df


def _read_geo(data: RegionData, options: RegionOptions) -> None:
    for rf in data.files:
        if rf.kind == "roads":
            data.roads, problems = read_road_problems(rf, options)
        elif rf.kind == "places":
            data.places, problems = read_places(rf, options)
        else:
            continue
        data.problems.extend(problems)
        frame = data.roads if rf.kind == "roads" else data.places
        if frame is not None:
            data.rows[rf.kind] = len(frame)


def read_region(sources: Iterable[str | Path], options: RegionOptions | None = None) -> RegionData:
    """Read and check every region file among `sources`; problems are collected, not raised."""
    opts = options or RegionOptions()
    files, ignored, problems = find_region_files(list(sources), opts)
    data = RegionData(files=files, ignored=ignored, problems=problems)
    _read_geo(data, opts)
    network = RoadNetwork(data.roads) if data.roads is not None else None
    towns = _table(data, "towns", opts)
    banners = None if data.places is None else set(
        data.places.loc[data.places["level"] == "banner", "admin_code"])
    name_of = {f.kind: f.path.name for f in files}
    if towns is not None:
        data.towns = _check_towns(towns, name_of["towns"], data.problems, banners)
    gazetteer = None
    if data.places is not None or data.towns is not None:
        gazetteer = Gazetteer(data.places if data.places is not None else _empty_places(),
                              data.towns)
    places = _Places(gazetteer, network, "roads" in name_of and network is None)
    duty = [
        _check_points(df, next(f for f in files if f.kind == k), data.problems, places)
        for k in ("duty_points", "warming_points")
        if (df := _table(data, k, opts)) is not None
    ]
    kept = [d for d in duty if d is not None]
    if kept:
        data.duty_points = gpd.GeoDataFrame(pd.concat(kept, ignore_index=True), crs=4326)
        _duplicate_ids(data, data.duty_points["id"], "duty_points")
    units = _table(data, "units", opts)
    if units is not None:
        data.units = _check_units(units, name_of["units"], data.problems, places)
    sections = _table(data, "sections", opts)
    if sections is not None:
        data.sections = _check_sections(sections, name_of["sections"], data.problems, network)
    chiefs = _table(data, "road_chiefs", opts)
    if chiefs is not None:
        known = _section_ids(data)
        data.chiefs = _check_chiefs(chiefs, name_of["road_chiefs"], data.problems, known)
    if network is not None and data.roads is not None:
        data.region = _build_region(data, network, gazetteer)
        _outside(data, data.region)
    return data


def _duplicate_ids(data: RegionData, ids: pd.Series, what: str) -> None:
    dup = sorted(set(ids[ids.duplicated()].astype(str)))
    if dup:
        data.problems.append(RegionProblem(
            "warming_points.csv", None, "id", ", ".join(dup),
            f"the same {what} id in duty_points.csv and warming_points.csv"))


def _section_ids(data: RegionData) -> set[str] | None:
    ids: set[str] = set()
    if data.sections is not None:
        ids |= set(data.sections["section_id"].astype(str))
    if data.roads is not None:
        ids |= {str(s) for s in data.roads["section_id"] if not blank(s)}
    return ids if (data.sections is not None or data.roads is not None) else None


def _build_region(data: RegionData, network: RoadNetwork, gazetteer: Gazetteer | None) -> Region:
    assert data.roads is not None
    gaz = gazetteer or Gazetteer(_empty_places())
    empty_points = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    return Region(
        network=network,
        gazetteer=gaz,
        graph=RoadGraph.from_segments(network.segments),
        units=data.units if data.units is not None else empty_points,
        duty_points=data.duty_points if data.duty_points is not None else empty_points,
        sections=data.sections if data.sections is not None else pd.DataFrame(),
        chiefs=data.chiefs if data.chiefs is not None else pd.DataFrame(),
        bounds=region_bounds(gaz.places, data.roads),
        root=None,
    )
