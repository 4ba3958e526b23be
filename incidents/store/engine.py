"""Storage: engines for SQLite (default) and PostgreSQL/PostGIS, sessions, GeoDataFrame I/O.

SQLite runs in WAL mode with ``synchronous=FULL`` and a ``busy_timeout``; every transaction
starts with ``BEGIN IMMEDIATE`` so two writers queue instead of failing half-way. PostgreSQL
runs with ``synchronous_commit=on``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine, Select, create_engine, event, insert, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from incidents.store.models import Base, GeometryType

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
    raise ValueError(msg)


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


def init_db(engine: Engine) -> None:
    """Bring the schema to the newest version (Alembic ``upgrade head``)."""
    from incidents.store.migrate import upgrade

    upgrade(engine)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory bound to `engine` (objects stay usable after commit).

    Its sessions count what they change (:mod:`incidents.store.changes`).
    """
    from incidents.store.changes import track

    return track(sessionmaker(engine, expire_on_commit=False))


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Run a unit of work in one transaction: commit on success, roll back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _geometry_columns(model: type[Base]) -> list[str]:
    return [c.key for c in inspect(model).columns if isinstance(c.type, GeometryType)]


def write_gdf(session: Session, model: type[Base], gdf: pd.DataFrame) -> int:
    """Insert every row of `gdf` as a `model` row (columns matched by name); return the count.

    The frame's active geometry goes to the model's geometry column of the same name
    (``geometry`` by default). Columns the model lacks are ignored.
    """
    if len(gdf) == 0:
        return 0
    if isinstance(gdf, gpd.GeoDataFrame) and gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    cols = {c.key for c in inspect(model).columns}
    keep = [c for c in gdf.columns if c in cols]
    frame = gdf[keep].astype(object).where(pd.notna(gdf[keep]), None)
    rows = frame.to_dict("records")
    session.execute(insert(model), rows)
    return len(rows)


def read_gdf(session: Session, what: type[Base] | Select[Any]) -> gpd.GeoDataFrame:
    """Read a model's table (or a select of one model's columns) into a GeoDataFrame (EPSG:4326)."""
    if isinstance(what, type):
        stmt: Select[Any] = select(*what.__table__.columns)
        geom_cols = _geometry_columns(what)
    else:
        stmt = what
        geom_cols = [
            c.name for c in stmt.selected_columns if isinstance(getattr(c, "type", None), GeometryType)
        ]
    result = session.execute(stmt)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    geometry = "geometry" if "geometry" in geom_cols else (geom_cols[0] if geom_cols else None)
    if geometry is None:
        return gpd.GeoDataFrame(frame)
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def create_all_for_tests(engine: Engine) -> None:
    """Create the schema straight from the model (no Alembic); used by a few fast tests."""
    Base.metadata.create_all(engine)
