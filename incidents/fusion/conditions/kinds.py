"""What a report says about a road (:func:`classify`), source reliabilities and decay."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any

import numpy as np

from incidents.settings import Settings
from incidents.store.models import (
    Condition,
)

__all__ = ['SOURCE_RELIABILITY', 'OBSERVED_THRESHOLD', 'CONFIDENCE_STEP', 'HORIZON_HALF_LIVES', 'POINT_KINDS', 'CONDITION_ORDER', 'INCIDENT_KINDS', 'SEVERITY_RANK', 'OFF_ROAD_SEARCH_M', 'report_source', 'Classified', 'classify', 'decay', 'half_lives', 'horizon']


SOURCE_RELIABILITY: Mapping[str, float] = MappingProxyType(
    {"drone": 0.9, "patrol": 0.95, "call": 0.6, "waze": 0.5, "alert": 0.5}
)


OBSERVED_THRESHOLD = 0.25


CONFIDENCE_STEP = 0.01  # a current row's confidence is rewritten when it moves more than this


HORIZON_HALF_LIVES = 6.0  # evidence older than this many half-lives (< 2 %) is ignored


POINT_KINDS = ("drone_detection", "call", "waze", "patrol")


CONDITION_ORDER = tuple(c.value for c in Condition)  # worst first


INCIDENT_KINDS = ("stranded", "crash", "vehicle_in_ditch", "road_blocked")


SEVERITY_RANK = {c: i for i, c in enumerate(CONDITION_ORDER)}


OFF_ROAD_SEARCH_M = 100_000.0


def report_source(kind: str) -> str:
    """Return the evidence source of a report kind (drone, call, waze, patrol, alert)."""
    if kind.startswith("drone"):
        return "drone"
    return {"call": "call", "waze": "waze", "patrol": "patrol", "alert": "alert"}.get(kind, kind)


@dataclass(frozen=True)
class Classified:
    """What one report says: a road condition, an incident kind, or that the road is clear."""

    condition: str | None = None
    incident: str | None = None
    clear: bool = False


_DRONE_TYPES = {
    "black_ice": Classified("black_ice"),
    "ice": Classified("black_ice"),
    "snow_drift": Classified("drifting_snow"),
    "drifting_snow": Classified("drifting_snow"),
    "snow_packed": Classified("snow_packed"),
    "whiteout": Classified("poor_visibility"),
    "poor_visibility": Classified("poor_visibility"),
    "fog": Classified("poor_visibility"),
    "closed": Classified("closed"),
    "road_blocked": Classified("closed", "road_blocked"),
    "stranded_vehicle": Classified(None, "stranded"),
    "crash": Classified(None, "crash"),
    "vehicle_in_ditch": Classified(None, "vehicle_in_ditch"),
    "clear": Classified(clear=True),
}


_CALL_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"沟|侧滑|滑出|ditch|slid", re.I), "vehicle_in_ditch"),
    (re.compile(r"追尾|相撞|碰撞|事故|翻车|crash|collision|accident", re.I), "crash"),
    (re.compile(r"阻断|封闭|封路|blocked|closed", re.I), "road_blocked"),
)


_EVENT_TYPES = {
    "车辆被困": "stranded",
    "被困": "stranded",
    "stranded": "stranded",
    "stranded_vehicle": "stranded",
    "交通事故": "crash",
    "事故": "crash",
    "crash": "crash",
    "车辆侧滑": "vehicle_in_ditch",
    "车辆滑入沟": "vehicle_in_ditch",
    "车辆侧滑出路": "vehicle_in_ditch",
    "侧滑": "vehicle_in_ditch",
    "vehicle_in_ditch": "vehicle_in_ditch",
    "道路阻断": "road_blocked",
    "road_blocked": "road_blocked",
}


def _waze(subtype: str, attributes: Mapping[str, Any]) -> Classified:
    typ = str(attributes.get("type") or "").upper()
    sub = (str(attributes.get("subtype") or "") or subtype).upper()
    text = f"{typ} {sub}"
    if "ROAD_CLOSED" in text:
        return Classified("closed", "road_blocked")
    if "ACCIDENT" in text:
        return Classified(None, "crash")
    if "CAR_STOPPED" in text:
        return Classified(None, "stranded")
    if "ICE" in text or "FREEZING" in text:
        return Classified("black_ice")
    if "FOG" in text or "VISIBILITY" in text:
        return Classified("poor_visibility")
    if "WIND" in text or "BLIZZARD" in text or "DRIFT" in text:
        return Classified("drifting_snow")
    if "SNOW" in text:
        return Classified("snow_packed")
    if typ == "WEATHERHAZARD":
        return Classified("snow_packed")
    return Classified()


def classify(kind: str, subtype: str | None, attributes: Mapping[str, Any] | None) -> Classified:
    """Say what a report means for the road: a condition, an incident, or "clear".

    Parameters
    ----------
    kind
        Report kind (``drone_detection``, ``call``, ``waze``, ``patrol`` ...).
    subtype
        The report's subtype (drone detection type, Waze subtype, call type, patrol condition).
    attributes
        The report's attributes (calls: ``event_type`` or ``notes``; Waze: ``type``).
    """
    attrs = attributes or {}
    sub = (subtype or "").strip()
    if kind == "drone_detection":
        return _DRONE_TYPES.get(sub.lower(), Classified())
    if kind == "waze":
        return _waze(sub, attrs)
    if kind == "patrol":
        key = sub.lower()
        if key in ("clear", "cleared"):
            return Classified(clear=True)
        if key in CONDITION_ORDER:
            return Classified(key, "road_blocked" if key == "closed" else None)
        return _DRONE_TYPES.get(key, Classified())
    if kind == "call":
        event = str(attrs.get("event_type") or attrs.get("incident_type") or "").strip()
        if event in _EVENT_TYPES:
            return Classified(None, _EVENT_TYPES[event])
        notes = str(attrs.get("notes") or "")
        for pattern, incident in _CALL_RULES:
            if pattern.search(notes):
                return Classified("closed" if incident == "road_blocked" else None, incident)
        return Classified(None, "stranded")
    return Classified()


def decay(age_h: Any, half_life_h: Any) -> Any:
    """Return ``0.5 ** (age_h / half_life_h)`` (vectorised; negative ages count as 0)."""
    age = np.maximum(np.asarray(age_h, dtype=np.float64), 0.0)
    return np.power(0.5, age / np.asarray(half_life_h, dtype=np.float64))


def half_lives(settings: Settings) -> dict[str, float]:
    """Half-life (hours) of the evidence of each source, defaults overridden by `settings`."""
    out = {"drone": 3.0, "call": 2.0, "patrol": 3.0, "waze": 1.0, "alert": 12.0}
    out.update({k: float(v) for k, v in settings.half_life_hours.items()})
    return out


def horizon(settings: Settings) -> timedelta:
    """Return how far back evidence is read: 6 of the longest observed-source half-lives."""
    hl = half_lives(settings)
    longest = max(v for k, v in hl.items() if k != "alert")
    return timedelta(hours=HORIZON_HALF_LIVES * longest)
