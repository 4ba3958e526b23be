"""Reads of the dispatcher's workflows: override candidates, incident detail, overdue, readiness.

Each function takes an open session (reads only) and returns plain records or a frame;
nothing here writes. The writes are the services' (:mod:`incidents.service.actions`,
:mod:`~incidents.service.overdue`, :mod:`~incidents.service.incident_edit`,
:mod:`~incidents.service.units`).

* :func:`override_candidates`: the units that could take a task instead of the recommended one,
  with vehicle class, ETA to the task (the road network under the current conditions),
  capability fit, and whether each is recommended for another task or busy;
* :func:`incident_detail`: an incident with its merge log (why each report is in it), reports,
  tasks, and what was merged into it; :func:`merge_partners` lists open incidents to fold in;
* :func:`overdue_graded`: :func:`incidents.service.overdue.graded_overdue` as a frame;
* :func:`unit_readiness`: every unit's status, fuel and crew hours.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.dispatch.traveltime import current_conditions, eta_matrix, node_index
from incidents.service.overdue import graded_overdue
from incidents.store.models import (
    Assignment,
    AssignmentState,
    Incident,
    IncidentStatus,
    Report,
    Task,
    Unit,
    UnitStatus,
)

__all__ = [
    "CANDIDATE_COLUMNS",
    "OVERDUE_COLUMNS",
    "READINESS_COLUMNS",
    "incident_detail",
    "merge_partners",
    "overdue_graded",
    "override_candidates",
    "unit_readiness",
]

CANDIDATE_COLUMNS = [
    "unit_id", "name", "vehicle_class", "status", "eta_s", "capable", "capabilities",
    "recommended_for", "busy", "selectable", "fuel",
]
OVERDUE_COLUMNS = [
    "task_id", "task_kind", "incident_id", "stage", "since", "elapsed_min", "limit_min",
    "late_min", "unit_id", "assignment_id", "priority", "grade", "score", "weight", "people",
    "vulnerable", "acknowledged", "escalated", "marked_by", "marked_at", "why",
]
READINESS_COLUMNS = [
    "id", "name", "vehicle_class", "status", "fuel", "crew_hours", "crew_hour_limit", "brigade",
    "version",
]
_BUSY = frozenset({UnitStatus.ASSIGNED.value, UnitStatus.EN_ROUTE.value, UnitStatus.ON_SCENE.value})


def _recommended_elsewhere(session: Session, task_id: int) -> dict[str, int]:
    """Return unit id -> the other task it is recommended for (stored ranking)."""
    rows = session.execute(
        select(Assignment.unit_id, Assignment.task_id)
        .join(Task, Task.id == Assignment.task_id)
        .where(Assignment.state == AssignmentState.RECOMMENDED.value,
               Task.status == "open", Assignment.task_id != task_id)
        .order_by(Assignment.id)
    ).all()
    return {str(u): int(t) for u, t in rows}


def _etas(session: Session, region: Any, units: list[Unit], task: Task) -> list[float]:
    """Return seconds from each unit to `task` on the roads (nan: no position or no region)."""
    placed = [i for i, u in enumerate(units) if u.geometry is not None]
    out = [math.nan] * len(units)
    graph = getattr(region, "graph", None)
    if graph is None or task.geometry is None or not placed:
        return out
    u_nodes = node_index(graph, [units[i].geometry.x for i in placed],  # type: ignore[union-attr]
                         [units[i].geometry.y for i in placed])  # type: ignore[union-attr]
    t_nodes = node_index(graph, [task.geometry.x], [task.geometry.y])
    m = eta_matrix(graph, u_nodes, [units[i].vehicle_class for i in placed], t_nodes,
                   current_conditions(session))
    for row, i in enumerate(placed):
        v = float(m[row, 0])
        out[i] = v if math.isfinite(v) else math.nan
    return out


def override_candidates(
    session: Session, region: Any, task_id: int, recommended_unit_id: str | None = None,
    *, include_busy: bool = True,
) -> pd.DataFrame:
    """Return the units that could take task `task_id` instead of `recommended_unit_id`.

    Every unit with the task's capability that is in service (available, or with
    `include_busy` also out on a task), with vehicle class, ETA in seconds to the task
    (``nan`` when unknown), its capabilities, the task it is recommended for elsewhere (None),
    ``busy`` (on a task) and ``selectable`` (available: a unit recommended elsewhere may still
    be sent, marked so; a busy one is reassigned, not overridden). Sorted: selectable first,
    then those not recommended elsewhere, then by ETA.
    """
    task = session.get(Task, task_id)
    if task is None:
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    statuses = [UnitStatus.AVAILABLE.value, *(_BUSY if include_busy else ())]
    units = [
        u for u in session.scalars(select(Unit).where(Unit.status.in_(statuses)).order_by(Unit.id))
        if u.id != recommended_unit_id and task.capability in (u.capabilities or [])
    ]
    elsewhere = _recommended_elsewhere(session, task_id)
    etas = _etas(session, region, units, task)
    rows = []
    for u, eta in zip(units, etas, strict=True):
        busy = u.status in _BUSY
        rec = elsewhere.get(u.id)
        rows.append({
            "unit_id": u.id, "name": u.name, "vehicle_class": u.vehicle_class,
            "status": u.status, "eta_s": eta, "capable": True,
            "capabilities": list(u.capabilities or []), "recommended_for": rec, "busy": busy,
            "selectable": not busy, "fuel": float(u.fuel),
        })
    frame = pd.DataFrame(rows, columns=CANDIDATE_COLUMNS)
    if frame.empty:
        return frame
    frame["_eta"] = frame["eta_s"].fillna(math.inf)
    frame["_free"] = frame["recommended_for"].isna()
    frame = frame.sort_values(["selectable", "_free", "_eta", "unit_id"],
                              ascending=[False, False, True, True])
    return frame.drop(columns=["_eta", "_free"]).reset_index(drop=True)


def _reports(session: Session, report_ids: list[int]) -> list[dict[str, Any]]:
    if not report_ids:
        return []
    rows = session.execute(
        select(Report.id, Report.kind, Report.observed_at, Report.source, Report.subtype,
               Report.road_code, Report.km)
        .where(Report.id.in_(report_ids)).order_by(Report.observed_at, Report.id)
    ).all()
    return [dict(r._mapping) for r in rows]


def _tasks(session: Session, incident_id: int) -> list[dict[str, Any]]:
    out = []
    for t in session.scalars(select(Task).where(Task.incident_id == incident_id).order_by(Task.id)):
        a = session.scalars(
            select(Assignment).where(Assignment.task_id == t.id,
                                     Assignment.state != AssignmentState.RECOMMENDED.value)
            .order_by(Assignment.id.desc())
        ).first()
        out.append({"task_id": t.id, "kind": t.kind, "status": t.status,
                    "unit_id": a.unit_id if a else None, "state": a.state if a else None})
    return out


def incident_detail(session: Session, incident_id: int) -> dict[str, Any] | None:
    """Return incident `incident_id` with its merge log, reports, tasks and merged incidents.

    ``merge_log`` is the list the fusion and the manual edits wrote (rule, distance, minutes,
    vehicle counts, who, note): why each report is in the incident. None when there is no such
    incident.
    """
    inc = session.get(Incident, incident_id)
    if inc is None:
        return None
    merged_in = session.scalars(
        select(Incident.id).where(Incident.merged_into_id == incident_id).order_by(Incident.id)
    ).all()
    return {
        "id": inc.id, "kind": inc.kind, "status": inc.status, "title": inc.title,
        "road_code": inc.road_code, "km": inc.km, "people": int(inc.people or 0),
        "vulnerable": int(inc.vulnerable or 0), "vehicles": int(inc.vehicles or 0),
        "priority": float(inc.priority or 0.0), "first_report_at": inc.first_report_at,
        "last_report_at": inc.last_report_at, "merged_into_id": inc.merged_into_id,
        "version": inc.version,
        "report_ids": [int(r) for r in inc.report_ids or []],
        "merge_log": [dict(e) for e in inc.merge_log or []],
        "reports": _reports(session, [int(r) for r in inc.report_ids or []]),
        "tasks": _tasks(session, inc.id),
        "merged_from": [int(i) for i in merged_in],
    }


def merge_partners(session: Session, incident_id: int, limit: int = 20) -> pd.DataFrame:
    """Return other open incidents to merge into `incident_id`: same road first, then nearest.

    Columns ``id``, ``kind``, ``road_code``, ``km``, ``people``, ``distance_km`` (straight line,
    nan when a position is missing).
    """
    cols = ["id", "kind", "road_code", "km", "people", "distance_km"]
    inc = session.get(Incident, incident_id)
    if inc is None:
        return pd.DataFrame(columns=cols)
    rows = []
    for o in session.scalars(
        select(Incident).where(Incident.status == IncidentStatus.OPEN.value,
                               Incident.id != incident_id)
    ):
        d = math.nan
        if inc.geometry is not None and o.geometry is not None:
            d = _km(inc.geometry.x, inc.geometry.y, o.geometry.x, o.geometry.y)
        rows.append({"id": o.id, "kind": o.kind, "road_code": o.road_code, "km": o.km,
                     "people": int(o.people or 0), "distance_km": d,
                     "_same": o.road_code is not None and o.road_code == inc.road_code})
    frame = pd.DataFrame(rows, columns=[*cols, "_same"])
    if frame.empty:
        return frame.drop(columns="_same")
    frame["_d"] = frame["distance_km"].fillna(math.inf)
    frame = frame.sort_values(["_same", "_d", "id"], ascending=[False, True, True]).head(limit)
    return frame.drop(columns=["_same", "_d"]).reset_index(drop=True)


def _km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in km (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def overdue_graded(session: Session, now: datetime) -> pd.DataFrame:
    """Return every overdue task graded, worst first (see :mod:`incidents.service.overdue`)."""
    rows = [g.to_dict() for g in graded_overdue(session, now)]
    return pd.DataFrame(rows, columns=OVERDUE_COLUMNS) if rows else pd.DataFrame(
        columns=OVERDUE_COLUMNS
    )


def unit_readiness(session: Session) -> pd.DataFrame:
    """Return every unit's status, fuel (share of the tank) and crew hours, by id."""
    rows = session.execute(
        select(Unit.id, Unit.name, Unit.vehicle_class, Unit.status, Unit.fuel, Unit.crew_hours,
               Unit.crew_hour_limit, Unit.brigade, Unit.version).order_by(Unit.id)
    ).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=READINESS_COLUMNS)
