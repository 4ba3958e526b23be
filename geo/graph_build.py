"""How :class:`geo.network.RoadGraph` is built from segments: cuts, nodes, edges, CSR layout.

Nodes sit at segment ends. Ends closer than ``merge_m`` are one node; where two *different*
roads cross, or one road's vertex lies within ``junction_m`` of another road, both are cut
there and the cuts joined (:func:`junction_cuts`). :func:`group_nodes` turns the cuts into
nodes, :func:`directed_edges` makes one edge per piece of segment between consecutive nodes
(both ways unless one-way) and :func:`csr_layout` lays the node pairs out for
:mod:`scipy.sparse`. Everything is metric (``METRIC_CRS``) and vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import shapely
from numpy.typing import NDArray
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

__all__ = ["CsrLayout", "Cuts", "Edges", "Nodes", "csr_layout", "directed_edges",
           "group_nodes", "junction_cuts"]


class Cuts:
    """Cut points on segments (segment index, metres along it) and pairs of cuts to join."""

    def __init__(self, n_seg: int, lengths: NDArray[np.float64]) -> None:
        self.seg: list[NDArray[np.int64]] = [np.arange(n_seg), np.arange(n_seg)]
        self.pos: list[NDArray[np.float64]] = [np.zeros(n_seg), lengths]
        self.links_a: list[NDArray[np.int64]] = []  # indices into the cut list, joined pairwise
        self.links_b: list[NDArray[np.int64]] = []
        self.n = 2 * n_seg

    def add(self, s: NDArray[np.int64], pos: NDArray[np.float64]) -> NDArray[np.int64]:
        """Add cuts at `pos` metres along segments `s`; return their indices."""
        self.seg.append(s.astype(np.int64))
        self.pos.append(pos.astype(np.float64))
        ids = np.arange(self.n, self.n + s.size)
        self.n += s.size
        return ids

    def link(self, a: NDArray[np.int64], b: NDArray[np.int64]) -> None:
        """Join cut ``a[i]`` with cut ``b[i]`` (one node)."""
        self.links_a.append(a)
        self.links_b.append(b)


def junction_cuts(
    geoms: NDArray[Any], road_id: NDArray[np.int64], cuts: Cuts, junction_m: float
) -> None:
    """Cut and join roads where a vertex of one lies near another, or where they cross."""
    tree = shapely.STRtree(geoms)
    # vertices of one road near another road
    coords, vidx = shapely.get_coordinates(geoms, return_index=True)
    vpts = shapely.points(coords)
    vi, sj = tree.query(vpts, predicate="dwithin", distance=junction_m)
    keep = road_id[vidx[vi]] != road_id[sj]
    vi, sj = vi[keep], sj[keep]
    if vi.size:
        si = vidx[vi]
        pos_i = shapely.line_locate_point(geoms[si], vpts[vi])
        pos_j = shapely.line_locate_point(geoms[sj], vpts[vi])
        cuts.link(cuts.add(si, pos_i), cuts.add(sj, pos_j))
    # roads crossing between vertices (touching ends are handled above)
    a, b = tree.query(geoms, predicate="crosses")
    keep = (a < b) & (road_id[a] != road_id[b])
    a, b = a[keep], b[keep]
    if a.size:
        inter = shapely.intersection(geoms[a], geoms[b])
        icoords, k = shapely.get_coordinates(inter, return_index=True)
        if k.size:
            ipts = shapely.points(icoords)
            ca = cuts.add(a[k], shapely.line_locate_point(geoms[a[k]], ipts))
            cb = cuts.add(b[k], shapely.line_locate_point(geoms[b[k]], ipts))
            cuts.link(ca, cb)


@dataclass
class Nodes:
    """The nodes made of the cuts: each cut group's segment, position and node; node x/y."""

    g_seg: NDArray[np.int64]
    g_pos: NDArray[np.float64]
    group_node: NDArray[np.int64]
    n_nodes: int
    node_xy: NDArray[np.float64]


def group_nodes(geoms: NDArray[Any], cuts: Cuts, merge_m: float) -> Nodes:
    """Group cuts into nodes (same segment within 1 m; then within `merge_m`, and links)."""
    all_seg = np.concatenate(cuts.seg)
    all_pos = np.concatenate(cuts.pos)
    # group cuts on the same segment within 1 m of each other
    order = np.lexsort((all_pos, all_seg))
    s_sorted = all_seg[order]
    p_sorted = all_pos[order]
    new_group = np.ones(order.size, dtype=bool)
    if order.size > 1:
        new_group[1:] = (s_sorted[1:] != s_sorted[:-1]) | (np.diff(p_sorted) > 1.0)
    group_sorted = np.cumsum(new_group) - 1
    cut_group = np.empty(order.size, dtype=np.int64)
    cut_group[order] = group_sorted
    n_groups = int(group_sorted[-1]) + 1 if order.size else 0
    g_first = np.flatnonzero(new_group)
    g_seg = s_sorted[g_first]
    g_pos = p_sorted[g_first]
    g_pts = shapely.line_interpolate_point(geoms[g_seg], g_pos)
    g_xy = shapely.get_coordinates(g_pts)

    # merge: coincident groups (within merge_m) and junction links
    pairs = [np.empty((0, 2), dtype=np.int64)]
    if n_groups:
        qp = cKDTree(g_xy).query_pairs(merge_m, output_type="ndarray")
        pairs.append(qp.astype(np.int64))
    if cuts.links_a:
        la = cut_group[np.concatenate(cuts.links_a)]
        lb = cut_group[np.concatenate(cuts.links_b)]
        pairs.append(np.column_stack([la, lb]))
    pp = np.concatenate(pairs)
    adj = sp.coo_matrix(
        (np.ones(len(pp)), (pp[:, 0], pp[:, 1])), shape=(n_groups, n_groups)
    ).tocsr()
    n_nodes, group_node = connected_components(adj, directed=False)
    cnt = np.bincount(group_node, minlength=n_nodes).astype(float)
    nx_ = np.bincount(group_node, weights=g_xy[:, 0], minlength=n_nodes) / np.maximum(cnt, 1)
    ny_ = np.bincount(group_node, weights=g_xy[:, 1], minlength=n_nodes) / np.maximum(cnt, 1)
    return Nodes(g_seg, g_pos, group_node, int(n_nodes), np.column_stack([nx_, ny_]))


@dataclass
class Edges:
    """Directed edges: end nodes, segment index and the metres along it where each runs."""

    edge_from: NDArray[np.int64]
    edge_to: NDArray[np.int64]
    edge_segment: NDArray[np.int64]
    p0: NDArray[np.float64]
    p1: NDArray[np.float64]


def directed_edges(nodes: Nodes, oneway: NDArray[np.bool_]) -> Edges:
    """Directed edges between consecutive groups along each segment (both ways unless one-way)."""
    g_seg, g_pos, group_node = nodes.g_seg, nodes.g_pos, nodes.group_node
    n_groups = g_seg.size
    same = g_seg[1:] == g_seg[:-1] if n_groups > 1 else np.array([], dtype=bool)
    k = np.flatnonzero(same)
    e_seg = g_seg[k]
    e_p0 = g_pos[k]
    e_p1 = g_pos[k + 1]
    e_from = group_node[k]
    e_to = group_node[k + 1]
    keep = (e_from != e_to) & (e_p1 > e_p0)
    e_seg, e_p0, e_p1, e_from, e_to = (x[keep] for x in (e_seg, e_p0, e_p1, e_from, e_to))
    back = ~oneway[e_seg]
    return Edges(
        np.concatenate([e_from, e_to[back]]).astype(np.int64),
        np.concatenate([e_to, e_from[back]]).astype(np.int64),
        np.concatenate([e_seg, e_seg[back]]).astype(np.int64),
        np.concatenate([e_p0, e_p1[back]]),
        np.concatenate([e_p1, e_p0[back]]),
    )


@dataclass
class CsrLayout:
    """CSR structure over unique (from, to) node pairs, and its transpose."""

    edge_order: NDArray[np.int64]
    pair_start: NDArray[np.int64]
    pair_to: NDArray[np.int64]
    indptr: NDArray[np.int32]
    indices: NDArray[np.int32]
    perm_t: NDArray[np.int64]
    indptr_t: NDArray[np.int32]
    indices_t: NDArray[np.int32]


def csr_layout(
    edge_from: NDArray[np.int64], edge_to: NDArray[np.int64], n_nodes: int
) -> CsrLayout:
    """CSR structure over unique (from, to) pairs; parallel edges reduced with min per call."""
    n = max(n_nodes, 1)
    key = edge_from * n + edge_to
    edge_order = np.argsort(key, kind="stable")
    ks = key[edge_order]
    first = np.ones(ks.size, dtype=bool)
    if ks.size > 1:
        first[1:] = ks[1:] != ks[:-1]
    pair_start = np.flatnonzero(first)
    pair_key = ks[pair_start]
    pair_from = pair_key // n
    pair_to = pair_key % n
    # transpose: pairs sorted by (to, from)
    perm_t = np.lexsort((pair_from, pair_to))
    t_sorted = pair_to[perm_t]
    return CsrLayout(
        edge_order=edge_order,
        pair_start=pair_start,
        pair_to=pair_to,
        indptr=np.searchsorted(pair_from, np.arange(n_nodes + 1)).astype(np.int32),
        indices=pair_to.astype(np.int32),
        perm_t=perm_t,
        indptr_t=np.searchsorted(t_sorted, np.arange(n_nodes + 1)).astype(np.int32),
        indices_t=pair_from[perm_t].astype(np.int32),
    )
