"""Stranded-vehicle calls from a call centre: CSV or JSON, a pure parser of bytes.

Encodings
---------
UTF-8 (with or without BOM) is tried first; otherwise the encoding is detected with
:mod:`charset_normalizer` among UTF-8, GB18030, GBK and Big5 (:mod:`ingest.decoding`, shared
with the drone and AVL parsers). A few stray bytes are replaced by U+FFFD and the calls holding
one are flagged ``stray_bytes``; a payload whose encoding cannot be determined is refused
(:class:`~ingest.errors.ParseError`), never decoded as latin-1.

Schema (canonical field, then some accepted headers; all of them in :mod:`ingest.call_vocab`)
---------------------------------------------------------------------------------------------
=============== =======================================================================
call_id         required. 接警编号, 警情编号, 接警单号, 编号, 工单号, 来电编号, id
time            required; ISO 8601 or ``YYYY/MM/DD HH:MM``; naive = Asia/Shanghai.
                接警时间, 报警时间, 受理时间, 来电时间, received_at
lon, lat        经度, 纬度, 东经, 北纬, longitude, latitude, x, y
datum           wgs84 | gcj02 | bd09 (default wgs84). 坐标系
stake           ``G331 K1520+300`` (road in the text or in ``road_code``). 桩号, 里程桩
road_code       道路, 路线, 路线编号, road
place           事发地点, 发生地点, 报警地址, 地点, 位置: a name, banner + township
                (``阿巴嘎旗别力古台镇``), a direction + distance (``X镇以北约15公里``) or a
                kilometre post in the text (:mod:`ingest.call_place`)
admin           the banner/county column (所属旗县, 辖区, 行政区划): prefixed to the place
vehicles        车辆数, 被困车辆 ...; people: 人数, 被困人数, 人员 ...; vulnerable: 老幼病孕;
people,         injured: 受伤人数, 伤员. Exact or approximate ("约20", "30余人", "十几辆",
vulnerable,     "二三十", "several"): see :mod:`ingest.call_counts`. Never a reason to
injured         quarantine.
vehicle_class   车型, 车辆类型, 号牌种类: GA 802 names and short forms -> car | light_truck |
                heavy_truck | passenger_coach | hazmat (:func:`ingest.call_vocab.vehicle_class`);
                taken from the notes when the column is empty
plate           车牌号, 号牌号码
needs           需求, 求助内容: fuel, heat, food, medical, tow, heavy_tow, rescue, grit, plow,
                traffic_control (zh: 送油, 取暖, 食物, 受伤, 拖车, 吊车, 救援, 破冰 ...), also found
                in the notes; a heavy vehicle off the road implies heavy_tow
caller          报警人: stored masked (``张*``)
phone           联系电话, 报警电话, 来电号码: stored and shown masked (``138****5678``)
event_type      what happened, as the call centre classed it (stranded, crash,
                vehicle_in_ditch, road_blocked or the Chinese words); 警情类型, 事件类型
notes           警情描述, 报警内容, 简要案情, 备注 (free text: escape before display)
=============== =======================================================================

The location is, in order: coordinates (with datum; the original kept in
``attributes.original``), else kilometre post, else place description. JSON: a list of objects
or an object with a ``calls`` list, same field names and aliases.

A mapping file (JSON or TOML) adapts other exports; its columns override the built-in
headers::

    {"columns": {"their header": "call_id", ...}, "datum": "gcj02", "encoding": "gb18030"}

Report rows: kind ``call``, natural key = call_id, subtype ``stranded_vehicle``; ``attributes``
holds vehicles, people, vulnerable, injured (``*_estimated``, ``*_low``, ``*_high`` and
``*_raw`` when a count was approximate), vehicle_class (+ ``vehicle_class_raw``), needs
(+ ``needs_implied``), phone_masked, caller_masked, plate, admin, notes, event_type,
location_method, location_uncertainty_m, place_resolution, place_notes, original, encoding.

Speed
-----
CSV rows whose id, time (``YYYY-MM-DD HH:MM[:SS]``) and coordinates are clean go through a
column-wise lane (one vectorised time parse, datum conversion and point construction for all
of them); every other row goes through the row-by-row checks, which give the quarantine
reasons. Both lanes build the attributes with the same function and give the same rows.
"""

from __future__ import annotations

import gc
import json
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ingest.call_fast import FastRows, fast_lane
from ingest.call_row import (
    CallContext,
    call_attributes,
    call_attributes_many,
    call_row,
    present,
)
from ingest.call_vocab import (
    ALIASES,
    CALL_EVENTS,
    FIELDS,
    call_time_text,
    canonical_header,
    datum_name,
    notes_incident,
)
from ingest.decoding import ENCODINGS, STRAY_FLAG, Decoded, decode_text
from ingest.errors import ConfigError, ParseError
from ingest.records import (
    REPORT_COLUMNS,
    WGS84,
    Classified,
    ParseResult,
    QuarantineRow,
    excerpt,
    load_csv,
    report_frame,
    sha256_hex,
)
from ingest.validate import Locator, RecordError, convert_many, mask_phone

__all__ = [
    "ALIASES",
    "ENCODINGS",
    "FEED",
    "FIELDS",
    "CallMapping",
    "call_attributes",
    "classify_call",
    "decode_calls",
    "load_mapping",
    "parse_calls",
    "parse_table",
]

FEED = "calls"


@dataclass(frozen=True)
class CallMapping:
    """How to read another call centre's export: header renames, default datum, encoding."""

    columns: Mapping[str, str] = field(default_factory=dict)
    datum: str | None = None
    encoding: str | None = None


def classify_call(kind: str, subtype: str, attributes: Mapping[str, Any]) -> Classified:
    """Say what a stored call means: the incident of its event type, else of its notes.

    Notes that say the road is blocked also close it (:func:`ingest.call_vocab.notes_incident`).
    """
    event = str(attributes.get("event_type") or attributes.get("incident_type") or "").strip()
    if event in CALL_EVENTS:
        return Classified(None, CALL_EVENTS[event])
    incident = notes_incident(str(attributes.get("notes") or ""))
    return Classified("closed" if incident == "road_blocked" else None, incident)


def load_mapping(path: Path) -> CallMapping:
    """Read a mapping file (``.json`` or ``.toml``).

    Raises
    ------
    ConfigError
        The file cannot be read or maps to a field that does not exist.
    """
    try:
        raw = path.read_bytes()
        doc = tomllib.loads(raw.decode("utf-8")) if path.suffix == ".toml" else json.loads(raw)
    except (OSError, ValueError) as e:
        msg = f"mapping file {path} cannot be read: {e}"
        raise ConfigError(msg) from e
    cols = doc.get("columns", {}) if isinstance(doc, dict) else None
    if not isinstance(cols, dict):
        msg = f"mapping file {path}: 'columns' must be an object of header -> field"
        raise ConfigError(msg)
    bad = [v for v in cols.values() if v not in FIELDS]
    if bad:
        msg = f"mapping file {path}: unknown target field(s) {bad}; known: {', '.join(FIELDS)}"
        raise ConfigError(msg)
    return CallMapping(
        columns={str(k).strip().lower(): str(v) for k, v in cols.items()},
        datum=doc.get("datum"),
        encoding=doc.get("encoding"),
    )


def decode_calls(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Return (text, encoding name) of a payload (:func:`ingest.decoding.decode_text`).

    Raises
    ------
    ParseError
        The encoding cannot be determined (never a silent latin-1 fallback).
    """
    decoded = decode_text(data, encoding)
    return decoded.text, decoded.encoding


def parse_calls(
    data: bytes,
    source: str,
    locator: Locator | None = None,
    *,
    mapping: CallMapping | None = None,
    now: datetime | None = None,
) -> ParseResult:
    """Parse a call-centre export (CSV or JSON) into call reports and quarantine rows.

    Raises
    ------
    ParseError
        The payload cannot be decoded, or is neither CSV with a known header nor JSON.
    """
    mapping = mapping or CallMapping()
    decoded = decode_text(data, mapping.encoding)
    text = decoded.text
    ctx = CallContext(source, sha256_hex(data), locator, mapping.datum, now, decoded.encoding)
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        return _flag_stray(_rowwise(_json_records(stripped, source, mapping), ctx), decoded)
    with _gc_paused():
        table = load_csv(text, source)
        keys = _header_keys(table[0], mapping, source)
        rows = table[1:]
        result = _flag_stray(parse_table(rows, keys, ctx), decoded, rows, keys)
        del table, rows  # freed while the collector still sleeps: it never walks them
    return result


def _flag_stray(
    result: ParseResult,
    decoded: Decoded,
    rows: Sequence[Sequence[str]] = (),
    keys: Sequence[str | None] = (),
) -> ParseResult:
    """Flag ``stray_bytes`` on the calls whose record held a replaced stray byte (U+FFFD).

    CSV: the rows (`rows` under the header `keys`) with a U+FFFD in any cell, by call id;
    JSON: the calls with one in a stored value.
    """
    if not decoded.stray or result.frame.empty:
        return result
    frame = result.frame
    if "call_id" in keys:
        at = list(keys).index("call_id")
        ids = {r[at].strip() for r in rows if len(r) > at and any("\ufffd" in c for c in r)}
        marks = [k in ids for k in frame["natural_key"]]
    else:
        marks = [
            "\ufffd" in f"{k}{p}{a}"
            for k, p, a in zip(
                frame["natural_key"], frame["place"], frame["attributes"], strict=True
            )
        ]
    frame["flags"] = [
        [*f, STRAY_FLAG] if m else f for f, m in zip(frame["flags"], marks, strict=True)
    ]
    return ParseResult(frame, result.quarantine, result.alerts)


def _json_records(text: str, source: str, mapping: CallMapping) -> list[tuple[str, dict[str, Any]]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        msg = f"not JSON: {e}"
        raise ParseError(msg) from e
    items = doc.get("calls") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        msg = f"{source!r}: JSON has no list of calls"
        raise ParseError(msg)
    return [
        (f"item {i}", _canon(item, mapping) if isinstance(item, dict) else {"_bad": item})
        for i, item in enumerate(items, start=1)
    ]


def _header_keys(header: Sequence[str], mapping: CallMapping, source: str) -> list[str | None]:
    """Return the field of each column; a field named by two columns is read from the first."""
    keys: list[str | None] = []
    for h in header:
        key = _alias(h, mapping)
        keys.append(key if key not in keys else None)
    if "call_id" not in keys or "time" not in keys:
        msg = (
            f"{source!r}: CSV header {excerpt(','.join(header), 120)!r} has no call id "
            "and time columns (use a mapping file for other exports)"
        )
        raise ParseError(msg)
    return keys


def _alias(header: str, mapping: CallMapping) -> str | None:
    h = header.strip().lstrip("\ufeff").lower()
    if h in mapping.columns:
        return mapping.columns[h]
    return canonical_header(header)


def _canon(item: Mapping[str, Any], mapping: CallMapping) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in item.items():
        key = _alias(str(k), mapping)
        if key and key not in out:
            out[key] = v
    for key, fix in (("datum", datum_name), ("time", call_time_text)):
        if isinstance(out.get(key), str):
            out[key] = fix(out[key])
    return out


def _quarantine(where: str, rec: Mapping[str, Any], reason: str, ctx: CallContext) -> QuarantineRow:
    raw = rec.get("_raw") or json.dumps(
        {k: (mask_phone(v) if k == "phone" else v) for k, v in rec.items()},
        ensure_ascii=False,
        default=str,
    )
    return QuarantineRow(FEED, ctx.source, f"{where}: {excerpt(raw, 160)}", reason, ctx.sha)


def _with_cache(records: Sequence[tuple[str, Mapping[str, Any]]], ctx: CallContext) -> CallContext:
    """`ctx` with the datum conversions of all `records` done at once."""
    cache = convert_many(
        [
            (r.get("lon"), r.get("lat"), r.get("datum") if present(r.get("datum")) else ctx.datum)
            for _, r in records
        ]
    )
    return CallContext(ctx.source, ctx.sha, ctx.locator, ctx.datum, ctx.now, ctx.encoding, cache)


def _rowwise(records: list[tuple[str, dict[str, Any]]], ctx: CallContext) -> ParseResult:
    """Run the row-by-row lane for every record (JSON payloads)."""
    ctx = _with_cache(records, ctx)
    out: list[dict[str, Any]] = []
    quarantine: list[QuarantineRow] = []
    for where, rec in records:
        try:
            out.append(call_row(rec, ctx))
        except RecordError as e:
            quarantine.append(_quarantine(where, rec, str(e), ctx))
    return ParseResult(report_frame(out), quarantine, None)


def _shown(keys: Sequence[str | None], row: Sequence[str]) -> str:
    """Return the record text kept for quarantine: phone masked (never stored or shown in full)."""
    ks = list(keys) + [None] * max(0, len(row) - len(keys))
    return ",".join(
        (mask_phone(c) or "") if k == "phone" else c for k, c in zip(ks, row, strict=False)
    )


def _frame(rows: list[tuple[Any, ...]]) -> gpd.GeoDataFrame:
    """Return a report frame (as :func:`ingest.records.report_frame`) from rows in column order."""
    if not rows:
        return report_frame([])
    cols = list(zip(*rows, strict=True))
    names = [c for c in REPORT_COLUMNS if c != "geometry"]
    df = pd.DataFrame(
        {c: _objects(v) for c, v in zip(names, cols, strict=False)}, columns=names, dtype=object
    )
    return gpd.GeoDataFrame(df, geometry=gpd.array.from_shapely(_objects(cols[-1]), crs=WGS84))


def _objects(values: Sequence[Any]) -> NDArray[Any]:
    # one object per row (a row's flags list stays one list, not a second dimension)
    return np.fromiter(values, dtype=object, count=len(values))


def _as_tuple(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(c) for c in REPORT_COLUMNS)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while many small dicts are built.

    It would walk them again and again and halve the rate; the rows hold no reference cycles.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _records(
    rows: Sequence[Sequence[str]], keys: Sequence[str | None]
) -> tuple[list[int], dict[str, list[str]]]:
    """(line numbers, columns) of the non-blank rows; cells stripped."""
    width = len(keys)
    lines: list[int] = []
    kept: list[Sequence[str]] = []
    for i, r in enumerate(rows, start=2):
        if "".join(r).strip():
            lines.append(i)
            kept.append(r if len(r) >= width else [*r, *[""] * (width - len(r))])
    fields = [(j, k) for j, k in enumerate(keys) if k]
    cols = {
        k: [c.strip() for c in kept_col]
        for (_, k), kept_col in zip(fields, _columns(kept, fields), strict=True)
    }
    _normalise_columns(cols)
    return lines, cols


def _record(cols: Mapping[str, Sequence[str]], i: int) -> dict[str, str]:
    """Row `i` of the columns as a record (field -> cell)."""
    return {k: c[i] for k, c in cols.items()}


def _normalise_columns(cols: dict[str, list[str]]) -> None:
    """Rewrite datum names and Chinese date-times in place, once per distinct cell.

    ``火星坐标`` becomes gcj02, ``2025年12月14日 9时05分`` ``2025-12-14 09:05:00``; for both lanes.
    """
    for key, fix in (("datum", datum_name), ("time", call_time_text)):
        if key in cols:
            seen: dict[str, str] = {}
            col = cols[key]
            for i, v in enumerate(col):
                out = seen.get(v)
                if out is None:
                    out = seen[v] = fix(v) if v else v
                col[i] = out


def _columns(rows: Sequence[Sequence[str]], fields: Sequence[tuple[int, str]]) -> list[list[str]]:
    if not rows:
        return [[] for _ in fields]
    table = list(zip(*rows, strict=False))  # the transpose in C; every row has >= the width
    return [list(table[j]) for j, _ in fields]


def parse_table(
    rows: Sequence[Sequence[str]],
    keys: Sequence[str | None],
    ctx: CallContext,
    *,
    fast: bool = True,
) -> ParseResult:
    """Parse CSV data rows (after the header) whose columns are `keys`.

    Clean coordinate rows go through the column-wise lane (:mod:`ingest.call_fast`) unless
    `fast` is False; every other row through :func:`ingest.call_row.call_row`.
    """
    with _gc_paused():  # also here for callers of parse_table (tests, benchmarks)
        lines, cols = _records(rows, keys)
        n = len(lines)
        taken = fast_lane(
            cols if fast else {}, n, default_datum=ctx.datum, locator=ctx.locator, now=ctx.now
        )
        out: list[tuple[Any, ...] | None] = [None] * n
        quarantine = _slow_rows(rows, keys, lines, cols, taken, ctx, out)
        index = taken.index.tolist()
        ids = cols.get("call_id", [])
        attributes = call_attributes_many(cols, index, ctx.encoding)
        for j, i in enumerate(index):
            attrs, more = attributes[j]
            attrs["location_method"] = "coordinates"
            attrs["original"] = taken.originals[j]
            flags = (["future_time"] if taken.future[j] else []) + taken.loc_flags[j] + more
            out[i] = (
                "call", ids[i], ctx.source, ctx.sha, taken.observed[j], "stranded_vehicle",
                None, None, None, None, flags, attrs, taken.points[j],
            )  # fmt: skip
        return ParseResult(_frame([r for r in out if r is not None]), quarantine, None)


def _slow_rows(
    rows: Sequence[Sequence[str]],
    keys: Sequence[str | None],
    lines: list[int],
    cols: Mapping[str, Sequence[str]],
    taken: FastRows,
    ctx: CallContext,
    out: list[tuple[Any, ...] | None],
) -> list[QuarantineRow]:
    """Run the row-by-row lane for the rows the column-wise lane left; fills `out`."""
    in_fast = np.zeros(len(lines), dtype=bool)
    in_fast[taken.index] = True
    recs = {i: _record(cols, i) for i in np.flatnonzero(~in_fast).tolist()}
    sctx = _with_cache([("", r) for r in recs.values()], ctx)
    quarantine: list[QuarantineRow] = []
    for i, record in recs.items():
        try:
            out[i] = _as_tuple(call_row(record, sctx))
        except RecordError as e:
            rec: dict[str, Any] = {**record, "_raw": _shown(keys, rows[lines[i] - 2])}
            quarantine.append(_quarantine(f"line {lines[i]}", rec, str(e), ctx))
    return quarantine
