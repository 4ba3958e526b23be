"""Alembic environment for winterops.

Normally run through :func:`incidents.store.migrate.upgrade`, which hands over an open connection in
``config.attributes["connection"]``. Run by the ``alembic`` command instead, it connects to
``sqlalchemy.url`` from the config, else ``WINTEROPS_DATABASE_URL`` / the default SQLite file.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from incidents.store.migrate import include_object, render_item
from incidents.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_item=render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on a new engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from incidents.settings import Settings
    from incidents.store.engine import make_engine

    url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    msg = "offline (--sql) migrations are not supported; run against a database"
    raise SystemExit(msg)
run_migrations_online()
