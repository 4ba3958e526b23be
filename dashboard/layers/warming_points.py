"""Warming points where stranded people can be brought (the ``warming_point`` rows)."""

from __future__ import annotations

from dashboard.layers.base import MapLayer, place_payload, place_rows
from dashboard.mappayload import WARMING_COLOUR, LayerPayload, MapLayers

__all__ = ["LAYER", "build"]


def build(layers: MapLayers, lang: str) -> LayerPayload:
    """Serialise the warming points."""
    return place_payload("warming_points", place_rows(layers, True), WARMING_COLOUR, 6, lang)


LAYER = MapLayer("warming_points", build)
