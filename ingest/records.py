"""Records every parser returns: report frames, alert frames and quarantine rows.

Schemas
-------
Report frame (`REPORT_COLUMNS`, a GeoDataFrame in EPSG:4326), one row per observation:

========== ===================================================================================
kind        ``alert`` | ``drone_detection`` | ``drone_track`` | ``call`` | ``waze``
natural_key unique within its kind: CAP ``sender,identifier,sent``; drone ``flight:detection``;
            call id; waze uuid. Re-ingesting the same key adds nothing.
source      file path or URL the payload came from
raw_sha256  sha256 of the raw payload (the archive key)
observed_at tz-aware UTC timestamp (naive input times are Asia/Shanghai)
subtype     ``black_ice``, ``stranded_vehicle``, ``WEATHERHAZARD``, ``blizzard`` ...
confidence  0..1 or None
road_code   road code when the location was a kilometre post (or snapped), else None
km          kilometre along ``road_code``, else None
place       place name or admin code the location came from, else None
flags       list of warnings: ``outside_region``, ``possible_swapped_lat_lon``,
            ``future_time`` ...
attributes  dict of source-specific fields (documented in each parser module)
geometry    WGS84 Point / LineString / Polygon (None only for a CAP Cancel without an area)
========== ===================================================================================

Alert frame (`ALERT_COLUMNS`): see :mod:`ingest.cap`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from ingest.errors import ParseError

WGS84 = CRS.from_epsg(4326)  # immutable; built once (parsing the string each time is slow)

REPORT_COLUMNS: tuple[str, ...] = (
    "kind",
    "natural_key",
    "source",
    "raw_sha256",
    "observed_at",
    "subtype",
    "confidence",
    "road_code",
    "km",
    "place",
    "flags",
    "attributes",
    "geometry",
)

ALERT_COLUMNS: tuple[str, ...] = (
    "natural_key",
    "sender",
    "identifier",
    "sent",
    "msg_type",
    "status",
    "references",
    "event",
    "hazard_class",
    "severity",
    "colour",
    "onset",
    "expires",
    "headline",
    "description",
    "language",
    "infos",
    "area_codes",
    "temperature_c",
    "wind_kmh",
    "geometry",
)


ROAD_CONDITIONS: tuple[str, ...] = (
    "closed", "black_ice", "drifting_snow", "snow_packed", "poor_visibility", "clear",
)  # fmt: skip
"""Road conditions a report can name, worst first (the store's ``Condition`` values)."""


@dataclass(frozen=True)
class Classified:
    """What one report says about the road: a condition, an incident kind, or that it is clear.

    Each source's classifier (named in :mod:`ingest.registry`) returns one.
    """

    condition: str | None = None
    incident: str | None = None
    clear: bool = False


@dataclass
class QuarantineRow:
    """One record that could not be used.

    Attributes
    ----------
    feed
        Feed kind (``alerts``, ``drone``, ``calls``, ``waze``).
    source
        File path or URL of the payload.
    record
        The record's position in the payload and a short excerpt of its text.
    reason
        Why it was set aside, in words a dispatcher can read.
    raw_sha256
        sha256 of the raw payload, pointing into the archive.
    """

    feed: str
    source: str
    record: str
    reason: str
    raw_sha256: str | None = None

    @property
    def fingerprint(self) -> str:
        """Stable hash of the row, so that re-ingesting a payload quarantines nothing twice."""
        text = "\x1f".join((self.feed, self.raw_sha256 or self.source, self.record, self.reason))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class ParseResult:
    """What a parser returns: usable reports, quarantined records and (CAP/NWS) alerts."""

    frame: gpd.GeoDataFrame
    quarantine: list[QuarantineRow] = field(default_factory=list)
    alerts: gpd.GeoDataFrame | None = None

    def __len__(self) -> int:
        """Return the number of report rows."""
        return len(self.frame)


def sha256_hex(data: bytes) -> str:
    """Return the hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def load_json(data: bytes) -> Any:
    """Decode a JSON payload (UTF-8, a BOM allowed); ParseError naming the problem otherwise."""
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        msg = f"not JSON: {e}"
        raise ParseError(msg) from e


def load_csv(text: str, source: str) -> list[list[str]]:
    """Read CSV text into rows (header first); an unreadable or empty file is a ParseError."""
    try:
        table = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        msg = f"{source!r}: CSV cannot be read: {e}"
        raise ParseError(msg) from e
    if not table:
        msg = f"{source!r} is empty"
        raise ParseError(msg)
    return table


def excerpt(text: Any, limit: int = 200) -> str:
    """Return `text` as one line of at most `limit` characters (for quarantine ``record``)."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def report_frame(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Build a report GeoDataFrame with exactly `REPORT_COLUMNS` from row dicts."""
    return _frame(rows, REPORT_COLUMNS)


def alert_frame(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Build an alert GeoDataFrame with exactly `ALERT_COLUMNS` from row dicts."""
    return _frame(rows, ALERT_COLUMNS)


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> gpd.GeoDataFrame:
    names = [c for c in columns if c != "geometry"]
    df = pd.DataFrame({c: [r.get(c) for r in rows] for c in names}, columns=names, dtype=object)
    geoms = np.array([r.get("geometry") for r in rows], dtype=object)
    return gpd.GeoDataFrame(df, geometry=gpd.array.from_shapely(geoms, crs=WGS84))


def concat_results(results: list[ParseResult]) -> ParseResult:
    """Concatenate several parse results into one (frames, quarantine and alerts)."""
    if not results:
        return ParseResult(report_frame([]), [], None)
    frames = [r.frame for r in results if len(r.frame)]
    frame = (
        gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")
        if frames
        else report_frame([])
    )
    alert_list = [r.alerts for r in results if r.alerts is not None and len(r.alerts)]
    alerts = (
        gpd.GeoDataFrame(pd.concat(alert_list, ignore_index=True), crs="EPSG:4326")
        if alert_list
        else (alert_frame([]) if any(r.alerts is not None for r in results) else None)
    )
    quarantine = [q for r in results for q in r.quarantine]
    return ParseResult(frame, quarantine, alerts)
