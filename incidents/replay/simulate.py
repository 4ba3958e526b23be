"""Storm replay: a scenario's feeds in simulated time through the real pipeline.

:func:`simulate` creates a temporary SQLite database, loads the region (segments, units, duty
points, road chiefs) and then walks the storm's clock in steps (default 5 minutes) and at every
feed release:

1. due unit events happen at their exact times: a unit en route arrives (``on_scene``) when its
   network travel time has passed; it clears after the on-scene minutes of its task kind (the
   scenario's ``on_scene_minutes``, or an incident override such as Abag's 14 h); a cleared
   grit/plow task clears its hazard through :func:`incidents.service.actions.clear_hazard`;
2. feed files released since the last step are stored through the pipeline
   (:func:`incidents.live.pipeline.ingest_sources`, the same parsers and sink as
   ``winterops ingest``);
3. :func:`incidents.live.pipeline.fuse_now` (:func:`incidents.fusion.fuse`) turns reports into
   conditions, hazards, incidents and tasks;
4. :func:`incidents.dispatch.recommend` with the chosen policy, and every recommendation is
   confirmed at once through the service layer (as a dispatcher would in one click) and the unit
   sets off (``en_route``). Units en route move along their network route, so a unit that is
   redirected starts from where it is.

Metrics (incidents that were not merged into another)
-----------------------------------------------------
- time to first unit (TTFU): first unit on scene minus the first report's time; mean, p50, p90
  over the incidents reached, and the priority-weighted mean (weights: the incident's priority
  when it first appeared) over all incidents, unreached ones counting their wait until the end;
- cold-exposure person-hours: people x hours until the first unit arrives (or the end);
- incidents unserved at the end; unit utilisation (assigned-to-cleared time over in-service
  unit time);
- the lower bound: each incident reached at once, when it became known, by its nearest capable
  unit standing at its base, with no contention (every unit free; same weights and conditions);
- the strict lower bound: the same from the nearest of the bases *and* of wherever any unit is
  at that moment, busy or not (a unit on scene 1 km away counts): nothing can beat it, but it
  ignores that those units are busy.

The result is a :class:`SimResult` (metrics from :mod:`incidents.replay.metrics`, the time series:
open tasks, free units, people waiting, and one row per incident); :func:`store_run` keeps it
as a :class:`~incidents.store.models.SimulationRun` row for the review page.
"""

from __future__ import annotations

import heapq
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import LineString, Point
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from geo.errors import UnreachableError
from geo.region import Region, load_region
from incidents.dispatch import current_conditions, eta_matrix, recommend
from incidents.dispatch.solver import check_policy
from incidents.errors import ConflictError, ScenarioError
from incidents.live.pipeline import fuse_now, ingest_sources
from incidents.replay.metrics import Seen, incident_row, replay_metrics
from incidents.replay.scenario import Scenario, load_scenario
from incidents.service.actions import clear_hazard, confirm, redirect, set_status
from incidents.settings import Settings
from incidents.store.engine import init_db, make_engine, session_scope
from incidents.store.engine import session_factory as make_factory
from incidents.store.models import (
    Assignment,
    AssignmentState,
    Hazard,
    HazardState,
    Incident,
    IncidentStatus,
    Report,
    SimulationRun,
    Task,
    TaskStatus,
    Unit,
    UnitStatus,
)
from incidents.store.region import load_region_into_db

__all__ = ["SimResult", "simulate", "simulate_both", "store_run"]

ACTOR = "simulation"
OUT = (UnitStatus.OUT_OF_SERVICE.value, UnitStatus.OFF_SHIFT.value)
S = AssignmentState


def _throwaway(engine: Engine) -> None:
    """Let the replay's temporary SQLite database skip the disk syncs of every commit.

    The database is thrown away after the replay, so losing it in a crash costs nothing; every
    statement and transaction is the same, only ``synchronous`` goes from FULL to OFF.
    """

    @event.listens_for(engine, "connect")
    def _no_sync(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA synchronous=OFF")


@dataclass
class _Trip:
    assignment_id: int
    unit_id: str
    task_id: int
    start: datetime
    eta_s: float
    route: LineString | None
    dest: Point


@dataclass
class SimResult:
    """What one replay produced."""

    scenario: str
    policy: str
    metrics: dict[str, Any]
    series: dict[str, Any]
    incidents: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Metrics plus identification, JSON-ready."""
        return {"scenario": self.scenario, "policy": self.policy, **self.metrics}


class _Replay:
    """One replay of a scenario with one policy on its own database."""

    def __init__(
        self,
        scenario: Scenario,
        policy: str,
        region: Region,
        settings: Settings,
        workdir: Path,
        step: timedelta,
        progress: Callable[[float, str], Any] | None,
    ) -> None:
        self.sc = scenario
        self.policy = policy
        self.region = region
        self.step = step
        self.fuse_every = max(step, timedelta(minutes=30))
        self.dirty = True
        self.progress = progress
        url = f"sqlite:///{(workdir / f'sim-{policy}.db').as_posix()}"
        self.settings = replace(settings, database_url=url, var_dir=workdir / "var")
        self.engine = make_engine(url)
        _throwaway(self.engine)
        init_db(self.engine)
        self.factory: sessionmaker[Session] = make_factory(self.engine)
        self.events: list[tuple[datetime, int, str, int]] = []
        self._seq = 0
        self.trips: dict[int, _Trip] = {}
        self.seen: dict[int, Seen] = {}
        self.busy_s: dict[str, float] = {}
        self.series: dict[str, list[Any]] = {
            "t": [],
            "open_tasks": [],
            "open_incident_tasks": [],
            "free_units": [],
            "people_waiting": [],
            "units_out": [],
        }
        self.override_by_report: dict[tuple[str, str], dict[str, Any]] = {}
        for o in scenario.incident_overrides:
            kind, _, key = str(o["match_report"]).partition(":")
            self.override_by_report[(kind, key)] = dict(o.get("on_scene_minutes") or {})
        self.home_nodes: np.ndarray = np.empty(0, dtype=np.int64)
        self.home_classes: list[str] = []
        self.home_caps: list[frozenset[str]] = []
        self.timings = {"ingest": 0.0, "fuse": 0.0, "dispatch": 0.0, "events": 0.0}

    # ------------------------------------------------------------------ setup

    def setup(self) -> None:
        with session_scope(self.factory) as s:
            load_region_into_db(s, self.region)
            units = {u.id: u for u in s.scalars(select(Unit))}
            if self.sc.unit_include is not None:
                keep = set(self.sc.unit_include)
                for uid, u in units.items():
                    if uid not in keep:
                        u.status = UnitStatus.OFF_SHIFT.value
            for o in self.sc.unit_overrides:
                found = units.get(str(o.get("unit_id")))
                if found is None:
                    msg = f"unit override names unknown unit {o.get('unit_id')!r}"
                    raise ScenarioError(msg)
                for key in ("status", "fuel", "crew_hours", "crew_hour_limit"):
                    if key in o:
                        setattr(found, key, o[key])
                if "lon" in o and "lat" in o:
                    found.geometry = Point(float(o["lon"]), float(o["lat"]))
            for u in units.values():
                u.position_at = self.sc.start
            s.flush()
            active = [
                u
                for u in units.values()
                if u.status == UnitStatus.AVAILABLE.value and u.geometry is not None
            ]
            self.home_nodes = np.asarray(
                self.region.graph.nearest_nodes(
                    [u.geometry.x for u in active],  # type: ignore[union-attr]
                    [u.geometry.y for u in active],  # type: ignore[union-attr]
                ),
                dtype=np.int64,
            )
            self.home_classes = [u.vehicle_class for u in active]
            self.home_caps = [frozenset(u.capabilities or []) for u in active]
            self.n_units = len(active)

    def push(self, when: datetime, kind: str, assignment_id: int) -> None:
        self._seq += 1
        heapq.heappush(self.events, (when, self._seq, kind, assignment_id))

    # ------------------------------------------------------------------ the clock

    def run(self) -> SimResult:
        self.setup()
        times = {f.release for f in self.sc.feeds if self.sc.start <= f.release <= self.sc.end}
        t = self.sc.start
        while t <= self.sc.end:
            times.add(t)
            t += self.step
        prev: datetime | None = None
        last_fuse: datetime | None = None
        ordered = sorted(times)
        every = max(1, len(ordered) // 100)
        for i, now in enumerate(ordered):
            if self.progress is not None and i % every == 0:
                self.progress(i / len(ordered), now.isoformat(timespec="minutes"))
            self._due_events(now)
            fresh = self.sc.feeds_between(prev, now)
            if fresh:
                self._ingest(fresh, now)
            if fresh or last_fuse is None or now - last_fuse >= self.fuse_every:
                self._fuse(now)
                last_fuse = now
                self.dirty = True
            if self.dirty:
                self._dispatch(now)
                self.dirty = False
            self._sample(now)
            prev = now
        self._due_events(self.sc.end)
        return self._result()

    def _due_events(self, now: datetime) -> None:
        t0 = time.perf_counter()
        while self.events and self.events[0][0] <= now:
            when, _, kind, aid = heapq.heappop(self.events)
            with session_scope(self.factory) as s:
                a = s.get(Assignment, aid)
                if a is None:
                    continue
                if kind == "arrive" and a.state == S.EN_ROUTE.value:
                    set_status(s, ACTOR, aid, S.ON_SCENE, a.version, now=when)
                    trip = self.trips[aid]
                    unit = s.get(Unit, a.unit_id)
                    if unit is not None:
                        unit.geometry = trip.dest
                        unit.position_at = when
                    self.push(when + timedelta(minutes=self._on_scene_min(s, a)), "clear", aid)
                elif kind == "clear" and a.state == S.ON_SCENE.value:
                    set_status(s, ACTOR, aid, S.CLEARED, a.version, now=when)
                    self._after_clear(s, a, when)
                    self.dirty = True
        self.timings["events"] += time.perf_counter() - t0

    def _on_scene_min(self, s: Session, a: Assignment) -> float:
        task = s.get(Task, a.task_id)
        kind = task.kind if task is not None else "rescue"
        override = None
        if task is not None and task.incident_id is not None and self.override_by_report:
            inc = s.get(Incident, task.incident_id)
            ids = list(inc.report_ids or []) if inc is not None else []
            if ids:
                for r in s.execute(
                    select(Report.kind, Report.natural_key).where(Report.id.in_(ids))
                ):
                    o = self.override_by_report.get((str(r[0]), str(r[1])))
                    if o is not None:
                        override = o
                        break
        return self.sc.on_scene_for(kind, override)

    def _after_clear(self, s: Session, a: Assignment, when: datetime) -> None:
        trip = self.trips.pop(a.id, None)
        start = trip.start if trip is not None else when
        worked = (when - start).total_seconds()
        self.busy_s[a.unit_id] = self.busy_s.get(a.unit_id, 0.0) + worked
        unit = s.get(Unit, a.unit_id)
        if unit is not None:
            unit.crew_hours = float(unit.crew_hours or 0.0) + worked / 3600.0
        task = s.get(Task, a.task_id)
        if task is not None and task.hazard_id is not None:
            h = s.get(Hazard, task.hazard_id)
            if h is not None and h.state != HazardState.CLEARED.value:
                clear_hazard(s, ACTOR, h.id, now=when)

    def _ingest(self, feeds: list[Any], now: datetime) -> None:
        t0 = time.perf_counter()
        by_kind: dict[str, list[str]] = {}
        for f in feeds:
            by_kind.setdefault(f.kind, []).append(str(f.path))
        for kind, paths in by_kind.items():  # stored now, fused by `_fuse` right after
            ingest_sources(
                self.factory, self.region, self.settings, kind, paths,
                parse_now=now, now=now, fuse_after=False,
            )
        self.timings["ingest"] += time.perf_counter() - t0

    def _fuse(self, now: datetime) -> None:
        t0 = time.perf_counter()
        fuse_now(self.factory, self.region, self.settings, now)
        with session_scope(self.factory) as s:
            new = s.scalars(
                select(Incident).where(
                    Incident.status == IncidentStatus.OPEN.value,
                    Incident.id.not_in(list(self.seen) or [-1]),
                )
            ).all()
            if new:
                self._first_sight(s, list(new), now)
        self.timings["fuse"] += time.perf_counter() - t0

    def _first_sight(self, s: Session, incidents: list[Incident], now: datetime) -> None:
        graph = self.region.graph
        pts = [i.geometry for i in incidents]
        nodes = np.asarray(
            graph.nearest_nodes([p.x for p in pts], [p.y for p in pts]),  # type: ignore[union-attr]
            dtype=np.int64,
        )
        conditions = current_conditions(s)
        # every in-service unit, from its starting base and from where it is now (busy or not)
        here = [
            u
            for u in s.scalars(select(Unit).where(Unit.status.not_in(OUT)))
            if u.geometry is not None
        ]
        here_nodes = np.asarray(
            graph.nearest_nodes(
                [u.geometry.x for u in here],  # type: ignore[union-attr]
                [u.geometry.y for u in here],  # type: ignore[union-attr]
            ),
            dtype=np.int64,
        )
        eta = np.vstack(
            [
                eta_matrix(graph, self.home_nodes, self.home_classes, nodes, conditions),
                eta_matrix(graph, here_nodes, [u.vehicle_class for u in here], nodes, conditions),
            ]
        )
        caps = self.home_caps + [frozenset(u.capabilities or []) for u in here]
        n_home = len(self.home_nodes)
        for j, inc in enumerate(incidents):
            need = {t.capability for t in s.scalars(select(Task).where(Task.incident_id == inc.id))}
            able = np.array([bool(need & c) if need else True for c in caps], dtype=bool)
            col = np.where(able, eta[:, j], np.inf)
            home = float(col[:n_home].min()) if n_home else math.inf
            anywhere = float(col.min()) if col.size else math.inf
            delay = max(0.0, (now - inc.first_report_at).total_seconds())
            self.seen[inc.id] = Seen(
                now, float(inc.priority or 0.0), delay + home, delay + anywhere
            )

    # ------------------------------------------------------------------ dispatch

    def _move_units(self, s: Session, now: datetime) -> None:
        """Move every unit en route to its place along its route at `now` (two queries)."""
        moving = [t for t in self.trips.values() if t.route is not None]
        if not moving:
            return
        with s.no_autoflush:
            states = dict(
                s.execute(
                    select(Assignment.id, Assignment.state).where(
                        Assignment.id.in_([t.assignment_id for t in moving])
                    )
                ).tuples().all()
            )
            moving = [t for t in moving if states.get(t.assignment_id) == S.EN_ROUTE.value]
            ids = sorted({t.unit_id for t in moving})
            units = {u.id: u for u in s.scalars(select(Unit).where(Unit.id.in_(ids)))}
        for trip in moving:
            if trip.route is None:
                continue
            frac = min(1.0, (now - trip.start).total_seconds() / max(trip.eta_s, 1.0))
            p = trip.route.interpolate(frac, normalized=True)
            unit = units.get(trip.unit_id)
            if unit is not None:
                unit.geometry = Point(p.x, p.y)
                unit.position_at = now

    def _dispatch(self, now: datetime) -> None:
        t0 = time.perf_counter()
        with session_scope(self.factory) as s:
            self._move_units(s, now)
            s.flush()
            recs = recommend(s, self.region, self.settings, now, self.policy)
            conditions = current_conditions(s)
            for r in recs:
                try:
                    with s.begin_nested():
                        if r.action == "reassign" and r.replaces_assignment_id is not None:
                            old = s.get(Assignment, r.replaces_assignment_id)
                            if old is None:
                                continue
                            gone = self.trips.pop(old.id, None)
                            if gone is not None:  # the drive so far was work too
                                spent = (now - gone.start).total_seconds()
                                self.busy_s[old.unit_id] = self.busy_s.get(old.unit_id, 0.0) + spent
                            a = redirect(
                                s, ACTOR, old.id, r.task_id, old.version, now=now, eta_s=r.eta_s
                            )
                        else:
                            a = confirm(s, ACTOR, r.task_id, r.unit_id, now=now, eta_s=r.eta_s)
                        set_status(s, ACTOR, a.id, S.EN_ROUTE, a.version, now=now)
                except ConflictError:
                    continue
                self._start_trip(s, a, r.eta_s, now, conditions)
        self.timings["dispatch"] += time.perf_counter() - t0

    def _start_trip(
        self, s: Session, a: Assignment, eta_s: float, now: datetime, conditions: dict[str, Any]
    ) -> None:
        unit = s.get(Unit, a.unit_id)
        task = s.get(Task, a.task_id)
        if unit is None or task is None or unit.geometry is None or task.geometry is None:
            return
        g = self.region.graph
        a_node, b_node = g.nearest_nodes(
            [unit.geometry.x, task.geometry.x], [unit.geometry.y, task.geometry.y]
        )
        try:
            route, _ = g.route(int(a_node), int(b_node), unit.vehicle_class, conditions)
        except UnreachableError:
            route = None
        dest = Point(task.geometry.x, task.geometry.y)
        self.trips[a.id] = _Trip(a.id, a.unit_id, a.task_id, now, eta_s, route, dest)
        self.push(now + timedelta(seconds=eta_s), "arrive", a.id)

    def _sample(self, now: datetime) -> None:
        """Append one row of the time series (counts read by SQL, no objects loaded)."""
        busy = (UnitStatus.ASSIGNED.value, UnitStatus.EN_ROUTE.value, UnitStatus.ON_SCENE.value)
        with session_scope(self.factory) as s:
            open_tasks = s.execute(
                select(func.count(), func.count(Task.incident_id)).where(
                    Task.status == TaskStatus.OPEN.value
                )
            ).one()

            def units(*states: str) -> int:
                return int(s.scalar(select(func.count()).where(Unit.status.in_(states))) or 0)

            free = units(UnitStatus.AVAILABLE.value)
            out = units(*busy)
            reached = self._reached(s)
            waiting = sum(
                int(people or 0)
                for inc_id, people in s.execute(
                    select(Incident.id, Incident.people).where(
                        Incident.status == IncidentStatus.OPEN.value
                    )
                )
                if inc_id not in reached
            )
        self.series["t"].append(now.isoformat())
        self.series["open_tasks"].append(int(open_tasks[0]))
        self.series["open_incident_tasks"].append(int(open_tasks[1]))
        self.series["free_units"].append(free)
        self.series["units_out"].append(out)
        self.series["people_waiting"].append(waiting)

    def _reached(self, s: Session) -> dict[int, datetime]:
        rows = s.execute(
            select(Task.incident_id, Assignment.on_scene_at)
            .join(Assignment, Assignment.task_id == Task.id)
            .where(Task.incident_id.is_not(None), Assignment.on_scene_at.is_not(None))
        ).all()
        out: dict[int, datetime] = {}
        for inc_id, at in rows:
            if inc_id is None or at is None:
                continue
            if inc_id not in out or at < out[inc_id]:
                out[int(inc_id)] = at
        return out

    # ------------------------------------------------------------------ metrics

    def _result(self) -> SimResult:
        end = self.sc.end
        with session_scope(self.factory) as s:
            reached = self._reached(s)
            incs = s.scalars(
                select(Incident).where(Incident.status != IncidentStatus.MERGED.value)
            ).all()
            rows = [
                incident_row(inc, self.seen[inc.id], reached.get(inc.id), end)
                for inc in incs
                if inc.id in self.seen
            ]
            n_units = self.n_units
        metrics = replay_metrics(rows, self.busy_s, n_units, (end - self.sc.start).total_seconds())
        metrics["timings_s"] = {k: round(v, 2) for k, v in self.timings.items()}
        return SimResult(self.sc.name, self.policy, metrics, self.series, rows)


# ------------------------------------------------------------------ public API


def simulate(
    scenario_path: str | Path,
    policy: str = "optimized",
    *,
    settings: Settings | None = None,
    region: Region | None = None,
    step_minutes: float = 5.0,
    workdir: Path | None = None,
    progress: Callable[[float, str], Any] | None = None,
) -> SimResult:
    """Replay a scenario with one dispatch policy on a temporary SQLite database.

    Parameters
    ----------
    scenario_path
        Scenario folder or manifest.
    policy
        ``optimized`` or ``closest``.
    settings
        Base settings (snap tolerance, half-lives); the database is always a temporary one.
    region
        The region (default: the scenario's ``region``, else ``settings.region_dir``).
    step_minutes
        Decision interval; feed releases are decision times too.
    workdir
        Where the temporary database goes (a temporary folder by default).
    progress
        Called with (fraction of the decision times done, the storm time reached) about a
        hundred times over the replay, for a progress bar.

    Returns
    -------
    SimResult
        Metrics, time series and per-incident rows.
    """
    check_policy(policy)
    sc = load_scenario(scenario_path)
    base = settings or Settings.from_env()
    if region is None:
        region = load_region(sc.region_dir or base.region_dir)
    step = timedelta(minutes=step_minutes)
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        replay = _Replay(sc, policy, region, base, workdir, step, progress)
        try:
            return replay.run()
        finally:
            replay.engine.dispose()
    with tempfile.TemporaryDirectory(prefix="winterops-sim-") as tmp:
        replay = _Replay(sc, policy, region, base, Path(tmp), step, progress)
        try:
            return replay.run()
        finally:
            replay.engine.dispose()


def simulate_both(scenario_path: str | Path, **kwargs: Any) -> dict[str, SimResult]:
    """Run ``closest`` and ``optimized`` on the same scenario; returns both results."""
    return {p: simulate(scenario_path, p, **kwargs) for p in ("closest", "optimized")}


def store_run(factory: sessionmaker[Session], result: SimResult) -> int:
    """Store a result as a :class:`~incidents.store.models.SimulationRun` row; return its id."""
    with session_scope(factory) as s:
        row = SimulationRun(
            scenario=result.scenario,
            policy=result.policy,
            metrics=result.metrics,
            series={**result.series, "incidents": result.incidents},
        )
        s.add(row)
        s.flush()
        return int(row.id)
