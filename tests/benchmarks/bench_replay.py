"""Demo storm replay (issue 14): both policies, today's replay vs the pre-issue one, same run.

Each replay (``incidents.replay.simulate.simulate`` on ``data/scenarios/demo-storm``, 48 h,
5-minute steps) runs in a fresh interpreter, the new and the frozen pre-issue replay
(``tests/benchmarks/simulate_v0.py``) alternately, so both meet the same machine load. The
results are checked first: the metrics (without the timings), the time series and the
per-incident rows of both must be equal, else the bench fails.

Rows: wall and CPU seconds for the two policies together (the sum of the per-policy best of
`runs`), and the wall seconds of each part of the new replay (ingest, fuse, dispatch, events)
for context. The machine is shared: CPU time is what the wall time would be on an idle one.
Goal: both policies <= 15 s (the issue: 144 s before, at least 10x faster).

Run: ``.venv/bin/python -m tests.benchmarks bench_replay`` (``--quick``: one run each).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.benchmarks.harness import result

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "data" / "scenarios" / "demo-storm"
POLICIES = ("closest", "optimized")
GOAL_S = 15.0

_RUN = """
import json, sys, time
from geo.region import load_region
from incidents.replay.scenario import load_scenario
module, policy, scenario = sys.argv[1:4]
mod = __import__(module, fromlist=["simulate"])
sc = load_scenario(scenario)
region = load_region(sc.region_dir)
t0, c0 = time.perf_counter(), time.process_time()
r = mod.simulate(scenario, policy, region=region)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
timings = r.metrics.pop("timings_s", {})
out = {"wall_s": wall, "cpu_s": cpu, "timings": timings,
       "result": {"metrics": r.metrics, "series": r.series, "incidents": r.incidents}}
print(json.dumps(out, default=str, sort_keys=True))
"""


def replay_once(module: str, policy: str, scenario: Path = SCENARIO) -> dict[str, Any]:
    """Replay `scenario` with `policy` using `module`'s ``simulate`` in a fresh interpreter.

    Returns
    -------
    dict
        ``wall_s``, ``cpu_s`` (the replay only, the region already loaded), ``timings`` (the
        replay's own split) and ``result`` (metrics, series and incident rows, JSON-ready).
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", _RUN, module, policy, str(scenario)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=7200, check=False,
    )
    if out.returncode != 0:
        msg = f"replay subprocess failed ({out.returncode}): {out.stderr[-2000:]}"
        raise RuntimeError(msg)
    parsed: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return parsed


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Both policies, new and pre-issue replay alternately; results checked equal first."""
    runs = 1 if quick else 2
    best: dict[str, dict[str, dict[str, float]]] = {"new": {}, "v0": {}}
    split: dict[str, float] = {}
    modules = {"new": "incidents.replay.simulate", "v0": "tests.benchmarks.simulate_v0"}
    for policy in POLICIES:
        for _ in range(runs):
            got = {k: replay_once(m, policy) for k, m in modules.items()}
            if got["new"]["result"] != got["v0"]["result"]:
                msg = f"the replay's results differ from the pre-issue replay ({policy})"
                raise RuntimeError(msg)
            for k, g in got.items():
                b = best[k].setdefault(policy, {"wall_s": float("inf"), "cpu_s": float("inf")})
                b["wall_s"] = min(b["wall_s"], g["wall_s"])
                b["cpu_s"] = min(b["cpu_s"], g["cpu_s"])
            for part, s in got["new"]["timings"].items():
                split[f"{policy} {part}"] = s
    rows: list[dict[str, Any]] = []
    base = "pre-issue replay (simulate_v0), same run"
    for what in ("wall_s", "cpu_s"):
        new = sum(best["new"][p][what] for p in POLICIES)
        old = sum(best["v0"][p][what] for p in POLICIES)
        label = "wall" if what == "wall_s" else "CPU"
        rows.append(
            result(f"demo storm replay, both policies, {label}", new, "s", base, old,
                   f"<= {GOAL_S:g} s and >= 10x", new <= GOAL_S and old >= 10 * new)
        )
    for name, s in sorted(split.items()):
        rows.append(result(f"demo storm replay: {name} (last run)", s, "s", "(context)", s,
                           "(context)", True))
    return rows
