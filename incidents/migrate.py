"""Schema management. TEMPORARY: creates the schema from the model; the core helper replaces
this with Alembic (`upgrade(engine)` = alembic upgrade head) plus the audit-log triggers."""

from __future__ import annotations

from sqlalchemy import Engine

from incidents.models import Base


def upgrade(engine: Engine) -> None:
    """Create every table that does not exist yet."""
    Base.metadata.create_all(engine)
