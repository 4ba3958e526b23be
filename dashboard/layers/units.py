"""Units as dots coloured by status; a unit whose last position fix is stale is drawn hollow."""

from __future__ import annotations

import pandas as pd

from dashboard.i18n import t
from dashboard.layers.base import Column, MapLayer, dot, label, tips
from dashboard.mappayload import (
    POINT_DECIMALS,
    STALE_UNIT_STYLE,
    UNIT_STATUS_COLOURS,
    LayerPayload,
    MapLayers,
    col,
    payload_from_frame,
)

__all__ = ["LAYER", "build"]


def _unit_key(lang: str) -> Column:
    """Make the style key column: the unit's status, or "position stale" for an old fix."""
    status = label("status", "status", lang)

    def get(frame: pd.DataFrame) -> pd.Series:
        keys = status(frame)
        if "position_state" in frame.columns:
            keys = keys.where(frame["position_state"] != "stale", t("map.pos_stale_key", lang))
        return keys

    return get


def _position(lang: str) -> Column:
    """Make the position column: "live", "stale (N min ago)" or "unknown"."""

    def get(frame: pd.DataFrame) -> pd.Series:
        state = col("position_state", "unknown")(frame).fillna("unknown")
        minutes = pd.to_numeric(col("position_age_s")(frame), errors="coerce") / 60.0
        return pd.Series(
            [
                t("pos.stale", lang, min=int(m)) if s == "stale" and pd.notna(m)
                else t(f"pos.{s}", lang, default=str(s))
                for s, m in zip(state, minutes, strict=True)
            ],
            index=frame.index,
        )

    return get


def build(layers: MapLayers, lang: str) -> LayerPayload:
    """Serialise the units."""
    palette = {t(f"status.{s}", lang): dot(c, 6, weight=2) for s, c in UNIT_STATUS_COLOURS.items()}
    palette[t("map.pos_stale_key", lang)] = STALE_UNIT_STYLE
    facts = tips(
        lang,
        [
            ("id", "map.unit"),
            ("name", "map.name"),
            ("vc", "map.vehicle"),
            ("k", "map.status"),
            ("pos", "map.position"),
        ],
    )
    return payload_from_frame(
        "units",
        t("layer.units", lang),
        layers.units,
        {
            "k": _unit_key(lang),
            "id": "id",
            "name": "name",
            "vc": label("vehicle_class", "vehicle_class", lang),
            "pos": _position(lang),
        },
        {**palette, "": palette[t("status.out_of_service", lang)]},
        decimals=POINT_DECIMALS,
        points=True,
        cluster=True,
        tooltip=facts,
        popup=facts,
    )


LAYER = MapLayer("units", build)
