"""Weather at a point: the admin's configured observation and the wind chill under live alerts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from incidents.fusion.priority import wind_chill
from incidents.store.models import Alert
from incidents.store.runtime import OBSERVATIONS, observation

__all__ = ["OBSERVATIONS_KEY", "configured_observation", "wind_chill_at"]


OBSERVATIONS_KEY = OBSERVATIONS.name


def configured_observation(session: Session) -> tuple[float | None, float | None]:
    """Temperature (°C) and wind (km/h) an admin configured, used where no alert says.

    Read through :func:`incidents.store.runtime.observation` (``app_settings`` key
    ``observations``: ``{"temperature_c": -32, "wind_kmh": 25}``).
    """
    temperature_c, wind_kmh = observation(session)
    return temperature_c, wind_kmh


def wind_chill_at(
    alerts: Sequence[Alert],
    point: Any,
    observed: tuple[float | None, float | None] = (None, None),
) -> float | None:
    """Wind chill (°C) at `point`; None when no temperature is known.

    The coldest temperature and the strongest wind among the live alerts whose area covers it
    (a cold-wave alert gives one, a gale alert the other), each falling back to the configured
    observation.
    """
    if point is None:
        return None
    temps = [
        a.temperature_c
        for a in alerts
        if a.temperature_c is not None and a.area is not None and a.area.covers(point)
    ]
    winds = [
        a.wind_kmh
        for a in alerts
        if a.wind_kmh is not None and a.area is not None and a.area.covers(point)
    ]
    t = min(temps) if temps else observed[0]
    v = max(winds) if winds else observed[1]
    if t is None:
        return None
    return float(wind_chill(t, v if v is not None else 0.0))
