"""Schema management with Alembic: the only way the winterops schema is created or changed.

``upgrade(engine)`` runs ``alembic upgrade head`` on the engine's database (on PostgreSQL in
the first schema of the connection's ``search_path``). The Alembic configuration is built in
code, with the scripts inside the package (``incidents/migrations``), so no ``alembic.ini`` is
needed. The first revision also installs the triggers that make the audit log append-only.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from incidents.store.connect import make_engine
from incidents.store.models import Base, GeometryType

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# one number for every winterops process: concurrent upgrades on PostgreSQL queue on it
_PG_LOCK_KEY = 0x57494E54  # "WINT"
# PostGIS's own tables, never ours to compare or drop
_POSTGIS_TABLES = frozenset(
    {"spatial_ref_sys", "geometry_columns", "geography_columns", "raster_columns",
     "raster_overviews", "topology", "layer"}
)


class UnmanagedSchemaError(RuntimeError):
    """The database holds winterops tables that the migrations did not make."""


def alembic_config(connection: Connection | None = None) -> Config:
    """Build the Alembic configuration in code (scripts in ``incidents/migrations``).

    Parameters
    ----------
    connection
        When given, the migrations run on this connection (``config.attributes``).
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema of `engine`'s database up to `revision` (default: the newest).

    Runs in one transaction; on PostgreSQL an advisory lock keeps two processes from
    migrating at the same time.

    Raises
    ------
    UnmanagedSchemaError
        The database has winterops tables but no Alembic version (made outside the
        migrations); it is left untouched.
    """
    with engine.begin() as conn:
        _lock(conn)
        if MigrationContext.configure(conn).get_current_revision() is None:
            present = sorted(set(inspect(conn).get_table_names()) & set(Base.metadata.tables))
            if present:
                msg = (
                    f"database {engine.url.render_as_string(hide_password=True)} has winterops "
                    f"tables ({', '.join(present[:3])}, ...) but no migration version: it was "
                    "not made by these migrations; start over with `winterops demo --reset`"
                )
                raise UnmanagedSchemaError(msg)
        command.upgrade(alembic_config(conn), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Take the schema down to `revision`; ``"base"`` drops every winterops table."""
    with engine.begin() as conn:
        _lock(conn)
        command.downgrade(alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """Return the newest revision among the migration scripts."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Tell Alembic's autogenerate what to compare: everything but PostGIS's own tables."""
    return not (type_ == "table" and name in _POSTGIS_TABLES)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render winterops' own column types in generated migrations."""
    if type_ == "type" and isinstance(obj, GeometryType):
        autogen_context.imports.add("from incidents.store.models import GeometryType")
        return f"GeometryType({obj.geometry_type!r}, spatial_index={obj.spatial_index!r})"
    if type_ == "type" and type(obj).__module__.startswith("incidents.store.models"):
        autogen_context.imports.add("import incidents.store.models")
        return f"incidents.store.models.{type(obj).__name__}()"
    return False


def schema_differences(engine: Engine) -> list[Any]:
    """Return Alembic's autogenerate differences between the database and the model.

    An empty list means the migrations produce exactly the model's schema.
    """
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_object": include_object,
                "compare_type": True,
                "target_metadata": Base.metadata,
            },
        )
        return list(compare_metadata(ctx, Base.metadata))


def autogenerate_revision(message: str, rev_id: str | None = None) -> list[Path]:
    """Write a new migration script for whatever the model has that the migrations lack.

    Upgrades a scratch SQLite database to head, lets Alembic compare it with the model and
    writes ``incidents/store/migrations/versions/<rev>_<message>.py``. Review the script (and add
    hand-written parts) before committing it. Returns the written paths.
    """
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        try:
            upgrade(engine)
            with engine.begin() as conn:
                scripts = command.revision(
                    alembic_config(conn), message=message, autogenerate=True, rev_id=rev_id
                )
        finally:
            engine.dispose()
    found = scripts if isinstance(scripts, list) else [scripts]
    return [Path(s.path) for s in found if s is not None]


if __name__ == "__main__":  # python -m incidents.store.migrate "add a column"
    import sys

    if len(sys.argv) != 2:
        raise SystemExit('usage: python -m incidents.store.migrate "what the new revision does"')
    for written in autogenerate_revision(sys.argv[1]):
        print(f"wrote {written}: review it before committing")
