"""Unit readiness: out of service and back, fuel and crew hours, by the roles that may.

:func:`set_readiness` is the one write. Dispatchers and admins may change any unit; a patrol
lead, a wall display and anyone else are refused (audited): the design gives the patrol lead
their unit's tasks and status taps, not its readiness. Every change is audited
(``unit.readiness``) with the values before and after and the reason.

* **Out of service** (``in_service=False``) needs a reason and a free unit (``available`` or
  ``off_shift``): a unit on a task is refused (``code`` ``unit_busy``; reassign or cancel its task
  first). It then gets no recommendation (the dispatcher ranks only available units).
* **Back in service** (``in_service=True``) makes an out-of-service unit available.
* **Fuel** is a share of the tank, 0..1; **crew hours** the hours the crew has worked this
  shift, 0..:data:`MAX_CREW_HOURS`. Values out of range are a ``ValueError``.

The update is versioned: a unit changed meanwhile (by another dispatcher, or a status tap)
raises :class:`~incidents.errors.ConflictError` when `expected_version` is given.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from incidents.errors import TransitionError
from incidents.service.audit import audit
from incidents.service.roles import Actor, actor_of, deny, require_dispatcher
from incidents.service.rows import get_row, require_reason, versioned_update
from incidents.store.models import Role, Unit, UnitStatus, User, utcnow

__all__ = ["FREE_STATUSES", "MAX_CREW_HOURS", "set_readiness"]

MAX_CREW_HOURS = 48.0
FREE_STATUSES = frozenset({UnitStatus.AVAILABLE.value, UnitStatus.OFF_SHIFT.value})
"""Statuses from which a unit may be taken out of service (no task on hand)."""
_OUT = UnitStatus.OUT_OF_SERVICE.value


def _check_values(fuel: float | None, crew_hours: float | None) -> None:
    if fuel is not None and not 0.0 <= float(fuel) <= 1.0:
        msg = f"fuel is a share of the tank between 0 and 1, not {fuel!r}"
        raise ValueError(msg)
    if crew_hours is not None and not 0.0 <= float(crew_hours) <= MAX_CREW_HOURS:
        msg = f"crew hours must lie between 0 and {MAX_CREW_HOURS:g}, not {crew_hours!r}"
        raise ValueError(msg)


def _new_status(u: Unit, in_service: bool | None) -> str | None:
    """Return the status `in_service` moves the unit to (None: unchanged)."""
    if in_service is None:
        return None
    if in_service:
        return UnitStatus.AVAILABLE.value if u.status == _OUT else None
    if u.status == _OUT:
        return None
    if u.status not in FREE_STATUSES:
        msg = (
            f"unit {u.id} is {u.status!r} (on a task): reassign or cancel its task before "
            "taking it out of service"
        )
        raise TransitionError(msg, code="unit_busy")
    return _OUT


def _refuse_patrol_lead(session: Session, who: Actor, unit_id: str) -> None:
    if who.role == Role.PATROL_LEAD.value:
        why = (
            f"patrol lead {who.name!r} may not change unit readiness (unit {unit_id!r}); "
            "a dispatcher does that"
        )
        raise deny(session, who, "unit.readiness", f"unit:{unit_id}", why)


def set_readiness(
    session: Session,
    actor: User | Actor | str,
    unit_id: str,
    now: datetime | None = None,
    *,
    in_service: bool | None = None,
    fuel: float | None = None,
    crew_hours: float | None = None,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Unit:
    """Change a unit's readiness (only the arguments given); audited as ``unit.readiness``.

    Raises
    ------
    PermissionDenied
        Not a dispatcher or admin (audited).
    NotFoundError
        No such unit.
    TransitionError
        Out of service without a reason (``code`` ``reason_required``), or a unit on a task
        (``code`` ``unit_busy``).
    ConflictError
        The unit changed since `expected_version`.
    ValueError
        Fuel outside 0..1 or crew hours outside 0..:data:`MAX_CREW_HOURS`.
    """
    now = now or utcnow()
    who = actor_of(session, actor)
    _refuse_patrol_lead(session, who, unit_id)
    require_dispatcher(session, who, "unit.readiness", f"unit:{unit_id}")
    _check_values(fuel, crew_hours)
    u = get_row(session, Unit, unit_id, "unit")
    status = _new_status(u, in_service)
    why = require_reason(reason, "unit.out_of_service") if status == _OUT else (reason or None)
    values: dict[str, Any] = {}
    if status is not None:
        values["status"] = status
    if fuel is not None:
        values["fuel"] = round(float(fuel), 3)
    if crew_hours is not None:
        values["crew_hours"] = round(float(crew_hours), 2)
    before = {k: getattr(u, k) for k in values}
    if values:
        versioned_update(session, u, expected_version, "unit", **values)
    audit(session, who.name, "unit.readiness", f"unit:{unit_id}", at=now,
          details={"before": before, "after": values, "reason": why})
    return u
