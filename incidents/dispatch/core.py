"""Dispatch: which unit goes where, with ETAs, reasons and a baseline to beat.

Two policies
------------
``optimized``
    Every candidate unit (free units, plus units on a confirmed or en-route assignment, which
    may be moved when that pays) against every open task: condition-aware ETAs per vehicle
    class, then :func:`scipy.optimize.linear_sum_assignment` on the priority-weighted cost::

        cost(u, t) = p_t * (eta(u, t) - HORIZON_S)        (HORIZON_S = 4 h)

    so that serving a task always beats leaving it (an unserved task counts as waiting the
    horizon), and a high-priority task's minutes weigh more. A unit already confirmed or en
    route keeps its task unless moving it gains more than ``keep_threshold_s`` of that task's
    priority-weighted time (the current pair gets a bonus ``p_current * keep_threshold_s``).
    Tasks that need several units (a stranded group: rescue + plow + traffic control; a heavy
    truck in a ditch: heavy tow + traffic control) are several task rows, each a slot.
``closest``
    The dispatcher without the tool: tasks first come, first served (by creation time), each
    gets the nearest free capable unit; units already out are never moved.

Eligibility: the unit has the task's capability, the task is reachable, and a unit over its
crew-hour limit or low on fuel (< ``LOW_FUEL``) only takes short runs (ETA <= ``LONG_RUN_S``).

Travel times
------------
ETAs come from :class:`geo.network.RoadGraph` under the current segment conditions. For each
vehicle class, either one forward Dijkstra per unit of that class or one reverse Dijkstra per
task node, whichever is fewer (:func:`eta_matrix`); :class:`TravelCache` keeps one reverse
Dijkstra per (task, class) so a new call costs only its own searches.

Pre-positioning
---------------
:func:`preposition`: when an alert forecasts onset within the look-ahead, stage free units
(never ones on open tasks) at duty points so the most high-risk road-km lie within T minutes:
a maximal covering location problem, solved greedily (within 1 - 1/e of the optimum) and the
units matched to the chosen points by :func:`~scipy.optimize.linear_sum_assignment`.

AVL
---
:func:`read_avl` reads position fixes (CSV or JSON: unit_id, time, lon, lat, optional datum,
fuel, crew_hours); :func:`apply_avl_fixes` stores the newer ones.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.crs import to_wgs84
from incidents.service.audit import audit
from incidents.settings import Settings
from incidents.store.models import (
    Alert,
    AlertState,
    Assignment,
    AssignmentState,
    DutyPoint,
    Hazard,
    HazardState,
    Incident,
    SegmentCondition,
    Task,
    TaskStatus,
    Unit,
    UnitStatus,
)

__all__ = [
    "HORIZON_S",
    "LONG_RUN_S",
    "LOW_FUEL",
    "POLICIES",
    "Candidate",
    "Recommendation",
    "StagingSuggestion",
    "TravelCache",
    "apply_avl_fixes",
    "current_conditions",
    "eta_matrix",
    "preposition",
    "read_avl",
    "recommend",
    "solve",
]

POLICIES = ("optimized", "closest")
HORIZON_S = 4 * 3600.0
LONG_RUN_S = 45 * 60.0
LOW_FUEL = 0.25
KEEP_THRESHOLD_S = 15 * 60.0
SEARCH_LIMIT_S = 12 * 3600.0
INFEASIBLE = 1e15

CAPABILITY_ZH = {
    "rescue": "救援",
    "heavy_tow": "重型清障",
    "plow": "除雪",
    "grit": "撒布融雪剂",
    "traffic_control": "交通管制",
    "medical": "医疗",
}
MOVABLE_STATES = (AssignmentState.CONFIRMED.value, AssignmentState.EN_ROUTE.value)


# ------------------------------------------------------------------------------------------
# Travel times
# ------------------------------------------------------------------------------------------


def _node_index(graph: Any, lon: Sequence[float], lat: Sequence[float]) -> NDArray[np.int64]:
    if len(lon) == 0:
        return np.empty(0, dtype=np.int64)
    return np.asarray(graph.nearest_nodes(np.asarray(lon), np.asarray(lat)), dtype=np.int64)


def eta_matrix(
    graph: Any,
    unit_nodes: NDArray[np.int64],
    unit_classes: Sequence[str],
    task_nodes: NDArray[np.int64],
    conditions: Mapping[str, Any] | None = None,
    *,
    limit_s: float = SEARCH_LIMIT_S,
) -> NDArray[np.float64]:
    """Seconds from every unit (rows) to every task (columns), per the unit's vehicle class.

    For each vehicle class, runs forward Dijkstra from the distinct nodes of that class's units
    or reverse Dijkstra from the distinct task nodes, whichever needs fewer searches; one
    vectorised :func:`scipy.sparse.csgraph.dijkstra` call per class.

    Parameters
    ----------
    graph
        A :class:`geo.network.RoadGraph`.
    unit_nodes, unit_classes
        Node and vehicle class of each unit.
    task_nodes
        Node of each task.
    conditions
        segment_id -> condition (or several) for :meth:`RoadGraph.matrix`.
    limit_s
        Searches stop at this travel time; farther pairs are ``inf``.
    """
    out = np.full((len(unit_nodes), len(task_nodes)), np.inf)
    if len(unit_nodes) == 0 or len(task_nodes) == 0:
        return out
    classes = np.asarray(unit_classes)
    t_uniq, t_inv = np.unique(task_nodes, return_inverse=True)
    for vc in sorted(set(unit_classes)):
        rows = np.flatnonzero(classes == vc)
        u_uniq, u_inv = np.unique(unit_nodes[rows], return_inverse=True)
        if len(u_uniq) <= len(t_uniq):
            m = graph.matrix(vc, conditions)
            d = np.atleast_2d(dijkstra(m, directed=True, indices=u_uniq, limit=limit_s))
            out[rows] = d[u_inv][:, t_uniq[t_inv]]
        else:
            m = graph.matrix(vc, conditions, reverse=True)
            d = np.atleast_2d(dijkstra(m, directed=True, indices=t_uniq, limit=limit_s))
            out[rows] = d[t_inv][:, u_uniq[u_inv]].T
    return out


class TravelCache:
    """Reverse-Dijkstra rows per (task key, vehicle class) under one set of conditions.

    A new task costs one reverse search per vehicle class that can serve it; the rows of
    tasks already seen are reused. Each search is bounded: it starts with a radius of
    `first_limit_s` and doubles it (up to `limit_s`) until it reaches at least `min_units`
    of the capable units of that class, so a call in a busy area does not search the whole
    region; units beyond the final radius count as unreachable for that task. Build a new
    cache when the conditions change.

    Parameters
    ----------
    graph
        A :class:`geo.network.RoadGraph`.
    conditions
        segment_id -> condition.
    limit_s
        Largest search radius in seconds.
    first_limit_s
        First search radius.
    min_units
        Capable units of each class a search must reach before it stops growing.
    """

    def __init__(
        self,
        graph: Any,
        conditions: Mapping[str, Any] | None = None,
        limit_s: float = SEARCH_LIMIT_S,
        *,
        first_limit_s: float = 1800.0,
        min_units: int = 3,
    ) -> None:
        self.graph = graph
        self.conditions = dict(conditions or {})
        self.limit_s = limit_s
        self.first_limit_s = min(first_limit_s, limit_s)
        self.min_units = min_units
        self._matrices: dict[str, Any] = {}
        self._rows: dict[tuple[Any, str], NDArray[np.float32]] = {}

    def _matrix(self, vc: str) -> Any:
        m = self._matrices.get(vc)
        if m is None:
            m = self.graph.matrix(vc, self.conditions, reverse=True)
            self._matrices[vc] = m
        return m

    def row(
        self,
        key: Any,
        node: int,
        vehicle_class: str,
        targets: NDArray[np.int64] | None = None,
    ) -> NDArray[np.float32]:
        """Seconds from every node to `node` for `vehicle_class` (cached under `key`).

        With `targets` (the nodes of the capable units), the search radius grows from
        ``first_limit_s`` until ``min_units`` of them are reached (or ``limit_s``).
        """
        k = (key, vehicle_class)
        r = self._rows.get(k)
        if r is not None:
            return r
        m = self._matrix(vehicle_class)
        limit = self.limit_s if targets is None else self.first_limit_s
        need = 0 if targets is None else min(self.min_units, len(targets))
        while True:
            d = np.asarray(dijkstra(m, directed=True, indices=int(node), limit=limit))
            if targets is None or limit >= self.limit_s:
                break
            if int(np.isfinite(d[targets]).sum()) >= need:
                break
            limit = min(limit * 2.0, self.limit_s)
        r = d.astype(np.float32)
        self._rows[k] = r
        return r

    def forget(self, key: Any) -> None:
        """Drop the rows of a closed task."""
        for k in [k for k in self._rows if k[0] == key]:
            del self._rows[k]

    def etas(
        self,
        task_keys: Sequence[Any],
        task_nodes: Sequence[int],
        task_caps: Sequence[str],
        unit_nodes: NDArray[np.int64],
        unit_classes: Sequence[str],
        unit_caps: Sequence[Iterable[str]],
    ) -> NDArray[np.float64]:
        """Units x tasks ETA matrix; pairs without the capability stay ``inf`` (not searched)."""
        out = np.full((len(unit_nodes), len(task_keys)), np.inf)
        classes = np.asarray(unit_classes)
        caps = [frozenset(c) for c in unit_caps]
        kinds = sorted(set(task_caps))
        has = {k: np.array([k in c for c in caps], dtype=bool) for k in kinds}
        rows_of = {
            (k, vc): np.flatnonzero(has[k] & (classes == vc))
            for k in kinds
            for vc in set(classes[has[k]].tolist())
        }
        for j, (key, node, cap) in enumerate(zip(task_keys, task_nodes, task_caps, strict=True)):
            for (k, vc), rows in rows_of.items():
                if k != cap:
                    continue
                targets = unit_nodes[rows]
                out[rows, j] = self.row(key, node, vc, targets)[targets]
        return out


# ------------------------------------------------------------------------------------------
# The assignment problem (pure, on arrays)
# ------------------------------------------------------------------------------------------


@dataclass
class Candidate:
    """What the solver knows about one unit."""

    unit_id: str
    vehicle_class: str
    capabilities: frozenset[str]
    node: int
    short_only: bool = False  # over its crew-hour limit or low on fuel
    current_task: int = -1  # column of the task it is confirmed / en route to, else -1
    current_assignment: int | None = None


def feasible_mask(
    eta: NDArray[np.float64],
    units: Sequence[Candidate],
    task_caps: Sequence[str],
    long_run_s: float = LONG_RUN_S,
) -> NDArray[np.bool_]:
    """Which (unit, task) pairs are allowed: capability, reachable, short runs for tired units."""
    if len(units) == 0 or len(task_caps) == 0:
        return np.zeros(eta.shape, dtype=bool)
    kinds = sorted(set(task_caps))
    col = np.array([kinds.index(c) for c in task_caps])
    has = np.array([[k in u.capabilities for k in kinds] for u in units], dtype=bool)
    able = has[:, col]
    ok = able & np.isfinite(eta)
    short = np.array([u.short_only for u in units], dtype=bool)
    ok[short] &= eta[short] <= long_run_s
    return ok


def solve(
    eta: NDArray[np.float64],
    units: Sequence[Candidate],
    task_caps: Sequence[str],
    priority: NDArray[np.float64],
    created: NDArray[np.float64] | None = None,
    policy: str = "optimized",
    *,
    keep_threshold_s: float = KEEP_THRESHOLD_S,
    horizon_s: float = HORIZON_S,
    long_run_s: float = LONG_RUN_S,
) -> list[tuple[int, int]]:
    """Choose (unit row, task column) pairs.

    Parameters
    ----------
    eta
        Seconds, units x tasks (``inf`` = unreachable).
    units
        One :class:`Candidate` per row; ``current_task`` marks units already out.
    task_caps
        Capability each task needs.
    priority
        Task priorities (higher = more urgent).
    created
        Task creation times (any monotonic number) for the ``closest`` policy's order.
    policy
        ``optimized`` or ``closest``.

    Returns
    -------
    list of tuple
        Pairs; for a unit already out, a pair with a different task means "move it".
        Units that keep their current task are not listed.
    """
    if policy not in POLICIES:
        msg = f"unknown dispatch policy {policy!r}; expected one of {', '.join(POLICIES)}"
        raise ValueError(msg)
    n_u, n_t = eta.shape
    if n_u == 0 or n_t == 0:
        return []
    ok = feasible_mask(eta, units, task_caps, long_run_s)
    current = np.array([u.current_task for u in units])
    taken = set(current[current >= 0].tolist())
    if policy == "closest":
        order = np.argsort(created if created is not None else np.arange(n_t), kind="stable")
        free = current < 0
        pairs = []
        for j in order:
            if j in taken:
                continue
            cand = np.flatnonzero(free & ok[:, j])
            if cand.size == 0:
                continue
            i = int(cand[np.argmin(eta[cand, j])])
            free[i] = False
            pairs.append((i, int(j)))
        return pairs
    p = np.maximum(np.asarray(priority, dtype=float), 1e-3)
    cost = np.where(ok, p[None, :] * (np.where(ok, eta, 0.0) - horizon_s), INFEASIBLE)
    for i, j in enumerate(current):
        if j >= 0:
            # staying put: the pair is always allowed (it is already happening) and gets a bonus
            stay = eta[i, j] if np.isfinite(eta[i, j]) else 0.0
            cost[i, j] = p[j] * (stay - horizon_s) - p[j] * keep_threshold_s
    # a "leave idle" column per unit so no unit is forced onto a task that is worse than nothing
    idle = np.zeros((n_u, n_u))
    idle[:] = INFEASIBLE
    np.fill_diagonal(idle, 0.0)
    for i, j in enumerate(current):
        if j >= 0:  # a unit out on a task cannot go idle: it keeps or moves
            idle[i, i] = INFEASIBLE / 10
    full = np.hstack([cost, idle])
    rows, cols = linear_sum_assignment(full)
    pairs = []
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        if j >= n_t or full[i, j] >= INFEASIBLE / 10:
            continue
        if current[i] == j:
            continue
        pairs.append((i, j))
    return pairs


def runner_up(
    eta: NDArray[np.float64], ok: NDArray[np.bool_], j: int, chosen: int
) -> tuple[int, float] | None:
    """The best eligible unit for task `j` other than `chosen` (row, seconds)."""
    col = np.where(ok[:, j], eta[:, j], np.inf)
    col[chosen] = np.inf
    if not np.isfinite(col).any():
        return None
    i = int(np.argmin(col))
    return i, float(col[i])


# ------------------------------------------------------------------------------------------
# Recommendations from the database
# ------------------------------------------------------------------------------------------


@dataclass
class Recommendation:
    """One recommended assignment, with the facts a dispatcher needs to confirm it."""

    task_id: int
    unit_id: str
    eta_s: float
    priority: float
    capability: str
    task_kind: str
    incident_id: int | None
    runner_up: tuple[str, float] | None
    reason: str
    reason_zh: str
    policy: str = "optimized"
    action: str = "assign"  # assign | reassign (the unit leaves its current task)
    replaces_assignment_id: int | None = None
    unit_short_only: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d["runner_up"] = (
            {"unit_id": self.runner_up[0], "eta_s": round(self.runner_up[1], 1)}
            if self.runner_up
            else None
        )
        d["eta_s"] = round(self.eta_s, 1)
        d["eta_min"] = round(self.eta_s / 60.0, 1)
        return d


def current_conditions(session: Session) -> dict[str, list[str]]:
    """segment_id -> current conditions (rows with ``valid_to`` unset, other than clear)."""
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


def _is_short_only(u: Unit) -> bool:
    return bool(u.crew_hours >= u.crew_hour_limit or u.fuel < LOW_FUEL)


@dataclass
class DispatchState:
    """Open tasks, candidate units and travel times loaded from the database."""

    tasks: list[Task]
    units: list[Unit]
    candidates: list[Candidate]
    eta: NDArray[np.float64]
    priority: NDArray[np.float64]
    created: NDArray[np.float64]
    caps: list[str]
    incidents: dict[int, Incident] = field(default_factory=dict)


def load_state(
    session: Session, region: Any, now: datetime, *, include_busy: bool = True
) -> DispatchState:
    """Load open tasks, units that could go, and their ETAs under current conditions."""
    active = session.scalars(select(Assignment).where(Assignment.state.in_(MOVABLE_STATES))).all()
    busy_task = {a.unit_id: a for a in active}
    tasks = list(
        session.scalars(
            select(Task).where(Task.status == TaskStatus.OPEN.value).order_by(Task.id)
        ).all()
    )
    if include_busy:
        held = [session.get(Task, a.task_id) for a in active]
        tasks += [t for t in held if t is not None and t.status != TaskStatus.OPEN.value]
    tasks = [t for t in tasks if t.geometry is not None]
    col = {t.id: j for j, t in enumerate(tasks)}
    statuses = [UnitStatus.AVAILABLE.value]
    if include_busy:
        statuses += [UnitStatus.ASSIGNED.value, UnitStatus.EN_ROUTE.value]
    units = [
        u
        for u in session.scalars(select(Unit).where(Unit.status.in_(statuses)).order_by(Unit.id))
        if u.geometry is not None and (u.status == UnitStatus.AVAILABLE.value or u.id in busy_task)
    ]
    graph = region.graph
    u_nodes = _node_index(graph, [u.geometry.x for u in units], [u.geometry.y for u in units])  # type: ignore[union-attr]
    t_nodes = _node_index(graph, [t.geometry.x for t in tasks], [t.geometry.y for t in tasks])  # type: ignore[union-attr]
    conditions = current_conditions(session)
    eta = eta_matrix(graph, u_nodes, [u.vehicle_class for u in units], t_nodes, conditions)
    cands = []
    for i, u in enumerate(units):
        a = busy_task.get(u.id)
        cands.append(
            Candidate(
                u.id,
                u.vehicle_class,
                frozenset(u.capabilities or []),
                int(u_nodes[i]),
                short_only=_is_short_only(u),
                current_task=col.get(a.task_id, -1) if a is not None else -1,
                current_assignment=a.id if a is not None else None,
            )
        )
    incidents = {
        i.id: i
        for i in session.scalars(
            select(Incident).where(Incident.id.in_({t.incident_id for t in tasks if t.incident_id}))
        )
    }
    priority = np.array(
        [
            t.priority or (incidents[t.incident_id].priority if t.incident_id in incidents else 0.0)
            for t in tasks
        ],
        dtype=float,
    )
    created = np.array([t.created_at.timestamp() for t in tasks], dtype=float)
    return DispatchState(
        tasks, units, cands, eta, priority, created, [t.capability for t in tasks], incidents
    )


def _describe(task: Task, incident: Incident | None) -> tuple[str, str]:
    if incident is None:
        return task.kind, CAPABILITY_ZH.get(task.kind, task.kind)
    en = f"{incident.kind.replace('_', ' ')}"
    zh = {
        "stranded": "车辆被困",
        "crash": "事故",
        "vehicle_in_ditch": "车辆出路",
        "road_blocked": "道路阻断",
    }.get(incident.kind, incident.kind)
    if incident.people:
        en += f", {incident.people} people"
        zh += f"，{incident.people}人"
    if incident.vulnerable:
        en += f" ({incident.vulnerable} vulnerable)"
        zh += f"（弱势{incident.vulnerable}人）"
    return en, zh


def build_recommendations(
    state: DispatchState, pairs: Sequence[tuple[int, int]], policy: str
) -> list[Recommendation]:
    """Turn solver pairs into explained :class:`Recommendation` objects, most urgent first."""
    ok = feasible_mask(state.eta, state.candidates, state.caps)
    plan = dict(pairs)
    out = []
    for i, j in pairs:
        u, t, c = state.units[i], state.tasks[j], state.candidates[i]
        eta = float(state.eta[i, j])
        ru = runner_up(state.eta, ok, j, i)
        ru_t = (state.candidates[ru[0]].unit_id, ru[1]) if ru else None
        what_en, what_zh = _describe(t, state.incidents.get(t.incident_id or -1))
        cap_zh = CAPABILITY_ZH.get(t.capability, t.capability)
        mins = eta / 60.0
        en = (
            f"{u.id} ({u.vehicle_class}, {t.capability}) reaches task {t.id} [{what_en}] in "
            f"{mins:.0f} min; priority {state.priority[j]:.0f}"
        )
        zh = f"{u.id}（{cap_zh}）约{mins:.0f}分钟到达任务{t.id}［{what_zh}］；优先级{state.priority[j]:.0f}"
        if ru_t and ru is not None:
            en += f"; runner-up {ru_t[0]} {ru_t[1] / 60:.0f} min"
            zh += f"；次选{ru_t[0]}约{ru_t[1] / 60:.0f}分钟"
            other = plan.get(ru[0])
            if other is not None and ru[1] < eta:
                en += f" (needed for task {state.tasks[other].id})"
                zh += f"（另派任务{state.tasks[other].id}）"
            elif state.candidates[ru[0]].current_task >= 0 and ru[1] < eta:
                en += " (busy on another task)"
                zh += "（正在执行其他任务）"
        else:
            en += "; no other capable unit free"
            zh += "；无其他可用单位"
        action = "reassign" if c.current_task >= 0 else "assign"
        if action == "reassign":
            en += f"; moves from task {state.tasks[c.current_task].id} (gain over threshold)"
            zh += f"；由任务{state.tasks[c.current_task].id}改派（收益超过阈值）"
        if c.short_only:
            en += "; short run only (crew hours or fuel)"
            zh += "；仅限短途（工时或燃油不足）"
        out.append(
            Recommendation(
                task_id=t.id,
                unit_id=u.id,
                eta_s=eta,
                priority=float(state.priority[j]),
                capability=t.capability,
                task_kind=t.kind,
                incident_id=t.incident_id,
                runner_up=ru_t,
                reason=en,
                reason_zh=zh,
                policy=policy,
                action=action,
                replaces_assignment_id=c.current_assignment if action == "reassign" else None,
                unit_short_only=c.short_only,
            )
        )
    out.sort(key=lambda r: (-r.priority, r.eta_s))
    return out


def recommend(
    session: Session,
    region: Any,
    settings: Settings | None,
    now: datetime,
    policy: str = "optimized",
    *,
    keep_threshold_s: float = KEEP_THRESHOLD_S,
) -> list[Recommendation]:
    """Recommend assignments for the open tasks (nothing is dispatched until confirmed).

    Parameters
    ----------
    session
        Open session (read only).
    region
        :class:`geo.region.Region` (its road graph gives the travel times).
    settings
        Settings (reserved for tuning values; may be None).
    now
        The moment of the recommendation.
    policy
        ``optimized`` (default) or ``closest`` (the baseline).

    Returns
    -------
    list of Recommendation
        Most urgent first.
    """
    if policy not in POLICIES:
        msg = f"unknown dispatch policy {policy!r}; expected one of {', '.join(POLICIES)}"
        raise ValueError(msg)
    state = load_state(session, region, now, include_busy=policy == "optimized")
    pairs = solve(
        state.eta,
        state.candidates,
        state.caps,
        state.priority,
        state.created,
        policy,
        keep_threshold_s=keep_threshold_s,
    )
    return build_recommendations(state, pairs, policy)


# ------------------------------------------------------------------------------------------
# Pre-positioning at duty points (maximal covering location problem)
# ------------------------------------------------------------------------------------------


@dataclass
class StagingSuggestion:
    """Stage a free unit at a duty point ahead of a forecast onset."""

    unit_id: str
    duty_point_id: str
    duty_point_name: str
    eta_s: float
    covered_km: float
    alert_id: int | None
    reason: str
    reason_zh: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def greedy_mclp(cover: NDArray[np.bool_], weight: NDArray[np.float64], k: int) -> list[int]:
    """Greedy maximal covering: pick up to `k` sites (rows) covering the most demand weight.

    Parameters
    ----------
    cover
        sites x demand points: whether a site covers a point within the time standard.
    weight
        Demand weight of each point (e.g. high-risk road-km).
    k
        Sites to open.

    Returns
    -------
    list of int
        Chosen site rows in the order picked (each adds weight; stops when nothing is gained).
    """
    covered = np.zeros(cover.shape[1], dtype=bool)
    chosen: list[int] = []
    for _ in range(max(0, k)):
        gain = (cover & ~covered[None, :]) @ weight
        if chosen:
            gain[chosen] = -1
        best = int(np.argmax(gain)) if gain.size else -1
        if best < 0 or gain[best] <= 0:
            break
        chosen.append(best)
        covered |= cover[best]
    return chosen


def preposition(
    session: Session,
    region: Any,
    settings: Settings,
    now: datetime,
    *,
    lookahead_h: float = 6.0,
    minutes: float | None = None,
    max_units: int | None = None,
) -> list[StagingSuggestion]:
    """Suggest staging free units at duty points before a forecast onset.

    High-risk segments: segments inside an active alert whose onset is within `lookahead_h`
    (or already begun), weighted by length and severity, plus segments with an open hazard.
    Free units are available units with no open task they could take better: the units left
    idle by the optimized recommendation, so no unit is stripped from an open incident.

    Returns
    -------
    list of StagingSuggestion
        One per unit to move; empty when nothing is forecast or no unit is free.
    """
    t_min = settings.coverage_minutes if minutes is None else minutes
    horizon = now + timedelta(hours=lookahead_h)
    alerts = [
        a
        for a in session.scalars(
            select(Alert).where(Alert.state == AlertState.ACTUAL.value, Alert.area.is_not(None))
        )
        if (a.onset is None or a.onset <= horizon) and (a.expires is None or a.expires > now)
    ]
    hazards = session.scalars(select(Hazard).where(Hazard.state != HazardState.CLEARED.value)).all()
    if not alerts and not hazards:
        return []
    segs = region.network.segments
    weight = np.zeros(len(segs))
    sev = {"Extreme": 4.0, "Severe": 3.0, "Moderate": 2.0, "Minor": 1.0}
    length_km = np.asarray(segs["length_m"], dtype=float) / 1000.0
    alert_of = np.full(len(segs), -1)
    for a in alerts:
        inside = np.asarray(segs.geometry.intersects(a.area))
        w = sev.get(a.severity or "", 1.5)
        better = inside & (w * length_km > weight)
        weight = np.where(better, w * length_km, weight)
        alert_of[better] = a.id
    seg_pos = {sid: i for i, sid in enumerate(segs["segment_id"])}
    for h in hazards:
        i = seg_pos.get(h.segment_id or "")
        if i is not None:
            weight[i] += 3.0 * length_km[i] * float(h.confidence or 1.0)
    demand = np.flatnonzero(weight > 0)
    if demand.size == 0:
        return []
    # free units = those the optimized plan leaves idle
    state = load_state(session, region, now, include_busy=False)
    used = {i for i, _ in solve(state.eta, state.candidates, state.caps, state.priority)}
    free = [c for i, c in enumerate(state.candidates) if i not in used]
    free = [c for c in free if not c.short_only]
    if max_units is not None:
        free = free[:max_units]
    dps = session.scalars(select(DutyPoint).order_by(DutyPoint.id)).all()
    dps = [d for d in dps if d.kind in ("duty_point", "duty_station")]
    if not free or not dps:
        return []
    graph = region.graph
    conditions = current_conditions(session)
    dp_nodes = _node_index(graph, [d.geometry.x for d in dps], [d.geometry.y for d in dps])
    mids = shapely.line_interpolate_point(
        np.asarray(segs.geometry.iloc[demand].to_numpy()), 0.5, normalized=True
    )
    seg_nodes = _node_index(graph, shapely.get_x(mids), shapely.get_y(mids))
    # coverage from each duty point (patrol-car speed: the unit that first reaches a scene)
    from_dp = eta_matrix(graph, dp_nodes, ["patrol_car"] * len(dps), seg_nodes, conditions)
    cover = from_dp <= t_min * 60.0
    # already covered by units staying where they are (busy or not chosen) counts as covered
    chosen = greedy_mclp(cover, weight[demand], len(free))
    if not chosen:
        return []
    u_nodes = np.array([c.node for c in free], dtype=np.int64)
    to_dp = eta_matrix(
        graph, u_nodes, [c.vehicle_class for c in free], dp_nodes[chosen], conditions
    )
    cost = np.where(np.isfinite(to_dp), to_dp, INFEASIBLE)
    rows, cols = linear_sum_assignment(cost)
    out = []
    covered_before = np.zeros(len(demand), dtype=bool)
    for r, c in sorted(zip(rows.tolist(), cols.tolist(), strict=True), key=lambda rc: rc[1]):
        if cost[r, c] >= INFEASIBLE:
            continue
        site = chosen[c]
        new = cover[site] & ~covered_before
        covered_before |= cover[site]
        km = float(length_km[demand][new].sum())
        d = dps[site]
        a_ids = alert_of[demand][cover[site]]
        a_id = int(a_ids[a_ids >= 0][0]) if (a_ids >= 0).any() else None
        en = (
            f"stage {free[r].unit_id} at {d.name_en or d.name} ({to_dp[r, c] / 60:.0f} min away): "
            f"covers {km:.0f} high-risk road-km within {t_min:.0f} min"
        )
        zh = f"{free[r].unit_id}前置到{d.name}（约{to_dp[r, c] / 60:.0f}分钟）：覆盖{t_min:.0f}分钟内高风险路段{km:.0f}公里"
        out.append(
            StagingSuggestion(free[r].unit_id, d.id, d.name, float(to_dp[r, c]), km, a_id, en, zh)
        )
    return out


# ------------------------------------------------------------------------------------------
# AVL fixes
# ------------------------------------------------------------------------------------------

AVL_ALIASES = {
    "unit": "unit_id",
    "unit_id": "unit_id",
    "单位": "unit_id",
    "车辆编号": "unit_id",
    "time": "time",
    "timestamp": "time",
    "时间": "time",
    "lon": "lon",
    "longitude": "lon",
    "经度": "lon",
    "lat": "lat",
    "latitude": "lat",
    "纬度": "lat",
    "datum": "datum",
    "坐标系": "datum",
    "fuel": "fuel",
    "燃油": "fuel",
    "crew_hours": "crew_hours",
    "工时": "crew_hours",
}


def read_avl(data: bytes) -> pd.DataFrame:
    """Read AVL position fixes from CSV or JSON bytes.

    Columns (aliases in Chinese accepted): unit_id, time (ISO 8601; naive = Asia/Shanghai),
    lon, lat, optional datum (wgs84 | gcj02 | bd09), fuel (0..1), crew_hours. JSON: a list of
    objects or ``{"fixes": [...]}``.

    Returns
    -------
    pandas.DataFrame
        unit_id, time (UTC), lon, lat (WGS84), fuel, crew_hours.
    """
    text = data.decode("utf-8-sig")
    head = text.lstrip()[:1]
    if head in ("[", "{"):
        doc = json.loads(text)
        rows = doc.get("fixes", []) if isinstance(doc, dict) else doc
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
    recs = []
    for r in rows:
        rec = {AVL_ALIASES.get(str(k).strip().lower(), str(k).strip()): v for k, v in r.items()}
        recs.append(rec)
    df = pd.DataFrame(recs)
    for col in ("unit_id", "time", "lon", "lat"):
        if col not in df.columns:
            msg = f"AVL fixes lack the column {col!r} (have {list(df.columns)})"
            raise ValueError(msg)
    times = pd.to_datetime(df["time"], format="ISO8601")
    if times.dt.tz is None:
        times = times.dt.tz_localize("Asia/Shanghai")
    df["time"] = times.dt.tz_convert("UTC")
    lon = pd.to_numeric(df["lon"]).to_numpy(dtype=float)
    lat = pd.to_numeric(df["lat"]).to_numpy(dtype=float)
    datum = df["datum"] if "datum" in df.columns else pd.Series(["wgs84"] * len(df))
    out_lon, out_lat = lon.copy(), lat.copy()
    for d in set(datum.fillna("wgs84").astype(str).str.lower().str.replace("-", "")):
        m = (datum.fillna("wgs84").astype(str).str.lower().str.replace("-", "") == d).to_numpy()
        x, y = to_wgs84(lon[m], lat[m], d)
        out_lon[m], out_lat[m] = x, y
    df["lon"], df["lat"] = out_lon, out_lat
    for col in ("fuel", "crew_hours"):
        df[col] = pd.to_numeric(df[col]) if col in df.columns else np.nan
    return df[["unit_id", "time", "lon", "lat", "fuel", "crew_hours"]]


def apply_avl_fixes(session: Session, frame: pd.DataFrame, actor: str = "avl") -> dict[str, int]:
    """Store AVL fixes: each unit takes its newest fix if newer than what it has.

    Parameters
    ----------
    session
        Open session (the caller commits).
    frame
        Output of :func:`read_avl` (or the same columns).

    Returns
    -------
    dict
        ``{"applied", "stale", "unknown_unit"}`` counts.
    """
    counts = {"applied": 0, "stale": 0, "unknown_unit": 0}
    if frame.empty:
        return counts
    newest = frame.sort_values("time").groupby("unit_id", sort=True).tail(1)
    counts["stale"] += len(frame) - len(newest)
    for rec in newest.itertuples(index=False):
        unit = session.get(Unit, str(rec.unit_id))
        if unit is None:
            counts["unknown_unit"] += 1
            continue
        t = pd.Timestamp(rec.time).to_pydatetime()
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        if unit.position_at is not None and unit.position_at >= t:
            counts["stale"] += 1
            continue
        unit.geometry = Point(float(rec.lon), float(rec.lat))
        unit.position_at = t
        if rec.fuel is not None and not math.isnan(float(rec.fuel)):
            unit.fuel = float(min(max(float(rec.fuel), 0.0), 1.0))
        if rec.crew_hours is not None and not math.isnan(float(rec.crew_hours)):
            unit.crew_hours = float(rec.crew_hours)
        counts["applied"] += 1
    session.flush()
    audit(session, actor, "unit.avl", None, details=counts)
    return counts
