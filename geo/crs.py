"""Coordinate reference systems: Chinese map datums and the metric CRS of the region.

Chinese phone map apps (Amap/Gaode, Tencent) give coordinates in GCJ-02, Baidu in BD-09; both are
deliberately shifted from WGS84 (about 600 m in Inner Mongolia). Everything winterops stores is
WGS84 lon/lat; distances, buffers and snapping are computed in :data:`METRIC_CRS`.

All datum functions are vectorised: they take scalars or array-likes and return the same shape
(floats for scalar input, ``numpy.ndarray`` otherwise). Points outside China are returned
unchanged, as the published GCJ-02 algorithm does.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import Transformer

from geo.errors import CoordinateError

__all__ = [
    "DATUMS",
    "METRIC_CRS",
    "WGS84",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_lonlat",
    "from_metric",
    "from_metric_xy",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "to_metric",
    "to_metric_xy",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

WGS84 = "EPSG:4326"

# Lambert conformal conic, standard parallels 40 N and 50 N, central meridian 115 E, WGS84.
# Why: Inner Mongolia spans about 37.4-53.3 N and 97-126.1 E, a long east-west strip. A conic
# with these standard parallels keeps the scale error within about +-1 % over the whole region
# (exact on 40 N and 50 N), and a conformal projection has the same scale in every direction at
# a point, so the distances that matter here (snapping tolerances, buffers, 1 km segments,
# offsets from a road) are isotropic; an equal-area (Albers) conic would stretch north-south
# against east-west by up to the same percentage, which is worse for nearest-road searches.
# Lengths and areas are good to about 1 %; travel times need no better.
METRIC_CRS = (
    "+proj=lcc +lat_0=45 +lon_0=115 +lat_1=40 +lat_2=50 +x_0=0 +y_0=0 "
    "+ellps=WGS84 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs +type=crs"
)

DATUMS = ("wgs84", "gcj02", "bd09")

# Krasovsky 1940 ellipsoid parameters used by the GCJ-02 algorithm
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0

FloatOrArray = Any  # float for scalar input, NDArray[np.float64] otherwise


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    if x.shape != y.shape:
        x, y = np.broadcast_arrays(x, y)
    return x, y


def _out(
    scalar: bool, x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[FloatOrArray, FloatOrArray]:
    if scalar:
        return float(x), float(y)
    return x, y


def _is_scalar(lon: ArrayLike, lat: ArrayLike) -> bool:
    return np.ndim(lon) == 0 and np.ndim(lat) == 0


def _out_of_china(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
    return (x < 72.004) | (x > 137.8347) | (y < 0.8293) | (y > 55.8271)


def _delta(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """GCJ-02 offset (dlon, dlat) in degrees at WGS84 point (x, y)."""
    dx = x - 105.0
    dy = y - 35.0
    sq = np.sqrt(np.abs(dx))
    six = 20.0 * np.sin(6.0 * dx * np.pi) + 20.0 * np.sin(2.0 * dx * np.pi)
    tlat = -100.0 + 2.0 * dx + 3.0 * dy + 0.2 * dy * dy + 0.1 * dx * dy + 0.2 * sq
    tlat = tlat + six * 2.0 / 3.0
    tlat = tlat + (20.0 * np.sin(dy * np.pi) + 40.0 * np.sin(dy / 3.0 * np.pi)) * 2.0 / 3.0
    tlat = tlat + (160.0 * np.sin(dy / 12.0 * np.pi) + 320 * np.sin(dy * np.pi / 30.0)) * 2.0 / 3.0
    tlon = 300.0 + dx + 2.0 * dy + 0.1 * dx * dx + 0.1 * dx * dy + 0.1 * sq
    tlon = tlon + six * 2.0 / 3.0
    tlon = tlon + (20.0 * np.sin(dx * np.pi) + 40.0 * np.sin(dx / 3.0 * np.pi)) * 2.0 / 3.0
    tlon = (
        tlon + (150.0 * np.sin(dx / 12.0 * np.pi) + 300.0 * np.sin(dx / 30.0 * np.pi)) * 2.0 / 3.0
    )
    radlat = y / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (tlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (tlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _wgs_to_gcj(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    dlon, dlat = _delta(x, y)
    out = _out_of_china(x, y)
    return np.where(out, x, x + dlon), np.where(out, y, y + dlat)


def _gcj_to_wgs(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # Fixed-point iteration: w_{n+1} = w_n - (gcj(w_n) - g). The shift varies slowly, so each
    # step gains about four orders of magnitude; stop once every point moved < 1e-9 deg (0.1 mm).
    wx = x.copy()
    wy = y.copy()
    for _ in range(30):
        gx, gy = _wgs_to_gcj(wx, wy)
        ex = gx - x
        ey = gy - y
        wx = wx - ex
        wy = wy - ey
        if not (np.any(np.abs(ex) > 1e-9) or np.any(np.abs(ey) > 1e-9)):
            break
    out = _out_of_china(x, y)
    return np.where(out, x, wx), np.where(out, y, wy)


def _gcj_to_bd(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # The published closed-form inverse is off by up to ~1 m; refine it by fixed-point
    # iteration on the forward formula until it reproduces the BD-09 input to 1e-10 deg.
    bx = x - 0.0065
    by = y - 0.006
    z = np.sqrt(bx * bx + by * by) - 0.00002 * np.sin(by * _X_PI)
    theta = np.arctan2(by, bx) - 0.000003 * np.cos(bx * _X_PI)
    gx, gy = z * np.cos(theta), z * np.sin(theta)
    for _ in range(10):
        fx, fy = _gcj_to_bd(gx, gy)
        ex, ey = fx - x, fy - y
        gx, gy = gx - ex, gy - ey
        if not (np.any(np.abs(ex) > 1e-10) or np.any(np.abs(ey) > 1e-10)):
            break
    return gx, gy


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert WGS84 lon/lat to GCJ-02 (the "Mars" datum of Chinese map apps).

    Parameters
    ----------
    lon, lat
        Degrees; scalars or arrays of the same shape.

    Returns
    -------
    tuple
        GCJ-02 ``(lon, lat)``; floats for scalar input, arrays otherwise.
    """
    x, y = _as_arrays(lon, lat)
    return _out(_is_scalar(lon, lat), *_wgs_to_gcj(x, y))


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert GCJ-02 lon/lat to WGS84 by iterating the forward transform (error < 1 cm).

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees; scalars or arrays.

    Returns
    -------
    tuple
        WGS84 ``(lon, lat)``.
    """
    x, y = _as_arrays(lon, lat)
    return _out(_is_scalar(lon, lat), *_gcj_to_wgs(x, y))


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert GCJ-02 lon/lat to Baidu's BD-09."""
    x, y = _as_arrays(lon, lat)
    return _out(_is_scalar(lon, lat), *_gcj_to_bd(x, y))


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert Baidu's BD-09 lon/lat to GCJ-02 (closed form refined iteratively, < 1 mm)."""
    x, y = _as_arrays(lon, lat)
    return _out(_is_scalar(lon, lat), *_bd_to_gcj(x, y))


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert WGS84 lon/lat to BD-09 (through GCJ-02)."""
    x, y = _as_arrays(lon, lat)
    return _out(_is_scalar(lon, lat), *_gcj_to_bd(*_wgs_to_gcj(x, y)))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert BD-09 lon/lat to WGS84 (through GCJ-02, with the iterative inverse)."""
    x, y = _as_arrays(lon, lat)
    return _out(_is_scalar(lon, lat), *_gcj_to_wgs(*_bd_to_gcj(x, y)))


def check_lonlat(lon: ArrayLike, lat: ArrayLike) -> None:
    """Raise :class:`CoordinateError` unless every lon/lat is finite, in range and not (0, 0).

    Parameters
    ----------
    lon, lat
        Degrees; scalars or arrays.
    """
    x, y = _as_arrays(lon, lat)
    bad = ~np.isfinite(x) | ~np.isfinite(y) | (np.abs(x) > 180) | (np.abs(y) > 90)
    bad |= (x == 0) & (y == 0)
    if np.any(bad):
        i = int(np.flatnonzero(bad.ravel())[0])
        msg = (
            f"coordinate lon={float(x.ravel()[i])!r}, lat={float(y.ravel()[i])!r} is not a valid position "
            "(needs -180<=lon<=180, -90<=lat<=90, not 0,0)"
        )
        raise CoordinateError(msg)


def to_wgs84(lon: ArrayLike, lat: ArrayLike, datum: str) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert lon/lat given in `datum` to WGS84.

    Parameters
    ----------
    lon, lat
        Degrees in `datum`; scalars or arrays.
    datum
        ``"wgs84"``, ``"gcj02"`` or ``"bd09"`` (case and ``-``/``_`` ignored).

    Returns
    -------
    tuple
        WGS84 ``(lon, lat)``.

    Raises
    ------
    CoordinateError
        Unknown datum, or a coordinate out of range.
    """
    key = str(datum).strip().lower().replace("-", "").replace("_", "")
    key = {"wgs": "wgs84", "epsg4326": "wgs84", "gcj": "gcj02", "bd": "bd09"}.get(key, key)
    if key not in DATUMS:
        msg = f"unknown datum {datum!r}; expected one of {', '.join(DATUMS)}"
        raise CoordinateError(msg)
    check_lonlat(lon, lat)
    if key == "wgs84":
        x, y = _as_arrays(lon, lat)
        return _out(_is_scalar(lon, lat), x.copy(), y.copy())
    if key == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    return bd09_to_wgs84(lon, lat)


# ------------------------------------------------------------------ metric CRS helpers


@lru_cache(maxsize=8)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def to_metric_xy(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Project WGS84 lon/lat arrays to :data:`METRIC_CRS` x/y in metres."""
    x, y = _as_arrays(lon, lat)
    mx, my = _transformer(WGS84, METRIC_CRS).transform(x, y)
    return np.asarray(mx, dtype=np.float64), np.asarray(my, dtype=np.float64)


def from_metric_xy(x: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Unproject :data:`METRIC_CRS` x/y arrays to WGS84 lon/lat."""
    ax, ay = _as_arrays(x, y)
    lon, lat = _transformer(METRIC_CRS, WGS84).transform(ax, ay)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def _transform_geoms(geoms: Any, src: str, dst: str) -> Any:
    tr = _transformer(src, dst)

    def fn(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)


def to_metric(geoms: Any) -> Any:
    """Project WGS84 geometries to :data:`METRIC_CRS`.

    Parameters
    ----------
    geoms
        A GeoDataFrame / GeoSeries (a missing CRS is taken as WGS84), a shapely geometry or an
        array of shapely geometries (taken as WGS84 lon/lat).

    Returns
    -------
    Same kind as the input, in metres.
    """
    if isinstance(geoms, gpd.GeoDataFrame | gpd.GeoSeries):
        if geoms.crs is None:
            geoms = geoms.set_crs(WGS84)
        return geoms.to_crs(METRIC_CRS)
    return _transform_geoms(geoms, WGS84, METRIC_CRS)


def from_metric(geoms: Any) -> Any:
    """Unproject geometries from :data:`METRIC_CRS` to WGS84 (inverse of :func:`to_metric`).

    Parameters
    ----------
    geoms
        A GeoDataFrame / GeoSeries (a missing CRS is taken as METRIC_CRS), a shapely geometry or
        an array of shapely geometries in metres.

    Returns
    -------
    Same kind as the input, in WGS84 lon/lat.
    """
    if isinstance(geoms, gpd.GeoDataFrame | gpd.GeoSeries):
        if geoms.crs is None:
            geoms = geoms.set_crs(METRIC_CRS)
        return geoms.to_crs(WGS84)
    return _transform_geoms(geoms, METRIC_CRS, WGS84)
