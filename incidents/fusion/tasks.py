"""Which tasks an incident or a hazard needs, each with the capability it requires.

========================= ===================================================================
incident / hazard          tasks
========================= ===================================================================
stranded group             rescue, plow, traffic_control (+ medical when anyone is vulnerable
                           or a caller asked for medical help)
vehicle in ditch           heavy_tow + traffic_control for a heavy truck, coach or hazmat
                           vehicle; rescue + traffic_control for anything lighter
crash                      rescue + traffic_control (+ heavy_tow for a heavy vehicle,
                           + medical when someone is hurt or vulnerable)
road blocked               plow + traffic_control
black ice                  grit
drifting snow, snow-packed plow
closed                     traffic_control
poor visibility            nothing to dispatch (shown on the map)
========================= ===================================================================

A unit's ``capabilities`` use the same words as the task kinds, so ``capability == kind``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from incidents.store.models import Hazard, Incident, TaskKind

__all__ = ["TaskSpec", "tasks_for_hazard", "tasks_for_incident", "tasks_for"]

HEAVY_CLASSES = frozenset(
    {
        "heavy_truck",
        "truck",
        "semi_trailer",
        "freight",
        "coach",
        "bus",
        "passenger_coach",
        "hazmat",
        "hazardous",
        "tanker",
    }
)
# order in which a dispatcher would start them (people first)
TASK_ORDER = ("rescue", "medical", "heavy_tow", "plow", "traffic_control", "grit")


@dataclass(frozen=True)
class TaskSpec:
    """A task kind and the capability a unit needs for it."""

    kind: str
    capability: str

    @classmethod
    def of(cls, kind: TaskKind | str) -> TaskSpec:
        """The spec of a task kind (capability = kind)."""
        k = TaskKind(kind).value
        return cls(k, k)


def _specs(kinds: Iterable[str]) -> list[TaskSpec]:
    seen = dict.fromkeys(kinds)
    return [TaskSpec.of(k) for k in sorted(seen, key=TASK_ORDER.index)]


def tasks_for(
    kind: str,
    *,
    vehicle_class: str | None = None,
    vulnerable: int = 0,
    needs: Iterable[str] = (),
) -> list[TaskSpec]:
    """Tasks for an incident kind or a road condition (see the module table).

    Parameters
    ----------
    kind
        ``stranded``, ``crash``, ``vehicle_in_ditch``, ``road_blocked`` or a condition
        (``black_ice``, ``drifting_snow``, ``snow_packed``, ``closed``, ``poor_visibility``).
    vehicle_class
        The heaviest vehicle involved (``heavy_truck``, ``coach``, ``hazmat``, ``car`` ...).
    vulnerable
        Number of vulnerable occupants.
    needs
        Callers' needs (``medical``, ``fuel``, ``heat``, ``food``).
    """
    heavy = (vehicle_class or "").lower() in HEAVY_CLASSES
    medical = vulnerable > 0 or "medical" in set(needs)
    kinds: list[str]
    if kind == "stranded":
        kinds = ["rescue", "plow", "traffic_control"] + (["medical"] if medical else [])
    elif kind == "vehicle_in_ditch":
        kinds = ["heavy_tow" if heavy else "rescue", "traffic_control"]
        kinds += ["medical"] if medical else []
    elif kind == "crash":
        kinds = ["rescue", "traffic_control"] + (["heavy_tow"] if heavy else [])
        kinds += ["medical"] if medical else []
    elif kind == "road_blocked":
        kinds = ["plow", "traffic_control"]
    elif kind == "black_ice":
        kinds = ["grit"]
    elif kind in ("drifting_snow", "snow_packed"):
        kinds = ["plow"]
    elif kind == "closed":
        kinds = ["traffic_control"]
    else:
        kinds = []
    return _specs(kinds)


def tasks_for_incident(incident: Incident | Any) -> list[TaskSpec]:
    """Tasks an incident needs, from its kind, vehicle class, vulnerable count and needs."""
    return tasks_for(
        str(incident.kind),
        vehicle_class=incident.vehicle_class,
        vulnerable=int(incident.vulnerable or 0),
        needs=list(incident.needs or []),
    )


def tasks_for_hazard(hazard: Hazard | Any) -> list[TaskSpec]:
    """Tasks a hazard needs: grit for black ice, plow for snow, traffic control for closed."""
    return tasks_for(str(hazard.condition))
