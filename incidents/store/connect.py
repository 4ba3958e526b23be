"""Engines for SQLite (default) and PostgreSQL/PostGIS, configured for durable, concurrent use.

SQLite runs in WAL mode with ``synchronous=FULL`` and a ``busy_timeout``; every transaction
starts with ``BEGIN IMMEDIATE`` so two writers queue instead of failing half-way. PostgreSQL
runs with ``synchronous_commit=on``. Imported by both :mod:`incidents.store.engine` and
:mod:`incidents.store.migrate` (neither imports the other's engine code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from incidents.errors import DatabaseUrlError

__all__ = ["READ_ONLY_OPTION", "SQLITE_BUSY_TIMEOUT_MS", "is_postgres", "make_engine", "read_only"]

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY_OPTION = "winterops_read_only"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for `url`, configured for durable, concurrent use.

    Parameters
    ----------
    url
        SQLAlchemy URL: ``sqlite:///path.db`` or ``postgresql+psycopg://…``.
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
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            **kwargs,
        )
        _configure_sqlite(engine)
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


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below), so it can be BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # readers (see `read_only`) take no write lock, so many dashboards read at once
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


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
