"""Alembic migrations are the only way the schema is made, and they make exactly the model."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from incidents.store.engine import make_engine
from incidents.store.migrate import (
    current_revision,
    downgrade,
    head_revision,
    schema_differences,
    upgrade,
)
from incidents.store.models import Base, GeometryType


def test_upgrade_head_matches_the_model(engine):
    assert current_revision(engine) == head_revision()
    assert schema_differences(engine) == []
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_a_model_change_without_a_migration_shows_up(engine):
    """The comparison is not vacuous: a table missing from the database is reported."""
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE simulation_runs"))
    diffs = schema_differences(engine)
    assert any(d[0] == "add_table" and d[1].name == "simulation_runs" for d in diffs)


def test_upgrade_is_idempotent_and_downgrade_drops_everything(db_url):
    eng = make_engine(db_url)
    try:
        upgrade(eng)
        upgrade(eng)  # second run: nothing to do
        assert current_revision(eng) == head_revision()
        downgrade(eng, "base")
        left = set(inspect(eng).get_table_names()) & set(Base.metadata.tables)
        assert left == set()
        assert current_revision(eng) is None
        upgrade(eng)
        assert schema_differences(eng) == []
    finally:
        eng.dispose()


def test_postgis_has_gist_indexes_on_every_geometry_column(engine):
    if engine.dialect.name != "postgresql":
        return
    wanted = {
        (table.name, col.name)
        for table in Base.metadata.tables.values()
        for col in table.columns
        if isinstance(col.type, GeometryType) and col.type.spatial_index
    }
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT tablename, indexdef FROM pg_indexes "
                "WHERE schemaname = current_schema() AND indexdef ILIKE '%USING gist%'"
            )
        ).all()
        geom_types = dict(
            conn.execute(
                text(
                    "SELECT f_table_name || '.' || f_geometry_column, srid FROM geometry_columns "
                    "WHERE f_table_schema = current_schema()"
                )
            ).all()
        )
    have = {(t, d.rsplit("(", 1)[1].rstrip(")").strip()) for t, d in rows}
    assert wanted <= have
    assert wanted, "the model declares spatial columns"
    assert {f"{t}.{c}" for t, c in wanted} <= set(geom_types)
    assert set(geom_types.values()) == {4326}


def test_migrations_land_in_the_search_path_schema(engine):
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar()
        n = conn.execute(
            text("SELECT count(*) FROM pg_tables WHERE schemaname = :s AND tablename = 'units'"),
            {"s": schema},
        ).scalar()
    assert schema != "public"
    assert n == 1


def test_tables_made_outside_the_migrations_are_not_adopted(db_url):
    from incidents.replay.demo import reset_database
    from incidents.store.migrate import UnmanagedSchemaError

    eng = make_engine(db_url)
    try:
        Base.metadata.create_all(eng)  # as the early skeleton did: no Alembic version
        with pytest.raises(UnmanagedSchemaError, match="winterops demo --reset"):
            upgrade(eng)
        assert current_revision(eng) is None
        reset_database(eng)  # what `winterops demo --reset` does first
        upgrade(eng)
        assert current_revision(eng) == head_revision()
        assert schema_differences(eng) == []
    finally:
        eng.dispose()
