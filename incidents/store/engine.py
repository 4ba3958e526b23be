"""Storage: engines (from :mod:`incidents.store.connect`), schema, sessions, GeoDataFrame I/O.

SQLite runs in WAL mode with ``synchronous=FULL`` and a ``busy_timeout``; every transaction
starts with ``BEGIN IMMEDIATE`` so two writers queue instead of failing half-way. PostgreSQL
runs with ``synchronous_commit=on``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine, Select, insert, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from incidents.store.changes import track
from incidents.store.connect import (
    READ_ONLY_OPTION,
    SQLITE_BUSY_TIMEOUT_MS,
    is_postgres,
    make_engine,
    read_only,
)
from incidents.store.migrate import upgrade
from incidents.store.models import Base, GeometryType

__all__ = [
    "READ_ONLY_OPTION",
    "SQLITE_BUSY_TIMEOUT_MS",
    "create_all_for_tests",
    "init_db",
    "is_postgres",
    "make_engine",
    "read_gdf",
    "read_only",
    "session_factory",
    "session_scope",
    "write_gdf",
]


def init_db(engine: Engine) -> None:
    """Bring the schema to the newest version (Alembic ``upgrade head``)."""
    upgrade(engine)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory bound to `engine` (objects stay usable after commit).

    Its sessions count what they change (:mod:`incidents.store.changes`).
    """
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
