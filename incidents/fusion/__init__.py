"""Fusion: reports -> road conditions (hazards), incidents, tasks, hotspots and coverage, with priorities."""
