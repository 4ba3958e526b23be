"""Dispatch: travel-time matrices, the optimal assignment against the closest-unit baseline,
eligibility, keeping units on their tasks, pre-positioning and AVL fixes (tiny networks).

The AVL fixes here go through the former Python-only names (``read_avl``, ``apply_avl_fixes``),
now thin wrappers over the avl report path; tests/test_positions.py covers that path itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from shapely.geometry import Point, box
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from geo.region import Region, load_region
from incidents.dispatch import (
    Candidate,
    TravelCache,
    apply_avl_fixes,
    build_recommendations,
    eta_matrix,
    greedy_mclp,
    load_state,
    preposition,
    read_avl,
    recommend,
    solve,
)
from incidents.settings import Settings
from incidents.store.engine import session_scope
from incidents.store.models import (
    Alert,
    Assignment,
    AssignmentState,
    DutyPoint,
    Incident,
    Report,
    Task,
    Unit,
    UnitStatus,
)

LON0, LAT0 = 116.0, 44.0
KM_DEG = 111.32 * np.cos(np.radians(LAT0))  # km per degree of longitude here
NOW = datetime(2025, 12, 13, 20, 0, tzinfo=UTC)


def lon_at(km: float) -> float:
    """Longitude of kilometre `km` along the east-west test road."""
    return LON0 + km / KM_DEG


def write_tiny_region(root: Path) -> Path:
    """A 60 km east-west national road (60 km/h) plus a 20 km spur north at km 30."""
    root.mkdir(parents=True, exist_ok=True)
    main = [[lon_at(k), LAT0] for k in range(0, 61, 5)]
    spur = [[lon_at(30), LAT0 + k / 111.2] for k in range(0, 21, 5)]
    props = {
        "name_zh": "测试路",
        "name_en": "Test road",
        "oneway": False,
        "speed_car_kmh": 60.0,
        "speed_truck_kmh": 60.0,
    }
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": main},
                "properties": {
                    **props,
                    "road_code": "G999",
                    "road_class": "national",
                    "km_start": 0.0,
                    "km_end": 60.0,
                    "section_id": "G999-01",
                },
            },
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": spur},
                "properties": {
                    **props,
                    "road_code": "Y998",
                    "road_class": "township",
                    "km_start": 0.0,
                    "km_end": 20.0,
                    "section_id": "Y998-01",
                },
            },
        ],
    }
    (root / "roads.geojson").write_text(json.dumps(fc), encoding="utf-8")
    (root / "road_chiefs.csv").write_text(
        "road_chief_id,name_zh,name_en,title_zh,title_en,phone,section_id\n"
        "RC9,路长甲,Chief A,副旗长,Deputy head,0479-1,G999-01\n",
        encoding="utf-8",
    )
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Region:
    """The tiny region, loaded."""
    return load_region(write_tiny_region(tmp_path_factory.mktemp("tiny") / "region"))


def node(region: Region, km: float) -> int:
    """Graph node nearest to kilometre `km` of the main road."""
    return int(region.graph.nearest_nodes(lon_at(km), LAT0)[0])


def add_unit(
    s: Session,
    uid: str,
    km: float,
    caps: tuple[str, ...] = ("traffic_control",),
    vclass: str = "patrol_car",
    **kw: object,
) -> Unit:
    """A unit at kilometre `km`."""
    u = Unit(
        id=uid,
        name=uid,
        vehicle_class=vclass,
        capabilities=list(caps),
        geometry=Point(lon_at(km), LAT0),
        position_at=NOW - timedelta(minutes=5),
        **kw,
    )
    s.add(u)
    s.flush()
    return u


def add_task(
    s: Session,
    km: float,
    priority: float,
    created: datetime,
    capability: str = "traffic_control",
    people: int = 0,
) -> Task:
    """An open task (with its incident) at kilometre `km`."""
    inc = Incident(
        kind="stranded",
        geometry=Point(lon_at(km), LAT0),
        people=people,
        first_report_at=created,
        last_report_at=created,
        priority=priority,
    )
    s.add(inc)
    s.flush()
    t = Task(
        incident_id=inc.id,
        kind=capability,
        capability=capability,
        priority=priority,
        geometry=Point(lon_at(km), LAT0),
        created_at=created,
    )
    s.add(t)
    s.flush()
    return t


# ------------------------------------------------------------------------------------------
# travel times
# ------------------------------------------------------------------------------------------


def test_eta_matrix_forward_and_reverse_agree_with_networkx(tiny: Region) -> None:
    g = tiny.graph
    m = g.matrix("patrol_car").tocoo()
    G = nx.DiGraph()
    G.add_weighted_edges_from(zip(m.row.tolist(), m.col.tolist(), m.data.tolist(), strict=True))
    units = np.array([node(tiny, 0), node(tiny, 20), node(tiny, 55)])
    tasks_few = np.array([node(tiny, 30)])  # fewer tasks -> reverse searches
    tasks_many = np.array([node(tiny, k) for k in (5, 12, 30, 41, 60)])  # more -> forward
    for tasks in (tasks_few, tasks_many):
        eta = eta_matrix(g, units, ["patrol_car"] * 3, tasks)
        for i, u in enumerate(units):
            ref = nx.single_source_dijkstra_path_length(G, int(u))
            for j, t in enumerate(tasks):
                assert eta[i, j] == pytest.approx(ref[int(t)], rel=1e-9)
    # 30 km at 60 km/h is about 30 minutes
    assert eta_matrix(g, units[:1], ["patrol_car"], tasks_few)[0, 0] == pytest.approx(
        1800, rel=0.02
    )


def test_travel_cache_matches_matrix_and_skips_incapable(tiny: Region) -> None:
    g = tiny.graph
    units = np.array([node(tiny, 0), node(tiny, 20)])
    tasks = [node(tiny, 12), node(tiny, 30)]
    cache = TravelCache(g)
    eta = cache.etas(
        ["a", "b"],
        tasks,
        ["traffic_control", "heavy_tow"],
        units,
        ["patrol_car", "heavy_tow"],
        [{"traffic_control"}, {"heavy_tow"}],
    )
    full = eta_matrix(g, units, ["patrol_car", "heavy_tow"], np.array(tasks))
    assert eta[0, 0] == pytest.approx(full[0, 0], rel=1e-6)
    assert eta[1, 1] == pytest.approx(full[1, 1], rel=1e-6)
    assert np.isinf(eta[0, 1]) and np.isinf(eta[1, 0])


# ------------------------------------------------------------------------------------------
# the assignment problem
# ------------------------------------------------------------------------------------------


def _cands(nodes: list[int], caps: str = "traffic_control") -> list[Candidate]:
    return [Candidate(f"U{i + 1}", "patrol_car", frozenset({caps}), n) for i, n in enumerate(nodes)]


def test_optimum_beats_closest_on_a_hand_checked_case(tiny: Region) -> None:
    """U1 at km 20, U2 at km 0; T1 (priority 10, first) at km 12, T2 (priority 100) at km 30.

    Closest-first: T1 <- U1 (8 km), then T2 <- U2 (30 km): 10*8 + 100*30 = 3080 km-points.
    Optimal:       T2 <- U1 (10 km), T1 <- U2 (12 km):   100*10 + 10*12 = 1120.
    """
    units = np.array([node(tiny, 20), node(tiny, 0)])
    tasks = np.array([node(tiny, 12), node(tiny, 30)])
    eta = eta_matrix(tiny.graph, units, ["patrol_car"] * 2, tasks)
    prio = np.array([10.0, 100.0])
    created = np.array([0.0, 1.0])
    caps = ["traffic_control"] * 2
    greedy = solve(eta, _cands(list(units)), caps, prio, created, "closest")
    best = solve(eta, _cands(list(units)), caps, prio, created, "optimized")
    assert sorted(greedy) == [(0, 0), (1, 1)]
    assert sorted(best) == [(0, 1), (1, 0)]

    def cost(pairs: list[tuple[int, int]]) -> float:
        return sum(prio[j] * eta[i, j] for i, j in pairs)

    assert cost(best) < cost(greedy)
    # brute force over both permutations confirms it is the optimum
    assert cost(best) == pytest.approx(min(cost([(0, 0), (1, 1)]), cost([(0, 1), (1, 0)])))


def test_scarce_units_go_to_the_highest_priority(tiny: Region) -> None:
    units = np.array([node(tiny, 30)])
    tasks = np.array([node(tiny, 25), node(tiny, 45)])  # the nearer one is less urgent
    eta = eta_matrix(tiny.graph, units, ["patrol_car"], tasks)
    pairs = solve(eta, _cands(list(units)), ["traffic_control"] * 2, np.array([5.0, 200.0]))
    assert pairs == [(0, 1)]


def test_capability_and_short_runs(tiny: Region) -> None:
    units = np.array([node(tiny, 29), node(tiny, 0)])
    tasks = np.array([node(tiny, 30)])
    eta = eta_matrix(tiny.graph, units, ["patrol_car"] * 2, tasks)
    c = _cands(list(units))
    c[0] = Candidate("U1", "patrol_car", frozenset({"plow"}), int(units[0]))  # cannot
    assert solve(eta, c, ["traffic_control"], np.array([50.0])) == [(1, 0)]
    # the only capable unit is tired and the run is 30 min: allowed (<= 45 min)
    c[1] = Candidate("U2", "patrol_car", frozenset({"traffic_control"}), int(units[1]), True)
    assert solve(eta, c, ["traffic_control"], np.array([50.0])) == [(1, 0)]
    # ... but not a 60 min run
    far = eta_matrix(
        tiny.graph, np.array([node(tiny, 0)]), ["patrol_car"], np.array([node(tiny, 60)])
    )
    assert far[0, 0] > 45 * 60
    assert solve(far, [c[1]], ["traffic_control"], np.array([50.0])) == []


def test_keeps_a_unit_on_its_task_unless_the_gain_passes_the_threshold(tiny: Region) -> None:
    # U1 is en route from km 20 to a low-priority task at km 0; a priority-200 task at km 25
    units = np.array([node(tiny, 20)])
    tasks = np.array([node(tiny, 0), node(tiny, 25)])
    eta = eta_matrix(tiny.graph, units, ["patrol_car"], tasks)
    prio = np.array([5.0, 200.0])
    busy = [Candidate("U1", "patrol_car", frozenset({"traffic_control"}), int(units[0]), False, 0)]
    caps = ["traffic_control"] * 2
    assert solve(eta, busy, caps, prio) == [(0, 1)]  # big gain: move it
    assert solve(eta, busy, caps, prio, keep_threshold_s=1e7) == []  # threshold not passed
    assert solve(eta, busy, caps, prio, policy="closest") == []  # the baseline never moves units


def test_greedy_mclp_picks_the_sites_covering_most() -> None:
    cover = np.array(
        [
            [1, 1, 0, 0, 0],
            [0, 1, 1, 1, 0],
            [0, 0, 0, 1, 1],
        ],
        dtype=bool,
    )
    w = np.array([1.0, 1.0, 2.0, 1.0, 5.0])
    assert greedy_mclp(cover, w, 1) == [2]
    assert greedy_mclp(cover, w, 2) == [2, 1]
    assert greedy_mclp(cover, w, 5) == [2, 1, 0]  # stops when nothing more is covered


# ------------------------------------------------------------------------------------------
# from the database
# ------------------------------------------------------------------------------------------


def test_recommend_from_database_explains_each_choice(
    tiny: Region, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_scope(session_factory) as s:
        add_unit(s, "U1", 20)
        add_unit(s, "U2", 0)
        add_unit(s, "OFF", 29, status=UnitStatus.OFF_SHIFT.value)
        t1 = add_task(s, 12, 10.0, NOW - timedelta(minutes=20))
        t2 = add_task(s, 30, 100.0, NOW - timedelta(minutes=5), people=4)
        ids = (t1.id, t2.id)
    with session_scope(session_factory) as s:
        best = recommend(s, tiny, settings, NOW)
        base = recommend(s, tiny, settings, NOW, policy="closest")
    assert {(r.task_id, r.unit_id) for r in best} == {(ids[1], "U1"), (ids[0], "U2")}
    assert {(r.task_id, r.unit_id) for r in base} == {(ids[0], "U1"), (ids[1], "U2")}
    top = best[0]
    assert top.task_id == ids[1] and top.priority == 100.0  # most urgent first
    assert top.eta_s == pytest.approx(600, rel=0.05)
    assert top.runner_up is not None and top.runner_up[0] == "U2"
    assert "U1" in top.reason and "runner-up U2" in top.reason and "4 people" in top.reason
    assert "次选U2" in top.reason_zh
    assert all(r.unit_id != "OFF" for r in best)
    assert top.to_dict()["runner_up"]["unit_id"] == "U2"


def test_recommend_suggests_moving_an_en_route_unit(
    tiny: Region, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_scope(session_factory) as s:
        add_unit(s, "U1", 20, status=UnitStatus.EN_ROUTE.value)
        low = add_task(s, 0, 5.0, NOW - timedelta(minutes=30))
        low.status = "assigned"
        s.add(
            Assignment(
                unit_id="U1",
                task_id=low.id,
                state=AssignmentState.EN_ROUTE.value,
                confirmed_at=NOW - timedelta(minutes=10),
                en_route_at=NOW - timedelta(minutes=9),
            )
        )
        high = add_task(s, 25, 250.0, NOW, people=30)
        high_id = high.id
    with session_scope(session_factory) as s:
        recs = recommend(s, tiny, settings, NOW)
    assert [(r.task_id, r.unit_id, r.action) for r in recs] == [(high_id, "U1", "reassign")]
    assert recs[0].replaces_assignment_id is not None
    assert "moves from task" in recs[0].reason


def test_a_task_that_has_its_unit_gets_no_plain_assign(
    tiny: Region, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    """After an override to a far unit, the near free unit is not offered as a plain assign."""
    with session_scope(session_factory) as s:
        add_unit(s, "FAR", 0, status=UnitStatus.ASSIGNED.value)
        add_unit(s, "NEAR", 11)
        held = add_task(s, 12, 50.0, NOW - timedelta(minutes=10))
        held.status = "assigned"
        s.add(
            Assignment(
                unit_id="FAR",
                task_id=held.id,
                state=AssignmentState.CONFIRMED.value,
                confirmed_at=NOW - timedelta(minutes=1),
            )
        )
        held_id = held.id
    with session_scope(session_factory) as s:
        recs = recommend(s, tiny, settings, NOW)
        state = load_state(s, tiny, NOW, settings=settings)
        near = [u.id for u in state.units].index("NEAR")
        col = [t.id for t in state.tasks].index(held_id)
        # even if the solver pairs the free unit with the held task, it is not proposed
        forced = build_recommendations(state, [(near, col)], "optimized")
    assert [(r.task_id, r.unit_id) for r in recs if r.action == "assign"] == []
    assert all(r.task_id != held_id or r.action == "reassign" for r in recs)
    assert forced == []


def test_preposition_stages_free_units_at_duty_points(
    tiny: Region, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_scope(session_factory) as s:
        add_unit(s, "FREE", 0)
        add_unit(s, "BUSY", 58)
        add_task(s, 59, 80.0, NOW)  # BUSY is the only sensible unit for this open task
        for i, km in enumerate((2, 45)):
            s.add(
                DutyPoint(
                    id=f"DP{i}",
                    kind="duty_point",
                    name=f"执勤点{i}",
                    name_en=f"Duty point {i}",
                    road_code="G999",
                    km=km,
                    geometry=Point(lon_at(km), LAT0),
                )
            )
        # blizzard forecast from 23:00 over km 35-60
        s.add(
            Alert(
                sender="test",
                identifier="A1",
                sent=NOW,
                msg_type="Alert",
                status="Actual",
                severity="Severe",
                onset=NOW + timedelta(hours=3),
                expires=NOW + timedelta(hours=20),
                area=box(lon_at(35), LAT0 - 0.05, lon_at(61), LAT0 + 0.05),
            )
        )
    with session_scope(session_factory) as s:
        sugg = preposition(s, tiny, settings, NOW, minutes=20)
        early = preposition(s, tiny, settings, NOW, minutes=20, lookahead_h=1)
    assert [(x.unit_id, x.duty_point_id) for x in sugg] == [("FREE", "DP1")]
    assert sugg[0].covered_km > 10
    assert "Duty point 1" in sugg[0].reason and "前置" in sugg[0].reason_zh
    assert early == []  # onset beyond the look-ahead: nothing to stage yet


def test_avl_fixes_from_csv_and_json(session_factory: sessionmaker[Session]) -> None:
    with session_scope(session_factory) as s:
        add_unit(s, "U1", 0)
        add_unit(s, "U2", 0)
    csv_bytes = (
        "unit_id,time,lon,lat,datum,fuel\n"
        f"U1,2025-12-14 04:00:00,{lon_at(10):.6f},{LAT0:.6f},wgs84,0.5\n"
        f"U1,2025-12-14 04:05:00,{lon_at(11):.6f},{LAT0:.6f},wgs84,0.4\n"
        "U9,2025-12-14 04:05:00,116.1,44.0,wgs84,\n"
    ).encode()
    frame = read_avl(csv_bytes)
    assert str(frame["time"].iloc[1]) == "2025-12-13 20:05:00+00:00"  # naive = Asia/Shanghai
    with session_scope(session_factory) as s:
        counts = apply_avl_fixes(s, frame)
    assert counts == {"applied": 1, "stale": 1, "unknown_unit": 1}
    # JSON in GCJ-02 (a phone map): converted to WGS84; an older fix than stored is ignored
    from geo.crs import wgs84_to_gcj02

    gx, gy = wgs84_to_gcj02(lon_at(20), LAT0)
    doc = {
        "fixes": [
            {
                "unit_id": "U2",
                "time": "2025-12-14T04:10:00+08:00",
                "lon": gx,
                "lat": gy,
                "datum": "gcj02",
                "crew_hours": 7.5,
            },
            {"unit_id": "U1", "time": "2025-12-14T03:00:00+08:00", "lon": 116.2, "lat": 44.0},
        ]
    }
    with session_scope(session_factory) as s:
        counts = apply_avl_fixes(s, read_avl(json.dumps(doc).encode()))
    assert counts == {"applied": 1, "stale": 1, "unknown_unit": 0}
    with session_scope(session_factory) as s:
        # every fix is an avl report now (one per unit and second), U9's included
        keys = sorted(s.scalars(select(Report.natural_key).where(Report.kind == "avl")))
        assert len(keys) == 5 and keys[-1] == "U9@2025-12-13T20:05:00+00:00"
        u1, u2 = s.get(Unit, "U1"), s.get(Unit, "U2")
        assert u1 is not None and u2 is not None
        assert u1.geometry is not None and u2.geometry is not None
        assert u1.geometry.x == pytest.approx(lon_at(11), abs=1e-6) and u1.fuel == 0.4
        assert u2.geometry.x == pytest.approx(lon_at(20), abs=1e-5) and u2.crew_hours == 7.5
    with pytest.raises(ValueError, match="lon"):
        read_avl(b"unit_id,time,lat\nU1,2025-12-14 04:00,44\n")


def test_travel_cache_grows_its_search_radius_until_units_are_reached(tiny: Region) -> None:
    g = tiny.graph
    units = np.array([node(tiny, 0), node(tiny, 20), node(tiny, 38)])
    args = (["t"], [node(tiny, 40)], ["rescue"], units, ["rescue"] * 3, [{"rescue"}] * 3)
    one = TravelCache(g, first_limit_s=600, min_units=1).etas(*args)
    # the unit 2 km away is inside the first 10 min radius: the search stops there
    assert np.isfinite(one[2, 0]) and np.isinf(one[:2, 0]).all()
    two = TravelCache(g, first_limit_s=600, min_units=2).etas(*args)
    # the next unit is 20 km away: the radius doubles (20, then 40 min) until it is reached
    assert np.isfinite(two[1:, 0]).all()
    assert two[1, 0] == pytest.approx(20 * 60, rel=0.05)
    full = TravelCache(g).etas(*args)
    assert np.isfinite(full).all()  # the default radius (12 h) reaches everyone
