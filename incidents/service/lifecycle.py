r"""Assignment lifecycle: an explicit transition table, optimistic versions, unit/task status.

::

    recommended -> confirmed -> en_route -> on_scene -> cleared
         |             |  \         |           |
         +-------------+---+--------+-----------+--> cancelled
                       +---+--> reassigned (closed; the service layer creates a new one)

Every transition stamps the matching ``*_at`` column, bumps ``version`` with a conditional
``UPDATE … WHERE id = ? AND version = ?`` (no row -> :class:`ConflictError`), keeps the unit's
and the task's status in step and writes an audit event, all in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, select, update
from sqlalchemy.orm import Session

from incidents.dispatch.positions import follow_assignment
from incidents.errors import ConflictError, NotFoundError, TransitionError
from incidents.service.audit import audit
from incidents.store.models import (
    Assignment,
    AssignmentState,
    Task,
    TaskStatus,
    Unit,
    UnitStatus,
    utcnow,
)

S = AssignmentState
_UNITS = cast(Table, Unit.__table__)
_TASKS = cast(Table, Task.__table__)
_ASSIGNMENTS = cast(Table, Assignment.__table__)

TRANSITIONS: dict[AssignmentState, frozenset[AssignmentState]] = {
    S.RECOMMENDED: frozenset({S.CONFIRMED, S.CANCELLED}),
    S.CONFIRMED: frozenset({S.EN_ROUTE, S.CANCELLED, S.REASSIGNED}),
    S.EN_ROUTE: frozenset({S.ON_SCENE, S.CANCELLED, S.REASSIGNED}),
    S.ON_SCENE: frozenset({S.CLEARED, S.CANCELLED}),
    S.CLEARED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REASSIGNED: frozenset(),
}
"""Legal moves: ``TRANSITIONS[current]`` is the set of states an assignment may go to."""

ACTIVE_STATES = frozenset({S.CONFIRMED, S.EN_ROUTE, S.ON_SCENE})
"""States in which an assignment holds its unit."""

TERMINAL_STATES = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)

STAMP_COLUMN: dict[AssignmentState, str] = {
    S.RECOMMENDED: "recommended_at",
    S.CONFIRMED: "confirmed_at",
    S.EN_ROUTE: "en_route_at",
    S.ON_SCENE: "on_scene_at",
    S.CLEARED: "cleared_at",
    S.CANCELLED: "cancelled_at",
    S.REASSIGNED: "reassigned_at",
}

# what the unit and the task become when an assignment enters a state
UNIT_STATUS_AFTER: dict[AssignmentState, UnitStatus] = {
    S.CONFIRMED: UnitStatus.ASSIGNED,
    S.EN_ROUTE: UnitStatus.EN_ROUTE,
    S.ON_SCENE: UnitStatus.ON_SCENE,
    S.CLEARED: UnitStatus.AVAILABLE,
    S.CANCELLED: UnitStatus.AVAILABLE,
    S.REASSIGNED: UnitStatus.AVAILABLE,
}
TASK_STATUS_AFTER: dict[AssignmentState, TaskStatus] = {
    S.CONFIRMED: TaskStatus.ASSIGNED,
    S.CLEARED: TaskStatus.DONE,
    S.CANCELLED: TaskStatus.OPEN,
    S.REASSIGNED: TaskStatus.OPEN,
}


def _state(value: str | AssignmentState) -> AssignmentState:
    try:
        return AssignmentState(value)
    except ValueError:
        msg = f"unknown assignment state {value!r}; known: {[s.value for s in AssignmentState]}"
        raise TransitionError(msg) from None


def can_transition(current: str | AssignmentState, new: str | AssignmentState) -> bool:
    """Return whether the lifecycle allows going from `current` to `new`."""
    return _state(new) in TRANSITIONS[_state(current)]


def check_transition(current: str | AssignmentState, new: str | AssignmentState) -> None:
    """Raise :class:`TransitionError` naming both states when the move is illegal."""
    cur, nxt = _state(current), _state(new)
    if nxt not in TRANSITIONS[cur]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[cur])) or "none (final state)"
        msg = f"assignment cannot go from {cur.value!r} to {nxt.value!r} (allowed: {allowed})"
        raise TransitionError(msg)


ORDER: tuple[AssignmentState, ...] = (
    S.RECOMMENDED, S.CONFIRMED, S.EN_ROUTE, S.ON_SCENE, S.CLEARED, S.CANCELLED, S.REASSIGNED
)
"""The lifecycle's states in the order an assignment normally passes through them."""


def next_states(
    state: str | AssignmentState, among: frozenset[AssignmentState] | None = None
) -> tuple[AssignmentState, ...]:
    """Return the legal next states of `state` (``TRANSITIONS``), in lifecycle order.

    Parameters
    ----------
    state
        The current state.
    among
        Keep only these (e.g. the patrol status taps); all legal ones when None.
    """
    allowed = TRANSITIONS[_state(state)]
    return tuple(s for s in ORDER if s in allowed and (among is None or s in among))


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def _fresh(session: Session, model: type[Unit] | type[Task], key: str | int) -> Any:
    """Return the row `key` of `model` re-read from the database; NotFoundError when absent."""
    row = session.get(model, key, populate_existing=True)
    if row is None:
        msg = f"no {model.__name__.lower()} {key!r}"
        raise NotFoundError(msg)
    return row


def _claim(table: Table, key: str | int, old: str, new: str, *where: Any) -> Any:
    """Build the conditional ``UPDATE`` moving row `key` from status `old` to `new`."""
    return (
        update(table)
        .where(table.c.id == key, table.c.status == old, *where)
        .values(status=new, version=table.c.version + 1)
    )


def _claim_unit(session: Session, unit_id: str, task_id: int) -> Unit:
    """Atomically move an available unit to ``assigned`` (conditional UPDATE)."""
    unit: Unit = _fresh(session, Unit, unit_id)
    stmt = _claim(
        _UNITS, unit_id, UnitStatus.AVAILABLE.value, UnitStatus.ASSIGNED.value,
        _UNITS.c.version == unit.version,
    )
    if _rowcount(session.execute(stmt)) == 0:
        session.refresh(unit)
        msg = (
            f"unit {unit_id} was already assigned by another dispatcher "
            f"(status now {unit.status!r}); it cannot take task {task_id}: "
            "refresh and choose another unit"
        )
        raise ConflictError(msg)
    session.refresh(unit)
    return unit


# a unit taken out of service (or off shift) meanwhile keeps that status
_UNIT_BUSY = (UnitStatus.ASSIGNED.value, UnitStatus.EN_ROUTE.value, UnitStatus.ON_SCENE.value)


def _set_unit_status(session: Session, unit_id: str, status: UnitStatus) -> None:
    session.execute(
        update(_UNITS)
        .where(_UNITS.c.id == unit_id, _UNITS.c.status.in_(_UNIT_BUSY))
        .values(status=status.value, version=_UNITS.c.version + 1)
    )
    unit = session.get(Unit, unit_id)
    if unit is not None:
        session.refresh(unit)


def _set_task_status(session: Session, task_id: int, status: TaskStatus, now: datetime) -> None:
    values: dict[str, Any] = {"status": status.value, "version": _TASKS.c.version + 1}
    values["closed_at"] = now if status is TaskStatus.DONE else None
    # only a task this assignment holds changes: one cancelled meanwhile stays cancelled
    session.execute(
        update(_TASKS)
        .where(_TASKS.c.id == task_id, _TASKS.c.status == TaskStatus.ASSIGNED.value)
        .values(**values)
    )
    task = session.get(Task, task_id)
    if task is not None:
        session.refresh(task)


def _claim_task(session: Session, task_id: int) -> Task:
    """Atomically move an open task to ``assigned``."""
    task: Task = _fresh(session, Task, task_id)
    stmt = _claim(_TASKS, task_id, TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value)
    claimed = _rowcount(session.execute(stmt))
    session.refresh(task)
    if claimed == 0:
        msg = (
            f"task {task_id} is {task.status!r}, not open: another dispatcher may have "
            "assigned it; refresh and look again"
        )
        raise ConflictError(msg)
    return task


def transition(
    session: Session,
    assignment: Assignment,
    new_state: str | AssignmentState,
    actor: str,
    now: datetime | None = None,
    expected_version: int | None = None,
    details: Mapping[str, Any] | None = None,
) -> Assignment:
    """Move `assignment` to `new_state`, in the caller's transaction.

    Parameters
    ----------
    session
        Open session; nothing is committed here.
    assignment
        The assignment to move (its in-memory ``version`` is the expected one by default).
    new_state
        Target state; must be in ``TRANSITIONS[assignment.state]``.
    actor
        Who does it (user name), for the audit log.
    now
        When (timezone-aware); defaults to now in UTC. Stamped in the state's ``*_at`` column.
    expected_version
        The version the actor saw; someone else's change in between -> ConflictError.
    details
        Extra facts for the audit event.

    Returns
    -------
    Assignment
        The same object, refreshed from the database (new state, stamp and version).

    Raises
    ------
    TransitionError
        The move is not in the table (the message names both states).
    ConflictError
        The assignment changed since `expected_version`, or (recommended -> confirmed) the
        unit was taken by someone else.
    """
    now = now or utcnow()
    session.flush()
    current = _state(assignment.state)
    new = _state(new_state)
    check_transition(current, new)
    version = assignment.version if expected_version is None else expected_version

    if new is S.CONFIRMED:  # the unit must still be free; claim it before anything else
        _claim_unit(session, assignment.unit_id, assignment.task_id)
        _claim_task(session, assignment.task_id)
    _move(session, assignment, current, new, version, actor, now)
    if current in ACTIVE_STATES:  # the assignment holds its unit and task: keep them in step
        _keep_in_step(session, assignment, new, now)
    audit(
        session,
        actor,
        f"assignment.{new.value}",
        f"assignment:{assignment.id}",
        details={
            "from": current.value,
            "to": new.value,
            "unit_id": assignment.unit_id,
            "task_id": assignment.task_id,
            "version": assignment.version,
            **dict(details or {}),
        },
        at=now,
    )
    return assignment


def _move(
    session: Session,
    assignment: Assignment,
    current: AssignmentState,
    new: AssignmentState,
    version: int,
    actor: str,
    now: datetime,
) -> None:
    """Move the assignment's row from `current` at `version` to `new`, stamped `now`.

    Raises
    ------
    ConflictError
        The row is no longer at `version` in state `current` (someone else changed it).
    """
    values: dict[str, Any] = {
        "state": new.value,
        "version": _ASSIGNMENTS.c.version + 1,
        STAMP_COLUMN[new]: now,
    }
    if new is S.CONFIRMED:
        values["confirmed_by"] = actor
    moved = _rowcount(
        session.execute(
            update(_ASSIGNMENTS)
            .where(
                _ASSIGNMENTS.c.id == assignment.id,
                _ASSIGNMENTS.c.version == version,
                _ASSIGNMENTS.c.state == current.value,
            )
            .values(**values)
        )
    )
    session.refresh(assignment)
    if moved == 0:
        msg = (
            f"assignment {assignment.id} changed meanwhile (now {assignment.state!r}, "
            f"version {assignment.version}; you had version {version}): refresh and try again"
        )
        raise ConflictError(msg)


def _keep_in_step(
    session: Session, assignment: Assignment, new: AssignmentState, now: datetime
) -> None:
    """Bring the unit's and the task's status (and the unit's position) in step with `new`."""
    if new in UNIT_STATUS_AFTER:
        _set_unit_status(session, assignment.unit_id, UNIT_STATUS_AFTER[new])
    if new in TASK_STATUS_AFTER:
        _set_task_status(session, assignment.task_id, TASK_STATUS_AFTER[new], now)
    if new in (S.ON_SCENE, S.CLEARED):  # on scene = at the task; cleared stays there
        follow_assignment(session, assignment, new, now)


def confirm_assignment(
    session: Session,
    actor: str,
    task_id: int,
    unit_id: str,
    now: datetime | None = None,
    eta_s: float | None = None,
    explanation: Mapping[str, Any] | None = None,
) -> Assignment:
    """Confirm `unit_id` for `task_id` (a dispatcher's act): claim the unit, record the assignment.

    The unit is claimed with ``UPDATE units SET status='assigned', version=version+1 WHERE
    id=:id AND status='available' AND version=:v``; when no row changes, someone else got there
    first and :class:`ConflictError` is raised. A matching ``recommended`` assignment is
    confirmed through :func:`transition`; otherwise a new ``confirmed`` assignment is created.
    The caller's transaction is not committed here.

    Raises
    ------
    NotFoundError
        No such task or unit.
    ConflictError
        The unit is no longer available, or the task is no longer open.
    """
    now = now or utcnow()
    if session.get(Task, task_id) is None:
        msg = f"no task {task_id!r}"
        raise NotFoundError(msg)
    pending = session.scalars(
        select(Assignment).where(
            Assignment.task_id == task_id,
            Assignment.unit_id == unit_id,
            Assignment.state == S.RECOMMENDED.value,
        )
    ).first()
    if pending is not None:
        if eta_s is not None:
            pending.eta_s = eta_s
        if explanation is not None:
            pending.explanation = dict(explanation)
        return transition(session, pending, S.CONFIRMED, actor, now=now)

    _claim_unit(session, unit_id, task_id)
    _claim_task(session, task_id)
    assignment = Assignment(
        unit_id=unit_id,
        task_id=task_id,
        state=S.CONFIRMED.value,
        version=1,
        eta_s=eta_s,
        explanation=dict(explanation or {}),
        recommended_at=now,
        confirmed_at=now,
        confirmed_by=actor,
    )
    session.add(assignment)
    session.flush()
    audit(
        session,
        actor,
        "assignment.confirmed",
        f"assignment:{assignment.id}",
        details={"from": None, "to": S.CONFIRMED.value, "unit_id": unit_id, "task_id": task_id,
                 "eta_s": eta_s},
        at=now,
    )
    return assignment
