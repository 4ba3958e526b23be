"""Frozen copies of the pre-issue-14 travel-time matrix and optimized solver (do not edit).

The baselines of tests/benchmarks/bench_scale_dispatch.py: :func:`eta_matrix` runs, per vehicle
class, one scipy Dijkstra on the whole road graph per distinct unit node or per distinct task
node (whichever are fewer); :func:`solve_optimized` is the dense
:func:`scipy.optimize.linear_sum_assignment` on units x (tasks + idle columns). Today's
``recommend`` computed the whole matrix on every call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import dijkstra

from incidents.dispatch.solver import (
    HORIZON_S,
    INFEASIBLE,
    KEEP_THRESHOLD_S,
    Candidate,
    feasible_mask,
)
from incidents.dispatch.traveltime import SEARCH_LIMIT_S

__all__ = ["eta_matrix", "solve_optimized"]


def eta_matrix(
    graph: Any,
    unit_nodes: NDArray[np.int64],
    unit_classes: Sequence[str],
    task_nodes: NDArray[np.int64],
    conditions: Mapping[str, Any] | None = None,
    *,
    limit_s: float = SEARCH_LIMIT_S,
) -> NDArray[np.float64]:
    """Seconds from every unit (rows) to every task (columns): Dijkstra on the whole graph."""
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


def solve_optimized(
    eta: NDArray[np.float64],
    units: Sequence[Candidate],
    task_caps: Sequence[str],
    priority: NDArray[np.float64],
    *,
    keep_threshold_s: float = KEEP_THRESHOLD_S,
    horizon_s: float = HORIZON_S,
) -> list[tuple[int, int]]:
    """The optimized policy as it was: dense assignment on units x (tasks + idle)."""
    n_u, n_t = eta.shape
    if n_u == 0 or n_t == 0:
        return []
    ok = feasible_mask(eta, units, task_caps)
    current = np.array([u.current_task for u in units])
    p = np.maximum(np.asarray(priority, dtype=float), 1e-3)
    cost = np.where(ok, p[None, :] * (np.where(ok, eta, 0.0) - horizon_s), INFEASIBLE)
    for i, j in enumerate(current):
        if j >= 0:
            stay = eta[i, j] if np.isfinite(eta[i, j]) else 0.0
            cost[i, j] = p[j] * (stay - horizon_s) - p[j] * keep_threshold_s
    idle = np.zeros((n_u, n_u))
    idle[:] = INFEASIBLE
    np.fill_diagonal(idle, 0.0)
    for i, j in enumerate(current):
        if j >= 0:
            idle[i, i] = INFEASIBLE / 10
    full = np.hstack([cost, idle])
    rows, cols = linear_sum_assignment(full)
    pairs = []
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        if j >= n_t or full[i, j] >= INFEASIBLE / 10 or current[i] == j:
            continue
        pairs.append((i, j))
    return pairs
