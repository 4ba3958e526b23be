"""Map builders, escaping and the air-gapped assets (no Streamlit, no browser)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from dashboard import assets, escape, mapview
from dashboard.i18n import fmt_duration, fmt_time, t

HOSTILE = "<img src=x onerror=alert(1)>${alert(2)}`</script>"
REGION = Path(__file__).resolve().parents[1] / "data" / "region"
TAG_URL = re.compile(r"<(script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']([^\"']+)[\"']", re.I)


def _layers(n_segments: int = 40, hostile: str = HOSTILE, seed: int = 1) -> mapview.MapLayers:
    rng = np.random.default_rng(seed)
    x = rng.uniform(112, 122, n_segments)
    y = rng.uniform(42, 49, n_segments)
    lines = [shapely.LineString([(a, b), (a + 0.004, b + 0.003), (a + 0.009, b + 0.004)])
             for a, b in zip(x, y, strict=True)]
    conds = rng.choice(list(mapview.CONDITION_COLOURS), n_segments)
    segments = gpd.GeoDataFrame({"id": [f"G331:{i}.0" for i in range(n_segments)],
                                 "condition": conds}, geometry=lines, crs=4326)
    pts = gpd.points_from_xy([116.1, 117.2, 118.3], [44.1, 44.5, 45.2])
    incidents = gpd.GeoDataFrame(
        {"id": [1, 2, 3], "kind": ["stranded", "crash", "stranded"], "priority": [450.0, 250, 5],
         "people": [4, 0, 2], "title": [hostile, "ok", None], "notes": [hostile, "", None],
         "first_report_at": pd.to_datetime(["2025-12-14T02:00Z"] * 3),
         "road_code": ["G331", "S307", None], "km": [1520.3, 12.0, None]},
        geometry=pts, crs=4326)
    units = gpd.GeoDataFrame({"id": ["U1", "U2"], "name": [hostile, "plow 2"],
                              "status": ["available", "en_route"],
                              "vehicle_class": ["plow", "rescue"]},
                             geometry=gpd.points_from_xy([116, 117], [44, 45]), crs=4326)
    alerts = gpd.GeoDataFrame({"id": [1], "colour": [None], "severity": ["Extreme"],
                               "event": ["暴雪"], "headline": [hostile],
                               "onset": pd.to_datetime(["2025-12-13T20:00Z"]),
                               "expires": pd.to_datetime(["2025-12-15T00:00Z"])},
                              geometry=[shapely.box(115, 43, 117, 45)], crs=4326)
    duty = gpd.GeoDataFrame({"id": ["D1", "W1"], "kind": ["duty_point", "warming_point"],
                             "name": [hostile, "服务区"], "hours": ["24h", "24h"],
                             "road_code": ["G331", "G331"], "km": [1500.0, 1510.0]},
                            geometry=gpd.points_from_xy([116.5, 116.7], [44.2, 44.3]), crs=4326)
    routes = gpd.GeoDataFrame({"id": [7], "unit_id": ["U2"], "task_id": [3],
                               "state": ["en_route"], "eta_s": [1260.0]},
                              geometry=[shapely.LineString([(117, 45), (118.3, 45.2)])], crs=4326)
    hotspots = gpd.GeoDataFrame({"rank": [1], "z": [3.4567], "reason": [hostile]},
                                geometry=[lines[0]], crs=4326)
    drone = gpd.GeoDataFrame({"flight_id": [hostile], "road_km": [14.643],
                              "started_at": pd.to_datetime(["2025-12-13T17:57Z"]),
                              "ended_at": pd.to_datetime(["2025-12-13T18:32Z"])},
                             geometry=[lines[1]], crs=4326)
    return mapview.MapLayers(alerts=alerts, segments=segments, hotspots=hotspots,
                             incidents=incidents, units=units, routes=routes, duty_points=duty,
                             drone_coverage=drone)


def _decode(payload: mapview.LayerPayload) -> dict:
    return json.loads(payload.data_json)


# --- escaping -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [HOSTILE, "`${x}`", "a</script><script>alert(1)</script>",
                                  "\\`", "it's \"quoted\" & <b>", "line\u2028break"])
def test_escape_text_is_inert(text: str) -> None:
    out = escape.escape_text(text)
    for bad in ("<", ">", "`", "${", "\\", '"', "'", "\u2028"):
        assert bad not in out
    # what a browser shows after decoding the entities is the original text
    import html

    assert html.unescape(out) == text.replace("\u2028", " ")


def test_escape_markdown_neutralises_links_and_images() -> None:
    out = escape.escape_markdown("![x](http://evil.example/a.png) <b>")
    assert "![" not in out and "](" not in out and "<b>" not in out
    assert out.replace("\\", "") == "![x](http://evil.example/a.png) <b>"


def test_escape_value_keeps_numbers_and_cuts_long_text() -> None:
    assert escape.escape_value(3) == 3
    assert escape.escape_value(2.5) == 2.5
    assert escape.escape_value(float("nan")) is None
    assert len(escape.escape_text("x" * 2000)) == 500


# --- payloads -------------------------------------------------------------------------------


def test_payloads_one_per_layer_with_counts() -> None:
    payloads = mapview.layer_payloads(_layers(), "zh")
    assert [p.key for p in payloads] == list(mapview.LAYER_KEYS)
    counts = {p.key: p.count for p in payloads}
    assert counts == {"alerts": 1, "segments": 40, "hotspots": 1, "incidents": 3, "units": 2,
                      "routes": 1, "duty_points": 1, "warming_points": 1, "drone_coverage": 1}


def test_payload_properties_escaped_and_categorised() -> None:
    payloads = {p.key: p for p in mapview.layer_payloads(_layers(), "en")}
    inc = _decode(payloads["incidents"])
    props = dict(zip(inc["p"], inc["v"], strict=True))
    assert props["k"] == ["critical", "high", "low"]
    assert props["notes"][0] == escape.escape_text(HOSTILE)
    assert props["stake"][0] == "G331 K1520+300"
    assert props["at"][0] == "12-14 10:00"  # 02:00 UTC shown in Asia/Shanghai
    alert = dict(zip(*(_decode(payloads["alerts"])[k] for k in ("p", "v")), strict=True))
    assert alert["k"] == ["red"]  # no colour given: from severity Extreme
    units = dict(zip(*(_decode(payloads["units"])[k] for k in ("p", "v")), strict=True))
    assert units["k"] == [t("status.available", "en"), t("status.en_route", "en")]
    palette = json.loads(payloads["units"].palette_json)
    assert set(units["k"]) <= set(palette)


def test_coordinates_rounded_and_geometry_valid() -> None:
    payloads = {p.key: p for p in mapview.layer_payloads(_layers(), "zh")}
    for key, decimals in (("incidents", 5), ("segments", 4)):
        data = _decode(payloads[key])
        coords = np.asarray(shapely.get_coordinates(
            [shapely.from_geojson(json.dumps(g)) for g in data["g"]]))
        assert np.allclose(coords, np.round(coords, decimals))


def test_empty_layers_do_not_break_the_map() -> None:
    fmap = mapview.build_map(mapview.Basemap(), mapview.MapLayers())
    html = mapview.map_html(fmap)
    assert "L.geoJson" in html


# --- the whole map --------------------------------------------------------------------------


def test_map_html_has_no_hostile_markup_and_no_cdn() -> None:
    html = mapview.map_html(mapview.build_map(mapview.Basemap(), _layers()))
    for raw in ("<img src=x", "${alert(2)}", "`</script>", "onerror=alert(1)>"):
        assert raw not in html
    urls = [m.group(2) for m in TAG_URL.finditer(html)]
    assert urls, "the page loads Leaflet from somewhere"
    outside = [u for u in urls if re.match(r"^(https?:)?//", u)
               and not re.match(r"^https?://(localhost|127\.0\.0\.1)[:/]", u)]
    assert outside == []
    assert all(u.startswith(assets.STATIC_URL) for u in urls)
    assert "cdn" not in html.lower()


def test_every_local_asset_exists_after_ensure_static(tmp_path: Path) -> None:
    vendor = assets.ensure_static(tmp_path / "static")
    for _, url in [*assets.LOCAL_JS, *assets.LOCAL_CSS]:
        rel = url.removeprefix(assets.STATIC_URL + "/vendor/")
        assert (vendor / rel).stat().st_size > 1000, url
    # Font Awesome's CSS points at fonts that are there too (relative url(../webfonts/...))
    css = (vendor / "fontawesome" / "css" / "all.min.css").read_text(encoding="utf-8")
    for font in set(re.findall(r"url\(\.\./webfonts/([^)]+)\)", css)):
        assert (vendor / "fontawesome" / "webfonts" / font).is_file(), font
    # a second call finds the copy current
    stamp = (vendor / "manifest.json").stat().st_mtime_ns
    assets.ensure_static(tmp_path / "static")
    assert (vendor / "manifest.json").stat().st_mtime_ns == stamp


def test_local_map_class_lists_only_local_assets() -> None:
    fmap = assets.LocalMap(tiles=None)
    for _, url in [*fmap.default_js, *fmap.default_css]:
        assert url.startswith("/app/static/vendor/")


def test_tile_url_from_settings_is_used() -> None:
    html = mapview.map_html(mapview.build_map(
        mapview.Basemap(), mapview.MapLayers(),
        tile_url="http://tiles.intranet.local/{z}/{x}/{y}.png", tile_attribution=HOSTILE))
    assert "tiles.intranet.local" in html
    assert "<img src=x" not in html


def test_region_basemap_and_size_budget() -> None:
    if not (REGION / "roads.geojson").is_file():
        pytest.skip("region data not present")
    base = mapview.Basemap(outlines=gpd.read_file(REGION / "places.geojson"),
                           roads=gpd.read_file(REGION / "roads.geojson"))
    payloads = mapview.basemap_payloads(base, "zh")
    assert all(p.count > 0 for p in payloads)
    html = mapview.map_html(mapview.build_map(payloads, _layers(n_segments=2000)))
    assert len(html.encode()) < 1_500_000


def test_ten_thousand_features_fit_in_budget() -> None:
    layers = _layers(n_segments=10_000)
    html = mapview.map_html(mapview.build_map(mapview.Basemap(), layers))
    assert len(html.encode()) <= 1_500_000, len(html.encode())


def test_i18n_times_in_shanghai_and_both_languages() -> None:
    assert fmt_time(pd.Timestamp("2025-12-13T16:30Z")) == "12-14 00:30"
    assert fmt_duration(3 * 3600 + 5 * 60) == "3:05"
    assert t("page.dispatch", "zh") != t("page.dispatch", "en")
    from dashboard.i18n import STRINGS

    assert all(zh and en for zh, en in STRINGS.values())


def test_template_syntax_in_data_is_not_evaluated() -> None:
    # folium/branca pass rendered scripts through Jinja; data must never become a template
    note = "{{ 7*7 }}{% for x in range(3) %}loop{% endfor %}"
    layers = _layers(n_segments=3, hostile=note)
    fmap = mapview.build_map(mapview.Basemap(), layers)
    html = mapview.map_html(fmap)
    assert "{{ 7*7 }}" not in html and "{% for" not in html
    assert "looploop" not in html
    # in the script the entities' "&" is a JSON \u0026 escape
    assert escape.escape_text(note).replace("&", "\\u0026") in html


def test_stale_unit_positions_are_drawn_as_stale() -> None:
    layers = _layers()
    assert layers.units is not None
    units_gdf = layers.units.assign(position_state=["live", "stale"],
                                    position_age_s=[60.0, 42 * 60.0])
    layers = mapview.MapLayers(**{**layers.__dict__, "units": units_gdf})
    payloads = {p.key: p for p in mapview.layer_payloads(layers, "zh")}
    units = dict(zip(*(_decode(payloads["units"])[k] for k in ("p", "v")), strict=True))
    assert units["k"] == [t("status.available", "zh"), t("map.pos_stale_key", "zh")]
    assert units["pos"] == ["实时", "过时（42 分钟前）"]
    palette = json.loads(payloads["units"].palette_json)
    assert palette[t("map.pos_stale_key", "zh")]["fillOpacity"] < 0.5, "drawn hollow"


def test_drone_coverage_layer_per_flight() -> None:
    payloads = {p.key: p for p in mapview.layer_payloads(_layers(), "en")}
    drone = payloads["drone_coverage"]
    props = dict(zip(*(_decode(drone)[k] for k in ("p", "v")), strict=True))
    assert props["flight"] == [escape.escape_text(HOSTILE)]
    assert props["km"] == [14.6]
    assert props["from"] == ["12-14 01:57"] and props["to"] == ["12-14 02:32"]
    assert drone.name == "Drone-patrolled roads (24 h)"
    assert [a for _, a in drone.tooltip] == ["Flight", "Road patrolled (km)", "Took off", "Ended"]
    # drawn under the road conditions
    keys = [p.key for p in mapview.layer_payloads(_layers(), "en")]
    assert keys.index("drone_coverage") < keys.index("segments")


def test_every_layer_module_is_registered_once() -> None:
    from dashboard import layers

    modules = {p.stem for p in Path(layers.__file__).parent.glob("*.py")} - {
        "__init__", "base", "registry"}
    assert modules == set(layers.LAYER_KEYS)
    assert len(set(layers.LAYER_KEYS)) == len(layers.LAYERS) == len(mapview.LAYER_KEYS)



# --- the offline base layer ---------------------------------------------------------------


def test_scale_is_metric_and_legend_starts_folded() -> None:
    html = mapview.map_html(mapview.build_map(mapview.Basemap(), _layers()))
    assert "L.control.scale({metric: true, imperial: false" in html
    assert "L.control.scale()" not in html
    assert "<details open" not in html and "wo-legend" in html


def test_offline_base_layer_names_towns_and_banners(tmp_path: Path) -> None:
    if not (REGION / "towns.csv").is_file():
        pytest.skip("region data not present")
    base = mapview.read_basemap(REGION)
    assert base.towns is not None and base.outlines is not None and base.roads is not None
    payloads = {p.key: p for p in mapview.basemap_payloads(base, "zh")}
    labels = dict(zip(*(_decode(payloads["labels"])[k] for k in ("p", "v")), strict=True))
    assert labels["k"].count("town") == len(base.towns)
    assert labels["k"].count("banner") == len(base.outlines)
    assert "锡林浩特" in labels["name"] and "阿巴嘎旗" in labels["name"]
    roads = dict(zip(*(_decode(payloads["roads"])[k] for k in ("p", "v")), strict=True))
    palette = json.loads(payloads["roads"].palette_json)
    assert palette["expressway"]["weight"] > palette["national"]["weight"] > palette[""]["weight"]
    assert "national" in roads["k"]
    # a hostile place name stays text
    (tmp_path / "towns.csv").write_text(
        "name_zh,name_en,kind,lon,lat\n" + f'"{HOSTILE}",x,town,116.0,44.0\n', encoding="utf-8")
    hostile = mapview.read_basemap(tmp_path)
    html = mapview.map_html(mapview.build_map(mapview.basemap_payloads(hostile, "zh"),
                                              mapview.MapLayers()))
    assert "<img src=x" not in html and "wo-label-town" in html
    assert escape.escape_text(HOSTILE).replace("&", "\\u0026") in html


def test_incidents_and_units_cluster_where_they_pile_up() -> None:
    payloads = {p.key: p for p in mapview.layer_payloads(_layers(), "zh")}
    assert payloads["incidents"].cluster and payloads["units"].cluster
    assert not payloads["duty_points"].cluster and not payloads["segments"].cluster
    html = mapview.map_html(mapview.build_map(mapview.Basemap(), _layers()))
    assert html.count("window.woCluster(") == 2 and ".wo-cluster span" in html
    # fixed places and routes are drawn under the incidents and units
    keys = list(mapview.LAYER_KEYS)
    assert max(keys.index(k) for k in ("routes", "duty_points", "warming_points")) < min(
        keys.index("incidents"), keys.index("units"))


def test_popups_leave_out_empty_rows() -> None:
    html = mapview.map_html(mapview.build_map(mapview.Basemap(), _layers()))
    # the incident popup (title, what callers said, notes...) skips a row whose value is empty
    assert ".filter(e=>{const x=layer.feature.properties[e[0]];" in html
    assert html.count("bindPopup(") == 3  # incidents, units, routes


def test_night_map_darkens_leaflet_controls() -> None:
    """At night the layer control, zoom buttons and scale bar are dark, not Leaflet's white."""
    night = mapview.map_html(mapview.build_map(mapview.Basemap(), mapview.MapLayers(), dark=True))
    day = mapview.map_html(mapview.build_map(mapview.Basemap(), mapview.MapLayers()))
    assert mapview.NIGHT_CONTROLS_CSS in night and mapview.NIGHT_CONTROLS_CSS not in day
    assert ".leaflet-control-layers" in mapview.NIGHT_CONTROLS_CSS
    assert ".leaflet-control-scale-line" in mapview.NIGHT_CONTROLS_CSS
