"""Shared helpers for the benchmarks: timing and the result row format."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_of(fn: Callable[[], Any], repeat: int = 5, number: int = 1) -> float:
    """Return the best wall time in seconds of `number` calls of `fn`, over `repeat` rounds."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def result(
    name: str,
    value: float,
    unit: str,
    baseline: str,
    baseline_value: float,
    goal: str,
    met: bool,
    *,
    higher_is_better: bool = False,
) -> dict[str, Any]:
    """Build one row of `var/bench/results.json`.

    `ratio` is how many times better `value` is than `baseline_value` (>1 means better),
    whatever the direction of the unit.
    """
    if higher_is_better:
        ratio = value / baseline_value if baseline_value else float("inf")
    else:
        ratio = baseline_value / value if value else float("inf")
    return {
        "name": name,
        "value": round(float(value), 6),
        "unit": unit,
        "baseline": baseline,
        "baseline_value": round(float(baseline_value), 6),
        "ratio": round(float(ratio), 3),
        "goal": goal,
        "met": bool(met),
    }
