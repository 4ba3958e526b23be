"""Pure folium map builders for the dashboard (no Streamlit here, so they are easy to test).

The work is split so that a data refresh is cheap and does not reset the user's view:

* :func:`layer_payloads` turns the live GeoDataFrames (alert areas, road conditions, hotspots,
  incidents, units, routes, duty and warming points) into :class:`LayerPayload` objects: escaped,
  rounded, simplified, serialised once. They are immutable, so the data module caches them.
  Each layer is one module of :mod:`dashboard.layers`, listed in its registry.
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
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import folium
from branca.element import Figure, MacroElement
from folium.template import Template

from dashboard.assets import LocalMap
from dashboard.basemap import (
    BasemapView,
    LabelLayer,
    MetricScale,
    basemap_payloads,
    label_css,
    read_basemap,
)
from dashboard.escape import escape_text
from dashboard.i18n import t
from dashboard.layers import LAYER_KEYS, layer_payloads
from dashboard.mapcluster import CLUSTER_CSS
from dashboard.mapdetail import Viewport, layers_in_view
from dashboard.mappayload import (
    ALERT_COLOURS,
    CONDITION_COLOURS,
    DEFAULT_CENTER,
    DEFAULT_ZOOM,
    DRONE_COLOUR,
    DUTY_COLOUR,
    HOTSPOT_COLOUR,
    PRIORITY_COLOURS,
    ROUTE_COLOUR,
    UNIT_STATUS_COLOURS,
    WARMING_COLOUR,
    Basemap,
    CompactGeoJson,
    FastFeatureGroup,
    LayerPayload,
    MapLayers,
    payload_from_frame,
    priority_band,
)

__all__ = [
    "ALERT_COLOURS",
    "CONDITION_COLOURS",
    "LAYER_KEYS",
    "PRIORITY_COLOURS",
    "UNIT_STATUS_COLOURS",
    "Basemap",
    "BasemapView",
    "CompactGeoJson",
    "GroupReset",
    "LayerPayload",
    "MapLayers",
    "basemap_payloads",
    "build_base_map",
    "build_layers",
    "build_map",
    "build_view_base",
    "feature_at",
    "layer_payloads",
    "map_html",
    "payload_from_frame",
    "priority_band",
    "read_basemap",
    "view_map",
]

SELECTABLE = ("incidents", "units")  # point layers a click on the map selects from
CLICK_PX = 12  # how far (screen pixels) a click may land from a point and still select it


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


# at night the layer control, zoom buttons, scale bar, popups and attribution go dark too
# (Leaflet draws them white; light text on #1e2228 is 13:1)
NIGHT_CONTROLS_CSS = (
    "<style>.leaflet-control-layers,.leaflet-bar a,.leaflet-control-attribution,"
    ".leaflet-popup-content-wrapper,.leaflet-popup-tip,.leaflet-tooltip:not(.wo-label)"
    "{background:#1e2228 !important;color:#e8e8e8 !important;border-color:#5a6370 !important}"
    ".leaflet-control-attribution a,.leaflet-popup-content a{color:#8cc4ff !important}"
    ".leaflet-control-scale-line{background:rgba(30,34,40,.8) !important;color:#e8e8e8 !important;"
    "border-color:#e8e8e8 !important}.leaflet-bar a.leaflet-disabled{color:#777 !important}</style>"
)

class GroupReset(MacroElement):
    """Forget the groups ``st_folium`` took off the map when it swapped in new ones.

    Its frontend removes the old groups from the map but keeps them in
    ``window.feature_group``, which a map that follows the view would grow on every pan.
    Added to the first new group, this runs after the removal and before the new groups are
    listed.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        window.feature_group = (window.feature_group || []).filter(function (g) {
            return window.map && window.map.hasLayer(g);
        });
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "GroupReset"


def build_view_base(payloads: Sequence[LayerPayload]) -> list[folium.FeatureGroup]:
    """Wrap the view's base layers (roads, town names) in groups kept out of the layer control.

    They go to ``st_folium`` with the live layers (first, so they are drawn under them) and
    are swapped with them when the view moves.
    """
    groups: list[folium.FeatureGroup] = []
    for payload in payloads:
        group = FastFeatureGroup(name=payload.name, control=False)
        if payload.key == "labels":
            LabelLayer(payload).add_to(group)
        else:
            CompactGeoJson(payload, control=False).add_to(group)
        groups.append(group)
    return groups


def feature_at(
    payloads: Sequence[LayerPayload], lat: float, lng: float, zoom: int,
    keys: Sequence[str] = SELECTABLE,
) -> tuple[str, str] | None:
    """Return ``(layer key, feature id)`` of the point nearest a click, or None.

    ``st_folium`` reports where the click landed (``last_object_clicked``), not which
    feature it hit: the nearest point of the `keys` layers within :data:`CLICK_PX` pixels at
    `zoom` is the one clicked. A counted cell (no id) selects nothing.
    """
    reach = CLICK_PX * 360.0 / (256 * 2.0 ** zoom)
    best: tuple[float, str, str] | None = None
    for payload in payloads:
        if payload.key not in keys or not payload.count or not payload.points:
            continue
        data = json.loads(payload.data_json)
        names: list[str] = data["p"]
        if "id" not in names:
            continue
        ids = data["v"][names.index("id")]
        for geometry, fid in zip(data["g"], ids, strict=True):
            if fid in (None, ""):
                continue
            x, y = geometry["coordinates"][:2]
            dist = math.hypot((x - lng) * math.cos(math.radians(lat)), y - lat)
            if dist <= reach and (best is None or dist < best[0]):
                best = (dist, payload.key, str(fid))
    return None if best is None else (best[1], best[2])


def view_map(
    base: BasemapView,
    layers: MapLayers,
    view: Viewport,
    *,
    lang: str = "zh",
    dark: bool = False,
    hidden: Iterable[str] = (),
) -> tuple[LocalMap, list[folium.FeatureGroup], list[LayerPayload]]:
    """Build the map of `view` as the dashboard hands it to ``st_folium``.

    Returns the static map (outlines, banner names, legend), the groups (the view's roads
    and town names, then the live layers cut to the view) and the live payloads.
    """
    fmap = build_base_map(base.static, lang=lang, dark=dark)
    payloads = layer_payloads(layers_in_view(layers, view, lang), lang)
    return fmap, build_view_base(base.layers(view)) + build_layers(payloads, hidden), payloads


def clicked(result: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """Return (lat, lng) of ``last_object_clicked`` in an ``st_folium`` result, or None."""
    where = (result or {}).get("last_object_clicked")
    if not isinstance(where, Mapping):
        return None
    try:
        lat, lng = float(where["lat"]), float(where["lng"])
    except (KeyError, TypeError, ValueError):
        return None
    return (lat, lng) if math.isfinite(lat) and math.isfinite(lng) else None


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

    def __init__(self, lang: str, dark: bool = False, open_: bool = False) -> None:
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

        def section(key: str, rows: list[str]) -> str:
            head = f"<b>{escape_text(t(key, lang))}</b>" if key else ""
            return f'<div style="break-inside:avoid;margin-bottom:4px">{head}{"".join(rows)}</div>'

        parts = [
            section("legend.conditions", [
                row(c, t(f"condition.{k}", lang), line=True) for k, c in CONDITION_COLOURS.items()
            ]),
            section("legend.alerts", [
                row(c, t(f"colour.{k}", lang), line=True) for k, c in ALERT_COLOURS.items()
            ]),
            section("legend.priority", [
                row(c, t(f"band.{k}", lang)) for k, c in PRIORITY_COLOURS.items()
            ]),
            section("legend.units", [
                *(row(c, t(f"status.{k}", lang)) for k, c in UNIT_STATUS_COLOURS.items()),
                row("#bdbdbd", t("map.pos_stale_key", lang)),
            ]),
            section("legend.other", [
                row(HOTSPOT_COLOUR, t("layer.hotspots", lang), line=True),
                row(ROUTE_COLOUR, t("layer.routes", lang), line=True),
                row(DRONE_COLOUR, t("layer.drone_coverage", lang), line=True),
                row(DUTY_COLOUR, t("layer.duty_points", lang)),
                row(WARMING_COLOUR, t("layer.warming_points", lang)),
            ]),
        ]
        title = escape_text(t("legend.title", lang))
        self.html = (
            f'<details{" open" if open_ else ""} style="background:{bg};color:{fg};'
            "padding:6px 8px;border-radius:4px;font:12px/1.35 sans-serif;"
            'box-shadow:0 1px 4px rgba(0,0,0,.4)">'
            f'<summary style="cursor:pointer;font-weight:bold">{title}</summary>'
            '<div style="max-height:min(240px,40vh);overflow-y:auto;columns:2;column-gap:14px;'
            f'margin-top:4px">{"".join(parts)}</div></details>'
        )


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
    legend_open: bool = False,
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
        control_scale=False,
        prefer_canvas=True,
        min_zoom=4,
        max_zoom=16,
    )
    background = "#15191e" if dark else "#eef1f4"
    folium.Element(
        f"<style>.leaflet-container{{background:{background} !important}}"
        ".leaflet-popup-content th,.leaflet-tooltip th{white-space:nowrap;padding-right:8px}"
        ".leaflet-popup-content{font-size:13px;max-width:calc(100vw - 70px);overflow-x:auto}"
        ".leaflet-popup-content td{word-break:break-word}</style>" + label_css(dark) + CLUSTER_CSS
        + (NIGHT_CONTROLS_CSS if dark else "")
    ).add_to(cast(Figure, fmap.get_root()).header)
    MetricScale().add_to(fmap)
    if tile_url:
        folium.TileLayer(
            tiles=tile_url,
            attr=escape_text(tile_attribution or "intranet tiles"),
            name="tiles",
            control=False,
        ).add_to(fmap)
    payloads = basemap_payloads(basemap, lang, dark) if isinstance(basemap, Basemap) else basemap
    for payload in payloads:
        if payload.count and payload.key == "labels":
            LabelLayer(payload).add_to(fmap)
        elif payload.count:
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
