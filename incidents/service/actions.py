"""The one service layer for dispatch actions: confirm, override, reassign, cancel, status.

Every action runs in the caller's transaction, goes through :mod:`incidents.service.lifecycle`
(versioned conditional updates: two dispatchers racing -> one wins, the other gets
:class:`~incidents.errors.ConflictError`) and writes an audit event. Use :func:`act` from a UI:
it runs one action in its own transaction and, when the action is refused (permission,
conflict, illegal transition), rolls the work back and records the refusal in the audit log.

Who may do what
---------------
The checks live in :mod:`incidents.service.roles`: dispatchers and admins may act on any
assignment; a patrol lead only on their own unit's (confirm their own unit, change its status,
cancel it, clear a hazard); a wall display on nothing. A refusal raises
:class:`~incidents.errors.PermissionDenied` and is audited. :func:`status_choices` is the one
list of status taps a patrol page may offer (taken from the lifecycle's transition table).

Stage timers
------------
:data:`STAGE_LIMITS_MIN` gives, per task kind, how long each stage may last before the task is
overdue: ``open`` (waiting for a unit), ``confirmed`` (until en route), ``en_route`` (until on
scene; the ETA plus a margin when known) and ``on_scene`` (until cleared).
:func:`overdue_tasks` lists the late ones, most late first; :func:`task_clocks` lists all.

Hazards
-------
:func:`report_hazard`, :func:`hand_to_road_chief`, :func:`clear_hazard` and
:func:`open_hazards_by_age` live in :mod:`incidents.service.hazards` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from incidents.errors import ConflictError, NotFoundError, PermissionDenied, TransitionError
from incidents.service.audit import audit, audit_committed
from incidents.service.hazards import (
    REPORTABLE,
    clear_hazard,
    hand_to_road_chief,
    open_hazards_by_age,
    report_hazard,
)
from incidents.service.lifecycle import ACTIVE_STATES, confirm_assignment, next_states, transition
from incidents.service.roles import Actor
from incidents.service.roles import actor_of as _actor
from incidents.service.roles import require_capability as _require_capability
from incidents.service.roles import require_dispatcher as _require_dispatcher
from incidents.service.roles import require_unit as _require_unit
from incidents.service.rows import get_row, require_reason, stale
from incidents.store.engine import session_scope
from incidents.store.models import (
    Assignment,
    AssignmentState,
    Incident,
    IncidentStatus,
    Task,
    TaskStatus,
    User,
    utcnow,
)

__all__ = [
    "REPORTABLE",
    "STAGE_LIMITS_MIN",
    "STATUS_STATES",
    "Clock",
    "TabletFix",
    "act",
    "cancel",
    "clear_hazard",
    "confirm",
    "hand_to_road_chief",
    "open_hazards_by_age",
    "overdue_tasks",
    "override",
    "reassign",
    "redirect",
    "report_hazard",
    "send_position",
    "set_status",
    "status_choices",
    "task_clocks",
]

S = AssignmentState
T = TypeVar("T")

# minutes each stage may last per task kind before the task is overdue
STAGE_LIMITS_MIN: dict[str, dict[str, float]] = {
    "rescue": {"open": 10, "confirmed": 5, "en_route": 60, "on_scene": 240},
    "medical": {"open": 10, "confirmed": 5, "en_route": 45, "on_scene": 90},
    "heavy_tow": {"open": 20, "confirmed": 10, "en_route": 90, "on_scene": 180},
    "traffic_control": {"open": 15, "confirmed": 5, "en_route": 60, "on_scene": 240},
    "plow": {"open": 30, "confirmed": 10, "en_route": 90, "on_scene": 180},
    "grit": {"open": 45, "confirmed": 10, "en_route": 90, "on_scene": 120},
}
DEFAULT_LIMITS = {"open": 15, "confirmed": 10, "en_route": 60, "on_scene": 180}
ETA_MARGIN = 1.5  # en route is late when it takes 1.5 x the ETA (and at least the table value)
STATUS_STATES = frozenset({S.EN_ROUTE, S.ON_SCENE, S.CLEARED})
"""The states a patrol lead's status taps may move an assignment to."""


@dataclass(frozen=True)
class TabletFix:
    """Where the tablet was when the lead tapped (WGS84; accuracy in metres when known)."""

    lon: float
    lat: float
    accuracy_m: float | None = None


def status_choices(state: str | AssignmentState) -> tuple[AssignmentState, ...]:
    """Return the status taps offered from `state`.

    The legal transitions (lifecycle) among en route, on scene and cleared, in lifecycle order.
    """
    return next_states(state, among=STATUS_STATES)


def _assignment(session: Session, assignment_id: int) -> Assignment:
    return get_row(session, Assignment, assignment_id, "assignment")


def _check_version(a: Assignment, expected_version: int | None) -> None:
    if expected_version is not None and a.version != expected_version:
        raise stale("assignment", a.id, a.state, a.version, expected_version)


# ------------------------------------------------------------------------------------------
# Assignment actions
# ------------------------------------------------------------------------------------------


def confirm(
    session: Session,
    actor: User | Actor | str,
    task_id: int,
    unit_id: str,
    now: datetime | None = None,
    *,
    eta_s: float | None = None,
    explanation: dict[str, Any] | None = None,
) -> Assignment:
    """Confirm `unit_id` for `task_id` (the recommended unit, one click).

    Raises
    ------
    ConflictError
        The unit or task was taken by someone else first.
    PermissionDenied
        A patrol lead confirming another unit, or a unit without the task's capability
        (``code`` ``capability_mismatch``).
    NotFoundError
        No such task or unit.
    """
    who = _actor(session, actor)
    _require_unit(session, who, unit_id, "assignment.confirm", f"task:{task_id}")
    _require_capability(session, who, task_id, unit_id, "assignment.confirm")
    return confirm_assignment(
        session, who.name, task_id, unit_id, now=now, eta_s=eta_s, explanation=explanation
    )


def override(
    session: Session,
    actor: User | Actor | str,
    task_id: int,
    unit_id: str,
    now: datetime | None = None,
    *,
    recommended_unit_id: str | None = None,
    reason: str | None = None,
    eta_s: float | None = None,
) -> Assignment:
    """Send another unit than the recommended one, saying why (recorded as an override).

    The reason is required: it is kept in the assignment's explanation and in the audit event
    (``assignment.override``).

    Raises
    ------
    TransitionError
        No reason given (``code`` ``reason_required``).
    PermissionDenied
        Not a dispatcher or admin, or a unit without the task's capability (``code``
        ``capability_mismatch``); audited.
    ConflictError, NotFoundError
        As :func:`confirm`.
    """
    who = _actor(session, actor)
    _require_dispatcher(session, who, "assignment.override", f"task:{task_id}")
    why = require_reason(reason, "assignment.override")
    _require_capability(session, who, task_id, unit_id, "assignment.override")
    detail = {"recommended_unit_id": recommended_unit_id, "reason": why}
    a = confirm_assignment(
        session, who.name, task_id, unit_id, now=now, eta_s=eta_s,
        explanation={"override": True, **detail},
    )
    audit(
        session,
        who.name,
        "assignment.override",
        f"assignment:{a.id}",
        details={"task_id": task_id, "unit_id": unit_id, **detail},
        at=now,
    )
    return a


def reassign(
    session: Session,
    actor: User | Actor | str,
    assignment_id: int,
    new_unit_id: str,
    expected_version: int | None,
    now: datetime | None = None,
    *,
    reason: str | None = None,
) -> Assignment:
    """Move a confirmed or en-route task to another unit; returns the new assignment."""
    return _move(
        session,
        actor,
        "assignment.reassign",
        assignment_id,
        expected_version,
        now,
        unit_id=new_unit_id,
        details={"to_unit_id": new_unit_id, "reason": reason},
        explanation=lambda old: {
            "reassigned_from": old.id,
            "previous_unit_id": old.unit_id,
            "reason": reason,
        },
    )


def redirect(
    session: Session,
    actor: User | Actor | str,
    assignment_id: int,
    new_task_id: int,
    expected_version: int | None,
    now: datetime | None = None,
    *,
    eta_s: float | None = None,
    reason: str | None = None,
) -> Assignment:
    """Send a unit already out on a task to another, more urgent task.

    A ``reassign`` recommendation; its old task opens again. Returns the new assignment.
    """
    return _move(
        session,
        actor,
        "assignment.redirect",
        assignment_id,
        expected_version,
        now,
        task_id=new_task_id,
        eta_s=eta_s,
        details={"to_task_id": new_task_id, "reason": reason},
        explanation=lambda old: {"redirected_from_task": old.task_id, "reason": reason},
    )


def _move(
    session: Session,
    actor: User | Actor | str,
    action: str,
    assignment_id: int,
    expected_version: int | None,
    now: datetime | None,
    *,
    details: dict[str, Any],
    explanation: Callable[[Assignment], dict[str, Any]],
    task_id: int | None = None,
    unit_id: str | None = None,
    eta_s: float | None = None,
) -> Assignment:
    """Close an assignment as reassigned and confirm its replacement.

    Another unit on the same task, or the same unit on another task, in the caller's
    transaction.
    """
    now = now or utcnow()
    who = _actor(session, actor)
    _require_dispatcher(session, who, action, f"assignment:{assignment_id}")
    old = _assignment(session, assignment_id)
    _check_version(old, expected_version)
    _require_capability(
        session, who, old.task_id if task_id is None else task_id,
        old.unit_id if unit_id is None else unit_id, action,
    )
    transition(
        session,
        old,
        S.REASSIGNED,
        who.name,
        now=now,
        expected_version=expected_version,
        details=details,
    )
    return confirm_assignment(
        session,
        who.name,
        old.task_id if task_id is None else task_id,
        old.unit_id if unit_id is None else unit_id,
        now=now,
        eta_s=eta_s,
        explanation=explanation(old),
    )


def cancel(
    session: Session,
    actor: User | Actor | str,
    assignment_id: int,
    expected_version: int | None,
    now: datetime | None = None,
    *,
    reason: str | None = None,
) -> Assignment:
    """Cancel an assignment (the unit becomes free, the task open again)."""
    who = _actor(session, actor)
    a = _assignment(session, assignment_id)
    _require_unit(session, who, a.unit_id, "assignment.cancel", f"assignment:{assignment_id}")
    _check_version(a, expected_version)
    return transition(
        session,
        a,
        S.CANCELLED,
        who.name,
        now=now,
        expected_version=expected_version,
        details={"reason": reason},
    )


def set_status(
    session: Session,
    actor: User | Actor | str,
    assignment_id: int,
    new_state: str | AssignmentState,
    expected_version: int | None,
    now: datetime | None = None,
    *,
    position: TabletFix | None = None,
) -> Assignment:
    """Patrol status taps: ``en_route``, ``on_scene``, ``cleared``.

    With `position` (the tablet's location when the browser gave one) the unit's position is
    recorded too (:func:`incidents.dispatch.record_tablet_fix`), in the same transaction. When
    every task of an incident is done, the incident is resolved.
    """
    now = now or utcnow()
    state = S(str(new_state))
    who = _actor(session, actor)
    a = _assignment(session, assignment_id)
    target = f"assignment:{assignment_id}"
    _require_unit(session, who, a.unit_id, f"assignment.{state.value}", target)
    if state not in STATUS_STATES:
        msg = f"set_status takes en_route, on_scene or cleared, not {state.value!r}"
        raise TransitionError(msg)
    _check_version(a, expected_version)
    transition(session, a, state, who.name, now=now, expected_version=expected_version)
    if position is not None:
        from incidents.dispatch import record_tablet_fix  # dispatch imports the services

        record_tablet_fix(
            session,
            unit_id=a.unit_id,
            lon=position.lon,
            lat=position.lat,
            at=now,
            accuracy_m=position.accuracy_m,
        )
    if state is S.CLEARED:
        _resolve_incident_if_done(session, a.task_id, who.name, now)
    return a


def send_position(
    session: Session,
    actor: User | Actor | str,
    unit_id: str,
    fix: TabletFix,
    now: datetime | None = None,
) -> int:
    """Record the tablet's position a patrol lead sends on request.

    The unit's position is updated (:func:`incidents.dispatch.record_tablet_fix`, which audits
    the fix) and who sent it is audited (``unit.send_position``).

    Returns the stored report id. A patrol lead may send only for their own unit.
    """
    from incidents.dispatch import record_tablet_fix  # dispatch imports the services

    now = now or utcnow()
    who = _actor(session, actor)
    _require_unit(session, who, unit_id, "unit.send_position", f"unit:{unit_id}")
    rid = record_tablet_fix(
        session, unit_id=unit_id, lon=fix.lon, lat=fix.lat, at=now, accuracy_m=fix.accuracy_m
    )
    audit(
        session,
        who.name,
        "unit.send_position",
        f"unit:{unit_id}",
        details={"lon": fix.lon, "lat": fix.lat, "accuracy_m": fix.accuracy_m, "report_id": rid},
        at=now,
    )
    return int(rid)


def _resolve_incident_if_done(session: Session, task_id: int, actor: str, now: datetime) -> None:
    task = session.get(Task, task_id)
    if task is None or task.incident_id is None:
        return
    tasks = session.scalars(select(Task).where(Task.incident_id == task.incident_id)).all()
    if all(t.status in (TaskStatus.DONE.value, TaskStatus.CANCELLED.value) for t in tasks):
        inc = session.get(Incident, task.incident_id)
        if inc is not None and inc.status == IncidentStatus.OPEN.value:
            inc.status = IncidentStatus.RESOLVED.value
            inc.resolved_at = now
            inc.version += 1
            session.flush()
            audit(session, actor, "incident.resolved", f"incident:{inc.id}", at=now)


def act(
    factory: sessionmaker[Session] | Callable[[], Session],
    action: Callable[..., T],
    actor: User | Actor | str,
    *args: Any,
    **kwargs: Any,
) -> T:
    """Run one service action in its own transaction; audit a refusal after the rollback.

    Example: ``act(factory, confirm, "alice", task_id, unit_id)``.

    Raises
    ------
    ConflictError, PermissionDenied, TransitionError, NotFoundError
        As the action raised them; the refusal is in the audit log (outcome ``conflict``,
        ``denied`` or ``error``).
    """
    name = actor.username if isinstance(actor, User) else str(actor)
    target = ":".join(str(a) for a in args[:2])
    try:
        with session_scope(cast(sessionmaker[Session], factory)) as session:
            return action(session, actor, *args, **kwargs)
    except (ConflictError, PermissionDenied, TransitionError, NotFoundError) as e:
        outcome = (
            "conflict"
            if isinstance(e, ConflictError)
            else "denied"
            if isinstance(e, PermissionDenied)
            else "error"
        )
        audit_committed(
            factory,
            name,
            f"service.{getattr(action, '__name__', 'action')}",
            target,
            outcome,
            {"error": str(e), "code": getattr(e, "code", None)},
        )
        raise


# ------------------------------------------------------------------------------------------
# Stage timers
# ------------------------------------------------------------------------------------------


@dataclass
class Clock:
    """A task's current stage and how long it has been in it."""

    task_id: int
    task_kind: str
    incident_id: int | None
    stage: str  # open | confirmed | en_route | on_scene
    since: datetime
    elapsed_min: float
    limit_min: float
    overdue: bool
    assignment_id: int | None = None
    unit_id: str | None = None
    priority: float = 0.0

    @property
    def late_min(self) -> float:
        """Minutes past the limit (negative while on time)."""
        return self.elapsed_min - self.limit_min

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d["since"] = self.since.isoformat()
        d["late_min"] = round(self.late_min, 1)
        return d


def _limit(kind: str, stage: str) -> float:
    return float(STAGE_LIMITS_MIN.get(kind, DEFAULT_LIMITS).get(stage, DEFAULT_LIMITS[stage]))


def task_clocks(session: Session, now: datetime) -> list[Clock]:
    """Every open or assigned task with its stage clock."""
    out: list[Clock] = []
    active = {
        a.task_id: a
        for a in session.scalars(
            select(Assignment).where(Assignment.state.in_([s.value for s in ACTIVE_STATES]))
        )
    }
    tasks = session.scalars(
        select(Task).where(Task.status.in_([TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value]))
    ).all()
    for t in tasks:
        a = active.get(t.id)
        if a is None:
            stage, since = "open", t.created_at
        else:
            stage = a.state
            since = (
                {
                    S.CONFIRMED.value: a.confirmed_at,
                    S.EN_ROUTE.value: a.en_route_at,
                    S.ON_SCENE.value: a.on_scene_at,
                }.get(a.state)
                or a.confirmed_at
                or t.created_at
            )
        limit = _limit(t.kind, stage)
        if stage == S.EN_ROUTE.value and a is not None and a.eta_s:
            limit = max(limit, ETA_MARGIN * a.eta_s / 60.0)
        elapsed = (now - since).total_seconds() / 60.0
        out.append(
            Clock(
                t.id,
                t.kind,
                t.incident_id,
                stage,
                since,
                elapsed,
                limit,
                elapsed > limit,
                a.id if a else None,
                a.unit_id if a else None,
                float(t.priority or 0.0),
            )
        )
    return out


def overdue_tasks(session: Session, now: datetime) -> list[Clock]:
    """Tasks whose current stage has lasted longer than its limit, most late first."""
    late = [c for c in task_clocks(session, now) if c.overdue]
    return sorted(late, key=lambda c: (-c.late_min, -c.priority))

