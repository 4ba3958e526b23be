"""Pure folium map builders for the dashboard (no Streamlit here, so they are easy to test).

The work is split so that a data refresh is cheap and does not reset the user's view:

* :func:`layer_payloads` turns the live GeoDataFrames (alert areas, road conditions, hotspots,
  incidents, units, routes, duty and warming points) into :class:`LayerPayload` objects: escaped,
  rounded, simplified, serialised once. They are immutable, so the data module caches them.
* :func:`build_layers` wraps each payload in a :class:`folium.FeatureGroup` holding ONE
  :class:`CompactGeoJson` (points as circle markers through ``point_to_layer``, colours from a
  small palette, tooltips/popups with :class:`folium.GeoJsonTooltip`/:class:`folium.GeoJsonPopup`).
  The dashboard hands them to ``st_folium(feature_group_to_add=..., layer_control=...)``, which
  swaps them in place without rebuilding the map.
* :func:`build_base_map` is the static part: banner outlines and roads from ``data/region``
  (vector, no tiles unless an intranet tile URL is configured) and the legend. Its script is the
  same on every rerun, so ``st_folium`` keeps its component and the user's view.
* :func:`build_map` puts everything into one :class:`~dashboard.assets.LocalMap` with a
  :class:`folium.LayerControl` (tests, benchmarks, a stand-alone HTML file).

Every string property passes through :func:`dashboard.escape.escape_text`; coordinates are
rounded (5 decimals for points, 4 for lines and areas) and lines/areas simplified; the features
are embedded column-wise and re-assembled in the browser, which keeps 10,000 features under
1.5 MB of HTML.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure, MacroElement
from folium.elements import ElementAddToElement, JSCSSMixin
from folium.features import GeoJsonDetail
from folium.map import Layer
from folium.template import Template

from dashboard.assets import LocalMap
from dashboard.escape import escape_text, escape_value
from dashboard.i18n import DISPLAY_TZ, t

__all__ = [
    "ALERT_COLOURS",
    "CONDITION_COLOURS",
    "LAYER_KEYS",
    "PRIORITY_COLOURS",
    "UNIT_STATUS_COLOURS",
    "Basemap",
    "CompactGeoJson",
    "LayerPayload",
    "MapLayers",
    "basemap_payloads",
    "build_base_map",
    "build_layers",
    "build_map",
    "layer_payloads",
    "map_html",
    "payload_from_frame",
    "priority_band",
]

DEFAULT_CENTER = (44.5, 117.5)  # lat, lon: between Chifeng, Xilingol and Hulunbuir
DEFAULT_ZOOM = 6

CONDITION_COLOURS: dict[str, str] = {
    "closed": "#111111",
    "black_ice": "#7b2cbf",
    "drifting_snow": "#1f6fd1",
    "snow_packed": "#5fb8e8",
    "poor_visibility": "#8c8c8c",
    "clear": "#2ca02c",
}
ALERT_COLOURS: dict[str, str] = {
    "red": "#e41a1c",
    "orange": "#ff8c00",
    "yellow": "#f2c300",
    "blue": "#1e90ff",
}
SEVERITY_TO_COLOUR: dict[str, str] = {
    "extreme": "red",
    "severe": "orange",
    "moderate": "yellow",
    "minor": "blue",
}
PRIORITY_COLOURS: dict[str, str] = {
    "critical": "#d7191c",
    "high": "#fd8d3c",
    "medium": "#f2c300",
    "low": "#2b83ba",
}
# lower bounds of the bands of the incident priority score (incidents.fusion.priority: open-ended;
# in the demo storm the median open incident scores ~180 and the top tenth above 500)
PRIORITY_BANDS: tuple[tuple[str, float], ...] = (
    ("critical", 400.0),
    ("high", 200.0),
    ("medium", 100.0),
    ("low", float("-inf")),
)
UNIT_STATUS_COLOURS: dict[str, str] = {
    "available": "#1a9850",
    "assigned": "#fdae61",
    "en_route": "#f46d43",
    "on_scene": "#d73027",
    "out_of_service": "#7f7f7f",
    "off_shift": "#bdbdbd",
}
HOTSPOT_COLOUR = "#ff006e"
ROUTE_COLOUR = "#00b4d8"
DUTY_COLOUR = "#264653"
WARMING_COLOUR = "#e76f51"
LAYER_KEYS: tuple[str, ...] = (
    "alerts",
    "segments",
    "hotspots",
    "incidents",
    "units",
    "routes",
    "duty_points",
    "warming_points",
)
STALE_UNIT_STYLE: dict[str, Any] = {
    "radius": 6, "color": "#555555", "weight": 2, "dashArray": "2 3",
    "fillColor": "#bdbdbd", "fillOpacity": 0.2, "opacity": 0.9,
}
POINT_DECIMALS = 5
LINE_DECIMALS = 4
SIMPLIFY_DEG = 0.0003  # ~30 m

Style = Mapping[str, Any]
PropSource = Callable[[pd.DataFrame], pd.Series] | str


@dataclass(frozen=True)
class Basemap:
    """The static vector basemap: banner outlines and roads (WGS84 GeoDataFrames or None)."""

    outlines: gpd.GeoDataFrame | None = None
    roads: gpd.GeoDataFrame | None = None


@dataclass(frozen=True)
class MapLayers:
    """The live layers; each a WGS84 GeoDataFrame (or None when there is nothing to draw).

    Columns used (missing ones are shown empty):

    alerts
        id, colour, severity, event, headline, onset, expires (areas)
    segments
        id, condition (lines; draw only the segments worth colouring)
    hotspots
        rank, z, reason (lines or areas)
    incidents
        id, kind, priority, people, title, notes, first_report_at, road_code, km (points)
    units
        id, name, status, vehicle_class (points)
    routes
        id, unit_id, task_id, state, eta_s (lines)
    duty_points
        id, kind (duty_point|duty_station|warming_point), name, hours, road_code, km (points)
    """

    alerts: gpd.GeoDataFrame | None = None
    segments: gpd.GeoDataFrame | None = None
    hotspots: gpd.GeoDataFrame | None = None
    incidents: gpd.GeoDataFrame | None = None
    units: gpd.GeoDataFrame | None = None
    routes: gpd.GeoDataFrame | None = None
    duty_points: gpd.GeoDataFrame | None = None


@dataclass(frozen=True)
class LayerPayload:
    """One map layer, escaped and serialised: cheap to wrap in folium objects on every rerun.

    Attributes
    ----------
    key
        Layer key (one of :data:`LAYER_KEYS`, or a basemap key).
    name
        Display name (escaped).
    data_json
        Column-wise feature data as script-safe JSON: ``{"p": names, "v": columns, "g":
        geometries}``; the browser re-assembles GeoJSON features from it.
    palette_json
        Category (``properties.k``) -> Leaflet path options, as JSON; ``""`` is the default.
    sample
        The first feature as a GeoJSON dict (folium checks tooltip fields against it).
    count
        Number of features.
    points
        Draw points as circle markers.
    tooltip, popup
        (field, escaped alias) pairs; empty for none.
    """

    key: str
    name: str
    data_json: str
    palette_json: str
    sample: dict[str, Any] | None
    count: int
    points: bool = False
    tooltip: tuple[tuple[str, str], ...] = ()
    popup: tuple[tuple[str, str], ...] = ()
    tooltip_labels: bool = True


def priority_band(priority: float) -> str:
    """Return the band name ("critical", "high", "medium", "low") of a priority score."""
    for name, lower in PRIORITY_BANDS:
        if priority >= lower:
            return name
    return "low"  # pragma: no cover - the last band has no lower bound


# --------------------------------------------------------------------------------------------
# Serialising features
# --------------------------------------------------------------------------------------------


def _script_json(obj: Any) -> str:
    """JSON without spaces or ``\\u`` escapes of CJK text, safe inside a ``<script>``."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("'", "\\u0027")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _local_time(values: pd.Series) -> pd.Series:
    ts = pd.to_datetime(values, utc=True, errors="coerce")
    local = ts.dt.tz_convert(DISPLAY_TZ).dt.strftime("%m-%d %H:%M")
    return local.where(ts.notna(), "")


def _column_values(series: pd.Series) -> list[Any]:
    if pd.api.types.is_datetime64_any_dtype(series):
        series = _local_time(series)
    if pd.api.types.is_bool_dtype(series):
        return [bool(v) for v in series.tolist()]
    if pd.api.types.is_numeric_dtype(series):
        return series.astype(object).where(series.notna(), None).tolist()
    cache: dict[Any, Any] = {}
    out = []
    for value in series.tolist():
        try:
            out.append(cache[value])
        except KeyError:
            cache[value] = escaped = escape_value(value)
            out.append(escaped)
        except TypeError:  # unhashable (list, dict): shown as escaped text
            out.append(escape_value(value))
    return out


def _col(name: str, default: Any = None) -> Callable[[pd.DataFrame], pd.Series]:
    def get(frame: pd.DataFrame) -> pd.Series:
        if name in frame.columns:
            return frame[name]
        return pd.Series([default] * len(frame), index=frame.index, dtype=object)

    return get


def payload_from_frame(
    key: str,
    name: str,
    gdf: gpd.GeoDataFrame | None,
    props: Mapping[str, PropSource],
    palette: Mapping[str, Style],
    *,
    decimals: int = LINE_DECIMALS,
    simplify: float = 0.0,
    points: bool = False,
    tooltip: Sequence[tuple[str, str]] = (),
    popup: Sequence[tuple[str, str]] = (),
    tooltip_labels: bool = True,
) -> LayerPayload:
    """Serialise a GeoDataFrame into a :class:`LayerPayload`.

    Parameters
    ----------
    key, name
        Layer key and display name.
    gdf
        WGS84 features; rows with an empty geometry are dropped.
    props
        Output property name -> source column, or a function of the frame returning a Series.
        Datetimes are shown in Asia/Shanghai; every string is escaped with
        :func:`~dashboard.escape.escape_text`. The property ``k`` picks the palette entry.
    palette
        Category -> Leaflet path options (``""`` = default; the first entry when missing).
    decimals, simplify
        Coordinate rounding and simplification tolerance (degrees, 0 = none).
    points
        Draw points as circle markers.
    tooltip, popup
        (property, alias) pairs to show; aliases are escaped here.
    tooltip_labels
        Whether the tooltip shows the aliases.
    """
    if "" not in palette:
        palette = {**palette, "": next(iter(palette.values()))}
    names = list(props)
    columns: list[list[Any]] = [[] for _ in names]
    geometries: list[str] = []
    if gdf is not None and len(gdf):
        if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
            gdf = gdf.to_crs(4326)
        geoms = np.asarray(gdf.geometry.values, dtype=object)
        keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).loc[keep]
        geoms = geoms[keep]
        if simplify > 0 and not points:
            geoms = shapely.simplify(geoms, simplify, preserve_topology=True)
        coords = shapely.get_coordinates(geoms)
        geoms = shapely.set_coordinates(geoms.copy(), np.round(coords, decimals))
        geometries = [str(g) for g in shapely.to_geojson(geoms)]
        for i, out in enumerate(names):
            src = props[out]
            series = src(frame) if callable(src) else _col(src)(frame)
            columns[i] = _column_values(series)
    count = len(geometries)
    data_json = (
        '{"p":'
        + _script_json(names)
        + ',"v":'
        + _script_json(columns)
        + ',"g":['
        + ",".join(geometries)
        + "]}"
    )
    sample = None
    if count:
        sample = {
            "type": "Feature",
            "properties": {n: columns[i][0] for i, n in enumerate(names)},
            "geometry": json.loads(geometries[0]),
        }
    return LayerPayload(
        key=key,
        name=escape_text(name),
        data_json=data_json,
        palette_json=_script_json({str(k): dict(v) for k, v in palette.items()}),
        sample=sample,
        count=count,
        points=points,
        tooltip=tuple((f, escape_text(a)) for f, a in tooltip),
        popup=tuple((f, escape_text(a)) for f, a in popup),
        tooltip_labels=tooltip_labels,
    )


class _Verbatim(Element):
    """Text added to a figure as it is (never compiled as a template)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def render(self, **kwargs: Any) -> str:
        return self._text


class CompactGeoJson(folium.GeoJson):
    """A :class:`folium.GeoJson` drawn from a :class:`LayerPayload`.

    Features arrive column-wise and are re-assembled in the browser; each is styled from the
    payload's palette by its ``properties.k``; points become ``L.circleMarker``. The embedded
    JSON has ``<``, ``>``, ``&`` and ``'`` as ``\\u`` escapes, so no string can close the script.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }}_palette = {{ this.payload.palette_json }};
        function {{ this.get_name() }}_style(feature) {
            var p = {{ this.get_name() }}_palette;
            return p[feature.properties.k] || p[""];
        }
        var {{ this.get_name() }} = L.geoJson(null, {
            smoothFactor: 1.5,
            style: {{ this.get_name() }}_style,
            {%- if this.payload.points %}
            pointToLayer: function(feature, latlng) {
                return L.circleMarker(latlng, {{ this.get_name() }}_style(feature));
            },
            {%- endif %}
        });
        (function(d) {
            var features = [];
            for (var i = 0; i < d.g.length; i++) {
                var props = {};
                for (var j = 0; j < d.p.length; j++) { props[d.p[j]] = d.v[j][i]; }
                features.push({type: "Feature", properties: props, geometry: d.g[i]});
            }
            {{ this.get_name() }}.addData({type: "FeatureCollection", features: features});
        })({{ this.payload.data_json }});
        {% endmacro %}
        """
    )

    def __init__(self, payload: LayerPayload, *, control: bool = True) -> None:
        sample = {
            "type": "FeatureCollection",
            "features": [payload.sample] if payload.sample else [],
        }
        tooltip = popup = None
        if payload.count and payload.tooltip:
            tooltip = folium.GeoJsonTooltip(
                fields=[f for f, _ in payload.tooltip],
                aliases=[a for _, a in payload.tooltip],
                labels=payload.tooltip_labels,
                sticky=False,
            )
        if payload.count and payload.popup:
            popup = folium.GeoJsonPopup(
                fields=[f for f, _ in payload.popup], aliases=[a for _, a in payload.popup]
            )
        super().__init__(sample, name=payload.name, control=control, tooltip=tooltip, popup=popup)
        self._name = "GeoJson"
        self.payload = payload

    def render(self, **kwargs: Any) -> str:
        """Render without passing the script through Jinja again (see :func:`_render_fast`)."""
        _render_fast(self, kwargs)
        return ""


class FastFeatureGroup(folium.FeatureGroup):
    """A :class:`folium.FeatureGroup` rendered by :func:`_render_fast` (it and its children)."""

    def render(self, **kwargs: Any) -> str:
        """Render the group and its layers, tooltips and popups verbatim."""
        _render_fast(self, kwargs)
        return ""


def _detail_css(detail: GeoJsonDetail) -> str:
    name = detail.class_name
    return (
        f"<style>.{name} {{ {getattr(detail, 'style', '') or ''} }} .{name} table{{margin: auto;}} "
        f".{name} tr{{text-align: left;}} .{name} th{{padding: 2px; padding-right: 8px;}}"
        "</style>"
    )


def _render_fast(element: MacroElement, kwargs: dict[str, Any]) -> None:
    """Render `element` and its subtree like branca does, but add the output verbatim.

    branca's ``MacroElement.render`` wraps every rendered macro in ``Element(text)``, which
    compiles the text as a Jinja template: slow (a megabyte of features, dozens of small
    scripts on every rerun) and a template injection if data ever carried ``{{ ... }}``.
    """
    figure = cast(Figure, element.get_root())
    parent = element._parent
    if isinstance(element, Layer) and element.show and parent is not None:
        element.add_child(
            ElementAddToElement(
                element_name=element.get_name(), element_parent_name=parent.get_name()
            ),
            name=element.get_name() + "_add",
        )
    if isinstance(element, GeoJsonDetail):
        figure.header.add_child(
            _Verbatim(_detail_css(element)), name=element.get_name() + "tablestyle"
        )
    module = element._template.module.__dict__
    for part, target in (
        ("header", figure.header),
        ("html", figure.html),
        ("script", figure.script),
    ):
        macro = module.get(part)
        if macro is not None:
            target.add_child(_Verbatim(str(macro(element, kwargs))), name=element.get_name())
    for child in list(element._children.values()):
        if isinstance(child, MacroElement) and not isinstance(child, JSCSSMixin):
            _render_fast(child, kwargs)
        else:
            child.render(**kwargs)


# --------------------------------------------------------------------------------------------
# The live layers
# --------------------------------------------------------------------------------------------


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


def build_layers(
    payloads: Sequence[LayerPayload], hidden: Iterable[str] = ()
) -> list[folium.FeatureGroup]:
    """Wrap each payload in a :class:`folium.FeatureGroup` (switched off when in `hidden`)."""
    hidden_set = set(hidden)
    groups: list[folium.FeatureGroup] = []
    for payload in payloads:
        group = FastFeatureGroup(name=payload.name, show=payload.key not in hidden_set)
        CompactGeoJson(payload).add_to(group)
        groups.append(group)
    return groups


# --------------------------------------------------------------------------------------------
# Basemap, legend, whole map
# --------------------------------------------------------------------------------------------


class Legend(MacroElement):
    """A Leaflet control in a corner of the map listing the colours (text escaped)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function() {
            var legend = L.control({position: "bottomright"});
            legend.onAdd = function () {
                var div = L.DomUtil.create("div", "wo-legend");
                div.innerHTML = {{ this.html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, lang: str, dark: bool = False, open_: bool = True) -> None:
        super().__init__()
        self._name = "Legend"
        bg, fg = ("#1e2228", "#e8e8e8") if dark else ("#ffffff", "#222222")

        def row(colour: str, label: str, line: bool = False) -> str:
            shape = (
                f"display:inline-block;width:18px;height:4px;background:{colour};"
                "vertical-align:middle;margin-right:6px"
                if line
                else f"display:inline-block;width:11px;height:11px;border-radius:50%;"
                f"background:{colour};margin-right:6px"
            )
            return f'<div><span style="{shape}"></span>{escape_text(label)}</div>'

        parts = [f"<b>{escape_text(t('legend.conditions', lang))}</b>"]
        parts += [
            row(c, t(f"condition.{k}", lang), line=True) for k, c in CONDITION_COLOURS.items()
        ]
        parts.append(f"<b>{escape_text(t('legend.alerts', lang))}</b>")
        parts += [row(c, t(f"colour.{k}", lang), line=True) for k, c in ALERT_COLOURS.items()]
        parts.append(f"<b>{escape_text(t('legend.priority', lang))}</b>")
        parts += [row(c, t(f"band.{k}", lang)) for k, c in PRIORITY_COLOURS.items()]
        parts.append(f"<b>{escape_text(t('legend.units', lang))}</b>")
        parts += [row(c, t(f"status.{k}", lang)) for k, c in UNIT_STATUS_COLOURS.items()]
        parts.append(row("#bdbdbd", t("map.pos_stale_key", lang)))
        parts.append(row(HOTSPOT_COLOUR, t("layer.hotspots", lang), line=True))
        parts.append(row(ROUTE_COLOUR, t("layer.routes", lang), line=True))
        parts.append(row(DUTY_COLOUR, t("layer.duty_points", lang)))
        parts.append(row(WARMING_COLOUR, t("layer.warming_points", lang)))
        title = escape_text(t("legend.title", lang))
        self.html = (
            f'<details{" open" if open_ else ""} style="background:{bg};color:{fg};'
            "padding:6px 8px;border-radius:4px;font:12px/1.35 sans-serif;"
            'box-shadow:0 1px 4px rgba(0,0,0,.4)">'
            f'<summary style="cursor:pointer;font-weight:bold">{title}</summary>'
            f'<div style="max-height:300px;overflow-y:auto">{"".join(parts)}</div></details>'
        )


def basemap_payloads(basemap: Basemap, lang: str = "zh", dark: bool = False) -> list[LayerPayload]:
    """Serialise the banner outlines and the roads of the basemap."""
    outline_colour, road_colour = ("#6b7785", "#9aa5b1") if dark else ("#8a96a3", "#6b6b6b")
    name_col = "name_zh" if lang == "zh" else "name_en"
    return [
        payload_from_frame(
            "outlines",
            t("layer.outlines", lang),
            basemap.outlines,
            {"name": name_col},
            {
                "": {
                    "color": outline_colour,
                    "weight": 1,
                    "fill": True,
                    "fillOpacity": 0.0,
                    "dashArray": "4 3",
                }
            },
            decimals=3,
            simplify=0.005,
            tooltip=[("name", "")],
            tooltip_labels=False,
        ),
        payload_from_frame(
            "roads",
            t("layer.roads", lang),
            basemap.roads,
            {"road": "road_code", "name": name_col},
            {"": {"color": road_colour, "weight": 1.5, "opacity": 0.8}},
            simplify=0.001,
            tooltip=[("road", ""), ("name", "")],
            tooltip_labels=False,
        ),
    ]


def build_base_map(
    basemap: Basemap | Sequence[LayerPayload],
    *,
    lang: str = "zh",
    tile_url: str = "",
    tile_attribution: str = "",
    center: tuple[float, float] | None = None,
    zoom: int | None = None,
    dark: bool = False,
    legend: bool = True,
    legend_open: bool = True,
) -> LocalMap:
    """Build the static part of the map: outlines, roads, legend, optional intranet tiles.

    Parameters
    ----------
    basemap
        Banner outlines and roads from ``data/region`` (or their :func:`basemap_payloads`).
    lang
        Interface language.
    tile_url, tile_attribution
        An intranet tile server URL template (``{z}/{x}/{y}``); no tiles when empty.
    center, zoom
        Initial view (lat, lon); the region's default otherwise.
    dark
        Dark background and legend for a night cab.
    legend, legend_open
        Whether to draw the legend control, and whether it starts unfolded.
    """
    fmap = LocalMap(
        location=list(center or DEFAULT_CENTER),
        zoom_start=zoom or DEFAULT_ZOOM,
        tiles=None,
        control_scale=True,
        prefer_canvas=True,
        min_zoom=4,
        max_zoom=16,
    )
    background = "#15191e" if dark else "#eef1f4"
    folium.Element(
        f"<style>.leaflet-container{{background:{background} !important}}"
        ".leaflet-popup-content th,.leaflet-tooltip th{white-space:nowrap;padding-right:8px}"
        ".leaflet-popup-content td{word-break:break-word}</style>"
    ).add_to(cast(Figure, fmap.get_root()).header)
    if tile_url:
        folium.TileLayer(
            tiles=tile_url,
            attr=escape_text(tile_attribution or "intranet tiles"),
            name="tiles",
            control=False,
        ).add_to(fmap)
    payloads = basemap_payloads(basemap, lang, dark) if isinstance(basemap, Basemap) else basemap
    for payload in payloads:
        if payload.count:
            CompactGeoJson(payload, control=False).add_to(fmap)
    if legend:
        Legend(lang, dark=dark, open_=legend_open).add_to(fmap)
    return fmap


def build_map(
    basemap: Basemap | Sequence[LayerPayload],
    layers: MapLayers | Sequence[LayerPayload],
    *,
    lang: str = "zh",
    tile_url: str = "",
    tile_attribution: str = "",
    dark: bool = False,
    hidden: Iterable[str] = (),
) -> LocalMap:
    """Build the whole map (basemap, every live layer, a layer control) as one folium Map."""
    fmap = build_base_map(
        basemap, lang=lang, tile_url=tile_url, tile_attribution=tile_attribution, dark=dark
    )
    payloads = layer_payloads(layers, lang) if isinstance(layers, MapLayers) else layers
    for group in build_layers(payloads, hidden=hidden):
        group.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap


def map_html(fmap: folium.Map) -> str:
    """Return the full stand-alone HTML document of a map."""
    return str(fmap.get_root().render())
