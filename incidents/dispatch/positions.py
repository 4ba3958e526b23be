"""Unit positions: where each unit is, where that came from, and how far to trust it.

Rules
-----
- **AVL fixes** are reports of kind ``avl`` (:mod:`ingest.avl`, natural key
  ``<unit_id>@<UTC second>``), stored by the same sink as every feed.
  :func:`apply_position_reports` then moves each unit to its newest fix that is newer than
  ``unit.position_at`` (``position_source`` ``avl`` or ``tablet``, fuel and crew hours when
  the fix has them). An older fix never moves a unit back; a fix flagged ``future_time`` is
  not applied (it would pin the unit); unknown unit ids are counted and named, never fatal.
- **The patrol tablet** sends its position with each status tap (and when the lead asks):
  :func:`record_tablet_fix` stores it as an avl report (source ``tablet``) and applies it.
- **On scene** (:func:`follow_assignment`, called by the lifecycle): a unit whose assignment
  goes ``on_scene`` is at the task's location (``position_source="on_scene"``, unless a
  newer fix says otherwise); ``cleared`` leaves it there (known there until that moment)
  until a fix moves it, so the next ETA for it starts from the scene.
- **Staleness** (:func:`position_state`): ``live`` when the last fix (or the on-scene
  placement) is at most ``Settings.stale_position_minutes`` old, or the unit is on scene;
  ``stale`` when older; ``unknown`` when the position never came from a fix (the roster's
  home base, ``position_source`` None or ``base``) or there is none. The recommender does not
  trust a stale position: it still computes the ETA from the last known position (so a unit
  whose tracker dropped out stays in the plan), but the recommendation carries
  ``position_state`` / ``position_age_s`` and its reason says "position stale (last fix N
  min ago): ETA from there, confirm by radio". The dashboard shows, per unit:
  ``position_state``, the age in minutes, ``position_source`` and ``position_at``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import pandas as pd
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.errors import NotFoundError
from incidents.service.audit import audit
from incidents.settings import Settings
from incidents.store.models import Assignment, AssignmentState, Report, Task, Unit, UnitStatus
from ingest.avl import KIND, avl_key, fix_row, parse_avl
from ingest.validate import locate_coordinates, parse_time

__all__ = [
    "DEFAULT_STALE_MINUTES",
    "PositionCounts",
    "PositionState",
    "Positioned",
    "apply_avl_fixes",
    "apply_position_reports",
    "follow_assignment",
    "position_state",
    "read_avl",
    "record_tablet_fix",
]

DEFAULT_STALE_MINUTES = 15.0
FIX_SOURCES = ("avl", "tablet")


class PositionState(NamedTuple):
    """How far a unit's position can be trusted: ``(state, age_s, source)``."""

    state: str  # live | stale | unknown
    age_s: float | None  # seconds since position_at (None when never set)
    source: str | None  # avl | tablet | on_scene | base | None

    def reason(self) -> tuple[str, str]:
        """Return what a recommendation's reason adds (English, Chinese); empty when live."""
        if self.state == "stale" and self.age_s is not None:
            mins = self.age_s / 60.0
            return (
                f"; position stale (last fix {mins:.0f} min ago): ETA from there, confirm by radio",
                f"；位置已过时（{mins:.0f}分钟前定位）：按该位置估算，请电台确认",
            )
        if self.source == "on_scene":
            return "; starts from its last scene", "；从上一现场出发"
        return "", ""


class Positioned(Protocol):
    """What :func:`position_state` reads: a :class:`Unit`, or a row of a units frame."""

    @property
    def geometry(self) -> Any:
        """The position (None when there is none)."""

    @property
    def position_at(self) -> datetime | None:
        """When the position was taken."""

    @property
    def position_source(self) -> str | None:
        """Where it came from: avl, tablet, on_scene, base or None."""

    @property
    def status(self) -> str:
        """The unit's status."""


def position_state(
    unit: Positioned, now: datetime, settings: Settings | None = None
) -> PositionState:
    """``live`` / ``stale`` / ``unknown`` and the age of `unit`'s position at `now`.

    Parameters
    ----------
    unit
        A :class:`Unit` or anything with its ``geometry``, ``position_at``,
        ``position_source`` and ``status`` (e.g. a row of ``units_frame.itertuples()``).
    now
        The moment of the question.
    settings
        ``stale_position_minutes`` (default 15 when None).
    """
    limit = settings.stale_position_minutes if settings is not None else DEFAULT_STALE_MINUTES
    src = unit.position_source
    if unit.geometry is None:
        return PositionState("unknown", None, src)
    age = None if unit.position_at is None else (now - unit.position_at).total_seconds()
    if src is None or src == "base" or age is None:
        return PositionState("unknown", age, src)
    if src == "on_scene" and unit.status == UnitStatus.ON_SCENE.value:
        return PositionState("live", age, src)
    return PositionState("live" if age <= limit * 60.0 else "stale", age, src)


class PositionCounts(dict[str, int]):
    """Counts of :func:`apply_position_reports` (a dict), plus the unknown unit ids.

    Keys: ``applied`` (units moved), ``older`` (fixes not newer than what the unit has, or
    superseded by a newer fix in the same batch), ``future`` (fixes flagged ``future_time``),
    ``unknown_unit`` (distinct unit ids not in the roster; named in ``unknown_units``).
    """

    def __init__(self) -> None:
        super().__init__(applied=0, older=0, future=0, unknown_unit=0)
        self.unknown_units: list[str] = []


_COLS = (Report.id, Report.observed_at, Report.geometry, Report.attributes, Report.flags)


def _avl_rows(
    session: Session, report_ids: Sequence[int] | None, natural_keys: Sequence[str] | None
) -> list[Any]:
    if report_ids is None and natural_keys is None:
        return _newest_fixes_of_known_units(session)
    found: dict[int, Any] = {}
    ids = sorted({int(i) for i in report_ids or []})
    keys = sorted({str(k) for k in natural_keys or []})
    for k in range(0, len(ids), 900):
        q = select(*_COLS).where(Report.kind == KIND, Report.id.in_(ids[k : k + 900]))
        found.update((r.id, r) for r in session.execute(q))
    for k in range(0, len(keys), 900):
        q = select(*_COLS).where(Report.kind == KIND, Report.natural_key.in_(keys[k : k + 900]))
        found.update((r.id, r) for r in session.execute(q))
    return list(found.values())


def _newest_fixes_of_known_units(session: Session, look: int = 5) -> list[Any]:
    """Per unit, its newest fixes after ``position_at``.

    A range scan of the unique index on (kind, natural_key): the keys are
    ``<unit_id>@<UTC ISO second>`` and sort by time.
    """
    out: list[Any] = []
    for uid, at in session.execute(select(Unit.id, Unit.position_at)).all():
        low = avl_key(uid, at) if at is not None else f"{uid}@"
        q = (
            select(*_COLS)
            .where(
                Report.kind == KIND,
                Report.natural_key >= low,
                Report.natural_key < f"{uid}A",  # "A" follows "@": exactly the keys "<uid>@..."
            )
            .order_by(Report.natural_key.desc())
            .limit(look)
        )
        out.extend(session.execute(q).all())
    return out


def _newest_per_unit(rows: Iterable[Any], counts: PositionCounts) -> dict[str, Any]:
    newest: dict[str, Any] = {}
    for r in rows:
        uid = str((r.attributes or {}).get("unit_id") or "")
        if not uid or r.geometry is None:
            counts["older"] += 1
            continue
        if "future_time" in (r.flags or []):
            counts["future"] += 1
            continue
        cur = newest.get(uid)
        if cur is None or (r.observed_at, r.id) > (cur.observed_at, cur.id):
            if cur is not None:
                counts["older"] += 1
            newest[uid] = r
        else:
            counts["older"] += 1
    return newest


def _move(unit: Unit, r: Any) -> None:
    attrs = r.attributes or {}
    g = r.geometry
    unit.geometry = Point(float(g.x), float(g.y))
    unit.position_at = r.observed_at
    unit.position_source = "tablet" if attrs.get("position_source") == "tablet" else "avl"
    fuel = attrs.get("fuel")
    if isinstance(fuel, (int, float)) and fuel == fuel:
        unit.fuel = float(min(max(float(fuel), 0.0), 1.0))
    crew = attrs.get("crew_hours")
    if isinstance(crew, (int, float)) and crew == crew:
        unit.crew_hours = float(crew)


def apply_position_reports(
    session: Session,
    report_ids: Sequence[int] | None = None,
    *,
    natural_keys: Sequence[str] | None = None,
    actor: str = "avl",
) -> PositionCounts:
    """Move units to their newest avl fixes (in the caller's transaction).

    Parameters
    ----------
    session
        Open session; flushed, not committed.
    report_ids, natural_keys
        The avl reports just stored, by id or by natural key (the ``natural_key`` column of
        the parse result: what the ingest pipeline has). With neither, each known unit's
        newest fixes after its ``position_at`` (an index range scan per unit; fixes of
        unknown units are then not seen, so not counted).
    actor
        Who is recorded in the audit event ``unit.position``.

    Returns
    -------
    PositionCounts
        ``applied``, ``older``, ``future``, ``unknown_unit`` (and ``.unknown_units``).
    """
    counts = PositionCounts()
    newest = _newest_per_unit(_avl_rows(session, report_ids, natural_keys), counts)
    if not newest:
        return counts
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(list(newest))))}
    moved: list[str] = []
    for uid, r in sorted(newest.items()):
        unit = units.get(uid)
        if unit is None:
            counts.unknown_units.append(uid)
            continue
        if unit.position_at is not None and unit.position_at >= r.observed_at:
            counts["older"] += 1
            continue
        _move(unit, r)
        moved.append(uid)
    counts["applied"] = len(moved)
    counts["unknown_unit"] = len(counts.unknown_units)
    session.flush()
    if moved or counts.unknown_units:
        details = dict(counts) | {"units": moved[:50], "unknown_units": counts.unknown_units[:50]}
        audit(session, actor, "unit.position", None, details=details)
    return counts


def record_tablet_fix(
    session: Session,
    *,
    unit_id: str,
    lon: float,
    lat: float,
    at: datetime,
    accuracy_m: float | None = None,
) -> int:
    """Store the patrol tablet's position as an avl report (source ``tablet``) and apply it.

    Idempotent per unit and second (the natural key): the same fix twice stores one report.

    Returns
    -------
    int
        The report id.

    Raises
    ------
    NotFoundError
        No unit `unit_id`.
    ingest.validate.RecordError
        Coordinates out of range or (0, 0) (a ValueError; nothing is stored).
    """
    if session.get(Unit, unit_id) is None:
        msg = f"no unit {unit_id!r}"
        raise NotFoundError(msg)
    when, flags = parse_time(at if at.tzinfo else at.replace(tzinfo=UTC))
    loc = locate_coordinates(lon, lat, "wgs84")
    extra = {"position_source": "tablet", "format": "tablet", "accuracy_m": accuracy_m}
    row = fix_row(unit_id, when, loc, "tablet", None, flags=flags, extra=extra)
    report_id = _store_fix(session, row)
    apply_position_reports(session, [report_id], actor=f"tablet:{unit_id}")
    return report_id


def _store_fix(session: Session, row: dict[str, Any]) -> int:
    """Insert one avl report row (:func:`ingest.avl.fix_row`) unless its key is there."""
    report = session.scalars(
        select(Report).where(Report.kind == KIND, Report.natural_key == row["natural_key"])
    ).first()
    if report is None:
        keys = ("kind", "natural_key", "source", "raw_sha256", "subtype", "observed_at")
        report = Report(
            **{k: row[k] for k in keys},
            geometry=row["geometry"],
            flags=row["flags"],
            attributes=row["attributes"],
        )
        session.add(report)
        session.flush()
    return int(report.id)


def follow_assignment(
    session: Session, assignment: Assignment, state: str | AssignmentState, now: datetime
) -> None:
    """Keep the unit's position in step with its assignment (called by the lifecycle).

    ``on_scene``: the unit is at the task's location (``position_source="on_scene"``,
    ``position_at=now``) unless it already has a newer fix. ``cleared``: a unit placed at the
    scene stays there, known there until `now`; a unit with a real fix keeps it.
    """
    state = AssignmentState(state)
    unit = session.get(Unit, assignment.unit_id)
    if unit is None:
        return
    if state is AssignmentState.ON_SCENE:
        task = session.get(Task, assignment.task_id)
        if task is None or task.geometry is None:
            return
        if unit.position_at is not None and unit.position_at > now:
            return
        p = task.geometry.representative_point()
        unit.geometry = Point(float(p.x), float(p.y))
        unit.position_at = now
        unit.position_source = "on_scene"
    elif state is AssignmentState.CLEARED and unit.position_source == "on_scene":
        if unit.position_at is None or unit.position_at < now:
            unit.position_at = now
    else:
        return
    session.flush()


# ------------------------------------------------------------------------------------------
# The former Python-only AVL path, kept as thin wrappers over the report path above
# ------------------------------------------------------------------------------------------


def read_avl(data: bytes) -> pd.DataFrame:
    """AVL fixes (any :func:`ingest.avl.parse_avl` format) as a frame.

    Columns: unit_id, time (UTC), lon, lat (WGS84), fuel, crew_hours. Quarantined fixes are
    left out.

    Raises
    ------
    ingest.errors.ParseError
        The payload is unreadable or lacks the time/lon/lat columns (a ValueError).
    """
    frame = parse_avl(data, "avl").frame
    attrs = list(frame["attributes"])
    return pd.DataFrame(
        {
            "unit_id": [a["unit_id"] for a in attrs],
            "time": pd.to_datetime(list(frame["observed_at"]), utc=True),
            "lon": [g.x for g in frame.geometry],
            "lat": [g.y for g in frame.geometry],
            "fuel": [a.get("fuel") for a in attrs],
            "crew_hours": [a.get("crew_hours") for a in attrs],
        }
    )


def apply_avl_fixes(session: Session, frame: pd.DataFrame, actor: str = "avl") -> dict[str, int]:
    """Store the fixes of a :func:`read_avl` frame as avl reports and apply them.

    Returns
    -------
    dict
        ``{"applied", "stale", "unknown_unit"}`` (``stale``: fixes not applied as older).
    """
    ids = []
    for rec in frame.itertuples(index=False):
        when = pd.Timestamp(rec.time).to_pydatetime()
        loc = locate_coordinates(rec.lon, rec.lat, "wgs84")
        extra = {"fuel": _num(rec.fuel), "crew_hours": _num(rec.crew_hours), "format": "frame"}
        ids.append(
            _store_fix(session, fix_row(str(rec.unit_id), when, loc, actor, None, extra=extra))
        )
    counts = apply_position_reports(session, ids, actor=actor)
    return {
        "applied": counts["applied"],
        "stale": counts["older"],
        "unknown_unit": counts["unknown_unit"],
    }


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f else None
