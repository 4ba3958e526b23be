"""Region-scale dispatch and hotspot benchmarks (issue 14), at 200,000 km and at demo scale.

Regions: the demo region (``data/region``, 61 units) and a generated one
(:func:`tests.benchmarks.region_gen.make_region`: 200,000 km, 600 units; ``--quick``: 20,000 km,
60 units). Conditions on 10 % of the segments. Every row is measured against today's code path
in the same run, on the same data (frozen copies: tests/benchmarks/dispatch_v0.py,
tests/benchmarks/hotspots_v0.py), and the results are checked equal first.

Rows, per region:

1. ETA matrix units x tasks from scratch: :func:`incidents.dispatch.traveltime.eta_matrix` (core
   graph, :mod:`geo.corepaths`) vs the whole-graph Dijkstra per unit or task node.
2. Recommendation after a new call (units x 2,000 open tasks at region scale): the ETA table of
   the current conditions gets the new task's column (:func:`capable_etas`) and the optimized
   policy is solved (:func:`incidents.dispatch.solver.solve`), vs today's ``recommend`` compute:
   the whole matrix again and the dense assignment. Wall and CPU time (the machine is shared:
   CPU time is what the wall time is on an idle machine). Goal <= 50 ms.
3. Staging ETAs: every duty point to 3,000 demand segments (as ``staging.preposition``).
4. Hotspot refresh over 100k reports: :func:`hotspots_from_evidence` after 1 % of the evidence
   changed and 200 reports came in (weights, Gi* state and cluster shapes kept per region), vs
   the pre-issue function (weights cached, as the application cached them). Goal <= 0.5 s.
   The first call (every cluster described) is its own row.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geo.network import CONDITIONS
from geo.region import Region, load_region
from incidents.dispatch.solver import HORIZON_S, Candidate, solve
from incidents.dispatch.traveltime import capable_etas, eta_matrix
from incidents.fusion.conditions import evidence_frame
from incidents.fusion.hotspots import hotspot_engine, hotspots_from_evidence
from incidents.settings import Settings
from tests.benchmarks import dispatch_v0, hotspots_v0
from tests.benchmarks.harness import result

ROOT = Path(__file__).resolve().parents[2]
TASK_CAPS = ("rescue", "traffic_control", "plow", "grit", "heavy_tow", "medical")
NOW = datetime(2025, 12, 14, 3, 0, tzinfo=UTC)


def _best_cpu(fn: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _paired(ours: Any, base: Any, repeat: int) -> tuple[float, float]:
    """Best wall times of two functions measured in alternation (a shared machine's load hits
    both alike)."""
    t_ours = t_base = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        ours()
        t_ours = min(t_ours, time.perf_counter() - t0)
        t0 = time.perf_counter()
        base()
        t_base = min(t_base, time.perf_counter() - t0)
    return t_ours, t_base


def _regions(quick: bool) -> list[tuple[str, Region, int]]:
    from tests.benchmarks.region_gen import DEFAULT_DIR, make_region

    km, units, tasks = (20_000, 60, 200) if quick else (200_000, 600, 2000)
    t0 = time.perf_counter()
    big = load_region(make_region(DEFAULT_DIR, km=km, units=units, seed=0))
    print(f"[scale] {km:,} km region loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    return [("demo region", load_region(ROOT / "data" / "region"), 300), (f"{km:,} km", big, tasks)]


def _conditions(region: Region, rng: np.random.Generator) -> dict[str, str]:
    seg = region.network.segments["segment_id"].astype(str).to_numpy()
    hit = rng.random(seg.size) < 0.1
    kinds = [c for c in CONDITIONS if c != "clear"]
    return {s: str(c) for s, c in zip(seg[hit], rng.choice(kinds, int(hit.sum())), strict=True)}


def _units(region: Region) -> tuple[np.ndarray, list[str], list[list[str]]]:
    u = region.units
    nodes = region.graph.nearest_nodes(u.geometry.x.to_numpy(), u.geometry.y.to_numpy())
    caps = [
        [c.strip() for c in (v if isinstance(v, str) else ";".join(v)).replace(",", ";").split(";")]
        for v in u["capabilities"]
    ]
    return nodes, u["vehicle_class"].astype(str).tolist(), caps


def _plan_cost(eta: np.ndarray, prio: np.ndarray, pairs: list[tuple[int, int]]) -> float:
    p = np.maximum(prio, 1e-3)
    return float(sum(p[j] * (eta[i, j] - HORIZON_S) for i, j in pairs))


def bench_dispatch(label: str, region: Region, n_tasks: int, quick: bool) -> list[dict[str, Any]]:
    rng = np.random.default_rng(14)
    g = region.graph
    cond = _conditions(region, rng)
    u_nodes, classes, caps = _units(region)
    n_new = 6
    t_nodes = rng.choice(g.n_nodes, n_tasks + n_new, replace=False).astype(np.int64)
    kinds = [str(k) for k in rng.choice(TASK_CAPS, n_tasks + n_new)]
    prio = rng.uniform(5, 300, n_tasks + n_new)
    cands = [
        Candidate(f"U{i}", c, frozenset(caps[i]), int(u_nodes[i])) for i, c in enumerate(classes)
    ]
    n_u = len(classes)
    rows: list[dict[str, Any]] = []

    # 1. the whole matrix from scratch (both paths warmed: pair times and core graph per class,
    # which the application keeps per conditions)
    ours_m = eta_matrix(g, u_nodes, classes, t_nodes[:n_tasks], cond)
    reps = 15 if n_u * n_tasks < 100_000 else 1
    base_m = dispatch_v0.eta_matrix(g, u_nodes, classes, t_nodes[:n_tasks], cond)
    t_ours, t_base = _paired(
        lambda: eta_matrix(g, u_nodes, classes, t_nodes[:n_tasks], cond),
        lambda: dispatch_v0.eta_matrix(g, u_nodes, classes, t_nodes[:n_tasks], cond),
        reps,
    )
    fin = np.isfinite(base_m)
    assert np.array_equal(np.isfinite(ours_m), fin), "core-graph ETAs reach other pairs"
    assert np.allclose(ours_m[fin], base_m[fin], rtol=1e-9), "core-graph ETAs differ"
    rows.append(
        result(
            f"ETA matrix {n_u} units x {n_tasks} tasks from scratch, {label}",
            t_ours,
            "s",
            "Dijkstra on the whole graph per unit or task node (same ETAs)",
            t_base,
            "not slower (within 10 % run-to-run noise)",
            t_ours <= 1.1 * t_base,
        )
    )

    # 2. a new call: the table of these conditions gets one column, then the assignment
    capable_etas(g, u_nodes, classes, caps, t_nodes[:n_tasks], kinds[:n_tasks], cond)
    k = [n_tasks]

    def ours() -> list[tuple[int, int]]:
        k[0] += 1
        n = k[0]
        eta = capable_etas(g, u_nodes, classes, caps, t_nodes[:n], kinds[:n], cond)
        return solve(eta, cands, kinds[:n], prio[:n])

    walls, cpus = [], []
    for _ in range(n_new - 1):
        w0, c0 = time.perf_counter(), time.process_time()
        pairs = ours()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    n = k[0]

    def baseline() -> list[tuple[int, int]]:
        eta = dispatch_v0.eta_matrix(g, u_nodes, classes, t_nodes[:n], cond)
        return dispatch_v0.solve_optimized(eta, cands, kinds[:n], prio[:n])

    w0, c0 = time.perf_counter(), time.process_time()
    base_pairs = baseline()
    base_wall, base_cpu = time.perf_counter() - w0, time.process_time() - c0
    eta_full = dispatch_v0.eta_matrix(g, u_nodes, classes, t_nodes[:n], cond)
    assert abs(
        _plan_cost(eta_full, prio[:n], pairs) - _plan_cost(eta_full, prio[:n], base_pairs)
    ) <= (1e-9 * abs(_plan_cost(eta_full, prio[:n], base_pairs)) + 1e-6), (
        "the incremental recommendation is not as good as today's"
    )
    what = f"recommendation after a new call, {n_u} units x {n} tasks, {label}"
    base_name = "today: whole ETA matrix again + dense assignment"
    rows += [
        result(
            what + ", wall",
            min(walls) * 1000,
            "ms",
            base_name,
            base_wall * 1000,
            "<= 50 ms",
            min(walls) <= 0.050,
        ),
        result(
            what + ", CPU",
            min(cpus) * 1000,
            "ms",
            base_name + " (CPU)",
            base_cpu * 1000,
            "<= 50 ms",
            min(cpus) <= 0.050,
        ),
    ]

    # 3. staging: every duty point to the demand segments
    dps = region.duty_points
    dp_nodes = g.nearest_nodes(dps.geometry.x.to_numpy(), dps.geometry.y.to_numpy())
    segs = region.network.segments
    pick = rng.choice(len(segs), min(3000, len(segs)), replace=False)
    mids = shapely.line_interpolate_point(
        np.asarray(segs.geometry.iloc[pick].to_numpy()), 0.5, normalized=True
    )
    seg_nodes = g.nearest_nodes(shapely.get_x(mids), shapely.get_y(mids))
    pc = ["patrol_car"] * len(dp_nodes)
    base_s = dispatch_v0.eta_matrix(g, dp_nodes, pc, seg_nodes, cond)
    reps = 15 if len(dp_nodes) * len(seg_nodes) < 200_000 else 1
    t_ours, t_base = _paired(
        lambda: eta_matrix(g, dp_nodes, pc, seg_nodes, cond),
        lambda: dispatch_v0.eta_matrix(g, dp_nodes, pc, seg_nodes, cond),
        reps,
    )
    ours_s = eta_matrix(g, dp_nodes, pc, seg_nodes, cond)
    fin = np.isfinite(base_s)
    assert np.allclose(ours_s[fin], base_s[fin], rtol=1e-9) and not np.isfinite(ours_s[~fin]).any()
    rows.append(
        result(
            f"staging ETAs {len(dp_nodes)} duty points x {len(seg_nodes)} segments, {label}",
            t_ours,
            "s",
            "Dijkstra on the whole graph per duty point or segment node",
            t_base,
            "not slower (within 10 % run-to-run noise)",
            t_ours <= 1.1 * t_base,
        )
    )
    return rows


def _evidence(region: Region, n: int, rng: np.random.Generator, first_id: int = 1) -> pd.DataFrame:
    """`n` reports on the region's segments, a third on a few stretches, as evidence rows."""
    segs = region.network.segments
    n_seg = len(segs)
    idx = rng.integers(0, n_seg, n)
    hot = rng.random(n) < 0.33
    centres = rng.integers(0, max(n_seg - 8, 1), 40)
    idx[hot] = centres[rng.integers(0, 40, hot.sum())] + rng.integers(0, 8, hot.sum())
    kinds = rng.choice(["drone_detection", "waze", "call", "patrol"], n, p=[0.4, 0.3, 0.2, 0.1])
    sub = np.where(
        kinds == "drone_detection",
        rng.choice(["black_ice", "snow_drift", "snow_packed", "whiteout"], n),
        np.where(
            kinds == "waze",
            "HAZARD_ON_ROAD_ICE",
            np.where(kinds == "call", "stranded_vehicle", "clear"),
        ),
    )
    rep = pd.DataFrame(
        {
            "id": np.arange(first_id, first_id + n),
            "kind": kinds,
            "subtype": sub,
            "confidence": rng.uniform(0.5, 1.0, n),
            "observed_at": [NOW - timedelta(minutes=float(m)) for m in rng.uniform(0, 600, n)],
            "attributes": [{"type": "WEATHERHAZARD"} if k == "waze" else {} for k in kinds],
            "segment_id": segs["segment_id"].astype(str).to_numpy()[idx],
        }
    )
    return evidence_frame(rep, Settings.from_env({}), NOW)


def bench_hotspots(label: str, region: Region, n_reports: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(15)
    ev = _evidence(region, n_reports, rng)
    t0 = time.perf_counter()
    engine = hotspot_engine(region)
    t_weights = time.perf_counter() - t0
    hotspots_v0.hotspot_weights(region)  # the old path cached its weights too
    t0 = time.perf_counter()
    first = hotspots_from_evidence(region, ev)
    t_first = time.perf_counter() - t0
    # a refresh: 1 % of the evidence aged, 200 new reports
    ev2 = ev.copy()
    aged = rng.random(len(ev2)) < 0.01
    ev2.loc[aged, "weight"] = ev2.loc[aged, "weight"] * 0.8
    ev2 = pd.concat([ev2, _evidence(region, 200, rng, first_id=10_000_000)], ignore_index=True)
    ev3 = ev2.copy()
    ev3.loc[rng.random(len(ev3)) < 0.01, "weight"] *= 0.9

    walls, cpus = [], []
    for frame in (ev2, ev3, ev2, ev3):
        w0, c0 = time.perf_counter(), time.process_time()
        got = hotspots_from_evidence(region, frame)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    w0, c0 = time.perf_counter(), time.process_time()
    old = hotspots_v0.hotspots_from_evidence(region, ev3)
    base_wall, base_cpu = time.perf_counter() - w0, time.process_time() - c0
    assert got["segment_ids"].tolist() == old["segment_ids"].tolist(), "hotspots differ"
    assert got["reason"].tolist() == old["reason"].tolist(), "hotspot reasons differ"
    assert np.allclose(got["z"].to_numpy(float), old["z"].to_numpy(float), rtol=1e-9)
    print(
        f"[scale] hotspots {label}: {len(got)} hotspots, weights built in {t_weights:.1f} s "
        f"({engine.w.nnz} weights), first call {t_first:.2f} s ({len(first)} clusters described)",
        flush=True,
    )
    what = f"hotspot refresh {n_reports // 1000}k reports ({len(got)} hotspots), {label}"
    base = "pre-issue hotspots_from_evidence (weights cached)"
    return [
        result(what + ", wall", min(walls), "s", base, base_wall, "<= 0.5 s", min(walls) <= 0.5),
        result(
            what + ", CPU", min(cpus), "s", base + " (CPU)", base_cpu, "<= 0.5 s", min(cpus) <= 0.5
        ),
        result(
            f"hotspots first call (every cluster described), {label}",
            t_first,
            "s",
            base,
            base_wall,
            "informational",
            True,
        ),
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Region-scale dispatch and hotspot rows (``quick``: a 20,000 km region, 10k reports)."""
    rows: list[dict[str, Any]] = []
    for label, region, n_tasks in _regions(quick):
        rows += bench_dispatch(label, region, n_tasks, quick)
        rows += bench_hotspots(label, region, 10_000 if quick else 100_000)
    return rows
