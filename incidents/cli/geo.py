"""``winterops locate``: resolve a kilometre post, a place name or ``lat,lon`` on the region.

Exit status: 0 found, 1 the query cannot be resolved (unknown road, kilometre post outside the
road's range, malformed input, point outside the region, unknown place) or the region data
cannot be read, 2 unusable arguments.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from geo.errors import GeoError
from geo.region import LocateResult, load_region
from incidents.cli.common import EXIT_UNUSABLE_INPUT, DbOption, die, settings_for

__all__ = ["locate", "register"]


class Datum(enum.StrEnum):
    """Datums accepted by ``--crs``."""

    wgs84 = "wgs84"
    gcj02 = "gcj02"
    bd09 = "bd09"


def _describe(query: str, r: LocateResult) -> str:
    where = f"{r.lon:.6f}, {r.lat:.6f} (WGS84 lon, lat)"
    road = "no road"
    if r.stake is not None:
        road = f"{r.stake}, {r.offset_m:.0f} m from the road"
    admin = f"{r.admin_name} ({r.admin_code})" if r.admin_code else "outside every banner"
    return f"{query}: {where}\n  nearest road: {road}\n  banner: {admin}\n  method: {r.method}"


def locate(
    query: Annotated[
        str,
        typer.Argument(help="'G331 K1520+300', a place name (zh/en), an admin code or 'lat,lon'"),
    ],
    crs: Annotated[
        Datum, typer.Option("--crs", case_sensitive=False, help="datum of lat,lon input")
    ] = Datum.wgs84,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    db: DbOption = None,
    region_dir: Annotated[
        Path | None,
        typer.Option("--region", help="region folder (default: WINTEROPS_DATA_DIR/region)"),
    ] = None,
) -> None:
    """Resolve a road + kilometre post, a place name or lat,lon to WGS84, road, km and banner."""
    settings = settings_for(db)
    folder = region_dir if region_dir is not None else settings.region_dir
    try:
        region = load_region(folder)
    except GeoError as e:
        die(f"cannot load the region from {str(folder)!r}: {e}", EXIT_UNUSABLE_INPUT)
    try:
        result = region.locate(query, crs=crs.value)
    except GeoError as e:
        die(f"locate: {e}", EXIT_UNUSABLE_INPUT)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        typer.echo(_describe(query, result))


def register(app: typer.Typer) -> None:
    """Add the ``locate`` command to the ``winterops`` app."""
    app.command("locate")(locate)
