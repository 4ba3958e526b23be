"""Core-graph travel times (geo.corepaths) against Dijkstra on the whole graph.

Random road-like graphs (junctions joined by chains of degree-2 nodes, one-way pieces, closed
pieces, parallel chains, a chain from a junction back to itself, rings without any junction,
isolated nodes), the demo region under conditions, and a generated region; then the units x
tasks table kept between calls (what a new call or a moved unit searches) and the sparse
optimized solver against the dense one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from geo.corepaths import CoreGraph
from geo.region import Region, load_region
from incidents.dispatch import solver
from incidents.dispatch.solver import Candidate, solve
from incidents.dispatch.traveltime import capable_etas, eta_matrix

REGION = Path(__file__).resolve().parents[1] / "data" / "region"


def _road_like(seed: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Directed pairs (sorted, unique) and their times of a random road-like graph."""
    rng = np.random.default_rng(seed)
    n_j = 30
    edges: dict[tuple[int, int], float] = {}
    n = n_j

    def piece(a: int, b: int) -> None:
        mode = rng.choice(["both", "both", "both", "fwd", "bwd"])
        for u, v, ok in ((a, b, mode != "bwd"), (b, a, mode != "fwd")):
            if ok:
                t = float(rng.uniform(20, 200)) if rng.random() > 0.05 else np.inf
                edges[(u, v)] = min(edges.get((u, v), np.inf), t)

    def chain(a: int, b: int, k: int) -> None:
        nonlocal n
        seq = [a, *range(n, n + k), b]
        n += k
        for u, v in zip(seq, seq[1:], strict=False):
            piece(u, v)

    for _ in range(45):  # junction to junction, most through a chain
        a, b = (int(x) for x in rng.choice(n_j, 2, replace=False))
        chain(a, b, int(rng.integers(0, 6)))
    chain(3, 7, 4)  # parallel chains between the same junctions
    chain(3, 7, 2)
    chain(5, 5, 4)  # from a junction back to itself
    ring = list(range(n, n + 6))  # a ring without any junction
    n += 6
    for u, v in zip(ring, ring[1:] + ring[:1], strict=True):
        piece(u, v)
    n += 3  # isolated nodes
    keys = sorted(edges)
    pf = np.array([k[0] for k in keys], dtype=np.int64)
    pt = np.array([k[1] for k in keys], dtype=np.int64)
    times = np.array([edges[k] for k in keys])
    return n, pf, pt, times


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_core_times_equal_dijkstra_on_random_road_graphs(seed: int) -> None:
    n, pf, pt, times = _road_like(seed)
    core = CoreGraph(n, pf, pt)
    assert 0 < core.n_core < n  # chains were contracted
    w = core.weights(times)
    full = sp.csr_matrix((times, (pf, pt)), shape=(n, n))
    ref = dijkstra(full, directed=True)
    nodes = np.arange(n)
    got = w.many_to_many(nodes, nodes)  # as many sources as targets: forward searches
    fin = np.isfinite(ref)
    assert np.array_equal(np.isfinite(got), fin)
    assert np.allclose(got[fin], ref[fin], rtol=1e-12, atol=1e-9)
    # fewer targets than sources: reverse searches, duplicates kept in place
    dst = np.array([4, 4, n - 1, 40, 0])
    back = w.many_to_many(nodes, dst)
    rf = ref[:, dst]
    assert np.array_equal(np.isfinite(back), np.isfinite(rf))
    assert np.allclose(back[np.isfinite(rf)], rf[np.isfinite(rf)], rtol=1e-12, atol=1e-9)
    # a limit cuts exactly where Dijkstra's does
    lim = float(np.nanmedian(ref[fin]))
    cut = w.many_to_many(nodes[:20], nodes, limit=lim)
    want = np.where(ref[:20] <= lim, ref[:20], np.inf)
    assert np.array_equal(np.isfinite(cut), np.isfinite(want))


@pytest.fixture(scope="module")
def demo() -> Region:
    return load_region(REGION)


@pytest.mark.parametrize("vc", ["patrol_car", "heavy_tow", "plow"])
def test_eta_between_equals_one_to_all_dijkstra_on_the_demo_region(demo: Region, vc: str) -> None:
    g = demo.graph
    rng = np.random.default_rng(7)
    seg = demo.network.segments["segment_id"].to_numpy()
    conditions = {
        str(s): str(c)
        for s, c in zip(
            rng.choice(seg, 250, replace=False),
            rng.choice(["black_ice", "snow_packed", "drifting_snow", "closed"], 250),
            strict=True,
        )
    }
    assert g.core.n_core < g.n_nodes / 20  # the demo is mostly chains
    for cond in (None, conditions):
        units = rng.integers(0, g.n_nodes, 30)
        tasks = rng.integers(0, g.n_nodes, 80)
        got = g.eta_between(units, tasks, vc, cond, limit_s=4 * 3600.0, method="core")
        for i, u in enumerate(units):
            ref = g.travel_times_from(int(u), vc, cond)[tasks]
            ref = np.where(ref <= 4 * 3600.0, ref, np.inf)
            assert np.array_equal(np.isfinite(got[i]), np.isfinite(ref))
            ok = np.isfinite(ref)
            assert np.allclose(got[i][ok], ref[ok], rtol=1e-9)
        # more sources than targets: searches backward from the tasks
        back = g.eta_between(tasks, units[:5], vc, cond, method="core")
        for j, u in enumerate(units[:5]):
            ref = g.travel_times_to(int(u), vc, cond)[tasks]
            ok = np.isfinite(ref)
            assert np.array_equal(np.isfinite(back[:, j]), ok)
            assert np.allclose(back[:, j][ok], ref[ok], rtol=1e-9)


def test_eta_between_on_a_generated_region_for_sampled_pairs(tmp_path: Path) -> None:
    from tests.benchmarks.region_gen import make_region

    folder = make_region(tmp_path, km=8_000, units=40, seed=3)
    region = load_region(folder)
    g = region.graph
    rng = np.random.default_rng(11)
    units = g.nearest_nodes(region.units.geometry.x.to_numpy(), region.units.geometry.y.to_numpy())
    tasks = rng.integers(0, g.n_nodes, 60)
    classes = region.units["vehicle_class"].astype(str).tolist()
    got = eta_matrix(g, units, classes, tasks)
    for i in rng.choice(len(units), 8, replace=False):
        ref = g.travel_times_from(int(units[i]), classes[i])[tasks]
        ref = np.where(ref <= 12 * 3600.0, ref, np.inf)
        ok = np.isfinite(ref)
        assert np.array_equal(np.isfinite(got[i]), ok)
        assert np.allclose(got[i][ok], ref[ok], rtol=1e-9)


def test_eta_table_searches_only_the_new_call_and_the_moved_unit(demo: Region) -> None:
    g = demo.graph
    rng = np.random.default_rng(3)
    classes = ["patrol_car", "plow", "rescue", "ambulance"] * 10
    caps = [{"traffic_control"}, {"plow", "grit"}, {"rescue"}, {"medical", "rescue"}] * 10
    units = rng.integers(0, g.n_nodes, 40)
    tasks = rng.integers(0, g.n_nodes, 70)
    kinds = [str(k) for k in rng.choice(["traffic_control", "plow", "rescue", "medical"], 70)]
    cond = {str(demo.network.segments["segment_id"].iloc[5]): "closed"}
    kinds[-1] = "rescue"  # the new call: served by rescue and ambulance units
    eta0 = capable_etas(g, units, classes, caps, tasks[:-1], kinds[:-1], cond, table_min_nodes=0)
    table = g.eta_table(cond, 12 * 3600.0)
    full = eta_matrix(g, units, classes, tasks, cond)
    able = np.array([[k in c for k in kinds] for c in caps])
    ok0 = able[:, :-1] & np.isfinite(full[:, :-1])
    assert np.array_equal(np.isfinite(eta0) & able[:, :-1], ok0)
    known0 = np.isfinite(eta0)  # capable pairs, and a few more known through shared nodes
    assert np.allclose(eta0[known0], full[:, :-1][known0], rtol=1e-9)
    before = table.searches  # two classes serve the new call: one search each
    eta1 = capable_etas(g, units, classes, caps, tasks, kinds, cond, table_min_nodes=0)
    assert table.searches - before == 2
    ok = able & np.isfinite(full)
    assert np.allclose(eta1[ok], full[ok], rtol=1e-9)
    assert np.isfinite(eta1[~able]).mean() < 0.1  # incapable pairs are not searched
    assert not eta1.flags.writeable
    # a unit moves: one search, the rest is carried over
    moved = units.copy()
    moved[7] = (moved[7] + 101) % g.n_nodes
    before = table.searches
    eta2 = capable_etas(g, moved, classes, caps, tasks, kinds, cond, table_min_nodes=0)
    assert table.searches - before == 1
    full2 = eta_matrix(g, moved, classes, tasks, cond)
    ok2 = able & np.isfinite(full2)
    assert np.allclose(eta2[ok2], full2[ok2], rtol=1e-9)
    # the same call again searches nothing; tasks in another order read the same times
    before = table.searches
    again = capable_etas(g, moved, classes, caps, tasks, kinds, cond, table_min_nodes=0)
    assert table.searches == before
    assert np.array_equal(again, eta2)
    order = rng.permutation(tasks.size)
    shuffled = capable_etas(g, moved, classes, caps, tasks[order], [kinds[j] for j in order], cond)
    assert table.searches == before
    want = eta2[:, order]
    assert np.allclose(shuffled[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-12)
    seen = np.isfinite(shuffled)  # and pairs known through a task node seen twice
    assert np.allclose(shuffled[seen], full2[:, order][seen], rtol=1e-9)
    # other conditions: another table, other times
    other = capable_etas(g, moved, classes, caps, tasks, kinds, None, table_min_nodes=0)
    assert g.eta_table(None, 12 * 3600.0) is not table
    assert np.allclose(other[ok2], eta_matrix(g, moved, classes, tasks)[ok2], rtol=1e-9)
    # the demo-sized default: the whole matrix, every pair (as before the table)
    small = capable_etas(g, moved, classes, caps, tasks, kinds, cond)
    assert np.array_equal(small, full2)


def test_eta_between_methods_agree_and_check_their_input(demo: Region) -> None:
    g = demo.graph
    units = np.arange(0, g.n_nodes, 97)
    tasks = np.arange(3, g.n_nodes, 41)
    core = g.eta_between(units, tasks, "plow", method="core")
    full = g.eta_between(units, tasks, "plow", method="full")
    ok = np.isfinite(full)
    assert np.array_equal(np.isfinite(core), ok) and ok.mean() > 0.3
    assert np.allclose(core[ok], full[ok], rtol=1e-9)
    with pytest.raises(ValueError, match="unknown search method 'fast'"):
        g.eta_between(units, tasks, "plow", method="fast")
    with pytest.raises(ValueError, match=str(g.n_nodes + 5)):
        g.eta_between([g.n_nodes + 5], tasks, "plow")


def _instance(seed: int, n_u: int, n_t: int) -> tuple:
    rng = np.random.default_rng(seed)
    ux, uy = rng.uniform(0, 2000, n_u), rng.uniform(0, 600, n_u)
    tx, ty = rng.uniform(0, 2000, n_t), rng.uniform(0, 600, n_t)
    eta = np.hypot(ux[:, None] - tx[None], uy[:, None] - ty[None]) / 80 * 3600
    eta[eta > 12 * 3600] = np.inf
    caps = ["rescue", "plow", "grit", "traffic_control", "heavy_tow", "medical"]
    kinds = [str(c) for c in rng.choice(caps, n_t)]
    cur = -np.ones(n_u, dtype=int)
    busy = rng.choice(n_u, n_u // 5, replace=False)
    cur[busy] = rng.choice(n_t, busy.size, replace=False)
    cands = [
        Candidate(
            f"U{i}",
            "patrol_car",
            frozenset(rng.choice(caps, 2, replace=False).tolist())
            | ({kinds[cur[i]]} if cur[i] >= 0 else set()),
            i,
            short_only=bool(rng.random() < 0.1),
            current_task=int(cur[i]),
        )
        for i in range(n_u)
    ]
    return eta, cands, kinds, rng.uniform(5, 300, n_t)


def _plan_cost(eta, cands, prio, pairs) -> float:
    p = np.maximum(prio, 1e-3)
    chosen = dict(pairs)
    total = 0.0
    for i, c in enumerate(cands):
        j = chosen.get(i, c.current_task)
        if j < 0:
            continue
        e = eta[i, j] if np.isfinite(eta[i, j]) else 0.0
        total += p[j] * (e - solver.HORIZON_S)
        if j == c.current_task:
            total -= p[j] * solver.KEEP_THRESHOLD_S
    return total


@pytest.mark.parametrize(("seed", "n_u", "n_t"), [(0, 600, 2000), (1, 300, 900), (2, 90, 3000)])
def test_sparse_optimized_solver_finds_the_dense_optimum(
    monkeypatch: pytest.MonkeyPatch, seed: int, n_u: int, n_t: int
) -> None:
    eta, cands, kinds, prio = _instance(seed, n_u, n_t)
    assert n_u * n_t >= solver.SPARSE_MIN_PAIRS
    sparse_pairs = solve(eta, cands, kinds, prio)
    monkeypatch.setattr(solver, "SPARSE_MIN_PAIRS", 10**12)
    dense_pairs = solve(eta, cands, kinds, prio)
    assert len(sparse_pairs) == len(dense_pairs) > 0
    assert _plan_cost(eta, cands, prio, sparse_pairs) == pytest.approx(
        _plan_cost(eta, cands, prio, dense_pairs), rel=1e-12
    )
    ok = solver.feasible_mask(eta, cands, kinds)
    assert all(ok[i, j] for i, j in sparse_pairs)
    assert len({j for _, j in sparse_pairs}) == len(sparse_pairs)
