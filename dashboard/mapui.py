"""The map widget: a cached basemap and cached live layers handed to ``st_folium``.

The base map (outlines, roads, legend) is the same on every rerun, so the component keeps its
identity and the user's pan and zoom; the live layers go in through ``feature_group_to_add``,
which the component swaps in place when the data changes. ``returned_objects`` is limited, so
panning or zooming never reruns the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import folium
from streamlit_folium import st_folium

from dashboard import data, mapview, ui

__all__ = ["show_map"]


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
        Layer keys switched off at first (note: ``st_folium`` adds every feature group to the
        map, so this only takes effect in a stand-alone :func:`~dashboard.mapview.build_map`).
    legend_open
        Whether the legend starts unfolded (folded on the tablet, where space is short).
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
    groups = mapview.build_layers(payloads, hidden=hidden)
    result = st_folium(
        fmap,
        key=key,
        height=height,
        use_container_width=True,
        returned_objects=list(returned),
        feature_group_to_add=groups,
        layer_control=folium.LayerControl(collapsed=True),
    )
    return dict(result or {})


def layer_counts(unit_id: str | None = None) -> dict[str, int]:
    """How many features each live layer holds (for captions and tests)."""
    settings = ui.settings()
    payloads = data.map_payloads(settings.database_url, settings, ui.lang(), unit_id)
    return {p.key: p.count for p in payloads}
