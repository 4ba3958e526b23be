"""The declarative base and the column types every winterops table uses.

Geometry columns use :class:`GeometryType`: PostGIS ``geometry(…, 4326)`` with a spatial index
on PostgreSQL, WKB bytes on SQLite (no SpatiaLite needed). Python values are shapely geometries
in WGS84 lon/lat. Every time is a timezone-aware UTC ``datetime`` (:class:`UTCDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import shapely
from geoalchemy2 import Geometry  # imported eagerly: it registers the PostGIS DDL hooks
from geoalchemy2.shape import to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import JSON, DateTime, LargeBinary, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeEngine

from incidents.errors import NaiveDatetimeError

__all__ = ["Base", "GeometryType", "UTCDateTime", "utcnow"]


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite keeps no zone; PostgreSQL uses ``timestamptz``. Naive values are refused, so a
    caller cannot store local time by mistake.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware time to UTC for the database; refuse a naive one."""
        if value is None:
            return None
        if value.tzinfo is None:
            msg = f"naive datetime {value!r}: give a timezone (UTC is stored)"
            raise NaiveDatetimeError(msg)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return a stored time as an aware UTC ``datetime``."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class GeometryType(TypeDecorator[BaseGeometry]):
    """A WGS84 shapely geometry: PostGIS geometry on PostgreSQL, WKB on other databases."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, geometry_type: str = "GEOMETRY", spatial_index: bool = True) -> None:
        super().__init__()
        self.geometry_type = geometry_type
        self.spatial_index = spatial_index

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Choose PostGIS ``geometry`` on PostgreSQL, bytes elsewhere."""
        if dialect is not None and dialect.name == "postgresql":
            return dialect.type_descriptor(
                Geometry(
                    geometry_type=self.geometry_type,
                    srid=4326,
                    spatial_index=self.spatial_index,
                )
            )
        if dialect is None:  # GeoAlchemy2's DDL hooks ask without a dialect
            return LargeBinary()
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: BaseGeometry | None, dialect: Dialect) -> Any:
        """Convert a shapely geometry to EWKT (PostGIS) or WKB."""
        if value is None:
            return None
        if dialect.name == "postgresql":
            return f"SRID=4326;{value.wkt}"
        return shapely.to_wkb(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> BaseGeometry | None:
        """Return a stored geometry as a shapely geometry."""
        if value is None:
            return None
        if dialect.name == "postgresql":
            return to_shape(value)
        return shapely.from_wkb(bytes(value))


class Base(DeclarativeBase):
    """Declarative base of every winterops table."""

    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}
