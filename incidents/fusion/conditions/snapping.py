"""Snapping: fill ``reports.segment_id`` / ``off_road_reason`` exactly once per point report."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.orm import Session

from geo.region import Region
from geo.stakes import format_stake
from incidents.fusion.conditions.evidence import report_frame
from incidents.fusion.conditions.kinds import OFF_ROAD_SEARCH_M, POINT_KINDS
from incidents.settings import Settings
from incidents.store.models import (
    Report,
)

__all__ = ['snap_new_reports']



def _off_road_reason(distance_m: float, road: str | None, km: float, tol: float) -> str:
    if road is None:
        return f"no road within {OFF_ROAD_SEARCH_M / 1000:.0f} km (snap tolerance {tol:.0f} m)"
    return (
        f"{distance_m:.0f} m from the nearest road ({road} {format_stake(float(km))}),"
        f" beyond the {tol:.0f} m snap tolerance"
    )

def snap_new_reports(session: Session, region: Region, settings: Settings) -> pd.DataFrame:
    """Snap every not-yet-fused point report, writing ``segment_id`` or ``off_road_reason`` once.

    Returns
    -------
    pandas.DataFrame
        The newly fused reports: ``id, kind, subtype, confidence, observed_at, road_code, km,
        attributes, geometry (shapely), segment_id, snap_road, snap_km, off_road_reason``.
    """
    stmt = (
        select(
            Report.id,
            Report.kind,
            Report.subtype,
            Report.confidence,
            Report.observed_at,
            Report.road_code,
            Report.km,
            Report.attributes,
            Report.geometry,
        )
        .where(
            Report.kind.in_(POINT_KINDS),
            Report.segment_id.is_(None),
            Report.off_road_reason.is_(None),
        )
        .order_by(Report.observed_at, Report.id)
    )
    new = report_frame(session, stmt)
    if len(new) == 0:
        for c in ("segment_id", "snap_road", "snap_km", "off_road_reason"):
            new[c] = []
        return new
    geoms = new["geometry"].to_numpy(dtype=object)
    is_pt = np.array([g is not None and not g.is_empty and g.geom_type == "Point" for g in geoms])
    lon = np.array([g.x if ok else np.nan for g, ok in zip(geoms, is_pt, strict=True)])
    lat = np.array([g.y if ok else np.nan for g, ok in zip(geoms, is_pt, strict=True)])
    seg = np.full(len(new), None, dtype=object)
    road = np.full(len(new), None, dtype=object)
    km = np.full(len(new), np.nan)
    reason = np.full(len(new), None, dtype=object)
    tol = settings.snap_tolerance_m
    if is_pt.any():
        snapped = region.network.snap(lon[is_pt], lat[is_pt], tolerance_m=tol)
        seg[is_pt] = snapped["segment_id"].to_numpy(dtype=object)
        road[is_pt] = snapped["road_code"].to_numpy(dtype=object)
        km[is_pt] = snapped["km"].to_numpy(dtype=float)
    far = is_pt & np.array([s is None for s in seg])
    if far.any():
        wide = region.network.snap(lon[far], lat[far], tolerance_m=OFF_ROAD_SEARCH_M)
        msgs = [
            _off_road_reason(d, rc, k, tol)
            for d, rc, k in zip(wide["distance_m"], wide["road_code"], wide["km"], strict=True)
        ]
        reason[far] = np.array(msgs, dtype=object)
    reason[~is_pt] = "no point location"
    new["segment_id"] = seg
    new["snap_road"] = road
    new["snap_km"] = km
    new["off_road_reason"] = reason
    rows = [
        {"b_id": int(i), "b_seg": s, "b_reason": r}
        for i, s, r in zip(new["id"], seg, reason, strict=True)
    ]
    stmt_u = (
        update(Report)
        .where(
            and_(
                Report.id == bindparam("b_id"),
                Report.segment_id.is_(None),
                Report.off_road_reason.is_(None),
            )
        )
        .values(segment_id=bindparam("b_seg"), off_road_reason=bindparam("b_reason"))
    )
    session.connection().execute(stmt_u, rows)
    return new
