"""Weather at a point: the admin's configured observation and the wind chill under live alerts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from incidents.fusion.priority import wind_chill
from incidents.store.models import (
    Alert,
    Setting,
)

__all__ = ['OBSERVATIONS_KEY', 'configured_observation', 'wind_chill_at']


OBSERVATIONS_KEY = "observations"


def configured_observation(session: Session) -> tuple[float | None, float | None]:
    """Temperature (°C) and wind (km/h) an admin configured (``app_settings`` key
    ``observations``: ``{"temperature_c": -32, "wind_kmh": 25}``), used where no alert says."""
    row = session.get(Setting, OBSERVATIONS_KEY)
    value = row.value if row is not None and isinstance(row.value, Mapping) else {}

    def num(key: str) -> float | None:
        try:
            v = float(value[key])
        except (KeyError, TypeError, ValueError):
            return None
        return v if math.isfinite(v) else None

    return num("temperature_c"), num("wind_kmh")


def wind_chill_at(
    alerts: Sequence[Alert],
    point: Any,
    observed: tuple[float | None, float | None] = (None, None),
) -> float | None:
    """Wind chill (°C) at `point`: the coldest temperature and the strongest wind among the live
    alerts whose area covers it (a cold-wave alert gives one, a gale alert the other), each
    falling back to the configured observation; None when no temperature is known."""
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
