"""What every map layer module shares: the :class:`MapLayer` record and the style helpers.

A layer module defines one ``LAYER = MapLayer(key, build)``; ``build(layers, lang)`` turns the
live :class:`~dashboard.mappayload.MapLayers` into one escaped, serialised
:class:`~dashboard.mappayload.LayerPayload` with
:func:`~dashboard.mappayload.payload_from_frame`. The helpers below make the property columns
(kilometre stakes, translated labels, rounded numbers) and the Leaflet styles they share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd

from dashboard.i18n import t
from dashboard.mappayload import (
    POINT_DECIMALS,
    LayerPayload,
    MapLayers,
    PropSource,
    col,
    payload_from_frame,
)

__all__ = [
    "Column",
    "MapLayer",
    "dot",
    "label",
    "place_payload",
    "place_rows",
    "rounded",
    "stake",
    "tips",
]

Column = Callable[[pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class MapLayer:
    """One live map layer: its key and how it is drawn.

    Attributes
    ----------
    key
        The layer's key (``hidden`` lists, the data cache and the tests name it).
    build
        ``build(layers, lang)`` -> the layer's payload, names and texts in `lang`.
    """

    key: str
    build: Callable[[MapLayers, str], LayerPayload]


def stake(frame: pd.DataFrame) -> pd.Series:
    """Return the kilometre stake ("G331 K1520+300") of each row (road code alone without km).

    Parameters
    ----------
    frame
        Rows with ``road_code`` and ``km`` columns (missing ones read as empty).

    Returns
    -------
    pandas.Series
        The stake text per row.
    """
    road = col("road_code", "")(frame).fillna("").astype(str)
    km = pd.to_numeric(col("km")(frame), errors="coerce")
    text = [
        f"{r} K{int(k)}+{round((k - int(k)) * 1000):03d}" if pd.notna(k) and k >= 0 else r
        for r, k in zip(road, km, strict=True)
    ]
    return pd.Series(text, index=frame.index, dtype=object)


def label(prefix: str, column: str, lang: str) -> Column:
    """Make a column function translating the codes in `column` by the keys ``prefix.CODE``.

    Parameters
    ----------
    prefix
        Catalogue key prefix (``status``, ``kind``...).
    column
        Source column of codes.
    lang
        "zh" or "en"; a code without a catalogue entry is shown as it is.

    Returns
    -------
    Callable
        Frame -> translated labels.
    """

    def get(frame: pd.DataFrame) -> pd.Series:
        values = col(column)(frame)
        uniq = {v: (t(f"{prefix}.{v}", lang, default=str(v)) if v else "") for v in values.unique()}
        return values.map(uniq)

    return get


def rounded(column: str, digits: int, scale: float = 1.0) -> Column:
    """Make a column function returning ``column / scale`` rounded to `digits` decimals."""

    def get(frame: pd.DataFrame) -> pd.Series:
        return (pd.to_numeric(col(column)(frame), errors="coerce") / scale).round(digits)

    return get


def tips(lang: str, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return (property, translated alias) pairs for a tooltip or popup."""
    return [(field, t(key, lang)) for field, key in pairs]


def dot(colour: str, radius: float, edge: str = "#ffffff", weight: float = 1) -> dict[str, Any]:
    """Return the Leaflet circle-marker style of a filled dot."""
    return {
        "radius": radius,
        "color": edge,
        "weight": weight,
        "fillColor": colour,
        "fillOpacity": 0.95,
    }


def place_rows(layers: MapLayers, warming: bool) -> gpd.GeoDataFrame | None:
    """Return the warming points, or the other duty points, of ``layers.duty_points``.

    Parameters
    ----------
    layers
        The live layers; ``duty_points`` holds every kind (``duty_point``, ``duty_station``,
        ``warming_point``).
    warming
        True for the warming points, False for the rest.

    Returns
    -------
    geopandas.GeoDataFrame or None
        The rows, or None when the frame is missing, empty or has no ``kind``.
    """
    dp = layers.duty_points
    if dp is None or not len(dp) or "kind" not in dp.columns:
        return None
    mask = dp["kind"].eq("warming_point")
    return dp[mask] if warming else dp[~mask]


def place_payload(
    key: str, frame: gpd.GeoDataFrame | None, colour: str, radius: float, lang: str
) -> LayerPayload:
    """Serialise fixed places (duty or warming points) as dots with name, kind, stake, hours.

    Parameters
    ----------
    key
        Layer key; its name is the catalogue entry ``layer.KEY``.
    frame
        The places (id, kind, name, hours, road_code, km).
    colour, radius
        Dot style.
    lang
        "zh" or "en".

    Returns
    -------
    LayerPayload
        The layer.
    """
    props: dict[str, PropSource] = {
        "id": "id",
        "name": "name",
        "kind": label("dp", "kind", lang),
        "hours": "hours",
        "stake": stake,
    }
    return payload_from_frame(
        key,
        t(f"layer.{key}", lang),
        frame,
        props,
        {"": dot(colour, radius)},
        decimals=POINT_DECIMALS,
        points=True,
        tooltip=tips(
            lang,
            [
                ("name", "map.name"),
                ("kind", "map.kind"),
                ("stake", "map.stake"),
                ("hours", "map.hours"),
            ],
        ),
    )
