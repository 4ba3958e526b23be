"""Offline parser tests on the project's own fixtures (tests/fixtures/ingest)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from shapely.geometry import Point

from ingest.calls import decode_calls, load_mapping, parse_calls
from ingest.cap import cap_circle, cap_polygon, classify_hazard, colour_level, parse_cap
from ingest.drone import parse_drone
from ingest.errors import ConfigError, HostileXMLError, ParseError
from ingest.nws import parse_nws
from ingest.validate import RecordError, check_lonlat, mask_phone, parse_time
from ingest.waze import parse_waze

FIX = Path(__file__).parent / "fixtures" / "ingest"
REGION_DIR = Path(__file__).resolve().parents[1] / "data" / "region"
NOW = datetime(2025, 12, 14, 4, 0, tzinfo=UTC)


def fx(name: str) -> bytes:
    return (FIX / name).read_bytes()


@pytest.fixture(scope="module")
def region():  # type: ignore[no-untyped-def]
    if not (REGION_DIR / "roads.geojson").exists():
        pytest.skip("data/region not present")
    from geo.region import load_region

    return load_region(REGION_DIR)


def reasons(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [q.reason for q in result.quarantine]


# ------------------------------------------------------------------------------------- CAP


def test_cap_chinese_alert_with_two_languages_prefers_zh(region) -> None:  # type: ignore[no-untyped-def]
    r = parse_cap(fx("cap_zh_blizzard.xml"), "f.xml", region, now=NOW)
    assert len(r.frame) == 1 and not r.quarantine
    a = r.alerts.iloc[0]
    assert a["language"] == "zh-CN"
    assert a["headline"] == "锡林郭勒盟气象台发布暴雪橙色预警"
    assert len(a["infos"]) == 2
    assert a["hazard_class"] == "blizzard"
    assert a["colour"] == "orange" and a["severity"] == "Severe"
    assert a["temperature_c"] == -32.0
    assert a["sent"] == datetime(2025, 12, 14, 0, 0, tzinfo=UTC)
    assert a["expires"] == datetime(2025, 12, 15, 12, 0, tzinfo=UTC)
    assert (
        a["natural_key"] == "xlgl-meteo@example.cn,CN-XLGL-20251214-0001,2025-12-14T00:00:00+00:00"
    )
    # polygon written lat,lon in CAP -> lon,lat; merged with the banner outline from the code
    geom = a["geometry"]
    assert geom.covers(Point(115.0, 44.25))
    abag = region.gazetteer.by_code("152522").geometry
    assert geom.covers(abag.representative_point())
    assert "行政区划代码:152522" in a["area_codes"]


def test_cap_geocode_only_needs_a_region() -> None:
    r = parse_cap(fx("cap_zh_update.xml"), "u.xml", None, now=NOW)
    assert len(r.frame) == 0
    assert "cannot be resolved" in reasons(r)[0] and "152522" in reasons(r)[0]


def test_cap_update_references_and_red_level(region) -> None:  # type: ignore[no-untyped-def]
    r = parse_cap(fx("cap_zh_update.xml"), "u.xml", region, now=NOW)
    a = r.alerts.iloc[0]
    assert a["msg_type"] == "Update"
    assert a["references"] == [
        "xlgl-meteo@example.cn,CN-XLGL-20251214-0001,2025-12-14T00:00:00+00:00"
    ]
    assert a["colour"] == "red" and a["severity"] == "Extreme"
    assert a["wind_kmh"] == pytest.approx(72.0)
    # a 12-digit code resolves to its banner (Xilinhot 152502)
    xilinhot = region.gazetteer.by_code("152502").geometry
    assert a["geometry"].intersects(xilinhot.representative_point())


def test_cap_cancel_needs_no_area() -> None:
    r = parse_cap(fx("cap_zh_cancel.xml"), "c.xml", now=NOW)
    assert len(r.frame) == 1
    assert r.alerts.iloc[0]["msg_type"] == "Cancel"
    assert r.alerts.iloc[0]["geometry"] is None


def test_cap_wrapper_circles_status_and_missing_sent() -> None:
    r = parse_cap(fx("cap_wrapper.xml"), "w.xml", now=NOW)
    assert list(r.alerts["identifier"]) == ["WRAP-1", "WRAP-2"]
    a1, a2 = r.alerts.iloc[0], r.alerts.iloc[1]
    assert a1["geometry"].equals(Point(115.467, 43.998))  # radius 0 -> the point
    assert a1["hazard_class"] == "road_icing"
    assert a2["status"] == "Exercise"
    assert "not_live" in r.frame.iloc[1]["flags"]
    # 5 km circle: about 10 km across, centred on lon/lat (not lat/lon)
    minx, miny, maxx, maxy = a2["geometry"].bounds
    assert 115.97 < minx < 116.0 and 116.09 < maxx < 116.12
    assert 43.62 < miny < 43.63 and 43.71 < maxy < 43.72
    assert reasons(r) == ["CAP alert lacks required element(s): sent"]


def test_cap_edxl_envelope_bom_wrong_namespace_latin1() -> None:
    edxl = parse_cap(fx("cap_edxl.xml"), "e.xml", now=NOW)
    assert list(edxl.alerts["identifier"]) == ["EDXL-CAP-1"]
    assert edxl.alerts.iloc[0]["hazard_class"] == "cold_wave"
    assert edxl.alerts.iloc[0]["severity"] == "Minor"  # blue
    wrong = parse_cap(fx("cap_wrong_ns_bom.xml"), "n.xml", now=NOW)
    assert "nonstandard_namespace" in wrong.frame.iloc[0]["flags"]
    assert wrong.alerts.iloc[0]["hazard_class"] == "road_icing"
    latin = parse_cap(fx("cap_latin1.xml"), "l.xml", now=NOW)
    assert latin.alerts.iloc[0]["sender"] == "météo@example.fr"
    assert latin.alerts.iloc[0]["temperature_c"] == -12.0


def test_cap_geocodes_chinese_resolve_foreign_quarantined(region) -> None:  # type: ignore[no-untyped-def]
    r = parse_cap(fx("cap_geocode_only.xml"), "g.xml", region, now=NOW)
    assert list(r.alerts["identifier"]) == ["GEO-CN"]
    assert r.alerts.iloc[0]["hazard_class"] == "gale"
    assert len(r.quarantine) == 1
    assert "UGC:MTZ009" in r.quarantine[0].reason and "zone file" in r.quarantine[0].reason
    # with a zone file the UGC zone resolves too
    zones = {"UGC:MTZ009": Point(-110, 47).buffer(0.5)}
    r2 = parse_cap(fx("cap_geocode_only.xml"), "g.xml", region, now=NOW, zones=zones)
    assert len(r2.alerts) == 2 and not r2.quarantine


def test_cap_hostile_xml_refused_without_reading() -> None:
    with pytest.raises(HostileXMLError):
        parse_cap(fx("cap_hostile.xml"), "h.xml")


@pytest.mark.parametrize(
    "data", [b"", b"not xml", b"<html><body>login</body></html>", b"<a><b></a>"]
)
def test_cap_garbage_is_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_cap(data, "x")


def test_cap_geometry_helpers() -> None:
    poly = cap_polygon("44.5,114.5 44.5,115.5 44.0,115.5 44.5,114.5")
    assert poly.bounds == (114.5, 44.0, 115.5, 44.5)
    with pytest.raises(RecordError):
        cap_polygon("44.5,114.5 44.5,115.5")
    with pytest.raises(RecordError):
        cap_circle("95,10 5")
    assert cap_circle("44,115 0.0").equals(Point(115, 44))


@pytest.mark.parametrize(
    ("text", "hazard"),
    [
        ("暴雪蓝色预警", "blizzard"),
        ("寒潮黄色预警", "cold_wave"),
        ("道路结冰橙色预警", "road_icing"),
        ("大风蓝色预警", "gale"),
        ("Blowing Snow Advisory", "blowing_snow"),
        ("Freezing Rain Warning", "freezing_rain"),
        ("Wind Chill Warning", "extreme_cold"),
        ("Dense Fog Advisory", "low_visibility"),
        ("Flash Flood Watch", None),
    ],
)
def test_hazard_classification(text: str, hazard: str | None) -> None:
    assert classify_hazard(text) == hazard


def test_colour_levels() -> None:
    assert colour_level("暴雪红色预警信号") == "red"
    assert colour_level("Orange warning for snow") == "orange"
    assert colour_level("no colour") is None


# ------------------------------------------------------------------------------------- NWS


def test_nws_geometry_or_zones() -> None:
    doc = b"""{"type":"FeatureCollection","features":[
     {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[-100,45],[-99,45],[-99,46],[-100,45]]]},
      "properties":{"id":"N1","sender":"w-nws.webmaster@noaa.gov","sent":"2025-12-14T03:00:00-06:00",
      "expires":"2025-12-15T03:00:00-06:00","status":"Actual","messageType":"Alert",
      "event":"Blizzard Warning","severity":"Extreme","parameters":{"NWSheadline":["BLIZZARD"]}}},
     {"type":"Feature","geometry":null,"properties":{"id":"N2","sender":"s","sent":"2025-12-14T03:00:00Z",
      "messageType":"Update","event":"Winter Storm Warning",
      "affectedZones":["https://api.weather.gov/zones/forecast/NDZ001"],
      "references":[{"identifier":"N0","sender":"s","sent":"2025-12-13T03:00:00Z"}]}},
     {"type":"Feature","geometry":null,"properties":{"id":"N3","sender":"s","sent":"Dec 14 2025 3am",
      "event":"Winter Storm Warning"}}]}"""
    r = parse_nws(doc, "n.json", now=NOW)
    assert list(r.alerts["identifier"]) == ["N1"]
    assert r.alerts.iloc[0]["hazard_class"] == "blizzard"
    assert r.alerts.iloc[0]["infos"][0]["parameters"] == {"NWSheadline": ["BLIZZARD"]}
    assert len(r.quarantine) == 2
    assert "UGC:NDZ001" in r.quarantine[0].reason
    assert "not ISO 8601" in r.quarantine[1].reason
    zones = {"UGC:NDZ001": Point(-100, 47).buffer(1)}
    r2 = parse_nws(doc, "n.json", now=NOW, zones=zones)
    assert list(r2.alerts["identifier"]) == ["N1", "N2"]
    assert r2.alerts.iloc[1]["references"] == ["s,N0,2025-12-13T03:00:00+00:00"]


# ----------------------------------------------------------------------------------- drone


def test_drone_detections_geojson(region) -> None:  # type: ignore[no-untyped-def]
    r = parse_drone(fx("detections.geojson"), "d.geojson", region, now=NOW)
    assert list(r.frame["natural_key"]) == ["XL-F0001:D1", "XL-F0001:D2", "XL-F0001:D3"]
    d2 = r.frame.iloc[1]
    # GCJ-02 input converted to WGS84 (~600 m), original kept
    assert d2["attributes"]["original"]["datum"] == "gcj02"
    assert abs(d2.geometry.x - 115.137287) < 1e-5 and abs(d2.geometry.y - 44.148685) < 1e-5
    assert d2["observed_at"] == datetime(2025, 12, 14, 1, 20, tzinfo=UTC)  # naive = Shanghai
    assert r.frame.iloc[0]["attributes"]["photo"] == "F0001/IMG_0012.JPG"
    assert "'yeti'" in reasons(r)[0]
    assert "no Point geometry" in reasons(r)[1]


def test_drone_detections_csv_quarantine_reasons() -> None:
    r = parse_drone(fx("detections.csv"), "d.csv", now=NOW)
    assert list(r.frame["natural_key"]) == ["XL-F0002:C1", "XL-F0002:C5"]
    assert "future_time" in r.frame.iloc[1]["flags"]
    rs = reasons(r)
    assert "outside 0..1" in rs[0]
    assert "(0, 0)" in rs[1]
    assert "swapped" in rs[2]
    assert "not ISO 8601" in rs[3]
    assert all(q.raw_sha256 for q in r.quarantine)


def test_drone_tracks_and_road_km(region) -> None:  # type: ignore[no-untyped-def]
    gpx = parse_drone(fx("track.gpx"), "t.gpx", region, now=NOW)
    assert len(gpx.frame) == 1
    t = gpx.frame.iloc[0]
    assert t.geometry.geom_type == "LineString" and len(t.geometry.coords) == 3
    assert t["attributes"]["road_km"] > 0.3
    assert any(s.startswith("Y001:") for s in t["attributes"]["segment_ids"])
    assert "no timestamps" in reasons(gpx)[0]

    air = parse_drone(fx("airdata_small.csv"), "a.csv", region, now=NOW)
    a = air.frame.iloc[0]
    assert a["attributes"]["dropped_points"] == 1  # the (0,0) row
    assert a["attributes"]["non_numeric_values"] == 1  # the text in a numeric column
    assert a["attributes"]["max_height_m"] == pytest.approx(120 * 0.3048, abs=0.1)
    assert a["attributes"]["max_speed_kmh"] == pytest.approx(25 * 1.609344, abs=0.1)
    assert a["observed_at"] == datetime(2025, 12, 14, 1, 0, tzinfo=UTC)  # datetime(utc)

    dji = parse_drone(fx("dji_txtlog.csv"), "d.csv", None, now=NOW)
    d = dji.frame.iloc[0]
    assert "non_utf8_bytes" in d["flags"]
    assert d["observed_at"] == datetime(2025, 12, 14, 2, 0, 0, 100000, tzinfo=UTC)  # local
    assert d["attributes"]["road_km"] is None  # no region


def test_drone_track_without_region_has_no_road_km() -> None:
    r = parse_drone(fx("track.gpx"), "t.gpx", None, now=NOW)
    assert r.frame.iloc[0]["attributes"]["road_km"] is None


def test_drone_unknown_csv_is_parse_error() -> None:
    with pytest.raises(ParseError, match="not a known drone format"):
        parse_drone(b"a,b,c\n1,2,3\n", "x.csv")


# ----------------------------------------------------------------------------------- calls


def test_calls_english_all_location_kinds(region) -> None:  # type: ignore[no-untyped-def]
    r = parse_calls(fx("calls_en.csv"), "c.csv", region, now=NOW)
    keys = list(r.frame["natural_key"])
    assert keys == ["CALL-001", "CALL-002", "CALL-003", "CALL-004", "CALL-008"]
    f = r.frame.set_index("natural_key")
    # GCJ-02 and BD-09 inputs land on the same WGS84 point (G207 km 30)
    for k in ("CALL-002", "CALL-008"):
        assert abs(f.loc[k].geometry.x - 116.04733) < 2e-5
        assert abs(f.loc[k].geometry.y - 43.673421) < 2e-5
    assert f.loc["CALL-002"]["attributes"]["original"] == {
        "lon": 116.054128,
        "lat": 43.675742,
        "datum": "gcj02",
    }
    assert f.loc["CALL-003"]["road_code"] == "Y001" and f.loc["CALL-003"]["km"] == 20.0
    assert f.loc["CALL-004"]["place"] == "阿巴嘎旗"
    c1 = f.loc["CALL-001"]["attributes"]
    assert c1["phone_masked"] == "138****8000" and "13800138000" not in str(c1)
    assert c1["needs"] == ["fuel", "heat"] and c1["people"] == 7 and c1["vulnerable"] == 1
    assert f.loc["CALL-003"]["attributes"]["vehicle_class"] == "passenger_coach"
    rs = reasons(r)
    assert any("(0, 0)" in x for x in rs)
    assert any("'not a time'" in x for x in rs)
    assert any("swapped" in x for x in rs)
    assert any("no location" in x for x in rs)
    assert any("K9999+000" in x for x in rs)
    # phones are masked in quarantine records too (CALL-005's caller is 15000000003)
    assert any("150****0003" in q.record for q in r.quarantine)
    assert not any("15000000" in q.record for q in r.quarantine)


def test_calls_without_region_quarantine_stakes_and_places() -> None:
    r = parse_calls(fx("calls_en.csv"), "c.csv", None, now=NOW)
    rs = reasons(r)
    assert any(x.startswith("no region loaded to resolve the kilometre post") for x in rs)
    assert any(x.startswith("no region loaded to resolve the place name") for x in rs)


@pytest.mark.parametrize("name", ["calls_gbk.csv", "calls_bom.csv"])
def test_calls_chinese_headers_and_encodings(name: str, region) -> None:  # type: ignore[no-untyped-def]
    r = parse_calls(fx(name), name, region, now=NOW)
    assert len(r.frame) == 3 and len(r.quarantine) == 1
    first = r.frame.iloc[0]
    assert first["attributes"]["notes"] == "车辆被困，有老人"
    assert first["attributes"]["vehicle_class"] == "car"
    assert first["attributes"]["needs"] == ["fuel", "heat"]
    assert r.frame.iloc[1]["road_code"] == "G331"
    assert r.frame.iloc[2]["attributes"]["needs"] == ["food", "medical"]
    assert "out of range" in r.quarantine[0].reason


def test_calls_encoding_detection_never_latin1() -> None:
    text, enc = decode_calls(fx("calls_gbk.csv"))
    assert enc == "gb18030" and "来电时间" in text
    with pytest.raises(ParseError):
        decode_calls(bytes(range(128, 256)) * 3)


def test_calls_json_and_mapping(tmp_path: Path) -> None:
    r = parse_calls(fx("calls.json"), "c.json", None, now=NOW)
    assert list(r.frame["natural_key"]) == ["J-1"]
    assert r.frame.iloc[0]["attributes"]["phone_masked"] == "138****8000"
    assert len(r.quarantine) == 3  # place without region, no id, not an object
    with pytest.raises(ParseError, match="mapping file"):
        parse_calls(fx("calls_other.csv"), "o.csv")
    m = load_mapping(FIX / "calls_mapping.toml")
    r2 = parse_calls(fx("calls_other.csv"), "o.csv", mapping=m, now=NOW)
    assert list(r2.frame["natural_key"]) == ["BJ-1"]
    assert r2.frame.iloc[0]["attributes"]["original"]["datum"] == "gcj02"
    assert r2.frame.iloc[0]["attributes"]["people"] == 9
    bad = tmp_path / "m.json"
    bad.write_text('{"columns": {"x": "nonsense"}}')
    with pytest.raises(ConfigError, match="nonsense"):
        load_mapping(bad)


# ------------------------------------------------------------------------------------ waze


def test_waze_feed() -> None:
    r = parse_waze(fx("waze.json"), "w.json", now=NOW)
    assert list(r.frame["natural_key"]) == ["w-1", "w-2"]
    assert r.frame.iloc[0]["attributes"]["category"] == "weather"
    assert r.frame.iloc[1]["attributes"]["category"] == "stranded"
    assert r.frame.iloc[0]["confidence"] == pytest.approx(0.7)
    assert r.frame.iloc[0]["observed_at"] == datetime(2025, 12, 14, 2, 0, tzinfo=UTC)
    assert len(r.quarantine) == 3


# ------------------------------------------------------------------------------ validation


def test_time_rules() -> None:
    t, flags = parse_time("2025-12-14 08:00:00", lenient=True, now=NOW)
    assert t == datetime(2025, 12, 14, 0, 0, tzinfo=UTC) and flags == []
    _, flags = parse_time("2030-01-01T00:00:00Z", now=NOW)
    assert flags == ["future_time"]
    with pytest.raises(RecordError):
        parse_time("2025-12-14 08:00:00")  # strict ISO wants the T
    with pytest.raises(RecordError):
        parse_time("14/12/2025", lenient=True)


def test_swapped_and_outside_region_flags(region) -> None:  # type: ignore[no-untyped-def]
    assert check_lonlat(116.0, 43.9, region) == []
    assert check_lonlat(2.35, 48.85, region) == ["outside_region"]

    # a swap that stays in range: flagged, not fixed
    class Box:
        bounds = Point(10, 40).buffer(5)

    assert check_lonlat(40.0, 10.0, Box()) == ["outside_region", "possible_swapped_lat_lon"]


def test_mask_phone() -> None:
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("110") == "***"
    assert mask_phone(None) is None


def test_calls_keep_the_call_centres_event_type() -> None:
    """The call centre's own classification (事件类型) is kept for fusion to use."""
    csv = (
        "来电编号,来电时间,经度,纬度,车辆数,人数,事件类型,备注\n"
        "E-1,2025-12-13 22:10,119.06,48.21,1,1,车辆侧滑出路,半挂车\n"
        "E-2,2025-12-13 22:15,119.06,48.21,3,5,,\n"
    ).encode("gb18030")
    r = parse_calls(csv, "e.csv", None, now=NOW)
    attrs = {row["natural_key"]: row["attributes"] for _, row in r.frame.iterrows()}
    assert attrs["E-1"]["event_type"] == "车辆侧滑出路"
    assert attrs["E-2"]["event_type"] is None
