"""Hazards people act on: a patrol lead's report, road chiefs (路长制) and rolling clearance.

:func:`report_hazard` turns a patrol lead's observation into a hazard the dispatcher sees (through
the live pipeline: stored as a report, fused at once). :func:`hand_to_road_chief` gives a hazard to
the road chief of its maintenance section, :func:`clear_hazard` closes it with who and when,
:func:`open_hazards_by_age` is the rolling clearance list (滚动式清零: a hazard stays on it until
cleared), oldest first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.errors import NotFoundError, TransitionError
from incidents.service.audit import audit
from incidents.service.roles import (
    Actor,
    actor_of,
    deny,
    require_dispatcher,
    require_hazard_owner,
    require_writer,
)
from incidents.service.rows import get_row, versioned_update
from incidents.store.models import (
    Hazard,
    HazardState,
    RoadChief,
    Role,
    Segment,
    SegmentCondition,
    Task,
    TaskStatus,
    User,
    utcnow,
)

__all__ = [
    "REPORTABLE",
    "clear_hazard",
    "hand_to_road_chief",
    "open_hazards_by_age",
    "report_hazard",
]

REPORTABLE = ("black_ice", "drifting_snow", "snow_packed", "poor_visibility", "closed")
"""Conditions a patrol lead may report."""
MAX_NOTE = 500


def _hazard(session: Session, hazard_id: int) -> Hazard:
    return get_row(session, Hazard, hazard_id, "hazard")


def _update_hazard(
    session: Session, h: Hazard, expected_version: int | None, **values: Any
) -> None:
    versioned_update(session, h, expected_version, "hazard", **values)


def _refuse_cleared(h: Hazard, doing: str) -> None:
    if h.state == HazardState.CLEARED.value:
        msg = (
            f"hazard {h.id} is already cleared (by {h.cleared_by!r} at {h.cleared_at}); "
            f"nothing to {doing}"
        )
        raise TransitionError(msg)


def _section_of(session: Session, h: Hazard) -> str | None:
    if h.section_id:
        return h.section_id
    if h.segment_id:
        seg = session.get(Segment, h.segment_id)
        if seg is not None:
            return seg.section_id
    return None


def hand_to_road_chief(
    session: Session,
    actor: User | Actor | str,
    hazard_id: int,
    now: datetime | None = None,
    expected_version: int | None = None,
) -> Hazard:
    """Hand a hazard to the road chief of its maintenance section (路长制) and record it.

    Raises
    ------
    NotFoundError
        No such hazard, or its section has no road chief.
    TransitionError
        The hazard is already cleared.
    ConflictError
        Someone changed the hazard since `expected_version`.
    """
    now = now or utcnow()
    who = actor_of(session, actor)
    require_dispatcher(session, who, "hazard.hand_over", f"hazard:{hazard_id}")
    h = _hazard(session, hazard_id)
    _refuse_cleared(h, "hand over")
    section = _section_of(session, h)
    chief = (
        session.scalars(select(RoadChief).where(RoadChief.section_id == section)).first()
        if section
        else None
    )
    if chief is None:
        msg = (
            f"hazard {hazard_id} (segment {h.segment_id!r}, section {section!r}) has no road chief"
        )
        raise NotFoundError(msg)
    _update_hazard(
        session,
        h,
        expected_version,
        state=HazardState.HANDED_OVER.value,
        handed_at=now,
        road_chief_id=chief.id,
        section_id=section,
    )
    audit(
        session,
        who.name,
        "hazard.hand_over",
        f"hazard:{hazard_id}",
        details={"road_chief_id": chief.id, "road_chief": chief.name, "section_id": section},
        at=now,
    )
    return h


def clear_hazard(
    session: Session,
    actor: User | Actor | str,
    hazard_id: int,
    now: datetime | None = None,
    expected_version: int | None = None,
) -> Hazard:
    """Mark a hazard cleared (who and when); its segment condition rows close, its tasks end.

    A patrol lead clears only a hazard on their own task or section
    (:func:`incidents.service.roles.require_hazard_owner`).

    Raises
    ------
    PermissionDenied
        A wall display, or a patrol lead and a hazard not theirs (``code`` ``not_own_hazard``;
        audited).
    TransitionError
        The hazard is already cleared.
    ConflictError
        Someone changed the hazard since `expected_version`.
    """
    now = now or utcnow()
    who = actor_of(session, actor)
    require_writer(session, who, "hazard.clear", f"hazard:{hazard_id}")
    h = _hazard(session, hazard_id)
    require_hazard_owner(session, who, h, "hazard.clear")
    _refuse_cleared(h, "clear")
    _update_hazard(
        session,
        h,
        expected_version,
        state=HazardState.CLEARED.value,
        cleared_at=now,
        cleared_by=who.name,
    )
    if h.segment_id:
        for c in session.scalars(
            select(SegmentCondition).where(
                SegmentCondition.segment_id == h.segment_id,
                SegmentCondition.condition == h.condition,
                SegmentCondition.valid_to.is_(None),
            )
        ):
            c.valid_to = now
            c.cleared_by = who.name
    for t in session.scalars(
        select(Task).where(Task.hazard_id == h.id, Task.status == TaskStatus.OPEN.value)
    ):
        t.status = TaskStatus.CANCELLED.value
        t.closed_at = now
        t.version += 1
    session.flush()
    audit(
        session,
        who.name,
        "hazard.cleared",
        f"hazard:{hazard_id}",
        details={"segment_id": h.segment_id, "condition": h.condition},
        at=now,
    )
    return h


def open_hazards_by_age(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Hazards not yet cleared, oldest first, with age and road chief (rolling clearance)."""
    chiefs = {c.id: c for c in session.scalars(select(RoadChief))}
    rows = []
    for h in session.scalars(
        select(Hazard)
        .where(Hazard.state != HazardState.CLEARED.value)
        .order_by(Hazard.first_seen, Hazard.id)
    ):
        chief = chiefs.get(h.road_chief_id or "")
        rows.append(
            {
                "hazard_id": h.id,
                "condition": h.condition,
                "state": h.state,
                "road_code": h.road_code,
                "km": h.km,
                "segment_id": h.segment_id,
                "section_id": h.section_id,
                "first_seen": h.first_seen,
                "age_h": round((now - h.first_seen).total_seconds() / 3600.0, 2),
                "handed_at": h.handed_at,
                "road_chief_id": h.road_chief_id,
                "road_chief": chief.name if chief else None,
                "road_chief_phone": chief.phone if chief else None,
                "version": h.version,
            }
        )
    return rows


# ------------------------------------------------------------------------------------------
# A patrol lead's hazard report
# ------------------------------------------------------------------------------------------


def _report_refusal(who: Actor) -> str | None:
    """Why `who` may not report a hazard, or None (patrol lead of a unit, dispatcher, admin)."""
    if who.role == Role.PATROL_LEAD.value:
        return None if who.unit_id else f"patrol lead {who.name!r} leads no unit"
    if who.role in (Role.DISPATCHER.value, Role.ADMIN.value):
        return None
    return f"{who.name!r} ({who.role}) may not report hazards"


def _check_report(lon: float, lat: float, condition: str) -> None:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        msg = f"coordinates out of range: {lon}, {lat}"
        raise ValueError(msg)
    if condition not in REPORTABLE:
        msg = f"unknown hazard condition {condition!r}; choose one of {list(REPORTABLE)}"
        raise ValueError(msg)


def report_hazard(
    factory: Callable[[], Session],
    region: Any,
    settings: Any,
    user: User | Actor | str,
    *,
    lon: float,
    lat: float,
    condition: str,
    note: str = "",
    at: datetime | None = None,
) -> int:
    """Report a hazard where a patrol lead (or a dispatcher/admin) stands.

    The report goes through the live pipeline
    (:func:`incidents.live.pipeline.report_patrol_hazard`): stored as a ``patrol`` report and
    fused at once, so the dispatcher's map shows the hazard. Audited as ``hazard.report`` (by
    the pipeline; a refusal here, outcome ``denied``).

    Parameters
    ----------
    factory
        Session factory (each step commits its own transaction).
    region, settings
        The loaded region and the settings, handed to the pipeline.
    user
        Who reports; a patrol lead reports for their own unit.
    lon, lat
        WGS84 position.
    condition
        One of :data:`REPORTABLE`.
    note
        Free text (cut to 500 characters; escape it before display).
    at
        When; the operational clock (demo storm or wall clock) when None.

    Returns
    -------
    int
        The stored report's id.

    Raises
    ------
    PermissionDenied
        A wall display, or a patrol lead without a unit (audited).
    ValueError
        Coordinates out of range, or an unknown condition.
    """
    _check_report(lon, lat, condition)
    with factory() as session:
        who = actor_of(session, user)
        why = _report_refusal(who)
        if why is not None:
            error = deny(session, who, "hazard.report", "hazard:new", why)
            session.commit()  # the refusal stays in the audit log
            raise error
    from incidents.live.pipeline import report_patrol_hazard  # the pipeline imports services

    report_id = report_patrol_hazard(
        factory,  # type: ignore[arg-type]
        region,
        settings,
        unit_id=who.unit_id,
        lon=round(lon, 6),
        lat=round(lat, 6),
        condition=condition,
        note=note[:MAX_NOTE],
        at=at,
        actor=who.name,
    )  # the pipeline audits the report (hazard.report) in its transaction
    return int(report_id)
