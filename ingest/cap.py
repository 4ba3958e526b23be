"""CAP 1.0 / 1.1 / 1.2 weather alerts: a pure parser of bytes.

What is read
------------
- Any element whose local name is ``alert`` is a CAP alert, whatever its namespace: the CAP
  1.0/1.1/1.2 namespaces, ``cap:``-prefixed or default, wrong namespaces real feeds send
  (``urn:oasis:names:tc:emergency:alerts:1.2``; flagged ``nonstandard_namespace``), alerts inside
  an EDXL-DE envelope and several alerts inside an ``<alerts>`` wrapper.
- Encodings: whatever the XML declaration says (UTF-8 with or without BOM, ISO-8859-1).
- Hostile XML (DTDs, external entities, entity expansion) is refused by :mod:`defusedxml`
  before anything is read or fetched: :class:`~ingest.errors.HostileXMLError`. XInclude is never
  processed.
- Areas: ``polygon`` (CAP writes ``lat,lon`` pairs; stored lon/lat), ``circle``
  (``lat,lon radius_km``, a geodesic 64-gon; radius 0 is a point), ``geocode`` (6- or 12-digit
  Chinese administrative codes through ``locator.gazetteer.by_code``; other schemes through an
  optional ``zones`` mapping ``{"SCHEME:code": geometry}``). An Alert/Update whose area cannot be
  resolved at all is quarantined with the codes named; a Cancel needs no area.
- Every ``info`` block is kept (``infos``); the display one is zh-CN (any zh), then en, then the
  first.

Alert frame columns
-------------------
natural_key (``sender,identifier,sent-UTC-ISO``), sender, identifier, sent (UTC), msg_type
(Alert/Update/Cancel), status (Actual/Test/Exercise/Draft/System), references (list of
``sender,identifier,sent-UTC-ISO``), event, hazard_class (blizzard, cold_wave, road_icing,
freezing_rain, gale, blowing_snow, low_visibility, extreme_cold, or None), severity
(Extreme/Severe/Moderate/Minor/Unknown; a Chinese colour level overrides: blue Minor, yellow
Moderate, orange Severe, red Extreme), colour, onset, expires, headline, description, language,
infos (list of dicts), area_codes (list of ``scheme:code``), temperature_c (lowest mentioned),
wind_kmh (highest mentioned), geometry (area union, WGS84).

Each alert also gives one report row (kind ``alert``) with the same natural key.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET  # noqa: S405  (only for types and errors; parsing is defused)
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import defusedxml
import defusedxml.ElementTree as DET
from pyproj import Geod
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from shapely.validation import make_valid

from ingest.alert_text import (
    CERTAINTY_CONFIDENCE,
    COLOUR_SEVERITY,
    classify_hazard,
    colour_level,
    highest_wind,
    lowest_temperature,
)
from ingest.errors import HostileXMLError, ParseError
from ingest.records import (
    ParseResult,
    QuarantineRow,
    alert_frame,
    excerpt,
    report_frame,
    sha256_hex,
)
from ingest.validate import Locator, RecordError, parse_time

FEED = "alerts"
_Item = TypeVar("_Item")
CAP_NAMESPACES = frozenset(
    {
        "urn:oasis:names:tc:emergency:cap:1.2",
        "urn:oasis:names:tc:emergency:cap:1.1",
        "http://www.incident.com/cap/1.0",
        "urn:oasis:names:tc:emergency:cap:1.0",
    }
)
NOT_LIVE_STATUSES = frozenset({"Test", "Exercise", "Draft", "System"})

_GEOD = Geod(ellps="WGS84")
_DIGITS = re.compile(r"^\d{6}(\d{6})?$")
FOREIGN_SCHEMES = ("SAME", "FIPS", "UGC", "CLC", "CAP-CP", "EMMA", "NUTS", "WARNCELL", "ISO3166")


def parse_cap(
    data: bytes,
    source: str,
    locator: Locator | None = None,
    *,
    now: datetime | None = None,
    zones: Mapping[str, BaseGeometry] | None = None,
) -> ParseResult:
    """Parse one CAP payload (a single alert, an ``<alerts>`` wrapper or an EDXL-DE envelope).

    Parameters
    ----------
    data
        The raw bytes, exactly as fetched.
    source
        File path or URL (goes into every row).
    locator
        The region (:class:`geo.region.Region`) to resolve administrative codes; optional.
    now
        Reference time for the ``expired`` and ``future_time`` flags.
    zones
        Optional zone geometries for geocode schemes other than Chinese admin codes, keyed
        ``"SCHEME:code"`` (scheme upper-case, e.g. ``"UGC:ORZ001"``).

    Returns
    -------
    ParseResult
        ``frame`` has one report per usable alert, ``alerts`` the alert rows.

    Raises
    ------
    HostileXMLError
        The XML uses a DTD, entities or external references.
    ParseError
        The payload is not XML or holds no CAP alert.
    """
    sha = sha256_hex(data)
    root = _parse_xml(data)
    alerts = [el for el in root.iter() if _local(el.tag) == "alert"]
    if not alerts:
        msg = f"no CAP <alert> element in {source!r} (root element <{_local(root.tag)}>)"
        raise ParseError(msg)

    def build(el: ET.Element) -> tuple[dict[str, Any], dict[str, Any]]:
        alert = _alert_row(el, locator, now, zones)
        return alert, _report_row(alert, source, sha)

    return collect_alerts(
        alerts, build, lambda i, el: f"alert #{i + 1} {_text(el, 'identifier') or '?'}", source, sha
    )


def collect_alerts(
    items: Sequence[_Item],
    build: Callable[[_Item], tuple[dict[str, Any], dict[str, Any]]],
    label: Callable[[int, _Item], str],
    source: str,
    sha: str,
) -> ParseResult:
    """Build every alert of a payload (`build`: its alert row and report row); quarantine the rest.

    An item whose `build` raises :class:`~ingest.validate.RecordError` goes to quarantine under
    ``label(i, item)``; the others come back as reports and alert rows (CAP here, NWS in
    :mod:`ingest.nws`).
    """
    reports: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    quarantine: list[QuarantineRow] = []
    for i, item in enumerate(items):
        try:
            alert, report = build(item)
        except RecordError as e:
            quarantine.append(QuarantineRow(FEED, source, label(i, item), str(e), sha))
            continue
        rows.append(alert)
        reports.append(report)
    return ParseResult(report_frame(reports), quarantine, alert_frame(rows))


def _parse_xml(data: bytes) -> ET.Element:
    try:
        root: ET.Element = DET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        return root
    except defusedxml.DefusedXmlException as e:
        msg = f"hostile XML refused ({type(e).__name__}: {e})"
        raise HostileXMLError(msg) from e
    except ET.ParseError as e:
        msg = f"not well-formed XML: {e}"
        raise ParseError(msg) from e
    except (ValueError, LookupError, UnicodeError) as e:  # odd encodings declared
        msg = f"XML cannot be decoded: {e}"
        raise ParseError(msg) from e


def _local(tag: Any) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag.split(":")[-1]


def _ns(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _text(el: ET.Element, name: str) -> str | None:
    for c in el:
        if _local(c.tag) == name:
            t = (c.text or "").strip()
            return t or None
    return None


def _pairs(el: ET.Element, name: str) -> list[tuple[str, str]]:
    out = []
    for c in _children(el, name):
        out.append(((_text(c, "valueName") or "").strip(), (_text(c, "value") or "").strip()))
    return out


def _utc_iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


def alert_head(
    sender: str, identifier: str, sent: datetime, msg_type: str, status: str,
    references: list[str],
) -> dict[str, Any]:
    """Return the first columns of an alert row: its natural key and CAP header fields."""
    return {
        "natural_key": alert_key(sender, identifier, sent),
        "sender": sender,
        "identifier": identifier,
        "sent": sent,
        "msg_type": msg_type,
        "status": status,
        "references": references,
    }


def alert_key(sender: str, identifier: str, sent: datetime) -> str:
    """Return the natural key ``sender,identifier,sent`` (sent in UTC ISO 8601)."""
    return f"{sender},{identifier},{_utc_iso(sent)}"


def parse_references(text: str | None) -> tuple[list[str], list[str]]:
    """Split CAP ``references`` into normalised keys; return (keys, unreadable triples)."""
    keys: list[str] = []
    bad: list[str] = []
    for triple in (text or "").split():
        parts = triple.split(",")
        if len(parts) < 3:
            bad.append(triple)
            continue
        sent_text = parts[-1]
        sender = parts[0]
        identifier = ",".join(parts[1:-1])
        try:
            sent, _ = parse_time(sent_text)
        except RecordError:
            bad.append(triple)
            continue
        keys.append(alert_key(sender, identifier, sent))
    return keys, bad


def _alert_header(
    el: ET.Element, now: datetime | None
) -> tuple[str, str, datetime, str, str, list[str], list[str]]:
    """Return (identifier, sender, sent, status, msgType, references, flags) of a CAP alert."""
    flags: list[str] = []
    ns = _ns(el.tag) if isinstance(el.tag, str) else ""
    if ns not in CAP_NAMESPACES:
        flags.append("nonstandard_namespace")
    fields = {k: _text(el, k) for k in ("identifier", "sender", "sent", "status", "msgType")}
    missing = [k for k, v in fields.items() if not v]
    if missing:
        msg = f"CAP alert lacks required element(s): {', '.join(missing)}"
        raise RecordError(msg)
    identifier, sender = str(fields["identifier"]), str(fields["sender"])
    try:
        sent, tflags = parse_time(fields["sent"], now=now)
    except RecordError as e:
        msg = f"alert {identifier}: <sent> {e}"
        raise RecordError(msg) from None
    flags += tflags
    status = str(fields["status"]).capitalize()
    msg_type = str(fields["msgType"]).capitalize()
    if msg_type not in ("Alert", "Update", "Cancel", "Ack", "Error"):
        msg = f"alert {identifier}: unknown msgType {fields['msgType']!r}"
        raise RecordError(msg)
    references, bad_refs = parse_references(_text(el, "references"))
    if bad_refs:
        flags.append("unreadable_references")
    if msg_type in ("Update", "Cancel") and not references:
        flags.append("update_without_references")
    if status in NOT_LIVE_STATUSES:
        flags.append("not_live")
    return identifier, sender, sent, status, msg_type, references, flags


def _alert_areas(
    el: ET.Element, locator: Locator | None, zones: Mapping[str, BaseGeometry] | None
) -> tuple[BaseGeometry | None, list[str], list[str], list[str]]:
    """(area union or None, area codes, unresolved codes, problems) of every info's areas."""
    geoms: list[BaseGeometry] = []
    codes: list[str] = []
    unresolved: list[str] = []
    problems: list[str] = []
    for info_el in _children(el, "info"):
        for area in _children(info_el, "area"):
            g, c, u, p = _area(area, locator, zones)
            geoms += g
            codes += c
            unresolved += u
            problems += p
    geometry = unary_union(geoms) if geoms else None
    if geometry is not None and geometry.is_empty:
        geometry = None
    return geometry, list(dict.fromkeys(codes)), list(dict.fromkeys(unresolved)), problems


def _no_area_reason(
    identifier: str, infos: list[dict[str, Any]], unresolved: list[str], problems: list[str]
) -> str:
    """Return the quarantine reason of a live alert that cannot be placed."""
    if not infos:
        return f"alert {identifier}: no <info> block, so no event or area"
    if unresolved:
        shown = ", ".join(unresolved[:5]) + (" ..." if len(unresolved) > 5 else "")
        return (
            f"alert {identifier}: area given only as geocodes that cannot be resolved "
            f"({shown}); Chinese admin codes need a loaded region, other schemes a zone file"
        )
    if problems:
        return f"alert {identifier}: no usable area ({'; '.join(problems[:3])})"
    descs = [a["areaDesc"] for i in infos for a in i["areas"] if a.get("areaDesc")]
    named = f" (areaDesc only: {', '.join(descs[:3])!s})" if descs else ""
    return f"alert {identifier}: no polygon, circle or geocode to place it{named}"


def _alert_words(
    infos: list[dict[str, Any]], info: dict[str, Any], now: datetime | None, flags: list[str]
) -> dict[str, Any]:
    """Hazard class, colour, severity, onset, expiry, temperature and wind of the infos."""
    by_field = [
        " ".join(str(i.get(k) or "") for i in infos) for k in ("event", "headline", "description")
    ]
    by_field.insert(1, " ".join(v for i in infos for _, v in i.get("eventCodes", [])))
    text_all = " ".join(by_field)
    colour = colour_level(text_all)
    expires = info.get("expires_dt")
    if expires is None:
        all_exp = [i["expires_dt"] for i in infos if i.get("expires_dt")]
        expires = max(all_exp) if all_exp else None
    if expires is not None and expires < (now or datetime.now(UTC)):
        flags.append("expired")
    words = {
        "hazard_class": next((h for h in map(classify_hazard, by_field) if h), None),
        "severity": COLOUR_SEVERITY[colour] if colour else info.get("severity"),
        "colour": colour,
        "onset": info.get("onset_dt") or info.get("effective_dt"),
        "expires": expires,
        "temperature_c": lowest_temperature(text_all),
        "wind_kmh": highest_wind(text_all),
    }
    for i in infos:  # JSON-friendly copies only
        for k in ("expires_dt", "onset_dt", "effective_dt"):
            i.pop(k, None)
    return words


def _alert_row(
    el: ET.Element,
    locator: Locator | None,
    now: datetime | None,
    zones: Mapping[str, BaseGeometry] | None,
) -> dict[str, Any]:
    identifier, sender, sent, status, msg_type, references, flags = _alert_header(el, now)
    infos = [_info(i, now) for i in _children(el, "info")]
    info = _preferred(infos)
    geometry, codes, unresolved, problems = _alert_areas(el, locator, zones)
    if geometry is None and msg_type in ("Alert", "Update") and status not in NOT_LIVE_STATUSES:
        raise RecordError(_no_area_reason(identifier, infos, unresolved, problems))
    if unresolved:
        flags.append("unresolved_area_codes")
    if problems:
        flags.append("area_problems")
    words = _alert_words(infos, info, now, flags)
    return {
        **alert_head(sender, identifier, sent, msg_type, status, references),
        "event": info.get("event"),
        **words,
        "onset": words["onset"] or sent,
        "headline": info.get("headline"),
        "description": info.get("description"),
        "language": info.get("language"),
        "infos": infos,
        "area_codes": codes,
        "geometry": geometry,
        "_flags": flags,
        "_certainty": info.get("certainty"),
        "_unresolved": unresolved,
    }


def _report_row(alert: dict[str, Any], source: str, sha: str) -> dict[str, Any]:
    flags = alert.pop("_flags")
    certainty = alert.pop("_certainty")
    unresolved = alert.pop("_unresolved")
    return alert_report(alert, source, sha, certainty, flags, unresolved_area_codes=unresolved)


def alert_report(
    alert: Mapping[str, Any],
    source: str,
    sha: str,
    certainty: str | None,
    flags: list[str],
    **more_attributes: Any,
) -> dict[str, Any]:
    """Return the ``reports`` row of a parsed alert (CAP here, NWS in :mod:`ingest.nws`).

    `more_attributes` are added after the common attributes (event, type, status, severity,
    colour, expiry, headline).
    """
    expires = alert["expires"]
    return {
        "kind": "alert",
        "natural_key": alert["natural_key"],
        "source": source,
        "raw_sha256": sha,
        "observed_at": alert["sent"],
        "subtype": alert["hazard_class"] or (alert["event"] or "alert")[:64],
        "confidence": CERTAINTY_CONFIDENCE.get(str(certainty)),
        "road_code": None,
        "km": None,
        "place": None,
        "flags": flags,
        "attributes": {
            "event": alert["event"],
            "msg_type": alert["msg_type"],
            "status": alert["status"],
            "severity": alert["severity"],
            "colour": alert["colour"],
            "expires": expires.isoformat() if expires else None,
            "headline": alert["headline"],
            **more_attributes,
        },
        "geometry": alert["geometry"],
    }


def _info(el: ET.Element, now: datetime | None) -> dict[str, Any]:
    d: dict[str, Any] = {
        k: _text(el, k)
        for k in (
            "language",
            "category",
            "event",
            "urgency",
            "severity",
            "certainty",
            "effective",
            "onset",
            "expires",
            "senderName",
            "headline",
            "description",
            "instruction",
            "web",
            "contact",
        )
    }
    d["language"] = d["language"] or "en-US"
    for k in ("effective", "onset", "expires"):
        dt = None
        if d[k]:
            try:
                dt, _ = parse_time(d[k], now=now)
            except RecordError:
                dt = None
        d[f"{k}_dt"] = dt
    params: dict[str, list[str]] = {}
    for name, value in _pairs(el, "parameter"):
        params.setdefault(name, []).append(value)
    d["parameters"] = params
    d["eventCodes"] = _pairs(el, "eventCode")
    d["areas"] = [
        {
            "areaDesc": _text(a, "areaDesc"),
            "polygons": len(_children(a, "polygon")),
            "circles": len(_children(a, "circle")),
            "geocodes": [f"{n}:{v}" for n, v in _pairs(a, "geocode")],
        }
        for a in _children(el, "area")
    ]
    return d


def _preferred(infos: list[dict[str, Any]]) -> dict[str, Any]:
    if not infos:
        return {}
    for prefix in ("zh-cn", "zh", "en"):
        for i in infos:
            if str(i.get("language", "")).lower().startswith(prefix):
                return i
    return infos[0]


def _area(
    area: ET.Element, locator: Locator | None, zones: Mapping[str, BaseGeometry] | None
) -> tuple[list[BaseGeometry], list[str], list[str], list[str]]:
    geoms: list[BaseGeometry] = []
    codes: list[str] = []
    unresolved: list[str] = []
    problems: list[str] = []
    for p in _children(area, "polygon"):
        try:
            geoms.append(cap_polygon(p.text or ""))
        except RecordError as e:
            problems.append(str(e))
    for c in _children(area, "circle"):
        try:
            geoms.append(cap_circle(c.text or ""))
        except RecordError as e:
            problems.append(str(e))
    for name, value in _pairs(area, "geocode"):
        key = f"{name}:{value}"
        codes.append(key)
        g = _resolve_code(name, value, locator, zones)
        if g is None:
            unresolved.append(key)
        else:
            geoms.append(g)
    return geoms, codes, unresolved, problems


def _resolve_code(
    name: str, value: str, locator: Locator | None, zones: Mapping[str, BaseGeometry] | None
) -> BaseGeometry | None:
    if zones:
        g = zones.get(f"{name.upper()}:{value}")
        if g is None and name:
            g = zones.get(f"{name.upper().rsplit(':', 1)[-1]}:{value}")
        if g is not None:
            return g
    upper = name.upper()
    if locator is None or not _DIGITS.match(value) or any(s in upper for s in FOREIGN_SCHEMES):
        return None
    try:
        place = locator.gazetteer.by_code(value)
    except (KeyError, ValueError):
        return None
    geom = getattr(place, "geometry", None)
    return geom if isinstance(geom, BaseGeometry) and not geom.is_empty else None


def _latlon(pair: str) -> tuple[float, float]:
    try:
        lat_s, lon_s = pair.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        msg = f"point {pair!r} is not 'lat,lon'"
        raise RecordError(msg) from None
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
        msg = f"point {pair!r} out of range"
        raise RecordError(msg)
    return lon, lat


def cap_polygon(text: str) -> BaseGeometry:
    """Return the shapely polygon (lon/lat) of a CAP ``polygon`` (``lat,lon`` pairs)."""
    pts = [_latlon(p) for p in text.split()]
    if len(pts) < 4:
        msg = f"polygon with {len(pts)} points (CAP needs 4 or more): {excerpt(text, 60)!r}"
        raise RecordError(msg)
    poly = Polygon(pts)
    if not poly.is_valid:
        poly = make_valid(poly)
    if poly.is_empty or poly.area == 0:
        msg = f"polygon has no area: {excerpt(text, 60)!r}"
        raise RecordError(msg)
    return poly


def cap_circle(text: str) -> BaseGeometry:
    """Return a CAP ``circle`` (``lat,lon radius_km``) as a geodesic polygon or a point (r=0)."""
    parts = text.split()
    if len(parts) != 2:
        msg = f"circle {text!r} is not 'lat,lon radius'"
        raise RecordError(msg)
    lon, lat = _latlon(parts[0])
    try:
        r_km = float(parts[1])
    except ValueError:
        msg = f"circle radius {parts[1]!r} is not a number"
        raise RecordError(msg) from None
    if not math.isfinite(r_km) or r_km < 0 or r_km > 5000:
        msg = f"circle radius {parts[1]!r} km out of range"
        raise RecordError(msg)
    if r_km == 0:
        return Point(lon, lat)
    az = [i * 360.0 / 64 for i in range(64)]
    lons, lats, _ = _GEOD.fwd([lon] * 64, [lat] * 64, az, [r_km * 1000.0] * 64)
    return Polygon(list(zip(lons, lats, strict=True)))
