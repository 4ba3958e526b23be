"""Authorisation lives in the services, not only in the pages (issue 15).

Capability on confirm / override / reassign, a patrol lead clears only hazards on their own
task or section, admins unlock / reset / disable accounts, and the password policy (length 12,
not the user name, none of the last 3). Each refusal carries a translatable ``code`` and is in
the audit log. Every test runs on SQLite and on PostGIS.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from shapely.geometry import LineString, Point
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from incidents.errors import AuthError, NotFoundError, PasswordPolicyError, PermissionDenied
from incidents.service.actions import act, clear_hazard, confirm, override, reassign
from incidents.service.patrol import nearby_hazards
from incidents.service.users import (
    MIN_PASSWORD_LENGTH,
    PASSWORD_HISTORY,
    authenticate,
    create_user,
    disable_user,
    enable_user,
    reset_password,
    resume_session,
    start_session,
    unlock_user,
)
from incidents.store.engine import session_scope
from incidents.store.models import Assignment, AuditEvent, Hazard, Incident, Segment, Task
from tests.test_dispatch import NOW, add_task, add_unit


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> dict[str, int]:
    """A patrol car PC1 (traffic control), a plow PL1, a plow task and a traffic task."""
    with session_scope(session_factory) as s:
        add_unit(s, "PC1", 10)
        add_unit(s, "PL1", 20, caps=("plow",), vclass="plow")
        plow = add_task(s, 12, 40.0, NOW - timedelta(minutes=5), capability="plow")
        traffic = add_task(s, 14, 30.0, NOW - timedelta(minutes=5))
        create_user(s, "disp", "dispatch-password-1", "dispatcher")
        create_user(s, "boss", "admin-password-1", "admin")
        create_user(s, "lead1", "lead-password-1", "patrol_lead", unit_id="PC1")
        return {"plow": plow.id, "traffic": traffic.id}


def _refusals(factory: sessionmaker[Session], action: str) -> list[AuditEvent]:
    with session_scope(factory) as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == action, AuditEvent.outcome == "denied")
                .order_by(AuditEvent.id)
            )
        )


# ------------------------------------------------------------------------------------------
# Capability
# ------------------------------------------------------------------------------------------


def test_a_patrol_car_is_never_confirmed_onto_a_plow_task(session_factory, world):
    for actor in ("disp", "boss", "system"):
        with pytest.raises(PermissionDenied, match="needs 'plow'") as refused:
            act(session_factory, confirm, actor, world["plow"], "PC1", now=NOW)
        assert refused.value.code == "capability_mismatch"
    with pytest.raises(PermissionDenied) as refused:
        act(session_factory, override, "disp", world["plow"], "PC1", now=NOW,
            recommended_unit_id="PL1", reason="closer")
    assert refused.value.code == "capability_mismatch"
    confirms = _refusals(session_factory, "service.confirm")
    assert [e.actor for e in confirms] == ["disp", "boss", "system"]
    assert {e.details["code"] for e in confirms} == {"capability_mismatch"}
    assert _refusals(session_factory, "service.override")[0].details["code"] == (
        "capability_mismatch"
    )
    with session_scope(session_factory) as s:
        assert s.scalars(select(Assignment)).all() == []
        a = confirm(s, "disp", world["plow"], "PL1", now=NOW)  # the plow may
        assert a.unit_id == "PL1"


def test_a_reassignment_to_an_incapable_unit_is_refused(session_factory, world):
    with session_scope(session_factory) as s:
        a = confirm(s, "disp", world["plow"], "PL1", now=NOW)
        aid, version = a.id, a.version
    with pytest.raises(PermissionDenied) as refused:
        act(session_factory, reassign, "disp", aid, "PC1", version, now=NOW)
    assert refused.value.code == "capability_mismatch"
    with session_scope(session_factory) as s:
        kept = s.get(Assignment, aid)
        assert kept is not None and (kept.state, kept.unit_id) == ("confirmed", "PL1")


# ------------------------------------------------------------------------------------------
# Hazards: a patrol lead's own task or section
# ------------------------------------------------------------------------------------------


def _segment(s: Session, sid: str, section: str, lon: float) -> None:
    s.add(Segment(id=sid, road_code="G999", km_from=0, km_to=1, section_id=section,
                  geometry=LineString([(lon, 44.0), (lon + 0.01, 44.0)])))


def _hazard_on(s: Session, segment: str) -> int:
    h = Hazard(segment_id=segment, condition="black_ice", geometry=Point(116.1, 44.0),
               first_seen=NOW - timedelta(hours=1), last_seen=NOW)
    s.add(h)
    s.flush()
    return h.id


def test_a_patrol_lead_clears_only_hazards_on_their_task_or_section(session_factory, world):
    with session_scope(session_factory) as s:
        _segment(s, "G999:1", "SEC-A", 116.0)
        _segment(s, "G999:2", "SEC-A", 116.01)
        _segment(s, "G999:9", "SEC-B", 116.5)
        task = s.get(Task, world["traffic"])
        assert task is not None and task.incident_id is not None
        inc = s.get(Incident, task.incident_id)
        assert inc is not None
        inc.segment_id = "G999:1"  # PC1's incident lies on section SEC-A
        same_section = _hazard_on(s, "G999:2")
        elsewhere = _hazard_on(s, "G999:9")
    # before PC1 has the task: nothing is lead1's
    with pytest.raises(PermissionDenied) as refused:
        act(session_factory, clear_hazard, "lead1", same_section, now=NOW)
    assert refused.value.code == "not_own_hazard"
    with session_scope(session_factory) as s:
        confirm(s, "disp", world["traffic"], "PC1", now=NOW)
    with pytest.raises(PermissionDenied, match="SEC-B") as refused:
        act(session_factory, clear_hazard, "lead1", elsewhere, now=NOW)
    assert refused.value.code == "not_own_hazard"
    with session_scope(session_factory) as s:  # what the tablet may offer
        near = nearby_hazards(s, 116.0, 44.0, within_km=500.0, limit=10, unit_id="PC1")
        assert {h["id"]: h["clearable"] for h in near} == {same_section: True, elsewhere: False}
        assert {h["clearable"] for h in nearby_hazards(s, 116.0, 44.0, 500.0)} == {None}
    with session_scope(session_factory) as s:
        h = clear_hazard(s, "lead1", same_section, now=NOW)
        assert (h.state, h.cleared_by) == ("cleared", "lead1")
        h = clear_hazard(s, "disp", elsewhere, now=NOW)  # a dispatcher is not limited
        assert h.state == "cleared"
    codes = [e.details["code"] for e in _refusals(session_factory, "service.clear_hazard")]
    assert codes == ["not_own_hazard", "not_own_hazard"]


# ------------------------------------------------------------------------------------------
# Accounts: unlock, reset, disable (admins only, audited)
# ------------------------------------------------------------------------------------------


def _login(factory: sessionmaker[Session], name: str, password: str) -> str:
    with session_scope(factory) as s:
        user = authenticate(s, name, password, NOW)
        return start_session(s, user, NOW)


def test_an_admin_unlocks_a_locked_account(session_factory, world):
    for _ in range(5):
        with pytest.raises(AuthError), session_scope(session_factory) as s:
            authenticate(s, "disp", "wrong-password-x", NOW)
    with pytest.raises(AuthError, match="locked"), session_scope(session_factory) as s:
        authenticate(s, "disp", "dispatch-password-1", NOW)
    with pytest.raises(PermissionDenied):
        act(session_factory, unlock_user, "lead1", "disp", now=NOW)
    with pytest.raises(NotFoundError):
        act(session_factory, unlock_user, "boss", "nobody", now=NOW)
    act(session_factory, unlock_user, "boss", "disp", now=NOW)
    assert _login(session_factory, "disp", "dispatch-password-1")
    with session_scope(session_factory) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "user.unlock")).one()
    assert (ev.actor, ev.target, ev.outcome) == ("boss", "user:disp", "ok")
    assert ev.details["locked_until"] is not None
    assert [e.actor for e in _refusals(session_factory, "service.unlock_user")] == ["lead1"]


def test_an_admin_resets_a_password_under_the_policy(session_factory, world):
    token = _login(session_factory, "disp", "dispatch-password-1")
    with pytest.raises(PermissionDenied):
        act(session_factory, reset_password, "disp", "disp", "a-fresh-password-2")
    cases = [
        ("x" * (MIN_PASSWORD_LENGTH - 1), "password_too_short"),
        ("DISP", "password_too_short"),
        ("dispatch-password-1", "password_reused"),
    ]
    for password, code in cases:
        with pytest.raises(PasswordPolicyError) as refused:
            act(session_factory, reset_password, "boss", "disp", password)
        assert refused.value.code == code, password
    act(session_factory, reset_password, "boss", "disp", "a-fresh-password-2")
    with session_scope(session_factory) as s:  # the user's live sessions ended
        assert resume_session(s, token, idle_minutes=60, now=NOW) is None
    with pytest.raises(AuthError), session_scope(session_factory) as s:
        authenticate(s, "disp", "dispatch-password-1", NOW)
    assert _login(session_factory, "disp", "a-fresh-password-2")
    with session_scope(session_factory) as s:
        ev = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "user.reset_password")
        ).one()
    assert (ev.actor, ev.target) == ("boss", "user:disp")


def test_the_user_name_is_never_the_password(session_factory, world):
    with pytest.raises(PasswordPolicyError) as refused, session_scope(session_factory) as s:
        create_user(s, "winter-operator", "Winter-Operator", "dispatcher")
    assert refused.value.code == "password_is_username"
    assert isinstance(refused.value, ValueError)


def test_none_of_the_last_three_passwords_comes_back(session_factory, world):
    passwords = ["dispatch-password-1", "second-password-2", "third-password-3"]
    for pw in passwords[1:]:
        act(session_factory, reset_password, "boss", "disp", pw)
    for old in passwords:
        with pytest.raises(PasswordPolicyError, match="last 3"):
            act(session_factory, reset_password, "boss", "disp", old)
    act(session_factory, reset_password, "boss", "disp", "fourth-password-4")
    # the first is now the 4th-last: allowed again (N = 3)
    assert PASSWORD_HISTORY == 3
    act(session_factory, reset_password, "boss", "disp", passwords[0])
    assert _login(session_factory, "disp", passwords[0])


def test_a_disabled_account_cannot_log_in_and_its_sessions_end(session_factory, world):
    token = _login(session_factory, "lead1", "lead-password-1")
    with pytest.raises(PermissionDenied):
        act(session_factory, disable_user, "disp", "lead1", now=NOW)
    with pytest.raises(PermissionDenied) as refused:
        act(session_factory, disable_user, "boss", "boss", now=NOW)
    assert refused.value.code == "self_disable"
    act(session_factory, disable_user, "boss", "lead1", now=NOW)
    with session_scope(session_factory) as s:
        assert resume_session(s, token, idle_minutes=60, now=NOW) is None
    with pytest.raises(AuthError) as refused, session_scope(session_factory) as s:
        authenticate(s, "lead1", "lead-password-1", NOW)
    assert refused.value.code == "account_disabled"
    with pytest.raises(AuthError) as refused, session_scope(session_factory) as s:
        authenticate(s, "lead1", "not-the-password", NOW)  # says nothing about the account
    assert refused.value.code == "auth"
    act(session_factory, enable_user, "boss", "lead1", now=NOW)
    assert _login(session_factory, "lead1", "lead-password-1")
    with session_scope(session_factory) as s:
        trail = [
            (e.actor, e.action, e.outcome)
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.target == "user:lead1")
                .order_by(AuditEvent.id)
            )
            if e.action in ("user.disable", "user.enable", "login")
        ]
    assert ("boss", "user.disable", "ok") in trail
    assert ("lead1", "login", "denied") in trail
    assert trail[-2:] == [("boss", "user.enable", "ok"), ("lead1", "login", "ok")]


def test_the_command_line_unlocks_disables_and_enables(db_url, session_factory, world):
    import json

    from typer.testing import CliRunner

    from incidents.cli.app import app

    runner = CliRunner()
    for _ in range(5):
        with pytest.raises(AuthError), session_scope(session_factory) as s:
            authenticate(s, "disp", "wrong-password-x")
    res = runner.invoke(app, ["users", "unlock", "disp", "--db", db_url])
    assert res.exit_code == 0 and "disp: unlocked" in res.output
    res = runner.invoke(app, ["users", "disable", "disp", "--db", db_url])
    assert res.exit_code == 0 and "disp: disabled" in res.output
    listed = json.loads(runner.invoke(app, ["users", "list", "--json", "--db", db_url]).output)
    assert [u["disabled_at"] is not None for u in listed if u["username"] == "disp"] == [True]
    with pytest.raises(AuthError) as refused, session_scope(session_factory) as s:
        authenticate(s, "disp", "dispatch-password-1")
    assert refused.value.code == "account_disabled"
    assert runner.invoke(app, ["users", "enable", "disp", "--db", db_url]).exit_code == 0
    assert _login(session_factory, "disp", "dispatch-password-1")
    res = runner.invoke(app, ["users", "disable", "nobody", "--db", db_url])
    assert res.exit_code == 2 and "'nobody'" in res.output
    res = runner.invoke(app, ["users", "passwd", "disp", "--password-stdin", "--db", db_url],
                        input="dispatch-password-1\n")
    assert res.exit_code == 2 and "last 3" in res.output
    with session_scope(session_factory) as s:
        actions = [a for (a,) in s.execute(select(AuditEvent.action).where(
            AuditEvent.target == "user:disp", AuditEvent.actor.like("cli%")))]
    assert actions == ["user.unlock", "user.disable", "user.enable"]
