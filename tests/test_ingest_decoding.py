"""One text decoder for every feed: a stray byte is replaced and flagged, never a lost file.

Issue 11: a real AirData flight log with one 0xA0 in its free-text ``message`` cell was
refused whole ("text encoding cannot be determined"). The same bytes injected into the real
AirData export (../shared/realdata) and the 110-shaped GB18030 call export.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.avl import parse_avl
from ingest.calls import decode_calls, parse_calls
from ingest.decoding import STRAY_FLAG, decode_text, stray_allowed
from ingest.drone import parse_drone
from ingest.errors import ParseError

NOW = datetime(2025, 12, 15, tzinfo=UTC)
FIX = Path(__file__).resolve().parent / "fixtures"
REGION_DIR = Path(__file__).resolve().parents[1] / "data" / "region"


@pytest.fixture(scope="module")
def region():  # type: ignore[no-untyped-def]
    if not (REGION_DIR / "roads.geojson").exists():
        pytest.skip("data/region not present")
    from geo.region import load_region

    return load_region(REGION_DIR)


def _airdata(realdata: Path) -> bytes:
    return next((realdata / "drone" / "dji_airdata_csv").glob("*.csv")).read_bytes()


def _inject(data: bytes, line: int, where: str, byte: bytes = b"\xa0") -> bytes:
    """`byte` at the end of (line number) `line` (``where="end"``) or inside its 3rd cell."""
    lines = data.split(b"\n")
    row = lines[line - 1].rstrip(b"\r")
    if where == "end":
        lines[line - 1] = row + byte
    else:
        cells = row.split(b",")
        cells[2] = cells[2][:4] + byte + cells[2][4:]
        lines[line - 1] = b",".join(cells)
    return b"\n".join(lines)


def test_real_flight_log_with_a_stray_byte_in_a_text_cell_is_kept_and_flagged(
    realdata: Path,
) -> None:
    clean_bytes = _airdata(realdata)
    message_lines = [
        i + 1 for i, ln in enumerate(clean_bytes.split(b"\n")) if ln.rstrip(b"\r").endswith(b'"')
    ]
    line = message_lines[len(message_lines) // 2]
    dirty_bytes = _inject(clean_bytes, line, "end")
    with pytest.raises(UnicodeDecodeError):
        dirty_bytes.decode("utf-8")
    clean = parse_drone(clean_bytes, "a.csv", now=NOW).frame.iloc[0]
    result = parse_drone(dirty_bytes, "a.csv", now=NOW)
    assert not result.quarantine
    track = result.frame.iloc[0]
    assert STRAY_FLAG in track["flags"] and STRAY_FLAG not in clean["flags"]
    assert track["attributes"]["stray_bytes"] == 1
    assert track["attributes"]["stray_lines"] == [line]
    # the numeric columns decide: the same points, length and time as the clean log
    for key in ("points", "length_km", "dropped_points", "max_height_m", "ended_at"):
        assert track["attributes"][key] == clean["attributes"][key], key
    assert track["observed_at"] == clean["observed_at"]
    assert track.geometry.equals(clean.geometry)


def test_a_stray_byte_in_a_coordinate_drops_only_that_point(realdata: Path) -> None:
    clean_bytes = _airdata(realdata)
    clean = parse_drone(clean_bytes, "a.csv", now=NOW).frame.iloc[0]["attributes"]
    dirty = parse_drone(_inject(clean_bytes, 200, "cell"), "a.csv", now=NOW)  # in the latitude
    attrs = dirty.frame.iloc[0]["attributes"]
    assert attrs["dropped_points"] == clean["dropped_points"] + 1
    assert attrs["stray_lines"] == [200]
    assert attrs["points"] >= clean["points"] - 1


def test_many_stray_bytes_still_refuse_the_payload(realdata: Path) -> None:
    data = _airdata(realdata)
    too_many = stray_allowed(len(data)) + 1
    lines = data.split(b"\n")
    for i in range(1, too_many + 1):
        lines[i] = lines[i].rstrip(b"\r") + b"\xa0"
    with pytest.raises(ParseError, match="cannot be determined"):
        parse_drone(b"\n".join(lines), "a.csv", now=NOW)
    with pytest.raises(ParseError):
        decode_calls(bytes(range(128, 256)) * 300)  # binary, not text with a stray byte


def test_gb18030_call_export_with_a_stray_byte_keeps_every_call(region) -> None:  # type: ignore[no-untyped-def]
    data = (FIX / "calls_110_gb18030.csv").read_bytes()
    clean = parse_calls(data, "c.csv", region, now=NOW)
    lines = data.split(b"\n")
    target = next(i for i, ln in enumerate(lines) if b"JJ20251214000102" in ln)
    # a 0xA0 at the end of the 求助内容 free-text cell (before a comma: in GB18030 a stray
    # byte before another Chinese character would pair with it and go unseen)
    row = lines[target].rstrip(b"\r")
    cut = row.rfind(b",")
    lines[target] = row[:cut] + b"\xa0" + row[cut:]
    dirty = parse_calls(b"\n".join(lines), "c.csv", region, now=NOW)
    assert decode_text(b"\n".join(lines)).encoding == "gb18030"
    assert len(dirty.frame) == len(clean.frame)
    assert len(dirty.quarantine) == len(clean.quarantine)
    assert "JJ20251214000102" in set(clean.frame["natural_key"])
    flagged = dirty.frame[[STRAY_FLAG in f for f in dirty.frame["flags"]]]
    assert list(flagged["natural_key"]) == ["JJ20251214000102"]
    assert not any(STRAY_FLAG in f for f in clean.frame["flags"])


def test_calls_and_avl_use_the_same_decoder() -> None:
    gbk = (FIX / "ingest" / "calls_gbk.csv").read_bytes()
    assert decode_calls(gbk) == (decode_text(gbk).text, decode_text(gbk).encoding)
    fixes = "unit_id,time,lon,lat,备注\nXL-1,2025-12-14T08:00:00+08:00,115.1,43.9,巡逻\xa0".encode()
    fixes = fixes.replace("\xa0".encode(), b"\xa0")  # a bare 0xA0 byte, not UTF-8 C2 A0
    r = parse_avl(fixes, "avl.csv", None, now=NOW)
    assert len(r.frame) == 1 and not r.quarantine
