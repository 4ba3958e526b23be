"""Property tests: no input makes a parser raise anything but its own error type."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.errors import IngestError
from ingest.runner import parse_payload

FIX = Path(__file__).parent / "fixtures" / "ingest"
NOW = datetime(2025, 12, 14, tzinfo=UTC)
SEEDS = {
    "alerts": [(FIX / n).read_bytes() for n in ("cap_zh_blizzard.xml", "cap_wrapper.xml")],
    "drone": [(FIX / n).read_bytes() for n in ("detections.csv", "airdata_small.csv", "track.gpx")],
    "calls": [(FIX / n).read_bytes() for n in ("calls_en.csv", "calls_gbk.csv", "calls.json")],
    "waze": [(FIX / "waze.json").read_bytes()],
}


def props(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def only_own_errors(kind: str, data: bytes) -> None:
    try:
        result = parse_payload(kind, data, "fuzz", None, now=NOW)
    except IngestError:
        return
    for q in result.quarantine:
        assert q.reason and q.raw_sha256
    assert len(result.frame) >= 0


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> bytes:
    """A seed fixture with a slice replaced, cut short, or with bytes inserted."""
    seed = draw(st.sampled_from(SEEDS[kind]))
    i = draw(st.integers(0, len(seed)))
    j = draw(st.integers(i, min(len(seed), i + 40)))
    junk = draw(st.binary(max_size=20) | st.text(max_size=10).map(str.encode))
    return seed[:i] + junk + seed[j:]


def json_values() -> st.SearchStrategy[object]:
    leaf = (
        st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8)
    )
    return st.recursive(
        leaf,
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
        max_leaves=12,
    )


@props(200)
@given(st.binary(max_size=300))
def test_any_bytes(data: bytes) -> None:
    for kind in SEEDS:
        only_own_errors(kind, data)


@props(120)
@given(st.data())
def test_mutated_fixtures(data: st.DataObject) -> None:
    for kind in SEEDS:
        only_own_errors(kind, data.draw(mutated(kind)))


@props(60)
@given(json_values())
def test_arbitrary_json_records(value: object) -> None:
    docs = [
        {"alerts": [value]},
        {"calls": [value]},
        {"type": "FeatureCollection", "features": [value]},
        {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": value}]},
        {"alerts": [{"uuid": "u", "location": value, "pubMillis": value}]},
    ]
    for doc in docs:
        raw = json.dumps(doc).encode()
        for kind in SEEDS:
            only_own_errors(kind, raw)


@props(100)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=9))
def test_csv_rows_under_known_headers(cells: list[str]) -> None:
    row = ",".join(c.replace("\n", " ") for c in cells)
    headers = [
        "call_id,time,lon,lat,datum,stake,road_code,place,vehicles,people",
        "detection_id,flight_id,type,confidence,time,lon,lat,datum",
        "datetime(utc),latitude,longitude, height_above_takeoff(feet), speed(mph)",
    ]
    for h in headers:
        for kind in ("calls", "drone"):
            only_own_errors(kind, f"{h}\n{row}\n".encode())
