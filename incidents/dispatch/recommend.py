"""Recommendations from the database: open tasks, candidate units, explained assignments.

:func:`load_state` reads the open tasks, the units that could go and their ETAs under the
current conditions (:mod:`incidents.dispatch.traveltime`); :func:`recommend` solves
(:mod:`incidents.dispatch.solver`) and :func:`build_recommendations` explains each pair: ETA,
priority, runner-up, a reassignment, a short-run-only unit, and the unit's position.

Positions (:mod:`incidents.dispatch.positions`): every ETA starts from the unit's stored
position. A ``stale`` one (no fix for ``stale_position_minutes``) is not trusted: the ETA
still starts from the last known position (a unit that lost its tracker stays in the plan),
but the recommendation says so (``position_state``, ``position_age_s`` and the reason:
"position stale (last fix 42 min ago): ETA from there, confirm by radio"). A unit left at a
scene says it starts from there. The solver itself is unchanged by position states.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.dispatch.positions import PositionState, position_state
from incidents.dispatch.solver import (
    KEEP_THRESHOLD_S,
    Candidate,
    check_policy,
    feasible_mask,
    runner_up,
    solve,
)
from incidents.dispatch.traveltime import capable_etas, current_conditions, node_index
from incidents.settings import Settings
from incidents.store.models import (
    Assignment,
    AssignmentState,
    Incident,
    Task,
    TaskStatus,
    Unit,
    UnitStatus,
)

__all__ = [
    "CAPABILITY_ZH",
    "LOW_FUEL",
    "DispatchState",
    "Recommendation",
    "build_recommendations",
    "load_state",
    "recommend",
]

LOW_FUEL = 0.25

CAPABILITY_ZH = {
    "rescue": "救援",
    "heavy_tow": "重型清障",
    "plow": "除雪",
    "grit": "撒布融雪剂",
    "traffic_control": "交通管制",
    "medical": "医疗",
}
MOVABLE_STATES = (AssignmentState.CONFIRMED.value, AssignmentState.EN_ROUTE.value)


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
    position_state: str = "unknown"  # live | stale | unknown (see positions.position_state)
    position_age_s: float | None = None
    position_source: str | None = None  # avl | tablet | on_scene | base | None

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
    positions: list[PositionState] = field(default_factory=list)


def _open_work(
    session: Session, include_busy: bool
) -> tuple[list[Task], list[Unit], dict[str, Assignment]]:
    """Return the open tasks (and held ones), the units that could go, each busy unit's job."""
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
    statuses = [UnitStatus.AVAILABLE.value]
    if include_busy:
        statuses += [UnitStatus.ASSIGNED.value, UnitStatus.EN_ROUTE.value]
    units = [
        u
        for u in session.scalars(select(Unit).where(Unit.status.in_(statuses)).order_by(Unit.id))
        if u.geometry is not None and (u.status == UnitStatus.AVAILABLE.value or u.id in busy_task)
    ]
    return tasks, units, busy_task


def _candidates(
    units: list[Unit], u_nodes: Any, busy_task: dict[str, Assignment], col: dict[int, int]
) -> list[Candidate]:
    """One :class:`Candidate` per unit: its node, capabilities and the task it is on, if any."""
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
    return cands


def _priorities(
    session: Session, tasks: list[Task]
) -> tuple[dict[int, Incident], NDArray[np.float64]]:
    """Return the tasks' incidents by id and each task's priority (its own, else its incident's)."""
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
    return incidents, priority


def load_state(
    session: Session,
    region: Any,
    now: datetime,
    *,
    include_busy: bool = True,
    settings: Settings | None = None,
) -> DispatchState:
    """Load open tasks, units that could go, their ETAs and how far their positions hold.

    ETAs are under the current conditions, for the pairs where the unit has the task's
    capability (others ``inf``), kept between calls (:func:`capable_etas`: a new call searches
    only its own column); position trust at `now` is
    :func:`~incidents.dispatch.positions.position_state` (used in the reasons only).
    """
    tasks, units, busy_task = _open_work(session, include_busy)
    col = {t.id: j for j, t in enumerate(tasks)}
    graph = region.graph
    u_nodes = node_index(graph, [u.geometry.x for u in units], [u.geometry.y for u in units])  # type: ignore[union-attr]
    t_nodes = node_index(graph, [t.geometry.x for t in tasks], [t.geometry.y for t in tasks])  # type: ignore[union-attr]
    conditions = current_conditions(session)
    cap_of = {t.id: t.capability for t in tasks}
    # a unit out on a task needs that pair's ETA too, capable or not (an override)
    eta = capable_etas(
        graph,
        u_nodes,
        [u.vehicle_class for u in units],
        [
            [*(u.capabilities or []), cap_of.get(busy_task[u.id].task_id, "")]
            if u.id in busy_task
            else u.capabilities or []
            for u in units
        ],
        t_nodes,
        [t.capability for t in tasks],
        conditions,
    )
    incidents, priority = _priorities(session, tasks)
    created = np.array([t.created_at.timestamp() for t in tasks], dtype=float)
    positions = [position_state(u, now, settings) for u in units]
    return DispatchState(
        tasks,
        units,
        _candidates(units, u_nodes, busy_task, col),
        eta,
        priority,
        created,
        [t.capability for t in tasks],
        incidents,
        positions,
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
    """Turn solver pairs into explained :class:`Recommendation` objects, most urgent first.

    A plain ``assign`` is never proposed for a task that is no longer open (it already has an
    active assignment); a ``reassign`` (move a unit that is out) is.
    """
    ok = feasible_mask(state.eta, state.candidates, state.caps)
    plan = dict(pairs)
    out = []
    for i, j in pairs:
        u, t, c = state.units[i], state.tasks[j], state.candidates[i]
        eta = float(state.eta[i, j])
        ru = runner_up(state.eta, ok, j, i)
        ru_t = (state.candidates[ru[0]].unit_id, ru[1]) if ru else None
        en, zh = _reason(state, i, j, ru, plan)
        pos = state.positions[i] if state.positions else None
        action = "reassign" if c.current_task >= 0 else "assign"
        if action == "assign" and t.status != TaskStatus.OPEN.value:
            # the task already has its unit (confirmed or overridden meanwhile): a plain
            # "assign" of another unit could only conflict when confirmed
            continue
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
                position_state=pos.state if pos else "unknown",
                position_age_s=pos.age_s if pos else None,
                position_source=pos.source if pos else None,
            )
        )
    out.sort(key=lambda r: (-r.priority, r.eta_s))
    return out


def _reason(
    state: DispatchState,
    i: int,
    j: int,
    ru: tuple[int, float] | None,
    plan: dict[int, int],
) -> tuple[str, str]:
    """Return the English and Chinese reason of pair (unit row `i`, task column `j`)."""
    u, t, c = state.units[i], state.tasks[j], state.candidates[i]
    eta = float(state.eta[i, j])
    what_en, what_zh = _describe(t, state.incidents.get(t.incident_id or -1))
    cap_zh = CAPABILITY_ZH.get(t.capability, t.capability)
    mins = eta / 60.0
    en = (
        f"{u.id} ({u.vehicle_class}, {t.capability}) reaches task {t.id} [{what_en}] in "
        f"{mins:.0f} min; priority {state.priority[j]:.0f}"
    )
    zh = f"{u.id}（{cap_zh}）约{mins:.0f}分钟到达任务{t.id}［{what_zh}］；优先级{state.priority[j]:.0f}"
    if ru is not None:
        en += f"; runner-up {state.candidates[ru[0]].unit_id} {ru[1] / 60:.0f} min"
        zh += f"；次选{state.candidates[ru[0]].unit_id}约{ru[1] / 60:.0f}分钟"
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
    if c.current_task >= 0:
        en += f"; moves from task {state.tasks[c.current_task].id} (gain over threshold)"
        zh += f"；由任务{state.tasks[c.current_task].id}改派（收益超过阈值）"
    if c.short_only:
        en += "; short run only (crew hours or fuel)"
        zh += "；仅限短途（工时或燃油不足）"
    if state.positions:
        p_en, p_zh = state.positions[i].reason()
        en += p_en
        zh += p_zh
    return en, zh


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
        Settings (``stale_position_minutes``; may be None for the defaults).
    now
        The moment of the recommendation.
    policy
        ``optimized`` (default) or ``closest`` (the baseline).

    Returns
    -------
    list of Recommendation
        Most urgent first.
    """
    check_policy(policy)
    state = load_state(session, region, now, include_busy=policy == "optimized", settings=settings)
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
