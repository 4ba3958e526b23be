"""Overdue tasks graded by how late and how bad; a dispatcher acknowledges or escalates them.

Grade
-----
A task is overdue when its stage has lasted longer than its limit
(:func:`incidents.service.actions.task_clocks`). How bad it is::

    weight = 1
           + 1  if people are waiting in the cold (the incident has people, no unit on scene yet)
           + 1  if any of them is vulnerable (children, elderly, sick)
           + 1  if the task's priority is at least HIGH_PRIORITY
    score  = minutes late x weight

and the grade: ``critical`` from :data:`GRADE_MIN` ``critical`` points, ``late`` from ``late``
points, else ``watch``. A plough 20 minutes late is on watch; a stranded family's rescue 20
minutes late (weight 3: 60 points) is late; the same after 40 minutes is critical.

Acknowledge and escalate
------------------------
:func:`acknowledge` (a dispatcher or admin) records that someone has seen an overdue task: its
row folds away until the task reaches a worse grade or moves to another stage.
:func:`escalate` hands it to the duty chief: the row stays, marked escalated. Both write an
:class:`~incidents.store.models.OverdueMark` and an audit event (``overdue.acknowledged``,
``overdue.escalated``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.errors import TransitionError
from incidents.service.actions import Clock, task_clocks
from incidents.service.audit import audit
from incidents.service.roles import Actor, actor_of, require_dispatcher
from incidents.service.rows import MAX_REASON, get_row
from incidents.store.changes import bump
from incidents.store.models import Incident, OverdueMark, Task, User, utcnow

__all__ = [
    "DUTY_CHIEF",
    "GRADES",
    "GRADE_MIN",
    "HIGH_PRIORITY",
    "Graded",
    "acknowledge",
    "escalate",
    "grade_of",
    "graded_overdue",
]

GRADES = ("watch", "late", "critical")
"""Overdue grades, mildest first."""
GRADE_MIN = {"late": 30.0, "critical": 90.0}
"""Score (minutes late x weight) from which a task is ``late`` / ``critical``."""
HIGH_PRIORITY = 100.0
"""A task (or its incident) at or above this priority weighs one more."""
DUTY_CHIEF = "duty_chief"
"""Whom :func:`escalate` hands an overdue task to."""
_ACK, _ESC = "acknowledged", "escalated"


@dataclass
class Graded:
    """An overdue task's clock with its grade and the dispatchers' marks on it."""

    clock: Clock
    grade: str
    score: float
    weight: int
    people: int = 0
    vulnerable: int = 0
    acknowledged: bool = False  # acknowledged at this stage and grade (or worse): folded away
    escalated: bool = False
    marked_by: str | None = None
    marked_at: datetime | None = None
    why: list[str] = field(default_factory=list)  # weight terms: cold, vulnerable, priority

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the clock's fields and the grade's)."""
        d = self.clock.to_dict()
        d.update(
            grade=self.grade, score=round(self.score, 1), weight=self.weight, people=self.people,
            vulnerable=self.vulnerable, acknowledged=self.acknowledged, escalated=self.escalated,
            marked_by=self.marked_by,
            marked_at=self.marked_at.isoformat() if self.marked_at else None, why=list(self.why),
        )
        return d


def grade_of(late_min: float, *, people: int = 0, vulnerable: int = 0, on_scene: bool = False,
             priority: float = 0.0) -> tuple[str, float, int, list[str]]:
    """Return ``(grade, score, weight, why)`` of a task `late_min` minutes past its limit.

    See the module docstring for the formula; `why` names the weight terms that applied
    (``cold``, ``vulnerable``, ``priority``).
    """
    why = []
    if people > 0 and not on_scene:
        why.append("cold")
    if vulnerable > 0 and not on_scene:
        why.append("vulnerable")
    if priority >= HIGH_PRIORITY:
        why.append("priority")
    weight = 1 + len(why)
    score = max(0.0, late_min) * weight
    grade = (
        "critical" if score >= GRADE_MIN["critical"]
        else "late" if score >= GRADE_MIN["late"]
        else "watch"
    )
    return grade, score, weight, why


_Key = tuple[int, str]


def _marks(
    session: Session, task_ids: list[int]
) -> tuple[dict[_Key, OverdueMark], dict[_Key, OverdueMark]]:
    """Return the newest acknowledgement and the newest escalation per (task, stage)."""
    acks: dict[_Key, OverdueMark] = {}
    escs: dict[_Key, OverdueMark] = {}
    if not task_ids:
        return acks, escs
    for m in session.scalars(
        select(OverdueMark).where(OverdueMark.task_id.in_(task_ids)).order_by(OverdueMark.id)
    ):
        (escs if m.action == _ESC else acks)[(m.task_id, m.stage)] = m
    return acks, escs


def _grade_clock(
    c: Clock, inc: Incident | None, ack: OverdueMark | None, esc: OverdueMark | None
) -> Graded:
    people = int(inc.people or 0) if inc is not None else 0
    vulnerable = int(inc.vulnerable or 0) if inc is not None else 0
    priority = max(c.priority, float(inc.priority or 0.0) if inc is not None else 0.0)
    grade, score, weight, why = grade_of(
        c.late_min, people=people, vulnerable=vulnerable, on_scene=c.stage == "on_scene",
        priority=priority,
    )
    g = Graded(c, grade, score, weight, people, vulnerable, why=why)
    if ack is not None:
        g.acknowledged = GRADES.index(grade) <= GRADES.index(ack.grade)
        g.marked_by, g.marked_at = ack.actor, ack.at
    if esc is not None:  # an escalated row stays in sight, marked so
        g.escalated, g.acknowledged = True, False
        g.marked_by, g.marked_at = esc.actor, esc.at
    return g


def graded_overdue(session: Session, now: datetime) -> list[Graded]:
    """Every overdue task graded, worst first (grade, then score, then minutes late).

    Acknowledged rows are included with ``acknowledged`` set (the page folds them away); an
    escalated row has ``escalated`` set and stays in sight.
    """
    late = [c for c in task_clocks(session, now) if c.overdue]
    ids = sorted({c.incident_id for c in late if c.incident_id is not None})
    incidents = (
        {i.id: i for i in session.scalars(select(Incident).where(Incident.id.in_(ids)))}
        if ids else {}
    )
    acks, escs = _marks(session, [c.task_id for c in late])
    rows = [
        _grade_clock(c, incidents.get(c.incident_id or -1), acks.get((c.task_id, c.stage)),
                     escs.get((c.task_id, c.stage)))
        for c in late
    ]
    return sorted(
        rows, key=lambda g: (-GRADES.index(g.grade), -g.score, -g.clock.late_min, g.clock.task_id)
    )


def _graded_task(session: Session, task_id: int, now: datetime) -> Graded:
    get_row(session, Task, task_id, "task")
    for g in graded_overdue(session, now):
        if g.clock.task_id == task_id:
            return g
    msg = f"task {task_id} is not overdue at {now.isoformat()}: nothing to acknowledge"
    raise TransitionError(msg, code="not_overdue")


def _mark(
    session: Session, actor: User | Actor | str, task_id: int, action: str, now: datetime | None,
    note: str | None, escalated_to: str | None = None,
) -> OverdueMark:
    now = now or utcnow()
    who = actor_of(session, actor)
    name = f"overdue.{action}"
    require_dispatcher(session, who, name, f"task:{task_id}")
    g = _graded_task(session, task_id, now)
    text = (note or "").strip()[:MAX_REASON] or None
    mark = OverdueMark(task_id=task_id, stage=g.clock.stage, grade=g.grade, action=action,
                       actor=who.name, at=now, escalated_to=escalated_to, note=text)
    session.add(mark)
    session.flush()
    bump(session, "tasks")  # the overdue lists of the other dispatchers redraw
    audit(session, who.name, name, f"task:{task_id}", at=now, details={
        "stage": g.clock.stage, "grade": g.grade, "late_min": round(g.clock.late_min, 1),
        "score": round(g.score, 1), "escalated_to": escalated_to, "note": text,
    })
    return mark


def acknowledge(
    session: Session, actor: User | Actor | str, task_id: int, now: datetime | None = None,
    *, note: str | None = None,
) -> OverdueMark:
    """Record that a dispatcher has seen overdue task `task_id` at its current stage and grade.

    Its row folds away until the task reaches a worse grade or another stage.

    Raises
    ------
    PermissionDenied
        Not a dispatcher or admin (audited).
    NotFoundError
        No such task.
    TransitionError
        The task is not overdue (``code`` ``not_overdue``).
    """
    return _mark(session, actor, task_id, _ACK, now, note)


def escalate(
    session: Session, actor: User | Actor | str, task_id: int, now: datetime | None = None,
    *, note: str | None = None,
) -> OverdueMark:
    """Hand overdue task `task_id` to the duty chief (:data:`DUTY_CHIEF`); its row shows escalated.

    Raises
    ------
    PermissionDenied, NotFoundError, TransitionError
        As :func:`acknowledge`.
    """
    return _mark(session, actor, task_id, _ESC, now, note, escalated_to=DUTY_CHIEF)
