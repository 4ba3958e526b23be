"""Gi* hotspot maths: weights along the network and across space, z-scores against esda."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pytest
from scipy import sparse
from shapely.geometry import LineString

from geo.crs import from_metric_xy
from geo.hotspots import (
    gi_star,
    hot_clusters,
    network_adjacency,
    segment_weights,
    spatial_adjacency,
)


def _road(x0: float, y0: float, n: int, dx: float = 1000.0, dy: float = 0.0) -> list[LineString]:
    """n consecutive 1 km segments starting at metric (x0, y0), as WGS84 lines."""
    out = []
    for i in range(n):
        xs = np.array([x0 + i * dx, x0 + (i + 1) * dx])
        ys = np.array([y0 + i * dy, y0 + (i + 1) * dy])
        lon, lat = from_metric_xy(xs, ys)
        out.append(LineString(zip(lon, lat, strict=True)))
    return out


@pytest.fixture
def segments() -> gpd.GeoDataFrame:
    # road A: 8 segments west-east; road B: 5 segments, parallel 800 m north of A's first half
    # (not connected); road C: 6 segments far away (50 km east)
    lines = _road(0, 0, 8) + _road(0, 800, 5) + _road(50_000, 0, 6)
    return gpd.GeoDataFrame(
        {"segment_id": [f"s{i}" for i in range(len(lines))]}, geometry=lines, crs="EPSG:4326"
    )


def test_network_adjacency_hops(segments):
    one = network_adjacency(segments, 1).toarray()
    two = network_adjacency(segments, 2).toarray()
    assert one[0, 0] and one[0, 1] and not one[0, 2]
    assert two[0, 2] and not two[0, 3]
    # segments of different roads never share a node
    assert not one[:8, 8:].any()
    assert (one == one.T).all()


def test_spatial_adjacency_band(segments):
    d = spatial_adjacency(segments, 900.0)
    # A0 and B0 midpoints are 800 m apart; A0 and A1 1000 m apart
    assert d[0, 8] == pytest.approx(800.0, rel=0.02)
    assert d[0, 1] == 0
    assert d.diagonal().sum() == 0


def test_weights_binary_and_distance(segments):
    wb = segment_weights(segments, k_hops=1, distance_m=900.0, kind="binary")
    assert set(np.unique(wb.data)) == {1.0}
    assert (wb.diagonal() == 1).all()
    assert wb[0, 8] == 1.0 and wb[0, 1] == 1.0 and wb[0, 2] == 0
    wd = segment_weights(segments, k_hops=1, distance_m=900.0, kind="distance")
    assert wd[0, 1] == 1.0  # network neighbour
    assert 0 < wd[0, 8] < 0.2  # spatial taper 1 - 800/900
    assert (wd != wd.T).nnz == 0
    with pytest.raises(ValueError, match="quadratic"):
        segment_weights(segments, kind="quadratic")  # type: ignore[arg-type]


def _esda_zs(y: np.ndarray, w: sparse.csr_matrix) -> np.ndarray:
    esda = pytest.importorskip("esda")
    from libpysal.weights import WSP

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W = WSP(sparse.csr_matrix(w)).to_W(silence_warnings=True)
        g = esda.G_Local(y, W, star=True, transform="B", permutations=0)
    return np.asarray(g.Zs)


def test_gi_star_matches_esda(segments):
    rng = np.random.default_rng(7)
    y = rng.gamma(1.0, 1.0, len(segments))
    y[2:5] += 6.0  # a hot stretch on road A
    w = segment_weights(segments, k_hops=2, distance_m=1200.0, kind="binary")
    z, p = gi_star(y, w)
    assert np.max(np.abs(z - _esda_zs(y, w))) < 1e-9
    assert np.argmax(z) in (2, 3, 4)
    assert np.allclose(p, 1 - __import__("scipy").stats.norm.cdf(z))


def test_gi_star_matches_esda_larger_random():
    rng = np.random.default_rng(3)
    n = 400
    xy = rng.uniform(0, 20_000, (n, 2))
    d = spatial_adjacency(xy, 1500.0)
    w = (d.astype(bool) + sparse.identity(n, format="csr")).astype(float).tocsr()
    y = rng.poisson(0.4, n).astype(float)
    z, _ = gi_star(y, w)
    assert np.max(np.abs(z - _esda_zs(y, w))) < 1e-9


def test_gi_star_distance_weights_formula():
    # direct dense Ord-Getis Gi* with general (non-binary) weights
    rng = np.random.default_rng(11)
    n = 30
    w = rng.uniform(0, 1, (n, n)) * (rng.uniform(0, 1, (n, n)) < 0.2)
    w = np.maximum(w, w.T)
    np.fill_diagonal(w, 1.0)
    x = rng.normal(5, 2, n)
    xbar, s = x.mean(), x.std()
    wi, s1 = w.sum(1), (w**2).sum(1)
    expect = (w @ x - xbar * wi) / (s * np.sqrt((n * s1 - wi**2) / (n - 1)))
    z, _ = gi_star(x, sparse.csr_matrix(w))
    assert np.allclose(z, expect, atol=1e-12)


def test_gi_star_constant_values_and_shape_error():
    w = sparse.identity(4, format="csr")
    z, p = gi_star(np.ones(4), w)
    assert (z == 0).all() and np.allclose(p, 0.5)
    with pytest.raises(ValueError, match="does not match"):
        gi_star(np.ones(3), w)


def test_hot_clusters_groups_and_orders(segments):
    y = np.zeros(len(segments))
    y[[1, 2, 3]] = [4.0, 6.0, 4.0]  # strong stretch on A
    y[[15, 16]] = [5.0, 4.0]  # weaker stretch on C
    w = segment_weights(segments, k_hops=1, distance_m=0)
    z, p = gi_star(y, w)
    clusters = hot_clusters(w, z, p, y, alpha=0.1)
    assert len(clusters) == 2
    assert set(clusters[0]) == {1, 2, 3}
    assert clusters[0][0] == 2  # strongest first within a cluster
    assert set(clusters[1]) == {15, 16}
    assert hot_clusters(w, z, p, np.zeros_like(y)) == []
