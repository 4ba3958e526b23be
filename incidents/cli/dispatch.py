"""`winterops recommend`, `winterops simulate`, `winterops export ...`.

::

    winterops recommend [--policy optimized|closest] [--at TIME] [--json] [--db URL]
    winterops simulate SCENARIO [--policy closest|optimized|both] [--step MIN] [--json] [--db URL]
    winterops export eido|open511|wzdx|cap|geojson|gpkg|csv [--layer L] [--out FILE] [--db URL]

``simulate`` replays on a temporary database and stores each run as a ``SimulationRun`` row in
the ``--db`` database (for the dashboard's review page). Exit status: 0 ran, 1 an input could
not be used (unknown scenario, unreadable data), 2 unusable arguments.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from incidents.cli.common import (
    EXIT_BAD_ARGUMENTS,
    EXIT_UNUSABLE_INPUT,
    DbOption,
    die,
    open_engine,
    parse_at,
    settings_for,
)
from incidents.clock import operational_now
from incidents.errors import ScenarioError
from incidents.settings import Settings
from incidents.store.engine import session_factory, session_scope

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _region(settings: Settings) -> Any:
    from geo.region import load_region

    try:
        return load_region(settings.region_dir)
    except (OSError, ValueError, KeyError) as e:
        die(f"cannot load the region from {settings.region_dir}: {e}", EXIT_UNUSABLE_INPUT)


def recommend_cmd(
    db: DbOption = None,
    policy: Annotated[str, typer.Option("--policy", help="optimized | closest")] = "optimized",
    at: Annotated[str | None, typer.Option("--at", help="Moment (ISO 8601; naive = Asia/Shanghai; default: the operational clock)")] = None,
    staging: Annotated[
        bool, typer.Option("--staging", help="Also suggest pre-positioning at duty points")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print the current recommended assignments, most urgent first, with reasons."""
    from incidents.dispatch import POLICIES, preposition, recommend

    if policy not in POLICIES:
        die(f"unknown policy {policy!r}; expected one of {', '.join(POLICIES)}", EXIT_BAD_ARGUMENTS)
    settings = settings_for(db)
    region = _region(settings)
    engine = open_engine(settings)
    try:
        with session_scope(session_factory(engine)) as s:
            now = parse_at(at) if at else operational_now(s)[0]
            recs = recommend(s, region, settings, now, policy)
            stage = preposition(s, region, settings, now) if staging else []
    finally:
        engine.dispose()
    if as_json:
        doc: Any = [r.to_dict() for r in recs]
        if staging:
            doc = {"recommendations": doc, "staging": [x.to_dict() for x in stage]}
        typer.echo(json.dumps(doc, ensure_ascii=False))
        return
    if not recs:
        typer.echo("no recommendations (no open task with a free capable unit)")
    for r in recs:
        typer.echo(f"task {r.task_id:>5}  <- {r.unit_id:<14} {r.eta_s / 60:6.1f} min  {r.reason}")
    for x in stage:
        typer.echo(f"stage {x.unit_id:<14} at {x.duty_point_id:<10} {x.reason}")


def simulate_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario folder, manifest, or name")],
    db: DbOption = None,
    policy: Annotated[str, typer.Option("--policy", help="closest | optimized | both")] = "both",
    step: Annotated[float, typer.Option("--step", help="Decision interval, minutes")] = 5.0,
    as_json: JsonOpt = False,
) -> None:
    """Replay a storm scenario with a dispatch policy and print the metrics."""
    from incidents.replay.scenario import find_scenario
    from incidents.replay.simulate import simulate, store_run

    policies = ("closest", "optimized") if policy == "both" else (policy,)
    if any(p not in ("closest", "optimized") for p in policies) or step <= 0:
        die(f"unknown policy {policy!r}; expected closest, optimized or both", EXIT_BAD_ARGUMENTS)
    settings = settings_for(db)
    try:
        path = find_scenario(scenario, settings.scenario_dir)
        results = [simulate(path, p, settings=settings, step_minutes=step) for p in policies]
    except ScenarioError as e:
        die(str(e), EXIT_UNUSABLE_INPUT)
    engine = open_engine(settings)
    try:
        factory = session_factory(engine)
        run_ids = [store_run(factory, r) for r in results]
    finally:
        engine.dispose()
    out: dict[str, Any] = {
        r.policy: {**r.to_json(), "run_id": rid} for r, rid in zip(results, run_ids, strict=True)
    }
    if len(results) == 2:
        out["comparison"] = comparison(results[0].metrics, results[1].metrics)
    if as_json:
        typer.echo(json.dumps(out if len(results) == 2 else out[policies[0]], ensure_ascii=False))
        return
    keys = (
        "incidents",
        "incidents_served",
        "incidents_unserved",
        "ttfu_mean_min",
        "ttfu_p50_min",
        "ttfu_p90_min",
        "ttfu_priority_weighted_min",
        "cold_exposure_person_hours",
        "unit_utilisation",
        "lower_bound_priority_weighted_min",
        "ratio_to_lower_bound",
        "strict_lower_bound_priority_weighted_min",
        "ratio_to_strict_lower_bound",
    )
    typer.echo(f"{'metric':<42}" + "".join(f"{r.policy:>14}" for r in results))
    for k in keys:
        typer.echo(f"{k:<42}" + "".join(f"{_fmt(r.metrics.get(k)):>14}" for r in results))
    if "comparison" in out:
        for k, v in out["comparison"].items():
            typer.echo(f"{k}: {v}")


def comparison(closest: dict[str, Any], optimized: dict[str, Any]) -> dict[str, Any]:
    """Optimized against closest: relative reductions and the ratio to the lower bound."""

    def drop(key: str) -> float | None:
        a, b = closest.get(key), optimized.get(key)
        if not a or b is None:
            return None
        return round(100.0 * (float(a) - float(b)) / float(a), 1)

    return {
        "priority_weighted_ttfu_reduction_pct": drop("ttfu_priority_weighted_min"),
        "cold_exposure_reduction_pct": drop("cold_exposure_person_hours"),
        "optimized_ratio_to_lower_bound": optimized.get("ratio_to_lower_bound"),
    }


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def export_cmd(
    kind: Annotated[str, typer.Argument(help="eido | open511 | wzdx | cap | geojson | gpkg | csv")],
    db: DbOption = None,
    layer: Annotated[
        str, typer.Option("--layer", help="geojson/csv: incidents|hazards|tasks|units|assignments")
    ] = "incidents",
    out: Annotated[
        Path | None, typer.Option("--out", help="Output file (stdout if omitted)")
    ] = None,
) -> None:
    """Export incidents, hazards and units in a standard exchange format."""
    from incidents import exports  # the package: its registry renders every format
    from incidents.cli.audit import cli_actor
    from incidents.service.audit import audit

    if kind not in exports.EXPORT_KINDS:
        die(
            f"unknown export {kind!r}; expected one of {', '.join(exports.EXPORT_KINDS)}",
            EXIT_BAD_ARGUMENTS,
        )
    if layer not in exports.LAYERS:
        die(
            f"unknown layer {layer!r}; expected one of {', '.join(exports.LAYERS)}",
            EXIT_BAD_ARGUMENTS,
        )
    if kind == "gpkg" and out is None:
        die("export gpkg needs --out FILE.gpkg", EXIT_BAD_ARGUMENTS)
    settings = settings_for(db)
    engine = open_engine(settings)
    try:
        with session_scope(session_factory(engine)) as s:
            if kind == "gpkg":  # written in place: a GeoPackage is not for standard output
                assert out is not None
                counts = exports.write_gpkg(s, out)
                audit(s, cli_actor(), "export", f"export:{kind}",
                      details={"out": str(out), "layers": counts})
                typer.echo(json.dumps({"out": str(out), "layers": counts}))
                return
            data = exports.render(s, kind, layer)
            audit(s, cli_actor(), "export", f"export:{kind}",
                  details={"layer": layer, "out": str(out) if out else "-", "bytes": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()})
    finally:
        engine.dispose()
    if out is None:
        typer.echo(data.decode("utf-8"))
    else:
        out.write_bytes(data)


def register(app: typer.Typer) -> None:
    """Add ``recommend``, ``simulate`` and ``export`` to the ``winterops`` app."""
    app.command("recommend")(recommend_cmd)
    app.command("simulate")(simulate_cmd)
    app.command("export")(export_cmd)
