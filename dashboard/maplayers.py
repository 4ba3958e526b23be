"""The live map layers: :func:`layer_payloads` and its style helpers.

Split out of :mod:`dashboard.mapview`, which re-exports every public name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from dashboard.i18n import t
from dashboard.mappayload import (
    ALERT_COLOURS,
    CONDITION_COLOURS,
    DUTY_COLOUR,
    HOTSPOT_COLOUR,
    POINT_DECIMALS,
    PRIORITY_COLOURS,
    ROUTE_COLOUR,
    SEVERITY_TO_COLOUR,
    SIMPLIFY_DEG,
    STALE_UNIT_STYLE,
    UNIT_STATUS_COLOURS,
    WARMING_COLOUR,
    LayerPayload,
    MapLayers,
    PropSource,
    _col,
    payload_from_frame,
    priority_band,
)


def _stake(frame: pd.DataFrame) -> pd.Series:
    road = _col("road_code", "")(frame).fillna("").astype(str)
    km = pd.to_numeric(_col("km")(frame), errors="coerce")
    text = [
        f"{r} K{int(k)}+{round((k - int(k)) * 1000):03d}" if pd.notna(k) and k >= 0 else r
        for r, k in zip(road, km, strict=True)
    ]
    return pd.Series(text, index=frame.index, dtype=object)


def _label(prefix: str, column: str, lang: str) -> Callable[[pd.DataFrame], pd.Series]:
    def get(frame: pd.DataFrame) -> pd.Series:
        values = _col(column)(frame)
        uniq = {v: (t(f"{prefix}.{v}", lang, default=str(v)) if v else "") for v in values.unique()}
        return values.map(uniq)

    return get


def _unit_key(lang: str) -> Callable[[pd.DataFrame], pd.Series]:
    """A unit's style key: its status, or "position stale" when its last fix is too old (a
    stale position is drawn hollow, not trusted)."""
    status = _label("status", "status", lang)

    def get(frame: pd.DataFrame) -> pd.Series:
        keys = status(frame)
        if "position_state" in frame.columns:
            keys = keys.where(frame["position_state"] != "stale", t("map.pos_stale_key", lang))
        return keys

    return get


def _position(lang: str) -> Callable[[pd.DataFrame], pd.Series]:
    """"live" / "stale (N min ago)" / "unknown" for the unit tooltip."""

    def get(frame: pd.DataFrame) -> pd.Series:
        state = _col("position_state", "unknown")(frame).fillna("unknown")
        age = _col("position_age_s")(frame)
        minutes = pd.to_numeric(age, errors="coerce") / 60.0
        return pd.Series(
            [
                t("pos.stale", lang, min=int(m)) if s == "stale" and pd.notna(m)
                else t(f"pos.{s}", lang, default=str(s))
                for s, m in zip(state, minutes, strict=True)
            ],
            index=frame.index,
        )

    return get


def _round(column: str, digits: int, scale: float = 1.0) -> Callable[[pd.DataFrame], pd.Series]:
    def get(frame: pd.DataFrame) -> pd.Series:
        return (pd.to_numeric(_col(column)(frame), errors="coerce") / scale).round(digits)

    return get


def _alert_key(frame: pd.DataFrame) -> pd.Series:
    colour = _col("colour", "")(frame).fillna("").astype(str).str.lower()
    severity = _col("severity", "")(frame).fillna("").astype(str).str.lower()
    fallback = severity.map(lambda s: SEVERITY_TO_COLOUR.get(s, "blue"))
    return colour.where(colour.isin(list(ALERT_COLOURS)), fallback)


def _priority_key(frame: pd.DataFrame) -> pd.Series:
    prio = pd.to_numeric(_col("priority", 0.0)(frame), errors="coerce").fillna(0.0)
    return prio.map(priority_band)


def _tips(lang: str, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(field, t(key, lang)) for field, key in pairs]


def _dot(colour: str, radius: float, edge: str = "#ffffff", weight: float = 1) -> dict[str, Any]:
    return {
        "radius": radius,
        "color": edge,
        "weight": weight,
        "fillColor": colour,
        "fillOpacity": 0.95,
    }


def layer_payloads(layers: MapLayers, lang: str = "zh") -> list[LayerPayload]:
    """Serialise every live layer, in :data:`LAYER_KEYS` order.

    Parameters
    ----------
    layers
        The live data.
    lang
        "zh" or "en" for layer names, tooltips and category labels.
    """
    cond_palette = {
        t(f"condition.{c}", lang): {
            "color": col,
            "weight": 2 if c == "clear" else 5,
            "opacity": 0.9,
        }
        for c, col in CONDITION_COLOURS.items()
    }
    unit_palette = {
        t(f"status.{s}", lang): _dot(c, 6, weight=2) for s, c in UNIT_STATUS_COLOURS.items()
    }
    unit_palette[t("map.pos_stale_key", lang)] = STALE_UNIT_STYLE
    dp = layers.duty_points
    warming = duty = None
    if dp is not None and len(dp) and "kind" in dp.columns:
        mask = dp["kind"].eq("warming_point")
        warming, duty = dp[mask], dp[~mask]
    point_props: dict[str, PropSource] = {
        "id": "id",
        "name": "name",
        "kind": _label("dp", "kind", lang),
        "hours": "hours",
        "stake": _stake,
    }
    point_tips = _tips(
        lang,
        [
            ("name", "map.name"),
            ("kind", "map.kind"),
            ("stake", "map.stake"),
            ("hours", "map.hours"),
        ],
    )
    return [
        payload_from_frame(
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
            tooltip=_tips(
                lang,
                [
                    ("event", "map.event"),
                    ("headline", "map.headline"),
                    ("sev", "map.severity"),
                    ("onset", "map.onset"),
                    ("expires", "map.expires"),
                ],
            ),
        ),
        payload_from_frame(
            "segments",
            t("layer.segments", lang),
            layers.segments,
            # the category is the translated condition: one property for colour and tooltip
            {"k": _label("condition", "condition", lang), "seg": "id"},
            {**cond_palette, "": cond_palette[t("condition.clear", lang)]},
            simplify=SIMPLIFY_DEG,
            tooltip=_tips(lang, [("seg", "map.segment"), ("k", "map.condition")]),
        ),
        payload_from_frame(
            "hotspots",
            t("layer.hotspots", lang),
            layers.hotspots,
            {"rank": "rank", "z": _round("z", 2), "reason": "reason"},
            {
                "": {
                    "color": HOTSPOT_COLOUR,
                    "weight": 10,
                    "opacity": 0.45,
                    "fillColor": HOTSPOT_COLOUR,
                    "fillOpacity": 0.25,
                }
            },
            simplify=SIMPLIFY_DEG,
            tooltip=_tips(lang, [("rank", "map.rank"), ("z", "map.z"), ("reason", "map.reason")]),
        ),
        payload_from_frame(
            "incidents",
            t("layer.incidents", lang),
            layers.incidents,
            {
                "k": _priority_key,
                "id": "id",
                "p": _round("priority", 1),
                "kind": _label("kind", "kind", lang),
                "people": "people",
                "title": "title",
                "notes": "notes",
                "at": "first_report_at",
                "stake": _stake,
            },
            {k: _dot(c, 8, edge="#222222") for k, c in PRIORITY_COLOURS.items()},
            decimals=POINT_DECIMALS,
            points=True,
            tooltip=_tips(
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
            popup=_tips(
                lang, [("id", "map.incident"), ("title", "map.title"), ("notes", "map.notes")]
            ),
        ),
        payload_from_frame(
            "units",
            t("layer.units", lang),
            layers.units,
            {
                "k": _unit_key(lang),
                "id": "id",
                "name": "name",
                "vc": _label("vehicle_class", "vehicle_class", lang),
                "pos": _position(lang),
            },
            {**unit_palette, "": unit_palette[t("status.out_of_service", lang)]},
            decimals=POINT_DECIMALS,
            points=True,
            tooltip=_tips(
                lang,
                [
                    ("id", "map.unit"),
                    ("name", "map.name"),
                    ("vc", "map.vehicle"),
                    ("k", "map.status"),
                    ("pos", "map.position"),
                ],
            ),
        ),
        payload_from_frame(
            "routes",
            t("layer.routes", lang),
            layers.routes,
            {
                "id": "id",
                "unit": "unit_id",
                "task": "task_id",
                "state": _label("state", "state", lang),
                "eta": _round("eta_s", 0, 60.0),
            },
            {"": {"color": ROUTE_COLOUR, "weight": 4, "opacity": 0.9, "dashArray": "8 6"}},
            simplify=SIMPLIFY_DEG,
            tooltip=_tips(
                lang,
                [
                    ("unit", "map.unit"),
                    ("task", "map.task"),
                    ("state", "map.status"),
                    ("eta", "map.eta_min"),
                ],
            ),
        ),
        payload_from_frame(
            "duty_points",
            t("layer.duty_points", lang),
            duty if dp is not None else None,
            point_props,
            {"": _dot(DUTY_COLOUR, 5)},
            decimals=POINT_DECIMALS,
            points=True,
            tooltip=point_tips,
        ),
        payload_from_frame(
            "warming_points",
            t("layer.warming_points", lang),
            warming,
            point_props,
            {"": _dot(WARMING_COLOUR, 6)},
            decimals=POINT_DECIMALS,
            points=True,
            tooltip=point_tips,
        ),
    ]
