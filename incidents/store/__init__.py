"""Storage: the ORM model, the engine (SQLite / PostGIS), Alembic migrations, the sink that stores ingested frames, and loading a region into the database."""
