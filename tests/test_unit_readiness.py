"""Unit readiness (issue 12), on SQLite and PostGIS: out of service and back, fuel, crew hours;
by dispatchers and admins only; audited; versioned; fuel in the unit list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from incidents import console_reads
from incidents.errors import ConflictError, PermissionDenied, TransitionError
from incidents.service.actions import act, confirm
from incidents.service.units import set_readiness
from incidents.service.users import create_user
from incidents.store.engine import session_scope
from incidents.store.models import AuditEvent, Unit
from tests.test_dispatch import NOW, add_task, add_unit


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> int:
    with session_scope(session_factory) as s:
        add_unit(s, "U1", 10, caps=("traffic_control",))
        add_unit(s, "U2", 20, caps=("traffic_control",))
        task = add_task(s, 12, 50.0, NOW - timedelta(minutes=5))
        create_user(s, "disp", "correct-horse-1", "dispatcher")
        create_user(s, "boss", "correct-horse-4", "admin")
        create_user(s, "lead1", "correct-horse-2", "patrol_lead", unit_id="U1")
        create_user(s, "wall1", "correct-horse-3", "wall")
        return int(task.id)


def _unit(factory: sessionmaker[Session], uid: str) -> Unit:
    with factory() as s:
        u = s.get(Unit, uid)
        assert u is not None
        return u


def _events(factory: sessionmaker[Session], action: str) -> list[AuditEvent]:
    with factory() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)))


def test_a_dispatcher_sets_fuel_and_crew_hours_audited(
    session_factory: sessionmaker[Session], world: int
) -> None:
    act(session_factory, set_readiness, "disp", "U1", NOW, fuel=0.35, crew_hours=9.5)
    u = _unit(session_factory, "U1")
    assert (u.fuel, u.crew_hours, u.version) == (0.35, 9.5, 2)
    ev = _events(session_factory, "unit.readiness")[-1]
    assert ev.actor == "disp" and ev.target == "unit:U1"
    assert ev.details["before"] == {"fuel": 1.0, "crew_hours": 0.0}
    assert ev.details["after"] == {"fuel": 0.35, "crew_hours": 9.5}
    with session_factory() as s:
        frame = console_reads.unit_readiness(s)
    assert frame.set_index("id").loc["U1", "fuel"] == 0.35, "fuel shows in the unit list"


def test_out_of_service_needs_a_reason_and_a_free_unit_and_comes_back(
    session_factory: sessionmaker[Session], world: int
) -> None:
    with pytest.raises(TransitionError) as caught:
        act(session_factory, set_readiness, "disp", "U2", NOW, in_service=False)
    assert caught.value.code == "reason_required"
    act(session_factory, set_readiness, "boss", "U2", NOW, in_service=False,
        reason="broken chains")
    assert _unit(session_factory, "U2").status == "out_of_service"
    assert _events(session_factory, "unit.readiness")[-1].details["reason"] == "broken chains"
    act(session_factory, set_readiness, "disp", "U2", NOW, in_service=True)
    assert _unit(session_factory, "U2").status == "available"
    act(session_factory, confirm, "disp", world, "U1", now=NOW)  # U1 is on a task now
    with pytest.raises(TransitionError) as busy:
        act(session_factory, set_readiness, "disp", "U1", NOW, in_service=False, reason="x")
    assert busy.value.code == "unit_busy"
    assert _unit(session_factory, "U1").status == "assigned"


@pytest.mark.parametrize("who", ["lead1", "wall1"])
def test_patrol_leads_and_wall_displays_are_refused_and_audited(
    session_factory: sessionmaker[Session], world: int, who: str
) -> None:
    with pytest.raises(PermissionDenied):
        act(session_factory, set_readiness, who, "U1", NOW, fuel=0.2)
    assert _unit(session_factory, "U1").fuel == 1.0
    refusal = _events(session_factory, "service.set_readiness")[-1]
    assert refusal.actor == who and refusal.outcome == "denied"


def test_values_out_of_range_and_stale_versions_are_refused(
    session_factory: sessionmaker[Session], world: int
) -> None:
    for bad in ({"fuel": 1.5}, {"fuel": -0.1}, {"crew_hours": 72}):
        with pytest.raises(ValueError, match="between"):
            with session_scope(session_factory) as s:
                set_readiness(s, "disp", "U1", NOW, **bad)  # type: ignore[arg-type]
    with pytest.raises(ConflictError):
        act(session_factory, set_readiness, "disp", "U1", NOW, fuel=0.5, expected_version=7)
    assert _unit(session_factory, "U1").fuel == 1.0
