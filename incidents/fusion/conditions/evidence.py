"""Evidence per segment from reports, drone tracks and manual clears (weights with decay)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.crs import from_metric_xy, to_metric
from geo.region import Region
from incidents.fusion.conditions.kinds import (
    POINT_KINDS,
    SOURCE_RELIABILITY,
    classify,
    decay,
    half_lives,
    horizon,
    report_source,
)
from incidents.settings import Settings
from incidents.store.models import (
    Hazard,
    HazardState,
    Report,
)

__all__ = ['evidence_frame', 'report_frame', 'manual_clear_evidence', 'load_evidence']


def evidence_frame(reports: pd.DataFrame, settings: Settings, now: datetime) -> pd.DataFrame:
    """Turn report rows into evidence rows (one per report that says something).

    Parameters
    ----------
    reports
        Columns ``id``, ``kind``, ``subtype``, ``confidence``, ``observed_at``, ``segment_id``,
        ``attributes``; rows without a segment are dropped.
    settings
        For the half-lives.
    now
        The fusion clock.

    Returns
    -------
    pandas.DataFrame
        ``report_id, segment_id, source, condition, incident, clear, weight, base,
        observed_at``; ``base = reliability * confidence``, ``weight = base * decay``.
    """
    cols = ["report_id", "segment_id", "source", "condition", "incident", "clear", "weight"]
    if len(reports) == 0:
        return pd.DataFrame({c: [] for c in [*cols, "base", "observed_at"]})
    rep = reports[reports["segment_id"].notna()]
    kinds = rep["kind"].to_numpy(dtype=object)
    subs = rep["subtype"].to_numpy(dtype=object)
    attrs = rep["attributes"].to_numpy(dtype=object)
    cls = [
        classify(str(k), s, a if isinstance(a, Mapping) else None)
        for k, s, a in zip(kinds, subs, attrs, strict=True)
    ]
    # a caller who gave only a place name is not on the road the town's point snaps to: such a
    # report can make an incident but says nothing about a particular segment's condition
    place_only = np.array(
        [isinstance(a, Mapping) and a.get("location_method") == "place" for a in attrs], dtype=bool
    )
    cond = np.array(
        [None if po else c.condition for c, po in zip(cls, place_only, strict=True)], dtype=object
    )
    inc = np.array([c.incident for c in cls], dtype=object)
    clear = np.array([c.clear for c in cls], dtype=bool)
    source = np.array([report_source(str(k)) for k in kinds], dtype=object)
    hl = half_lives(settings)
    half = np.array([hl.get(s, 3.0) for s in source])
    rel = np.array([SOURCE_RELIABILITY.get(s, 0.5) for s in source])
    conf = pd.to_numeric(rep["confidence"], errors="coerce").fillna(1.0).clip(0, 1).to_numpy()
    obs = pd.to_datetime(rep["observed_at"], utc=True)
    age_h = (pd.Timestamp(now) - obs).dt.total_seconds().to_numpy() / 3600.0
    base = rel * conf
    weight = base * decay(age_h, half)
    out = pd.DataFrame(
        {
            "report_id": rep["id"].to_numpy(),
            "segment_id": rep["segment_id"].to_numpy(dtype=object),
            "source": source,
            "condition": cond,
            "incident": inc,
            "clear": clear,
            "weight": weight,
            "base": base,
            "observed_at": obs.to_numpy(),
        }
    )
    keep = (out["condition"].notna() | out["incident"].notna() | out["clear"]) & (age_h >= -0.25)
    return out[keep].reset_index(drop=True)


def _track_clear_evidence(
    tracks: pd.DataFrame,
    detections: pd.DataFrame,
    region: Region,
    settings: Settings,
    now: datetime,
) -> pd.DataFrame:
    """Clear observations: a drone track over a segment where its flight detected nothing."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    if len(detections):
        flights = detections["attributes"].map(
            lambda a: str(a.get("flight_id")) if isinstance(a, Mapping) else None
        )
        seen = set(zip(flights, detections["segment_id"], strict=True))
    hl = half_lives(settings)["drone"]
    for t in tracks.itertuples(index=False):
        attrs = t.attributes if isinstance(t.attributes, Mapping) else {}
        segs = list(attrs.get("segment_ids") or []) or _track_segments(t.geometry, region, settings)
        ended = attrs.get("ended_at")
        when = pd.Timestamp(ended) if ended else pd.Timestamp(t.observed_at)
        if when.tzinfo is None:
            when = when.tz_localize("UTC")
        flight = str(attrs.get("flight_id"))
        age = (pd.Timestamp(now) - when).total_seconds() / 3600.0
        w = SOURCE_RELIABILITY["drone"] * float(decay(age, hl))
        for sid in segs:
            if (flight, sid) in seen:
                continue
            rows.append(
                {
                    "report_id": t.id,
                    "segment_id": sid,
                    "source": "drone",
                    "condition": None,
                    "incident": None,
                    "clear": True,
                    "weight": w,
                    "base": SOURCE_RELIABILITY["drone"],
                    "observed_at": when,
                }
            )
    return pd.DataFrame(rows)


def _track_segments(
    geom: Any, region: Region, settings: Settings, step_m: float = 100.0
) -> list[str]:
    if geom is None or geom.is_empty:
        return []
    line = to_metric(geom)
    n = max(2, int(line.length // step_m) + 1)
    pts = shapely.line_interpolate_point(line, np.linspace(0, line.length, n))
    xy = shapely.get_coordinates(pts)
    lon, lat = from_metric_xy(xy[:, 0], xy[:, 1])
    snapped = region.network.snap(lon, lat, tolerance_m=settings.snap_tolerance_m)
    return sorted({s for s in snapped["segment_id"] if s is not None})


def report_frame(session: Session, stmt: Any) -> pd.DataFrame:
    """Run a select and return its rows as a frame (column names from the statement)."""
    res = session.execute(stmt)
    return pd.DataFrame(res.fetchall(), columns=list(res.keys()))


def manual_clear_evidence(
    session: Session, settings: Settings, now: datetime, since: datetime
) -> pd.DataFrame:
    """Clear observations from hazards a person cleared (road chief, patrol lead, dispatcher).

    Each gets ``report_id = -hazard_id`` (not a report: a clearance recorded on the hazard).
    """
    rows = session.execute(
        select(Hazard.id, Hazard.segment_id, Hazard.cleared_at).where(
            Hazard.state == HazardState.CLEARED.value,
            Hazard.segment_id.is_not(None),
            Hazard.cleared_at.is_not(None),
            Hazard.cleared_at >= since,
            Hazard.cleared_at <= now,
        )
    ).all()
    if not rows:
        return pd.DataFrame()
    hl = half_lives(settings)["patrol"]
    rel = SOURCE_RELIABILITY["patrol"]
    out = pd.DataFrame(rows, columns=["hazard_id", "segment_id", "observed_at"])
    age = (pd.Timestamp(now) - pd.to_datetime(out["observed_at"], utc=True)).dt.total_seconds()
    return pd.DataFrame(
        {
            "report_id": -out["hazard_id"].astype(int),
            "segment_id": out["segment_id"].astype(str),
            "source": "patrol",
            "condition": None,
            "incident": None,
            "clear": True,
            "weight": rel * decay(age.to_numpy() / 3600.0, hl),
            "base": rel,
            "observed_at": pd.to_datetime(out["observed_at"], utc=True),
        }
    )


def load_evidence(
    session: Session,
    region: Region,
    settings: Settings,
    now: datetime,
    segment_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Read the evidence within the horizon from the database (optionally only some segments).

    Includes clear observations from drone tracks. See :func:`evidence_frame` for columns.
    """
    since = now - horizon(settings)
    cols = (
        Report.id,
        Report.kind,
        Report.subtype,
        Report.confidence,
        Report.observed_at,
        Report.segment_id,
        Report.attributes,
    )
    stmt = select(*cols).where(
        Report.kind.in_(POINT_KINDS),
        Report.segment_id.is_not(None),
        Report.observed_at >= since,
        Report.observed_at <= now + timedelta(minutes=15),
    )
    wanted = None if segment_ids is None else sorted(set(segment_ids))
    if wanted is not None and len(wanted) < 5000:
        stmt = stmt.where(Report.segment_id.in_(wanted))
    reports = report_frame(session, stmt)
    ev = evidence_frame(reports, settings, now)
    tracks = report_frame(
        session,
        select(Report.id, Report.observed_at, Report.attributes, Report.geometry).where(
            Report.kind == "drone_track", Report.observed_at >= since, Report.observed_at <= now
        ),
    )
    if len(tracks):
        dets = reports[reports["kind"] == "drone_detection"] if len(reports) else reports
        extra = _track_clear_evidence(tracks, dets, region, settings, now)
        if len(extra):
            ev = pd.concat([ev, extra], ignore_index=True) if len(ev) else extra
    manual = manual_clear_evidence(session, settings, now, since)
    if len(manual):
        ev = pd.concat([ev, manual], ignore_index=True) if len(ev) else manual
    if wanted is not None and len(ev):
        ev = ev[ev["segment_id"].isin(wanted)].reset_index(drop=True)
    return ev
