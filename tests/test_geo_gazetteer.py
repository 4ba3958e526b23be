"""Gazetteer: codes, names, point-in-banner; the DataV-derived places of data/region/."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box, shape

from geo.crs import gcj02_to_wgs84, to_metric
from geo.errors import UnknownPlaceError
from geo.gazetteer import Gazetteer, normalize_name

ROOT = Path(__file__).resolve().parents[1]
REGION = ROOT / "data" / "region"
DATAV = ROOT.parent / "shared" / "realdata" / "geodata" / "inner_mongolia" / "GeoMapData_CN_V3"


def tiny_places() -> gpd.GeoDataFrame:
    # a league of two banners side by side; codes and names as in Xilingol
    return gpd.GeoDataFrame(
        {
            "admin_code": ["152500", "152522", "152502", "150000"],
            "level": ["league", "banner", "banner", "province"],
            "name_zh": ["锡林郭勒盟", "阿巴嘎旗", "锡林浩特市", "内蒙古自治区"],
            "name_en": ["Xilingol League", "Abag Banner", "Xilinhot", "Inner Mongolia"],
            "parent_code": ["150000", "152500", "152500", "100000"],
            "seat_lon": [116.08, 114.96, 116.08, 111.67],
            "seat_lat": [43.94, 44.02, 43.94, 40.82],
        },
        geometry=[
            box(114, 43, 118, 46),
            box(114, 43, 116, 46),
            box(116, 43, 118, 46),
            box(97, 37, 126, 53),
        ],
        crs="EPSG:4326",
    )


def tiny_towns() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name_zh": ["别力古台镇", "锡林浩特", "那仁宝拉格苏木"],
            "name_en": ["Bieligutai Town (Abag Banner seat)", "Xilinhot", "Naren Bulag Sumu"],
            "kind": ["town", "town", "township"],
            "lon": [114.964, 116.085, 114.1],
            "lat": [44.021, 43.942, 44.6],
            "admin_code": ["152522", "152502", "152522"],
            "source": ["test", "test", "test"],
        }
    )


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer(tiny_places(), tiny_towns())


def test_by_code_6_9_12_digits(gaz):
    assert gaz.by_code("152522").name_zh == "阿巴嘎旗"
    assert gaz.by_code(152522).level == "banner"
    assert gaz.by_code("152522100000").admin_code == "152522"  # CAP 12-digit area code
    assert gaz.by_code("152522100").admin_code == "152522"  # township code
    # a banner the gazetteer lacks resolves to its league
    league = gaz.by_code("152523000000")
    assert (league.admin_code, league.level) == ("152500", "league")
    assert league.lon == pytest.approx(116.08) and league.lat == pytest.approx(43.94)


@pytest.mark.parametrize("code", ["15252", "1525221", "abcdef", "", "152522-1"])
def test_malformed_codes(gaz, code):
    with pytest.raises(UnknownPlaceError, match="not a 6-, 9- or 12-digit code"):
        gaz.by_code(code)


def test_unknown_code_names_league(gaz):
    with pytest.raises(UnknownPlaceError, match=r"'210102'.*210100"):
        gaz.by_code("210102")


@pytest.mark.parametrize(
    ("name", "code", "level"),
    [
        ("阿巴嘎旗", "152522", "banner"),
        ("阿巴嘎", "152522", "banner"),
        ("Abag Banner", "152522", "banner"),
        ("abag", "152522", "banner"),
        ("ABAG  BANNER", "152522", "banner"),
        ("锡林郭勒盟", "152500", "league"),
        ("锡林郭勒", "152500", "league"),
        ("Xilingol", "152500", "league"),
        ("xilingol league", "152500", "league"),
        ("锡林浩特市", "152502", "banner"),
        ("Xilinhot City", "152502", "banner"),
        ("内蒙古自治区", "150000", "province"),
    ],
)
def test_find_admin_names(gaz, name, code, level):
    p = gaz.find(name)
    assert (p.admin_code, p.level) == (code, level)


def test_find_towns_and_precedence(gaz):
    t = gaz.find("别力古台镇")
    assert (t.level, t.admin_code) == ("town", "152522")
    assert t.geometry.equals(Point(114.964, 44.021))
    assert gaz.find("Bieligutai").name_zh == "别力古台镇"
    assert gaz.find("那仁宝拉格").level == "township"
    # an exact town name beats a suffix-stripped banner name
    assert gaz.find("锡林浩特").level == "town"
    with pytest.raises(UnknownPlaceError, match="'Hohhot'"):
        gaz.find("Hohhot")


def test_normalize_name():
    assert normalize_name("Abag Banner") == ("abagbanner", "abag")
    assert normalize_name("阿巴嘎旗") == ("阿巴嘎旗", "阿巴嘎")
    assert normalize_name("Ｘｉｌｉｎｈｏｔ") == ("xilinhot", "xilinhot")
    assert normalize_name("旗") == ("旗", "旗")  # a suffix alone is not stripped


def test_admin_at(gaz):
    assert gaz.admin_at(115.0, 44.5).admin_code == "152522"
    assert gaz.admin_at(117.0, 44.5).admin_code == "152502"
    assert gaz.admin_at(120.0, 44.5) is None
    assert gaz.admin_at(float("nan"), 44.5) is None
    # within 2 km of an outline counts (simplified borders); 20 km does not
    assert gaz.admin_at(118.01, 44.5).admin_code == "152502"
    assert gaz.admin_at(118.3, 44.5) is None
    assert gaz.admin_at(118.01, 44.5, tolerance_m=0) is None
    assert len(gaz) == 7


def test_from_files_and_projected_input(tmp_path):
    places = tiny_places()
    places.to_crs(3857).to_file(tmp_path / "places.geojson", driver="GeoJSON", engine="pyogrio")
    tiny_towns().to_csv(tmp_path / "towns.csv", index=False)
    g = Gazetteer.from_files(tmp_path / "places.geojson", tmp_path / "towns.csv")
    assert g.places.crs.equals("EPSG:4326")
    assert g.admin_at(115.0, 44.5).admin_code == "152522"
    assert g.find("别力古台镇").admin_code == "152522"
    no_towns = Gazetteer.from_files(tmp_path / "places.geojson", tmp_path / "missing.csv")
    assert len(no_towns.towns) == 0


# ------------------------------------------------------------------ the project's region data


needs_region = pytest.mark.skipif(
    not (REGION / "places.geojson").exists(), reason="data/region/places.geojson not built yet"
)


@pytest.fixture(scope="module")
def region_gaz() -> Gazetteer:
    return Gazetteer.from_files(REGION / "places.geojson", REGION / "towns.csv")


@needs_region
def test_region_gazetteer_seed_places(region_gaz):
    expected = {
        "新巴尔虎左旗": "150726",
        "克什克腾旗": "150425",
        "阿巴嘎旗": "152522",
        "锡林浩特市": "152502",
        "New Barag Left Banner": "150726",
        "Hexigten Banner": "150425",
        "Abag Banner": "152522",
        "Xilinhot": "152502",
        "锡林郭勒盟": "152500",
        "Chifeng": "150400",
        "呼伦贝尔": "150700",
    }
    for name, code in expected.items():
        assert region_gaz.find(name).admin_code == code, name
    levels = region_gaz.places["level"].value_counts().to_dict()
    assert levels == {"banner": 103, "league": 12, "province": 1}
    assert region_gaz.places["admin_code"].str.fullmatch(r"\d{6}").all()


@needs_region
def test_region_banner_seats_inside_their_banners(region_gaz):
    banners = region_gaz.places[region_gaz.places["level"] == "banner"]
    inside = []
    for row in banners.itertuples():
        hit = region_gaz.admin_at(row.seat_lon, row.seat_lat, tolerance_m=0)
        inside.append(hit is not None and hit.admin_code == row.admin_code)
    # the DataV centre of 伊金霍洛旗 (150627) lies outside its own outline in the source itself
    assert sum(inside) >= len(banners) - 1
    for code in ("150726", "150425", "152522", "152502"):
        p = region_gaz.by_code(code)
        assert region_gaz.admin_at(p.lon, p.lat, tolerance_m=0).admin_code == code


@pytest.mark.realdata
@needs_region
@pytest.mark.skipif(not DATAV.exists(), reason="../shared/realdata absent")
def test_conformance_datav_seats_land_in_their_banners(region_gaz):
    checked = 0
    for path in sorted((DATAV / "citys").glob("*.json")):
        for feat in json.loads(path.read_text(encoding="utf-8"))["features"]:
            props = feat["properties"]
            code = str(props["adcode"])
            gcj_lon, gcj_lat = props["center"]
            lon, lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
            place = region_gaz.by_code(code)
            # the gazetteer's seat is the DataV centre converted to WGS84
            assert place.lon == pytest.approx(lon, abs=1e-5), code
            assert place.lat == pytest.approx(lat, abs=1e-5), code
            if not shape(feat["geometry"]).contains(Point(gcj_lon, gcj_lat)):
                continue  # the source's own centre lies outside its outline
            seat = to_metric(Point(lon, lat))
            assert to_metric(place.geometry).distance(seat) < 2000, code
            hit = region_gaz.admin_at(lon, lat)
            assert hit is not None and hit.admin_code == code, code
            checked += 1
    assert checked >= 100
