"""`winterops region import`: a region of our own making (Ordos, another league), all or nothing.

The region is written here: county and township roads with no kilometre fields (posts derived
from an anchor), a GeoPackage with a second layer, places with admin codes, a township-level
gazetteer with 9-digit codes, a units roster in the short form (id, class, capabilities, base,
crew, fuel), duty points by road + km, warming points with capacity, sections and road chiefs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import geopandas as gpd
import pytest
from pyproj import Geod
from shapely.geometry import LineString, Point, box
from sqlalchemy import func, select
from typer.testing import CliRunner

from incidents.cli.app import app
from incidents.errors import RegionImportError
from incidents.replay.demo import load_demo
from incidents.store.engine import read_gdf, session_scope
from incidents.store.models import (
    DutyPoint,
    Incident,
    Place,
    RegionHistory,
    RegionImport,
    RoadChief,
    RoadSection,
    Segment,
    Unit,
    User,
)
from incidents.store.region_files import RegionOptions
from incidents.store.region_import import import_region
from tests.conftest import REPO_ROOT

runner = CliRunner()
DEMO_REGION = REPO_ROOT / "data" / "region"

# X601 Dongsheng -> Hantai -> Altan Xiret in two pieces; Y602 Altan Xiret -> Ulan Mulun
X601_A = LineString([(109.96, 39.82), (109.85, 39.75)])
X601_B = LineString([(109.85, 39.75), (109.78, 39.56)])
Y602 = LineString([(109.78, 39.56), (110.05, 39.45)])
GEOD = Geod(ellps="WGS84")


def _km(line: LineString) -> float:
    return GEOD.geometry_length(line) / 1000.0


UNITS_CSV = """id,class,capabilities,base,crew,fuel
ORD-YJ-PC01,patrol_car,traffic_control,阿勒腾席热镇,2,0.9
ORD-YJ-PL01,除雪车,plow;grit,YJ-WP1,1,80%
ORD-DS-HT01,heavy_tow,,罕台镇,2,
"""
DUTY_CSV = """id,kind,name_zh,road_code,km,hours
YJ-DP1,duty_point,X601罕台执勤点,X601,K14+000,24h
"""
WARMING_CSV = """id,name_zh,lon,lat,capacity
YJ-WP1,乌兰木伦镇卫生院,110.05,39.45,40
"""
TOWNS_CSV = """name_zh,name_en,kind,lon,lat,admin_code
阿勒腾席热镇,Altan Xiret Town,town,109.75,39.60,150627100
乌兰木伦镇,Ulan Mulun Town,town,110.05,39.45,150627101
罕台镇,Hantai Town,town,109.85,39.75,150602100
"""
SECTIONS_CSV = """section_id,road_code,km_from,km_to,name_zh,maintainer,road_chief_id
X601-01,X601,5,17,X601 东胜—罕台段,东胜区公路养护段,RC1
X601-02,X601,17.3,38.9,X601 罕台—阿勒腾席热段,伊金霍洛旗公路养护段,RC2
Y602-01,Y602,0,20,Y602 阿勒腾席热—乌兰木伦段,伊金霍洛旗交通运输局,RC2
"""
CHIEFS_CSV = """road_chief_id,name_zh,title_zh,phone,section_id
RC1,乌力吉(虚构),东胜区副区长(县级路长),0477-0000-0001,X601-01
RC2,张海(虚构),伊金霍洛旗副旗长(县级路长),0477-0000-0002,X601-02
"""
MAPPING = """[roads.km_anchors]
X601 = 5.0
"""


def _roads() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"LXBM": ["X601", "X601", "Y602"], "LXMC": ["县道601线", "县道601线", "乡道602线"],
         "JSDJ": ["县道", "县道", "乡道"], "section_id": ["X601-01", "X601-02", "Y602-01"]},
        geometry=[X601_B, X601_A, Y602],  # file order is not road order
        crs="EPSG:4326",
    )


def _places() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "admin_code": ["150000", "150600", "150602", "150627"],
            "level": ["province", "league", "banner", "banner"],
            "name_zh": ["内蒙古自治区", "鄂尔多斯市", "东胜区", "伊金霍洛旗"],
            "name_en": ["Inner Mongolia", "Ordos", "Dongsheng District", "Ejin Horo Banner"],
            "parent_code": ["100000", "150000", "150600", "150600"],
            "seat_lon": [111.75, 109.78, 109.96, 109.75],
            "seat_lat": [40.84, 39.61, 39.82, 39.60],
        },
        geometry=[box(107, 37, 112, 41.5), box(108, 38, 111, 40.5),
                  box(109.8, 39.7, 110.2, 40.0), box(109.5, 39.2, 110.2, 39.7)],
        crs="EPSG:4326",
    )


def write_region(folder: Path, roads: str = "gpkg") -> Path:
    """The made-up Ordos region as files in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    if roads == "gpkg":
        _roads().to_file(folder / "roads.gpkg", layer="roads", engine="pyogrio")
        gpd.GeoDataFrame({"label": ["K5"]}, geometry=[Point(109.96, 39.82)], crs="EPSG:4326"
                         ).to_file(folder / "roads.gpkg", layer="km_labels", engine="pyogrio")
    else:
        _roads().to_file(folder / "roads.shp", engine="pyogrio")
    _places().to_file(folder / "places.geojson", driver="GeoJSON", engine="pyogrio")
    for name, text in (("townships.csv", TOWNS_CSV), ("units.csv", UNITS_CSV),
                       ("duty_points.csv", DUTY_CSV), ("warming_points.csv", WARMING_CSV),
                       ("sections.csv", SECTIONS_CSV), ("road_chiefs.csv", CHIEFS_CSV),
                       ("mapping.toml", MAPPING), ("notes.txt", "not a region file")):
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _options(folder: Path, **kw: str) -> RegionOptions:
    from incidents.store.region_files import load_mapping

    return load_mapping(folder / "mapping.toml", **kw)


def _count(s, model) -> int:
    return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_own_region_imports(tmp_path, session_factory):
    folder = write_region(tmp_path / "ordos")
    with session_scope(session_factory) as s:
        summary = import_region(s, [folder], _options(folder), actor="test")
    assert {f["kind"] for f in summary.files} == {
        "roads", "places", "towns", "units", "duty_points", "warming_points", "sections",
        "road_chiefs"}
    assert sorted(summary.ignored) == ["mapping.toml", "notes.txt"]
    gpkg = next(f for f in summary.files if f["name"] == "roads.gpkg")
    assert gpkg["sha256"] == hashlib.sha256(
        b"roads.gpkg" + (folder / "roads.gpkg").read_bytes()).hexdigest()
    assert all(c["added"] > 0 and c["updated"] == 0 for c in summary.counts.values())
    with session_scope(session_factory) as s:
        assert _count(s, User) == 0  # a region import creates no users
        assert _count(s, RegionImport) == 1
        assert _count(s, Place) == 7 and _count(s, RoadSection) == 3 and _count(s, RoadChief) == 2
        segs = read_gdf(s, Segment)
        units = {u.id: u for u in s.scalars(select(Unit))}
        duty = {d.id: d for d in s.scalars(select(DutyPoint))}
    # posts derived along the geometry: X601 starts at its anchor K5 where piece A begins
    x601 = segs[segs["road_code"] == "X601"]
    assert x601["km_from"].min() == pytest.approx(5.0)
    assert x601["km_to"].max() == pytest.approx(5.0 + _km(X601_A) + _km(X601_B), abs=1e-6)
    y602 = segs[segs["road_code"] == "Y602"]
    assert y602["km_to"].max() == pytest.approx(_km(Y602), abs=1e-6)
    assert set(segs["admin_code"].dropna()) <= {"150602", "150627"}
    # the roster in short form: bases resolved to a town and to a warming point
    pc, pl, ht = units["ORD-YJ-PC01"], units["ORD-YJ-PL01"], units["ORD-DS-HT01"]
    assert (pc.geometry.x, pc.geometry.y) == pytest.approx((109.75, 39.60))
    assert (pl.geometry.x, pl.geometry.y) == pytest.approx((110.05, 39.45))
    assert pl.vehicle_class == "plow" and pl.capabilities == ["plow", "grit"]
    assert ht.capabilities == ["heavy_tow", "rescue"]  # the class's default
    assert (pc.crew, pc.fuel, pl.fuel, ht.fuel) == (2, pytest.approx(0.9), pytest.approx(0.8), 1.0)
    assert duty["YJ-WP1"].kind == "warming_point" and duty["YJ-WP1"].capacity == 40
    dp = duty["YJ-DP1"]
    assert dp.km == pytest.approx(14.0) and dp.admin_code in {"150602", "150627"}
    assert min(g.distance(dp.geometry) for g in x601.geometry) < 1e-6  # on the road at K14


def test_reimport_updates_in_place_and_keeps_history(tmp_path, session_factory):
    folder = write_region(tmp_path / "ordos")
    with session_scope(session_factory) as s:
        import_region(s, [folder], _options(folder), actor="first")
    with session_scope(session_factory) as s:  # a live unit away from its base
        pc = s.get(Unit, "ORD-YJ-PC01")
        pc.status, pc.position_source, pc.geometry = "on_scene", "avl", Point(109.9, 39.7)
    with session_scope(session_factory) as s:
        again = import_region(s, [folder], _options(folder), actor="second")
    assert {c["added"] + c["updated"] for c in again.counts.values()} == {0}
    (folder / "units.csv").write_text(
        UNITS_CSV.replace("阿勒腾席热镇,2,0.9", "罕台镇,3,0.5")
        .replace("ORD-DS-HT01,heavy_tow,,罕台镇,2,\n", ""), encoding="utf-8")
    (folder / "warming_points.csv").write_text(WARMING_CSV.replace(",40", ",60"), "utf-8")
    with session_scope(session_factory) as s:
        third = import_region(s, [folder], _options(folder), actor="third")
    assert third.counts["units"]["updated"] == 1
    assert third.counts["units"]["absent"] == 1 and third.counts["units"]["absent_ids"] == [
        "ORD-DS-HT01"]
    assert third.counts["duty_points"]["updated"] == 1
    assert third.counts["segments"]["updated"] == 0
    with session_scope(session_factory) as s:
        pc = s.get(Unit, "ORD-YJ-PC01")
        assert pc.crew == 3 and pc.home_base == "罕台镇" and pc.version == 2
        assert pc.status == "on_scene" and (pc.geometry.x, pc.geometry.y) == (109.9, 39.7)
        assert pc.fuel == pytest.approx(0.9)  # live fuel is not the roster's business
        assert s.get(Unit, "ORD-DS-HT01") is not None  # kept: absent from the roster
        assert s.get(DutyPoint, "YJ-WP1").capacity == 60
        hist = {(h.table_name, h.row_id): h for h in s.scalars(select(RegionHistory))}
        imports = list(s.scalars(select(RegionImport).order_by(RegionImport.id)))
    assert hist[("units", "ORD-YJ-PC01")].before == {"home_base": "阿勒腾席热镇", "crew": 2}
    assert hist[("units", "ORD-YJ-PC01")].after == {"home_base": "罕台镇", "crew": 3}
    assert hist[("duty_points", "YJ-WP1")].before == {"capacity": 40}
    assert len(hist) == 2 and [i.actor for i in imports] == ["first", "second", "third"]
    assert imports[2].counts["units"]["updated"] == 1
    assert imports[0].sha256 == imports[1].sha256 != imports[2].sha256


def test_shapefile_without_prj_is_refused_and_nothing_loaded(tmp_path, session_factory):
    folder = write_region(tmp_path / "ordos", roads="shp")
    (folder / "roads.prj").unlink()
    with pytest.raises(RegionImportError) as err, session_scope(session_factory) as s:
        import_region(s, [folder], _options(folder))
    assert "roads.shp: has no CRS: add roads.prj or pass --crs EPSG:4326" in str(err.value)
    with session_scope(session_factory) as s:  # the good files were not loaded either
        assert _count(s, Unit) == 0 and _count(s, Segment) == 0 and _count(s, RegionImport) == 0
    with session_scope(session_factory) as s:
        done = import_region(s, [folder], _options(folder, crs="EPSG:4326"))
    assert done.counts["segments"]["added"] > 0


BROKEN_UNITS = """id,class,capabilities,base,crew,fuel
ORD-1,hovercraft,traffic_control,阿勒腾席热镇,2,0.9
ORD-2,patrol_car,flying,阿勒腾席热镇,-1,lots
ORD-2,patrol_car,,阿勒腾席热镇,2,
ORD-4,plow,,火星基地,2,
"""


def test_broken_units_csv_gives_one_report(tmp_path, session_factory):
    folder = write_region(tmp_path / "ordos")
    (folder / "units.csv").write_text(BROKEN_UNITS, encoding="utf-8")
    (folder / "duty_points.csv").write_text(DUTY_CSV.replace("K14+000", "K十四"), "utf-8")
    with pytest.raises(RegionImportError) as err, session_scope(session_factory) as s:
        import_region(s, [folder], _options(folder))
    got = {(p.file, p.feature, p.field, p.value) for p in err.value.problems}
    assert got == {
        ("units.csv", "row 2 (ORD-1)", "vehicle_class", "hovercraft"),
        ("units.csv", "row 3 (ORD-2)", "capabilities", "flying"),
        ("units.csv", "row 3 (ORD-2)", "crew", "-1"),
        ("units.csv", "row 3 (ORD-2)", "fuel", "lots"),
        ("units.csv", "row 4 (ORD-2)", "unit_id", "ORD-2"),
        ("units.csv", "row 5 (ORD-4)", "home_base", "火星基地"),
        ("duty_points.csv", "row 2 (YJ-DP1)", "km", "K十四"),
        ("duty_points.csv", "row 2 (YJ-DP1)", "lon", None),
    }
    text = str(err.value)
    assert text.startswith("8 problem(s) in the region files; nothing was imported")
    assert "units.csv: row 5 (ORD-4): home_base '火星基地': no lon/lat, and the base is not" in text
    with session_scope(session_factory) as s:
        assert _count(s, Unit) == 0 and _count(s, DutyPoint) == 0 and _count(s, Place) == 0


def test_cli_check_and_import(tmp_path, db_url):
    folder = write_region(tmp_path / "ordos")
    _roads().iloc[:1].to_file(folder / "roads.gpkg", layer="planned", engine="pyogrio")
    mapping = str(folder / "mapping.toml")
    bad = runner.invoke(app, ["region", "check", str(folder), "--fields", mapping])
    assert bad.exit_code == 1
    assert "roads.gpkg: has 3 layers (roads (LineString), km_labels (Point), planned (LineString))" \
        ": choose one with --layer NAME" in bad.output
    ok = runner.invoke(app, ["region", "check", str(folder), "--fields", mapping,
                             "--layer", "roads"])
    assert ok.exit_code == 0, ok.output
    assert "units.csv: units, 3 rows, no problems" in ok.output
    dry = runner.invoke(app, ["region", "import", str(folder), "--fields", mapping,
                              "--layer", "roads", "--dry-run", "--db", db_url])
    assert dry.exit_code == 0, dry.output
    assert "dry run, nothing written" in dry.output and "units: 3 added" in dry.output
    done = runner.invoke(app, ["region", "import", str(folder), "--fields", mapping,
                               "--layer", "roads", "--json", "--db", db_url])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    assert summary["import_id"] == 1 and summary["counts"]["units"]["added"] == 3
    again = runner.invoke(app, ["region", "import", str(folder), "--fields", mapping,
                                "--layer", "roads", "--db", db_url])
    assert "region import #2" in again.output and "units: 0 added, 0 updated, 3 unchanged" in \
        again.output


def test_demo_region_through_the_same_command(db_url, engine, settings, session_factory):
    from geo.region import load_region

    region = load_region(DEMO_REGION)
    result = runner.invoke(app, ["region", "import", str(DEMO_REGION), "--db", db_url])
    assert result.exit_code == 0, result.output
    assert f"units: {len(region.units)} added" in result.output
    assert f"segments: {len(region.network.segments)} added" in result.output
    with session_scope(session_factory) as s:
        assert _count(s, Unit) == len(region.units)
        assert _count(s, Segment) == len(region.network.segments)
        assert _count(s, DutyPoint) == len(region.duty_points)
        assert _count(s, User) == 0
    # the demo on top (as `demo --if-empty` would): users and the storm, region unchanged
    summary = load_demo(engine, settings, if_empty=True)
    assert not summary["skipped"]
    assert set(summary["region"].values()) == {0}
    assert summary["region_import"]["counts"]["units"]["unchanged"] == len(region.units)
    assert summary["storm"] and summary["storm"]["open_incidents"] > 0
    with session_scope(session_factory) as s:
        assert _count(s, User) == 3 and _count(s, Incident) > 0
        assert _count(s, Unit) == len(region.units)
        assert _count(s, RegionImport) == 2
    assert load_demo(engine, settings, if_empty=True)["skipped"]
