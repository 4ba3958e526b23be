"""Road-segment conditions: classification, decay, clearing, snapping and history (both DBs)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from shapely.geometry import LineString, box
from sqlalchemy import select

from incidents.fusion.conditions import (
    classify,
    evidence_frame,
    segment_states,
    snap_new_reports,
    update_conditions,
)
from incidents.store.engine import session_scope
from incidents.store.models import Alert, Report, SegmentCondition
from tests.fusion_region import NOW, at, report, tiny_region


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    return tiny_region(tmp_path_factory.mktemp("region"))


def test_classify_sources():
    assert classify("drone_detection", "black_ice", {}).condition == "black_ice"
    assert classify("drone_detection", "snow_drift", {}).condition == "drifting_snow"
    assert classify("drone_detection", "whiteout", {}).condition == "poor_visibility"
    assert classify("drone_detection", "stranded_vehicle", {}).incident == "stranded"
    rb = classify("drone_detection", "road_blocked", {})
    assert (rb.condition, rb.incident) == ("closed", "road_blocked")
    assert (
        classify("waze", "HAZARD_ON_ROAD_ICE", {"type": "WEATHERHAZARD"}).condition == "black_ice"
    )
    assert classify("waze", "ACCIDENT_MAJOR", {"type": "ACCIDENT"}).incident == "crash"
    assert classify("waze", "JAM_HEAVY_TRAFFIC", {"type": "JAM"}) == classify("waze", "", {})
    assert (
        classify("call", "stranded_vehicle", {"notes": "车辆被困，雪太大"}).incident == "stranded"
    )
    assert classify("call", "stranded_vehicle", {"notes": "追尾事故，路面结冰"}).incident == "crash"
    assert (
        classify("call", "stranded_vehicle", {"notes": "货车侧滑进沟"}).incident
        == "vehicle_in_ditch"
    )
    assert classify("patrol", "clear", {}).clear
    assert classify("patrol", "black_ice", {}).condition == "black_ice"


def _ev(rows, settings):
    df = pd.DataFrame(
        rows,
        columns=["id", "kind", "subtype", "confidence", "observed_at", "segment_id", "attributes"],
    )
    return evidence_frame(df, settings, NOW)


def test_decay_halves_each_half_life(settings):
    hl = settings.half_life_hours["drone"]
    rows = [
        (1, "drone_detection", "black_ice", 1.0, NOW, "S1", {}),
        (2, "drone_detection", "black_ice", 1.0, NOW - timedelta(hours=hl), "S2", {}),
        (3, "drone_detection", "black_ice", 1.0, NOW - timedelta(hours=2 * hl), "S3", {}),
        (4, "waze", "HAZARD_ON_ROAD_ICE", 1.0, NOW - timedelta(hours=2 * hl), "S3", {}),
    ]
    ev = _ev(rows, settings).set_index("report_id")
    assert ev.loc[2, "weight"] == pytest.approx(ev.loc[1, "weight"] / 2)
    assert ev.loc[3, "weight"] == pytest.approx(ev.loc[1, "weight"] / 4)
    # a Waze report decays faster (shorter half-life) and is less reliable than a drone
    assert ev.loc[4, "weight"] < ev.loc[3, "weight"]


def test_noisy_or_and_clearing(settings):
    rows = [
        (1, "drone_detection", "black_ice", 0.8, NOW - timedelta(hours=2), "A", {}),
        (2, "patrol", "clear", None, NOW - timedelta(hours=1), "A", {}),
        (3, "drone_detection", "black_ice", 0.6, NOW - timedelta(minutes=5), "B", {}),
        (4, "waze", "HAZARD_ON_ROAD_ICE", 0.9, NOW - timedelta(minutes=5), "B", {}),
        (5, "patrol", "clear", None, NOW - timedelta(hours=2), "C", {}),
        (6, "drone_detection", "snow_packed", 0.9, NOW - timedelta(minutes=30), "C", {}),
    ]
    ev = _ev(rows, settings)
    st = segment_states(ev)
    # A: the drone's ice is older than the patrol's clear -> clear, by the patrol
    assert st.loc["A", "condition"] == "clear"
    assert st.loc["A", "cleared_by"] == "patrol"
    # B: two sightings combine (noisy-OR) above either alone
    w = ev.set_index("report_id")["weight"]
    assert st.loc["B", "condition"] == "black_ice"
    assert st.loc["B", "confidence"] == pytest.approx(1 - (1 - w[3]) * (1 - w[4]))
    assert st.loc["B", "report_ids"] == [3, 4]
    # C: a hazard seen after the clear stands
    assert st.loc["C", "condition"] == "snow_packed"


def test_snapping_is_written_once_and_keeps_off_road(session_factory, settings, region):
    with session_scope(session_factory) as s:
        s.add(report("drone_detection", "black_ice", at(region, "G999", 3.5, 30), 10))
        s.add(report("call", "stranded_vehicle", at(region, "G999", 3.5, 2000), 10))
    with session_scope(session_factory) as s:
        new = snap_new_reports(s, region, settings)
    assert len(new) == 2
    with session_scope(session_factory) as s:
        rows = {r.kind: r for r in s.scalars(select(Report))}
        assert rows["drone_detection"].segment_id == "G999:3.0"
        assert rows["drone_detection"].off_road_reason is None
        off = rows["call"]
        assert off.segment_id is None
        assert "from the nearest road (G999 K3+" in off.off_road_reason
        assert "250 m snap tolerance" in off.off_road_reason
        # the observation itself is untouched
        assert off.subtype == "stranded_vehicle"
    with session_scope(session_factory) as s:
        assert len(snap_new_reports(s, region, settings)) == 0


def _current(session_factory):
    with session_scope(session_factory) as s:
        return {
            (c.segment_id): (c.condition, c.observed, c.confidence, c.cleared_by)
            for c in s.scalars(select(SegmentCondition).where(SegmentCondition.valid_to.is_(None)))
        }


def _fuse_conditions(session_factory, region, settings, now):
    with session_scope(session_factory) as s:
        new = snap_new_reports(s, region, settings)
        return update_conditions(s, region, settings, now, set(new["segment_id"].dropna()))


def test_history_decay_and_patrol_clearing(session_factory, settings, region):
    with session_scope(session_factory) as s:
        s.add(report("drone_detection", "black_ice", at(region, "G999", 5.5), 0, confidence=0.9))
        s.add(report("drone_detection", "snow_drift", at(region, "G999", 8.5), 0, confidence=0.9))
    summ = _fuse_conditions(session_factory, region, settings, NOW)
    assert summ.opened == 2
    cur = _current(session_factory)
    assert cur["G999:5.0"][:2] == ("black_ice", True)
    conf0 = cur["G999:5.0"][2]
    # same reports, later: confidence decays in place, no new history row
    summ = _fuse_conditions(session_factory, region, settings, NOW + timedelta(hours=1))
    assert summ.opened == 0 and summ.updated == 2
    assert _current(session_factory)["G999:5.0"][2] < conf0
    # a patrol reports K5 clear: the ice row is closed, a clear row says who cleared it
    with session_scope(session_factory) as s:
        s.add(report("patrol", "clear", at(region, "G999", 5.5), -90))
    _fuse_conditions(session_factory, region, settings, NOW + timedelta(hours=2))
    cur = _current(session_factory)
    assert cur["G999:5.0"][0] == "clear"
    assert cur["G999:5.0"][3].startswith("patrol report")
    with session_scope(session_factory) as s:
        hist = s.scalars(
            select(SegmentCondition)
            .where(SegmentCondition.segment_id == "G999:5.0")
            .order_by(SegmentCondition.id)
        ).all()
    assert [h.condition for h in hist] == ["black_ice", "clear"]
    assert hist[0].valid_to == NOW + timedelta(hours=2)
    # the drift, never cleared, fades below the threshold and its row closes (no invented clear)
    _fuse_conditions(session_factory, region, settings, NOW + timedelta(hours=12))
    assert "G999:8.0" not in _current(session_factory)


def test_drone_pass_without_detection_clears(session_factory, settings, region):
    track = LineString([at(region, "G999", 0.2), at(region, "G999", 12.0)])
    with session_scope(session_factory) as s:
        s.add(
            report(
                "drone_detection",
                "black_ice",
                at(region, "G999", 2.5),
                120,
                confidence=0.9,
                attributes={"flight_id": "F1"},
            )
        )
        s.add(
            report(
                "drone_detection",
                "black_ice",
                at(region, "G999", 9.5),
                30,
                confidence=0.9,
                attributes={"flight_id": "F2"},
            )
        )
    _fuse_conditions(session_factory, region, settings, NOW - timedelta(minutes=20))
    assert _current(session_factory)["G999:2.0"][0] == "black_ice"
    # flight F2 flew K0-K12 30-20 min ago: it saw ice at K9 but nothing at K2 -> K2 is clear
    with session_scope(session_factory) as s:
        s.add(
            report(
                "drone_track",
                "track",
                track,
                30,
                attributes={
                    "flight_id": "F2",
                    "ended_at": (NOW - timedelta(minutes=20)).isoformat(),
                },
            )
        )
    _fuse_conditions(session_factory, region, settings, NOW)
    cur = _current(session_factory)
    assert cur["G999:2.0"][0] == "clear"
    assert cur["G999:2.0"][3].startswith("drone report")
    assert cur["G999:9.0"][0] == "black_ice"


def test_alert_gives_forecast_and_observation_wins(session_factory, settings, region):
    with session_scope(session_factory) as s:
        s.add(
            Alert(
                sender="nmc",
                identifier="JB01",
                sent=NOW - timedelta(hours=1),
                msg_type="Alert",
                status="Actual",
                state="actual",
                event="道路结冰",
                hazard_class="road_icing",
                onset=NOW - timedelta(hours=1),
                expires=NOW + timedelta(hours=12),
                area=box(115.25, 44.4, 115.5, 44.6),
            )
        )
        s.add(report("drone_detection", "snow_packed", at(region, "G999", 25.5), 0, confidence=0.9))
    _fuse_conditions(session_factory, region, settings, NOW)
    cur = _current(session_factory)
    forecast = {k: v for k, v in cur.items() if not v[1]}
    assert forecast and all(v[0] == "black_ice" for v in forecast.values())
    assert all(k.startswith("G999:") and float(k.split(":")[1]) >= 19 for k in forecast)
    assert cur["G999:25.0"][:2] == ("snow_packed", True)


def test_place_name_caller_sets_no_condition(settings):
    rows = [
        (
            1,
            "call",
            "stranded_vehicle",
            None,
            NOW,
            "A",
            {"notes": "道路阻断", "location_method": "place"},
        ),
        (
            2,
            "call",
            "stranded_vehicle",
            None,
            NOW,
            "B",
            {"notes": "道路阻断", "location_method": "coordinates"},
        ),
    ]
    ev = _ev(rows, settings).set_index("report_id")
    assert pd.isna(ev.loc[1, "condition"]) and ev.loc[1, "incident"] == "road_blocked"
    assert ev.loc[2, "condition"] == "closed"


def test_call_event_type_decides_the_incident_kind():
    from incidents.fusion.conditions import classify

    assert classify("call", "stranded_vehicle", {"event_type": "车辆侧滑出路"}).incident == (
        "vehicle_in_ditch"
    )
    assert classify("call", "stranded_vehicle", {"event_type": "crash"}).incident == "crash"
    # without one, the notes decide, and a plain call is a stranded group
    assert classify("call", "stranded_vehicle", {}).incident == "stranded"
