"""Hotspot maths: Getis-Ord Gi* on road segments with sparse neighbour weights.

Pure numpy / scipy.sparse, no domain objects: the incidents layer computes an evidence weight
per segment (reports x reliability x age decay) and hands the vector here.

Weights
-------
:func:`segment_weights` builds a sparse ``n x n`` matrix over road segments with two kinds of
neighbours:

* along the network: segments that share an end node, up to ``k_hops`` steps away;
* across space: segments whose midpoints lie within ``distance_m`` metres (metric CRS),
  found with :class:`scipy.spatial.cKDTree` (``sparse_distance_matrix``).

``kind="binary"`` gives every neighbour weight 1; ``kind="distance"`` keeps 1 for network
neighbours and tapers spatial neighbours linearly, ``1 - d / distance_m`` (distance band).
The diagonal is 1 (the "star": a segment is its own neighbour).

Statistic
---------
:func:`gi_star` is Getis & Ord (1992) / Ord & Getis (1995) Gi* with the self weight included::

    z_i = (sum_j w_ij x_j - xbar W_i) / (s * sqrt((n S1_i - W_i^2) / (n - 1)))

with ``W_i = sum_j w_ij``, ``S1_i = sum_j w_ij^2``, ``xbar`` the mean and ``s`` the population
standard deviation of ``x`` over all ``n`` segments. For binary weights this is exactly the
``Zs`` of ``esda.G_Local(y, w, star=True, transform="B")`` (checked in the tests). p-values use
the normal approximation, one-sided for hot spots: ``p = P(Z >= z)``.
"""

from __future__ import annotations

from typing import Any, Literal

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.stats import norm

from geo.crs import METRIC_CRS
from geo.errors import ParameterError

__all__ = [
    "GiStar",
    "gi_star",
    "hot_clusters",
    "network_adjacency",
    "segment_weights",
    "spatial_adjacency",
]

NODE_GRID_M = 1.0  # end points closer than this (metric) are the same node


def _metric_array(segments: gpd.GeoDataFrame | gpd.GeoSeries | NDArray[Any]) -> NDArray[Any]:
    """Segment lines in the metric CRS as a shapely array (an array input is taken as metric)."""
    if isinstance(segments, np.ndarray):
        return segments
    geoms = segments.geometry if isinstance(segments, gpd.GeoDataFrame) else segments
    if geoms.crs is None:
        geoms = geoms.set_crs("EPSG:4326")
    return np.asarray(geoms.to_crs(METRIC_CRS).to_numpy(), dtype=object)


def network_adjacency(
    segments: gpd.GeoDataFrame | gpd.GeoSeries | NDArray[Any], k_hops: int = 1
) -> sparse.csr_matrix:
    """Return the boolean segment adjacency along the network, up to `k_hops` steps.

    Two segments are 1-hop neighbours when they share an end node (end points within
    :data:`NODE_GRID_M` metres in the metric CRS). The diagonal is set.

    Parameters
    ----------
    segments
        LineString segments (GeoDataFrame or GeoSeries; CRS taken as WGS84 when missing), or
        a numpy object array of lines already in the metric CRS.
    k_hops
        Neighbourhood order along the network (0: only self).
    """
    arr = _metric_array(segments)
    n = len(arr)
    if n == 0:
        return sparse.csr_matrix((0, 0), dtype=bool)
    coords, index = shapely.get_coordinates(arr, return_index=True)
    first = np.searchsorted(index, np.arange(n), side="left")
    last = np.searchsorted(index, np.arange(n), side="right") - 1
    ends = np.round(np.vstack([coords[first], coords[last]]) / NODE_GRID_M).astype(np.int64)
    key = (ends[:, 0] - ends[:, 0].min()) * (int(ends[:, 1].max() - ends[:, 1].min()) + 1) + (
        ends[:, 1] - ends[:, 1].min()
    )
    _, node = np.unique(key, return_inverse=True)
    node = node.ravel()
    rows = np.concatenate([np.arange(n), np.arange(n)])
    inc = sparse.csr_matrix(
        (np.ones(2 * n, dtype=np.int32), (rows, node)), shape=(n, int(node.max()) + 1)
    )
    one_hop = (inc @ inc.T).astype(bool).tocsr()
    eye = sparse.identity(n, dtype=bool, format="csr")
    reach = eye.copy()
    for _ in range(max(0, k_hops)):
        reach = ((reach.astype(np.int32) @ one_hop.astype(np.int32)) > 0).tocsr()
        reach = (reach + eye).astype(bool).tocsr()
    return reach


def _midpoints_xy(segments: gpd.GeoDataFrame | gpd.GeoSeries | NDArray[Any]) -> NDArray[np.float64]:
    lines = _metric_array(segments)
    mids = shapely.line_interpolate_point(lines, 0.5, normalized=True)
    coords: NDArray[np.float64] = shapely.get_coordinates(mids)
    return coords


def spatial_adjacency(
    segments: gpd.GeoDataFrame | gpd.GeoSeries | ArrayLike, distance_m: float
) -> sparse.csr_matrix:
    """Return the sparse matrix of midpoint distances (metres) between segments within a band.

    Entry ``(i, j)`` holds the distance of the midpoints of segments i and j when it is at most
    `distance_m` (i != j); the diagonal is empty. `segments` may also be a numpy object array of
    metric lines, or an ``(n, 2)`` array of metric x/y midpoints.
    """
    if isinstance(segments, gpd.GeoDataFrame | gpd.GeoSeries):
        xy = _midpoints_xy(segments)
    elif isinstance(segments, np.ndarray) and segments.dtype == object:
        xy = _midpoints_xy(segments)
    else:
        xy = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    n = len(xy)
    if n == 0 or distance_m <= 0:
        return sparse.csr_matrix((n, n), dtype=np.float64)
    tree = cKDTree(xy)
    pairs = tree.query_pairs(distance_m, output_type="ndarray")
    if len(pairs) == 0:
        return sparse.csr_matrix((n, n), dtype=np.float64)
    i, j = pairs[:, 0], pairs[:, 1]
    d = np.hypot(*(xy[i] - xy[j]).T)
    d = np.maximum(d, 1e-9)  # keep coincident midpoints as explicit entries
    rows = np.concatenate([i, j])
    cols = np.concatenate([j, i])
    return sparse.csr_matrix((np.concatenate([d, d]), (rows, cols)), shape=(n, n))


def segment_weights(
    segments: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    k_hops: int = 2,
    distance_m: float = 1500.0,
    kind: Literal["binary", "distance"] = "binary",
) -> sparse.csr_matrix:
    """Return the Gi* weights matrix over `segments` (sparse CSR, float, diagonal 1).

    Parameters
    ----------
    segments
        LineString road segments, one row per segment, in the order of the values vector.
    k_hops
        Network neighbours: segments sharing an end node within this many steps.
    distance_m
        Spatial neighbours: segment midpoints within this many metres (0 disables).
    kind
        ``"binary"``: every neighbour weighs 1. ``"distance"``: network neighbours 1, spatial
        neighbours ``1 - d / distance_m`` (the larger of the two when both apply).

    Returns
    -------
    scipy.sparse.csr_matrix
        Symmetric ``n x n`` weights with ones on the diagonal.
    """
    if kind not in ("binary", "distance"):
        msg = f"unknown weights kind {kind!r}; expected 'binary' or 'distance'"
        raise ParameterError(msg)
    lines = _metric_array(segments)
    net = network_adjacency(lines, k_hops).astype(np.float64)
    dist = spatial_adjacency(lines, distance_m)
    if kind == "binary":
        w = (net + dist.astype(bool).astype(np.float64)).astype(bool).astype(np.float64)
    else:
        taper = dist.copy()
        taper.data = np.clip(1.0 - taper.data / distance_m, 1e-6, 1.0)
        w = net.maximum(taper)
    w = w.tocsr()
    w.setdiag(1.0)
    w.eliminate_zeros()
    w.sort_indices()
    return w


def gi_star(
    values: ArrayLike, w: sparse.spmatrix | sparse.sparray
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return Getis-Ord Gi* z-scores and one-sided hot-spot p-values.

    Parameters
    ----------
    values
        Evidence weight per segment, length n.
    w
        ``n x n`` sparse weights including the self weight (see :func:`segment_weights`).

    Returns
    -------
    tuple of numpy.ndarray
        ``z`` (0 where the values have no variance) and ``p = P(Z >= z)``.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    wm = sparse.csr_matrix(w, dtype=np.float64)
    n = x.size
    if wm.shape != (n, n):
        msg = f"weights shape {wm.shape} does not match {n} values"
        raise ParameterError(msg)
    if n < 2:
        z = np.zeros(n)
        return z, np.asarray(norm.sf(z), dtype=np.float64)
    xbar = x.mean()
    s = np.sqrt(max((x * x).mean() - xbar * xbar, 0.0))
    wi = np.asarray(wm.sum(axis=1)).ravel()
    s1 = np.asarray(wm.multiply(wm).sum(axis=1)).ravel()
    num = wm @ x - xbar * wi
    den = s * np.sqrt(np.maximum(n * s1 - wi * wi, 0.0) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(den > 0, num / den, 0.0)
    return z, np.asarray(norm.sf(z), dtype=np.float64)


class GiStar:
    """Gi* over fixed weights, kept up to date by the segments whose values changed.

    The weights' row sums ``W_i`` and ``S1_i`` are computed once; each :meth:`update` adds
    ``W[:, changed] @ dx`` to the kept ``W x`` (a full product when many values changed, and
    every `refresh_every` updates so rounding never builds up) and rescales with the new mean and
    standard deviation: the same z and p as :func:`gi_star` on the same values.

    Parameters
    ----------
    w
        ``n x n`` sparse weights including the self weight (see :func:`segment_weights`).
    refresh_every
        Incremental updates between two full products.
    """

    def __init__(self, w: sparse.spmatrix | sparse.sparray, refresh_every: int = 50) -> None:
        self.w = sparse.csr_matrix(w, dtype=np.float64)
        n = self.w.shape[0]
        if self.w.shape != (n, n):
            msg = f"weights must be square, not {self.w.shape}"
            raise ParameterError(msg)
        self.n = n
        self._wt = self.w.T.tocsr()  # rows of the transpose: columns of W
        self.wi = np.asarray(self.w.sum(axis=1)).ravel()
        self.s1 = np.asarray(self.w.multiply(self.w).sum(axis=1)).ravel()
        self._x = np.zeros(n)
        self._wx = np.zeros(n)
        self._since = 0
        self.refresh_every = refresh_every
        self.changed_last = 0  # how many values the last update changed

    def update(self, values: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return Gi* z and p for `values` (length n), updating from the last values."""
        x = np.asarray(values, dtype=np.float64).ravel()
        n = self.n
        if x.size != n:
            msg = f"weights shape {self.w.shape} does not match {x.size} values"
            raise ParameterError(msg)
        changed = np.flatnonzero(x != self._x)
        self.changed_last = int(changed.size)
        if changed.size > n // 20 or self._since >= self.refresh_every:
            self._wx = self.w @ x
            self._since = 0
        elif changed.size:
            dx = x[changed] - self._x[changed]
            self._wx += self._wt[changed].T @ dx
            self._since += 1
        self._x = x.copy()
        if n < 2:
            z = np.zeros(n)
            return z, np.asarray(norm.sf(z), dtype=np.float64)
        xbar = x.mean()
        s = np.sqrt(max((x * x).mean() - xbar * xbar, 0.0))
        num = self._wx - xbar * self.wi
        den = s * np.sqrt(np.maximum(n * self.s1 - self.wi * self.wi, 0.0) / (n - 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(den > 0, num / den, 0.0)
        return z, np.asarray(norm.sf(z), dtype=np.float64)


def hot_clusters(
    w: sparse.spmatrix | sparse.sparray,
    z: ArrayLike,
    p: ArrayLike,
    values: ArrayLike,
    alpha: float = 0.05,
) -> list[NDArray[np.intp]]:
    """Group significant hot segments into clusters, strongest first.

    A segment is hot when ``p < alpha``, ``z > 0`` and its own value is positive (a quiet
    segment next to a busy one is not itself a hotspot). Hot segments joined by a non-zero
    weight form one cluster (connected components). Clusters are ordered by their largest z,
    then by their total value.

    Returns
    -------
    list of numpy.ndarray
        Segment positions of each cluster, each sorted by z descending.
    """
    za = np.asarray(z, dtype=np.float64)
    pa = np.asarray(p, dtype=np.float64)
    va = np.asarray(values, dtype=np.float64)
    hot = np.flatnonzero((pa < alpha) & (za > 0) & (va > 0))
    if hot.size == 0:
        return []
    wm = w if isinstance(w, sparse.csr_matrix) else sparse.csr_matrix(w)
    sub = wm[hot][:, hot]
    _, labels = connected_components(sub, directed=False)
    # by cluster, then z descending (stable: equal z keep segment order)
    order = np.lexsort((-za[hot], labels))
    lab_sorted = labels[order]
    cuts = np.flatnonzero(lab_sorted[1:] != lab_sorted[:-1]) + 1
    clusters = np.split(hot[order], cuts)
    clusters.sort(key=lambda m: (-float(za[m].max()), -float(va[m].sum()), int(m[0])))
    return clusters
