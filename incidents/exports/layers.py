"""The exportable layers (incidents, hazards, tasks, units, assignments) as WGS84 frames."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from incidents import queries
from incidents.errors import UnknownLayerError
from incidents.exports.common import iso, rows

__all__ = ["LAYERS", "layer_frame", "layers"]


def _incident_row(i: Any) -> dict[str, Any]:
    return {
        "id": i.id,
        "kind": i.kind,
        "status": i.status,
        "title": i.title,
        "road_code": i.road_code,
        "km": i.km,
        "vehicles": i.vehicles,
        "people": i.people,
        "vulnerable": i.vulnerable,
        "priority": i.priority,
        "first_report_at": iso(i.first_report_at),
        "notes": i.notes,
    }


def _hazard_row(h: Any) -> dict[str, Any]:
    return {
        "id": h.id,
        "condition": h.condition,
        "state": h.state,
        "road_code": h.road_code,
        "km": h.km,
        "section_id": h.section_id,
        "road_chief_id": h.road_chief_id,
        "first_seen": iso(h.first_seen),
        "cleared_at": iso(h.cleared_at),
        "cleared_by": h.cleared_by,
        "reason": h.reason,
    }


def _task_row(t: Any) -> dict[str, Any]:
    return {
        "id": t.id,
        "incident_id": t.incident_id,
        "hazard_id": t.hazard_id,
        "kind": t.kind,
        "status": t.status,
        "priority": t.priority,
        "created_at": iso(t.created_at),
    }


def _unit_row(u: Any) -> dict[str, Any]:
    return {
        "id": u.id,
        "name": u.name,
        "name_en": u.name_en,
        "vehicle_class": u.vehicle_class,
        "capabilities": ";".join(u.capabilities or []),
        "status": u.status,
        "crew_hours": u.crew_hours,
        "fuel": u.fuel,
        "position_at": iso(u.position_at),
    }


def _assignment_row(a: Any) -> dict[str, Any]:
    return {
        "id": a.id,
        "unit_id": a.unit_id,
        "task_id": a.task_id,
        "state": a.state,
        "eta_s": a.eta_s,
        "confirmed_at": iso(a.confirmed_at),
        "confirmed_by": a.confirmed_by,
        "on_scene_at": iso(a.on_scene_at),
        "cleared_at": iso(a.cleared_at),
    }


# layer -> (row, geometry); a new layer is one line here, one row function and its table in
# incidents.queries.EXPORT_TABLES
_LAYERS: dict[str, tuple[Callable[[Any], dict[str, Any]], Callable[[Any], Any]]] = {
    "incidents": (_incident_row, lambda i: i.geometry),
    "hazards": (_hazard_row, lambda h: h.geometry),
    "tasks": (_task_row, lambda t: t.geometry),
    "units": (_unit_row, lambda u: u.geometry),
    "assignments": (_assignment_row, lambda a: a.route),
}
LAYERS = tuple(_LAYERS)


def _frame(
    records: list[dict[str, Any]], geoms: list[BaseGeometry | None], columns: list[str]
) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(records, columns=columns)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)


def layer_frame(session: Session, layer: str) -> gpd.GeoDataFrame:
    """One layer (see :data:`LAYERS`) as a WGS84 frame, rows in id order.

    Read through :func:`incidents.queries.export_table`.

    Raises
    ------
    UnknownLayerError
        `layer` is not one of :data:`LAYERS`.
    """
    if layer not in _LAYERS:
        msg = f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}"
        raise UnknownLayerError(msg)
    row, geometry = _LAYERS[layer]
    table = queries.export_table(session, layer)
    records = rows(table)
    # the columns of a row built from nothing, so an empty layer keeps its header
    columns = list(row(SimpleNamespace(**dict.fromkeys(table.columns))))
    return _frame([row(r) for r in records], [geometry(r) for r in records], columns)


def layers(session: Session) -> dict[str, gpd.GeoDataFrame]:
    """Return the exportable layers: incidents, hazards, tasks, units, assignments (WGS84)."""
    return {name: layer_frame(session, name) for name in LAYERS}
