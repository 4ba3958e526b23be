"""Frozen copy of the pre-issue-14 storm replay (do not edit): the baseline of bench_replay.

``incidents/replay/simulate.py`` as of e29a7df, with the two library paths it used then
copied in: the route of a trip (:func:`_route_v0`: edge times and the matrix rebuilt for
every route) and :func:`_current_conditions_v0` (every current row read and filtered in
Python). Everything else (pipeline, fusion, dispatch, services) is today's code.
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
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString, Point
from shapely.ops import substring
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from geo.crs import from_metric_xy
from geo.errors import UnreachableError
from geo.region import Region, load_region
from incidents.dispatch import POLICIES, eta_matrix, recommend
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
    SegmentCondition,
    Task,
    TaskStatus,
    Unit,
    UnitStatus,
)
from incidents.store.region import load_region_into_db

__all__ = ["simulate"]

ACTOR = "simulation"
OUT = (UnitStatus.OUT_OF_SERVICE.value, UnitStatus.OFF_SHIFT.value)
S = AssignmentState


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
        conditions = _current_conditions_v0(s)
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
        for trip in self.trips.values():
            a = s.get(Assignment, trip.assignment_id)
            if a is None or a.state != S.EN_ROUTE.value or trip.route is None:
                continue
            frac = min(1.0, (now - trip.start).total_seconds() / max(trip.eta_s, 1.0))
            p = trip.route.interpolate(frac, normalized=True)
            unit = s.get(Unit, trip.unit_id)
            if unit is not None:
                unit.geometry = Point(p.x, p.y)
                unit.position_at = now

    def _dispatch(self, now: datetime) -> None:
        t0 = time.perf_counter()
        with session_scope(self.factory) as s:
            self._move_units(s, now)
            s.flush()
            recs = recommend(s, self.region, self.settings, now, self.policy)
            conditions = _current_conditions_v0(s)
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
            route, _ = _route_v0(g, int(a_node), int(b_node), unit.vehicle_class, conditions)
        except UnreachableError:
            route = None
        dest = Point(task.geometry.x, task.geometry.y)
        self.trips[a.id] = _Trip(a.id, a.unit_id, a.task_id, now, eta_s, route, dest)
        self.push(now + timedelta(seconds=eta_s), "arrive", a.id)

    def _sample(self, now: datetime) -> None:
        with session_scope(self.factory) as s:
            open_tasks = s.scalars(select(Task).where(Task.status == TaskStatus.OPEN.value)).all()
            free = s.scalars(select(Unit.id).where(Unit.status == UnitStatus.AVAILABLE.value)).all()
            out = s.scalars(
                select(Unit.id).where(
                    Unit.status.in_(
                        [
                            UnitStatus.ASSIGNED.value,
                            UnitStatus.EN_ROUTE.value,
                            UnitStatus.ON_SCENE.value,
                        ]
                    )
                )
            ).all()
            reached = self._reached(s)
            waiting = sum(
                int(i.people or 0)
                for i in s.scalars(
                    select(Incident).where(Incident.status == IncidentStatus.OPEN.value)
                )
                if i.id not in reached
            )
        self.series["t"].append(now.isoformat())
        self.series["open_tasks"].append(len(open_tasks))
        self.series["open_incident_tasks"].append(
            sum(1 for t in open_tasks if t.incident_id is not None)
        )
        self.series["free_units"].append(len(free))
        self.series["units_out"].append(len(out))
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
    if policy not in POLICIES:
        msg = f"unknown dispatch policy {policy!r}; expected one of {', '.join(POLICIES)}"
        raise ValueError(msg)
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


def _current_conditions_v0(session: Session) -> dict[str, list[str]]:
    rows = session.execute(
        select(SegmentCondition.segment_id, SegmentCondition.condition).where(
            SegmentCondition.valid_to.is_(None)
        )
    ).all()
    out: dict[str, list[str]] = {}
    for sid, cond in rows:
        if cond and cond != "clear":
            out.setdefault(str(sid), []).append(str(cond))
    return out


def _path_edges_v0(g: Any, a: int, b: int, vehicle_class: str, conditions: Any) -> Any:
    times = g.edge_times(vehicle_class, conditions)
    m = sp.csr_matrix(
        (g._pair_times(times), g._indices, g._indptr), shape=(g.n_nodes, g.n_nodes)
    )
    dist, pred = dijkstra(m, directed=True, indices=a, return_predecessors=True)
    if not np.isfinite(dist[b]):
        raise UnreachableError("no passable route")
    path = [b]
    while path[-1] != a:
        path.append(int(pred[path[-1]]))
    path.reverse()
    edges_out: list[int] = []
    n_pairs = g._pair_start.size
    for u, v in zip(path, path[1:], strict=False):
        lo, hi = g._indptr[u], g._indptr[u + 1]
        p = lo + int(np.searchsorted(g._indices[lo:hi], v))
        e0 = g._pair_start[p]
        e1 = g._pair_start[p + 1] if p + 1 < n_pairs else g._edge_order.size
        cand = g._edge_order[e0:e1]
        edges_out.append(int(cand[np.argmin(times[cand])]))
    return edges_out, float(dist[b])


def _route_v0(g: Any, a: int, b: int, vehicle_class: str, conditions: Any) -> Any:
    if a == b:
        lon, lat = float(g.node_lon[a]), float(g.node_lat[a])
        return LineString([(lon, lat), (lon, lat)]), 0.0
    edges, seconds = _path_edges_v0(g, a, b, vehicle_class, conditions)
    coords: list[Any] = []
    for e in edges:
        piece = substring(g._geoms[g.edge_segment[e]], g._edge_p0[e], g._edge_p1[e])
        xy = shapely.get_coordinates(piece)
        if coords and len(xy) and np.allclose(coords[-1][-1], xy[0]):
            xy = xy[1:]
        if len(xy):
            coords.append(xy)
    allxy = np.concatenate(coords) if coords else g._node_xy[[a, b]]
    if len(allxy) < 2:
        allxy = np.vstack([allxy, allxy])
    rlon, rlat = from_metric_xy(allxy[:, 0], allxy[:, 1])
    return LineString(np.column_stack([rlon, rlat])), seconds
