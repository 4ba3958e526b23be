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

A map that follows its view (``follow_view``, the default with ``remember``; issue 14) gets
only what the view needs: the static part of the base layer with the map, and the view's roads,
town names and live features (cut, simplified, aggregated by :mod:`dashboard.mapdetail`) with
the live layers. The view is read from what ``st_folium`` last reported (bounds and zoom, kept
in ``st.session_state[key]``), so each pan or zoom reruns the fragment holding the map; a pan
within the fetched extent gives the same layers and redraws nothing. On PostGIS the view's
hazardous segments are read in the database (:mod:`incidents.queries.view`).
``show_map(select=True)`` reports the incident or unit a click hit: :func:`selected` (issue 12).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import folium
import streamlit as st
from branca.element import MacroElement
from folium.template import Template
from streamlit_folium import st_folium

from dashboard import data, live, mapview, ui
from dashboard.escape import escape_markdown
from dashboard.i18n import t
from dashboard.mapdetail import LiveDetail, Viewport, layers_in_view
from dashboard.mappayload import DEFAULT_CENTER, DEFAULT_ZOOM
from dashboard.tiles import TileSource, local_tiles
from incidents.queries import view as view_query

__all__ = [
    "LayerStateHook",
    "MapSelection",
    "MapView",
    "read_view",
    "selected",
    "show_map",
    "view_payloads",
]

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

    The layer hook itself sends nothing for a pan or a zoom; a map that follows the view
    (``show_map(follow_view=True)``, the default with ``remember``) has ``st_folium`` report
    its bounds and zoom, which reruns the fragment holding it with the view's layers.
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


class MapSelection(NamedTuple):
    """What a click on the map selected: ``kind`` "incident" or "unit", and its ``id``."""

    kind: str
    id: str


_KINDS = {"incidents": "incident", "units": "unit"}
SCREEN_W = 2560  # width assumed for the first view, before the browser reported its own


def selected(result: Mapping[str, Any] | None) -> MapSelection | None:
    """Return the incident or unit the last click on the map selected (``show_map(select=True)``).

    None when the click hit nothing selectable (a counted cell, a road) or nothing was clicked.
    """
    value = (result or {}).get("wo_selected")
    if isinstance(value, MapSelection):
        return value
    return None


@st.cache_resource(show_spinner=False)
def _base_view(region_dir: str, lang: str, dark: bool) -> mapview.BasemapView:
    """Return the base layer indexed by view (once per region, language and theme)."""
    return mapview.BasemapView(mapview.read_basemap(Path(region_dir)), lang, dark)


@st.cache_resource(ttl=data.TTL_S, show_spinner=False, max_entries=64)
def _field_frames(
    url: str, field: str, v: tuple[int, ...], _settings: Any, unit_id: str | None
) -> LiveDetail:
    """Return one live layer's frames, read and indexed once per version of its topics."""
    return LiveDetail(
        data.load_layers(url, _settings, data.clock(url), unit_id, fields=(field,))
    )


@st.cache_resource(ttl=data.TTL_S, show_spinner=False, max_entries=128)
def _view_field(
    url: str, field: str, v: tuple[int, ...], extent: tuple[float, float, float, float],
    zoom: int, _settings: Any, lang: str, unit_id: str | None,
) -> tuple[mapview.LayerPayload, ...]:
    """Return one live layer cut to a fetch extent at a zoom, serialised (immutable)."""
    view = Viewport(*extent, zoom)
    if field == "segments" and url.startswith("postgresql"):
        # in the database: the GiST index finds the view's segments, PostGIS simplifies them
        with data.reader(url)() as session:
            frames = mapview.MapLayers(
                segments=view_query.segments_in_view(session, extent, view.pixel_deg)
            )
        cut = layers_in_view(frames, view, lang, extent=extent)
    else:
        cut = _field_frames(url, field, v, _settings, unit_id).in_view(view, lang, extent)
    wanted = data.FIELD_KEYS[field]
    return tuple(p for p in mapview.layer_payloads(cut, lang) if p.key in wanted)


def view_payloads(
    url: str, settings: Any, lang: str, view: Viewport, unit_id: str | None = None
) -> list[mapview.LayerPayload]:
    """Return the live layers of `view`: cut to its fetch extent, at its zoom's detail.

    Cached per layer by the versions of its topics and the fetch extent, so a small pan (the
    same extent) or a change in another topic reuses the layer as it was.
    """
    extent = view.fetch().bbox
    by_key: dict[str, mapview.LayerPayload] = {}
    for field, topics in data.LAYER_TOPICS.items():
        stamp = live.stamp(url, topics)
        for payload in _view_field(url, field, stamp, extent, view.zoom, settings, lang, unit_id):
            by_key[payload.key] = payload
    return [by_key[k] for k in mapview.LAYER_KEYS if k in by_key]


def _current_view(
    key: str, center: tuple[float, float] | None, zoom: int | None, height: int
) -> Viewport:
    """Return the view the browser last reported for `key`, else the initial one."""
    reported = st.session_state.get(key)
    view = Viewport.from_result(reported if isinstance(reported, Mapping) else None)
    if view is not None:
        return view
    return Viewport.around(center or DEFAULT_CENTER, zoom or DEFAULT_ZOOM, (SCREEN_W, height))


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
    follow_view: bool | None = None,
    select: bool = False,
) -> dict[str, Any]:
    """Draw the situation map and return what ``st_folium`` reports (only `returned` keys).

    Parameters
    ----------
    key
        Stable widget key (one per page).
    unit_id, dark
        Show only this unit and its routes (patrol lead view); night colours.
    height, center, zoom
        Size and initial view.
    returned, hidden
        ``st_folium`` objects that may rerun the page (e.g. ``["last_clicked"]``); layer keys
        switched off at first.
    legend_open
        Whether the legend starts unfolded (folded by default: it never covers the map
        unless asked).
    remember
        Keep the user's view and layer choices in the session (see the module docstring);
        a layer switch then reruns the fragment holding the map.
    follow_view
        Send only what the view needs (issue 14, :mod:`dashboard.mapdetail`): the roads, town
        names and live features of the view, at its zoom's detail. The browser reports each
        pan and zoom, which reruns the fragment holding the map. Default: `remember`.
    select
        Report the incident or unit a click on the map hits: ``selected(result)`` (issue 12).
    """
    settings = ui.settings()
    lang = ui.lang()
    follow = remember if follow_view is None else follow_view
    tiles = _tiles(settings.tile_url)
    if tiles.problem:
        st.warning(t("map.tiles_problem", lang, problem=escape_markdown(tiles.problem)))
    view = _current_view(key, center, zoom, height) if follow else None
    base, extra, payloads = _contents(settings, lang, dark, view, unit_id)
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
    remembered = _remembered(key) if remember else MapView()
    groups = _live_groups(key, payloads, list(remembered.get("hidden", hidden)), remember)
    wanted = _wanted(returned, remember, follow, select)
    if view is not None and (extra or groups):
        mapview.GroupReset().add_to((extra + groups)[0])
    result = st_folium(
        fmap,
        key=key,
        height=height,
        use_container_width=True,
        returned_objects=wanted,
        feature_group_to_add=extra + groups,
        layer_control=folium.LayerControl(collapsed=True),
    )
    out = dict(result or {})
    if remember:  # the next rebuild of the layers and a remount take the user's choice
        read_view(out, payloads, remembered)
    if select:
        out["wo_selected"] = _selection(out, payloads, view)
    return out


def _live_groups(
    key: str, payloads: Sequence[mapview.LayerPayload], hide: list[str], remember: bool
) -> list[folium.FeatureGroup]:
    """Return the live layers' groups, `hide` switched off, with the layer hook if `remember`."""
    groups = mapview.build_layers(payloads, hidden=hide)
    if remember and groups:
        user = ui.current_user()
        store = f"{key}:{user.username if user is not None else ''}"
        names = [p.name for p in payloads if p.key in set(hide)]
        LayerStateHook(store, names).add_to(groups[0])
    return groups


def _contents(
    settings: Any, lang: str, dark: bool, view: Viewport | None, unit_id: str | None
) -> tuple[
    Sequence[mapview.LayerPayload], list[folium.FeatureGroup], list[mapview.LayerPayload]
]:
    """Return the map's static base, the view's base groups and the live payloads.

    With a `view`: the static part of the base layer, the view's roads and town names, and
    the live layers of the view; without: the whole base layer and the whole live layers.
    """
    if view is None:
        base = data.basemap(str(settings.region_dir), lang, dark)
        return base, [], data.map_payloads(settings.database_url, settings, lang, unit_id)
    base_view = _base_view(str(settings.region_dir), lang, dark)
    extra = mapview.build_view_base(base_view.layers(view))
    payloads = view_payloads(settings.database_url, settings, lang, view, unit_id)
    return base_view.static, extra, payloads


def _wanted(returned: Sequence[str], remember: bool, follow: bool, select: bool) -> list[str]:
    """Return the ``st_folium`` objects to report for these options."""
    wanted = list(returned)
    extra = (
        (["selected_layers"] if remember else [])
        + (["bounds", "zoom"] if follow else [])
        + (["last_object_clicked", "zoom"] if select else [])
    )
    for name in extra:
        if name not in wanted:
            wanted.append(name)
    return wanted


def _selection(
    out: Mapping[str, Any], payloads: Sequence[mapview.LayerPayload], view: Viewport | None
) -> MapSelection | None:
    """Return the incident or unit under the last object click of `out`."""
    where = mapview.clicked(out)
    if where is None:
        return None
    zoom = out.get("zoom")
    z = int(zoom) if isinstance(zoom, int | float) else (view.zoom if view else DEFAULT_ZOOM)
    hit = mapview.feature_at(payloads, where[0], where[1], z)
    return None if hit is None else MapSelection(_KINDS[hit[0]], hit[1])


def layer_counts(unit_id: str | None = None) -> dict[str, int]:
    """How many features each live layer holds (for captions and tests)."""
    settings = ui.settings()
    payloads = data.map_payloads(settings.database_url, settings, ui.lang(), unit_id)
    return {p.key: p.count for p in payloads}
