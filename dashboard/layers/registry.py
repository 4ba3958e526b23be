"""The live map layers, in drawing order: one line per layer.

A new layer is one module in this package defining ``LAYER = MapLayer(key, build)``, its
import here and one line in :data:`LAYERS`. Its data arrives in
:class:`~dashboard.mappayload.MapLayers` (read in ``incidents/queries.py``, cached per topic
in ``dashboard/data.py``).
"""

from __future__ import annotations

import dashboard.layers.alerts as alerts
import dashboard.layers.drone_coverage as drone_coverage
import dashboard.layers.duty_points as duty_points
import dashboard.layers.hotspots as hotspots
import dashboard.layers.incidents as incidents
import dashboard.layers.routes as routes
import dashboard.layers.segments as segments
import dashboard.layers.units as units
import dashboard.layers.warming_points as warming_points
from dashboard.layers.base import MapLayer
from dashboard.mappayload import LayerPayload, MapLayers

__all__ = ["LAYERS", "LAYER_KEYS", "layer_payloads"]

# drawing order: areas, then lines, then fixed places, then incidents and units on top
LAYERS: tuple[MapLayer, ...] = (
    alerts.LAYER,
    drone_coverage.LAYER,
    segments.LAYER,
    hotspots.LAYER,
    routes.LAYER,
    duty_points.LAYER,
    warming_points.LAYER,
    incidents.LAYER,
    units.LAYER,
)
LAYER_KEYS: tuple[str, ...] = tuple(layer.key for layer in LAYERS)


def layer_payloads(layers: MapLayers, lang: str = "zh") -> list[LayerPayload]:
    """Serialise every live layer, in :data:`LAYER_KEYS` order.

    Parameters
    ----------
    layers
        The live data.
    lang
        "zh" or "en" for layer names, tooltips and category labels.

    Returns
    -------
    list of LayerPayload
        One payload per registered layer (an empty one when its data is missing).
    """
    return [layer.build(layers, lang) for layer in LAYERS]
