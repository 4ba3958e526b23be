"""DatabaseSink on SQLite and PostGIS: idempotent reports, CAP update/cancel/park, quarantine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from incidents.store.models import Alert, FeedStatus, Quarantine, RawPayload, Report
from incidents.store.sink import DatabaseSink, expire_alerts
from ingest.archive import archive_payload, read_payload
from ingest.records import ParseResult, QuarantineRow, report_frame
from ingest.runner import parse_payload, run_ingest

FIX = Path(__file__).parent / "fixtures" / "ingest"
NOW = datetime(2025, 12, 14, 4, 0, tzinfo=UTC)
REGION_DIR = Path(__file__).resolve().parents[1] / "data" / "region"


@pytest.fixture(scope="module")
def region():  # type: ignore[no-untyped-def]
    if not (REGION_DIR / "roads.geojson").exists():
        pytest.skip("data/region not present")
    from geo.region import load_region

    return load_region(REGION_DIR)


def count(factory: sessionmaker[Session], model: type) -> int:
    with factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def alerts_by_id(factory: sessionmaker[Session]) -> dict[str, Alert]:
    with factory() as s:
        return {a.identifier: a for a in s.scalars(select(Alert))}


def store_fixture(sink: DatabaseSink, name: str, region) -> object:  # type: ignore[no-untyped-def]
    result = parse_payload("alerts", (FIX / name).read_bytes(), name, region, now=NOW)
    return sink.store("alerts", result)


def test_reports_are_idempotent_and_keep_values(session_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sink = DatabaseSink(session_factory, now=NOW)
    s1 = run_ingest("drone", [str(FIX / "detections.csv")], sink, raw_dir=tmp_path / "raw", now=NOW)
    assert (s1.counts.accepted, s1.counts.duplicates, len(s1.quarantined)) == (2, 0, 4)
    s2 = run_ingest("drone", [str(FIX / "detections.csv")], sink, raw_dir=tmp_path / "raw", now=NOW)
    assert (s2.counts.accepted, s2.counts.duplicates) == (0, 2)
    assert count(session_factory, Report) == 2
    assert count(session_factory, Quarantine) == 4  # fingerprints: nothing twice
    assert count(session_factory, RawPayload) == 1
    with session_factory() as s:
        rep = s.scalars(select(Report).where(Report.natural_key == "XL-F0002:C1")).one()
        assert rep.kind == "drone_detection" and rep.subtype == "vehicle_in_ditch"
        assert rep.observed_at == datetime(2025, 12, 14, 2, 1, tzinfo=UTC)
        assert rep.geometry.x == pytest.approx(116.782809)
        assert rep.attributes["photo"] == "F0002/IMG_1.JPG"
        q = s.scalars(select(Quarantine)).first()
        assert q is not None and q.raw_sha256 is not None
        # the quarantine row points at the archived payload
        raw = read_payload(tmp_path / "raw", q.raw_sha256)
        assert raw == (FIX / "detections.csv").read_bytes()
        sidecar = (tmp_path / "raw" / q.raw_sha256[:2] / f"{q.raw_sha256}.json").read_text()
        assert "detections.csv" in sidecar


def test_cap_update_then_cancel(session_factory, region) -> None:  # type: ignore[no-untyped-def]
    sink = DatabaseSink(session_factory, now=NOW)
    c1 = store_fixture(sink, "cap_zh_blizzard.xml", region)
    assert c1.accepted == 1
    assert alerts_by_id(session_factory)["CN-XLGL-20251214-0001"].state == "actual"
    c2 = store_fixture(sink, "cap_zh_update.xml", region)
    assert (c2.accepted, c2.updated) == (1, 1)
    a = alerts_by_id(session_factory)
    old, new = a["CN-XLGL-20251214-0001"], a["CN-XLGL-20251214-0002"]
    assert old.state == "updated" and old.superseded_by_id == new.id
    assert new.state == "actual" and new.colour == "red" and new.report_id is not None
    c3 = store_fixture(sink, "cap_zh_cancel.xml", region)
    assert c3.cancelled == 1
    a = alerts_by_id(session_factory)
    assert a["CN-XLGL-20251214-0002"].state == "cancelled"
    # replaying the original alert after its update adds nothing and changes nothing
    c4 = store_fixture(sink, "cap_zh_blizzard.xml", region)
    assert (c4.accepted, c4.duplicates) == (0, 1)
    assert alerts_by_id(session_factory)["CN-XLGL-20251214-0001"].state == "updated"
    assert count(session_factory, Alert) == 3


def test_update_before_alert_is_parked(session_factory, region) -> None:  # type: ignore[no-untyped-def]
    sink = DatabaseSink(session_factory, now=NOW)
    store_fixture(sink, "cap_zh_cancel.xml", region)  # cancel of an update not seen yet
    store_fixture(sink, "cap_zh_update.xml", region)  # update of an alert not seen yet
    a = alerts_by_id(session_factory)
    assert a["CN-XLGL-20251214-0002"].state == "cancelled"
    c = store_fixture(sink, "cap_zh_blizzard.xml", region)
    assert c.updated == 1
    a = alerts_by_id(session_factory)
    assert a["CN-XLGL-20251214-0001"].state == "updated"
    assert a["CN-XLGL-20251214-0001"].superseded_by_id == a["CN-XLGL-20251214-0002"].id


def test_older_update_replayed_after_newer_is_ignored(session_factory, region) -> None:  # type: ignore[no-untyped-def]
    sink = DatabaseSink(session_factory, now=NOW)
    store_fixture(sink, "cap_zh_blizzard.xml", region)
    newer = (FIX / "cap_zh_update.xml").read_bytes()
    older = newer.replace(b"CN-XLGL-20251214-0002", b"CN-XLGL-20251214-0001b").replace(
        b"<sent>2025-12-14T14:00:00+08:00", b"<sent>2025-12-14T10:00:00+08:00"
    )
    sink.store("alerts", parse_payload("alerts", newer, "new", region, now=NOW))
    sink.store("alerts", parse_payload("alerts", older, "old", region, now=NOW))
    a = alerts_by_id(session_factory)
    assert a["CN-XLGL-20251214-0001"].superseded_by_id == a["CN-XLGL-20251214-0002"].id
    assert a["CN-XLGL-20251214-0001b"].state == "updated"
    assert a["CN-XLGL-20251214-0002"].state == "actual"


def test_not_live_and_expired_states(session_factory) -> None:  # type: ignore[no-untyped-def]
    sink = DatabaseSink(session_factory, now=datetime(2025, 12, 14, 12, 0, tzinfo=UTC))
    sink.store("alerts", parse_payload("alerts", (FIX / "cap_wrapper.xml").read_bytes(), "w"))
    a = alerts_by_id(session_factory)
    assert a["WRAP-1"].state == "actual"
    assert a["WRAP-2"].state == "not_live"
    with session_factory() as s:
        assert expire_alerts(s, datetime(2025, 12, 15, tzinfo=UTC)) == 1
        s.commit()
    assert alerts_by_id(session_factory)["WRAP-1"].state == "expired"


def test_feed_status_upsert(session_factory) -> None:  # type: ignore[no-untyped-def]
    sink = DatabaseSink(session_factory)
    t = datetime(2025, 12, 14, 1, tzinfo=UTC)
    sink.record_feed_status("cma", kind="alerts", source="http://x", interval_s=60, last_attempt=t)
    sink.record_feed_status("cma", last_success=t, etag='"abc"')
    with session_factory() as s:
        row = s.get(FeedStatus, "cma")
        assert row is not None
        assert (row.kind, row.interval_s, row.last_attempt, row.last_success, row.etag) == (
            "alerts",
            60,
            t,
            t,
            '"abc"',
        )
    assert sink.feed_state()["cma"]["etag"] == '"abc"'
    with pytest.raises(ValueError, match="bogus"):
        sink.record_feed_status("cma", bogus=1)


def test_payload_quarantine_and_raw(session_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sink = DatabaseSink(session_factory)
    meta = archive_payload(tmp_path, b"abc", feed="calls", source="s")
    sink.store_raw(meta)
    sink.store_raw(meta)
    assert count(session_factory, RawPayload) == 1
    row = QuarantineRow("calls", "s", "whole payload", "bad", meta.sha256)
    res = ParseResult(report_frame([]), [row, row])
    sink.store("calls", res)
    assert count(session_factory, Quarantine) == 1


def test_parked_update_with_underscore_identifier(session_factory, region) -> None:  # type: ignore[no-untyped-def]
    sink = DatabaseSink(session_factory, now=NOW)
    ident = b"CN_XLGL_2025_0001"
    alert = (FIX / "cap_zh_blizzard.xml").read_bytes().replace(b"CN-XLGL-20251214-0001", ident)
    upd = (FIX / "cap_zh_update.xml").read_bytes().replace(b"CN-XLGL-20251214-0001", ident)
    sink.store("alerts", parse_payload("alerts", upd, "u", region, now=NOW))
    c = sink.store("alerts", parse_payload("alerts", alert, "a", region, now=NOW))
    assert c.updated == 1
    assert alerts_by_id(session_factory)["CN_XLGL_2025_0001"].state == "updated"
