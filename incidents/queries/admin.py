"""Reads for the admin and feed pages: reports, feeds, quarantine, users, audit, workers, runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.live.worker import live_workers
from incidents.queries.core import select_frame
from incidents.store.models import (
    AuditEvent,
    FeedStatus,
    Quarantine,
    Report,
    Setting,
    SimulationRun,
    User,
)

__all__ = [
    "audit_tail",
    "feed_config",
    "feed_status",
    "quarantine",
    "reports",
    "simulation_runs",
    "stale_feeds",
    "users",
    "workers",
]


def reports(session: Session, limit: int = 500) -> pd.DataFrame:
    """Return the latest reports (without geometry), newest first."""
    cols = [c for c in Report.__table__.columns if c.name != "geometry"]
    return select_frame(session, select(*cols).order_by(Report.id.desc()).limit(limit))



def feed_status(session: Session) -> pd.DataFrame:
    """One row per configured feed: last attempt, success, change, error, interval."""
    return select_frame(session, select(*FeedStatus.__table__.columns).order_by(FeedStatus.feed))



def stale_feeds(frame: pd.DataFrame, at: datetime) -> list[str]:
    """Return the feeds of `frame` (:func:`feed_status`) not successful in two intervals."""
    stale = []
    for row in frame.itertuples():
        if getattr(row, "enabled", True) is False:
            continue
        last = row.last_success
        limit = timedelta(seconds=2 * float(row.interval_s or 300.0))
        if last is None or pd.isna(last) or pd.Timestamp(at) - pd.Timestamp(last) > limit:
            stale.append(str(row.feed))
    return stale



def quarantine(session: Session, limit: int = 500) -> pd.DataFrame:
    """Return the latest quarantined records with their reasons."""
    return select_frame(
        session,
        select(
            Quarantine.created_at, Quarantine.feed, Quarantine.source, Quarantine.record,
            Quarantine.reason,
        )
        .order_by(Quarantine.created_at.desc())
        .limit(limit),
    )



def simulation_runs(session: Session) -> pd.DataFrame:
    """Return stored storm replays (metrics and series as dicts), newest first."""
    return select_frame(
        session, select(*SimulationRun.__table__.columns).order_by(SimulationRun.ran_at.desc())
    )



def users(session: Session) -> pd.DataFrame:
    """Users and roles (no password hashes)."""
    return select_frame(
        session,
        select(
            User.username, User.role, User.unit_id, User.display_name, User.last_login_at,
            User.locked_until, User.failed_attempts,
        ).order_by(User.username),
    )



def audit_tail(session: Session, limit: int = 200) -> pd.DataFrame:
    """Return the latest audit events."""
    return select_frame(
        session,
        select(
            AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.target,
            AuditEvent.outcome,
        )
        .order_by(AuditEvent.id.desc())
        .limit(limit),
    )



def feed_config(session: Session) -> list[dict[str, Any]]:
    """Return the configured feeds (``app_settings["feeds"]["feeds"]``), as a list of dicts."""
    row = session.get(Setting, "feeds")
    value = row.value if row is not None and isinstance(row.value, dict) else {}
    return [dict(f) for f in value.get("feeds", []) if isinstance(f, dict)]



def workers(session: Session, at: datetime | None = None) -> list[dict[str, Any]]:
    """Return the heartbeats of the live ``winterops worker`` processes: role, cycle, when.

    See :func:`incidents.live.worker.live_workers`.
    """
    return live_workers(session, at)

