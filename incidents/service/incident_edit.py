"""Merge and split incidents by hand, as a dispatcher: role-checked, audited, with a note.

The work is :mod:`incidents.fusion.manual`'s (:func:`~incidents.fusion.manual.merge_incidents`,
:func:`~incidents.fusion.manual.split_incident`: the merge log, the tasks, the
``incident.merge`` / ``incident.split`` audit events); this module adds who may (dispatchers
and admins; a patrol lead or a wall display is refused and the refusal audited) and keeps the
dispatcher's note in the merge-log entry the edit wrote, so the incident says why. The
signatures follow the other services (session, actor, ids, now; the region by keyword), so
:func:`incidents.service.actions.act` runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from incidents.fusion.manual import merge_incidents, split_incident
from incidents.service.roles import Actor, actor_of, require_dispatcher
from incidents.service.rows import MAX_REASON
from incidents.store.models import Incident, User, utcnow

__all__ = ["merge", "split"]


def _note(inc: Incident, note: str | None) -> None:
    """Add `note` to the newest merge-log entry of `inc` (a new list: the JSON column is saved)."""
    text = (note or "").strip()[:MAX_REASON]
    log = [dict(e) for e in (inc.merge_log or [])]
    if text and log:
        log[-1]["note"] = text
        inc.merge_log = log


def _edit(
    session: Session, actor: User | Actor | str, action: str, incident_id: int,
    note: str | None, run: Callable[[str], Incident],
) -> Incident:
    """Check the role, run the edit as the actor, keep the note; return the edited incident."""
    who = actor_of(session, actor)
    require_dispatcher(session, who, action, f"incident:{incident_id}")
    inc = run(who.name)
    _note(inc, note)
    session.flush()
    return inc


def merge(
    session: Session,
    actor: User | Actor | str,
    keep_id: int,
    other_id: int,
    now: datetime | None = None,
    *,
    region: Any,
    note: str | None = None,
) -> Incident:
    """Fold incident `other_id` into `keep_id` (the other becomes ``merged``).

    Raises
    ------
    PermissionDenied
        Not a dispatcher or admin (audited).
    NotFoundError
        No such incident.
    IncidentEditError
        The same incident twice, or the other is not open.
    """
    return _edit(session, actor, "incident.merge", keep_id, note,
                 lambda name: merge_incidents(session, region, name, keep_id, other_id,
                                              now or utcnow()))


def split(
    session: Session,
    actor: User | Actor | str,
    incident_id: int,
    report_ids: Sequence[int],
    now: datetime | None = None,
    *,
    region: Any,
    note: str | None = None,
) -> Incident:
    """Move `report_ids` out of incident `incident_id` into a new incident; return the new one.

    Raises
    ------
    PermissionDenied
        Not a dispatcher or admin (audited).
    NotFoundError
        No such incident.
    IncidentEditError
        The reports are not a proper, non-empty part of the incident.
    """
    return _edit(session, actor, "incident.split", incident_id, note,
                 lambda name: split_incident(session, region, name, incident_id, report_ids,
                                             now or utcnow()))
