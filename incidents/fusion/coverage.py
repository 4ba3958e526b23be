"""Coverage: the share of hazardous road-km within T minutes of a free unit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.coverage import coverage_share, segment_response_times
from geo.region import Region
from incidents.settings import Settings
from incidents.store.models import (
    Condition,
    SegmentCondition,
    Unit,
    UnitStatus,
)

__all__ = ['CoverageResult', 'coverage']


@dataclass
class CoverageResult:
    """Share of hazardous road-km within `minutes` of a free unit, and per-segment times."""

    share: float
    minutes: float
    hazardous_km: float
    covered_km: float
    per_segment: gpd.GeoDataFrame


def coverage(session: Session, region: Region, settings: Settings, now: datetime) -> CoverageResult:
    """Compute coverage at `now` (T = ``settings.coverage_minutes``).

    Free units are the database units with status ``available`` and a position; when the
    database has no units at all (region not loaded), the region's units at their home bases.
    Hazardous segments are those whose current condition is not clear (observed or forecast);
    travel times respect the current conditions.
    """
    units = list(session.scalars(select(Unit)))
    if units:
        free = [
            u for u in units if u.status == UnitStatus.AVAILABLE.value and u.geometry is not None
        ]
        pts = np.asarray([u.geometry for u in free], dtype=object)
        lon = shapely.get_x(pts).tolist()
        lat = shapely.get_y(pts).tolist()
        vcs = [u.vehicle_class for u in free]
        ids = [u.id for u in free]
    else:
        ru = region.units
        lon = ru.geometry.x.tolist()
        lat = ru.geometry.y.tolist()
        vcs = ru["vehicle_class"].astype(str).tolist()
        ids = ru["unit_id"].astype(str).tolist()
    cur = list(session.scalars(select(SegmentCondition).where(SegmentCondition.valid_to.is_(None))))
    conds = {c.segment_id: c.condition for c in cur if c.condition != Condition.CLEAR.value}
    observed = {
        c.segment_id: c.condition
        for c in cur
        if c.observed and c.condition != Condition.CLEAR.value
    }
    t, src = segment_response_times(region.graph, lon, lat, vcs, observed)
    segs = region.network.segments
    hz = segs["segment_id"].map(lambda s: s in conds).to_numpy(dtype=bool)
    res = coverage_share(segs["length_m"].to_numpy(dtype=float), hz, t, settings.coverage_minutes)
    per = gpd.GeoDataFrame(
        {
            "segment_id": segs["segment_id"].to_numpy(),
            "road_code": segs["road_code"].to_numpy(),
            "km_from": segs["km_from"].to_numpy(),
            "length_m": segs["length_m"].to_numpy(),
            "condition": segs["segment_id"].map(conds).to_numpy(dtype=object),
            "hazardous": hz,
            "time_s": t,
            "unit_id": [ids[i] if i >= 0 else None for i in src],
            "covered": t <= settings.coverage_minutes * 60.0,
        },
        geometry=segs.geometry.to_numpy(),
        crs=segs.crs,
    )
    return CoverageResult(
        share=res["share"],
        minutes=res["minutes"],
        hazardous_km=res["hazardous_km"],
        covered_km=res["covered_km"],
        per_segment=per,
    )
