"""Reads for :mod:`incidents.exports`: whole tables, and the rows the exchange formats link."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.queries.core import select_frame
from incidents.store.engine import read_gdf
from incidents.store.models import (
    Assignment,
    Hazard,
    Incident,
    Report,
    Task,
    Unit,
)

__all__ = [
    "EXPORT_TABLES",
    "export_table",
    "incident_assignments",
    "incidents_listed",
    "reports_listed",
]


EXPORT_TABLES: dict[str, Any] = {
    "incidents": Incident,
    "hazards": Hazard,
    "tasks": Task,
    "units": Unit,
    "assignments": Assignment,
}



def export_table(session: Session, table: str) -> gpd.GeoDataFrame:
    """Every row of an exported table (a key of :data:`EXPORT_TABLES`), all columns, id order.

    The geometry is the table's own column (``route`` for assignments), EPSG:4326.

    Raises
    ------
    KeyError
        `table` is not a key of :data:`EXPORT_TABLES` (``incidents.exports`` checks first).
    """
    model = EXPORT_TABLES[table]
    return read_gdf(session, select(*model.__table__.columns).order_by(model.id))



def incidents_listed(session: Session, incident_ids: Iterable[int]) -> gpd.GeoDataFrame:
    """Return the incidents with these ids, whatever their status, in id order (points)."""
    ids = sorted({int(i) for i in incident_ids})
    return read_gdf(
        session,
        select(*Incident.__table__.columns).where(Incident.id.in_(ids)).order_by(Incident.id),
    )



def reports_listed(session: Session, report_ids: Iterable[int]) -> pd.DataFrame:
    """Return the reports with these ids (without geometry), in id order."""
    ids = sorted({int(i) for i in report_ids})
    cols = [c for c in Report.__table__.columns if c.name != "geometry"]
    return select_frame(session, select(*cols).where(Report.id.in_(ids)).order_by(Report.id))



def incident_assignments(session: Session, incident_ids: Iterable[int]) -> pd.DataFrame:
    """Every assignment (any state) of a task of these incidents, task then assignment order.

    With the task's ``task_kind`` and ``incident_id`` and the unit's ``vehicle_class`` and
    ``unit_capabilities`` (no route).
    """
    ids = sorted({int(i) for i in incident_ids})
    cols = [c for c in Assignment.__table__.columns if c.name != "route"]
    stmt = (
        select(
            *cols,
            Task.kind.label("task_kind"),
            Task.incident_id,
            Unit.vehicle_class,
            Unit.capabilities.label("unit_capabilities"),
        )
        .join(Task, Task.id == Assignment.task_id)
        .outerjoin(Unit, Unit.id == Assignment.unit_id)
        .where(Task.incident_id.in_(ids))
        .order_by(Task.id, Assignment.id)
    )
    return select_frame(session, stmt)

