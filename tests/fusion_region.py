"""A tiny region and report helpers shared by the fusion tests (not a test module)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry import LineString, Point, box

from geo.region import Region, load_region
from incidents.store.models import Report

NOW = datetime(2025, 12, 13, 12, 0, tzinfo=UTC)


def write_region(folder: Path) -> Path:
    """G999 west-east along 44.5N (K0-K32), Y001 north from G999 K16 (K0-K11)."""
    folder.mkdir(parents=True, exist_ok=True)
    gpd.GeoDataFrame(
        {
            "admin_code": ["150000", "152522"],
            "level": ["province", "banner"],
            "name_zh": ["内蒙古自治区", "阿巴嘎旗"],
            "name_en": ["Inner Mongolia", "Abag Banner"],
            "parent_code": ["100000", "152500"],
            "seat_lon": [115.2, 115.2],
            "seat_lat": [44.55, 44.55],
        },
        geometry=[box(114, 44, 116, 45), box(114, 44, 116, 45)],
        crs="EPSG:4326",
    ).to_file(folder / "places.geojson", driver="GeoJSON", engine="pyogrio")
    g999 = LineString([(115.0, 44.5), (115.2, 44.5), (115.4, 44.5)])
    y001 = LineString([(115.2, 44.5), (115.2, 44.6)])
    roads = gpd.GeoDataFrame(
        {
            "road_code": ["G999", "Y001"],
            "name_zh": ["国道999线", "乡道001线"],
            "name_en": ["G999", "Y001"],
            "road_class": ["national", "township"],
            "km_start": [0.0, 0.0],
            "km_end": [round(g999.length * 78.9, 3), round(y001.length * 111.1, 3)],
            "oneway": [False, False],
            "speed_car_kmh": [80.0, 40.0],
            "speed_truck_kmh": [60.0, 30.0],
            "section_id": ["G999-01", "Y001-01"],
        },
        geometry=[g999, y001],
        crs="EPSG:4326",
    )
    roads.to_file(folder / "roads.geojson", driver="GeoJSON", engine="pyogrio")
    pd.DataFrame(
        {
            "unit_id": ["R1", "P1"],
            "name_zh": ["救援车1", "除雪车1"],
            "name_en": ["Rescue 1", "Plow 1"],
            "vehicle_class": ["rescue", "plow"],
            "capabilities": ["rescue;traffic_control", "plow"],
            "brigade": ["b", "b"],
            "home_base": ["west", "north"],
            "lon": [115.0, 115.2],
            "lat": [44.5, 44.6],
            "crew_hour_limit": [12, 12],
        }
    ).to_csv(folder / "units.csv", index=False)
    pd.DataFrame(
        {
            "section_id": ["G999-01", "Y001-01"],
            "road_code": ["G999", "Y001"],
            "km_from": [0.0, 0.0],
            "km_to": [40.0, 20.0],
            "name_zh": ["G999段", "Y001段"],
            "name_en": ["G999 section", "Y001 section"],
            "maintainer": ["m", "m"],
            "road_chief_id": ["RC01", "RC02"],
        }
    ).to_csv(folder / "sections.csv", index=False)
    pd.DataFrame(
        {
            "road_chief_id": ["RC01", "RC02"],
            "name_zh": ["张三", "李四"],
            "name_en": ["Zhang San", "Li Si"],
            "title_zh": ["路长", "路长"],
            "title_en": ["road chief", "road chief"],
            "phone": ["0479-1", "0479-2"],
            "section_id": ["G999-01", "Y001-01"],
        }
    ).to_csv(folder / "road_chiefs.csv", index=False)
    return folder


def tiny_region(folder: Path) -> Region:
    """Load the tiny region written into `folder`."""
    return load_region(write_region(folder))


def at(region: Region, road: str, km: float, north_m: float = 0.0) -> Point:
    """The WGS84 point at `road` `km`, optionally moved north by `north_m` metres."""
    p = region.network.stake_to_point(road, km)
    return Point(p.x, p.y + north_m / 111_000.0)


_seq = iter(range(1, 10**9))


def report(
    kind: str,
    subtype: str | None,
    point: Any,
    minutes_ago: float,
    *,
    confidence: float | None = None,
    attributes: dict[str, Any] | None = None,
    key: str | None = None,
    now: datetime = NOW,
) -> Report:
    """A Report row as ingest would store it."""
    return Report(
        kind=kind,
        natural_key=key or f"{kind}-{next(_seq)}",
        source="test",
        observed_at=now - timedelta(minutes=minutes_ago),
        geometry=point,
        subtype=subtype,
        confidence=confidence,
        flags=[],
        attributes=attributes or {},
    )
