"""Open incidents as dots coloured by priority band; a click opens the facts and what callers said."""

from __future__ import annotations

import pandas as pd

from dashboard import wording
from dashboard.i18n import t
from dashboard.layers.base import MapLayer, dot, label, rounded, stake, tips
from dashboard.mappayload import (
    POINT_DECIMALS,
    PRIORITY_COLOURS,
    LayerPayload,
    MapLayers,
    col,
    payload_from_frame,
    priority_band,
)

__all__ = ["LAYER", "build"]


def _priority_key(frame: pd.DataFrame) -> pd.Series:
    prio = pd.to_numeric(col("priority", 0.0)(frame), errors="coerce").fillna(0.0)
    return prio.map(priority_band)


def build(layers: MapLayers, lang: str) -> LayerPayload:
    """Serialise the open incidents."""
    return payload_from_frame(
        "incidents",
        t("layer.incidents", lang),
        layers.incidents,
        {
            "k": _priority_key,
            "id": "id",
            "p": rounded("priority", 1),
            "kind": label("kind", "kind", lang),
            "people": "people",
            "vuln": "vulnerable",
            "title": lambda f: wording.incident_titles(f, lang),
            "said": "caller_notes",
            "notes": "notes",
            "at": "first_report_at",
            "stake": stake,
        },
        {k: dot(c, 8, edge="#222222") for k, c in PRIORITY_COLOURS.items()},
        decimals=POINT_DECIMALS,
        points=True,
        cluster=True,
        tooltip=tips(
            lang,
            [
                ("id", "map.incident"),
                ("kind", "map.kind"),
                ("p", "map.priority"),
                ("people", "map.people"),
                ("stake", "map.stake"),
                ("at", "map.first_report"),
            ],
        ),
        popup=tips(
            lang,
            [
                ("id", "map.incident"),
                ("title", "map.title"),
                ("kind", "map.kind"),
                ("p", "map.priority"),
                ("people", "map.people"),
                ("vuln", "map.vulnerable"),
                ("stake", "map.stake"),
                ("at", "map.first_report"),
                ("said", "map.caller_notes"),
                ("notes", "map.notes"),
            ],
        ),
    )


LAYER = MapLayer("incidents", build)
