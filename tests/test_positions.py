"""Unit positions: AVL reports move units, the tablet's fix, staleness, the on-scene rule.

A unit cleared far from base starts its next ETA from the scene until a fix moves it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from geo.region import Region
from incidents.dispatch import (
    apply_position_reports,
    position_state,
    recommend,
    record_tablet_fix,
)
from incidents.errors import NotFoundError
from incidents.service.lifecycle import confirm_assignment, transition
from incidents.settings import Settings
from incidents.store.engine import session_scope
from incidents.store.models import AuditEvent, Report, Unit, UnitStatus
from incidents.store.sink import DatabaseSink
from ingest.avl import parse_avl
from ingest.runner import run_ingest
from tests.test_dispatch import LAT0, NOW, add_task, add_unit, lon_at, tiny

__all__ = ["tiny"]  # the module-scoped tiny-region fixture of test_dispatch


def _ingest(tmp_path: Path, factory: sessionmaker[Session], name: str, text: str) -> list[str]:
    """Ingest a fix file as `winterops ingest avl` does; return the natural keys parsed."""
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    run_ingest("avl", [str(f)], DatabaseSink(factory, now=NOW), raw_dir=tmp_path / "raw")
    return list(parse_avl(f.read_bytes(), str(f)).frame["natural_key"])


def _unit(s: Session, uid: str) -> Unit:
    u = s.get(Unit, uid)
    assert u is not None and u.geometry is not None
    return u


def test_newest_fix_moves_each_unit_and_older_ones_never_move_it_back(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with session_scope(session_factory) as s:
        add_unit(s, "U1", 0)
        add_unit(s, "U2", 0)
    keys = _ingest(
        tmp_path,
        session_factory,
        "a.csv",
        "unit_id,time,lon,lat,fuel,crew_hours\n"
        f"U1,2025-12-14T04:00:00+08:00,{lon_at(10)},{LAT0},0.5,\n"
        f"U1,2025-12-14T04:05:00+08:00,{lon_at(11)},{LAT0},40,6.5\n"
        f"U9,2025-12-14T04:05:00+08:00,{lon_at(12)},{LAT0},,\n"
        f"U8,2025-12-14T04:05:00+08:00,{lon_at(12)},{LAT0},,\n",
    )
    with session_scope(session_factory) as s:
        counts = apply_position_reports(s, natural_keys=keys)
    assert dict(counts) == {"applied": 1, "older": 1, "future": 0, "unknown_unit": 2}
    assert counts.unknown_units == ["U8", "U9"]
    with session_scope(session_factory) as s:
        u1 = _unit(s, "U1")
        assert u1.geometry is not None and u1.geometry.x == pytest.approx(lon_at(11))
        assert u1.position_source == "avl" and u1.fuel == pytest.approx(0.4)
        assert u1.crew_hours == 6.5 and u1.position_at == NOW + timedelta(minutes=5)
        assert _unit(s, "U2").position_source is None  # no fix: untouched
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "unit.position")).one()
        assert event.details["unknown_units"] == ["U8", "U9"]
    # a later payload with an older fix for U1 and a newer one for U2
    _ingest(
        tmp_path,
        session_factory,
        "b.csv",
        "unit_id,time,lon,lat\n"
        f"U1,2025-12-14T03:00:00+08:00,{lon_at(50)},{LAT0}\n"
        f"U2,2025-12-14T04:10:00+08:00,{lon_at(30)},{LAT0}\n",
    )
    with session_scope(session_factory) as s:
        ids = list(s.scalars(select(Report.id).where(Report.source.like("%b.csv"))))
        counts = apply_position_reports(s, ids)
    assert (counts["applied"], counts["older"], counts["unknown_unit"]) == (1, 1, 0)
    with session_scope(session_factory) as s:
        u1, u2 = _unit(s, "U1"), _unit(s, "U2")
        assert u1.geometry is not None and u1.geometry.x == pytest.approx(lon_at(11))
        assert u2.geometry is not None and u2.geometry.x == pytest.approx(lon_at(30))
    # without ids: each known unit's newest fixes after its position (what a poller may call)
    _ingest(
        tmp_path,
        session_factory,
        "c.csv",
        "unit_id,time,lon,lat\n"
        f"U2,2025-12-14T04:20:00+08:00,{lon_at(33)},{LAT0}\n"
        f"U2,2025-12-14T04:15:00+08:00,{lon_at(31)},{LAT0}\n"
        f"U2,2099-12-14T04:15:00+08:00,{lon_at(60)},{LAT0}\n",
    )
    with session_scope(session_factory) as s:
        counts = apply_position_reports(s)
        assert (counts["applied"], counts["future"]) == (1, 1)
        u2 = _unit(s, "U2")
        assert u2.geometry is not None and u2.geometry.x == pytest.approx(lon_at(33))
        assert apply_position_reports(s)["applied"] == 0  # nothing newer: nothing moves


def test_tablet_fix_is_an_avl_report_applied_at_once(
    session_factory: sessionmaker[Session],
) -> None:
    with session_scope(session_factory) as s:
        add_unit(s, "P1", 0)
    at = NOW + timedelta(minutes=1)
    with session_scope(session_factory) as s:
        rid = record_tablet_fix(s, unit_id="P1", lon=lon_at(7), lat=LAT0, at=at, accuracy_m=12.0)
        again = record_tablet_fix(s, unit_id="P1", lon=lon_at(7), lat=LAT0, at=at)
    assert again == rid  # same unit and second: one report
    with session_scope(session_factory) as s:
        rep = s.get(Report, rid)
        assert rep is not None and rep.kind == "avl" and rep.source == "tablet"
        assert rep.natural_key == "P1@2025-12-13T20:01:00+00:00"
        assert rep.attributes["accuracy_m"] == 12.0
        u = _unit(s, "P1")
        assert u.position_source == "tablet" and u.position_at == at
        assert u.geometry is not None and u.geometry.x == pytest.approx(lon_at(7))
    with session_scope(session_factory) as s, pytest.raises(NotFoundError):
        record_tablet_fix(s, unit_id="NOPE", lon=116.0, lat=44.0, at=at)
    with session_scope(session_factory) as s, pytest.raises(ValueError, match="out of range"):
        record_tablet_fix(s, unit_id="P1", lon=416.0, lat=44.0, at=at)


def test_position_state_live_stale_unknown(session_factory: sessionmaker[Session]) -> None:
    short = Settings.from_env({"WINTEROPS_STALE_POSITION_MINUTES": "5"})
    assert (
        short.stale_position_minutes == 5.0 and Settings.from_env({}).stale_position_minutes == 15
    )
    with session_scope(session_factory) as s:
        base = add_unit(s, "B", 0, position_source="base")
        fix = add_unit(s, "F", 0, position_source="avl")
        scene = add_unit(s, "S", 0, position_source="on_scene", status=UnitStatus.ON_SCENE.value)
        # add_unit stamps position_at = NOW - 5 min
        assert position_state(base, NOW, None).state == "unknown"  # roster position, no fix
        assert position_state(fix, NOW, None) == ("live", 300.0, "avl")
        later = NOW + timedelta(minutes=20)
        assert position_state(fix, later, None) == ("stale", 1500.0, "avl")
        assert position_state(fix, NOW + timedelta(minutes=1), short).state == "stale"
        assert position_state(scene, later, None).state == "live"  # on scene: it is there


def test_stale_position_is_not_trusted_in_the_reason(
    tiny: Region, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_scope(session_factory) as s:
        add_unit(s, "U1", 20, position_source="avl")
        add_task(s, 30, 50.0, NOW)
    with session_scope(session_factory) as s:
        fresh = recommend(s, tiny, settings, NOW)
        stale = recommend(s, tiny, settings, NOW + timedelta(minutes=45))
    assert fresh[0].position_state == "live" and "stale" not in fresh[0].reason
    r = stale[0]
    assert r.unit_id == "U1" and r.position_state == "stale" and r.position_source == "avl"
    assert r.position_age_s == pytest.approx(50 * 60)
    assert "position stale (last fix 50 min ago)" in r.reason and "位置已过时" in r.reason_zh
    assert r.eta_s == pytest.approx(fresh[0].eta_s)  # from the last known position
    assert r.to_dict()["position_state"] == "stale"


def test_unit_cleared_far_from_base_starts_from_the_scene_until_a_fix_moves_it(
    tiny: Region, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    settings = replace(settings, stale_position_minutes=120.0)
    with session_scope(session_factory) as s:
        add_unit(s, "U1", 0, position_source="base")  # at base, km 0
        far = add_task(s, 40, 50.0, NOW).id  # 40 km out
    t = NOW
    with session_scope(session_factory) as s:
        a = confirm_assignment(s, "disp", far, "U1", now=t)
        transition(s, a, "en_route", "lead", now=t + timedelta(minutes=1))
        transition(s, a, "on_scene", "lead", now=t + timedelta(minutes=41))
        u = _unit(s, "U1")
        assert u.position_source == "on_scene" and u.status == UnitStatus.ON_SCENE.value
        assert u.geometry is not None and u.geometry.x == pytest.approx(lon_at(40))
        transition(s, a, "cleared", "lead", now=t + timedelta(minutes=90))
    with session_scope(session_factory) as s:
        u = _unit(s, "U1")
        assert u.status == UnitStatus.AVAILABLE.value and u.position_source == "on_scene"
        assert u.geometry is not None and u.geometry.x == pytest.approx(lon_at(40))
        assert u.position_at == t + timedelta(minutes=90)
        nxt = add_task(s, 50, 80.0, t + timedelta(minutes=91)).id
    with session_scope(session_factory) as s:
        rec = recommend(s, tiny, settings, t + timedelta(minutes=92))
    assert [(r.task_id, r.unit_id) for r in rec] == [(nxt, "U1")]
    assert rec[0].eta_s == pytest.approx(10 * 60, rel=0.05)  # 10 km from the scene, not 50
    assert "last scene" in rec[0].reason and rec[0].position_source == "on_scene"
    # a fix older than the clearing does not move it back; a newer one does
    with session_scope(session_factory) as s:
        record_tablet_fix(s, unit_id="U1", lon=lon_at(5), lat=LAT0, at=t + timedelta(minutes=60))
        assert _unit(s, "U1").position_source == "on_scene"
        record_tablet_fix(s, unit_id="U1", lon=lon_at(20), lat=LAT0, at=t + timedelta(minutes=93))
    with session_scope(session_factory) as s:
        moved = recommend(s, tiny, settings, t + timedelta(minutes=94))
    assert moved[0].unit_id == "U1" and moved[0].position_source == "tablet"
    assert moved[0].eta_s == pytest.approx(30 * 60, rel=0.05)  # now 30 km away
