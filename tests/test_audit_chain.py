"""The audit log is tamper-evident: a hash chain over every event, verified link by link.

The database refuses UPDATE and DELETE on the log, but whoever owns the database can drop the
triggers first. These tests do exactly that (SQLite ``DROP TRIGGER``, PostgreSQL ``DISABLE
TRIGGER``), then delete, edit, insert or cut back rows; ``winterops audit verify`` must name
the first broken link and exit 1.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, select, text
from typer.testing import CliRunner

from incidents.cli.app import app
from incidents.service.audit import audit, verify_audit_chain, verify_chain
from incidents.store import migrate
from incidents.store.engine import make_engine, session_scope
from incidents.store.engine import session_factory as make_factory
from incidents.store.models import AuditEvent, AuditLink
from incidents.store.models_audit import GENESIS_HASH, event_hash
from incidents.store.runtime import audit_check

runner = CliRunner()
T0 = datetime(2025, 12, 14, 2, 0, tzinfo=UTC)


def _events(factory, n, actor="alice"):
    ids = []
    for i in range(n):
        with session_scope(factory) as s:
            ids.append(
                audit(s, actor, "assignment.confirm", f"task:{i}", details={"i": i, "x": 0.1},
                      at=T0 + timedelta(minutes=i)).id
            )
    return ids


def _untrigger(engine):
    """What an attacker with the database's owner rights does first."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_chain DISABLE TRIGGER USER"))
        else:
            for name in ("audit_events_no_update", "audit_events_no_delete",
                         "audit_chain_no_update", "audit_chain_no_delete"):
                conn.execute(text(f"DROP TRIGGER {name}"))


def _verify(db_url, *extra):
    return runner.invoke(app, ["audit", "verify", "--db", db_url, *extra])


def test_every_event_is_a_link_of_one_chain(engine, session_factory):
    ids = _events(session_factory, 5)
    with session_scope(session_factory) as s:
        links = s.scalars(select(AuditLink).order_by(AuditLink.seq)).all()
        events = {e.id: e for e in s.scalars(select(AuditEvent))}
    assert [link.event_id for link in links] == ids
    assert [link.seq for link in links] == [1, 2, 3, 4, 5]
    prev = GENESIS_HASH
    for link in links:
        ev = events[link.event_id]
        row = {"id": ev.id, "at": ev.at, "actor": ev.actor, "action": ev.action,
               "target": ev.target, "outcome": ev.outcome, "details": ev.details}
        assert link.prev_hash == prev
        assert link.hash == event_hash(link.seq, row, prev)
        prev = link.hash
    with session_scope(session_factory) as s:
        report = verify_chain(s)
    assert report.ok and report.checked == 5 and report.head_hash == prev


def test_verify_cli_says_intact_and_records_when(engine, db_url):
    factory = make_factory(engine)
    _events(factory, 3)
    res = _verify(db_url)
    assert res.exit_code == 0, res.output
    assert "audit chain intact: 3 links" in res.output
    with session_scope(factory) as s:
        check = audit_check(s)
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert check is not None and check.ok and check.head_seq == 3
    assert check.at.tzinfo is not None
    assert last is not None and (last.action, last.outcome) == ("audit.verify", "ok")
    res = _verify(db_url, "--json")  # the verification itself was audited: 4 links now
    assert res.exit_code == 0
    assert json.loads(res.output)["checked"] == 4


def test_a_deleted_event_is_named(engine, db_url):
    factory = make_factory(engine)
    ids = _events(factory, 6)
    _untrigger(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": ids[3]})
    res = _verify(db_url)
    assert res.exit_code == 1
    assert f"event {ids[3]} (link 4) was deleted" in res.output
    res = _verify(db_url, "--json")
    body = json.loads(res.stdout)
    assert (body["ok"], body["broken_seq"], body["broken_event_id"]) == (False, 4, ids[3])
    assert body["checked"] == 3


def test_an_edited_event_is_named(engine, db_url):
    factory = make_factory(engine)
    ids = _events(factory, 4)
    _untrigger(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE id = :i"),
                     {"i": ids[1]})
    res = _verify(db_url)
    assert res.exit_code == 1
    assert f"event {ids[1]} (link 2) was changed after it was written" in res.output


def test_a_deleted_link_and_its_event_leave_a_gap(engine, db_url):
    factory = make_factory(engine)
    ids = _events(factory, 4)
    _untrigger(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_chain WHERE seq = 2"))
        conn.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": ids[1]})
    res = _verify(db_url)
    assert res.exit_code == 1
    assert "link 2 missing before link 3" in res.output


def test_a_forged_event_outside_the_chain_is_named(engine, db_url):
    factory = make_factory(engine)
    _events(factory, 2)
    with engine.begin() as conn:  # a raw insert: no session, no link
        conn.execute(
            text("INSERT INTO audit_events (at, actor, action, target, outcome, details) "
                 "VALUES (:at, 'mallory', 'login', 'user:x', 'ok', '{}')"),
            {"at": T0.replace(tzinfo=None)},
        )
        forged = conn.execute(text("SELECT max(id) FROM audit_events")).scalar()
    res = _verify(db_url)
    assert res.exit_code == 1
    assert f"event {forged} is not in the chain" in res.output


def test_a_chain_cut_back_after_a_verification_is_noticed(engine, db_url):
    factory = make_factory(engine)
    _events(factory, 3)
    assert _verify(db_url).exit_code == 0  # verified head: link 3 (its own event is link 4)
    _untrigger(engine)
    with engine.begin() as conn:  # cut back to link 2: a consistent, shorter chain
        gone = conn.execute(text("SELECT event_id FROM audit_chain WHERE seq >= 3")).scalars()
        conn.execute(text("DELETE FROM audit_events WHERE id IN :ids").bindparams(
            bindparam("ids", expanding=True)), {"ids": list(gone)})
        conn.execute(text("DELETE FROM audit_chain WHERE seq >= 3"))
    res = _verify(db_url)
    assert res.exit_code == 1
    assert "links were removed from its end" in res.output


def test_rolled_back_events_and_savepoints_leave_the_chain_whole(session_factory):
    _events(session_factory, 1)
    s = session_factory()
    audit(s, "bob", "x", None)
    s.rollback()
    s.close()
    with session_scope(session_factory) as s:
        audit(s, "carol", "kept", None)
        nested = s.begin_nested()
        audit(s, "carol", "dropped", None)
        nested.rollback()
        audit(s, "carol", "kept-too", None)
    with session_scope(session_factory) as s:
        report = verify_chain(s)
        actions = [
            a for (a,) in s.execute(
                select(AuditEvent.action).join(AuditLink, AuditLink.event_id == AuditEvent.id)
                .order_by(AuditLink.seq)
            )
        ]
    assert report.ok, report.problem
    assert actions == ["assignment.confirm", "kept", "kept-too"]


def test_concurrent_writers_append_one_chain(engine, session_factory):
    """Eight threads, each 25 transactions of 1-3 events: one unbroken chain of every event."""
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(25):
                with session_scope(session_factory) as s:
                    for j in range(1 + (i + k) % 3):
                        audit(s, f"w{k}", "race", f"t:{i}:{j}", details={"k": k})
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    expected = sum(1 + (i + k) % 3 for k in range(8) for i in range(25))
    with session_scope(session_factory) as s:
        report = verify_chain(s)
        n_events = s.scalar(select(text("count(*)")).select_from(AuditEvent))
    assert report.ok, report.problem
    assert report.checked == n_events == expected


def test_verify_is_for_admins_only(session_factory):
    from incidents.errors import PermissionDenied
    from incidents.service.users import create_user

    with session_scope(session_factory) as s:
        create_user(s, "dana", "a-long-enough-pass", "dispatcher")
    with session_scope(session_factory) as s, pytest.raises(PermissionDenied):
        verify_audit_chain(s, "dana")


def test_the_upgrade_chains_events_logged_before_it(db_url):
    eng = make_engine(db_url)
    try:
        migrate.upgrade(eng, "0002")
        with eng.begin() as conn:
            for i in range(3):
                conn.execute(
                    text("INSERT INTO audit_events (at, actor, action, target, outcome, details) "
                         "VALUES (:at, 'old', 'login', NULL, 'ok', :d)"),
                    {"at": (T0 + timedelta(seconds=i)).replace(tzinfo=None)
                     if eng.dialect.name == "sqlite" else T0 + timedelta(seconds=i),
                     "d": json.dumps({"i": i})},
                )
        migrate.upgrade(eng)
        factory = make_factory(eng)
        with session_scope(factory) as s:
            assert verify_chain(s).checked == 3
        _events(factory, 2)
        with session_scope(factory) as s:
            report = verify_chain(s)
        assert report.ok and report.checked == 5
    finally:
        eng.dispose()


def test_exports_from_the_command_line_are_audited(engine, db_url, tmp_path):
    out = tmp_path / "incidents.geojson"
    res = runner.invoke(app, ["export", "geojson", "--out", str(out), "--db", db_url])
    assert res.exit_code == 0, res.output
    factory = make_factory(engine)
    with session_scope(factory) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "export")).one()
        assert verify_chain(s).ok
    assert ev.target == "export:geojson"
    assert ev.actor.startswith("cli")
    assert ev.details["out"] == str(out)
    assert ev.details["bytes"] == out.stat().st_size
