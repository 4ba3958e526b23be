"""``winterops hotspots``: the current ranked hotspots, as a table or GeoJSON.

The command only reads: reports become incidents as they are stored (``winterops ingest``,
``winterops worker``, :mod:`incidents.live.pipeline`), never here. The clock is ``--at`` when
given; otherwise :func:`operational_now` (the dashboard's rules: a clock set in ``app_settings``, the demo
storm's clock, else the present), with a note on standard error saying which.

Exit status: 0 it ran (an empty ranking included), 1 the region or database cannot be used,
2 unusable arguments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from geo.errors import GeoError
from geo.region import load_region
from incidents.cli.common import (
    EXIT_UNUSABLE_INPUT,
    DbOption,
    die,
    open_engine,
    parse_at,
    settings_for,
)
from incidents.clock import operational_now
from incidents.fusion import current_hotspots, hotspots_geojson
from incidents.store.engine import session_factory, session_scope

__all__ = ["hotspots", "operational_now", "register"]


def hotspots(
    as_geojson: Annotated[
        bool, typer.Option("--geojson", help="print a GeoJSON FeatureCollection")
    ] = False,
    at: Annotated[
        str | None,
        typer.Option("--at", help="clock (ISO 8601; naive = Asia/Shanghai); default: now"),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="show at most N hotspots")] = 20,
    db: DbOption = None,
    region_dir: Annotated[
        Path | None,
        typer.Option("--region", help="region folder (default: WINTEROPS_DATA_DIR/region)"),
    ] = None,
) -> None:
    """Print the current ranked hotspots (rank, z, reason, report ids)."""
    settings = settings_for(db)
    folder = region_dir if region_dir is not None else settings.region_dir
    now = parse_at(at) if at else None
    try:
        region = load_region(folder)
    except GeoError as e:
        die(f"cannot load the region from {str(folder)!r}: {e}", EXIT_UNUSABLE_INPUT)
    engine = open_engine(settings)
    try:
        factory = session_factory(engine)
        if now is None:
            with session_scope(factory) as s:
                now, why = operational_now(s)
            if why:
                typer.echo(f"note: {why}", err=True)
        with session_scope(factory) as s:
            ranking = current_hotspots(s, region, settings, now).head(limit)
    finally:
        engine.dispose()
    if as_geojson:
        typer.echo(json.dumps(hotspots_geojson(ranking), ensure_ascii=False))
        return
    if len(ranking) == 0:
        typer.echo(f"no significant hotspots at {now.isoformat()}")
        return
    typer.echo(f"hotspots at {now.isoformat()} (Getis-Ord Gi*, one-sided p < 0.05)")
    typer.echo(f"{'rank':>4} {'z':>6} {'p':>8}  reason  [reports]")
    for row in ranking.itertuples(index=False):
        ids = ",".join(str(i) for i in row.report_ids)
        typer.echo(f"{row.rank:>4} {row.z:>6.2f} {row.p:>8.1e}  {row.reason}  [{ids}]")


def register(app: typer.Typer) -> None:
    """Add the ``hotspots`` command to the ``winterops`` app."""
    app.command("hotspots")(hotspots)
