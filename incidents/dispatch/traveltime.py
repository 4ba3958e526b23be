"""Travel times: condition-aware ETA matrices on the road graph, and caches of searches.

ETAs come from :class:`geo.network.RoadGraph` under the current segment conditions
(:func:`current_conditions`), searched on the graph with its degree-2 chains contracted
(:mod:`geo.corepaths`; the same times as a Dijkstra on the whole graph). For each vehicle class,
either one forward search per unit node of that class or one reverse search per task node,
whichever is fewer (:func:`eta_matrix`). :func:`capable_etas` keeps the units x tasks table of
the current conditions between calls (:meth:`RoadGraph.eta_table`), so a new call costs one
search per vehicle class that can serve it and a unit that moved one search.
:class:`TravelCache` keeps one reverse Dijkstra per (task, class), each bounded to the nearest
capable units.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.network import CORE_MIN_NODES
from incidents.store.models import SegmentCondition

__all__ = [
    "SEARCH_LIMIT_S",
    "TravelCache",
    "capability_mask",
    "capable_etas",
    "current_conditions",
    "eta_matrix",
    "node_index",
]

SEARCH_LIMIT_S = 12 * 3600.0


def node_index(graph: Any, lon: Sequence[float], lat: Sequence[float]) -> NDArray[np.int64]:
    """Nearest graph node of each (lon, lat) point (an empty array for no points)."""
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

    For each vehicle class, searches forward from the distinct nodes of that class's units or
    backward from the distinct task nodes, whichever needs fewer searches
    (:meth:`geo.network.RoadGraph.eta_between`, on the core graph); a graph under
    :data:`geo.network.CORE_MIN_NODES` nodes gets one vectorised Dijkstra per class on the
    whole graph.

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
    nodes = np.asarray(unit_nodes, dtype=np.int64)
    tasks = np.asarray(task_nodes, dtype=np.int64)
    if graph.n_nodes < CORE_MIN_NODES:  # small graph: Dijkstra on the whole of it
        return _eta_matrix_full(graph, nodes, classes, tasks, conditions, limit_s, out)
    for vc in sorted(set(classes.tolist())):
        rows = np.flatnonzero(classes == vc)
        out[rows] = graph.eta_between(nodes[rows], tasks, vc, conditions, limit_s=limit_s)
    return out


def _eta_matrix_full(
    graph: Any,
    unit_nodes: NDArray[np.int64],
    classes: NDArray[Any],
    task_nodes: NDArray[np.int64],
    conditions: Mapping[str, Any] | None,
    limit_s: float,
    out: NDArray[np.float64],
) -> NDArray[np.float64]:
    """:func:`eta_matrix` by one vectorised scipy Dijkstra per class on the whole graph."""
    t_uniq, t_inv = np.unique(task_nodes, return_inverse=True)
    for vc in sorted(set(classes.tolist())):
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


def capability_mask(
    unit_caps: Sequence[Iterable[str]], task_caps: Sequence[str]
) -> NDArray[np.bool_]:
    """Units x tasks: whether the unit has the capability the task needs."""
    kinds, col = np.unique(
        np.asarray(list(task_caps), dtype=object).astype(str), return_inverse=True
    )
    has = np.array([[k in set(c) for k in kinds.tolist()] for c in unit_caps], dtype=bool)
    return has.reshape(len(unit_caps), kinds.size)[:, col]


def capable_etas(
    graph: Any,
    unit_nodes: NDArray[np.int64],
    unit_classes: Sequence[str],
    unit_caps: Sequence[Iterable[str]],
    task_nodes: NDArray[np.int64],
    task_caps: Sequence[str],
    conditions: Mapping[str, Any] | None = None,
    *,
    limit_s: float = SEARCH_LIMIT_S,
    table_min_nodes: int = CORE_MIN_NODES,
) -> NDArray[np.float64]:
    """Seconds from every unit to every task it is capable of, kept between calls.

    The same times as :func:`eta_matrix` for the pairs where the unit has the task's
    capability (others ``inf`` unless known already), read from the table of the current
    conditions (:meth:`geo.network.RoadGraph.eta_table`): after a new call only its column is
    searched (one search per vehicle class that can serve it), after a unit moved only its row.
    A graph under `table_min_nodes` nodes (the demo region) gets the whole :func:`eta_matrix`
    (every pair) instead: cheaper there than keeping the table.

    Returns
    -------
    numpy.ndarray
        Read-only units x tasks seconds.
    """
    if len(unit_nodes) == 0 or len(task_nodes) == 0:
        return np.full((len(unit_nodes), len(task_nodes)), np.inf)
    if graph.n_nodes < table_min_nodes:
        # a small graph: the whole matrix costs less than keeping the table
        return eta_matrix(graph, unit_nodes, unit_classes, task_nodes, conditions, limit_s=limit_s)
    need = capability_mask(unit_caps, task_caps)
    table = graph.eta_table(conditions, limit_s)
    out: NDArray[np.float64] = table.etas(unit_nodes, unit_classes, task_nodes, need)
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


def current_conditions(session: Session) -> dict[str, list[str]]:
    """segment_id -> current conditions (rows with ``valid_to`` unset, other than clear)."""
    rows = session.execute(
        select(SegmentCondition.segment_id, SegmentCondition.condition).where(
            SegmentCondition.valid_to.is_(None),
            SegmentCondition.condition.not_in(("clear", "")),  # also leaves NULL out
        )
    ).tuples()
    out: dict[str, list[str]] = {}
    for sid, cond in rows:
        got = out.get(sid)
        if got is None:
            out[str(sid)] = [str(cond)]
        else:
            got.append(str(cond))
    return out
