"""Pre-positioning: stage free units at duty points ahead of a forecast onset.

:func:`preposition`: when an alert forecasts onset within the look-ahead, stage free units
(never ones on open tasks) at duty points so the most high-risk road-km lie within T minutes:
a maximal covering location problem, solved greedily (:func:`greedy_mclp`, within 1 - 1/e of
the optimum) and the units matched to the chosen points by
:func:`~scipy.optimize.linear_sum_assignment`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.dispatch.recommend import load_state
from incidents.dispatch.solver import INFEASIBLE, Candidate, solve
from incidents.dispatch.traveltime import current_conditions, eta_matrix, node_index
from incidents.settings import Settings
from incidents.store.models import Alert, AlertState, DutyPoint, Hazard, HazardState

__all__ = ["StagingSuggestion", "greedy_mclp", "preposition"]

SEVERITY_WEIGHT = {"Extreme": 4.0, "Severe": 3.0, "Moderate": 2.0, "Minor": 1.0}


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
    weight, alert_of, length_km = _demand(session, region, now, lookahead_h)
    demand = np.flatnonzero(weight > 0)
    if demand.size == 0:
        return []
    free = _free_units(session, region, now, max_units)
    dps = session.scalars(select(DutyPoint).order_by(DutyPoint.id)).all()
    dps = [d for d in dps if d.kind in ("duty_point", "duty_station")]
    if not free or not dps:
        return []
    graph = region.graph
    conditions = current_conditions(session)
    dp_nodes = node_index(graph, [d.geometry.x for d in dps], [d.geometry.y for d in dps])
    segs = region.network.segments
    mids = shapely.line_interpolate_point(
        np.asarray(segs.geometry.iloc[demand].to_numpy()), 0.5, normalized=True
    )
    seg_nodes = node_index(graph, shapely.get_x(mids), shapely.get_y(mids))
    # coverage from each duty point (patrol-car speed: the unit that first reaches a scene)
    from_dp = eta_matrix(graph, dp_nodes, ["patrol_car"] * len(dps), seg_nodes, conditions)
    cover = from_dp <= t_min * 60.0
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
        a_ids = alert_of[demand][cover[site]]
        a_id = int(a_ids[a_ids >= 0][0]) if (a_ids >= 0).any() else None
        out.append(_suggestion(free[r], dps[site], float(to_dp[r, c]), km, a_id, t_min))
    return out


def _demand(
    session: Session, region: Any, now: datetime, lookahead_h: float
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """Per segment: high-risk weight, the alert that set it (-1 none) and length in km."""
    horizon = now + timedelta(hours=lookahead_h)
    alerts = [
        a
        for a in session.scalars(
            select(Alert).where(Alert.state == AlertState.ACTUAL.value, Alert.area.is_not(None))
        )
        if (a.onset is None or a.onset <= horizon) and (a.expires is None or a.expires > now)
    ]
    hazards = session.scalars(select(Hazard).where(Hazard.state != HazardState.CLEARED.value)).all()
    segs = region.network.segments
    weight = np.zeros(len(segs))
    alert_of = np.full(len(segs), -1)
    length_km = np.asarray(segs["length_m"], dtype=float) / 1000.0
    if not alerts and not hazards:
        return weight, alert_of, length_km
    for a in alerts:
        inside = np.asarray(segs.geometry.intersects(a.area))
        w = SEVERITY_WEIGHT.get(a.severity or "", 1.5)
        better = inside & (w * length_km > weight)
        weight = np.where(better, w * length_km, weight)
        alert_of[better] = a.id
    seg_pos = {sid: i for i, sid in enumerate(segs["segment_id"])}
    for h in hazards:
        i = seg_pos.get(h.segment_id or "")
        if i is not None:
            weight[i] += 3.0 * length_km[i] * float(h.confidence or 1.0)
    return weight, alert_of, length_km


def _free_units(
    session: Session, region: Any, now: datetime, max_units: int | None
) -> list[Candidate]:
    """Units the optimized plan leaves idle (and fit for long runs)."""
    state = load_state(session, region, now, include_busy=False)
    used = {i for i, _ in solve(state.eta, state.candidates, state.caps, state.priority)}
    free = [c for i, c in enumerate(state.candidates) if i not in used]
    free = [c for c in free if not c.short_only]
    return free if max_units is None else free[:max_units]


def _suggestion(
    unit: Candidate, d: DutyPoint, eta_s: float, km: float, alert_id: int | None, t_min: float
) -> StagingSuggestion:
    en = (
        f"stage {unit.unit_id} at {d.name_en or d.name} ({eta_s / 60:.0f} min away): "
        f"covers {km:.0f} high-risk road-km within {t_min:.0f} min"
    )
    zh = (
        f"{unit.unit_id}前置到{d.name}（约{eta_s / 60:.0f}分钟）："
        f"覆盖{t_min:.0f}分钟内高风险路段{km:.0f}公里"
    )
    return StagingSuggestion(unit.unit_id, d.id, d.name, eta_s, km, alert_id, en, zh)
