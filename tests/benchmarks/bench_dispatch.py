"""Dispatch benchmarks.

1. New call -> recommendation at 200 units x 200 open tasks on a 50k-node synthetic network
   (goal <= 20 ms): the new task's reverse Dijkstra per capable vehicle class
   (:class:`incidents.dispatch.traveltime.TravelCache`, the other tasks' rows cached) plus the optimal
   assignment over all 201 tasks, against the same computation with networkx Dijkstra.
2. Outcome on the demo storm: ``optimized`` against ``closest`` in one run (goals: >= 25 %
   lower priority-weighted mean time to first unit, >= 25 % fewer cold-exposure person-hours,
   optimized within 1.3x of the lower bound). Quick mode replays the first 24 hours (through the night peak).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from incidents.dispatch import Candidate, TravelCache, solve
from incidents.replay.simulate import simulate
from incidents.settings import Settings
from tests.benchmarks.bench_geo import _grid_graph
from tests.benchmarks.harness import best_of, result

ROOT = Path(__file__).resolve().parents[2]
CLASSES = {
    "patrol_car": ("traffic_control",),
    "plow": ("plow", "grit"),
    "grit_spreader": ("grit",),
    "heavy_tow": ("heavy_tow",),
    "rescue": ("rescue", "traffic_control"),
    "ambulance": ("medical", "rescue"),
}
TASK_CAPS = ("rescue", "traffic_control", "plow", "grit", "heavy_tow", "medical")


def bench_recommend(quick: bool) -> list[dict[str, Any]]:
    rng = np.random.default_rng(6)
    side = 71 if quick else 224  # 5k or 50k nodes
    graph, conditions = _grid_graph(side, rng)
    n_units = n_tasks = 60 if quick else 200
    classes = list(rng.choice(list(CLASSES), n_units, p=[0.35, 0.2, 0.1, 0.1, 0.15, 0.1]))
    unit_nodes = rng.choice(graph.n_nodes, n_units, replace=False).astype(np.int64)
    unit_caps = [set(CLASSES[c]) for c in classes]
    cands = [
        Candidate(f"U{i}", c, frozenset(unit_caps[i]), int(unit_nodes[i]))
        for i, c in enumerate(classes)
    ]
    task_nodes = [int(n) for n in rng.choice(graph.n_nodes, n_tasks + 1, replace=False)]
    task_caps = [str(c) for c in rng.choice(TASK_CAPS, n_tasks + 1)]
    task_caps[-1] = "rescue"  # the new call: a stranded group needs rescue first
    prio = rng.uniform(5, 300, n_tasks + 1)
    keys = list(range(n_tasks + 1))
    cache = TravelCache(graph, conditions)
    t0 = time.perf_counter()
    cache.etas(keys[:-1], task_nodes[:-1], task_caps[:-1], unit_nodes, classes, unit_caps)
    warm_s = time.perf_counter() - t0

    def ours() -> list[tuple[int, int]]:
        cache.forget(keys[-1])  # the new task is new every time
        eta = cache.etas(keys, task_nodes, task_caps, unit_nodes, classes, unit_caps)
        return solve(eta, cands, task_caps, prio)

    # the same with networkx: reverse Dijkstra for the new task per capable class, same solver
    rev = {}
    for vc in {c for c, caps in zip(classes, unit_caps, strict=True) if "rescue" in caps}:
        m = graph.matrix(vc, conditions, reverse=True).tocoo()
        g = nx.DiGraph()
        g.add_nodes_from(range(graph.n_nodes))
        g.add_weighted_edges_from(zip(m.row.tolist(), m.col.tolist(), m.data.tolist(), strict=True))
        rev[vc] = g
    old = cache.etas(keys[:-1], task_nodes[:-1], task_caps[:-1], unit_nodes, classes, unit_caps)

    def baseline() -> list[tuple[int, int]]:
        # the same bounded search (radius doubling until 3 capable units are reached)
        col = np.full(n_units, np.inf)
        for vc, g in rev.items():
            rows = [i for i in range(n_units) if classes[i] == vc and "rescue" in unit_caps[i]]
            limit = cache.first_limit_s
            while True:
                d = nx.single_source_dijkstra_path_length(g, task_nodes[-1], cutoff=limit)
                hit = sum(int(unit_nodes[i]) in d for i in rows)
                if hit >= min(cache.min_units, len(rows)) or limit >= cache.limit_s:
                    break
                limit = min(limit * 2, cache.limit_s)
            for i in rows:
                col[i] = d.get(int(unit_nodes[i]), np.inf)
        eta = np.hstack([old, col[:, None]])
        return solve(eta, cands, task_caps, prio)

    assert sorted(ours()) == sorted(baseline()), "networkx and scipy disagree"
    t_ours = best_of(ours, repeat=7)
    t_base = best_of(baseline, repeat=2)
    label = f"{n_units} units x {n_tasks} tasks, {graph.n_nodes // 1000}k nodes"
    return [
        result(
            f"new call -> recommendation, {label} (cache warmed in {warm_s:.1f} s)",
            t_ours * 1000,
            "ms",
            "networkx Dijkstra + same assignment",
            t_base * 1000,
            "<= 20 ms",
            t_ours <= 0.020,
        )
    ]


def _truncated(hours: float, folder: Path) -> Path:
    src = ROOT / "data" / "scenarios" / "demo-storm"
    m = json.loads((src / "manifest.json").read_text(encoding="utf-8"))
    m["duration_h"] = hours
    m["region"] = str((src / m["region"]).resolve())
    for f in m["feeds"]:
        f["file"] = str(src / f["file"])
    (folder / "manifest.json").write_text(json.dumps(m, ensure_ascii=False), encoding="utf-8")
    return folder


def bench_outcome(quick: bool) -> list[dict[str, Any]]:
    settings = Settings.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        path = _truncated(24.0, Path(tmp)) if quick else ROOT / "data" / "scenarios" / "demo-storm"
        t0 = time.perf_counter()
        closest = simulate(path, "closest", settings=settings).metrics
        optimized = simulate(path, "optimized", settings=settings).metrics
        wall = time.perf_counter() - t0
    span = "first 24 h of the demo storm" if quick else "demo storm (48 h)"
    pw_c, pw_o = closest["ttfu_priority_weighted_min"], optimized["ttfu_priority_weighted_min"]
    ph_c, ph_o = closest["cold_exposure_person_hours"], optimized["cold_exposure_person_hours"]
    ratio = optimized["ratio_to_lower_bound"]
    print(
        f"[dispatch] {span}, both policies replayed in {wall:.0f} s\n"
        f"  priority-weighted TTFU: closest {pw_c} min, optimized {pw_o} min "
        f"({100 * (pw_c - pw_o) / pw_c:.1f} % lower)\n"
        f"  cold exposure: closest {ph_c} person-h, optimized {ph_o} person-h "
        f"({100 * (ph_c - ph_o) / ph_c:.1f} % fewer)\n"
        f"  optimized / lower bound: {ratio} "
        f"(lower bound {optimized['lower_bound_priority_weighted_min']} min; strict bound "
        f"{optimized['strict_lower_bound_priority_weighted_min']} min, ratio "
        f"{optimized['ratio_to_strict_lower_bound']})"
    )
    return [
        result(
            f"priority-weighted mean time to first unit, {span}",
            pw_o,
            "min",
            "closest idle unit, first come first served",
            pw_c,
            ">= 25 % lower",
            pw_o <= 0.75 * pw_c,
        ),
        result(
            f"cold-exposure person-hours, {span}",
            ph_o,
            "person-h",
            "closest idle unit, first come first served",
            ph_c,
            ">= 25 % fewer",
            ph_o <= 0.75 * ph_c,
        ),
        result(
            f"optimized priority-weighted TTFU vs the lower bound, {span}",
            pw_o,
            "min",
            "lower bound: nearest unit at once, no contention",
            optimized["lower_bound_priority_weighted_min"],
            "within 1.3x of the lower bound",
            ratio is not None and ratio <= 1.3,
        ),
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    """All dispatch benchmarks (rows for ``var/bench/results.json``)."""
    return bench_recommend(quick) + bench_outcome(quick)
