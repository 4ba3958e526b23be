"""The patrol tablet's map: the unit, its routes and tasks, big touch controls, a tapped pin.

The same cached basemap and live layers as the console's map (:mod:`dashboard.mapui`), framed
on the unit and its tasks, with what a gloved finger on an 820x1180 tablet needs: zoom, layer
and legend controls of at least 48 px, readable controls at night, and a pin where the lead
tapped (the point the hazard report offers). The pin is a live layer of its own (swapped in
place by ``st_folium``, not in the layer control); the view the lead chose is kept when the
page reruns after a tap (:class:`dashboard.mapui.LayerStateHook`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import folium
import streamlit as st
from branca.element import Figure
from streamlit_folium import st_folium

from dashboard import data, mapview, ui
from dashboard.escape import escape_markdown, escape_text
from dashboard.i18n import t
from dashboard.mapui import LayerStateHook
from dashboard.tiles import TileSource, local_tiles

__all__ = ["TOUCH_CSS", "frame_view", "show_tablet_map"]

PIN_COLOUR = "#d81b60"
# constant stylesheet (no data): every map control a 48 px target for a gloved finger
TOUCH_CSS = """<style>
.leaflet-bar a, .leaflet-touch .leaflet-bar a {
  width: 52px !important; height: 52px !important; line-height: 52px !important;
  font-size: 28px !important; }
.leaflet-control-layers-toggle, .leaflet-touch .leaflet-control-layers-toggle {
  width: 52px !important; height: 52px !important; background-size: 30px 30px; }
.leaflet-control-layers-expanded label { display: flex; align-items: center; min-height: 48px;
  font-size: 15px; }
.leaflet-control-layers-expanded input { width: 22px; height: 22px; margin-right: 8px; }
.wo-legend summary, .leaflet-control details > summary { min-height: 48px; min-width: 48px;
  display: flex; align-items: center; font-size: 15px; }
</style>"""
# constant stylesheet (no data): the controls in night colours, text readable on them
NIGHT_CSS = """<style>
.leaflet-bar a, .leaflet-control-layers, .leaflet-control-layers-expanded {
  background-color: #263238 !important; color: #f2f2f2 !important;
  border-color: #546e7a !important; }
.leaflet-control-layers-toggle { background-color: #eceff1 !important; }
.leaflet-control-scale-line { background: rgba(15,18,22,.85) !important; color: #f2f2f2 !important;
  border-color: #cfd8dc !important; }
.leaflet-control-attribution { background: rgba(15,18,22,.9) !important; color: #e0e0e0 !important; }
.leaflet-control-attribution a { color: #90caf9 !important; }
</style>"""


@st.cache_resource(show_spinner=False)
def _tiles(setting: str) -> TileSource:
    """Resolve the tile setting once per process."""
    return local_tiles(setting)


def frame_view(
    points: Sequence[tuple[float, float]], width_px: float = 760.0, height_px: float = 520.0
) -> tuple[tuple[float, float] | None, int | None]:
    """Return the centre and zoom that frame `points` ((lat, lon)) on the map, or (None, None).

    Computed here rather than with Leaflet's ``fitBounds``, which would run again after the
    kept view is restored when the map is mounted anew.
    """
    if not points:
        return None, None
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    center = ((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2)
    stretch = 1 / max(math.cos(math.radians(center[0])), 0.2)  # Web Mercator at this latitude
    dlon = max(max(lons) - min(lons), 1e-3)
    dlat = max((max(lats) - min(lats)) * stretch, 1e-3)
    fit = min(math.log2(width_px * 360 / (256 * dlon)), math.log2(height_px * 360 / (256 * dlat)))
    return center, int(min(max(math.floor(fit - 0.3), 5), 12))


def _pin(tapped: tuple[float, float] | None, lang: str) -> folium.FeatureGroup:
    """Return the tapped point's layer (empty without a tap), kept out of the layer control."""
    group = folium.FeatureGroup(name="wo-pin", control=False)
    if tapped is not None:
        lat, lon = tapped
        folium.CircleMarker(
            location=[lat, lon], radius=13, color="#ffffff", weight=3, fill=True,
            fill_color=PIN_COLOUR, fill_opacity=0.95,
            tooltip=escape_text(t("patrol.use_tap", lang)),
        ).add_to(group)
        folium.CircleMarker(
            location=[lat, lon], radius=3, color="#ffffff", weight=1, fill=True,
            fill_color="#ffffff", fill_opacity=1.0,
        ).add_to(group)
    return group


def show_tablet_map(
    key: str,
    unit_id: str,
    *,
    points: Sequence[tuple[float, float]],
    tapped: tuple[float, float] | None,
    dark: bool = False,
    height: int = 520,
) -> dict[str, Any]:
    """Draw the tablet map and return what ``st_folium`` reports (``last_clicked``).

    Parameters
    ----------
    key
        Stable widget key.
    unit_id
        The unit shown (only it and its routes among the live units and routes).
    points
        (lat, lon) of the unit and its tasks: the first view frames them.
    tapped
        (lat, lon) of the lead's last tap, drawn as a pin; None: no pin.
    dark
        Night colours (map and controls).
    height
        Height in pixels.
    """
    settings = ui.settings()
    lang = ui.lang()
    base = data.basemap(str(settings.region_dir), lang, dark)
    payloads = data.map_payloads(settings.database_url, settings, lang, unit_id)
    tiles = _tiles(settings.tile_url)
    if tiles.problem:
        st.warning(t("map.tiles_problem", lang, problem=escape_markdown(tiles.problem)))
    center, zoom = frame_view(points)
    fmap = mapview.build_base_map(
        base, lang=lang, tile_url=tiles.url,
        tile_attribution=settings.tile_attribution or tiles.label,
        center=center, zoom=zoom, dark=dark,
    )
    header = cast(Figure, fmap.get_root()).header
    folium.Element(TOUCH_CSS + (NIGHT_CSS if dark else "")).add_to(header)
    groups = [*mapview.build_layers(payloads, hidden=()), _pin(tapped, lang)]
    # the lead's view (centre, zoom) and switched-off layers survive the page's rerun after a
    # tap (which mounts the map again), as on the console
    user = ui.current_user()
    LayerStateHook(f"{key}:{user.username if user else ''}", []).add_to(groups[0])
    result = st_folium(
        fmap,
        key=key,
        height=height,
        use_container_width=True,
        returned_objects=["last_clicked", "selected_layers"],
        feature_group_to_add=groups,
        layer_control=folium.LayerControl(collapsed=True),
    )
    return dict(result or {})
