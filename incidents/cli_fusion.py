"""``winterops hotspots``: the current ranked hotspots, as a table or GeoJSON.

Before ranking, the command fuses any report not yet fused (:func:`incidents.fusion.fuse` is
idempotent), so the ranking is current. The clock is ``--at`` when given; otherwise
:func:`operational_now` (the dashboard's rules: a clock set in ``app_settings``, the demo
storm's clock, else the present), with a note on standard error saying which.

Exit status: 0 it ran (an empty ranking included), 1 the region or database cannot be used,
2 unusable arguments.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.errors import GeoError
from geo.region import load_region
from incidents.cli_common import (
    EXIT_BAD_ARGUMENTS,
    EXIT_UNUSABLE_INPUT,
    DbOption,
    die,
    open_engine,
    settings_for,
)
from incidents.db import session_factory, session_scope
from incidents.fusion import current_hotspots, fuse, hotspots_geojson
from incidents.models import AuditEvent, Report, Setting

__all__ = ["hotspots", "operational_now", "register"]

STALE_DATA = timedelta(days=1)


def _parse_at(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        die(
            f"--at {text!r} is not an ISO 8601 time (e.g. 2025-12-14T03:00+08:00)",
            EXIT_BAD_ARGUMENTS,
        )
    if at.tzinfo is None:  # naive means Asia/Shanghai, as everywhere in winterops
        at = at.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return at.astimezone(UTC)


def _utc(value: Any) -> datetime:
    ts = datetime.fromisoformat(str(value)) if not isinstance(value, datetime) else value
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return ts.astimezone(UTC)


def operational_now(session: Session, real: datetime | None = None) -> tuple[datetime, str]:
    """The operational "now", by the same rules as the dashboard's clock.

    1. ``app_settings["clock"] = {"now": ISO, "set_at": ISO (optional)}``: starts at ``now``
       and runs from ``set_at`` on.
    2. A database loaded by ``winterops demo`` (audit action ``demo.load``): the newest
       report's time, running since the demo was loaded.
    3. Otherwise the present, unless the newest report is more than a day old (a replayed
       storm), then the newest report's time.

    Returns the time and a note saying which rule applied (empty for the plain present).
    """
    real = real or datetime.now(UTC)
    row = session.get(Setting, "clock")
    value = row.value if row is not None and isinstance(row.value, dict) else {}
    if value.get("now"):
        start = _utc(value["now"])
        if value.get("set_at"):
            start += max(timedelta(0), real - _utc(value["set_at"]))
        return start, f"clock set in app_settings: {start.isoformat()}"
    newest = session.scalar(select(func.max(Report.observed_at)))
    loaded = session.scalar(select(func.max(AuditEvent.at)).where(AuditEvent.action == "demo.load"))
    if newest is not None and loaded is not None:
        at = newest + max(timedelta(0), real - loaded)
        return at, f"demo storm clock: {at.isoformat()}"
    if newest is not None and real - newest > STALE_DATA:
        return newest, f"newest report is from {newest.isoformat()}; ranking at that time"
    return real, ""


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
    now = _parse_at(at) if at else None
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
            fuse(s, region, settings, now)
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
