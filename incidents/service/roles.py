"""Who may do what: the one home of the permission checks every service write makes.

``actor`` is a :class:`~incidents.store.models.User` or a user name. A name that is not a user
(``"cli"``, ``"simulation"``, ``"system"``) acts as the system.

* ``admin``: everything.
* ``dispatcher``: every dispatch action, hazards, feeds are read-only (admin only).
* ``patrol_lead``: only their own unit's assignments and the hazards they report or clear.
* ``wall``: read-only wall display; every write is refused.

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
from incidents.store.models import Role, User

__all__ = [
    "Actor",
    "actor_of",
    "deny",
    "require_admin",
    "require_dispatcher",
    "require_unit",
    "require_writer",
]

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


def deny(session: Session, who: Actor, action: str, target: str, why: str) -> PermissionDenied:
    """Audit a refusal and return the error to raise."""
    audit(session, who.name, action, target, outcome="denied", details={"reason": why})
    return PermissionDenied(why)


def require_writer(session: Session, who: Actor, action: str, target: str) -> None:
    """Refuse every write of a read-only wall display."""
    if who.role == Role.WALL.value:
        why = f"{who.name!r} is a read-only wall display and may not {action}"
        raise deny(session, who, action, target, why)


def require_unit(session: Session, who: Actor, unit_id: str, action: str, target: str) -> None:
    """A patrol lead may only act for their own unit; a wall display never acts."""
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
