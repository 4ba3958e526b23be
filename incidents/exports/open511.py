"""Open511 JSON events: open incidents and road conditions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shapely.geometry import mapping
from sqlalchemy.orm import Session

from incidents import queries
from incidents.exports.common import AGENCY, CONDITION_EN, iso, open_hazards, road_label, rows
from incidents.store.models import utcnow

__all__ = ['open511_events']


def open511_events(
    session: Session, *, jurisdiction: str = AGENCY, now: datetime | None = None
) -> dict[str, Any]:
    """Open511 JSON: open incidents (INCIDENT) and road conditions (WEATHER_CONDITION)."""
    now = now or utcnow()
    base = f"https://{jurisdiction}"
    events = []
    for inc in rows(queries.incidents_open(session).sort_values("id", kind="stable")):
        if inc.geometry is None:
            continue
        sev = "MAJOR" if inc.people >= 10 or inc.priority >= 100 else "MODERATE"
        events.append(
            {
                "id": f"{jurisdiction}/incident-{inc.id}",
                "url": f"{base}/events/{jurisdiction}/incident-{inc.id}",
                "jurisdiction_url": f"{base}/jurisdiction",
                "status": "ACTIVE",
                "event_type": "INCIDENT",
                "severity": sev,
                "headline": inc.title or inc.kind,
                "description": f"{inc.kind}; {inc.vehicles} vehicles, {inc.people} people",
                "created": iso(inc.first_report_at),
                "updated": iso(inc.last_report_at),
                "schedule": {"intervals": [f"{iso(inc.first_report_at)}/"]},
                "roads": [
                    {"name": inc.road_code or "", "from": road_label(inc.road_code, inc.km)}
                ],
                "geography": mapping(inc.geometry),
            }
        )
    for h in open_hazards(session):
        if h.geometry is None:
            continue
        closed = h.condition == "closed"
        events.append(
            {
                "id": f"{jurisdiction}/hazard-{h.id}",
                "url": f"{base}/events/{jurisdiction}/hazard-{h.id}",
                "jurisdiction_url": f"{base}/jurisdiction",
                "status": "ACTIVE",
                "event_type": "WEATHER_CONDITION",
                "event_subtypes": ["ROAD_CLOSED"]
                if closed
                else ["ICE" if h.condition == "black_ice" else "SNOW"],
                "severity": "MAJOR" if closed else "MODERATE",
                "headline": f"{CONDITION_EN.get(h.condition, h.condition)} on {road_label(h.road_code, h.km)}",
                "created": iso(h.first_seen),
                "updated": iso(h.last_seen),
                "schedule": {"intervals": [f"{iso(h.first_seen)}/"]},
                "roads": [
                    {
                        "name": h.road_code or "",
                        "from": road_label(h.road_code, h.km),
                        "state": "CLOSED" if closed else "OPEN",
                    }
                ],
                "geography": mapping(h.geometry),
            }
        )
    return {"meta": {"version": "v1", "generated": iso(now)}, "events": events}
