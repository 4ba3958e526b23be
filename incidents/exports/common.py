"""What the export formats share: agency, condition words, timestamps, rows, road labels.

Every export reads through the read model (:mod:`incidents.queries`, the same reads as the
dashboard's); :func:`rows` turns its frames into plain rows (Python values, None for missing).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from geo.stakes import format_stake
from incidents import queries

__all__ = [
    'AGENCY', 'CONDITION_ZH', 'CONDITION_EN', 'iso', 'zulu', 'rows', 'open_hazards', 'road_label'
]


AGENCY = "winterops.nmg.local"


CONDITION_ZH = {
    "black_ice": "暗冰",
    "drifting_snow": "风吹雪",
    "snow_packed": "积雪压实",
    "poor_visibility": "低能见度",
    "closed": "道路封闭",
}


CONDITION_EN = {
    "black_ice": "black ice",
    "drifting_snow": "drifting snow",
    "snow_packed": "snow-packed road",
    "poor_visibility": "poor visibility",
    "closed": "road closed",
}


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 to the second (offset kept); None stays None."""
    return None if dt is None else dt.isoformat(timespec="seconds")


def zulu(dt: datetime) -> str:
    """UTC ``YYYY-MM-DDTHH:MM:SSZ``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _plain(value: Any) -> Any:
    """Return a frame cell as a plain Python value (NaN/NaT -> None, Timestamp -> datetime)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def rows(frame: pd.DataFrame) -> list[SimpleNamespace]:
    """Return the rows of a read-model frame as attribute rows of plain Python values."""
    return [
        SimpleNamespace(**{str(k): _plain(v) for k, v in rec.items()})
        for rec in frame.to_dict("records")
    ]


def open_hazards(session: Session) -> list[SimpleNamespace]:
    """Hazards not cleared (:func:`incidents.queries.hazards_open`), oldest first, then by id."""
    frame = queries.hazards_open(session)
    return rows(frame.sort_values(["first_seen", "id"], kind="stable"))


def road_label(code: str | None, km: float | None) -> str:
    """``G331 K12+300`` (the code alone without a km; empty without a code)."""
    if not code:
        return ""
    return f"{code} {format_stake(km)}" if km is not None else code
