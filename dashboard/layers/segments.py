"""Road segments whose condition is not clear, coloured by the condition."""

from __future__ import annotations

from dashboard.i18n import t
from dashboard.layers.base import MapLayer, label, tips
from dashboard.mappayload import (
    CONDITION_COLOURS,
    SIMPLIFY_DEG,
    LayerPayload,
    MapLayers,
    payload_from_frame,
)

__all__ = ["LAYER", "build"]


def build(layers: MapLayers, lang: str) -> LayerPayload:
    """Serialise the hazardous road segments."""
    palette = {
        t(f"condition.{c}", lang): {
            "color": colour,
            "weight": 2 if c == "clear" else 5,
            "opacity": 0.9,
        }
        for c, colour in CONDITION_COLOURS.items()
    }
    return payload_from_frame(
        "segments",
        t("layer.segments", lang),
        layers.segments,
        # the category is the translated condition: one property for colour and tooltip
        {"k": label("condition", "condition", lang), "seg": "id"},
        {**palette, "": palette[t("condition.clear", lang)]},
        simplify=SIMPLIFY_DEG,
        tooltip=tips(lang, [("seg", "map.segment"), ("k", "map.condition")]),
    )


LAYER = MapLayer("segments", build)
