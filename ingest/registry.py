"""The source registry: one line per source, naming all that is known about it.

Each :class:`Feed` names a source's parser, the report kinds it stores, its command-line help
and extra options, and, for sources whose reports are evidence about the roads, an
:class:`Evidence`: the evidence source name, reliability, half-life, classifier (what a report
says about the road: :class:`~ingest.records.Classified`), which report kinds are point
evidence, and labels (zh, en) of its report kinds.

Everything reads it: ``winterops ingest KIND`` (one command per feed, its help and options),
the worker and the admin page's feed list (:data:`KINDS`), and fusion
(:mod:`incidents.fusion.conditions.kinds`: reliabilities, half-lives, classification, point
kinds). A new feed is one module (parser + classifier) plus one line in :data:`SOURCES`::

    Feed("waze", _waze, ("waze",), "Waze for Cities partner feed alerts.",
         evidence=Evidence("waze", 0.5, 1.0, classify_waze, ("waze",), {"waze": ("Waze", "Waze report")})),

Patrol reports have no feed (the patrol page stores them) but are a source: their line has no
parser. Every parser is called through :func:`parse_payload` with the same options; each
adapter takes the ones it understands (``mapping``: calls; ``zones``: alerts; ``unit_id``: avl).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shapely.geometry.base import BaseGeometry

from ingest.avl import parse_avl
from ingest.calls import CallMapping, classify_call, parse_calls
from ingest.cap import parse_cap
from ingest.drone import classify_drone, parse_drone
from ingest.errors import ConfigError
from ingest.nws import parse_nws
from ingest.patrol import classify_patrol
from ingest.records import Classified, ParseResult
from ingest.validate import Locator
from ingest.waze import classify_waze, parse_waze

__all__ = [
    "EVIDENCE",
    "FEEDS",
    "KINDS",
    "SOURCES",
    "Classifier",
    "Evidence",
    "Feed",
    "ParseOptions",
    "classify",
    "evidence_of",
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
Classifier = Callable[[str, str, Mapping[str, Any]], Classified]
"""(report kind, subtype, attributes) -> what the report says about the road."""


@dataclass(frozen=True)
class Evidence:
    """What fusion knows of a source's reports.

    Attributes
    ----------
    source
        Evidence source name (``drone``, ``call``, ``waze``, ``patrol``, ``alert``): the key of
        reliabilities and of the half-lives in the settings.
    reliability
        How far a report of this source is believed, 0..1.
    half_life_h
        Default half-life of its evidence in hours (the settings may override it).
    classify
        Its classifier, or None when its reports are not read one by one (alerts).
    point_kinds
        Report kinds read as point evidence on the nearest road.
    labels
        Report kind -> (zh, en) label.
    """

    source: str
    reliability: float
    half_life_h: float
    classify: Classifier | None = None
    point_kinds: tuple[str, ...] = ()
    labels: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Feed:
    """One source: its name, parser adapter, the report kinds it stores, help and evidence.

    ``parse`` is None for a source without a feed (patrol reports); ``options`` names the
    extra command-line options its ``winterops ingest`` command takes (``mapping``, ``zones``).
    """

    name: str
    parse: Parser | None
    report_kinds: tuple[str, ...]
    description: str
    options: tuple[str, ...] = ()
    evidence: Evidence | None = None


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


# fmt: off
SOURCES: tuple[Feed, ...] = (
    Feed("alerts", _alerts, ("alert",), "CAP 1.0/1.1/1.2 XML or NWS GeoJSON weather alerts.",
         ("zones",), Evidence("alert", 0.5, 12.0, None, (), {"alert": ("预警", "weather alert")})),
    Feed("drone", _drone, ("drone_detection", "drone_track"),
         "Drone tracks (GPX, AirData CSV, DJI CSV) and detections (GeoJSON/CSV).", (),
         Evidence("drone", 0.9, 3.0, classify_drone, ("drone_detection",),
                  {"drone_detection": ("无人机发现", "drone detection"),
                   "drone_track": ("无人机巡查", "drone pass")})),
    Feed("calls", _calls, ("call",), "Stranded-vehicle calls (CSV in UTF-8/GBK/GB18030, or JSON).",
         ("mapping",), Evidence("call", 0.6, 2.0, classify_call, ("call",),
                                {"call": ("报警电话", "call")})),
    Feed("waze", _waze, ("waze",), "Waze for Cities partner feed alerts.", (),
         Evidence("waze", 0.5, 1.0, classify_waze, ("waze",), {"waze": ("Waze", "Waze report")})),
    Feed("avl", _avl, ("avl",),
         "Unit positions (AVL fixes: CSV/JSON, NMEA or GPX from a vehicle tracker)."),
    Feed("patrol", None, ("patrol",), "Patrol reports from the tablet (no feed).", (),
         Evidence("patrol", 0.95, 3.0, classify_patrol, ("patrol",),
                  {"patrol": ("巡逻上报", "patrol report")})),
)
# fmt: on
"""Every source, in order: the feeds, then sources without a feed."""

FEEDS: dict[str, Feed] = {f.name: f for f in SOURCES if f.parse is not None}
"""Feed kind -> :class:`Feed` (sources with a parser)."""

KINDS: tuple[str, ...] = tuple(FEEDS)
"""The feed kinds, in registry order."""

EVIDENCE: dict[str, Evidence] = {f.evidence.source: f.evidence for f in SOURCES if f.evidence}
"""Evidence source name -> :class:`Evidence`."""

_BY_REPORT_KIND: dict[str, Evidence] = {
    k: f.evidence for f in SOURCES if f.evidence for k in f.report_kinds
}


def evidence_of(report_kind: str) -> Evidence | None:
    """Return the :class:`Evidence` of the source that stores `report_kind`, or None."""
    return _BY_REPORT_KIND.get(report_kind)


def classify(kind: str, subtype: str | None, attributes: Mapping[str, Any] | None) -> Classified:
    """Say what a report means for the road, by its source's classifier (nothing if it has none).

    Parameters
    ----------
    kind
        Report kind (``drone_detection``, ``call``, ``waze``, ``patrol`` ...).
    subtype
        The report's subtype (drone detection type, Waze subtype, call type, patrol condition).
    attributes
        The report's attributes (calls: ``event_type`` or ``notes``; Waze: ``type``).
    """
    evidence = _BY_REPORT_KIND.get(kind)
    if evidence is None or evidence.classify is None:
        return Classified()
    return evidence.classify(kind, (subtype or "").strip(), attributes or {})


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
    parse = _feed(kind).parse
    assert parse is not None  # FEEDS holds only sources with a parser
    return parse(data, source, locator, options)
