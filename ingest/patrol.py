"""Patrol reports: what a patrol lead reports from the tablet (no feed, no parser).

The dashboard's patrol page stores them (kind ``patrol``, subtype = the condition or event the
lead tapped: a road condition, ``clear``/``cleared``, or a drone detection word such as
``stranded_vehicle``); fusion reads them through :func:`classify_patrol`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.drone import DETECTION_MEANS
from ingest.records import ROAD_CONDITIONS, Classified

__all__ = ["classify_patrol"]


def classify_patrol(kind: str, subtype: str, attributes: Mapping[str, Any]) -> Classified:
    """Say what a patrol report means: clear, a road condition, or a detection word.

    Parameters
    ----------
    kind
        ``patrol``.
    subtype
        What the lead tapped (``black_ice``, ``closed``, ``cleared``, ``stranded_vehicle`` ...).
    attributes
        The report's attributes (not read).
    """
    key = subtype.strip().lower()
    if key in ("clear", "cleared"):
        return Classified(clear=True)
    if key in ROAD_CONDITIONS:
        return Classified(key, "road_blocked" if key == "closed" else None)
    return DETECTION_MEANS.get(key, Classified())
