"""Reads of the work: open incidents and tasks, units, assignments, recommendations, staging.

The frames the dispatcher's console and the patrol tablet show; derived figures (the computed
recommendations, staging, coverage, overdue tasks) call the dispatch, fusion and service rules.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.dispatch import position_state, preposition, recommend
from incidents.fusion import coverage as fusion_coverage
from incidents.queries.core import (
    ACTIVE_STATES,
    now,
    records_frame,
    select_frame,
    utc_or_none,
)
from incidents.service.actions import overdue_tasks
from incidents.settings import Settings
from incidents.store.engine import read_gdf
from incidents.store.models import (
    Assignment,
    AssignmentState,
    DutyPoint,
    Incident,
    IncidentStatus,
    Task,
    TaskStatus,
    Unit,
)

__all__ = [
    "REC_COLUMNS",
    "assignments",
    "coverage_share",
    "duty_points",
    "incidents_open",
    "overdue",
    "position_states",
    "recommendations",
    "recommended",
    "staging",
    "tasks_open",
    "units",
]


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
    return select_frame(
        session,
        select(
            Task.id, Task.incident_id, Task.hazard_id, Task.kind, Task.capability, Task.status,
            Task.priority, Task.created_at, Task.version,
        )
        .where(Task.status.in_([TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value]))
        .order_by(Task.priority.desc()),
    )



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
            position_at=utc_or_none(stamp),
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
    return select_frame(session, stmt.order_by(Assignment.recommended_at.desc()))



def duty_points(session: Session) -> gpd.GeoDataFrame:
    """Duty points (staging sites)."""
    return read_gdf(session, select(*DutyPoint.__table__.columns))



def recommendations(
    session: Session, region: Any, settings: Settings, at: datetime, policy: str = "optimized"
) -> pd.DataFrame:
    """Return the recommendations computed now from the current state, most urgent first.

    This is the CLI's ``winterops recommend`` view; the dashboard shows the stored ranking
    (:func:`recommended`).

    A task that already has its unit gets no plain ``assign``
    (:func:`incidents.dispatch.recommend.build_recommendations` leaves it out).
    """
    return records_frame(recommend(session, region, settings, at, policy=policy))



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



def staging(session: Session, region: Any, settings: Settings, at: datetime) -> pd.DataFrame:
    """Staging suggestions: free units to move to duty points ahead of a forecast onset."""
    return records_frame(preposition(session, region, settings, at))



def coverage_share(
    session: Session, region: Any, settings: Settings, at: datetime
) -> float | None:
    """Share of hazardous road-km within T minutes of a free unit (None when unknown)."""
    share = getattr(fusion_coverage(session, region, settings, at), "share", None)
    return None if share is None else float(share)



def overdue(session: Session, at: datetime) -> pd.DataFrame:
    """Tasks whose current stage has lasted longer than its limit, most late first."""
    return records_frame(overdue_tasks(session, at))

