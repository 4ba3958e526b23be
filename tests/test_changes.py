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
