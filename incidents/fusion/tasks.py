"""Which tasks an incident or a hazard needs, each with the capability it requires.

========================= ===================================================================
incident / hazard          tasks
========================= ===================================================================
stranded group             rescue, plow, traffic_control (+ medical when anyone is vulnerable
                           or a caller asked for medical help)
vehicle in ditch           heavy_tow + traffic_control for a heavy truck, coach or hazmat
                           vehicle; rescue + traffic_control for anything lighter
crash                      rescue + traffic_control (+ heavy_tow for a heavy vehicle,
                           + medical when someone is hurt or vulnerable)
road blocked               plow + traffic_control
black ice                  grit
drifting snow, snow-packed plow
closed                     traffic_control
poor visibility            nothing to dispatch (shown on the map)
========================= ===================================================================

A unit's ``capabilities`` use the same words as the task kinds, so ``capability == kind``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.fusion.priority import hazard_priority
from incidents.fusion.summary import FusionSummary
from incidents.store.models import Hazard, Incident, Task, TaskKind, TaskStatus

__all__ = [
    "TaskSpec",
    "cancel_open_tasks",
    "ensure_tasks",
    "open_tasks_by",
    "tasks_for",
    "tasks_for_hazard",
    "tasks_for_incident",
]

HEAVY_CLASSES = frozenset(
    {
        "heavy_truck",
        "truck",
        "semi_trailer",
        "freight",
        "coach",
        "bus",
        "passenger_coach",
        "hazmat",
        "hazardous",
        "tanker",
    }
)
# order in which a dispatcher would start them (people first)
TASK_ORDER = ("rescue", "medical", "heavy_tow", "plow", "traffic_control", "grit")


@dataclass(frozen=True)
class TaskSpec:
    """A task kind and the capability a unit needs for it."""

    kind: str
    capability: str

    @classmethod
    def of(cls, kind: TaskKind | str) -> TaskSpec:
        """Return the spec of a task kind (capability = kind)."""
        k = TaskKind(kind).value
        return cls(k, k)


def _specs(kinds: Iterable[str]) -> list[TaskSpec]:
    seen = dict.fromkeys(kinds)
    return [TaskSpec.of(k) for k in sorted(seen, key=TASK_ORDER.index)]


def tasks_for(
    kind: str,
    *,
    vehicle_class: str | None = None,
    vulnerable: int = 0,
    needs: Iterable[str] = (),
) -> list[TaskSpec]:
    """Tasks for an incident kind or a road condition (see the module table).

    Parameters
    ----------
    kind
        ``stranded``, ``crash``, ``vehicle_in_ditch``, ``road_blocked`` or a condition
        (``black_ice``, ``drifting_snow``, ``snow_packed``, ``closed``, ``poor_visibility``).
    vehicle_class
        The heaviest vehicle involved (``heavy_truck``, ``coach``, ``hazmat``, ``car`` ...).
    vulnerable
        Number of vulnerable occupants.
    needs
        Callers' needs (``medical``, ``fuel``, ``heat``, ``food``).
    """
    heavy = (vehicle_class or "").lower() in HEAVY_CLASSES
    medical = vulnerable > 0 or "medical" in set(needs)
    kinds: list[str]
    if kind == "stranded":
        kinds = ["rescue", "plow", "traffic_control"] + (["medical"] if medical else [])
    elif kind == "vehicle_in_ditch":
        kinds = ["heavy_tow" if heavy else "rescue", "traffic_control"]
        kinds += ["medical"] if medical else []
    elif kind == "crash":
        kinds = ["rescue", "traffic_control"] + (["heavy_tow"] if heavy else [])
        kinds += ["medical"] if medical else []
    elif kind == "road_blocked":
        kinds = ["plow", "traffic_control"]
    elif kind == "black_ice":
        kinds = ["grit"]
    elif kind in ("drifting_snow", "snow_packed"):
        kinds = ["plow"]
    elif kind == "closed":
        kinds = ["traffic_control"]
    else:
        kinds = []
    return _specs(kinds)


def tasks_for_incident(incident: Incident | Any) -> list[TaskSpec]:
    """Tasks an incident needs, from its kind, vehicle class, vulnerable count and needs."""
    return tasks_for(
        str(incident.kind),
        vehicle_class=incident.vehicle_class,
        vulnerable=int(incident.vulnerable or 0),
        needs=list(incident.needs or []),
    )


def tasks_for_hazard(hazard: Hazard | Any) -> list[TaskSpec]:
    """Tasks a hazard needs: grit for black ice, plow for snow, traffic control for closed."""
    return tasks_for(str(hazard.condition))



# ---------------------------------------------------------------------- keeping tasks in step

_OPEN_TASK_STATES = (TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value)
# a done task still counts: an incident's finished rescue is not created again; for a hazard,
# only evidence newer than the finished work calls for the work again (see `_still_counts`)
_EXISTING_TASK_STATES = (*_OPEN_TASK_STATES, TaskStatus.DONE.value)


def cancel_open_tasks(
    session: Session,
    *,
    hazard_id: int | None = None,
    incident_id: int | None = None,
    now: datetime,
    keep: Iterable[str] = (),
) -> int:
    """Cancel the open tasks of a hazard or an incident (but those of a kind in `keep`)."""
    stmt = select(Task).where(Task.status == TaskStatus.OPEN.value)
    if hazard_id is not None:
        stmt = stmt.where(Task.hazard_id == hazard_id)
    if incident_id is not None:
        stmt = stmt.where(Task.incident_id == incident_id)
    keep_set = set(keep)
    n = 0
    for t in session.scalars(stmt):
        if t.kind in keep_set:
            continue
        t.status = TaskStatus.CANCELLED.value
        t.closed_at = now
        t.version += 1
        n += 1
    return n


def ensure_tasks(
    session: Session,
    incident: Incident | None,
    hazard: Hazard | None,
    specs: Sequence[TaskSpec],
    now: datetime,
    summary: FusionSummary,
    seg: Any = None,
    open_tasks: Mapping[int, list[Task]] | None = None,
) -> None:
    """Create the tasks of `specs` an incident or hazard lacks; cancel those it no longer needs.

    Existing tasks take the owner's current priority. `open_tasks` (from :func:`open_tasks_by`)
    saves one query per owner.
    """
    if incident is not None:
        stmt = select(Task).where(Task.incident_id == incident.id)
        prio = float(incident.priority)
        geom = incident.geometry
    elif hazard is not None:
        stmt = select(Task).where(Task.hazard_id == hazard.id)
        road_class = None if seg is None else seg.get("road_class")
        prio = hazard_priority(hazard.condition, hazard.confidence, road_class)
        geom = None
        if hazard.geometry is not None:
            geom = shapely.line_interpolate_point(hazard.geometry, 0.5, normalized=True)
    else:
        return
    owner = incident.id if incident is not None else (hazard.id if hazard is not None else None)
    if open_tasks is not None and owner is not None:
        existing = list(open_tasks.get(owner, []))
    else:
        existing = [t for t in session.scalars(stmt) if t.status in _EXISTING_TASK_STATES]
    have = {t.kind for t in existing if _still_counts(t, hazard)}
    for spec in specs:
        if spec.kind in have:
            continue
        session.add(
            Task(
                incident_id=None if incident is None else incident.id,
                hazard_id=None if hazard is None else hazard.id,
                kind=spec.kind,
                capability=spec.capability,
                status=TaskStatus.OPEN.value,
                priority=prio,
                geometry=geom,
                created_at=now,
            )
        )
        summary.tasks_created += 1
    wanted = {s.kind for s in specs}
    for t in existing:
        if t.status == TaskStatus.OPEN.value and t.kind not in wanted:
            t.status = TaskStatus.CANCELLED.value
            t.closed_at = now
            t.version += 1
            summary.tasks_cancelled += 1
        elif abs(t.priority - prio) > 1e-6:
            t.priority = prio
            if geom is not None and t.geometry is None:
                t.geometry = geom


def _still_counts(task: Task, hazard: Hazard | None) -> bool:
    """Whether an existing task stops fusion from creating the same kind again.

    Open and assigned tasks always do. A done task does for an incident (its need was met), and
    for a hazard only while no evidence newer than the work has come in (ice that formed again
    after gritting needs gritting again).
    """
    if task.status != TaskStatus.DONE.value:
        return True
    if hazard is None:
        return True
    return task.closed_at is not None and task.closed_at >= hazard.last_seen


def open_tasks_by(session: Session, owner: str) -> dict[int, list[Task]]:
    """Open, assigned and done tasks of every incident (or hazard), in one query."""
    col = Task.incident_id if owner == "incident" else Task.hazard_id
    out: dict[int, list[Task]] = {}
    for t in session.scalars(
        select(Task).where(col.is_not(None), Task.status.in_(_EXISTING_TASK_STATES))
    ):
        key = t.incident_id if owner == "incident" else t.hazard_id
        if key is not None:
            out.setdefault(int(key), []).append(t)
    return out
