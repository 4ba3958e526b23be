"""The storage layer works the same on SQLite and PostGIS: schema, geometry, times, GeoDataFrames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point
from sqlalchemy import select, text

from incidents.store.engine import make_engine, read_gdf, session_scope, write_gdf
from incidents.store.models import DutyPoint, Segment


def test_geometry_and_time_round_trip(session_factory):
    shanghai = timezone(timedelta(hours=8))
    with session_scope(session_factory) as s:
        s.add(
            DutyPoint(
                id="dp1",
                kind="duty_point",
                name="经棚执勤点",
                geometry=Point(117.54, 43.25),
            )
        )
    with session_scope(session_factory) as s:
        dp = s.get(DutyPoint, "dp1")
        assert dp is not None
        assert dp.geometry.equals_exact(Point(117.54, 43.25), 1e-9)
        assert dp.name == "经棚执勤点"
    # an aware time in Asia/Shanghai comes back as the same instant in UTC
    from incidents.store.models import AuditEvent

    at = datetime(2025, 12, 14, 3, 0, tzinfo=shanghai)
    with session_scope(session_factory) as s:
        s.add(AuditEvent(at=at, actor="a", action="x", outcome="ok"))
    with session_scope(session_factory) as s:
        ev = s.scalars(select(AuditEvent)).one()
        assert ev.at == at
        assert ev.at.tzinfo is not None
        assert ev.at.utcoffset() == timedelta(0)


def test_naive_datetime_is_refused(session_factory):
    from incidents.store.models import AuditEvent

    with pytest.raises(Exception, match="naive datetime"):
        with session_scope(session_factory) as s:
            s.add(AuditEvent(at=datetime(2025, 12, 14, 3, 0), actor="a", action="x", outcome="ok"))
            s.flush()


def test_geodataframe_one_call_each_way(session_factory):
    gdf = gpd.GeoDataFrame(
        {
            "id": ["G331:1520.0", "G331:1521.0"],
            "road_code": ["G331", "G331"],
            "km_from": [1520.0, 1521.0],
            "km_to": [1521.0, 1522.0],
            "ignored_column": [1, 2],
        },
        geometry=[LineString([(114.0, 44.0), (114.01, 44.0)]), LineString([(114.01, 44.0), (114.02, 44.0)])],
        crs="EPSG:4326",
    )
    with session_scope(session_factory) as s:
        assert write_gdf(s, Segment, gdf) == 2
    with session_scope(session_factory) as s:
        back = read_gdf(s, Segment)
    assert isinstance(back, gpd.GeoDataFrame)
    assert back.crs.to_epsg() == 4326
    assert sorted(back["id"]) == ["G331:1520.0", "G331:1521.0"]
    assert back.geometry.iloc[0].length == pytest.approx(0.01)


def test_sqlite_pragmas(sqlite_url):
    eng = make_engine(sqlite_url)
    with eng.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
    eng.dispose()


def test_utc_constant_is_aware():
    assert datetime.now(UTC).tzinfo is not None


def test_sqlite_readers_take_no_write_lock(sqlite_url):
    """A reader on the read-only view proceeds while a writer holds the write lock."""
    from sqlalchemy.orm import sessionmaker

    from incidents.store.engine import init_db, read_only

    eng = make_engine(sqlite_url)
    init_db(eng)
    writer = sessionmaker(eng)()
    writer.add(DutyPoint(id="w1", kind="duty_point", name="w", geometry=Point(116, 44)))
    writer.flush()  # BEGIN IMMEDIATE: the write lock is held until commit
    reader = sessionmaker(read_only(eng))()
    # with BEGIN IMMEDIATE this read would wait out busy_timeout and fail "database is locked"
    assert reader.scalars(select(DutyPoint)).all() == []  # the uncommitted row is not visible
    reader.close()
    writer.commit()
    writer.close()
    eng.dispose()
