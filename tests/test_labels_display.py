"""Incident titles, hotspot reasons and codes are worded in the interface language (issue 12).

The stored title and reason are English text made at fusion time; the pages derive their own
wording from the facts the rows keep. Fused on SQLite and PostGIS from real reports.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from sqlalchemy import select

from dashboard.wording import (
    admin_names,
    audit_action,
    code_list,
    hotspot_reason,
    hotspot_reasons,
    incident_title,
    incident_titles,
    reason_words,
    zoned,
)
from incidents.fusion import current_hotspots, fuse
from incidents.fusion.labels import hotspot_reason_parts, title_parts
from incidents.store.engine import session_scope
from incidents.store.models import Incident
from tests.fusion_region import NOW, at, report, tiny_region

# Latin words of three letters or more, other than road codes, stakes and "Gi*"
ENGLISH_WORD = re.compile(r"(?<![A-Z0-9+])[A-Za-z]{3,}")


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    return tiny_region(tmp_path_factory.mktemp("region"))


def _call(point, minutes_ago, vehicles, people=0):
    attrs = {"vehicles": vehicles, "people": people, "vulnerable": 0,
             "location_method": "coordinates"}
    return report("call", "stranded_vehicle", point, minutes_ago, attributes=attrs)


def test_title_parts_leave_out_a_place_without_km():
    assert title_parts("crash", "G110", None, None, float("nan")) == {
        "kind": "crash", "road": None, "km": None, "vehicles": 0, "people": 0,
    }
    assert title_parts("stranded", "S211", 12.5, 3.0, 7)["km"] == 12.5


def test_incident_title_in_both_languages():
    row = {"kind": "stranded", "road_code": "G331", "km": 1520.3, "vehicles": 3, "people": 12}
    assert incident_title(row, "zh") == "车辆被困，G331 K1520+300（3 辆车、12 人）"
    assert incident_title(row, "en") == "Stranded on G331 K1520+300 (3 vehicles, 12 people)"
    assert incident_title(row, "zh", counts=False) == "车辆被困，G331 K1520+300"
    one = {"kind": "crash", "road_code": None, "km": None, "vehicles": 1, "people": 0}
    assert incident_title(one, "en") == "Crash (1 vehicle)"


def test_hotspot_reason_from_its_facts():
    parts = hotspot_reason_parts("black_ice", "G999 K2+000-K5+000", None, [4, 5, 6], 3.14)
    assert parts == {"kind": "black_ice", "stretch": "G999 K2+000-K5+000", "admin": None,
                     "reports": 3, "z": 3.14}
    row = {"condition": "black_ice", "road": "G999 K2+000-K5+000", "admin_name": "Abag",
           "report_ids": [4, 5, 6], "z": 3.14}
    assert hotspot_reason(row, "zh") == "暗冰：G999 K2+000-K5+000（Abag），3 条报告；Gi* z=3.1"
    assert hotspot_reason(row, "en") == (
        "black ice on G999 K2+000-K5+000 (Abag): 3 reports; Gi* z=3.1"
    )


def test_codes_as_words():
    assert code_list(["patrol_car", "traffic_control"], "zh") == "巡逻车、交通管制"
    assert code_list(["rescue", "unknown_code"], "en") == "rescue, unknown_code"
    assert audit_action("assignment.override", "zh") == "改派车辆"
    assert audit_action("no.such.action", "en") == "no.such.action"
    assert zoned("首报", "zh") == "首报（北京时间）" and zoned("First", "en") == "First (UTC+8)"
    en = "CF-HXG-PC03 (patrol_car, traffic_control) reaches task 108 [crash] in 48 min"
    assert reason_words(en, "en").startswith("CF-HXG-PC03 (patrol car, traffic control) reaches")


def test_fused_titles_and_hotspots_worded_in_chinese(session_factory, settings, region):
    """Real fusion: stranded callers and drone ice; no English word left in the Chinese text."""
    with session_scope(session_factory) as s:
        for i, km in enumerate((5.0, 5.2, 5.4, 5.1)):
            s.add(_call(at(region, "Y001", km), 600 - 10 * i, 3, 8))
        for km in (2.5, 3.5, 4.5):
            s.add(report("drone_detection", "black_ice", at(region, "G999", km), 20,
                         confidence=0.9))
    with session_scope(session_factory) as s:
        fuse(s, region, settings, NOW)
    with session_scope(session_factory) as s:
        rows = [
            {"kind": i.kind, "road_code": i.road_code, "km": i.km, "vehicles": i.vehicles,
             "people": i.people, "title": i.title}
            for i in s.scalars(select(Incident).order_by(Incident.id))
        ]
        spots = current_hotspots(s, region, settings, NOW)
    assert rows and len(spots) >= 1
    frame = pd.DataFrame(rows)
    zh = incident_titles(frame, "zh")
    en = incident_titles(frame, "en")
    for stored, title_zh, title_en in zip(frame["title"], zh, en, strict=True):
        assert title_zh.startswith("车辆被困") and not ENGLISH_WORD.search(title_zh), title_zh
        assert "Y001" in stored and "Y001" in title_zh and "Y001" in title_en
    reasons_zh = hotspot_reasons(spots, "zh", admin_names(region.gazetteer.places))
    for text, stored in zip(reasons_zh, spots["reason"], strict=True):
        assert not ENGLISH_WORD.search(text.replace("Gi* z", "")), text
        assert stored.split(" on ")[1].split(":")[0].split(" (")[0] in text  # same stretch
    assert any("暗冰" in r for r in reasons_zh) or any("车辆被困" in r for r in reasons_zh)
