"""Copy the region (``geo.region.Region``) into the database.

Segments, units, duty points and road chiefs.

Rows already present (same id) are left alone, so loading twice adds nothing and a unit's live
status survives a reload.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.region import Region
from incidents.store.engine import write_gdf
from incidents.store.models import Base, DutyPoint, RoadChief, Segment, Unit, UnitStatus


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def _banner_codes(region: Region, geoms: gpd.GeoSeries) -> list[str | None]:
    """Admin code of the banner containing each geometry's midpoint (None outside all)."""
    places = region.gazetteer.places
    if len(geoms) == 0 or len(places) == 0 or "level" not in places.columns:
        return [None] * len(geoms)
    banners = places[places["level"] == "banner"][["admin_code", "geometry"]]
    if len(banners) == 0:
        return [None] * len(geoms)
    mids = shapely.line_interpolate_point(geoms.to_numpy(), 0.5, normalized=True)
    points = gpd.GeoDataFrame({"i": range(len(geoms))}, geometry=mids, crs=4326)
    joined = gpd.sjoin(points, banners.to_crs(4326), how="left", predicate="within")
    first = joined.groupby("i")["admin_code"].first()
    return [_text(first.get(i)) for i in range(len(geoms))]


def segments_frame(region: Region) -> gpd.GeoDataFrame:
    """Return the region's segments with the columns of the ``segments`` table."""
    seg = region.network.segments
    frame = gpd.GeoDataFrame(
        {
            "id": seg["segment_id"].astype(str),
            "road_code": seg["road_code"].astype(str),
            "road_name": seg["road_name"] if "road_name" in seg else None,
            "road_class": seg["road_class"] if "road_class" in seg else None,
            "km_from": seg["km_from"].astype(float),
            "km_to": seg["km_to"].astype(float),
            "section_id": seg["section_id"] if "section_id" in seg else None,
        },
        geometry=seg.geometry.to_crs(4326).to_numpy(),
        crs=4326,
    )
    frame["admin_code"] = _banner_codes(region, frame.geometry)
    return frame


def units_frame(region: Region) -> gpd.GeoDataFrame:
    """Return the region's units with the columns of the ``units`` table (all available)."""
    u = region.units

    def caps(value: Any) -> list[str]:
        if isinstance(value, list | tuple):
            return [str(c) for c in value]
        return [c.strip() for c in str(_text(value) or "").split(";") if c.strip()]

    return gpd.GeoDataFrame(
        {
            "id": u["unit_id"].astype(str),
            "name": u["name_zh"].map(_text),
            "name_en": u["name_en"].map(_text),
            "vehicle_class": u["vehicle_class"].astype(str),
            "capabilities": u["capabilities"].map(caps),
            "status": UnitStatus.AVAILABLE.value,
            "brigade": u["brigade"].map(_text),
            "home_base": u["home_base"].map(_text),
            "crew_hours": 0.0,
            "crew_hour_limit": pd.to_numeric(u["crew_hour_limit"], errors="coerce").fillna(12.0),
            "fuel": 1.0,
            "version": 1,
        },
        geometry=u.geometry.to_crs(4326).to_numpy(),
        crs=4326,
    )


def duty_points_frame(region: Region) -> gpd.GeoDataFrame:
    """Return the region's duty points with the columns of the ``duty_points`` table."""
    d = region.duty_points
    return gpd.GeoDataFrame(
        {
            "id": d["id"].astype(str),
            "kind": d["kind"].astype(str),
            "name": d["name_zh"].map(_text),
            "name_en": d["name_en"].map(_text),
            "road_code": d["road_code"].map(_text),
            "km": pd.to_numeric(d["km"], errors="coerce"),
            "admin_code": d["admin_code"].map(_text),
            "hours": d["hours"].map(_text),
        },
        geometry=d.geometry.to_crs(4326).to_numpy(),
        crs=4326,
    )


def chiefs_frame(region: Region) -> pd.DataFrame:
    """Return the region's road chiefs with the columns of the ``road_chiefs`` table."""
    c = region.chiefs
    return pd.DataFrame(
        {
            "id": c["road_chief_id"].astype(str),
            "name": c["name_zh"].map(_text),
            "name_en": c["name_en"].map(_text),
            "title": c["title_zh"].map(_text),
            "phone": c["phone"].map(_text),
            "section_id": c["section_id"].map(_text),
        }
    )


def _insert_new(session: Session, model: type[Base], frame: pd.DataFrame) -> int:
    id_col = model.__table__.c.id
    existing = set(session.scalars(select(id_col)))
    fresh = frame[~frame["id"].isin(existing)].drop_duplicates("id")
    return write_gdf(session, model, fresh)


def load_region_into_db(session: Session, region: Region) -> dict[str, int]:
    """Insert the region's segments, units, duty points and road chiefs not yet stored.

    Runs in the caller's transaction. Returns how many rows of each were added.
    """
    return {
        "road_chiefs": _insert_new(session, RoadChief, chiefs_frame(region)),
        "segments": _insert_new(session, Segment, segments_frame(region)),
        "units": _insert_new(session, Unit, units_frame(region)),
        "duty_points": _insert_new(session, DutyPoint, duty_points_frame(region)),
    }
