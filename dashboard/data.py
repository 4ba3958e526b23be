"""All data access of the dashboard, in one module, cached with TTLs.

* the engine and session factory are resources (``st.cache_resource``), one per database URL;
* the region (road graph, gazetteer) and the basemap payloads are resources too (per path);
* tables shown on pages are frames cached with ``st.cache_data`` for :data:`TTL_S` seconds;
* the map's live layers are serialised once per TTL into immutable
  :class:`~dashboard.mapview.LayerPayload` objects (``st.cache_resource`` with a TTL), so a
  rerun with warm caches does no per-feature work;
* :func:`invalidate` clears the caches after an action, so the actor sees its effect at once.

Functions take the database URL (a plain string, the cache key) and, where they need it, the
:class:`~incidents.settings.Settings` as ``_settings`` (not hashed; it is one per URL).
Service functions of ``incidents`` are used when they exist; otherwise the tables are read
directly with SQLAlchemy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dashboard import mapview
from incidents.clock import operational_now
from incidents.settings import Settings
from incidents.store.engine import make_engine, read_gdf, read_only
from incidents.store.engine import session_factory as make_session_factory
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
    "TTL_S",
    "alerts_live",
    "assignments",
    "audit_tail",
    "basemap",
    "clock",
    "coverage",
    "engine",
    "feed_config",
    "feed_status",
    "hazards_by_age",
    "hazards_open",
    "incidents_open",
    "invalidate",
    "map_payloads",
    "optional",
    "overdue",
    "quarantine",
    "recommendations",
    "region",
    "session_factory",
    "simulation_runs",
    "stale_feeds",
    "staging",
    "tasks_open",
    "units",
    "users",
]

TTL_S = 20
ACTIVE_STATES = (
    AssignmentState.CONFIRMED.value,
    AssignmentState.EN_ROUTE.value,
    AssignmentState.ON_SCENE.value,
)
CONDITION_ORDER = [
    "closed",
    "black_ice",
    "drifting_snow",
    "snow_packed",
    "poor_visibility",
    "clear",
]


def optional(module: str, name: str) -> Callable[..., Any] | None:
    """Return ``module.name`` when that part of ``incidents`` has landed, else None."""
    try:
        mod: ModuleType = importlib.import_module(module)
    except ImportError:
        return None
    found = getattr(mod, name, None)
    return found if callable(found) else None


# --------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    """The engine of `url` (one per server process)."""
    return make_engine(url)


@st.cache_resource(show_spinner=False)
def session_factory(url: str) -> sessionmaker[Session]:
    """A session factory on :func:`engine`."""
    return make_session_factory(engine(url))


@st.cache_resource(show_spinner=False)
def reader(url: str) -> sessionmaker[Session]:
    """A session factory for reads only (no write lock on SQLite)."""
    return make_session_factory(read_only(engine(url)))


@st.cache_resource(show_spinner=False)
def region(region_dir: str) -> Any:
    """The region (roads, graph, gazetteer) of `region_dir`, or None when it cannot load."""
    load = optional("geo.region", "load_region")
    if load is None:
        return None
    try:
        return load(Path(region_dir))
    except Exception:  # noqa: BLE001 - the map still works without the routing region
        return None


def _read_region_file(path: Path, level: str | None = None) -> gpd.GeoDataFrame | None:
    if not path.is_file():
        return None
    gdf = gpd.read_file(path)
    if level is not None and "level" in gdf.columns:
        gdf = gdf[gdf["level"] == level]
    return gdf


@st.cache_resource(show_spinner=False)
def basemap(region_dir: str, lang: str, dark: bool) -> list[mapview.LayerPayload]:
    """Banner outlines and roads of ``data/region``, serialised once per language and theme."""
    folder = Path(region_dir)
    base = mapview.Basemap(
        outlines=_read_region_file(folder / "places.geojson", "banner"),
        roads=_read_region_file(folder / "roads.geojson"),
    )
    return mapview.basemap_payloads(base, lang, dark)


# --------------------------------------------------------------------------------------------
# Clock
# --------------------------------------------------------------------------------------------


def _setting(session: Session, key: str) -> dict[str, Any] | None:
    row = session.get(Setting, key)
    return dict(row.value) if row is not None and isinstance(row.value, dict) else None


@st.cache_data(ttl=TTL_S, show_spinner=False)
def clock(url: str) -> datetime:
    """The operational "now" (UTC): :func:`incidents.clock.operational_now` on this database."""
    with reader(url)() as session:
        return operational_now(session)[0]


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------


def _frame(session: Session, stmt: Any) -> pd.DataFrame:
    result = session.execute(stmt)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _points_xy(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    valid = gdf.geometry.notna() & ~gdf.geometry.is_empty
    frame["lon"] = gdf.geometry.x.where(valid)
    frame["lat"] = gdf.geometry.y.where(valid)
    return frame


@st.cache_data(ttl=TTL_S, show_spinner=False)
def incidents_open(url: str) -> pd.DataFrame:
    """Open incidents, most urgent first, with lon/lat."""
    with reader(url)() as session:
        gdf = read_gdf(
            session,
            select(*Incident.__table__.columns)
            .where(Incident.status == IncidentStatus.OPEN.value)
            .order_by(Incident.priority.desc(), Incident.first_report_at),
        )
    return _points_xy(gdf) if len(gdf) else pd.DataFrame(columns=[*gdf.columns, "lon", "lat"])


@st.cache_data(ttl=TTL_S, show_spinner=False)
def tasks_open(url: str) -> pd.DataFrame:
    """Tasks that are open or assigned, with their incident's kind and people."""
    with reader(url)() as session:
        return _frame(
            session,
            select(
                Task.id,
                Task.incident_id,
                Task.hazard_id,
                Task.kind,
                Task.capability,
                Task.status,
                Task.priority,
                Task.created_at,
                Task.version,
            )
            .where(Task.status.in_([TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value]))
            .order_by(Task.priority.desc()),
        )


@st.cache_data(ttl=TTL_S, show_spinner=False)
def units(url: str) -> pd.DataFrame:
    """Every unit with status, position (lon/lat) and crew hours."""
    with reader(url)() as session:
        gdf = read_gdf(session, select(*Unit.__table__.columns).order_by(Unit.id))
    return _points_xy(gdf) if len(gdf) else pd.DataFrame(columns=[*gdf.columns, "lon", "lat"])


@st.cache_data(ttl=TTL_S, show_spinner=False)
def assignments(url: str, unit_id: str | None = None, active_only: bool = True) -> pd.DataFrame:
    """Assignments (active ones by default), optionally of one unit, newest first."""
    cols = [c for c in Assignment.__table__.columns if c.name != "route"]
    stmt = select(*cols, Task.kind.label("task_kind"), Task.incident_id, Task.hazard_id)
    stmt = stmt.join(Task, Task.id == Assignment.task_id)
    if active_only:
        stmt = stmt.where(Assignment.state.in_(ACTIVE_STATES))
    if unit_id is not None:
        stmt = stmt.where(Assignment.unit_id == unit_id)
    with reader(url)() as session:
        return _frame(session, stmt.order_by(Assignment.recommended_at.desc()))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def hazards_open(url: str) -> pd.DataFrame:
    """Open and handed-over hazards with their road chief, oldest first."""
    with reader(url)() as session:
        gdf = read_gdf(
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
    return _points_xy(gdf) if len(gdf) else pd.DataFrame(columns=[*gdf.columns, "lon", "lat"])


@st.cache_data(ttl=TTL_S, show_spinner=False)
def hazards_by_age(url: str) -> pd.DataFrame:
    """Hazards not yet cleared, oldest first, with age and road chief (the service's view)."""
    by_age = optional("incidents.service.actions", "open_hazards_by_age")
    if by_age is None:
        return pd.DataFrame()
    with reader(url)() as session:
        return pd.DataFrame(by_age(session, clock(url)))


def alerts_live(url: str) -> pd.DataFrame:
    """Live alerts (state actual, not expired at :func:`clock`), without geometry."""
    frame = _alerts_gdf(url, clock(url))
    return pd.DataFrame(frame.drop(columns="geometry")) if len(frame) else pd.DataFrame(frame)


def _alerts_gdf(url: str, now: datetime) -> gpd.GeoDataFrame:
    with reader(url)() as session:
        gdf = read_gdf(
            session,
            select(
                Alert.id,
                Alert.event,
                Alert.headline,
                Alert.severity,
                Alert.colour,
                Alert.onset,
                Alert.expires,
                Alert.area.label("geometry"),
            ).where(Alert.state == "actual"),
        )
    if len(gdf) and "expires" in gdf.columns:
        expires = pd.to_datetime(gdf["expires"], utc=True)
        gdf = gdf[expires.isna() | (expires > pd.Timestamp(now))]
    return gdf


@st.cache_data(ttl=TTL_S, show_spinner=False)
def feed_status(url: str) -> pd.DataFrame:
    """One row per configured feed: last attempt, success, change, error, interval."""
    with reader(url)() as session:
        return _frame(session, select(*FeedStatus.__table__.columns).order_by(FeedStatus.feed))


def stale_feeds(url: str, now: datetime | None = None) -> list[str]:
    """Feeds with no success within two polling intervals (the dispatcher's banner)."""
    frame = feed_status(url)
    if frame.empty:
        return []
    now = now or datetime.now(UTC)
    stale = []
    for row in frame.itertuples():
        last = row.last_success
        limit = timedelta(seconds=2 * float(row.interval_s or 300.0))
        if last is None or pd.isna(last) or pd.Timestamp(now) - pd.Timestamp(last) > limit:
            stale.append(str(row.feed))
    return stale


@st.cache_data(ttl=TTL_S, show_spinner=False)
def quarantine(url: str, limit: int = 500) -> pd.DataFrame:
    """The latest quarantined records with their reasons."""
    with reader(url)() as session:
        return _frame(
            session,
            select(
                Quarantine.created_at,
                Quarantine.feed,
                Quarantine.source,
                Quarantine.record,
                Quarantine.reason,
            )
            .order_by(Quarantine.created_at.desc())
            .limit(limit),
        )


@st.cache_data(ttl=TTL_S, show_spinner=False)
def simulation_runs(url: str) -> pd.DataFrame:
    """Stored storm replays (metrics and series as dicts), newest first."""
    with reader(url)() as session:
        return _frame(
            session, select(*SimulationRun.__table__.columns).order_by(SimulationRun.ran_at.desc())
        )


@st.cache_data(ttl=TTL_S, show_spinner=False)
def users(url: str) -> pd.DataFrame:
    """Users and roles (no password hashes)."""
    with reader(url)() as session:
        return _frame(
            session,
            select(
                User.username,
                User.role,
                User.unit_id,
                User.display_name,
                User.last_login_at,
                User.locked_until,
                User.failed_attempts,
            ).order_by(User.username),
        )


@st.cache_data(ttl=TTL_S, show_spinner=False)
def audit_tail(url: str, limit: int = 200) -> pd.DataFrame:
    """The latest audit events."""
    with reader(url)() as session:
        return _frame(
            session,
            select(
                AuditEvent.at,
                AuditEvent.actor,
                AuditEvent.action,
                AuditEvent.target,
                AuditEvent.outcome,
            )
            .order_by(AuditEvent.id.desc())
            .limit(limit),
        )


@st.cache_data(ttl=TTL_S, show_spinner=False)
def feed_config(url: str) -> list[dict[str, Any]]:
    """The configured feeds (``app_settings["feeds"]["feeds"]``), as a list of dicts."""
    with reader(url)() as session:
        value = _setting(session, "feeds") or {}
    feeds = value.get("feeds", [])
    return [dict(f) for f in feeds if isinstance(f, dict)]


# --------------------------------------------------------------------------------------------
# Derived: recommendations, coverage, overdue tasks
# --------------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_S, show_spinner=False)
def recommendations(url: str, _settings: Settings, policy: str = "optimized") -> pd.DataFrame:
    """Current recommendations (:func:`incidents.dispatch.core.recommend`) as a frame."""
    recommend = optional("incidents.dispatch.core", "recommend")
    reg = region(str(_settings.region_dir))
    if recommend is None or reg is None:
        return pd.DataFrame()
    now = clock(url)
    with reader(url)() as session:
        recs = recommend(session, reg, _settings, now, policy=policy)
    return pd.DataFrame([r.to_dict() if hasattr(r, "to_dict") else vars(r) for r in recs])


@st.cache_data(ttl=TTL_S, show_spinner=False)
def staging(url: str, _settings: Settings) -> pd.DataFrame:
    """Staging suggestions (:func:`incidents.dispatch.core.preposition`): free units to move to
    duty points ahead of a forecast onset, as a frame (empty when there are none)."""
    preposition = optional("incidents.dispatch.core", "preposition")
    reg = region(str(_settings.region_dir))
    if preposition is None or reg is None:
        return pd.DataFrame()
    now = clock(url)
    with reader(url)() as session:
        found = preposition(session, reg, _settings, now)
    return pd.DataFrame([s.to_dict() for s in found])


@st.cache_data(ttl=TTL_S, show_spinner=False)
def coverage(url: str, _settings: Settings) -> float | None:
    """Share of hazardous road-km within T minutes of a free unit (None when not available)."""
    cover = optional("incidents.fusion", "coverage")
    reg = region(str(_settings.region_dir))
    if cover is None or reg is None:
        return None
    with reader(url)() as session:
        result = cover(session, reg, _settings, clock(url))
    share = getattr(result, "share", None)
    return None if share is None else float(share)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def overdue(url: str, grace_min: float = 10.0) -> pd.DataFrame:
    """Active assignments not on scene although their ETA (+ `grace_min`) has passed."""
    service = optional("incidents.service.actions", "overdue_tasks")
    now = clock(url)
    if service is not None:
        with reader(url)() as session:
            rows = service(session, now)
        return pd.DataFrame([r if isinstance(r, dict) else vars(r) for r in rows])
    frame = assignments(url)
    if frame.empty:
        return frame
    frame = frame[
        frame["state"].isin([AssignmentState.CONFIRMED.value, AssignmentState.EN_ROUTE.value])
    ]
    start = pd.to_datetime(frame["confirmed_at"], utc=True)
    eta = pd.to_timedelta(frame["eta_s"].fillna(1800.0), unit="s")
    due = start + eta + pd.Timedelta(minutes=grace_min)
    late = frame.assign(due_at=due, overdue_s=(pd.Timestamp(now) - due).dt.total_seconds())
    return late[late["overdue_s"] > 0].sort_values("overdue_s", ascending=False)


# --------------------------------------------------------------------------------------------
# The map
# --------------------------------------------------------------------------------------------


def _segments_gdf(session: Session) -> gpd.GeoDataFrame:
    stmt = (
        select(
            Segment.id,
            Segment.road_code,
            Segment.km_from,
            Segment.km_to,
            SegmentCondition.condition,
            SegmentCondition.confidence,
            Segment.geometry,
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


def _routes_gdf(session: Session, unit_id: str | None) -> gpd.GeoDataFrame:
    stmt = select(
        Assignment.id,
        Assignment.unit_id,
        Assignment.task_id,
        Assignment.state,
        Assignment.eta_s,
        Assignment.route.label("geometry"),
    ).where(Assignment.state.in_(ACTIVE_STATES), Assignment.route.is_not(None))
    if unit_id is not None:
        stmt = stmt.where(Assignment.unit_id == unit_id)
    return read_gdf(session, stmt)


def load_layers(
    url: str, settings: Settings, now: datetime, unit_id: str | None = None
) -> mapview.MapLayers:
    """Read every live layer from the database (no cache; see :func:`map_payloads`)."""
    with reader(url)() as session:
        incidents = read_gdf(
            session,
            select(*Incident.__table__.columns).where(Incident.status == IncidentStatus.OPEN.value),
        )
        unit_frame = read_gdf(session, select(*Unit.__table__.columns))
        duty = read_gdf(session, select(*DutyPoint.__table__.columns))
        segments = _segments_gdf(session)
        routes = _routes_gdf(session, unit_id)
        hotspots = None
        hot = optional("incidents.fusion", "current_hotspots")
        reg = region(str(settings.region_dir))
        if hot is not None and reg is not None:
            try:
                hotspots = hot(session, reg, settings, now)
            except Exception:  # noqa: BLE001 - the rest of the map still draws
                hotspots = None
    if unit_id is not None and len(unit_frame):
        unit_frame = unit_frame[unit_frame["id"] == unit_id]
    return mapview.MapLayers(
        alerts=_alerts_gdf(url, now),
        segments=segments,
        hotspots=hotspots,
        incidents=incidents,
        units=unit_frame,
        routes=routes,
        duty_points=duty,
    )


@st.cache_resource(ttl=TTL_S, show_spinner=False, max_entries=64)
def map_payloads(
    url: str, _settings: Settings, lang: str, unit_id: str | None = None
) -> list[mapview.LayerPayload]:
    """The live map layers, serialised (immutable, shared by the sessions on `url`)."""
    layers = load_layers(url, _settings, clock(url), unit_id)
    return mapview.layer_payloads(layers, lang)


def invalidate() -> None:
    """Forget cached frames and map layers (after an action, so its effect shows at once)."""
    st.cache_data.clear()
    map_payloads.clear()
