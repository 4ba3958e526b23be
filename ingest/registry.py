"""The feed registry: one line per feed kind, naming its parser and the report kinds it makes.

``winterops ingest KIND SOURCE``, the worker and the admin page's feed list all read
:data:`FEEDS` (``KINDS`` is its keys, in order). A new feed is one parser module plus one
line here::

    "avl": Feed("avl", _avl, ("avl",), "unit positions: CSV/JSON fixes, NMEA 0183, GPX"),

Every parser is called through :func:`parse_payload` with the same options; each adapter
takes the ones it understands (``mapping``: calls; ``zones``: alerts; ``unit_id``: avl).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from shapely.geometry.base import BaseGeometry

from ingest.avl import parse_avl
from ingest.calls import CallMapping, parse_calls
from ingest.cap import parse_cap
from ingest.drone import parse_drone
from ingest.errors import ConfigError
from ingest.nws import parse_nws
from ingest.records import ParseResult
from ingest.validate import Locator
from ingest.waze import parse_waze

__all__ = [
    "FEEDS",
    "KINDS",
    "Feed",
    "ParseOptions",
    "parse_alerts",
    "parse_payload",
    "report_kinds",
]


@dataclass(frozen=True)
class ParseOptions:
    """Options a parser may use (each adapter reads only its own)."""

    mapping: CallMapping | None = None
    zones: Mapping[str, BaseGeometry] | None = None
    now: datetime | None = None
    unit_id: str | None = None


Parser = Callable[[bytes, str, "Locator | None", ParseOptions], ParseResult]


@dataclass(frozen=True)
class Feed:
    """One feed kind: its name, parser adapter, the report kinds it stores, a description."""

    name: str
    parse: Parser
    report_kinds: tuple[str, ...]
    description: str


def parse_alerts(
    data: bytes,
    source: str,
    locator: Locator | None = None,
    *,
    now: datetime | None = None,
    zones: Mapping[str, BaseGeometry] | None = None,
) -> ParseResult:
    """Parse a weather-alert payload: CAP XML, or NWS-style GeoJSON when it starts with ``{``."""
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"{", b"[")):
        return parse_nws(data, source, locator, now=now, zones=zones)
    return parse_cap(data, source, locator, now=now, zones=zones)


def _alerts(data: bytes, source: str, loc: Locator | None, o: ParseOptions) -> ParseResult:
    return parse_alerts(data, source, loc, now=o.now, zones=o.zones)


def _drone(data: bytes, source: str, loc: Locator | None, o: ParseOptions) -> ParseResult:
    return parse_drone(data, source, loc, now=o.now)


def _calls(data: bytes, source: str, loc: Locator | None, o: ParseOptions) -> ParseResult:
    return parse_calls(data, source, loc, mapping=o.mapping, now=o.now)


def _waze(data: bytes, source: str, loc: Locator | None, o: ParseOptions) -> ParseResult:
    return parse_waze(data, source, loc, now=o.now)


def _avl(data: bytes, source: str, loc: Locator | None, o: ParseOptions) -> ParseResult:
    return parse_avl(data, source, loc, unit_id=o.unit_id, now=o.now)


FEEDS: dict[str, Feed] = {
    f.name: f
    for f in (
        Feed("alerts", _alerts, ("alert",), "weather alerts: CAP 1.x XML, NWS-style GeoJSON"),
        Feed(
            "drone",
            _drone,
            ("drone_detection", "drone_track"),
            "drone tracks (GPX, AirData CSV) and detections (GeoJSON, CSV)",
        ),
        Feed("calls", _calls, ("call",), "call-centre exports (CSV, JSON)"),
        Feed("waze", _waze, ("waze",), "Waze for Cities partner feed"),
        Feed("avl", _avl, ("avl",), "unit positions: CSV/JSON fixes, NMEA 0183, GPX"),
    )
}
"""Feed kind -> :class:`Feed`."""

KINDS: tuple[str, ...] = tuple(FEEDS)
"""The feed kinds, in registry order."""


def report_kinds(kind: str) -> tuple[str, ...]:
    """Report kinds a feed kind stores (ConfigError if the feed kind is unknown)."""
    return _feed(kind).report_kinds


def _feed(kind: str) -> Feed:
    feed = FEEDS.get(kind)
    if feed is None:
        msg = f"unknown feed kind {kind!r}; expected one of {', '.join(KINDS)}"
        raise ConfigError(msg)
    return feed


def parse_payload(
    kind: str,
    data: bytes,
    source: str,
    locator: Locator | None = None,
    *,
    mapping: CallMapping | None = None,
    zones: Mapping[str, BaseGeometry] | None = None,
    now: datetime | None = None,
    unit_id: str | None = None,
) -> ParseResult:
    """Parse `data` with the parser of `kind` (a registry lookup; ConfigError if unknown)."""
    options = ParseOptions(mapping=mapping, zones=zones, now=now, unit_id=unit_id)
    return _feed(kind).parse(data, source, locator, options)
