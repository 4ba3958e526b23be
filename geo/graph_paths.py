"""Fastest paths on :class:`geo.network.RoadGraph` turned into edges, lines and segment ids.

A Dijkstra search gives predecessors over node *pairs*; :func:`pair_path_edges` picks, for each
pair along the path, the fastest of its parallel edges, :func:`edges_xy` joins the pieces of
segment those edges run along into one metric line and :func:`edge_segment_ids` lists the
segments in travel order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.ops import substring

__all__ = ["edge_segment_ids", "edges_xy", "pair_path_edges", "path_nodes"]


def path_nodes(pred: NDArray[Any], a: int, b: int) -> list[int]:
    """Return the nodes from `a` to `b` along a Dijkstra predecessor array (b reached)."""
    path = [b]
    while path[-1] != a:
        path.append(int(pred[path[-1]]))
    path.reverse()
    return path


def pair_path_edges(
    path: list[int],
    indptr: NDArray[np.int32],
    indices: NDArray[np.int32],
    pair_start: NDArray[np.int64],
    edge_order: NDArray[np.int64],
    times: NDArray[np.float64],
) -> list[int]:
    """Return the fastest edge between each two consecutive nodes of `path` (CSR pair layout)."""
    edges_out: list[int] = []
    n_pairs = pair_start.size
    for u, v in zip(path, path[1:], strict=False):
        lo, hi = indptr[u], indptr[u + 1]
        p = lo + int(np.searchsorted(indices[lo:hi], v))
        e0 = pair_start[p]
        e1 = pair_start[p + 1] if p + 1 < n_pairs else edge_order.size
        cand = edge_order[e0:e1]
        edges_out.append(int(cand[np.argmin(times[cand])]))
    return edges_out


def edges_xy(
    geoms: NDArray[Any],
    edge_segment: NDArray[np.int64],
    p0: NDArray[np.float64],
    p1: NDArray[np.float64],
    edges: list[int],
) -> list[NDArray[np.float64]]:
    """Return the metric vertices of each edge's piece of segment, shared ends dropped once."""
    coords: list[NDArray[np.float64]] = []
    for e in edges:
        xy = shapely.get_coordinates(substring(geoms[edge_segment[e]], p0[e], p1[e]))
        if coords and len(xy) and np.allclose(coords[-1][-1], xy[0]):
            xy = xy[1:]
        if len(xy):
            coords.append(xy)
    return coords


def edge_segment_ids(
    segment_ids: NDArray[Any], edge_segment: NDArray[np.int64], edges: list[int]
) -> list[str]:
    """Return the segment ids the edges run along, in order (consecutive repeats dropped)."""
    out: list[str] = []
    for e in edges:
        sid = str(segment_ids[edge_segment[e]])
        if not out or out[-1] != sid:
            out.append(sid)
    return out
