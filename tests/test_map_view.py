"""The map of a view (issue 14) and a click that selects (issue 12).

The view's extent and detail (:mod:`dashboard.mapdetail`), the base layer cut by view
(:class:`dashboard.basemap.BasemapView`), the live layers cut and aggregated, the selection
by a click, and the database reads of a view (:mod:`incidents.queries.view`) on SQLite and
PostGIS, where the box is answered from the spatial index.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from dashboard import escape, mapview
from dashboard.mapdetail import (
    LINE_BUDGET,
    POINT_BUDGET,
    LineIndex,
    Viewport,
    aggregate_points,
    layers_in_view,
)
from incidents.queries import view as view_query
from incidents.store.engine import session_scope
from incidents.store.models import Incident, Segment, SegmentCondition

HOSTILE = "<img src=x onerror=alert(1)>${alert(2)}`</script>"
REGION = Path(__file__).resolve().parents[1] / "data" / "region"
T0 = datetime(2025, 12, 14, 2, 0, tzinfo=UTC)


def _result(west: float, south: float, east: float, north: float, zoom: int) -> dict:
    return {
        "bounds": {"_southWest": {"lat": south, "lng": west}, "_northEast": {"lat": north,
                                                                            "lng": east}},
        "zoom": zoom,
    }


def _payload(payloads: list[mapview.LayerPayload], key: str) -> mapview.LayerPayload:
    return next(p for p in payloads if p.key == key)


def _props(payload: mapview.LayerPayload) -> dict[str, list]:
    data = json.loads(payload.data_json)
    return dict(zip(data["p"], data["v"], strict=True))


# ------------------------------------------------------------------------------ the view


def test_view_from_st_folium_bounds_and_a_small_pan_fetches_the_same_extent() -> None:
    view = Viewport.from_result(_result(112.0, 42.0, 121.0, 47.0, 7))
    assert view == Viewport(112.0, 42.0, 121.0, 47.0, 7)
    extent = view.fetch()
    assert extent.west <= 112.0 and extent.east >= 121.0
    assert extent.south <= 42.0 and extent.north >= 47.0
    panned = Viewport.from_result(_result(112.3, 42.1, 121.3, 47.1, 7))
    assert panned is not None and panned.fetch() == extent, "a small pan: the same fetch"
    far = Viewport.from_result(_result(116.0, 44.0, 125.0, 49.0, 7))
    assert far is not None and far.fetch() != extent
    for bad in (None, {}, {"bounds": None, "zoom": 7}, _result(1, 2, 1, 3, 6),
                {"bounds": {"_southWest": {"lat": None, "lng": None},
                            "_northEast": {"lat": None, "lng": None}}, "zoom": 6}):
        assert Viewport.from_result(bad) is None
    assert Viewport(0, 0, 1, 1, 6).decimals(4) == 2
    assert Viewport(0, 0, 1, 1, 16).decimals(5) == 5


def test_basemap_view_sends_the_static_part_once_and_roads_by_view() -> None:
    base = mapview.read_basemap(REGION)
    whole = mapview.basemap_payloads(base, "zh")
    by_view = mapview.BasemapView(base, "zh")
    assert [p.key for p in by_view.static] == ["outlines", "labels"]
    banners = _props(_payload(by_view.static, "labels"))["k"]
    assert set(banners) == {"banner"}, "town names come with the view, not with the map"
    region_view = Viewport.around((44.5, 117.5), 6)
    layers = by_view.layers(region_view)
    assert [p.key for p in layers] == ["roads"], "no town names zoomed out"
    assert layers[0].count == _payload(whole, "roads").count, "the demo's roads all fit"
    assert len(layers[0].data_json) < len(_payload(whole, "roads").data_json)
    close = Viewport.around((43.95, 116.07), 10)  # Xilinhot
    near = by_view.layers(close)
    assert [p.key for p in near] == ["roads", "labels"]
    towns = _props(_payload(near, "labels"))
    assert set(towns["k"]) == {"town"} and 0 < len(towns["k"]) < len(
        _props(_payload(whole, "labels"))["k"])
    assert near[0].count < layers[0].count


def test_roads_of_a_crowded_view_keep_the_main_classes_within_budget() -> None:
    rng = np.random.default_rng(3)
    classes = ["expressway", "national", "provincial", "county", "township"]
    n = 6000
    x, y = rng.uniform(110, 122, n), rng.uniform(41, 49, n)
    lines = [shapely.LineString([(a + i * 0.001, b + (i % 2) * 0.0005) for i in range(40)])
             for a, b in zip(x, y, strict=True)]
    kind = rng.choice(classes, n, p=[0.05, 0.1, 0.15, 0.3, 0.4])
    roads = gpd.GeoDataFrame({"road_class": kind, "road_code": "G1"}, geometry=lines, crs=4326)
    index = LineIndex("roads", "roads", roads, {"k": "road_class", "road": "road_code"},
                      {"": {"color": "#666"}},
                      rank=[classes.index(k) for k in kind])
    wide = index.payload(Viewport.around((45.0, 116.0), 5))
    kept = set(_props(wide)["k"])
    assert "expressway" in kept and "township" not in kept
    assert wide.count <= LINE_BUDGET
    close = index.payload(Viewport.around((45.0, 116.0), 12))
    assert set(_props(close)["k"]) <= set(classes) and close.count < 50
    geoms = json.loads(close.data_json)["g"]
    digits = {len(str(c).split(".")[-1]) for g in geoms for xy in g["coordinates"] for c in xy}
    assert max(digits, default=0) <= 4


# ------------------------------------------------------------------------------ live layers


def _live(n_incidents: int) -> mapview.MapLayers:
    rng = np.random.default_rng(7)
    x, y = rng.uniform(112, 122, n_incidents), rng.uniform(42, 48, n_incidents)
    incidents = gpd.GeoDataFrame(
        {"id": np.arange(1, n_incidents + 1), "kind": "stranded",
         "priority": rng.uniform(0, 600, n_incidents), "people": 2, "title": HOSTILE,
         "notes": HOSTILE, "first_report_at": pd.Timestamp(T0), "road_code": "G331", "km": 10.0},
        geometry=gpd.points_from_xy(x, y), crs=4326)
    segments = gpd.GeoDataFrame(
        {"id": ["a", "b"], "condition": ["black_ice", "closed"]},
        geometry=[shapely.LineString([(116.0, 44.0), (116.1, 44.05), (116.2, 44.0)]),
                  shapely.LineString([(100.0, 30.0), (100.1, 30.1)])], crs=4326)
    return mapview.MapLayers(incidents=incidents, segments=segments)


def test_live_layers_are_cut_to_the_view_and_crowded_points_become_counted_cells() -> None:
    few = layers_in_view(_live(50), Viewport.around((44.5, 117.0), 6), "en")
    assert few.segments is not None and list(few.segments["id"]) == ["a"], "outside: left out"
    assert few.incidents is not None and len(few.incidents) == 50, "few points: drawn as such"
    crowd = _live(5000)
    cut = layers_in_view(crowd, Viewport.around((44.5, 117.0), 6), "en")
    assert cut.incidents is not None and len(cut.incidents) <= POINT_BUDGET
    cells = cut.incidents[cut.incidents["id"] == ""]
    singles = cut.incidents[cut.incidents["id"] != ""]
    assert len(cells) and int(cells["n"].sum()) + len(singles) == 5000, "every incident counted"
    assert cells["priority"].max() == pytest.approx(crowd.incidents["priority"].max())
    assert all(k.endswith("incidents (zoom in)") for k in cells["kind"])
    for layers in (cut, few):
        inc = _payload(mapview.layer_payloads(layers, "en"), "incidents")
        assert "<img" not in inc.data_json
    # outside text (notes) escaped; the title is worded from the facts, not the stored text
    assert set(_props(inc)["notes"]) == {escape.escape_text(HOSTILE)}
    assert set(_props(inc)["title"]) == {"Stranded on G331 K10+000 (2 people)"}
    zoomed = layers_in_view(crowd, Viewport.around((44.5, 117.0), 12), "en")
    assert zoomed.incidents is not None and (zoomed.incidents["id"] != "").all()


def test_a_cell_of_one_point_keeps_the_point() -> None:
    gdf = gpd.GeoDataFrame({"id": [1, 2, 3], "priority": [1.0, 5.0, 3.0], "people": [1, 2, 3]},
                           geometry=gpd.points_from_xy([116.0, 116.001, 119.0], [44.0] * 3),
                           crs=4326)
    out = aggregate_points(gdf, 0.1, "zh")
    assert sorted(out["id"].astype(str)) == ["", "3"]
    cell = out[out["id"] == ""].iloc[0]
    assert cell["n"] == 2 and cell["priority"] == 5.0 and cell["people"] == 3


def test_view_map_of_the_region_is_smaller_than_the_whole_map_and_inert() -> None:
    base = mapview.read_basemap(REGION)
    live = _live(300)
    whole = mapview.map_html(mapview.build_map(base, live, lang="zh"))
    fmap, groups, payloads = mapview.view_map(
        mapview.BasemapView(base, "zh"), live, Viewport.around((44.5, 117.5), 6), lang="zh")
    for group in groups:
        group.add_to(fmap)
    html = mapview.map_html(fmap)
    assert len(html) < len(whole)
    assert "<img" not in html and "</script>`" not in html
    assert _payload(payloads, "incidents").count == 300


# ------------------------------------------------------------------------------ selection


def test_a_click_on_an_incident_or_unit_selects_it_and_a_cell_selects_nothing() -> None:
    live = _live(3)
    units = gpd.GeoDataFrame({"id": ["XL-ABG-PC01"], "status": ["available"]},
                             geometry=gpd.points_from_xy([118.5], [43.5]), crs=4326)
    layers = mapview.MapLayers(incidents=live.incidents, units=units)
    payloads = mapview.layer_payloads(layers, "zh")
    first = live.incidents.iloc[1]
    lat, lng = first.geometry.y, first.geometry.x
    assert mapview.feature_at(payloads, lat + 0.0001, lng, 10) == ("incidents", "2")
    assert mapview.feature_at(payloads, 43.5, 118.5001, 10) == ("units", "XL-ABG-PC01")
    assert mapview.feature_at(payloads, lat + 0.5, lng, 10) is None, "too far at zoom 10"
    assert mapview.feature_at(payloads, lat + 0.2, lng, 6) == ("incidents", "2"), "zoomed out"
    assert mapview.clicked({"last_object_clicked": {"lat": lat, "lng": lng}}) == (lat, lng)
    assert mapview.clicked({"last_object_clicked": None}) is None
    cell = aggregate_points(_live(2).incidents.assign(
        geometry=gpd.points_from_xy([116.0, 116.0001], [44.0, 44.0])), 0.1, "zh")
    cells = mapview.layer_payloads(mapview.MapLayers(incidents=cell), "zh")
    assert mapview.feature_at(cells, 44.0, 116.0, 10) is None


# ------------------------------------------------------------------------------ database


def _store_view_rows(session_factory) -> None:
    with session_scope(session_factory) as s:
        wavy = shapely.LineString([(116.0 + i * 0.001, 44.0 + (i % 2) * 0.0002)
                                   for i in range(100)])
        rows = {"in": wavy, "edge": shapely.LineString([(116.5, 43.0), (116.5, 44.5)]),
                "out": shapely.LineString([(120.0, 48.0), (120.1, 48.1)]),
                "clear": shapely.LineString([(116.2, 44.2), (116.3, 44.3)])}
        for sid, geom in rows.items():
            s.add(Segment(id=sid, road_code="G1", km_from=0, km_to=1, geometry=geom))
            s.add(SegmentCondition(segment_id=sid, condition="clear" if sid == "clear" else
                                   "black_ice", observed=True, confidence=0.9, source="test",
                                   valid_from=T0, valid_to=None))
        for i, (x, y, status) in enumerate([(116.1, 44.1, "open"), (121.0, 48.0, "open"),
                                            (116.2, 44.2, "resolved")], start=1):
            s.add(Incident(id=i, kind="stranded", status=status, title=HOSTILE, notes=HOSTILE,
                           geometry=shapely.Point(x, y), first_report_at=T0, last_report_at=T0,
                           priority=100.0 * i))


def test_view_reads_keep_only_the_box_and_simplify(session_factory) -> None:
    _store_view_rows(session_factory)
    box = (115.9, 43.9, 116.6, 44.4)
    with session_factory() as s:
        segs = view_query.segments_in_view(s, box)
        simple = view_query.segments_in_view(s, box, tolerance=0.01)
        incidents = view_query.incidents_in_view(s, box)
    assert sorted(segs["id"]) == ["edge", "in"], "crossing the box counts, clear does not"
    got = dict(zip(simple["id"], simple.geometry, strict=True))
    assert len(got["in"].coords) < 10 < len(dict(zip(segs["id"], segs.geometry,
                                                    strict=True))["in"].coords)
    assert got["in"].hausdorff_distance(segs.set_index("id").geometry["in"]) <= 0.01
    assert list(incidents["id"]) == [1], "open and in the box only"


@pytest.mark.postgis
def test_postgis_answers_the_view_box_from_the_spatial_index(session_factory, db_url) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostGIS only")
    _store_view_rows(session_factory)
    stmt = view_query.segments_view_statement((115.9, 43.9, 116.6, 44.4), 0.001, True)
    with session_factory() as s:
        sql = str(stmt.compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        assert "ST_Intersects" in sql and "ST_SimplifyPreserveTopology" in sql
        s.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(r[0] for r in s.execute(text("EXPLAIN " + sql)))
    assert "idx_segments_geometry" in plan, plan


def test_crowded_segments_are_joined_per_road_and_condition() -> None:
    from dashboard.mapdetail import SEGMENT_BUDGET, LiveDetail

    rng = np.random.default_rng(5)
    rows = []
    for road in range(400):  # 400 roads of 5 touching 1 km segments each
        x0, y0 = rng.uniform(110, 122), rng.uniform(42, 48)
        for k in range(5):
            rows.append({"id": f"R{road}:{k}", "road_code": f"R{road}",
                         "condition": "closed" if (road, k) == (7, 3) else "snow_packed",
                         "geometry": shapely.LineString([(x0 + k * 0.01, y0),
                                                         (x0 + (k + 1) * 0.01, y0)])})
    segs = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)
    assert len(segs) > SEGMENT_BUDGET
    live = mapview.MapLayers(segments=segs)
    detail = LiveDetail(live)
    wide = detail.in_view(Viewport.around((45.0, 116.0), 5), "en").segments
    assert wide is not None and len(wide) == 401 and int(wide["n"].sum()) == 2000
    road7 = wide[wide["id"] == "R7"].set_index("condition")
    assert int(road7.loc["closed", "n"]) == 1 and int(road7.loc["snow_packed", "n"]) == 4
    assert road7.geometry["closed"].length == pytest.approx(0.01, abs=1e-3)
    road1 = wide[wide["id"] == "R1"].iloc[0]
    assert road1.geometry.geom_type == "LineString", "touching segments make one run"
    again = layers_in_view(live, Viewport.around((45.0, 116.0), 5), "en").segments
    assert again is not None and list(again["id"]) == list(wide["id"])
    x0, y0 = segs.geometry.iloc[0].coords[0]
    close = detail.in_view(Viewport.around((y0, x0 + 0.02), 13), "en").segments
    assert close is not None and "R0:0" in set(close["id"]), "zoomed in: the segments"
    payload = _payload(mapview.layer_payloads(mapview.MapLayers(segments=wide), "en"),
                       "segments")
    assert payload.count == 401


def test_the_dashboard_reads_the_view_on_both_backends(db_url, session_factory, settings) -> None:
    from dashboard import mapui

    _store_view_rows(session_factory)
    view = Viewport(115.9, 43.9, 116.6, 44.4, 9)
    payloads = {p.key: p for p in mapui.view_payloads(db_url, settings, "en", view)}
    segs = _props(payloads["segments"])
    assert sorted(segs["seg"]) == ["edge", "in"], "the view's hazardous segments only"
    incidents = _props(payloads["incidents"])
    # outside text escaped; the title worded from the facts, not the stored text
    assert incidents["id"] == [1] and incidents["notes"] == [escape.escape_text(HOSTILE)]
    assert incidents["title"][0].startswith("Stranded") and "<" not in incidents["title"][0]
    far = {p.key: p for p in mapui.view_payloads(db_url, settings, "en",
                                                 Viewport(119.5, 47.5, 121.5, 48.5, 9))}
    assert _props(far["segments"])["seg"] == ["out"] and _props(far["incidents"])["id"] == [2]


def test_popup_titles_and_hotspot_reasons_are_worded_in_the_interface_language() -> None:
    """The map speaks the page's language: no stored English title or reason in a zh popup."""
    live = _live(3)
    hot = gpd.GeoDataFrame(
        {"rank": [1], "z": [3.2], "reason": ["black ice on G331 K10-K12 (5 reports)"],
         "condition": ["black_ice"], "road": ["G331"], "admin_name": [None],
         "report_ids": [[1, 2, 3, 4, 5]]},
        geometry=[shapely.LineString([(116.0, 44.0), (116.1, 44.05)])], crs=4326)
    live = mapview.MapLayers(incidents=live.incidents, segments=live.segments, hotspots=hot)
    zh = mapview.layer_payloads(live, "zh")
    titles = set(_props(_payload(zh, "incidents"))["title"])
    assert titles == {"车辆被困，G331 K10+000（2 人）"}
    reasons = list(_props(_payload(zh, "hotspots"))["reason"])
    assert reasons and all("black ice" not in r and "reports" not in r for r in reasons)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in r) for r in reasons)
    en = mapview.layer_payloads(live, "en")
    assert set(_props(_payload(en, "incidents"))["title"]) == {"Stranded on G331 K10+000 (2 people)"}
