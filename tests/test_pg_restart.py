"""PostgreSQL restarted under a running worker and under a dashboard session (issue 15).

The shared test PostGIS is used by every other test run on the machine, so these tests start
their OWN throwaway PostgreSQL (``initdb`` into a temporary folder, a free port, ``fsync=off``)
with the installed PostGIS extension, and stop and start that one. As root (CI: ``.ci/run``)
the server runs as the ``postgres`` user (``runuser``); otherwise as the current user. Skipped
when ``initdb``/``pg_ctl`` are not there (``WINTEROPS_PG_BIN``, default
``/usr/lib/postgresql/15/bin``) or PostGIS is not installed for that server.

* the worker: a calls feed over HTTP (ETag, 304 on If-None-Match); the database goes down
  while the worker is inside a poll (the feed answered, the reports not yet stored); the worker
  keeps running, says "database connection lost, retrying", and its first cycle after the
  restart stores the new calls: every call exactly once, none lost, none doubled;
* the dashboard: ``winterops serve`` + Chromium, a dispatcher on the dispatch page; the
  database goes down: the page shows the translated "database connection lost, retrying";
  it comes back: the message goes and the page draws again, with no reload.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from incidents.live import Worker, save_feed
from incidents.settings import Settings
from incidents.store.engine import init_db, make_engine, session_factory, session_scope
from incidents.store.models import FeedStatus, Report
from incidents.store.region import load_region_into_db
from tests.fusion_region import tiny_region
from tests.test_pipeline import calls_csv

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = Path(os.environ.get("WINTEROPS_PG_BIN", "/usr/lib/postgresql/15/bin"))
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, ok: Callable[[], bool], timeout_s: float, step_s: float = 0.1) -> float:
    """Wait until `ok()`; return the seconds it took (fail after `timeout_s`)."""
    t0 = time.monotonic()
    while not ok():
        if time.monotonic() - t0 > timeout_s:
            pytest.fail(f"{what}: not within {timeout_s:g} s")
        time.sleep(step_s)
    return time.monotonic() - t0


class Throwaway:
    """A PostgreSQL server of our own in `root`, on `port`; root runs it as ``postgres``."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.data, self.log = root / "data", root / "server.log"
        self.as_postgres = os.geteuid() == 0

    def _run(self, *args: str, timeout: float = 120) -> None:
        cmd = [str(a) for a in args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if res.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)}: {res.stdout}{res.stderr}{log}")

    def init(self) -> None:
        if self.as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run(PG_BIN / "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off -c max_connections=60")
        self._run(PG_BIN / "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts,
                  "-w", "-t", "90", "start")

    def stop(self, mode: str = "immediate") -> None:
        self._run(PG_BIN / "pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def create_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname={name}",
                             autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return self.url(name)


@pytest.fixture(scope="module")
def pg() -> Iterator[Throwaway]:
    """A throwaway PostgreSQL + PostGIS of this module's own (never the shared test server)."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).is_file():
            pytest.skip(f"{PG_BIN / tool} not installed (PostgreSQL server binaries)")
    share = subprocess.run([str(PG_BIN / "pg_config"), "--sharedir"], capture_output=True,
                           text=True, check=False).stdout.strip()
    if not share or not (Path(share) / "extension" / "postgis.control").is_file():
        pytest.skip(f"PostGIS is not installed for the server in {PG_BIN}")
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _has_user("postgres")):
        pytest.skip("running as root needs the postgres user and runuser to run initdb")
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="winterops-pg-"))  # /tmp: reachable by postgres
    server = Throwaway(root, _free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            server.stop("immediate")
        except Exception:  # noqa: BLE001 - already stopped, or never started
            pass
        shutil.rmtree(root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# ------------------------------------------------------------------------------------ worker


class Gate(BaseHTTPRequestHandler):
    """Serves ``Gate.body`` with an ETag; while ``hold`` is set a GET waits for ``release``."""

    body: bytes = b""
    hold = threading.Event()
    fetching = threading.Event()
    release = threading.Event()
    answered: list[int] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = Gate.body
        etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
        if Gate.hold.is_set():
            Gate.fetching.set()  # the worker is inside its poll now
            Gate.release.wait(60)
        if self.headers.get("If-None-Match") == etag:
            Gate.answered.append(304)
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        Gate.answered.append(200)
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def feed_server() -> Iterator[str]:
    Gate.body, Gate.answered = b"", []
    for ev in (Gate.hold, Gate.fetching, Gate.release):
        ev.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Gate)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/calls.csv"
    finally:
        Gate.release.set()
        httpd.shutdown()
        httpd.server_close()


def _reports(factory: Any) -> tuple[int, int]:
    with session_scope(factory) as s:
        n = s.scalar(select(func.count()).select_from(Report)) or 0
        keys = s.scalar(select(func.count(func.distinct(Report.natural_key)))) or 0
    return int(n), int(keys)


def test_worker_resumes_after_postgres_restart_mid_ingest(
    pg: Throwaway, feed_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WINTEROPS_DATA_DIR", str(tmp_path / "data"))
    url = pg.create_db("worker_restart")
    engine = make_engine(url)
    init_db(engine)
    factory = session_factory(engine)
    region = tiny_region(tmp_path / "data" / "region")
    with session_scope(factory) as s:
        load_region_into_db(s, region)
        save_feed(s, name="calls", kind="calls", source=feed_server, interval_s=1)
    settings = replace(Settings.from_env({}), database_url=url, var_dir=tmp_path / "var",
                       data_dir=tmp_path / "data")
    first = [("ZH-3001", 4.0, 6), ("ZH-3002", 12.0, 5), ("ZH-3003", 28.0, 4)]
    later = [("ZH-3004", 6.0, 2), ("ZH-3005", 20.0, 1)]
    Gate.body = calls_csv(region, first)
    lines: list[str] = []
    worker = Worker(factory, region, settings, fuse_every_s=600, tick_s=0.2, retry_s=0.5)
    thread = threading.Thread(target=worker.run, kwargs={"echo": lines.append}, daemon=True)
    thread.start()
    try:
        _wait("first poll stored", lambda: _reports(factory) == (3, 3), 120)
        # the feed changes; the next poll blocks inside the fetch until the database is down
        Gate.body = calls_csv(region, first + later)
        Gate.hold.set()
        _wait("worker polling again", Gate.fetching.is_set, 60, 0.02)
        pg.stop("immediate")  # a crash-like restart: every connection cut at once
        Gate.hold.clear()
        Gate.release.set()  # the worker now holds the new body and cannot store it
        _wait("worker noticed", lambda: worker.db_lost_at is not None, 60)
        time.sleep(2.0)  # a few retries against a database that is not there
        assert thread.is_alive(), lines
        assert any("database connection lost, retrying" in ln for ln in lines), lines
        pg.start()
        took = _wait("new calls stored after the restart", lambda: _reports(factory) == (5, 5),
                     120, 0.2)
    finally:
        worker.stop()
        thread.join(timeout=60)
    print(f"\npg restart mid-ingest: reports stored {took:.1f} s after the server was back; "
          + " | ".join(lines))
    assert not thread.is_alive()
    assert _reports(factory) == (5, 5)  # none lost, none doubled
    assert worker.outages == 1 and worker.db_lost_at is None
    back = next(i for i, ln in enumerate(lines) if "database back after" in ln)
    assert any("calls +2 reports" in ln for ln in lines[back:]), lines  # the next cycle stored
    assert 200 in Gate.answered[-3:], Gate.answered  # fetched again, not a 304 on a lost body
    with session_scope(factory) as s:
        status = s.get(FeedStatus, "calls")
        assert status is not None and status.last_error in (None, "")
        assert status.etag == f'"{hash(Gate.body) & 0xFFFFFFFF:x}"'
    engine.dispose()


# ------------------------------------------------------------------------------------ dashboard


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_dashboard_says_database_lost_and_recovers(pg: Throwaway, tmp_path: Path) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not installed (make browser-deps)")
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import sync_playwright

    from dashboard.i18n import t
    from tests.test_browser import Session
    from tests.test_dashboard_apptest import seed_fixture

    url = pg.create_db("dashboard_restart")
    seed_fixture(url, tmp_path / "var", storm=False)
    port = int(os.environ.get("WINTEROPS_TEST_SERVE_PORT") or _free_port())
    env = dict(os.environ, WINTEROPS_DATABASE_URL=url, WINTEROPS_VAR_DIR=str(tmp_path / "var"))
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "incidents.cli.app", "serve", "--port", str(port), "--db", url],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://localhost:{port}"
    lost_zh = t("ops.db_lost", "zh")
    try:
        def healthy() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"serve exited: {(tmp_path / 'serve.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1):  # noqa: S310
                    return True
            except OSError:
                return False

        _wait("winterops serve up", healthy, 90, 0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu",
                      "--disable-background-networking", "--disable-component-update"],
            )
            session = Session(browser, base, {"width": 1600, "height": 1000})
            page = session.page
            session.login("dispatcher")
            page.get_by_text(t("page.dispatch", "zh")).first.wait_for(timeout=60_000)
            session.map_frame(timeout_s=180)  # the console has drawn whole (the map last)
            session.settle(5000)
            assert page.get_by_text(lost_zh).count() == 0
            assert page.locator("[data-testid='stException']").count() == 0
            pg.stop("fast")
            t0 = time.monotonic()
            try:
                page.get_by_text(lost_zh).first.wait_for(timeout=60_000)
            except Exception:
                session.shot("pg_restart_not_said")
                raise
            said = time.monotonic() - t0
            session.shot("pg_restart_lost")
            time.sleep(2.0)  # the outage goes on: the page keeps saying so
            assert page.get_by_text(lost_zh).count() >= 1
            # a part that was drawing when the server went (the page ranks by itself when no
            # worker runs) shows Streamlit's error box until the page redraws after the outage
            broken = page.locator("[data-testid='stException']").count()
            pg.start()
            t1 = time.monotonic()
            page.get_by_text(lost_zh).first.wait_for(state="detached", timeout=90_000)
            back = time.monotonic() - t1
            session.settle()
            session.shot("pg_restart_back")
            # the page drew again by itself: the console is there, no error left behind
            page.get_by_text(t("page.dispatch", "zh")).first.wait_for(timeout=30_000)
            session.map_frame(timeout_s=120)
            assert page.get_by_text(lost_zh).count() == 0
            assert page.locator("[data-testid='stException']").count() == 0
            error = t("common.db_error", "zh", error="").strip()
            assert page.get_by_text(error).count() == 0
            assert page.locator("input[type='password']").count() == 0  # still logged in
            assert session.outside == [] and session.dialogs == []
            session.close()
            browser.close()
        print(f"\npg restart under the dashboard: 'connection lost' shown {said:.1f} s after "
              f"the stop, gone {back:.1f} s after the start ({broken} part(s) caught mid-draw "
              "by the stop, redrawn after it)")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
