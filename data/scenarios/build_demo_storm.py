"""Build the demo storm scenario (``data/scenarios/demo-storm/``) deterministically.

Run by hand after the region data changes, then commit what it writes::

    .venv/bin/python data/scenarios/build_demo_storm.py            # writes data/scenarios/demo-storm
    .venv/bin/python data/scenarios/build_demo_storm.py --check    # rebuild in a temp dir, compare

The generator reads only the project's region files (``data/region/roads.geojson``,
``places.geojson``, ``towns.csv``, ``units.csv``, ``duty_points.csv``) and a seeded random
number generator, so the same region gives byte-identical files. Locations are chosen on the
region's own roads (by road class inside the seed banners), so every call and drone detection
snaps to the network whatever road codes the region uses.

What it writes (see ``data/scenarios/README.md`` for the format):

- ``manifest.json``: name, start, duration, region, unit overrides, on-scene minutes per task
  kind, per-incident overrides (the seed events' reported durations), and every feed file with
  its release time;
- ``alerts/*.xml``: CAP 1.2 alerts in Chinese (12-digit area codes), one bilingual, one with a
  polygon, one with a circle, an Update and a Cancel;
- ``drone/*.gpx`` (flight tracks), ``drone/*.geojson`` and ``drone/*.csv`` (detections);
- ``calls/*.csv``: call-centre exports, alternately GBK with Chinese headers and UTF-8 with
  English headers; coordinates in WGS84 or GCJ-02 (phone maps), kilometre posts or place names;
- ``waze/*.json``: Waze for Cities partner-feed snapshots.

The seed events (``../shared/seed-events.md``) are placed as reported: the semi-trailer in a
ditch in New Barag Left Banner (blowing snow, -40 °C, about 2 h recovery), Hexigten's icy
national and provincial roads with 24-hour duty points, 35 vehicles stranded on a township road
in Abag Banner (several callers, nearly 14 h), and drone-found black ice in Xilingol. Everything
else (background calls, crashes, detections) is synthetic and says so in its notes field.
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import io
import json
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import numpy as np
from shapely.geometry import LineString, MultiLineString, Point, shape
from shapely.geometry.base import BaseGeometry

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")
SEED = 20251213
START = datetime(2025, 12, 13, 0, 0, tzinfo=SHANGHAI)
DURATION_H = 48
CALL_BATCH_MIN = 15
LEAGUES = {"150700": "Hulunbuir", "150400": "Chifeng", "152500": "Xilingol"}
NEW_BARAG_LEFT = "150726"
HEXIGTEN = "150425"
ABAG = "152522"
XILINHOT = "152502"

# On-scene minutes per task kind (typical clearance times; the seed events override theirs).
ON_SCENE_MIN = {
    "rescue": 75,
    "heavy_tow": 90,
    "plow": 60,
    "grit": 45,
    "traffic_control": 60,
    "medical": 40,
}


# ------------------------------------------------------------------------------------------
# Region access (own small helpers: the generator must not depend on the app's code paths)
# ------------------------------------------------------------------------------------------


@dataclass
class Road:
    """One road feature of ``roads.geojson``."""

    code: str
    road_class: str
    km_start: float
    km_end: float
    line: LineString

    def point_at(self, km: float) -> Point:
        """Return the point at kilometre post `km` (linear along the vertex order)."""
        span = self.km_end - self.km_start
        frac = 0.0 if span == 0 else (km - self.km_start) / span
        p = self.line.interpolate(min(max(frac, 0.0), 1.0), normalized=True)
        return Point(round(p.x, 6), round(p.y, 6))

    def km_inside(self, area: BaseGeometry, rng: np.random.Generator) -> float:
        """Return a random kilometre post of this road inside `area` (else anywhere)."""
        for _ in range(60):
            km = float(rng.uniform(self.km_start, self.km_end))
            if area.contains(self.point_at(km)):
                return round(km, 1)
        return round(float(rng.uniform(self.km_start, self.km_end)), 1)


@dataclass
class RegionFiles:
    """What the generator reads from ``data/region``."""

    roads: list[Road]
    places: dict[str, dict[str, Any]]
    towns: list[dict[str, str]]
    units: list[dict[str, str]]
    duty_points: list[dict[str, str]]
    area: dict[str, BaseGeometry] = field(default_factory=dict)


def load_region_files(region_dir: Path) -> RegionFiles:
    """Read the region files the generator needs."""
    roads_fc = json.loads((region_dir / "roads.geojson").read_text(encoding="utf-8"))
    roads = []
    for f in roads_fc["features"]:
        p = f["properties"]
        g = shape(f["geometry"])
        lines = list(g.geoms) if isinstance(g, MultiLineString) else [g]
        for line in lines[:1]:
            roads.append(
                Road(
                    str(p["road_code"]),
                    str(p["road_class"]),
                    float(p["km_start"]),
                    float(p["km_end"]),
                    line,
                )
            )
    places_fc = json.loads((region_dir / "places.geojson").read_text(encoding="utf-8"))
    places = {str(f["properties"]["admin_code"]): f for f in places_fc["features"]}
    area = {code: shape(f["geometry"]) for code, f in places.items()}
    return RegionFiles(
        roads,
        places,
        _read_csv(region_dir / "towns.csv"),
        _read_csv(region_dir / "units.csv"),
        _read_csv(region_dir / "duty_points.csv"),
        area,
    )


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def roads_in(region: RegionFiles, code: str, classes: tuple[str, ...]) -> list[Road]:
    """Roads of the given classes that run through the division `code`."""
    area = region.area[code]
    found = [r for r in region.roads if r.road_class in classes and r.line.intersects(area)]
    return sorted(found, key=lambda r: (-r.line.intersection(area).length, r.code, r.km_start))


# ------------------------------------------------------------------------------------------
# Storm intensity and random events
# ------------------------------------------------------------------------------------------


def intensity(t_h: float) -> float:
    """Relative event rate at hour `t_h` after the start: a front, then a second night peak."""
    first = math.exp(-(((t_h - 22.0) / 6.0) ** 2))  # evening and night of 13 Dec
    second = 0.55 * math.exp(-(((t_h - 40.0) / 5.0) ** 2))  # the next evening
    return 0.08 + first + second


def sample_times(
    rng: np.random.Generator, n: int, lo_h: float = 2.0, hi_h: float = 46.0
) -> list[float]:
    """`n` event times (hours after start) drawn from :func:`intensity` by rejection."""
    out: list[float] = []
    peak = max(intensity(h / 10) for h in range(0, 480))
    while len(out) < n:
        t = float(rng.uniform(lo_h, hi_h))
        if rng.uniform(0, peak) < intensity(t):
            out.append(round(t, 4))
    return sorted(out)


@dataclass
class Event:
    """A true situation on the road that callers, drones or Waze report."""

    key: str
    kind: str  # stranded | crash | vehicle_in_ditch | road_blocked
    t_h: float
    road: Road
    km: float
    league: str
    vehicles: int
    people: int
    vulnerable: int = 0
    vehicle_class: str = "car"
    needs: list[str] = field(default_factory=list)
    callers: int = 1
    notes_zh: str = ""
    notes_en: str = ""
    on_scene: dict[str, int] = field(default_factory=dict)
    seed: str | None = None

    @property
    def point(self) -> Point:
        """The true location."""
        return self.road.point_at(self.km)


def local(t_h: float) -> datetime:
    """Scenario time `t_h` hours after start, in Asia/Shanghai."""
    return START + timedelta(hours=t_h)


def iso_local(t_h: float) -> str:
    """ISO 8601 with +08:00."""
    return local(t_h).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------------------
# CAP alerts
# ------------------------------------------------------------------------------------------

SENDER = "nmgqxt@cma.gov.cn"  # 内蒙古气象台 (Inner Mongolia meteorological observatory)


@dataclass
class CapSpec:
    """One CAP message to write."""

    ident: str
    t_h: float
    event_zh: str
    headline_zh: str
    description_zh: str
    colour_zh: str
    severity: str
    onset_h: float
    expires_h: float
    codes: list[str] = field(default_factory=list)
    polygon: list[tuple[float, float]] | None = None
    circle: tuple[float, float, float] | None = None
    msg_type: str = "Alert"
    references: list[tuple[str, float]] = field(default_factory=list)
    english: tuple[str, str, str] | None = None  # event, headline, description
    area_desc: str = ""


def cap_xml(spec: CapSpec) -> bytes:
    """Serialise one CAP 1.2 alert."""
    refs = " ".join(f"{SENDER},{ident},{iso_local(t)}" for ident, t in spec.references)

    def info(lang: str, event: str, headline: str, desc: str) -> str:
        areas = []
        inner = [f"      <areaDesc>{escape(spec.area_desc)}</areaDesc>"]
        if spec.polygon:
            pts = " ".join(f"{lat:.4f},{lon:.4f}" for lon, lat in spec.polygon)
            inner.append(f"      <polygon>{pts}</polygon>")
        if spec.circle:
            lon, lat, r = spec.circle
            inner.append(f"      <circle>{lat:.4f},{lon:.4f} {r:.1f}</circle>")
        for code in spec.codes:
            inner.append(
                f"      <geocode><valueName>行政区划代码</valueName><value>{code}</value></geocode>"
            )
        areas.append("    <area>\n" + "\n".join(inner) + "\n    </area>")
        return (
            "  <info>\n"
            f"    <language>{lang}</language>\n"
            "    <category>Met</category>\n"
            f"    <event>{escape(event)}</event>\n"
            "    <urgency>Expected</urgency>\n"
            f"    <severity>{spec.severity}</severity>\n"
            "    <certainty>Likely</certainty>\n"
            f"    <effective>{iso_local(spec.t_h)}</effective>\n"
            f"    <onset>{iso_local(spec.onset_h)}</onset>\n"
            f"    <expires>{iso_local(spec.expires_h)}</expires>\n"
            f"    <senderName>{'内蒙古自治区气象台' if lang.startswith('zh') else 'Inner Mongolia Meteorological Observatory'}</senderName>\n"
            f"    <headline>{escape(headline)}</headline>\n"
            f"    <description>{escape(desc)}</description>\n" + "\n".join(areas) + "\n  </info>\n"
        )

    body = info("zh-CN", spec.event_zh, spec.headline_zh, spec.description_zh)
    if spec.english:
        body += info("en-US", *spec.english)
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">\n'
        f"  <identifier>{spec.ident}</identifier>\n"
        f"  <sender>{SENDER}</sender>\n"
        f"  <sent>{iso_local(spec.t_h)}</sent>\n"
        "  <status>Actual</status>\n"
        f"  <msgType>{spec.msg_type}</msgType>\n"
        "  <scope>Public</scope>\n"
        + (f"  <references>{refs}</references>\n" if refs else "")
        + body
        + "</alert>\n"
    )
    return xml.encode("utf-8")


def alert_specs(region: RegionFiles) -> list[CapSpec]:
    """The storm's ~10 CAP messages (an Update and a Cancel among them)."""
    xl = region.places[XILINHOT]["properties"]
    hb = region.places[NEW_BARAG_LEFT]["properties"]
    lon0, lat0 = float(xl["seat_lon"]), float(xl["seat_lat"])
    square = [
        (lon0 - 0.6, lat0 - 0.35),
        (lon0 + 0.6, lat0 - 0.35),
        (lon0 + 0.6, lat0 + 0.35),
        (lon0 - 0.6, lat0 + 0.35),
        (lon0 - 0.6, lat0 - 0.35),
    ]
    return [
        CapSpec(
            "NM-HLBE-20251213-BX01",
            5.0,
            "暴雪橙色预警",
            "呼伦贝尔市气象台发布暴雪橙色预警信号",
            "预计13日午后至14日白天，呼伦贝尔市西部有暴雪，局地大暴雪，伴有5到6级偏北风，"
            "风吹雪明显，最低气温零下38℃至零下42℃。请注意防范道路结冰和风吹雪对交通的影响。",
            "橙色",
            "Severe",
            12.0,
            42.0,
            codes=["150700000000"],
            area_desc="呼伦贝尔市",
        ),
        CapSpec(
            "NM-HLBE-20251213-HC01",
            7.0,
            "寒潮红色预警",
            "新巴尔虎左旗气象台发布寒潮红色预警信号",
            "受强冷空气影响，13日夜间至15日新巴尔虎左旗最低气温将降至零下40℃以下，"
            "伴有6级偏北风，阵风8级，风吹雪。",
            "红色",
            "Extreme",
            14.0,
            48.0,
            codes=[f"{NEW_BARAG_LEFT}000000", "150727000000"],
            area_desc="新巴尔虎左旗、新巴尔虎右旗",
        ),
        CapSpec(
            "NM-CF-20251213-BX01",
            9.0,
            "暴雪黄色预警",
            "赤峰市气象台发布暴雪黄色预警信号",
            "预计13日下午至14日，赤峰市北部有大到暴雪，最低气温零下28℃。",
            "黄色",
            "Moderate",
            14.0,
            40.0,
            codes=["150400000000"],
            area_desc="赤峰市",
        ),
        CapSpec(
            "NM-CF-20251213-JB01",
            10.0,
            "道路结冰橙色预警",
            "克什克腾旗气象台发布道路结冰橙色预警信号",
            "受降雪和强降温影响，克什克腾旗境内国道、省道路面已出现结冰，"
            "预计未来24小时仍将持续，对交通有较大影响。",
            "橙色",
            "Severe",
            12.0,
            46.0,
            codes=[f"{HEXIGTEN}000000"],
            area_desc="克什克腾旗",
        ),
        CapSpec(
            "NM-XL-20251213-BX01",
            11.0,
            "暴雪橙色预警",
            "锡林郭勒盟气象台发布暴雪橙色预警信号",
            "预计13日下午至14日上午，锡林郭勒盟中北部有暴雪，伴有6到7级西北风，"
            "有风吹雪，能见度低于500米，最低气温零下35℃。",
            "橙色",
            "Severe",
            14.0,
            36.0,
            codes=["152500000000"],
            area_desc="锡林郭勒盟",
            english=(
                "Blizzard orange warning",
                "Xilingol League: blizzard orange warning",
                "Heavy snow with north-west gale force 6-7 and blowing snow, visibility below "
                "500 m, lowest temperature -35 °C.",
            ),
        ),
        CapSpec(
            "NM-XL-20251213-DF01",
            13.0,
            "大风蓝色预警",
            "阿巴嘎旗气象台发布大风蓝色预警信号",
            "预计13日下午至夜间阿巴嘎旗有6级西北风，阵风8级，有风吹雪，乡道易积雪阻断。",
            "蓝色",
            "Minor",
            15.0,
            34.0,
            codes=[f"{ABAG}000000"],
            area_desc="阿巴嘎旗",
        ),
        CapSpec(
            "NM-HLBE-20251213-BX01",
            20.0,
            "暴雪红色预警",
            "呼伦贝尔市气象台将暴雪橙色预警升级为红色预警",
            "呼伦贝尔市西部降雪加强，过去6小时降雪量已达12毫米，风吹雪严重，"
            "最低气温零下42℃。新巴尔虎左旗、新巴尔虎右旗部分路段能见度不足100米。",
            "红色",
            "Extreme",
            20.0,
            44.0,
            codes=["150700000000"],
            area_desc="呼伦贝尔市",
            msg_type="Update",
            references=[("NM-HLBE-20251213-BX01", 5.0)],
        ),
        CapSpec(
            "NM-XL-20251214-JB01",
            30.0,
            "道路结冰黄色预警",
            "锡林浩特市气象台发布道路结冰黄色预警信号",
            "锡林浩特市及周边国道路面有暗冰，请过往车辆减速慢行。",
            "黄色",
            "Moderate",
            30.0,
            46.0,
            polygon=square,
            area_desc="锡林浩特市及周边",
        ),
        CapSpec(
            "NM-HLBE-20251214-DF01",
            32.0,
            "大风黄色预警",
            "新巴尔虎左旗气象台发布大风黄色预警信号",
            "预计14日白天至夜间有7级偏北风，阵风9级，风吹雪。",
            "黄色",
            "Moderate",
            33.0,
            47.0,
            circle=(float(hb["seat_lon"]), float(hb["seat_lat"]), 60.0),
            area_desc="新巴尔虎左旗阿木古郎镇周边60公里",
        ),
        CapSpec(
            "NM-CF-20251213-BX01",
            36.0,
            "解除暴雪黄色预警",
            "赤峰市气象台解除暴雪黄色预警信号",
            "赤峰市降雪已经减弱停止，解除暴雪黄色预警。",
            "黄色",
            "Moderate",
            36.0,
            40.0,
            codes=["150400000000"],
            area_desc="赤峰市",
            msg_type="Cancel",
            references=[("NM-CF-20251213-BX01", 9.0)],
        ),
    ]


# ------------------------------------------------------------------------------------------
# Events: seeds and background
# ------------------------------------------------------------------------------------------

BACKGROUND_KINDS = (
    ("stranded", 0.38),
    ("crash", 0.25),
    ("vehicle_in_ditch", 0.27),
    ("road_blocked", 0.10),
)
CLASSES = (("car", 0.62), ("heavy_truck", 0.22), ("passenger_coach", 0.08), ("hazmat", 0.08))
NOTES = {
    "stranded": ("车辆被困，雪太大走不了", "vehicle stuck, snow too deep to move"),
    "crash": ("追尾事故，路面结冰", "rear-end crash on ice"),
    "vehicle_in_ditch": ("车辆侧滑进沟里", "vehicle slid into the ditch"),
    "road_blocked": ("道路被积雪阻断", "road blocked by drifts"),
}


def _choice(rng: np.random.Generator, table: tuple[tuple[str, float], ...]) -> str:
    names = [n for n, _ in table]
    w = np.array([p for _, p in table])
    return str(rng.choice(names, p=w / w.sum()))


def seed_events(region: RegionFiles, rng: np.random.Generator) -> list[Event]:
    """The four reported events of winter 2025-26 (plus Hexigten's icy-road crashes)."""
    events: list[Event] = []
    # 1. New Barag Left Banner: semi-trailer slid into a ditch in blowing snow, -40 °C, 2 h.
    nb = roads_in(region, NEW_BARAG_LEFT, ("national", "provincial", "expressway"))
    r = nb[0]
    events.append(
        Event(
            "SEED-NBL-DITCH",
            "vehicle_in_ditch",
            22.7,
            r,
            r.km_inside(region.area[NEW_BARAG_LEFT], rng),
            "150700",
            vehicles=1,
            people=1,
            vehicle_class="heavy_truck",
            needs=["heat"],
            callers=2,
            notes_zh="重型半挂车风吹雪中侧滑进沟，司机被困驾驶室，零下40度",
            notes_en="heavy semi-trailer slid sideways into a ditch in blowing snow, -40 C",
            on_scene={"heavy_tow": 120, "traffic_control": 120},
            seed="new_barag_left_ditch",
        )
    )
    # 2. Abag Banner: 35 vehicles trapped on a township road, several callers, ~14 h.
    ab = roads_in(region, ABAG, ("township",)) or roads_in(region, ABAG, ("county",))
    r = ab[0]
    events.append(
        Event(
            "SEED-ABAG-35",
            "stranded",
            16.2,
            r,
            r.km_inside(region.area[ABAG], rng),
            "152500",
            vehicles=35,
            people=72,
            vulnerable=6,
            vehicle_class="car",
            needs=["heat", "fuel", "food"],
            callers=7,
            notes_zh="乡道上35辆车被困，有老人和小孩，很多车快没油了",
            notes_en="35 vehicles trapped on the township road, elderly and children, fuel low",
            on_scene={"rescue": 840, "plow": 840, "traffic_control": 840},
            seed="abag_35_stranded",
        )
    )
    # 3. Hexigten: national and provincial roads covered in ice -> crashes and ditch slides.
    hx = roads_in(region, HEXIGTEN, ("national", "provincial", "expressway"))
    for i, t_h in enumerate((17.5, 19.0, 21.3, 24.8, 27.9)):
        r = hx[i % len(hx)]
        kind = ("crash", "vehicle_in_ditch")[i % 2]
        events.append(
            Event(
                f"SEED-HEX-ICE-{i + 1}",
                kind,
                t_h,
                r,
                r.km_inside(region.area[HEXIGTEN], rng),
                "150400",
                vehicles=1 + i % 3,
                people=2 + i % 4,
                vehicle_class="car",
                callers=1 + (i % 2),
                notes_zh="国省道路面结冰，" + NOTES[kind][0],
                notes_en="ice on the national/provincial road, " + NOTES[kind][1],
                seed="hexigten_icing",
            )
        )
    return events


def league_roads(region: RegionFiles) -> dict[str, list[Road]]:
    """Roads of every class in each league."""
    return {
        code: [r for r in region.roads if r.line.intersects(region.area[code])] for code in LEAGUES
    }


def background_events(region: RegionFiles, rng: np.random.Generator, n: int) -> list[Event]:
    """`n` synthetic events spread over the three leagues and the storm's intensity."""
    by_league = league_roads(region)
    leagues = [c for c in LEAGUES if by_league[c]]
    weights = np.array([{"150700": 0.34, "150400": 0.30, "152500": 0.36}[c] for c in leagues])
    out = []
    for i, t_h in enumerate(sample_times(rng, n)):
        lg = str(rng.choice(leagues, p=weights / weights.sum()))
        roads = by_league[lg]
        lens = np.array([r.line.intersection(region.area[lg]).length for r in roads])
        r = roads[int(rng.choice(len(roads), p=lens / lens.sum()))]
        kind = _choice(rng, BACKGROUND_KINDS)
        vclass = _choice(rng, CLASSES)
        vehicles = 1 if kind != "stranded" else int(rng.integers(1, 5))
        per = 1 if vclass in ("heavy_truck", "hazmat") else int(rng.integers(1, 4))
        people = 30 if vclass == "passenger_coach" else vehicles * per
        vulnerable = int(rng.integers(0, 3)) if people > 2 else 0
        needs = [n for n in ("heat", "fuel", "medical", "food") if rng.uniform() < 0.25]
        callers = 1 + int(rng.uniform() < 0.35) + int(rng.uniform() < 0.1)
        out.append(
            Event(
                f"BG-{i + 1:03d}",
                kind,
                t_h,
                r,
                r.km_inside(region.area[lg], rng),
                lg,
                vehicles=vehicles,
                people=people,
                vulnerable=vulnerable,
                vehicle_class=vclass,
                needs=needs,
                callers=callers,
                notes_zh="（合成背景事件）" + NOTES[kind][0],
                notes_en="(synthetic background event) " + NOTES[kind][1],
            )
        )
    return out


# ------------------------------------------------------------------------------------------
# Calls
# ------------------------------------------------------------------------------------------

CALL_HEADERS_EN = [
    "call_id",
    "received_at",
    "phone",
    "lon",
    "lat",
    "datum",
    "road",
    "stake",
    "place",
    "vehicles",
    "people",
    "vulnerable",
    "vehicle_class",
    "needs",
    "incident_type",
    "notes",
]
CALL_HEADERS_ZH = [
    "来电编号",
    "来电时间",
    "来电号码",
    "经度",
    "纬度",
    "坐标系",
    "道路",
    "桩号",
    "地点",
    "车辆数",
    "人数",
    "老幼病孕",
    "车型",
    "需求",
    "事件类型",
    "备注",
]
VEHICLE_ZH = {
    "car": "小轿车",
    "heavy_truck": "重型货车",
    "passenger_coach": "客车",
    "hazmat": "危化品车",
}
NEEDS_ZH = {"heat": "取暖", "fuel": "燃油", "medical": "医疗", "food": "食物"}
KIND_ZH = {
    "stranded": "车辆被困",
    "crash": "交通事故",
    "vehicle_in_ditch": "车辆侧滑出路",
    "road_blocked": "道路阻断",
}


def calls_for(
    events: list[Event], region: RegionFiles, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Caller rows for every event: each caller a little later and a little off."""
    from geo.crs import wgs84_to_gcj02  # conversion for phone-map coordinates

    towns_by_league: dict[str, list[dict[str, str]]] = {}
    for t in region.towns:
        towns_by_league.setdefault(str(t.get("admin_code", ""))[:4] + "00", []).append(t)
    rows: list[dict[str, Any]] = []
    n = 0
    for ev in events:
        for c in range(ev.callers):
            n += 1
            t_h = ev.t_h + (0 if c == 0 else float(rng.uniform(0.05, 1.5 if ev.callers < 4 else 5)))
            km = round(ev.km + float(rng.normal(0, 0.15)), 3)
            km = min(max(km, ev.road.km_start), ev.road.km_end)
            p = ev.road.point_at(km)
            u = float(rng.uniform())
            if ev.seed == "abag_35_stranded":
                u = (0.1, 0.6, 0.75, 0.9, 0.3, 0.65, 0.2)[c % 7]
            row: dict[str, Any] = {
                "call_id": f"{'XL' if ev.league == '152500' else 'CF' if ev.league == '150400' else 'HL'}"
                f"-1225-{n:04d}",
                "received_at": local(t_h).strftime("%Y-%m-%d %H:%M:%S"),
                "caller_phone": f"1{int(rng.integers(30, 90))}{int(rng.integers(0, 10**8)):08d}",
                "lon": "",
                "lat": "",
                "datum": "",
                "road": "",
                "stake": "",
                "place": "",
                "vehicles": ev.vehicles
                if c == 0
                else max(1, ev.vehicles - int(rng.integers(0, 3))),
                "people": ev.people if c == 0 else max(1, ev.people - int(rng.integers(0, 4))),
                "vulnerable": ev.vulnerable,
                "vehicle_class": ev.vehicle_class,
                "needs": ev.needs,
                "incident_type": ev.kind,
                "notes": (ev.notes_zh, ev.notes_en),
                "event": ev.key,
                "t_h": t_h,
            }
            if u < 0.5:
                row.update(lon=f"{p.x:.6f}", lat=f"{p.y:.6f}", datum="WGS84")
            elif u < 0.72:
                gx, gy = wgs84_to_gcj02(p.x, p.y)
                row.update(lon=f"{float(gx):.6f}", lat=f"{float(gy):.6f}", datum="GCJ-02")
            elif u < 0.88:
                km_post = round(km, 1)
                whole = int(km_post)
                row.update(
                    road=ev.road.code, stake=f"K{whole}+{round((km_post - whole) * 1000):03d}"
                )
            else:
                place = (
                    _nearest_town(region, p)
                    or region.places[_banner_at(region, p)]["properties"]["name_zh"]
                )
                row.update(place=place)
            rows.append(row)
    return sorted(rows, key=lambda r: (r["t_h"], r["call_id"]))


def _banner_at(region: RegionFiles, p: Point) -> str:
    for code, f in region.places.items():
        if f["properties"]["level"] == "banner" and region.area[code].contains(p):
            return code
    return "150000"


def _nearest_town(region: RegionFiles, p: Point, max_km: float = 12.0) -> str | None:
    best, best_d = None, max_km
    for t in region.towns:
        try:
            lon, lat = float(t["lon"]), float(t["lat"])
        except (KeyError, ValueError):
            continue
        d = math.hypot((lon - p.x) * 111.0 * math.cos(math.radians(lat)), (lat - p.y) * 111.0)
        if d < best_d:
            best, best_d = t["name_zh"], d
    return best


def write_calls(rows: list[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """Write the calls as 15-minute exports (GBK/Chinese and UTF-8/English alternately)."""
    feeds = []
    batches: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        batches.setdefault(int(r["t_h"] * 60 // CALL_BATCH_MIN), []).append(r)
    (out / "calls").mkdir(parents=True, exist_ok=True)
    for i, (b, batch) in enumerate(sorted(batches.items())):
        release_h = (b + 1) * CALL_BATCH_MIN / 60
        stamp = local(b * CALL_BATCH_MIN / 60).strftime("%Y%m%d-%H%M")
        gbk = i % 2 == 0
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n" if gbk else "\n")
        w.writerow(CALL_HEADERS_ZH if gbk else CALL_HEADERS_EN)
        for r in batch:
            needs = "、".join(NEEDS_ZH[n] for n in r["needs"]) if gbk else ";".join(r["needs"])
            w.writerow(
                [
                    r["call_id"],
                    r["received_at"],
                    r["caller_phone"],
                    r["lon"],
                    r["lat"],
                    r["datum"],
                    r["road"],
                    r["stake"],
                    r["place"],
                    r["vehicles"],
                    r["people"],
                    r["vulnerable"],
                    VEHICLE_ZH[r["vehicle_class"]] if gbk else r["vehicle_class"],
                    needs,
                    KIND_ZH[r["incident_type"]] if gbk else r["incident_type"],
                    r["notes"][0] if gbk else r["notes"][1],
                ]
            )
        name = f"calls/calls-{stamp}-{'gbk' if gbk else 'utf8'}.csv"
        (out / name).write_bytes(buf.getvalue().encode("gbk" if gbk else "utf-8"))
        feeds.append({"kind": "calls", "file": name, "release": iso_local(release_h)})
    return feeds


# ------------------------------------------------------------------------------------------
# Drone flights
# ------------------------------------------------------------------------------------------

DETECTION_TYPES = (
    ("black_ice", 0.52),
    ("snow_drift", 0.2),
    ("snow_packed", 0.18),
    ("whiteout", 0.1),
)


def drone_flights(
    region: RegionFiles, events: list[Event], rng: np.random.Generator, out: Path
) -> tuple[list[dict[str, Any]], int]:
    """30 patrol flights along roads, ~150 detections; Xilingol flights find the black ice."""
    (out / "drone").mkdir(parents=True, exist_ok=True)
    feeds: list[dict[str, Any]] = []
    xl_roads = (
        roads_in(region, XILINHOT, ("national", "provincial", "expressway"))
        or league_roads(region)["152500"]
    )
    hx_roads = roads_in(region, HEXIGTEN, ("national", "provincial", "expressway"))
    nb_roads = roads_in(region, NEW_BARAG_LEFT, ("national", "provincial", "expressway"))
    plan: list[tuple[str, str, list[Road], BaseGeometry]] = []
    for _i in range(14):
        plan.append(("XL", XILINHOT, xl_roads, region.area["152500"]))
    for _i in range(9):
        plan.append(("CF", HEXIGTEN, hx_roads, region.area[HEXIGTEN]))
    for _i in range(7):
        plan.append(("HL", NEW_BARAG_LEFT, nb_roads, region.area["150700"]))
    times = sample_times(rng, len(plan), 6.0, 45.0)
    order = rng.permutation(len(plan))
    total = 0
    abag = next(e for e in events if e.seed == "abag_35_stranded")
    for n, idx in enumerate(order):
        prefix, _banner, roads, area = plan[int(idx)]
        t_h = times[n]
        road = roads[int(rng.integers(0, len(roads)))]
        km0 = road.km_inside(area, rng)
        length = float(rng.uniform(8, 18))
        direction = 1 if km0 + length < road.km_end else -1
        kms = np.linspace(km0, km0 + direction * length, 25)
        kms = np.clip(kms, road.km_start, road.km_end)
        minutes = 35.0
        flight = f"{prefix}-F{n + 1:02d}"
        drone = f"{prefix}-UAV-{1 + n % 3}"
        pts = []
        for j, km in enumerate(kms):
            p = road.point_at(float(km))
            # the drone flies ~30 m beside the road, 80-120 m up
            pts.append(
                (
                    p.x + 0.0003,
                    p.y,
                    80 + 40 * rng.uniform(),
                    t_h + minutes / 60 * j / (len(kms) - 1),
                )
            )
        gpx = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<gpx version="1.1" creator="winterops demo storm" xmlns="http://www.topografix.com/GPX/1/1">',
            f"  <metadata><name>{flight}</name></metadata>",
            f"  <trk><name>{flight}</name><desc>{drone} {road.code}</desc><trkseg>",
        ]
        for x, y, ele, th in pts:
            utc = local(th).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            gpx.append(
                f'    <trkpt lat="{y:.6f}" lon="{x:.6f}"><ele>{ele:.1f}</ele><time>{utc}</time></trkpt>'
            )
        gpx += ["  </trkseg></trk>", "</gpx>", ""]
        (out / f"drone/{flight}.gpx").write_text("\n".join(gpx), encoding="utf-8")
        release_h = t_h + minutes / 60 + 5 / 60
        feeds.append(
            {"kind": "drone", "file": f"drone/{flight}.gpx", "release": iso_local(release_h)}
        )
        # detections
        k = 5 if prefix == "XL" else 5 if prefix == "CF" else 4
        k = max(2, k + int(rng.integers(-1, 3)))
        dets = []
        for d in range(k):
            j = int(rng.integers(1, len(kms) - 1))
            kind = "black_ice" if prefix == "XL" and d < 3 else _choice(rng, DETECTION_TYPES)
            p = road.point_at(float(kms[j]))
            dets.append(
                {
                    "detection_id": f"{flight}-D{d + 1:02d}",
                    "type": kind,
                    "confidence": round(float(rng.uniform(0.6, 0.97)), 2),
                    "time": iso_local(pts[j][3]),
                    "drone_id": drone,
                    "flight_id": flight,
                    "lon": round(p.x, 6),
                    "lat": round(p.y, 6),
                    "photo": f"{flight}/IMG_{1000 + 7 * d + j:04d}.JPG",
                }
            )
        # the Xilingol flight nearest in time to the Abag group also sees it
        if (
            prefix == "XL"
            and abs(t_h - (abag.t_h + 1.0)) < 3.5
            and not any(f.get("sees_abag") for f in feeds)
        ):
            p = abag.point
            dets.append(
                {
                    "detection_id": f"{flight}-D{len(dets) + 1:02d}",
                    "type": "stranded_vehicle",
                    "confidence": 0.93,
                    "time": iso_local(t_h + minutes / 60),
                    "drone_id": drone,
                    "flight_id": flight,
                    "lon": round(p.x, 6),
                    "lat": round(p.y, 6),
                    "photo": f"{flight}/IMG_9001.JPG",
                }
            )
            feeds[-1]["sees_abag"] = True
        total += len(dets)
        as_csv = n % 3 == 2
        name = f"drone/{flight}-detections.{'csv' if as_csv else 'geojson'}"
        if as_csv:
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=list(dets[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(dets)
            (out / name).write_text(buf.getvalue(), encoding="utf-8")
        else:
            fc = {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [d["lon"], d["lat"]]},
                        "properties": {k: v for k, v in d.items() if k not in ("lon", "lat")},
                    }
                    for d in dets
                ],
            }
            (out / name).write_text(
                json.dumps(fc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
            )
        feeds.append({"kind": "drone", "file": name, "release": iso_local(release_h)})
    for f in feeds:
        f.pop("sees_abag", None)
    return feeds, total


# ------------------------------------------------------------------------------------------
# Waze
# ------------------------------------------------------------------------------------------

WAZE_TYPES = {
    "crash": ("ACCIDENT", "ACCIDENT_MINOR"),
    "vehicle_in_ditch": ("HAZARD", "HAZARD_ON_SHOULDER_CAR_STOPPED"),
    "stranded": ("HAZARD", "HAZARD_ON_SHOULDER_CAR_STOPPED"),
    "road_blocked": ("ROAD_CLOSED", "ROAD_CLOSED_HAZARD"),
}


def waze_snapshots(
    region: RegionFiles, events: list[Event], rng: np.random.Generator, out: Path
) -> list[dict[str, Any]]:
    """Two-hourly Waze partner-feed snapshots: weather hazards and some of the events."""
    (out / "waze").mkdir(parents=True, exist_ok=True)
    hx_roads = roads_in(region, HEXIGTEN, ("national", "provincial", "expressway"))
    feeds = []
    for s in range(4, DURATION_H, 2):
        t_h = float(s)
        alerts = []
        for ev in events:
            if t_h - 2 < ev.t_h <= t_h and ev.league != "152500" and rng.uniform() < 0.3:
                typ, sub = WAZE_TYPES[ev.kind]
                p = ev.road.point_at(ev.km)
                alerts.append((ev.t_h + 0.1, typ, sub, p, ev.road.code))
        if 12 <= s <= 40:
            for _ in range(int(rng.integers(1, 4))):
                r = hx_roads[int(rng.integers(0, len(hx_roads)))]
                p = r.point_at(r.km_inside(region.area[HEXIGTEN], rng))
                alerts.append(
                    (
                        t_h - float(rng.uniform(0, 2)),
                        "WEATHERHAZARD",
                        "HAZARD_WEATHER_ICE",
                        p,
                        r.code,
                    )
                )
        if not alerts:
            continue
        items = []
        for t, typ, sub, p, code in sorted(alerts, key=lambda a: a[0]):
            ms = int(local(t).timestamp() * 1000)
            items.append(
                {
                    "country": "CH",
                    "city": "",
                    "reportRating": int(rng.integers(1, 6)),
                    "reliability": int(rng.integers(5, 11)),
                    "confidence": int(rng.integers(0, 6)),
                    "type": typ,
                    "subtype": sub,
                    "uuid": f"{int(rng.integers(0, 16**8)):08x}-{int(rng.integers(0, 16**4)):04x}-4{int(rng.integers(0, 16**3)):03x}-a{int(rng.integers(0, 16**3)):03x}-{int(rng.integers(0, 16**12)):012x}",
                    "street": code,
                    "location": {"x": round(p.x, 6), "y": round(p.y, 6)},
                    "pubMillis": ms,
                    "roadType": 6,
                    "magvar": int(rng.integers(0, 360)),
                    "reportDescription": "",
                }
            )
        end_ms = int(local(t_h).timestamp() * 1000)
        doc = {
            "alerts": items,
            "endTimeMillis": end_ms,
            "startTimeMillis": end_ms - 2 * 3600 * 1000,
            "startTime": local(t_h - 2).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S:%f")[:-3],
            "endTime": local(t_h).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S:%f")[:-3],
        }
        name = f"waze/waze-{local(t_h).strftime('%Y%m%d-%H%M')}.json"
        (out / name).write_text(
            json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
        feeds.append({"kind": "waze", "file": name, "release": iso_local(t_h + 2 / 60)})
    return feeds


# ------------------------------------------------------------------------------------------
# Units and manifest
# ------------------------------------------------------------------------------------------


def unit_overrides(region: RegionFiles, rng: np.random.Generator) -> list[dict[str, Any]]:
    """A few units start off shift, low on fuel or with hours already worked."""
    units = sorted(region.units, key=lambda u: u["unit_id"])
    out: list[dict[str, Any]] = []
    if not units:
        return out
    picks = rng.choice(len(units), size=min(8, len(units)), replace=False)
    for i, idx in enumerate(picks):
        u = units[int(idx)]
        if i < 2:
            out.append({"unit_id": u["unit_id"], "status": "out_of_service", "why": "engine fault"})
        elif i < 4:
            out.append({"unit_id": u["unit_id"], "fuel": 0.18, "why": "not yet refuelled"})
        else:
            out.append(
                {"unit_id": u["unit_id"], "crew_hours": 9.5, "why": "crew came off a day shift"}
            )
    return out


def build(region_dir: Path, out: Path) -> dict[str, Any]:
    """Write the whole scenario under `out`; return a summary."""
    region = load_region_files(region_dir)
    rng = np.random.default_rng(SEED)
    if out.exists():
        shutil.rmtree(out)
    (out / "alerts").mkdir(parents=True)
    feeds: list[dict[str, Any]] = []
    for i, spec in enumerate(alert_specs(region)):
        name = f"alerts/{i + 1:02d}-{spec.ident}-{spec.msg_type.lower()}.xml"
        (out / name).write_bytes(cap_xml(spec))
        feeds.append({"kind": "alerts", "file": name, "release": iso_local(spec.t_h + 2 / 60)})
    events = seed_events(region, rng) + background_events(region, rng, 126)
    calls = calls_for(events, region, rng)
    feeds += write_calls(calls, out)
    dfeeds, n_det = drone_flights(region, events, rng, out)
    feeds += dfeeds
    feeds += waze_snapshots(region, events, rng, out)
    feeds.sort(key=lambda f: (f["release"], f["kind"], f["file"]))
    overrides = []
    for ev in events:
        if ev.on_scene:
            first_call = next(c for c in calls if c["event"] == ev.key)
            overrides.append(
                {
                    "match_report": f"call:{first_call['call_id']}",
                    "event": ev.seed,
                    "on_scene_minutes": ev.on_scene,
                }
            )
    manifest = {
        "format": "winterops-scenario/1",
        "name": "demo-storm",
        "title_zh": "2025年12月内蒙古东部暴雪寒潮（演示）",
        "title_en": "Inner Mongolia blizzard and cold wave, December 2025 (demo)",
        "start": START.isoformat(),
        "duration_h": DURATION_H,
        "timezone": "Asia/Shanghai",
        "region": "../../region",
        "demo_moment": datetime(2025, 12, 14, 3, 0, tzinfo=SHANGHAI).isoformat(),
        "units": {"overrides": unit_overrides(region, rng)},
        "on_scene_minutes": ON_SCENE_MIN,
        "incident_overrides": overrides,
        "generator": {"script": "data/scenarios/build_demo_storm.py", "seed": SEED},
        "feeds": feeds,
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "events": len(events),
        "calls": len(calls),
        "detections": n_det,
        "feeds": len(feeds),
        "bytes": size,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: build (default) or check that the committed files are up to date."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--region", type=Path, default=ROOT / "data" / "region")
    ap.add_argument("--out", type=Path, default=HERE / "demo-storm")
    ap.add_argument("--check", action="store_true", help="rebuild in a temp dir and compare")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            summary = build(args.region, Path(tmp) / "demo-storm")
            cmp = filecmp.dircmp(str(args.out), str(Path(tmp) / "demo-storm"))
            diff = cmp.diff_files + cmp.left_only + cmp.right_only
            for sub in cmp.subdirs.values():
                diff += sub.diff_files + sub.left_only + sub.right_only
            print(json.dumps({**summary, "differences": diff}))
            return 1 if diff else 0
    summary = build(args.region, args.out)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
