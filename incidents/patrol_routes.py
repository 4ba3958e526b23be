"""What the patrol tablet's task cards read about their routes: the road route now, its ETA.

Read-only. For each confirmed or en-route assignment of one unit, the fastest road path from
where the unit is now to its task under the current road conditions
(:func:`incidents.queries.routes_to_tasks`), its length in the metric CRS and a light copy of
the line for a small drawing on the card. Cards of assignments without such a route (on scene,
or no position) get nothing here and fall back to the ETA stored with the assignment.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.crs import to_metric
from incidents import queries
from incidents.store.models import Incident

__all__ = ["MAX_POINTS", "OFF_ROAD_KMH", "incident_caller_notes", "incident_needs", "unit_routes"]

MAX_POINTS = 60  # vertices kept of a route line for the card's drawing
OFF_ROAD_KMH = 30.0  # speed on the legs from the unit to the road and from the road to the task


def _thin(line: shapely.LineString) -> list[tuple[float, float]]:
    """Return at most :data:`MAX_POINTS` (lon, lat) vertices of `line`, ends kept."""
    coords = [(float(x), float(y)) for x, y, *_ in line.coords]
    if len(coords) <= MAX_POINTS:
        return coords
    step = (len(coords) - 1) / (MAX_POINTS - 1)
    return [coords[round(i * step)] for i in range(MAX_POINTS)]


def _off_road_s(line: shapely.LineString) -> float:
    """Return the time of a road route's first and last legs (unit to road, road to task).

    :func:`incidents.queries.routes_to_tasks` times the road path only; a unit standing
    300 m from the road beside its task would otherwise be "0 minutes" away.
    """
    coords = list(line.coords)
    if len(coords) < 3:
        return 0.0
    legs = shapely.LineString(coords[:2]), shapely.LineString(coords[-2:])
    metres = sum(float(to_metric(leg).length) for leg in legs)
    return metres / (OFF_ROAD_KMH / 3.6)


def unit_routes(session: Session, region: Any, unit_id: str) -> dict[int, dict[str, Any]]:
    """Return the current route of each of `unit_id`'s travelling assignments.

    Parameters
    ----------
    session
        An open (read) session.
    region
        The loaded :class:`geo.region.Region` (its road graph); None: stored routes only.
    unit_id
        The unit whose cards are drawn.

    Returns
    -------
    dict
        assignment id -> ``{"eta_s": float | None, "km": float, "on_network": bool,
        "coords": [(lon, lat), ...]}``; ``eta_s`` None when the route has no time.
    """
    frame = queries.routes_to_tasks(session, region, unit_id)
    out: dict[int, dict[str, Any]] = {}
    for row in frame.itertuples(index=False):
        line = row.geometry
        if not isinstance(line, shapely.LineString) or line.is_empty:
            continue
        eta = float(row.eta_s)
        if not math.isnan(eta) and bool(row.on_network):
            eta = max(eta, 0.0) + _off_road_s(line)
        out[int(row.id)] = {
            "eta_s": None if math.isnan(eta) else max(eta, 0.0),
            "km": float(to_metric(line).length) / 1000.0,
            "on_network": bool(row.on_network),
            "coords": _thin(line),
        }
    return out


def incident_needs(session: Session, incident_ids: Iterable[int]) -> dict[int, list[str]]:
    """Return what each incident's callers need (codes such as ``fuel``, ``medical``)."""
    wanted = sorted({int(i) for i in incident_ids})
    if not wanted:
        return {}
    rows = session.execute(select(Incident.id, Incident.needs).where(Incident.id.in_(wanted)))
    out: dict[int, list[str]] = {}
    for iid, needs in rows:
        items = needs if isinstance(needs, list) else [needs] if needs else []
        out[int(iid)] = [str(n) for n in items if n]
    return out


def incident_caller_notes(session: Session, incident_ids: Iterable[int]) -> dict[int, str]:
    """Return what each incident's callers said (:func:`incidents.queries.caller_notes`).

    Incidents whose calls said nothing are left out. Outside text: escape it before display.
    """
    wanted = sorted({int(i) for i in incident_ids})
    if not wanted:
        return {}
    rows = session.execute(
        select(Incident.id, Incident.report_ids).where(Incident.id.in_(wanted))
    ).all()
    notes = queries.caller_notes(session, [ids for _, ids in rows])
    return {int(iid): text for (iid, _), text in zip(rows, notes, strict=True) if text}
