"""The read model's base: the engine door, the operational now and the frame helpers.

Every other module of :mod:`incidents.queries` builds on these: :func:`select_frame` runs a
``select`` into a plain frame, :func:`records_frame` turns objects into one, :func:`points_xy`
adds ``lon``/``lat`` for tables and :func:`utc_or_none` reads a stored time as aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from incidents.clock import operational_now
from incidents.store.engine import make_engine, read_only, session_factory
from incidents.store.models import AssignmentState

__all__ = [
    "ACTIVE_STATES",
    "CONDITION_ORDER",
    "now",
    "open_engine",
    "points_xy",
    "read_sessions",
    "records_frame",
    "select_frame",
    "utc_or_none",
    "write_sessions",
]


ACTIVE_STATES = (
    AssignmentState.CONFIRMED.value,
    AssignmentState.EN_ROUTE.value,
    AssignmentState.ON_SCENE.value,
)



CONDITION_ORDER = ["closed", "black_ice", "drifting_snow", "snow_packed", "poor_visibility", "clear"]



def open_engine(url: str) -> Engine:
    """Return the engine of `url`, configured like every other part of winterops."""
    return make_engine(url)



def write_sessions(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory for writes (its commits count changes, see ``store.changes``)."""
    return session_factory(engine)



def read_sessions(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory for reads only (no write lock on SQLite)."""
    return session_factory(read_only(engine))



def now(session: Session) -> datetime:
    """Return the operational "now" (UTC): the demo storm's clock when one is set."""
    return operational_now(session)[0]



def select_frame(session: Session, stmt: Any) -> pd.DataFrame:
    """Run the ``select`` `stmt` and return its rows as a plain frame, its columns named."""
    result = session.execute(stmt)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))



def points_xy(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return a point GeoDataFrame as a plain frame with ``lon``/``lat`` (NaN where no point)."""
    if not len(gdf):
        return pd.DataFrame(columns=[*gdf.columns, "lon", "lat"])
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    geom = gdf.geometry
    valid = geom.notna() & ~geom.is_empty & (geom.geom_type == "Point")
    frame["lon"] = pd.Series(float("nan"), index=gdf.index)
    frame["lat"] = pd.Series(float("nan"), index=gdf.index)
    if valid.any():
        frame.loc[valid, "lon"] = geom[valid].x
        frame.loc[valid, "lat"] = geom[valid].y
    return frame



def records_frame(items: Iterable[Any]) -> pd.DataFrame:
    """Return one row per item (``to_dict()``, a dataclass, a dict or its attributes)."""
    rows = []
    for item in items:
        if hasattr(item, "to_dict"):
            rows.append(item.to_dict())
        elif is_dataclass(item) and not isinstance(item, type):
            rows.append(asdict(item))
        elif isinstance(item, dict):
            rows.append(dict(item))
        else:
            rows.append(vars(item))
    return pd.DataFrame(rows)



def utc_or_none(value: Any) -> datetime | None:
    """Return a stored time as an aware UTC datetime (a naive one is read as UTC); None: none."""
    if value is None or pd.isna(value):
        return None
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()  # type: ignore[no-any-return]

