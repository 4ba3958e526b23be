"""Hotspots: the road stretches ranked by how unusual their incident and hazard load is."""

from __future__ import annotations

from dashboard.i18n import t
from dashboard.layers.base import MapLayer, rounded, tips
from dashboard.mappayload import (
    HOTSPOT_COLOUR,
    SIMPLIFY_DEG,
    LayerPayload,
    MapLayers,
    payload_from_frame,
)

__all__ = ["LAYER", "build"]


def build(layers: MapLayers, lang: str) -> LayerPayload:
    """Serialise the ranked hotspots."""
    return payload_from_frame(
        "hotspots",
        t("layer.hotspots", lang),
        layers.hotspots,
        {"rank": "rank", "z": rounded("z", 2), "reason": "reason"},
        {
            "": {
                "color": HOTSPOT_COLOUR,
                "weight": 10,
                "opacity": 0.45,
                "fillColor": HOTSPOT_COLOUR,
                "fillOpacity": 0.25,
            }
        },
        simplify=SIMPLIFY_DEG,
        tooltip=tips(lang, [("rank", "map.rank"), ("z", "map.z"), ("reason", "map.reason")]),
    )


LAYER = MapLayer("hotspots", build)
