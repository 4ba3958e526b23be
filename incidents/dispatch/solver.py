"""The assignment problem, pure on arrays: eligibility, the two policies, the runner-up.

``optimized``
    Every candidate unit (free units, plus units on a confirmed or en-route assignment, which
    may be moved when that pays) against every open task, then
    :func:`scipy.optimize.linear_sum_assignment` on the priority-weighted cost::

        cost(u, t) = p_t * (eta(u, t) - HORIZON_S)        (HORIZON_S = 4 h)

    so that serving a task always beats leaving it (an unserved task counts as waiting the
    horizon), and a high-priority task's minutes weigh more. A unit already confirmed or en
    route keeps its task unless moving it gains more than ``keep_threshold_s`` of that task's
    priority-weighted time (the current pair gets a bonus ``p_current * keep_threshold_s``).
    Tasks that need several units are several task rows, each a slot.
``closest``
    The dispatcher without the tool: tasks first come, first served (by creation time), each
    gets the nearest free capable unit; units already out are never moved.

Eligibility (:func:`feasible_mask`): the unit has the task's capability, the task is
reachable, and a unit over its crew-hour limit or low on fuel only takes short runs
(ETA <= ``LONG_RUN_S``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from incidents.errors import UnknownPolicyError

__all__ = [
    "HORIZON_S",
    "INFEASIBLE",
    "KEEP_THRESHOLD_S",
    "LONG_RUN_S",
    "POLICIES",
    "Candidate",
    "check_policy",
    "feasible_mask",
    "runner_up",
    "solve",
]

POLICIES = ("optimized", "closest")
HORIZON_S = 4 * 3600.0
LONG_RUN_S = 45 * 60.0
KEEP_THRESHOLD_S = 15 * 60.0
INFEASIBLE = 1e15
SPARSE_MIN_PAIRS = 250_000  # units x tasks from which the optimized policy solves sparse


def check_policy(policy: str) -> None:
    """Raise :class:`~incidents.errors.UnknownPolicyError` unless `policy` is in :data:`POLICIES`.

    Raises
    ------
    UnknownPolicyError
        `policy` is not a dispatch policy (a ``ValueError`` too).
    """
    if policy not in POLICIES:
        msg = f"unknown dispatch policy {policy!r}; expected one of {', '.join(POLICIES)}"
        raise UnknownPolicyError(msg)


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
    check_policy(policy)
    n_u, n_t = eta.shape
    if n_u == 0 or n_t == 0:
        return []
    ok = feasible_mask(eta, units, task_caps, long_run_s)
    current = np.array([u.current_task for u in units])
    if policy == "closest":
        return _solve_closest(eta, ok, current, created)
    p = np.maximum(np.asarray(priority, dtype=float), 1e-3)
    costs = _Costs(eta, ok, current, p, keep_threshold_s, horizon_s)
    if n_u * n_t >= SPARSE_MIN_PAIRS:
        return _solve_optimized_sparse(costs)
    return _solve_optimized(costs)


@dataclass(frozen=True)
class _Costs:
    """The optimized policy's inputs: ETAs, allowed pairs, current tasks, priorities (>0)."""

    eta: NDArray[np.float64]
    ok: NDArray[np.bool_]
    current: NDArray[np.int64]
    p: NDArray[np.float64]
    keep_threshold_s: float
    horizon_s: float


def _solve_closest(
    eta: NDArray[np.float64],
    ok: NDArray[np.bool_],
    current: NDArray[np.int64],
    created: NDArray[np.float64] | None,
) -> list[tuple[int, int]]:
    n_t = eta.shape[1]
    taken = set(current[current >= 0].tolist())
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


def _solve_optimized(costs: _Costs) -> list[tuple[int, int]]:
    """Return the optimized policy's moves: a dense assignment with a "stay idle" column each."""
    eta, ok, current, p = costs.eta, costs.ok, costs.current, costs.p
    keep_threshold_s, horizon_s = costs.keep_threshold_s, costs.horizon_s
    n_u, n_t = eta.shape
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


def _solve_optimized_sparse(costs: _Costs) -> list[tuple[int, int]]:
    """Return the optimized policy on the pairs that can be in an optimum, as a sparse matching.

    The same problem as the dense one: a free unit's own idle column costs 0, so a pair of a
    free unit that costs more (ETA at or past the horizon) is never in an optimum and is left
    out; every pair of a unit already out is kept, and its current pair gets the bonus.
    :func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching` (LAPJVsp) then solves on
    the remaining pairs, far fewer than units x tasks in a region-wide storm. Ties may be
    broken otherwise than by the dense solver; the total cost is the same.
    """
    eta, ok, current, p, horizon_s = costs.eta, costs.ok, costs.current, costs.p, costs.horizon_s
    n_u, n_t = eta.shape
    busy = current >= 0
    cand = ok & (eta < horizon_s)
    cand[busy] = ok[busy]
    bi = np.flatnonzero(busy)
    bj = current[bi]
    cand[bi, bj] = False
    i, j = np.nonzero(cand)
    w = p[j] * (eta[i, j] - horizon_s)
    stay_eta = eta[bi, bj]
    stay = np.where(np.isfinite(stay_eta), stay_eta, 0.0)
    w_stay = p[bj] * (stay - horizon_s) - p[bj] * costs.keep_threshold_s
    idle = np.where(busy, INFEASIBLE / 10, 0.0)
    rows = np.concatenate([i, bi, np.arange(n_u)])
    cols = np.concatenate([j, bj, n_t + np.arange(n_u)])
    cost = np.concatenate([w, w_stay, idle])
    shifted = cost - cost.min() + 1.0  # strictly positive: every listed pair is an edge
    graph = sparse.csr_matrix((shifted, (rows, cols)), shape=(n_u, n_t + n_u))
    r, c = min_weight_full_bipartite_matching(graph)
    # every listed pair on a task column is allowed (finite cost); idle columns are no pair
    keep = (c < n_t) & (current[r] != c)
    return list(zip(r[keep].tolist(), c[keep].tolist(), strict=True))


def runner_up(
    eta: NDArray[np.float64], ok: NDArray[np.bool_], j: int, chosen: int
) -> tuple[int, float] | None:
    """Return the best eligible unit for task `j` other than `chosen` (row, seconds)."""
    col = np.where(ok[:, j], eta[:, j], np.inf)
    col[chosen] = np.inf
    if not np.isfinite(col).any():
        return None
    i = int(np.argmin(col))
    return i, float(col[i])
