"""What an alert's words say: winter hazard class, Chinese colour level, temperature, wind.

Shared by the CAP (:mod:`ingest.cap`) and NWS GeoJSON (:mod:`ingest.nws`) parsers.
"""

from __future__ import annotations

import re

__all__ = [
    "BEAUFORT_KMH",
    "CERTAINTY_CONFIDENCE",
    "COLOUR_SEVERITY",
    "HAZARD_KEYWORDS",
    "classify_hazard",
    "colour_level",
    "highest_wind",
    "lowest_temperature",
]

COLOUR_SEVERITY = {"blue": "Minor", "yellow": "Moderate", "orange": "Severe", "red": "Extreme"}
CERTAINTY_CONFIDENCE = {"Observed": 1.0, "Likely": 0.8, "Possible": 0.5, "Unlikely": 0.2}

# Ordered: first match wins (specific before general).
HAZARD_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("blowing_snow", ("风吹雪", "吹雪", "blowing snow", "drifting snow", "snowdrift")),
    ("road_icing", ("道路结冰", "路面结冰", "结冰", "black ice", "road icing", "icy road")),
    ("freezing_rain", ("冻雨", "freezing rain", "freezing drizzle", "ice storm")),
    ("extreme_cold", ("极寒", "严寒", "wind chill", "extreme cold", "风寒")),
    ("cold_wave", ("寒潮", "低温", "降温", "cold wave", "cold snap", "frost", "hard freeze")),
    (
        "blizzard",
        (
            "暴雪",
            "大雪",
            "雪灾",
            "降雪",
            "blizzard",
            "heavy snow",
            "snowstorm",
            "snow squall",
            "winter storm",
            "snowfall",
            "neige",
            "snö",
        ),
    ),
    ("low_visibility", ("大雾", "浓雾", "能见度", "whiteout", "low visibility", "dense fog")),
    (
        "gale",
        (
            "大风",
            "gale",
            "high wind",
            "wind advisory",
            "wind warning",
            "strong wind",
            "wind speed",
            "vindur",
            ": wind",
        ),
    ),
)
_COLOURS = (("红色", "red"), ("橙色", "orange"), ("黄色", "yellow"), ("蓝色", "blue"))
_EN_COLOUR = re.compile(r"\b(red|orange|yellow|blue)\s+(warning|alert|signal|level)", re.I)
_TEMP = re.compile(r"(零下|minus\s*)?(-|−)?\s*(\d+(?:\.\d+)?)\s*(℃|°\s*C|摄氏度|度)", re.I)
_TEMP_F = re.compile(r"(-|−)?\s*(\d+(?:\.\d+)?)\s*°?\s*F\b")
_WIND = re.compile(
    r"(\d+(?:\.\d+)?)\s*(km/h|kmh|公里/小时|千米/小时|mph|m/s|米/秒|knots?|kt)\b", re.I
)
_BEAUFORT = re.compile(r"(\d{1,2})\s*级")
BEAUFORT_KMH = [1, 5, 11, 19, 28, 38, 49, 61, 74, 88, 102, 117, 133, 149, 166, 183, 202, 220]


def classify_hazard(text: str) -> str | None:
    """Return the winter hazard class named in `text` (zh or en), or None."""
    low = text.lower()
    for cls, words in HAZARD_KEYWORDS:
        if any(w in low for w in words):
            return cls
    return None


def colour_level(text: str) -> str | None:
    """Return the Chinese warning colour level (blue/yellow/orange/red) in `text`, or None."""
    for zh, en in _COLOURS:
        if zh + "预警" in text or zh + "警报" in text or zh + "信号" in text:
            return en
    m = _EN_COLOUR.search(text)
    if m:
        return m.group(1).lower()
    for zh, en in _COLOURS:
        if zh in text:
            return en
    return None


def lowest_temperature(text: str) -> float | None:
    """Return the lowest temperature (°C) mentioned in `text`, or None."""
    temps = []
    for m in _TEMP.finditer(text):
        v = float(m.group(3))
        if m.group(1) or m.group(2):
            v = -v
        if -90 <= v <= 60:
            temps.append(v)
    for m in _TEMP_F.finditer(text):
        v = float(m.group(2)) * (-1 if m.group(1) else 1)
        c = (v - 32) * 5 / 9
        if -90 <= c <= 60:
            temps.append(round(c, 1))
    return min(temps) if temps else None


def highest_wind(text: str) -> float | None:
    """Return the highest wind speed (km/h) mentioned in `text`, or None."""
    winds = []
    for m in _WIND.finditer(text):
        v, unit = float(m.group(1)), m.group(2).lower()
        if unit == "mph":
            v *= 1.609344
        elif unit in ("m/s", "米/秒"):
            v *= 3.6
        elif unit.startswith("kn") or unit == "kt":
            v *= 1.852
        winds.append(round(v, 1))
    for m in _BEAUFORT.finditer(text):
        b = int(m.group(1))
        if 0 <= b < len(BEAUFORT_KMH):
            winds.append(float(BEAUFORT_KMH[b]))
    winds = [w for w in winds if w < 500]
    return max(winds) if winds else None
