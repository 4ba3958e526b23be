"""The words of call-centre exports: column headers, vehicle types and needs.

Headers
-------
:data:`ALIASES` maps the headers of the usual alarm-receiving (接处警) exports of 110/122 call
centres and of the project's own format to the canonical call fields (see :mod:`ingest.calls`):
接警编号/警情编号/接警单号 -> ``call_id``, 接警时间/报警时间/受理时间 -> ``time``, 事发地点/
发生地点/报警地址 -> ``place``, 警情描述/报警内容/简要案情 -> ``notes``, 报警人 -> ``caller``,
联系电话/报警电话/主叫号码 -> ``phone``, 车辆数 -> ``vehicles``, 人数/被困人数 -> ``people``,
车型/车辆类型/号牌种类 -> ``vehicle_class``, 经度/纬度 -> ``lon``/``lat``, 所属旗县/辖区 ->
``admin`` ... A mapping file overrides any of them.

Vehicle types
-------------
:func:`vehicle_class` maps the public-security vehicle type names (GA 802 *机动车类型*:
小型客车, 中型客车, 大型客车, 小型轿车, 重型半挂牵引车, 重型半挂货车, 重型厢式货车, 轻型货车,
危险品运输车, 校车 ...), the GA 24 plate types (大型汽车, 小型汽车) and the short forms call takers
write (大货, 半挂, 挂车, 小车, 轿车, 客车, 大巴, 面包车, SUV) to the project's classes: ``car``,
``light_truck``, ``heavy_truck``, ``passenger_coach``, ``hazmat``.

Needs
-----
:func:`needs_in` finds needs words: ``fuel`` (送油, 加油, 燃油, 没油), ``heat`` (取暖, 保暖),
``food`` (食物, 饮水), ``medical`` (医疗, 受伤, 急救, 120), ``tow`` (拖车, 清障), ``heavy_tow``
(吊车, 重型清障), ``rescue`` (救援, 救助), ``grit`` (破冰, 除冰, 撒盐), ``plow`` (除雪, 铲雪),
``traffic_control`` (交通管制, 疏导). :func:`implied_needs` adds what a vehicle class implies: a
heavy truck, coach or hazmat vehicle off the road (沟, 侧滑, 冲出, 翻, ditch) needs a heavy tow,
and a tow asked for a heavy vehicle is a heavy tow.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from collections.abc import Sequence

__all__ = [
    "ALIASES",
    "FIELDS",
    "GENERIC_TYPES",
    "HEAVY_CLASSES",
    "NEEDS",
    "NEED_TOKENS",
    "VEHICLE_CLASSES",
    "DATUMS",
    "CALL_EVENTS",
    "call_time_text",
    "canonical_header",
    "datum_name",
    "notes_incident",
    "implied_needs",
    "needs_in",
    "needs_in_many",
    "vehicle_class",
]

FIELDS = (
    "call_id",
    "time",
    "lon",
    "lat",
    "datum",
    "stake",
    "road_code",
    "place",
    "admin",
    "vehicles",
    "people",
    "vulnerable",
    "injured",
    "vehicle_class",
    "plate",
    "needs",
    "caller",
    "phone",
    "event_type",
    "notes",
)

# fmt: off
_HEADERS: dict[str, tuple[str, ...]] = {
    "call_id": (
        "id", "callid", "call id", "编号", "工单号", "工单编号", "来电编号", "警情编号", "警情号",
        "接警编号", "接警单号", "接警单编号", "接警号", "报警编号", "事件编号", "案件编号",
        "警单号", "警单编号", "流水号", "受理编号", "受理单号", "呼叫编号", "记录编号",
    ),
    "time": (
        "received_at", "datetime", "时间", "来电时间", "报警时间", "接警时间", "受理时间",
        "接报时间", "呼入时间", "接警日期时间", "报警日期", "事发时间", "发生时间",
    ),
    "lon": (
        "longitude", "lng", "lon", "x", "经度", "东经", "报警经度", "定位经度", "事发经度",
        "x坐标", "坐标x", "gps经度",
    ),
    "lat": (
        "latitude", "lat", "y", "纬度", "北纬", "报警纬度", "定位纬度", "事发纬度", "y坐标",
        "坐标y", "gps纬度",
    ),
    "datum": ("坐标系", "crs", "坐标类型", "坐标系统"),
    "stake": ("桩号", "里程桩", "里程桩号", "公里桩", "事发桩号", "km_post", "公里数"),
    "road_code": (
        "road", "道路", "路线", "路线编号", "道路编号", "道路名称", "路名", "所在道路",
        "事发道路", "路段",
    ),
    "place": (
        "location", "地点", "位置", "地名", "事发地点", "发生地点", "案发地点", "事发地址",
        "发生地址", "报警地点", "报警地址", "警情地址", "警情地点", "接警地址", "地址",
        "详细地址", "所在位置", "事发位置",
    ),
    "admin": (
        "所属旗县", "旗县", "所属区县", "区县", "行政区划", "行政区", "辖区", "所属辖区",
        "管辖区域", "banner", "county",
    ),
    "vehicles": (
        "车辆数", "车辆", "车辆数量", "被困车辆", "被困车辆数", "涉及车辆", "涉及车辆数",
        "车数", "滞留车辆", "滞留车辆数", "受困车辆",
    ),
    "people": (
        "人数", "被困人数", "人员", "被困人员", "滞留人数", "滞留人员", "涉及人数", "受困人数",
        "人员数量", "被困人员数",
    ),
    "vulnerable": ("老幼病孕", "弱势人员", "特殊人员", "老弱病残孕", "特殊人群"),
    "injured": ("受伤人数", "伤员", "伤员人数", "伤者", "受伤人员", "injured"),
    "vehicle_class": (
        "车型", "车辆类型", "车辆种类", "号牌种类", "车辆类别", "vehicle type", "vehicle_type",
    ),
    "plate": ("车牌", "车牌号", "车牌号码", "号牌号码", "plate"),
    "needs": ("需求", "求助内容", "求助类型", "救援需求", "诉求", "求助需求"),
    "caller": ("报警人", "报警人姓名", "来电人", "联系人", "求助人", "caller"),
    "phone": (
        "电话", "来电号码", "联系电话", "报警电话", "报警人电话", "主叫号码", "来电电话",
        "手机", "手机号", "联系方式", "回拨电话", "报警人联系电话",
    ),
    "event_type": (
        "incident_type", "事件类型", "警情类型", "警情类别", "警情分类", "案件类型",
        "报警类型", "接警类型", "事件类别",
    ),
    "notes": (
        "备注", "情况", "note", "警情描述", "报警内容", "简要警情", "警情内容", "简要案情",
        "案情", "情况说明", "内容", "描述", "事件描述", "警情摘要", "工单内容", "来电内容",
    ),
}
# fmt: on
ALIASES: dict[str, str] = {f: f for f in FIELDS} | {
    alias: f for f, names in _HEADERS.items() for alias in names
}

_BRACKETED = re.compile(r"[(\[【].*?[)\]】]")
_HEADER_JUNK = re.compile(r"[\s_:：（(）)\[\]【】*]+")


def canonical_header(header: str) -> str | None:
    """Return the field a header names (case, width, spaces and ``*`` marks ignored), or None."""
    h = unicodedata.normalize("NFKC", header).strip().lstrip("\ufeff").lower()
    hit = ALIASES.get(h) or ALIASES.get(_HEADER_JUNK.sub("", h))
    if hit is None:  # "工单内容(摘要)", "报警人[姓名]": the words before the brackets
        hit = ALIASES.get(_HEADER_JUNK.sub("", _BRACKETED.sub("", h)))
    return hit


HEAVY_CLASSES = frozenset({"heavy_truck", "passenger_coach", "hazmat"})
VEHICLE_CLASSES: dict[str, str] = {
    "car": "car",
    "light_truck": "light_truck",
    "heavy_truck": "heavy_truck",
    "passenger_coach": "passenger_coach",
    "hazmat": "hazmat",
    "coach": "passenger_coach",
    "bus": "passenger_coach",
    "truck": "heavy_truck",
    "semi_trailer": "heavy_truck",
    "suv": "car",
    "van": "car",
    "pickup": "light_truck",
    "小车": "car",
    "小客": "car",
    "面包车": "car",
    "私家车": "car",
    "出租车": "car",
    "网约车": "car",
    "皮卡": "light_truck",
    "小货": "light_truck",
    "小货车": "light_truck",
    "大货": "heavy_truck",
    "大货车": "heavy_truck",
    "重卡": "heavy_truck",
    "挂车": "heavy_truck",
    "半挂": "heavy_truck",
    "大车": "heavy_truck",
    "大巴": "passenger_coach",
    "中巴": "passenger_coach",
    "大客": "passenger_coach",
    "客车": "passenger_coach",
    "大型汽车": "heavy_truck",  # GA 24 plate type (yellow plate): trucks and coaches
    "小型汽车": "car",
}
# plate types that say only how big a vehicle is: the notes may say better (客车抛锚)
GENERIC_TYPES = frozenset({"大型汽车", "小型汽车", "大型汽车号牌", "小型汽车号牌"})
# rules for the GA 802 names and their variants, tried in order on the normalised text
_CLASS_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"危险|危化|危货|危爆|化学品|油罐|液化气|液化天然气|槽罐|lng|lpg|hazmat|tanker"),
        "hazmat",
    ),
    (re.compile(r"校车|school ?bus"), "passenger_coach"),
    (
        re.compile(r"(大型|中型).*客车|大客|大巴|中巴|客运|公交|长途|旅游|卧铺|coach|bus"),
        "passenger_coach",
    ),
    (
        re.compile(r"半挂|牵引|挂车|重型|重卡|大货|中型.*(货|厢|罐|自卸|专项|作业)|trailer|lorry"),
        "heavy_truck",
    ),
    (re.compile(r"轻型|微型.*货|皮卡|小货|三轮|低速|pickup|light truck"), "light_truck"),
    (re.compile(r"货车|卡车|自卸|厢式|仓栅|罐式|专项作业|truck"), "heavy_truck"),
    (
        re.compile(r"(小型|微型).*(客车|轿车|车)|轿车|越野|suv|mpv|面包|私家|小车|出租|car|van"),
        "car",
    ),
    (re.compile(r"客车"), "passenger_coach"),
)


@functools.lru_cache(maxsize=4096)
def vehicle_class(text: str) -> str | None:
    """Return the project vehicle class of a vehicle type as written (see the module docstring).

    Returns None for a type that names no class (``摩托车``, ``不详``).
    """
    s = unicodedata.normalize("NFKC", text).strip().lower()
    s = re.sub(r"[\s\-_]+", " ", s).strip()
    if not s:
        return None
    hit = VEHICLE_CLASSES.get(s) or VEHICLE_CLASSES.get(s.replace(" ", "_"))
    if hit:
        return hit
    for pattern, cls in _CLASS_RULES:
        if pattern.search(s):
            return cls
    return None


# fmt: off
NEEDS: dict[str, tuple[str, ...]] = {
    "fuel": ("燃油", "加油", "送油", "没油", "缺油", "无油", "油料", "没有油", "fuel", "gas"),
    "heat": ("取暖", "保暖", "防寒", "棉衣", "棉被", "大衣", "heat", "heating", "warm", "blanket"),
    "food": ("食物", "食品", "饮水", "喝水", "饮用水", "方便面", "干粮", "food", "water"),
    "medical": (
        "医疗", "就医", "受伤", "伤员", "急救", "救护", "冻伤", "昏迷", "病人", "medical",
        "injured", "injury", "injuries", "ambulance",
    ),
    "heavy_tow": ("吊车", "吊装", "起重", "重型清障", "大型清障", "重型拖车", "crane", "heavy tow"),
    "tow": ("拖车", "拖离", "拖拽", "清障", "拖走", "tow", "towing", "tow truck"),
    "rescue": ("救援", "救助", "营救", "解救", "rescue"),
    "grit": ("破冰", "除冰", "撒盐", "融雪剂", "防滑料", "grit", "gritting", "de-icing", "deicing"),
    "plow": ("除雪", "铲雪", "清雪", "扫雪", "推雪", "plow", "plough", "snow clearing"),
    "traffic_control": ("交通管制", "疏导", "traffic control"),
}
# fmt: on
# one-character needs accepted only as a whole item of the needs column ("油、水")
NEED_TOKENS: dict[str, str] = {"油": "fuel", "水": "food", "暖": "heat", "医": "medical"}
_NEED_OF = {t: k for k, ts in NEEDS.items() for t in ts}


# Chinese words anywhere; English words whole (so "tow" is not found in "township"), and only
# looked for when the text has Latin letters (one alternation of both is 15x slower)
_NEED_ZH = re.compile(
    "|".join(re.escape(t) for t in sorted(_NEED_OF, key=len, reverse=True) if not t.isascii())
)
_NEED_EN = re.compile(
    r"\b(?:"
    + "|".join(re.escape(t) for t in sorted(_NEED_OF, key=len, reverse=True) if t.isascii())
    + r")\b"
)
_LATIN = re.compile(r"[a-z]")


# words in the free text that mean the vehicle left the road
_OFF_ROAD = re.compile(
    r"沟|侧滑|滑出|冲出|驶出路|路外|翻车|侧翻|坡下|陷入|ditch|slid|off the road|overturn"
)


@functools.lru_cache(maxsize=8192)
def needs_in(text: str) -> tuple[str, ...]:
    """Return the needs named anywhere in `text`, sorted (``拖车`` tow, ``吊车`` heavy_tow)."""
    s = unicodedata.normalize("NFKC", text).lower()
    found = {_NEED_OF[w] for w in _NEED_ZH.findall(s)}
    if _LATIN.search(s):
        found.update(_NEED_OF[w] for w in _NEED_EN.findall(s))
    if "heavy_tow" in found:
        found.discard("tow")
    return tuple(sorted(found))


_SEP = "\x1f"  # unit separator: joins many texts for one normalisation and one scan


def needs_in_many(texts: Sequence[str]) -> list[tuple[str, ...]]:
    """Return ``[needs_in(t) for t in texts]``, normalising and scanning all texts at once."""
    joined = _SEP.join(texts)
    if not texts or joined.count(_SEP) != len(texts) - 1:
        return [needs_in(t) for t in texts]
    s = unicodedata.normalize("NFKC", joined).lower()
    parts = s.split(_SEP)
    if len(parts) != len(texts):
        return [needs_in(t) for t in texts]
    starts = list(itertools.accumulate((len(p) + 1 for p in parts[:-1]), initial=0))
    found: dict[int, set[str]] = {}
    hits = [(m.start(), m.group()) for m in _NEED_ZH.finditer(s)]
    if _LATIN.search(s):  # a whole English word needs Latin letters in its own text
        hits += [(m.start(), m.group()) for m in _NEED_EN.finditer(s)]
    for at, word in hits:
        found.setdefault(bisect.bisect_right(starts, at) - 1, set()).add(_NEED_OF[word])
    out: list[tuple[str, ...]] = [()] * len(texts)
    for row, needs in found.items():
        if "heavy_tow" in needs:
            needs.discard("tow")
        out[row] = tuple(sorted(needs))
    return out


def implied_needs(vclass: str | None, text: str, needs: tuple[str, ...]) -> tuple[str, ...]:
    """Return the needs the vehicle class implies given the call's words (only what is added).

    A heavy vehicle off the road, or a tow asked for a heavy vehicle, needs a heavy tow.
    """
    if vclass not in HEAVY_CLASSES or "heavy_tow" in needs:
        return ()
    if "tow" in needs or _OFF_ROAD.search(unicodedata.normalize("NFKC", text).lower()):
        return ("heavy_tow",)
    return ()


# datum names as exports write them -> wgs84 | gcj02 | bd09 (others left for the checks to refuse)
DATUMS: dict[str, str] = {
    "gcj02": "gcj02", "gcj-02": "gcj02", "gcj": "gcj02", "火星坐标": "gcj02", "火星坐标系": "gcj02",
    "国测局坐标": "gcj02", "国测局": "gcj02", "高德": "gcj02", "腾讯": "gcj02", "amap": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "bd09ll": "bd09", "百度": "bd09", "百度坐标": "bd09",
    "baidu": "bd09", "wgs84": "wgs84", "wgs-84": "wgs84", "gps": "wgs84", "cgcs2000": "wgs84",
    "北斗": "wgs84", "2000国家大地坐标系": "wgs84",
}  # fmt: skip


def datum_name(value: str) -> str:
    """Return the datum a cell names (``GCJ02``, ``火星坐标``, ``百度`` ...), or the cell unchanged.

    CGCS2000 (BeiDou) is taken as WGS84: they differ by centimetres.
    """
    key = unicodedata.normalize("NFKC", value).strip().lower().replace(" ", "")
    return DATUMS.get(key, value)


_ZH_TIME = re.compile(
    r"^(\d{4})\s*[年/.\-]\s*(\d{1,2})\s*[月/.\-]\s*(\d{1,2})\s*日?"
    r"(?:\s*[T ]?\s*(\d{1,2})\s*[:时点]\s*(\d{1,2})\s*(?:[:分]\s*(\d{1,2})\s*秒?|分)?)?$"
)


def call_time_text(value: str) -> str:
    """Rewrite ``2025年12月14日 9时05分`` or ``2025/12/14 9:05`` as ``2025-12-14 09:05:00``.

    Text of another shape is returned unchanged (ISO 8601 with a zone, say).
    """
    m = _ZH_TIME.match(value.strip())
    if m is None:
        return value
    y, mo, d, h, mi, sec = m.groups()
    day = f"{y}-{int(mo):02d}-{int(d):02d}"
    if h is None:
        return day
    return f"{day} {int(h):02d}:{int(mi):02d}:{int(sec or 0):02d}"


# what happened, as the call centre classed it or as the caller said it (fusion's reading)
CALL_EVENTS: dict[str, str] = {
    "车辆被困": "stranded", "被困": "stranded", "stranded": "stranded",
    "stranded_vehicle": "stranded", "交通事故": "crash", "事故": "crash", "crash": "crash",
    "车辆侧滑": "vehicle_in_ditch", "车辆滑入沟": "vehicle_in_ditch",
    "车辆侧滑出路": "vehicle_in_ditch", "侧滑": "vehicle_in_ditch",
    "vehicle_in_ditch": "vehicle_in_ditch", "道路阻断": "road_blocked",
    "road_blocked": "road_blocked",
}  # fmt: skip
_CALL_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"沟|侧滑|滑出|ditch|slid", re.I), "vehicle_in_ditch"),
    (re.compile(r"追尾|相撞|碰撞|事故|翻车|crash|collision|accident", re.I), "crash"),
    (re.compile(r"阻断|封闭|封路|blocked|closed", re.I), "road_blocked"),
)


def notes_incident(notes: str) -> str:
    """Return the incident kind a call's notes describe (stranded when they name no other)."""
    for pattern, incident in _CALL_RULES:
        if pattern.search(notes):
            return incident
    return "stranded"
