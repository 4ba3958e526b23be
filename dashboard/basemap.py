"""The offline base layer: banner outlines, roads by class, banner and town names, a metric scale.

Everything is drawn from the region data (``data/region``: ``places.geojson``,
``roads.geojson``, ``towns.csv``) as vector layers, so the map is readable zoomed in with no
tile server and no internet. Names are labels that appear by zoom level (banners from zoom
:data:`BANNER_LABEL_ZOOM`, towns from :data:`TOWN_LABEL_ZOOM`); every name is escaped like
any other property. An intranet tile server, when configured, is drawn under all of it
(:func:`dashboard.mapview.build_base_map`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import MacroElement
from folium.template import Template

from dashboard.i18n import t
from dashboard.mapdetail import LineIndex, Viewport, in_bbox
from dashboard.mappayload import (
    Basemap,
    LayerPayload,
    _Verbatim,
    payload_from_frame,
)

__all__ = [
    "BANNER_LABEL_ZOOM",
    "ROAD_ORDER",
    "BasemapView",
    "TOWN_LABEL_ZOOM",
    "LabelLayer",
    "MetricScale",
    "basemap_payloads",
    "label_css",
    "read_basemap",
]

BANNER_LABEL_ZOOM = 7
TOWN_LABEL_ZOOM = 8
ROAD_WEIGHTS = {"expressway": 3.2, "national": 2.4, "provincial": 1.8}
# road classes by importance: a view keeps the first ones that fit its vertex budget
ROAD_ORDER = ("expressway", "national", "provincial", "county", "township")
TOWN_LABEL_BUDGET = 600  # town names in one view at most (the first ones in the file)
VIEWS_KEPT = 32  # views whose base layers a BasemapView remembers (~0.3 MB each at most)


def _read(path: Path, level: str | None = None) -> gpd.GeoDataFrame | None:
    if not path.is_file():
        return None
    gdf = gpd.read_file(path)
    if level is not None and "level" in gdf.columns:
        gdf = gdf[gdf["level"] == level]
    return gdf


def read_basemap(region_dir: Path) -> Basemap:
    """Read the base layer of a region folder (missing files are simply not drawn).

    Parameters
    ----------
    region_dir
        A region in the ``data/region`` layout.

    Returns
    -------
    Basemap
        Banner outlines, roads and towns (WGS84).
    """
    towns = None
    csv = region_dir / "towns.csv"
    if csv.is_file():
        frame = pd.read_csv(csv, encoding="utf-8")
        if {"lon", "lat"} <= set(frame.columns):
            towns = gpd.GeoDataFrame(
                frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=4326
            )
    return Basemap(
        outlines=_read(region_dir / "places.geojson", "banner"),
        roads=_read(region_dir / "roads.geojson"),
        towns=towns,
    )


def _labels(basemap: Basemap, name_col: str) -> gpd.GeoDataFrame | None:
    """Return one label point per banner (inside its outline) and per town."""
    parts = []
    if basemap.outlines is not None and len(basemap.outlines):
        out = basemap.outlines.to_crs(4326) if basemap.outlines.crs else basemap.outlines
        parts.append(gpd.GeoDataFrame(
            {"name": out.get(name_col, out.get("name_zh")), "k": "banner"},
            geometry=out.geometry.representative_point(), crs=4326,
        ))
    if basemap.towns is not None and len(basemap.towns):
        towns = basemap.towns
        parts.append(gpd.GeoDataFrame(
            {"name": towns.get(name_col, towns.get("name_zh")), "k": "town"},
            geometry=towns.geometry, crs=4326,
        ))
    if not parts:
        return None
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=4326)


def _road_style(lang: str, dark: bool) -> dict[str, Any]:
    """Return the roads' payload arguments: properties, palette, tooltip."""
    road_colour = "#9aa5b1" if dark else "#6b6b6b"
    name_col = "name_zh" if lang == "zh" else "name_en"
    road_style = {"color": road_colour, "weight": 1.3, "opacity": 0.8}
    return {
        "props": {"k": "road_class", "road": "road_code", "name": name_col},
        "palette": {
            "": road_style, **{k: {**road_style, "weight": w} for k, w in ROAD_WEIGHTS.items()}
        },
        "tooltip": [("road", ""), ("name", "")],
    }


def _outlines(basemap: Basemap, lang: str, dark: bool) -> LayerPayload:
    outline_colour = "#6b7785" if dark else "#8a96a3"
    return payload_from_frame(
        "outlines",
        t("layer.outlines", lang),
        basemap.outlines,
        {"name": "name_zh" if lang == "zh" else "name_en"},
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
    )


def _label_payload(labels: gpd.GeoDataFrame | None, lang: str) -> LayerPayload:
    return payload_from_frame(
        "labels", t("layer.labels", lang), labels, {"k": "k", "name": "name"}, {"": {}},
        points=True,
    )


def basemap_payloads(basemap: Basemap, lang: str = "zh", dark: bool = False) -> list[LayerPayload]:
    """Serialise the banner outlines, the roads (by class) and the name labels of the basemap.

    The whole base layer at once (the map before issue 14; tests and stand-alone maps):
    :class:`BasemapView` sends only what a view needs.

    Parameters
    ----------
    basemap
        The region's base layer (:func:`read_basemap`).
    lang
        "zh" or "en": which names.
    dark
        Night colours.

    Returns
    -------
    list of LayerPayload
        ``outlines``, ``roads`` and ``labels``.
    """
    name_col = "name_zh" if lang == "zh" else "name_en"
    road = _road_style(lang, dark)
    return [
        _outlines(basemap, lang, dark),
        payload_from_frame(
            "roads",
            t("layer.roads", lang),
            basemap.roads,
            road["props"],
            road["palette"],
            simplify=0.001,
            tooltip=road["tooltip"],
            tooltip_labels=False,
        ),
        _label_payload(_labels(basemap, name_col), lang),
    ]


class BasemapView:
    """The base layer by view: a static part and the roads and town names of a view.

    The static part (:attr:`static`: banner outlines and banner names) is drawn with the map
    and never changes, so the component keeps its identity. :meth:`layers` gives the roads in
    view (the most important classes that fit the budget, simplified to a pixel) and, from
    :data:`TOWN_LABEL_ZOOM`, the town names in view; they go in with the live layers.

    Parameters
    ----------
    basemap
        The region's base layer (:func:`read_basemap`).
    lang, dark
        Names and colours.
    """

    def __init__(self, basemap: Basemap, lang: str = "zh", dark: bool = False) -> None:
        name_col = "name_zh" if lang == "zh" else "name_en"
        labels = _labels(basemap, name_col)
        banners = towns = None
        if labels is not None:
            banners, towns = labels[labels["k"] == "banner"], labels[labels["k"] == "town"]
        self.lang = lang
        self._seen: dict[tuple[tuple[float, ...], int], tuple[LayerPayload, ...]] = {}
        self._lock = threading.Lock()
        self.static = [_outlines(basemap, lang, dark), _label_payload(banners, lang)]
        self.towns = towns if towns is not None and len(towns) else None
        road = _road_style(lang, dark)
        roads = basemap.roads
        rank = None
        if roads is not None and "road_class" in roads.columns:
            order = {c: i for i, c in enumerate(ROAD_ORDER)}
            rank = roads["road_class"].map(order).fillna(len(ROAD_ORDER)).astype(int).tolist()
        self.roads = LineIndex(
            "roads", t("layer.roads", lang), roads, road["props"], road["palette"], rank=rank,
            simplify=0.001, tooltip=road["tooltip"], tooltip_labels=False,
        )

    def layers(self, view: Viewport) -> list[LayerPayload]:
        """Return the roads and (zoomed in) the town names of `view`.

        The same for every view with the same fetch extent (remembered: a pan within it costs
        nothing).
        """
        key = (view.fetch().bbox, view.zoom)
        with self._lock:  # one per process, shared by the sessions
            found = self._seen.get(key)
            if found is None:
                found = self._layers(view)
                if len(self._seen) >= VIEWS_KEPT:
                    self._seen.pop(next(iter(self._seen)))
                self._seen[key] = found
        return list(found)

    def _layers(self, view: Viewport) -> tuple[LayerPayload, ...]:
        towns = None
        if self.towns is not None and view.zoom >= TOWN_LABEL_ZOOM:
            rows = in_bbox(self.towns, view.fetch().bbox)[:TOWN_LABEL_BUDGET]
            towns = self.towns.iloc[np.asarray(rows)]
        out = [self.roads.payload(view)]
        if towns is not None and len(towns):
            out.append(_label_payload(towns, self.lang))
        return tuple(out)


def label_css(dark: bool = False) -> str:
    """Return the ``<style>`` of the name labels (shown by zoom, see :class:`LabelLayer`)."""
    fg, halo = ("#d8dde3", "#15191e") if dark else ("#333333", "#ffffff")
    return (
        "<style>.leaflet-tooltip.wo-label{display:none;background:transparent;border:0;"
        f"box-shadow:none;padding:0;color:{fg};font:12px/1.2 sans-serif;"
        f"text-shadow:0 0 3px {halo},0 0 3px {halo},0 0 2px {halo}}}"
        ".leaflet-tooltip.wo-label:before{display:none}"
        ".wo-label-banner{font-weight:bold !important;opacity:.75}"
        ".wo-z-banners .leaflet-tooltip.wo-label-banner{display:block}"
        ".wo-z-towns .leaflet-tooltip.wo-label-town{display:block}</style>"
    )


class LabelLayer(MacroElement):
    """Banner and town names as permanent, non-interactive labels that appear by zoom.

    Towns get a small dot and a label to its right; banners a bold label at a point inside
    their outline. The map container carries ``wo-z-banners`` / ``wo-z-towns`` classes by
    zoom, which the CSS of :func:`label_css` turns into visible labels. The names arrive
    escaped (entities), so putting them in a tooltip's HTML shows them as text.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (d, m) {
            var group = L.layerGroup();
            for (var i = 0; i < d.g.length; i++) {
                var p = {};
                for (var j = 0; j < d.p.length; j++) { p[d.p[j]] = d.v[j][i]; }
                var c = d.g[i].coordinates, town = p.k === "town";
                var dot = L.circleMarker([c[1], c[0]], {
                    radius: town ? 2.5 : 0, weight: 1, color: "#555", fillColor: "#fff",
                    fillOpacity: 1, interactive: false});
                dot.bindTooltip(p.name || "", {
                    permanent: true, interactive: false, direction: town ? "right" : "center",
                    offset: town ? [4, 0] : [0, 0],
                    className: "wo-label " + (town ? "wo-label-town" : "wo-label-banner")});
                group.addLayer(dot);
            }
            group.addTo(m);
            if (!(m instanceof L.Map)) { return; }  // in a view group: the map's own layer zooms
            function classes() {
                var z = m.getZoom(), el = m.getContainer();
                el.classList.toggle("wo-z-banners", z >= {{ this.banner_zoom }});
                el.classList.toggle("wo-z-towns", z >= {{ this.town_zoom }});
            }
            m.on("zoomend", classes);
            classes();
        })({{ this.payload.data_json }}, {{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, payload: LayerPayload) -> None:
        super().__init__()
        self._name = "LabelLayer"
        self.payload = payload
        self.banner_zoom = BANNER_LABEL_ZOOM
        self.town_zoom = TOWN_LABEL_ZOOM

    def render(self, **kwargs: Any) -> str:
        """Add the script verbatim (the names never pass through Jinja twice)."""
        figure = self.get_root()
        module = self._template.module.__dict__
        figure.script.add_child(  # type: ignore[attr-defined]
            _Verbatim(str(module["script"](self, kwargs))), name=self.get_name()
        )
        return ""


class MetricScale(MacroElement):
    """A kilometre scale bar (no miles) in the bottom-left corner."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        L.control.scale({metric: true, imperial: false, maxWidth: 160})
            .addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "MetricScale"

