"""Reads of the drone flights: the road stretches each flight patrolled, and its detections."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.crs import METRIC_CRS
from incidents.queries.core import utc_or_none
from incidents.store.models import (
    Report,
    Segment,
)

__all__ = [
    "DRONE_COVERAGE_COLUMNS",
    "DRONE_FLIGHT_COLUMNS",
    "drone_coverage",
    "drone_flights",
]


DRONE_COVERAGE_COLUMNS = [
    "report_id", "flight_id", "started_at", "ended_at", "road_km", "segments", "on_roads",
]



def drone_coverage(session: Session, at: datetime, hours: float = 24.0) -> gpd.GeoDataFrame:
    """Road stretches patrolled by each drone flight that ended within `hours` before `at`.

    One row per stored ``drone_track`` report: its geometry is the union of the road segments
    the track passed over (``attributes.segment_ids``, from ingest), else the flown track
    itself when it touched no known segment (``on_roads`` False). ``road_km`` is the figure
    ingest stored (``attributes.road_km``), else the length of those segments.

    Parameters
    ----------
    session
        An open (read) session.
    at
        The operational now.
    hours
        How far back a flight still counts.

    Returns
    -------
    geopandas.GeoDataFrame
        report_id, flight_id, started_at, ended_at, road_km, segments, on_roads and the lines,
        EPSG:4326, newest flight first.
    """
    since = at - timedelta(hours=hours)
    rows = session.execute(
        select(Report.id, Report.observed_at, Report.attributes, Report.geometry)
        .where(Report.kind == "drone_track", Report.observed_at >= since - timedelta(hours=6),
               Report.observed_at <= at)
        .order_by(Report.observed_at.desc(), Report.id)
    ).all()
    flights = [(rid, obs, dict(attrs or {}), geom) for rid, obs, attrs, geom in rows]
    flights = [f for f in flights if (utc_or_none(f[2].get("ended_at")) or utc_or_none(f[1]) or at) >= since]
    wanted = sorted({str(s) for f in flights for s in (f[2].get("segment_ids") or [])})
    seg_geom: dict[str, Any] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        for sid, geom in session.execute(
            select(Segment.id, Segment.geometry).where(Segment.id.in_(chunk))
        ):
            if geom is not None:
                seg_geom[str(sid)] = geom
    records, lines = [], []
    for rid, observed, attrs, track in flights:
        segs = [seg_geom[str(s)] for s in (attrs.get("segment_ids") or []) if str(s) in seg_geom]
        line = shapely.line_merge(shapely.union_all(segs)) if segs else track
        if line is None or line.is_empty:
            continue
        road_km = attrs.get("road_km")
        if not isinstance(road_km, int | float) and segs:
            road_km = float(gpd.GeoSeries(segs, crs=4326).to_crs(METRIC_CRS).length.sum()) / 1000
        records.append({
            "report_id": rid, "flight_id": str(attrs.get("flight_id") or rid),
            "started_at": utc_or_none(observed), "ended_at": utc_or_none(attrs.get("ended_at")),
            "road_km": float(road_km) if isinstance(road_km, int | float) else float("nan"),
            "segments": len(segs), "on_roads": bool(segs),
        })
        lines.append(line)
    frame = pd.DataFrame(records, columns=DRONE_COVERAGE_COLUMNS)
    for column in ("started_at", "ended_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return gpd.GeoDataFrame(frame, geometry=lines, crs=4326)



DRONE_FLIGHT_COLUMNS = [
    "report_id", "flight_id", "started_at", "ended_at", "road_km", "length_km", "detections",
    "flags",
]



def drone_flights(session: Session, at: datetime, hours: float = 24.0) -> pd.DataFrame:
    """Drone flights that ended within `hours` before `at`: road-km patrolled and detections.

    The flights of :func:`drone_coverage` (same window and road-km), with the flown length
    (``attributes.length_km``), how many ``drone_detection`` reports name the flight
    (``attributes.flight_id``) and the track's flags (``stray_bytes`` ...) joined by ", ".

    Returns
    -------
    pandas.DataFrame
        :data:`DRONE_FLIGHT_COLUMNS`, newest flight first.
    """
    cover = drone_coverage(session, at, hours)
    ids = [int(i) for i in cover["report_id"]]
    extra: dict[int, tuple[dict[str, Any], list[str]]] = {}
    for start in range(0, len(ids), 500):
        for rid, attrs, flags in session.execute(
            select(Report.id, Report.attributes, Report.flags).where(
                Report.id.in_(ids[start:start + 500])
            )
        ):
            extra[int(rid)] = (dict(attrs or {}), [str(f) for f in (flags or [])])
    since = at - timedelta(hours=hours + 6)
    counts: dict[str, int] = {}
    for (attrs,) in session.execute(
        select(Report.attributes).where(
            Report.kind == "drone_detection", Report.observed_at >= since,
            Report.observed_at <= at,
        )
    ):
        flight = str((attrs or {}).get("flight_id") or "")
        counts[flight] = counts.get(flight, 0) + 1
    frame = pd.DataFrame(cover.drop(columns="geometry"))
    length = [extra.get(int(i), ({}, []))[0].get("length_km") for i in ids]
    frame["length_km"] = [float(v) if isinstance(v, int | float) else float("nan") for v in length]
    frame["detections"] = [counts.get(str(f), 0) for f in frame["flight_id"]]
    frame["flags"] = [", ".join(extra.get(int(i), ({}, []))[1]) for i in ids]
    return frame[DRONE_FLIGHT_COLUMNS].reset_index(drop=True)

