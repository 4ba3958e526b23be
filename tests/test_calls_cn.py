"""Call-centre exports as Chinese 110/122/12345 systems write them (issue 11).

Headers recognised without a mapping file (a mapping still overrides), approximate counts kept
as estimates with a range, GA 802 vehicle types and needs words, place descriptions resolved
with an uncertainty (checked against the real DataV banner outlines in ../shared/realdata), the
column-wise lane giving the same rows as the row-by-row checks, and the invariant of every
call-centre file: accepted + quarantined + duplicates == rows, no call with a location and
people quarantined for its counts or vehicle words (SQLite and PostGIS).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from shapely import affinity
from shapely.geometry import Point, shape

from geo.crs import gcj02_to_wgs84, to_metric
from geo.errors import UnknownPlaceError
from geo.gazetteer import Gazetteer, zh_number
from incidents.fusion.conditions.kinds import classify
from incidents.fusion.tasks import tasks_for
from incidents.store.sink import DatabaseSink
from ingest.call_counts import Count, parse_count
from ingest.call_row import CallContext
from ingest.call_vocab import canonical_header, vehicle_class
from ingest.calls import (
    CallMapping,
    _header_keys,
    decode_calls,
    load_mapping,
    parse_calls,
    parse_table,
)
from ingest.records import load_csv, sha256_hex

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures"
REGION_DIR = ROOT / "data" / "region"
DATAV = ROOT.parent / "shared" / "realdata" / "geodata" / "inner_mongolia" / "GeoMapData_CN_V3"
NOW = datetime(2025, 12, 15, tzinfo=UTC)
CN_FILES = ("calls_110_gb18030.csv", "calls_122_gbk.csv", "calls_12345_utf8bom.csv")
COUNT_WORDS = ("vehicles", "people", "vulnerable", "injured", "plausible count", "vehicle_class")


@pytest.fixture(scope="module")
def region():  # type: ignore[no-untyped-def]
    if not (REGION_DIR / "roads.geojson").exists():
        pytest.skip("data/region not present")
    from geo.region import load_region

    return load_region(REGION_DIR)


def parse(name: str, region: Any, mapping: CallMapping | None = None) -> Any:
    return parse_calls((FIX / name).read_bytes(), name, region, mapping=mapping, now=NOW)


def by_key(result: Any) -> dict[str, Any]:
    return {row["natural_key"]: row for _, row in result.frame.iterrows()}


# ------------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("接警编号", "call_id"),
        ("接警单编号", "call_id"),
        ("警情编号", "call_id"),
        ("工单编号*", "call_id"),
        ("接警时间", "time"),
        ("受理时间*", "time"),
        ("事发地点", "place"),
        ("事发位置", "place"),
        ("警情描述", "notes"),
        ("工单内容（摘要）", "notes"),
        ("报警人", "caller"),
        ("报警人（姓名）", "caller"),
        ("联系电话", "phone"),
        ("车辆数", "vehicles"),
        ("被困车辆", "vehicles"),
        ("人数", "people"),
        ("被困人数", "people"),
        ("受伤人数", "injured"),
        ("车型", "vehicle_class"),
        ("号牌种类", "vehicle_class"),
        ("号牌号码", "plate"),
        ("经度", "lon"),
        ("纬度", "lat"),
        ("所属旗县", "admin"),
        ("求助内容", "needs"),
        ("警情类别", "event_type"),
        (" Ｌｏｎｇｉｔｕｄｅ ", "lon"),
        ("序号", None),
        ("处警单位", None),
    ],
)
def test_alarm_receiving_headers(header: str, field: str | None) -> None:
    assert canonical_header(header) == field


def test_110_export_read_without_a_mapping_file(region) -> None:  # type: ignore[no-untyped-def]
    r = parse("calls_110_gb18030.csv", region)
    rows = by_key(r)
    first = rows["JJ20251214000101"]
    a = first["attributes"]
    assert a["caller_masked"] == "张*" and a["phone_masked"] == "138****1111"
    assert "张三" not in json.dumps(a, ensure_ascii=False)
    assert "13800001111" not in json.dumps(a)
    assert a["notes"] == "多辆货车被困，一辆半挂车侧滑进沟"  # a quoted comma stays in the cell
    assert a["encoding"] == "gb18030" and a["admin"] == "阿巴嘎旗"
    # GCJ-02 from the phone's map app ("GCJ02" in the 坐标系 column): converted, original kept
    assert a["original"] == {"lon": 114.970121, "lat": 44.02291, "datum": "gcj02"}
    assert abs(first.geometry.x - 114.964) < 0.01
    # 2025年12月14日 8时20分 is 00:20 UTC
    assert rows["JJ20251214000103"]["observed_at"] == datetime(2025, 12, 14, 0, 20, tzinfo=UTC)
    # no call is lost to the header: the three other exports too
    for name in CN_FILES[1:]:
        assert len(parse(name, region).frame) >= 4


def test_mapping_file_overrides_the_built_in_headers(region) -> None:  # type: ignore[no-untyped-def]
    # without the mapping, 地址 (the caller's home in this export) is taken as the place
    plain = by_key(parse("calls_override.csv", region))["OV-1"]
    assert plain["place"] != "别力古台镇"
    m = load_mapping(FIX / "calls_override.toml")
    row = by_key(parse("calls_override.csv", region, m))["OV-1"]
    assert row["place"] == "别力古台镇"
    assert row["attributes"]["notes"] == "呼和浩特市新城区某小区"


def test_first_of_two_columns_for_one_field_wins() -> None:
    keys = _header_keys(["接警编号", "接警时间", "事发时间", "备注"], CallMapping(), "x")
    assert keys == ["call_id", "time", None, "notes"]


# -------------------------------------------------------------------------------- counts


@pytest.mark.parametrize(
    ("text", "value", "low", "high", "estimated"),
    [
        ("20", 20, 20, 20, False),
        ("20人", 20, 20, 20, False),
        ("两辆", 2, 2, 2, False),
        ("一百零五", 105, 105, 105, False),
        ("", 0, 0, 0, False),
        ("约20", 20, 16, 24, True),
        ("20人左右", 20, 16, 24, True),
        ("30余人", 35, 31, 39, True),
        ("二十多", 25, 21, 29, True),
        ("十几辆", 15, 11, 19, True),
        ("十来个", 10, 8, 12, True),
        ("数十", 55, 20, 90, True),
        ("几", 6, 2, 9, True),
        ("二三十", 25, 20, 30, True),
        ("七八辆", 8, 7, 8, True),
        ("20-30", 25, 20, 30, True),
        ("20至30", 25, 20, 30, True),
        ("至少20", 25, 20, 30, True),
        ("不到10", 8, 5, 10, True),
        ("100多", 150, 101, 199, True),
        ("several", 6, 3, 9, True),
        ("a few", 4, 2, 5, True),
        ("about 20", 20, 16, 24, True),
        ("20+", 25, 21, 29, True),
    ],
)
def test_parse_count(text: str, value: int, low: int, high: int, estimated: bool) -> None:
    assert parse_count(text) == Count(value, low, high, estimated)


@pytest.mark.parametrize(
    ("text", "unknown", "implausible"),
    [("不详", True, False), ("?", True, False), ("-1", False, True), ("两万", False, True)],
)
def test_unreadable_counts_are_said_not_guessed(
    text: str, unknown: bool, implausible: bool
) -> None:
    c = parse_count(text)
    assert c.value is None and c.unknown is unknown and c.implausible is implausible


def test_zh_numerals() -> None:
    assert [zh_number(t) for t in ("十", "十五", "二十", "两百", "一百二十")] == [
        10,
        15,
        20,
        200,
        120,
    ]
    assert zh_number("二三十") is None and zh_number("abc") is None


def test_approximate_counts_kept_with_flag_and_range(region) -> None:  # type: ignore[no-untyped-def]
    rows = by_key(parse("calls_110_gb18030.csv", region))
    a = rows["JJ20251214000101"]["attributes"]
    assert (a["vehicles"], a["vehicles_low"], a["vehicles_high"]) == (20, 16, 24)
    assert (a["people"], a["people_low"], a["people_high"]) == (35, 31, 39)
    assert a["people_estimated"] and a["people_raw"] == "30余人"
    assert {"vehicles_estimated", "people_estimated"} <= set(rows["JJ20251214000101"]["flags"])
    # "不详" people: kept with the flag, the count unknown (None), the call not dropped
    unknown = rows["JJ20251214000108"]
    assert unknown["attributes"]["people"] is None and "people_unknown" in unknown["flags"]
    # the example of the issue: "约20" vehicles and "30余人" through the old mapping-file route
    data = (
        "Ticket,Opened,GPS E,GPS N,Cars,Persons\nBJ-9,2025-12-14 11:00,116.78,45.39,约20,30余人\n"
    )
    r = parse_calls(
        data.encode(), "o.csv", mapping=load_mapping(FIX / "ingest" / "calls_mapping.toml")
    )
    assert not r.quarantine and r.frame.iloc[0]["attributes"]["people"] == 35


# ------------------------------------------------------------------ vehicle types, needs


@pytest.mark.parametrize(
    ("text", "cls"),
    [
        ("小型客车", "car"),
        ("小型轿车", "car"),
        ("小型越野客车", "car"),
        ("中型客车", "passenger_coach"),
        ("大型客车", "passenger_coach"),
        ("大型专用校车", "passenger_coach"),
        ("校车", "passenger_coach"),
        ("重型半挂牵引车", "heavy_truck"),
        ("重型半挂货车", "heavy_truck"),
        ("重型厢式货车", "heavy_truck"),
        ("重型普通半挂车", "heavy_truck"),
        ("中型厢式货车", "heavy_truck"),
        ("轻型货车", "light_truck"),
        ("轻型厢式货车", "light_truck"),
        ("危险品运输车", "hazmat"),
        ("危化品", "hazmat"),
        ("油罐车", "hazmat"),
        ("大货", "heavy_truck"),
        ("半挂", "heavy_truck"),
        ("挂车", "heavy_truck"),
        ("小车", "car"),
        ("轿车", "car"),
        ("客车", "passenger_coach"),
        ("大巴", "passenger_coach"),
        ("面包车", "car"),
        ("SUV", "car"),
        ("大型汽车", "heavy_truck"),
        ("heavy_truck", "heavy_truck"),
        ("摩托车", None),
    ],
)
def test_public_security_vehicle_types(text: str, cls: str | None) -> None:
    assert vehicle_class(text) == cls


def test_semi_trailer_in_a_ditch_asks_for_a_heavy_tow(region) -> None:  # type: ignore[no-untyped-def]
    rows = by_key(parse("calls_110_gb18030.csv", region))
    a = rows["JJ20251214000101"]["attributes"]
    assert a["vehicle_class"] == "heavy_truck" and a["vehicle_class_raw"] == "重型半挂牵引车"
    assert "heavy_tow" in a["needs"] and a["needs_implied"] == ["heavy_tow"]
    assert "fuel" in a["needs"]  # 送油
    # fusion reads the notes as a vehicle in a ditch and, for a heavy truck, plans a heavy tow
    c = classify("call", "stranded_vehicle", a)
    assert c.incident == "vehicle_in_ditch"
    kinds = [t.kind for t in tasks_for(c.incident, vehicle_class=a["vehicle_class"])]
    assert "heavy_tow" in kinds
    # 吊车 is a heavy tow; an overturned tanker with an injured driver needs medical help too
    assert rows["JJ20251214000104"]["attributes"]["needs"] == ["heavy_tow"]
    tanker = rows["JJ20251214000105"]["attributes"]
    assert tanker["vehicle_class"] == "hazmat" and {"heavy_tow", "medical"} <= set(tanker["needs"])
    # a small car is not a heavy tow; 拖车 for a 大货 is
    assert "heavy_tow" not in rows["JJ20251214000102"]["attributes"]["needs"]
    assert "heavy_tow" in rows["JJ20251214000109"]["attributes"]["needs"]
    # a type the tables do not know is flagged, never a reason to drop the call
    moto = rows["JJ20251214000108"]
    assert moto["attributes"]["vehicle_class"] is None and "unknown_vehicle_class" in moto["flags"]


def test_122_export_plate_types_injuries_and_grit(region) -> None:  # type: ignore[no-untyped-def]
    rows = by_key(parse("calls_122_gbk.csv", region))
    assert rows["122-0001"]["road_code"] == "G331" and rows["122-0001"]["km"] == 1400.0
    crash = rows["122-0002"]["attributes"]
    assert crash["injured"] == 2 and "medical" in crash["needs"] and crash["plate"] == "蒙H23456"
    # 大型汽车 is only a plate size: the notes say it is a coach
    assert rows["122-0003"]["attributes"]["vehicle_class"] == "passenger_coach"
    assert rows["122-0005"]["attributes"]["needs"] == ["grit"]  # 破冰


# -------------------------------------------------------------------------------- places


@pytest.mark.parametrize(
    ("text", "name", "method", "max_unc"),
    [
        ("阿巴嘎旗别力古台镇", "别力古台镇", "composite", 3000),
        ("锡林郭勒盟阿巴嘎旗那仁宝拉格苏木", "那仁宝拉格苏木", "composite", 3000),
        ("内蒙古锡林郭勒盟阿巴嘎旗吉尔嘎郎图苏木", "吉尔嘎郎图苏木", "composite", 3000),
        ("别力古台", "别力古台镇", "name", 3000),
        ("那仁宝拉格镇", "那仁宝拉格苏木", "name", 3000),
        ("别力古台镇宝格都乌拉嘎查", "别力古台镇", "village", 15000),
        ("锡林浩特附近", "锡林浩特", "name", 6000),
        ("别力古台镇以北约15公里", "别力古台镇", "name+offset", 8000),
        ("西乌珠穆沁旗巴彦乌拉镇东南二十公里处", "巴彦乌拉镇", "composite+offset", 8000),
        ("15 km north of Xilinhot", "锡林浩特", "name+offset", 8000),
        ("阿巴嘎旗某某嘎查", "阿巴嘎旗", "banner_only", 200_000),
    ],
)
def test_place_descriptions(region, text: str, name: str, method: str, max_unc: float) -> None:  # type: ignore[no-untyped-def]
    res = region.gazetteer.resolve(text)
    assert res.place.name_zh == name and res.method == method
    assert 0 < res.uncertainty_m <= max_unc
    if method == "banner_only":
        assert "某某嘎查" in res.notes[0]


def test_offsets_move_the_point_by_the_distance(region) -> None:  # type: ignore[no-untyped-def]
    g = region.gazetteer
    town = g.resolve("别力古台镇")
    north = g.resolve("别力古台镇以北约15公里")
    d = to_metric(Point(town.lon, town.lat)).distance(to_metric(Point(north.lon, north.lat)))
    assert abs(d - 15_000) < 300 and north.lat > town.lat and abs(north.lon - town.lon) < 1e-6
    ring = g.resolve("距别力古台镇15公里")  # no direction: the town, uncertainty covers the ring
    assert (ring.lon, ring.lat) == (town.lon, town.lat) and ring.uncertainty_m >= 15_000
    se = g.resolve("西乌珠穆沁旗巴彦乌拉镇东南二十公里处")
    base = g.resolve("巴彦乌拉镇")
    assert se.lat < base.lat and se.lon > base.lon


def test_unresolvable_places_say_why(region) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownPlaceError, match="火星"):
        region.gazetteer.resolve("火星基地")
    res = region.gazetteer.resolve("阿巴嘎旗乌里雅斯太镇")  # a town of another banner
    assert res.method == "banner_only" and "东乌珠穆沁旗" in res.notes[0]
    r = parse("calls_110_gb18030.csv", region)
    reasons = {q.reason for q in r.quarantine}
    assert any("'火星基地' not resolved" in x for x in reasons)


def test_ambiguous_township_asks_for_the_banner() -> None:
    places = gpd.GeoDataFrame(
        {
            "admin_code": ["152500", "152525", "152526"],
            "level": ["league", "banner", "banner"],
            "name_zh": ["锡林郭勒盟", "东乌珠穆沁旗", "西乌珠穆沁旗"],
            "name_en": ["Xilingol", "East Ujimqin", "West Ujimqin"],
        },
        geometry=[shape({"type": "Point", "coordinates": (0, 0)}).buffer(5)] * 3,
        crs="EPSG:4326",
    )
    towns = pd.DataFrame(
        {
            "name_zh": ["巴彦乌拉镇", "巴彦乌拉苏木"],
            "name_en": ["", ""],
            "kind": ["town", "township"],
            "lon": [117.6, 116.5],
            "lat": [44.6, 45.5],
            "admin_code": ["152526", "152525"],
            "source": ["t", "t"],
        }
    )
    g = Gazetteer(places, towns)
    with pytest.raises(UnknownPlaceError, match="ambiguous"):
        g.resolve("巴彦乌拉")
    assert g.resolve("东乌珠穆沁旗巴彦乌拉").place.lon == 116.5
    assert g.resolve("西乌珠穆沁旗巴彦乌拉镇").place.lon == 117.6


def test_call_places_carry_their_uncertainty(region) -> None:  # type: ignore[no-untyped-def]
    rows = by_key(parse("calls_110_gb18030.csv", region))
    comp = rows["JJ20251214000102"]["attributes"]
    assert comp["place_resolution"] == "composite" and comp["location_uncertainty_m"] == 3000
    stake = rows["JJ20251214000104"]
    assert (stake["road_code"], stake["km"]) == ("G331", 1400.5)
    assert stake["attributes"]["place_resolution"] == "stake_in_text"
    banner = rows["JJ20251214000105"]
    assert banner["attributes"]["place_resolution"] == "banner_only"
    assert "place_partly_resolved" in banner["flags"]


def _datav_banners() -> list[tuple[str, str, Any]]:
    """(league name, banner name, WGS84 outline) of every banner in the real DataV files."""
    out = []
    leagues = json.loads((DATAV / "province" / "150000.json").read_text(encoding="utf-8"))
    names = {f["properties"]["adcode"]: f["properties"]["name"] for f in leagues["features"]}
    for path in sorted((DATAV / "citys").glob("15*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for f in doc["features"]:
            geom = shape(f["geometry"])
            # GCJ-02 in the files: shift by the offset at the outline's centre (~600 m here)
            c = geom.representative_point()
            wx, wy = gcj02_to_wgs84(c.x, c.y)
            geom = affinity.translate(geom, float(wx) - c.x, float(wy) - c.y)
            out.append((names.get(int(path.stem), ""), f["properties"]["name"], geom))
    return out


def test_composite_names_land_in_the_real_banner_outlines(region, realdata) -> None:  # type: ignore[no-untyped-def]
    """For each of the 103 real banners: "<league><banner>" and "<banner><unknown gacha>" resolve
    to a point inside (or within 3 km of) that banner's real outline, with an uncertainty at
    least the banner's own size, or are refused with a reason naming the text."""
    banners = _datav_banners()
    assert len(banners) >= 100
    g = region.gazetteer
    resolved = 0
    for league, banner, outline in banners:
        for text in (f"{league}{banner}", f"{banner}某某嘎查", f"{banner}境内"):
            try:
                res = g.resolve(text)
            except UnknownPlaceError as e:
                assert text[:2] in str(e)
                continue
            resolved += 1
            p = to_metric(Point(res.lon, res.lat))
            assert to_metric(outline).distance(p) < 3000, (text, res)
            if res.method == "banner_only":  # at least the banner's own size
                radius = (to_metric(outline).area / 3.14159) ** 0.5
                assert res.uncertainty_m >= 0.7 * radius, (text, res.uncertainty_m, radius)
    assert resolved >= 3 * 100


def test_the_issue_example_lands_in_abag_banner(region, realdata) -> None:  # type: ignore[no-untyped-def]
    abag = next(o for _, b, o in _datav_banners() if b == "阿巴嘎旗")
    res = region.gazetteer.resolve("阿巴嘎旗别力古台镇")
    assert abag.contains(Point(res.lon, res.lat)) and res.uncertainty_m == 3000


# ---------------------------------------------------------------- lanes, encodings, invariant


def _ctx(data: bytes, region: Any) -> tuple[list[list[str]], list[str | None], CallContext]:
    text, enc = decode_calls(data)
    table = load_csv(text, "x.csv")
    keys = _header_keys(table[0], CallMapping(), "x.csv")
    return table[1:], keys, CallContext("x.csv", sha256_hex(data), region, None, NOW, enc)


def _mixed_csv(n: int) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        ["接警编号", "接警时间", "经度", "纬度", "坐标系", "车辆数", "人数", "车型", "警情描述"]
    )
    datums = ["GCJ02", "wgs84", "百度", "", "bd09", "nonsense"]
    times = ["2025-12-14 08:00:00", "2025-12-14 08:01", "2025/12/14 8:02", "2026-02-30 08:00"]
    for i in range(n):
        lon = "" if i % 17 == 0 else f"{114 + (i % 50) * 0.05:.6f}"
        w.writerow(
            [
                f"M{i}" if i % 23 else "",
                times[i % 4],
                lon,
                "0" if i % 19 == 0 else f"{43 + (i % 40) * 0.05:.6f}",
                datums[i % 6],
                ["约20", "3", "十几"][i % 3],
                ["30余人", "2", "不详"][i % 3],
                ["重型半挂牵引车", "小型客车", ""][i % 3],
                ["半挂车侧滑进沟", "被困", "需要拖车"][i % 3],
            ]
        )
    return out.getvalue().encode("gb18030")


def test_column_lane_gives_the_same_rows_as_the_row_lane(region) -> None:  # type: ignore[no-untyped-def]
    rows, keys, ctx = _ctx(_mixed_csv(600), region)
    fast = parse_table(rows, keys, ctx)
    slow = parse_table(rows, keys, ctx, fast=False)
    assert len(fast.frame) > 100 and len(fast.quarantine) > 50
    pd.testing.assert_frame_equal(
        pd.DataFrame(fast.frame.drop(columns="geometry")),
        pd.DataFrame(slow.frame.drop(columns="geometry")),
    )
    assert list(fast.frame.geometry.to_wkb()) == list(slow.frame.geometry.to_wkb())
    assert [(q.record, q.reason) for q in fast.quarantine] == [
        (q.record, q.reason) for q in slow.quarantine
    ]


@pytest.mark.parametrize("name", CN_FILES)
def test_encodings_of_real_exports(name: str) -> None:
    _, enc = decode_calls((FIX / name).read_bytes())
    assert enc == {"calls_110_gb18030.csv": "gb18030", "calls_122_gbk.csv": "gb18030"}.get(
        name, "utf-8-sig"
    )


def _data_rows(data: bytes) -> list[dict[str, str]]:
    """The records of a payload as the call centre sent them (non-blank CSV rows, JSON items)."""
    text, _ = decode_calls(data)
    if text.lstrip().startswith(("[", "{")):
        doc = json.loads(text)
        items = doc.get("calls") if isinstance(doc, dict) else doc
        return [i if isinstance(i, dict) else {} for i in items]
    table = load_csv(text, "x")
    return [dict(zip(table[0], r, strict=False)) for r in table[1:] if "".join(r).strip()]


ALL_CALL_FILES = sorted(
    [p for p in FIX.glob("calls_*") if p.suffix in (".csv", ".json")]
    + [p for p in (FIX / "ingest").glob("calls*") if p.suffix in (".csv", ".json")]
)


@pytest.mark.parametrize("path", ALL_CALL_FILES, ids=lambda p: p.name)
def test_every_call_file_accounts_for_every_row(path: Path, region, session_factory) -> None:  # type: ignore[no-untyped-def]
    data = path.read_bytes()
    mapping = None
    if path.name == "calls_other.csv":
        mapping = load_mapping(FIX / "ingest" / "calls_mapping.toml")
    elif path.name == "calls_override.csv":
        mapping = load_mapping(FIX / "calls_override.toml")
    result = parse_calls(data, path.name, region, mapping=mapping, now=NOW)
    counts = DatabaseSink(session_factory).store("calls", result)
    rows = _data_rows(data)
    assert counts.accepted + len(result.quarantine) + counts.duplicates == len(rows)
    for q in result.quarantine:
        # a call with a location and people is never dropped for how counts or vehicles are written
        assert not any(w in q.reason for w in COUNT_WORDS), q.reason
    again = DatabaseSink(session_factory).store("calls", result)
    assert again.accepted == 0 and again.duplicates == len(result.frame)


def test_column_wise_attributes_equal_the_row_function() -> None:
    """call_attributes_many (the column-wise lane) == call_attributes row by row, every field."""
    from itertools import product

    from ingest.call_row import call_attributes, call_attributes_many

    cells = {
        "vehicles": ["约20", "3", "", "nan"],
        "people": ["30余人", "2", "不详"],
        "injured": ["", "0", "2", "一人"],
        "vehicle_class": ["小型汽车", "重型半挂牵引车", "", "摩托车", "大型汽车号牌"],
        "notes": ["半挂车侧滑进沟 需要吊车", "被困", "", "需要拖车 tow truck", "nan"],
        "needs": ["燃油、取暖", "", "油、水", "拖车"],
        "event_type": ["交通类-车辆被困", "", "None"],
    }
    rows = list(product(*cells.values()))
    cols: dict[str, list[str]] = {k: [r[i] for r in rows] for i, k in enumerate(cells)}
    n = len(rows)
    cols |= {
        "call_id": [f"C{i}" for i in range(n)],
        "phone": [["13800001234", "0471-1234567", ""][i % 3] for i in range(n)],
        "caller": [["张三", "", "nan"][i % 3] for i in range(n)],
        "plate": [["蒙H12345", ""][i % 2] for i in range(n)],
        "admin": [["阿巴嘎旗", ""][i % 2] for i in range(n)],
    }
    index = list(range(0, n, 7))
    many = call_attributes_many(cols, index, "gb18030")
    one = [
        call_attributes({k: c[i] for k, c in cols.items()}, cols["call_id"][i], "gb18030")
        for i in index
    ]
    assert len(index) > 500 and many == one
    assert any(a.get("needs_implied") == ["heavy_tow"] for a, _ in many)
    assert any("vehicle_class_from_notes" in f for _, f in many)
