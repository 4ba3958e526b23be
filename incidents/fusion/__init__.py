"""Fusion: reports -> road conditions (hazards), incidents, tasks, hotspots, coverage, priorities.

One module per concern: :mod:`~incidents.fusion.pipeline` (:func:`fuse`),
:mod:`~incidents.fusion.conditions` (snapping, evidence, segment conditions),
:mod:`~incidents.fusion.hazards`, :mod:`~incidents.fusion.incidents` (merging reports, with the
reason of every merge), :mod:`~incidents.fusion.manual` (split / merge by hand),
:mod:`~incidents.fusion.tasks`, :mod:`~incidents.fusion.hotspots`,
:mod:`~incidents.fusion.coverage`, :mod:`~incidents.fusion.weather`,
:mod:`~incidents.fusion.priority`.
"""

from incidents.fusion.coverage import CoverageResult, coverage
from incidents.fusion.hotspots import (
    current_hotspots,
    hotspot_weights,
    hotspots_from_evidence,
    hotspots_geojson,
)
from incidents.fusion.manual import merge_incidents, split_incident
from incidents.fusion.pipeline import fuse
from incidents.fusion.summary import FusionSummary
from incidents.fusion.weather import configured_observation, wind_chill_at

__all__ = [
    "configured_observation",
    "coverage",
    "CoverageResult",
    "current_hotspots",
    "fuse",
    "FusionSummary",
    "hotspot_weights",
    "hotspots_from_evidence",
    "hotspots_geojson",
    "merge_incidents",
    "split_incident",
    "wind_chill_at",
]
