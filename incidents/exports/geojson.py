"""One layer as a GeoJSON FeatureCollection."""

from __future__ import annotations

import json
from typing import Any

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
    doc: dict[str, Any] = json.loads(gdf.to_json(drop_id=True))
    return doc
