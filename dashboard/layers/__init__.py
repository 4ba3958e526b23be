"""The live map layers: one module per layer and a registry (:mod:`dashboard.layers.registry`).

Each layer module turns the live :class:`~dashboard.mappayload.MapLayers` into one escaped,
serialised :class:`~dashboard.mappayload.LayerPayload`; :func:`layer_payloads` runs them all
in :data:`LAYER_KEYS` order.
"""

from __future__ import annotations

from dashboard.layers.base import MapLayer
from dashboard.layers.registry import LAYER_KEYS, LAYERS, layer_payloads

__all__ = ["LAYERS", "LAYER_KEYS", "MapLayer", "layer_payloads"]
