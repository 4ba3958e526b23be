"""Service layer: races, permissions, stage timers, road-chief hand-over and clearance."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from shapely.geometry import LineString, Point
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from incidents.errors import ConflictError, NotFoundError, PermissionDenied, TransitionError
from incidents.service.actions import (
    act,
    cancel,
    clear_hazard,
    confirm,
    hand_to_road_chief,
    open_hazards_by_age,
    overdue_tasks,
    override,
    reassign,
    set_status,
    task_clocks,
)
from incidents.service.users import create_user
from incidents.store.engine import session_scope
from incidents.store.models import (
    Assignment,
    AuditEvent,
    Hazard,
    Incident,
    RoadChief,
    Segment,
    SegmentCondition,
    Task,
    Unit,
)
from tests.test_dispatch import NOW, add_task, add_unit


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> dict[str, int]:
    """Two units, two tasks, a dispatcher and a patrol lead bound to U1."""
    with session_scope(session_factory) as s:
        add_unit(s, "U1", 10)
        add_unit(s, "U2", 40)
        t1 = add_task(s, 12, 50.0, NOW - timedelta(minutes=30), capability="rescue")
        t2 = add_task(s, 30, 80.0, NOW - timedelta(minutes=2))
        create_user(s, "disp", "correct-horse-1", "dispatcher")
        create_user(s, "lead1", "correct-horse-2", "patrol_lead", unit_id="U1")
        return {"t1": t1.id, "t2": t2.id}


def _audits(factory: sessionmaker[Session], action: str | None = None) -> list[AuditEvent]:
    with session_scope(factory) as s:
        q = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            q = q.where(AuditEvent.action == action)
        return list(s.scalars(q))


def test_race_two_dispatchers_one_unit_one_winner(
    session_factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    barrier = threading.Barrier(2)
    results: list[str] = []

    def go(task_id: int) -> None:
        barrier.wait()
        try:
            act(session_factory, confirm, "disp", task_id, "U2", now=NOW)
            results.append("won")
        except ConflictError as e:
            results.append(f"conflict: {e}")

    threads = [threading.Thread(target=go, args=(world[k],)) for k in ("t1", "t2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r[:4] for r in results) == ["conf", "won"]
    assert "U2" in next(r for r in results if r.startswith("conflict"))
    with session_scope(session_factory) as s:
        assert len(s.scalars(select(Assignment)).all()) == 1
        assert s.get(Unit, "U2").status == "assigned"  # type: ignore[union-attr]
    refusals = [a for a in _audits(session_factory) if a.outcome == "conflict"]
    assert len(refusals) == 1 and refusals[0].actor == "disp"


def test_status_flow_resolves_the_incident_and_stale_versions_conflict(
    session_factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    with session_scope(session_factory) as s:
        a = confirm(s, "disp", world["t2"], "U1", now=NOW)
        aid, v = a.id, a.version
    with session_scope(session_factory) as s:
        set_status(s, "lead1", aid, "en_route", v, now=NOW + timedelta(minutes=1))
    with pytest.raises(ConflictError, match="version"):
        with session_scope(session_factory) as s:
            set_status(s, "lead1", aid, "on_scene", v, now=NOW + timedelta(minutes=5))
    with session_scope(session_factory) as s:
        a2 = s.get(Assignment, aid)
        assert a2 is not None
        set_status(s, "lead1", aid, "on_scene", a2.version, now=NOW + timedelta(minutes=12))
        set_status(s, "lead1", aid, "cleared", a2.version, now=NOW + timedelta(minutes=70))
    with session_scope(session_factory) as s:
        t = s.get(Task, world["t2"])
        assert t is not None and t.status == "done"
        inc = s.get(Incident, t.incident_id)
        assert inc is not None and inc.status == "resolved"
        assert s.get(Unit, "U1").status == "available"  # type: ignore[union-attr]
        with pytest.raises(TransitionError):
            set_status(s, "disp", aid, "confirmed", None)


def test_patrol_lead_acts_only_on_their_own_unit(
    session_factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    with pytest.raises(PermissionDenied, match="U2"):
        act(session_factory, confirm, "lead1", world["t1"], "U2", now=NOW)
    with session_scope(session_factory) as s:
        a = confirm(s, "disp", world["t2"], "U2", now=NOW)
        aid, v = a.id, a.version
    with pytest.raises(PermissionDenied):
        act(session_factory, set_status, "lead1", aid, "en_route", v)
    with pytest.raises(PermissionDenied):
        act(session_factory, reassign, "lead1", aid, "U1", v)
    denied = [e for e in _audits(session_factory) if e.outcome == "denied"]
    assert len(denied) == 3 and {e.actor for e in denied} == {"lead1"}
    # nothing changed
    with session_scope(session_factory) as s:
        assert s.get(Assignment, aid).state == "confirmed"  # type: ignore[union-attr]
    # their own unit is fine
    act(session_factory, confirm, "lead1", world["t1"], "U1", now=NOW)


def test_override_reassign_cancel_are_audited(
    session_factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    with session_scope(session_factory) as s:
        a = override(
            s, "disp", world["t2"], "U2", now=NOW, recommended_unit_id="U1", reason="U1 iced in"
        )
        aid, v = a.id, a.version
    with session_scope(session_factory) as s:
        new = reassign(s, "disp", aid, "U1", v, now=NOW + timedelta(minutes=3), reason="closer")
        new_id, new_v = new.id, new.version
    with session_scope(session_factory) as s:
        assert s.get(Assignment, aid).state == "reassigned"  # type: ignore[union-attr]
        assert s.get(Unit, "U2").status == "available"  # type: ignore[union-attr]
        assert s.get(Unit, "U1").status == "assigned"  # type: ignore[union-attr]
        cancel(s, "disp", new_id, new_v, now=NOW + timedelta(minutes=4), reason="resolved")
    with session_scope(session_factory) as s:
        assert s.get(Task, world["t2"]).status == "open"  # type: ignore[union-attr]
    actions = [e.action for e in _audits(session_factory)]
    for needed in (
        "assignment.override",
        "assignment.reassigned",
        "assignment.cancelled",
    ):
        assert needed in actions
    ov = _audits(session_factory, "assignment.override")[0]
    assert ov.details["recommended_unit_id"] == "U1" and ov.details["reason"] == "U1 iced in"


def test_overdue_by_task_kind_and_stage(
    session_factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    with session_scope(session_factory) as s:
        late = overdue_tasks(s, NOW)
        # the rescue task has waited 30 min (limit 10); the other only 2 min (limit 15)
        assert [c.task_id for c in late] == [world["t1"]]
        assert late[0].stage == "open" and late[0].late_min == pytest.approx(20)
        a = confirm(s, "disp", world["t2"], "U2", now=NOW, eta_s=3600)
        set_status(s, "disp", a.id, "en_route", a.version, now=NOW + timedelta(minutes=1))
    with session_scope(session_factory) as s:
        # en route 80 min: limit is max(60, 1.5 x 60 min ETA) = 90 -> on time
        clocks = {c.task_id: c for c in task_clocks(s, NOW + timedelta(minutes=81))}
        assert clocks[world["t2"]].stage == "en_route" and not clocks[world["t2"]].overdue
        clocks = {c.task_id: c for c in task_clocks(s, NOW + timedelta(minutes=95))}
        assert clocks[world["t2"]].overdue and clocks[world["t2"]].limit_min == 90


def _hazard(s: Session, segment: str, first_seen_min: int, section: str | None = None) -> int:
    h = Hazard(
        segment_id=segment,
        condition="black_ice",
        geometry=Point(116.1, 44.0),
        first_seen=NOW - timedelta(minutes=first_seen_min),
        last_seen=NOW,
        section_id=section,
    )
    s.add(h)
    s.flush()
    return h.id


def test_hand_over_to_road_chief_and_clear(
    session_factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    with session_scope(session_factory) as s:
        s.add(RoadChief(id="RC9", name="路长甲", phone="0479-1", section_id="G999-01"))
        s.add(
            Segment(
                id="G999:5.0",
                road_code="G999",
                km_from=5,
                km_to=6,
                section_id="G999-01",
                geometry=LineString([(116.0, 44.0), (116.01, 44.0)]),
            )
        )
        s.add(
            SegmentCondition(
                segment_id="G999:5.0",
                condition="black_ice",
                observed=True,
                confidence=0.9,
                source="drone",
                valid_from=NOW - timedelta(hours=1),
            )
        )
        old = _hazard(s, "G999:5.0", 180)
        new = _hazard(s, "X1:1.0", 20, section="NOWHERE")
    with session_scope(session_factory) as s:
        order = [r["hazard_id"] for r in open_hazards_by_age(s, NOW)]
        assert order == [old, new]
        h = hand_to_road_chief(s, "disp", old, now=NOW)
        assert h.state == "handed_over" and h.road_chief_id == "RC9"
        with pytest.raises(NotFoundError, match="no road chief"):
            hand_to_road_chief(s, "disp", new, now=NOW)
    with pytest.raises(PermissionDenied):
        act(session_factory, hand_to_road_chief, "lead1", old)
    with pytest.raises(ConflictError):
        with session_scope(session_factory) as s:
            clear_hazard(s, "lead1", old, now=NOW, expected_version=1)
    with session_scope(session_factory) as s:
        listed = open_hazards_by_age(s, NOW)[0]
        assert listed["road_chief"] == "路长甲" and listed["age_h"] == 3.0
        h = clear_hazard(s, "lead1", old, now=NOW + timedelta(minutes=40), expected_version=2)
        assert h.cleared_by == "lead1" and h.cleared_at == NOW + timedelta(minutes=40)
    with session_scope(session_factory) as s:
        assert [r["hazard_id"] for r in open_hazards_by_age(s, NOW)] == [new]
        cond = s.scalars(select(SegmentCondition)).one()
        assert cond.valid_to is not None and cond.cleared_by == "lead1"
        with pytest.raises(TransitionError, match="already cleared"):
            clear_hazard(s, "disp", old)
    actions = [e.action for e in _audits(session_factory) if e.outcome == "ok"]
    assert "hazard.hand_over" in actions and "hazard.cleared" in actions
