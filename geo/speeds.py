"""Vehicle speeds and road-condition speed factors (the travel-time tables of :mod:`geo.network`).

A vehicle's dry-road speed on a segment is the lower of the vehicle's own top speed and the
road's speed for its category (``speed_car_kmh`` for patrol cars and ambulances,
``speed_truck_kmh`` for the rest). A condition on the segment multiplies it by
:func:`speed_factor`: plows keep most of their speed in drifting or packed snow (they clear it as
they go); cars slow to a crawl in drifting snow; ``closed`` is impassable for everyone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from geo.errors import UnknownConditionError, UnknownVehicleClassError

__all__ = [
    "CONDITIONS",
    "FACTOR_TABLES",
    "SPEED_FACTORS",
    "VEHICLE_CLASSES",
    "VEHICLE_SPEEDS",
    "VehicleSpeed",
    "check_vehicle",
    "speed_factor",
    "worst_factor",
]


VEHICLE_CLASSES = ("patrol_car", "plow", "grit_spreader", "heavy_tow", "rescue", "ambulance")


CONDITIONS = ("clear", "black_ice", "snow_packed", "drifting_snow", "poor_visibility", "closed")


@dataclass(frozen=True)
class VehicleSpeed:
    """A vehicle class's top speed and which road speed limit applies to it."""

    top_kmh: float
    category: str  # "car" -> speed_car_kmh, "truck" -> speed_truck_kmh


# Top speeds on a dry road. Plows and spreaders travel to a job at working speed (about 50 km/h
# with the blade up); a loaded heavy tow truck at truck speed.
VEHICLE_SPEEDS: dict[str, VehicleSpeed] = {
    "patrol_car": VehicleSpeed(100.0, "car"),
    "ambulance": VehicleSpeed(100.0, "car"),
    "rescue": VehicleSpeed(80.0, "truck"),
    "heavy_tow": VehicleSpeed(70.0, "truck"),
    "plow": VehicleSpeed(50.0, "truck"),
    "grit_spreader": VehicleSpeed(55.0, "truck"),
}


# Share of dry-road speed kept per condition (0 = impassable). Values chosen from winter
# driving guidance (roughly half speed on ice, a third in drifting snow for ordinary vehicles);
# plows run with the blade down through snow at nearly working speed.
SPEED_FACTORS: dict[str, dict[str, float]] = {
    #                black_ice snow_packed drifting_snow poor_visibility
    "patrol_car": {
        "black_ice": 0.45,
        "snow_packed": 0.6,
        "drifting_snow": 0.3,
        "poor_visibility": 0.5,
    },
    "ambulance": {
        "black_ice": 0.45,
        "snow_packed": 0.6,
        "drifting_snow": 0.3,
        "poor_visibility": 0.5,
    },
    "rescue": {
        "black_ice": 0.5,
        "snow_packed": 0.65,
        "drifting_snow": 0.4,
        "poor_visibility": 0.55,
    },
    "heavy_tow": {
        "black_ice": 0.5,
        "snow_packed": 0.65,
        "drifting_snow": 0.4,
        "poor_visibility": 0.5,
    },
    "plow": {"black_ice": 0.7, "snow_packed": 0.9, "drifting_snow": 0.85, "poor_visibility": 0.6},
    "grit_spreader": {
        "black_ice": 0.8,
        "snow_packed": 0.8,
        "drifting_snow": 0.6,
        "poor_visibility": 0.6,
    },
}


# vehicle class -> condition -> factor, including "clear" and "closed"
FACTOR_TABLES: dict[str, dict[str, float]] = {
    vc: {"clear": 1.0, "closed": 0.0, **factors} for vc, factors in SPEED_FACTORS.items()
}


def check_vehicle(vehicle_class: str) -> str:
    """Return the vehicle class as a known key of :data:`VEHICLE_SPEEDS`.

    Raises
    ------
    UnknownVehicleClassError
        Not a known class (a ``ValueError``).
    """
    vc = str(vehicle_class)
    if vc not in VEHICLE_SPEEDS:
        msg = (
            f"unknown vehicle class {vehicle_class!r}; expected one of {', '.join(VEHICLE_CLASSES)}"
        )
        raise UnknownVehicleClassError(msg)
    return vc


def speed_factor(vehicle_class: str, condition: str | None) -> float:
    """Share of dry-road speed a vehicle keeps in a road condition.

    Parameters
    ----------
    vehicle_class
        One of :data:`VEHICLE_CLASSES`.
    condition
        One of :data:`CONDITIONS` (None or ``"clear"`` = 1.0).

    Returns
    -------
    float
        In (0, 1], or 0.0 for ``"closed"`` (impassable).

    Raises
    ------
    ValueError
        Unknown vehicle class or condition.
    """
    vc = check_vehicle(vehicle_class)
    if condition is None:
        return 1.0
    cond = str(condition)
    if cond == "clear":
        return 1.0
    if cond == "closed":
        return 0.0
    try:
        return SPEED_FACTORS[vc][cond]
    except KeyError:
        msg = f"unknown road condition {condition!r}; expected one of {', '.join(CONDITIONS)}"
        raise UnknownConditionError(msg) from None


def worst_factor(vehicle_class: str, cond: str | Iterable[str] | None) -> float:
    """Return the lowest speed factor among one or several conditions (1.0 for none)."""
    if cond is None or isinstance(cond, str):
        return speed_factor(vehicle_class, cond)
    return min((speed_factor(vehicle_class, c) for c in cond), default=1.0)
