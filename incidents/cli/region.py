"""``winterops region import|check``: load a command centre's own region, or check it first.

``region import DIR|FILES`` reads roads (GeoPackage / Shapefile / GeoJSON / FlatGeobuf), places
and a township-level gazetteer, a units roster, duty points, warming points, sections and road
chiefs, checks all of them and writes them in one transaction (every problem listed, nothing
half-loaded; a re-import updates in place and keeps the old values in ``region_history``). No
users are created. ``region check`` reads and checks the same files without a database.

Exit status: 0 imported (or checked clean), 1 a problem in the files, 2 unusable arguments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from incidents.cli.common import EXIT_UNUSABLE_INPUT, DbOption, die, open_engine, settings_for
from incidents.errors import RegionImportError
from incidents.service.audit import audit
from incidents.store.engine import session_factory, session_scope
from incidents.store.region_files import RegionOptions
from incidents.store.region_import import (
    check_region,
    default_actor,
    import_region,
    load_mapping,
    problem_report,
)

__all__ = ["register"]

region_app = typer.Typer(
    help="Load your own region (roads, places, units, duty points, road chiefs).",
    no_args_is_help=True,
)

SourcesArg = Annotated[
    list[Path], typer.Argument(help="a region folder, or region files (told apart by name)")
]
LayerOpt = Annotated[
    str | None, typer.Option("--layer", help="road layer of a multi-layer file (GeoPackage)")
]
CrsOpt = Annotated[
    str | None,
    typer.Option("--crs", help="CRS of a road/places file that has none, e.g. EPSG:4326"),
]
FieldsOpt = Annotated[
    Path | None,
    typer.Option("--fields", help="mapping file (TOML/JSON): field names, files, km anchors"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def _options(fields: Path | None, layer: str | None, crs: str | None) -> RegionOptions:
    try:
        return load_mapping(fields, layer=layer, crs=crs)
    except RegionImportError as e:
        die(str(e), 2)


@region_app.command("check")
def check(
    sources: SourcesArg,
    layer: LayerOpt = None,
    crs: CrsOpt = None,
    fields: FieldsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Read and check region files without importing them: every problem, one per line."""
    data = check_region(sources, _options(fields, layer, crs))
    if as_json:
        typer.echo(json.dumps({
            "files": [{"name": f.path.name, "kind": f.kind, "sha256": f.sha256,
                       "rows": data.rows.get(f.kind, 0)} for f in data.files],
            "ignored": [p.name for p in data.ignored],
            "problems": [p.to_dict() for p in data.problems],
        }, ensure_ascii=False, indent=2))
    elif data.problems:
        typer.echo(problem_report(data).replace("nothing was imported", "fix them, then import"))
    else:
        for f in data.files:
            typer.echo(f"{f.path.name}: {f.kind}, {data.rows.get(f.kind, 0)} rows, no problems")
        if data.ignored:
            typer.echo("ignored (not region files): " + ", ".join(p.name for p in data.ignored))
    if data.problems:
        raise typer.Exit(EXIT_UNUSABLE_INPUT)


@region_app.command("import")
def import_(
    sources: SourcesArg,
    layer: LayerOpt = None,
    crs: CrsOpt = None,
    fields: FieldsOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check and count what would change; write nothing")
    ] = False,
    as_json: JsonOpt = False,
    db: DbOption = None,
) -> None:
    """Import a region into the database: all or nothing, updates in place, history kept."""
    options = _options(fields, layer, crs)
    settings = settings_for(db)
    engine = open_engine(settings)
    actor = default_actor()
    try:
        with session_scope(session_factory(engine)) as s:
            summary = import_region(s, sources, options, actor=actor, dry_run=dry_run)
            if not dry_run:
                details: dict[str, Any] = {"import_id": summary.import_id,
                                           "sha256": summary.sha256,
                                           "counts": _counts_only(summary.counts)}
                audit(s, actor, "region.import", summary.source[:128], details=details)
            if dry_run:
                s.rollback()
    except RegionImportError as e:
        die(str(e), EXIT_UNUSABLE_INPUT)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo("\n".join(summary.lines()))


def _counts_only(counts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t: {k: v for k, v in c.items() if k != "absent_ids"} for t, c in counts.items()}


def register(app: typer.Typer) -> None:
    """Add the ``region`` command group to the ``winterops`` app."""
    app.add_typer(region_app, name="region")
