"""Storage: the ORM model, engines (SQLite / PostGIS), Alembic migrations, runtime settings.

============== ================================================================================
module         what it holds
============== ================================================================================
models         the ORM model (one class per table; every model name importable from here)
models_base    the declarative base and the column types (UTC times, geometries)
models_people  users and log-in sessions
models_audit   the append-only audit log and its hash chain
enums          the vocabularies (report kinds, conditions, states, roles)
connect        engines: SQLite (WAL, ``BEGIN IMMEDIATE``) and PostgreSQL
engine         schema (``init_db``), sessions (``session_factory``, ``session_scope``), frames I/O
migrate        Alembic: upgrade, downgrade, revisions, schema differences
changes        per-topic change counters bumped at commit (live refresh)
runtime        typed ``app_settings`` keys (the only reader and writer of that table)
sink           storing ingested frames
region         loading a region into the database
region_files   which file of a region import is which (with the mapping file)
region_checks  the region tables checked row by row, every problem collected
region_import  the all-or-nothing region import, with its history
============== ================================================================================

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
    "models_audit",
    "models_base",
    "models_people",
    "region",
    "region_checks",
    "region_files",
    "region_import",
    "runtime",
    "sink",
]
