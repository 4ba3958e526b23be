"""Duty points and duty stations of the traffic police.

The ``duty_points`` rows that are not warming points.
"""

from __future__ import annotations

from dashboard.layers.base import MapLayer, place_payload, place_rows
from dashboard.mappayload import DUTY_COLOUR, LayerPayload, MapLayers

__all__ = ["LAYER", "build"]


def build(layers: MapLayers, lang: str) -> LayerPayload:
    """Serialise the duty points and duty stations."""
    return place_payload("duty_points", place_rows(layers, False), DUTY_COLOUR, 5, lang)


LAYER = MapLayer("duty_points", build)
