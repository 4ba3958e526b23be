"""Unit positions (AVL, the fifth feed): a pure parser of bytes.

Formats
-------
CSV / JSON
    One fix per row / object (JSON: a list, or ``{"fixes": [...]}`` / ``{"positions": [...]}``).
    Columns (Chinese aliases accepted): ``unit_id`` (or the ``unit_id`` argument), ``time``
    (ISO 8601, naive = Asia/Shanghai; or epoch seconds / milliseconds), ``lon``, ``lat``,
    optional ``datum`` (``wgs84`` | ``gcj02`` | ``bd09``, converted to WGS84, the original
    kept), ``fuel`` (0..1, or a percentage when above 1), ``speed`` (km/h), ``heading``
    (degrees), ``crew_hours``, ``accuracy_m``.
NMEA 0183
    A vehicle tracker's log: ``$GPRMC``/``$GNRMC`` (UTC time and date, status ``A``) and
    ``$GPGGA``/``$GNGGA`` (time, fix quality, satellites, altitude; the date is taken from the
    RMC sentences of the same file). A GGA and an RMC of the same second are one fix. Other
    sentences (GSV, GSA, VTG ...) are skipped. The unit is the ``unit_id`` argument or the
    file name (``XL-ABG-PC1.nmea`` -> ``XL-ABG-PC1``).
GPX
    A tracker's tracks (:mod:`gpxpy`, the XML checked with :mod:`defusedxml` first). The unit
    is the ``unit_id`` argument, else the track name, else the file name. Times without a
    zone are UTC (the GPX rule).

Report rows: kind ``avl``, natural key ``<unit_id>@<UTC time, seconds>`` (:func:`avl_key`),
subtype ``position``; ``attributes``: unit_id, position_source (``avl``), format, datum,
original (lon, lat, datum as received), fuel (0..1 or None), speed_kmh, heading_deg,
crew_hours, accuracy_m, altitude_m, satellites.

Quarantined (the other fixes of the payload survive): no unit id, a missing or unreadable
time, coordinates out of range or (0, 0), an unknown datum, an NMEA checksum mismatch or a
sentence without a checksum, an RMC with status ``V`` or a GGA with fix quality 0, a GGA
without any RMC date in the file, GPX points without a time (one row per segment).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import defusedxml
import defusedxml.ElementTree as DET
import gpxpy
import gpxpy.gpx

from ingest.decoding import decode_text
from ingest.errors import HostileXMLError, ParseError
from ingest.records import ParseResult, QuarantineRow, excerpt, load_csv, report_frame, sha256_hex
from ingest.validate import (
    Location,
    Locator,
    RecordError,
    locate_coordinates,
    parse_epoch_ms,
    parse_time,
    to_float,
)

__all__ = ["FEED", "KIND", "avl_key", "fix_row", "load_gpx", "nmea_checksum", "parse_avl"]

FEED = "avl"
KIND = "avl"
KNOT_KMH = 1.852
OLDEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC)

_NAMES = {
    "unit_id": ("unit", "unit_id", "unitid", "vehicle", "vehicle_id", "单位", "车辆编号"),
    "time": ("time", "timestamp", "fix_time", "时间", "定位时间"),
    "lon": ("lon", "lng", "longitude", "经度"),
    "lat": ("lat", "latitude", "纬度"),
    "datum": ("datum", "crs", "坐标系"),
    "fuel": ("fuel", "fuel_pct", "燃油", "油量"),
    "speed": ("speed", "speed_kmh", "速度"),
    "heading": ("heading", "course", "方向", "航向"),
    "crew_hours": ("crew_hours", "工时"),
    "accuracy_m": ("accuracy", "accuracy_m", "精度"),
}
ALIASES = {alias: name for name, aliases in _NAMES.items() for alias in aliases}
"""Header (or JSON key) -> canonical field, English and Chinese."""


def avl_key(unit_id: str, at: datetime) -> str:
    """Natural key of a fix: ``<unit_id>@<UTC time to the second>`` (one fix per unit-second)."""
    return f"{unit_id}@{at.astimezone(UTC).replace(microsecond=0).isoformat()}"


def fix_row(
    unit_id: str,
    when: datetime,
    loc: Location,
    source: str,
    sha: str | None,
    *,
    flags: list[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One avl report row (the schema of :mod:`ingest.records`) for a located fix.

    `extra` adds attributes (fuel, speed_kmh, heading_deg, format, position_source ...);
    ``position_source`` defaults to ``avl``.
    """
    attrs: dict[str, Any] = {
        "unit_id": unit_id,
        "position_source": "avl",
        "datum": loc.original.get("datum", "wgs84"),
        "original": dict(loc.original),
        "fuel": None,
    }
    attrs.update(extra or {})
    return {
        "kind": KIND,
        "natural_key": avl_key(unit_id, when),
        "source": source,
        "raw_sha256": sha,
        "observed_at": when,
        "subtype": "position",
        "confidence": None,
        "road_code": None,
        "km": None,
        "place": None,
        "flags": list(flags or []) + loc.flags,
        "attributes": attrs,
        "geometry": loc.point,
    }


def parse_avl(
    data: bytes,
    source: str,
    locator: Locator | None = None,
    *,
    unit_id: str | None = None,
    now: datetime | None = None,
) -> ParseResult:
    """Parse AVL position fixes (CSV, JSON, NMEA 0183 or GPX) into avl reports.

    Parameters
    ----------
    data, source
        The payload and where it came from (its file name may name the unit).
    locator
        Region, for the ``outside_region`` flag (optional).
    unit_id
        The unit of an NMEA or GPX log (or of CSV/JSON rows without a unit column).
    now
        Reference for the ``future_time`` flag.

    Raises
    ------
    ParseError
        The payload is none of the formats, or a CSV has no time/lon/lat columns.
    HostileXMLError
        GPX with a DTD or entities.
    """
    sha = sha256_hex(data)
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return _parse_gpx(data, source, sha, locator, unit_id, now)
    text = decode_text(data).text
    if head.startswith(b"$"):
        return _parse_nmea(text, source, sha, locator, unit_id or _unit_from_source(source), now)
    fmt = "json" if head.startswith((b"{", b"[")) else "csv"
    records = _json_records(text, source) if fmt == "json" else _csv_records(text, source, unit_id)
    rows: list[dict[str, Any]] = []
    quarantine: list[QuarantineRow] = []
    for where, rec in records:
        try:
            rows.append(_table_fix(rec, fmt, source, sha, locator, unit_id, now))
        except RecordError as e:
            raw = rec.pop("_raw", None) or json.dumps(rec, ensure_ascii=False, default=str)
            quarantine.append(
                QuarantineRow(FEED, source, f"{where}: {excerpt(raw, 160)}", str(e), sha)
            )
    return ParseResult(report_frame(rows), quarantine, None)


# ------------------------------------------------------------------------------------------
# CSV and JSON
# ------------------------------------------------------------------------------------------


def _canon(item: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in item.items():
        key = str(k).strip().lower()
        out[ALIASES.get(key, key)] = v.strip() if isinstance(v, str) else v
    return out


def _json_records(text: str, source: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        msg = f"not JSON: {e}"
        raise ParseError(msg) from e
    items = doc
    if isinstance(doc, dict):
        items = doc.get("fixes", doc.get("positions"))
    if not isinstance(items, list):
        msg = f"{source!r}: JSON has no list of fixes (a list, or {{'fixes': [...]}})"
        raise ParseError(msg)
    return [
        (f"item {i + 1}", _canon(it) if isinstance(it, dict) else {"_bad": it})
        for i, it in enumerate(items)
    ]


def _csv_records(text: str, source: str, unit_id: str | None) -> list[tuple[str, dict[str, Any]]]:
    table = load_csv(text, source)
    keys = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in table[0]]
    need = ("time", "lon", "lat") if unit_id else ("unit_id", "time", "lon", "lat")
    missing = [c for c in need if c not in keys]
    if missing:
        msg = (
            f"{source!r}: AVL CSV lacks the column(s) {', '.join(map(repr, missing))} "
            f"(header {excerpt(','.join(table[0]), 120)!r})"
        )
        raise ParseError(msg)
    out = []
    for line, row in enumerate(table[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        rec: dict[str, Any] = {k: v.strip() for k, v in zip(keys, row, strict=False)}
        rec["_raw"] = ",".join(row)
        out.append((f"line {line}", rec))
    return out


def _present(v: Any) -> bool:
    return v is not None and str(v).strip() not in ("", "nan", "None", "null")


def _opt_float(rec: Mapping[str, Any], key: str) -> float | None:
    v = rec.get(key)
    if not _present(v):
        return None
    try:
        return to_float(v, key)
    except RecordError:
        return None


def _fuel(value: Any, flags: list[str]) -> float | None:
    """Fuel as 0..1: a value above 1 is a percentage; out of 0..100 is dropped (flagged)."""
    if not _present(value):
        return None
    try:
        f = to_float(str(value).rstrip("%"), "fuel")
    except RecordError:
        flags.append("bad_fuel")
        return None
    if f > 1.0:
        f /= 100.0
    if not 0.0 <= f <= 1.0:
        flags.append("bad_fuel")
        return None
    return f


def _time(value: Any, now: datetime | None) -> tuple[datetime, list[str]]:
    if isinstance(value, (int, float)) or (
        isinstance(value, str) and re.fullmatch(r"\d{9,13}(\.\d+)?", value.strip())
    ):
        f = float(value)
        return parse_epoch_ms(f if f > 1e11 else f * 1000.0, now=now)
    return parse_time(value, now=now, lenient=True)


def _table_fix(
    rec: dict[str, Any],
    fmt: str,
    source: str,
    sha: str,
    locator: Locator | None,
    unit_id: str | None,
    now: datetime | None,
) -> dict[str, Any]:
    if "_bad" in rec:
        msg = "fix is not an object"
        raise RecordError(msg)
    unit = str(rec.get("unit_id")).strip() if _present(rec.get("unit_id")) else unit_id
    if not unit:
        msg = "fix has no unit id"
        raise RecordError(msg)
    when, flags = _time(rec.get("time"), now)
    datum = rec.get("datum") if _present(rec.get("datum")) else None
    loc = locate_coordinates(rec.get("lon"), rec.get("lat"), datum, locator)
    extra = {
        "format": fmt,
        "fuel": _fuel(rec.get("fuel"), flags),
        "speed_kmh": _opt_float(rec, "speed"),
        "heading_deg": _opt_float(rec, "heading"),
        "crew_hours": _opt_float(rec, "crew_hours"),
        "accuracy_m": _opt_float(rec, "accuracy_m"),
    }
    return fix_row(unit, when, loc, source, sha, flags=flags, extra=extra)


def _unit_from_source(source: str) -> str | None:
    """Return the unit a file name or URL path names (``…/XL-ABG-PC1.nmea``: ``XL-ABG-PC1``)."""
    path = urlsplit(source).path if "://" in source else source.replace("\\", "/")
    stem = PurePosixPath(path).stem.strip()
    return stem or None


# ------------------------------------------------------------------------------------------
# NMEA 0183
# ------------------------------------------------------------------------------------------

_SENTENCE = re.compile(r"^\$(?P<body>[^*]*)(?:\*(?P<cs>[0-9A-Fa-f]{2}))?\s*$")
_POSITION_TYPES = ("RMC", "GGA")


def nmea_checksum(body: str) -> str:
    """XOR of the characters between ``$`` and ``*``, as two upper-case hex digits."""
    x = 0
    for ch in body.encode("ascii", "replace"):
        x ^= ch
    return f"{x:02X}"


def _nmea_sentences(
    text: str,
) -> tuple[list[tuple[int, str, list[str]]], list[tuple[int, str, str]]]:
    """(line, type, fields) of the RMC/GGA sentences, and (line, text, reason) of bad lines."""
    good: list[tuple[int, str, list[str]]] = []
    bad: list[tuple[int, str, str]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s:
            continue
        m = _SENTENCE.match(s)
        if m is None:
            bad.append((n, s, "not an NMEA sentence"))
            continue
        body, cs = m.group("body"), m.group("cs")
        fields = body.split(",")
        kind = fields[0][2:5] if len(fields[0]) == 5 else ""
        if kind not in _POSITION_TYPES:
            continue  # GSV, GSA, VTG, proprietary ...: not a position fix
        if cs is None:
            bad.append((n, s, f"NMEA {fields[0]} sentence has no checksum (truncated?)"))
            continue
        want = nmea_checksum(body)
        if cs.upper() != want:
            bad.append(
                (n, s, f"NMEA checksum mismatch: sentence says {cs.upper()}, computed {want}")
            )
            continue
        good.append((n, kind, fields[1:]))
    return good, bad


def _nmea_coord(value: str, hemi: str, what: str) -> float:
    """``ddmm.mmmm`` / ``dddmm.mmmm`` with hemisphere N/S/E/W to signed degrees."""
    v = to_float(value, what) if value.strip() else None
    if v is None:
        msg = f"NMEA sentence has no {what} (no position fix)"
        raise RecordError(msg)
    deg = int(abs(v) // 100)
    minutes = abs(v) - deg * 100
    if minutes >= 60:
        msg = f"NMEA {what} {value!r} has {minutes:.3f} minutes (>= 60)"
        raise RecordError(msg)
    out = deg + minutes / 60.0
    if hemi.strip().upper() in ("S", "W"):
        out = -out
    elif hemi.strip().upper() not in ("N", "E"):
        msg = f"NMEA {what} hemisphere {hemi!r} is not N/S/E/W"
        raise RecordError(msg)
    return out


def _nmea_time(value: str) -> time:
    m = re.fullmatch(r"(\d{2})(\d{2})(\d{2})(\.\d+)?", value.strip())
    if m is None:
        msg = f"NMEA time {value!r} is not hhmmss"
        raise RecordError(msg)
    h, mi, s = (int(g) for g in m.groups()[:3])
    frac = float(m.group(4) or 0.0)
    if h > 23 or mi > 59 or s > 60:
        msg = f"NMEA time {value!r} out of range"
        raise RecordError(msg)
    return time(h, mi, min(s, 59), int(frac * 1e6), tzinfo=UTC)


def _nmea_date(value: str) -> date:
    m = re.fullmatch(r"(\d{2})(\d{2})(\d{2})", value.strip())
    if m is None:
        msg = f"NMEA date {value!r} is not ddmmyy"
        raise RecordError(msg)
    d, mo, y = (int(g) for g in m.groups())
    try:
        return date(2000 + y if y < 80 else 1900 + y, mo, d)
    except ValueError as e:
        msg = f"NMEA date {value!r}: {e}"
        raise RecordError(msg) from None


def _rmc_dates(sentences: list[tuple[int, str, list[str]]]) -> list[tuple[int, date]]:
    out = []
    for n, kind, f in sentences:
        if kind == "RMC" and len(f) >= 9:
            try:
                out.append((n, _nmea_date(f[8])))
            except RecordError:
                continue
    return out


def _gga_date(n: int, dates: list[tuple[int, date]]) -> date:
    before = [d for line, d in dates if line <= n]
    if before:
        return before[-1]
    if dates:
        return dates[0][1]
    msg = "GGA sentence has no date (no RMC sentence in the file to take it from)"
    raise RecordError(msg)


def _nmea_fix(
    kind: str, f: list[str], n: int, dates: list[tuple[int, date]]
) -> tuple[datetime, float, float, dict[str, Any]]:
    """(UTC time, lon, lat, attributes) of one RMC or GGA sentence."""
    if kind == "RMC":
        if len(f) < 9:
            msg = f"RMC sentence has {len(f)} fields, expected at least 9"
            raise RecordError(msg)
        if f[1].strip().upper() != "A":
            msg = f"no position fix (RMC status {f[1]!r}, not 'A')"
            raise RecordError(msg)
        when = datetime.combine(_nmea_date(f[8]), _nmea_time(f[0]))
        lat, lon = _nmea_coord(f[2], f[3], "latitude"), _nmea_coord(f[4], f[5], "longitude")
        knots = to_float(f[6], "speed") if f[6].strip() else None
        course = to_float(f[7], "course") if f[7].strip() else None
        extra = {"speed_kmh": None if knots is None else round(knots * KNOT_KMH, 2)}
        return when, lon, lat, extra | {"heading_deg": course}
    if len(f) < 9:
        msg = f"GGA sentence has {len(f)} fields, expected at least 9"
        raise RecordError(msg)
    if f[5].strip() in ("", "0"):
        msg = f"no position fix (GGA fix quality {f[5]!r})"
        raise RecordError(msg)
    when = datetime.combine(_gga_date(n, dates), _nmea_time(f[0]))
    lat, lon = _nmea_coord(f[1], f[2], "latitude"), _nmea_coord(f[3], f[4], "longitude")
    extra = {
        "satellites": int(f[6]) if f[6].strip().isdigit() else None,
        "hdop": to_float(f[7], "hdop") if f[7].strip() else None,
        "altitude_m": to_float(f[8], "altitude") if f[8].strip() else None,
    }
    return when, lon, lat, extra


def _parse_nmea(
    text: str,
    source: str,
    sha: str,
    locator: Locator | None,
    unit_id: str | None,
    now: datetime | None,
) -> ParseResult:
    sentences, bad = _nmea_sentences(text)
    quarantine = [
        QuarantineRow(FEED, source, f"line {n}: {excerpt(s, 160)}", reason, sha)
        for n, s, reason in bad
    ]
    dates = _rmc_dates(sentences)
    rows: dict[str, dict[str, Any]] = {}
    lines = text.splitlines()
    for n, kind, f in sentences:
        try:
            if not unit_id:
                msg = "no unit id (pass unit_id, or name the file after the unit)"
                raise RecordError(msg)
            when, lon, lat, extra = _nmea_fix(kind, f, n, dates)
            when, flags = parse_time(when, now=now)
            loc = locate_coordinates(lon, lat, "wgs84", locator)
        except RecordError as e:
            record = f"line {n}: {excerpt(lines[n - 1], 160)}"
            quarantine.append(QuarantineRow(FEED, source, record, str(e), sha))
            continue
        row = fix_row(unit_id, when, loc, source, sha, flags=flags, extra={"format": "nmea"})
        same = rows.get(row["natural_key"])
        if same is None:
            row["attributes"].update(extra)
            rows[row["natural_key"]] = row
        else:  # RMC + GGA of one second: one fix with the facts of both
            same["attributes"].update({k: v for k, v in extra.items() if v is not None})
    return ParseResult(report_frame(list(rows.values())), quarantine, None)


# ------------------------------------------------------------------------------------------
# GPX
# ------------------------------------------------------------------------------------------


def load_gpx(data: bytes) -> gpxpy.gpx.GPX:
    """Parse GPX bytes safely: XML checked with defusedxml (no DTD/entities), then gpxpy.

    Raises
    ------
    HostileXMLError
        A DTD, entities or other hostile constructs.
    ParseError
        Not well-formed XML, not UTF-8, or not GPX.
    """
    try:
        DET.fromstring(data, forbid_dtd=True)
    except defusedxml.DefusedXmlException as e:
        msg = f"hostile XML refused ({type(e).__name__})"
        raise HostileXMLError(msg) from e
    except Exception as e:  # noqa: BLE001  (any XML failure is a parse error)
        msg = f"not well-formed XML: {e}"
        raise ParseError(msg) from e
    try:
        return gpxpy.parse(data.decode("utf-8-sig", errors="strict"))
    except UnicodeDecodeError as e:
        msg = f"GPX is not UTF-8: {e}"
        raise ParseError(msg) from e
    except Exception as e:  # noqa: BLE001  gpxpy raises assorted errors on bad files
        msg = f"not a readable GPX file: {e}"
        raise ParseError(msg) from e


def _gpx_point(
    p: gpxpy.gpx.GPXTrackPoint,
    unit: str,
    source: str,
    sha: str,
    locator: Locator | None,
    now: datetime | None,
) -> dict[str, Any]:
    t = p.time
    assert t is not None  # noqa: S101  (points without a time are set aside before)
    when, flags = parse_time(t if t.tzinfo else t.replace(tzinfo=UTC), now=now)
    if when < OLDEST_PLAUSIBLE:
        msg = f"time {when.isoformat()} is implausible for a vehicle tracker (before 2000)"
        raise RecordError(msg)
    loc = locate_coordinates(p.longitude, p.latitude, "wgs84", locator)
    speed = getattr(p, "speed", None)
    extra = {
        "format": "gpx",
        "speed_kmh": None if speed is None else round(float(speed) * 3.6, 2),
        "heading_deg": getattr(p, "course", None),
        "altitude_m": p.elevation,
        "satellites": p.satellites,
    }
    return fix_row(unit, when, loc, source, sha, flags=flags, extra=extra)


def _parse_gpx(
    data: bytes,
    source: str,
    sha: str,
    locator: Locator | None,
    unit_id: str | None,
    now: datetime | None,
) -> ParseResult:
    gpx = load_gpx(data)
    rows: dict[str, dict[str, Any]] = {}
    quarantine: list[QuarantineRow] = []
    for ti, trk in enumerate(gpx.tracks):
        unit = unit_id or (trk.name or "").strip() or _unit_from_source(source)
        name = trk.name or f"trk{ti + 1}"
        for si, seg in enumerate(trk.segments):
            untimed = [k for k, p in enumerate(seg.points) if p.time is None]
            if untimed:
                reason = f"{len(untimed)} of {len(seg.points)} track points have no time"
                record = f"track {name} segment {si + 1}"
                quarantine.append(QuarantineRow(FEED, source, record, reason, sha))
            for k, p in enumerate(seg.points):
                if p.time is None:
                    continue
                record = f"track {name} segment {si + 1} point {k + 1}"
                try:
                    if not unit:
                        msg = "no unit id (pass unit_id, or name the track after the unit)"
                        raise RecordError(msg)
                    row = _gpx_point(p, unit, source, sha, locator, now)
                except RecordError as e:
                    quarantine.append(QuarantineRow(FEED, source, record, str(e), sha))
                    continue
                rows.setdefault(row["natural_key"], row)
    if not gpx.tracks:
        reason = f"GPX has no track ({len(gpx.routes)} routes, {len(gpx.waypoints)} waypoints)"
        quarantine.append(QuarantineRow(FEED, source, "gpx", reason, sha))
    return ParseResult(report_frame(list(rows.values())), quarantine, None)
