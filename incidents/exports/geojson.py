"""One layer as an RFC 7946 GeoJSON FeatureCollection.

WGS84 lon/lat, no ``crs`` member, polygon rings by the right-hand rule (exterior rings
counter-clockwise, holes clockwise); checked against the geojson.org schema and those rules in
``tests/test_export_schemas.py``.
"""

from __future__ import annotations

import json
from typing import Any

import shapely
from sqlalchemy.orm import Session

from incidents.exports.layers import layer_frame

__all__ = ['geojson_layer']


def geojson_layer(session: Session, layer: str = "incidents") -> dict[str, Any]:
    """One layer as a GeoJSON FeatureCollection (dict).

    Raises
    ------
    UnknownLayerError
        `layer` is not one of :data:`incidents.exports.layers.LAYERS`.
    """
    gdf = layer_frame(session, layer)
    if gdf.empty:
        return {"type": "FeatureCollection", "features": []}
    # RFC 7946 section 3.1.6: exterior rings counter-clockwise, holes clockwise
    gdf = gdf.set_geometry(shapely.orient_polygons(gdf.geometry.values, exterior_cw=False))
    doc: dict[str, Any] = json.loads(gdf.to_json(drop_id=True))
    doc.pop("crs", None)  # RFC 7946 section 4: no crs member; coordinates are WGS84 lon/lat
    return doc
