"""Users: argon2 hashes, roles, lockout counted in the database, everything audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from shapely.geometry import Point
from sqlalchemy import select

from incidents.errors import AuthError, ConflictError, NotFoundError
from incidents.service.users import (
    authenticate,
    create_user,
    list_users,
    locked_until,
    record_logout,
)
from incidents.store.engine import session_scope
from incidents.store.models import AuditEvent, Unit, User

T0 = datetime(2025, 12, 14, 2, 0, tzinfo=UTC)
PW = "winter-dispatch"


def _make(session_factory, username="alice", role="dispatcher", unit_id=None, password=PW):
    with session_scope(session_factory) as s:
        create_user(s, username, password, role, unit_id)


def _login(session_factory, username, password, now):
    """One log-in attempt in its own transaction, as the dashboard does it."""
    with session_scope(session_factory) as s:
        return authenticate(s, username, password, now=now).username


def _actions(session_factory):
    with session_scope(session_factory) as s:
        return [(e.action, e.outcome) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_hash_is_argon2_and_login_works(session_factory):
    _make(session_factory)
    with session_scope(session_factory) as s:
        user = s.scalars(select(User)).one()
        assert user.password_hash.startswith("$argon2id$")
        assert PW not in user.password_hash
    assert _login(session_factory, "alice", PW, T0) == "alice"
    with session_scope(session_factory) as s:
        assert s.scalars(select(User)).one().last_login_at == T0
        record_logout(s, "alice", now=T0 + timedelta(hours=1))
        record_logout(s, "alice", now=T0 + timedelta(hours=2), reason="idle")
    assert _actions(session_factory)[-3:] == [("login", "ok"), ("logout", "ok"), ("logout", "ok")]
    with session_scope(session_factory) as s:
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert last.details == {"reason": "idle"} and last.at == T0 + timedelta(hours=2)


def test_five_failures_lock_for_ten_minutes_counted_in_the_database(session_factory):
    _make(session_factory)
    for i in range(4):
        with pytest.raises(AuthError, match="wrong user name or password"):
            _login(session_factory, "alice", f"guess-{i}", T0 + timedelta(seconds=i))
    with session_scope(session_factory) as s:  # the count survived the callers' rollbacks
        assert s.scalars(select(User)).one().failed_attempts == 4
    with pytest.raises(AuthError, match="now locked for 10 minutes"):
        _login(session_factory, "alice", "guess-5", T0 + timedelta(seconds=5))
    with session_scope(session_factory) as s:  # what the log-in page shows
        assert locked_until(s, " alice ", now=T0 + timedelta(minutes=9)) == (
            T0 + timedelta(minutes=10, seconds=5))
        assert locked_until(s, "alice", now=T0 + timedelta(minutes=10, seconds=5)) is None
        assert locked_until(s, "nobody", now=T0) is None
    # locked: even the right password is refused, with the time it ends
    with pytest.raises(AuthError, match=r"locked .* until 2025-12-14 02:10 UTC"):
        _login(session_factory, "alice", PW, T0 + timedelta(minutes=9))
    # after ten minutes the right password works again, and the count is back to zero
    assert _login(session_factory, "alice", PW, T0 + timedelta(minutes=10, seconds=6)) == "alice"
    with session_scope(session_factory) as s:
        user = s.scalars(select(User)).one()
        assert user.failed_attempts == 0 and user.locked_until is None
    actions = _actions(session_factory)
    assert actions.count(("login", "denied")) == 5
    assert ("lockout", "locked") in actions
    assert ("login", "locked") in actions
    assert actions[-1] == ("login", "ok")


def test_success_resets_the_count(session_factory):
    _make(session_factory)
    for i in range(4):
        with pytest.raises(AuthError):
            _login(session_factory, "alice", "nope-nope", T0 + timedelta(seconds=i))
    _login(session_factory, "alice", PW, T0 + timedelta(seconds=10))
    with pytest.raises(AuthError, match="wrong user name or password$"):
        _login(session_factory, "alice", "nope-nope", T0 + timedelta(seconds=20))
    with session_scope(session_factory) as s:
        user = s.scalars(select(User)).one()
        assert user.failed_attempts == 1 and user.locked_until is None


def test_unknown_user_is_refused_and_audited(session_factory):
    with pytest.raises(AuthError, match="wrong user name or password"):
        _login(session_factory, "nobody", "whatever1", T0)
    assert _actions(session_factory) == [("login", "denied")]


def test_roles_and_units(session_factory):
    with session_scope(session_factory) as s:
        s.add(Unit(id="XL-ABG-PC1", name="巡逻车1", vehicle_class="patrol_car",
                   geometry=Point(114.95, 44.02)))
    _make(session_factory, "lead", "patrol_lead", "XL-ABG-PC1", "winter-patrol")
    with pytest.raises(ValueError, match="must be bound to a unit"):
        _make(session_factory, "lead2", "patrol_lead")
    with pytest.raises(NotFoundError, match="'NO-SUCH'"):
        _make(session_factory, "lead3", "patrol_lead", "NO-SUCH")
    with pytest.raises(ValueError, match="only patrol leads"):
        _make(session_factory, "disp", "dispatcher", "XL-ABG-PC1")
    with pytest.raises(ValueError, match="unknown role 'chief'"):
        _make(session_factory, "boss", "chief")
    with pytest.raises(ValueError, match="too short"):
        _make(session_factory, "shorty", "admin", password="short")
    with pytest.raises(ConflictError, match="'lead' already exists"):
        _make(session_factory, "lead", "admin", password="another-one-too")
    with session_scope(session_factory) as s:
        users = list_users(s)
        assert [(u.username, u.role, u.unit_id) for u in users] == [
            ("lead", "patrol_lead", "XL-ABG-PC1")
        ]


def test_wall_role_from_the_command_line_logs_in_and_may_not_add_users(db_url, session_factory):
    from typer.testing import CliRunner

    from incidents.cli.app import app
    from incidents.errors import PermissionDenied
    from incidents.service.actions import act
    from incidents.service.users import add_user

    result = CliRunner().invoke(
        app,
        ["users", "add", "lobby", "--role", "wall", "--password-stdin", "--db", db_url],
        input="watch-only-screen\n",
    )
    assert result.exit_code == 0, result.output
    assert "added wall lobby" in result.output
    assert _login(session_factory, "lobby", "watch-only-screen", T0) == "lobby"
    with pytest.raises(PermissionDenied, match="not an admin"):
        act(session_factory, add_user, "lobby", "sneaky", "sneaky-password", "admin")
    _make(session_factory, "root", "admin", password="root-password-1")
    with session_scope(session_factory) as s:
        add_user(s, "root", "second", "second-password", "dispatcher")
    with session_scope(session_factory) as s:
        names = {u.username: u.role for u in list_users(s)}
    assert names == {"lobby": "wall", "root": "admin", "second": "dispatcher"}
    assert ("user.create", "ok") in _actions(session_factory)
    assert ("service.add_user", "denied") in _actions(session_factory)
