"""Fusion: reports -> road conditions (hazards), incidents, tasks, hotspots and coverage, with priorities."""

from incidents.fusion.core import (
    CoverageResult,
    FusionSummary,
    configured_observation,
    coverage,
    current_hotspots,
    fuse,
    hotspot_weights,
    hotspots_from_evidence,
    hotspots_geojson,
    merge_incidents,
    split_incident,
    wind_chill_at,
)

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
