"""Region loading (cached per folder and file times) and Region.locate, on a tiny region written
in tmp_path and on the demo region in data/region/."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import LineString, box

from geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from geo.errors import (
    CoordinateError,
    GeoError,
    NetworkFileError,
    OutsideRegionError,
    StakeError,
    UnknownPlaceError,
    UnknownRoadError,
)
from geo.region import LocateResult, Region, load_region

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "region"
GEOD = Geod(ellps="WGS84")
LOCATE_KEYS = ["lon", "lat", "road", "km", "offset_m", "admin_code", "admin_name", "method"]


def dist_m(lon1, lat1, lon2, lat2) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def write_tiny_region(folder: Path) -> Path:
    """A two-banner region: G331 west-east at 44.5N (K1500-K1740), S101 from Xilinhot north to
    G331, Y001 from the Abag seat north to G331. Returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    places = gpd.GeoDataFrame(
        {
            "admin_code": ["150000", "152500", "152522", "152502"],
            "level": ["province", "league", "banner", "banner"],
            "name_zh": ["内蒙古自治区", "锡林郭勒盟", "阿巴嘎旗", "锡林浩特市"],
            "name_en": ["Inner Mongolia", "Xilingol League", "Abag Banner", "Xilinhot"],
            "parent_code": ["100000", "150000", "152500", "152500"],
            "seat_lon": [116.08, 116.08, 114.96, 116.08],
            "seat_lat": [43.94, 43.94, 44.02, 43.94],
        },
        geometry=[
            box(113, 42, 119, 47),
            box(113, 42, 119, 47),
            box(113, 42, 116, 47),
            box(116, 42, 119, 47),
        ],
        crs="EPSG:4326",
    )
    places.to_file(folder / "places.geojson", driver="GeoJSON", engine="pyogrio")
    g331 = LineString([(114.5 + 0.5 * i, 44.5) for i in range(7)])
    roads = gpd.GeoDataFrame(
        {
            "road_code": ["G331", "S101", "Y001"],
            "name_zh": ["国道331线", "省道101线", "乡道001线"],
            "name_en": ["G331", "S101", "Y001"],
            "road_class": ["national", "provincial", "township"],
            "km_start": [1500.0, 0.0, 0.0],
            "km_end": [1740.0, 72.0, 55.0],
            "oneway": [False, False, False],
            "speed_car_kmh": [80.0, 70.0, 40.0],
            "speed_truck_kmh": [60.0, 60.0, 30.0],
            "section_id": ["G331-01", "S101-01", "Y001-01"],
        },
        geometry=[
            g331,
            LineString([(116.08, 43.94), (116.3, 44.2), (116.5, 44.5)]),
            LineString([(114.96, 44.02), (115.0, 44.5)]),
        ],
        crs="EPSG:4326",
    )
    roads.to_file(folder / "roads.geojson", driver="GeoJSON", engine="pyogrio")
    pd.DataFrame(
        {
            "name_zh": ["别力古台镇", "锡林浩特"],
            "name_en": ["Bieligutai Town", "Xilinhot"],
            "kind": ["town", "town"],
            "lon": [114.96, 116.08],
            "lat": [44.02, 43.94],
            "admin_code": ["152522", "152502"],
            "source": ["test", "test"],
        }
    ).to_csv(folder / "towns.csv", index=False)
    pd.DataFrame(
        {
            "unit_id": ["U1", "U2"],
            "name_zh": ["巡逻车1", "除雪车1"],
            "name_en": ["Patrol 1", "Plow 1"],
            "vehicle_class": ["patrol_car", "plow"],
            "capabilities": ["traffic_control", "plow"],
            "brigade": ["b", "b"],
            "home_base": ["锡林浩特", "别力古台镇"],
            "lon": [116.08, 114.96],
            "lat": [43.94, 44.02],
            "crew_hour_limit": [12, 12],
        }
    ).to_csv(folder / "units.csv", index=False)
    pd.DataFrame(
        {
            "section_id": ["G331-01"],
            "road_code": ["G331"],
            "km_from": [1500.0],
            "km_to": [1740.0],
            "name_zh": ["G331段"],
            "name_en": ["G331 section"],
            "maintainer": ["m"],
            "road_chief_id": ["RC01"],
        }
    ).to_csv(folder / "sections.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Region:
    return load_region(write_tiny_region(tmp_path_factory.mktemp("region")))


# ------------------------------------------------------------------ loading


def test_load_region_contents(tiny):
    assert isinstance(tiny, Region)
    assert set(tiny.network.road_codes) == {"G331", "S101", "Y001"}
    assert tiny.graph.n_nodes > 0 and len(tiny.network.segments) > 300
    assert list(tiny.units["unit_id"]) == ["U1", "U2"]
    assert tiny.units.crs.equals("EPSG:4326")
    assert tiny.units.geometry.iloc[1].x == pytest.approx(114.96)
    # optional files that are absent come back empty with their columns
    assert len(tiny.duty_points) == 0 and "road_code" in tiny.duty_points.columns
    assert len(tiny.chiefs) == 0 and "phone" in tiny.chiefs.columns
    assert tiny.sections["road_chief_id"].tolist() == ["RC01"]
    assert tiny.bounds.bounds == (113.0, 42.0, 119.0, 47.0)
    # the three roads are joined into one network
    t = tiny.graph.travel_times_from(int(tiny.graph.nearest_nodes(116.08, 43.94)[0]), "plow")
    assert np.isfinite(t).all()


def test_cache_per_path_and_file_times(tmp_path):
    folder = write_tiny_region(tmp_path / "r")
    a = load_region(folder)
    assert load_region(str(folder)) is a
    assert load_region(folder / ".." / "r") is a
    roads = folder / "roads.geojson"
    st = roads.stat()
    os.utime(roads, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    b = load_region(folder)
    assert b is not a
    assert load_region(folder) is b


def test_load_errors(tmp_path):
    with pytest.raises(GeoError, match="does not exist"):
        load_region(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GeoError, match="has no road file"):
        load_region(tmp_path / "empty")
    bad = write_tiny_region(tmp_path / "bad")
    (bad / "roads.geojson").write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
        '{"km_start": 0, "km_end": 90}, "geometry": {"type": "LineString", "coordinates": '
        "[[115, 44], [116, 44]]}}]}",
        encoding="utf-8",
    )
    # (posts alone are derived along the line since issue 11; a road code is still required)
    with pytest.raises(NetworkFileError, match="missing required field.*road_code"):
        load_region(bad)
    cols = write_tiny_region(tmp_path / "cols")
    (cols / "units.csv").write_text("unit_id,lon\nU1,116\n", encoding="utf-8")
    with pytest.raises(GeoError, match="units.csv.*lacks column"):
        load_region(cols)


# ------------------------------------------------------------------ locate


def test_locate_stake(tiny):
    r = tiny.locate("G331 K1520+300")
    assert isinstance(r, LocateResult)
    assert (r.method, r.road, r.km, r.offset_m) == ("stake", "G331", 1520.3, 0.0)
    p = tiny.network.stake_to_point("G331", 1520.3)
    assert (r.lon, r.lat) == (p.x, p.y)
    assert (r.admin_code, r.admin_name) == ("152522", "阿巴嘎旗")
    assert r.stake == "G331 K1520+300"
    assert r.segment_id == "G331:1520.0"
    for variant in (
        "g331线k1520+300",
        "G331国道1520公里300米",
        "G331 1520.3km",
        "Ｇ３３１　Ｋ１５２０＋３００",
    ):
        assert tiny.locate(variant).km == pytest.approx(1520.3)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("阿巴嘎旗", "152522"),
        ("Abag Banner", "152522"),
        ("abag", "152522"),
        ("Xilinhot", "152502"),
        ("别力古台镇", "152522"),
    ],
)
def test_locate_place(tiny, query, code):
    r = tiny.locate(query)
    assert r.method == "place"
    assert r.admin_code == code
    assert r.road in {"S101", "Y001"} and r.offset_m < 10  # seats are on the road ends


@pytest.mark.parametrize("datum", ["wgs84", "gcj02", "bd09"])
def test_locate_coordinates_every_datum(tiny, datum):
    lon, lat = 115.7, 44.52  # ~2.2 km north of G331
    src = {"wgs84": (lon, lat), "gcj02": wgs84_to_gcj02(lon, lat), "bd09": wgs84_to_bd09(lon, lat)}[
        datum
    ]
    r = tiny.locate(f"{src[1]:.9f},{src[0]:.9f}", crs=datum)
    assert r.method == "coordinates"
    assert dist_m(r.lon, r.lat, lon, lat) < 0.5
    assert r.road == "G331"
    assert 2000 < r.offset_m < 2400
    assert r.admin_code == "152522"
    # "lon,lat" order is recognised because 115 cannot be a latitude
    swapped = tiny.locate(f"{src[0]:.9f}, {src[1]:.9f}", crs=datum)
    assert dist_m(swapped.lon, swapped.lat, lon, lat) < 0.5


def test_gcj02_point_read_as_wgs84_is_hundreds_of_metres_off(tiny):
    lon, lat = wgs84_to_gcj02(115.7, 44.52)
    wrong = tiny.locate(f"{lat},{lon}", crs="wgs84")
    assert dist_m(wrong.lon, wrong.lat, 115.7, 44.52) > 300


@pytest.mark.parametrize(
    ("query", "crs", "error", "match"),
    [
        ("G999 K12+000", "wgs84", UnknownRoadError, "unknown road 'G999'"),
        ("G331 K1800+000", "wgs84", StakeError, r"K1800\+000 is outside road G331's range"),
        ("G331 K1520+3x0", "wgs84", StakeError, "cannot read kilometre post 'G331 K1520\\+3x0'"),
        ("K1520+300", "wgs84", StakeError, "has no road code"),
        ("44.5,", "wgs84", CoordinateError, "malformed coordinates '44.5,'"),
        ("44.5, 115.7, 3", "wgs84", CoordinateError, "malformed coordinates"),
        ("44.5,abc", "wgs84", CoordinateError, "malformed coordinates"),
        ("95,200", "wgs84", CoordinateError, "not a valid position"),
        ("39.9,116.4", "wgs84", OutsideRegionError, "'39.9,116.4'.*outside the region"),
        ("44.5,115.7", "utm", CoordinateError, "unknown datum 'utm'"),
        ("Hohhot", "wgs84", UnknownPlaceError, "cannot locate 'Hohhot'"),
        ("", "wgs84", UnknownPlaceError, "empty location query"),
    ],
)
def test_locate_errors_say_which(tiny, query, crs, error, match):
    with pytest.raises(error, match=match):
        tiny.locate(query, crs=crs)


def test_locate_admin_codes(tiny):
    for code in ("152522", "152522100000"):
        r = tiny.locate(code)
        assert (r.method, r.admin_code) == ("place", "152522")
        assert (r.lon, r.lat) == (114.96, 44.02)
    assert tiny.locate("152599000000").lon == 116.08  # unknown banner: its league's seat
    with pytest.raises(UnknownPlaceError, match="'210102'"):
        tiny.locate("210102")


def test_locate_result_dict_is_the_contract(tiny):
    d = tiny.locate("G331 K1520+300").to_dict()
    assert list(d) == LOCATE_KEYS
    assert d["km"] == 1520.3 and d["offset_m"] == 0.0 and d["method"] == "stake"
    assert isinstance(d["lon"], float) and isinstance(d["admin_code"], str)


# ------------------------------------------------------------------ the demo region

needs_demo = pytest.mark.skipif(
    not (DEMO / "roads.geojson").exists() or not (DEMO / "places.geojson").exists(),
    reason="data/region not built yet",
)


@pytest.fixture(scope="module")
def demo() -> Region:
    return load_region(DEMO)


@needs_demo
def test_demo_locate_stake_on_g331(demo):
    lo, hi = demo.network.road_range("G331")[-1]
    km = round((lo + hi) / 2, 3)
    r = demo.locate(f"G331 K{int(km)}+{round((km - int(km)) * 1000):03d}")
    assert (r.method, r.road, r.offset_m) == ("stake", "G331", 0.0)
    assert r.km == pytest.approx(km, abs=1e-3)
    assert r.admin_code is not None and r.admin_code.startswith("15")
    back = demo.network.point_to_stake(r.lon, r.lat)
    assert back.road_code == "G331" and abs(back.km - km) * 1000 < 1.0


@needs_demo
@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("阿巴嘎旗", "152522"),
        ("Abag Banner", "152522"),
        ("Xilinhot", "152502"),
        ("锡林浩特市", "152502"),
        ("克什克腾旗", "150425"),
        ("Hexigten Banner", "150425"),
        ("新巴尔虎左旗", "150726"),
        ("New Barag Left Banner", "150726"),
    ],
)
def test_demo_locate_seed_places(demo, query, code):
    r = demo.locate(query)
    assert r.method == "place"
    assert r.admin_code == code
    assert r.road is not None and r.offset_m < 50_000


@needs_demo
def test_demo_locate_gcj02_phone_point_near_xilinhot(demo):
    place = demo.gazetteer.find("Xilinhot")
    g_lon, g_lat = wgs84_to_gcj02(place.lon, place.lat)
    r = demo.locate(f"{g_lat},{g_lon}", crs="gcj02")
    assert dist_m(r.lon, r.lat, place.lon, place.lat) < 0.5
    assert r.admin_code == "152502"
    with pytest.raises(OutsideRegionError):
        demo.locate("39.9,116.4")


@needs_demo
def test_demo_units_and_duty_points_on_the_network(demo):
    assert len(demo.units) >= 50
    assert set(demo.units["vehicle_class"]) <= {
        "patrol_car",
        "plow",
        "grit_spreader",
        "heavy_tow",
        "rescue",
        "ambulance",
    }
    snapped = demo.network.snap(demo.duty_points.geometry.x, demo.duty_points.geometry.y, 2_000)
    assert snapped["segment_id"].notna().mean() > 0.9
    assert demo.units.geometry.within(demo.bounds.buffer(0.05)).all()


@needs_demo
def test_demo_round_trip_km_point_km_within_one_metre(demo):
    rng = np.random.default_rng(5)
    roads = demo.network.roads
    checked = 0
    for row in roads.sample(n=len(roads), random_state=1).itertuples():
        for km in row.km_start + rng.random(10) * (row.km_end - row.km_start):
            p = demo.network.stake_to_point(row.road_code, km)
            pos = demo.network.point_to_stake(p.x, p.y)
            assert pos.offset_m < 1.0
            if pos.road_code != row.road_code:
                continue  # a shared stretch or junction: the other road is as near
            assert abs(pos.km - km) * 1000 < 1.0, (row.road_code, km, pos)
            back = demo.network.stake_to_point(pos.road_code, pos.km)
            assert dist_m(back.x, back.y, p.x, p.y) < 1.0
            checked += 1
    assert checked > 0.9 * 10 * len(roads)
