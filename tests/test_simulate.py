"""Storm replay on a small scenario (tiny region, a few calls and a drone detection)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from incidents.errors import ScenarioError
from incidents.replay.scenario import load_scenario
from incidents.replay.simulate import simulate, store_run
from incidents.settings import Settings
from incidents.store.engine import make_engine, session_factory, session_scope
from incidents.store.models import Assignment, Incident, SimulationRun, Task
from tests.test_dispatch import LAT0, lon_at, write_tiny_region

UNITS = (
    "unit_id,name_zh,name_en,vehicle_class,capabilities,brigade,home_base,lon,lat,crew_hour_limit\n"
    f"PC1,巡逻车1,Patrol 1,patrol_car,traffic_control,B,A,{lon_at(0):.6f},{LAT0},12\n"
    f"RV1,救援车1,Rescue 1,rescue,rescue;traffic_control,B,A,{lon_at(8):.6f},{LAT0},12\n"
    f"PL1,除雪车1,Plow 1,plow,plow;grit,B,A,{lon_at(60):.6f},{LAT0},12\n"
)


def write_small_scenario(root: Path) -> Path:
    """Two stranded groups (1 person first, then 12 people) and drone-found black ice."""
    region = write_tiny_region(root / "region")
    (region / "units.csv").write_text(UNITS, encoding="utf-8")
    sc = root / "small"
    (sc / "calls").mkdir(parents=True)
    (sc / "drone").mkdir()
    head = "call_id,time,lon,lat,datum,vehicles,people,vulnerable,vehicle_class,needs,notes\n"
    (sc / "calls" / "a.csv").write_text(
        head + f"C1,2025-12-13 20:05,{lon_at(5):.6f},{LAT0},wgs84,1,1,0,car,,one car stuck\n",
        encoding="utf-8",
    )
    (sc / "calls" / "b.csv").write_text(
        head
        + f"C2,2025-12-13 20:12,{lon_at(30):.6f},{LAT0},wgs84,6,12,2,car,heat,six cars stuck\n"
        + f"C3,2025-12-13 20:14,{lon_at(30.2):.6f},{LAT0},wgs84,6,12,2,car,heat,same queue\n",
        encoding="utf-8",
    )
    det = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon_at(50), LAT0]},
                "properties": {
                    "detection_id": "D1",
                    "flight_id": "F1",
                    "type": "black_ice",
                    "confidence": 0.95,
                    "time": "2025-12-13T20:00:00+08:00",
                },
            }
        ],
    }
    (sc / "drone" / "F1.geojson").write_text(json.dumps(det), encoding="utf-8")
    manifest = {
        "format": "winterops-scenario/1",
        "name": "small",
        "start": "2025-12-13T20:00:00+08:00",
        "duration_h": 5,
        "region": "../region",
        "on_scene_minutes": {"rescue": 30, "plow": 30, "traffic_control": 30, "grit": 20},
        "incident_overrides": [{"match_report": "call:C2", "on_scene_minutes": {"rescue": 100}}],
        "feeds": [
            {"kind": "drone", "file": "drone/F1.geojson", "release": "2025-12-13T20:02:00+08:00"},
            {"kind": "calls", "file": "calls/a.csv", "release": "2025-12-13T20:06:00+08:00"},
            {"kind": "calls", "file": "calls/b.csv", "release": "2025-12-13T20:15:00+08:00"},
        ],
    }
    (sc / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return sc


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small scenario folder."""
    return write_small_scenario(tmp_path_factory.mktemp("sim"))


@pytest.fixture(scope="module")
def runs(small: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Both policies replayed once (kept databases in a work folder)."""
    work = tmp_path_factory.mktemp("work")
    base = replace(Settings.from_env({}), var_dir=work / "var")
    return {
        p: simulate(small, p, settings=base, step_minutes=10, workdir=work / p)
        for p in ("closest", "optimized")
    } | {"work": work}


def test_replay_reaches_everyone_and_optimized_serves_the_group_first(
    runs: dict[str, object],
) -> None:
    closest, best = runs["closest"], runs["optimized"]
    mc, mo = closest.metrics, best.metrics  # type: ignore[attr-defined]
    assert mc["incidents"] == mo["incidents"] == 2  # C2 and C3 are one incident
    assert mc["incidents_unserved"] == mo["incidents_unserved"] == 0
    # first come, first served sends the rescue unit to the single car; the optimized policy
    # sends it to the 12 people: less priority-weighted waiting and fewer person-hours
    assert mo["ttfu_priority_weighted_min"] < mc["ttfu_priority_weighted_min"]
    assert mo["cold_exposure_person_hours"] < mc["cold_exposure_person_hours"]
    for m in (mc, mo):
        assert m["lower_bound_priority_weighted_min"] <= m["ttfu_priority_weighted_min"] + 1e-6
        strict = m["strict_lower_bound_priority_weighted_min"]
        assert strict <= m["lower_bound_priority_weighted_min"] + 1e-6
        assert m["ratio_to_lower_bound"] >= 1.0
        assert 0 < m["unit_utilisation"] < 1
        assert m["ttfu_p50_min"] <= m["ttfu_p90_min"]
    series = best.series  # type: ignore[attr-defined]
    assert len(series["t"]) == len(series["open_tasks"]) == len(series["free_units"]) > 20
    group = next(r for r in best.incidents if r["people"] == 12)  # type: ignore[attr-defined]
    assert group["ttfu_min"] is not None and group["lower_bound_min"] is not None


def test_replay_uses_network_times_and_on_scene_overrides(runs: dict[str, object]) -> None:
    work = runs["work"]
    assert isinstance(work, Path)
    engine = make_engine(f"sqlite:///{(work / 'optimized' / 'sim-optimized.db').as_posix()}")
    try:
        with session_scope(session_factory(engine)) as s:
            group = s.scalars(select(Incident).where(Incident.people == 12)).one()
            rescue = s.scalars(
                select(Assignment)
                .join(Task, Task.id == Assignment.task_id)
                .where(Task.incident_id == group.id, Task.kind == "rescue")
            ).one()
            assert rescue.unit_id == "RV1"
            assert rescue.cleared_at and rescue.on_scene_at and rescue.en_route_at
            # the override: 100 minutes on scene for the big group's rescue
            assert rescue.cleared_at - rescue.on_scene_at == timedelta(minutes=100)
            # travel took the network time: 22 km at the rescue vehicle's speed
            travel = (rescue.on_scene_at - rescue.en_route_at).total_seconds()
            assert travel == pytest.approx(rescue.eta_s, abs=1)
            assert 15 * 60 < travel < 40 * 60
            # the black ice got its grit run and the hazard was cleared by it
            grit = s.scalars(select(Task).where(Task.kind == "grit")).all()
            assert grit and grit[0].status == "done"
    finally:
        engine.dispose()


def test_store_run_keeps_metrics_and_series(
    runs: dict[str, object], session_factory: object
) -> None:
    best = runs["optimized"]
    rid = store_run(session_factory, best)  # type: ignore[arg-type]
    with session_scope(session_factory) as s:  # type: ignore[arg-type]
        row = s.get(SimulationRun, rid)
        assert row is not None and row.policy == "optimized" and row.scenario == "small"
        assert row.metrics["incidents"] == 2
        assert len(row.series["incidents"]) == 2 and row.series["t"]


def test_scenario_errors_name_each_problem(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            {
                "name": "bad",
                "start": "yesterday",
                "duration_h": 2,
                "feeds": [
                    {"kind": "fax", "file": "x"},
                    {"kind": "calls", "file": "missing.csv"},
                ],
            }
        )
    )
    with pytest.raises(ScenarioError) as e:
        load_scenario(tmp_path)
    text = str(e.value)
    assert "'yesterday'" in text and "'fax'" in text and "'missing.csv'" in text
    with pytest.raises(ScenarioError, match="cannot read scenario manifest"):
        load_scenario(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="policy"):
        simulate(tmp_path, "fastest")


def test_demo_storm_manifest_is_complete() -> None:
    sc = load_scenario(Path(__file__).resolve().parents[1] / "data" / "scenarios" / "demo-storm")
    kinds = {f.kind for f in sc.feeds}
    assert kinds == {"alerts", "drone", "calls", "waze"}
    assert sc.end - sc.start == timedelta(hours=48)
    assert sum(f.kind == "alerts" for f in sc.feeds) == 10
    assert sum(f.path.suffix == ".gpx" for f in sc.feeds) == 30
    assert sc.demo_moment is not None and sc.start < sc.demo_moment < sc.end
    assert any(o.get("event") == "abag_35_stranded" for o in sc.incident_overrides)


def test_replay_gives_the_pre_issue_replays_results(
    small: Path, runs: dict[str, object], tmp_path: Path
) -> None:
    """The faster replay (issue 14) changes no figure: same metrics, series and incident rows."""
    from tests.benchmarks import simulate_v0

    base = replace(Settings.from_env({}), var_dir=tmp_path / "var")
    for policy in ("closest", "optimized"):
        old = simulate_v0.simulate(small, policy, settings=base, step_minutes=10)
        new = runs[policy]
        new_metrics = {k: v for k, v in new.metrics.items() if k != "timings_s"}  # type: ignore[attr-defined]
        assert new_metrics == {k: v for k, v in old.metrics.items() if k != "timings_s"}
        assert new.series == old.series  # type: ignore[attr-defined]
        assert new.incidents == old.incidents  # type: ignore[attr-defined]
