"""WZDx v4.2 work zone feed (GeoJSON) for closures and winter restrictions.

Validated against the official WZDx 4.2 ``WorkZoneFeed.json`` in the tests
(``tests/test_export_schemas.py``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from shapely.geometry import MultiPoint, mapping
from sqlalchemy.orm import Session

from incidents.exports.common import CONDITION_EN, CONDITION_ZH, open_hazards, road_label, zulu
from incidents.store.models import (
    utcnow,
)

__all__ = ['NS_WZDX', 'SPEED_KPH', 'wzdx_feed']


NS_WZDX = uuid.UUID("6f1c8f4e-3a39-4a47-9b0b-2a1d8f0a9e11")


SPEED_KPH = {"black_ice": 40.0, "drifting_snow": 30.0, "snow_packed": 50.0, "poor_visibility": 40.0}


def _road_event(h: SimpleNamespace, end: str) -> dict[str, Any]:
    """Return the WZDx ``work-zone`` feature of one open hazard (see :func:`wzdx_feed`)."""
    closed = h.condition == "closed"
    core = {
        "data_source_id": "1",
        "event_type": "work-zone",
        "road_names": [h.road_code or "unknown"],
        "direction": "unknown",
        "name": f"hazard-{h.id}",
        "description": f"{CONDITION_EN.get(h.condition, h.condition)} "
        f"({CONDITION_ZH.get(h.condition, h.condition)}) on {road_label(h.road_code, h.km)}",
        "creation_date": zulu(h.first_seen),
        "update_date": zulu(h.last_seen),
    }
    props: dict[str, Any] = {
        "core_details": core,
        "start_date": zulu(h.first_seen),
        "end_date": end,
        "is_start_date_verified": True,
        "is_end_date_verified": False,
        "is_start_position_verified": False,
        "is_end_position_verified": False,
        "location_method": "other",
        "vehicle_impact": "all-lanes-closed" if closed else "all-lanes-open",
        "types_of_work": [{"type_name": "maintenance", "is_architectural_change": False}],
    }
    if h.km is not None:
        props["beginning_milepost"] = round(float(h.km), 3)
        props["ending_milepost"] = round(float(h.km) + 1.0, 3)
    if not closed:
        props["reduced_speed_limit_kph"] = SPEED_KPH.get(h.condition, 40.0)
    geom = h.geometry
    if geom.geom_type != "LineString":
        geom = MultiPoint([geom.centroid])
    return {
        "id": str(uuid.uuid5(NS_WZDX, f"hazard-{h.id}")),
        "type": "Feature",
        "properties": props,
        "geometry": mapping(geom),
    }


def wzdx_feed(
    session: Session,
    *,
    publisher: str = "winterops",
    now: datetime | None = None,
    horizon_h: float = 6.0,
) -> dict[str, Any]:
    """WZDx v4.2 work zone feed (GeoJSON) for closures and winter restrictions.

    Every open hazard is a ``work-zone`` road event of winter maintenance (``types_of_work``
    ``maintenance``; WZDx 4.2's feed carries only work zones and detours, its
    ``restriction`` events are gone): a closed segment has ``vehicle_impact``
    ``all-lanes-closed``; black ice, drifting snow, snow-packed roads and poor visibility keep
    the lanes open with a reduced speed limit (``reduced_speed_limit_kph``). ``end_date``
    (required) is `horizon_h` hours after `now`, not verified. Geometry: the hazard's road
    segment (LineString, WGS84); any other shape is given by its centroid as a MultiPoint.
    """
    now = now or utcnow()
    end = zulu(now + timedelta(hours=horizon_h))
    features = [_road_event(h, end) for h in open_hazards(session) if h.geometry is not None]
    return {
        "feed_info": {
            "update_date": zulu(now),
            "publisher": publisher,
            "version": "4.2",
            "license": "https://creativecommons.org/publicdomain/zero/1.0/",
            "data_sources": [
                {
                    "data_source_id": "1",
                    "organization_name": publisher,
                    "update_frequency": 300,
                    "update_date": zulu(now),
                }
            ],
        },
        "type": "FeatureCollection",
        "features": features,
    }
