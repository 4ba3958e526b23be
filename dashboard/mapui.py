"""The map widget: a cached basemap and cached live layers handed to ``st_folium``.

The base map (outlines, roads, legend) is the same on every rerun, so the component keeps its
identity; the live layers go in through ``feature_group_to_add``, which the component swaps
in place when the data changes.

With ``remember=True`` (the dispatcher's map) the view and the layer choices survive
everything, a remount of the component included: the centre and zoom it reports go into
``st.session_state`` and come back as ``st_folium``'s ``center``/``zoom``; the layers the user
switched off in the layer control are reported by a small script (:class:`LayerStateHook`,
through ``selected_layers``) and the live layers are built with them hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import folium
import streamlit as st
from branca.element import MacroElement
from folium.template import Template
from streamlit_folium import st_folium

from dashboard import data, mapview, ui

__all__ = ["LayerStateHook", "MapView", "read_view", "show_map"]

READY = "wo-ready"
HIDDEN = "wo-hidden"
_VIEW = "wo_mapview_"


class LayerStateHook(MacroElement):
    """Script run with the live layers: reports the overlays the user switched off.

    It keeps entries ``{"name": <layer name>, "url": "wo-hidden"}`` (plus one ``wo-ready``
    marker) in ``st_folium``'s ``selected_layers``, which the component returns to Python.
    Only clicks in the layer control count (``_handlingClick``), not the component removing
    and re-adding the groups when the data changes.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var g = window.__GLOBAL_DATA__;
            if (!g || !g.selected_layers) { return; }
            var sel = g.selected_layers;
            Object.keys(sel).forEach(function (k) {
                if (k.indexOf("wo:") === 0) { delete sel[k]; }
            });
            sel["wo:ready"] = {name: "", url: "wo-ready"};
            {{ this.hidden|tojson }}.forEach(function (n) {
                sel["wo:hidden:" + n] = {name: n, url: "wo-hidden"};
            });
            if (window.__woLayerHook || !window.map) { return; }
            window.__woLayerHook = true;
            function track(hide) {
                return function (e) {
                    var c = window.layer_control;
                    if (!c || !c._handlingClick || !e || !e.name) { return; }
                    var s = window.__GLOBAL_DATA__.selected_layers;
                    if (hide) { s["wo:hidden:" + e.name] = {name: e.name, url: "wo-hidden"}; }
                    else { delete s["wo:hidden:" + e.name]; }
                };
            }
            window.map.on("overlayremove", track(true));
            window.map.on("overlayadd", track(false));
        })();
        {% endmacro %}
        """
    )

    def __init__(self, hidden: Sequence[str]) -> None:
        super().__init__()
        self._name = "LayerStateHook"
        self.hidden = list(hidden)


class MapView(dict[str, Any]):
    """What is remembered of one map: ``center`` (lat, lon), ``zoom``, ``hidden`` layer keys."""


def read_view(
    result: dict[str, Any] | None, payloads: Sequence[mapview.LayerPayload], view: MapView
) -> bool:
    """Update `view` from what ``st_folium`` returned; True when something changed.

    Reports sent before the layer hook ran (no ``wo-ready`` marker: the component's first
    report after a remount, with the default view) are ignored.
    """
    if not result:
        return False
    layers = result.get("selected_layers")
    if not isinstance(layers, list):
        return False
    entries = [d for d in layers if isinstance(d, dict)]
    if not any(d.get("url") == READY for d in entries):
        return False
    names = {str(d.get("name")) for d in entries if d.get("url") == HIDDEN}
    before = dict(view)
    view["hidden"] = [p.key for p in payloads if p.name in names]
    center = result.get("center")
    if isinstance(center, dict) and "lat" in center and "lng" in center:
        view["center"] = (float(center["lat"]), float(center["lng"]))
    zoom = result.get("zoom")
    if isinstance(zoom, int | float):
        view["zoom"] = int(zoom)
    return dict(view) != before


def _remembered(key: str) -> MapView:
    view = st.session_state.get(_VIEW + key)
    if not isinstance(view, MapView):
        view = MapView()
        st.session_state[_VIEW + key] = view
    return view


def show_map(
    key: str,
    *,
    unit_id: str | None = None,
    dark: bool = False,
    height: int = 620,
    center: tuple[float, float] | None = None,
    zoom: int | None = None,
    returned: Sequence[str] = (),
    hidden: Sequence[str] = (),
    legend_open: bool = True,
    remember: bool = False,
) -> dict[str, Any]:
    """Draw the situation map and return what ``st_folium`` reports (only `returned` keys).

    Parameters
    ----------
    key
        Stable widget key (one per page).
    unit_id
        Show only this unit and its routes (patrol lead view).
    dark
        Night colours.
    height, center, zoom
        Size and initial view.
    returned
        ``st_folium`` objects that may rerun the page (e.g. ``["last_clicked"]``).
    hidden
        Layer keys switched off at first.
    legend_open
        Whether the legend starts unfolded (folded on the tablet, where space is short).
    remember
        Keep the user's view and layer choices in the session (see the module docstring);
        a pan, zoom or layer switch then reruns the fragment holding the map.
    """
    settings = ui.settings()
    lang = ui.lang()
    base = data.basemap(str(settings.region_dir), lang, dark)
    payloads = data.map_payloads(settings.database_url, settings, lang, unit_id)
    fmap = mapview.build_base_map(
        base,
        lang=lang,
        tile_url=settings.tile_url,
        tile_attribution=settings.tile_attribution,
        center=center,
        zoom=zoom,
        dark=dark,
        legend_open=legend_open,
    )
    view = _remembered(key) if remember else MapView()
    hide = list(view.get("hidden", hidden))
    groups = mapview.build_layers(payloads, hidden=hide)
    wanted = list(returned)
    if remember:
        names = [p.name for p in payloads if p.key in set(hide)]
        if groups:
            LayerStateHook(names).add_to(groups[0])
        wanted += [k for k in ("center", "zoom", "selected_layers") if k not in wanted]
    result = st_folium(
        fmap,
        key=key,
        height=height,
        use_container_width=True,
        returned_objects=wanted,
        feature_group_to_add=groups,
        layer_control=folium.LayerControl(collapsed=True),
        center=view.get("center", center) if remember else None,
        zoom=view.get("zoom", zoom) if remember else None,
    )
    out = dict(result or {})
    if remember:
        # the browser already shows the user's choice; the next rebuild of the layers (a
        # data change) and a remount take it from the session
        read_view(out, payloads, view)
    return out


def layer_counts(unit_id: str | None = None) -> dict[str, int]:
    """How many features each live layer holds (for captions and tests)."""
    settings = ui.settings()
    payloads = data.map_payloads(settings.database_url, settings, ui.lang(), unit_id)
    return {p.key: p.count for p in payloads}
