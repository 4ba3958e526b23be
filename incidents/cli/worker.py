"""``winterops worker``: the long-running loop beside the dashboard (also ``ingest watch``).

::

    winterops worker [--once] [--config FILE] [--interval-s N] [--db URL]

Polls every enabled feed kept in the database (``--config FILE`` imports the file's feeds into
it first), stores through the pipeline, fuses after each cycle that stored something and at
least every N seconds, re-ranks the recommendations and prints one line per cycle. SIGTERM or
Ctrl+C stops it after the current step (exit 0, lease released). With ``--once`` every feed is
polled once and one line per feed follows; exit 1 when a feed could not be read.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from incidents.cli import common
from incidents.live.feeds import import_config, list_feeds, migrate_settings_feeds
from incidents.live.worker import Worker
from incidents.store.engine import session_factory, session_scope
from ingest.errors import ConfigError

__all__ = ["register", "worker_cmd"]


def _on_signals(worker: Worker) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        typer.echo(f"signal {signal.Signals(signum).name}: stopping after this step", err=True)
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def worker_cmd(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Import this feed list (TOML or JSON) into the database"),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Poll every feed once, fuse, stop")] = False,
    interval_s: Annotated[
        float,
        typer.Option(
            "--interval-s", min=0.1, help="Fuse at least every N seconds (clocks advance)"
        ),
    ] = 60.0,
    lease_s: Annotated[
        float, typer.Option("--lease-s", min=1.0, help="Lease time without renewal (seconds)")
    ] = 30.0,
    db: common.DbOption = None,
) -> None:
    """Poll the database's feeds, fuse what came in, re-rank; one line per cycle."""
    settings = common.settings_for(db)
    engine = common.open_engine(settings)
    try:
        factory = session_factory(engine)
        if config is not None:
            try:
                with session_scope(factory) as s:
                    imported = import_config(s, config)
            except ConfigError as e:
                common.die(f"error: {e}", common.EXIT_BAD_ARGUMENTS)
            typer.echo(f"imported {len(imported)} feed(s) from {config}")
        with session_scope(factory) as s:
            migrate_settings_feeds(s)  # feeds an older admin page kept in app_settings
            feeds = [f.name for f in list_feeds(s, enabled_only=True)]
        if not feeds:
            typer.echo(
                "no enabled feeds: add one on the admin page or with --config FILE", err=True
            )
        region = common.load_locator(settings)
        if region is None:
            typer.echo("warning: no region: storing only, nothing is fused", err=True)
        worker = Worker(
            factory, region, settings, fuse_every_s=interval_s,
            lease_s=max(lease_s, 3.0), fetcher=common.fetcher_for(settings),
        )
        _on_signals(worker)
        typer.echo(f"worker {worker.holder}: {len(feeds)} feed(s), fuse every {interval_s:g} s")
        reports = worker.run(once=once, echo=typer.echo)
    finally:
        engine.dispose()
    if not once:
        raise typer.Exit(common.EXIT_OK)
    failed = False
    for name in feeds:
        st = worker.last_feed.get(name)
        if st is None or st.get("error") or st.get("unreadable"):
            failed = failed or (reports[-1].active if reports else False)
            typer.echo(f"{name}: unreadable" if st is not None else f"{name}: not polled")
            continue
        typer.echo(
            f"{name}: ok, {st['accepted']} accepted, {st['duplicates']} duplicates, "
            f"{st['quarantined']} quarantined"
        )
    raise typer.Exit(common.EXIT_UNUSABLE_INPUT if failed else common.EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add the ``worker`` command to the ``winterops`` app."""
    app.command("worker")(worker_cmd)
