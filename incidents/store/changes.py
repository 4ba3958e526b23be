"""Change counters: what changed, so open dashboards rerun only the parts that did.

Every ORM write through a session of :func:`incidents.store.engine.session_factory` is noticed
automatically (:func:`track`): an ``after_flush`` listener maps the written classes
to topics (``incidents``, ``units``, ...) and a ``before_commit`` listener bumps one counter row
per topic in ``change_counters`` inside the same transaction, in a fixed order and as the last
statements (so counter locks never take part in a deadlock). On PostgreSQL it also sends
``NOTIFY winterops_changes, '<topic>'``, delivered at commit, for listeners.

A Core INSERT / UPDATE / DELETE executed through such a session counts too (a
``do_orm_execute`` listener: the lifecycle's conditional updates of units, tasks, assignments).
Writes that bypass the session (the sink's batched COPY) call :func:`bump` themselves.

Readers call :func:`versions` (one small SELECT) and compare with what they last saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, Table, event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from incidents.store import models as m

NOTIFY_CHANNEL = "winterops_changes"
TOPICS: tuple[str, ...] = (
    "alerts",
    "assignments",
    "feeds",
    "hazards",
    "incidents",
    "recommendations",
    "reports",
    "settings",
    "tasks",
    "units",
)
TOPIC_OF: dict[type[m.Base], str] = {
    m.Report: "reports",
    m.RawPayload: "feeds",
    m.Quarantine: "feeds",
    m.FeedStatus: "feeds",
    m.Alert: "alerts",
    m.Hazard: "hazards",
    m.SegmentCondition: "hazards",
    m.Incident: "incidents",
    m.Task: "tasks",
    m.Unit: "units",
    m.Assignment: "assignments",
    m.Setting: "settings",
    m.OverdueMark: "tasks",  # an acknowledged or escalated overdue task redraws the task lists
}
_PENDING = "winterops_changed_topics"
RECOMMENDED = "recommended"  # an assignment in this state is a ranking row (own topic)


def pending(session: Session) -> set[str]:
    """Return the topics this session's open transaction has changed so far."""
    topics: set[str] = session.info.setdefault(_PENDING, set())
    return topics


def bump(session: Session, *topics: str) -> None:
    """Mark `topics` changed by this session's transaction (counted at commit)."""
    unknown = set(topics) - set(TOPICS)
    if unknown:
        msg = f"unknown change topic(s) {sorted(unknown)!r}; known: {', '.join(TOPICS)}"
        raise ValueError(msg)
    pending(session).update(topics)


def bump_now(conn: Connection, topics: Iterable[str]) -> None:
    """Increment the counters of `topics` on `conn` (inside its transaction), sorted."""
    names = sorted(set(topics))
    if not names:
        return
    table = m.ChangeCounter.__table__
    assert isinstance(table, Table)
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    now = m.utcnow()
    for topic in names:
        stmt = insert(table).values(topic=topic, version=1, changed_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["topic"],
            set_={"version": table.c.version + 1, "changed_at": now},
        )
        conn.execute(stmt)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, topic))


def versions(engine_or_conn: Engine | Connection) -> dict[str, int]:
    """Return the current counter of every topic that has ever changed (one small SELECT)."""
    stmt = select(m.ChangeCounter.topic, m.ChangeCounter.version)
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.connect() as conn:
            rows = conn.execute(stmt).all()
    else:
        rows = engine_or_conn.execute(stmt).all()
    return {str(t): int(v) for t, v in rows}


def changed_topics(before: Mapping[str, int], after: Mapping[str, int]) -> set[str]:
    """Topics whose counter differs between two :func:`versions` readings."""
    return {t for t in set(before) | set(after) if before.get(t) != after.get(t)}


def _collect(session: Session, _flush: Any) -> None:
    # ``session.dirty`` is optimistic (an attribute set to the value it had counts): only a
    # net change of a column counts, so a fusion pass that rewrites the same values makes no
    # open dashboard rerun. After a flush the pre-flush history is still there to compare.
    dirty = [o for o in session.dirty if session.is_modified(o, include_collections=False)]
    objs: list[Any] = [*session.new, *dirty, *session.deleted]
    if not objs:
        return
    topics = pending(session)
    for obj in objs:
        topic = TOPIC_OF.get(type(obj))
        if topic == "assignments" and getattr(obj, "state", None) == RECOMMENDED:
            topic = "recommendations"  # the ranking's rows: no route, no active list moves
        if topic is not None:
            topics.add(topic)


def _count(session: Session) -> None:
    session.flush()  # the last flush collects its topics too
    topics = session.info.pop(_PENDING, None)
    if topics:
        bump_now(session.connection(), topics)


def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


_TOPIC_OF_TABLE: dict[str, str] = {
    str(cls.__tablename__): topic for cls, topic in TOPIC_OF.items()
}


def _statement(state: ORMExecuteState) -> None:
    # a Core INSERT / UPDATE / DELETE run through the session (the lifecycle's conditional
    # ``UPDATE units SET status=...``) counts like an ORM write of its table
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    topic = _TOPIC_OF_TABLE.get(str(getattr(table, "name", "")))
    if topic is not None:
        pending(state.session).add(topic)


def track(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Count the changes of every session `factory` makes (idempotent); returns `factory`."""
    for name, fn in (("after_flush", _collect), ("before_commit", _count),
                     ("after_rollback", _forget), ("do_orm_execute", _statement)):
        if not event.contains(factory, name, fn):
            event.listen(factory, name, fn)
    return factory
