"""Priority of incidents and hazards: people exposed to the cold come first.

The incident priority is a documented, monotonic score (higher = more urgent)::

    P = C(vehicle_class)
        + (10 * log2(1 + people) + 15 * vulnerable) * (1 + K(wc) + 0.5 * E(wc, t))
        + 4 * min(t / 60, 24)
        + 20 * (1 - fuel)

where

* ``people`` is the number of people reported (0 when unknown) and ``vulnerable`` the number of
  vulnerable occupants (children, elderly, sick, pregnant: anyone reported as needing care);
* ``C`` is the vehicle-class weight. Passenger coaches and hazardous-goods vehicles come first
  (两客一危: ``coach`` = ``hazmat`` = 30), then heavy trucks (15), then everything else (5);
* ``wc`` is the wind chill in °C (:func:`wind_chill`, from the alert's temperature and wind or
  configured observations); ``K(wc) = max(0, -wc) / 10`` is the cold stress (-40 °C -> 4);
* ``t`` is the time since the first call in minutes (the cold-exposure clock) and ``E`` the
  exposure stage: how many doublings of the frostbite time (:func:`frostbite_minutes`, the
  Environment Canada table) have passed, ``E = min(6, log2(1 + t / t_f))``; 0 when frostbite is
  unlikely (wind chill above -28 °C);
* ``4 * min(t/60, 24)`` is a waiting term (4 points an hour, capped at a day);
* ``fuel`` is the remaining fuel as a share of the tank (1 = full; ``fuel_low`` counts as 0.1):
  an engine that stops is a heater that stops.

Each term is non-decreasing in its factor and every weight is positive, so ``P`` never falls
when one factor grows (more people, more vulnerable people, colder wind chill, longer wait,
less fuel) with the others held; ``tests/test_priority.py`` checks this with hypothesis.

Hazards (road conditions without people in them) get :func:`hazard_priority`, scaled to sit
below any incident with people and above nothing: severity x confidence x road class.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "CLASS_WEIGHTS",
    "FROSTBITE_TABLE",
    "exposure_stage",
    "frostbite_minutes",
    "hazard_priority",
    "priority",
    "vehicle_class_weight",
    "wind_chill",
]

# 两客一危: long-distance/tourist coaches and hazardous-goods vehicles are the highest risk.
CLASS_WEIGHTS: dict[str, float] = {
    "coach": 30.0,
    "bus": 30.0,
    "passenger_coach": 30.0,
    "hazmat": 30.0,
    "hazardous": 30.0,
    "tanker": 30.0,
    "heavy_truck": 15.0,
    "semi_trailer": 15.0,
    "truck": 15.0,
    "freight": 15.0,
}
DEFAULT_CLASS_WEIGHT = 5.0

# Environment Canada wind chill hazards and frostbite times (exposed skin):
#   -28 to -39: high risk, frostbite in 10 to 30 minutes
#   -40 to -47: very high risk, 5 to 10 minutes
#   -48 to -54: severe risk, 2 to 5 minutes
#   -55 and colder: extreme risk, under 2 minutes
# Each row: (wind chill at or below which the row applies, shortest frostbite time in minutes).
FROSTBITE_TABLE: tuple[tuple[float, float], ...] = (
    (-55.0, 1.0),
    (-48.0, 2.0),
    (-40.0, 5.0),
    (-28.0, 10.0),
)

MAX_STAGE = 6.0


def wind_chill(t_c: ArrayLike, wind_kmh: ArrayLike) -> float | np.ndarray:
    """Return the wind chill index (°C), Environment Canada / NWS formula (2001).

    ``WC = 13.12 + 0.6215 T - 11.37 V^0.16 + 0.3965 T V^0.16`` with ``T`` the air temperature in
    °C and ``V`` the wind speed at 10 m in km/h. The formula is defined for ``T <= 10 °C`` and
    ``V >= 4.8 km/h``; outside that range the air temperature itself is returned.

    Parameters
    ----------
    t_c
        Air temperature, °C (scalar or array).
    wind_kmh
        Wind speed, km/h (scalar or array, broadcast against `t_c`).

    Returns
    -------
    float or numpy.ndarray
        Wind chill in °C; a float for scalar input.

    Examples
    --------
    >>> round(wind_chill(-20.0, 30.0), 1)
    -32.6
    """
    t = np.asarray(t_c, dtype=np.float64)
    v = np.asarray(wind_kmh, dtype=np.float64)
    vp = np.power(np.maximum(v, 0.0), 0.16)
    wc = 13.12 + 0.6215 * t - 11.37 * vp + 0.3965 * t * vp
    out = np.where((t <= 10.0) & (v >= 4.8), wc, t)
    if out.ndim == 0:
        return float(out)
    return out


def frostbite_minutes(wc: float | None) -> float:
    """Return the shortest time to frostbite of exposed skin (minutes) at wind chill `wc`.

    From the Environment Canada wind chill table (:data:`FROSTBITE_TABLE`); ``inf`` above
    -28 °C (frostbite unlikely) or when `wc` is unknown.
    """
    if wc is None or math.isnan(wc):
        return math.inf
    for limit, minutes in FROSTBITE_TABLE:
        if wc <= limit:
            return minutes
    return math.inf


def exposure_stage(wc: float | None, minutes: float) -> float:
    """Return the cold-exposure stage: doublings of the frostbite time passed, capped at 6.

    ``log2(1 + minutes / frostbite_minutes(wc))``; 0 when frostbite is unlikely. It escalates
    past 1 at the frostbite time, past 2 at three times it, and so on.
    """
    tf = frostbite_minutes(wc)
    if math.isinf(tf) or minutes <= 0:
        return 0.0
    return min(MAX_STAGE, math.log2(1.0 + minutes / tf))


def vehicle_class_weight(vehicle_class: str | None) -> float:
    """Return the vehicle-class weight ``C`` (coach and hazmat 30, heavy truck 15, else 5)."""
    if not vehicle_class:
        return DEFAULT_CLASS_WEIGHT
    key = vehicle_class.strip().lower().replace("-", "_").replace(" ", "_")
    return CLASS_WEIGHTS.get(key, DEFAULT_CLASS_WEIGHT)


def highest_class(classes: Iterable[str | None]) -> str | None:
    """Return the class with the largest weight among `classes` (None if there is none)."""
    best: str | None = None
    for c in classes:
        if c and (best is None or vehicle_class_weight(c) > vehicle_class_weight(best)):
            best = c
    return best


def priority(
    *,
    people: int = 0,
    vulnerable: int = 0,
    vehicle_class: str | None = None,
    wind_chill_c: float | None = None,
    minutes_since_first_call: float = 0.0,
    fuel: float | None = None,
    fuel_low: bool = False,
) -> float:
    """Return the priority score of an incident (formula in the module docstring).

    Parameters
    ----------
    people
        People reported (0 when unknown).
    vulnerable
        Vulnerable occupants or people needing medical care.
    vehicle_class
        ``coach``/``bus``/``hazmat`` (30), ``heavy_truck``/``truck`` (15), other (5).
    wind_chill_c
        Wind chill in °C (None: unknown, no cold terms).
    minutes_since_first_call
        The cold-exposure clock.
    fuel
        Remaining fuel, share of the tank 0..1 (None: unknown, taken as full unless `fuel_low`).
    fuel_low
        A caller said the fuel is low (counts as 0.1 of a tank when `fuel` is None).

    Returns
    -------
    float
        The score, >= 5.
    """
    people = max(0, int(people))
    vulnerable = max(0, int(vulnerable))
    minutes = max(0.0, float(minutes_since_first_call))
    if fuel is None:
        fuel = 0.1 if fuel_low else 1.0
    fuel = min(1.0, max(0.0, float(fuel)))
    cold = 0.0
    if wind_chill_c is not None and not math.isnan(wind_chill_c):
        cold = max(0.0, -float(wind_chill_c)) / 10.0
    stage = exposure_stage(wind_chill_c, minutes)
    people_term = 10.0 * math.log2(1.0 + people) + 15.0 * vulnerable
    return (
        vehicle_class_weight(vehicle_class)
        + people_term * (1.0 + cold + 0.5 * stage)
        + 4.0 * min(minutes / 60.0, 24.0)
        + 20.0 * (1.0 - fuel)
    )


# severity of a road condition for hazard priority (closed and black ice worst)
CONDITION_SEVERITY: dict[str, float] = {
    "closed": 1.0,
    "black_ice": 0.9,
    "drifting_snow": 0.7,
    "snow_packed": 0.5,
    "poor_visibility": 0.4,
    "clear": 0.0,
}
ROAD_CLASS_WEIGHT: dict[str, float] = {
    "expressway": 1.0,
    "national": 0.9,
    "provincial": 0.8,
    "county": 0.6,
    "township": 0.5,
}


def hazard_priority(condition: str, confidence: float, road_class: str | None = None) -> float:
    """Return the priority of a hazard task: ``14 * severity * confidence * road weight``.

    At most 14, below any incident with one person in it (>= 15); monotonic in the
    confidence, the condition's severity (closed > black ice > drifting snow > snow-packed >
    poor visibility) and the road class (expressway > national > provincial > county > township).
    """
    sev = CONDITION_SEVERITY.get(condition, 0.3)
    road = ROAD_CLASS_WEIGHT.get(road_class or "", 0.6)
    return 14.0 * sev * min(1.0, max(0.0, float(confidence))) * road
