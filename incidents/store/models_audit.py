"""The audit log and its hash chain (tamper evidence).

Every audit event gets one link in ``audit_chain``: a sequence number, the hash of the
previous link and its own hash, sha256 over a canonical serialisation of the event row plus
the previous hash (:func:`event_hash`). The links are appended in the transaction that wrote
the events, at its commit (:func:`chain_events`, hooked on every :class:`~sqlalchemy.orm.Session`
here): on PostgreSQL under an advisory transaction lock, on SQLite inside the ``BEGIN
IMMEDIATE`` write lock, so concurrent writers append one after the other and the chain never
forks. The lock is taken at the very end of the transaction, after every row lock it holds, so
it adds no deadlock. Both tables are append-only (database triggers).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Connection,
    Integer,
    RowMapping,
    String,
    Table,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from incidents.store.models_base import Base, utcnow

__all__ = [
    "CHAIN_LOCK_KEY",
    "EVENT_COLUMNS",
    "GENESIS_HASH",
    "AuditEvent",
    "AuditLink",
    "canonical_event",
    "chain_head",
    "chain_events",
    "event_hash",
    "lock_chain",
]

GENESIS_HASH = "0" * 64
"""The "previous hash" of the first link."""
CHAIN_LOCK_KEY = 0x41554449  # "AUDI": one advisory lock per database serialises appends
_PENDING = "winterops.audit_pending"  # Session.info key: audit event ids not yet chained
_CHUNK = 500


class AuditEvent(Base):
    """Who did what, when (UTC), and the outcome. The database refuses UPDATE and DELETE."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(32))  # ok / denied / conflict / error
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditLink(Base):
    """One link of the audit hash chain: event `event_id` is number `seq` of the chain."""

    __tablename__ = "audit_chain"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # no foreign key: a deleted event must show up in verification, not block the delete
    event_id: Mapped[int] = mapped_column(Integer, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


_EVENTS = cast(Table, AuditEvent.__table__)
_LINKS = cast(Table, AuditLink.__table__)
EVENT_COLUMNS = (  # the columns the hash covers
    _EVENTS.c.id, _EVENTS.c.at, _EVENTS.c.actor, _EVENTS.c.action, _EVENTS.c.target,
    _EVENTS.c.outcome, _EVENTS.c.details,
)


def canonical_event(seq: int, row: Mapping[Any, Any], prev_hash: str) -> bytes:
    """Serialise one event row, its chain position and the previous hash canonically.

    Parameters
    ----------
    seq
        The event's position in the chain (1 for the first).
    row
        The event as read back from the database: ``id, at, actor, action, target, outcome,
        details``.
    prev_hash
        The previous link's hash (:data:`GENESIS_HASH` for the first).

    Returns
    -------
    bytes
        UTF-8 JSON with sorted keys and no spaces; the time in UTC to the microsecond.
    """
    at: datetime = row["at"]
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    payload = {
        "seq": int(seq),
        "id": int(row["id"]),
        "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": row["actor"],
        "action": row["action"],
        "target": row["target"],
        "outcome": row["outcome"],
        "details": row["details"] if row["details"] is not None else {},
        "prev": prev_hash,
    }
    text_ = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                       default=str)
    return text_.encode("utf-8")


def event_hash(seq: int, row: Mapping[Any, Any], prev_hash: str) -> str:
    """Return the sha256 (hex) of :func:`canonical_event`."""
    return hashlib.sha256(canonical_event(seq, row, prev_hash)).hexdigest()


def lock_chain(conn: Connection) -> None:
    """Serialise chain appends until this transaction ends (PostgreSQL advisory lock).

    SQLite needs nothing: every winterops write transaction holds the database's write lock
    (``BEGIN IMMEDIATE``).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY})


def chain_head(conn: Connection) -> tuple[int, str]:
    """Return the last link's ``(seq, hash)``; ``(0, GENESIS_HASH)`` for an empty chain."""
    row = conn.execute(
        select(_LINKS.c.seq, _LINKS.c.hash).order_by(_LINKS.c.seq.desc()).limit(1)
    ).first()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def _unchained(conn: Connection, ids: Sequence[int]) -> list[RowMapping]:
    rows: list[RowMapping] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        rows.extend(
            conn.execute(
                select(*EVENT_COLUMNS)
                .outerjoin(_LINKS, _LINKS.c.event_id == _EVENTS.c.id)
                .where(_EVENTS.c.id.in_(chunk), _LINKS.c.seq.is_(None))
            ).mappings()
        )
    return sorted(rows, key=lambda r: int(r["id"]))


def chain_events(conn: Connection, event_ids: Iterable[int]) -> int:
    """Append a link for every event of `event_ids` that exists and has none; return how many.

    Runs in `conn`'s transaction (take it before the commit of the events' transaction).
    """
    ids = sorted({int(i) for i in event_ids})
    if not ids:
        return 0
    lock_chain(conn)
    rows = _unchained(conn, ids)
    if not rows:
        return 0
    seq, prev = chain_head(conn)
    links = []
    for row in rows:
        seq += 1
        digest = event_hash(seq, row, prev)
        links.append({"seq": seq, "event_id": int(row["id"]), "prev_hash": prev, "hash": digest})
        prev = digest
    conn.execute(insert(_LINKS), links)
    return len(links)


# --------------------------------------------------------------------------------------------
# Session hooks: every committed audit event is chained in its own transaction
# --------------------------------------------------------------------------------------------


@event.listens_for(Session, "after_flush")
def _note_new_events(session: Session, flush_context: Any) -> None:
    ids = [obj.id for obj in session.new if isinstance(obj, AuditEvent)]
    if ids:
        session.info.setdefault(_PENDING, []).extend(ids)


@event.listens_for(Session, "before_commit")
def _chain_before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the outermost commit chains
    session.flush()
    ids = session.info.pop(_PENDING, None)
    if ids:
        chain_events(session.connection(), ids)


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
