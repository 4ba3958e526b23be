"""Frozen copy of the call parser as it was before issue 11 (ingest/calls.py at 3784448).

The baseline of the ``parse 100k call rows`` benchmark row: today's row-by-row code path,
measured in the same run as the current parser. Not used by the application; do not "fix" it.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import charset_normalizer

from ingest.errors import ConfigError, ParseError
from ingest.records import ParseResult, QuarantineRow, excerpt, load_csv, report_frame, sha256_hex
from ingest.validate import (
    ConversionCache,
    Location,
    Locator,
    RecordError,
    convert_many,
    locate_coordinates,
    locate_place,
    locate_stake,
    mask_phone,
    parse_time,
)

FEED = "calls"
FIELDS = (
    "call_id",
    "time",
    "lon",
    "lat",
    "datum",
    "stake",
    "road_code",
    "place",
    "vehicles",
    "people",
    "vulnerable",
    "vehicle_class",
    "needs",
    "phone",
    "event_type",
    "notes",
)
ALIASES: dict[str, str] = {
    **{f: f for f in FIELDS},
    "id": "call_id",
    "callid": "call_id",
    "编号": "call_id",
    "工单号": "call_id",
    "来电编号": "call_id",
    "警情编号": "call_id",
    "received_at": "time",
    "datetime": "time",
    "时间": "time",
    "来电时间": "time",
    "报警时间": "time",
    "longitude": "lon",
    "lng": "lon",
    "x": "lon",
    "经度": "lon",
    "latitude": "lat",
    "y": "lat",
    "纬度": "lat",
    "坐标系": "datum",
    "crs": "datum",
    "桩号": "stake",
    "里程桩": "stake",
    "km_post": "stake",
    "road": "road_code",
    "道路": "road_code",
    "路线": "road_code",
    "路线编号": "road_code",
    "地点": "place",
    "位置": "place",
    "地名": "place",
    "location": "place",
    "车辆数": "vehicles",
    "车辆": "vehicles",
    "人数": "people",
    "被困人数": "people",
    "人员": "people",
    "老幼病孕": "vulnerable",
    "弱势人员": "vulnerable",
    "特殊人员": "vulnerable",
    "车型": "vehicle_class",
    "车辆类型": "vehicle_class",
    "需求": "needs",
    "电话": "phone",
    "来电号码": "phone",
    "联系电话": "phone",
    "incident_type": "event_type",
    "事件类型": "event_type",
    "警情类型": "event_type",
    "备注": "notes",
    "情况": "notes",
    "note": "notes",
}
VEHICLE_CLASSES: dict[str, str] = {
    "car": "car",
    "小轿车": "car",
    "轿车": "car",
    "私家车": "car",
    "小车": "car",
    "小型车": "car",
    "passenger_coach": "passenger_coach",
    "coach": "passenger_coach",
    "bus": "passenger_coach",
    "客车": "passenger_coach",
    "大客车": "passenger_coach",
    "大巴": "passenger_coach",
    "hazmat": "hazmat",
    "危化品": "hazmat",
    "危险品": "hazmat",
    "危化品车": "hazmat",
    "heavy_truck": "heavy_truck",
    "truck": "heavy_truck",
    "货车": "heavy_truck",
    "重型货车": "heavy_truck",
    "半挂": "heavy_truck",
    "半挂车": "heavy_truck",
}
NEEDS: dict[str, str] = {
    "fuel": "fuel",
    "燃油": "fuel",
    "加油": "fuel",
    "油": "fuel",
    "heat": "heat",
    "取暖": "heat",
    "保暖": "heat",
    "medical": "medical",
    "医疗": "medical",
    "就医": "medical",
    "food": "food",
    "食物": "food",
    "食品": "food",
    "饮水": "food",
    "water": "food",
}
_SPLIT = re.compile(r"[;,、，；/\s]+")
ENCODINGS = ["utf_8", "gb18030", "gbk", "big5"]


@dataclass(frozen=True)
class CallMapping:
    """How to read another call centre's export: header renames, default datum, encoding."""

    columns: Mapping[str, str] = field(default_factory=dict)
    datum: str | None = None
    encoding: str | None = None


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
    """Return (text, encoding name): UTF-8/BOM, or detected GB18030/GBK/Big5.

    Raises
    ------
    ParseError
        The encoding cannot be determined (never a silent latin-1 fallback).
    """
    if encoding:
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as e:
            msg = f"payload is not {encoding}: {e}"
            raise ParseError(msg) from e
    try:
        return data.decode("utf-8-sig"), "utf-8-sig" if data.startswith(
            b"\xef\xbb\xbf"
        ) else "utf-8"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data, cp_isolation=ENCODINGS).best()
    if best is None:
        msg = "text encoding cannot be determined (tried UTF-8, GB18030, GBK, Big5)"
        raise ParseError(msg)
    enc = best.encoding
    if enc in ("gbk", "gb2312"):
        enc = "gb18030"  # superset: decodes every GBK byte sequence and more
    try:
        return data.decode(enc), enc
    except UnicodeDecodeError as e:
        msg = f"text encoding cannot be determined (best guess {enc} fails: {e})"
        raise ParseError(msg) from e


def parse_calls_v0(
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
    sha = sha256_hex(data)
    mapping = mapping or CallMapping()
    text, enc = decode_calls(data, mapping.encoding)
    stripped = text.lstrip()
    records: list[tuple[str, dict[str, Any]]] = []
    if stripped.startswith(("[", "{")):
        try:
            doc = json.loads(stripped)
        except json.JSONDecodeError as e:
            msg = f"not JSON: {e}"
            raise ParseError(msg) from e
        items = doc.get("calls") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            msg = f"{source!r}: JSON has no list of calls"
            raise ParseError(msg)
        for i, item in enumerate(items):
            if isinstance(item, dict):
                records.append((f"item {i + 1}", _canon(item, mapping)))
            else:
                records.append((f"item {i + 1}", {"_bad": item}))
    else:
        table = load_csv(text, source)
        header = table[0]
        keys = [_alias(h, mapping) for h in header]
        if "call_id" not in keys or "time" not in keys:
            msg = (
                f"{source!r}: CSV header {excerpt(','.join(header), 120)!r} has no call id "
                "and time columns (use a mapping file for other exports)"
            )
            raise ParseError(msg)
        for line, row in enumerate(table[1:], start=2):
            if not any(c.strip() for c in row):
                continue
            rec = {k: v.strip() for k, v in zip(keys, row, strict=False) if k}
            # the record text kept for quarantine: phone masked (never stored or shown in full)
            shown = [
                (mask_phone(c) or "") if k == "phone" else c
                for k, c in zip(keys + [None] * len(row), row, strict=False)
            ]
            rec["_raw"] = ",".join(shown)
            records.append((f"line {line}", rec))
    cache = convert_many(
        [
            (
                r.get("lon"),
                r.get("lat"),
                r.get("datum") if _present(r.get("datum")) else mapping.datum,
            )
            for _, r in records
        ]
    )
    out: list[dict[str, Any]] = []
    quarantine: list[QuarantineRow] = []
    for where, rec in records:
        try:
            out.append(_call(rec, source, sha, locator, mapping, now, enc, cache))
        except RecordError as e:
            raw = rec.get("_raw") or json.dumps(
                {k: (mask_phone(v) if k == "phone" else v) for k, v in rec.items()},
                ensure_ascii=False,
                default=str,
            )
            quarantine.append(
                QuarantineRow(FEED, source, f"{where}: {excerpt(raw, 160)}", str(e), sha)
            )
    return ParseResult(report_frame(out), quarantine, None)


def _alias(header: str, mapping: CallMapping) -> str | None:
    h = header.strip().lstrip("\ufeff").lower()
    if h in mapping.columns:
        return mapping.columns[h]
    return ALIASES.get(h) or ALIASES.get(header.strip())


def _canon(item: Mapping[str, Any], mapping: CallMapping) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in item.items():
        key = _alias(str(k), mapping)
        if key and key not in out:
            out[key] = v
    return out


def _count(rec: Mapping[str, Any], key: str) -> int:
    v = rec.get(key)
    if v is None or str(v).strip() == "":
        return 0
    try:
        n = float(str(v).strip())
    except ValueError:
        digits = re.match(r"\s*(\d+)", str(v))
        if not digits:
            msg = f"{key} {v!r} is not a number"
            raise RecordError(msg) from None
        n = float(digits.group(1))
    if n < 0 or n != int(n) or n > 10000:
        msg = f"{key} {v!r} is not a plausible count"
        raise RecordError(msg)
    return int(n)


def _call(
    rec: dict[str, Any],
    source: str,
    sha: str,
    locator: Locator | None,
    mapping: CallMapping,
    now: datetime | None,
    encoding: str,
    cache: ConversionCache | None = None,
) -> dict[str, Any]:
    if "_bad" in rec:
        msg = "call is not an object"
        raise RecordError(msg)
    call_id = str(rec.get("call_id") or "").strip()
    if not call_id:
        msg = "call has no call id"
        raise RecordError(msg)
    when, flags = parse_time(rec.get("time"), now=now, lenient=True)
    loc = _locate(rec, locator, mapping, cache)
    flags = flags + loc.flags
    vc_raw = str(rec.get("vehicle_class") or "").strip()
    vc = VEHICLE_CLASSES.get(vc_raw.lower(), VEHICLE_CLASSES.get(vc_raw)) if vc_raw else None
    if vc_raw and vc is None:
        flags.append("unknown_vehicle_class")
    needs_raw = rec.get("needs")
    if isinstance(needs_raw, list):
        needs = _needs(needs_raw)
    else:
        needs = list(_needs_text(str(needs_raw or "")))
    attrs = {
        "call_id": call_id,
        "vehicles": _count(rec, "vehicles"),
        "people": _count(rec, "people"),
        "vulnerable": _count(rec, "vulnerable"),
        "vehicle_class": vc,
        "vehicle_class_raw": vc_raw or None,
        "needs": needs,
        "phone_masked": mask_phone(rec.get("phone")),
        "notes": (str(rec["notes"]).strip() or None) if rec.get("notes") else None,
        "event_type": (str(rec["event_type"]).strip() or None) if rec.get("event_type") else None,
        "location_method": loc.method,
        "original": loc.original,
        "encoding": encoding,
    }
    return {
        "kind": "call",
        "natural_key": call_id,
        "source": source,
        "raw_sha256": sha,
        "observed_at": when,
        "subtype": "stranded_vehicle",
        "confidence": None,
        "road_code": loc.road_code,
        "km": loc.km,
        "place": loc.place,
        "flags": flags,
        "attributes": attrs,
        "geometry": loc.point,
    }


def _needs(parts: list[Any]) -> list[str]:
    return sorted({NEEDS[p.strip().lower()] for p in map(str, parts) if p.strip().lower() in NEEDS})


@functools.lru_cache(maxsize=4096)
def _needs_text(text: str) -> tuple[str, ...]:
    # exports repeat a few need strings over and over; a pure function of the text
    return tuple(_needs(_SPLIT.split(text)))


def _present(v: Any) -> bool:
    return v is not None and str(v).strip() not in ("", "nan", "None")


def _locate(
    rec: Mapping[str, Any],
    locator: Locator | None,
    mapping: CallMapping,
    cache: ConversionCache | None = None,
) -> Location:
    if _present(rec.get("lon")) or _present(rec.get("lat")):
        datum = rec.get("datum") if _present(rec.get("datum")) else mapping.datum
        return locate_coordinates(rec.get("lon"), rec.get("lat"), datum, locator, cache)
    if _present(rec.get("stake")):
        road = str(rec["road_code"]).strip() if _present(rec.get("road_code")) else None
        text = str(rec["stake"]).strip()
        return locate_stake(text, locator, road)
    if _present(rec.get("place")):
        return locate_place(str(rec["place"]).strip(), locator)
    msg = "call has no location (no coordinates, kilometre post or place name)"
    raise RecordError(msg)
