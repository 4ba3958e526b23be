"""What one fusion run changed: :class:`FusionSummary`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ['FusionSummary']


@dataclass
class FusionSummary:
    """What one :func:`fuse` run did."""

    reports_fused: int = 0
    off_road: int = 0
    segments_evaluated: int = 0
    conditions_opened: int = 0
    conditions_closed: int = 0
    conditions_updated: int = 0
    hazards_opened: int = 0
    hazards_updated: int = 0
    hazards_cleared: int = 0
    incidents_created: int = 0
    reports_merged: int = 0
    incidents_updated: int = 0
    tasks_created: int = 0
    tasks_cancelled: int = 0

    def to_json(self) -> dict[str, int]:
        """Return the summary as a JSON-ready dict."""
        return asdict(self)
