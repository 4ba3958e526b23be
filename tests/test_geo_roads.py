"""Road files, segmentation and linear referencing on tiny literal networks."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiLineString, Point, Polygon

from geo.crs import METRIC_CRS, from_metric_xy, to_metric, to_metric_xy
from geo.errors import CoordinateError, NetworkFileError, StakeError, UnknownRoadError
from geo.roads import (
    ROAD_COLUMNS,
    SEGMENT_COLUMNS,
    RoadNetwork,
    read_roads,
    road_class_for_code,
    segment_roads,
    validate_roads,
)

# an east-west national road with a bend, a north-south provincial road crossing it, and a
# township road in two pieces (km 0-3.5 and 3.5-6)
G331 = LineString([(115.0, 44.0), (115.05, 44.01), (115.13, 44.0)])
S307 = LineString([(115.06, 43.97), (115.06, 44.05)])
Y001_A = LineString([(115.2, 44.0), (115.24, 44.0)])
Y001_B = LineString([(115.24, 44.0), (115.24, 44.03)])


def tiny_roads() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "road_code": ["G331", "S307", "Y001", "Y001"],
            "name_zh": ["国道331线", "省道307线", "乡道001线", "乡道001线"],
            "name_en": ["G331", "S307", "Y001 township road", "Y001 township road"],
            "road_class": ["national", "provincial", "township", "township"],
            "km_start": [1500.0, 10.0, 0.0, 3.5],
            "km_end": [1510.2, 19.0, 3.5, 6.0],
            "oneway": [False, False, False, True],
            "speed_car_kmh": [80.0, 70.0, 40.0, 40.0],
            "speed_truck_kmh": [60.0, 60.0, 30.0, 30.0],
            "section_id": ["G331-01", "S307-01", "Y001-01", "Y001-01"],
        },
        geometry=[G331, S307, Y001_A, Y001_B],
        crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def network() -> RoadNetwork:
    return RoadNetwork(validate_roads(tiny_roads()))


# ------------------------------------------------------------------ reading files


@pytest.mark.parametrize(
    ("name", "driver"),
    [("roads.gpkg", "GPKG"), ("roads.shp", "ESRI Shapefile"), ("roads.geojson", "GeoJSON")],
)
def test_read_each_format(tmp_path, name, driver):
    src = tiny_roads()
    path = tmp_path / name
    out = src
    if driver == "ESRI Shapefile":  # field names cut to 10 characters, as agencies' files have
        out = src.rename(columns={"speed_car_kmh": "speed_car_", "speed_truck_kmh": "speed_truc"})
    out.to_file(path, driver=driver, engine="pyogrio")
    got = read_roads(path)
    assert list(got.columns[: len(ROAD_COLUMNS)]) == list(ROAD_COLUMNS)
    assert got.crs.equals("EPSG:4326")
    assert list(got["road_code"]) == ["G331", "S307", "Y001", "Y001"]
    assert list(got["oneway"]) == [False, False, False, True]
    np.testing.assert_allclose(got["km_end"], src["km_end"])
    np.testing.assert_allclose(got["speed_truck_kmh"], src["speed_truck_kmh"])
    assert list(got["section_id"]) == list(src["section_id"])
    assert list(got["name_zh"]) == list(src["name_zh"])
    for a, b in zip(got.geometry, src.geometry, strict=True):
        assert a.equals_exact(b, 1e-9)


def test_reprojected_file_comes_back_in_wgs84(tmp_path):
    path = tmp_path / "metric.gpkg"
    tiny_roads().to_crs(METRIC_CRS).to_file(path, engine="pyogrio")
    got = read_roads(path)
    assert got.crs.equals("EPSG:4326")
    assert got.geometry.iloc[0].equals_exact(G331, 1e-7)


def test_defaults_fill_optional_fields():
    gdf = gpd.GeoDataFrame(
        {
            "road_code": ["g6", "G331", "S307", "X101", "Y001"],
            "km_start": [0.0] * 5,
            "km_end": [1.0] * 5,
        },
        geometry=[LineString([(115 + i, 44), (115.01 + i, 44)]) for i in range(5)],
        crs="EPSG:4326",
    )
    got = validate_roads(gdf)
    assert list(got["road_code"]) == ["G6", "G331", "S307", "X101", "Y001"]
    assert list(got["road_class"]) == ["expressway", "national", "provincial", "county", "township"]
    assert list(got["name_zh"]) == list(got["road_code"])
    assert not got["oneway"].any()
    assert got["speed_car_kmh"].iloc[0] > got["speed_car_kmh"].iloc[4]
    assert road_class_for_code("S20") == "expressway"
    assert road_class_for_code("G1013") == "expressway"


def test_multilinestring_that_joins_is_accepted():
    gdf = tiny_roads().iloc[[0]].copy()
    gdf.geometry = [
        MultiLineString([[(115.0, 44.0), (115.05, 44.01)], [(115.05, 44.01), (115.13, 44.0)]])
    ]
    got = validate_roads(gdf)
    assert got.geometry.iloc[0].geom_type == "LineString"
    assert got.geometry.iloc[0].equals(G331)


def test_missing_fields_named(tmp_path):
    gdf = tiny_roads().drop(columns=["road_code"])
    path = tmp_path / "bad.geojson"
    gdf.to_file(path, driver="GeoJSON", engine="pyogrio")
    with pytest.raises(NetworkFileError, match="missing required field.*road_code") as ei:
        read_roads(path)
    assert str(path) in str(ei.value)
    # without a frame CRS validate_roads refuses rather than guess WGS84
    with pytest.raises(NetworkFileError, match="has no CRS"):
        validate_roads(tiny_roads().set_crs(None, allow_override=True))


@pytest.mark.parametrize(
    ("geom", "expected"),
    [
        (Point(115, 44), "geometry is a Point, not a line"),
        (Polygon([(115, 44), (115.1, 44), (115.1, 44.1)]), "geometry is a Polygon"),
        (LineString(), "empty geometry"),
        (None, "empty geometry"),
        (MultiLineString([[(115, 44), (115.1, 44)], [(116, 44), (116.1, 44)]]), "do not join"),
        (LineString([(115, 44), (115, 44)]), "zero length"),
    ],
)
def test_broken_geometry_named(geom, expected):
    gdf = tiny_roads()
    gdf.loc[1, "geometry"] = geom
    with pytest.raises(NetworkFileError, match=expected) as ei:
        validate_roads(gdf)
    assert "feature 1 (S307)" in str(ei.value)


def test_every_problem_listed_in_one_error(tmp_path):
    gdf = tiny_roads()
    gdf.loc[0, "km_end"] = 1400.0  # before km_start
    gdf.loc[1, "road_code"] = "K307"  # unknown prefix
    gdf.loc[2, "geometry"] = Point(115.2, 44.0)
    gdf.loc[3, "road_class"] = "motorway"
    path = tmp_path / "bad.gpkg"
    gdf.to_file(path, engine="pyogrio")
    with pytest.raises(NetworkFileError) as ei:
        read_roads(path)
    msg = str(ei.value)
    assert "4 problem(s)" in msg
    assert "km_end 1400 <= km_start 1500" in msg
    assert "unknown road code 'K307'" in msg
    assert "feature 2 (Y001): geometry is a Point" in msg
    assert "unknown road_class 'motorway'" in msg


def test_projected_coordinates_without_crs(tmp_path):
    # an agency Shapefile in metres whose .prj went missing
    path = tmp_path / "nocrs.shp"
    tiny_roads()[["road_code", "km_start", "km_end", "geometry"]].to_crs(METRIC_CRS).to_file(
        path, engine="pyogrio"
    )
    path.with_suffix(".prj").unlink()
    with pytest.raises(
        NetworkFileError, match=r"nocrs.shp has no CRS: add nocrs.prj or pass --crs EPSG:4326"
    ):
        read_roads(path)
    # told the CRS, it reads (metres in the metric CRS)
    got = read_roads(path, crs=METRIC_CRS)
    assert got.crs.equals("EPSG:4326")
    assert got.geometry.iloc[0].distance(G331) < 1e-6
    # a lon/lat file without a .prj is refused the same way, never taken as WGS84 silently
    lonlat = tmp_path / "lonlat.shp"
    tiny_roads()[["road_code", "km_start", "km_end", "geometry"]].to_file(lonlat, engine="pyogrio")
    lonlat.with_suffix(".prj").unlink()
    with pytest.raises(NetworkFileError, match="lonlat.shp has no CRS"):
        read_roads(lonlat)


def test_overlapping_pieces_of_one_road():
    gdf = tiny_roads()
    gdf.loc[3, "km_start"] = 3.0
    with pytest.raises(
        NetworkFileError, match=r"features 2 and 3 \(Y001\): kilometre ranges overlap"
    ):
        validate_roads(gdf)


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(NetworkFileError, match="does not exist"):
        read_roads(tmp_path / "nope.gpkg")
    junk = tmp_path / "junk.geojson"
    junk.write_text("{not json", encoding="utf-8")
    with pytest.raises(NetworkFileError, match="cannot read road network file"):
        read_roads(junk)
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with pytest.raises(NetworkFileError, match="no road features"):
        read_roads(empty)


# ------------------------------------------------------------------ segments


def test_segments_follow_kilometre_posts(network):
    seg = network.segments
    assert list(seg.columns[: len(SEGMENT_COLUMNS)]) == list(SEGMENT_COLUMNS)
    assert seg["segment_id"].is_unique
    g = seg[seg["road_code"] == "G331"]
    # K1500..K1509 whole kilometres; the 0.2 km leftover is merged into the last one
    assert list(g["segment_id"]) == [f"G331:{k}.0" for k in range(1500, 1510)]
    assert g["km_to"].iloc[-1] == pytest.approx(1510.2)
    np.testing.assert_allclose(g["km_from"].to_numpy()[1:], g["km_to"].to_numpy()[:-1])
    # the segments cover the road exactly, measured in the metric CRS
    road_len = to_metric(gpd.GeoSeries([G331], crs="EPSG:4326")).length.iloc[0]
    assert g["length_m"].sum() == pytest.approx(road_len, rel=1e-9)
    assert to_metric(g.geometry).length.sum() == pytest.approx(road_len, rel=1e-6)
    # pieces carry their road's attributes
    y = seg[seg["road_code"] == "Y001"]
    assert list(y["segment_id"]) == [
        "Y001:0.0",
        "Y001:1.0",
        "Y001:2.0",
        "Y001:3.0",
        "Y001:3.5",
        "Y001:4.0",
        "Y001:5.0",
    ]
    assert list(y["oneway"]) == [False] * 4 + [True] * 3
    assert set(y["road_name_en"]) == {"Y001 township road"}


def test_segment_length_parameter_and_short_leftovers():
    roads = validate_roads(tiny_roads())
    seg = segment_roads(roads, length_m=500)
    g = seg[seg["road_code"] == "S307"]
    assert len(g) == 18 and g["km_from"].iloc[1] == pytest.approx(10.5)
    roads.loc[1, "km_start"] = 9.9  # 0.1 km to K10: merged into the first segment
    seg2 = segment_roads(roads)
    s = seg2[seg2["road_code"] == "S307"]
    assert s["km_from"].iloc[0] == pytest.approx(9.9) and s["km_to"].iloc[0] == pytest.approx(11.0)
    with pytest.raises(ValueError, match="positive"):
        segment_roads(roads, length_m=0)


# ------------------------------------------------------------------ linear referencing


def test_stake_to_point_ends_and_bend(network):
    assert network.stake_to_point("G331", 1500.0).equals_exact(Point(115.0, 44.0), 1e-9)
    assert network.stake_to_point("g331", 1510.2).equals_exact(Point(115.13, 44.0), 1e-9)
    # the bend vertex sits at its share of the measured length
    xy = to_metric_xy(np.array([115.0, 115.05, 115.13]), np.array([44.0, 44.01, 44.0]))
    first = np.hypot(np.diff(xy[0]), np.diff(xy[1]))
    km_bend = 1500.0 + 10.2 * first[0] / first.sum()
    assert network.stake_to_point("G331", km_bend).distance(Point(115.05, 44.01)) < 1e-7


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["G331", "S307", "Y001"]), st.floats(min_value=0.0, max_value=1.0))
def test_round_trip_km_point_km_within_one_metre(code, frac):
    net = _NET
    lo, hi = net.road_range(code)[0][0], net.road_range(code)[-1][1]
    km = lo + frac * (hi - lo)
    p = net.stake_to_point(code, km)
    pos = net.point_to_stake(p.x, p.y)
    assert pos.road_code == code or pos.offset_m < 1.0  # at the crossing either road is right
    if pos.road_code == code:
        assert abs(pos.km - km) * 1000 < 1.0
    assert pos.offset_m < 1.0
    back = net.stake_to_point(pos.road_code, pos.km)
    bx, by = to_metric_xy(np.array([p.x, back.x]), np.array([p.y, back.y]))
    assert np.hypot(bx[1] - bx[0], by[1] - by[0]) < 1.0


_NET = RoadNetwork(validate_roads(tiny_roads()))


def test_point_to_stake_offset_and_stake_text(network):
    # a point 200 m east of S307 K16+000 (meridians are straight lines in the conic)
    p = network.stake_to_point("S307", 16.0)
    x, y = to_metric_xy(p.x, p.y)
    lon, lat = from_metric_xy(x + 200.0, y)
    pos = network.point_to_stake(float(lon), float(lat))
    assert pos.road_code == "S307"
    assert pos.offset_m == pytest.approx(200.0, abs=0.5)
    assert pos.km == pytest.approx(16.0, abs=0.002)
    assert pos.segment_id in {"S307:15.0", "S307:16.0"}
    assert network.point_to_stake(p.x, p.y).stake == "S307 K16+000"


def test_stake_errors_name_road_and_range(network):
    with pytest.raises(
        StakeError, match=r"K1520\+000 is outside road G331's range \(K1500\+000-K1510\+200\)"
    ):
        network.stake_to_point("G331", 1520.0)
    with pytest.raises(StakeError, match="outside road Y001's range"):
        network.stake_to_point("Y001", 6.5)
    with pytest.raises(UnknownRoadError, match="unknown road 'G999'.*G331, S307, Y001"):
        network.stake_to_point("G999", 1.0)
    # pieces of one road are both reachable
    assert network.stake_to_point("Y001", 3.5).equals_exact(Point(115.24, 44.0), 1e-9)
    assert network.stake_to_point("Y001", 6.0).equals_exact(Point(115.24, 44.03), 1e-9)


def test_snap_matches_brute_force(network):
    rng = np.random.default_rng(7)
    lon = rng.uniform(114.98, 115.26, 400)
    lat = rng.uniform(43.96, 44.06, 400)
    got = network.snap(lon, lat, tolerance_m=1500)
    assert len(got) == 400 and list(got.columns) == ["segment_id", "distance_m", "road_code", "km"]
    seg_m = np.asarray(to_metric(network.segments.geometry).to_numpy(), dtype=object)
    x, y = to_metric_xy(lon, lat)
    pts = shapely.points(x, y)
    d_all = shapely.distance(pts[:, None], seg_m[None, :])
    best = d_all.min(axis=1)
    within = best <= 1500
    assert within.any() and (~within).any()
    assert got["segment_id"][~within].isna().all()
    assert all(v is None for v in got["segment_id"][~within])
    assert got["km"][~within].isna().all()
    np.testing.assert_allclose(got["distance_m"][within], best[within], atol=1e-6)
    ids = network.segments["segment_id"].to_numpy()
    chosen = got["segment_id"][within].to_numpy()
    # the chosen segment is one of the nearest (ties at shared ends are allowed)
    for i, sid in zip(np.flatnonzero(within), chosen, strict=True):
        assert d_all[i, list(ids).index(sid)] == pytest.approx(best[i], abs=1e-6)
    # km agrees with point_to_stake
    i = int(np.flatnonzero(within)[0])
    pos = network.point_to_stake(lon[i], lat[i])
    assert got["km"].iloc[i] == pytest.approx(pos.km, abs=1e-6)


def test_snap_non_finite_positions(network):
    got = network.snap([np.nan, 115.06, np.inf], [44.0, 44.0, 44.0])
    assert got["segment_id"].iloc[0] is None and got["segment_id"].iloc[2] is None
    assert got["road_code"].iloc[1] == "S307"
    assert len(network.snap([], [])) == 0
    with pytest.raises(CoordinateError, match="nan"):
        network.point_to_stake(float("nan"), 44.0)


def test_snap_scalar_and_order(network):
    p = network.stake_to_point("S307", 12.5)
    got = network.snap([116.5, p.x], [44.0, p.y])
    assert got["segment_id"].iloc[0] is None
    assert got["segment_id"].iloc[1] == "S307:12.0"
    assert got["km"].iloc[1] == pytest.approx(12.5, abs=1e-6)
    one = network.snap(p.x, p.y)
    assert len(one) == 1 and one["road_code"].iloc[0] == "S307"
    assert isinstance(got, pd.DataFrame)
    idx = network.nearest_segments([p.x], [p.y])
    assert network.segments["segment_id"].iloc[int(idx[0])] == "S307:12.0"


@pytest.mark.parametrize("tolerance_m", [3.0, 40.0, 250.0, 5000.0])
def test_snap_exact_at_every_tolerance(network, tolerance_m):
    # small tolerances use the cell index's sparse lookup, large ones its dense table
    rng = np.random.default_rng(11)
    seg_m = np.asarray(to_metric(network.segments.geometry).to_numpy(), dtype=object)
    on = shapely.line_interpolate_point(
        seg_m[rng.integers(0, len(seg_m), 300)], rng.random(300), normalized=True
    )
    xy = shapely.get_coordinates(on) + rng.normal(0, tolerance_m, (300, 2))
    lon, lat = from_metric_xy(xy[:, 0], xy[:, 1])
    got = network.snap(lon, lat, tolerance_m=tolerance_m)
    best = shapely.distance(shapely.points(xy)[:, None], seg_m[None, :]).min(axis=1)
    within = best <= tolerance_m
    assert within.sum() > 100
    assert got["segment_id"][~within].isna().all()
    np.testing.assert_allclose(got["distance_m"][within], best[within], atol=1e-6)


# ------------------------------------------------------------------ agency files (issue 11)


def _agency_frame() -> gpd.GeoDataFrame:
    """Hulunbuir-like county roads as an agency writes them: LXBM/LXMC/JSDJ, no posts."""
    # X101 in two pieces given in reverse file order (the second piece first)
    a = metric_line_deg([(0, 0), (3_000, 0), (3_000, 4_000)])  # 7 km
    b = metric_line_deg([(3_000, 4_000), (3_000, 6_000)])  # 2 km, starts where a ends
    c = metric_line_deg([(10_000, 0), (10_000, 5_000)])  # 5 km
    return gpd.GeoDataFrame(
        {"LXBM": ["x101", "X101", "Y203"], "LXMC": ["县道101线", "县道101线", "乡道203线"],
         "JSDJ": ["县道", "县道", "乡道"]},
        geometry=[b, a, c],
        crs="EPSG:4326",
    )


def metric_line_deg(points_m) -> LineString:
    x0, y0 = (float(v) for v in to_metric_xy(119.7, 49.2))  # near Hailar
    xy = np.asarray(points_m, dtype=float)
    lon, lat = from_metric_xy(xy[:, 0] + x0, xy[:, 1] + y0)
    return LineString(np.column_stack([lon, lat]))


def test_posts_derived_along_the_geometry_from_an_anchor(tmp_path):
    path = tmp_path / "county.fgb"
    _agency_frame().to_file(path, driver="FlatGeobuf", engine="pyogrio", SPATIAL_INDEX="NO")
    got = read_roads(path, km_anchors={"X101": 12.0})
    assert list(got["road_code"]) == ["X101", "X101", "Y203"]
    assert list(got["road_class"]) == ["county", "county", "township"]
    assert list(got["name_zh"]) == ["县道101线", "县道101线", "乡道203线"]
    assert got["km_derived"].all()
    # the piece in file position 1 comes first on the road: K12 at its first vertex
    assert got.loc[1, "km_start"] == pytest.approx(12.0)
    assert got.loc[1, "km_end"] == pytest.approx(19.0, abs=0.05)  # geodesic 7 km
    assert got.loc[0, "km_start"] == pytest.approx(got.loc[1, "km_end"])
    assert got.loc[0, "km_end"] == pytest.approx(21.0, abs=0.05)
    assert got.loc[2, "km_start"] == 0.0 and got.loc[2, "km_end"] == pytest.approx(5.0, abs=0.03)
    net = RoadNetwork(got)
    assert net.point_to_stake(*net.stake_to_point("X101", 19.0).coords[0]).km == pytest.approx(
        19.0, abs=0.01
    )


def test_field_mapping_and_named_problems(tmp_path):
    gdf = _agency_frame().rename(columns={"LXBM": "code_x", "LXMC": "nm"})
    gdf["from_km"] = [7.0, 0.0, 0.0]
    gdf["to_km"] = [9.0, 7.0, "五"]
    path = tmp_path / "roads.gpkg"
    gdf.to_file(path, layer="roads", engine="pyogrio")
    fields = {"road_code": "code_x", "name_zh": "nm", "km_start": "from_km", "km_end": "to_km"}
    with pytest.raises(NetworkFileError, match=r"feature 2 \(Y203\): km_start/km_end not numbers"):
        read_roads(path, fields=fields)
    with pytest.raises(NetworkFileError, match=r"field mapping names field\(s\) the file lacks: "
                       r"'QDZH' \(for km_start\)"):
        read_roads(path, fields={"km_start": "QDZH"})


def test_gpkg_layers_chosen(tmp_path):
    path = tmp_path / "two.gpkg"
    roads = tiny_roads()
    roads.to_file(path, layer="roads", engine="pyogrio")
    gpd.GeoDataFrame({"name": ["A"]}, geometry=[Point(115.0, 44.0)], crs="EPSG:4326").to_file(
        path, layer="towns", engine="pyogrio"
    )
    assert len(read_roads(path)) == 4  # the only line layer
    roads.iloc[:2].to_file(path, layer="main_roads", engine="pyogrio")
    with pytest.raises(NetworkFileError, match=r"two.gpkg has 3 layers .*choose one with --layer"):
        read_roads(path)
    assert list(read_roads(path, layer="main_roads")["road_code"]) == ["G331", "S307"]
    with pytest.raises(NetworkFileError, match=r"no layer 'nope'; its layers: roads, towns"):
        read_roads(path, layer="nope")
