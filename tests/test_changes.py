"""Change counters: ORM writes and explicit bumps reach `versions`, rollbacks count nothing."""

from __future__ import annotations

import pytest

from incidents.store import changes
from incidents.store.engine import session_scope
from incidents.store.models import Setting, Unit


def _unit(uid: str) -> Unit:
    return Unit(id=uid, name=uid, vehicle_class="patrol_car", capabilities=["patrol"])


def test_orm_write_bumps_its_topic_once_per_commit(engine, session_factory):
    before = changes.versions(engine)
    with session_scope(session_factory) as s:
        s.add(_unit("T-1"))
        s.flush()
        s.add(_unit("T-2"))
    after = changes.versions(engine)
    assert changes.changed_topics(before, after) == {"units"}
    assert after["units"] == before.get("units", 0) + 1
    with session_scope(session_factory) as s:
        s.get(Unit, "T-1").fuel = 0.5
        s.add(Setting(key="x", value={"a": 1}))
    again = changes.versions(engine)
    assert changes.changed_topics(after, again) == {"units", "settings"}


def test_writing_the_same_values_changes_nothing(engine, session_factory):
    with session_scope(session_factory) as s:
        s.add(_unit("T-same"))
    before = changes.versions(engine)
    with session_scope(session_factory) as s:
        u = s.get(Unit, "T-same")
        u.name, u.fuel = "T-same", u.fuel  # assigned, but no net change
    assert changes.versions(engine) == before
    with session_scope(session_factory) as s:
        s.get(Unit, "T-same").name = "T-renamed"
    assert changes.changed_topics(before, changes.versions(engine)) == {"units"}


def test_rollback_and_read_only_change_nothing(engine, session_factory):
    before = changes.versions(engine)
    with pytest.raises(RuntimeError), session_scope(session_factory) as s:
        s.add(_unit("T-3"))
        s.flush()
        raise RuntimeError("boom")
    with session_scope(session_factory) as s:
        s.get(Unit, "T-3")
    assert changes.versions(engine) == before


def test_explicit_bump_for_core_writes_and_unknown_topic_refused(engine, session_factory):
    before = changes.versions(engine)
    with session_scope(session_factory) as s:
        changes.bump(s, "reports", "incidents")
    assert changes.changed_topics(before, changes.versions(engine)) == {"reports", "incidents"}
    with pytest.raises(ValueError, match="unknown change topic"), session_scope(session_factory) as s:
        changes.bump(s, "nonsense")


def test_sink_counts_core_inserts_and_not_duplicates(engine, session_factory, tmp_path):
    from incidents.store.sink import DatabaseSink
    from ingest.calls import parse_calls

    payload = (
        b"call_id,received_at,lon,lat,vehicles,people,notes\n"
        b"C-1,2025-12-14 02:00,115.1,44.0,3,6,stuck\n"
    )
    result = parse_calls(payload, source="test.csv")
    sink = DatabaseSink(session_factory)
    before = changes.versions(engine)
    sink.store("calls", result)
    mid = changes.versions(engine)
    assert "reports" in changes.changed_topics(before, mid)
    sink.store("calls", result)  # a duplicate adds nothing and counts nothing
    assert changes.versions(engine).get("reports") == mid["reports"]
