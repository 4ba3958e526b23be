"""What a report says about a road (:func:`classify`), source reliabilities and decay.

The per-source knowledge (classifier, reliability, half-life, point kinds) lives in the source
registry, :mod:`ingest.registry`; this module reads it for fusion.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any

import numpy as np

from incidents.settings import Settings
from incidents.store.models import (
    Condition,
)
from ingest.records import Classified
from ingest.registry import EVIDENCE, evidence_of
from ingest.registry import classify as classify_report

__all__ = ['SOURCE_RELIABILITY', 'OBSERVED_THRESHOLD', 'CONFIDENCE_STEP', 'HORIZON_HALF_LIVES', 'POINT_KINDS', 'CONDITION_ORDER', 'INCIDENT_KINDS', 'SEVERITY_RANK', 'OFF_ROAD_SEARCH_M', 'report_source', 'Classified', 'classify', 'decay', 'half_lives', 'horizon']


SOURCE_RELIABILITY: Mapping[str, float] = MappingProxyType(
    {name: e.reliability for name, e in EVIDENCE.items()}
)  # from the source registry (ingest.registry)


OBSERVED_THRESHOLD = 0.25


CONFIDENCE_STEP = 0.01  # a current row's confidence is rewritten when it moves more than this


HORIZON_HALF_LIVES = 6.0  # evidence older than this many half-lives (< 2 %) is ignored


POINT_KINDS = tuple(k for e in EVIDENCE.values() for k in e.point_kinds)


CONDITION_ORDER = tuple(c.value for c in Condition)  # worst first


INCIDENT_KINDS = ("stranded", "crash", "vehicle_in_ditch", "road_blocked")


SEVERITY_RANK = {c: i for i, c in enumerate(CONDITION_ORDER)}


OFF_ROAD_SEARCH_M = 100_000.0


def report_source(kind: str) -> str:
    """Return the evidence source of a report kind (drone, call, waze, patrol, alert)."""
    evidence = evidence_of(kind)
    return evidence.source if evidence is not None else kind


def classify(kind: str, subtype: str | None, attributes: Mapping[str, Any] | None) -> Classified:
    """Say what a report means for the road: a condition, an incident, or "clear".

    Each source's own classifier, as the registry names it (:func:`ingest.registry.classify`).

    Parameters
    ----------
    kind
        Report kind (``drone_detection``, ``call``, ``waze``, ``patrol`` ...).
    subtype
        The report's subtype (drone detection type, Waze subtype, call type, patrol condition).
    attributes
        The report's attributes (calls: ``event_type`` or ``notes``; Waze: ``type``).
    """
    return classify_report(kind, subtype, attributes)


def decay(age_h: Any, half_life_h: Any) -> Any:
    """Return ``0.5 ** (age_h / half_life_h)`` (vectorised; negative ages count as 0)."""
    age = np.maximum(np.asarray(age_h, dtype=np.float64), 0.0)
    return np.power(0.5, age / np.asarray(half_life_h, dtype=np.float64))


def half_lives(settings: Settings) -> dict[str, float]:
    """Half-life (hours) of the evidence of each source, defaults overridden by `settings`."""
    out = {name: e.half_life_h for name, e in EVIDENCE.items()}
    out.update({k: float(v) for k, v in settings.half_life_hours.items()})
    return out


def horizon(settings: Settings) -> timedelta:
    """Return how far back evidence is read: 6 of the longest observed-source half-lives."""
    hl = half_lives(settings)
    longest = max(v for k, v in hl.items() if k != "alert")
    return timedelta(hours=HORIZON_HALF_LIVES * longest)
