"""Exports validated against the official artefacts kept under ``tests/schemas/``.

WZDx 4.2 (JSON Schema), OASIS CAP 1.2 (XSD), NENA EIDO (the OpenAPI schema of NENA-STA-024.1),
GeoJSON (the geojson.org schema plus RFC 7946's own rules: no ``crs`` member, lon/lat order,
right-hand-rule polygon rings), GeoPackage (OGC 12-128: application id, user_version, required
tables) and formula-safe CSV read back by a real CSV reader. Run on the demo (storm loaded) and
on a small hand-made database on SQLite and PostGIS. Where the source is and what was changed
in the copies: ``tests/schemas/README.md``.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from lxml import etree
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from shapely.geometry import LineString, Point, Polygon, shape
from sqlalchemy.orm import Session, sessionmaker

from incidents.exports import (
    CSV_DANGEROUS,
    LAYERS,
    cap_notice,
    csv_layer,
    eido_documents,
    geojson_layer,
    render,
    write_gpkg,
    wzdx_feed,
)
from incidents.settings import Settings
from incidents.store.engine import make_engine, session_factory, session_scope
from incidents.store.models import Hazard, Incident, Report

SCHEMAS = Path(__file__).parent / "schemas"
NOW = datetime(2025, 12, 14, 3, 0, tzinfo=UTC)
GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

# ------------------------------------------------------------------------------------------
# Validators
# ------------------------------------------------------------------------------------------

FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """RFC 3339 date-time (jsonschema checks it only with an optional extra installed)."""
    if not isinstance(value, str):
        return True
    if not RFC3339.match(value):
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def _json(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def _wzdx_validator() -> jsonschema.Draft7Validator:
    """WorkZoneFeed.json with its $refs (the files say ``main`` or ``release/v4.2``)."""
    resources = []
    for path in sorted((SCHEMAS / "wzdx" / "4.2").glob("*.json")):
        doc = _json(path)
        for branch in ("main", "release/v4.2"):
            uri = f"https://raw.githubusercontent.com/usdot-jpo-ode/wzdx/{branch}/schemas/4.2/{path.name}"
            resources.append((uri, DRAFT7.create_resource({**doc, "$id": uri})))
    for path in sorted((SCHEMAS / "geojson").glob("*.json")):
        doc = _json(path)
        resources.append((doc["$id"], Resource.from_contents(doc)))
    registry: Registry[Any] = Registry().with_resources(resources)
    feed = _json(SCHEMAS / "wzdx" / "4.2" / "WorkZoneFeed.json")
    return jsonschema.Draft7Validator(feed, registry=registry, format_checker=FORMATS)


def _eido_validator() -> jsonschema.Draft7Validator:
    """EmergencyIncidentDataObjectType from the NENA OpenAPI document."""
    api = yaml.safe_load((SCHEMAS / "eido" / "openapi.yaml").read_text(encoding="utf-8"))
    api = copy.deepcopy(api)
    agent = api["components"]["schemas"]["AgentType"]["allOf"][1]["properties"]
    assert agent["agentRoleRegistryText"]["minItems"] == "1,"  # the source's typo, see README
    agent["agentRoleRegistryText"]["minItems"] = 1
    schema = {"$ref": "#/components/schemas/EmergencyIncidentDataObjectType", **api}
    return jsonschema.Draft7Validator(schema, format_checker=FORMATS)


def _cap_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "cap" / "CAP-v1.2.xsd")))


def _messages(errors: Iterator[jsonschema.ValidationError]) -> list[str]:
    out = []
    for e in errors:
        where = "/".join(str(p) for p in e.absolute_path)
        detail = "; ".join(c.message for c in (e.context or [])[:4])
        out.append(f"{where}: {e.message[:300]}" + (f" [{detail[:300]}]" if detail else ""))
    return out


def _as_json(doc: Any) -> Any:
    """`doc` as a JSON reader sees it (tuples become arrays; non-JSON values fail here)."""
    return json.loads(json.dumps(doc, ensure_ascii=False, allow_nan=False))


def wzdx_errors(feed: dict[str, Any]) -> list[str]:
    """Every WZDx 4.2 schema error of `feed` as JSON text (empty when it validates)."""
    return _messages(_wzdx_validator().iter_errors(_as_json(feed)))


def eido_errors(doc: dict[str, Any]) -> list[str]:
    """Every NENA EIDO schema error of `doc` as JSON text."""
    return _messages(_eido_validator().iter_errors(_as_json(doc)))


def cap_errors(xml: bytes) -> list[str]:
    """Every CAP 1.2 XSD error of `xml`, plus CAP's rules on polygons (section 3.2.4)."""
    schema = _cap_schema()
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    errors = [] if schema.validate(root) else [str(e) for e in schema.error_log]
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    for poly in root.iterfind(".//cap:area/cap:polygon", ns):
        pairs = [p.split(",") for p in (poly.text or "").split()]
        if len(pairs) < 4 or pairs[0] != pairs[-1]:
            errors.append(f"polygon not closed or under 4 points: {poly.text!r}")
        for lat, lon in ((float(a), float(b)) for a, b in pairs):
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                errors.append(f"polygon point out of range: {lat},{lon}")
    return errors


def _rings(geom: dict[str, Any]) -> Iterator[tuple[bool, list[list[float]]]]:
    """(is exterior, ring) for every polygon ring of a GeoJSON geometry."""
    if geom["type"] == "Polygon":
        polys = [geom["coordinates"]]
    elif geom["type"] == "MultiPolygon":
        polys = geom["coordinates"]
    elif geom["type"] == "GeometryCollection":
        for g in geom["geometries"]:
            yield from _rings(g)
        return
    else:
        return
    for rings in polys:
        for i, ring in enumerate(rings):
            yield i == 0, ring


def _positions(x: Any) -> Iterator[list[float]]:
    if isinstance(x, list) and x and isinstance(x[0], int | float):
        yield x
    elif isinstance(x, list):
        for y in x:
            yield from _positions(y)


def _signed_area(ring: list[list[float]]) -> float:
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:], strict=False)) / 2


def geojson_errors(doc: dict[str, Any], bounds: tuple[float, float, float, float]) -> list[str]:
    """GeoJSON schema errors and RFC 7946 violations.

    `bounds` (min lon, min lat, max lon, max lat) is where the data must lie: a swapped
    lat/lon pair falls outside it.
    """
    schema = _json(SCHEMAS / "geojson" / "FeatureCollection.json")
    doc = _as_json(doc)
    errors = _messages(jsonschema.Draft7Validator(schema).iter_errors(doc))
    text = json.dumps(doc)
    if '"crs"' in text:
        errors.append("a crs member (RFC 7946 section 4 removed it)")
    for i, f in enumerate(doc.get("features", [])):
        geom = f.get("geometry")
        if geom is None:
            continue
        for pos in _positions(geom.get("coordinates", geom.get("geometries"))):
            lon, lat = pos[0], pos[1]
            if not (bounds[0] <= lon <= bounds[2] and bounds[1] <= lat <= bounds[3]):
                errors.append(f"feature {i}: position {pos} outside lon/lat {bounds}")
        for exterior, ring in _rings(geom):
            area = _signed_area(ring)
            if ring[0] != ring[-1]:
                errors.append(f"feature {i}: ring not closed")
            if exterior and area <= 0:
                errors.append(f"feature {i}: exterior ring clockwise (RFC 7946 3.1.6)")
            if not exterior and area >= 0:
                errors.append(f"feature {i}: hole counter-clockwise (RFC 7946 3.1.6)")
    return errors


def gpkg_errors(path: Path, layers: set[str]) -> list[str]:
    """OGC GeoPackage 1.2+ requirements a reader relies on (application id, tables, SRS)."""
    errors: list[str] = []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        if app_id != GPKG_APPLICATION_ID:
            errors.append(f"application_id {app_id:#x}, expected 0x47504b47 ('GPKG')")
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version < 10200:
            errors.append(f"user_version {version} is before GeoPackage 1.2 (10200)")
        if con.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            errors.append("integrity_check failed")
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for req in ("gpkg_spatial_ref_sys", "gpkg_contents", "gpkg_geometry_columns"):
            if req not in tables:
                errors.append(f"required table {req} missing")
        if errors:
            return errors
        srs = {r[0] for r in con.execute("SELECT srs_id FROM gpkg_spatial_ref_sys")}
        if not {-1, 0, 4326} <= srs:
            errors.append(f"gpkg_spatial_ref_sys lacks one of -1, 0, 4326: {sorted(srs)}")
        contents = {
            r[0]: (r[1], r[2])
            for r in con.execute("SELECT table_name, data_type, srs_id FROM gpkg_contents")
        }
        if set(contents) != layers:
            errors.append(f"gpkg_contents lists {sorted(contents)}, expected {sorted(layers)}")
        for name, (data_type, srs_id) in contents.items():
            if data_type != "features" or srs_id != 4326:
                errors.append(f"{name}: data_type {data_type!r}, srs_id {srs_id}")
            if name not in tables:
                errors.append(f"{name} is in gpkg_contents but has no table")
        geom_cols = {r[0]: r[1] for r in con.execute(
            "SELECT table_name, srs_id FROM gpkg_geometry_columns")}
        for name in contents:
            if geom_cols.get(name) != 4326:
                errors.append(f"{name}: gpkg_geometry_columns srs_id {geom_cols.get(name)}")
    finally:
        con.close()
    return errors


def csv_formula_cells(text: str) -> list[tuple[int, str, str]]:
    """(row, column, cell) of every cell a spreadsheet would evaluate as a formula."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = rows[0]
    return [
        (r, header[c], cell)
        for r, row in enumerate(rows[1:], start=1)
        for c, cell in enumerate(row)
        if cell.startswith(CSV_DANGEROUS)
    ]


# ------------------------------------------------------------------------------------------
# Data: the demo, and a small hand-made database on both backends
# ------------------------------------------------------------------------------------------

REGION = (105.0, 40.0, 127.0, 54.0)  # lon/lat box around Hulunbuir, Chifeng and Xilingol
EVIL = ["=1+2", "+86 138", "-2+3", "@SUM(A1)", "\t=cmd", "\r=cmd", '=HYPERLINK("x")']


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    """The demo (region, users, storm) in a SQLite file, loaded once for this module."""
    from incidents.replay.demo import load_demo

    tmp = tmp_path_factory.mktemp("demo")
    settings = replace(
        Settings.from_env({}), database_url=f"sqlite:///{tmp / 'demo.db'}", var_dir=tmp / "var"
    )
    engine = make_engine(settings.database_url)
    load_demo(engine, settings)
    return session_factory(engine)


@pytest.fixture
def edge(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Edge cases: a hazard area stored clockwise with a hole, a point hazard, hostile text."""
    shell = [(116.0, 43.9), (116.0, 44.0), (116.1, 44.0), (116.1, 43.9)]  # clockwise
    hole = [(116.02, 43.92), (116.08, 43.92), (116.08, 43.98), (116.02, 43.98)]  # ccw
    with session_scope(session_factory) as s:
        for i, geom in enumerate(
            [Polygon(shell, [hole]), Point(116.5, 43.5), LineString([(117, 44), (117.01, 44)])]
        ):
            s.add(
                Hazard(
                    segment_id=f"S{i}",
                    condition=["drifting_snow", "closed", "black_ice"][i],
                    geometry=geom,
                    road_code="G207" if i else None,
                    km=None if i == 0 else 3.5,
                    first_seen=NOW - timedelta(hours=1),
                    last_seen=NOW,
                    reason=EVIL[i],
                )
            )
        rep = Report(
            kind="call",
            natural_key="C1",
            source="calls.csv",
            observed_at=NOW - timedelta(minutes=5),
            geometry=Point(116.2, 43.95),
            attributes={"phone_masked": "138****0000", "people": 3, "notes": EVIL[0]},
        )
        s.add(rep)
        s.flush()
        for i, evil in enumerate(EVIL):
            s.add(
                Incident(
                    kind="stranded",
                    title=evil,
                    notes=evil,
                    geometry=Point(116.2 + i / 100, 43.95),
                    first_report_at=NOW - timedelta(minutes=5),
                    last_report_at=NOW,
                    report_ids=[rep.id],
                    people=3,
                )
            )
    return session_factory


# ------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------


def test_the_validators_catch_known_violations() -> None:
    """Each validator rejects a document with a violation its standard names."""
    feed = {"feed_info": {"update_date": "2025-12-14", "version": "4.2", "publisher": "x",
                          "data_sources": []}, "type": "FeatureCollection", "features": []}
    assert any("update_date" in e for e in wzdx_errors(feed))
    assert any("data_sources" in e for e in wzdx_errors(feed))
    assert any("eidoVersion" in e for e in eido_errors({"$id": "x"}))
    bad_cap = b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>'
    assert cap_errors(bad_cap)
    cw = {"type": "Polygon", "coordinates": [[[116, 43], [116, 44], [117, 44], [116, 43]]]}
    fc = {"type": "FeatureCollection", "crs": {},
          "features": [{"type": "Feature", "properties": {}, "geometry": cw}]}
    errs = geojson_errors(fc, REGION)
    assert any("crs" in e for e in errs) and any("clockwise" in e for e in errs)
    swapped = {"type": "Point", "coordinates": [44.0, 116.0]}
    fc = {"type": "FeatureCollection",
          "features": [{"type": "Feature", "properties": {}, "geometry": swapped}]}
    assert any("outside" in e for e in geojson_errors(fc, REGION))
    assert csv_formula_cells("a,b\n=1+1,x\n") == [(1, "a", "=1+1")]


def test_demo_wzdx_validates(demo: sessionmaker[Session]) -> None:
    with session_scope(demo) as s:
        feed = wzdx_feed(s)
        rendered = json.loads(render(s, "wzdx"))
    assert feed["features"], "the demo storm has open hazards"
    assert wzdx_errors(feed) == []
    assert wzdx_errors(rendered) == []
    assert geojson_errors({"type": "FeatureCollection", "features": feed["features"]},
                          REGION) == []


def test_demo_eido_validates(demo: sessionmaker[Session]) -> None:
    with session_scope(demo) as s:
        docs = json.loads(render(s, "eido"))
    assert docs, "the demo storm has open incidents"
    for doc in docs:
        assert eido_errors(doc) == [], doc["$id"]


def test_demo_cap_validates(demo: sessionmaker[Session]) -> None:
    with session_scope(demo) as s:
        xml = render(s, "cap")
    assert b"<area>" in xml
    assert cap_errors(xml) == []


@pytest.mark.parametrize("layer", LAYERS)
def test_demo_geojson_is_rfc7946(demo: sessionmaker[Session], layer: str) -> None:
    with session_scope(demo) as s:
        fc = json.loads(render(s, "geojson", layer))
    assert geojson_errors(fc, REGION) == []


def test_demo_gpkg_is_a_geopackage(demo: sessionmaker[Session], tmp_path: Path) -> None:
    with session_scope(demo) as s:
        counts = write_gpkg(s, tmp_path / "demo.gpkg")
    assert gpkg_errors(tmp_path / "demo.gpkg", set(LAYERS)) == []
    assert counts["units"] > 0 and counts["hazards"] > 0


def test_edge_cases_validate(edge: sessionmaker[Session], tmp_path: Path) -> None:
    """Polygons, holes, a point hazard and hostile text on SQLite and PostGIS."""
    with session_scope(edge) as s:
        feed = wzdx_feed(s, now=NOW)
        docs = eido_documents(s, now=NOW)
        xml = cap_notice(s, now=NOW)
        hazards = geojson_layer(s, "hazards")
        write_gpkg(s, tmp_path / "edge.gpkg")
    assert wzdx_errors(feed) == []
    assert {f["geometry"]["type"] for f in feed["features"]} <= {"LineString", "MultiPoint"}
    assert len(feed["features"]) == 3
    assert docs and all(eido_errors(d) == [] for d in docs)
    assert cap_errors(xml) == []
    assert geojson_errors(hazards, REGION) == []
    area = next(f for f in hazards["features"] if f["geometry"]["type"] == "Polygon")
    assert shape(area["geometry"]).area == pytest.approx(Polygon(
        [(116.0, 43.9), (116.0, 44.0), (116.1, 44.0), (116.1, 43.9)],
        [[(116.02, 43.92), (116.08, 43.92), (116.08, 43.98), (116.02, 43.98)]]).area)
    assert gpkg_errors(tmp_path / "edge.gpkg", set(LAYERS)) == []


def test_empty_database_exports_validate(session_factory: sessionmaker[Session],
                                         tmp_path: Path) -> None:
    """Nothing open: every format still renders a valid, empty document."""
    with session_scope(session_factory) as s:
        feed = wzdx_feed(s, now=NOW)
        xml = cap_notice(s, now=NOW)
        gpkg = render(s, "gpkg")
        fc = geojson_layer(s, "incidents")
    assert wzdx_errors(feed) == [] and feed["features"] == []
    assert cap_errors(xml) == []
    assert geojson_errors(fc, REGION) == []
    (tmp_path / "empty.gpkg").write_bytes(gpkg)
    assert gpkg_errors(tmp_path / "empty.gpkg", set(LAYERS)) == []


@pytest.mark.parametrize("layer", ["incidents", "hazards"])
def test_csv_opens_as_text(edge: sessionmaker[Session], tmp_path: Path, layer: str) -> None:
    """Written to a file and read back with a CSV reader: no cell would run as a formula,
    and every hostile text is still there, as text, after the ``'``."""
    with session_scope(edge) as s:
        text = csv_layer(s, layer)
    path = tmp_path / f"{layer}.csv"
    path.write_bytes(text.encode("utf-8"))
    with path.open(encoding="utf-8", newline="") as f:  # as the csv module reads a file
        back = f.read()
    assert csv_formula_cells(back) == []
    # a reader that splits records at any line break (as some spreadsheets do) sees the same
    assert csv_formula_cells(path.read_text(encoding="utf-8")) == []
    cells = {cell for row in csv.reader(io.StringIO(back, newline="")) for cell in row}
    column = "notes" if layer == "incidents" else "reason"
    expected = EVIL if layer == "incidents" else EVIL[:3]
    for evil in expected:
        assert "'" + evil in cells, (column, evil)
