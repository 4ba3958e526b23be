"""Bounded searches on the road graph (issue 14): the nearest free unit within a time limit."""

from __future__ import annotations

import numpy as np

from geo.region import load_region
from tests.conftest import REPO_ROOT


def test_nearest_source_within_a_limit_is_the_whole_search_cut_at_the_limit() -> None:
    region = load_region(REPO_ROOT / "data" / "region")
    graph = region.graph
    units = region.units
    nodes = graph.nearest_nodes(units.geometry.x.to_numpy(), units.geometry.y.to_numpy())
    conditions = {str(graph.segment_ids[i]): "snow_packed" for i in range(0, 200, 3)}
    full_t, full_i = graph.nearest_source(nodes[::4], "plow", conditions)
    limit = 1200.0
    t, i = graph.nearest_source(nodes[::4], "plow", conditions, limit_s=limit)
    near = full_t <= limit
    assert near.any() and (~near & np.isfinite(full_t)).any()  # the limit cuts something
    assert np.array_equal(t[near], full_t[near]) and np.array_equal(i[near], full_i[near])
    assert np.isinf(t[~near]).all() and (i[~near] == -1).all()
