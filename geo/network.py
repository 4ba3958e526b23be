"""Road graph with condition-aware travel times per vehicle class (scipy.sparse CSR + Dijkstra).

Nodes sit at segment ends. Ends closer than ``merge_m`` (5 m) are one node, so consecutive
segments and road pieces connect; where two *different* roads cross, or one road's vertex lies
within ``junction_m`` (50 m) of another road, both are cut there and joined, so approximate
geometry still makes junctions at the towns the roads share. Each directed edge is a piece of
one segment and takes that segment's speed and condition.

How the graph is built (cuts, nodes, edges, CSR layout): :mod:`geo.graph_build`; a path
as edges, line and segment ids: :mod:`geo.graph_paths`. Speeds and
condition factors: :mod:`geo.speeds` (re-exported here).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from shapely.geometry import LineString

from geo.cache import LockedLRU
from geo.corepaths import CoreGraph, CoreWeights, EtaTable
from geo.crs import from_metric_xy, to_metric, to_metric_xy
from geo.errors import ParameterError, UnreachableError
from geo.graph_build import Cuts, csr_layout, directed_edges, group_nodes, junction_cuts
from geo.graph_paths import edge_segment_ids, edges_xy, pair_path_edges, path_nodes
from geo.speeds import (
    CONDITIONS,
    FACTOR_TABLES,
    SPEED_FACTORS,
    VEHICLE_CLASSES,
    VEHICLE_SPEEDS,
    VehicleSpeed,
    check_vehicle,
    speed_factor,
    worst_factor,
)

__all__ = [
    "CONDITIONS",
    "SPEED_FACTORS",
    "VEHICLE_CLASSES",
    "VEHICLE_SPEEDS",
    "RoadGraph",
    "VehicleSpeed",
    "speed_factor",
]


_MATRIX_CACHE_SIZE = 6
CORE_MIN_NODES = 10_000  # graphs from this size search their core graph (geo.corepaths)


_CACHE_SIZE = 8
_GRAPH_CACHE: LockedLRU[str, RoadGraph] = LockedLRU(_CACHE_SIZE)  # keyed by content hash


def segments_key(segments: gpd.GeoDataFrame) -> str:
    """Content hash of a segments frame (ids, geometry, one-way flags, speeds)."""
    h = hashlib.sha1(usedforsecurity=False)
    h.update("\x1f".join(map(str, segments["segment_id"])).encode())
    wkb = shapely.to_wkb(np.asarray(segments.geometry.to_numpy(), dtype=object))
    for b in wkb:
        h.update(b)
    for col in ("oneway", "speed_car_kmh", "speed_truck_kmh"):
        if col in segments.columns:
            h.update(np.ascontiguousarray(segments[col].to_numpy(dtype=float)).tobytes())
    return h.hexdigest()


class RoadGraph:
    """Directed road graph over segments; build with :meth:`from_segments` (cached).

    Attributes
    ----------
    segments
        The segments frame it was built from (EPSG:4326).
    n_nodes
        Number of nodes.
    node_lon, node_lat
        WGS84 node coordinates.
    edge_from, edge_to, edge_segment
        Directed edges: node indices and the positional index of their segment.
    edge_length_m
        Edge lengths in metres (METRIC_CRS).
    """

    def __init__(
        self,
        segments: gpd.GeoDataFrame,
        merge_m: float = 5.0,
        junction_m: float = 50.0,
    ) -> None:
        self.segments = segments
        # (vehicle class, conditions copy) -> [vc, conditions, pair times, CSR, reversed CSR]
        self._matrix_cache: LockedLRU[tuple[str, dict[str, Any] | None], list[Any]] = LockedLRU(
            _MATRIX_CACHE_SIZE
        )
        self.merge_m = merge_m
        self.junction_m = junction_m
        self._build()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_segments(
        cls, segments: gpd.GeoDataFrame, merge_m: float = 5.0, junction_m: float = 50.0
    ) -> RoadGraph:
        """Build (or fetch from the cache) the graph of a segments frame.

        Parameters
        ----------
        segments
            Output of :func:`geo.roads.segment_roads`.
        merge_m
            Segment ends closer than this are one node.
        junction_m
            Different roads whose vertices come this close are joined there.
        """
        key = f"{segments_key(segments)}:{merge_m}:{junction_m}"
        return _GRAPH_CACHE.get_or_create(
            key, lambda: cls(segments, merge_m=merge_m, junction_m=junction_m)
        )

    def _build(self) -> None:
        """Cut the segments at their ends and junctions, group the cuts into nodes, link them."""
        seg = self.segments
        geoms = np.asarray(to_metric(seg.geometry).to_numpy(), dtype=object)
        self._metric_geoms: NDArray[Any] | None = geoms
        n_seg = len(geoms)
        self.segment_ids = seg["segment_id"].astype(str).to_numpy(dtype=object)
        self._seg_index_map: dict[str, int] | None = None
        cuts = Cuts(n_seg, shapely.length(geoms))
        if n_seg and self.junction_m > 0:
            codes = seg["road_code"].to_numpy(dtype=object)
            _, road_id = np.unique(codes.astype(str), return_inverse=True)
            junction_cuts(geoms, road_id, cuts, self.junction_m)
        nodes = group_nodes(geoms, cuts, self.merge_m)
        self.n_nodes = nodes.n_nodes
        self._node_xy = nodes.node_xy
        self.node_lon, self.node_lat = from_metric_xy(nodes.node_xy[:, 0], nodes.node_xy[:, 1])
        self._kd = cKDTree(self._node_xy) if self.n_nodes else None
        oneway = (
            seg["oneway"].fillna(False).to_numpy(dtype=bool)
            if "oneway" in seg.columns
            else np.zeros(n_seg, dtype=bool)
        )
        edges = directed_edges(nodes, oneway)
        self.edge_from, self.edge_to = edges.edge_from, edges.edge_to
        self.edge_segment = edges.edge_segment
        self._edge_p0, self._edge_p1 = edges.p0, edges.p1
        self.edge_length_m = np.abs(self._edge_p1 - self._edge_p0)
        csr = csr_layout(self.edge_from, self.edge_to, self.n_nodes)
        self._edge_order, self._pair_start, self._pair_to = (
            csr.edge_order, csr.pair_start, csr.pair_to
        )
        self._indptr, self._indices = csr.indptr, csr.indices
        self._perm_t, self._indptr_t, self._indices_t = csr.perm_t, csr.indptr_t, csr.indices_t
        self._segment_speeds(n_seg)

    def _segment_speeds(self, n_seg: int) -> None:
        """Per-segment dry speeds (m/s) per vehicle class."""
        seg = self.segments
        car = seg["speed_car_kmh"].to_numpy(dtype=float) if "speed_car_kmh" in seg else None
        truck = seg["speed_truck_kmh"].to_numpy(dtype=float) if "speed_truck_kmh" in seg else None
        self._seg_speed: dict[str, NDArray[np.float64]] = {}
        for vc, vs in VEHICLE_SPEEDS.items():
            road = car if vs.category == "car" else truck
            kmh = np.full(n_seg, vs.top_kmh) if road is None else np.minimum(road, vs.top_kmh)
            kmh = np.where(np.isfinite(kmh) & (kmh > 0), kmh, vs.top_kmh)
            self._seg_speed[vc] = kmh / 3.6

    @property
    def _geoms(self) -> NDArray[Any]:
        """Segments as metric LineStrings (for routes; rebuilt on first use after a load)."""
        if self._metric_geoms is None:
            self._metric_geoms = np.asarray(to_metric(self.segments.geometry).to_numpy(), object)
        return self._metric_geoms

    @property
    def _seg_index(self) -> dict[str, int]:
        """Segment id -> positional index (built on first use)."""
        if self._seg_index_map is None:
            self._seg_index_map = {s: i for i, s in enumerate(self.segment_ids)}
        return self._seg_index_map

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without :attr:`_geoms` and :attr:`_seg_index` (rebuilt on first use)."""
        return {**self.__dict__, "_metric_geoms": None, "_seg_index_map": None}

    # ------------------------------------------------------------------ queries

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return int(self.edge_from.size)

    def segment_index(self, segment_id: str) -> int:
        """Positional index of a segment id (KeyError when absent)."""
        return self._seg_index[segment_id]

    def nearest_nodes(self, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.int64]:
        """Index of the nearest node to each WGS84 point.

        Parameters
        ----------
        lon, lat
            Scalars or arrays of WGS84 degrees.

        Returns
        -------
        numpy.ndarray
            int64 node indices, one per point (1-d); -1 for a NaN / infinite position.
        """
        if self._kd is None:
            msg = "the road graph has no nodes"
            raise UnreachableError(msg)
        x, y = to_metric_xy(
            np.atleast_1d(np.asarray(lon, float)), np.atleast_1d(np.asarray(lat, float))
        )
        out = np.full(x.shape[0], -1, dtype=np.int64)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any():
            _, idx = self._kd.query(np.column_stack([x[ok], y[ok]]))
            out[ok] = idx
        return out

    def segment_factors(
        self, vehicle_class: str, conditions: Mapping[str, str | Iterable[str]] | None
    ) -> NDArray[np.float64]:
        """Speed factor per segment (positional) for a vehicle class under `conditions`.

        Segment ids the graph doesn't have are ignored; several conditions on one segment take
        the worst.
        """
        vc = check_vehicle(vehicle_class)
        f = np.ones(len(self.segment_ids))
        if not conditions:
            return f
        get = self._seg_index.get
        idx: list[int] = []
        val: list[float] = []
        known: dict[Any, float] = dict(FACTOR_TABLES[vc])  # + each list of conditions met
        for sid, cond in conditions.items():
            i = get(sid if isinstance(sid, str) else str(sid))
            if i is None:
                continue
            key = cond if cond is None or isinstance(cond, str) else tuple(cond)
            fac = known.get(key)
            if fac is None:
                fac = known[key] = worst_factor(vc, key)
            idx.append(i)
            val.append(fac)
        if idx:
            np.minimum.at(f, np.asarray(idx, dtype=np.int64), np.asarray(val))
        return f

    def edge_times(
        self, vehicle_class: str, conditions: Mapping[str, str | Iterable[str]] | None = None
    ) -> NDArray[np.float64]:
        """Travel time in seconds of every directed edge (``inf`` when closed).

        Parameters
        ----------
        vehicle_class
            One of :data:`VEHICLE_CLASSES`.
        conditions
            segment_id -> condition (or several conditions; the worst counts).

        Returns
        -------
        numpy.ndarray
            Seconds per edge, aligned with :attr:`edge_from` / :attr:`edge_to`.
        """
        vc = check_vehicle(vehicle_class)
        f = self.segment_factors(vc, conditions)
        speed = self._seg_speed[vc][self.edge_segment] * f[self.edge_segment]
        with np.errstate(divide="ignore"):
            t = np.where(speed > 0, self.edge_length_m / np.where(speed > 0, speed, 1.0), np.inf)
        return np.maximum(t, 1e-3)

    def _pair_times(self, times: NDArray[np.float64]) -> NDArray[np.float64]:
        if times.size == 0:
            return times
        return np.minimum.reduceat(times[self._edge_order], self._pair_start)

    def _cached(self, vehicle_class: str, conditions: Mapping[str, Any] | None) -> list[Any]:
        """Cache entry [vc, conditions, pair times, CSR, reverse CSR, core weights, edge times].

        Dispatch asks for many searches under the same conditions; comparing a dict with the
        cached copy (C speed) is far cheaper than rebuilding the matrix from 10k conditions.
        """
        vc = check_vehicle(vehicle_class)
        cond = dict(conditions) if conditions else None
        return self._matrix_cache.get_or_create((vc, cond), lambda: self._matrices(vc, cond))

    def _matrices(self, vc: str, cond: dict[str, Any] | None) -> list[Any]:
        times = self.edge_times(vc, cond)
        data = self._pair_times(times)
        shape = (self.n_nodes, self.n_nodes)
        fwd = sp.csr_matrix((data, self._indices, self._indptr), shape=shape)
        rev = sp.csr_matrix((data[self._perm_t], self._indices_t, self._indptr_t), shape=shape)
        return [vc, cond, data, fwd, rev, None, times]

    def matrix(
        self,
        vehicle_class: str,
        conditions: Mapping[str, str | Iterable[str]] | None = None,
        *,
        reverse: bool = False,
    ) -> sp.csr_matrix:
        """CSR matrix of edge travel times (s); `reverse` gives the transpose (to-one queries).

        Parallel edges between two nodes are reduced to the fastest; closed edges are ``inf``.
        Returns a copy the caller may modify.
        """
        entry = self._cached(vehicle_class, conditions)
        return (entry[4] if reverse else entry[3]).copy()

    def _check_node(self, node: int) -> int:
        i = int(node)
        if not 0 <= i < self.n_nodes:
            msg = f"node {node!r} is not in the graph (0..{self.n_nodes - 1})"
            raise UnreachableError(msg)
        return i

    def _check_nodes(self, nodes: Sequence[int] | NDArray[np.int64]) -> NDArray[np.int64]:
        arr = np.asarray(nodes).ravel()
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            return np.asarray([self._check_node(n) for n in arr.tolist()], dtype=np.int64)
        out = arr.astype(np.int64)
        bad = (out < 0) | (out >= self.n_nodes)
        if bad.any():
            self._check_node(int(out[np.argmax(bad)]))
        return out

    def travel_times_from(
        self,
        node: int,
        vehicle_class: str,
        conditions: Mapping[str, str | Iterable[str]] | None = None,
    ) -> NDArray[np.float64]:
        """Seconds from `node` to every node (``inf`` where unreachable)."""
        m = self._cached(vehicle_class, conditions)[3]
        return np.asarray(dijkstra(m, directed=True, indices=self._check_node(node)))

    def travel_times_to(
        self,
        node: int,
        vehicle_class: str,
        conditions: Mapping[str, str | Iterable[str]] | None = None,
    ) -> NDArray[np.float64]:
        """Seconds from every node to `node` (Dijkstra on the reversed graph)."""
        m = self._cached(vehicle_class, conditions)[4]
        return np.asarray(dijkstra(m, directed=True, indices=self._check_node(node)))

    def travel_time_matrix(
        self,
        from_nodes: Sequence[int] | NDArray[np.int64],
        vehicle_class: str,
        conditions: Mapping[str, str | Iterable[str]] | None = None,
    ) -> NDArray[np.float64]:
        """Seconds from each of `from_nodes` (rows) to every node (columns)."""
        nodes = np.asarray([self._check_node(n) for n in from_nodes], dtype=np.int64)
        if nodes.size == 0:
            return np.empty((0, self.n_nodes))
        m = self._cached(vehicle_class, conditions)[3]
        return np.atleast_2d(np.asarray(dijkstra(m, directed=True, indices=nodes)))

    def nearest_source(
        self,
        source_nodes: Sequence[int] | NDArray[np.int64],
        vehicle_class: str,
        conditions: Mapping[str, str | Iterable[str]] | None = None,
        *,
        limit_s: float = np.inf,
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """For every node, the travel time from the nearest source and which source it is.

        One multi-source Dijkstra (``min_only=True``): the physical lower bound on response time
        for any dispatch rule when the sources are the free units.

        Parameters
        ----------
        source_nodes
            Node of each source (e.g. each free unit); duplicates allowed.
        limit_s
            The search stops at this travel time (nodes farther from every source: ``inf``
            and -1), so a coverage question "within T minutes" does not search the region.

        Returns
        -------
        tuple
            ``(time_s, source_index)``: arrays over nodes; ``source_index`` is the position in
            `source_nodes` (-1 and ``inf`` where no source reaches).
        """
        src = np.asarray([self._check_node(n) for n in source_nodes], dtype=np.int64)
        if src.size == 0:
            return np.full(self.n_nodes, np.inf), np.full(self.n_nodes, -1, dtype=np.int64)
        m = self._cached(vehicle_class, conditions)[3]
        dist, _, sources = dijkstra(
            m,
            directed=True,
            indices=src,
            min_only=True,
            return_predecessors=True,
            limit=limit_s,
        )
        # map source node -> first position in source_nodes
        pos = np.full(self.n_nodes, -1, dtype=np.int64)
        pos[src[::-1]] = np.arange(src.size - 1, -1, -1)
        sources = np.asarray(sources)
        index = np.where(sources >= 0, pos[np.maximum(sources, 0)], -1)
        return np.asarray(dist), index.astype(np.int64)

    @property
    def core(self) -> CoreGraph:
        """The graph with its degree-2 chains contracted (topology; built on first use)."""
        c: CoreGraph | None = getattr(self, "_core", None)
        if c is None:
            pair_from = np.repeat(np.arange(self.n_nodes), np.diff(self._indptr))
            c = CoreGraph(self.n_nodes, pair_from, np.asarray(self._pair_to, dtype=np.int64))
            self._core = c
        return c

    def core_weights(
        self,
        vehicle_class: str,
        conditions: Mapping[str, str | Iterable[str]] | None = None,
    ) -> CoreWeights:
        """Core-graph times of `vehicle_class` under `conditions` (cached with the matrices)."""
        entry = self._cached(vehicle_class, conditions)
        if entry[5] is None:
            entry[5] = self.core.weights(entry[2])
        w: CoreWeights = entry[5]
        return w

    def eta_table(
        self,
        conditions: Mapping[str, str | Iterable[str]] | None = None,
        limit_s: float = np.inf,
    ) -> EtaTable:
        """Return the units x tasks :class:`~geo.corepaths.EtaTable` kept for these conditions.

        One table per (conditions, limit) is kept with the graph (the last few), so successive
        recommendations under the same conditions only search what is new.
        """
        tables: LockedLRU[tuple[dict[str, Any] | None, float], EtaTable] | None = getattr(
            self, "_eta_tables", None
        )
        if tables is None:
            tables = LockedLRU(_MATRIX_CACHE_SIZE)
            self._eta_tables = tables
        cond = dict(conditions) if conditions else None
        return tables.get_or_create(
            (cond, float(limit_s)), lambda: EtaTable(self, cond, float(limit_s))
        )

    def eta_between(
        self,
        from_nodes: Sequence[int] | NDArray[np.int64],
        to_nodes: Sequence[int] | NDArray[np.int64],
        vehicle_class: str,
        conditions: Mapping[str, str | Iterable[str]] | None = None,
        *,
        limit_s: float = np.inf,
        method: str = "auto",
    ) -> NDArray[np.float64]:
        """Seconds from each of `from_nodes` (rows) to each of `to_nodes` (columns).

        The same times as :meth:`travel_times_from` read at `to_nodes`: one search per
        distinct source or per distinct destination, whichever are fewer, each stopping at
        `limit_s` (farther pairs ``inf``). ``method="core"`` searches the core graph
        (:mod:`geo.corepaths`), ``"full"`` the whole graph; ``"auto"`` the core graph from
        :data:`CORE_MIN_NODES` nodes up (below, its set-up costs more than it saves).
        """
        src = self._check_nodes(from_nodes)
        dst = self._check_nodes(to_nodes)
        if src.size == 0 or dst.size == 0:
            return np.full((src.size, dst.size), np.inf)
        if method not in ("auto", "core", "full"):
            msg = f"unknown search method {method!r}; expected 'auto', 'core' or 'full'"
            raise ParameterError(msg)
        if method == "full" or (method == "auto" and self.n_nodes < CORE_MIN_NODES):
            return self._eta_full(src, dst, vehicle_class, conditions, limit_s)
        return self.core_weights(vehicle_class, conditions).many_to_many(src, dst, limit_s)

    def _eta_full(
        self,
        src: NDArray[np.int64],
        dst: NDArray[np.int64],
        vehicle_class: str,
        conditions: Mapping[str, str | Iterable[str]] | None,
        limit_s: float,
    ) -> NDArray[np.float64]:
        """:meth:`eta_between` with Dijkstra on the whole graph."""
        s_uniq, s_inv = np.unique(src, return_inverse=True)
        d_uniq, d_inv = np.unique(dst, return_inverse=True)
        if s_uniq.size <= d_uniq.size:
            m = self._cached(vehicle_class, conditions)[3]
            d = np.atleast_2d(dijkstra(m, directed=True, indices=s_uniq, limit=limit_s))
            out: NDArray[np.float64] = d[s_inv][:, d_uniq[d_inv]]
            return out
        m = self._cached(vehicle_class, conditions)[4]
        d = np.atleast_2d(dijkstra(m, directed=True, indices=d_uniq, limit=limit_s))
        back: NDArray[np.float64] = d[d_inv][:, s_uniq[s_inv]].T
        return back

    def _path_edges(
        self, a: int, b: int, vehicle_class: str, conditions: Any
    ) -> tuple[list[int], float]:
        """Edge indices of the fastest path a -> b and its time (UnreachableError if none)."""
        entry = self._cached(vehicle_class, conditions)  # the matrices' edge times and CSR
        times: NDArray[np.float64] = entry[6]
        dist, pred = dijkstra(entry[3], directed=True, indices=a, return_predecessors=True)
        if not np.isfinite(dist[b]):
            msg = (
                f"no passable route for {vehicle_class} from node {a} "
                f"({self.node_lon[a]:.5f}, {self.node_lat[a]:.5f}) to node {b} "
                f"({self.node_lon[b]:.5f}, {self.node_lat[b]:.5f})"
            )
            raise UnreachableError(msg)
        edges = pair_path_edges(
            path_nodes(pred, a, b), self._indptr, self._indices, self._pair_start,
            self._edge_order, times,
        )
        return edges, float(dist[b])

    def route(
        self,
        from_node: int,
        to_node: int,
        vehicle_class: str,
        conditions: Mapping[str, str | Iterable[str]] | None = None,
    ) -> tuple[LineString, float]:
        """Fastest route between two nodes: its WGS84 geometry and its time in seconds.

        Raises
        ------
        UnreachableError
            No passable route (closed segments, disconnected roads) or an unknown node.
        """
        a = self._check_node(from_node)
        b = self._check_node(to_node)
        check_vehicle(vehicle_class)
        if a == b:
            lon, lat = float(self.node_lon[a]), float(self.node_lat[a])
            return LineString([(lon, lat), (lon, lat)]), 0.0
        edges, seconds = self._path_edges(a, b, vehicle_class, conditions)
        coords = edges_xy(self._geoms, self.edge_segment, self._edge_p0, self._edge_p1, edges)
        allxy = np.concatenate(coords) if coords else self._node_xy[[a, b]]
        if len(allxy) < 2:
            allxy = np.vstack([allxy, allxy])
        rlon, rlat = from_metric_xy(allxy[:, 0], allxy[:, 1])
        return LineString(np.column_stack([rlon, rlat])), seconds

    def route_segments(
        self,
        from_node: int,
        to_node: int,
        vehicle_class: str,
        conditions: Mapping[str, str | Iterable[str]] | None = None,
    ) -> list[str]:
        """Segment ids along the fastest route, in travel order (consecutive repeats dropped)."""
        a = self._check_node(from_node)
        b = self._check_node(to_node)
        check_vehicle(vehicle_class)
        if a == b:
            return []
        edges, _ = self._path_edges(a, b, vehicle_class, conditions)
        return edge_segment_ids(self.segment_ids, self.edge_segment, edges)
