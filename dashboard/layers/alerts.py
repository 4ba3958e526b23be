"""Weather alert areas (CAP), coloured by the warning colour or, without one, by severity."""

from __future__ import annotations

import pandas as pd

from dashboard.i18n import t
from dashboard.layers.base import MapLayer, tips
from dashboard.mappayload import (
    ALERT_COLOURS,
    SEVERITY_TO_COLOUR,
    LayerPayload,
    MapLayers,
    col,
    payload_from_frame,
)

__all__ = ["LAYER", "build"]


def _alert_key(frame: pd.DataFrame) -> pd.Series:
    colour = col("colour", "")(frame).fillna("").astype(str).str.lower()
    severity = col("severity", "")(frame).fillna("").astype(str).str.lower()
    fallback = severity.map(lambda s: SEVERITY_TO_COLOUR.get(s, "blue"))
    return colour.where(colour.isin(list(ALERT_COLOURS)), fallback)


def build(layers: MapLayers, lang: str) -> LayerPayload:
    """Serialise the live alert areas."""
    return payload_from_frame(
        "alerts",
        t("layer.alerts", lang),
        layers.alerts,
        {
            "k": _alert_key,
            "event": "event",
            "headline": "headline",
            "sev": "severity",
            "onset": "onset",
            "expires": "expires",
        },
        {
            k: {"color": c, "weight": 2, "fillColor": c, "fillOpacity": 0.15}
            for k, c in ALERT_COLOURS.items()
        },
        simplify=0.002,
        tooltip=tips(
            lang,
            [
                ("event", "map.event"),
                ("headline", "map.headline"),
                ("sev", "map.severity"),
                ("onset", "map.onset"),
                ("expires", "map.expires"),
            ],
        ),
    )


LAYER = MapLayer("alerts", build)
