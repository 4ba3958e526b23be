"""Incidents: new incident reports merged into open incidents, with the reason of every merge.

Every open incident's facts, priority and tasks are kept current.

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
the incident can always say why a report is in it. :func:`incidents.fusion.manual.split_incident`
and :func:`incidents.fusion.manual.merge_incidents` let a dispatcher correct it by hand (audited).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.crs import to_metric_xy
from geo.region import Region
from geo.stakes import format_stake
from incidents.fusion.conditions import (
    classify,
)
from incidents.fusion.labels import KIND_LABEL
from incidents.fusion.priority import highest_class, priority
from incidents.fusion.summary import FusionSummary
from incidents.fusion.tasks import (
    ensure_tasks,
    open_tasks_by,
    tasks_for_incident,
)
from incidents.fusion.weather import configured_observation, wind_chill_at
from incidents.store.models import (
    Alert,
    Incident,
    IncidentStatus,
    Report,
)

__all__ = ['merge_new_incident_reports', 'rebuild_incident', 'refresh_incidents', 'report_rows']


ALONG_ROAD_KM = 2.0


NEARBY_M = 1000.0


PLACE_NAME_M = 30_000.0


WINDOW_BEFORE = timedelta(hours=2)


WINDOW_AFTER = timedelta(hours=6)


KIND_GROUPS = ({"stranded", "road_blocked"}, {"crash", "vehicle_in_ditch"})


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


def merge_new_incident_reports(
    session: Session, region: Region, new: pd.DataFrame, summary: FusionSummary
) -> None:
    """Merge each newly fused incident report into a matching open incident, or open one.

    See the module docstring for the rules; every merge is logged in ``Incident.merge_log``.
    """
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


def report_rows(session: Session, ids: Iterable[int]) -> list[dict[str, Any]]:
    """Id, kind, subtype, time, attributes and geometry of the reports `ids` (chunked query)."""
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
    return [_report_facts(r) for r in report_rows(session, inc.report_ids or [])]


def rebuild_incident(session: Session, region: Region, inc: Incident) -> None:
    """Recompute an incident's facts, times, place and title from its reports."""
    rows = report_rows(session, inc.report_ids or [])
    if not rows:
        return
    facts = [_report_facts(r) for r in rows]
    _apply_facts(inc, facts)
    inc.first_report_at = min(r["observed_at"] for r in rows)
    inc.last_report_at = max(r["observed_at"] for r in rows)
    best = min(range(len(rows)), key=lambda i: (facts[i]["loc_rank"], rows[i]["observed_at"]))
    _locate_incident(inc, region, rows[best]["geometry"])
    inc.title = _title(inc)


def refresh_incidents(
    session: Session, alerts: Sequence[Alert], now: datetime, summary: FusionSummary
) -> None:
    """Recompute every open incident's priority (wind chill, waiting time) and its tasks."""
    tasks = open_tasks_by(session, "incident")
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
        ensure_tasks(session, inc, None, tasks_for_incident(inc), now, summary, open_tasks=tasks)
