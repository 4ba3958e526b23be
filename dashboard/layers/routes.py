"""Routes of the active assignments: unit -> task along the road network, dashed."""

from __future__ import annotations

from dashboard.i18n import t
from dashboard.layers.base import MapLayer, label, rounded, tips
from dashboard.mappayload import (
    ROUTE_COLOUR,
    SIMPLIFY_DEG,
    LayerPayload,
    MapLayers,
    payload_from_frame,
)

__all__ = ["LAYER", "build"]


def build(layers: MapLayers, lang: str) -> LayerPayload:
    """Serialise the routes."""
    facts = tips(
        lang,
        [
            ("unit", "map.unit"),
            ("task", "map.task"),
            ("state", "map.status"),
            ("eta", "map.eta_min"),
        ],
    )
    return payload_from_frame(
        "routes",
        t("layer.routes", lang),
        layers.routes,
        {
            "id": "id",
            "unit": "unit_id",
            "task": "task_id",
            "state": label("state", "state", lang),
            "eta": rounded("eta_s", 0, 60.0),
        },
        {"": {"color": ROUTE_COLOUR, "weight": 4, "opacity": 0.9, "dashArray": "8 6"}},
        simplify=SIMPLIFY_DEG,
        tooltip=facts,
        popup=facts,
    )


LAYER = MapLayer("routes", build)
