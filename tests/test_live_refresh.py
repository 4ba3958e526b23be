"""Live refresh: a write in another process reaches the dashboard's version watch within 2 s
(LISTEN/NOTIFY on PostGIS, the counter table on SQLite), and only the parts showing the
changed topics are due to rerun."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from dashboard.live import VersionWatch, due_parts
from incidents.store import changes
from incidents.store.engine import session_scope
from incidents.store.models import Unit

ROOT = Path(__file__).resolve().parents[1]
WRITER = """
import sys
from incidents.store.engine import make_engine, session_factory, session_scope
from incidents.store.models import Unit
engine = make_engine(sys.argv[1])
with session_scope(session_factory(engine)) as s:
    s.get(Unit, "LIVE-1").status = sys.argv[2]
engine.dispose()
"""


def _write_in_other_process(url: str, status: str) -> None:
    subprocess.run([sys.executable, "-c", WRITER, url, status], cwd=ROOT, check=True,
                   timeout=60)


def _wait_for(watch: VersionWatch, topic: str, above: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    seen = watch.versions().get(topic, 0)
    while seen <= above and time.monotonic() < deadline:
        time.sleep(0.02)
        seen = watch.versions().get(topic, 0)
    return seen


def test_watch_sees_a_write_from_another_process(db_url, engine, session_factory):
    with session_scope(session_factory) as s:
        s.add(Unit(id="LIVE-1", name="LIVE-1", vehicle_class="patrol_car", capabilities=[]))
    watch = VersionWatch(engine)
    try:
        if engine.dialect.name == "postgresql":
            deadline = time.monotonic() + 10
            while not watch.listening and time.monotonic() < deadline:
                time.sleep(0.05)
            assert watch.listening, "the LISTEN thread connected"
        before = watch.versions()
        _write_in_other_process(db_url, "off_duty")
        seen = _wait_for(watch, "units", before.get("units", 0), 2.0)
        assert seen == before.get("units", 0) + 1, "the other process's commit is seen in 2 s"
        assert changes.changed_topics(before, watch.versions()) == {"units"}
        if engine.dialect.name == "postgresql":
            # it came through the notification: the in-memory map moved, no reader query
            assert watch.listening and watch._versions.get("units") == seen
    finally:
        watch.close()
    assert not watch.listening


def test_only_parts_showing_a_changed_topic_are_due():
    parts = {
        "wo_map": ("alerts", "incidents", "units"),
        "wo_queue": ("incidents",),
        "wo_recs": ("tasks", "units"),
        "wo_new": ("units",),
    }
    seen = {
        "wo_map": {"alerts": 1, "incidents": 4, "units": 2},
        "wo_queue": {"incidents": 4},
        "wo_recs": {"tasks": 9, "units": 2},
    }
    now = {"alerts": 1, "incidents": 4, "units": 3, "tasks": 9}
    assert due_parts(parts, seen, now) == ["wo_map", "wo_recs"]  # not drawn yet: not due
    assert due_parts(parts, seen, {"alerts": 1, "incidents": 4, "units": 2, "tasks": 9}) == []
    assert due_parts(parts, seen, {**now, "incidents": 5}) == ["wo_map", "wo_queue", "wo_recs"]


def test_a_confirm_moves_the_counters_of_what_it_changed(engine, session_factory):
    """The lifecycle claims the unit and the task with Core conditional UPDATEs: they count
    like ORM writes, so the dispatcher's figures and cards follow a confirm (they stood still
    when only ORM writes were counted)."""
    import shapely

    from incidents.service import actions as service
    from incidents.service.users import create_user
    from incidents.store.models import Task

    with session_scope(session_factory) as s:
        create_user(s, "disp", "dispatch-password-1", "dispatcher")
        s.add(Unit(id="LIVE-2", name="LIVE-2", vehicle_class="rescue", capabilities=["rescue"],
                   status="available", geometry=shapely.Point(115.0, 44.0)))
        task = Task(kind="rescue", capability="rescue", status="open", priority=50.0,
                    geometry=shapely.Point(115.1, 44.0))
        s.add(task)
        s.flush()
        task_id = task.id
    before = changes.versions(engine)
    with session_scope(session_factory) as s:
        service.confirm(s, "disp", task_id, "LIVE-2")
    moved = changes.changed_topics(before, changes.versions(engine))
    assert {"assignments", "tasks", "units"} <= moved, moved
    with session_factory() as s:
        assert s.get(Unit, "LIVE-2").status == "assigned"
