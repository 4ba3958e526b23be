"""Build ``places.geojson`` (the demo gazetteer) from the DataV-derived GeoMapData_CN files.

Run by hand, not at runtime::

    .venv/bin/python data/region/build_places.py \
        ../shared/realdata/geodata/inner_mongolia/GeoMapData_CN_V3 data/region/places.geojson

Reads ``province/150000.json`` (12 leagues/cities), ``citys/15xxxx.json`` (103 banners/counties)
and ``location.json`` (seats: the ``center`` of each division). Coordinates in those files are
GCJ-02; they are converted to WGS84 (iterative inverse of the GCJ-02 offset, < 0.5 m), the
outlines are simplified in a metric CRS and written as WGS84 with five decimals (about 1 m). Only derived
facts are written (code, names, seat, simplified outline); the source files are not copied.
English names are hand-written for every division (the customary romanisations, e.g. Abag,
Hexigten, Ujimqin, Horqin, Jarud, Urad, Otog), not machine pinyin.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

# Metric CRS for simplifying outlines: Lambert conformal conic over Inner Mongolia.
METRIC_CRS = "+proj=lcc +lat_0=44 +lon_0=113 +lat_1=40 +lat_2=48 +datum=WGS84 +units=m +no_defs"
TOLERANCE_LEAGUE_M = 800.0
TOLERANCE_BANNER_M = 400.0
PROVINCE_CODE = "150000"

NAMES_EN: dict[str, str] = {
    "150000": "Inner Mongolia Autonomous Region",
    # leagues / prefecture-level cities
    "150100": "Hohhot",
    "150200": "Baotou",
    "150300": "Wuhai",
    "150400": "Chifeng",
    "150500": "Tongliao",
    "150600": "Ordos",
    "150700": "Hulunbuir",
    "150800": "Bayannur",
    "150900": "Ulanqab",
    "152200": "Hinggan League",
    "152500": "Xilingol League",
    "152900": "Alxa League",
    # Chifeng
    "150402": "Hongshan District",
    "150403": "Yuanbaoshan District",
    "150404": "Songshan District",
    "150421": "Ar Horqin Banner",
    "150422": "Bairin Left Banner",
    "150423": "Bairin Right Banner",
    "150424": "Linxi County",
    "150425": "Hexigten Banner",
    "150426": "Ongniud Banner",
    "150428": "Harqin Banner",
    "150429": "Ningcheng County",
    "150430": "Aohan Banner",
    # Hulunbuir
    "150702": "Hailar District",
    "150703": "Jalainur District",
    "150721": "Arun Banner",
    "150722": "Morin Dawa Daur Autonomous Banner",
    "150723": "Oroqen Autonomous Banner",
    "150724": "Evenk Autonomous Banner",
    "150725": "Old Barag Banner",
    "150726": "New Barag Left Banner",
    "150727": "New Barag Right Banner",
    "150781": "Manzhouli",
    "150782": "Yakeshi",
    "150783": "Zalantun",
    "150784": "Ergun",
    "150785": "Genhe",
    # Xilingol
    "152501": "Erenhot",
    "152502": "Xilinhot",
    "152522": "Abag Banner",
    "152523": "Sonid Left Banner",
    "152524": "Sonid Right Banner",
    "152525": "East Ujimqin Banner",
    "152526": "West Ujimqin Banner",
    "152527": "Taibus Banner",
    "152528": "Xianghuang Banner",
    "152529": "Zhengxiangbai Banner",
    "152530": "Zhenglan Banner",
    "152531": "Duolun County",
    # Hohhot
    "150102": "Xincheng District",
    "150103": "Huimin District",
    "150104": "Yuquan District",
    "150105": "Saihan District",
    "150121": "Tumed Left Banner",
    "150122": "Togtoh County",
    "150123": "Horinger County",
    "150124": "Qingshuihe County",
    "150125": "Wuchuan County",
    # Baotou
    "150202": "Donghe District",
    "150203": "Kundulun District",
    "150204": "Qingshan District",
    "150205": "Shiguai District",
    "150206": "Bayan Obo Mining District",
    "150207": "Jiuyuan District",
    "150221": "Tumed Right Banner",
    "150222": "Guyang County",
    "150223": "Darhan Muminggan United Banner",
    # Wuhai
    "150302": "Haibowan District",
    "150303": "Hainan District",
    "150304": "Wuda District",
    # Tongliao
    "150502": "Horqin District",
    "150521": "Horqin Left Middle Banner",
    "150522": "Horqin Left Rear Banner",
    "150523": "Kailu County",
    "150524": "Hure Banner",
    "150525": "Naiman Banner",
    "150526": "Jarud Banner",
    "150581": "Holingol",
    # Ordos
    "150602": "Dongsheng District",
    "150603": "Kangbashi District",
    "150621": "Dalad Banner",
    "150622": "Jungar Banner",
    "150623": "Otog Front Banner",
    "150624": "Otog Banner",
    "150625": "Hanggin Banner",
    "150626": "Uxin Banner",
    "150627": "Ejin Horo Banner",
    # Bayannur
    "150802": "Linhe District",
    "150821": "Wuyuan County",
    "150822": "Dengkou County",
    "150823": "Urad Front Banner",
    "150824": "Urad Middle Banner",
    "150825": "Urad Rear Banner",
    "150826": "Hanggin Rear Banner",
    # Ulanqab
    "150902": "Jining District",
    "150921": "Zhuozi County",
    "150922": "Huade County",
    "150923": "Shangdu County",
    "150924": "Xinghe County",
    "150925": "Liangcheng County",
    "150926": "Chahar Right Front Banner",
    "150927": "Chahar Right Middle Banner",
    "150928": "Chahar Right Rear Banner",
    "150929": "Siziwang Banner",
    "150981": "Fengzhen",
    # Hinggan
    "152201": "Ulanhot",
    "152202": "Arxan",
    "152221": "Horqin Right Front Banner",
    "152222": "Horqin Right Middle Banner",
    "152223": "Jalaid Banner",
    "152224": "Tuquan County",
    # Alxa
    "152921": "Alxa Left Banner",
    "152922": "Alxa Right Banner",
    "152923": "Ejin Banner",
}


def english_name(code: str, name_zh: str) -> str:
    """Return the hand-written English name for ``code`` (every code in the source has one)."""
    try:
        return NAMES_EN[code]
    except KeyError:
        msg = f"no English name for {code} {name_zh}: add it to NAMES_EN"
        raise KeyError(msg) from None


# --- GCJ-02 (same constants as the published algorithm; inverse by fixed-point iteration) ---
_A = 6378245.0
_EE = 0.00669342162296594323


def _transform_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 lon/lat to WGS84 by fixed-point iteration (residual < 1e-8 degrees)."""
    try:  # prefer the project's own implementation once it exists
        from geo.crs import gcj02_to_wgs84 as _geo_impl

        out = _geo_impl(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(out[0], dtype=float), np.asarray(out[1], dtype=float)
    except ImportError:
        pass
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(30):
        tlon, tlat = _wgs84_to_gcj02(wlon, wlat)
        dlon, dlat = tlon - glon, tlat - glat
        wlon, wlat = wlon - dlon, wlat - dlat
        if max(np.max(np.abs(dlon)), np.max(np.abs(dlat))) < 1e-9:
            break
    return wlon, wlat


def _convert_geometry(geom: BaseGeometry) -> BaseGeometry:
    def ring(coords: Any) -> list[tuple[float, float]]:
        arr = np.asarray(coords, dtype=float)[:, :2]
        lon, lat = gcj02_to_wgs84(arr[:, 0], arr[:, 1])
        return list(zip(lon.tolist(), lat.tolist(), strict=True))

    polys = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
    out = [
        Polygon(ring(p.exterior.coords), [ring(i.coords) for i in p.interiors])
        for p in polys
        if isinstance(p, Polygon)
    ]
    return MultiPolygon(out) if len(out) > 1 else out[0]


def _features(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data["features"])


def build(src: Path) -> gpd.GeoDataFrame:
    """Read the DataV-derived files under ``src`` and return the places frame (WGS84)."""
    location = json.loads((src / "location.json").read_text(encoding="utf-8"))
    rows: list[dict[str, Any]] = []
    feats: list[tuple[str, dict[str, Any]]] = [
        ("league", f) for f in _features(src / "province" / f"{PROVINCE_CODE}.json")
    ]
    for path in sorted((src / "citys").glob("15*.json")):
        feats += [("banner", f) for f in _features(path)]
    for level, feat in feats:
        props = feat["properties"]
        code = str(props["adcode"])
        seat = location.get(code, {}).get("center") or props["center"]
        seat_lon, seat_lat = gcj02_to_wgs84(np.array([seat[0]]), np.array([seat[1]]))
        rows.append(
            {
                "admin_code": code,
                "level": level,
                "name_zh": props["name"],
                "name_en": english_name(code, props["name"]),
                "parent_code": str(props["parent"]["adcode"]),
                "seat_lon": round(float(seat_lon[0]), 6),
                "seat_lat": round(float(seat_lat[0]), 6),
                "geometry": _convert_geometry(shape(feat["geometry"])),
            }
        )
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    metric = gdf.to_crs(METRIC_CRS)
    tol = np.where(gdf["level"] == "league", TOLERANCE_LEAGUE_M, TOLERANCE_BANNER_M)
    simplified = [
        g.simplify(t, preserve_topology=True).buffer(0)
        for g, t in zip(metric.geometry, tol, strict=True)
    ]
    # drop slivers (islands under 1 km2) left over by the simplification
    cleaned = []
    for g in simplified:
        parts = list(g.geoms) if isinstance(g, MultiPolygon) else [g]
        keep = [p for p in parts if p.area >= 1e6] or [max(parts, key=lambda p: p.area)]
        cleaned.append(MultiPolygon(keep) if len(keep) > 1 else keep[0])
    gdf["geometry"] = gpd.GeoSeries(cleaned, crs=METRIC_CRS).to_crs("EPSG:4326").to_numpy()
    province = {
        "admin_code": PROVINCE_CODE,
        "level": "province",
        "name_zh": location[PROVINCE_CODE]["name"],
        "name_en": NAMES_EN[PROVINCE_CODE],
        "parent_code": "100000",
    }
    prov_seat = gcj02_to_wgs84(
        np.array([location[PROVINCE_CODE]["center"][0]]),
        np.array([location[PROVINCE_CODE]["center"][1]]),
    )
    province["seat_lon"] = round(float(prov_seat[0][0]), 6)
    province["seat_lat"] = round(float(prov_seat[1][0]), 6)
    leagues_metric = gdf[gdf["level"] == "league"].to_crs(METRIC_CRS)
    prov_geom = leagues_metric.geometry.buffer(50).union_all().buffer(-50)
    prov_geom = prov_geom.simplify(TOLERANCE_LEAGUE_M, preserve_topology=True)
    province["geometry"] = gpd.GeoSeries([prov_geom], crs=METRIC_CRS).to_crs("EPSG:4326").iloc[0]
    gdf = pd.concat([gpd.GeoDataFrame([province], geometry="geometry", crs="EPSG:4326"), gdf])
    gdf = gpd.GeoDataFrame(gdf.reset_index(drop=True), geometry="geometry", crs="EPSG:4326")
    return gdf


def main(argv: list[str]) -> int:
    """Build the gazetteer; arguments: source folder, output path."""
    if len(argv) != 3:
        print(__doc__)
        return 2
    gdf = build(Path(argv[1]))
    out = Path(argv[2])
    out.unlink(missing_ok=True)
    gdf.to_file(out, driver="GeoJSON", COORDINATE_PRECISION=5, engine="pyogrio")
    print(f"wrote {out}: {len(gdf)} places, {out.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
