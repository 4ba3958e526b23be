"""Shared record validation: times, coordinates and locations.

Every check returns either a value plus warning flags, or raises :class:`RecordError` with a
reason a person can read; parsers turn a `RecordError` into a quarantine row and carry on with
the next record.

Rules
-----
- Times: ISO 8601 (``2025-12-14T08:30:00+08:00``; ``2025-12-14 08:30`` and ``2025/12/14 08:30``
  accepted where a parser allows ``lenient=True``). A time without a zone means Asia/Shanghai.
  Stored in UTC. A time more than a day ahead of ``now`` gets the ``future_time`` flag.
- Coordinates: out of range or exactly (0, 0) -> quarantined. With a region loaded, a point
  outside the region gets ``outside_region``; if swapping lat/lon would put it inside, it also
  gets ``possible_swapped_lat_lon``. Coordinates are never silently swapped.
- Locations: coordinates + datum (``wgs84``/``gcj02``/``bd09``, converted with
  :func:`geo.crs.to_wgs84`, the original kept), road + kilometre post (:func:`geo.stakes.parse_stake`
  then ``locator.network.stake_to_point``) or a place name (``locator.gazetteer.find``). Without a
  locator, kilometre posts and place names are quarantined ("no region loaded to resolve ...").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
from shapely.geometry import Point

from geo.crs import to_wgs84
from geo.stakes import parse_stake

SHANGHAI = ZoneInfo("Asia/Shanghai")
FUTURE_SLACK = timedelta(days=1)
DATUMS = ("wgs84", "gcj02", "bd09")


class RecordError(ValueError):
    """One record is unusable; the message is the quarantine reason."""


class Locator(Protocol):
    """What ingest needs from a region (:class:`geo.region.Region` satisfies it)."""

    network: Any
    gazetteer: Any
    bounds: Any


@dataclass
class Location:
    """A resolved location: WGS84 point plus how it was found."""

    point: Point
    method: str  # coordinates | stake | place
    road_code: str | None = None
    km: float | None = None
    place: str | None = None
    flags: list[str] = field(default_factory=list)
    original: dict[str, Any] = field(default_factory=dict)


_LENIENT = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})")


def parse_time(
    value: Any, *, now: datetime | None = None, lenient: bool = False
) -> tuple[datetime, list[str]]:
    """Parse an ISO 8601 time to tz-aware UTC; naive means Asia/Shanghai.

    Parameters
    ----------
    value
        The text (or a datetime).
    now
        Reference for the ``future_time`` flag (default: the current time).
    lenient
        Also accept ``YYYY/MM/DD HH:MM[:SS]`` and a space instead of ``T``.

    Returns
    -------
    (datetime, flags)

    Raises
    ------
    RecordError
        When `value` is empty or not a recognised time.
    """
    if isinstance(value, datetime):
        dt = value
    else:
        text = "" if value is None else str(value).strip()
        if not text:
            msg = "time is missing"
            raise RecordError(msg)
        if lenient:
            m = _LENIENT.match(text)
            if m:
                y, mo, d = m.groups()
                text = f"{y}-{int(mo):02d}-{int(d):02d}" + text[m.end() :]
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        if not lenient and len(text) > 10 and text[10] not in "Tt":
            msg = f"time {value!r} is not ISO 8601"
            raise RecordError(msg)
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            msg = f"time {value!r} is not ISO 8601"
            raise RecordError(msg) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=SHANGHAI)
    dt = dt.astimezone(UTC)
    flags: list[str] = []
    ref = now or datetime.now(UTC)
    if dt > ref + FUTURE_SLACK:
        flags.append("future_time")
    return dt, flags


def parse_epoch_ms(value: Any, *, now: datetime | None = None) -> tuple[datetime, list[str]]:
    """Parse epoch milliseconds (Waze ``pubMillis``) to UTC."""
    try:
        ms = float(value)
    except (TypeError, ValueError):
        msg = f"epoch milliseconds {value!r} is not a number"
        raise RecordError(msg) from None
    if not math.isfinite(ms) or ms < 0 or ms > 4.1e12:
        msg = f"epoch milliseconds {value!r} out of range"
        raise RecordError(msg)
    dt = datetime.fromtimestamp(ms / 1000.0, UTC)
    return parse_time(dt, now=now)


def to_float(value: Any, what: str) -> float:
    """Return `value` as a finite float or raise `RecordError` naming `what`."""
    if isinstance(value, str):
        value = value.strip()
    try:
        f = float(value)
    except (TypeError, ValueError):
        msg = f"{what} {value!r} is not a number"
        raise RecordError(msg) from None
    if not math.isfinite(f):
        msg = f"{what} {value!r} is not a finite number"
        raise RecordError(msg)
    return f


def check_lonlat(lon: float, lat: float, locator: Locator | None = None) -> list[str]:
    """Validate a WGS84 lon/lat; return warning flags or raise `RecordError`."""
    if not (-180.0 <= lon <= 180.0) or not (-90.0 <= lat <= 90.0):
        hint = " (latitude and longitude swapped?)" if -90 <= lon <= 90 and abs(lat) <= 180 else ""
        msg = f"coordinates lon={lon} lat={lat} out of range{hint}"
        raise RecordError(msg)
    if lon == 0.0 and lat == 0.0:
        msg = "coordinates are (0, 0): no position fix"
        raise RecordError(msg)
    flags: list[str] = []
    if locator is None:
        return flags
    contains = getattr(locator, "contains", None)
    if not callable(contains):
        bounds = getattr(locator, "bounds", None)
        if bounds is None:
            return flags

        def contains(x: float, y: float) -> bool:
            return bool(bounds.covers(Point(x, y)))

    if not contains(lon, lat):
        flags.append("outside_region")
        if -180 <= lat <= 180 and -90 <= lon <= 90 and contains(lat, lon):
            flags.append("possible_swapped_lat_lon")
    return flags


def normalize_datum(datum: str | None) -> str:
    """Return ``wgs84``, ``gcj02`` or ``bd09`` for a datum name; RecordError otherwise."""
    d = (datum or "wgs84").strip().lower().replace("-", "").replace("_", "")
    if d in ("", "wgs84", "wgs", "gps", "epsg4326"):
        d = "wgs84"
    if d not in DATUMS:
        msg = f"unknown datum {datum!r} (expected wgs84, gcj02 or bd09)"
        raise RecordError(msg)
    return d


ConversionCache = dict[tuple[str, float, float], tuple[float, float]]


def convert_many(points: list[tuple[Any, Any, str | None]]) -> ConversionCache:
    """Convert many GCJ-02/BD-09 points at once (vectorised) into a cache.

    The cache is for :func:`locate_coordinates`. Unusable points are left out (they fail later,
    one by one).
    """
    groups: dict[str, list[tuple[float, float]]] = {}
    for lon, lat, datum in points:
        try:
            d = normalize_datum(datum)
            x, y = to_float(lon, "longitude"), to_float(lat, "latitude")
        except RecordError:
            continue
        if d != "wgs84" and -180 <= x <= 180 and -90 <= y <= 90:
            groups.setdefault(d, []).append((x, y))
    cache: ConversionCache = {}
    for d, pts in groups.items():
        xs = np.array([p[0] for p in pts])
        ys = np.array([p[1] for p in pts])
        try:
            wx, wy = to_wgs84(xs, ys, d)
        except ValueError:
            continue
        for (x, y), a, b in zip(pts, np.atleast_1d(wx), np.atleast_1d(wy), strict=True):
            cache[(d, x, y)] = (float(a), float(b))
    return cache


def locate_coordinates(
    lon: Any,
    lat: Any,
    datum: str | None,
    locator: Locator | None = None,
    cache: ConversionCache | None = None,
) -> Location:
    """Resolve coordinates in `datum` to a WGS84 location (original kept in ``original``)."""
    x = to_float(lon, "longitude")
    y = to_float(lat, "latitude")
    d = normalize_datum(datum)
    check_lonlat(x, y)  # range and (0,0) on the raw values
    original = {"lon": x, "lat": y, "datum": d}
    if d != "wgs84":
        hit = cache.get((d, x, y)) if cache else None
        if hit is not None:
            x, y = hit
        else:
            try:
                wx, wy = to_wgs84(x, y, d)
            except ValueError as e:
                msg = f"cannot convert ({x}, {y}) from {d}: {e}"
                raise RecordError(msg) from e
            x, y = float(wx), float(wy)
    flags = check_lonlat(x, y, locator)
    return Location(Point(x, y), "coordinates", flags=flags, original=original)


def locate_stake(text: str, locator: Locator | None, road_code: str | None = None) -> Location:
    """Resolve a road + kilometre post (``G331 K1520+300``) on the region's network."""
    if locator is None:
        msg = f"no region loaded to resolve the kilometre post {text!r}"
        raise RecordError(msg)
    try:
        stake = parse_stake(text)
    except ValueError as e:
        msg = f"kilometre post {text!r} cannot be read: {e}"
        raise RecordError(msg) from e
    road = stake.road_code or road_code
    if not road:
        msg = f"kilometre post {text!r} names no road"
        raise RecordError(msg)
    try:
        pt = locator.network.stake_to_point(road, stake.km)
    except (KeyError, ValueError) as e:
        msg = f"kilometre post {text!r} not on the network: {e}"
        raise RecordError(msg) from e
    return Location(
        Point(pt.x, pt.y), "stake", road_code=road, km=float(stake.km), original={"stake": text}
    )


def locate_place(name: str, locator: Locator | None) -> Location:
    """Resolve a place name (banner, league, town) with the gazetteer (its seat point)."""
    if locator is None:
        msg = f"no region loaded to resolve the place name {name!r}"
        raise RecordError(msg)
    try:
        place = locator.gazetteer.find(name)
    except (KeyError, ValueError) as e:
        msg = f"place name {name!r} not in the gazetteer"
        raise RecordError(msg) from e
    return Location(
        Point(float(place.lon), float(place.lat)),
        "place",
        place=str(getattr(place, "name_zh", name) or name),
        flags=["place_only"],
        original={"place": name},
    )


_PHONE_DIGITS = re.compile(r"\d")
_PHONE_JUNK = re.compile(r"[\s\-()+]")


def mask_phone(phone: Any) -> str | None:
    """Mask a phone number: keep the first 3 and last 4 digits (``138****5678``)."""
    if phone is None:
        return None
    s = _PHONE_JUNK.sub("", str(phone))
    if not s or s.lower() == "nan":
        return None
    if len(s) == 13 and s.startswith("86"):  # +86 country code before a mobile number
        s = s[2:]
    if len(s) <= 4:
        return "*" * len(s)
    if len(s) <= 7:
        return "*" * (len(s) - 4) + s[-4:]
    return s[:3] + "*" * (len(s) - 7) + s[-4:]
