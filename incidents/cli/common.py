"""Pieces every ``winterops`` command module shares: the ``--db`` option, settings, exits.

Also what the commands that read feeds share (``ingest`` and ``worker``): the HTTP fetcher with
the settings' limits (:func:`fetcher_for`) and the region when its data is there
(:func:`load_locator`).

Exit codes (design contract): 0 it ran, 1 a source or input could not be used at all,
2 unusable arguments.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError

from incidents.settings import Settings
from incidents.store.engine import init_db, make_engine
from ingest.http import Fetcher

EXIT_OK = 0
EXIT_UNUSABLE_INPUT = 1
EXIT_BAD_ARGUMENTS = 2

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="URL",
        help="Database URL (default: WINTEROPS_DATABASE_URL, else var/winterops.db).",
        show_default=False,
    ),
]
"""The ``--db URL`` option every command takes (``db: DbOption = None``)."""


def settings_for(db: str | None) -> Settings:
    """Return the settings for a command: its ``--db`` when given, else from the environment.

    ``winterops --db URL COMMAND`` reaches the command's own ``--db`` as its default.
    """
    return Settings.from_env().with_database(db)


def open_engine(settings: Settings, *, migrate: bool = True) -> Engine:
    """Open the settings' database and bring its schema up to date (Alembic ``upgrade head``).

    With ``migrate=False`` the schema is left as it is. Exits with status 2 for an unusable
    URL and with status 1 and a one-line message when the database cannot be opened.
    """
    try:
        engine = make_engine(settings.database_url)
    except (ValueError, ArgumentError) as e:
        die(f"unusable database URL {settings.database_url!r}: {e}", EXIT_BAD_ARGUMENTS)
    if not migrate:
        return engine
    try:
        init_db(engine)
    except Exception as e:  # noqa: BLE001 - any driver error becomes one clear line
        engine.dispose()
        die(f"cannot open database {_redact(settings.database_url)}: {_first_line(e)}",
            EXIT_UNUSABLE_INPUT)
    return engine


def fetcher_for(settings: Settings) -> Fetcher:
    """Return an HTTP fetcher with the settings' timeouts and payload cap."""
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


def parse_at(text: str, option: str = "--at") -> datetime:
    """Parse an ISO 8601 time given on the command line (naive means Asia/Shanghai) to UTC."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        die(
            f"{option} {text!r} is not an ISO 8601 time (e.g. 2025-12-14T03:00+08:00)",
            EXIT_BAD_ARGUMENTS,
        )
    if at.tzinfo is None:  # naive means Asia/Shanghai, as everywhere in winterops
        at = at.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return at.astimezone(UTC)


def die(message: str, code: int = EXIT_UNUSABLE_INPUT) -> NoReturn:
    """Print `message` on standard error and leave with exit status `code`."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _redact(url: str) -> str:
    """Hide a password in a database URL before showing it."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given
        return url
