"""Load the demo storm into the live database as it stands at one moment (``winterops demo``).

:func:`seed_demo_storm` ingests every feed file of ``data/scenarios/demo-storm`` released up to
the chosen moment through the pipeline (:mod:`incidents.live.pipeline`: the real parsers and
sink), fuses them at that moment, applies the scenario's unit overrides, and gives
the dashboard something to show: the optimized recommendations are computed and the most urgent
two thirds confirmed by the demo dispatcher 20 minutes earlier, half of those en route (the unit
part-way along its route), and Xilingol's drone-found black ice handed to the road chiefs
(路长制). The rest stay as pending recommendations for a dispatcher to confirm.

Running it again adds nothing (natural keys; assignments only when none from the demo exist).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shapely.geometry import Point
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from geo.errors import UnreachableError
from geo.region import Region
from incidents.clock import set_clock
from incidents.dispatch import current_conditions, recommend
from incidents.errors import ConflictError, NotFoundError
from incidents.live.pipeline import fuse_now, ingest_sources
from incidents.replay.scenario import Scenario, load_scenario
from incidents.service.actions import confirm, hand_to_road_chief, set_status
from incidents.settings import Settings
from incidents.store.engine import session_scope
from incidents.store.models import Assignment, Hazard, HazardState, Incident, Report, Task, Unit
from incidents.store.region import load_region_into_db

__all__ = ["DEMO_ACTOR", "DEMO_SCENARIO", "seed_demo_storm"]

DEMO_SCENARIO = "demo-storm"
DEMO_ACTOR = "demo"
CONFIRM_SHARE = 2 / 3
XILINGOL_PREFIX = "1525"


def _apply_unit_overrides(s: Session, sc: Scenario) -> int:
    n = 0
    for o in sc.unit_overrides:
        u = s.get(Unit, str(o.get("unit_id")))
        if u is None:
            continue
        for key in ("status", "fuel", "crew_hours", "crew_hour_limit"):
            if key in o:
                setattr(u, key, o[key])
        n += 1
    return n


def _ingest_until(
    factory: sessionmaker[Session], sc: Scenario, region: Region, settings: Settings, at: datetime
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in sc.feeds_between(None, at):
        summary, _ = ingest_sources(
            factory, region, settings, f.kind, [str(f.path)],
            parse_now=f.release, now=at, fuse_after=False,  # one fuse at the moment, below
        )
        counts[f.kind] = counts.get(f.kind, 0) + summary.counts.accepted
    return counts


def _start_assignments(
    factory: sessionmaker[Session], region: Region, settings: Settings, at: datetime
) -> dict[str, int]:
    out = {"confirmed": 0, "en_route": 0, "recommended_left": 0}
    with session_scope(factory) as s:
        if s.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.confirmed_by == DEMO_ACTOR)
        ):
            return out
        recs = recommend(s, region, settings, at)
        conditions = current_conditions(s)
        take = recs[: int(round(len(recs) * CONFIRM_SHARE))]
        out["recommended_left"] = len(recs) - len(take)
        for i, r in enumerate(take):
            if r.action != "assign":
                continue
            try:
                with s.begin_nested():
                    a = confirm(
                        s,
                        DEMO_ACTOR,
                        r.task_id,
                        r.unit_id,
                        now=at - timedelta(minutes=20),
                        eta_s=r.eta_s,
                        explanation={"reason": r.reason, "reason_zh": r.reason_zh},
                    )
            except ConflictError:
                continue
            out["confirmed"] += 1
            if i % 2:
                continue
            set_status(s, DEMO_ACTOR, a.id, "en_route", a.version, now=at - timedelta(minutes=15))
            out["en_route"] += 1
            _part_way(s, region, a, conditions, at)
    return out


def _part_way(
    s: Session, region: Region, a: Assignment, conditions: dict[str, Any], at: datetime
) -> None:
    """Put an en-route unit part-way along its route, as its AVL would show it."""
    unit, task = s.get(Unit, a.unit_id), s.get(Task, a.task_id)
    if unit is None or task is None or unit.geometry is None or task.geometry is None:
        return
    g = region.graph
    n = g.nearest_nodes([unit.geometry.x, task.geometry.x], [unit.geometry.y, task.geometry.y])
    try:
        route, seconds = g.route(int(n[0]), int(n[1]), unit.vehicle_class, conditions)
    except UnreachableError:
        return
    a.route = route
    frac = min(0.9, 15 * 60 / max(seconds, 1.0))
    p = route.interpolate(frac, normalized=True)
    unit.geometry = Point(p.x, p.y)
    unit.position_at = at


def _hand_xilingol_ice(factory: sessionmaker[Session], region: Region, at: datetime) -> int:
    n = 0
    with session_scope(factory) as s:
        hazards = s.scalars(
            select(Hazard).where(
                Hazard.state == HazardState.OPEN.value, Hazard.condition == "black_ice"
            )
        ).all()
        for h in hazards:
            drone = False
            if h.report_ids:
                drone = bool(
                    s.scalar(
                        select(func.count())
                        .select_from(Report)
                        .where(Report.id.in_(h.report_ids), Report.kind == "drone_detection")
                    )
                )
            if not drone or h.geometry is None:
                continue
            c = h.geometry.centroid
            place = region.admin_at(c.x, c.y)
            if place is None or not str(place.admin_code).startswith(XILINGOL_PREFIX):
                continue
            try:
                with s.begin_nested():
                    hand_to_road_chief(s, DEMO_ACTOR, h.id, now=at - timedelta(minutes=30))
                n += 1
            except NotFoundError:
                continue
    return n


def seed_demo_storm(
    session_factory: sessionmaker[Session],
    region: Region,
    settings: Settings,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Load the demo storm into the database as it stands at `at`.

    Parameters
    ----------
    session_factory
        Factory of the live database (schema already created).
    region
        The loaded region (its segments, units, duty points and chiefs are stored if missing).
    settings
        Where the scenarios are (``settings.scenario_dir``), the raw archive, snapping.
    at
        The moment (timezone-aware); default the scenario's ``demo_moment``
        (2025-12-14 03:00 Asia/Shanghai, a busy moment of the night).

    Returns
    -------
    dict
        ``moment``, ``feeds`` (accepted reports per feed kind), ``fusion`` (summary),
        ``assignments`` (confirmed, en_route, recommended_left), ``handed_to_road_chiefs``,
        ``open_incidents``, ``open_tasks``.
    """
    sc = load_scenario(settings.scenario_dir / DEMO_SCENARIO)
    moment = at or sc.demo_moment or sc.start + (sc.end - sc.start) / 2
    with session_scope(session_factory) as s:
        load_region_into_db(s, region)
        _apply_unit_overrides(s, sc)
    feeds = _ingest_until(session_factory, sc, region, settings, moment)
    summary, _ = fuse_now(session_factory, region, settings, moment)
    assignments = _start_assignments(session_factory, region, settings, moment)
    handed = _hand_xilingol_ice(session_factory, region, moment)
    with session_scope(session_factory) as s:
        # the dashboard, `hotspots` and `recommend` run on the storm's time from here on
        set_clock(s, moment, running_from=datetime.now(UTC))
        open_incidents = s.scalar(
            select(func.count()).select_from(Incident).where(Incident.status == "open")
        )
        open_tasks = s.scalar(select(func.count()).select_from(Task).where(Task.status == "open"))
    return {
        "scenario": sc.name,
        "moment": moment.isoformat(),
        "feeds": feeds,
        "fusion": summary.to_json(),
        "assignments": assignments,
        "handed_to_road_chiefs": handed,
        "open_incidents": int(open_incidents or 0),
        "open_tasks": int(open_tasks or 0),
    }
