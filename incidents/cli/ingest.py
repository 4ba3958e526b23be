"""`winterops ingest ...`: pull feeds into the database and fuse what came in.

Commands (design contract)::

    winterops ingest KIND SOURCE... [--json] [--db URL]   # one command per parser kind
    winterops ingest calls SOURCE... --mapping FILE      # other call-centre exports
    winterops ingest alerts SOURCE... --zones FILE       # zone geometries for geocodes
    winterops ingest watch [--config FILE] [--once] [--db URL]   # = winterops worker

The commands come from the source registry (:data:`ingest.registry.FEEDS`): one per feed, with
the feed's description as its help and the extra options it names (``mapping``, ``zones``), so
a new feed gets its command without editing this module. What is stored goes through
:mod:`incidents.live.pipeline`: new reports become incidents at once (when the region is there).

Exit status: 0 when it ran (quarantined records included), 1 when a source could not be read at
all, 2 for unusable arguments (unknown kind, bad mapping or config file).
"""

from __future__ import annotations

import errno
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.exc import SQLAlchemyError

from incidents.cli.common import (
    EXIT_BAD_ARGUMENTS,
    EXIT_OK,
    EXIT_UNUSABLE_INPUT,
    DbOption,
    die,
    fetcher_for,
    load_locator,
    open_engine,
    settings_for,
)
from incidents.live.pipeline import PipelineResult, ingest_sources
from incidents.settings import Settings
from incidents.store.engine import session_factory
from ingest.calls import CallMapping, load_mapping
from ingest.errors import ConfigError
from ingest.registry import FEEDS, Feed
from ingest.runner import IngestSummary
from ingest.zones import load_zones

DbOpt = DbOption
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object")]
SourcesArg = Annotated[list[str], typer.Argument(help="URLs, files or folders")]

def _settings(db: str | None) -> Settings:
    return settings_for(db)


def _print(summary: IngestSummary, result: PipelineResult, as_json: bool) -> None:
    if as_json:
        doc = summary.to_json()
        doc["fusion"] = result.fusion.to_json() if result.fusion is not None else None
        if result.positions:
            doc["positions"] = result.positions
        typer.echo(json.dumps(doc, ensure_ascii=False))
        return
    c = summary.counts
    typer.echo(
        f"{summary.kind}: {summary.payloads} payloads, {c.accepted} accepted, {c.updated} updated, "
        f"{c.cancelled} cancelled, {c.duplicates} duplicates, {len(summary.quarantined)} quarantined"
    )
    if result.fusion is not None:
        f = result.fusion
        typer.echo(
            f"fused: {f.reports_fused} reports, {f.incidents_created} new incidents, "
            f"{f.incidents_updated} updated, {f.hazards_opened} new hazards, "
            f"{f.tasks_created} new tasks"
        )
    for q in summary.quarantined[:50]:
        typer.echo(f"  quarantined {q.source} [{q.record}]: {q.reason}")
    if len(summary.quarantined) > 50:
        typer.echo(f"  ... and {len(summary.quarantined) - 50} more (see the feeds page)")
    for source, reason in summary.unreadable:
        typer.echo(f"  unreadable {source}: {reason}", err=True)


def _run(
    kind: str,
    sources: list[str],
    as_json: bool,
    db: str | None,
    mapping: CallMapping | None = None,
    zones: dict[str, Any] | None = None,
) -> None:
    settings = _settings(db)
    engine = open_engine(settings)
    try:
        summary, result = ingest_sources(
            session_factory(engine),
            load_locator(settings),
            settings,
            kind,
            sources,
            fetcher=fetcher_for(settings),
            mapping=mapping,
            zones=zones,
            progress=not as_json and sys.stderr.isatty(),
        )
    except (OSError, SQLAlchemyError) as e:
        if not disk_full(e):
            raise
        die(
            f"error: the disk is full ({_first_line(e)}). Every payload stored so far is whole; "
            f"free space for the database and for {settings.var_dir} and run the same command "
            "again: what is already stored is counted as duplicates, not stored twice.",
            EXIT_UNUSABLE_INPUT,
        )
    finally:
        engine.dispose()
    _print(summary, result, as_json)
    raise typer.Exit(EXIT_UNUSABLE_INPUT if summary.unreadable else EXIT_OK)


_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
_FULL_WORDS = ("database or disk is full", "no space left", "file too large", "disk quota")


def disk_full(error: BaseException) -> bool:
    """Tell whether `error` (or what it wraps) says the disk or a file-size limit is full."""
    seen: BaseException | None = error
    for _ in range(5):  # the error, SQLAlchemy's .orig, the causes
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in _FULL_ERRNOS:
            return True
        if any(w in str(seen).lower() for w in _FULL_WORDS):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _zones(zones: Path | None) -> dict[str, Any] | None:
    if zones is None:
        return None
    try:
        return dict(load_zones(zones))
    except ConfigError as e:
        die(f"error: {e}", EXIT_BAD_ARGUMENTS)


def _mapping(mapping: Path | None) -> CallMapping | None:
    if mapping is None:
        return None
    try:
        return load_mapping(mapping)
    except ConfigError as e:
        die(f"error: {e}", EXIT_BAD_ARGUMENTS)


def _alerts_command(kind: str) -> Callable[..., None]:
    def command(
        sources: SourcesArg,
        as_json: JsonOpt = False,
        db: DbOpt = None,
        zones: Annotated[
            Path | None,
            typer.Option("--zones", help="GeoJSON zone file for UGC/SAME/... geocodes"),
        ] = None,
    ) -> None:
        _run(kind, sources, as_json, db, zones=_zones(zones))

    return command


def _calls_command(kind: str) -> Callable[..., None]:
    def command(
        sources: SourcesArg,
        as_json: JsonOpt = False,
        db: DbOpt = None,
        mapping: Annotated[
            Path | None, typer.Option("--mapping", help="Header mapping file (JSON or TOML)")
        ] = None,
    ) -> None:
        _run(kind, sources, as_json, db, _mapping(mapping))

    return command


def _plain_command(kind: str) -> Callable[..., None]:
    def command(sources: SourcesArg, as_json: JsonOpt = False, db: DbOpt = None) -> None:
        _run(kind, sources, as_json, db)

    return command


# the command of a feed whose registry line names an extra option (else the plain command)
EXTRA_OPTIONS: dict[str, Callable[[str], Callable[..., None]]] = {
    "zones": _alerts_command,
    "mapping": _calls_command,
}


def command_for(feed: Feed) -> Callable[..., None]:
    """Return the ``winterops ingest KIND`` command of a registry feed (help = description)."""
    make = next((EXTRA_OPTIONS[o] for o in feed.options if o in EXTRA_OPTIONS), _plain_command)
    command = make(feed.name)
    command.__doc__ = feed.description
    return command


def register(app: typer.Typer) -> None:
    """Add the ``ingest`` command group (one command per parser kind, and ``watch``)."""
    from incidents.cli.worker import worker_cmd

    ingest_app = typer.Typer(help="Pull weather alerts, drone reports, calls, Waze and AVL feeds.")
    for feed in FEEDS.values():
        ingest_app.command(feed.name)(command_for(feed))
    ingest_app.command(
        "watch", help="Poll the database's feeds, fuse and re-rank (same as `winterops worker`)."
    )(worker_cmd)
    app.add_typer(ingest_app, name="ingest")


def main() -> None:
    """Run the ingest commands on their own (``python -m incidents.cli.ingest``)."""
    app = typer.Typer()
    register(app)
    app()


if __name__ == "__main__":
    main()
