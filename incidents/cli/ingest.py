"""`winterops ingest ...`: pull feeds into the database.

Commands (design contract)::

    winterops ingest alerts|drone|calls|waze SOURCE... [--json] [--db URL]
    winterops ingest calls SOURCE... --mapping FILE      # other call-centre exports
    winterops ingest watch --config FILE [--once] [--db URL]

Exit status: 0 when it ran (quarantined records included), 1 when a source could not be read at
all, 2 for unusable arguments (unknown kind, bad mapping or config file).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from incidents.cli.common import (
    EXIT_BAD_ARGUMENTS,
    EXIT_OK,
    EXIT_UNUSABLE_INPUT,
    DbOption,
    die,
    open_engine,
    settings_for,
)
from incidents.settings import Settings
from incidents.store.engine import session_factory
from incidents.store.sink import DatabaseSink
from ingest.calls import CallMapping, load_mapping
from ingest.errors import ConfigError
from ingest.http import Fetcher
from ingest.runner import IngestSummary, load_watch_config, run_ingest, watch
from ingest.zones import load_zones

DbOpt = DbOption
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object")]
SourcesArg = Annotated[list[str], typer.Argument(help="URLs, files or folders")]


def _settings(db: str | None) -> Settings:
    return settings_for(db)


def _sink(settings: Settings) -> DatabaseSink:
    return DatabaseSink(session_factory(open_engine(settings)))


def _fetcher(settings: Settings) -> Fetcher:
    return Fetcher(
        connect_timeout_s=settings.http_connect_timeout_s,
        read_timeout_s=settings.http_read_timeout_s,
        max_bytes=settings.max_payload_bytes,
    )


def load_locator(settings: Settings) -> Any:
    """Return the region (:func:`geo.region.load_region`) when its data is present, else None."""
    if not settings.region_dir.is_dir():
        return None
    try:
        from geo.region import load_region
    except ImportError:
        return None
    try:
        return load_region(settings.region_dir)
    except (OSError, ValueError, KeyError) as e:
        typer.echo(
            f"warning: region not loaded ({e}); kilometre posts and places go to quarantine",
            err=True,
        )
        return None


def _print(summary: IngestSummary, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary.to_json(), ensure_ascii=False))
        return
    c = summary.counts
    typer.echo(
        f"{summary.kind}: {summary.payloads} payloads, {c.accepted} accepted, {c.updated} updated, "
        f"{c.cancelled} cancelled, {c.duplicates} duplicates, {len(summary.quarantined)} quarantined"
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
    sink = _sink(settings)
    summary = run_ingest(
        kind,
        sources,
        sink,
        raw_dir=settings.raw_dir,
        fetcher=_fetcher(settings),
        locator=load_locator(settings),
        mapping=mapping,
        zones=zones,
        progress=not as_json and sys.stderr.isatty(),
    )
    _print(summary, as_json)
    raise typer.Exit(EXIT_UNUSABLE_INPUT if summary.unreadable else EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add the ``ingest`` command group to the winterops app."""
    ingest_app = typer.Typer(help="Pull weather alerts, drone reports, calls and Waze feeds.")

    @ingest_app.command("alerts")
    def alerts(
        sources: SourcesArg,
        as_json: JsonOpt = False,
        db: DbOpt = None,
        zones: Annotated[
            Path | None,
            typer.Option("--zones", help="GeoJSON zone file for UGC/SAME/... geocodes"),
        ] = None,
    ) -> None:
        """CAP 1.0/1.1/1.2 XML or NWS GeoJSON weather alerts."""
        z = None
        if zones is not None:
            try:
                z = load_zones(zones)
            except ConfigError as e:
                die(f"error: {e}", EXIT_BAD_ARGUMENTS)
        _run("alerts", sources, as_json, db, zones=z)

    @ingest_app.command("drone")
    def drone(sources: SourcesArg, as_json: JsonOpt = False, db: DbOpt = None) -> None:
        """Drone tracks (GPX, AirData CSV, DJI CSV) and detections (GeoJSON/CSV)."""
        _run("drone", sources, as_json, db)

    @ingest_app.command("calls")
    def calls(
        sources: SourcesArg,
        as_json: JsonOpt = False,
        db: DbOpt = None,
        mapping: Annotated[
            Path | None, typer.Option("--mapping", help="Header mapping file (JSON or TOML)")
        ] = None,
    ) -> None:
        """Stranded-vehicle calls (CSV in UTF-8/GBK/GB18030, or JSON)."""
        m = None
        if mapping is not None:
            try:
                m = load_mapping(mapping)
            except ConfigError as e:
                die(f"error: {e}", EXIT_BAD_ARGUMENTS)
        _run("calls", sources, as_json, db, m)

    @ingest_app.command("waze")
    def waze(sources: SourcesArg, as_json: JsonOpt = False, db: DbOpt = None) -> None:
        """Waze for Cities partner feed alerts."""
        _run("waze", sources, as_json, db)

    @ingest_app.command("watch")
    def watch_cmd(
        config: Annotated[Path, typer.Option("--config", help="Feed list (TOML or JSON)")],
        once: Annotated[bool, typer.Option("--once", help="Poll every feed once and stop")] = False,
        db: DbOpt = None,
    ) -> None:
        """Poll every configured feed on its interval, recording each feed's health."""
        try:
            feeds = load_watch_config(config)
        except ConfigError as e:
            die(f"error: {e}", EXIT_BAD_ARGUMENTS)
        settings = _settings(db)
        sink = _sink(settings)
        try:
            last = watch(
                feeds,
                sink,
                raw_dir=settings.raw_dir,
                fetcher=_fetcher(settings),
                locator=load_locator(settings),
                once=once,
                known=sink.feed_state(),
            )
        except KeyboardInterrupt:
            raise typer.Exit(EXIT_OK) from None
        for name, s in last.items():
            c = s.counts
            state = "unreadable" if s.unreadable else "ok"
            typer.echo(
                f"{name}: {state}, {c.accepted} accepted, {c.duplicates} duplicates, "
                f"{len(s.quarantined)} quarantined"
            )
        failed = [n for n in (f.name for f in feeds) if n not in last or last[n].unreadable]
        raise typer.Exit(EXIT_UNUSABLE_INPUT if failed else EXIT_OK)

    app.add_typer(ingest_app, name="ingest")


def main() -> None:
    """Run the ingest commands on their own (``python -m incidents.cli.ingest``)."""
    app = typer.Typer()
    register(app)
    app()


if __name__ == "__main__":
    main()
