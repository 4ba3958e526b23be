"""Assignment lifecycle: transition table, stamps, versions, unit/task status, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from shapely.geometry import Point
from sqlalchemy import select

from incidents.errors import ConflictError, NotFoundError, TransitionError
from incidents.service.lifecycle import (
    STAMP_COLUMN,
    TRANSITIONS,
    can_transition,
    confirm_assignment,
    transition,
)
from incidents.store.engine import session_scope
from incidents.store.models import Assignment, AssignmentState, AuditEvent, Task, Unit

S = AssignmentState
T0 = datetime(2025, 12, 14, 2, 0, tzinfo=UTC)


def _seed(session_factory, units=("U1",), tasks=1):
    with session_scope(session_factory) as s:
        for uid in units:
            s.add(Unit(id=uid, name=uid, vehicle_class="plow", capabilities=["plow"],
                       geometry=Point(116.0, 43.9)))
        s.flush()
        ids = []
        for _ in range(tasks):
            t = Task(kind="plow", capability="plow", priority=1.0, created_at=T0)
            s.add(t)
            s.flush()
            ids.append(t.id)
    return ids


def _status(session_factory, unit_id, task_id):
    with session_scope(session_factory) as s:
        return s.get(Unit, unit_id).status, s.get(Task, task_id).status


def test_table_matches_the_design():
    assert TRANSITIONS[S.RECOMMENDED] == {S.CONFIRMED, S.CANCELLED}
    assert TRANSITIONS[S.CONFIRMED] == {S.EN_ROUTE, S.CANCELLED, S.REASSIGNED}
    assert TRANSITIONS[S.EN_ROUTE] == {S.ON_SCENE, S.CANCELLED, S.REASSIGNED}
    assert TRANSITIONS[S.ON_SCENE] == {S.CLEARED, S.CANCELLED}
    for final in (S.CLEARED, S.CANCELLED, S.REASSIGNED):
        assert TRANSITIONS[final] == frozenset()
    assert set(STAMP_COLUMN) == set(AssignmentState)
    assert not can_transition("recommended", "on_scene")


def test_full_happy_path_stamps_and_keeps_status_in_step(session_factory):
    (task_id,) = _seed(session_factory)
    with session_scope(session_factory) as s:
        a = confirm_assignment(s, "disp1", task_id, "U1", now=T0, eta_s=900.0)
        aid = a.id
        assert a.state == "confirmed" and a.confirmed_by == "disp1" and a.confirmed_at == T0
    assert _status(session_factory, "U1", task_id) == ("assigned", "assigned")
    steps = [(S.EN_ROUTE, "en_route", "assigned"), (S.ON_SCENE, "on_scene", "assigned"),
             (S.CLEARED, "available", "done")]
    for i, (state, unit_status, task_status) in enumerate(steps, start=1):
        with session_scope(session_factory) as s:
            a = s.get(Assignment, aid)
            v = a.version
            transition(s, a, state, "lead1", now=T0 + timedelta(minutes=10 * i))
            assert a.version == v + 1
            assert getattr(a, STAMP_COLUMN[state]) == T0 + timedelta(minutes=10 * i)
        assert _status(session_factory, "U1", task_id) == (unit_status, task_status)
    with session_scope(session_factory) as s:
        task = s.get(Task, task_id)
        assert task.closed_at == T0 + timedelta(minutes=30)
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == [
        "assignment.confirmed", "assignment.en_route", "assignment.on_scene", "assignment.cleared"
    ]
    assert events[1].details["from"] == "confirmed" and events[1].actor == "lead1"


def test_illegal_transition_names_both_states(session_factory):
    (task_id,) = _seed(session_factory)
    with session_scope(session_factory) as s:
        a = confirm_assignment(s, "disp1", task_id, "U1", now=T0)
        with pytest.raises(TransitionError, match="'confirmed'.*'cleared'"):
            transition(s, a, "cleared", "disp1")
        with pytest.raises(TransitionError, match="'teleported'"):
            transition(s, a, "teleported", "disp1")
        assert a.state == "confirmed"


def test_cancel_frees_unit_and_reopens_task(session_factory):
    (task_id,) = _seed(session_factory)
    with session_scope(session_factory) as s:
        a = confirm_assignment(s, "disp1", task_id, "U1", now=T0)
        transition(s, a, "en_route", "lead1", now=T0)
        transition(s, a, "cancelled", "disp1", now=T0 + timedelta(minutes=5))
        assert a.cancelled_at == T0 + timedelta(minutes=5)
    assert _status(session_factory, "U1", task_id) == ("available", "open")


def test_reassign_closes_assignment_so_another_unit_can_take_the_task(session_factory):
    (task_id,) = _seed(session_factory, units=("U1", "U2"))
    with session_scope(session_factory) as s:
        a = confirm_assignment(s, "disp1", task_id, "U1", now=T0)
        transition(s, a, "reassigned", "disp1", now=T0)
        b = confirm_assignment(s, "disp1", task_id, "U2", now=T0)
        assert b.id != a.id and a.state == "reassigned" and a.reassigned_at == T0
    with session_scope(session_factory) as s:
        assert s.get(Unit, "U1").status == "available"
        assert s.get(Unit, "U2").status == "assigned"
        assert s.get(Task, task_id).status == "assigned"


def test_recommended_assignment_is_confirmed_in_place(session_factory):
    (task_id,) = _seed(session_factory)
    with session_scope(session_factory) as s:
        rec = Assignment(unit_id="U1", task_id=task_id, state="recommended", recommended_at=T0)
        s.add(rec)
        s.flush()
        rid = rec.id
    with session_scope(session_factory) as s:
        a = confirm_assignment(s, "disp1", task_id, "U1", now=T0 + timedelta(minutes=1))
        assert a.id == rid and a.state == "confirmed" and a.version == 2
    assert _status(session_factory, "U1", task_id) == ("assigned", "assigned")


def test_cancelling_a_recommendation_leaves_unit_and_task_alone(session_factory):
    (task_id,) = _seed(session_factory)
    with session_scope(session_factory) as s:
        rec = Assignment(unit_id="U1", task_id=task_id, state="recommended", recommended_at=T0)
        s.add(rec)
        s.flush()
        transition(s, rec, "cancelled", "disp1", now=T0)
    assert _status(session_factory, "U1", task_id) == ("available", "open")


def test_stale_version_is_a_conflict(session_factory):
    (task_id,) = _seed(session_factory)
    with session_scope(session_factory) as s:
        a = confirm_assignment(s, "disp1", task_id, "U1", now=T0)
        aid, seen = a.id, a.version
    with session_scope(session_factory) as s:  # someone else moves it first
        transition(s, s.get(Assignment, aid), "en_route", "lead1", expected_version=seen)
    with pytest.raises(ConflictError, match=f"assignment {aid} changed meanwhile"):
        with session_scope(session_factory) as s:
            transition(s, s.get(Assignment, aid), "cancelled", "disp2", expected_version=seen)
    with session_scope(session_factory) as s:
        assert s.get(Assignment, aid).state == "en_route"


def test_busy_unit_and_missing_things(session_factory):
    t1, t2 = _seed(session_factory, tasks=2)
    with session_scope(session_factory) as s:
        confirm_assignment(s, "disp1", t1, "U1", now=T0)
    with pytest.raises(ConflictError, match="unit U1 was already assigned by another dispatcher"):
        with session_scope(session_factory) as s:
            confirm_assignment(s, "disp2", t2, "U1", now=T0)
    assert _status(session_factory, "U1", t2) == ("assigned", "open")
    with pytest.raises(NotFoundError, match="'NOPE'"):
        with session_scope(session_factory) as s:
            confirm_assignment(s, "disp2", t2, "NOPE", now=T0)
    with pytest.raises(NotFoundError, match="9999"):
        with session_scope(session_factory) as s:
            confirm_assignment(s, "disp2", 9999, "U1", now=T0)


def test_statuses_set_elsewhere_meanwhile_are_kept(session_factory):
    (task_id,) = _seed(session_factory)
    with session_scope(session_factory) as s:
        a = confirm_assignment(s, "disp1", task_id, "U1", now=T0)
        aid = a.id
    with session_scope(session_factory) as s:  # the unit breaks down; the incident resolves
        s.get(Unit, "U1").status = "out_of_service"
        s.get(Task, task_id).status = "cancelled"
    with session_scope(session_factory) as s:
        transition(s, s.get(Assignment, aid), "cancelled", "disp1", now=T0)
    assert _status(session_factory, "U1", task_id) == ("out_of_service", "cancelled")
