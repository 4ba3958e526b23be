"""Storage: the ORM model, engines (SQLite / PostGIS), Alembic migrations, runtime settings.

========== ====================================================================================
module     what it holds
========== ====================================================================================
models     the ORM model (one class per table)
enums      the vocabularies (report kinds, conditions, states, roles)
connect    engines: SQLite (WAL, ``BEGIN IMMEDIATE``) and PostgreSQL
engine     schema (``init_db``), sessions (``session_factory``, ``session_scope``), frames I/O
migrate    Alembic: upgrade, downgrade, revisions, schema differences
changes    per-topic change counters bumped at commit (live refresh)
runtime    typed ``app_settings`` keys (the only reader and writer of that table)
sink       storing ingested frames
region     loading a region into the database
========== ====================================================================================

:data:`__all__` lists those modules; importing the package imports none of them
(``from incidents.store.engine import session_scope``).
"""

__all__ = [
    "changes",
    "connect",
    "engine",
    "enums",
    "migrate",
    "models",
    "region",
    "runtime",
    "sink",
]
