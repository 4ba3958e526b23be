"""The audit log: who did what, when (UTC), to what, with which outcome.

Append-only: the database itself refuses UPDATE and DELETE on ``audit_events`` (triggers
installed by the first migration). :func:`audit` adds an event to the caller's transaction, so
the event commits or rolls back with the change it describes; :func:`audit_committed` writes
one in a transaction of its own (for refusals whose own transaction is rolled back).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import exc
from sqlalchemy.orm import Session

from incidents.errors import AuditImmutableError
from incidents.store.models import AuditEvent, utcnow

OUTCOMES = frozenset({"ok", "denied", "conflict", "error", "locked"})
_REFUSED_MARK = "audit_events is append-only"


def audit(
    session: Session,
    actor: str,
    action: str,
    target: str | None,
    outcome: str = "ok",
    details: Mapping[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> AuditEvent:
    """Add one audit event to `session`'s transaction and return it (flushed, with an id).

    Parameters
    ----------
    session
        The session whose transaction makes the change being recorded.
    actor
        User name (or ``"system"``, ``"cli"``) of whoever acted.
    action
        What was done, e.g. ``"assignment.confirm"``, ``"login"``.
    target
        What it was done to, e.g. ``"assignment:12"``, ``"user:alice"``.
    outcome
        One of ``ok``, ``denied``, ``conflict``, ``error``, ``locked``.
    details
        JSON-serialisable extra facts (states before/after, reasons).
    at
        When it happened (timezone-aware); now, in UTC, by default.
    """
    if outcome not in OUTCOMES:
        msg = f"audit outcome {outcome!r} is not one of {sorted(OUTCOMES)}"
        raise ValueError(msg)
    event = AuditEvent(
        at=at or utcnow(),
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        details=dict(details or {}),
    )
    session.add(event)
    session.flush()
    return event


def audit_committed(
    factory: Callable[[], Session],
    actor: str,
    action: str,
    target: str | None,
    outcome: str = "ok",
    details: Mapping[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> None:
    """Write one audit event in its own transaction (after the caller's was rolled back)."""
    session = factory()
    try:
        audit(session, actor, action, target, outcome, details, at=at)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_audit_refusal(error: BaseException) -> bool:
    """Return whether a database error is the audit log refusing an UPDATE or DELETE."""
    return _REFUSED_MARK in str(error)


@contextmanager
def audit_guard() -> Iterator[None]:
    """Turn the database's refusal to change the audit log into :class:`AuditImmutableError`."""
    try:
        yield
    except exc.DBAPIError as error:
        if is_audit_refusal(error):
            msg = f"the audit log is append-only; the database refused: {error.orig}"
            raise AuditImmutableError(msg) from error
        raise
