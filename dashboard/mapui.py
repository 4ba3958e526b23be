"""The map widget: a cached basemap and cached live layers handed to ``st_folium``.

The base map (outlines, roads, legend) is the same on every rerun, so the component keeps its
identity; the live layers go in through ``feature_group_to_add``, which the component swaps
in place when the data changes.

With ``remember=True`` (the dispatcher's map) the view and the layer choices survive
everything, a remount of the component and a reload included (:class:`LayerStateHook`): the
browser keeps the centre, zoom and switched-off layers of the tab, and reports the layers
to Python, which builds the next live layers with them hidden. Passing the remembered
centre/zoom back through ``st_folium``'s ``center``/``zoom`` was tried and dropped: the value
lags the live map by a round trip, and the component then bounces between two zoom levels.
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
from dashboard.escape import escape_markdown
from dashboard.i18n import t
from dashboard.tiles import TileSource, local_tiles

__all__ = ["LayerStateHook", "MapView", "read_view", "show_map"]

READY = "wo-ready"
HIDDEN = "wo-hidden"
_VIEW = "wo_mapview_"


class LayerStateHook(MacroElement):
    """Script run with the live layers: keeps the user's view and layer choices.

    * The view (centre, zoom) and the overlays switched off are saved in the tab's
      ``sessionStorage`` on every move and every click in the layer control, and restored
      when the component is mounted again (a page rerun after an action, a reload).
    * When the live layers are swapped (new data), the overlays the user switched off are
      taken off the map again right after.
    * The switched-off overlays are also reported to Python through ``st_folium``'s
      ``selected_layers`` (entries ``{"name": ..., "url": "wo-hidden"}`` plus a ``wo-ready``
      marker), so the next layers are built hidden. Only clicks in the layer control count
      (``_handlingClick``), not the component removing and re-adding the groups.

    Nothing is sent for a pan or a zoom: moving the map reruns nothing.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var g = window.__GLOBAL_DATA__, m = window.map;
            if (!g || !g.selected_layers || !m) { return; }
            var key = "wo-map:" + {{ this.store_key|tojson }};
            var saved = {};
            try { saved = JSON.parse(window.sessionStorage.getItem(key) || "{}") || {}; }
            catch (e) { saved = {}; }
            if (!window.__woHidden) {
                window.__woHidden = {};
                (saved.hidden || {{ this.hidden|tojson }}).forEach(function (n) {
                    window.__woHidden[n] = true;
                });
            }
            var hidden = window.__woHidden;
            function report() {
                var sel = window.__GLOBAL_DATA__.selected_layers;
                Object.keys(sel).forEach(function (k) {
                    if (k.indexOf("wo:") === 0) { delete sel[k]; }
                });
                sel["wo:ready"] = {name: "", url: "wo-ready"};
                Object.keys(hidden).forEach(function (n) {
                    sel["wo:hidden:" + n] = {name: n, url: "wo-hidden"};
                });
            }
            function save() {
                try {
                    var c = m.getCenter();
                    window.sessionStorage.setItem(key, JSON.stringify(
                        {center: [c.lat, c.lng], zoom: m.getZoom(), hidden: Object.keys(hidden)}));
                } catch (e) { /* storage off: the view is simply not kept */ }
            }
            report();
            window.setTimeout(function () {
                var c = window.layer_control;
                if (!c || !c._layers) { return; }
                c._layers.forEach(function (o) {
                    if (o.overlay && hidden[o.name] && m.hasLayer(o.layer)) {
                        m.removeLayer(o.layer);
                    }
                });
            }, 0);
            if (window.__woLayerHook) { return; }
            window.__woLayerHook = true;
            if (saved.center && saved.zoom) {
                m.setView(saved.center, saved.zoom, {animate: false});
            }
            function track(hide) {
                return function (e) {
                    var c = window.layer_control;
                    if (!c || !c._handlingClick || !e || !e.name) { return; }
                    if (hide) { hidden[e.name] = true; } else { delete hidden[e.name]; }
                    report();
                    save();
                };
            }
            m.on("overlayremove", track(true));
            m.on("overlayadd", track(false));
            m.on("moveend", save);
        })();
        {% endmacro %}
        """
    )

    def __init__(self, store_key: str, hidden: Sequence[str]) -> None:
        super().__init__()
        self._name = "LayerStateHook"
        self.store_key = store_key
        self.hidden = list(hidden)


class MapView(dict[str, Any]):
    """What the server remembers of one map: the ``hidden`` layer keys.

    The view itself is kept in the browser, see :class:`LayerStateHook`.
    """


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
    return dict(view) != before


def _remembered(key: str) -> MapView:
    view = st.session_state.get(_VIEW + key)
    if not isinstance(view, MapView):
        view = MapView()
        st.session_state[_VIEW + key] = view
    return view


@st.cache_resource(show_spinner=False)
def _tiles(setting: str) -> TileSource:
    """Resolve the tile setting once per process (a local MBTiles file is unpacked once)."""
    return local_tiles(setting)


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
    legend_open: bool = False,
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
        Whether the legend starts unfolded (folded by default: it never covers the map
        unless asked).
    remember
        Keep the user's view and layer choices in the session (see the module docstring);
        a layer switch then reruns the fragment holding the map (a pan or zoom nothing).
    """
    settings = ui.settings()
    lang = ui.lang()
    base = data.basemap(str(settings.region_dir), lang, dark)
    payloads = data.map_payloads(settings.database_url, settings, lang, unit_id)
    tiles = _tiles(settings.tile_url)
    if tiles.problem:
        st.warning(t("map.tiles_problem", lang, problem=escape_markdown(tiles.problem)))
    fmap = mapview.build_base_map(
        base,
        lang=lang,
        tile_url=tiles.url,
        tile_attribution=settings.tile_attribution or tiles.label,
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
            user = ui.current_user()
            store = f"{key}:{user.username if user is not None else ''}"
            LayerStateHook(store, names).add_to(groups[0])
        if "selected_layers" not in wanted:
            wanted.append("selected_layers")
    result = st_folium(
        fmap,
        key=key,
        height=height,
        use_container_width=True,
        returned_objects=wanted,
        feature_group_to_add=groups,
        layer_control=folium.LayerControl(collapsed=True),
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
