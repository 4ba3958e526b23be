"""The read model: every table the dashboard and the exports show, as (Geo)DataFrames.

Each function takes an open session (reads only) and returns a frame; nothing here writes.
Point layers come back as GeoDataFrames in EPSG:4326; :func:`points_xy` adds ``lon``/``lat``
columns for tables. The dashboard wraps these in caches (``dashboard/data.py``); it reaches
the database only through :func:`open_engine`, :func:`write_sessions` and
:func:`read_sessions` (it never imports ``incidents.store.models`` or ``.engine``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from incidents.clock import operational_now
from incidents.dispatch import position_state, preposition, recommend
from incidents.fusion import coverage as fusion_coverage
from incidents.fusion import current_hotspots
from incidents.service.actions import open_hazards_by_age, overdue_tasks
from incidents.settings import Settings
from incidents.store.engine import make_engine, read_gdf, read_only, session_factory
from incidents.store.models import (
    Alert,
    Assignment,
    AssignmentState,
    AuditEvent,
    DutyPoint,
    FeedStatus,
    Hazard,
    HazardState,
    Incident,
    IncidentStatus,
    Quarantine,
    Report,
    RoadChief,
    Segment,
    SegmentCondition,
    Setting,
    SimulationRun,
    Task,
    TaskStatus,
    Unit,
    User,
)

__all__ = [
    "ACTIVE_STATES",
    "alerts",
    "assignments",
    "audit_tail",
    "coverage_share",
    "duty_points",
    "feed_config",
    "feed_status",
    "hazards_by_age",
    "hazards_open",
    "hotspots",
    "incidents_open",
    "now",
    "open_engine",
    "overdue",
    "points_xy",
    "position_states",
    "quarantine",
    "read_sessions",
    "recommendations",
    "reports",
    "routes",
    "segments_hazardous",
    "simulation_runs",
    "staging",
    "tasks_open",
    "units",
    "users",
    "write_sessions",
]

ACTIVE_STATES = (
    AssignmentState.CONFIRMED.value,
    AssignmentState.EN_ROUTE.value,
    AssignmentState.ON_SCENE.value,
)
CONDITION_ORDER = ["closed", "black_ice", "drifting_snow", "snow_packed", "poor_visibility", "clear"]


# ------------------------------------------------------------------------------------------
# Engine accessors (the one door from the dashboard to the database)
# ------------------------------------------------------------------------------------------


def open_engine(url: str) -> Engine:
    """The engine of `url`, configured like every other part of winterops."""
    return make_engine(url)


def write_sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory for writes (its commits count changes, see ``store.changes``)."""
    return session_factory(engine)


def read_sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory for reads only (no write lock on SQLite)."""
    return session_factory(read_only(engine))


def now(session: Session) -> datetime:
    """The operational "now" (UTC): the demo storm's clock when one is set."""
    return operational_now(session)[0]


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------


def _frame(session: Session, stmt: Any) -> pd.DataFrame:
    result = session.execute(stmt)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def points_xy(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """A point GeoDataFrame as a plain frame with ``lon``/``lat`` (NaN where no point)."""
    if not len(gdf):
        return pd.DataFrame(columns=[*gdf.columns, "lon", "lat"])
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    geom = gdf.geometry
    valid = geom.notna() & ~geom.is_empty & (geom.geom_type == "Point")
    frame["lon"] = pd.Series(float("nan"), index=gdf.index)
    frame["lat"] = pd.Series(float("nan"), index=gdf.index)
    if valid.any():
        frame.loc[valid, "lon"] = geom[valid].x
        frame.loc[valid, "lat"] = geom[valid].y
    return frame


def _records(items: Iterable[Any]) -> pd.DataFrame:
    rows = []
    for item in items:
        if hasattr(item, "to_dict"):
            rows.append(item.to_dict())
        elif is_dataclass(item) and not isinstance(item, type):
            rows.append(asdict(item))
        elif isinstance(item, dict):
            rows.append(dict(item))
        else:
            rows.append(vars(item))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
# Tables
# ------------------------------------------------------------------------------------------


def incidents_open(session: Session) -> gpd.GeoDataFrame:
    """Open incidents, most urgent first (points)."""
    return read_gdf(
        session,
        select(*Incident.__table__.columns)
        .where(Incident.status == IncidentStatus.OPEN.value)
        .order_by(Incident.priority.desc(), Incident.first_report_at),
    )


def tasks_open(session: Session) -> pd.DataFrame:
    """Tasks that are open or assigned, most urgent first."""
    return _frame(
        session,
        select(
            Task.id, Task.incident_id, Task.hazard_id, Task.kind, Task.capability, Task.status,
            Task.priority, Task.created_at, Task.version,
        )
        .where(Task.status.in_([TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value]))
        .order_by(Task.priority.desc()),
    )


def _aware(value: Any) -> datetime | None:
    if value is None or pd.isna(value):
        return None
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()  # type: ignore[no-any-return]


def position_states(units: gpd.GeoDataFrame, at: datetime, settings: Settings | None) -> list[str]:
    """``live`` / ``stale`` / ``unknown`` per unit at `at`
    (:func:`incidents.dispatch.position_state`: the rule has one home)."""
    if not len(units):
        return []
    out = []
    for row in units.itertuples(index=False):
        stamp = getattr(row, "position_at", None)
        geom = getattr(row, "geometry", None)
        unit = SimpleNamespace(
            geometry=None if geom is None or geom.is_empty else geom,
            position_at=_aware(stamp),
            position_source=getattr(row, "position_source", None),
            status=getattr(row, "status", ""),
        )
        out.append(position_state(unit, at, settings).state)
    return out


def units(
    session: Session, at: datetime | None = None, settings: Settings | None = None
) -> gpd.GeoDataFrame:
    """Every unit with status, position, crew hours and ``position_state`` (see above)."""
    gdf = read_gdf(session, select(*Unit.__table__.columns).order_by(Unit.id))
    at = at or now(session)
    gdf["position_state"] = position_states(gdf, at, settings)
    if "position_at" in gdf.columns:
        age = pd.Timestamp(at) - pd.to_datetime(gdf["position_at"], utc=True)
        gdf["position_age_s"] = age.dt.total_seconds()
    return gdf


def assignments(
    session: Session, unit_id: str | None = None, active_only: bool = True
) -> pd.DataFrame:
    """Assignments (active ones by default), optionally of one unit, newest first."""
    cols = [c for c in Assignment.__table__.columns if c.name != "route"]
    stmt = select(*cols, Task.kind.label("task_kind"), Task.incident_id, Task.hazard_id)
    stmt = stmt.join(Task, Task.id == Assignment.task_id)
    if active_only:
        stmt = stmt.where(Assignment.state.in_(ACTIVE_STATES))
    if unit_id is not None:
        stmt = stmt.where(Assignment.unit_id == unit_id)
    return _frame(session, stmt.order_by(Assignment.recommended_at.desc()))


def hazards_open(session: Session) -> gpd.GeoDataFrame:
    """Open and handed-over hazards with their road chief, oldest first."""
    return read_gdf(
        session,
        select(
            *Hazard.__table__.columns,
            RoadChief.name.label("chief_name"),
            RoadChief.name_en.label("chief_name_en"),
            RoadChief.phone.label("chief_phone"),
        )
        .outerjoin(RoadChief, RoadChief.id == Hazard.road_chief_id)
        .where(Hazard.state.in_([HazardState.OPEN.value, HazardState.HANDED_OVER.value]))
        .order_by(Hazard.first_seen),
    )


def hazards_by_age(session: Session, at: datetime) -> pd.DataFrame:
    """Hazards not yet cleared, oldest first, with age and road chief (the service's view)."""
    return pd.DataFrame(open_hazards_by_age(session, at))


def alerts(session: Session, at: datetime) -> gpd.GeoDataFrame:
    """Live alerts (state actual, not expired at `at`), with their areas."""
    gdf = read_gdf(
        session,
        select(
            Alert.id, Alert.event, Alert.headline, Alert.severity, Alert.colour, Alert.onset,
            Alert.expires, Alert.area.label("geometry"),
        ).where(Alert.state == "actual"),
    )
    if len(gdf) and "expires" in gdf.columns:
        expires = pd.to_datetime(gdf["expires"], utc=True)
        gdf = gdf[expires.isna() | (expires > pd.Timestamp(at))]
    return gdf


def reports(session: Session, limit: int = 500) -> pd.DataFrame:
    """The latest reports (without geometry), newest first."""
    cols = [c for c in Report.__table__.columns if c.name != "geometry"]
    return _frame(session, select(*cols).order_by(Report.id.desc()).limit(limit))


def feed_status(session: Session) -> pd.DataFrame:
    """One row per configured feed: last attempt, success, change, error, interval."""
    return _frame(session, select(*FeedStatus.__table__.columns).order_by(FeedStatus.feed))


def stale_feeds(frame: pd.DataFrame, at: datetime) -> list[str]:
    """Feeds of `frame` (:func:`feed_status`) with no success within two polling intervals."""
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
    """The latest quarantined records with their reasons."""
    return _frame(
        session,
        select(
            Quarantine.created_at, Quarantine.feed, Quarantine.source, Quarantine.record,
            Quarantine.reason,
        )
        .order_by(Quarantine.created_at.desc())
        .limit(limit),
    )


def simulation_runs(session: Session) -> pd.DataFrame:
    """Stored storm replays (metrics and series as dicts), newest first."""
    return _frame(
        session, select(*SimulationRun.__table__.columns).order_by(SimulationRun.ran_at.desc())
    )


def users(session: Session) -> pd.DataFrame:
    """Users and roles (no password hashes)."""
    return _frame(
        session,
        select(
            User.username, User.role, User.unit_id, User.display_name, User.last_login_at,
            User.locked_until, User.failed_attempts,
        ).order_by(User.username),
    )


def audit_tail(session: Session, limit: int = 200) -> pd.DataFrame:
    """The latest audit events."""
    return _frame(
        session,
        select(
            AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.target,
            AuditEvent.outcome,
        )
        .order_by(AuditEvent.id.desc())
        .limit(limit),
    )


def feed_config(session: Session) -> list[dict[str, Any]]:
    """The configured feeds (``app_settings["feeds"]["feeds"]``), as a list of dicts."""
    row = session.get(Setting, "feeds")
    value = row.value if row is not None and isinstance(row.value, dict) else {}
    return [dict(f) for f in value.get("feeds", []) if isinstance(f, dict)]


def duty_points(session: Session) -> gpd.GeoDataFrame:
    """Duty points (staging sites)."""
    return read_gdf(session, select(*DutyPoint.__table__.columns))


# ------------------------------------------------------------------------------------------
# Derived: recommendations, staging, coverage, overdue, hotspots; map lines
# ------------------------------------------------------------------------------------------


def recommendations(
    session: Session, region: Any, settings: Settings, at: datetime, policy: str = "optimized"
) -> pd.DataFrame:
    """The recommendations a dispatcher can act on, most urgent first.

    Computed from the current state on every read (so a change is reflected at once, with or
    without a worker); the worker stores the same ranking as ``recommended`` assignment rows
    for the record. A task that already has its unit gets no plain ``assign``
    (:func:`incidents.dispatch.recommend.build_recommendations` leaves it out).
    """
    return _records(recommend(session, region, settings, at, policy=policy))


def staging(session: Session, region: Any, settings: Settings, at: datetime) -> pd.DataFrame:
    """Staging suggestions: free units to move to duty points ahead of a forecast onset."""
    return _records(preposition(session, region, settings, at))


def coverage_share(
    session: Session, region: Any, settings: Settings, at: datetime
) -> float | None:
    """Share of hazardous road-km within T minutes of a free unit (None when unknown)."""
    share = getattr(fusion_coverage(session, region, settings, at), "share", None)
    return None if share is None else float(share)


def overdue(session: Session, at: datetime) -> pd.DataFrame:
    """Tasks whose current stage has lasted longer than its limit, most late first."""
    return _records(overdue_tasks(session, at))


def hotspots(session: Session, region: Any, settings: Settings, at: datetime) -> gpd.GeoDataFrame:
    """Current hotspots (road stretches with repeated incidents)."""
    return current_hotspots(session, region, settings, at)


def segments_hazardous(session: Session) -> gpd.GeoDataFrame:
    """Road segments whose current condition is not clear (worst condition per segment)."""
    stmt = (
        select(
            Segment.id, Segment.road_code, Segment.km_from, Segment.km_to,
            SegmentCondition.condition, SegmentCondition.confidence, Segment.geometry,
        )
        .join(SegmentCondition, SegmentCondition.segment_id == Segment.id)
        .where(SegmentCondition.valid_to.is_(None), SegmentCondition.condition != "clear")
    )
    gdf = read_gdf(session, stmt)
    if len(gdf):
        rank = gdf["condition"].map({c: i for i, c in enumerate(CONDITION_ORDER)}).fillna(99)
        gdf = gdf.assign(_rank=rank).sort_values("_rank").drop_duplicates("id")
        gdf = gdf.drop(columns="_rank")
    return gdf


def routes(session: Session, unit_id: str | None = None) -> gpd.GeoDataFrame:
    """Routes of the active assignments (optionally of one unit)."""
    stmt = select(
        Assignment.id, Assignment.unit_id, Assignment.task_id, Assignment.state,
        Assignment.eta_s, Assignment.route.label("geometry"),
    ).where(Assignment.state.in_(ACTIVE_STATES), Assignment.route.is_not(None))
    if unit_id is not None:
        stmt = stmt.where(Assignment.unit_id == unit_id)
    return read_gdf(session, stmt)
