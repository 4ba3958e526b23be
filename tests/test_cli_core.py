"""The winterops command line: help, users add (prompt/stdin, never an argument), placeholders,
demo."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from incidents.cli.app import app
from incidents.errors import AuthError
from incidents.service.users import authenticate
from incidents.store.engine import session_scope
from incidents.store.models import Assignment, AuditEvent, Incident, Unit, User
from tests.conftest import REPO_ROOT

runner = CliRunner()
CONTRACT_COMMANDS = ("demo", "serve", "users", "locate", "ingest", "hotspots", "recommend",
                     "simulate", "export", "worker")


@pytest.fixture(autouse=True)
def _no_database_from_env(monkeypatch, tmp_path):
    # without --db the commands would use this empty database, never the developer's
    monkeypatch.setenv("WINTEROPS_DATABASE_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")


def test_help_lists_the_contract_commands():
    proc = subprocess.run(
        [sys.executable, "-m", "incidents", "--help"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for command in CONTRACT_COMMANDS:
        assert command in proc.stdout
    assert "--db" in proc.stdout
    users_help = runner.invoke(app, ["users", "add", "--help"])
    assert users_help.exit_code == 0
    assert "--password-stdin" in users_help.output and "--role" in users_help.output


def test_users_add_from_stdin_then_login_works(db_url, session_factory):
    result = runner.invoke(
        app,
        ["users", "add", "dora", "--role", "dispatcher", "--password-stdin", "--db", db_url],
        input="cold-and-dark\n",
    )
    assert result.exit_code == 0, result.output
    assert "added dispatcher dora" in result.output
    with session_scope(session_factory) as s:
        assert authenticate(s, "dora", "cold-and-dark").username == "dora"
    with pytest.raises(AuthError), session_scope(session_factory) as s:
        authenticate(s, "dora", "cold-and-dark\n")
    listed = runner.invoke(app, ["--db", db_url, "users", "list", "--json"])  # global --db
    assert listed.exit_code == 0, listed.output
    assert [u["username"] for u in json.loads(listed.output)] == ["dora"]


def test_users_add_refuses_without_a_terminal_or_stdin(db_url, session_factory):
    result = runner.invoke(app, ["users", "add", "eve", "--role", "admin", "--db", db_url], input="")
    assert result.exit_code == 2
    assert "--password-stdin" in result.output
    with session_scope(session_factory) as s:
        assert s.scalar(select(func.count()).select_from(User)) == 0


def test_password_is_never_an_argument(sqlite_url):
    result = runner.invoke(
        app, ["users", "add", "eve", "--role", "admin", "--password", "hunter2-hunter2",
              "--db", sqlite_url]
    )
    assert result.exit_code == 2  # no such option
    assert "No such option" in result.output


def test_users_add_bad_arguments_exit_2(sqlite_url):
    cases = [
        (["users", "add", "pl", "--role", "patrol_lead"], "must be bound to a unit"),
        (["users", "add", "pl", "--role", "patrol_lead", "--unit", "NO-SUCH"], "'NO-SUCH'"),
        (["users", "add", "x", "--role", "king"], "king"),
    ]
    for args, expected in cases:
        result = runner.invoke(app, [*args, "--password-stdin", "--db", sqlite_url],
                               input="long-enough-pw\n")
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output
    short = runner.invoke(app, ["users", "add", "y", "--role", "admin", "--password-stdin",
                                "--db", sqlite_url], input="short\n")
    assert short.exit_code == 2 and "too short" in short.output


def test_demo_loads_units_and_users(db_url, engine, session_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("WINTEROPS_VAR_DIR", str(tmp_path / "var"))
    result = runner.invoke(app, ["demo", "--no-storm", "--json", "--db", db_url])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["region"]["units"] > 0 and summary["region"]["segments"] > 0
    with session_scope(session_factory) as s:
        n_units = s.scalar(select(func.count()).select_from(Unit))
        users = {u.username: (u.role, u.unit_id) for u in s.scalars(select(User))}
        patrol_unit = s.get(Unit, users["patrol"][1])
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "demo.load")).first()
    assert n_units == summary["region"]["units"]
    assert users["dispatcher"] == ("dispatcher", None)
    assert users["admin"] == ("admin", None)
    assert users["patrol"][0] == "patrol_lead"
    assert patrol_unit is not None and patrol_unit.vehicle_class == "patrol_car"
    with session_scope(session_factory) as s:
        assert authenticate(s, "patrol", "winter-patrol").username == "patrol"
    again = runner.invoke(app, ["demo", "--if-empty", "--db", db_url])
    assert again.exit_code == 0, again.output
    assert "nothing loaded" in again.output
    with session_scope(session_factory) as s:
        assert s.scalar(select(func.count()).select_from(Unit)) == n_units
        s.add(User(username="temp", password_hash="x", role="admin"))
        s.get(Unit, users["patrol"][1]).status = "on_scene"
    # --reset starts over: the extra user is gone, the units are fresh
    reset = runner.invoke(app, ["demo", "--reset", "--no-storm", "--db", db_url])
    assert reset.exit_code == 0, reset.output
    engine.dispose()  # SQLite: the old file was deleted; reconnect to the new one
    with session_scope(session_factory) as s:
        assert s.scalar(select(func.count()).select_from(Unit)) == n_units
        assert s.get(Unit, users["patrol"][1]).status == "available"
        assert sorted(s.scalars(select(User.username))) == ["admin", "dispatcher", "patrol"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_starts_the_dashboard(sqlite_url, tmp_path):
    import time
    import urllib.request

    from incidents.store.engine import make_engine
    from incidents.store.migrate import current_revision, head_revision

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "incidents", "serve", "--port", str(port), "--db", sqlite_url],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    health = r.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert health == "ok", f"exit={proc.poll()}"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}" in out  # loopback only unless --address (issue 15)
    eng = make_engine(sqlite_url)  # serve brought the schema up to date before starting
    try:
        assert current_revision(eng) == head_revision()
    finally:
        eng.dispose()


def test_unusable_database_urls(tmp_path):
    for url in ("garbage", "mysql://x/y"):
        result = runner.invoke(app, ["--db", url, "users", "list"])
        assert result.exit_code == 2, result.output
        assert "database URL" in result.output
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    result = runner.invoke(app, ["users", "list", "--db", unreachable])
    assert result.exit_code == 1
    assert "cannot open database" in result.output


@pytest.mark.slow
def test_make_run_demo_loads_the_storm(sqlite_url, tmp_path, monkeypatch):
    """What `make run` does first: the whole demo, storm included, into an empty SQLite file."""
    pytest.importorskip("incidents.replay.storm")
    from incidents.store.engine import make_engine, session_factory

    monkeypatch.setenv("WINTEROPS_VAR_DIR", str(tmp_path / "var"))
    result = runner.invoke(app, ["demo", "--if-empty", "--db", sqlite_url])
    assert result.exit_code == 0, result.output
    assert "storm: " in result.output and "not available" not in result.output
    eng = make_engine(sqlite_url)
    try:
        with session_scope(session_factory(eng)) as s:
            assert s.scalar(select(func.count()).select_from(Incident)) > 0
            assert s.scalar(select(func.count()).select_from(Assignment)) > 0
            assert s.scalar(select(func.count()).select_from(User)) == 3
    finally:
        eng.dispose()
