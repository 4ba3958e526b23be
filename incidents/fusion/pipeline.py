"""Fusion pipeline: reports -> road conditions, hazards, incidents and tasks; hotspots and coverage.

:func:`fuse` is incremental and idempotent. It picks up the point reports that have not been
fused yet (see :mod:`incidents.fusion.conditions` for the snapping decision), recomputes the
conditions of the segments that can have changed, keeps one open hazard per segment with an
observed hazardous condition, merges incident reports into incidents and keeps every open
incident's priority and tasks current. Running it twice on the same reports at the same
``now`` changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.region import Region
from incidents.fusion.conditions import (
    live_alerts,
    snap_new_reports,
    update_conditions,
)
from incidents.fusion.hazards import sync_hazards
from incidents.fusion.incidents import merge_new_incident_reports, refresh_incidents
from incidents.fusion.summary import FusionSummary
from incidents.settings import Settings

__all__ = ['FUSION_LOCK_KEY', 'fuse']


FUSION_LOCK_KEY = 0x57F05E  # PostgreSQL advisory lock held by fuse() for its transaction


def fuse(session: Session, region: Region, settings: Settings, now: datetime) -> FusionSummary:
    """Fuse the reports not yet fused into conditions, hazards, incidents and tasks.

    Parameters
    ----------
    session
        An open session (the caller commits; one transaction).
    region
        The loaded region (network for snapping, sections for road chiefs).
    settings
        Snap tolerance and half-lives.
    now
        The fusion clock (UTC, aware): ages and decay are measured from it.

    Returns
    -------
    FusionSummary
        Counts of what changed (all zero on a second run with nothing new).
    """
    summary = FusionSummary()
    if session.get_bind().dialect.name == "postgresql":
        # one fusion at a time (SQLite's BEGIN IMMEDIATE already serialises writers)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FUSION_LOCK_KEY})
    new = snap_new_reports(session, region, settings)
    summary.reports_fused = len(new)
    summary.off_road = int(new["segment_id"].isna().sum()) if len(new) else 0
    touched = set(new["segment_id"].dropna()) if len(new) else set()
    cs = update_conditions(session, region, settings, now, touched)
    summary.segments_evaluated = cs.segments_evaluated
    summary.conditions_opened = cs.opened
    summary.conditions_closed = cs.closed
    summary.conditions_updated = cs.updated
    sync_hazards(session, region, settings, now, cs.states, summary)
    alerts = live_alerts(session, now)
    merge_new_incident_reports(session, region, new, summary)
    refresh_incidents(session, alerts, now, summary)
    session.flush()
    return summary
