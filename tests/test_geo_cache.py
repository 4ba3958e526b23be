"""geo.cache.LockedLRU: LRU order, equality keys, and one shared value per key under threads."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from geo.cache import LockedLRU
from geo.errors import GeoError, ParameterError


def test_least_recently_used_is_evicted_first():
    cache: LockedLRU[str, int] = LockedLRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c"), len(cache)) == (1, 3, 2)
    assert cache.put("a", 99) == 1  # first value kept
    cache.clear()
    assert len(cache) == 0


def test_unhashable_keys_compare_by_equality():
    cache: LockedLRU[tuple[str, dict[str, str] | None], str] = LockedLRU(4)
    cache.put(("car", {"s1": "black_ice"}), "icy")
    assert cache.get(("car", {"s1": "black_ice"})) == "icy"  # an equal copy, not the same dict
    assert cache.get(("car", {"s1": "closed"})) is None
    assert cache.get(("truck", None)) is None


def test_bad_capacity_names_the_value():
    with pytest.raises(ParameterError, match="0") as err:
        LockedLRU(0)
    assert isinstance(err.value, GeoError) and isinstance(err.value, ValueError)


def test_threads_share_one_value_per_key_and_never_exceed_capacity():
    cache: LockedLRU[int, object] = LockedLRU(8)
    start = threading.Barrier(16)
    built = []
    seen_sizes = []

    def build(key: int) -> object:
        value = object()
        built.append(key)
        time.sleep(0.001)  # widen the window in which other threads miss too
        return value

    def worker(t: int) -> list[tuple[int, object]]:
        start.wait()
        out = []
        for i in range(400):
            key = (i + t) % 6  # six keys fit: once built, every thread must share them
            out.append((key, cache.get_or_create(key, lambda k=key: build(k))))
            if i % 50 == 0:
                cache.put(100 + t, object())  # churn: evicts older keys now and then
            seen_sizes.append(len(cache))
        return out

    with ThreadPoolExecutor(16) as pool:
        results = [r for f in [pool.submit(worker, t) for t in range(16)] for r in f.result()]
    assert max(seen_sizes) <= 8
    # whatever a thread got for a key is the value the cache held for it at that time:
    # values handed out for one key are never more than the times it was (re)built
    for key in range(6):
        handed = {id(v) for k, v in results if k == key}
        assert len(handed) <= built.count(key)
    assert cache.hits + cache.misses >= 16 * 400


def test_concurrent_misses_get_the_same_object():
    cache: LockedLRU[str, object] = LockedLRU(4)
    start = threading.Barrier(8)

    def worker() -> object:
        start.wait()
        return cache.get_or_create("graph", lambda: (time.sleep(0.01), object())[1])

    with ThreadPoolExecutor(8) as pool:
        got = [f.result() for f in [pool.submit(worker) for _ in range(8)]]
    assert len({id(g) for g in got}) == 1
    assert cache.get("graph") is got[0]


def test_stored_graph_leaves_out_route_geometry_and_gives_the_same_routes(tmp_path) -> None:  # noqa: ANN001
    """The region cache stores no metric geometry objects (a faster start); routes are equal."""
    from geo.cache import read_cache_file, write_cache_file
    from geo.region import load_region
    from tests.conftest import REPO_ROOT

    graph = load_region(REPO_ROOT / "data" / "region", use_cache=False).graph
    sid = str(graph.segment_ids[5])
    conditions = {sid: ["snow_packed", "black_ice"], str(graph.segment_ids[9]): "closed"}
    assert write_cache_file(tmp_path / "g.pkl", "k", graph)
    back = read_cache_file(tmp_path / "g.pkl", "k")
    assert back is not None and back is not graph
    assert back.__dict__["_metric_geoms"] is None and back.__dict__["_seg_index_map"] is None
    assert back.segment_index(sid) == graph.segment_index(sid) == 5
    assert (back.edge_times("plow", conditions) == graph.edge_times("plow", conditions)).all()
    a, b = 0, graph.n_nodes - 1
    for vc in ("plow", "patrol_car"):
        line, secs = back.route(a, b, vc, conditions)
        line0, secs0 = graph.route(a, b, vc, conditions)
        assert secs == secs0 and line.equals_exact(line0, 0.0)
    assert back.__dict__["_metric_geoms"] is not None  # built on first use
