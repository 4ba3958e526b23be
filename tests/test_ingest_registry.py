"""One registry line per source: parser, classifier, reliability, half-life, labels, command.

Issue 11: knowledge of each feed was spread over about ten files (Waze classified twice with
different rules, kind lists three times). Now :mod:`ingest.registry` says it once and fusion,
the CLI and the Waze parser's ``category`` read it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from incidents.cli.app import app
from incidents.fusion.conditions import kinds
from incidents.settings import Settings
from incidents.store.enums import Condition
from ingest.records import ROAD_CONDITIONS
from ingest.registry import EVIDENCE, FEEDS, KINDS, SOURCES, classify, evidence_of
from ingest.waze import parse_waze, waze_category, waze_means

FIX = Path(__file__).resolve().parent / "fixtures" / "ingest"
WAZE_TYPES = [
    ("WEATHERHAZARD", "HAZARD_WEATHER_SNOW"),
    ("WEATHERHAZARD", "HAZARD_WEATHER_FOG"),
    ("WEATHERHAZARD", "HAZARD_WEATHER_FREEZING_RAIN"),
    ("WEATHERHAZARD", "HAZARD_WEATHER_HEAVY_SNOW"),
    ("WEATHERHAZARD", ""),
    ("HAZARD", "HAZARD_ON_ROAD_ICE"),
    ("HAZARD", "HAZARD_ON_SHOULDER_CAR_STOPPED"),
    ("HAZARD", "HAZARD_ON_ROAD_CAR_STOPPED"),
    ("HAZARD", "HAZARD_ON_ROAD_POT_HOLE"),
    ("ACCIDENT", "ACCIDENT_MAJOR"),
    ("ROAD_CLOSED", "ROAD_CLOSED_HAZARD"),
    ("JAM", "JAM_HEAVY_TRAFFIC"),
]


def test_every_feed_has_a_parser_and_every_source_its_evidence() -> None:
    assert KINDS == tuple(f.name for f in SOURCES if f.parse is not None)
    assert set(EVIDENCE) == {"alert", "drone", "call", "waze", "patrol"}
    for source in SOURCES:
        for kind in source.report_kinds:
            if source.evidence is not None:
                assert evidence_of(kind) is source.evidence
                assert set(source.evidence.labels) <= set(source.report_kinds)
                assert all(zh and en for zh, en in source.evidence.labels.values())
    # fusion reads the registry: no second list of reliabilities, half-lives or point kinds
    assert dict(kinds.SOURCE_RELIABILITY) == {n: e.reliability for n, e in EVIDENCE.items()}
    assert kinds.POINT_KINDS == ("drone_detection", "call", "waze", "patrol")
    assert set(kinds.half_lives(Settings.from_env({}))) == set(EVIDENCE)
    assert kinds.report_source("drone_track") == "drone" and kinds.report_source("call") == "call"


def test_road_conditions_are_the_store_conditions() -> None:
    assert ROAD_CONDITIONS == tuple(c.value for c in Condition)


@pytest.mark.parametrize(("typ", "sub"), WAZE_TYPES)
def test_waze_category_and_fusion_read_the_same_rules(typ: str, sub: str) -> None:
    means = classify("waze", sub, {"type": typ, "subtype": sub})
    assert means == waze_means(typ, sub)
    category = waze_category(typ, sub)
    if means.incident is not None:
        assert category == {"road_blocked": "closure", "crash": "crash"}.get(
            means.incident, "stranded"
        )
    else:
        assert category == ("weather" if means.condition else "other")


def test_parsed_waze_reports_say_what_fusion_reads() -> None:
    doc = json.loads((FIX / "waze.json").read_bytes())
    first = next(a for a in doc["alerts"] if a.get("location"))
    doc["alerts"] = [
        {**first, "uuid": f"u{i}", "type": typ, "subtype": sub}
        for i, (typ, sub) in enumerate(
            [
                ("WEATHERHAZARD", "HAZARD_WEATHER_SNOW"),
                ("HAZARD", "HAZARD_ON_SHOULDER_CAR_STOPPED"),
                ("ACCIDENT", "ACCIDENT_MAJOR"),
                ("ROAD_CLOSED", "ROAD_CLOSED_HAZARD"),
            ]
        )
    ]
    r = parse_waze(json.dumps(doc).encode(), "waze.json")
    assert not r.quarantine, r.quarantine
    assert list(a["category"] for a in r.frame["attributes"]) == [
        "weather",
        "stranded",
        "crash",
        "closure",
    ]
    said = [kinds.classify("waze", s, a) for s, a in zip(r.frame["subtype"], r.frame["attributes"])]
    assert [(c.condition, c.incident) for c in said] == [
        ("snow_packed", None),
        (None, "stranded"),
        (None, "crash"),
        ("closed", "road_blocked"),
    ]


def test_ingest_commands_come_from_the_registry() -> None:
    runner = CliRunner()
    listing = runner.invoke(app, ["ingest", "--help"], terminal_width=200)
    assert listing.exit_code == 0, listing.output
    for name, feed in FEEDS.items():
        assert name in listing.output
        page = runner.invoke(app, ["ingest", name, "--help"], terminal_width=200)
        assert page.exit_code == 0, page.output
        assert feed.description.split("(")[0].strip() in " ".join(page.output.split())
        for option in ("mapping", "zones"):
            assert (f"--{option}" in page.output) == (option in feed.options), (name, option)
    assert "patrol" not in KINDS, "a source without a parser gets no ingest command"


def test_settings_labels_and_scenarios_read_the_registry() -> None:
    """A new feed is one module plus one registry line: no second list to edit elsewhere."""
    from incidents.fusion.labels import SOURCE_LABEL
    from incidents.replay.scenario import FEED_KINDS
    from incidents.settings import Settings
    from ingest.registry import EVIDENCE, KINDS

    half_lives = Settings.from_env({}).half_life_hours
    for source, ev in EVIDENCE.items():
        assert half_lives[source] == ev.half_life_h
        for kind, (_zh, en) in ev.labels.items():
            assert SOURCE_LABEL[kind] == en
    assert tuple(FEED_KINDS) == tuple(KINDS)
