"""The read model: every table the dashboard and the exports show, as (Geo)DataFrames.

Each function takes an open session (reads only) and returns a frame; nothing here writes.
Point layers come back as GeoDataFrames in EPSG:4326; :func:`points_xy` adds ``lon``/``lat``
columns for tables. The dashboard wraps these in caches (``dashboard/data.py``); it reaches
the database only through :func:`open_engine`, :func:`write_sessions` and
:func:`read_sessions` (it never imports ``incidents.store.models`` or ``.engine``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import LineString
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from geo.crs import METRIC_CRS
from geo.errors import GeoError
from incidents.clock import operational_now
from incidents.dispatch import current_conditions, position_state, preposition, recommend
from incidents.fusion import coverage as fusion_coverage
from incidents.fusion import current_hotspots
from incidents.live.worker import live_workers
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
    "EXPORT_TABLES",
    "alerts",
    "assignments",
    "audit_tail",
    "coverage_share",
    "drone_coverage",
    "drone_flights",
    "duty_points",
    "export_table",
    "feed_config",
    "feed_status",
    "hazards_by_age",
    "hazards_open",
    "hotspots",
    "incident_assignments",
    "incidents_listed",
    "incidents_open",
    "incidents_with_notes",
    "now",
    "open_engine",
    "overdue",
    "points_xy",
    "position_states",
    "quarantine",
    "read_sessions",
    "recommendations",
    "recommended",
    "reports",
    "reports_listed",
    "routes",
    "routes_to_tasks",
    "segments_hazardous",
    "simulation_runs",
    "staging",
    "tasks_open",
    "units",
    "users",
    "workers",
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
    """Return the engine of `url`, configured like every other part of winterops."""
    return make_engine(url)


def write_sessions(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory for writes (its commits count changes, see ``store.changes``)."""
    return session_factory(engine)


def read_sessions(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory for reads only (no write lock on SQLite)."""
    return session_factory(read_only(engine))


def now(session: Session) -> datetime:
    """Return the operational "now" (UTC): the demo storm's clock when one is set."""
    return operational_now(session)[0]


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------


def _frame(session: Session, stmt: Any) -> pd.DataFrame:
    result = session.execute(stmt)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def points_xy(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return a point GeoDataFrame as a plain frame with ``lon``/``lat`` (NaN where no point)."""
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
    """Return ``live`` / ``stale`` / ``unknown`` per unit at `at`.

    The rule has one home: :func:`incidents.dispatch.position_state`.
    """
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
    """Return assignments (active ones by default), optionally of one unit, newest first."""
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
    """Return the latest reports (without geometry), newest first."""
    cols = [c for c in Report.__table__.columns if c.name != "geometry"]
    return _frame(session, select(*cols).order_by(Report.id.desc()).limit(limit))


def feed_status(session: Session) -> pd.DataFrame:
    """One row per configured feed: last attempt, success, change, error, interval."""
    return _frame(session, select(*FeedStatus.__table__.columns).order_by(FeedStatus.feed))


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
    """Return stored storm replays (metrics and series as dicts), newest first."""
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
    """Return the latest audit events."""
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
    """Return the configured feeds (``app_settings["feeds"]["feeds"]``), as a list of dicts."""
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
    """Return the recommendations computed now from the current state, most urgent first.

    This is the CLI's ``winterops recommend`` view; the dashboard shows the stored ranking
    (:func:`recommended`).

    A task that already has its unit gets no plain ``assign``
    (:func:`incidents.dispatch.recommend.build_recommendations` leaves it out).
    """
    return _records(recommend(session, region, settings, at, policy=policy))


REC_COLUMNS = [
    "assignment_id", "task_id", "unit_id", "eta_s", "priority", "capability", "task_kind",
    "incident_id", "runner_up", "reason", "reason_zh", "policy", "action",
    "replaces_assignment_id", "unit_short_only", "position_state", "position_age_s",
    "position_source", "rank_at",
]


def recommended(session: Session) -> pd.DataFrame:
    """Return the stored ranking a dispatcher can still act on, most urgent first.

    These are the ``recommended`` assignments written by :func:`incidents.live.pipeline.rank_now`.

    A row whose premise is gone is left out at once, before the next ranking removes it: a
    plain ``assign`` needs its task open and its unit available; a ``reassign`` needs its task
    open and the assignment it replaces still confirmed or en route.
    """
    rows = session.execute(
        select(Assignment, Task, Unit.status)
        .join(Task, Task.id == Assignment.task_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(Assignment.state == AssignmentState.RECOMMENDED.value,
               Task.status == TaskStatus.OPEN.value)
    ).all()
    moving = {AssignmentState.CONFIRMED.value, AssignmentState.EN_ROUTE.value}
    replaced = {
        int(i): str(st)
        for i, st in session.execute(
            select(Assignment.id, Assignment.state).where(Assignment.state.in_(moving))
        )
    }
    out, seen = [], set()
    for a, task, unit_status in rows:
        ex = dict(a.explanation or {})
        action = str(ex.get("action") or "assign")
        replaces = ex.get("replaces_assignment_id")
        if action == "reassign":
            if replaces is None or int(replaces) not in replaced:
                continue
        elif unit_status != "available":
            continue
        if (a.task_id, a.unit_id) in seen:
            continue
        seen.add((a.task_id, a.unit_id))
        out.append({
            "assignment_id": a.id, "task_id": a.task_id, "unit_id": a.unit_id,
            "eta_s": float(a.eta_s) if a.eta_s is not None else float("nan"),
            "priority": float(ex.get("priority") or task.priority or 0.0),
            "capability": task.capability, "task_kind": task.kind,
            "incident_id": task.incident_id, "runner_up": ex.get("runner_up"),
            "reason": str(ex.get("reason") or ""), "reason_zh": str(ex.get("reason_zh") or ""),
            "policy": ex.get("policy"), "action": action, "replaces_assignment_id": replaces,
            "unit_short_only": bool(ex.get("unit_short_only", False)),
            "position_state": ex.get("position_state"),
            "position_age_s": ex.get("position_age_s"),
            "position_source": ex.get("position_source"), "rank_at": ex.get("rank_at"),
        })
    frame = pd.DataFrame(out, columns=REC_COLUMNS)
    if frame.empty:
        return frame
    frame = frame.sort_values(["priority", "eta_s"], ascending=[False, True], kind="stable")
    return frame.reset_index(drop=True)


def workers(session: Session, at: datetime | None = None) -> list[dict[str, Any]]:
    """Return the heartbeats of the live ``winterops worker`` processes: role, cycle, when.

    See :func:`incidents.live.worker.live_workers`.
    """
    return live_workers(session, at)


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
    """Return the current hotspots (road stretches with repeated incidents)."""
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


ROUTE_STATES = (AssignmentState.CONFIRMED.value, AssignmentState.EN_ROUTE.value)
ROUTE_COLUMNS = ["id", "unit_id", "task_id", "state", "eta_s", "on_network"]


def routes_to_tasks(
    session: Session, region: Any, unit_id: str | None = None
) -> gpd.GeoDataFrame:
    """Road routes from each confirmed or en-route unit, where it is now, to its task.

    Each route is the fastest path on ``region.graph`` under the current road conditions
    (closed segments avoided), drawn from the unit's position to the road, along it, and on
    to the task; ``eta_s`` is that path's time. A unit that cannot reach its task by road (or
    a unit or task without a position) keeps the route stored with the assignment, if any
    (``on_network`` False); without either it has no line.

    Parameters
    ----------
    session
        An open (read) session.
    region
        The loaded :class:`geo.region.Region` (its ``graph``); None: stored routes only.
    unit_id
        Only this unit's route (the patrol lead's view).

    Returns
    -------
    geopandas.GeoDataFrame
        id, unit_id, task_id, state, eta_s, on_network and the line, EPSG:4326.
    """
    stmt = (
        select(Assignment, Unit.vehicle_class, Unit.geometry, Task.geometry)
        .join(Unit, Unit.id == Assignment.unit_id)
        .join(Task, Task.id == Assignment.task_id)
        .where(Assignment.state.in_(ROUTE_STATES))
        .order_by(Assignment.id)
    )
    if unit_id is not None:
        stmt = stmt.where(Assignment.unit_id == unit_id)
    rows = session.execute(stmt).all()
    routed = _road_routes(session, region, rows)
    records, lines = [], []
    for (a, _vc, _ug, _tg), found in zip(rows, routed, strict=True):
        line, seconds = found if found is not None else (a.route, a.eta_s)
        if line is None:
            continue
        records.append({
            "id": a.id, "unit_id": a.unit_id, "task_id": a.task_id, "state": a.state,
            "eta_s": float(seconds) if seconds is not None else float("nan"),
            "on_network": found is not None,
        })
        lines.append(line)
    return gpd.GeoDataFrame(pd.DataFrame(records, columns=ROUTE_COLUMNS), geometry=lines,
                            crs=4326)


def _road_routes(
    session: Session, region: Any, rows: Sequence[Any]
) -> list[tuple[LineString, float] | None]:
    """Route each (assignment, vehicle class, unit point, task point) row on the road graph."""
    out: list[tuple[LineString, float] | None] = [None] * len(rows)
    graph = getattr(region, "graph", None)
    placed = [i for i, r in enumerate(rows) if r[2] is not None and r[3] is not None]
    if graph is None or not placed:
        return out
    lon = [rows[i][2].x for i in placed] + [rows[i][3].x for i in placed]
    lat = [rows[i][2].y for i in placed] + [rows[i][3].y for i in placed]
    try:
        nodes = graph.nearest_nodes(lon, lat)
    except GeoError:
        return out
    conditions = current_conditions(session)
    for k, i in enumerate(placed):
        _a, vc, upos, tpos = rows[i]
        try:
            path, seconds = graph.route(int(nodes[k]), int(nodes[k + len(placed)]), vc,
                                        conditions)
        except GeoError:
            continue
        xy = [(upos.x, upos.y), *path.coords, (tpos.x, tpos.y)]
        out[i] = (LineString(xy), float(seconds))
    return out


def incidents_with_notes(session: Session, max_notes: int = 5) -> gpd.GeoDataFrame:
    """Open incidents (:func:`incidents_open`) with what the callers said, for the map popup.

    Adds ``caller_notes``: the free-text notes of the incident's call reports, oldest first,
    distinct, at most `max_notes`, joined with " / ". The text comes from outside: escape it
    before display.

    Parameters
    ----------
    session
        An open (read) session.
    max_notes
        How many distinct notes to keep per incident.

    Returns
    -------
    geopandas.GeoDataFrame
        The open incidents plus ``caller_notes`` ("" when the calls said nothing).
    """
    frame = incidents_open(session)
    ids_per_incident = [
        [int(r) for r in (ids or []) if isinstance(r, int | str) and str(r).isdigit()]
        for ids in (frame["report_ids"] if "report_ids" in frame.columns else [])
    ]
    wanted = sorted({r for ids in ids_per_incident for r in ids})
    said: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        for rid, attrs in session.execute(
            select(Report.id, Report.attributes).where(Report.id.in_(chunk))
        ):
            note = (attrs or {}).get("notes") if isinstance(attrs, dict) else None
            if isinstance(note, str) and note.strip():
                said[int(rid)] = note.strip()
    notes = []
    for ids in ids_per_incident:
        seen: list[str] = []
        for r in sorted(ids):
            if r in said and said[r] not in seen:
                seen.append(said[r])
        notes.append(" / ".join(seen[:max_notes]))
    return frame.assign(caller_notes=pd.Series(notes, index=frame.index, dtype=object))


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
    flights = [f for f in flights if (_aware(f[2].get("ended_at")) or _aware(f[1]) or at) >= since]
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
            "started_at": _aware(observed), "ended_at": _aware(attrs.get("ended_at")),
            "road_km": float(road_km) if isinstance(road_km, int | float) else float("nan"),
            "segments": len(segs), "on_roads": bool(segs),
        })
        lines.append(line)
    frame = pd.DataFrame(records, columns=DRONE_COVERAGE_COLUMNS)
    for column in ("started_at", "ended_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return gpd.GeoDataFrame(frame, geometry=lines, crs=4326)


# ------------------------------------------------------------------------------------------
# Exports (incidents.exports): whole tables, and the rows the exchange formats link
# ------------------------------------------------------------------------------------------

EXPORT_TABLES: dict[str, Any] = {
    "incidents": Incident,
    "hazards": Hazard,
    "tasks": Task,
    "units": Unit,
    "assignments": Assignment,
}


def export_table(session: Session, table: str) -> gpd.GeoDataFrame:
    """Every row of an exported table (a key of :data:`EXPORT_TABLES`), all columns, id order.

    The geometry is the table's own column (``route`` for assignments), EPSG:4326.

    Raises
    ------
    KeyError
        `table` is not a key of :data:`EXPORT_TABLES` (``incidents.exports`` checks first).
    """
    model = EXPORT_TABLES[table]
    return read_gdf(session, select(*model.__table__.columns).order_by(model.id))


def incidents_listed(session: Session, incident_ids: Iterable[int]) -> gpd.GeoDataFrame:
    """Return the incidents with these ids, whatever their status, in id order (points)."""
    ids = sorted({int(i) for i in incident_ids})
    return read_gdf(
        session,
        select(*Incident.__table__.columns).where(Incident.id.in_(ids)).order_by(Incident.id),
    )


def reports_listed(session: Session, report_ids: Iterable[int]) -> pd.DataFrame:
    """Return the reports with these ids (without geometry), in id order."""
    ids = sorted({int(i) for i in report_ids})
    cols = [c for c in Report.__table__.columns if c.name != "geometry"]
    return _frame(session, select(*cols).where(Report.id.in_(ids)).order_by(Report.id))


def incident_assignments(session: Session, incident_ids: Iterable[int]) -> pd.DataFrame:
    """Every assignment (any state) of a task of these incidents, task then assignment order.

    With the task's ``task_kind`` and ``incident_id`` and the unit's ``vehicle_class`` and
    ``unit_capabilities`` (no route).
    """
    ids = sorted({int(i) for i in incident_ids})
    cols = [c for c in Assignment.__table__.columns if c.name != "route"]
    stmt = (
        select(
            *cols,
            Task.kind.label("task_kind"),
            Task.incident_id,
            Unit.vehicle_class,
            Unit.capabilities.label("unit_capabilities"),
        )
        .join(Task, Task.id == Assignment.task_id)
        .outerjoin(Unit, Unit.id == Assignment.unit_id)
        .where(Task.incident_id.in_(ids))
        .order_by(Task.id, Assignment.id)
    )
    return _frame(session, stmt)


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
