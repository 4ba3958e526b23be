"""Road stretches patrolled by drone, one feature per flight (the last 24 hours).

Drawn as a wide translucent band under the road conditions, so a dispatcher sees which roads
a drone has looked at lately and which nobody has. The data is
:func:`incidents.queries.drone_coverage` (the ``drone_track`` reports ingest stored).
"""

from __future__ import annotations

from dashboard.i18n import t
from dashboard.layers.base import MapLayer, rounded, tips
from dashboard.mappayload import (
    DRONE_COLOUR,
    SIMPLIFY_DEG,
    LayerPayload,
    MapLayers,
    payload_from_frame,
)

__all__ = ["LAYER", "build"]


def build(layers: MapLayers, lang: str) -> LayerPayload:
    """Serialise the patrolled road stretches of the recent drone flights."""
    return payload_from_frame(
        "drone_coverage",
        t("layer.drone_coverage", lang),
        layers.drone_coverage,
        {
            "flight": "flight_id",
            "km": rounded("road_km", 1),
            "from": "started_at",
            "to": "ended_at",
        },
        {"": {"color": DRONE_COLOUR, "weight": 9, "opacity": 0.35, "lineCap": "butt"}},
        simplify=SIMPLIFY_DEG,
        tooltip=tips(
            lang,
            [
                ("flight", "map.flight"),
                ("km", "map.road_km"),
                ("from", "map.flight_start"),
                ("to", "map.flight_end"),
            ],
        ),
    )


LAYER = MapLayer("drone_coverage", build)
