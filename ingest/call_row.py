"""One call record to one report row: the row-by-row checks and the attributes of every call.

:func:`call_row` checks a record (id, time, location) and raises
:class:`~ingest.validate.RecordError` with the quarantine reason; :func:`call_attributes`
reads what the caller said (counts, vehicle type, needs, phone, notes) and never raises: how
a count or a vehicle is written is never a reason to drop a call. The column-wise lane of
:mod:`ingest.call_fast` uses the same :func:`call_attributes` and :func:`location_attributes`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingest.call_counts import parse_count
from ingest.call_place import STAKE_UNCERTAINTY_M, locate_described
from ingest.call_vocab import (
    GENERIC_TYPES,
    HEAVY_CLASSES,
    NEED_TOKENS,
    implied_needs,
    needs_in,
    needs_in_many,
    vehicle_class,
)
from ingest.validate import (
    ConversionCache,
    Location,
    Locator,
    RecordError,
    locate_coordinates,
    locate_stake,
    mask_phone,
    parse_time,
)

__all__ = [
    "COUNT_FIELDS",
    "CallContext",
    "call_attributes",
    "call_attributes_many",
    "call_row",
    "fast_mask_phone",
    "location_attributes",
    "mask_name",
    "present",
    "report_row",
]

COUNT_FIELDS = ("vehicles", "people", "vulnerable", "injured")
_SPLIT = re.compile(r"[;,、，；/\s]+")


@dataclass(frozen=True)
class CallContext:
    """What every record of one payload shares."""

    source: str
    sha: str
    locator: Locator | None
    datum: str | None  # the mapping's default datum
    now: datetime | None
    encoding: str
    cache: ConversionCache | None = None


def present(v: Any) -> bool:
    """Return a cell that holds something (not empty, ``nan`` or ``None``)."""
    return v is not None and str(v).strip() not in ("", "nan", "None")


def fast_mask_phone(phone: Any) -> str | None:
    """:func:`~ingest.validate.mask_phone`, short-cut for the common 11-digit mobile number."""
    if isinstance(phone, str) and len(phone) == 11 and phone.isdigit():
        return phone[:3] + "****" + phone[-4:]
    return mask_phone(phone)


def mask_name(name: Any) -> str | None:
    """Return a caller's name masked after its first character (``张三`` -> ``张*``)."""
    s = str(name or "").strip()
    if not s or s.lower() == "nan":
        return None
    return s[0] + "*" * max(1, len(s) - 1)


@functools.lru_cache(maxsize=8192)
def _count_of(key: str, text: str) -> tuple[int | None, tuple[tuple[str, Any], ...], str | None]:
    """(value, extra attributes, flag) of one count cell; cached (exports repeat counts)."""
    c = parse_count("" if text.lower() in ("nan", "none") else text)
    extra: tuple[tuple[str, Any], ...] = ()
    flag = None
    if c.estimated:
        extra = ((f"{key}_estimated", True), (f"{key}_low", c.low), (f"{key}_high", c.high))
        flag = f"{key}_estimated"
    elif c.unknown:
        flag = f"{key}_unknown"
    elif c.implausible:
        flag = f"{key}_implausible"
    if flag is not None:
        extra += ((f"{key}_raw", text),)
    return c.value, extra, flag


def _cell(v: Any) -> str:
    if v is None or isinstance(v, bool):
        return ""
    return v.strip() if isinstance(v, str) else str(v)


@functools.lru_cache(maxsize=8192)
def _counts_of(
    keys: tuple[str, ...], texts: tuple[str, ...]
) -> tuple[tuple[tuple[str, Any], ...], tuple[str, ...]]:
    """(attribute items, flags) of a call's count cells; cached (exports repeat counts)."""
    items: list[tuple[str, Any]] = []
    flags: list[str] = []
    for key, text in zip(keys, texts, strict=True):
        value, extra, flag = _count_of(key, text)
        items.append((key, value))
        items.extend(extra)
        if flag is not None:
            flags.append(flag)
    return tuple(items), tuple(flags)


_COUNTS_WITHOUT_INJURED = COUNT_FIELDS[:3]


def _counts(rec: Mapping[str, Any], attrs: dict[str, Any], flags: list[str]) -> None:
    keys = COUNT_FIELDS if "injured" in rec else _COUNTS_WITHOUT_INJURED
    cells = [rec.get(k) for k in keys]
    texts = tuple(c if type(c) is str else _cell(c) for c in cells)  # CSV cells: stripped str
    items, more = _counts_of(keys, texts)
    attrs.update(items)
    flags.extend(more)


@functools.lru_cache(maxsize=4096)
def _needs_cell(text: str) -> frozenset[str]:
    """Return the needs of a needs cell (``燃油、取暖``, ``油;水``); cached (exports repeat them)."""
    tokens = {NEED_TOKENS[t] for t in _SPLIT.split(text.strip().lower()) if t in NEED_TOKENS}
    return frozenset(tokens.union(needs_in(text)))


def _needs_of(
    text: str, notes: str, vc: str | None, event: str, injured: bool
) -> tuple[list[str], tuple[str, ...]]:
    """(needs, implied needs) of a call's needs cell, notes, class and event."""
    return _needs_with(text, needs_in(notes) if notes else (), notes, vc, event, injured)


@functools.lru_cache(maxsize=8192)
def _needs_base(
    text: str, note_needs: tuple[str, ...], injured: bool
) -> tuple[frozenset[str], tuple[str, ...]]:
    """(needs, the same sorted) of a needs cell, the needs of the notes and an injury."""
    found = _needs_cell(text).union(note_needs) if note_needs else _needs_cell(text)
    if injured:
        found = found | {"medical"}
    return found, tuple(sorted(found))


def _needs_with(
    text: str, note_needs: tuple[str, ...], notes: str, vc: str | None, event: str, injured: bool
) -> tuple[list[str], tuple[str, ...]]:
    """:func:`_needs_of` given the needs found in the notes (``needs_in(notes)``)."""
    found, ordered = _needs_base(text, note_needs, injured)
    if vc not in HEAVY_CLASSES:
        return list(ordered), ()
    implied = implied_needs(vc, f"{notes} {event}", ordered)
    return (sorted(found.union(implied)) if implied else list(ordered)), implied


@functools.lru_cache(maxsize=4096)
def _class_cell(vc_raw: str) -> tuple[str | None, str | None]:
    vc = vehicle_class(vc_raw)
    return vc, None if vc else "unknown_vehicle_class"


def _class_of(vc_raw: str | None, notes: str | None) -> tuple[str | None, str | None]:
    """(vehicle class, flag) from the vehicle-type cell, else from the notes."""
    if vc_raw and not (notes and vc_raw in GENERIC_TYPES and vehicle_class(notes)):
        return _class_cell(vc_raw)
    vc = vehicle_class(notes) if notes else None
    return vc, "vehicle_class_from_notes" if vc else None


def _text(rec: Mapping[str, Any], key: str) -> str | None:
    v = rec.get(key)
    if type(v) is str and v not in ("nan", "None") and (not v or not v[0].isspace()):
        return (v.strip() or None) if v[-1:].isspace() else (v or None)
    if v is None:
        return None
    s = v.strip() if isinstance(v, str) else str(v).strip()
    return s if s and s not in ("nan", "None") else None


def call_attributes(
    rec: Mapping[str, Any], call_id: str, encoding: str
) -> tuple[dict[str, Any], list[str]]:
    """Return the attributes and warning flags of one call (:mod:`ingest.calls`); never raise."""
    flags: list[str] = []
    attrs: dict[str, Any] = {"call_id": call_id}
    _counts(rec, attrs, flags)
    notes = _text(rec, "notes")
    vc_raw = _text(rec, "vehicle_class")
    vc, flag = _class_of(vc_raw, notes)
    if flag:
        flags.append(flag)
    attrs["vehicle_class"] = vc
    attrs["vehicle_class_raw"] = vc_raw
    raw = rec.get("needs")
    text = "、".join(map(str, raw)) if isinstance(raw, list) else str(raw or "")
    event = _text(rec, "event_type")
    needs, implied = _needs_of(text, notes or "", vc, event or "", (attrs.get("injured") or 0) > 0)
    attrs["needs"] = needs
    if implied:
        attrs["needs_implied"] = list(implied)
    attrs["phone_masked"] = fast_mask_phone(rec.get("phone"))
    if "caller" in rec:
        attrs["caller_masked"] = mask_name(rec["caller"])
    for key in ("plate", "admin"):
        if key in rec:
            attrs[key] = _text(rec, key)
    attrs["notes"] = notes
    attrs["event_type"] = event
    attrs["encoding"] = encoding
    return attrs, flags


def _clean(v: str) -> str | None:
    """:func:`_text` of a stripped CSV cell."""
    return v if v and v != "nan" and v != "None" else None


def _masked_phone(p: str) -> str | None:
    if len(p) == 11 and p.isdigit():
        return p[:3] + "****" + p[-4:]
    return mask_phone(p)


def call_attributes_many(
    cols: Mapping[str, Sequence[str]], index: Sequence[int], encoding: str
) -> list[tuple[dict[str, Any], list[str]]]:
    """:func:`call_attributes` of the rows `index` of CSV columns, built column by column.

    The columns hold stripped cells (as :func:`ingest.calls.parse_table` makes them); the
    result equals ``call_attributes({k: cols[k][i] for k in cols}, cols["call_id"][i], ...)``
    for each row, with the per-row work cut to lookups in caches of distinct cells.
    """
    n = len(index)

    def column(key: str) -> list[str] | None:
        c = cols.get(key)
        return None if c is None else [c[i] for i in index]

    blank = [""] * n
    keys = COUNT_FIELDS if "injured" in cols else _COUNTS_WITHOUT_INJURED
    counts = [_counts_of(keys, t) for t in zip(*(column(k) or blank for k in keys), strict=True)]
    injured = column("injured") or blank
    notes = [_clean(v) for v in column("notes") or blank]
    note_needs = needs_in_many([v or "" for v in notes])
    vc_raw = [_clean(v) for v in column("vehicle_class") or blank]
    events = [_clean(v) for v in column("event_type") or blank]
    needs_text = column("needs") or blank
    phones = [_masked_phone(p) for p in column("phone") or blank]
    callers = column("caller")
    masked = {v: mask_name(v) for v in set(callers)} if callers is not None else {}
    extras = [(k, [_clean(v) for v in c]) for k in ("plate", "admin") if (c := column(k))]
    ids = column("call_id") or blank
    # per distinct cell: the class of a specific type (a generic one defers to the notes) and
    # whether an injured count is above 0
    classes = {v: _class_cell(v) for v in set(vc_raw) if v and v not in GENERIC_TYPES}
    hurts = {v: (_count_of("injured", v)[0] or 0) > 0 for v in set(injured) if v}
    out: list[tuple[dict[str, Any], list[str]]] = []
    for j in range(n):
        items, count_flags = counts[j]
        attrs: dict[str, Any] = {"call_id": ids[j]}
        attrs.update(items)
        flags = list(count_flags)
        note = notes[j]
        raw = vc_raw[j]
        vc, flag = classes.get(raw) or _class_of(raw, note)  # type: ignore[arg-type]
        if flag:
            flags.append(flag)
        attrs["vehicle_class"] = vc
        attrs["vehicle_class_raw"] = raw
        hurt = hurts.get(injured[j], False)
        event = events[j]
        if vc in HEAVY_CLASSES:
            needs, implied = _needs_with(
                needs_text[j], note_needs[j], note or "", vc, event or "", hurt
            )
        else:
            needs, implied = list(_needs_base(needs_text[j], note_needs[j], hurt)[1]), ()
        attrs["needs"] = needs
        if implied:
            attrs["needs_implied"] = list(implied)
        attrs["phone_masked"] = phones[j]
        if callers is not None:
            attrs["caller_masked"] = masked[callers[j]]
        for key, values in extras:
            attrs[key] = values[j]
        attrs["notes"] = note
        attrs["event_type"] = event
        attrs["encoding"] = encoding
        out.append((attrs, flags))
    return out


def location_attributes(
    attrs: dict[str, Any],
    loc: Location,
    uncertainty_m: float | None = None,
    resolution: str | None = None,
    notes: list[str] | None = None,
) -> None:
    """Add how the call was located to its attributes (method, original, uncertainty)."""
    attrs["location_method"] = loc.method
    attrs["original"] = loc.original
    if uncertainty_m is not None:
        attrs["location_uncertainty_m"] = uncertainty_m
    if resolution is not None:
        attrs["place_resolution"] = resolution
    if notes:
        attrs["place_notes"] = notes


def report_row(
    call_id: str,
    when: datetime,
    loc: Location,
    flags: list[str],
    attrs: dict[str, Any],
    ctx: CallContext,
) -> dict[str, Any]:
    """Return the report-frame row of a call."""
    return {
        "kind": "call",
        "natural_key": call_id,
        "source": ctx.source,
        "raw_sha256": ctx.sha,
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


def _locate(rec: Mapping[str, Any], ctx: CallContext, attrs: dict[str, Any]) -> Location:
    if present(rec.get("lon")) or present(rec.get("lat")):
        datum = rec.get("datum") if present(rec.get("datum")) else ctx.datum
        loc = locate_coordinates(rec.get("lon"), rec.get("lat"), datum, ctx.locator, ctx.cache)
        location_attributes(attrs, loc)
        return loc
    if present(rec.get("stake")):
        road = str(rec["road_code"]).strip() if present(rec.get("road_code")) else None
        loc = locate_stake(str(rec["stake"]).strip(), ctx.locator, road)
        location_attributes(attrs, loc, STAKE_UNCERTAINTY_M)
        return loc
    if present(rec.get("place")):
        found = locate_described(str(rec["place"]), _text(rec, "admin"), ctx.locator)
        location_attributes(
            attrs, found.location, found.uncertainty_m, found.resolution, found.notes
        )
        return found.location
    msg = "call has no location (no coordinates, kilometre post or place name)"
    raise RecordError(msg)


def call_row(rec: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    """Check one record and return its report row.

    Raises
    ------
    RecordError
        Not an object, no call id, no usable time, or no usable location (the message is the
        quarantine reason). Counts and vehicle words never raise.
    """
    if "_bad" in rec:
        msg = "call is not an object"
        raise RecordError(msg)
    call_id = str(rec.get("call_id") or "").strip()
    if not call_id:
        msg = "call has no call id"
        raise RecordError(msg)
    when, flags = parse_time(rec.get("time"), now=ctx.now, lenient=True)
    attrs, more = call_attributes(rec, call_id, ctx.encoding)
    loc = _locate(rec, ctx, attrs)
    return report_row(call_id, when, loc, flags + loc.flags + more, attrs, ctx)
