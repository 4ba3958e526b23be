"""The audit log: who did what, when (UTC), to what, with which outcome.

Append-only: the database itself refuses UPDATE and DELETE on ``audit_events`` (triggers
installed by the first migration). Tamper-evident: every event is a link of a hash chain
(:mod:`incidents.store.models_audit`, appended at commit); :func:`verify_chain` walks it and
names the first broken link, :func:`verify_audit_chain` does that for an admin (or the command
line), records the result for the dashboard and audits it.

:func:`audit` adds an event to the caller's transaction, so the event commits or rolls back
with the change it describes; :func:`audit_committed` writes
one in a transaction of its own (for refusals whose own transaction is rolled back).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import RowMapping, Table, exc, func, select
from sqlalchemy.orm import Session

from incidents.errors import AuditImmutableError
from incidents.store.models import AuditEvent, AuditLink, User, utcnow
from incidents.store.models_audit import EVENT_COLUMNS, GENESIS_HASH, event_hash
from incidents.store.runtime import AuditCheck, audit_check, set_audit_check

__all__ = [
    "OUTCOMES",
    "ChainReport",
    "audit",
    "audit_committed",
    "audit_guard",
    "is_audit_refusal",
    "verify_audit_chain",
    "verify_chain",
]

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


# ------------------------------------------------------------------------------------------
# The hash chain: verification
# ------------------------------------------------------------------------------------------

_EVENTS = cast(Table, AuditEvent.__table__)
_LINKS = cast(Table, AuditLink.__table__)
_BATCH = 5000


@dataclass(frozen=True)
class ChainReport:
    """The result of walking the audit hash chain.

    Attributes
    ----------
    ok
        True when every link holds and every event is chained.
    checked
        How many links were checked (up to the first broken one).
    head_seq, head_hash
        The last link read (the chain's head when intact).
    problem
        What is wrong with the first broken link, in words; None when intact.
    broken_seq, broken_event_id
        Where it broke (link number, event id), when known.
    verified_at
        When the verification ran (UTC).
    """

    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    verified_at: datetime
    problem: str | None = None
    broken_seq: int | None = None
    broken_event_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the time in ISO 8601)."""
        out = asdict(self)
        out["verified_at"] = self.verified_at.isoformat()
        return out

    def as_check(self) -> AuditCheck:
        """Return the summary kept in the runtime settings (:class:`AuditCheck`)."""
        return AuditCheck(self.verified_at, self.ok, self.checked, self.head_seq,
                          self.head_hash, self.problem, self.broken_seq)


def _link_problem(link: RowMapping, expected_seq: int, prev_hash: str) -> str | None:
    seq, event_id = int(link["seq"]), int(link["event_id"])
    if seq != expected_seq:
        last = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}-{seq - 1}"
        return f"link {last} missing before link {seq} (event {event_id}): removed from the chain"
    if link["id"] is None:
        return f"event {event_id} (link {seq}) was deleted from audit_events"
    if link["prev_hash"] != prev_hash:
        return (
            f"link {seq} (event {event_id}) does not follow link {seq - 1}: its previous hash "
            f"{str(link['prev_hash'])[:12]}... is not {prev_hash[:12]}..."
        )
    if event_hash(seq, link, prev_hash) != link["hash"]:
        return f"event {event_id} (link {seq}) was changed after it was written (hash mismatch)"
    return None


def _links(session: Session, after_seq: int) -> list[RowMapping]:
    stmt = (
        select(_LINKS.c.seq, _LINKS.c.event_id, _LINKS.c.prev_hash, _LINKS.c.hash, *EVENT_COLUMNS)
        .select_from(_LINKS.outerjoin(_EVENTS, _EVENTS.c.id == _LINKS.c.event_id))
        .where(_LINKS.c.seq > after_seq)
        .order_by(_LINKS.c.seq)
        .limit(_BATCH)
    )
    return list(session.execute(stmt).mappings())


def _unchained(session: Session) -> tuple[int, int | None]:
    row = session.execute(
        select(func.count(), func.min(_EVENTS.c.id))
        .select_from(_EVENTS.outerjoin(_LINKS, _LINKS.c.event_id == _EVENTS.c.id))
        .where(_LINKS.c.seq.is_(None))
    ).one()
    return int(row[0]), (None if row[1] is None else int(row[1]))


def verify_chain(
    session: Session, *, last: AuditCheck | None = None, now: datetime | None = None
) -> ChainReport:
    """Walk the audit hash chain from the first link and report the first broken one.

    Parameters
    ----------
    session
        Any session on the database (read only).
    last
        The previous verification (:func:`incidents.store.runtime.audit_check`): a chain that
        no longer reaches its head, or reaches it with another hash, was cut back or rewritten.
    now
        When the verification runs (UTC); the wall clock by default.

    Returns
    -------
    ChainReport
        ``ok`` False names the first broken link: a removed link, a deleted or changed event, a
        link that does not follow the previous one, an event outside the chain.
    """
    now = now or utcnow()
    seq, prev, checked = 0, GENESIS_HASH, 0
    seen_at_last: str | None = None
    while batch := _links(session, seq):
        for link in batch:
            problem = _link_problem(link, seq + 1, prev)
            if problem is not None:
                return ChainReport(False, checked, seq, prev, now, problem, seq + 1,
                                   int(link["event_id"]))
            seq, prev, checked = int(link["seq"]), str(link["hash"]), checked + 1
            if last is not None and seq == last.head_seq:
                seen_at_last = prev
    if last is not None and last.ok and last.head_seq > 0:
        when = last.at.isoformat(timespec="seconds")
        if seq < last.head_seq:
            problem = (
                f"the chain ends at link {seq}, but reached link {last.head_seq} when it was "
                f"verified at {when}: links were removed from its end"
            )
            return ChainReport(False, checked, seq, prev, now, problem, seq + 1)
        if seen_at_last != last.head_hash:
            problem = f"link {last.head_seq} changed since it was verified at {when}"
            return ChainReport(False, checked, seq, prev, now, problem, last.head_seq)
    count, first = _unchained(session)
    if count:
        problem = f"event {first} is not in the chain ({count} unchained event(s))"
        return ChainReport(False, checked, seq, prev, now, problem, None, first)
    return ChainReport(True, checked, seq, prev, now)


def verify_audit_chain(
    session: Session, actor: User | Any, now: datetime | None = None
) -> ChainReport:
    """Verify the chain as `actor` (an admin or the command line), record and audit the result.

    The result is kept in the runtime settings (:func:`incidents.store.runtime.audit_check`,
    shown on the admin page) and audited (``audit.verify``: outcome ``ok`` or ``error``).

    Raises
    ------
    PermissionDenied
        `actor` is not an admin (audited).
    """
    from incidents.service.roles import actor_of, require_admin  # roles imports this module

    who = actor_of(session, actor)
    require_admin(session, who, "audit.verify", "audit_chain")
    report = verify_chain(session, last=audit_check(session), now=now)
    set_audit_check(session, report.as_check())
    audit(session, who.name, "audit.verify", "audit_chain", "ok" if report.ok else "error",
          report.to_dict(), at=report.verified_at)
    return report
