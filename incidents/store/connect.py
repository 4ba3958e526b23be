"""Engines for SQLite (default) and PostgreSQL/PostGIS, configured for durable, concurrent use.

SQLite runs in WAL mode with ``synchronous=FULL`` and a ``busy_timeout``; every transaction
starts with ``BEGIN IMMEDIATE`` so two writers queue instead of failing half-way. PostgreSQL
runs with ``synchronous_commit=on``. A ``BEGIN`` that still finds the database locked after
the busy timeout (many writers queueing on a loaded machine) is retried briefly
(:data:`BUSY_RETRY_PAUSES_S`); a lock that outlasts them, there or at any later statement, is
raised as :class:`~incidents.errors.BusyError` (code ``busy``: "busy, try again"), never as the
driver's raw "database is locked". Imported by both :mod:`incidents.store.engine` and
:mod:`incidents.store.migrate` (neither imports the other's engine code).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from incidents.errors import BusyError, DatabaseUrlError

__all__ = [
    "BUSY_RETRY_PAUSES_S",
    "READ_ONLY_OPTION",
    "SQLITE_BUSY_TIMEOUT_MS",
    "database_unreachable",
    "is_postgres",
    "make_engine",
    "read_only",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000
BUSY_RETRY_PAUSES_S = (0.05, 0.2, 0.5)  # pauses before the brief retries of a locked BEGIN
BUSY_RETRY_TIMEOUT_MS = 1_000  # the busy timeout of each of those retries
READ_ONLY_OPTION = "winterops_read_only"


def make_engine(
    url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, **kwargs: Any
) -> Engine:
    """Create an engine for `url`, configured for durable, concurrent use.

    Parameters
    ----------
    url
        SQLAlchemy URL: ``sqlite:///path.db`` or ``postgresql+psycopg://…``.
    busy_timeout_ms
        SQLite: how long a writer waits for another one's lock before the brief retries.
    **kwargs
        Passed to :func:`sqlalchemy.create_engine`.

    Raises
    ------
    DatabaseUrlError
        Neither SQLite nor PostgreSQL (a ``ValueError``).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
            **kwargs,
        )
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    if parsed.get_backend_name() == "postgresql":
        connect_args = kwargs.pop("connect_args", {})
        # keep libpq options given in the URL (e.g. a search_path), adding ours
        url_options = parsed.query.get("options", "")
        if isinstance(url_options, tuple):
            url_options = " ".join(url_options)
        options = f"{url_options} {connect_args.get('options', '')}".strip()
        connect_args["options"] = f"{options} -c synchronous_commit=on".strip()
        return create_engine(url, connect_args=connect_args, pool_pre_ping=True, **kwargs)
    msg = f"unsupported database URL {url!r}: use sqlite:/// or postgresql+psycopg://"
    raise DatabaseUrlError(msg)


def _locked(exc: BaseException) -> bool:
    """Tell whether `exc` is SQLite's "database is locked" / "database is busy"."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and (
        "database is locked" in text or "database is busy" in text
    )


def _busy(exc: BaseException, where: str) -> BusyError:
    msg = (f"the database is busy (locked by other writers) at {where}; nothing was written, "
           "try again")
    err = BusyError(msg)
    err.__cause__ = exc
    return err


def _begin(dbapi_conn: Any, statement: str, busy_timeout_ms: int) -> None:
    """Run `statement` (``BEGIN [IMMEDIATE]``), retrying briefly while the database is locked.

    Raises
    ------
    BusyError
        Still locked after :data:`BUSY_RETRY_PAUSES_S`.
    """
    try:
        dbapi_conn.execute(statement)
        return
    except sqlite3.OperationalError as e:
        if not _locked(e):
            raise
        last: BaseException = e
    dbapi_conn.execute(f"PRAGMA busy_timeout={BUSY_RETRY_TIMEOUT_MS}")
    try:
        for pause in BUSY_RETRY_PAUSES_S:
            time.sleep(pause)
            try:
                dbapi_conn.execute(statement)
                return
            except sqlite3.OperationalError as e:
                if not _locked(e):
                    raise
                last = e
    finally:
        dbapi_conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    raise _busy(last, statement)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below), so it can be BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # readers (see `read_only`) take no write lock, so many dashboards read at once
        read = conn.get_execution_options().get(READ_ONLY_OPTION)
        _begin(conn.connection.driver_connection, "BEGIN" if read else "BEGIN IMMEDIATE",
               busy_timeout_ms)

    @event.listens_for(engine, "handle_error")
    def _on_error(ctx: ExceptionContext) -> BusyError | None:
        # a lock met later than BEGIN (it outlasted the busy timeout): a coded "busy", not raw
        if _locked(ctx.original_exception):
            return _busy(ctx.original_exception, (ctx.statement or "").split(" ", 1)[0] or "?")
        return None


def read_only(engine: Engine) -> Engine:
    """Return a view of `engine` for sessions that only read.

    On SQLite their transactions start with a plain (deferred) ``BEGIN`` instead of
    ``BEGIN IMMEDIATE``, so readers never queue behind each other or behind a writer (WAL).
    On PostgreSQL it changes nothing.
    """
    return engine.execution_options(**{READ_ONLY_OPTION: True})


def is_postgres(engine_or_session: Engine | Session) -> bool:
    """Return whether the engine (or the session's bind) is PostgreSQL."""
    bind = engine_or_session.get_bind() if isinstance(engine_or_session, Session) else engine_or_session
    return bind.dialect.name == "postgresql"


def database_unreachable(exc: BaseException) -> bool:
    """Tell whether `exc` means the database cannot be used just now (worth retrying later).

    A driver error on the connection (refused, closed by a restarting server, invalidated)
    or a busy SQLite (:class:`~incidents.errors.BusyError`); not a wrong statement or a
    broken constraint.
    """
    if isinstance(exc, BusyError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if isinstance(exc.orig, sqlite3.Error):  # SQLite's OperationalError also means "no such table"
        return _locked(exc.orig) or "unable to open database" in str(exc.orig)
    return isinstance(exc, OperationalError | InterfaceError)  # refused, closed, shutting down
