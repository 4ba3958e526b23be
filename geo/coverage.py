"""Coverage: nearest-free-unit travel time for every road segment, and the covered share.

"Share of hazardous road-km within T minutes of a free unit" (the service-radius idea of the
county police offices: 3 km in town, 10 km on the plain, 20 km in the mountains, here in
minutes of condition-aware driving). One multi-source Dijkstra per vehicle class
(:meth:`geo.network.RoadGraph.nearest_source`) gives every node its nearest free unit; a segment
is reached when a unit reaches the start node of any of its edges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geo.network import RoadGraph

__all__ = ["coverage_share", "segment_response_times"]


def segment_response_times(
    graph: RoadGraph,
    lon: ArrayLike,
    lat: ArrayLike,
    vehicle_classes: Sequence[str],
    conditions: Mapping[str, str | Iterable[str]] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Return, per segment of `graph`, the travel time of the nearest source and which it is.

    Parameters
    ----------
    graph
        The road graph (its ``segments`` give the positional order of the result).
    lon, lat
        WGS84 positions of the sources (free units).
    vehicle_classes
        Vehicle class of each source: each class drives at its own condition-aware speeds.
    conditions
        segment_id -> condition, as for :meth:`RoadGraph.edge_times`.

    Returns
    -------
    tuple
        ``(time_s, source_index)`` over segments: seconds from the nearest source to the segment
        (``inf`` when unreachable) and that source's position in the inputs (-1 when none).
    """
    n_seg = len(graph.segments)
    best_t = np.full(n_seg, np.inf)
    best_i = np.full(n_seg, -1, dtype=np.int64)
    lon_a = np.atleast_1d(np.asarray(lon, dtype=float))
    lat_a = np.atleast_1d(np.asarray(lat, dtype=float))
    classes = np.asarray(list(vehicle_classes), dtype=object)
    if lon_a.size == 0 or graph.n_nodes == 0:
        return best_t, best_i
    nodes = graph.nearest_nodes(lon_a, lat_a)
    # edges grouped by segment (stable: within a segment, in edge order), once per call
    by_seg = np.argsort(graph.edge_segment, kind="stable")
    seg_sorted = graph.edge_segment[by_seg]
    starts = (
        np.flatnonzero(np.r_[True, seg_sorted[1:] != seg_sorted[:-1]]) if by_seg.size else by_seg
    )
    from_sorted = graph.edge_from[by_seg]
    for vc in sorted(set(classes.tolist())):
        members = np.flatnonzero(classes == vc)
        t_node, src = graph.nearest_source(nodes[members], str(vc), conditions)
        # a segment is reached at the earliest start node of its edges
        seg_t = np.full(n_seg, np.inf)
        seg_src = np.full(n_seg, -1, dtype=np.int64)
        if by_seg.size:
            edge_t = t_node[from_sorted]
            low = np.minimum.reduceat(edge_t, starts)
            seg_t[seg_sorted[starts]] = low
            # which source reached it: the first edge (in edge order) achieving the minimum
            hit = np.flatnonzero(edge_t == np.repeat(low, np.diff(np.r_[starts, edge_t.size])))
            grp = np.searchsorted(starts, hit, side="right") - 1
            keep = np.r_[True, grp[1:] != grp[:-1]] if hit.size else hit.astype(bool)
            chosen = hit[keep]
            s_idx = src[from_sorted[chosen]]
            seg_src[seg_sorted[chosen]] = np.where(s_idx >= 0, members[np.maximum(s_idx, 0)], -1)
        better = seg_t < best_t
        best_t = np.where(better, seg_t, best_t)
        best_i = np.where(better, seg_src, best_i)
    return best_t, best_i


def coverage_share(
    length_m: ArrayLike, hazardous: ArrayLike, time_s: ArrayLike, minutes: float
) -> dict[str, Any]:
    """Return the share of hazardous road length reachable within `minutes`.

    Parameters
    ----------
    length_m
        Length of each segment.
    hazardous
        Boolean per segment.
    time_s
        Nearest-free-unit travel time per segment (seconds).
    minutes
        The threshold T.

    Returns
    -------
    dict
        ``share`` (1.0 when nothing is hazardous: nothing is left uncovered), ``covered_km``,
        ``hazardous_km``, ``minutes``.
    """
    length = np.asarray(length_m, dtype=float)
    hz = np.asarray(hazardous, dtype=bool)
    t = np.asarray(time_s, dtype=float)
    total = float(length[hz].sum())
    covered = float(length[hz & (t <= minutes * 60.0)].sum())
    share = covered / total if total > 0 else 1.0
    return {
        "share": share,
        "covered_km": covered / 1000.0,
        "hazardous_km": total / 1000.0,
        "minutes": float(minutes),
    }
