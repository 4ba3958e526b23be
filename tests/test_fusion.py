"""fuse(): incidents merged from calls/drone/Waze, hazards, tasks, idempotence, hotspots, CLI."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from incidents.fusion import current_hotspots, fuse, merge_incidents, split_incident
from incidents.store.engine import session_scope
from incidents.store.models import (
    AuditEvent,
    Hazard,
    Incident,
    Report,
    RoadChief,
    SegmentCondition,
    Task,
)
from tests.fusion_region import NOW, at, report, tiny_region


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    return tiny_region(tmp_path_factory.mktemp("region"))


def _call(point, minutes_ago, vehicles, people=0, vulnerable=0, **attrs):
    a = {"vehicles": vehicles, "people": people, "vulnerable": vulnerable, **attrs}
    a.setdefault("location_method", "coordinates")
    return report("call", "stranded_vehicle", point, minutes_ago, attributes=a)


def _fuse(session_factory, region, settings, now=NOW):
    with session_scope(session_factory) as s:
        return fuse(s, region, settings, now)


def _incidents(session_factory):
    with session_scope(session_factory) as s:
        return s.scalars(select(Incident).order_by(Incident.id)).all()


def test_same_group_merges_with_reasons(session_factory, settings, region):
    with session_scope(session_factory) as s:
        s.add(_call(at(region, "Y001", 5.0), 300, 35, 70, 6, needs=["heat"]))
        s.add(_call(at(region, "Y001", 5.8, 40), 240, 30, 72))  # 0.8 km further, ~30 cars
        s.add(  # a caller who gave only the township's name, 6 km away
            _call(at(region, "Y001", 10.5, 800), 200, 35, location_method="place")
        )
        s.add(
            report(
                "drone_detection",
                "stranded_vehicle",
                at(region, "Y001", 5.3),
                100,
                confidence=0.9,
                attributes={"flight_id": "F1"},
            )
        )
        # not the same group: one car 1 km away, and a group on the national road 12 km away
        s.add(_call(at(region, "Y001", 6.0), 150, 1, 2))
        s.add(_call(at(region, "G999", 4.0), 150, 30, 60))
    summary = _fuse(session_factory, region, settings)
    assert summary.incidents_created == 3
    assert summary.reports_merged == 3
    incs = _incidents(session_factory)
    group = max(incs, key=lambda i: len(i.report_ids))
    assert len(group.report_ids) == 4
    assert (group.vehicles, group.people, group.vulnerable) == (35, 72, 6)
    assert group.road_code == "Y001"
    assert 5.0 <= group.km <= 5.5  # placed by the drone, the most precise report
    rules = [e["rule"] for e in group.merge_log]
    assert rules[0] == "new"
    assert set(rules[1:]) == {"along_road", "place_name"}
    assert all(e["why"] for e in group.merge_log)
    single = next(i for i in incs if i.vehicles == 1)
    assert len(single.report_ids) == 1  # 1 vs 35 vehicles: not merged


def test_fuse_is_idempotent(session_factory, settings, region):
    with session_scope(session_factory) as s:
        s.add(_call(at(region, "Y001", 5.0), 60, 10, 20))
        s.add(report("drone_detection", "black_ice", at(region, "G999", 2.5), 30, confidence=0.9))
        s.add(
            report(
                "waze",
                "HAZARD_ON_ROAD_ICE",
                at(region, "G999", 2.6),
                20,
                confidence=0.6,
                attributes={"type": "WEATHERHAZARD"},
            )
        )
    first = _fuse(session_factory, region, settings)
    assert first.reports_fused == 3 and first.hazards_opened == 1 and first.tasks_created > 0

    def counts():
        with session_scope(session_factory) as s:
            return [
                s.scalar(select(func.count()).select_from(m))
                for m in (Incident, Hazard, Task, SegmentCondition)
            ]

    before = counts()
    again = _fuse(session_factory, region, settings)
    assert counts() == before
    assert all(v == 0 for k, v in again.to_json().items() if k != "segments_evaluated")


def test_tasks_and_road_chief(session_factory, settings, region):
    with session_scope(session_factory) as s:
        s.add(RoadChief(id="RC01", name="张三", section_id="G999-01"))
        s.add(_call(at(region, "Y001", 5.0), 60, 35, 70, 6))
        s.add(
            _call(
                at(region, "G999", 20.0),
                60,
                1,
                1,
                vehicle_class="heavy_truck",
                notes="半挂车侧滑进沟",
            )
        )
        s.add(report("drone_detection", "black_ice", at(region, "G999", 2.5), 30, confidence=0.9))
        s.add(
            report("drone_detection", "snow_packed", at(region, "G999", 12.5), 30, confidence=0.9)
        )
    _fuse(session_factory, region, settings)
    with session_scope(session_factory) as s:
        incs = s.scalars(select(Incident)).all()
        kinds = {
            i.kind: sorted(t.kind for t in s.scalars(select(Task).where(Task.incident_id == i.id)))
            for i in incs
        }
        assert kinds["stranded"] == ["medical", "plow", "rescue", "traffic_control"]
        assert kinds["vehicle_in_ditch"] == ["heavy_tow", "traffic_control"]
        hz = {h.condition: h for h in s.scalars(select(Hazard))}
        assert hz["black_ice"].road_chief_id == "RC01"
        assert hz["black_ice"].section_id == "G999-01"
        assert "black ice on G999 K2+000-K3+000" in hz["black_ice"].reason
        htasks = {
            h.condition: [t.kind for t in s.scalars(select(Task).where(Task.hazard_id == h.id))]
            for h in hz.values()
        }
        assert htasks == {"black_ice": ["grit"], "snow_packed": ["plow"]}
        tasks = s.scalars(select(Task)).all()
        assert all(t.capability == t.kind for t in tasks)
        # people in the cold outrank a road hazard
        stranded = next(i for i in incs if i.kind == "stranded")
        grit = next(t for t in tasks if t.kind == "grit")
        assert stranded.priority > grit.priority


def test_patrol_clears_hazard_and_cancels_open_task(session_factory, settings, region):
    with session_scope(session_factory) as s:
        s.add(report("drone_detection", "black_ice", at(region, "G999", 2.5), 30, confidence=0.9))
    _fuse(session_factory, region, settings)
    with session_scope(session_factory) as s:
        s.add(report("patrol", "clear", at(region, "G999", 2.5), -30))
    summary = _fuse(session_factory, region, settings, NOW + timedelta(hours=1))
    assert summary.hazards_cleared == 1 and summary.tasks_cancelled == 1
    with session_scope(session_factory) as s:
        h = s.scalars(select(Hazard)).one()
        assert h.state == "cleared" and h.cleared_by.startswith("patrol report")
        assert s.scalars(select(Task)).one().status == "cancelled"


def test_priority_grows_while_people_wait(session_factory, settings, region):
    with session_scope(session_factory) as s:
        s.add(_call(at(region, "Y001", 5.0), 10, 5, 10))
    _fuse(session_factory, region, settings)
    p0 = _incidents(session_factory)[0].priority
    _fuse(session_factory, region, settings, NOW + timedelta(hours=3))
    inc = _incidents(session_factory)[0]
    assert inc.priority > p0
    with session_scope(session_factory) as s:
        assert {t.priority for t in s.scalars(select(Task))} == {inc.priority}


def test_split_and_merge_by_hand_are_audited(session_factory, settings, region):
    with session_scope(session_factory) as s:
        s.add(_call(at(region, "Y001", 5.0), 60, 20, 40))
        s.add(_call(at(region, "Y001", 5.5), 50, 20, 40))
    _fuse(session_factory, region, settings)
    inc = _incidents(session_factory)[0]
    assert len(inc.report_ids) == 2
    with session_scope(session_factory) as s:
        new = split_incident(s, region, "dispatcher", inc.id, [inc.report_ids[1]], NOW)
        new_id = new.id
    with session_scope(session_factory) as s:
        a, b = s.get(Incident, inc.id), s.get(Incident, new_id)
        assert len(a.report_ids) == 1 and len(b.report_ids) == 1
        assert b.merge_log[0]["rule"] == "split"
        assert (
            s.scalar(select(func.count()).select_from(Task).where(Task.incident_id == new_id)) == 3
        )
        with pytest.raises(ValueError, match="proper"):
            split_incident(s, region, "dispatcher", inc.id, a.report_ids, NOW)
    with session_scope(session_factory) as s:
        merge_incidents(s, region, "dispatcher", inc.id, new_id, NOW)
    with session_scope(session_factory) as s:
        a, b = s.get(Incident, inc.id), s.get(Incident, new_id)
        assert b.status == "merged" and b.merged_into_id == a.id
        assert len(a.report_ids) == 2 and a.merge_log[-1]["rule"] == "manual_merge"
        open_b = s.scalars(
            select(Task).where(Task.incident_id == new_id, Task.status == "open")
        ).all()
        assert open_b == []
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert actions == ["incident.split", "incident.merge"]


def test_hotspots_rank_the_ice_found_by_drones(session_factory, settings, region):
    with session_scope(session_factory) as s:
        for km in (2.5, 3.5, 4.5):
            s.add(
                report("drone_detection", "black_ice", at(region, "G999", km), 20, confidence=0.9)
            )
        s.add(
            report(
                "waze",
                "HAZARD_ON_ROAD_ICE",
                at(region, "G999", 28.5),
                300,
                attributes={"type": "WEATHERHAZARD"},
            )
        )
    _fuse(session_factory, region, settings)
    with session_scope(session_factory) as s:
        hs = current_hotspots(s, region, settings, NOW)
        kinds = {r.id: r.kind for r in s.scalars(select(Report))}
    assert len(hs) == 1
    top = hs.iloc[0]
    assert top["rank"] == 1 and top["z"] > 1.645 and top["p"] < 0.05
    assert top["condition"] == "black_ice"
    assert top["reason"].startswith("black ice on G999 K2+000-K5+000")
    assert "3 drone detections" in top["reason"]
    assert sorted(kinds[i] for i in top["report_ids"]) == ["drone_detection"] * 3
    assert top["segment_ids"] == ["G999:2.0", "G999:3.0", "G999:4.0"]
    # the old, lone Waze report is no hotspot; once cleared by a patrol the ice is gone too
    with session_scope(session_factory) as s:
        for km in (2.5, 3.5, 4.5):
            s.add(report("patrol", "clear", at(region, "G999", km), -10))
    _fuse(session_factory, region, settings, NOW + timedelta(minutes=20))
    with session_scope(session_factory) as s:
        assert len(current_hotspots(s, region, settings, NOW + timedelta(minutes=20))) == 0


def test_stranded_group_outranks_scattered_reports(session_factory, settings, region):
    with session_scope(session_factory) as s:
        for i, km in enumerate((5.0, 5.2, 5.4, 5.1)):
            s.add(_call(at(region, "Y001", km), 600 - 10 * i, 35, 72))
        s.add(report("drone_detection", "black_ice", at(region, "G999", 20.5), 20, confidence=0.9))
    _fuse(session_factory, region, settings)
    with session_scope(session_factory) as s:
        hs = current_hotspots(s, region, settings, NOW)
    # ten hours after the calls the group still tops the ranking: its incident is open
    top = hs.iloc[0]
    assert top["condition"] == "stranded"
    assert "stranded vehicles on Y001" in top["reason"] and "4 calls" in top["reason"]
    assert (hs["z"].diff().dropna() <= 0).all()


def test_cli_hotspots_geojson(session_factory, settings, region, db_url, monkeypatch):
    with session_scope(session_factory) as s:
        for km in (2.5, 3.5, 4.5):
            s.add(
                report("drone_detection", "black_ice", at(region, "G999", km), 20, confidence=0.9)
            )
    _fuse(session_factory, region, settings)  # the pipeline fuses; `hotspots` only reads
    from incidents.cli.app import app

    runner = CliRunner()
    args = ["hotspots", "--db", db_url, "--region", str(region.root), "--at", NOW.isoformat()]
    res = runner.invoke(app, [*args, "--geojson"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["type"] == "FeatureCollection"
    props = doc["features"][0]["properties"]
    assert props["rank"] == 1 and props["z"] > 2 and len(props["report_ids"]) == 3
    assert doc["features"][0]["geometry"]["type"] in ("LineString", "MultiLineString")
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "black ice on G999" in table.stdout
    bad = runner.invoke(app, ["hotspots", "--db", db_url, "--at", "yesterday"])
    assert bad.exit_code == 2


def test_wind_chill_from_alerts_and_configured_observation(session_factory, settings, region):
    from shapely.geometry import box

    from incidents.fusion import configured_observation, wind_chill_at
    from incidents.fusion.priority import wind_chill
    from incidents.store.models import Alert, Setting

    def alert(ident, **kw):
        return Alert(
            sender="nmc",
            identifier=ident,
            sent=NOW - timedelta(hours=2),
            msg_type="Alert",
            status="Actual",
            state="actual",
            onset=NOW - timedelta(hours=2),
            expires=NOW + timedelta(hours=12),
            area=box(114.9, 44.4, 115.3, 44.7),
            **kw,
        )

    with session_scope(session_factory) as s:
        s.add(_call(at(region, "Y001", 5.0), 30, 5, 10))
    _fuse(session_factory, region, settings)
    p_plain = _incidents(session_factory)[0].priority
    with session_scope(session_factory) as s:
        s.add(Setting(key="observations", value={"temperature_c": -25, "wind_kmh": 20}))
    _fuse(session_factory, region, settings)
    p_observed = _incidents(session_factory)[0].priority
    # a cold wave (temperature) and a gale (wind) alert combine into a colder wind chill
    with session_scope(session_factory) as s:
        s.add(alert("HC01", event="寒潮", hazard_class="cold_wave", temperature_c=-38.0))
        s.add(alert("DF01", event="大风", hazard_class="gale", wind_kmh=45.0))
    _fuse(session_factory, region, settings)
    p_alerts = _incidents(session_factory)[0].priority
    assert p_plain < p_observed < p_alerts
    with session_scope(session_factory) as s:
        from incidents.fusion.conditions import live_alerts

        wc = wind_chill_at(live_alerts(s, NOW), at(region, "Y001", 5.0), configured_observation(s))
        assert wc == pytest.approx(wind_chill(-38.0, 45.0))
        assert wind_chill_at(live_alerts(s, NOW), at(region, "G999", 31.0)) is None


def test_hazard_cleared_by_hand_stays_cleared_until_new_evidence(session_factory, settings, region):
    with session_scope(session_factory) as s:
        s.add(report("drone_detection", "black_ice", at(region, "G999", 2.5), 30, confidence=0.9))
    _fuse(session_factory, region, settings)
    with session_scope(session_factory) as s:  # what the service layer's clear_hazard does
        h = s.scalars(select(Hazard)).one()
        h.state, h.cleared_at, h.cleared_by = "cleared", NOW + timedelta(minutes=5), "RC01"
    summary = _fuse(session_factory, region, settings, NOW + timedelta(minutes=10))
    assert summary.hazards_opened == 0
    with session_scope(session_factory) as s:
        cur = s.scalars(
            select(SegmentCondition).where(
                SegmentCondition.segment_id == "G999:2.0", SegmentCondition.valid_to.is_(None)
            )
        ).one()
        assert cur.condition == "clear" and cur.cleared_by.endswith("cleared by hand")
    # ice seen again after the clearance: a new hazard
    with session_scope(session_factory) as s:
        s.add(report("drone_detection", "black_ice", at(region, "G999", 2.5), -20, confidence=0.9))
    assert _fuse(session_factory, region, settings, NOW + timedelta(minutes=25)).hazards_opened == 1


@pytest.mark.parametrize(
    ("kind", "extra", "expected"),
    [
        ("stranded", {}, ["rescue", "plow", "traffic_control"]),
        ("stranded", {"needs": ["medical"]}, ["rescue", "medical", "plow", "traffic_control"]),
        ("vehicle_in_ditch", {"vehicle_class": "car"}, ["rescue", "traffic_control"]),
        ("vehicle_in_ditch", {"vehicle_class": "heavy_truck"}, ["heavy_tow", "traffic_control"]),
        (
            "crash",
            {"vehicle_class": "hazmat", "vulnerable": 1},
            ["rescue", "medical", "heavy_tow", "traffic_control"],
        ),
        ("road_blocked", {}, ["plow", "traffic_control"]),
        ("black_ice", {}, ["grit"]),
        ("drifting_snow", {}, ["plow"]),
        ("snow_packed", {}, ["plow"]),
        ("closed", {}, ["traffic_control"]),
        ("poor_visibility", {}, []),
    ],
)
def test_task_table(kind, extra, expected):
    from incidents.fusion.tasks import tasks_for

    specs = tasks_for(kind, **extra)
    assert [t.kind for t in specs] == expected
    assert all(t.capability == t.kind for t in specs)


def test_operational_now_rules(session_factory, region):
    from incidents.clock import operational_now
    from incidents.store.models import Setting

    real = NOW + timedelta(days=300)
    with session_scope(session_factory) as s:
        assert operational_now(s, real) == (real, "")
        s.add(report("drone_detection", "black_ice", at(region, "G999", 2.5), 0))
    with session_scope(session_factory) as s:  # a stale replayed storm: its newest report
        assert operational_now(s, real)[0] == NOW
        s.add(
            AuditEvent(
                at=real - timedelta(minutes=10), actor="cli", action="demo.load", outcome="ok"
            )
        )
    with session_scope(session_factory) as s:  # loaded by `winterops demo`: runs since loading
        assert operational_now(s, real)[0] == NOW + timedelta(minutes=10)
        s.add(
            Setting(
                key="clock",
                value={
                    "now": "2025-12-14T03:00:00",
                    "set_at": (real - timedelta(hours=1)).isoformat(),
                },
            )
        )
    with session_scope(session_factory) as s:  # an explicit clock (naive = Asia/Shanghai)
        now, why = operational_now(s, real)
        assert now == NOW + timedelta(hours=8) and "app_settings" in why


def test_done_work_is_not_created_again(session_factory, settings, region):
    """A finished task of a still-open incident stays finished; a hazard that came back does not."""
    with session_scope(session_factory) as s:
        s.add(_call(at(region, "Y001", 5.0), 60, 35, 70, 0))
        s.add(report("drone_detection", "black_ice", at(region, "G999", 2.5), 30, confidence=0.9))
    _fuse(session_factory, region, settings)
    done_at = NOW + timedelta(minutes=20)
    with session_scope(session_factory) as s:
        for t in s.scalars(select(Task).where(Task.kind.in_(["plow", "grit"]))):
            t.status, t.closed_at = "done", done_at

    def open_kinds(s):
        return sorted(t.kind for t in s.scalars(select(Task).where(Task.status == "open")))

    _fuse(session_factory, region, settings, NOW + timedelta(hours=1))
    with session_scope(session_factory) as s:
        # the plow already got through and the grit is spread: neither comes back
        assert open_kinds(s) == ["rescue", "traffic_control"]
    # black ice found again after the gritting: the road needs gritting again
    with session_scope(session_factory) as s:
        s.add(report("drone_detection", "black_ice", at(region, "G999", 2.6), -70, confidence=0.9))
    _fuse(session_factory, region, settings, NOW + timedelta(hours=2))
    with session_scope(session_factory) as s:
        assert open_kinds(s) == ["grit", "rescue", "traffic_control"]
        grits = s.scalars(select(Task).where(Task.kind == "grit")).all()
        assert sorted(t.status for t in grits) == ["done", "open"]


def test_set_clock_runs_from_when_it_was_set(session_factory):
    from incidents.clock import operational_now, set_clock

    moment = NOW - timedelta(days=2)
    wall = NOW + timedelta(days=300)
    with session_scope(session_factory) as s:
        set_clock(s, moment, running_from=wall)
    with session_scope(session_factory) as s:
        assert operational_now(s, wall + timedelta(minutes=7))[0] == moment + timedelta(minutes=7)
        set_clock(s, moment)  # a stopped clock: stays where it was set
    with session_scope(session_factory) as s:
        assert operational_now(s, wall + timedelta(hours=5))[0] == moment
