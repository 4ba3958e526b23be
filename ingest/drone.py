"""Drone patrol reports: flight tracks and detections, a pure parser of bytes.

Tracks
------
- GPX 1.0 / 1.1 (:mod:`gpxpy`; BOM, empty segments, missing times, Garmin extensions). The XML
  is first checked with :mod:`defusedxml` (no DTD or entities).
- AirData CSV exports (``latitude``, ``longitude``, ``datetime(utc)``, ``height_above_takeoff(feet)``,
  ``speed(mph)``; header names with leading spaces, text in numeric columns, quoted commas).
- DJI TXT-log CSV exports (``OSD.latitude``, ``OSD.longitude``, ``CUSTOM.updateTime [local]``,
  ``OSD.height [ft]``, ``OSD.hSpeed [MPH]`` ...; local times are Asia/Shanghai).
- Bytes that are not UTF-8 are decoded by charset detection and flagged ``non_utf8_bytes``
  (:func:`ingest.decoding.decode_text`). A few stray bytes (a 0xA0 in a free-text tip cell)
  are replaced by U+FFFD and the track is kept, flagged ``stray_bytes`` with
  ``attributes.stray_bytes`` (how many) and ``attributes.stray_lines``: the numeric columns
  decide, so a row whose coordinates hold one is dropped like any other unreadable row.

Each track gives one report (kind ``drone_track``, natural key ``track:<sha[:16]>:<n>``) with a
LineString; points out of range or at (0,0) are dropped (counted in ``attributes.dropped_points``).
``attributes``: flight_id, points, length_km, road_km (road-km patrolled: length of the parts
within the snap tolerance of a road, when a region is loaded, else None), segment_ids,
max_height_m, max_speed_kmh, format.

Detections (GeoJSON FeatureCollection or CSV)
--------------------------------------------
============== ===========================================================================
detection_id    required, unique within the flight
flight_id       required
drone_id        optional
type            black_ice | snow_drift | snow_packed | whiteout | stranded_vehicle | crash |
                vehicle_in_ditch | road_blocked
confidence      0..1
time            ISO 8601 (naive = Asia/Shanghai)
lon, lat        WGS84 (CSV columns; GeoJSON uses the Point geometry); optional ``datum``
photo           optional photo reference
============== ===========================================================================

Natural key ``<flight_id>:<detection_id>``; report kind ``drone_detection``, subtype = type.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from pyproj import Geod
from shapely.geometry import LineString

from ingest.avl import load_gpx
from ingest.decoding import Decoded, decode_text
from ingest.errors import ParseError
from ingest.records import (
    Classified,
    ParseResult,
    QuarantineRow,
    excerpt,
    load_csv,
    load_json,
    report_frame,
    sha256_hex,
)
from ingest.validate import (
    Locator,
    RecordError,
    check_lonlat,
    locate_coordinates,
    parse_time,
    to_float,
)

FEED = "drone"
DETECTION_TYPES = frozenset(
    {
        "black_ice",
        "snow_drift",
        "snow_packed",
        "whiteout",
        "stranded_vehicle",
        "crash",
        "vehicle_in_ditch",
        "road_blocked",
    }
)
DETECTION_MEANS: dict[str, Classified] = {
    "black_ice": Classified("black_ice"),
    "ice": Classified("black_ice"),
    "snow_drift": Classified("drifting_snow"),
    "drifting_snow": Classified("drifting_snow"),
    "snow_packed": Classified("snow_packed"),
    "whiteout": Classified("poor_visibility"),
    "poor_visibility": Classified("poor_visibility"),
    "fog": Classified("poor_visibility"),
    "closed": Classified("closed"),
    "road_blocked": Classified("closed", "road_blocked"),
    "stranded_vehicle": Classified(None, "stranded"),
    "crash": Classified(None, "crash"),
    "vehicle_in_ditch": Classified(None, "vehicle_in_ditch"),
    "clear": Classified(clear=True),
}
"""What a detection type says about the road (also read for patrol reports' words)."""
FT = 0.3048
MPH = 1.609344
OLDEST_PLAUSIBLE = datetime(2000, 1, 1).astimezone()
_GEOD = Geod(ellps="WGS84")


def classify_drone(kind: str, subtype: str, attributes: Mapping[str, Any]) -> Classified:
    """Say what a drone report means: a detection by its type; a track says nothing.

    Parameters
    ----------
    kind
        ``drone_detection`` or ``drone_track``.
    subtype
        The detection type (``black_ice``, ``stranded_vehicle`` ...).
    attributes
        The report's attributes (not read).
    """
    if kind != "drone_detection":
        return Classified()
    return DETECTION_MEANS.get(subtype.strip().lower(), Classified())


def parse_drone(
    data: bytes, source: str, locator: Locator | None = None, *, now: datetime | None = None
) -> ParseResult:
    """Parse a drone payload: GPX, AirData CSV, DJI TXT-log CSV, or detections (GeoJSON/CSV).

    Raises
    ------
    ParseError
        The payload is none of the supported formats (the message says what was seen).
    HostileXMLError
        GPX with a DTD or entities.
    """
    sha = sha256_hex(data)
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return _parse_gpx(data, source, sha, locator, now)
    if head.startswith((b"{", b"[")):
        return _parse_detections_geojson(data, source, sha, locator, now)
    decoded = decode_text(data)
    rows = load_csv(decoded.text, source)
    header = [h.strip() for h in rows[0]]
    lower = {h.lower() for h in header}
    if {"latitude", "longitude"} <= lower and any("datetime" in h or "time(" in h for h in lower):
        return _parse_track_csv(header, rows[1:], source, sha, locator, now, "airdata", decoded)
    if "osd.latitude" in lower and "osd.longitude" in lower:
        return _parse_track_csv(header, rows[1:], source, sha, locator, now, "dji_txt", decoded)
    if {"detection_id", "flight_id", "type"} <= lower:
        return _parse_detections_csv(header, rows[1:], source, sha, locator, now)
    msg = f"{source!r}: CSV header {excerpt(','.join(header), 120)!r} is not a known drone format"
    raise ParseError(msg)


# ------------------------------------------------------------------------------------ tracks


def _track_row(
    coords: list[tuple[float, float]],
    times: list[datetime],
    n: int,
    source: str,
    sha: str,
    locator: Locator | None,
    now: datetime | None,
    attrs: dict[str, Any],
    flags: list[str],
) -> dict[str, Any]:
    if len(coords) < 2:
        msg = f"track {n}: fewer than 2 usable points"
        raise RecordError(msg)
    if not times:
        msg = f"track {n}: no timestamps, so no time to place the patrol"
        raise RecordError(msg)
    t0 = min(times)
    _, tflags = parse_time(t0, now=now)
    flags = flags + tflags
    if t0 < OLDEST_PLAUSIBLE:
        flags.append("implausible_time")
    line = LineString(coords)
    xs, ys = np.asarray(line.xy[0]), np.asarray(line.xy[1])
    length_km = float(_GEOD.line_length(xs, ys)) / 1000.0
    road_km, segment_ids = road_km_patrolled(xs, ys, locator)
    if locator is not None and getattr(locator, "bounds", None) is not None:
        if not locator.bounds.intersects(line):
            flags.append("outside_region")
    attrs = {
        **attrs,
        "points": len(coords),
        "length_km": round(length_km, 3),
        "road_km": road_km,
        "segment_ids": segment_ids,
        "ended_at": max(times).isoformat(),
    }
    return {
        "kind": "drone_track",
        "natural_key": f"track:{sha[:16]}:{n}",
        "source": source,
        "raw_sha256": sha,
        "observed_at": t0,
        "subtype": "track",
        "confidence": None,
        "road_code": None,
        "km": None,
        "place": None,
        "flags": flags,
        "attributes": attrs,
        "geometry": line,
    }


def road_km_patrolled(
    xs: np.ndarray, ys: np.ndarray, locator: Locator | None, step_m: float = 100.0
) -> tuple[float | None, list[str]]:
    """Road-km of a track: length of its pieces whose both ends snap to a road segment.

    The track is densified to about `step_m`; returns (km, distinct segment ids) or
    (None, []) without a region.
    """
    if locator is None or len(xs) < 2:
        return None, []
    px: list[float] = []
    py: list[float] = []
    for i in range(len(xs) - 1):
        d = _GEOD.inv(xs[i], ys[i], xs[i + 1], ys[i + 1])[2]
        k = max(1, int(math.ceil(d / step_m)))
        for j in range(k):
            px.append(xs[i] + (xs[i + 1] - xs[i]) * j / k)
            py.append(ys[i] + (ys[i + 1] - ys[i]) * j / k)
    px.append(float(xs[-1]))
    py.append(float(ys[-1]))
    snapped = locator.network.snap(np.asarray(px), np.asarray(py))
    seg = snapped["segment_id"].tolist()
    total = 0.0
    for i in range(len(px) - 1):
        if (
            seg[i] is not None
            and seg[i + 1] is not None
            and seg[i] == seg[i]
            and seg[i + 1] == seg[i + 1]
        ):
            total += _GEOD.inv(px[i], py[i], px[i + 1], py[i + 1])[2]
    ids = sorted({s for s in seg if isinstance(s, str)})
    return round(total / 1000.0, 3), ids


def _parse_gpx(
    data: bytes, source: str, sha: str, locator: Locator | None, now: datetime | None
) -> ParseResult:
    gpx = load_gpx(data)  # defused XML check, then gpxpy (shared with the AVL feed)
    rows: list[dict[str, Any]] = []
    quarantine: list[QuarantineRow] = []
    n = 0
    tracks: list[tuple[str, list[Any]]] = []
    for ti, trk in enumerate(gpx.tracks):
        pts = [p for seg in trk.segments for p in seg.points]
        tracks.append((trk.name or f"trk{ti + 1}", pts))
    for ri, rte in enumerate(gpx.routes):
        tracks.append((rte.name or f"rte{ri + 1}", list(rte.points)))
    for name, pts in tracks:
        n += 1
        coords: list[tuple[float, float]] = []
        times: list[datetime] = []
        dropped = 0
        for p in pts:
            try:
                check_lonlat(float(p.longitude), float(p.latitude))
            except (RecordError, TypeError, ValueError):
                dropped += 1
                continue
            coords.append((float(p.longitude), float(p.latitude)))
            if p.time is not None:
                try:
                    times.append(parse_time(p.time)[0])
                except RecordError:
                    pass
        attrs = {
            "flight_id": str(name),
            "format": f"gpx{gpx.version or ''}",
            "dropped_points": dropped,
            "max_height_m": None,
            "max_speed_kmh": None,
        }
        if not times and gpx.time is not None:
            times = [parse_time(gpx.time)[0]]
        try:
            rows.append(_track_row(coords, times, n, source, sha, locator, now, attrs, []))
        except RecordError as e:
            quarantine.append(QuarantineRow(FEED, source, f"track {n} {name}", str(e), sha))
    if n == 0:
        quarantine.append(
            QuarantineRow(
                FEED,
                source,
                "gpx",
                f"GPX has no track or route ({len(gpx.waypoints)} waypoints only)",
                sha,
            )
        )
    return ParseResult(report_frame(rows), quarantine, None)


def _col(header: list[str], *names: str) -> int | None:
    low = [h.lower() for h in header]
    for name in names:
        if name in low:
            return low.index(name)
    for name in names:
        for i, h in enumerate(low):
            if h.startswith(name):
                return i
    return None


def _num(row: list[str], i: int | None) -> float | None:
    if i is None or i >= len(row):
        return None
    try:
        v = float(row[i].strip())
    except ValueError:
        return None
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class _TrackColumns:
    """Where a track CSV keeps its values, and the factors to metres and km/h."""

    lat: int | None
    lon: int | None
    time: int | None
    date: int | None
    height: int | None
    speed: int | None
    utc: bool
    h_factor: float
    s_factor: float


def _track_columns(header: list[str], fmt: str) -> _TrackColumns:
    if fmt == "airdata":
        ilat, ilon = _col(header, "latitude"), _col(header, "longitude")
        itime = _col(header, "datetime(utc)", "datetime")
        idate = None
        ih = _col(header, "height_above_takeoff(feet)", "height_above_takeoff(meters)")
        isp = _col(header, "speed(mph)", "speed(km/h)", "speed(m/s)")
    else:
        ilat, ilon = _col(header, "osd.latitude"), _col(header, "osd.longitude")
        itime = _col(header, "custom.updatetime [local]", "custom.updatetime", "custom.datetime")
        ih = _col(header, "osd.height [ft]", "osd.height [m]", "osd.height")
        isp = _col(
            header, "osd.hspeed [mph]", "osd.hspeed [km/h]", "osd.hspeed [m/s]", "osd.hspeed"
        )
        idate = _col(header, "custom.date [local]", "custom.date")
    h_unit = header[ih].lower() if ih is not None else ""
    s_unit = header[isp].lower() if isp is not None else ""
    return _TrackColumns(
        ilat,
        ilon,
        itime,
        idate,
        ih,
        isp,
        utc=fmt == "airdata",
        h_factor=FT if ("feet" in h_unit or "[ft]" in h_unit) else 1.0,
        s_factor=MPH if "mph" in s_unit else (3.6 if "m/s" in s_unit else 1.0),
    )


def _row_time(row: list[str], cols: _TrackColumns) -> str | None:
    """Return the time text of a track row (date column prefixed, UTC marked), or None."""
    itime, idate = cols.time, cols.date
    if itime is None or itime >= len(row) or not row[itime].strip():
        return None
    t = row[itime].strip()
    if idate is not None and idate < len(row) and row[idate].strip() and len(t) <= 15:
        t = f"{row[idate].strip()} {t}"
    if cols.utc and not t.endswith(("Z", "z")) and "+" not in t[10:]:
        t += "+00:00"
    return t


def _usable(lon: float, lat: float) -> bool:
    try:
        check_lonlat(lon, lat)
    except RecordError:
        return False
    return True


def _parse_track_csv(
    header: list[str],
    rows: list[list[str]],
    source: str,
    sha: str,
    locator: Locator | None,
    now: datetime | None,
    fmt: str,
    decoded: Decoded,
) -> ParseResult:
    cols = _track_columns(header, fmt)
    coords: list[tuple[float, float]] = []
    times: list[datetime] = []
    dropped = 0
    bad_values = 0
    heights: list[float] = []
    speeds: list[float] = []
    for row in rows:
        if not any(c.strip() for c in row):
            continue
        lat, lon = _num(row, cols.lat), _num(row, cols.lon)
        if lat is None or lon is None or not _usable(lon, lat):
            dropped += 1
            continue
        if not coords or coords[-1] != (lon, lat):
            coords.append((lon, lat))
        t = _row_time(row, cols)
        if t is not None:
            try:
                times.append(parse_time(t, lenient=True)[0])
            except RecordError:
                bad_values += 1
        for idx, fac, out in (
            (cols.height, cols.h_factor, heights),
            (cols.speed, cols.s_factor, speeds),
        ):
            v = _num(row, idx)
            if v is None and idx is not None and idx < len(row) and row[idx].strip():
                bad_values += 1
            elif v is not None:
                out.append(v * fac)
    attrs = {
        "flight_id": f"{fmt}-{sha[:12]}",
        "format": fmt,
        "dropped_points": dropped,
        "non_numeric_values": bad_values,
        "max_height_m": round(max(heights), 1) if heights else None,
        "max_speed_kmh": round(max(speeds), 1) if speeds else None,
    }
    if decoded.stray:
        attrs["stray_bytes"] = decoded.stray
        attrs["stray_lines"] = list(decoded.stray_lines)
    try:
        row_out = _track_row(coords, times, 1, source, sha, locator, now, attrs, decoded.flags)
    except RecordError as e:
        return ParseResult(report_frame([]), [QuarantineRow(FEED, source, "track 1", str(e), sha)])
    return ParseResult(report_frame([row_out]), [], None)


# -------------------------------------------------------------------------------- detections


def _detection(
    rec: dict[str, Any],
    lon: Any,
    lat: Any,
    source: str,
    sha: str,
    locator: Locator | None,
    now: datetime | None,
) -> dict[str, Any]:
    det_id = str(rec.get("detection_id") or "").strip()
    flight = str(rec.get("flight_id") or "").strip()
    if not det_id or not flight:
        msg = "detection lacks detection_id or flight_id"
        raise RecordError(msg)
    typ = str(rec.get("type") or "").strip().lower()
    if typ not in DETECTION_TYPES:
        msg = (
            f"detection type {rec.get('type')!r} is not one of {', '.join(sorted(DETECTION_TYPES))}"
        )
        raise RecordError(msg)
    conf_raw = rec.get("confidence")
    conf = None
    if conf_raw not in (None, ""):
        conf = to_float(conf_raw, "confidence")
        if not 0.0 <= conf <= 1.0:
            msg = f"confidence {conf_raw!r} outside 0..1"
            raise RecordError(msg)
    when, tflags = parse_time(rec.get("time"), now=now, lenient=True)
    loc = locate_coordinates(lon, lat, rec.get("datum") or None, locator)
    attrs: dict[str, Any] = {
        "flight_id": flight,
        "detection_id": det_id,
        "drone_id": (str(rec["drone_id"]).strip() or None) if rec.get("drone_id") else None,
        "photo": (str(rec["photo"]).strip() or None) if rec.get("photo") else None,
    }
    if loc.original.get("datum") not in (None, "wgs84"):
        attrs["original"] = loc.original
    return {
        "kind": "drone_detection",
        "natural_key": f"{flight}:{det_id}",
        "source": source,
        "raw_sha256": sha,
        "observed_at": when,
        "subtype": typ,
        "confidence": conf,
        "road_code": None,
        "km": None,
        "place": None,
        "flags": tflags + loc.flags,
        "attributes": attrs,
        "geometry": loc.point,
    }


def _parse_detections_csv(
    header: list[str],
    rows: list[list[str]],
    source: str,
    sha: str,
    locator: Locator | None,
    now: datetime | None,
) -> ParseResult:
    keys = [h.strip().lower() for h in header]
    out: list[dict[str, Any]] = []
    quarantine: list[QuarantineRow] = []
    for i, row in enumerate(rows, start=2):
        if not any(c.strip() for c in row):
            continue
        rec = dict(zip(keys, (c.strip() for c in row), strict=False))
        try:
            out.append(_detection(rec, rec.get("lon"), rec.get("lat"), source, sha, locator, now))
        except RecordError as e:
            quarantine.append(
                QuarantineRow(FEED, source, f"line {i}: {excerpt(','.join(row), 160)}", str(e), sha)
            )
    return ParseResult(report_frame(out), quarantine, None)


def _parse_detections_geojson(
    data: bytes, source: str, sha: str, locator: Locator | None, now: datetime | None
) -> ParseResult:
    doc = load_json(data)
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(feats, list):
        msg = f"{source!r} is not a GeoJSON FeatureCollection of detections"
        raise ParseError(msg)
    out: list[dict[str, Any]] = []
    quarantine: list[QuarantineRow] = []
    for i, f in enumerate(feats):
        try:
            if not isinstance(f, dict):
                raise RecordError("feature is not an object")  # noqa: TRY301
            p_any = f.get("properties")
            props: dict[str, Any] = p_any if isinstance(p_any, dict) else {}
            g_any = f.get("geometry")
            g: dict[str, Any] = g_any if isinstance(g_any, dict) else {}
            c = g.get("coordinates") if g.get("type") == "Point" else None
            if not isinstance(c, list) or len(c) < 2:
                raise RecordError("detection has no Point geometry")  # noqa: TRY301
            out.append(_detection(props, c[0], c[1], source, sha, locator, now))
        except RecordError as e:
            quarantine.append(
                QuarantineRow(
                    FEED,
                    source,
                    f"feature #{i + 1} {excerpt(json.dumps(f, ensure_ascii=False, default=str), 160)}",
                    str(e),
                    sha,
                )
            )
    return ParseResult(report_frame(out), quarantine, None)
