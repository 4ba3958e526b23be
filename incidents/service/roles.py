"""Who may do what: the one home of the permission checks every service write makes.

``actor`` is a :class:`~incidents.store.models.User` or a user name. A name that is not a user
(``"cli"``, ``"simulation"``, ``"system"``) acts as the system.

* ``admin``: everything.
* ``dispatcher``: every dispatch action, hazards, feeds are read-only (admin only).
* ``patrol_lead``: only their own unit's assignments; they report hazards, and clear only the
  hazards on their own task or section (:func:`require_hazard_owner`).
* ``wall``: read-only wall display; every write is refused.

Whoever confirms: a unit goes only onto a task whose capability it has
(:func:`require_capability`: a patrol car is never confirmed onto a plow task).

A refusal is audited (outcome ``denied``) in the caller's transaction and raised as
:class:`~incidents.errors.PermissionDenied`; :func:`incidents.service.actions.act` keeps the
audit row after the rollback.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.errors import PermissionDenied
from incidents.service.audit import audit
from incidents.store.models import (
    Assignment,
    AssignmentState,
    Hazard,
    Incident,
    Role,
    Segment,
    Task,
    Unit,
    User,
)

__all__ = [
    "Actor",
    "actor_of",
    "deny",
    "require_admin",
    "require_capability",
    "require_dispatcher",
    "require_hazard_owner",
    "require_unit",
    "require_writer",
    "unit_sections",
]

_ACTIVE = (
    AssignmentState.CONFIRMED.value, AssignmentState.EN_ROUTE.value,
    AssignmentState.ON_SCENE.value,
)

SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """The acting user as the services see it."""

    name: str
    role: str  # dispatcher | patrol_lead | admin | wall | system
    unit_id: str | None = None


def actor_of(session: Session, actor: User | Actor | str) -> Actor:
    """Resolve `actor` (a User, an Actor or a user name) against the users table."""
    if isinstance(actor, Actor):
        return actor
    if isinstance(actor, User):
        return Actor(actor.username, actor.role, actor.unit_id)
    user = session.scalars(select(User).where(User.username == actor)).first()
    if user is None:
        return Actor(str(actor), SYSTEM)
    return Actor(user.username, user.role, user.unit_id)


def deny(
    session: Session, who: Actor, action: str, target: str, why: str, code: str = "denied"
) -> PermissionDenied:
    """Audit a refusal and return the error to raise (with the translatable `code`)."""
    audit(session, who.name, action, target, outcome="denied",
          details={"reason": why, "code": code})
    return PermissionDenied(why, code=code)


def require_writer(session: Session, who: Actor, action: str, target: str) -> None:
    """Refuse every write of a read-only wall display."""
    if who.role == Role.WALL.value:
        why = f"{who.name!r} is a read-only wall display and may not {action}"
        raise deny(session, who, action, target, why)


def require_unit(session: Session, who: Actor, unit_id: str, action: str, target: str) -> None:
    """Refuse a patrol lead acting for another unit, and a wall display acting at all."""
    require_writer(session, who, action, target)
    if who.role == Role.PATROL_LEAD.value and who.unit_id != unit_id:
        why = (
            f"patrol lead {who.name!r} (unit {who.unit_id!r}) may not act on unit {unit_id!r}'s "
            f"assignments ({action})"
        )
        raise deny(session, who, action, target, why)


def require_dispatcher(session: Session, who: Actor, action: str, target: str) -> None:
    """Dispatchers, admins and the system only."""
    require_writer(session, who, action, target)
    if who.role == Role.PATROL_LEAD.value:
        why = f"patrol lead {who.name!r} may not {action}; a dispatcher does that"
        raise deny(session, who, action, target, why)


def require_admin(session: Session, who: Actor, action: str, target: str) -> None:
    """Admins (and the system: the command line) only."""
    if who.role not in (Role.ADMIN.value, SYSTEM):
        why = f"{who.name!r} ({who.role}) is not an admin and may not {action}"
        raise deny(session, who, action, target, why)


def require_capability(
    session: Session, who: Actor, task_id: int, unit_id: str, action: str
) -> None:
    """Refuse confirming `unit_id` onto task `task_id` when the unit lacks its capability.

    Applies to everyone (dispatchers, admins, the system): the recommendation never proposes
    such a pair, and a page or a script may not either. ``code`` ``capability_mismatch``.
    A missing task or unit is left to the caller (:class:`~incidents.errors.NotFoundError`).
    """
    task = session.get(Task, task_id)
    unit = session.get(Unit, unit_id)
    if task is None or unit is None:
        return
    caps = [str(c) for c in (unit.capabilities or [])]
    if task.capability in caps:
        return
    why = (
        f"unit {unit_id!r} ({unit.vehicle_class}; capabilities {', '.join(caps) or 'none'}) "
        f"cannot take task {task_id} which needs {task.capability!r}"
    )
    raise deny(session, who, action, f"task:{task_id}", why, code="capability_mismatch")


def _section_of_segment(session: Session, segment_id: str | None) -> str | None:
    if not segment_id:
        return None
    seg = session.get(Segment, segment_id)
    return seg.section_id if seg is not None else None


def unit_sections(session: Session, unit_id: str) -> tuple[set[int], set[str]]:
    """Return the hazards and road sections a unit is working on (its active tasks').

    Returns
    -------
    tuple of (set of int, set of str)
        Hazard ids of the unit's active tasks, and the maintenance sections of those tasks
        (the hazard's section, else the section of the incident's road segment).
    """
    rows = session.execute(
        select(Task.hazard_id, Task.incident_id)
        .join(Assignment, Assignment.task_id == Task.id)
        .where(Assignment.unit_id == unit_id, Assignment.state.in_(_ACTIVE))
    ).all()
    hazards: set[int] = set()
    sections: set[str] = set()
    for hazard_id, incident_id in rows:
        section = None
        if hazard_id is not None:
            hazards.add(int(hazard_id))
            h = session.get(Hazard, hazard_id)
            if h is not None:
                section = h.section_id or _section_of_segment(session, h.segment_id)
        elif incident_id is not None:
            inc = session.get(Incident, incident_id)
            section = _section_of_segment(session, inc.segment_id) if inc is not None else None
        if section:
            sections.add(section)
    return hazards, sections


def require_hazard_owner(session: Session, who: Actor, hazard: Hazard, action: str) -> None:
    """Refuse a patrol lead a hazard off their own task or section; others are not limited.

    "Own task": a task of the hazard is assigned to the lead's unit (confirmed, en route or on
    scene). "Own section": the hazard lies on the maintenance section of one of the unit's
    active tasks. ``code`` ``not_own_hazard``.
    """
    require_writer(session, who, action, f"hazard:{hazard.id}")
    if who.role != Role.PATROL_LEAD.value:
        return
    target = f"hazard:{hazard.id}"
    if not who.unit_id:
        why = f"patrol lead {who.name!r} leads no unit and may not {action}"
        raise deny(session, who, action, target, why, code="not_own_hazard")
    hazards, sections = unit_sections(session, who.unit_id)
    section = hazard.section_id or _section_of_segment(session, hazard.segment_id)
    if hazard.id in hazards or (section is not None and section in sections):
        return
    why = (
        f"patrol lead {who.name!r} (unit {who.unit_id!r}) may clear only hazards on their own "
        f"task or section; hazard {hazard.id} is on section {section!r}, the unit works on "
        f"{sorted(sections) or 'none'}"
    )
    raise deny(session, who, action, target, why, code="not_own_hazard")
