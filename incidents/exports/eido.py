"""NENA EIDO JSON, one document per incident.

Components: incident, call, callback, agency, agent, additional data, location as PIDF-LO,
person, emergency resource (one per assignment) and dispatch; linked with ``$id`` / ``$ref``.
Validated against NENA's EIDO schema (``Schema/openapi.yaml`` of NENA911/EIDO-JSON) in the tests.
"""

from __future__ import annotations

import json
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from xml.sax.saxutils import quoteattr

from sqlalchemy.orm import Session

from incidents import queries
from incidents.exports.common import AGENCY, iso, rows
from incidents.store.models import utcnow

__all__ = ["eido_documents"]


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
    stamp = iso(now)
    agent_id = f"{agent}@{agency}"
    if incident_ids:
        frame = queries.incidents_listed(session, incident_ids)
    else:
        frame = queries.incidents_open(session).sort_values("id", kind="stable")
    incidents = rows(frame)
    ids = [inc.id for inc in incidents]
    assignments: dict[int, list[SimpleNamespace]] = {i: [] for i in ids}
    for a in rows(queries.incident_assignments(session, ids)):
        assignments[a.incident_id].append(a)
    report_ids = {int(r) for inc in incidents for r in (inc.report_ids or [])}
    reports = {r.id: r for r in rows(queries.reports_listed(session, report_ids))}
    return [
        _document(
            inc,
            [reports[int(r)] for r in sorted(inc.report_ids or []) if int(r) in reports],
            assignments[inc.id],
            agency,
            agent_id,
            stamp,
        )
        for inc in incidents
    ]


def _call_components(
    r: SimpleNamespace, agency: str, ref_agent: dict[str, str], loc_id: str, stamp: str | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Build the call, callback, person and additional-data components of one call report."""
    ref_agency = {"$ref": agency}
    attrs = r.attributes or {}
    call_id = f"urn:emergency:uid:callid:{r.natural_key}:{agency}"
    cb_id = f"urn:winterops:callback:{r.id}"
    person_id = f"urn:winterops:person:{r.id}"
    note_id = f"urn:winterops:note:{r.id}"
    call = {
        "$id": call_id,
        "lastUpdateTimeStamp": iso(r.received_at) or stamp,
        "updatedByAgencyReference": ref_agency,
        "updatedByAgentReference": ref_agent,
        "queueIdentifier": f"calls@{agency}",
        "standardPrimaryCallType": "emergency",
        "direction": "incoming",
        "additionalDataReference": [{"$ref": note_id}],
        "callStartTimestamp": iso(r.observed_at),
        "answerDate": iso(r.observed_at),
        "callStateRegistryText": "callAnswered",
        "callBackReference": {"$ref": cb_id},
        "agentReference": [ref_agent],
        "locationReference": [{"$ref": loc_id}],
        "personReference": [{"$ref": person_id}],
    }
    callback = {
        "$id": cb_id,
        "lastUpdateTimeStamp": iso(r.observed_at),
        "updatedByAgencyReference": ref_agency,
        "updatedByAgentReference": ref_agent,
        "callBackInformationUri": [f"tel:{attrs.get('phone_masked') or 'withheld'}"],
    }
    person = {
        "$id": person_id,
        "lastUpdateTimeStamp": iso(r.observed_at),
        "updatedByAgencyReference": ref_agency,
        "personIncidentRoleRegistryText": ["Caller"],
        "callIdentifier": [call_id],
        "callBackReference": {"$ref": cb_id},
    }
    facts = ("vehicles", "people", "vulnerable", "vehicle_class", "needs", "notes")
    note = {
        "$id": note_id,
        "lastUpdateTimeStamp": iso(r.observed_at),
        "updatedByAgencyReference": ref_agency,
        "additionalDataByValue": json.dumps({k: attrs.get(k) for k in facts}, ensure_ascii=False),
    }
    return call, callback, person, note


# assignment state -> NENA primary unit status; the winterops state is kept as unitStatusInternal
PRIMARY_UNIT_STATUS = {
    "recommended": "Available",
    "confirmed": "Dispatched",
    "en_route": "Enroute",
    "on_scene": "OnScene",
    "cleared": "Cleared",
    "cancelled": "Cancelled",
    "reassigned": "Reassigned",
}


def _resource_components(
    assignments: list[SimpleNamespace], agency: str, ref_agent: dict[str, str], iid: str
) -> list[dict[str, Any]]:
    """One emergency resource component per assignment of a task of the incident."""
    return [
        {
            "$id": f"urn:winterops:unit:{a.unit_id}:assignment:{a.id}",
            "lastUpdateTimeStamp": iso(a.confirmed_at or a.recommended_at),
            "updatedByAgencyReference": {"$ref": agency},
            "emergencyResourceTypeCommonRegistryText": a.vehicle_class or "unknown",
            "emergencyResourceName": a.unit_id,
            "resourceAttributeRegistryText": list(a.unit_capabilities or []),
            "primaryUnitStatusRegistryText": PRIMARY_UNIT_STATUS.get(a.state, a.state),
            "secondaryUnitStatusRegistryText": [],
            "unitStatusInternal": [a.state, a.task_kind],
            "agentReference": [ref_agent],
            "activeOnIncidentId": iid,
        }
        for a in assignments
    ]


def _location_components(inc: SimpleNamespace, agency: str, loc_id: str) -> list[dict[str, Any]]:
    p = inc.geometry
    if p is None:
        return []
    return [
        {
            "$id": loc_id,
            "lastUpdateTimeStamp": iso(inc.last_report_at),
            "updatedByAgencyReference": {"$ref": agency},
            "locationTypeDescriptionRegistryText": "Incident",
            "locationByValue": _pidf(p.x, p.y, f"pres:incident-{inc.id}@{agency}"),
        }
    ]


def _incident_component(
    inc: SimpleNamespace,
    iid: str,
    agency: str,
    stamp: str | None,
    loc_id: str | None,
    persons: list[dict[str, Any]],
    calls: list[dict[str, Any]],
) -> dict[str, Any]:
    """Return the incident component: what, how urgent, where (`loc_id`), who called."""
    return {
        "$id": f"urn:winterops:incident-component:{inc.id}",
        "lastUpdateTimeStamp": iso(inc.last_report_at) or stamp,
        "updatedByAgencyReference": {"$ref": agency},
        "incidentTrackingIdentifier": iid,
        "internalIncidentId": str(inc.id),
        "incidentTypeCommonRegistryText": inc.kind,
        "incidentStatusCommonRegistryText": [inc.status],
        "incidentSummaryText": inc.title,
        "incidentPriorityInternalText": f"{float(inc.priority or 0):.1f}",
        "locationReference": [{"$ref": loc_id}] if loc_id is not None else [],
        "personReference": [{"$ref": p["$id"]} for p in persons],
        "callReference": [{"$ref": c["$id"]} for c in calls],
        "peopleCount": int(inc.people or 0),
        "vehicleCount": int(inc.vehicles or 0),
    }


def _agency_component(agency: str, stamp: str | None) -> dict[str, Any]:
    """Return the agency component: the PSAP that received the calls and dispatches."""
    return {
        "$id": agency,
        "lastUpdateTimeStamp": stamp,
        "updatedByAgencyReference": {"$ref": agency},
        "agencyRoleDescriptionRegistryText": ["CallReceiving", "Dispatching"],
        "agencyType": ["psap"],
    }


def _agent_component(agency: str, agent_id: str, stamp: str | None) -> dict[str, Any]:
    """Return the agent component: the dispatching position that issued the document."""
    return {
        "$id": agent_id,
        "lastUpdateTimeStamp": stamp,
        "updatedByAgencyReference": {"$ref": agency},
        "updatedByAgentReference": {"$ref": agent_id},
        "agentWorkstationPositionIdentification": "1",
        "agentRoleRegistryText": ["Dispatching"],
        "agencyReference": {"$ref": agency},
    }


def _document(
    inc: SimpleNamespace,
    reports: list[SimpleNamespace],
    assignments: list[SimpleNamespace],
    agency: str,
    agent_id: str,
    stamp: str | None,
) -> dict[str, Any]:
    """Build the EIDO document of one incident, its reports (id order) and its assignments."""
    iid = f"urn:emergency:uid:incidentid:{inc.id}:{agency}"
    ref_agency = {"$ref": agency}
    ref_agent = {"$ref": agent_id}
    loc_id = f"urn:winterops:location:incident:{inc.id}"
    parts = [
        _call_components(r, agency, ref_agent, loc_id, stamp) for r in reports if r.kind == "call"
    ]
    calls, callbacks, persons, extra = ([p[i] for p in parts] for i in range(4))
    locations = _location_components(inc, agency, loc_id)
    units = _resource_components(assignments, agency, ref_agent, iid)
    return {
        "$id": iid,
        "lastUpdateTimeStamp": stamp,
        "updatedByAgencyReference": ref_agency,
        "updatedByAgentReference": ref_agent,
        "eidoVersion": "1.0",
        "issuingElementIdentification": f"winterops.{agency}",
        "incidentComponent": _incident_component(
            inc, iid, agency, stamp, loc_id if locations else None, persons, calls
        ),
        "callComponent": calls,
        "callbackComponent": callbacks,
        "agencyComponent": [_agency_component(agency, stamp)],
        "agentComponent": [_agent_component(agency, agent_id, stamp)],
        "additionalDataComponent": extra,
        "locationComponent": locations,
        "personComponent": persons,
        "emergencyResourceComponent": units,
        "dispatchComponent": [
            {
                "$id": f"urn:winterops:dispatch:incident:{inc.id}",
                "lastUpdateTimeStamp": stamp,
                "updatedByAgencyReference": ref_agency,
                "agencyReference": ref_agency,
                "emergencyResourceReference": [{"$ref": u["$id"]} for u in units],
            }
        ]
        if units
        else [],
        "@context": {"@vocab": "./JSON-LD_Contexts/EmergencyIncidentDataObjectType.jsonld"},
    }
