"""Road stretches patrolled by drone, one feature per flight (the last 24 hours).

Drawn as a wide translucent band under the road conditions, so a dispatcher sees which roads
a drone has looked at lately and which nobody has. The data is
:func:`incidents.queries.drone_coverage` (the ``drone_track`` reports ingest stored).
"""

from __future__ import annotations

from dashboard import mappayload as payload
from dashboard.i18n import t
from dashboard.layers.base import MapLayer, rounded, tips

__all__ = ["LAYER", "build"]

# per flight: its id, road-km patrolled and when it flew (tooltip keys in the map catalogue)
FLIGHT_FACTS: dict[str, tuple[payload.PropSource, str]] = {
    "flight": ("flight_id", "map.flight"),
    "km": (rounded("road_km", 1), "map.road_km"),
    "from": ("started_at", "map.flight_start"),
    "to": ("ended_at", "map.flight_end"),
}
BAND = {"color": payload.DRONE_COLOUR, "weight": 9, "opacity": 0.35, "lineCap": "butt"}


def build(layers: payload.MapLayers, lang: str) -> payload.LayerPayload:
    """Serialise the patrolled road stretches of the recent drone flights."""
    properties = {key: source for key, (source, _tip) in FLIGHT_FACTS.items()}
    tooltip = tips(lang, [(key, tip) for key, (_source, tip) in FLIGHT_FACTS.items()])
    return payload.payload_from_frame(
        "drone_coverage", t("layer.drone_coverage", lang), layers.drone_coverage, properties,
        {"": BAND}, simplify=payload.SIMPLIFY_DEG, tooltip=tooltip,
    )


LAYER = MapLayer("drone_coverage", build)
