"""Server-side log-in sessions: start, resume (reload), idle timeout, log-out, admin revocation."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from incidents.errors import PermissionDenied
from incidents.service.actions import act
from incidents.service.users import (
    authenticate,
    create_user,
    end_session,
    resume_session,
    revoke_sessions,
    start_session,
)
from incidents.store.engine import session_scope
from incidents.store.models import AuditEvent, User, UserSession

T0 = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)
IDLE = 30


@pytest.fixture
def people(session_factory: sessionmaker[Session]) -> None:
    with session_scope(session_factory) as s:
        create_user(s, "disp", "correct-horse-1", "dispatcher")
        create_user(s, "boss", "correct-horse-3", "admin")


def _login(factory: sessionmaker[Session], name: str, password: str, at: datetime) -> str:
    with session_scope(factory) as s:
        user = authenticate(s, name, password, now=at)
        return start_session(s, user, now=at)


def _resume(factory: sessionmaker[Session], token: str, at: datetime) -> str | None:
    with session_scope(factory) as s:
        user = resume_session(s, token, idle_minutes=IDLE, now=at)
        return None if user is None else user.username


def _actions(factory: sessionmaker[Session], actor: str) -> list[tuple[str, str, object]]:
    with factory() as s:
        rows = s.scalars(
            select(AuditEvent).where(AuditEvent.actor == actor).order_by(AuditEvent.id)
        )
        return [(e.action, e.outcome, (e.details or {}).get("reason")) for e in rows]


def test_token_is_stored_only_as_its_hash_and_resumes(
    session_factory: sessionmaker[Session], people: None
) -> None:
    token = _login(session_factory, "disp", "correct-horse-1", T0)
    assert len(token) >= 40
    with session_factory() as s:
        row = s.scalars(select(UserSession)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in row.token_hash
        assert row.revoked_at is None
    # a reload 10 minutes later: same user, and the session is touched
    assert _resume(session_factory, token, T0 + timedelta(minutes=10)) == "disp"
    with session_factory() as s:
        assert s.scalars(select(UserSession)).one().last_seen_at == T0 + timedelta(minutes=10)
    assert _resume(session_factory, "not-a-token", T0) is None
    assert _resume(session_factory, "", T0) is None
    assert ("session.start", "ok", None) in _actions(session_factory, "disp")


def test_idle_timeout_holds_across_reloads(
    session_factory: sessionmaker[Session], people: None
) -> None:
    token = _login(session_factory, "disp", "correct-horse-1", T0)
    assert _resume(session_factory, token, T0 + timedelta(minutes=IDLE - 1)) == "disp"
    # idle longer than the timeout since the last touch: refused, revoked, audited as idle
    assert _resume(session_factory, token, T0 + timedelta(minutes=2 * IDLE)) is None
    assert _resume(session_factory, token, T0 + timedelta(minutes=2 * IDLE + 1)) is None
    with session_factory() as s:
        assert s.scalars(select(UserSession)).one().revoked_at is not None
    assert ("logout", "ok", "idle") in _actions(session_factory, "disp")


def test_logout_revokes_the_session(session_factory: sessionmaker[Session], people: None) -> None:
    token = _login(session_factory, "disp", "correct-horse-1", T0)
    other = _login(session_factory, "disp", "correct-horse-1", T0)  # a second browser
    with session_scope(session_factory) as s:
        assert end_session(s, token, T0 + timedelta(minutes=1)) is True
    with session_scope(session_factory) as s:
        assert end_session(s, token, T0 + timedelta(minutes=2)) is False  # already ended
    assert _resume(session_factory, token, T0 + timedelta(minutes=3)) is None
    assert _resume(session_factory, other, T0 + timedelta(minutes=3)) == "disp"
    assert ("logout", "ok", "logout") in _actions(session_factory, "disp")


def test_admin_revokes_a_users_sessions_others_may_not(
    session_factory: sessionmaker[Session], people: None
) -> None:
    a = _login(session_factory, "disp", "correct-horse-1", T0)
    b = _login(session_factory, "disp", "correct-horse-1", T0)
    boss = _login(session_factory, "boss", "correct-horse-3", T0)
    with pytest.raises(PermissionDenied):
        act(session_factory, revoke_sessions, "disp", "boss")
    assert _resume(session_factory, boss, T0 + timedelta(minutes=1)) == "boss"
    # the refusal outlives the rolled-back transaction (act audits it after the rollback)
    assert ("service.revoke_sessions", "denied", None) in _actions(session_factory, "disp")
    assert act(session_factory, revoke_sessions, "boss", "disp", now=T0) == 2
    assert _resume(session_factory, a, T0 + timedelta(minutes=1)) is None
    assert _resume(session_factory, b, T0 + timedelta(minutes=1)) is None
    assert _resume(session_factory, boss, T0 + timedelta(minutes=1)) == "boss"
    with session_factory() as s:
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "session.revoke",
                                     AuditEvent.outcome == "ok")
        ).one()
        assert event.actor == "boss" and event.target == "user:disp"
        assert event.details["sessions"] == 2
        assert s.scalars(select(User).where(User.username == "disp")).one() is not None
    # a user may end their own sessions everywhere
    c = _login(session_factory, "disp", "correct-horse-1", T0)
    assert act(session_factory, revoke_sessions, "disp", "disp", now=T0) == 1
    assert _resume(session_factory, c, T0 + timedelta(minutes=1)) is None
