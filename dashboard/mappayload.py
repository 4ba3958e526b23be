"""Map payloads: palettes, data classes, serialisation and the folium elements drawing them.

The colour palettes, the data classes, the column-wise serialisation of features
(:func:`payload_from_frame`) and the folium elements that draw them (:class:`CompactGeoJson`).
The layers themselves are modules of :mod:`dashboard.layers`; :mod:`dashboard.mapview`
re-exports the public names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
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

from dashboard.escape import escape_text, escape_value
from dashboard.i18n import DISPLAY_TZ
from dashboard.mapcluster import CLUSTER_JS, CLUSTER_PX, UNCLUSTER_ZOOM

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
DRONE_COLOUR = "#2a9d8f"
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
    """The static vector basemap: banner outlines, roads, towns (WGS84 GeoDataFrames or None)."""

    outlines: gpd.GeoDataFrame | None = None
    roads: gpd.GeoDataFrame | None = None
    towns: gpd.GeoDataFrame | None = None


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
    drone_coverage
        flight_id, road_km, started_at, ended_at (lines: the road stretches each recent
        drone flight patrolled)
    """

    alerts: gpd.GeoDataFrame | None = None
    segments: gpd.GeoDataFrame | None = None
    hotspots: gpd.GeoDataFrame | None = None
    incidents: gpd.GeoDataFrame | None = None
    units: gpd.GeoDataFrame | None = None
    routes: gpd.GeoDataFrame | None = None
    duty_points: gpd.GeoDataFrame | None = None
    drone_coverage: gpd.GeoDataFrame | None = None


@dataclass(frozen=True)
class LayerPayload:
    """One map layer, escaped and serialised: cheap to wrap in folium objects on every rerun.

    Attributes
    ----------
    key
        Layer key (a :mod:`dashboard.layers` key, or a basemap key).
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
    tooltip_labels
        Whether the tooltip shows the aliases.
    cluster
        Points that pile up on screen are drawn as one counted circle (see :data:`CLUSTER_JS`).
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
    cluster: bool = False


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
    r"""Return `obj` as compact JSON, safe inside a ``<script>``.

    No spaces and no ``\u`` escapes of CJK text; ``<``, ``>``, ``&``, ``'``, U+2028 and
    U+2029 are escaped.
    """
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


def col(name: str, default: Any = None) -> Callable[[pd.DataFrame], pd.Series]:
    """Make a column function: `frame[name]`, or `default` in every row when it is missing."""

    def get(frame: pd.DataFrame) -> pd.Series:
        if name in frame.columns:
            return frame[name]
        return pd.Series([default] * len(frame), index=frame.index, dtype=object)

    return get


def _serialise(
    gdf: gpd.GeoDataFrame | None,
    props: Mapping[str, PropSource],
    decimals: int,
    simplify: float,
) -> tuple[list[str], list[list[Any]]]:
    """Return the GeoJSON geometries and the escaped property columns of `gdf`.

    Rows with a missing or empty geometry are dropped; coordinates are rounded to `decimals`
    after simplifying with `simplify` degrees (0 = none).
    """
    columns: list[list[Any]] = [[] for _ in props]
    if gdf is None or not len(gdf):
        return [], columns
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).loc[keep]
    geoms = geoms[keep]
    if simplify > 0:
        geoms = shapely.simplify(geoms, simplify, preserve_topology=True)
    coords = shapely.get_coordinates(geoms)
    geoms = shapely.set_coordinates(geoms.copy(), np.round(coords, decimals))
    for i, src in enumerate(props.values()):
        series = src(frame) if callable(src) else col(src)(frame)
        columns[i] = _column_values(series)
    return [str(g) for g in shapely.to_geojson(geoms)], columns


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
    cluster: bool = False,
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
    cluster
        Group points that pile up on screen (points only).

    Returns
    -------
    LayerPayload
        The escaped, serialised layer.
    """
    geometries, columns = _serialise(gdf, props, decimals, simplify if not points else 0.0)
    return assemble_payload(
        key, name, list(props), columns, geometries, palette, points=points, tooltip=tooltip,
        popup=popup, tooltip_labels=tooltip_labels, cluster=cluster,
    )


def assemble_payload(
    key: str,
    name: str,
    names: Sequence[str],
    columns: Sequence[Sequence[Any]],
    geometries: Sequence[str],
    palette: Mapping[str, Style],
    *,
    points: bool = False,
    tooltip: Sequence[tuple[str, str]] = (),
    popup: Sequence[tuple[str, str]] = (),
    tooltip_labels: bool = True,
    cluster: bool = False,
) -> LayerPayload:
    """Build a :class:`LayerPayload` from serialised pieces (see :func:`payload_from_frame`).

    `columns` are escaped property columns (one per name in `names`), `geometries` GeoJSON
    geometry strings, one per feature; :mod:`dashboard.mapdetail` cuts them by view.
    """
    if "" not in palette:
        palette = {**palette, "": next(iter(palette.values()))}
    names = list(names)
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
        cluster=cluster and points,
    )


class _Verbatim(Element):
    """Text added to a figure as it is (never compiled as a template)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def render(self, **kwargs: Any) -> str:
        return self._text


_ROWS = "fields.map(\n        (v,i)=>"
_NON_EMPTY_ROWS = (
    "fields.map((v,i)=>[v,i]).filter(e=>{const x=layer.feature.properties[e[0]];"
    "return x!==null&&x!==undefined&&x!=='';}).map(\n        ([v,i])=>"
)


class CompactPopup(folium.GeoJsonPopup):
    """A :class:`folium.GeoJsonPopup` that leaves out the rows whose value is empty."""

    _template = Template(
        """
    {% macro script(this, kwargs) %}
    {{ this._parent.get_name() }}.bindPopup("""
        + GeoJsonDetail.base_template.replace(_ROWS, _NON_EMPTY_ROWS)
        + """,{{ this.popup_options | tojavascript }});
    {% endmacro %}
    """
    )


class CompactGeoJson(folium.GeoJson):
    r"""A :class:`folium.GeoJson` drawn from a :class:`LayerPayload`.

    Features arrive column-wise and are re-assembled in the browser; each is styled from the
    payload's palette by its ``properties.k``; points become ``L.circleMarker``. The embedded
    JSON has ``<``, ``>``, ``&`` and ``'`` as ``\u`` escapes, so no string can close the script.
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
        {%- if this.payload.popup %}
        {{ this.get_name() }}.on("popupopen", function () {
            {{ this.get_name() }}.closeTooltip();  // the popup says it all; no tooltip over it
        });
        {%- endif %}
        {%- if this.payload.cluster %}
        {{ this.cluster_js }}
        window.woCluster({{ this.get_name() }}, {{ this.get_name() }}_palette,
            {{ this.cluster_px }}, {{ this.uncluster_zoom }}, "wo-cluster-{{ this.payload.key }}");
        {%- endif %}
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
            popup = CompactPopup(
                fields=[f for f, _ in payload.popup], aliases=[a for _, a in payload.popup]
            )
        super().__init__(sample, name=payload.name, control=control, tooltip=tooltip, popup=popup)
        self._name = "GeoJson"
        self.payload = payload
        self.cluster_js = CLUSTER_JS
        self.cluster_px = CLUSTER_PX
        self.uncluster_zoom = UNCLUSTER_ZOOM

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
