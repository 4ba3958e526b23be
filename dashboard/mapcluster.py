"""Screen-space clustering of a point layer, in the map's own script (no plug-in to fetch).

On every zoom the points of a layer that fall in one :data:`CLUSTER_PX` grid cell are drawn
as one circle with their count, coloured like the most urgent of them (the earliest palette
entry). The members stay in the layer, so their tooltips and popups (and anything that walks
the layer) still work, but they are drawn with radius 0 and take no clicks. A click on a
cluster zooms to its members; from zoom :data:`UNCLUSTER_ZOOM` on every point is drawn.
:class:`dashboard.mappayload.CompactGeoJson` calls ``window.woCluster`` for a payload with
``cluster=True``.
"""

from __future__ import annotations

__all__ = ["CLUSTER_CSS", "CLUSTER_JS", "CLUSTER_PX", "UNCLUSTER_ZOOM"]

CLUSTER_JS = """
window.woCluster = window.woCluster || function (geo, palette, cellPx, openZoom, cls) {
    var order = Object.keys(palette), marks = [], map = null;
    function rank(l) {
        var i = order.indexOf(String((l.feature.properties || {}).k));
        return i < 0 ? order.length : i;
    }
    function style(l) { return palette[(l.feature.properties || {}).k] || palette[""]; }
    function redraw() {
        if (!map) { return; }
        marks.forEach(function (m) { geo.removeLayer(m); });
        marks = [];
        var z = map.getZoom(), cells = {};
        geo.eachLayer(function (l) {
            if (!l.feature || !l.getLatLng) { return; }
            var p = map.project(l.getLatLng(), z);
            var key = Math.floor(p.x / cellPx) + ":" + Math.floor(p.y / cellPx);
            (cells[key] = cells[key] || []).push(l);
        });
        Object.keys(cells).forEach(function (key) {
            var ls = cells[key], many = ls.length > 1 && z < openZoom;
            ls.forEach(function (l) {
                var s = style(l);
                l.setStyle(many ? {radius: 0, opacity: 0, fillOpacity: 0, interactive: false} : s);
                l.setRadius(many ? 0 : s.radius);
                l.options.interactive = !many;
            });
            if (!many) { return; }
            var top = ls.slice().sort(function (a, b) { return rank(a) - rank(b); })[0];
            var bounds = L.latLngBounds(ls.map(function (l) { return l.getLatLng(); }));
            var size = ls.length < 10 ? 24 : (ls.length < 100 ? 30 : 36);
            var m = L.marker(bounds.getCenter(), {
                icon: L.divIcon({
                    className: "wo-cluster " + cls, iconSize: [size, size],
                    html: "<span style=\\"background:" + style(top).fillColor + "\\">"
                        + ls.length + "</span>"}),
                keyboard: false, title: String(ls.length)});
            m.on("click", function () {
                map.fitBounds(bounds.pad(0.3), {maxZoom: Math.max(z + 2, openZoom)});
            });
            marks.push(m);
            geo.addLayer(m);
        });
    }
    geo.on("add", function () { map = geo._map; map.on("zoomend", redraw); redraw(); });
    geo.on("remove", function () { if (map) { map.off("zoomend", redraw); } map = null; });
};
"""
CLUSTER_CSS = (
    "<style>.wo-cluster span{display:flex;align-items:center;justify-content:center;"
    "width:100%;height:100%;border-radius:50%;color:#fff;font:bold 12px/1 sans-serif;"
    "border:2px solid #fff;box-shadow:0 0 0 1px rgba(0,0,0,.45);text-shadow:0 0 2px #000;"
    "box-sizing:border-box}.wo-cluster-units span{border-radius:6px}</style>"
)
CLUSTER_PX = 30
UNCLUSTER_ZOOM = 12
