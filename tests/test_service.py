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
    """Two units (rescue and traffic control), two tasks, a dispatcher and a patrol lead bound
    to U1."""
    with session_scope(session_factory) as s:
        add_unit(s, "U1", 10, caps=("traffic_control", "rescue"))
        add_unit(s, "U2", 40, caps=("traffic_control", "rescue"))
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
    with pytest.raises(PermissionDenied) as refused:  # not on lead1's task or section yet
        act(session_factory, clear_hazard, "lead1", old)
    assert refused.value.code == "not_own_hazard"
    denied = _audits(session_factory, "service.clear_hazard")
    assert [(e.outcome, e.details["code"]) for e in denied] == [("denied", "not_own_hazard")]
    with session_scope(session_factory) as s:  # the dispatcher puts U1 on the hazard
        task = Task(hazard_id=old, kind="traffic_control", capability="traffic_control",
                    priority=1.0, geometry=Point(116.005, 44.0), created_at=NOW)
        s.add(task)
        s.flush()
        confirm(s, "disp", task.id, "U1", now=NOW)
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


# ------------------------------------------------------------------------------------------
# Status taps from the lifecycle, the wall display, nearby hazards
# ------------------------------------------------------------------------------------------


def test_status_choices_are_exactly_the_legal_status_moves() -> None:
    from incidents.service.actions import STATUS_STATES, status_choices
    from incidents.service.lifecycle import TRANSITIONS, can_transition
    from incidents.store.models import AssignmentState

    seen = {}
    for state in AssignmentState:
        choices = status_choices(state)
        assert set(choices) == TRANSITIONS[state] & STATUS_STATES
        assert all(can_transition(state, c) for c in choices)
        seen[state.value] = [c.value for c in choices]
    # the three the old page offered and the lifecycle forbids are gone
    assert seen["confirmed"] == ["en_route"]
    assert seen["en_route"] == ["on_scene"]
    assert seen["on_scene"] == ["cleared"]
    assert seen["cleared"] == [] and seen["recommended"] == []


def test_wall_display_is_refused_every_write_and_each_refusal_is_audited(
    session_factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    from incidents.service.feeds import delete_feed, put_feed
    from incidents.service.users import add_user, revoke_sessions

    with session_scope(session_factory) as s:
        create_user(s, "wall1", "correct-horse-9", "wall")
        a = confirm(s, "disp", world["t1"], "U1", now=NOW)
        aid = a.id
        hid = _hazard(s, "G999:5.0", 30)
    attempts = [
        (confirm, (world["t2"], "U2")),
        (override, (world["t2"], "U2")),
        (set_status, (aid, "en_route", None)),
        (cancel, (aid, None)),
        (reassign, (aid, "U2", None)),
        (clear_hazard, (hid,)),
        (hand_to_road_chief, (hid,)),
        (add_user, ("mallory", "correct-horse-7", "admin")),
        (revoke_sessions, ("disp",)),
        (delete_feed, ("cap-nmc",)),
    ]
    for fn, args in attempts:
        with pytest.raises(PermissionDenied):
            act(session_factory, fn, "wall1", *args)
    with pytest.raises(PermissionDenied):
        act(session_factory, put_feed, "wall1", name="f1", kind="calls", source="/tmp/x.csv",
            interval_s=60)
    with session_scope(session_factory) as s:
        a2 = s.get(Assignment, aid)
        assert a2 is not None and a2.state == "confirmed"
        h = s.get(Hazard, hid)
        assert h is not None and h.state == "open"
    denied = [e for e in _audits(session_factory) if e.actor == "wall1" and e.outcome == "denied"]
    assert len(denied) >= len(attempts) + 1


def test_nearby_hazards_measure_to_a_linestring_in_metres(
    session_factory: sessionmaker[Session],
) -> None:
    from incidents.service.patrol import nearby_hazards

    with session_scope(session_factory) as s:
        # a 10 km stretch of road running north-south, 0.01 deg (~0.8 km at 44 N) east of us
        line = Hazard(segment_id="L1", condition="drifting_snow", state="open",
                      geometry=LineString([(116.01, 43.95), (116.01, 44.05)]),
                      first_seen=NOW, last_seen=NOW)
        far = Hazard(segment_id="L2", condition="black_ice", state="open",
                     geometry=Point(117.5, 44.0), first_seen=NOW, last_seen=NOW)
        gone = Hazard(segment_id="L3", condition="closed", state="cleared",
                      geometry=Point(116.0, 44.0), first_seen=NOW, last_seen=NOW)
        s.add_all([line, far, gone])
        s.flush()
        ids = (line.id, far.id)
    with session_scope(session_factory) as s:
        near = nearby_hazards(s, 116.0, 44.0, within_km=60.0)
        everything = nearby_hazards(s, 116.0, 44.0, within_km=500.0)
    assert [h["id"] for h in near] == [ids[0]]  # the cleared one and the far one are left out
    assert 0.75 < near[0]["dist_km"] < 0.85  # to the nearest point of the line, not its ends
    assert [h["id"] for h in everything] == list(ids)
    assert 115 < everything[1]["dist_km"] < 125


def test_status_tap_with_the_tablets_position_moves_the_unit(
    session_factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    from incidents.service.actions import TabletFix

    with session_scope(session_factory) as s:
        aid = confirm(s, "disp", world["t1"], "U1", now=NOW).id
    fix = TabletFix(116.05, 44.01, 8.0)
    act(session_factory, set_status, "lead1", aid, "en_route", None,
        now=NOW + timedelta(minutes=1), position=fix)
    with session_scope(session_factory) as s:
        unit = s.get(Unit, "U1")
        assert unit is not None
        assert unit.geometry.x == pytest.approx(116.05, abs=1e-6)
        assert unit.geometry.y == pytest.approx(44.01, abs=1e-6)
        assert unit.position_source == "tablet"
        a = s.get(Assignment, aid)
        assert a is not None and a.state == "en_route"
    # a tap without a position leaves the position alone
    act(session_factory, set_status, "lead1", aid, "on_scene", None,
        now=NOW + timedelta(minutes=2))
    with session_scope(session_factory) as s:
        a = s.get(Assignment, aid)
        assert a is not None and a.state == "on_scene"


def test_patrol_hazard_report_becomes_a_hazard_and_a_wall_is_refused(
    tmp_path, session_factory: sessionmaker[Session], settings
) -> None:
    from incidents.service.actions import report_hazard
    from incidents.store.models import Report
    from tests.fusion_region import at, tiny_region

    region = tiny_region(tmp_path / "region")
    with session_scope(session_factory) as s:
        add_unit(s, "P1", 10)
        create_user(s, "lead1", "correct-horse-2", "patrol_lead", unit_id="P1")
        create_user(s, "wall1", "correct-horse-9", "wall")
    p = at(region, "G999", 10.0, north_m=20)
    rid = report_hazard(session_factory, region, settings, "lead1", lon=p.x, lat=p.y,
                        condition="black_ice", note="ice <b>here</b>", at=NOW)
    with session_scope(session_factory) as s:
        report = s.get(Report, rid)
        assert report is not None and report.kind == "patrol"
        assert report.attributes["unit_id"] == "P1"
        assert any(rid in (h.report_ids or []) for h in s.scalars(select(Hazard)))
    with pytest.raises(PermissionDenied):
        report_hazard(session_factory, region, settings, "wall1", lon=p.x, lat=p.y,
                      condition="black_ice", at=NOW)
    with pytest.raises(ValueError, match="condition"):
        report_hazard(session_factory, region, settings, "lead1", lon=p.x, lat=p.y,
                      condition="lava", at=NOW)
    with session_scope(session_factory) as s:
        assert len(s.scalars(select(Report).where(Report.kind == "patrol")).all()) == 1
    denied = [e for e in _audits(session_factory, "hazard.report") if e.outcome == "denied"]
    assert [e.actor for e in denied] == ["wall1"]


def test_lead_sends_position_on_request_only_for_their_unit(
    session_factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    from incidents.service.actions import TabletFix, send_position

    fix = TabletFix(116.07, 44.02, 12.0)
    act(session_factory, send_position, "lead1", "U1", fix, now=NOW)
    with pytest.raises(PermissionDenied):
        act(session_factory, send_position, "lead1", "U2", fix, now=NOW)
    with session_scope(session_factory) as s:
        u1, u2 = s.get(Unit, "U1"), s.get(Unit, "U2")
        assert u1 is not None and u2 is not None
        assert u1.geometry.x == pytest.approx(116.07, abs=1e-6)
        assert u1.position_source == "tablet"
        assert u2.position_source != "tablet"
    events = _audits(session_factory, "unit.send_position")
    assert [(e.actor, e.target, e.outcome) for e in events] == [("lead1", "unit:U1", "ok")]
    assert _audits(session_factory, "service.send_position")[0].outcome == "denied"


def test_feed_settings_admin_only_and_audited(session_factory: sessionmaker[Session]) -> None:
    from incidents.service.feeds import configured_feeds, delete_feed, put_feed

    with session_scope(session_factory) as s:
        create_user(s, "boss", "correct-horse-3", "admin")
        create_user(s, "disp", "correct-horse-1", "dispatcher")
    act(session_factory, put_feed, "boss", name="calls-a", kind="calls",
        source="/srv/calls", interval_s=60, enabled=False)
    with pytest.raises(PermissionDenied):
        act(session_factory, put_feed, "disp", name="calls-b", kind="calls",
            source="/srv/b", interval_s=60)
    with session_scope(session_factory) as s:
        feeds = configured_feeds(s)
    assert [(f["name"], f["enabled"], f["interval_s"]) for f in feeds] == [
        ("calls-a", False, 60.0)]
    with pytest.raises(NotFoundError):
        act(session_factory, delete_feed, "boss", "nope")
    act(session_factory, delete_feed, "boss", "calls-a")
    with session_scope(session_factory) as s:
        assert configured_feeds(s) == []
    done = [(e.actor, e.action, e.target) for e in _audits(session_factory)
            if e.action.startswith("feed.") and e.outcome == "ok"]
    assert done == [("boss", "feed.save", "feed:calls-a"), ("boss", "feed.remove", "feed:calls-a")]
