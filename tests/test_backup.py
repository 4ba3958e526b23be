"""``winterops backup`` / ``restore`` / ``db``: a real round trip on SQLite and on PostGIS.

The demo database is backed up, changed (a user added, a unit moved on, audit events written),
restored, and compared with what was backed up: rows per table and the audit log's head (the
newest event, every column, so a hash-chain column is compared too) and a digest of the whole
log.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, Table, select
from typer.testing import CliRunner

from incidents.cli.app import app
from incidents.cli.backup import BackupError, backup_database, restore_database, row_counts
from incidents.replay.demo import load_demo
from incidents.service.audit import audit, verify_chain
from incidents.store import migrate
from incidents.store.engine import session_factory as make_factory
from incidents.store.engine import session_scope
from incidents.store.models import Unit, User

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_database_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("WINTEROPS_DATABASE_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    monkeypatch.setenv("WINTEROPS_VAR_DIR", str(tmp_path / "var"))


def audit_log(engine: Engine) -> tuple[dict[str, Any], str, int]:
    """The newest audit event (every column), a sha256 of the whole log in id order, its size."""
    table = Table("audit_events", MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c.id))]
    digest = hashlib.sha256(repr([sorted(r.items()) for r in rows]).encode()).hexdigest()
    return rows[-1], digest, len(rows)


@pytest.fixture
def demo_db(engine, settings) -> Engine:
    load_demo(engine, settings, storm=True)
    return engine


def _change(engine: Engine) -> tuple[str, str]:
    """Add a user, move a unit on, audit it; returns the unit and its status before."""
    factory = make_factory(engine)
    with session_scope(factory) as s:
        s.add(User(username="after-backup", password_hash="x", role="admin"))
        unit = s.scalars(select(Unit).order_by(Unit.id)).first()
        assert unit is not None
        before = unit.status
        unit.status = "available" if before != "available" else "out_of_service"
        audit(s, "test", "user.add", "after-backup", details={"note": "made after the backup"})
        return unit.id, before


def test_backup_change_restore_gives_back_the_backup(demo_db, db_url, tmp_path):
    counts = row_counts(demo_db)
    head, digest, n_events = audit_log(demo_db)
    assert counts["units"] > 0 and counts["audit_events"] == n_events > 0
    out = tmp_path / "before.backup"

    res = runner.invoke(app, ["backup", str(out), "--db", db_url])
    assert res.exit_code == 0, res.output
    assert f"{sum(counts.values())} rows" in res.output and out.stat().st_size > 0

    unit_id, status_before = _change(demo_db)
    changed = row_counts(demo_db)
    assert changed["users"] == counts["users"] + 1
    assert audit_log(demo_db)[2] == n_events + 1

    refused = runner.invoke(app, ["restore", str(out), "--db", db_url])
    assert refused.exit_code == 1
    assert "not empty" in refused.output and "--force" in refused.output
    assert row_counts(demo_db) == changed  # nothing touched

    res = runner.invoke(app, ["restore", str(out), "--force", "--db", db_url])
    assert res.exit_code == 0, res.output
    demo_db.dispose()
    assert row_counts(demo_db) == counts
    assert audit_log(demo_db) == (head, digest, n_events)
    factory = make_factory(demo_db)
    with session_scope(factory) as s:
        assert s.scalars(select(User).where(User.username == "after-backup")).first() is None
        restored_unit = s.get(Unit, unit_id)
        assert restored_unit is not None and restored_unit.status == status_before
        chain = verify_chain(s)  # the hash chain came back whole, up to the backup's last event
    assert chain.ok and chain.checked == n_events, chain.problem
    # the restored log is still append-only (the triggers came back with it)
    log = Table("audit_events", MetaData(), autoload_with=demo_db)
    with pytest.raises(Exception, match="(?i)audit|refused|append"):
        with demo_db.begin() as conn:
            conn.execute(log.delete())


def test_backup_refuses_to_overwrite_and_restore_checks_the_file(demo_db, db_url, tmp_path):
    out = tmp_path / "b.backup"
    out.write_text("keep me")
    res = runner.invoke(app, ["backup", str(out), "--db", db_url])
    assert res.exit_code == 1 and "exists" in res.output and out.read_text() == "keep me"
    res = runner.invoke(app, ["restore", str(out), "--force", "--db", db_url])
    assert res.exit_code == 1 and "not a winterops" in res.output
    res = runner.invoke(app, ["restore", str(tmp_path / "missing"), "--db", db_url])
    assert res.exit_code == 1 and "no backup file" in res.output
    assert row_counts(demo_db)["units"] > 0


def test_sqlite_restore_into_a_new_file_and_a_backup_from_a_newer_version(
    demo_db, sqlite_url, tmp_path
):
    if demo_db.dialect.name != "sqlite":
        pytest.skip("SQLite file handling")
    out = tmp_path / "demo.sqlite"
    counts = backup_database(demo_db, out)
    fresh = tmp_path / "fresh" / "winterops.db"
    res = runner.invoke(app, ["restore", str(out), "--db", f"sqlite:///{fresh}"])
    assert res.exit_code == 0, res.output
    conn = sqlite3.connect(fresh)
    try:
        assert conn.execute("SELECT count(*) FROM units").fetchone()[0] == counts["units"]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # a backup made by a newer winterops (a revision this one does not know) is refused
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(BackupError, match="9999"):
        restore_database(demo_db, fresh, force=True)


def test_db_current_downgrade_upgrade(engine, db_url):
    head = migrate.head_revision()
    res = runner.invoke(app, ["db", "current", "--db", db_url])
    assert res.exit_code == 0 and f"database: {head}" in res.output
    res = runner.invoke(app, ["db", "downgrade", "0002", "--db", db_url])
    assert res.exit_code == 0, res.output
    assert migrate.current_revision(engine) == "0002"
    res = runner.invoke(app, ["db", "upgrade", "--db", db_url])
    assert res.exit_code == 0, res.output
    assert migrate.current_revision(engine) == head
    assert migrate.schema_differences(engine) == []
    assert runner.invoke(app, ["db", "downgrade", "nope", "--db", db_url]).exit_code == 2


@pytest.mark.postgis
def test_postgres_tools_missing_is_a_clear_error(demo_db, tmp_path, monkeypatch):
    if demo_db.dialect.name != "postgresql":
        pytest.skip("pg_dump is for PostgreSQL")
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))
    with pytest.raises(BackupError, match="pg_dump is not on PATH.*postgresql-client"):
        backup_database(demo_db, tmp_path / "x.dump")
    assert not (tmp_path / "x.dump").exists()


def test_the_whole_log_digest_sees_a_change(demo_db):
    _, digest, _ = audit_log(demo_db)
    _change(demo_db)
    assert audit_log(demo_db)[1] != digest
