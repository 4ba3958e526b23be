"""Build the demo road network and the files that hang off it, from the tables in this script.

Run by hand after ``build_places.py`` (seats come from ``places.geojson``)::

    .venv/bin/python data/region/build_region.py data/region

Writes ``roads.geojson``, ``sections.csv``, ``road_chiefs.csv``, ``towns.csv``,
``duty_points.csv`` and ``units.csv``. Road geometry is approximate: each road is a polyline
through real towns in their real order (seats from the DataV-derived gazetteer, other towns
hand-placed, a few kilometres off at worst). Kilometre posts grow with the geodesic length of
the polyline from the road's starting post. Roads are cut into features at every junction town
(so connected roads share an exact end vertex) and into maintenance sections of at most ~100 km.
Duty points, warming points and unit bases given as ``(road, town, offset km)`` are placed on
the line by linear interpolation of km along the line in the project's metric CRS.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import LineString, Point

# Same definition as geo.crs.METRIC_CRS (kept here so the script runs without the package).
METRIC_CRS = (
    "+proj=lcc +lat_0=45 +lon_0=115 +lat_1=40 +lat_2=50 +x_0=0 +y_0=0 "
    "+ellps=WGS84 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs +type=crs"
)
GEOD = Geod(ellps="WGS84")
MAX_SECTION_KM = 100.0
APPROX = "approximate; hand-placed from general geographic knowledge (within ~5-10 km)"
SEAT = "banner seat from DataV location.json (GCJ-02 converted to WGS84)"
ON_ROAD = "placed on the demo road at its km (see roads.geojson)"

# --- towns: name_zh -> (name_en, kind, lon, lat, admin_code); seats come from places.geojson ---
SEATS: dict[str, tuple[str, str]] = {
    # name_zh of the seat town: (admin_code of its banner, name_en of the town)
    "锡林浩特": ("152502", "Xilinhot"),
    "别力古台镇": ("152522", "Bieligutai Town (Abag Banner seat)"),
    "乌里雅斯太镇": ("152525", "Uliastai Town (East Ujimqin seat)"),
    "巴彦乌拉镇": ("152526", "Bayan Ul Town (West Ujimqin seat)"),
    "满都拉图镇": ("152523", "Mandulatu Town (Sonid Left seat)"),
    "上都镇": ("152530", "Shangdu Town (Zhenglan seat)"),
    "经棚镇": ("150425", "Jingpeng Town (Hexigten seat)"),
    "林西镇": ("150424", "Linxi Town (Linxi County seat)"),
    "阿木古郎镇": ("150726", "Amgalang Town (New Barag Left seat)"),
    "阿拉坦额莫勒镇": ("150727", "Altan Emel Town (New Barag Right seat)"),
    "海拉尔": ("150702", "Hailar"),
    "巴彦托海镇": ("150724", "Bayan Tohai Town (Evenk seat)"),
}
TOWNS: dict[str, tuple[str, str, float, float, str]] = {
    "额吉淖尔镇": ("Ejinur Town", "town", 116.55, 45.23, "152525"),
    "嘎海乐苏木": ("Gahai Ul Sumu", "township", 116.32, 44.98, "152525"),
    "那仁宝拉格苏木": ("Naren Bulag Sumu", "township", 115.25, 44.62, "152522"),
    "巴彦图嘎苏木": ("Bayan Tug Sumu", "township", 115.30, 44.27, "152522"),
    "吉尔嘎郎图苏木": ("Jirgalangtu Sumu", "township", 114.35, 44.45, "152522"),
    "桑根达来镇": ("Sanggendalai Town", "town", 115.98, 42.68, "152530"),
    "白音锡勒牧场": ("Baiyinxile Ranch", "township", 116.60, 43.55, "152502"),
    "达来诺日镇": ("Dalainur Town", "town", 116.80, 43.32, "150425"),
    "热水镇": ("Reshui Town", "town", 117.72, 43.04, "150425"),
    "土城子镇": ("Tuchengzi Town", "town", 117.86, 42.80, "150425"),
    "巴彦查干苏木": ("Bayan Chagan Sumu", "township", 117.45, 43.55, "150425"),
    "达日罕乌拉苏木": ("Darhan Ula Sumu", "township", 117.35, 43.80, "150425"),
    "甘珠尔苏木": ("Ganjur Sumu", "township", 118.55, 48.32, "150726"),
    "新宝力格苏木": ("Xin Bulag Sumu", "township", 118.85, 48.57, "150726"),
    "吉布胡郎图苏木": ("Jibhulangt Sumu", "township", 117.70, 48.42, "150726"),
    "诺门罕布日德苏木": ("Nomonhan Burd Sumu", "township", 118.85, 47.88, "150726"),
    "罕达盖苏木": ("Handagai Sumu", "township", 119.55, 47.55, "150726"),
}


@dataclass(frozen=True)
class Road:
    """A road as an ordered list of vertices (town names or bare (lon, lat) bends)."""

    code: str
    name_zh: str
    name_en: str
    road_class: str
    km_start: float | None  # post at the first vertex; None: derived from km_end
    km_end: float | None  # post at the last vertex (used when km_start is None)
    vertices: tuple[str | tuple[float, float], ...]
    maintainer: str
    basis: str  # how sure the code / posts are (README table)


SPEEDS = {  # road_class -> (car, truck) km/h in good conditions
    "expressway": (110, 90),
    "national": (80, 60),
    "provincial": (70, 60),
    "county": (60, 50),
    "township": (40, 30),
}

XL_MAINT = "锡林郭勒盟公路养护中心 / Xilingol League Road Maintenance Centre"
CF_MAINT = "赤峰市公路养护中心克什克腾分中心 / Chifeng Road Maintenance Centre, Hexigten branch"
HB_MAINT = "呼伦贝尔市公路养护中心 / Hulunbuir Road Maintenance Centre"
EXP_MAINT = "内蒙古高速公路集团 / Inner Mongolia Expressway Group"
ABG_MAINT = "阿巴嘎旗交通运输局 / Abag Banner Transport Bureau"

# fmt: off
ROADS: list[Road] = [
    Road("G331", "国道331线(丹阿线)", "G331 Dandong-Altay Highway", "national", 1380.0, None,
         ("乌里雅斯太镇", (116.80, 45.40), "额吉淖尔镇", (116.10, 45.05), (115.70, 44.85),
          "那仁宝拉格苏木", (114.85, 44.55), "吉尔嘎郎图苏木", (113.95, 44.15), "满都拉图镇"),
         XL_MAINT, "code and route real (northern border highway); posts demo values"),
    Road("S101", "省道101线", "S101 Xilinhot-Abag Road", "provincial", 0.0, None,
         ("锡林浩特", (115.80, 43.96), (115.45, 44.00), (115.20, 43.99), "别力古台镇"),
         XL_MAINT, "road real; code as in the project brief (not verified); posts from K0"),
    Road("Y001", "乡道001线(别力古台—那仁宝拉格)", "Y001 Bieligutai-Naren Bulag Township Road",
         "township", 0.0, None,
         ("别力古台镇", (115.08, 44.12), (115.22, 44.19), "巴彦图嘎苏木", (115.31, 44.40),
          (115.27, 44.52), "那仁宝拉格苏木"),
         ABG_MAINT, "demo code and route (a township road north of Abag's seat)"),
    Road("G207", "国道207线(锡海线)", "G207 Xilinhot-Haikou Highway", "national", 0.0, None,
         ("锡林浩特", (116.05, 43.70), (116.02, 43.40), (115.99, 43.05), "桑根达来镇",
          (116.00, 42.45), "上都镇"),
         XL_MAINT, "code and start real (G207 begins at Xilinhot, K0); route approximate"),
    Road("G303", "国道303线(集锡线)", "G303 Ji'an-Xilinhot Highway", "national", None, 1263.0,
         ("林西镇", (117.85, 43.50), (117.68, 43.33), "经棚镇", (117.20, 43.30), "达来诺日镇",
          (116.72, 43.45), "白音锡勒牧场", (116.35, 43.78), "锡林浩特"),
         CF_MAINT, "code and towns real (G303 ends at Xilinhot); end post plausible"),
    Road("G16", "丹锡高速(G16)", "G16 Dandong-Xilinhot Expressway", "expressway", None, 960.0,
         ("经棚镇", (117.30, 43.40), (117.00, 43.47), (116.80, 43.58), (116.50, 43.72),
          (116.28, 43.86), "锡林浩特"),
         EXP_MAINT, "code real (ends at Xilinhot); route approximate; end post plausible"),
    Road("S308", "省道308线(经棚—土城子)", "S308 Jingpeng-Tuchengzi Road", "provincial", 0.0, None,
         ("经棚镇", (117.62, 43.15), "热水镇", (117.80, 42.93), "土城子镇"),
         CF_MAINT, "towns real; code a demo assumption (not verified)"),
    Road("S307", "省道307线(经棚—西乌旗)", "S307 Jingpeng-West Ujimqin Road", "provincial",
         0.0, None,
         ("经棚镇", "巴彦查干苏木", "达日罕乌拉苏木", (117.45, 44.10), (117.55, 44.35),
          "巴彦乌拉镇"),
         CF_MAINT, "towns real; code a demo assumption (not verified)"),
    Road("G331", "国道331线(丹阿线)", "G331 Dandong-Altay Highway", "national", 760.0, None,
         ("阿拉坦额莫勒镇", (117.15, 48.58), "吉布胡郎图苏木", (117.90, 48.33), "阿木古郎镇",
          (118.55, 48.05), "诺门罕布日德苏木", (119.25, 47.70), "罕达盖苏木"),
         HB_MAINT, "code and route real (border highway); posts demo values"),
    Road("S203", "省道203线(海拉尔—阿木古郎)", "S203 Hailar-Amgalang Road", "provincial", 0.0,
         None,
         ("海拉尔", "巴彦托海镇", (119.40, 48.95), (119.10, 48.75), "新宝力格苏木",
          "甘珠尔苏木", (118.40, 48.26), "阿木古郎镇"),
         HB_MAINT, "road real; code as in the project brief (not verified)"),
    Road("S304", "省道304线(锡林浩特—乌里雅斯太)", "S304 Xilinhot-Uliastai Road", "provincial",
         0.0, None,
         ("锡林浩特", (116.20, 44.25), (116.30, 44.60), "嘎海乐苏木", (116.60, 45.25),
          (116.85, 45.42), "乌里雅斯太镇"),
         XL_MAINT, "road real (Xilinhot - East Ujimqin); code a demo assumption (not verified)"),
]

# --- points on the network: (id, kind, name_zh, name_en, road, km_anchor, offset_km, source)
# km_anchor: a town on that road (its post) or a number (a post); offset_km is added to it.
H24 = "24h"
HXG = ("duty points on key sections with 24-hour duty (Hexigten police report, winter 2025-26);"
       " placement demo")
XL = ("one of Xilingol's 8 enforcement duty stations in 5 banners (police report 2022-24);"
      " placement demo")
DEMO = "demo placement"
POINTS: list[tuple[str, str, str, str, str, str | float, float, str]] = [
    # Hexigten: duty points on key sections (24h dynamic duty)
    ("HXG-DP1", "duty_point", "G303经棚西执勤点", "G303 Jingpeng West duty point", "G303", "经棚镇", 6.0, HXG),
    ("HXG-DP2", "duty_point", "G303达来诺日执勤点", "G303 Dalainur duty point", "G303", "达来诺日镇", -2.0, HXG),
    ("HXG-DP3", "duty_point", "G303林西界执勤点", "G303 Linxi border duty point", "G303", "经棚镇", -28.0, HXG),
    ("HXG-DP4", "duty_point", "G16经棚互通执勤点", "G16 Jingpeng interchange duty point", "G16", "经棚镇", 4.0, HXG),
    ("HXG-DP5", "duty_point", "S308热水执勤点", "S308 Reshui duty point", "S308", "热水镇", 0.8, HXG),
    ("HXG-DP6", "duty_point", "S307巴彦查干执勤点", "S307 Bayan Chagan duty point", "S307", "巴彦查干苏木", 0.5, HXG),
    # Xilingol: 8 enforcement duty stations in 5 banners/counties
    ("XL-DS1", "duty_station", "锡林浩特G207南执勤执法站", "Xilinhot G207 south duty station", "G207", "锡林浩特", 8.0, XL),
    ("XL-DS2", "duty_station", "锡林浩特G303东执勤执法站", "Xilinhot G303 east duty station", "G303", "锡林浩特", -9.0, XL),
    ("XL-DS3", "duty_station", "阿巴嘎旗S101别力古台执勤执法站", "Abag S101 Bieligutai duty station", "S101", "别力古台镇", -6.0, XL),
    ("XL-DS4", "duty_station", "阿巴嘎旗G331那仁宝拉格执勤执法站", "Abag G331 Naren Bulag duty station", "G331", "那仁宝拉格苏木", 2.0, XL),
    ("XL-DS5", "duty_station", "东乌旗G331乌里雅斯太执勤执法站", "East Ujimqin G331 Uliastai duty station", "G331", "乌里雅斯太镇", 6.0, XL),
    ("XL-DS6", "duty_station", "东乌旗G331额吉淖尔执勤执法站", "East Ujimqin G331 Ejinur duty station", "G331", "额吉淖尔镇", 1.5, XL),
    ("XL-DS7", "duty_station", "苏尼特左旗G331满都拉图执勤执法站", "Sonid Left G331 Mandulatu duty station", "G331", "满都拉图镇", -6.0, XL),
    ("XL-DS8", "duty_station", "正蓝旗G207桑根达来执勤执法站", "Zhenglan G207 Sanggendalai duty station", "G207", "桑根达来镇", 1.0, XL),
    # New Barag Left: duty points (demo; the banner's brigade works the blowing-snow stretches)
    ("NBL-DP1", "duty_point", "G331阿木古郎执勤点", "G331 Amgalang duty point", "G331", "阿木古郎镇", 3.0, DEMO),
    ("NBL-DP2", "duty_point", "S203甘珠尔执勤点", "S203 Ganjur duty point", "S203", "甘珠尔苏木", 0.0, DEMO),
    # warming points: service areas, toll stations, township clinics
    ("WP-SA1", "warming_point", "克什克腾服务区", "Hexigten service area", "G16", "经棚镇", 25.0, DEMO),
    ("WP-SA2", "warming_point", "达里诺尔服务区", "Dali Nur service area", "G16", "经棚镇", 85.0, DEMO),
    ("WP-TS1", "warming_point", "经棚收费站", "Jingpeng toll station", "G16", "经棚镇", 2.0, DEMO),
    ("WP-TS2", "warming_point", "锡林浩特收费站", "Xilinhot toll station", "G16", "锡林浩特", -4.0, DEMO),
    ("WP-CL1", "warming_point", "巴彦图嘎苏木卫生院", "Bayan Tug Sumu clinic", "Y001", "巴彦图嘎苏木", 0.0, DEMO),
    ("WP-CL2", "warming_point", "那仁宝拉格苏木卫生院", "Naren Bulag Sumu clinic", "G331", "那仁宝拉格苏木", 0.0, DEMO),
    ("WP-CL3", "warming_point", "额吉淖尔镇卫生院", "Ejinur Town clinic", "G331", "额吉淖尔镇", 0.0, DEMO),
    ("WP-CL4", "warming_point", "吉尔嘎郎图苏木卫生院", "Jirgalangtu Sumu clinic", "G331", "吉尔嘎郎图苏木", 0.0, DEMO),
    ("WP-CL5", "warming_point", "达来诺日镇卫生院", "Dalainur Town clinic", "G303", "达来诺日镇", 0.0, DEMO),
    ("WP-CL6", "warming_point", "热水镇卫生院", "Reshui Town clinic", "S308", "热水镇", 0.0, DEMO),
    ("WP-CL7", "warming_point", "桑根达来镇卫生院", "Sanggendalai Town clinic", "G207", "桑根达来镇", 0.0, DEMO),
    ("WP-CL8", "warming_point", "甘珠尔苏木卫生院", "Ganjur Sumu clinic", "S203", "甘珠尔苏木", 0.0, DEMO),
    ("WP-CL9", "warming_point", "诺门罕布日德苏木卫生院", "Nomonhan Burd Sumu clinic", "G331", "诺门罕布日德苏木", 0.0, DEMO),
    ("WP-CL10", "warming_point", "嘎海乐苏木卫生院", "Gahai Ul Sumu clinic", "S304", "嘎海乐苏木", 0.0, DEMO),
]
WARM_KIND = {"WP-SA": "service_area", "WP-TS": "toll_station", "WP-CL": "clinic"}
VILLAGES = [
    # name_zh, name_en, road, anchor, offset_km: a settlement near a seed event (placeholder)
    ("Y001沿线牧户点(示例)", "Y001 roadside herder settlement (demo placeholder)", "Y001", "巴彦图嘎苏木", 18.0),
    ("阿木古郎西牧户点(示例)", "Amgalang west herder settlement (demo placeholder)", "G331", "阿木古郎镇", -25.0),
]

# --- units: (prefix, banner zh, banner en, home bases (towns or point ids), count per class)
CLASS_CODE = {  # vehicle_class: (id code, zh, en, capabilities)
    "patrol_car": ("PC", "巡逻车", "patrol car", "traffic_control"),
    "plow": ("PL", "除雪车", "snow plow", "plow"),
    "grit_spreader": ("GS", "撒布车", "grit spreader", "grit"),
    "heavy_tow": ("HT", "重型清障车", "heavy tow truck", "heavy_tow;rescue"),
    "rescue": ("RV", "救援车", "rescue vehicle", "rescue;traffic_control"),
    "ambulance": ("AM", "救护车", "ambulance", "medical"),
}
POLICE = {"patrol_car"}
ORGS: list[tuple[str, str, str, list[str], dict[str, int]]] = [
    ("XL-XLH", "锡林浩特市", "Xilinhot", ["锡林浩特", "XL-DS1", "XL-DS2"],
     {"patrol_car": 5, "plow": 3, "grit_spreader": 2, "heavy_tow": 2, "rescue": 2, "ambulance": 2}),
    ("XL-ABG", "阿巴嘎旗", "Abag Banner", ["别力古台镇", "XL-DS3", "XL-DS4"],
     {"patrol_car": 4, "plow": 2, "grit_spreader": 1, "heavy_tow": 1, "rescue": 1, "ambulance": 1}),
    ("XL-DWQ", "东乌珠穆沁旗", "East Ujimqin Banner", ["乌里雅斯太镇", "XL-DS6"],
     {"patrol_car": 2, "plow": 1, "ambulance": 1}),
    ("XL-ZLQ", "正蓝旗", "Zhenglan Banner", ["上都镇", "XL-DS8"],
     {"patrol_car": 2, "plow": 1, "grit_spreader": 1}),
    ("XL-SZQ", "苏尼特左旗", "Sonid Left Banner", ["满都拉图镇"], {"patrol_car": 1}),
    ("CF-HXG", "克什克腾旗", "Hexigten Banner", ["经棚镇", "HXG-DP1", "HXG-DP2", "HXG-DP5"],
     {"patrol_car": 5, "plow": 3, "grit_spreader": 2, "heavy_tow": 1, "rescue": 2, "ambulance": 2}),
    ("HB-NBL", "新巴尔虎左旗", "New Barag Left Banner", ["阿木古郎镇", "NBL-DP1", "NBL-DP2"],
     {"patrol_car": 4, "plow": 2, "grit_spreader": 1, "heavy_tow": 2, "rescue": 1, "ambulance": 1}),
]
# maintenance centre that runs each league's plows and spreaders
ORG_MAINT = {"XL": XL_MAINT.split(" / "), "CF": CF_MAINT.split(" / "), "HB": HB_MAINT.split(" / ")}
CREW_HOUR_LIMIT = 12

CHIEF_NAMES = [  # fictional people (README): zh, en
    ("王建国", "Wang Jianguo"), ("巴特尔", "Baatar"), ("李红梅", "Li Hongmei"), ("乌云", "Uyun"),
    ("张海军", "Zhang Haijun"), ("其木格", "Chimeg"), ("刘志强", "Liu Zhiqiang"),
    ("敖日格乐", "Orgil"), ("陈立新", "Chen Lixin"), ("宝力道", "Boldoo"),
    ("赵晓东", "Zhao Xiaodong"), ("斯琴", "Sechen"), ("孙伟", "Sun Wei"), ("朝鲁", "Chuluu"),
    ("周文斌", "Zhou Wenbin"), ("娜仁", "Naran"), ("马永庆", "Ma Yongqing"), ("苏和", "Sukh"),
    ("高峰", "Gao Feng"), ("图雅", "Tuya"), ("杨春生", "Yang Chunsheng"), ("额尔敦", "Erdene"),
    ("黄志刚", "Huang Zhigang"), ("萨仁", "Saran"),
]
AREA_CODE = {"XL": "0479", "CF": "0476", "HB": "0470", "EXP": "0471"}
# fmt: on


def _town_coords(places: gpd.GeoDataFrame) -> dict[str, tuple[float, float]]:
    seats = places.set_index("admin_code")
    out: dict[str, tuple[float, float]] = {}
    for name, (code, _) in SEATS.items():
        out[name] = (
            round(float(seats.at[code, "seat_lon"]), 6),
            round(float(seats.at[code, "seat_lat"]), 6),
        )
    for name, (_, _, lon, lat, _) in TOWNS.items():
        out[name] = (lon, lat)
    return out


def _posts(coords: list[tuple[float, float]], km0: float) -> list[float]:
    lons = [c[0] for c in coords]
    lats = [c[1] for c in coords]
    _, _, dist = GEOD.inv(lons[:-1], lats[:-1], lons[1:], lats[1:])
    cum = np.concatenate([[0.0], np.cumsum(dist) / 1000.0])
    return [km0 + float(c) for c in cum]


@dataclass
class Piece:
    """One feature of ``roads.geojson`` (and its maintenance section)."""

    road: Road
    coords: list[tuple[float, float]]
    names: list[str | None]  # town name of each vertex, None for bends
    km_start: float
    km_end: float
    section_id: str = ""


def build_pieces(towns: dict[str, tuple[float, float]]) -> list[Piece]:
    """Cut every road at junction towns and into sections of at most ``MAX_SECTION_KM``."""
    use: dict[str, int] = {}
    for road in ROADS:
        for v in road.vertices:
            if isinstance(v, str):
                use[v] = use.get(v, 0) + 1
    junctions = {name for name, n in use.items() if n > 1}
    pieces: list[Piece] = []
    counters: dict[str, int] = {}
    for road in ROADS:
        coords = [
            towns[v] if isinstance(v, str) else (float(v[0]), float(v[1])) for v in road.vertices
        ]
        names = [v if isinstance(v, str) else None for v in road.vertices]
        total = _posts(coords, 0.0)[-1]
        km0 = road.km_start if road.km_start is not None else float(road.km_end or 0.0) - total
        km0 = round(km0, 3)
        # split at interior junctions
        cuts = [i for i, n in enumerate(names) if n in junctions and 0 < i < len(names) - 1]
        bounds = [0, *cuts, len(coords) - 1]
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            sub_c, sub_n = coords[a : b + 1], names[a : b + 1]
            start = _posts(coords[: a + 1], km0)[-1]
            for part_c, part_n in _split_long(sub_c, sub_n):
                posts = _posts(part_c, start)
                pieces.append(Piece(road, part_c, part_n, round(posts[0], 3), round(posts[-1], 3)))
                start = posts[-1]
        counters.setdefault(road.code, 0)
    for piece in pieces:
        counters[piece.road.code] += 1
        piece.section_id = f"{piece.road.code}-{counters[piece.road.code]:02d}"
    return pieces


def _split_long(
    coords: list[tuple[float, float]], names: list[str | None]
) -> list[tuple[list[tuple[float, float]], list[str | None]]]:
    posts = _posts(coords, 0.0)
    total = posts[-1]
    n = max(1, math.ceil(total / MAX_SECTION_KM - 1e-9))
    if n == 1:
        return [(coords, names)]
    targets = [total * k / n for k in range(1, n)]
    # cut at a vertex within 0.5 km of the target, else insert a vertex on the edge
    # (linear in lon/lat within the edge: a few metres from the geodesic)
    new_c, new_n, cut_idx = [coords[0]], [names[0]], []
    t = 0
    for i in range(1, len(coords)):
        while t < len(targets) and targets[t] < posts[i] + 0.5:
            if abs(targets[t] - posts[i]) <= 0.5 and i < len(coords) - 1:
                break  # cut at vertex i, appended below
            if abs(targets[t] - posts[i - 1]) <= 0.5:
                if len(new_c) - 1 not in cut_idx and len(new_c) > 1:
                    cut_idx.append(len(new_c) - 1)
                t += 1
                continue
            f = (targets[t] - posts[i - 1]) / (posts[i] - posts[i - 1])
            lon = round(coords[i - 1][0] + f * (coords[i][0] - coords[i - 1][0]), 6)
            lat = round(coords[i - 1][1] + f * (coords[i][1] - coords[i - 1][1]), 6)
            new_c.append((lon, lat))
            new_n.append(None)
            cut_idx.append(len(new_c) - 1)
            t += 1
        new_c.append(coords[i])
        new_n.append(names[i])
        if t < len(targets) and abs(targets[t] - posts[i]) <= 0.5 and i < len(coords) - 1:
            cut_idx.append(len(new_c) - 1)
            t += 1
    bounds = [0, *cut_idx, len(new_c) - 1]
    return [
        (new_c[a : b + 1], new_n[a : b + 1]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]


_TO_METRIC = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
_TO_WGS = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)


def point_at(pieces: list[Piece], code: str, km: float) -> tuple[float, float]:
    """Return (lon, lat) of ``code`` at ``km``: linear in km along the feature, in METRIC_CRS."""
    for p in pieces:
        if p.road.code == code and p.km_start - 1e-9 <= km <= p.km_end + 1e-9:
            xs, ys = _TO_METRIC.transform([c[0] for c in p.coords], [c[1] for c in p.coords])
            line = LineString(list(zip(xs, ys, strict=True)))
            frac = (km - p.km_start) / (p.km_end - p.km_start)
            pt = line.interpolate(frac * line.length)
            lon, lat = _TO_WGS.transform(pt.x, pt.y)
            return round(float(lon), 6), round(float(lat), 6)
    msg = f"{code} has no feature at km {km}"
    raise ValueError(msg)


def town_post(pieces: list[Piece], code: str, town: str) -> float:
    """Return the km post of ``town`` on road ``code``."""
    for p in pieces:
        if p.road.code == code and town in p.names:
            i = p.names.index(town)
            return round(_posts(p.coords[: i + 1], p.km_start)[-1], 3)
    msg = f"{town} is not a vertex of {code}"
    raise ValueError(msg)


def _admin_at(places: gpd.GeoDataFrame, lon: float, lat: float) -> str:
    banners = places[places["level"] == "banner"]
    hit = banners[banners.contains(Point(lon, lat))]
    if hit.empty:  # a point on the boundary: nearest banner
        d = shapely.distance(banners.geometry.to_numpy(), Point(lon, lat))
        return str(banners.iloc[int(np.argmin(d))]["admin_code"])
    return str(hit.iloc[0]["admin_code"])


def _league(admin_code: str) -> str:
    return {"1525": "XL", "1504": "CF", "1507": "HB"}.get(admin_code[:4], "XL")


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _end_label(p: Piece, i: int, km: float) -> tuple[str, str]:
    name = p.names[i]
    if name is None:
        stake = f"K{int(km)}+{round((km - int(km)) * 1000):03d}"
        return stake, stake
    en = SEATS[name][1] if name in SEATS else TOWNS[name][0]
    return name, en.split(" (")[0]


def main(argv: list[str]) -> int:
    """Build every region file into the folder given as the only argument."""
    if len(argv) != 2:
        print(__doc__)
        return 2
    out = Path(argv[1])
    places = gpd.read_file(out / "places.geojson")
    towns = _town_coords(places)
    pieces = build_pieces(towns)

    # roads.geojson
    features = []
    for p in pieces:
        car, truck = SPEEDS[p.road.road_class]
        props = {
            "road_code": p.road.code,
            "name_zh": p.road.name_zh,
            "name_en": p.road.name_en,
            "road_class": p.road.road_class,
            "km_start": p.km_start,
            "km_end": p.km_end,
            "oneway": False,
            "speed_car_kmh": car,
            "speed_truck_kmh": truck,
            "section_id": p.section_id,
        }
        geom = {"type": "LineString", "coordinates": [[c[0], c[1]] for c in p.coords]}
        features.append({"type": "Feature", "properties": props, "geometry": geom})
    fc = {
        "type": "FeatureCollection",
        "name": "winterops_demo_roads",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": features,
    }
    (out / "roads.geojson").write_text(
        json.dumps(fc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )

    # sections.csv + road_chiefs.csv
    sections, chiefs = [], []
    for n, p in enumerate(pieces, start=1):
        mid = point_at(pieces, p.road.code, (p.km_start + p.km_end) / 2)
        admin = _admin_at(places, *mid)
        league = "EXP" if p.road.road_class == "expressway" else _league(admin)
        a_zh, a_en = _end_label(p, 0, p.km_start)
        b_zh, b_en = _end_label(p, len(p.names) - 1, p.km_end)
        chief_id = f"RC{n:02d}"
        sections.append(
            {
                "section_id": p.section_id,
                "road_code": p.road.code,
                "km_from": p.km_start,
                "km_to": p.km_end,
                "name_zh": f"{p.road.code} {a_zh}—{b_zh}段",
                "name_en": f"{p.road.code} {a_en} - {b_en}",
                "maintainer": p.road.maintainer,
                "road_chief_id": chief_id,
            }
        )
        zh, en = CHIEF_NAMES[(n - 1) % len(CHIEF_NAMES)]
        banner = places.set_index("admin_code").at[admin, "name_zh"]
        banner_en = places.set_index("admin_code").at[admin, "name_en"]
        if p.road.road_class == "township":
            title = (
                f"{banner}巴彦图嘎苏木苏木达(乡级路长)",
                "Sumu head, Bayan Tug (township road chief)",
            )
        elif p.road.road_class == "expressway":
            title = (
                "高速公路锡林浩特管理处处长(路长)",
                "Head, Xilinhot expressway office (road chief)",
            )
        else:
            title = (
                f"{banner}副旗长(县级路长)",
                f"Deputy head of {banner_en} (county-level road chief)",
            )
        chiefs.append(
            {
                "road_chief_id": chief_id,
                "name_zh": f"{zh}(虚构)",
                "name_en": f"{en} (fictional)",
                "title_zh": title[0],
                "title_en": title[1],
                "phone": f"{AREA_CODE[league]}-0000-{n:04d}",
                "section_id": p.section_id,
            }
        )
    _write_csv(out / "sections.csv", sections)
    _write_csv(out / "road_chiefs.csv", chiefs)

    # duty_points.csv
    duty: list[dict[str, Any]] = []
    for pid, kind, zh, en, code, anchor, offset, src in POINTS:
        post0 = town_post(pieces, code, anchor) if isinstance(anchor, str) else float(anchor)
        km = round(post0 + offset, 3)
        lon, lat = point_at(pieces, code, km)
        duty.append(
            {
                "id": pid,
                "kind": kind,
                "name_zh": zh,
                "name_en": en,
                "road_code": code,
                "km": km,
                "lon": lon,
                "lat": lat,
                "admin_code": _admin_at(places, lon, lat),
                "hours": H24,
                "source": src,
            }
        )
    _write_csv(out / "duty_points.csv", duty)

    # towns.csv
    town_rows: list[dict[str, Any]] = []
    for name, (code, en) in SEATS.items():
        lon, lat = towns[name]
        kind = "town"
        town_rows.append(
            {
                "name_zh": name,
                "name_en": en,
                "kind": kind,
                "lon": lon,
                "lat": lat,
                "admin_code": code,
                "source": SEAT,
            }
        )
    for name, (en, kind, lon, lat, code) in TOWNS.items():
        town_rows.append(
            {
                "name_zh": name,
                "name_en": en,
                "kind": kind,
                "lon": lon,
                "lat": lat,
                "admin_code": code,
                "source": APPROX,
            }
        )
    for d in duty:
        if d["kind"] == "warming_point":
            town_rows.append(
                {
                    "name_zh": d["name_zh"],
                    "name_en": d["name_en"],
                    "kind": WARM_KIND[d["id"][:5]],
                    "lon": d["lon"],
                    "lat": d["lat"],
                    "admin_code": d["admin_code"],
                    "source": f"{ON_ROAD}; name demo",
                }
            )
    for zh, en, code, anchor, offset in VILLAGES:
        km = town_post(pieces, code, anchor) + offset
        lon, lat = point_at(pieces, code, km)
        town_rows.append(
            {
                "name_zh": zh,
                "name_en": en,
                "kind": "village",
                "lon": lon,
                "lat": lat,
                "admin_code": _admin_at(places, lon, lat),
                "source": f"{ON_ROAD}; demo placeholder",
            }
        )
    _write_csv(out / "towns.csv", town_rows)

    # units.csv
    where = {d["id"]: (d["lon"], d["lat"], d["name_zh"]) for d in duty}
    units: list[dict[str, Any]] = []
    for prefix, banner_zh, banner_en, bases, counts in ORGS:
        league = prefix.split("-")[0]
        for vclass, count in counts.items():
            code, zh_kind, en_kind, caps = CLASS_CODE[vclass]
            if vclass in POLICE:
                org = (f"{banner_zh}交警大队", f"{banner_en} traffic police brigade")
            elif vclass in ("plow", "grit_spreader"):
                org = (ORG_MAINT[league][0], ORG_MAINT[league][1])
            elif vclass == "ambulance":
                org = (f"{banner_zh}人民医院", f"{banner_en} People's Hospital")
            else:
                org = (f"{banner_zh}道路救援队", f"{banner_en} road rescue team")
            for i in range(1, count + 1):
                base = (
                    bases[(i - 1) % len(bases)]
                    if vclass in ("patrol_car", "plow", "grit_spreader")
                    else bases[0]
                )
                if base in where:
                    lon, lat, base_zh = where[base]
                else:
                    (lon, lat), base_zh = towns[base], base
                unit_caps = caps
                if vclass == "plow" and i % 2 == 0:
                    unit_caps = "plow;grit"
                units.append(
                    {
                        "unit_id": f"{prefix}-{code}{i:02d}",
                        "name_zh": f"{org[0]}{zh_kind}{i}号",
                        "name_en": f"{org[1]} {en_kind} {i}",
                        "vehicle_class": vclass,
                        "capabilities": unit_caps,
                        "brigade": f"{org[0]} / {org[1]}",
                        "home_base": base_zh,
                        "lon": lon,
                        "lat": lat,
                        "crew_hour_limit": CREW_HOUR_LIMIT,
                    }
                )
    _write_csv(out / "units.csv", units)
    total_km = sum(p.km_end - p.km_start for p in pieces)
    print(f"{len(pieces)} road features, {total_km:.1f} km; {len(duty)} points; {len(units)} units")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
