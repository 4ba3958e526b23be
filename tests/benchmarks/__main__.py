"""Run every benchmark module, print a table and write `var/bench/results.json`.

Usage: ``python -m tests.benchmarks [--quick] [NAME_FILTER]``.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    filters = [a for a in argv if not a.startswith("--")]
    pkg_dir = Path(__file__).parent
    rows: list[dict] = []
    failed: list[str] = []
    for info in sorted(pkgutil.iter_modules([str(pkg_dir)]), key=lambda m: m.name):
        if not info.name.startswith("bench_"):
            continue
        if filters and not any(f in info.name for f in filters):
            continue
        print(f"== {info.name}", flush=True)
        try:
            mod = importlib.import_module(f"tests.benchmarks.{info.name}")
            got = mod.run(quick=quick)
        except Exception:  # a broken benchmark is reported, the others still run
            traceback.print_exc()
            failed.append(info.name)
            continue
        for row in got:
            print(
                f"  {row['name']:<55} {row['value']:>12.4g} {row['unit']:<10}"
                f" vs {row['baseline']} {row['baseline_value']:.4g}"
                f"  ratio {row['ratio']:.2f}x  goal {row['goal']}"
                f"  {'MET' if row['met'] else 'NOT MET'}",
                flush=True,
            )
        rows.extend(got)
    out = ROOT / "var" / "bench" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {out} ({len(rows)} results; {len(failed)} benchmark modules failed)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
