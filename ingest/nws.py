"""NWS-style GeoJSON alert collections (``api.weather.gov/alerts/active``): a pure parser.

Each Feature is one alert. Its area is the Feature ``geometry`` (GeoJSON, lon/lat) when present,
else ``affectedZones`` / ``geocode.UGC`` resolved through an optional ``zones`` mapping
(``{"UGC:ORZ001": geometry}``); without either, the alert is quarantined naming the zones.
``parameters`` values are arrays (every value kept). Times must be ISO 8601: anything else is
quarantined, never guessed. ``references`` are objects with sender, identifier and sent.

The alert frame and the report rows are the same as for CAP (see :mod:`ingest.cap`); the
``infos`` list holds one dict built from the Feature properties.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from ingest.alert_text import (
    COLOUR_SEVERITY,
    classify_hazard,
    colour_level,
    highest_wind,
    lowest_temperature,
)
from ingest.cap import NOT_LIVE_STATUSES, alert_head, alert_key, alert_report, collect_alerts
from ingest.errors import ParseError
from ingest.records import ParseResult, load_json, sha256_hex
from ingest.validate import RecordError, parse_time

FEED = "alerts"


def parse_nws(
    data: bytes,
    source: str,
    locator: Any = None,
    *,
    now: datetime | None = None,
    zones: Mapping[str, BaseGeometry] | None = None,
) -> ParseResult:
    """Parse an NWS GeoJSON alert collection (or a single alert Feature).

    Raises
    ------
    ParseError
        The payload is not JSON, or not a FeatureCollection / Feature.
    """
    sha = sha256_hex(data)
    doc = load_json(data)
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        features: Any = [doc]
    elif isinstance(doc, dict) and isinstance(doc.get("features"), list):
        features = doc["features"]
    else:
        msg = f"{source!r} is not a GeoJSON FeatureCollection of alerts"
        raise ParseError(msg)

    def label(i: int, feat: Any) -> str:
        props = feat.get("properties") if isinstance(feat, dict) else None
        ident = str(props.get("id", "?")) if isinstance(props, dict) else "?"
        return f"feature #{i + 1} {ident}"

    return collect_alerts(
        features, lambda feat: _feature(feat, source, sha, now, zones), label, source, sha
    )


def _str(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, list):
        v = v[0] if v else None
        return None if v is None else str(v)
    s = str(v).strip()
    return s or None


def _time(props: Mapping[str, Any], key: str, now: datetime | None) -> datetime | None:
    v = props.get(key)
    if v in (None, ""):
        return None
    try:
        return parse_time(v, now=now)[0]
    except RecordError as e:
        msg = f"{key} {e}"
        raise RecordError(msg) from None


def _properties(feat: Any) -> tuple[dict[str, Any], str, str]:
    """(properties, identifier, sender) of a feature, or RecordError naming what is missing."""
    if not isinstance(feat, dict) or not isinstance(feat.get("properties"), dict):
        msg = "feature has no properties object"
        raise RecordError(msg)
    p: dict[str, Any] = feat["properties"]
    identifier = _str(p.get("identifier") or p.get("id"))
    sender = _str(p.get("sender"))
    if not identifier or not sender or not p.get("sent"):
        missing = [k for k, v in (("id", identifier), ("sender", sender)) if not v]
        if not p.get("sent"):
            missing.append("sent")
        msg = f"alert lacks {', '.join(missing)}"
        raise RecordError(msg)
    return p, str(identifier), str(sender)


def _references(p: Mapping[str, Any], flags: list[str]) -> list[str]:
    """Return the keys of the alerts a feature references (flag ``unreadable_references``)."""
    references: list[str] = []
    for ref in p.get("references") or []:
        if not isinstance(ref, dict):
            continue
        try:
            rs, _ = parse_time(ref.get("sent"))
        except RecordError:
            flags.append("unreadable_references")
            continue
        references.append(alert_key(str(ref.get("sender")), str(ref.get("identifier")), rs))
    return references


def _area_codes(p: Mapping[str, Any]) -> list[str]:
    """``UGC:<zone>`` of the affected zones, then ``SCHEME:code`` of the geocodes, each once."""
    zone_ids = [str(z).rstrip("/").rsplit("/", 1)[-1] for z in p.get("affectedZones") or []]
    geocode = p.get("geocode") if isinstance(p.get("geocode"), dict) else {}
    codes = [f"UGC:{z}" for z in zone_ids]
    for scheme, values in (geocode or {}).items():
        for v in values if isinstance(values, list) else [values]:
            key = f"{str(scheme).upper()}:{v}"
            if key not in codes:
                codes.append(key)
    return codes


def _geometry(
    feat: Mapping[str, Any], codes: list[str], zones: Mapping[str, BaseGeometry] | None
) -> BaseGeometry | None:
    """Return the feature's geometry, else the union of its zones found in `zones`, else None."""
    geometry: BaseGeometry | None = None
    g = feat.get("geometry")
    if isinstance(g, dict):
        try:
            geometry = shape(g)
        except (ValueError, TypeError, AttributeError, KeyError) as e:
            msg = f"geometry cannot be read: {e}"
            raise RecordError(msg) from None
        if geometry.is_empty:
            geometry = None
    if geometry is None and zones:
        found = [zones[c] for c in codes if c in zones]
        geometry = unary_union(found) if found else None
    return geometry


def _info(p: Mapping[str, Any]) -> dict[str, Any]:
    """Return the one info block of a feature (CAP names)."""
    params = p.get("parameters") if isinstance(p.get("parameters"), dict) else {}
    return {
        "language": _str(p.get("language")) or "en-US",
        "category": _str(p.get("category")),
        "event": _str(p.get("event")),
        "urgency": _str(p.get("urgency")),
        "severity": _str(p.get("severity")),
        "certainty": _str(p.get("certainty")),
        "senderName": _str(p.get("senderName")),
        "headline": _str(p.get("headline")),
        "description": _str(p.get("description")),
        "instruction": _str(p.get("instruction")),
        "areaDesc": _str(p.get("areaDesc")),
        "parameters": {k: (v if isinstance(v, list) else [v]) for k, v in (params or {}).items()},
    }


def _feature(
    feat: Any,
    source: str,
    sha: str,
    now: datetime | None,
    zones: Mapping[str, BaseGeometry] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    p, identifier, sender = _properties(feat)
    sent = _time(p, "sent", now)
    assert sent is not None
    onset = _time(p, "onset", now) or _time(p, "effective", now)
    expires = _time(p, "expires", now)
    ends = _time(p, "ends", now)
    flags: list[str] = []
    flags += parse_time(sent, now=now)[1]
    status = (_str(p.get("status")) or "Actual").capitalize()
    msg_type = (_str(p.get("messageType") or p.get("msgType")) or "Alert").capitalize()
    references = _references(p, flags)
    if status in NOT_LIVE_STATUSES:
        flags.append("not_live")
    codes = _area_codes(p)
    geometry = _geometry(feat, codes, zones)
    if geometry is None and msg_type != "Cancel" and status not in NOT_LIVE_STATUSES:
        shown = ", ".join(codes[:5]) + (" ..." if len(codes) > 5 else "")
        msg = (
            f"alert {identifier}: geometry is null and its zones ({shown or 'none'}) "
            "cannot be resolved without a zone file"
        )
        raise RecordError(msg)
    expires = expires or ends
    info = _info(p)
    event, headline, description = info["event"], info["headline"], info["description"]
    text_all = " ".join(x for x in (event, headline, description) if x)
    colour = colour_level(text_all)
    severity = COLOUR_SEVERITY[colour] if colour else info["severity"]
    if expires is not None and expires < (now or datetime.now(UTC)):
        flags.append("expired")
    hazard = next(
        (h for h in map(classify_hazard, (event or "", headline or "", description or "")) if h),
        None,
    )
    alert = {
        **alert_head(sender, identifier, sent, msg_type, status, references),
        "event": event,
        "hazard_class": hazard,
        "severity": severity,
        "colour": colour,
        "onset": onset or sent,
        "expires": expires,
        "headline": headline,
        "description": description,
        "language": info["language"],
        "infos": [info],
        "area_codes": codes,
        "temperature_c": lowest_temperature(text_all),
        "wind_kmh": highest_wind(text_all),
        "geometry": geometry,
    }
    return alert, alert_report(alert, source, sha, info["certainty"], flags)
