"""Exports in standard exchange formats.

- :func:`eido_documents`: NENA EIDO JSON, one document per incident (the component lists and
  ``$id`` / ``$ref`` links of the NENA sample: call, callback, agency, agent, additional data,
  location as PIDF-LO, person; plus incident and unit components);
- :func:`open511_events`: Open511 JSON events (incidents and road conditions);
- :func:`wzdx_feed`: WZDx v4.2 GeoJSON road events for closures and restrictions;
- :func:`cap_notice`: a CAP 1.2 public road-condition notice (zh-CN and en-US info blocks, one
  area per hazardous stretch; :func:`ingest.cap.parse_cap` reads it back);
- :func:`layers`, :func:`write_gpkg`, :func:`geojson_layer`: GeoPackage and GeoJSON of incidents,
  hazards, tasks, units and assignments (pyogrio);
- :func:`csv_layer`: CSV safe against formula injection (a text cell starting with ``=``,
  ``+``, ``-``, ``@``, tab or carriage return is prefixed with ``'``).

Free text from outside (caller notes, reasons) is exported as data, never interpreted.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.crs import from_metric, to_metric
from geo.stakes import format_stake
from incidents.store.models import (
    Assignment,
    Hazard,
    HazardState,
    Incident,
    IncidentStatus,
    Report,
    Task,
    Unit,
    utcnow,
)

__all__ = [
    "CSV_DANGEROUS",
    "EXPORT_KINDS",
    "LAYERS",
    "cap_notice",
    "csv_layer",
    "eido_documents",
    "geojson_layer",
    "layers",
    "open511_events",
    "safe_cell",
    "write_gpkg",
    "wzdx_feed",
]

EXPORT_KINDS = ("eido", "open511", "wzdx", "cap", "geojson", "gpkg", "csv")
LAYERS = ("incidents", "hazards", "tasks", "units", "assignments")
CSV_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
AGENCY = "winterops.nmg.local"
NS_WZDX = uuid.UUID("6f1c8f4e-3a39-4a47-9b0b-2a1d8f0a9e11")

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
SPEED_KPH = {"black_ice": 40.0, "drifting_snow": 30.0, "snow_packed": 50.0, "poor_visibility": 40.0}


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat(timespec="seconds")


def _zulu(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------------
# NENA EIDO
# ------------------------------------------------------------------------------------------


def _pidf(lon: float, lat: float, entity: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?> <presence xmlns="urn:ietf:params:xml:ns:pidf" '
        'xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" '
        'xmlns:gml="http://www.opengis.net/gml" '
        'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
        f'entity={quoteattr(entity)}> <dm:device id="winterops"> <gp:geopriv> '
        '<gp:location-info> <gml:Point srsName="urn:ogc:def:crs:EPSG::4326"> '
        f"<gml:pos>{lat:.6f} {lon:.6f}</gml:pos> </gml:Point> </gp:location-info> "
        "<gp:usage-rules/> <gp:method>winterops</gp:method> </gp:geopriv> </dm:device> </presence>"
    )


def eido_documents(
    session: Session,
    incident_ids: list[int] | None = None,
    *,
    agency: str = AGENCY,
    agent: str = "dispatcher",
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """One NENA EIDO JSON document per (open, or listed) incident.

    Structure follows the NENA EIDO sample: the same top-level component lists, every
    component with ``$id`` and ``lastUpdateTimeStamp``, links as ``{"$ref": id}``; the location
    by value as PIDF-LO with a GML point. Caller phones are exported masked, as stored.
    """
    now = now or utcnow()
    stamp = _iso(now)
    agent_id = f"{agent}@{agency}"
    stmt = select(Incident).order_by(Incident.id)
    if incident_ids:
        stmt = stmt.where(Incident.id.in_(incident_ids))
    else:
        stmt = stmt.where(Incident.status == IncidentStatus.OPEN.value)
    docs = []
    for inc in session.scalars(stmt):
        iid = f"urn:emergency:uid:incidentid:{inc.id}:{agency}"
        ref_agency = {"$ref": agency}
        ref_agent = {"$ref": agent_id}
        calls, callbacks, persons, extra = [], [], [], []
        reports = (
            session.scalars(
                select(Report).where(Report.id.in_(list(inc.report_ids or []))).order_by(Report.id)
            ).all()
            if inc.report_ids
            else []
        )
        loc_id = f"urn:winterops:location:incident:{inc.id}"
        for r in reports:
            if r.kind != "call":
                continue
            attrs = r.attributes or {}
            call_id = f"urn:emergency:uid:callid:{r.natural_key}:{agency}"
            cb_id = f"urn:winterops:callback:{r.id}"
            person_id = f"urn:winterops:person:{r.id}"
            note_id = f"urn:winterops:note:{r.id}"
            calls.append(
                {
                    "$id": call_id,
                    "lastUpdateTimeStamp": _iso(r.received_at) or stamp,
                    "updatedByAgencyReference": ref_agency,
                    "updatedByAgentReference": ref_agent,
                    "queueIdentifier": f"calls@{agency}",
                    "standardPrimaryCallType": "emergency",
                    "direction": "incoming",
                    "additionalDataReference": [{"$ref": note_id}],
                    "callStartTimestamp": _iso(r.observed_at),
                    "answerDate": _iso(r.observed_at),
                    "callStateRegistryText": "callAnswered",
                    "callBackReference": {"$ref": cb_id},
                    "agentReference": [ref_agent],
                    "locationReference": [{"$ref": loc_id}],
                    "personReference": [{"$ref": person_id}],
                }
            )
            callbacks.append(
                {
                    "$id": cb_id,
                    "lastUpdateTimeStamp": _iso(r.observed_at),
                    "updatedByAgencyReference": ref_agency,
                    "updatedByAgentReference": ref_agent,
                    "callBackInformationUri": [f"tel:{attrs.get('phone_masked') or 'withheld'}"],
                }
            )
            persons.append(
                {
                    "$id": person_id,
                    "lastUpdateTimeStamp": _iso(r.observed_at),
                    "updatedByAgencyReference": ref_agency,
                    "personIncidentRoleRegistryText": ["Caller"],
                    "callIdentifier": [call_id],
                    "callBackReference": {"$ref": cb_id},
                }
            )
            extra.append(
                {
                    "$id": note_id,
                    "lastUpdateTimeStamp": _iso(r.observed_at),
                    "updatedByAgencyReference": ref_agency,
                    "additionalDataByValue": json.dumps(
                        {
                            "vehicles": attrs.get("vehicles"),
                            "people": attrs.get("people"),
                            "vulnerable": attrs.get("vulnerable"),
                            "vehicle_class": attrs.get("vehicle_class"),
                            "needs": attrs.get("needs"),
                            "notes": attrs.get("notes"),
                        },
                        ensure_ascii=False,
                    ),
                }
            )
        p = inc.geometry
        locations = []
        if p is not None:
            locations.append(
                {
                    "$id": loc_id,
                    "lastUpdateTimeStamp": _iso(inc.last_report_at),
                    "updatedByAgencyReference": ref_agency,
                    "locationTypeDescriptionRegistryText": "Incident",
                    "locationByValue": _pidf(p.x, p.y, f"pres:incident-{inc.id}@{agency}"),
                }
            )
        units = []
        tasks = session.scalars(select(Task).where(Task.incident_id == inc.id)).all()
        for t in tasks:
            for a in session.scalars(select(Assignment).where(Assignment.task_id == t.id)):
                units.append(
                    {
                        "$id": f"urn:winterops:unit:{a.unit_id}:assignment:{a.id}",
                        "lastUpdateTimeStamp": _iso(a.confirmed_at or a.recommended_at),
                        "updatedByAgencyReference": ref_agency,
                        "unitIdentifier": a.unit_id,
                        "unitStatusRegistryText": a.state,
                        "unitTaskText": t.kind,
                        "incidentReference": {"$ref": iid},
                    }
                )
        docs.append(
            {
                "$id": iid,
                "lastUpdateTimeStamp": stamp,
                "updatedByAgencyReference": ref_agency,
                "updatedByAgentReference": ref_agent,
                "eidoVersion": "1.0",
                "issuingElementIdentification": f"winterops.{agency}",
                "incidentComponent": [
                    {
                        "$id": f"urn:winterops:incident-component:{inc.id}",
                        "lastUpdateTimeStamp": _iso(inc.last_report_at),
                        "updatedByAgencyReference": ref_agency,
                        "incidentTrackingIdentifier": iid,
                        "incidentTypeCommonRegistryText": [inc.kind],
                        "incidentStatusCommonRegistryText": [inc.status],
                        "incidentSummaryText": inc.title,
                        "incidentPriorityNumber": round(float(inc.priority or 0), 1),
                        "locationReference": [{"$ref": loc_id}] if locations else [],
                        "callReference": [{"$ref": c["$id"]} for c in calls],
                        "unitReference": [{"$ref": u["$id"]} for u in units],
                        "peopleCount": int(inc.people or 0),
                        "vehicleCount": int(inc.vehicles or 0),
                    }
                ],
                "callComponent": calls,
                "callbackComponent": callbacks,
                "agencyComponent": [
                    {
                        "$id": agency,
                        "lastUpdateTimeStamp": stamp,
                        "updatedByAgencyReference": ref_agency,
                        "agencyRoleDescriptionRegistryText": ["CallReceiving", "Dispatching"],
                        "agencyType": ["psap"],
                    }
                ],
                "agentComponent": [
                    {
                        "$id": agent_id,
                        "lastUpdateTimeStamp": stamp,
                        "updatedByAgencyReference": ref_agency,
                        "updatedByAgentReference": ref_agent,
                        "agentWorkstationPositionIdentification": "1",
                        "agentRoleRegistryText": ["Dispatching"],
                        "agencyReference": ref_agency,
                    }
                ],
                "additionalDataComponent": extra,
                "locationComponent": locations,
                "personComponent": persons,
                "unitComponent": units,
                "@context": {"@vocab": "./JSON-LD_Contexts/EmergencyIncidentDataObjectType.jsonld"},
            }
        )
    return docs


# ------------------------------------------------------------------------------------------
# Open511 and WZDx
# ------------------------------------------------------------------------------------------


def _open_hazards(session: Session) -> list[Hazard]:
    return list(
        session.scalars(
            select(Hazard)
            .where(Hazard.state != HazardState.CLEARED.value)
            .order_by(Hazard.first_seen, Hazard.id)
        )
    )


def _road_label(code: str | None, km: float | None) -> str:
    if not code:
        return ""
    return f"{code} {format_stake(km)}" if km is not None else code


def open511_events(
    session: Session, *, jurisdiction: str = AGENCY, now: datetime | None = None
) -> dict[str, Any]:
    """Open511 JSON: open incidents (INCIDENT) and road conditions (WEATHER_CONDITION)."""
    now = now or utcnow()
    base = f"https://{jurisdiction}"
    events = []
    for inc in session.scalars(
        select(Incident).where(Incident.status == IncidentStatus.OPEN.value).order_by(Incident.id)
    ):
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
                "created": _iso(inc.first_report_at),
                "updated": _iso(inc.last_report_at),
                "schedule": {"intervals": [f"{_iso(inc.first_report_at)}/"]},
                "roads": [
                    {"name": inc.road_code or "", "from": _road_label(inc.road_code, inc.km)}
                ],
                "geography": mapping(inc.geometry),
            }
        )
    for h in _open_hazards(session):
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
                "headline": f"{CONDITION_EN.get(h.condition, h.condition)} on {_road_label(h.road_code, h.km)}",
                "created": _iso(h.first_seen),
                "updated": _iso(h.last_seen),
                "schedule": {"intervals": [f"{_iso(h.first_seen)}/"]},
                "roads": [
                    {
                        "name": h.road_code or "",
                        "from": _road_label(h.road_code, h.km),
                        "state": "CLOSED" if closed else "OPEN",
                    }
                ],
                "geography": mapping(h.geometry),
            }
        )
    return {"meta": {"version": "v1", "generated": _iso(now)}, "events": events}


def wzdx_feed(
    session: Session, *, publisher: str = "winterops", now: datetime | None = None
) -> dict[str, Any]:
    """WZDx v4.2 road-event feed (GeoJSON) for closures and winter restrictions.

    A closed segment is a road event with ``vehicle_impact`` ``all-lanes-closed``; black ice,
    drifting snow, snow-packed roads and poor visibility are ``restriction`` events with a
    reduced speed limit. Geometry: the hazard's road segment (LineString, WGS84).
    """
    now = now or utcnow()
    features = []
    for h in _open_hazards(session):
        if h.geometry is None:
            continue
        closed = h.condition == "closed"
        core = {
            "data_source_id": "1",
            "event_type": "work-zone" if closed else "restriction",
            "road_names": [h.road_code or "unknown"],
            "direction": "unknown",
            "name": f"hazard-{h.id}",
            "description": f"{CONDITION_EN.get(h.condition, h.condition)} "
            f"({CONDITION_ZH.get(h.condition, h.condition)}) on {_road_label(h.road_code, h.km)}",
            "creation_date": _zulu(h.first_seen),
            "update_date": _zulu(h.last_seen),
        }
        props: dict[str, Any] = {
            "core_details": core,
            "start_date": _zulu(h.first_seen),
            "end_date": None,
            "is_start_date_verified": True,
            "is_end_date_verified": False,
            "is_start_position_verified": False,
            "is_end_position_verified": False,
            "location_method": "other",
            "vehicle_impact": "all-lanes-closed" if closed else "all-lanes-open",
        }
        if h.km is not None:
            props["beginning_milepost"] = round(float(h.km), 3)
            props["ending_milepost"] = round(float(h.km) + 1.0, 3)
        if closed:
            props["work_zone_type"] = "static"
        else:
            props["reduced_speed_limit_kph"] = SPEED_KPH.get(h.condition, 40.0)
            props["restrictions"] = [
                {"type": "reduced-speed", "value": SPEED_KPH.get(h.condition, 40.0), "unit": "kph"}
            ]
        geom = h.geometry if h.geometry.geom_type == "LineString" else h.geometry.centroid
        features.append(
            {
                "id": str(uuid.uuid5(NS_WZDX, f"hazard-{h.id}")),
                "type": "Feature",
                "properties": props,
                "geometry": mapping(geom),
            }
        )
    return {
        "feed_info": {
            "update_date": _zulu(now),
            "publisher": publisher,
            "version": "4.2",
            "license": "https://creativecommons.org/publicdomain/zero/1.0/",
            "data_sources": [
                {
                    "data_source_id": "1",
                    "organization_name": publisher,
                    "update_frequency": 300,
                    "update_date": _zulu(now),
                }
            ],
        },
        "type": "FeatureCollection",
        "features": features,
    }


# ------------------------------------------------------------------------------------------
# CAP public notice
# ------------------------------------------------------------------------------------------


def _cap_polygon(geom: BaseGeometry, buffer_m: float = 150.0) -> str:
    poly = from_metric(to_metric(geom).buffer(buffer_m, quad_segs=2))
    poly = shapely.simplify(poly, 0.0005)
    ring = list(poly.exterior.coords)
    return " ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in ring)


def cap_notice(
    session: Session,
    *,
    sender: str = f"notices@{AGENCY}",
    now: datetime | None = None,
    expires_h: float = 6.0,
) -> bytes:
    """A CAP 1.2 public road-condition notice covering every open hazard (zh-CN and en-US).

    Returns
    -------
    bytes
        UTF-8 XML of one ``<alert>``; ``<info>`` per language, one ``<area>`` per hazard.
        With no open hazards, a notice that roads are clear (no area).
    """
    now = now or utcnow()
    hazards = [h for h in _open_hazards(session) if h.geometry is not None]
    ident = f"winterops-roads-{now.strftime('%Y%m%dT%H%M%SZ')}"
    sent = now.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    expires = (now + timedelta(hours=expires_h)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    roads = sorted({h.road_code for h in hazards if h.road_code})

    def info(lang: str) -> str:
        zh = lang.startswith("zh")
        if zh:
            event = "道路结冰积雪路况通告"
            headline = f"{len(hazards)}处路段有暗冰、积雪或封闭：{'、'.join(roads) or '无'}"
            desc = "；".join(
                f"{_road_label(h.road_code, h.km)} {CONDITION_ZH.get(h.condition, h.condition)}"
                for h in hazards
            )
            instruction = "请减速慢行，保持车距，非必要不出行。"
        else:
            event = "Road condition notice: ice and snow"
            headline = f"{len(hazards)} road stretches with ice, snow or closures: {', '.join(roads) or 'none'}"
            desc = "; ".join(
                f"{_road_label(h.road_code, h.km)} {CONDITION_EN.get(h.condition, h.condition)}"
                for h in hazards
            )
            instruction = "Slow down, keep your distance, travel only if necessary."
        areas = "".join(
            "    <area>\n"
            f"      <areaDesc>{escape(_road_label(h.road_code, h.km) or f'hazard {h.id}')}</areaDesc>\n"
            f"      <polygon>{_cap_polygon(h.geometry)}</polygon>\n"  # type: ignore[arg-type]
            "    </area>\n"
            for h in hazards
        )
        return (
            "  <info>\n"
            f"    <language>{lang}</language>\n"
            "    <category>Transport</category>\n"
            f"    <event>{escape(event)}</event>\n"
            "    <urgency>Immediate</urgency>\n"
            f"    <severity>{'Severe' if any(h.condition == 'closed' for h in hazards) else 'Moderate'}</severity>\n"
            "    <certainty>Observed</certainty>\n"
            f"    <effective>{sent}</effective>\n"
            f"    <expires>{expires}</expires>\n"
            f"    <senderName>{'winterops 路况通告' if zh else 'winterops road notices'}</senderName>\n"
            f"    <headline>{escape(headline)}</headline>\n"
            f"    <description>{escape(desc or headline)}</description>\n"
            f"    <instruction>{escape(instruction)}</instruction>\n"
            f"{areas}"
            "  </info>\n"
        )

    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">\n'
        f"  <identifier>{ident}</identifier>\n"
        f"  <sender>{escape(sender)}</sender>\n"
        f"  <sent>{sent}</sent>\n"
        "  <status>Actual</status>\n"
        "  <msgType>Alert</msgType>\n"
        "  <scope>Public</scope>\n" + info("zh-CN") + info("en-US") + "</alert>\n"
    )
    return xml.encode("utf-8")


# ------------------------------------------------------------------------------------------
# GeoPackage, GeoJSON, CSV
# ------------------------------------------------------------------------------------------


def _frame(rows: list[dict[str, Any]], geoms: list[BaseGeometry | None]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)


def layers(session: Session) -> dict[str, gpd.GeoDataFrame]:
    """The exportable layers: incidents, hazards, tasks, units, assignments (WGS84)."""
    incs = session.scalars(select(Incident).order_by(Incident.id)).all()
    hz = session.scalars(select(Hazard).order_by(Hazard.id)).all()
    tasks = session.scalars(select(Task).order_by(Task.id)).all()
    units = session.scalars(select(Unit).order_by(Unit.id)).all()
    asg = session.scalars(select(Assignment).order_by(Assignment.id)).all()
    out = {
        "incidents": _frame(
            [
                {
                    "id": i.id,
                    "kind": i.kind,
                    "status": i.status,
                    "title": i.title,
                    "road_code": i.road_code,
                    "km": i.km,
                    "vehicles": i.vehicles,
                    "people": i.people,
                    "vulnerable": i.vulnerable,
                    "priority": i.priority,
                    "first_report_at": _iso(i.first_report_at),
                    "notes": i.notes,
                }
                for i in incs
            ],
            [i.geometry for i in incs],
        ),
        "hazards": _frame(
            [
                {
                    "id": h.id,
                    "condition": h.condition,
                    "state": h.state,
                    "road_code": h.road_code,
                    "km": h.km,
                    "section_id": h.section_id,
                    "road_chief_id": h.road_chief_id,
                    "first_seen": _iso(h.first_seen),
                    "cleared_at": _iso(h.cleared_at),
                    "cleared_by": h.cleared_by,
                    "reason": h.reason,
                }
                for h in hz
            ],
            [h.geometry for h in hz],
        ),
        "tasks": _frame(
            [
                {
                    "id": t.id,
                    "incident_id": t.incident_id,
                    "hazard_id": t.hazard_id,
                    "kind": t.kind,
                    "status": t.status,
                    "priority": t.priority,
                    "created_at": _iso(t.created_at),
                }
                for t in tasks
            ],
            [t.geometry for t in tasks],
        ),
        "units": _frame(
            [
                {
                    "id": u.id,
                    "name": u.name,
                    "name_en": u.name_en,
                    "vehicle_class": u.vehicle_class,
                    "capabilities": ";".join(u.capabilities or []),
                    "status": u.status,
                    "crew_hours": u.crew_hours,
                    "fuel": u.fuel,
                    "position_at": _iso(u.position_at),
                }
                for u in units
            ],
            [u.geometry for u in units],
        ),
        "assignments": _frame(
            [
                {
                    "id": a.id,
                    "unit_id": a.unit_id,
                    "task_id": a.task_id,
                    "state": a.state,
                    "eta_s": a.eta_s,
                    "confirmed_at": _iso(a.confirmed_at),
                    "confirmed_by": a.confirmed_by,
                    "on_scene_at": _iso(a.on_scene_at),
                    "cleared_at": _iso(a.cleared_at),
                }
                for a in asg
            ],
            [a.route for a in asg],
        ),
    }
    return out


def geojson_layer(session: Session, layer: str = "incidents") -> dict[str, Any]:
    """One layer as a GeoJSON FeatureCollection (dict)."""
    if layer not in LAYERS:
        msg = f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}"
        raise ValueError(msg)
    gdf = layers(session)[layer]
    if gdf.empty:
        return {"type": "FeatureCollection", "features": []}
    return json.loads(gdf.to_json(drop_id=True))


def write_gpkg(session: Session, path: Path) -> dict[str, int]:
    """Write every layer into one GeoPackage; returns rows per layer."""
    counts = {}
    path.unlink(missing_ok=True)
    for name, gdf in layers(session).items():
        counts[name] = len(gdf)
        if gdf.empty:
            continue
        gdf.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    return counts


def safe_cell(value: Any) -> Any:
    """Neutralise a text cell a spreadsheet would run as a formula (prefix ``'``)."""
    if isinstance(value, str) and value.startswith(CSV_DANGEROUS):
        return "'" + value
    return value


def _plain(v: Any) -> Any:
    if isinstance(v, list | dict):
        return json.dumps(v, ensure_ascii=False)
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    return v


def csv_layer(session: Session, layer: str = "incidents") -> str:
    """One layer as CSV (geometry as WKT), safe against formula injection."""
    if layer not in LAYERS:
        msg = f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}"
        raise ValueError(msg)
    gdf = layers(session)[layer]
    buf = io.StringIO()
    cols = [c for c in gdf.columns if c != "geometry"]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*cols, "wkt"])
    for row in gdf.itertuples(index=False):
        d = row._asdict()
        geom = d.get("geometry")
        cells = [_plain(d[c]) for c in cols]
        w.writerow([safe_cell(v) for v in cells] + [geom.wkt if geom is not None else ""])
    return buf.getvalue()
