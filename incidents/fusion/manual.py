"""Corrections by hand: a dispatcher splits reports out of an incident or merges two (audited)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from geo.region import Region
from incidents.errors import IncidentEditError, NotFoundError
from incidents.fusion.conditions import (
    classify,
    live_alerts,
)
from incidents.fusion.incidents import rebuild_incident, refresh_incidents, report_rows
from incidents.fusion.summary import FusionSummary
from incidents.fusion.tasks import cancel_open_tasks, tasks_for_incident
from incidents.service.audit import audit
from incidents.store.models import (
    Incident,
    IncidentStatus,
)

__all__ = ['merge_incidents', 'split_incident']


def split_incident(
    session: Session,
    region: Region,
    actor: str,
    incident_id: int,
    report_ids: Sequence[int],
    now: datetime,
) -> Incident:
    """Move `report_ids` out of an incident into a new one (audited).

    Raises
    ------
    NotFoundError
        No such incident.
    IncidentEditError
        The reports are not all in the incident, or they are all of it (a ``ValueError``).
    """
    inc = session.get(Incident, incident_id)
    if inc is None:
        msg = f"no incident {incident_id!r}"
        raise NotFoundError(msg)
    moving = sorted({int(r) for r in report_ids})
    have = {int(r) for r in inc.report_ids or []}
    if not moving or not set(moving) <= have or set(moving) == have:
        msg = (
            f"reports {moving!r} must be a proper, non-empty part of incident {incident_id} "
            f"({sorted(have)})"
        )
        raise IncidentEditError(msg)
    rows = report_rows(session, moving)
    first = min(rows, key=lambda r: r["observed_at"])
    c = classify(str(first["kind"]), first["subtype"], first["attributes"])
    new = Incident(
        kind=c.incident or inc.kind,
        status=IncidentStatus.OPEN.value,
        first_report_at=first["observed_at"],
        last_report_at=first["observed_at"],
        report_ids=moving,
        merge_log=[
            {
                "report_ids": moving,
                "rule": "split",
                "from": inc.id,
                "by": actor,
                "at": now.isoformat(),
                "why": f"split from incident {inc.id} by {actor}",
            }
        ],
        version=1,
    )
    inc.report_ids = sorted(have - set(moving))
    inc.merge_log = [
        *(inc.merge_log or []),
        {
            "report_ids": moving,
            "rule": "split_out",
            "by": actor,
            "at": now.isoformat(),
            "why": f"reports moved to a new incident by {actor}",
        },
    ]
    inc.version += 1
    rebuild_incident(session, region, inc)
    rebuild_incident(session, region, new)
    session.add(new)
    session.flush()
    audit(
        session,
        actor,
        "incident.split",
        f"incident:{inc.id}",
        details={"new_incident": new.id, "report_ids": moving},
    )
    summary = FusionSummary()
    refresh_incidents(session, live_alerts(session, now), now, summary)
    cancel_open_tasks(
        session, incident_id=inc.id, now=now, keep=[s.kind for s in tasks_for_incident(inc)]
    )
    return new


def merge_incidents(
    session: Session, region: Region, actor: str, keep_id: int, other_id: int, now: datetime
) -> Incident:
    """Fold incident `other_id` into `keep_id` (audited); the other becomes ``merged``.

    The other incident's open (unassigned) tasks are cancelled; the kept incident gets any
    task it now needs.

    Raises
    ------
    NotFoundError
        No such incident.
    IncidentEditError
        The two are the same incident, or the other is not open (a ``ValueError``).
    """
    keep = session.get(Incident, keep_id)
    other = session.get(Incident, other_id)
    if keep is None or other is None:
        msg = f"no incident {keep_id if keep is None else other_id!r}"
        raise NotFoundError(msg)
    if keep.id == other.id or other.status != IncidentStatus.OPEN.value:
        msg = f"cannot merge incident {other_id} (status {other.status}) into {keep_id}"
        raise IncidentEditError(msg)
    moved = [int(r) for r in other.report_ids or []]
    keep.report_ids = sorted({*(int(r) for r in keep.report_ids or []), *moved})
    keep.merge_log = [
        *(keep.merge_log or []),
        {
            "report_ids": moved,
            "rule": "manual_merge",
            "from": other.id,
            "by": actor,
            "at": now.isoformat(),
            "why": f"incident {other.id} merged by {actor}",
        },
    ]
    keep.version += 1
    other.status = IncidentStatus.MERGED.value
    other.merged_into_id = keep.id
    other.resolved_at = now
    other.version += 1
    rebuild_incident(session, region, keep)
    cancel_open_tasks(session, incident_id=other.id, now=now)
    audit(
        session,
        actor,
        "incident.merge",
        f"incident:{keep.id}",
        details={"merged": other.id, "report_ids": moved},
    )
    refresh_incidents(session, live_alerts(session, now), now, FusionSummary())
    return keep
