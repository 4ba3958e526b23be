"""Hotspots: the road stretches ranked by how unusual their incident and hazard load is.

Drawn as a wide band with a light fill; the tooltip gives the rank, the Gi* z-score and the
reason (:func:`incidents.queries.hotspots`).
"""

from __future__ import annotations

from dashboard import mappayload as payload
from dashboard import wording
from dashboard.i18n import t
from dashboard.layers.base import MapLayer, rounded, tips

__all__ = ["LAYER", "build"]

# what each hotspot feature carries, how it is drawn, and what its tooltip says
PROPERTIES: dict[str, payload.PropSource] = {"rank": "rank", "z": rounded("z", 2)}
BAND = {
    "color": payload.HOTSPOT_COLOUR,
    "weight": 10,
    "opacity": 0.45,
    "fillColor": payload.HOTSPOT_COLOUR,
    "fillOpacity": 0.25,
}
TOOLTIP = [("rank", "map.rank"), ("z", "map.z"), ("reason", "map.reason")]


def build(layers: payload.MapLayers, lang: str) -> payload.LayerPayload:
    """Serialise the ranked hotspots."""
    name = t("layer.hotspots", lang)
    # the reason worded in the interface language from the row's facts, not the stored English
    props = {**PROPERTIES, "reason": lambda f: wording.hotspot_reasons(f, lang)}
    return payload.payload_from_frame(
        "hotspots", name, layers.hotspots, props, {"": BAND},
        simplify=payload.SIMPLIFY_DEG, tooltip=tips(lang, TOOLTIP),
    )


LAYER = MapLayer("hotspots", build)
