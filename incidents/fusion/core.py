"""Fusion: reports -> road conditions, hazards, incidents and tasks; hotspots and coverage.

:func:`fuse` is incremental and idempotent. It picks up the point reports that have not been
fused yet (see :mod:`incidents.fusion.conditions` for the snapping decision), recomputes the
conditions of the segments that can have changed, keeps one open hazard per segment with an
observed hazardous condition, merges incident reports into incidents and keeps every open
incident's priority and tasks current. Running it twice on the same reports at the same
``now`` changes nothing.

Merging incident reports
------------------------
A new incident report (call, drone sighting of a stranded vehicle / crash / vehicle in a ditch /
blocked road, Waze crash or stopped car) joins an open incident when all of these hold:

* kinds are compatible: {stranded, road_blocked} or {crash, vehicle_in_ditch};
* time: observed between 2 h before the incident's first report and 6 h after its last one;
* place: on the same road within ``ALONG_ROAD_KM`` (2 km) of the incident's kilometre post, or
  within ``NEARBY_M`` (1 km) in a straight line; a caller who gave only a place name (town,
  township) matches within ``PLACE_NAME_M`` (30 km), but then only when both vehicle counts are
  known;
* vehicle counts agree when both are known: the smaller is at least 30 % of the larger, or
  they differ by 3 or less (35 cars and "about 30" agree; a single car and a 35-car queue do
  not).

Among the matching incidents the closest in space and time wins. Every merge appends an entry
to ``Incident.merge_log`` (report id, rule, distance, minutes, vehicle counts, a sentence), so
the incident can always say why a report is in it. :func:`split_incident` and
:func:`merge_incidents` let a dispatcher correct it by hand (audited).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geo.coverage import coverage_share, segment_response_times
from geo.crs import to_metric_xy
from geo.hotspots import gi_star, hot_clusters, segment_weights
from geo.network import segments_key
from geo.region import Region
from geo.stakes import format_stake
from incidents.errors import NotFoundError
from incidents.fusion.conditions import (
    CONFIDENCE_STEP,
    OBSERVED_THRESHOLD,
    classify,
    live_alerts,
    load_evidence,
    segment_states,
    snap_new_reports,
    standing_mask_cleared,
    update_conditions,
)
from incidents.fusion.priority import hazard_priority, highest_class, priority, wind_chill
from incidents.fusion.tasks import TaskSpec, tasks_for_hazard, tasks_for_incident
from incidents.service.audit import audit
from incidents.settings import Settings
from incidents.store.models import (
    Alert,
    Condition,
    Hazard,
    HazardState,
    Incident,
    IncidentStatus,
    Report,
    RoadChief,
    SegmentCondition,
    Setting,
    Task,
    TaskStatus,
    Unit,
    UnitStatus,
)

__all__ = [
    "CoverageResult",
    "FusionSummary",
    "coverage",
    "current_hotspots",
    "fuse",
    "hotspot_weights",
    "hotspots_from_evidence",
    "hotspots_geojson",
    "merge_incidents",
    "split_incident",
]

ALONG_ROAD_KM = 2.0
NEARBY_M = 1000.0
PLACE_NAME_M = 30_000.0
WINDOW_BEFORE = timedelta(hours=2)
WINDOW_AFTER = timedelta(hours=6)
HOTSPOT_ALPHA = 0.05
FUSION_LOCK_KEY = 0x57F05E  # PostgreSQL advisory lock held by fuse() for its transaction
MIN_HOTSPOT_EVIDENCE = 0.25  # a cluster needs at least this much evidence weight
INCIDENT_HALF_LIFE_H = 12.0
KIND_GROUPS = ({"stranded", "road_blocked"}, {"crash", "vehicle_in_ditch"})
KIND_LABEL = {
    "stranded": "stranded vehicles",
    "crash": "crash",
    "vehicle_in_ditch": "vehicle in a ditch",
    "road_blocked": "road blocked",
    "black_ice": "black ice",
    "drifting_snow": "drifting snow",
    "snow_packed": "snow-packed road",
    "poor_visibility": "poor visibility",
    "closed": "road closed",
}
SOURCE_LABEL = {
    "drone_detection": "drone detection",
    "call": "call",
    "waze": "Waze report",
    "patrol": "patrol report",
    "drone_track": "drone pass",
}
_OPEN_TASK_STATES = (TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value)
# a done task still counts: an incident's finished rescue is not created again; for a hazard,
# only evidence newer than the finished work calls for the work again (see `_still_counts`)
_EXISTING_TASK_STATES = (*_OPEN_TASK_STATES, TaskStatus.DONE.value)


@dataclass
class FusionSummary:
    """What one :func:`fuse` run did."""

    reports_fused: int = 0
    off_road: int = 0
    segments_evaluated: int = 0
    conditions_opened: int = 0
    conditions_closed: int = 0
    conditions_updated: int = 0
    hazards_opened: int = 0
    hazards_updated: int = 0
    hazards_cleared: int = 0
    incidents_created: int = 0
    reports_merged: int = 0
    incidents_updated: int = 0
    tasks_created: int = 0
    tasks_cancelled: int = 0

    def to_json(self) -> dict[str, int]:
        """The summary as a JSON-ready dict."""
        return asdict(self)


# ---------------------------------------------------------------------- fuse


def fuse(session: Session, region: Region, settings: Settings, now: datetime) -> FusionSummary:
    """Fuse the reports not yet fused into conditions, hazards, incidents and tasks.

    Parameters
    ----------
    session
        An open session (the caller commits; one transaction).
    region
        The loaded region (network for snapping, sections for road chiefs).
    settings
        Snap tolerance and half-lives.
    now
        The fusion clock (UTC, aware): ages and decay are measured from it.

    Returns
    -------
    FusionSummary
        Counts of what changed (all zero on a second run with nothing new).
    """
    summary = FusionSummary()
    if session.get_bind().dialect.name == "postgresql":
        # one fusion at a time (SQLite's BEGIN IMMEDIATE already serialises writers)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FUSION_LOCK_KEY})
    new = snap_new_reports(session, region, settings)
    summary.reports_fused = len(new)
    summary.off_road = int(new["segment_id"].isna().sum()) if len(new) else 0
    touched = set(new["segment_id"].dropna()) if len(new) else set()
    cs = update_conditions(session, region, settings, now, touched)
    summary.segments_evaluated = cs.segments_evaluated
    summary.conditions_opened = cs.opened
    summary.conditions_closed = cs.closed
    summary.conditions_updated = cs.updated
    _sync_hazards(session, region, settings, now, cs.states, summary)
    alerts = live_alerts(session, now)
    _merge_new_incident_reports(session, region, new, summary)
    _refresh_incidents(session, alerts, now, summary)
    session.flush()
    return summary


# ---------------------------------------------------------------------- hazards


def _segment_info(region: Region) -> pd.DataFrame:
    return region.network.segments.set_index("segment_id")


def _chief_for(session: Session, region: Region, section_id: str | None) -> str | None:
    if not section_id or len(region.sections) == 0:
        return None
    rows = region.sections[region.sections["section_id"].astype(str) == str(section_id)]
    if len(rows) == 0 or pd.isna(rows.iloc[0]["road_chief_id"]):
        return None
    chief = str(rows.iloc[0]["road_chief_id"])
    return chief if session.get(RoadChief, chief) is not None else None


def _kinds_of(session: Session, ids: Iterable[int]) -> dict[int, str]:
    ids = sorted({int(i) for i in ids})
    if not ids:
        return {}
    out: dict[int, str] = {}
    for chunk in range(0, len(ids), 900):
        part = ids[chunk : chunk + 900]
        out.update(
            dict(session.execute(select(Report.id, Report.kind).where(Report.id.in_(part))).all())
        )  # type: ignore[arg-type]
    return out


def _count_phrase(kinds: Iterable[str]) -> str:
    counts = Counter(kinds)
    parts = []
    for k, n in counts.most_common():
        label = SOURCE_LABEL.get(k, k)
        parts.append(f"{n} {label}{'s' if n != 1 else ''}")
    return ", ".join(parts)


def _stretch(info: pd.DataFrame, segment_ids: Sequence[str]) -> str:
    known = [s for s in segment_ids if s in info.index]
    if not known:
        return "unknown road"
    if len(known) == 1:
        one = info.loc[known[0]]
        k0, k1 = float(one["km_from"]), float(one["km_to"])
        return f"{one['road_code']} {format_stake(k0)}-{format_stake(k1)}"
    rows = info.loc[known]
    parts = []
    for code, grp in rows.groupby("road_code", sort=False):
        k0, k1 = float(grp["km_from"].min()), float(grp["km_to"].max())
        parts.append(f"{code} {format_stake(k0)}-{format_stake(k1)}")
    return "; ".join(parts)


def _sync_hazards(
    session: Session,
    region: Region,
    settings: Settings,
    now: datetime,
    states: pd.DataFrame,
    summary: FusionSummary,
) -> None:
    if len(states) == 0:
        return
    info = _segment_info(region)
    open_h = {
        h.segment_id: h
        for h in session.scalars(
            select(Hazard).where(
                Hazard.state.in_((HazardState.OPEN.value, HazardState.HANDED_OVER.value))
            )
        )
    }
    observed = states[states["observed"].astype(bool)]
    tasks = _open_tasks_by(session, "hazard")
    kinds = _kinds_of(session, [i for ids in observed["report_ids"] for i in ids])
    for sid, row in observed.iterrows():
        sid = str(sid)
        cond = str(row["condition"])
        hz = open_h.get(sid)
        if cond == Condition.CLEAR.value:
            if hz is not None:
                hz.state = HazardState.CLEARED.value
                hz.cleared_at = now
                hz.cleared_by = str(row["cleared_by"] or row["source"])
                hz.version += 1
                summary.hazards_cleared += 1
                summary.tasks_cancelled += _cancel_open_tasks(session, hazard_id=hz.id, now=now)
            continue
        conf = float(row["confidence"])
        if conf < OBSERVED_THRESHOLD:
            continue
        ids = [int(i) for i in row["report_ids"]]
        seg = info.loc[sid] if sid in info.index else None
        stretch = _stretch(info, [sid])
        reason = (
            f"{KIND_LABEL.get(cond, cond)} on {stretch}: "
            f"{_count_phrase(kinds.get(i, '?') for i in ids)} (confidence {conf:.2f})"
        )
        if hz is None:
            geom = seg.geometry if seg is not None else None
            section = None if seg is None or pd.isna(seg["section_id"]) else str(seg["section_id"])
            hz = Hazard(
                segment_id=sid,
                condition=cond,
                observed=True,
                confidence=conf,
                state=HazardState.OPEN.value,
                geometry=geom,
                road_code=None if seg is None else str(seg["road_code"]),
                km=None if seg is None else float(seg["km_from"]),
                section_id=section,
                road_chief_id=_chief_for(session, region, section),
                first_seen=now,
                last_seen=now,
                report_ids=ids,
                reason=reason,
                version=1,
            )
            session.add(hz)
            session.flush()
            summary.hazards_opened += 1
        else:
            changed = (
                hz.condition != cond
                or sorted(set(hz.report_ids or []) | set(ids)) != sorted(hz.report_ids or [])
                or abs(hz.confidence - conf) > CONFIDENCE_STEP
            )
            if not changed:
                _ensure_tasks(
                    session, None, hz, tasks_for_hazard(hz), now, summary, seg, open_tasks=tasks
                )
                continue
            merged = sorted(set(hz.report_ids or []) | set(ids))
            if hz.condition != cond or merged != sorted(hz.report_ids or []):
                # a new condition or new reports is news for whoever holds the hazard;
                # a fading confidence is not (no version bump, no spurious edit conflicts)
                hz.version += 1
                hz.last_seen = now
            hz.condition = cond
            hz.confidence = conf
            hz.report_ids = merged
            hz.reason = reason
            summary.hazards_updated += 1
        _ensure_tasks(session, None, hz, tasks_for_hazard(hz), now, summary, seg, open_tasks=tasks)


def _cancel_open_tasks(
    session: Session,
    *,
    hazard_id: int | None = None,
    incident_id: int | None = None,
    now: datetime,
    keep: Iterable[str] = (),
) -> int:
    stmt = select(Task).where(Task.status == TaskStatus.OPEN.value)
    if hazard_id is not None:
        stmt = stmt.where(Task.hazard_id == hazard_id)
    if incident_id is not None:
        stmt = stmt.where(Task.incident_id == incident_id)
    keep_set = set(keep)
    n = 0
    for t in session.scalars(stmt):
        if t.kind in keep_set:
            continue
        t.status = TaskStatus.CANCELLED.value
        t.closed_at = now
        t.version += 1
        n += 1
    return n


def _ensure_tasks(
    session: Session,
    incident: Incident | None,
    hazard: Hazard | None,
    specs: Sequence[TaskSpec],
    now: datetime,
    summary: FusionSummary,
    seg: Any = None,
    open_tasks: Mapping[int, list[Task]] | None = None,
) -> None:
    if incident is not None:
        stmt = select(Task).where(Task.incident_id == incident.id)
        prio = float(incident.priority)
        geom = incident.geometry
    elif hazard is not None:
        stmt = select(Task).where(Task.hazard_id == hazard.id)
        road_class = None if seg is None else seg.get("road_class")
        prio = hazard_priority(hazard.condition, hazard.confidence, road_class)
        geom = None
        if hazard.geometry is not None:
            geom = shapely.line_interpolate_point(hazard.geometry, 0.5, normalized=True)
    else:
        return
    owner = incident.id if incident is not None else (hazard.id if hazard is not None else None)
    if open_tasks is not None and owner is not None:
        existing = list(open_tasks.get(owner, []))
    else:
        existing = [t for t in session.scalars(stmt) if t.status in _EXISTING_TASK_STATES]
    have = {t.kind for t in existing if _still_counts(t, hazard)}
    for spec in specs:
        if spec.kind in have:
            continue
        session.add(
            Task(
                incident_id=None if incident is None else incident.id,
                hazard_id=None if hazard is None else hazard.id,
                kind=spec.kind,
                capability=spec.capability,
                status=TaskStatus.OPEN.value,
                priority=prio,
                geometry=geom,
                created_at=now,
            )
        )
        summary.tasks_created += 1
    wanted = {s.kind for s in specs}
    for t in existing:
        if t.status == TaskStatus.OPEN.value and t.kind not in wanted:
            t.status = TaskStatus.CANCELLED.value
            t.closed_at = now
            t.version += 1
            summary.tasks_cancelled += 1
        elif abs(t.priority - prio) > 1e-6:
            t.priority = prio
            if geom is not None and t.geometry is None:
                t.geometry = geom


# ---------------------------------------------------------------------- incidents


def _as_int(v: Any) -> int:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0
    return 0 if math.isnan(f) else max(0, int(f))


def _report_facts(row: Mapping[str, Any]) -> dict[str, Any]:
    attrs = row.get("attributes") or {}
    if not isinstance(attrs, Mapping):
        attrs = {}
    kind = str(row["kind"])
    method = str(attrs.get("location_method") or "coordinates")
    loc_rank = {"drone_detection": 0, "patrol": 0}.get(kind, 1)
    if method in ("stake", "km_post"):
        loc_rank = 2
    elif method == "place":
        loc_rank = 3
    needs = attrs.get("needs") or []
    if isinstance(needs, str):
        needs = [needs]
    return {
        "vehicles": _as_int(attrs.get("vehicles")),
        "people": _as_int(attrs.get("people")),
        "vulnerable": _as_int(attrs.get("vulnerable")),
        "vehicle_class": attrs.get("vehicle_class") or None,
        "needs": sorted({str(n) for n in needs}),
        "place_only": method == "place",
        "loc_rank": loc_rank,
    }


def _vehicles_agree(a: int, b: int) -> bool:
    if a <= 0 or b <= 0:
        return True
    lo, hi = sorted((a, b))
    return lo >= 0.3 * hi or hi - lo <= 3


def _group(kind: str) -> int:
    for i, g in enumerate(KIND_GROUPS):
        if kind in g:
            return i
    return -1


@dataclass
class _Cand:
    incident: Incident
    rule: str
    distance_m: float
    minutes: float
    score: float = field(default=0.0)


def _metric(geom: Any) -> tuple[float, float] | None:
    if geom is None or geom.is_empty:
        return None
    x, y = to_metric_xy(np.array([geom.x]), np.array([geom.y]))
    return float(x[0]), float(y[0])


def _match(
    incidents: Sequence[Incident],
    kind: str,
    when: datetime,
    point: Any,
    road: str | None,
    km: float | None,
    facts: Mapping[str, Any],
) -> _Cand | None:
    best: _Cand | None = None
    xy = _metric(point)
    for inc in incidents:
        if _group(inc.kind) != _group(kind):
            continue
        if when < inc.first_report_at - WINDOW_BEFORE or when > inc.last_report_at + WINDOW_AFTER:
            continue
        if not _vehicles_agree(int(inc.vehicles or 0), int(facts["vehicles"])):
            continue
        ixy = _metric(inc.geometry)
        straight = (
            math.inf if xy is None or ixy is None else math.hypot(xy[0] - ixy[0], xy[1] - ixy[1])
        )
        rule = None
        dist = straight
        if road and inc.road_code == road and km is not None and inc.km is not None:
            along = abs(float(km) - float(inc.km)) * 1000.0
            if along <= ALONG_ROAD_KM * 1000.0:
                rule, dist = "along_road", along
        if rule is None and straight <= NEARBY_M:
            rule = "nearby"
        if (
            rule is None
            and facts["place_only"]
            and straight <= PLACE_NAME_M
            and facts["vehicles"] > 0
            and int(inc.vehicles or 0) > 0
        ):
            rule = "place_name"
        if rule is None:
            continue
        minutes = abs((when - inc.last_report_at).total_seconds()) / 60.0
        limit = {
            "along_road": ALONG_ROAD_KM * 1000.0,
            "nearby": NEARBY_M,
            "place_name": PLACE_NAME_M,
        }[rule]
        score = dist / limit + minutes / (WINDOW_AFTER.total_seconds() / 60.0)
        if best is None or score < best.score:
            best = _Cand(inc, rule, dist, minutes, score)
    return best


def _why(c: _Cand, road: str | None, inc_vehicles: int, rep_vehicles: int) -> str:
    where = {
        "along_road": f"{c.distance_m / 1000:.1f} km apart along {road}",
        "nearby": f"{c.distance_m:.0f} m apart",
        "place_name": f"caller gave only a place name {c.distance_m / 1000:.1f} km away",
    }[c.rule]
    veh = ""
    if inc_vehicles and rep_vehicles:
        veh = f", {rep_vehicles} vs {inc_vehicles} vehicles"
    return f"{where}, {c.minutes:.0f} min after the last report{veh}"


def _title(inc: Incident) -> str:
    label = KIND_LABEL.get(inc.kind, inc.kind)
    where = (
        f" on {inc.road_code} {format_stake(inc.km)}"
        if inc.road_code and inc.km is not None
        else ""
    )
    count = []
    if inc.vehicles:
        count.append(f"{inc.vehicles} vehicle{'s' if inc.vehicles != 1 else ''}")
    if inc.people:
        count.append(f"{inc.people} people")
    return f"{label.capitalize()}{where}" + (f" ({', '.join(count)})" if count else "")


def _locate_incident(
    inc: Incident, region: Region, point: Any, settings_tol: float = 250.0
) -> None:
    inc.geometry = point
    if point is None:
        return
    snapped = region.network.snap([point.x], [point.y], tolerance_m=settings_tol)
    sid = snapped["segment_id"].iloc[0]
    inc.segment_id = sid
    inc.road_code = snapped["road_code"].iloc[0] if sid is not None else None
    km = snapped["km"].iloc[0]
    inc.km = None if sid is None or pd.isna(km) else round(float(km), 3)
    place = region.admin_at(point.x, point.y)
    inc.admin_code = None if place is None else str(place.admin_code)


def _apply_facts(inc: Incident, facts: Sequence[Mapping[str, Any]]) -> None:
    inc.vehicles = max([int(f["vehicles"]) for f in facts] + [0])
    inc.people = max([int(f["people"]) for f in facts] + [0])
    inc.vulnerable = max([int(f["vulnerable"]) for f in facts] + [0])
    inc.vehicle_class = highest_class(f["vehicle_class"] for f in facts)
    inc.needs = sorted({n for f in facts for n in f["needs"]})
    inc.fuel_low = "fuel" in inc.needs


def _merge_new_incident_reports(
    session: Session, region: Region, new: pd.DataFrame, summary: FusionSummary
) -> None:
    if len(new) == 0:
        return
    open_inc = list(
        session.scalars(select(Incident).where(Incident.status == IncidentStatus.OPEN.value))
    )
    known = {int(i) for inc in open_inc for i in (inc.report_ids or [])}
    facts_cache: dict[int, list[dict[str, Any]]] = {}
    for row in new.to_dict("records"):
        rid = int(row["id"])
        if rid in known:
            continue
        c = classify(str(row["kind"]), row["subtype"], row["attributes"])
        if c.incident is None:
            continue
        facts = _report_facts(row)
        when = row["observed_at"]
        if isinstance(when, pd.Timestamp):
            when = when.to_pydatetime()
        point = row["geometry"]
        road = row["snap_road"] if row["segment_id"] is not None else None
        km = None if row["segment_id"] is None or pd.isna(row["snap_km"]) else float(row["snap_km"])
        cand = _match(open_inc, c.incident, when, point, road, km, facts)
        if cand is not None:
            inc = cand.incident
            all_facts = facts_cache.setdefault(inc.id, _facts_of(session, inc))
            entry = {
                "report_id": rid,
                "kind": row["kind"],
                "rule": cand.rule,
                "distance_m": round(cand.distance_m, 1),
                "minutes": round(cand.minutes, 1),
                "vehicles": [int(inc.vehicles or 0), int(facts["vehicles"])],
                "why": _why(cand, road, int(inc.vehicles or 0), int(facts["vehicles"])),
            }
            inc.report_ids = [*(inc.report_ids or []), rid]
            inc.merge_log = [*(inc.merge_log or []), entry]
            all_facts.append(facts)
            _apply_facts(inc, all_facts)
            inc.first_report_at = min(inc.first_report_at, when)
            inc.last_report_at = max(inc.last_report_at, when)
            best_rank = min(int(f["loc_rank"]) for f in all_facts[:-1]) if len(all_facts) > 1 else 9
            if facts["loc_rank"] < best_rank and point is not None:
                _locate_incident(inc, region, point)
            if (
                c.incident != inc.kind
                and c.incident in ("vehicle_in_ditch", "stranded")
                and inc.kind in ("crash", "road_blocked")
            ):
                inc.kind = c.incident
            inc.title = _title(inc)
            inc.version += 1
            summary.reports_merged += 1
        else:
            inc = Incident(
                kind=c.incident,
                status=IncidentStatus.OPEN.value,
                first_report_at=when,
                last_report_at=when,
                report_ids=[rid],
                merge_log=[
                    {"report_id": rid, "kind": row["kind"], "rule": "new", "why": "first report"}
                ],
                version=1,
            )
            _apply_facts(inc, [facts])
            _locate_incident(inc, region, point)
            inc.title = _title(inc)
            session.add(inc)
            session.flush()
            facts_cache[inc.id] = [facts]
            open_inc.append(inc)
            summary.incidents_created += 1
        known.add(rid)


def _report_rows(session: Session, ids: Iterable[int]) -> list[dict[str, Any]]:
    ids = sorted({int(i) for i in ids})
    out: list[dict[str, Any]] = []
    for chunk in range(0, len(ids), 900):
        part = ids[chunk : chunk + 900]
        res = session.execute(
            select(
                Report.id,
                Report.kind,
                Report.subtype,
                Report.observed_at,
                Report.attributes,
                Report.geometry,
            ).where(Report.id.in_(part))
        )
        out.extend(dict(r._mapping) for r in res)
    return out


def _facts_of(session: Session, inc: Incident) -> list[dict[str, Any]]:
    return [_report_facts(r) for r in _report_rows(session, inc.report_ids or [])]


def _rebuild(session: Session, region: Region, inc: Incident) -> None:
    rows = _report_rows(session, inc.report_ids or [])
    if not rows:
        return
    facts = [_report_facts(r) for r in rows]
    _apply_facts(inc, facts)
    inc.first_report_at = min(r["observed_at"] for r in rows)
    inc.last_report_at = max(r["observed_at"] for r in rows)
    best = min(range(len(rows)), key=lambda i: (facts[i]["loc_rank"], rows[i]["observed_at"]))
    _locate_incident(inc, region, rows[best]["geometry"])
    inc.title = _title(inc)


OBSERVATIONS_KEY = "observations"


def configured_observation(session: Session) -> tuple[float | None, float | None]:
    """Temperature (°C) and wind (km/h) an admin configured (``app_settings`` key
    ``observations``: ``{"temperature_c": -32, "wind_kmh": 25}``), used where no alert says."""
    row = session.get(Setting, OBSERVATIONS_KEY)
    value = row.value if row is not None and isinstance(row.value, Mapping) else {}

    def num(key: str) -> float | None:
        try:
            v = float(value[key])
        except (KeyError, TypeError, ValueError):
            return None
        return v if math.isfinite(v) else None

    return num("temperature_c"), num("wind_kmh")


def wind_chill_at(
    alerts: Sequence[Alert],
    point: Any,
    observed: tuple[float | None, float | None] = (None, None),
) -> float | None:
    """Wind chill (°C) at `point`: the coldest temperature and the strongest wind among the live
    alerts whose area covers it (a cold-wave alert gives one, a gale alert the other), each
    falling back to the configured observation; None when no temperature is known."""
    if point is None:
        return None
    temps = [
        a.temperature_c
        for a in alerts
        if a.temperature_c is not None and a.area is not None and a.area.covers(point)
    ]
    winds = [
        a.wind_kmh
        for a in alerts
        if a.wind_kmh is not None and a.area is not None and a.area.covers(point)
    ]
    t = min(temps) if temps else observed[0]
    v = max(winds) if winds else observed[1]
    if t is None:
        return None
    return float(wind_chill(t, v if v is not None else 0.0))


def _refresh_incidents(
    session: Session, alerts: Sequence[Alert], now: datetime, summary: FusionSummary
) -> None:
    tasks = _open_tasks_by(session, "incident")
    observed = configured_observation(session)
    for inc in session.scalars(
        select(Incident).where(Incident.status == IncidentStatus.OPEN.value)
    ):
        wc = wind_chill_at(alerts, inc.geometry, observed)
        minutes = max(0.0, (now - inc.first_report_at).total_seconds() / 60.0)
        p = priority(
            people=inc.people,
            vulnerable=inc.vulnerable,
            vehicle_class=inc.vehicle_class,
            wind_chill_c=wc,
            minutes_since_first_call=minutes,
            fuel_low=bool(inc.fuel_low),
        )
        p = round(p, 3)
        if abs(p - float(inc.priority or 0.0)) > 1e-9:
            inc.priority = p
            summary.incidents_updated += 1
        _ensure_tasks(session, inc, None, tasks_for_incident(inc), now, summary, open_tasks=tasks)


def _still_counts(task: Task, hazard: Hazard | None) -> bool:
    """Whether an existing task stops fusion from creating the same kind again.

    Open and assigned tasks always do. A done task does for an incident (its need was met), and
    for a hazard only while no evidence newer than the work has come in (ice that formed again
    after gritting needs gritting again).
    """
    if task.status != TaskStatus.DONE.value:
        return True
    if hazard is None:
        return True
    return task.closed_at is not None and task.closed_at >= hazard.last_seen


def _open_tasks_by(session: Session, owner: str) -> dict[int, list[Task]]:
    """Open, assigned and done tasks of every incident (or hazard), in one query."""
    col = Task.incident_id if owner == "incident" else Task.hazard_id
    out: dict[int, list[Task]] = {}
    for t in session.scalars(
        select(Task).where(col.is_not(None), Task.status.in_(_EXISTING_TASK_STATES))
    ):
        key = t.incident_id if owner == "incident" else t.hazard_id
        if key is not None:
            out.setdefault(int(key), []).append(t)
    return out


def split_incident(
    session: Session,
    region: Region,
    actor: str,
    incident_id: int,
    report_ids: Sequence[int],
    now: datetime,
) -> Incident:
    """Move `report_ids` out of an incident into a new one (audited).

    Raises
    ------
    NotFoundError
        No such incident.
    ValueError
        The reports are not all in the incident, or they are all of it.
    """
    inc = session.get(Incident, incident_id)
    if inc is None:
        msg = f"no incident {incident_id!r}"
        raise NotFoundError(msg)
    moving = sorted({int(r) for r in report_ids})
    have = {int(r) for r in inc.report_ids or []}
    if not moving or not set(moving) <= have or set(moving) == have:
        msg = f"reports {moving!r} must be a proper, non-empty part of incident {incident_id} ({sorted(have)})"
        raise ValueError(msg)
    rows = _report_rows(session, moving)
    first = min(rows, key=lambda r: r["observed_at"])
    c = classify(str(first["kind"]), first["subtype"], first["attributes"])
    new = Incident(
        kind=c.incident or inc.kind,
        status=IncidentStatus.OPEN.value,
        first_report_at=first["observed_at"],
        last_report_at=first["observed_at"],
        report_ids=moving,
        merge_log=[
            {
                "report_ids": moving,
                "rule": "split",
                "from": inc.id,
                "by": actor,
                "at": now.isoformat(),
                "why": f"split from incident {inc.id} by {actor}",
            }
        ],
        version=1,
    )
    inc.report_ids = sorted(have - set(moving))
    inc.merge_log = [
        *(inc.merge_log or []),
        {
            "report_ids": moving,
            "rule": "split_out",
            "by": actor,
            "at": now.isoformat(),
            "why": f"reports moved to a new incident by {actor}",
        },
    ]
    inc.version += 1
    _rebuild(session, region, inc)
    _rebuild(session, region, new)
    session.add(new)
    session.flush()
    audit(
        session,
        actor,
        "incident.split",
        f"incident:{inc.id}",
        details={"new_incident": new.id, "report_ids": moving},
    )
    summary = FusionSummary()
    _refresh_incidents(session, live_alerts(session, now), now, summary)
    _cancel_open_tasks(
        session, incident_id=inc.id, now=now, keep=[s.kind for s in tasks_for_incident(inc)]
    )
    return new


def merge_incidents(
    session: Session, region: Region, actor: str, keep_id: int, other_id: int, now: datetime
) -> Incident:
    """Fold incident `other_id` into `keep_id` (audited); the other becomes ``merged``.

    The other incident's open (unassigned) tasks are cancelled; the kept incident gets any
    task it now needs.
    """
    keep = session.get(Incident, keep_id)
    other = session.get(Incident, other_id)
    if keep is None or other is None:
        msg = f"no incident {keep_id if keep is None else other_id!r}"
        raise NotFoundError(msg)
    if keep.id == other.id or other.status != IncidentStatus.OPEN.value:
        msg = f"cannot merge incident {other_id} (status {other.status}) into {keep_id}"
        raise ValueError(msg)
    moved = [int(r) for r in other.report_ids or []]
    keep.report_ids = sorted({*(int(r) for r in keep.report_ids or []), *moved})
    keep.merge_log = [
        *(keep.merge_log or []),
        {
            "report_ids": moved,
            "rule": "manual_merge",
            "from": other.id,
            "by": actor,
            "at": now.isoformat(),
            "why": f"incident {other.id} merged by {actor}",
        },
    ]
    keep.version += 1
    other.status = IncidentStatus.MERGED.value
    other.merged_into_id = keep.id
    other.resolved_at = now
    other.version += 1
    _rebuild(session, region, keep)
    _cancel_open_tasks(session, incident_id=other.id, now=now)
    audit(
        session,
        actor,
        "incident.merge",
        f"incident:{keep.id}",
        details={"merged": other.id, "report_ids": moved},
    )
    _refresh_incidents(session, live_alerts(session, now), now, FusionSummary())
    return keep


# ---------------------------------------------------------------------- hotspots

_WEIGHTS_CACHE: dict[str, Any] = {}


def hotspot_weights(region: Region) -> Any:
    """Gi* weights of the region's segments (2 hops along the network, 1.5 km across space).

    Cached per segments frame (content key), so a Streamlit server computes it once.
    """
    key = segments_key(region.network.segments)
    w = _WEIGHTS_CACHE.get(key)
    if w is None:
        w = segment_weights(region.network.segments, k_hops=2, distance_m=1500.0, kind="binary")
        if len(_WEIGHTS_CACHE) >= 4:
            _WEIGHTS_CACHE.pop(next(iter(_WEIGHTS_CACHE)))
        _WEIGHTS_CACHE[key] = w
    return w


HOTSPOT_COLUMNS = [
    "rank",
    "z",
    "p",
    "evidence",
    "condition",
    "road",
    "admin_name",
    "segment_ids",
    "report_ids",
    "reason",
]


def hotspots_from_evidence(
    region: Region, evidence: pd.DataFrame, kinds: Mapping[int, str] | None = None
) -> gpd.GeoDataFrame:
    """Rank hotspots from an evidence frame (see :func:`incidents.fusion.conditions.evidence_frame`).

    Evidence weight per segment = the weights of the hazard and incident evidence still
    standing (after the latest clear observation); Gi* over the region's segments; significant
    hot segments (one-sided p < 0.05) joined into clusters; clusters with less evidence than
    :data:`MIN_HOTSPOT_EVIDENCE` (e.g. one stale Waze report on a quiet network) are dropped;
    ranked by their peak z.
    """
    segs = region.network.segments
    empty = gpd.GeoDataFrame(
        {c: [] for c in HOTSPOT_COLUMNS}, geometry=gpd.GeoSeries([], crs="EPSG:4326")
    )
    if len(evidence) == 0 or len(segs) < 2:
        return empty
    states = segment_states(evidence)
    y = states["hazard_weight"].reindex(segs["segment_id"]).fillna(0.0).to_numpy(dtype=float)
    if not (y > 0).any():
        return empty
    w = hotspot_weights(region)
    z, p = gi_star(y, w)
    clusters = [
        m
        for m in hot_clusters(w, z, p, y, alpha=HOTSPOT_ALPHA)
        if y[m].sum() >= MIN_HOTSPOT_EVIDENCE
    ]
    if not clusters:
        return empty
    ev = evidence.copy()
    ev["observed_at"] = pd.to_datetime(ev["observed_at"], utc=True)
    ev["clear"] = ev["clear"].astype(bool)
    clear_t = ev[ev["clear"]].groupby("segment_id")["observed_at"].max()
    standing = ev[
        ~ev["clear"]
        & ~standing_mask_cleared(ev, clear_t)
        & (ev["condition"].notna() | ev["incident"].notna())
    ]
    ids_by_seg = standing.groupby("segment_id")["report_id"].agg(
        lambda s: sorted(int(x) for x in s)
    )
    seg_ids = segs["segment_id"].to_numpy(dtype=object)
    pos = {str(s): i for i, s in enumerate(seg_ids)}
    codes = segs["road_code"].astype(str).to_numpy()
    km0 = segs["km_from"].to_numpy(dtype=float)
    km1 = segs["km_to"].to_numpy(dtype=float)
    lines = np.asarray(segs.geometry.to_numpy(), dtype=object)
    by_seg = {k: g for k, g in standing.groupby("segment_id")}
    records = []
    for rank, members in enumerate(clusters, start=1):
        sids = [str(s) for s in seg_ids[members]]
        rids = sorted({i for s in sids for i in ids_by_seg.get(s, [])})
        parts = [by_seg[s] for s in sids if s in by_seg]
        part = pd.concat(parts) if parts else standing.iloc[:0]
        what = part["incident"].where(part["incident"].notna(), part["condition"])
        by_what = part.groupby(what)["weight"].sum().sort_values(ascending=False)
        main = str(by_what.index[0]) if len(by_what) else "hazard"
        kind_counts = _count_phrase(
            (kinds or {}).get(int(i), s)
            for i, s in zip(part["report_id"], part["source"], strict=True)
        )
        order = sorted(sids, key=lambda s: (codes[pos[s]], km0[pos[s]]))
        idx = np.array([pos[s] for s in order])
        geom = shapely.line_merge(shapely.union_all(lines[idx]))
        centre = geom.centroid
        place = region.admin_at(centre.x, centre.y)
        admin = None if place is None else (place.name_en or place.name_zh)
        stretch = "; ".join(
            f"{c} {format_stake(float(km0[idx][codes[idx] == c].min()))}"
            f"-{format_stake(float(km1[idx][codes[idx] == c].max()))}"
            for c in dict.fromkeys(codes[idx])
        )
        others = [KIND_LABEL.get(str(k), str(k)) for k in by_what.index[1:3]]
        extra = f" with {', '.join(others)}" if others else ""
        reason = (
            f"{KIND_LABEL.get(main, main)}{extra} on {stretch}"
            f"{f' ({admin})' if admin else ''}: {kind_counts}; Gi* z={float(z[members].max()):.1f}"
        )
        records.append(
            {
                "rank": rank,
                "z": float(z[members].max()),
                "p": float(p[members].min()),
                "evidence": float(y[members].sum()),
                "condition": main,
                "road": stretch,
                "admin_name": admin,
                "segment_ids": order,
                "report_ids": rids,
                "reason": reason,
                "geometry": geom,
            }
        )
    return gpd.GeoDataFrame(records, geometry="geometry", crs="EPSG:4326")


def current_hotspots(
    session: Session, region: Region, settings: Settings, now: datetime
) -> gpd.GeoDataFrame:
    """Return the ranked hotspots at `now`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per hotspot, best first: ``rank, z, p, evidence, condition, road, admin_name,
        segment_ids, report_ids, reason, geometry`` (EPSG:4326).
    """
    evidence = load_evidence(session, region, settings, now)
    evidence = _pin_open_incidents(session, evidence, now)
    kinds = _kinds_of(session, evidence["report_id"]) if len(evidence) else {}
    return hotspots_from_evidence(region, evidence, kinds)


def _pin_open_incidents(session: Session, evidence: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Weigh the reports of open incidents as one piece of evidence per incident.

    A stranded group does not fade at the pace of a single call while nobody has reached it.
    While its incident is open, its reports together weigh::

        (1 - prod(1 - reliability_i * confidence_i)) * (1 + log2(vehicles)) / 2 * 0.5 ** (h / 12)

    (noisy-OR of the reports, times the size of the group, with a 12-hour half-life since the
    last report), shared equally among its reports, on the segment where the incident is
    placed (a caller who gave only a town's name is counted where the group actually is), and
    not erased by a later clear pass.
    """
    if len(evidence) == 0:
        return evidence
    rows = session.execute(
        select(
            Incident.segment_id, Incident.report_ids, Incident.vehicles, Incident.last_report_at
        ).where(Incident.status == IncidentStatus.OPEN.value, Incident.segment_id.is_not(None))
    ).all()
    if not rows:
        return evidence
    ev = evidence.copy()
    is_inc = ev["incident"].notna().to_numpy()
    rid = ev["report_id"].astype(int).to_numpy()
    base_of = dict(zip(rid[is_inc], ev["base"].to_numpy(dtype=float)[is_inc], strict=True))
    seg_of: dict[int, str] = {}
    weight_of: dict[int, float] = {}
    for seg, ids, vehicles, last in rows:
        mine = [int(i) for i in ids or [] if int(i) in base_of]
        if not mine:
            continue
        base = np.array([base_of[i] for i in mine])
        combined = 1.0 - float(np.prod(1.0 - np.clip(base, 0.0, 0.999)))
        age_h = max(0.0, (now - last).total_seconds() / 3600.0)
        size = 0.5 * (1.0 + math.log2(max(1, int(vehicles or 0))))
        weight = combined * size * 0.5 ** (age_h / INCIDENT_HALF_LIFE_H)
        for i in mine:
            seg_of[i] = str(seg)
            weight_of[i] = weight / len(mine)
    mask = is_inc & np.isin(rid, np.fromiter(seg_of, dtype=np.int64, count=len(seg_of)))
    if mask.any():
        ev.loc[mask, "segment_id"] = [seg_of[int(i)] for i in rid[mask]]
        ev.loc[mask, "weight"] = [weight_of[int(i)] for i in rid[mask]]
        ev.loc[mask, "observed_at"] = pd.Timestamp(now)
    return ev


def hotspots_geojson(hotspots: gpd.GeoDataFrame) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the ranking (rank, z, p, reason, segment and report ids)."""
    features = []
    for row in hotspots.to_dict("records"):
        geom = row.pop("geometry")
        props = {
            k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in row.items()
        }
        features.append(
            {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)}
        )
    return json.loads(json.dumps({"type": "FeatureCollection", "features": features}, default=str))


# ---------------------------------------------------------------------- coverage


@dataclass
class CoverageResult:
    """Share of hazardous road-km within `minutes` of a free unit, and per-segment times."""

    share: float
    minutes: float
    hazardous_km: float
    covered_km: float
    per_segment: gpd.GeoDataFrame


def coverage(session: Session, region: Region, settings: Settings, now: datetime) -> CoverageResult:
    """Compute coverage at `now` (T = ``settings.coverage_minutes``).

    Free units are the database units with status ``available`` and a position; when the
    database has no units at all (region not loaded), the region's units at their home bases.
    Hazardous segments are those whose current condition is not clear (observed or forecast);
    travel times respect the current conditions.
    """
    units = list(session.scalars(select(Unit)))
    if units:
        free = [
            u for u in units if u.status == UnitStatus.AVAILABLE.value and u.geometry is not None
        ]
        pts = np.asarray([u.geometry for u in free], dtype=object)
        lon = shapely.get_x(pts).tolist()
        lat = shapely.get_y(pts).tolist()
        vcs = [u.vehicle_class for u in free]
        ids = [u.id for u in free]
    else:
        ru = region.units
        lon = ru.geometry.x.tolist()
        lat = ru.geometry.y.tolist()
        vcs = ru["vehicle_class"].astype(str).tolist()
        ids = ru["unit_id"].astype(str).tolist()
    cur = list(session.scalars(select(SegmentCondition).where(SegmentCondition.valid_to.is_(None))))
    conds = {c.segment_id: c.condition for c in cur if c.condition != Condition.CLEAR.value}
    observed = {
        c.segment_id: c.condition
        for c in cur
        if c.observed and c.condition != Condition.CLEAR.value
    }
    t, src = segment_response_times(region.graph, lon, lat, vcs, observed)
    segs = region.network.segments
    hz = segs["segment_id"].map(lambda s: s in conds).to_numpy(dtype=bool)
    res = coverage_share(segs["length_m"].to_numpy(dtype=float), hz, t, settings.coverage_minutes)
    per = gpd.GeoDataFrame(
        {
            "segment_id": segs["segment_id"].to_numpy(),
            "road_code": segs["road_code"].to_numpy(),
            "km_from": segs["km_from"].to_numpy(),
            "length_m": segs["length_m"].to_numpy(),
            "condition": segs["segment_id"].map(conds).to_numpy(dtype=object),
            "hazardous": hz,
            "time_s": t,
            "unit_id": [ids[i] if i >= 0 else None for i in src],
            "covered": t <= settings.coverage_minutes * 60.0,
        },
        geometry=segs.geometry.to_numpy(),
        crs=segs.crs,
    )
    return CoverageResult(
        share=res["share"],
        minutes=res["minutes"],
        hazardous_km=res["hazardous_km"],
        covered_km=res["covered_km"],
        per_segment=per,
    )
