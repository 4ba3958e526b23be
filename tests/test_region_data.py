"""Checks on the demo region files in data/region/ (read with geopandas/pandas, not geo code)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import LineString, Point

ROOT = Path(__file__).resolve().parents[1]
REGION = ROOT / "data" / "region"
REALDATA = ROOT.parent / "shared" / "realdata" / "geodata" / "inner_mongolia" / "GeoMapData_CN_V3"
# the project's metric CRS (geo.crs.METRIC_CRS), repeated here so these tests need no geo code
METRIC_CRS = (
    "+proj=lcc +lat_0=45 +lon_0=115 +lat_1=40 +lat_2=50 +x_0=0 +y_0=0 "
    "+ellps=WGS84 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs +type=crs"
)
IM_BOUNDS = (97.0, 37.0, 126.5, 53.5)  # Inner Mongolia: lon/lat box
SEED_CODES = {
    "150726": "新巴尔虎左旗",
    "150425": "克什克腾旗",
    "152522": "阿巴嘎旗",
    "152502": "锡林浩特市",
}
# banners whose DataV seat lies outside their own DataV outline (documented in the README)
SEAT_OUTSIDE = {"150627"}  # Ejin Horo Banner: its seat lies in Kangbashi District in the source
CAPABILITIES = {"rescue", "heavy_tow", "plow", "grit", "traffic_control", "medical"}
VEHICLE_CLASSES = {"patrol_car", "plow", "grit_spreader", "heavy_tow", "rescue", "ambulance"}
ROAD_CLASSES = {"expressway", "national", "provincial", "county", "township"}
ROAD_CODE = re.compile(r"^[GSXYZ]\d{1,4}$")

COLUMNS = {
    "sections.csv": [
        "section_id",
        "road_code",
        "km_from",
        "km_to",
        "name_zh",
        "name_en",
        "maintainer",
        "road_chief_id",
    ],
    "road_chiefs.csv": [
        "road_chief_id",
        "name_zh",
        "name_en",
        "title_zh",
        "title_en",
        "phone",
        "section_id",
    ],
    "towns.csv": ["name_zh", "name_en", "kind", "lon", "lat", "admin_code", "source"],
    "units.csv": [
        "unit_id",
        "name_zh",
        "name_en",
        "vehicle_class",
        "capabilities",
        "brigade",
        "home_base",
        "lon",
        "lat",
        "crew_hour_limit",
    ],
    "duty_points.csv": [
        "id",
        "kind",
        "name_zh",
        "name_en",
        "road_code",
        "km",
        "lon",
        "lat",
        "admin_code",
        "hours",
        "source",
    ],
}
ROAD_PROPS = [
    "road_code",
    "name_zh",
    "name_en",
    "road_class",
    "km_start",
    "km_end",
    "oneway",
    "speed_car_kmh",
    "speed_truck_kmh",
    "section_id",
]
PLACE_PROPS = [
    "admin_code",
    "level",
    "name_zh",
    "name_en",
    "parent_code",
    "seat_lon",
    "seat_lat",
]


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(REGION / name, dtype={"admin_code": str}, keep_default_na=False)


@pytest.fixture(scope="module")
def places() -> gpd.GeoDataFrame:
    return gpd.read_file(REGION / "places.geojson")


@pytest.fixture(scope="module")
def roads() -> gpd.GeoDataFrame:
    return gpd.read_file(REGION / "roads.geojson")


@pytest.fixture(scope="module")
def banners(places: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return places[places["level"] == "banner"].set_index("admin_code")


def _admin_at(banners: gpd.GeoDataFrame, lon: float, lat: float) -> str | None:
    hit = banners.index[banners.contains(Point(lon, lat))]
    return str(hit[0]) if len(hit) else None


def _point_at(roads: gpd.GeoDataFrame, code: str, km: float) -> Point:
    """Point of ``code`` at ``km``: linear in km along the feature, in the metric CRS."""
    rows = roads[(roads["road_code"] == code) & (roads["km_start"] <= km) & (roads["km_end"] >= km)]
    assert len(rows) >= 1, f"{code} has no feature at km {km}"
    row = rows.iloc[0]
    line = gpd.GeoSeries([row.geometry], crs="EPSG:4326").to_crs(METRIC_CRS).iloc[0]
    frac = (km - row["km_start"]) / (row["km_end"] - row["km_start"])
    return line.interpolate(frac * line.length)


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_csv_columns_exact(name: str) -> None:
    assert list(_csv(name).columns) == COLUMNS[name]


def test_geojson_properties(places: gpd.GeoDataFrame, roads: gpd.GeoDataFrame) -> None:
    assert list(places.columns) == [*PLACE_PROPS, "geometry"]
    assert list(roads.columns) == [*ROAD_PROPS, "geometry"]
    assert places.crs is not None and places.crs.to_epsg() == 4326
    assert roads.crs is not None and roads.crs.to_epsg() == 4326


def test_places_levels_codes_and_names(places: gpd.GeoDataFrame) -> None:
    assert places["admin_code"].is_unique
    assert places["admin_code"].str.fullmatch(r"15\d{4}").all()
    counts = places["level"].value_counts().to_dict()
    assert counts == {"banner": 103, "league": 12, "province": 1}
    codes = set(places["admin_code"])
    # every parent exists (the province's parent is the country)
    assert set(places.loc[places["level"] != "province", "parent_code"]) <= codes
    leagues = set(places.loc[places["level"] == "league", "admin_code"])
    assert set(places.loc[places["level"] == "banner", "parent_code"]) == leagues
    assert (places["name_en"].str.len() > 0).all()
    assert not places["name_en"].str.contains(r"[\u4e00-\u9fff]").any()
    assert places.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert places.is_valid.all()


def test_seed_places_present(places: gpd.GeoDataFrame) -> None:
    by_code = places.set_index("admin_code")
    for code, name in SEED_CODES.items():
        assert by_code.at[code, "name_zh"] == name
        assert by_code.at[code, "level"] == "banner"


def test_places_inside_inner_mongolia(places: gpd.GeoDataFrame) -> None:
    minx, miny, maxx, maxy = places.total_bounds
    assert IM_BOUNDS[0] <= minx and maxx <= IM_BOUNDS[2]
    assert IM_BOUNDS[1] <= miny and maxy <= IM_BOUNDS[3]
    assert places["seat_lon"].between(IM_BOUNDS[0], IM_BOUNDS[2]).all()
    assert places["seat_lat"].between(IM_BOUNDS[1], IM_BOUNDS[3]).all()


def test_banner_seats_inside_their_banner(banners: gpd.GeoDataFrame) -> None:
    inside = {
        code: row.geometry.contains(Point(row.seat_lon, row.seat_lat))
        for code, row in banners.iterrows()
    }
    outside = {code for code, ok in inside.items() if not ok}
    assert outside == SEAT_OUTSIDE


def test_banners_tile_their_league(places: gpd.GeoDataFrame) -> None:
    metric = places.to_crs(METRIC_CRS).set_index("admin_code")
    for code, league in metric[metric["level"] == "league"].iterrows():
        parts = metric[metric["parent_code"] == code].geometry.union_all()
        # simplified separately, so the areas agree to a few per cent, not exactly
        assert abs(parts.area / league.geometry.area - 1) < 0.03, code


def test_places_file_small() -> None:
    total = sum(p.stat().st_size for p in REGION.glob("*.*") if p.suffix in {".geojson", ".csv"})
    assert total < 1_500_000


def test_roads_schema_values(roads: gpd.GeoDataFrame) -> None:
    assert roads.geom_type.eq("LineString").all()
    assert roads.is_valid.all()
    assert roads["road_code"].str.match(ROAD_CODE).all()
    assert set(roads["road_class"]) <= ROAD_CLASSES
    assert (roads["km_end"] > roads["km_start"]).all()
    assert roads["oneway"].map(type).eq(bool).all()
    assert (roads["speed_truck_kmh"] <= roads["speed_car_kmh"]).all()
    assert (roads["speed_truck_kmh"] > 0).all()
    assert roads["section_id"].is_unique
    minx, miny, maxx, maxy = roads.total_bounds
    assert IM_BOUNDS[0] <= minx and maxx <= IM_BOUNDS[2]
    assert IM_BOUNDS[1] <= miny and maxy <= IM_BOUNDS[3]


def test_road_km_ranges_do_not_overlap(roads: gpd.GeoDataFrame) -> None:
    for code, group in roads.groupby("road_code"):
        g = group.sort_values("km_start")
        assert (g["km_start"].to_numpy()[1:] >= g["km_end"].to_numpy()[:-1] - 1e-6).all(), code


def test_road_km_matches_line_length(roads: gpd.GeoDataFrame) -> None:
    geod = Geod(ellps="WGS84")
    for row in roads.itertuples():
        length_km = geod.geometry_length(row.geometry) / 1000
        assert abs((row.km_end - row.km_start) - length_km) < 0.01 * length_km + 0.01, (
            row.section_id
        )


def test_roads_form_two_networks(roads: gpd.GeoDataFrame) -> None:
    """Xilingol + Chifeng roads are one network; New Barag Left's roads the other."""
    graph = nx.Graph()
    for row in roads.itertuples():
        coords = list(row.geometry.coords)
        graph.add_edge(coords[0], coords[-1], road=row.road_code)
    components = list(nx.connected_components(graph))
    assert len(components) == 2
    lats = sorted(np.mean([c[1] for c in comp]) for comp in components)
    assert lats[0] < 46 < lats[1]  # the southern (Xilingol/Chifeng) and northern (Hulunbuir)


def test_seed_banners_on_network(roads: gpd.GeoDataFrame, banners: gpd.GeoDataFrame) -> None:
    network = roads.to_crs(METRIC_CRS).geometry.union_all()
    seats = banners.loc[list(SEED_CODES)]
    points = gpd.GeoSeries(
        gpd.points_from_xy(seats["seat_lon"], seats["seat_lat"]), crs="EPSG:4326"
    ).to_crs(METRIC_CRS)
    assert (points.distance(network) < 1.0).all()
    # the township road runs inside Abag Banner, and G331 K1520+300 is on the network
    y = roads[roads["road_class"] == "township"]
    assert len(y) >= 1
    assert banners.at["152522", "geometry"].contains(y.geometry.union_all())
    assert _point_at(roads, "G331", 1520.3).is_valid


def test_sections_and_chiefs(roads: gpd.GeoDataFrame) -> None:
    sections = _csv("sections.csv")
    chiefs = _csv("road_chiefs.csv")
    assert sections["section_id"].is_unique and chiefs["road_chief_id"].is_unique
    assert set(sections["section_id"]) == set(roads["section_id"])
    merged = sections.merge(chiefs, on="road_chief_id", suffixes=("", "_chief"))
    assert len(merged) == len(sections)  # every section has a chief
    assert (merged["section_id"] == merged["section_id_chief"]).all()
    length = sections["km_to"] - sections["km_from"]
    assert (length > 0).all() and (length <= 101).all()
    by_section = roads.set_index("section_id")
    for row in sections.itertuples():
        assert by_section.at[row.section_id, "road_code"] == row.road_code
        assert by_section.at[row.section_id, "km_start"] == pytest.approx(row.km_from)
        assert by_section.at[row.section_id, "km_end"] == pytest.approx(row.km_to)
    assert chiefs["name_en"].str.endswith("(fictional)").all()
    assert chiefs["phone"].str.fullmatch(r"0\d{3}-0000-\d{4}").all()


def test_towns(banners: gpd.GeoDataFrame) -> None:
    towns = _csv("towns.csv")
    assert set(towns["kind"]) == {
        "town",
        "township",
        "service_area",
        "toll_station",
        "clinic",
        "village",
    }
    assert not towns.duplicated(["name_zh"]).any()
    assert (towns["source"].str.len() > 0).all()
    for row in towns.itertuples():
        assert _admin_at(banners, row.lon, row.lat) == row.admin_code, row.name_zh


def test_duty_points_on_their_road(roads: gpd.GeoDataFrame, banners: gpd.GeoDataFrame) -> None:
    duty = _csv("duty_points.csv")
    assert duty["id"].is_unique
    assert set(duty["kind"]) == {"duty_point", "duty_station", "warming_point"}
    to_metric = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    for row in duty.itertuples():
        expected = _point_at(roads, row.road_code, row.km)
        x, y = to_metric.transform(row.lon, row.lat)
        assert expected.distance(Point(x, y)) < 50.0, row.id
        assert _admin_at(banners, row.lon, row.lat) == row.admin_code, row.id


def test_duty_points_match_the_reports() -> None:
    duty = _csv("duty_points.csv")
    stations = duty[duty["kind"] == "duty_station"]
    assert len(stations) == 8  # Xilingol: 8 duty stations ...
    assert stations["admin_code"].str.startswith("1525").all()
    assert stations["admin_code"].nunique() == 5  # ... in 5 banners/counties
    hexigten = duty[(duty["kind"] == "duty_point") & (duty["admin_code"] == "150425")]
    assert len(hexigten) >= 3 and (hexigten["hours"] == "24h").all()
    warming = duty[duty["kind"] == "warming_point"]
    towns = _csv("towns.csv").set_index("name_zh")
    kinds = {towns.at[name, "kind"] for name in warming["name_zh"]}
    assert kinds == {"service_area", "toll_station", "clinic"}


def test_units(roads: gpd.GeoDataFrame) -> None:
    units = _csv("units.csv")
    assert units["unit_id"].is_unique
    assert units["unit_id"].str.fullmatch(r"[A-Z]{2}-[A-Z]{3}-[A-Z]{2}\d{2}").all()
    assert 50 <= len(units) <= 70
    assert set(units["vehicle_class"]) == VEHICLE_CLASSES
    for caps in units["capabilities"]:
        parts = caps.split(";")
        assert parts and set(parts) <= CAPABILITIES, caps
    assert (units["crew_hour_limit"] == 12).all()
    # each class can do its own job
    needs = {
        "plow": "plow",
        "grit_spreader": "grit",
        "heavy_tow": "heavy_tow",
        "ambulance": "medical",
        "patrol_car": "traffic_control",
        "rescue": "rescue",
    }
    for row in units.itertuples():
        assert needs[row.vehicle_class] in row.capabilities.split(";"), row.unit_id
    # home bases lie on the network, and every seed banner's brigade has patrol cars
    network = roads.to_crs(METRIC_CRS).geometry.union_all()
    pts = gpd.GeoSeries(gpd.points_from_xy(units["lon"], units["lat"]), crs="EPSG:4326")
    dist = shapely.distance(pts.to_crs(METRIC_CRS).to_numpy(), network)
    assert (dist < 50).all()
    for prefix in ("HB-NBL", "CF-HXG", "XL-ABG", "XL-XLH"):
        assert (units["unit_id"].str.startswith(f"{prefix}-PC")).sum() >= 3


@pytest.mark.realdata
@pytest.mark.skipif(not REALDATA.exists(), reason="../shared/realdata is absent")
def test_seats_are_converted_datav_seats(places: gpd.GeoDataFrame) -> None:
    """Seats are the DataV GCJ-02 seats moved to WGS84 (100-900 m in this region), not copies."""
    builder = _load_script("build_places")
    location = json.loads((REALDATA / "location.json").read_text(encoding="utf-8"))
    geod = Geod(ellps="WGS84")
    for row in places.itertuples():
        glon, glat = location[row.admin_code]["center"]
        assert location[row.admin_code]["name"] == row.name_zh
        back_lon, back_lat = builder._wgs84_to_gcj02(
            np.array([row.seat_lon]), np.array([row.seat_lat])
        )
        _, _, err = geod.inv(back_lon[0], back_lat[0], glon, glat)
        assert err < 1.0, row.admin_code  # WGS84 -> GCJ-02 gives the source seat back
        _, _, shift = geod.inv(row.seat_lon, row.seat_lat, glon, glat)
        assert 100 < shift < 900, row.admin_code
    codes = {
        str(f["properties"]["adcode"])
        for path in (REALDATA / "citys").glob("15*.json")
        for f in json.loads(path.read_text(encoding="utf-8"))["features"]
    }
    assert set(places.loc[places["level"] == "banner", "admin_code"]) == codes
    assert set(SEED_CODES) <= codes


def test_lines_are_not_degenerate(roads: gpd.GeoDataFrame) -> None:
    for row in roads.itertuples():
        coords = list(row.geometry.coords)
        assert len(coords) >= 2
        assert len(set(coords)) == len(coords), row.section_id
        assert isinstance(row.geometry, LineString)


def test_everything_inside_inner_mongolia(
    places: gpd.GeoDataFrame, roads: gpd.GeoDataFrame
) -> None:
    """Roads, towns, duty points and units lie in the region (not across the border)."""
    province = places[places["level"] == "province"].to_crs(METRIC_CRS).geometry.iloc[0]
    region = province.buffer(1000)
    vertices = roads.get_coordinates()
    frames = [vertices.rename(columns={"x": "lon", "y": "lat"})]
    frames += [_csv(n)[["lon", "lat"]] for n in ("towns.csv", "duty_points.csv", "units.csv")]
    pts = pd.concat(frames, ignore_index=True)
    metric = gpd.GeoSeries(gpd.points_from_xy(pts["lon"], pts["lat"]), crs="EPSG:4326")
    inside = shapely.contains(region, metric.to_crs(METRIC_CRS).to_numpy())
    assert inside.all(), pts[~inside]
    assert roads.to_crs(METRIC_CRS).geometry.within(region).all()


@pytest.mark.realdata
@pytest.mark.skipif(not REALDATA.exists(), reason="../shared/realdata is absent")
def test_seat_exceptions_hold_in_the_source() -> None:
    """The seats outside their own banner are outside in the unsimplified GCJ-02 source too."""
    location = json.loads((REALDATA / "location.json").read_text(encoding="utf-8"))
    outside = set()
    for path in (REALDATA / "citys").glob("15*.json"):
        for feat in json.loads(path.read_text(encoding="utf-8"))["features"]:
            code = str(feat["properties"]["adcode"])
            seat = Point(location[code]["center"])
            if not shapely.geometry.shape(feat["geometry"]).contains(seat):
                outside.add(code)
    assert outside == SEAT_OUTSIDE


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_region_{name}", REGION / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_region_files_are_what_the_builder_writes(tmp_path: Path) -> None:
    """The committed files match build_region.py's tables (rebuild and compare)."""
    (tmp_path / "places.geojson").write_bytes((REGION / "places.geojson").read_bytes())
    assert _load_script("build_region").main(["build_region.py", str(tmp_path)]) == 0
    for name in [*COLUMNS, "roads.geojson"]:
        assert (tmp_path / name).read_bytes() == (REGION / name).read_bytes(), name


@pytest.mark.realdata
@pytest.mark.skipif(not REALDATA.exists(), reason="../shared/realdata is absent")
def test_places_are_what_the_builder_writes(tmp_path: Path) -> None:
    out = tmp_path / "places.geojson"
    assert _load_script("build_places").main(["build_places.py", str(REALDATA), str(out)]) == 0
    built = gpd.read_file(out)
    shipped = gpd.read_file(REGION / "places.geojson")
    pd.testing.assert_frame_equal(
        pd.DataFrame(built.drop(columns="geometry")), pd.DataFrame(shipped.drop(columns="geometry"))
    )
    assert built.geometry.geom_equals_exact(shipped.geometry, tolerance=1e-6).all()
