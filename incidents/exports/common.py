"""What the export formats share: agency, condition words, timestamps, open hazards, road labels."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.stakes import format_stake
from incidents.store.models import (
    Hazard,
    HazardState,
)

__all__ = ['AGENCY', 'CONDITION_ZH', 'CONDITION_EN', 'iso', 'zulu', 'open_hazards', 'road_label']


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


def open_hazards(session: Session) -> list[Hazard]:
    """Hazards not cleared, oldest first."""
    return list(
        session.scalars(
            select(Hazard)
            .where(Hazard.state != HazardState.CLEARED.value)
            .order_by(Hazard.first_seen, Hazard.id)
        )
    )


def road_label(code: str | None, km: float | None) -> str:
    """``G331 K12+300`` (the code alone without a km; empty without a code)."""
    if not code:
        return ""
    return f"{code} {format_stake(km)}" if km is not None else code
