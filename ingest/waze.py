"""Waze for Cities partner feed (``alerts`` array): a pure parser of bytes.

Each alert: ``uuid`` (natural key), ``type`` (WEATHERHAZARD, HAZARD, ACCIDENT, ROAD_CLOSED,
JAM ...), ``subtype`` (HAZARD_WEATHER_SNOW, HAZARD_WEATHER_FOG, HAZARD_ON_ROAD_ICE,
HAZARD_ON_SHOULDER_CAR_STOPPED ...), ``location.x`` = lon and ``location.y`` = lat (WGS84),
``pubMillis`` epoch milliseconds, ``reliability`` 0..10 (confidence = reliability / 10),
``street``, ``city``, ``reportDescription``.

Report rows: kind ``waze``, subtype = ``subtype`` or ``type``; ``attributes``: type, subtype,
street, city, description, reliability, report_rating, category (``weather``, ``stranded``,
``crash``, ``closure`` or ``other``), read from :func:`waze_means`, the same rules fusion
classifies the report with (:func:`classify_waze`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ingest.errors import ParseError
from ingest.records import (
    Classified,
    ParseResult,
    QuarantineRow,
    excerpt,
    load_json,
    report_frame,
    sha256_hex,
)
from ingest.validate import Locator, RecordError, locate_coordinates, parse_epoch_ms

FEED = "waze"


def waze_means(typ: str, subtype: str) -> Classified:
    """Say what a Waze alert of this type and subtype means for the road (the one rule set).

    Road closed: closed and road_blocked; accident: crash; a stopped car: stranded; ice or
    freezing: black ice; fog or visibility: poor visibility; wind, blizzard or drift: drifting
    snow; snow, or any other weather hazard: snow-packed; anything else says nothing.
    """
    text = f"{typ} {subtype}".upper()
    if "ROAD_CLOSED" in text:
        return Classified("closed", "road_blocked")
    if "ACCIDENT" in text:
        return Classified(None, "crash")
    if "CAR_STOPPED" in text:
        return Classified(None, "stranded")
    for words, condition in _WEATHER:
        if any(w in text for w in words):
            return Classified(condition)
    if typ.upper() == "WEATHERHAZARD":
        return Classified("snow_packed")
    return Classified()


_WEATHER = (
    (("ICE", "FREEZING"), "black_ice"),
    (("FOG", "VISIBILITY"), "poor_visibility"),
    (("WIND", "BLIZZARD", "DRIFT"), "drifting_snow"),
    (("SNOW",), "snow_packed"),
)


def waze_category(typ: str, subtype: str) -> str:
    """Map a Waze type/subtype to weather, stranded, crash, closure or other (by `waze_means`)."""
    means = waze_means(typ, subtype)
    if means.incident is not None:
        return {"road_blocked": "closure", "crash": "crash", "stranded": "stranded"}.get(
            means.incident, "other"
        )
    return "weather" if means.condition is not None else "other"


def classify_waze(kind: str, subtype: str, attributes: Mapping[str, Any]) -> Classified:
    """Say what a stored Waze report means (its ``type`` and ``subtype`` attributes)."""
    typ = str(attributes.get("type") or "")
    return waze_means(typ, str(attributes.get("subtype") or "") or subtype)


def parse_waze(
    data: bytes, source: str, locator: Locator | None = None, *, now: datetime | None = None
) -> ParseResult:
    """Parse a Waze partner feed document.

    Raises
    ------
    ParseError
        The payload is not JSON or has no ``alerts`` list.
    """
    sha = sha256_hex(data)
    doc = load_json(data)
    alerts = doc.get("alerts") if isinstance(doc, dict) else doc
    if not isinstance(alerts, list):
        msg = f"{source!r}: no 'alerts' list (is this a Waze partner feed?)"
        raise ParseError(msg)
    rows: list[dict[str, Any]] = []
    quarantine: list[QuarantineRow] = []
    for i, a in enumerate(alerts):
        try:
            rows.append(_alert(a, source, sha, locator, now))
        except RecordError as e:
            text = json.dumps(a, ensure_ascii=False, default=str)
            quarantine.append(
                QuarantineRow(FEED, source, f"alert #{i + 1}: {excerpt(text, 160)}", str(e), sha)
            )
    return ParseResult(report_frame(rows), quarantine, None)


def _alert(
    a: Any, source: str, sha: str, locator: Locator | None, now: datetime | None
) -> dict[str, Any]:
    if not isinstance(a, dict):
        msg = "alert is not an object"
        raise RecordError(msg)
    uuid = str(a.get("uuid") or "").strip()
    if not uuid:
        msg = "alert has no uuid"
        raise RecordError(msg)
    loc = a.get("location")
    if not isinstance(loc, dict) or "x" not in loc or "y" not in loc:
        msg = "alert has no location.x / location.y"
        raise RecordError(msg)
    where = locate_coordinates(loc.get("x"), loc.get("y"), "wgs84", locator)
    when, tflags = parse_epoch_ms(a.get("pubMillis"), now=now)
    typ = str(a.get("type") or "").strip().upper()
    sub = str(a.get("subtype") or "").strip().upper()
    rel = a.get("reliability")
    try:
        conf = None if rel is None else max(0.0, min(1.0, float(rel) / 10.0))
    except (TypeError, ValueError):
        conf = None
    return {
        "kind": "waze",
        "natural_key": uuid,
        "source": source,
        "raw_sha256": sha,
        "observed_at": when,
        "subtype": (sub or typ or "unknown")[:64],
        "confidence": conf,
        "road_code": None,
        "km": None,
        "place": None,
        "flags": tflags + where.flags,
        "attributes": {
            "type": typ or None,
            "subtype": sub or None,
            "category": waze_category(typ, sub),
            "street": a.get("street"),
            "city": a.get("city"),
            "description": a.get("reportDescription"),
            "reliability": rel,
            "report_rating": a.get("reportRating"),
        },
        "geometry": where.point,
    }
