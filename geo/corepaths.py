"""Exact many-to-many travel times on the road graph with its degree-2 chains contracted.

Road graphs cut at every kilometre post are mostly chains: a node with exactly two neighbours
only passes traffic along its road. :class:`CoreGraph` keeps the other nodes (junctions, dead
ends; one node of a ring without junctions) as the *core* and replaces each chain between two
core nodes by one edge per direction whose time is the sum along the chain (``inf`` when a
piece of it is closed or one-way against it). A chain node reaches the core only through the
two ends of its chain, so

    eta(x, t) = min over exits (a, c_xa) of x and entries (b, c_bt) of t of c_xa + D(a, b) + c_bt

together with the direct way along a chain when both lie on the same one, where ``D`` is the
shortest time on the core graph. That equals a Dijkstra on the whole graph (up to the order of
the floating-point sums), with searches on a graph several times smaller.

Each search starts from a *virtual* node seeded with the two exits (or entries) of its source
node, so one :func:`scipy.sparse.csgraph.dijkstra` call searches a batch of sources and one
search serves a chain node (not one per chain end).

:class:`CoreGraph` is topology only (built once per graph); :class:`CoreWeights` holds the
times of one vehicle class under one set of conditions, from the graph's pair times.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

__all__ = ["CoreGraph", "CoreWeights", "EtaTable"]

BATCH = 64  # virtual source nodes per dijkstra call


def _find_chains(
    n: int, pair_from: NDArray[np.int64], pair_to: NDArray[np.int64]
) -> tuple[list[bool], list[int], list[int], list[list[int]]]:
    """Split the undirected graph into core nodes and the degree-2 chains between them.

    Returns
    -------
    tuple
        ``(is_core, chain_of, pos_of, chains)``: per node whether it is core, its chain (-1 for
        a core node) and its position in it; each chain as its node list, core end to core end.
    """
    a = np.minimum(pair_from, pair_to)
    b = np.maximum(pair_from, pair_to)
    und = np.unique(a * max(n, 1) + b)
    ua, ub = und // max(n, 1), und % max(n, 1)
    rows = np.concatenate([ua, ub])
    cols = np.concatenate([ub, ua])
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    ptr = np.searchsorted(rows, np.arange(n + 1))
    deg = np.diff(ptr)
    is_core = (deg != 2).tolist()
    nbr = cols.tolist()
    ptr_l = ptr.tolist()
    chain_of = [-1] * n
    pos_of = [0] * n
    chains: list[list[int]] = []

    def walk(start: int, first: int) -> list[int]:
        seq = [start]
        prev, cur = start, first
        while not is_core[cur]:
            seq.append(cur)
            p = ptr_l[cur]
            nxt = nbr[p] if nbr[p] != prev else nbr[p + 1]
            prev, cur = cur, nxt
        seq.append(cur)
        return seq

    def from_core(c: int) -> None:
        for k in range(ptr_l[c], ptr_l[c + 1]):
            m = nbr[k]
            if is_core[m]:
                if c < m:
                    chains.append([c, m])
            elif chain_of[m] < 0:
                seq = walk(c, m)
                cid = len(chains)
                for i in range(1, len(seq) - 1):
                    chain_of[seq[i]] = cid
                    pos_of[seq[i]] = i
                chains.append(seq)

    for c in range(n):
        if is_core[c]:
            from_core(c)
    for x in range(n):  # rings without a junction: one of their nodes joins the core
        if not is_core[x] and chain_of[x] < 0:
            is_core[x] = True
            from_core(x)
    return is_core, chain_of, pos_of, chains


class CoreGraph:
    """Chains of degree-2 nodes and the core nodes between them (topology only).

    Parameters
    ----------
    n_nodes
        Nodes of the road graph.
    pair_from, pair_to
        Its directed node pairs (one entry per pair, sorted by ``(from, to)``).
    """

    def __init__(
        self, n_nodes: int, pair_from: NDArray[np.int64], pair_to: NDArray[np.int64]
    ) -> None:
        self.n_nodes = n = int(n_nodes)
        self.n_pairs = int(pair_from.size)
        self._pair_key = pair_from.astype(np.int64) * max(n, 1) + pair_to.astype(np.int64)
        is_core, chain_of, pos_of, chains = _find_chains(n, pair_from, pair_to)
        core_mask = np.asarray(is_core, dtype=bool) if n else np.zeros(0, dtype=bool)
        self.core_nodes = np.flatnonzero(core_mask)
        self.n_core = int(self.core_nodes.size)
        self.core_of = np.full(n, -1, dtype=np.int64)
        self.core_of[self.core_nodes] = np.arange(self.n_core)
        self.chain_of = np.asarray(chain_of, dtype=np.int64)
        self.pos_of = np.asarray(pos_of, dtype=np.int64)
        self._chain_steps(chains)
        self._core_edges(len(chains))

    def _chain_steps(self, chains: list[list[int]]) -> None:
        """Chain ends, pointers and the pair index of every step along every chain."""
        lens = np.array([len(s) for s in chains], dtype=np.int64)
        flat = (
            np.fromiter((v for s in chains for v in s), dtype=np.int64, count=int(lens.sum()))
            if chains
            else np.zeros(0, dtype=np.int64)
        )
        self.chain_ptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        self.step_ptr = np.concatenate([[0], np.cumsum(lens - 1)]).astype(np.int64)
        first = self.chain_ptr[:-1]
        last = self.chain_ptr[1:] - 1
        self.chain_a = flat[first] if chains else np.zeros(0, dtype=np.int64)
        self.chain_b = flat[last] if chains else np.zeros(0, dtype=np.int64)
        # steps p_j -> p_j+1 along every chain, as pair indices (n_pairs = no such pair)
        is_step = np.ones(flat.size, dtype=bool)
        is_step[last] = False
        u = flat[is_step]
        v = flat[np.flatnonzero(is_step) + 1]
        self.step_fwd = self._pair_index(u, v)
        self.step_bwd = self._pair_index(v, u)

    def _core_edges(self, n_chains: int) -> None:
        """Core edges: each chain once per direction, parallel ones reduced with min (CSR)."""
        ca = self.core_of[self.chain_a]
        cb = self.core_of[self.chain_b]
        e_from = np.concatenate([ca, cb])
        e_to = np.concatenate([cb, ca])
        e_chain = np.concatenate([np.arange(n_chains), np.arange(n_chains)])
        e_dir = np.concatenate([np.zeros(n_chains, bool), np.ones(n_chains, bool)])
        keep = e_from != e_to
        e_from, e_to, e_chain, e_dir = e_from[keep], e_to[keep], e_chain[keep], e_dir[keep]
        nc = max(self.n_core, 1)
        key = e_from * nc + e_to
        self._edge_order = np.argsort(key, kind="stable")
        ks = key[self._edge_order]
        new = np.ones(ks.size, dtype=bool)
        if ks.size > 1:
            new[1:] = ks[1:] != ks[:-1]
        self._edge_start = np.flatnonzero(new)
        self._edge_chain = e_chain
        self._edge_dir = e_dir
        ukey = ks[self._edge_start]
        uf, ut = ukey // nc, ukey % nc
        self.indptr = np.searchsorted(uf, np.arange(self.n_core + 1)).astype(np.int64)
        self.indices = ut.astype(np.int64)
        self._perm_t = np.lexsort((uf, ut))
        self.indptr_t = np.searchsorted(ut[self._perm_t], np.arange(self.n_core + 1)).astype(
            np.int64
        )
        self.indices_t = uf[self._perm_t].astype(np.int64)

    def _pair_index(self, u: NDArray[np.int64], v: NDArray[np.int64]) -> NDArray[np.int64]:
        key = u * max(self.n_nodes, 1) + v
        i = np.searchsorted(self._pair_key, key)
        ic = np.minimum(i, max(self.n_pairs - 1, 0))
        found = (i < self.n_pairs) & (self._pair_key[ic] == key) if self.n_pairs else i < 0
        return np.where(found, i, self.n_pairs).astype(np.int64)

    def weights(self, pair_times: NDArray[np.float64]) -> CoreWeights:
        """Return the times of one vehicle class under one set of conditions (graph pair times)."""
        return CoreWeights(self, pair_times)


def _range_sums(
    values: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Prefix sums of the finite values and prefix counts of the infinite ones."""
    inf = ~np.isfinite(values)
    p = np.concatenate([[0.0], np.cumsum(np.where(inf, 0.0, values))])
    k = np.concatenate([[0], np.cumsum(inf)]).astype(np.int64)
    return p, k


def _between(
    p: NDArray[np.float64], k: NDArray[np.int64], lo: NDArray[np.int64], hi: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Sum of the values in ``[lo, hi)`` (``inf`` when one of them is)."""
    return np.where(k[hi] == k[lo], p[hi] - p[lo], np.inf)


class CoreWeights:
    """Core-graph times, and chain nodes' exits and entries, for one set of pair times.

    Parameters
    ----------
    core
        The graph's :class:`CoreGraph`.
    pair_times
        Seconds per directed node pair, in the graph's pair order (``inf`` closed).
    """

    def __init__(self, core: CoreGraph, pair_times: NDArray[np.float64]) -> None:
        self.core = core
        ext = np.append(np.asarray(pair_times, dtype=np.float64), np.inf)
        fw = ext[core.step_fwd]
        bw = ext[core.step_bwd]
        self._pf, self._kf = _range_sums(fw)
        self._pb, self._kb = _range_sums(bw)
        s0 = core.step_ptr[:-1]
        s1 = core.step_ptr[1:]
        along = np.concatenate(
            [_between(self._pf, self._kf, s0, s1), _between(self._pb, self._kb, s0, s1)]
        )
        n_ch = s0.size
        chain_w = along[core._edge_chain + np.where(core._edge_dir, n_ch, 0)]
        if chain_w.size:
            data = np.minimum.reduceat(chain_w[core._edge_order], core._edge_start)
        else:
            data = np.zeros(0)
        self.data = data
        self.data_t = data[core._perm_t]
        # exits (to the chain ends) and entries (from them) of every node
        n = core.n_nodes
        ch = core.chain_of
        inner = ch >= 0
        c = np.where(inner, ch, 0)
        pos = core.pos_of
        st = core.step_ptr[c] if n_ch else np.zeros(n, dtype=np.int64)
        en = core.step_ptr[c + 1] if n_ch else np.zeros(n, dtype=np.int64)
        mid = st + pos
        ca = core.core_of[core.chain_a[c]] if n_ch else np.zeros(n, dtype=np.int64)
        cb = core.core_of[core.chain_b[c]] if n_ch else np.zeros(n, dtype=np.int64)
        own = core.core_of
        self.node_a = np.where(inner, ca, own)
        self.node_b = np.where(inner, cb, 0)
        self.exit_a = np.where(inner, _between(self._pb, self._kb, st, mid), 0.0)
        self.exit_b = np.where(inner, _between(self._pf, self._kf, mid, en), np.inf)
        self.entry_a = np.where(inner, _between(self._pf, self._kf, st, mid), 0.0)
        self.entry_b = np.where(inner, _between(self._pb, self._kb, mid, en), np.inf)

    def _search(
        self, nodes: NDArray[np.int64], forward: bool, limit: float
    ) -> Iterator[tuple[int, NDArray[np.float64]]]:
        """Rows of core times from (forward) or to (reverse) each node, a batch at a time.

        Yields ``(offset, rows)``: the rows of ``nodes[offset:offset + len(rows)]``.
        """
        core = self.core
        nc = core.n_core
        if forward:
            indptr, indices, data = core.indptr, core.indices, self.data
            cost_a, cost_b = self.exit_a, self.exit_b
        else:
            indptr, indices, data = core.indptr_t, core.indices_t, self.data_t
            cost_a, cost_b = self.entry_a, self.entry_b
        for lo in range(0, nodes.size, BATCH):
            chunk = nodes[lo : lo + BATCH]
            nv = chunk.size
            v_idx = np.column_stack([self.node_a[chunk], self.node_b[chunk]]).ravel()
            v_dat = np.column_stack([cost_a[chunk], cost_b[chunk]]).ravel()
            m = sp.csr_matrix(
                (
                    np.concatenate([data, v_dat]),
                    np.concatenate([indices, v_idx]),
                    np.concatenate([indptr, indptr[-1] + 2 * np.arange(1, nv + 1)]),
                ),
                shape=(nc + nv, nc + nv),
            )
            d = dijkstra(m, directed=True, indices=np.arange(nc, nc + nv), limit=limit)
            yield lo, np.atleast_2d(d)[:, :nc]

    def _same_chain(
        self, src: NDArray[np.int64], dst: NDArray[np.int64]
    ) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
        """Direct times along a chain for the (src, dst) pairs on the same chain."""
        core = self.core
        cs = core.chain_of[src]
        cd = core.chain_of[dst]
        i, j = np.nonzero((cs[:, None] == cd[None, :]) & (cs[:, None] >= 0))
        if i.size == 0:
            return i, j, np.zeros(0)
        st = core.step_ptr[cs[i]]
        ps = core.pos_of[src[i]]
        pd = core.pos_of[dst[j]]
        lo = st + np.minimum(ps, pd)
        hi = st + np.maximum(ps, pd)
        fwd = _between(self._pf, self._kf, lo, hi)
        bwd = _between(self._pb, self._kb, lo, hi)
        return i, j, np.where(ps <= pd, fwd, bwd)

    def many_to_many(
        self, src: NDArray[np.int64], dst: NDArray[np.int64], limit: float = np.inf
    ) -> NDArray[np.float64]:
        """Seconds from each of `src` (rows) to each of `dst` (columns); ``inf`` past `limit`.

        Searches from the distinct sources or to the distinct destinations, whichever are
        fewer.
        """
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        out = np.full((src.size, dst.size), np.inf)
        if src.size == 0 or dst.size == 0 or self.core.n_core == 0:
            return out
        us, s_inv = np.unique(src, return_inverse=True)
        ud, d_inv = np.unique(dst, return_inverse=True)
        t = np.empty((us.size, ud.size))
        if us.size <= ud.size:
            for lo, r in self._search(us, True, limit):
                t[lo : lo + len(r)] = np.minimum(
                    r[:, self.node_a[ud]] + self.entry_a[ud][None, :],
                    r[:, self.node_b[ud]] + self.entry_b[ud][None, :],
                )
        else:
            for lo, r in self._search(ud, False, limit):
                t[:, lo : lo + len(r)] = np.minimum(
                    r[:, self.node_a[us]] + self.exit_a[us][None, :],
                    r[:, self.node_b[us]] + self.exit_b[us][None, :],
                ).T
        i, j, direct = self._same_chain(us, ud)
        if i.size:
            t[i, j] = np.minimum(t[i, j], direct)
        t[t > limit] = np.inf
        out[:] = t[s_inv][:, d_inv]
        return out


def _group_any(
    a: NDArray[np.bool_], row_group: NDArray[np.intp], col_group: NDArray[np.intp]
) -> NDArray[np.bool_]:
    """OR of the cells of `a` per (row group, column group); groups are 0..k-1, none empty."""
    out = a
    for axis, grp in ((0, row_group), (1, col_group)):
        order = np.argsort(grp, kind="stable")
        g = grp[order]
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        if starts.size != g.size:
            out = np.logical_or.reduceat(np.take(out, order, axis=axis), starts, axis=axis)
        else:
            out = np.take(out, order, axis=axis)
    return out


def _class_codes(classes: list[str]) -> NDArray[np.int64]:
    _, code = np.unique(np.asarray(classes, dtype=object).astype(str), return_inverse=True)
    return np.asarray(code, dtype=np.int64)


def _fold(out: NDArray[np.float64], known: NDArray[np.bool_], keys: NDArray[np.int64]) -> None:
    """Share what is known between columns with the same key (the same task node)."""
    uniq, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
    if uniq.size == keys.size:
        return
    for g in np.flatnonzero(counts > 1).tolist():
        cols = np.flatnonzero(inv == g)
        k = known[:, cols]
        have: NDArray[np.bool_] = np.asarray(k.any(axis=1), dtype=bool)
        if not (have & ~k.all(axis=1)).any():
            continue
        first = cols[np.argmax(k, axis=1)]
        value = out[np.arange(out.shape[0]), first]
        out[:, cols] = np.where(have[:, None], value[:, None], out[:, cols])
        known[:, cols] = have[:, None]


class EtaTable:
    """Units x tasks travel times kept between calls, under one set of conditions.

    The table holds the matrix of the last call. Units are keyed by (node, vehicle class), tasks
    by node: a call that brings a new task costs one search per vehicle class that needs it, a
    unit that moved (a new key) one search, and the rest is copied from the last matrix (a
    plain slice copy when the units are the same and the old tasks come first, as when a call
    is appended). Exact: every entry is what :meth:`geo.network.RoadGraph.eta_between` gives
    (``inf`` past `limit_s`). Build a new table when the conditions change
    (:meth:`geo.network.RoadGraph.eta_table` does).

    Parameters
    ----------
    graph
        A :class:`geo.network.RoadGraph`.
    conditions
        segment_id -> condition (or several).
    limit_s
        Searches stop at this travel time.
    """

    def __init__(self, graph: Any, conditions: Mapping[str, Any] | None, limit_s: float) -> None:
        self.graph = graph
        self.conditions = dict(conditions) if conditions else None
        self.limit_s = float(limit_s)
        self._lock = threading.Lock()
        self._u = np.zeros(0, dtype=np.int64)
        self._cls: list[str] = []
        self._t = np.zeros(0, dtype=np.int64)
        self._m = np.full((0, 0), np.inf)  # the last call's matrix
        self._known = np.zeros((0, 0), dtype=bool)  # which of its cells were searched
        self.searches = 0  # single-source searches run so far

    def _carry(
        self, u: NDArray[np.int64], classes: list[str], t: NDArray[np.int64]
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Return the new matrix and which of its cells are known, from the last call's."""
        k = self._t.size
        if classes == self._cls and np.array_equal(u, self._u):
            if t.size >= k and np.array_equal(t[:k], self._t):
                out = np.empty((u.size, t.size))
                known = np.empty((u.size, t.size), dtype=bool)
                out[:, :k] = self._m
                known[:, :k] = self._known
                out[:, k:] = np.inf
                known[:, k:] = False
                if t.size > k:
                    _, first = np.unique(self._t, return_index=True)
                    pos = dict(zip(self._t[first].tolist(), first.tolist(), strict=True))
                    new = [(j, pos[n]) for j, n in enumerate(t[k:].tolist(), k) if n in pos]
                    if new:
                        jj, oo = (np.array(x) for x in zip(*new, strict=True))
                        out[:, jj] = self._m[:, oo]
                        known[:, jj] = self._known[:, oo]
                return out, known
            out = np.full((u.size, t.size), np.inf)
            known = np.zeros((u.size, t.size), dtype=bool)
            r_new = np.arange(u.size)
            r_old = r_new
        else:
            out = np.full((u.size, t.size), np.inf)
            known = np.zeros((u.size, t.size), dtype=bool)
            old_r = {key: i for i, key in enumerate(zip(self._u.tolist(), self._cls, strict=True))}
            pairs = [
                (i, old_r[key])
                for i, key in enumerate(zip(u.tolist(), classes, strict=True))
                if key in old_r
            ]
            if not pairs:
                return out, known
            r_new, r_old = (np.array(x) for x in zip(*pairs, strict=True))
        old_c = {n: j for j, n in reversed(list(enumerate(self._t.tolist())))}
        cpairs = [(j, old_c[n]) for j, n in enumerate(t.tolist()) if n in old_c]
        if cpairs:
            c_new, c_old = (np.array(x) for x in zip(*cpairs, strict=True))
            out[np.ix_(r_new, c_new)] = self._m[np.ix_(r_old, c_old)]
            known[np.ix_(r_new, c_new)] = self._known[np.ix_(r_old, c_old)]
        return out, known

    def _fill(
        self,
        out: NDArray[np.float64],
        known: NDArray[np.bool_],
        u: NDArray[np.int64],
        t: NDArray[np.int64],
        vc: str,
        rows: NDArray[np.intp],
        cols: NDArray[np.intp],
        todo: NDArray[np.bool_],
    ) -> None:
        """Search the `todo` cells of the block rows x cols (one class) with few searches."""
        r_any = np.flatnonzero(todo.any(axis=1))
        c_any = np.flatnonzero(todo.any(axis=0))
        new_r = np.flatnonzero(todo[:, c_any].all(axis=1)) if c_any.size else r_any[:0]
        rest = todo.copy()
        rest[new_r] = False
        rest_c = np.flatnonzero(rest.any(axis=0))
        n_src = np.unique(u[rows[r_any]]).size
        n_dst = np.unique(t[cols[c_any]]).size
        mixed = np.unique(u[rows[new_r]]).size + np.unique(t[cols[rest_c]]).size
        blocks = [(r_any, c_any)]
        if mixed < min(n_src, n_dst):
            blocks = [(new_r, c_any), (np.flatnonzero(rest.any(axis=1)), rest_c)]
        for br, bc in blocks:
            if br.size == 0 or bc.size == 0:
                continue
            rr, cc = rows[br], cols[bc]
            src, dst = u[rr], t[cc]
            self.searches += min(np.unique(src).size, np.unique(dst).size)
            out[np.ix_(rr, cc)] = self.graph.eta_between(
                src, dst, vc, self.conditions, limit_s=self.limit_s
            )
            known[np.ix_(rr, cc)] = True

    def etas(
        self,
        unit_nodes: NDArray[np.int64] | Sequence[int],
        unit_classes: Sequence[str],
        task_nodes: NDArray[np.int64] | Sequence[int],
        need: NDArray[np.bool_] | None = None,
    ) -> NDArray[np.float64]:
        """Seconds from every unit (rows) to every task (columns).

        Parameters
        ----------
        unit_nodes, unit_classes
            Node and vehicle class of each unit.
        task_nodes
            Node of each task.
        need
            Optional units x tasks mask of the pairs wanted (e.g. capability): pairs outside it
            are not searched and come back ``inf`` unless known already.

        Returns
        -------
        numpy.ndarray
            Read-only units x tasks seconds (the table keeps it for the next call).
        """
        u = np.array(unit_nodes, dtype=np.int64).ravel()
        t = np.array(task_nodes, dtype=np.int64).ravel()
        classes = [str(c) for c in unit_classes]
        if u.size == 0 or t.size == 0:
            return np.full((u.size, t.size), np.inf)
        with self._lock:
            out, known = self._carry(u, classes, t)
            miss = ~known
            if need is not None:
                miss &= np.asarray(need, dtype=bool)
            if miss.any():
                cls = np.asarray(classes)
                miss_rows = miss.any(axis=1)
                for vc in sorted(set(cls[miss_rows].tolist())):
                    sel = np.flatnonzero((cls == vc) & miss_rows)
                    csel = np.flatnonzero(miss[sel].any(axis=0))
                    self._fill(out, known, u, t, vc, sel, csel, miss[np.ix_(sel, csel)])
                _fold(out, known, t)
                _fold(out.T, known.T, u * 64 + _class_codes(classes))
            out.flags.writeable = False
            self._u, self._cls, self._t, self._m, self._known = u, classes, t, out, known
        return out
