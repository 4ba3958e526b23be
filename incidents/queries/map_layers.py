"""Reads for the map: hazards, alerts, hazardous segments, hotspots, routes, incident popups.

Line and area layers come back as GeoDataFrames in EPSG:4326, one function per layer (the
dashboard's layer modules in ``dashboard/layers/`` each read one of these).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry import LineString
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.errors import GeoError
from incidents.dispatch import current_conditions
from incidents.fusion import current_hotspots
from incidents.queries.core import (
    ACTIVE_STATES,
    CONDITION_ORDER,
)
from incidents.queries.work import incidents_open
from incidents.service.actions import open_hazards_by_age
from incidents.settings import Settings
from incidents.store.engine import read_gdf
from incidents.store.models import (
    Alert,
    Assignment,
    AssignmentState,
    Hazard,
    HazardState,
    Report,
    RoadChief,
    Segment,
    SegmentCondition,
    Task,
    Unit,
)

__all__ = [
    "ROUTE_COLUMNS",
    "ROUTE_STATES",
    "alerts",
    "hazards_by_age",
    "hazards_open",
    "hotspots",
    "incidents_with_notes",
    "routes",
    "routes_to_tasks",
    "segments_hazardous",
]


def hazards_open(session: Session) -> gpd.GeoDataFrame:
    """Open and handed-over hazards with their road chief, oldest first."""
    return read_gdf(
        session,
        select(
            *Hazard.__table__.columns,
            RoadChief.name.label("chief_name"),
            RoadChief.name_en.label("chief_name_en"),
            RoadChief.phone.label("chief_phone"),
        )
        .outerjoin(RoadChief, RoadChief.id == Hazard.road_chief_id)
        .where(Hazard.state.in_([HazardState.OPEN.value, HazardState.HANDED_OVER.value]))
        .order_by(Hazard.first_seen),
    )



def hazards_by_age(session: Session, at: datetime) -> pd.DataFrame:
    """Hazards not yet cleared, oldest first, with age and road chief (the service's view)."""
    return pd.DataFrame(open_hazards_by_age(session, at))



def alerts(session: Session, at: datetime) -> gpd.GeoDataFrame:
    """Live alerts (state actual, not expired at `at`), with their areas."""
    gdf = read_gdf(
        session,
        select(
            Alert.id, Alert.event, Alert.headline, Alert.severity, Alert.colour, Alert.onset,
            Alert.expires, Alert.area.label("geometry"),
        ).where(Alert.state == "actual"),
    )
    if len(gdf) and "expires" in gdf.columns:
        expires = pd.to_datetime(gdf["expires"], utc=True)
        gdf = gdf[expires.isna() | (expires > pd.Timestamp(at))]
    return gdf



def segments_hazardous(session: Session) -> gpd.GeoDataFrame:
    """Road segments whose current condition is not clear (worst condition per segment)."""
    stmt = (
        select(
            Segment.id, Segment.road_code, Segment.km_from, Segment.km_to,
            SegmentCondition.condition, SegmentCondition.confidence, Segment.geometry,
        )
        .join(SegmentCondition, SegmentCondition.segment_id == Segment.id)
        .where(SegmentCondition.valid_to.is_(None), SegmentCondition.condition != "clear")
    )
    gdf = read_gdf(session, stmt)
    if len(gdf):
        rank = gdf["condition"].map({c: i for i, c in enumerate(CONDITION_ORDER)}).fillna(99)
        gdf = gdf.assign(_rank=rank).sort_values("_rank").drop_duplicates("id")
        gdf = gdf.drop(columns="_rank")
    return gdf



def hotspots(session: Session, region: Any, settings: Settings, at: datetime) -> gpd.GeoDataFrame:
    """Return the current hotspots (road stretches with repeated incidents)."""
    return current_hotspots(session, region, settings, at)



def routes(session: Session, unit_id: str | None = None) -> gpd.GeoDataFrame:
    """Routes of the active assignments (optionally of one unit)."""
    stmt = select(
        Assignment.id, Assignment.unit_id, Assignment.task_id, Assignment.state,
        Assignment.eta_s, Assignment.route.label("geometry"),
    ).where(Assignment.state.in_(ACTIVE_STATES), Assignment.route.is_not(None))
    if unit_id is not None:
        stmt = stmt.where(Assignment.unit_id == unit_id)
    return read_gdf(session, stmt)



ROUTE_STATES = (AssignmentState.CONFIRMED.value, AssignmentState.EN_ROUTE.value)



ROUTE_COLUMNS = ["id", "unit_id", "task_id", "state", "eta_s", "on_network"]



def routes_to_tasks(
    session: Session, region: Any, unit_id: str | None = None
) -> gpd.GeoDataFrame:
    """Road routes from each confirmed or en-route unit, where it is now, to its task.

    Each route is the fastest path on ``region.graph`` under the current road conditions
    (closed segments avoided), drawn from the unit's position to the road, along it, and on
    to the task; ``eta_s`` is that path's time. A unit that cannot reach its task by road (or
    a unit or task without a position) keeps the route stored with the assignment, if any
    (``on_network`` False); without either it has no line.

    Parameters
    ----------
    session
        An open (read) session.
    region
        The loaded :class:`geo.region.Region` (its ``graph``); None: stored routes only.
    unit_id
        Only this unit's route (the patrol lead's view).

    Returns
    -------
    geopandas.GeoDataFrame
        id, unit_id, task_id, state, eta_s, on_network and the line, EPSG:4326.
    """
    stmt = (
        select(Assignment, Unit.vehicle_class, Unit.geometry, Task.geometry)
        .join(Unit, Unit.id == Assignment.unit_id)
        .join(Task, Task.id == Assignment.task_id)
        .where(Assignment.state.in_(ROUTE_STATES))
        .order_by(Assignment.id)
    )
    if unit_id is not None:
        stmt = stmt.where(Assignment.unit_id == unit_id)
    rows = session.execute(stmt).all()
    routed = _road_routes(session, region, rows)
    records, lines = [], []
    for (a, _vc, _ug, _tg), found in zip(rows, routed, strict=True):
        line, seconds = found if found is not None else (a.route, a.eta_s)
        if line is None:
            continue
        records.append({
            "id": a.id, "unit_id": a.unit_id, "task_id": a.task_id, "state": a.state,
            "eta_s": float(seconds) if seconds is not None else float("nan"),
            "on_network": found is not None,
        })
        lines.append(line)
    return gpd.GeoDataFrame(pd.DataFrame(records, columns=ROUTE_COLUMNS), geometry=lines,
                            crs=4326)



def _road_routes(
    session: Session, region: Any, rows: Sequence[Any]
) -> list[tuple[LineString, float] | None]:
    """Route each (assignment, vehicle class, unit point, task point) row on the road graph."""
    out: list[tuple[LineString, float] | None] = [None] * len(rows)
    graph = getattr(region, "graph", None)
    placed = [i for i, r in enumerate(rows) if r[2] is not None and r[3] is not None]
    if graph is None or not placed:
        return out
    lon = [rows[i][2].x for i in placed] + [rows[i][3].x for i in placed]
    lat = [rows[i][2].y for i in placed] + [rows[i][3].y for i in placed]
    try:
        nodes = graph.nearest_nodes(lon, lat)
    except GeoError:
        return out
    conditions = current_conditions(session)
    for k, i in enumerate(placed):
        _a, vc, upos, tpos = rows[i]
        try:
            path, seconds = graph.route(int(nodes[k]), int(nodes[k + len(placed)]), vc,
                                        conditions)
        except GeoError:
            continue
        xy = [(upos.x, upos.y), *path.coords, (tpos.x, tpos.y)]
        out[i] = (LineString(xy), float(seconds))
    return out



def caller_notes(
    session: Session, report_id_lists: Iterable[Iterable[Any] | None], max_notes: int = 5
) -> list[str]:
    """Return, per list of report ids, what those callers said (distinct notes, oldest first).

    Parameters
    ----------
    session
        An open (read) session.
    report_id_lists
        One list of report ids per incident (an incident's ``report_ids``; None for none).
    max_notes
        How many distinct notes to keep per list.

    Returns
    -------
    list of str
        The notes joined with " / " ("" when the calls said nothing). Outside text: escape it.
    """
    ids_per_incident = [
        [int(r) for r in (ids or []) if isinstance(r, int | str) and str(r).isdigit()]
        for ids in report_id_lists
    ]
    wanted = sorted({r for ids in ids_per_incident for r in ids})
    said: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        for rid, attrs in session.execute(
            select(Report.id, Report.attributes).where(Report.id.in_(chunk))
        ):
            note = (attrs or {}).get("notes") if isinstance(attrs, dict) else None
            if isinstance(note, str) and note.strip():
                said[int(rid)] = note.strip()
    notes = []
    for ids in ids_per_incident:
        seen: list[str] = []
        for r in sorted(ids):
            if r in said and said[r] not in seen:
                seen.append(said[r])
        notes.append(" / ".join(seen[:max_notes]))
    return notes


def incidents_with_notes(session: Session, max_notes: int = 5) -> gpd.GeoDataFrame:
    """Open incidents (:func:`incidents_open`) with what the callers said, for the map popup.

    Adds ``caller_notes``: the free-text notes of the incident's call reports, oldest first,
    distinct, at most `max_notes`, joined with " / ". The text comes from outside: escape it
    before display.

    Parameters
    ----------
    session
        An open (read) session.
    max_notes
        How many distinct notes to keep per incident.

    Returns
    -------
    geopandas.GeoDataFrame
        The open incidents plus ``caller_notes`` ("" when the calls said nothing).
    """
    frame = incidents_open(session)
    ids_per_incident = list(frame["report_ids"]) if "report_ids" in frame.columns else []
    notes = caller_notes(session, ids_per_incident, max_notes)
    return frame.assign(caller_notes=pd.Series(notes, index=frame.index, dtype=object))

