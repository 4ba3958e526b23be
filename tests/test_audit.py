"""The audit log is append-only: the database refuses UPDATE and DELETE on it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select, text, update

from incidents.errors import AuditImmutableError
from incidents.service.audit import audit, audit_committed, audit_guard
from incidents.store.engine import session_scope
from incidents.store.models import AuditEvent


def _one_event(session_factory):
    with session_scope(session_factory) as s:
        ev = audit(s, "alice", "assignment.confirmed", "assignment:1", details={"unit_id": "U1"})
        return ev.id


def test_audit_records_who_what_when_outcome(session_factory):
    at = datetime(2025, 12, 14, 2, 30, tzinfo=UTC)
    with session_scope(session_factory) as s:
        audit(s, "bob", "login", "user:bob", "denied", {"reason": "wrong password"}, at=at)
    audit_committed(session_factory, "system", "lockout", "user:bob", "locked")
    with session_scope(session_factory) as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.actor, e.action, e.target, e.outcome) for e in events] == [
        ("bob", "login", "user:bob", "denied"),
        ("system", "lockout", "user:bob", "locked"),
    ]
    assert events[0].at == at
    assert events[0].details == {"reason": "wrong password"}
    assert events[1].at.tzinfo is not None


def test_unknown_outcome_is_refused(session_factory):
    with session_scope(session_factory) as s, pytest.raises(ValueError, match="'maybe'"):
        audit(s, "a", "x", None, outcome="maybe")


@pytest.mark.parametrize("verb", ["update", "delete"])
def test_database_refuses_changes_to_the_audit_log(session_factory, verb):
    event_id = _one_event(session_factory)
    stmt = (
        update(AuditEvent).where(AuditEvent.id == event_id).values(outcome="ok-edited")
        if verb == "update"
        else delete(AuditEvent).where(AuditEvent.id == event_id)
    )
    with pytest.raises(AuditImmutableError, match="append-only"):
        with audit_guard(), session_scope(session_factory) as s:
            s.execute(stmt)
    with session_scope(session_factory) as s:
        ev = s.get(AuditEvent, event_id)
        assert ev is not None
        assert ev.outcome == "ok"


def test_raw_sql_cannot_rewrite_history_either(engine, session_factory):
    _one_event(session_factory)
    for sql in ("UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events"):
        with pytest.raises(AuditImmutableError), audit_guard(), engine.begin() as conn:
            conn.execute(text(sql))
    if engine.dialect.name == "postgresql":
        with pytest.raises(AuditImmutableError), audit_guard(), engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_events"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor FROM audit_events")).scalars().all() == ["alice"]


def test_orm_edit_of_a_loaded_event_is_refused(session_factory):
    event_id = _one_event(session_factory)
    with pytest.raises(AuditImmutableError):
        with audit_guard(), session_scope(session_factory) as s:
            ev = s.get(AuditEvent, event_id)
            assert ev is not None
            ev.actor = "mallory"
            s.flush()
