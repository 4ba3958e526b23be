"""The worker against a real local HTTP server: store + fuse, the fuse lease, SIGTERM, restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from incidents.cli.app import app
from incidents.live import FUSE_LEASE, Worker, claim_lease, live_workers, release_lease, save_feed
from incidents.store.engine import make_engine, session_scope
from incidents.store.engine import session_factory as make_factory
from incidents.store.models import FeedStatus, Incident, RawPayload, Report, WorkerLease
from incidents.store.region import load_region_into_db
from tests.fusion_region import tiny_region
from tests.test_pipeline import calls_csv

ROOT = Path(__file__).resolve().parents[1]


class Feed(BaseHTTPRequestHandler):
    """Serves ``Feed.bodies[path]`` with an ETag (304 on If-None-Match)."""

    bodies: dict[str, bytes] = {}
    hits: Counter[str] = Counter()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.hits[self.path] += 1
        body = self.bodies.get(self.path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[str]:
    Feed.bodies, Feed.hits = {}, Counter()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, session_factory, settings):
    """The tiny region in WINTEROPS_DATA_DIR and in the database; returns (region, settings)."""
    monkeypatch.setenv("WINTEROPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WINTEROPS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("WINTEROPS_DATABASE_URL", raising=False)
    region = tiny_region(tmp_path / "data" / "region")
    with session_scope(session_factory) as s:
        load_region_into_db(s, region)
    return region, replace(settings, data_dir=tmp_path / "data")


def n(session_factory, model, *where) -> int:
    with session_scope(session_factory) as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_worker_once_polls_saved_feeds_stores_and_fuses(live, server, db_url, session_factory):
    region, _ = live
    Feed.bodies["/calls.csv"] = calls_csv(region, [("ZH-1001", 4.0, 6), ("ZH-1002", 28.0, 3)])
    with session_scope(session_factory) as s:
        save_feed(s, name="calls-http", kind="calls", source=f"{server}/calls.csv", interval_s=60)
        save_feed(s, name="off", kind="calls", source=f"{server}/off.csv", interval_s=60,
                  enabled=False)
    runner = CliRunner()
    res = runner.invoke(app, ["worker", "--once", "--db", db_url])
    assert res.exit_code == 0, res.output
    assert "cycle 1: calls +2 reports, fused 2 incidents (2 new)" in res.stdout
    assert "calls-http: ok, 2 accepted" in res.stdout
    assert n(session_factory, Incident) == 2 and Feed.hits["/off.csv"] == 0
    with session_scope(session_factory) as s:
        st = s.get(FeedStatus, "calls-http")
        assert st is not None and st.last_success and st.last_change and st.etag
        lease = s.get(WorkerLease, FUSE_LEASE)
        assert lease is not None and lease.expires_at <= datetime.now(UTC)  # released
        assert lease.state["last"]["fused"] is True
        assert live_workers(s) == []  # stopped: no live heartbeat
    # a restarted worker resumes: a conditional GET (304) stores nothing and fuses nothing new
    raw = n(session_factory, RawPayload)
    again = runner.invoke(app, ["ingest", "watch", "--once", "--db", db_url])
    assert again.exit_code == 0, again.output
    assert "calls-http: ok, 0 accepted" in again.stdout
    assert n(session_factory, Report) == 2 and n(session_factory, RawPayload) == raw
    assert n(session_factory, Incident) == 2
    # the feed changes: only the new call is stored, the old one is a duplicate
    Feed.bodies["/calls.csv"] = calls_csv(
        region, [("ZH-1001", 4.0, 6), ("ZH-1002", 28.0, 3), ("ZH-1003", 12.0, 1)]
    )
    third = runner.invoke(app, ["worker", "--once", "--db", db_url])
    assert "calls-http: ok, 1 accepted, 2 duplicates" in third.stdout, third.output
    assert n(session_factory, Report) == 3 and n(session_factory, Incident) == 3


def test_two_workers_never_both_fuse(live, server, db_url, session_factory, settings):
    region, st = live
    Feed.bodies["/c.csv"] = calls_csv(region, [("ZH-2001", 6.0, 2)])
    with session_scope(session_factory) as s:
        save_feed(s, name="c", kind="calls", source=f"{server}/c.csv", interval_s=1)
    engines = [make_engine(db_url) for _ in range(2)]
    workers = [
        Worker(make_factory(e), region, st, fuse_every_s=0.2, tick_s=0.1, lease_s=5,
               holder=f"w{i}")
        for i, e in enumerate(engines)
    ]
    assert workers[0].cycle().fused  # w0 holds the lease first
    results: dict[str, list] = {}

    def go(w: Worker, cycles: int) -> None:
        results[w.holder] = w.run(max_cycles=cycles)

    # w1 stops long before w0 lets go of the lease, so it must stand by the whole time
    threads = [threading.Thread(target=go, args=(w, c)) for w, c in zip(workers, (40, 10))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for e in engines:
        e.dispose()
    fusers = {h for h, reps in results.items() if any(r.fused for r in reps)}
    pollers = {h for h, reps in results.items() if any(r.polled for r in reps)}
    assert len(fusers) == 1 and pollers == fusers, results
    assert fusers == {"w0"}
    assert results["w1"] and all(not r.active and r.holder_seen == "w0" for r in results["w1"])
    assert sum(r.fused for r in results["w0"]) >= 3  # the clock advances: fused again and again
    assert n(session_factory, Incident) == 1


def test_lease_claim_is_exclusive_until_released_or_expired(session_factory):
    with session_scope(session_factory) as s:
        assert claim_lease(s, "fuse", "a", 30)
        assert claim_lease(s, "fuse", "a", 30)  # renew
    with session_scope(session_factory) as s:
        assert not claim_lease(s, "fuse", "b", 30)
        assert release_lease(s, "fuse", "a") and not release_lease(s, "fuse", "b")
    with session_scope(session_factory) as s:
        assert claim_lease(s, "fuse", "b", 0.001)
    time.sleep(0.05)
    with session_scope(session_factory) as s:  # b's lease ran out: a may take it
        assert claim_lease(s, "fuse", "a", 30)


def test_sigterm_stops_the_worker_and_releases_the_lease(live, server, db_url, session_factory,
                                                         tmp_path):
    region, _ = live
    Feed.bodies["/s.csv"] = calls_csv(region, [("ZH-3001", 9.0, 2)])
    with session_scope(session_factory) as s:
        save_feed(s, name="s", kind="calls", source=f"{server}/s.csv", interval_s=1)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "incidents", "worker", "--interval-s", "1", "--db", db_url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("cycle 2:") or not line:
            break
    assert any(x.startswith("cycle 1: calls +1 reports") for x in lines), lines
    with session_scope(session_factory) as s:
        lease = s.get(WorkerLease, FUSE_LEASE)
        assert lease is not None and lease.expires_at > datetime.now(UTC)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)  # stops after the current step, not at the next feed
    assert proc.returncode == 0, out
    assert "SIGTERM" in out
    with session_scope(session_factory) as s:
        lease = s.get(WorkerLease, FUSE_LEASE)
        assert lease is not None and lease.expires_at <= datetime.now(UTC)
        assert claim_lease(s, FUSE_LEASE, "next", 30)  # another worker may take over at once
    assert n(session_factory, Report) == 1 and n(session_factory, Incident) == 1


def test_a_change_re_ranks_within_a_tick_without_a_fuse(tmp_path, session_factory, settings):
    """A unit going off duty (a dispatcher, a tablet) re-ranks at the next tick, not at the next
    fuse; a tick with no change ranks nothing."""
    from incidents.live import ingest_result
    from incidents.store.models import Assignment, Unit
    from incidents.store.region import load_region_into_db
    from ingest.runner import parse_payload
    from tests.fusion_region import tiny_region
    from tests.test_pipeline import calls_csv

    region = tiny_region(tmp_path / "region")
    with session_scope(session_factory) as s:
        load_region_into_db(s, region)
    parsed = parse_payload("calls", calls_csv(region, [("ZH-0401", 3.0, 5)]), "c.csv", region)
    ingest_result(session_factory, region, settings, "calls", parsed)
    worker = Worker(session_factory, region, settings, fuse_every_s=3600.0)
    try:
        first = worker.cycle()
        assert first.fused and first.ranked  # the first cycle fuses and ranks
        idle = worker.cycle()
        assert not idle.fused and not idle.ranked, "nothing changed: nothing ranked"
        with session_scope(session_factory) as s:
            rec = s.scalars(select(Assignment).where(Assignment.state == "recommended")).first()
            assert rec is not None, "the ranking was stored"
            s.get(Unit, rec.unit_id).status = "off_duty"
            gone = rec.unit_id
        after = worker.cycle()
        assert after.ranked and not after.fused, after.line()
        with session_scope(session_factory) as s:
            left = s.scalars(select(Assignment).where(Assignment.state == "recommended",
                                                      Assignment.unit_id == gone)).all()
        assert left == [], "the off-duty unit's recommendation is gone within a tick"
    finally:
        worker.close()
