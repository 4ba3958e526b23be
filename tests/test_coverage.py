"""Coverage: nearest-free-unit travel time per segment and the covered share of hazardous km."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from geo.coverage import coverage_share, segment_response_times
from incidents.fusion import coverage, fuse
from incidents.store.engine import session_scope
from incidents.store.models import Unit
from tests.fusion_region import NOW, at, report, tiny_region


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    return tiny_region(tmp_path_factory.mktemp("region"))


def _idx(region, sid):
    return int(np.flatnonzero(region.network.segments["segment_id"].to_numpy() == sid)[0])


def test_times_grow_away_from_the_unit(region):
    g = region.graph
    west = region.network.stake_to_point("G999", 0.0)
    t, src = segment_response_times(g, [west.x], [west.y], ["rescue"])
    assert t[_idx(region, "G999:0.0")] == pytest.approx(0.0, abs=1.0)
    along = [t[_idx(region, f"G999:{k}.0")] for k in range(0, 30, 5)]
    assert all(b > a for a, b in zip(along, along[1:], strict=False))
    # 20 km on a dry national road (trucks 60 km/h here): between 40 and 80 km/h on average
    assert 20_000 / (40 / 3.6) > t[_idx(region, "G999:20.0")] > 20_000 / (80 / 3.6)
    assert (src == 0).all()


def test_nearest_of_several_units_and_closed_road(region):
    g = region.graph
    west = region.network.stake_to_point("G999", 0.0)
    north = region.network.stake_to_point("Y001", 11.0)
    t, src = segment_response_times(g, [west.x, north.x], [west.y, north.y], ["rescue", "plow"])
    assert src[_idx(region, "G999:1.0")] == 0
    assert src[_idx(region, "Y001:10.0")] == 1
    # closing Y001 K5 cuts the north end off from the west unit's side
    closed = {"Y001:5.0": "closed"}
    t2, src2 = segment_response_times(g, [west.x], [west.y], ["rescue"], closed)
    assert np.isinf(t2[_idx(region, "Y001:8.0")])
    assert src2[_idx(region, "Y001:8.0")] == -1
    assert np.isfinite(t2[_idx(region, "Y001:3.0")])
    assert np.isinf(segment_response_times(g, [], [], [])[0]).all()


def test_coverage_share_by_hand():
    length = np.array([1000.0, 1000.0, 500.0, 2000.0])
    hazardous = np.array([True, True, True, False])
    time_s = np.array([60.0, 1900.0, 1700.0, 10.0])
    res = coverage_share(length, hazardous, time_s, 30)
    assert res["hazardous_km"] == pytest.approx(2.5)
    assert res["covered_km"] == pytest.approx(1.5)
    assert res["share"] == pytest.approx(0.6)
    assert coverage_share(length, np.zeros(4, bool), time_s, 30)["share"] == 1.0


def test_coverage_from_the_database(session_factory, settings, region):
    with session_scope(session_factory) as s:
        s.add(
            Unit(
                id="R1",
                name="Rescue 1",
                vehicle_class="rescue",
                capabilities=["rescue"],
                status="available",
                geometry=at(region, "G999", 0.0),
            )
        )
        s.add(
            Unit(
                id="T1",
                name="Tow 1",
                vehicle_class="heavy_tow",
                capabilities=["heavy_tow"],
                status="on_scene",
                geometry=at(region, "G999", 30.0),
            )
        )
        for km in (1.5, 2.5, 28.5, 29.5):
            s.add(
                report("drone_detection", "black_ice", at(region, "G999", km), 10, confidence=0.9)
            )
    with session_scope(session_factory) as s:
        fuse(s, region, settings, NOW)
    with session_scope(session_factory) as s:
        res = coverage(s, region, settings, NOW)
    per = res.per_segment.set_index("segment_id")
    assert sorted(per.index[per["hazardous"]]) == ["G999:1.0", "G999:2.0", "G999:28.0", "G999:29.0"]
    # only R1 is free: K1-K3 near it are covered, K28-K30 (next to the busy tow) are not
    assert per.loc["G999:1.0", "unit_id"] == "R1" and per.loc["G999:1.0", "covered"]
    assert per.loc["G999:28.0", "time_s"] > settings.coverage_minutes * 60
    lengths = per.loc[per["hazardous"], "length_m"]
    assert res.share == pytest.approx(lengths.iloc[:2].sum() / lengths.sum())
    assert res.minutes == settings.coverage_minutes
    # with the tow free as well, everything hazardous is covered
    with session_scope(session_factory) as s:
        s.scalars(select(Unit).where(Unit.id == "T1")).one().status = "available"
    with session_scope(session_factory) as s:
        assert coverage(s, region, settings, NOW).share == pytest.approx(1.0)


def test_segment_response_times_pick_the_first_fastest_edge_as_before() -> None:
    """Per segment: the earliest start node of its edges and that edge's source (the
    pre-issue-14 lexsort rule: ties go to the lowest edge index), on the demo region."""
    from pathlib import Path

    from geo.region import load_region

    region = load_region(Path(__file__).resolve().parents[1] / "data" / "region")
    g = region.graph
    rng = np.random.default_rng(8)
    pick = rng.choice(g.n_nodes, 12, replace=False)
    lon, lat = g.node_lon[pick], g.node_lat[pick]
    classes = ["patrol_car", "plow", "rescue"] * 4
    seg = region.network.segments["segment_id"].to_numpy()
    cond = {str(s): "closed" for s in rng.choice(seg, 30, replace=False)}
    got_t, got_i = segment_response_times(g, lon, lat, classes, cond)
    n_seg = len(g.segments)
    best_t = np.full(n_seg, np.inf)
    best_i = np.full(n_seg, -1, dtype=np.int64)
    nodes = g.nearest_nodes(lon, lat)
    cls = np.asarray(classes)
    for vc in sorted(set(classes)):
        members = np.flatnonzero(cls == vc)
        t_node, src = g.nearest_source(nodes[members], vc, cond)
        edge_t = t_node[g.edge_from]
        seg_t = np.full(n_seg, np.inf)
        np.minimum.at(seg_t, g.edge_segment, edge_t)
        order = np.lexsort((edge_t, g.edge_segment))
        first = np.ones(order.size, dtype=bool)
        first[1:] = g.edge_segment[order][1:] != g.edge_segment[order][:-1]
        seg_src = np.full(n_seg, -1, dtype=np.int64)
        chosen = order[first]
        s_idx = src[g.edge_from[chosen]]
        seg_src[g.edge_segment[chosen]] = np.where(s_idx >= 0, members[np.maximum(s_idx, 0)], -1)
        better = seg_t < best_t
        best_t = np.where(better, seg_t, best_t)
        best_i = np.where(better, seg_src, best_i)
    assert np.isfinite(best_t).mean() > 0.1 and (best_i >= 0).any()
    assert np.array_equal(got_t, best_t)
    assert np.array_equal(got_i, best_i)
