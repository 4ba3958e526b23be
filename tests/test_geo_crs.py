"""Datum conversions (WGS84 / GCJ-02 / BD-09) and the metric CRS."""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import LineString, Point

from geo import crs
from geo.errors import CoordinateError

GEOD = Geod(ellps="WGS84")
REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"

# Known WGS84 -> GCJ-02 pairs (lat, lon) -> (lat, lon), from googollee/eviltransform's tests
# (BSD-2-Clause), via ../shared/realdata/crs_pairs/known_pairs.csv.
WGS_GCJ_PAIRS = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),  # Shanghai
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),  # Shenzhen
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),  # Beijing
]
# Known BD-09 -> WGS84 pairs from the same source. eviltransform computes BD-09 with pi where the
# published Baidu formula has x_pi = pi * 3000 / 180 (its issue #43) and inverts GCJ-02 in one
# step, so its figures differ from the standard formula by tens of metres (the theta term is
# 3e-6 rad * ~130 deg ~ 40 m); we keep the standard formula and check the neighbourhood.
BD_WGS_PAIRS = [
    ((29.199786, 120.019809), (29.196131605295484, 120.00877901149691)),  # Zhejiang
    ((29.210504, 120.036455), (29.206795749156136, 120.0253853970846)),  # Zhejiang
]
BD_VARIANT_SPREAD_M = 45.0


def dist_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    _, _, d = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(d)


@pytest.mark.parametrize(("wgs", "gcj"), WGS_GCJ_PAIRS)
def test_wgs84_to_gcj02_known_pairs(wgs, gcj):
    lon, lat = crs.wgs84_to_gcj02(wgs[1], wgs[0])
    assert lon == pytest.approx(gcj[1], abs=1e-6)
    assert lat == pytest.approx(gcj[0], abs=1e-6)


@pytest.mark.parametrize(("wgs", "gcj"), WGS_GCJ_PAIRS)
def test_gcj02_to_wgs84_iterative_within_half_metre(wgs, gcj):
    lon, lat = crs.gcj02_to_wgs84(gcj[1], gcj[0])
    assert dist_m(lon, lat, wgs[1], wgs[0]) < 0.5


@pytest.mark.parametrize(("bd", "wgs"), BD_WGS_PAIRS)
def test_bd09_known_pairs_neighbourhood_and_exact_inverse(bd, wgs):
    lon, lat = crs.bd09_to_wgs84(bd[1], bd[0])
    assert dist_m(lon, lat, wgs[1], wgs[0]) < BD_VARIANT_SPREAD_M
    back_lon, back_lat = crs.wgs84_to_bd09(lon, lat)
    assert back_lon == pytest.approx(bd[1], abs=1e-8)
    assert back_lat == pytest.approx(bd[0], abs=1e-8)


def test_shift_in_inner_mongolia_is_hundreds_of_metres():
    # Xilinhot: the GCJ-02 shift is what puts phone-map points on the wrong side of a road
    lon, lat = crs.wgs84_to_gcj02(116.085, 43.942)
    d = float(dist_m(116.085, 43.942, lon, lat))
    assert 300 < d < 1000


def test_vectorised_shapes_and_scalar_floats():
    lon = np.array([[111.6, 116.1], [119.7, 122.0]])
    lat = np.array([[40.8, 43.9], [49.2, 46.1]])
    for fn in (
        crs.wgs84_to_gcj02,
        crs.gcj02_to_wgs84,
        crs.wgs84_to_bd09,
        crs.bd09_to_wgs84,
        crs.gcj02_to_bd09,
        crs.bd09_to_gcj02,
    ):
        x, y = fn(lon, lat)
        assert isinstance(x, np.ndarray) and x.shape == lon.shape and y.shape == lat.shape
        sx, sy = fn(float(lon[1, 0]), float(lat[1, 0]))
        assert isinstance(sx, float) and isinstance(sy, float)
        assert sx == pytest.approx(x[1, 0], abs=1e-12) and sy == pytest.approx(y[1, 0], abs=1e-12)


def test_outside_china_unchanged():
    x, y = crs.wgs84_to_gcj02(np.array([2.35, 116.0]), np.array([48.85, 44.0]))
    assert (x[0], y[0]) == (2.35, 48.85)
    assert x[1] != 116.0
    assert crs.gcj02_to_wgs84(-74.0, 40.7) == (-74.0, 40.7)


@settings(max_examples=60, deadline=None)
@given(
    lon=st.floats(min_value=97.0, max_value=126.0),
    lat=st.floats(min_value=37.0, max_value=53.5),
)
def test_round_trips_every_datum_within_half_metre(lon, lat):
    g = crs.wgs84_to_gcj02(lon, lat)
    assert dist_m(*crs.gcj02_to_wgs84(*g), lon, lat) < 0.5
    b = crs.wgs84_to_bd09(lon, lat)
    assert dist_m(*crs.bd09_to_wgs84(*b), lon, lat) < 0.5
    gb = crs.gcj02_to_bd09(*g)
    assert dist_m(*gb, *b) < 1e-3
    assert dist_m(*crs.bd09_to_gcj02(*gb), *g) < 0.05


@pytest.mark.parametrize(
    ("datum", "fn"),
    [
        ("wgs84", None),
        ("WGS-84", None),
        ("gcj02", crs.wgs84_to_gcj02),
        ("GCJ-02", crs.wgs84_to_gcj02),
        ("bd09", crs.wgs84_to_bd09),
        ("BD_09", crs.wgs84_to_bd09),
    ],
)
def test_to_wgs84_every_datum(datum, fn):
    lon, lat = 114.9639, 44.0209  # Abag Banner seat
    src = (lon, lat) if fn is None else fn(lon, lat)
    out = crs.to_wgs84(src[0], src[1], datum)
    assert dist_m(out[0], out[1], lon, lat) < 0.5


def test_to_wgs84_errors_name_the_value():
    with pytest.raises(CoordinateError, match="'osgb36'"):
        crs.to_wgs84(116.0, 44.0, "osgb36")
    with pytest.raises(CoordinateError, match="lat=95"):
        crs.to_wgs84(116.0, 95.0, "wgs84")
    with pytest.raises(CoordinateError, match="not 0,0"):
        crs.to_wgs84(0.0, 0.0, "gcj02")
    with pytest.raises(CoordinateError):
        crs.to_wgs84(np.array([116.0, np.nan]), np.array([44.0, 44.0]), "bd09")


def test_metric_crs_distances_are_metres():
    # one degree of latitude at 44N is 111.1 km; one degree of longitude 80.2 km (geodesic)
    x, y = crs.to_metric_xy(np.array([116.0, 116.0, 117.0]), np.array([44.0, 45.0, 44.0]))
    geo_ns = float(dist_m(116.0, 44.0, 116.0, 45.0))
    geo_ew = float(dist_m(116.0, 44.0, 117.0, 44.0))
    assert np.hypot(x[1] - x[0], y[1] - y[0]) == pytest.approx(geo_ns, rel=0.01)
    assert np.hypot(x[2] - x[0], y[2] - y[0]) == pytest.approx(geo_ew, rel=0.01)
    lon, lat = crs.from_metric_xy(x, y)
    np.testing.assert_allclose(lon, [116.0, 116.0, 117.0], atol=1e-9)
    np.testing.assert_allclose(lat, [44.0, 45.0, 44.0], atol=1e-9)


def test_to_metric_frames_and_geometries():
    gdf = gpd.GeoDataFrame(
        {"a": [1, 2]},
        geometry=[Point(116.0, 44.0), LineString([(115.0, 44.0), (115.1, 44.1)])],
        crs="EPSG:4326",
    )
    m = crs.to_metric(gdf)
    assert m.crs.is_projected and list(m["a"]) == [1, 2]
    back = crs.from_metric(m)
    assert back.crs.equals("EPSG:4326")
    assert back.geometry.iloc[1].equals_exact(gdf.geometry.iloc[1], 1e-9)
    no_crs = gpd.GeoSeries([Point(116.0, 44.0)])
    assert crs.to_metric(no_crs).iloc[0].equals_exact(m.geometry.iloc[0], 1e-6)
    p = crs.to_metric(Point(116.0, 44.0))
    assert p.equals_exact(m.geometry.iloc[0], 1e-6)
    assert crs.from_metric(p).equals_exact(Point(116.0, 44.0), 1e-9)
    arr = crs.to_metric(np.array([Point(116.0, 44.0), Point(117.0, 45.0)]))
    assert arr.shape == (2,) and arr[0].equals_exact(p, 1e-6)


@pytest.mark.realdata
@pytest.mark.skipif(not (REALDATA / "crs_pairs").exists(), reason="../shared/realdata absent")
def test_conformance_known_pairs_file():
    rows = list(csv.DictReader((REALDATA / "crs_pairs" / "known_pairs.csv").open(encoding="utf-8")))
    assert rows
    for r in rows:
        f_lat, f_lon = float(r["from_lat"]), float(r["from_lng"])
        t_lat, t_lon = float(r["to_lat"]), float(r["to_lng"])
        if r["kind"] == "wgs84_to_gcj02":
            lon, lat = crs.wgs84_to_gcj02(f_lon, f_lat)
            assert abs(lon - t_lon) <= 1e-6 and abs(lat - t_lat) <= 1e-6, r
            back = crs.gcj02_to_wgs84(t_lon, t_lat)
            assert dist_m(*back, f_lon, f_lat) < 0.5, r
        elif r["kind"] == "bd09_to_wgs84":
            lon, lat = crs.bd09_to_wgs84(f_lon, f_lat)
            assert dist_m(lon, lat, t_lon, t_lat) < BD_VARIANT_SPREAD_M, r
        else:
            pytest.fail(f"unexpected kind {r['kind']!r}")
