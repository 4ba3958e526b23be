"""Road graph: junctions, condition-aware travel times, Dijkstra variants, routes, cache."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from shapely.geometry import LineString

from geo.crs import from_metric_xy, to_metric, to_metric_xy
from geo.errors import UnreachableError
from geo.network import (
    CONDITIONS,
    VEHICLE_CLASSES,
    RoadGraph,
    speed_factor,
)
from geo.roads import segment_roads, validate_roads


def roads_frame(lines, codes, kms, oneway=None, speeds=None) -> gpd.GeoDataFrame:
    n = len(lines)
    return validate_roads(
        gpd.GeoDataFrame(
            {
                "road_code": codes,
                "km_start": [k[0] for k in kms],
                "km_end": [k[1] for k in kms],
                "oneway": oneway or [False] * n,
                "speed_car_kmh": [s[0] for s in speeds] if speeds else [80.0] * n,
                "speed_truck_kmh": [s[1] for s in speeds] if speeds else [60.0] * n,
            },
            geometry=lines,
            crs="EPSG:4326",
        )
    )


def metric_line(points_m) -> LineString:
    """A WGS84 line from metric (x, y) vertices, so lengths are exact metres."""
    xy = np.asarray(points_m, dtype=float)
    lon, lat = from_metric_xy(xy[:, 0], xy[:, 1])
    return LineString(np.column_stack([lon, lat]))


def lengths_m(line: LineString) -> float:
    return float(to_metric(gpd.GeoSeries([line], crs="EPSG:4326")).length.iloc[0])


# origin near Abag Banner in metric coordinates
X0, Y0 = (float(v) for v in to_metric_xy(115.0, 44.0))


def cross_network():
    """G331 west-east 10 km; S307 south-north 6 km crossing G331 mid-segment at x=4.5 km and
    S307 K3.5 (no shared vertex); Y001 ends 30 m short of G331 at x=8.3 km (mid-segment); X101 ends 80 m short
    of S307 (not joined)."""
    g331 = metric_line([(X0, Y0), (X0 + 10_000, Y0)])
    s307 = metric_line([(X0 + 4_500, Y0 - 3_500), (X0 + 4_500, Y0 + 2_500)])
    y001 = metric_line([(X0 + 8_300, Y0 - 30), (X0 + 8_300, Y0 - 2_030)])
    x101 = metric_line([(X0 + 4_580, Y0 + 2_000), (X0 + 6_580, Y0 + 2_000)])
    roads = roads_frame(
        [g331, s307, y001, x101],
        ["G331", "S307", "Y001", "X101"],
        [(100.0, 110.0), (0.0, 6.0), (0.0, 2.0), (0.0, 2.0)],
    )
    return roads, segment_roads(roads)


@pytest.fixture(scope="module")
def cross():
    roads, seg = cross_network()
    return RoadGraph.from_segments(seg)


def node_at(graph: RoadGraph, x: float, y: float) -> int:
    lon, lat = from_metric_xy(x, y)
    return int(graph.nearest_nodes(float(lon), float(lat))[0])


def to_networkx(graph: RoadGraph, times: np.ndarray) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(range(graph.n_nodes))
    for u, v, t in zip(graph.edge_from, graph.edge_to, times, strict=True):
        if np.isfinite(t) and (not g.has_edge(u, v) or g[u][v]["weight"] > t):
            g.add_edge(int(u), int(v), weight=float(t))
    return g


# ------------------------------------------------------------------ speed factors


def test_speed_factors_table():
    for vc in VEHICLE_CLASSES:
        assert speed_factor(vc, "clear") == 1.0
        assert speed_factor(vc, None) == 1.0
        assert speed_factor(vc, "closed") == 0.0
        for cond in CONDITIONS:
            assert 0.0 <= speed_factor(vc, cond) <= 1.0
    # plows keep most of their speed in drifting snow; cars do not
    assert speed_factor("plow", "drifting_snow") >= 0.8
    assert speed_factor("patrol_car", "drifting_snow") <= 0.4
    assert speed_factor("plow", "drifting_snow") > speed_factor("patrol_car", "drifting_snow")
    with pytest.raises(ValueError, match="'hovercraft'"):
        speed_factor("hovercraft", "clear")
    with pytest.raises(ValueError, match="'lava'"):
        speed_factor("plow", "lava")


# ------------------------------------------------------------------ structure


def test_junctions_cross_and_near_ends(cross):
    west = node_at(cross, X0, Y0)
    north = node_at(cross, X0 + 4_500, Y0 + 2_500)
    y_end = node_at(cross, X0 + 8_300, Y0 - 2_030)
    x_end = node_at(cross, X0 + 6_580, Y0 + 2_000)
    t = cross.travel_times_from(west, "patrol_car")
    # crossing without a shared vertex is joined: 4.5 km east + 2.5 km north at 80 km/h
    assert t[north] == pytest.approx(7_000 / (80 / 3.6), rel=1e-6)
    # a road ending 30 m short of another is joined
    assert t[y_end] == pytest.approx((8_300 + 2_000) / (80 / 3.6), rel=0.001)
    # 80 m short is not
    assert np.isinf(t[x_end])


def test_segment_ends_merge_into_one_chain(cross):
    # 10 x 1 km segments on G331 and 6 on S307, each cut once more at their crossing; G331 is
    # cut again where Y001 ends near it
    seg = cross.segments
    assert (seg["road_code"] == "G331").sum() == 10
    assert cross.n_edges == 2 * (12 + 7 + 2 + 2)


def test_nearest_nodes_vectorised(cross):
    lon, lat = from_metric_xy(np.array([X0, X0 + 10_000]), np.array([Y0 + 10, Y0 - 10]))
    got = cross.nearest_nodes(lon, lat)
    assert got.shape == (2,) and got.dtype.kind == "i"
    assert (
        np.hypot(
            *(
                np.array(to_metric_xy(cross.node_lon[got], cross.node_lat[got]))
                - [[X0, X0 + 10_000], [Y0, Y0]]
            )
        ).max()
        < 1.0
    )
    assert list(cross.nearest_nodes([np.nan, lon[0]], [lat[0], np.inf])) == [-1, -1]


# ------------------------------------------------------------------ times


def test_dijkstra_matches_networkx(cross):
    conditions = {"G331:102.0": "black_ice", "S307:4.0": "drifting_snow", "G331:106.0": "closed"}
    for vc in ("patrol_car", "plow"):
        times = cross.edge_times(vc, conditions)
        g = to_networkx(cross, times)
        src = node_at(cross, X0, Y0)
        ours = cross.travel_times_from(src, vc, conditions)
        ref = nx.single_source_dijkstra_path_length(g, src)
        for n in range(cross.n_nodes):
            if n in ref:
                assert ours[n] == pytest.approx(ref[n], rel=1e-9, abs=1e-9)
            else:
                assert np.isinf(ours[n])


def test_conditions_slow_cars_more_than_plows(cross):
    a = node_at(cross, X0, Y0)
    b = node_at(cross, X0 + 10_000, Y0)
    drift = {f"G331:{k}.0": "drifting_snow" for k in range(100, 110)}
    car_dry = cross.travel_times_from(a, "patrol_car")[b]
    car = cross.travel_times_from(a, "patrol_car", drift)[b]
    plow_dry = cross.travel_times_from(a, "plow")[b]
    plow = cross.travel_times_from(a, "plow", drift)[b]
    assert car / car_dry == pytest.approx(1 / speed_factor("patrol_car", "drifting_snow"))
    assert plow / plow_dry == pytest.approx(1 / speed_factor("plow", "drifting_snow"))
    assert car / car_dry > plow / plow_dry
    # truck-category vehicles use the truck speed limit, capped at their own top speed
    assert plow_dry == pytest.approx(10_000 / (50 / 3.6), rel=1e-6)
    assert cross.travel_times_from(a, "heavy_tow")[b] == pytest.approx(
        10_000 / (60 / 3.6), rel=1e-6
    )
    # several conditions on one segment: the worst counts
    worst = cross.travel_times_from(a, "patrol_car", {"G331:100.0": ["snow_packed", "black_ice"]})[
        b
    ]
    ice = cross.travel_times_from(a, "patrol_car", {"G331:100.0": "black_ice"})[b]
    assert worst == pytest.approx(ice)
    # unknown segment ids are ignored
    assert cross.travel_times_from(a, "patrol_car", {"Q1:0.0": "closed"})[b] == pytest.approx(
        car_dry
    )


def test_closed_road_is_impassable_and_route_raises(cross):
    a = node_at(cross, X0, Y0)
    b = node_at(cross, X0 + 10_000, Y0)
    closed = {"G331:105.0": "closed"}
    for vc in VEHICLE_CLASSES:
        assert np.isinf(cross.travel_times_from(a, vc, closed)[b])
    with pytest.raises(UnreachableError, match="no passable route for plow"):
        cross.route(a, b, "plow", closed)
    with pytest.raises(UnreachableError, match="not in the graph"):
        cross.travel_times_from(10_000_000, "plow")


def test_oneway_and_reverse():
    line = metric_line([(X0, Y0), (X0 + 3_000, Y0)])
    roads = roads_frame([line], ["G331"], [(0.0, 3.0)], oneway=[True])
    g = RoadGraph.from_segments(segment_roads(roads))
    a = node_at(g, X0, Y0)
    b = node_at(g, X0 + 3_000, Y0)
    assert g.travel_times_from(a, "patrol_car")[b] == pytest.approx(3_000 / (80 / 3.6))
    assert np.isinf(g.travel_times_from(b, "patrol_car")[a])
    to_b = g.travel_times_to(b, "patrol_car")
    assert to_b[a] == pytest.approx(3_000 / (80 / 3.6))
    assert np.isinf(g.travel_times_to(a, "patrol_car")[b])


def test_travel_times_to_equals_from_on_reversed_pairs(cross):
    conditions = {"S307:1.0": "snow_packed"}
    target = node_at(cross, X0 + 4_500, Y0 + 2_500)
    to_t = cross.travel_times_to(target, "rescue", conditions)
    for n in range(0, cross.n_nodes, 3):
        assert to_t[n] == pytest.approx(cross.travel_times_from(n, "rescue", conditions)[target])


def test_nearest_source_is_min_over_sources(cross):
    sources = [
        node_at(cross, X0, Y0),
        node_at(cross, X0 + 4_500, Y0 - 3_500),
        node_at(cross, X0, Y0),
    ]
    conditions = {"G331:101.0": "black_ice"}
    t, idx = cross.nearest_source(sources, "ambulance", conditions)
    full = cross.travel_time_matrix(sources, "ambulance", conditions)
    np.testing.assert_allclose(t, full.min(axis=0))
    reached = np.isfinite(t)
    assert (idx[~reached] == -1).all()
    # the reported source achieves the minimum; duplicates resolve to the first position
    np.testing.assert_allclose(full[idx[reached], np.flatnonzero(reached)], t[reached])
    assert 2 not in set(idx)
    empty_t, empty_i = cross.nearest_source([], "plow")
    assert np.isinf(empty_t).all() and (empty_i == -1).all()


def test_route_geometry_and_time(cross):
    a = node_at(cross, X0, Y0)
    b = node_at(cross, X0 + 4_500, Y0 + 2_500)
    conditions = {"G331:103.0": "snow_packed"}
    line, seconds = cross.route(a, b, "grit_spreader", conditions)
    assert seconds == pytest.approx(cross.travel_times_from(a, "grit_spreader", conditions)[b])
    assert lengths_m(line) == pytest.approx(7_000, rel=1e-6)
    start = to_metric_xy(*line.coords[0])
    end = to_metric_xy(*line.coords[-1])
    assert np.hypot(start[0] - X0, start[1] - Y0) < 1.0
    assert np.hypot(end[0] - X0 - 4_500, end[1] - Y0 - 2_500) < 1.0
    segs = cross.route_segments(a, b, "grit_spreader", conditions)
    assert segs == [f"G331:{k}.0" for k in range(100, 105)] + ["S307:3.0", "S307:4.0", "S307:5.0"]
    same, zero = cross.route(a, a, "plow")
    assert zero == 0.0 and same.coords[0] == same.coords[-1]


def test_graph_cache_per_segments():
    roads, seg = cross_network()
    g1 = RoadGraph.from_segments(seg)
    g2 = RoadGraph.from_segments(seg.copy())
    assert g1 is g2
    changed = seg.copy()
    changed.loc[0, "speed_car_kmh"] = 30.0
    g3 = RoadGraph.from_segments(changed)
    assert g3 is not g1
    a = node_at(g3, X0, Y0)
    b = node_at(g3, X0 + 1_000, Y0)
    assert g3.travel_times_from(a, "patrol_car")[b] == pytest.approx(1_000 / (30 / 3.6))


def test_unknown_vehicle_class(cross):
    with pytest.raises(ValueError, match="'tank'"):
        cross.edge_times("tank")


def test_cached_matrices_follow_changed_conditions(cross):
    a = node_at(cross, X0, Y0)
    b = node_at(cross, X0 + 10_000, Y0)
    cond = {"G331:105.0": "closed"}
    assert np.isinf(cross.travel_times_from(a, "rescue", cond)[b])
    cond["G331:105.0"] = "snow_packed"  # the caller mutates its dict: no stale answer
    slow = cross.travel_times_from(a, "rescue", cond)[b]
    assert np.isfinite(slow)
    assert slow > cross.travel_times_from(a, "rescue")[b]
    m = cross.matrix("rescue", cond)
    m.data[:] = 1.0  # a copy: the graph's own matrix is untouched
    assert cross.travel_times_from(a, "rescue", cond)[b] == pytest.approx(slow)
    assert cross.matrix("rescue", cond, reverse=True).shape == (cross.n_nodes, cross.n_nodes)
