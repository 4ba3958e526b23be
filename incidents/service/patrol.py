"""What a patrol lead's tablet reads: their unit's task cards and the open hazards nearby.

Read-only; distances in the metric CRS (:func:`geo.crs.to_metric`), from the unit to the
nearest point of the hazard's geometry (a point or a stretch of road).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.crs import to_metric
from incidents.service.actions import status_choices
from incidents.service.lifecycle import ACTIVE_STATES, STAMP_COLUMN
from incidents.service.roles import unit_sections
from incidents.store.models import (
    Assignment,
    AssignmentState,
    Hazard,
    HazardState,
    Incident,
    Segment,
    Task,
)

__all__ = ["nearby_hazards", "task_cards"]


def _section(session: Session, h: Hazard) -> str | None:
    if h.section_id or not h.segment_id:
        return h.section_id
    seg = session.get(Segment, h.segment_id)
    return seg.section_id if seg is not None else None


def _since(a: Assignment) -> datetime | None:
    value: datetime | None = getattr(a, STAMP_COLUMN[AssignmentState(a.state)], None)
    return value or a.confirmed_at or a.recommended_at


def task_cards(session: Session, unit_id: str) -> list[dict[str, Any]]:
    """Return the unit's active assignments, newest first, with what the lead needs.

    Returns
    -------
    list of dict
        ``assignment_id, version, state, since, eta_s, task_id, task_kind, incident_id,
        incident_kind, title, notes, road_code, km, people, vehicles, vulnerable, lon, lat,
        choices`` (``choices``: the legal status taps, :func:`status_choices`). ``title`` and
        ``notes`` came from outside: escape them before display.
    """
    rows = session.execute(
        select(Assignment, Task, Incident)
        .join(Task, Task.id == Assignment.task_id)
        .outerjoin(Incident, Incident.id == Task.incident_id)
        .where(
            Assignment.unit_id == unit_id,
            Assignment.state.in_([s.value for s in ACTIVE_STATES]),
        )
        .order_by(Assignment.id.desc())
    ).all()
    cards = []
    for a, task, inc in rows:
        where = (inc.geometry if inc is not None else None) or task.geometry
        cards.append(
            {
                "assignment_id": a.id,
                "version": a.version,
                "state": a.state,
                "since": _since(a),
                "eta_s": a.eta_s,
                "task_id": task.id,
                "task_kind": task.kind,
                "incident_id": task.incident_id,
                "incident_kind": inc.kind if inc is not None else None,
                "title": inc.title if inc is not None else None,
                "notes": inc.notes if inc is not None else None,
                "road_code": inc.road_code if inc is not None else None,
                "km": inc.km if inc is not None else None,
                "people": int(inc.people or 0) if inc is not None else 0,
                "vehicles": int(inc.vehicles or 0) if inc is not None else 0,
                "vulnerable": int(inc.vulnerable or 0) if inc is not None else 0,
                "lon": where.x if isinstance(where, shapely.Point) else None,
                "lat": where.y if isinstance(where, shapely.Point) else None,
                "choices": [s.value for s in status_choices(a.state)],
            }
        )
    return cards


def nearby_hazards(
    session: Session,
    lon: float,
    lat: float,
    within_km: float = 60.0,
    limit: int = 6,
    *,
    unit_id: str | None = None,
) -> list[dict[str, Any]]:
    """Open or handed-over hazards within `within_km` of (`lon`, `lat`), nearest first.

    The distance is to the nearest point of the hazard's geometry (Point or LineString), in
    metres in the metric CRS; hazards without a geometry are left out. With `unit_id` each row
    says whether that unit's patrol lead may clear it (``clearable``: on the unit's own task or
    section, :func:`incidents.service.roles.require_hazard_owner`); without, ``clearable`` is
    None.
    """
    hazards = [
        h
        for h in session.scalars(
            select(Hazard).where(
                Hazard.state.in_([HazardState.OPEN.value, HazardState.HANDED_OVER.value])
            )
        )
        if h.geometry is not None and not h.geometry.is_empty
    ]
    if not hazards:
        return []
    here = to_metric(shapely.Point(lon, lat))
    shapes = to_metric(np.array([h.geometry for h in hazards], dtype=object))
    dist_km = shapely.distance(here, shapes) / 1000.0
    order = np.argsort(dist_km, kind="stable")
    own_hazards, own_sections = unit_sections(session, unit_id) if unit_id else (set(), set())
    out = []
    for i in order[:limit]:
        if dist_km[i] > within_km:
            break
        h = hazards[int(i)]
        out.append(
            {
                "id": h.id,
                "version": h.version,
                "condition": h.condition,
                "state": h.state,
                "road_code": h.road_code,
                "km": h.km,
                "dist_km": float(dist_km[i]),
                "clearable": (
                    h.id in own_hazards or _section(session, h) in own_sections
                    if unit_id else None
                ),
            }
        )
    return out
