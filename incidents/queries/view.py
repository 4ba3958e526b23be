"""Reads of one map view: the features inside a bounding box, at the zoom's detail (issue 14).

On PostgreSQL the box is tested in the database: ``ST_Intersects`` with an envelope, which
PostGIS answers from the GiST index of the geometry column (its ``&&`` step) before the exact
test, and lines come back simplified there (``ST_SimplifyPreserveTopology`` with the view's
tolerance). SQLite stores WKB without spatial SQL: the rows are read and cut in Python with a
shapely STRtree (:func:`in_bbox`), then simplified the same way.

A box is ``(west, south, east, north)`` in WGS84 degrees; a tolerance is in degrees
(0 = lines as stored).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import ColumnElement, Select, func, select, type_coerce
from sqlalchemy.orm import Session

from incidents.queries.core import CONDITION_ORDER
from incidents.store.engine import read_gdf
from incidents.store.models import Incident, IncidentStatus, Segment, SegmentCondition

__all__ = [
    "BBox",
    "in_bbox",
    "incidents_in_view",
    "segments_in_view",
    "segments_view_statement",
]

BBox = tuple[float, float, float, float]


def in_bbox(gdf: gpd.GeoDataFrame, bbox: BBox) -> gpd.GeoDataFrame:
    """Return the rows of `gdf` whose geometry meets `bbox` (an STRtree query), in order.

    Parameters
    ----------
    gdf
        WGS84 features (rows without a geometry are left out).
    bbox
        ``(west, south, east, north)``.

    Returns
    -------
    geopandas.GeoDataFrame
        The rows in the box.
    """
    if not len(gdf):
        return gdf
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    tree = shapely.STRtree(geoms)
    hits = np.sort(tree.query(shapely.box(*bbox), predicate="intersects"))
    return gdf.iloc[hits]


def _postgis(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _envelope(bbox: BBox) -> ColumnElement[object]:
    west, south, east, north = bbox
    return func.ST_MakeEnvelope(west, south, east, north, 4326)


def segments_view_statement(bbox: BBox, tolerance: float, postgis: bool) -> Select[Any]:
    """Return the select of :func:`segments_in_view` (box and simplification in SQL on PostGIS).

    Parameters
    ----------
    bbox
        ``(west, south, east, north)``.
    tolerance
        Simplification tolerance in degrees; 0 = as stored.
    postgis
        Whether the database is PostGIS (else no spatial SQL: every hazardous segment).

    Returns
    -------
    sqlalchemy.Select
        The statement.
    """
    geometry: Any = Segment.geometry
    if tolerance > 0 and postgis:
        geometry = type_coerce(
            func.ST_SimplifyPreserveTopology(Segment.geometry, tolerance), Segment.geometry.type
        )
    stmt: Select[Any] = (
        select(
            Segment.id, Segment.road_code, Segment.km_from, Segment.km_to,
            SegmentCondition.condition, SegmentCondition.confidence, geometry.label("geometry"),
        )
        .join(SegmentCondition, SegmentCondition.segment_id == Segment.id)
        .where(SegmentCondition.valid_to.is_(None), SegmentCondition.condition != "clear")
    )
    if postgis:
        stmt = stmt.where(func.ST_Intersects(Segment.geometry, _envelope(bbox)))
    return stmt


def segments_in_view(session: Session, bbox: BBox, tolerance: float = 0.0) -> gpd.GeoDataFrame:
    """Road segments in `bbox` whose current condition is not clear, simplified to `tolerance`.

    The rows and columns of :func:`incidents.queries.segments_hazardous` (worst condition
    per segment) for the segments that meet the box.

    Parameters
    ----------
    session
        An open (read) session.
    bbox
        ``(west, south, east, north)``.
    tolerance
        Simplification tolerance in degrees (a pixel at the view's zoom); 0 = as stored.

    Returns
    -------
    geopandas.GeoDataFrame
        id, road_code, km_from, km_to, condition, confidence, geometry.
    """
    postgis = _postgis(session)
    gdf = read_gdf(session, segments_view_statement(bbox, tolerance, postgis))
    if not postgis:
        gdf = in_bbox(gdf, bbox)
        if tolerance > 0 and len(gdf):
            gdf = gdf.set_geometry(
                shapely.simplify(
                    np.asarray(gdf.geometry.values, dtype=object), tolerance,
                    preserve_topology=True,
                ),
                crs=4326,
            )
    if len(gdf):
        rank = gdf["condition"].map({c: i for i, c in enumerate(CONDITION_ORDER)}).fillna(99)
        gdf = gdf.assign(_rank=rank).sort_values(["_rank", "id"], kind="stable")
        gdf = gdf.drop_duplicates("id").drop(columns="_rank")
    return gdf


def incidents_in_view(session: Session, bbox: BBox) -> gpd.GeoDataFrame:
    """Open incidents in `bbox`, most urgent first (the columns of ``incidents_open``).

    Parameters
    ----------
    session
        An open (read) session.
    bbox
        ``(west, south, east, north)``.

    Returns
    -------
    geopandas.GeoDataFrame
        The open incidents (points) in the box.
    """
    stmt = (
        select(*Incident.__table__.columns)
        .where(Incident.status == IncidentStatus.OPEN.value)
        .order_by(Incident.priority.desc(), Incident.first_report_at, Incident.id)
    )
    if _postgis(session):
        stmt = stmt.where(func.ST_Intersects(Incident.geometry, _envelope(bbox)))
        return read_gdf(session, stmt)
    gdf = read_gdf(session, stmt)
    if len(gdf):
        gdf = gdf[gdf.geometry.notna()]
    return in_bbox(gdf, bbox)
