"""AVL, the fifth feed: CSV/JSON fixes, NMEA 0183 and GPX from trackers; quarantine; registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from incidents.store.engine import session_scope
from incidents.store.models import Report
from incidents.store.sink import DatabaseSink
from ingest.avl import avl_key, parse_avl
from ingest.errors import ConfigError, HostileXMLError, ParseError
from ingest.registry import FEEDS, KINDS, parse_payload, report_kinds
from ingest.runner import run_ingest

NOW = datetime(2025, 12, 14, 0, 0, tzinfo=UTC)


def nmea(body: str) -> str:
    """A sentence with its checksum (XOR of the body), written independently of the parser."""
    return f"${body}*{reduce(lambda a, c: a ^ ord(c), body, 0):02X}"


def test_csv_fixes_converted_kept_and_bad_rows_quarantined() -> None:
    gx, gy = wgs84_to_gcj02(116.5, 43.9)
    data = (
        "车辆编号,时间,经度,纬度,坐标系,油量,速度,航向\n"
        f"XL-PC1,2025-12-14 08:00:00,{gx:.7f},{gy:.7f},gcj02,62,48.5,90\n"
        "XL-PC1,2025-12-14 08:01:00,116.51,43.9,wgs84,0.6,,\n"
        ",2025-12-14 08:02:00,116.52,43.9,wgs84,,,\n"
        "XL-PC1,yesterday,116.53,43.9,wgs84,,,\n"
        "XL-PC1,2025-12-14 08:04:00,216.5,43.9,wgs84,,,\n"
        "XL-PC1,2025-12-14 08:05:00,116.5,43.9,mercator,,,\n"
        "XL-PC2,2025-12-14 08:06:00,116.6,44.0,,150,,\n"
    ).encode("gb18030")
    res = parse_avl(data, "fixes.csv", now=NOW)
    assert len(res.frame) == 3 and len(res.quarantine) == 4
    reasons = " | ".join(q.reason for q in res.quarantine)
    assert "no unit id" in reasons and "not ISO 8601" in reasons
    assert "out of range" in reasons and "unknown datum" in reasons
    assert [q.record.split(":")[0] for q in res.quarantine] == [
        "line 4",
        "line 5",
        "line 6",
        "line 7",
    ]
    first = res.frame.iloc[0]
    assert first["kind"] == "avl" and first["subtype"] == "position"
    # naive time = Asia/Shanghai; the key is unit + UTC second
    assert first["observed_at"] == datetime(2025, 12, 14, 0, 0, tzinfo=UTC)
    assert first["natural_key"] == "XL-PC1@2025-12-14T00:00:00+00:00"
    a = first["attributes"]
    assert a["unit_id"] == "XL-PC1" and a["datum"] == "gcj02" and a["fuel"] == pytest.approx(0.62)
    assert a["original"]["lon"] == pytest.approx(gx) and a["speed_kmh"] == 48.5
    assert first.geometry.x == pytest.approx(116.5, abs=1e-5)  # converted to WGS84
    assert first.geometry.y == pytest.approx(43.9, abs=1e-5)
    last = res.frame.iloc[2]
    assert last["attributes"]["fuel"] is None and "bad_fuel" in last["flags"]


def test_json_fixes_with_epoch_times_and_bd09() -> None:
    bx, by = wgs84_to_bd09(117.0, 44.2)
    doc = {
        "fixes": [
            {"unit_id": "XL-PL3", "time": 1765670400000, "lon": bx, "lat": by, "datum": "bd09"},
            {"unit_id": "XL-PL3", "time": "2025-12-14T08:10:00+08:00", "lon": 0, "lat": 0},
            "not an object",
        ]
    }
    res = parse_avl(json.dumps(doc).encode(), "https://avl.example/api/fixes.json", now=NOW)
    assert len(res.frame) == 1
    row = res.frame.iloc[0]
    assert row["observed_at"] == datetime(2025, 12, 14, 0, 0, tzinfo=UTC)
    assert row.geometry.x == pytest.approx(117.0, abs=1e-4)
    assert row["attributes"]["datum"] == "bd09" and row["attributes"]["format"] == "json"
    assert ["(0, 0)" in q.reason or "not an object" in q.reason for q in res.quarantine] == [
        True,
        True,
    ]
    with pytest.raises(ParseError, match="no list of fixes"):
        parse_avl(b'{"alerts": []}', "x.json")


def test_csv_without_position_columns_is_refused_by_name() -> None:
    with pytest.raises(ParseError, match="'lon'"):
        parse_avl(b"unit_id,time,lat\nU1,2025-12-14 04:00,44\n", "x.csv")
    # no unit column is fine when the unit is given
    res = parse_avl(b"time,lon,lat\n2025-12-14 04:00,116,44\n", "x.csv", unit_id="U7")
    assert res.frame.iloc[0]["attributes"]["unit_id"] == "U7"


def test_nmea_rmc_and_gga_make_one_fix_per_second_and_bad_sentences_are_quarantined() -> None:
    lines = [
        # the textbook pair (checksums 6A and 47 as published), 23 March 1994 12:35:19 UTC
        "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A",
        "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47",
        "$GPGSV,2,1,08,01,40,083,46,02,17,308,41,12,07,344,39,14,22,228,45*75",
        nmea("GNRMC,123529.50,A,4807.100,N,01131.100,E,10.0,90.0,230394,,,A"),
        nmea("GPRMC,123539,V,4807.200,N,01131.200,E,0.0,0.0,230394,,"),
        "$GPRMC,123549,A,4807.300,N,01131.300,E,0.0,0.0,230394,,*00",
        "$GPRMC,123559,A,4807.4",
        nmea("GPGGA,123609,4807.500,N,01131.500,E,0,00,,,M,,M,,"),
        "garbage line",
    ]
    res = parse_avl("\r\n".join(lines).encode(), "/var/trackers/XL-ABG-PC1.nmea", now=NOW)
    assert len(res.frame) == 2
    first = res.frame.iloc[0]
    assert first["natural_key"] == avl_key(
        "XL-ABG-PC1", datetime(1994, 3, 23, 12, 35, 19, tzinfo=UTC)
    )
    assert first.geometry.y == pytest.approx(48 + 7.038 / 60, abs=1e-9)
    assert first.geometry.x == pytest.approx(11 + 31.0 / 60, abs=1e-9)
    a = first["attributes"]
    assert a["speed_kmh"] == pytest.approx(22.4 * 1.852, abs=0.01) and a["heading_deg"] == 84.4
    assert a["altitude_m"] == 545.4 and a["satellites"] == 8  # merged from the GGA
    assert a["format"] == "nmea" and a["unit_id"] == "XL-ABG-PC1"
    assert res.frame.iloc[1]["observed_at"].microsecond == 500000
    reasons = [q.reason for q in res.quarantine]
    assert len(reasons) == 5
    assert any("status 'V'" in r for r in reasons)
    assert any("checksum mismatch" in r and "computed" in r for r in reasons)
    assert any("no checksum" in r for r in reasons)
    assert any("fix quality '0'" in r for r in reasons)
    assert any("not an NMEA sentence" in r for r in reasons)
    # the unit argument wins over the file name; GGA alone has no date
    only_gga = nmea("GPGGA,010203,4400.000,N,11600.000,E,1,05,1.0,1000,M,,M,,")
    res2 = parse_avl(only_gga.encode(), "log.txt", unit_id="U5")
    assert len(res2.frame) == 0 and "no date" in res2.quarantine[0].reason


def test_gpx_from_a_tracker(realdata: Path) -> None:
    gpx = realdata / "drone" / "gpx"
    speed = parse_avl(
        (gpx / "track_with_speed.gpx").read_bytes(), str(gpx / "track_with_speed.gpx")
    )
    assert len(speed.frame) == 3 and not speed.quarantine
    a = speed.frame.iloc[0]["attributes"]
    assert a["unit_id"] == "track_with_speed"  # no track name: the file name
    assert a["speed_kmh"] == pytest.approx(1.2 * 3.6) and a["format"] == "gpx"
    named = parse_avl((gpx / "gpx1.1_with_all_fields.gpx").read_bytes(), "x.gpx")
    assert named.frame.iloc[0]["attributes"]["unit_id"] == "example name t"  # the track name
    forced = parse_avl((gpx / "track_with_speed.gpx").read_bytes(), "x.gpx", unit_id="XL-PC9")
    assert set(forced.frame["natural_key"].str.split("@").str[0]) == {"XL-PC9"}
    untimed = parse_avl((gpx / "cerknicko-without-times.gpx").read_bytes(), "c.gpx")
    assert any("have no time" in q.reason for q in untimed.quarantine)
    old = parse_avl((gpx / "Mojstrovka.gpx").read_bytes(), "m.gpx")
    assert len(old.frame) == 0 and all("before 2000" in q.reason for q in old.quarantine)
    car = parse_avl((gpx / "around-visnjan-with-car.gpx").read_bytes(), "car.gpx")
    assert len(car.frame) > 50 and car.frame["natural_key"].is_unique


def test_hostile_gpx_is_refused() -> None:
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<gpx><trk><name>&x;</name></trk></gpx>"
    )
    with pytest.raises(HostileXMLError):
        parse_avl(evil, "evil.gpx")


def test_registry_names_every_feed_and_its_report_kinds() -> None:
    assert KINDS == ("alerts", "drone", "calls", "waze", "avl")
    assert report_kinds("avl") == ("avl",) and report_kinds("drone") == (
        "drone_detection",
        "drone_track",
    )
    assert all(f.description for f in FEEDS.values())
    data = nmea("GPRMC,000000,A,4400.000,N,11600.000,E,0.0,0.0,141225,,").encode()
    res = parse_payload("avl", data, "t.nmea", unit_id="XL-PC2")
    assert res.frame.iloc[0]["natural_key"] == "XL-PC2@2025-12-14T00:00:00+00:00"
    with pytest.raises(ConfigError, match="avl"):
        parse_payload("radar", b"", "x")


def test_ingest_avl_stores_reports_once(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    f = tmp_path / "fixes.csv"
    f.write_text(
        "unit_id,time,lon,lat\nU1,2025-12-14T08:00:00+08:00,116.1,44.0\nU1,bad,116.1,44.0\n",
        encoding="utf-8",
    )
    sink = DatabaseSink(session_factory, now=NOW)
    first = run_ingest("avl", [str(f)], sink, raw_dir=tmp_path / "raw")
    again = run_ingest("avl", [str(f)], sink, raw_dir=tmp_path / "raw")
    assert (first.counts.accepted, len(first.quarantined)) == (1, 1)
    assert (again.counts.accepted, again.counts.duplicates) == (0, 1)
    with session_scope(session_factory) as s:
        reports = s.scalars(select(Report).where(Report.kind == "avl")).all()
        assert [r.natural_key for r in reports] == ["U1@2025-12-14T00:00:00+00:00"]
        assert reports[0].attributes["unit_id"] == "U1"
