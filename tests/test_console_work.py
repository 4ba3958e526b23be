"""Dispatcher workflows (issue 12), on SQLite and PostGIS: override needs a reason, overdue
graded with acknowledge / escalate, merge and split as a dispatcher, override candidates with
class and ETA, merge reasons on the incident."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from incidents import console_reads
from incidents.errors import NotFoundError, PermissionDenied, TransitionError
from incidents.fusion import fuse
from incidents.service import incident_edit, overdue
from incidents.service.actions import act, override
from incidents.service.users import create_user
from incidents.store.engine import session_scope
from incidents.store.models import (
    Assignment,
    AuditEvent,
    Incident,
    OverdueMark,
)
from tests.fusion_region import NOW as FNOW
from tests.fusion_region import at, report, tiny_region
from tests.test_dispatch import NOW, add_task, add_unit
from tests.test_dispatch import tiny as tiny  # noqa: F401 - the fixture


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> dict[str, int]:
    """Units U1 (km 10), U2 (km 40), U3 (km 50, plow only); a rescue task with people waiting
    30 min, a traffic task 2 min old; a dispatcher, a patrol lead of U1, a wall display."""
    with session_scope(session_factory) as s:
        add_unit(s, "U1", 10, caps=("traffic_control", "rescue"))
        add_unit(s, "U2", 40, caps=("traffic_control", "rescue"))
        add_unit(s, "U3", 50, caps=("plow",), vclass="plow")
        t1 = add_task(s, 12, 50.0, NOW - timedelta(minutes=30), capability="rescue", people=4)
        t2 = add_task(s, 30, 80.0, NOW - timedelta(minutes=2))
        create_user(s, "disp", "correct-horse-1", "dispatcher")
        create_user(s, "lead1", "correct-horse-2", "patrol_lead", unit_id="U1")
        create_user(s, "wall1", "correct-horse-3", "wall")
        return {"t1": t1.id, "t2": t2.id}


def _audits(factory: sessionmaker[Session], action: str) -> list[AuditEvent]:
    with session_scope(factory) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)))


# ------------------------------------------------------------------------------------------
# override: a reason is required and kept
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_override_without_a_reason_is_refused_with_a_code_and_audited(
    session_factory: sessionmaker[Session], world: dict[str, int], reason: str | None
) -> None:
    with pytest.raises(TransitionError) as caught:
        act(session_factory, override, "disp", world["t2"], "U2", now=NOW,
            recommended_unit_id="U1", reason=reason)
    assert caught.value.code == "reason_required"
    with session_scope(session_factory) as s:
        assert s.scalars(select(Assignment)).all() == [], "nothing was sent"
    refusal = _audits(session_factory, "service.override")[-1]
    assert refusal.outcome == "error" and refusal.details["code"] == "reason_required"


def test_override_keeps_the_reason_in_the_audit_and_the_assignment(
    session_factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    a = act(session_factory, override, "disp", world["t2"], "U2", now=NOW,
            recommended_unit_id="U1", reason="  U1 is iced in at K12  ")
    with session_scope(session_factory) as s:
        sent = s.get(Assignment, a.id)
        assert sent is not None and sent.state == "confirmed"
        assert sent.explanation["reason"] == "U1 is iced in at K12"
    ev = _audits(session_factory, "assignment.override")[-1]
    assert ev.details["reason"] == "U1 is iced in at K12"
    assert ev.details["recommended_unit_id"] == "U1" and ev.actor == "disp"


def test_a_patrol_lead_may_not_override(
    session_factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    with pytest.raises(PermissionDenied):
        act(session_factory, override, "lead1", world["t2"], "U1", now=NOW,
            recommended_unit_id="U2", reason="mine")
    assert _audits(session_factory, "service.override")[-1].outcome == "denied"
    assert _audits(session_factory, "assignment.override") == []


def test_override_candidates_carry_class_eta_and_who_is_held_elsewhere(
    session_factory: sessionmaker[Session], world: dict[str, int], tiny  # noqa: F811
) -> None:
    with session_scope(session_factory) as s:  # U2 is recommended for the other task
        s.add(Assignment(unit_id="U2", task_id=world["t2"], state="recommended", eta_s=600.0))
    with session_factory() as s:
        frame = console_reads.override_candidates(s, tiny, world["t1"], "U1")
    assert list(frame["unit_id"]) == ["U2"], "U3 (plow) lacks the capability; U1 recommended"
    row = frame.iloc[0]
    assert row["vehicle_class"] == "patrol_car" and row["capable"]
    assert row["recommended_for"] == world["t2"] and row["selectable"], "marked, still offered"
    assert 25 * 60 < row["eta_s"] < 40 * 60, "28 km at 60 km/h on the tiny road"
    with session_factory() as s:
        free = console_reads.override_candidates(s, tiny, world["t2"], "U1")
    assert list(free["unit_id"]) == ["U2"] and bool(free.iloc[0]["selectable"])
    act(session_factory, override, "disp", world["t2"], "U2", now=NOW,
        recommended_unit_id="U1", reason="nearer to the queue")
    with session_factory() as s:
        busy = console_reads.override_candidates(s, tiny, world["t1"], "U1")
    assert busy.iloc[0]["busy"] and not busy.iloc[0]["selectable"], "U2 is out on task 2"


# ------------------------------------------------------------------------------------------
# overdue: graded, acknowledged, escalated
# ------------------------------------------------------------------------------------------


def test_grades_by_minutes_late_and_how_bad() -> None:
    assert overdue.grade_of(20)[0] == "watch"  # a plough 20 min late
    assert overdue.grade_of(20, people=3)[0] == "late"  # people waiting in the cold
    assert overdue.grade_of(20, people=3, vulnerable=1)[0] == "late"
    assert overdue.grade_of(40, people=3, vulnerable=1)[0] == "critical"
    assert overdue.grade_of(40, people=3, on_scene=True)[0] == "late"  # 40 x 1: help is there
    assert overdue.grade_of(100)[0] == "critical"
    grade, score, weight, why = overdue.grade_of(10, people=2, priority=150)
    assert (grade, score, weight, why) == ("late", 30.0, 3, ["cold", "priority"])


def test_overdue_is_graded_worst_first(
    session_factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    later = NOW + timedelta(minutes=25)  # t1 open 55 min (limit 10, 4 people), t2 27 (limit 15)
    with session_factory() as s:
        rows = overdue.graded_overdue(s, later)
    assert [g.clock.task_id for g in rows] == [world["t1"], world["t2"]]
    assert [g.grade for g in rows] == ["critical", "watch"]
    assert rows[0].why == ["cold"] and rows[0].people == 4


def test_acknowledge_folds_until_worse_and_escalate_stays_marked(
    session_factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    t2 = world["t2"]
    first = NOW + timedelta(minutes=20)  # t2: 7 min late -> watch
    act(session_factory, overdue.acknowledge, "disp", t2, first, note="seen, calling U2")
    with session_factory() as s:
        g = next(x for x in overdue.graded_overdue(s, first) if x.clock.task_id == t2)
    assert g.acknowledged and g.marked_by == "disp" and g.grade == "watch"
    worse = NOW + timedelta(minutes=120)  # 103 min late -> critical: back in sight
    with session_factory() as s:
        g = next(x for x in overdue.graded_overdue(s, worse) if x.clock.task_id == t2)
    assert g.grade == "critical" and not g.acknowledged
    act(session_factory, overdue.escalate, "disp", t2, worse)
    with session_factory() as s:
        g = next(x for x in overdue.graded_overdue(s, worse) if x.clock.task_id == t2)
        marks = s.scalars(select(OverdueMark).order_by(OverdueMark.id)).all()
    assert g.escalated and not g.acknowledged
    assert [(m.action, m.grade, m.escalated_to) for m in marks] == [
        ("acknowledged", "watch", None), ("escalated", "critical", "duty_chief")]
    ack = _audits(session_factory, "overdue.acknowledged")[-1]
    assert ack.details["note"] == "seen, calling U2" and ack.details["grade"] == "watch"
    esc = _audits(session_factory, "overdue.escalated")[-1]
    assert esc.details["escalated_to"] == "duty_chief" and esc.actor == "disp"


def test_overdue_marks_are_refused_to_others_and_for_tasks_on_time(
    session_factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    for who in ("lead1", "wall1"):
        with pytest.raises(PermissionDenied):
            act(session_factory, overdue.escalate, who, world["t1"], NOW)
    refused = _audits(session_factory, "service.escalate")
    assert {e.actor for e in refused} == {"lead1", "wall1"}
    assert all(e.outcome == "denied" for e in refused)
    with pytest.raises(TransitionError) as caught:  # t2 is 2 min old: not overdue
        act(session_factory, overdue.acknowledge, "disp", world["t2"], NOW)
    assert caught.value.code == "not_overdue"
    with pytest.raises(NotFoundError):
        act(session_factory, overdue.acknowledge, "disp", 999_999, NOW)
    with session_factory() as s:
        assert s.scalars(select(OverdueMark)).all() == []


# ------------------------------------------------------------------------------------------
# merge reasons, merge and split as a dispatcher
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fregion(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return tiny_region(tmp_path_factory.mktemp("fregion"))


def _two_calls_fused(factory: sessionmaker[Session], region, settings) -> int:  # type: ignore[no-untyped-def]
    def call(point, minutes_ago):  # type: ignore[no-untyped-def]
        attrs = {"vehicles": 20, "people": 40, "vulnerable": 0,
                 "location_method": "coordinates"}
        return report("call", "stranded_vehicle", point, minutes_ago, attributes=attrs)

    with session_scope(factory) as s:
        s.add(call(at(region, "Y001", 5.0), 60))
        s.add(call(at(region, "Y001", 5.5), 50))
        create_user(s, "disp", "correct-horse-1", "dispatcher")
        create_user(s, "wall", "correct-horse-2", "wall")
    with session_scope(factory) as s:
        fuse(s, region, settings, FNOW)
    with factory() as s:
        return int(s.scalars(select(Incident.id)).one())


def test_merge_reasons_split_and_merge_by_a_dispatcher(
    session_factory: sessionmaker[Session], settings, fregion  # type: ignore[no-untyped-def]
) -> None:
    inc_id = _two_calls_fused(session_factory, fregion, settings)
    with session_factory() as s:
        detail = console_reads.incident_detail(s, inc_id)
    assert detail is not None
    rules = [e["rule"] for e in detail["merge_log"]]
    assert rules == ["new", "along_road"], "the stored reasons are read back"
    assert detail["merge_log"][1]["distance_m"] > 0 and len(detail["reports"]) == 2
    second = detail["report_ids"][1]
    with pytest.raises(PermissionDenied):
        act(session_factory, incident_edit.split, "wall", inc_id, [second], FNOW,
            region=fregion)
    new = act(session_factory, incident_edit.split, "disp", inc_id, [second], FNOW,
              region=fregion, note="two groups, 500 m apart")
    with session_factory() as s:
        split_detail = console_reads.incident_detail(s, new.id)
        partners = console_reads.merge_partners(s, inc_id)
    assert split_detail is not None
    assert split_detail["merge_log"][0]["rule"] == "split"
    assert split_detail["merge_log"][0]["note"] == "two groups, 500 m apart"
    assert list(partners["id"]) == [new.id]
    act(session_factory, incident_edit.merge, "disp", inc_id, new.id, FNOW, region=fregion,
        note="same group after all")
    with session_factory() as s:
        kept = console_reads.incident_detail(s, inc_id)
        gone = s.get(Incident, new.id)
        assert gone is not None and gone.status == "merged"
    assert kept is not None and kept["merged_from"] == [new.id]
    assert kept["merge_log"][-1]["rule"] == "manual_merge"
    assert kept["merge_log"][-1]["note"] == "same group after all"
    with session_factory() as s:
        actions = [(e.action, e.actor, e.outcome) for e in
                   s.scalars(select(AuditEvent).order_by(AuditEvent.id))
                   if e.action.startswith(("incident.", "service.split"))]
    assert ("service.split", "wall", "denied") in actions
    assert ("incident.split", "disp", "ok") in actions
    assert ("incident.merge", "disp", "ok") in actions

